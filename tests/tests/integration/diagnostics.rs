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

/// `tests/fixtures/bare_paths`: bare paths negotiated (`versioning: { strategies: [uri,
/// header] }`) with the login module mounted, and versioned contracts whose bare paths are or
/// hold paths served without a version.
fn bare_paths_report(project_text: Option<&str>) -> String {
    let mut input = load_relative(&fixture("bare_paths"));
    if let Some(text) = project_text {
        input.set_project("tests/fixtures/bare_paths/cmmv.yaml", text);
    }
    let analysis = cmmv_compiler::analyze(&input);
    render_all(&analysis.diagnostics.into_sorted(), &input.sources)
}

/// The rendered diagnostic whose headline contains `headline`, up to the next one.
fn diagnostic<'r>(report: &'r str, headline: &str) -> &'r str {
    let start = report
        .find(headline)
        .unwrap_or_else(|| panic!("no diagnostic `{headline}` in:\n{report}"));
    let rest = &report[start..];
    let end = rest.find("\nerror").unwrap_or(rest.len());
    &rest[..end]
}

#[test]
fn a_versioned_bare_path_keeps_clear_of_the_paths_served_without_a_version() {
    let report = bare_paths_report(None);
    // (headline, location, snippet, help)
    let expected = [
        (
            "the bare path `/health` of versioned contract `Probe` overlaps `/health`, which the runtime serves itself",
            "--> tests/fixtures/bare_paths/probe.yaml:2:11",
            "contract: Probe",
            "help: requests for `/health` would be taken for the contract's routes",
        ),
        (
            "the bare path `/auth/devices` of versioned contract `Device` overlaps `/auth`, where the login module (contract `Account`) is served",
            "--> tests/fixtures/bare_paths/device.yaml:2:11",
            "contract: Device",
            "help: requests for `/auth` would be taken for the versioned routes",
        ),
        (
            "the bare path `/hooks/logs` of versioned contract `HookLog` overlaps `/hooks`, where unversioned contract `Hook` is served",
            "--> tests/fixtures/bare_paths/hook_log.yaml:2:11",
            "contract: HookLog",
            "help: requests for `/hooks` would be taken for the versioned routes",
        ),
        // The runtime's index of the documents is its own, as the documents are.
        (
            "unversioned contract `Index` is served under `/openapi`, which the runtime serves itself",
            "--> tests/fixtures/bare_paths/index.yaml:2:11",
            "contract: Index",
            "help: choose another `path`",
        ),
    ];
    for (headline, location, snippet, help) in expected {
        let found = diagnostic(&report, headline);
        assert!(report.contains(&format!("error: {headline}")), "{report}");
        for part in [location, snippet, help] {
            assert!(found.contains(part), "no `{part}` in:\n{found}");
        }
        if headline.contains("bare path") {
            // The strategy that makes bare paths answer is shown too.
            assert!(
                found.contains("tests/fixtures/bare_paths/cmmv.yaml:6:3"),
                "{found}"
            );
        }
    }
    assert!(
        report.contains("could not compile contracts due to 4 previous errors"),
        "{report}"
    );
    // `/authors` is not below `/auth`.
    assert!(!report.contains("`Author`"), "{report}");
}

#[test]
fn without_bare_paths_versioned_contracts_may_share_prefixes_with_unversioned_paths() {
    let project =
        "api: { title: Bare paths }\nmodules: [login]\nversioning:\n  strategies: [uri]\n";
    let report = bare_paths_report(Some(project));
    assert!(!report.contains("bare path"), "{report}");
    // An unversioned contract under the runtime's paths is refused whatever the strategies.
    assert!(
        report.contains("unversioned contract `Index` is served under `/openapi`"),
        "{report}"
    );
    assert!(
        report.contains("could not compile contracts due to 1 previous error"),
        "{report}"
    );
}

/// Diagnostics of a contract set held in memory (`cmmv.yaml`, then contract files).
fn report_of(project: &str, contracts: &[(&str, &str)]) -> String {
    let mut input = cmmv_compiler::Input::default();
    input.set_project("contracts/cmmv.yaml", project);
    for (name, text) in contracts {
        input.add_contract(format!("contracts/{name}"), *text);
    }
    let analysis = cmmv_compiler::analyze(&input);
    render_all(&analysis.diagnostics.into_sorted(), &input.sources)
}

#[test]
fn a_sunset_or_a_link_needs_the_date_of_the_deprecation() {
    let task = r#"contract: Task
versions: [1, 2]
deprecated: { sunset: 2030-01-01 }
fields:
  id: { type: uuid, primary: true }
crud:
  get: {}
  delete: { deprecated: { link: 'https://example.com/changes' } }
  list: { deprecated: { since: 2026-01-01, sunset: 2030-01-01, link: 'https://example.com/changes' } }
"#;
    let project = "api: { title: T }\nversions:\n  1: { deprecated: { sunset: 2031-01-01 } }\n";
    let report = report_of(project, &[("task.yaml", task)]);
    for (headline, location, snippet) in [
        (
            "a deprecation with a `sunset` needs `since`",
            "--> contracts/task.yaml:3:23",
            "deprecated: { sunset: 2030-01-01 }",
        ),
        (
            "a deprecation with a `link` needs `since`",
            "--> contracts/task.yaml:8:33",
            "delete: { deprecated: { link:",
        ),
        (
            "a deprecation with a `sunset` needs `since`",
            "--> contracts/cmmv.yaml:3:30",
            "1: { deprecated: { sunset: 2031-01-01 } }",
        ),
    ] {
        let start = report
            .find(location)
            .unwrap_or_else(|| panic!("nothing at `{location}` in:\n{report}"));
        let before = &report[..start];
        let found = &report[before.rfind("error: ").unwrap_or(0)..];
        let found = &found[..found[1..].find("\nerror").map_or(found.len(), |e| e + 1)];
        assert!(found.starts_with(&format!("error: {headline}")), "{found}");
        assert!(found.contains(snippet), "{found}");
        assert!(
            found.contains("help: add `since: YYYY-MM-DD`"),
            "no help in:\n{found}"
        );
    }
    assert!(
        report.contains("could not compile contracts due to 3 previous errors"),
        "{report}"
    );

    // `since` alone, or no dates at all, still compile.
    let dated = r#"contract: Task
versions: [1, 2]
deprecated: { since: 2026-01-01 }
fields:
  id: { type: uuid, primary: true }
crud:
  get: { deprecated: true }
"#;
    let project = "api: { title: T }\nversions:\n  1: { deprecated: true }\n";
    let report = report_of(project, &[("task.yaml", dated)]);
    assert!(!report.contains("error"), "{report}");
}
