//! Compiles the YAML twin completely (types, routes, tables, documents) and, for the macro
//! twin, what needs the whole project: its OpenAPI, proto and `rust/mod.rs` tables. The macro
//! twin's types and routes come from its `#[contract]` expansion.

use std::path::PathBuf;

fn main() {
    let out = std::env::var_os("OUT_DIR")
        .map(PathBuf::from)
        .unwrap_or_default();
    let locked = std::env::var_os("CI").is_some();
    cmmv_compiler::Builder::new()
        .contracts_dir("contracts")
        .out_dir(out.join("yaml"))
        .locked(locked)
        .run();
    cmmv_compiler::Builder::new()
        .contracts_dir("macro-contracts")
        .rust_sources("src/macro_twin")
        .out_dir(out.join("macro"))
        .locked(locked)
        .run();
}
