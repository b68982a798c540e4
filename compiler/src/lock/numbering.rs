//! Numbering: every field and enum value gets a protobuf number once, keeps it across
//! reorders and renames (`renamed_from`), and numbers of removed ones stay reserved; explicit
//! numbers are checked against the lock.

use std::collections::BTreeMap;

use super::{
    EnumNumbers, Lock, MAX_ENUM_NUMBER, MAX_FIELD_NUMBER, MessageNumbers, PROTOBUF_RESERVED_NUMBERS,
};
use crate::LOCK_FILE;
use crate::diag::{Diagnostic, Span, suggest};
use crate::ir::{Contract, EnumValue, Field, Operation, OperationKind, Project, Spanned};

/// Gives every field and enum value its number, keeping those of `previous`.
///
/// Messages and enums that disappeared from the contracts stay in the lock with all their
/// numbers reserved. Dropping them would be tidier, but then deleting a contract file by
/// mistake (or on a branch) and running `cmmv gen` would forget its numbers, and restoring the
/// file would renumber its fields in declaration order: a silent wire break. Kept entries cost
/// a few lines and make a restored message get its old numbers back. Delete an entry by hand
/// to really forget a message.
pub(crate) fn assign(project: &Project, previous: Option<&Lock>) -> (Lock, Vec<Diagnostic>) {
    let empty = Lock::default();
    let previous = previous.unwrap_or(&empty);
    let mut lock = Lock::default();
    let mut diags = Vec::new();
    for contract in project.generated_contracts() {
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
pub(crate) const BODY_FIELD: &str = "body";

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
pub(super) enum NumberKind {
    Field,
    EnumValue,
}

impl NumberKind {
    pub(super) fn noun(self) -> &'static str {
        match self {
            NumberKind::Field => "field",
            NumberKind::EnumValue => "value",
        }
    }

    pub(super) fn max(self) -> u32 {
        match self {
            NumberKind::Field => MAX_FIELD_NUMBER,
            NumberKind::EnumValue => MAX_ENUM_NUMBER,
        }
    }

    /// Enum values could use 19000-19999, but one rule for both keeps the lock simple.
    pub(super) fn is_valid(self, number: u32) -> bool {
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
pub(super) fn next_number(kind: NumberKind, ceiling: u32) -> Option<u32> {
    let next = ceiling.checked_add(1)?;
    let next = if PROTOBUF_RESERVED_NUMBERS.contains(&next) {
        PROTOBUF_RESERVED_NUMBERS.end() + 1
    } else {
        next
    };
    (next <= kind.max()).then_some(next)
}
