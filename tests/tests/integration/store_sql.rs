//! What only the SQL stores promise, on real databases: acknowledged writes survive `kill -9`
//! of the service (SQLite, a separate process running the example), lists use the indexes the
//! contracts declare, foreign keys are enforced and mapped to the right errors, migrations
//! apply once and refuse edited history, and an unreachable or locked database is a 503 that
//! clears when the database comes back.
//!
//! SQLite runs on a file in a temporary directory; PostgreSQL when `CMMV_TEST_DATABASE_URL` is
//! set, each test in a schema of its own that is dropped afterwards, even when the test fails.

use std::future::Future;
use std::net::SocketAddr;
use std::str::FromStr as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cmmv::resource::FieldValue;
use cmmv::sql::{Database, DatabaseSettings, Dialect, Migration};
use cmmv::store::{Direction, StoreError};
use cmmv::types::Uuid;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use todo::api::{Comment, Task};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::auth_support::admin_headers;
use crate::store_conformance::{Stores, create, project, task, user};
use crate::store_support::{
    DATABASE_URL_VAR, Raw, TestDatabase, assert_no_database_text, call, client, serve, skip,
    sqlite_database, sqlite_with,
};

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

/// Runs `body` against a fresh migrated PostgreSQL schema (given its pool and URL), then drops
/// the schema whether or not the body panicked. Without a server, notes the skip and returns.
async fn on_postgres<F, Fut>(tag: &str, body: F)
where
    F: FnOnce(Database, String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let Some(test_db) = TestDatabase::postgres(tag).await else {
        return;
    };
    let outcome = tokio::spawn(body(test_db.db.clone(), test_db.url.clone())).await;
    test_db.drop().await;
    if let Err(error) = outcome {
        match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            Err(error) => panic!("the test body did not finish: {error}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Acknowledged writes survive `kill -9` (SQLite, the example service as a separate process)
// ---------------------------------------------------------------------------------------------

/// Set (to anything) in the environment of the re-executed test binary that serves.
const CRASH_CHILD_VAR: &str = "STORE_SQL_CRASH_CHILD";

/// The service process of [`sqlite_acknowledged_creates_survive_kill_9`]: the example's real
/// `todo::serve`, configured by the `CMMV_*` variables the parent sets. Does nothing unless the
/// parent started it.
#[test]
#[ignore = "the service process of sqlite_acknowledged_creates_survive_kill_9, which starts it"]
fn crash_child() {
    if std::env::var_os(CRASH_CHILD_VAR).is_none() {
        return;
    }
    // As `main` does: a signing key is drawn when the environment names none.
    let (settings, _) =
        todo::with_development_key(cmmv::Settings::from_env().expect("CMMV_* settings"));
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let outcome = runtime.block_on(todo::serve(settings));
    // The parent kills this process; serving must not end on its own.
    panic!("the service stopped by itself: {outcome:?}");
}

/// The example service in a child process (this test binary, running [`crash_child`]).
#[cfg(unix)]
struct Service {
    child: std::process::Child,
    addr: SocketAddr,
}

#[cfg(unix)]
impl Service {
    /// The service accepting the tests' tokens (`auth_support::ENV`).
    fn start(database_url: &str) -> Service {
        Self::start_with(database_url, &crate::auth_support::ENV)
    }

    /// The service with these extra variables only.
    fn start_with(database_url: &str, env: &[(&str, &str)]) -> Service {
        // A free port: bound, read, released; the child binds it again at once.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port");
        let child = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args([
                "--exact",
                "store_sql::crash_child",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CRASH_CHILD_VAR, "1")
            .env("CMMV_ADDR", addr.to_string())
            .env("CMMV_DATABASE_URL", database_url)
            .env("CMMV_LOG", "warn")
            .env("CMMV_SHUTDOWN_DELAY", "0s")
            // Only what the test passes decides how tokens are signed.
            .env_remove("CMMV_JWT_HS256_SECRET")
            .env_remove("CMMV_JWT_KEYS")
            .env_remove("CMMV_JWT_ISSUER")
            .env_remove("CMMV_JWT_AUDIENCE")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("the service process starts");
        Service { child, addr }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Waits (a minute at most) until `/health/ready` answers 200.
    async fn wait_ready(&mut self) {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .expect("a client");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("the child's status") {
                panic!("the service exited before it was ready: {status}");
            }
            if let Ok(response) = client.get(self.url("/health/ready")).send().await
                && response.status() == StatusCode::OK
            {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the service was not ready within a minute"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL (what `Child::kill` sends on Unix); returns the exit status.
    fn kill_9(&mut self) -> std::process::ExitStatus {
        self.child.kill().expect("SIGKILL sent");
        self.child.wait().expect("the child is reaped")
    }
}

#[cfg(unix)]
impl Drop for Service {
    fn drop(&mut self) {
        // A failing test must not leave a server behind.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// README command #1 with nothing configured: the example draws a signing key, and a new user
/// signs up, signs in and calls a protected operation over HTTP.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_signs_users_in_with_nothing_configured() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database_url = format!("sqlite://{}", dir.path().join("todo.db").display());
    let mut service = Service::start_with(&database_url, &[]);
    service.wait_ready().await;
    let client = reqwest::Client::new();
    let credentials = json!({"email": "ada@example.com", "password": "correct horse battery"});
    let registered = client
        .post(service.url("/auth/register"))
        .json(&credentials)
        .send()
        .await
        .expect("a response");
    assert_eq!(registered.status(), StatusCode::CREATED);
    let tokens: Value = client
        .post(service.url("/auth/login"))
        .json(&credentials)
        .send()
        .await
        .expect("a response")
        .json()
        .await
        .expect("tokens");
    let token = tokens["access_token"].as_str().expect("an access token");
    for path in ["/v1/tasks", "/auth/me"] {
        let response = client
            .get(service.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("a response");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    let anonymous = client
        .get(service.url("/v1/tasks"))
        .send()
        .await
        .expect("a response");
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_acknowledged_creates_survive_kill_9() {
    use std::os::unix::process::ExitStatusExt as _;
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

    /// Creates acknowledged before the kill; enough to make the check mean something.
    const ACKNOWLEDGED_BEFORE_KILL: usize = 40;
    const WORKERS: usize = 8;

    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("crash.db");
    let database_url = format!("sqlite://{}", file.display());
    let mut service = Service::start(&database_url);
    service.wait_ready().await;

    // A burst of creates from several connections at once, until the service dies under them.
    let next = Arc::new(AtomicU64::new(0));
    let acknowledged = Arc::new(Mutex::new(Vec::<String>::new()));
    let refused = Arc::new(Mutex::new(Vec::<(String, u16, String)>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let url = service.url("/v1/labels");
    let mut workers = JoinSet::new();
    for _ in 0..WORKERS {
        let (next, acknowledged, refused, stop, url) = (
            next.clone(),
            acknowledged.clone(),
            refused.clone(),
            stop.clone(),
            url.clone(),
        );
        workers.spawn(async move {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .default_headers(admin_headers())
                .build()
                .expect("a client");
            while !stop.load(Ordering::SeqCst) {
                let slug = format!("crash-{}", next.fetch_add(1, Ordering::SeqCst));
                match client.post(&url).json(&json!({"slug": slug})).send().await {
                    Ok(response) if response.status() == StatusCode::CREATED => {
                        acknowledged.lock().expect("lock").push(slug);
                    }
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let text = response.text().await.unwrap_or_default();
                        refused.lock().expect("lock").push((slug, status, text));
                    }
                    // The service is gone: this request was in flight or came after.
                    Err(_) => break,
                }
            }
        });
    }

    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    while acknowledged.lock().expect("lock").len() < ACKNOWLEDGED_BEFORE_KILL {
        if let Some(status) = service.child.try_wait().expect("the child's status") {
            panic!("the service exited during the burst: {status}");
        }
        assert!(
            !workers.is_empty() && tokio::time::Instant::now() < deadline,
            "too few creates were acknowledged: {:?}; refused: {:?}",
            acknowledged.lock().expect("lock").len(),
            refused.lock().expect("lock")
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Workers keep sending while the process dies: requests are in flight at the kill.
    let status = service.kill_9();
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status}");
    stop.store(true, Ordering::SeqCst);
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(joined) = workers.join_next().await {
            joined.expect("a worker does not panic");
        }
    })
    .await
    .expect("every worker stops once the service is gone");

    let acknowledged = acknowledged.lock().expect("lock").clone();
    let sent = next.load(Ordering::SeqCst);
    assert!(
        acknowledged.len() >= ACKNOWLEDGED_BEFORE_KILL,
        "creates were acknowledged before the kill"
    );
    // A 503 under load is an honest answer; anything else is not.
    for (slug, status, text) in refused.lock().expect("lock").iter() {
        assert_eq!(*status, 503, "`{slug}` was refused: {text}");
    }

    // The same file, a new process: it migrates (a no-op) and serves every acknowledged label.
    let mut restarted = Service::start(&database_url);
    restarted.wait_ready().await;
    let client = client();
    for slug in &acknowledged {
        let response = client
            .get(restarted.url(&format!("/v1/labels/{slug}")))
            .send()
            .await
            .expect("a response");
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "`{slug}` was acknowledged with 201 before the kill but is gone ({} acknowledged of {sent} sent)",
            acknowledged.len()
        );
        let body: Value = response.json().await.expect("a JSON body");
        assert_eq!(body["slug"], slug.as_str());
    }
    restarted.kill_9();

    // Each migration is recorded once: the restart found them applied and applied nothing.
    let mut raw = Raw::sqlite(&file).await;
    assert_eq!(
        raw.integer("SELECT COUNT(*) FROM \"_cmmv_migrations\"")
            .await,
        example_migrations()
    );
    assert_eq!(
        raw.integer("SELECT MAX(\"version\") FROM \"_cmmv_migrations\"")
            .await,
        example_migrations()
    );
    let stored = raw.integer("SELECT COUNT(*) FROM \"labels\"").await;
    assert!(
        usize::try_from(stored).expect("a count") >= acknowledged.len(),
        "{stored} labels stored, {} acknowledged",
        acknowledged.len()
    );
    raw.close().await;
}

// ---------------------------------------------------------------------------------------------
// 2. Filtered and sorted lists use the declared indexes
// ---------------------------------------------------------------------------------------------

/// Fills the tables with 200 projects of 25 tasks each (rows written with SQL, so that seeding
/// is quick), then a project of five tasks through the stores; returns that project's id.
async fn seed_for_plans(db: &Database, raw: &mut Raw) -> Uuid {
    let owner = Uuid::now_v7();
    match raw {
        Raw::Postgres(_) => {
            raw.execute(&format!(
                "INSERT INTO users (id, email, display_name, created_at, updated_at) \
                 VALUES ('{owner}', 'bulk@example.com', 'Bulk', now(), now());
                 INSERT INTO projects (id, name, owner_id, created_at, updated_at) \
                 SELECT gen_random_uuid(), 'Bulk ' || g, '{owner}', now(), now() \
                 FROM generate_series(1, 200) AS g;
                 INSERT INTO tasks (id, project_id, title, created_at, updated_at) \
                 SELECT gen_random_uuid(), p.id, 'Bulk task ' || p.name || ' ' || g, now(), now() \
                 FROM projects AS p CROSS JOIN generate_series(1, 25) AS g;"
            ))
            .await;
        }
        Raw::Sqlite(_) => {
            let at = "2030-01-01T00:00:00.000000Z";
            raw.execute(&format!(
                "INSERT INTO users (id, email, display_name, created_at, updated_at) \
                 VALUES ('{owner}', 'bulk@example.com', 'Bulk', '{at}', '{at}');
                 WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 200) \
                 INSERT INTO projects (id, name, owner_id, created_at, updated_at) \
                 SELECT printf('00000000-0000-7000-8000-%012d', n), 'Bulk ' || n, '{owner}', '{at}', '{at}' FROM g;
                 WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < 25) \
                 INSERT INTO tasks (id, project_id, title, created_at, updated_at) \
                 SELECT printf('%08d-0000-7000-8000-%012d', g.n, p.rowid), p.id, \
                        'Bulk task ' || p.name || ' ' || g.n, '{at}', '{at}' \
                 FROM projects AS p, g;"
            ))
            .await;
        }
    }
    let stores = Stores::database(db);
    let needle = project(&stores, "needle").await;
    for title in ["e", "d", "Needle title", "b", "a"] {
        task(&stores, &needle, json!({"title": title})).await;
    }
    // Statistics, as a database in service has them.
    raw.execute("ANALYZE").await;
    needle.id
}

async fn lists_use_the_declared_indexes(db: &Database, raw: &mut Raw) {
    let needle = seed_for_plans(db, raw).await;
    let tasks = db.store::<Task>();

    let in_project = crate::store_conformance::page(
        vec![("project_id", FieldValue::Text(needle.to_string()))],
        vec![("title", Direction::Ascending)],
    );
    let plan = db.explain_list::<Task>(&in_project).await.expect("a plan");
    assert!(
        plan.contains("tasks_project_id_idx"),
        "{:?}: a project's tasks by title use the project_id index:\n{plan}",
        db.dialect()
    );
    // The statement explained is the one the store runs.
    let page = tasks.list(&in_project).await.expect("a page");
    let titles: Vec<&str> = page.items.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, ["Needle title", "a", "b", "d", "e"]);

    let by_title = crate::store_conformance::page(
        vec![("title", FieldValue::Text("Needle title".to_owned()))],
        Vec::new(),
    );
    let plan = db.explain_list::<Task>(&by_title).await.expect("a plan");
    assert!(
        plan.contains("tasks_title_idx"),
        "{:?}: a title lookup uses the title index:\n{plan}",
        db.dialect()
    );
    let page = tasks.list(&by_title).await.expect("a page");
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].project_id, needle);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_lists_use_the_declared_indexes() {
    let (dir, db) = sqlite_database().await;
    let mut raw = Raw::sqlite(&dir.path().join("test.db")).await;
    lists_use_the_declared_indexes(&db, &mut raw).await;
    raw.close().await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lists_use_the_declared_indexes() {
    on_postgres("explain", |db, url| async move {
        let mut raw = Raw::postgres(&url).await;
        lists_use_the_declared_indexes(&db, &mut raw).await;
        raw.close().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 3. Foreign keys
// ---------------------------------------------------------------------------------------------

async fn foreign_keys_hold(db: &Database, raw: &mut Raw) {
    let stores = Stores::database(db);
    let project = project(&stores, "fk").await;
    let task = task(&stores, &project, json!({"title": "Referenced"})).await;

    // A reference to nothing.
    let orphan = create(
        &stores.comments,
        json!({"task_id": Uuid::now_v7(), "body": "orphan", "author_id": null}),
    )
    .await;
    // PostgreSQL names the constraint, hence the field; SQLite says only "FOREIGN KEY
    // constraint failed", and the store looks each reference up to name it (issue 17: the
    // 422 points at the field).
    let missing = |field: &str| StoreError::MissingReference {
        field: Some(field.to_owned()),
    };
    assert_eq!(orphan.map(|c| c.id), Err(missing("task_id")));
    // The second of two references, on create and on update.
    let ghost = create(
        &stores.comments,
        json!({"task_id": task.id, "body": "ghost", "author_id": Uuid::now_v7()}),
    )
    .await;
    assert_eq!(ghost.map(|c| c.id), Err(missing("author_id")));
    let nobody = Uuid::now_v7();
    let moved = stores
        .tasks
        .update(
            &task.id,
            &cmmv::Scope::All,
            Box::new(move |t: &mut Task| t.project_id = nobody),
        )
        .await;
    assert_eq!(moved.map(|t| t.id), Err(missing("project_id")));

    // on_delete: restrict (the default) keeps a project that still has tasks.
    assert_eq!(
        stores.projects.delete(&project.id, &cmmv::Scope::All).await,
        Err(StoreError::StillReferenced)
    );
    assert_eq!(
        stores
            .projects
            .get(&project.id, &cmmv::Scope::All)
            .await
            .map(|p| p.id),
        Ok(project.id)
    );
    // Deleting the owner would cascade to the project, which restrict still protects.
    assert_eq!(
        stores
            .users
            .delete(&project.owner_id, &cmmv::Scope::All)
            .await,
        Err(StoreError::StillReferenced)
    );
    assert!(
        stores
            .users
            .get(&project.owner_id, &cmmv::Scope::All)
            .await
            .is_ok()
    );

    // on_delete: cascade and set_null through the stores: deleting a user removes the projects
    // they own and clears their authorship of comments.
    let leaving = user(&stores, "leaving@example.com").await.expect("user");
    let owned = create(
        &stores.projects,
        json!({"name": "Owned by leaving", "owner_id": leaving.id}),
    )
    .await
    .expect("project");
    let authored: Comment = create(
        &stores.comments,
        json!({"task_id": task.id, "body": "by leaving", "author_id": leaving.id}),
    )
    .await
    .expect("comment");
    stores
        .users
        .delete(&leaving.id, &cmmv::Scope::All)
        .await
        .expect("deleted");
    assert_eq!(
        stores
            .projects
            .get(&owned.id, &cmmv::Scope::All)
            .await
            .map(|p| p.id),
        Err(StoreError::NotFound),
        "the user's project went with them"
    );
    let kept = stores
        .comments
        .get(&authored.id, &cmmv::Scope::All)
        .await
        .expect("kept");
    assert_eq!(kept.author_id, None, "the comment lost its author");

    // Tasks are soft-deleted: gone from get and list, the row still there, marked.
    stores
        .tasks
        .delete(&task.id, &cmmv::Scope::All)
        .await
        .expect("deleted");
    assert_eq!(
        stores
            .tasks
            .get(&task.id, &cmmv::Scope::All)
            .await
            .map(|t| t.id),
        Err(StoreError::NotFound)
    );
    let listed = stores
        .tasks
        .list(&crate::store_conformance::page(
            vec![("project_id", FieldValue::Text(project.id.to_string()))],
            Vec::new(),
        ))
        .await
        .expect("a page");
    assert!(listed.items.is_empty(), "a deleted task is not listed");
    assert_eq!(
        raw.integer(&format!(
            "SELECT COUNT(*) FROM tasks WHERE id = '{}' AND deleted_at IS NOT NULL",
            task.id
        ))
        .await,
        1,
        "the row remains, with deleted_at set"
    );
    assert_eq!(
        stores.tasks.delete(&task.id, &cmmv::Scope::All).await,
        Err(StoreError::NotFound),
        "a deleted task cannot be deleted again"
    );

    // When the row itself goes (a purge of soft-deleted rows), its comments go with it
    // (on_delete: cascade), and the project is free to go too.
    raw.execute(&format!("DELETE FROM tasks WHERE id = '{}'", task.id))
        .await;
    assert_eq!(
        stores
            .comments
            .get(&authored.id, &cmmv::Scope::All)
            .await
            .map(|c| c.id),
        Err(StoreError::NotFound),
        "the task's comments were deleted with it"
    );
    stores
        .projects
        .delete(&project.id, &cmmv::Scope::All)
        .await
        .expect("a project without tasks can be deleted");
}

/// The same rules over HTTP: 422 for a reference to nothing, 409 for a delete that restrict
/// forbids.
async fn foreign_keys_over_http(db: &Database) {
    let served = serve(db).await;
    let user = user(&Stores::database(db), "http@example.com")
        .await
        .expect("a user");
    let project = call(
        &served,
        Method::POST,
        "/v1/projects",
        Some(json!({"name": "Over HTTP", "owner_id": user.id})),
    )
    .await;
    assert_eq!(project.status, StatusCode::CREATED, "{}", project.text);
    let project_id = project.body["id"].as_str().expect("an id").to_owned();
    let task = call(
        &served,
        Method::POST,
        "/v1/tasks",
        Some(json!({"project_id": project_id, "title": "Held", "notes": null})),
    )
    .await;
    assert_eq!(task.status, StatusCode::CREATED, "{}", task.text);

    let orphan = call(
        &served,
        Method::POST,
        "/v1/comments",
        Some(json!({"task_id": Uuid::now_v7(), "body": "orphan", "author_id": null})),
    )
    .await;
    orphan.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let failures = orphan.failures();
    assert_eq!(failures.len(), 1, "{}", orphan.text);
    assert_eq!(failures[0].1, "reference", "{}", orphan.text);
    match db.dialect() {
        Dialect::Postgres => assert_eq!(failures[0].0, "/task_id", "{}", orphan.text),
        // SQLite does not say which reference failed.
        Dialect::Sqlite => assert!(
            ["", "/task_id"].contains(&failures[0].0.as_str()),
            "{}",
            orphan.text
        ),
    }
    assert_no_database_text(&orphan.text, &[]);

    let path = format!("/v1/projects/{project_id}");
    let refused = call(&served, Method::DELETE, &path, None).await;
    refused.problem(StatusCode::CONFLICT);
    assert_no_database_text(&refused.text, &[]);
    let still = call(&served, Method::GET, &path, None).await;
    assert_eq!(still.status, StatusCode::OK, "{}", still.text);
    served.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_foreign_keys_are_enforced() {
    // One connection: the one that migrated (with foreign keys off for the run) is the one the
    // stores use afterwards, so this also shows that migrating turns them back on.
    let (_dir, file, db) = sqlite_with(1, Duration::from_secs(10)).await;
    let mut raw = Raw::sqlite(&file).await;
    foreign_keys_hold(&db, &mut raw).await;
    foreign_keys_over_http(&db).await;
    raw.close().await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_foreign_keys_are_enforced() {
    on_postgres("foreign_keys", |db, url| async move {
        let mut raw = Raw::postgres(&url).await;
        foreign_keys_hold(&db, &mut raw).await;
        foreign_keys_over_http(&db).await;
        raw.close().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 4. Migrations at run time
// ---------------------------------------------------------------------------------------------

/// A later release's migration, by hand.
/// How many migrations the example's contracts have.
fn example_migrations() -> i64 {
    i64::try_from(todo::api::MIGRATIONS.len()).expect("a few")
}

/// The migration a next release of the example would bring.
fn add_tasks_extra() -> Migration {
    Migration {
        version: u32::try_from(todo::api::MIGRATIONS.len() + 1).expect("a few"),
        name: "add_tasks_extra",
        sqlite: "ALTER TABLE \"tasks\" ADD COLUMN \"extra\" TEXT",
        postgres: "ALTER TABLE \"tasks\" ADD COLUMN \"extra\" TEXT",
    }
}

async fn migrations_apply_once(db: &Database, raw: &mut Raw) {
    // The database is migrated already: running again changes nothing.
    let again = db.migrate(todo::api::MIGRATIONS).await.expect("a no-op");
    assert!(again.applied.is_empty(), "{again:?}");
    assert!(again.unknown.is_empty(), "{again:?}");

    // Data, then a release with one more migration: only that one applies, the data stays.
    let stores = Stores::database(db);
    let project = project(&stores, "migrations").await;
    let kept = task(
        &stores,
        &project,
        json!({"title": "Survives", "tags": ["x"]}),
    )
    .await;
    let mut next_release = todo::api::MIGRATIONS.to_vec();
    let extra = add_tasks_extra();
    next_release.push(extra);
    let report = db
        .migrate(&next_release)
        .await
        .expect("the next migration applies");
    assert_eq!(report.applied, [extra.version]);
    assert_eq!(
        stores.tasks.get(&kept.id, &cmmv::Scope::All).await,
        Ok(kept.clone())
    );
    assert_eq!(
        raw.integer("SELECT COUNT(*) FROM tasks WHERE extra IS NULL")
            .await,
        1,
        "the new column exists, empty on the old rows"
    );
    // The stores name their columns, so one they do not know is no obstacle.
    task(&stores, &project, json!({"title": "After migration 2"})).await;
    let again = db.migrate(&next_release).await.expect("a no-op");
    assert!(again.applied.is_empty(), "{again:?}");

    // The old release beside the new one (a rolling deploy): the next version is unknown,
    // tolerated.
    let old = db
        .migrate(todo::api::MIGRATIONS)
        .await
        .expect("an older binary starts");
    assert!(old.applied.is_empty(), "{old:?}");
    assert_eq!(old.unknown, [extra.version]);

    // An applied migration whose text changed is refused, and nothing is applied.
    raw.execute(
        "UPDATE \"_cmmv_migrations\" SET \"checksum\" = '0000000000000000' WHERE \"version\" = 1",
    )
    .await;
    let error = db
        .migrate(&next_release)
        .await
        .expect_err("an edited migration is refused");
    assert!(
        error.0.contains("migration 1") && error.0.contains("was changed"),
        "{error}"
    );
    assert_eq!(
        raw.integer("SELECT COUNT(*) FROM \"_cmmv_migrations\"")
            .await,
        example_migrations() + 1
    );
    assert_eq!(
        stores.tasks.get(&kept.id, &cmmv::Scope::All).await,
        Ok(kept)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_migrations_apply_once() {
    let (dir, db) = sqlite_database().await;
    let mut raw = Raw::sqlite(&dir.path().join("test.db")).await;
    migrations_apply_once(&db, &mut raw).await;
    raw.close().await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_migrations_apply_once() {
    on_postgres("migrations", |db, url| async move {
        let mut raw = Raw::postgres(&url).await;
        migrations_apply_once(&db, &mut raw).await;
        raw.close().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// 5. An unreachable database is a 503, and the service recovers when it is back
// ---------------------------------------------------------------------------------------------

/// A TCP proxy to the PostgreSQL server that the test can cut: stopping it closes the listener
/// and every forwarded connection, as a network partition or a database restart would.
pub(crate) struct Proxy {
    pub(crate) port: u16,
    target: SocketAddr,
    accept: Option<JoinHandle<()>>,
    forwarded: Arc<Mutex<JoinSet<()>>>,
}

impl Proxy {
    pub(crate) async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("the proxy binds");
        let port = listener.local_addr().expect("local address").port();
        let mut proxy = Proxy {
            port,
            target,
            accept: None,
            forwarded: Arc::new(Mutex::new(JoinSet::new())),
        };
        proxy.accept = Some(proxy.serve(listener));
        proxy
    }

    fn serve(&self, listener: TcpListener) -> JoinHandle<()> {
        let (target, forwarded) = (self.target, self.forwarded.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                forwarded.lock().expect("lock").spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        })
    }

    /// Refuses new connections and drops every forwarded one.
    pub(crate) async fn stop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            // Cancelled: the listener is dropped once this returns.
            let _ = accept.await;
        }
        let mut forwarded = std::mem::take(&mut *self.forwarded.lock().expect("lock"));
        forwarded.abort_all();
        while forwarded.join_next().await.is_some() {}
    }

    /// Listens on the same port again.
    async fn resume(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port))
            .await
            .expect("the proxy binds its port again");
        self.accept = Some(self.serve(listener));
    }
}

/// `url` with its host and port replaced by 127.0.0.1:`port`.
pub(crate) fn through_port(url: &str, port: u16) -> String {
    let (scheme, rest) = url.split_once("://").expect("a URL");
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host_start = authority.rfind('@').map_or(0, |at| at + 1);
    format!(
        "{scheme}://{}127.0.0.1:{port}{path}",
        &authority[..host_start]
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unreachable_is_503_until_it_returns() {
    let Ok(server) = std::env::var(DATABASE_URL_VAR) else {
        skip("postgres_unreachable_is_503_until_it_returns");
        return;
    };
    on_postgres("unreachable", |_, url| async move {
        let options = sqlx::postgres::PgConnectOptions::from_str(&server).expect("a server URL");
        let target = tokio::net::lookup_host((options.get_host(), options.get_port()))
            .await
            .expect("the server's address")
            .next()
            .expect("an address");
        let mut proxy = Proxy::start(target).await;
        let db = Database::connect(&DatabaseSettings {
            max_connections: 4,
            acquire_timeout: Duration::from_secs(1),
            ..DatabaseSettings::new(through_port(&url, proxy.port))
        })
        .await
        .expect("PostgreSQL connects through the proxy");
        let served = serve(&db).await;
        let port = proxy.port.to_string();

        let before = call(
            &served,
            Method::POST,
            "/v1/labels",
            Some(json!({"slug": "before"})),
        )
        .await;
        assert_eq!(before.status, StatusCode::CREATED, "{}", before.text);
        let ready = call(&served, Method::GET, "/health/ready", None).await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);

        proxy.stop().await;
        for (method, path, body) in [
            (Method::GET, "/v1/labels/before", None),
            (Method::GET, "/v1/labels", None),
            (Method::POST, "/v1/labels", Some(json!({"slug": "during"}))),
            (Method::DELETE, "/v1/labels/before", None),
        ] {
            let answer = call(&served, method.clone(), path, body).await;
            answer.problem(StatusCode::SERVICE_UNAVAILABLE);
            assert_no_database_text(&answer.text, &[port.as_str()]);
        }
        let ready = call(&served, Method::GET, "/health/ready", None).await;
        assert_eq!(
            ready.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{}",
            ready.text
        );
        assert_eq!(
            ready.body["checks"]["store"]["status"], "error",
            "{}",
            ready.text
        );
        assert_no_database_text(&ready.text, &[port.as_str()]);

        proxy.resume().await;
        // The pool reconnects on demand; bounded, in case the first attempts still see the cut.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let answer = call(&served, Method::GET, "/v1/labels/before", None).await;
            if answer.status == StatusCode::OK {
                break;
            }
            answer.problem(StatusCode::SERVICE_UNAVAILABLE);
            assert!(
                tokio::time::Instant::now() < deadline,
                "the service did not recover within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let after = call(
            &served,
            Method::POST,
            "/v1/labels",
            Some(json!({"slug": "after"})),
        )
        .await;
        assert_eq!(after.status, StatusCode::CREATED, "{}", after.text);
        let ready = call(&served, Method::GET, "/health/ready", None).await;
        assert_eq!(ready.status, StatusCode::OK, "{}", ready.text);
        let listed = call(&served, Method::GET, "/v1/labels", None).await;
        assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
        let mut slugs: Vec<&str> = listed.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter_map(|l| l["slug"].as_str())
            .collect();
        slugs.sort_unstable();
        assert_eq!(
            slugs,
            ["after", "before"],
            "nothing was written during the cut"
        );

        served.shutdown().await;
        db.close().await;
        proxy.stop().await;
    })
    .await;
}

/// SQLite's natural counterpart: another process holds the write lock for longer than the
/// service waits. Writes are a 503 (reads go on, WAL), and succeed once the lock is released.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_write_lock_held_elsewhere_is_503_until_released() {
    let (_dir, file, db) = sqlite_with(4, Duration::from_secs(1)).await;
    let served = serve(&db).await;
    let first = call(
        &served,
        Method::POST,
        "/v1/labels",
        Some(json!({"slug": "first"})),
    )
    .await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);

    let mut holder = Raw::sqlite(&file).await;
    holder.execute("BEGIN IMMEDIATE").await;
    let blocked = call(
        &served,
        Method::POST,
        "/v1/labels",
        Some(json!({"slug": "blocked"})),
    )
    .await;
    blocked.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        blocked.retry_after.as_deref(),
        Some("1"),
        "{}",
        blocked.text
    );
    assert_no_database_text(&blocked.text, &[]);
    let read = call(&served, Method::GET, "/v1/labels/first", None).await;
    assert_eq!(
        read.status,
        StatusCode::OK,
        "readers are not blocked: {}",
        read.text
    );
    holder.execute("ROLLBACK").await;

    let retried = call(
        &served,
        Method::POST,
        "/v1/labels",
        Some(json!({"slug": "blocked"})),
    )
    .await;
    assert_eq!(retried.status, StatusCode::CREATED, "{}", retried.text);
    served.shutdown().await;
    holder.close().await;
    db.close().await;
}
