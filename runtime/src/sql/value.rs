//! Values as they go into and come out of SQL columns, and the conversions of every field type
//! generated structs use.

use std::collections::BTreeMap;
use std::fmt;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::types::{Bytes, Date, DateTime, Decimal, ParseError, Uuid};
use crate::validate::{At, Errors, FromJson};

/// How a column stores its field, which decides how each database binds and reads it (see the
/// storage mapping in `docs/contracts.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub enum ColumnKind {
    /// `string` and enums.
    Text,
    Bool,
    Int32,
    Int64,
    Float,
    Double,
    /// Exact: `TEXT` in SQLite, `NUMERIC` in PostgreSQL.
    Decimal,
    Uuid,
    Date,
    DateTime,
    Bytes,
    /// `json`, lists, maps and messages: JSON text in SQLite, `JSONB` in PostgreSQL.
    Json,
}

/// One column of a contract's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub struct Column {
    pub name: &'static str,
    pub kind: ColumnKind,
}

/// A value bound to or read from a column.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL `NULL`: an absent optional field.
    Null,
    /// A boolean, kept as 0 or 1 in SQLite, which has no boolean type.
    Bool(bool),
    /// A 32- or 64-bit integer, widened to 64 bits.
    Int(i64),
    /// A `float` or `double` field, widened to 64 bits.
    Float(f64),
    /// Text: strings and enums' wire names; also how SQLite (and PostgreSQL, for decimals)
    /// hands back UUIDs, dates, date-times and decimals, which their field types then parse.
    Text(String),
    /// Raw bytes (`bytes` fields).
    Bytes(Vec<u8>),
    /// A UUID, written as text in SQLite and as `uuid` in PostgreSQL.
    Uuid(Uuid),
    /// A calendar date, written as `YYYY-MM-DD` text in SQLite.
    Date(Date),
    /// An instant, written as text in SQLite and as `timestamptz` in PostgreSQL.
    DateTime(DateTime),
    /// An exact decimal, written as its text so that no digit is lost.
    Decimal(Decimal),
    /// A JSON document: `json` fields, lists, maps and messages.
    Json(Value),
}

impl SqlValue {
    fn kind_name(&self) -> &'static str {
        match self {
            SqlValue::Null => "NULL",
            SqlValue::Bool(_) => "a boolean",
            SqlValue::Int(_) => "an integer",
            SqlValue::Float(_) => "a float",
            SqlValue::Text(_) => "text",
            SqlValue::Bytes(_) => "bytes",
            SqlValue::Uuid(_) => "a UUID",
            SqlValue::Date(_) => "a date",
            SqlValue::DateTime(_) => "a date-time",
            SqlValue::Decimal(_) => "a decimal",
            SqlValue::Json(_) => "JSON",
        }
    }

    fn mismatch<T>(self, expected: &'static str) -> Result<T, ColumnError> {
        Err(ColumnError::new(format!(
            "expected {expected}, found {}",
            self.kind_name()
        )))
    }
}

/// Why a stored value does not read back as its field's type: the column (once known), what
/// was wrong, and the parser's or decoder's own error as the [`source`](std::error::Error::source).
#[derive(Debug)]
pub struct ColumnError {
    column: Option<&'static str>,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ColumnError {
    /// A value that is not what its column holds, said in `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            column: None,
            message: message.into(),
            source: None,
        }
    }

    /// A value its type's parser or decoder refused with `source`.
    pub fn caused_by(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            column: None,
            message: source.to_string(),
            source: Some(Box::new(source)),
        }
    }

    /// The column the value came from, when known.
    pub fn column(&self) -> Option<&'static str> {
        self.column
    }

    fn in_column(mut self, column: &'static str) -> Self {
        self.column.get_or_insert(column);
        self
    }
}

impl fmt::Display for ColumnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(column) => write!(f, "column `{column}`: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for ColumnError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<ParseError> for ColumnError {
    fn from(error: ParseError) -> Self {
        Self::caused_by(error)
    }
}

/// A field type's column form. Implemented here for every scalar, options, lists and maps;
/// generated code implements it for enums (as text) and messages (as JSON) through
/// [`enum_to_sql`], [`enum_from_sql`], [`json_to_sql`] and [`json_from_sql`].
pub trait SqlColumn: Sized {
    /// The value to bind for this field.
    fn to_sql(&self) -> SqlValue;
    /// The field read back from its column's value; the error says what was expected and found.
    fn from_sql(value: SqlValue) -> Result<Self, ColumnError>;
}

impl SqlColumn for String {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Text(self.clone())
    }
    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        match value {
            SqlValue::Text(text) => Ok(text),
            other => other.mismatch("text"),
        }
    }
}

impl SqlColumn for bool {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Bool(*self)
    }
    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        match value {
            SqlValue::Bool(b) => Ok(b),
            // SQLite has no boolean type: 0 and 1.
            SqlValue::Int(i) => Ok(i != 0),
            other => other.mismatch("a boolean"),
        }
    }
}

impl SqlColumn for i64 {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Int(*self)
    }
    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        match value {
            SqlValue::Int(i) => Ok(i),
            other => other.mismatch("an integer"),
        }
    }
}

impl SqlColumn for i32 {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Int(i64::from(*self))
    }
    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        let wide = i64::from_sql(value)?;
        i32::try_from(wide).map_err(ColumnError::caused_by)
    }
}

impl SqlColumn for f64 {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Float(*self)
    }
    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        match value {
            SqlValue::Float(x) => Ok(x),
            // SQLite stores a REAL that happens to be integral as an integer.
            SqlValue::Int(i) => Ok(i as f64),
            other => other.mismatch("a number"),
        }
    }
}

impl SqlColumn for f32 {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Float(f64::from(*self))
    }
    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        f64::from_sql(value).map(|x| x as f32)
    }
}

/// The scalar types that have a variant of their own.
macro_rules! variant_column {
    ($($ty:ty => $variant:ident, $expected:literal;)*) => {$(
        impl SqlColumn for $ty {
            fn to_sql(&self) -> SqlValue {
                SqlValue::$variant(self.clone())
            }
            fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
                match value {
                    SqlValue::$variant(v) => Ok(v),
                    // SQLite keeps these as text; PostgreSQL reads numerics as text.
                    SqlValue::Text(text) => text.parse().map_err(ColumnError::caused_by),
                    other => other.mismatch($expected),
                }
            }
        }
    )*};
}

variant_column! {
    Uuid => Uuid, "a UUID";
    Date => Date, "a date";
    DateTime => DateTime, "a date-time";
    Decimal => Decimal, "a decimal";
}

impl SqlColumn for Bytes {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Bytes(self.0.clone())
    }
    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        match value {
            SqlValue::Bytes(bytes) => Ok(Bytes(bytes)),
            other => other.mismatch("bytes"),
        }
    }
}

impl SqlColumn for Value {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Json(self.clone())
    }
    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        match value {
            SqlValue::Json(json) => Ok(json),
            other => other.mismatch("JSON"),
        }
    }
}

impl<T: SqlColumn> SqlColumn for Option<T> {
    fn to_sql(&self) -> SqlValue {
        self.as_ref().map_or(SqlValue::Null, SqlColumn::to_sql)
    }
    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        match value {
            SqlValue::Null => Ok(None),
            value => T::from_sql(value).map(Some),
        }
    }
}

impl<T: Serialize + FromJson> SqlColumn for Vec<T> {
    fn to_sql(&self) -> SqlValue {
        json_to_sql(self)
    }
    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        json_from_sql(value)
    }
}

impl<T: Serialize + FromJson> SqlColumn for BTreeMap<String, T> {
    fn to_sql(&self) -> SqlValue {
        json_to_sql(self)
    }
    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        json_from_sql(value)
    }
}

/// An enum's column value: its wire name.
pub fn enum_to_sql(name: &str) -> SqlValue {
    SqlValue::Text(name.to_owned())
}

/// An enum read back from its wire name.
pub fn enum_from_sql<T>(value: SqlValue) -> Result<T, ColumnError>
where
    T: std::str::FromStr<Err: std::error::Error + Send + Sync + 'static>,
{
    String::from_sql(value)?
        .parse()
        .map_err(ColumnError::caused_by)
}

/// A value stored as JSON (lists, maps, messages).
#[doc(hidden)]
pub fn json_to_sql<T: Serialize + ?Sized>(value: &T) -> SqlValue {
    // Generated types serialize to JSON by construction: string keys, finite numbers.
    SqlValue::Json(serde_json::to_value(value).unwrap_or(Value::Null))
}

/// A value read back from JSON, with the same decoding requests get (shape and types, not
/// constraints: a row written under looser rules must still be readable).
#[doc(hidden)]
pub fn json_from_sql<T: FromJson>(value: SqlValue) -> Result<T, ColumnError> {
    let mut json = Value::from_sql(value)?;
    let mut errors = Errors::new();
    T::from_json(&mut json, &At::Root, &mut errors).ok_or_else(|| {
        let mut message = String::from("stored JSON does not decode:");
        for error in errors.into_vec() {
            let _ = write!(
                message,
                " {} {};",
                error.pointer.unwrap_or_default(),
                error.message
            );
        }
        ColumnError::new(message)
    })
}

/// The values of one row, in column order, taken one field at a time by generated code.
#[derive(Debug)]
#[doc(hidden)]
pub struct Row {
    values: std::vec::IntoIter<SqlValue>,
    columns: std::slice::Iter<'static, Column>,
}

impl Row {
    pub(crate) fn new(values: Vec<SqlValue>, columns: &'static [Column]) -> Self {
        Row {
            values: values.into_iter(),
            columns: columns.iter(),
        }
    }

    /// The next column's value as `T`; the error names the column.
    pub fn take<T: SqlColumn>(&mut self) -> Result<T, ColumnError> {
        let column = self.columns.next().map_or("?", |c| c.name);
        let value = self
            .values
            .next()
            .ok_or_else(|| ColumnError::new("missing from the row").in_column(column))?;
        T::from_sql(value).map_err(|e| e.in_column(column))
    }
}

/// A date-time as SQLite stores it: UTC with six fractional digits, so that text order is
/// time order and equal instants are equal text.
pub(crate) fn storage_text(at: &DateTime) -> String {
    let utc = at.0.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.microsecond()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_text_orders_like_time_and_reads_back() {
        let early: DateTime = "2030-01-31T17:00:00+02:00".parse().expect("valid");
        let late: DateTime = "2030-01-31T16:00:00.5Z".parse().expect("valid");
        assert_eq!(storage_text(&early), "2030-01-31T15:00:00.000000Z");
        assert!(storage_text(&early) < storage_text(&late));
        let back = DateTime::from_sql(SqlValue::Text(storage_text(&late))).expect("reads");
        assert_eq!(back, late);
    }

    #[test]
    fn rows_name_the_failing_column() {
        const COLUMNS: &[Column] = &[
            Column {
                name: "id",
                kind: ColumnKind::Int64,
            },
            Column {
                name: "tags",
                kind: ColumnKind::Json,
            },
        ];
        let mut row = Row::new(
            vec![SqlValue::Int(7), SqlValue::Json(serde_json::json!([1]))],
            COLUMNS,
        );
        assert_eq!(row.take::<i64>().ok(), Some(7));
        let error = row
            .take::<Vec<String>>()
            .expect_err("numbers are not strings");
        assert_eq!(error.column(), Some("tags"));
        assert!(
            error
                .to_string()
                .starts_with("column `tags`: stored JSON does not decode"),
            "{error}"
        );
    }
}
