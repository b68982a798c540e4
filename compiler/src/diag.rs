//! Source locations and diagnostics.
//!
//! Every problem the compiler finds becomes a [`Diagnostic`] that points at the source it came
//! from. Front ends and checks never stop at the first problem: they push into a
//! [`Diagnostics`] collector and carry on, so a user sees every problem of a run at once.

use std::fmt::{self, Write as _};
use std::path::{Path, PathBuf};

/// Identifies one source file inside a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FileId(pub u32);

/// A byte range inside one source file.
///
/// Macro front ends register the token text of the annotated item as a source, so the same span
/// type serves both front ends; the macro maps spans back to tokens itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Span {
    pub file: FileId,
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(file: FileId, start: usize, end: usize) -> Self {
        Self {
            file,
            start: u32::try_from(start).unwrap_or(u32::MAX),
            end: u32::try_from(end).unwrap_or(u32::MAX),
        }
    }

    /// A span that covers both `self` and `other` (which must be in the same file).
    pub fn to(self, other: Span) -> Span {
        Span {
            file: self.file,
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// One loaded source file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The path as the user should see it in messages (relative when possible).
    pub name: PathBuf,
    pub text: String,
    line_starts: Vec<usize>,
}

impl SourceFile {
    fn new(name: PathBuf, text: String) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Self {
            name,
            text,
            line_starts,
        }
    }

    /// 1-based line and 1-based column (in characters) of a byte offset.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        };
        let start = self.line_starts[line];
        let col = self.text[start..floor_char_boundary(&self.text, offset)]
            .chars()
            .count();
        (line + 1, col + 1)
    }

    /// The text of a 1-based line, without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        let start = self
            .line_starts
            .get(line - 1)
            .copied()
            .unwrap_or(self.text.len());
        let end = self
            .line_starts
            .get(line)
            .map_or(self.text.len(), |next| next - 1);
        self.text[start..end.max(start)].trim_end_matches('\r')
    }
}

fn floor_char_boundary(text: &str, mut offset: usize) -> usize {
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    offset
}

/// All sources of one compilation, so that diagnostics can be rendered after the fact.
#[derive(Debug, Clone, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, name: impl Into<PathBuf>, text: impl Into<String>) -> FileId {
        let id = FileId(u32::try_from(self.files.len()).unwrap_or(u32::MAX));
        self.files.push(SourceFile::new(name.into(), text.into()));
        id
    }

    pub fn get(&self, id: FileId) -> Option<&SourceFile> {
        self.files.get(id.0 as usize)
    }

    pub fn name(&self, id: FileId) -> &Path {
        self.get(id).map_or(Path::new("<unknown>"), |f| &f.name)
    }

    pub fn files(&self) -> impl Iterator<Item = (FileId, &SourceFile)> {
        self.files
            .iter()
            .enumerate()
            .map(|(i, f)| (FileId(i as u32), f))
    }

    /// `file:line:col` of the start of a span.
    pub fn location(&self, span: Span) -> String {
        match self.get(span.file) {
            Some(file) => {
                let (line, col) = file.line_col(span.start as usize);
                format!("{}:{line}:{col}", display_path(&file.name))
            }
            None => "<unknown>".to_owned(),
        }
    }
}

/// Paths in messages always use `/`, so snapshots and CI logs read the same on every platform.
pub fn display_path(path: &Path) -> String {
    path.to_string_lossy().replace('\\', "/")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Error,
    Warning,
}

/// A span with a short message under it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub span: Span,
    pub message: String,
    /// The primary label is drawn with `^`, secondary ones with `-`.
    pub primary: bool,
}

/// One problem found in the contracts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub severity: Severity,
    pub message: String,
    pub labels: Vec<Label>,
    pub help: Option<String>,
    pub notes: Vec<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            message: message.into(),
            labels: vec![Label {
                span,
                message: String::new(),
                primary: true,
            }],
            help: None,
            notes: Vec::new(),
        }
    }

    /// A problem that has no place in a source file (an unreadable directory, say).
    pub fn global(message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            message: message.into(),
            labels: Vec::new(),
            help: None,
            notes: Vec::new(),
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(span, message)
        }
    }

    /// Sets the text under the primary span.
    pub fn with_label(mut self, message: impl Into<String>) -> Self {
        if let Some(label) = self.labels.iter_mut().find(|l| l.primary) {
            label.message = message.into();
        }
        self
    }

    /// Adds a secondary span, such as the first definition of a duplicate.
    pub fn with_secondary(mut self, span: Span, message: impl Into<String>) -> Self {
        self.labels.push(Label {
            span,
            message: message.into(),
            primary: false,
        });
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    pub fn primary_span(&self) -> Option<Span> {
        self.labels.iter().find(|l| l.primary).map(|l| l.span)
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Renders the diagnostic the way rustc does: a headline, `--> file:line:col` of the
    /// primary span, each source line once with every span on it underlined (`^` primary,
    /// `-` secondary), then notes and a help line.
    pub fn render(&self, sources: &SourceMap) -> String {
        let mut out = String::new();
        let kind = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{kind}: {}", self.message);

        // Labels grouped by file (the primary's file first), then by line.
        struct Placed<'l> {
            label: &'l Label,
            line: usize,
            col: usize,
            width: usize,
        }
        let primary_file = self.primary_span().map(|s| s.file);
        let mut placed: Vec<Placed<'_>> = self
            .labels
            .iter()
            .filter_map(|label| {
                let file = sources.get(label.span.file)?;
                let (line, col) = file.line_col(label.span.start as usize);
                let end = (label.span.end as usize).max(label.span.start as usize);
                let (end_line, end_col) = file.line_col(end);
                let width = if end_line == line {
                    end_col.saturating_sub(col).max(1)
                } else {
                    file.line_text(line)
                        .chars()
                        .count()
                        .saturating_sub(col - 1)
                        .max(1)
                };
                Some(Placed {
                    label,
                    line,
                    col,
                    width,
                })
            })
            .collect();
        placed.sort_by_key(|p| {
            (
                Some(p.label.span.file) != primary_file,
                p.label.span.file,
                p.line,
                !p.label.primary,
                p.col,
            )
        });

        let gutter = placed
            .iter()
            .map(|p| p.line.to_string().len())
            .max()
            .unwrap_or(1);
        let pad = " ".repeat(gutter);
        let mut current: Option<(FileId, usize)> = None;
        for (i, p) in placed.iter().enumerate() {
            let span = p.label.span;
            if current.map(|(file, _)| file) != Some(span.file) {
                let arrow = if i == 0 { "-->" } else { ":::" };
                let anchor = if i == 0 {
                    self.primary_span().unwrap_or(span)
                } else {
                    span
                };
                if i > 0 {
                    let _ = writeln!(out, "{pad} |");
                }
                let _ = writeln!(out, "{pad}{arrow} {}", sources.location(anchor));
                let _ = writeln!(out, "{pad} |");
            }
            if current != Some((span.file, p.line)) {
                let text = sources
                    .get(span.file)
                    .map_or("", |file| file.line_text(p.line));
                let _ = writeln!(out, "{:>gutter$} | {text}", p.line);
                current = Some((span.file, p.line));
            }
            let marker = if p.label.primary { "^" } else { "-" };
            let underline = format!("{}{}", " ".repeat(p.col - 1), marker.repeat(p.width));
            if p.label.message.is_empty() {
                let _ = writeln!(out, "{pad} | {underline}");
            } else {
                let _ = writeln!(out, "{pad} | {underline} {}", p.label.message);
            }
        }
        if !placed.is_empty() && (!self.notes.is_empty() || self.help.is_some()) {
            let _ = writeln!(out, "{pad} |");
        }
        for note in &self.notes {
            let _ = writeln!(out, "{pad} = note: {note}");
        }
        if let Some(help) = &self.help {
            let _ = writeln!(out, "{pad} = help: {help}");
        }
        out
    }
}

/// Collects diagnostics while a pass keeps going.
#[derive(Debug, Default)]
pub struct Diagnostics {
    items: Vec<Diagnostic>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, diagnostic: Diagnostic) {
        self.items.push(diagnostic);
    }

    pub fn extend(&mut self, diagnostics: impl IntoIterator<Item = Diagnostic>) {
        self.items.extend(diagnostics);
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The diagnostics in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &Diagnostic> {
        self.items.iter()
    }

    /// The diagnostics in source order (file, then offset), so output does not depend on the
    /// order in which passes ran.
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.items.sort_by(|a, b| {
            let key = |d: &Diagnostic| d.primary_span().map(|s| (s.file, s.start, s.end));
            key(a).cmp(&key(b)).then_with(|| a.message.cmp(&b.message))
        });
        self.items.dedup();
        self.items
    }
}

impl IntoIterator for Diagnostics {
    type Item = Diagnostic;
    type IntoIter = std::vec::IntoIter<Diagnostic>;

    /// The diagnostics in the order they were found.
    fn into_iter(self) -> Self::IntoIter {
        self.items.into_iter()
    }
}

/// Renders every diagnostic, followed by a one-line summary such as
/// `error: could not compile contracts due to 3 previous errors`.
pub fn render_all(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    let mut out = String::new();
    for diagnostic in diagnostics {
        out.push_str(&diagnostic.render(sources));
        out.push('\n');
    }
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    let warnings = diagnostics.len() - errors;
    if errors > 0 {
        let plural = if errors == 1 { "" } else { "s" };
        let _ = writeln!(
            out,
            "error: could not compile contracts due to {errors} previous error{plural}"
        );
    } else if warnings > 0 {
        let plural = if warnings == 1 { "" } else { "s" };
        let _ = writeln!(out, "warning: {warnings} warning{plural} emitted");
    }
    out
}

/// A failed compilation: every diagnostic plus the sources needed to render them.
#[derive(Debug, Clone)]
pub struct CompileError {
    pub diagnostics: Vec<Diagnostic>,
    pub sources: SourceMap,
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render_all(&self.diagnostics, &self.sources))
    }
}

impl std::error::Error for CompileError {}

/// The closest candidate to `word` by edit distance, for "did you mean" hints.
pub fn suggest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = (word.chars().count() / 3).max(1) + 1;
    candidates
        .into_iter()
        .map(|c| {
            (
                edit_distance(&word.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                c,
            )
        })
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions).
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev2 = vec![0; b.len() + 1];
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            cur[j] = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                cur[j] = cur[j].min(prev2[j - 2] + 1);
            }
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// The offset of the last key of `path` found by searching each quoted key after the previous
/// one; the start of the file when one is missing. Good enough to point at an entry of a file
/// the compiler wrote (the lock file).
pub(crate) fn locate(text: &str, path: &[String]) -> usize {
    let mut offset = 0;
    for key in path {
        match text[offset..].find(&format!("\"{key}\"")) {
            Some(found) => offset += found,
            None => return offset,
        }
    }
    offset
}

/// A diagnostic on its way out: built with the `with_*` calls, pushed by `emit` (so that a
/// check reads as one expression).
pub(crate) struct Pending(pub(crate) Diagnostic);

impl Pending {
    pub(crate) fn with_help(self, help: impl Into<String>) -> Self {
        Pending(self.0.with_help(help))
    }

    pub(crate) fn with_label(self, label: impl Into<String>) -> Self {
        Pending(self.0.with_label(label))
    }

    pub(crate) fn with_secondary(self, span: Span, label: impl Into<String>) -> Self {
        Pending(self.0.with_secondary(span, label))
    }

    pub(crate) fn emit(self, diags: &mut Diagnostics) {
        diags.push(self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_snippet_caret_and_help() {
        let mut sources = SourceMap::new();
        let file = sources.add(
            "contracts/task.yaml",
            "contract: Task\nfields:\n  a: { type: strng }\n",
        );
        let start = sources
            .get(file)
            .map_or(0, |f| f.text.find("strng").unwrap_or(0));
        let d = Diagnostic::error(Span::new(file, start, start + 5), "unknown type `strng`")
            .with_label("not a type")
            .with_help("did you mean `string`?");
        let text = d.render(&sources);
        assert_eq!(
            text,
            "error: unknown type `strng`\n \
             --> contracts/task.yaml:3:14\n  \
             |\n\
             3 |   a: { type: strng }\n  \
             |              ^^^^^ not a type\n  \
             |\n  \
             = help: did you mean `string`?\n"
        );
    }

    #[test]
    fn suggestions_pick_the_nearest_candidate() {
        assert_eq!(
            suggest("strng", ["string", "bool", "int32"]),
            Some("string")
        );
        assert_eq!(
            suggest("mx_length", ["max_length", "min_length"]),
            Some("max_length")
        );
        assert_eq!(suggest("zzzzzz", ["string", "bool"]), None);
        assert_eq!(edit_distance("ab", "ba"), 1);
    }

    #[test]
    fn line_col_counts_characters() {
        let mut sources = SourceMap::new();
        let file = sources.add("x", "é: 1\nb: 2");
        let f = sources.get(file).map(|f| f.line_col(3));
        assert_eq!(f, Some((1, 3)));
        assert_eq!(sources.get(file).map(|f| f.line_col(6)), Some((2, 1)));
    }
}
