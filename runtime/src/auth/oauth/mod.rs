//! Sign-in with identity providers: OAuth 2.0 and OpenID Connect, in the login module.
//!
//! Google, Microsoft Entra ID and any OpenID Connect issuer are read from their discovery
//! documents and verified through their key sets (`openidconnect`); GitHub and Facebook are
//! OAuth 2.0 providers whose profile comes from their APIs (`oauth2`). A provider is enabled
//! by its client id and secret (`CMMV_OAUTH_<PROVIDER>_CLIENT_ID`, `..._CLIENT_SECRET`; see
//! [`OAuthSettings`] and `docs/operations.md`).
//!
//! # The flow
//!
//! 1. `GET /auth/oauth/{provider}/start` keeps a one-time flow (the SHA-256 of its `state`,
//!    the PKCE verifier, the OpenID Connect `nonce`, the SHA-256 of a browser secret) in the
//!    auth store for `CMMV_OAUTH_FLOW_TTL` (10 minutes), sets the browser secret as the
//!    `cmmv_oauth` cookie (`HttpOnly; Secure; SameSite=Lax`, path `/auth/oauth`), and
//!    redirects to the provider with PKCE S256.
//! 2. `GET /auth/oauth/{provider}/callback` spends the flow of the `state` (a replay finds
//!    nothing), checks the cookie against it, exchanges the code with the verifier, and
//!    verifies the ID token (signature through the provider's keys, read again when a token
//!    names a key the set lacks; `iss`, `aud`, `exp`, `nonce`, `azp`, `at_hash`) or reads the
//!    provider's profile. It then finds the account of the identity, links the identity to an
//!    account (see below) or makes one, and redirects to `CMMV_OAUTH_FRONTEND_URL` with a
//!    one-time `code` good for a minute.
//! 3. `POST /auth/oauth/exchange` spends the code and starts a session, as a password sign-in
//!    does, in the browser that ran the flow only (the request carries its cookie): a code an
//!    attacker obtained from their own flow and planted in a victim's front end is refused
//!    there (login CSRF). Tokens never travel in a URL.
//!
//! # Accounts and identities
//!
//! An account holds any number of identities (provider and subject) and, optionally, a
//! password. An identity not seen before
//!
//! - is linked to the account that asked for it, in a link flow
//!   (`POST /auth/oauth/{provider}/link`, then the browser to the URL it answers): the callback
//!   hands the front end a one-time `link` code, which the account holder confirms with their
//!   bearer token from the same browser (`POST /auth/oauth/link/confirm`), so that a link
//!   ticket opened in someone else's browser never links *their* identity;
//! - else is linked to the account with the same email only when **both** the provider
//!   asserted the email verified **and** the account's own email was proven (a mailed
//!   confirmation came back, or the account was made from a verified identity): otherwise
//!   anyone could pre-register an address and wait for its owner to sign in with a provider.
//!   Refused, the answer is `409 account_exists`: sign in and link explicitly;
//! - else makes a new account with the provider's email, without a password.
//!
//! An identity is unlinked (`DELETE /auth/identities/{provider}/{subject}`) unless it is the
//! account's last way to sign in.
//!
//! # Failures
//!
//! Each failure has a code: `invalid_state`, `invalid_request`, `access_denied`,
//! `provider_error`, `provider_timeout`, `invalid_id_token`, `email_missing`,
//! `account_exists`, `identity_in_use`, and `server_error` when the store failed. With `CMMV_OAUTH_ERROR_URL` the callback redirects
//! there with `?error=<code>` and nothing else; otherwise it answers a problem whose `type` is
//! `urn:cmmv:oauth:<code>`. Calls to providers have a time limit (`CMMV_OAUTH_HTTP_TIMEOUT`),
//! never follow redirects and read at most 1 MiB.

mod flow;
mod http;
mod provider;
mod settings;

use std::collections::BTreeMap;
use std::sync::Arc;

use ::http::StatusCode;

pub use settings::{OAuthSettings, ProviderKind, ProviderSettings};

pub(crate) use flow::{
    callback, confirm_link, exchange, identities, link_start, list_providers, start, unlink,
};
use http::{CallError, ProviderClient};
use provider::Provider;

use crate::problem::Problem;
use crate::store::StoreError;

/// The enabled providers and what their flows share.
#[derive(Debug, Clone)]
pub struct OAuth {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    providers: BTreeMap<String, Provider>,
    http: ProviderClient,
    settings: OAuthSettings,
}

impl OAuth {
    /// The providers of `settings`; `None` when none is enabled. An address that does not
    /// parse is an error, at start.
    pub fn from_settings(settings: &OAuthSettings) -> Result<Option<Self>, String> {
        if settings.providers.is_empty() {
            return Ok(None);
        }
        let providers = settings
            .providers
            .iter()
            .map(|p| Ok((p.name.clone(), Provider::new(p.clone())?)))
            .collect::<Result<BTreeMap<_, _>, String>>()?;
        Ok(Some(OAuth {
            inner: Arc::new(Inner {
                providers,
                http: ProviderClient::new(settings.http_timeout)?,
                settings: settings.clone(),
            }),
        }))
    }

    /// The names of the enabled providers.
    pub fn providers(&self) -> impl Iterator<Item = &str> {
        self.inner.providers.keys().map(String::as_str)
    }

    fn provider(&self, name: &str) -> Result<&Provider, Problem> {
        self.inner
            .providers
            .get(name)
            .ok_or_else(|| Problem::not_found(format!("no identity provider `{name}` is enabled")))
    }
}

/// Why a flow failed, each with the code clients see.
#[derive(Debug)]
pub(crate) enum FlowError {
    /// The state is missing, unknown, expired, spent or from another browser.
    InvalidState,
    /// The callback lacks what it needs (a code), or names another issuer.
    InvalidRequest(&'static str),
    /// The person refused consent.
    AccessDenied,
    /// The provider answered with an error, or with what cannot be read.
    Provider(String),
    /// The provider did not answer in time.
    Timeout,
    /// The ID token failed a check.
    IdToken(String),
    /// The provider shared no email, which a new account needs.
    EmailMissing,
    /// An account has the email, but it cannot be linked by email alone.
    AccountExists,
    /// The identity signs in to another account.
    IdentityInUse,
    /// The store failed.
    Store(StoreError),
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FlowError::InvalidRequest(why) => write!(f, "{}: {why}", self.code()),
            FlowError::Provider(why) | FlowError::IdToken(why) => {
                write!(f, "{}: {why}", self.code())
            }
            FlowError::Store(error) => write!(f, "{}: {error}", self.code()),
            _ => f.write_str(self.code()),
        }
    }
}

impl From<CallError> for FlowError {
    fn from(error: CallError) -> Self {
        match error {
            CallError::Timeout => FlowError::Timeout,
            other => FlowError::Provider(other.to_string()),
        }
    }
}

impl From<StoreError> for FlowError {
    fn from(error: StoreError) -> Self {
        FlowError::Store(error)
    }
}

impl FlowError {
    /// The code a redirect to the error URL carries.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            FlowError::InvalidState => "invalid_state",
            FlowError::InvalidRequest(_) => "invalid_request",
            FlowError::AccessDenied => "access_denied",
            FlowError::Provider(_) => "provider_error",
            FlowError::Timeout => "provider_timeout",
            FlowError::IdToken(_) => "invalid_id_token",
            FlowError::EmailMissing => "email_missing",
            FlowError::AccountExists => "account_exists",
            FlowError::IdentityInUse => "identity_in_use",
            FlowError::Store(_) => "server_error",
        }
    }

    /// The problem answered when there is no error URL. What the provider said stays in the
    /// logs (it may name the client or echo a code).
    pub(crate) fn into_problem(self) -> Problem {
        let code = self.code();
        let (status, detail) = match self {
            FlowError::InvalidState => (
                StatusCode::BAD_REQUEST,
                "the sign-in flow is unknown, expired, already used, or was started in another browser; start again",
            ),
            FlowError::InvalidRequest(detail) => (StatusCode::BAD_REQUEST, detail),
            FlowError::AccessDenied => (
                StatusCode::FORBIDDEN,
                "the sign-in was not allowed at the identity provider",
            ),
            FlowError::Provider(why) => {
                tracing::warn!(%why, "identity provider failed");
                (
                    StatusCode::BAD_GATEWAY,
                    "the identity provider answered with an error or with what cannot be read",
                )
            }
            FlowError::Timeout => (
                StatusCode::GATEWAY_TIMEOUT,
                "the identity provider did not answer in time",
            ),
            FlowError::IdToken(why) => {
                tracing::warn!(%why, "ID token refused");
                (
                    StatusCode::UNAUTHORIZED,
                    "the identity provider's ID token failed verification",
                )
            }
            FlowError::EmailMissing => (
                StatusCode::FORBIDDEN,
                "the identity provider shared no email address, which a new account needs",
            ),
            FlowError::AccountExists => (
                StatusCode::CONFLICT,
                "an account with this email exists: sign in to it and link this provider from there",
            ),
            FlowError::IdentityInUse => (
                StatusCode::CONFLICT,
                "this identity already signs in to another account",
            ),
            FlowError::Store(error) => return error.into_problem("identity", None),
        };
        let mut problem = Problem::new(status).with_detail(detail);
        problem.type_uri = format!("urn:cmmv:oauth:{code}");
        problem
    }
}
