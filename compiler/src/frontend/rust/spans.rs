//! Where the nodes built from Rust tokens come from.
//!
//! The YAML lowering reports problems at `diag::Span`s: byte ranges into a source text. Rust
//! tokens reach the front end two ways, and each gets its own way of making such spans:
//!
//! - **A file** (`cmmv gen --rust src/`, `Builder::rust_sources`): syn parsed the file outside a
//!   proc macro, so every token knows its line and column; spans are byte ranges of the file
//!   itself and diagnostics render with `file:line:col` and a snippet, exactly as for YAML.
//! - **A macro expansion**: the tokens carry compiler spans that only rustc can render. Each
//!   token (or run of tokens) the tree refers to is written into a synthetic text, and a side
//!   table maps its byte range back to the first and last token, so a diagnostic becomes a
//!   `compile_error!` underlining exactly those tokens.

use proc_macro2::Span as TokenSpan;

use crate::diag::{FileId, Span};

/// Makes `diag::Span`s for runs of tokens, in one of the two modes above.
#[derive(Debug)]
pub(crate) struct SpanMap<'t> {
    file: FileId,
    source: Source<'t>,
}

#[derive(Debug)]
enum Source<'t> {
    File {
        text: &'t str,
        line_starts: Vec<usize>,
    },
    Tokens(TokenText),
}

/// The synthetic source of a macro expansion and the tokens each of its ranges stands for.
#[derive(Debug, Default)]
pub(crate) struct TokenText {
    pub(crate) text: String,
    entries: Vec<TokenEntry>,
}

#[derive(Debug, Clone, Copy)]
struct TokenEntry {
    start: u32,
    end: u32,
    first: TokenSpan,
    last: TokenSpan,
}

impl TokenText {
    /// The first and last token of the run a diagnostic span points into: the innermost
    /// recorded range that holds its start (a part of a string literal maps to the literal).
    pub(crate) fn tokens(&self, span: Span) -> Option<(TokenSpan, TokenSpan)> {
        self.entries
            .iter()
            .filter(|e| e.start <= span.start && span.start < e.end.max(e.start + 1))
            .min_by_key(|e| e.end - e.start)
            .map(|e| (e.first, e.last))
    }
}

impl<'t> SpanMap<'t> {
    /// Spans into `text`, the file syn parsed.
    pub(crate) fn file(file: FileId, text: &'t str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            file,
            source: Source::File { text, line_starts },
        }
    }

    /// Spans into a synthetic text recorded as tokens are met (a macro expansion).
    pub(crate) fn tokens(file: FileId) -> Self {
        Self {
            file,
            source: Source::Tokens(TokenText::default()),
        }
    }

    pub(crate) fn file_id(&self) -> FileId {
        self.file
    }

    /// The span of the tokens from `first` to `last`; `written` is their text as the user wrote
    /// it (only recorded in macro mode, where it lets the lowering underline part of a literal).
    pub(crate) fn span(&mut self, first: TokenSpan, last: TokenSpan, written: &str) -> Span {
        match &mut self.source {
            Source::File { text, line_starts } => {
                let start = offset(text, line_starts, first.start());
                let end = offset(text, line_starts, last.end()).max(start);
                Span::new(self.file, start, end)
            }
            Source::Tokens(tokens) => {
                let start = tokens.text.len();
                tokens.text.push_str(written);
                let end = tokens.text.len();
                tokens.text.push('\n');
                let span = Span::new(self.file, start, end);
                tokens.entries.push(TokenEntry {
                    start: span.start,
                    end: span.end,
                    first,
                    last,
                });
                span
            }
        }
    }

    /// The source text spans index into.
    pub(crate) fn text(&self) -> &str {
        match &self.source {
            Source::File { text, .. } => text,
            Source::Tokens(tokens) => &tokens.text,
        }
    }

    /// The token table of a macro expansion (`None` for a file).
    pub(crate) fn into_token_text(self) -> Option<TokenText> {
        match self.source {
            Source::File { .. } => None,
            Source::Tokens(tokens) => Some(tokens),
        }
    }
}

/// The byte offset of a line (1-based) and column (0-based, in characters) in `text`.
fn offset(text: &str, line_starts: &[usize], at: proc_macro2::LineColumn) -> usize {
    let Some(&line_start) = at.line.checked_sub(1).and_then(|i| line_starts.get(i)) else {
        return 0;
    };
    let line = &text[line_start..];
    let in_line = line
        .char_indices()
        .nth(at.column)
        .map_or(line.len(), |(i, _)| i);
    line_start + in_line
}
