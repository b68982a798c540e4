//! The fleet limiter: every app instance decides through one Lua script in Redis, so a policy's
//! budget is shared by the whole fleet.
//!
//! The script does the sums of [`Gcra::decide`](super::Gcra::decide) in microseconds, on the
//! instant Redis's own `TIME` gives: decisions do not depend on the app servers' clocks, and
//! reading, deciding and writing a key happen atomically (Redis runs one script at a time).
//! One decision is one round trip (`EVALSHA`; after a `SCRIPT FLUSH` or a fail-over to a
//! server that never saw the script, `redis::Script` loads it and retries once).
//!
//! Every key expires when its TAT passes (within a millisecond after it, never before): a key
//! past its TAT decides exactly like a missing one, so idle keys vanish by themselves and
//! nothing needs sweeping.
//!
//! Every decision has a deadline ([`RedisLimiterSettings::timeout`]). When Redis is down or
//! slow, [`Limiter::check`] fails within it and the route's fail mode answers; the connection
//! is re-established in the background, so decisions resume when Redis is back.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, RedisError, Script};

use super::{BoxFuture, Decision, Limiter, LimiterError, Policy};

/// The GCRA of [`Gcra::decide`](super::Gcra::decide), in microseconds of Redis's clock.
///
/// `KEYS[1]`: the key. `ARGV`: the emission interval `T`, the tolerance `(burst - 1) * T`
/// (both in microseconds, at least 1 and 0) and the burst. Returns `{allowed (1 or 0),
/// remaining, reset, retry_after}`, the last two in microseconds.
///
/// Lua numbers are doubles: integers are exact below 2^53 microseconds (285 years), which the
/// instants here (about 2^50 today) and the clamped parameters stay well under. The TAT is
/// stored as an integer (Redis writes numbers it is given with 17 significant digits).
const SCRIPT: &str = r"
-- Redis before 5 refuses writes after a non-deterministic command unless the script's effects,
-- rather than the script, are replicated; from Redis 7 on this is the only mode and a no-op.
if redis.replicate_commands then redis.replicate_commands() end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local emission = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])

-- A missing key and a key past its TAT are both idle: TAT = now.
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end

local allow_at = tat - tolerance
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end

local new_tat = tat + emission
-- The key lives until its TAT (past it, it is idle anyway), in whole milliseconds rounded up,
-- plus one: Redis counts expiry from its clock truncated to the millisecond, which would
-- otherwise let a key vanish up to a millisecond before its TAT.
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)

-- The k-th further request would pass while new_tat + (k - 1) * T - tolerance <= now.
local remaining = 0
local horizon = now + tolerance
if horizon >= new_tat then
  local span = horizon - new_tat
  local whole = math.floor(span / emission)
  -- The division is a double's: never let it round up past the exact quotient.
  if whole * emission > span then whole = whole - 1 end
  remaining = math.min(whole + 1, burst)
end
return {1, remaining, new_tat - now, 0}
";

/// The largest emission interval or tolerance passed to the script, in microseconds (71
/// years): with Redis's `now` (about 2^50 microseconds) their sum stays an exact double.
const MAX_SPAN_MICROS: u64 = 1 << 51;

/// How long [`RedisLimiter::connect`] tries before it gives up.
const CONNECT_DEADLINE: Duration = Duration::from_secs(5);

/// How long one connection attempt may take, at start and when reconnecting.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(1);

/// The longest wait between reconnection attempts: once Redis is back, decisions resume
/// within about this long.
const MAX_RECONNECT_DELAY: Duration = Duration::from_millis(500);

/// Without one success for this long, while decisions time out, the connection is replaced:
/// a connection whose peer vanished without a reset (a moved address, a partition) never
/// reports an error by itself, it only stops answering.
const STALE_AFTER: Duration = Duration::from_secs(2);

/// At most one warning per this long; the warning counts the failures it stands for.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// Where the fleet limiter finds Redis and how it names its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisLimiterSettings {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` where TLS is compiled in).
    pub url: String,
    /// Put before every key, so that apps sharing a Redis do not share budgets:
    /// `cmmv:<app>:`. Keys are `<prefix><policy id>:<key>`.
    pub key_prefix: String,
    /// The longest one decision may take, connection wait included; past it `check` fails.
    pub timeout: Duration,
}

impl RedisLimiterSettings {
    /// The deadline of one decision unless configured: a few round trips on a LAN.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);

    /// Settings with the default timeout.
    pub fn new(url: impl Into<String>, key_prefix: impl Into<String>) -> RedisLimiterSettings {
        RedisLimiterSettings {
            url: url.into(),
            key_prefix: key_prefix.into(),
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }
}

/// A [`Limiter`] whose state lives in Redis, shared by every instance of an app.
pub struct RedisLimiter {
    client: Client,
    config: ConnectionManagerConfig,
    /// Replaced when stale (see [`STALE_AFTER`]); cloned per decision (an `Arc`).
    connection: RwLock<ConnectionManager>,
    script: Script,
    key_prefix: String,
    timeout: Duration,
    health: Health,
}

/// What the limiter knows about its recent failures: counters, and when to speak about them.
#[derive(Debug)]
struct Health {
    /// The instant the other instants count from.
    epoch: Instant,
    failures: AtomicU64,
    /// Failures since the last warning.
    unreported: AtomicU64,
    /// Whether the last decision failed, to log the recovery once.
    failing: AtomicBool,
    /// Microseconds since `epoch` of the last decision Redis answered.
    last_success: AtomicU64,
    /// Microseconds since `epoch` of the last connection replacement.
    last_replacement: AtomicU64,
    /// When the next warning may be logged.
    next_warning: Mutex<Instant>,
}

impl RedisLimiter {
    /// Connects to Redis and loads the script, which also proves the script compiles.
    ///
    /// Fails when Redis cannot be reached within a few seconds: at start an unreachable Redis
    /// is more likely a wrong URL than an outage, and saying so beats refusing every request.
    /// Calling `connect` again starts afresh. Once connected, outages are survived: decisions
    /// fail (within the timeout) while Redis is away and resume when it is back.
    pub async fn connect(settings: RedisLimiterSettings) -> Result<RedisLimiter, LimiterError> {
        let client = Client::open(settings.url.as_str())
            .map_err(|error| LimiterError(format!("invalid Redis URL: {error}")))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECTION_TIMEOUT))
            // The limiter's own deadline bounds every decision, connection wait included.
            .set_response_timeout(None)
            .set_max_delay(MAX_RECONNECT_DELAY);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())
            .map_err(|error| LimiterError(format!("Redis connection: {error}")))?;
        let script = Script::new(SCRIPT);
        let mut loader = connection.clone();
        match tokio::time::timeout(CONNECT_DEADLINE, script.load_async(&mut loader)).await {
            Ok(Ok(_sha)) => {}
            Ok(Err(error)) => return Err(LimiterError(format!("Redis at start: {error}"))),
            Err(_) => {
                return Err(LimiterError(format!(
                    "Redis at start: not reached within {CONNECT_DEADLINE:?}"
                )));
            }
        }
        let epoch = Instant::now();
        Ok(RedisLimiter {
            client,
            config,
            connection: RwLock::new(connection),
            script,
            key_prefix: settings.key_prefix,
            timeout: settings.timeout,
            health: Health {
                epoch,
                failures: AtomicU64::new(0),
                unreported: AtomicU64::new(0),
                failing: AtomicBool::new(false),
                last_success: AtomicU64::new(0),
                last_replacement: AtomicU64::new(0),
                next_warning: Mutex::new(epoch),
            },
        })
    }

    /// How many decisions failed (Redis unreachable, slow, or answering errors) since connect.
    pub fn failures(&self) -> u64 {
        self.health.failures.load(Ordering::Relaxed)
    }

    /// The key a policy's budget for `key` lives under.
    fn redis_key(&self, policy: &Policy, key: &str) -> String {
        let mut full =
            String::with_capacity(self.key_prefix.len() + policy.id.len() + 1 + key.len());
        full.push_str(&self.key_prefix);
        full.push_str(policy.id);
        full.push(':');
        full.push_str(key);
        full
    }

    fn connection(&self) -> ConnectionManager {
        // A poisoned lock still holds a valid manager: replacing it cannot panic half-way.
        self.connection
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    async fn decide(&self, policy: &Policy, key: &str) -> Result<Decision, Failure> {
        let gcra = policy.gcra();
        // Microseconds, as the script counts; the tolerance is a whole number of intervals so
        // that the burst stays exact after rounding.
        let emission = (gcra.emission_nanos / 1_000).clamp(1, MAX_SPAN_MICROS);
        let tolerance = emission
            .saturating_mul(u64::from(gcra.burst - 1))
            .min(MAX_SPAN_MICROS);
        let mut connection = self.connection();
        let mut invocation = self.script.key(self.redis_key(policy, key));
        invocation.arg(emission).arg(tolerance).arg(gcra.burst);
        let reply = tokio::time::timeout(self.timeout, invocation.invoke_async(&mut connection));
        let (allowed, remaining, reset, retry_after): (i64, i64, i64, i64) = reply
            .await
            .map_err(|_| Failure::Timeout(self.timeout))?
            .map_err(Failure::Redis)?;
        let micros = |n: i64| u64::try_from(n).map(Duration::from_micros);
        let decision = Decision {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining).unwrap_or(0),
            reset: micros(reset).map_err(|_| Failure::Reply(reset))?,
            retry_after: micros(retry_after).map_err(|_| Failure::Reply(retry_after))?,
        };
        Ok(decision)
    }

    fn succeeded(&self) {
        let health = &self.health;
        health
            .last_success
            .store(health.micros_since_epoch(), Ordering::Relaxed);
        if health.failing.load(Ordering::Relaxed) && health.failing.swap(false, Ordering::Relaxed) {
            tracing::info!(
                failures = health.failures.load(Ordering::Relaxed),
                "Redis rate limiter: Redis answers again"
            );
        }
    }

    fn failed(&self, failure: &Failure) {
        let health = &self.health;
        health.failures.fetch_add(1, Ordering::Relaxed);
        health.unreported.fetch_add(1, Ordering::Relaxed);
        health.failing.store(true, Ordering::Relaxed);
        if matches!(failure, Failure::Timeout(_)) {
            self.replace_if_stale();
        }
        // Under an outage every request fails: warn once per period, never once per request.
        // A busy lock means another decision is deciding whether to warn right now.
        let Ok(mut next_warning) = health.next_warning.try_lock() else {
            return;
        };
        let now = Instant::now();
        if now < *next_warning {
            return;
        }
        *next_warning = now + WARN_EVERY;
        drop(next_warning);
        tracing::warn!(
            error = %failure,
            failures = health.unreported.swap(0, Ordering::Relaxed),
            total_failures = health.failures.load(Ordering::Relaxed),
            "Redis rate limiter cannot decide; the routes' fail mode answers"
        );
    }

    /// Replaces the connection when decisions have only timed out for a while: the old one may
    /// wait forever for a peer that is gone. A fresh manager connects lazily, on first use.
    fn replace_if_stale(&self) {
        let health = &self.health;
        let now = health.micros_since_epoch();
        let stale = micros(STALE_AFTER);
        let last_success = health.last_success.load(Ordering::Relaxed);
        let last_replacement = health.last_replacement.load(Ordering::Relaxed);
        if now.saturating_sub(last_success) < stale || now.saturating_sub(last_replacement) < stale
        {
            return;
        }
        // One replacement per period, whichever decision gets here first.
        if health
            .last_replacement
            .compare_exchange(last_replacement, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        match ConnectionManager::new_lazy_with_config(self.client.clone(), self.config.clone()) {
            Ok(fresh) => {
                *self
                    .connection
                    .write()
                    .unwrap_or_else(|poisoned| poisoned.into_inner()) = fresh;
                tracing::warn!("Redis rate limiter: no answer for a while, reconnecting");
            }
            Err(error) => tracing::warn!(%error, "Redis rate limiter: cannot reconnect"),
        }
    }
}

impl Health {
    fn micros_since_epoch(&self) -> u64 {
        micros(self.epoch.elapsed())
    }
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

impl Limiter for RedisLimiter {
    fn check<'a>(
        &'a self,
        policy: &'a Policy,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Decision, LimiterError>> {
        let decided = async move {
            match self.decide(policy, key).await {
                Ok(decision) => {
                    self.succeeded();
                    Ok(decision)
                }
                Err(failure) => {
                    self.failed(&failure);
                    Err(LimiterError(failure.to_string()))
                }
            }
        };
        // Made when the future first runs, inside the caller's `rate_limit` span.
        Box::pin(async move {
            let span = crate::telemetry::redis_span("EVALSHA");
            tracing::Instrument::instrument(decided, span).await
        })
    }

    fn backend(&self) -> &'static str {
        "redis"
    }
}

impl fmt::Debug for RedisLimiter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Not the client: its connection info holds the password.
        f.debug_struct("RedisLimiter")
            .field("key_prefix", &self.key_prefix)
            .field("timeout", &self.timeout)
            .field("failures", &self.failures())
            .finish_non_exhaustive()
    }
}

/// Why one decision failed.
#[derive(Debug)]
enum Failure {
    Timeout(Duration),
    Redis(RedisError),
    /// The script answered a negative duration: a script and code out of step.
    Reply(i64),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout(timeout) => write!(f, "Redis did not answer within {timeout:?}"),
            Failure::Redis(error) => write!(f, "Redis: {error}"),
            Failure::Reply(value) => write!(f, "Redis rate limit script answered {value}"),
        }
    }
}
