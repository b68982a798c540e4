//! Secret fields (`type: secret` in a contract): passwords and the like, which a service accepts
//! but never stores, logs or returns in clear.
//!
//! A request body carries a [`Secret`]: the clear text, in Unicode NFC (as the login module's
//! passwords, see [`crate::auth::normalize_password`]), checked against the field's length and
//! pattern rules like a string, and printed by `Debug` as `Secret(<redacted>)`. The default
//! CRUD operations hash every secret of a body with argon2id on the blocking pool
//! ([`seal_all`]) before the body becomes a resource, so the resource — what the stores keep —
//! only ever holds a [`SecretHash`]: the PHC string (`$argon2id$v=19$...`), which no response
//! carries either (the field is write-only). A handler checks a candidate against it with
//! [`SecretHash::verify`]:
//!
//! ```
//! use cmmv::secret::Secret;
//!
//! # fn main() -> Result<(), cmmv::Problem> {
//! let hash = Secret::new("correct horse battery staple").into_hash()?;
//! assert!(hash.verify("correct horse battery staple"));
//! assert!(!hash.verify("Correct horse battery staple"));
//! assert!(hash.as_phc().starts_with("$argon2id$"));
//! assert_eq!(format!("{hash:?}"), "SecretHash(<argon2id>)");
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::OnceLock;

use serde_json::Value;

use crate::auth::{Passwords, normalize_password};
use crate::problem::Problem;
use crate::sql::{ColumnError, SqlColumn, SqlValue};
use crate::validate::{At, Check, Errors, FromJson, Rules};

/// The hasher every secret field shares: argon2id at OWASP's costs, at most one hash per CPU
/// at a time. Made at the first use and never changed, so no two apps can disagree about it.
fn hasher() -> Result<&'static Passwords, Problem> {
    static HASHER: OnceLock<Passwords> = OnceLock::new();
    if let Some(hasher) = HASHER.get() {
        return Ok(hasher);
    }
    let made = Passwords::new().map_err(|error| {
        tracing::error!(%error, "the secret hasher cannot start");
        unavailable()
    })?;
    Ok(HASHER.get_or_init(|| made))
}

fn unavailable() -> Problem {
    Problem::unavailable("secrets cannot be stored right now; retry later")
}

/// A secret as a request sent it: the clear text, never shown. See the [module](self) docs.
#[derive(Clone)]
pub struct Secret {
    clear: String,
    /// Its hash, once [`Secret::seal`] made it.
    hash: Option<SecretHash>,
}

impl Secret {
    /// A secret of `clear`, put in NFC.
    pub fn new(clear: impl AsRef<str>) -> Self {
        Self {
            clear: normalize_password(clear.as_ref()),
            hash: None,
        }
    }

    /// The clear text, for a handler that must use it (to check it against a stored
    /// [`SecretHash`], say). Never log it.
    pub fn expose(&self) -> &str {
        &self.clear
    }

    /// Hashes the secret on the blocking pool, unless it was already: the work is slow by
    /// design, and must not stall a thread serving other requests.
    pub async fn seal(&mut self) -> Result<(), Problem> {
        if self.hash.is_some() {
            return Ok(());
        }
        let phc = hasher()?
            .hash_blocking(self.clear.clone())
            .await
            .map_err(|error| {
                tracing::error!(%error, "a secret could not be hashed");
                unavailable()
            })?;
        self.hash = Some(SecretHash { phc });
        Ok(())
    }

    /// The hash to store: the one [`Secret::seal`] made, or one made now on this thread (code
    /// that builds resources by hand, or a test).
    pub fn into_hash(mut self) -> Result<SecretHash, Problem> {
        if let Some(hash) = self.hash.take() {
            return Ok(hash);
        }
        let phc = hasher()?.hash(&self.clear).map_err(|error| {
            tracing::error!(%error, "a secret could not be hashed");
            unavailable()
        })?;
        Ok(SecretHash { phc })
    }
}

impl Secret {
    /// What generated `Resource::create` / `replace` / `patch` store: [`Secret::into_hash`],
    /// or, should hashing itself fail (a system without randomness; logged), a locked value
    /// that never verifies — never the clear text. The default CRUD operations seal every
    /// secret first and answer 503 when that fails, so they never get here without a hash.
    pub fn into_stored(self) -> SecretHash {
        self.into_hash()
            .unwrap_or_else(|_| SecretHash::from_phc(LOCKED))
    }
}

/// A stored value no password matches (not a PHC string).
const LOCKED: &str = "!locked";

/// Compared in constant time: equality of secrets must not tell how much of one matched.
impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        crate::auth::secret::constant_time_eq(&self.clear, &other.clear)
    }
}

impl Eq for Secret {}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Drop for Secret {
    /// Overwrites the clear text before its memory is freed, so that it does not linger in
    /// the allocator's free lists (best effort: copies the allocator made are out of reach).
    fn drop(&mut self) {
        let mut bytes = std::mem::take(&mut self.clear).into_bytes();
        bytes.fill(0);
        std::hint::black_box(&bytes);
    }
}

impl FromJson for Secret {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        String::from_json(value, at, errors).map(|mut clear| {
            let secret = Secret::new(&clear);
            // The body's copy, which the decoder moved out, goes the way of the secret's.
            drop(Secret {
                clear: std::mem::take(&mut clear),
                hash: None,
            });
            secret
        })
    }
}

impl Check for Secret {
    /// The field's string rules (length, pattern) on the clear text; their messages never
    /// quote it.
    fn check(&self, rules: &Rules, at: &At<'_>, errors: &mut Errors) {
        self.clear.check(rules, at, errors);
    }
}

/// What a service keeps of a secret: its argon2id hash as a PHC string. See the
/// [module](self) docs.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash {
    phc: String,
}

impl SecretHash {
    /// A hash read back from storage. A value that is not a PHC string (written by something
    /// else, or in clear by an earlier version) is kept, and never verifies.
    pub fn from_phc(phc: impl Into<String>) -> Self {
        Self { phc: phc.into() }
    }

    /// The PHC string, for storage.
    pub fn as_phc(&self) -> &str {
        &self.phc
    }

    /// Whether `candidate` (put in NFC first) is the secret. Takes tens of milliseconds by
    /// design: in async code use [`SecretHash::verify_blocking`].
    pub fn verify(&self, candidate: &str) -> bool {
        hasher().is_ok_and(|hasher| hasher.verify(candidate, Some(&self.phc)))
    }

    /// [`SecretHash::verify`] on the blocking pool, one hash per CPU at a time.
    pub async fn verify_blocking(&self, candidate: String) -> bool {
        match hasher() {
            Ok(hasher) => {
                hasher
                    .verify_blocking(candidate, Some(self.phc.clone()))
                    .await
            }
            Err(_) => false,
        }
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<argon2id>)")
    }
}

/// A resource decoded from JSON carries no clear secret to hash: the compiler refuses a
/// contract with secrets as a custom request body, so only a hand-made call gets here.
impl FromJson for SecretHash {
    fn from_json(_value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        errors.push(
            at,
            "secret",
            "a secret is sent in a create or patch body, never as a stored hash",
        );
        None
    }
}

impl Check for SecretHash {
    /// The rules of a secret apply to its clear text, checked before it was hashed.
    fn check(&self, _rules: &Rules, _at: &At<'_>, _errors: &mut Errors) {}
}

impl SqlColumn for SecretHash {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Text(self.phc.clone())
    }

    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        match value {
            SqlValue::Text(phc) => Ok(Self { phc }),
            _ => Err(ColumnError::new("expected the text of a secret's hash")),
        }
    }
}

/// Hashes every secret of a body on the blocking pool (see [`Secret::seal`]): what the
/// default CRUD operations do before a body becomes a resource.
pub async fn seal_all(secrets: Vec<&mut Secret>) -> Result<(), Problem> {
    for secret in secrets {
        secret.seal().await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_clear_text_never_shows() {
        let secret = Secret::new("hunter2 hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(<redacted>)");
        assert_eq!(format!("{:?}", Some(&secret)), "Some(Secret(<redacted>))");
        let hash = secret.clone().into_hash().expect("a hash");
        let shown = format!("{hash:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains('$'),
            "{shown}"
        );
    }

    #[test]
    fn a_hash_verifies_its_secret_only() {
        let hash = Secret::new("correct horse battery staple")
            .into_hash()
            .expect("a hash");
        assert!(hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hash.verify("correct horse battery staple"));
        assert!(!hash.verify("correct horse battery staple "));
        assert!(
            !SecretHash::from_phc("correct horse battery staple")
                .verify("correct horse battery staple")
        );
        assert!(!SecretHash::from_phc("").verify(""));
    }

    #[test]
    fn secrets_are_decoded_in_nfc_and_checked_as_strings() {
        let mut value = Value::String("cafe\u{301} au lait".to_owned());
        let mut errors = Errors::new();
        let secret = Secret::from_json(&mut value, &At::Root, &mut errors).expect("a secret");
        assert_eq!(secret.expose(), "caf\u{e9} au lait");
        // 13 characters as sent, 12 in NFC: the rules count what is hashed.
        let rules = Rules {
            min_length: Some(13),
            ..Rules::NONE
        };
        secret.check(&rules, &At::Root, &mut errors);
        let problems = errors.into_vec();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(!format!("{problems:?}").contains("caf"), "{problems:?}");
        let mut number = Value::from(12);
        let mut errors = Errors::new();
        assert!(Secret::from_json(&mut number, &At::Root, &mut errors).is_none());
    }

    #[tokio::test]
    async fn sealing_hashes_once_off_the_async_threads() {
        let mut secret = Secret::new("sealed secret value");
        seal_all(vec![&mut secret]).await.expect("sealed");
        let first = secret.hash.clone().expect("a hash");
        secret.seal().await.expect("sealed again");
        assert_eq!(secret.hash.as_ref(), Some(&first), "not hashed twice");
        let hash = secret.into_hash().expect("the sealed hash");
        assert_eq!(hash, first);
        assert!(hash.verify_blocking("sealed secret value".to_owned()).await);
    }
}
