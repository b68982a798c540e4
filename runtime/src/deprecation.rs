//! Deprecated operations: announced on every answer, refused after their sunset.
//!
//! Generated code wraps each route a contract deprecates (`deprecated: { since, sunset, link }`
//! on an operation or contract, or on a version in `cmmv.yaml`) in [`announce`]. Its answers
//! then carry
//!
//! - `Deprecation: @<unix seconds>` (RFC 9745) from `since`,
//! - `Sunset: <HTTP-date>` (RFC 8594) from `sunset`,
//! - `Link: <url>; rel="deprecation"` (and `rel="sunset"` when there is a sunset) from `link`,
//!
//! whatever the status (a 401 or a 429 tells the client as much as a 200 does). From the
//! sunset on, the route answers `410 Gone` without running anything else — no
//! authentication, no rate limit, no handler — unless `CMMV_SUNSET_GONE=false` keeps serving
//! it. Every call is counted in `cmmv_deprecated_requests_total{operation, client}`, the
//! client being the authenticated subject (`anonymous` otherwise), so operators can see who
//! still calls what is going away.
//!
//! "Now" is the app's [`Clock`], which tests replace to cross a sunset without waiting.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::handler::{Handler, Layered};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use tower::{Layer, Service};

use crate::Problem;
use crate::layers::RequestScope;

/// The name of the counter of calls to deprecated operations.
pub const METRIC: &str = "cmmv_deprecated_requests_total";

/// How generated code describes one deprecated route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deprecation {
    /// `Task.complete`: the metric's `operation` label.
    pub operation: &'static str,
    /// When it was deprecated, Unix seconds: the `Deprecation` header, which is this date or
    /// nothing (RFC 9745). The compiler requires it beside a `sunset` or a `link`; `None` is a
    /// bare `deprecated: true`, which sends no header and is only counted.
    pub since: Option<i64>,
    /// When it stops being served, Unix seconds.
    pub sunset: Option<i64>,
    /// The page about the deprecation.
    pub link: Option<&'static str>,
}

impl Deprecation {
    /// The headers every answer of the route carries.
    fn headers(&self) -> Vec<(header::HeaderName, HeaderValue)> {
        let mut headers = Vec::with_capacity(4);
        if let Some(since) = self.since {
            if let Ok(value) = HeaderValue::try_from(format!("@{since}")) {
                headers.push((header::HeaderName::from_static("deprecation"), value));
            }
        }
        if let Some(sunset) = self.sunset {
            if let Ok(value) = HeaderValue::try_from(cmmv_rules::http_date(sunset)) {
                headers.push((header::HeaderName::from_static("sunset"), value));
            }
        }
        if let Some(link) = self.link {
            let mut value = format!("<{link}>; rel=\"deprecation\"; type=\"text/html\"");
            if self.sunset.is_some() {
                value.push_str(&format!(", <{link}>; rel=\"sunset\"; type=\"text/html\""));
            }
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.push((header::LINK, value));
            }
        }
        headers
    }

    fn is_past_sunset(&self, now: i64) -> bool {
        self.sunset.is_some_and(|sunset| now >= sunset)
    }
}

/// The time as the app sees it, Unix seconds: the system's, or one a test sets.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<dyn Fn() -> i64 + Send + Sync>>);

impl Clock {
    /// The system clock.
    pub fn system() -> Self {
        Self(None)
    }

    /// A clock reading `now` (a test's, moved forward by hand).
    pub fn from_fn(now: impl Fn() -> i64 + Send + Sync + 'static) -> Self {
        Self(Some(Arc::new(now)))
    }

    /// Unix seconds now.
    pub fn now(&self) -> i64 {
        match &self.0 {
            Some(now) => now(),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Clock(custom)"
        } else {
            "Clock(system)"
        })
    }
}

/// `handler` (an operation as [`crate::operation`] mounts it) announced as deprecated: how
/// generated code mounts a deprecated route.
pub fn announce<H, T, S>(
    handler: H,
    deprecation: &'static Deprecation,
) -> Layered<Announce, H, T, S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    handler.layer(Announce { deprecation })
}

/// See [`announce`].
#[derive(Debug, Clone, Copy)]
pub struct Announce {
    deprecation: &'static Deprecation,
}

impl<S> Layer<S> for Announce {
    type Service = Announced<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Announced {
            inner,
            deprecation: self.deprecation,
        }
    }
}

/// The service of [`announce`].
#[derive(Debug, Clone)]
pub struct Announced<S> {
    inner: S,
    deprecation: &'static Deprecation,
}

impl<S> Service<Request> for Announced<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = crate::store::BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let deprecation = self.deprecation;
        let scope = RequestScope::shared(request.extensions());
        let (now, gone_after_sunset) = scope.as_ref().map_or_else(
            || (Clock::system().now(), true),
            |scope| (scope.clock().now(), scope.sunset_gone()),
        );
        let headers = deprecation.headers();
        if gone_after_sunset && deprecation.is_past_sunset(now) {
            count(scope.as_deref(), deprecation, "anonymous");
            let sunset = deprecation
                .sunset
                .map(cmmv_rules::http_date)
                .unwrap_or_default();
            let mut problem = Problem::new(StatusCode::GONE).with_detail(format!(
                "`{}` was sunset on {sunset} and is no longer served",
                deprecation.operation
            ));
            for (name, value) in headers {
                problem = problem.with_header(name, value);
            }
            let response = problem.into_response();
            return Box::pin(async move { Ok(response) });
        }
        let future = self.inner.call(request);
        Box::pin(async move {
            let mut response = future.await?;
            append(response.headers_mut(), headers);
            // Authentication ran inside (the guard keeps its outcome in the scope): the
            // client is known now, if it showed credentials.
            let client = scope
                .as_deref()
                .and_then(RequestScope::principal)
                .map(|p| p.subject.clone());
            count(
                scope.as_deref(),
                deprecation,
                client.as_deref().unwrap_or("anonymous"),
            );
            Ok(response)
        })
    }
}

fn append(headers: &mut HeaderMap, extra: Vec<(header::HeaderName, HeaderValue)>) {
    for (name, value) in extra {
        // `Link` may already name a list's next page: both relations travel.
        headers.append(name, value);
    }
}

fn count(scope: Option<&RequestScope>, deprecation: &Deprecation, client: &str) {
    if let Some(scope) = scope {
        let labels = [
            ("operation", deprecation.operation.to_owned()),
            ("client", client.to_owned()),
        ];
        scope
            .metrics()
            .record(|| metrics::counter!(METRIC, &labels).increment(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_rfcs() {
        let deprecation = Deprecation {
            operation: "Task.complete",
            since: Some(1_782_864_000),
            sunset: Some(1_798_761_600),
            link: Some("https://example.com/changes"),
        };
        let headers: Vec<(String, String)> = deprecation
            .headers()
            .into_iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        assert_eq!(
            headers,
            [
                ("deprecation".to_owned(), "@1782864000".to_owned()),
                ("sunset".to_owned(), "Fri, 01 Jan 2027 00:00:00 GMT".to_owned()),
                (
                    "link".to_owned(),
                    "<https://example.com/changes>; rel=\"deprecation\"; type=\"text/html\", <https://example.com/changes>; rel=\"sunset\"; type=\"text/html\"".to_owned()
                ),
            ]
        );
        assert!(!deprecation.is_past_sunset(1_798_761_599));
        assert!(deprecation.is_past_sunset(1_798_761_600));
    }
}
