//! `cargo bench -p cmmv --bench revocation`: what checking for ended sessions adds to
//! authenticating a bearer token (issue 20), beside a baseline measured in the same run: the
//! same token verified with no revocations to consult.
//!
//! Each case authenticates one valid HS256 token (the verifier's cache of verified tokens off
//! the table: a new token each round) through `Authenticator::authenticate`; the in-memory
//! record holds 10,000 ended sessions, as a busy instance would. With `CMMV_TEST_REDIS_URL`
//! set, the Redis record is measured too (one `EXISTS` round trip on 127.0.0.1). Every round
//! runs each case once, in an order that turns from round to round; each case prints its
//! median and 90th percentile, and its median over the baseline's.
//!
//! Options: `--rounds N` (default 2,000 per case).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use cmmv::Settings;
use cmmv::auth::{
    Authenticator, JwtVerifier, MemoryRevocations, RedisRevocations, Revocations, TokenIssuer,
};
use cmmv::settings::{JwtSettings, Secret};
use http::HeaderMap;

mod common;

fn main() -> std::process::ExitCode {
    common::main(2_000, run)
}

async fn run(rounds: usize) -> Result<(), String> {
    let settings = Settings {
        jwt: JwtSettings {
            issuer: Some("https://bench.invalid".to_owned()),
            audience: vec!["bench".to_owned()],
            hs256_secret: Some(Secret::new("a secret for the revocation bench, 32+ bytes")),
            ..JwtSettings::default()
        },
        ..Settings::default()
    };
    let issuer = TokenIssuer::from_settings(&settings).map_err(|e| e.to_string())?;
    let verifier = || {
        JwtVerifier::from_settings(&settings)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| "no verifier".to_owned())
    };
    let memory = Arc::new(MemoryRevocations::new());
    let until = i64::try_from(jsonwebtoken_now()).unwrap_or(i64::MAX) + 3_600;
    for i in 0..10_000 {
        memory
            .revoke_session(&format!("ended-{i}"), until)
            .await
            .map_err(|e| e.to_string())?;
    }
    let mut cases: Vec<(&str, Authenticator)> = vec![
        (
            "jwt only (baseline)",
            Authenticator::new(Some(verifier()?), None),
        ),
        (
            "jwt + memory revocations (10k ended)",
            Authenticator::new(Some(verifier()?), None).with_revocations(memory),
        ),
    ];
    if let Ok(url) = std::env::var("CMMV_TEST_REDIS_URL") {
        let redis = RedisRevocations::connect(&url, format!("cmmv:bench:{}:", std::process::id()))
            .map_err(|e| e.to_string())?;
        cases.push((
            "jwt + Redis revocations",
            Authenticator::new(Some(verifier()?), None).with_revocations(Arc::new(redis)),
        ));
    }
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); cases.len()];
    for round in 0..rounds {
        // A new token per case and round: the verifier's cache of verified tokens would
        // otherwise turn every case into a lookup. The order turns every round, so that no
        // case always goes first (with colder caches).
        let session = format!("live-{round}");
        for step in 0..cases.len() {
            let i = (round + step) % cases.len();
            let (name, authenticator) = &cases[i];
            let headers = fresh(&issuer, &session)?;
            let started = Instant::now();
            let outcome = authenticator.authenticate(&headers).await;
            times[i].push(started.elapsed());
            if !matches!(outcome, Ok(Some(_))) {
                return Err(format!("{name}: the token was refused: {outcome:?}"));
            }
        }
    }
    let baseline = median(&mut times[0].clone());
    println!("case | median µs | p90 µs | median / baseline");
    for ((name, _), case) in cases.iter().zip(&mut times) {
        case.sort_unstable();
        let median = case[case.len() / 2];
        let p90 = case[case.len() * 9 / 10];
        println!(
            "{name} | {:.1} | {:.1} | {:.2}x",
            micros(median),
            micros(p90),
            median.as_secs_f64() / baseline.as_secs_f64()
        );
    }
    Ok(())
}

fn fresh(issuer: &TokenIssuer, session: &str) -> Result<HeaderMap, String> {
    let token = issuer
        .issue_in("ada", &["user".to_owned()], Some(session))
        .map_err(|e| e.to_string())?;
    let mut headers = HeaderMap::new();
    let value = format!("Bearer {}", token.token)
        .parse()
        .map_err(|_| "a header value".to_owned())?;
    headers.insert(http::header::AUTHORIZATION, value);
    Ok(headers)
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn jsonwebtoken_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
