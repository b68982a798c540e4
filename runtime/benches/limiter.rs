//! The cost of one in-process rate-limit decision, uncontended: on one hot key, and over a
//! rotating set of 10,000 keys (each lookup likely a cache miss, as with many clients).

use std::hint::black_box;
use std::time::Duration;

use cmmv::ratelimit::{FailMode, KeyKind, MemoryLimiter, MemoryLimiterSettings, Policy};
use criterion::{Criterion, criterion_group, criterion_main};

/// Generous enough that most decisions admit, as most requests of a healthy service do.
const POLICY: Policy = Policy {
    id: "standard",
    limit: 1_000_000,
    period: Duration::from_secs(1),
    burst: 1_000,
    key: KeyKind::Ip,
    on_error: FailMode::App,
};

fn decide(c: &mut Criterion) {
    let limiter = MemoryLimiter::new(MemoryLimiterSettings::default());
    let mut group = c.benchmark_group("memory_limiter_decide");
    group.bench_function("one_hot_key", |b| {
        b.iter(|| limiter.decide(&POLICY, black_box("203.0.113.7")));
    });
    let keys: Vec<String> = (0..10_000)
        .map(|i| format!("10.{}.{}.{}", i >> 16, (i >> 8) & 0xff, i & 0xff))
        .collect();
    let mut rotation = keys.iter().cycle();
    group.bench_function("rotating_10k_keys", |b| {
        b.iter(|| {
            let key = rotation.next().expect("a cycle over keys never ends");
            limiter.decide(&POLICY, black_box(key))
        });
    });
    group.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
