//! The CMMV contract compiler.
//!
//! Contracts (YAML files, or Rust types with `#[contract]`) are lowered to one IR, checked, and
//! turned into OpenAPI 3.1 documents and proto3 schemas (and, through the runtime crate `cmmv`,
//! axum services). Use it three ways:
//!
//! - the `cmmv` binary: `cmmv check contracts/`, `cmmv gen contracts/ --out generated/`;
//! - a build script, through [`Builder`];
//! - a library call, through [`load`] and [`compile`].
//!
//! ```no_run
//! let input = cmmv_compiler::load("contracts".as_ref()).expect("contracts load");
//! match cmmv_compiler::compile(&input, &cmmv_compiler::Options::default()) {
//!     Ok(compilation) => {
//!         for file in &compilation.files {
//!             println!("{}", file.path.display());
//!         }
//!     }
//!     Err(error) => eprintln!("{error}"),
//! }
//! ```

pub mod api;
pub mod cli;
pub mod diag;
pub mod diff;
pub mod emit;
pub mod expand;
pub mod ir;
pub mod output;

// The compiler's own stages: reached through `load`, `analyze` and `compile` (and the types
// re-exported below), not one by one.
mod builder;
mod frontend;
mod lock;
mod parallel;
pub mod scaffold;
mod sql;
mod templates;
mod validate;

use std::path::{Path, PathBuf};

pub use builder::Builder;
pub use diag::{CompileError, Diagnostic, SourceMap};
pub use emit::GeneratedFile;
pub use lock::Lock;
pub use sql::{Dialect, Migration};
pub use templates::Templates;

/// How many parser events a YAML text produces: the baseline of the compiler benchmark.
#[doc(hidden)]
pub use frontend::yaml::count_events;

use diag::{Diagnostics, FileId};

/// The name of the optional project file next to the contracts.
pub const PROJECT_FILE: &str = "cmmv.yaml";
/// The name of the field-number lock file next to the contracts.
pub const LOCK_FILE: &str = "cmmv.lock";

/// The sources of one compilation, read from disk (or built in memory by tests and macros).
#[derive(Debug, Clone, Default)]
pub struct Input {
    pub sources: SourceMap,
    /// Every contract file, sorted by path.
    pub contracts: Vec<FileId>,
    /// `cmmv.yaml`, when present.
    pub project: Option<FileId>,
    /// The lock file, when present.
    pub lock: Option<FileId>,
    /// The SQL migration scripts under `migrations/<dialect>/`, sorted by path.
    pub migrations: Vec<FileId>,
    /// The directory the contracts came from, as the user wrote it (for `@generated` markers).
    pub dir: PathBuf,
    /// Rust files that declare contracts with `#[contract]`, sorted by path.
    pub rust_sources: Vec<FileId>,
    /// The directories those files were read from (watched by build scripts).
    pub rust_dirs: Vec<PathBuf>,
    /// The contracts of the runtime's modules, shipped with the compiler; lowered when
    /// `cmmv.yaml` lists the module. Registered with the project file, so that diagnostics
    /// can show them.
    pub modules: Vec<(ir::Module, FileId)>,
}

impl Input {
    /// Adds a contract file held in memory.
    pub fn add_contract(&mut self, name: impl Into<PathBuf>, text: impl Into<String>) -> FileId {
        let id = self.sources.add(name, text);
        self.contracts.push(id);
        id
    }

    /// Sets the project file held in memory.
    pub fn set_project(&mut self, name: impl Into<PathBuf>, text: impl Into<String>) -> FileId {
        let id = self.sources.add(name, text);
        self.project = Some(id);
        if self.modules.is_empty() {
            for module in ir::Module::ALL {
                let file = self
                    .sources
                    .add(module.file_name(), module.contract_source());
                self.modules.push((module, file));
            }
        }
        id
    }

    /// Sets the lock file held in memory.
    pub fn set_lock(&mut self, name: impl Into<PathBuf>, text: impl Into<String>) -> FileId {
        let id = self.sources.add(name, text);
        self.lock = Some(id);
        id
    }

    /// Adds a migration script held in memory; `name` ends in
    /// `migrations/<dialect>/<NNNN_name>.sql`.
    pub fn add_migration(&mut self, name: impl Into<PathBuf>, text: impl Into<String>) -> FileId {
        let id = self.sources.add(name, text);
        self.migrations.push(id);
        id
    }

    /// Adds a Rust source held in memory; its `#[contract]` items are compiled with the rest.
    pub fn add_rust_source(&mut self, name: impl Into<PathBuf>, text: impl Into<String>) -> FileId {
        let id = self.sources.add(name, text);
        self.rust_sources.push(id);
        id
    }

    /// Reads every `.rs` file under `dir` (recursively, in path order) that may declare a
    /// contract with `#[contract]`.
    pub fn load_rust_sources(&mut self, dir: &Path) -> Result<(), CompileError> {
        let mut paths = Vec::new();
        rust_files(dir, &mut paths).map_err(|e| CompileError {
            diagnostics: vec![Diagnostic::global(format!(
                "cannot read Rust sources in `{}`: {e}",
                diag::display_path(dir)
            ))],
            sources: SourceMap::new(),
        })?;
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| CompileError {
                diagnostics: vec![Diagnostic::global(format!(
                    "cannot read `{}`: {e}",
                    diag::display_path(&path)
                ))],
                sources: SourceMap::new(),
            })?;
            if frontend::rust::may_declare_contracts(&text) {
                self.add_rust_source(path, text);
            }
        }
        self.rust_dirs.push(dir.to_path_buf());
        Ok(())
    }

    /// Shows every path relative to `base` (where it lies under it), so that `@generated`
    /// markers and diagnostics do not depend on where a checkout lives.
    pub fn relative_to(mut self, base: &Path) -> Self {
        let strip = |path: &Path| path.strip_prefix(base).unwrap_or(path).to_path_buf();
        let mut sources = SourceMap::new();
        // Ids stay as they were: files are re-added in id order.
        for (_, file) in self.sources.files() {
            sources.add(strip(&file.name), file.text.clone());
        }
        self.sources = sources;
        self.dir = strip(&self.dir);
        self.rust_dirs = self.rust_dirs.iter().map(|d| strip(d)).collect();
        self
    }

    /// Every file read from disk, for `cargo:rerun-if-changed`.
    pub fn files(&self) -> Vec<PathBuf> {
        self.sources
            .files()
            .filter(|(id, _)| !self.modules.iter().any(|(_, module)| module == id))
            .map(|(_, f)| f.name.clone())
            .collect()
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

/// Reads every `*.yaml` / `*.yml` contract in `dir`, plus `cmmv.yaml`, `cmmv.lock` and the
/// migration scripts under `dir/migrations/<dialect>/*.sql`.
pub fn load(dir: &Path) -> Result<Input, CompileError> {
    let io_error = |what: String| CompileError {
        diagnostics: vec![Diagnostic::global(what)],
        sources: SourceMap::new(),
    };
    let entries = std::fs::read_dir(dir).map_err(|e| {
        io_error(format!(
            "cannot read contract directory `{}`: {e}",
            diag::display_path(dir)
        ))
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut input = Input {
        dir: dir.to_path_buf(),
        ..Input::default()
    };
    for path in paths {
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let is_yaml = path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml");
        if file_name != LOCK_FILE && !is_yaml {
            continue;
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| io_error(format!("cannot read `{}`: {e}", diag::display_path(&path))))?;
        if file_name == LOCK_FILE {
            input.set_lock(path, text);
        } else if file_name == PROJECT_FILE || file_name == "cmmv.yml" {
            input.set_project(path, text);
        } else {
            input.add_contract(path, text);
        }
    }
    for dialect in sql::Dialect::ALL {
        let scripts = dir.join(sql::MIGRATIONS_DIR).join(dialect.dir_name());
        let mut paths: Vec<PathBuf> = match std::fs::read_dir(&scripts) {
            Ok(entries) => entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.is_file() && p.extension().is_some_and(|ext| ext == "sql"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => {
                return Err(io_error(format!(
                    "cannot read migration directory `{}`: {e}",
                    diag::display_path(&scripts)
                )));
            }
        };
        paths.sort();
        for path in paths {
            let text = std::fs::read_to_string(&path).map_err(|e| {
                io_error(format!("cannot read `{}`: {e}", diag::display_path(&path)))
            })?;
            input.add_migration(path, text);
        }
    }
    Ok(input)
}

/// Reads the contract directory (as [`load`]) and the `#[contract]` items of the Rust files
/// under each of `rust_dirs`. With Rust sources, the contract directory may be missing: it then
/// only names where `cmmv.lock` and `migrations/` go.
pub fn load_with_rust(dir: &Path, rust_dirs: &[PathBuf]) -> Result<Input, CompileError> {
    let mut input = if rust_dirs.is_empty() || dir.is_dir() {
        load(dir)?
    } else {
        Input {
            dir: dir.to_path_buf(),
            ..Input::default()
        }
    };
    for rust_dir in rust_dirs {
        input.load_rust_sources(rust_dir)?;
    }
    Ok(input)
}

/// Options of one compilation.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub templates: Templates,
    /// Fail when the lock file would change instead of updating it (like `cargo --locked`).
    pub locked: bool,
    /// Which outputs to generate.
    pub targets: Targets,
    /// Let a migration lose data (drop tables or columns, narrow types, make nullable columns
    /// NOT NULL) instead of refusing it (`cmmv gen --allow-destructive`).
    pub allow_destructive: bool,
}

/// The outputs a compilation generates. Each lives in its own directory of the output
/// (`openapi/`, `proto/`, `rust/`), so generating some never disturbs the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Targets {
    pub openapi: bool,
    pub proto: bool,
    pub rust: bool,
}

impl Default for Targets {
    fn default() -> Self {
        Self {
            openapi: true,
            proto: true,
            rust: true,
        }
    }
}

impl Targets {
    /// Parses a comma-separated list such as `openapi,proto`.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut targets = Targets {
            openapi: false,
            proto: false,
            rust: false,
        };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            match name {
                "openapi" => targets.openapi = true,
                "proto" => targets.proto = true,
                "rust" => targets.rust = true,
                other => {
                    return Err(format!(
                        "unknown output `{other}`; expected openapi, proto or rust"
                    ));
                }
            }
        }
        Ok(targets)
    }

    /// The output directories of the selected targets: only files under them are this
    /// compilation's to write or remove.
    pub fn directories(&self) -> Vec<&'static str> {
        [
            (self.openapi, "openapi"),
            (self.proto, "proto"),
            (self.rust, "rust"),
        ]
        .into_iter()
        .filter_map(|(on, dir)| on.then_some(dir))
        .collect()
    }
}

/// The result of a successful compilation. Nothing has been written yet.
#[derive(Debug, Clone)]
pub struct Compilation {
    pub project: ir::Project,
    /// The lock file as it must be after this compilation.
    pub lock: Lock,
    /// The lock file's new text, when it differs from the one read.
    pub lock_update: Option<String>,
    /// Every generated file, sorted by path.
    pub files: Vec<GeneratedFile>,
    /// The proto files compiled into an encoded `FileDescriptorSet`, to write at
    /// [`emit::proto::DESCRIPTOR_PATH`] (binary, so not among `files`); `None` without the proto
    /// target.
    pub descriptor: Option<Vec<u8>>,
    /// Every SQL migration in version order: the recorded ones, then the pending one.
    pub migrations: Vec<Migration>,
    /// The pending migration's scripts, to write next to the contracts (paths relative to the
    /// contract directory, `migrations/sqlite/0002_....sql`); empty when the schema did not
    /// change.
    pub pending_migrations: Vec<GeneratedFile>,
    /// What the pending migration changes, one line per change.
    pub schema_changes: Vec<String>,
    /// Warnings, with the sources to render them.
    pub warnings: Vec<Diagnostic>,
    pub sources: SourceMap,
}

/// Everything known about the contracts before emitting: the IR, the field numbers, and every
/// diagnostic found on the way.
#[derive(Debug)]
pub struct Analysis {
    pub project: ir::Project,
    /// The lock as it must be after this compilation.
    pub lock: Lock,
    /// The lock file's text, when it differs from the one read (or none was read).
    pub lock_update: Option<String>,
    /// Every SQL migration in version order: the recorded ones, then the pending one.
    pub migrations: Vec<Migration>,
    /// The pending migration's scripts (paths relative to the contract directory).
    pub pending_migrations: Vec<GeneratedFile>,
    /// What the pending migration changes, one line per change.
    pub schema_changes: Vec<String>,
    pub diagnostics: Diagnostics,
}

impl Analysis {
    /// The migration this compilation adds, if any.
    pub fn pending_migration(&self) -> Option<&Migration> {
        pending_migration(&self.migrations, &self.pending_migrations)
    }
}

impl Compilation {
    /// The migration this compilation adds, if any.
    pub fn pending_migration(&self) -> Option<&Migration> {
        pending_migration(&self.migrations, &self.pending_migrations)
    }
}

fn pending_migration<'m>(
    migrations: &'m [Migration],
    pending: &[GeneratedFile],
) -> Option<&'m Migration> {
    migrations.last().filter(|_| !pending.is_empty())
}

/// [`analyze_with`] with the default options.
pub fn analyze(input: &Input) -> Analysis {
    analyze_with(input, &Options::default())
}

/// Parses, lowers and validates every contract, numbers their fields through the lock file and
/// plans the next SQL migration, collecting every diagnostic. Does no IO.
pub fn analyze_with(input: &Input, options: &Options) -> Analysis {
    let (project, mut diags) = lower_and_validate(input);
    let contracts_ok = !diags.has_errors();

    // Numbering runs even when other checks failed: its problems (collisions, reused numbers)
    // are independent of theirs, and a user fixes them all in one round.
    let lock_file = input.lock.and_then(|id| Some((id, input.sources.get(id)?)));
    let previous = lock_file.and_then(|(id, file)| match lock::parse(id, &file.text) {
        Ok(lock) => Some(lock),
        Err(diagnostic) => {
            diags.push(diagnostic);
            None
        }
    });
    // Field numbering and the migration plan both start from the contracts and the previous
    // lock, and neither needs the other: they run side by side.
    let ((mut lock, lock_diags), plan) = parallel::join(
        || lock::assign(&project, previous.as_ref()),
        || {
            sql::plan(
                &project,
                input,
                previous
                    .as_ref()
                    .map_or_else(sql::Recorded::default, |lock| sql::Recorded {
                        migrations: &lock.migrations,
                        schema: lock.schema.as_ref(),
                    }),
                sql::PlanOptions {
                    allow_destructive: options.allow_destructive,
                    compare: contracts_ok,
                },
            )
        },
    );
    diags.extend(lock_diags);
    diags.extend(plan.diagnostics);
    lock.migrations = plan.records;
    lock.schema = plan.schema;
    let lock_text = lock::render(&lock);
    let lock_update = lock_file
        .is_none_or(|(_, file)| file.text != lock_text)
        .then_some(lock_text);
    Analysis {
        project,
        lock,
        lock_update,
        migrations: plan.migrations,
        pending_migrations: plan.pending_files,
        schema_changes: plan.changes,
        diagnostics: diags,
    }
}

/// [`lower`], then every check on the model ([`validate`]): what `cmmv check` reports but for
/// field numbering and the migration plan. Hints of problems in Rust sources are worded in
/// Rust syntax. Does no IO.
pub fn lower_and_validate(input: &Input) -> (ir::Project, Diagnostics) {
    let (project, mut diags) = lower(input);
    validate::validate(&project, &mut diags);
    if !input.rust_sources.is_empty() {
        validate::check_macro_contracts(&project, &input.sources, &mut diags);
        // Hints of problems found in Rust sources, in Rust syntax.
        let in_rust = |d: &Diagnostic| {
            d.primary_span()
                .is_some_and(|span| input.rust_sources.contains(&span.file))
        };
        let mut worded = Diagnostics::new();
        worded.extend(diags.into_iter().map(|d| {
            if in_rust(&d) {
                frontend::rust::in_rust_syntax(d)
            } else {
                d
            }
        }));
        diags = worded;
    }
    (project, diags)
}

/// Parses and lowers every contract file and `#[contract]` item into one project, collecting
/// every diagnostic of the contract format. Only lowering: the checks that need the model
/// are [`validate`]'s ([`lower_and_validate`] runs both). Does no IO.
pub fn lower(input: &Input) -> (ir::Project, Diagnostics) {
    let mut diags = Diagnostics::new();
    let mut project = match input
        .project
        .and_then(|id| Some((id, input.sources.get(id)?)))
    {
        Some((id, file)) => frontend::yaml::lower_project_file(id, &file.text, &mut diags),
        None => ir::Project::default(),
    };
    // Each file lowers on its own, so the files are lowered on both cores; their diagnostics
    // are merged in file order, so nothing depends on the threads.
    let named_limits = &project.rate_limits;
    let lowered = parallel::map(&input.contracts, |&id| {
        let file = input.sources.get(id)?;
        let mut file_diags = Diagnostics::new();
        let contract = frontend::yaml::lower_file(id, &file.text, named_limits, &mut file_diags);
        Some((contract, file_diags))
    });
    // `#[contract]` items of Rust sources lower through the same tree and checks.
    let from_rust = input.rust_sources.iter().filter_map(|&id| {
        let file = input.sources.get(id)?;
        let mut file_diags = Diagnostics::new();
        let contracts = frontend::rust::lower_file(id, &file.text, named_limits, &mut file_diags);
        Some((contracts, file_diags))
    });
    // The modules' contracts lower like any other, then are marked as the runtime's.
    let modules = input
        .modules
        .iter()
        .filter(|(module, _)| project.modules.contains(module))
        .filter_map(|&(module, id)| {
            let file = input.sources.get(id)?;
            let mut file_diags = Diagnostics::new();
            let contract =
                frontend::yaml::lower_file(id, &file.text, named_limits, &mut file_diags).map(
                    |mut contract| {
                        contract.provided_by = Some(module);
                        contract
                    },
                );
            Some((contract, file_diags))
        })
        .collect::<Vec<_>>();
    let from_yaml = lowered
        .into_iter()
        .flatten()
        .chain(modules)
        .map(|(contract, file_diags)| (contract.into_iter().collect::<Vec<_>>(), file_diags));
    let mut first_spans: std::collections::BTreeMap<String, diag::Span> = Default::default();
    let mut any_contract = false;
    for (contracts, file_diags) in from_yaml.chain(from_rust.collect::<Vec<_>>()) {
        diags.extend(file_diags);
        for contract in contracts {
            any_contract = true;
            add_contract(&mut project, contract, &mut first_spans, &mut diags);
        }
    }
    if input.contracts.is_empty() && !any_contract {
        diags.push(
            Diagnostic::global(format!(
                "no contracts found in `{}`",
                diag::display_path(&input.dir)
            ))
            .with_help("contract files end in `.yaml`; each starts with `contract: Name`"),
        );
    }
    project.spread_unversioned();
    project.index_types();
    (project, diags)
}

/// Adds a lowered contract to the project, unless another of that name came first.
fn add_contract(
    project: &mut ir::Project,
    contract: ir::Contract,
    first_spans: &mut std::collections::BTreeMap<String, diag::Span>,
    diags: &mut Diagnostics,
) {
    if let Some(first) = first_spans.get(&contract.name) {
        diags.push(
            Diagnostic::error(
                contract.span,
                format!("duplicate contract `{}`", contract.name),
            )
            .with_label("declared again here")
            .with_secondary(*first, "first declared here")
            .with_help("contract names are unique across the project; rename one of them"),
        );
        return;
    }
    first_spans.insert(contract.name.clone(), contract.span);
    project.contracts.insert(contract.name.clone(), contract);
}

/// The Rust a runtime module is written against: its contract (shipped with the compiler,
/// `modules/<name>.yaml`) compiled as a project's would be, without a repository. The runtime
/// holds this text (`runtime/src/auth/contract.rs` for `login`), and a test compares the two,
/// so that the module serves exactly what the documents say of it. Does no IO.
pub fn module_rust(module: ir::Module) -> Result<String, CompileError> {
    let mut input = Input::default();
    input.set_project(PROJECT_FILE, format!("modules: [{}]\n", module.name()));
    let (project, diags) = lower_and_validate(&input);
    let failed = |diagnostics: Vec<Diagnostic>| CompileError {
        diagnostics,
        sources: input.sources.clone(),
    };
    if diags.has_errors() {
        return Err(failed(diags.into_sorted()));
    }
    let api = api::Api::resolve(&project);
    let file = emit::rust::emit_module(&api, module).ok_or_else(|| {
        failed(vec![Diagnostic::global(format!(
            "module `{}` declares no contract",
            module.name()
        ))])
    })?;
    let mut formatted = output::format_rust_files(&[file]);
    Ok(formatted.remove(0).contents)
}

/// Runs the whole pipeline: analyze, then emit. Does no IO.
pub fn compile(input: &Input, options: &Options) -> Result<Compilation, CompileError> {
    let analysis = analyze_with(input, options);
    let locked_out_migration =
        analysis
            .pending_migration()
            .filter(|_| options.locked)
            .map(|pending| {
                Diagnostic::global(format!(
                    "migration `{}` is pending but `--locked` was passed",
                    pending.file_stem()
                ))
                .with_help(format!(
                    "run `cmmv gen` without `--locked` and commit `{}` and the lock file",
                    diag::display_path(&input.dir.join(sql::MIGRATIONS_DIR))
                ))
            });
    let Analysis {
        project,
        lock,
        lock_update,
        migrations,
        pending_migrations,
        schema_changes,
        diagnostics: mut diags,
    } = analysis;
    diags.extend(locked_out_migration);
    if lock_update.is_some() && options.locked {
        let lock_name = input.dir.join(LOCK_FILE);
        diags.push(
            Diagnostic::global(format!(
                "`{}` needs to be updated but `--locked` was passed",
                diag::display_path(&lock_name)
            ))
            .with_help("run `cmmv gen` without `--locked` and commit the lock file"),
        );
    }
    let failed = |diags: Diagnostics| CompileError {
        diagnostics: diags.into_sorted(),
        sources: input.sources.clone(),
    };
    if diags.has_errors() {
        return Err(failed(diags));
    }

    // Every emitter reads the one resolved model: what their projections share is decided once.
    let api = api::Api::resolve(&project);
    let origin = format!("{}/", diag::display_path(&input.dir).trim_end_matches('/'));
    // The emitters are pure and independent, so they run side by side.
    let openapi_options = emit::openapi::OpenApiOptions {
        origin: origin.clone(),
        protobuf: options.targets.proto,
    };
    let targets = options.targets;
    let openapi = || {
        if targets.openapi {
            emit::openapi::emit(&api, &openapi_options)
        } else {
            Vec::new()
        }
    };
    let proto = if targets.proto {
        match emit::proto::ProtoEmitter::new(&api, &lock, &options.templates, &input.sources) {
            Ok(emitter) => Some(emitter),
            Err(diagnostic) => {
                diags.push(diagnostic);
                return Err(failed(diags));
            }
        }
    } else {
        None
    };
    let (openapi, rust, protos) = std::thread::scope(|scope| {
        let rust = scope.spawn(|| {
            if targets.rust {
                output::format_rust_files(&emit::rust::emit(
                    &api,
                    &migrations,
                    &input.sources,
                    &origin,
                    targets.proto,
                ))
            } else {
                Vec::new()
            }
        });
        // The OpenAPI documents are one job and the proto files a thousand small ones: the
        // proto files are shared out between this thread and the documents' once those are
        // written, so that neither core idles while the other finishes.
        let (openapi, protos) = match &proto {
            Some(emitter) => {
                let (openapi, files) =
                    parallel::alongside(openapi, &emitter.contracts(), |contract| {
                        emitter.file(contract)
                    });
                (openapi, emit::proto::finish(files))
            }
            None => (openapi(), Ok(Vec::new())),
        };
        (openapi, rust.join(), protos)
    });
    let mut files = openapi;
    match rust {
        Ok(emitted) => files.extend(emitted),
        Err(panic) => std::panic::resume_unwind(panic),
    }
    let descriptor = match protos {
        Ok(protos) if targets.proto => {
            let descriptor = match emit::proto::descriptor_set(&protos) {
                Ok(descriptor) => descriptor,
                Err(problem) => {
                    diags.push(problem);
                    return Err(failed(diags));
                }
            };
            files.extend(protos);
            Some(descriptor)
        }
        Ok(_) => None,
        Err(problems) => {
            diags.extend(problems);
            return Err(failed(diags));
        }
    };
    files.sort();
    Ok(Compilation {
        project,
        lock,
        lock_update,
        files,
        descriptor,
        migrations,
        pending_migrations,
        schema_changes,
        warnings: diags.into_sorted(),
        sources: input.sources.clone(),
    })
}
