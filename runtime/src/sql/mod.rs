//! SQL storage: SQLite (a file, nothing to install) and PostgreSQL behind the same
//! [`Repository`](crate::store::Repository), chosen by the database URL.
//!
//! ```no_run
//! # async fn run() -> Result<(), cmmv::sql::DatabaseError> {
//! # const MIGRATIONS: &[cmmv::sql::Migration] = &[];
//! let settings = cmmv::Settings::from_env().expect("settings");
//! let db = cmmv::sql::Database::connect(&settings.database()).await?;
//! db.migrate(MIGRATIONS).await?; // generated from the contracts
//! // let tasks: cmmv::Store<Task> = db.store();
//! # Ok(()) }
//! ```
//!
//! Tables and migrations come from the contracts (see `docs/contracts.md`, storage); generated
//! code implements [`Record`] to map a resource to its row. Every statement binds its values
//! (see `query`); SQLite runs in WAL mode with `synchronous=FULL`, so that a write the service
//! acknowledged survives a crash of the process or the machine.

mod conn;
mod migrate;
mod query;
mod store;
mod value;
mod writer;

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::Connection as _;
use sqlx::Pool;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePoolOptions,
    SqliteSynchronous,
};

pub(crate) use conn::{Conn, unavailable_or_internal};
pub use migrate::{Migration, MigrationReport};
pub use query::Dialect;
pub use value::{
    Column, ColumnError, ColumnKind, Row, SqlColumn, SqlValue, enum_from_sql, enum_to_sql,
    json_from_sql, json_to_sql,
};

pub use writer::WriterStats;

pub(crate) use self::writer::Changes;
use self::writer::{Writer, WriterLimits};
use crate::resource::Resource;
use crate::store::{BoxFuture, Cause, ListQuery, Store, StoreError};

/// A resource that lives in a table. Implemented by generated code.
#[doc(hidden)]
pub trait Record: Resource {
    /// The table, `storage.table` in the contract.
    const TABLE: &'static str;
    /// Every stored field in declaration order (the columns `to_row` and `from_row` use).
    const COLUMNS: &'static [Column];
    /// Deletes mark rows with `deleted_at` instead of removing them.
    const SOFT_DELETE: bool;
    /// The reference fields: which column names a row of which table, so that a write the
    /// database refuses for a missing row is answered at the field that names it.
    const REFERENCES: &'static [ForeignKey] = &[];

    /// The row's values, one per column of [`Record::COLUMNS`].
    fn to_row(&self) -> Vec<SqlValue>;

    /// The resource a row holds.
    fn from_row(row: &mut Row) -> Result<Self, ColumnError>;
}

/// A reference field's column and the table and key column it names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub struct ForeignKey {
    /// The referring column (the field's name).
    pub column: &'static str,
    /// The table referred to.
    pub table: &'static str,
    /// Its primary-key column.
    pub key: &'static str,
}

/// How to reach the database: its URL, the pool's limits and the SQLite writer's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// `sqlite://todo.db` (created if missing), `sqlite::memory:`, or `postgres://...`.
    pub url: String,
    /// PostgreSQL: connections the pool keeps open at most. SQLite: read-only connections at
    /// most; there are four per core of the machine when that is fewer (each is a thread
    /// that mostly waits for the query's hand-over, so a few per core keep the cores busy).
    pub max_connections: u32,
    /// How long a request waits for a connection (or a new connection for the server), and on
    /// SQLite how long a write waits for the writer, before the store reports itself
    /// unavailable. Also SQLite's busy timeout.
    pub acquire_timeout: Duration,
    /// SQLite: writes waiting for the writer at most; one more is refused at once (503).
    pub write_queue: usize,
    /// SQLite: writes committed in one transaction at most.
    pub write_batch: usize,
}

impl DatabaseSettings {
    /// Writes that may wait for SQLite's writer: enough for bursts of many clients, while
    /// the memory they hold (a resource each) stays small.
    pub const DEFAULT_WRITE_QUEUE: usize = 1024;
    /// Writes per commit: a batch of 256 small rows takes the write lock for a few
    /// milliseconds, well under one fsync of a typical disk.
    pub const DEFAULT_WRITE_BATCH: usize = 256;

    /// The settings for `url` with the defaults of [`crate::Settings`].
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseSettings {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
            write_queue: Self::DEFAULT_WRITE_QUEUE,
            write_batch: Self::DEFAULT_WRITE_BATCH,
        }
    }
}

/// A failure to open or migrate the database, for the operator at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseError(pub String);

impl fmt::Display for DatabaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DatabaseError {}

/// SQLite read-only connections per core (see `connect_sqlite`).
const READERS_PER_CORE: usize = 4;

/// Prepared statements each connection keeps: every contract's few statements, and the
/// list queries' variants, without re-preparing.
const STATEMENT_CACHE: usize = 256;

/// One database, cheap to clone, shared by every contract's store.
///
/// On SQLite it is a pool of read-only connections (`PRAGMA query_only`) and one writer task
/// owning the only connection that writes (group commit, see `writer.rs`); on PostgreSQL,
/// one pool.
#[derive(Debug, Clone)]
pub struct Database {
    backend: Backend,
    /// How long reads waited for a pooled connection: the pool's pressure, for `/metrics`.
    waits: Arc<crate::metrics::DurationHistogram>,
}

#[derive(Debug, Clone)]
enum Backend {
    Sqlite(Arc<SqliteBackend>),
    Postgres(Pool<Postgres>),
}

#[derive(Debug)]
struct SqliteBackend {
    reads: Pool<Sqlite>,
    writer: Writer,
    /// The writer's connect options, for migrations, which run on a connection of their own.
    options: SqliteConnectOptions,
}

impl Database {
    /// The app's read pool, for runtime components that own tables and write their own
    /// statements (the login module's store, whose token rotation needs a conditional update
    /// the repository has no word for). Exactly one of this and [`Database::postgres_pool`] is
    /// `Some`. Their writes go through [`Database::write`].
    pub(crate) fn sqlite_pool(&self) -> Option<&sqlx::Pool<sqlx::Sqlite>> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Some(&sqlite.reads),
            Backend::Postgres(_) => None,
        }
    }

    pub(crate) fn postgres_pool(&self) -> Option<&sqlx::Pool<sqlx::Postgres>> {
        match &self.backend {
            Backend::Postgres(pool) => Some(pool),
            Backend::Sqlite(_) => None,
        }
    }
}

impl Database {
    /// Opens the database (the SQLite writer and read pool, or the PostgreSQL pool) and checks
    /// that it answers.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Database, DatabaseError> {
        let url = settings.url.as_str();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite(Arc::new(Self::connect_sqlite(settings).await?))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url)
                .map_err(|e| DatabaseError(format!("invalid PostgreSQL URL: {}", redact(url, &e))))?
                .statement_cache_capacity(STATEMENT_CACHE);
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(settings.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(|e| {
                    DatabaseError(format!("cannot connect to PostgreSQL: {}", redact(url, &e)))
                })?;
            Backend::Postgres(pool)
        } else {
            return Err(DatabaseError(format!(
                "unsupported database URL `{}`: expected `sqlite://FILE` or `postgres://...`",
                url.split('@').next_back().unwrap_or(url)
            )));
        };
        Ok(Database {
            backend,
            waits: Arc::default(),
        })
    }

    async fn connect_sqlite(settings: &DatabaseSettings) -> Result<SqliteBackend, DatabaseError> {
        let url = settings.url.as_str();
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| DatabaseError(format!("invalid SQLite URL `{url}`: {e}")))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before the service answers, even if the machine
            // loses power; NORMAL would only survive a crash of the process.
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(settings.acquire_timeout)
            .statement_cache_capacity(STATEMENT_CACHE);
        // The writer's connection first: it creates the file and puts it in WAL mode, which
        // the file keeps for every later connection.
        let writer = SqliteConnection::connect_with(&options)
            .await
            .map_err(|e| DatabaseError(format!("cannot open `{url}`: {e}")))?;
        let writer = Writer::start(
            writer,
            WriterLimits {
                queue: settings.write_queue,
                batch: settings.write_batch,
                max_wait: settings.acquire_timeout,
            },
        )
        .map_err(|e| DatabaseError(format!("cannot start the writer of `{url}`: {e}")))?;
        // Four read connections per core: each sqlx SQLite connection is a thread of its own,
        // and a read spends most of its time handing the query over and the rows back, not on
        // a core; with one connection per core, GETs queued for a connection while the cores
        // idled (0.57x of axum + sqlx on a pool of ten, against 1.04x with four per core).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let readers = settings
            .max_connections
            .min(u32::try_from(cores * READERS_PER_CORE).unwrap_or(u32::MAX))
            .max(1);
        // `query_only`: a read connection cannot write, even by mistake, so every write is
        // the writer's and none contends for the lock. (Set after the journal mode, which the
        // options list first.)
        let reads = SqlitePoolOptions::new()
            .max_connections(readers)
            .min_connections(readers)
            .acquire_timeout(settings.acquire_timeout)
            .connect_with(options.clone().pragma("query_only", "ON"))
            .await
            .map_err(|e| DatabaseError(format!("cannot open `{url}`: {e}")))?;
        Ok(SqliteBackend {
            reads,
            writer,
            options,
        })
    }

    /// Which database this is, which decides the SQL text its stores and migrations run.
    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The store of a contract's resources in this database.
    pub fn store<R: Record>(&self) -> Store<R> {
        std::sync::Arc::new(store::SqlStore::<R>::new(self.clone()))
    }

    /// What SQLite's writer has done so far (`None` on PostgreSQL, which has no writer).
    pub fn writer_stats(&self) -> Option<WriterStats> {
        match &self.backend {
            Backend::Sqlite(sqlite) => Some(sqlite.writer.stats()),
            Backend::Postgres(_) => None,
        }
    }

    /// Whether the database answers a trivial query and, on SQLite, the writer takes writes
    /// (for readiness).
    pub async fn check(&self) -> Result<(), StoreError> {
        if let Backend::Sqlite(sqlite) = &self.backend
            && !sqlite.writer.is_running()
        {
            return Err(StoreError::Unavailable("the writer is stopped".into()));
        }
        let mut conn = self.acquire().await?;
        conn.conn()
            .integer(query::Statement {
                // BIGINT: `integer` reads an i64, and PostgreSQL's plain `1` is an INT4 that
                // does not decode as one, which made every PostgreSQL readiness check fail.
                sql: "SELECT CAST(1 AS BIGINT)".to_owned().into(),
                params: Vec::new(),
            })
            .await
            .map(drop)
            .map_err(|e| StoreError::Unavailable(Cause::from_error(e)))
    }

    /// The database's plan for the list query a store of `R` runs for `query`: SQLite's
    /// `EXPLAIN QUERY PLAN` details or PostgreSQL's `EXPLAIN` lines, one per line. For checking
    /// that lists use the indexes the contracts declare.
    pub async fn explain_list<R: Record>(&self, query: &ListQuery) -> Result<String, StoreError> {
        let store = store::SqlStore::<R>::new(self.clone());
        let mut statement = store.list_statement(query)?;
        // SQLite's rows are (id, parent, notused, detail); PostgreSQL's one line of text.
        let (prefix, kinds) = match self.dialect() {
            Dialect::Sqlite => (
                "EXPLAIN QUERY PLAN ",
                vec![
                    ColumnKind::Int64,
                    ColumnKind::Int64,
                    ColumnKind::Int64,
                    ColumnKind::Text,
                ],
            ),
            Dialect::Postgres => ("EXPLAIN ", vec![ColumnKind::Text]),
        };
        statement.sql = query::SqlText::Built(format!("{prefix}{}", statement.sql.as_str()));
        let mut conn = self.acquire().await?;
        let rows = conn
            .conn()
            .rows(statement, &kinds)
            .await
            .map_err(|e| StoreError::Internal(Cause::from_error(e)))?;
        Ok(rows
            .into_iter()
            .filter_map(|mut row| match row.pop() {
                Some(SqlValue::Text(line)) => Some(line),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// Commits what SQLite's writer has queued, then closes every connection, waiting for
    /// those in use to be returned (graceful shutdown).
    pub async fn close(&self) {
        match &self.backend {
            Backend::Sqlite(sqlite) => {
                sqlite.writer.close().await;
                sqlite.reads.close().await;
            }
            Backend::Postgres(pool) => pool.close().await,
        }
    }

    /// A connection for reading: from SQLite's read-only pool, or PostgreSQL's pool.
    async fn acquire(&self) -> Result<PooledConn, StoreError> {
        let unavailable = |e: sqlx::Error| StoreError::Unavailable(Cause::from_error(e));
        let started = std::time::Instant::now();
        let conn = match &self.backend {
            Backend::Sqlite(sqlite) => sqlite.reads.acquire().await.map(PooledConn::Sqlite),
            Backend::Postgres(pool) => pool.acquire().await.map(PooledConn::Postgres),
        };
        // A wait that ended in a timeout is the longest of all: observed too.
        self.waits.observe(started.elapsed());
        conn.map_err(unavailable)
    }

    /// Runs `work` as one atomic write and returns its result once it is durable.
    ///
    /// On SQLite, `work` runs on the writer's connection in a savepoint of the writer's next
    /// batch (group commit, see `writer.rs`; `changes` says whether it needs a savepoint of
    /// its own there); on PostgreSQL, in a transaction of its own on a pooled connection. Either way an error from `work` undoes every statement it ran and
    /// nothing else, and `Ok` means committed. `work` is `'static` because on SQLite it runs
    /// on the writer's thread, after the caller may have been cancelled.
    pub(crate) async fn write<T, F>(&self, changes: Changes, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(Conn<'c>) -> BoxFuture<'c, Result<T, StoreError>> + Send + 'static,
    {
        match &self.backend {
            Backend::Sqlite(sqlite) => {
                sqlite
                    .writer
                    .run(changes, move |conn| work(Conn::Sqlite(conn)))
                    .await
            }
            Backend::Postgres(pool) if changes == Changes::Alone => {
                // One changing statement and no read to hold: it commits by itself, as
                // durably as a transaction's `COMMIT`, and a failed one changes nothing.
                let mut conn = pool.acquire().await.map_err(unavailable_or_internal)?;
                work(Conn::Postgres(&mut conn)).await
            }
            Backend::Postgres(pool) => {
                let mut tx = pool.begin().await.map_err(unavailable_or_internal)?;
                // An error returns early and drops the transaction, which rolls it back.
                let value = work(Conn::Postgres(&mut tx)).await?;
                tx.commit().await.map_err(unavailable_or_internal)?;
                Ok(value)
            }
        }
    }
}

/// The connections of a database's pool (SQLite: its read pool) at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolState {
    /// Connections open, idle or in use.
    pub open: u32,
    /// Open connections nobody holds (never more than `open`).
    pub idle: u32,
    /// The pool's limit.
    pub max: u32,
}

impl Database {
    /// The pool's connections now: for health details and metrics.
    pub fn pool_state(&self) -> PoolState {
        let (open, idle, max) = match &self.backend {
            Backend::Sqlite(sqlite) => (
                sqlite.reads.size(),
                sqlite.reads.num_idle(),
                sqlite.reads.options().get_max_connections(),
            ),
            Backend::Postgres(pool) => (
                pool.size(),
                pool.num_idle(),
                pool.options().get_max_connections(),
            ),
        };
        let idle = u32::try_from(idle).unwrap_or(u32::MAX).min(open);
        PoolState { open, idle, max }
    }
}

/// The pool's state at scrape time, and the waits for its connections.
impl crate::metrics::MetricsSource for Database {
    fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let PoolState { open, idle, max } = self.pool_state();
        let _ = write!(
            out,
            "# HELP cmmv_db_pool_connections Pooled database connections, by state.\n\
             # TYPE cmmv_db_pool_connections gauge\n\
             cmmv_db_pool_connections{{state=\"in_use\"}} {}\n\
             cmmv_db_pool_connections{{state=\"idle\"}} {idle}\n\
             # HELP cmmv_db_pool_max_connections The pool's limit.\n\
             # TYPE cmmv_db_pool_max_connections gauge\n\
             cmmv_db_pool_max_connections {max}\n",
            open - idle,
        );
        self.waits.render(
            "cmmv_db_pool_acquire_duration_seconds",
            "Time a request waited for a pooled connection.",
            out,
        );
        if let Some(writer) = self.writer_stats() {
            let _ = write!(
                out,
                "# HELP cmmv_db_write_queue_length SQLite writes waiting for the writer.\n\
                 # TYPE cmmv_db_write_queue_length gauge\n\
                 cmmv_db_write_queue_length {}\n",
                writer.queued
            );
        }
    }
}

/// Hides the password of a URL in messages.
fn redact(url: &str, error: &dyn fmt::Display) -> String {
    crate::settings::redact_url_secrets(url, &error.to_string())
}

enum PooledConn {
    Sqlite(PoolConnection<Sqlite>),
    Postgres(PoolConnection<Postgres>),
}

impl PooledConn {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            PooledConn::Sqlite(conn) => Conn::Sqlite(conn),
            PooledConn::Postgres(conn) => Conn::Postgres(conn),
        }
    }
}
