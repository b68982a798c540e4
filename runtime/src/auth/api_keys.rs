//! API keys: `cmmv_<prefix>_<secret>`, a second way to authenticate for programs.
//!
//! The prefix (12 hex characters) is public: it is how a key is found, listed and recognized
//! in logs and by secret scanners. The secret is 256 bits from the system's CSPRNG, shown once
//! at creation and stored only as the SHA-256 of the whole key; checking a presented key
//! compares that hash in constant time. A key stands for its owner (the principal's subject)
//! with the roles it was given, never more than its owner still holds.

use std::sync::Arc;

use super::secret::{constant_time_eq, random_hex, sha256_hex};
use super::store::{ApiKey, AuthStore, NewApiKey, StoredApiKey};
use super::{ApiKeyVerifier, AuthError, BoxFuture, Principal, Scheme};
use crate::store::StoreError;

const KEY_PREFIX: &str = "cmmv_";
/// Bytes of the public prefix (12 hex characters): enough that random prefixes rarely
/// collide (a collision is retried), short enough to read.
const PREFIX_BYTES: usize = 6;
/// Bytes of the secret: 256 bits.
const SECRET_BYTES: usize = 32;

/// A freshly made key: the text to hand the client once, and what the store keeps.
#[derive(Debug, Clone)]
pub(crate) struct MintedKey {
    pub(crate) text: String,
    pub(crate) prefix: String,
    pub(crate) hash: String,
    pub(crate) last4: String,
}

/// A new random key, or `None` when the system gives no randomness.
pub(crate) fn mint() -> Option<MintedKey> {
    let prefix = random_hex(PREFIX_BYTES)?;
    let secret = random_hex(SECRET_BYTES)?;
    let last4 = secret.get(secret.len() - 4..)?.to_owned();
    let text = format!("{KEY_PREFIX}{prefix}_{secret}");
    Some(MintedKey {
        hash: sha256_hex(&text),
        text,
        prefix,
        last4,
    })
}

/// The prefix of a well-formed key; `None` for anything else, which is refused unread.
fn prefix_of(key: &str) -> Option<&str> {
    let rest = key.strip_prefix(KEY_PREFIX)?;
    let (prefix, secret) = rest.split_once('_')?;
    let hex = |s: &str, bytes: usize| {
        s.len() == bytes * 2 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    (hex(prefix, PREFIX_BYTES) && hex(secret, SECRET_BYTES)).then_some(prefix)
}

/// The principal `presented` stands for, checked against `store`.
pub(crate) async fn verify(
    store: &dyn AuthStore,
    presented: &str,
    now: i64,
) -> Result<Principal, AuthError> {
    let prefix = prefix_of(presented).ok_or(AuthError::InvalidApiKey)?;
    let stored = store
        .api_key_by_prefix(prefix)
        .await
        .map_err(|error| {
            // The guard answers 503: the key may well be valid.
            tracing::warn!(?error, "API keys cannot be checked");
            AuthError::Unavailable
        })?
        .ok_or(AuthError::InvalidApiKey)?;
    principal_of(&stored, &sha256_hex(presented), now)
}

fn principal_of(stored: &StoredApiKey, hash: &str, now: i64) -> Result<Principal, AuthError> {
    // Compared first and in full, whatever else is wrong with the key.
    let matches = constant_time_eq(hash, &stored.hash);
    let expired = stored.key.expires_at.is_some_and(|at| at <= now);
    if !matches || stored.revoked || expired {
        return Err(AuthError::InvalidApiKey);
    }
    Ok(Principal {
        subject: stored.key.user_id.clone(),
        roles: stored
            .key
            .roles
            .iter()
            .filter(|role| stored.owner_roles.contains(role))
            .cloned()
            .collect(),
        scheme: Scheme::ApiKey,
        session: None,
        issued_at: None,
    })
}

/// Resolves API keys against an [`AuthStore`]: what the app's guard needs
/// (`AppBuilder::api_keys(Arc::new(ApiKeys::new(store)))`).
#[derive(Debug, Clone)]
pub struct ApiKeys {
    store: Arc<dyn AuthStore>,
}

impl ApiKeys {
    /// The verifier of the keys in `store`, usually the login module's (see
    /// [`crate::auth::Login::api_key_verifier`]).
    pub fn new(store: Arc<dyn AuthStore>) -> Self {
        Self { store }
    }
}

impl ApiKeyVerifier for ApiKeys {
    fn verify<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Principal, AuthError>> {
        Box::pin(verify(&*self.store, key, super::issuer::unix_now_i64()))
    }
}

/// Stores a new key for `owner`, retrying on the rare prefix collision; returns the key as
/// listed and the text to show once.
pub(crate) async fn create(
    store: &dyn AuthStore,
    make: impl Fn(&MintedKey) -> ApiKey,
) -> Result<(ApiKey, String), StoreError> {
    let mut attempts = 0;
    loop {
        let minted = mint()
            .ok_or_else(|| StoreError::Unavailable("the system gives no randomness".into()))?;
        let key = make(&minted);
        match store
            .create_api_key(NewApiKey {
                key,
                hash: minted.hash.clone(),
            })
            .await
        {
            Ok(created) => return Ok((created, minted.text)),
            Err(StoreError::Conflict { .. }) if attempts < 3 => attempts += 1,
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(key: &MintedKey) -> StoredApiKey {
        StoredApiKey {
            key: ApiKey {
                id: "k1".to_owned(),
                prefix: key.prefix.clone(),
                user_id: "u1".to_owned(),
                name: "ci".to_owned(),
                roles: vec!["user".to_owned(), "admin".to_owned()],
                last4: key.last4.clone(),
                created_at: 0,
                expires_at: Some(100),
            },
            hash: key.hash.clone(),
            revoked: false,
            owner_roles: vec!["user".to_owned()],
        }
    }

    #[test]
    fn keys_have_a_visible_prefix_and_parse_back() {
        let key = mint().expect("randomness");
        assert!(key.text.starts_with(&format!("cmmv_{}_", key.prefix)));
        assert_eq!(key.text.len(), 5 + 12 + 1 + 64);
        assert!(key.text.ends_with(&key.last4));
        assert_eq!(prefix_of(&key.text), Some(key.prefix.as_str()));
        for bad in [
            "",
            "cmmv_",
            "cmmv_abc_def",
            &key.text.to_uppercase(),
            &key.text[..key.text.len() - 1],
            &format!("{}0", key.text),
        ] {
            assert_eq!(prefix_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_key_grants_its_roles_that_the_owner_still_holds() {
        let key = mint().expect("randomness");
        let stored = stored(&key);
        let principal = principal_of(&stored, &key.hash, 50).expect("valid");
        assert_eq!(principal.subject, "u1");
        assert_eq!(principal.roles, ["user"]);
        assert_eq!(principal.scheme, Scheme::ApiKey);
        assert_eq!(
            principal_of(&stored, &key.hash, 100),
            Err(AuthError::InvalidApiKey),
            "expired"
        );
        assert_eq!(
            principal_of(&stored, &sha256_hex("other"), 50),
            Err(AuthError::InvalidApiKey)
        );
        let revoked = StoredApiKey {
            revoked: true,
            ..stored
        };
        assert_eq!(
            principal_of(&revoked, &key.hash, 50),
            Err(AuthError::InvalidApiKey)
        );
    }
}
