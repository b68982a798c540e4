//! The login module: register, login, refresh, logout, me, and API-key management, as a
//! router the app mounts.
//!
//! The module is declared as a contract, `Account` (`compiler/modules/login.yaml`, shipped with
//! the compiler): its routes, bodies and their checks, guards, rate limits and problems. Its
//! routes and decoders are generated from it ([`super::contract`]); this file implements the
//! operations. A project whose `cmmv.yaml` says `modules: [login]` documents the module from
//! the same contract, and an app built from that project's `API` must mount it
//! (`AppBuilder::login`), so the documents and the server agree.
//!
//! | route | access | body | answer |
//! | --- | --- | --- | --- |
//! | `POST /auth/register` | public | `{email, password}` | 201 the account; 409 email taken; 422 (with [`Registration::Confirm`]: 202 alike for every address) |
//! | `POST /auth/confirm` | public | `{token}` | 200 tokens; 400 (no token is valid unless [`Registration::Confirm`] issued it) |
//! | `POST /auth/login` | public | `{email, password}` | 200 tokens; 401 |
//! | `POST /auth/refresh` | public | `{refresh_token}` | 200 new tokens; 401 |
//! | `POST /auth/logout` | public | `{refresh_token}` | 204, whatever the token |
//! | `GET /auth/me` | authenticated | | 200 `{subject, roles, scheme, email}` |
//! | `POST /auth/password` | bearer token | `{current_password, new_password}` | 200 tokens of a new session, every other session and every API key ended; 403 wrong password; 422 |
//! | `GET /auth/sessions` | bearer token | | 200 `{items: [...]}`, the caller's live sessions |
//! | `DELETE /auth/sessions/{session_id}` | bearer token | | 204, the session and its access tokens ended; 404 unless a session of the caller |
//! | `DELETE /auth/sessions` | bearer token | | 204, every session of the caller ended |
//! | `POST /auth/api-keys` | bearer token | `{name, roles?, expires_at?}` | 201 with the key, shown once |
//! | `GET /auth/api-keys` | bearer token | | 200 `{items: [...]}`, the caller's live keys |
//! | `DELETE /auth/api-keys/{key_id}` | bearer token | | 204; 404 unless a live key of the caller |
//!
//! A request authenticated by an API key gets 403 on the three key routes: keys are managed
//! by a signed-in user only.
//!
//! Tokens come back as `{access_token, token_type: "Bearer", expires_in, refresh_token,
//! refresh_expires_in}` with `Cache-Control: no-store` (RFC 6749 §5.1).
//!
//! Emails are stored in one canonical form ([`normalize_email`]: NFC, lowercase, IDNA domain)
//! and passwords hashed and checked in NFC ([`super::normalize_password`]), so that one
//! address or password typed two ways is one.
//!
//! A failed login says `invalid email or password` with the same status and body whether the
//! user exists or not, after the same work: an unknown user's password is checked against a
//! dummy argon2id hash of the same cost. Any refusal of a refresh token — unknown, expired,
//! logged out, or reused — is the same 401; reuse of a rotated token also revokes its family.
//! Bodies go through the runtime's JSON extractor: 415 without a JSON content type, 400 for
//! malformed JSON, 422 naming each failing field.
//!
//! Rate limits, per client IP (each IPv4 address, each IPv6 /64), as the contract declares
//! them: login 10 a minute with bursts of 5 (enough for a person mistyping, far too few for
//! guessing passwords; credential stuffing from many IPs needs more than a rate limit, and is
//! why failures take a full argon2 verification); registration 10 an hour, bursts of 3;
//! refresh, logout and confirmation 60 a minute, bursts of 10. When a shared (Redis) limiter
//! cannot decide, these fall back on an in-process limiter (`on_error: local`) whatever
//! `CMMV_RATE_LIMIT_FAIL` says: failing open would switch off the one defence against
//! password guessing exactly when Redis is down.
//!
//! Mount it with `AppBuilder::login`: its routes, its API keys as a credential every guard
//! accepts, and a readiness check of its store:
//!
//! ```no_run
//! # async fn run(settings: cmmv::Settings, db: cmmv::sql::Database) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use cmmv::auth::{Login, SqlAuthStore};
//!
//! let store = Arc::new(SqlAuthStore::open(db).await?);
//! let login = Login::from_settings(store, &settings)?;
//! let app = cmmv::App::builder(settings).login(&login).build()?;
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;

use super::api_keys::ApiKeys;
use super::contract;
use super::issuer::{TokenIssuer, unix_now_i64};
use super::oauth::OAuth;
use super::password::Passwords;
use super::records::AccountRecords;
use super::revocation::{MemoryRevocations, Revocations};
use super::store::{ApiKey, AuthStore, User};
use super::{ApiKeyVerifier, Principal};
use crate::problem::Problem;
use crate::settings::{Settings, SettingsError};
use crate::store::BoxFuture;
use crate::types::DateTime;

mod handlers;
mod sessions;

pub(crate) use handlers::with_bearer;
pub(crate) use sessions::{new_user, start_session};

/// The module's name in `cmmv.yaml` (`modules: [login]`) and in [`crate::Api::modules`].
pub const LOGIN_MODULE: &str = "login";

/// The one answer to a failed login.
const INVALID_CREDENTIALS: &str = "invalid email or password";
/// The one answer to a refused refresh token.
const INVALID_REFRESH: &str = "invalid, expired or revoked refresh token";
/// The one answer to a refused confirmation token.
const INVALID_CONFIRMATION: &str = "invalid, expired or spent confirmation token";
/// Bytes of a refresh or confirmation token's secret: 256 bits.
const REFRESH_TOKEN_BYTES: usize = 32;

/// What the login module does beyond signing tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginOptions {
    /// Lifetime of each refresh token.
    pub refresh_ttl: Duration,
    /// Roles of newly registered users.
    pub default_roles: Vec<String>,
    /// The shortest password accepted at registration, in characters.
    pub password_min_length: usize,
    /// How `POST /auth/register` answers.
    pub registration: Registration,
    /// How long a confirmation token works ([`Registration::Confirm`]).
    pub confirmation_ttl: Duration,
    /// The absolute lifetime of a session: however often it is refreshed, its refresh token
    /// stops working this long after the sign-in that started it.
    pub session_ttl: Duration,
}

impl LoginOptions {
    /// `CMMV_AUTH_REFRESH_TTL`, `CMMV_AUTH_DEFAULT_ROLES`, `CMMV_AUTH_PASSWORD_MIN_LENGTH`,
    /// `CMMV_AUTH_REGISTRATION`, `CMMV_AUTH_CONFIRMATION_TTL`, `CMMV_AUTH_SESSION_TTL`.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            session_ttl: settings.auth.session_ttl,
            refresh_ttl: settings.auth.refresh_ttl,
            default_roles: settings.auth.default_roles.clone(),
            password_min_length: settings.auth.password_min_length,
            registration: settings.auth.registration,
            confirmation_ttl: settings.auth.confirmation_ttl,
        }
    }
}

/// How registration answers, and so what it tells about addresses that already have an
/// account.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Registration {
    /// `201` with the new account, which may sign in at once; `409` when the email is taken.
    /// Simple for clients, but anyone can learn whether an address has an account here —
    /// which `/auth/login` takes care not to tell.
    #[default]
    Immediate,
    /// Enumeration-safe: `202` with the same body for every well-formed request. A new
    /// account is pending until the one-time token the app's [`AccountMailer`] sends to the
    /// address comes back through `POST /auth/confirm`; for an address that already has an
    /// account, the mailer is told so instead (to warn its owner) and nothing changes. The
    /// price: an extra step and a mail system, and clients cannot tell a typo in their
    /// address from success.
    Confirm,
}

impl Registration {
    /// The setting's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Registration::Immediate => "immediate",
            Registration::Confirm => "confirm",
        }
    }
}

impl std::str::FromStr for Registration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "immediate" => Ok(Registration::Immediate),
            "confirm" => Ok(Registration::Confirm),
            _ => Err(format!(
                "invalid registration mode {s:?} (expected immediate or confirm)"
            )),
        }
    }
}

/// What reaches a person by email for [`Registration::Confirm`]: the app's mail system,
/// implemented by the app. Calls run on a task of their own after the answer is decided, so
/// a slow mail server neither delays registration nor shows in its timing; a failure is the
/// implementation's to log and retry.
pub trait AccountMailer: Send + Sync + fmt::Debug + 'static {
    /// An account for `email` waits for `token`: send it (as a link to the app's page that
    /// posts it to `/auth/confirm`, say). The token is a credential: never log it.
    fn send_confirmation<'a>(&'a self, email: &'a str, token: &'a str) -> BoxFuture<'a, ()>;

    /// Someone tried to register `email`, which has an account: tell its owner (who may
    /// have forgotten, or may be the target of someone else).
    fn send_already_registered<'a>(&'a self, email: &'a str) -> BoxFuture<'a, ()>;
}

impl Default for LoginOptions {
    fn default() -> Self {
        Self::from_settings(&Settings::default())
    }
}

/// The login module: its routes share one store, issuer and password hasher.
#[derive(Clone)]
pub struct Login {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) store: Arc<dyn AuthStore>,
    issuer: Arc<TokenIssuer>,
    passwords: Passwords,
    options: LoginOptions,
    mailer: Option<Arc<dyn AccountMailer>>,
    /// The account contract's records, when the project binds one (`account:`).
    records: Option<Arc<dyn AccountRecords>>,
    /// The access tokens ended before their expiry (sign-outs, password changes).
    revocations: Arc<dyn Revocations>,
    /// The identity providers accounts sign in with, when any is enabled.
    pub(crate) oauth: Option<OAuth>,
}

impl Shared {
    /// Refuses with 403 and `refusal` a caller whose token names no account of this service
    /// (a token from another issuer the verifier trusts): what belongs to an account here
    /// cannot be made for it.
    pub(crate) async fn ensure_account(
        &self,
        principal: &Principal,
        refusal: &'static str,
    ) -> Result<(), Problem> {
        match self.store.user(&principal.subject).await.map_err(storage)? {
            Some(_) => Ok(()),
            None => Err(Problem::forbidden(refusal)),
        }
    }
}

impl fmt::Debug for Login {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Login")
            .field("store", &self.shared.store)
            .field("issuer", &self.shared.issuer)
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl Login {
    /// The module over `store`, signing with `issuer` and hashing with `passwords`.
    pub fn new(
        store: Arc<dyn AuthStore>,
        issuer: TokenIssuer,
        passwords: Passwords,
        options: LoginOptions,
    ) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                issuer: Arc::new(issuer),
                passwords,
                options,
                mailer: None,
                records: None,
                revocations: Arc::new(MemoryRevocations::new()),
                oauth: None,
            }),
        }
    }

    /// Sends confirmations through `mailer`; [`Registration::Confirm`] needs one (an app
    /// without it does not build).
    #[must_use]
    pub fn with_mailer(self, mailer: Arc<dyn AccountMailer>) -> Self {
        self.with(|shared| shared.mailer = Some(mailer))
    }

    /// Keeps each account's record in `records` (the generated `Stores::accounts()`): made
    /// at registration, made again or brought in step at every sign-in. An API whose
    /// documents bind a contract to the accounts needs it (an app without it does not build).
    #[must_use]
    pub fn with_records(self, records: Arc<dyn AccountRecords>) -> Self {
        self.with(|shared| shared.records = Some(records))
    }

    /// Records the access tokens that sign-outs and password changes end in `revocations`
    /// (in memory unless given: one instance; [`super::RedisRevocations`] for a fleet).
    #[must_use]
    pub fn with_revocations(self, revocations: Arc<dyn Revocations>) -> Self {
        self.with(|shared| shared.revocations = revocations)
    }

    /// Signs accounts in with the identity providers of `oauth` too (`/auth/oauth/...`).
    #[must_use]
    pub fn with_oauth(self, oauth: OAuth) -> Self {
        self.with(|shared| shared.oauth = Some(oauth))
    }

    /// The record of ended access tokens, which the app's guard consults.
    pub fn revocations(&self) -> Arc<dyn Revocations> {
        Arc::clone(&self.shared.revocations)
    }

    /// Whether the module keeps account records ([`Login::with_records`]).
    pub(crate) fn keeps_records(&self) -> bool {
        self.shared.records.is_some()
    }

    fn with(self, change: impl FnOnce(&mut Shared)) -> Self {
        let mut shared = Shared {
            store: Arc::clone(&self.shared.store),
            issuer: Arc::clone(&self.shared.issuer),
            passwords: self.shared.passwords.clone(),
            options: self.shared.options.clone(),
            mailer: self.shared.mailer.clone(),
            records: self.shared.records.clone(),
            revocations: Arc::clone(&self.shared.revocations),
            oauth: self.shared.oauth.clone(),
        };
        change(&mut shared);
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Why this module cannot serve as configured, if it cannot: checked when an app
    /// mounts it.
    pub(crate) fn misconfiguration(&self) -> Option<SettingsError> {
        (self.shared.options.registration == Registration::Confirm
            && self.shared.mailer.is_none())
        .then(|| {
            SettingsError::env(
                "CMMV_AUTH_REGISTRATION",
                "`confirm` sends a token to each new address: give the login module an AccountMailer (Login::with_mailer)",
            )
        })
    }

    /// The module the settings describe: see [`TokenIssuer::from_settings`] and
    /// [`LoginOptions::from_settings`]; OWASP's argon2id costs.
    pub fn from_settings(
        store: Arc<dyn AuthStore>,
        settings: &Settings,
    ) -> Result<Self, SettingsError> {
        let issuer = TokenIssuer::from_settings(settings)?;
        // Only a system without randomness fails here: no setting is to blame.
        let passwords = Passwords::new().map_err(|e| SettingsError {
            file: None,
            key: None,
            message: e.to_string(),
        })?;
        let login = Self::new(
            store,
            issuer,
            passwords,
            LoginOptions::from_settings(settings),
        );
        match OAuth::from_settings(&settings.oauth) {
            Ok(Some(oauth)) => Ok(login.with_oauth(oauth)),
            Ok(None) => Ok(login),
            Err(message) => Err(SettingsError {
                file: None,
                key: Some("CMMV_OAUTH_PROVIDERS".to_owned()),
                message,
            }),
        }
    }

    /// The store users and tokens live in (to set roles, for instance).
    pub fn store(&self) -> &Arc<dyn AuthStore> {
        &self.shared.store
    }

    /// Deletes expired refresh tokens every `period`, on a task of the current tokio runtime,
    /// so that the table holds live sessions only. A failed round is logged and retried at
    /// the next. Abort the returned handle to stop it.
    pub fn purge_expired_every(&self, period: Duration) -> tokio::task::JoinHandle<()> {
        let store = Arc::clone(&self.shared.store);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match store.purge_expired(unix_now_i64()).await {
                    Ok(0) => {}
                    Ok(purged) => tracing::info!(purged, "expired refresh tokens deleted"),
                    Err(error) => {
                        tracing::warn!(?error, "expired refresh tokens could not be deleted");
                    }
                }
            }
        })
    }

    /// The API-key verifier of this module's store, for `AppBuilder::api_keys`.
    pub fn api_key_verifier(&self) -> Arc<dyn ApiKeyVerifier> {
        Arc::new(ApiKeys::new(Arc::clone(&self.shared.store)))
    }

    /// The routes, for `AppBuilder::routes`: generated from the module's contract, each with
    /// its guard and rate limits, as the documents describe them.
    pub fn routes(&self) -> Router {
        contract::account_routes(Arc::clone(&self.shared))
    }
}

// ---- answers -----------------------------------------------------------------------------------

impl From<User> for contract::Account {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            roles: user.roles,
            created_at: instant(user.created_at),
        }
    }
}

impl From<ApiKey> for contract::ApiKey {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            prefix: key.prefix,
            name: key.name,
            roles: key.roles,
            last4: key.last4,
            created_at: instant(key.created_at),
            expires_at: key.expires_at.map(instant),
        }
    }
}

/// A stored Unix time as the instant the contract's `datetime` fields carry.
fn instant(unix: i64) -> DateTime {
    DateTime(
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
    )
}

fn invalid_credentials() -> Problem {
    Problem::unauthorized(INVALID_CREDENTIALS, "Bearer")
}

fn invalid_refresh() -> Problem {
    Problem::unauthorized(INVALID_REFRESH, "Bearer error=\"invalid_token\"")
}

fn storage(error: crate::store::StoreError) -> Problem {
    error.into_problem("user", None)
}

fn no_randomness() -> Problem {
    tracing::error!("the system gives no randomness");
    Problem::unavailable("credentials cannot be issued right now; retry later")
}
