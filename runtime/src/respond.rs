//! Success responses of generated handlers.

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

/// `201 Created` with a `Location` header naming the new resource.
pub fn created<T: Serialize>(location: &str, body: T) -> Response {
    let mut response = json_response(StatusCode::CREATED, &body);
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
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
