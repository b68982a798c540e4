//! Password hashing with argon2id, OWASP's parameters (19 MiB, two passes, one lane), stored
//! as PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) so that the parameters
//! travel with each hash and can be raised later without invalidating old ones.
//!
//! Verification is constant-work: for a user who does not exist, [`Passwords::verify`] checks
//! the password against a dummy hash made at start with the same parameters, so a login for an
//! unknown user costs what a wrong password costs and the two cannot be told apart by timing.
//!
//! Hashing takes tens of milliseconds of CPU and 19 MiB of memory by design, so the async
//! entry points run it on tokio's blocking pool instead of stalling a worker thread that serves
//! other requests, and at most one hash per CPU at a time: a burst of logins queues instead of
//! claiming 19 MiB per blocking thread (up to 512 of them). Both kinds of failed login wait in
//! the same queue, so the queue reveals nothing either.

use std::fmt;
use std::sync::Arc;

use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use tokio::sync::Semaphore;

use super::secret;

/// A password as it is hashed and verified: RFC 8265's OpaqueString profile in short — every
/// non-ASCII space becomes U+0020 and the whole is put in Unicode NFC — so that one password
/// typed on two keyboards (a precomposed `é`, or `e` and a combining accent; a no-break space)
/// is one password. Nothing else changes: case and every other character are the user's.
pub fn normalize_password(password: &str) -> String {
    use unicode_normalization::UnicodeNormalization as _;
    password
        .chars()
        .map(|c| {
            if !c.is_ascii() && c.is_whitespace() {
                ' '
            } else {
                c
            }
        })
        .nfc()
        .collect()
}

/// Salt length: 16 bytes, as RFC 9106 recommends.
const SALT_BYTES: usize = 16;

/// Hashes and verifies passwords; cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    params: Params,
    /// What unknown users' passwords are checked against.
    dummy: String,
    /// One permit per hash that may run at once.
    running: Semaphore,
}

impl fmt::Debug for Passwords {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Passwords")
            .field("m_cost", &self.inner.params.m_cost())
            .field("t_cost", &self.inner.params.t_cost())
            .field("p_cost", &self.inner.params.p_cost())
            .finish_non_exhaustive()
    }
}

/// Why a password could not be hashed: the system gave no randomness, or argon2 refused the
/// input. Neither is the caller's fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswordError(String);

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot hash the password: {}", self.0)
    }
}

impl std::error::Error for PasswordError {}

impl Passwords {
    /// OWASP's argon2id parameters (Password Storage Cheat Sheet): m = 19 MiB, t = 2, p = 1.
    pub fn new() -> Result<Self, PasswordError> {
        Self::with_params(Params::DEFAULT_M_COST, Params::DEFAULT_T_COST, 1)
    }

    /// Other costs: memory in KiB, passes, lanes. For tests that must be fast, and for
    /// operators who raise them.
    pub fn with_params(m_cost: u32, t_cost: u32, p_cost: u32) -> Result<Self, PasswordError> {
        let params = Params::new(m_cost, t_cost, p_cost, None)
            .map_err(|e| PasswordError(format!("invalid argon2 parameters: {e}")))?;
        let random = secret::random_hex(32)
            .ok_or_else(|| PasswordError("no randomness from the system".to_owned()))?;
        let dummy = hash_with(&params, &random)?;
        let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                dummy,
                running: Semaphore::new(cpus),
            }),
        })
    }

    /// The PHC string of `password` (normalized, see [`normalize_password`]) with a fresh
    /// random salt.
    pub fn hash(&self, password: &str) -> Result<String, PasswordError> {
        hash_with(&self.inner.params, &normalize_password(password))
    }

    /// Whether `password` matches `stored` (a PHC string); with `None` (no such user) the
    /// password is checked against the dummy hash, so the answer — always `false` — takes as
    /// long as a real check. A stored hash that does not parse never matches.
    pub fn verify(&self, password: &str, stored: Option<&str>) -> bool {
        let (hash, real) = match stored {
            Some(hash) => (hash, true),
            None => (self.inner.dummy.as_str(), false),
        };
        let matches = argon2()
            .verify_password(normalize_password(password).as_bytes(), hash)
            .is_ok();
        matches && real
    }

    /// Whether `stored` (a PHC string that verified) was made with other than this hasher's
    /// algorithm, version or costs: hashed again at the next sign-in, so that raising the
    /// costs reaches every account that signs in.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let Ok(hash) = argon2::PasswordHash::new(stored) else {
            return true;
        };
        let Ok(params) = Params::try_from(&hash) else {
            return true;
        };
        let current = &self.inner.params;
        hash.algorithm != Algorithm::Argon2id.ident()
            || hash.version != Some(Version::V0x13.into())
            || params.m_cost() != current.m_cost()
            || params.t_cost() != current.t_cost()
            || params.p_cost() != current.p_cost()
    }

    /// [`Passwords::hash`] on the blocking pool, one per CPU at a time.
    pub async fn hash_blocking(&self, password: String) -> Result<String, PasswordError> {
        let this = self.clone();
        let _permit = self
            .inner
            .running
            .acquire()
            .await
            .map_err(|_| PasswordError("the hasher is shut down".to_owned()))?;
        tokio::task::spawn_blocking(move || this.hash(&password))
            .await
            .map_err(|e| PasswordError(format!("the hashing task failed: {e}")))?
    }

    /// [`Passwords::verify`] on the blocking pool, one per CPU at a time; a task that fails
    /// counts as no match.
    pub async fn verify_blocking(&self, password: String, stored: Option<String>) -> bool {
        let this = self.clone();
        // The semaphore is never closed; were it, refusing is the safe answer.
        let Ok(_permit) = self.inner.running.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || this.verify(&password, stored.as_deref()))
            .await
            .unwrap_or(false)
    }
}

/// Verification reads the algorithm, version and costs from the PHC string itself.
fn argon2() -> Argon2<'static> {
    Argon2::default()
}

fn hash_with(params: &Params, password: &str) -> Result<String, PasswordError> {
    let salt = secret::random_bytes::<SALT_BYTES>()
        .ok_or_else(|| PasswordError("no randomness from the system".to_owned()))?;
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast() -> Passwords {
        Passwords::with_params(64, 1, 1).expect("valid parameters")
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_with_owasp_costs() {
        let passwords = Passwords::new().expect("hasher");
        let hash = passwords
            .hash("correct horse battery staple")
            .expect("hash");
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert!(passwords.verify("correct horse battery staple", Some(&hash)));
        assert!(!passwords.verify("Correct horse battery staple", Some(&hash)));
    }

    #[test]
    fn hashes_of_other_costs_need_a_rehash() {
        let passwords = fast();
        let current = passwords.hash("same").expect("hash");
        assert!(!passwords.needs_rehash(&current));
        let cheaper = Passwords::with_params(32, 1, 1)
            .expect("valid parameters")
            .hash("same")
            .expect("hash");
        assert!(passwords.needs_rehash(&cheaper));
        assert!(passwords.needs_rehash("not a phc string"));
    }

    #[test]
    fn salts_differ() {
        let passwords = fast();
        let a = passwords.hash("same").expect("hash");
        let b = passwords.hash("same").expect("hash");
        assert_ne!(a, b);
    }

    #[test]
    fn unknown_users_and_garbage_hashes_never_match() {
        let passwords = fast();
        assert!(!passwords.verify("anything", None));
        assert!(!passwords.verify("anything", Some("not a phc string")));
    }

    #[test]
    fn a_password_in_nfc_or_nfd_is_one_password() {
        let passwords = fast();
        let nfc = "j\u{f6}rg's caf\u{e9} password";
        let nfd = "jo\u{308}rg's cafe\u{301} password";
        assert_ne!(nfc, nfd);
        for (set, typed) in [(nfc, nfd), (nfd, nfc)] {
            let hash = passwords.hash(set).expect("hash");
            assert!(passwords.verify(typed, Some(&hash)), "{set:?} / {typed:?}");
        }
        // A no-break space is a space; case and other characters are kept.
        let hash = passwords.hash("two\u{a0}words").expect("hash");
        assert!(passwords.verify("two words", Some(&hash)));
        assert!(!passwords.verify("Two words", Some(&hash)));
        assert!(!passwords.verify("two\twords", Some(&hash)));
        assert_eq!(normalize_password("e\u{301}"), "\u{e9}");
    }
}
