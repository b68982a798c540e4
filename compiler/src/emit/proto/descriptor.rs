//! The emitted `.proto` files compiled into one `FileDescriptorSet` (`proto/descriptor.binpb`),
//! with every import (the well-known types included): what the runtime decodes and encodes
//! protobuf bodies and gRPC messages with, and what gRPC reflection serves. It is built from the
//! very text written to `proto/`, so the served messages and the published files cannot differ.
//!
//! protox is a protobuf compiler in Rust: no `protoc` has to be installed to build a service.

use std::collections::BTreeMap;

use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};

use crate::diag::Diagnostic;

use super::GeneratedFile;

/// Where the descriptor set is written, relative to the output directory.
pub const DESCRIPTOR_PATH: &str = "proto/descriptor.binpb";

/// The emitted files by import name (`note.proto`), as protoc would find them with `proto/` as
/// its include root.
struct Emitted(BTreeMap<String, String>);

impl FileResolver for Emitted {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        match self.0.get(name) {
            Some(source) => File::from_source(name, source),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// Compiles the proto files among `files` into an encoded `FileDescriptorSet`. A failure is
/// a defect of the emitter (validation refuses every contract protoc would), reported as such.
pub fn descriptor_set(files: &[GeneratedFile]) -> Result<Vec<u8>, Diagnostic> {
    let emitted: BTreeMap<String, String> = files
        .iter()
        .filter_map(|file| {
            let name = file.path.strip_prefix("proto").ok()?.to_str()?;
            name.ends_with(".proto")
                .then(|| (name.replace('\\', "/"), file.contents.clone()))
        })
        .collect();
    let names: Vec<String> = emitted.keys().cloned().collect();
    let mut resolver = ChainFileResolver::new();
    resolver.add(Emitted(emitted));
    resolver.add(GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(resolver);
    compiler.include_imports(true).include_source_info(false);
    compiler.open_files(&names).map_err(|error| {
        Diagnostic::global(format!("the generated proto files do not compile: {error}")).with_help(
            "this is a defect of cmmv, not of the contracts: please report it with the contracts",
        )
    })?;
    Ok(compiler.encode_file_descriptor_set())
}
