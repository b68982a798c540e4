//! Liveness and readiness over real HTTP.

use std::time::Duration;

use cmmv::{App, Settings};

use crate::runtime_support::{Served, get, json, settings};

#[tokio::test]
async fn liveness_is_ok_whatever_the_dependencies() {
    let app = App::builder(settings())
        .readiness_check("storage", || async { Err("down".into()) })
        .build()
        .expect("valid settings");
    let served = Served::start(app).await;
    let response = get(&served, "/health/live").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(json(response).await, serde_json::json!({"status": "ok"}));
}

#[tokio::test]
async fn readiness_is_ok_when_every_check_passes() {
    let app = App::builder(settings())
        .readiness_check("storage", || async { Ok(()) })
        .readiness_check("redis", || async { Ok(()) })
        .build()
        .expect("valid settings");
    let served = Served::start(app).await;
    let response = get(&served, "/health/ready").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        json(response).await,
        serde_json::json!({
            "status": "ok",
            "checks": {"redis": {"status": "ok"}, "storage": {"status": "ok"}}
        })
    );
}

#[tokio::test]
async fn readiness_is_503_naming_the_failing_check() {
    let app = App::builder(settings())
        .readiness_check("storage", || async { Ok(()) })
        .readiness_check("redis", || async { Err("connection refused".into()) })
        .build()
        .expect("valid settings");
    let served = Served::start(app).await;
    let response = get(&served, "/health/ready").await;
    assert_eq!(response.status().as_u16(), 503);
    let body = json(response).await;
    assert_eq!(body["status"], "unavailable");
    assert_eq!(body["checks"]["storage"]["status"], "ok");
    assert_eq!(body["checks"]["redis"]["status"], "error");
    assert_eq!(body["checks"]["redis"]["error"], "connection refused");
}

#[tokio::test]
async fn a_slow_check_times_out_without_holding_the_probe() {
    let app = App::builder(Settings {
        readiness_timeout: Duration::from_millis(100),
        ..settings()
    })
    .readiness_check("slow", || async {
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok(())
    })
    .build()
    .expect("valid settings");
    let served = Served::start(app).await;
    let started = std::time::Instant::now();
    let response = get(&served, "/health/ready").await;
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(response.status().as_u16(), 503);
    let body = json(response).await;
    assert_eq!(body["checks"]["slow"]["status"], "error");
    assert!(
        body["checks"]["slow"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("timed out")),
        "{body}"
    );
}

#[tokio::test]
async fn readiness_without_checks_is_ok() {
    let app = App::builder(settings()).build().expect("valid settings");
    let served = Served::start(app).await;
    let response = get(&served, "/health/ready").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        json(response).await,
        serde_json::json!({"status": "ok", "checks": {}})
    );
}
