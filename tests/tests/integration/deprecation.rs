//! Deprecated operations over real HTTP: the example's `complete` is deprecated since
//! 2026-06-01 with a sunset on 2030-01-01 (`contracts/task.yaml`). Its answers announce it in
//! `Deprecation`, `Sunset` and `Link`; from the sunset on it is `410 Gone`, unless
//! `CMMV_SUNSET_GONE=false`. The app's clock is the test's, so the sunset is crossed without
//! waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::auth_support::{admin_client, token, with_auth};
use crate::runtime_support::{Served, header, settings};

/// 2026-06-01T00:00:00Z and 2030-01-01T00:00:00Z, as the contract says.
const SINCE: i64 = 1_780_272_000;
const SUNSET: i64 = 1_893_456_000;
const LINK: &str = "https://example.invalid/cmmv-rs/docs/changes#task-complete";
const PROJECT: &str = "0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69";

/// The example app on a clock the test moves, its sunset behaviour as `gone` says.
async fn serve(now: &Arc<AtomicI64>, gone: bool) -> Served {
    let mut settings = with_auth(settings());
    settings.sunset_gone = gone;
    let now = now.clone();
    let todo = Arc::new(todo::Todo::in_memory());
    let login = todo::login_in_memory(&settings)
        .expect("the login module")
        .with_records(todo.accounts());
    let app = todo::app_builder(settings, &todo)
        .login(&login)
        .clock(cmmv::deprecation::Clock::from_fn(move || {
            now.load(Ordering::SeqCst)
        }))
        .build()
        .expect("the example app builds");
    Served::start(app).await
}

async fn create_task(served: &Served) -> String {
    let response = admin_client()
        .post(served.url("/v1/tasks"))
        .json(&json!({"project_id": PROJECT, "title": "Write the report", "notes": null}))
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::CREATED);
    // A route that is not deprecated says nothing about deprecation.
    assert_eq!(header(&response, "deprecation"), None);
    assert_eq!(header(&response, "sunset"), None);
    let body: Value = response.json().await.expect("JSON");
    body["id"].as_str().expect("an id").to_owned()
}

fn assert_announced(response: &reqwest::Response) {
    assert_eq!(
        header(response, "deprecation"),
        Some(format!("@{SINCE}").as_str())
    );
    assert_eq!(
        header(response, "sunset"),
        Some("Tue, 01 Jan 2030 00:00:00 GMT")
    );
    assert_eq!(
        header(response, "link"),
        Some(
            format!(
                "<{LINK}>; rel=\"deprecation\"; type=\"text/html\", <{LINK}>; rel=\"sunset\"; type=\"text/html\""
            )
            .as_str()
        )
    );
}

#[tokio::test]
async fn a_deprecated_operation_announces_its_sunset_on_every_answer() {
    let now = Arc::new(AtomicI64::new(SINCE + 86_400));
    let served = serve(&now, true).await;
    let id = create_task(&served).await;
    for version in [1, 2] {
        let path = format!("/v{version}/tasks/{id}/complete");
        let response = admin_client()
            .post(served.url(&path))
            .json(&json!({"note": "done"}))
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_announced(&response);
        // Refusals announce it too: a client that is refused learns as much.
        let response = reqwest::Client::new()
            .post(served.url(&path))
            .json(&json!({}))
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_announced(&response);
    }

    // Every call is counted per client: the signed-in subject, or `anonymous`.
    let metrics = admin_client()
        .get(served.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let series: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("cmmv_deprecated_requests_total{"))
        .collect();
    assert!(
        series
            .iter()
            .any(|l| l.contains("operation=\"Task.complete\"")
                && l.contains("client=\"anonymous\"")
                && l.ends_with(" 2")),
        "{series:#?}"
    );
    assert!(
        series.iter().any(
            |l| l.contains("client=\"00000000-0000-4000-8000-000000000001\"") && l.ends_with(" 2")
        ),
        "{series:#?}"
    );
}

#[tokio::test]
async fn past_its_sunset_a_deprecated_operation_is_gone() {
    let now = Arc::new(AtomicI64::new(SUNSET - 1));
    let served = serve(&now, true).await;
    let id = create_task(&served).await;
    let path = format!("/v1/tasks/{id}/complete");
    let before = admin_client()
        .post(served.url(&path))
        .json(&json!({}))
        .send()
        .await
        .expect("a response");
    assert_eq!(before.status(), StatusCode::OK);

    now.store(SUNSET, Ordering::SeqCst);
    // Gone for everyone, credentials or not: nothing behind the sunset runs.
    for client in [admin_client(), reqwest::Client::new()] {
        let response = client
            .post(served.url(&path))
            .json(&json!({}))
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), StatusCode::GONE);
        assert_eq!(
            header(&response, "content-type"),
            Some("application/problem+json")
        );
        assert_announced(&response);
        let request_id = header(&response, "x-request-id").map(str::to_owned);
        let body: Value = response.json().await.expect("a problem");
        assert_eq!(body["status"], 410);
        assert_eq!(body["title"], "Gone");
        assert_eq!(body["request_id"].as_str(), request_id.as_deref());
        assert!(
            body["detail"]
                .as_str()
                .is_some_and(|d| d.contains("Task.complete") && d.contains("2030")),
            "{body}"
        );
    }
    // The rest of the API is untouched.
    let response = admin_client()
        .get(served.url(&format!("/v1/tasks/{id}")))
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn sunset_gone_false_keeps_serving_past_the_sunset() {
    let now = Arc::new(AtomicI64::new(SUNSET + 86_400 * 365));
    let served = serve(&now, false).await;
    let id = create_task(&served).await;
    let response = reqwest::Client::new()
        .post(served.url(&format!("/v1/tasks/{id}/complete")))
        .bearer_auth(token("someone", &["user"]))
        .json(&json!({}))
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::OK);
    assert_announced(&response);
}

#[tokio::test]
async fn the_documents_mark_the_operation_and_its_headers() {
    let now = Arc::new(AtomicI64::new(SINCE));
    let served = serve(&now, true).await;
    for version in [1, 2] {
        let document: Value = reqwest::get(served.url(&format!("/v{version}/openapi.json")))
            .await
            .expect("a document")
            .json()
            .await
            .expect("JSON");
        let operation = &document["paths"][format!("/v{version}/tasks/{{id}}/complete")]["post"];
        assert_eq!(operation["deprecated"], true);
        let headers = &operation["responses"]["200"]["headers"];
        for name in ["Deprecation", "Sunset", "Link"] {
            assert_eq!(headers[name]["required"], true, "{name}: {headers}");
        }
        assert_eq!(
            operation["responses"]["410"]["$ref"],
            "#/components/responses/Gone"
        );
        // Others are not deprecated.
        let get = &document["paths"][format!("/v{version}/tasks/{{id}}")]["get"];
        assert!(get.get("deprecated").is_none(), "{get}");
        assert!(get["responses"].get("410").is_none());
    }
}
