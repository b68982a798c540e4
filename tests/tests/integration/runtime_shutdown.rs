//! Graceful shutdown over real HTTP: readiness off first, in-flight requests drained, new
//! connections refused once the delay is over, and the outcome reporting a missed deadline.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::routing::get;
use cmmv::{App, Settings, ShutdownOutcome};
use tokio::sync::Notify;

use crate::runtime_support::{Served, client, get as http_get, json, settings};

/// An app whose `/slow` route takes `duration` and tells `started` when it begins.
fn slow_app(settings: Settings, duration: Duration, started: Arc<Notify>) -> App {
    let slow = get(move || {
        let started = started.clone();
        async move {
            started.notify_one();
            tokio::time::sleep(duration).await;
            "done"
        }
    });
    App::builder(settings)
        .routes(Router::new().route("/slow", slow))
        .build()
        .expect("valid settings")
}

#[tokio::test]
async fn in_flight_requests_drain_while_new_connections_are_refused() {
    let delay = Duration::from_millis(400);
    let started = Arc::new(Notify::new());
    let app = slow_app(
        Settings {
            shutdown_delay: delay,
            shutdown_deadline: Duration::from_secs(10),
            ..settings()
        },
        Duration::from_millis(1500),
        started.clone(),
    );
    let mut served = Served::start(app).await;
    let slow_url = served.url("/slow");
    let in_flight = tokio::spawn(async move { client().get(slow_url).send().await });
    started.notified().await;

    served.signal_shutdown();
    // During the delay the server still answers, and readiness says it is leaving.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let ready = http_get(&served, "/health/ready").await;
    assert_eq!(ready.status().as_u16(), 503);
    assert_eq!(
        json(ready).await,
        serde_json::json!({"status": "shutting_down"})
    );

    // After the delay the listener is closed.
    tokio::time::sleep(delay + Duration::from_millis(300)).await;
    let refused = tokio::net::TcpStream::connect(served.addr).await;
    assert!(
        refused.is_err(),
        "a new connection was accepted after the delay"
    );

    let response = in_flight
        .await
        .expect("the request task does not panic")
        .expect("the in-flight request completes");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("a body"), "done");
    assert_eq!(served.shutdown().await, ShutdownOutcome::Drained);
}

#[tokio::test]
async fn a_missed_deadline_is_reported() {
    let started = Arc::new(Notify::new());
    let app = slow_app(
        Settings {
            shutdown_deadline: Duration::from_millis(200),
            ..settings()
        },
        Duration::from_secs(30),
        started.clone(),
    );
    let served = Served::start(app).await;
    let slow_url = served.url("/slow");
    let in_flight = tokio::spawn(async move { client().get(slow_url).send().await });
    started.notified().await;
    let begun = std::time::Instant::now();
    assert_eq!(served.shutdown().await, ShutdownOutcome::DeadlineExceeded);
    assert!(begun.elapsed() < Duration::from_secs(5));
    in_flight.abort();
}

#[tokio::test]
async fn an_idle_server_drains_at_once() {
    let app = App::builder(settings()).build().expect("valid settings");
    let served = Served::start(app).await;
    assert_eq!(
        http_get(&served, "/health/live").await.status().as_u16(),
        200
    );
    assert_eq!(served.shutdown().await, ShutdownOutcome::Drained);
}
