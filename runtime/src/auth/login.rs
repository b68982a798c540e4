//! The login module: register, login, refresh, logout, me, and API-key management, as a
//! router the app mounts.
//!
//! | route | access | body | answer |
//! | --- | --- | --- | --- |
//! | `POST /auth/register` | public | `{email, password}` | 201 the user; 409 email taken; 422 (with [`Registration::Confirm`]: 202 alike for every address) |
//! | `POST /auth/confirm` | public, [`Registration::Confirm`] only | `{token}` | 200 tokens; 400 |
//! | `POST /auth/login` | public | `{email, password}` | 200 tokens; 401 |
//! | `POST /auth/refresh` | public | `{refresh_token}` | 200 new tokens; 401 |
//! | `POST /auth/logout` | public | `{refresh_token}` | 204, whatever the token |
//! | `GET /auth/me` | authenticated | | 200 `{subject, roles, scheme, email}` |
//! | `POST /auth/api-keys` | bearer token | `{name, roles?, expires_at?}` | 201 with the key, shown once |
//! | `GET /auth/api-keys` | bearer token | | 200 `{items: [...]}`, the caller's live keys |
//! | `DELETE /auth/api-keys/{id}` | bearer token | | 204; 404 unless a live key of the caller |
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
//! Mount it with `AppBuilder::login`: its routes, its rate limits (so login attempts are
//! limited per client IP by the app's limiter, in process or Redis), its API keys as a
//! credential every guard accepts, and a readiness check of its store:
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
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;
use serde_json::Value;

use super::api_keys::{self, ApiKeys};
use super::issuer::{TokenIssuer, unix_now_i64};
use super::password::Passwords;
use super::password::normalize_password;
use super::secret::{random_hex, sha256_hex};
use super::store::{
    ApiKey, AuthStore, NewConfirmation, NewRefreshToken, NewUser, Rotation, User, normalize_email,
};
use super::{Access, ApiKeyVerifier, Principal, Scheme};
use crate::extract::JsonBody;
use crate::operation;
use crate::problem::{FieldError, Problem};
use crate::ratelimit::{FailMode, KeyKind, Policy};
use crate::settings::{AUTH_MAX_PASSWORD_LENGTH, Settings, SettingsError};
use crate::store::BoxFuture;
use crate::types::DateTime;
use crate::validate::{
    At, Check, Errors, Format, FromJson, Presence, Rules, field, object, required,
};

/// The route that creates an account from `{email, password}`; public, limited by
/// [`REGISTER_POLICY`].
pub const REGISTER_PATH: &str = "/auth/register";
/// The route that exchanges `{email, password}` for an access and a refresh token;
/// public, limited by [`LOGIN_POLICY`].
pub const LOGIN_PATH: &str = "/auth/login";
/// The route that rotates a refresh token into new tokens; public, limited by
/// [`REFRESH_POLICY`].
pub const REFRESH_PATH: &str = "/auth/refresh";
/// The route that revokes the family of a refresh token (the login it came from); public,
/// limited by [`REFRESH_POLICY`].
pub const LOGOUT_PATH: &str = "/auth/logout";
/// The route that tells the caller who they are (subject, roles, scheme, email); any
/// authenticated caller.
pub const ME_PATH: &str = "/auth/me";
/// The route that lists the caller's live API keys (`GET`) or creates one (`POST`); bearer
/// tokens only.
pub const API_KEYS_PATH: &str = "/auth/api-keys";
/// The route that revokes one of the caller's API keys by its id (`DELETE`); bearer tokens
/// only.
pub const API_KEY_PATH: &str = "/auth/api-keys/{id}";
/// Mounted only with [`Registration::Confirm`].
pub const CONFIRM_PATH: &str = "/auth/confirm";

/// Login attempts per client (each IPv4 address, each IPv6 /64): 10 a minute, 5 at once. Enough for a person mistyping,
/// far too few for guessing passwords; credential stuffing from many IPs needs more than a
/// rate limit (and is why failures take a full argon2 verification).
pub const LOGIN_POLICY: Policy = Policy {
    id: "auth.login",
    limit: 10,
    period: Duration::from_secs(60),
    burst: 5,
    key: KeyKind::Ip,
    on_error: FailMode::Local,
};

/// Registrations per client IP: 10 an hour, 3 at once.
pub const REGISTER_POLICY: Policy = Policy {
    id: "auth.register",
    limit: 10,
    period: Duration::from_secs(3600),
    burst: 3,
    key: KeyKind::Ip,
    on_error: FailMode::Local,
};

/// Refreshes, logouts and confirmations per client IP: 60 a minute, 10 at once; a client refreshes once
/// per access-token lifetime, so this only stops guessing.
pub const REFRESH_POLICY: Policy = Policy {
    id: "auth.refresh",
    limit: 60,
    period: Duration::from_secs(60),
    burst: 10,
    key: KeyKind::Ip,
    on_error: FailMode::Local,
};

/// The rate limits of the login routes, in the shape of generated `RATE_LIMITS` (the routes
/// carry them; this table describes them). When a shared (Redis)
/// limiter cannot decide, these policies fall back on an in-process limiter
/// ([`FailMode::Local`]) whatever `CMMV_RATE_LIMIT_FAIL` says: failing open would switch off
/// the one defence against password guessing exactly when Redis is down.
pub const LOGIN_RATE_LIMITS: &[(&str, &str, &[Policy])] = &[
    ("POST", LOGIN_PATH, &[LOGIN_POLICY]),
    ("POST", REGISTER_PATH, &[REGISTER_POLICY]),
    ("POST", REFRESH_PATH, &[REFRESH_POLICY]),
    ("POST", LOGOUT_PATH, &[REFRESH_POLICY]),
    ("POST", CONFIRM_PATH, &[REFRESH_POLICY]),
];

/// The one answer to a failed login.
const INVALID_CREDENTIALS: &str = "invalid email or password";
/// The one answer to a refused refresh token.
const INVALID_REFRESH: &str = "invalid, expired or revoked refresh token";
/// The one answer to a refused confirmation token.
const INVALID_CONFIRMATION: &str = "invalid, expired or spent confirmation token";
/// Bytes of a refresh or confirmation token's secret: 256 bits.
const REFRESH_TOKEN_BYTES: usize = 32;
/// The longest email accepted (RFC 5321's path limit).
const MAX_EMAIL_LENGTH: usize = 254;
/// The longest API-key name.
const MAX_KEY_NAME_LENGTH: usize = 100;

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
}

impl LoginOptions {
    /// `CMMV_AUTH_REFRESH_TTL`, `CMMV_AUTH_DEFAULT_ROLES`, `CMMV_AUTH_PASSWORD_MIN_LENGTH`,
    /// `CMMV_AUTH_REGISTRATION`, `CMMV_AUTH_CONFIRMATION_TTL`.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
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

struct Shared {
    store: Arc<dyn AuthStore>,
    issuer: Arc<TokenIssuer>,
    passwords: Passwords,
    options: LoginOptions,
    mailer: Option<Arc<dyn AccountMailer>>,
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
            }),
        }
    }

    /// Sends confirmations through `mailer`; [`Registration::Confirm`] needs one (an app
    /// without it does not build).
    #[must_use]
    pub fn with_mailer(self, mailer: Arc<dyn AccountMailer>) -> Self {
        let shared = Shared {
            store: Arc::clone(&self.shared.store),
            issuer: Arc::clone(&self.shared.issuer),
            passwords: self.shared.passwords.clone(),
            options: self.shared.options.clone(),
            mailer: Some(mailer),
        };
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
        Ok(Self::new(
            store,
            issuer,
            passwords,
            LoginOptions::from_settings(settings),
        ))
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

    /// The routes, for `AppBuilder::routes`; each carries its rate limits and its guard, as
    /// generated operations do.
    pub fn routes(&self) -> Router {
        const SIGNED_IN: Access = Access::Authenticated;
        let confirm = match self.shared.options.registration {
            Registration::Immediate => Router::new(),
            Registration::Confirm => Router::new().route(
                CONFIRM_PATH,
                post(operation(confirm, Access::Public, &[REFRESH_POLICY])),
            ),
        };
        Router::new()
            .merge(confirm)
            .route(
                REGISTER_PATH,
                post(operation(register, Access::Public, &[REGISTER_POLICY])),
            )
            .route(
                LOGIN_PATH,
                post(operation(login, Access::Public, &[LOGIN_POLICY])),
            )
            .route(
                REFRESH_PATH,
                post(operation(refresh, Access::Public, &[REFRESH_POLICY])),
            )
            .route(
                LOGOUT_PATH,
                post(operation(logout, Access::Public, &[REFRESH_POLICY])),
            )
            .route(ME_PATH, get(operation(me, SIGNED_IN, &[])))
            .route(
                API_KEYS_PATH,
                get(operation(list_api_keys, SIGNED_IN, &[])).post(operation(
                    create_api_key,
                    SIGNED_IN,
                    &[],
                )),
            )
            .route(
                API_KEY_PATH,
                axum::routing::delete(operation(revoke_api_key, SIGNED_IN, &[])),
            )
            .with_state(Arc::clone(&self.shared))
    }
}

// ---- bodies ------------------------------------------------------------------------------------

/// `{email, password}` of register and login.
#[derive(Clone)]
struct Credentials {
    email: String,
    password: String,
}

impl FromJson for Credentials {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        let map = object(value, at, &["email", "password"], errors)?;
        let email = required::<String>(map, at, "email", errors);
        let password = required::<String>(map, at, "password", errors);
        Some(Self {
            email: email?,
            password: password?,
        })
    }
}

impl Check for Credentials {
    fn check(&self, _rules: &Rules, at: &At<'_>, errors: &mut Errors) {
        if self.email.chars().count() > MAX_EMAIL_LENGTH {
            errors.push(
                &at.key("email"),
                "max_length",
                format!("must be at most {MAX_EMAIL_LENGTH} characters"),
            );
        }
        if self.password.chars().count() > AUTH_MAX_PASSWORD_LENGTH {
            errors.push(
                &at.key("password"),
                "max_length",
                format!("must be at most {AUTH_MAX_PASSWORD_LENGTH} characters"),
            );
        }
    }
}

/// `{token}` of a confirmation.
struct TokenBody {
    token: String,
}

impl FromJson for TokenBody {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        let map = object(value, at, &["token"], errors)?;
        let token = required::<String>(map, at, "token", errors)?;
        Some(Self { token })
    }
}

impl Check for TokenBody {
    fn check(&self, _rules: &Rules, _at: &At<'_>, _errors: &mut Errors) {}
}

/// `{refresh_token}` of refresh and logout.
struct RefreshBody {
    refresh_token: String,
}

impl FromJson for RefreshBody {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        let map = object(value, at, &["refresh_token"], errors)?;
        let refresh_token = required::<String>(map, at, "refresh_token", errors)?;
        Some(Self { refresh_token })
    }
}

impl Check for RefreshBody {
    fn check(&self, _rules: &Rules, _at: &At<'_>, _errors: &mut Errors) {}
}

/// `{name, roles?, expires_at?}` of a new API key.
struct NewKeyBody {
    name: String,
    roles: Option<Vec<String>>,
    expires_at: Option<DateTime>,
}

impl FromJson for NewKeyBody {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        let optional = Presence {
            required: false,
            nullable: true,
        };
        let map = object(value, at, &["name", "roles", "expires_at"], errors)?;
        let name = required::<String>(map, at, "name", errors);
        let roles = field::<Vec<String>>(map, at, "roles", optional, errors);
        let expires_at = field::<DateTime>(map, at, "expires_at", optional, errors);
        Some(Self {
            name: name?,
            roles: roles?,
            expires_at: expires_at?,
        })
    }
}

impl Check for NewKeyBody {
    fn check(&self, _rules: &Rules, at: &At<'_>, errors: &mut Errors) {
        let length = self.name.trim().chars().count();
        if length == 0 || length > MAX_KEY_NAME_LENGTH {
            errors.push(
                &at.key("name"),
                "length",
                format!("must be 1 to {MAX_KEY_NAME_LENGTH} characters"),
            );
        }
    }
}

// ---- answers -----------------------------------------------------------------------------------

#[derive(Serialize)]
struct UserView {
    id: String,
    email: String,
    roles: Vec<String>,
    created_at: String,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id,
            email: user.email,
            roles: user.roles,
            created_at: rfc3339(user.created_at),
        }
    }
}

/// The answer to every well-formed registration in [`Registration::Confirm`] mode.
#[derive(Serialize)]
struct Pending {
    email: String,
    status: &'static str,
}

#[derive(Serialize)]
struct Tokens {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
    refresh_token: String,
    refresh_expires_in: u64,
}

#[derive(Serialize)]
struct Me {
    subject: String,
    roles: Vec<String>,
    scheme: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<String>,
}

#[derive(Serialize)]
struct ApiKeyView {
    id: String,
    prefix: String,
    name: String,
    roles: Vec<String>,
    last4: String,
    created_at: String,
    expires_at: Option<String>,
}

impl From<ApiKey> for ApiKeyView {
    fn from(key: ApiKey) -> Self {
        Self {
            id: key.id,
            prefix: key.prefix,
            name: key.name,
            roles: key.roles,
            last4: key.last4,
            created_at: rfc3339(key.created_at),
            expires_at: key.expires_at.map(rfc3339),
        }
    }
}

#[derive(Serialize)]
struct CreatedKey {
    #[serde(flatten)]
    view: ApiKeyView,
    /// The whole key: shown here once, never again.
    key: String,
}

#[derive(Serialize)]
struct KeyList {
    items: Vec<ApiKeyView>,
}

fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .map(|at| DateTime(at).to_string())
        .unwrap_or_default()
}

/// A JSON answer that no cache may keep: it carries secrets.
fn no_store(status: StatusCode, body: &impl Serialize) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
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

async fn register(
    State(shared): State<Arc<Shared>>,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, Problem> {
    let email = normalize_email(&body.email).filter(|email| Format::Email.matches(email));
    let mut errors = Vec::new();
    if email.is_none() {
        errors.push(FieldError::at("/email", "format", "must be a valid email"));
    }
    let min = shared.options.password_min_length;
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
    let password_hash = shared
        .passwords
        .hash_blocking(body.password)
        .await
        .map_err(|error| {
            tracing::error!(%error, "password hashing failed");
            Problem::unavailable("accounts cannot be created right now; retry later")
        })?;
    let now = unix_now_i64();
    match shared.options.registration {
        Registration::Immediate => {
            let user = shared
                .store
                .create_user(new_user(&shared, email, password_hash, now, None))
                .await
                .map_err(storage)?;
            Ok((StatusCode::CREATED, axum::Json(UserView::from(user))).into_response())
        }
        Registration::Confirm => register_pending(&shared, email, password_hash, now).await,
    }
}

fn new_user(
    shared: &Shared,
    email: String,
    password_hash: String,
    now: i64,
    confirmation: Option<NewConfirmation>,
) -> NewUser {
    NewUser {
        id: uuid::Uuid::now_v7().to_string(),
        email,
        password_hash,
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
) -> Result<Response, Problem> {
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
            password_hash.clone(),
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
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(Pending {
            email,
            status: "pending_confirmation",
        }),
    )
        .into_response())
}

async fn confirm(
    State(shared): State<Arc<Shared>>,
    JsonBody(body): JsonBody<TokenBody>,
) -> Result<Response, Problem> {
    let user = shared
        .store
        .confirm(&sha256_hex(&body.token), unix_now_i64())
        .await
        .map_err(storage)?
        .ok_or_else(|| Problem::bad_request(INVALID_CONFIRMATION))?;
    // The mailbox's owner just proved it: sign them in.
    let tokens = start_session(&shared, &user).await?;
    Ok(no_store(StatusCode::OK, &tokens))
}

async fn login(
    State(shared): State<Arc<Shared>>,
    JsonBody(body): JsonBody<Credentials>,
) -> Result<Response, Problem> {
    let found = match normalize_email(&body.email) {
        Some(email) => shared.store.user_by_email(&email).await.map_err(storage)?,
        None => None,
    };
    // An unknown user is checked against the dummy hash: the same work, the same answer.
    // So is a pending one: its password is checked, but it signs in only once confirmed.
    let stored = found.as_ref().map(|c| c.password_hash.clone());
    let verified = shared
        .passwords
        .verify_blocking(body.password, stored)
        .await;
    match found {
        Some(credentials) if verified && credentials.user.confirmed => {
            let tokens = start_session(&shared, &credentials.user).await?;
            Ok(no_store(StatusCode::OK, &tokens))
        }
        _ => Err(invalid_credentials()),
    }
}

/// A new refresh-token family for `user` and a first access token.
async fn start_session(shared: &Shared, user: &User) -> Result<Tokens, Problem> {
    let now = unix_now_i64();
    let (refresh_token, next) = new_refresh_token(shared, now)?;
    let family = uuid::Uuid::new_v4().to_string();
    shared
        .store
        .start_family(&family, &user.id, next, now)
        .await
        .map_err(storage)?;
    tokens(shared, user, refresh_token)
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

fn tokens(shared: &Shared, user: &User, refresh_token: String) -> Result<Tokens, Problem> {
    let access = shared
        .issuer
        .issue(&user.id, &user.roles)
        .map_err(|error| {
            tracing::error!(%error, "access token not signed");
            Problem::internal()
        })?;
    Ok(Tokens {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: access.expires_in.as_secs(),
        refresh_token,
        refresh_expires_in: shared.options.refresh_ttl.as_secs(),
    })
}

async fn refresh(
    State(shared): State<Arc<Shared>>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<Response, Problem> {
    let now = unix_now_i64();
    let (refresh_token, next) = new_refresh_token(&shared, now)?;
    let rotation = shared
        .store
        .rotate(&sha256_hex(&body.refresh_token), next, now)
        .await
        .map_err(storage)?;
    let user_id = match rotation {
        Rotation::Rotated { user_id } => user_id,
        Rotation::Reused => {
            // Either the client retried a refresh whose answer it lost, or someone else holds
            // a copy of the token; both end the session, which is the safe reading.
            tracing::warn!("a rotated refresh token was presented again; its family is revoked");
            return Err(invalid_refresh());
        }
        Rotation::Invalid => return Err(invalid_refresh()),
    };
    let user = shared
        .store
        .user(&user_id)
        .await
        .map_err(storage)?
        .ok_or_else(invalid_refresh)?;
    let tokens = tokens(&shared, &user, refresh_token)?;
    Ok(no_store(StatusCode::OK, &tokens))
}

async fn logout(
    State(shared): State<Arc<Shared>>,
    JsonBody(body): JsonBody<RefreshBody>,
) -> Result<StatusCode, Problem> {
    // The same answer whether the token was live: logging out twice is not an error, and an
    // unknown token learns nothing.
    shared
        .store
        .revoke_family(&sha256_hex(&body.refresh_token), unix_now_i64())
        .await
        .map_err(storage)?;
    Ok(StatusCode::NO_CONTENT)
}

async fn me(State(shared): State<Arc<Shared>>, principal: Principal) -> Result<Response, Problem> {
    let email = shared
        .store
        .user(&principal.subject)
        .await
        .map_err(storage)?
        .map(|user| user.email);
    Ok(axum::Json(Me {
        subject: principal.subject,
        roles: principal.roles,
        scheme: principal.scheme.as_str(),
        email,
    })
    .into_response())
}

/// API keys are managed by a signed-in user (a bearer token), never with an API key: a leaked
/// key must not be able to mint keys that outlive its own revocation, to find its owner's
/// other keys, or to revoke the keys of the owner's other services.
fn signed_in(principal: &Principal) -> Result<(), Problem> {
    if principal.scheme == Scheme::Bearer {
        Ok(())
    } else {
        Err(Problem::forbidden(
            "API keys are managed with a bearer token from /auth/login, not with an API key",
        ))
    }
}

async fn create_api_key(
    State(shared): State<Arc<Shared>>,
    principal: Principal,
    JsonBody(body): JsonBody<NewKeyBody>,
) -> Result<Response, Problem> {
    signed_in(&principal)?;
    let now = unix_now_i64();
    let roles = body.roles.unwrap_or_else(|| principal.roles.clone());
    let mut errors: Vec<FieldError> = roles
        .iter()
        .enumerate()
        .filter(|(_, role)| !principal.has_role(role))
        .map(|(i, _)| {
            FieldError::at(
                format!("/roles/{i}"),
                "subset",
                "an API key cannot hold a role its creator does not",
            )
        })
        .collect();
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
    let name = body.name.trim().to_owned();
    let (key, text) = api_keys::create(&*shared.store, |minted| ApiKey {
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
    Ok(no_store(
        StatusCode::CREATED,
        &CreatedKey {
            view: key.into(),
            key: text,
        },
    ))
}

async fn list_api_keys(
    State(shared): State<Arc<Shared>>,
    principal: Principal,
) -> Result<Response, Problem> {
    signed_in(&principal)?;
    let keys = shared
        .store
        .api_keys(&principal.subject)
        .await
        .map_err(storage)?;
    Ok(axum::Json(KeyList {
        items: keys.into_iter().map(ApiKeyView::from).collect(),
    })
    .into_response())
}

async fn revoke_api_key(
    State(shared): State<Arc<Shared>>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<StatusCode, Problem> {
    signed_in(&principal)?;
    let revoked = shared
        .store
        .revoke_api_key(&principal.subject, &id, unix_now_i64())
        .await
        .map_err(storage)?;
    if revoked {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(Problem::not_found(format!(
            "no live API key `{id}` of yours"
        )))
    }
}
