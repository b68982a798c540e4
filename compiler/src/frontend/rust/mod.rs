//! The Rust front end: `#[contract]` items -> the same spanned tree the YAML front end builds
//! -> the same lowering (`yaml/lower.rs`) -> IR.
//!
//! Sharing the tree, not just the IR, is what keeps the two front ends one: every key, default,
//! check and message of the contract format lives once, in the lowering. This module only
//! translates Rust syntax (attribute arguments, struct fields, `Option<T>`, doc comments, enums,
//! trait functions) into that tree and keeps track of where each node came from.
//!
//! Two callers:
//!
//! - [`lower_item`], for the `#[contract]` proc macro (driven by `crate::expand`): one item,
//!   diagnostics as `compile_error!`s at the exact tokens, the contract for the Rust emitter
//!   and [`place`] to put its output where the item was;
//! - [`lower_file`], for `cmmv gen --rust DIR` and `Builder::rust_sources`: every
//!   `#[contract]` item of a file, lowered into the whole project next to YAML contracts, so that
//!   cross-contract checks, the field-number lock, OpenAPI and proto cover them as well.

mod attr;
mod expand;
mod item;
mod spans;
mod types;
mod wording;

use std::collections::BTreeMap;

use crate::diag::{Diagnostic, Diagnostics, FileId};
use crate::ir::{Contract, RateLimitPolicy};

pub(crate) use expand::{LoweredItem, lower_item, place};

use item::Declaration;
use spans::SpanMap;

/// The attribute that declares a contract (`#[contract]`, `#[cmmv::contract]`, ...).
const CONTRACT_ATTRIBUTE: &str = "contract";

/// Lowers every `#[contract]` item of one Rust source file, in source order. Items nested in
/// inline modules are found too; files of other modules are separate sources.
pub(crate) fn lower_file(
    file: FileId,
    text: &str,
    named_limits: &BTreeMap<String, RateLimitPolicy>,
    diags: &mut Diagnostics,
) -> Vec<Contract> {
    let mut spans = SpanMap::file(file, text);
    let syntax = match syn::parse_file(text) {
        Ok(syntax) => syntax,
        Err(error) => {
            let at = error.span();
            let span = spans.span(at, at, "");
            diags.push(
                Diagnostic::error(span, format!("cannot parse Rust: {error}"))
                    .with_label("rustc will report this too")
                    .with_help(
                        "fix the syntax error; contracts in this file are not read until then",
                    ),
            );
            return Vec::new();
        }
    };
    let mut declarations = Vec::new();
    collect_declarations(&mut spans, &syntax.items, &mut declarations, diags);
    declarations
        .iter()
        .filter_map(|declaration| {
            let tree = item::contract_tree(&mut spans, declaration, diags)?;
            crate::frontend::yaml::lower::lower_tree(
                spans.file_id(),
                text,
                &tree.root,
                named_limits,
                diags,
            )
        })
        .collect()
}

/// Gives the hints of diagnostics located in Rust sources their Rust spelling (the lowering
/// and validation are shared with YAML and word their hints in YAML).
pub(crate) fn in_rust_syntax(diagnostic: Diagnostic) -> Diagnostic {
    wording::in_rust_syntax(diagnostic)
}

/// Whether `text` may declare a contract: a cheap test that spares parsing other files.
pub(crate) fn may_declare_contracts(text: &str) -> bool {
    text.contains(CONTRACT_ATTRIBUTE) && text.contains("#[")
}

fn collect_declarations<'i>(
    spans: &mut SpanMap<'_>,
    items: &'i [syn::Item],
    out: &mut Vec<Declaration<'i>>,
    diags: &mut Diagnostics,
) {
    for item in items {
        let attrs = match item {
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Enum(e) => &e.attrs,
            syn::Item::Trait(t) => &t.attrs,
            _ => continue,
        };
        match contract_args(attrs) {
            Some(args) => match declaration(item, args) {
                Ok(declaration) => out.push(declaration),
                Err((at, message)) => {
                    let span = spans.span(at, at, "contract");
                    diags.push(Diagnostic::error(span, message).with_help(USAGE));
                }
            },
            None => {
                if let syn::Item::Mod(syn::ItemMod {
                    content: Some((_, inner)),
                    ..
                }) = item
                {
                    collect_declarations(spans, inner, out, diags);
                }
            }
        }
    }
}

const USAGE: &str = "put `#[contract(...)]` on a struct, or on an inline module holding the resource struct, `#[message]` structs, enums and a trait of `#[operation(...)]` functions";

/// The arguments of the `#[contract]` attribute among `attrs`, if there is one.
fn contract_args(attrs: &[syn::Attribute]) -> Option<proc_macro2::TokenStream> {
    let attr = attrs.iter().find(|a| {
        a.path()
            .segments
            .last()
            .is_some_and(|s| s.ident == CONTRACT_ATTRIBUTE)
    })?;
    Some(match &attr.meta {
        syn::Meta::List(list) => list.tokens.clone(),
        _ => proc_macro2::TokenStream::new(),
    })
}

/// What a `#[contract]` attribute covers, or why it cannot stand where it is.
fn declaration(
    item: &syn::Item,
    args: proc_macro2::TokenStream,
) -> Result<Declaration<'_>, (proc_macro2::Span, String)> {
    match item {
        syn::Item::Struct(s) => Ok(Declaration {
            args,
            anchor: s.ident.span(),
            items: vec![item],
        }),
        syn::Item::Mod(m) => match &m.content {
            Some((_, items)) => Ok(Declaration {
                args,
                anchor: m.ident.span(),
                items: items.iter().collect(),
            }),
            None => Err((
                m.ident.span(),
                "`#[contract]` needs the module's items inline".to_owned(),
            )),
        },
        syn::Item::Enum(e) => Err((
            e.ident.span(),
            "`#[contract]` applies to a struct or a module, not an enum".to_owned(),
        )),
        syn::Item::Trait(t) => Err((
            t.ident.span(),
            "`#[contract]` applies to a struct or a module, not a trait".to_owned(),
        )),
        other => Err((
            syn::spanned::Spanned::span(other),
            "`#[contract]` applies to a struct or a module".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests;
