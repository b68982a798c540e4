//! Issue 7: `cmmv check|gen --rust DIR` compiles the `#[contract]` items of a crate as a whole,
//! with YAML-style diagnostics (file, line, column, snippet) and `--check` for CI.

use cmmv_tests::{cmmv, fixture, workspace_root};

#[test]
fn check_reports_every_problem_of_rust_contracts_with_line_and_column() {
    let dir = fixture("rust_broken");
    let src = dir.join("src");
    let contracts = dir.join("contracts");
    let (code, stdout, stderr) = cmmv(&[
        "check",
        contracts.to_str().expect("a UTF-8 path"),
        "--rust",
        src.to_str().expect("a UTF-8 path"),
    ]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    for expected in [
        "error: unknown key `pagnation` in a contract",
        "src/lib.rs:4:22\n",
        "4 |     #[cmmv::contract(pagnation(max_limit = 50))]\n  |                      ^^^^^^^^^ unknown key",
        "= help: did you mean `pagination`?",
        "error: unknown key `mx_length` in field `title`",
        "src/lib.rs:8:17\n",
        // Cross-contract checks need the whole project: a reference to a misspelled contract,
        // and two contracts served on one path.
        "error: unknown contract `Projet`",
        "= help: did you mean `Project`?",
        "routes are served twice",
        "error: could not compile contracts due to 4 previous errors",
    ] {
        assert!(
            stderr.contains(expected),
            "missing {expected:?} in:\n{stderr}"
        );
    }
}

#[test]
fn gen_writes_the_documents_of_rust_contracts_and_check_mode_confirms_them() {
    let twins = workspace_root().join("examples/twins");
    let out = tempfile::tempdir().expect("a temporary directory");
    let contracts = twins.join("macro-contracts");
    let src = twins.join("src/macro_twin");
    let args = |check: bool| {
        let mut args = vec![
            "gen".to_owned(),
            contracts.display().to_string(),
            "--rust".to_owned(),
            src.display().to_string(),
            "--out".to_owned(),
            out.path().display().to_string(),
            "--locked".to_owned(),
        ];
        if check {
            args.push("--check".to_owned());
        }
        args
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        cmmv(&args)
    };
    let (code, stdout, stderr) = run(args(false));
    assert_eq!(code, 0, "{stdout}{stderr}");
    for file in [
        "openapi/v1.json",
        "openapi/v1.yaml",
        "proto/ticket.proto",
        "rust/mod.rs",
    ] {
        assert!(out.path().join(file).is_file(), "{file} written:\n{stdout}");
    }
    // The contract's own Rust is its macro's expansion, never a generated file.
    assert!(!out.path().join("rust/ticket.rs").exists());
    let (code, stdout, stderr) = run(args(true));
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert!(
        stdout.contains("generated files are up to date"),
        "{stdout}"
    );
}

#[test]
fn a_build_script_with_rust_sources_watches_their_directory_and_files() {
    let twins = workspace_root().join("examples/twins");
    let contracts = twins.join("macro-contracts");
    let src = twins.join("src/macro_twin");
    let input = cmmv_compiler::load_with_rust(&contracts, std::slice::from_ref(&src))
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(input.rust_sources.len(), 1, "only files with a #[contract]");
    let lines = cmmv_compiler::Builder::rerun_if_changed_paths(
        &contracts,
        &input,
        &cmmv_compiler::Templates::builtin(),
    );
    assert!(
        lines.contains(&src),
        "a new module reruns the script: {lines:?}"
    );
    assert!(lines.contains(&src.join("ticket.rs")));
    assert!(lines.contains(&contracts.join(cmmv_compiler::LOCK_FILE)));
}
