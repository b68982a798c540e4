//! Compiles `contracts/` into the API's Rust, OpenAPI documents, proto files and migrations
//! (into `OUT_DIR`; the lock file and new migrations into `contracts/`). In CI the lock must
//! already be up to date: run `cargo build` locally and commit what it writes.

fn main() {
    cmmv_compiler::Builder::new()
        .contracts_dir("contracts")
        .locked(std::env::var_os("CI").is_some())
        .run();
}
