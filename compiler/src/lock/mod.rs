//! The protobuf field-number lock file, `contracts/cmmv.lock`.
//!
//! A field number, once published in a `.proto` file, is part of the wire format: a client
//! built with it decodes whatever arrives under that number as that field. So numbers must
//! never move when a contract is edited. The lock records the number of every proto field and
//! enum value the compiler has ever emitted, and [`assign`] extends it under these rules:
//!
//! - A number once given is never changed.
//! - A new field gets one more than the highest number the message has ever used, live or
//!   reserved (explicit numbers of this run included), so a number is never reused; numbers
//!   19000-19999 belong to protobuf and are skipped.
//! - A removed field moves, name and number, to `reserved`; the emitter writes `reserved` lines
//!   for it so that protoc itself refuses any later reuse.
//! - `renamed_from: old` on a field takes over `old`'s number; `old` is not reserved then.
//! - A removed field that comes back under the same name gets its old number back, because the
//!   name and the number were published together and old clients still pair them that way.
//! - An explicit `number:` must agree with the lock for a locked field, may not take a reserved
//!   number, and may not collide with another field; a new field with one takes it.
//! - Enum values follow the same rules (without explicit numbers); 0 is always the implicit
//!   `<ENUM>_UNSPECIFIED` value, so locked values start at 1.
//!
//! Which proto messages have entries: every contract (all of its fields, write-only ones too,
//! since `TaskInput` carries them), every user message, and the request message of every
//! custom operation (path parameters, query parameters and `body`). The messages derived from
//! a contract (`TaskInput`, `TaskPatch`, `TaskFilter`) reuse the contract's numbers and the CRUD
//! request messages have fixed shapes, so none of them needs an entry of its own.

use std::collections::BTreeMap;
use std::ops::RangeInclusive;

use serde::{Deserialize, Serialize};

use crate::diag::{Diagnostic, FileId, Span, locate};
use crate::sql::{MigrationRecord, Schema};

mod numbering;

use numbering::NumberKind;
pub(crate) use numbering::{BODY_FIELD, assign};

/// The format version this compiler reads and writes.
pub(crate) const LOCK_VERSION: u32 = 1;

/// The largest protobuf field number.
pub(crate) const MAX_FIELD_NUMBER: u32 = 536_870_911;

/// Field numbers protobuf keeps for its own implementation.
pub(crate) const PROTOBUF_RESERVED_NUMBERS: RangeInclusive<u32> = 19_000..=19_999;

/// The largest enum value number (enum values are `int32`).
pub(crate) const MAX_ENUM_NUMBER: u32 = i32::MAX as u32;

/// The committed record of every protobuf field and enum-value number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lock {
    pub version: u32,
    /// Proto messages by name.
    #[serde(default)]
    pub messages: BTreeMap<String, MessageNumbers>,
    /// Proto enums by name.
    #[serde(default)]
    pub enums: BTreeMap<String, EnumNumbers>,
    /// Every SQL migration generated so far, in order, with the checksums of its scripts. A
    /// lock without this section has none yet.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub migrations: Vec<MigrationRecord>,
    /// The storage schema as of the last migration: what the next one is computed against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<Schema>,
}

impl Default for Lock {
    fn default() -> Self {
        Self {
            version: LOCK_VERSION,
            messages: BTreeMap::new(),
            enums: BTreeMap::new(),
            migrations: Vec::new(),
            schema: None,
        }
    }
}

/// The numbers of one proto message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageNumbers {
    /// Live fields by name.
    #[serde(default)]
    pub fields: BTreeMap<String, u32>,
    /// Removed fields by name; their numbers are never given again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reserved: BTreeMap<String, u32>,
}

/// The numbers of one proto enum (value names as written in the contract, e.g. `low`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnumNumbers {
    /// Live values by name.
    #[serde(default)]
    pub values: BTreeMap<String, u32>,
    /// Removed values by name; their numbers are never given again.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub reserved: BTreeMap<String, u32>,
}

impl Lock {
    /// The number of `field` in the proto message `message`.
    pub fn field_number(&self, message: &str, field: &str) -> Option<u32> {
        self.messages.get(message)?.fields.get(field).copied()
    }

    /// The number of `value` in the proto enum `name`.
    pub fn value_number(&self, name: &str, value: &str) -> Option<u32> {
        self.enums.get(name)?.values.get(value).copied()
    }
}

/// Reads a lock file; a malformed one is a diagnostic pointing into it.
///
/// A file holding only whitespace reads as an empty lock, so that `touch contracts/cmmv.lock`
/// is a valid way to start one.
pub(crate) fn parse(file: FileId, text: &str) -> Result<Lock, Diagnostic> {
    if text.trim().is_empty() {
        return Ok(Lock::default());
    }
    let lock: Lock = serde_json::from_str(text).map_err(|error| {
        let offset = byte_offset(text, error.line(), error.column());
        let full = error.to_string();
        // serde_json appends " at line L column C"; the rendered location already says that.
        let detail = full
            .rsplit_once(" at line ")
            .map_or(full.as_str(), |(d, _)| d);
        Diagnostic::error(
            char_span(file, text, offset),
            format!("malformed lock file: {detail}"),
        )
        .with_label(detail.to_owned())
        .with_help(REPAIR_HELP)
    })?;
    check_lock(&lock).map_err(|(path, message)| {
        let offset = locate(text, &path);
        Diagnostic::error(
            char_span(file, text, offset),
            format!("invalid lock file: {message}"),
        )
        .with_label("here")
        .with_help(REPAIR_HELP)
    })?;
    Ok(lock)
}

const REPAIR_HELP: &str = "`cmmv gen` writes this file: fix it by hand or restore it from version \
                           control (deleting it gives every field a new number, which breaks \
                           published clients)";

/// Checks what the JSON shape cannot: the version and the numbers. Returns the path of keys
/// leading to the problem (to point at it) and a message.
fn check_lock(lock: &Lock) -> Result<(), (Vec<String>, String)> {
    if lock.version != LOCK_VERSION {
        return Err((
            vec!["version".to_owned()],
            format!(
                "unsupported version {} (this cmmv reads version {LOCK_VERSION})",
                lock.version
            ),
        ));
    }
    for (name, entry) in &lock.messages {
        check_table(
            NumberKind::Field,
            "messages",
            name,
            &entry.fields,
            &entry.reserved,
        )?;
    }
    for (name, entry) in &lock.enums {
        check_table(
            NumberKind::EnumValue,
            "enums",
            name,
            &entry.values,
            &entry.reserved,
        )?;
    }
    check_migrations(lock)
}

/// Migrations are numbered 1, 2, 3... without gaps, have file-name-safe names, and come with
/// the schema they led to.
fn check_migrations(lock: &Lock) -> Result<(), (Vec<String>, String)> {
    for (expected, record) in (1..).zip(&lock.migrations) {
        let path = || vec!["migrations".to_owned(), record.name.clone()];
        if record.version != expected {
            return Err((
                path(),
                format!(
                    "migration `{}` has version {} where {expected} comes next",
                    record.name, record.version
                ),
            ));
        }
        if !crate::ir::is_snake_case(&record.name) {
            return Err((
                path(),
                format!("migration name `{}` is not snake_case", record.name),
            ));
        }
    }
    if !lock.migrations.is_empty() && lock.schema.is_none() {
        return Err((
            vec!["migrations".to_owned()],
            "migrations are recorded but the schema they led to is not".to_owned(),
        ));
    }
    Ok(())
}

fn check_table(
    kind: NumberKind,
    section: &str,
    owner: &str,
    live: &BTreeMap<String, u32>,
    reserved: &BTreeMap<String, u32>,
) -> Result<(), (Vec<String>, String)> {
    let path = |item: &str| vec![section.to_owned(), owner.to_owned(), item.to_owned()];
    let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
    for (name, &number) in live.iter().chain(reserved) {
        if !kind.is_valid(number) {
            return Err((
                path(name),
                format!(
                    "`{owner}.{name}` has the invalid {} number {number}",
                    kind.noun()
                ),
            ));
        }
        if let Some(first) = seen.insert(number, name) {
            return Err((
                path(name),
                format!("`{owner}.{name}` and `{owner}.{first}` share the number {number}"),
            ));
        }
    }
    if let Some(name) = live.keys().find(|name| reserved.contains_key(*name)) {
        return Err((
            path(name),
            format!("`{owner}.{name}` is both live and reserved"),
        ));
    }
    Ok(())
}

/// The lock file's text: deterministic (sorted keys), pretty, ending in a newline.
pub(crate) fn render(lock: &Lock) -> String {
    // Maps with string keys and integer values always serialize; the fallback only keeps this
    // function total.
    let mut text = serde_json::to_string_pretty(lock).unwrap_or_default();
    text.push('\n');
    text
}

/// The byte offset of serde_json's 1-based line and column (a column of 0 means the start of
/// the line).
fn byte_offset(text: &str, line: usize, column: usize) -> usize {
    let line_start: usize = text
        .split_inclusive('\n')
        .take(line.saturating_sub(1))
        .map(str::len)
        .sum();
    (line_start + column.saturating_sub(1)).min(text.len())
}

/// A span of the one character at `offset` (empty at the end of the text).
fn char_span(file: FileId, text: &str, offset: usize) -> Span {
    let mut start = offset.min(text.len());
    while !text.is_char_boundary(start) {
        start -= 1;
    }
    let end = text[start..]
        .chars()
        .next()
        .map_or(start, |c| start + c.len_utf8());
    Span::new(file, start, end)
}

#[cfg(test)]
mod tests {
    use super::numbering::next_number;
    use super::*;
    use crate::ir::Project;

    fn project(files: &[(&str, &str)]) -> Project {
        let mut input = crate::Input::default();
        for (name, text) in files {
            input.add_contract(*name, *text);
        }
        let (project, diags) = crate::lower_and_validate(&input);
        assert!(
            diags.is_empty(),
            "unexpected diagnostics: {:?}",
            diags.into_sorted()
        );
        project
    }

    fn task(fields: &str) -> Project {
        project(&[(
            "contracts/task.yaml",
            &format!(
                "contract: Task\ncrud: [get]\nfields:\n  id: {{ type: uuid, primary: true }}\n{fields}"
            ),
        )])
    }

    fn numbers(lock: &Lock, message: &str) -> Vec<(String, u32)> {
        let mut pairs: Vec<(String, u32)> = lock.messages[message]
            .fields
            .iter()
            .map(|(n, v)| (n.clone(), *v))
            .collect();
        pairs.sort_by_key(|(_, v)| *v);
        pairs
    }

    fn pairs(items: &[(&str, u32)]) -> Vec<(String, u32)> {
        items.iter().map(|(n, v)| ((*n).to_owned(), *v)).collect()
    }

    /// Assigns `first`, then `second` against the first lock; both must be clean.
    fn evolve(first: &str, second: &str) -> Lock {
        let (lock, diags) = assign(&task(first), None);
        assert!(diags.is_empty(), "{diags:?}");
        let (lock, diags) = assign(&task(second), Some(&lock));
        assert!(diags.is_empty(), "{diags:?}");
        lock
    }

    /// Assigns `first`, then `second`, and returns the second run's diagnostics.
    fn evolve_err(first: &str, second: &str) -> Vec<Diagnostic> {
        let (lock, diags) = assign(&task(first), None);
        assert!(diags.is_empty(), "{diags:?}");
        assign(&task(second), Some(&lock)).1
    }

    const TWO: &str = "  title: string\n  done: bool\n";

    #[test]
    fn first_run_numbers_in_declaration_order() {
        let (lock, diags) = assign(&task(TWO), None);
        assert!(diags.is_empty());
        assert_eq!(
            numbers(&lock, "Task"),
            pairs(&[("id", 1), ("title", 2), ("done", 3)])
        );
    }

    #[test]
    fn reordering_keeps_numbers() {
        let lock = evolve(TWO, "  done: bool\n  title: string\n");
        assert_eq!(
            numbers(&lock, "Task"),
            pairs(&[("id", 1), ("title", 2), ("done", 3)])
        );
    }

    #[test]
    fn added_field_takes_max_plus_one_and_removed_is_reserved() {
        let lock = evolve(TWO, "  done: bool\n  note: string\n");
        assert_eq!(
            numbers(&lock, "Task"),
            pairs(&[("id", 1), ("done", 3), ("note", 4)])
        );
        assert_eq!(
            lock.messages["Task"].reserved,
            BTreeMap::from([("title".to_owned(), 2)])
        );
        // A later addition still goes above the reserved number, never into a gap.
        let (lock, diags) = assign(&task("  note: string\n  extra: int32\n"), Some(&lock));
        assert!(diags.is_empty());
        assert_eq!(
            numbers(&lock, "Task"),
            pairs(&[("id", 1), ("note", 4), ("extra", 5)])
        );
        assert_eq!(lock.messages["Task"].reserved.len(), 2);
    }

    #[test]
    fn new_numbers_go_above_the_highest_ever_used() {
        let lock = evolve(TWO, "  title: string\n");
        let (lock, diags) = assign(&task(TWO), Some(&lock));
        assert!(diags.is_empty());
        // `done` comes back under its old name and gets its old number back.
        assert_eq!(
            numbers(&lock, "Task"),
            pairs(&[("id", 1), ("title", 2), ("done", 3)])
        );
        assert!(lock.messages["Task"].reserved.is_empty());
    }

    #[test]
    fn rename_without_renamed_from_is_remove_plus_add() {
        let lock = evolve(TWO, "  name: string\n  done: bool\n");
        assert_eq!(
            numbers(&lock, "Task"),
            pairs(&[("id", 1), ("done", 3), ("name", 4)])
        );
        assert_eq!(
            lock.messages["Task"].reserved,
            BTreeMap::from([("title".to_owned(), 2)])
        );
    }

    #[test]
    fn rename_with_renamed_from_keeps_the_number() {
        let renamed = "  name: { type: string, renamed_from: title }\n  done: bool\n";
        let lock = evolve(TWO, renamed);
        assert_eq!(
            numbers(&lock, "Task"),
            pairs(&[("id", 1), ("name", 2), ("done", 3)])
        );
        assert!(lock.messages["Task"].reserved.is_empty());
        // Leaving `renamed_from` in place afterwards changes nothing.
        let (again, diags) = assign(&task(renamed), Some(&lock));
        assert!(diags.is_empty());
        assert_eq!(again, lock);
    }

    #[test]
    fn renamed_from_an_unknown_field_is_reported_at_renamed_from() {
        let diags = evolve_err(
            TWO,
            "  name: { type: string, renamed_from: titel }\n  title: string\n  done: bool\n",
        );
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(
            diags[0]
                .message
                .contains("`renamed_from: titel` names no field"),
            "{}",
            diags[0].message
        );
        assert_eq!(diags[0].help.as_deref(), Some("did you mean `title`?"));
        let diags = evolve_err(
            TWO,
            "  name: { type: string, renamed_from: title }\n  title: string\n  done: bool\n",
        );
        assert!(
            diags[0].message.contains("still declared"),
            "{}",
            diags[0].message
        );
        assert_eq!(diags[0].labels.len(), 2);
    }

    #[test]
    fn renames_from_reserved_names_and_double_renames() {
        // `title` was removed in an earlier run; a new field may still take its number.
        let lock = evolve(TWO, "  done: bool\n");
        let (lock, diags) = assign(
            &task("  name: { type: string, renamed_from: title }\n  done: bool\n"),
            Some(&lock),
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(lock.field_number("Task", "name"), Some(2));
        assert!(lock.messages["Task"].reserved.is_empty());

        let diags = evolve_err(
            TWO,
            "  a: { type: string, renamed_from: title }\n  b: { type: string, renamed_from: title }\n  done: bool\n",
        );
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert_eq!(diags[0].message, "`title` of `Task` is renamed twice");
    }

    #[test]
    fn diagnostics_point_at_the_contract_through_the_pipeline() {
        let mut input = crate::Input::default();
        input.add_contract(
            "contracts/task.yaml",
            "contract: Task\nfields:\n  id: { type: uuid, primary: true }\n  title: { type: string, number: 7 }\n",
        );
        input.set_lock(
            "contracts/cmmv.lock",
            "{\"version\": 1, \"messages\": {\"Task\": {\"fields\": {\"id\": 1, \"title\": 2}}}}\n",
        );
        let Err(error) = crate::compile(&input, &crate::Options::default()) else {
            panic!("a changed number was accepted");
        };
        assert_eq!(
            error.to_string(),
            "error: field `title` of `Task` is locked to number 2\n \
             --> contracts/task.yaml:4:34\n  \
             |\n\
             4 |   title: { type: string, number: 7 }\n  \
             |                                  ^ cmmv.lock gives `title` number 2\n  \
             |\n  \
             = note: changing a published number breaks every client built with the old one\n  \
             = help: remove `number:` or set it to 2\n\n\
             error: could not compile contracts due to 1 previous error\n"
        );
    }

    #[test]
    fn explicit_number_must_match_the_lock() {
        let diags = evolve_err(TWO, "  title: { type: string, number: 7 }\n  done: bool\n");
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].message,
            "field `title` of `Task` is locked to number 2"
        );
        assert_eq!(
            diags[0].help.as_deref(),
            Some("remove `number:` or set it to 2")
        );
        // Agreeing with the lock is fine.
        evolve(TWO, "  title: { type: string, number: 2 }\n  done: bool\n");
    }

    #[test]
    fn explicit_number_may_not_reuse_a_reserved_one() {
        let lock = evolve(TWO, "  done: bool\n");
        let (_, diags) = assign(
            &task("  done: bool\n  note: { type: string, number: 2 }\n"),
            Some(&lock),
        );
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].message,
            "number 2 of `Task` belonged to the removed field `title`"
        );
        // Removing a field and taking its number in the same run is the same reuse.
        let diags = evolve_err(TWO, "  done: bool\n  note: { type: string, number: 2 }\n");
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.contains("removed field `title`"));
    }

    #[test]
    fn explicit_numbers_may_not_collide() {
        let diags = evolve_err(
            TWO,
            "  title: string\n  done: bool\n  note: { type: string, number: 3 }\n",
        );
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].message,
            "fields `done` and `note` of `Task` both use number 3"
        );
        assert_eq!(diags[0].labels.len(), 2);
        assert!(diags[0].labels[0].primary);

        let (_, diags) = assign(
            &task("  a: { type: string, number: 5 }\n  b: { type: string, number: 5 }\n"),
            None,
        );
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].message,
            "fields `a` and `b` of `Task` both use number 5"
        );
    }

    #[test]
    fn explicit_number_of_a_new_field_is_taken_and_raises_the_ceiling() {
        let (lock, diags) = assign(
            &task("  a: { type: string, number: 10 }\n  b: string\n"),
            None,
        );
        assert!(diags.is_empty());
        // Explicit numbers are settled first, so fields without one go above them all: a
        // contract that numbers some fields by hand (say, while migrating an existing .proto)
        // signals that the lower numbers may have had a meaning.
        assert_eq!(
            numbers(&lock, "Task"),
            pairs(&[("a", 10), ("id", 11), ("b", 12)])
        );
    }

    #[test]
    fn numbers_skip_the_protobuf_range() {
        assert_eq!(next_number(NumberKind::Field, 18_999), Some(20_000));
        assert_eq!(next_number(NumberKind::Field, MAX_FIELD_NUMBER), None);
    }

    #[test]
    fn enum_values_are_numbered_from_one_and_reserved_when_removed() {
        let first = "  priority: { type: enum, values: [low, normal, high] }\n";
        let lock = evolve(
            first,
            "  priority: { type: enum, values: [high, low, urgent] }\n",
        );
        let numbers = &lock.enums["TaskPriority"];
        assert_eq!(
            numbers.values,
            BTreeMap::from([
                ("high".to_owned(), 3),
                ("low".to_owned(), 1),
                ("urgent".to_owned(), 4)
            ])
        );
        assert_eq!(numbers.reserved, BTreeMap::from([("normal".to_owned(), 2)]));
    }

    #[test]
    fn vanished_messages_keep_their_numbers_reserved() {
        let with = project(&[(
            "contracts/task.yaml",
            "contract: Task\nfields:\n  id: { type: uuid, primary: true }\nmessages:\n  Note:\n    fields: { text: string }\n",
        )]);
        let (lock, _) = assign(&with, None);
        let (lock, diags) = assign(&task(""), Some(&lock));
        assert!(diags.is_empty());
        let note = &lock.messages["Note"];
        assert!(note.fields.is_empty());
        assert_eq!(note.reserved, BTreeMap::from([("text".to_owned(), 1)]));
        // Bringing the message back restores the numbers.
        let (lock, _) = assign(&with, Some(&lock));
        assert_eq!(lock.field_number("Note", "text"), Some(1));
    }

    #[test]
    fn custom_operation_requests_are_locked() {
        let text = "contract: Task\nfields:\n  id: { type: uuid, primary: true }\nmessages:\n  Note:\n    fields: { text: string }\n\
                    operations:\n  complete:\n    method: POST\n    path: /{id}/complete\n    request: Note\n";
        let (lock, diags) = assign(&project(&[("contracts/task.yaml", text)]), None);
        assert!(diags.is_empty());
        assert_eq!(
            numbers(&lock, "TaskCompleteRequest"),
            pairs(&[("id", 1), ("body", 2)])
        );
        // A query parameter added later goes after the body and renumbers nothing.
        let later = text.replace(
            "    request: Note\n",
            "    request: Note\n    query: { force: bool }\n",
        );
        let (lock, diags) = assign(&project(&[("contracts/task.yaml", &later)]), Some(&lock));
        assert!(diags.is_empty());
        assert_eq!(
            numbers(&lock, "TaskCompleteRequest"),
            pairs(&[("id", 1), ("body", 2), ("force", 3)])
        );
        assert!(!lock.messages.contains_key("TaskGetRequest"));
    }

    #[test]
    fn render_parse_round_trip() {
        let (lock, _) = assign(
            &task("  priority: { type: enum, values: [low, high] }\n"),
            None,
        );
        let text = render(&lock);
        assert!(text.ends_with("}\n"));
        assert_eq!(parse(FileId(0), &text), Ok(lock.clone()));
        assert_eq!(render(&lock), text);
        assert!(text.starts_with(
            "{\n  \"version\": 1,\n  \"messages\": {\n    \"Task\": {\n      \"fields\": {\n"
        ));
    }

    #[test]
    fn malformed_lock_points_at_line_and_column() {
        let mut sources = crate::SourceMap::new();
        let text = "{\n  \"version\": 1,\n  \"messages\": {\n    \"Task\": { \"fields\": { \"id\": \"one\" } }\n  }\n}\n";
        let file = sources.add("contracts/cmmv.lock", text);
        let Err(diag) = parse(file, text) else {
            panic!("accepted a string number")
        };
        assert_eq!(
            sources.location(diag.labels[0].span),
            "contracts/cmmv.lock:4:37"
        );
        assert!(
            diag.message
                .starts_with("malformed lock file: invalid type"),
            "{}",
            diag.message
        );
        assert!(diag.help.is_some());

        let Err(diag) = parse(file, "{\"version\": 1, \"mesages\": {}}") else {
            panic!("accepted a typo")
        };
        assert!(
            diag.message.contains("unknown field `mesages`"),
            "{}",
            diag.message
        );

        let text = "{\n  \"version\": 1,\n  \"messages\": {\n    \"Task\": { \"fields\": { \"id\": 1, \"x\": 1 } }\n  }\n}\n";
        let file = sources.add("contracts/cmmv.lock", text);
        let Err(diag) = parse(file, text) else {
            panic!("accepted a shared number")
        };
        assert_eq!(
            diag.message,
            "invalid lock file: `Task.x` and `Task.id` share the number 1"
        );
        assert_eq!(
            sources.location(diag.labels[0].span),
            "contracts/cmmv.lock:4:36"
        );

        let Err(diag) = parse(file, "{\"version\": 2}") else {
            panic!("accepted version 2")
        };
        assert!(diag.message.contains("unsupported version 2"));
        assert_eq!(parse(file, " \n"), Ok(Lock::default()));
    }

    #[test]
    fn every_diagnostic_has_a_label_and_help() {
        let cases = [
            evolve_err(TWO, "  title: { type: string, number: 7 }\n  done: bool\n"),
            evolve_err(TWO, "  done: bool\n  note: { type: string, number: 2 }\n"),
            evolve_err(
                TWO,
                "  title: string\n  done: bool\n  note: { type: string, number: 3 }\n",
            ),
            evolve_err(TWO, "  name: { type: string, renamed_from: nope }\n"),
        ];
        for diags in cases {
            for d in diags {
                assert!(d.help.is_some(), "{d:?}");
                assert!(d.labels.iter().all(|l| !l.message.is_empty()), "{d:?}");
            }
        }
    }
}
