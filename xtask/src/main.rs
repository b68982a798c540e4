//! `cargo xtask`: project automation.
//!
//! - `cargo xtask validate`: generate from `contracts/` and run the external validators
//!   (`openapi-spec-validator` from PyPI on every OpenAPI file, `protoc` on every .proto).
//! - `cargo xtask conformance`: the example service against Schemathesis, driven by the
//!   documents it serves (see `conformance.rs`).
//! - `cargo xtask grpc-check`: the example's gRPC services called by `buf curl` through the
//!   server's reflection (see `grpc_check.rs`).
//! - `cargo xtask docs-browser`: the example's `/docs` page in headless Chromium
//!   (see `docs_browser.rs`).
//! - `cargo xtask scaffold-check`: `cmmv new`'s service built, linted and tested, its
//!   manifests and Dockerfile checked (see `scaffold_check.rs`).
//! - `cargo xtask vendor-docs [--check]`: the docs page's renderer from the npm registry,
//!   pinned by integrity (see `vendor_docs.rs`); `validate` runs the check.
//! - `cargo xtask bench [--contracts N]`: compile N generated contracts to OpenAPI + proto and
//!   report time and peak memory against a parse-only baseline measured in the same run.
//! - `cargo xtask load [--requests N] [--only NAME]`: the example service against a hand-written axum server
//!   on the same store, under the same bounded load on 127.0.0.1 (`todo`'s `load` bench).
//! - `cargo xtask macro-cost [--contracts N] [--rounds R]`: incremental build time of a crate
//!   with N `#[contract]` contracts after editing one, next to the same contracts in YAML +
//!   build.rs.
//! - `cargo xtask storage`: get by id and a filtered, sorted page over 10,000 tasks in memory,
//!   SQLite and PostgreSQL (`todo`'s `storage` bench).

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod bench;
mod conformance;
mod docs_browser;
mod example;
mod grpc_check;
mod macro_cost;
mod scaffold_check;
mod vendor_docs;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("validate") => validate(),
        Some("conformance") => conformance::run(&workspace_root()),
        Some("docs-browser") => docs_browser::run(&workspace_root()),
        Some("grpc-check") => grpc_check::run(&workspace_root()),
        Some("scaffold-check") => scaffold_check::run(&workspace_root()),
        Some("vendor-docs") => vendor_docs::run(
            &workspace_root(),
            args.get(1).is_some_and(|a| a == "--check"),
        ),
        Some("bench") => bench::run(&args[1..]),
        Some("macro-cost") => macro_cost::run(&args[1..]),
        // A bench target of the example, built as users build it (see its module docs).
        Some(bench @ ("load" | "storage")) => {
            let status = Command::new(env!("CARGO"))
                .args(["bench", "-p", "todo", "--bench", bench, "--"])
                .args(&args[1..])
                .status()
                .map_err(|e| format!("cannot run cargo: {e}"));
            match status {
                Ok(status) if status.success() => Ok(()),
                Ok(status) => Err(format!("the {bench} benchmark failed ({status})")),
                Err(error) => Err(error),
            }
        }
        _ => Err(
            "usage: cargo xtask <validate | conformance | docs-browser | grpc-check | scaffold-check | vendor-docs [--check] | bench [--contracts N] | macro-cost [--contracts N] | load [--requests N] [--only get|post|sqlite-get|sqlite-post|postgres-get|postgres-post|auth|limit|tracing] | storage>"
                .to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Generates from `contracts/` into a temporary directory and runs the external validators.
fn validate() -> Result<(), String> {
    let root = workspace_root();
    let input = cmmv_compiler::load(&root.join("contracts")).map_err(|e| e.to_string())?;
    let compilation = cmmv_compiler::compile(&input, &cmmv_compiler::Options::default())
        .map_err(|e| e.to_string())?;
    let out = tempfile::tempdir().map_err(|e| e.to_string())?;
    cmmv_compiler::output::write_files(
        out.path(),
        &compilation.files,
        &cmmv_compiler::Targets::default().directories(),
        cmmv_compiler::output::Mode::Write,
    )
    .map_err(|e| e.to_string())?;

    let openapi: Vec<PathBuf> = compilation
        .files
        .iter()
        .filter(|f| f.path.starts_with("openapi"))
        .map(|f| out.path().join(&f.path))
        .collect();
    let protos: Vec<PathBuf> = compilation
        .files
        .iter()
        .filter(|f| f.path.extension().is_some_and(|e| e == "proto"))
        .map(|f| out.path().join(&f.path))
        .collect();
    if openapi.is_empty() || protos.is_empty() {
        return Err("nothing was generated to validate".to_owned());
    }

    for file in &openapi {
        run(Command::new("openapi-spec-validator").arg(file))?;
        println!("openapi-spec-validator: {} OK", file.display());
    }
    lint_openapi(&root, &openapi)?;

    let protoc = protoc_bin_vendored::protoc_bin_path().map_err(|e| e.to_string())?;
    let include = protoc_bin_vendored::include_path().map_err(|e| e.to_string())?;
    let proto_root = out.path().join("proto");
    let mut command = Command::new(protoc);
    command
        .arg(format!("--proto_path={}", proto_root.display()))
        .arg(format!("--proto_path={}", include.display()))
        .arg("--include_imports")
        .arg(format!(
            "--descriptor_set_out={}",
            out.path().join("descriptors.bin").display()
        ));
    for proto in &protos {
        command.arg(proto.strip_prefix(&proto_root).unwrap_or(proto));
    }
    run(&mut command)?;
    println!("protoc: {} files compiled", protos.len());
    lint_protos(&root, &proto_root)?;
    vendor_docs::run(&root, true)?;
    println!("{} passed, 0 failed", openapi.len() + protos.len());
    Ok(())
}

/// The buf rules the emitted files are held to: `STANDARD` except four that contradict choices
/// the emitter makes on purpose, as Google's API design guide (AIP-131, 133, 135) does. An rpc
/// returns the resource itself (`Get` returns `Task`, not `GetResponse`) and `Delete` returns
/// `google.protobuf.Empty`, so response names are not per rpc nor unique to one rpc; request
/// messages are named after the contract (`TaskGetRequest`, not `TaskServiceGetRequest`), the
/// names the lock file has numbered since the first release; and the files sit in `proto/`
/// whatever their package, the include root users already point protoc at.
const BUF_LINT: &str = r#"{"version":"v2","lint":{"use":["STANDARD"],"except":["RPC_REQUEST_STANDARD_NAME","RPC_RESPONSE_STANDARD_NAME","RPC_REQUEST_RESPONSE_UNIQUE","PACKAGE_DIRECTORY_MATCH"]}}"#;

/// Lints the emitted `.proto` files with buf (installed by `npm ci --prefix .ci/node`).
fn lint_protos(root: &Path, proto_root: &Path) -> Result<(), String> {
    let buf = root.join(".ci/node/node_modules/.bin/buf");
    if !buf.exists() {
        return Err("buf is not installed: run `npm ci --prefix .ci/node`".to_owned());
    }
    run(Command::new(&buf)
        .arg("lint")
        .arg(proto_root)
        .args(["--config", BUF_LINT]))?;
    println!("buf lint (STANDARD, see BUF_LINT): OK");
    Ok(())
}

/// Lints the documents with the two usual OpenAPI rulesets, Spectral's `spectral:oas` and
/// Redocly's `recommended`, and fails on any warning: documents users feed to their tools
/// must not make those tools complain. The linters are the npm packages pinned in
/// `.ci/node/package.json`, installed by `npm ci --prefix .ci/node` (`.ci/run` does).
fn lint_openapi(root: &std::path::Path, documents: &[PathBuf]) -> Result<(), String> {
    let node = root.join(".ci/node");
    let bin = node.join("node_modules/.bin");
    let (spectral, redocly) = (bin.join("spectral"), bin.join("redocly"));
    if !spectral.exists() || !redocly.exists() {
        return Err(format!(
            "the OpenAPI linters are not installed: run `npm ci --prefix {}`",
            node.display()
        ));
    }
    run(Command::new(&spectral)
        .arg("lint")
        .arg("--ruleset")
        .arg(node.join(".spectral.yaml"))
        .arg("--fail-severity=warn")
        .args(documents))?;
    println!(
        "spectral (spectral:oas): {} documents, no warnings",
        documents.len()
    );
    // Redocly exits non-zero on errors only; its warnings are counted from its report.
    let output = Command::new(&redocly)
        .arg("lint")
        .arg("--format=stylish")
        .arg("--config")
        .arg(node.join("redocly.yaml"))
        .args(documents)
        .output()
        .map_err(|e| format!("cannot run redocly: {e}"))?;
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    let warned = report
        .lines()
        .any(|line| line.contains(" warning ") || line.contains(" error "));
    if !output.status.success() || warned {
        return Err(format!("redocly lint (recommended) complained:\n{report}"));
    }
    println!(
        "redocly (recommended): {} documents, no warnings",
        documents.len()
    );
    every_operation_succeeds(documents)
}

/// What Redocly's `operation-2xx-response` checked, with redirects counted: every operation
/// documents a success, a 2xx or a 3xx answer (see `.ci/node/redocly.yaml`).
fn every_operation_succeeds(documents: &[PathBuf]) -> Result<(), String> {
    let mut failures = Vec::new();
    for path in documents
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
    {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let document: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| format!("{} is not JSON: {e}", path.display()))?;
        let paths = document["paths"].as_object().cloned().unwrap_or_default();
        for (route, item) in &paths {
            for (method, operation) in item.as_object().into_iter().flatten() {
                let Some(responses) = operation["responses"].as_object() else {
                    continue;
                };
                let succeeds = responses
                    .keys()
                    .any(|status| status.starts_with('2') || status.starts_with('3'));
                if !succeeds {
                    failures.push(format!("{}: {method} {route}", path.display()));
                }
            }
        }
    }
    if failures.is_empty() {
        println!("every operation documents a 2xx or 3xx answer");
        Ok(())
    } else {
        Err(format!(
            "operations without a 2xx or 3xx answer:\n{}",
            failures.join("\n")
        ))
    }
}

fn run(command: &mut Command) -> Result<(), String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {:?}: {e}", command.get_program()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{:?} failed:\n{}{}",
            command.get_program(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}
