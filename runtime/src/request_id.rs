//! The request id: accepted from `x-request-id` when sane, generated otherwise, echoed on every
//! response and written into every problem body, so that a client's bug report and the server's
//! logs meet on one string.

use std::convert::Infallible;

use axum::body::Body;
use axum::extract::{FromRequestParts, Request};
use axum::response::Response;
use http::request::Parts;
use http::{HeaderName, HeaderValue, header};

use crate::problem::Problem;

/// The header carrying the request id, both ways.
pub static REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The longest incoming id kept: longer ones are replaced, since they bloat every log line.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The correlation id of one request. Handlers extract it like any other extractor.
///
/// Outside an [`App`](crate::App) (a bare router under test) there is no id in the request; the
/// extractor then makes a fresh one rather than failing a request over a missing log field.
// Held as the header value it is echoed in: an accepted id shares the request's bytes and a
// response header shares the id's, so neither is copied per request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// A new, time-ordered id (UUID v7), so ids sort by arrival in logs.
    pub fn generate() -> Self {
        // `Uuid::now_v7` orders ids through one context behind a process-wide mutex, which
        // every worker thread would contend for on every request. A context per thread keeps
        // each thread's ids ordered; across threads, ids of the same millisecond differ in
        // their random bits, so they stay unique and still sort by arrival to the millisecond.
        thread_local! {
            static CONTEXT: uuid::ContextV7 = const { uuid::ContextV7::new() };
        }
        let id = CONTEXT.with(|context| uuid::Uuid::new_v7(uuid::Timestamp::now(context)));
        let mut buffer = uuid::Uuid::encode_buffer();
        let text = id.hyphenated().encode_lower(&mut buffer);
        // A hyphenated UUID is visible ASCII, which every header value accepts.
        Self(HeaderValue::from_str(text).unwrap_or(HeaderValue::from_static("invalid")))
    }

    /// The incoming id if it is sane: 1 to 128 visible ASCII characters. Anything else (control
    /// characters, spaces, non-ASCII) could forge log lines or break headers, so it is replaced.
    pub fn accept(incoming: &[u8]) -> Option<Self> {
        if !is_sane(incoming) {
            return None;
        }
        HeaderValue::from_bytes(incoming).ok().map(Self)
    }

    /// [`Self::accept`] without copying the header value.
    fn accept_header(incoming: &HeaderValue) -> Option<Self> {
        is_sane(incoming.as_bytes()).then(|| Self(incoming.clone()))
    }

    /// The id as text, as it appears in the `x-request-id` header, problem bodies and logs.
    pub fn as_str(&self) -> &str {
        // Only visible ASCII is ever stored (see `is_sane` and `generate`), which `to_str`
        // accepts; the empty fallback is unreachable.
        self.0.to_str().unwrap_or_default()
    }
}

fn is_sane(id: &[u8]) -> bool {
    !id.is_empty() && id.len() <= MAX_REQUEST_ID_LEN && id.iter().all(u8::is_ascii_graphic)
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for RequestId {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(crate::layers::RequestScope::of(&parts.extensions)
            .map_or_else(Self::generate, |scope| scope.request_id.clone()))
    }
}

/// The id of a request: the sane incoming one, or a fresh one.
pub(crate) fn assign(request: &Request) -> RequestId {
    request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(RequestId::accept_header)
        .unwrap_or_else(RequestId::generate)
}

/// Completes a problem response with the correlation fields only the outermost layer knows
/// (the id, and the request path as `instance`), and echoes the id in `x-request-id`.
pub(crate) fn finish(
    response: &mut Response,
    id: &RequestId,
    trace_id: Option<opentelemetry::trace::TraceId>,
    path: &str,
    is_head: bool,
) {
    if let Some(problem) = response.extensions_mut().remove::<Problem>() {
        complete_problem(response, problem, id, trace_id, path, is_head);
    }
    response
        .headers_mut()
        .insert(REQUEST_ID_HEADER.clone(), id.0.clone());
}

/// Re-serializes a problem body with the correlation fields.
fn complete_problem(
    response: &mut Response,
    mut problem: Problem,
    id: &RequestId,
    trace_id: Option<opentelemetry::trace::TraceId>,
    path: &str,
    is_head: bool,
) {
    problem.request_id = Some(id.as_str().to_owned());
    problem.trace_id = trace_id.map(|id| id.to_string());
    // A handler that named a more specific instance (a resource URI) keeps it.
    problem.instance.get_or_insert_with(|| path.to_owned());
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
