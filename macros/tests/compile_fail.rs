//! Every class of `#[contract]` diagnostic, as rustc shows it: one case per class under
//! `tests/ui/`, with its `.stderr` snapshot (regenerate with `TRYBUILD=overwrite`).

#[test]
fn every_diagnostic_class_points_at_its_tokens() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
