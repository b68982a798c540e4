//! The storage schema of a project, independent of any SQL dialect.
//!
//! One table per contract, one column per field (in field order), plus `deleted_at` for
//! soft-delete tables. The schema is plain, comparable data: the lock file records the schema
//! as of the last migration, and [`super::diff`] compares that record with the schema of the
//! contracts to find what a new migration must change.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ir::{Contract, Definition, Field, OnDelete, Project, Scalar, Type};

/// The column that marks a row of a soft-delete table deleted.
pub(crate) const DELETED_AT: &str = "deleted_at";

/// Every table, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Schema {
    pub tables: BTreeMap<String, Table>,
}

/// The table of one contract.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Table {
    /// Columns in field order; `deleted_at` last in a soft-delete table.
    pub columns: Vec<Column>,
    /// Deletes set `deleted_at`; unique indexes then only cover rows that are not deleted.
    #[serde(default, skip_serializing_if = "is_false")]
    pub soft_delete: bool,
}

/// One column: what it holds and the constraints the database enforces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Column {
    pub name: String,
    #[serde(rename = "type")]
    pub ty: ColumnType,
    #[serde(default, skip_serializing_if = "is_false")]
    pub nullable: bool,
    /// The field's default, as its JSON value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary: Option<PrimaryKey>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub unique: bool,
    /// Indexed: `index: true`, or filterable, or sortable.
    #[serde(default, skip_serializing_if = "is_false")]
    pub index: bool,
    /// Sortable: its index ends with the primary key, the tiebreak of every sort.
    #[serde(default, skip_serializing_if = "is_false")]
    pub sortable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub references: Option<ForeignKey>,
}

/// How a primary key gets its values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrimaryKey {
    /// The database numbers rows (a server-generated `int64` key).
    Identity,
    /// The value comes from the application: a server-made uuid or a client-chosen string.
    Given,
}

/// A foreign key to the primary key of another table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForeignKey {
    pub table: String,
    pub column: String,
    pub on_delete: OnDelete,
}

/// What a column holds, in the terms both dialects map from. Several contract types share one
/// column type: the database does not tell a string from an enum (the application validates
/// values), and lists, maps, messages and `json` are all JSON documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ColumnType {
    Text,
    Bool,
    Int32,
    Int64,
    Float,
    Double,
    Decimal,
    Uuid,
    Date,
    DateTime,
    Bytes,
    Json,
}

impl ColumnType {
    /// The column type of a field of type `ty`.
    pub fn of(ty: &Type, project: &Project) -> ColumnType {
        match ty {
            Type::Scalar(scalar) => match scalar {
                // A secret's column holds its hash, a PHC string.
                Scalar::String | Scalar::Secret => ColumnType::Text,
                Scalar::Bool => ColumnType::Bool,
                Scalar::Int32 => ColumnType::Int32,
                Scalar::Int64 => ColumnType::Int64,
                Scalar::Float => ColumnType::Float,
                Scalar::Double => ColumnType::Double,
                Scalar::Decimal => ColumnType::Decimal,
                Scalar::Uuid => ColumnType::Uuid,
                Scalar::Date => ColumnType::Date,
                Scalar::DateTime => ColumnType::DateTime,
                Scalar::Bytes => ColumnType::Bytes,
                Scalar::Json => ColumnType::Json,
            },
            Type::List(_) | Type::Map(_) => ColumnType::Json,
            Type::Named(name) => match project.resolve(name) {
                Some(Definition::Enum(..)) => ColumnType::Text,
                _ => ColumnType::Json,
            },
        }
    }

    /// The name used in messages and the lock file.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::Text => "text",
            ColumnType::Bool => "bool",
            ColumnType::Int32 => "int32",
            ColumnType::Int64 => "int64",
            ColumnType::Float => "float",
            ColumnType::Double => "double",
            ColumnType::Decimal => "decimal",
            ColumnType::Uuid => "uuid",
            ColumnType::Date => "date",
            ColumnType::DateTime => "datetime",
            ColumnType::Bytes => "bytes",
            ColumnType::Json => "json",
        }
    }

    /// Whether every value of `self` is a value of `to` too, so that changing a column from
    /// one to the other loses nothing: larger numbers, and text for numbers, uuids and dates
    /// (whose text both databases and the application agree on; booleans and JSON differ).
    pub fn widens_to(self, to: ColumnType) -> bool {
        use ColumnType::*;
        self == to
            || matches!(
                (self, to),
                (Int32, Int64 | Double | Decimal)
                    | (Int64, Decimal)
                    | (Float, Double)
                    | (
                        Int32 | Int64 | Float | Double | Decimal | Uuid | Date | DateTime,
                        Text
                    )
            )
    }
}

impl Column {
    /// Whether the column's definition (what `CREATE TABLE` says about it) differs from
    /// `other`'s, names aside. Unique and index flags are indexes, not part of the definition.
    pub fn definition_differs(&self, other: &Column) -> bool {
        self.ty != other.ty
            || self.nullable != other.nullable
            || self.default != other.default
            || self.primary != other.primary
            || self.references != other.references
    }

    /// The column's short description, e.g. `float, nullable`.
    pub fn summary(&self) -> String {
        let mut parts = vec![self.ty.name().to_owned()];
        if self.nullable {
            parts.push("nullable".to_owned());
        }
        if let Some(default) = &self.default {
            parts.push(format!("default {default}"));
        }
        if let Some(fk) = &self.references {
            let action = match fk.on_delete {
                OnDelete::Restrict => "restrict",
                OnDelete::Cascade => "cascade",
                OnDelete::SetNull => "set null",
            };
            parts.push(format!(
                "references {}.{} on delete {action}",
                fk.table, fk.column
            ));
        }
        parts.join(", ")
    }
}

/// An index the database keeps: one per unique field and per indexed field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Index {
    /// `<table>_<column>_key` for unique indexes, `<table>_<column>_idx` for the others.
    pub name: String,
    pub table: String,
    /// The field's column; then, for a sortable field, the primary key.
    pub columns: Vec<String>,
    pub unique: bool,
    /// Only rows that are not soft-deleted (`WHERE "deleted_at" IS NULL`): a deleted row must
    /// not keep its unique values from being used again.
    pub live_rows_only: bool,
}

impl Table {
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    pub fn primary_key(&self) -> Option<&Column> {
        self.columns.iter().find(|c| c.primary.is_some())
    }

    /// The table's indexes, in column order. The primary key needs none, and a unique index
    /// already serves lookups, so an indexed unique field gets only the unique one. The index
    /// of a sortable field is `(field, key)`: a list sorted by the field breaks ties on the key,
    /// so that both databases read a page in index order, and a cursor page is one seek.
    pub fn indexes(&self, table: &str) -> Vec<Index> {
        let key = self.primary_key().map(|c| c.name.clone());
        self.columns
            .iter()
            .filter(|c| c.primary.is_none() && (c.unique || c.index))
            .map(|c| {
                let mut columns = vec![c.name.clone()];
                if c.sortable && !c.unique {
                    columns.extend(key.clone());
                }
                Index {
                    name: format!(
                        "{table}_{}_{}",
                        c.name,
                        if c.unique { "key" } else { "idx" }
                    ),
                    table: table.to_owned(),
                    columns,
                    unique: c.unique,
                    live_rows_only: c.unique && self.soft_delete,
                }
            })
            .collect()
    }
}

/// The schema the contracts of `project` ask for.
pub(crate) fn schema_of(project: &Project) -> Schema {
    let tables = project
        .generated_contracts()
        .map(|contract| (contract.storage.table.clone(), table_of(contract, project)))
        .collect();
    Schema { tables }
}

fn table_of(contract: &Contract, project: &Project) -> Table {
    let mut columns: Vec<Column> = contract
        .fields
        .iter()
        .map(|field| column_of(field, project))
        .collect();
    if contract.storage.soft_delete {
        columns.push(Column {
            name: DELETED_AT.to_owned(),
            ty: ColumnType::DateTime,
            nullable: true,
            default: None,
            primary: None,
            unique: false,
            index: false,
            sortable: false,
            references: None,
        });
    }
    Table {
        columns,
        soft_delete: contract.storage.soft_delete,
    }
}

fn column_of(field: &Field, project: &Project) -> Column {
    let ty = ColumnType::of(&field.ty, project);
    let primary = field.primary.then_some(if ty == ColumnType::Int64 {
        PrimaryKey::Identity
    } else {
        PrimaryKey::Given
    });
    let references = field.references.as_ref().and_then(|reference| {
        let target = project.contracts.get(&reference.contract)?;
        Some(ForeignKey {
            table: target.storage.table.clone(),
            column: target.primary_key()?.name.clone(),
            on_delete: reference.on_delete,
        })
    });
    Column {
        name: field.name.clone(),
        ty,
        nullable: field.optional || field.nullable,
        // A null default says no more than no default: the column is nullable anyway.
        default: field
            .default
            .as_ref()
            .map(crate::ir::Value::to_json)
            .filter(|v| !v.is_null()),
        // The primary key is unique and indexed by being the key. Filterable and sortable
        // fields are indexed: a list filtered or sorted on a field without one reads the
        // whole table.
        unique: field.unique && primary.is_none(),
        index: (field.index || field.filterable || field.sortable) && primary.is_none(),
        sortable: field.sortable && primary.is_none(),
        primary,
        references,
    }
}

fn is_false(b: &bool) -> bool {
    !*b
}
