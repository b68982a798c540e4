//! What changed between the schema recorded at the last migration and the schema the
//! contracts ask for, and whether the change may be applied to a database holding data.
//!
//! The rules:
//!
//! - A column is the same column when its name is the same, or when its field says
//!   `renamed_from: <old name>` and the old column is gone: a rename is never guessed, so a
//!   field that disappeared while another appeared is a drop plus an add.
//! - Losing data is destructive: dropping a table or a column, a type change that is not a
//!   widening ([`ColumnType::widens_to`]), making a nullable column NOT NULL. Each is an
//!   error naming `--allow-destructive` unless that option is set (then a warning).
//! - Some changes cannot be applied whatever the flag: a NOT NULL column without a default
//!   added to an existing table (its rows would have no value) and a changed primary key.

use std::collections::BTreeMap;

use crate::diag::locate;
use crate::diag::{Diagnostic, FileId, Span};
use crate::ir::{Contract, Project};

use super::schema::{Column, DELETED_AT, Index, Schema, Table};

/// The option that allows destructive changes, as users type it.
pub(crate) const ALLOW_DESTRUCTIVE_FLAG: &str = "--allow-destructive";

/// Everything a new migration changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct SchemaDiff {
    /// New tables, by name.
    pub created: Vec<(String, Table)>,
    /// Tables that are gone, as they were.
    pub dropped: Vec<(String, Table)>,
    /// Tables in both schemas that changed.
    pub altered: Vec<TableDiff>,
}

/// The changes of one table that exists before and after.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct TableDiff {
    pub name: String,
    pub before: Table,
    pub after: Table,
    /// Every column in both, as `(before, after)`; the names differ for a renamed column.
    pub kept: Vec<(Column, Column)>,
    pub added: Vec<Column>,
    pub dropped: Vec<Column>,
    pub dropped_indexes: Vec<Index>,
    pub created_indexes: Vec<Index>,
}

impl TableDiff {
    pub(crate) fn renamed(&self) -> impl Iterator<Item = &(Column, Column)> {
        self.kept.iter().filter(|(b, a)| b.name != a.name)
    }

    /// Kept columns whose definition changed.
    pub(crate) fn changed(&self) -> impl Iterator<Item = &(Column, Column)> {
        self.kept.iter().filter(|(b, a)| b.definition_differs(a))
    }

    fn is_empty(&self) -> bool {
        self.added.is_empty()
            && self.dropped.is_empty()
            && self.dropped_indexes.is_empty()
            && self.created_indexes.is_empty()
            && self.renamed().next().is_none()
            && self.changed().next().is_none()
    }
}

impl SchemaDiff {
    pub(crate) fn is_empty(&self) -> bool {
        self.created.is_empty() && self.dropped.is_empty() && self.altered.is_empty()
    }

    /// One line per change, for `cmmv gen` and the migration's header.
    pub(crate) fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        for (name, table) in &self.dropped {
            lines.push(format!(
                "drop table {name} ({} columns)",
                table.columns.len()
            ));
        }
        for (name, table) in &self.created {
            lines.push(format!(
                "create table {name} ({} columns)",
                table.columns.len()
            ));
        }
        for t in &self.altered {
            let name = &t.name;
            for (before, after) in t.renamed() {
                lines.push(format!(
                    "rename column {name}.{} to {}",
                    before.name, after.name
                ));
            }
            for column in &t.added {
                lines.push(format!(
                    "add column {name}.{} ({})",
                    column.name,
                    column.summary()
                ));
            }
            for (before, after) in t.changed() {
                lines.push(format!(
                    "change column {name}.{} ({} -> {})",
                    after.name,
                    before.summary(),
                    after.summary()
                ));
            }
            for column in &t.dropped {
                lines.push(format!("drop column {name}.{}", column.name));
            }
            for index in &t.dropped_indexes {
                lines.push(format!("drop index {}", index.name));
            }
            for index in &t.created_indexes {
                let kind = if index.unique {
                    "unique index"
                } else {
                    "index"
                };
                let on = match index.columns.as_slice() {
                    [column] => format!("{name}.{column}"),
                    columns => format!("{name} ({})", columns.join(", ")),
                };
                lines.push(format!("add {kind} {} on {on}", index.name));
            }
        }
        lines
    }

    /// A short snake_case summary for the migration's file name: `init` for the first,
    /// `add_tasks_estimate_hours` for one added column, `change_tasks` for several changes of
    /// one table, `change_schema` for changes across many.
    pub(crate) fn slug(&self, first: bool) -> String {
        if first {
            return "init".to_owned();
        }
        let mut tables: Vec<&str> = self
            .created
            .iter()
            .chain(&self.dropped)
            .map(|(name, _)| name.as_str())
            .chain(self.altered.iter().map(|t| t.name.as_str()))
            .collect();
        tables.sort_unstable();
        tables.dedup();
        let single = match (
            self.created.as_slice(),
            self.dropped.as_slice(),
            self.altered.as_slice(),
        ) {
            ([(name, _)], [], []) => Some(format!("create_{name}")),
            ([], [(name, _)], []) => Some(format!("drop_{name}")),
            ([], [], [t]) => match (t.added.as_slice(), t.dropped.as_slice()) {
                ([c], []) if t.changed().count() == 0 && t.renamed().count() == 0 => {
                    Some(format!("add_{}_{}", t.name, c.name))
                }
                ([], [c]) if t.changed().count() == 0 && t.renamed().count() == 0 => {
                    Some(format!("drop_{}_{}", t.name, c.name))
                }
                _ => None,
            },
            _ => None,
        };
        let slug = single.unwrap_or_else(|| match tables.as_slice() {
            [one] => format!("change_{one}"),
            [a, b] => format!("change_{a}_{b}"),
            _ => "change_schema".to_owned(),
        });
        // Keep file names readable; the version number makes them unique anyway.
        let mut cut = slug.len().min(60);
        while !slug.is_char_boundary(cut) {
            cut -= 1;
        }
        slug[..cut].trim_end_matches('_').to_owned()
    }
}

/// Where diagnostics about tables and columns point: at the contract and field that ask for
/// them, or, for tables whose contract is gone, at their record in the lock file.
#[derive(Debug)]
pub(crate) struct Origins<'a> {
    contracts: BTreeMap<&'a str, &'a Contract>,
    lock: Option<(FileId, &'a str)>,
}

impl<'a> Origins<'a> {
    pub(crate) fn new(project: &'a Project, lock: Option<(FileId, &'a str)>) -> Self {
        let contracts = project
            .generated_contracts()
            .map(|c| (c.storage.table.as_str(), c))
            .collect();
        Self { contracts, lock }
    }

    fn contract(&self, table: &str) -> Option<&'a Contract> {
        self.contracts.get(table).copied()
    }

    /// The span of the field behind a column (the contract for `deleted_at` and unknown ones).
    fn column(&self, table: &str, column: &str) -> Option<Span> {
        let contract = self.contract(table)?;
        Some(contract.field(column).map_or(contract.span, |f| f.span))
    }

    fn column_type(&self, table: &str, column: &str) -> Option<Span> {
        let contract = self.contract(table)?;
        Some(contract.field(column).map_or(contract.span, |f| f.spans.ty))
    }

    /// The table's entry in the lock file's schema.
    fn recorded_table(&self, table: &str) -> Option<Span> {
        let (file, text) = self.lock?;
        let offset = locate(
            text,
            &["schema".to_owned(), "tables".to_owned(), table.to_owned()],
        );
        Some(Span::new(file, offset, offset + table.len() + 2))
    }
}

/// A diagnostic at `span`, or without a place when there is none.
fn at(span: Option<Span>, message: String) -> Diagnostic {
    match span {
        Some(span) => Diagnostic::error(span, message),
        None => Diagnostic::global(message),
    }
}

/// Compares `before` (the schema of the last migration) with `after` (the contracts').
pub(crate) fn diff(
    before: &Schema,
    after: &Schema,
    origins: &Origins<'_>,
    allow_destructive: bool,
) -> (SchemaDiff, Vec<Diagnostic>) {
    let mut check = Check {
        origins,
        allow_destructive,
        diags: Vec::new(),
    };
    let mut result = SchemaDiff::default();
    for (name, table) in &after.tables {
        match before.tables.get(name) {
            None => result.created.push((name.clone(), table.clone())),
            Some(old) => {
                if let Some(table_diff) = check.table(name, old, table) {
                    result.altered.push(table_diff);
                }
            }
        }
    }
    for (name, table) in &before.tables {
        if !after.tables.contains_key(name) {
            check.destructive(
                origins.recorded_table(name),
                format!("dropping table `{name}` deletes its rows"),
                format!("no contract has the table `{name}` any more"),
                "the table was recorded by an earlier migration",
            );
            result.dropped.push((name.clone(), table.clone()));
        }
    }
    (result, check.diags)
}

/// The checks of one diff and the diagnostics they found.
struct Check<'o, 'a> {
    origins: &'o Origins<'a>,
    allow_destructive: bool,
    diags: Vec<Diagnostic>,
}

impl Check<'_, '_> {
    /// An error, or a warning when destructive changes are allowed.
    fn destructive(&mut self, span: Option<Span>, message: String, label: String, note: &str) {
        let diagnostic = at(span, message).with_label(label).with_note(note);
        let diagnostic = if self.allow_destructive {
            let mut warning = diagnostic;
            warning.severity = crate::diag::Severity::Warning;
            warning.with_help(format!("allowed by `{ALLOW_DESTRUCTIVE_FLAG}`"))
        } else {
            diagnostic.with_help(format!(
                "if losing this data is intended, run `cmmv gen {ALLOW_DESTRUCTIVE_FLAG}` \
                 (`Builder::allow_destructive(true)` in a build script)"
            ))
        };
        self.diags.push(diagnostic);
    }

    fn table(&mut self, name: &str, before: &Table, after: &Table) -> Option<TableDiff> {
        let key_before = before.primary_key();
        let key_after = after.primary_key();
        let renamed_key = key_after.and_then(|k| self.renamed_from(name, &k.name, before, after));
        let same_key = match (key_before, key_after) {
            (Some(b), Some(a)) => {
                (b.name == a.name || renamed_key == Some(b.name.as_str())) && b.ty == a.ty
            }
            (b, a) => b.is_none() && a.is_none(),
        };
        if !same_key {
            let at_key = key_after.and_then(|k| self.origins.column(name, &k.name));
            self.diags.push(
                at(
                    at_key,
                    format!("the primary key of table `{name}` cannot change in a migration"),
                )
                .with_label("the key differs from the one recorded in cmmv.lock")
                .with_note("rows of other tables refer to the old key values")
                .with_help(
                    "keep the key field and its type; for a new key, declare a new contract",
                ),
            );
            return None;
        }

        let mut kept = Vec::new();
        let mut added = Vec::new();
        for column in &after.columns {
            let old_name = match before.column(&column.name) {
                Some(_) => Some(column.name.as_str()),
                None => self.renamed_from(name, &column.name, before, after),
            };
            match old_name.and_then(|old| before.column(old)) {
                Some(old) => {
                    self.column_change(name, old, column);
                    kept.push((old.clone(), column.clone()));
                }
                None => {
                    self.added_column(name, column);
                    added.push(column.clone());
                }
            }
        }
        let mut dropped = Vec::new();
        for column in &before.columns {
            if kept.iter().any(|(old, _)| old.name == column.name) {
                continue;
            }
            let (label, note) = if column.name == DELETED_AT && before.soft_delete {
                (
                    "`storage.soft_delete` is off now".to_owned(),
                    "soft-deleted rows would become visible again, and when they were deleted is lost",
                )
            } else {
                (
                    format!("field `{}` is no longer declared", column.name),
                    "if the field was renamed, declare `renamed_from` on its new name instead",
                )
            };
            let span = self
                .origins
                .contract(name)
                .map(|c| c.span)
                .or_else(|| self.origins.recorded_table(name));
            self.destructive(
                span,
                format!(
                    "dropping column `{name}.{}` deletes its values",
                    column.name
                ),
                label,
                note,
            );
            dropped.push(column.clone());
        }

        let old_indexes = before.indexes(name);
        let new_indexes = after.indexes(name);
        let table_diff = TableDiff {
            name: name.to_owned(),
            before: before.clone(),
            after: after.clone(),
            kept,
            added,
            dropped,
            dropped_indexes: old_indexes
                .iter()
                .filter(|i| !new_indexes.contains(i))
                .cloned()
                .collect(),
            created_indexes: new_indexes
                .iter()
                .filter(|i| !old_indexes.contains(i))
                .cloned()
                .collect(),
        };
        (!table_diff.is_empty()).then_some(table_diff)
    }

    /// The old name of `column` when its field declares `renamed_from` and the old column
    /// exists before and not after (a rename already recorded leaves `renamed_from` in place).
    fn renamed_from<'t>(
        &self,
        table: &str,
        column: &str,
        before: &'t Table,
        after: &Table,
    ) -> Option<&'t str> {
        if before.column(column).is_some() {
            return None;
        }
        let field = self.origins.contract(table)?.field(column)?;
        let old = &field.renamed_from.as_ref()?.value;
        if after.column(old).is_some() {
            return None;
        }
        before.column(old).map(|c| c.name.as_str())
    }

    fn added_column(&mut self, table: &str, column: &Column) {
        if !column.nullable && column.default.is_none() {
            self.diags.push(
                at(
                    self.origins.column(table, &column.name),
                    format!(
                        "new column `{table}.{}` is NOT NULL without a default",
                        column.name
                    ),
                )
                .with_label("rows already in the table would have no value for it")
                .with_help("give the field a `default`, or make it `optional` or `nullable`"),
            );
        }
    }

    fn column_change(&mut self, table: &str, before: &Column, after: &Column) {
        if !before.ty.widens_to(after.ty) {
            self.destructive(
                self.origins.column_type(table, &after.name),
                format!(
                    "changing column `{table}.{}` from {} to {} can lose or reject data",
                    after.name,
                    before.ty.name(),
                    after.ty.name()
                ),
                format!("was {}", before.ty.name()),
                "only widening changes keep every value: int32 to int64, float to double, \
                 integers to decimal, numbers, uuids and dates to text",
            );
        }
        if before.nullable && !after.nullable {
            let (message, note) = if after.default.is_some() {
                (
                    "replaces its null values with the field's default",
                    "null and the default can no longer be told apart afterwards",
                )
            } else {
                (
                    "fails on rows where it is null",
                    "with a `default` on the field, the migration fills null values with it",
                )
            };
            self.destructive(
                self.origins.column(table, &after.name),
                format!("making column `{table}.{}` NOT NULL {message}", after.name),
                "was optional or nullable".to_owned(),
                note,
            );
        }
    }
}
