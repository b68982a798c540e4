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

/// The success of an operation declared `response: redirect`: the operation's 3xx status with
/// a `Location`, no body, and the cookies the contract says it sets (`cookies: {name: {set:
/// true}}`).
///
/// ```
/// let redirect = cmmv::Redirect::to("https://app.example/signed-in?code=abc")
///     .with_cookie(cmmv::SetCookie::new("flow", "x1").path("/auth").max_age(600));
/// assert_eq!(redirect.location(), "https://app.example/signed-in?code=abc");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Redirect {
    location: String,
    cookies: Vec<SetCookie>,
}

/// Without the query: a redirect's location may carry a one-time code.
impl std::fmt::Debug for Redirect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let location = self.location.split('?').next().unwrap_or_default();
        f.debug_struct("Redirect")
            .field("location", &location)
            .field("cookies", &self.cookies)
            .finish()
    }
}

/// Without the value: a cookie may be a secret.
impl std::fmt::Debug for SetCookie {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetCookie")
            .field("name", &self.name)
            .field("path", &self.path)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl Redirect {
    /// A redirect to `location`: an absolute URL, or a reference relative to the request's.
    pub fn to(location: impl Into<String>) -> Self {
        Redirect {
            location: location.into(),
            cookies: Vec::new(),
        }
    }

    /// Sets `cookie` in the browser as well.
    pub fn with_cookie(mut self, cookie: SetCookie) -> Self {
        self.cookies.push(cookie);
        self
    }

    /// Where the client is sent.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The cookies the answer sets.
    pub fn cookies(&self) -> &[SetCookie] {
        &self.cookies
    }
}

/// A `Set-Cookie` a [`Redirect`] carries: always `HttpOnly`, `Secure` and `SameSite=Lax`
/// (browsers keep `Secure` cookies from `http://localhost` too), so that scripts never read it
/// and other sites' requests never carry it, except a top-level navigation back to us, which
/// is what a sign-in redirect is.
#[derive(Clone, PartialEq, Eq)]
pub struct SetCookie {
    name: String,
    value: String,
    path: String,
    max_age: i64,
}

impl SetCookie {
    /// `name=value` on path `/`, until the browser closes. The value must be a cookie-octet
    /// string (RFC 6265 §4.1.1: printable ASCII without spaces, quotes, commas, semicolons or
    /// backslashes), as base64url is; a redirect carrying another is answered as a 500.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        SetCookie {
            name: name.into(),
            value: value.into(),
            path: "/".to_owned(),
            max_age: -1,
        }
    }

    /// The cookie that removes `name` from the browser.
    pub fn removal(name: impl Into<String>) -> Self {
        SetCookie::new(name, "").max_age(0)
    }

    /// Sent only with requests under `path`.
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = path.into();
        self
    }

    /// Kept for `seconds`; 0 removes it.
    pub fn max_age(mut self, seconds: i64) -> Self {
        self.max_age = seconds;
        self
    }

    /// The cookie's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The cookie's value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The `Set-Cookie` header value; `None` when the name or value is not one a header can
    /// carry.
    fn header(&self) -> Option<HeaderValue> {
        let octet = |c: char| c.is_ascii_graphic() && !matches!(c, '"' | ',' | ';' | '\\');
        let token = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        if self.name.is_empty()
            || !self.name.chars().all(token)
            || !self.value.chars().all(octet)
            || !self.path.chars().all(octet)
        {
            return None;
        }
        let mut text = format!("{}={}; Path={}", self.name, self.value, self.path);
        if self.max_age >= 0 {
            text.push_str(&format!("; Max-Age={}", self.max_age));
        }
        text.push_str("; HttpOnly; Secure; SameSite=Lax");
        HeaderValue::from_str(&text).ok()
    }
}

/// A redirect with the operation's status. A location or cookie no header can carry is the
/// server's bug: a 500 problem, never a redirect somewhere else.
pub fn redirect(status: u16, redirect: Redirect) -> Response {
    let status = StatusCode::from_u16(status)
        .ok()
        .filter(StatusCode::is_redirection)
        .unwrap_or(StatusCode::FOUND);
    let mut response = no_content();
    *response.status_mut() = status;
    let headers = response.headers_mut();
    match HeaderValue::try_from(redirect.location) {
        Ok(location) => {
            headers.insert(header::LOCATION, location);
        }
        Err(_) => return Problem::internal().into_response(),
    }
    for cookie in &redirect.cookies {
        match cookie.header() {
            Some(value) => {
                headers.append(header::SET_COOKIE, value);
            }
            None => return Problem::internal().into_response(),
        }
    }
    response
}
