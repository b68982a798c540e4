//! A YAML document as a tree of nodes that each know their source span.
//!
//! Deserializing straight into structs would stop at the first problem and lose the location of
//! every meaning-level error. Instead the parser's events are folded into this tree, and the
//! lowering pass walks it, reporting each problem at the node that caused it.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};

use crate::diag::{Diagnostic, FileId, Span};

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub(crate) kind: NodeKind,
    pub(crate) span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum NodeKind {
    /// A scalar as written; `quoted` scalars are always strings.
    Scalar {
        text: String,
        quoted: bool,
    },
    Seq(Vec<Node>),
    /// Entries in source order; duplicate keys are reported while parsing.
    Map(Vec<(Node, Node)>),
}

/// A scalar resolved by the YAML 1.2 core schema.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Scalar<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(&'a str),
}

impl Node {
    /// What kind of value the node is, for "expected X, found Y" messages.
    pub(crate) fn describe(&self) -> &'static str {
        match &self.kind {
            NodeKind::Seq(_) => "a list",
            NodeKind::Map(_) => "a map",
            NodeKind::Scalar { .. } => match self.scalar() {
                Some(Scalar::Null) => "null",
                Some(Scalar::Bool(_)) => "a boolean",
                Some(Scalar::Int(_)) => "an integer",
                Some(Scalar::Float(_)) => "a number",
                _ => "a string",
            },
        }
    }

    pub(crate) fn scalar(&self) -> Option<Scalar<'_>> {
        let NodeKind::Scalar { text, quoted } = &self.kind else {
            return None;
        };
        if *quoted {
            return Some(Scalar::Str(text));
        }
        Some(resolve_plain(text))
    }

    /// The text of a scalar of any kind (`1` and `true` included), for keys and names.
    pub(crate) fn scalar_text(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    pub(crate) fn as_map(&self) -> Option<&[(Node, Node)]> {
        match &self.kind {
            NodeKind::Map(entries) => Some(entries),
            _ => None,
        }
    }

    pub(crate) fn as_seq(&self) -> Option<&[Node]> {
        match &self.kind {
            NodeKind::Seq(items) => Some(items),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self.scalar(), Some(Scalar::Null))
    }
}

fn resolve_plain(text: &str) -> Scalar<'_> {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = text.parse::<i64>() {
            return Scalar::Int(i);
        }
    }
    if let Some(hex) = text.strip_prefix("0x") {
        if let Ok(i) = i64::from_str_radix(hex, 16) {
            return Scalar::Int(i);
        }
    }
    if let Some(oct) = text.strip_prefix("0o") {
        if let Ok(i) = i64::from_str_radix(oct, 8) {
            return Scalar::Int(i);
        }
    }
    let looks_numeric = digits
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'.')
        && digits
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'E' | b'-' | b'+'));
    if looks_numeric {
        if let Ok(x) = text.parse::<f64>() {
            return Scalar::Float(x);
        }
    }
    Scalar::Str(text)
}

/// Parses one YAML document. Syntax errors and duplicate keys become diagnostics; a syntax
/// error ends parsing (the parser cannot resynchronise), duplicate keys do not.
pub(crate) fn parse(file: FileId, text: &str) -> (Option<Node>, Vec<Diagnostic>) {
    let mut builder = Builder {
        offsets: CharOffsets::new(text),
        anchors: HashMap::new(),
        stack: Vec::new(),
        root: None,
        documents: 0,
        diagnostics: Vec::new(),
    };
    for result in Parser::new_from_str(text) {
        match result {
            Ok((event, span)) => {
                let start = builder.offsets.byte(span.start.index());
                let end = builder.offsets.byte(span.end.index());
                builder.event(event, Span::new(file, start, end.max(start)));
            }
            Err(error) => {
                builder
                    .diagnostics
                    .push(syntax_error(file, &builder.offsets, &error));
                return (None, builder.diagnostics);
            }
        }
    }
    (builder.root, builder.diagnostics)
}

fn syntax_error(file: FileId, offsets: &CharOffsets, error: &ScanError) -> Diagnostic {
    let at = offsets.byte(error.marker().index());
    // Point at one character: the scanner reports the position where it gave up.
    let info = error.info();
    let help = if info.contains("flow mapping") || info.contains("flow sequence") {
        Some("a `{` or `[` opened earlier is not closed, or a `,` is missing between entries")
    } else if info.contains("mapping values are not allowed") {
        Some("a value containing `: ` must be quoted, e.g. `description: \"a: b\"`")
    } else if info.contains("did not find expected") || info.contains("block") {
        Some("check the indentation: entries of one map must start in the same column")
    } else if info.contains("tab") {
        Some("YAML indentation must use spaces, not tabs")
    } else {
        None
    };
    let diagnostic = Diagnostic::error(
        Span::new(file, at, offsets.next_char(at)),
        format!("invalid YAML: {info}"),
    )
    .with_label("the YAML parser stopped here");
    match help {
        Some(help) => diagnostic.with_help(help),
        None => diagnostic,
    }
}

/// Converts the parser's character indices to byte offsets.
struct CharOffsets {
    /// Byte offset of every character, or `None` for pure ASCII where they are equal.
    table: Option<Vec<usize>>,
    len: usize,
}

impl CharOffsets {
    fn new(text: &str) -> Self {
        let table = (!text.is_ascii()).then(|| text.char_indices().map(|(i, _)| i).collect());
        Self {
            table,
            len: text.len(),
        }
    }

    fn byte(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index.min(self.len),
            Some(table) => table.get(char_index).copied().unwrap_or(self.len),
        }
    }

    fn next_char(&self, byte: usize) -> usize {
        match &self.table {
            None => (byte + 1).min(self.len),
            Some(table) => table
                .iter()
                .copied()
                .find(|&b| b > byte)
                .unwrap_or(self.len),
        }
    }
}

enum Frame {
    Seq {
        start: Span,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        start: Span,
        anchor: usize,
        entries: Vec<(Node, Node)>,
        pending_key: Option<Node>,
    },
}

struct Builder {
    offsets: CharOffsets,
    anchors: HashMap<usize, Node>,
    stack: Vec<Frame>,
    root: Option<Node>,
    documents: usize,
    diagnostics: Vec<Diagnostic>,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: Span) {
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents == 2 {
                    self.diagnostics.push(
                        Diagnostic::error(span, "a contract file holds one YAML document")
                            .with_label("a second document starts here")
                            .with_help("move each contract into a file of its own"),
                    );
                }
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let node = Node {
                    kind: NodeKind::Scalar {
                        text: Cow::into_owned(text),
                        quoted: !matches!(style, ScalarStyle::Plain),
                    },
                    span,
                };
                self.finish(node, anchor);
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(target) => Node {
                        kind: target.kind.clone(),
                        span,
                    },
                    None => Node {
                        kind: NodeKind::Scalar {
                            text: String::new(),
                            quoted: false,
                        },
                        span,
                    },
                };
                self.finish(node, 0);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                start: span,
                anchor,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                start: span,
                anchor,
                entries: Vec::new(),
                pending_key: None,
            }),
            Event::SequenceEnd => {
                if let Some(Frame::Seq {
                    start,
                    anchor,
                    items,
                }) = self.stack.pop()
                {
                    let span = items.last().map_or(start, |last| start.to(last.span));
                    self.finish(
                        Node {
                            kind: NodeKind::Seq(items),
                            span,
                        },
                        anchor,
                    );
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map {
                    start,
                    anchor,
                    entries,
                    ..
                }) = self.stack.pop()
                {
                    let span = entries
                        .last()
                        .map_or(start, |(_, value)| start.to(value.span));
                    self.finish(
                        Node {
                            kind: NodeKind::Map(entries),
                            span,
                        },
                        anchor,
                    );
                }
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
    }

    /// Hands a completed node to its parent (or makes it the root).
    fn finish(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => {
                if self.root.is_none() {
                    self.root = Some(node);
                }
            }
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                ..
            }) => match pending_key.take() {
                None => *pending_key = Some(node),
                Some(key) => {
                    if let Some((first, _)) = entries
                        .iter()
                        .find(|(k, _)| k.scalar_text().is_some() && k.kind == key.kind)
                    {
                        let name = key.scalar_text().unwrap_or_default();
                        self.diagnostics.push(
                            Diagnostic::error(key.span, format!("duplicate key `{name}`"))
                                .with_label("defined again here")
                                .with_secondary(first.span, "first defined here")
                                .with_help("each key may appear once in a map; remove or rename one of them"),
                        );
                    } else {
                        entries.push((key, node));
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(text: &str) -> Node {
        let (node, diags) = parse(FileId(0), text);
        assert!(diags.is_empty(), "{diags:?}");
        node.unwrap_or_else(|| panic!("no document"))
    }

    #[test]
    fn spans_cover_scalars() {
        let text = "a: hello\nb: [1, 2]\n";
        let root = parse_ok(text);
        let entries = root.as_map().unwrap_or_default();
        let (key, value) = &entries[0];
        assert_eq!(&text[key.span.start as usize..key.span.end as usize], "a");
        assert_eq!(
            &text[value.span.start as usize..value.span.end as usize],
            "hello"
        );
        assert_eq!(entries[1].1.as_seq().map(<[Node]>::len), Some(2));
    }

    #[test]
    fn spans_are_byte_offsets_after_non_ascii_text() {
        let text = "é: ü\nb: x\n";
        let root = parse_ok(text);
        let (_, value) = &root.as_map().unwrap_or_default()[1];
        assert_eq!(
            &text[value.span.start as usize..value.span.end as usize],
            "x"
        );
    }

    #[test]
    fn core_schema_resolution() {
        assert_eq!(resolve_plain("12"), Scalar::Int(12));
        assert_eq!(resolve_plain("-3"), Scalar::Int(-3));
        assert_eq!(resolve_plain("1.5"), Scalar::Float(1.5));
        assert_eq!(resolve_plain("true"), Scalar::Bool(true));
        assert_eq!(resolve_plain("~"), Scalar::Null);
        assert_eq!(resolve_plain("1m"), Scalar::Str("1m"));
        assert_eq!(resolve_plain("e5"), Scalar::Str("e5"));
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_are_reported() {
        let (_, diags) = parse(FileId(0), "a: 1\na: 2\n");
        assert_eq!(diags.len(), 1);
        assert!(diags[0].message.contains("duplicate key `a`"));
        let (node, diags) = parse(FileId(0), "a: [1, 2\nb: 3\n");
        assert!(node.is_none());
        assert!(diags[0].message.starts_with("invalid YAML"));
    }
}
