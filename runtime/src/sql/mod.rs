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

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Pool, Transaction};

pub(crate) use conn::unavailable_or_internal;
pub use migrate::{Migration, MigrationReport};
pub use query::Dialect;
pub use value::{
    Column, ColumnKind, Row, SqlColumn, SqlValue, enum_from_sql, enum_to_sql, json_from_sql,
    json_to_sql,
};

use self::conn::Conn;
use crate::resource::Resource;
use crate::store::{ListQuery, Store, StoreError};

/// A resource that lives in a table. Implemented by generated code.
pub trait Record: Resource {
    /// The table, `storage.table` in the contract.
    const TABLE: &'static str;
    /// Every stored field in declaration order (the columns `to_row` and `from_row` use).
    const COLUMNS: &'static [Column];
    /// Deletes mark rows with `deleted_at` instead of removing them.
    const SOFT_DELETE: bool;

    /// The row's values, one per column of [`Record::COLUMNS`].
    fn to_row(&self) -> Vec<SqlValue>;

    /// The resource a row holds.
    fn from_row(row: &mut Row) -> Result<Self, String>;
}

/// How to reach the database: its URL and the pool's limits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatabaseSettings {
    /// `sqlite://todo.db` (created if missing), `sqlite::memory:`, or `postgres://...`.
    pub url: String,
    /// Connections the pool keeps open at most.
    pub max_connections: u32,
    /// How long a request waits for a connection (or a new connection for the server) before
    /// the store reports itself unavailable.
    pub acquire_timeout: Duration,
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

/// A connection pool to one database; cheap to clone, shared by every contract's store.
#[derive(Debug, Clone)]
pub struct Database {
    pool: DbPool,
}

#[derive(Debug, Clone)]
enum DbPool {
    Sqlite(Pool<Sqlite>),
    Postgres(Pool<Postgres>),
}

/// The app's pool, for runtime components that own tables and write their own statements
/// (the login module's store, whose token rotation needs a conditional update the
/// repository has no word for). Exactly one of the two is `Some`.
impl Database {
    pub(crate) fn sqlite_pool(&self) -> Option<&sqlx::Pool<sqlx::Sqlite>> {
        match &self.pool {
            DbPool::Sqlite(pool) => Some(pool),
            DbPool::Postgres(_) => None,
        }
    }

    pub(crate) fn postgres_pool(&self) -> Option<&sqlx::Pool<sqlx::Postgres>> {
        match &self.pool {
            DbPool::Postgres(pool) => Some(pool),
            DbPool::Sqlite(_) => None,
        }
    }
}

impl Database {
    /// Opens the pool and checks that the database answers.
    pub async fn connect(settings: &DatabaseSettings) -> Result<Database, DatabaseError> {
        let url = settings.url.as_str();
        let pool = if url.starts_with("sqlite:") {
            let options = SqliteConnectOptions::from_str(url)
                .map_err(|e| DatabaseError(format!("invalid SQLite URL `{url}`: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                // FULL: a commit is on disk before the service answers, even if the machine
                // loses power; NORMAL would only survive a crash of the process.
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(settings.acquire_timeout);
            let pool = SqlitePoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(settings.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(|e| DatabaseError(format!("cannot open `{url}`: {e}")))?;
            DbPool::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let options = PgConnectOptions::from_str(url).map_err(|e| {
                DatabaseError(format!("invalid PostgreSQL URL: {}", redact(url, &e)))
            })?;
            let pool = PgPoolOptions::new()
                .max_connections(settings.max_connections)
                .acquire_timeout(settings.acquire_timeout)
                .connect_with(options)
                .await
                .map_err(|e| {
                    DatabaseError(format!("cannot connect to PostgreSQL: {}", redact(url, &e)))
                })?;
            DbPool::Postgres(pool)
        } else {
            return Err(DatabaseError(format!(
                "unsupported database URL `{}`: expected `sqlite://FILE` or `postgres://...`",
                url.split('@').next_back().unwrap_or(url)
            )));
        };
        Ok(Database { pool })
    }

    pub fn dialect(&self) -> Dialect {
        match self.pool {
            DbPool::Sqlite(_) => Dialect::Sqlite,
            DbPool::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The store of a contract's resources in this database.
    pub fn store<R: Record>(&self) -> Store<R> {
        std::sync::Arc::new(store::SqlStore::<R>::new(self.clone()))
    }

    /// Whether the database answers a trivial query (for readiness).
    pub async fn check(&self) -> Result<(), StoreError> {
        let mut conn = self.acquire().await?;
        conn.conn()
            .integer(query::Statement {
                // BIGINT: `integer` reads an i64, and PostgreSQL's plain `1` is an INT4 that
                // does not decode as one, which made every PostgreSQL readiness check fail.
                sql: "SELECT CAST(1 AS BIGINT)".to_owned(),
                params: Vec::new(),
            })
            .await
            .map(drop)
            .map_err(|e| StoreError::Unavailable(e.to_string()))
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
        statement.sql.insert_str(0, prefix);
        let mut conn = self.acquire().await?;
        let rows = conn
            .conn()
            .rows(statement, &kinds)
            .await
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        Ok(rows
            .into_iter()
            .filter_map(|mut row| match row.pop() {
                Some(SqlValue::Text(line)) => Some(line),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("\n"))
    }

    /// Closes every connection, waiting for those in use to be returned (graceful shutdown).
    pub async fn close(&self) {
        match &self.pool {
            DbPool::Sqlite(pool) => pool.close().await,
            DbPool::Postgres(pool) => pool.close().await,
        }
    }

    async fn acquire(&self) -> Result<PooledConn, StoreError> {
        let unavailable = |e: sqlx::Error| StoreError::Unavailable(e.to_string());
        Ok(match &self.pool {
            DbPool::Sqlite(pool) => PooledConn::Sqlite(pool.acquire().await.map_err(unavailable)?),
            DbPool::Postgres(pool) => {
                PooledConn::Postgres(pool.acquire().await.map_err(unavailable)?)
            }
        })
    }

    /// A write transaction. SQLite's starts `IMMEDIATE`, taking the write lock at once: a
    /// deferred one that reads first could fail to upgrade when another writer got there.
    async fn begin(&self) -> Result<Tx<'static>, sqlx::Error> {
        Ok(match &self.pool {
            DbPool::Sqlite(pool) => Tx::Sqlite(pool.begin_with("BEGIN IMMEDIATE").await?),
            DbPool::Postgres(pool) => Tx::Postgres(pool.begin().await?),
        })
    }
}

/// Hides the password of a URL in messages.
fn redact(url: &str, error: &dyn fmt::Display) -> String {
    let text = error.to_string();
    match url
        .split_once("://")
        .and_then(|(_, rest)| rest.split_once('@'))
    {
        Some((credentials, _)) => match credentials.split_once(':') {
            Some((_, password)) if !password.is_empty() => text.replace(password, "***"),
            _ => text,
        },
        None => text,
    }
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

enum Tx<'c> {
    Sqlite(Transaction<'c, Sqlite>),
    Postgres(Transaction<'c, Postgres>),
}

impl Tx<'_> {
    fn conn(&mut self) -> Conn<'_> {
        match self {
            Tx::Sqlite(tx) => Conn::Sqlite(tx),
            Tx::Postgres(tx) => Conn::Postgres(tx),
        }
    }

    async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            Tx::Sqlite(tx) => tx.commit().await,
            Tx::Postgres(tx) => tx.commit().await,
        }
    }
}
