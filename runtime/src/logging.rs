//! Structured logs: one line per request, JSON by default.
//!
//! The subscriber is the one piece of process-wide state the runtime touches, because `tracing`
//! has one dispatcher per process. [`init`] therefore only installs a subscriber when none is
//! set, and an embedder that brings its own keeps it.

use std::time::Duration;

use http::{Method, StatusCode};
use tracing_subscriber::EnvFilter;

use crate::request_id::RequestId;
use crate::settings::{LogFormat, Settings};

/// The target of the per-request log lines, for filtering (`CMMV_LOG=info,cmmv::http=warn`).
pub const HTTP_TARGET: &str = "cmmv::http";

/// Installs a stdout subscriber with the settings' filter and format. Returns `false`, doing
/// nothing, when a subscriber is already installed.
pub fn init(settings: &Settings) -> bool {
    // The filter was validated with the settings; a fallback keeps logging on regardless.
    let filter = EnvFilter::try_new(&settings.log).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stdout);
    match settings.log_format {
        LogFormat::Json => builder
            .json()
            // Event fields at the top level: log pipelines query `status`, not `fields.status`.
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
            .is_ok(),
        LogFormat::Text => builder.try_init().is_ok(),
    }
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
