//! The login module end to end over HTTP (issue 6): register, login, me, refresh with
//! rotation and reuse detection, logout, API keys through the app's guard, login rate limits,
//! and storage failures as 503. One conformance function runs against every auth store:
//! memory, a SQLite file, and PostgreSQL when `CMMV_TEST_DATABASE_URL` is set.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use cmmv::auth::{
    Access, AuthStore, Login, MemoryAuthStore, NewRefreshToken, NewUser, Principal, Rotation,
    Session, SessionClient, SqlAuthStore, require,
};
use cmmv::settings::AuthSettings;
use cmmv::{App, Settings};
use serde_json::{Value, json};

use crate::auth_support::with_auth;
use crate::runtime_support::{Served, client, header, json as body_of, post, problem, settings};
use crate::store_support::{TestDatabase, sqlite_database};

const PASSWORD: &str = "correct horse battery staple";

/// The tests' HS256 key signs the module's access tokens, and the app verifies them with it.
fn login_settings(auth: AuthSettings) -> Settings {
    Settings {
        auth,
        ..with_auth(settings())
    }
}

/// Options for [`serve`].
#[derive(Default)]
struct Serving {
    auth: AuthSettings,
    rate_limited: bool,
}

/// The app under test: the login routes, `/admin` for admins only, `/whoami` for anyone
/// signed in, and API keys resolved by the login module's store.
async fn serve(store: Arc<dyn AuthStore>, serving: Serving) -> Served {
    serve_with(login_settings(serving.auth), store, serving.rate_limited).await
}

/// Mounted as an app mounts it (`AppBuilder::login`): routes, rate limits, API keys and the
/// store's readiness check; `rate_limited: false` turns the app's limits off.
async fn serve_with(
    mut settings: Settings,
    store: Arc<dyn AuthStore>,
    rate_limited: bool,
) -> Served {
    settings.rate_limit.enabled = rate_limited;
    let login = Login::from_settings(store, &settings).expect("the login module starts");
    let admin = Router::new()
        .route("/admin", get(|p: Principal| async move { p.subject }))
        .route_layer(require(Access::AnyRole(&["admin"])));
    let signed_in = Router::new()
        .route("/whoami", get(|p: Principal| async move { p.subject }))
        .route_layer(require(Access::Authenticated));
    let app = App::builder(settings)
        .login(&login)
        .routes(admin)
        .routes(signed_in)
        .build()
        .expect("the app builds");
    Served::start(app).await
}

async fn get_with(served: &Served, path: &str, header: (&str, &str)) -> reqwest::Response {
    client()
        .get(served.url(path))
        .header(header.0, header.1)
        .send()
        .await
        .expect("a response")
}

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

/// Registers `email`; returns the new user's id.
async fn register(served: &Served, email: &str) -> String {
    let response = post(
        served,
        "/auth/register",
        &json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), 201, "register {email}");
    let user = body_of(response).await;
    user["id"].as_str().expect("an id").to_owned()
}

/// Logs in; returns the token answer.
async fn login(served: &Served, email: &str) -> Value {
    let response = post(
        served,
        "/auth/login",
        &json!({"email": email, "password": PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), 200, "login {email}");
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    body_of(response).await
}

async fn refresh(served: &Served, refresh_token: &str) -> reqwest::Response {
    post(
        served,
        "/auth/refresh",
        &json!({ "refresh_token": refresh_token }),
    )
    .await
}

fn text<'a>(value: &'a Value, key: &str) -> &'a str {
    value[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} in {value}"))
}

/// A unique email per store and scenario, so scenarios sharing a store never meet.
fn email(tag: &str, name: &str) -> String {
    format!("{name}.{tag}@example.com")
}

// ---- the conformance suite --------------------------------------------------------------------

async fn conformance(store: Arc<dyn AuthStore>, tag: &str) {
    store_level_rotation_and_expiry(&*store, tag).await;
    let served = serve(Arc::clone(&store), Serving::default()).await;
    happy_path(&served, tag).await;
    duplicate_registration_conflicts(&served, tag).await;
    unknown_user_and_wrong_password_look_the_same(&served, tag).await;
    bad_bodies_are_problems(&served, tag).await;
    reuse_of_a_rotated_token_kills_the_family(&served, tag).await;
    concurrent_refreshes_rotate_once(&served, tag).await;
    api_keys_work_through_the_guard(&served, &store, tag).await;
    roles_are_enforced_and_refreshed(&served, &store, tag).await;
}

async fn store_level_rotation_and_expiry(store: &dyn AuthStore, tag: &str) {
    let user = store
        .create_user(NewUser {
            id: format!("store-user-{tag}"),
            email: email(tag, "store"),
            password_hash: Some("$argon2id$unused".to_owned()),
            email_verified: false,
            identity: None,
            roles: vec!["user".to_owned()],
            created_at: 1_000,
            confirmation: None,
        })
        .await
        .expect("created");
    let token = |hash: &str, expires_at| NewRefreshToken {
        hash: hash.to_owned(),
        expires_at,
    };
    let family = format!("fam-{tag}");
    let client = SessionClient {
        ip: Some("192.0.2.7".to_owned()),
        user_agent: Some("curl/8".to_owned()),
    };
    store
        .start_family(&family, &user.id, token("h1", 2_000), client.clone(), 1_000)
        .await
        .expect("family");
    // Expired at exactly its expiry time, unchanged by the attempt.
    assert_eq!(
        store.rotate("h1", token("h2", 3_000), 0, 2_000).await,
        Ok(Rotation::Invalid)
    );
    // A session started at or before `started_after` is past its absolute lifetime.
    assert_eq!(
        store.rotate("h1", token("h2", 3_000), 1_000, 1_999).await,
        Ok(Rotation::Invalid)
    );
    assert_eq!(
        store.rotate("h1", token("h2", 3_000), 999, 1_999).await,
        Ok(Rotation::Rotated {
            user_id: user.id.clone(),
            family_id: family.clone(),
        })
    );
    // Listed with where it came from and when it was last refreshed.
    assert_eq!(
        store.sessions(&user.id, 0, 1_999).await,
        Ok(vec![Session {
            id: family.clone(),
            created_at: 1_000,
            last_used_at: 1_999,
            client,
        }])
    );
    assert_eq!(store.sessions(&user.id, 1_000, 1_999).await, Ok(vec![]));
    assert_eq!(
        store.sessions(&user.id, 0, 3_000).await,
        Ok(vec![]),
        "idle past its refresh token's expiry"
    );
    assert_eq!(
        store.rotate("unknown", token("h9", 3_000), 0, 1_999).await,
        Ok(Rotation::Invalid)
    );
    assert_eq!(
        store.rotate("h1", token("h3", 3_000), 0, 1_999).await,
        Ok(Rotation::Reused {
            user_id: user.id.clone(),
            family_id: family.clone(),
        })
    );
    assert_eq!(
        store.rotate("h2", token("h4", 3_000), 0, 1_999).await,
        Ok(Rotation::Invalid),
        "the successor of a reused token is revoked with its family"
    );
    assert_eq!(
        store.sessions(&user.id, 0, 1_999).await,
        Ok(vec![]),
        "revoked"
    );
    // Sessions end one by one, or all at once; only their owner's.
    for (id, first) in [("fam-a", "ha"), ("fam-b", "hb")] {
        let id = format!("{id}-{tag}");
        store
            .start_family(
                &id,
                &user.id,
                token(first, 5_000),
                SessionClient::default(),
                1_100,
            )
            .await
            .expect("family");
    }
    let (a, b) = (format!("fam-a-{tag}"), format!("fam-b-{tag}"));
    assert_eq!(
        store.revoke_session("someone else", &a, 1_200).await,
        Ok(false)
    );
    assert_eq!(store.revoke_session(&user.id, &a, 1_200).await, Ok(true));
    assert_eq!(
        store.revoke_session(&user.id, &a, 1_200).await,
        Ok(true),
        "already ended, still theirs: a retry records the ending again"
    );
    assert_eq!(
        store
            .revoke_session(&user.id, "no such session", 1_200)
            .await,
        Ok(false)
    );
    let mut every = vec![family.clone(), a.clone(), b.clone()];
    every.sort();
    assert_eq!(store.revoke_sessions(&user.id, 1_200).await, Ok(every));
    assert_eq!(
        store.revoke_family("hb", 1_200).await,
        Ok(Some(b.clone())),
        "known, though already ended: a retried sign-out records the ending again"
    );
    assert_eq!(store.revoke_family("unknown", 1_200).await, Ok(None));
    assert_eq!(
        store
            .set_password_hash(&user.id, "$argon2id$new".to_owned())
            .await,
        Ok(())
    );
    let stored = store
        .user_by_email(&user.email)
        .await
        .expect("read")
        .expect("the user");
    assert_eq!(stored.password_hash.as_deref(), Some("$argon2id$new"));
    assert_eq!(
        store.set_password_hash("nobody", String::new()).await,
        Err(cmmv::store::StoreError::NotFound)
    );
    // A renewal (the same password with new costs) never undoes a change made meanwhile.
    assert_eq!(
        store
            .renew_password_hash(&user.id, "$argon2id$unused", "$argon2id$renewed".to_owned())
            .await,
        Ok(false),
        "the hash changed since it was read"
    );
    assert_eq!(
        store
            .renew_password_hash(&user.id, "$argon2id$new", "$argon2id$renewed".to_owned())
            .await,
        Ok(true)
    );
    let stored = store.user_by_email(&user.email).await.expect("read");
    assert_eq!(
        stored.and_then(|c| c.password_hash).as_deref(),
        Some("$argon2id$renewed")
    );
    // Purging removes expired tokens only: h1 expires at 2_000, its successor h2 at 3_000
    // (refused presentations stored nothing).
    assert_eq!(store.purge_expired(2_500).await, Ok(1));
    assert_eq!(
        store.rotate("h1", token("h5", 3_000), 0, 1_999).await,
        Ok(Rotation::Invalid),
        "a purged token is unknown"
    );
    assert_eq!(store.purge_expired(3_000).await, Ok(1));
    assert_eq!(store.purge_expired(3_000).await, Ok(0));
    assert_eq!(
        store.set_roles("nobody", vec![]).await,
        Err(cmmv::store::StoreError::NotFound)
    );
    let duplicate = store
        .create_user(NewUser {
            id: format!("store-user-2-{tag}"),
            email: email(tag, "store"),
            password_hash: Some("$argon2id$unused".to_owned()),
            email_verified: false,
            identity: None,
            roles: vec![],
            created_at: 1_000,
            confirmation: None,
        })
        .await;
    assert!(
        matches!(duplicate, Err(cmmv::store::StoreError::Conflict { ref field }) if field == "email"),
        "{duplicate:?}"
    );
}

async fn happy_path(served: &Served, tag: &str) {
    let address = email(tag, "alice");
    // The contract says `format: email`: an address with spaces around it is none, as the
    // documents say, rather than trimmed behind the client's back.
    let spaced = post(
        served,
        "/auth/register",
        &json!({"email": format!("  {address}"), "password": PASSWORD}),
    )
    .await;
    let body = problem(spaced, 422, "/auth/register").await;
    assert_eq!(body["errors"][0]["pointer"], "/email");
    assert_eq!(body["errors"][0]["rule"], "format");
    let response = post(
        served,
        "/auth/register",
        // Stored lowercased.
        &json!({"email": address.to_uppercase(), "password": PASSWORD}),
    )
    .await;
    assert_eq!(response.status(), 201);
    let user = body_of(response).await;
    assert_eq!(user["email"], address.as_str());
    assert_eq!(user["roles"], json!(["user"]));
    assert!(user.get("password_hash").is_none() && user.get("password").is_none());
    let id = text(&user, "id").to_owned();

    let tokens = login(served, &address).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert_eq!(tokens["expires_in"], 900);
    assert_eq!(tokens["refresh_expires_in"], 30 * 86_400);
    let (name, value) = bearer(text(&tokens, "access_token"));
    let me = get_with(served, "/auth/me", (name, &value)).await;
    assert_eq!(me.status(), 200);
    let me = body_of(me).await;
    assert_eq!(
        me,
        json!({"subject": id, "roles": ["user"], "scheme": "bearer", "email": address})
    );

    let response = refresh(served, text(&tokens, "refresh_token")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    let renewed = body_of(response).await;
    assert_ne!(renewed["refresh_token"], tokens["refresh_token"]);
    let (name, value) = bearer(text(&renewed, "access_token"));
    assert_eq!(
        get_with(served, "/whoami", (name, &value)).await.status(),
        200
    );

    let logout = post(
        served,
        "/auth/logout",
        &json!({"refresh_token": renewed["refresh_token"]}),
    )
    .await;
    assert_eq!(logout.status(), 204);
    let after = refresh(served, text(&renewed, "refresh_token")).await;
    problem(after, 401, "/auth/refresh").await;
    // Logging out again, or with a token nobody issued, is not an error.
    let again = post(
        served,
        "/auth/logout",
        &json!({"refresh_token": renewed["refresh_token"]}),
    )
    .await;
    assert_eq!(again.status(), 204);
}

async fn duplicate_registration_conflicts(served: &Served, tag: &str) {
    let address = email(tag, "bob");
    register(served, &address).await;
    let response = post(
        served,
        "/auth/register",
        &json!({"email": address.to_uppercase(), "password": "another long password"}),
    )
    .await;
    let body = problem(response, 409, "/auth/register").await;
    assert!(text(&body, "detail").contains("email"), "{body}");
}

async fn unknown_user_and_wrong_password_look_the_same(served: &Served, tag: &str) {
    let address = email(tag, "carol");
    register(served, &address).await;
    let wrong_password = post(
        served,
        "/auth/login",
        &json!({"email": address, "password": "not the password at all"}),
    )
    .await;
    let unknown_user = post(
        served,
        "/auth/login",
        &json!({"email": email(tag, "nobody"), "password": "not the password at all"}),
    )
    .await;
    let challenge = |r: &reqwest::Response| header(r, "www-authenticate").map(str::to_owned);
    assert_eq!(challenge(&wrong_password), challenge(&unknown_user));
    let mut a = problem(wrong_password, 401, "/auth/login").await;
    let mut b = problem(unknown_user, 401, "/auth/login").await;
    // Everything but the request's own id is identical.
    for body in [&mut a, &mut b] {
        body.as_object_mut().map(|o| o.remove("request_id"));
    }
    assert_eq!(a, b);
    assert_eq!(a["detail"], "invalid email or password");
}

async fn bad_bodies_are_problems(served: &Served, tag: &str) {
    let short = post(
        served,
        "/auth/register",
        &json!({"email": email(tag, "dave"), "password": "short"}),
    )
    .await;
    let body = problem(short, 422, "/auth/register").await;
    assert_eq!(body["errors"][0]["pointer"], "/password");
    assert_eq!(body["errors"][0]["rule"], "min_length");

    let not_email = post(
        served,
        "/auth/register",
        &json!({"email": "not-an-email", "password": PASSWORD}),
    )
    .await;
    let body = problem(not_email, 422, "/auth/register").await;
    assert_eq!(body["errors"][0]["pointer"], "/email");

    let extra = post(
        served,
        "/auth/login",
        &json!({"email": "a@b.c", "password": PASSWORD, "admin": true}),
    )
    .await;
    let body = problem(extra, 422, "/auth/login").await;
    assert_eq!(body["errors"][0]["pointer"], "/admin");

    let missing = post(served, "/auth/refresh", &json!({})).await;
    let body = problem(missing, 422, "/auth/refresh").await;
    assert_eq!(body["errors"][0]["pointer"], "/refresh_token");

    let malformed = client()
        .post(served.url("/auth/login"))
        .header("content-type", "application/json")
        .body("{\"email\": ")
        .send()
        .await
        .expect("a response");
    problem(malformed, 400, "/auth/login").await;

    let form = client()
        .post(served.url("/auth/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("email=a&password=b")
        .send()
        .await
        .expect("a response");
    problem(form, 415, "/auth/login").await;

    let anonymous = client()
        .get(served.url("/auth/me"))
        .send()
        .await
        .expect("a response");
    problem(anonymous, 401, "/auth/me").await;
}

async fn reuse_of_a_rotated_token_kills_the_family(served: &Served, tag: &str) {
    let address = email(tag, "erin");
    register(served, &address).await;
    let other_session = login(served, &address).await;
    let first = login(served, &address).await;
    let r1 = text(&first, "refresh_token");
    let second = body_of(refresh(served, r1).await).await;
    let r2 = text(&second, "refresh_token");

    // r1 again: reuse. Refused, and the family is revoked: r2, the newest, is dead too.
    problem(refresh(served, r1).await, 401, "/auth/refresh").await;
    problem(refresh(served, r2).await, 401, "/auth/refresh").await;
    problem(refresh(served, r1).await, 401, "/auth/refresh").await;

    // Another login is another family, untouched.
    let other = refresh(served, text(&other_session, "refresh_token")).await;
    assert_eq!(other.status(), 200);

    // Garbage of every shape is the same 401.
    for garbage in ["", "x", &"f".repeat(64), &"é".repeat(100)] {
        problem(refresh(served, garbage).await, 401, "/auth/refresh").await;
    }
}

async fn concurrent_refreshes_rotate_once(served: &Served, tag: &str) {
    let address = email(tag, "frank");
    register(served, &address).await;
    // Several rounds: a race that is lost only sometimes must still be caught.
    for _ in 0..3 {
        concurrent_refresh_round(served, &address).await;
    }
}

async fn concurrent_refresh_round(served: &Served, address: &str) {
    let tokens = login(served, address).await;
    let token = text(&tokens, "refresh_token").to_owned();
    let attempts = (0..8).map(|_| {
        let url = served.url("/auth/refresh");
        let token = token.clone();
        tokio::spawn(async move {
            let response = client()
                .post(url)
                .json(&json!({ "refresh_token": token }))
                .send()
                .await
                .expect("a response");
            let status = response.status().as_u16();
            (status, body_of(response).await)
        })
    });
    let mut outcomes = Vec::new();
    for attempt in attempts.collect::<Vec<_>>() {
        outcomes.push(attempt.await.expect("the request task"));
    }
    let winners: Vec<&Value> = outcomes
        .iter()
        .filter(|(status, _)| *status == 200)
        .map(|(_, body)| body)
        .collect();
    assert_eq!(winners.len(), 1, "{outcomes:?}");
    assert!(
        outcomes
            .iter()
            .all(|(status, _)| *status == 200 || *status == 401),
        "{outcomes:?}"
    );
    // The losers presented a rotated token: the family, the winner's new token included, is
    // revoked.
    let winner = text(winners[0], "refresh_token");
    problem(refresh(served, winner).await, 401, "/auth/refresh").await;
}

async fn create_key(served: &Served, access: &str, body: &Value) -> reqwest::Response {
    client()
        .post(served.url("/auth/api-keys"))
        .bearer_auth(access)
        .json(body)
        .send()
        .await
        .expect("a response")
}

async fn api_keys_work_through_the_guard(served: &Served, store: &Arc<dyn AuthStore>, tag: &str) {
    let address = email(tag, "grace");
    let id = register(served, &address).await;
    store
        .set_roles(&id, vec!["user".to_owned(), "admin".to_owned()])
        .await
        .expect("roles set");
    let tokens = login(served, &address).await;
    let access = text(&tokens, "access_token");

    let response = create_key(served, access, &json!({"name": " ci ", "roles": ["admin"]})).await;
    assert_eq!(response.status(), 201);
    assert_eq!(header(&response, "cache-control"), Some("no-store"));
    let created = body_of(response).await;
    let key = text(&created, "key").to_owned();
    let prefix = text(&created, "prefix");
    assert!(key.starts_with(&format!("cmmv_{prefix}_")), "{created}");
    assert!(key.ends_with(text(&created, "last4")));
    assert_eq!(created["name"], "ci");
    assert_eq!(created["roles"], json!(["admin"]));
    let key_id = text(&created, "id").to_owned();

    // Listed without the secret.
    let list = client()
        .get(served.url("/auth/api-keys"))
        .bearer_auth(access)
        .send()
        .await
        .expect("a response");
    assert_eq!(list.status(), 200);
    let list = body_of(list).await;
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{list}");
    assert_eq!(items[0]["prefix"], prefix);
    assert!(items[0].get("key").is_none(), "{list}");
    assert!(!list.to_string().contains(&key[key.len() - 20..]));

    // Used with either header.
    let authorization = format!("ApiKey {key}");
    let admin = get_with(served, "/admin", ("authorization", &authorization)).await;
    assert_eq!(admin.status(), 200);
    assert_eq!(admin.text().await.expect("a body"), id);
    let me = get_with(served, "/auth/me", ("x-api-key", &key)).await;
    assert_eq!(me.status(), 200);
    assert_eq!(
        body_of(me).await,
        json!({"subject": id, "roles": ["admin"], "scheme": "api_key", "email": address})
    );

    // A key cannot mint keys.
    let minted_by_key = client()
        .post(served.url("/auth/api-keys"))
        .header("x-api-key", &key)
        .json(&json!({"name": "nested"}))
        .send()
        .await
        .expect("a response");
    problem(minted_by_key, 403, "/auth/api-keys").await;

    // Nor can a valid token whose subject has no account here (one from another issuer of
    // the same key, say): a key acts as an account, and there is none. A 403 that says so,
    // not a 422 naming a storage column.
    let foreign = crate::auth_support::token("not-an-account", &["admin"]);
    let accountless = client()
        .post(served.url("/auth/api-keys"))
        .header("authorization", format!("Bearer {foreign}"))
        .json(&json!({"name": "orphan"}))
        .send()
        .await
        .expect("a response");
    let body = problem(accountless, 403, "/auth/api-keys").await;
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("names none")),
        "{body}"
    );

    // Nor list its owner's keys, nor revoke them (its own or another): a leaked key must not
    // find or cut off the owner's other services (issue 15). The key is still live after.
    for (name, value) in [
        ("x-api-key", key.as_str()),
        ("authorization", authorization.as_str()),
    ] {
        let listed = client()
            .get(served.url("/auth/api-keys"))
            .header(name, value)
            .send()
            .await
            .expect("a response");
        let body = problem(listed, 403, "/auth/api-keys").await;
        assert!(body.get("items").is_none(), "{body}");
        let path = format!("/auth/api-keys/{key_id}");
        let revoked = client()
            .delete(served.url(&path))
            .header(name, value)
            .send()
            .await
            .expect("a response");
        problem(revoked, 403, &path).await;
    }
    let still = get_with(served, "/auth/me", ("x-api-key", &key)).await;
    assert_eq!(
        still.status(),
        200,
        "the key survived its own revocation attempt"
    );

    // Roles beyond the creator's are refused, one error per role.
    let beyond = create_key(
        served,
        access,
        &json!({"name": "too much", "roles": ["admin", "root"]}),
    )
    .await;
    let body = problem(beyond, 422, "/auth/api-keys").await;
    assert_eq!(body["errors"][0]["pointer"], "/roles/1");
    let past = create_key(
        served,
        access,
        &json!({"name": "old", "expires_at": "2000-01-01T00:00:00Z"}),
    )
    .await;
    problem(past, 422, "/auth/api-keys").await;

    // Someone else cannot revoke it; its owner can, and then it is refused.
    let other = email(tag, "heidi");
    register(served, &other).await;
    let other_access = login(served, &other).await;
    let other_access = text(&other_access, "access_token");
    let beyond = create_key(
        served,
        other_access,
        &json!({"name": "x", "roles": ["admin"]}),
    )
    .await;
    problem(beyond, 422, "/auth/api-keys").await;
    let path = format!("/auth/api-keys/{key_id}");
    let foreign = client()
        .delete(served.url(&path))
        .bearer_auth(other_access)
        .send()
        .await
        .expect("a response");
    problem(foreign, 404, &path).await;
    let revoke = client()
        .delete(served.url(&path))
        .bearer_auth(access)
        .send()
        .await
        .expect("a response");
    assert_eq!(revoke.status(), 204);
    for (name, value) in [
        ("authorization", authorization.as_str()),
        ("x-api-key", &key),
    ] {
        let refused = get_with(served, "/auth/me", (name, value)).await;
        assert_eq!(
            header(&refused, "www-authenticate"),
            Some("ApiKey"),
            "{name}"
        );
        problem(refused, 401, "/auth/me").await;
    }
    let again = client()
        .delete(served.url(&path))
        .bearer_auth(access)
        .send()
        .await
        .expect("a response");
    problem(again, 404, &path).await;
    let list = client()
        .get(served.url("/auth/api-keys"))
        .bearer_auth(access)
        .send()
        .await
        .expect("a response");
    assert_eq!(body_of(list).await["items"], json!([]));

    // Keys that were never issued, or are malformed, are the same 401.
    let forged = format!("{}{}", &key[..key.len() - 1], "0");
    for bogus in [forged.as_str(), "cmmv_nothing", "x"] {
        let refused = get_with(served, "/auth/me", ("x-api-key", bogus)).await;
        problem(refused, 401, "/auth/me").await;
    }
}

async fn roles_are_enforced_and_refreshed(served: &Served, store: &Arc<dyn AuthStore>, tag: &str) {
    let address = email(tag, "ivan");
    let id = register(served, &address).await;
    let tokens = login(served, &address).await;
    let (name, value) = bearer(text(&tokens, "access_token"));
    problem(
        get_with(served, "/admin", (name, &value)).await,
        403,
        "/admin",
    )
    .await;
    problem(
        client()
            .get(served.url("/admin"))
            .send()
            .await
            .expect("a response"),
        401,
        "/admin",
    )
    .await;

    // Promoted: the key they make with admin works; a refresh picks up the new role.
    store
        .set_roles(&id, vec!["user".to_owned(), "admin".to_owned()])
        .await
        .expect("roles set");
    let renewed = body_of(refresh(served, text(&tokens, "refresh_token")).await).await;
    let (name, value) = bearer(text(&renewed, "access_token"));
    assert_eq!(
        get_with(served, "/admin", (name, &value)).await.status(),
        200
    );
    let created = create_key(
        served,
        text(&renewed, "access_token"),
        &json!({"name": "ops", "roles": ["admin"]}),
    )
    .await;
    let key = text(&body_of(created).await, "key").to_owned();
    assert_eq!(
        get_with(served, "/admin", ("x-api-key", &key))
            .await
            .status(),
        200
    );

    // Demoted: the key keeps only the roles its owner still holds.
    store
        .set_roles(&id, vec!["user".to_owned()])
        .await
        .expect("roles set");
    problem(
        get_with(served, "/admin", ("x-api-key", &key)).await,
        403,
        "/admin",
    )
    .await;
}

#[tokio::test]
async fn memory_store_conforms() {
    conformance(Arc::new(MemoryAuthStore::new()), "memory").await;
}

#[tokio::test]
async fn sqlite_store_conforms() {
    // The file also holds the example's contract tables: the auth migrations live beside them
    // with their own bookkeeping.
    let (_dir, db) = sqlite_database().await;
    let store = SqlAuthStore::open(db.clone())
        .await
        .expect("auth migrations");
    // Opening again applies nothing.
    SqlAuthStore::open(db).await.expect("auth migrations twice");
    conformance(Arc::new(store), "sqlite").await;
}

#[tokio::test]
async fn postgres_store_conforms() {
    let Some(test_db) = TestDatabase::postgres("auth").await else {
        return;
    };
    let store = SqlAuthStore::open(test_db.db.clone())
        .await
        .expect("auth migrations");
    SqlAuthStore::open(test_db.db.clone())
        .await
        .expect("auth migrations twice");
    conformance(Arc::new(store), "postgres").await;
    test_db.drop().await;
}

// ---- beyond the stores ------------------------------------------------------------------------

#[tokio::test]
async fn expired_refresh_tokens_are_refused() {
    let served = serve(
        Arc::new(MemoryAuthStore::new()),
        Serving {
            auth: AuthSettings {
                access_ttl: Duration::from_secs(1),
                refresh_ttl: Duration::from_secs(2),
                ..AuthSettings::default()
            },
            rate_limited: false,
        },
    )
    .await;
    register(&served, "kim@example.com").await;
    let tokens = login(&served, "kim@example.com").await;
    assert_eq!(tokens["expires_in"], 1);
    assert_eq!(tokens["refresh_expires_in"], 2);
    tokio::time::sleep(Duration::from_millis(3_100)).await;
    let (name, value) = bearer(text(&tokens, "access_token"));
    // Past its expiry but within the verifier's 30 s leeway, the access token still works;
    // the refresh token, counted by the store without leeway, does not.
    assert_eq!(
        get_with(&served, "/whoami", (name, &value)).await.status(),
        200
    );
    problem(
        refresh(&served, text(&tokens, "refresh_token")).await,
        401,
        "/auth/refresh",
    )
    .await;
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_ip() {
    let served = serve(
        Arc::new(MemoryAuthStore::new()),
        Serving {
            rate_limited: true,
            ..Serving::default()
        },
    )
    .await;
    let attempt = json!({"email": "mallory@example.com", "password": "guess guess guess"});
    for n in 0..5 {
        let response = post(&served, "/auth/login", &attempt).await;
        assert_eq!(response.status(), 401, "attempt {n} is within the burst");
        assert!(header(&response, "ratelimit").is_some());
    }
    let limited = post(&served, "/auth/login", &attempt).await;
    assert!(header(&limited, "retry-after").is_some());
    problem(limited, 429, "/auth/login").await;
    // Other routes have budgets of their own.
    let registered = post(
        &served,
        "/auth/register",
        &json!({"email": "mallory@example.com", "password": PASSWORD}),
    )
    .await;
    assert_eq!(registered.status(), 201);
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_never_a_500() {
    let (_dir, db) = sqlite_database().await;
    let store = SqlAuthStore::open(db.clone())
        .await
        .expect("auth migrations");
    let served = serve(Arc::new(store), Serving::default()).await;
    register(&served, "olga@example.com").await;
    let tokens = login(&served, "olga@example.com").await;
    let key = create_key(
        &served,
        text(&tokens, "access_token"),
        &json!({"name": "k"}),
    )
    .await;
    let key = text(&body_of(key).await, "key").to_owned();
    let ready = client()
        .get(served.url("/health/ready"))
        .send()
        .await
        .expect("a response");
    assert_eq!(ready.status(), 200);
    db.close().await;
    // The store's readiness check, mounted by `AppBuilder::login`, names it.
    let ready = client()
        .get(served.url("/health/ready"))
        .send()
        .await
        .expect("a response");
    assert_eq!(ready.status(), 503);
    let ready = body_of(ready).await;
    assert_eq!(ready["checks"]["auth_store"]["status"], "error", "{ready}");
    assert_eq!(
        ready["checks"]["auth_store"]["error"], "the credential store is unreachable",
        "{ready}"
    );
    let login = post(
        &served,
        "/auth/login",
        &json!({"email": "olga@example.com", "password": PASSWORD}),
    )
    .await;
    problem(login, 503, "/auth/login").await;
    problem(
        refresh(&served, text(&tokens, "refresh_token")).await,
        503,
        "/auth/refresh",
    )
    .await;
    let register = post(
        &served,
        "/auth/register",
        &json!({"email": "pat@example.com", "password": PASSWORD}),
    )
    .await;
    problem(register, 503, "/auth/register").await;
    problem(
        get_with(&served, "/auth/me", ("x-api-key", &key)).await,
        503,
        "/auth/me",
    )
    .await;
}

#[tokio::test]
async fn an_es256_signing_key_issues_tokens_the_app_verifies_with_its_public_key() {
    let testdata = concat!(env!("CARGO_MANIFEST_DIR"), "/../runtime/src/auth/testdata");
    let settings = Settings::from_pairs([
        ("CMMV_ADDR", "127.0.0.1:0"),
        ("CMMV_SHUTDOWN_DELAY", "0"),
        ("CMMV_JWT_ISSUER", "https://login.test"),
        ("CMMV_JWT_AUDIENCE", "api"),
        ("CMMV_JWT_KEYS", &format!("{testdata}/keys")),
        (
            "CMMV_JWT_SIGNING_KEY",
            &format!("{testdata}/private/ec-1.pem"),
        ),
        ("CMMV_JWT_SIGNING_KID", "ec-1"),
    ])
    .expect("settings");
    let served = serve_with(settings, Arc::new(MemoryAuthStore::new()), false).await;
    register(&served, "sam@example.com").await;
    let tokens = login(&served, "sam@example.com").await;
    let access = text(&tokens, "access_token");
    let header = jsonwebtoken::decode_header(access).expect("a JWT");
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(header.kid.as_deref(), Some("ec-1"));
    let (name, value) = bearer(access);
    assert_eq!(
        get_with(&served, "/auth/me", (name, &value)).await.status(),
        200
    );
}

#[tokio::test]
async fn a_login_module_without_a_signing_key_stops_the_app_naming_the_setting() {
    let error = Login::from_settings(Arc::new(MemoryAuthStore::new()), &settings())
        .expect_err("no key to sign with");
    assert_eq!(
        error.key.as_deref(),
        Some("CMMV_JWT_SIGNING_KEY"),
        "{error}"
    );
}

#[tokio::test]
async fn the_scheduled_purge_deletes_expired_refresh_tokens() {
    let store: Arc<dyn AuthStore> = Arc::new(MemoryAuthStore::new());
    let user = store
        .create_user(NewUser {
            id: "purged-user".to_owned(),
            email: "purged@example.com".to_owned(),
            password_hash: Some("$argon2id$unused".to_owned()),
            email_verified: false,
            identity: None,
            roles: vec![],
            created_at: 1_000,
            confirmation: None,
        })
        .await
        .expect("created");
    let expired_long_ago = NewRefreshToken {
        hash: "old".to_owned(),
        expires_at: 2_000,
    };
    store
        .start_family(
            "old-family",
            &user.id,
            expired_long_ago,
            SessionClient::default(),
            1_000,
        )
        .await
        .expect("family");
    let login = Login::from_settings(Arc::clone(&store), &with_auth(settings())).expect("login");
    let purge = login.purge_expired_every(Duration::from_millis(20));
    // Presented as if at a time before its expiry, a token still stored would rotate; a purged
    // one is unknown.
    let successor = || NewRefreshToken {
        hash: "new".to_owned(),
        expires_at: 3_000,
    };
    // The first round runs at once; the sleep yields to it, with time to spare.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let outcome = store.rotate("old", successor(), 0, 1_500).await;
    purge.abort();
    assert_eq!(
        outcome,
        Ok(Rotation::Invalid),
        "the task purged the expired token"
    );
}
