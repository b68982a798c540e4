//! Enforcing the policies of each route: the key of each policy, the limiter's decision, the
//! `RateLimit` headers on every answer of a limited route, and the 429 problem.
//!
//! It wraps the contract routes (not health, metrics or documents), after routing, so that it
//! knows the matched route template, and before any body is read, so that a refused request
//! costs little.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Method, StatusCode};

use super::identity::{Cidr, ClientBlocks, ProxyHeader, client_ip};
use super::{Decision, FailMode, KeyKind, Limiter, LimiterError, Policy};
use crate::problem::Problem;
use crate::settings::RateLimitSettings;

/// A custom key function, registered in the app under the name contracts use
/// (`key: custom:tenant`): the key of a request, or `None` to count it by client IP.
pub type KeyFn = Arc<dyn Fn(&Request) -> Option<String> + Send + Sync>;

/// A subject to count `key: user` policies by, for apps that authenticate some other way: put
/// into the request's extensions, it takes the place of the principal that `cmmv::auth`
/// resolves. Requests with neither are counted by client IP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitSubject(pub String);

/// `(method, route template, policies)`, as generated code lists them.
pub(crate) type RouteLimits = &'static [(&'static str, &'static str, &'static [Policy])];

/// What every request of the app's limited routes shares.
pub(crate) struct RateLimiting {
    routes: HashMap<(Method, &'static str), &'static [Policy]>,
    limiter: Arc<dyn Limiter>,
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
            .field("routes", &self.routes.len())
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl RateLimiting {
    /// Checks that every custom key a policy names is registered: a missing one is a start-up
    /// error, not a limit that silently counts something else.
    pub(crate) fn new(
        tables: &[RouteLimits],
        limiter: Arc<dyn Limiter>,
        custom_keys: HashMap<String, KeyFn>,
        settings: &RateLimitSettings,
    ) -> Result<Self, String> {
        let mut routes = HashMap::new();
        for table in tables {
            for &(method, path, policies) in *table {
                let method = Method::from_bytes(method.as_bytes())
                    .map_err(|_| format!("rate limits: `{method}` is not an HTTP method"))?;
                for policy in policies {
                    if let KeyKind::Custom(name) = policy.key {
                        if !custom_keys.contains_key(name) {
                            return Err(format!(
                                "rate limit `{}` on {method} {path} counts by the custom key `{name}`, which the app does not register (AppBuilder::rate_limit_key)",
                                policy.id
                            ));
                        }
                    }
                }
                routes.insert((method, path), policies);
            }
        }
        Ok(RateLimiting {
            routes,
            limiter,
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
            KeyKind::Custom(name) => self
                .custom_keys
                .get(name)
                .and_then(|key| key(request))
                .map_or_else(by_ip, |value| format!("custom:{name}:{value}")),
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
                    super::default_limiter(&crate::settings::RateLimitSettings {
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

/// The middleware: decides each policy of the route in turn, answers 429 at the first
/// refusal, and otherwise calls the route and adds the headers to its answer.
pub(crate) async fn enforce(
    State(limits): State<Arc<RateLimiting>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(template) = request.extensions().get::<MatchedPath>() else {
        return next.run(request).await;
    };
    let Some(policies) = limits
        .routes
        .get(&(request.method().clone(), template.as_str()))
        .copied()
    else {
        return next.run(request).await;
    };
    let user = if policies.iter().any(|p| matches!(p.key, KeyKind::User)) {
        user(&mut request).await
    } else {
        None
    };
    let mut decisions = Vec::with_capacity(policies.len());
    for policy in policies {
        let key = limits.key(policy.key, &request, user.as_deref());
        let decision = match limits.limiter.check(policy, &key).await {
            Ok(decision) => decision,
            Err(error) => {
                count(&request, "cmmv_rate_limit_errors_total", policy);
                match limits.on_error(policy, &key, &error).await {
                    Ok(Some(decision)) => decision,
                    Ok(None) => continue,
                    Err(unavailable) => return unavailable,
                }
            }
        };
        if !decision.allowed {
            count(&request, "cmmv_rate_limit_refused_total", policy);
            let mut response =
                Problem::too_many_requests(whole_seconds(decision.retry_after)).into_response();
            decisions.push((policy, decision));
            add_headers(&mut response, &decisions, limits.legacy_headers);
            return response;
        }
        decisions.push((policy, decision));
    }
    let mut response = next.run(request).await;
    if response.status() != StatusCode::TOO_MANY_REQUESTS {
        add_headers(&mut response, &decisions, limits.legacy_headers);
    }
    response
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

/// Counts a refusal or a limiter failure in the app's metrics, by policy. Admissions are not
/// counted: the request metrics already count every answer.
fn count(request: &Request, name: &'static str, policy: &Policy) {
    if let Some(metrics) =
        crate::layers::RequestScope::of(request.extensions()).map(|scope| scope.metrics())
    {
        metrics.record(|| metrics::counter!(name, "policy" => policy.id).increment(1));
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
