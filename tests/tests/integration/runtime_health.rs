//! Liveness, readiness, startup and the process metrics over real HTTP, with real dependencies
//! going away: a `redis-server` child process killed mid-test, PostgreSQL cut off behind a TCP
//! proxy (when `CMMV_TEST_DATABASE_URL` is set).

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cmmv::health::{CheckFailure, CheckFuture, DatabaseIndicator, Details, HealthIndicator};
use cmmv::{App, Settings};
use serde_json::{Value, json};

use crate::runtime_support::{Served, get, json, settings};

/// `body` with every check's `latency_ms` taken out, after checking it is a number of
/// milliseconds.
fn without_latency(mut body: Value) -> Value {
    if let Some(checks) = body["checks"].as_object_mut() {
        for (name, check) in checks.iter_mut() {
            let latency = check
                .as_object_mut()
                .and_then(|c| c.remove("latency_ms"))
                .and_then(|l| l.as_f64());
            assert!(
                latency.is_some_and(|l| l >= 0.0),
                "{name} has no latency: {check}"
            );
        }
    }
    body
}

#[tokio::test]
async fn liveness_is_ok_whatever_the_dependencies() {
    let app = App::builder(settings())
        .readiness_check("storage", || async { Err("down".into()) })
        .build()
        .expect("valid settings");
    let served = Served::start(app).await;
    let response = get(&served, "/health/live").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(json(response).await, json!({"status": "ok"}));
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
        without_latency(json(response).await),
        json!({
            "status": "ok",
            "checks": {
                "redis": {"status": "ok", "critical": true},
                "storage": {"status": "ok", "critical": true}
            }
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
    assert_eq!(json(response).await, json!({"status": "ok", "checks": {}}));
    // Nothing critical to wait for: started from the first probe.
    let response = get(&served, "/health/started").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(json(response).await, json!({"status": "started"}));
}

/// An indicator that passes while its switch is on, with details and an error of its own.
struct Switch {
    name: &'static str,
    critical: bool,
    on: Arc<AtomicBool>,
}

impl Switch {
    fn new(name: &'static str, critical: bool, on: bool) -> (Self, Arc<AtomicBool>) {
        let switch = Arc::new(AtomicBool::new(on));
        let indicator = Switch {
            name,
            critical,
            on: Arc::clone(&switch),
        };
        (indicator, switch)
    }
}

impl HealthIndicator for Switch {
    fn name(&self) -> &str {
        self.name
    }

    fn critical(&self) -> bool {
        self.critical
    }

    fn check(&self) -> CheckFuture<'_> {
        Box::pin(async move {
            let mut details = Details::new();
            details.insert("on".to_owned(), self.on.load(Ordering::SeqCst).into());
            if self.on.load(Ordering::SeqCst) {
                Ok(details)
            } else {
                Err(CheckFailure::new("switched off")
                    .with_details(details)
                    .with_source(std::io::Error::other("secret driver text"))
                    .into())
            }
        })
    }
}

#[tokio::test]
async fn a_failing_non_critical_indicator_degrades_without_503() {
    let (optional, _) = Switch::new("optional", false, false);
    let app = App::builder(settings())
        .readiness_check("storage", || async { Ok(()) })
        .health_indicator(optional)
        .build()
        .expect("valid settings");
    let served = Served::start(app).await;
    let response = get(&served, "/health/ready").await;
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.expect("a body");
    assert!(!text.contains("secret driver text"), "{text}");
    let body: Value = serde_json::from_str(&text).expect("JSON");
    assert_eq!(
        without_latency(body),
        json!({
            "status": "degraded",
            "checks": {
                "optional": {
                    "status": "error",
                    "critical": false,
                    "error": "switched off",
                    "details": {"on": false}
                },
                "storage": {"status": "ok", "critical": true}
            }
        })
    );
}

#[tokio::test]
async fn started_turns_200_once_a_slow_dependency_first_passes_and_stays() {
    let (warming, warm) = Switch::new("warming", true, false);
    let (optional, _) = Switch::new("optional", false, false);
    let app = App::builder(settings())
        .health_indicator(warming)
        .health_indicator(Arc::new(optional) as Arc<dyn HealthIndicator>)
        .build()
        .expect("valid settings");
    let served = Served::start(app).await;

    let response = get(&served, "/health/started").await;
    assert_eq!(response.status().as_u16(), 503);
    // Only what startup waits for is run and listed: the non-critical one does not hold it.
    assert_eq!(
        without_latency(json(response).await),
        json!({
            "status": "starting",
            "checks": {
                "warming": {
                    "status": "error",
                    "critical": true,
                    "error": "switched off",
                    "details": {"on": false}
                }
            }
        })
    );
    assert_eq!(get(&served, "/health/ready").await.status().as_u16(), 503);
    // Liveness does not wait for anything.
    assert_eq!(get(&served, "/health/live").await.status().as_u16(), 200);

    warm.store(true, Ordering::SeqCst);
    let response = get(&served, "/health/started").await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(json(response).await, json!({"status": "started"}));

    // Started is for good: a later failure is readiness's business.
    warm.store(false, Ordering::SeqCst);
    assert_eq!(get(&served, "/health/ready").await.status().as_u16(), 503);
    let response = get(&served, "/health/started").await;
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn a_readiness_probe_that_passes_also_counts_for_startup() {
    let (warming, warm) = Switch::new("warming", true, false);
    let app = App::builder(settings())
        .health_indicator(warming)
        .build()
        .expect("valid settings");
    let served = Served::start(app).await;
    assert_eq!(get(&served, "/health/started").await.status().as_u16(), 503);
    warm.store(true, Ordering::SeqCst);
    assert_eq!(get(&served, "/health/ready").await.status().as_u16(), 200);
    warm.store(false, Ordering::SeqCst);
    // It passed once, through readiness: startup is over though it fails now.
    assert_eq!(get(&served, "/health/started").await.status().as_u16(), 200);
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn metrics_include_the_process_metrics() {
    let app = App::builder(settings()).build().expect("valid settings");
    let served = Served::start(app).await;
    let response = get(&served, "/metrics").await;
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.expect("a body");
    let value = |name: &str| -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    for (name, kind) in [
        ("process_cpu_seconds_total", "counter"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_start_time_seconds", "gauge"),
        ("process_threads", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name}: {text}"
        );
        assert!(text.contains(&format!("# HELP {name} ")), "{name}: {text}");
    }
    assert!(value("process_resident_memory_bytes") > 0.0);
    assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
    // The test runtime, the server's and the client's: more than one thread, some sockets.
    assert!(value("process_threads") >= 1.0);
    assert!(value("process_open_fds") >= 1.0);
    assert!(value("process_max_fds") >= value("process_open_fds"));
    assert!(value("process_cpu_seconds_total") >= 0.0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let start = value("process_start_time_seconds");
    // Started before now, and within the last day (a test binary does not run for longer).
    assert!(
        start <= now + 1.0 && start > now - 86_400.0,
        "{start} vs {now}"
    );
}

/// The example service on a SQLite file: the indicators `Service` registers and the example's
/// own are all listed, with their details.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_lists_its_built_in_indicators() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let mut settings = crate::auth_support::with_auth(settings());
    settings.database_url = format!("sqlite://{}", dir.path().join("todo.db").display());
    let service = todo::assemble(settings)
        .await
        .expect("the example assembles");
    let database = service.database.clone();
    let served = Served::start(service.app).await;

    let response = get(&served, "/health/ready").await;
    let status = response.status().as_u16();
    let body = json(response).await;
    assert_eq!(status, 200, "{body}");
    let checks = &body["checks"];
    for (name, critical) in [
        ("database", true),
        ("disk_space", false),
        ("memory", false),
        ("write_queue", false),
        ("store", true),
        ("auth_store", true),
    ] {
        assert_eq!(checks[name]["critical"], critical, "{name}: {body}");
        assert!(checks[name]["latency_ms"].is_number(), "{name}: {body}");
    }
    assert_eq!(checks["database"]["status"], "ok", "{body}");
    let connections = &checks["database"]["details"]["connections"];
    assert!(
        connections["max"].as_u64().is_some_and(|m| m >= 1),
        "{body}"
    );
    for key in ["open", "idle", "in_use"] {
        assert!(connections[key].is_u64(), "{key}: {body}");
    }
    assert_eq!(checks["database"]["details"]["write_queue"], 0, "{body}");
    let disk = &checks["disk_space"]["details"];
    assert!(
        disk["total_bytes"].as_u64().is_some_and(|t| t > 0),
        "{body}"
    );
    assert!(
        disk["free_bytes"].as_u64() <= disk["total_bytes"].as_u64(),
        "{body}"
    );
    assert_eq!(
        disk["min_free_bytes"],
        cmmv::health::HealthSettings::DEFAULT_DISK_MIN_FREE,
        "{body}"
    );
    if cfg!(target_os = "linux") {
        let memory = &checks["memory"]["details"];
        assert!(
            memory["rss_bytes"].as_u64().is_some_and(|r| r > 0),
            "{body}"
        );
    }
    assert_eq!(checks["write_queue"]["status"], "ok", "{body}");
    assert_eq!(checks["write_queue"]["details"]["queued"], 0, "{body}");
    assert_eq!(
        checks["write_queue"]["details"]["capacity"],
        cmmv::sql::DatabaseSettings::DEFAULT_WRITE_QUEUE,
        "{body}"
    );
    assert_eq!(get(&served, "/health/started").await.status().as_u16(), 200);
    served.shutdown().await;
    if let Some(db) = database {
        db.close().await;
    }
}

// ---------------------------------------------------------------------------------------------
// Redis, stopped mid-test
// ---------------------------------------------------------------------------------------------

/// A `redis-server` of the test's own on a free port, killed when dropped.
struct RedisServer {
    child: Child,
    port: u16,
}

impl RedisServer {
    /// Starts one and waits until it answers; `None` (with a note) when `redis-server` is not
    /// installed.
    #[allow(
        clippy::print_stderr,
        reason = "a skipped test says so where `cargo test` shows it"
    )]
    async fn start(test: &str) -> Option<RedisServer> {
        let port = free_port();
        let spawned = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                eprintln!("skipped {test}: redis-server is not installed");
                return None;
            }
            Err(error) => panic!("redis-server does not start: {error}"),
        };
        let server = RedisServer { child, port };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
        while !server.answers().await {
            assert!(
                tokio::time::Instant::now() < deadline,
                "redis-server did not answer within 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(server)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether it answers `PING` (in RESP, by hand: the test binary has no Redis client).
    async fn answers(&self) -> bool {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let Ok(mut stream) = tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await else {
            return false;
        };
        if stream.write_all(b"PING\r\n").await.is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        matches!(
            tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut reply)).await,
            Ok(Ok(_))
        ) && &reply == b"+PONG\r\n"
    }

    /// Kills it (SIGKILL) and waits until it is gone.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// The example service as `Service::start` assembles it, on `redis_url`, everything else in
/// memory.
async fn example_on_redis(redis_url: String, extra: &[(&str, &str)]) -> Served {
    let mut settings = crate::auth_support::with_auth(settings());
    settings.database_url = "memory:".to_owned();
    settings.redis_url = Some(redis_url);
    for (key, value) in extra {
        settings
            .extra
            .insert((*key).to_owned(), (*value).to_owned());
    }
    let service = todo::assemble(settings)
        .await
        .expect("the example assembles");
    Served::start(service.app).await
}

async fn ready(served: &Served) -> (u16, Value) {
    let response = get(served, "/health/ready").await;
    let status = response.status().as_u16();
    (status, json(response).await)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_redis_degrades_readiness_or_fails_it_when_critical() {
    let Some(mut redis) = RedisServer::start("a_stopped_redis_degrades_readiness").await else {
        return;
    };
    // The default: the limiter fails open, so Redis is not critical.
    let optional = example_on_redis(redis.url(), &[]).await;
    let critical = example_on_redis(redis.url(), &[("CMMV_HEALTH_REDIS_CRITICAL", "true")]).await;

    for (served, is_critical) in [(&optional, false), (&critical, true)] {
        let (status, body) = ready(served).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["checks"]["redis"]["status"], "ok", "{body}");
        assert_eq!(body["checks"]["redis"]["critical"], is_critical, "{body}");
    }

    redis.kill();

    let (status, body) = ready(&optional).await;
    assert_eq!(
        status, 200,
        "a non-critical Redis keeps the instance in: {body}"
    );
    assert_eq!(body["status"], "degraded", "{body}");
    let entry = &body["checks"]["redis"];
    assert_eq!(entry["status"], "error", "{body}");
    assert_eq!(entry["critical"], false, "{body}");
    assert_eq!(entry["error"], "Redis is unreachable", "{body}");
    assert!(entry["latency_ms"].is_number(), "{body}");

    let (status, body) = ready(&critical).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    assert_eq!(body["checks"]["redis"]["status"], "error", "{body}");
    assert_eq!(
        body["checks"]["redis"]["error"], "Redis is unreachable",
        "{body}"
    );
    // Neither the address nor the driver's words reach the body.
    let text = body.to_string().to_lowercase();
    for leak in [
        redis.port.to_string().as_str(),
        "127.0.0.1",
        "refused",
        "os error",
    ] {
        assert!(!text.contains(leak), "`{leak}` leaks into {body}");
    }
    // Liveness does not care.
    assert_eq!(get(&critical, "/health/live").await.status().as_u16(), 200);
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL, cut off
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_postgres_is_503_naming_the_database_without_driver_text() {
    use std::str::FromStr as _;

    use crate::store_sql::{Proxy, through_port};
    use crate::store_support::{DATABASE_URL_VAR, assert_no_database_text, skip};

    let Ok(server) = std::env::var(DATABASE_URL_VAR) else {
        skip("an_unreachable_postgres_is_503_naming_the_database_without_driver_text");
        return;
    };
    let options = sqlx::postgres::PgConnectOptions::from_str(&server).expect("a server URL");
    let target = tokio::net::lookup_host((options.get_host(), options.get_port()))
        .await
        .expect("the server's address")
        .next()
        .expect("an address");
    let mut proxy = Proxy::start(target).await;
    let db = cmmv::sql::Database::connect(&cmmv::sql::DatabaseSettings {
        max_connections: 2,
        acquire_timeout: Duration::from_secs(1),
        ..cmmv::sql::DatabaseSettings::new(through_port(&server, proxy.port))
    })
    .await
    .expect("PostgreSQL connects through the proxy");
    // Time limits far above the pool's wait, so that the check fails rather than times out.
    let app = App::builder(Settings {
        readiness_timeout: Duration::from_secs(20),
        ..settings()
    })
    .health_indicator(DatabaseIndicator::new(db.clone()).with_timeout(Duration::from_secs(20)))
    .build()
    .expect("valid settings");
    let served = Served::start(app).await;

    let (status, body) = ready(&served).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["checks"]["database"]["status"], "ok", "{body}");
    assert_eq!(
        body["checks"]["database"]["details"]["connections"]["max"], 2,
        "{body}"
    );

    proxy.stop().await;
    let (status, body) = ready(&served).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "unavailable", "{body}");
    let entry = &body["checks"]["database"];
    assert_eq!(entry["status"], "error", "{body}");
    assert_eq!(entry["critical"], true, "{body}");
    assert_eq!(entry["error"], "the database is unreachable", "{body}");
    assert!(
        entry["latency_ms"].as_f64().is_some_and(|l| l > 0.0),
        "{body}"
    );
    assert!(entry["details"]["connections"].is_object(), "{body}");
    assert_no_database_text(&body.to_string(), &[proxy.port.to_string().as_str()]);
    served.shutdown().await;
    db.close().await;
}
