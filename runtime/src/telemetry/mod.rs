//! Distributed tracing: `tracing` spans exported to an OpenTelemetry collector over OTLP/HTTP.
//!
//! Every request gets a server span that continues the caller's W3C trace (`traceparent`,
//! `tracestate`) and carries the HTTP semantic conventions of the current specification; the
//! runtime opens child spans for SQL statements, Redis commands, rate-limit decisions and
//! authentication, and passes the trace on to the identity providers it calls. The trace id is
//! in every JSON log line of the request and in every problem body.
//!
//! Export is off unless an endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT`,
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` or `CMMV_OTEL_ENDPOINT`; see [`crate::settings`] for
//! the other variables). It never stands in a request's way: ended spans go into a bounded
//! queue that a thread of its own drains in batches, so a collector that is slow or down
//! costs the request path one failed `try_send` at worst. What the queue or a failed export
//! loses is counted in `cmmv_otel_spans_dropped_total` on `/metrics`.
//!
//! Without an exporter, the trace id a caller sent in `traceparent` is still what logs and
//! problems carry, so correlation works across services that export and services that do not.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use crate::settings::Secret;

mod export;

pub(crate) use export::render_metrics;

/// The target of the runtime's child spans (SQL statements, Redis commands, rate-limit
/// decisions, authentication). They are at `debug` so that they cost nothing in the log
/// output at the usual `info`, and the export filter takes them by default.
pub const SPANS_TARGET: &str = "cmmv::trace";

/// The target of the server spans of `/health/*` and `/metrics`, which the default export filter
/// leaves out (`cmmv::probe=off`); `CMMV_OTEL_FILTER=info,cmmv::trace=debug` traces them too.
pub const PROBES_TARGET: &str = "cmmv::probe";

/// Where and how spans are exported; read from `OTEL_*` and `CMMV_OTEL_*` by [`crate::Settings`].
/// `Debug` masks a password in the endpoint; the headers are [`Secret`]s.
#[derive(Clone, PartialEq)]
pub struct TelemetrySettings {
    /// The OTLP/HTTP traces URL (`http://collector:4318/v1/traces`); `None` exports nothing.
    pub endpoint: Option<String>,
    /// Headers of every export request: a collector's credentials.
    pub headers: Vec<(String, Secret)>,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// The other resource attributes (`deployment.environment.name=prod`, ...).
    pub resource: Vec<(String, String)>,
    /// Which traces are recorded and exported.
    pub sampler: Sampler,
    /// Time limit of one export request.
    pub timeout: Duration,
    /// Ended spans waiting for export at most; one more is dropped and counted.
    pub queue: usize,
    /// Spans sent in one export request at most.
    pub batch: usize,
    /// How long a partial batch waits before it is sent.
    pub delay: Duration,
    /// Which spans are exported, in `tracing_subscriber::EnvFilter` syntax: apart from the log
    /// filter, so that `CMMV_LOG=warn` does not switch tracing off.
    pub filter: String,
}

impl std::fmt::Debug for TelemetrySettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Destructured whole, so that a new field cannot be forgotten here.
        let TelemetrySettings {
            endpoint,
            headers,
            service_name,
            resource,
            sampler,
            timeout,
            queue,
            batch,
            delay,
            filter,
        } = self;
        f.debug_struct("TelemetrySettings")
            .field(
                "endpoint",
                &endpoint.as_deref().map(crate::settings::redact_url),
            )
            .field("headers", headers)
            .field("service_name", service_name)
            .field("resource", resource)
            .field("sampler", sampler)
            .field("timeout", timeout)
            .field("queue", queue)
            .field("batch", batch)
            .field("delay", delay)
            .field("filter", filter)
            .finish()
    }
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        Self {
            endpoint: None,
            headers: Vec::new(),
            service_name: default_service_name(),
            resource: Vec::new(),
            sampler: Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
            timeout: Duration::from_secs(10),
            queue: 2048,
            batch: 512,
            delay: Duration::from_secs(5),
            // Audit records (who signed in, from where) stay in the logs; as span events they
            // would copy account ids and addresses to the collector.
            filter: format!(
                "info,{SPANS_TARGET}=debug,{PROBES_TARGET}=off,{}=off",
                crate::auth::AUDIT_TARGET
            ),
        }
    }
}

/// The specification's default: `unknown_service:` and the executable's name.
fn default_service_name() -> String {
    let exe = std::env::current_exe().ok();
    let name = exe
        .as_deref()
        .and_then(std::path::Path::file_stem)
        .and_then(std::ffi::OsStr::to_str)
        .unwrap_or("cmmv");
    format!("unknown_service:{name}")
}

/// Which traces are recorded, as `OTEL_TRACES_SAMPLER` names them.
#[derive(Debug, Clone, PartialEq)]
pub enum Sampler {
    /// Every trace.
    AlwaysOn,
    /// None: spans are still created (trace ids reach logs and problems) but nothing is exported.
    AlwaysOff,
    /// This fraction of traces, chosen by trace id so that every service keeps the same ones.
    Ratio(f64),
    /// The caller's decision when there is one (the `sampled` flag of `traceparent`), this
    /// sampler's for traces that start here.
    ParentBased(Box<Sampler>),
}

impl Sampler {
    fn to_sdk(&self) -> opentelemetry_sdk::trace::Sampler {
        use opentelemetry_sdk::trace::Sampler as Sdk;
        match self {
            Self::AlwaysOn => Sdk::AlwaysOn,
            Self::AlwaysOff => Sdk::AlwaysOff,
            Self::Ratio(ratio) => Sdk::TraceIdRatioBased(*ratio),
            Self::ParentBased(root) => Sdk::ParentBased(Box::new(root.to_sdk())),
        }
    }
}

/// Why the exporter could not start.
#[derive(Debug)]
pub struct TelemetryError(String);

impl std::fmt::Display for TelemetryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the OTLP exporter cannot start: {}", self.0)
    }
}

impl std::error::Error for TelemetryError {}

/// The span exporter of a process. Dropping it does not flush: call [`Tracing::shutdown`] on the
/// way out, which [`crate::App::run`] does.
#[derive(Debug)]
pub struct Tracing {
    provider: SdkTracerProvider,
    filter: String,
}

impl Tracing {
    /// Starts the exporter the settings configure, or `None` when they configure none.
    pub fn start(settings: &TelemetrySettings) -> Result<Option<Self>, TelemetryError> {
        let Some(endpoint) = &settings.endpoint else {
            return Ok(None);
        };
        let processor = export::Bounded::start(endpoint, settings)?;
        let resource = Resource::builder_empty()
            .with_service_name(settings.service_name.clone())
            .with_attributes(
                settings
                    .resource
                    .iter()
                    .map(|(key, value)| KeyValue::new(key.clone(), value.clone())),
            )
            .with_attributes([
                KeyValue::new("telemetry.sdk.name", "opentelemetry"),
                KeyValue::new("telemetry.sdk.language", "rust"),
            ])
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_sampler(settings.sampler.to_sdk())
            .with_resource(resource)
            .build();
        Ok(Some(Self {
            provider,
            filter: settings.filter.clone(),
        }))
    }

    /// The `tracing` layer that turns spans into OpenTelemetry spans for this exporter, with the
    /// export filter of the settings: to compose a subscriber of one's own (the runtime's is
    /// installed by [`crate::logging::init`]).
    pub fn layer<S>(&self) -> impl Layer<S> + Send + Sync + 'static
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
    {
        // Validated with the settings; a fallback keeps tracing on regardless.
        let filter = tracing_subscriber::EnvFilter::try_new(&self.filter)
            .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("cmmv"))
            // The attributes the semantic conventions name, not the layer's bookkeeping (busy
            // and idle time, thread, source location, target): they cost on every span.
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            // No OpenTelemetry context is pushed on every poll of an instrumented future: the
            // runtime reads a span's context through `tracing` when it needs it (to inject
            // `traceparent`), never through `Context::current()`.
            .with_context_activation(false)
            .with_filter(filter)
    }

    /// Exports what is queued and stops the exporter, waiting at most the export timeout.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "the span exporter did not shut down cleanly");
        }
    }
}

/// A client span for one Redis command, named by the command as the database conventions say.
/// Keys and arguments are not recorded: they hold clients' addresses, user ids, session ids.
/// Outside any span (a background task) there is none.
pub(crate) fn redis_span(command: &'static str) -> tracing::Span {
    if tracing::Span::current().is_none() {
        return tracing::Span::none();
    }
    tracing::debug_span!(
        target: SPANS_TARGET,
        "redis",
        otel.name = command,
        otel.kind = "client",
        db.system.name = "redis",
        db.operation.name = command,
    )
}

/// The W3C propagator: `traceparent` and `tracestate`.
fn propagator() -> TraceContextPropagator {
    TraceContextPropagator::new()
}

/// Header access for the propagator.
struct Headers<'a>(&'a http::HeaderMap);

/// The longest `tracestate` taken from a request. The W3C recommends propagating at least 512
/// characters; a longer one is dropped whole rather than cut (a cut list is malformed), so that
/// a client cannot make every span of its trace carry kilobytes.
const TRACESTATE_LIMIT: usize = 512;

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        let value = self.0.get(key).and_then(|value| value.to_str().ok())?;
        (key != "tracestate" || value.len() <= TRACESTATE_LIMIT).then_some(value)
    }

    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(http::HeaderName::as_str).collect()
    }
}

struct HeadersMut<'a>(&'a mut http::HeaderMap);

impl Injector for HeadersMut<'_> {
    fn set(&mut self, key: &str, value: String) {
        if let (Ok(name), Ok(value)) = (
            http::HeaderName::from_bytes(key.as_bytes()),
            http::HeaderValue::from_str(&value),
        ) {
            self.0.insert(name, value);
        }
    }
}

/// The trace context a request carries, if any.
pub(crate) fn extract(headers: &http::HeaderMap) -> Option<opentelemetry::Context> {
    headers
        .contains_key("traceparent")
        .then(|| propagator().extract(&Headers(headers)))
}

/// Adds the current span's trace context to `headers` (`traceparent`, `tracestate`), for a call
/// to another service that should continue the trace. Does nothing outside a traced span.
pub fn inject(headers: &mut http::HeaderMap) {
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        propagator().inject_context(&context, &mut HeadersMut(headers));
    }
}

/// The trace a request belongs to, once its server span has a parent: the exported span's trace,
/// else the caller's.
pub(crate) fn trace_id(
    span: &tracing::Span,
    parent: Option<&opentelemetry::Context>,
) -> Option<(opentelemetry::trace::TraceId, bool)> {
    let context = span.context();
    let own = context.span().span_context().clone();
    if own.is_valid() {
        return Some((own.trace_id(), own.is_sampled()));
    }
    let parent = parent?.span().span_context().clone();
    parent.is_valid().then(|| (parent.trace_id(), false))
}
