use std::collections::BTreeMap;

use crate::diag::{Diagnostics, SourceMap, render_all};

const TWIN_YAML: &str = r#"
contract: Note
description: A short note.
auth: { roles: [writer] }
versions: [1, 2]
fields:
  id: { type: uuid, primary: true }
  text: { type: string, min_length: 1, max_length: 140 }
  mood: { type: enum, values: [calm, busy], default: calm }
  pinned_at: { type: datetime, optional: true }
  tags: { type: list<string>, max_items: 3, default: [] }
messages:
  Pin:
    fields:
      until: { type: datetime, nullable: true }
operations:
  pin:
    method: POST
    path: /{id}/pin
    request: Pin
    response: Note
    rate_limit: { limit: 5, per: 1m, key: user }
  search:
    method: GET
    path: /search
    query:
      q: { type: string, min_length: 2 }
      max_results: { type: int32, default: 10, maximum: 50 }
    response: list<Note>
    versions: [2]
"#;

const TWIN_ARGS: &str = r#"auth(roles = ["writer"]), versions = [1, 2]"#;

const TWIN_ITEM: &str = r#"
pub mod note {
    /// A short note.
    pub struct Note {
        #[field(primary)]
        pub id: Uuid,
        #[field(min_length = 1, max_length = 140)]
        pub text: String,
        #[field(values = [calm, busy], default = calm)]
        pub mood: NoteMood,
        pub pinned_at: Option<DateTime>,
        #[field(max_items = 3, default = [])]
        pub tags: Vec<String>,
    }

    #[message]
    pub struct Pin {
        #[field(nullable)]
        pub until: Option<DateTime>,
    }

    pub trait Operations {
        #[operation(method = "POST", path = "/{id}/pin", request = Pin, response = Note,
                    rate_limit(limit = 5, per = "1m", key = "user"))]
        fn pin();

        #[operation(
            method = "GET",
            path = "/search",
            query(q(type = String, min_length = 2), max_results(type = i32, default = 10, maximum = 50)),
            response = Vec<Note>,
            versions = [2],
        )]
        fn search();
    }
}
"#;

fn tokens(text: &str) -> proc_macro2::TokenStream {
    text.parse().unwrap_or_else(|e| panic!("tokens: {e}"))
}

/// The macro's expansion is the Rust emitter's output for the YAML twin, token for token:
/// there is no second code generator.
#[test]
fn the_expansion_is_what_the_rust_emitter_makes_of_the_yaml_twin() {
    let mut input = crate::Input::default();
    input.add_contract("note.yaml", TWIN_YAML);
    let (project, diags) = crate::lower_and_validate(&input);
    assert!(diags.is_empty(), "{:?}", diags.into_sorted());
    let contract = &project.contracts["Note"];
    let from_yaml = crate::emit::rust::emit_contract(&project, contract);
    let expanded = crate::expand::expand(tokens(TWIN_ARGS), tokens(TWIN_ITEM));
    let expected = quote::quote!(pub mod note { #from_yaml });
    assert_eq!(expanded.to_string(), expected.to_string());
}

/// The same item read from a file lowers to the same contract as the YAML twin (spans and
/// the source file aside).
#[test]
fn a_file_item_lowers_to_the_contract_of_its_yaml_twin() {
    let mut input = crate::Input::default();
    input.add_contract("note.yaml", TWIN_YAML);
    let (yaml, _) = crate::lower_and_validate(&input);
    let source = format!("#[cmmv::contract({TWIN_ARGS})]{TWIN_ITEM}");
    let mut input = crate::Input::default();
    input.add_rust_source("src/note.rs", source);
    let (rust, diags) = crate::lower_and_validate(&input);
    assert!(diags.is_empty(), "{:?}", diags.into_sorted());
    let strip = |project: &crate::ir::Project| {
        format!(
            "{:?}",
            project.contracts["Note"]
                .operations
                .keys()
                .collect::<Vec<_>>()
        )
    };
    assert_eq!(strip(&yaml), strip(&rust));
    let (y, r) = (&yaml.contracts["Note"], &rust.contracts["Note"]);
    assert_eq!(y.fields.len(), r.fields.len());
    for (a, b) in y.fields.iter().zip(&r.fields) {
        assert_eq!(
            (
                &a.name,
                &a.ty,
                a.optional,
                a.nullable,
                &a.default,
                &a.constraints
            ),
            (
                &b.name,
                &b.ty,
                b.optional,
                b.nullable,
                &b.default,
                &b.constraints
            )
        );
    }
    assert_eq!(
        (&y.auth, &y.path, &y.versions),
        (&r.auth, &r.path, &r.versions)
    );
    assert_eq!(
        y.enums.keys().collect::<Vec<_>>(),
        r.enums.keys().collect::<Vec<_>>()
    );
    assert_eq!(
        y.messages.keys().collect::<Vec<_>>(),
        r.messages.keys().collect::<Vec<_>>()
    );
}

/// In a file, diagnostics render like YAML ones: `file:line:col`, the line, an underline.
#[test]
fn file_diagnostics_point_at_line_and_column() {
    let text = "#[contract]\npub struct Note {\n    #[field(primary)]\n    pub id: Uuid,\n    #[field(mx_length = 3)]\n    pub text: String,\n}\n";
    let mut sources = SourceMap::new();
    let file = sources.add("src/note.rs", text);
    let mut diags = Diagnostics::new();
    let contracts = super::lower_file(file, text, &BTreeMap::new(), &mut diags);
    assert_eq!(contracts.len(), 1);
    let rendered = render_all(&diags.into_sorted(), &sources);
    assert!(rendered.contains(" --> src/note.rs:5:13\n"), "{rendered}");
    assert!(
        rendered.contains("5 |     #[field(mx_length = 3)]\n  |             ^^^^^^^^^ unknown key"),
        "{rendered}"
    );
    assert!(
        rendered.contains("did you mean `max_length`?"),
        "{rendered}"
    );
}

/// A broken item expands to one `compile_error!` per problem, all of them, and the stub.
#[test]
fn a_broken_item_expands_to_every_error_and_a_stub() {
    let item = "pub struct Note { #[field(primary)] pub id: Uuid, #[field(max_length = -1)] pub text: Strng, pub n: u32 }";
    let expanded = crate::expand::expand(proc_macro2::TokenStream::new(), tokens(item)).to_string();
    assert_eq!(expanded.matches("compile_error").count(), 3, "{expanded}");
    assert!(expanded.contains("unknown type `Strng`"), "{expanded}");
    assert!(
        expanded.contains("`u32` has no contract type"),
        "{expanded}"
    );
    assert!(expanded.contains("pub struct Note"), "{expanded}");
    assert!(expanded.contains(":: cmmv :: types :: Uuid"), "{expanded}");
    assert!(
        expanded.contains("pub text : ()"),
        "an unknown type is not reported again: {expanded}"
    );
    assert!(
        !expanded.contains("# [field"),
        "helper attributes are removed: {expanded}"
    );
}

/// The whole-crate compilation refuses what a single expansion would get wrong: a macro
/// contract using another contract's enum.
#[test]
fn a_macro_contract_cannot_use_another_contracts_enum() {
    let mut input = crate::Input::default();
    input.add_rust_source(
        "src/a.rs",
        "#[contract] pub mod a { pub struct Alert { #[field(primary)] pub id: Uuid, pub level: Level } pub enum Level { Low, High } }",
    );
    input.add_rust_source(
        "src/b.rs",
        "#[contract] pub mod b { use super::a::Level; pub struct Beacon { #[field(primary)] pub id: Uuid, pub level: Level } }",
    );
    let (_, diags) = crate::lower_and_validate(&input);
    let messages: Vec<String> = diags.into_sorted().into_iter().map(|d| d.message).collect();
    assert_eq!(
        messages,
        ["`Beacon` uses the enum `Level` of contract `Alert`"],
        "{messages:?}"
    );
}

/// Named rate-limit policies live in `cmmv.yaml`, which a macro cannot read: the expansion
/// accepts the names (they do not change it), the whole-crate compilation checks them.
#[test]
fn named_rate_limits_are_checked_by_the_whole_crate_not_the_macro() {
    let item = "pub struct Note { #[field(primary)] pub id: Uuid }";
    let expanded =
        crate::expand::expand(tokens(r#"rate_limit = "standard""#), tokens(item)).to_string();
    assert!(!expanded.contains("compile_error"), "{expanded}");

    let mut input = crate::Input::default();
    input.set_project(
        "cmmv.yaml",
        "rate_limits:\n  standard: { limit: 10, per: 1m }\n",
    );
    input.add_rust_source(
        "src/note.rs",
        format!("#[contract(rate_limit = \"standrd\")] {item}"),
    );
    let (_, diags) = crate::lower_and_validate(&input);
    let diags = diags.into_sorted();
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].message, "unknown rate-limit policy `standrd`");
    assert_eq!(diags[0].help.as_deref(), Some("did you mean `standard`?"));
}

/// A `ref` generates no Rust reference to its contract, so it needs no import; the
/// expansion takes it on trust and never mentions the other contract's type.
#[test]
fn a_reference_needs_no_import() {
    let item = "pub struct Task { #[field(primary)] pub id: Uuid, #[field(ref = Project, on_delete = cascade)] pub project_id: Uuid }";
    let expanded = crate::expand::expand(proc_macro2::TokenStream::new(), tokens(item)).to_string();
    assert!(!expanded.contains("compile_error"), "{expanded}");
    assert!(!expanded.contains("Project "), "{expanded}");
}

/// Hints that show YAML are given in Rust syntax for problems in Rust sources.
#[test]
fn hints_in_rust_sources_use_rust_syntax() {
    let mut input = crate::Input::default();
    input.add_rust_source(
        "src/note.rs",
        "#[contract] pub struct Note { pub text: String }",
    );
    let (_, diags) = crate::lower_and_validate(&input);
    let diags = diags.into_sorted();
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(
        diags[0].help.as_deref(),
        Some("add `#[field(primary)] pub id: Uuid` to the struct")
    );
}
