//! IR -> OpenAPI 3.1: one document per API version, as JSON and as YAML.
//!
//! The IR is first turned into a typed model of the document (`model`), built by `document`
//! from schemas (`schema`) and the runtime's shared error responses (`problems`). The model is
//! serialized once to a JSON value; both files are rendered from that value, so the YAML says
//! exactly what the JSON says.
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
    let value = {
        let document = document::build(project, version, marker.to_owned());
        serde_json::to_value(&document)
            .expect("the OpenAPI model serializes: its map keys are strings, its numbers finite")
    };
    let json = serde_json::to_string_pretty(&value).expect("a JSON value always serializes");
    vec![
        GeneratedFile {
            path: PathBuf::from(format!("openapi/v{version}.json")),
            contents: json + "\n",
        },
        GeneratedFile {
            path: PathBuf::from(format!("openapi/v{version}.yaml")),
            contents: header("#", &options.origin) + &yaml::to_string(&value),
        },
    ]
}
