//! Who may call a route: the credentials of a request, the principal they prove, and the
//! contract's access rule checked against it.
//!
//! Generated code wraps each operation's handler in [`require`] with the operation's
//! [`Access`], so the rule travels with the route: an app cannot mount a contract and forget
//! its policies. The app supplies the [`Authenticator`] (the JWT verifier from settings, the
//! API-key store when there is one) to every request; a route guarded by anything but
//! [`Access::Public`] in an app without one refuses every request with a 401.
//!
//! Credentials are resolved at most once per request, by whichever runs first: the rate
//! limiter (for `key: user`) or the guard. The outcome is kept in the request's extensions.

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::{FromRequestParts, Request};
use axum::handler::{Handler, Layered};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use http::request::Parts;
use tower::{Layer, Service};

use super::{AuthError, JwtVerifier, Principal};
use crate::layers::RequestScope;
use crate::problem::Problem;
use crate::telemetry::ChildSpan;
use opentelemetry::KeyValue;

/// Who may call an operation: a contract's `auth` policy, as generated code states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone; credentials are not required (valid ones still reach the handler).
    Public,
    /// Any authenticated caller.
    Authenticated,
    /// An authenticated caller holding at least one of the roles.
    AnyRole(&'static [&'static str]),
    /// An authenticated caller holding every one of the roles.
    AllRoles(&'static [&'static str]),
}

impl Access {
    /// Whether `principal` satisfies the rule (`None`: an anonymous caller).
    pub fn permits(&self, principal: Option<&Principal>) -> bool {
        match (self, principal) {
            (Access::Public, _) => true,
            (_, None) => false,
            (Access::Authenticated, Some(_)) => true,
            (Access::AnyRole(roles), Some(p)) => roles.iter().any(|role| p.has_role(role)),
            (Access::AllRoles(roles), Some(p)) => roles.iter().all(|role| p.has_role(role)),
        }
    }
}

/// A boxed future, as [`ApiKeyVerifier`] returns it.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Resolves API keys to principals; the key store of the login module implements it.
pub trait ApiKeyVerifier: Send + Sync + fmt::Debug + 'static {
    /// The principal `key` (the whole secret, as the client sent it) stands for. Unknown,
    /// malformed and revoked keys are [`AuthError::InvalidApiKey`]; a store that cannot be
    /// reached is [`AuthError::Unavailable`].
    fn verify<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Principal, AuthError>>;
}

/// Proves who is calling, from the request's credentials.
#[derive(Debug, Default)]
pub struct Authenticator {
    jwt: Option<JwtVerifier>,
    api_keys: Option<Arc<dyn ApiKeyVerifier>>,
    /// The sessions the login module ended (sign-out, revocation, a password change): bearer
    /// tokens naming one prove nothing.
    revocations: Option<Arc<dyn super::Revocations>>,
}

/// The credentials a request carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credentials<'a> {
    None,
    Bearer(&'a str),
    ApiKey(&'a str),
    /// An `Authorization` header of another scheme, unreadable, or in conflict with
    /// `X-API-Key`.
    Unusable,
}

impl Authenticator {
    /// An authenticator that accepts bearer tokens `jwt` verifies and API keys `api_keys`
    /// resolves; a credential of a kind it has no verifier for proves nothing: an error, not
    /// an anonymous caller.
    pub fn new(jwt: Option<JwtVerifier>, api_keys: Option<Arc<dyn ApiKeyVerifier>>) -> Self {
        Self {
            jwt,
            api_keys,
            revocations: None,
        }
    }

    /// Refuses the bearer tokens `revocations` names (the login module's).
    #[must_use]
    pub fn with_revocations(mut self, revocations: Arc<dyn super::Revocations>) -> Self {
        self.revocations = Some(revocations);
        self
    }

    /// The principal the request's credentials prove: `Ok(None)` without credentials, an
    /// error when they are present but prove nothing.
    pub async fn authenticate(&self, headers: &HeaderMap) -> Outcome {
        let credentials = credentials(headers);
        if let Some(outcome) = self.authenticate_now(credentials) {
            return outcome;
        }
        // `authenticate_now` leaves API keys with a store to ask, and bearer tokens whose
        // revocation a remote record (Redis) must tell.
        match (credentials, &self.api_keys, &self.revocations, &self.jwt) {
            (Credentials::ApiKey(key), Some(keys), _, _) => {
                keys.verify(key).await.map(|p| Some(Arc::new(p)))
            }
            (Credentials::Bearer(token), _, Some(revocations), Some(jwt)) => {
                let principal = jwt.verify_shared(token)?;
                match revocations.is_revoked(&principal).await {
                    Ok(false) => Ok(Some(principal)),
                    Ok(true) => Err(AuthError::Revoked),
                    Err(error) => Err(unchecked(&error)),
                }
            }
            _ => Err(AuthError::InvalidApiKey),
        }
    }

    /// [`Authenticator::authenticate`] without waiting: `None` when an API key needs the store,
    /// or a bearer token the remote record of ended sessions. A bearer token is verified in
    /// place.
    fn authenticate_now(&self, credentials: Credentials<'_>) -> Option<Outcome> {
        Some(match credentials {
            Credentials::None => Ok(None),
            Credentials::Unusable => Err(AuthError::Malformed),
            Credentials::Bearer(token) => match &self.jwt {
                Some(jwt) => match jwt.verify_shared(token) {
                    Ok(principal) => return self.unrevoked_now(principal),
                    Err(error) => Err(error),
                },
                None => Err(AuthError::UnknownKey),
            },
            Credentials::ApiKey(_) if self.api_keys.is_some() => return None,
            Credentials::ApiKey(_) => Err(AuthError::InvalidApiKey),
        })
    }

    /// A verified bearer token's principal, unless the login module ended its session; `None`
    /// when only a remote record can tell.
    fn unrevoked_now(&self, principal: Arc<Principal>) -> Option<Outcome> {
        let Some(revocations) = &self.revocations else {
            return Some(Ok(Some(principal)));
        };
        Some(match revocations.check_now(&principal)? {
            Ok(false) => Ok(Some(principal)),
            Ok(true) => Err(AuthError::Revoked),
            Err(error) => Err(unchecked(&error)),
        })
    }
}

/// A token whose revocation cannot be checked is not accepted.
fn unchecked(error: &crate::store::StoreError) -> AuthError {
    tracing::warn!(%error, "ended sessions cannot be checked");
    AuthError::Unavailable
}

/// What authenticating a request comes to: its principal (`None`: anonymous), or why its
/// credentials prove nothing.
pub(crate) type Outcome = Result<Option<Arc<Principal>>, AuthError>;

/// The key of `Authorization: ApiKey <key>` or `X-API-Key`, read as the guard reads it (for
/// the rate limiter's `key: api_key`).
pub(crate) fn api_key(headers: &HeaderMap) -> Option<&str> {
    match credentials(headers) {
        Credentials::ApiKey(key) => Some(key),
        _ => None,
    }
}

/// `Authorization: Bearer <token>`, `Authorization: ApiKey <key>` or `X-API-Key: <key>`. The
/// scheme name is case-insensitive (RFC 9110 §11.1).
fn credentials(headers: &HeaderMap) -> Credentials<'_> {
    let mut authorization = headers.get_all(http::header::AUTHORIZATION).iter();
    let mut api_key_header = headers.get_all("x-api-key").iter();
    let from_authorization = match (authorization.next(), authorization.next()) {
        (None, _) => Credentials::None,
        (Some(_), Some(_)) => return Credentials::Unusable,
        (Some(value), None) => {
            let Ok(value) = value.to_str() else {
                return Credentials::Unusable;
            };
            let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
            let rest = rest.trim();
            if rest.is_empty() {
                return Credentials::Unusable;
            }
            if scheme.eq_ignore_ascii_case("bearer") {
                Credentials::Bearer(rest)
            } else if scheme.eq_ignore_ascii_case("apikey") {
                Credentials::ApiKey(rest)
            } else {
                return Credentials::Unusable;
            }
        }
    };
    match (api_key_header.next(), api_key_header.next()) {
        (None, _) => from_authorization,
        (Some(_), Some(_)) => Credentials::Unusable,
        (Some(value), None) => match (value.to_str().map(str::trim), from_authorization) {
            (Ok(key), Credentials::None) if !key.is_empty() => Credentials::ApiKey(key),
            // The same key twice is harmless; two different credentials are ambiguous.
            (Ok(key), Credentials::ApiKey(same)) if key == same => Credentials::ApiKey(key),
            _ => Credentials::Unusable,
        },
    }
}

/// The authenticator of a router served without the app's middleware: nothing proves.
static NO_AUTHENTICATOR: Authenticator = Authenticator {
    jwt: None,
    revocations: None,
    api_keys: None,
};

/// Requests whose credentials were refused, by reason (`expired`, `signature`, ...).
pub(crate) const AUTH_FAILURES: &str = "cmmv_auth_failures_total";

/// The principal of the request, authenticating it the first time it is asked for.
pub async fn resolve(request: &mut Request) -> Outcome {
    if let Some(outcome) = resolve_now(request) {
        return outcome;
    }
    // Only an API key with a store to ask, or a bearer token for a remote revocation record,
    // is left.
    let span = ChildSpan::start("authenticate", Vec::new);
    let outcome = match RequestScope::of(request.extensions()) {
        Some(scope) => {
            span.around(scope.authenticator().authenticate(request.headers()))
                .await
        }
        None => Err(AuthError::InvalidApiKey),
    };
    remember(request, outcome, &span)
}

/// [`resolve`] without waiting: `None` when the outcome needs the API-key store, so that a
/// guarded request with a bearer token needs no future of its own.
fn resolve_now(request: &Request) -> Option<Outcome> {
    let scope = RequestScope::of(request.extensions());
    if let Some(outcome) = scope.and_then(|scope| scope.auth.get()) {
        return Some(outcome.clone());
    }
    let authenticator = scope.map_or(&NO_AUTHENTICATOR, RequestScope::authenticator);
    let outcome = authenticator.authenticate_now(credentials(request.headers()))?;
    // The span is made once there is an outcome to record (so it has no duration to speak
    // of): this path takes microseconds, and when it cannot decide, the asynchronous one opens
    // the span around its wait.
    let span = ChildSpan::start("authenticate", Vec::new);
    Some(remember(request, outcome, &span))
}

/// Keeps the outcome in the request's scope for whoever asks next (the guard after the rate
/// limiter, the handler's `Context`). A bare router has no scope, and no authenticator either:
/// its outcome is "nobody", cheap to work out again.
/// The failure is counted by reason in `cmmv_auth_failures_total`, a label of a dozen values.
fn remember(request: &Request, outcome: Outcome, span: &ChildSpan) -> Outcome {
    let scope = RequestScope::of(request.extensions());
    // The outcome only, never the credentials.
    let name = match &outcome {
        Ok(Some(_)) => "authenticated",
        Ok(None) => "anonymous",
        Err(error) => error.reason(),
    };
    span.set(KeyValue::new("outcome", name));
    if let Err(error) = &outcome {
        span.within(|| tracing::info!(reason = error.reason(), "credentials refused"));
        if let Some(scope) = scope {
            let metrics = scope.metrics();
            metrics.record(|| {
                metrics::counter!(AUTH_FAILURES, "reason" => error.reason()).increment(1);
            });
        }
    }
    if let Some(scope) = scope {
        // Set once: `resolve_now` returns the kept outcome before it works one out.
        let _ = scope.auth.set(outcome.clone());
    }
    outcome
}

/// The answer refusing a request under `access`, or `None` to let it through.
fn refusal(access: Access, outcome: &Outcome) -> Option<Response> {
    match outcome {
        Ok(principal) if access.permits(principal.as_deref()) => None,
        // A public route serves anyone, whatever credentials they failed to prove.
        _ if access == Access::Public => None,
        Ok(None) => Some(AuthError::MissingCredentials.into_problem().into_response()),
        // Which role was missing is the server's business, not the caller's.
        Ok(Some(_)) => Some(
            Problem::forbidden("the credentials are valid but do not permit this operation")
                .into_response(),
        ),
        Err(error) => Some(error.clone().into_problem().into_response()),
    }
}

/// The principal a request resolved to, if authentication has run and succeeded.
pub(crate) fn resolved(parts: &Parts) -> Option<Arc<Principal>> {
    match RequestScope::of(&parts.extensions).and_then(|scope| scope.auth.get()) {
        Some(Ok(principal)) => principal.clone(),
        _ => None,
    }
}

/// The layer enforcing `access` on the handler it wraps.
pub fn require(access: Access) -> Require {
    Require { access }
}

/// `handler` behind the guard of `access`: how generated code mounts every operation.
pub fn guarded<H, T, S>(handler: H, access: Access) -> Layered<Require, H, T, S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    handler.layer(require(access))
}

/// See [`require`].
#[derive(Debug, Clone, Copy)]
pub struct Require {
    access: Access,
}

impl<S> Layer<S> for Require {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Guard {
            inner,
            access: self.access,
        }
    }
}

/// The service of [`require`].
#[derive(Debug, Clone)]
pub struct Guard<S> {
    inner: S,
    access: Access,
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        let access = self.access;
        // An anonymous call of a public operation costs nothing more than the handler.
        if access == Access::Public && credentials(request.headers()) == Credentials::None {
            return GuardFuture::Direct {
                inner: self.inner.call(request),
            };
        }
        if let Some(outcome) = resolve_now(&request) {
            return match refusal(access, &outcome) {
                None => GuardFuture::Direct {
                    inner: self.inner.call(request),
                },
                Some(response) => GuardFuture::Refused {
                    response: Some(response),
                },
            };
        }
        // An API key: the store is asked. The readied service serves this request; a fresh
        // clone waits for the next one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        GuardFuture::Checked {
            inner: Box::pin(async move {
                let outcome = resolve(&mut request).await;
                match refusal(access, &outcome) {
                    None => inner.call(request).await,
                    Some(response) => Ok(response),
                }
            }),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Guard`]: the handler's own (anonymous on a public operation, or a bearer
    /// token checked in place), a refusal, or an API key's check and then the handler.
    #[project = GuardProj]
    // pin-project-lite takes no doc comments on variant fields: the variants say what they hold.
    #[allow(missing_docs)]
    pub enum GuardFuture<F> {
        /// The request was admitted at once: the handler runs.
        Direct { #[pin] inner: F },
        /// The request was refused (401, 403 or 503) without reaching the handler.
        Refused { response: Option<Response> },
        /// An API key is being checked against its store; the handler runs if it passes.
        Checked { inner: BoxFuture<'static, Result<Response, Infallible>> },
    }
}

impl<F: Future<Output = Result<Response, Infallible>>> Future for GuardFuture<F> {
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardProj::Direct { inner } => inner.poll(cx),
            GuardProj::Refused { response } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                // Polled again after completing, which no server does: answer rather than hang.
                None => Poll::Ready(Ok(Problem::internal().into_response())),
            },
            GuardProj::Checked { inner } => inner.as_mut().poll(cx),
        }
    }
}

/// Handlers that need a signed-in caller take the principal as an extractor: a request
/// without one (a public route called anonymously) is answered with a 401.
impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        resolved(parts)
            .map(|p| Principal::clone(&p))
            .ok_or_else(|| AuthError::MissingCredentials.into_problem())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scheme;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, http::HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn credentials_are_read_from_either_header() {
        use Credentials::*;
        let cases: &[(&[(&str, &str)], Credentials<'_>)] = &[
            (&[], None),
            (&[("authorization", "Bearer abc")], Bearer("abc")),
            (&[("authorization", "bearer  abc ")], Bearer("abc")),
            (&[("authorization", "ApiKey k1")], ApiKey("k1")),
            (&[("authorization", "APIKEY k1")], ApiKey("k1")),
            (&[("x-api-key", "k1")], ApiKey("k1")),
            (
                &[("x-api-key", "k1"), ("authorization", "ApiKey k1")],
                ApiKey("k1"),
            ),
            (
                &[("x-api-key", "k1"), ("authorization", "ApiKey k2")],
                Unusable,
            ),
            (
                &[("x-api-key", "k1"), ("authorization", "Bearer t")],
                Unusable,
            ),
            (&[("authorization", "Basic dXNlcjpwdw==")], Unusable),
            (&[("authorization", "Bearer")], Unusable),
            (&[("authorization", "Bearer ")], Unusable),
            (
                &[("authorization", "Bearer a"), ("authorization", "Bearer b")],
                Unusable,
            ),
            (&[("x-api-key", "")], Unusable),
        ];
        for (pairs, expected) in cases {
            assert_eq!(credentials(&headers(pairs)), *expected, "{pairs:?}");
        }
    }

    #[test]
    fn access_rules() {
        let principal = |roles: &[&str]| Principal {
            subject: "u1".into(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            scheme: Scheme::Bearer,
            session: None,
            issued_at: None,
        };
        let editor = principal(&["editor"]);
        let both = principal(&["admin", "editor"]);
        let none = principal(&[]);
        let any = Access::AnyRole(&["admin", "editor"]);
        let all = Access::AllRoles(&["admin", "editor"]);
        assert!(Access::Public.permits(None));
        assert!(!Access::Authenticated.permits(None));
        assert!(Access::Authenticated.permits(Some(&none)));
        assert!(any.permits(Some(&editor)) && any.permits(Some(&both)));
        assert!(!any.permits(Some(&none)) && !any.permits(None));
        assert!(all.permits(Some(&both)));
        assert!(!all.permits(Some(&editor)));
    }
}
