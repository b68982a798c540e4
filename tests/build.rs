//! Compiles the example contracts the way a user's crate would, so the integration tests can
//! check what a build script produces.

fn main() {
    cmmv_compiler::Builder::new()
        .contracts_dir("../contracts")
        .locked(std::env::var_os("CI").is_some())
        .run();
}
