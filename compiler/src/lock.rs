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

use crate::LOCK_FILE;
use crate::diag::{Diagnostic, FileId, Span, suggest};
use crate::ir::{Contract, EnumValue, Field, Operation, OperationKind, Project, Spanned};
use crate::sql::{MigrationRecord, Schema};

/// The format version this compiler reads and writes.
pub const LOCK_VERSION: u32 = 1;

/// The largest protobuf field number.
pub const MAX_FIELD_NUMBER: u32 = 536_870_911;

/// Field numbers protobuf keeps for its own implementation.
pub const PROTOBUF_RESERVED_NUMBERS: RangeInclusive<u32> = 19_000..=19_999;

/// The largest enum value number (enum values are `int32`).
const MAX_ENUM_NUMBER: u32 = i32::MAX as u32;

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
pub fn parse(file: FileId, text: &str) -> Result<Lock, Diagnostic> {
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
pub fn render(lock: &Lock) -> String {
    // Maps with string keys and integer values always serialize; the fallback only keeps this
    // function total.
    let mut text = serde_json::to_string_pretty(lock).unwrap_or_default();
    text.push('\n');
    text
}

/// Gives every field and enum value its number, keeping those of `previous`.
///
/// Messages and enums that disappeared from the contracts stay in the lock with all their
/// numbers reserved. Dropping them would be tidier, but then deleting a contract file by
/// mistake (or on a branch) and running `cmmv gen` would forget its numbers, and restoring the
/// file would renumber its fields in declaration order: a silent wire break. Kept entries cost
/// a few lines and make a restored message get its old numbers back. Delete an entry by hand
/// to really forget a message.
pub fn assign(project: &Project, previous: Option<&Lock>) -> (Lock, Vec<Diagnostic>) {
    let empty = Lock::default();
    let previous = previous.unwrap_or(&empty);
    let mut lock = Lock::default();
    let mut diags = Vec::new();
    for contract in project.contracts.values() {
        for (name, slots) in numbered_messages(contract, &mut diags) {
            let owner = Owner {
                kind: NumberKind::Field,
                name: &name,
            };
            let entry = number_entry(&owner, &slots, previous.messages.get(&name), &mut diags);
            lock.messages
                .extend(entry.map(|entry| (name.clone(), entry)));
        }
        for def in contract.enums.values() {
            let slots: Vec<Slot<'_>> = def.values.iter().map(Slot::of_value).collect();
            let owner = Owner {
                kind: NumberKind::EnumValue,
                name: &def.name,
            };
            let entry = number_entry(&owner, &slots, previous.enums.get(&def.name), &mut diags);
            lock.enums
                .extend(entry.map(|entry| (def.name.clone(), entry)));
        }
    }
    retire_missing(&mut lock.messages, &previous.messages);
    retire_missing(&mut lock.enums, &previous.enums);
    (lock, diags)
}

/// What message and enum entries share: live numbers and reserved ones, under different keys.
trait Entry: Sized {
    fn live(&self) -> &BTreeMap<String, u32>;
    fn reserved(&self) -> &BTreeMap<String, u32>;
    fn new(live: BTreeMap<String, u32>, reserved: BTreeMap<String, u32>) -> Self;
}

impl Entry for MessageNumbers {
    fn live(&self) -> &BTreeMap<String, u32> {
        &self.fields
    }
    fn reserved(&self) -> &BTreeMap<String, u32> {
        &self.reserved
    }
    fn new(fields: BTreeMap<String, u32>, reserved: BTreeMap<String, u32>) -> Self {
        Self { fields, reserved }
    }
}

impl Entry for EnumNumbers {
    fn live(&self) -> &BTreeMap<String, u32> {
        &self.values
    }
    fn reserved(&self) -> &BTreeMap<String, u32> {
        &self.reserved
    }
    fn new(values: BTreeMap<String, u32>, reserved: BTreeMap<String, u32>) -> Self {
        Self { values, reserved }
    }
}

/// The entry of one message or enum, numbered against its previous entry; `None` when it
/// would be empty (a message without fields, never numbered), which keeps the lock short.
fn number_entry<E: Entry>(
    owner: &Owner<'_>,
    slots: &[Slot<'_>],
    previous: Option<&E>,
    diags: &mut Vec<Diagnostic>,
) -> Option<E> {
    let none = BTreeMap::new();
    let table = number_slots(
        owner,
        slots,
        previous.map_or(&none, E::live),
        previous.map_or(&none, E::reserved),
        diags,
    );
    (!table.live.is_empty() || !table.reserved.is_empty())
        .then(|| E::new(table.live, table.reserved))
}

/// Keeps the entries of messages or enums that disappeared, with every number reserved.
fn retire_missing<E: Entry>(entries: &mut BTreeMap<String, E>, previous: &BTreeMap<String, E>) {
    for (name, old) in previous {
        if !entries.contains_key(name) {
            let reserved = old
                .reserved()
                .iter()
                .chain(old.live())
                .map(|(name, number)| (name.clone(), *number))
                .collect();
            entries.insert(name.clone(), E::new(BTreeMap::new(), reserved));
        }
    }
}

/// The proto messages of a contract whose numbers the lock keeps, with their fields.
fn numbered_messages<'c>(
    contract: &'c Contract,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(String, Vec<Slot<'c>>)> {
    let mut messages = vec![(
        contract.name.clone(),
        contract.fields.iter().map(Slot::of_field).collect(),
    )];
    messages.extend(contract.messages.values().map(|m| {
        (
            m.name.clone(),
            m.fields.iter().map(Slot::of_field).collect(),
        )
    }));
    for op in contract.operations_in_order() {
        if op.kind == OperationKind::Custom {
            let name = contract.request_message_name(op);
            let slots = request_slots(contract, op, &name, diags);
            messages.push((name, slots));
        }
    }
    messages
}

/// The name of the field that carries a custom operation's request body in its proto request
/// message.
pub const BODY_FIELD: &str = "body";

/// The fields of a custom operation's request message: path parameters, query parameters, then
/// the body. They share one message, so their names must differ.
fn request_slots<'c>(
    contract: &'c Contract,
    op: &'c Operation,
    message: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Slot<'c>> {
    let mut slots: Vec<Slot<'c>> = op
        .path_params
        .iter()
        .chain(&op.query)
        .map(Slot::of_field)
        .collect();
    if let Some(body) = &op.request {
        slots.push(Slot::plain(BODY_FIELD, body.span));
    }
    let mut first: BTreeMap<&str, Span> = BTreeMap::new();
    slots.retain(|slot| match first.get(slot.name) {
        Some(&earlier) => {
            diags.push(
                Diagnostic::error(
                    slot.span,
                    format!(
                        "operation `{}.{}` has two inputs named `{}`",
                        contract.name, op.name, slot.name
                    ),
                )
                .with_label("declared again here")
                .with_secondary(earlier, "first declared here")
                .with_help(format!(
                    "path parameters, query parameters and the request body (`{BODY_FIELD}`) \
                     become fields of one proto message, `{message}`; rename one of them"
                )),
            );
            false
        }
        None => {
            first.insert(slot.name, slot.span);
            true
        }
    });
    slots
}

/// One field or enum value to number.
#[derive(Debug, Clone, Copy)]
struct Slot<'a> {
    name: &'a str,
    span: Span,
    number: Option<&'a Spanned<u32>>,
    renamed_from: Option<&'a Spanned<String>>,
}

impl<'a> Slot<'a> {
    /// A slot without an explicit number or a previous name.
    fn plain(name: &'a str, span: Span) -> Self {
        Slot {
            name,
            span,
            number: None,
            renamed_from: None,
        }
    }

    fn of_value(value: &'a EnumValue) -> Self {
        Slot::plain(&value.name, value.span)
    }

    fn of_field(field: &'a Field) -> Self {
        Slot {
            name: &field.name,
            span: field.span,
            number: field.number.as_ref(),
            renamed_from: field.renamed_from.as_ref(),
        }
    }
}

/// Whether numbers are given to message fields or to enum values; they differ only in range
/// and wording.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum NumberKind {
    Field,
    EnumValue,
}

impl NumberKind {
    fn noun(self) -> &'static str {
        match self {
            NumberKind::Field => "field",
            NumberKind::EnumValue => "value",
        }
    }

    fn max(self) -> u32 {
        match self {
            NumberKind::Field => MAX_FIELD_NUMBER,
            NumberKind::EnumValue => MAX_ENUM_NUMBER,
        }
    }

    /// Enum values could use 19000-19999, but one rule for both keeps the lock simple.
    fn is_valid(self, number: u32) -> bool {
        (1..=self.max()).contains(&number) && !PROTOBUF_RESERVED_NUMBERS.contains(&number)
    }
}

/// The message or enum being numbered, for diagnostics.
#[derive(Debug, Clone, Copy)]
struct Owner<'a> {
    kind: NumberKind,
    name: &'a str,
}

/// The numbers of one message or enum after assignment.
#[derive(Debug, Default)]
struct Table {
    live: BTreeMap<String, u32>,
    reserved: BTreeMap<String, u32>,
}

/// Numbers the slots of one message or enum against its previous live and reserved numbers.
fn number_slots(
    owner: &Owner<'_>,
    slots: &[Slot<'_>],
    previous: &BTreeMap<String, u32>,
    previous_reserved: &BTreeMap<String, u32>,
    diags: &mut Vec<Diagnostic>,
) -> Table {
    let mut numbering = Numbering {
        owner,
        slots,
        previous,
        reserved: previous_reserved.clone(),
        numbers: vec![None; slots.len()],
        claimed: BTreeMap::new(),
        diags,
    };
    numbering.keep_locked();
    numbering.take_renames_and_returns();
    numbering.reserve_removed();
    numbering.check_explicit();
    numbering.check_collisions();
    // Everything the message ever used, live or reserved: a new number goes above all of it.
    let ceiling = previous
        .values()
        .chain(numbering.reserved.values())
        .chain(numbering.numbers.iter().flatten())
        .copied()
        .max()
        .unwrap_or(0);
    numbering.finish(ceiling)
}

/// The state of numbering one message or enum; each phase is one method, run in order.
struct Numbering<'s, 'a> {
    owner: &'s Owner<'s>,
    slots: &'s [Slot<'a>],
    /// The live numbers of the previous lock.
    previous: &'s BTreeMap<String, u32>,
    /// Reserved numbers: the previous ones, less those taken back, plus the ones removed now.
    reserved: BTreeMap<String, u32>,
    /// The number of each slot, as far as decided.
    numbers: Vec<Option<u32>>,
    /// Old names whose number a slot took (by name or through `renamed_from`), with the span
    /// that took it.
    claimed: BTreeMap<&'a str, Span>,
    diags: &'s mut Vec<Diagnostic>,
}

impl<'a> Numbering<'_, 'a> {
    fn noun(&self) -> &'static str {
        self.owner.kind.noun()
    }

    /// Slots the previous lock knows by name keep their numbers.
    fn keep_locked(&mut self) {
        for (number, slot) in self.numbers.iter_mut().zip(self.slots) {
            if let Some(&locked) = self.previous.get(slot.name) {
                *number = Some(locked);
                self.claimed.insert(slot.name, slot.span);
            }
        }
    }

    /// Renamed slots take their old name's number; slots whose name was removed earlier get
    /// its number back.
    fn take_renames_and_returns(&mut self) {
        for i in 0..self.slots.len() {
            // A slot already locked under its own name ignores `renamed_from`: left in place
            // after the rename was recorded, it has done its job.
            if self.numbers[i].is_some() {
                continue;
            }
            let slot = self.slots[i];
            if let Some(old) = slot.renamed_from {
                self.numbers[i] = self.take_renamed(&slot, old);
            }
            if self.numbers[i].is_none() {
                self.numbers[i] = self.reserved.remove(slot.name);
            }
        }
    }

    /// The number `slot` takes over through `renamed_from: old`, or `None` with a diagnostic.
    fn take_renamed(&mut self, slot: &Slot<'a>, old: &'a Spanned<String>) -> Option<u32> {
        let noun = self.noun();
        let owner = self.owner.name;
        let name = old.value.as_str();
        if let Some(still) = self.slots.iter().find(|s| s.name == name) {
            self.diags.push(
                Diagnostic::error(
                    old.span,
                    format!(
                        "`{}` is renamed from `{name}`, but `{name}` is still declared",
                        slot.name
                    ),
                )
                .with_label("the old name")
                .with_secondary(still.span, format!("`{name}` is declared here"))
                .with_help(format!(
                    "remove the old {noun} `{name}`, or remove `renamed_from`"
                )),
            );
            return None;
        }
        if let Some(&first) = self.claimed.get(name) {
            self.diags.push(
                Diagnostic::error(old.span, format!("`{name}` of `{owner}` is renamed twice"))
                    .with_label(format!("`{}` claims `{name}`'s number", slot.name))
                    .with_secondary(first, "already claimed here")
                    .with_help(
                        "a field can be renamed only once; remove one of the `renamed_from`",
                    ),
            );
            return None;
        }
        // A field removed in an earlier run can still be renamed into a new one.
        let number = self
            .previous
            .get(name)
            .copied()
            .or_else(|| self.reserved.remove(name));
        if number.is_some() {
            self.claimed.insert(name, old.span);
            return number;
        }
        let known = self.previous.keys().chain(self.reserved.keys());
        let help = match suggest(name, known.map(String::as_str)) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!(
                "`renamed_from` takes the {noun}'s previous name as recorded in `{LOCK_FILE}`; \
                 remove it if the {noun} is new"
            ),
        };
        self.diags.push(
            Diagnostic::error(
                old.span,
                format!("`renamed_from: {name}` names no {noun} of `{owner}` in {LOCK_FILE}"),
            )
            .with_label(format!("not in {LOCK_FILE}"))
            .with_help(help),
        );
        None
    }

    /// Previous live names that no slot holds any more are removed now.
    fn reserve_removed(&mut self) {
        for (name, number) in self.previous {
            if !self.claimed.contains_key(name.as_str()) {
                self.reserved.insert(name.clone(), *number);
            }
        }
    }

    /// Explicit numbers must agree with the lock for locked slots; new slots take them unless
    /// a removed field used them.
    fn check_explicit(&mut self) {
        let noun = self.noun();
        let owner = self.owner.name;
        for (number, slot) in self.numbers.iter_mut().zip(self.slots) {
            let Some(explicit) = slot.number else {
                continue;
            };
            let removed = self
                .reserved
                .iter()
                .find(|(_, n)| **n == explicit.value)
                .map(|(name, _)| name);
            let diagnostic = match (*number, removed) {
                (Some(locked), _) if locked != explicit.value => Diagnostic::error(
                    explicit.span,
                    format!(
                        "{noun} `{}` of `{owner}` is locked to number {locked}",
                        slot.name
                    ),
                )
                .with_label(format!("{LOCK_FILE} gives `{}` number {locked}", slot.name))
                .with_note("changing a published number breaks every client built with the old one")
                .with_help(format!("remove `number:` or set it to {locked}")),
                (Some(_), _) => continue,
                (None, Some(removed)) => Diagnostic::error(
                    explicit.span,
                    format!(
                        "number {} of `{owner}` belonged to the removed {noun} `{removed}`",
                        explicit.value
                    ),
                )
                .with_label(format!("reserved since `{removed}` was removed"))
                .with_note("a reused number makes old clients read this field as the removed one")
                .with_help(format!(
                    "remove `number:` to take the next free number; if this field is \
                     `{removed}` renamed, add `renamed_from: {removed}` instead"
                )),
                (None, None) => {
                    *number = Some(explicit.value);
                    continue;
                }
            };
            self.diags.push(diagnostic);
        }
    }

    /// Two slots with one number; only an explicit number can cause it. The later slot loses
    /// its number (the run fails anyway).
    fn check_collisions(&mut self) {
        let noun = self.noun();
        let slots = self.slots;
        // Where a diagnostic points for a slot: its `number:` when it has one.
        let at = |slot: &Slot<'_>| slot.number.map_or(slot.span, |n| n.span);
        let mut holders: BTreeMap<u32, usize> = BTreeMap::new();
        for i in 0..slots.len() {
            let Some(n) = self.numbers[i] else { continue };
            let Some(&j) = holders.get(&n) else {
                holders.insert(n, i);
                continue;
            };
            let (primary, other) = if slots[i].number.is_some() {
                (&slots[i], &slots[j])
            } else {
                (&slots[j], &slots[i])
            };
            self.diags.push(
                Diagnostic::error(
                    at(primary),
                    format!(
                        "{noun}s `{}` and `{}` of `{}` both use number {n}",
                        slots[j].name, slots[i].name, self.owner.name
                    ),
                )
                .with_label(format!("`{}` takes number {n} here", primary.name))
                .with_secondary(at(other), format!("`{}` has number {n}", other.name))
                .with_help(format!(
                    "numbers are unique within a message; remove `number:` from `{}` to take \
                     the next free number, or choose another",
                    primary.name
                )),
            );
            self.numbers[i] = None;
        }
    }

    /// Gives the remaining slots numbers above `ceiling`, in declaration order.
    fn finish(self, mut ceiling: u32) -> Table {
        let noun = self.noun();
        let mut live = BTreeMap::new();
        for (number, slot) in self.numbers.iter().zip(self.slots) {
            let Some(number) = number.or_else(|| next_number(self.owner.kind, ceiling)) else {
                self.diags.push(
                    Diagnostic::error(
                        slot.span,
                        format!("no {noun} numbers left in `{}`", self.owner.name),
                    )
                    .with_label(format!("needs a number above {ceiling}"))
                    .with_help(format!(
                        "the highest {noun} number is {}; move some {noun}s into a new message",
                        self.owner.kind.max()
                    )),
                );
                continue;
            };
            ceiling = ceiling.max(number);
            live.insert(slot.name.to_owned(), number);
        }
        Table {
            live,
            reserved: self.reserved,
        }
    }
}

/// One above `ceiling`, skipping the numbers protobuf keeps for itself.
fn next_number(kind: NumberKind, ceiling: u32) -> Option<u32> {
    let next = ceiling.checked_add(1)?;
    let next = if PROTOBUF_RESERVED_NUMBERS.contains(&next) {
        PROTOBUF_RESERVED_NUMBERS.end() + 1
    } else {
        next
    };
    (next <= kind.max()).then_some(next)
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

/// The offset of the last key of `path` found by searching each quoted key after the previous
/// one; the start of the file when one is missing. Good enough to point at an entry of a file
/// that `render` wrote.
pub(crate) fn locate(text: &str, path: &[String]) -> usize {
    let mut offset = 0;
    for key in path {
        match text[offset..].find(&format!("\"{key}\"")) {
            Some(found) => offset += found,
            None => return offset,
        }
    }
    offset
}

#[cfg(test)]
mod tests {
    use super::*;

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
