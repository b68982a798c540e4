//! Sessions of the login module over real HTTP (issue 20, item 6): each sign-in is a session
//! its owner lists (when, last used, from where) and ends, one or all; signing out, revoking a
//! session and changing the password end the access tokens already issued, at once — on two
//! instances sharing Redis too; a session past its absolute lifetime cannot be refreshed; a
//! password hashed with old costs is hashed again at sign-in.

use std::sync::Arc;
use std::time::Duration;

use cmmv::auth::{AuthStore, Login, MemoryAuthStore, RedisRevocations, Revocations};
use cmmv::settings::AuthSettings;
use cmmv::{App, Settings};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::auth_support::with_auth;
use crate::runtime_support::{CapturedLogs, Served, settings};

const PASSWORD: &str = "correct horse battery staple";
const NEW_PASSWORD: &str = "a new and longer passphrase";

fn login_settings(auth: AuthSettings) -> Settings {
    let mut settings = Settings {
        auth,
        ..with_auth(settings())
    };
    settings.rate_limit.enabled = false;
    settings
}

/// The login module on `accounts`, its ended sessions in `revocations`.
async fn serve(
    settings: Settings,
    accounts: Arc<dyn AuthStore>,
    revocations: Arc<dyn Revocations>,
) -> Served {
    let login = Login::from_settings(accounts, &settings)
        .expect("the login module starts")
        .with_revocations(revocations);
    let app = App::builder(settings)
        .login(&login)
        .build()
        .expect("the app builds");
    Served::start(app).await
}

async fn in_memory() -> Served {
    serve(
        login_settings(AuthSettings::default()),
        Arc::new(MemoryAuthStore::new()),
        Arc::new(cmmv::auth::MemoryRevocations::new()),
    )
    .await
}

/// One exchange: status and JSON body (`Null` when empty).
async fn call(
    served: &Served,
    method: reqwest::Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    user_agent: &str,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new()
        .request(method, served.url(path))
        .header("user-agent", user_agent);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("a response");
    let status = response.status();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn register(served: &Served, email: &str) {
    let (status, body) = call(
        served,
        reqwest::Method::POST,
        "/auth/register",
        None,
        Some(json!({"email": email, "password": PASSWORD})),
        "tests",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// Signs in from `user_agent`: the access and refresh tokens.
async fn sign_in(
    served: &Served,
    email: &str,
    password: &str,
    user_agent: &str,
) -> (String, String) {
    let (status, tokens) = call(
        served,
        reqwest::Method::POST,
        "/auth/login",
        None,
        Some(json!({"email": email, "password": password})),
        user_agent,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let text = |key: &str| tokens[key].as_str().expect("a token").to_owned();
    (text("access_token"), text("refresh_token"))
}

async fn me(served: &Served, token: &str) -> StatusCode {
    call(
        served,
        reqwest::Method::GET,
        "/auth/me",
        Some(token),
        None,
        "tests",
    )
    .await
    .0
}

/// `DELETE path` as the holder of `token`.
async fn delete_as(served: &Served, path: &str, token: &str) -> StatusCode {
    call(
        served,
        reqwest::Method::DELETE,
        path,
        Some(token),
        None,
        "tests",
    )
    .await
    .0
}

/// `POST /auth/password` as the holder of `token`.
async fn change_password(
    served: &Served,
    token: &str,
    current: &str,
    new: &str,
    user_agent: &str,
) -> (StatusCode, Value) {
    call(
        served,
        reqwest::Method::POST,
        "/auth/password",
        Some(token),
        Some(json!({"current_password": current, "new_password": new})),
        user_agent,
    )
    .await
}

async fn logout(served: &Served, refresh_token: &str) -> StatusCode {
    call(
        served,
        reqwest::Method::POST,
        "/auth/logout",
        None,
        Some(json!({"refresh_token": refresh_token})),
        "tests",
    )
    .await
    .0
}

async fn refresh(served: &Served, refresh_token: &str) -> StatusCode {
    call(
        served,
        reqwest::Method::POST,
        "/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh_token})),
        "tests",
    )
    .await
    .0
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_by_one_or_all_at_once() {
    let served = in_memory().await;
    register(&served, "ada@example.com").await;
    let (laptop, _) = sign_in(&served, "ada@example.com", PASSWORD, "laptop/1.0").await;
    let (phone, phone_refresh) = sign_in(&served, "ada@example.com", PASSWORD, "phone/2.0").await;

    let (status, list) = call(
        &served,
        reqwest::Method::GET,
        "/auth/sessions",
        Some(&laptop),
        None,
        "laptop/1.0",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let items = list["items"].as_array().expect("items");
    assert_eq!(items.len(), 2, "{list}");
    // Oldest first, even within one second.
    assert_eq!(items[0]["user_agent"], "laptop/1.0", "{list}");
    assert_eq!(items[0]["current"], true);
    assert_eq!(items[1]["user_agent"], "phone/2.0", "{list}");
    assert_eq!(items[1]["current"], false);
    for item in items {
        assert_eq!(item["client_ip"], "127.0.0.1", "{item}");
        assert!(
            item["created_at"].is_string() && item["last_used_at"].is_string(),
            "{item}"
        );
    }
    let phone_session = items[1]["id"].as_str().expect("an id").to_owned();

    // The laptop ends the phone's session: its access token and refresh token stop at once.
    assert_eq!(me(&served, &phone).await, StatusCode::OK);
    let path = format!("/auth/sessions/{phone_session}");
    let status = delete_as(&served, &path, &laptop).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(me(&served, &phone).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        refresh(&served, &phone_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(me(&served, &laptop).await, StatusCode::OK);
    // Ending it again is no error (a retry records the ending again); an id that is no
    // session of the caller's is a 404.
    let status = delete_as(&served, &path, &laptop).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let status = delete_as(&served, "/auth/sessions/no-such-session", &laptop).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Another account cannot see or end Ada's sessions.
    register(&served, "bob@example.com").await;
    let (bob, _) = sign_in(&served, "bob@example.com", PASSWORD, "bob").await;
    let (_, list) = call(
        &served,
        reqwest::Method::GET,
        "/auth/sessions",
        Some(&bob),
        None,
        "bob",
    )
    .await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1), "{list}");

    // Signing out everywhere ends the laptop's token too.
    let status = delete_as(&served, "/auth/sessions", &laptop).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(me(&served, &laptop).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&served, &bob).await, StatusCode::OK);
    // A new sign-in right after works: what ended were sessions, not the account.
    let (again, _) = sign_in(&served, "ada@example.com", PASSWORD, "laptop/1.0").await;
    assert_eq!(me(&served, &again).await, StatusCode::OK);
}

#[tokio::test]
async fn logout_ends_the_access_token_at_once() {
    let served = in_memory().await;
    register(&served, "ada@example.com").await;
    let (access, refresh_token) = sign_in(&served, "ada@example.com", PASSWORD, "tests").await;
    let (other, _) = sign_in(&served, "ada@example.com", PASSWORD, "tests").await;
    assert_eq!(me(&served, &access).await, StatusCode::OK);
    assert_eq!(
        logout(&served, &refresh_token).await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(me(&served, &access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(
        me(&served, &other).await,
        StatusCode::OK,
        "another session lives on"
    );
}

/// Ada changes her password on `on` while her other session's token is checked on `other`.
async fn password_change_ends_every_other_session(on: &Served, other: &Served, email: &str) {
    let (first, first_refresh) = sign_in(other, email, PASSWORD, "first").await;
    let (second, _) = sign_in(on, email, PASSWORD, "second").await;
    let (status, refused) =
        change_password(on, &second, "not the password", NEW_PASSWORD, "second").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
    let (status, refused) = change_password(on, &second, PASSWORD, "short", "second").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["errors"][0]["pointer"], "/new_password");
    assert_eq!(
        me(other, &first).await,
        StatusCode::OK,
        "nothing changed yet"
    );

    let (status, tokens) = change_password(on, &second, PASSWORD, NEW_PASSWORD, "second").await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let fresh = tokens["access_token"].as_str().expect("a new token");
    for served in [on, other] {
        assert_eq!(me(served, &first).await, StatusCode::UNAUTHORIZED);
        assert_eq!(me(served, &second).await, StatusCode::UNAUTHORIZED);
        assert_eq!(me(served, fresh).await, StatusCode::OK);
    }
    assert_eq!(
        refresh(other, &first_refresh).await,
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = call(
        other,
        reqwest::Method::POST,
        "/auth/login",
        None,
        Some(json!({"email": email, "password": PASSWORD})),
        "tests",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    sign_in(other, email, NEW_PASSWORD, "tests").await;
}

#[tokio::test]
async fn a_password_change_ends_every_other_session() {
    let served = in_memory().await;
    register(&served, "ada@example.com").await;
    password_change_ends_every_other_session(&served, &served, "ada@example.com").await;
}

#[tokio::test]
async fn two_instances_sharing_redis_end_tokens_on_both() {
    let Some(url) =
        crate::ratelimit_redis::redis_url("two_instances_sharing_redis_end_tokens_on_both")
    else {
        return;
    };
    // One account store (a SQLite file both open) and one Redis, as a fleet shares them.
    let (_dir, db) = crate::store_support::sqlite_database().await;
    let accounts: Arc<dyn AuthStore> = Arc::new(
        cmmv::auth::SqlAuthStore::open(db.clone())
            .await
            .expect("the auth tables"),
    );
    let prefix = format!(
        "cmmv:sessions-test:{}:",
        cmmv::types::Uuid::new_v4().simple()
    );
    let instance = || async {
        let revocations = RedisRevocations::connect(&url, prefix.clone()).expect("Redis");
        serve(
            login_settings(AuthSettings::default()),
            Arc::clone(&accounts),
            Arc::new(revocations),
        )
        .await
    };
    let (a, b) = (instance().await, instance().await);
    register(&a, "ada@example.com").await;

    // Signed in on A, used on B, signed out on A: refused on B at once.
    let (access, refresh_token) = sign_in(&a, "ada@example.com", PASSWORD, "tests").await;
    assert_eq!(me(&b, &access).await, StatusCode::OK);
    assert_eq!(logout(&a, &refresh_token).await, StatusCode::NO_CONTENT);
    assert_eq!(me(&b, &access).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&a, &access).await, StatusCode::UNAUTHORIZED);

    // A password changed on B ends what A would still accept.
    password_change_ends_every_other_session(&b, &a, "ada@example.com").await;
}

#[tokio::test]
async fn a_session_past_its_absolute_lifetime_cannot_be_refreshed() {
    // Refresh tokens and sessions live 4 s (times are whole seconds). Refreshed 2 s after the
    // sign-in, the session holds a refresh token good until 6 s or later; presented at about
    // 4.3 s, that token has not expired, but its session has.
    let auth = AuthSettings {
        access_ttl: Duration::from_secs(1),
        refresh_ttl: Duration::from_secs(4),
        session_ttl: Duration::from_secs(4),
        ..AuthSettings::default()
    };
    let served = serve(
        login_settings(auth),
        Arc::new(MemoryAuthStore::new()),
        Arc::new(cmmv::auth::MemoryRevocations::new()),
    )
    .await;
    register(&served, "ada@example.com").await;
    let (_, refresh_token) = sign_in(&served, "ada@example.com", PASSWORD, "tests").await;
    tokio::time::sleep(Duration::from_millis(2_000)).await;
    let (status, tokens) = call(
        &served,
        reqwest::Method::POST,
        "/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh_token})),
        "tests",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let next = tokens["refresh_token"]
        .as_str()
        .expect("a refresh token")
        .to_owned();
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    assert_eq!(refresh(&served, &next).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sessions_are_managed_with_a_bearer_token_and_api_keys_end_with_a_password_change() {
    let served = in_memory().await;
    register(&served, "ada@example.com").await;
    let (access, _) = sign_in(&served, "ada@example.com", PASSWORD, "tests").await;
    let (status, key) = call(
        &served,
        reqwest::Method::POST,
        "/auth/api-keys",
        Some(&access),
        Some(json!({"name": "ci"})),
        "tests",
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let secret = key["key"].as_str().expect("the key");
    let with_key = |path: &str| {
        reqwest::Client::new()
            .get(served.url(path))
            .header("x-api-key", secret)
            .send()
    };
    let response = with_key("/auth/sessions").await.expect("a response");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    // A password change revokes the account's keys: one minted with a stolen session must not
    // outlive it.
    assert_eq!(
        with_key("/auth/me").await.expect("a response").status(),
        StatusCode::OK
    );
    let (status, _) = change_password(&served, &access, PASSWORD, NEW_PASSWORD, "tests").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        with_key("/auth/me").await.expect("a response").status(),
        StatusCode::UNAUTHORIZED
    );
}

/// The audit records among the captured log lines.
fn audit(captured: &CapturedLogs) -> Vec<Value> {
    captured
        .records()
        .into_iter()
        .filter(|record| record["target"] == cmmv::auth::AUDIT_TARGET)
        .collect()
}

/// Sign-in, failure, sign-out, refresh reuse, revocations and password changes leave one JSON
/// record each under `cmmv::audit`, naming the account, the client and the request; no
/// password or token is anywhere in the logs. (A current-thread runtime: the subscriber set for
/// this thread sees the server's tasks.)
#[tokio::test(flavor = "current_thread")]
async fn security_events_leave_audit_records_without_secrets() {
    let captured = CapturedLogs::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_target(true)
        .with_max_level(tracing::Level::INFO)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let served = in_memory().await;
    register(&served, "ada@example.com").await;
    let (status, _) = call(
        &served,
        reqwest::Method::POST,
        "/auth/login",
        None,
        Some(json!({"email": "ada@example.com", "password": "a wrong guess of hers"})),
        "tests",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (access, refresh_token) = sign_in(&served, "ada@example.com", PASSWORD, "tests").await;
    // A refresh, then the rotated token again: reuse, which ends the session.
    let (status, rotated) = call(
        &served,
        reqwest::Method::POST,
        "/auth/refresh",
        None,
        Some(json!({"refresh_token": refresh_token})),
        "tests",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    assert_eq!(
        refresh(&served, &refresh_token).await,
        StatusCode::UNAUTHORIZED
    );
    let fresh = rotated["access_token"].as_str().expect("a token");
    assert_eq!(
        me(&served, fresh).await,
        StatusCode::UNAUTHORIZED,
        "reuse ends the session's tokens"
    );
    let (second, second_refresh) = sign_in(&served, "ada@example.com", PASSWORD, "tests").await;
    assert_eq!(
        logout(&served, &second_refresh).await,
        StatusCode::NO_CONTENT
    );
    let (third, _) = sign_in(&served, "ada@example.com", PASSWORD, "tests").await;
    let (status, _) = change_password(&served, &third, PASSWORD, NEW_PASSWORD, "tests").await;
    assert_eq!(status, StatusCode::OK);

    let records = audit(&captured);
    let events: Vec<&str> = records
        .iter()
        .filter_map(|record| record["event"].as_str())
        .collect();
    assert_eq!(
        events,
        [
            "registered",
            "sign_in_failed",
            "signed_in",
            "refresh_reused",
            "signed_in",
            "signed_out",
            "signed_in",
            "password_changed",
        ],
        "{records:#?}"
    );
    let account = records[0]["user_id"]
        .as_str()
        .expect("the account")
        .to_owned();
    for record in &records {
        assert_eq!(record["client_ip"], "127.0.0.1", "{record}");
        assert!(
            record["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty()),
            "{record}"
        );
        if record["event"] != "signed_out" {
            assert_eq!(record["user_id"], account.as_str(), "{record}");
        }
    }
    assert_eq!(records[1]["level"], "WARN");
    assert!(records[3]["session"].is_string(), "{}", records[3]);
    let logs = captured.text();
    for secret in [
        PASSWORD,
        NEW_PASSWORD,
        "a wrong guess of hers",
        &access,
        &refresh_token,
        &second,
        &third,
    ] {
        assert!(!logs.contains(secret), "a secret reached the logs");
    }
}
