//! Access tokens: short-lived JWTs the login module signs and the app's own [`JwtVerifier`]
//! accepts. They carry `iss`, `aud`, `sub`, `exp`, `iat`, `nbf`, `jti` and the roles claim,
//! with the signing key's `kid` in the header so verifiers can select it while keys rotate.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header};
use serde::Serialize;

use super::{JwtAlgorithm, JwtVerifier};
use crate::settings::{Settings, SettingsError};

/// Signs access tokens.
pub struct TokenIssuer {
    key: EncodingKey,
    alg: JwtAlgorithm,
    kid: String,
    issuer: String,
    audience: String,
    roles_claim: String,
    ttl: Duration,
}

impl fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key stays out of logs.
        f.debug_struct("TokenIssuer")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A signed access token and how long it lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The signed JWT, to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// How long the token is valid from now (`CMMV_AUTH_ACCESS_TTL`), reported to the client as
    /// `expires_in`.
    pub expires_in: Duration,
}

/// Why a token could not be signed; not the caller's fault. The signing library's error is
/// its [`source`](std::error::Error::source).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssueError(jsonwebtoken::errors::Error);

impl fmt::Display for IssueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot sign the access token: {}", self.0)
    }
}

impl std::error::Error for IssueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Why the app's verifier would not accept the tokens an issuer signs, found at start
/// ([`TokenIssuer::check_with`]).
#[derive(Debug, Clone, PartialEq)]
pub enum KeyCheckError {
    /// The issuer could not sign a probe token.
    Sign(IssueError),
    /// The verifier refused the probe token.
    Refused(crate::auth::AuthError),
    /// The verifier accepted the probe token but read its subject or roles differently.
    Misread,
}

impl fmt::Display for KeyCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyCheckError::Sign(error) => error.fmt(f),
            KeyCheckError::Refused(error) => write!(f, "{error}"),
            KeyCheckError::Misread => {
                f.write_str("the verifier reads the subject or the roles differently")
            }
        }
    }
}

impl std::error::Error for KeyCheckError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeyCheckError::Sign(error) => Some(error),
            KeyCheckError::Refused(error) => Some(error),
            KeyCheckError::Misread => None,
        }
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    aud: &'a str,
    sub: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    jti: String,
    /// The login session (refresh-token family) the token belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    sid: Option<&'a str>,
    #[serde(flatten)]
    roles: RolesClaim<'a>,
}

/// The roles under the configured claim name (`roles` unless `CMMV_JWT_ROLES_CLAIM` says
/// otherwise), so that the verifier reads them where the issuer put them.
struct RolesClaim<'a> {
    name: &'a str,
    roles: &'a [String],
}

impl Serialize for RolesClaim<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.name, self.roles)?;
        map.end()
    }
}

impl TokenIssuer {
    /// The issuer the settings describe: the private key of `CMMV_JWT_SIGNING_KEY` (with
    /// `CMMV_JWT_SIGNING_KID`), else the HS256 secret; `iss` and the first `aud` from
    /// `CMMV_JWT_ISSUER` / `CMMV_JWT_AUDIENCE`; lifetime `CMMV_AUTH_ACCESS_TTL`.
    ///
    /// A token it signs is checked at once with the verifier the same settings build, so a
    /// signing key whose public key the app does not trust stops the app at start, naming the
    /// setting, instead of every login producing a token the app then refuses.
    pub fn from_settings(settings: &Settings) -> Result<Self, SettingsError> {
        settings.validate_jwt()?;
        settings.validate_auth()?;
        let jwt = &settings.jwt;
        let auth = &settings.auth;
        let (key, alg, kid, setting) = match (&auth.signing_key, &auth.signing_kid) {
            (Some(path), Some(kid)) => {
                let (key, alg) = read_private_key(path)
                    .map_err(|m| SettingsError::env("CMMV_JWT_SIGNING_KEY", m))?;
                (key, alg, kid.clone(), "CMMV_JWT_SIGNING_KEY")
            }
            _ => match &jwt.hs256_secret {
                Some(secret) => (
                    EncodingKey::from_secret(secret.expose().as_bytes()),
                    JwtAlgorithm::HS256,
                    jwt.hs256_kid.clone(),
                    "CMMV_JWT_HS256_SECRET",
                ),
                None => {
                    return Err(SettingsError::env(
                        "CMMV_JWT_SIGNING_KEY",
                        "the login module needs a key to sign access tokens with: set \
                         CMMV_JWT_SIGNING_KEY (with CMMV_JWT_SIGNING_KID) or CMMV_JWT_HS256_SECRET",
                    ));
                }
            },
        };
        let (Some(issuer), Some(audience)) = (&jwt.issuer, jwt.audience.first()) else {
            return Err(SettingsError::env(
                "CMMV_JWT_ISSUER",
                "must be set, with CMMV_JWT_AUDIENCE, for the login module to issue tokens",
            ));
        };
        let issuer = Self {
            key,
            alg,
            kid,
            issuer: issuer.clone(),
            audience: audience.clone(),
            roles_claim: jwt.roles_claim.clone(),
            ttl: auth.access_ttl,
        };
        let verifier = JwtVerifier::from_settings(settings)?.ok_or_else(|| {
            SettingsError::env(
                setting,
                "the app has no key to verify the tokens it would issue: set CMMV_JWT_KEYS \
                 to the signing key's public key",
            )
        })?;
        issuer.check_with(&verifier).map_err(|m| {
            SettingsError::env(
                setting,
                format!(
                    "the app's verifier refuses tokens signed with this key (kid {:?}): {m}",
                    issuer.kid
                ),
            )
        })?;
        Ok(issuer)
    }

    /// Whether `verifier` accepts a token this issuer signs.
    pub fn check_with(&self, verifier: &JwtVerifier) -> Result<(), KeyCheckError> {
        let probe = self
            .issue("cmmv-start-up-check", &["probe".to_owned()])
            .map_err(KeyCheckError::Sign)?;
        let principal = verifier
            .verify(&probe.token)
            .map_err(KeyCheckError::Refused)?;
        if principal.subject == "cmmv-start-up-check" && principal.has_role("probe") {
            Ok(())
        } else {
            Err(KeyCheckError::Misread)
        }
    }

    /// An access token for `subject` holding `roles`, valid from now for the configured TTL.
    pub fn issue(&self, subject: &str, roles: &[String]) -> Result<AccessToken, IssueError> {
        self.issue_in(subject, roles, None)
    }

    /// [`TokenIssuer::issue`] for the login session `session` (its `sid` claim), which
    /// signing out of the session ends.
    pub fn issue_in(
        &self,
        subject: &str,
        roles: &[String],
        session: Option<&str>,
    ) -> Result<AccessToken, IssueError> {
        let now = unix_now();
        let claims = Claims {
            iss: &self.issuer,
            aud: &self.audience,
            sub: subject,
            iat: now,
            nbf: now,
            exp: now.saturating_add(self.ttl.as_secs()),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            sid: session,
            roles: RolesClaim {
                name: &self.roles_claim,
                roles,
            },
        };
        let mut header = Header::new(self.alg.jsonwebtoken());
        header.kid = Some(self.kid.clone());
        let token = jsonwebtoken::encode(&header, &claims, &self.key).map_err(IssueError)?;
        Ok(AccessToken {
            token,
            expires_in: self.ttl,
        })
    }

    /// The algorithm tokens are signed with.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.alg
    }

    /// How long an access token lives.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// A PKCS#8 private key and the one algorithm its type is used with.
fn read_private_key(path: &Path) -> Result<(EncodingKey, JwtAlgorithm), String> {
    let pem = std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let text = String::from_utf8_lossy(&pem);
    if !text.contains("PRIVATE KEY-----") {
        return Err(format!(
            "{}: not a PEM private key (expected -----BEGIN PRIVATE KEY-----)",
            path.display()
        ));
    }
    // jsonwebtoken classifies the key by its ASN.1 algorithm identifier; each constructor
    // accepts only its own type.
    type Parse = fn(&[u8]) -> jsonwebtoken::errors::Result<EncodingKey>;
    let attempts: [(JwtAlgorithm, Parse); 3] = [
        (JwtAlgorithm::ES256, EncodingKey::from_ec_pem),
        (JwtAlgorithm::EdDSA, EncodingKey::from_ed_pem),
        (JwtAlgorithm::RS256, EncodingKey::from_rsa_pem),
    ];
    for (alg, parse) in attempts {
        if let Ok(key) = parse(&pem) {
            return Ok((key, alg));
        }
    }
    Err(format!(
        "{}: not a usable P-256, Ed25519 or RSA private key in PKCS#8 form (convert with \
         `openssl pkcs8 -topk8 -nocrypt -in KEY`)",
        path.display()
    ))
}

/// Seconds since the Unix epoch (0 if the clock is before it, which no real clock is).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// [`unix_now`] as the stores count time.
pub(crate) fn unix_now_i64() -> i64 {
    i64::try_from(unix_now()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::Settings;
    use jsonwebtoken::Algorithm;

    const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

    fn testdata(path: &str) -> String {
        format!("{}/src/auth/testdata/{path}", env!("CARGO_MANIFEST_DIR"))
    }

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let mut all = vec![
            ("CMMV_JWT_ISSUER", "https://issuer.test"),
            ("CMMV_JWT_AUDIENCE", "api,other"),
        ];
        all.extend_from_slice(pairs);
        Settings::from_pairs(all)
    }

    #[test]
    fn hs256_tokens_are_accepted_by_the_apps_verifier() {
        let settings = settings(&[("CMMV_JWT_HS256_SECRET", SECRET)]).expect("settings");
        let issuer = TokenIssuer::from_settings(&settings).expect("issuer");
        assert_eq!(issuer.algorithm(), JwtAlgorithm::HS256);
        let verifier = JwtVerifier::from_settings(&settings)
            .expect("verifier")
            .expect("configured");
        let token = issuer
            .issue("user-1", &["user".to_owned(), "admin".to_owned()])
            .expect("signed");
        let principal = verifier.verify(&token.token).expect("accepted");
        assert_eq!(principal.subject, "user-1");
        assert_eq!(principal.roles, ["user", "admin"]);
        let header = jsonwebtoken::decode_header(&token.token).expect("header");
        assert_eq!(header.kid.as_deref(), Some("hs256"));
        assert_eq!(header.alg, Algorithm::HS256);
    }

    #[test]
    fn every_claim_is_present() {
        let settings = settings(&[("CMMV_JWT_HS256_SECRET", SECRET)]).expect("settings");
        let issuer = TokenIssuer::from_settings(&settings).expect("issuer");
        let token = issuer.issue("u", &[]).expect("signed").token;
        let payload = token.split('.').nth(1).expect("a payload");
        let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
        validation.set_audience(&["api"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(SECRET.as_bytes()),
            &validation,
        )
        .expect("decodes")
        .claims;
        assert!(!payload.is_empty());
        for claim in ["iss", "aud", "sub", "exp", "iat", "nbf", "jti", "roles"] {
            assert!(claims.get(claim).is_some(), "{claim} missing in {claims}");
        }
        assert_eq!(claims["aud"], "api");
        assert_eq!(
            claims["exp"].as_u64(),
            claims["iat"].as_u64().map(|t| t + 900)
        );
    }

    #[test]
    fn private_keys_sign_with_the_algorithm_of_their_type() {
        for (file, kid, alg) in [
            ("ec-1.pem", "ec-1", JwtAlgorithm::ES256),
            ("ed-1.pem", "ed-1", JwtAlgorithm::EdDSA),
            ("rsa-1.pem", "rsa-1", JwtAlgorithm::RS256),
        ] {
            let key = testdata(&format!("private/{file}"));
            let keys = testdata("keys");
            let settings = settings(&[
                ("CMMV_JWT_KEYS", &keys),
                ("CMMV_JWT_SIGNING_KEY", &key),
                ("CMMV_JWT_SIGNING_KID", kid),
            ])
            .expect("settings");
            let issuer = TokenIssuer::from_settings(&settings).expect("issuer");
            assert_eq!(issuer.algorithm(), alg);
        }
    }

    #[test]
    fn a_key_the_app_does_not_trust_stops_the_start_naming_the_setting() {
        let keys = testdata("keys");
        let other = testdata("private/rsa-other.pem");
        let untrusted = settings(&[
            ("CMMV_JWT_KEYS", &keys),
            ("CMMV_JWT_SIGNING_KEY", &other),
            ("CMMV_JWT_SIGNING_KID", "rsa-1"),
        ])
        .expect("settings");
        let error = TokenIssuer::from_settings(&untrusted).expect_err("untrusted key");
        assert_eq!(
            error.key.as_deref(),
            Some("CMMV_JWT_SIGNING_KEY"),
            "{error}"
        );

        let public = testdata("keys/ec-1.ES256.pem");
        let error = TokenIssuer::from_settings(&settings_with_key(&keys, &public))
            .expect_err("a public key");
        assert_eq!(
            error.key.as_deref(),
            Some("CMMV_JWT_SIGNING_KEY"),
            "{error}"
        );

        let error = settings(&[("CMMV_JWT_KEYS", &keys), ("CMMV_JWT_SIGNING_KEY", &other)])
            .expect_err("no kid");
        assert_eq!(error.key.as_deref(), Some("CMMV_JWT_SIGNING_KID"));

        let only_keys = settings(&[("CMMV_JWT_KEYS", &keys)]).expect("settings");
        let error = TokenIssuer::from_settings(&only_keys).expect_err("nothing to sign with");
        assert_eq!(error.key.as_deref(), Some("CMMV_JWT_SIGNING_KEY"));
    }

    fn settings_with_key(keys: &str, key: &str) -> Settings {
        settings(&[
            ("CMMV_JWT_KEYS", keys),
            ("CMMV_JWT_SIGNING_KEY", key),
            ("CMMV_JWT_SIGNING_KID", "ec-1"),
        ])
        .expect("settings")
    }
}
