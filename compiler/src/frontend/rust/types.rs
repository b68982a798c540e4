//! Rust types -> contract type names (`Vec<String>` -> `list<string>`).
//!
//! The result is the text a YAML contract would write after `type:`, so the YAML lowering
//! parses it and every type check is shared. Only what has no YAML spelling (a `u32`, a
//! reference, a tuple) is reported here.

use proc_macro2::Span as TokenSpan;
use quote::ToTokens;
use syn::spanned::Spanned;

use super::spans::SpanMap;
use crate::diag::{Diagnostic, suggest};

/// Rust names of the scalar types and the contract type each stands for. The `cmmv::types`
/// names are what the generated code uses, so a macro contract reads like its expansion.
const SCALARS: &[(&str, &str)] = &[
    ("String", "string"),
    ("bool", "bool"),
    ("i32", "int32"),
    ("i64", "int64"),
    ("f32", "float"),
    ("f64", "double"),
    ("Decimal", "decimal"),
    ("Uuid", "uuid"),
    ("Date", "date"),
    ("DateTime", "datetime"),
    ("Bytes", "bytes"),
    ("Value", "json"),
    ("Json", "json"),
    ("Secret", "secret"),
];

/// The contract type of a Rust scalar name (`i64` -> `int64`).
pub(crate) fn scalar(rust: &str) -> Option<&'static str> {
    SCALARS
        .iter()
        .find(|(name, _)| *name == rust)
        .map(|(_, contract)| *contract)
}

/// A Rust type with no contract equivalent, reported where it is written.
#[derive(Debug)]
pub(crate) struct TypeProblem {
    first: TokenSpan,
    last: TokenSpan,
    written: String,
    message: String,
    help: String,
}

impl TypeProblem {
    fn new(ty: &impl ToTokens, message: String, help: String) -> Self {
        let tokens = ty.to_token_stream();
        let mut trees = tokens.clone().into_iter();
        let first = trees.next().map_or_else(|| tokens.span(), |t| t.span());
        let last = trees.last().map_or(first, |t| t.span());
        Self {
            first,
            last,
            written: written(&tokens),
            message,
            help,
        }
    }

    pub(crate) fn at(self, spans: &mut SpanMap<'_>) -> Diagnostic {
        let span = spans.span(self.first, self.last, &self.written);
        Diagnostic::error(span, self.message)
            .with_label("no contract type")
            .with_help(self.help)
    }
}

/// A field's type: the contract type and, for `Option<T>`, the span of `Option`.
pub(crate) fn field_type(ty: &syn::Type) -> Result<(String, Option<TokenSpan>), TypeProblem> {
    if let Some((ident, inner)) = generic_one(ty, "Option") {
        return Ok((contract_type(inner)?, Some(ident.span())));
    }
    Ok((contract_type(ty)?, None))
}

/// The contract type a Rust type stands for.
pub(crate) fn contract_type(ty: &syn::Type) -> Result<String, TypeProblem> {
    if let Some((_, inner)) = generic_one(ty, "Vec") {
        return Ok(format!("list<{}>", element(inner)?));
    }
    for map in ["BTreeMap", "HashMap", "IndexMap"] {
        if let Some((key, value)) = generic_two(ty, map) {
            if !is_ident(key, "String") {
                return Err(TypeProblem::new(
                    key,
                    "map keys are strings".to_owned(),
                    format!("write `{map}<String, ...>`"),
                ));
            }
            return Ok(format!("map<{}>", element(value)?));
        }
    }
    if generic_one(ty, "Option").is_some() {
        return Err(TypeProblem::new(
            ty,
            "`Option` only applies to a field itself".to_owned(),
            "items of lists and maps cannot be absent; wrap them in a message".to_owned(),
        ));
    }
    let syn::Type::Path(path) = ty else {
        return Err(TypeProblem::new(
            ty,
            format!("`{}` is not a contract type", written(ty)),
            "use String, bool, i32, i64, f32, f64, Decimal, Uuid, Date, DateTime, Bytes, Value, Vec<T>, BTreeMap<String, T> or a contract, message or enum name".to_owned(),
        ));
    };
    let Some(last) = path.path.segments.last() else {
        return Err(TypeProblem::new(ty, "empty type".to_owned(), String::new()));
    };
    let name = last.ident.to_string();
    if !last.arguments.is_empty() {
        return Err(TypeProblem::new(
            ty,
            format!("`{}` is not a contract type", written(ty)),
            "generic types other than `Option`, `Vec` and `BTreeMap<String, T>` have no contract equivalent".to_owned(),
        ));
    }
    if let Some((_, contract)) = SCALARS.iter().find(|(rust, _)| *rust == name) {
        return Ok((*contract).to_owned());
    }
    // A name written in lowercase is a primitive or a typo, never a contract, message or enum
    // (those are PascalCase): say which Rust type to use instead.
    if name.starts_with(|c: char| c.is_ascii_lowercase()) {
        let help = match name.as_str() {
            "u8" | "u16" | "u32" | "i8" | "i16" | "usize" | "isize" => {
                "contracts have signed 32- and 64-bit integers: use `i32` or `i64` (with `minimum = 0` for a count)".to_owned()
            }
            "u64" | "u128" | "i128" => "use `i64`, or `Decimal` for larger values".to_owned(),
            "str" | "char" => "use `String` (with `max_length = 1` for a character)".to_owned(),
            _ => match suggest(&name, SCALARS.iter().map(|(rust, _)| *rust)) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "use String, bool, i32, i64, f32, f64, Decimal, Uuid, Date, DateTime, Bytes or Value".to_owned(),
            },
        };
        return Err(TypeProblem::new(
            ty,
            format!("`{name}` has no contract type"),
            help,
        ));
    }
    Ok(name)
}

/// An item of a list or map: anything but another collection (the lowering reports those).
fn element(ty: &syn::Type) -> Result<String, TypeProblem> {
    contract_type(ty)
}

fn is_ident(ty: &syn::Type, name: &str) -> bool {
    matches!(ty, syn::Type::Path(p) if p.qself.is_none() && p.path.segments.last().is_some_and(|s| s.ident == name && s.arguments.is_empty()))
}

fn generic_args<'t>(ty: &'t syn::Type, name: &str) -> Option<(&'t syn::Ident, Vec<&'t syn::Type>)> {
    let syn::Type::Path(path) = ty else {
        return None;
    };
    let last = path.path.segments.last()?;
    if last.ident != name {
        return None;
    }
    let syn::PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    let types = args
        .args
        .iter()
        .filter_map(|a| match a {
            syn::GenericArgument::Type(t) => Some(t),
            _ => None,
        })
        .collect();
    Some((&last.ident, types))
}

fn generic_one<'t>(ty: &'t syn::Type, name: &str) -> Option<(&'t syn::Ident, &'t syn::Type)> {
    match generic_args(ty, name)? {
        (ident, args) if args.len() == 1 => Some((ident, args[0])),
        _ => None,
    }
}

fn generic_two<'t>(ty: &'t syn::Type, name: &str) -> Option<(&'t syn::Type, &'t syn::Type)> {
    match generic_args(ty, name)? {
        (_, args) if args.len() == 2 => Some((args[0], args[1])),
        _ => None,
    }
}

/// A type as a user would write it: `&'static str`, `Vec<String>` (token streams print
/// `& 'static str`, `Vec < String >`).
pub(crate) fn written(ty: &impl ToTokens) -> String {
    ty.to_token_stream()
        .to_string()
        .replace("& '", "&'")
        .replace(" <", "<")
        .replace("< ", "<")
        .replace(" >", ">")
        .replace(" ,", ",")
        .replace(" :: ", "::")
}

/// The Rust type a failed expansion's stub gives a field: the generated code's type where the
/// written one is contract vocabulary (`Uuid` -> `::cmmv::types::Uuid`), the written type for
/// names the item declares or imports, and `()` for anything already reported, so the stub
/// itself adds no error.
pub(crate) fn stub_type(ty: &syn::Type, known: &[String]) -> proc_macro2::TokenStream {
    if let Some((ident, inner)) = generic_one(ty, "Option") {
        let inner = stub_type(inner, known);
        return quote::quote_spanned!(ident.span()=> ::core::option::Option<#inner>);
    }
    if let Some((ident, inner)) = generic_one(ty, "Vec") {
        let inner = stub_type(inner, known);
        return quote::quote_spanned!(ident.span()=> ::std::vec::Vec<#inner>);
    }
    for map in ["BTreeMap", "HashMap", "IndexMap"] {
        if let Some((key, value)) = generic_two(ty, map) {
            if is_ident(key, "String") {
                let value = stub_type(value, known);
                return quote::quote!(::std::collections::BTreeMap<::std::string::String, #value>);
            }
        }
    }
    let syn::Type::Path(path) = ty else {
        return quote::quote!(());
    };
    let Some(last) = path.path.segments.last().filter(|l| l.arguments.is_empty()) else {
        return quote::quote!(());
    };
    let name = last.ident.to_string();
    match name.as_str() {
        "String" | "bool" | "i32" | "i64" | "f32" | "f64" => ty.to_token_stream(),
        "Decimal" | "Uuid" | "Date" | "DateTime" | "Bytes" => {
            let ident = &last.ident;
            quote::quote!(::cmmv::types::#ident)
        }
        "Value" | "Json" => quote::quote!(::cmmv::__private::serde_json::Value),
        "Secret" => quote::quote!(::cmmv::secret::Secret),
        _ if known.contains(&name) => ty.to_token_stream(),
        _ => quote::quote!(()),
    }
}
