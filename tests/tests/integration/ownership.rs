//! Owned resources (`owner:` in a contract; the example's `Note`): the owner is the signed-in
//! account, set by the server; every CRUD operation reaches the caller's own resources only,
//! in the store (a condition of the SQL statement), and another account's answer 404 as if
//! they did not exist; a bypass role (`admin`) reaches them all. And one notion of a user
//! (`account:`; the example's `User`): each account of the login module is a `User` record,
//! made when it registers, reached at `/users/me`, owned through its key. Over real HTTP, on
//! memory, SQLite and (with `CMMV_TEST_DATABASE_URL`) PostgreSQL.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::auth_support::{admin_headers, with_auth};
use crate::runtime_support::{Served, settings};
use crate::store_support::{TestDatabase, sqlite_database};

const PASSWORD: &str = "correct horse battery staple";

/// An account of the example's login module: its id and its access token.
struct Account {
    id: String,
    token: String,
}

async fn sign_up(served: &Served, name: &str) -> Account {
    let client = reqwest::Client::new();
    let credentials = json!({"email": format!("{name}@example.com"), "password": PASSWORD});
    let registered = client
        .post(served.url("/auth/register"))
        .json(&credentials)
        .send()
        .await
        .expect("registered");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let account: Value = registered.json().await.expect("JSON");
    let tokens: Value = client
        .post(served.url("/auth/login"))
        .json(&credentials)
        .send()
        .await
        .expect("signed in")
        .json()
        .await
        .expect("JSON");
    Account {
        id: account["id"].as_str().expect("an id").to_owned(),
        token: tokens["access_token"].as_str().expect("a token").to_owned(),
    }
}

/// One request as `token` (or with every role, for `None`): status and JSON body.
async fn call(
    served: &Served,
    token: Option<&str>,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = reqwest::Client::new().request(method, served.url(path));
    request = match token {
        Some(token) => request.bearer_auth(token),
        None => request.headers(admin_headers()),
    };
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("a response");
    let status = response.status();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn titles(page: &Value) -> Vec<&str> {
    let mut titles: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|note| note["title"].as_str())
        .collect();
    titles.sort_unstable();
    titles
}

async fn each_account_reaches_its_own_notes(served: &Served) {
    let ada = sign_up(served, "ada").await;
    let bob = sign_up(served, "bob").await;
    let (ada_token, bob_token) = (Some(ada.token.as_str()), Some(bob.token.as_str()));

    // The server sets the owner from the token; a client cannot choose one.
    let (status, note) = call(
        served,
        ada_token,
        Method::POST,
        "/v1/notes",
        Some(json!({"title": "Ada's"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{note}");
    assert_eq!(note["owner_id"], ada.id.as_str());
    let (status, refused) = call(
        served,
        bob_token,
        Method::POST,
        "/v1/notes",
        Some(json!({"title": "Forged", "owner_id": ada.id})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["errors"][0]["pointer"], "/owner_id");
    let (status, _) = call(
        served,
        bob_token,
        Method::POST,
        "/v2/notes",
        Some(json!({"title": "Bob's"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    // Bob reaches nothing of Ada's: every operation answers as for a note that is not there.
    let path = format!("/v1/notes/{}", note["id"].as_str().expect("an id"));
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"title": "Taken over"}))),
        (Method::PUT, Some(json!({"title": "Taken over"}))),
        (Method::DELETE, None),
    ] {
        let (status, problem) = call(served, bob_token, method.clone(), &path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {problem}");
    }
    let (status, page) = call(served, bob_token, Method::GET, "/v1/notes?count=true", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(titles(&page), ["Bob's"]);
    assert_eq!(page["total"], 1);
    // A filter cannot widen the scope: it is one more condition.
    let (_, page) = call(
        served,
        bob_token,
        Method::GET,
        "/v1/notes?title=Ada%27s",
        None,
    )
    .await;
    assert_eq!(titles(&page), Vec::<&str>::new());

    // Ada's note is intact, and hers to change.
    let (status, read) = call(served, ada_token, Method::GET, &path, None).await;
    assert_eq!(
        (status, read["title"].as_str()),
        (StatusCode::OK, Some("Ada's"))
    );
    let (status, changed) = call(
        served,
        ada_token,
        Method::PATCH,
        &path,
        Some(json!({"pinned": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(changed["owner_id"], ada.id.as_str());

    // An admin (a bypass role) reaches every note.
    let (status, page) = call(served, None, Method::GET, "/v1/notes", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(titles(&page), ["Ada's", "Bob's"]);
    let (status, _) = call(served, None, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);

    let (status, _) = call(served, ada_token, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = call(served, None, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

/// Registers `name` without signing in: its id.
async fn register(served: &Served, name: &str) -> String {
    let registered = reqwest::Client::new()
        .post(served.url("/auth/register"))
        .json(&json!({"email": format!("{name}@example.com"), "password": PASSWORD}))
        .send()
        .await
        .expect("registered");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let account: Value = registered.json().await.expect("JSON");
    account["id"].as_str().expect("an id").to_owned()
}

fn ids(page: &Value) -> Vec<&str> {
    let mut ids: Vec<&str> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|user| user["id"].as_str())
        .collect();
    ids.sort_unstable();
    ids
}

async fn each_account_is_its_user(served: &Served) {
    // Registered and signed in: `/users/me` is the account, in every version.
    let ada = sign_up(served, "ada").await;
    let ada_token = Some(ada.token.as_str());
    for version in [1, 2] {
        let (status, me) = call(
            served,
            ada_token,
            Method::GET,
            &format!("/v{version}/users/me"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(me["id"], ada.id.as_str(), "{me}");
        assert_eq!(me["email"], "ada@example.com", "{me}");
    }
    let (status, me) = call(served, ada_token, Method::GET, "/auth/me", None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["subject"], ada.id.as_str(), "{me}");

    // Ada changes her own record; the email is the account's, not hers to change here.
    let ada_path = format!("/v1/users/{}", ada.id);
    let (status, changed) = call(
        served,
        ada_token,
        Method::PATCH,
        &ada_path,
        Some(json!({"display_name": "Ada Lovelace"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["display_name"], "Ada Lovelace");
    let (status, refused) = call(
        served,
        ada_token,
        Method::PATCH,
        &ada_path,
        Some(json!({"email": "someone.else@example.com"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert_eq!(refused["errors"][0]["pointer"], "/email", "{refused}");

    // A project of hers names her by the id she signed in with: no record to make first.
    let (status, project) = call(
        served,
        ada_token,
        Method::POST,
        "/v1/projects",
        Some(json!({"name": "Analytical Engine", "owner_id": ada.id})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{project}");

    // Bob reaches only himself: Ada's record answers 404 to every operation, as if absent.
    let bob = sign_up(served, "bob").await;
    let bob_token = Some(bob.token.as_str());
    let (status, page) = call(served, bob_token, Method::GET, "/v1/users", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(ids(&page), vec![bob.id.as_str()]);
    let (status, _) = call(served, bob_token, Method::GET, &ada_path, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        served,
        bob_token,
        Method::PATCH,
        &ada_path,
        Some(json!({"display_name": "Mallory"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(
        served,
        bob_token,
        Method::PUT,
        &ada_path,
        Some(json!({"display_name": "Mallory"})),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, me) = call(served, bob_token, Method::GET, "/v2/users/me", None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["id"], bob.id.as_str());

    // The record is made at registration: an admin sees Carol's before she ever signs in,
    // and every user.
    let carol = register(served, "carol").await;
    let (status, page) = call(served, None, Method::GET, "/v1/users", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let mut everyone = vec![ada.id.as_str(), bob.id.as_str(), carol.as_str()];
    everyone.sort_unstable();
    assert_eq!(ids(&page), everyone);
    let (status, read) = call(served, None, Method::GET, &ada_path, None).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read["display_name"], "Ada Lovelace");

    // Clients neither create nor delete users: accounts do.
    let (status, _) = call(served, None, Method::POST, "/v1/users", Some(json!({}))).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = call(served, None, Method::DELETE, &ada_path, None).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // A principal with no account here holds no user.
    let (status, _) = call(served, None, Method::GET, "/v1/users/me", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

/// The example app served on `todo`'s stores, with the tests' signing key.
async fn serve(todo: todo::Todo) -> Served {
    let app = todo::app(with_auth(settings()), &Arc::new(todo)).expect("the app builds");
    Served::start(app).await
}

#[tokio::test]
async fn accounts_are_users_in_memory() {
    each_account_is_its_user(&serve(todo::Todo::in_memory()).await).await;
}

#[tokio::test]
async fn accounts_are_users_in_sqlite() {
    let (_dir, db) = sqlite_database().await;
    each_account_is_its_user(&serve(todo::Todo::with_database(&db)).await).await;
}

#[tokio::test]
async fn accounts_are_users_in_postgres() {
    let Some(test) = TestDatabase::postgres("accounts").await else {
        return;
    };
    each_account_is_its_user(&serve(todo::Todo::with_database(&test.db)).await).await;
    test.drop().await;
}

/// An account made before its project bound `User` to the accounts (or whose record could not
/// be written at registration) gets its record at its next sign-in.
#[tokio::test]
async fn an_account_without_a_record_gets_one_when_it_signs_in() {
    let settings = with_auth(settings());
    let accounts: Arc<dyn cmmv::auth::AuthStore> = Arc::new(cmmv::auth::MemoryAuthStore::new());
    let todo = Arc::new(todo::Todo::in_memory());
    // The same accounts, first served by a login module keeping no records.
    let before = cmmv::App::builder(settings.clone())
        .login(&cmmv::auth::Login::from_settings(Arc::clone(&accounts), &settings).expect("login"))
        .build()
        .expect("an app without the contracts builds");
    let served = Served::start(before).await;
    let old = register(&served, "old").await;
    served.shutdown().await;

    let login = cmmv::auth::Login::from_settings(accounts, &settings)
        .expect("login")
        .with_records(todo.accounts());
    let app = todo::app_builder(settings, &todo)
        .login(&login)
        .build()
        .expect("the app builds");
    let served = Served::start(app).await;
    let (status, _) = call(
        &served,
        None,
        Method::GET,
        &format!("/v1/users/{old}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "no record yet");
    let client = reqwest::Client::new();
    let tokens: Value = client
        .post(served.url("/auth/login"))
        .json(&json!({"email": "old@example.com", "password": PASSWORD}))
        .send()
        .await
        .expect("signed in")
        .json()
        .await
        .expect("tokens");
    let token = tokens["access_token"].as_str().expect("a token");
    let (status, me) = call(&served, Some(token), Method::GET, "/v1/users/me", None).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["id"], old.as_str());
    assert_eq!(me["email"], "old@example.com");
}

/// The documents bind `User` to the accounts: an app whose login module keeps no records
/// does not start, rather than answer 401 to every `me`.
#[test]
fn an_app_whose_login_keeps_no_records_does_not_build() {
    let settings = with_auth(settings());
    let login = todo::login_in_memory(&settings).expect("login");
    let error = todo::app_builder(settings, &Arc::new(todo::Todo::in_memory()))
        .login(&login)
        .build()
        .expect_err("the records are not kept");
    assert!(
        matches!(
            error,
            cmmv::BuildError::AccountRecordsUnkept { contract: "User" }
        ),
        "{error}"
    );
}

#[tokio::test]
async fn owned_notes_in_memory() {
    each_account_reaches_its_own_notes(&serve(todo::Todo::in_memory()).await).await;
}

#[tokio::test]
async fn owned_notes_in_sqlite() {
    let (_dir, db) = sqlite_database().await;
    each_account_reaches_its_own_notes(&serve(todo::Todo::with_database(&db)).await).await;
}

#[tokio::test]
async fn owned_notes_in_postgres() {
    let Some(test) = TestDatabase::postgres("ownership").await else {
        return;
    };
    each_account_reaches_its_own_notes(&serve(todo::Todo::with_database(&test.db)).await).await;
    test.drop().await;
}
