//! `cmmv diff`: the golden cases under `tests/fixtures/diff/`, and the command line.
//!
//! Each case is a directory `NN-name/` with `before/` and `after/` (contract directories) and
//! `expected.txt`:
//!
//! ```text
//! # what the case shows
//! fails: true
//! breaking request-field-removed
//! safe proto-field-removed
//! ```
//!
//! `fails:` is whether the run fails; the other lines are the exact *set* of distinct
//! `<verdict> <rule>` pairs the diff reports (order and repetitions do not matter). When
//! `after/` has no `cmmv.lock`, the after side gets what `cmmv gen` on `before/` would have
//! committed next to the contracts: its lock and its migration scripts. Cases about the lock
//! itself carry their own `cmmv.lock`.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use cmmv_compiler::diff::{Report, Surface, Verdict};
use cmmv_compiler::{Input, LOCK_FILE};
use cmmv_tests::{cmmv, fixture};

/// Every rule `cmmv diff` knows, with its one verdict. Every rule appears in some case.
const RULES: &[(&str, &str)] = &[
    // REST, per API version.
    ("operation-removed", "breaking"),
    ("operation-added", "safe"),
    ("version-removed", "breaking"),
    ("version-added", "safe"),
    ("path-changed", "breaking"),
    ("request-field-removed", "breaking"),
    ("request-field-added-required", "breaking"),
    ("request-field-added-optional", "safe"),
    ("request-field-made-required", "breaking"),
    ("request-field-made-optional", "safe"),
    ("response-field-removed", "breaking"),
    ("response-field-added", "safe"),
    ("response-field-made-optional", "breaking"),
    ("field-type-changed", "breaking"),
    ("enum-value-removed", "breaking"),
    ("enum-value-added", "safe"),
    ("constraint-narrowed", "breaking"),
    ("constraint-widened", "safe"),
    ("query-parameter-removed", "breaking"),
    ("query-parameter-added-required", "breaking"),
    ("query-parameter-added-optional", "safe"),
    ("response-status-removed", "breaking"),
    ("response-status-added", "safe"),
    ("auth-stricter", "breaking"),
    ("auth-relaxed", "safe"),
    // Proto: the emitted `.proto` files.
    ("proto-package-changed", "breaking"),
    ("proto-message-removed", "breaking"),
    ("query-parameter-made-required", "breaking"),
    ("query-parameter-made-optional", "safe"),
    ("proto-message-added", "safe"),
    ("proto-field-removed", "safe"),
    ("proto-field-removed-unreserved", "breaking"),
    ("proto-field-added", "safe"),
    ("proto-field-number-changed", "breaking"),
    ("proto-field-type-changed", "breaking"),
    ("proto-field-cardinality-changed", "breaking"),
    ("proto-field-renamed", "breaking"),
    ("proto-enum-removed", "breaking"),
    ("proto-enum-added", "safe"),
    ("proto-enum-value-removed", "safe"),
    ("proto-enum-value-removed-unreserved", "breaking"),
    ("proto-enum-value-added", "safe"),
    ("proto-enum-value-number-changed", "breaking"),
    ("proto-service-removed", "breaking"),
    ("proto-service-added", "safe"),
    ("proto-method-removed", "breaking"),
    ("proto-method-added", "safe"),
    ("proto-method-signature-changed", "breaking"),
    ("proto-reserved-removed", "breaking"),
];

const MIN_CASES: usize = 45;

/// The verdict a rule always has, or `None` for an unknown rule.
fn rule_verdict(rule: &str) -> Option<&'static str> {
    RULES.iter().find(|(r, _)| *r == rule).map(|(_, v)| *v)
}

fn cases_dir() -> PathBuf {
    fixture("diff")
}

/// One golden case as `expected.txt` states it.
#[derive(Debug)]
struct Expected {
    description: String,
    fails: bool,
    /// `(verdict, rule)` pairs.
    pairs: BTreeSet<(String, String)>,
}

fn parse_expected(path: &Path) -> Result<Expected, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut description = String::new();
    let mut fails = None;
    let mut pairs = BTreeSet::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            if description.is_empty() {
                comment.trim().clone_into(&mut description);
            }
            continue;
        }
        if let Some(value) = line.strip_prefix("fails:") {
            let value = match value.trim() {
                "true" => true,
                "false" => false,
                other => return Err(format!("line {}: `fails: {other}`", n + 1)),
            };
            if fails.replace(value).is_some() {
                return Err(format!("line {}: `fails:` given twice", n + 1));
            }
            continue;
        }
        let mut words = line.split_whitespace();
        let (Some(verdict), Some(rule), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!(
                "line {}: expected `<verdict> <rule>`: {line}",
                n + 1
            ));
        };
        match rule_verdict(rule) {
            None => return Err(format!("line {}: unknown rule `{rule}`", n + 1)),
            Some(v) if v != verdict => {
                return Err(format!(
                    "line {}: `{rule}` is always {v}, not {verdict}",
                    n + 1
                ));
            }
            Some(_) => {}
        }
        if !pairs.insert((verdict.to_owned(), rule.to_owned())) {
            return Err(format!("line {}: `{line}` listed twice", n + 1));
        }
    }
    let fails = fails.ok_or_else(|| "no `fails:` line".to_owned())?;
    let any_breaking = pairs.iter().any(|(verdict, _)| verdict == "breaking");
    // With no breaking change there is nothing to fail the run; the converse need not hold
    // (breaking changes confined to versions not served before do not fail it).
    if fails && !any_breaking {
        return Err("`fails: true` without any breaking change".to_owned());
    }
    Ok(Expected {
        description,
        fails,
        pairs,
    })
}

/// Every case directory, in name order.
fn case_dirs() -> Vec<PathBuf> {
    let dir = cases_dir();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

fn case_name(dir: &Path) -> String {
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn load(dir: &Path) -> Result<Input, String> {
    cmmv_compiler::load(dir).map_err(|e| format!("cannot load {}: {e}", dir.display()))
}

/// Gives `after` what `cmmv gen` on the before side would have committed next to the contracts
/// when `after/` carries no lock of its own: the before side's lock (as updated by that run) and
/// its migration scripts (those on disk and the pending one).
fn give_after_the_before_lock(before: &Input, after: &mut Input) {
    if after.lock.is_some() {
        return;
    }
    let analysis = cmmv_compiler::analyze(before);
    let before_lock = before
        .lock
        .and_then(|id| before.sources.get(id))
        .map(|file| file.text.clone())
        .unwrap_or_default();
    let lock = analysis.lock_update.clone().unwrap_or(before_lock);
    let lock_name = after.dir.join(LOCK_FILE);
    after.set_lock(lock_name, lock);
    for &id in &before.migrations {
        let Some(file) = before.sources.get(id) else {
            continue;
        };
        let relative = file
            .name
            .strip_prefix(&before.dir)
            .unwrap_or(&file.name)
            .to_path_buf();
        let name = after.dir.join(relative);
        after.add_migration(name, file.text.clone());
    }
    for file in &analysis.pending_migrations {
        let name = after.dir.join(&file.path);
        after.add_migration(name, file.contents.clone());
    }
}

/// The `(verdict, rule)` pairs of a report.
fn reported_pairs(report: &Report) -> BTreeSet<(String, String)> {
    report
        .changes
        .iter()
        .map(|c| (c.verdict.as_str().to_owned(), c.rule.to_owned()))
        .collect()
}

/// What the spec says of every change of every report, whatever the case: known rules with
/// their verdict, the right surface, proto changes served, locations that point somewhere, a
/// hint on every breaking change, and `fails` exactly when a breaking change is served.
fn report_problems(report: &Report) -> Vec<String> {
    let mut problems = Vec::new();
    for change in &report.changes {
        let what = format!(
            "`{} {}` ({})",
            change.verdict.as_str(),
            change.rule,
            change.subject
        );
        match rule_verdict(change.rule) {
            None => problems.push(format!("{what}: unknown rule")),
            Some(v) if v != change.verdict.as_str() => {
                problems.push(format!("{what}: the rule is always {v}"));
            }
            Some(_) => {}
        }
        let proto_rule = change.rule.starts_with("proto-");
        let proto_surface = matches!(change.surface, Surface::Proto);
        if proto_rule != proto_surface {
            problems.push(format!(
                "{what}: reported on the {} surface",
                if proto_surface { "proto" } else { "REST" }
            ));
        }
        if proto_surface && !change.served {
            problems.push(format!("{what}: a proto change is always served"));
        }
        let nowhere = change
            .location
            .as_ref()
            .filter(|l| l.file.is_empty() || l.line < 1 || l.column < 1);
        if let Some(location) = nowhere {
            problems.push(format!(
                "{what}: location `{}:{}:{}` points nowhere",
                location.file, location.line, location.column
            ));
        }
        if matches!(change.verdict, Verdict::Breaking)
            && change.hint.as_deref().is_none_or(|h| h.trim().is_empty())
        {
            problems.push(format!("{what}: a breaking change without a hint"));
        }
        if change.message.trim().is_empty() {
            problems.push(format!("{what}: an empty message"));
        }
    }
    let served_breaking = report
        .changes
        .iter()
        .any(|c| matches!(c.verdict, Verdict::Breaking) && c.served);
    if report.fails() != served_breaking {
        problems.push(format!(
            "fails() is {} but a served breaking change is {}",
            report.fails(),
            if served_breaking {
                "reported"
            } else {
                "not reported"
            }
        ));
    }
    let json = report.to_json();
    if json.get("fails") != Some(&serde_json::Value::Bool(report.fails())) {
        problems.push(format!("to_json() says fails {:?}", json.get("fails")));
    }
    let json_changes = json
        .get("changes")
        .and_then(serde_json::Value::as_array)
        .map(Vec::len);
    if json_changes != Some(report.changes.len()) {
        problems.push(format!(
            "to_json() has {json_changes:?} changes, the report {}",
            report.changes.len()
        ));
    }
    problems
}

/// Runs one case; `Err` describes every way it differs from `expected.txt`.
fn run_case(dir: &Path) -> Result<(), String> {
    let expected = parse_expected(&dir.join("expected.txt"))?;
    let before = load(&dir.join("before"))?;
    let mut after = load(&dir.join("after"))?;
    give_after_the_before_lock(&before, &mut after);
    let report = cmmv_compiler::diff::compare(&before, &after)
        .map_err(|e| format!("compare failed:\n{e}"))?;
    let mut problems = Vec::new();
    let got = reported_pairs(&report);
    let missing: Vec<String> = expected
        .pairs
        .difference(&got)
        .map(|(v, r)| format!("{v} {r}"))
        .collect();
    let unexpected: Vec<String> = got
        .difference(&expected.pairs)
        .map(|(v, r)| format!("{v} {r}"))
        .collect();
    if !missing.is_empty() {
        problems.push(format!("missing: {}", missing.join(", ")));
    }
    if !unexpected.is_empty() {
        problems.push(format!("unexpected: {}", unexpected.join(", ")));
    }
    if report.fails() != expected.fails {
        problems.push(format!(
            "fails: expected {}, got {}",
            expected.fails,
            report.fails()
        ));
    }
    problems.extend(report_problems(&report));
    // The same inputs give the same report.
    match cmmv_compiler::diff::compare(&before, &after) {
        Ok(again) if again.render_text() == report.render_text() => {}
        Ok(_) => problems.push("a second comparison renders differently".to_owned()),
        Err(e) => problems.push(format!("a second comparison failed:\n{e}")),
    }
    if problems.is_empty() {
        return Ok(());
    }
    let mut text = format!("({})\n", expected.description);
    for problem in problems {
        let _ = writeln!(text, "  - {problem}");
    }
    let _ = write!(text, "  report:\n{}", indent(&report.render_text()));
    Err(text)
}

fn indent(text: &str) -> String {
    text.lines().fold(String::new(), |mut out, line| {
        let _ = writeln!(out, "    | {line}");
        out
    })
}

#[test]
fn golden_cases() {
    let dirs = case_dirs();
    assert!(
        dirs.len() >= MIN_CASES,
        "{} golden cases under {}; at least {MIN_CASES} expected",
        dirs.len(),
        cases_dir().display()
    );
    let mut failures = String::new();
    let mut failed = 0;
    let mut covered: BTreeSet<String> = BTreeSet::new();
    for dir in &dirs {
        if let Ok(expected) = parse_expected(&dir.join("expected.txt")) {
            covered.extend(expected.pairs.into_iter().map(|(_, rule)| rule));
        }
        if let Err(problem) = run_case(dir) {
            failed += 1;
            let _ = writeln!(failures, "\n{}: {problem}", case_name(dir));
        }
    }
    let uncovered: Vec<&str> = RULES
        .iter()
        .map(|(rule, _)| *rule)
        .filter(|rule| !covered.contains(*rule))
        .collect();
    if !uncovered.is_empty() {
        let _ = writeln!(
            failures,
            "\nrules no expected.txt lists: {}",
            uncovered.join(", ")
        );
    }
    assert!(
        failures.is_empty(),
        "{failed} of {} golden cases differ from their expected.txt:\n{failures}",
        dirs.len()
    );
}

// ---- the command line ------------------------------------------------------------------------

fn s(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read_dir: {e}")) {
        let path = entry.unwrap_or_else(|e| panic!("entry: {e}")).path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_dir() {
            copy_dir(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap_or_else(|e| panic!("copy: {e}"));
        }
    }
}

fn write(path: &Path, text: &str) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
    }
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

/// Copies a case's sides to `into/before` and `into/after` as `cmmv gen` would have left them
/// committed: the before side with its lock and migration scripts, and the after side with the
/// same ones when the case gives it no lock of its own. The command line reads directories as
/// they are, so this is what makes its answers those of the golden harness.
fn prepare(case: &str, into: &Path) -> (PathBuf, PathBuf) {
    let source = cases_dir().join(case);
    let before = into.join("before");
    let after = into.join("after");
    copy_dir(&source.join("before"), &before);
    copy_dir(&source.join("after"), &after);
    let input = load(&before).unwrap_or_else(|e| panic!("{e}"));
    let analysis = cmmv_compiler::analyze(&input);
    if let Some(lock) = &analysis.lock_update {
        write(&before.join(LOCK_FILE), lock);
    }
    for file in &analysis.pending_migrations {
        write(&before.join(&file.path), &file.contents);
    }
    if !after.join(LOCK_FILE).exists() {
        std::fs::copy(before.join(LOCK_FILE), after.join(LOCK_FILE))
            .unwrap_or_else(|e| panic!("copy the lock: {e}"));
        let migrations = before.join("migrations");
        if migrations.is_dir() {
            copy_dir(&migrations, &after.join("migrations"));
        }
    }
    (before, after)
}

fn expected_of(case: &str) -> Expected {
    parse_expected(&cases_dir().join(case).join("expected.txt")).unwrap_or_else(|e| panic!("{e}"))
}

/// Checks the shape of `cmmv diff --format json` and returns its `(verdict, rule)` pairs.
fn json_pairs(stdout: &str) -> (bool, BTreeSet<(String, String)>) {
    let json: serde_json::Value = serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("`--format json` printed no JSON ({e}):\n{stdout}"));
    let fails = json
        .get("fails")
        .and_then(serde_json::Value::as_bool)
        .unwrap_or_else(|| panic!("no boolean `fails`:\n{stdout}"));
    let changes = json
        .get("changes")
        .and_then(serde_json::Value::as_array)
        .unwrap_or_else(|| panic!("no array `changes`:\n{stdout}"));
    let mut pairs = BTreeSet::new();
    let mut served_breaking = false;
    for change in changes {
        for key in [
            "rule", "verdict", "surface", "served", "subject", "message", "hint", "file", "line",
            "column",
        ] {
            assert!(change.get(key).is_some(), "no `{key}` in {change}");
        }
        let text = |key: &str| {
            change[key]
                .as_str()
                .unwrap_or_else(|| panic!("`{key}` is not a string in {change}"))
        };
        let (rule, verdict, surface) = (text("rule"), text("verdict"), text("surface"));
        text("subject");
        text("message");
        assert_eq!(rule_verdict(rule), Some(verdict), "{change}");
        let expected_surface = if rule.starts_with("proto-") {
            "proto"
        } else {
            "rest"
        };
        assert_eq!(surface, expected_surface, "{change}");
        let served = change["served"]
            .as_bool()
            .unwrap_or_else(|| panic!("`served` is not a boolean in {change}"));
        served_breaking |= served && verdict == "breaking";
        if verdict == "breaking" {
            assert!(
                change["hint"]
                    .as_str()
                    .is_some_and(|h| !h.trim().is_empty()),
                "a breaking change without a hint: {change}"
            );
        }
        if change["file"].is_null() {
            assert!(
                change["line"].is_null() && change["column"].is_null(),
                "{change}"
            );
        } else {
            assert!(
                change["file"].as_str().is_some_and(|f| !f.is_empty()),
                "{change}"
            );
            assert!(change["line"].as_u64().is_some_and(|l| l >= 1), "{change}");
            assert!(
                change["column"].as_u64().is_some_and(|c| c >= 1),
                "{change}"
            );
        }
        pairs.insert((verdict.to_owned(), rule.to_owned()));
    }
    assert_eq!(
        fails, served_breaking,
        "`fails` disagrees with the changes:\n{stdout}"
    );
    (fails, pairs)
}

#[test]
fn diff_exits_0_when_safe_and_1_when_breaking_naming_rule_and_location() {
    let dir = tempdir();
    let (before, after) = prepare("04-field-added-optional", &dir.path().join("safe"));
    let (code, stdout, stderr) = cmmv(&["diff", s(&before), s(&after)]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("request-field-added-optional"), "{stdout}");

    let (before, after) = prepare("03-field-removed", &dir.path().join("breaking"));
    let (code, stdout, stderr) = cmmv(&["diff", s(&before), s(&after)]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("request-field-removed"), "{stdout}");
    assert!(stdout.contains("breaking"), "{stdout}");
    let location = regex::Regex::new(r"note\.yaml:\d+:\d+").unwrap_or_else(|e| panic!("{e}"));
    assert!(
        location.is_match(&stdout),
        "no `note.yaml:line:col` in:\n{stdout}"
    );
}

#[test]
fn diff_format_json_lists_every_change() {
    let dir = tempdir();
    for (case, code) in [("03-field-removed", 1), ("04-field-added-optional", 0)] {
        let (before, after) = prepare(case, &dir.path().join(case));
        let (got, stdout, stderr) = cmmv(&["diff", s(&before), s(&after), "--format", "json"]);
        assert_eq!(got, code, "{case}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        let (fails, pairs) = json_pairs(&stdout);
        let expected = expected_of(case);
        assert_eq!(fails, expected.fails, "{case}:\n{stdout}");
        assert_eq!(pairs, expected.pairs, "{case}:\n{stdout}");
    }
}

#[test]
fn diff_exits_2_when_a_side_does_not_compile() {
    let dir = tempdir();
    let broken = "contract: Note\nfields: { id: { type: uuid, primary: true }\n";
    for side in ["after", "before"] {
        let (before, after) = prepare("01-no-change", &dir.path().join(side));
        let target = if side == "after" { &after } else { &before };
        write(&target.join("note.yaml"), broken);
        let (code, stdout, stderr) = cmmv(&["diff", s(&before), s(&after)]);
        assert_eq!(
            code, 2,
            "broken {side}\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
        assert!(
            stderr.contains("error"),
            "broken {side}: no diagnostic in:\n{stderr}"
        );
        assert!(
            stderr.contains("note.yaml"),
            "broken {side}: the file is not named:\n{stderr}"
        );
    }
}

// ---- `--base`: the before side from git ---------------------------------------------------------

const CHILD_ARGS: &str = "CMMV_DIFF_TEST_CHILD_ARGS";
const CHILD_OUT: &str = "CMMV_DIFF_TEST_CHILD_OUT";
/// Separates the arguments in `CMMV_DIFF_TEST_CHILD_ARGS`.
const ARG_SEPARATOR: char = '\u{1f}';

/// Not a check of its own: the `--base` tests start this test binary again, running only this
/// test, in a git repository as its working directory (which one process cannot give each of
/// its threads). With `CMMV_DIFF_TEST_CHILD_ARGS` set it runs `cmmv` with those arguments and
/// leaves the exit code and outputs in `CMMV_DIFF_TEST_CHILD_OUT`; otherwise it does nothing.
#[test]
fn cmmv_child_process() {
    let (Some(args), Some(out)) = (std::env::var_os(CHILD_ARGS), std::env::var_os(CHILD_OUT))
    else {
        return;
    };
    let args = args.to_string_lossy().into_owned();
    let argv = std::iter::once("cmmv")
        .chain(args.split(ARG_SEPARATOR))
        .map(OsString::from);
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let code = cmmv_compiler::cli::run_with(argv, &mut stdout, &mut stderr);
    let out = PathBuf::from(out);
    write(&out.join("stdout"), &String::from_utf8_lossy(&stdout));
    write(&out.join("stderr"), &String::from_utf8_lossy(&stderr));
    write(&out.join("code"), &code.to_string());
}

/// Runs `cmmv args...` in `cwd` (in a child process) and returns (exit code, stdout, stderr).
fn cmmv_in(cwd: &Path, args: &[&str]) -> (i32, String, String) {
    let exe = std::env::current_exe().unwrap_or_else(|e| panic!("the test binary: {e}"));
    let out = tempdir();
    let output = Command::new(exe)
        .args(["diff::cmmv_child_process", "--exact", "--test-threads=1"])
        .env(CHILD_ARGS, args.join(&ARG_SEPARATOR.to_string()))
        .env(CHILD_OUT, out.path())
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("cannot start the test binary again: {e}"));
    let read = |name: &str| {
        std::fs::read_to_string(out.path().join(name)).unwrap_or_else(|e| {
            panic!(
                "the child process left no {name} ({e}); it said:\n{}\n{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        })
    };
    let code = read("code")
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("exit code: {e}"));
    (code, read("stdout"), read("stderr"))
}

/// Runs git in `repo`; a git that cannot run fails the test (`--base` needs it).
fn git(repo: &Path, args: &[&str]) {
    let output = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env_remove("GIT_DIR")
        .env_remove("GIT_WORK_TREE")
        .env_remove("GIT_INDEX_FILE")
        .output()
        .unwrap_or_else(|e| panic!("git is needed to test `cmmv diff --base` and cannot run: {e}"));
    assert!(
        output.status.success(),
        "git {args:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A git repository whose `HEAD` holds the case's before side in `contracts/`, and whose work
/// tree holds its after side there, uncommitted.
fn repository_with(case: &str, root: &Path) -> PathBuf {
    let (before, after) = prepare(case, &root.join("sides"));
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap_or_else(|e| panic!("mkdir: {e}"));
    git(&repo, &["init", "-q"]);
    git(
        &repo,
        &["config", "user.email", "diff-test@example.invalid"],
    );
    git(&repo, &["config", "user.name", "diff test"]);
    git(&repo, &["config", "commit.gpgsign", "false"]);
    let contracts = repo.join("contracts");
    copy_dir(&before, &contracts);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "before"]);
    // The after side over it, files it no longer has removed, nothing committed.
    std::fs::remove_dir_all(&contracts).unwrap_or_else(|e| panic!("rm: {e}"));
    copy_dir(&after, &contracts);
    repo
}

#[test]
fn diff_base_reads_the_before_side_from_git() {
    let dir = tempdir();
    for (case, code) in [("03-field-removed", 1), ("04-field-added-optional", 0)] {
        let root = dir.path().join(case);
        let repo = repository_with(case, &root);
        let (got, stdout, stderr) = cmmv_in(&repo, &["diff", "--base", "HEAD", "contracts"]);
        assert_eq!(got, code, "{case}\nstdout:\n{stdout}\nstderr:\n{stderr}");

        // The same verdict and changes as the directory form.
        let (got, json, stderr) = cmmv_in(
            &repo,
            &["diff", "--base", "HEAD", "contracts", "--format", "json"],
        );
        assert_eq!(
            got, code,
            "{case} (json)\nstdout:\n{json}\nstderr:\n{stderr}"
        );
        let (fails, pairs) = json_pairs(&json);
        let (before, after) = (root.join("sides/before"), root.join("sides/after"));
        let (_, dir_json, _) = cmmv(&["diff", s(&before), s(&after), "--format", "json"]);
        let (dir_fails, dir_pairs) = json_pairs(&dir_json);
        assert_eq!(
            (fails, &pairs),
            (dir_fails, &dir_pairs),
            "{case}: --base vs directories"
        );
        assert_eq!(pairs, expected_of(case).pairs, "{case}");

        if code == 1 {
            // Removed things are found in the base revision.
            assert!(stdout.contains("request-field-removed"), "{stdout}");
            assert!(
                stdout.contains("HEAD:"),
                "no location in `HEAD:` in:\n{stdout}"
            );
        }
    }
}
