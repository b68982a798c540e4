//! `cargo bench -p todo --bench request_cost [-- --requests N] [--only memory|sqlite]
//! [--get|--post] [--json|--protobuf|--grpc] [--traced sampled-0|ratio-0.1|export-all]`: what one
//! request costs the server, without a network or a load generator in the way, in each wire
//! form (JSON over REST, protobuf over REST, a gRPC call; all three by default). With
//! `--traced`, the server's thread records into the OTLP exporter's layer, sampling nothing, a
//! tenth of the traces (by trace id) or everything (the exporter posts to a closed port: what
//! the request path pays, not the post).
//!
//! The example's app (limits off, a bearer token on every request, as in the `load` bench)
//! answers GET one task by id and POST a task through `tower::ServiceExt::oneshot` on a
//! current-thread runtime, one request at a time, and prints the time per request. It counts
//! nothing itself (the workspace forbids the `unsafe` a counting allocator needs): run it
//! under a tool twice, with two request counts, and divide the difference of the totals by
//! the difference of the counts, which cancels the start-up and the seeding:
//!
//! - allocations: `heaptrack` (its "calls to allocation functions");
//! - instructions: `valgrind --tool=callgrind` (its "Collected" total).
//!
//! Every thread is counted, so the SQLite figures include the work sqlx's connection threads
//! and the writer's thread do for the request.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use cmmv::Settings;
use cmmv::sql::Database;
use cmmv::store::Store;
use cmmv::types::Uuid;
use http::Request;
use todo::api::{Task, TaskInput, TaskPriority};
use tower::ServiceExt;

#[path = "shared/common.rs"]
mod common;
#[path = "shared/traced.rs"]
mod traced;

use common::bearer_token;

const SEED: usize = 100;

fn main() -> std::process::ExitCode {
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
    let mut requests = 10_000usize;
    let mut only: Option<String> = None;
    let mut scenarios = vec!["GET", "POST"];
    let mut forms = vec!["json", "protobuf", "grpc"];
    let mut traced: Option<cmmv::telemetry::Sampler> = None;
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--requests" => {
                requests = iter
                    .next()
                    .and_then(|n| n.parse().ok())
                    .ok_or("--requests takes a number")?;
            }
            "--only" => only = Some(iter.next().ok_or("--only takes memory or sqlite")?.clone()),
            "--get" => scenarios = vec!["GET"],
            "--post" => scenarios = vec!["POST"],
            "--json" => forms = vec!["json"],
            "--protobuf" => forms = vec!["protobuf"],
            "--grpc" => forms = vec!["grpc"],
            "--traced" => {
                traced = Some(match iter.next().map(String::as_str) {
                    Some("sampled-0") => cmmv::telemetry::Sampler::AlwaysOff,
                    Some("export-all") => cmmv::telemetry::Sampler::AlwaysOn,
                    Some("ratio-0.1") => cmmv::telemetry::Sampler::Ratio(0.1),
                    _ => {
                        return Err("--traced takes sampled-0, ratio-0.1 or export-all".to_owned());
                    }
                });
            }
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let tracing = traced.map(tracing_to_nowhere).transpose()?;
    let _recording = tracing
        .as_ref()
        .map(|(_, dispatch)| tracing::dispatcher::set_default(dispatch));
    runtime.block_on(async {
        for backend in ["memory", "sqlite"] {
            if only.as_deref().is_some_and(|o| o != backend) {
                continue;
            }
            let (todo, ids, project, _db) = if backend == "memory" {
                let store: Store<Task> = Arc::new(cmmv::MemoryStore::new());
                let mut ids = Vec::new();
                for i in 0..SEED {
                    let task = cmmv::crud::create(&store, task_input(i, Uuid::nil()))
                        .await
                        .map_err(|e| e.to_string())?;
                    ids.push(task.id);
                }
                (todo::Todo::with_task_store(store), ids, Uuid::nil(), None)
            } else {
                let (db, ids, project) = seed_sqlite(&dir.path().join("cost.db")).await?;
                (todo::Todo::with_database(&db), ids, project, Some(db))
            };
            let app = todo::app(settings(), &Arc::new(todo)).map_err(|e| e.to_string())?;
            let router = app.router();
            let token = format!("Bearer {}", bearer_token());
            let body = format!(
                r#"{{"project_id":"{project}","title":"Load test task","notes":null,"tags":["load"]}}"#
            );
            let messages = todo::api::PROTOBUF
                .ok_or("generated with the proto target")?
                .messages()?;
            let json_body: serde_json::Value =
                serde_json::from_str(&body).map_err(|e| e.to_string())?;
            let input = messages.from_json("todo.v1.TaskInput", &json_body)?;
            let create_call = grpc_frame(&messages.from_json(
                "todo.v1.TaskCreateRequest",
                &serde_json::json!({ "body": json_body }),
            )?);
            let get_calls = ids
                .iter()
                .map(|id| {
                    messages
                        .from_json("todo.v1.TaskGetRequest", &serde_json::json!({ "id": id }))
                        .map(|m| grpc_frame(&m))
                })
                .collect::<Result<Vec<_>, _>>()?;
            for (scenario, form) in scenarios
                .iter()
                .flat_map(|s| forms.iter().map(move |f| (*s, *f)))
            {
                let count = requests;
                let request = |i: usize| {
                    let builder = Request::builder().header("authorization", &token);
                    match (scenario, form) {
                        ("GET", "grpc") => grpc(builder, "Get", get_calls[i % ids.len()].clone()),
                        (_, "grpc") => grpc(builder, "Create", create_call.clone()),
                        ("GET", _) => builder
                            .uri(format!("/v1/tasks/{}", ids[i % ids.len()]))
                            .header("accept", accept(form))
                            .body(Body::empty()),
                        _ => builder
                            .method("POST")
                            .uri("/v1/tasks")
                            .header("content-type", accept(form))
                            .header("accept", accept(form))
                            .body(if form == "protobuf" {
                                Body::from(input.clone())
                            } else {
                                Body::from(body.clone())
                            }),
                    }
                    .map_err(|e| e.to_string())
                };
                for i in 0..100 {
                    send(&router, request(i)?).await?;
                }
                // The requests themselves are built outside the counted span.
                let prepared = (0..count).map(request).collect::<Result<Vec<_>, _>>()?;
                let start = Instant::now();
                for request in prepared {
                    send(&router, request).await?;
                }
                let elapsed = start.elapsed();
                println!(
                    "{backend:<7} {scenario:<5} {form:<9} {count:>6} requests: {:>7.1} us per request (one at a time)",
                    elapsed.as_secs_f64() * 1e6 / count as f64,
                );
            }
        }
        Ok::<_, String>(())
    })
}

/// The OTLP exporter with `sampler`, posting to a port nobody listens on, and a subscriber
/// recording into its layer.
fn tracing_to_nowhere(
    sampler: cmmv::telemetry::Sampler,
) -> Result<(cmmv::telemetry::Tracing, tracing::Dispatch), String> {
    let free = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = free.local_addr().map_err(|e| e.to_string())?;
    drop(free);
    let settings = cmmv::telemetry::TelemetrySettings {
        endpoint: Some(format!("http://{addr}/v1/traces")),
        sampler,
        ..Default::default()
    };
    traced::recording(&settings)
}

async fn send(router: &axum::Router, request: Request<Body>) -> Result<(), String> {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let _ = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("answered {status}"))
    }
}

fn accept(form: &str) -> &'static str {
    if form == "protobuf" {
        cmmv::protobuf::PROTOBUF
    } else {
        "application/json"
    }
}

/// A gRPC message frame: uncompressed, its length, the message.
fn grpc_frame(message: &[u8]) -> bytes::Bytes {
    let mut frame = Vec::with_capacity(message.len() + 5);
    frame.push(0);
    frame.extend_from_slice(
        &u32::try_from(message.len())
            .unwrap_or(u32::MAX)
            .to_be_bytes(),
    );
    frame.extend_from_slice(message);
    bytes::Bytes::from(frame)
}

/// A unary call of `TaskService/<method>`, as a client sends it over HTTP/2.
fn grpc(
    builder: http::request::Builder,
    method: &str,
    frame: bytes::Bytes,
) -> Result<Request<Body>, http::Error> {
    builder
        .method("POST")
        .uri(format!("/todo.v1.TaskService/{method}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Body::from(frame))
}

fn settings() -> Settings {
    common::settings(SocketAddr::from(([127, 0, 0, 1], 0)))
}

fn task_input(i: usize, project_id: Uuid) -> TaskInput {
    TaskInput {
        project_id,
        title: format!("seeded task {i}"),
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

/// A migrated SQLite file with a user, a project and [`SEED`] tasks of that project.
async fn seed_sqlite(file: &std::path::Path) -> Result<(Database, Vec<Uuid>, Uuid), String> {
    let url = format!("sqlite://{}", file.display());
    let (db, project) = common::database_with_project(&url, "Cost").await?;
    let tasks: Store<Task> = db.store();
    let mut ids = Vec::with_capacity(SEED);
    for i in 0..SEED {
        let task = cmmv::crud::create(&tasks, task_input(i, project))
            .await
            .map_err(|e| e.to_string())?;
        ids.push(task.id);
    }
    Ok((db, ids, project))
}
