//! Liveness and readiness.
//!
//! `/health/live` says only that the process answers: a dependency outage must not make an
//! orchestrator restart healthy processes. `/health/ready` runs every registered dependency
//! check, concurrently and each under a time limit, and answers 503 naming what failed, so that
//! load balancers route around an instance that cannot serve. During shutdown readiness is 503
//! before anything else changes, which is what lets traffic drain away.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

/// Why a readiness check failed: any error, so that a check can `?` what it calls (a `String`
/// or `&str` converts with `.into()`). Its message is what `/health/ready` shows for the
/// check; its sources are logged.
pub type CheckError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The future of one readiness check.
pub type CheckFuture = Pin<Box<dyn Future<Output = Result<(), CheckError>> + Send + 'static>>;

type CheckFn = Arc<dyn Fn() -> CheckFuture + Send + Sync>;

/// The readiness state of one app: its dependency checks and whether it is shutting down.
#[derive(Clone)]
pub struct Readiness {
    inner: Arc<Inner>,
}

struct Inner {
    checks: BTreeMap<String, CheckFn>,
    timeout: Duration,
    shutting_down: AtomicBool,
}

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Readiness")
            .field("checks", &self.inner.checks.keys().collect::<Vec<_>>())
            .field("timeout", &self.inner.timeout)
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}

/// The registered checks, before the app is built.
#[derive(Default)]
pub(crate) struct Checks(BTreeMap<String, CheckFn>);

impl Checks {
    /// Registers `check` under `name`; a second check of the same name replaces the first.
    pub(crate) fn add<F, Fut>(&mut self, name: String, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), CheckError>> + Send + 'static,
    {
        self.0
            .insert(name, Arc::new(move || Box::pin(check()) as CheckFuture));
    }
}

impl std::fmt::Debug for Checks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

impl Readiness {
    pub(crate) fn new(checks: Checks, timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                checks: checks.0,
                timeout,
                shutting_down: AtomicBool::new(false),
            }),
        }
    }

    /// Turns readiness off for good: the first step of a graceful shutdown.
    pub fn start_shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::SeqCst);
    }

    /// Whether a shutdown has begun, after which readiness answers 503 for good.
    pub fn is_shutting_down(&self) -> bool {
        self.inner.shutting_down.load(Ordering::SeqCst)
    }

    /// Runs every check concurrently, each under the time limit; the map is by check name, the
    /// error `None` for a check that passed.
    pub async fn run_checks(&self) -> BTreeMap<String, Option<String>> {
        let mut tasks = tokio::task::JoinSet::new();
        for (name, check) in &self.inner.checks {
            let name = name.clone();
            let future = check();
            let limit = self.inner.timeout;
            tasks.spawn(async move {
                let outcome = match tokio::time::timeout(limit, future).await {
                    Ok(Ok(())) => None,
                    Ok(Err(error)) => {
                        let mut causes = Vec::new();
                        let mut source = error.source();
                        while let Some(cause) = source {
                            causes.push(cause.to_string());
                            source = cause.source();
                        }
                        tracing::warn!(check = %name, %error, ?causes, "a readiness check failed");
                        Some(error.to_string())
                    }
                    Err(_) => Some(format!("timed out after {} ms", limit.as_millis())),
                };
                (name, outcome)
            });
        }
        let mut results = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            // A check that panicked has no name left to report under; the others still count,
            // and the missing entry is filled in below.
            if let Ok((name, outcome)) = joined {
                results.insert(name, outcome);
            }
        }
        for name in self.inner.checks.keys() {
            results
                .entry(name.clone())
                .or_insert_with(|| Some("the check panicked".to_owned()));
        }
        results
    }
}

/// `GET /health/live`.
pub(crate) async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// `GET /health/ready`.
pub(crate) async fn ready(State(readiness): State<Readiness>) -> Response {
    if readiness.is_shutting_down() {
        return shutting_down();
    }
    let results = readiness.run_checks().await;
    // A shutdown that began while the checks ran wins: the instance is leaving either way.
    if readiness.is_shutting_down() {
        return shutting_down();
    }
    let healthy = results.values().all(Option::is_none);
    let checks: serde_json::Map<String, Value> = results
        .into_iter()
        .map(|(name, outcome)| {
            let body = match outcome {
                None => json!({ "status": "ok" }),
                Some(error) => json!({ "status": "error", "error": error }),
            };
            (name, body)
        })
        .collect();
    let (status, word) = if healthy {
        (StatusCode::OK, "ok")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    };
    (status, Json(json!({ "status": word, "checks": checks }))).into_response()
}

fn shutting_down() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "status": "shutting_down" })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn checks_run_concurrently_under_the_limit() {
        let mut checks = Checks::default();
        checks.add("fast".to_owned(), || async { Ok(()) });
        checks.add("failing".to_owned(), || async { Err("down".into()) });
        checks.add("slow".to_owned(), || async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        });
        checks.add("panicking".to_owned(), || async { panic!("boom") });
        let readiness = Readiness::new(checks, Duration::from_millis(50));
        let started = std::time::Instant::now();
        let results = readiness.run_checks().await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(results["fast"], None);
        assert_eq!(results["failing"].as_deref(), Some("down"));
        assert_eq!(results["slow"].as_deref(), Some("timed out after 50 ms"));
        assert_eq!(results["panicking"].as_deref(), Some("the check panicked"));
    }
}
