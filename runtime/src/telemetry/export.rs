//! The span processor between ended spans and the OTLP exporter: a bounded queue and a thread.
//!
//! The SDK's own batch processor has the same shape but keeps the count of what it drops to
//! itself (it logs it once, at shutdown). Operators need that count while the service runs, to
//! see a collector falling behind, so the runtime keeps its own queue and counts every span
//! it loses, on the queue or in a failed export.
//!
//! The exporter runs on a thread of its own with a blocking HTTP client: an export that hangs
//! until its timeout occupies that thread, never a request's task or a runtime worker. Ending
//! a span takes a short lock and a push; the thread is woken only when a batch is full (or a
//! flush or shutdown asks), not per span: at tens of thousands of spans a second, a wake-up per
//! span cost a context switch each on a two-core machine.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, sync_channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use opentelemetry::Context;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::error::{OTelSdkError, OTelSdkResult};
use opentelemetry_sdk::trace::{Span, SpanData, SpanExporter, SpanProcessor};

use super::{TelemetryError, TelemetrySettings};

/// Counts of this process's exports, for `/metrics`: process-wide, as the exporter is.
static STARTED: AtomicBool = AtomicBool::new(false);
static EXPORTED: AtomicU64 = AtomicU64::new(0);
static DROPPED_QUEUE_FULL: AtomicU64 = AtomicU64::new(0);
static DROPPED_EXPORT_FAILED: AtomicU64 = AtomicU64::new(0);

/// Appends the exporter's counters in the Prometheus text format, once an exporter has started.
pub(crate) fn render_metrics(out: &mut String) {
    if !STARTED.load(Ordering::Relaxed) {
        return;
    }
    let exported = EXPORTED.load(Ordering::Relaxed);
    let queue_full = DROPPED_QUEUE_FULL.load(Ordering::Relaxed);
    let failed = DROPPED_EXPORT_FAILED.load(Ordering::Relaxed);
    let _ = write!(
        out,
        "# HELP cmmv_otel_spans_exported_total Spans the collector accepted.\n\
         # TYPE cmmv_otel_spans_exported_total counter\n\
         cmmv_otel_spans_exported_total {exported}\n\
         # HELP cmmv_otel_spans_dropped_total Spans ended but never delivered: the export queue was full, or the export failed.\n\
         # TYPE cmmv_otel_spans_dropped_total counter\n\
         cmmv_otel_spans_dropped_total{{reason=\"queue_full\"}} {queue_full}\n\
         cmmv_otel_spans_dropped_total{{reason=\"export_failed\"}} {failed}\n"
    );
}

/// The exporter's HTTP client: a blocking reqwest client (on the export thread, never on a
/// runtime worker) that sets the configured headers on every export last. The OTLP crate also
/// reads `OTEL_EXPORTER_OTLP_HEADERS` from the process environment and adds those after the
/// ones it is given; set here, a `CMMV_OTEL_HEADERS` credential wins, as its twin should,
/// rather than a platform's token being sent to another collector.
#[derive(Debug)]
struct Configured {
    client: reqwest::blocking::Client,
    headers: http::HeaderMap,
}

impl Configured {
    fn client(
        timeout: Duration,
        headers: &HashMap<String, String>,
    ) -> Result<Self, TelemetryError> {
        let mut map = http::HeaderMap::new();
        for (name, value) in headers {
            let name = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| TelemetryError(format!("invalid OTLP header name {name:?}")))?;
            // The value is a credential: never quoted.
            let value = http::HeaderValue::from_str(value)
                .map_err(|_| TelemetryError(format!("invalid value of OTLP header {name}")))?;
            map.insert(name, value);
        }
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| TelemetryError(e.to_string()))?;
        Ok(Self {
            client,
            headers: map,
        })
    }
}

#[async_trait::async_trait]
impl opentelemetry_http::HttpClient for Configured {
    async fn send_bytes(
        &self,
        mut request: http::Request<bytes::Bytes>,
    ) -> Result<http::Response<bytes::Bytes>, opentelemetry_http::HttpError> {
        for (name, value) in &self.headers {
            request.headers_mut().insert(name.clone(), value.clone());
        }
        self.client.send_bytes(request).await
    }
}

/// What the request path and the export thread share.
#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    /// Signalled when a batch is full, a flush is asked for, or shutdown begins.
    wake: Condvar,
}

#[derive(Default)]
struct State {
    spans: Vec<SpanData>,
    /// The provider's resource (`service.name`...), for the exporter, once it is known.
    resource: Option<opentelemetry_sdk::Resource>,
    /// Flushes waiting for the next export to finish.
    flushes: Vec<SyncSender<()>>,
    stopping: bool,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State")
            .field("spans", &self.spans.len())
            .field("stopping", &self.stopping)
            .finish_non_exhaustive()
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held left at worst a span half-queued: export goes on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The processor: ended spans into the buffer, without ever waiting for the exporter.
#[derive(Debug)]
pub(super) struct Bounded {
    shared: Arc<Shared>,
    /// Spans the buffer holds at most.
    capacity: usize,
    batch: usize,
    /// Closed by the thread when it has stopped.
    finished: Mutex<Option<Receiver<()>>>,
    /// How long flush and shutdown wait for the thread: two exports' time limit, and a margin.
    patience: Duration,
}

impl Bounded {
    /// Builds the OTLP exporter on the export thread (its blocking HTTP client must not be made
    /// or dropped on an async runtime's thread) and starts draining the buffer.
    pub(super) fn start(
        endpoint: &str,
        settings: &TelemetrySettings,
    ) -> Result<Self, TelemetryError> {
        let headers: HashMap<String, String> = settings
            .headers
            .iter()
            .map(|(name, value)| (name.clone(), value.expose().to_owned()))
            .collect();
        let shared = Arc::new(Shared::default());
        let batch = settings.batch.max(1);
        let drain = Drain {
            shared: shared.clone(),
            endpoint: endpoint.to_owned(),
            batch,
            delay: settings.delay,
            timeout: settings.timeout,
        };
        let endpoint = endpoint.to_owned();
        let timeout = settings.timeout;
        let (built, outcome) = sync_channel(1);
        let (done, finished) = sync_channel::<()>(0);
        std::thread::Builder::new()
            .name("cmmv-otlp-export".to_owned())
            .spawn(move || {
                let redacted = endpoint.clone();
                let exporter = Configured::client(timeout, &headers)
                    .map_err(|error| error.to_string())
                    .and_then(|client| {
                        opentelemetry_otlp::SpanExporter::builder()
                            .with_http()
                            .with_protocol(Protocol::HttpBinary)
                            .with_endpoint(endpoint)
                            .with_timeout(timeout)
                            .with_http_client(client)
                            .build()
                            .map_err(|error| error.to_string())
                    })
                    // The exporter's errors quote the endpoint, credentials and all.
                    .map_err(|error| crate::settings::redact_url_secrets(&redacted, &error));
                match exporter {
                    Ok(mut exporter) => {
                        let _ = built.send(Ok(()));
                        drain.run(&mut exporter);
                        let _ = exporter.shutdown();
                    }
                    Err(error) => {
                        let _ = built.send(Err(error));
                    }
                }
                drop(done);
            })
            .map_err(|e| TelemetryError(e.to_string()))?;
        outcome
            .recv()
            .map_err(|_| TelemetryError("the export thread stopped".to_owned()))?
            .map_err(TelemetryError)?;
        STARTED.store(true, Ordering::Relaxed);
        Ok(Self {
            shared,
            capacity: settings.queue.max(1),
            batch,
            finished: Mutex::new(Some(finished)),
            patience: 2 * timeout + Duration::from_secs(1),
        })
    }
}

impl SpanProcessor for Bounded {
    fn on_start(&self, _span: &mut Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        let mut state = self.shared.lock();
        if state.stopping || state.spans.len() >= self.capacity {
            drop(state);
            DROPPED_QUEUE_FULL.fetch_add(1, Ordering::Relaxed);
            return;
        }
        state.spans.push(span);
        let full = state.spans.len() == self.batch;
        drop(state);
        if full {
            self.shared.wake.notify_one();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        let (done, acknowledged) = sync_channel(1);
        self.shared.lock().flushes.push(done);
        self.shared.wake.notify_one();
        acknowledged
            .recv_timeout(self.patience)
            .map_err(|_| OTelSdkError::Timeout(self.patience))
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.shared.lock().resource = Some(resource.clone());
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        // Taken once: the SDK may call this again when the provider drops.
        let Some(finished) = self
            .finished
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
        else {
            return Ok(());
        };
        self.shared.lock().stopping = true;
        self.shared.wake.notify_one();
        match finished.recv_timeout(self.patience) {
            Err(RecvTimeoutError::Timeout) => Err(OTelSdkError::Timeout(self.patience)),
            // The thread dropped its end: it has stopped.
            Ok(()) | Err(RecvTimeoutError::Disconnected) => Ok(()),
        }
    }
}

/// The export thread: batches of at most `batch` spans, what is buffered at least every `delay`.
struct Drain {
    shared: Arc<Shared>,
    /// For messages: an HTTP client's error may quote it, credentials and all.
    endpoint: String,
    batch: usize,
    delay: Duration,
    timeout: Duration,
}

impl Drain {
    fn run(&self, exporter: &mut opentelemetry_otlp::SpanExporter) {
        loop {
            let due = Instant::now() + self.delay;
            // The buffer the request path pushes into next, allocated here, outside the lock:
            // one that grew from nothing would move every span it holds at each doubling,
            // under the lock, on a request's thread.
            let fresh = Vec::with_capacity(self.batch);
            let (spans, flushes, resource, stopping) = {
                let mut state = self.shared.lock();
                loop {
                    let now = Instant::now();
                    if state.spans.len() >= self.batch
                        || !state.flushes.is_empty()
                        || state.stopping
                        || now >= due
                    {
                        break;
                    }
                    state = self
                        .shared
                        .wake
                        .wait_timeout(state, due - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                (
                    std::mem::replace(&mut state.spans, fresh),
                    std::mem::take(&mut state.flushes),
                    state.resource.take(),
                    state.stopping,
                )
            };
            if let Some(resource) = resource {
                exporter.set_resource(&resource);
            }
            // Stopping, what is buffered goes out for one export's time at most, and the rest
            // is counted as dropped: a collector that is down cannot hold the process up.
            let deadline = stopping.then(|| Instant::now() + self.timeout);
            self.export(exporter, spans, deadline);
            for done in flushes {
                let _ = done.send(());
            }
            if stopping {
                return;
            }
        }
    }

    /// Exports `spans` in batches; after `deadline`, what is left is dropped and counted.
    fn export(
        &self,
        exporter: &opentelemetry_otlp::SpanExporter,
        mut spans: Vec<SpanData>,
        deadline: Option<Instant>,
    ) {
        while !spans.is_empty() {
            if deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                DROPPED_EXPORT_FAILED.fetch_add(spans.len() as u64, Ordering::Relaxed);
                return;
            }
            // A batch off the end: what stays is not moved.
            let batch = spans.split_off(spans.len().saturating_sub(self.batch));
            let count = batch.len() as u64;
            match futures_executor::block_on(exporter.export(batch)) {
                Ok(()) => {
                    EXPORTED.fetch_add(count, Ordering::Relaxed);
                }
                Err(error) => {
                    DROPPED_EXPORT_FAILED.fetch_add(count, Ordering::Relaxed);
                    let error =
                        crate::settings::redact_url_secrets(&self.endpoint, &error.to_string());
                    warn_export_failed(&error);
                }
            }
        }
    }
}

/// Logs a failed export at most once a minute: a collector that is down fails every batch. The
/// export thread is in no span, so the line adds nothing to the buffer it could not drain.
fn warn_export_failed(error: &str) {
    static LAST: Mutex<Option<Instant>> = Mutex::new(None);
    let mut last = LAST.lock().unwrap_or_else(PoisonError::into_inner);
    if last.is_none_or(|at| at.elapsed() >= Duration::from_secs(60)) {
        *last = Some(Instant::now());
        tracing::warn!(
            error,
            "spans could not be exported; they are counted in cmmv_otel_spans_dropped_total"
        );
    }
}
