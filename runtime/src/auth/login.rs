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

use super::api_keys::{self, ApiKeys};
use super::audit::{self, AuditEvent};
use super::contract;
use super::issuer::{TokenIssuer, unix_now_i64};
use super::oauth::{self, OAuth};
use super::password::Passwords;
use super::password::normalize_password;
use super::records::AccountRecords;
use super::revocation::{MemoryRevocations, Revocations};
use super::secret::{random_hex, sha256_hex};
use super::store::{
    ApiKey, AuthStore, NewConfirmation, NewRefreshToken, NewUser, Rotation, SessionClient, User,
    normalize_email,
};
use super::{ApiKeyVerifier, Principal, Scheme};
use crate::extract::{Context, Cookies};
use crate::problem::{FieldError, Problem};
use crate::respond::Redirect;
use crate::settings::{Settings, SettingsError};
use crate::store::BoxFuture;
use crate::types::DateTime;
use crate::validate::Format;

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

// ---- handlers ----------------------------------------------------------------------------------

/// The module's operations, as its contract declares them: the generated routes decode and
/// check each body, guard each route and limit it, and call these.
impl contract::AccountHandlers for Shared {
    async fn list_oauth_providers(
        &self,
        _ctx: Context,
    ) -> Result<contract::OAuthProviderList, Problem> {
        Ok(oauth::list_providers(self))
    }

    async fn oauth_start(
        &self,
        _ctx: Context,
        provider: String,
        query: contract::AccountOauthStartQuery,
    ) -> Result<Redirect, Problem> {
        oauth::start(self, &provider, query.link).await
    }

    async fn oauth_callback(
        &self,
        ctx: Context,
        provider: String,
        query: contract::AccountOauthCallbackQuery,
        cookies: Cookies,
    ) -> Result<Redirect, Problem> {
        oauth::callback(self, &ctx, &provider, query, &cookies).await
    }

    async fn oauth_exchange(
        &self,
        ctx: Context,
        cookies: Cookies,
        body: contract::OAuthExchange,
    ) -> Result<contract::Tokens, Problem> {
        oauth::exchange(self, &ctx, &body.code, &cookies).await
    }

    async fn confirm_oauth_link(
        &self,
        ctx: Context,
        cookies: Cookies,
        body: contract::OAuthExchange,
    ) -> Result<(), Problem> {
        oauth::confirm_link(self, &ctx, &body.code, &cookies).await
    }

    async fn link_oauth(
        &self,
        ctx: Context,
        provider: String,
    ) -> Result<contract::OAuthLinkStart, Problem> {
        oauth::link_start(self, &ctx, &provider).await
    }

    async fn list_identities(&self, ctx: Context) -> Result<contract::IdentityList, Problem> {
        oauth::identities(self, &ctx).await
    }

    async fn unlink_identity(
        &self,
        ctx: Context,
        provider: String,
        subject: String,
    ) -> Result<(), Problem> {
        oauth::unlink(self, &ctx, &provider, &subject).await
    }

    async fn register(
        &self,
        ctx: Context,
        body: contract::NewAccount,
    ) -> Result<contract::AccountRegisterReply, Problem> {
        let email = normalize_email(&body.email).filter(|email| Format::Email.matches(email));
        let mut errors = Vec::new();
        if email.is_none() {
            errors.push(FieldError::at("/email", "format", "must be a valid email"));
        }
        let min = self.options.password_min_length;
        if normalize_password(&body.password).chars().count() < min {
            errors.push(FieldError::at(
                "/password",
                "min_length",
                format!("must be at least {min} characters"),
            ));
        }
        let Some(email) = email.filter(|_| errors.is_empty()) else {
            return Err(Problem::validation(errors));
        };
        let password_hash = self
            .passwords
            .hash_blocking(body.password)
            .await
            .map_err(|error| {
                tracing::error!(%error, "password hashing failed");
                Problem::unavailable("accounts cannot be created right now; retry later")
            })?;
        let now = unix_now_i64();
        match self.options.registration {
            Registration::Immediate => {
                let user = self
                    .store
                    .create_user(new_user(self, email, Some(password_hash), now, None))
                    .await
                    .map_err(storage)?;
                // The account exists either way: a record that cannot be made now is made
                // at its first sign-in, which tries again.
                if let Err(error) = ensure_record(self, &user).await {
                    tracing::warn!(%error, "the new account's record is left to its first sign-in");
                }
                audit::record(AuditEvent::Registered, &ctx, Some(&user.id), None);
                Ok(contract::AccountRegisterReply::Created(user.into()))
            }
            Registration::Confirm => register_pending(self, email, password_hash, now).await,
        }
    }

    async fn confirm(
        &self,
        ctx: Context,
        body: contract::ConfirmationToken,
    ) -> Result<contract::Tokens, Problem> {
        let user = self
            .store
            .confirm(&sha256_hex(&body.token), unix_now_i64())
            .await
            .map_err(storage)?
            .ok_or_else(|| Problem::bad_request(INVALID_CONFIRMATION))?;
        // The mailbox's owner just proved it: sign them in.
        let tokens = start_session(self, &user, &ctx.client).await?;
        audit::record(AuditEvent::SignedIn, &ctx, Some(&user.id), None);
        Ok(tokens)
    }

    async fn login(
        &self,
        ctx: Context,
        body: contract::Credentials,
    ) -> Result<contract::Tokens, Problem> {
        let found = match normalize_email(&body.email) {
            Some(email) => self.store.user_by_email(&email).await.map_err(storage)?,
            None => None,
        };
        // An unknown user, and an account without a password, are checked against the dummy
        // hash: the same work, the same answer.
        // So is a pending one: its password is checked, but it signs in only once confirmed.
        let stored = found.as_ref().and_then(|c| c.password_hash.clone());
        let verified = self
            .passwords
            .verify_blocking(body.password.clone(), stored)
            .await;
        match found {
            Some(credentials) if verified && credentials.user.confirmed => {
                let mut verified_hash = credentials.password_hash.clone();
                if let Some(old) = credentials
                    .password_hash
                    .as_deref()
                    .filter(|hash| self.passwords.needs_rehash(hash))
                {
                    if let Some(renewed) =
                        rehash(self, &credentials.user.id, old, body.password).await
                    {
                        verified_hash = Some(renewed);
                    }
                }
                let user = &credentials.user;
                let (family, refresh_token) = open_session(self, user, &ctx.client).await?;
                // A password change that finished while this sign-in checked the old password
                // ended every session before this one existed: this one must not outlive it.
                let current = self
                    .store
                    .user_by_email(&user.email)
                    .await
                    .map_err(storage)?
                    .and_then(|c| c.password_hash);
                if current != verified_hash {
                    self.store
                        .revoke_session(&user.id, &family, unix_now_i64())
                        .await
                        .map_err(storage)?;
                    audit::record(AuditEvent::SignInFailed, &ctx, Some(&user.id), None);
                    return Err(invalid_credentials());
                }
                let tokens = tokens(self, user, &family, refresh_token)?;
                audit::record(AuditEvent::SignedIn, &ctx, Some(&user.id), None);
                Ok(tokens)
            }
            found => {
                // The account, when there is one: its owner sees attempts at their account.
                let user_id = found.as_ref().map(|c| c.user.id.as_str());
                audit::record(AuditEvent::SignInFailed, &ctx, user_id, None);
                Err(invalid_credentials())
            }
        }
    }

    async fn refresh(
        &self,
        ctx: Context,
        body: contract::RefreshToken,
    ) -> Result<contract::Tokens, Problem> {
        let now = unix_now_i64();
        let (refresh_token, next) = new_refresh_token(self, now)?;
        let rotation = self
            .store
            .rotate(
                &sha256_hex(&body.refresh_token),
                next,
                now.saturating_sub(seconds(self.options.session_ttl)),
                now,
            )
            .await
            .map_err(storage)?;
        let (user_id, session) = match rotation {
            Rotation::Rotated { user_id, family_id } => (user_id, family_id),
            Rotation::Reused { user_id, family_id } => {
                // Either the client retried a refresh whose answer it lost, or someone else
                // holds a copy of the token; both end the session, its access tokens with it,
                // which is the safe reading.
                audit::record(
                    AuditEvent::RefreshReused,
                    &ctx,
                    Some(&user_id),
                    Some(&family_id),
                );
                end_access_tokens(self, &family_id, now).await?;
                return Err(invalid_refresh());
            }
            Rotation::Invalid => return Err(invalid_refresh()),
        };
        let user = self
            .store
            .user(&user_id)
            .await
            .map_err(storage)?
            .ok_or_else(invalid_refresh)?;
        tokens(self, &user, &session, refresh_token)
    }

    async fn logout(&self, ctx: Context, body: contract::RefreshToken) -> Result<(), Problem> {
        // The same answer whether the token was live: logging out twice is not an error, and
        // an unknown token learns nothing.
        let now = unix_now_i64();
        let ended = self
            .store
            .revoke_family(&sha256_hex(&body.refresh_token), now)
            .await
            .map_err(storage)?;
        if let Some(session) = ended {
            end_access_tokens(self, &session, now).await?;
            audit::record(AuditEvent::SignedOut, &ctx, None, Some(&session));
        }
        Ok(())
    }

    async fn me(&self, ctx: Context) -> Result<contract::Identity, Problem> {
        let principal = signed_in(&ctx)?;
        let email = self
            .store
            .user(&principal.subject)
            .await
            .map_err(storage)?
            .map(|user| user.email);
        Ok(contract::Identity {
            subject: principal.subject.clone(),
            roles: principal.roles.clone(),
            scheme: match principal.scheme {
                Scheme::Bearer => contract::IdentityScheme::Bearer,
                Scheme::ApiKey => contract::IdentityScheme::ApiKey,
            },
            email,
        })
    }

    async fn list_sessions(&self, ctx: Context) -> Result<contract::SessionList, Problem> {
        let principal = managing_sessions(&ctx)?;
        let now = unix_now_i64();
        let sessions = self
            .store
            .sessions(
                &principal.subject,
                now.saturating_sub(seconds(self.options.session_ttl)),
                now,
            )
            .await
            .map_err(storage)?;
        let items = sessions
            .into_iter()
            .map(|session| contract::Session {
                current: principal.session.as_deref() == Some(session.id.as_str()),
                id: session.id,
                created_at: instant(session.created_at),
                last_used_at: instant(session.last_used_at),
                client_ip: session.client.ip,
                user_agent: session.client.user_agent,
            })
            .collect();
        Ok(contract::SessionList { items })
    }

    async fn revoke_session(&self, ctx: Context, session_id: String) -> Result<(), Problem> {
        let principal = managing_sessions(&ctx)?;
        let now = unix_now_i64();
        let revoked = self
            .store
            .revoke_session(&principal.subject, &session_id, now)
            .await
            .map_err(storage)?;
        if !revoked {
            return Err(Problem::not_found("no session of yours has this id"));
        }
        end_access_tokens(self, &session_id, now).await?;
        audit::record(
            AuditEvent::SessionRevoked,
            &ctx,
            Some(&principal.subject),
            Some(&session_id),
        );
        Ok(())
    }

    async fn revoke_sessions(&self, ctx: Context) -> Result<(), Problem> {
        let principal = managing_sessions(&ctx)?;
        let now = unix_now_i64();
        let ended = self
            .store
            .revoke_sessions(&principal.subject, now)
            .await
            .map_err(storage)?;
        for session in &ended {
            end_access_tokens(self, session, now).await?;
        }
        audit::record(
            AuditEvent::SessionsRevoked,
            &ctx,
            Some(&principal.subject),
            None,
        );
        Ok(())
    }

    async fn change_password(
        &self,
        ctx: Context,
        body: contract::PasswordChange,
    ) -> Result<contract::Tokens, Problem> {
        let principal = managing_sessions(&ctx)?;
        let min = self.options.password_min_length;
        if normalize_password(&body.new_password).chars().count() < min {
            return Err(Problem::validation(vec![FieldError::at(
                "/new_password",
                "min_length",
                format!("must be at least {min} characters"),
            )]));
        }
        let account = match self.store.user(&principal.subject).await.map_err(storage)? {
            Some(user) => self
                .store
                .user_by_email(&user.email)
                .await
                .map_err(storage)?,
            None => None,
        };
        let stored = account.as_ref().and_then(|c| c.password_hash.clone());
        let verified = self
            .passwords
            .verify_blocking(body.current_password, stored)
            .await;
        let Some(credentials) = account.filter(|_| verified) else {
            audit::record(
                AuditEvent::PasswordChangeRefused,
                &ctx,
                Some(&principal.subject),
                principal.session.as_deref(),
            );
            return Err(Problem::forbidden("the current password is wrong"));
        };
        let hash = self
            .passwords
            .hash_blocking(body.new_password)
            .await
            .map_err(|error| {
                tracing::error!(%error, "password hashing failed");
                Problem::unavailable("the password cannot be changed right now; retry later")
            })?;
        let user = credentials.user;
        // Whoever else holds a session of this account (a thief, the reason for the change)
        // holds nothing any more: every session ends with its access tokens, and every API key
        // (one minted with a stolen session must not outlive it). All of that is recorded
        // before the password changes, so that a change that fails half-way is retried with
        // the same current password, and ends the same sessions again.
        let now = unix_now_i64();
        let ended = self
            .store
            .revoke_sessions(&user.id, now)
            .await
            .map_err(storage)?;
        for session in &ended {
            end_access_tokens(self, session, now).await?;
        }
        let keys = self
            .store
            .revoke_api_keys(&user.id, now)
            .await
            .map_err(storage)?;
        self.store
            .set_password_hash(&user.id, hash)
            .await
            .map_err(storage)?;
        // Once more: a sign-in with the old password that started its session between the
        // first ending and the change is ended too (one that starts later finds the new hash,
        // see `login`).
        let now = unix_now_i64();
        for session in self
            .store
            .revoke_sessions(&user.id, now)
            .await
            .map_err(storage)?
        {
            end_access_tokens(self, &session, now).await?;
        }
        let tokens = start_session(self, &user, &ctx.client).await?;
        audit::record(AuditEvent::PasswordChanged, &ctx, Some(&user.id), None);
        if keys > 0 {
            tracing::info!(target: audit::AUDIT_TARGET, event = "api_keys_revoked", user_id = %user.id, keys, "audit");
        }
        Ok(tokens)
    }

    async fn create_api_key(
        &self,
        ctx: Context,
        body: contract::NewApiKey,
    ) -> Result<contract::CreatedApiKey, Problem> {
        let principal = managing_keys(&ctx)?;
        // A key acts as the account that made it: a token from elsewhere, whose subject has no
        // account here, has nothing for a key to act as.
        if self
            .store
            .user(&principal.subject)
            .await
            .map_err(storage)?
            .is_none()
        {
            return Err(Problem::forbidden(
                "API keys belong to accounts of this service, and the caller's token names none",
            ));
        }
        let now = unix_now_i64();
        let name = body.name.trim().to_owned();
        let roles = body.roles.unwrap_or_else(|| principal.roles.clone());
        let mut errors: Vec<FieldError> = Vec::new();
        // The contract bounds the length as sent; a name of spaces only is empty once trimmed.
        if name.is_empty() {
            errors.push(FieldError::at(
                "/name",
                "min_length",
                "must hold more than spaces",
            ));
        }
        errors.extend(
            roles
                .iter()
                .enumerate()
                .filter(|(_, role)| !principal.has_role(role))
                .map(|(i, _)| {
                    FieldError::at(
                        format!("/roles/{i}"),
                        "subset",
                        "an API key cannot hold a role its creator does not",
                    )
                }),
        );
        let expires_at = body.expires_at.map(|at| at.0.unix_timestamp());
        if expires_at.is_some_and(|at| at <= now) {
            errors.push(FieldError::at(
                "/expires_at",
                "future",
                "must be in the future",
            ));
        }
        if !errors.is_empty() {
            return Err(Problem::validation(errors));
        }
        let (key, text) = api_keys::create(&*self.store, |minted| ApiKey {
            id: uuid::Uuid::now_v7().to_string(),
            prefix: minted.prefix.clone(),
            user_id: principal.subject.clone(),
            name: name.clone(),
            roles: roles.clone(),
            last4: minted.last4.clone(),
            created_at: now,
            expires_at,
        })
        .await
        .map_err(storage)?;
        audit::record_details(
            AuditEvent::ApiKeyCreated,
            &ctx,
            audit::Details {
                user_id: Some(&principal.subject),
                session: principal.session.as_deref(),
                api_key: Some(&key.id),
                ..audit::Details::default()
            },
        );
        let view = contract::ApiKey::from(key);
        Ok(contract::CreatedApiKey {
            id: view.id,
            prefix: view.prefix,
            name: view.name,
            roles: view.roles,
            last4: view.last4,
            created_at: view.created_at,
            expires_at: view.expires_at,
            key: text,
        })
    }

    async fn list_api_keys(&self, ctx: Context) -> Result<contract::ApiKeyList, Problem> {
        let principal = managing_keys(&ctx)?;
        let keys = self
            .store
            .api_keys(&principal.subject)
            .await
            .map_err(storage)?;
        Ok(contract::ApiKeyList {
            items: keys.into_iter().map(contract::ApiKey::from).collect(),
        })
    }

    async fn revoke_api_key(&self, ctx: Context, key_id: String) -> Result<(), Problem> {
        let principal = managing_keys(&ctx)?;
        let revoked = self
            .store
            .revoke_api_key(&principal.subject, &key_id, unix_now_i64())
            .await
            .map_err(storage)?;
        if revoked {
            audit::record_details(
                AuditEvent::ApiKeyRevoked,
                &ctx,
                audit::Details {
                    user_id: Some(&principal.subject),
                    session: principal.session.as_deref(),
                    api_key: Some(&key_id),
                    ..audit::Details::default()
                },
            );
            Ok(())
        } else {
            Err(Problem::not_found(format!(
                "no live API key `{key_id}` of yours"
            )))
        }
    }
}

/// A new account with the default roles; its email unproven and no identity, which the OAuth
/// flow changes for an account it makes.
pub(crate) fn new_user(
    shared: &Shared,
    email: String,
    password_hash: Option<String>,
    now: i64,
    confirmation: Option<NewConfirmation>,
) -> NewUser {
    NewUser {
        id: uuid::Uuid::now_v7().to_string(),
        email,
        password_hash,
        email_verified: false,
        identity: None,
        roles: shared.options.default_roles.clone(),
        created_at: now,
        confirmation,
    }
}

/// The enumeration-safe registration: the same `202` and body whether the address is new,
/// pending or taken, after the same work (the password was hashed either way); what differs
/// happens in the mail the address's owner gets.
async fn register_pending(
    shared: &Shared,
    email: String,
    password_hash: String,
    now: i64,
) -> Result<contract::AccountRegisterReply, Problem> {
    let token = random_hex(REFRESH_TOKEN_BYTES).ok_or_else(no_randomness)?;
    let ttl = i64::try_from(shared.options.confirmation_ttl.as_secs()).unwrap_or(i64::MAX);
    let confirmation = NewConfirmation {
        hash: sha256_hex(&token),
        expires_at: now.saturating_add(ttl),
    };
    let created = shared
        .store
        .create_user(new_user(
            shared,
            email.clone(),
            Some(password_hash.clone()),
            now,
            Some(confirmation.clone()),
        ))
        .await;
    let sent_token = match created {
        Ok(_) => true,
        Err(crate::store::StoreError::Conflict { .. }) => shared
            .store
            .restart_confirmation(&email, password_hash, confirmation)
            .await
            .map_err(storage)?,
        Err(error) => return Err(storage(error)),
    };
    if let Some(mailer) = &shared.mailer {
        let mailer = Arc::clone(mailer);
        let to = email.clone();
        tokio::spawn(async move {
            if sent_token {
                mailer.send_confirmation(&to, &token).await;
            } else {
                mailer.send_already_registered(&to).await;
            }
        });
    }
    Ok(contract::AccountRegisterReply::Accepted(
        contract::PendingRegistration {
            email,
            status: contract::PendingRegistrationStatus::PendingConfirmation,
        },
    ))
}

/// A new refresh-token family for `user` and a first access token.
pub(crate) async fn start_session(
    shared: &Shared,
    user: &User,
    client: &SessionClient,
) -> Result<contract::Tokens, Problem> {
    let (family, refresh_token) = open_session(shared, user, client).await?;
    tokens(shared, user, &family, refresh_token)
}

/// A new refresh-token family for `user`: its id and first refresh token, no access token yet.
async fn open_session(
    shared: &Shared,
    user: &User,
    client: &SessionClient,
) -> Result<(String, String), Problem> {
    // The tokens name the account: the record they lead to exists before they do.
    match ensure_record(shared, user).await {
        Ok(()) => {}
        // A record of another id holds the account's email (a row from before the contract
        // was bound to the accounts): the account still signs in, and the operator is told to
        // resolve the duplicate; its `me` answers 401 until then.
        Err(crate::store::StoreError::Conflict { field }) => tracing::error!(
            user_id = %user.id,
            field,
            "the account's record cannot be made: another record holds the same value; resolve the duplicate"
        ),
        Err(error) => return Err(error.into_problem("account record", None)),
    }
    let now = unix_now_i64();
    let (refresh_token, next) = new_refresh_token(shared, now)?;
    // Time-ordered, so that sessions started within one second still list in order.
    let family = uuid::Uuid::now_v7().to_string();
    shared
        .store
        .start_family(&family, &user.id, next, client.clone(), now)
        .await
        .map_err(storage)?;
    Ok((family, refresh_token))
}

/// Hashes a password that just verified again with the current costs. A failure changes
/// nothing the user sees: the old hash still verifies, and the next sign-in tries again.
/// The new hash replaces `old` only if the password did not change meanwhile (a concurrent
/// password change must not be undone by the old password's renewed hash).
/// The renewed hash, when it replaced `old`.
async fn rehash(shared: &Shared, user_id: &str, old: &str, password: String) -> Option<String> {
    let rehashed = match shared.passwords.hash_blocking(password).await {
        Ok(hash) => shared
            .store
            .renew_password_hash(user_id, old, hash.clone())
            .await
            .map(|renewed| renewed.then_some(hash))
            .map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    match rehashed {
        Ok(Some(hash)) => {
            tracing::info!(user_id, "password hash renewed with the current costs");
            Some(hash)
        }
        Ok(None) => {
            tracing::info!(user_id, "password changed meanwhile; hash not renewed");
            None
        }
        Err(error) => {
            tracing::warn!(user_id, %error, "password hash not renewed");
            None
        }
    }
}

/// Ends the access tokens of `session`: recorded until the last of them has expired anyway,
/// the verifiers' clock leeway included (at most `CMMV_JWT_LEEWAY`'s ceiling, whatever it is set to).
async fn end_access_tokens(shared: &Shared, session: &str, now: i64) -> Result<(), Problem> {
    let until = now
        .saturating_add(seconds(shared.issuer.ttl()))
        .saturating_add(seconds(crate::settings::JWT_MAX_LEEWAY));
    shared
        .revocations
        .revoke_session(session, until)
        .await
        .map_err(storage)
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Makes sure `user` has its record in the account contract's store, if the project binds one.
async fn ensure_record(shared: &Shared, user: &User) -> Result<(), crate::store::StoreError> {
    match &shared.records {
        Some(records) => records.ensure(&user.id, &user.email).await,
        None => Ok(()),
    }
}

fn new_refresh_token(shared: &Shared, now: i64) -> Result<(String, NewRefreshToken), Problem> {
    let token = random_hex(REFRESH_TOKEN_BYTES).ok_or_else(no_randomness)?;
    let ttl = i64::try_from(shared.options.refresh_ttl.as_secs()).unwrap_or(i64::MAX);
    let next = NewRefreshToken {
        hash: sha256_hex(&token),
        expires_at: now.saturating_add(ttl),
    };
    Ok((token, next))
}

fn tokens(
    shared: &Shared,
    user: &User,
    session: &str,
    refresh_token: String,
) -> Result<contract::Tokens, Problem> {
    let access = shared
        .issuer
        .issue_in(&user.id, &user.roles, Some(session))
        .map_err(|error| {
            tracing::error!(%error, "access token not signed");
            Problem::internal()
        })?;
    Ok(contract::Tokens {
        access_token: access.token,
        token_type: "Bearer".to_owned(),
        expires_in: seconds(access.expires_in),
        refresh_token,
        refresh_expires_in: seconds(shared.options.refresh_ttl),
    })
}

/// The caller of an operation the contract guards (`auth: authenticated`): the guard admitted
/// only those it authenticated.
fn signed_in(ctx: &Context) -> Result<&Principal, Problem> {
    ctx.principal
        .as_deref()
        .ok_or_else(|| Problem::unauthorized("credentials are required", "Bearer"))
}

/// Sessions, passwords, API keys and identities are managed by a signed-in user (a bearer
/// token), never with an API key, which belongs to no session and no person at the desk: a
/// leaked key must not sign its owner out, change their password, mint keys that outlive its
/// own revocation, or link identities. `what` names the thing managed, for the 403.
pub(crate) fn with_bearer<'c>(ctx: &'c Context, what: &str) -> Result<&'c Principal, Problem> {
    let principal = signed_in(ctx)?;
    if principal.scheme == Scheme::Bearer {
        Ok(principal)
    } else {
        Err(Problem::forbidden(format!(
            "{what} are managed with a bearer token from /auth/login, not with an API key"
        )))
    }
}

fn managing_sessions(ctx: &Context) -> Result<&Principal, Problem> {
    with_bearer(ctx, "sessions")
}

fn managing_keys(ctx: &Context) -> Result<&Principal, Problem> {
    with_bearer(ctx, "API keys")
}
