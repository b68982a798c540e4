//! `cmmv diff`'s proto verdicts, checked against buf's (`buf breaking`, the established
//! protobuf breaking-change checker, pinned by `.ci/node/package-lock.json`).
//!
//! Every golden case under `tests/fixtures/diff/` is compiled on both sides to proto with the
//! compiler library, and buf compares the two directories of emitted files. Its verdict
//! (breaking or not) must be ours: any proto change we call breaking, or none. Only the verdict
//! is compared, not the rule names: one contract change often touches several messages (`Task`,
//! `TaskInput`, `TaskPatch`, ...) and buf reports each, where our report merges them.
//!
//! buf sees the emitted text, we see the analysis: the two are independent, which is the point.
//! A disagreement is a bug in one of them (or in the emitter), or a difference in philosophy,
//! which must then be written down in [`ALLOWED`] with its reason.

use std::path::{Path, PathBuf};
use std::process::Command;

use cmmv_compiler::diff::{Change, Surface, Verdict};
use cmmv_compiler::{Input, Options, Targets};
use cmmv_tests::{fixture, workspace_root};

/// The buf rules a proto change is judged by.
///
/// `WIRE_JSON`: an old client still reads and writes what a new server sends and accepts, in the
/// binary encoding and in proto3 JSON (field and enum value names included). Among others it
/// fails a field or enum value deleted unless both its number and name are reserved
/// (`FIELD_NO_DELETE_UNLESS_{NUMBER,NAME}_RESERVED`), a number, type or cardinality changed
/// (`FIELD_WIRE_JSON_COMPATIBLE_{TYPE,CARDINALITY}`), a rename (`FIELD_SAME_NAME`,
/// `FIELD_SAME_JSON_NAME`, `ENUM_VALUE_SAME_NAME`), an rpc's request or response type changed
/// (`RPC_SAME_{REQUEST,RESPONSE}_TYPE`), a file's package changed (`FILE_SAME_PACKAGE`) and a
/// reservation dropped (`RESERVED_{MESSAGE,ENUM}_NO_DELETE`). Adding `optional` to a proto3
/// scalar, or removing it, passes (the encoding is the same).
///
/// `WIRE_JSON` deliberately does not look at deletions of whole types and methods: removing a
/// message, enum, service or rpc changes no byte of any remaining message. For `cmmv diff` they
/// break clients all the same (a call to a removed rpc fails with UNIMPLEMENTED; code generated
/// from the old file no longer compiles against the new one), so the deletion rules of buf's
/// `PACKAGE` category are added. They are the package-wide ones, not `FILE`'s: a type moving
/// between the contracts' files of the one package is not a deletion. Enums are the exception:
/// buf 1.75.0's `PACKAGE_ENUM_NO_DELETE` stays silent when an enum is deleted (case
/// `26-enum-removed`), so the file-level `ENUM_NO_DELETE` stands in; an enum lives in the file
/// of the contract declaring it, so for these files the two mean the same.
const BUF_RULES: &[&str] = &[
    "WIRE_JSON",
    "PACKAGE_SERVICE_NO_DELETE",
    "RPC_NO_DELETE",
    "PACKAGE_MESSAGE_NO_DELETE",
    "ENUM_NO_DELETE",
];

/// Cases whose verdict differs from buf's by design, each with the reason. Keep it short: every
/// entry is a place where buf no longer checks us. An entry whose case is gone, or now agrees,
/// fails the test, so that the list cannot outlive its reasons.
const ALLOWED: &[(&str, &str)] = &[];

/// Where `npm ci --prefix .ci/node` installs buf (a Node launcher for the native binary that
/// `@bufbuild/buf`'s per-platform optional dependency brings).
fn buf_binary() -> PathBuf {
    workspace_root().join(".ci/node/node_modules/.bin/buf")
}

/// The case directories: each has `before/` and `after/` contract directories.
fn cases() -> Vec<PathBuf> {
    let root = fixture("diff");
    let entries = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("cannot read the diff fixtures {}: {e}", root.display()));
    let mut cases: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap_or_else(|e| panic!("entry: {e}")).path())
        .filter(|path| path.join("before").is_dir() && path.join("after").is_dir())
        .collect();
    cases.sort();
    cases
}

fn case_name(case: &Path) -> String {
    case.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Both sides of a case, as `cmmv diff` reads them. An `after/` without `cmmv.lock` continues
/// from the lock the before side ends with (its own, brought up to date by its analysis), as a
/// user's working tree does after `cmmv gen`: without it, every number would be assigned anew.
fn load_sides(case: &Path) -> (Input, Input) {
    let load = |dir: &Path| {
        cmmv_compiler::load(dir).unwrap_or_else(|e| panic!("cannot load {}: {e}", dir.display()))
    };
    let before = load(&case.join("before"));
    let after_dir = case.join("after");
    let mut after = load(&after_dir);
    if after.lock.is_none() {
        let own = before
            .lock
            .and_then(|id| before.sources.get(id))
            .map(|file| file.text.clone());
        let analysis = cmmv_compiler::analyze(&before);
        if let Some(text) = analysis.lock_update.or(own) {
            after.set_lock(after_dir.join(cmmv_compiler::LOCK_FILE), text);
        }
    }
    let root = workspace_root();
    (before.relative_to(&root), after.relative_to(&root))
}

/// `input` with its lock's storage record (migrations, schema) left out: the fixtures carry no
/// migration scripts, which `compile` would otherwise ask for, and field numbers do not depend
/// on them.
fn without_storage_record(input: &Input) -> Input {
    let mut input = input.clone();
    let lock = input
        .lock
        .and_then(|id| input.sources.get(id))
        .map(|file| (file.name.clone(), file.text.clone()));
    if let Some((name, text)) = lock {
        let mut lock: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", name.display()));
        if let Some(lock) = lock.as_object_mut() {
            lock.remove("migrations");
            lock.remove("schema");
        }
        input.set_lock(name, lock.to_string());
    }
    input
}

/// A file written on both sides, so that buf always has a module to build: it refuses a
/// directory without `.proto` files, and a contract set may emit none.
const PLACEHOLDER: (&str, &str) = ("cmmv_diff_buf_placeholder.proto", "syntax = \"proto3\";\n");

/// Compiles `input` to proto and writes the files of `proto/` (the include root the emitted
/// imports are relative to) into `dir`.
fn write_proto(input: &Input, dir: &Path) -> Result<(), String> {
    let options = Options {
        targets: Targets::parse("proto").unwrap_or_else(|e| panic!("{e}")),
        // What storage would lose is not the proto files' business.
        allow_destructive: true,
        ..Default::default()
    };
    let compilation = cmmv_compiler::compile(&without_storage_record(input), &options)
        .map_err(|e| e.to_string())?;
    std::fs::create_dir_all(dir).unwrap_or_else(|e| panic!("mkdir: {e}"));
    std::fs::write(dir.join(PLACEHOLDER.0), PLACEHOLDER.1).unwrap_or_else(|e| panic!("write: {e}"));
    for file in &compilation.files {
        let Ok(relative) = file.path.strip_prefix("proto") else {
            continue;
        };
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&path, &file.contents).unwrap_or_else(|e| panic!("write: {e}"));
    }
    Ok(())
}

/// One rule buf found broken.
struct Violation {
    rule: String,
    path: String,
    message: String,
}

/// `buf breaking` of `new` against `old`: the violations (none when it passes), or why buf
/// could not compare (a file that does not compile, a bad flag).
///
/// No `buf.yaml` is written: the configuration is given inline. An inline v2 configuration
/// declares one module at `.`, relative to the working directory, so buf runs inside `new`
/// (given another directory as input it refuses: "contained by module at path "."").
/// `--against` takes `old` as a plain directory; neither side needs git, and buf needs no network
/// (the well-known types the files import are built into it).
fn buf_breaking(
    buf: &Path,
    new: &Path,
    old: &Path,
    cache: &Path,
) -> Result<Vec<Violation>, String> {
    let config = serde_json::json!({ "version": "v2", "breaking": { "use": BUF_RULES } });
    let output = Command::new(buf)
        .current_dir(new)
        .arg("breaking")
        .arg(".")
        .arg("--against")
        .arg(old)
        .arg("--config")
        .arg(config.to_string())
        .arg("--error-format")
        .arg("json")
        // Its cache stays in the test's temporary directory, not the user's home.
        .env("BUF_CACHE_DIR", cache)
        .output()
        .map_err(|e| {
            format!(
                "cannot run {} (a Node script: is `node` on PATH?): {e}",
                buf.display()
            )
        })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // buf exits 0 when nothing breaks, 100 when something does, anything else on failure.
    match output.status.code() {
        Some(0) => Ok(Vec::new()),
        Some(100) if !stdout.trim().is_empty() => stdout
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                let value: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| format!("unreadable buf output `{line}`: {e}"))?;
                let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
                Ok(Violation {
                    rule: text("type"),
                    path: text("path"),
                    message: text("message"),
                })
            })
            .collect(),
        code => Err(format!(
            "buf exited with {code:?}\n{}{}",
            stdout.trim(),
            stderr.trim()
        )),
    }
}

fn verdict(breaking: bool) -> &'static str {
    if breaking { "breaking" } else { "safe" }
}

/// What each side found in one case, for the failure message.
fn describe(case: &str, ours: &[&Change], theirs: &[Violation]) -> String {
    use std::fmt::Write as _;
    let our_breaking = ours.iter().any(|c| c.verdict == Verdict::Breaking);
    let mut out = format!(
        "case `{case}`: cmmv says {}, buf says {}\n",
        verdict(our_breaking),
        verdict(!theirs.is_empty())
    );
    if ours.is_empty() {
        out.push_str("  cmmv: no proto change\n");
    }
    for change in ours {
        let _ = writeln!(
            out,
            "  cmmv: {}[{}] {}: {}",
            change.verdict.as_str(),
            change.rule,
            change.subject,
            change.message
        );
    }
    if theirs.is_empty() {
        out.push_str("  buf:  no violation\n");
    }
    for violation in theirs {
        let _ = writeln!(
            out,
            "  buf:  {} {}: {}",
            violation.rule, violation.path, violation.message
        );
    }
    out
}

#[test]
fn proto_verdicts_agree_with_buf() {
    let buf = buf_binary();
    // Not a skip: without buf this test would pass while checking nothing.
    assert!(
        buf.exists(),
        "buf is not installed at {}: run `npm ci --prefix .ci/node` (CI does, in .ci/run)",
        buf.display()
    );
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let cache = work.path().join("buf-cache");

    let mut compared = Vec::new();
    let mut not_compiled = Vec::new();
    let mut disagreements = Vec::new();
    let mut allowed_used = Vec::new();
    let (mut our_verdicts, mut buf_verdicts) = ([0usize; 2], [0usize; 2]);
    for case in cases() {
        let name = case_name(&case);
        let (before, after) = load_sides(&case);
        // Cases whose contracts do not compile test `cmmv diff`'s error report (diff.rs): there
        // is no proto to give buf.
        let Ok(report) = cmmv_compiler::diff::compare(&before, &after) else {
            not_compiled.push(name);
            continue;
        };
        let ours: Vec<&Change> = report
            .changes
            .iter()
            .filter(|c| c.surface == Surface::Proto)
            .collect();
        let our_breaking = ours.iter().any(|c| c.verdict == Verdict::Breaking);

        let old = work.path().join(&name).join("before");
        let new = work.path().join(&name).join("after");
        if let Err(e) = write_proto(&before, &old).and_then(|()| write_proto(&after, &new)) {
            disagreements.push(format!(
                "case `{name}`: `cmmv diff` compared it, but it does not compile to proto:\n{e}"
            ));
            continue;
        }
        let theirs = match buf_breaking(&buf, &new, &old, &cache) {
            Ok(violations) => violations,
            Err(e) => {
                disagreements.push(format!("case `{name}`: buf could not compare: {e}"));
                continue;
            }
        };
        let buf_says_breaking = !theirs.is_empty();
        our_verdicts[usize::from(our_breaking)] += 1;
        buf_verdicts[usize::from(buf_says_breaking)] += 1;
        if our_breaking != buf_says_breaking {
            if ALLOWED.iter().any(|(allowed, _)| *allowed == name) {
                allowed_used.push(name.clone());
            } else {
                disagreements.push(describe(&name, &ours, &theirs));
            }
        }
        compared.push(name);
    }

    for (allowed, reason) in ALLOWED {
        if !allowed_used.iter().any(|used| used == allowed) {
            disagreements.push(format!(
                "ALLOWED names `{allowed}` ({reason}), but no case of that name disagrees with \
                 buf: remove the entry"
            ));
        }
    }
    assert!(
        disagreements.is_empty(),
        "{} of {} cases disagree with buf (rules {BUF_RULES:?}):\n\n{}",
        disagreements.len(),
        compared.len() + not_compiled.len(),
        disagreements.join("\n")
    );
    assert!(
        compared.len() >= 20,
        "only {} cases compared with buf ({compared:?}; not compiling: {not_compiled:?}): the \
         golden cases under tests/fixtures/diff/ are what this test checks",
        compared.len()
    );
    assert!(
        our_verdicts.iter().all(|&n| n > 0) && buf_verdicts.iter().all(|&n| n > 0),
        "the cases must include safe and breaking proto changes (cmmv: {} safe, {} breaking; \
         buf: {} safe, {} breaking)",
        our_verdicts[0],
        our_verdicts[1],
        buf_verdicts[0],
        buf_verdicts[1]
    );
}
