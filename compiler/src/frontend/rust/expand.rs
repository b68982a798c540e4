//! The front end's half of the `#[contract]` proc macro: one item -> IR -> checks, and where
//! generated items go in it. The macro's driver (`crate::expand`) hands the contract to the
//! Rust emitter: the front end never calls an emitter.
//!
//! A macro sees one item. Names declared in it (the resource, its messages and enums) resolve
//! as in a YAML file; names brought in by `use` items are taken to be other contracts (or their
//! messages), which Rust resolves and the whole-crate compilation (`cmmv gen --rust`,
//! `Builder::rust_sources`) checks; any other name is an unknown reference, reported here.

use proc_macro2::{Ident, Span as TokenSpan, TokenStream};
use quote::quote;

use super::item::{self, Declaration};
use super::spans::{SpanMap, TokenText};
use crate::diag::{Diagnostic, Diagnostics, FileId, Label};
use std::collections::BTreeMap;

use crate::frontend::yaml::tree::{Node, NodeKind};
use crate::ir::{Contract, Project, RateFailMode, RateKey, RateLimitPolicy};

/// What the front end makes of `#[contract(args)] item`.
#[allow(
    missing_debug_implementations,
    reason = "syn's items are `Debug` only with its `extra-traits` feature, which nothing else needs"
)]
#[allow(
    clippy::large_enum_variant,
    reason = "one value per macro expansion, moved once: boxing the project would buy nothing"
)]
pub(crate) enum LoweredItem {
    /// The item's contract, alone in a project with a placeholder for each name it imports,
    /// and the item, for [`place`].
    Contract {
        project: Project,
        name: String,
        item: Box<syn::Item>,
    },
    /// Every problem as a `compile_error!` at its tokens plus the item as written without
    /// the helper attributes, so that code using it does not add a cascade of secondary
    /// errors: the whole expansion.
    Failed(TokenStream),
}

/// Lowers and checks the item of `#[contract(args)] item`.
pub(crate) fn lower_item(args: TokenStream, item: TokenStream) -> LoweredItem {
    let mut parsed: syn::Item = match syn::parse2(item.clone()) {
        Ok(parsed) => parsed,
        Err(error) => return LoweredItem::Failed(error.to_compile_error()),
    };
    let declaration = match super::declaration(&parsed, args) {
        Ok(declaration) => declaration,
        Err((at, message)) => {
            let error = syn::Error::new(at, format!("{message}\n  = help: {}", super::USAGE));
            let mut out = error.to_compile_error();
            out.extend(item);
            return LoweredItem::Failed(out);
        }
    };
    match lower(&declaration) {
        Ok((project, name)) => LoweredItem::Contract {
            project,
            name,
            item: Box::new(parsed),
        },
        Err(errors) => {
            let known = item::declared_names(&parsed);
            item::stub(&mut parsed, &known);
            LoweredItem::Failed(quote!(#errors #parsed))
        }
    }
}

/// Lowers and checks one declaration, alone in a project with a placeholder for each name it
/// imports. Returns the project and the contract's name, or the `compile_error!`s.
fn lower(declaration: &Declaration<'_>) -> Result<(Project, String), TokenStream> {
    let file = FileId(0);
    let mut spans = SpanMap::tokens(file);
    let mut diags = Diagnostics::new();
    let tree = item::contract_tree(&mut spans, declaration, &mut diags);
    let contract = tree.as_ref().and_then(|tree| {
        crate::frontend::yaml::lower::lower_tree(
            file,
            spans.text(),
            &tree.root,
            &named_policies(&tree.root),
            &mut diags,
        )
    });
    let mut project = Project::default();
    let name = contract.as_ref().map(|c| c.name.clone());
    if let (Some(contract), Some(tree)) = (contract, &tree) {
        // A `ref` names a contract but generates no Rust reference to it (the field holds its
        // key), so it needs no import: the whole-crate compilation checks it.
        let mut references = Vec::new();
        collect_references(&tree.root, &mut references);
        for (import, span) in tree.imports.iter().chain(&references) {
            let declared_here = *import == contract.name
                || contract.messages.contains_key(import)
                || contract.enums.contains_key(import);
            if !declared_here && !project.contracts.contains_key(import) {
                project
                    .contracts
                    .insert(import.clone(), placeholder(&contract, import, *span));
            }
        }
        project.contracts.insert(contract.name.clone(), contract);
        project.index_types();
        crate::validate::validate(&project, &mut diags);
    }
    let anchor = declaration.anchor;
    let token_text = spans.into_token_text().unwrap_or_default();
    match name {
        Some(name) if !diags.has_errors() => Ok((project, name)),
        _ => Err(compile_errors(&diags.into_sorted(), &token_text, anchor)),
    }
}

/// The named rate-limit policies the tree refers to (`rate_limit = "standard"`), each with a
/// stand-in value. A macro cannot read `cmmv.yaml`; it needs no value either: its routes carry
/// such a policy by name (`Policy::named`), and the app resolves the name from the `API` table
/// of the whole-crate compilation, which checks every name against `cmmv.yaml`.
fn named_policies(node: &Node) -> BTreeMap<String, RateLimitPolicy> {
    let mut names = BTreeMap::new();
    collect_named_policies(node, false, &mut names);
    names
}

fn collect_named_policies(
    node: &Node,
    under_rate_limit: bool,
    names: &mut BTreeMap<String, RateLimitPolicy>,
) {
    match &node.kind {
        NodeKind::Map(entries) => {
            for (key, value) in entries {
                let is_rate_limit = key.scalar_text() == Some("rate_limit");
                collect_named_policies(value, is_rate_limit, names);
            }
        }
        NodeKind::Seq(items) if under_rate_limit => {
            for item in items {
                collect_named_policies(item, true, names);
            }
        }
        NodeKind::Scalar { text, .. } if under_rate_limit && text != "none" => {
            names.insert(
                text.clone(),
                RateLimitPolicy {
                    name: Some(text.clone()),
                    limit: 1,
                    period_secs: 1,
                    burst: 1,
                    key: RateKey::Ip,
                    on_error: RateFailMode::App,
                    span: node.span,
                },
            );
        }
        _ => {}
    }
}

/// The contract names of every `ref` key in the tree.
fn collect_references(node: &Node, out: &mut Vec<(String, crate::diag::Span)>) {
    match &node.kind {
        NodeKind::Map(entries) => {
            for (key, value) in entries {
                match (key.scalar_text(), value.scalar_text()) {
                    (Some("ref"), Some(name)) => out.push((name.to_owned(), value.span)),
                    _ => collect_references(value, out),
                }
            }
        }
        NodeKind::Seq(items) => items.iter().for_each(|item| collect_references(item, out)),
        NodeKind::Scalar { .. } => {}
    }
}

/// Another contract, known here only by the name a `use` item brought in: enough for
/// references to it to resolve. It declares nothing, so it takes part in no other check.
fn placeholder(template: &Contract, name: &str, span: crate::diag::Span) -> Contract {
    let mut contract = template.clone();
    contract.name = name.to_owned();
    contract.span = span;
    contract.path = format!("/{}", crate::ir::to_snake_case(name));
    contract.fields.clear();
    contract.messages.clear();
    contract.enums.clear();
    contract.operations.clear();
    contract
}

/// Where the generated items go: in place of the struct, or inside the module (with the
/// module's `use` items and any items the contract does not read, such as helper functions).
pub(crate) fn place(item: &syn::Item, generated: TokenStream) -> TokenStream {
    let syn::Item::Mod(module) = item else {
        return generated;
    };
    let kept = module
        .content
        .iter()
        .flat_map(|(_, items)| items)
        .filter(|item| {
            !matches!(
                item,
                syn::Item::Struct(_) | syn::Item::Enum(_) | syn::Item::Trait(_)
            )
        });
    let attrs = &module.attrs;
    let vis = &module.vis;
    let ident = &module.ident;
    quote! {
        #(#attrs)*
        #vis mod #ident {
            #(#kept)*
            #generated
        }
    }
}

/// Every error as a `compile_error!` underlining its tokens, with its help and notes (and
/// the places of secondary labels) in the message, since rustc shows only the message.
fn compile_errors(
    diagnostics: &[Diagnostic],
    tokens: &TokenText,
    anchor: TokenSpan,
) -> TokenStream {
    let mut out = TokenStream::new();
    for diagnostic in diagnostics.iter().filter(|d| d.is_error()) {
        let diagnostic = &super::wording::in_rust_syntax(diagnostic.clone());
        let (first, last) = diagnostic
            .primary_span()
            .and_then(|span| tokens.tokens(span))
            .unwrap_or((anchor, anchor));
        let mut message = diagnostic.message.clone();
        for label in diagnostic.labels.iter().filter(|l| !l.primary) {
            message.push_str(&secondary_note(label, tokens));
        }
        for note in &diagnostic.notes {
            message.push_str(&format!("\n  = note: {note}"));
        }
        if let Some(help) = &diagnostic.help {
            message.push_str(&format!("\n  = help: {help}"));
        }
        let mut spanned = TokenStream::new();
        spanned.extend([
            proc_macro2::TokenTree::Ident(Ident::new("first", first)),
            proc_macro2::TokenTree::Ident(Ident::new("last", last)),
        ]);
        out.extend(syn::Error::new_spanned(spanned, message).to_compile_error());
    }
    out
}

/// `= note: first defined here (line 12)`: where a related place is, as far as a proc macro
/// can tell (lines are known from Rust 1.88 on).
fn secondary_note(label: &Label, tokens: &TokenText) -> String {
    let line = tokens
        .tokens(label.span)
        .map(|(first, _)| first.start().line)
        .filter(|line| *line > 0);
    match line {
        Some(line) => format!("\n  = note: {} (line {line})", label.message),
        None => format!("\n  = note: {}", label.message),
    }
}
