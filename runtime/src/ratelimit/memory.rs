//! The in-process limiter: the state of every key in this process's memory, for one instance
//! or for limits that need not hold across a fleet.
//!
//! # What comes from `governor`
//!
//! Each key's state is one of governor's [`InMemoryState`] cells (an atomic TAT updated by a
//! compare-and-swap loop, so concurrent requests on one key never lose an update), kept in
//! governor's [`DashMapStateStore`] map, and time comes from governor's clocks: the monotonic
//! std clock in production (never `quanta`, whose clock can run backwards) and
//! [`FakeRelativeClock`](governor::clock::FakeRelativeClock) in tests.
//!
//! The decision inside the compare-and-swap is [`Gcra::decide`], the reference arithmetic, not
//! governor's `RateLimiter::check_key`. Both admit and refuse alike (governor's tolerance is
//! also `(burst - 1) * T`, it admits when `now >= TAT - tolerance` and moves TAT to
//! `max(TAT, now) + T`; a test checks that they agree), but its outcome cannot give a whole
//! [`Decision`]: the snapshot hides the TAT and the instant the limiter read, so `reset` after
//! an admission is lost and `retry_after` would need a second reading of the clock. A
//! `RateLimiter` also takes an owned key per check (an allocation on every request), and
//! neither it nor `retain_recent` says whether a key is new or how many were dropped, which the
//! key cap needs.
//!
//! # Memory
//!
//! A key whose TAT has passed holds no information (GCRA treats it as never seen), so
//! [`MemoryLimiter::evict_idle`] drops those keys; a thread the limiter starts runs it every
//! [`MemoryLimiterSettings::eviction_interval`]. Between passes the number of keys is capped by
//! [`MemoryLimiterSettings::max_keys`]. At the cap, a key the limiter does not already hold is
//! decided against one *overflow budget* per policy id, shared by every such key: limiting
//! never switches off and memory never grows, at the price of strangers sharing one budget
//! until eviction frees room. The limiter logs a warning when it reaches the cap (once until
//! eviction brings it back below) and counts these decisions ([`MemoryLimiter::overflowed`]).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::thread;
use std::time::Duration;

use governor::clock::{Clock, MonotonicClock, Reference};
use governor::nanos::Nanos;
use governor::state::keyed::DashMapStateStore;
use governor::state::{InMemoryState, NotKeyed, StateStore};

use super::{BoxFuture, Decision, Gcra, Limiter, LimiterError, Policy};

/// How the in-process limiter bounds its memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimiterSettings {
    /// How often idle keys are dropped. `Duration::ZERO` starts no thread: the owner calls
    /// [`MemoryLimiter::evict_idle`] itself.
    pub eviction_interval: Duration,
    /// The most keys held at once, across all policies. A key of an IPv4 address takes about
    /// 120 bytes: the default million, about 120 MB.
    pub max_keys: usize,
}

impl Default for MemoryLimiterSettings {
    fn default() -> Self {
        MemoryLimiterSettings {
            // A pass over a million keys takes tens of milliseconds: often enough that idle
            // keys do not pile up to the cap under normal traffic, rarely enough to cost nothing.
            eviction_interval: Duration::from_secs(30),
            max_keys: 1_000_000,
        }
    }
}

/// GCRA limiter keeping every key's state in this process. Two limiters share nothing.
pub struct MemoryLimiter<C: Clock = MonotonicClock> {
    budgets: Arc<Budgets<C>>,
    /// Dropping the sender wakes the eviction thread, which then stops.
    _stop_eviction: Option<mpsc::Sender<()>>,
}

impl MemoryLimiter {
    /// A limiter on the monotonic clock. Starts the eviction thread unless the interval is zero.
    pub fn new(settings: MemoryLimiterSettings) -> MemoryLimiter {
        MemoryLimiter::with_clock(settings, MonotonicClock)
    }
}

impl<C> MemoryLimiter<C>
where
    C: Clock + Send + Sync + 'static,
{
    /// A limiter reading time from `clock` (tests pass a `FakeRelativeClock`).
    pub fn with_clock(settings: MemoryLimiterSettings, clock: C) -> MemoryLimiter<C> {
        let budgets = Arc::new(Budgets {
            start: clock.now(),
            clock,
            keys: DashMapStateStore::default(),
            held: AtomicUsize::new(0),
            max_keys: settings.max_keys,
            overflow: DashMapStateStore::default(),
            overflowed: AtomicU64::new(0),
            saturated: AtomicBool::new(false),
        });
        let stop_eviction = if settings.eviction_interval.is_zero() {
            None
        } else {
            start_eviction(Arc::clone(&budgets), settings.eviction_interval)
        };
        MemoryLimiter {
            budgets,
            _stop_eviction: stop_eviction,
        }
    }
}

impl<C: Clock> MemoryLimiter<C> {
    /// Decides one request for `key` under `policy`, and records it when admitted.
    pub fn decide(&self, policy: &Policy, key: &str) -> Decision {
        self.budgets.decide(policy, key)
    }

    /// Drops every key whose TAT has passed; returns how many. The eviction thread calls this;
    /// so can an owner that started none.
    pub fn evict_idle(&self) -> usize {
        self.budgets.evict_idle()
    }

    /// How many keys the limiter holds, across all policies (overflow budgets not counted).
    pub fn len(&self) -> usize {
        self.budgets.keys.len()
    }

    /// Whether the limiter holds no key (overflow budgets not counted).
    pub fn is_empty(&self) -> bool {
        self.budgets.keys.is_empty()
    }

    /// How many decisions were made against an overflow budget because the key cap was reached.
    pub fn overflowed(&self) -> u64 {
        self.budgets.overflowed.load(Ordering::Relaxed)
    }
}

impl<C: Clock> fmt::Debug for MemoryLimiter<C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryLimiter")
            .field("keys", &self.budgets.held.load(Ordering::Relaxed))
            .field("max_keys", &self.budgets.max_keys)
            .field("eviction", &self._stop_eviction.is_some())
            .finish_non_exhaustive()
    }
}

impl<C> Limiter for MemoryLimiter<C>
where
    C: Clock + Send + Sync + 'static,
{
    fn check<'a>(
        &'a self,
        policy: &'a Policy,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Decision, LimiterError>> {
        Box::pin(std::future::ready(Ok(self.decide(policy, key))))
    }
}

/// The state behind a limiter, shared with its eviction thread.
struct Budgets<C: Clock> {
    clock: C,
    /// Instants are kept as nanoseconds since this one, as governor's limiters do.
    start: C::Instant,
    keys: DashMapStateStore<BudgetKey>,
    /// Keys in `keys` plus insertions under way: a slot is taken before a key is inserted and
    /// given back after it is removed, so `keys` never holds more than `max_keys`.
    held: AtomicUsize,
    max_keys: usize,
    /// One budget per policy id for the keys that found the cap reached.
    overflow: DashMapStateStore<&'static str>,
    overflowed: AtomicU64,
    /// Whether the cap was reached since the last eviction made room (and was logged).
    saturated: AtomicBool,
}

impl<C: Clock> Budgets<C> {
    fn now(&self) -> u64 {
        self.clock.now().duration_since(self.start).as_u64()
    }

    fn decide(&self, policy: &Policy, key: &str) -> Decision {
        let gcra = policy.gcra();
        let now = self.now();
        let wanted: (&str, &str) = (policy.id, key);
        if let Some(state) = self.keys.get(&wanted as &dyn BudgetRef) {
            return measure(&state, &gcra, now);
        }
        if !self.take_slot() {
            return self.decide_overflow(policy.id, &gcra, now);
        }
        let mut inserted = false;
        let owned = BudgetKey {
            policy: policy.id,
            key: key.into(),
        };
        let state = self.keys.entry(owned).or_insert_with(|| {
            inserted = true;
            InMemoryState::default()
        });
        if !inserted {
            // Another request inserted the key since our lookup.
            self.held.fetch_sub(1, Ordering::AcqRel);
        }
        measure(&state, &gcra, now)
    }

    fn take_slot(&self) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held < self.max_keys).then_some(held + 1)
            })
            .is_ok()
    }

    fn decide_overflow(&self, policy: &'static str, gcra: &Gcra, now: u64) -> Decision {
        self.overflowed.fetch_add(1, Ordering::Relaxed);
        if !self.saturated.load(Ordering::Relaxed) && !self.saturated.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(
                max_keys = self.max_keys,
                "rate limiter key cap reached: new keys share one budget per policy until idle keys are evicted"
            );
        }
        if let Some(state) = self.overflow.get(policy) {
            return measure(&state, gcra, now);
        }
        measure(&self.overflow.entry(policy).or_default(), gcra, now)
    }

    fn evict_idle(&self) -> usize {
        let now = self.now();
        let mut dropped = 0;
        self.keys.retain(|_, state| {
            let idle = is_idle(state, now);
            dropped += usize::from(idle);
            !idle
        });
        self.held.fetch_sub(dropped, Ordering::AcqRel);
        self.overflow.retain(|_, state| !is_idle(state, now));
        if dropped > 0 {
            self.keys.shrink_to_fit();
        }
        if self.held.load(Ordering::Acquire) < self.max_keys {
            self.saturated.store(false, Ordering::Relaxed);
        }
        dropped
    }
}

/// Runs one GCRA decision on a key's state at `now`; only an admission writes.
fn measure(state: &InMemoryState, gcra: &Gcra, now: u64) -> Decision {
    let outcome = state.measure_and_replace(&NotKeyed::NonKey, |tat| {
        match gcra.decide(tat.map(Nanos::as_u64), now) {
            (admitted, Some(tat)) => Ok((admitted, Nanos::from(tat))),
            (refused, None) => Err(refused),
        }
    });
    match outcome {
        Ok(decision) | Err(decision) => decision,
    }
}

/// A key whose TAT is not after `now` decides exactly as one never seen.
fn is_idle(state: &InMemoryState, now: u64) -> bool {
    // A read through the store's interface: refusing leaves the state as it was.
    let read = state.measure_and_replace(&NotKeyed::NonKey, |tat| {
        Err::<(u64, Nanos), u64>(tat.map_or(0, Nanos::as_u64))
    });
    match read {
        Ok(tat) | Err(tat) => tat <= now,
    }
}

/// Starts the thread that evicts idle keys every `interval`; it stops when the returned sender
/// is dropped. A thread rather than a task: a pass holds each shard's lock while it walks it,
/// which is no work for an async worker. Without a thread the cap still bounds memory.
fn start_eviction<C>(budgets: Arc<Budgets<C>>, interval: Duration) -> Option<mpsc::Sender<()>>
where
    C: Clock + Send + Sync + 'static,
{
    let (stop, stopped) = mpsc::channel::<()>();
    let spawned = thread::Builder::new()
        .name("cmmv-ratelimit-evict".into())
        .spawn(move || {
            while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(interval) {
                budgets.evict_idle();
            }
        });
    match spawned {
        Ok(_) => Some(stop),
        Err(error) => {
            tracing::error!(%error, "could not start the rate limiter's eviction thread; keys stay until the cap");
            None
        }
    }
}

/// A budget: a policy id and one key under it. Stored owned; looked up as a borrowed pair
/// through [`BudgetRef`], so that a decision on a known key allocates nothing.
struct BudgetKey {
    policy: &'static str,
    key: Box<str>,
}

trait BudgetRef {
    fn parts(&self) -> (&str, &str);
}

impl BudgetRef for BudgetKey {
    fn parts(&self) -> (&str, &str) {
        (self.policy, &self.key)
    }
}

impl BudgetRef for (&str, &str) {
    fn parts(&self) -> (&str, &str) {
        *self
    }
}

// The owned key and the borrowed pair must hash and compare alike: both go through `parts`.
impl Hash for dyn BudgetRef + '_ {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for dyn BudgetRef + '_ {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for dyn BudgetRef + '_ {}

impl Hash for BudgetKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.parts().hash(state);
    }
}

impl PartialEq for BudgetKey {
    fn eq(&self, other: &Self) -> bool {
        self.parts() == other.parts()
    }
}

impl Eq for BudgetKey {}

impl<'a> Borrow<dyn BudgetRef + 'a> for BudgetKey {
    fn borrow(&self) -> &(dyn BudgetRef + 'a) {
        self
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::fmt::Write as _;
    use std::num::NonZeroU32;
    use std::sync::Barrier;

    use governor::clock::FakeRelativeClock;
    use governor::middleware::StateInformationMiddleware;
    use governor::{Quota, RateLimiter};
    use proptest::prelude::*;

    use super::*;
    use crate::ratelimit::{FailMode, KeyKind};

    fn limiter(max_keys: usize) -> (MemoryLimiter<FakeRelativeClock>, FakeRelativeClock) {
        let clock = FakeRelativeClock::default();
        let settings = MemoryLimiterSettings {
            eviction_interval: Duration::ZERO,
            max_keys,
        };
        (MemoryLimiter::with_clock(settings, clock.clone()), clock)
    }

    fn policy(id: &'static str, limit: u32, period: Duration, burst: u32) -> Policy {
        Policy {
            id,
            limit,
            period,
            burst,
            key: KeyKind::Ip,
            on_error: FailMode::App,
        }
    }

    /// One arrival in a generated sequence.
    #[derive(Debug, Clone)]
    enum Step {
        /// After `gap` thousandths of the first policy's emission interval, a request for
        /// `key` under `policy`; when refused and `retry` is set, the same request again at
        /// the reported `retry_after` (and 1 ns before it).
        Request {
            gap: u64,
            policy: usize,
            key: usize,
            retry: bool,
        },
        /// An eviction pass after `gap`: invisible to decisions.
        Evict { gap: u64 },
    }

    fn gap() -> impl Strategy<Value = u64> {
        prop_oneof![3 => Just(0u64), 6 => 0u64..2_500, 1 => 0u64..100_000]
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            12 => (gap(), 0usize..3, 0usize..3, any::<bool>())
                .prop_map(|(gap, policy, key, retry)| Step::Request { gap, policy, key, retry }),
            1 => gap().prop_map(|gap| Step::Evict { gap }),
        ]
    }

    /// `limit`, `period` and `burst` of a policy.
    fn parameters() -> impl Strategy<Value = (u32, Duration, u32)> {
        (1u32..=100, 1u64..=10_000, 1u32..=8)
            .prop_map(|(limit, millis, burst)| (limit, Duration::from_millis(millis), burst))
    }

    /// The reference model: one TAT per (policy id, key), and the instants of admissions.
    #[derive(Default)]
    struct Model {
        tats: HashMap<(&'static str, usize), u64>,
        admitted: HashMap<(&'static str, usize), Vec<u64>>,
    }

    impl Model {
        /// Decides with [`Gcra::decide`], checks the limiter said the same, and checks GCRA's
        /// bound on every window ending now.
        fn expect(&mut self, decision: Decision, policy: &Policy, key: usize, now: u64) {
            let gcra = policy.gcra();
            let budget = (policy.id, key);
            let (expected, tat) = gcra.decide(self.tats.get(&budget).copied(), now);
            assert_eq!(decision, expected, "{policy:?} key {key} at {now} ns");
            let Some(tat) = tat else { return };
            self.tats.insert(budget, tat);
            let admitted = self.admitted.entry(budget).or_default();
            admitted.push(now);
            for (i, &from) in admitted.iter().enumerate() {
                let in_window = (admitted.len() - i) as u64;
                let bound = u64::from(gcra.burst) + (now - from) / gcra.emission_nanos;
                assert!(
                    in_window <= bound,
                    "{in_window} admitted in [{from}, {now}] ns, at most {bound}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn decisions_follow_the_reference_and_the_gcra_bound(
            shared in parameters(),
            other in parameters(),
            steps in prop::collection::vec(step(), 1..120),
        ) {
            // Two policies with one id (one budget, counted by different keys) and one apart.
            let (limit, period, burst) = shared;
            let mut by_user = policy("shared", limit, period, burst);
            by_user.key = KeyKind::User;
            let (other_limit, other_period, other_burst) = other;
            let policies = [
                policy("shared", limit, period, burst),
                by_user,
                policy("other", other_limit, other_period, other_burst),
            ];
            let unit = policies[0].gcra().emission_nanos;
            let keys = ["10.0.0.1", "10.0.0.2", "alice"];
            let (limiter, clock) = limiter(1_000);
            let mut model = Model::default();
            let mut now = 0u64;
            let advance = |by: u64, now: &mut u64| {
                clock.advance(Duration::from_nanos(by));
                *now += by;
            };
            for step in steps {
                match step {
                    Step::Evict { gap } => {
                        advance(unit * gap / 1_000, &mut now);
                        limiter.evict_idle();
                    }
                    Step::Request { gap, policy, key, retry } => {
                        advance(unit * gap / 1_000, &mut now);
                        let policy = &policies[policy];
                        let decision = limiter.decide(policy, keys[key]);
                        model.expect(decision, policy, key, now);
                        if decision.allowed || !retry {
                            continue;
                        }
                        let wait = u64::try_from(decision.retry_after.as_nanos())
                            .expect("waits in tests fit in u64 nanoseconds");
                        prop_assert!(wait > 0, "a refusal always has a wait");
                        advance(wait - 1, &mut now);
                        let early = limiter.decide(policy, keys[key]);
                        model.expect(early, policy, key, now);
                        prop_assert!(!early.allowed, "admitted before retry_after");
                        advance(1, &mut now);
                        let on_time = limiter.decide(policy, keys[key]);
                        model.expect(on_time, policy, key, now);
                        prop_assert!(on_time.allowed, "refused at retry_after");
                    }
                }
            }
        }

        /// governor's own limiter makes the same decisions with the same `remaining` and wait,
        /// so using its state with the reference arithmetic changes nothing it would decide.
        #[test]
        fn governors_rate_limiter_decides_alike(
            (limit, period, burst) in parameters(),
            arrivals in prop::collection::vec((gap(), 0usize..3), 1..100),
        ) {
            let policy = policy("p", limit, period, burst);
            let gcra = policy.gcra();
            let (ours, clock) = limiter(1_000);
            let quota = Quota::with_period(Duration::from_nanos(gcra.emission_nanos))
                .expect("the emission interval is at least 1 ns")
                .allow_burst(NonZeroU32::new(burst).expect("bursts in tests are at least 1"));
            let governor = RateLimiter::dashmap_with_clock(quota, clock.clone())
                .with_middleware::<StateInformationMiddleware>();
            for (gap, key) in arrivals {
                clock.advance(Duration::from_nanos(gcra.emission_nanos * gap / 1_000));
                let decision = ours.decide(&policy, &key.to_string());
                match governor.check_key(&key) {
                    Ok(snapshot) => {
                        prop_assert!(decision.allowed);
                        prop_assert_eq!(decision.remaining, snapshot.remaining_burst_capacity());
                    }
                    Err(not_until) => {
                        prop_assert!(!decision.allowed);
                        prop_assert_eq!(decision.retry_after, not_until.wait_time_from(clock.now()));
                    }
                }
            }
        }
    }

    #[test]
    fn one_id_is_one_budget_and_different_ids_share_nothing() {
        let (limiter, _clock) = limiter(1_000);
        let per_ip = policy("standard", 1, Duration::from_secs(60), 2);
        let per_user = Policy {
            key: KeyKind::User,
            ..per_ip
        };
        let other = policy("uploads", 1, Duration::from_secs(60), 1);
        assert!(limiter.decide(&per_ip, "k").allowed);
        assert!(limiter.decide(&per_user, "k").allowed);
        assert!(!limiter.decide(&per_ip, "k").allowed);
        assert!(limiter.decide(&other, "k").allowed);
        assert!(limiter.decide(&per_ip, "k2").allowed);
        // Two limiters in one process are two sets of budgets.
        let (second, _clock) = self::limiter(1_000);
        assert!(second.decide(&per_ip, "k").allowed);
    }

    #[test]
    fn concurrent_requests_on_one_key_admit_exactly_the_burst() {
        const TASKS: usize = 64;
        const BURST: u32 = 10;
        // The clock never moves: nothing is given back while the tasks race.
        let (limiter, _frozen) = limiter(1_000);
        let policy = policy("hot", 1, Duration::from_secs(1), BURST);
        let start = Barrier::new(TASKS);
        let admitted: u32 = thread::scope(|scope| {
            let tasks: Vec<_> = (0..TASKS)
                .map(|_| {
                    scope.spawn(|| {
                        start.wait();
                        (0..20)
                            .map(|_| u32::from(limiter.decide(&policy, "one").allowed))
                            .sum::<u32>()
                    })
                })
                .collect();
            tasks
                .into_iter()
                .map(|task| task.join().expect("a task panicked"))
                .sum()
        });
        assert_eq!(admitted, BURST);
    }

    #[test]
    fn a_million_keys_are_all_evicted_once_idle() {
        const KEYS: usize = 1_000_000;
        let (limiter, clock) = limiter(KEYS);
        let policy = policy("per-ip", 10, Duration::from_secs(1), 5);
        let mut key = String::new();
        for i in 0..KEYS {
            key.clear();
            write!(key, "client-{i}").expect("writing to a String cannot fail");
            assert!(limiter.decide(&policy, &key).allowed);
        }
        assert_eq!(limiter.len(), KEYS);
        // Every TAT is 100 ms ahead: nothing is idle yet.
        assert_eq!(limiter.evict_idle(), 0);
        clock.advance(Duration::from_millis(100));
        assert_eq!(limiter.evict_idle(), KEYS);
        assert_eq!(limiter.len(), 0);
        assert!(limiter.is_empty());
        assert_eq!(limiter.overflowed(), 0);
    }

    #[test]
    fn at_the_cap_new_keys_share_one_overflow_budget_per_policy() {
        const CAP: usize = 100;
        let (limiter, clock) = limiter(CAP);
        let policy = policy("per-ip", 1, Duration::from_secs(1), 2);
        let mut admitted = 0;
        for i in 0..1_000 {
            admitted += usize::from(limiter.decide(&policy, &format!("client-{i}")).allowed);
            assert!(limiter.len() <= CAP);
        }
        assert_eq!(limiter.len(), CAP);
        // Each held key had its own burst; the 900 others shared one burst of 2.
        assert_eq!(admitted, CAP + 2);
        assert_eq!(limiter.overflowed(), 900);
        // Held keys keep their own budgets at the cap.
        assert!(limiter.decide(&policy, "client-0").allowed);
        assert!(!limiter.decide(&policy, "client-0").allowed);
        // Another policy's strangers have their own overflow budget.
        let other = self::policy("login", 1, Duration::from_secs(1), 1);
        assert!(limiter.decide(&other, "stranger").allowed);
        assert!(!limiter.decide(&other, "another stranger").allowed);
        // Once eviction makes room, new keys get budgets of their own again.
        clock.advance(Duration::from_secs(2));
        assert_eq!(limiter.evict_idle(), CAP);
        assert!(limiter.decide(&policy, "client-500").allowed);
        assert!(limiter.decide(&policy, "client-500").allowed);
        assert_eq!(limiter.len(), 1);
    }

    #[test]
    fn the_eviction_thread_drops_idle_keys() {
        let clock = FakeRelativeClock::default();
        let settings = MemoryLimiterSettings {
            eviction_interval: Duration::from_millis(5),
            ..MemoryLimiterSettings::default()
        };
        let limiter = MemoryLimiter::with_clock(settings, clock.clone());
        let policy = policy("per-ip", 1, Duration::from_secs(1), 1);
        limiter.decide(&policy, "client");
        clock.advance(Duration::from_secs(1));
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !limiter.is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "no eviction within 10 s"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }
}
