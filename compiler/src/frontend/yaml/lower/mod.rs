//! Lowering: a spanned YAML tree -> IR.
//!
//! Each function reads one construct of the contract format, reports every problem it finds
//! (unknown keys with suggestions, values of the wrong kind, constraints that cannot hold) and
//! returns what it could make sense of, so that one run reports all problems. Checks that need
//! more than one contract (references, route clashes, field numbers) live in `validate.rs`.

mod contract;
mod field;
mod keys;
mod message;
mod operation;
mod policy;
mod project;
mod types;

pub(crate) use project::lower_project_file;

use std::collections::{BTreeMap, BTreeSet};

use keys::*;

use super::tree::{Node, NodeKind, Scalar as Yaml};
use crate::diag::{Diagnostic, Diagnostics, FileId, Pending, Span, suggest};
use crate::ir::*;

/// Lowers one contract file. Returns `None` only when not even the contract's name could be
/// read; otherwise a contract whose broken parts were left out (and reported).
pub(crate) fn lower_file(
    file: FileId,
    text: &str,
    named_limits: &BTreeMap<String, RateLimitPolicy>,
    diags: &mut Diagnostics,
) -> Option<Contract> {
    let (root, syntax) = super::tree::parse(file, text);
    diags.extend(syntax);
    lower_tree(file, text, &root?, named_limits, diags)
}

/// Lowers one contract already in tree form. The Rust front end builds such a tree from
/// `#[contract]` items, so both front ends share every check and every message of this file.
/// `text` is the source the tree's spans index into (used to underline part of a scalar).
pub(crate) fn lower_tree(
    file: FileId,
    text: &str,
    root: &Node,
    named_limits: &BTreeMap<String, RateLimitPolicy>,
    diags: &mut Diagnostics,
) -> Option<Contract> {
    let mut cx = Lowerer {
        file,
        text,
        diags,
        named_limits,
    };
    cx.contract(root)
}

/// Query parameter names the list operation reserves for itself.
pub(crate) use cmmv_rules::list::LIST_PARAMETERS as LIST_PARAMS;

struct Lowerer<'a> {
    file: FileId,
    text: &'a str,
    diags: &'a mut Diagnostics,
    named_limits: &'a BTreeMap<String, RateLimitPolicy>,
}

/// A map whose keys were checked against the allowed set.
struct Object<'n> {
    entries: &'n [(Node, Node)],
    span: Span,
}

impl<'n> Object<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.scalar_text() == Some(key))
            .map(|(_, v)| v)
    }

    fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(k, _)| k.scalar_text() == Some(key))
            .map(|(k, _)| k.span)
    }
}

/// Where a field is declared: contract fields may carry storage and list options.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldPlace {
    Contract,
    Message,
    Parameter,
}

impl<'a> Lowerer<'a> {
    fn error(&self, span: Span, message: impl Into<String>) -> Pending {
        Pending(Diagnostic::error(span, message))
    }

    // ---- generic readers -------------------------------------------------------------------

    fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match node.as_map() {
            Some(entries) => Some(entries),
            None => {
                self.error(node.span, format!("{what} must be a map"))
                    .with_label(format!("found {}", node.describe()))
                    .emit(self.diags);
                None
            }
        }
    }

    /// Reads a map and reports every key not in `allowed`, with the closest allowed key.
    fn object<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&str]) -> Option<Object<'n>> {
        let entries = self.map(node, what)?;
        for (key, _) in entries {
            let Some(name) = key.scalar_text() else {
                self.error(key.span, "keys must be plain strings")
                    .emit(self.diags);
                continue;
            };
            if !allowed.contains(&name) {
                let mut pending = self
                    .error(key.span, format!("unknown key `{name}` in {what}"))
                    .with_label("unknown key");
                pending = match suggest(name, allowed.iter().copied()) {
                    Some(best) => pending.with_help(format!("did you mean `{best}`?")),
                    None => pending.with_help(format!("expected one of: {}", allowed.join(", "))),
                };
                pending.emit(self.diags);
            }
        }
        Some(Object {
            entries,
            span: node.span,
        })
    }

    fn key_name(&mut self, key: &Node) -> Option<String> {
        match key.scalar_text() {
            Some(name) => Some(name.to_owned()),
            None => {
                self.error(key.span, "keys must be plain strings")
                    .emit(self.diags);
                None
            }
        }
    }

    fn expected(&mut self, node: &Node, expected: &str) {
        self.error(
            node.span,
            format!("expected {expected}, found {}", node.describe()),
        )
        .with_label(format!("expected {expected}"))
        .emit(self.diags);
    }

    fn string(&mut self, node: &Node) -> Option<String> {
        match node.scalar() {
            Some(Yaml::Str(s)) => Some(s.to_owned()),
            _ => {
                self.expected(node, "a string");
                None
            }
        }
    }

    fn bool(&mut self, node: &Node) -> Option<bool> {
        match node.scalar() {
            Some(Yaml::Bool(b)) => Some(b),
            _ => {
                self.expected(node, "`true` or `false`");
                None
            }
        }
    }

    /// `deprecated: true`, or `deprecated: { since, sunset, link }` (dates as `YYYY-MM-DD` or
    /// RFC 3339 date-times, the link an absolute http(s) URL).
    fn deprecation(&mut self, node: &Node) -> (bool, Option<Deprecation>) {
        if let Some(Yaml::Bool(flag)) = node.scalar() {
            return (flag, None);
        }
        if node.scalar().is_some() {
            self.expected(node, "`true`, `false` or `{ since, sunset, link }`");
            return (false, None);
        }
        let Some(object) = self.object(node, "`deprecated`", DEPRECATION_KEYS) else {
            return (false, None);
        };
        let mut moment = |key: &str| -> Option<(i64, Span)> {
            let value = object.get(key)?;
            let text = self.string(value)?;
            let seconds = cmmv_rules::parse_date(&text)
                .map(|date| date.midnight().assume_utc().unix_timestamp())
                .or_else(|| cmmv_rules::parse_date_time(&text).map(|t| t.unix_timestamp()));
            if seconds.is_none() {
                self.error(value.span, format!("`{text}` is not a date"))
                    .with_label("expected `YYYY-MM-DD` or an RFC 3339 date-time")
                    .with_help("write e.g. `2027-01-01` or `2027-01-01T00:00:00Z`")
                    .emit(self.diags);
            }
            seconds.map(|s| (s, value.span))
        };
        let since = moment("since");
        let sunset = moment("sunset");
        // The `Deprecation` header (RFC 9745) is the date of the deprecation and nothing else:
        // a sunset or a link announced without it would leave the answers without one.
        if object.get("since").is_none() {
            let dated = ["sunset", "link"]
                .into_iter()
                .find_map(|key| Some((key, object.get(key)?)));
            if let Some((key, value)) = dated {
                self.error(
                    value.span,
                    format!("a deprecation with a `{key}` needs `since`"),
                )
                .with_label("the answers would announce this without a `Deprecation` header")
                .with_help(
                    "add `since: YYYY-MM-DD`, when the deprecation began: every answer carries it as `Deprecation: @<unix seconds>` (RFC 9745)",
                )
                .emit(self.diags);
            }
        }
        if let (Some((since, _)), Some((sunset, span))) = (since, sunset) {
            if sunset <= since {
                self.error(span, "the sunset comes before the deprecation")
                    .with_label("`sunset` must be later than `since`")
                    .emit(self.diags);
            }
        }
        let link = object.get("link").and_then(|value| {
            let link = self.string(value)?;
            let absolute = (link.starts_with("https://") || link.starts_with("http://"))
                && !link.contains(char::is_whitespace)
                && !link.contains(['<', '>', '"']);
            if !absolute {
                self.error(
                    value.span,
                    format!("`{link}` is not an absolute http(s) URL"),
                )
                .with_label("sent in the `Link` header of every answer")
                .with_help("write e.g. `https://example.com/changelog#v1`")
                .emit(self.diags);
                return None;
            }
            Some(link)
        });
        (
            true,
            Some(Deprecation {
                since: since.map(|(s, _)| s),
                sunset: sunset.map(|(s, _)| s),
                link,
                span: node.span,
            }),
        )
    }

    fn flag(&mut self, object: &Object<'_>, key: &str) -> bool {
        object
            .get(key)
            .and_then(|node| self.bool(node))
            .unwrap_or(false)
    }

    fn unsigned(&mut self, node: &Node) -> Option<u64> {
        match node.scalar() {
            Some(Yaml::Int(i)) if i >= 0 => Some(i as u64),
            _ => {
                self.expected(node, "a non-negative integer");
                None
            }
        }
    }

    fn number(&mut self, node: &Node) -> Option<f64> {
        match node.scalar() {
            Some(Yaml::Int(i)) => Some(i as f64),
            Some(Yaml::Float(x)) if x.is_finite() => Some(x),
            _ => {
                self.expected(node, "a number");
                None
            }
        }
    }

    fn string_list(&mut self, node: &Node) -> Option<Vec<(String, Span)>> {
        let Some(items) = node.as_seq() else {
            self.expected(node, "a list of strings");
            return None;
        };
        Some(
            items
                .iter()
                .filter_map(|item| self.string(item).map(|s| (s, item.span)))
                .collect(),
        )
    }

    /// Converts any YAML node to a literal value (defaults, examples).
    fn value(&mut self, node: &Node) -> Value {
        match &node.kind {
            NodeKind::Seq(items) => Value::List(items.iter().map(|i| self.value(i)).collect()),
            NodeKind::Map(entries) => Value::Map(
                entries
                    .iter()
                    .filter_map(|(k, v)| Some((k.scalar_text()?.to_owned(), self.value(v))))
                    .collect(),
            ),
            NodeKind::Scalar { .. } => match node.scalar() {
                Some(Yaml::Null) | None => Value::Null,
                Some(Yaml::Bool(b)) => Value::Bool(b),
                Some(Yaml::Int(i)) => Value::Int(i),
                Some(Yaml::Float(x)) => Value::Float(x),
                Some(Yaml::Str(s)) => Value::String(s.to_owned()),
            },
        }
    }

    /// The span of `part` inside a plain or quoted scalar node, for precise underlines.
    fn sub_span(&self, node: &Node, part_start: usize, part_len: usize) -> Span {
        let start = node.span.start as usize;
        let end = node.span.end as usize;
        let Some(source) = self.text.get(start..end) else {
            return node.span;
        };
        let quote = usize::from(source.starts_with(['"', '\'']));
        let text = node.scalar_text().unwrap_or_default();
        if source.get(quote..quote + text.len()) == Some(text) {
            Span::new(
                self.file,
                start + quote + part_start,
                start + quote + part_start + part_len,
            )
        } else {
            node.span
        }
    }
}

fn is_path_literal_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')
}

/// A path parameter carrying the primary key's type.
fn path_param_from(pk: &Field, name: &str) -> Field {
    Field {
        description: Some("The resource's identifier.".to_owned()),
        ..plain_field(name, pk.span, pk.ty.clone())
    }
}

/// A field with a type and nothing else.
fn plain_field(name: &str, span: Span, ty: Type) -> Field {
    Field {
        name: name.to_owned(),
        span,
        ty,
        description: None,
        optional: false,
        nullable: false,
        default: None,
        example: None,
        constraints: Box::default(),
        item_constraints: Box::default(),
        primary: false,
        read_only: false,
        write_only: false,
        deprecated: false,
        unique: false,
        index: false,
        filterable: false,
        sortable: false,
        references: None,
        number: None,
        renamed_from: None,
        spans: FieldSpans {
            ty: span,
            default: None,
            example: None,
        },
    }
}
