//! Compiling contracts from a `build.rs`.
//!
//! A build script talks to cargo through its stdout (`cargo:` lines) and reports failures on
//! stderr, so printing is this module's job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};

use crate::diag::{CompileError, Diagnostic, SourceMap, render_all};
use crate::output::{self, Mode};
use crate::{Compilation, LOCK_FILE, Options, Templates};

/// Compiles contracts from a build script: reads them, writes generated files to `OUT_DIR`,
/// writes the next SQL migration and updates the lock file next to the contracts, and prints
/// exact `cargo:rerun-if-changed` lines so that cargo reruns the script only when a contract, a
/// migration, a template in use or the lock file changes.
///
/// ```no_run
/// // build.rs
/// // build.rs: `fn main() { ... }` around this line.
/// cmmv_compiler::Builder::new().contracts_dir("contracts").run();
/// ```
#[derive(Debug, Clone, Default)]
pub struct Builder {
    contracts_dir: Option<PathBuf>,
    out_dir: Option<PathBuf>,
    templates_dir: Option<PathBuf>,
    locked: bool,
    allow_destructive: bool,
    skip_rerun_lines: bool,
    targets: crate::Targets,
    rust_sources: Vec<PathBuf>,
    breaking_base: Option<crate::diff::Base>,
}

/// What a build produced.
#[derive(Debug)]
pub struct BuildOutput {
    /// Where the generated files are.
    pub out_dir: PathBuf,
    pub compilation: Compilation,
}

impl Builder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The directory of the contracts, relative to the crate root (default `contracts`).
    ///
    /// ```no_run
    /// cmmv_compiler::Builder::new().contracts_dir("../contracts").run();
    /// ```
    pub fn contracts_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.contracts_dir = Some(dir.into());
        self
    }

    /// Where generated files go (default `$OUT_DIR/cmmv`).
    ///
    /// ```no_run
    /// let out = std::path::PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("api");
    /// cmmv_compiler::Builder::new().out_dir(out).run();
    /// ```
    pub fn out_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// A directory of templates replacing the built-in ones of the same name.
    ///
    /// ```no_run
    /// cmmv_compiler::Builder::new().templates_dir("templates").run();
    /// ```
    pub fn templates_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.templates_dir = Some(dir.into());
        self
    }

    /// Fail the build when the lock file would change or a migration is pending, instead of
    /// writing them (for CI).
    ///
    /// ```no_run
    /// let in_ci = std::env::var_os("CI").is_some();
    /// cmmv_compiler::Builder::new().locked(in_ci).run();
    /// ```
    pub fn locked(mut self, locked: bool) -> Self {
        self.locked = locked;
        self
    }

    /// Let the next migration lose data: drop tables or columns, narrow column types, make
    /// nullable columns NOT NULL (default `false`: such changes fail the build). Turn it on for
    /// the one build that writes the migration, then off again.
    ///
    /// ```no_run
    /// let allow = std::env::var_os("CMMV_ALLOW_DESTRUCTIVE").is_some();
    /// cmmv_compiler::Builder::new().allow_destructive(allow).run();
    /// ```
    pub fn allow_destructive(mut self, allow: bool) -> Self {
        self.allow_destructive = allow;
        self
    }

    /// Which outputs to generate (default: OpenAPI, proto and Rust).
    ///
    /// ```no_run
    /// let only_rust = cmmv_compiler::Targets { openapi: true, proto: false, rust: true };
    /// cmmv_compiler::Builder::new().targets(only_rust).run();
    /// ```
    pub fn targets(mut self, targets: crate::Targets) -> Self {
        self.targets = targets;
        self
    }

    /// Also compile the `#[contract]` items of the Rust files under `dir` (relative to the crate
    /// root; may be called more than once). The macros expand each contract's Rust; the build
    /// adds what needs the whole project: cross-contract checks, the field-number lock, the
    /// OpenAPI documents, proto files, SQL migrations and the `rust/mod.rs` tables (`OPENAPI`,
    /// `ROUTES`, `RATE_LIMITS`, `MIGRATIONS`). The contract directory then holds `cmmv.yaml`,
    /// `cmmv.lock` and `migrations/`, and may hold YAML contracts too.
    ///
    /// ```no_run
    /// cmmv_compiler::Builder::new().rust_sources("src").run();
    /// ```
    pub fn rust_sources(mut self, dir: impl Into<PathBuf>) -> Self {
        self.rust_sources.push(dir.into());
        self
    }

    /// Do not print `cargo:rerun-if-changed` lines (when calling the builder outside cargo).
    ///
    /// ```no_run
    /// cmmv_compiler::Builder::new().emit_rerun_if_changed(false).run();
    /// ```
    pub fn emit_rerun_if_changed(mut self, emit: bool) -> Self {
        self.skip_rerun_lines = !emit;
        self
    }

    /// Fails the build when the contracts break what `base` serves (`cmmv diff`'s check): a
    /// breaking REST change to a version `base` already serves, or a breaking protobuf change.
    /// A directory base is relative to the crate root; a revision is read with `git`.
    ///
    /// ```no_run
    /// use cmmv_compiler::diff::Base;
    /// cmmv_compiler::Builder::new()
    ///     .fail_on_breaking(Base::Revision("origin/main".into()))
    ///     .run();
    /// ```
    pub fn fail_on_breaking(mut self, base: crate::diff::Base) -> Self {
        self.breaking_base = Some(base);
        self
    }

    /// Compiles and writes; on failure returns every diagnostic.
    ///
    /// ```no_run
    /// match cmmv_compiler::Builder::new().compile() {
    ///     Ok(output) => println!("cargo:rustc-env=API_DIR={}", output.out_dir.display()),
    ///     Err(error) => panic!("{error}"),
    /// }
    /// ```
    pub fn compile(&self) -> Result<BuildOutput, CompileError> {
        let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
        let relative_to_crate = |p: &Path| match &manifest_dir {
            Some(root) if p.is_relative() => root.join(p),
            _ => p.to_path_buf(),
        };
        let dir = relative_to_crate(
            self.contracts_dir
                .as_deref()
                .unwrap_or_else(|| Path::new("contracts")),
        );
        let out_dir = match (&self.out_dir, std::env::var_os("OUT_DIR")) {
            (Some(dir), _) => dir.clone(),
            (None, Some(out)) => PathBuf::from(out).join("cmmv"),
            (None, None) => {
                return Err(simple_error(
                    "OUT_DIR is not set: run the builder from a build script or set `out_dir`",
                ));
            }
        };
        let templates = match &self.templates_dir {
            Some(t) => Templates::with_overrides(&relative_to_crate(t))
                .map_err(|e| simple_error(&e.to_string()))?,
            None => Templates::builtin(),
        };
        let rust_dirs: Vec<PathBuf> = self
            .rust_sources
            .iter()
            .map(|d| relative_to_crate(d))
            .collect();
        let input = crate::load_with_rust(&dir, &rust_dirs)?;
        if let Some(base) = &self.breaking_base {
            let base = match base {
                crate::diff::Base::Dir(old) => crate::diff::Base::Dir(relative_to_crate(old)),
                revision => revision.clone(),
            };
            let old = crate::diff::load_base(&base, &dir)?;
            let report = crate::diff::compare(&old, &input)?;
            if report.fails() {
                return Err(simple_error(&format!(
                    "the contracts break what is already served:\n{}",
                    report.render_text()
                )));
            }
        }
        let rerun_paths = Self::rerun_if_changed_paths(&dir, &input, &templates);
        // Generated files name their origin relative to the crate, never as an absolute path.
        let input = match &manifest_dir {
            Some(root) => input.relative_to(root),
            None => input,
        };
        if !self.skip_rerun_lines {
            for path in rerun_paths {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
        let options = Options {
            templates,
            locked: self.locked,
            targets: self.targets,
            allow_destructive: self.allow_destructive,
        };
        let compilation = crate::compile(&input, &options)?;
        for warning in &compilation.warnings {
            for line in warning.render(&compilation.sources).lines() {
                println!("cargo:warning={line}");
            }
        }
        output::write_files(
            &out_dir,
            &compilation.files,
            &self.targets.directories(),
            Mode::Write,
        )
        .and_then(|mut report| match &compilation.descriptor {
            Some(descriptor) => output::write_binary(
                &out_dir,
                Path::new(crate::emit::proto::DESCRIPTOR_PATH),
                descriptor,
                Mode::Write,
                &mut report,
            ),
            None => Ok(()),
        })
        .map_err(|e| simple_error(&format!("cannot write generated files: {e}")))?;
        // Scripts before the lock that records them (see `cmmv gen`).
        for file in &compilation.pending_migrations {
            output::write_if_changed(&dir.join(&file.path), file.contents.as_bytes())
                .map_err(|e| simple_error(&format!("cannot write a migration: {e}")))?;
        }
        if let Some(lock_text) = &compilation.lock_update {
            output::write_if_changed(&dir.join(LOCK_FILE), lock_text.as_bytes())
                .map_err(|e| simple_error(&format!("cannot write the lock file: {e}")))?;
        }
        Ok(BuildOutput {
            out_dir,
            compilation,
        })
    }

    /// The paths a build script must watch: the contract directory (so that adding a contract
    /// reruns it; cargo then compares the files inside, which are only contracts, the lock and
    /// migrations), the migrations directory when there is one, every contract, the project
    /// file, the lock file, every migration script and each template read from disk.
    pub fn rerun_if_changed_paths(
        dir: &Path,
        input: &crate::Input,
        templates: &Templates,
    ) -> Vec<PathBuf> {
        let mut paths = vec![dir.to_path_buf(), dir.join(LOCK_FILE)];
        // A path that does not exist would rerun the script on every build; until the first
        // migration creates it, watching the contract directory covers its creation.
        let migrations = dir.join(crate::sql::MIGRATIONS_DIR);
        if migrations.is_dir() {
            paths.push(migrations);
        }
        // Watching a source directory reruns the script on any edit under it: the one way a
        // new `#[contract]` in a new module is noticed. The script then only parses.
        paths.extend(input.rust_dirs.iter().cloned());
        paths.extend(input.files());
        paths.extend(templates.files_in_use().map(Path::to_path_buf));
        paths.sort();
        paths.dedup();
        paths
    }

    /// Compiles and writes; on failure prints every diagnostic and fails the build.
    ///
    /// ```no_run
    /// cmmv_compiler::Builder::new().run();
    /// ```
    pub fn run(&self) -> BuildOutput {
        match self.compile() {
            Ok(output) => output,
            Err(error) => {
                eprint!("{}", render_all(&error.diagnostics, &error.sources));
                std::process::exit(1);
            }
        }
    }
}

fn simple_error(message: &str) -> CompileError {
    CompileError {
        diagnostics: vec![Diagnostic::global(message)],
        sources: SourceMap::new(),
    }
}
