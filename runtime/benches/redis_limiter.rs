//! Redis-backed rate-limit decisions per second at 32 concurrent requests, against the ceiling
//! of the same Redis: `redis-benchmark` calling a trivial script (`EVALSHA` of `return 1`) with
//! 32 clients, run just before, in the same process.
//!
//! `cargo bench -p cmmv --bench redis_limiter`, with Redis at `CMMV_TEST_REDIS_URL` (default
//! `redis://127.0.0.1:6379`, no password) and `redis-benchmark` on the `PATH` (Debian:
//! `redis-tools`). The limiter does more per call than the trivial script (`TIME`, `GET`,
//! `SET ... PX`, the GCRA sums) and parses a four-number reply, so the ratio is below 1 by
//! design; what it should show is that the client side (connection, script invocation, the
//! deadline) adds little.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::error::Error;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cmmv::ratelimit::{FailMode, KeyKind, Limiter, Policy, RedisLimiter, RedisLimiterSettings};

const CONCURRENCY: u64 = 32;
const DECISIONS: u64 = 100_000;
/// Distinct keys the decisions spread over, as distinct clients would.
const KEYS: u64 = 1024;

type BenchResult<T> = Result<T, Box<dyn Error>>;

#[tokio::main]
async fn main() -> BenchResult<()> {
    let url = std::env::var("CMMV_TEST_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned());
    let (host, port) = host_and_port(&url)?;

    let client = redis::Client::open(url.as_str())?;
    let mut connection = client.get_multiplexed_async_connection().await?;
    let sha = redis::Script::new("return 1")
        .load_async(&mut connection)
        .await?;

    let ceiling = redis_benchmark(&host, &port, &sha)?;
    println!("redis-benchmark EVALSHA (return 1), 32 clients: {ceiling:>10.0} calls/s");

    let prefix = format!("cmmv-bench:{}:", std::process::id());
    let rate = limiter_rate(&url, &prefix).await?;
    println!("RedisLimiter::check, 32 concurrent:          {rate:>10.0} decisions/s");
    println!("ratio: {:.2}", rate / ceiling);

    clean(&mut connection, &prefix).await?;
    Ok(())
}

fn host_and_port(url: &str) -> BenchResult<(String, String)> {
    let address = url
        .strip_prefix("redis://")
        .ok_or("the URL must be redis://host:port")?;
    let address = address.split('/').next().unwrap_or(address);
    let (host, port) = address.rsplit_once(':').unwrap_or((address, "6379"));
    Ok((host.to_owned(), port.to_owned()))
}

/// Calls per second `redis-benchmark` reaches with the trivial script.
fn redis_benchmark(host: &str, port: &str, sha: &str) -> BenchResult<f64> {
    let (clients, requests) = (CONCURRENCY.to_string(), DECISIONS.to_string());
    let output = Command::new("redis-benchmark")
        .args([
            "-h", host, "-p", port, "-c", &clients, "-n", &requests, "-q",
        ])
        .args(["EVALSHA", sha, "0"])
        .output()
        .map_err(|error| {
            format!("redis-benchmark did not run ({error}); on Debian: apt-get install redis-tools")
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // `-q` prints progress lines separated by carriage returns, then
    // `EVALSHA ...: 95693.78 requests per second, p50=...`.
    let summary = stdout
        .split(['\r', '\n'])
        .rfind(|line| line.contains("requests per second"))
        .ok_or_else(|| format!("no rate in redis-benchmark's output: {stdout:?}"))?;
    let rate = summary
        .split(" requests per second")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .ok_or_else(|| format!("no rate in {summary:?}"))?;
    Ok(rate.parse()?)
}

/// Decisions per second of 32 tasks sharing one limiter, `DECISIONS` in all.
async fn limiter_rate(url: &str, prefix: &str) -> BenchResult<f64> {
    let limiter = Arc::new(RedisLimiter::connect(RedisLimiterSettings::new(url, prefix)).await?);
    // Generous enough that most requests are admitted and so write their key.
    let policy = Policy {
        id: "bench",
        limit: 1_000_000,
        period: Duration::from_secs(1),
        burst: 1000,
        key: KeyKind::Ip,
        on_error: FailMode::App,
    };
    let next = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (limiter, next) = (Arc::clone(&limiter), Arc::clone(&next));
        tasks.spawn(async move {
            let mut key = String::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= DECISIONS {
                    return Ok::<_, cmmv::ratelimit::LimiterError>(());
                }
                key.clear();
                key.push_str(&(n % KEYS).to_string());
                limiter.check(&policy, &key).await?;
            }
        });
    }
    while let Some(task) = tasks.join_next().await {
        task??;
    }
    let elapsed = started.elapsed();
    if limiter.failures() > 0 {
        return Err(format!("{} decisions failed", limiter.failures()).into());
    }
    Ok(DECISIONS as f64 / elapsed.as_secs_f64())
}

async fn clean(
    connection: &mut redis::aio::MultiplexedConnection,
    prefix: &str,
) -> BenchResult<()> {
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(connection)
        .await?;
    if !keys.is_empty() {
        redis::cmd("DEL")
            .arg(keys)
            .query_async::<()>(connection)
            .await?;
    }
    Ok(())
}
