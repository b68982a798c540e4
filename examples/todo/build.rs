//! Generates the API from the workspace's example contracts.

fn main() {
    cmmv_compiler::Builder::new()
        .contracts_dir("../../contracts")
        .locked(std::env::var_os("CI").is_some())
        .run();
}
