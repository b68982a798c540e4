//! `cargo bench -p todo --bench load` (or `cargo xtask load`): the example service against a
//! hand-written axum server doing the same work on the same store, under the same bounded load
//! on 127.0.0.1.
//!
//! It is a bench target of the example rather than part of `xtask` so that it is built as a
//! user builds the service: `xtask` also links the compiler, and cargo would unify the two
//! crates' dependency features (the compiler's `serde_json/preserve_order`, say) into a runtime
//! no user runs.
//!
//! In `get` and `post`, both servers keep `Task`s in a `MemoryStore` seeded with the same rows.
//! The hand-written one is what a careful developer would write without CMMV: axum routes, serde
//! decoding, the same checks on the title, the same store calls — and none of the framework's
//! middleware. The generated one is `todo::app`, request logging filtered to warnings like any
//! load test's. Each scenario runs the same number of requests from the same number of
//! connections; the report gives throughput and latency percentiles and the ratios generated /
//! hand-written.
//!
//! In `sqlite-get` and `sqlite-post`, the tasks live in a SQLite file (a fresh one per run,
//! seeded alike; WAL, `synchronous=FULL`, foreign keys on). The generated service uses
//! `cmmv::sql::Database` (its single writer with group commit, its read-only pool); the
//! hand-written one is axum + sqlx as a careful developer writes it: a pool of the runtime's
//! default size on the same file settings, one `SELECT` by key per GET, one `INSERT` committed
//! on its own per POST.
//!
//! In `postgres-get` and `postgres-post` (run when `CMMV_TEST_DATABASE_URL` names a server),
//! the same on PostgreSQL: each run migrates and seeds a schema of its own, dropped afterwards;
//! the generated service uses `cmmv::sql::Database`'s pool, the hand-written one axum + sqlx
//! with a pool of ten, the columns' own types, one `INSERT` per POST.
//!
//! Every request carries a bearer token (HS256), since the contracts protect both operations:
//! the generated service verifies it through `cmmv::auth`, the hand-written one with
//! `jsonwebtoken` directly, checking the same claims and roles. A third comparison isolates the
//! cost of authentication: one GET route mounted twice in the app, once behind the contract's
//! role rule and once public, everything else equal.

#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "load/baseline.rs"]
mod baseline;
#[path = "load/client.rs"]
mod client;
#[path = "shared/common.rs"]
mod common;
#[path = "shared/traced.rs"]
mod traced;
#[path = "load/wire.rs"]
mod wire;

use common::{bearer_token, settings};

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use cmmv::MemoryStore;
use cmmv::auth::Access;
use cmmv::ratelimit::{FailMode, KeyKind, Limiter, Policy};
use cmmv::sql::Database;
use cmmv::store::Store;
use cmmv::types::Uuid;
use todo::api::{Task, TaskInput, TaskPriority};

const CONNECTIONS: usize = 32;
const SEED: usize = 1_000;
const ROUNDS: usize = 5;
/// The comparisons `--only` selects from, in the order they run.
const COMPARISONS: &[&str] = &[
    "get",
    "post",
    "sqlite-get",
    "sqlite-post",
    "postgres-get",
    "postgres-post",
    "auth",
    "limit",
    "tracing",
    "wire",
];

fn main() -> std::process::ExitCode {
    // `cargo bench` passes `--bench`; the benchmark takes `--requests N` and `--only NAME`.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match run(&args) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<(), String> {
    // 50,000 requests put 500 answers above each run's p99: with fewer, the p99 of a run is
    // a handful of samples and swings with every hiccup of the machine.
    let mut requests = 50_000usize;
    // One comparison alone (`get`, `post`, `auth` or `limit`), e.g. to profile it.
    let mut only: Option<String> = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--requests" => {
                requests = iter
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--requests takes a number")?;
            }
            "--only" => {
                let name = iter.next().ok_or("--only takes a comparison's name")?;
                if !COMPARISONS.contains(&name.as_str()) {
                    return Err(format!(
                        "unknown comparison `{name}`; expected one of: {}",
                        COMPARISONS.join(", ")
                    ));
                }
                only = Some(name.clone());
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    println!(
        "load: {requests} requests per scenario over {CONNECTIONS} connections, {SEED} seeded tasks"
    );
    // One measurement swings with whatever else the two cores are doing, so the servers take
    // turns, round after round, and the report gives each figure's median over the rounds.
    println!("{ROUNDS} rounds, the two servers of each comparison taking turns");
    let selected = |name: &str| only.as_deref().is_none_or(|only| only == name);
    // The generated service against the hand-written one, neither rate limited (the
    // hand-written one has no limiter to compare with).
    for (name, scenario) in [("get", Scenario::Get), ("post", Scenario::Create)] {
        if !selected(name) {
            continue;
        }
        compare(
            scenario,
            [
                (Server::Generated(Backend::Memory), "generated"),
                (Server::HandWritten, "hand-written"),
            ],
            requests,
            "targets: throughput >= 0.9x, p99 <= 1.2x",
        )?;
    }
    // The same on a SQLite file: the runtime's writer and read pool against axum + sqlx.
    for (name, scenario, targets) in [
        ("sqlite-get", Scenario::Get, "target: throughput >= 0.95x"),
        (
            "sqlite-post",
            Scenario::Create,
            "targets: throughput >= 4x, p99 <= 0.25x",
        ),
    ] {
        if !selected(name) {
            continue;
        }
        compare(
            scenario,
            [
                (Server::Generated(Backend::Sqlite), "generated"),
                (Server::HandWrittenSql, "axum+sqlx"),
            ],
            requests,
            targets,
        )?;
    }
    // The same on PostgreSQL (when a server is configured): the runtime's pool against
    // axum + sqlx, each run in a schema of its own, dropped afterwards.
    for (name, scenario, targets) in [
        ("postgres-get", Scenario::Get, "target: throughput >= 0.95x"),
        ("postgres-post", Scenario::Create, "reported, no target"),
    ] {
        if !selected(name) {
            continue;
        }
        if std::env::var_os("CMMV_TEST_DATABASE_URL").is_none() {
            println!("({name} skipped: set CMMV_TEST_DATABASE_URL to include it)");
            continue;
        }
        compare(
            scenario,
            [
                (Server::Generated(Backend::Postgres), "generated"),
                (Server::HandWrittenPg, "axum+sqlx"),
            ],
            requests,
            targets,
        )?;
    }
    // The cost of authentication: the same GET, once verifying the token and the roles, once
    // public.
    if selected("auth") {
        compare(
            Scenario::Get,
            [
                (Server::Guarded(Access::AnyRole(&["user", "admin"])), "jwt"),
                (Server::Guarded(Access::Public), "public"),
            ],
            requests,
            "target: throughput >= 0.85x",
        )?;
    }
    // The cost of rate limiting: the same GET with a policy every request passes, decided by
    // the in-process limiter, against no limit at all.
    if selected("limit") {
        compare(
            Scenario::Get,
            [
                (Server::Limited, "limited"),
                (Server::Generated(Backend::Memory), "unlimited"),
            ],
            requests,
            "target: throughput >= 0.9x",
        )?;
    }
    // The cost of tracing: the same GET exporting every span to a collector on 127.0.0.1, with
    // the exporter configured but sampling nothing, and exporting to a collector that is down
    // or that holds every export past the timeout, each against tracing off.
    if selected("tracing") {
        let collector = Collector::start(None)?;
        let slow = Collector::start(Some(Duration::from_secs(2)))?;
        for (export, name, targets) in [
            (Export::All, "export-all", "target: throughput >= 0.85x"),
            (
                Export::SampleNothing,
                "sampled-0",
                "target: throughput >= 0.97x",
            ),
            (
                Export::CollectorDown,
                "collector-down",
                "reported: no worse than export-all",
            ),
            (
                Export::CollectorSlow,
                "collector-slow",
                "reported: no worse than export-all",
            ),
        ] {
            let at = match export {
                Export::CollectorSlow => slow.0,
                _ => collector.0,
            };
            compare(
                Scenario::Get,
                [
                    (Server::Traced(export, at), name),
                    (Server::Generated(Backend::Memory), "off"),
                ],
                requests,
                targets,
            )?;
        }
        // The same on the SQLite file, a request of realistic cost: what share of it exporting
        // every span takes.
        compare(
            Scenario::Get,
            [
                (Server::TracedSqlite(collector.0), "export-all"),
                (Server::Generated(Backend::Sqlite), "off"),
            ],
            requests,
            "reported: the export-all target on a database read",
        )?;
    }
    // The wire forms: create and get answered by the same app as JSON over REST, protobuf over
    // REST and gRPC over HTTP/2, each against JSON.
    if selected("wire") {
        for scenario in [Scenario::Get, Scenario::Create] {
            for (form, targets) in [
                (wire::Form::JsonHttp2, "reported: the transport's share"),
                (wire::Form::Protobuf, "reported"),
                (wire::Form::Grpc, "target: throughput >= 1.0x"),
            ] {
                compare(
                    scenario,
                    [
                        (Server::Wire(form), form.name()),
                        (Server::Wire(wire::Form::Json), wire::Form::Json.name()),
                    ],
                    requests,
                    targets,
                )?;
            }
        }
    }
    Ok(())
}

/// How the traced server exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Export {
    /// Every span, to a collector that accepts them.
    All,
    /// The exporter configured, the sampler keeping nothing.
    SampleNothing,
    /// Every span, to an address nobody listens on.
    CollectorDown,
    /// Every span, to a collector that holds each export for 2 s (past the export timeout).
    CollectorSlow,
}

/// An OTLP/HTTP collector on its own thread: it reads every export and answers 200 without decoding it,
/// after holding it for `hold` when given.
struct Collector(SocketAddr);

impl Collector {
    fn start(hold: Option<Duration>) -> Result<Self, String> {
        let (bound, addr) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("collector".to_owned())
            .spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::bind("127.0.0.1:0").await else {
                        return;
                    };
                    let _ = bound.send(listener.local_addr());
                    let app = axum::Router::new().route(
                        "/v1/traces",
                        // The body is read whole, as a collector does, and thrown away.
                        axum::routing::post(move |_body: axum::body::Bytes| async move {
                            if let Some(hold) = hold {
                                tokio::time::sleep(hold).await;
                            }
                            ""
                        }),
                    );
                    let _ = axum::serve(listener, app).await;
                });
            })
            .map_err(|e| e.to_string())?;
        let addr = addr
            .recv()
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        Ok(Self(addr))
    }
}

/// The exporter of a traced server, and the subscriber its runtime's threads record into.
fn tracing_for(
    export: Export,
    collector: SocketAddr,
) -> Result<(cmmv::telemetry::Tracing, tracing::Dispatch), String> {
    let endpoint = match export {
        Export::All | Export::SampleNothing | Export::CollectorSlow => {
            format!("http://{collector}/v1/traces")
        }
        Export::CollectorDown => {
            // A port that was free a moment ago: nothing listens there.
            let free = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
            let addr = free.local_addr().map_err(|e| e.to_string())?;
            drop(free);
            format!("http://{addr}/v1/traces")
        }
    };
    let settings = cmmv::telemetry::TelemetrySettings {
        endpoint: Some(endpoint),
        sampler: match export {
            Export::SampleNothing => cmmv::telemetry::Sampler::AlwaysOff,
            Export::All | Export::CollectorDown | Export::CollectorSlow => {
                cmmv::telemetry::Sampler::AlwaysOn
            }
        },
        delay: Duration::from_millis(200),
        // A slow collector is given up on after 1 s, as an operator would set it.
        timeout: Duration::from_secs(1),
        ..Default::default()
    };
    traced::recording(&settings)
}

/// Measures two servers in turns and prints each one's medians and the ratios first / second.
fn compare(
    scenario: Scenario,
    servers: [(Server, &str); 2],
    requests: usize,
    targets: &str,
) -> Result<(), String> {
    let mut rounds = [Vec::new(), Vec::new()];
    for _ in 0..ROUNDS {
        for (i, (server, _)) in servers.iter().enumerate() {
            rounds[i].push(measure(*server, scenario, requests)?);
        }
    }
    let [first, second] = [Measured::median(&rounds[0]), Measured::median(&rounds[1])];
    println!();
    println!(
        "{:<8} {:<13} {:>10} {:>9} {:>9}",
        "scenario", "server", "req/s", "p50 ms", "p99 ms"
    );
    for ((_, name), result) in servers.iter().zip([&first, &second]) {
        println!(
            "{:<8} {:<13} {:>10.0} {:>9.3} {:>9.3}",
            scenario.name(),
            name,
            result.throughput,
            result.p50.as_secs_f64() * 1000.0,
            result.p99.as_secs_f64() * 1000.0
        );
    }
    println!(
        "{:<8} {} / {}: throughput {:.2}x, p50 {:.2}x, p99 {:.2}x ({targets})",
        scenario.name(),
        servers[0].1,
        servers[1].1,
        first.throughput / second.throughput,
        first.p50.as_secs_f64() / second.p50.as_secs_f64(),
        first.p99.as_secs_f64() / second.p99.as_secs_f64()
    );
    // Each round's two runs follow each other, so their ratio is little moved by what the
    // machine does over minutes: the spread of these says how far the ratio above can be
    // trusted on this machine.
    let mut paired: Vec<f64> = rounds[0]
        .iter()
        .zip(&rounds[1])
        .map(|(first, second)| first.throughput / second.throughput)
        .collect();
    paired.sort_by(f64::total_cmp);
    println!(
        "{:<8} throughput ratio of each round: {}",
        scenario.name(),
        paired
            .iter()
            .map(|ratio| format!("{ratio:.2}x"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Server {
    /// The example's app, its rate limits off, its tasks in this backend.
    Generated(Backend),
    /// The example's app with its limits decided by a limiter that admits every request.
    Limited,
    HandWritten,
    /// axum + sqlx on a SQLite file.
    HandWrittenSql,
    /// axum + sqlx on PostgreSQL.
    HandWrittenPg,
    /// An app serving only GET one task, as generated code mounts it, behind this access rule.
    Guarded(Access),
    /// The example's app like `Generated(Memory)`, its spans exported as `Export` says to the
    /// collector at this address.
    Traced(Export, SocketAddr),
    /// The example's app on a SQLite file, like `Generated(Sqlite)`, exporting every span.
    TracedSqlite(SocketAddr),
    /// The example's app like `Generated(Memory)`, called in this form.
    Wire(wire::Form),
}

/// Where the generated service keeps its tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Memory,
    Sqlite,
    Postgres,
}

#[derive(Debug, Clone, Copy)]
enum Scenario {
    Get,
    Create,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Get => "GET",
            Scenario::Create => "POST",
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Measured {
    throughput: f64,
    p50: Duration,
    p99: Duration,
}

impl Measured {
    /// The throughput and percentiles of one run's latencies.
    fn of(mut latencies: Vec<Duration>, elapsed: Duration) -> Measured {
        latencies.sort();
        let at =
            |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
        Measured {
            throughput: latencies.len() as f64 / elapsed.as_secs_f64(),
            p50: at(0.50),
            p99: at(0.99),
        }
    }

    /// The median of each figure over the rounds.
    fn median(rounds: &[Measured]) -> Measured {
        let mut throughput: Vec<f64> = rounds.iter().map(|m| m.throughput).collect();
        let mut p50: Vec<Duration> = rounds.iter().map(|m| m.p50).collect();
        let mut p99: Vec<Duration> = rounds.iter().map(|m| m.p99).collect();
        throughput.sort_by(f64::total_cmp);
        p50.sort();
        p99.sort();
        let mid = rounds.len() / 2;
        Measured {
            throughput: throughput[mid],
            p50: p50[mid],
            p99: p99[mid],
        }
    }
}

fn seed_tasks() -> (Store<Task>, Vec<Uuid>) {
    let store: Store<Task> = Arc::new(MemoryStore::new());
    let mut ids = Vec::new();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime");
    for i in 0..SEED {
        let input = task_input(&format!("seeded task {i}"));
        let task = runtime
            .block_on(cmmv::crud::create(&store, input))
            .expect("seeding succeeds");
        ids.push(task.id);
    }
    (store, ids)
}

fn task_input(title: &str) -> TaskInput {
    TaskInput {
        project_id: Uuid::nil(),
        title: title.to_owned(),
        notes: None,
        done: false,
        priority: TaskPriority::Normal,
        due_at: None,
        estimate_hours: None,
        story_points: None,
        confidence: None,
        tags: Vec::new(),
        checklist: None,
        metadata: None,
    }
}

/// A policy that no load run exhausts: every request is decided and admitted.
const ADMIT_ALL: Policy = Policy {
    id: "bench",
    limit: 1_000_000_000,
    period: Duration::from_secs(1),
    burst: 1_000_000_000,
    key: KeyKind::Ip,
    on_error: FailMode::App,
};

/// The in-process limiter deciding whatever policy a route carries as [`ADMIT_ALL`]: each
/// request pays for the whole decision (its key, the GCRA step, the headers) and passes.
#[derive(Debug)]
struct AdmitAll(cmmv::ratelimit::MemoryLimiter);

impl Limiter for AdmitAll {
    fn check<'a>(
        &'a self,
        _policy: &'a Policy,
        key: &'a str,
    ) -> cmmv::ratelimit::BoxFuture<
        'a,
        Result<cmmv::ratelimit::Decision, cmmv::ratelimit::LimiterError>,
    > {
        self.0.check(&ADMIT_ALL, key)
    }
}

/// The project of [`CREATE_BODY`]; on SQLite, replaced by the seeded project's id (a task must
/// refer to a project that exists).
const PROJECT_ID: &str = "0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69";
const CREATE_BODY: &str = r#"{"project_id":"0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69","title":"Load test task","notes":null,"tags":["load"]}"#;

/// GET one task exactly as the generated `task_routes` mounts it (extractors, trait call,
/// response), behind `access`.
fn guarded_get(todo: Arc<todo::Todo>, access: Access) -> axum::Router {
    use todo::api::TaskHandlers;
    async fn get_one(
        State(todo): State<Arc<todo::Todo>>,
        ctx: cmmv::Context,
        path: cmmv::extract::PathParams,
    ) -> Result<Response, cmmv::Problem> {
        let id = cmmv::__private::path_key::<Uuid>(path.raw("id"))?;
        let task = <todo::Todo as TaskHandlers>::get(&todo, ctx, id).await?;
        Ok(cmmv::__private::json(200u16, task))
    }
    axum::Router::new()
        .route("/v1/tasks/{id}", get(cmmv::auth::guarded(get_one, access)))
        .with_state(todo)
}

fn measure(server: Server, scenario: Scenario, requests: usize) -> Result<Measured, String> {
    let on_sqlite = matches!(
        server,
        Server::Generated(Backend::Sqlite) | Server::HandWrittenSql | Server::TracedSqlite(_)
    );
    let on_postgres = matches!(
        server,
        Server::Generated(Backend::Postgres) | Server::HandWrittenPg
    );
    // Seeded before the server's runtime exists: seeding a memory store runs a runtime of its
    // own. A database is seeded inside the server's runtime, which its writer belongs to.
    let memory = (!on_sqlite && !on_postgres).then(seed_tasks);
    // A fresh SQLite file per run, removed with its directory; on PostgreSQL, a fresh schema,
    // dropped after the run.
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let postgres = if on_postgres {
        let server = std::env::var("CMMV_TEST_DATABASE_URL").map_err(|e| e.to_string())?;
        let schema = format!("cmmv_load_{}", Uuid::new_v4().simple());
        Some((server, schema))
    } else {
        None
    };
    let url = match &postgres {
        Some((server, schema)) => {
            let separator = if server.contains('?') { '&' } else { '?' };
            format!("{server}{separator}options=-c%20search_path%3D{schema}")
        }
        None => format!("sqlite://{}", dir.path().join("load.db").display()),
    };
    // The server gets its own two-thread runtime; the load generator another, so both compete
    // for the machine's two cores the same way in every scenario.
    let traced = match server {
        Server::Traced(export, collector) => Some(tracing_for(export, collector)?),
        Server::TracedSqlite(collector) => Some(tracing_for(Export::All, collector)?),
        _ => None,
    };
    let mut server_runtime = tokio::runtime::Builder::new_multi_thread();
    server_runtime
        .worker_threads(2)
        .thread_name("server")
        .enable_all();
    if let Some((_, dispatch)) = &traced {
        let dispatch = dispatch.clone();
        // Each of the server's threads records into the traced subscriber, for its whole
        // life: the guard is kept by never dropping it, and the threads end with the runtime.
        server_runtime.on_thread_start(move || {
            std::mem::forget(tracing::dispatcher::set_default(&dispatch));
        });
    }
    let server_runtime = server_runtime.build().map_err(|e| e.to_string())?;
    let (addr, ids, body, db) = server_runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (store, ids, body) = match memory {
            Some((store, ids)) => (Some(store), ids, CREATE_BODY.to_owned()),
            None => {
                if let Some((server, schema)) = &postgres {
                    admin(server, &format!("CREATE SCHEMA \"{schema}\"")).await?;
                }
                let (db, ids, project) = seed_database(&url).await?;
                let body = CREATE_BODY.replace(PROJECT_ID, &project.to_string());
                if matches!(server, Server::Generated(_) | Server::TracedSqlite(_)) {
                    let todo = Arc::new(todo::Todo::with_database(&db));
                    let app = todo::app(settings(addr), &todo).map_err(|e| e.to_string())?;
                    tokio::spawn(app.serve(listener));
                    return Ok::<_, String>((addr, ids, body, Some(db)));
                }
                // The baseline opens the database itself; the seeding connections go.
                db.close().await;
                let router = if on_postgres {
                    baseline::on_postgres(&url).await?
                } else {
                    baseline::on_sqlite(&dir.path().join("load.db")).await?
                };
                tokio::spawn(async move { axum::serve(listener, router).await });
                return Ok::<_, String>((addr, ids, body, None));
            }
        };
        let store = store.ok_or("a memory store")?;
        match server {
            Server::Generated(_)
            | Server::Limited
            | Server::Traced(..)
            | Server::TracedSqlite(_)
            | Server::Wire(_) => {
                let todo = Arc::new(todo::Todo::with_task_store(store));
                let mut settings = settings(addr);
                settings.rate_limit.enabled = matches!(server, Server::Limited);
                let login = todo::login_in_memory(&settings)
                    .map_err(|e| e.to_string())?
                    .with_records(todo.accounts());
                let builder = todo::app_builder(settings, &todo).login(&login);
                let builder = match server {
                    Server::Limited => builder.rate_limiter(Arc::new(AdmitAll(
                        cmmv::ratelimit::MemoryLimiter::new(Default::default()),
                    ))),
                    _ => builder,
                };
                let app = builder.build().map_err(|e| e.to_string())?;
                tokio::spawn(app.serve(listener));
            }
            Server::Guarded(access) => {
                let todo = Arc::new(todo::Todo::with_task_store(store));
                let app = cmmv::App::builder(settings(addr))
                    .routes(guarded_get(todo, access))
                    .build()
                    .map_err(|e| e.to_string())?;
                tokio::spawn(app.serve(listener));
            }
            Server::HandWritten | Server::HandWrittenSql | Server::HandWrittenPg => {
                let router = baseline::in_memory(store);
                tokio::spawn(async move { axum::serve(listener, router).await });
            }
        }
        Ok::<_, String>((addr, ids, body, None))
    })?;
    let prefix = match server {
        Server::Generated(_)
        | Server::Limited
        | Server::Guarded(_)
        | Server::Traced(..)
        | Server::TracedSqlite(_)
        | Server::Wire(_) => "/v1/tasks",
        Server::HandWritten | Server::HandWrittenSql | Server::HandWrittenPg => "/tasks",
    };
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let form = match server {
        Server::Wire(form) => form,
        _ => wire::Form::Json,
    };
    let encoded = Arc::new(wire::Encoded::new(&ids, &body)?);
    let result = client_runtime.block_on(drive(
        addr,
        prefix,
        Work {
            scenario,
            requests,
            ids: Arc::new(ids),
            body: bytes::Bytes::from(body),
            form,
            encoded,
        },
    ));
    if let Some(stats) = db.and_then(|db| db.writer_stats()) {
        // How the writer committed this run's writes (and the seeding's).
        println!(
            "  writer: {} writes in {} commits (mean batch {:.1}, largest {}), {} failed, {} refused",
            stats.committed,
            stats.commits,
            stats.committed as f64 / stats.commits.max(1) as f64,
            stats.largest_batch,
            stats.failed,
            stats.refused
        );
    }
    server_runtime.shutdown_timeout(Duration::from_secs(1));
    if let Some((tracing, _)) = traced {
        tracing.shutdown();
    }
    if let Some((server, schema)) = &postgres {
        // The server's connections are gone with its runtime; the schema goes too.
        client_runtime.block_on(admin(server, &format!("DROP SCHEMA \"{schema}\" CASCADE")))?;
    }
    result
}

/// Runs one statement on a connection of its own (creating and dropping a run's schema).
async fn admin(server: &str, statement: &str) -> Result<(), String> {
    use sqlx::Connection as _;
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

/// A migrated database (a SQLite file, a PostgreSQL schema) with a user, a project and
/// [`SEED`] tasks of that project, written through the runtime's stores (the tasks all at
/// once, so that SQLite's writer commits them in a few batches). Returns the database, the
/// tasks' ids and the project's.
async fn seed_database(url: &str) -> Result<(Database, Vec<Uuid>, Uuid), String> {
    let (db, project) = common::database_with_project(url, "Load test").await?;
    let tasks: Store<Task> = db.store();
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..SEED {
        let mut input = task_input(&format!("seeded task {i}"));
        input.project_id = project;
        let tasks = tasks.clone();
        writes.spawn(async move { cmmv::crud::create(&tasks, input).await });
    }
    let mut ids = Vec::with_capacity(SEED);
    while let Some(written) = writes.join_next().await {
        ids.push(
            written
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?
                .id,
        );
    }
    Ok((db, ids, project))
}

/// What one run sends: the scenario, how many requests, the ids GETs pick from and the body
/// POSTs carry.
struct Work {
    scenario: Scenario,
    requests: usize,
    ids: Arc<Vec<Uuid>>,
    body: bytes::Bytes,
    form: wire::Form,
    encoded: Arc<wire::Encoded>,
}

/// `work.requests` requests from [`CONNECTIONS`] connections, one request at a time on each.
async fn drive(addr: SocketAddr, prefix: &'static str, work: Work) -> Result<Measured, String> {
    let shared = Arc::new(client::Shared::new(addr, &bearer_token())?);
    let http2 = matches!(work.form, wire::Form::Grpc | wire::Form::JsonHttp2);
    let mut connections = Vec::with_capacity(CONNECTIONS);
    for _ in 0..CONNECTIONS {
        connections.push(client::Connection::open(addr, http2).await?);
    }
    let work = Arc::new(work);
    // Warm-up: every connection used, every code path touched a few times.
    for (c, connection) in connections.iter_mut().enumerate() {
        for i in 0..4 {
            connection
                .send(&shared, work.call(prefix, c * 4 + i))
                .await
                .map_err(|e| format!("{}: {e}", work.scenario.name()))?;
        }
    }
    let per_connection = work.requests / CONNECTIONS;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (c, mut connection) in connections.into_iter().enumerate() {
        let (shared, work) = (shared.clone(), work.clone());
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_connection);
            for i in 0..per_connection {
                let began = Instant::now();
                connection
                    .send(&shared, work.call(prefix, c * per_connection + i))
                    .await
                    .map_err(|e| format!("{}: {e}", work.scenario.name()))?;
                latencies.push(began.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(work.requests);
    for task in tasks {
        latencies.extend(task.await.map_err(|e| e.to_string())??);
    }
    Ok(Measured::of(latencies, start.elapsed()))
}

impl Work {
    /// The `i`th request of the run, in the run's form.
    fn call(&self, prefix: &str, i: usize) -> client::Call {
        use http::Method;
        use wire::Form;
        let json = Some("application/json");
        let protobuf = Some(cmmv::protobuf::PROTOBUF);
        match (self.form, self.scenario) {
            (Form::Json | Form::JsonHttp2 | Form::Protobuf, Scenario::Get) => client::Call {
                method: Method::GET,
                path: format!("{prefix}/{}", self.ids[i % self.ids.len()]),
                content_type: None,
                accept: if self.form == Form::Protobuf {
                    protobuf
                } else {
                    json
                },
                body: bytes::Bytes::new(),
            },
            (Form::Json | Form::JsonHttp2, Scenario::Create) => client::Call {
                method: Method::POST,
                path: prefix.to_owned(),
                content_type: json,
                accept: json,
                body: self.body.clone(),
            },
            (Form::Protobuf, Scenario::Create) => client::Call {
                method: Method::POST,
                path: prefix.to_owned(),
                content_type: protobuf,
                accept: protobuf,
                body: self.encoded.input.clone(),
            },
            (Form::Grpc, Scenario::Get) => client::Call {
                method: Method::POST,
                path: "/todo.v1.TaskService/Get".to_owned(),
                content_type: Some("application/grpc"),
                accept: None,
                body: self.encoded.get_calls[i % self.encoded.get_calls.len()].clone(),
            },
            (Form::Grpc, Scenario::Create) => client::Call {
                method: Method::POST,
                path: "/todo.v1.TaskService/Create".to_owned(),
                content_type: Some("application/grpc"),
                accept: None,
                body: self.encoded.create_call.clone(),
            },
        }
    }
}
