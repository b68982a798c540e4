//! `cmmv diff`: what changed between two contract sets, and whether clients notice.
//!
//! Both sides go through the whole analysis (parse, lower, validate, number through the lock),
//! so the comparison sees what the server and its documents would be, not the YAML: a field
//! added with a default is optional in requests because [`crate::api`] says so, and a removed
//! field's proto number is reserved because the lock says so. Two surfaces are compared:
//!
//! - **REST** ([`rest`]): every route of every API version, its request and response bodies
//!   (nested messages included), parameters, success statuses and auth policy. A breaking
//!   change fails the run only when it reaches a version the old side already serves: the way
//!   to break clients deliberately is to do it in a new version.
//! - **Protobuf** ([`proto`]): the messages, enums and services the proto emitter would write,
//!   compared by field number, with the lock's reservations. One package serves every
//!   version, so a breaking proto change always fails.
//!
//! Each change names its rule, its verdict, where it is in the contracts (the new side's file
//! for what was added or changed, the old side's for what was removed) and, when breaking, how
//! to make the change safely.

mod proto;
mod rest;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::diag::{self, Diagnostic, SourceMap, Span};
use crate::{CompileError, Input};

/// Whether clients of the old surface notice a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Verdict {
    /// A client written against the old surface may fail.
    Breaking,
    /// Old clients keep working.
    Safe,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Breaking => "breaking",
            Verdict::Safe => "safe",
        }
    }
}

/// Which projection of the contracts a change is seen in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Surface {
    /// The HTTP API and its OpenAPI documents.
    Rest,
    /// The emitted `.proto` files.
    Proto,
}

impl Surface {
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Rest => "rest",
            Surface::Proto => "proto",
        }
    }
}

/// A place in a contract file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    /// As the user should see it: a path, or `REV:path` for a file read from git.
    pub file: String,
    /// 1-based.
    pub line: usize,
    /// 1-based, in characters.
    pub column: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One classified change.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Change {
    /// The rule that classified it: `response-field-removed`, `proto-field-number-changed`.
    pub rule: &'static str,
    pub verdict: Verdict,
    pub surface: Surface,
    /// What changed: `Task.title`, `POST /v1/tasks`, `todo.v1.TaskService.Complete`.
    pub subject: String,
    pub message: String,
    /// How to make the change without breaking clients (always given for breaking changes).
    pub hint: Option<String>,
    pub location: Option<Location>,
    /// The API versions the change reaches (REST); empty for proto, which serves them all.
    pub versions: BTreeSet<u32>,
    /// The routes it reaches (REST), `GET /v1/tasks/{id}`.
    pub routes: BTreeSet<String>,
    /// It reaches something the old side already serves: a breaking change then fails.
    pub served: bool,
}

impl Change {
    /// A breaking change to something already served: what fails `cmmv diff`.
    pub fn fails(&self) -> bool {
        self.verdict == Verdict::Breaking && self.served
    }
}

/// Every change between two contract sets, sorted (breaking first, then by surface, rule and
/// subject), so that the report is the same on every run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    pub changes: Vec<Change>,
}

impl Report {
    /// Whether any change breaks something already served.
    pub fn fails(&self) -> bool {
        self.changes.iter().any(Change::fails)
    }

    /// The report for CI: `{"fails": bool, "changes": [...]}`.
    pub fn to_json(&self) -> serde_json::Value {
        let changes = self
            .changes
            .iter()
            .map(|c| {
                serde_json::json!({
                    "rule": c.rule,
                    "verdict": c.verdict.as_str(),
                    "surface": c.surface.as_str(),
                    "served": c.served,
                    "fails": c.fails(),
                    "subject": c.subject,
                    "message": c.message,
                    "hint": c.hint,
                    "file": c.location.as_ref().map(|l| l.file.as_str()),
                    "line": c.location.as_ref().map(|l| l.line),
                    "column": c.location.as_ref().map(|l| l.column),
                    "versions": c.versions,
                    "routes": c.routes,
                })
            })
            .collect::<Vec<_>>();
        let count = |verdict| self.changes.iter().filter(|c| c.verdict == verdict).count();
        serde_json::json!({
            "fails": self.fails(),
            "breaking": count(Verdict::Breaking),
            "safe": count(Verdict::Safe),
            "changes": changes,
        })
    }

    /// The report for people: one paragraph per change, then a summary line.
    pub fn render_text(&self) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        for change in &self.changes {
            let _ = write!(out, "{}[{}]", change.verdict.as_str(), change.rule);
            if let Some(location) = &change.location {
                let _ = write!(out, " {location}");
            }
            let _ = writeln!(out, ": {}", change.message);
            let mut reach = String::new();
            if !change.routes.is_empty() {
                let routes: Vec<&str> = change.routes.iter().map(String::as_str).collect();
                reach = routes.join(", ");
            }
            if change.verdict == Verdict::Breaking && !change.served {
                reach.push_str(if reach.is_empty() {
                    "only in versions not served before: allowed"
                } else {
                    " (only in versions not served before: allowed)"
                });
            }
            if !reach.is_empty() {
                let _ = writeln!(out, "  = in: {reach}");
            }
            if let Some(hint) = &change.hint {
                let _ = writeln!(out, "  = hint: {hint}");
            }
        }
        let breaking = self
            .changes
            .iter()
            .filter(|c| c.verdict == Verdict::Breaking)
            .count();
        let failing = self.changes.iter().filter(|c| c.fails()).count();
        let _ = writeln!(
            out,
            "{} change{}: {breaking} breaking ({failing} to what is already served), {} safe",
            self.changes.len(),
            if self.changes.len() == 1 { "" } else { "s" },
            self.changes.len() - breaking,
        );
        out
    }
}

/// Compares two contract sets: `before` is what is served (or committed), `after` the change.
/// Fails when either side does not compile; the error carries that side's diagnostics.
pub fn compare(before: &Input, after: &Input) -> Result<Report, CompileError> {
    let (old, new) = crate::parallel::join(|| analyzed(before), || analyzed(after));
    let (old, new) = (old?, new?);
    let sides = Sides {
        old: Side::new(&old.project, &before.sources),
        new: Side::new(&new.project, &after.sources),
    };
    let mut changes = rest::compare(&sides);
    changes.extend(proto::compare(&sides, &old.lock, &new.lock)?);
    Ok(Report {
        changes: merge(changes),
    })
}

/// One side's model and field numbers: lowering, validation and the lock's numbering, without
/// the migration plan (what storage would drop is `cmmv gen`'s question, and a revision read
/// from git has no migration scripts to check).
struct Analyzed {
    project: crate::ir::Project,
    lock: crate::lock::Lock,
}

fn analyzed(input: &Input) -> Result<Analyzed, CompileError> {
    let (project, mut diags) = crate::lower_and_validate(input);
    let previous = input
        .lock
        .and_then(|id| Some((id, input.sources.get(id)?)))
        .and_then(|(id, file)| match crate::lock::parse(id, &file.text) {
            Ok(lock) => Some(lock),
            Err(problem) => {
                diags.push(problem);
                None
            }
        });
    let (lock, problems) = crate::lock::assign(&project, previous.as_ref());
    diags.extend(problems);
    if diags.has_errors() {
        return Err(CompileError {
            diagnostics: diags.into_sorted(),
            sources: input.sources.clone(),
        });
    }
    Ok(Analyzed { project, lock })
}

/// The old and new projects, each with the sources its spans point into.
pub(crate) struct Sides<'p> {
    pub(crate) old: Side<'p>,
    pub(crate) new: Side<'p>,
}

impl Sides<'_> {
    /// Where a change is shown: what was removed where it was (`old`), anything else where it
    /// is now (`new`).
    pub(crate) fn locate(&self, old: Option<Span>, new: Option<Span>) -> Option<Location> {
        new.and_then(|span| self.new.locate(span))
            .or_else(|| old.and_then(|span| self.old.locate(span)))
    }
}

pub(crate) struct Side<'p> {
    pub(crate) project: &'p crate::ir::Project,
    sources: &'p SourceMap,
}

impl<'p> Side<'p> {
    fn new(project: &'p crate::ir::Project, sources: &'p SourceMap) -> Self {
        Self { project, sources }
    }

    /// Where a span of this side starts.
    pub(crate) fn locate(&self, span: Span) -> Option<Location> {
        let file = self.sources.get(span.file)?;
        let (line, column) = file.line_col(span.start as usize);
        Some(Location {
            file: diag::display_path(&file.name),
            line,
            column,
        })
    }
}

/// One finding before merging: the same rule on the same subject with the same message, seen
/// on several routes or versions, is one change reaching all of them.
pub(crate) struct Finding {
    pub(crate) rule: &'static str,
    pub(crate) verdict: Verdict,
    pub(crate) surface: Surface,
    pub(crate) subject: String,
    pub(crate) message: String,
    pub(crate) hint: Option<String>,
    pub(crate) location: Option<Location>,
    pub(crate) version: Option<u32>,
    pub(crate) route: Option<String>,
    pub(crate) served: bool,
}

fn merge(findings: Vec<Finding>) -> Vec<Change> {
    let mut changes: Vec<Change> = Vec::new();
    let mut index = std::collections::HashMap::new();
    for f in findings {
        let key = (f.rule, f.surface, f.subject.clone(), f.message.clone());
        let at = *index.entry(key).or_insert_with(|| {
            changes.push(Change {
                rule: f.rule,
                verdict: f.verdict,
                surface: f.surface,
                subject: f.subject.clone(),
                message: f.message.clone(),
                hint: f.hint.clone(),
                location: f.location.clone(),
                versions: BTreeSet::new(),
                routes: BTreeSet::new(),
                served: false,
            });
            changes.len() - 1
        });
        let change = &mut changes[at];
        change.versions.extend(f.version);
        change.routes.extend(f.route);
        change.served |= f.served;
    }
    changes.sort_by(|a, b| {
        (a.verdict, a.surface, a.rule, &a.subject, &a.message)
            .cmp(&(b.verdict, b.surface, b.rule, &b.subject, &b.message))
    });
    changes
}

/// What a contract set is compared against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Base {
    /// Another contract directory.
    Dir(PathBuf),
    /// The same directory at a git revision (`origin/main`, a tag, a commit).
    Revision(String),
}

/// Reads the old side: a directory as it is, or `dir` as it was at a git revision (its files
/// shown as `REV:path`). `rust_dirs` are read for a directory base only.
pub fn load_base(base: &Base, dir: &Path) -> Result<Input, CompileError> {
    match base {
        Base::Dir(path) => crate::load(path),
        Base::Revision(rev) => load_revision(rev, dir),
    }
}

/// The contract directory `dir` as it was at `rev`: its contracts, `cmmv.yaml` and lock file
/// read with `git show`, named `REV:path` in every location the report gives.
fn load_revision(rev: &str, dir: &Path) -> Result<Input, CompileError> {
    let fail = |message: String| CompileError {
        diagnostics: vec![Diagnostic::global(message).with_help(
            "`--base` names a git revision of the repository holding the contract directory",
        )],
        sources: SourceMap::new(),
    };
    let git = |args: &[&str]| -> Result<Vec<u8>, String> {
        let output = Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("cannot run git: {e}"))?;
        if output.status.success() {
            Ok(output.stdout)
        } else {
            Err(String::from_utf8_lossy(&output.stderr).trim().to_owned())
        }
    };
    // The directory's path inside the repository, as `git show REV:path` wants it.
    let prefix = git(&["rev-parse", "--show-prefix"]).map_err(|e| {
        fail(format!(
            "`{}` is not in a git work tree: {e}",
            diag::display_path(dir)
        ))
    })?;
    let spec = format!("{rev}:{}", String::from_utf8_lossy(&prefix).trim());
    let listing = git(&["ls-tree", "--full-tree", "--name-only", &spec])
        .map_err(|e| fail(format!("cannot read `{spec}`: {e}")))?;
    let mut input = Input {
        dir: PathBuf::from(&spec),
        ..Input::default()
    };
    // `ls-tree` lists names sorted, as `load` reads a directory.
    for name in String::from_utf8_lossy(&listing).lines() {
        let is_yaml = name.ends_with(".yaml") || name.ends_with(".yml");
        if !is_yaml && name != crate::LOCK_FILE {
            continue;
        }
        let shown = format!("{spec}{name}");
        let bytes =
            git(&["show", &shown]).map_err(|e| fail(format!("cannot read `{shown}`: {e}")))?;
        let text = String::from_utf8(bytes).map_err(|_| fail(format!("`{shown}` is not UTF-8")))?;
        if name == crate::LOCK_FILE {
            input.set_lock(shown, text);
        } else if name == crate::PROJECT_FILE || name == "cmmv.yml" {
            input.set_project(shown, text);
        } else {
            input.add_contract(shown, text);
        }
    }
    Ok(input)
}
