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
//!
//! A request whose trace is known before it starts not to be sampled (the sampler is
//! `always_off` or a ratio of 0, or it is parent-based and the caller's `traceparent` says
//! "not sampled", or a ratio drops the trace id the request drew; see [`ChosenTraceIds`])
//! costs the exporter nothing: it has no server span, and no span opened while
//! the request is polled reaches the exporter's layer. It keeps its trace id (the caller's, or
//! a fresh one) in logs and problems, and passes "not sampled" on to the services it calls. A
//! span opened in a task the request spawned, under a span of that task's own, is outside this
//! reach: the exporter's sampler decides it as a trace of its own.
//!
//! The server span, the authentication span and the rate-limit span are made on the exporter's
//! tracer directly rather than through `tracing`, for their cost: see [`request`].

use std::cell::Cell;
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::{
    SpanContext, TraceContextExt, TraceFlags, TraceId, TraceState, TracerProvider as _,
};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{IdGenerator as _, RandomIdGenerator, SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::FilterExt as _;
use tracing_subscriber::registry::LookupSpan;

use crate::settings::Secret;

mod export;
mod request;

pub(crate) use export::render_metrics;
pub(crate) use request::{ChildSpan, RequestTrace};

/// The target of the runtime's child spans (SQL statements, Redis commands, rate-limit
/// decisions, authentication). They are at `debug` so that they cost nothing in the log
/// output at the usual `info`, and the export filter takes them by default.
pub const SPANS_TARGET: &str = "cmmv::trace";

/// The target of a request's server span, at `info`: what the export filter is asked about it,
/// and the target of the request's log span.
pub const SERVER_TARGET: &str = "cmmv::layers";

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
    /// Whether every trace with this parent (the caller's span, if any) is dropped, whatever
    /// its id: what is known before a request starts. A ratio between 0 and 1 decides by the
    /// trace id, so only the exporter's sampler can tell.
    fn drops(&self, parent: Option<&SpanContext>) -> bool {
        match self {
            Self::AlwaysOn => false,
            Self::AlwaysOff => true,
            Self::Ratio(ratio) => *ratio <= 0.0,
            // The SDK's parent-based sampler follows a remote parent's flag either way.
            Self::ParentBased(root) => match parent.filter(|p| p.is_valid()) {
                Some(parent) => !parent.is_sampled(),
                None => root.drops(None),
            },
        }
    }

    /// Whether the decision for a trace with this parent depends on the trace id: a ratio
    /// strictly between 0 and 1 decides by the id, so only once it is chosen.
    fn decides_by_trace_id(&self, parent: Option<&SpanContext>) -> bool {
        match self {
            Self::AlwaysOn | Self::AlwaysOff => false,
            Self::Ratio(ratio) => *ratio > 0.0 && *ratio < 1.0,
            Self::ParentBased(root) => match parent.filter(|p| p.is_valid()) {
                Some(_) => false,
                None => root.decides_by_trace_id(None),
            },
        }
    }

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
    sampler: Sampler,
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
            .with_id_generator(ChosenTraceIds)
            .with_sampler(settings.sampler.to_sdk())
            .with_resource(resource)
            .build();
        Ok(Some(Self {
            provider,
            filter: settings.filter.clone(),
            sampler: settings.sampler.clone(),
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
        let filter = || {
            tracing_subscriber::EnvFilter::try_new(&self.filter)
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"))
        };
        let tracer = self.provider.tracer("cmmv");
        let requests = request::RequestTracer {
            sampler: self.sampler.clone(),
            decider: self.sampler.to_sdk(),
            tracer: tracer.clone(),
            takes: request::Takes::of(&filter()),
        };
        tracing_opentelemetry::layer()
            .with_tracer(tracer)
            // The attributes the semantic conventions name, not the layer's bookkeeping (busy
            // and idle time, thread, source location, target): they cost on every span.
            .with_tracked_inactivity(false)
            .with_threads(false)
            .with_location(false)
            .with_target(false)
            // No OpenTelemetry context is pushed on every poll of an instrumented future: the
            // runtime reads a span's context through `tracing` when it needs it (to inject
            // `traceparent`), and the request's own spans are in `Context::current()`.
            .with_context_activation(false)
            // Nothing of a request known to be unsampled, nor its log span: see the module's
            // documentation.
            .with_filter(filter().and(tracing_subscriber::filter::filter_fn(exported)))
            // Found by type in the subscriber, by requests starting; it takes events only.
            .and_then(
                requests.with_filter(filter().and(tracing_subscriber::filter::filter_fn(
                    |metadata| metadata.is_event() && exported(metadata),
                ))),
            )
    }

    /// Exports what is queued and stops the exporter, waiting at most the export timeout.
    pub fn shutdown(self) {
        if let Err(error) = self.provider.shutdown() {
            tracing::warn!(%error, "the span exporter did not shut down cleanly");
        }
    }
}

thread_local! {
    /// The trace of the unsampled request this thread is polling, if any.
    static UNSAMPLED: Cell<Option<TraceId>> = const { Cell::new(None) };
    /// The trace id the server span this thread is starting was sampled by (see
    /// [`ChosenTraceIds`]).
    static CHOSEN_TRACE: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// The provider's ids: random, except the trace id of a server span whose sampling was decided
/// before it was built. A ratio sampler decides by the trace id, and the SDK draws that id
/// itself when it builds a root span (it ignores one set on the builder); so a request draws
/// it first, asks the sampler, and when the trace is kept hands the id over through
/// [`with_chosen_trace`] for the SDK to draw. A dropped trace then costs what an unsampled one
/// does, with no span built for it.
#[derive(Debug)]
struct ChosenTraceIds;

impl opentelemetry_sdk::trace::IdGenerator for ChosenTraceIds {
    fn new_trace_id(&self) -> TraceId {
        CHOSEN_TRACE.with(Cell::take).unwrap_or_else(new_trace_id)
    }

    fn new_span_id(&self) -> opentelemetry::trace::SpanId {
        RandomIdGenerator::default().new_span_id()
    }
}

/// Runs `f` with `trace` as the next trace id the provider draws on this thread; an id `f`
/// did not draw is not left for another span.
fn with_chosen_trace<R>(trace: Option<TraceId>, f: impl FnOnce() -> R) -> R {
    /// Clears the id even when `f` panics.
    struct Clear;
    impl Drop for Clear {
        fn drop(&mut self) {
            CHOSEN_TRACE.with(|chosen| chosen.set(None));
        }
    }
    CHOSEN_TRACE.with(|chosen| chosen.set(trace));
    let _clear = Clear;
    f()
}

/// A fresh trace id, as the provider draws them.
fn new_trace_id() -> TraceId {
    RandomIdGenerator::default().new_trace_id()
}

/// Whether the exporter's layers take a span or event: not a request's log span (its server
/// span is made apart), nor anything opened while an unsampled request is polled.
fn exported(metadata: &tracing::Metadata<'_>) -> bool {
    !request::is_server_span(metadata) && UNSAMPLED.with(|trace| trace.get().is_none())
}

/// The trace id a request's sampling is decided by: its caller's, or a fresh one.
fn request_trace(parent: Option<&opentelemetry::Context>) -> TraceId {
    parent
        .map(|parent| parent.span().span_context().trace_id())
        .filter(|id| *id != TraceId::INVALID)
        .unwrap_or_else(new_trace_id)
}

/// Runs `f` as part of the unsampled request of trace `trace`: what it opens is not exported.
fn unsampled<R>(trace: TraceId, f: impl FnOnce() -> R) -> R {
    /// Restores the outer state even when `f` panics.
    struct Restore(Option<TraceId>);
    impl Drop for Restore {
        fn drop(&mut self) {
            UNSAMPLED.with(|current| current.set(self.0));
        }
    }
    let _restore = Restore(UNSAMPLED.with(|current| current.replace(Some(trace))));
    f()
}

/// Whether the caller runs within a span: a `tracing` one, or a request's own (see [`request`]).
/// The runtime's client spans are made only there, so that a background task's statements do
/// not each become a trace.
pub(crate) fn within_span() -> bool {
    !tracing::Span::current().is_none()
        || opentelemetry::Context::map_current(TraceContextExt::has_active_span)
}

/// A client span for one Redis command, named by the command as the database conventions say.
/// Keys and arguments are not recorded: they hold clients' addresses, user ids, session ids.
/// Outside any span (a background task) there is none.
pub(crate) fn redis_span(command: &'static str) -> tracing::Span {
    if !within_span() {
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
/// to another service that should continue the trace. Within an unsampled request it passes on
/// the request's trace as not sampled. Does nothing outside a traced span.
pub fn inject(headers: &mut http::HeaderMap) {
    if let Some(trace) = UNSAMPLED.with(Cell::get) {
        let span = SpanContext::new(
            trace,
            RandomIdGenerator::default().new_span_id(),
            TraceFlags::default(),
            false,
            TraceState::default(),
        );
        let context = opentelemetry::Context::new().with_remote_span_context(span);
        propagator().inject_context(&context, &mut HeadersMut(headers));
        return;
    }
    // The innermost exported `tracing` span's, else the request's own span's (see [`request`]).
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        propagator().inject_context(&context, &mut HeadersMut(headers));
        return;
    }
    opentelemetry::Context::map_current(|context| {
        if context.span().span_context().is_valid() {
            propagator().inject_context(context, &mut HeadersMut(headers));
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry::trace::SpanId;

    fn remote(sampled: bool) -> SpanContext {
        SpanContext::new(
            TraceId::from(0x4bf9_2f35_77b3_4da6_a3ce_929d_0e0e_4736),
            SpanId::from(0x00f0_67aa_0ba9_02b7),
            if sampled {
                TraceFlags::SAMPLED
            } else {
                TraceFlags::default()
            },
            true,
            TraceState::default(),
        )
    }

    #[test]
    fn a_trace_is_dropped_up_front_only_when_its_id_cannot_matter() {
        let parent_based = |root| Sampler::ParentBased(Box::new(root));
        let (sampled, unsampled) = (remote(true), remote(false));
        let cases = [
            (Sampler::AlwaysOn, None, false),
            (Sampler::AlwaysOn, Some(&unsampled), false),
            (Sampler::AlwaysOff, Some(&sampled), true),
            (Sampler::Ratio(0.0), None, true),
            (Sampler::Ratio(0.5), None, false),
            (Sampler::Ratio(1.0), None, false),
            (parent_based(Sampler::AlwaysOn), None, false),
            (parent_based(Sampler::AlwaysOn), Some(&sampled), false),
            (parent_based(Sampler::AlwaysOn), Some(&unsampled), true),
            (parent_based(Sampler::AlwaysOff), None, true),
            (parent_based(Sampler::AlwaysOff), Some(&sampled), false),
            (parent_based(Sampler::Ratio(0.5)), None, false),
            (parent_based(Sampler::Ratio(0.5)), Some(&unsampled), true),
        ];
        for (sampler, parent, dropped) in cases {
            assert_eq!(sampler.drops(parent), dropped, "{sampler:?} {parent:?}");
        }
        // An invalid parent counts as none.
        assert!(!parent_based(Sampler::AlwaysOn).drops(Some(&SpanContext::empty_context())));
    }

    #[test]
    fn only_a_ratio_strictly_between_nothing_and_everything_waits_for_the_trace_id() {
        let parent_based = |root| Sampler::ParentBased(Box::new(root));
        let sampled = remote(true);
        let cases = [
            (Sampler::AlwaysOn, None, false),
            (Sampler::AlwaysOff, None, false),
            (Sampler::Ratio(0.0), None, false),
            (Sampler::Ratio(1.0), None, false),
            (Sampler::Ratio(0.25), None, true),
            // A ratio that is not parent-based decides a caller's trace by its id too.
            (Sampler::Ratio(0.25), Some(&sampled), true),
            (parent_based(Sampler::Ratio(0.25)), None, true),
            (parent_based(Sampler::Ratio(0.25)), Some(&sampled), false),
            (parent_based(Sampler::AlwaysOn), None, false),
        ];
        for (sampler, parent, waits) in cases {
            assert_eq!(
                sampler.decides_by_trace_id(parent),
                waits,
                "{sampler:?} {parent:?}"
            );
        }
    }

    #[test]
    fn an_unsampled_request_passes_its_trace_on_as_not_sampled() {
        let trace = TraceId::from(0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c);
        let mut headers = http::HeaderMap::new();
        unsampled(trace, || inject(&mut headers));
        let traceparent = headers["traceparent"].to_str().expect("ASCII");
        let parts: Vec<&str> = traceparent.split('-').collect();
        assert_eq!(parts.len(), 4, "{traceparent}");
        assert_eq!(parts[0], "00");
        assert_eq!(parts[1], "0af7651916cd43dd8448eb211c80319c");
        assert_eq!(parts[2].len(), 16);
        assert_ne!(parts[2], "0000000000000000");
        assert_eq!(parts[3], "00", "not sampled");
        // Outside the request, nothing is traced and nothing is passed on.
        let mut outside = http::HeaderMap::new();
        inject(&mut outside);
        assert!(outside.is_empty());
    }
}
