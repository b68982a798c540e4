//! `cargo bench -p todo --bench storage` (or `cargo xtask storage`): the example's task store
//! with 10,000 rows, in memory (the baseline), in SQLite (a file) and in PostgreSQL (when
//! `CMMV_TEST_DATABASE_URL` is set; in a schema of its own, dropped afterwards).
//!
//! Two scenarios, each a bounded number of operations from a fixed number of concurrent
//! callers, straight against the repository (no HTTP, so the figures are the store's):
//! get by id, and a filtered + sorted page (`project_id = ?` on an indexed field, sorted by
//! `title`, 20 per page). Reported: p50, p99 and throughput, and the ratios to memory.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use cmmv::resource::FieldValue;
use cmmv::sql::{Database, DatabaseSettings};
use cmmv::store::{Direction, Filter, ListQuery};
use cmmv::types::Uuid;
use cmmv::validate::{At, Errors, FromJson};
use cmmv::{MemoryStore, Store};
use serde_json::{Value, json};
use sqlx::Connection as _;
use todo::api::{MIGRATIONS, Project, ProjectInput, Task, TaskInput, User};

const ROWS: usize = 10_000;
const PROJECTS: usize = 100;
const CALLERS: usize = 8;
const GETS: usize = 8_000;
const PAGES: usize = 2_000;

fn main() -> std::process::ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    match runtime.block_on(run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

struct Backend {
    name: &'static str,
    users: Store<User>,
    projects: Store<Project>,
    tasks: Store<Task>,
}

async fn run() -> Result<(), String> {
    println!(
        "storage: {ROWS} tasks in {PROJECTS} projects; {GETS} gets and {PAGES} pages from {CALLERS} concurrent callers"
    );
    let mut backends = vec![Backend {
        name: "memory",
        users: MemoryStore::shared(),
        projects: MemoryStore::shared(),
        tasks: MemoryStore::shared(),
    }];
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let sqlite = connect(format!(
        "sqlite://{}",
        dir.path().join("bench.db").display()
    ))
    .await?;
    backends.push(database_backend("sqlite", &sqlite));
    let postgres = match std::env::var("CMMV_TEST_DATABASE_URL") {
        Ok(server) => {
            let schema = format!("cmmv_bench_{}", Uuid::new_v4().simple());
            admin(&server, &format!("CREATE SCHEMA \"{schema}\"")).await?;
            let url = format!("{server}?options=-c%20search_path%3D{schema}");
            let db = connect(url).await?;
            backends.push(database_backend("postgres", &db));
            Some((server, schema, db))
        }
        Err(_) => {
            println!("(PostgreSQL skipped: set CMMV_TEST_DATABASE_URL to include it)");
            None
        }
    };

    let mut results = Vec::new();
    for backend in &backends {
        let started = Instant::now();
        let (projects, tasks) = seed(backend).await?;
        println!(
            "{:<9} seeded {ROWS} rows in {:.1} s",
            backend.name,
            started.elapsed().as_secs_f64()
        );
        let tasks = Arc::new(tasks);
        let projects = Arc::new(projects);
        let get = measure(GETS, {
            let store = backend.tasks.clone();
            let tasks = tasks.clone();
            move |i| {
                let store = store.clone();
                let id = tasks[(i * 7919) % tasks.len()];
                async move {
                    store
                        .get(&id, &cmmv::Scope::All)
                        .await
                        .map(drop)
                        .map_err(|e| format!("{e:?}"))
                }
            }
        })
        .await?;
        let page = measure(PAGES, {
            let store = backend.tasks.clone();
            let projects = projects.clone();
            move |i| {
                let store = store.clone();
                let query = ListQuery {
                    offset: ((i * 13) % 5 * 20) as u64,
                    sort: vec![("title".to_owned(), Direction::Ascending)],
                    filters: vec![Filter::eq(
                        "project_id",
                        FieldValue::Text(projects[i % projects.len()].to_string()),
                    )],
                    ..ListQuery::new(20)
                };
                async move {
                    let page = store.list(&query).await.map_err(|e| format!("{e:?}"))?;
                    if page.items.len() == 20 {
                        Ok(())
                    } else {
                        Err(format!("a page of {} items", page.items.len()))
                    }
                }
            }
        })
        .await?;
        results.push((backend.name, get, page));
    }

    println!();
    println!(
        "{:<9} {:<10} {:>10} {:>9} {:>9} {:>12}",
        "store", "scenario", "ops/s", "p50 ms", "p99 ms", "p99 / memory"
    );
    let (_, memory_get, memory_page) = results[0];
    for (name, get, page) in &results {
        for (scenario, m, baseline) in [("get", get, memory_get), ("page", page, memory_page)] {
            println!(
                "{:<9} {:<10} {:>10.0} {:>9.3} {:>9.3} {:>11.1}x",
                name,
                scenario,
                m.throughput,
                ms(m.p50),
                ms(m.p99),
                ms(m.p99) / ms(baseline.p99).max(1e-6)
            );
        }
    }

    sqlite.close().await;
    if let Some((server, schema, db)) = postgres {
        db.close().await;
        admin(&server, &format!("DROP SCHEMA \"{schema}\" CASCADE")).await?;
    }
    Ok(())
}

fn database_backend(name: &'static str, db: &Database) -> Backend {
    Backend {
        name,
        users: db.store(),
        projects: db.store(),
        tasks: db.store(),
    }
}

async fn connect(url: String) -> Result<Database, String> {
    let db = Database::connect(&DatabaseSettings {
        max_connections: CALLERS as u32,
        acquire_timeout: Duration::from_secs(10),
        ..DatabaseSettings::new(url)
    })
    .await
    .map_err(|e| e.to_string())?;
    db.migrate(MIGRATIONS).await.map_err(|e| e.to_string())?;
    Ok(db)
}

async fn admin(server: &str, statement: &str) -> Result<(), String> {
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .map_err(|e| e.to_string())?;
    sqlx::raw_sql(sqlx::AssertSqlSafe(statement.to_owned()))
        .execute(&mut conn)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
}

fn decode<T: FromJson>(mut body: Value) -> T {
    let mut errors = Errors::new();
    T::from_json(&mut body, &At::Root, &mut errors).expect("bench fixtures decode")
}

/// One user, the projects, and the tasks spread over them, through the store as the service
/// writes them (creates from `CALLERS` callers at once).
async fn seed(backend: &Backend) -> Result<(Vec<Uuid>, Vec<Uuid>), String> {
    // A user as the login module makes one: an account's record.
    let key = Uuid::now_v7();
    let user = backend
        .users
        .insert(Box::new(move |_| {
            <User as cmmv::resource::AccountRecord>::for_account(
                key,
                "bench@example.com",
                cmmv::types::DateTime::now(),
            )
        }))
        .await
        .map_err(|e| format!("{e:?}"))?;
    let mut projects = Vec::new();
    for p in 0..PROJECTS {
        let input: ProjectInput =
            decode(json!({"name": format!("Project {p:03}"), "owner_id": user.id}));
        let project = cmmv::crud::create(&backend.projects, input)
            .await
            .map_err(|e| format!("{e:?}"))?;
        projects.push(project.id);
    }
    let projects = Arc::new(projects);
    let mut callers = Vec::new();
    for caller in 0..CALLERS {
        let store = backend.tasks.clone();
        let projects = projects.clone();
        callers.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for i in (caller..ROWS).step_by(CALLERS) {
                let priority = ["low", "normal", "high"][i % 3];
                let input: TaskInput = decode(json!({
                    "project_id": projects[i % PROJECTS],
                    "title": format!("task {:05}", (i * 7) % ROWS),
                    "notes": null,
                    "priority": priority,
                    "tags": ["bench"]
                }));
                let task = cmmv::crud::create(&store, input)
                    .await
                    .map_err(|e| format!("{e:?}"))?;
                ids.push(task.id);
            }
            Ok::<_, String>(ids)
        }));
    }
    let mut tasks = Vec::new();
    for caller in callers {
        tasks.extend(caller.await.map_err(|e| e.to_string())??);
    }
    Ok((projects.to_vec(), tasks))
}

#[derive(Debug, Clone, Copy)]
struct Measured {
    throughput: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `operations` operations from `CALLERS` callers; operation `i` is `op(i)`.
async fn measure<F, Fut>(operations: usize, op: F) -> Result<Measured, String>
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let started = Instant::now();
    let mut callers = Vec::new();
    for caller in 0..CALLERS {
        let op = op.clone();
        callers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            for i in (caller..operations).step_by(CALLERS) {
                let start = Instant::now();
                op(i).await?;
                latencies.push(start.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies = Vec::with_capacity(operations);
    for caller in callers {
        latencies.extend(caller.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Ok(Measured {
        throughput: operations as f64 / elapsed.as_secs_f64(),
        p50: at(0.50),
        p99: at(0.99),
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
