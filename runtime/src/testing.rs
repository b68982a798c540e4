//! Helpers for a service's own tests: requests through the whole app — every layer, every
//! guard and limit — without a socket, and their answers as JSON.
//!
//! ```
//! # async fn test(app: cmmv::App) {
//! use cmmv::testing::TestClient;
//!
//! let client = TestClient::new(&app);
//! let created = client.post("/v1/items", serde_json::json!({"name": "First"})).await;
//! assert_eq!(created.status, 201);
//! let read = client.get(&format!("/v1/items/{}", created.body["id"].as_str().unwrap())).await;
//! assert_eq!(read.body["name"], "First");
//! # }
//! ```

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, HeaderValue, Method, Request, header};
use http_body_util::BodyExt as _;
use serde_json::Value;
use tower::ServiceExt as _;

use crate::App;

/// Sends requests to an app in process, with the headers given once for all of them (a
/// bearer token, say).
#[derive(Debug, Clone)]
pub struct TestClient {
    router: Router,
    headers: HeaderMap,
}

/// An answer: its status, headers and body (JSON when it parses, else `Null`).
#[derive(Debug, Clone)]
pub struct TestResponse {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body as JSON; `Value::Null` when empty or not JSON.
    pub body: Value,
}

impl TestClient {
    /// A client of `app`, through its whole middleware stack.
    pub fn new(app: &App) -> Self {
        Self {
            router: app.router(),
            headers: HeaderMap::new(),
        }
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    #[must_use]
    pub fn bearer(mut self, token: &str) -> Self {
        if let Ok(value) = HeaderValue::from_str(&format!("Bearer {token}")) {
            self.headers.insert(header::AUTHORIZATION, value);
        }
        self
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> TestResponse {
        self.send(Method::GET, path, None).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> TestResponse {
        self.send(Method::POST, path, Some(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> TestResponse {
        self.send(Method::PATCH, path, Some(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> TestResponse {
        self.send(Method::DELETE, path, None).await
    }

    /// Any request; `body`, when given, is sent as JSON.
    pub async fn send(&self, method: Method, path: &str, body: Option<Value>) -> TestResponse {
        let mut request = Request::builder().method(method).uri(path);
        for (name, value) in &self.headers {
            request = request.header(name, value);
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        };
        let Ok(request) = request else {
            return TestResponse {
                status: 0,
                headers: HeaderMap::new(),
                body: Value::Null,
            };
        };
        // The app's router never fails: every error is an answer.
        let response = match self.router.clone().oneshot(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .map(|collected| collected.to_bytes())
            .unwrap_or_default();
        TestResponse {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }
}
