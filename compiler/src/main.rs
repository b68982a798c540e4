//! The `cmmv` binary: see `cmmv --help`.

// The system allocator, deliberately: the emitters stream their output instead of building
// large trees, and with that the system allocator is as fast as mimalloc was in
// `cargo xtask bench` while returning large buffers to the OS at once, which keeps peak
// memory about a fifth lower. It is also what `build.rs` users of the `Builder` get.

fn main() {
    std::process::exit(cmmv_compiler::cli::run(std::env::args_os()));
}
