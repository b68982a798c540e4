//! The `cmmv` command line: check, gen, gen --check, write-if-changed, template overrides.

use std::path::Path;

use cmmv_tests::{cmmv, example_contracts, fixture};

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("mkdir: {e}"));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read_dir: {e}")) {
        let path = entry.unwrap_or_else(|e| panic!("entry: {e}")).path();
        if path.is_file() {
            let target = to.join(path.file_name().unwrap_or_default());
            std::fs::copy(&path, target).unwrap_or_else(|e| panic!("copy: {e}"));
        }
    }
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap_or_default()
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

    // A hand edit makes the file stale; a removed contract makes its file obsolete.
    std::fs::write(out.join("proto/task.proto"), "edited").unwrap_or_else(|e| panic!("{e}"));
    std::fs::remove_file(contracts.join("label.yaml")).unwrap_or_else(|e| panic!("{e}"));
    let (code, _, stderr) = cmmv(&["gen", s(&contracts), "--out", s(&out), "--check"]);
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
