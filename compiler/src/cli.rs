//! The `cmmv` command line.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use crate::diag::{display_path, render_all};
use crate::output::{self, Mode};
use crate::{Options, Templates};

#[derive(Debug, Parser)]
#[command(name = "cmmv", version, about = "Compile API contracts into OpenAPI 3.1 and proto3", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check contracts and report every problem; writes nothing.
    Check {
        /// The directory holding the contracts (`*.yaml`, `cmmv.yaml`, `cmmv.lock`).
        #[arg(default_value = "contracts")]
        dir: PathBuf,
        /// Accept schema changes that lose data instead of reporting them as errors.
        #[arg(long)]
        allow_destructive: bool,
        /// Also compile the `#[contract]` items of the Rust files under DIR (repeatable).
        #[arg(long, value_name = "DIR")]
        rust: Vec<PathBuf>,
    },
    /// Generate OpenAPI documents, proto files and Rust; write the next SQL migration when the
    /// schema changed, and update the lock file.
    Gen {
        /// The directory holding the contracts.
        #[arg(default_value = "contracts")]
        dir: PathBuf,
        /// Where to write generated files.
        #[arg(long, short, default_value = "generated")]
        out: PathBuf,
        /// Write nothing; exit 1 and name each file that is out of date.
        #[arg(long)]
        check: bool,
        /// A directory of templates that replace the built-in ones of the same name.
        #[arg(long, value_name = "DIR")]
        templates: Option<PathBuf>,
        /// Fail instead of updating the lock file.
        #[arg(long)]
        locked: bool,
        /// Generate only these outputs: a comma-separated list of openapi, proto, rust.
        #[arg(long, value_name = "LIST", value_parser = crate::Targets::parse, default_value = "openapi,proto,rust")]
        only: crate::Targets,
        /// Let the new migration drop tables or columns, narrow types or make nullable columns
        /// NOT NULL.
        #[arg(long)]
        allow_destructive: bool,
        /// Also compile the `#[contract]` items of the Rust files under DIR (repeatable).
        #[arg(long, value_name = "DIR")]
        rust: Vec<PathBuf>,
    },
    /// Create a service crate: contracts, build script, app, HTTP test, Dockerfile, Kubernetes
    /// manifests, docker-compose file and CI workflow.
    New {
        /// The directory to create; its last component names the crate.
        path: PathBuf,
        /// Settings and manifests for PostgreSQL rather than a SQLite file.
        #[arg(long)]
        postgres: bool,
        /// Settings and manifests for Redis (the shared rate limiter).
        #[arg(long)]
        redis: bool,
        /// Depend on the CMMV crates of this checkout (its `runtime/` and `compiler/`) by path;
        /// by default, on the checkout this `cmmv` was built from when it is still there, else
        /// on registry versions.
        #[arg(long, value_name = "DIR")]
        cmmv_path: Option<PathBuf>,
    },
    /// Compare two contract sets and classify every REST and protobuf change as breaking or
    /// safe. Exit status: 0 nothing breaks what is served, 1 a breaking change to a served
    /// version, 2 the sides could not be compared.
    ///
    /// `cmmv diff OLD NEW` compares two directories; `cmmv diff --base REV [DIR]` compares DIR
    /// (default `contracts`) with itself at a git revision.
    Diff {
        /// OLD and NEW contract directories; with `--base`, at most one: the directory.
        #[arg(value_name = "DIR")]
        dirs: Vec<PathBuf>,
        /// A git revision to compare the working tree's contracts with (`origin/main`).
        #[arg(long, value_name = "REV")]
        base: Option<String>,
        /// `text` for people, `json` for CI.
        #[arg(long, value_enum, default_value_t = DiffFormat::Text)]
        format: DiffFormat,
    },
    /// Add a contract skeleton, `<dir>/<name>.yaml`.
    Add {
        /// The contract's name, PascalCase.
        name: String,
        /// The directory holding the contracts.
        #[arg(long, default_value = "contracts")]
        dir: PathBuf,
    },
}

/// Runs the CLI on the process's stdout and stderr and returns the exit code.
pub fn run(args: impl IntoIterator<Item = OsString>) -> i32 {
    run_with(
        args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    )
}

/// Runs the CLI with the given output streams and returns the exit code: 0 success, 1 problems
/// found (diagnostics, stale files), 2 usage errors.
pub fn run_with(
    args: impl IntoIterator<Item = OsString>,
    stdout: &mut dyn std::io::Write,
    stderr: &mut dyn std::io::Write,
) -> i32 {
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(error) => {
            let text = error.render().to_string();
            return if error.use_stderr() {
                let _ = write!(stderr, "{text}");
                2
            } else {
                let _ = write!(stdout, "{text}");
                0
            };
        }
    };
    match cli.command {
        Command::Check {
            dir,
            allow_destructive,
            rust,
        } => check(&dir, &rust, allow_destructive, stdout, stderr),
        Command::Gen {
            dir,
            out,
            check,
            templates,
            locked,
            only,
            allow_destructive,
            rust,
        } => {
            let request = GenRequest {
                dir: &dir,
                out: &out,
                mode: if check { Mode::Check } else { Mode::Write },
                templates: templates.as_deref(),
                locked,
                targets: only,
                allow_destructive,
                rust: &rust,
            };
            generate(&request, stdout, stderr)
        }
        Command::New {
            path,
            postgres,
            redis,
            cmmv_path,
        } => new_service(&path, postgres, redis, cmmv_path, stdout, stderr),
        Command::Add { name, dir } => add_contract(&name, &dir, stdout, stderr),
        Command::Diff { dirs, base, format } => diff(&dirs, base, format, stdout, stderr),
    }
}

/// How `cmmv diff` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum DiffFormat {
    Text,
    Json,
}

fn diff(
    dirs: &[PathBuf],
    base: Option<String>,
    format: DiffFormat,
    stdout: &mut dyn std::io::Write,
    stderr: &mut dyn std::io::Write,
) -> i32 {
    use crate::diff::{Base, compare, load_base};
    let (base, dir) = match (base, dirs) {
        (Some(rev), []) => (Base::Revision(rev), PathBuf::from("contracts")),
        (Some(rev), [dir]) => (Base::Revision(rev), dir.clone()),
        (None, [old, new]) => (Base::Dir(old.clone()), new.clone()),
        _ => {
            let _ = writeln!(
                stderr,
                "error: give two directories (`cmmv diff OLD NEW`) or a revision and at most one directory (`cmmv diff --base REV [DIR]`)"
            );
            return 2;
        }
    };
    let sides = load_base(&base, &dir).and_then(|old| Ok((old, crate::load(&dir)?)));
    let report = sides.and_then(|(old, new)| compare(&old, &new));
    let report = match report {
        Ok(report) => report,
        Err(error) => {
            let _ = write!(stderr, "{}", render_all(&error.diagnostics, &error.sources));
            let _ = writeln!(stderr, "error: the contracts could not be compared");
            return 2;
        }
    };
    let written = match format {
        DiffFormat::Text => write!(stdout, "{}", report.render_text()),
        DiffFormat::Json => writeln!(
            stdout,
            "{}",
            serde_json::to_string_pretty(&report.to_json()).unwrap_or_default()
        ),
    };
    if written.is_err() {
        return 2;
    }
    i32::from(report.fails())
}

fn new_service(
    path: &Path,
    postgres: bool,
    redis: bool,
    cmmv_path: Option<PathBuf>,
    stdout: &mut dyn std::io::Write,
    stderr: &mut dyn std::io::Write,
) -> i32 {
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    if path.exists() {
        let _ = writeln!(stderr, "error: `{}` already exists", display_path(path));
        return 1;
    }
    let cmmv_path = cmmv_path
        .map(|p| std::path::absolute(&p).unwrap_or(p))
        .or_else(crate::scaffold::own_workspace);
    let service = crate::scaffold::NewService {
        name,
        postgres,
        redis,
        cmmv_path,
    };
    let files = match crate::scaffold::new_service(&service) {
        Ok(files) => files,
        Err(message) => {
            let _ = writeln!(stderr, "error: {message}");
            return 2;
        }
    };
    for (file, text) in files {
        let target = path.join(file);
        let written = target
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&target, text));
        if let Err(error) = written {
            let _ = writeln!(
                stderr,
                "error: cannot write `{}`: {error}",
                display_path(&target)
            );
            return 1;
        }
    }
    let _ = writeln!(
        stdout,
        "created `{}`: cd into it, then `cargo run` serves it and `cargo test` tests it",
        display_path(path)
    );
    0
}

fn add_contract(
    name: &str,
    dir: &Path,
    stdout: &mut dyn std::io::Write,
    stderr: &mut dyn std::io::Write,
) -> i32 {
    let (file, text) = match crate::scaffold::contract_skeleton(name) {
        Ok(skeleton) => skeleton,
        Err(message) => {
            let _ = writeln!(stderr, "error: {message}");
            return 2;
        }
    };
    let target = dir.join(&file);
    if target.exists() {
        let _ = writeln!(stderr, "error: `{}` already exists", display_path(&target));
        return 1;
    }
    if let Err(error) = std::fs::create_dir_all(dir).and_then(|()| std::fs::write(&target, text)) {
        let _ = writeln!(
            stderr,
            "error: cannot write `{}`: {error}",
            display_path(&target)
        );
        return 1;
    }
    let snake = crate::ir::to_snake_case(name);
    let _ = writeln!(
        stdout,
        "created `{}`: the generated `Stores` and `routes` serve it at the next `cargo build` (with custom operations, your own type implements `{name}Handlers`, `fn {snake}_store` included)",
        display_path(&target)
    );
    0
}

fn check(
    dir: &Path,
    rust: &[PathBuf],
    allow_destructive: bool,
    stdout: &mut dyn std::io::Write,
    stderr: &mut dyn std::io::Write,
) -> i32 {
    let input = match crate::load_with_rust(dir, rust) {
        Ok(input) => input,
        Err(error) => {
            let _ = write!(stderr, "{error}");
            return 1;
        }
    };
    let options = Options {
        allow_destructive,
        ..Options::default()
    };
    let analysis = crate::analyze_with(&input, &options);
    let project = analysis.project;
    let failed = analysis.diagnostics.has_errors();
    let diagnostics = analysis.diagnostics.into_sorted();
    if !diagnostics.is_empty() {
        let _ = write!(stderr, "{}", render_all(&diagnostics, &input.sources));
    }
    if failed {
        return 1;
    }
    let operations: usize = project.contracts.values().map(|c| c.operations.len()).sum();
    // Warnings were printed above: the verdict counts them rather than saying "no problems".
    let verdict = match diagnostics.len() {
        0 => "no problems".to_owned(),
        1 => "no errors, 1 warning".to_owned(),
        n => format!("no errors, {n} warnings"),
    };
    let _ = writeln!(
        stdout,
        "checked {} contract{} ({operations} operations) in {}: {verdict}",
        project.contracts.len(),
        if project.contracts.len() == 1 {
            ""
        } else {
            "s"
        },
        display_path(dir)
    );
    0
}

struct GenRequest<'a> {
    dir: &'a Path,
    out: &'a Path,
    mode: Mode,
    templates: Option<&'a Path>,
    locked: bool,
    targets: crate::Targets,
    allow_destructive: bool,
    rust: &'a [PathBuf],
}

fn generate(
    request: &GenRequest<'_>,
    stdout: &mut dyn std::io::Write,
    stderr: &mut dyn std::io::Write,
) -> i32 {
    let templates = match request.templates {
        Some(dir) => match Templates::with_overrides(dir) {
            Ok(t) => t,
            Err(e) => {
                let _ = writeln!(stderr, "error: {e}");
                return 1;
            }
        },
        None => Templates::builtin(),
    };
    let input = match crate::load_with_rust(request.dir, request.rust) {
        Ok(input) => input,
        Err(error) => {
            let _ = write!(stderr, "{error}");
            return 1;
        }
    };
    let options = Options {
        templates,
        locked: request.locked,
        targets: request.targets,
        allow_destructive: request.allow_destructive,
    };
    let compilation = match crate::compile(&input, &options) {
        Ok(c) => c,
        Err(error) => {
            let _ = write!(stderr, "{error}");
            return 1;
        }
    };
    let code = write_out(request, &compilation, stdout, stderr);
    // A large project's model and texts take tens of milliseconds to free, allocation by
    // allocation, which the user would wait for right before the process exits and the OS
    // takes the memory back at once. So they are freed beside whatever comes next, if anything.
    // Should no thread start, the closure and the compilation with it are dropped right here.
    let _ = std::thread::Builder::new().spawn(move || drop(compilation));
    code
}

/// Writes what `generate` compiled, or in check mode compares it; returns the exit code.
fn write_out(
    request: &GenRequest<'_>,
    compilation: &crate::Compilation,
    stdout: &mut dyn std::io::Write,
    stderr: &mut dyn std::io::Write,
) -> i32 {
    if !compilation.warnings.is_empty() {
        let _ = write!(
            stderr,
            "{}",
            render_all(&compilation.warnings, &compilation.sources)
        );
    }
    let owned = request.targets.directories();
    let written = output::write_files(request.out, &compilation.files, &owned, request.mode)
        .and_then(|mut report| {
            if let Some(descriptor) = &compilation.descriptor {
                output::write_binary(
                    request.out,
                    Path::new(crate::emit::proto::DESCRIPTOR_PATH),
                    descriptor,
                    request.mode,
                    &mut report,
                )?;
            }
            Ok(report)
        });
    let report = match written {
        Ok(report) => report,
        Err(e) => {
            let _ = writeln!(
                stderr,
                "error: cannot write to `{}`: {e}",
                display_path(request.out)
            );
            return 1;
        }
    };
    let out = display_path(request.out);
    if request.mode == Mode::Check {
        let lock_stale = compilation.lock_update.is_some();
        if lock_stale {
            let lock_path = request.dir.join(crate::LOCK_FILE);
            let _ = writeln!(stderr, "stale: {}", display_path(&lock_path));
        }
        if let Some(pending) = compilation.pending_migration() {
            let _ = writeln!(
                stderr,
                "pending: migration {} ({})",
                pending.file_stem(),
                compilation.schema_changes.join("; ")
            );
        }
        for path in &report.changed {
            let _ = writeln!(stderr, "stale: {out}/{}", display_path(path));
        }
        for path in &report.obsolete {
            let _ = writeln!(stderr, "obsolete: {out}/{}", display_path(path));
        }
        if !report.is_clean() || lock_stale {
            let _ = writeln!(
                stderr,
                "error: {} generated files are out of date; run `cmmv gen {} --out {out}`",
                report.changed.len()
                    + report.obsolete.len()
                    + usize::from(lock_stale)
                    + compilation.pending_migrations.len(),
                display_path(request.dir)
            );
            return 1;
        }
        let _ = writeln!(
            stdout,
            "{} generated files are up to date",
            report.unchanged.len()
        );
        return 0;
    }
    // Migration scripts before the lock that records them: should the lock write fail, the
    // next run finds the scripts identical to the migration it makes again.
    for file in &compilation.pending_migrations {
        let path = request.dir.join(&file.path);
        if let Err(e) = output::write_if_changed(&path, file.contents.as_bytes()) {
            let _ = writeln!(stderr, "error: cannot write `{}`: {e}", display_path(&path));
            return 1;
        }
        let _ = writeln!(stdout, "wrote {}", display_path(&path));
    }
    if let Some(pending) = compilation.pending_migration() {
        for change in &compilation.schema_changes {
            let _ = writeln!(stdout, "migration {}: {change}", pending.file_stem());
        }
    }
    if let Some(lock_text) = &compilation.lock_update {
        let lock_path = request.dir.join(crate::LOCK_FILE);
        if let Err(e) = output::write_if_changed(&lock_path, lock_text.as_bytes()) {
            let _ = writeln!(
                stderr,
                "error: cannot write `{}`: {e}",
                display_path(&lock_path)
            );
            return 1;
        }
        let _ = writeln!(stdout, "updated {}", display_path(&lock_path));
    }
    for path in &report.changed {
        let _ = writeln!(stdout, "wrote {out}/{}", display_path(path));
    }
    for path in &report.obsolete {
        let _ = writeln!(stdout, "removed {out}/{}", display_path(path));
    }
    let _ = writeln!(
        stdout,
        "{} contracts -> {} files in {out} ({} written, {} unchanged, {} removed)",
        compilation.project.contracts.len(),
        compilation.files.len(),
        report.changed.len(),
        report.unchanged.len(),
        report.obsolete.len()
    );
    0
}
