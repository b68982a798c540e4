//! Prometheus metrics, one registry per app.
//!
//! The `metrics` crate's macros write to a process-wide recorder unless a local one is set for
//! the duration of a call. Two apps in one process (tests, or a public and an admin app) must
//! not mix their counts, so every [`Metrics`] owns a recorder and records through
//! [`metrics::with_local_recorder`]; nothing is ever installed globally.
//!
//! The request counter and latency histogram, recorded on every request, are kept by the
//! runtime itself rather than in that recorder: its histograms store every sample with a
//! timestamp until upkeep drains them (a burst of work each second under load), and its
//! handles are shared atomics that every worker thread writes to. Here each worker thread
//! counts into a shard of its own, and a scrape adds the shards up.

use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Method, header};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};

/// The request counter.
pub const REQUESTS_TOTAL: &str = "http_requests_total";
/// The request latency histogram, in seconds.
pub const REQUEST_DURATION: &str = "http_request_duration_seconds";
/// The `route` label of requests that matched no route: a fixed value, since the raw path
/// would give every scanner's probe its own time series.
pub const UNMATCHED_ROUTE: &str = "<unmatched>";

/// Latency buckets, in seconds: from fast in-memory answers up to the default request timeout.
const DURATION_BUCKETS: [f64; BUCKETS] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

const BUCKETS: usize = 14;

/// How many shards the request series are split into. Worker threads pick theirs in turn, so
/// up to this many threads never write to the same one; more threads share shards, which is
/// still correct, only contended.
const SHARDS: usize = 16;

/// How often histograms are drained and idle series swept while serving.
pub(crate) const UPKEEP_INTERVAL: Duration = Duration::from_secs(1);

/// An app's metrics registry. Cheap to clone; clones share the registry.
///
/// Handlers can record their own metrics into it (it is in the request extensions):
///
/// ```
/// # fn f(metrics: &cmmv::Metrics) {
/// metrics.record(|| metrics::counter!("tasks_created_total").increment(1));
/// # }
/// ```
#[derive(Clone)]
pub struct Metrics {
    recorder: Arc<PrometheusRecorder>,
    handle: PrometheusHandle,
    requests: Arc<RequestSeries>,
    /// Components that render their own state at scrape time (a database's pool).
    sources: Arc<[Arc<dyn MetricsSource>]>,
}

/// A component whose metrics are read when `/metrics` is scraped rather than recorded as they
/// happen: gauges of its state, or counts it keeps itself because it has no app to record into
/// (a [`crate::sql::Database`] is shared by apps and outlives them). Registered with
/// [`crate::AppBuilder::metrics_source`].
pub trait MetricsSource: Send + Sync + std::fmt::Debug + 'static {
    /// Appends its families in the Prometheus text format, `# HELP` and `# TYPE` included.
    fn render(&self, out: &mut String);
}

/// What `cmmv_build_info` reports: the service's version and the commit it was built from.
/// Made by [`crate::build_info!`] in the service's crate, where both are known at compile time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildInfo {
    /// The service crate's version (`CARGO_PKG_VERSION`).
    pub version: &'static str,
    /// The commit, from `CMMV_GIT_SHA` at compile time; `unknown` when it was not set.
    pub git_sha: &'static str,
}

impl MetricsSource for BuildInfo {
    fn render(&self, out: &mut String) {
        let _ = write!(
            out,
            "# HELP cmmv_build_info The build serving: always 1, the facts are in the labels.\n\
             # TYPE cmmv_build_info gauge\n\
             cmmv_build_info{{version=\"{}\",git_sha=\"{}\",cmmv_version=\"{}\"}} 1\n",
            escape_label(self.version),
            escape_label(self.git_sha),
            env!("CARGO_PKG_VERSION"),
        );
    }
}

/// The calling crate's [`BuildInfo`]: its version, and the commit named by `CMMV_GIT_SHA` when
/// it was compiled (`CMMV_GIT_SHA=$(git rev-parse HEAD) cargo build --release`). Given to
/// [`crate::AppBuilder::metrics_source`].
#[macro_export]
macro_rules! build_info {
    () => {
        $crate::metrics::BuildInfo {
            version: env!("CARGO_PKG_VERSION"),
            git_sha: match option_env!("CMMV_GIT_SHA") {
                Some(sha) => sha,
                None => "unknown",
            },
        }
    };
}

/// A latency histogram kept in atomics, for a [`MetricsSource`]: the same buckets as the request
/// latency's, in seconds.
#[derive(Debug)]
pub struct DurationHistogram {
    /// Observations per bucket, not cumulative; the last one is over the highest bound.
    buckets: [std::sync::atomic::AtomicU64; BUCKETS + 1],
    sum_nanos: std::sync::atomic::AtomicU64,
}

impl Default for DurationHistogram {
    fn default() -> Self {
        Self {
            buckets: std::array::from_fn(|_| std::sync::atomic::AtomicU64::new(0)),
            sum_nanos: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

impl DurationHistogram {
    /// Counts one observation.
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS);
        self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        self.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }

    /// Appends the family `name` (with `help`) in the Prometheus text format.
    pub fn render(&self, name: &str, help: &str, out: &mut String) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in DURATION_BUCKETS.iter().zip(&self.buckets) {
            cumulative += count.load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        cumulative += self.buckets[BUCKETS].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = Duration::from_nanos(self.sum_nanos.load(Ordering::Relaxed)).as_secs_f64();
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cumulative}");
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh, empty registry.
    pub fn new() -> Self {
        Self::with_sources(Vec::new())
    }

    /// A fresh registry that also renders `sources` on every scrape.
    pub fn with_sources(sources: Vec<Arc<dyn MetricsSource>>) -> Self {
        // Histograms in seconds get the request latency's buckets, not the recorder's default
        // summaries: buckets add up across instances, quantiles do not.
        // The buckets are valid (not empty): the builder refuses nothing else.
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".to_owned()), &DURATION_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new())
            .build_recorder();
        let handle = recorder.handle();
        Self {
            recorder: Arc::new(recorder),
            handle,
            requests: Arc::new(RequestSeries::new()),
            sources: sources.into(),
        }
    }

    /// Runs `f` with this registry as the recorder of the `metrics` macros. The recorder is
    /// set for the current thread only, so `f` must not `.await`: it takes no future.
    pub fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&*self.recorder, f)
    }

    /// Counts one answered request and its latency.
    pub fn record_request(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        self.requests
            .record(method_label(method), route, status, elapsed.as_secs_f64());
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        let mut text = self.requests.render();
        text.push_str(&self.handle.render());
        for source in self.sources.iter() {
            source.render(&mut text);
        }
        crate::telemetry::render_metrics(&mut text);
        crate::system::render_process_metrics(&mut text);
        text
    }

    /// Drains histogram samples and sweeps idle series; run periodically while serving, so
    /// that memory stays bounded even when nothing scrapes.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// The request counter and latency histogram of every (method, route, status).
struct RequestSeries {
    shards: Box<[Shard]>,
}

/// One shard, on a cache line of its own so that threads writing to neighbouring shards do not
/// slow each other down. Series by route, then by (method, status): the route is the outer key
/// so that a lookup borrows it rather than allocating a key, and a route has few of the rest.
#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<HashMap<Box<str>, Vec<Series>>>);

/// The counts of one series in one shard.
#[derive(Debug, Clone, Copy)]
struct Series {
    method: &'static str,
    status: u16,
    /// Requests per latency bucket, not cumulative; the last one is over the highest bound.
    buckets: [u64; BUCKETS + 1],
    /// The sum of latencies, in seconds.
    sum: f64,
}

impl Series {
    fn new(method: &'static str, status: u16) -> Self {
        Self {
            method,
            status,
            buckets: [0; BUCKETS + 1],
            sum: 0.0,
        }
    }

    fn record(&mut self, seconds: f64) {
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(BUCKETS);
        self.buckets[bucket] += 1;
        self.sum += seconds;
    }

    fn add(&mut self, other: &Series) {
        for (total, count) in self.buckets.iter_mut().zip(other.buckets) {
            *total += count;
        }
        self.sum += other.sum;
    }

    fn count(&self) -> u64 {
        self.buckets.iter().sum()
    }
}

thread_local! {
    /// The shard this thread records into, chosen on its first request.
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Hands out shards to threads in turn.
static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

fn this_threads_shard() -> usize {
    SHARD.with(|shard| {
        shard.get().unwrap_or_else(|| {
            let chosen = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
            shard.set(Some(chosen));
            chosen
        })
    })
}

impl RequestSeries {
    fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Shard::default()).collect(),
        }
    }

    fn record(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        let shard = &self.shards[this_threads_shard()];
        // A panic while the lock was held left at worst one sample half-counted; counting goes
        // on rather than losing every later request.
        let mut series = shard.0.lock().unwrap_or_else(PoisonError::into_inner);
        match series.get_mut(route) {
            Some(by_route) => record_in(by_route, method, status, seconds),
            None => {
                let mut by_route = Vec::new();
                record_in(&mut by_route, method, status, seconds);
                series.insert(route.into(), by_route);
            }
        }
    }

    /// Both metric families in the Prometheus text format, series in a stable order.
    fn render(&self) -> String {
        let mut totals: BTreeMap<(String, &'static str, u16), Series> = BTreeMap::new();
        for shard in &self.shards {
            let series = shard.0.lock().unwrap_or_else(PoisonError::into_inner);
            for (route, by_route) in series.iter() {
                for s in by_route {
                    totals
                        .entry((route.to_string(), s.method, s.status))
                        .or_insert_with(|| Series::new(s.method, s.status))
                        .add(s);
                }
            }
        }
        let mut text = String::new();
        if totals.is_empty() {
            return text;
        }
        let labels = |route: &str, s: &Series| {
            format!(
                "method=\"{}\",route=\"{}\",status=\"{}\"",
                s.method,
                escape_label(route),
                s.status
            )
        };
        // Writing to a String cannot fail.
        let _ = writeln!(text, "# HELP {REQUESTS_TOTAL} HTTP requests answered.");
        let _ = writeln!(text, "# TYPE {REQUESTS_TOTAL} counter");
        for ((route, ..), s) in &totals {
            let _ = writeln!(
                text,
                "{REQUESTS_TOTAL}{{{}}} {}",
                labels(route, s),
                s.count()
            );
        }
        text.push('\n');
        let _ = writeln!(
            text,
            "# HELP {REQUEST_DURATION} Time from receiving a request to sending its response head."
        );
        let _ = writeln!(text, "# TYPE {REQUEST_DURATION} histogram");
        for ((route, ..), s) in &totals {
            let labels = labels(route, s);
            let mut cumulative = 0;
            for (bound, count) in DURATION_BUCKETS.iter().zip(s.buckets) {
                cumulative += count;
                let _ = writeln!(
                    text,
                    "{REQUEST_DURATION}_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let count = s.count();
            let _ = writeln!(
                text,
                "{REQUEST_DURATION}_bucket{{{labels},le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(text, "{REQUEST_DURATION}_sum{{{labels}}} {}", s.sum);
            let _ = writeln!(text, "{REQUEST_DURATION}_count{{{labels}}} {count}");
        }
        text.push('\n');
        text
    }
}

/// Counts one request into the series of its route.
fn record_in(by_route: &mut Vec<Series>, method: &'static str, status: u16, seconds: f64) {
    let found = by_route
        .iter_mut()
        .find(|s| s.method == method && s.status == status);
    match found {
        Some(series) => series.record(seconds),
        None => {
            let mut series = Series::new(method, status);
            series.record(seconds);
            by_route.push(series);
        }
    }
}

/// A label value as the text format requires: backslash, double quote and newline escaped.
fn escape_label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The method label: the standard methods by name and anything else as `OTHER`, so that
/// made-up methods cannot create unbounded label values.
pub(crate) fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "OTHER",
    }
}

/// `GET /metrics`.
pub(crate) async fn serve_metrics(State(metrics): State<Metrics>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        metrics.render(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_separate() {
        let a = Metrics::new();
        let b = Metrics::new();
        a.record_request(&Method::GET, "/tasks/{id}", 200, Duration::from_millis(3));
        let text = a.render();
        assert!(
            text.contains(
                r#"http_requests_total{method="GET",route="/tasks/{id}",status="200"} 1"#
            ),
            "{text}"
        );
        assert!(
            text.contains("http_request_duration_seconds_bucket"),
            "{text}"
        );
        assert!(!b.render().contains("http_requests_total{"));
    }

    #[test]
    fn counts_from_every_thread_are_added_up() {
        let metrics = Metrics::new();
        // 2^-9 seconds: sums of it are exact in any order, whichever shards the threads use.
        let latency = Duration::from_nanos(1_953_125);
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    metrics.record_request(&Method::GET, "/tasks", 200, latency);
                });
            }
        });
        let text = metrics.render();
        let labels = r#"method="GET",route="/tasks",status="200""#;
        for line in [
            format!("http_requests_total{{{labels}}} 4"),
            format!(r#"http_request_duration_seconds_bucket{{{labels},le="0.001"}} 0"#),
            format!(r#"http_request_duration_seconds_bucket{{{labels},le="0.0025"}} 4"#),
            format!(r#"http_request_duration_seconds_bucket{{{labels},le="30"}} 4"#),
            format!(r#"http_request_duration_seconds_bucket{{{labels},le="+Inf"}} 4"#),
            format!("http_request_duration_seconds_sum{{{labels}}} 0.0078125"),
            format!("http_request_duration_seconds_count{{{labels}}} 4"),
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label("a\"b\\c\nd"), r#"a\"b\\c\nd"#);
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let method = Method::from_bytes(b"BREW").expect("a valid token");
        assert_eq!(method_label(&method), "OTHER");
    }
}
