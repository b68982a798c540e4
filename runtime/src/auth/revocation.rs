//! Ending access tokens before they expire. An access token is a signed statement the app
//! checks on its own, so signing out alone would leave it working until its `exp`; the login
//! module therefore records the **sessions** it ended (`sid`, one refresh-token family each:
//! sign-out, revocation, a password change ending them all), until the last access token
//! issued in them has expired anyway (an access token's lifetime), and the guard refuses every
//! token naming one of them, whatever its `jti`. A record per session rather than per token:
//! the module need not remember every `jti` it issued, and a session's tokens all end at once.
//!
//! In memory for one instance ([`MemoryRevocations`]); in Redis for a fleet
//! ([`RedisRevocations`]), where a sign-out on one instance ends the token on every other at
//! once. The check costs a map lookup, or one Redis round trip (`EXISTS`) per request with a
//! bearer token; `cargo bench -p cmmv --bench revocation` measures both beside the token's
//! verification alone.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{BoxFuture, Principal};
use crate::store::StoreError;

/// What the login module has ended, as the guard asks it.
pub trait Revocations: Send + Sync + fmt::Debug + 'static {
    /// Ends the access tokens of `session`, until `until` (Unix seconds; the last of them
    /// expires by then).
    fn revoke_session<'a>(
        &'a self,
        session: &'a str,
        until: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Whether the bearer token `principal` proved has been ended.
    fn is_revoked<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// [`Revocations::is_revoked`] without waiting, for a record that can answer at once (in
    /// memory): then a guarded request with a bearer token needs no future of its own. `None`
    /// (the default) sends the guard to [`Revocations::is_revoked`].
    fn check_now(&self, _principal: &Principal) -> Option<Result<bool, StoreError>> {
        None
    }
}

fn now() -> i64 {
    i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX)
}

/// Revocations kept by one instance: a sign-out reaches the tokens this instance checks.
#[derive(Debug, Default)]
pub struct MemoryRevocations {
    state: Mutex<MemoryState>,
}

#[derive(Debug, Default)]
struct MemoryState {
    sessions: HashMap<String, i64>,
    /// The size past which the next write sweeps expired records.
    high_water: usize,
}

impl MemoryState {
    /// Forgets what has outlived every token it concerned, now and then (when the maps have
    /// doubled since), so that memory follows the live revocations.
    fn sweep(&mut self) {
        if self.sessions.len() < self.high_water.max(1024) {
            return;
        }
        let now = now();
        self.sessions.retain(|_, until| *until > now);
        self.high_water = 2 * self.sessions.len();
    }
}

impl MemoryRevocations {
    /// No revocations yet.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut MemoryState) -> T) -> Result<T, StoreError> {
        self.state
            .lock()
            .map(|mut state| f(&mut state))
            .map_err(|_| StoreError::Internal("revocation lock poisoned".into()))
    }
}

impl Revocations for MemoryRevocations {
    fn revoke_session<'a>(
        &'a self,
        session: &'a str,
        until: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            self.with(|state| {
                state.sweep();
                state.sessions.insert(session.to_owned(), until);
            })
        })
    }

    fn is_revoked<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move { self.check(principal) })
    }

    fn check_now(&self, principal: &Principal) -> Option<Result<bool, StoreError>> {
        Some(self.check(principal))
    }
}

impl MemoryRevocations {
    /// [`Revocations::is_revoked`] without a future: what the guard calls in place.
    pub(crate) fn check(&self, principal: &Principal) -> Result<bool, StoreError> {
        let now = now();
        self.with(|state| {
            principal
                .session
                .as_deref()
                .and_then(|sid| state.sessions.get(sid))
                .is_some_and(|until| *until > now)
        })
    }
}

/// How long one Redis check or write may take before it fails (and the request with it: a
/// token that cannot be checked is not accepted).
const REDIS_TIMEOUT: Duration = Duration::from_millis(250);

/// Revocations in Redis, shared by every instance of an app: a key
/// `<prefix>revoked:sid:<session>` per ended session, expiring when its tokens have.
#[derive(Clone)]
pub struct RedisRevocations {
    connection: ConnectionManager,
    prefix: String,
}

impl fmt::Debug for RedisRevocations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRevocations")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisRevocations {
    /// Revocations in the Redis at `url` (`redis://host:port[/db]`), keys under `prefix`; the
    /// connection is made as needed and re-made when lost.
    pub fn connect(url: &str, prefix: impl Into<String>) -> Result<Self, StoreError> {
        let client = redis::Client::open(url)
            .map_err(|e| StoreError::Unavailable(crate::store::Cause::from_error(e)))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(REDIS_TIMEOUT))
            .set_response_timeout(Some(REDIS_TIMEOUT))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| StoreError::Unavailable(crate::store::Cause::from_error(e)))?;
        Ok(Self {
            connection,
            prefix: prefix.into(),
        })
    }

    fn session_key(&self, session: &str) -> String {
        format!("{}revoked:sid:{session}", self.prefix)
    }

    async fn set(&self, key: String, value: String, until: i64) -> Result<(), StoreError> {
        let ttl = u64::try_from(until.saturating_sub(now()))
            .unwrap_or(0)
            .max(1);
        let mut connection = self.connection.clone();
        let command = redis::cmd("SET")
            .arg(key)
            .arg(value)
            .arg("EX")
            .arg(ttl)
            .to_owned();
        within("SET", command.query_async::<()>(&mut connection)).await
    }
}

/// A Redis call (`command`), in a span of its own, failing as unavailable past
/// [`REDIS_TIMEOUT`].
async fn within<T>(
    command: &'static str,
    call: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, StoreError> {
    let call = tracing::Instrument::instrument(call, crate::telemetry::redis_span(command));
    match tokio::time::timeout(REDIS_TIMEOUT, call).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => Err(StoreError::Unavailable(crate::store::Cause::from_error(
            error,
        ))),
        Err(_) => Err(StoreError::Unavailable(
            "the revocation store did not answer in time".into(),
        )),
    }
}

impl Revocations for RedisRevocations {
    fn revoke_session<'a>(
        &'a self,
        session: &'a str,
        until: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(self.set(self.session_key(session), "1".to_owned(), until))
    }

    fn is_revoked<'a>(
        &'a self,
        principal: &'a Principal,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let Some(session) = principal.session.as_deref() else {
                // A token naming no session was not issued by the login module: nothing here
                // can have ended it.
                return Ok(false);
            };
            let mut connection = self.connection.clone();
            let command = redis::cmd("EXISTS")
                .arg(self.session_key(session))
                .to_owned();
            let found: i64 = within("EXISTS", command.query_async(&mut connection)).await?;
            Ok(found > 0)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Scheme;

    fn token(subject: &str, session: Option<&str>, issued_at: u64) -> Principal {
        Principal {
            subject: subject.to_owned(),
            roles: Vec::new(),
            scheme: Scheme::Bearer,
            session: session.map(str::to_owned),
            issued_at: Some(issued_at),
        }
    }

    #[test]
    fn an_ended_session_ends_its_tokens_until_they_expire() {
        let revocations = MemoryRevocations::new();
        let issued = u64::try_from(now()).unwrap_or(0);
        let a = token("ada", Some("s1"), issued);
        let b = token("ada", Some("s2"), issued);
        let bob = token("bob", Some("s3"), issued);
        let no_session = token("ada", None, issued);
        assert!(!ended(&revocations, &a));
        tokio_test_block(revocations.revoke_session("s1", now() + 600));
        assert!(ended(&revocations, &a));
        assert!(!ended(&revocations, &b), "another session of the account");
        assert!(!ended(&revocations, &no_session));
        // Past its `until`, the record ends nothing: every token it concerned has expired.
        tokio_test_block(revocations.revoke_session("s3", now() - 1));
        assert!(!ended(&revocations, &bob));
    }

    fn ended(revocations: &MemoryRevocations, principal: &Principal) -> bool {
        revocations.check(principal).expect("the record answers")
    }

    fn tokio_test_block<T>(future: BoxFuture<'_, Result<T, StoreError>>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(future)
            .expect("revoked")
    }
}
