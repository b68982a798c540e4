//! Success responses of generated handlers, and [`Created`] for handlers of your own.

use axum::body::Body;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde::Serialize;

use crate::problem::Problem;

/// Header room of a success response: its own headers plus the security headers and the request
/// id the middleware adds on the way out, so that the map is allocated once at its final size
/// rather than grown on the way.
const RESPONSE_HEADERS: usize = 8;

/// The room a JSON body starts with (a task is about 400 bytes).
const BODY_CAPACITY: usize = 512;

/// A JSON body with the operation's success status.
pub fn json<T: Serialize>(status: u16, body: T) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    json_response(status, &body)
}

/// `201 Created`: the new resource as JSON, with a `Location` header naming it.
///
/// ```
/// # use axum::response::IntoResponse;
/// // A handler that creates the tag `rust & go` under `/v1/tags`:
/// let created = cmmv::Created::in_collection("/v1/tags", "rust & go", serde_json::json!({}));
/// let response = created.into_response();
/// assert_eq!(response.status(), 201);
/// assert_eq!(response.headers()["location"], "/v1/tags/rust%20%26%20go");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Created<T> {
    location: String,
    body: T,
}

/// What may not appear as such in one path segment: everything but the unreserved characters
/// of RFC 3986 (letters, digits, `-`, `.`, `_`, `~`), so that a key of any text (spaces,
/// slashes, non-ASCII) names exactly the resource the `GET` route decodes it to.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl<T> Created<T> {
    /// A resource created in the collection at path `collection` (the create request's path)
    /// under `key`: its location is the collection's path followed by the key as one
    /// percent-encoded segment.
    pub fn in_collection(collection: &str, key: impl std::fmt::Display, body: T) -> Self {
        let key = key.to_string();
        let encoded = percent_encoding::utf8_percent_encode(&key, SEGMENT);
        Self {
            location: format!("{}/{encoded}", collection.trim_end_matches('/')),
            body,
        }
    }

    /// A resource created at `location`, a URI reference given whole (already encoded).
    pub fn at(location: impl Into<String>, body: T) -> Self {
        Self {
            location: location.into(),
            body,
        }
    }

    /// The `Location` the response carries.
    pub fn location(&self) -> &str {
        &self.location
    }
}

impl<R: crate::Resource> Created<R> {
    /// A resource of a contract created in the collection at path `collection`, named by
    /// its own key: what the generated create handlers answer.
    pub fn resource(collection: &str, item: R) -> Self {
        let key = item.key().to_string();
        Self::in_collection(collection, key, item)
    }
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        let mut response = json_response(StatusCode::CREATED, &self.body);
        match HeaderValue::from_str(&self.location) {
            Ok(value) => {
                response.headers_mut().insert(header::LOCATION, value);
            }
            // Only a location given whole to `Created::at` can get here; the response is still
            // the created resource, so it is sent, and the mistake logged.
            Err(_) => {
                tracing::error!(
                    location = %self.location,
                    "a Location header is not a valid header value"
                );
            }
        }
        response
    }
}

/// `response` with `Cache-Control: no-store`: it carries credentials, which no cache may keep
/// (RFC 9111 §5.2.2.5; RFC 6749 §5.1 asks it of token answers).
pub fn no_store(mut response: Response) -> Response {
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// An answer without a body with the operation's `status` (`202 Accepted`, say); `204` is
/// [`no_content`].
pub fn empty(status: u16) -> Response {
    let mut response = no_content();
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::NO_CONTENT);
    response
}

/// `204 No Content`.
pub fn no_content() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    *response.headers_mut() = HeaderMap::with_capacity(RESPONSE_HEADERS);
    response
}

/// What `axum::Json` answers, with the header map sized up front.
fn json_response<T: Serialize>(status: StatusCode, body: &T) -> Response {
    // A `Vec` rather than a `BytesMut` writer: serde_json writes a body in many small pieces
    // (about 75 for a task), and `Vec`'s `Write` is an inlined copy where `BytesMut`'s goes
    // through `BufMut::put_slice` each time. The vector becomes the body without a copy. Room
    // for a resource of a few fields, so that a typical body is written without regrowing.
    let mut bytes = Vec::with_capacity(BODY_CAPACITY);
    if let Err(error) = serde_json::to_writer(&mut bytes, body) {
        // Only a broken `Serialize` impl (a map with non-string keys) gets here; what it
        // says is for the log, not the client.
        tracing::error!(%error, "a response body could not be serialized");
        return Problem::internal().into_response();
    }
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    *headers = HeaderMap::with_capacity(RESPONSE_HEADERS);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
