//! `cargo bench -p todo --bench load` (or `cargo xtask load`): the example service against a
//! hand-written axum server doing the same work on the same store, under the same bounded load
//! on 127.0.0.1.
//!
//! It is a bench target of the example rather than part of `xtask` so that it is built as a
//! user builds the service: `xtask` also links the compiler, and cargo would unify the two
//! crates' dependency features (the compiler's `serde_json/preserve_order`, say) into a runtime
//! no user runs.
//!
//! Both servers keep `Task`s in a `MemoryStore` seeded with the same rows. The hand-written one
//! is what a careful developer would write without CMMV: axum routes, serde decoding, the same
//! checks on the title, the same store calls — and none of the framework's middleware. The
//! generated one is `todo::app`, request logging filtered to warnings like any load test's.
//! Each scenario runs the same number of requests from the same number of connections; the
//! report gives throughput and latency percentiles and the ratios generated / hand-written.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cmmv::ratelimit::{KeyKind, Policy};
use cmmv::resource::Resource;
use cmmv::store::Store;
use cmmv::types::{DateTime, Uuid};
use cmmv::{MemoryStore, Settings};
use todo::api::{Task, TaskInput, TaskPriority};

const CONNECTIONS: usize = 32;
const SEED: usize = 1_000;
const ROUNDS: usize = 5;

fn main() -> std::process::ExitCode {
    // `cargo bench` passes `--bench`; the benchmark takes only `--requests N`.
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
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--requests" => {
                requests = iter
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--requests takes a number")?;
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
    // The generated service against the hand-written one, neither rate limited (the
    // hand-written one has no limiter to compare with).
    for scenario in [Scenario::Get, Scenario::Create] {
        compare(
            scenario,
            [
                (Server::Generated, "generated"),
                (Server::HandWritten, "hand-written"),
            ],
            requests,
            "targets: throughput >= 0.9x, p99 <= 1.2x",
        )?;
    }
    // The cost of rate limiting: the same GET with a policy every request passes, decided by
    // the in-process limiter, against no limit at all.
    compare(
        Scenario::Get,
        [
            (Server::Limited, "limited"),
            (Server::Generated, "unlimited"),
        ],
        requests,
        "target: throughput >= 0.9x",
    )?;
    Ok(())
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
        "{:<8} {} / {}: throughput {:.2}x, p99 {:.2}x ({targets})",
        scenario.name(),
        servers[0].1,
        servers[1].1,
        first.throughput / second.throughput,
        first.p99.as_secs_f64() / second.p99.as_secs_f64()
    );
    Ok(())
}

#[derive(Debug, Clone, Copy)]
enum Server {
    /// The example's app, its rate limits off.
    Generated,
    /// The example's app with one policy on GET one task that admits every request.
    Limited,
    HandWritten,
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

/// A policy on GET one task that no load run exhausts: every request is decided and admitted.
const ADMIT_ALL: &[(&str, &str, &[Policy])] = &[(
    "GET",
    "/v1/tasks/{id}",
    &[Policy {
        id: "bench",
        limit: 1_000_000_000,
        period: Duration::from_secs(1),
        burst: 1_000_000_000,
        key: KeyKind::Ip,
    }],
)];

const CREATE_BODY: &str = r#"{"project_id":"0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69","title":"Load test task","notes":null,"tags":["load"]}"#;

fn measure(server: Server, scenario: Scenario, requests: usize) -> Result<Measured, String> {
    let (store, ids) = seed_tasks();
    // The server gets its own two-thread runtime; the load generator another, so both compete
    // for the machine's two cores the same way in every scenario.
    let server_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("server")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let addr: SocketAddr = server_runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| e.to_string())?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        match server {
            Server::Generated | Server::Limited => {
                let todo = Arc::new(todo::Todo::with_task_store(store.clone()));
                let settings = Settings {
                    addr,
                    log: "warn".to_owned(),
                    ..Settings::default()
                };
                let builder = todo::app_builder(settings, &todo);
                let builder = match server {
                    Server::Limited => builder.rate_limits(ADMIT_ALL),
                    _ => builder,
                };
                let app = builder.build().map_err(|e| e.to_string())?;
                tokio::spawn(app.serve(listener));
            }
            Server::HandWritten => {
                let router = hand_written(store.clone());
                tokio::spawn(async move { axum::serve(listener, router).await });
            }
        }
        Ok::<_, String>(addr)
    })?;
    let prefix = match server {
        Server::Generated | Server::Limited => "/v1/tasks",
        Server::HandWritten => "/tasks",
    };
    let client_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("load")
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let result = client_runtime.block_on(drive(addr, prefix, scenario, requests, Arc::new(ids)));
    server_runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn drive(
    addr: SocketAddr,
    prefix: &'static str,
    scenario: Scenario,
    requests: usize,
    ids: Arc<Vec<Uuid>>,
) -> Result<Measured, String> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .map_err(|e| e.to_string())?;
    // Warm-up: open the connections and touch every code path once.
    for i in 0..CONNECTIONS * 4 {
        one(&client, addr, prefix, scenario, &ids, i).await?;
    }
    let per_connection = requests / CONNECTIONS;
    let start = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let client = client.clone();
        let ids = ids.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::with_capacity(per_connection);
            for i in 0..per_connection {
                let began = Instant::now();
                one(
                    &client,
                    addr,
                    prefix,
                    scenario,
                    &ids,
                    c * per_connection + i,
                )
                .await?;
                latencies.push(began.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(requests);
    for task in tasks {
        latencies.extend(task.await.map_err(|e| e.to_string())??);
    }
    let elapsed = start.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Ok(Measured {
        throughput: latencies.len() as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    })
}

async fn one(
    client: &reqwest::Client,
    addr: SocketAddr,
    prefix: &str,
    scenario: Scenario,
    ids: &[Uuid],
    i: usize,
) -> Result<(), String> {
    let response = match scenario {
        Scenario::Get => {
            let id = ids[i % ids.len()];
            client
                .get(format!("http://{addr}{prefix}/{id}"))
                .send()
                .await
        }
        Scenario::Create => {
            client
                .post(format!("http://{addr}{prefix}"))
                .header("content-type", "application/json")
                .body(CREATE_BODY)
                .send()
                .await
        }
    }
    .map_err(|e| e.to_string())?;
    let status = response.status();
    let _ = response.bytes().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("{} answered {status}", scenario.name()))
    }
}

/// The baseline: plain axum over the same store, decoding with serde and checking the title by
/// hand, with no middleware.
fn hand_written(store: Store<Task>) -> axum::Router {
    #[derive(serde::Deserialize)]
    struct NewTask {
        project_id: Uuid,
        title: String,
        notes: Option<String>,
        #[serde(default)]
        tags: Vec<String>,
    }

    async fn get_task(State(store): State<Store<Task>>, Path(id): Path<Uuid>) -> Response {
        match store.get(&id).await {
            Ok(task) => Json(task).into_response(),
            Err(_) => StatusCode::NOT_FOUND.into_response(),
        }
    }

    async fn create_task(State(store): State<Store<Task>>, Json(new): Json<NewTask>) -> Response {
        if new.title.is_empty() || new.title.chars().count() > 200 || new.tags.len() > 10 {
            return StatusCode::UNPROCESSABLE_ENTITY.into_response();
        }
        let mut input = task_input(&new.title);
        input.project_id = new.project_id;
        input.notes = new.notes;
        input.tags = new.tags;
        let now = DateTime::now();
        match store
            .insert(Box::new(move |sequence| {
                Task::create(Task::new_key(&input, sequence), input, now)
            }))
            .await
        {
            Ok(task) => (StatusCode::CREATED, Json(task)).into_response(),
            Err(_) => StatusCode::CONFLICT.into_response(),
        }
    }

    axum::Router::new()
        .route("/tasks", axum::routing::post(create_task))
        .route("/tasks/{id}", get(get_task))
        .with_state(store)
}
