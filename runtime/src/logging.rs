//! Structured logs: one line per request, JSON by default.
//!
//! The subscriber is the one piece of process-wide state the runtime touches, because `tracing`
//! has one dispatcher per process. [`init`] therefore only installs a subscriber when none is
//! set, and an embedder that brings its own keeps it.

use std::time::Duration;

use http::{Method, StatusCode};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

use crate::request_id::RequestId;
use crate::settings::{LogFormat, Settings};
use crate::telemetry::{TelemetryError, Tracing};

/// The target of the per-request log lines, for filtering (`CMMV_LOG=info,cmmv::http=warn`).
pub const HTTP_TARGET: &str = "cmmv::http";

/// Installs a stdout subscriber with the settings' filter and format and, when the settings
/// name a collector, the span exporter (see [`crate::telemetry`]), whose handle is returned so
/// that the caller can flush it on the way out. Does nothing when a subscriber is already
/// installed (an embedder's own), but still returns the exporter if one was configured: the
/// embedder can add [`Tracing::layer`] to its subscriber.
pub fn init(settings: &Settings) -> Result<Option<Tracing>, TelemetryError> {
    let tracing = Tracing::start(&settings.telemetry)?;
    // The filter was validated with the settings; a fallback keeps logging on regardless.
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stdout);
    let fmt = match settings.log_format {
        LogFormat::Json => fmt
            .json()
            // Event fields at the top level: log pipelines query `status`, not `fields.status`.
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_filter(filter)
            .boxed(),
        LogFormat::Text => fmt.with_filter(filter).boxed(),
    };
    let exporter = tracing.as_ref().map(Tracing::layer);
    // The log filter applies to the log lines only: spans are exported under their own filter.
    let installed = tracing_subscriber::registry()
        .with(fmt)
        .with(exporter)
        .try_init()
        .is_ok();
    if !installed {
        tracing::debug!("a subscriber is already installed; the runtime's is not");
    }
    Ok(tracing)
}

/// Whole milliseconds as a number field: `tracing` records a `u128` as a string.
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// What is logged of one request.
#[derive(Debug)]
pub(crate) struct RequestLog<'a> {
    pub(crate) method: &'a Method,
    pub(crate) route: &'a str,
    pub(crate) path: &'a str,
    pub(crate) status: StatusCode,
    pub(crate) latency: Duration,
    pub(crate) request_id: &'a RequestId,
    pub(crate) trace_id: Option<opentelemetry::trace::TraceId>,
}

/// Logs one answered request: server errors at `error`, everything else at `info`.
pub(crate) fn log_request(log: &RequestLog<'_>) {
    let latency_ms = log.latency.as_secs_f64() * 1000.0;
    macro_rules! event {
        ($level:expr) => {
            tracing::event!(
                target: HTTP_TARGET,
                $level,
                method = %log.method,
                route = log.route,
                path = log.path,
                status = log.status.as_u16(),
                latency_ms,
                request_id = log.request_id.as_str(),
                trace_id = log.trace_id.map(tracing::field::display),
                "request answered"
            )
        };
    }
    if log.status.is_server_error() {
        event!(tracing::Level::ERROR);
    } else {
        event!(tracing::Level::INFO);
    }
}
