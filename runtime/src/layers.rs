//! The middleware every app runs, and the one place that fixes their order.
//!
//! From the outside in:
//!
//! 1. request id: assigns the id and completes every problem body with it (outermost, so that
//!    problems made by any layer below carry it);
//! 2. observe: the log line and the metrics of the request (outside everything that can
//!    answer on its own, so that preflights, 413s, timeouts and panics are counted too);
//! 3. security headers, on every response including errors;
//! 4. CORS, so that browsers can read error responses too, and preflights stop here;
//! 5. panic -> 500 problem;
//! 6. timeout -> 503 problem;
//! 7. body limit -> 413 problem;
//! 8. error responses that are not problems (axum's 405 and extractor rejections, bare status
//!    codes from handlers) -> problems;
//! 9. the routes, each wrapped in a layer that reports its route template to step 2.
//!
//! Steps 1 to 8 wrap the whole router rather than each route (`Router::layer`), because axum adds
//! the `Allow` header of a 405 after the route's own layers have run, and step 8 needs it.
//!
//! They are hand-written tower services rather than `middleware::from_fn` layers: each of those
//! clones and boxes the service below it and boxes its own future on every request. Steps 1 to 3
//! are one service ([`Outer`]), CORS is tower-http's, and steps 5 to 8 are another ([`Inner`]);
//! their futures are plain structs, so the middleware boxes nothing on the way of a request
//! that succeeds. The stack is served as it is ([`Stack`]), not as the fallback of another
//! router, which would clone and box the whole stack on every request.

use std::any::Any;
use std::convert::Infallible;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, HttpBody};
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, header};
use http_body_util::Limited;
use pin_project_lite::pin_project;
use tower::util::Either;
use tower::{Layer, Service, ServiceBuilder};
use tower_http::cors::{AllowHeaders, AllowOrigin, Cors, CorsLayer};
use tracing::instrument::Instrumented;

use crate::logging::{RequestLog, log_request};
use crate::metrics::{Metrics, UNMATCHED_ROUTE};
use crate::problem::Problem;
use crate::request_id::{self, REQUEST_ID_HEADER};
use crate::settings::{CorsOrigins, Settings};
use opentelemetry::KeyValue;

/// How long browsers may cache a preflight answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// The largest non-problem error body turned into a problem's `detail`; longer ones are not
/// a message for a human, and are dropped.
const MAX_DETAIL_BYTES: usize = 1024;

/// The routes in the app's middleware: what is served.
pub(crate) type Stack = Outer<Either<Cors<Inner<Routed>>, Inner<Routed>>>;

/// The router, behind the version negotiation when the app has one.
type Routed = Either<crate::versioning::Negotiate<Router>, Router>;

/// What the app's middleware shares with every request, besides the settings.
pub(crate) struct Parts {
    pub(crate) metrics: Metrics,
    pub(crate) authenticator: Arc<crate::auth::Authenticator>,
    pub(crate) rate_limiting: Option<Arc<crate::ratelimit::RateLimiting>>,
    pub(crate) cursor_key: crate::list::CursorKey,
    pub(crate) clock: crate::deprecation::Clock,
    /// How bare paths find their version, when a header or media type may name it.
    pub(crate) negotiation: Option<Arc<crate::versioning::Negotiation>>,
    /// The protobuf forms of the generated operations, when there are any.
    pub(crate) protobuf: Option<Arc<crate::protobuf::Wire>>,
}

/// Wraps `routes` in the app's middleware, in the order described in the module docs.
pub(crate) fn apply(routes: Router, settings: &Settings, parts: Parts) -> Stack {
    let Parts {
        metrics,
        authenticator,
        rate_limiting,
        cursor_key,
        clock,
        negotiation,
        protobuf,
    } = parts;
    // Both wrap each route (and the fallback) in one layer, so that a route pays for one more
    // boxed service rather than two.
    let routes = routes.layer(
        ServiceBuilder::new()
            // The limit is enforced on the body itself (in `Inner`), for every reader; axum's
            // own default of 2 MB would otherwise cut in first for its extractors.
            .layer(DefaultBodyLimit::disable())
            .layer(ReportRouteLayer)
            // Inside the route, where its template is known: protobuf bodies in and out.
            .option_layer(protobuf.map(crate::protobuf::NegotiateLayer)),
    );
    ServiceBuilder::new()
        .layer(OuterLayer(Arc::new(Shared {
            metrics,
            authenticator,
            rate_limiting,
            cursor_key,
            security_headers: security_headers(settings),
            trusted_proxies: settings.rate_limit.trusted_proxies.clone(),
            proxy_header: settings.rate_limit.proxy_header.clone(),
            clock,
            sunset_gone: settings.sunset_gone,
        })))
        .option_layer(cors_layer(settings))
        .layer(InnerLayer {
            body_limit: settings.body_limit,
            timeout: settings.request_timeout,
        })
        // Closest to the router: it decides which version's route a bare path is.
        .option_layer(negotiation.map(crate::versioning::NegotiateLayer))
        .service(routes)
}

/// What the app's middleware knows of one request, shared with everything below it (the route
/// reporter, the rate limiter, the guards, the extractors) through a single request extension.
///
/// One extension rather than one per item: each `Extensions::insert` boxes its value and hashes
/// its type, and a request used to pay for five of them before its handler ran.
#[derive(Debug)]
pub(crate) struct RequestScope {
    pub(crate) request_id: request_id::RequestId,
    /// The W3C trace id of the request (see [`crate::telemetry`]), for logs and problems.
    pub(crate) trace_id: Option<opentelemetry::trace::TraceId>,
    /// The route template the request matched, filled in by [`ReportRoute`] once routing is
    /// done. The outer service runs before routing and so cannot see `MatchedPath` itself; the
    /// slot survives a panic or timeout in between.
    route: OnceLock<MatchedPath>,
    /// The outcome of authenticating the request, once something asked for it (the rate
    /// limiter, the guard, the handler's `Context`), so that it is worked out once.
    pub(crate) auth: OnceLock<crate::auth::Outcome>,
    app: Arc<Shared>,
}

impl RequestScope {
    /// The scope of the request, when it is served by an app (a bare router has none).
    pub(crate) fn of(extensions: &http::Extensions) -> Option<&RequestScope> {
        extensions.get::<Scope>().map(|scope| scope.0.as_ref())
    }

    /// [`RequestScope::of`], shared: for a layer that reads the scope after the request has
    /// moved on to the service it wraps.
    pub(crate) fn shared(extensions: &http::Extensions) -> Option<Arc<RequestScope>> {
        extensions.get::<Scope>().map(|scope| scope.0.clone())
    }

    /// The authenticated caller, once something authenticated the request.
    pub(crate) fn principal(&self) -> Option<&crate::auth::Principal> {
        match self.auth.get() {
            Some(Ok(Some(principal))) => Some(principal),
            _ => None,
        }
    }

    /// The app's time ([`crate::AppBuilder::clock`]).
    pub(crate) fn clock(&self) -> &crate::deprecation::Clock {
        &self.app.clock
    }

    /// Whether a deprecated operation past its sunset answers 410 (`CMMV_SUNSET_GONE`).
    pub(crate) fn sunset_gone(&self) -> bool {
        self.app.sunset_gone
    }

    /// The client's address: the socket's peer, or the hop a trusted proxy names (the
    /// settings' `CMMV_TRUSTED_PROXIES`), as the rate limiter counts it.
    pub(crate) fn client_ip(&self, parts: &http::request::Parts) -> std::net::IpAddr {
        self.app.client_ip(&parts.extensions, &parts.headers)
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.app.metrics
    }

    pub(crate) fn authenticator(&self) -> &crate::auth::Authenticator {
        &self.app.authenticator
    }

    /// The app's rate limiting; `None` when limits are switched off.
    pub(crate) fn rate_limiting(&self) -> Option<&Arc<crate::ratelimit::RateLimiting>> {
        self.app.rate_limiting.as_ref()
    }

    /// The key the app's list cursors are signed with.
    pub(crate) fn cursor_key(&self) -> &crate::list::CursorKey {
        &self.app.cursor_key
    }
}

/// The extension carrying a [`RequestScope`].
#[derive(Debug, Clone)]
struct Scope(Arc<RequestScope>);

/// Wraps every route to report its template into the request's [`RouteSlot`]. It adds no
/// future of its own: the route's future is returned as is.
#[derive(Debug, Clone, Copy)]
struct ReportRouteLayer;

impl<S> Layer<S> for ReportRouteLayer {
    type Service = ReportRoute<S>;

    fn layer(&self, inner: S) -> Self::Service {
        ReportRoute(inner)
    }
}

#[derive(Debug, Clone)]
struct ReportRoute<S>(S);

impl<S: Service<Request>> Service<Request> for ReportRoute<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if let (Some(scope), Some(path)) = (
            RequestScope::of(request.extensions()),
            request.extensions().get::<MatchedPath>(),
        ) {
            // Set once per request: this layer wraps the top-level routes only. Were it ever to
            // run twice, the first template is as good as the second, so a refused set is
            // ignored.
            let _ = scope.route.set(path.clone());
        }
        self.0.call(request)
    }
}

/// What [`Outer`] shares between requests.
#[derive(Debug)]
struct Shared {
    metrics: Metrics,
    /// For the routes' guards and the rate limiter.
    authenticator: Arc<crate::auth::Authenticator>,
    /// For the routes' limits.
    rate_limiting: Option<Arc<crate::ratelimit::RateLimiting>>,
    /// For the list routes' cursors.
    cursor_key: crate::list::CursorKey,
    /// The security headers of every response, computed once from the settings.
    security_headers: HeaderMap,
    /// Which peers may name the client, and in which header: for [`RequestScope::client_ip`].
    trusted_proxies: Vec<crate::ratelimit::Cidr>,
    proxy_header: crate::ratelimit::ProxyHeader,
    /// "Now", for deprecations' sunsets.
    clock: crate::deprecation::Clock,
    /// Whether a route past its sunset answers 410.
    sunset_gone: bool,
}

impl Shared {
    /// The client's address: the socket's peer, or the hop a trusted proxy names.
    fn client_ip(&self, extensions: &http::Extensions, headers: &HeaderMap) -> std::net::IpAddr {
        let peer = extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(
                std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
                |info| info.0.ip(),
            );
        crate::ratelimit::client_ip(peer, headers, &self.trusted_proxies, &self.proxy_header)
    }
}

#[derive(Clone)]
struct OuterLayer(Arc<Shared>);

impl<S> Layer<S> for OuterLayer {
    type Service = Outer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Outer {
            inner,
            shared: Arc::clone(&self.0),
        }
    }
}

/// Steps 1 to 3: the request id, the log line and metrics, the security headers.
#[derive(Debug, Clone)]
pub(crate) struct Outer<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> Service<Request> for Outer<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = OuterFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let started = Instant::now();
        let method = request.method().clone();
        // The server span, made on the exporter's tracer (see `crate::telemetry`): named
        // "METHOD /route/{template}" once routing is done. Probes and scrapes are asked about
        // under a target of their own, which the export filter leaves out by default: a
        // kubelet's probe every few seconds is not a trace anyone reads. A request whose trace
        // the exporter is sure to drop runs as unsampled: it pays for its log context only.
        let probe = is_probe(request.uri().path());
        let trace = crate::telemetry::RequestTrace::begin(
            span_method(&method),
            probe,
            crate::telemetry::extract(request.headers()),
            || self.request_attributes(&request),
        );
        // The request's span in the logs, with the ids a log line is found by. One shape, two
        // callsites: a span's target is fixed where it is written.
        macro_rules! log_span {
            ($target:expr) => {
                tracing::info_span!(
                    target: $target,
                    "request",
                    request_id = tracing::field::Empty,
                    trace_id = tracing::field::Empty,
                )
            };
        }
        let span = if probe {
            log_span!(crate::telemetry::PROBES_TARGET)
        } else {
            log_span!(crate::telemetry::SERVER_TARGET)
        };
        let scope = Arc::new(RequestScope {
            request_id: request_id::assign(&request),
            trace_id: trace.trace_id(),
            route: OnceLock::new(),
            auth: OnceLock::new(),
            app: Arc::clone(&self.shared),
        });
        span.record("request_id", scope.request_id.as_str());
        if let Some(trace_id) = scope.trace_id {
            span.record("trace_id", tracing::field::display(trace_id));
        }
        // The path is logged and may become a problem's `instance`. Cloning the URI shares the
        // request's bytes where copying the path would allocate.
        let uri = request.uri().clone();
        request.extensions_mut().insert(Scope(Arc::clone(&scope)));

        let future = trace.within(|| span.in_scope(|| self.inner.call(request)));
        OuterFuture {
            inner: tracing::Instrument::instrument(future, span),
            answered: Answered {
                started,
                method,
                uri,
                scope,
                trace,
            },
        }
    }
}

impl<S> Outer<S> {
    /// The server span's request attributes, per the HTTP semantic conventions: no query
    /// string, no header but `User-Agent`, nothing of the body.
    fn request_attributes(&self, request: &Request) -> Vec<KeyValue> {
        // A made-up method is `_OTHER`, as the conventions say: no unbounded attribute values.
        let method = match crate::metrics::method_label(request.method()) {
            "OTHER" => "_OTHER",
            known => known,
        };
        let version = match request.version() {
            http::Version::HTTP_09 => "0.9",
            http::Version::HTTP_10 => "1.0",
            http::Version::HTTP_2 => "2",
            http::Version::HTTP_3 => "3",
            _ => "1.1",
        };
        // Room for the response's attributes too (see `end_server_span`).
        let mut attributes = Vec::with_capacity(REQUEST_ATTRIBUTES + RESPONSE_ATTRIBUTES);
        attributes.push(KeyValue::new("http.request.method", method));
        attributes.push(KeyValue::new("url.scheme", "http"));
        attributes.push(KeyValue::new("network.protocol.version", version));
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .and_then(|host| host.parse::<http::uri::Authority>().ok());
        if let Some(host) = host {
            attributes.push(KeyValue::new(
                "server.address",
                bounded(host.host(), ATTRIBUTE_LIMIT),
            ));
            if let Some(port) = host.port_u16() {
                attributes.push(KeyValue::new("server.port", i64::from(port)));
            }
        }
        let client = self
            .shared
            .client_ip(request.extensions(), request.headers());
        attributes.push(KeyValue::new("client.address", client.to_string()));
        if let Some(agent) = request
            .headers()
            .get(header::USER_AGENT)
            .and_then(|agent| agent.to_str().ok())
        {
            attributes.push(KeyValue::new(
                "user_agent.original",
                bounded(agent, ATTRIBUTE_LIMIT),
            ));
        }
        attributes
    }
}

/// The method a span is named by before routing: a made-up one is `HTTP`, as the conventions
/// say, so that a client cannot name spans at will.
fn span_method(method: &Method) -> &'static str {
    match crate::metrics::method_label(method) {
        "OTHER" => "HTTP",
        known => known,
    }
}

/// At most `limit` bytes of a client-chosen value, cut at a character boundary: a 400 KB
/// `User-Agent` must not become a 400 KB attribute of every span held for export.
fn bounded(value: &str, limit: usize) -> String {
    let mut end = value.len().min(limit);
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    value[..end].to_owned()
}

/// How many attributes the server span has at most, from the request and from the response.
const REQUEST_ATTRIBUTES: usize = 8;
const RESPONSE_ATTRIBUTES: usize = 3;

/// The longest client-chosen attribute value kept.
const ATTRIBUTE_LIMIT: usize = 256;

/// Whether `path` is the runtime's health or metrics route.
fn is_probe(path: &str) -> bool {
    path == crate::app::METRICS_PATH || path.starts_with("/health/")
}

pin_project! {
    /// The future of [`Outer`]: the inner answer, then what steps 1 to 3 add to it.
    pub(crate) struct OuterFuture<F> {
        #[pin]
        inner: Instrumented<F>,
        answered: Answered,
    }
}

/// What [`Outer`] knows of a request to complete its answer with.
struct Answered {
    started: Instant,
    method: Method,
    uri: Uri,
    scope: Arc<RequestScope>,
    /// How the request is traced: what it is polled within, the server span to complete with
    /// the route and status.
    trace: crate::telemetry::RequestTrace,
}

impl<F> Future for OuterFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let inner = this.inner;
        let polled = this.answered.trace.within(|| inner.poll(cx));
        let mut response = match ready!(polled) {
            Ok(response) => response,
            Err(never) => match never {},
        };
        this.answered.complete(&mut response);
        Poll::Ready(Ok(response))
    }
}

impl Answered {
    fn complete(&self, response: &mut Response) {
        let Self {
            started,
            method,
            uri,
            scope,
            trace,
        } = self;
        let RequestScope {
            request_id,
            trace_id,
            route,
            app,
            ..
        } = scope.as_ref();
        add_security_headers(response, &app.security_headers);

        let latency = started.elapsed();
        let matched = route.get().map(MatchedPath::as_str);
        let route = matched.unwrap_or(UNMATCHED_ROUTE);
        if trace.is_recorded() {
            end_server_span(trace, method, matched, response.status());
        }
        app.metrics
            .record_request(method, route, response.status().as_u16(), latency);
        log_request(&RequestLog {
            method,
            route,
            path: uri.path(),
            status: response.status(),
            latency,
            request_id,
            trace_id: *trace_id,
        });
        request_id::finish(
            response,
            request_id,
            *trace_id,
            uri.path(),
            method == Method::HEAD,
        );
    }
}

/// Ends the server span with its name and response attributes. A 5xx marks the span as
/// failed; a 4xx is the client's error, not the server's, as the conventions say for server
/// spans.
fn end_server_span(
    trace: &crate::telemetry::RequestTrace,
    method: &Method,
    route: Option<&str>,
    status: http::StatusCode,
) {
    let mut attributes = Vec::with_capacity(RESPONSE_ATTRIBUTES);
    let name = route.map(|route| {
        attributes.push(KeyValue::new("http.route", route.to_owned()));
        format!("{} {route}", span_method(method))
    });
    attributes.push(KeyValue::new(
        "http.response.status_code",
        i64::from(status.as_u16()),
    ));
    let failed = status.is_server_error();
    if failed {
        attributes.push(KeyValue::new("error.type", status.as_str().to_owned()));
    }
    trace.end(name, attributes, failed);
}

#[derive(Debug, Clone, Copy)]
struct InnerLayer {
    body_limit: usize,
    timeout: Duration,
}

impl<S> Layer<S> for InnerLayer {
    type Service = Inner<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Inner {
            inner,
            body_limit: self.body_limit,
            timeout: self.timeout,
        }
    }
}

/// Steps 5 to 8: panics, the time limit, the body limit, non-problem errors.
#[derive(Debug, Clone)]
pub(crate) struct Inner<S> {
    inner: S,
    body_limit: usize,
    timeout: Duration,
}

impl<S> Service<Request> for Inner<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = CatchPanic<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let limit = self.body_limit;
        // A declared length over the limit is refused at once.
        let declared = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return CatchPanic::ready(Problem::payload_too_large(limit).into_response());
        }
        // Bodies that may be longer (chunked) are capped themselves, whoever reads them. A body
        // whose upper bound is within the limit needs no cap: hyper ends a body at its declared
        // length, and in-process bodies know theirs; that spares most requests a boxed body.
        let bounded = request
            .body()
            .size_hint()
            .upper()
            .is_some_and(|upper| upper <= limit as u64);
        let request = if bounded {
            request
        } else {
            request.map(|body| Body::new(Limited::new(body, limit)))
        };
        match std::panic::catch_unwind(AssertUnwindSafe(|| self.inner.call(request))) {
            Ok(future) => CatchPanic::Running {
                // A request over the time limit is dropped and answered with a 503 problem.
                answer: tokio::time::timeout(
                    self.timeout,
                    Answer::Route {
                        future,
                        body_limit: limit,
                    },
                ),
                timeout: self.timeout,
            },
            Err(panic) => CatchPanic::ready(panic_to_problem(panic)),
        }
    }
}

type BoxResponseFuture = Pin<Box<dyn Future<Output = Response> + Send>>;

pin_project! {
    /// The future of [`Inner`]: a panic while it is polled becomes a 500 problem.
    #[project = CatchPanicProj]
    pub(crate) enum CatchPanic<F> {
        /// Answered without calling the routes (or the call panicked).
        Ready { response: Option<Response> },
        Running {
            #[pin]
            answer: tokio::time::Timeout<Answer<F>>,
            timeout: Duration,
        },
        /// The answer panicked and was dropped, so no broken state it left behind is ever
        /// polled again.
        Panicked,
    }
}

impl<F> CatchPanic<F> {
    fn ready(response: Response) -> Self {
        Self::Ready {
            response: Some(response),
        }
    }
}

impl<F> Future for CatchPanic<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| match self.as_mut().project() {
            CatchPanicProj::Ready { response } => {
                Poll::Ready(response.take().unwrap_or_else(polled_after_completion))
            }
            CatchPanicProj::Running { answer, timeout } => match ready!(answer.poll(cx)) {
                Ok(response) => Poll::Ready(response),
                Err(_) => {
                    tracing::warn!(
                        limit_ms = crate::logging::millis(*timeout),
                        "request timed out"
                    );
                    Poll::Ready(Problem::timeout().into_response())
                }
            },
            CatchPanicProj::Panicked => Poll::Ready(polled_after_completion()),
        }));
        match polled {
            Ok(poll) => poll.map(Ok),
            Err(panic) => {
                self.set(Self::Panicked);
                Poll::Ready(Ok(panic_to_problem(panic)))
            }
        }
    }
}

/// The answer of a future polled again after it completed, which callers must not do; a 500
/// problem rather than a panic inside the server.
fn polled_after_completion() -> Response {
    Problem::internal().into_response()
}

pin_project! {
    /// Steps 7 and 8 on the answer of the routes. Most answers need neither; only those get a
    /// boxed future of their own.
    #[project = AnswerProj]
    pub(crate) enum Answer<F> {
        Route {
            #[pin]
            future: F,
            body_limit: usize,
        },
        ToProblem { future: BoxResponseFuture },
    }
}

impl<F> Future for Answer<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Response;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Response> {
        match self.as_mut().project() {
            AnswerProj::Route { future, body_limit } => {
                let response = match ready!(future.poll(cx)) {
                    Ok(response) => response,
                    Err(never) => match never {},
                };
                let limit = *body_limit;
                if !is_plain_error(&response) {
                    return Poll::Ready(problem_for_capped_body(response, limit));
                }
                self.set(Self::ToProblem {
                    future: Box::pin(async move {
                        problem_for_capped_body(plain_error_to_problem(response).await, limit)
                    }),
                });
                self.poll(cx)
            }
            AnswerProj::ToProblem { future } => future.as_mut().poll(cx),
        }
    }
}

/// A reader that hit the body cap answered 413 its own way, unless step 8 made it a problem
/// already.
fn problem_for_capped_body(response: Response, limit: usize) -> Response {
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE
        && response.extensions().get::<Problem>().is_none()
    {
        return Problem::payload_too_large(limit).into_response();
    }
    response
}

/// The security headers of every response, computed once from the settings.
fn security_headers(settings: &Settings) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // An API serves data, not pages: nothing in a response may load or embed anything.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    let hsts = settings
        .hsts_max_age
        .and_then(|max_age| HeaderValue::from_str(&format!("max-age={max_age}")).ok());
    if let Some(value) = hsts {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, value);
    }
    headers
}

fn add_security_headers(response: &mut Response, headers: &HeaderMap) {
    let response_headers = response.headers_mut();
    // Room for these and the request id at once, rather than regrowing the map on the way.
    response_headers.reserve(headers.len() + 1);
    for (name, value) in headers {
        // A handler that set its own policy (a docs page allowing its scripts) keeps it.
        response_headers
            .entry(name)
            .or_insert_with(|| value.clone());
    }
}

/// CORS from the settings; `None` when no origin is configured, so no CORS header is sent.
fn cors_layer(settings: &Settings) -> Option<CorsLayer> {
    let origins = match &settings.cors.origins {
        CorsOrigins::None => return None,
        CorsOrigins::Any => AllowOrigin::any(),
        CorsOrigins::List(list) => AllowOrigin::list(
            list.iter()
                .filter_map(|origin| HeaderValue::from_str(origin).ok()),
        ),
    };
    let exposed = [
        REQUEST_ID_HEADER.clone(),
        header::RETRY_AFTER,
        header::LOCATION,
        HeaderName::from_static("ratelimit"),
        HeaderName::from_static("ratelimit-policy"),
        HeaderName::from_static("deprecation"),
        HeaderName::from_static("sunset"),
    ];
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([
                Method::GET,
                Method::HEAD,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            // The origin list is the access decision; whichever headers such an origin's
            // scripts send (Authorization, Idempotency-Key, ...) are allowed.
            .allow_headers(AllowHeaders::mirror_request())
            .allow_credentials(settings.cors.credentials)
            .expose_headers(exposed)
            .max_age(CORS_MAX_AGE),
    )
}

/// A panic becomes a 500 problem. What panicked goes to the log, never to the client.
#[allow(
    clippy::needless_pass_by_value,
    reason = "the signature catch-panic calls handlers with"
)]
fn panic_to_problem(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".to_owned());
    tracing::error!(panic = message, "a handler panicked");
    Problem::internal().into_response()
}

/// Whether `response` is an error that is not a problem, which step 8 turns into one.
/// Responses with a body of their own media type (JSON, HTML) are left alone: whoever chose
/// that representation meant it.
fn is_plain_error(response: &Response) -> bool {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error())
        || response.extensions().get::<Problem>().is_some()
    {
        return false;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    content_type.is_empty() || content_type.starts_with("text/plain")
}

/// Turns an error response that is not a problem ([`is_plain_error`]) into a problem, keeping
/// its headers (`Allow`, `WWW-Authenticate`, `Retry-After`).
async fn plain_error_to_problem(response: Response) -> Response {
    let status = response.status();
    let (parts, body) = response.into_parts();
    let mut problem = if status == StatusCode::METHOD_NOT_ALLOWED {
        let allow = parts
            .headers
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        Problem::method_not_allowed(allow)
    } else if status == StatusCode::INTERNAL_SERVER_ERROR {
        // A plain-text 500 may spell out internals; it is replaced, not quoted.
        Problem::internal()
    } else {
        let mut problem = Problem::new(status);
        // Client errors from axum's extractors say what was wrong with the request; that is
        // worth passing on. Other server errors may describe internals and are not quoted.
        if status.is_client_error() {
            if let Ok(bytes) = axum::body::to_bytes(body, MAX_DETAIL_BYTES).await {
                let text = String::from_utf8_lossy(&bytes).trim().to_owned();
                if !text.is_empty() {
                    problem.detail = Some(text);
                }
            }
        }
        problem
    };
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE
            && name != header::CONTENT_LENGTH
            && !problem.headers.iter().any(|(n, _)| n == name)
        {
            problem.headers.push((name.clone(), value.clone()));
        }
    }
    // Keep what inner layers recorded (extensions) but answer with the problem's body.
    let mut answer = problem.into_response();
    let problem_ext = answer.extensions_mut().remove::<Problem>();
    *answer.extensions_mut() = parts.extensions;
    if let Some(problem) = problem_ext {
        answer.extensions_mut().insert(problem);
    }
    answer
}

/// The fallback of unknown paths.
pub(crate) async fn not_found() -> Problem {
    Problem::not_found("no route serves this path")
}
