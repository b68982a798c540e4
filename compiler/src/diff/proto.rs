//! The protobuf surface: the messages, enums and services the proto emitter writes, compared as
//! the wire and the JSON mapping see them — by field number, with the lock's reservations.
//!
//! The views compared are the emitter's own ([`crate::emit::proto::views`]), so the check
//! cannot disagree with the files: a field's number, label and type are what `cmmv gen` writes.

use std::collections::BTreeMap;

use super::{Finding, Side, Sides, Surface, Verdict};
use crate::CompileError;
use crate::api::Api;
use crate::diag::Span;
use crate::emit::proto::{EnumView, FileView, MessageView, ServiceView, views};
use crate::ir::Contract;
use crate::lock::Lock;

/// Everything one side's proto files declare, by name, each with the contract it came from.
struct Declared<'p> {
    package: Option<String>,
    messages: BTreeMap<String, (&'p Contract, std::sync::Arc<MessageView>)>,
    enums: BTreeMap<String, (&'p Contract, std::sync::Arc<EnumView>)>,
    services: BTreeMap<String, (&'p Contract, std::sync::Arc<ServiceView>)>,
}

fn surface<'p>(side: &Side<'p>, lock: &Lock) -> Result<Declared<'p>, CompileError> {
    let api = Api::resolve(side.project);
    let mut out = Declared {
        package: None,
        messages: BTreeMap::new(),
        enums: BTreeMap::new(),
        services: BTreeMap::new(),
    };
    let mut problems = Vec::new();
    for (contract, view) in views(&api, lock) {
        // The view borrows the API model only while it is built; the contract outlives both.
        let contract: &'p Contract = side
            .project
            .contracts
            .get(&contract.name)
            .expect("a view's contract is the project's");
        match view {
            Ok(FileView {
                package,
                messages,
                enums,
                service,
                ..
            }) => {
                out.package = Some(package);
                let service_messages = service.iter().flat_map(|s| s.messages.iter().cloned());
                for message in messages.into_iter().chain(service_messages) {
                    out.messages
                        .insert(message.name.clone(), (contract, message));
                }
                for def in enums {
                    out.enums.insert(def.name.clone(), (contract, def));
                }
                if let Some(service) = service {
                    out.services
                        .insert(service.name.clone(), (contract, service));
                }
            }
            Err(problem) => problems.push(problem),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(CompileError {
            diagnostics: problems,
            sources: side.sources.clone(),
        })
    }
}

pub(super) fn compare(
    sides: &Sides<'_>,
    old_lock: &Lock,
    new_lock: &Lock,
) -> Result<Vec<Finding>, CompileError> {
    let old = surface(&sides.old, old_lock)?;
    let new = surface(&sides.new, new_lock)?;
    let mut out = Out {
        sides,
        findings: Vec::new(),
    };
    if let (Some(a), Some(b)) = (&old.package, &new.package)
        && a != b
    {
        let span = new.services.values().next().map(|(c, _)| c.span);
        out.push(
            "proto-package-changed",
            Verdict::Breaking,
            format!("package {a}"),
            format!("the proto package changed from `{a}` to `{b}`"),
            Some("every message and service gets a new full name, which gRPC clients call by: serve a new package beside the old one instead"),
            (None, span),
        );
    }
    for (name, (contract, before)) in &old.messages {
        match new.messages.get(name) {
            None => out.push(
                "proto-message-removed",
                Verdict::Breaking,
                name.clone(),
                format!("message `{name}` is no longer declared"),
                Some("clients that build or read it fail to compile: keep the message"),
                (Some(contract.span), None),
            ),
            Some((new_contract, after)) => {
                out.message(name, (contract, before), (new_contract, after));
            }
        }
    }
    for (name, (contract, _)) in &new.messages {
        if !old.messages.contains_key(name) {
            out.push(
                "proto-message-added",
                Verdict::Safe,
                name.clone(),
                format!("message `{name}` is declared"),
                None,
                (None, Some(contract.span)),
            );
        }
    }
    for (name, (contract, before)) in &old.enums {
        match new.enums.get(name) {
            None => out.push(
                "proto-enum-removed",
                Verdict::Breaking,
                name.clone(),
                format!("enum `{name}` is no longer declared"),
                Some("keep the enum; deprecate its use instead"),
                (Some(enum_span(contract, name)), None),
            ),
            Some((new_contract, after)) => {
                out.enumeration(name, (contract, before), (new_contract, after));
            }
        }
    }
    for (name, (contract, _)) in &new.enums {
        if !old.enums.contains_key(name) {
            out.push(
                "proto-enum-added",
                Verdict::Safe,
                name.clone(),
                format!("enum `{name}` is declared"),
                None,
                (None, Some(enum_span(contract, name))),
            );
        }
    }
    for (name, (contract, before)) in &old.services {
        match new.services.get(name) {
            None => out.push(
                "proto-service-removed",
                Verdict::Breaking,
                name.clone(),
                format!("service `{name}` is no longer declared (removed or renamed)"),
                Some("gRPC clients call the service by its full name: keep it"),
                (Some(contract.span), None),
            ),
            Some((new_contract, after)) => {
                out.service(name, (contract, before), (new_contract, after));
            }
        }
    }
    for (name, (contract, _)) in &new.services {
        if !old.services.contains_key(name) {
            out.push(
                "proto-service-added",
                Verdict::Safe,
                name.clone(),
                format!("service `{name}` is declared"),
                None,
                (None, Some(contract.span)),
            );
        }
    }
    Ok(out.findings)
}

struct Out<'s, 'p> {
    sides: &'s Sides<'p>,
    findings: Vec<Finding>,
}

type Owned<'a, 'p, T> = (&'a &'p Contract, &'a std::sync::Arc<T>);

impl Out<'_, '_> {
    fn push(
        &mut self,
        rule: &'static str,
        verdict: Verdict,
        subject: String,
        message: String,
        hint: Option<&str>,
        (old, new): (Option<Span>, Option<Span>),
    ) {
        let location = self.sides.locate(old, new);
        self.findings.push(Finding {
            rule,
            verdict,
            surface: Surface::Proto,
            subject,
            message,
            hint: hint.map(str::to_owned),
            location,
            version: None,
            route: None,
            // One package serves every version.
            served: true,
        });
    }

    fn message(
        &mut self,
        name: &str,
        (old_contract, old): Owned<'_, '_, MessageView>,
        (new_contract, new): Owned<'_, '_, MessageView>,
    ) {
        let reserved_numbers = |m: &MessageView| m.reserved.numbers.clone();
        for field in &old.fields {
            let subject = format!("{name}.{}", field.name);
            let old_span = Some(field_span(old_contract, name, &field.name));
            let by_number = new.fields.iter().find(|f| f.number == field.number);
            let by_name = new.fields.iter().find(|f| f.name == field.name);
            match (by_number, by_name) {
                (Some(after), _) => {
                    let new_span = Some(field_span(new_contract, name, &after.name));
                    if after.name != field.name {
                        self.push(
                            "proto-field-renamed",
                            Verdict::Breaking,
                            subject.clone(),
                            format!(
                                "field {} of `{name}` is renamed from `{}` to `{}`",
                                field.number, field.name, after.name
                            ),
                            Some("the wire keeps working but the JSON mapping and generated code use the name: add a new field and deprecate the old one"),
                            (old_span, new_span),
                        );
                    }
                    if (field.label == "repeated") != (after.label == "repeated") {
                        self.push(
                            "proto-field-cardinality-changed",
                            Verdict::Breaking,
                            subject.clone(),
                            format!(
                                "`{subject}` changed from {} to {}",
                                cardinality(field.label),
                                cardinality(after.label)
                            ),
                            Some("a repeated field and a single one are read differently: add a new field instead"),
                            (old_span, new_span),
                        );
                    } else if field.ty != after.ty {
                        self.push(
                            "proto-field-type-changed",
                            Verdict::Breaking,
                            subject.clone(),
                            format!(
                                "`{subject}` changed type from `{}` to `{}`",
                                field.ty, after.ty
                            ),
                            Some("the old type's bytes do not decode as the new one: add a new field instead"),
                            (old_span, new_span),
                        );
                    }
                }
                (None, Some(after)) => self.push(
                    "proto-field-number-changed",
                    Verdict::Breaking,
                    subject.clone(),
                    format!(
                        "`{subject}` changed number from {} to {}",
                        field.number, after.number
                    ),
                    Some("a field's number is its identity on the wire: keep the number cmmv.lock gave it"),
                    (old_span, Some(field_span(new_contract, name, &after.name))),
                ),
                (None, None) => {
                    let reserved = new.reserved.numbers.contains(&field.number)
                        && new.reserved.names.contains(&field.name);
                    if reserved {
                        self.push(
                            "proto-field-removed",
                            Verdict::Safe,
                            subject.clone(),
                            format!(
                                "`{subject}` is removed; its number {} and name stay reserved",
                                field.number
                            ),
                            None,
                            (old_span, None),
                        );
                    } else {
                        self.push(
                            "proto-field-removed-unreserved",
                            Verdict::Breaking,
                            subject.clone(),
                            format!(
                                "`{subject}` is removed without reserving its number {} and name",
                                field.number
                            ),
                            Some("a later field could take the number and misread old data: keep the reservation cmmv.lock records (do not edit or delete the lock file)"),
                            (old_span, None),
                        );
                    }
                }
            }
        }
        for field in &new.fields {
            let known = old
                .fields
                .iter()
                .any(|f| f.number == field.number || f.name == field.name);
            if !known {
                self.push(
                    "proto-field-added",
                    Verdict::Safe,
                    format!("{name}.{}", field.name),
                    format!("`{name}.{}` is new (number {})", field.name, field.number),
                    None,
                    (None, Some(field_span(new_contract, name, &field.name))),
                );
            }
        }
        self.reservations(
            name,
            (
                &reserved_numbers(old),
                &old.reserved.names,
                old_contract.span,
            ),
            (
                &reserved_numbers(new),
                &new.reserved.names,
                new_contract.span,
            ),
        );
    }

    fn enumeration(
        &mut self,
        name: &str,
        (old_contract, old): Owned<'_, '_, EnumView>,
        (new_contract, new): Owned<'_, '_, EnumView>,
    ) {
        let (old_span, new_span) = (enum_span(old_contract, name), enum_span(new_contract, name));
        for value in &old.values {
            let subject = format!("{name}.{}", value.name);
            let by_name = new.values.iter().find(|v| v.name == value.name);
            match by_name {
                Some(after) if after.number != value.number => self.push(
                    "proto-enum-value-number-changed",
                    Verdict::Breaking,
                    subject.clone(),
                    format!(
                        "`{subject}` changed number from {} to {}",
                        value.number, after.number
                    ),
                    Some("an enum value travels as its number: keep the number cmmv.lock gave it"),
                    (Some(old_span), Some(new_span)),
                ),
                Some(_) => {}
                None if new.values.iter().any(|v| v.number == value.number) => self.push(
                    "proto-enum-value-removed-unreserved",
                    Verdict::Breaking,
                    subject.clone(),
                    format!(
                        "`{subject}` is removed and its number {} is given to another value",
                        value.number
                    ),
                    Some("old data would read as the other value: keep the reservation cmmv.lock records"),
                    (Some(old_span), Some(new_span)),
                ),
                None => {
                    let reserved = new.reserved.numbers.contains(&value.number)
                        && new.reserved.names.contains(&value.name);
                    if reserved {
                        self.push(
                            "proto-enum-value-removed",
                            Verdict::Safe,
                            subject.clone(),
                            format!(
                                "`{subject}` is removed; its number {} and name stay reserved",
                                value.number
                            ),
                            None,
                            (Some(old_span), None),
                        );
                    } else {
                        self.push(
                            "proto-enum-value-removed-unreserved",
                            Verdict::Breaking,
                            subject.clone(),
                            format!(
                                "`{subject}` is removed without reserving its number {} and name",
                                value.number
                            ),
                            Some("keep the reservation cmmv.lock records (do not edit or delete the lock file)"),
                            (Some(old_span), None),
                        );
                    }
                }
            }
        }
        for value in &new.values {
            if !old.values.iter().any(|v| v.name == value.name) {
                self.push(
                    "proto-enum-value-added",
                    Verdict::Safe,
                    format!("{name}.{}", value.name),
                    format!("`{name}.{}` is new (number {})", value.name, value.number),
                    None,
                    (None, Some(new_span)),
                );
            }
        }
        self.reservations(
            name,
            (&old.reserved.numbers, &old.reserved.names, old_span),
            (&new.reserved.numbers, &new.reserved.names, new_span),
        );
    }

    /// Reserved numbers and names are promises to old readers: none may be given back.
    fn reservations(
        &mut self,
        name: &str,
        (old_numbers, old_names, old_span): (&[u32], &[String], Span),
        (new_numbers, new_names, new_span): (&[u32], &[String], Span),
    ) {
        let numbers = old_numbers
            .iter()
            .filter(|n| !new_numbers.contains(n))
            .map(ToString::to_string);
        let names = old_names
            .iter()
            .filter(|n| !new_names.contains(n))
            .map(|n| format!("\"{n}\""));
        let dropped: Vec<String> = numbers.chain(names).collect();
        if !dropped.is_empty() {
            self.push(
                "proto-reserved-removed",
                Verdict::Breaking,
                name.to_owned(),
                format!(
                    "`{name}` no longer reserves {}",
                    dropped.join(", ")
                ),
                Some("restore the reservations in cmmv.lock: a number or name used before must never be reused"),
                (Some(old_span), Some(new_span)),
            );
        }
    }

    fn service(
        &mut self,
        name: &str,
        (old_contract, old): Owned<'_, '_, ServiceView>,
        (new_contract, new): Owned<'_, '_, ServiceView>,
    ) {
        for rpc in &old.rpcs {
            let subject = format!("{name}.{}", rpc.name);
            match new.rpcs.iter().find(|r| r.name == rpc.name) {
                None => self.push(
                    "proto-method-removed",
                    Verdict::Breaking,
                    subject.clone(),
                    format!("rpc `{subject}` is no longer declared (removed or renamed)"),
                    Some("gRPC clients call the method by name: keep it, deprecated"),
                    (Some(old_contract.span), None),
                ),
                Some(after) if after.request != rpc.request || after.response != rpc.response => {
                    self.push(
                        "proto-method-signature-changed",
                        Verdict::Breaking,
                        subject.clone(),
                        format!(
                            "rpc `{subject}` changed from ({}) returns ({}) to ({}) returns ({})",
                            rpc.request, rpc.response, after.request, after.response
                        ),
                        Some("clients send and expect the old messages: add a new method instead"),
                        (Some(old_contract.span), Some(new_contract.span)),
                    );
                }
                Some(_) => {}
            }
        }
        for rpc in &new.rpcs {
            if !old.rpcs.iter().any(|r| r.name == rpc.name) {
                self.push(
                    "proto-method-added",
                    Verdict::Safe,
                    format!("{name}.{}", rpc.name),
                    format!("rpc `{name}.{}` is declared", rpc.name),
                    None,
                    (None, Some(new_contract.span)),
                );
            }
        }
    }
}

fn cardinality(label: &str) -> &'static str {
    if label == "repeated" {
        "repeated"
    } else {
        "single"
    }
}

/// Where a proto message's field is declared: the contract's message of that name, else the
/// contract's own field (the resource and the bodies derived from it), else the contract.
fn field_span(contract: &Contract, message: &str, field: &str) -> Span {
    contract
        .messages
        .get(message)
        .and_then(|m| m.fields.iter().find(|f| f.name == field))
        .or_else(|| contract.field(field))
        .or_else(|| {
            contract
                .operations
                .values()
                .flat_map(|op| op.query.iter())
                .find(|f| f.name == field)
        })
        .map_or(contract.span, |f| f.span)
}

fn enum_span(contract: &Contract, name: &str) -> Span {
    contract
        .enums
        .values()
        .find(|e| crate::ir::to_pascal_case(&e.name) == name || e.name == name)
        .map_or(contract.span, |e| e.span)
}
