//! The lowering's hints, in Rust syntax.
//!
//! Both front ends share the lowering and so its messages. Most read the same in both
//! syntaxes; the hints that show YAML (`add `method: POST``) are given their Rust spelling here
//! for diagnostics located in Rust sources. The table is keyed by the YAML text, and a test
//! checks that every key still occurs in the lowering or validation source, so a reworded hint
//! cannot silently lose its translation.

use crate::diag::{Diagnostic, Label};

/// YAML hint (all of it, or its start or end where the rest names something) -> the Rust
/// hint, where `<name>` stands for the first name quoted in the diagnostic's message.
const HINTS: &[(&str, &str)] = &[
    (
        "add `id: { type: uuid, primary: true }` to `fields`",
        "add `#[field(primary)] pub id: Uuid` to the struct",
    ),
    (
        "remove `primary: true` from all but one field",
        "remove `primary` from all but one field",
    ),
    (
        "write `auth: { roles: [admin] }`, or `auth: authenticated`",
        "write `auth(roles = [\"admin\"])`, or `auth = authenticated`",
    ),
    (
        "list at least one role, or use `auth: authenticated`",
        "list at least one role, or use `auth = authenticated`",
    ),
    (
        "write `rate_limit: none` for no limit",
        "write `rate_limit = none` for no limit",
    ),
    (
        "declare named policies under `rate_limits:` in cmmv.yaml, or write `{ limit: 100, per: 1m }`",
        "declare named policies under `rate_limits:` in cmmv.yaml, or write `rate_limit(limit = 100, per = \"1m\")`",
    ),
    (
        "e.g. `{ limit: 100, per: 1m }`",
        "e.g. `rate_limit(limit = 100, per = \"1m\")`",
    ),
    (
        "declare an inline enum with `{ type: enum, values: [a, b] }`",
        "declare an inline enum with `#[field(values = [a, b])]`",
    ),
    (
        "add `nullable: true`, or use `restrict` or `cascade`",
        "make the field an `Option` with `#[field(nullable)]`, or use `restrict` or `cascade`",
    ),
    (
        "patterns use Rust `regex` syntax (no look-around or backreferences); quote them with single quotes so YAML leaves `\\` alone",
        "patterns use Rust `regex` syntax (no look-around or backreferences); raw strings (`r\"^\\d+$\"`) keep `\\` as written",
    ),
    (
        "add `method: POST` (or GET, PUT, PATCH, DELETE)",
        "add `method = \"POST\"` (or GET, PUT, PATCH, DELETE) to `#[operation(...)]`",
    ),
    (
        "declare inputs under `query:` or use POST",
        "declare inputs with `query(...)` or use POST",
    ),
    (
        "declare it under `params:`, e.g. ",
        "declare it with `params(...)` in `#[operation(...)]`, e.g. `params(<name> = \"string\")`; `{id}` is the primary key",
    ),
    (
        "to `path`, or move it under `query:`",
        "add `{<name>}` to `path`, or move it to `query(...)`",
    ),
    (
        "declare it under `messages:` or `enums:` of a contract, or as a contract of its own",
        "declare it in the contract's module (a `#[message]` struct or an enum), import another contract's with `use`, or declare a contract of its own",
    ),
];

/// Labels that name YAML keys.
const LABELS: &[(&str, &str)] = &[(
    "no field here has `primary: true`",
    "no field here has `#[field(primary)]`",
)];

/// The diagnostic with its YAML hints in Rust syntax.
pub(crate) fn in_rust_syntax(mut diagnostic: Diagnostic) -> Diagnostic {
    if let Some(help) = &diagnostic.help {
        let found = HINTS
            .iter()
            .find(|(yaml, _)| help.starts_with(yaml) || help.ends_with(yaml));
        if let Some((_, rust)) = found {
            let name = diagnostic.message.split('`').nth(1).unwrap_or("name");
            diagnostic.help = Some(rust.replace("<name>", name));
        }
    }
    for label in &mut diagnostic.labels {
        relabel(label);
    }
    diagnostic
}

fn relabel(label: &mut Label) {
    if let Some((_, rust)) = LABELS.iter().find(|(yaml, _)| label.message == *yaml) {
        label.message = (*rust).to_owned();
    }
}

#[cfg(test)]
mod tests {
    /// Every YAML text of the tables is still what the lowering or validation says.
    #[test]
    fn every_translated_hint_still_exists() {
        let sources = [
            include_str!("../yaml/lower/mod.rs"),
            include_str!("../yaml/lower/contract.rs"),
            include_str!("../yaml/lower/field.rs"),
            include_str!("../yaml/lower/message.rs"),
            include_str!("../yaml/lower/operation.rs"),
            include_str!("../yaml/lower/policy.rs"),
            include_str!("../yaml/lower/types.rs"),
            include_str!("../../validate.rs"),
        ];
        for (yaml, _) in super::HINTS.iter().chain(super::LABELS) {
            // Source text escapes quotes and backslashes, and writes `{{` in format strings.
            let escaped = yaml.replace('\\', "\\\\").replace('"', "\\\"");
            let formatted = escaped.replace('{', "{{").replace('}', "}}");
            assert!(
                sources
                    .iter()
                    .any(|s| s.contains(&escaped) || s.contains(&formatted)),
                "`{yaml}` no longer occurs in the lowering: update the table"
            );
        }
    }
}
