//! Databases for the storage tests: a SQLite file in a temporary directory, and a PostgreSQL
//! schema of its own per test (when `CMMV_TEST_DATABASE_URL` is set), both migrated with the
//! example's generated migrations.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cmmv::sql::{Database, DatabaseSettings};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::{AssertSqlSafe, Connection as _};
use todo::Todo;

use crate::auth_support::{admin_headers, with_auth};
use crate::runtime_support::Served;

/// The variable naming the PostgreSQL server tests may use.
pub(crate) const DATABASE_URL_VAR: &str = "CMMV_TEST_DATABASE_URL";

pub(crate) fn settings(url: String) -> DatabaseSettings {
    DatabaseSettings {
        max_connections: 8,
        acquire_timeout: Duration::from_secs(10),
        ..DatabaseSettings::new(url)
    }
}

/// A migrated SQLite database in a fresh file; the directory lives as long as the guard.
pub(crate) async fn sqlite_database() -> (tempfile::TempDir, Database) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let url = format!("sqlite://{}", dir.path().join("test.db").display());
    let db = Database::connect(&settings(url))
        .await
        .expect("SQLite opens");
    db.migrate(todo::api::MIGRATIONS)
        .await
        .expect("migrations apply");
    (dir, db)
}

#[allow(
    clippy::print_stderr,
    reason = "a skipped test says so where `cargo test` shows it"
)]
pub(crate) fn skip(test: &str) {
    eprintln!("skipped {test}: set {DATABASE_URL_VAR} to a PostgreSQL server to run it");
}

/// A PostgreSQL schema created for one test and dropped by [`TestDatabase::drop`].
pub(crate) struct TestDatabase {
    pub(crate) db: Database,
    /// The URL the pool connects with (the server's, with the schema as search path).
    #[allow(dead_code, reason = "for tests that open connections of their own")]
    pub(crate) url: String,
    server: String,
    schema: String,
}

impl TestDatabase {
    /// A migrated schema `cmmv_<tag>_<random>`, or `None` (with a note) when no server is set.
    pub(crate) async fn postgres(tag: &str) -> Option<TestDatabase> {
        let Ok(server) = std::env::var(DATABASE_URL_VAR) else {
            skip(tag);
            return None;
        };
        let schema = Self::create_schema(&server, tag).await;
        let url = with_search_path(&server, &schema);
        let db = Database::connect(&settings(url.clone()))
            .await
            .expect("PostgreSQL connects");
        db.migrate(todo::api::MIGRATIONS)
            .await
            .expect("migrations apply");
        Some(TestDatabase {
            db,
            url,
            server,
            schema,
        })
    }

    /// A fresh empty schema on the server; returns its name.
    pub(crate) async fn create_schema(server: &str, tag: &str) -> String {
        let schema =
            format!("cmmv_{tag}_{}", cmmv::types::Uuid::new_v4().simple()).replace('-', "_");
        let mut conn = sqlx::PgConnection::connect(server)
            .await
            .expect("the PostgreSQL server is reachable");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA \"{schema}\"")))
            .execute(&mut conn)
            .await
            .expect("schema created");
        schema
    }

    /// Closes the pool and drops the schema with everything in it.
    pub(crate) async fn drop(self) {
        self.db.close().await;
        drop_schema(&self.server, &self.schema).await;
    }
}

pub(crate) async fn drop_schema(server: &str, schema: &str) {
    let mut conn = sqlx::PgConnection::connect(server)
        .await
        .expect("the PostgreSQL server is reachable");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA \"{schema}\" CASCADE"
    )))
    .execute(&mut conn)
    .await
    .expect("schema dropped");
}

/// The server URL with every connection's `search_path` set to `schema`.
pub(crate) fn with_search_path(server: &str, schema: &str) -> String {
    let separator = if server.contains('?') { '&' } else { '?' };
    format!("{server}{separator}options=-c%20search_path%3D{schema}")
}

/// A connection of the test's own, beside the pool, for looking at rows and tampering with them.
pub(crate) enum Raw {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl Raw {
    pub(crate) async fn sqlite(file: &Path) -> Raw {
        let options = sqlx::sqlite::SqliteConnectOptions::new()
            .filename(file)
            .foreign_keys(true);
        Raw::Sqlite(
            sqlx::SqliteConnection::connect_with(&options)
                .await
                .expect("the SQLite file opens"),
        )
    }

    pub(crate) async fn postgres(url: &str) -> Raw {
        Raw::Postgres(
            sqlx::PgConnection::connect(url)
                .await
                .expect("PostgreSQL connects"),
        )
    }

    /// Runs a script (one or more statements, no parameters).
    pub(crate) async fn execute(&mut self, sql: &str) {
        let script = AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Sqlite(conn) => sqlx::raw_sql(script).execute(&mut *conn).await.map(drop),
            Raw::Postgres(conn) => sqlx::raw_sql(script).execute(&mut *conn).await.map(drop),
        }
        .unwrap_or_else(|e| panic!("`{sql}` runs: {e}"));
    }

    /// The integer a query returns.
    pub(crate) async fn integer(&mut self, sql: &str) -> i64 {
        let query = AssertSqlSafe(sql.to_owned());
        match self {
            Raw::Sqlite(conn) => sqlx::query_scalar(query).fetch_one(&mut *conn).await,
            Raw::Postgres(conn) => sqlx::query_scalar(query).fetch_one(&mut *conn).await,
        }
        .unwrap_or_else(|e| panic!("`{sql}` answers: {e}"))
    }

    pub(crate) async fn close(self) {
        let _ = match self {
            Raw::Sqlite(conn) => conn.close().await,
            Raw::Postgres(conn) => conn.close().await,
        };
    }
}

/// A migrated SQLite database in a fresh file, with pool settings of the test's choosing.
pub(crate) async fn sqlite_with(
    max_connections: u32,
    acquire_timeout: Duration,
) -> (tempfile::TempDir, std::path::PathBuf, Database) {
    sqlite_configured(|url| DatabaseSettings {
        max_connections,
        acquire_timeout,
        ..DatabaseSettings::new(url)
    })
    .await
}

/// A migrated SQLite database in a fresh file, with the settings `configure` makes of its URL.
pub(crate) async fn sqlite_configured(
    configure: impl FnOnce(String) -> DatabaseSettings,
) -> (tempfile::TempDir, std::path::PathBuf, Database) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let file = dir.path().join("test.db");
    let db = Database::connect(&configure(format!("sqlite://{}", file.display())))
        .await
        .expect("SQLite opens");
    db.migrate(todo::api::MIGRATIONS)
        .await
        .expect("migrations apply");
    (dir, file, db)
}

/// The example app on these stores, served on 127.0.0.1.
pub(crate) async fn serve(db: &Database) -> Served {
    let app = todo::app(
        with_auth(crate::runtime_support::settings()),
        &Arc::new(Todo::with_database(db)),
    )
    .expect("the example app builds");
    Served::start(app).await
}

/// A client whose every request gives up after a while, so that no wait is unbounded; signed
/// in with every role, as storage is under test here, not access.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .default_headers(admin_headers())
        .timeout(Duration::from_secs(30))
        .build()
        .expect("a client")
}

/// One HTTP exchange: the status, the content type and the body, as JSON when it parses.
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: String,
    /// The `Retry-After` header, when there is one.
    pub(crate) retry_after: Option<String>,
    pub(crate) text: String,
    pub(crate) body: Value,
}

pub(crate) async fn call(
    served: &Served,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> Answer {
    call_url(served.url(path), method, body).await
}

/// [`call`] by URL, for requests sent from tasks of their own.
pub(crate) async fn call_url(url: String, method: Method, body: Option<Value>) -> Answer {
    let mut request = client().request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("a response");
    let status = response.status();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let text = response.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Answer {
        status,
        content_type,
        retry_after,
        text,
        body,
    }
}

impl Answer {
    /// Asserts an RFC 9457 problem of `status`; returns the body.
    pub(crate) fn problem(&self, status: StatusCode) -> &Value {
        assert_eq!(self.status, status, "{}", self.text);
        assert_eq!(
            self.content_type, "application/problem+json",
            "{}",
            self.text
        );
        assert_eq!(self.body["status"], status.as_u16(), "{}", self.text);
        &self.body
    }

    /// The (pointer, rule) pairs of a 422.
    pub(crate) fn failures(&self) -> Vec<(String, String)> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| {
                        (
                            e["pointer"].as_str().unwrap_or_default().to_owned(),
                            e["rule"].as_str().unwrap_or_default().to_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Asserts that a body says nothing of the database behind it: no SQL, no driver or pool
/// message, no address.
pub(crate) fn assert_no_database_text(text: &str, extra: &[&str]) {
    let lower = text.to_lowercase();
    for word in [
        "sql",
        "select",
        "insert",
        "postgres",
        "sqlite",
        "pool",
        "refused",
        "timed out",
        "locked",
        "busy",
        "error returned from database",
        "io error",
        "127.0.0.1",
    ]
    .iter()
    .chain(extra)
    {
        assert!(!lower.contains(word), "`{word}` leaks into {text}");
    }
}
