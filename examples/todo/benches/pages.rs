//! `cargo bench -p todo --bench pages [-- --rows N] [--iterations N] [--page N]`: how the
//! depth of a page costs, by cursor and by offset, on a SQLite file of 1,000,000 tasks.
//!
//! The example's app is called in process (`tower::ServiceExt::oneshot`, a bearer token on
//! every request, limits off, as in `request_cost`), so each figure is a whole list request:
//! parsing, the cursor's HMAC, the statement, the JSON. For each sort (the key's order,
//! `title`, `-created_at`), three requests of 25 items are timed in turns, `--iterations` times
//! each: the first page, page 1,000 after the cursor of page 999 (found by walking the pages
//! once), and page 1,000 by `offset`. Reported: median and p90 per request, and each deep
//! page's median over the first page's. The rows are seeded with one SQL statement (no HTTP),
//! in about half a minute; nothing is asserted: figures are for people to read.

#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use http::Request;
use serde_json::Value;
use sqlx::Connection as _;
use tower::ServiceExt;

#[path = "shared/common.rs"]
mod common;

const LIMIT: usize = 25;

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    match runtime.block_on(run(&args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

struct Options {
    rows: usize,
    iterations: usize,
    page: usize,
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        rows: 1_000_000,
        iterations: 200,
        page: 1_000,
    };
    let mut iter = args.iter();
    while let Some(arg) = iter.next() {
        let value = iter
            .next()
            .and_then(|n| n.parse::<usize>().ok())
            .filter(|n| *n > 0)
            .ok_or(format!("{arg} takes a positive number"))?;
        match arg.as_str() {
            "--rows" => options.rows = value,
            "--iterations" => options.iterations = value,
            "--page" => options.page = value,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if options.page * LIMIT > options.rows {
        return Err(format!(
            "page {} of {LIMIT} needs more than {} rows",
            options.page, options.rows
        ));
    }
    Ok(options)
}

async fn run(args: &[String]) -> Result<(), String> {
    let options = options(args)?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let file = dir.path().join("pages.db");
    let url = format!("sqlite://{}", file.display());
    let (db, project) = common::database_with_project(&url, "Pages").await?;
    let started = Instant::now();
    seed(&file, project, options.rows).await?;
    println!(
        "pages: {} tasks seeded in {:.1} s; {LIMIT} per page, {} requests of each kind",
        options.rows,
        started.elapsed().as_secs_f64(),
        options.iterations
    );
    let settings = common::settings(SocketAddr::from(([127, 0, 0, 1], 0)));
    let app = todo::app(settings, &Arc::new(todo::Todo::with_database(&db)))
        .map_err(|e| e.to_string())?;
    let router = app.router();
    let token = format!("Bearer {}", common::bearer_token());

    println!();
    println!(
        "{:<12} {:>16} {:>24} {:>24}",
        "sort",
        "page 1",
        format!("page {} by cursor", options.page),
        format!("page {} by offset", options.page)
    );
    for sort in ["", "title", "-created_at"] {
        let base = format!("/v1/tasks?limit={LIMIT}&sort={sort}");
        // The cursor of page `page - 1`'s last item, as a client paging along would hold it.
        let mut path = base.clone();
        for _ in 1..options.page {
            let body = get(&router, &token, &path).await?;
            path = body["next_link"]
                .as_str()
                .ok_or("the pages ended early")?
                .to_owned();
        }
        let deep_by_cursor = path;
        let deep_by_offset = format!("{base}&offset={}", (options.page - 1) * LIMIT);
        let ids = |body: &Value| body["items"].to_string();
        if ids(&get(&router, &token, &deep_by_cursor).await?)
            != ids(&get(&router, &token, &deep_by_offset).await?)
        {
            return Err(format!("sort `{sort}`: the cursor and offset pages differ"));
        }
        let mut times = [Vec::new(), Vec::new(), Vec::new()];
        for _ in 0..options.iterations {
            for (i, path) in [&base, &deep_by_cursor, &deep_by_offset]
                .into_iter()
                .enumerate()
            {
                let start = Instant::now();
                get(&router, &token, path).await?;
                times[i].push(start.elapsed());
            }
        }
        let [first, cursor, offset] = times.map(Measured::of);
        println!(
            "{:<12} {:>16} {:>24} {:>24}",
            if sort.is_empty() { "(key)" } else { sort },
            first.text(None),
            cursor.text(Some(first)),
            offset.text(Some(first))
        );
    }
    println!("(median / p90 ms per request; x: median over page 1's)");
    db.close().await;
    Ok(())
}

/// `rows` tasks of `project` in one statement: distinct titles in an order unrelated to the
/// keys', creation times a second apart, every third task of each priority.
async fn seed(
    file: &std::path::Path,
    project: cmmv::types::Uuid,
    rows: usize,
) -> Result<(), String> {
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .map_err(|e| e.to_string())?;
    let script = format!(
        "PRAGMA synchronous = OFF;
         PRAGMA cache_size = -262144;
         BEGIN;
         WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows})
         INSERT INTO tasks (id, project_id, title, done, priority, tags, attachment_count, created_at, updated_at)
         SELECT printf('%08x-%04x-7000-8000-%012x', n / 65536, n % 65536, n), '{project}',
                printf('task %07d', (n * 7919) % 1000003), n % 5 = 0,
                CASE n % 3 WHEN 0 THEN 'low' WHEN 1 THEN 'normal' ELSE 'high' END, '[]', 0,
                strftime('%Y-%m-%dT%H:%M:%S', 1893456000 + n, 'unixepoch') || '.000000Z',
                strftime('%Y-%m-%dT%H:%M:%S', 1893456000 + n, 'unixepoch') || '.000000Z'
         FROM g;
         COMMIT;
         ANALYZE;"
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(script))
        .execute(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    conn.close().await.map_err(|e| e.to_string())
}

async fn get(router: &axum::Router, token: &str, path: &str) -> Result<Value, String> {
    let request = Request::builder()
        .uri(path)
        .header("authorization", token)
        .body(Body::empty())
        .map_err(|e| e.to_string())?;
    let response = router
        .clone()
        .oneshot(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "{path}: {status} {}",
            String::from_utf8_lossy(&bytes)
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy)]
struct Measured {
    median: Duration,
    p90: Duration,
}

impl Measured {
    fn of(mut times: Vec<Duration>) -> Self {
        times.sort();
        let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
        Measured {
            median: at(0.5),
            p90: at(0.9),
        }
    }

    fn text(self, baseline: Option<Measured>) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let ratio = baseline.map_or(String::new(), |b| {
            format!(" {:>5.2}x", ms(self.median) / ms(b.median).max(1e-9))
        });
        format!("{:.3} / {:.3}{ratio}", ms(self.median), ms(self.p90))
    }
}
