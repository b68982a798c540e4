//! Enforcing the policies of each operation: the key of each policy, the limiter's decision,
//! the `RateLimit` headers on every answer of a limited route, and the 429 problem.
//!
//! The policies travel with the route they guard ([`limit`], which generated code puts on
//! every operation together with its auth guard), so that nesting a router under a prefix, or
//! an app forgetting a table, cannot drop a limit. What every route of an app shares — the
//! limiter, the custom keys, how clients are identified — is the app's [`RateLimiting`],
//! reached through the request's scope. It runs before the guard and before any body is read,
//! so that a refused request costs little.

use std::collections::HashMap;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, StatusCode};
use opentelemetry::KeyValue;
use tower::{Layer, Service};

use super::RateLimitSettings;
use super::identity::{Cidr, ClientBlocks, ProxyHeader, client_ip};
use super::{BoxFuture, Decision, FailMode, KeyKind, Limiter, LimiterError, Policy};
use crate::problem::Problem;

/// A custom key function, registered in the app under the name contracts use
/// (`key: custom:tenant`): the key of a request, or `None` to count it by client IP.
pub type KeyFn = Arc<dyn Fn(&Request) -> Option<String> + Send + Sync>;

/// A subject to count `key: user` policies by, for apps that authenticate some other way: put
/// into the request's extensions, it takes the place of the principal that `cmmv::auth`
/// resolves. Requests with neither are counted by client IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSubject(pub String);

/// `(method, route template, policies)`, as generated code lists them.
pub type RouteLimits = &'static [(&'static str, &'static str, &'static [Policy])];

/// What every limited route of an app shares.
pub(crate) struct RateLimiting {
    limiter: Arc<dyn Limiter>,
    /// Every policy of the tables the app was given, by id: what a route's
    /// [`Policy::named`] stands for.
    named: HashMap<&'static str, &'static Policy>,
    custom_keys: HashMap<String, KeyFn>,
    trusted_proxies: Vec<Cidr>,
    proxy_header: ProxyHeader,
    blocks: ClientBlocks,
    /// What policies that say [`FailMode::App`] do when the limiter cannot decide.
    fail_mode: FailMode,
    /// The in-process limiter [`FailMode::Local`] policies fall back on, made at the first
    /// failure (most apps never fail over).
    fallback: OnceLock<Arc<dyn Limiter>>,
    max_keys: usize,
    legacy_headers: bool,
}

impl std::fmt::Debug for RateLimiting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiting")
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl RateLimiting {
    /// Checks that every custom key a policy of `tables` names is registered: a missing one
    /// is a start-up error, not a limit that silently counts something else. (Routes mounted
    /// without their table are still limited; an unregistered key of theirs is logged and
    /// counts by IP.)
    pub(crate) fn new(
        tables: &[RouteLimits],
        limiter: Arc<dyn Limiter>,
        custom_keys: HashMap<String, KeyFn>,
        settings: &RateLimitSettings,
    ) -> Result<Self, crate::BuildError> {
        let mut named = HashMap::new();
        for &(method, path, policies) in tables.iter().flat_map(|table| table.iter()) {
            for policy in policies {
                named.insert(policy.id, policy);
                if let KeyKind::Custom(name) = policy.key {
                    if !custom_keys.contains_key(name) {
                        return Err(crate::BuildError::UnregisteredRateLimitKey {
                            policy: policy.id,
                            route: format!("{method} {path}"),
                            key: name,
                        });
                    }
                }
            }
        }
        Ok(RateLimiting {
            limiter,
            named,
            custom_keys,
            trusted_proxies: settings.trusted_proxies.clone(),
            proxy_header: settings.proxy_header.clone(),
            blocks: settings.client_blocks,
            fail_mode: match settings.fail_mode {
                FailMode::App => FailMode::Open,
                mode => mode,
            },
            fallback: OnceLock::new(),
            max_keys: settings.max_keys,
            legacy_headers: settings.legacy_headers,
        })
    }

    /// The policy itself, or for one known only by name, the policy of that name in the
    /// app's tables.
    fn resolve<'p>(&self, policy: &'p Policy) -> Option<&'p Policy> {
        if policy.is_by_name() {
            self.named
                .get(policy.id)
                .copied()
                .filter(|p| !p.is_by_name())
        } else {
            Some(policy)
        }
    }

    /// The key a policy counts this request by; the kind prefix keeps an IP and a user name
    /// that happen to be equal apart.
    fn key(&self, kind: KeyKind, request: &Request, user: Option<&str>) -> String {
        let by_ip = || format!("ip:{}", self.blocks.key(self.client(request)));
        match kind {
            KeyKind::Ip => by_ip(),
            KeyKind::User => user.map_or_else(by_ip, |subject| format!("user:{subject}")),
            KeyKind::ApiKey => crate::auth::api_key(request.headers()).map_or_else(by_ip, |key| {
                // Limiter keys may live in Redis: keep the secret out of them.
                format!("key:{}", crate::fingerprint::fnv1a_hex(key.as_bytes()))
            }),
            KeyKind::Header(name) => request
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map_or_else(by_ip, |value| format!("header:{name}:{value}")),
            KeyKind::Custom(name) => match self.custom_keys.get(name) {
                Some(key) => {
                    key(request).map_or_else(by_ip, |value| format!("custom:{name}:{value}"))
                }
                None => {
                    tracing::error!(
                        key = name,
                        "a rate limit counts by a custom key the app does not register (AppBuilder::rate_limit_key); counting by IP"
                    );
                    by_ip()
                }
            },
        }
    }

    fn client(&self, request: &Request) -> IpAddr {
        // Without a socket (a router called in process) every request is one local client.
        let peer = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |info| info.0.ip());
        client_ip(
            peer,
            request.headers(),
            &self.trusted_proxies,
            &self.proxy_header,
        )
    }

    /// The decision a policy gets when the limiter failed with `error`: `None` to admit the
    /// request undecided, or the in-process limiter's decision, or a 503 to answer.
    async fn on_error(
        &self,
        policy: &Policy,
        key: &str,
        error: &LimiterError,
    ) -> Result<Option<Decision>, Response> {
        let mode = match policy.on_error {
            FailMode::App => self.fail_mode,
            mode => mode,
        };
        tracing::warn!(policy = policy.id, %error, fail_mode = mode.as_str(), "rate limiter could not decide");
        match mode {
            FailMode::App | FailMode::Open => Ok(None),
            FailMode::Closed => Err(limiter_unavailable()),
            FailMode::Local => {
                let fallback = self.fallback.get_or_init(|| {
                    super::default_limiter(&RateLimitSettings {
                        max_keys: self.max_keys,
                        ..Default::default()
                    })
                });
                // The in-process limiter always decides; an error here would be a bug, and
                // refusing is the safe reading for a policy that asked not to fail open.
                fallback
                    .check(policy, key)
                    .await
                    .map(Some)
                    .map_err(|error| {
                        tracing::error!(policy = policy.id, %error, "the fallback limiter failed");
                        limiter_unavailable()
                    })
            }
        }
    }
}

/// The layer limiting one operation by `policies`: how generated code mounts them (see
/// [`crate::operation`]). Routes written by hand use it the same way:
///
/// ```
/// use std::time::Duration;
/// use axum::{Router, handler::Handler, routing::post};
/// use cmmv::ratelimit::{FailMode, KeyKind, Policy, limit};
///
/// const SEND: &[Policy] = &[Policy {
///     id: "mail.send",
///     limit: 10,
///     period: Duration::from_secs(3600),
///     burst: 3,
///     key: KeyKind::User,
///     on_error: FailMode::Local,
/// }];
/// let routes: Router = Router::new().route("/mail", post((|| async { "sent" }).layer(limit(SEND))));
/// ```
pub fn limit(policies: &'static [Policy]) -> Limit {
    Limit { policies }
}

/// See [`limit`].
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    policies: &'static [Policy],
}

impl<S> Layer<S> for Limit {
    type Service = Limited<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Limited {
            inner,
            policies: self.policies,
        }
    }
}

/// The service of [`limit`].
#[derive(Debug, Clone)]
pub struct Limited<S> {
    inner: S,
    policies: &'static [Policy],
}

impl<S> Service<Request> for Limited<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = LimitedFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        // A route served outside an app (or an app with limits switched off) has no limiter:
        // there is nothing to count with. An app always has one otherwise.
        let limiting = crate::layers::RequestScope::of(request.extensions())
            .and_then(crate::layers::RequestScope::rate_limiting);
        let (Some(limiting), false) = (limiting, self.policies.is_empty()) else {
            return LimitedFuture::Direct {
                inner: self.inner.call(request),
            };
        };
        let limiting = Arc::clone(limiting);
        let policies = self.policies;
        // The readied service serves this request; a fresh clone waits for the next one.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        LimitedFuture::Decided {
            inner: Box::pin(async move { Ok(limiting.enforce(policies, request, inner).await) }),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Limited`]: the route's own when nothing is decided, or the decisions
    /// and then the route.
    #[project = LimitedProj]
    // pin-project-lite takes no doc comments on variant fields: the variants say what they hold.
    #[allow(missing_docs)]
    pub enum LimitedFuture<F> {
        /// Nothing to decide (no policies, or no limiter: limits off, or no app): the route runs.
        Direct { #[pin] inner: F },
        /// The policies are being decided; the route runs if every one admits the request.
        Decided { inner: BoxFuture<'static, Result<Response, Infallible>> },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for LimitedFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            LimitedProj::Direct { inner } => inner.poll(cx),
            LimitedProj::Decided { inner } => inner.as_mut().poll(cx),
        }
    }
}

impl RateLimiting {
    /// Decides each policy in turn, answers 429 at the first refusal, and otherwise calls the
    /// route and adds the headers to its answer.
    async fn enforce<S>(&self, policies: &[Policy], mut request: Request, mut route: S) -> Response
    where
        S: Service<Request, Response = Response, Error = Infallible>,
    {
        let user = if policies.iter().any(|p| matches!(p.key, KeyKind::User)) {
            user(&mut request).await
        } else {
            None
        };
        let mut decisions = Vec::with_capacity(policies.len());
        for policy in policies {
            let Some(policy) = self.resolve(policy) else {
                // The values of a policy known only by name are in a table the app was not
                // given: a mistake in the app's code, which must not turn into "no limit".
                tracing::error!(
                    policy = policy.id,
                    "a route's rate limit is known only by name, and the app was not given the API table that defines it (AppBuilder::api)"
                );
                return limiter_unavailable();
            };
            let key = self.key(policy.key, &request, user.as_deref());
            // The key is not recorded: it is a client's address or a user id.
            let span = crate::telemetry::ChildSpan::start("rate_limit", || {
                vec![
                    KeyValue::new("policy", policy.id),
                    KeyValue::new("backend", self.limiter.backend()),
                ]
            });
            let started = std::time::Instant::now();
            let checked = span.around(self.limiter.check(policy, &key)).await;
            if self.limiter.backend() == "redis" {
                observe(&request, |_| {
                    metrics::histogram!(REDIS_DURATION, "operation" => "rate_limit")
                        .record(started.elapsed().as_secs_f64());
                });
            }
            let decision = match checked {
                Ok(decision) => decision,
                Err(error) => {
                    count(&request, "cmmv_rate_limit_errors_total", policy, None);
                    match self.on_error(policy, &key, &error).await {
                        Ok(Some(decision)) => decision,
                        Ok(None) => {
                            span.set(KeyValue::new("outcome", "undecided"));
                            count(&request, DECISIONS, policy, Some("undecided"));
                            continue;
                        }
                        Err(unavailable) => {
                            span.set(KeyValue::new("outcome", "unavailable"));
                            count(&request, DECISIONS, policy, Some("unavailable"));
                            return unavailable;
                        }
                    }
                }
            };
            let outcome = if decision.allowed {
                "allowed"
            } else {
                "refused"
            };
            span.set(KeyValue::new("outcome", outcome));
            count(&request, DECISIONS, policy, Some(outcome));
            if !decision.allowed {
                let mut response =
                    Problem::too_many_requests(whole_seconds(decision.retry_after)).into_response();
                decisions.push((policy, decision));
                add_headers(&mut response, &decisions, self.legacy_headers);
                return response;
            }
            decisions.push((policy, decision));
        }
        let mut response = match route.call(request).await {
            Ok(response) => response,
            Err(never) => match never {},
        };
        if response.status() != StatusCode::TOO_MANY_REQUESTS {
            add_headers(&mut response, &decisions, self.legacy_headers);
        }
        response
    }
}

/// Who `key: user` counts the request by: the app's own subject, or the principal its
/// credentials prove. Credentials that prove nothing count as anonymous here; the route's
/// guard answers them.
async fn user(request: &mut Request) -> Option<String> {
    if let Some(subject) = request.extensions().get::<RateLimitSubject>() {
        return Some(subject.0.clone());
    }
    match crate::auth::resolve(request).await {
        Ok(Some(principal)) => Some(principal.subject.clone()),
        _ => None,
    }
}

/// Rate-limit decisions, by policy and outcome: `allowed`, `refused`, `undecided` (the limiter
/// failed and the policy fails open) or `unavailable` (it failed and the policy fails closed).
pub(crate) const DECISIONS: &str = "cmmv_rate_limit_decisions_total";

/// How long Redis took to answer, by operation, in seconds.
pub(crate) const REDIS_DURATION: &str = "cmmv_redis_command_duration_seconds";

/// Counts one event of `policy` in the app's metrics, with an `outcome` label when given.
fn count(request: &Request, name: &'static str, policy: &Policy, outcome: Option<&'static str>) {
    observe(request, |_| match outcome {
        Some(outcome) => {
            metrics::counter!(name, "policy" => policy.id, "outcome" => outcome).increment(1);
        }
        None => metrics::counter!(name, "policy" => policy.id).increment(1),
    });
}

/// Runs `record` with the app's metrics as the recorder, when the request is served by an app.
fn observe(request: &Request, record: impl FnOnce(&crate::Metrics)) {
    if let Some(metrics) =
        crate::layers::RequestScope::of(request.extensions()).map(|scope| scope.metrics())
    {
        metrics.record(|| record(metrics));
    }
}

/// The answer of a policy that may not fail open when no limiter can decide: the service
/// cannot tell whether the client exceeded anything, so it is unavailable, not a 429.
fn limiter_unavailable() -> Response {
    Problem::unavailable("rate limiting is temporarily unavailable; retry later")
        .with_header(http::header::RETRY_AFTER, HeaderValue::from_static("1"))
        .into_response()
}

/// Seconds rounded up: a client told to wait 0 s while a wait remains would retry at once.
fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(u64::from(!wait.is_zero()))
}

const RATE_LIMIT: HeaderName = HeaderName::from_static("ratelimit");
const RATE_LIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const LEGACY_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const LEGACY_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const LEGACY_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");

/// The IETF `RateLimit-Policy` (every policy: quota `q`, window `w` in seconds) and
/// `RateLimit` (the policy closest to refusing: remaining `r`, seconds until reset `t`)
/// fields, and the legacy ones for that same policy when asked for.
fn add_headers(response: &mut Response, decisions: &[(&Policy, Decision)], legacy: bool) {
    let Some((tightest, decision)) = decisions
        .iter()
        .min_by_key(|(_, decision)| (decision.allowed, decision.remaining))
    else {
        return;
    };
    let mut policy_field = String::new();
    for (i, (policy, _)) in decisions.iter().enumerate() {
        if i > 0 {
            policy_field.push_str(", ");
        }
        let _ = write!(
            policy_field,
            "\"{}\";q={};w={}",
            policy.id,
            policy.limit,
            policy.period.as_secs().max(1)
        );
    }
    let reset = whole_seconds(decision.reset);
    let limit_field = format!("\"{}\";r={};t={}", tightest.id, decision.remaining, reset);
    let headers = response.headers_mut();
    let mut set = |name: HeaderName, value: String| {
        if let Ok(value) = HeaderValue::try_from(value) {
            headers.insert(name, value);
        }
    };
    set(RATE_LIMIT_POLICY, policy_field);
    set(RATE_LIMIT, limit_field);
    if legacy {
        set(LEGACY_LIMIT, tightest.limit.to_string());
        set(LEGACY_REMAINING, decision.remaining.to_string());
        set(LEGACY_RESET, reset.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_round_up_and_never_to_zero() {
        assert_eq!(whole_seconds(Duration::ZERO), 0);
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1000)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1001)), 2);
    }
}
