//! Helpers shared by the integration tests.

use std::path::{Path, PathBuf};

/// The workspace root (the parent of this crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from(".."), Path::to_path_buf)
}

/// The example contracts, `contracts/` at the workspace root.
pub fn example_contracts() -> PathBuf {
    workspace_root().join("contracts")
}

/// A fixture directory under `tests/fixtures/`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

/// Loads a contract directory with paths shown relative to the workspace root, so snapshots
/// do not depend on where the checkout lives.
pub fn load_relative(dir: &Path) -> cmmv_compiler::Input {
    match cmmv_compiler::load(dir) {
        Ok(input) => input.relative_to(&workspace_root()),
        Err(error) => panic!("cannot load {}: {error}", dir.display()),
    }
}

/// Runs the `cmmv` command line in process and returns (exit code, stdout, stderr).
pub fn cmmv(args: &[&str]) -> (i32, String, String) {
    let mut stdout = Vec::new();
    let mut stderr = Vec::new();
    let argv = std::iter::once("cmmv")
        .chain(args.iter().copied())
        .map(Into::into);
    let code = cmmv_compiler::cli::run_with(argv, &mut stdout, &mut stderr);
    (
        code,
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}
