//! `cargo bench -p cmmv --bench login_timing`: whether a failed login takes the same time for
//! an unknown user as for a known user with a wrong password (issue 6).
//!
//! Requests go through the whole app (`App::router`, every middleware) in process, so the
//! numbers are the server's work without network noise. The two cases alternate, the order
//! flipping every round, so that drift (CPU frequency, allocator state, a neighbour's load)
//! hits both alike. It reports each case's median and 90th percentile and the ratio of the
//! medians, once with the in-memory store and once with a SQLite file; 1.00 means
//! indistinguishable. Argon2id runs with the production costs (19 MiB, t = 2).
//!
//! Options: `--rounds N` (default 200 per case and store).

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use cmmv::auth::{AuthStore, Login, MemoryAuthStore, SqlAuthStore};
use cmmv::settings::{JwtSettings, Secret};
use cmmv::sql::{Database, DatabaseSettings};
use cmmv::{App, Settings};
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use tower::ServiceExt as _;

const PASSWORD: &str = "correct horse battery staple";
const WARM_UP: usize = 10;

mod common;

fn main() -> std::process::ExitCode {
    common::main(200, run)
}

async fn run(rounds: usize) -> Result<(), String> {
    println!("failed login latency, {rounds} rounds per case, cases interleaved");
    println!(
        "{:<8} {:>22} {:>22} {:>8}",
        "store", "unknown user p50/p90", "wrong password p50/p90", "ratio"
    );
    measure("memory", Arc::new(MemoryAuthStore::new()), rounds).await?;

    let path = std::env::temp_dir().join(format!(
        "cmmv-login-timing-{}.db",
        cmmv::types::Uuid::new_v4().simple()
    ));
    let db = Database::connect(&DatabaseSettings {
        max_connections: 4,
        acquire_timeout: Duration::from_secs(5),
        ..DatabaseSettings::new(format!("sqlite://{}", path.display()))
    })
    .await
    .map_err(|e| e.to_string())?;
    let store = SqlAuthStore::open(db.clone())
        .await
        .map_err(|e| e.to_string())?;
    let outcome = measure("sqlite", Arc::new(store), rounds).await;
    db.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    outcome
}

async fn measure(name: &str, store: Arc<dyn AuthStore>, rounds: usize) -> Result<(), String> {
    let settings = Settings {
        log: "error".to_owned(),
        jwt: JwtSettings {
            issuer: Some("https://bench.invalid".to_owned()),
            audience: vec!["bench".to_owned()],
            hs256_secret: Some(Secret::new(
                "a secret for the login timing bench, 32+ bytes",
            )),
            ..JwtSettings::default()
        },
        ..Settings::default()
    };
    let login = Login::from_settings(store, &settings).map_err(|e| e.to_string())?;
    let app = App::builder(settings)
        .routes(login.routes())
        .build()
        .map_err(|e| e.to_string())?;
    let router = app.router();
    let registered = post(
        &router,
        "/auth/register",
        &format!(r#"{{"email":"known@example.com","password":"{PASSWORD}"}}"#),
    )
    .await?;
    if registered != StatusCode::CREATED {
        return Err(format!("registration answered {registered}"));
    }
    let unknown = r#"{"email":"nobody@example.com","password":"not the password at all"}"#;
    let wrong = r#"{"email":"known@example.com","password":"not the password at all"}"#;
    let mut unknown_times = Vec::with_capacity(rounds);
    let mut wrong_times = Vec::with_capacity(rounds);
    for round in 0..WARM_UP + rounds {
        let (first, second) = if round % 2 == 0 {
            (unknown, wrong)
        } else {
            (wrong, unknown)
        };
        let a = timed_failed_login(&router, first).await?;
        let b = timed_failed_login(&router, second).await?;
        if round < WARM_UP {
            continue;
        }
        let (u, w) = if round % 2 == 0 { (a, b) } else { (b, a) };
        unknown_times.push(u);
        wrong_times.push(w);
    }
    let (u50, u90) = percentiles(&mut unknown_times);
    let (w50, w90) = percentiles(&mut wrong_times);
    println!(
        "{name:<8} {:>22} {:>22} {:>8.3}",
        format!("{} / {}", ms(u50), ms(u90)),
        format!("{} / {}", ms(w50), ms(w90)),
        u50.as_secs_f64() / w50.as_secs_f64()
    );
    Ok(())
}

async fn timed_failed_login(router: &Router, body: &str) -> Result<Duration, String> {
    let started = Instant::now();
    let status = post(router, "/auth/login", body).await?;
    let elapsed = started.elapsed();
    if status == StatusCode::UNAUTHORIZED {
        Ok(elapsed)
    } else {
        Err(format!("a failed login answered {status}"))
    }
}

/// Sends one request through the whole app and reads the whole answer.
async fn post(router: &Router, path: &str, body: &str) -> Result<StatusCode, String> {
    let request = Request::post(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_owned()))
        .map_err(|e| e.to_string())?;
    let response = match router.clone().oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    };
    let status = response.status();
    response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?;
    Ok(status)
}

fn percentiles(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(index).copied().unwrap_or_default()
    };
    (at(0.5), at(0.9))
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
