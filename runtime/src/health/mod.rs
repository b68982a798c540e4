//! Liveness, readiness and startup, and the health indicators they run.
//!
//! `/health/live` says only that the process answers: a dependency outage must not make an
//! orchestrator restart healthy processes. `/health/ready` runs every registered
//! [`HealthIndicator`], concurrently and each under a time limit, and lists them with their
//! latency and details; it answers 503 when a **critical** one fails, so that load balancers
//! route around an instance that cannot serve, and 200 `degraded` when only non-critical ones
//! do (Redis behind a limiter that fails open, a disk filling up: worth an alert, not worth
//! taking the instance out). During shutdown readiness is 503 before anything else changes,
//! which is what lets traffic drain away. `/health/started` is 503 until every critical
//! indicator has passed once, then 200 for good: a startup probe that holds the liveness probe
//! off while slow dependencies come up.
//!
//! ```
//! use cmmv::health::{CheckFuture, Details, HealthIndicator};
//!
//! /// Ready while the upstream's status page answers.
//! struct Upstream;
//!
//! impl HealthIndicator for Upstream {
//!     fn name(&self) -> &str {
//!         "upstream"
//!     }
//!     fn critical(&self) -> bool {
//!         false
//!     }
//!     fn check(&self) -> CheckFuture<'_> {
//!         Box::pin(async move {
//!             let mut details = Details::new();
//!             details.insert("region".to_owned(), "eu-west-1".into());
//!             Ok(details)
//!         })
//!     }
//! }
//!
//! # fn app(settings: cmmv::Settings) -> Result<cmmv::App, cmmv::BuildError> {
//! cmmv::App::builder(settings).health_indicator(Upstream).build()
//! # }
//! ```
//!
//! The built-in indicators are in [`indicators`]; [`crate::service::Service`] registers those
//! its settings call for.

pub mod indicators;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::{Value, json};

pub use indicators::{
    DatabaseIndicator, DiskSpaceIndicator, HealthSettings, MemoryIndicator, RedisIndicator,
};

/// Why a check failed: any error, so that a check can `?` what it calls (a `String` or `&str`
/// converts with `.into()`). Its message (`Display`) is what `/health/ready` shows; its sources
/// are logged, never shown. Return a [`CheckFailure`] to show details as well, or to keep a
/// driver's error out of the public message.
pub type CheckError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Facts an indicator reports beside its status (a pool's connections, free bytes...): a JSON
/// object, shown as the check's `details` (left out when empty).
pub type Details = serde_json::Map<String, Value>;

/// The future of one check.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Result<Details, CheckError>> + Send + 'a>>;

/// Something the app depends on, checked by `/health/ready` and `/health/started`.
///
/// Registered with [`crate::AppBuilder::health_indicator`]; [`crate::AppBuilder::readiness_check`]
/// turns a closure into a critical one. `name`, `critical` and `timeout` are read once, when
/// the app is built.
pub trait HealthIndicator: Send + Sync + 'static {
    /// The key of its entry in the body (`database`); a second indicator of the same name
    /// replaces the first.
    fn name(&self) -> &str;

    /// Whether a failure makes `/health/ready` 503 (and holds `/health/started` at 503 until
    /// it has passed once). A non-critical indicator that fails is reported as `error`, the
    /// whole as `degraded`, and readiness stays 200.
    fn critical(&self) -> bool {
        true
    }

    /// Its own time limit. `None`, or a limit longer than `CMMV_READINESS_TIMEOUT`, means
    /// `CMMV_READINESS_TIMEOUT`: a probe always answers within that.
    fn timeout(&self) -> Option<Duration> {
        None
    }

    /// Checks the dependency once. `Ok` carries the details to show; see [`CheckError`] for
    /// what a failure shows.
    fn check(&self) -> CheckFuture<'_>;
}

/// An indicator shared with other parts of the app.
impl<T: HealthIndicator + ?Sized> HealthIndicator for Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn critical(&self) -> bool {
        (**self).critical()
    }
    fn timeout(&self) -> Option<Duration> {
        (**self).timeout()
    }
    fn check(&self) -> CheckFuture<'_> {
        (**self).check()
    }
}

/// A failed check with its public message, the details to show with it, and the error that
/// caused it, which is logged and never shown (a driver's message may name hosts, users or
/// statements).
#[derive(Debug)]
pub struct CheckFailure {
    message: String,
    details: Details,
    source: Option<CheckError>,
}

impl CheckFailure {
    /// A failure shown as `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            details: Details::new(),
            source: None,
        }
    }

    /// Shows `details` with the failure.
    #[must_use]
    pub fn with_details(mut self, details: Details) -> Self {
        self.details = details;
        self
    }

    /// Logs `source` as the cause.
    #[must_use]
    pub fn with_source(mut self, source: impl Into<CheckError>) -> Self {
        self.source = Some(source.into());
        self
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CheckFailure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// What one run of one indicator found.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// Whether a failure makes readiness 503.
    pub critical: bool,
    /// How long the check took (up to its time limit).
    pub latency: Duration,
    /// Why it failed; `None` when it passed.
    pub error: Option<String>,
    /// What it reported, failed or not.
    pub details: Details,
}

impl CheckReport {
    /// Whether the check passed.
    pub fn passed(&self) -> bool {
        self.error.is_none()
    }

    /// The check's entry in a health body.
    fn to_json(&self) -> Value {
        let mut entry = serde_json::Map::new();
        let status = if self.passed() { "ok" } else { "error" };
        entry.insert("status".to_owned(), status.into());
        entry.insert("critical".to_owned(), self.critical.into());
        entry.insert("latency_ms".to_owned(), millis(self.latency).into());
        if let Some(error) = &self.error {
            entry.insert("error".to_owned(), error.as_str().into());
        }
        if !self.details.is_empty() {
            entry.insert("details".to_owned(), Value::Object(self.details.clone()));
        }
        Value::Object(entry)
    }
}

/// Milliseconds, to the microsecond.
fn millis(duration: Duration) -> f64 {
    let micros = u32::try_from(duration.as_micros()).unwrap_or(u32::MAX);
    f64::from(micros) / 1000.0
}

/// A check given as a closure ([`crate::AppBuilder::readiness_check`]): critical, under the
/// readiness timeout, no details.
struct FnIndicator<F> {
    name: String,
    check: F,
}

impl<F, Fut> HealthIndicator for FnIndicator<F>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), CheckError>> + Send + 'static,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn check(&self) -> CheckFuture<'_> {
        let check = (self.check)();
        Box::pin(async move { check.await.map(|()| Details::new()) })
    }
}

/// The registered indicators, before the app is built.
#[derive(Default)]
pub(crate) struct Indicators(BTreeMap<String, Arc<dyn HealthIndicator>>);

impl Indicators {
    /// Registers `indicator`; a second one of the same name replaces the first.
    pub(crate) fn add(&mut self, indicator: Arc<dyn HealthIndicator>) {
        self.0.insert(indicator.name().to_owned(), indicator);
    }

    /// Registers `check` as a critical indicator named `name`.
    pub(crate) fn add_fn<F, Fut>(&mut self, name: String, check: F)
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), CheckError>> + Send + 'static,
    {
        self.add(Arc::new(FnIndicator { name, check }));
    }
}

impl fmt::Debug for Indicators {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// The health state of one app: its indicators, whether they have all passed once, and
/// whether it is shutting down. Cheap to clone; clones share the state.
#[derive(Clone)]
pub struct Readiness {
    inner: Arc<Inner>,
}

struct Inner {
    /// By name.
    indicators: Vec<Registered>,
    shutting_down: AtomicBool,
    /// Every critical indicator has passed once.
    started: AtomicBool,
    /// The latest `/health/ready` run, by when it began. One run at a time: a probe that
    /// arrives while one runs waits for it, and takes the result of a run that began after it
    /// arrived — so a flood of probes runs the checks back to back, never side by side, and
    /// nobody gets an answer older than their request.
    latest: tokio::sync::Mutex<Option<(Instant, Arc<Reports>)>>,
}

/// The reports of one run, by indicator name.
type Reports = BTreeMap<String, CheckReport>;

/// An indicator with what was read of it when the app was built.
struct Registered {
    name: String,
    indicator: Arc<dyn HealthIndicator>,
    critical: bool,
    timeout: Duration,
    passed_once: AtomicBool,
}

impl fmt::Debug for Readiness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Readiness")
            .field(
                "indicators",
                &self
                    .inner
                    .indicators
                    .iter()
                    .map(|r| r.name.as_str())
                    .collect::<Vec<_>>(),
            )
            .field("started", &self.has_started())
            .field("shutting_down", &self.is_shutting_down())
            .finish()
    }
}

impl Readiness {
    /// The state of `indicators`, each limited to `timeout` at most.
    pub(crate) fn new(indicators: Indicators, timeout: Duration) -> Self {
        let indicators: Vec<Registered> = indicators
            .0
            .into_iter()
            .map(|(name, indicator)| Registered {
                critical: indicator.critical(),
                timeout: indicator.timeout().map_or(timeout, |own| own.min(timeout)),
                name,
                indicator,
                passed_once: AtomicBool::new(false),
            })
            .collect();
        let started = indicators.iter().all(|r| !r.critical);
        Self {
            inner: Arc::new(Inner {
                indicators,
                shutting_down: AtomicBool::new(false),
                started: AtomicBool::new(started),
                latest: tokio::sync::Mutex::new(None),
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

    /// Whether every critical indicator has passed once (after which `/health/started` answers
    /// 200 for good).
    pub fn has_started(&self) -> bool {
        self.inner.started.load(Ordering::SeqCst)
    }

    /// Runs every indicator concurrently, each under its time limit; the reports are by name.
    pub async fn run_checks(&self) -> BTreeMap<String, CheckReport> {
        self.run(|_| true).await
    }

    /// The reports of a run that began no earlier than now: this caller's own, or the one
    /// another caller started while this one waited (see `Inner::latest`).
    async fn fresh_reports(&self) -> Arc<Reports> {
        let arrived = Instant::now();
        let mut latest = self.inner.latest.lock().await;
        if let Some((began, reports)) = latest.as_ref() {
            if *began >= arrived {
                return Arc::clone(reports);
            }
        }
        let began = Instant::now();
        let reports = Arc::new(self.run_checks().await);
        *latest = Some((began, Arc::clone(&reports)));
        reports
    }

    /// Runs the indicators `select` picks, and records which critical ones passed.
    async fn run(&self, select: impl Fn(&Registered) -> bool) -> BTreeMap<String, CheckReport> {
        let began = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        let mut selected = Vec::new();
        for (index, registered) in self.inner.indicators.iter().enumerate() {
            if !select(registered) {
                continue;
            }
            selected.push(index);
            let indicator = Arc::clone(&registered.indicator);
            let limit = registered.timeout;
            tasks.spawn(async move {
                let started = Instant::now();
                let outcome = tokio::time::timeout(limit, async { indicator.check().await }).await;
                (index, started.elapsed(), outcome)
            });
        }
        let mut reports = BTreeMap::new();
        while let Some(joined) = tasks.join_next().await {
            // A check that panicked has no name left to report under; the others still count,
            // and the missing entry is filled in below.
            let Ok((index, latency, outcome)) = joined else {
                continue;
            };
            let registered = &self.inner.indicators[index];
            let (error, details) = match outcome {
                Ok(Ok(details)) => (None, details),
                Ok(Err(error)) => {
                    let (message, details) = failure(&registered.name, error);
                    (Some(message), details)
                }
                Err(_) => {
                    let message = format!("timed out after {} ms", registered.timeout.as_millis());
                    tracing::warn!(check = %registered.name, "a health check timed out");
                    (Some(message), Details::new())
                }
            };
            let report = CheckReport {
                critical: registered.critical,
                latency,
                error,
                details,
            };
            if report.passed() {
                registered.passed_once.store(true, Ordering::SeqCst);
            }
            reports.insert(registered.name.clone(), report);
        }
        for index in selected {
            let registered = &self.inner.indicators[index];
            reports
                .entry(registered.name.clone())
                .or_insert_with(|| CheckReport {
                    critical: registered.critical,
                    latency: began.elapsed(),
                    error: Some("the check panicked".to_owned()),
                    details: Details::new(),
                });
        }
        let started = self
            .inner
            .indicators
            .iter()
            .all(|r| !r.critical || r.passed_once.load(Ordering::SeqCst));
        if started && !self.inner.started.swap(true, Ordering::SeqCst) {
            tracing::info!("started: every critical health indicator has passed");
        }
        reports
    }
}

/// The public message and details of a failed check; the whole error, causes included, is
/// logged.
fn failure(name: &str, error: CheckError) -> (String, Details) {
    let mut causes = Vec::new();
    let mut source = error.source();
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    tracing::warn!(check = %name, %error, ?causes, "a health check failed");
    match error.downcast::<CheckFailure>() {
        Ok(failure) => (failure.message, failure.details),
        Err(error) => (error.to_string(), Details::new()),
    }
}

/// The reports as the `checks` object of a body.
fn checks_json(reports: &BTreeMap<String, CheckReport>) -> Value {
    Value::Object(
        reports
            .iter()
            .map(|(name, report)| (name.clone(), report.to_json()))
            .collect(),
    )
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
    let reports = readiness.fresh_reports().await;
    // A shutdown that began while the checks ran wins: the instance is leaving either way.
    if readiness.is_shutting_down() {
        return shutting_down();
    }
    let failing = |critical: bool| {
        reports
            .values()
            .any(|r| r.critical == critical && !r.passed())
    };
    let (status, word) = if failing(true) {
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable")
    } else if failing(false) {
        (StatusCode::OK, "degraded")
    } else {
        (StatusCode::OK, "ok")
    };
    let body = json!({ "status": word, "checks": checks_json(&reports) });
    (status, Json(body)).into_response()
}

/// `GET /health/started`.
pub(crate) async fn started(State(readiness): State<Readiness>) -> Response {
    if readiness.has_started() {
        return started_body();
    }
    if readiness.is_shutting_down() {
        return shutting_down();
    }
    // Only the critical indicators that have not passed yet: the others no longer decide.
    let reports = readiness
        .run(|r| r.critical && !r.passed_once.load(Ordering::SeqCst))
        .await;
    if readiness.has_started() {
        return started_body();
    }
    let body = json!({ "status": "starting", "checks": checks_json(&reports) });
    (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
}

fn started_body() -> Response {
    (StatusCode::OK, Json(json!({ "status": "started" }))).into_response()
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

    /// An indicator answering as told, counting its runs.
    struct Scripted {
        name: &'static str,
        critical: bool,
        timeout: Option<Duration>,
        passes: Arc<AtomicBool>,
        runs: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Scripted {
        fn new(name: &'static str, critical: bool) -> Self {
            Self {
                name,
                critical,
                timeout: None,
                passes: Arc::new(AtomicBool::new(true)),
                runs: Arc::default(),
            }
        }
    }

    impl HealthIndicator for Scripted {
        fn name(&self) -> &str {
            self.name
        }
        fn critical(&self) -> bool {
            self.critical
        }
        fn timeout(&self) -> Option<Duration> {
            self.timeout
        }
        fn check(&self) -> CheckFuture<'_> {
            Box::pin(async move {
                self.runs.fetch_add(1, Ordering::SeqCst);
                if self.passes.load(Ordering::SeqCst) {
                    let mut details = Details::new();
                    details.insert("answered".to_owned(), true.into());
                    Ok(details)
                } else {
                    Err(CheckFailure::new("it is down")
                        .with_source(std::io::Error::other("driver text: 10.0.0.7:5432"))
                        .into())
                }
            })
        }
    }

    #[tokio::test]
    async fn checks_run_concurrently_under_the_limit() {
        let mut indicators = Indicators::default();
        indicators.add_fn("fast".to_owned(), || async { Ok(()) });
        indicators.add_fn("failing".to_owned(), || async { Err("down".into()) });
        indicators.add_fn("slow".to_owned(), || async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(())
        });
        indicators.add_fn("panicking".to_owned(), || async { panic!("boom") });
        let readiness = Readiness::new(indicators, Duration::from_millis(50));
        let started = std::time::Instant::now();
        let reports = readiness.run_checks().await;
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(reports["fast"].passed());
        assert!(reports["fast"].critical, "closures are critical");
        assert_eq!(reports["failing"].error.as_deref(), Some("down"));
        assert_eq!(
            reports["slow"].error.as_deref(),
            Some("timed out after 50 ms")
        );
        assert_eq!(
            reports["panicking"].error.as_deref(),
            Some("the check panicked")
        );
    }

    #[tokio::test]
    async fn an_indicators_own_limit_applies_when_shorter() {
        let mut slow = Scripted::new("slow", true);
        slow.timeout = Some(Duration::from_secs(60));
        let mut quick = Scripted::new("quick", true);
        quick.timeout = Some(Duration::from_millis(10));
        let mut indicators = Indicators::default();
        indicators.add(Arc::new(slow));
        indicators.add(Arc::new(quick));
        let readiness = Readiness::new(indicators, Duration::from_secs(2));
        let limits: Vec<Duration> = readiness
            .inner
            .indicators
            .iter()
            .map(|r| r.timeout)
            .collect();
        // By name: quick, slow.
        assert_eq!(limits, [Duration::from_millis(10), Duration::from_secs(2)]);
    }

    #[tokio::test]
    async fn a_failure_shows_its_message_and_details_never_its_source() {
        let indicator = Scripted::new("db", true);
        indicator.passes.store(false, Ordering::SeqCst);
        let mut indicators = Indicators::default();
        indicators.add(Arc::new(indicator));
        let readiness = Readiness::new(indicators, Duration::from_secs(2));
        let reports = readiness.run_checks().await;
        let body = checks_json(&reports).to_string();
        assert!(body.contains("it is down"), "{body}");
        assert!(!body.contains("driver text"), "{body}");
        assert!(!body.contains("10.0.0.7"), "{body}");
    }

    /// A flood of readiness probes runs the checks one run at a time, and every probe gets a run
    /// that began after it arrived.
    #[tokio::test]
    async fn concurrent_probes_share_runs() {
        let scripted = Scripted::new("database", true);
        let runs = Arc::clone(&scripted.runs);
        let mut indicators = Indicators::default();
        indicators.add(Arc::new(scripted));
        let readiness = Readiness::new(indicators, Duration::from_secs(1));
        let probes: Vec<_> = (0..20)
            .map(|_| {
                let readiness = readiness.clone();
                tokio::spawn(async move { readiness.fresh_reports().await })
            })
            .collect();
        for probe in probes {
            let reports = probe.await.expect("a probe");
            assert!(reports["database"].passed());
        }
        let shared = runs.load(Ordering::SeqCst);
        assert!((1..20).contains(&shared), "{shared} runs for 20 probes");
        // A later probe does not reuse an earlier run.
        readiness.fresh_reports().await;
        assert_eq!(runs.load(Ordering::SeqCst), shared + 1);
    }

    #[tokio::test]
    async fn started_once_every_critical_indicator_passed_once() {
        let database = Scripted::new("database", true);
        let database_passes = Arc::clone(&database.passes);
        let database_runs = Arc::clone(&database.runs);
        let cache = Scripted::new("cache", true);
        let cache_passes = Arc::clone(&cache.passes);
        let optional = Scripted::new("optional", false);
        optional.passes.store(false, Ordering::SeqCst);
        database_passes.store(false, Ordering::SeqCst);
        let mut indicators = Indicators::default();
        indicators.add(Arc::new(database));
        indicators.add(Arc::new(cache));
        indicators.add(Arc::new(optional));
        let readiness = Readiness::new(indicators, Duration::from_secs(2));
        assert!(!readiness.has_started());

        readiness.run_checks().await;
        assert!(!readiness.has_started(), "the database has not passed yet");
        // The cache passed once, then fails: it has passed since start, which is what counts.
        cache_passes.store(false, Ordering::SeqCst);
        database_passes.store(true, Ordering::SeqCst);
        let runs = database_runs.load(Ordering::SeqCst);
        let reports = readiness
            .run(|r| r.critical && !r.passed_once.load(Ordering::SeqCst))
            .await;
        assert_eq!(
            reports.keys().collect::<Vec<_>>(),
            ["database"],
            "only what is pending runs"
        );
        assert_eq!(database_runs.load(Ordering::SeqCst), runs + 1);
        assert!(
            readiness.has_started(),
            "the non-critical one does not hold it"
        );
        database_passes.store(false, Ordering::SeqCst);
        readiness.run_checks().await;
        assert!(readiness.has_started(), "for good");
    }

    #[test]
    fn without_critical_indicators_the_app_has_started() {
        let mut indicators = Indicators::default();
        indicators.add(Arc::new(Scripted::new("optional", false)));
        assert!(Readiness::new(indicators, Duration::from_secs(1)).has_started());
        assert!(Readiness::new(Indicators::default(), Duration::from_secs(1)).has_started());
    }

    #[test]
    fn a_report_is_listed_with_its_status_criticality_latency_and_details() {
        let mut details = Details::new();
        details.insert("free_bytes".to_owned(), 12.into());
        let report = CheckReport {
            critical: false,
            latency: Duration::from_micros(1500),
            error: Some("low".to_owned()),
            details,
        };
        assert_eq!(
            report.to_json(),
            json!({
                "status": "error",
                "critical": false,
                "latency_ms": 1.5,
                "error": "low",
                "details": {"free_bytes": 12}
            })
        );
        let passed = CheckReport {
            critical: true,
            latency: Duration::ZERO,
            error: None,
            details: Details::new(),
        };
        assert_eq!(
            passed.to_json(),
            json!({"status": "ok", "critical": true, "latency_ms": 0.0})
        );
    }
}
