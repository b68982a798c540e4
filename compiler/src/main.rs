//! The `cmmv` binary: see `cmmv --help`.

fn main() {
    std::process::exit(cmmv_compiler::cli::run(std::env::args_os()));
}
