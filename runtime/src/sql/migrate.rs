//! Applying the migrations generated from the contracts, at start-up.
//!
//! Applied migrations are recorded in `_cmmv_migrations` with a checksum of their text. A run
//! applies the pending ones in order, all in one transaction: either the database ends up at
//! the binary's schema, or nothing changed. Running again is a no-op. Several instances
//! starting at once take turns (an advisory lock in PostgreSQL, the write lock in SQLite).
//!
//! Runtime components that own tables (the login module's users and tokens) migrate them with
//! [`Database::migrate_component`], recorded in a bookkeeping table of their own, so that their
//! version numbers can never collide with the contracts'.

use sqlx::AssertSqlSafe;

use super::query::{Dialect, Statement};
use super::value::{ColumnKind, SqlValue};
use sqlx::Connection as _;
use sqlx::sqlite::SqliteConnection;

use super::conn::Conn;
use super::{Backend, Database, DatabaseError};
use crate::types::DateTime;

/// One migration, in both dialects. Generated code lists them all, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// 1, 2, ...: the order they apply in.
    pub version: u32,
    /// A short description, recorded with the version and quoted in errors about the migration.
    pub name: &'static str,
    /// The SQL text run on SQLite; its checksum is recorded, so it must never change once applied.
    pub sqlite: &'static str,
    /// The SQL text run on PostgreSQL; its checksum is recorded, so it must never change once
    /// applied.
    pub postgres: &'static str,
}

impl Migration {
    fn text(&self, dialect: Dialect) -> &'static str {
        match dialect {
            Dialect::Sqlite => self.sqlite,
            Dialect::Postgres => self.postgres,
        }
    }
}

/// What a migration run did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MigrationReport {
    /// The versions applied by this run, in order (empty when the schema was current).
    pub applied: Vec<u32>,
    /// Versions the database has but this binary does not know: a newer release migrated
    /// it. Tolerated, so that a rolling deploy can run old and new side by side.
    pub unknown: Vec<u32>,
}

/// The bookkeeping table of the contracts' migrations.
const TABLE: &str = "_cmmv_migrations";

/// The key of PostgreSQL's advisory lock that serializes migration runs ("cmmv" in ASCII).
const ADVISORY_LOCK: i64 = 0x636d_6d76;

impl Database {
    /// Applies every pending migration in one transaction.
    ///
    /// SQLite runs them with foreign keys off, as its documented table rebuild requires (a
    /// rebuilt table is dropped and recreated, and with foreign keys on, dropping it would
    /// cascade into the rows that refer to it), and checks every reference before committing.
    /// The pragma has no effect inside a transaction, hence on the connection, around it.
    pub async fn migrate(
        &self,
        migrations: &[Migration],
    ) -> Result<MigrationReport, DatabaseError> {
        self.migrate_in(TABLE, migrations).await
    }

    /// Applies the migrations of a runtime component (`auth`), recorded in
    /// `_cmmv_<component>_migrations` rather than with the contracts' own: each set numbers its
    /// versions from 1 without colliding with the other.
    pub async fn migrate_component(
        &self,
        component: &'static str,
        migrations: &[Migration],
    ) -> Result<MigrationReport, DatabaseError> {
        if component.is_empty()
            || !component
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'_')
        {
            return Err(DatabaseError(format!(
                "invalid migration component name `{component}` (lowercase letters and `_` only)"
            )));
        }
        self.migrate_in(&format!("_cmmv_{component}_migrations"), migrations)
            .await
    }

    async fn migrate_in(
        &self,
        table: &str,
        migrations: &[Migration],
    ) -> Result<MigrationReport, DatabaseError> {
        let report = match &self.backend {
            // A connection of its own, not the writer's: migrations change the schema with
            // foreign keys off and must not share a transaction with requests' writes. The
            // writer waits for the lock like any other connection meanwhile.
            Backend::Sqlite(sqlite) => {
                let mut conn = SqliteConnection::connect_with(&sqlite.options)
                    .await
                    .map_err(|e| failed("cannot open a connection to migrate with", e))?;
                pragma(&mut conn, "PRAGMA foreign_keys = OFF").await?;
                let outcome = async {
                    let mut tx = conn
                        .begin_with("BEGIN IMMEDIATE")
                        .await
                        .map_err(|e| failed("cannot start the migration transaction", e))?;
                    let report =
                        apply(Conn::Sqlite(&mut tx), Dialect::Sqlite, table, migrations).await?;
                    tx.commit()
                        .await
                        .map_err(|e| failed("cannot commit the migrations", e))?;
                    Ok(report)
                }
                .await;
                let _ = conn.close().await;
                outcome?
            }
            Backend::Postgres(pool) => {
                let mut tx = pool
                    .begin()
                    .await
                    .map_err(|e| failed("cannot start the migration transaction", e))?;
                run(
                    Conn::Postgres(&mut tx),
                    &format!("SELECT pg_advisory_xact_lock({ADVISORY_LOCK})"),
                )
                .await
                .map_err(|e| failed("cannot take the migration lock", e))?;
                let report = apply(
                    Conn::Postgres(&mut tx),
                    Dialect::Postgres,
                    table,
                    migrations,
                )
                .await?;
                tx.commit()
                    .await
                    .map_err(|e| failed("cannot commit the migrations", e))?;
                report
            }
        };
        if !report.applied.is_empty() {
            tracing::info!(applied = ?report.applied, "database migrated");
        }
        if !report.unknown.is_empty() {
            tracing::warn!(unknown = ?report.unknown, "the database has migrations this build does not know; a newer release applied them");
        }
        Ok(report)
    }
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "used as `map_err(|e| failed(..., e))`, where the error is owned anyway"
)]
fn failed(what: &str, e: sqlx::Error) -> DatabaseError {
    DatabaseError(format!("{what}: {e}"))
}

async fn pragma(conn: &mut SqliteConnection, statement: &'static str) -> Result<(), DatabaseError> {
    sqlx::raw_sql(statement)
        .execute(conn)
        .await
        .map(drop)
        .map_err(|e| failed(statement, e))
}

/// Records, checks and applies the pending migrations on `tx`, a transaction's connection the
/// caller commits.
async fn apply(
    mut tx: Conn<'_>,
    dialect: Dialect,
    table: &str,
    migrations: &[Migration],
) -> Result<MigrationReport, DatabaseError> {
    run(
        tx.reborrow(),
        &format!(
            "CREATE TABLE IF NOT EXISTS \"{table}\" (\"version\" BIGINT PRIMARY KEY, \"name\" TEXT NOT NULL, \"checksum\" TEXT NOT NULL, \"applied_at\" TEXT NOT NULL)"
        ),
    )
    .await
    .map_err(|e| failed("cannot create the migrations table", e))?;

    let recorded = tx
        .rows(
            Statement {
                sql: format!("SELECT \"version\", \"name\", \"checksum\" FROM \"{table}\"").into(),
                params: Vec::new(),
            },
            &[ColumnKind::Int64, ColumnKind::Text, ColumnKind::Text],
        )
        .await
        .map_err(|e| failed("cannot read the applied migrations", e))?;
    let mut report = MigrationReport::default();
    let mut applied = Vec::new();
    for row in recorded {
        let [
            SqlValue::Int(version),
            SqlValue::Text(name),
            SqlValue::Text(sum),
        ] = &row[..]
        else {
            return Err(DatabaseError(format!("`{table}` holds a malformed row")));
        };
        match migrations.iter().find(|m| i64::from(m.version) == *version) {
            Some(known) if checksum(known.text(dialect)) != *sum => {
                return Err(DatabaseError(format!(
                    "migration {version} `{name}` was changed after it was applied: applied migrations must never be edited; add a new one instead"
                )));
            }
            Some(known) => applied.push(known.version),
            None => report
                .unknown
                .push(u32::try_from(*version).unwrap_or(u32::MAX)),
        }
    }

    let mut pending: Vec<&Migration> = migrations
        .iter()
        .filter(|m| !applied.contains(&m.version))
        .collect();
    pending.sort_by_key(|m| m.version);
    for migration in pending {
        let label = format!("migration {} `{}`", migration.version, migration.name);
        run(tx.reborrow(), migration.text(dialect))
            .await
            .map_err(|e| failed(&format!("{label} failed"), e))?;
        tx.execute(record(dialect, table, migration))
            .await
            .map_err(|e| failed(&format!("cannot record {label}"), e))?;
        report.applied.push(migration.version);
    }
    if dialect == Dialect::Sqlite {
        let broken = tx
            .rows(
                Statement {
                    sql: "PRAGMA foreign_key_check".to_owned().into(),
                    params: Vec::new(),
                },
                &[ColumnKind::Text, ColumnKind::Int64, ColumnKind::Text],
            )
            .await
            .map_err(|e| failed("cannot check references after migrating", e))?;
        if let Some(row) = broken.first() {
            return Err(DatabaseError(format!(
                "migrating would leave rows of `{}` referring to missing rows of `{}`; nothing was changed",
                text(row.first()),
                text(row.get(2))
            )));
        }
    }
    Ok(report)
}

fn text(value: Option<&SqlValue>) -> &str {
    match value {
        Some(SqlValue::Text(text)) => text,
        _ => "?",
    }
}

/// Runs a script of one or more statements without parameters.
async fn run(conn: Conn<'_>, script: &str) -> Result<(), sqlx::Error> {
    let script = AssertSqlSafe(script.to_owned());
    match conn {
        Conn::Sqlite(conn) => sqlx::raw_sql(script).execute(conn).await.map(drop),
        Conn::Postgres(conn) => sqlx::raw_sql(script).execute(conn).await.map(drop),
    }
}

fn record(dialect: Dialect, table: &str, migration: &Migration) -> Statement {
    let placeholders = match dialect {
        Dialect::Sqlite => "?, ?, ?, ?",
        Dialect::Postgres => "$1, $2, $3, $4",
    };
    Statement {
        sql: format!(
            "INSERT INTO \"{table}\" (\"version\", \"name\", \"checksum\", \"applied_at\") VALUES ({placeholders})"
        )
        .into(),
        params: vec![
            (
                SqlValue::Int(i64::from(migration.version)),
                ColumnKind::Int64,
            ),
            (SqlValue::Text(migration.name.to_owned()), ColumnKind::Text),
            (
                SqlValue::Text(checksum(migration.text(dialect))),
                ColumnKind::Text,
            ),
            (
                SqlValue::Text(DateTime::now().to_string()),
                ColumnKind::Text,
            ),
        ],
    }
}

/// A migration's checksum: its text's fingerprint, stable across builds and platforms, which
/// is all a check for edited migrations needs.
fn checksum(text: &str) -> String {
    crate::fingerprint::fnv1a_hex(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums_are_fnv1a() {
        assert_eq!(checksum(""), "cbf29ce484222325");
        assert_eq!(checksum("a"), "af63dc4c8601ec8c");
    }
}
