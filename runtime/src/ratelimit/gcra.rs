//! The GCRA arithmetic, on instants in nanoseconds: the reference the limiters follow (the
//! Redis script does the same sums in microseconds) and the model property tests check
//! them against.

use std::time::Duration;

use super::Decision;

/// The parameters of one policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// `T`: nanoseconds per request on average.
    pub emission_nanos: u64,
    /// `(burst - 1) * T`: how far ahead of now a key's TAT may run and still admit.
    pub tolerance_nanos: u64,
    /// The most requests an idle key admits at once; at least 1.
    pub burst: u32,
}

impl Gcra {
    /// `limit` requests per `period`, bursts of up to `burst` (both at least 1).
    pub fn new(limit: u32, period: Duration, burst: u32) -> Gcra {
        let limit = u64::from(limit.max(1));
        let burst = burst.max(1);
        let period = u64::try_from(period.as_nanos()).unwrap_or(u64::MAX);
        let emission_nanos = (period / limit).max(1);
        Gcra {
            emission_nanos,
            tolerance_nanos: emission_nanos.saturating_mul(u64::from(burst - 1)),
            burst,
        }
    }

    /// Decides a request at `now` for a key whose TAT is `tat` (`None`: never seen, or idle).
    /// Returns the decision and, when admitted, the key's new TAT.
    pub fn decide(&self, tat: Option<u64>, now: u64) -> (Decision, Option<u64>) {
        let tat = tat.map_or(now, |tat| tat.max(now));
        let allow_at = tat.saturating_sub(self.tolerance_nanos);
        if now < allow_at {
            let decision = Decision {
                allowed: false,
                remaining: 0,
                reset: nanos(tat - now),
                retry_after: nanos(allow_at - now),
            };
            return (decision, None);
        }
        let new_tat = tat.saturating_add(self.emission_nanos);
        (
            Decision {
                allowed: true,
                remaining: self.remaining(new_tat, now),
                reset: nanos(new_tat - now),
                retry_after: Duration::ZERO,
            },
            Some(new_tat),
        )
    }

    /// How many more requests a key with this TAT would admit at `now`: the `k`-th is
    /// admitted while `tat + (k - 1) * T - tolerance <= now`.
    pub fn remaining(&self, tat: u64, now: u64) -> u32 {
        let horizon = now.saturating_add(self.tolerance_nanos);
        if horizon < tat {
            return 0;
        }
        let more = (horizon - tat.max(now)) / self.emission_nanos + 1;
        u32::try_from(more).unwrap_or(u32::MAX).min(self.burst)
    }
}

fn nanos(n: u64) -> Duration {
    Duration::from_nanos(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000_000_000;

    #[test]
    fn an_idle_key_admits_the_burst_then_one_per_interval() {
        // 10 per second, bursts of 3.
        let gcra = Gcra::new(10, Duration::from_secs(1), 3);
        let mut tat = None;
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let (decision, next) = gcra.decide(tat, 0);
            assert!(decision.allowed);
            remaining.push(decision.remaining);
            tat = next;
        }
        assert_eq!(remaining, [2, 1, 0]);
        let (refused, next) = gcra.decide(tat, 0);
        assert!(!refused.allowed);
        assert_eq!(next, None);
        assert_eq!(refused.retry_after, Duration::from_millis(100));
        // After the reported wait, the request passes.
        let (later, _) = gcra.decide(tat, SECOND / 10);
        assert!(later.allowed);
    }
}
