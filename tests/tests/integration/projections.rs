//! Every projection of a body tells the same story (issue 16): for every body of every
//! operation of the example, the twins and the projections fixture, the fields the generated
//! Rust accepts (request bodies) or serializes (responses), the properties of its OpenAPI
//! schema, and the fields of its proto message are one set.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use cmmv_tests::{example_contracts, fixture, load_relative, workspace_root};
use regex::Regex;
use serde_json::Value;

type Fields = BTreeSet<String>;

/// What each projection says of one body.
#[derive(Debug, Default)]
struct Projections {
    /// Rust: the keys its decoder accepts (`None` for a type the server never decodes).
    accepted: Option<Fields>,
    /// Rust: the fields its `Serialize` writes (those not skipped).
    serialized: Fields,
    /// OpenAPI: every property, and the write-only ones.
    properties: Fields,
    write_only: Fields,
    /// proto: the message's fields.
    proto: Option<Fields>,
}

fn strings(text: &str) -> Fields {
    let literal = Regex::new(r#""([a-z0-9_]+)""#).expect("a regex");
    literal
        .captures_iter(text)
        .map(|c| c[1].to_owned())
        .collect()
}

/// The generated Rust of every contract: per type, what it accepts and serializes.
fn rust_projections(
    files: &[cmmv_compiler::GeneratedFile],
    out: &mut BTreeMap<String, Projections>,
) {
    let decoder = Regex::new(
        r"(?s)impl ::cmmv::validate::FromJson for (\w+) \{.*?::cmmv::__private::object\(\s*value,\s*at,\s*&\[(.*?)\]",
    )
    .expect("a regex");
    let structure = Regex::new(r"(?s)pub struct (\w+) \{(.*?)\n\}").expect("a regex");
    let member = Regex::new(r"(?m)^    ((?:#\[[^\n]*\]\s*)*)pub (r#)?(\w+):").expect("a regex");
    for file in files.iter().filter(|f| f.path.starts_with("rust")) {
        for captures in decoder.captures_iter(&file.contents) {
            out.entry(captures[1].to_owned()).or_default().accepted = Some(strings(&captures[2]));
        }
        for captures in structure.captures_iter(&file.contents) {
            let serialized = member
                .captures_iter(&captures[2])
                .filter(|m| !m[1].contains("skip_serializing)"))
                .map(|m| m[3].to_owned())
                .collect();
            out.entry(captures[1].to_owned()).or_default().serialized = serialized;
        }
    }
}

fn openapi_projections(
    files: &[cmmv_compiler::GeneratedFile],
    out: &mut BTreeMap<String, Projections>,
) {
    for file in files.iter().filter(|f| {
        f.path.starts_with("openapi") && f.path.extension().is_some_and(|e| e == "json")
    }) {
        let document: Value = serde_json::from_str(&file.contents).expect("a JSON document");
        let schemas = document["components"]["schemas"]
            .as_object()
            .expect("schemas");
        for (name, schema) in schemas {
            let Some(properties) = schema["properties"].as_object() else {
                continue;
            };
            let projection = out.entry(name.clone()).or_default();
            projection.properties = properties.keys().cloned().collect();
            projection.write_only = properties
                .iter()
                .filter(|(_, p)| p["writeOnly"] == Value::Bool(true))
                .map(|(k, _)| k.clone())
                .collect();
        }
    }
}

fn proto_projections(
    files: &[cmmv_compiler::GeneratedFile],
    out: &mut BTreeMap<String, Projections>,
) {
    let message = Regex::new(r"(?ms)^message (\w+) \{\n(.*?)^\}").expect("a regex");
    let field =
        Regex::new(r"(?m)^  (?:optional |repeated )?[\w.<>, ]+ (\w+) = \d+").expect("a regex");
    for file in files.iter().filter(|f| f.path.starts_with("proto")) {
        for captures in message.captures_iter(&file.contents) {
            let fields = field
                .captures_iter(&captures[2])
                .map(|f| f[1].to_owned())
                .collect();
            out.entry(captures[1].to_owned()).or_default().proto = Some(fields);
        }
    }
}

fn compile(dir: &Path) -> cmmv_compiler::Compilation {
    let input = load_relative(dir);
    cmmv_compiler::compile(&input, &cmmv_compiler::Options::default())
        .unwrap_or_else(|e| panic!("{} compiles:\n{e}", dir.display()))
}

/// Checks every body the documents describe; returns how many were compared.
fn check_projections(dir: &Path) -> usize {
    let compilation = compile(dir);
    let mut bodies = BTreeMap::new();
    rust_projections(&compilation.files, &mut bodies);
    // A runtime module's Rust is the runtime's (generated from the same contract, held in
    // `runtime/src/auth/contract.rs`, checked by `modules.rs`); it has no proto projection.
    let modules: Vec<cmmv_compiler::GeneratedFile> = compilation
        .project
        .modules
        .iter()
        .map(|&module| cmmv_compiler::GeneratedFile {
            path: format!("rust/{}.rs", module.name()).into(),
            contents: cmmv_compiler::module_rust(module).expect("the module compiles"),
        })
        .collect();
    rust_projections(&modules, &mut bodies);
    openapi_projections(&compilation.files, &mut bodies);
    proto_projections(&compilation.files, &mut bodies);
    let mut compared = 0;
    for contract in compilation.project.contracts.values() {
        let names = [
            (contract.name.clone(), Role::Response),
            (format!("{}Input", contract.name), Role::Request),
            (format!("{}Patch", contract.name), Role::Request),
        ]
        .into_iter()
        .chain(
            contract
                .messages
                .keys()
                .map(|name| (name.clone(), Role::Message)),
        );
        for (name, role) in names {
            let Some(body) = bodies.get(&name) else {
                continue;
            };
            if body.properties.is_empty() && body.proto.is_none() {
                continue;
            }
            let proto = match (&body.proto, contract.provided_by) {
                (Some(proto), _) => proto.clone(),
                // Not projected to proto: compared with itself.
                (None, Some(_)) => body
                    .accepted
                    .clone()
                    .unwrap_or_else(|| body.serialized.clone()),
                (None, None) => panic!("{name}: no proto message"),
            };
            let documented: Fields = body
                .properties
                .difference(&body.write_only)
                .cloned()
                .collect();
            match role {
                Role::Response => {
                    // What a client reads: serialized, documented as not write-only, in proto.
                    assert_eq!(body.serialized, documented, "{name}: Rust vs OpenAPI");
                    assert_eq!(body.serialized, proto, "{name}: Rust vs proto");
                }
                Role::Request => {
                    let accepted = body
                        .accepted
                        .clone()
                        .unwrap_or_else(|| panic!("{name}: no decoder"));
                    assert_eq!(accepted, body.properties, "{name}: Rust vs OpenAPI");
                    assert_eq!(accepted, proto, "{name}: Rust vs proto");
                }
                Role::Message => {
                    // Messages are bodies both ways: accepted and written alike.
                    let accepted = body
                        .accepted
                        .clone()
                        .unwrap_or_else(|| panic!("{name}: no decoder"));
                    assert_eq!(accepted, body.properties, "{name}: Rust vs OpenAPI");
                    assert_eq!(
                        body.serialized, documented,
                        "{name}: Rust output vs OpenAPI"
                    );
                    assert_eq!(accepted, proto, "{name}: Rust vs proto");
                }
            }
            compared += 1;
        }
    }
    compared
}

#[derive(Debug, Clone, Copy)]
enum Role {
    Response,
    Request,
    Message,
}

#[test]
fn every_body_has_one_field_set_in_rust_openapi_and_proto() {
    let example = check_projections(&example_contracts());
    let twins = check_projections(&workspace_root().join("examples/twins/contracts"));
    let fixture_bodies = check_projections(&fixture("projections"));
    assert!(example >= 15, "{example} bodies of the example compared");
    assert!(twins >= 3, "{twins} bodies of the twins compared");
    assert!(
        fixture_bodies >= 5,
        "{fixture_bodies} bodies of the fixture compared"
    );
}

#[test]
fn a_patch_body_never_carries_the_key_in_any_projection() {
    // Issue 16's defect: the OpenAPI and proto `TagPatch` listed the client-chosen key, the
    // server's refused it with 422 `unknown_field`.
    let compilation = compile(&fixture("projections"));
    let mut bodies = BTreeMap::new();
    rust_projections(&compilation.files, &mut bodies);
    openapi_projections(&compilation.files, &mut bodies);
    proto_projections(&compilation.files, &mut bodies);
    let patch = &bodies["TagPatch"];
    let expected: Fields = ["label", "note", "aliases"].map(str::to_owned).into();
    assert_eq!(patch.accepted.as_ref(), Some(&expected));
    assert_eq!(patch.properties, expected);
    assert_eq!(patch.proto.as_ref(), Some(&expected));
    // The create body carries the key: the client chooses it.
    assert!(bodies["TagInput"].properties.contains("slug"));
}
