//! Databases for the storage tests: a SQLite file in a temporary directory, and a PostgreSQL
//! schema of its own per test (when `CMMV_TEST_DATABASE_URL` is set), both migrated with the
//! example's generated migrations.

use std::time::Duration;

use cmmv::sql::{Database, DatabaseSettings};
use sqlx::Connection as _;

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
