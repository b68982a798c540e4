//! The `cmmv` command line: check, gen, gen --check, write-if-changed, template overrides.

use std::path::Path;

use cmmv_tests::{cmmv, example_contracts, fixture};

/// Copies a contract directory, migrations included.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir: {e}"));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read_dir: {e}")) {
        let path = entry.unwrap_or_else(|e| panic!("entry: {e}")).path();
        let target = to.join(path.file_name().unwrap_or_default());
        if path.is_file() {
            std::fs::copy(&path, target).unwrap_or_else(|e| panic!("copy: {e}"));
        } else if path.is_dir() {
            copy_dir(&path, &target);
        }
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
}

/// Warnings do not fail `cmmv check`, and its verdict counts them instead of saying "no
/// problems" under them.
#[test]
fn check_counts_warnings_in_its_verdict() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    std::fs::write(
        dir.path().join("account.yaml"),
        "contract: Account\nfields:\n  id: { type: uuid, primary: true }\n  password: { type: string, write_only: true }\ncrud: [get]\n",
    )
    .unwrap_or_else(|e| panic!("write: {e}"));
    let (code, stdout, stderr) = cmmv(&["check", s(dir.path())]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: `password` looks like a secret stored in clear"),
        "{stderr}"
    );
    assert!(stdout.contains(": no errors, 1 warning"), "{stdout}");
    assert!(!stdout.contains("no problems"), "{stdout}");
}

#[test]
fn check_is_clean_on_the_examples_and_exits_1_on_broken_contracts() {
    let (code, stdout, stderr) = cmmv(&["check", s(&example_contracts())]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("no problems"), "{stdout}");

    let (code, _, stderr) = cmmv(&["check", s(&fixture("broken"))]);
    assert_eq!(code, 1);
    assert!(stderr.contains("error: unknown type `strng`"), "{stderr}");
    assert!(
        stderr.contains("could not compile contracts due to"),
        "{stderr}"
    );
}

#[test]
fn gen_writes_only_changes_and_check_mode_names_stale_files() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let contracts = work.path().join("contracts");
    let out = work.path().join("generated");
    copy_dir(&example_contracts(), &contracts);

    let (code, stdout, stderr) = cmmv(&["gen", s(&contracts), "--out", s(&out)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("written"), "{stdout}");
    assert!(out.join("openapi/v1.json").is_file());
    assert!(out.join("openapi/v2.yaml").is_file());
    assert!(out.join("proto/task.proto").is_file());

    // A second run changes nothing on disk.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let before = modified(&out.join("proto/task.proto"));
    let (code, stdout, _) = cmmv(&["gen", s(&contracts), "--out", s(&out)]);
    assert_eq!(code, 0);
    assert!(stdout.contains("(0 written"), "{stdout}");
    assert_eq!(before, modified(&out.join("proto/task.proto")));

    let (code, stdout, stderr) = cmmv(&["gen", s(&contracts), "--out", s(&out), "--check"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("up to date"), "{stdout}");

    // A hand edit makes the file stale; a removed contract makes its file obsolete (and drops
    // its table, which needs `--allow-destructive`).
    std::fs::write(out.join("proto/task.proto"), "edited").unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(contracts.join("label.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let (code, _, stderr) = cmmv(&[
        "gen",
        s(&contracts),
        "--out",
        s(&out),
        "--check",
        "--allow-destructive",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("stale: "), "{stderr}");
    assert!(stderr.contains("proto/task.proto"), "{stderr}");
    assert!(stderr.contains("obsolete: "), "{stderr}");
    assert!(stderr.contains("proto/label.proto"), "{stderr}");
    assert!(
        stderr.contains("stale: ") && stderr.contains("cmmv.lock"),
        "{stderr}"
    );
}

#[test]
fn gen_writes_nothing_when_there_is_any_error() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let out = work.path().join("generated");
    let (code, _, stderr) = cmmv(&["gen", s(&fixture("broken")), "--out", s(&out)]);
    assert_eq!(code, 1, "{stderr}");
    assert!(!out.exists(), "nothing may be written on error");
}

#[test]
fn templates_override_the_built_in_ones() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let contracts = work.path().join("contracts");
    let templates = work.path().join("templates");
    let out = work.path().join("generated");
    copy_dir(&example_contracts(), &contracts);
    std::fs::create_dir_all(&templates).unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(
        templates.join("proto.proto.j2"),
        "// custom template for {{ package }}\n",
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let (code, _, stderr) = cmmv(&[
        "gen",
        s(&contracts),
        "--out",
        s(&out),
        "--templates",
        s(&templates),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let proto = std::fs::read_to_string(out.join("proto/task.proto")).unwrap_or_default();
    assert!(proto.contains("custom template for todo.v1"), "{proto}");
}

#[test]
fn usage_errors_exit_2() {
    let (code, _, stderr) = cmmv(&["generate"]);
    assert_eq!(code, 2);
    assert!(stderr.contains("unrecognized subcommand"), "{stderr}");
}

fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{e}"));
    assert!(text.contains(from), "{from} not in {}", path.display());
    std::fs::write(path, text.replacen(from, to, 1)).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn gen_writes_a_new_migration_for_a_changed_contract_and_reports_it() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let contracts = work.path().join("contracts");
    let out = work.path().join("generated");
    copy_dir(&example_contracts(), &contracts);
    let init = std::fs::read_to_string(contracts.join("migrations/sqlite/0001_init.sql"))
        .unwrap_or_else(|e| panic!("{e}"));
    // The example's migrations so far, and so the number of the next one.
    let applied = std::fs::read_dir(contracts.join("migrations/sqlite"))
        .unwrap_or_else(|e| panic!("{e}"))
        .count();
    let next = format!("{:04}_add_tasks_review_due_on", applied + 1);

    edit(
        &contracts.join("task.yaml"),
        "  attachment_count:",
        "  review_due_on: { type: date, optional: true }\n  attachment_count:",
    );
    // CI modes name the pending migration and write nothing.
    let (code, _, stderr) = cmmv(&["gen", s(&contracts), "--out", s(&out), "--check"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "pending: migration {next} (add column tasks.review_due_on (date, nullable))"
        )),
        "{stderr}"
    );
    let (code, _, stderr) = cmmv(&["gen", s(&contracts), "--out", s(&out), "--locked"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(&format!(
            "error: migration `{next}` is pending but `--locked` was passed"
        )),
        "{stderr}"
    );
    assert!(
        !contracts
            .join(format!("migrations/sqlite/{next}.sql"))
            .exists()
    );

    let (code, stdout, stderr) = cmmv(&["gen", s(&contracts), "--out", s(&out)]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains(&format!(
            "migration {next}: add column tasks.review_due_on (date, nullable)"
        )),
        "{stdout}"
    );
    for dialect in ["sqlite", "postgres"] {
        let script = contracts.join(format!("migrations/{dialect}/{next}.sql"));
        let text = std::fs::read_to_string(&script).unwrap_or_else(|e| panic!("{e}"));
        assert!(text.contains("ADD COLUMN \"review_due_on\""), "{text}");
    }
    let unchanged = std::fs::read_to_string(contracts.join("migrations/sqlite/0001_init.sql"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(init, unchanged, "an applied migration is never rewritten");

    // The next run finds nothing to do.
    let (code, stdout, stderr) = cmmv(&["gen", s(&contracts), "--out", s(&out), "--check"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("up to date"), "{stdout}");
}

#[test]
fn check_reports_destructive_changes_at_their_field() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let contracts = work.path().join("contracts");
    copy_dir(&example_contracts(), &contracts);
    edit(
        &contracts.join("task.yaml"),
        "story_points: { type: int32,",
        "story_points: { type: bool,",
    );
    edit(
        &contracts.join("task.yaml"),
        ", minimum: 0, maximum: 100, optional: true,",
        ", optional: true,",
    );
    let (code, _, stderr) = cmmv(&["check", s(&contracts)]);
    assert_eq!(code, 1, "{stderr}");
    let task = contracts.join("task.yaml");
    let expected = format!(
        "error: changing column `tasks.story_points` from int32 to bool can lose or reject data\n  \
         --> {}:17:25\n",
        task.display().to_string().replace('\\', "/")
    );
    assert!(stderr.starts_with(&expected), "{stderr}");
    assert!(stderr.contains("^^^^ was int32"), "{stderr}");
    assert!(stderr.contains("--allow-destructive"), "{stderr}");

    let (code, stdout, stderr) = cmmv(&["check", s(&contracts), "--allow-destructive"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("no errors, 1 warning"), "{stdout}");
    assert!(
        stderr.contains("warning: changing column `tasks.story_points`"),
        "{stderr}"
    );

    // An edited applied migration is reported where it lies.
    let init = contracts.join("migrations/postgres/0001_init.sql");
    edit(&init, "CREATE TABLE \"labels\"", "CREATE TABLE \"tags\"");
    let (code, _, stderr) = cmmv(&["check", s(&contracts), "--allow-destructive"]);
    assert_eq!(code, 1);
    assert!(
        stderr.contains(
            "error: migration `migrations/postgres/0001_init.sql` was edited after it was recorded"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("0001_init.sql:1:1"), "{stderr}");
}

/// Issue 16: `cmmv check` is `cmmv gen` minus writing. Two contracts whose messages use each
/// other once passed `check` (the cycle check lived in the proto emitter) and failed `gen`.
#[test]
fn check_refuses_what_gen_refuses_proto_import_cycles_included() {
    let work = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let contracts = work.path().join("contracts");
    std::fs::create_dir_all(&contracts).unwrap_or_else(|e| panic!("mkdir: {e}"));
    let write = |name: &str, text: &str| {
        std::fs::write(contracts.join(name), text).unwrap_or_else(|e| panic!("write: {e}"));
    };
    write(
        "alpha.yaml",
        "contract: Alpha\nfields:\n  id: { type: uuid, primary: true }\n  beta: { type: BetaNote, optional: true }\nmessages:\n  AlphaNote:\n    fields: { text: { type: string } }\n",
    );
    write(
        "beta.yaml",
        "contract: Beta\nfields:\n  id: { type: uuid, primary: true }\n  alpha: { type: AlphaNote, optional: true }\nmessages:\n  BetaNote:\n    fields: { text: { type: string } }\n",
    );
    let (check, _, check_err) = cmmv(&["check", s(&contracts)]);
    let out = work.path().join("generated");
    let (gen_code, _, gen_err) = cmmv(&["gen", s(&contracts), "--out", s(&out)]);
    assert_eq!((check, gen_code), (1, 1), "{check_err}\n{gen_err}");
    let cycle = "error: contracts `Alpha` -> `Beta` -> `Alpha` use each other's types";
    assert!(check_err.contains(cycle), "{check_err}");
    assert!(gen_err.contains(cycle), "{gen_err}");
    assert!(check_err.contains("contracts/alpha.yaml:4:"), "{check_err}");
    assert!(!out.exists(), "nothing may be written on error");
}
