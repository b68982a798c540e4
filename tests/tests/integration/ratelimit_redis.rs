//! The fleet limiter against a real Redis (`CMMV_TEST_REDIS_URL`, e.g. `redis://127.0.0.1:6379`):
//! four limiters sharing one budget, the GCRA numbers, the TTL of every key, recovery after
//! `SCRIPT FLUSH`, and outages staged with a TCP proxy between the limiter and Redis.
//!
//! Each test uses a key prefix of its own and deletes its keys at the end (a failed test leaves
//! them to their TTL). The tests speak RESP to Redis themselves (a few lines) so that the test
//! binary needs no Redis client of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cmmv::ratelimit::{FailMode, KeyKind, Limiter, Policy, RedisLimiter, RedisLimiterSettings};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

const REDIS_URL_VAR: &str = "CMMV_TEST_REDIS_URL";

#[allow(
    clippy::print_stderr,
    reason = "a skipped test says so where `cargo test` shows it"
)]
pub(crate) fn redis_url(test: &str) -> Option<String> {
    let url = std::env::var(REDIS_URL_VAR).ok();
    if url.is_none() {
        eprintln!("skipped {test}: set {REDIS_URL_VAR} to a Redis server to run it");
    }
    url
}

/// `host:port` of a `redis://host:port[/db]` URL (the tests use no password).
fn address(url: &str) -> String {
    let rest = url.strip_prefix("redis://").unwrap_or(url);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, host)| host);
    rest.split('/').next().unwrap_or(rest).to_owned()
}

/// A prefix no other test run uses.
fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the clock is past 1970")
        .as_nanos();
    format!("cmmv-test:{test}:{}-{nanos}:", std::process::id())
}

fn policy(id: &'static str, limit: u32, period: Duration, burst: u32) -> Policy {
    Policy {
        id,
        limit,
        period,
        burst,
        key: KeyKind::Ip,
        on_error: FailMode::App,
    }
}

/// A limiter on Redis. These tests check decisions, not their latency: a decision may take
/// half a second (the production default is 50 ms), since on a two-core machine running the
/// whole suite a round trip can be slow.
async fn limiter(url: &str, prefix: &str) -> RedisLimiter {
    RedisLimiter::connect(RedisLimiterSettings {
        timeout: Duration::from_millis(500),
        ..RedisLimiterSettings::new(url, prefix)
    })
    .await
    .expect("the limiter connects to Redis")
}

/// One reply of Redis, as much of RESP 2 as these tests read.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Reply {
    Simple(String),
    Error(String),
    Integer(i64),
    Bulk(Option<String>),
    Array(Vec<Reply>),
}

impl Reply {
    fn integer(&self) -> i64 {
        match self {
            Reply::Integer(n) => *n,
            other => panic!("expected an integer, got {other:?}"),
        }
    }

    fn text(&self) -> &str {
        match self {
            Reply::Bulk(Some(text)) | Reply::Simple(text) => text,
            other => panic!("expected a string, got {other:?}"),
        }
    }

    fn array(&self) -> &[Reply] {
        match self {
            Reply::Array(items) => items,
            other => panic!("expected an array, got {other:?}"),
        }
    }
}

/// A plain connection to Redis for what the tests check behind the limiter's back.
struct Resp(BufReader<TcpStream>);

impl Resp {
    async fn connect(url: &str) -> Resp {
        let stream = TcpStream::connect(address(url))
            .await
            .expect("the test connects to Redis");
        Resp(BufReader::new(stream))
    }

    async fn command(&mut self, args: &[&str]) -> Reply {
        let mut request = format!("*{}\r\n", args.len());
        for arg in args {
            request.push_str(&format!("${}\r\n{arg}\r\n", arg.len()));
        }
        self.0
            .get_mut()
            .write_all(request.as_bytes())
            .await
            .expect("Redis takes the command");
        self.reply().await
    }

    async fn reply(&mut self) -> Reply {
        let mut line = String::new();
        self.0.read_line(&mut line).await.expect("Redis answers");
        let line = line.trim_end_matches("\r\n");
        let (kind, rest) = line.split_at(1);
        match kind {
            "+" => Reply::Simple(rest.to_owned()),
            "-" => Reply::Error(rest.to_owned()),
            ":" => Reply::Integer(rest.parse().expect("an integer reply")),
            "$" => {
                let Ok(len) = usize::try_from(rest.parse::<i64>().expect("a bulk length")) else {
                    return Reply::Bulk(None);
                };
                let mut bulk = vec![0; len + 2];
                self.0.read_exact(&mut bulk).await.expect("the bulk string");
                bulk.truncate(len);
                Reply::Bulk(Some(String::from_utf8(bulk).expect("UTF-8")))
            }
            "*" => {
                let len: i64 = rest.parse().expect("an array length");
                let mut items = Vec::new();
                for _ in 0..len.max(0) {
                    items.push(Box::pin(self.reply()).await);
                }
                Reply::Array(items)
            }
            other => panic!("unexpected RESP type {other:?} in {line:?}"),
        }
    }

    /// Redis's clock, in microseconds.
    async fn time_micros(&mut self) -> u64 {
        let time = self.command(&["TIME"]).await;
        let [seconds, micros] = time.array() else {
            panic!("TIME answers two numbers: {time:?}");
        };
        let seconds: u64 = seconds.text().parse().expect("seconds");
        let micros: u64 = micros.text().parse().expect("microseconds");
        seconds * 1_000_000 + micros
    }

    /// Every key under `prefix`.
    async fn keys(&mut self, prefix: &str) -> Vec<String> {
        let pattern = format!("{prefix}*");
        let mut cursor = "0".to_owned();
        let mut keys = Vec::new();
        loop {
            let reply = self
                .command(&["SCAN", &cursor, "MATCH", &pattern, "COUNT", "1000"])
                .await;
            let [next, batch] = reply.array() else {
                panic!("SCAN answers a cursor and keys: {reply:?}");
            };
            keys.extend(batch.array().iter().map(|key| key.text().to_owned()));
            cursor = next.text().to_owned();
            if cursor == "0" {
                return keys;
            }
        }
    }

    /// Deletes what a test left under its prefix.
    async fn clean(&mut self, prefix: &str) {
        for key in self.keys(prefix).await {
            self.command(&["DEL", &key]).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decisions_follow_the_gcra() {
    let Some(url) = redis_url("decisions_follow_the_gcra") else {
        return;
    };
    let prefix = unique_prefix("gcra");
    let limiter = limiter(&url, &prefix).await;
    // 10 per second, bursts of 3: T = 100 ms.
    let policy = policy("gcra", 10, Duration::from_secs(1), 3);

    let mut remaining = Vec::new();
    for _ in 0..3 {
        let decision = limiter.check(&policy, "k").await.expect("Redis decides");
        assert!(decision.allowed);
        assert_eq!(decision.retry_after, Duration::ZERO);
        remaining.push(decision.remaining);
    }
    assert_eq!(remaining, [2, 1, 0]);

    let refused = limiter.check(&policy, "k").await.expect("Redis decides");
    assert!(!refused.allowed, "{refused:?}");
    assert_eq!(refused.remaining, 0);
    // The fourth may pass one interval after the first: a little less than 100 ms from now.
    assert!(
        refused.retry_after > Duration::ZERO && refused.retry_after <= Duration::from_millis(100),
        "{refused:?}"
    );
    // The key is idle again three intervals after the first request.
    assert!(
        refused.reset > Duration::from_millis(200) && refused.reset <= Duration::from_millis(300),
        "{refused:?}"
    );

    tokio::time::sleep(refused.retry_after).await;
    let later = limiter.check(&policy, "k").await.expect("Redis decides");
    assert!(
        later.allowed,
        "after the reported wait the request passes: {later:?}"
    );

    // Another key, another budget.
    let other = limiter
        .check(&policy, "other")
        .await
        .expect("Redis decides");
    assert_eq!((other.allowed, other.remaining), (true, 2));
    assert_eq!(limiter.failures(), 0);

    Resp::connect(&url).await.clean(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_share_one_budget() {
    let Some(url) = redis_url("four_instances_share_one_budget") else {
        return;
    };
    let prefix = unique_prefix("fleet");
    // 200 per second (T = 5 ms), bursts of 50: hammered for 1.5 s.
    let policy = policy("fleet", 200, Duration::from_secs(1), 50);
    let emission = Duration::from_millis(5);
    let run_for = Duration::from_millis(1500);
    let mut instances = Vec::new();
    for _ in 0..4 {
        instances.push(Arc::new(limiter(&url, &prefix).await));
    }

    let admitted = Arc::new(AtomicU64::new(0));
    let refused = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + run_for;
    let mut tasks = JoinSet::new();
    for instance in &instances {
        // Eight requests in flight per instance.
        for _ in 0..8 {
            let (instance, admitted, refused) = (
                Arc::clone(instance),
                Arc::clone(&admitted),
                Arc::clone(&refused),
            );
            tasks.spawn(async move {
                while Instant::now() < deadline {
                    let decision = instance
                        .check(&policy, "shared")
                        .await
                        .expect("Redis decides");
                    let counter = if decision.allowed {
                        &admitted
                    } else {
                        &refused
                    };
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    }
    while let Some(task) = tasks.join_next().await {
        task.expect("a hammering task");
    }
    // Every decision happened inside [start, now] of this clock: Redis decided each while its
    // request was in flight, and Redis's clock runs at the same rate on this machine.
    let elapsed = start.elapsed();
    let admitted = admitted.load(Ordering::Relaxed);
    let refused = refused.load(Ordering::Relaxed);

    // From an idle key, the k-th admission needs (k - burst) * T <= its instant - the first's,
    // so at most burst + floor(span / T) pass. +1: the script's instants are Redis's
    // microseconds, truncated, and the window is measured on another clock; a span that ends
    // right on a multiple of T can look up to a microsecond (plus any rate drift between the
    // two clocks, far below T) shorter here than it was in Redis.
    let intervals = u64::try_from(elapsed.as_micros() / emission.as_micros()).expect("a count");
    let bound = u64::from(policy.burst) + intervals + 1;
    assert!(
        admitted <= bound,
        "{admitted} admitted in {elapsed:?}, bound {bound} ({refused} refused)"
    );
    // Requests were always waiting, so each interval's token went almost at once: well over
    // 80% of the bound, even on a loaded machine.
    assert!(
        admitted * 10 >= bound * 8,
        "only {admitted} admitted in {elapsed:?}, bound {bound} ({refused} refused)"
    );
    assert!(refused > 0, "the instances were not hammering hard enough");
    for instance in &instances {
        assert_eq!(instance.failures(), 0);
    }

    Resp::connect(&url).await.clean(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_expires_at_its_tat_on_redis_clock() {
    let Some(url) = redis_url("every_key_expires_at_its_tat_on_redis_clock") else {
        return;
    };
    let prefix = unique_prefix("ttl");
    let limiter = limiter(&url, &prefix).await;
    // T = 1 s, bursts of 5: a fresh key's TAT is 1 s ahead, 5 s after five requests.
    let slow = policy("slow", 60, Duration::from_secs(60), 5);
    // T = 500 ms: long enough for the key to still be there when the test looks, even on a
    // loaded machine (100 ms once was not).
    let fast = policy("fast", 2, Duration::from_secs(1), 1);
    for key in ["a", "b", "c"] {
        limiter.check(&slow, key).await.expect("Redis decides");
    }
    for _ in 0..7 {
        // Five admitted, two refused: refusals write nothing and keep the TTL.
        limiter.check(&slow, "busy").await.expect("Redis decides");
    }
    limiter.check(&fast, "a").await.expect("Redis decides");

    let mut redis = Resp::connect(&url).await;
    let now = redis.time_micros().await;
    let keys = redis.keys(&prefix).await;
    assert_eq!(keys.len(), 5, "{keys:?}");
    for key in &keys {
        let ttl = redis.command(&["PTTL", key]).await.integer();
        let tat: u64 = redis
            .command(&["GET", key])
            .await
            .text()
            .parse()
            .expect("the TAT is stored as a whole number of microseconds");
        // The TAT is on Redis's clock, ahead of now by what was admitted (and no more than
        // five intervals); the key lives until then, rounded up to the millisecond, plus the
        // millisecond Redis's truncated clock may take off.
        assert!(
            tat > now && tat <= now + 5_000_000,
            "{key}: TAT {tat}, now {now}"
        );
        let until_tat_ms = (tat - now).div_ceil(1000);
        assert!(
            ttl > 0 && u64::try_from(ttl).expect("a TTL") <= until_tat_ms + 1,
            "{key}: PTTL {ttl} ms, TAT in {until_tat_ms} ms"
        );
    }
    let busy = format!("{prefix}slow:busy");
    let busy_ttl = redis.command(&["PTTL", &busy]).await.integer();
    assert!(
        busy_ttl > 4_000,
        "five admissions, five seconds: {busy_ttl} ms"
    );

    redis.clean(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flushed_script_is_loaded_again() {
    let Some(url) = redis_url("a_flushed_script_is_loaded_again") else {
        return;
    };
    let prefix = unique_prefix("noscript");
    let limiter = limiter(&url, &prefix).await;
    let policy = policy("noscript", 10, Duration::from_secs(1), 2);
    let first = limiter.check(&policy, "k").await.expect("Redis decides");
    assert!(first.allowed);

    let mut redis = Resp::connect(&url).await;
    assert_eq!(
        redis.command(&["SCRIPT", "FLUSH"]).await,
        Reply::Simple("OK".to_owned())
    );
    // EVALSHA meets NOSCRIPT; the script is loaded and run, and the budget carried on.
    let second = limiter.check(&policy, "k").await.expect("Redis decides");
    assert_eq!((second.allowed, second.remaining), (true, 0));
    let third = limiter.check(&policy, "k").await.expect("Redis decides");
    assert!(!third.allowed);
    assert_eq!(limiter.failures(), 0);

    redis.clean(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_fails_when_redis_is_unreachable() {
    // Needs no Redis: nothing listens on a port just released.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("its address").port()
    };
    let settings = RedisLimiterSettings::new(format!("redis://127.0.0.1:{port}"), "cmmv-test:");
    let started = Instant::now();
    let error = RedisLimiter::connect(settings)
        .await
        .expect_err("nothing to connect to");
    assert!(started.elapsed() < Duration::from_secs(7), "{error}");
    assert!(error.0.contains("Redis at start"), "{error}");
}

/// A TCP proxy in front of Redis that a test can stop, restart on the same port, or freeze.
struct Proxy {
    port: u16,
    upstream: String,
    accept: Option<tokio::task::JoinHandle<()>>,
    connections: Arc<std::sync::Mutex<JoinSet<()>>>,
    /// Bumped to freeze every connection open so far: they stay open and forward nothing.
    freeze: watch::Sender<u64>,
    /// Connections forwarding right now: a freeze waits until none is.
    forwarding: Arc<std::sync::atomic::AtomicUsize>,
}

impl Proxy {
    async fn start(upstream: String) -> Proxy {
        let (freeze, _) = watch::channel(0);
        let mut proxy = Proxy {
            port: 0,
            upstream,
            accept: None,
            connections: Arc::default(),
            freeze,
            forwarding: Arc::default(),
        };
        proxy.listen().await;
        proxy
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    async fn listen(&mut self) {
        let socket = TcpSocket::new_v4().expect("a socket");
        // Restarting on the port of the previous listener.
        socket.set_reuseaddr(true).expect("SO_REUSEADDR");
        socket
            .bind(([127, 0, 0, 1], self.port).into())
            .expect("the proxy binds");
        let listener: TcpListener = socket.listen(64).expect("the proxy listens");
        self.port = listener.local_addr().expect("its address").port();
        let (upstream, connections, freeze, forwarding) = (
            self.upstream.clone(),
            Arc::clone(&self.connections),
            self.freeze.clone(),
            Arc::clone(&self.forwarding),
        );
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let mut frozen = freeze.subscribe();
                let generation = *frozen.borrow_and_update();
                let mut connections = connections.lock().expect("the proxy's connections");
                let forwarding = Arc::clone(&forwarding);
                connections.spawn(async move {
                    let Ok(mut server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    forwarding.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let froze = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => false,
                        _ = frozen.wait_for(|now| *now > generation) => true,
                    };
                    forwarding.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
                    if froze {
                        // Hold both sockets open and forward nothing, like a peer gone
                        // without a reset.
                        std::future::pending::<()>().await;
                    }
                });
            }
        }));
    }

    /// Stops listening and aborts every connection.
    fn stop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
        self.connections
            .lock()
            .expect("the proxy's connections")
            .abort_all();
    }

    /// Every open connection stops forwarding, without closing; new ones work. Returns once
    /// every connection has seen it: on a loaded machine a connection's task may otherwise
    /// still forward the next command before it is scheduled.
    async fn freeze(&self) {
        self.freeze.send_modify(|generation| *generation += 1);
        for _ in 0..400 {
            if self.forwarding.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        panic!("the proxy's connections did not freeze within 2 s");
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Limiter settings for Redis reached through `proxy`. A decision through the proxy on a busy
/// two-core machine (the whole suite running) can take longer than the production default of
/// 50 ms; these tests time outages, not round trips, so they allow half a second.
fn through(proxy: &Proxy, prefix: &str) -> RedisLimiterSettings {
    RedisLimiterSettings {
        timeout: Duration::from_millis(500),
        ..RedisLimiterSettings::new(proxy.url(), prefix)
    }
}

/// Checks until one succeeds, each within the bound; returns how long recovery took.
async fn recovers(
    limiter: &RedisLimiter,
    policy: &Policy,
    bound: Duration,
    within: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let attempt = Instant::now();
        let result = limiter.check(policy, "k").await;
        let took = attempt.elapsed();
        assert!(took < bound, "a decision took {took:?}");
        if result.is_ok() {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < within,
            "no decision {within:?} after Redis came back: {result:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outage_fails_fast_and_decisions_resume() {
    let Some(url) = redis_url("an_outage_fails_fast_and_decisions_resume") else {
        return;
    };
    let prefix = unique_prefix("outage");
    let mut proxy = Proxy::start(address(&url)).await;
    let settings = through(&proxy, &prefix);
    let bound = settings.timeout + Duration::from_secs(1);
    let limiter = RedisLimiter::connect(settings)
        .await
        .expect("connects through the proxy");
    let policy = policy("outage", 1000, Duration::from_secs(1), 1000);
    assert!(limiter.check(&policy, "k").await.expect("decides").allowed);

    proxy.stop();
    for _ in 0..5 {
        let started = Instant::now();
        let result = limiter.check(&policy, "k").await;
        let took = started.elapsed();
        assert!(result.is_err(), "Redis is out of reach: {result:?}");
        assert!(
            took < bound,
            "an error within the timeout, not after {took:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(limiter.failures() >= 5, "{}", limiter.failures());

    proxy.listen().await;
    recovers(&limiter, &policy, bound, Duration::from_secs(5)).await;

    Resp::connect(&url).await.clean(&prefix).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_connection_is_replaced() {
    let Some(url) = redis_url("a_silent_connection_is_replaced") else {
        return;
    };
    let prefix = unique_prefix("silent");
    let proxy = Proxy::start(address(&url)).await;
    let settings = through(&proxy, &prefix);
    let bound = settings.timeout + Duration::from_secs(1);
    let limiter = RedisLimiter::connect(settings)
        .await
        .expect("connects through the proxy");
    let policy = policy("silent", 1000, Duration::from_secs(1), 1000);
    assert!(limiter.check(&policy, "k").await.expect("decides").allowed);

    // The connection stays open but nothing comes back: no error ever reaches the client.
    proxy.freeze().await;
    let started = Instant::now();
    let result = limiter.check(&policy, "k").await;
    assert!(result.is_err(), "{result:?}");
    assert!(started.elapsed() < bound, "{:?}", started.elapsed());

    // After a while without answers the limiter reconnects, and new connections work.
    recovers(&limiter, &policy, bound, Duration::from_secs(6)).await;
    assert!(limiter.failures() >= 1);

    Resp::connect(&url).await.clean(&prefix).await;
}

/// The example service on a Redis limiter reached through `proxy`, failing as `fail_mode`
/// says where a policy does not choose.
async fn service_through(
    proxy: &Proxy,
    prefix: &str,
    fail_mode: FailMode,
) -> crate::runtime_support::Served {
    let limiter = RedisLimiter::connect(through(proxy, prefix))
        .await
        .expect("connects through the proxy");
    let settings = cmmv::Settings {
        rate_limit: cmmv::settings::RateLimitSettings {
            fail_mode,
            ..Default::default()
        },
        ..crate::auth_support::with_auth(crate::runtime_support::settings())
    };
    let todo = std::sync::Arc::new(todo::Todo::in_memory());
    let login =
        cmmv::auth::Login::from_settings(Arc::new(cmmv::auth::MemoryAuthStore::new()), &settings)
            .expect("the login module starts")
            .with_records(todo.accounts());
    let app = todo::app_builder(settings, &todo)
        .login(&login)
        .rate_limiter(Arc::new(limiter))
        .build()
        .expect("the app builds");
    crate::runtime_support::Served::start(app).await
}

/// `GET /v1/tasks`, limited by the shared `standard` policy: its status and `RateLimit` field.
async fn list_tasks(served: &crate::runtime_support::Served) -> (u16, Option<String>) {
    let response = crate::auth_support::admin_client()
        .get(served.url("/v1/tasks"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("the service answers");
    let limit = crate::runtime_support::header(&response, "ratelimit").map(str::to_owned);
    (response.status().as_u16(), limit)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_keeps_answering_through_an_outage_in_its_fail_mode() {
    let Some(url) = redis_url("the_service_keeps_answering_through_an_outage_in_its_fail_mode")
    else {
        return;
    };
    for fail_open in [true, false] {
        let prefix = unique_prefix(if fail_open {
            "fail-open"
        } else {
            "fail-closed"
        });
        let mut proxy = Proxy::start(address(&url)).await;
        let mode = if fail_open {
            FailMode::Open
        } else {
            FailMode::Closed
        };
        let served = service_through(&proxy, &prefix, mode).await;
        let (status, limit) = list_tasks(&served).await;
        assert_eq!(status, 200);
        assert!(
            limit
                .expect("a limited route")
                .starts_with("\"standard\";r=19;")
        );

        proxy.stop();
        for _ in 0..3 {
            let started = Instant::now();
            let (status, limit) = list_tasks(&served).await;
            // Within the limiter's timeout plus the request itself: never a hang.
            assert!(started.elapsed() < Duration::from_secs(2));
            if fail_open {
                assert_eq!(status, 200, "fail open admits");
                assert_eq!(limit, None, "no budget to report without a decision");
            } else {
                assert_eq!(status, 503, "fail closed refuses, as unavailable");
            }
        }

        proxy.listen().await;
        let started = Instant::now();
        loop {
            let (status, limit) = list_tasks(&served).await;
            if status == 200 && limit.is_some() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(6),
                "limiting resumes once Redis is back ({status})"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        served.shutdown().await;
        Resp::connect(&url).await.clean(&prefix).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_down_the_credential_endpoints_still_limit() {
    let Some(url) = redis_url("with_redis_down_the_credential_endpoints_still_limit") else {
        return;
    };
    let prefix = unique_prefix("credentials-down");
    let mut proxy = Proxy::start(address(&url)).await;
    // The app fails open where a policy does not choose (the default): the login routes'
    // policies choose the in-process limiter instead.
    let served = service_through(&proxy, &prefix, FailMode::Open).await;
    proxy.stop();
    let attempt =
        serde_json::json!({"email": "mallory@example.com", "password": "guess guess guess"});
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let started = Instant::now();
        let response = crate::runtime_support::client()
            .post(served.url("/auth/login"))
            .json(&attempt)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .expect("the service answers");
        assert!(started.elapsed() < Duration::from_secs(3), "never a hang");
        statuses.push(response.status().as_u16());
    }
    // the login contract's limit's burst of 5, then refusals: limited by this instance alone.
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429, 429]);
    for path in ["/auth/register", "/auth/refresh"] {
        let response = crate::runtime_support::client()
            .post(served.url(path))
            .json(&serde_json::json!({}))
            .send()
            .await
            .expect("the service answers");
        assert!(
            crate::runtime_support::header(&response, "ratelimit").is_some(),
            "{path} is still limited"
        );
    }
    // A contract route whose policy does not choose fails open, as the app says: admitted,
    // with no budget to report.
    let (status, limit) = list_tasks(&served).await;
    assert_eq!((status, limit), (200, None));
    served.shutdown().await;
    Resp::connect(&url).await.clean(&prefix).await;
}
