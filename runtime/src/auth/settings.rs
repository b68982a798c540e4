//! The settings of authentication, next to the code they configure: bearer-token
//! verification (`CMMV_JWT_*`) and the login module (`CMMV_AUTH_*`). `crate::settings` reads
//! them from the environment and checks them.

use std::path::PathBuf;
use std::time::Duration;

use crate::settings::Secret;

/// Bearer-token (JWT) verification. Nothing set means no verifier.
#[derive(Debug, Clone, PartialEq)]
pub struct JwtSettings {
    /// The one `iss` accepted.
    pub issuer: Option<String>,
    /// The `aud` values accepted; a token must name at least one.
    pub audience: Vec<String>,
    /// A shared HS256 secret.
    pub hs256_secret: Option<Secret>,
    /// The `kid` that selects [`JwtSettings::hs256_secret`].
    pub hs256_kid: String,
    /// A JWKS file, or a directory of `<kid>.<alg>.pem` public keys.
    pub keys: Option<PathBuf>,
    /// Clock skew tolerated on `exp` and `nbf` (whole seconds).
    pub leeway: Duration,
    /// The claim a token's roles are read from.
    pub roles_claim: String,
}

impl JwtSettings {
    /// Whether any verification key is configured.
    pub fn has_keys(&self) -> bool {
        self.hs256_secret.is_some() || self.keys.is_some()
    }
}

impl Default for JwtSettings {
    fn default() -> Self {
        Self {
            issuer: None,
            audience: Vec::new(),
            hs256_secret: None,
            hs256_kid: "hs256".to_owned(),
            keys: None,
            leeway: Duration::from_secs(30),
            roles_claim: "roles".to_owned(),
        }
    }
}

/// What the login module issues and accepts ([`crate::auth::Login`]).
#[derive(Debug, Clone, PartialEq)]
pub struct AuthSettings {
    /// A PKCS#8 PEM private key that signs access tokens; `None`: the HS256 secret signs.
    pub signing_key: Option<PathBuf>,
    /// The `kid` of [`AuthSettings::signing_key`].
    pub signing_kid: Option<String>,
    /// Lifetime of an access token.
    pub access_ttl: Duration,
    /// Lifetime of a refresh token; each rotation issues a new one with a new lifetime.
    pub refresh_ttl: Duration,
    /// The roles a newly registered user gets.
    pub default_roles: Vec<String>,
    /// The shortest password accepted at registration, in characters.
    pub password_min_length: usize,
    /// How registration answers: at once (`409` for a taken email), or alike for every
    /// address, confirmed by a mailed token.
    pub registration: super::Registration,
    /// How long a confirmation token works.
    pub confirmation_ttl: Duration,
    /// The absolute lifetime of a session, however often it is refreshed.
    pub session_ttl: Duration,
}

impl Default for AuthSettings {
    fn default() -> Self {
        Self {
            signing_key: None,
            signing_kid: None,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            default_roles: vec!["user".to_owned()],
            password_min_length: 12,
            registration: super::Registration::Immediate,
            confirmation_ttl: Duration::from_secs(24 * 3600),
            session_ttl: Duration::from_secs(90 * 24 * 3600),
        }
    }
}
