//! RFC 9457 problem details: the one shape of every error response.
//!
//! Handlers, extractors and the framework's own layers all answer errors with a [`Problem`].
//! Its response carries the problem as a response extension too, so that the request-id layer
//! can fill in `request_id` and `instance` for every problem, wherever it was made.

use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

/// The media type of problem responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem.
///
/// The details live behind one box: handlers return `Result<T, Problem>` everywhere, and a
/// pointer-sized error keeps those results small. Fields are reached through `Deref`.
///
/// ```
/// use cmmv::problem::{FieldError, Problem};
///
/// let missing = Problem::not_found("task `7` does not exist");
/// assert_eq!(missing.status_code(), http::StatusCode::NOT_FOUND);
/// assert_eq!(missing.detail.as_deref(), Some("task `7` does not exist"));
///
/// // 422, one entry per failed rule, each at a JSON pointer into the request body.
/// let invalid = Problem::validation(vec![FieldError::at("/title", "min_length", "too short")]);
/// let body: serde_json::Value = serde_json::from_slice(&invalid.to_json()).unwrap();
/// assert_eq!(body["status"], 422);
/// assert_eq!(body["errors"][0]["pointer"], "/title");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Problem(Box<ProblemDetails>);

impl std::ops::Deref for Problem {
    type Target = ProblemDetails;

    fn deref(&self) -> &ProblemDetails {
        &self.0
    }
}

impl std::ops::DerefMut for Problem {
    fn deref_mut(&mut self) -> &mut ProblemDetails {
        &mut self.0
    }
}

impl From<ProblemDetails> for Problem {
    fn from(details: ProblemDetails) -> Self {
        Problem(Box::new(details))
    }
}

/// The members of a [`Problem`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProblemDetails {
    /// A URI reference naming the problem type; `about:blank` means "see `status`".
    #[serde(rename = "type", default = "about_blank")]
    pub type_uri: String,
    /// A short summary of the problem type (the status's reason phrase for `about:blank`).
    pub title: String,
    /// The HTTP status code of the response, repeated in the body.
    pub status: u16,
    /// What went wrong in this occurrence, for a human. Never internals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path the problem occurred on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request's correlation id, equal to the `x-request-id` response header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The W3C trace id of the request, when it is traced or the caller sent `traceparent`: to
    /// find the request's spans from a problem a client reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// One entry per failing field or parameter (validation problems).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// Headers the response must carry (`Allow`, `Retry-After`, `WWW-Authenticate`, ...).
    #[serde(skip)]
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

fn about_blank() -> String {
    "about:blank".to_owned()
}

/// One failing field (by JSON Pointer into the body) or parameter (by name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// A JSON Pointer (RFC 6901) into the request body, e.g. `/title` or `/tags/2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    /// The name of the failing path or query parameter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
    /// The rule that failed: `required`, `type`, `min_length`, `pattern`, `enum`, ...
    pub rule: String,
    /// What is wrong with the value, for a human (`must be at least 3`).
    pub message: String,
}

impl FieldError {
    /// A failure of the body field at `pointer`.
    pub fn at(
        pointer: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            pointer: Some(pointer.into()),
            parameter: None,
            rule: rule.into(),
            message: message.into(),
        }
    }

    /// A failure of the path or query parameter `name`.
    pub fn parameter(
        name: impl Into<String>,
        rule: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            pointer: None,
            parameter: Some(name.into()),
            rule: rule.into(),
            message: message.into(),
        }
    }
}

impl Problem {
    /// A problem of type `about:blank` with the status's reason phrase as title.
    pub fn new(status: StatusCode) -> Self {
        Problem::from(ProblemDetails {
            type_uri: about_blank(),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: None,
            instance: None,
            request_id: None,
            trace_id: None,
            errors: Vec::new(),
            headers: Vec::new(),
        })
    }

    /// Sets the `detail`: what went wrong this time, in words the client may see.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a header the response will carry (`Retry-After`, `Allow`, ...); it is not part of
    /// the JSON body.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    /// The status as an HTTP status code; 500 when `status` is not a valid code (as a
    /// hand-made or deserialized problem may hold).
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// 400: a malformed request (bad JSON, a path or query value of the wrong type).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST).with_detail(detail)
    }

    /// 401: missing or invalid credentials. `challenge` is the `WWW-Authenticate` value.
    pub fn unauthorized(detail: impl Into<String>, challenge: &str) -> Self {
        let problem = Self::new(StatusCode::UNAUTHORIZED).with_detail(detail);
        match HeaderValue::from_str(challenge) {
            Ok(value) => problem.with_header(header::WWW_AUTHENTICATE, value),
            Err(_) => problem,
        }
    }

    /// 403: valid credentials that are not enough.
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN).with_detail(detail)
    }

    /// 404: no such resource or route.
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND).with_detail(detail)
    }

    /// 405 with the `Allow` header listing the methods the path serves.
    pub fn method_not_allowed(allow: &str) -> Self {
        let problem = Self::new(StatusCode::METHOD_NOT_ALLOWED)
            .with_detail(format!("this path serves {allow}"));
        match HeaderValue::from_str(allow) {
            Ok(value) => problem.with_header(header::ALLOW, value),
            Err(_) => problem,
        }
    }

    /// 409: the request conflicts with the current state (a unique value taken, say).
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT).with_detail(detail)
    }

    /// 413: the body is larger than the configured limit.
    pub fn payload_too_large(limit_bytes: usize) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE).with_detail(format!(
            "the request body exceeds the limit of {limit_bytes} bytes"
        ))
    }

    /// 415: the body is not `application/json`.
    pub fn unsupported_media_type(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE).with_detail(detail)
    }

    /// 422: the body or parameters are well-formed but break the contract's constraints.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let count = errors.len();
        let mut problem = Self::new(StatusCode::UNPROCESSABLE_ENTITY).with_detail(if count == 1 {
            "1 field failed validation".to_owned()
        } else {
            format!("{count} fields failed validation")
        });
        problem.title = "Validation failed".to_owned();
        problem.errors = errors;
        problem
    }

    /// 429 with `Retry-After` in whole seconds, rounded up and at least 1.
    pub fn too_many_requests(retry_after_secs: u64) -> Self {
        let secs = retry_after_secs.max(1);
        Self::new(StatusCode::TOO_MANY_REQUESTS)
            .with_detail(format!("rate limit exceeded; retry in {secs} s"))
            .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
    }

    /// 500 with a fixed detail: what actually went wrong stays in the logs.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR).with_detail(
            "the server failed to handle the request; quote the request id when reporting it",
        )
    }

    /// 503: a dependency (storage, Redis) is unavailable or the server is shutting down.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE).with_detail(detail)
    }

    /// The request took longer than the configured limit. A 503 rather than 408: the server
    /// was slow, not the client, and clients retry a 503 with backoff.
    pub fn timeout() -> Self {
        Self::unavailable("the request took longer than the server's time limit")
    }

    /// The JSON body, as sent.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain strings and numbers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.title)?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let mut response = (
            status,
            [(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON))],
            self.to_json(),
        )
            .into_response();
        for (name, value) in &self.headers {
            response.headers_mut().append(name.clone(), value.clone());
        }
        // Kept so that outer layers can complete the body (request id, instance).
        response.extensions_mut().insert(self);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_rfc9457_members() {
        let mut problem = Problem::validation(vec![FieldError::at(
            "/title",
            "max_length",
            "at most 200 characters",
        )]);
        problem.request_id = Some("abc".to_owned());
        let json: serde_json::Value =
            serde_json::from_slice(&problem.to_json()).unwrap_or_default();
        assert_eq!(json["type"], "about:blank");
        assert_eq!(json["status"], 422);
        assert_eq!(json["request_id"], "abc");
        assert_eq!(json["errors"][0]["pointer"], "/title");
        assert!(json.get("instance").is_none());
    }

    #[test]
    fn retry_after_is_never_zero() {
        let problem = Problem::too_many_requests(0);
        let retry = problem
            .headers
            .iter()
            .find(|(n, _)| n == header::RETRY_AFTER);
        assert_eq!(
            retry.map(|(_, v)| v.to_str().unwrap_or_default()),
            Some("1")
        );
    }
}
