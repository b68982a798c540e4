//! Rate limiting: the policies contracts declare, enforced per route by a GCRA limiter kept in
//! process or shared by a fleet through Redis.
//!
//! # Semantics (GCRA)
//!
//! A policy admits `limit` requests per `period` per key, in bursts of up to `burst`:
//!
//! - the **emission interval** is `T = period / limit`: on average one request per `T`;
//! - an idle key admits `burst` requests at once; every `T` that passes gives one back, up to
//!   `burst`;
//! - so over any window of length `w` starting from an idle key, at most `burst + w / T`
//!   requests are admitted, and never more than `burst` within `T` of each other at the start.
//!
//! The limiter keeps one instant per key, the *theoretical arrival time* `TAT` (when the key
//! would be idle again). A request at `now` is admitted when `now >= TAT - (burst - 1) * T`
//! (with `TAT = max(TAT, now)`), which moves `TAT` on by `T`; otherwise it is refused and may
//! retry after `TAT - (burst - 1) * T - now`. A refused request changes nothing.
//!
//! A [`Decision`] also says what the `RateLimit` header reports: how many more requests would
//! be admitted right now (`remaining`), and when the key is idle again (`reset`).
//!
//! A request under several policies (`[10/s, 1000/h]`) must pass all of them; each is decided
//! in turn and the first refusal answers (a refusal by a later policy still spends the earlier
//! ones: deciding them atomically across backends is not worth its cost).

mod gcra;
mod identity;
mod layer;
mod memory;
mod redis;
mod settings;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use self::redis::{RedisLimiter, RedisLimiterSettings};
pub use gcra::Gcra;
pub use identity::{Cidr, ClientBlocks, ProxyHeader, client_ip};
pub(crate) use layer::RateLimiting;
pub use layer::{KeyFn, Limit, Limited, LimitedFuture, RateLimitSubject, RouteLimits, limit};
pub use memory::{MemoryLimiter, MemoryLimiterSettings};
pub use settings::RateLimitSettings;

/// A boxed future, so that limiters can be trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One policy of a route, as generated code declares it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// The budget this policy draws from: a shared policy's name (`standard`), or the contract
    /// (`Task`) or operation (`Task.create`) that declared it. Routes with the same id share
    /// one budget per key; the id is also the policy's name in the `RateLimit` headers.
    pub id: &'static str,
    /// How many requests are admitted per `period`, on average; 0 only in a policy known by its
    /// name ([`Policy::named`]).
    pub limit: u32,
    /// The window `limit` is counted over (`10/s`: one second).
    pub period: Duration,
    /// The most requests admitted at once; at least 1.
    pub burst: u32,
    /// What requests are counted by: each client IP, user, API key, header value or custom key
    /// has a budget of its own.
    pub key: KeyKind,
    /// What a request gets when the limiter cannot decide (Redis unreachable or too slow).
    pub on_error: FailMode,
}

impl Policy {
    /// A policy known here only by its name: routes expanded by `#[contract]` carry the
    /// policies `cmmv.yaml` names this way (a macro cannot read that file), and the app finds
    /// the values in the `API` table it is given ([`crate::AppBuilder::api`]). A limit of 0
    /// marks it; no declared policy has one.
    pub const fn named(id: &'static str) -> Policy {
        Policy {
            id,
            limit: 0,
            period: Duration::ZERO,
            burst: 0,
            key: KeyKind::Ip,
            on_error: FailMode::App,
        }
    }

    /// Whether this policy is only a name ([`Policy::named`]).
    pub fn is_by_name(&self) -> bool {
        self.limit == 0
    }

    /// The GCRA parameters of this policy.
    pub fn gcra(&self) -> Gcra {
        Gcra::new(self.limit, self.period, self.burst)
    }
}

/// What a policy counts requests by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// The client's IP address: the socket's peer, or what trusted proxies forwarded.
    Ip,
    /// The authenticated principal; the IP for anonymous requests.
    User,
    /// The API key the request carries; the IP without one.
    ApiKey,
    /// The value of this request header; the IP without one.
    Header(&'static str),
    /// A key function registered in the app under this name.
    Custom(&'static str),
}

/// What a request gets when the limiter cannot decide in time: only the shared (Redis)
/// limiter ever fails; the in-process one always decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FailMode {
    /// What the app's settings say (`CMMV_RATE_LIMIT_FAIL`, `open` unless set).
    #[default]
    App,
    /// Admitted: availability before the limit. Right for cheap reads, wrong for anything an
    /// attacker gains from trying often.
    Open,
    /// A 503 problem with `Retry-After`: the limit before availability.
    Closed,
    /// Decided by an in-process limiter of this instance instead: each instance enforces the
    /// policy alone, so a fleet of `n` admits up to `n` times the budget, but never an
    /// unlimited number. The login module's policies use it.
    Local,
}

impl FailMode {
    /// The mode as contracts and settings spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            FailMode::App => "app",
            FailMode::Open => "open",
            FailMode::Closed => "closed",
            FailMode::Local => "local",
        }
    }
}

impl std::str::FromStr for FailMode {
    type Err = String;

    /// `open`, `closed` or `local` (the spellings of settings; `app` is a policy's default).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(FailMode::Open),
            "closed" => Ok(FailMode::Closed),
            "local" => Ok(FailMode::Local),
            _ => Err(format!(
                "invalid fail mode {s:?} (expected open, closed or local)"
            )),
        }
    }
}

/// What a limiter decided for one request under one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// Whether the request was admitted; a refused one is answered with a 429.
    pub allowed: bool,
    /// How many more requests would be admitted right now.
    pub remaining: u32,
    /// How long until the key is idle again (its whole burst available).
    pub reset: Duration,
    /// When refused: how long until a request would be admitted. Zero when allowed.
    pub retry_after: Duration,
}

/// Why a limiter could not decide (Redis unreachable or slow). The route's fail mode answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LimiterError(pub String);

impl fmt::Display for LimiterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LimiterError {}

/// The limiter an app uses when it is given none: in process, sized by the settings.
pub(crate) fn default_limiter(settings: &RateLimitSettings) -> std::sync::Arc<dyn Limiter> {
    std::sync::Arc::new(MemoryLimiter::new(MemoryLimiterSettings {
        max_keys: settings.max_keys,
        ..MemoryLimiterSettings::default()
    }))
}

/// A place that keeps the state of every key of every policy.
pub trait Limiter: Send + Sync + fmt::Debug + 'static {
    /// Decides one request for `key` under `policy`, and records it when admitted.
    fn check<'a>(
        &'a self,
        policy: &'a Policy,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Decision, LimiterError>>;

    /// Where decisions are kept, for spans and metrics: `memory` unless the limiter says
    /// otherwise (`redis` for [`RedisLimiter`], whose latency is then measured).
    fn backend(&self) -> &'static str {
        "memory"
    }
}
