//! Running statements on either database: binding [`SqlValue`]s in the form each column type
//! wants, reading rows back by column kind, and turning driver errors into [`StoreError`]s
//! that never carry SQL to the client.

use serde_json::Value;
use sqlx::postgres::{PgArguments, PgConnection, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteArguments, SqliteConnection, SqliteRow};
use sqlx::{AssertSqlSafe, Row as _};
use time::OffsetDateTime;

use super::query::{SqlText, Statement, Table};
use super::value::{ColumnKind, SqlValue, storage_text};
use crate::store::{Cause, StoreError};
use crate::types::{Date, DateTime, Uuid};

/// A connection (or a transaction's connection) of either database.
pub(crate) enum Conn<'c> {
    Sqlite(&'c mut SqliteConnection),
    Postgres(&'c mut PgConnection),
}

impl Conn<'_> {
    /// The same connection for a shorter while, so that it can be handed to a function and
    /// used again afterwards.
    pub(crate) fn reborrow(&mut self) -> Conn<'_> {
        match self {
            Conn::Sqlite(conn) => Conn::Sqlite(conn),
            Conn::Postgres(conn) => Conn::Postgres(conn),
        }
    }

    /// The rows a query returns, each read by the column kinds given.
    pub(crate) async fn rows(
        &mut self,
        statement: Statement,
        kinds: &[ColumnKind],
    ) -> Result<Vec<Vec<SqlValue>>, sqlx::Error> {
        let span = self.span(&statement);
        let rows = async {
            match self {
                Conn::Sqlite(conn) => {
                    let rows = sqlite_query(statement).fetch_all(&mut **conn).await?;
                    rows.iter().map(|row| read_sqlite(row, kinds)).collect()
                }
                Conn::Postgres(conn) => {
                    let rows = postgres_query(statement).fetch_all(&mut **conn).await?;
                    rows.iter().map(|row| read_postgres(row, kinds)).collect()
                }
            }
        };
        tracing::Instrument::instrument(rows, span).await
    }

    /// The first row a query returns, if any, read by the column kinds given (a read by key:
    /// no list of rows is collected).
    pub(crate) async fn row(
        &mut self,
        statement: Statement,
        kinds: &[ColumnKind],
    ) -> Result<Option<Vec<SqlValue>>, sqlx::Error> {
        let span = self.span(&statement);
        let row = async {
            match self {
                Conn::Sqlite(conn) => {
                    match sqlite_query(statement).fetch_optional(&mut **conn).await? {
                        Some(row) => read_sqlite(&row, kinds).map(Some),
                        None => Ok(None),
                    }
                }
                Conn::Postgres(conn) => {
                    match postgres_query(statement)
                        .fetch_optional(&mut **conn)
                        .await?
                    {
                        Some(row) => read_postgres(&row, kinds).map(Some),
                        None => Ok(None),
                    }
                }
            }
        };
        tracing::Instrument::instrument(row, span).await
    }

    /// The single integer a query returns (a count, a key).
    pub(crate) async fn integer(&mut self, statement: Statement) -> Result<i64, sqlx::Error> {
        let span = self.span(&statement);
        let integer = async {
            match self {
                Conn::Sqlite(conn) => {
                    let row = sqlite_query(statement).fetch_one(&mut **conn).await?;
                    row.try_get(0)
                }
                Conn::Postgres(conn) => {
                    let row = postgres_query(statement).fetch_one(&mut **conn).await?;
                    row.try_get(0)
                }
            }
        };
        tracing::Instrument::instrument(integer, span).await
    }

    /// Runs a statement; returns how many rows it changed.
    pub(crate) async fn execute(&mut self, statement: Statement) -> Result<u64, sqlx::Error> {
        let span = self.span(&statement);
        let executed = async {
            match self {
                Conn::Sqlite(conn) => Ok(sqlite_query(statement)
                    .execute(&mut **conn)
                    .await?
                    .rows_affected()),
                Conn::Postgres(conn) => Ok(postgres_query(statement)
                    .execute(&mut **conn)
                    .await?
                    .rows_affected()),
            }
        };
        tracing::Instrument::instrument(executed, span).await
    }

    /// A client span for one statement, per the database semantic conventions: its system,
    /// operation, table and text. The text has placeholders where the values go, so no value
    /// reaches a trace. Statements run outside any span (migrations, readiness probes) get
    /// none: a root trace per probe would bury the requests.
    fn span(&self, statement: &Statement) -> tracing::Span {
        if !crate::telemetry::within_span() {
            return tracing::Span::none();
        }
        let system = match self {
            Conn::Sqlite(_) => "sqlite",
            Conn::Postgres(_) => "postgresql",
        };
        let span = tracing::debug_span!(
            target: crate::telemetry::SPANS_TARGET,
            "statement",
            otel.name = tracing::field::Empty,
            otel.kind = "client",
            db.system.name = system,
            db.operation.name = tracing::field::Empty,
            db.collection.name = tracing::field::Empty,
            db.query.text = tracing::field::Empty,
        );
        if !span.is_disabled() {
            let text = statement.sql.as_str();
            let (operation, table) = summarize(text);
            span.record("db.operation.name", operation);
            span.record("db.query.text", text);
            match table {
                Some(table) => {
                    span.record("db.collection.name", table);
                    span.record("otel.name", format!("{operation} {table}"));
                }
                None => {
                    span.record("otel.name", operation);
                }
            }
        }
        span
    }
}

/// A statement's operation (its first keyword) and the table it names after `FROM`, `INTO` or
/// `UPDATE`, unquoted: what a span is named by.
fn summarize(text: &str) -> (&str, Option<&str>) {
    let mut words = text.split_ascii_whitespace();
    let operation = words.next().unwrap_or("");
    let mut previous = operation;
    for word in words {
        if ["FROM", "INTO", "UPDATE"]
            .iter()
            .any(|keyword| previous.eq_ignore_ascii_case(keyword))
        {
            let table = word.trim_matches(|c: char| c == '"' || c == '(' || c == ')' || c == ',');
            return (operation, (!table.is_empty()).then_some(table));
        }
        previous = word;
    }
    (operation, None)
}

/// The statement's text as sqlx takes it: a shared text is handed over without a copy.
fn sql_str(text: SqlText) -> sqlx::SqlStr {
    use sqlx::SqlSafeStr as _;
    match text {
        SqlText::Built(text) => AssertSqlSafe(text).into_sql_str(),
        SqlText::Shared(text) => AssertSqlSafe(text).into_sql_str(),
    }
}

fn sqlite_query(statement: Statement) -> Query<'static, Sqlite, SqliteArguments> {
    let mut query = sqlx::query(sql_str(statement.sql));
    for (value, _) in statement.params {
        query = match value {
            SqlValue::Null => query.bind(None::<String>),
            SqlValue::Bool(b) => query.bind(b),
            SqlValue::Int(i) => query.bind(i),
            SqlValue::Float(x) => query.bind(x),
            SqlValue::Text(text) => query.bind(text),
            SqlValue::Bytes(bytes) => query.bind(bytes),
            // SQLite has no types for these: canonical text, which sorts and compares right.
            SqlValue::Uuid(uuid) => query.bind(uuid.to_string()),
            SqlValue::Date(date) => query.bind(date.to_string()),
            SqlValue::DateTime(at) => query.bind(storage_text(&at)),
            SqlValue::Decimal(decimal) => query.bind(decimal.to_string()),
            SqlValue::Json(json) => query.bind(json.to_string()),
        };
    }
    query
}

fn postgres_query(statement: Statement) -> Query<'static, Postgres, PgArguments> {
    let mut query = sqlx::query(sql_str(statement.sql));
    for (value, kind) in statement.params {
        // Each value is bound with the type of its column, so that comparisons use the
        // column's own operators (and indexes); a NULL needs that type too.
        query = match (value, kind) {
            (SqlValue::Null, kind) => match kind {
                ColumnKind::Text | ColumnKind::Decimal => query.bind(None::<String>),
                ColumnKind::Bool => query.bind(None::<bool>),
                ColumnKind::Int32 => query.bind(None::<i32>),
                ColumnKind::Int64 => query.bind(None::<i64>),
                ColumnKind::Float => query.bind(None::<f32>),
                ColumnKind::Double => query.bind(None::<f64>),
                ColumnKind::Uuid => query.bind(None::<Uuid>),
                ColumnKind::Date => query.bind(None::<time::Date>),
                ColumnKind::DateTime => query.bind(None::<OffsetDateTime>),
                ColumnKind::Bytes => query.bind(None::<Vec<u8>>),
                ColumnKind::Json => query.bind(None::<sqlx::types::Json<Value>>),
            },
            (SqlValue::Int(i), ColumnKind::Int32) => match i32::try_from(i) {
                Ok(narrow) => query.bind(narrow),
                Err(_) => query.bind(i),
            },
            (SqlValue::Float(x), ColumnKind::Float) => query.bind(x as f32),
            (SqlValue::Float(x), ColumnKind::Decimal) => query.bind(x.to_string()),
            (SqlValue::Bool(b), _) => query.bind(b),
            (SqlValue::Int(i), _) => query.bind(i),
            (SqlValue::Float(x), _) => query.bind(x),
            (SqlValue::Text(text), _) => query.bind(text),
            (SqlValue::Bytes(bytes), _) => query.bind(bytes),
            (SqlValue::Uuid(uuid), _) => query.bind(uuid),
            (SqlValue::Date(date), _) => query.bind(date.0),
            (SqlValue::DateTime(at), _) => query.bind(at.0),
            (SqlValue::Decimal(decimal), _) => query.bind(decimal.to_string()),
            (SqlValue::Json(json), _) => query.bind(sqlx::types::Json(json)),
        };
    }
    query
}

fn read_sqlite(row: &SqliteRow, kinds: &[ColumnKind]) -> Result<Vec<SqlValue>, sqlx::Error> {
    let mut values = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        let value = match kind {
            ColumnKind::Bool => row.try_get::<Option<bool>, _>(i)?.map(SqlValue::Bool),
            ColumnKind::Int32 | ColumnKind::Int64 => {
                row.try_get::<Option<i64>, _>(i)?.map(SqlValue::Int)
            }
            ColumnKind::Float | ColumnKind::Double => {
                row.try_get::<Option<f64>, _>(i)?.map(SqlValue::Float)
            }
            ColumnKind::Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?.map(SqlValue::Bytes),
            ColumnKind::Json => match row.try_get::<Option<String>, _>(i)? {
                Some(text) => Some(SqlValue::Json(
                    serde_json::from_str(&text).map_err(|e| sqlx::Error::Decode(e.into()))?,
                )),
                None => None,
            },
            // Text, and the types SQLite keeps as text: the field's own type parses them.
            ColumnKind::Text
            | ColumnKind::Decimal
            | ColumnKind::Uuid
            | ColumnKind::Date
            | ColumnKind::DateTime => row.try_get::<Option<String>, _>(i)?.map(SqlValue::Text),
        };
        values.push(value.unwrap_or(SqlValue::Null));
    }
    Ok(values)
}

fn read_postgres(row: &PgRow, kinds: &[ColumnKind]) -> Result<Vec<SqlValue>, sqlx::Error> {
    let mut values = Vec::with_capacity(kinds.len());
    for (i, kind) in kinds.iter().enumerate() {
        let value = match kind {
            // Numerics are selected as text (see `query`), their exact form.
            ColumnKind::Text | ColumnKind::Decimal => {
                row.try_get::<Option<String>, _>(i)?.map(SqlValue::Text)
            }
            ColumnKind::Bool => row.try_get::<Option<bool>, _>(i)?.map(SqlValue::Bool),
            ColumnKind::Int32 => row
                .try_get::<Option<i32>, _>(i)?
                .map(|v| SqlValue::Int(v.into())),
            ColumnKind::Int64 => row.try_get::<Option<i64>, _>(i)?.map(SqlValue::Int),
            ColumnKind::Float => row
                .try_get::<Option<f32>, _>(i)?
                .map(|v| SqlValue::Float(v.into())),
            ColumnKind::Double => row.try_get::<Option<f64>, _>(i)?.map(SqlValue::Float),
            ColumnKind::Uuid => row.try_get::<Option<Uuid>, _>(i)?.map(SqlValue::Uuid),
            ColumnKind::Date => row
                .try_get::<Option<time::Date>, _>(i)?
                .map(|d| SqlValue::Date(Date(d))),
            ColumnKind::DateTime => row
                .try_get::<Option<OffsetDateTime>, _>(i)?
                .map(|t| SqlValue::DateTime(DateTime(t))),
            ColumnKind::Bytes => row.try_get::<Option<Vec<u8>>, _>(i)?.map(SqlValue::Bytes),
            ColumnKind::Json => row.try_get::<Option<Value>, _>(i)?.map(SqlValue::Json),
        };
        values.push(value.unwrap_or(SqlValue::Null));
    }
    Ok(values)
}

/// What a failed statement was doing, which decides what a foreign-key failure means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Doing {
    /// Reading, inserting or updating: a foreign key names a row that does not exist.
    Writing,
    /// Deleting: other rows still refer to this one.
    Deleting,
}

/// A driver error as the store reports it. Messages from the database are logged by
/// [`StoreError::into_problem`], never sent to clients.
pub(crate) fn store_error(error: sqlx::Error, table: &Table, doing: Doing) -> StoreError {
    match error {
        sqlx::Error::Database(db) => {
            let column = column_of(&*db, table);
            if db.is_unique_violation() {
                StoreError::Conflict {
                    field: column.unwrap_or_else(|| table.key.name.to_owned()),
                }
            } else if db.is_foreign_key_violation() || is_sqlite_restrict(&*db) {
                match doing {
                    Doing::Writing => StoreError::MissingReference { field: column },
                    Doing::Deleting => StoreError::StillReferenced,
                }
            } else {
                unavailable_or_internal(sqlx::Error::Database(db))
            }
        }
        other => unavailable_or_internal(other),
    }
}

/// An error no constraint explains: unavailability (a 503 the client may retry) when the
/// database is unreachable, overloaded or asks for a retry, an internal error otherwise.
/// Shared by every SQL store, the contracts' and the runtime's own.
pub(crate) fn unavailable_or_internal(error: sqlx::Error) -> StoreError {
    match error {
        sqlx::Error::Database(ref db) if is_transient(db.code().as_deref()) => {
            StoreError::Unavailable(Cause::from_error(error))
        }
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => StoreError::Unavailable(Cause::from_error(error)),
        other => StoreError::Internal(Cause::from_error(other)),
    }
}

/// SQLite enforces `ON DELETE RESTRICT` with a trigger-like action, so deleting a row that is
/// still referred to fails with `SQLITE_CONSTRAINT_TRIGGER` (1811), not the
/// `SQLITE_CONSTRAINT_FOREIGNKEY` (787) that `is_foreign_key_violation` recognizes; without
/// this, such a delete was an internal error (500) instead of `StillReferenced` (409). The
/// message tells it apart from a `RAISE` in a trigger of the user's own.
fn is_sqlite_restrict(db: &dyn sqlx::error::DatabaseError) -> bool {
    db.code().as_deref() == Some("1811") && db.message() == "FOREIGN KEY constraint failed"
}

/// Codes that mean "try again later": SQLite's busy and locked, PostgreSQL's connection,
/// shutdown, resource and serialization failures.
fn is_transient(code: Option<&str>) -> bool {
    let Some(code) = code else {
        return false;
    };
    matches!(
        code,
        "5" | "6" | "261" | "517" | "40001" | "40P01" | "55P03"
    ) || code.starts_with("08")
        || code.starts_with("53")
        || code.starts_with("57P")
}

/// The column a constraint violation is about, when the database says: PostgreSQL names the
/// constraint (`tasks_title_key`, `tasks_pkey`, `tasks_project_id_fkey`), SQLite the column
/// of a unique violation (`UNIQUE constraint failed: tasks.title`).
fn column_of(db: &dyn sqlx::error::DatabaseError, table: &Table) -> Option<String> {
    if let Some(constraint) = db.constraint() {
        let rest = constraint.strip_prefix(table.name)?.strip_prefix('_')?;
        if rest == "pkey" {
            return Some(table.key.name.to_owned());
        }
        return table
            .columns
            .iter()
            .find(|c| {
                [rest.strip_suffix("_key"), rest.strip_suffix("_fkey")].contains(&Some(c.name))
            })
            .map(|c| c.name.to_owned());
    }
    let message = db.message();
    let (_, columns) = message.split_once("constraint failed: ")?;
    let first = columns.split(',').next()?.trim();
    let (_, column) = first.split_once('.')?;
    Some(column.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 16: a driver error is not flattened into text: the store error keeps it as its
    /// source, for the log and for code that looks at it.
    #[test]
    fn store_errors_keep_the_driver_error_as_their_source() {
        let unavailable = unavailable_or_internal(sqlx::Error::PoolTimedOut);
        assert!(matches!(unavailable, StoreError::Unavailable(_)));
        let source = std::error::Error::source(&unavailable).expect("a source");
        assert!(matches!(
            source.downcast_ref::<sqlx::Error>(),
            Some(sqlx::Error::PoolTimedOut)
        ));

        let internal = unavailable_or_internal(sqlx::Error::RowNotFound);
        assert!(matches!(internal, StoreError::Internal(_)));
        let source = std::error::Error::source(&internal).expect("a source");
        assert!(source.downcast_ref::<sqlx::Error>().is_some());
        assert!(internal.to_string().starts_with("the store failed: "));
    }
}
