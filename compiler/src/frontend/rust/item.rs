//! `#[contract]` items -> the spanned tree of one contract.
//!
//! The tree is the one a YAML file with the same meaning would produce: the struct's name is
//! `contract:`, its fields are `fields:`, `#[message]` structs are `messages:`, enums are
//! `enums:`, the functions of a trait are `operations:`, doc comments are `description:`, and
//! the arguments of `#[contract(...)]`, `#[field(...)]` and `#[operation(...)]` are the YAML
//! keys themselves. `lower.rs` then reads it, so the two front ends share every check.

use proc_macro2::{Span as TokenSpan, TokenStream};
use quote::ToTokens;
use syn::spanned::Spanned;

use super::attr::{self, plain_node, push_unique, string_node};
use super::spans::SpanMap;
use super::types::field_type;
use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::frontend::yaml::tree::{Node, NodeKind};
use crate::ir::{to_pascal_case, to_snake_case};

/// The helper attributes `#[contract]` reads; they exist only inside a contract item.
pub(crate) const HELPER_ATTRIBUTES: &[&str] = &["field", "message", "operation"];

/// Contract keys the item itself declares; they cannot be given as arguments as well.
const DECLARED_BY_ITEMS: &[(&str, &str)] = &[
    ("contract", "the contract's name is the struct's name"),
    (
        "fields",
        "fields are the struct's fields, each with `#[field(...)]`",
    ),
    (
        "messages",
        "messages are `#[message]` structs in the contract module",
    ),
    ("enums", "enums are Rust enums in the contract module"),
    (
        "operations",
        "custom operations are `#[operation(...)]` functions of a trait in the contract module",
    ),
];

/// One `#[contract(...)]`: its arguments and the items it covers (the struct itself, or the
/// items of the module it annotates).
pub(crate) struct Declaration<'i> {
    pub(crate) args: TokenStream,
    /// Where to report a problem of the declaration as a whole (the module's or struct's name).
    pub(crate) anchor: TokenSpan,
    pub(crate) items: Vec<&'i syn::Item>,
}

/// What a declaration lowers from: the contract tree, and the names brought in by `use`
/// (other contracts, resolved by Rust, not by this item).
#[derive(Debug)]
pub(crate) struct ContractTree {
    pub(crate) root: Node,
    pub(crate) imports: Vec<(String, Span)>,
}

pub(crate) fn contract_tree(
    spans: &mut SpanMap<'_>,
    declaration: &Declaration<'_>,
    diags: &mut Diagnostics,
) -> Option<ContractTree> {
    let mut resource: Option<&syn::ItemStruct> = None;
    let mut messages = Vec::new();
    let mut enums = Vec::new();
    let mut operations = Vec::new();
    let mut imports = Vec::new();
    for item in &declaration.items {
        match item {
            syn::Item::Struct(s) if has_attr(&s.attrs, "message") => messages.push(s),
            syn::Item::Struct(s) => match resource {
                None => resource = Some(s),
                Some(first) => {
                    let span = spans.span(s.ident.span(), s.ident.span(), &s.ident.to_string());
                    let first_span = spans.span(
                        first.ident.span(),
                        first.ident.span(),
                        &first.ident.to_string(),
                    );
                    diags.push(
                        Diagnostic::error(span, "a contract module has one resource struct")
                            .with_label("a second struct without `#[message]`")
                            .with_secondary(first_span, "the contract's resource")
                            .with_help("mark request and response types with `#[message]`, or declare another contract"),
                    );
                }
            },
            syn::Item::Enum(e) => enums.push(e),
            syn::Item::Trait(t) => operations.extend(t.items.iter()),
            syn::Item::Use(u) => use_names(spans, &u.tree, &mut imports),
            _ => {}
        }
    }
    let Some(resource) = resource else {
        let span = spans.span(declaration.anchor, declaration.anchor, "contract");
        diags.push(
            Diagnostic::error(span, "a `#[contract]` module declares no resource struct")
                .with_help(
                    "add the resource, e.g. `pub struct Task { #[field(primary)] pub id: Uuid }`",
                ),
        );
        return None;
    };

    let name = resource.ident.to_string();
    let mut entries = vec![(
        plain_node(spans, "contract", resource.ident.span()),
        string_node(
            spans,
            &name,
            resource.ident.span(),
            resource.ident.span(),
            &name,
        ),
    )];
    if let Some(doc) = docs(spans, &resource.attrs) {
        entries.push(doc);
    }
    for (key, value) in attr::entries(spans, declaration.args.clone(), diags) {
        let key_name = key.scalar_text().unwrap_or_default();
        if let Some((_, why)) = DECLARED_BY_ITEMS.iter().find(|(k, _)| *k == key_name) {
            diags.push(
                Diagnostic::error(
                    key.span,
                    format!("`{key_name}` is not an argument of `#[contract]`"),
                )
                .with_label("declared by the items instead")
                .with_help(*why),
            );
            continue;
        }
        push_unique(&mut entries, key, value, diags);
    }

    let fields = struct_fields(spans, resource, &name, diags);
    let fields_span = spans.span(resource.ident.span(), resource.ident.span(), &name);
    entries.push((
        plain_node(spans, "fields", resource.ident.span()),
        map(fields, fields_span),
    ));

    if let Some(first) = enums.first().map(|e| e.ident.span()) {
        let defs = enums
            .iter()
            .filter_map(|e| enum_def(spans, e, diags))
            .collect();
        let span = spans.span(first, first, "enums");
        entries.push((plain_node(spans, "enums", first), map(defs, span)));
    }
    if let Some(first) = messages.first().map(|m| m.ident.span()) {
        let mut defs = Vec::new();
        for message in &messages {
            let message_name = message.ident.to_string();
            let key = string_node(
                spans,
                &message_name,
                message.ident.span(),
                message.ident.span(),
                &message_name,
            );
            let mut body = Vec::new();
            if let Some(doc) = docs(spans, &message.attrs) {
                body.push(doc);
            }
            let fields = struct_fields(spans, message, &message_name, diags);
            let fields_span = key.span;
            body.push((
                plain_node(spans, "fields", message.ident.span()),
                map(fields, fields_span),
            ));
            let span = key.span;
            push_unique(&mut defs, key, map(body, span), diags);
        }
        let span = spans.span(first, first, "messages");
        entries.push((plain_node(spans, "messages", first), map(defs, span)));
    }
    let mut defs = Vec::new();
    for item in &operations {
        if let Some((key, value)) = operation(spans, item, diags) {
            push_unique(&mut defs, key, value, diags);
        }
    }
    if let Some(span) = defs.first().map(|(key, _)| key.span) {
        entries.push((
            plain_node(spans, "operations", resource.ident.span()),
            map(defs, span),
        ));
    }
    let span = spans.span(resource.ident.span(), resource.ident.span(), &name);
    Some(ContractTree {
        root: map(entries, span),
        imports,
    })
}

fn map(entries: Vec<(Node, Node)>, span: Span) -> Node {
    Node {
        kind: NodeKind::Map(entries),
        span,
    }
}

fn has_attr(attrs: &[syn::Attribute], name: &str) -> bool {
    attrs.iter().any(|a| a.path().is_ident(name))
}

/// Doc comments as a `description` entry: one line per `///` line, the leading space removed.
fn docs(spans: &mut SpanMap<'_>, attrs: &[syn::Attribute]) -> Option<(Node, Node)> {
    let mut lines = Vec::new();
    let mut first_span = None;
    for attr in attrs {
        let syn::Meta::NameValue(nv) = &attr.meta else {
            continue;
        };
        if !nv.path.is_ident("doc") {
            continue;
        }
        if let syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(s),
            ..
        }) = &nv.value
        {
            let line = s.value();
            lines.push(line.strip_prefix(' ').map_or(line.clone(), str::to_owned));
            first_span.get_or_insert(attr.span());
        }
    }
    let at = first_span?;
    let text = lines.join("\n").trim().to_owned();
    Some((
        plain_node(spans, "description", at),
        string_node(spans, &text, at, at, "///"),
    ))
}

/// The entries of every `#[name(...)]` attribute among `attrs`.
fn helper_entries(
    spans: &mut SpanMap<'_>,
    attrs: &[syn::Attribute],
    name: &str,
    diags: &mut Diagnostics,
) -> Vec<(Node, Node)> {
    let mut out = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident(name)) {
        let tokens = match &attr.meta {
            syn::Meta::List(list) => list.tokens.clone(),
            syn::Meta::Path(_) => TokenStream::new(),
            syn::Meta::NameValue(nv) => {
                let span = spans.span(nv.eq_token.span, nv.value.span(), "=");
                diags.push(
                    Diagnostic::error(span, format!("`#[{name} = ...]` takes no value"))
                        .with_help(format!("write `#[{name}(key = value, ...)]`")),
                );
                continue;
            }
        };
        for (key, value) in attr::entries(spans, tokens, diags) {
            push_unique(&mut out, key, value, diags);
        }
    }
    out
}

fn struct_fields(
    spans: &mut SpanMap<'_>,
    item: &syn::ItemStruct,
    owner: &str,
    diags: &mut Diagnostics,
) -> Vec<(Node, Node)> {
    let syn::Fields::Named(named) = &item.fields else {
        let span = spans.span(
            item.ident.span(),
            item.ident.span(),
            &item.ident.to_string(),
        );
        diags.push(
            Diagnostic::error(span, format!("`{}` needs named fields", item.ident))
                .with_help("declare it as `struct Name { field: Type, ... }`"),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for field in &named.named {
        let Some(ident) = &field.ident else { continue };
        let name = attr::ident_text(ident);
        let key = plain_node(spans, &name, ident.span());
        // A field whose type has no contract equivalent was reported; leaving it out spares
        // the user a second error about its missing `type`.
        if let Some(value) = field_node(spans, field, &name, owner, diags) {
            push_unique(&mut out, key, value, diags);
        }
    }
    out
}

/// One field: the YAML keys of `#[field(...)]`, plus `type` from the Rust type, `optional`
/// from `Option<T>` and `description` from its doc comment.
fn field_node(
    spans: &mut SpanMap<'_>,
    field: &syn::Field,
    name: &str,
    owner: &str,
    diags: &mut Diagnostics,
) -> Option<Node> {
    let mut entries = Vec::new();
    if let Some(doc) = docs(spans, &field.attrs) {
        entries.push(doc);
    }
    let declared = helper_entries(spans, &field.attrs, "field", diags);
    let has = |key: &str| declared.iter().any(|(k, _)| k.scalar_text() == Some(key));
    let ty_tokens = field.ty.to_token_stream();
    let ty_first = ty_tokens
        .clone()
        .into_iter()
        .next()
        .map_or_else(|| field.ty.span(), |t| t.span());
    let ty_last = ty_tokens
        .clone()
        .into_iter()
        .last()
        .map_or(ty_first, |t| t.span());
    let written = super::types::written(&field.ty);
    match field_type(&field.ty) {
        Ok((text, option)) => {
            if has("values") {
                // An inline enum: its generated type is `<Owner><Field>`, and the Rust type
                // names it, so the declaration reads like the code it expands to.
                let expected = format!("{owner}{}", to_pascal_case(name));
                let span = spans.span(ty_first, ty_last, &written);
                if text != expected && !has("type") {
                    diags.push(
                        Diagnostic::error(
                            span,
                            format!("the inline enum of `{name}` is named `{expected}`"),
                        )
                        .with_label(format!("expected `{expected}`"))
                        .with_help(format!(
                            "write `{name}: {expected}`, or declare a named enum and drop `values`"
                        )),
                    );
                }
                if !has("type") {
                    entries.push((
                        plain_node(spans, "type", ty_first),
                        Node {
                            kind: NodeKind::Scalar {
                                text: "enum".to_owned(),
                                quoted: true,
                            },
                            span,
                        },
                    ));
                }
            } else if !has("type") {
                let node = attr::string_node(spans, &text, ty_first, ty_last, &written);
                entries.push((plain_node(spans, "type", ty_first), node));
            }
            match option {
                Some(at) if !has("optional") && !has("nullable") => {
                    entries.push((
                        plain_node(spans, "optional", at),
                        plain_node(spans, "true", at),
                    ));
                }
                None => {
                    for key in ["optional", "nullable"] {
                        let Some((k, v)) =
                            declared.iter().find(|(k, _)| k.scalar_text() == Some(key))
                        else {
                            continue;
                        };
                        if v.scalar_text() == Some("true") {
                            let span = spans.span(ty_first, ty_last, &written);
                            diags.push(
                                Diagnostic::error(
                                    span,
                                    format!("`{name}` is `{key}` but not an `Option`"),
                                )
                                .with_label("expected `Option<...>`")
                                .with_secondary(k.span, format!("`{key}` here"))
                                .with_help(format!("write `{name}: Option<{written}>`")),
                            );
                        }
                    }
                }
                Some(_) => {}
            }
        }
        Err(problem) => {
            diags.push(problem.at(spans));
            return None;
        }
    }
    for (key, value) in declared {
        push_unique(&mut entries, key, value, diags);
    }
    let span = spans.span(ident_span(field), ty_last, name);
    Some(map(entries, span))
}

fn ident_span(field: &syn::Field) -> TokenSpan {
    field
        .ident
        .as_ref()
        .map_or_else(|| field.ty.span(), syn::Ident::span)
}

fn enum_def(
    spans: &mut SpanMap<'_>,
    item: &syn::ItemEnum,
    diags: &mut Diagnostics,
) -> Option<(Node, Node)> {
    let name = item.ident.to_string();
    let key = string_node(spans, &name, item.ident.span(), item.ident.span(), &name);
    let mut values = Vec::new();
    for variant in &item.variants {
        let vspan = variant.ident.span();
        if !matches!(variant.fields, syn::Fields::Unit) || variant.discriminant.is_some() {
            let span = spans.span(vspan, vspan, &variant.ident.to_string());
            diags.push(
                Diagnostic::error(span, format!("enum value `{}` carries data", variant.ident))
                    .with_help("contract enums are plain names, e.g. `enum Priority { Low, Normal, High }`"),
            );
            continue;
        }
        let wire = to_snake_case(&variant.ident.to_string());
        let value = string_node(spans, &wire, vspan, vspan, &variant.ident.to_string());
        match docs(spans, &variant.attrs) {
            Some(doc) => {
                let span = value.span;
                values.push(map(
                    vec![(plain_node(spans, "name", vspan), value), doc],
                    span,
                ));
            }
            None => values.push(value),
        }
    }
    let mut body = Vec::new();
    if let Some(doc) = docs(spans, &item.attrs) {
        body.push(doc);
    }
    let span = spans.span(item.ident.span(), item.ident.span(), &name);
    body.push((
        plain_node(spans, "values", item.ident.span()),
        Node {
            kind: NodeKind::Seq(values),
            span,
        },
    ));
    Some((key, map(body, span)))
}

fn operation(
    spans: &mut SpanMap<'_>,
    item: &syn::TraitItem,
    diags: &mut Diagnostics,
) -> Option<(Node, Node)> {
    let syn::TraitItem::Fn(function) = item else {
        let span = spans.span(item.span(), item.span(), "item");
        diags.push(
            Diagnostic::error(span, "a contract's trait declares operations only")
                .with_help("declare each custom operation as `#[operation(...)] fn name();`"),
        );
        return None;
    };
    let ident = &function.sig.ident;
    let name = attr::ident_text(ident);
    let key = plain_node(spans, &name, ident.span());
    if !has_attr(&function.attrs, "operation") {
        diags.push(
            Diagnostic::error(key.span, format!("`fn {name}` has no `#[operation(...)]`"))
                .with_help("declare it as `#[operation(method = \"POST\", path = \"/{id}/...\")]`"),
        );
        return None;
    }
    if let Some(input) = function.sig.inputs.first() {
        let span = spans.span(input.span(), input.span(), "input");
        diags.push(
            Diagnostic::error(span, format!("operation `{name}` declares parameters in its signature"))
                .with_label("not read")
                .with_help("declare its inputs with `request = Message`, `query(...)` and `params(...)` in `#[operation(...)]`; the generated handler trait has the full signature"),
        );
    }
    let mut entries = Vec::new();
    if let Some(doc) = docs(spans, &function.attrs) {
        entries.push(doc);
    }
    for (k, v) in helper_entries(spans, &function.attrs, "operation", diags) {
        push_unique(&mut entries, k, v, diags);
    }
    let span = key.span;
    Some((key, map(entries, span)))
}

/// The names a `use` item brings into scope.
fn use_names(spans: &mut SpanMap<'_>, tree: &syn::UseTree, out: &mut Vec<(String, Span)>) {
    match tree {
        syn::UseTree::Path(path) => use_names(spans, &path.tree, out),
        syn::UseTree::Name(name) => {
            let text = name.ident.to_string();
            let span = spans.span(name.ident.span(), name.ident.span(), &text);
            out.push((text, span));
        }
        syn::UseTree::Rename(rename) => {
            let text = rename.rename.to_string();
            let span = spans.span(rename.rename.span(), rename.rename.span(), &text);
            out.push((text, span));
        }
        syn::UseTree::Glob(_) => {}
        syn::UseTree::Group(group) => {
            for tree in &group.items {
                use_names(spans, tree, out);
            }
        }
    }
}

/// The type names an item declares or imports (the stub keeps field types naming them).
pub(crate) fn declared_names(item: &syn::Item) -> Vec<String> {
    let mut names = Vec::new();
    let items: Vec<&syn::Item> = match item {
        syn::Item::Mod(m) => m.content.iter().flat_map(|(_, items)| items).collect(),
        other => vec![other],
    };
    for item in items {
        match item {
            syn::Item::Struct(s) => names.push(s.ident.to_string()),
            syn::Item::Enum(e) => names.push(e.ident.to_string()),
            syn::Item::Use(u) => collect_use_names(&u.tree, &mut names),
            _ => {}
        }
    }
    names
}

fn collect_use_names(tree: &syn::UseTree, out: &mut Vec<String>) {
    match tree {
        syn::UseTree::Path(path) => collect_use_names(&path.tree, out),
        syn::UseTree::Name(name) => out.push(name.ident.to_string()),
        syn::UseTree::Rename(rename) => out.push(rename.rename.to_string()),
        syn::UseTree::Glob(_) => {}
        syn::UseTree::Group(group) => group.items.iter().for_each(|t| collect_use_names(t, out)),
    }
}

/// Turns an item into the stub a failed expansion leaves: helper attributes removed (so rustc
/// does not add "cannot find attribute" errors) and field types replaced by what the generated
/// code would use (so contract vocabulary such as `Uuid` needs no import and an unknown type,
/// already reported, is not reported again). Code using the item keeps compiling as far as it
/// only uses what the user wrote.
pub(crate) fn stub(item: &mut syn::Item, known: &[String]) {
    let keep = |a: &syn::Attribute| !HELPER_ATTRIBUTES.iter().any(|h| a.path().is_ident(h));
    match item {
        syn::Item::Struct(s) => {
            s.attrs.retain(keep);
            for field in s.fields.iter_mut() {
                field.attrs.retain(keep);
                let ty = super::types::stub_type(&field.ty, known);
                if let Ok(ty) = syn::parse2(ty) {
                    field.ty = ty;
                }
            }
        }
        syn::Item::Trait(t) => {
            for inner in &mut t.items {
                if let syn::TraitItem::Fn(f) = inner {
                    f.attrs.retain(keep);
                }
            }
        }
        syn::Item::Mod(m) => {
            if let Some((_, items)) = &mut m.content {
                items.iter_mut().for_each(|item| stub(item, known));
            }
        }
        _ => {}
    }
}
