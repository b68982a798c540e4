//! Prometheus metrics, one registry per app.
//!
//! The `metrics` crate's macros write to a process-wide recorder unless a local one is set for
//! the duration of a call. Two apps in one process (tests, or a public and an admin app) must
//! not mix their counts, so every [`Metrics`] owns a recorder and records through
//! [`metrics::with_local_recorder`]; nothing is ever installed globally.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
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
const DURATION_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

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
    /// Registered series by route, then (method, status). Looking a series up by its labels
    /// costs allocations and hashing on every request; the set of series is small (methods x
    /// route templates x statuses), so their handles are kept. The route is the outer key so
    /// that a lookup borrows it rather than allocating a key.
    series: Arc<RwLock<SeriesMap>>,
}

type SeriesMap = HashMap<String, HashMap<(&'static str, u16), Series>>;

#[derive(Clone)]
struct Series {
    requests: metrics::Counter,
    duration: metrics::Histogram,
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
        let builder = PrometheusBuilder::new();
        // Setting buckets fails only for an empty list, which DURATION_BUCKETS is not; without
        // buckets the exporter would fall back to summaries, which cannot be aggregated.
        let builder = builder
            .set_buckets_for_metric(
                Matcher::Full(REQUEST_DURATION.to_owned()),
                &DURATION_BUCKETS,
            )
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let metrics = Self {
            recorder: Arc::new(recorder),
            handle,
            series: Arc::default(),
        };
        metrics.record(|| {
            metrics::describe_counter!(REQUESTS_TOTAL, "HTTP requests answered.");
            metrics::describe_histogram!(
                REQUEST_DURATION,
                metrics::Unit::Seconds,
                "Time from receiving a request to sending its response head."
            );
        });
        metrics
    }

    /// Runs `f` with this registry as the recorder of the `metrics` macros. The recorder is
    /// set for the current thread only, so `f` must not `.await`: it takes no future.
    pub fn record<T>(&self, f: impl FnOnce() -> T) -> T {
        metrics::with_local_recorder(&*self.recorder, f)
    }

    /// Counts one answered request and its latency.
    pub fn record_request(&self, method: &Method, route: &str, status: u16, elapsed: Duration) {
        let method = method_label(method);
        let record = |series: &Series| {
            series.requests.increment(1);
            series.duration.record(elapsed.as_secs_f64());
        };
        if let Ok(all) = self.series.read() {
            if let Some(series) = all.get(route).and_then(|by| by.get(&(method, status))) {
                record(series);
                return;
            }
        }
        let labels = [
            ("method", method.to_owned()),
            ("route", route.to_owned()),
            ("status", status.to_string()),
        ];
        let series = self.record(|| Series {
            requests: metrics::counter!(REQUESTS_TOTAL, &labels),
            duration: metrics::histogram!(REQUEST_DURATION, &labels),
        });
        record(&series);
        if let Ok(mut all) = self.series.write() {
            all.entry(route.to_owned())
                .or_default()
                .insert((method, status), series);
        }
    }

    /// The registry in the Prometheus text exposition format.
    pub fn render(&self) -> String {
        self.handle.render()
    }

    /// Drains histogram samples and sweeps idle series; run periodically while serving, so
    /// that memory stays bounded even when nothing scrapes.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// The method label: the standard methods by name and anything else as `OTHER`, so that
/// made-up methods cannot create unbounded label values.
fn method_label(method: &Method) -> &'static str {
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
    fn unknown_methods_share_one_label() {
        let method = Method::from_bytes(b"BREW").expect("a valid token");
        assert_eq!(method_label(&method), "OTHER");
    }
}
