//! How a request names its API version, over real HTTP: the header alone, the media type
//! alone (each on a small app whose routes the test writes, declared through `cmmv::Api` as
//! generated code declares them), and all three strategies together on the example, whose
//! `cmmv.yaml` turns them on.

use std::sync::Arc;

use axum::Router;
use axum::extract::Path;
use axum::routing::get;
use cmmv::versioning::Versioning;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::auth_support::{admin_client, with_auth};
use crate::runtime_support::{Served, header, settings};

/// Version 1 and 2 of `/things/{id}` (`DELETE` in version 2 only), `/extras` in version 2
/// only, `/ping` unversioned.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/v1/things/{id}"),
    ("GET", "/v2/things/{id}"),
    ("DELETE", "/v2/things/{id}"),
    ("GET", "/v2/extras"),
    ("GET", "/ping"),
];

fn router() -> Router {
    let thing = |version: u32| {
        get(move |Path(id): Path<String>| async move {
            axum::Json(json!({"version": version, "id": id}))
        })
    };
    Router::new()
        .route("/v1/things/{id}", thing(1))
        .route(
            "/v2/things/{id}",
            thing(2).delete(|| async { StatusCode::NO_CONTENT }),
        )
        .route(
            "/v2/extras",
            get(|| async { axum::Json(json!({"extras": true})) }),
        )
        .route("/ping", get(|| async { "pong" }))
}

async fn serve(versioning: Versioning) -> Served {
    // A leaked table, as generated code's is `static`.
    let api: &'static cmmv::Api = Box::leak(Box::new(cmmv::Api {
        openapi: &[],
        routes: ROUTES,
        rate_limits: &[],
        migrations: &[],
        modules: &[],
        account: None,
        versioning,
        protobuf: None,
    }));
    let app = cmmv::App::builder(settings())
        .api(api)
        .routes(router())
        .build()
        .expect("the app builds");
    Served::start(app).await
}

async fn send(
    served: &Served,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    send_with(served, reqwest::Method::GET, path, headers).await
}

async fn send_with(
    served: &Served,
    method: reqwest::Method,
    path: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = reqwest::Client::new().request(method, served.url(path));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.expect("a response");
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, headers, body)
}

fn vary(headers: &reqwest::header::HeaderMap) -> Vec<String> {
    headers
        .get_all("vary")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.trim().to_ascii_lowercase())
        .collect()
}

fn assert_problem_lists_versions(
    status: StatusCode,
    body: &Value,
    expected: StatusCode,
    via: &str,
) {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("the versions served are 1, 2")),
        "{body}"
    );
    assert_eq!(body["errors"][0]["parameter"], via, "{body}");
    assert_eq!(body["errors"][0]["rule"], "enum", "{body}");
}

#[tokio::test]
async fn the_header_alone_names_the_version() {
    let served = serve(Versioning {
        uri: false,
        header: Some("X-API-Version"),
        media_type: None,
        default: None,
    })
    .await;
    let (status, headers, body) = send(&served, "/things/7", &[("x-api-version", "1")]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"version": 1, "id": "7"}));
    assert!(vary(&headers).contains(&"x-api-version".to_owned()));
    // `v1` means 1 too; a request naming none gets the latest.
    let (_, _, body) = send(&served, "/things/7", &[("x-api-version", "v1")]).await;
    assert_eq!(body["version"], 1);
    let (status, headers, body) = send(&served, "/things/7", &[]).await;
    assert_eq!(
        (status, body["version"].clone()),
        (StatusCode::OK, json!(2))
    );
    assert!(vary(&headers).contains(&"x-api-version".to_owned()));

    // Unknown or unreadable versions: 400 problems listing those served, which vary with the
    // header as the answers they stand for do.
    for bad in ["9", "two", ""] {
        let (status, headers, body) = send(&served, "/things/7", &[("x-api-version", bad)]).await;
        assert_problem_lists_versions(status, &body, StatusCode::BAD_REQUEST, "x-api-version");
        assert!(
            vary(&headers).contains(&"x-api-version".to_owned()),
            "{headers:?}"
        );
    }
    // A path version 2 serves but version 1 does not.
    let (status, headers, body) = send(&served, "/extras", &[("x-api-version", "1")]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(
        body["detail"]
            .as_str()
            .is_some_and(|d| d.contains("not served in version 1") && d.contains("2")),
        "{body}"
    );
    assert!(
        vary(&headers).contains(&"x-api-version".to_owned()),
        "{headers:?}"
    );
    // A path both versions serve, with a method only version 2 serves: the same 404 naming
    // version 2, not the 405 of version 1's route.
    let (status, headers, body) = send_with(
        &served,
        reqwest::Method::DELETE,
        "/things/7",
        &[("x-api-version", "1")],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(
        body["detail"].as_str().is_some_and(|d| {
            d.contains("`DELETE /things/7` is not served in version 1")
                && d.contains("the versions serving it are 2")
        }),
        "{body}"
    );
    assert!(
        vary(&headers).contains(&"x-api-version".to_owned()),
        "{headers:?}"
    );
    let (status, _, _) = send_with(
        &served,
        reqwest::Method::DELETE,
        "/things/7",
        &[("x-api-version", "2")],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // A method no version serves there: the chosen version's route says what it allows.
    let (status, headers, _) = send_with(
        &served,
        reqwest::Method::PUT,
        "/things/7",
        &[("x-api-version", "1")],
    )
    .await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(
        headers
            .get("allow")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|allow| allow.contains("GET") && !allow.contains("DELETE")),
        "{headers:?}"
    );
    // Without `uri`, the prefixed paths are not the clients'.
    let (status, _, _) = send(&served, "/v1/things/7", &[]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Unversioned routes ignore the header, whatever it says.
    let (status, headers, body) = send(&served, "/ping", &[("x-api-version", "9")]).await;
    assert_eq!((status, body), (StatusCode::OK, json!("pong")));
    assert!(vary(&headers).is_empty(), "{headers:?}");
}

#[tokio::test]
async fn the_media_type_alone_names_the_version() {
    let served = serve(Versioning {
        uri: false,
        header: None,
        media_type: Some("todo"),
        default: Some(1),
    })
    .await;
    let (status, headers, body) = send(
        &served,
        "/things/7",
        &[("accept", "application/vnd.todo.v2+json")],
    )
    .await;
    assert_eq!(
        (status, body["version"].clone()),
        (StatusCode::OK, json!(2))
    );
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/vnd.todo.v2+json")
    );
    assert!(vary(&headers).contains(&"accept".to_owned()));
    // No version asked for: the fixed default, in plain JSON.
    for accept in [None, Some("application/json"), Some("*/*")] {
        let headers: Vec<(&str, &str)> = accept.map(|a| ("accept", a)).into_iter().collect();
        let (status, response_headers, body) = send(&served, "/things/7", &headers).await;
        assert_eq!(
            (status, body["version"].clone()),
            (StatusCode::OK, json!(1))
        );
        assert_eq!(
            response_headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/json")
        );
    }
    for bad in [
        "application/vnd.todo.v7+json",
        "application/vnd.todo.latest+json",
    ] {
        let (status, headers, body) = send(&served, "/things/7", &[("accept", bad)]).await;
        assert_problem_lists_versions(status, &body, StatusCode::NOT_ACCEPTABLE, "accept");
        assert!(vary(&headers).contains(&"accept".to_owned()), "{headers:?}");
    }
}

#[tokio::test]
async fn an_unserved_default_version_is_refused_at_start() {
    let api: &'static cmmv::Api = Box::leak(Box::new(cmmv::Api {
        openapi: &[],
        routes: ROUTES,
        rate_limits: &[],
        migrations: &[],
        modules: &[],
        account: None,
        versioning: Versioning {
            uri: true,
            header: Some("X-API-Version"),
            media_type: None,
            default: Some(5),
        },
        protobuf: None,
    }));
    let error = cmmv::App::builder(settings())
        .api(api)
        .routes(router())
        .build()
        .expect_err("version 5 is not served");
    assert!(
        error.to_string().contains("default API version 5"),
        "{error}"
    );
}

/// The example serves all three strategies (`contracts/cmmv.yaml`), on the generated routes.
async fn example() -> Served {
    let app = todo::app(with_auth(settings()), &Arc::new(todo::Todo::in_memory()))
        .expect("the example app builds");
    Served::start(app).await
}

#[tokio::test]
async fn the_example_takes_the_path_the_header_or_the_media_type() {
    let served = example().await;
    let client = admin_client();
    // Created through the bare path in version 1: `Location` is where the client can follow.
    let response = client
        .post(served.url("/tasks"))
        .header("x-api-version", "1")
        .json(&json!({
            "project_id": "0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69",
            "title": "Versioned",
            "notes": null
        }))
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::CREATED);
    let location = header(&response, "location")
        .expect("a location")
        .to_owned();
    let task: Value = response.json().await.expect("JSON");
    let id = task["id"].as_str().expect("an id");
    assert_eq!(location, format!("/tasks/{id}"));

    // The same task by every strategy, and by none (the latest version).
    let by_path = client
        .get(served.url(&format!("/v1/tasks/{id}")))
        .send()
        .await
        .expect("a response");
    assert_eq!(by_path.status(), StatusCode::OK);
    let varies = vary(by_path.headers());
    assert!(varies.contains(&"x-api-version".to_owned()), "{varies:?}");
    assert!(varies.contains(&"accept".to_owned()), "{varies:?}");
    let by_path: Value = by_path.json().await.expect("JSON");
    for (name, value) in [
        ("x-api-version", "1"),
        ("accept", "application/vnd.todo.v1+json"),
        ("x-api-version", "2"),
        ("accept", "application/vnd.todo.v2+json"),
    ] {
        let response = client
            .get(served.url(&location))
            .header(name, value)
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), StatusCode::OK, "{name}: {value}");
        if name == "accept" {
            assert_eq!(header(&response, "content-type"), Some(value));
        }
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body, by_path);
    }
    let latest = client
        .get(served.url(&location))
        .send()
        .await
        .expect("a response");
    assert_eq!(latest.status(), StatusCode::OK);

    // Disagreements are refused: header against media type, header against the path.
    let response = client
        .get(served.url(&location))
        .header("x-api-version", "1")
        .header("accept", "application/vnd.todo.v2+json")
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = client
        .get(served.url(&format!("/v2/tasks/{id}")))
        .header("x-api-version", "1")
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let problem: Value = response.json().await.expect("a problem");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("version 2") && d.contains("version 1")),
        "{problem}"
    );

    // `reopen` is version 2's only.
    let response = client
        .post(served.url(&format!("/tasks/{id}/reopen")))
        .header("x-api-version", "1")
        .json(&json!({}))
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let response = client
        .post(served.url(&format!("/tasks/{id}/reopen")))
        .json(&json!({}))
        .send()
        .await
        .expect("a response");
    assert_ne!(response.status(), StatusCode::NOT_FOUND);

    // The login module's routes are nobody's version.
    let response = reqwest::Client::new()
        .post(served.url("/auth/login"))
        .header("x-api-version", "9")
        .json(&json!({"email": "nobody@example.com", "password": "wrong password 123"}))
        .send()
        .await
        .expect("a response");
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}
