//! Attribute arguments -> the spanned tree the YAML lowering reads.
//!
//! `#[contract(...)]`, `#[field(...)]` and `#[operation(...)]` take the keys of the YAML format
//! in Rust attribute syntax:
//!
//! | Rust                          | YAML                        |
//! |-------------------------------|-----------------------------|
//! | `key = "text"`                | `key: "text"` (a string)    |
//! | `key = 10`, `key = -1.5`      | `key: 10`, `key: -1.5`      |
//! | `key = word`, `key = true`    | `key: word`, `key: true`    |
//! | `key` (alone)                 | `key: true`                 |
//! | `key(a = 1, b)`               | `key: { a: 1, b: true }`    |
//! | `key = [a, "b", 3]`           | `key: [a, "b", 3]`          |
//! | `key = [{ a = 1 }, { b = 2 }]`| `key: [{ a: 1 }, { b: 2 }]` |
//! | `key = Vec<Task>`             | `key: list<Task>`           |
//!
//! Parsing never stops at a malformed entry: it is reported and the next comma resumes.

use proc_macro2::{Delimiter, Span as TokenSpan, TokenStream, TokenTree};

use super::spans::SpanMap;
use super::types::contract_type;
use crate::diag::{Diagnostic, Diagnostics};
use crate::frontend::yaml::tree::{Node, NodeKind};

/// Keys whose value is a type.
const TYPE_KEYS: &[&str] = &["type", "request", "response"];

/// Reads `key = value, key(...), flag, ...` into map entries.
pub(crate) fn entries(
    spans: &mut SpanMap<'_>,
    tokens: TokenStream,
    diags: &mut Diagnostics,
) -> Vec<(Node, Node)> {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out: Vec<(Node, Node)> = Vec::new();
    for part in split_commas(&trees) {
        if part.is_empty() {
            continue;
        }
        if let Some((key, value)) = entry(spans, part, diags) {
            push_unique(&mut out, key, value, diags);
        }
    }
    out
}

/// Adds an entry, reporting a key given twice (as the YAML parser does).
pub(crate) fn push_unique(
    out: &mut Vec<(Node, Node)>,
    key: Node,
    value: Node,
    diags: &mut Diagnostics,
) {
    let name = key.scalar_text().unwrap_or_default();
    if let Some((first, _)) = out
        .iter()
        .find(|(k, _)| k.scalar_text() == Some(name) && !name.is_empty())
    {
        diags.push(
            Diagnostic::error(key.span, format!("duplicate key `{name}`"))
                .with_label("defined again here")
                .with_secondary(first.span, "first defined here"),
        );
        return;
    }
    out.push((key, value));
}

/// A string scalar at the given tokens.
pub(crate) fn string_node(
    spans: &mut SpanMap<'_>,
    text: &str,
    first: TokenSpan,
    last: TokenSpan,
    written: &str,
) -> Node {
    Node {
        kind: NodeKind::Scalar {
            text: text.to_owned(),
            quoted: true,
        },
        span: spans.span(first, last, written),
    }
}

/// A plain (unquoted) scalar, resolved by YAML's rules: `true`, `10`, `none`.
pub(crate) fn plain_node(spans: &mut SpanMap<'_>, text: &str, at: TokenSpan) -> Node {
    Node {
        kind: NodeKind::Scalar {
            text: text.to_owned(),
            quoted: false,
        },
        span: spans.span(at, at, text),
    }
}

fn entry(
    spans: &mut SpanMap<'_>,
    part: &[TokenTree],
    diags: &mut Diagnostics,
) -> Option<(Node, Node)> {
    let (head, tail) = part.split_first()?;
    let TokenTree::Ident(ident) = head else {
        let span = spans.span(head.span(), last_span(part), &head.to_string());
        diags.push(
            Diagnostic::error(span, "expected a key such as `name = value`")
                .with_label("not a key")
                .with_help("write `key = value`, `key(...)` or a lone `key` for `key = true`"),
        );
        return None;
    };
    let name = ident_text(ident);
    let key = plain_node(spans, &name, ident.span());
    match tail {
        [] => {
            let value = plain_node(spans, "true", ident.span());
            Some((key, value))
        }
        [TokenTree::Group(group)] if group.delimiter() == Delimiter::Parenthesis => {
            let inner = entries(spans, group.stream(), diags);
            let span = spans.span(ident.span(), group.span(), &part_text(part));
            Some((
                key,
                Node {
                    kind: NodeKind::Map(inner),
                    span,
                },
            ))
        }
        [TokenTree::Punct(eq), value @ ..] if eq.as_char() == '=' && !value.is_empty() => {
            // Where a type is expected, a lone Rust scalar name means its contract type
            // (`type = i64`, `response = String`); other words pass as written (`type = enum`).
            if let ([TokenTree::Ident(word)], true) = (value, TYPE_KEYS.contains(&name.as_str())) {
                if let Some(text) = super::types::scalar(&word.to_string()) {
                    let written = word.to_string();
                    return Some((
                        key,
                        string_node(spans, text, word.span(), word.span(), &written),
                    ));
                }
            }
            let value = self::value(spans, value, diags)?;
            Some((key, value))
        }
        rest @ [first, ..] => {
            let span = spans.span(first.span(), last_span(rest), &part_text(rest));
            diags.push(
                Diagnostic::error(span, format!("expected `=` or `(...)` after `{name}`"))
                    .with_label("unexpected here")
                    .with_help(format!(
                        "write `{name} = value`, `{name}(...)` or a lone `{name}`"
                    )),
            );
            None
        }
    }
}

/// One value: a literal, a word, a list, a map or a Rust type.
pub(crate) fn value(
    spans: &mut SpanMap<'_>,
    part: &[TokenTree],
    diags: &mut Diagnostics,
) -> Option<Node> {
    let written = part_text(part);
    match part {
        [] => None,
        [TokenTree::Literal(lit)] => literal(spans, lit, None, diags),
        [TokenTree::Punct(minus), TokenTree::Literal(lit)] if minus.as_char() == '-' => {
            literal(spans, lit, Some(minus.span()), diags)
        }
        [TokenTree::Ident(ident)] => Some(plain_node(spans, &ident_text(ident), ident.span())),
        [TokenTree::Group(group)] if group.delimiter() == Delimiter::Bracket => {
            let trees: Vec<TokenTree> = group.stream().into_iter().collect();
            let items = split_commas(&trees)
                .into_iter()
                .filter(|p| !p.is_empty())
                .filter_map(|p| self::value(spans, p, diags))
                .collect();
            Some(Node {
                kind: NodeKind::Seq(items),
                span: spans.span(group.span(), group.span(), &written),
            })
        }
        [TokenTree::Group(group)]
            if matches!(group.delimiter(), Delimiter::Brace | Delimiter::Parenthesis) =>
        {
            let inner = entries(spans, group.stream(), diags);
            Some(Node {
                kind: NodeKind::Map(inner),
                span: spans.span(group.span(), group.span(), &written),
            })
        }
        [first, ..] => {
            let stream: TokenStream = part.iter().cloned().collect();
            let span = spans.span(first.span(), last_span(part), &written);
            match syn::parse2::<syn::Type>(stream) {
                Ok(ty) => match contract_type(&ty) {
                    Ok(text) => Some(Node {
                        kind: NodeKind::Scalar { text, quoted: true },
                        span,
                    }),
                    Err(problem) => {
                        diags.push(problem.at(spans));
                        None
                    }
                },
                Err(_) => {
                    diags.push(
                        Diagnostic::error(span, format!("cannot read `{written}` as a value"))
                            .with_label("not a value")
                            .with_help("values are literals (`\"text\"`, `10`, `true`), words, `[lists]`, `{ key = value }` maps or types such as `Vec<Task>`"),
                    );
                    None
                }
            }
        }
    }
}

fn literal(
    spans: &mut SpanMap<'_>,
    lit: &proc_macro2::Literal,
    minus: Option<TokenSpan>,
    diags: &mut Diagnostics,
) -> Option<Node> {
    let written = lit.to_string();
    let first = minus.unwrap_or_else(|| lit.span());
    match syn::Lit::new(lit.clone()) {
        syn::Lit::Str(s) if minus.is_none() => Some(string_node(
            spans,
            &s.value(),
            lit.span(),
            lit.span(),
            &written,
        )),
        syn::Lit::Int(i) if i.suffix().is_empty() => {
            let sign = if minus.is_some() { "-" } else { "" };
            let text = format!("{sign}{}", i.base10_digits());
            Some(Node {
                kind: NodeKind::Scalar {
                    text: text.clone(),
                    quoted: false,
                },
                span: spans.span(first, lit.span(), &text),
            })
        }
        syn::Lit::Float(x) if x.suffix().is_empty() => {
            let sign = if minus.is_some() { "-" } else { "" };
            let text = format!("{sign}{}", x.base10_digits());
            Some(Node {
                kind: NodeKind::Scalar {
                    text: text.clone(),
                    quoted: false,
                },
                span: spans.span(first, lit.span(), &text),
            })
        }
        _ => {
            let span = spans.span(first, lit.span(), &written);
            diags.push(
                Diagnostic::error(span, format!("`{written}` is not a contract value"))
                    .with_label("unsupported literal")
                    .with_help("use a string (`\"text\"`), an integer or a number without a suffix, or `true`/`false`"),
            );
            None
        }
    }
}

/// An identifier as the contract names it: `r#type` is `type`.
pub(crate) fn ident_text(ident: &proc_macro2::Ident) -> String {
    let text = ident.to_string();
    text.strip_prefix("r#").map_or(text.clone(), str::to_owned)
}

fn last_span(part: &[TokenTree]) -> TokenSpan {
    part.last()
        .map_or_else(TokenSpan::call_site, TokenTree::span)
}

fn part_text(part: &[TokenTree]) -> String {
    part.iter().cloned().collect::<TokenStream>().to_string()
}

/// Splits on commas outside `<...>` (so `BTreeMap<String, i64>` stays one value).
fn split_commas(trees: &[TokenTree]) -> Vec<&[TokenTree]> {
    let mut parts = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, tree) in trees.iter().enumerate() {
        if let TokenTree::Punct(p) = tree {
            match p.as_char() {
                '<' => depth += 1,
                '>' => depth = depth.saturating_sub(1),
                ',' if depth == 0 => {
                    parts.push(&trees[start..i]);
                    start = i + 1;
                }
                _ => {}
            }
        }
    }
    parts.push(&trees[start..]);
    parts
}
