//! Helpers of the runtime tests: serving an app on a free port and talking to it over HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use cmmv::{App, Settings, ShutdownOutcome};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Settings for tests: an ephemeral port and no shutdown delay.
pub(crate) fn settings() -> Settings {
    Settings {
        addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        shutdown_delay: Duration::ZERO,
        ..Settings::default()
    }
}

/// An app serving on 127.0.0.1 until [`Served::shutdown`] or the end of the test.
pub(crate) struct Served {
    pub(crate) addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<ShutdownOutcome>>,
}

impl Served {
    pub(crate) async fn start(app: App) -> Self {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind an ephemeral port");
        let addr = listener.local_addr().expect("local address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.serve_with_shutdown(listener, async move {
            let _ = stopped.await;
        }));
        Self {
            addr,
            stop: Some(stop),
            task,
        }
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends the shutdown signal.
    pub(crate) fn signal_shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Signals shutdown and waits for the server to finish.
    pub(crate) async fn shutdown(mut self) -> ShutdownOutcome {
        self.signal_shutdown();
        self.task
            .await
            .expect("the server task does not panic")
            .expect("the server does not fail")
    }
}

/// A client without connection reuse, so that every request opens its own connection.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("a client")
}

pub(crate) async fn get(served: &Served, path: &str) -> reqwest::Response {
    client()
        .get(served.url(path))
        .send()
        .await
        .expect("a response")
}

/// POSTs `body` as JSON to `path`.
pub(crate) async fn post(
    served: &Served,
    path: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    client()
        .post(served.url(path))
        .json(body)
        .send()
        .await
        .expect("a response")
}

pub(crate) async fn json(response: reqwest::Response) -> serde_json::Value {
    response.json().await.expect("a JSON body")
}

pub(crate) fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Asserts that `response` is a problem of `status` whose `request_id` is the response's
/// `x-request-id` and whose `instance` is `path`; returns the body.
pub(crate) async fn problem(
    response: reqwest::Response,
    status: u16,
    path: &str,
) -> serde_json::Value {
    assert_eq!(response.status().as_u16(), status);
    assert_eq!(
        header(&response, "content-type"),
        Some("application/problem+json")
    );
    let request_id = header(&response, "x-request-id")
        .expect("every response carries x-request-id")
        .to_owned();
    let body = json(response).await;
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["type"], "about:blank", "{body}");
    assert!(body["title"].is_string(), "{body}");
    assert_eq!(body["request_id"], request_id.as_str(), "{body}");
    assert_eq!(body["instance"], path, "{body}");
    body
}

/// The log lines a subscriber writes (`.with_writer(move || logs.clone())`), kept for the test
/// to read.
#[derive(Clone, Default)]
pub(crate) struct CapturedLogs(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for CapturedLogs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("poisoned"))?
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl CapturedLogs {
    /// Everything written so far.
    pub(crate) fn text(&self) -> String {
        let bytes = self.0.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    /// The lines that are JSON objects (a JSON subscriber's records).
    pub(crate) fn records(&self) -> Vec<serde_json::Value> {
        self.text()
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect()
    }
}
