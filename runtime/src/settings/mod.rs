//! Twelve-factor settings: an optional TOML settings file plus `CMMV_`-prefixed environment
//! variables, the environment winning.
//!
//! Every value is parsed and checked once, at start, and a bad one stops the service with an
//! error naming the key and where it came from (`CMMV_ADDR: invalid socket address "x"`), rather
//! than surfacing later as a confusing failure under load.
//!
//! | key | default | meaning |
//! | --- | --- | --- |
//! | `CMMV_ADDR` | `127.0.0.1:8080` | listen address |
//! | `CMMV_DATABASE_URL` | `sqlite://cmmv.db` | storage URL: `sqlite://FILE`, `postgres://...`, or `memory:` |
//! | `CMMV_DATABASE_MAX_CONNECTIONS` | `10` | PostgreSQL: connections the pool keeps at most; SQLite: read-only connections at most (four per core, if fewer); the writer's connection is apart |
//! | `CMMV_DATABASE_TIMEOUT` | `5s` | how long a request waits for a connection, or a write for SQLite's writer, before a 503 |
//! | `CMMV_DATABASE_WRITE_QUEUE` | `1024` | SQLite: writes waiting for the writer at most; one more is a 503 with `Retry-After` |
//! | `CMMV_DATABASE_WRITE_BATCH` | `256` | SQLite: writes committed together in one transaction at most (see [`crate::sql`], group commit) |
//! | `CMMV_REDIS_URL` | unset | Redis URL (`redis://`, `rediss://` or `unix://`) |
//! | `CMMV_LOG` | `info` | log filter, `tracing_subscriber::EnvFilter` syntax |
//! | `CMMV_LOG_FORMAT` | `json` | `json` or `text` |
//! | `CMMV_BODY_LIMIT` | `1MiB` | request body limit: bytes, or with `KiB`/`MiB`/`GiB`/`kB`/`MB`/`GB` |
//! | `CMMV_REQUEST_TIMEOUT` | `30s` | time limit of one request (`500ms`, `30s`, `2m`, `1h`) |
//! | `CMMV_READINESS_TIMEOUT` | `2s` | time limit of each readiness check |
//! | `CMMV_SHUTDOWN_DELAY` | `5s` | how long readiness reports 503 before the listener closes |
//! | `CMMV_SHUTDOWN_DEADLINE` | `30s` | how long in-flight requests may take to drain |
//! | `CMMV_CORS_ORIGINS` | unset (no CORS) | comma-separated origins, or `*` |
//! | `CMMV_CORS_CREDENTIALS` | `false` | allow credentialed cross-origin requests |
//! | `CMMV_HSTS` | `false` | `true` (one year), `false`, or a max-age in seconds |
//! | `CMMV_SUNSET_GONE` | `true` | a deprecated operation past its sunset date answers `410 Gone` (`false` keeps serving it, still announcing the sunset) |
//! | `CMMV_RATE_LIMIT` | `true` | enforce the contracts' rate limits (`false` turns every limit off) |
//! | `CMMV_TRUSTED_PROXIES` | unset | comma-separated CIDR blocks of proxies whose forwarding header is believed |
//! | `CMMV_TRUSTED_PROXY_HEADER` | `x-forwarded-for` | the one header those proxies set: `x-forwarded-for`, `forwarded` (RFC 7239), or another name such as `x-real-ip`; no other is read |
//! | `CMMV_RATE_LIMIT_IPV6_PREFIX` | `64` | IPv6 clients are counted per block of this prefix length (`128`: per address) |
//! | `CMMV_RATE_LIMIT_IPV4_PREFIX` | `32` | IPv4 clients are counted per block of this prefix length |
//! | `CMMV_RATE_LIMIT_FAIL` | `open` | when the Redis limiter cannot decide in time, for policies that do not choose: `open` admits, `closed` answers 503, `local` decides with an in-process limiter |
//! | `CMMV_RATE_LIMIT_TIMEOUT` | `50ms` | how long a Redis decision may take |
//! | `CMMV_RATE_LIMIT_LEGACY_HEADERS` | `false` | also send `X-RateLimit-Limit`, `-Remaining`, `-Reset` |
//! | `CMMV_RATE_LIMIT_MAX_KEYS` | `1000000` | keys the in-process limiter holds at most |
//! | `CMMV_JWT_ISSUER` | unset | the `iss` every bearer token must carry (required once a JWT key is set) |
//! | `CMMV_JWT_AUDIENCE` | unset | comma-separated; a token's `aud` must name one of them (required once a JWT key is set) |
//! | `CMMV_JWT_HS256_SECRET` | unset | shared HS256 secret, at least 32 bytes |
//! | `CMMV_JWT_HS256_KID` | `hs256` | the `kid` selecting that secret |
//! | `CMMV_JWT_KEYS` | unset | a JWKS file, or a directory of `<kid>.<alg>.pem` public keys (see [`crate::auth`]) |
//! | `CMMV_JWT_LEEWAY` | `30s` | clock skew tolerated on `exp` and `nbf`, whole seconds, at most `5m` |
//! | `CMMV_JWT_ROLES_CLAIM` | `roles` | the claim holding a token's roles |
//! | `CMMV_JWT_SIGNING_KEY` | unset | a PKCS#8 PEM private key the login module signs access tokens with (ES256, EdDSA or RS256, from the key); without it, `CMMV_JWT_HS256_SECRET` signs |
//! | `CMMV_JWT_SIGNING_KID` | unset | the `kid` of that key, required with it; `CMMV_JWT_KEYS` must hold its public key |
//! | `CMMV_AUTH_ACCESS_TTL` | `15m` | lifetime of the access tokens the login module issues (at most `24h`) |
//! | `CMMV_AUTH_REFRESH_TTL` | `30d` | lifetime of each refresh token (longer than the access tokens') |
//! | `CMMV_AUTH_DEFAULT_ROLES` | `user` | comma-separated roles of newly registered users (may be empty) |
//! | `CMMV_AUTH_PASSWORD_MIN_LENGTH` | `12` | shortest password accepted at registration, in characters (8 to 128) |
//! | `CMMV_AUTH_REGISTRATION` | `immediate` | `immediate`: `201` and the account signs in at once, `409` for a taken email; `confirm`: `202` alike for every address, the account pending until the token an `AccountMailer` sends comes back (see [`crate::auth::Registration`]) |
//! | `CMMV_AUTH_CONFIRMATION_TTL` | `24h` | how long a confirmation token works |
//! | `CMMV_AUTH_SESSION_TTL` | `90d` | absolute lifetime of a session: its refresh token stops working this long after the sign-in, however often refreshed (at least `CMMV_AUTH_REFRESH_TTL`) |
//! | `CMMV_OAUTH_*` | unset | sign-in with identity providers: `CMMV_OAUTH_<PROVIDER>_CLIENT_ID` and `..._CLIENT_SECRET` enable one (see [`crate::auth::oauth`] and `docs/operations.md` for every key) |
//! | `CMMV_OTEL_ENDPOINT` | unset (no export) | the OTLP/HTTP traces URL spans are exported to; also read from the standard `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, or `OTEL_EXPORTER_OTLP_ENDPOINT` plus `/v1/traces`. Every `OTEL_*` variable below has a `CMMV_OTEL_*` twin that wins (see [`crate::telemetry`] for all of them) |
//! | `OTEL_SERVICE_NAME` | `unknown_service:<executable>` | the `service.name` of every span |
//! | `OTEL_RESOURCE_ATTRIBUTES` | unset | `key=value,...` attributes of every span |
//! | `OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG` | `parentbased_always_on` | which traces are kept: `always_on`, `always_off`, `traceidratio` (with a ratio argument), `parentbased_*` |
//! | `OTEL_EXPORTER_OTLP_HEADERS` | unset | `name=value,...` headers of every export (a collector's credentials) |
//! | `OTEL_EXPORTER_OTLP_TIMEOUT` | `10000` (ms) | time limit of one export |
//! | `OTEL_BSP_MAX_QUEUE_SIZE` | `2048` | spans waiting for export at most; more are dropped and counted |
//! | `CMMV_CURSOR_SECRET` | unset (a random key per process) | the key list cursors are signed with, at least 32 bytes; instances behind one load balancer must share it (see [`crate::list::CursorKey`]) |
//!
//! The settings file is the one named by `CMMV_SETTINGS`, else `cmmv.toml` in the working
//! directory when it exists. Its keys are the variable names without the prefix, in lower case:
//!
//! ```toml
//! addr = "0.0.0.0:8080"
//! body_limit = "4MiB"
//! cors_origins = ["https://app.example.com"]
//! hsts = 31536000
//! ```
//!
//! An empty value (`CMMV_REDIS_URL=`) means "not set": the default applies. Keys the core runtime
//! does not know are kept in [`Settings::extra`] for the components that use them.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http::HeaderValue;

mod oauth;
mod parse;
mod read;
mod telemetry;

use parse::*;
pub(crate) use parse::{parse_bool, parse_duration, parse_size};
use read::*;

/// The prefix of every environment variable the runtime reads.
pub const ENV_PREFIX: &str = "CMMV_";

/// The variable naming the settings file.
pub const SETTINGS_FILE_VAR: &str = "CMMV_SETTINGS";

/// The settings file read when [`SETTINGS_FILE_VAR`] is not set, if it exists.
pub const DEFAULT_SETTINGS_FILE: &str = "cmmv.toml";

/// HSTS max-age of `CMMV_HSTS=true`: one year, the minimum browsers' preload lists accept.
const HSTS_DEFAULT_MAX_AGE: u64 = 31_536_000;

/// The shortest HS256 secret accepted: as many bytes as the hash's output (RFC 7518 §3.2).
pub const JWT_MIN_SECRET_BYTES: usize = 32;

/// The largest clock-skew leeway accepted: more would quietly extend every token's life.
pub(crate) const JWT_MAX_LEEWAY: Duration = Duration::from_secs(300);

/// The longest access-token lifetime accepted: access tokens cannot be revoked, so a long one
/// outlives a logout by that much.
const AUTH_MAX_ACCESS_TTL: Duration = Duration::from_secs(24 * 3600);

/// The longest password accepted, in characters: long enough for any passphrase, short enough
/// that nobody makes the server hash megabytes.
pub const AUTH_MAX_PASSWORD_LENGTH: usize = 128;

/// Everything the runtime's infrastructure is configured by.
///
/// Fields are public so tests and embedders can adjust a default, as in
/// `Settings { shutdown_delay: Duration::ZERO, ..Settings::default() }`; the app builder
/// validates them again, so a hand-made combination cannot bypass the start-up checks.
#[derive(Clone, PartialEq)]
pub struct Settings {
    /// The address the server listens on (`CMMV_ADDR`, default `127.0.0.1:8080`).
    pub addr: SocketAddr,
    /// Where resources are stored (`CMMV_DATABASE_URL`, default `sqlite://cmmv.db`):
    /// `sqlite://FILE`, `postgres://...`, or `memory:` for the in-memory stores.
    pub database_url: String,
    /// The most database connections kept open (`CMMV_DATABASE_MAX_CONNECTIONS`, default 10): the
    /// pool's size on PostgreSQL; on SQLite, the read-only connections (at most four per core),
    /// besides the writer's own.
    pub database_max_connections: u32,
    /// How long a request waits for a database connection (or, on SQLite, a write for the
    /// writer) before the store reports itself unavailable (503).
    pub database_timeout: Duration,
    /// SQLite: how many writes may wait for the writer; beyond, a write is refused at once
    /// (503 with `Retry-After`) rather than queued without bound.
    pub database_write_queue: usize,
    /// SQLite: how many writes one transaction commits at most.
    pub database_write_batch: usize,
    /// The Redis server (`CMMV_REDIS_URL`; `redis://`, `rediss://` or `unix://`) an app may
    /// share its rate limits through, by passing it to [`crate::ratelimit::RedisLimiterSettings`];
    /// `None` by default, and the runtime connects to nothing on its own.
    pub redis_url: Option<String>,
    /// The log filter, in `tracing_subscriber::EnvFilter` syntax.
    pub log: String,
    /// How log lines are written (`CMMV_LOG_FORMAT`): JSON by default, or text for a terminal.
    pub log_format: LogFormat,
    /// The largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long one request may take before it is answered with a 503 problem
    /// (`CMMV_REQUEST_TIMEOUT`, default 30 seconds).
    pub request_timeout: Duration,
    /// The time limit of each readiness check.
    pub readiness_timeout: Duration,
    /// How long readiness reports 503 before the listener closes, so that load balancers stop
    /// routing here before connections are refused.
    pub shutdown_delay: Duration,
    /// How long in-flight requests may take to finish once the listener is closed.
    pub shutdown_deadline: Duration,
    /// Which browser origins may call the API (`CMMV_CORS_ORIGINS`, `CMMV_CORS_CREDENTIALS`);
    /// no CORS by default.
    pub cors: Cors,
    /// `Strict-Transport-Security` max-age in seconds; `None` sends no HSTS header.
    pub hsts_max_age: Option<u64>,
    /// Whether a deprecated operation past its sunset answers `410 Gone` (`CMMV_SUNSET_GONE`);
    /// see [`crate::deprecation`].
    pub sunset_gone: bool,
    /// How the contracts' rate limits are enforced and clients told apart (`CMMV_RATE_LIMIT*`,
    /// `CMMV_TRUSTED_PROXY*`).
    pub rate_limit: RateLimitSettings,
    /// How bearer tokens are verified; see [`crate::auth::JwtVerifier::from_settings`].
    pub jwt: JwtSettings,
    /// The login module's tokens and users; see [`crate::auth::Login`].
    pub auth: AuthSettings,
    /// Sign-in with identity providers (`CMMV_OAUTH_*`); see [`crate::auth::oauth`].
    pub oauth: crate::auth::oauth::OAuthSettings,
    /// Where and how spans are exported (`OTEL_*` and `CMMV_OTEL_*`, see [`crate::telemetry`]).
    pub telemetry: crate::telemetry::TelemetrySettings,
    /// The key list cursors are signed with (`CMMV_CURSOR_SECRET`, at least 32 bytes); unset,
    /// each app draws a random one, and cursors die with the process.
    pub cursor_secret: Option<Secret>,
    /// `CMMV_` keys the core runtime does not interpret, by full variable name.
    pub extra: BTreeMap<String, String>,
}

/// Every setting but the secrets: a URL's password is masked, and the values of the keys the
/// core does not know are left out (a component's token could be among them). Passwords and
/// keys the core knows are [`Secret`]s already.
impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured whole, so that a new field cannot be forgotten here.
        let Settings {
            addr,
            database_url,
            database_max_connections,
            database_timeout,
            database_write_queue,
            database_write_batch,
            redis_url,
            log,
            log_format,
            body_limit,
            request_timeout,
            readiness_timeout,
            shutdown_delay,
            shutdown_deadline,
            cors,
            hsts_max_age,
            sunset_gone,
            rate_limit,
            jwt,
            auth,
            oauth,
            telemetry,
            cursor_secret,
            extra,
        } = self;
        f.debug_struct("Settings")
            .field("addr", addr)
            .field("database_url", &redact_url(database_url))
            .field("database_max_connections", database_max_connections)
            .field("database_timeout", database_timeout)
            .field("database_write_queue", database_write_queue)
            .field("database_write_batch", database_write_batch)
            .field("redis_url", &redis_url.as_deref().map(redact_url))
            .field("log", log)
            .field("log_format", log_format)
            .field("body_limit", body_limit)
            .field("request_timeout", request_timeout)
            .field("readiness_timeout", readiness_timeout)
            .field("shutdown_delay", shutdown_delay)
            .field("shutdown_deadline", shutdown_deadline)
            .field("cors", cors)
            .field("hsts_max_age", hsts_max_age)
            .field("sunset_gone", sunset_gone)
            .field("rate_limit", rate_limit)
            .field("jwt", jwt)
            .field("auth", auth)
            .field("oauth", oauth)
            .field("telemetry", telemetry)
            .field("cursor_secret", cursor_secret)
            // Keys a component reads may hold anything, credentials included.
            .field("extra", &extra.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// `url` with its secrets masked: the password of its user information (up to the last `@`
/// before the path, as URL parsers split it) and the values of query parameters that carry
/// credentials (`?password=`, libpq's `sslpassword=`, `token=`...).
pub(crate) fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (userinfo, after) = split_userinfo(rest);
    let mut shown = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _)) => shown.push_str(&format!("{user}:***@")),
            None => shown.push_str(&format!("{userinfo}@")),
        }
    }
    let (before_query, query) = match after.split_once('?') {
        Some((before, query)) => (before, Some(query)),
        None => (after, None),
    };
    shown.push_str(before_query);
    if let Some(query) = query {
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if is_secret_key(key) => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        shown.push('?');
        shown.push_str(&pairs.join("&"));
    }
    shown
}

/// The user information of what follows `scheme://`, and the rest (host, path, query): up to
/// the last `@`, so that a password holding `@`, `/` or `?` unescaped is taken whole, as the
/// person writing it meant. An `@` further on (in a path) makes more than the user information
/// masked, never less.
fn split_userinfo(rest: &str) -> (Option<&str>, &str) {
    match rest.rsplit_once('@') {
        Some((userinfo, after)) => (Some(userinfo), after),
        None => (None, rest),
    }
}

/// `text` (a driver's or an HTTP client's error, which may quote the URL) with every secret of
/// `url` masked: the password of its user information, and credential-carrying query values.
pub(crate) fn redact_url_secrets(url: &str, text: &str) -> String {
    let Some((_, rest)) = url.split_once("://") else {
        return text.to_owned();
    };
    let (userinfo, after) = split_userinfo(rest);
    let query = after.split_once('?').map_or("", |(_, query)| query);
    let mut secrets: Vec<&str> = Vec::new();
    if let Some((_, password)) = userinfo.and_then(|info| info.split_once(':')) {
        secrets.push(password);
    }
    for pair in query.split('&') {
        if let Some((key, value)) = pair.split_once('=') {
            if is_secret_key(key) {
                secrets.push(value);
            }
        }
    }
    let mut text = text.to_owned();
    for secret in secrets.into_iter().filter(|secret| !secret.is_empty()) {
        text = text.replace(secret, "***");
    }
    text
}

/// Whether a query parameter's name says it holds a credential.
fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "pass",
        "secret",
        "token",
        "key",
        "auth",
        "credential",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// How the contracts' rate limits are enforced: kept next to the limiter
/// ([`crate::ratelimit`]), read from `CMMV_RATE_LIMIT*` and `CMMV_TRUSTED_PROXY*` here.
pub use crate::ratelimit::RateLimitSettings;

/// How bearer tokens are verified and what the login module issues: kept next to the code
/// they configure ([`crate::auth`]), read from `CMMV_JWT_*` and `CMMV_AUTH_*` here.
pub use crate::auth::{AuthSettings, JwtSettings};

/// A secret value: compared and cloned like a string, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value, which `Debug` will then never show.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the component that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// The format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line: for log shippers.
    Json,
    /// Human-readable lines: for a terminal.
    Text,
}

/// Cross-origin resource sharing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Cors {
    /// The origins allowed to call from a browser; [`CorsOrigins::None`] (no CORS headers) by
    /// default.
    pub origins: CorsOrigins,
    /// Whether browsers may send cookies and `Authorization` cross-origin.
    pub credentials: bool,
}

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CorsOrigins {
    /// No CORS headers at all: only same-origin browser calls.
    #[default]
    None,
    /// Any origin (`*`).
    Any,
    /// Exactly these origins (`scheme://host[:port]`).
    List(Vec<String>),
}

impl Settings {
    /// How to reach the database, for [`crate::sql::Database::connect`].
    pub fn database(&self) -> crate::sql::DatabaseSettings {
        crate::sql::DatabaseSettings {
            url: self.database_url.clone(),
            max_connections: self.database_max_connections,
            acquire_timeout: self.database_timeout,
            write_queue: self.database_write_queue,
            write_batch: self.database_write_batch,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            database_url: "sqlite://cmmv.db".to_owned(),
            database_max_connections: 10,
            database_timeout: Duration::from_secs(5),
            database_write_queue: crate::sql::DatabaseSettings::DEFAULT_WRITE_QUEUE,
            database_write_batch: crate::sql::DatabaseSettings::DEFAULT_WRITE_BATCH,
            redis_url: None,
            log: "info".to_owned(),
            log_format: LogFormat::Json,
            body_limit: 1024 * 1024,
            request_timeout: Duration::from_secs(30),
            readiness_timeout: Duration::from_secs(2),
            shutdown_delay: Duration::from_secs(5),
            shutdown_deadline: Duration::from_secs(30),
            cors: Cors::default(),
            hsts_max_age: None,
            sunset_gone: true,
            rate_limit: RateLimitSettings::default(),
            jwt: JwtSettings::default(),
            auth: AuthSettings::default(),
            oauth: crate::auth::oauth::OAuthSettings::default(),
            telemetry: crate::telemetry::TelemetrySettings::default(),
            cursor_secret: None,
            extra: BTreeMap::new(),
        }
    }
}

/// A setting that cannot be used, naming the key and where its value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError {
    /// The settings file, when the value (or the error) came from it.
    pub file: Option<PathBuf>,
    /// The key, as written where it came from (`CMMV_ADDR` or `addr`); `None` for an
    /// unreadable or malformed file.
    pub key: Option<String>,
    /// What is wrong with the value, for a person to read.
    pub message: String,
}

impl SettingsError {
    pub(crate) fn env(key: &str, message: impl Into<String>) -> Self {
        Self {
            file: None,
            key: Some(key.to_owned()),
            message: message.into(),
        }
    }

    fn file(path: &Path, message: impl Into<String>) -> Self {
        Self {
            file: Some(path.to_path_buf()),
            key: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for SettingsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if let Some(key) = &self.key {
            write!(f, "{key}: ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for SettingsError {}

impl Settings {
    /// Reads the settings file (`CMMV_SETTINGS`, else `./cmmv.toml` if present) and the
    /// process environment, the environment winning.
    pub fn from_env() -> Result<Self, SettingsError> {
        let env: Vec<(String, String)> = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect();
        let named = env
            .iter()
            .find(|(k, v)| k == SETTINGS_FILE_VAR && !v.trim().is_empty())
            .map(|(_, v)| PathBuf::from(v.trim()));
        let file = match named {
            Some(path) => Some(path),
            None => Some(PathBuf::from(DEFAULT_SETTINGS_FILE)).filter(|p| p.is_file()),
        };
        match file {
            Some(path) => {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| SettingsError::file(&path, format!("cannot read: {e}")))?;
                Self::from_toml_and_pairs(&path, &text, env)
            }
            None => Self::from_pairs(env),
        }
    }

    /// Settings from environment-style pairs alone (`("CMMV_ADDR", "0.0.0.0:80")`), without
    /// touching the process environment or any file. Pairs without the `CMMV_` prefix are
    /// ignored, so `std::env::vars()` can be passed as is.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self, SettingsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut raw = RawSettings::default();
        raw.add_env(pairs);
        raw.into_settings()
    }

    /// Settings from the text of a TOML settings file (`path` names it in errors) overridden
    /// by environment-style pairs.
    pub fn from_toml_and_pairs<I, K, V>(
        path: &Path,
        toml: &str,
        pairs: I,
    ) -> Result<Self, SettingsError>
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        let mut raw = RawSettings::default();
        raw.add_toml(path, toml)?;
        raw.add_env(pairs);
        raw.into_settings()
    }

    /// The checks that involve more than one value or that a hand-built `Settings` could break.
    /// Errors name the environment variable, wherever the value came from.
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.body_limit == 0 {
            return Err(SettingsError::env(
                "CMMV_BODY_LIMIT",
                "must be greater than 0",
            ));
        }
        if self.request_timeout.is_zero() {
            return Err(SettingsError::env(
                "CMMV_REQUEST_TIMEOUT",
                "must be greater than 0",
            ));
        }
        if self.readiness_timeout.is_zero() {
            return Err(SettingsError::env(
                "CMMV_READINESS_TIMEOUT",
                "must be greater than 0",
            ));
        }
        if let Err(e) = tracing_subscriber::EnvFilter::try_new(&self.log) {
            return Err(SettingsError::env(
                "CMMV_LOG",
                format!("invalid log filter {:?}: {e}", self.log),
            ));
        }
        if let CorsOrigins::List(origins) = &self.cors.origins {
            for origin in origins {
                check_origin(origin).map_err(|m| SettingsError::env("CMMV_CORS_ORIGINS", m))?;
            }
        }
        if self.cors.credentials && self.cors.origins == CorsOrigins::Any {
            return Err(SettingsError::env(
                "CMMV_CORS_CREDENTIALS",
                "cannot be true while CMMV_CORS_ORIGINS is \"*\": browsers reject credentialed \
                 responses for any origin; list the allowed origins instead",
            ));
        }
        self.validate_jwt()?;
        self.validate_auth()
    }

    /// The login module's own checks (part of [`Settings::validate`]).
    pub(crate) fn validate_auth(&self) -> Result<(), SettingsError> {
        let auth = &self.auth;
        check_access_ttl(auth.access_ttl)
            .map_err(|m| SettingsError::env("CMMV_AUTH_ACCESS_TTL", m))?;
        if auth.refresh_ttl <= auth.access_ttl {
            return Err(SettingsError::env(
                "CMMV_AUTH_REFRESH_TTL",
                format!(
                    "must be longer than CMMV_AUTH_ACCESS_TTL ({}s): a refresh token outlives the access tokens it renews",
                    auth.access_ttl.as_secs()
                ),
            ));
        }
        if auth.session_ttl < auth.refresh_ttl {
            return Err(SettingsError::env(
                "CMMV_AUTH_SESSION_TTL",
                format!(
                    "must be at least CMMV_AUTH_REFRESH_TTL ({}s): a session outlives the refresh tokens it is made of",
                    auth.refresh_ttl.as_secs()
                ),
            ));
        }
        check_password_min_length(auth.password_min_length)
            .map_err(|m| SettingsError::env("CMMV_AUTH_PASSWORD_MIN_LENGTH", m))?;
        if let Some(role) = auth
            .default_roles
            .iter()
            .find(|r| r.is_empty() || r.chars().any(char::is_whitespace))
        {
            return Err(SettingsError::env(
                "CMMV_AUTH_DEFAULT_ROLES",
                format!("invalid role name {role:?} (no spaces, not empty)"),
            ));
        }
        match (&auth.signing_key, &auth.signing_kid) {
            (Some(_), None) => Err(SettingsError::env(
                "CMMV_JWT_SIGNING_KID",
                "must be set when CMMV_JWT_SIGNING_KEY is: verifiers select the key by it",
            )),
            (None, Some(_)) => Err(SettingsError::env(
                "CMMV_JWT_SIGNING_KEY",
                "CMMV_JWT_SIGNING_KID is set but no signing key",
            )),
            (_, Some(kid)) if kid.trim().is_empty() => Err(SettingsError::env(
                "CMMV_JWT_SIGNING_KID",
                "must not be empty",
            )),
            _ => Ok(()),
        }
    }

    /// The JWT settings' own checks (part of [`Settings::validate`]).
    pub(crate) fn validate_jwt(&self) -> Result<(), SettingsError> {
        let jwt = &self.jwt;
        if let Some(secret) = &jwt.hs256_secret {
            check_secret(secret.expose())
                .map_err(|m| SettingsError::env("CMMV_JWT_HS256_SECRET", m))?;
        }
        check_leeway(jwt.leeway).map_err(|m| SettingsError::env("CMMV_JWT_LEEWAY", m))?;
        if jwt.roles_claim.trim().is_empty() {
            return Err(SettingsError::env(
                "CMMV_JWT_ROLES_CLAIM",
                "must name a claim",
            ));
        }
        if jwt.hs256_kid.trim().is_empty() {
            return Err(SettingsError::env(
                "CMMV_JWT_HS256_KID",
                "must not be empty",
            ));
        }
        if jwt.has_keys() {
            if jwt.issuer.as_deref().is_none_or(|i| i.trim().is_empty()) {
                return Err(SettingsError::env(
                    "CMMV_JWT_ISSUER",
                    "must be set when a JWT key is (CMMV_JWT_HS256_SECRET or CMMV_JWT_KEYS): \
                     every token's `iss` is checked against it",
                ));
            }
            if jwt.audience.iter().all(|a| a.trim().is_empty()) {
                return Err(SettingsError::env(
                    "CMMV_JWT_AUDIENCE",
                    "must be set when a JWT key is (CMMV_JWT_HS256_SECRET or CMMV_JWT_KEYS): \
                     every token's `aud` is checked against it",
                ));
            }
        } else if jwt.issuer.is_some() || !jwt.audience.is_empty() {
            return Err(SettingsError::env(
                "CMMV_JWT_KEYS",
                "CMMV_JWT_ISSUER or CMMV_JWT_AUDIENCE is set but no key to verify tokens with: \
                 set CMMV_JWT_HS256_SECRET or CMMV_JWT_KEYS",
            ));
        }
        Ok(())
    }

    /// A key the core runtime does not interpret, by full variable name (`CMMV_JWT_SECRET`).
    pub fn extra(&self, key: &str) -> Option<&str> {
        self.extra.get(key).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error_of(pairs: &[(&str, &str)]) -> String {
        match Settings::from_pairs(pairs.iter().copied()) {
            Ok(settings) => panic!("expected an error, got {settings:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn defaults_without_any_variable() {
        let settings = Settings::from_pairs([("HOME", "/root")]).expect("defaults are valid");
        assert_eq!(settings, Settings::default());
        assert_eq!(settings.addr.to_string(), "127.0.0.1:8080");
        assert_eq!(settings.body_limit, 1_048_576);
    }

    #[test]
    fn every_key_parses() {
        let settings = Settings::from_pairs([
            ("CMMV_ADDR", "0.0.0.0:9000"),
            ("CMMV_DATABASE_URL", "postgres://db/app"),
            ("CMMV_REDIS_URL", "redis://cache:6379"),
            ("CMMV_LOG", "debug,hyper=warn"),
            ("CMMV_LOG_FORMAT", "text"),
            ("CMMV_BODY_LIMIT", "4MiB"),
            ("CMMV_REQUEST_TIMEOUT", "1500ms"),
            ("CMMV_READINESS_TIMEOUT", "1s"),
            ("CMMV_SHUTDOWN_DELAY", "0"),
            ("CMMV_SHUTDOWN_DEADLINE", "1m"),
            (
                "CMMV_CORS_ORIGINS",
                "https://a.example, http://localhost:3000",
            ),
            ("CMMV_CORS_CREDENTIALS", "true"),
            ("CMMV_HSTS", "600"),
            ("CMMV_JWT_SECRET", "s3cret"),
        ])
        .expect("valid settings");
        assert_eq!(settings.addr.port(), 9000);
        assert_eq!(settings.database_url, "postgres://db/app");
        assert_eq!(settings.redis_url.as_deref(), Some("redis://cache:6379"));
        assert_eq!(settings.log_format, LogFormat::Text);
        assert_eq!(settings.body_limit, 4 << 20);
        assert_eq!(settings.request_timeout, Duration::from_millis(1500));
        assert_eq!(settings.shutdown_delay, Duration::ZERO);
        assert_eq!(settings.shutdown_deadline, Duration::from_secs(60));
        assert_eq!(
            settings.cors.origins,
            CorsOrigins::List(vec![
                "https://a.example".to_owned(),
                "http://localhost:3000".to_owned()
            ])
        );
        assert!(settings.cors.credentials);
        assert_eq!(settings.hsts_max_age, Some(600));
        assert_eq!(settings.extra("CMMV_JWT_SECRET"), Some("s3cret"));
    }

    #[test]
    fn client_identity_and_fail_mode_settings_parse_and_are_checked() {
        use crate::ratelimit::{ClientBlocks, FailMode, ProxyHeader};
        let d = Settings::from_pairs(Vec::<(String, String)>::new()).expect("defaults");
        assert_eq!(d.rate_limit.proxy_header, ProxyHeader::default());
        assert_eq!(d.rate_limit.client_blocks, ClientBlocks::default());
        assert_eq!(d.rate_limit.client_blocks.ipv6_prefix, 64);
        assert_eq!(d.rate_limit.fail_mode, FailMode::Open);
        let settings = Settings::from_pairs([
            ("CMMV_TRUSTED_PROXY_HEADER", "Forwarded"),
            ("CMMV_RATE_LIMIT_IPV6_PREFIX", "/56"),
            ("CMMV_RATE_LIMIT_IPV4_PREFIX", "24"),
            ("CMMV_RATE_LIMIT_FAIL", "local"),
            ("CMMV_AUTH_REGISTRATION", "confirm"),
            ("CMMV_AUTH_CONFIRMATION_TTL", "2h"),
        ])
        .expect("valid settings");
        assert_eq!(settings.rate_limit.proxy_header, ProxyHeader::Forwarded);
        assert_eq!(
            settings.rate_limit.client_blocks,
            ClientBlocks {
                ipv4_prefix: 24,
                ipv6_prefix: 56
            }
        );
        assert_eq!(settings.rate_limit.fail_mode, FailMode::Local);
        assert_eq!(
            settings.auth.registration,
            crate::auth::Registration::Confirm
        );
        assert_eq!(settings.auth.confirmation_ttl, Duration::from_secs(7200));
        let other = Settings::from_pairs([("CMMV_TRUSTED_PROXY_HEADER", "X-Real-IP")])
            .expect("valid settings");
        assert_eq!(
            other.rate_limit.proxy_header.to_string(),
            "x-real-ip".to_owned()
        );
        for (key, value) in [
            ("CMMV_TRUSTED_PROXY_HEADER", "x forwarded"),
            ("CMMV_RATE_LIMIT_IPV6_PREFIX", "0"),
            ("CMMV_RATE_LIMIT_IPV6_PREFIX", "129"),
            ("CMMV_RATE_LIMIT_IPV4_PREFIX", "33"),
            ("CMMV_RATE_LIMIT_FAIL", "maybe"),
            ("CMMV_AUTH_REGISTRATION", "later"),
            ("CMMV_AUTH_CONFIRMATION_TTL", "0"),
        ] {
            assert!(
                error_of(&[(key, value)]).starts_with(&format!("{key}: ")),
                "{key}={value}"
            );
        }
    }

    #[test]
    fn errors_name_the_key() {
        assert_eq!(
            error_of(&[("CMMV_ADDR", "x")]),
            "CMMV_ADDR: invalid socket address \"x\" (expected e.g. 0.0.0.0:8080)"
        );
        assert!(error_of(&[("CMMV_BODY_LIMIT", "lots")]).starts_with("CMMV_BODY_LIMIT: "));
        assert!(error_of(&[("CMMV_BODY_LIMIT", "0")]).starts_with("CMMV_BODY_LIMIT: "));
        assert!(
            error_of(&[("CMMV_REQUEST_TIMEOUT", "soon")]).starts_with("CMMV_REQUEST_TIMEOUT: ")
        );
        assert!(error_of(&[("CMMV_LOG_FORMAT", "xml")]).starts_with("CMMV_LOG_FORMAT: "));
        assert!(error_of(&[("CMMV_LOG", "[[[")]).starts_with("CMMV_LOG: "));
        assert!(error_of(&[("CMMV_REDIS_URL", "localhost")]).starts_with("CMMV_REDIS_URL: "));
        assert!(error_of(&[("CMMV_HSTS", "forever")]).starts_with("CMMV_HSTS: "));
        assert!(
            error_of(&[("CMMV_CORS_ORIGINS", "https://a.example/")])
                .starts_with("CMMV_CORS_ORIGINS: ")
        );
        assert!(
            error_of(&[("CMMV_CORS_ORIGINS", "*,https://a.example")])
                .starts_with("CMMV_CORS_ORIGINS: ")
        );
    }

    #[test]
    fn login_settings_parse_and_are_checked() {
        let settings = Settings::from_pairs([
            ("CMMV_AUTH_ACCESS_TTL", "5m"),
            ("CMMV_AUTH_REFRESH_TTL", "7d"),
            ("CMMV_AUTH_DEFAULT_ROLES", "reader, writer"),
            ("CMMV_AUTH_PASSWORD_MIN_LENGTH", "10"),
        ])
        .expect("valid settings");
        assert_eq!(settings.auth.access_ttl, Duration::from_secs(300));
        assert_eq!(settings.auth.refresh_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(settings.auth.default_roles, ["reader", "writer"]);
        assert_eq!(settings.auth.password_min_length, 10);
        assert_eq!(
            Settings::default().auth.access_ttl,
            Duration::from_secs(900)
        );
        for (pairs, key) in [
            (&[("CMMV_AUTH_ACCESS_TTL", "0")][..], "CMMV_AUTH_ACCESS_TTL"),
            (&[("CMMV_AUTH_ACCESS_TTL", "2d")], "CMMV_AUTH_ACCESS_TTL"),
            (&[("CMMV_AUTH_REFRESH_TTL", "10m")], "CMMV_AUTH_REFRESH_TTL"),
            (
                &[("CMMV_AUTH_PASSWORD_MIN_LENGTH", "4")],
                "CMMV_AUTH_PASSWORD_MIN_LENGTH",
            ),
            (
                &[("CMMV_AUTH_PASSWORD_MIN_LENGTH", "many")],
                "CMMV_AUTH_PASSWORD_MIN_LENGTH",
            ),
            (
                &[("CMMV_JWT_SIGNING_KEY", "/k.pem")],
                "CMMV_JWT_SIGNING_KID",
            ),
            (&[("CMMV_JWT_SIGNING_KID", "k1")], "CMMV_JWT_SIGNING_KEY"),
        ] {
            let error = error_of(pairs);
            assert!(error.starts_with(&format!("{key}: ")), "{error}");
        }
    }

    #[test]
    fn credentials_with_any_origin_is_refused() {
        let error = error_of(&[("CMMV_CORS_ORIGINS", "*"), ("CMMV_CORS_CREDENTIALS", "yes")]);
        assert!(error.starts_with("CMMV_CORS_CREDENTIALS: "), "{error}");
    }

    #[test]
    fn empty_values_mean_unset() {
        let settings = Settings::from_pairs([("CMMV_REDIS_URL", ""), ("CMMV_ADDR", " ")])
            .expect("empty values are defaults");
        assert_eq!(settings.redis_url, None);
        assert_eq!(settings.addr, Settings::default().addr);
    }

    #[test]
    fn the_environment_wins_over_the_file() {
        let path = Path::new("cmmv.toml");
        let toml = "addr = \"0.0.0.0:1\"\nbody_limit = 2048\ncors_origins = [\"https://a.example\"]\nhsts = true\n";
        let settings = Settings::from_toml_and_pairs(path, toml, [("CMMV_ADDR", "0.0.0.0:2")])
            .expect("valid settings");
        assert_eq!(settings.addr.port(), 2);
        assert_eq!(settings.body_limit, 2048);
        assert_eq!(
            settings.cors.origins,
            CorsOrigins::List(vec!["https://a.example".to_owned()])
        );
        assert_eq!(settings.hsts_max_age, Some(HSTS_DEFAULT_MAX_AGE));
    }

    #[test]
    fn file_errors_name_the_file_and_key() {
        let path = Path::new("cmmv.toml");
        let error = Settings::from_toml_and_pairs(path, "addr = \"nope\"", [("HOME", "/")])
            .expect_err("bad address");
        assert!(
            error
                .to_string()
                .starts_with("cmmv.toml: addr: invalid socket address"),
            "{error}"
        );
        let error = Settings::from_toml_and_pairs(path, "addr = [1]", [("HOME", "/")])
            .expect_err("bad type");
        assert_eq!(error.key.as_deref(), Some("addr"));
        let error = Settings::from_toml_and_pairs(path, "addr = ", [("HOME", "/")])
            .expect_err("bad syntax");
        assert!(error.to_string().starts_with("cmmv.toml: "), "{error}");
    }

    #[test]
    fn durations_and_sizes() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert_eq!(parse_duration("30d"), Ok(Duration::from_secs(30 * 86_400)));
        assert!(parse_duration("-1s").is_err());
        assert!(parse_duration("1.5s").is_err());
        assert_eq!(parse_size("512KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("3MB"), Ok(3_000_000));
        assert!(parse_size("1TiB").is_err());
        assert!(parse_size("99999999999999999999999").is_err());
    }
}
