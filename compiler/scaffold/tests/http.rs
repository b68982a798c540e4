//! The service over its whole middleware stack, in process (`cmmv::testing`).

use std::sync::Arc;
use std::time::Duration;

use cmmv::Settings;
use cmmv::testing::TestClient;
use serde_json::json;

fn app() -> cmmv::App {
    let settings = Settings {
        shutdown_delay: Duration::ZERO,
        ..Settings::default()
    };
    {{crate_ident}}::app(settings, &Arc::new({{crate_ident}}::api::Stores::in_memory())).expect("the app builds")
}

#[tokio::test]
async fn an_item_is_created_read_and_listed() {
    let client = TestClient::new(&app());
    let created = client.post("/v1/items", json!({"name": "First"})).await;
    assert_eq!(created.status, 201, "{}", created.body);
    let id = created.body["id"].as_str().expect("an id");
    let read = client.get(&format!("/v1/items/{id}")).await;
    assert_eq!(read.status, 200);
    assert_eq!(read.body["name"], "First");
    let page = client.get("/v1/items").await;
    assert_eq!(page.body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn a_bad_body_is_a_problem_naming_the_field() {
    let client = TestClient::new(&app());
    let refused = client.post("/v1/items", json!({"name": ""})).await;
    assert_eq!(refused.status, 422);
    assert_eq!(refused.body["errors"][0]["pointer"], "/name");
}

#[tokio::test]
async fn the_documents_and_health_are_served() {
    let client = TestClient::new(&app());
    assert_eq!(client.get("/v1/openapi.json").await.status, 200);
    assert_eq!(client.get("/health/live").await.status, 200);
    assert_eq!(client.get("/health/ready").await.status, 200);
}
