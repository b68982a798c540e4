//! IR -> proto3 (being written in parallel).

use crate::diag::Diagnostic;
use crate::ir::Project;
use crate::lock::Lock;
use crate::templates::Templates;

use super::GeneratedFile;

/// One `.proto` file per contract under `proto/`.
pub fn emit(
    project: &Project,
    lock: &Lock,
    templates: &Templates,
    sources: &crate::diag::SourceMap,
) -> Result<Vec<GeneratedFile>, Diagnostic> {
    let _ = (project, lock, templates, sources);
    Ok(Vec::new())
}
