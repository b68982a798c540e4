//! SQL schema and migrations derived from the contracts.
//!
//! Every contract is a table ([`schema`]). The lock file records the schema as of the last
//! migration and the list of migrations with a checksum of each script. A compilation compares
//! the recorded schema with the contracts' ([`diff`]); when anything changed, it writes one new
//! migration, a SQLite and a PostgreSQL script ([`emit`]), committed next to the contracts:
//!
//! ```text
//! contracts/migrations/sqlite/0001_init.sql
//! contracts/migrations/postgres/0001_init.sql
//! contracts/migrations/sqlite/0002_add_tasks_estimate_hours.sql
//! ...
//! ```
//!
//! A migration once recorded is never rewritten: databases have applied it. A changed
//! contract produces a new migration; an edited, missing or unrecorded migration file is an
//! error ([`plan`]).

pub(crate) mod diff;
pub(crate) mod emit;
pub(crate) mod schema;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use emit::Dialect;
pub(crate) use schema::Schema;

use crate::diag::locate;
use crate::diag::{Diagnostic, FileId, Span, display_path};
use crate::emit::GeneratedFile;
use crate::ir::Project;
use crate::{Input, LOCK_FILE};

/// The directory next to the contracts that holds the migrations, one subdirectory per dialect.
pub(crate) const MIGRATIONS_DIR: &str = "migrations";

/// One migration: its scripts for every dialect. Generated code embeds these and the runtime
/// applies the ones a database has not applied yet, in version order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    /// 1, 2, 3... in the order they apply.
    pub version: u32,
    /// A snake_case summary: `init`, `add_tasks_estimate_hours`, `change_tasks`.
    pub name: String,
    /// The SQLite script.
    pub sqlite: String,
    /// The PostgreSQL script.
    pub postgres: String,
}

impl Migration {
    /// `0002_add_tasks_estimate_hours`.
    pub fn file_stem(&self) -> String {
        file_stem(self.version, &self.name)
    }

    /// The script's path relative to the contract directory:
    /// `migrations/sqlite/0002_add_tasks_estimate_hours.sql`.
    pub fn path(&self, dialect: Dialect) -> PathBuf {
        Path::new(MIGRATIONS_DIR)
            .join(dialect.dir_name())
            .join(format!("{}.sql", self.file_stem()))
    }

    pub fn script(&self, dialect: Dialect) -> &str {
        match dialect {
            Dialect::Sqlite => &self.sqlite,
            Dialect::Postgres => &self.postgres,
        }
    }

    fn record(&self) -> MigrationRecord {
        MigrationRecord {
            version: self.version,
            name: self.name.clone(),
            sqlite: checksum(&self.sqlite),
            postgres: checksum(&self.postgres),
        }
    }
}

fn file_stem(version: u32, name: &str) -> String {
    format!("{version:04}_{name}")
}

/// A migration as the lock file records it: version, name, and the checksum of each script.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MigrationRecord {
    pub version: u32,
    pub name: String,
    /// [`checksum`] of the SQLite script.
    pub sqlite: String,
    /// [`checksum`] of the PostgreSQL script.
    pub postgres: String,
}

impl MigrationRecord {
    fn checksum(&self, dialect: Dialect) -> &str {
        match dialect {
            Dialect::Sqlite => &self.sqlite,
            Dialect::Postgres => &self.postgres,
        }
    }
}

/// The checksum of a script as the lock records it: FNV-1a (64 bits) of its bytes, in 16
/// lowercase hex digits. It detects edits, not attacks.
pub(crate) fn checksum(text: &str) -> String {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// How to plan migrations.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PlanOptions {
    /// Allow changes that lose data (dropping tables or columns, narrowing types, NOT NULL on
    /// a nullable column): warnings instead of errors.
    pub allow_destructive: bool,
    /// Compare the schema with the recorded one. Off when the contracts have errors: a
    /// contract that failed to read would look like a dropped table.
    pub compare: bool,
}

/// What [`plan`] found: every migration, the pending one, and the lock's new sections.
#[derive(Debug, Clone, Default)]
pub(crate) struct Plan {
    /// All migrations in order, the recorded ones and the pending one.
    pub migrations: Vec<Migration>,
    /// The pending migration's scripts, paths relative to the contract directory.
    pub pending_files: Vec<GeneratedFile>,
    /// One line per change of the pending migration.
    pub changes: Vec<String>,
    /// The lock's `migrations` section after this compilation.
    pub records: Vec<MigrationRecord>,
    /// The lock's `schema` section after this compilation.
    pub schema: Option<Schema>,
    pub diagnostics: Vec<Diagnostic>,
}

/// What the lock file recorded of the storage: the migrations applied so far, and the schema
/// as of the last one. (The planner reads these, not the lock itself: the lock records the
/// planner's types, and the dependency goes one way.)
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Recorded<'a> {
    pub migrations: &'a [MigrationRecord],
    pub schema: Option<&'a Schema>,
}

/// Checks the recorded migrations against their files and, when the contracts' schema
/// differs from the recorded one, makes the next migration. Does no IO.
pub(crate) fn plan(
    project: &Project,
    input: &Input,
    previous: Recorded<'_>,
    options: PlanOptions,
) -> Plan {
    let lock_file = input
        .lock
        .and_then(|id| Some((id, input.sources.get(id)?.text.as_str())));
    let mut plan = Plan {
        records: previous.migrations.to_vec(),
        schema: previous.schema.cloned(),
        ..Plan::default()
    };
    let mut files = migration_files(input);
    for record in previous.migrations {
        if let Some(migration) =
            recorded(record, &mut files, input, lock_file, &mut plan.diagnostics)
        {
            plan.migrations.push(migration);
        }
    }

    if options.compare {
        let before = previous.schema.cloned().unwrap_or_default();
        let after = schema::schema_of(project);
        let origins = diff::Origins::new(project, lock_file);
        let (changes, diags) = diff::diff(&before, &after, &origins, options.allow_destructive);
        plan.diagnostics.extend(diags);
        if !changes.is_empty() {
            let version = previous.migrations.last().map_or(1, |r| r.version + 1);
            let name = changes.slug(previous.migrations.is_empty());
            let stem = file_stem(version, &name);
            let lines = changes.describe();
            let migration = Migration {
                version,
                sqlite: emit::render(&changes, Dialect::Sqlite, &stem, &lines),
                postgres: emit::render(&changes, Dialect::Postgres, &stem, &lines),
                name,
            };
            plan.pending_files = Dialect::ALL
                .into_iter()
                .map(|dialect| GeneratedFile {
                    path: migration.path(dialect),
                    contents: migration.script(dialect).to_owned(),
                })
                .collect();
            plan.records.push(migration.record());
            plan.schema = Some(after);
            plan.changes = lines;
            plan.migrations.push(migration);
        }
    }

    // What is left is not recorded. The pending migration's own files may already be on disk
    // (a run that wrote them and failed before the lock); only other files are strays.
    let pending: Vec<(PathBuf, &str)> = plan
        .pending_files
        .iter()
        .map(|f| (f.path.clone(), f.contents.as_str()))
        .collect();
    for ((dialect, stem), id) in files {
        let Some(file) = input.sources.get(id) else {
            continue;
        };
        let path = Path::new(MIGRATIONS_DIR)
            .join(dialect.dir_name())
            .join(format!("{stem}.sql"));
        if pending
            .iter()
            .any(|(p, text)| *p == path && *text == file.text)
        {
            continue;
        }
        plan.diagnostics.push(
            Diagnostic::error(
                first_line(id, &file.text),
                format!(
                    "migration file `{}` is not recorded in {LOCK_FILE}",
                    display_path(&path)
                ),
            )
            .with_label("no migration of this name in the lock")
            .with_help(format!(
                "migrations come from `cmmv gen` together with their {LOCK_FILE} entry: delete \
                 this file, or restore {LOCK_FILE} from version control"
            )),
        );
    }
    plan
}

/// The migration files of the input by dialect and file stem (`0001_init`).
fn migration_files(input: &Input) -> BTreeMap<(Dialect, String), FileId> {
    input
        .migrations
        .iter()
        .filter_map(|&id| {
            let path = &input.sources.get(id)?.name;
            let dialect = Dialect::from_dir_name(path.parent()?.file_name()?.to_str()?)?;
            let stem = path.file_stem()?.to_str()?.to_owned();
            Some(((dialect, stem), id))
        })
        .collect()
}

/// The recorded migration with its scripts read from `files` (taking them out), or `None`
/// with a diagnostic for each script that is missing or was edited.
fn recorded(
    record: &MigrationRecord,
    files: &mut BTreeMap<(Dialect, String), FileId>,
    input: &Input,
    lock_file: Option<(FileId, &str)>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Migration> {
    let stem = file_stem(record.version, &record.name);
    let mut scripts = Vec::new();
    for dialect in Dialect::ALL {
        let path = Path::new(MIGRATIONS_DIR)
            .join(dialect.dir_name())
            .join(format!("{stem}.sql"));
        let file = files
            .remove(&(dialect, stem.clone()))
            .and_then(|id| Some((id, input.sources.get(id)?)));
        let Some((id, file)) = file else {
            let span = lock_file.map(|(lock, text)| {
                let offset = locate(text, &["migrations".to_owned(), record.name.clone()]);
                Span::new(lock, offset, offset + record.name.len() + 2)
            });
            let message = format!(
                "migration `{stem}` is recorded in {LOCK_FILE} but `{}` is missing",
                display_path(&path)
            );
            let diagnostic = match span {
                Some(span) => Diagnostic::error(span, message).with_label("recorded here"),
                None => Diagnostic::global(message),
            };
            diags.push(diagnostic.with_help(
                "restore the file from version control: databases that applied it expect it",
            ));
            continue;
        };
        let actual = checksum(&file.text);
        if actual != record.checksum(dialect) {
            diags.push(
                Diagnostic::error(
                    first_line(id, &file.text),
                    format!(
                        "migration `{}` was edited after it was recorded",
                        display_path(&path)
                    ),
                )
                .with_label(format!(
                    "checksum {actual}, {LOCK_FILE} records {}",
                    record.checksum(dialect)
                ))
                .with_note("databases that applied the migration would never see the edit")
                .with_help(
                    "restore the file from version control; to change the schema, change the \
                     contracts and run `cmmv gen`, which adds a new migration",
                ),
            );
        }
        scripts.push(file.text.clone());
    }
    let [sqlite, postgres]: [String; 2] = scripts.try_into().ok()?;
    Some(Migration {
        version: record.version,
        name: record.name.clone(),
        sqlite,
        postgres,
    })
}

/// The first line of a file, where diagnostics about the whole file point.
fn first_line(file: FileId, text: &str) -> Span {
    Span::new(file, 0, text.find('\n').unwrap_or(text.len()))
}
