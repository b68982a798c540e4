//! The request id: accepted from `x-request-id` when sane, generated otherwise, echoed on every
//! response and written into every problem body, so that a client's bug report and the server's
//! logs meet on one string.

use std::convert::Infallible;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::middleware::Next;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderName, HeaderValue, Method, header};

use crate::problem::Problem;

/// The header carrying the request id, both ways.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming id kept: longer ones are replaced, since they bloat every log line.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The correlation id of one request. Handlers extract it like any other extractor.
///
/// Outside an [`App`](crate::App) (a bare router under test) there is no id in the request; the
/// extractor then makes a fresh one rather than failing a request over a missing log field.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(Arc<str>);

impl RequestId {
    /// A new, time-ordered id (UUID v7), so ids sort by arrival in logs.
    pub fn generate() -> Self {
        Self(uuid::Uuid::now_v7().to_string().into())
    }

    /// The incoming id if it is sane: 1 to 128 visible ASCII characters. Anything else (control
    /// characters, spaces, non-ASCII) could forge log lines or break headers, so it is replaced.
    pub fn accept(incoming: &[u8]) -> Option<Self> {
        let sane = !incoming.is_empty()
            && incoming.len() <= MAX_REQUEST_ID_LEN
            && incoming.iter().all(|b| b.is_ascii_graphic());
        // `is_ascii_graphic` bytes are valid UTF-8, so the conversion cannot fail.
        sane.then(|| std::str::from_utf8(incoming).ok().map(|s| Self(s.into())))
            .flatten()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn header_value(&self) -> Option<HeaderValue> {
        HeaderValue::from_str(&self.0).ok()
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(parts
            .extensions
            .get::<Self>()
            .cloned()
            .unwrap_or_else(Self::generate))
    }
}

/// The outermost middleware: assigns the id, then completes every problem response with it and
/// with the request path as `instance`, and echoes the id in `x-request-id`.
pub(crate) async fn middleware(mut request: Request, next: Next) -> Response {
    let id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| RequestId::accept(value.as_bytes()))
        .unwrap_or_else(RequestId::generate);
    request.extensions_mut().insert(id.clone());
    let path = request.uri().path().to_owned();
    let is_head = request.method() == Method::HEAD;

    let mut response = next.run(request).await;
    if let Some(problem) = response.extensions_mut().remove::<Problem>() {
        complete_problem(&mut response, problem, &id, path, is_head);
    }
    if let Some(value) = id.header_value() {
        response
            .headers_mut()
            .insert(REQUEST_ID_HEADER.clone(), value);
    }
    response
}

/// Re-serializes a problem body with the correlation fields only this layer knows.
fn complete_problem(
    response: &mut Response,
    mut problem: Problem,
    id: &RequestId,
    path: String,
    is_head: bool,
) {
    problem.request_id = Some(id.as_str().to_owned());
    // A handler that named a more specific instance (a resource URI) keeps it.
    problem.instance.get_or_insert(path);
    // A HEAD response has no body; its headers are all that is sent.
    if !is_head {
        *response.body_mut() = Body::from(problem.to_json());
        // The old length no longer holds; hyper derives the new one from the body.
        response.headers_mut().remove(header::CONTENT_LENGTH);
    }
    response.extensions_mut().insert(problem);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_sane_ids() {
        assert_eq!(
            RequestId::accept(b"abc-123_X.y").map(|id| id.to_string()),
            Some("abc-123_X.y".to_owned())
        );
        assert!(RequestId::accept(b"").is_none());
        assert!(RequestId::accept(b"has space").is_none());
        assert!(RequestId::accept(b"line\nbreak").is_none());
        assert!(RequestId::accept("caf\u{e9}".as_bytes()).is_none());
        assert!(RequestId::accept(&[b'a'; MAX_REQUEST_ID_LEN]).is_some());
        assert!(RequestId::accept(&[b'a'; MAX_REQUEST_ID_LEN + 1]).is_none());
    }

    #[test]
    fn generated_ids_are_uuid_v7() {
        let id = RequestId::generate();
        let parsed = uuid::Uuid::parse_str(id.as_str()).expect("a UUID");
        assert_eq!(parsed.get_version_num(), 7);
    }
}
