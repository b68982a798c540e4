//! The SQL text of every statement the stores run, per dialect. Identifiers come from generated
//! code (the contract's table and column names) and are quoted; every value a request carries
//! is a bound parameter, never text in the statement.

use std::fmt::Write as _;
use std::sync::Arc;

use super::value::{Column, ColumnKind, SqlValue};
use crate::list::{Condition, Direction, ListQuery, TextPlace};
use crate::resource::FieldValue;
use crate::store::Scope;
use crate::types::DateTime;

/// The two databases the stores speak to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite, through a `sqlite:` URL (a file, or `sqlite::memory:`).
    Sqlite,
    /// PostgreSQL, through a `postgres://` or `postgresql://` URL.
    Postgres,
}

/// A statement and its parameters, each with the kind of column it is compared with or
/// written to (PostgreSQL needs a type even for a NULL).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Statement {
    pub(crate) sql: SqlText,
    pub(crate) params: Vec<(SqlValue, ColumnKind)>,
}

/// The text of a statement: written for this one (a page, an update), or written once per
/// store and shared by every run of it (the read by key, the insert), which costs a request
/// no formatting and no allocation.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SqlText {
    Built(String),
    Shared(Arc<str>),
}

impl SqlText {
    pub(crate) fn as_str(&self) -> &str {
        match self {
            SqlText::Built(text) => text,
            SqlText::Shared(text) => text,
        }
    }
}

impl From<String> for SqlText {
    fn from(text: String) -> Self {
        SqlText::Built(text)
    }
}

impl PartialEq<&str> for SqlText {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// A statement whose text never changes for a store (the dialect and the table fix it) and
/// whose values do: the text written once, each run binding its own values.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    sql: Arc<str>,
    /// The kind of each placeholder's column, in order.
    kinds: Arc<[ColumnKind]>,
}

impl Prepared {
    /// Keeps the text of `statement` (written with placeholder values) and its parameters'
    /// kinds.
    fn of(statement: &Statement) -> Prepared {
        Prepared {
            sql: Arc::from(statement.sql.as_str()),
            kinds: statement.params.iter().map(|(_, kind)| *kind).collect(),
        }
    }

    /// The statement with these values, one per placeholder, in order.
    pub(crate) fn bind(&self, values: impl IntoIterator<Item = SqlValue>) -> Statement {
        Statement {
            sql: SqlText::Shared(Arc::clone(&self.sql)),
            params: values.into_iter().zip(self.kinds.iter().copied()).collect(),
        }
    }
}

/// The table a store works on: what generated code says about it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [Column],
    pub(crate) key: Column,
    pub(crate) soft_delete: bool,
}

/// The column soft-deleting tables mark deleted rows with.
pub(crate) const DELETED_AT: &str = "deleted_at";

/// `name` as a quoted identifier.
pub(crate) fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Writes a statement, numbering placeholders as the dialect wants.
struct Writer {
    dialect: Dialect,
    sql: String,
    params: Vec<(SqlValue, ColumnKind)>,
    /// Whether a `WHERE` is written, so the next condition starts with `AND`.
    filtered: bool,
}

impl Writer {
    fn new(dialect: Dialect) -> Self {
        Writer {
            dialect,
            sql: String::with_capacity(256),
            params: Vec::new(),
            filtered: false,
        }
    }

    fn push(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    fn ident(&mut self, name: &str) -> &mut Self {
        self.sql.push('"');
        // Generated names have no quote; only a name with one needs a copy.
        if name.contains('"') {
            self.sql.push_str(&name.replace('"', "\"\""));
        } else {
            self.sql.push_str(name);
        }
        self.sql.push('"');
        self
    }

    /// A placeholder bound to `value`. Decimals travel as text and PostgreSQL casts them,
    /// so that no digit is lost to a float on the way.
    fn param(&mut self, value: SqlValue, kind: ColumnKind) -> &mut Self {
        self.params.push((value, kind));
        match self.dialect {
            Dialect::Sqlite => self.sql.push('?'),
            Dialect::Postgres => {
                let _ = write!(self.sql, "${}", self.params.len());
                if kind == ColumnKind::Decimal {
                    self.sql.push_str("::numeric");
                }
            }
        }
        self
    }

    /// A column as it is read: PostgreSQL's numerics as text, which is the exact form.
    fn select_list(&mut self, columns: &[Column]) -> &mut Self {
        for (i, column) in columns.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.ident(column.name);
            if self.dialect == Dialect::Postgres && column.kind == ColumnKind::Decimal {
                self.push("::text AS ").ident(column.name);
            }
        }
        self
    }

    /// A column as it is compared and sorted: SQLite keeps decimals as text, whose order is
    /// not the numbers' order.
    fn comparable(&mut self, column: Column) -> &mut Self {
        if self.dialect == Dialect::Sqlite && column.kind == ColumnKind::Decimal {
            self.push("CAST(").ident(column.name).push(" AS REAL)")
        } else {
            self.ident(column.name)
        }
    }

    /// `SELECT <columns> FROM <table>`, live rows only.
    fn select(dialect: Dialect, table: &Table) -> Writer {
        let mut w = Writer::new(dialect);
        w.push("SELECT ")
            .select_list(table.columns)
            .push(" FROM ")
            .ident(table.name);
        w.live_rows(table);
        w
    }

    /// Starts one more condition of the `WHERE` clause.
    fn condition(&mut self) -> &mut Self {
        let joiner = if self.filtered { " AND " } else { " WHERE " };
        self.filtered = true;
        self.push(joiner)
    }

    /// Leaves out the rows `scope` does not reach: those another account owns.
    fn within(&mut self, table: &Table, scope: &Scope) -> &mut Self {
        if let Scope::OwnedBy { field, owner } = scope {
            // The owner field is a column of the table (the compiler checks it); a store
            // without it would find nothing, never too much.
            let kind = table
                .columns
                .iter()
                .find(|c| c.name == *field)
                .map_or(ColumnKind::Text, |c| c.kind);
            let owner = match kind {
                ColumnKind::Uuid => owner
                    .parse()
                    .map_or_else(|_| SqlValue::Text(owner.clone()), SqlValue::Uuid),
                _ => SqlValue::Text(owner.clone()),
            };
            self.condition().ident(field).push(" = ").param(owner, kind);
        }
        self
    }

    /// Leaves out soft-deleted rows.
    fn live_rows(&mut self, table: &Table) -> &mut Self {
        if table.soft_delete {
            self.condition().ident(DELETED_AT).push(" IS NULL");
        }
        self
    }

    /// The filters, all of which must hold.
    fn filters(&mut self, filters: &[(Column, &Condition)]) -> &mut Self {
        for (column, condition) in filters {
            self.condition().filter(*column, condition);
        }
        self
    }

    /// One filter, as `Condition::matches` defines it: comparisons leave nulls out (SQL's
    /// three-valued logic does), text is matched literally, every operand is bound.
    fn filter(&mut self, column: Column, condition: &Condition) -> &mut Self {
        match condition {
            Condition::Compare(comparison, value) => {
                self.comparable(column)
                    .push(comparison.sql())
                    .param(filter_value(column.kind, value), column.kind);
            }
            Condition::In { values, negated } => {
                self.comparable(column)
                    .push(if *negated { " NOT IN (" } else { " IN (" });
                for (i, value) in values.iter().enumerate() {
                    if i > 0 {
                        self.push(", ");
                    }
                    self.param(filter_value(column.kind, value), column.kind);
                }
                self.push(")");
            }
            Condition::Text {
                place,
                text,
                ignore_case,
            } => self.text_match(column, *place, text, *ignore_case),
            Condition::IsNull(null) => {
                self.ident(column.name)
                    .push(if *null { " IS NULL" } else { " IS NOT NULL" });
            }
        }
        self
    }

    /// `contains` and `prefix`. SQLite: `GLOB` (case-sensitive; a prefix pattern reads a
    /// range of the field's index) or `LIKE` (which folds ASCII letters only). PostgreSQL:
    /// `LIKE`, on the text with its ASCII letters lowered for the case-insensitive forms,
    /// since `ILIKE` and `lower()` fold every letter and SQLite does not. The text is escaped
    /// so that `%`, `_`, `*`, `?` and `[` match themselves.
    fn text_match(&mut self, column: Column, place: TextPlace, text: &str, ignore_case: bool) {
        let anywhere = place == TextPlace::Anywhere;
        let (pattern, operator) = match (self.dialect, ignore_case) {
            (Dialect::Sqlite, false) => (glob_pattern(text, anywhere), " GLOB "),
            (Dialect::Sqlite, true) | (Dialect::Postgres, false) => {
                (like_pattern(text, anywhere), " LIKE ")
            }
            (Dialect::Postgres, true) => {
                (like_pattern(&text.to_ascii_lowercase(), anywhere), " LIKE ")
            }
        };
        if self.dialect == Dialect::Postgres && ignore_case {
            self.push("translate(")
                .ident(column.name)
                .push(", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')");
        } else {
            self.ident(column.name);
        }
        self.push(operator)
            .param(SqlValue::Text(pattern), ColumnKind::Text);
        if operator == " LIKE " {
            self.push(" ESCAPE '\\'");
        }
    }

    /// The rows after `values` in the order of `keys` (the sort keys, then the table's key):
    /// a keyset page. Keys of one direction that cannot be null are compared as one row value
    /// (`("title", "id") > (?, ?)`), which both databases answer with one seek in an index on
    /// them; a nullable key is compared with its nulls where the order puts them (after the
    /// values ascending, before them descending).
    fn after(&mut self, keys: &[SortKey], values: &[FieldValue]) -> &mut Self {
        let (Some(first), Some(value)) = (keys.first(), values.first()) else {
            return self.push("1 = 0");
        };
        let (rest, rest_values) = (&keys[1..], &values[1..]);
        let ascending = first.direction == Direction::Ascending;
        if first.nullable || *value == FieldValue::Null {
            let beyond = if ascending { " > " } else { " < " };
            self.push("(");
            match (value, ascending) {
                (FieldValue::Null, true) => {
                    // Nulls come last: only nulls follow.
                    self.ident(first.column.name).push(" IS NULL");
                    if rest.is_empty() {
                        return self.push(" AND 1 = 0)");
                    }
                    self.push(" AND ").after(rest, rest_values);
                }
                (FieldValue::Null, false) => {
                    // Nulls come first: every value follows.
                    self.ident(first.column.name).push(" IS NOT NULL");
                    if !rest.is_empty() {
                        self.push(" OR (")
                            .ident(first.column.name)
                            .push(" IS NULL AND ")
                            .after(rest, rest_values)
                            .push(")");
                    }
                }
                (value, _) => {
                    let bound = filter_value(first.column.kind, value);
                    self.comparable(first.column)
                        .push(beyond)
                        .param(bound.clone(), first.column.kind);
                    if ascending {
                        self.push(" OR ").ident(first.column.name).push(" IS NULL");
                    }
                    if !rest.is_empty() {
                        self.push(" OR (")
                            .comparable(first.column)
                            .push(" = ")
                            .param(bound, first.column.kind)
                            .push(" AND ")
                            .after(rest, rest_values)
                            .push(")");
                    }
                }
            }
            return self.push(")");
        }
        let run = keys
            .iter()
            .zip(values)
            .take_while(|(key, value)| {
                !key.nullable && **value != FieldValue::Null && key.direction == first.direction
            })
            .count();
        let (strict, loose) = if ascending {
            (" > ", " >= ")
        } else {
            (" < ", " <= ")
        };
        if run == keys.len() {
            return self.row(&keys[..run], &values[..run], strict);
        }
        // A seek on the run's columns, then the rest among the rows level with it.
        self.push("(")
            .row(&keys[..run], &values[..run], loose)
            .push(" AND (")
            .row(&keys[..run], &values[..run], strict)
            .push(" OR ")
            .after(&keys[run..], &values[run..])
            .push("))")
    }

    /// `("a", "b") > (?, ?)`, or `"a" > ?` for one column.
    fn row(&mut self, keys: &[SortKey], values: &[FieldValue], operator: &str) -> &mut Self {
        let several = keys.len() > 1;
        if several {
            self.push("(");
        }
        for (i, key) in keys.iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.comparable(key.column);
        }
        self.push(if several { ")" } else { "" }).push(operator);
        if several {
            self.push("(");
        }
        for (i, (key, value)) in keys.iter().zip(values).enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.param(filter_value(key.column.kind, value), key.column.kind);
        }
        if several {
            self.push(")");
        }
        self
    }

    fn finish(self) -> Statement {
        Statement {
            sql: SqlText::Built(self.sql),
            params: self.params,
        }
    }
}

/// A filter value in the form its column stores. Decimal filters arrive as numbers and are
/// compared as numbers (see `Writer::comparable`).
fn filter_value(kind: ColumnKind, value: &FieldValue) -> SqlValue {
    match (kind, value) {
        (ColumnKind::Uuid, FieldValue::Text(text)) => text
            .parse()
            .map_or_else(|_| SqlValue::Text(text.clone()), SqlValue::Uuid),
        (ColumnKind::Date, FieldValue::Text(text)) => text
            .parse()
            .map_or_else(|_| SqlValue::Text(text.clone()), SqlValue::Date),
        (ColumnKind::DateTime, FieldValue::Time(nanos)) => {
            time::OffsetDateTime::from_unix_timestamp_nanos(*nanos)
                .map_or(SqlValue::Null, |t| SqlValue::DateTime(DateTime(t)))
        }
        (_, FieldValue::Null) => SqlValue::Null,
        (_, FieldValue::Bool(b)) => SqlValue::Bool(*b),
        (_, FieldValue::Int(i)) => SqlValue::Int(*i),
        (_, FieldValue::Float(x)) => SqlValue::Float(*x),
        (_, FieldValue::Text(text)) => SqlValue::Text(text.clone()),
        (_, FieldValue::Time(nanos)) => SqlValue::Int(i64::try_from(*nanos).unwrap_or(i64::MAX)),
    }
}

/// `SELECT` one live row by key within `scope`; `for_update` locks it until the transaction
/// ends (PostgreSQL; SQLite's write transaction already excludes other writers).
pub(crate) fn select_by_key(
    dialect: Dialect,
    table: &Table,
    key: SqlValue,
    scope: &Scope,
    for_update: bool,
) -> Statement {
    let mut w = Writer::select(dialect, table);
    w.condition()
        .ident(table.key.name)
        .push(" = ")
        .param(key, table.key.kind);
    w.within(table, scope);
    if for_update && dialect == Dialect::Postgres {
        w.push(" FOR UPDATE");
    }
    w.finish()
}

/// [`select_by_key`] written once: bind it the key.
pub(crate) fn select_by_key_prepared(dialect: Dialect, table: &Table) -> Prepared {
    Prepared::of(&select_by_key(
        dialect,
        table,
        SqlValue::Null,
        &Scope::All,
        false,
    ))
}

/// [`insert`] written once: bind it the row.
pub(crate) fn insert_prepared(dialect: Dialect, table: &Table) -> Prepared {
    Prepared::of(&insert(
        dialect,
        table,
        vec![SqlValue::Null; table.columns.len()],
    ))
}

/// A `LIKE` pattern matching `text` literally, anywhere or at the start (escape: `\`).
fn like_pattern(text: &str, anywhere: bool) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    if anywhere {
        pattern.push('%');
    }
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// A SQLite `GLOB` pattern matching `text` literally, anywhere or at the start: `*`, `?` and
/// `[` each in a class of their own.
fn glob_pattern(text: &str, anywhere: bool) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    if anywhere {
        pattern.push('*');
    }
    for c in text.chars() {
        match c {
            '*' => pattern.push_str("[*]"),
            '?' => pattern.push_str("[?]"),
            '[' => pattern.push_str("[[]"),
            c => pattern.push(c),
        }
    }
    pattern.push('*');
    pattern
}

/// One key of a list's order: a sortable field's column or the table's key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SortKey {
    pub(crate) column: Column,
    pub(crate) direction: Direction,
    /// Nulls sort after the values ascending, before them descending.
    pub(crate) nullable: bool,
}

/// One page of a list, filtered and sorted, the key breaking ties (in the direction of the
/// last sort key) so that pages are stable; after the cursor's position or past the offset.
/// Nulls sort last ascending and first descending, as PostgreSQL's indexes order them. One row
/// more than the limit is read, to tell whether another page follows.
pub(crate) fn select_page(
    dialect: Dialect,
    table: &Table,
    filters: &[(Column, &Condition)],
    sort: &[SortKey],
    query: &ListQuery,
) -> Statement {
    let mut keys = sort.to_vec();
    keys.push(SortKey {
        column: table.key,
        direction: query.key_direction(),
        nullable: false,
    });
    let mut w = Writer::select(dialect, table);
    w.filters(filters);
    if let Some(after) = &query.after {
        w.condition().after(&keys, after);
    }
    w.push(" ORDER BY ");
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            w.push(", ");
        }
        // Qualified on PostgreSQL: a bare name in `ORDER BY` means the output column first,
        // and decimals are selected as text under their own name, which sorted "100" before
        // "2".
        if dialect == Dialect::Postgres {
            w.ident(table.name).push(".");
        }
        w.comparable(key.column);
        w.push(match (key.direction, key.column.name == table.key.name) {
            (Direction::Ascending, true) => " ASC",
            (Direction::Descending, true) => " DESC",
            (Direction::Ascending, false) => " ASC NULLS LAST",
            (Direction::Descending, false) => " DESC NULLS FIRST",
        });
    }
    w.push(" LIMIT ");
    w.param(SqlValue::Int(i64::from(query.limit) + 1), ColumnKind::Int64)
        .push(" OFFSET ")
        .param(
            SqlValue::Int(i64::try_from(query.offset).unwrap_or(i64::MAX)),
            ColumnKind::Int64,
        );
    w.finish()
}

/// The number of live rows that pass the filters.
pub(crate) fn count(
    dialect: Dialect,
    table: &Table,
    filters: &[(Column, &Condition)],
) -> Statement {
    let mut w = Writer::new(dialect);
    w.push("SELECT COUNT(*) FROM ").ident(table.name);
    w.live_rows(table).filters(filters);
    w.finish()
}

/// The next value of a server-generated integer key: PostgreSQL's identity sequence, or in
/// How many rows of `table` have `key` equal to `value` (0 or 1): whether a reference
/// resolves. Soft-deleted rows count, as they do for the database's own foreign keys.
pub(crate) fn count_key(
    dialect: Dialect,
    table: &str,
    key: &str,
    value: SqlValue,
    kind: ColumnKind,
) -> Statement {
    let mut w = Writer::new(dialect);
    w.push("SELECT COUNT(*) FROM ")
        .ident(table)
        .push(" WHERE ")
        .ident(key)
        .push(" = ")
        .param(value, kind);
    w.finish()
}

/// SQLite (whose writers are serialized by the write transaction) one past the largest key
/// ever stored, soft-deleted rows included.
pub(crate) fn next_key(dialect: Dialect, table: &Table) -> Statement {
    let mut w = Writer::new(dialect);
    match dialect {
        Dialect::Sqlite => {
            w.push("SELECT COALESCE(MAX(")
                .ident(table.key.name)
                .push("), 0) + 1 FROM ")
                .ident(table.name);
        }
        Dialect::Postgres => {
            // pg_get_serial_sequence takes the names as SQL text literals.
            let literal = |name: String| format!("'{}'", name.replace('\'', "''"));
            w.push("SELECT nextval(pg_get_serial_sequence(")
                .push(&literal(ident(table.name)))
                .push(", ")
                .push(&literal(table.key.name.to_owned()))
                .push("))");
        }
    }
    w.finish()
}

pub(crate) fn insert(dialect: Dialect, table: &Table, row: Vec<SqlValue>) -> Statement {
    let mut w = Writer::new(dialect);
    w.push("INSERT INTO ").ident(table.name).push(" (");
    for (i, column) in table.columns.iter().enumerate() {
        if i > 0 {
            w.push(", ");
        }
        w.ident(column.name);
    }
    w.push(") VALUES (");
    for (i, (value, column)) in row.into_iter().zip(table.columns).enumerate() {
        if i > 0 {
            w.push(", ");
        }
        w.param(value, column.kind);
    }
    w.push(")");
    w.finish()
}

/// Writes every column but the key of the row with that key.
pub(crate) fn update(dialect: Dialect, table: &Table, row: Vec<SqlValue>) -> Statement {
    let mut w = Writer::new(dialect);
    w.push("UPDATE ").ident(table.name).push(" SET ");
    let mut key = SqlValue::Null;
    let mut first = true;
    for (value, column) in row.into_iter().zip(table.columns) {
        if column.name == table.key.name {
            key = value;
            continue;
        }
        if !first {
            w.push(", ");
        }
        first = false;
        w.ident(column.name).push(" = ").param(value, column.kind);
    }
    w.push(" WHERE ")
        .ident(table.key.name)
        .push(" = ")
        .param(key, table.key.kind);
    w.finish()
}

/// Removes the live row with that key within `scope`, or marks it deleted in a soft-deleting
/// table.
pub(crate) fn delete(
    dialect: Dialect,
    table: &Table,
    key: SqlValue,
    scope: &Scope,
    now: DateTime,
) -> Statement {
    let mut w = Writer::new(dialect);
    if table.soft_delete {
        w.push("UPDATE ")
            .ident(table.name)
            .push(" SET ")
            .ident(DELETED_AT)
            .push(" = ")
            .param(SqlValue::DateTime(now), ColumnKind::DateTime);
    } else {
        w.push("DELETE FROM ").ident(table.name);
    }
    w.live_rows(table)
        .condition()
        .ident(table.key.name)
        .push(" = ")
        .param(key, table.key.kind);
    w.within(table, scope);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::list::Comparison;

    const COLUMNS: &[Column] = &[
        Column {
            name: "id",
            kind: ColumnKind::Uuid,
        },
        Column {
            name: "title",
            kind: ColumnKind::Text,
        },
        Column {
            name: "budget",
            kind: ColumnKind::Decimal,
        },
    ];
    const TABLE: Table = Table {
        name: "tasks",
        columns: COLUMNS,
        key: COLUMNS[0],
        soft_delete: true,
    };

    fn page() -> ListQuery {
        ListQuery {
            offset: 20,
            ..ListQuery::new(10)
        }
    }

    fn key(column: Column, direction: Direction, nullable: bool) -> SortKey {
        SortKey {
            column,
            direction,
            nullable,
        }
    }

    #[test]
    fn pages_bind_every_value_and_break_ties_on_the_key() {
        let hostile = Condition::Compare(
            Comparison::Eq,
            FieldValue::Text("x'; DROP TABLE tasks; --".into()),
        );
        let filters = [(COLUMNS[1], &hostile)];
        let sort = [key(COLUMNS[2], Direction::Descending, false)];
        let page = ListQuery {
            sort: vec![("budget".to_owned(), Direction::Descending)],
            ..page()
        };
        let sqlite = select_page(Dialect::Sqlite, &TABLE, &filters, &sort, &page);
        assert_eq!(
            sqlite.sql,
            r#"SELECT "id", "title", "budget" FROM "tasks" WHERE "deleted_at" IS NULL AND "title" = ? ORDER BY CAST("budget" AS REAL) DESC NULLS FIRST, "id" DESC LIMIT ? OFFSET ?"#
        );
        assert_eq!(sqlite.params.len(), 3);
        assert_eq!(
            sqlite.params[1].0,
            SqlValue::Int(11),
            "one row past the limit"
        );
        let postgres = select_page(Dialect::Postgres, &TABLE, &filters, &sort, &page);
        assert_eq!(
            postgres.sql,
            r#"SELECT "id", "title", "budget"::text AS "budget" FROM "tasks" WHERE "deleted_at" IS NULL AND "title" = $1 ORDER BY "tasks"."budget" DESC NULLS FIRST, "tasks"."id" DESC LIMIT $2 OFFSET $3"#
        );
    }

    #[test]
    fn operators_bind_their_operands_and_escape_wildcards() {
        let conditions = [
            Condition::In {
                values: vec![FieldValue::Text("a".into()), FieldValue::Text("b".into())],
                negated: true,
            },
            Condition::Text {
                place: TextPlace::Anywhere,
                text: "50%_*?[x]".into(),
                ignore_case: false,
            },
            Condition::Text {
                place: TextPlace::Start,
                text: "Ab%".into(),
                ignore_case: true,
            },
            Condition::IsNull(false),
        ];
        let filters: Vec<(Column, &Condition)> =
            conditions.iter().map(|c| (COLUMNS[1], c)).collect();
        let sqlite = select_page(Dialect::Sqlite, &TABLE, &filters, &[], &page());
        assert!(
            sqlite.sql.as_str().contains(
                r#""title" NOT IN (?, ?) AND "title" GLOB ? AND "title" LIKE ? ESCAPE '\' AND "title" IS NOT NULL"#
            ),
            "{}",
            sqlite.sql.as_str()
        );
        let texts: Vec<&SqlValue> = sqlite.params.iter().map(|(v, _)| v).collect();
        assert_eq!(texts[2], &SqlValue::Text("*50%_[*][?][[]x]*".into()));
        assert_eq!(texts[3], &SqlValue::Text("Ab\\%%".into()));
        let postgres = select_page(Dialect::Postgres, &TABLE, &filters, &[], &page());
        assert!(
            postgres.sql.as_str().contains(
                r#""title" LIKE $3 ESCAPE '\' AND translate("title", 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') LIKE $4 ESCAPE '\'"#
            ),
            "{}",
            postgres.sql.as_str()
        );
        assert_eq!(
            postgres.params[2].0,
            SqlValue::Text("%50\\%\\_*?[x]%".into())
        );
        assert_eq!(postgres.params[3].0, SqlValue::Text("ab\\%%".into()));
    }

    #[test]
    fn cursor_pages_seek_on_runs_and_place_nulls() {
        let after = |sort: &[SortKey], values: Vec<FieldValue>| {
            let query = ListQuery {
                sort: sort
                    .iter()
                    .map(|k| (k.column.name.to_owned(), k.direction))
                    .collect(),
                after: Some(values),
                ..ListQuery::new(10)
            };
            let statement = select_page(Dialect::Postgres, &TABLE, &[], sort, &query);
            let sql = statement.sql.as_str().to_owned();
            let start = sql.find("IS NULL AND ").expect("a condition") + "IS NULL AND ".len();
            let end = sql.find(" ORDER BY").expect("an order");
            sql[start..end].to_owned()
        };
        let id = FieldValue::Text("0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69".into());
        let title = FieldValue::Text("t".into());
        assert_eq!(after(&[], vec![id.clone()]), r#""id" > $1"#);
        assert_eq!(
            after(
                &[key(COLUMNS[1], Direction::Ascending, false)],
                vec![title.clone(), id.clone()]
            ),
            r#"("title", "id") > ($1, $2)"#
        );
        assert_eq!(
            after(
                &[
                    key(COLUMNS[2], Direction::Descending, false),
                    key(COLUMNS[1], Direction::Ascending, false)
                ],
                vec![FieldValue::Float(1.5), title.clone(), id.clone()]
            ),
            r#"("budget" <= $1::numeric AND ("budget" < $2::numeric OR ("title", "id") > ($3, $4)))"#
        );
        assert_eq!(
            after(
                &[key(COLUMNS[1], Direction::Ascending, true)],
                vec![title.clone(), id.clone()]
            ),
            r#"("title" > $1 OR "title" IS NULL OR ("title" = $2 AND "id" > $3))"#
        );
        assert_eq!(
            after(
                &[key(COLUMNS[1], Direction::Descending, true)],
                vec![FieldValue::Null, id.clone()]
            ),
            r#"("title" IS NOT NULL OR ("title" IS NULL AND "id" < $1))"#
        );
        assert_eq!(
            after(
                &[key(COLUMNS[1], Direction::Ascending, true)],
                vec![FieldValue::Null, id]
            ),
            r#"("title" IS NULL AND "id" > $1)"#
        );
    }

    #[test]
    fn writes_name_every_column_and_soft_deletes_mark_rows() {
        let row = vec![SqlValue::Null, SqlValue::Text("t".into()), SqlValue::Null];
        let update = update(Dialect::Postgres, &TABLE, row);
        assert_eq!(
            update.sql,
            r#"UPDATE "tasks" SET "title" = $1, "budget" = $2::numeric WHERE "id" = $3"#
        );
        let everyone = Scope::All;
        let delete_any = delete(
            Dialect::Sqlite,
            &TABLE,
            SqlValue::Null,
            &everyone,
            DateTime::now(),
        );
        assert_eq!(
            delete_any.sql,
            r#"UPDATE "tasks" SET "deleted_at" = ? WHERE "deleted_at" IS NULL AND "id" = ?"#
        );
        // An owned row is reached by its owner only: the condition is the statement's.
        let owned = Scope::OwnedBy {
            field: "title",
            owner: "ada".to_owned(),
        };
        let delete_own = delete(
            Dialect::Postgres,
            &TABLE,
            SqlValue::Null,
            &owned,
            DateTime::now(),
        );
        assert_eq!(
            delete_own.sql,
            r#"UPDATE "tasks" SET "deleted_at" = $1 WHERE "deleted_at" IS NULL AND "id" = $2 AND "title" = $3"#
        );
        assert_eq!(delete_own.params[2].0, SqlValue::Text("ada".to_owned()));
        let read_own = select_by_key(Dialect::Sqlite, &TABLE, SqlValue::Null, &owned, false);
        let text = read_own.sql.as_str();
        assert!(text.ends_with(r#""id" = ? AND "title" = ?"#), "{text}");
        let next = next_key(Dialect::Postgres, &TABLE);
        assert_eq!(
            next.sql,
            r#"SELECT nextval(pg_get_serial_sequence('"tasks"', 'id'))"#
        );
    }
}
