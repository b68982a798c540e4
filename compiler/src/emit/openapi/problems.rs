//! What every document shares: the RFC 9457 problem schemas, the error responses the runtime
//! produces, the response headers it sets, and the security schemes it accepts.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use serde_json::json;

use super::model::{
    Header, JsonType, MediaType, Properties, RefOr, Response, Schema, SecurityScheme, number,
};

pub(super) const PROBLEM: &str = "Problem";
pub(super) const FIELD_ERROR: &str = "FieldError";

pub(super) const JSON: &str = "application/json";
const PROBLEM_JSON: &str = "application/problem+json";

const HEADER_REFS: &str = "#/components/headers/";
const RESPONSE_REFS: &str = "#/components/responses/";

/// The request id of every example, so that examples agree with each other.
const EXAMPLE_REQUEST_ID: &str = "0b6f2c1e-3b7a-4f0e-9a51-6d2c8e4f7a90";

/// A response header: its name on the wire and its component name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResponseHeader {
    RequestId,
    RateLimit,
    RateLimitPolicy,
    RetryAfter,
    WwwAuthenticate,
}

impl ResponseHeader {
    const ALL: [ResponseHeader; 5] = [
        ResponseHeader::RequestId,
        ResponseHeader::RateLimit,
        ResponseHeader::RateLimitPolicy,
        ResponseHeader::RetryAfter,
        ResponseHeader::WwwAuthenticate,
    ];

    fn wire_name(self) -> &'static str {
        match self {
            ResponseHeader::RequestId => "x-request-id",
            ResponseHeader::RateLimit => "RateLimit",
            ResponseHeader::RateLimitPolicy => "RateLimit-Policy",
            ResponseHeader::RetryAfter => "Retry-After",
            ResponseHeader::WwwAuthenticate => "WWW-Authenticate",
        }
    }

    fn component_name(self) -> &'static str {
        &self.reference()[HEADER_REFS.len()..]
    }

    /// `#/components/headers/<component name>`, spelled out so that operations refer to it
    /// without formatting it anew each time.
    fn reference(self) -> &'static str {
        match self {
            ResponseHeader::RequestId => "#/components/headers/RequestId",
            ResponseHeader::RateLimit => "#/components/headers/RateLimit",
            ResponseHeader::RateLimitPolicy => "#/components/headers/RateLimit-Policy",
            ResponseHeader::RetryAfter => "#/components/headers/Retry-After",
            ResponseHeader::WwwAuthenticate => "#/components/headers/WWW-Authenticate",
        }
    }

    fn definition(self) -> Header {
        let (description, schema, example) = match self {
            ResponseHeader::RequestId => (
                "The request's correlation id: the one the client sent in `x-request-id`, or one the server generated. Problem bodies repeat it as `request_id`.",
                Schema::of_type(JsonType::String),
                json!(EXAMPLE_REQUEST_ID),
            ),
            ResponseHeader::RateLimit => (
                "The quota left under the policy closest to its limit (IETF draft `RateLimit` field): `r` requests remain, the window resets in `t` seconds.",
                Schema::of_type(JsonType::String),
                json!("\"default\";r=41;t=18"),
            ),
            ResponseHeader::RateLimitPolicy => (
                "The rate-limit policies that apply (IETF draft `RateLimit-Policy` field): `q` requests per window of `w` seconds.",
                Schema::of_type(JsonType::String),
                json!("\"default\";q=100;w=60"),
            ),
            ResponseHeader::RetryAfter => (
                "Seconds to wait before retrying, rounded up.",
                Schema {
                    minimum: number(1.0),
                    ..Schema::of_type(JsonType::Integer)
                },
                json!(18),
            ),
            ResponseHeader::WwwAuthenticate => (
                "The authentication scheme to use, and why the credentials were refused.",
                Schema::of_type(JsonType::String),
                json!(
                    "Bearer error=\"invalid_token\", error_description=\"the token has expired\""
                ),
            ),
        };
        Header {
            description: description.to_owned(),
            required: false,
            schema: Box::new(schema),
            example: Some(example),
        }
    }
}

/// `headers` of a response, each a reference to its component.
pub(super) fn header_refs(headers: &[ResponseHeader]) -> BTreeMap<&'static str, RefOr<Header>> {
    headers
        .iter()
        .map(|h| {
            let reference = Cow::Borrowed(h.reference());
            (
                h.wire_name(),
                RefOr::Ref {
                    reference,
                    description: None,
                },
            )
        })
        .collect()
}

/// Every header definition, for `components.headers`.
pub(super) fn header_components() -> BTreeMap<&'static str, Header> {
    ResponseHeader::ALL
        .into_iter()
        .map(|h| (h.component_name(), h.definition()))
        .collect()
}

/// An error response the runtime produces, as a reusable component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum ErrorResponse {
    BadRequest,
    Unauthorized,
    Forbidden,
    NotFound,
    NotAcceptable,
    Conflict,
    Gone,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    TooManyRequests,
    InternalError,
    BadGateway,
    ServiceUnavailable,
    GatewayTimeout,
}

impl ErrorResponse {
    const ALL: [ErrorResponse; 15] = [
        ErrorResponse::BadRequest,
        ErrorResponse::Unauthorized,
        ErrorResponse::Forbidden,
        ErrorResponse::NotFound,
        ErrorResponse::NotAcceptable,
        ErrorResponse::Conflict,
        ErrorResponse::Gone,
        ErrorResponse::PayloadTooLarge,
        ErrorResponse::UnsupportedMediaType,
        ErrorResponse::ValidationFailed,
        ErrorResponse::TooManyRequests,
        ErrorResponse::InternalError,
        ErrorResponse::BadGateway,
        ErrorResponse::ServiceUnavailable,
        ErrorResponse::GatewayTimeout,
    ];

    pub(super) fn status(self) -> u16 {
        match self {
            ErrorResponse::BadRequest => 400,
            ErrorResponse::Unauthorized => 401,
            ErrorResponse::Forbidden => 403,
            ErrorResponse::NotFound => 404,
            ErrorResponse::NotAcceptable => 406,
            ErrorResponse::Conflict => 409,
            ErrorResponse::Gone => 410,
            ErrorResponse::PayloadTooLarge => 413,
            ErrorResponse::UnsupportedMediaType => 415,
            ErrorResponse::ValidationFailed => 422,
            ErrorResponse::TooManyRequests => 429,
            ErrorResponse::InternalError => 500,
            ErrorResponse::BadGateway => 502,
            ErrorResponse::ServiceUnavailable => 503,
            ErrorResponse::GatewayTimeout => 504,
        }
    }

    /// The status code as the key of an operation's `responses`.
    pub(super) fn status_key(self) -> &'static str {
        match self {
            ErrorResponse::BadRequest => "400",
            ErrorResponse::Unauthorized => "401",
            ErrorResponse::Forbidden => "403",
            ErrorResponse::NotFound => "404",
            ErrorResponse::NotAcceptable => "406",
            ErrorResponse::Conflict => "409",
            ErrorResponse::Gone => "410",
            ErrorResponse::PayloadTooLarge => "413",
            ErrorResponse::UnsupportedMediaType => "415",
            ErrorResponse::ValidationFailed => "422",
            ErrorResponse::TooManyRequests => "429",
            ErrorResponse::InternalError => "500",
            ErrorResponse::BadGateway => "502",
            ErrorResponse::ServiceUnavailable => "503",
            ErrorResponse::GatewayTimeout => "504",
        }
    }

    fn component_name(self) -> &'static str {
        &self.reference_path()[RESPONSE_REFS.len()..]
    }

    /// `#/components/responses/<component name>`, spelled out so that every operation refers
    /// to it without formatting it anew.
    fn reference_path(self) -> &'static str {
        match self {
            ErrorResponse::BadRequest => "#/components/responses/BadRequest",
            ErrorResponse::Unauthorized => "#/components/responses/Unauthorized",
            ErrorResponse::Forbidden => "#/components/responses/Forbidden",
            ErrorResponse::NotFound => "#/components/responses/NotFound",
            ErrorResponse::NotAcceptable => "#/components/responses/NotAcceptable",
            ErrorResponse::Conflict => "#/components/responses/Conflict",
            ErrorResponse::Gone => "#/components/responses/Gone",
            ErrorResponse::PayloadTooLarge => "#/components/responses/PayloadTooLarge",
            ErrorResponse::UnsupportedMediaType => "#/components/responses/UnsupportedMediaType",
            ErrorResponse::ValidationFailed => "#/components/responses/ValidationFailed",
            ErrorResponse::TooManyRequests => "#/components/responses/TooManyRequests",
            ErrorResponse::InternalError => "#/components/responses/InternalError",
            ErrorResponse::BadGateway => "#/components/responses/BadGateway",
            ErrorResponse::ServiceUnavailable => "#/components/responses/ServiceUnavailable",
            ErrorResponse::GatewayTimeout => "#/components/responses/GatewayTimeout",
        }
    }

    /// The reference an operation's `responses` uses.
    pub(super) fn reference(self) -> RefOr<Response> {
        RefOr::Ref {
            reference: Cow::Borrowed(self.reference_path()),
            description: None,
        }
    }

    /// The response of `status`, when it is a problem the runtime answers with.
    pub(super) fn from_status(status: u16) -> Option<ErrorResponse> {
        ErrorResponse::ALL
            .into_iter()
            .find(|e| e.status() == status)
    }

    /// The standard reason phrase, which RFC 9457 asks `title` to be for `about:blank`.
    fn title(self) -> &'static str {
        match self {
            ErrorResponse::BadRequest => "Bad Request",
            ErrorResponse::Unauthorized => "Unauthorized",
            ErrorResponse::Forbidden => "Forbidden",
            ErrorResponse::NotFound => "Not Found",
            ErrorResponse::NotAcceptable => "Not Acceptable",
            ErrorResponse::Conflict => "Conflict",
            ErrorResponse::Gone => "Gone",
            ErrorResponse::PayloadTooLarge => "Content Too Large",
            ErrorResponse::UnsupportedMediaType => "Unsupported Media Type",
            ErrorResponse::ValidationFailed => "Unprocessable Content",
            ErrorResponse::TooManyRequests => "Too Many Requests",
            ErrorResponse::InternalError => "Internal Server Error",
            ErrorResponse::BadGateway => "Bad Gateway",
            ErrorResponse::ServiceUnavailable => "Service Unavailable",
            ErrorResponse::GatewayTimeout => "Gateway Timeout",
        }
    }

    /// When the response happens, and an example `detail`.
    fn texts(self) -> (&'static str, &'static str) {
        match self {
            ErrorResponse::BadRequest => (
                "The request is malformed: a path or query value does not parse, a filter or sort field is unknown, or the body is not valid JSON.",
                "query parameter `limit`: invalid digit found in string",
            ),
            ErrorResponse::Unauthorized => (
                "Credentials are missing, malformed, expired or otherwise invalid.",
                "the bearer token has expired",
            ),
            ErrorResponse::Forbidden => (
                "The credentials are valid but lack a role the operation requires.",
                "this operation requires the role `admin`",
            ),
            ErrorResponse::NotFound => (
                "No resource exists at this path.",
                "no resource with this id exists",
            ),
            ErrorResponse::Conflict => (
                "The change conflicts with the stored data, e.g. a value that must be unique is taken.",
                "a resource with this `email` already exists",
            ),
            ErrorResponse::NotAcceptable => (
                "`Accept` asks for an API version (`application/vnd.<api>.v<N>+json`) this server does not serve; `errors` names the versions it does.",
                "`application/vnd.todo.v9+json` names no API version served here; the versions served are 1, 2",
            ),
            ErrorResponse::Gone => (
                "The operation is past its sunset date and no longer served; the `Link` header names what replaces it.",
                "`GET /v1/tasks` was sunset on Fri, 01 Jan 2027 00:00:00 GMT",
            ),
            ErrorResponse::PayloadTooLarge => (
                "The request body is larger than the server accepts.",
                "the request body exceeds the limit of 1048576 bytes",
            ),
            ErrorResponse::UnsupportedMediaType => (
                "The request body is not `application/json`.",
                "expected a request body of type `application/json`",
            ),
            ErrorResponse::ValidationFailed => (
                "The request is well-formed but breaks the contract's rules, or a reference field names a resource that does not exist; `errors` lists every failing field and parameter.",
                "the request has 2 invalid values",
            ),
            ErrorResponse::TooManyRequests => (
                "A rate limit was exceeded; retry after `Retry-After` seconds.",
                "rate limit exceeded, retry in 18 seconds",
            ),
            ErrorResponse::InternalError => (
                "The server failed unexpectedly; the request id identifies the failure in the server's logs.",
                "an internal error occurred",
            ),
            ErrorResponse::BadGateway => (
                "A service this one called on the client's behalf (an identity provider, say) answered with an error or with something it cannot read.",
                "the identity provider's token endpoint answered with an error",
            ),
            ErrorResponse::GatewayTimeout => (
                "A service this one called on the client's behalf (an identity provider, say) did not answer in time.",
                "the identity provider did not answer in time",
            ),
            ErrorResponse::ServiceUnavailable => (
                "A dependency such as the database is unavailable, or the server is shutting down.",
                "the storage backend is unavailable",
            ),
        }
    }

    fn headers(self) -> &'static [ResponseHeader] {
        match self {
            ErrorResponse::Unauthorized => {
                &[ResponseHeader::RequestId, ResponseHeader::WwwAuthenticate]
            }
            ErrorResponse::TooManyRequests => &[
                ResponseHeader::RequestId,
                ResponseHeader::RateLimit,
                ResponseHeader::RateLimitPolicy,
                ResponseHeader::RetryAfter,
            ],
            ErrorResponse::ServiceUnavailable => {
                &[ResponseHeader::RequestId, ResponseHeader::RetryAfter]
            }
            _ => &[ResponseHeader::RequestId],
        }
    }

    fn example(self) -> serde_json::Value {
        let (_, detail) = self.texts();
        let mut example = json!({
            "type": "about:blank",
            "title": self.title(),
            "status": self.status(),
            "detail": detail,
            "request_id": EXAMPLE_REQUEST_ID,
        });
        if self == ErrorResponse::ValidationFailed {
            example["errors"] = json!([
                {"pointer": "/title", "rule": "max_length", "message": "must be at most 200 characters long"},
                {"parameter": "limit", "rule": "maximum", "message": "must be at most 100"},
            ]);
        }
        example
    }

    fn definition(self) -> Response {
        let (description, _) = self.texts();
        let media = MediaType {
            schema: Box::new(Schema::reference(PROBLEM)),
            example: Some(self.example()),
        };
        Response {
            description: description.to_owned(),
            headers: header_refs(self.headers()),
            content: BTreeMap::from([(Cow::Borrowed(PROBLEM_JSON), media)]),
            links: BTreeMap::new(),
        }
    }
}

/// The error responses a document's operations refer to (by `$ref`), for
/// `components.responses`: a document holds no component nothing uses.
pub(super) fn response_components(references: &BTreeSet<&str>) -> BTreeMap<&'static str, Response> {
    ErrorResponse::ALL
        .into_iter()
        .filter(|e| references.contains(e.reference_path()))
        .map(|e| (e.component_name(), e.definition()))
        .collect()
}

/// The RFC 9457 problem document of every error response.
pub(super) fn problem_schema() -> Schema {
    let properties = vec![
        (
            "type",
            Schema {
                format: Some("uri-reference"),
                default: Some(Box::new(json!("about:blank"))),
                ..string(
                    "A URI reference that identifies the problem type; `about:blank` when the HTTP status says it all.",
                )
            },
        ),
        ("title", string("A short summary of the problem type.")),
        (
            "status",
            Schema {
                description: Some("The HTTP status code of the response.".to_owned()),
                minimum: number(100.0),
                maximum: number(599.0),
                ..Schema::of_type(JsonType::Integer)
            },
        ),
        (
            "detail",
            string("What went wrong with this request, for humans."),
        ),
        (
            "instance",
            Schema {
                format: Some("uri-reference"),
                ..string("A URI reference that identifies this occurrence of the problem.")
            },
        ),
        (
            "request_id",
            string("The request's correlation id; equals the `x-request-id` response header."),
        ),
        (
            "trace_id",
            Schema {
                pattern: Some("^[0-9a-f]{32}$".to_owned()),
                ..string(
                    "The W3C trace id of the request, when it is traced or the caller sent `traceparent`: the key to its spans.",
                )
            },
        ),
        (
            "errors",
            Schema {
                description: Some(
                    "Every failing field and parameter; only on 422 responses.".to_owned(),
                ),
                items: Some(Box::new(Schema::reference(FIELD_ERROR))),
                ..Schema::of_type(JsonType::Array)
            },
        ),
    ];
    Schema {
        description: Some(
            "An RFC 9457 problem document, the body of every error response.".to_owned(),
        ),
        properties: named(properties),
        required: strings(&["type", "title", "status", "request_id"]),
        ..Schema::of_type(JsonType::Object)
    }
}

/// One failing value of a 422 response.
pub(super) fn field_error_schema() -> Schema {
    let properties = vec![
        (
            "pointer",
            string(
                "For a body value: a JSON Pointer (RFC 6901) into the request body, e.g. `/title` or `/tags/2`. Absent for parameters.",
            ),
        ),
        (
            "parameter",
            string(
                "For a path or query parameter: its name, e.g. `limit`. Absent for body values.",
            ),
        ),
        (
            "rule",
            string(
                "The rule that failed: `required`, `type`, `null` (null for a field that is not nullable), `format`, `pattern`, `enum`, `min_length`, `max_length`, `minimum`, `maximum`, `exclusive_minimum`, `exclusive_maximum`, `multiple_of`, `min_items`, `max_items`, `unique_items`, `unknown_field`, `unknown_parameter`, `key` (a body's key differs from the path's), `reference` (a reference names a resource that does not exist) or `cursor` (a list cursor this server did not sign).",
            ),
        ),
        (
            "message",
            string("What is wrong with the value, for humans."),
        ),
    ];
    Schema {
        description: Some("One value that failed validation. Exactly one of `pointer` and `parameter` says where it is.".to_owned()),
        properties: named(properties),
        required: strings(&["rule", "message"]),
        ..Schema::of_type(JsonType::Object)
    }
}

/// A string property with its description.
fn string(description: &str) -> Schema {
    Schema {
        description: Some(description.to_owned()),
        ..Schema::of_type(JsonType::String)
    }
}

fn named(properties: Vec<(&str, Schema)>) -> Properties {
    Properties(
        properties
            .into_iter()
            .map(|(name, schema)| (name.to_owned(), schema))
            .collect(),
    )
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|&n| n.to_owned()).collect()
}

/// The two ways to authenticate: a JWT bearer token, or an API key.
pub(super) const BEARER_AUTH: &str = "bearerAuth";
pub(super) const API_KEY_AUTH: &str = "apiKeyAuth";

pub(super) fn security_schemes() -> BTreeMap<&'static str, SecurityScheme> {
    BTreeMap::from([
        (
            BEARER_AUTH,
            SecurityScheme::Http {
                description: "A JWT access token: `Authorization: Bearer <token>`.",
                scheme: "bearer",
                bearer_format: "JWT",
            },
        ),
        (
            API_KEY_AUTH,
            SecurityScheme::ApiKey {
                description: "An API key issued to the client.",
                location: "header",
                name: "X-API-Key",
            },
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The spelled-out keys and references say what the codes and component names say.
    #[test]
    fn keys_and_references_agree_with_the_components() {
        for error in ErrorResponse::ALL {
            assert_eq!(error.status_key(), error.status().to_string());
            assert_eq!(
                error.reference_path(),
                format!("{RESPONSE_REFS}{}", error.component_name())
            );
            assert!(error.component_name().chars().all(char::is_alphanumeric));
        }
        let names: Vec<&str> = ResponseHeader::ALL
            .into_iter()
            .map(ResponseHeader::component_name)
            .collect();
        assert_eq!(
            names,
            [
                "RequestId",
                "RateLimit",
                "RateLimit-Policy",
                "Retry-After",
                "WWW-Authenticate"
            ]
        );
    }
}
