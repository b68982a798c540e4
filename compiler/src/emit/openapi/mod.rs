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
mod texts;
mod writer;
mod yaml;

#[cfg(test)]
mod tests;

use std::path::PathBuf;

use crate::api::Api;

use self::writer::Writer;

use super::{GeneratedFile, header};

/// Options of the OpenAPI emitter.
#[derive(Debug, Clone, Default)]
pub struct OpenApiOptions {
    /// How generated files name their origin in the `@generated` marker, e.g. `contracts/`.
    pub origin: String,
    /// Whether the server answers protobuf too (the proto target is generated): request and
    /// success bodies then list `application/x-protobuf` and `application/protobuf` beside JSON.
    pub protobuf: bool,
}

/// One OpenAPI document per API version: `openapi/v1.json` and `openapi/v1.yaml`, ... A project
/// without operations serves no version and gets no document.
pub fn emit(api: &Api<'_>, options: &OpenApiOptions) -> Vec<GeneratedFile> {
    let marker = header("", &options.origin).trim().to_owned();
    let versions: Vec<u32> = api.versions.iter().copied().collect();
    // The YAML runs to about three quarters of the JSON's length. Both grow by doubling until
    // the document extrapolates its own size (`Writer::reserve_rest`).
    let mut writers: Vec<Writer> = versions
        .iter()
        .map(|_| {
            let mut yaml = header("#", &options.origin);
            yaml.reserve(TEXT_CAPACITY / 4 * 3);
            Writer::new(Vec::with_capacity(TEXT_CAPACITY), yaml)
        })
        .collect();
    // All versions in one pass, so that what they share is written once (see `document`).
    document::write(api, &versions, &marker, &mut writers, options.protobuf);
    versions
        .iter()
        .zip(writers)
        .flat_map(|(version, writer)| {
            let (json, yaml) = writer.finish();
            [
                GeneratedFile {
                    path: PathBuf::from(format!("openapi/v{version}.json")),
                    contents: json,
                },
                GeneratedFile {
                    path: PathBuf::from(format!("openapi/v{version}.yaml")),
                    contents: yaml,
                },
            ]
        })
        .collect()
}

/// The initial capacity of each text: enough for a small project without regrowing, and
/// small next to what a large one grows to.
const TEXT_CAPACITY: usize = 64 * 1024;
