//! The example service as a library, so that tests and benchmarks can build the same app.
//! Everything under [`api`] is generated from `contracts/` by the build script; this file
//! supplies the stores and the custom operations.

// Generated code must compile without a single warning in a user crate.
#![deny(warnings)]

use std::sync::Arc;

use cmmv::store::{Direction, Filter, ListQuery, StoreError};
use cmmv::{App, Context, MemoryStore, Problem, Settings, Store};

/// The generated API: types, validation, handler traits and routes.
pub mod api {
    include!(concat!(env!("OUT_DIR"), "/cmmv/rust/mod.rs"));
}

use api::*;

/// The service's state: the generated `Stores`, one per contract. The contracts without
/// custom operations could be served by `Stores` itself; `Todo` serves them all, as a
/// service with custom operations does.
#[derive(Debug)]
pub struct Todo {
    stores: Stores,
}

impl Todo {
    /// Every contract kept in memory.
    pub fn in_memory() -> Self {
        Self {
            stores: Stores::in_memory(),
        }
    }

    /// Every contract in the database's tables (migrate it first with [`api::MIGRATIONS`]).
    pub fn with_database(db: &cmmv::sql::Database) -> Self {
        Self {
            stores: Stores::with_database(db),
        }
    }

    /// In the database when there is one, else in memory.
    pub fn open(db: Option<&cmmv::sql::Database>) -> Self {
        Self {
            stores: Stores::open(db),
        }
    }

    /// Every contract in the stores given (for tests that seed them); notes in memory.
    pub fn with_stores(
        user: Store<User>,
        project: Store<Project>,
        task: Store<Task>,
        comment: Store<Comment>,
        label: Store<Label>,
    ) -> Self {
        Self {
            stores: Stores {
                user,
                project,
                task,
                comment,
                label,
                note: MemoryStore::shared(),
            },
        }
    }

    /// Where the login module keeps each account's `User` record.
    pub fn accounts(&self) -> Arc<dyn cmmv::auth::AccountRecords> {
        self.stores.accounts()
    }

    /// Tasks in the given store, everything else in memory (for benchmarks that seed it).
    pub fn with_task_store(task: Store<Task>) -> Self {
        Self {
            stores: Stores {
                task,
                ..Stores::in_memory()
            },
        }
    }

    /// Every task, page by page (each after the last one's position), for the operations
    /// that look at all of them.
    async fn all_tasks(&self, filters: Vec<Filter>) -> Result<Vec<Task>, Problem> {
        let mut all = Vec::new();
        let mut query = ListQuery {
            sort: vec![("created_at".to_owned(), Direction::Ascending)],
            filters,
            ..ListQuery::new(200)
        };
        loop {
            let page = self
                .stores
                .task
                .list(&query)
                .await
                .map_err(|e| e.into_problem("Task", None))?;
            if let Some(last) = page.items.last() {
                query.after = Some(query.position(last));
            }
            all.extend(page.items);
            if !page.more {
                return Ok(all);
            }
        }
    }

    async fn set_done(&self, id: cmmv::types::Uuid, done: bool) -> Result<Task, Problem> {
        let now = cmmv::types::DateTime::now();
        self.stores
            .task
            .update(
                &id,
                &cmmv::Scope::All,
                Box::new(move |task: &mut Task| {
                    task.done = done;
                    task.updated_at = now;
                }),
            )
            .await
            .map_err(|e: StoreError| e.into_problem("Task", Some(&id.to_string())))
    }
}

impl UserHandlers for Todo {
    fn user_store(&self) -> &Store<User> {
        &self.stores.user
    }
}

impl ProjectHandlers for Todo {
    fn project_store(&self) -> &Store<Project> {
        &self.stores.project
    }
}

impl TaskHandlers for Todo {
    fn task_store(&self) -> &Store<Task> {
        &self.stores.task
    }

    async fn complete(
        &self,
        _ctx: Context,
        id: cmmv::types::Uuid,
        _body: CompleteTask,
    ) -> Result<Task, Problem> {
        self.set_done(id, true).await
    }

    async fn reopen(&self, _ctx: Context, id: cmmv::types::Uuid) -> Result<Task, Problem> {
        self.set_done(id, false).await
    }

    async fn stats(&self, _ctx: Context, query: TaskStatsQuery) -> Result<TaskStats, Problem> {
        let filters = query
            .project_id
            .map(|id| {
                vec![Filter::eq(
                    "project_id",
                    cmmv::resource::FieldValue::Text(id.to_string()),
                )]
            })
            .unwrap_or_default();
        let tasks = self.all_tasks(filters).await?;
        let mut by_priority = std::collections::BTreeMap::new();
        for task in tasks.iter().filter(|t| !t.done) {
            *by_priority.entry(task.priority.to_string()).or_insert(0i64) += 1;
        }
        Ok(TaskStats {
            total: tasks.len() as i64,
            done: tasks.iter().filter(|t| t.done).count() as i64,
            by_priority,
        })
    }

    async fn search(&self, _ctx: Context, query: TaskSearchQuery) -> Result<Vec<Task>, Problem> {
        let needle = query.q.to_lowercase();
        let limit = usize::try_from(query.max_results).unwrap_or(0);
        let tasks = self.all_tasks(Vec::new()).await?;
        Ok(tasks
            .into_iter()
            .filter(|t| t.title.to_lowercase().contains(&needle))
            .take(limit)
            .collect())
    }
}

impl CommentHandlers for Todo {
    fn comment_store(&self) -> &Store<Comment> {
        &self.stores.comment
    }
}

impl LabelHandlers for Todo {
    fn label_store(&self) -> &Store<Label> {
        &self.stores.label
    }
}

impl NoteHandlers for Todo {
    fn note_store(&self) -> &Store<Note> {
        &self.stores.note
    }
}

/// `settings`, and whether a signing secret was drawn for this run because no JWT key is
/// configured: so that the example runs with nothing set. Tokens signed with it die with the
/// process (refresh tokens, kept in the database, do not).
pub fn with_development_key(mut settings: Settings) -> (Settings, bool) {
    if settings.jwt.has_keys() {
        return (settings, false);
    }
    // Two random UUIDs: 244 random bits, more than HS256 needs, from the OS's generator.
    let secret = format!(
        "{}{}",
        cmmv::types::Uuid::new_v4().simple(),
        cmmv::types::Uuid::new_v4().simple()
    );
    settings.jwt.hs256_secret = Some(cmmv::settings::Secret::new(secret));
    settings.jwt.issuer.get_or_insert_with(|| "todo".to_owned());
    if settings.jwt.audience.is_empty() {
        settings.jwt.audience = vec!["todo".to_owned()];
    }
    (settings, true)
}

/// The service as `cargo run -p todo` runs it: [`assemble`]d from the settings, served until
/// shut down (expired refresh tokens purged hourly), then the database closed so that every
/// connection is returned and SQLite's log is checkpointed.
pub async fn serve(settings: Settings) -> Result<std::process::ExitCode, String> {
    start(settings)
        .await?
        .serve()
        .await
        .map_err(|e| e.to_string())
}

/// The example service, assembled but not yet serving.
#[derive(Debug)]
pub struct Service {
    pub app: App,
    /// The login module mounted on `app`.
    pub login: cmmv::auth::Login,
    /// `None` for `memory:`.
    pub database: Option<cmmv::sql::Database>,
}

/// The runtime's service (`cmmv::service`) does what the settings decide — the database
/// connected and migrated (or everything in memory for `memory:`), the Redis limiter when
/// `CMMV_REDIS_URL` is set, the login module on the same database — and the example adds its
/// stores and routes.
async fn start(settings: Settings) -> Result<cmmv::service::Service, String> {
    let write_queue = settings.database_write_queue;
    let service = cmmv::service::Service::start(settings, &API)
        .await
        .map_err(|e| e.to_string())?;
    let todo = Arc::new(Todo::open(service.database()));
    let queue = service
        .database()
        .and_then(|db| WriteQueue::new(db.clone(), write_queue));
    Ok(service
        .accounts(todo.accounts())
        .builder(|builder| match queue {
            Some(queue) => with_todo(builder, &todo).health_indicator(queue),
            None => with_todo(builder, &todo),
        }))
}

/// A health indicator of the example's own: SQLite's writer queue. Every write waits in it for
/// the single writer, and a write arriving when it is full is refused with a 503
/// (`CMMV_DATABASE_WRITE_QUEUE`); past [`WriteQueue::WARN_PERCENT`] of it, `/health/ready`
/// lists `write_queue` as failing and the service as `degraded`, the cue for an alert before
/// clients see refusals. Not critical: reads still work, and the load balancer taking the
/// instance out (with SQLite, the only one) would refuse every write instead of some.
#[derive(Debug)]
pub struct WriteQueue {
    database: cmmv::sql::Database,
    capacity: u64,
}

impl WriteQueue {
    /// The share of the queue, in percent, from which the instance reports itself degraded.
    pub const WARN_PERCENT: u64 = 80;

    /// The indicator of `database`'s writer, whose queue holds `capacity` writes; `None` on
    /// PostgreSQL, which has no writer queue.
    pub fn new(database: cmmv::sql::Database, capacity: usize) -> Option<Self> {
        database.writer_stats()?;
        Some(Self {
            database,
            capacity: u64::try_from(capacity).unwrap_or(u64::MAX),
        })
    }
}

impl cmmv::HealthIndicator for WriteQueue {
    fn name(&self) -> &str {
        "write_queue"
    }

    fn critical(&self) -> bool {
        false
    }

    /// Reading counters takes no time: anything slower is itself a symptom.
    fn timeout(&self) -> Option<std::time::Duration> {
        Some(std::time::Duration::from_millis(100))
    }

    fn check(&self) -> cmmv::health::CheckFuture<'_> {
        Box::pin(async move {
            let stats = self
                .database
                .writer_stats()
                .ok_or("the database has no writer")?;
            let mut details = cmmv::health::Details::new();
            details.insert("queued".to_owned(), stats.queued.into());
            details.insert("capacity".to_owned(), self.capacity.into());
            // Writes refused since start (a full queue, too long a wait): a rate to alert on.
            details.insert("refused".to_owned(), stats.refused.into());
            let percent = stats.queued.saturating_mul(100) / self.capacity.max(1);
            if percent >= Self::WARN_PERCENT {
                let failure = cmmv::health::CheckFailure::new("the write queue is nearly full");
                return Err(failure.with_details(details).into());
            }
            Ok(details)
        })
    }
}

/// [`serve`]'s app, built but not serving.
pub async fn assemble(settings: Settings) -> Result<Service, String> {
    let service = start(settings).await?;
    let login = service
        .login()
        .cloned()
        .ok_or("the documents describe the login module")?;
    let (app, database) = service.build().map_err(|e| e.to_string())?;
    Ok(Service {
        app,
        login,
        database,
    })
}

/// The app: every contract's routes (each with its rate limits and guard), the login module
/// (its accounts in memory), the OpenAPI documents and a readiness check per store.
pub fn app(settings: Settings, todo: &Arc<Todo>) -> Result<App, cmmv::BuildError> {
    let login = login_in_memory(&settings)?.with_records(todo.accounts());
    app_builder(settings, todo).login(&login).build()
}

/// The login module over accounts kept in memory, signing with the settings' key.
pub fn login_in_memory(settings: &Settings) -> Result<cmmv::auth::Login, cmmv::BuildError> {
    let accounts = Arc::new(cmmv::auth::MemoryAuthStore::new());
    Ok(cmmv::auth::Login::from_settings(accounts, settings)?)
}

/// The app's parts, for apps that add to them (a shared limiter); the login module is left to
/// the caller, who must mount it (`AppBuilder::login`): the documents describe it.
pub fn app_builder(settings: Settings, todo: &Arc<Todo>) -> cmmv::AppBuilder {
    with_todo(App::builder(settings).api(&API), todo)
}

/// Every contract's routes (the generated `routes`, each with its rate limits and guard) and a
/// readiness check of the stores.
fn with_todo(builder: cmmv::AppBuilder, todo: &Arc<Todo>) -> cmmv::AppBuilder {
    let builder = builder
        .routes(routes(todo.clone()))
        .try_it("/v1/labels")
        .metrics_source(Arc::new(cmmv::build_info!()));
    let store = todo.stores.task.clone();
    builder.readiness_check("store", move || {
        let store = store.clone();
        async move {
            // Readiness bodies are read by probes and people: say what is wrong, never the
            // driver's message (it is logged by the store).
            store.check().await.map_err(|e| {
                match e {
                    StoreError::Unavailable(_) => "the database is unreachable",
                    _ => "the database answers with errors",
                }
                .into()
            })
        }
    })
}
