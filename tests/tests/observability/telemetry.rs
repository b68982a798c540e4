//! Tracing export, end to end: the example service exporting to an OTLP/HTTP collector served
//! here on 127.0.0.1, which decodes every `ExportTraceServiceRequest` as a real collector does.
//!
//! Each test runs on a current-thread runtime with its subscriber set for that thread: the
//! server's tasks run there and see it, and several tests can export at once without a
//! process-wide subscriber. (SQLite's writer runs on a thread of its own, where this
//! subscriber is not the default: the SQL spans checked here are reads, or PostgreSQL's writes.)

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use cmmv::Settings;
use cmmv::telemetry::Tracing;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as Any;
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tracing_subscriber::Layer as _;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::auth_support::{bearer, token, with_auth};
use crate::runtime_support::{CapturedLogs, Served};
use crate::serve_on_own_thread;

/// How the collector answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Accept,
    /// Holds every export for this long before answering: a collector falling behind.
    Slow(Duration),
}

/// An OTLP/HTTP collector on its own thread and runtime, keeping what it receives.
pub(crate) struct Collector {
    pub(crate) addr: SocketAddr,
    received: Arc<Mutex<Received>>,
}

#[derive(Default)]
struct Received {
    requests: Vec<ExportTraceServiceRequest>,
    /// The `Authorization` header of each export.
    authorizations: Vec<Option<String>>,
    mode: Option<Mode>,
}

impl Collector {
    pub(crate) fn start(mode: Mode) -> Self {
        let received = Arc::new(Mutex::new(Received {
            requests: Vec::new(),
            authorizations: Vec::new(),
            mode: Some(mode),
        }));
        let state = received.clone();
        let addr = serve_on_own_thread(
            axum::Router::new()
                .route("/v1/traces", post(export))
                .with_state(state),
        );
        Self { addr, received }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://{}/v1/traces", self.addr)
    }

    /// The `Authorization` header of every export so far.
    pub(crate) fn authorizations(&self) -> Vec<Option<String>> {
        self.received.lock().expect("lock").authorizations.clone()
    }

    /// Every span received so far, with its resource's attributes.
    pub(crate) fn spans(&self) -> Vec<(Vec<KeyValue>, Span)> {
        let received = self.received.lock().expect("lock");
        let mut spans = Vec::new();
        for request in &received.requests {
            for resource in &request.resource_spans {
                let attributes = resource
                    .resource
                    .as_ref()
                    .map(|r| r.attributes.clone())
                    .unwrap_or_default();
                for scope in &resource.scope_spans {
                    for span in &scope.spans {
                        spans.push((attributes.clone(), span.clone()));
                    }
                }
            }
        }
        spans
    }
}

async fn export(
    State(received): State<Arc<Mutex<Received>>>,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    assert_eq!(
        headers.get("content-type").and_then(|v| v.to_str().ok()),
        Some("application/x-protobuf"),
        "OTLP/HTTP in its binary encoding"
    );
    let request = ExportTraceServiceRequest::decode(body).expect("an ExportTraceServiceRequest");
    let mode = {
        let mut received = received.lock().expect("lock");
        received.requests.push(request);
        received.authorizations.push(
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned),
        );
        received.mode
    };
    if let Some(Mode::Slow(delay)) = mode {
        tokio::time::sleep(delay).await;
    }
    // An empty ExportTraceServiceResponse.
    (StatusCode::OK, Vec::new())
}

/// The string, integer or boolean value of attribute `key`.
pub(crate) fn attribute(attributes: &[KeyValue], key: &str) -> Option<Value> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    Some(match value {
        AnyValue {
            value: Some(Any::StringValue(s)),
        } => json!(s),
        AnyValue {
            value: Some(Any::IntValue(i)),
        } => json!(i),
        AnyValue {
            value: Some(Any::BoolValue(b)),
        } => json!(b),
        other => json!(format!("{other:?}")),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Settings exporting to `collector` quickly, with the tests' tokens accepted.
fn exporting(collector: &Collector, extra: &[(&str, String)]) -> Settings {
    let dir = tempfile::tempdir().expect("a directory").keep();
    let mut pairs = vec![
        ("CMMV_ADDR", "127.0.0.1:0".to_owned()),
        ("CMMV_SHUTDOWN_DELAY", "0s".to_owned()),
        (
            "CMMV_DATABASE_URL",
            format!("sqlite://{}", dir.join("todo.db").display()),
        ),
        (
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            format!("http://{}", collector.addr),
        ),
        ("OTEL_SERVICE_NAME", "todo-under-test".to_owned()),
        (
            "OTEL_RESOURCE_ATTRIBUTES",
            "deployment.environment.name=test,service.namespace=cmmv%20tests".to_owned(),
        ),
        ("OTEL_BSP_SCHEDULE_DELAY", "50".to_owned()),
        // The collector's credential, as the CMMV_ twin (which wins over OTEL_..._HEADERS).
        (
            "CMMV_OTEL_HEADERS",
            "authorization=Bearer%20collector-token".to_owned(),
        ),
    ];
    if let Ok(redis) = std::env::var("CMMV_TEST_REDIS_URL") {
        pairs.push(("CMMV_REDIS_URL", redis));
    }
    pairs.extend(extra.iter().cloned());
    with_auth(Settings::from_pairs(pairs).expect("valid settings"))
}

/// The exporter `settings` configure and, for this thread, a subscriber exporting through it
/// and capturing JSON log lines at `info`.
fn exporting_and_logging(
    settings: &Settings,
) -> (Tracing, CapturedLogs, tracing::subscriber::DefaultGuard) {
    let tracing = Tracing::start(&settings.telemetry)
        .expect("the exporter starts")
        .expect("an endpoint is configured");
    let logs = CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::registry().with(tracing.layer()).with(
        tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_writer(move || writer.clone())
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO),
    );
    let guard = tracing::subscriber::set_default(subscriber);
    (tracing, logs, guard)
}

/// The example service with `settings`, exporting through `tracing`'s layer.
async fn serve_example(settings: Settings) -> Served {
    let service = todo::assemble(settings).await.expect("the example starts");
    Served::start(service.app).await
}

/// The problem a user's GET of a note that does not exist is answered with, the request
/// carrying `traceparent` when given.
async fn missing_note(
    client: &reqwest::Client,
    served: &Served,
    traceparent: Option<&str>,
) -> Value {
    let mut request = client
        .get(served.url("/v1/notes/00000000-0000-4000-8000-00000000dead"))
        .headers(bearer(&token(
            "00000000-0000-4000-8000-0000000000aa",
            &["user"],
        )));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    let response = request.send().await.expect("a response");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    response.json().await.expect("a problem")
}

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

/// A request carrying `traceparent` yields a server span continuing that trace with the
/// semantic conventions' attributes, and SQL and Redis spans under it; the trace id is in the
/// problem bodies; nothing of the query string or the body reaches a span.
#[tokio::test(flavor = "current_thread")]
async fn a_traced_request_continues_the_callers_trace() {
    let collector = Collector::start(Mode::Accept);
    let settings = exporting(&collector, &[]);
    assert_eq!(settings.telemetry.endpoint, Some(collector.endpoint()));
    let (tracing, logs, guard) = exporting_and_logging(&settings);
    let served = serve_example(settings).await;

    let traceparent = format!("00-{TRACE_ID}-{PARENT_SPAN}-01");
    let client = reqwest::Client::new();
    let secret_name = "Secret note title 7f3a";
    let created = client
        .post(served.url("/v1/notes?probe=query-secret-91"))
        .headers(bearer(&token(
            "00000000-0000-4000-8000-0000000000aa",
            &["user"],
        )))
        .header("traceparent", &traceparent)
        .header("tracestate", "vendor=opaque")
        .header("user-agent", "telemetry-test/1.0")
        .json(&json!({ "title": secret_name }))
        .send()
        .await
        .expect("a response");
    let status = created.status();
    let note: Value = created.json().await.expect("JSON");
    assert_eq!(status, StatusCode::CREATED, "{note}");
    let id = note["id"].as_str().expect("an id").to_owned();
    let fetched = client
        .get(served.url(&format!("/v1/notes/{id}")))
        .headers(bearer(&token(
            "00000000-0000-4000-8000-0000000000aa",
            &["user"],
        )))
        .header("traceparent", &traceparent)
        .send()
        .await
        .expect("a response");
    assert_eq!(fetched.status(), StatusCode::OK);
    // Credentials refused: the authentication span says why, with the log line as its event.
    let refused = client
        .get(served.url(&format!("/v1/notes/{id}")))
        .header("authorization", "Bearer not-a-token")
        .header("traceparent", &traceparent)
        .send()
        .await
        .expect("a response");
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    // A problem carries the trace id, with or without an exporter.
    let problem = missing_note(&client, &served, Some(&traceparent)).await;
    assert_eq!(problem["trace_id"], TRACE_ID, "{problem}");
    // An untraced request starts a trace of its own, named in its problem.
    let untraced = missing_note(&client, &served, None).await;
    let own_trace = untraced["trace_id"]
        .as_str()
        .expect("a trace id")
        .to_owned();
    assert_eq!(own_trace.len(), 32);
    assert_ne!(own_trace, TRACE_ID);

    // A caller that did not sample its trace: answered, its trace id in the problem, and no
    // span of it exported.
    const UNSAMPLED: &str = "0af7651916cd43dd8448eb211c80319c";
    let unsampled = missing_note(
        &client,
        &served,
        Some(&format!("00-{UNSAMPLED}-b7ad6b7169203331-00")),
    )
    .await;
    assert_eq!(unsampled["trace_id"], UNSAMPLED);
    // Client-chosen values are bounded: a long User-Agent is cut, a long tracestate dropped.
    const LONG_TRACE: &str = "1bf92f3577b34da6a3ce929d0e0e4736";
    let long_state = format!("vendor={}", "x".repeat(600));
    let long = client
        .get(served.url("/v1/labels"))
        .header("traceparent", format!("00-{LONG_TRACE}-{PARENT_SPAN}-01"))
        .header("tracestate", &long_state)
        .header("user-agent", "u".repeat(5000))
        .send()
        .await
        .expect("a response");
    assert_eq!(long.status(), StatusCode::OK);

    // Probes are answered and logged, not traced.
    let probe = client
        .get(served.url("/health/live"))
        .header("traceparent", &traceparent)
        .send()
        .await
        .expect("a response");
    assert_eq!(probe.status(), StatusCode::OK);

    let metrics_before = client
        .get(served.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    // The request's log line names its trace.
    let lines = logs.records();
    let answered: Vec<&Value> = lines
        .iter()
        .filter(|line| line["message"] == "request answered" && line["route"] == "/v1/notes")
        .collect();
    assert!(!answered.is_empty(), "{lines:?}");
    assert!(
        answered.iter().all(|line| line["trace_id"] == TRACE_ID),
        "{answered:?}"
    );
    let port = served.addr.port();
    served.shutdown().await;
    drop(guard);
    tokio::task::spawn_blocking(move || tracing.shutdown())
        .await
        .expect("the exporter shuts down");

    let spans = collector.spans();
    let (resource, _) = spans.first().expect("spans were exported");
    assert_eq!(
        attribute(resource, "service.name"),
        Some(json!("todo-under-test"))
    );
    assert_eq!(
        attribute(resource, "deployment.environment.name"),
        Some(json!("test"))
    );
    assert_eq!(
        attribute(resource, "service.namespace"),
        Some(json!("cmmv tests"))
    );
    let in_trace: Vec<&Span> = spans
        .iter()
        .map(|(_, span)| span)
        .filter(|span| hex(&span.trace_id) == TRACE_ID)
        .collect();
    let server = in_trace
        .iter()
        .find(|span| span.name == "POST /v1/notes")
        .unwrap_or_else(|| {
            panic!(
                "a server span named by route; got {:?}",
                in_trace.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(server.kind, SpanKind::Server as i32);
    assert_eq!(hex(&server.parent_span_id), PARENT_SPAN);
    assert_eq!(server.trace_state, "vendor=opaque");
    let attributes = &server.attributes;
    for (key, expected) in [
        ("http.request.method", json!("POST")),
        ("http.route", json!("/v1/notes")),
        ("http.response.status_code", json!(201)),
        ("url.scheme", json!("http")),
        ("server.address", json!("127.0.0.1")),
        ("server.port", json!(port)),
        ("client.address", json!("127.0.0.1")),
        ("user_agent.original", json!("telemetry-test/1.0")),
        ("network.protocol.version", json!("1.1")),
    ] {
        assert_eq!(attribute(attributes, key), Some(expected), "{key}");
    }
    let get = in_trace
        .iter()
        .find(|span| span.name == "GET /v1/notes/{id}")
        .expect("the read's server span");
    assert_eq!(
        attribute(&get.attributes, "http.route"),
        Some(json!("/v1/notes/{id}"))
    );
    // The read's statement, a child of its server span.
    let select = in_trace
        .iter()
        .find(|span| {
            span.parent_span_id == get.span_id
                && attribute(&span.attributes, "db.operation.name") == Some(json!("SELECT"))
        })
        .expect("a SELECT span under the read");
    assert_eq!(select.kind, SpanKind::Client as i32);
    assert_eq!(
        attribute(&select.attributes, "db.system.name"),
        Some(json!("sqlite"))
    );
    assert_eq!(
        attribute(&select.attributes, "db.collection.name"),
        Some(json!("notes"))
    );
    let text = attribute(&select.attributes, "db.query.text").expect("the statement");
    assert!(text.as_str().is_some_and(|t| t.contains('?')), "{text}");
    let outcomes: Vec<Value> = in_trace
        .iter()
        .filter(|span| span.name == "authenticate")
        .filter_map(|span| attribute(&span.attributes, "outcome"))
        .collect();
    assert!(outcomes.contains(&json!("authenticated")), "{outcomes:?}");
    let refusal = in_trace
        .iter()
        .find(|span| {
            span.name == "authenticate"
                && !matches!(
                    attribute(&span.attributes, "outcome"),
                    Some(Value::String(outcome)) if outcome == "authenticated" || outcome == "anonymous"
                )
        })
        .expect("the refused request's authentication span");
    let event = refusal
        .events
        .iter()
        .find(|event| event.name == "credentials refused")
        .expect("the refusal logged as the span's event");
    assert_eq!(
        attribute(&event.attributes, "reason"),
        attribute(&refusal.attributes, "outcome")
    );
    // Authentication and the rate limit, as children of the server span.
    for name in ["authenticate", "rate_limit"] {
        assert!(
            in_trace
                .iter()
                .any(|span| span.name == name && span.parent_span_id == server.span_id),
            "a {name} span under the server span"
        );
    }
    if std::env::var("CMMV_TEST_REDIS_URL").is_ok() {
        let redis = in_trace
            .iter()
            .find(|span| span.name == "EVALSHA")
            .expect("a Redis span when the limiter is Redis");
        assert_eq!(
            attribute(&redis.attributes, "db.system.name"),
            Some(json!("redis"))
        );
        assert_eq!(redis.kind, SpanKind::Client as i32);
        assert!(metrics_before.contains("cmmv_redis_command_duration_seconds_bucket"));
    }
    assert!(
        !spans
            .iter()
            .any(|(_, span)| span.name.contains("/health/") || span.name.contains("/metrics")),
        "probes and scrapes are not exported"
    );
    assert!(
        !spans
            .iter()
            .any(|(_, span)| hex(&span.trace_id) == UNSAMPLED),
        "an unsampled trace is not exported"
    );
    let bounded = spans
        .iter()
        .map(|(_, span)| span)
        .find(|span| hex(&span.trace_id) == LONG_TRACE && span.kind == SpanKind::Server as i32)
        .expect("the long request's server span");
    assert_eq!(
        bounded.trace_state, "",
        "a tracestate over 512 characters is dropped"
    );
    assert_eq!(
        attribute(&bounded.attributes, "user_agent.original"),
        Some(json!("u".repeat(256)))
    );
    // Every export carried the configured credential.
    let authorizations = collector.authorizations();
    assert!(!authorizations.is_empty());
    assert!(
        authorizations
            .iter()
            .all(|a| a.as_deref() == Some("Bearer collector-token")),
        "{authorizations:?}"
    );
    // The untraced request's own trace was exported under the id its problem gave.
    assert!(
        spans
            .iter()
            .any(|(_, span)| hex(&span.trace_id) == own_trace)
    );
    // Nothing of the query string or the body anywhere.
    let everything = format!("{spans:?}");
    assert!(!everything.contains("query-secret-91"));
    assert!(!everything.contains(secret_name));
    assert!(metrics_before.contains("cmmv_otel_spans_exported_total"));
    assert!(
        metrics_before
            .contains("cmmv_rate_limit_decisions_total{policy=\"standard\",outcome=\"allowed\"}")
            || metrics_before.contains("outcome=\"allowed\""),
        "{metrics_before}"
    );
}

/// Requests whose trace is dropped before they start — the caller's `traceparent` says "not
/// sampled" under the default parent-based sampler, or the sampler is `always_off` — export
/// nothing at all: not their server spans, nor their SQL and auth spans as traces of their own.
/// They keep their trace id in problems and log lines.
#[tokio::test(flavor = "current_thread")]
async fn unsampled_requests_export_no_span_of_any_trace() {
    for sampler in ["parentbased_always_on", "always_off"] {
        let collector = Collector::start(Mode::Accept);
        let settings = exporting(&collector, &[("OTEL_TRACES_SAMPLER", sampler.to_owned())]);
        let (tracing, logs, guard) = exporting_and_logging(&settings);
        let served = serve_example(settings).await;
        let client = reqwest::Client::new();
        let user = bearer(&token("00000000-0000-4000-8000-0000000000aa", &["user"]));

        // A write and a read, each opening SQL and auth spans, not sampled by the caller.
        const UNSAMPLED: &str = "5af7651916cd43dd8448eb211c80319d";
        let unsampled = format!("00-{UNSAMPLED}-b7ad6b7169203331-00");
        let created = client
            .post(served.url("/v1/notes"))
            .headers(user.clone())
            .header("traceparent", &unsampled)
            .json(&json!({ "title": "unsampled" }))
            .send()
            .await
            .expect("a response");
        assert_eq!(created.status(), StatusCode::CREATED);
        let missing = missing_note(&client, &served, Some(&unsampled)).await;
        assert_eq!(missing["trace_id"], UNSAMPLED, "{missing}");
        // A request with no caller's trace: sampled by the parent-based default, dropped by
        // always_off, a trace id either way.
        let own = missing_note(&client, &served, None).await;
        let own_trace = own["trace_id"].as_str().expect("a trace id").to_owned();
        assert_eq!(own_trace.len(), 32, "{own}");
        assert!(own_trace.bytes().all(|b| b.is_ascii_hexdigit()), "{own}");

        let lines = logs.records();
        let answered: Vec<&Value> = lines
            .iter()
            .filter(|line| line["message"] == "request answered")
            .collect();
        assert!(
            answered.iter().any(|line| line["trace_id"] == UNSAMPLED),
            "{answered:?}"
        );
        assert!(
            answered
                .iter()
                .any(|line| line["trace_id"] == own_trace.as_str()),
            "{answered:?}"
        );

        served.shutdown().await;
        drop(guard);
        tokio::task::spawn_blocking(move || tracing.shutdown())
            .await
            .expect("the exporter shuts down");
        let traces: std::collections::BTreeSet<String> = collector
            .spans()
            .iter()
            .map(|(_, span)| hex(&span.trace_id))
            .collect();
        let expected: std::collections::BTreeSet<String> = if sampler == "always_off" {
            std::collections::BTreeSet::new()
        } else {
            [own_trace].into()
        };
        assert_eq!(
            traces, expected,
            "{sampler}: only sampled traces are exported"
        );
    }
}

/// Under a ratio sampler, a request's trace is kept or dropped by its id before any span of it
/// is built: exactly the traces the SDK's sampler keeps reach the collector, each with its
/// server span, and a dropped request's SQL and auth spans are not exported as traces of their
/// own. Every request keeps its trace id in its problem.
#[tokio::test(flavor = "current_thread")]
async fn a_ratio_sampler_keeps_the_traces_its_ids_choose_and_nothing_of_the_others() {
    use opentelemetry_sdk::trace::ShouldSample as _;
    let collector = Collector::start(Mode::Accept);
    let mut settings = exporting(
        &collector,
        &[
            ("OTEL_TRACES_SAMPLER", "traceidratio".to_owned()),
            ("OTEL_TRACES_SAMPLER_ARG", "0.5".to_owned()),
        ],
    );
    // Two dozen requests from one address: more than the example's limits let through, and a
    // shared (Redis) limiter would hold them against the other tests too.
    settings.rate_limit.enabled = false;
    let tracing = Tracing::start(&settings.telemetry)
        .expect("the exporter starts")
        .expect("an endpoint is configured");
    let guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(tracing.layer()));
    let served = serve_example(settings).await;
    let client = reqwest::Client::new();
    let mut requested = std::collections::BTreeSet::new();
    // 24 requests: the chance that a ratio of one half keeps all or none is 2^-23.
    for _ in 0..24 {
        let problem = missing_note(&client, &served, None).await;
        let trace = problem["trace_id"].as_str().expect("a trace id").to_owned();
        assert_eq!(trace.len(), 32, "{problem}");
        requested.insert(trace);
    }
    assert_eq!(requested.len(), 24, "a trace id per request");
    served.shutdown().await;
    drop(guard);
    tokio::task::spawn_blocking(move || tracing.shutdown())
        .await
        .expect("the exporter shuts down");

    let sdk = opentelemetry_sdk::trace::Sampler::TraceIdRatioBased(0.5);
    let kept: std::collections::BTreeSet<String> = requested
        .iter()
        .filter(|trace| {
            let id = opentelemetry::trace::TraceId::from_hex(trace).expect("hex");
            let result = sdk.should_sample(
                None,
                id,
                "GET",
                &opentelemetry::trace::SpanKind::Server,
                &[],
                &[],
            );
            result.decision == opentelemetry_sdk::trace::SamplingDecision::RecordAndSample
        })
        .cloned()
        .collect();
    assert!(!kept.is_empty() && kept.len() < requested.len(), "{kept:?}");
    let spans = collector.spans();
    let exported: std::collections::BTreeSet<String> =
        spans.iter().map(|(_, span)| hex(&span.trace_id)).collect();
    assert_eq!(exported, kept, "exactly the traces the sampler keeps");
    let servers: std::collections::BTreeSet<String> = spans
        .iter()
        .filter(|(_, span)| span.kind == SpanKind::Server as i32)
        .map(|(_, span)| hex(&span.trace_id))
        .collect();
    assert_eq!(servers, kept, "each kept trace has its server span");
}

/// A collector that holds every export changes no answer: the requests are served while the
/// spans wait in the bounded queue, and those that do not fit are dropped and counted.
#[tokio::test(flavor = "current_thread")]
async fn a_slow_collector_changes_no_answer_and_drops_are_counted() {
    let collector = Collector::start(Mode::Slow(Duration::from_secs(3)));
    let settings = exporting(
        &collector,
        &[
            ("OTEL_BSP_MAX_QUEUE_SIZE", "4".to_owned()),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "2".to_owned()),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "500".to_owned()),
        ],
    );
    let tracing = Tracing::start(&settings.telemetry)
        .expect("the exporter starts")
        .expect("an endpoint is configured");
    let subscriber = tracing_subscriber::registry().with(tracing.layer());
    let guard = tracing::subscriber::set_default(subscriber);
    let served = serve_example(settings).await;
    let client = reqwest::Client::new();
    for _ in 0..40 {
        let answer = client
            .get(served.url("/v1/labels"))
            .send()
            .await
            .expect("an answer");
        assert_eq!(answer.status(), StatusCode::OK);
    }
    let metrics = client
        .get(served.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    let dropped: u64 = metrics
        .lines()
        .filter(|line| line.starts_with("cmmv_otel_spans_dropped_total{"))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(dropped > 0, "{metrics}");
    served.shutdown().await;
    drop(guard);
    tokio::task::spawn_blocking(move || tracing.shutdown())
        .await
        .expect("the exporter shuts down");
}
