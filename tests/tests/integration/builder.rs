//! The build.rs integration: this crate's own build script compiles `contracts/` with the
//! Builder, exactly as a user's crate would.

use std::path::Path;

use cmmv_compiler::{Options, compile};
use cmmv_tests::example_contracts;

#[test]
fn the_build_script_wrote_every_generated_file_to_out_dir() {
    let out_dir = Path::new(env!("OUT_DIR")).join("cmmv");
    // The build script names its inputs relative to this crate, as `../contracts/...`.
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let input = cmmv_compiler::load(&crate_dir.join("../contracts"))
        .unwrap_or_else(|e| panic!("{e}"))
        .relative_to(crate_dir);
    let compilation = compile(&input, &Options::default()).unwrap_or_else(|e| panic!("{e}"));
    for file in &compilation.files {
        let written = std::fs::read_to_string(out_dir.join(&file.path))
            .unwrap_or_else(|e| panic!("{} missing from OUT_DIR: {e}", file.path.display()));
        let first_difference = written
            .lines()
            .zip(file.contents.lines())
            .position(|(a, b)| a != b);
        assert!(
            written == file.contents,
            "{} differs from OUT_DIR at line {first_difference:?}",
            file.path.display()
        );
    }
}

#[test]
fn rerun_lines_name_each_contract_the_lock_and_templates_in_use() {
    let dir = example_contracts();
    let input = cmmv_compiler::load(&dir).unwrap_or_else(|e| panic!("{e}"));
    let lines = cmmv_compiler::Builder::rerun_if_changed_paths(
        &dir,
        &input,
        &cmmv_compiler::Templates::builtin(),
    );
    assert!(lines.contains(&dir.join("task.yaml")));
    assert!(lines.contains(&dir.join("cmmv.yaml")));
    assert!(lines.contains(&dir.join(cmmv_compiler::LOCK_FILE)));
    assert!(lines.contains(&dir));
    assert!(lines.contains(&dir.join("migrations")));
    assert!(lines.contains(&dir.join("migrations/sqlite/0001_init.sql")));
    assert!(
        lines.iter().all(|p| p.starts_with(&dir)),
        "only contract inputs: {lines:?}"
    );
}

#[test]
#[allow(clippy::print_stderr, reason = "a skipped check says so")]
fn generated_rust_is_rustfmt_clean() {
    let dir = Path::new(env!("OUT_DIR")).join("cmmv/rust");
    let files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    assert!(files.len() > 1, "no generated Rust in {}", dir.display());
    let status = std::process::Command::new("rustfmt")
        .args(["--edition", "2024", "--check"])
        .args(&files)
        .status();
    match status {
        Ok(status) => assert!(status.success(), "generated Rust is not rustfmt-clean"),
        Err(error) => eprintln!("skipped: rustfmt is not available ({error})"),
    }
}

/// `Builder::fail_on_breaking`: the build fails with the report when the contracts break what
/// the base serves, and goes through when they only add to it. Each side is a copy of a
/// `cmmv diff` golden case, the new side starting from the lock and migrations the old side's
/// build wrote, as a user's checkout would.
#[test]
fn the_build_fails_on_a_breaking_change_when_asked() {
    let cases = cmmv_tests::fixture("diff");
    for (case, breaks) in [
        ("03-field-removed", true),
        ("04-field-added-optional", false),
    ] {
        let dir = tempfile::tempdir().expect("a temporary directory");
        for side in ["before", "after"] {
            let to = dir.path().join(side);
            std::fs::create_dir_all(&to).expect("a directory");
            for entry in std::fs::read_dir(cases.join(case).join(side)).expect("the case") {
                let path = entry.expect("an entry").path();
                if let (true, Some(name)) = (path.is_file(), path.file_name()) {
                    std::fs::copy(&path, to.join(name)).expect("a copy");
                }
            }
        }
        let builder = |side: &str| {
            cmmv_compiler::Builder::new()
                .contracts_dir(dir.path().join(side))
                .out_dir(dir.path().join("out").join(side))
                .allow_destructive(true)
                .emit_rerun_if_changed(false)
        };
        builder("before")
            .compile()
            .unwrap_or_else(|e| panic!("{case}, before: {e}"));
        // The lock and the migrations the old side's build wrote, as a checkout has them.
        std::fs::copy(
            dir.path().join("before").join(cmmv_compiler::LOCK_FILE),
            dir.path().join("after").join(cmmv_compiler::LOCK_FILE),
        )
        .expect("the lock");
        for dialect in ["sqlite", "postgres"] {
            let from = dir.path().join("before/migrations").join(dialect);
            let to = dir.path().join("after/migrations").join(dialect);
            std::fs::create_dir_all(&to).expect("a directory");
            for entry in std::fs::read_dir(&from).expect("the migrations") {
                let path = entry.expect("an entry").path();
                if let Some(name) = path.file_name() {
                    std::fs::copy(&path, to.join(name)).expect("a copy");
                }
            }
        }
        let checked = builder("after")
            .fail_on_breaking(cmmv_compiler::diff::Base::Dir(dir.path().join("before")))
            .compile();
        match (checked, breaks) {
            (Err(error), true) => {
                let text = error.to_string();
                assert!(text.contains("breaking[response-field-removed]"), "{text}");
                assert!(text.contains("breaking[request-field-removed]"), "{text}");
            }
            (Ok(_), false) => {}
            (result, _) => panic!(
                "{case}: expected the build to {}: {:?}",
                if breaks { "fail" } else { "pass" },
                result.err().map(|e| e.to_string())
            ),
        }
    }
}
