//! Verification keys: HS256 secrets, PEM public keys, JWKS files and directories of PEM files.

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use crate::settings::JWT_MIN_SECRET_BYTES;

/// The algorithms a key can be pinned to: one per key type, the ones RFC 8725 and common
/// identity providers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwtAlgorithm {
    /// HMAC with SHA-256 and a shared secret.
    HS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl JwtAlgorithm {
    /// The name used in JWT headers and file names.
    pub fn as_str(self) -> &'static str {
        match self {
            JwtAlgorithm::HS256 => "HS256",
            JwtAlgorithm::RS256 => "RS256",
            JwtAlgorithm::ES256 => "ES256",
            JwtAlgorithm::EdDSA => "EdDSA",
        }
    }

    fn family(self) -> AlgorithmFamily {
        match self {
            JwtAlgorithm::HS256 => AlgorithmFamily::Hmac,
            JwtAlgorithm::RS256 => AlgorithmFamily::Rsa,
            JwtAlgorithm::ES256 => AlgorithmFamily::Ec,
            JwtAlgorithm::EdDSA => AlgorithmFamily::Ed,
        }
    }

    pub(crate) fn jsonwebtoken(self) -> Algorithm {
        match self {
            JwtAlgorithm::HS256 => Algorithm::HS256,
            JwtAlgorithm::RS256 => Algorithm::RS256,
            JwtAlgorithm::ES256 => Algorithm::ES256,
            JwtAlgorithm::EdDSA => Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for JwtAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for JwtAlgorithm {
    type Err = KeyError;

    /// Exactly as spelled in JWT headers (`RS256`, `EdDSA`).
    fn from_str(s: &str) -> Result<Self, KeyError> {
        match s {
            "HS256" => Ok(JwtAlgorithm::HS256),
            "RS256" => Ok(JwtAlgorithm::RS256),
            "ES256" => Ok(JwtAlgorithm::ES256),
            "EdDSA" => Ok(JwtAlgorithm::EdDSA),
            _ => Err(KeyError::new(format!(
                "unsupported algorithm {s:?} (expected HS256, RS256, ES256 or EdDSA)"
            ))),
        }
    }
}

/// A key that cannot be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(String);

impl KeyError {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for KeyError {}

/// One verification key: its `kid`, the one algorithm it accepts, and the key material.
#[derive(Clone)]
pub struct JwtKey {
    pub(crate) kid: String,
    pub(crate) alg: JwtAlgorithm,
    pub(crate) key: DecodingKey,
}

impl fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The key material stays out of logs, secret or not.
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

impl JwtKey {
    /// An HS256 shared secret of at least 32 bytes.
    pub fn hs256(kid: impl Into<String>, secret: &[u8]) -> Result<Self, KeyError> {
        if secret.len() < JWT_MIN_SECRET_BYTES {
            return Err(KeyError::new(format!(
                "HS256 secret too short: {} bytes, at least {JWT_MIN_SECRET_BYTES} required",
                secret.len()
            )));
        }
        Self::new(
            kid.into(),
            JwtAlgorithm::HS256,
            DecodingKey::from_secret(secret),
        )
    }

    /// A public key in PEM (`-----BEGIN PUBLIC KEY-----`, or `RSA PUBLIC KEY` for RS256),
    /// pinned to `alg`.
    pub fn from_pem(
        kid: impl Into<String>,
        alg: JwtAlgorithm,
        pem: &[u8],
    ) -> Result<Self, KeyError> {
        let text = String::from_utf8_lossy(pem);
        let label = text
            .lines()
            .find_map(|line| line.trim().strip_prefix("-----BEGIN "))
            .and_then(|rest| rest.strip_suffix("-----"))
            .ok_or_else(|| KeyError::new("not a PEM file (no -----BEGIN line)"))?;
        match (label, alg) {
            ("PUBLIC KEY", _) | ("RSA PUBLIC KEY", JwtAlgorithm::RS256) => {}
            (label, _) if label.contains("PRIVATE KEY") => {
                return Err(KeyError::new(
                    "is a private key: give the public key (`openssl pkey -in KEY -pubout`)",
                ));
            }
            (label, alg) => {
                return Err(KeyError::new(format!(
                    "a PEM {label:?} cannot be an {alg} key (expected \"PUBLIC KEY\")"
                )));
            }
        }
        let key = match alg {
            JwtAlgorithm::RS256 => DecodingKey::from_rsa_pem(pem),
            JwtAlgorithm::ES256 => DecodingKey::from_ec_pem(pem),
            JwtAlgorithm::EdDSA => DecodingKey::from_ed_pem(pem),
            JwtAlgorithm::HS256 => {
                return Err(KeyError::new(
                    "HS256 keys are shared secrets, not PEM files: use CMMV_JWT_HS256_SECRET \
                     or an `oct` key in a JWKS file",
                ));
            }
        }
        .map_err(|e| KeyError::new(format!("not a usable {alg} public key: {e}")))?;
        Self::new(kid.into(), alg, key)
    }

    fn new(kid: String, alg: JwtAlgorithm, key: DecodingKey) -> Result<Self, KeyError> {
        if kid.is_empty() {
            return Err(KeyError::new("a key needs a non-empty kid"));
        }
        if key.family() != alg.family() {
            return Err(KeyError::new(format!("key {kid:?} is not an {alg} key")));
        }
        Ok(Self { kid, alg, key })
    }

    /// The key id: a token whose header names this `kid` is checked with this key (and, when
    /// it is the only key, a token without a `kid`).
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies; a token signed with another is refused.
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.alg
    }
}

/// The keys at `path`: a directory of `<kid>.<alg>.pem` files, or a JWKS file.
pub(crate) fn load(path: &Path) -> Result<Vec<JwtKey>, KeyError> {
    let metadata =
        std::fs::metadata(path).map_err(|e| KeyError::new(format!("cannot read: {e}")))?;
    let keys = if metadata.is_dir() {
        load_pem_dir(path)?
    } else {
        let text = std::fs::read_to_string(path)
            .map_err(|e| KeyError::new(format!("cannot read: {e}")))?;
        parse_jwks(&text)?
    };
    if keys.is_empty() {
        return Err(KeyError::new(if metadata.is_dir() {
            "no <kid>.<alg>.pem file in this directory"
        } else {
            "the JWKS holds no signature key"
        }));
    }
    Ok(keys)
}

fn load_pem_dir(dir: &Path) -> Result<Vec<JwtKey>, KeyError> {
    let entries = std::fs::read_dir(dir).map_err(|e| KeyError::new(format!("cannot read: {e}")))?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| KeyError::new(format!("cannot read: {e}")))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".pem") || entry.path().is_dir() {
            continue;
        }
        files.push((name, entry.path()));
    }
    files.sort();
    let mut keys = Vec::with_capacity(files.len());
    for (name, path) in files {
        let in_file = |e: KeyError| KeyError::new(format!("{name}: {e}"));
        let stem = name.trim_end_matches(".pem");
        let (kid, alg) = stem.rsplit_once('.').ok_or_else(|| {
            KeyError::new(format!(
                "{name}: expected a name of the form <kid>.<alg>.pem (e.g. key-1.RS256.pem)"
            ))
        })?;
        let alg: JwtAlgorithm = alg.parse().map_err(in_file)?;
        let pem =
            std::fs::read(&path).map_err(|e| KeyError::new(format!("{name}: cannot read: {e}")))?;
        keys.push(JwtKey::from_pem(kid, alg, &pem).map_err(in_file)?);
    }
    Ok(keys)
}

/// The signature keys of a JWKS document.
pub(crate) fn parse_jwks(text: &str) -> Result<Vec<JwtKey>, KeyError> {
    let set: JwkSet = serde_json::from_str(text)
        .map_err(|e| KeyError::new(format!("not a JWKS document: {e}")))?;
    let mut keys = Vec::with_capacity(set.keys.len());
    for (index, jwk) in set.keys.iter().enumerate() {
        if jwk.common.public_key_use == Some(PublicKeyUse::Encryption) {
            continue;
        }
        let kid = jwk
            .common
            .key_id
            .clone()
            .filter(|kid| !kid.is_empty())
            .ok_or_else(|| KeyError::new(format!("key {index} has no kid")))?;
        let at = |message: String| KeyError::new(format!("key {kid:?}: {message}"));
        let implied = match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => JwtAlgorithm::RS256,
            AlgorithmParameters::EllipticCurve(_) => JwtAlgorithm::ES256,
            AlgorithmParameters::OctetKeyPair(_) => JwtAlgorithm::EdDSA,
            AlgorithmParameters::OctetKey(_) => JwtAlgorithm::HS256,
        };
        let alg = match jwk.common.key_algorithm {
            None => implied,
            Some(KeyAlgorithm::HS256) => JwtAlgorithm::HS256,
            Some(KeyAlgorithm::RS256) => JwtAlgorithm::RS256,
            Some(KeyAlgorithm::ES256) => JwtAlgorithm::ES256,
            Some(KeyAlgorithm::EdDSA) => JwtAlgorithm::EdDSA,
            Some(other) => {
                return Err(at(format!(
                    "unsupported alg {other:?} (expected HS256, RS256, ES256 or EdDSA)"
                )));
            }
        };
        if alg != implied {
            return Err(at(format!("alg {alg} does not fit the key's type")));
        }
        match &jwk.algorithm {
            // base64url: 6 bits a character; RS256 verification needs >= 2048 bits.
            AlgorithmParameters::RSA(rsa) if rsa.n.trim_end_matches('=').len() * 6 / 8 < 256 => {
                return Err(at("RSA modulus under 2048 bits".to_owned()));
            }
            AlgorithmParameters::EllipticCurve(ec) if ec.curve != EllipticCurve::P256 => {
                return Err(at(format!("ES256 needs curve P-256, not {:?}", ec.curve)));
            }
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve != EllipticCurve::Ed25519 => {
                return Err(at(format!(
                    "EdDSA needs curve Ed25519, not {:?}",
                    okp.curve
                )));
            }
            _ => {}
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| at(format!("unusable key: {e}")))?;
        if alg == JwtAlgorithm::HS256 {
            let secret = key
                .try_get_hmac_secret()
                .map_err(|e| at(format!("unusable key: {e}")))?;
            keys.push(JwtKey::hs256(kid.clone(), secret).map_err(|e| at(e.to_string()))?);
        } else {
            keys.push(JwtKey::new(kid.clone(), alg, key).map_err(|e| at(e.to_string()))?);
        }
    }
    Ok(keys)
}
