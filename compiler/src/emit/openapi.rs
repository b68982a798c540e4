//! IR -> OpenAPI 3.1 (being written in parallel; see the brief in the commit that adds it).

use crate::ir::Project;

use super::GeneratedFile;

/// Options of the OpenAPI emitter.
#[derive(Debug, Clone, Default)]
pub struct OpenApiOptions {
    /// How generated files name their origin in the `@generated` marker, e.g. `contracts/`.
    pub origin: String,
}

/// One OpenAPI document per API version: `openapi/v1.json` and `openapi/v1.yaml`, ...
pub fn emit(project: &Project, options: &OpenApiOptions) -> Vec<GeneratedFile> {
    let _ = (project, options);
    Vec::new()
}
