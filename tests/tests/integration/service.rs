//! The example service generated from `contracts/`, over real HTTP: CRUD, every rejection
//! class, every constraint kind, custom operations, health and metrics.

use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::auth_support::{admin_client as client, with_auth};
use crate::runtime_support::{Served, settings};

async fn serve() -> Served {
    serve_with(settings()).await
}

/// The example app, accepting the tests' tokens; requests go out signed in with every role, so
/// that these tests see the operations themselves (`auth_http` tests who may call them).
async fn serve_with(settings: cmmv::Settings) -> Served {
    let app = todo::app(with_auth(settings), &Arc::new(todo::Todo::in_memory()))
        .expect("the example app builds");
    Served::start(app).await
}

/// Sends a request; `body` is sent as JSON when given.
async fn call(
    served: &Served,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = client().request(method, served.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("a response");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, value)
}

/// Asserts an RFC 9457 problem: status, media type, and the request id of header and body.
fn assert_problem(
    status: StatusCode,
    headers: &reqwest::header::HeaderMap,
    body: &Value,
    expected: StatusCode,
) {
    assert_eq!(status, expected, "{body}");
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert_eq!(content_type, "application/problem+json", "{body}");
    let request_id = headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(!request_id.is_empty());
    assert_eq!(body["request_id"], request_id, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert!(
        body["title"].is_string() && body["type"].is_string(),
        "{body}"
    );
}

/// Sends a request that must be refused with a 422 problem; its (pointer or parameter, rule)
/// pairs.
async fn refusals(
    served: &Served,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Vec<(String, String)> {
    let (status, headers, body) = call(served, method, path, body).await;
    assert_problem(status, &headers, &body, StatusCode::UNPROCESSABLE_ENTITY);
    failures(&body)
}

/// `(at, rule)` pairs as [`failures`] gives them.
fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|&(at, rule)| (at.to_owned(), rule.to_owned()))
        .collect()
}

/// The (pointer or parameter, rule) pairs of a 422.
fn failures(body: &Value) -> Vec<(String, String)> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| {
                    let at = e["pointer"]
                        .as_str()
                        .or_else(|| e["parameter"].as_str())
                        .unwrap_or_default();
                    (
                        at.to_owned(),
                        e["rule"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn project_id() -> &'static str {
    "0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69"
}

async fn create_task(served: &Served, title: &str) -> Value {
    let (status, headers, body) = call(
        served,
        Method::POST,
        "/v1/tasks",
        Some(json!({"project_id": project_id(), "title": title, "notes": "n"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().expect("an id");
    assert_eq!(
        headers.get("location").and_then(|v| v.to_str().ok()),
        Some(format!("/v1/tasks/{id}").as_str())
    );
    body
}

#[tokio::test]
async fn crud_happy_paths() {
    let served = serve().await;
    let task = create_task(&served, "Write the report").await;
    let id = task["id"].as_str().expect("an id").to_owned();
    // Defaults are applied, read-only fields set by the server.
    assert_eq!(task["done"], false);
    assert_eq!(task["priority"], "normal");
    assert_eq!(task["tags"], json!([]));
    assert_eq!(task["attachment_count"], 0);
    assert!(task["created_at"].is_string());
    assert!(
        task.get("due_at").is_none(),
        "optional fields that are absent are left out"
    );

    let (status, _, got) = call(&served, Method::GET, &format!("/v1/tasks/{id}"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got, task);

    // PATCH: absent fields stay, `null` clears a nullable field.
    let (status, _, patched) = call(
        &served,
        Method::PATCH,
        &format!("/v1/tasks/{id}"),
        Some(json!({"title": "Write it", "notes": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["title"], "Write it");
    assert_eq!(patched["notes"], Value::Null);
    assert_eq!(patched["priority"], "normal");

    // PUT replaces: fields left out take their defaults again.
    let (status, _, replaced) = call(&served, Method::PUT, &format!("/v1/tasks/{id}"), Some(json!({"project_id": project_id(), "title": "Replaced", "priority": "high", "notes": null}))).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["priority"], "high");
    assert_eq!(replaced["created_at"], task["created_at"]);

    for title in ["b", "c"] {
        create_task(&served, title).await;
    }
    let (status, _, page) = call(
        &served,
        Method::GET,
        "/v1/tasks?priority=normal&sort=-title&include_total=true&limit=1",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 2);
    assert_eq!(page["limit"], 1);
    assert_eq!(page["items"][0]["title"], "c");
    let (_, _, page) = call(
        &served,
        Method::GET,
        "/v1/tasks?priority=normal&sort=-title&limit=1&offset=1",
        None,
    )
    .await;
    assert_eq!(page["items"][0]["title"], "b");
    assert!(page.get("total").is_none());

    let (status, _, _) = call(&served, Method::DELETE, &format!("/v1/tasks/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, headers, body) =
        call(&served, Method::GET, &format!("/v1/tasks/{id}"), None).await;
    assert_problem(status, &headers, &body, StatusCode::NOT_FOUND);
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("does not exist"),
        "{body}"
    );
}

#[tokio::test]
async fn client_chosen_keys_conflict_and_must_match_the_path() {
    let served = serve().await;
    let label = json!({"slug": "urgent", "color": "#ff0000"});
    let (status, headers, body) =
        call(&served, Method::POST, "/v1/labels", Some(label.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // `Created` names the new resource by its client-chosen key, and that location serves it.
    let location = headers["location"].to_str().expect("an ASCII location");
    assert_eq!(location, "/v1/labels/urgent");
    let (status, _, fetched) = call(&served, Method::GET, location, None).await;
    assert_eq!((status, &fetched), (StatusCode::OK, &body));
    let (status, headers, body) = call(&served, Method::POST, "/v1/labels", Some(label)).await;
    assert_problem(status, &headers, &body, StatusCode::CONFLICT);
    let (status, headers, body) = call(
        &served,
        Method::PUT,
        "/v1/labels/urgent",
        Some(json!({"slug": "other", "color": "#00ff00"})),
    )
    .await;
    assert_problem(status, &headers, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        failures(&body),
        vec![("/slug".to_owned(), "key".to_owned())]
    );
}

#[tokio::test]
async fn unique_fields_conflict() {
    let served = serve().await;
    let project =
        json!({"name": "Apollo", "owner_id": project_id(), "access_code": "correct horse battery"});
    let (status, _, body) =
        call(&served, Method::POST, "/v1/projects", Some(project.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert!(
        body.get("access_code").is_none(),
        "write-only fields are never returned: {body}"
    );
    let (status, headers, body) = call(&served, Method::POST, "/v1/projects", Some(project)).await;
    assert_problem(status, &headers, &body, StatusCode::CONFLICT);
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("name"),
        "{body}"
    );
}

#[tokio::test]
async fn every_rejection_class_is_a_problem() {
    let mut settings = settings();
    settings.body_limit = 4096;
    let served = serve_with(settings).await;
    let send_raw = |method: Method, path: &str, content_type: Option<&str>, body: String| {
        let mut request = client().request(method, served.url(path)).body(body);
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        request.send()
    };
    async fn parts(response: reqwest::Response) -> (StatusCode, reqwest::header::HeaderMap, Value) {
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    // Malformed JSON: 400 with the position.
    let (status, headers, body) = parts(
        send_raw(
            Method::POST,
            "/v1/tasks",
            Some("application/json"),
            "{\"title\": ".into(),
        )
        .await
        .expect("a response"),
    )
    .await;
    assert_problem(status, &headers, &body, StatusCode::BAD_REQUEST);
    assert!(
        body["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("line 1, column 10"),
        "{body}"
    );
    // Wrong and missing content type: 415.
    let (status, headers, body) = parts(
        send_raw(Method::POST, "/v1/tasks", Some("text/plain"), "{}".into())
            .await
            .expect("a response"),
    )
    .await;
    assert_problem(status, &headers, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, headers, body) = parts(
        send_raw(Method::POST, "/v1/tasks", None, "{}".into())
            .await
            .expect("a response"),
    )
    .await;
    assert_problem(status, &headers, &body, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Too large: 413.
    let big = format!("{{\"title\": \"{}\"}}", "x".repeat(10_000));
    let (status, headers, body) = parts(
        send_raw(Method::POST, "/v1/tasks", Some("application/json"), big)
            .await
            .expect("a response"),
    )
    .await;
    assert_problem(status, &headers, &body, StatusCode::PAYLOAD_TOO_LARGE);

    // Bad path and query values: 400.
    for path in [
        "/v1/tasks/not-a-uuid",
        "/v1/comments/abc",
        "/v1/tasks?limit=abc",
        "/v1/tasks?done=maybe",
        "/v1/tasks?priority=urgent",
        "/v1/tasks?offset=-1",
        "/v1/tasks?colour=red",
        "/v1/tasks?sort=notes",
        "/v1/tasks?limit=1&limit=2",
    ] {
        let (status, headers, body) = call(&served, Method::GET, path, None).await;
        assert_problem(status, &headers, &body, StatusCode::BAD_REQUEST);
    }
    // The unknown-filter problem names the allowed parameters.
    let (_, _, body) = call(&served, Method::GET, "/v1/tasks?colour=red", None).await;
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("`colour`") && detail.contains("project_id") && detail.contains("sort"),
        "{body}"
    );
    // A page larger than the maximum: 422 on the parameter.
    let (status, headers, body) = call(&served, Method::GET, "/v1/tasks?limit=201", None).await;
    assert_problem(status, &headers, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        failures(&body),
        vec![("limit".to_owned(), "maximum".to_owned())]
    );
    // Issue 17: the bounds the documents give (`limit` from 1, `offset` an int64) are the
    // server's: both refused at once, each with its own rule, instead of an offset past
    // `i64::MAX` being accepted and echoed.
    let path = "/v1/tasks?limit=0&offset=9223372036854775808";
    assert_eq!(
        refusals(&served, Method::GET, path, None).await,
        pairs(&[("limit", "minimum"), ("offset", "maximum")])
    );
    let (status, _, body) = call(
        &served,
        Method::GET,
        "/v1/tasks?offset=9223372036854775807",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["offset"], 9_223_372_036_854_775_807_i64);

    // Unknown route and wrong method.
    let (status, headers, body) = call(&served, Method::GET, "/v1/nothing-here", None).await;
    assert_problem(status, &headers, &body, StatusCode::NOT_FOUND);
    let (status, headers, body) = call(&served, Method::DELETE, "/v1/tasks", None).await;
    assert_problem(status, &headers, &body, StatusCode::METHOD_NOT_ALLOWED);
    let allow = headers
        .get("allow")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
}

#[tokio::test]
async fn every_constraint_kind_is_rejected_at_its_pointer() {
    let served = serve().await;
    let task = json!({
        "project_id": project_id(),
        "title": "",
        "done": "yes",
        "priority": "urgent",
        "estimate_hours": 0.3,
        "story_points": 101,
        "confidence": 1,
        "tags": ["ok", "Not OK", "ok", "a", "b", "c", "d", "e", "f", "g", "h"],
        "checklist": [{"text": ""}],
        "colour": "red"
    });
    let (status, headers, body) = call(&served, Method::POST, "/v1/tasks", Some(task)).await;
    assert_problem(status, &headers, &body, StatusCode::UNPROCESSABLE_ENTITY);
    let got = failures(&body);
    for expected in [
        ("/colour", "unknown_field"),
        ("/done", "type"),
        ("/priority", "enum"),
    ] {
        assert!(
            got.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {got:?}"
        );
    }

    // Type errors stop decoding; constraints are checked on a body whose types are right.
    let task = json!({
        "project_id": project_id(),
        "title": "",
        "estimate_hours": 0.3,
        "story_points": 101,
        "confidence": 1,
        "tags": ["ok", "Not OK", "ok", "a", "b", "c", "d", "e", "f", "g", "h"],
        "checklist": [{"text": ""}],
        "notes": null,
    });
    let (status, _, body) = call(&served, Method::POST, "/v1/tasks", Some(task)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let got = failures(&body);
    for expected in [
        ("/title", "min_length"),
        ("/estimate_hours", "multiple_of"),
        ("/story_points", "maximum"),
        ("/confidence", "exclusive_maximum"),
        ("/tags", "max_items"),
        ("/tags", "unique_items"),
        ("/tags/1", "pattern"),
        ("/checklist/0/text", "min_length"),
    ] {
        assert!(
            got.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {got:?}"
        );
    }

    let task = json!({"project_id": project_id(), "title": "x".repeat(201), "estimate_hours": 0, "story_points": -1, "notes": null});
    let (_, _, body) = call(&served, Method::POST, "/v1/tasks", Some(task)).await;
    let got = failures(&body);
    for expected in [
        ("/title", "max_length"),
        ("/estimate_hours", "exclusive_minimum"),
        ("/story_points", "minimum"),
    ] {
        assert!(
            got.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {got:?}"
        );
    }

    // Required, null, formats, bytes and map constraints.
    let (_, _, body) = call(
        &served,
        Method::POST,
        "/v1/tasks",
        Some(json!({"project_id": project_id(), "notes": "n"})),
    )
    .await;
    assert!(
        failures(&body).contains(&("/title".to_owned(), "required".to_owned())),
        "{body}"
    );
    let (_, _, body) = call(
        &served,
        Method::POST,
        "/v1/tasks",
        Some(json!({"project_id": project_id(), "title": null, "notes": null})),
    )
    .await;
    assert!(
        failures(&body).contains(&("/title".to_owned(), "null".to_owned())),
        "{body}"
    );
    let settings: serde_json::Map<String, Value> =
        (0..21).map(|i| (format!("k{i}"), json!("v"))).collect();
    // A user's record is the account's: changed, never created, by clients; the body is
    // checked before the user is looked up.
    let someone = format!("/v1/users/{}", project_id());
    let user = json!({
        "display_name": "",
        "homepage": "example.com",
        "avatar": "A".repeat(87_384),
        "settings": settings,
    });
    let (status, _, body) = call(&served, Method::PUT, &someone, Some(user)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let got = failures(&body);
    for expected in [
        ("/display_name", "min_length"),
        ("/homepage", "format"),
        ("/avatar", "max_length"),
        ("/settings", "max_items"),
    ] {
        assert!(
            got.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {got:?}"
        );
    }
    let user = json!({"display_name": "Ada", "settings": {"theme": "x".repeat(201)}});
    let (_, _, body) = call(&served, Method::PUT, &someone, Some(user)).await;
    assert_eq!(
        failures(&body),
        vec![("/settings/theme".to_owned(), "max_length".to_owned())]
    );
    let (_, _, body) = call(&served, Method::POST, "/v1/projects", Some(json!({"name": "Bad/Name!", "owner_id": project_id(), "budget": "-1", "website_host": "-bad-", "access_code": "short"}))).await;
    let got = failures(&body);
    for expected in [
        ("/name", "pattern"),
        ("/access_code", "min_length"),
        ("/budget", "minimum"),
        ("/website_host", "format"),
    ] {
        assert!(
            got.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} in {got:?}"
        );
    }
}

#[tokio::test]
async fn custom_operations() {
    let served = serve().await;
    let task = create_task(&served, "Ship it").await;
    let id = task["id"].as_str().expect("an id");
    let (status, _, done) = call(
        &served,
        Method::POST,
        &format!("/v1/tasks/{id}/complete"),
        Some(json!({"note": "done"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    assert_eq!(done["done"], true);
    // `reopen` is served by version 2 only.
    let (status, _, _) = call(
        &served,
        Method::POST,
        &format!("/v1/tasks/{id}/reopen"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, reopened) = call(
        &served,
        Method::POST,
        &format!("/v2/tasks/{id}/reopen"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reopened}");
    assert_eq!(reopened["done"], false);

    let (status, _, stats) = call(&served, Method::GET, "/v1/tasks/stats", None).await;
    assert_eq!(status, StatusCode::OK, "{stats}");
    assert_eq!(
        stats,
        json!({"total": 1, "done": 0, "by_priority": {"normal": 1}})
    );
    let (status, _, found) = call(&served, Method::GET, "/v2/tasks/search?q=ship", None).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    assert_eq!(found.as_array().map(Vec::len), Some(1));
    // Query parameters: missing is 400, a broken constraint 422 on the parameter.
    let (status, headers, body) = call(&served, Method::GET, "/v2/tasks/search", None).await;
    assert_problem(status, &headers, &body, StatusCode::BAD_REQUEST);
    let (status, headers, body) = call(
        &served,
        Method::GET,
        "/v2/tasks/search?q=s&max_results=99",
        None,
    )
    .await;
    assert_problem(status, &headers, &body, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        failures(&body),
        vec![
            ("q".to_owned(), "min_length".to_owned()),
            ("max_results".to_owned(), "maximum".to_owned())
        ]
    );
    let (status, headers, body) = call(
        &served,
        Method::GET,
        "/v1/tasks/stats?project_id=nope",
        None,
    )
    .await;
    assert_problem(status, &headers, &body, StatusCode::BAD_REQUEST);
    let (status, headers, body) = call(
        &served,
        Method::POST,
        "/v1/tasks/0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a00/complete",
        Some(json!({})),
    )
    .await;
    assert_problem(status, &headers, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn health_metrics_and_documents() {
    let served = serve().await;
    create_task(&served, "counted").await;
    let (status, _, body) = call(&served, Method::GET, "/health/ready", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["checks"]["store"]["status"], "ok", "{body}");
    let metrics = client()
        .get(served.url("/metrics"))
        .send()
        .await
        .expect("a response")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains("route=\"/v1/tasks\""), "{metrics}");
    assert!(
        !metrics.contains("route=\"/v1/tasks/0"),
        "raw paths never become labels"
    );
    let (status, _, document) = call(&served, Method::GET, "/v2/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
}

/// Issue 17: values where the documents and the server once disagreed. Zero bytes (empty
/// base64) are a value; `null` is not a value of a `json` field that is not nullable, and the
/// documents say so (`not: {type: null}`).
#[tokio::test]
async fn documented_edge_values_get_the_documented_answer() {
    let served = serve().await;
    let registered = reqwest::Client::new()
        .post(served.url("/auth/register"))
        .json(&json!({"email": "empty@example.com", "password": "correct horse battery"}))
        .send()
        .await
        .expect("a response");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let account: Value = registered.json().await.expect("the account");
    let path = format!("/v1/users/{}", account["id"].as_str().expect("an id"));
    let (status, _, body) = call(&served, Method::PATCH, &path, Some(json!({"avatar": ""}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body.get("avatar"), Some(&json!("")), "{body}");

    let task = json!({
        "project_id": project_id(),
        "title": "Null metadata",
        "notes": null,
        "metadata": null
    });
    assert_eq!(
        refusals(&served, Method::POST, "/v1/tasks", Some(task)).await,
        pairs(&[("/metadata", "null")])
    );
    let (_, _, document) = call(&served, Method::GET, "/v1/openapi.json", None).await;
    let metadata = &document["components"]["schemas"]["TaskInput"]["properties"]["metadata"];
    assert_eq!(metadata["not"], json!({"type": "null"}), "{metadata}");
}

/// Issue 17: one 422 lists every failing field at once — a wrong type, a missing field, an
/// unknown field and a too-long string together, each with its pointer and rule — rather than
/// the decoding errors first and the rules after.
#[tokio::test]
async fn every_failing_field_is_reported_at_once() {
    let served = serve().await;
    let body = json!({
        "title": "x".repeat(201),
        "notes": null,
        "done": "yes",
        "colour": "red"
    });
    let mut found = refusals(&served, Method::POST, "/v1/tasks", Some(body)).await;
    found.sort();
    assert_eq!(
        found,
        pairs(&[
            ("/colour", "unknown_field"),
            ("/done", "type"),
            ("/project_id", "required"),
            ("/title", "max_length"),
        ])
    );
}
