//! Broken contracts: every class of problem is reported, all in one run, each pointing at its
//! source with a snippet and (where one exists) a help line.

use cmmv_compiler::diag::render_all;
use cmmv_tests::{fixture, load_relative};

fn broken_fixture_report() -> String {
    let input = load_relative(&fixture("broken"));
    let analysis = cmmv_compiler::analyze(&input);
    assert!(analysis.diagnostics.has_errors());
    render_all(&analysis.diagnostics.into_sorted(), &input.sources)
}

#[test]
fn every_problem_of_the_broken_fixture_is_reported_in_one_run() {
    let report = broken_fixture_report();
    let expected = [
        // Syntax.
        "invalid YAML: while parsing a flow mapping",
        // Unknown keys, with suggestions.
        "unknown key `descripton` in a contract",
        "did you mean `description`?",
        "unknown key `max_item` in field `lines`",
        "did you mean `max_items`?",
        // Wrong value kinds.
        "expected `true` or `false`, found a string",
        "expected a number, found a string",
        "`limit` must be a positive integer",
        "invalid period `1 fortnight`",
        "unknown rate-limit key `cookie`",
        "`require` must be `any` or `all`",
        // Unknown types and references.
        "unknown type `strng`",
        "did you mean `string`?",
        "unknown type `OrderLine`",
        "unknown contract `Customer`",
        "unknown type `Coupon`",
        "unknown HTTP method `PUSH`",
        "unknown CRUD operation `craete`",
        "path parameter `carrier` is not declared",
        // Duplicates.
        "duplicate contract `Order`",
        "duplicate key `number`",
        "operation `get` clashes with the CRUD operation of that name",
        "`InvoiceInput` clashes with a generated name",
        // Routes served twice, across contracts and within one.
        "6 routes are served twice",
        "route `GET /v1/orders` is served twice",
        "route `GET /v1/orders/{id}` is served twice",
        // Impossible constraints.
        "`min_length` (10) is greater than `max_length` (5)",
        "invalid regular expression: unclosed group",
        "`minimum` (10) and `maximum` (1) leave no valid value",
        "`exclusive_minimum` (1) and `exclusive_maximum` (1) leave no valid value",
        "`min_items` (3) is greater than `max_items` (2)",
        "the default of `stock` is invalid: -1 is below `minimum`",
        "the default of `color` is invalid: expected one of `red`, `green`",
        "the default of `code` is invalid: `ABC` does not match `pattern`",
        "`min_length` does not apply to `weight` of type `float`",
        "`maximum` is outside the range of `int32`",
        // Names.
        "`self` cannot be a field name",
        "field name `Title` is not snake_case",
        "contract name `orderLine` is not PascalCase",
        "contract `orderLine` has no primary key",
        // Protobuf field numbers and names.
        "invalid protobuf field number",
        "both use number 7",
        "have the same protobuf JSON name `a1`",
        // Secrets (issue 15): refused options, and passwords stored in clear.
        "`unique` does not apply to a secret",
        "`default` does not apply to a secret",
        "`example` does not apply to a secret",
        "`read_only` does not apply to a secret",
        "a `secret` field cannot be filterable",
        "a `list<secret>` cannot hold secrets",
        "a parameter cannot be a `secret`",
        "a request body cannot be `Account`, which has a secret",
        "field `last_unlock` would store `Unlock` as JSON, with the secret `Unlock.pin` in it",
        "warning: `api_password` looks like a secret stored in clear",
    ];
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|e| !report.contains(e))
        .collect();
    assert!(
        missing.is_empty(),
        "missing diagnostics: {missing:#?}\n\n{report}"
    );
    // Every diagnostic, warnings too, points at a file, line and column.
    let headlines = report
        .lines()
        .filter(|l| l.starts_with("error: ") || l.starts_with("warning: "))
        .count();
    let locations = report
        .lines()
        .filter(|l| l.trim_start().starts_with("--> "))
        .count();
    assert_eq!(
        headlines,
        locations + 1,
        "one summary line, otherwise one location each"
    );
}

#[test]
fn rendered_diagnostics_match_the_snapshot() {
    insta::assert_snapshot!("broken_fixture", broken_fixture_report());
}

#[test]
fn a_rust_keyword_field_is_accepted_and_escaped_later() {
    // `type` is a Rust keyword that can be written `r#type`, so it is no error.
    let report = broken_fixture_report();
    assert!(!report.contains("`type`"), "{report}");
}
