//! The spans the runtime opens on every request of microseconds — the server span, the
//! authentication and the rate-limit decision — made on the exporter's tracer directly.
//!
//! Why not through `tracing`, as every other span: tracing-opentelemetry keeps a span's builder
//! in the registry's extensions and takes a lock to record each field, on every poll (the end
//! time) and on every read of the span's context. On a guarded GET answered from memory, those
//! two spans doubled the cost of tracing (measured with the `request_cost` benchmark: 9.1 µs a
//! request against 5.3 with tracing off). Here each span is built once with what is known of it
//! and carried in an [`opentelemetry::Context`] that the request attaches whenever it is polled;
//! the `tracing` spans opened under it (SQL statements, Redis commands, a handler's own) find
//! their parent through `Context::current()`, which is where tracing-opentelemetry looks when no
//! exported `tracing` span encloses them, and the events logged under it become its events (see
//! [`RequestTracer::on_event`]).
//!
//! The export filter still decides: it is asked once, when the exporter's layer is made, whether
//! it takes a request's server span (`cmmv::layers` at `info`), a probe's (`cmmv::probe`) and the
//! runtime's child spans (`cmmv::trace` at `debug`).

use opentelemetry::trace::{SpanKind, Status, TraceContextExt, TraceId, Tracer as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::trace::{SamplingDecision, SdkTracer, ShouldSample as _};
use tracing_subscriber::Layer;
use tracing_subscriber::registry::LookupSpan;

use super::Sampler;

/// The exporter's side of a subscriber, found by type (`Dispatch::downcast_ref`) by the requests
/// served under it: its sampler, to tell before a request starts that its trace is dropped, and
/// its tracer, with what the export filter takes of the runtime's own spans.
pub(super) struct RequestTracer {
    pub(super) sampler: Sampler,
    /// The same sampler as the SDK's, asked before a span is built when the decision depends
    /// on the trace id.
    pub(super) decider: opentelemetry_sdk::trace::Sampler,
    pub(super) tracer: SdkTracer,
    pub(super) takes: Takes,
}

/// What the export filter takes of the spans made here, asked once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Takes {
    requests: bool,
    probes: bool,
    children: bool,
}

impl Takes {
    pub(super) fn of(filter: &tracing_subscriber::EnvFilter) -> Self {
        Self {
            requests: takes(filter, &SERVER_SPAN),
            probes: takes(filter, &PROBE_SPAN),
            children: takes(filter, &CHILD_SPAN),
        }
    }
}

/// Whether `filter` takes a span of `callsite`'s target and level. A directive on span fields
/// cannot be decided here; it counts as taking the span.
fn takes(filter: &tracing_subscriber::EnvFilter, callsite: &'static Described) -> bool {
    let interest = <tracing_subscriber::EnvFilter as tracing_subscriber::layer::Filter<
        tracing_subscriber::Registry,
    >>::callsite_enabled(filter, &callsite.metadata);
    !interest.is_never()
}

/// A span's description as the export filter sees it, standing for the spans made here. It is
/// never registered with `tracing`: nothing is ever recorded under it.
pub(super) struct Described {
    metadata: tracing::Metadata<'static>,
}

impl tracing::callsite::Callsite for Described {
    fn set_interest(&self, _: tracing::subscriber::Interest) {}

    fn metadata(&self) -> &tracing::Metadata<'_> {
        &self.metadata
    }
}

macro_rules! described {
    ($name:ident, $span:literal, $target:expr, $level:expr) => {
        static $name: Described = Described {
            metadata: tracing::Metadata::new(
                $span,
                $target,
                $level,
                None,
                None,
                None,
                tracing::field::FieldSet::new(&[], tracing::callsite::Identifier(&$name)),
                tracing::metadata::Kind::SPAN,
            ),
        };
    };
}

described!(
    SERVER_SPAN,
    "request",
    super::SERVER_TARGET,
    tracing::Level::INFO
);
described!(
    PROBE_SPAN,
    "request",
    super::PROBES_TARGET,
    tracing::Level::INFO
);
described!(
    CHILD_SPAN,
    "child",
    super::SPANS_TARGET,
    tracing::Level::DEBUG
);

impl std::fmt::Debug for RequestTracer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RequestTracer")
            .field("sampler", &self.sampler)
            .field("takes", &self.takes)
            .finish_non_exhaustive()
    }
}

impl<S> Layer<S> for RequestTracer
where
    S: tracing::Subscriber + for<'span> LookupSpan<'span>,
{
    /// An event logged in a request outside any span of the exporter's layer (in the handler
    /// itself, or by the runtime) goes to the span of the request's context, as
    /// tracing-opentelemetry would have put it on the server span. Within another `tracing`
    /// span than the request's log span, that layer has it, or has filtered it out. This layer's
    /// own filter is the export filter, for events only.
    fn on_event(&self, event: &tracing::Event<'_>, ctx: tracing_subscriber::layer::Context<'_, S>) {
        // The span stack unfiltered: this layer's own filter takes no span.
        let outside =
            event.is_contextual() && ctx.current_span().metadata().is_none_or(is_server_span);
        if !outside {
            return;
        }
        Context::map_current(|cx| {
            let span = cx.span();
            if !span.span_context().is_sampled() {
                return;
            }
            let mut fields = EventFields::default();
            event.record(&mut fields);
            let metadata = event.metadata();
            if *metadata.level() == tracing::Level::ERROR {
                span.set_status(Status::error(""));
            }
            let mut attributes = Vec::with_capacity(fields.attributes.len() + 2);
            attributes.push(KeyValue::new("level", metadata.level().as_str()));
            attributes.push(KeyValue::new("target", metadata.target()));
            attributes.extend(fields.attributes);
            let name = fields
                .message
                .map_or(std::borrow::Cow::Borrowed(metadata.name()), Into::into);
            span.add_event(name, attributes);
        });
    }
}

/// Whether `metadata` is a request's log span (see `crate::layers`), which the exporter's layer
/// leaves to [`RequestTrace`].
pub(super) fn is_server_span(metadata: &tracing::Metadata<'_>) -> bool {
    metadata.name() == "request"
        && (metadata.target() == super::SERVER_TARGET || metadata.target() == super::PROBES_TARGET)
}

/// An event's fields as span-event attributes; `message` names the event.
#[derive(Default)]
struct EventFields {
    message: Option<String>,
    attributes: Vec<KeyValue>,
}

impl tracing::field::Visit for EventFields {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = Some(value.to_owned()),
            name => self.attributes.push(KeyValue::new(name, value.to_owned())),
        }
    }

    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        match i64::try_from(value) {
            Ok(value) => self.attributes.push(KeyValue::new(field.name(), value)),
            Err(_) => self.record_debug(field, &value),
        }
    }

    fn record_bool(&mut self, field: &tracing::field::Field, value: bool) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_f64(&mut self, field: &tracing::field::Field, value: f64) {
        self.attributes.push(KeyValue::new(field.name(), value));
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = Some(format!("{value:?}")),
            name => self
                .attributes
                .push(KeyValue::new(name, format!("{value:?}"))),
        }
    }
}

/// Runs `f` with the exporter of the current subscriber, if it has one.
fn with_exporter<R>(f: impl FnOnce(Option<&RequestTracer>) -> R) -> R {
    // `get_default` takes an `FnMut`, and calls it once.
    let mut f = Some(f);
    tracing::dispatcher::get_default(|dispatch| {
        let f = f.take().expect("called once");
        f(dispatch.downcast_ref::<RequestTracer>())
    })
}

/// How a request is traced, decided before it starts.
pub(crate) enum RequestTrace {
    /// No exporter takes its server span: the caller's trace id, if it sent one, is what its
    /// logs and problems carry.
    Untraced(Option<TraceId>),
    /// Its trace is known to be dropped: it keeps this id (the caller's or a fresh one), and
    /// nothing opened while it is polled is exported.
    Unsampled(TraceId),
    /// Its server span, in the context its work is polled in.
    Traced(Context),
}

impl RequestTrace {
    /// Starts the server span `name` of a request (of a probe, when `probe`), continuing the
    /// trace of `parent` (the caller's `traceparent`). `attributes` are the request's, asked for
    /// only when the exporter takes the span.
    pub(crate) fn begin(
        name: &'static str,
        probe: bool,
        parent: Option<Context>,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Self {
        let caller = |parent: &Option<Context>| {
            parent
                .as_ref()
                .map(|parent| parent.span().span_context().trace_id())
                .filter(|id| *id != TraceId::INVALID)
        };
        with_exporter(|exporter| {
            let Some(exporter) = exporter else {
                return Self::Untraced(caller(&parent));
            };
            let remote = parent.as_ref().map(TraceContextExt::span);
            if !probe
                && exporter
                    .sampler
                    .drops(remote.as_ref().map(|span| span.span_context()))
            {
                return Self::Unsampled(super::request_trace(parent.as_ref()));
            }
            let taken = if probe {
                exporter.takes.probes
            } else {
                exporter.takes.requests
            };
            if !taken {
                return Self::Untraced(caller(&parent));
            }
            // A ratio decides by the trace id: drawn here and asked first, so that a dropped
            // trace builds no span (see `ChosenTraceIds`).
            let chosen = if !probe
                && exporter
                    .sampler
                    .decides_by_trace_id(remote.as_ref().map(|span| span.span_context()))
            {
                let trace = super::request_trace(parent.as_ref());
                let decision = exporter.decider.should_sample(
                    parent.as_ref(),
                    trace,
                    name,
                    &SpanKind::Server,
                    &[],
                    &[],
                );
                if decision.decision == SamplingDecision::Drop {
                    return Self::Unsampled(trace);
                }
                Some(trace)
            } else {
                None
            };
            let parent = parent.unwrap_or_default();
            let tracer = &exporter.tracer;
            // The attributes go in with the builder, whether or not the sampler keeps the span:
            // set afterwards, each would be pushed into a vector that grows from nothing.
            let span = super::with_chosen_trace(chosen, || {
                tracer
                    .span_builder(name)
                    .with_kind(SpanKind::Server)
                    .with_attributes(attributes())
                    .start_with_context(tracer, &parent)
            });
            Self::Traced(parent.with_span(span))
        })
    }

    /// The request's trace id, when it has one.
    pub(crate) fn trace_id(&self) -> Option<TraceId> {
        match self {
            Self::Untraced(id) => *id,
            Self::Unsampled(id) => Some(*id),
            Self::Traced(cx) => Some(cx.span().span_context().trace_id()),
        }
    }

    /// Whether the request's server span is recorded for export.
    pub(crate) fn is_recorded(&self) -> bool {
        matches!(self, Self::Traced(cx) if cx.span().span_context().is_sampled())
    }

    /// Runs `f` as part of the request: what it opens belongs to the request's trace.
    pub(crate) fn within<R>(&self, f: impl FnOnce() -> R) -> R {
        match self {
            Self::Untraced(_) => f(),
            Self::Unsampled(trace) => super::unsampled(*trace, f),
            Self::Traced(cx) => {
                let _attached = cx.clone().attach();
                f()
            }
        }
    }

    /// Ends a recorded server span, renamed `name` when routing named it, with the response's
    /// attributes; `failed` marks it as an error.
    pub(crate) fn end(&self, name: Option<String>, attributes: Vec<KeyValue>, failed: bool) {
        let Self::Traced(cx) = self else { return };
        let span = cx.span();
        if let Some(name) = name {
            span.update_name(name);
        }
        span.set_attributes(attributes);
        if failed {
            span.set_status(Status::error(""));
        }
        span.end();
    }
}

/// A span of the runtime's own within a recorded request (authentication, a rate-limit
/// decision), a child of the span of the current context. Outside a recorded span it is
/// nothing, at the cost of a thread-local read. It ends when dropped.
pub(crate) struct ChildSpan(Option<Context>);

impl ChildSpan {
    /// Starts the span `name` with `attributes`, asked for only when it is made.
    pub(crate) fn start(name: &'static str, attributes: impl FnOnce() -> Vec<KeyValue>) -> Self {
        Self(Context::map_current(|cx| {
            if !cx.span().span_context().is_sampled() {
                return None;
            }
            with_exporter(|exporter| {
                let exporter = exporter.filter(|exporter| exporter.takes.children)?;
                let tracer = &exporter.tracer;
                let span = tracer
                    .span_builder(name)
                    .with_kind(SpanKind::Internal)
                    .with_attributes(attributes())
                    .start_with_context(tracer, cx);
                Some(cx.with_span(span))
            })
        }))
    }

    /// Sets an attribute learnt once the span is started.
    pub(crate) fn set(&self, attribute: KeyValue) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(attribute);
        }
    }

    /// Runs `f` under the span: what it opens or logs is the span's.
    pub(crate) fn within<R>(&self, f: impl FnOnce() -> R) -> R {
        match &self.0 {
            Some(cx) => {
                let _attached = cx.clone().attach();
                f()
            }
            None => f(),
        }
    }

    /// Awaits `future` under the span.
    pub(crate) async fn around<F: Future>(&self, future: F) -> F::Output {
        match &self.0 {
            Some(cx) => opentelemetry::context::FutureExt::with_context(future, cx.clone()).await,
            None => future.await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::layer::SubscriberExt as _;

    /// Under a ratio sampler a request is decided by a trace id drawn before its span is
    /// built, and the span must then carry that id: were the SDK to draw another, it would
    /// decide again and drop about half of the traces kept here, as traced but unrecorded.
    #[test]
    fn a_trace_kept_by_its_id_is_recorded_under_that_id() {
        let settings = crate::telemetry::TelemetrySettings {
            // Nothing listens there: the spans are dropped, which is not what is looked at.
            endpoint: Some("http://127.0.0.1:9/v1/traces".to_owned()),
            sampler: Sampler::Ratio(0.5),
            ..Default::default()
        };
        let tracing = crate::telemetry::Tracing::start(&settings)
            .expect("the exporter starts")
            .expect("an endpoint is configured");
        let subscriber = tracing_subscriber::registry().with(tracing.layer());
        let (mut kept, mut dropped) = (0, 0);
        tracing::subscriber::with_default(subscriber, || {
            for _ in 0..64 {
                match RequestTrace::begin("GET", false, None, Vec::new) {
                    RequestTrace::Traced(cx) => {
                        assert!(cx.span().span_context().is_sampled(), "kept, so recorded");
                        cx.span().end();
                        kept += 1;
                    }
                    RequestTrace::Unsampled(trace) => {
                        assert_ne!(trace, TraceId::INVALID);
                        dropped += 1;
                    }
                    RequestTrace::Untraced(_) => panic!("the export filter takes requests"),
                }
            }
        });
        // Both happen: the chance of either never happening is 2^-63.
        assert!(kept > 0 && dropped > 0, "{kept} kept, {dropped} dropped");
        tracing.shutdown();
    }

    #[test]
    fn the_export_filter_decides_the_requests_own_spans_by_target_and_level() {
        let takes = |filter: &str| Takes::of(&tracing_subscriber::EnvFilter::new(filter));
        let all = |requests, probes, children| Takes {
            requests,
            probes,
            children,
        };
        let default = crate::telemetry::TelemetrySettings::default().filter;
        for (filter, expected) in [
            (default.as_str(), all(true, false, true)),
            ("info", all(true, true, false)),
            ("info,cmmv::trace=debug", all(true, true, true)),
            ("warn", all(false, false, false)),
            ("warn,cmmv::layers=info", all(true, false, false)),
            ("off,cmmv::probe=info", all(false, true, false)),
            ("trace,cmmv::trace=off", all(true, true, false)),
        ] {
            assert_eq!(takes(filter), expected, "{filter}");
        }
    }
}
