//! The compiler checks contract defaults with the rules the runtime decodes requests with.
//! Both take them from one crate (`cmmv-rules`), so they cannot drift: these tests hold the
//! compiler's verdict on a default to the runtime's verdict on the same text.

use cmmv::types::{Bytes, Date, DateTime, Decimal, Uuid};

/// The compiler and the runtime name one `Format` type: this compiles only if they do.
#[test]
fn compiler_and_runtime_share_one_format_definition() {
    fn same(format: cmmv_compiler::ir::Format) -> cmmv::validate::Format {
        format
    }
    for format in cmmv_compiler::ir::Format::ALL {
        assert_eq!(same(format).name(), format.name());
    }
}

/// Whether the compiler accepts `text` as the default of a field of `ty`.
fn compiler_accepts(ty: &str, text: &str) -> bool {
    let mut input = cmmv_compiler::Input::default();
    input.add_contract(
        "contracts/sample.yaml",
        format!(
            "contract: Sample\nfields:\n  id: {{ type: uuid, primary: true }}\n  value: {{ type: {ty}, default: {} }}\n",
            serde_json::Value::from(text)
        ),
    );
    !cmmv_compiler::analyze(&input).diagnostics.has_errors()
}

#[test]
fn compiler_and_runtime_agree_on_every_default_text() {
    let samples = [
        "0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69",
        "0190c3b17f7e7a9a8b1e2f1d3c4b5a69",
        "0190c3b1-7f7e-7a9a-8b1e",
        "2024-02-29",
        "2023-02-29",
        "2024-13-01",
        "2030-01-31T17:00:00Z",
        "2030-01-31T12:00:60Z",
        "2030-01-31t17:00:00.5+02:00",
        "2030-01-31 17:00",
        "-12.50",
        "12.",
        "1e5",
        "",
        "aGVsbG8=",
        "aGVsbG8",
        "a=bc",
    ];
    type Verdict = fn(&str) -> bool;
    let runtime: [(&str, Verdict); 5] = [
        ("uuid", |s| s.parse::<Uuid>().is_ok()),
        ("date", |s| s.parse::<Date>().is_ok()),
        ("datetime", |s| s.parse::<DateTime>().is_ok()),
        ("decimal", |s| s.parse::<Decimal>().is_ok()),
        ("bytes", |s| s.parse::<Bytes>().is_ok()),
    ];
    for (ty, accepts) in runtime {
        for sample in samples {
            assert_eq!(
                compiler_accepts(ty, sample),
                accepts(sample),
                "a `{ty}` default of {sample:?}"
            );
        }
    }
}
