//! Owned resources (`owner:` in a contract; the example's `Note`): the owner is the signed-in
//! account, set by the server; every CRUD operation reaches the caller's own resources only,
//! in the store (a condition of the SQL statement), and another account's answer 404 as if
//! they did not exist; a bypass role (`admin`) reaches them all. Over real HTTP, on memory,
//! SQLite and (with `CMMV_TEST_DATABASE_URL`) PostgreSQL.

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

#[tokio::test]
async fn owned_notes_in_memory() {
    let app = todo::app(with_auth(settings()), &Arc::new(todo::Todo::in_memory()))
        .expect("the app builds");
    each_account_reaches_its_own_notes(&Served::start(app).await).await;
}

#[tokio::test]
async fn owned_notes_in_sqlite() {
    let (_dir, db) = sqlite_database().await;
    let app = todo::app(
        with_auth(settings()),
        &Arc::new(todo::Todo::with_database(&db)),
    )
    .expect("the app builds");
    each_account_reaches_its_own_notes(&Served::start(app).await).await;
}

#[tokio::test]
async fn owned_notes_in_postgres() {
    let Some(test) = TestDatabase::postgres("ownership").await else {
        return;
    };
    let app = todo::app(
        with_auth(settings()),
        &Arc::new(todo::Todo::with_database(&test.db)),
    )
    .expect("the app builds");
    each_account_reaches_its_own_notes(&Served::start(app).await).await;
    test.drop().await;
}
