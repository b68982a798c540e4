//! `cargo xtask conformance`: the example service, as `cargo run -p todo` runs it (a SQLite
//! file, every contract, the login module), against Schemathesis driven by the documents it
//! serves. Every version's document; valid and invalid requests, the coverage, fuzzing and
//! stateful phases; every check (status codes documented, bodies valid against their schemas,
//! content types, invalid data refused, valid data accepted). Authenticated as an account of the
//! login module holding every role (registered and signed in through `/auth/register` and
//! `/auth/login` before the run), limits off, so that the documents' promises are what is
//! tested — the login module's `/auth/*` routes included.
//!
//! Schemathesis is the PyPI package `.ci/run` pins. Its `positive_data_acceptance` check is
//! replaced by `.ci/conformance/hooks.py`'s, which accepts one thing more: a 422 whose every
//! entry is a rule JSON Schema cannot state (`reference`, `key`).
//!
//! Two operations are left out ([`SELF_ENDING`]): ending the caller's own sessions succeeds
//! with the run's only token, which would answer 401 to everything after it — the run would
//! test nothing more. `tests/.../sessions.rs` covers them over HTTP.

use std::path::Path;
use std::process::Command;

use crate::example::RunningExample;
/// Examples per operation and phase; with the stateful phase about a minute per version.
const MAX_EXAMPLES: &str = "100";
/// A fixed seed, so that a failure reproduces; CI runs the same cases every time.
const SEED: &str = "17";
/// The operations that would end the run's own session (see the module's documentation).
const SELF_ENDING: &[&str] = &["account_revoke_sessions", "account_revoke_session"];

pub(crate) fn run(root: &Path) -> Result<(), String> {
    let versions = served_versions(root)?;
    let example = RunningExample::start(root)?;
    let (addr, token) = (example.addr, example.token.clone());
    // Schemathesis keeps a cache in its working directory: the run's own, not the tree.
    let cache = tempfile::tempdir().map_err(|e| e.to_string())?;
    let hooks = root.join(".ci/conformance");
    let mut failed = Vec::new();
    for version in versions {
        let document = format!("http://{addr}/v{version}/openapi.json");
        println!("schemathesis: {document}");
        let status = Command::new("schemathesis")
            .args(["run", &document])
            .args(["--header", &format!("Authorization: Bearer {token}")])
            .args(["--checks", "all"])
            .args(["--exclude-checks", "positive_data_acceptance"])
            .args(["--max-examples", MAX_EXAMPLES])
            .args(["--seed", SEED])
            .args(
                SELF_ENDING
                    .iter()
                    .flat_map(|id| ["--exclude-operation-id", id]),
            )
            // One worker: the Python tool's parallel generation has tripped over itself
            // (`AST constructor recursion depth mismatch`), which is no finding of ours.
            .args(["--workers", "1"])
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .env("PYTHONPATH", &hooks)
            .current_dir(cache.path())
            .status()
            .map_err(|e| {
                format!(
                    "cannot run schemathesis ({e}): `pip install schemathesis` (.ci/run pins it)"
                )
            })?;
        if !status.success() {
            failed.push(version);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the service disagrees with the documents of versions {failed:?} (Schemathesis' report above)"
        ))
    }
}

/// The API versions `contracts/` serves: one document each.
fn served_versions(root: &Path) -> Result<Vec<u32>, String> {
    let input = cmmv_compiler::load(&root.join("contracts")).map_err(|e| e.to_string())?;
    let analysis = cmmv_compiler::analyze(&input);
    Ok(analysis.project.versions().into_iter().collect())
}
