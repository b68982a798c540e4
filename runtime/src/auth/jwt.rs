//! The verifier: one pinned algorithm and one `Validation` per key, chosen by `kid`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use super::keys::{self, JwtKey, KeyError};
use super::{Principal, Scheme};
use crate::problem::Problem;
use crate::settings::{Settings, SettingsError};

/// Tokens longer than this are refused unread: no legitimate bearer token comes near it, and
/// decoding a huge one would only burn CPU.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The one detail clients get for any refused token.
const INVALID_TOKEN_DETAIL: &str = "invalid or expired token";

/// Why a token was refused. The variant is for logs and metrics; clients see one generic
/// problem ([`AuthError::into_problem`]) whatever it is.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthError {
    /// No credentials were sent at all.
    MissingCredentials,
    /// Not a JWS in compact form: wrong shape, bad base64 or JSON, too long, or a header
    /// this verifier does not understand (`crit`).
    Malformed,
    /// The `kid` names no configured key, or there is no `kid` and several keys.
    UnknownKey,
    /// The header's `alg` is not the algorithm its key is pinned to (`none`, key confusion).
    Algorithm,
    /// The signature does not verify with the selected key.
    Signature,
    /// `exp` is past, beyond the leeway.
    Expired,
    /// `nbf` is future, beyond the leeway.
    NotYetValid,
    /// `iss` is not the configured issuer.
    Issuer,
    /// `aud` names none of the configured audiences.
    Audience,
    /// A required claim is absent.
    MissingClaim(&'static str),
    /// A claim is present but of the wrong type or empty.
    InvalidClaim(&'static str),
    /// An API key that is unknown, malformed or revoked, or an API key sent to an app that
    /// accepts none.
    InvalidApiKey,
    /// The credentials could not be checked: the store holding them is unreachable. Not the
    /// caller's fault, so a 503 rather than a 401.
    Unavailable,
    /// A valid token whose session was signed out, revoked, or ended by a password change.
    Revoked,
}

impl AuthError {
    /// A short, stable name of the failure class, for log fields and metric labels.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthError::MissingCredentials => "missing_credentials",
            AuthError::Malformed => "malformed",
            AuthError::UnknownKey => "unknown_key",
            AuthError::Algorithm => "algorithm",
            AuthError::Signature => "signature",
            AuthError::Expired => "expired",
            AuthError::NotYetValid => "not_yet_valid",
            AuthError::Issuer => "issuer",
            AuthError::Audience => "audience",
            AuthError::MissingClaim(_) => "missing_claim",
            AuthError::InvalidClaim(_) => "invalid_claim",
            AuthError::InvalidApiKey => "invalid_api_key",
            AuthError::Unavailable => "unavailable",
            AuthError::Revoked => "revoked",
        }
    }

    /// The 401 problem clients get: the same text for every refused token, with
    /// `WWW-Authenticate: Bearer error="invalid_token"` (RFC 6750 §3.1); a request without
    /// credentials gets a bare `Bearer` challenge, as RFC 6750 §3.1 asks.
    pub fn into_problem(self) -> Problem {
        match self {
            AuthError::MissingCredentials => {
                Problem::unauthorized("authentication required", "Bearer")
            }
            AuthError::InvalidApiKey => {
                Problem::unauthorized("invalid or revoked API key", "ApiKey")
            }
            AuthError::Unavailable => {
                Problem::unavailable("credentials cannot be checked right now; retry later")
            }
            _ => Problem::unauthorized(INVALID_TOKEN_DETAIL, "Bearer error=\"invalid_token\""),
        }
    }
}

impl fmt::Display for AuthError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthError::MissingClaim(claim) => write!(f, "token refused: missing claim {claim}"),
            AuthError::InvalidClaim(claim) => write!(f, "token refused: invalid claim {claim}"),
            AuthError::InvalidApiKey => write!(f, "API key refused"),
            AuthError::Unavailable => write!(f, "credentials cannot be checked: store unavailable"),
            other => write!(f, "token refused: {}", other.reason()),
        }
    }
}

impl std::error::Error for AuthError {}

impl From<AuthError> for Problem {
    fn from(error: AuthError) -> Self {
        error.into_problem()
    }
}

/// What every token must say, whichever key signed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtConfig {
    /// The one `iss` accepted.
    pub issuer: String,
    /// The `aud` values accepted (any one suffices).
    pub audience: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`; counted in whole seconds.
    pub leeway: Duration,
    /// The top-level claim holding the roles.
    pub roles_claim: String,
}

/// One configured key with the validation pinned to its algorithm.
#[derive(Debug)]
struct Entry {
    alg: Algorithm,
    key: DecodingKey,
    validation: Validation,
}

/// Verifies bearer tokens against configured keys; cheap to share (`Arc`) across requests.
#[derive(Debug)]
pub struct JwtVerifier {
    keys: HashMap<String, Entry>,
    /// The kid of the only key, when there is exactly one: the key of tokens without `kid`.
    only: Option<String>,
    roles_claim: String,
    leeway: u64,
    verified: Mutex<HashMap<Box<str>, Verified>>,
}

/// The tokens verified lately. A client sends the same token with every request until it
/// expires; checking its signature and claims once is enough. Bounded: when full it is
/// emptied, which costs one verification per token afterwards and never admits anything.
const VERIFIED_CAPACITY: usize = 4096;

/// A token that passed every check, and the window in which it still would.
#[derive(Debug)]
struct Verified {
    principal: Arc<Principal>,
    /// `nbf` minus the leeway (0 without `nbf`), in Unix seconds.
    from: u64,
    /// `exp` plus the leeway, in Unix seconds.
    until: u64,
}

impl JwtVerifier {
    /// A verifier of tokens signed by any of `keys`, each selected by its `kid`.
    pub fn new(config: &JwtConfig, keys: Vec<JwtKey>) -> Result<Self, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::new("no verification key"));
        }
        if config.issuer.is_empty() {
            return Err(KeyError::new("no issuer"));
        }
        if config.audience.is_empty() {
            return Err(KeyError::new("no audience"));
        }
        let only = match keys.as_slice() {
            [key] => Some(key.kid.clone()),
            _ => None,
        };
        let mut entries = HashMap::with_capacity(keys.len());
        for key in keys {
            let alg = key.alg.jsonwebtoken();
            let mut validation = Validation::new(alg);
            validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
            validation.validate_exp = true;
            validation.validate_nbf = true;
            validation.validate_aud = true;
            validation.leeway = config.leeway.as_secs();
            validation.set_issuer(&[&config.issuer]);
            validation.set_audience(&config.audience);
            let entry = Entry {
                alg,
                key: key.key,
                validation,
            };
            if entries.insert(key.kid.clone(), entry).is_some() {
                return Err(KeyError::new(format!(
                    "two keys have the kid {:?}",
                    key.kid
                )));
            }
        }
        Ok(Self {
            keys: entries,
            only,
            roles_claim: config.roles_claim.clone(),
            leeway: config.leeway.as_secs(),
            verified: Mutex::new(HashMap::new()),
        })
    }

    /// The verifier the settings ask for, or `None` when no JWT key is configured. Reads the
    /// key files; every problem is an error naming the setting.
    pub fn from_settings(settings: &Settings) -> Result<Option<Self>, SettingsError> {
        settings.validate_jwt()?;
        let jwt = &settings.jwt;
        if !jwt.has_keys() {
            return Ok(None);
        }
        let mut keys = Vec::new();
        if let Some(secret) = &jwt.hs256_secret {
            keys.push(
                JwtKey::hs256(jwt.hs256_kid.clone(), secret.expose().as_bytes())
                    .map_err(|e| SettingsError::env("CMMV_JWT_HS256_SECRET", e.to_string()))?,
            );
        }
        if let Some(path) = &jwt.keys {
            let loaded = keys::load(path).map_err(|e| {
                SettingsError::env("CMMV_JWT_KEYS", format!("{}: {e}", path.display()))
            })?;
            keys.extend(loaded);
        }
        let config = JwtConfig {
            issuer: jwt.issuer.clone().unwrap_or_default(),
            audience: jwt.audience.clone(),
            leeway: jwt.leeway,
            roles_claim: jwt.roles_claim.clone(),
        };
        Self::new(&config, keys)
            .map(Some)
            .map_err(|e| SettingsError::env("CMMV_JWT_KEYS", e.to_string()))
    }

    /// The kids of the configured keys, in no particular order.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The principal a bearer token proves, or why it proves nothing.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        self.verify_shared(token).map(|p| Principal::clone(&p))
    }

    /// [`JwtVerifier::verify`], sharing the principal of a token verified before: a token
    /// already verified is only checked against the clock again (its bytes are compared whole,
    /// so only the very same token hits).
    pub fn verify_shared(&self, token: &str) -> Result<Arc<Principal>, AuthError> {
        let now = jsonwebtoken::get_current_timestamp();
        if let Ok(verified) = self.verified.lock() {
            if let Some(hit) = verified.get(token) {
                if hit.from <= now && now <= hit.until {
                    return Ok(Arc::clone(&hit.principal));
                }
            }
        }
        let (principal, nbf, exp) = self.check(token)?;
        let principal = Arc::new(principal);
        if let Ok(mut verified) = self.verified.lock() {
            if verified.len() >= VERIFIED_CAPACITY {
                verified.clear();
            }
            verified.insert(
                token.into(),
                Verified {
                    principal: Arc::clone(&principal),
                    from: nbf.map_or(0, |nbf| nbf.saturating_sub(self.leeway)),
                    until: exp.saturating_add(self.leeway),
                },
            );
        }
        Ok(principal)
    }

    /// Every check of a token: its principal, `nbf` and `exp`.
    fn check(&self, token: &str) -> Result<(Principal, Option<u64>, u64), AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::Malformed);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|e| classify(e.kind()))?;
        if header.crit.is_some() {
            return Err(AuthError::Malformed);
        }
        let entry = match header.kid.as_deref() {
            Some(kid) => self.keys.get(kid),
            None => self.only.as_ref().and_then(|kid| self.keys.get(kid)),
        }
        .ok_or(AuthError::UnknownKey)?;
        if header.alg != entry.alg {
            return Err(AuthError::Algorithm);
        }
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &entry.key, &entry.validation)
            .map_err(|e| classify(e.kind()))?;
        let claims = data.claims;
        let subject = match claims.get("sub") {
            Some(Value::String(sub)) if !sub.is_empty() => sub.clone(),
            Some(_) => return Err(AuthError::InvalidClaim("sub")),
            None => return Err(AuthError::MissingClaim("sub")),
        };
        let roles = match claims.get(&self.roles_claim) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(roles)) => roles.split_whitespace().map(str::to_owned).collect(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or(AuthError::InvalidClaim("roles"))?,
            Some(_) => return Err(AuthError::InvalidClaim("roles")),
        };
        // Both were checked by `decode`: `exp` is required, and each is a number.
        let time = |claim: &str| claims.get(claim).and_then(Value::as_u64);
        let exp = time("exp").ok_or(AuthError::InvalidClaim("exp"))?;
        let session = match claims.get("sid") {
            None => None,
            Some(Value::String(sid)) if !sid.is_empty() => Some(sid.clone()),
            Some(_) => return Err(AuthError::InvalidClaim("sid")),
        };
        let principal = Principal {
            subject,
            roles,
            scheme: Scheme::Bearer,
            session,
            issued_at: time("iat"),
        };
        Ok((principal, time("nbf"), exp))
    }
}

/// The failure class of a `jsonwebtoken` error.
fn classify(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => AuthError::Signature,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::MissingAlgorithm
        | ErrorKind::InvalidAlgorithmName => AuthError::Algorithm,
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::Issuer,
        ErrorKind::InvalidAudience => AuthError::Audience,
        ErrorKind::InvalidSubject => AuthError::InvalidClaim("sub"),
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim_name(claim)),
        ErrorKind::InvalidClaimFormat(claim) => AuthError::InvalidClaim(claim_name(claim)),
        _ => AuthError::Malformed,
    }
}

/// The registered claim names `jsonwebtoken` reports, as static strings.
fn claim_name(claim: &str) -> &'static str {
    match claim {
        "exp" => "exp",
        "nbf" => "nbf",
        "iss" => "iss",
        "aud" => "aud",
        "sub" => "sub",
        _ => "claim",
    }
}
