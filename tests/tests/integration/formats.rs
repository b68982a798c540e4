//! The compiler checks contract defaults with the same format rules the runtime enforces on
//! requests. The two live in different crates (the compiler never depends on the runtime), so
//! this test keeps them in agreement.

use cmmv::validate::Format as RuntimeFormat;
use cmmv_compiler::ir::Format as CompilerFormat;

#[test]
fn compiler_and_runtime_agree_on_every_format() {
    let formats = [
        (CompilerFormat::Email, RuntimeFormat::Email),
        (CompilerFormat::Url, RuntimeFormat::Url),
        (CompilerFormat::Hostname, RuntimeFormat::Hostname),
        (CompilerFormat::Ipv4, RuntimeFormat::Ipv4),
        (CompilerFormat::Ipv6, RuntimeFormat::Ipv6),
    ];
    let samples = [
        "ada@example.com",
        "a@b",
        "a@b@c.d",
        "@example.com",
        "ada@.com",
        "ada @example.com",
        "https://example.com/x",
        "ftp://files",
        "1http://x",
        "example.com",
        "http://",
        "api.example.com",
        "-bad-.com",
        "a..b",
        "127.0.0.1",
        "256.0.0.1",
        "::1",
        "fe80::1%eth0",
        "",
    ];
    for (compiler, runtime) in formats {
        assert_eq!(compiler.name(), runtime.name());
        for sample in samples {
            assert_eq!(
                cmmv_compiler::validate::matches_format(compiler, sample),
                runtime.matches(sample),
                "{} disagrees on {sample:?}",
                compiler.name()
            );
        }
    }
}
