//! IR -> OpenAPI 3.1: one document per API version, as JSON and as YAML.
//!
//! The IR is first turned into a typed model of the document (`model`), built by `document`
//! from schemas (`schema`) and the runtime's shared error responses (`problems`). Both files are
//! serialized straight from that model, JSON by `serde_json` and YAML by `yaml`'s serializer,
//! so the YAML says exactly what the JSON says without a JSON value tree in between.
//!
//! The documents promise what the runtime does: every status code an operation can answer
//! with, the problem body of every error, the headers on every response, and every constraint
//! the generated validation enforces.

mod document;
mod model;
mod problems;
mod schema;
mod yaml;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use crate::ir::Project;

use super::{GeneratedFile, header};

/// Options of the OpenAPI emitter.
#[derive(Debug, Clone, Default)]
pub struct OpenApiOptions {
    /// How generated files name their origin in the `@generated` marker, e.g. `contracts/`.
    pub origin: String,
}

/// One OpenAPI document per API version: `openapi/v1.json` and `openapi/v1.yaml`, ... A project
/// without operations serves no version and gets no document.
pub fn emit(project: &Project, options: &OpenApiOptions) -> Vec<GeneratedFile> {
    let marker = header("", &options.origin).trim().to_owned();
    let versions: Vec<u32> = project.versions().into_iter().collect();
    // Each version's document is independent of the others: build them side by side.
    let per_version: Vec<Vec<GeneratedFile>> = std::thread::scope(|scope| {
        let handles: Vec<_> = versions
            .iter()
            .map(|&version| {
                let marker = &marker;
                scope.spawn(move || version_files(project, version, marker, options))
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| match handle.join() {
                Ok(files) => files,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    per_version.into_iter().flatten().collect()
}

/// The JSON and YAML files of one version's document.
fn version_files(
    project: &Project,
    version: u32,
    marker: &str,
    options: &OpenApiOptions,
) -> Vec<GeneratedFile> {
    let (json, yaml) = {
        let document = document::build(project, version, marker.to_owned());
        // Both texts come straight from the typed model. The YAML writer follows serde's data
        // model as `serde_json` does, so the two files say the same thing in the same order.
        let mut json = Vec::with_capacity(TEXT_CAPACITY);
        serde_json::to_writer_pretty(&mut json, &document)
            .expect("the OpenAPI model serializes: its map keys are strings, its numbers finite");
        json.push(b'\n');
        let mut yaml = header("#", &options.origin);
        // The YAML runs to about three quarters of the JSON's length: reserving that much up
        // front spares the doubling growth's copies and its unused half.
        yaml.reserve(json.len() / 4 * 3);
        yaml::write(&mut yaml, &document)
            .expect("the OpenAPI model serializes: its map keys are strings");
        (json, yaml)
        // The document is dropped here, as soon as both texts exist.
    };
    let json = String::from_utf8(json).expect("serde_json writes UTF-8");
    vec![
        GeneratedFile {
            path: PathBuf::from(format!("openapi/v{version}.json")),
            contents: json,
        },
        GeneratedFile {
            path: PathBuf::from(format!("openapi/v{version}.yaml")),
            contents: yaml,
        },
    ]
}

/// The initial capacity of each text: enough for a small project without regrowing, and
/// small next to what a large one grows to.
const TEXT_CAPACITY: usize = 64 * 1024;
