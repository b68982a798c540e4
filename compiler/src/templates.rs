//! Templates of the text emitters: built into the binary, overridable from a directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The built-in templates, by file name.
const BUILTIN: &[(&str, &str)] = &[(
    "proto.proto.j2",
    include_str!("../../templates/proto.proto.j2"),
)];

/// The templates of one compilation, already read into memory so emitters stay pure.
#[derive(Debug, Clone, Default)]
pub struct Templates {
    overrides: BTreeMap<String, (PathBuf, String)>,
}

impl Templates {
    /// The built-in templates only.
    pub fn builtin() -> Self {
        Self::default()
    }

    /// Built-in templates, each replaced by the file of the same name in `dir` when it exists.
    pub fn with_overrides(dir: &Path) -> std::io::Result<Self> {
        if !dir.is_dir() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("template directory {} does not exist", dir.display()),
            ));
        }
        let mut overrides = BTreeMap::new();
        for (name, _) in BUILTIN {
            let path = dir.join(name);
            if path.is_file() {
                let text = std::fs::read_to_string(&path)?;
                overrides.insert((*name).to_owned(), (path, text));
            }
        }
        Ok(Self { overrides })
    }

    /// The source of the template `name` (e.g. `proto.proto.j2`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.overrides
            .get(name)
            .map(|(_, text)| text.as_str())
            .or_else(|| BUILTIN.iter().find(|(n, _)| *n == name).map(|(_, t)| *t))
    }

    /// Files on disk that the compilation reads templates from (for `rerun-if-changed`).
    pub fn files_in_use(&self) -> impl Iterator<Item = &Path> {
        self.overrides.values().map(|(path, _)| path.as_path())
    }

    /// Names of every built-in template, for `--templates` documentation and checks.
    pub fn names() -> impl Iterator<Item = &'static str> {
        BUILTIN.iter().map(|(name, _)| *name)
    }
}
