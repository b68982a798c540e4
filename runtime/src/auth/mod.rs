//! Who is calling: bearer-token (JWT) verification and the [`Principal`] it yields, the
//! guard that checks contracts' access rules, and the login module (users, passwords, access
//! and refresh tokens, API keys; see [`Login`]).
//!
//! # Settings
//!
//! | key | meaning |
//! | --- | --- |
//! | `CMMV_JWT_ISSUER` | the one `iss` accepted |
//! | `CMMV_JWT_AUDIENCE` | comma-separated `aud` values; a token must name at least one |
//! | `CMMV_JWT_HS256_SECRET` | a shared HS256 secret, at least 32 bytes, used as is (not base64-decoded) |
//! | `CMMV_JWT_HS256_KID` | the `kid` of that secret (default `hs256`) |
//! | `CMMV_JWT_KEYS` | a JWKS file, or a directory of PEM public keys (below) |
//! | `CMMV_JWT_LEEWAY` | clock skew tolerated on `exp` and `nbf` (default `30s`, whole seconds, at most `5m`) |
//! | `CMMV_JWT_ROLES_CLAIM` | the top-level claim roles are read from (default `roles`) |
//! | `CMMV_JWT_SIGNING_KEY` | login module: a PKCS#8 PEM private key signing access tokens (ES256, EdDSA or RS256, from the key); else `CMMV_JWT_HS256_SECRET` signs |
//! | `CMMV_JWT_SIGNING_KID` | login module: the `kid` of that key (required with it); `CMMV_JWT_KEYS` must hold its public key |
//! | `CMMV_AUTH_ACCESS_TTL` | login module: access-token lifetime (default `15m`, at most `24h`) |
//! | `CMMV_AUTH_REFRESH_TTL` | login module: refresh-token lifetime (default `30d`, longer than the access TTL) |
//! | `CMMV_AUTH_DEFAULT_ROLES` | login module: comma-separated roles of new users (default `user`) |
//! | `CMMV_AUTH_PASSWORD_MIN_LENGTH` | login module: shortest password at registration (default `12`, 8 to 128) |
//! | `CMMV_AUTH_SESSION_TTL` | login module: absolute lifetime of a session, however often refreshed (default `90d`) |
//!
//! When neither `CMMV_JWT_HS256_SECRET` nor `CMMV_JWT_KEYS` is set there is no verifier
//! ([`JwtVerifier::from_settings`] gives `None`). When either is, `CMMV_JWT_ISSUER` and
//! `CMMV_JWT_AUDIENCE` are required. Every problem — a short secret, an unreadable file, a key
//! of the wrong kind, two keys with one `kid` — stops the service at start, naming the key.
//!
//! `CMMV_JWT_KEYS` names either
//!
//! - a **JWKS file** (`{"keys": [...]}`, RFC 7517). Every key needs a `kid`. Its algorithm is
//!   its `alg` member, or when that is absent the one algorithm this module supports for its
//!   type: `RSA` → `RS256`, `EC` on `P-256` → `ES256`, `OKP` on `Ed25519` → `EdDSA`,
//!   `oct` → `HS256` (at least 32 bytes). Keys marked `"use": "enc"` are skipped; RSA moduli
//!   under 2048 bits are refused.
//! - or a **directory of PEM public keys** named `<kid>.<alg>.pem`, `<alg>` one of `RS256`,
//!   `ES256`, `EdDSA` (`rsa-2026-01.RS256.pem`). Files not ending in `.pem` are ignored;
//!   private keys and certificates are refused.
//!
//! Keys are read once, at start; rotating means restarting with the new key added next to the
//! old one until the old tokens have expired.
//!
//! # The checks, in order
//!
//! 1. The token is at most 8 KiB and is a JWS in compact form whose header parses; a header
//!    with `crit` is refused (no extension is understood).
//! 2. The header's `kid` selects the key. A token without `kid` is accepted only when exactly
//!    one key is configured. `jku`, `jwk`, `x5u` and `x5c` are ignored: keys never come from
//!    the token.
//! 3. The header's `alg` must equal the key's algorithm, fixed by configuration. This refuses
//!    `alg: none` and key confusion (an HS256 token "signed" with an RSA public key).
//! 4. The signature is verified (`aws-lc-rs`).
//! 5. `exp`, `iss`, `aud` and `sub` must be present; `exp` must not be past and `nbf`, when
//!    present, not future, each give or take the leeway; `iss` must equal the issuer; `aud`
//!    (a string or an array) must name one of the audiences; `sub` must be a non-empty string.
//! 6. Roles come from the roles claim: an array of strings, or one string of space-separated
//!    values (so `scope` works); absent or `null` means no roles; anything else is refused.
//!
//! A refusal is an [`AuthError`] naming the failed check, for logs. Clients all get the same
//! 401 problem ([`AuthError::into_problem`]): `invalid or expired token` with
//! `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1), never which check failed.
//!
//! # The login module
//!
//! [`Login`] serves `/auth/register`, `/auth/login`, `/auth/refresh`, `/auth/logout`,
//! `/auth/me`, `/auth/password`, `/auth/sessions`, `/auth/api-keys`, the sign-in with
//! identity providers under `/auth/oauth` ([`oauth`]) and `/auth/identities` (its contract,
//! `compiler/modules/login.yaml`, declares each) over an
//! [`AuthStore`]: [`MemoryAuthStore`], or [`SqlAuthStore`] in the app's SQLite or PostgreSQL
//! database (tables `cmmv_auth_users`, `cmmv_auth_refresh_families`,
//! `cmmv_auth_refresh_tokens`, `cmmv_api_keys`, `cmmv_auth_identities`, `cmmv_auth_grants`,
//! migrated by the runtime and recorded in `_cmmv_auth_migrations`).
//!
//! - Passwords: argon2id with OWASP's costs, PHC strings ([`Passwords`]). A failed login looks
//!   and takes the same for an unknown user and a wrong password.
//! - Access tokens: JWTs from [`TokenIssuer`], accepted by the app's own [`JwtVerifier`]
//!   (checked at start).
//! - Refresh tokens: 256 random bits, stored as SHA-256, rotated on every use; presenting a
//!   rotated one revokes its whole family; logout revokes the family.
//! - Sessions: each family is a session its owner lists and ends, and which ends by itself
//!   `CMMV_AUTH_SESSION_TTL` after its sign-in; ending one (sign-out, revocation, a password
//!   change) ends its access tokens at once ([`Revocations`]).
//! - API keys: `cmmv_<prefix>_<secret>`, shown once, stored as SHA-256, scoped to a subset of
//!   the creator's roles, revocable; [`ApiKeys`] resolves them for the guard.
//! - Rate limits: declared by the module's contract and carried by the routes (per client IP:
//!   login 10/min burst 5, register 10/h burst 3, refresh, logout and confirm 60/min burst 10).
//!
//! An account is also the record of the project's account contract (`account:`, see
//! [`AccountRecords`]), made when the account registers and kept in step when it signs in.
//!
//! The module is declared as a contract (`compiler/modules/login.yaml`): [`contract`] holds the
//! items generated from it, which a test regenerates, and a project lists `modules: [login]`
//! in its `cmmv.yaml` to document the module with its own contracts.

mod api_keys;
mod audit;
/// The login module's contract, `Account`: its bodies, answers, handler trait and routes,
/// generated from `compiler/modules/login.yaml` (`cargo test` with `CMMV_UPDATE_MODULES=1`
/// regenerates it). The bodies are what its routes accept and answer.
#[allow(missing_docs)]
pub mod contract;
mod guard;
mod issuer;
mod jwt;
mod keys;
mod login;
pub mod oauth;
mod password;
mod records;
mod revocation;
pub(crate) mod secret;
mod settings;
mod store;
#[cfg(test)]
mod tests;

pub use api_keys::ApiKeys;
pub use audit::AUDIT_TARGET;
pub use issuer::{AccessToken, IssueError, KeyCheckError, TokenIssuer};
pub use login::{AccountMailer, LOGIN_MODULE, Login, LoginOptions, Registration};
pub use password::{PasswordError, Passwords, normalize_password};
pub use records::{AccountRecords, ContractAccounts};
pub use revocation::{MemoryRevocations, RedisRevocations, Revocations};
pub use settings::{AuthSettings, JwtSettings};
pub use store::{
    AUTH_MIGRATIONS, ApiKey, AuthStore, Identity, MemoryAuthStore, NewApiKey, NewConfirmation,
    NewGrant, NewRefreshToken, NewUser, Rotation, Session, SessionClient, SqlAuthStore,
    StoredApiKey, Unlink, User, UserCredentials, normalize_email,
};

pub use guard::{
    Access, ApiKeyVerifier, Authenticator, BoxFuture, Guard, GuardFuture, Require, guarded,
    require, resolve,
};
pub(crate) use guard::{Outcome, api_key, resolved};
pub use jwt::{AuthError, JwtConfig, JwtVerifier, MAX_TOKEN_BYTES};
pub use keys::{JwtAlgorithm, JwtKey, KeyError};

/// An authenticated caller, as handlers and the rate limiter see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// Who: the token's `sub`, or the API key's owner.
    pub subject: String,
    /// What they may do, as the contracts' role names.
    pub roles: Vec<String>,
    /// How they proved it.
    pub scheme: Scheme,
    /// The login-module session (refresh-token family) a bearer token was issued for: its
    /// `sid` claim. Signing out of the session ends the token.
    pub session: Option<String>,
    /// When a bearer token was issued (`iat`, Unix seconds). Each refresh issues a new access
    /// token, so this is not when its session signed in.
    pub issued_at: Option<u64>,
}

impl Principal {
    /// Whether the principal holds `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// How a caller authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// `Authorization: Bearer <JWT>`.
    Bearer,
    /// An API key (`Authorization: ApiKey ...` or `X-API-Key`).
    ApiKey,
}

impl Scheme {
    /// A short, stable name for logs and rate-limit keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Bearer => "bearer",
            Scheme::ApiKey => "api_key",
        }
    }
}
