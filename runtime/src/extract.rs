//! Extractors generated handlers use. Each rejects with a [`Problem`]: a body that is not JSON
//! is a 415, malformed JSON a 400 with its line and column, a body that breaks the contract a
//! 422 listing every failing field; a path or query value that does not parse is a 400. The
//! list operation's parameters are read by [`crate::list::ListParams`].

use std::str::FromStr;

use axum::extract::{FromRequest, FromRequestParts, Request};
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::request::Parts;
use serde_json::Value;

use crate::problem::{FieldError, Problem};
use crate::request_id::RequestId;
use crate::resource::Key;
use crate::validate::{At, Check, Errors, FromJson, Rules, decode_body};

/// What a handler knows about the request besides its input.
#[derive(Debug, Clone)]
pub struct Context {
    /// The request's correlation id, the one in the `x-request-id` response header and in problem
    /// bodies.
    pub request_id: RequestId,
    /// Who is calling, when the request's credentials proved it (always on operations that
    /// are not public; on public ones only when valid credentials were sent).
    pub principal: Option<std::sync::Arc<crate::auth::Principal>>,
    /// Where the request came from: the client's address (trusted proxies considered; `None`
    /// for a router served without the app) and its `User-Agent`.
    pub client: crate::auth::SessionClient,
}

impl<S: Send + Sync> FromRequestParts<S> for Context {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let request_id = match RequestId::from_request_parts(parts, state).await {
            Ok(id) => id,
            Err(never) => match never {},
        };
        let ip = crate::layers::RequestScope::of(&parts.extensions)
            .map(|scope| scope.client_ip(parts).to_string());
        let user_agent = parts
            .headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect());
        Ok(Context {
            request_id,
            principal: crate::auth::resolved(parts),
            client: crate::auth::SessionClient { ip, user_agent },
        })
    }
}

/// A JSON body decoded and checked against the contract.
#[derive(Debug, Clone)]
pub struct JsonBody<T>(pub T);

impl<T, S> FromRequest<S> for JsonBody<T>
where
    T: FromJson + Check + Send,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(mut request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // A protobuf body, already decoded into the JSON it stands for.
        if let Some(crate::protobuf::DecodedJson(mut value)) = request
            .extensions_mut()
            .remove::<crate::protobuf::DecodedJson>(
        ) {
            return decode_body(&mut value).map(JsonBody);
        }
        // A protobuf body, which the route's negotiation recognized: its message decodes into
        // the JSON value it stands for.
        let protobuf = request
            .extensions_mut()
            .remove::<crate::protobuf::ProtobufBody>();
        let content_type = request
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        if protobuf.is_none() && !is_json(content_type) {
            return Err(Problem::unsupported_media_type(
                if content_type.is_empty() {
                    "the request has no Content-Type; send `Content-Type: application/json`"
                        .to_owned()
                } else {
                    format!("expected `application/json`, found `{content_type}`")
                },
            ));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
                    Problem::new(http::StatusCode::PAYLOAD_TOO_LARGE)
                        .with_detail("the request body is larger than the server accepts")
                } else {
                    Problem::bad_request(format!("the request body could not be read: {rejection}"))
                }
            })?;
        if let Some(body) = protobuf {
            let mut value = body.wire.decode(&body.desc, bytes)?;
            return decode_body(&mut value).map(JsonBody);
        }
        let mut value: Value = serde_json::from_slice(&bytes).map_err(|error| {
            Problem::bad_request(format!(
                "malformed JSON at line {}, column {}: {}",
                error.line(),
                error.column(),
                json_error_summary(&error)
            ))
        })?;
        decode_body(&mut value).map(JsonBody)
    }
}

pub(crate) fn is_json(content_type: &str) -> bool {
    // Compared in place, ignoring case: this runs on every body, and lowercasing would copy.
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .as_bytes();
    let suffixed = essence.len() >= "application/+json".len()
        && essence
            .get(..12)
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(b"application/"))
        && essence
            .len()
            .checked_sub(5)
            .and_then(|i| essence.get(i..))
            .is_some_and(|suffix| suffix.eq_ignore_ascii_case(b"+json"));
    essence.eq_ignore_ascii_case(b"application/json") || suffixed
}

/// serde_json's message without its trailing " at line L column C", which the problem states
/// on its own.
fn json_error_summary(error: &serde_json::Error) -> String {
    let text = error.to_string();
    match text.rfind(" at line ") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// Parses one path parameter; a value of the wrong shape is a 400 naming the parameter.
pub fn path_param<T: FromStr>(raw: &str, name: &str, expected: &str) -> Result<T, Problem> {
    raw.parse().map_err(|_| {
        let mut problem = Problem::bad_request(format!(
            "path parameter `{name}` must be {expected}, found `{raw}`"
        ));
        problem.errors = vec![FieldError::parameter(
            name,
            "type",
            format!("must be {expected}"),
        )];
        problem
    })
}

/// Parses the primary key from the path.
#[doc(hidden)]
pub fn path_key<K: Key>(raw: &str) -> Result<K, Problem> {
    path_param(raw, "id", K::DESCRIPTION)
}

/// The raw query string as name/value pairs, percent-decoded.
#[derive(Debug, Clone, Default)]
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        serde_urlencoded::from_str::<Vec<(String, String)>>(query)
            .map(QueryPairs)
            .map_err(|e| Problem::bad_request(format!("the query string is malformed: {e}")))
    }
}

impl QueryPairs {
    /// Rejects parameters not in `allowed`, listing the allowed ones.
    fn reject_unknown(&self, allowed: &[&str]) -> Result<(), Problem> {
        self.reject_unknown_by(
            |name| allowed.contains(&name),
            &if allowed.is_empty() {
                "none".to_owned()
            } else {
                allowed.join(", ")
            },
        )
    }

    /// Rejects parameters `known` says no to, all at once; `allowed` says which are known.
    pub(crate) fn reject_unknown_by(
        &self,
        known: impl Fn(&str) -> bool,
        allowed: &str,
    ) -> Result<(), Problem> {
        let unknown: Vec<&str> = self
            .0
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| !known(k))
            .collect();
        if unknown.is_empty() {
            return Ok(());
        }
        let mut problem = Problem::bad_request(format!(
            "unknown query parameter{} {}; allowed: {allowed}",
            if unknown.len() == 1 { "" } else { "s" },
            unknown
                .iter()
                .map(|k| format!("`{k}`"))
                .collect::<Vec<_>>()
                .join(", "),
        ));
        problem.errors = unknown
            .iter()
            .map(|k| {
                FieldError::parameter(*k, "unknown_parameter", "not a parameter of this operation")
            })
            .collect();
        Err(problem)
    }

    /// The single value of `name`; a parameter given twice is a 400.
    pub(crate) fn single(&self, name: &str) -> Result<Option<&str>, Problem> {
        let mut values = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            let mut problem =
                Problem::bad_request(format!("query parameter `{name}` is given more than once"));
            problem.errors = vec![FieldError::parameter(
                name,
                "repeated",
                "give this parameter once",
            )];
            return Err(problem);
        }
        Ok(first)
    }
}

/// The query parameters of a custom operation, decoded by generated code through
/// [`QueryReader`].
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

/// A struct of query parameters (generated for each custom operation that declares some).
pub trait FromQuery: Sized + Check {
    /// Every parameter name, for rejecting unknown ones.
    const NAMES: &'static [&'static str];

    /// Reads each parameter through `reader`, which records every failure; `None` when one could
    /// not be read, and the request is then answered with a 400 listing the failures.
    fn from_query(reader: &mut QueryReader<'_>) -> Option<Self>;
}

impl<T: FromQuery + Send, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let pairs = QueryPairs::from_request_parts(parts, state).await?;
        pairs.reject_unknown(T::NAMES)?;
        let mut reader = QueryReader {
            pairs: &pairs,
            errors: Vec::new(),
        };
        let decoded = T::from_query(&mut reader);
        let decoded = match decoded {
            Some(decoded) if reader.errors.is_empty() => decoded,
            _ => {
                let mut problem = Problem::bad_request("some query parameters could not be read");
                problem.errors = reader.errors;
                return Err(problem);
            }
        };
        let mut errors = Errors::new();
        decoded.check(&Rules::NONE, &At::Root, &mut errors);
        // Parameters are named, not pointed at: `/q` becomes the parameter `q`.
        let failures: Vec<FieldError> = errors
            .into_vec()
            .into_iter()
            .map(|mut e| {
                e.parameter = e
                    .pointer
                    .take()
                    .map(|p| p.trim_start_matches('/').to_owned());
                e
            })
            .collect();
        if failures.is_empty() {
            Ok(Query(decoded))
        } else {
            Err(Problem::validation(failures))
        }
    }
}

/// Reads typed query parameters, collecting every failure.
#[derive(Debug)]
#[doc(hidden)]
pub struct QueryReader<'a> {
    pairs: &'a QueryPairs,
    errors: Vec<FieldError>,
}

impl QueryReader<'_> {
    fn parse<T: FromStr>(&mut self, name: &str, raw: &str) -> Option<T> {
        match raw.parse() {
            Ok(value) => Some(value),
            Err(_) => {
                self.errors.push(FieldError::parameter(
                    name,
                    "type",
                    format!("`{raw}` is not a valid value"),
                ));
                None
            }
        }
    }

    fn values(&self, name: &str) -> Vec<String> {
        self.pairs
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// Records a parameter given more than once where one value is expected.
    fn repeated<T>(&mut self, name: &str) -> Option<T> {
        self.errors.push(FieldError::parameter(
            name,
            "repeated",
            "give this parameter once",
        ));
        None
    }

    /// A parameter that must be present once.
    pub fn required<T: FromStr>(&mut self, name: &str) -> Option<T> {
        match self.values(name).as_slice() {
            [raw] => self.parse(name, raw),
            [] => {
                self.errors.push(FieldError::parameter(
                    name,
                    "required",
                    "this parameter is required",
                ));
                None
            }
            _ => self.repeated(name),
        }
    }

    /// A parameter that may be absent (`Some(None)`); `None` means it failed.
    pub fn optional<T: FromStr>(&mut self, name: &str) -> Option<Option<T>> {
        match self.values(name).as_slice() {
            [] => Some(None),
            [raw] => self.parse(name, raw).map(Some),
            _ => self.repeated(name),
        }
    }

    /// A repeated parameter (`?tag=a&tag=b`).
    pub fn list<T: FromStr>(&mut self, name: &str) -> Option<Vec<T>> {
        let values = self.values(name);
        let parsed: Vec<Option<T>> = values.iter().map(|raw| self.parse(name, raw)).collect();
        parsed.into_iter().collect()
    }
}

/// Query parameters of a custom operation that declares none still reject unknown ones.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoQuery;

impl Check for NoQuery {
    fn check(&self, _rules: &Rules, _at: &At<'_>, _errors: &mut Errors) {}
}

impl FromQuery for NoQuery {
    const NAMES: &'static [&'static str] = &[];

    fn from_query(_reader: &mut QueryReader<'_>) -> Option<Self> {
        Some(NoQuery)
    }
}

/// The cookies of a request, for an operation that declares cookies it is sent
/// (`cookies: {name: {sent: true}}`). Values are as sent, not decoded.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Cookies(Vec<(String, String)>);

/// The names only: cookie values are often secrets.
impl std::fmt::Debug for Cookies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Cookies {
    /// The value of `name`: the first one sent when there are several (RFC 6265 §5.4 sends
    /// the most specific path first).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Reads every `Cookie` header; pairs that are not `name=value` are skipped.
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let pairs = headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|line| line.split(';'))
            .filter_map(|pair| {
                let (name, value) = pair.trim().split_once('=')?;
                let value = value.trim();
                let value = value
                    .strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(value);
                (!name.trim().is_empty()).then(|| (name.trim().to_owned(), value.to_owned()))
            })
            .collect();
        Cookies(pairs)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Cookies {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Cookies::from_headers(&parts.headers))
    }
}

/// Named path parameters, percent-decoded.
///
/// Read straight from axum's captures: deserializing them into a map would allocate every name
/// and value again on every request.
#[derive(Debug)]
pub struct PathParams(axum::extract::RawPathParams);

impl<S: Send + Sync> FromRequestParts<S> for PathParams {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::RawPathParams::from_request_parts(parts, state)
            .await
            .map(PathParams)
            .map_err(|e| Problem::bad_request(format!("the path could not be read: {e}")))
    }
}

impl PathParams {
    /// The raw value of the parameter `name`; empty when the route has no such parameter.
    pub fn raw(&self, name: &str) -> &str {
        self.0
            .iter()
            .find_map(|(key, value)| (key == name).then_some(value))
            .unwrap_or_default()
    }

    /// Parses the parameter `name`; a value that does not parse is a 400 saying what the
    /// parameter's type expects.
    pub fn get<T: PathParam>(&self, name: &str) -> Result<T, Problem> {
        path_param(self.raw(name), name, &T::expected())
    }
}

/// A type a path parameter may have, and how a 400 describes the values it takes. The
/// runtime implements it for every scalar a contract may put in a path, and for every
/// contract enum.
pub trait PathParam: FromStr {
    /// What a valid value looks like: `a UUID`, `an integer`, `one of: low, high`.
    fn expected() -> std::borrow::Cow<'static, str>;
}

macro_rules! path_params {
    ($($ty:ty => $expected:literal),* $(,)?) => {$(
        impl PathParam for $ty {
            fn expected() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed($expected)
            }
        }
    )*};
}

path_params! {
    String => "a string",
    bool => "`true` or `false`",
    i32 => "an integer",
    i64 => "an integer",
    f32 => "a number",
    f64 => "a number",
    crate::types::Decimal => "a number",
    crate::types::Uuid => "a UUID",
    crate::types::Date => "a date (YYYY-MM-DD)",
    crate::types::DateTime => "an RFC 3339 date-time",
}

impl<E: crate::Enum + FromStr> PathParam for E {
    fn expected() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Owned(format!("one of {}", E::WIRE.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/merge-patch+json"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
        assert!(is_json("Application/JSON"));
        assert!(is_json("application/problem+JSON; charset=utf-8"));
        assert!(!is_json("application/jsonx"));
        assert!(!is_json("text/+json"));
    }
}
