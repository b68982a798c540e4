//! The `cmmv` binary: see `cmmv --help`.

// Code generation builds and drops large trees of small allocations; mimalloc handles that
// pattern markedly faster than the system allocator (see `cargo xtask bench`). Only the binary
// sets it: the library leaves the choice of allocator to the crates that use it.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(cmmv_compiler::cli::run(std::env::args_os()));
}
