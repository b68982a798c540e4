//! `cargo xtask macro-cost [--contracts N] [--rounds R]`: what `#[contract]` costs a user's
//! incremental build, next to the same contracts through YAML and a build script.
//!
//! Writes three throwaway crates under `target/macro-cost/` that depend on this checkout's
//! runtime and compiler by path and share one target directory (so dependencies build once):
//!
//! - `yaml`: N contracts in `contracts/*.yaml`, compiled by `build.rs` (`Builder`);
//! - `macros`: the same N contracts as `#[cmmv::contract]` modules, one file each, no build
//!   script (the macros expand the types and routes; no OpenAPI files);
//! - `macros-build`: the same, plus `build.rs` with `Builder::rust_sources("src")` for the
//!   OpenAPI, proto and tables.
//!
//! Each crate is built once, then contract 0 is edited (a constraint changes) R times, and each
//! rebuild is timed. Reported: the first build and the median incremental rebuild per crate.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let mut contracts = 20usize;
    let mut rounds = 3usize;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args.next().and_then(|v| v.parse().ok());
        match (arg.as_str(), value) {
            ("--contracts", Some(n)) => contracts = n,
            ("--rounds", Some(n)) => rounds = n,
            _ => {
                return Err("usage: cargo xtask macro-cost [--contracts N] [--rounds R]".to_owned());
            }
        }
    }
    let root = crate::workspace_root();
    let base = root.join("target/macro-cost");
    let target = base.join("target");
    let kinds = [Kind::Yaml, Kind::Macros, Kind::MacrosWithBuild];
    for kind in kinds {
        write_crate(&root, &base.join(kind.dir()), kind, contracts, 200)?;
    }
    println!(
        "{contracts} contracts, {rounds} edits of one contract each, debug builds, target {}",
        target.display()
    );
    for kind in kinds {
        let dir = base.join(kind.dir());
        let first = build(&dir, &target)?;
        let mut times = Vec::new();
        for round in 0..rounds {
            // A real edit (not just a touch): contract 0's `max_length` alternates.
            let max_length = 201 + u32::from(round % 2 == 1);
            write_contract(&dir, kind, 0, max_length)?;
            times.push(build(&dir, &target)?);
        }
        write_contract(&dir, kind, 0, 200)?;
        times.sort();
        let median = times[times.len() / 2];
        println!(
            "{:<13} first build {:>6.1}s   rebuild after editing one contract: median {:>5.2}s (runs: {})",
            kind.dir(),
            first.as_secs_f64(),
            median.as_secs_f64(),
            times
                .iter()
                .map(|t| format!("{:.2}s", t.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Yaml,
    Macros,
    MacrosWithBuild,
}

impl Kind {
    fn dir(self) -> &'static str {
        match self {
            Kind::Yaml => "yaml",
            Kind::Macros => "macros",
            Kind::MacrosWithBuild => "macros-build",
        }
    }
}

fn build(dir: &Path, target: &Path) -> Result<Duration, String> {
    let start = Instant::now();
    let output = Command::new(env!("CARGO"))
        .args(["build", "--quiet", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target)
        .output()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "building {} failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(start.elapsed())
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    // Unchanged files are left alone, so a rerun starts from a warm build.
    if std::fs::read_to_string(path).ok().as_deref() == Some(text) {
        return Ok(());
    }
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

fn write_crate(
    root: &Path,
    dir: &Path,
    kind: Kind,
    contracts: usize,
    max_length: u32,
) -> Result<(), String> {
    let runtime = root.join("runtime");
    let compiler = root.join("compiler");
    let build_dependency = match kind {
        Kind::Macros => String::new(),
        _ => format!(
            "\n[build-dependencies]\ncmmv-compiler = {{ path = {:?} }}\n",
            compiler.display().to_string()
        ),
    };
    write(
        &dir.join("Cargo.toml"),
        &format!(
            "[package]\nname = \"cost-{}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n[workspace]\n\n[dependencies]\ncmmv = {{ path = {:?} }}\n{build_dependency}",
            kind.dir(),
            runtime.display().to_string()
        ),
    )?;
    // The same dependency versions as the workspace, so timings compare like with like.
    if let Ok(lock) = std::fs::read_to_string(root.join("Cargo.lock")) {
        write(&dir.join("Cargo.lock"), &lock)?;
    }
    let lib = match kind {
        Kind::Yaml => {
            "pub mod api {\n    include!(concat!(env!(\"OUT_DIR\"), \"/cmmv/rust/mod.rs\"));\n}\n"
                .to_owned()
        }
        Kind::Macros | Kind::MacrosWithBuild => {
            let mut lib: String = (0..contracts).map(|i| format!("pub mod c{i};\n")).collect();
            if kind == Kind::MacrosWithBuild {
                lib.push_str("pub mod tables {\n    include!(concat!(env!(\"OUT_DIR\"), \"/cmmv/rust/mod.rs\"));\n}\n");
            }
            lib
        }
    };
    write(&dir.join("src/lib.rs"), &lib)?;
    match kind {
        Kind::Yaml => write(
            &dir.join("build.rs"),
            "fn main() {\n    cmmv_compiler::Builder::new().contracts_dir(\"contracts\").run();\n}\n",
        )?,
        Kind::MacrosWithBuild => write(
            &dir.join("build.rs"),
            "fn main() {\n    cmmv_compiler::Builder::new().contracts_dir(\"contracts\").rust_sources(\"src\").run();\n}\n",
        )?,
        Kind::Macros => {}
    }
    for i in 0..contracts {
        write_contract(dir, kind, i, if i == 0 { max_length } else { 200 })?;
    }
    Ok(())
}

/// Contract `i`: a resource with constraints, an inline enum, an optional and a nullable
/// field, a list, a message and a custom operation, in either syntax.
fn write_contract(dir: &Path, kind: Kind, i: usize, max_length: u32) -> Result<(), String> {
    let name = format!("Item{i}");
    let path: PathBuf;
    let text = match kind {
        Kind::Yaml => {
            path = dir.join(format!("contracts/item{i}.yaml"));
            format!(
                "contract: {name}\nauth: {{ roles: [user] }}\nrate_limit: {{ limit: 100, per: 1m, key: ip }}\nfields:\n  id: {{ type: uuid, primary: true }}\n  title: {{ type: string, min_length: 1, max_length: {max_length}, filterable: true, sortable: true }}\n  done: {{ type: bool, default: false }}\n  priority: {{ type: enum, values: [low, normal, high], default: normal }}\n  due_at: {{ type: datetime, optional: true }}\n  notes: {{ type: string, nullable: true, max_length: 2000 }}\n  tags: {{ type: list<string>, max_items: 10, default: [] }}\nmessages:\n  Close{name}:\n    fields:\n      reason: {{ type: string, max_length: 200 }}\noperations:\n  close:\n    method: POST\n    path: /{{id}}/close\n    request: Close{name}\n    response: {name}\n"
            )
        }
        Kind::Macros | Kind::MacrosWithBuild => {
            path = dir.join(format!("src/c{i}.rs"));
            format!(
                "#[cmmv::contract(auth(roles = [\"user\"]), rate_limit(limit = 100, per = \"1m\", key = \"ip\"))]\npub mod item {{\n    pub struct {name} {{\n        #[field(primary)]\n        pub id: Uuid,\n        #[field(min_length = 1, max_length = {max_length}, filterable, sortable)]\n        pub title: String,\n        #[field(default = false)]\n        pub done: bool,\n        #[field(values = [low, normal, high], default = normal)]\n        pub priority: {name}Priority,\n        pub due_at: Option<DateTime>,\n        #[field(nullable, max_length = 2000)]\n        pub notes: Option<String>,\n        #[field(max_items = 10, default = [])]\n        pub tags: Vec<String>,\n    }}\n\n    #[message]\n    pub struct Close{name} {{\n        #[field(max_length = 200)]\n        pub reason: String,\n    }}\n\n    pub trait Operations {{\n        #[operation(method = \"POST\", path = \"/{{id}}/close\", request = Close{name}, response = {name})]\n        fn close();\n    }}\n}}\n"
            )
        }
    };
    write(&path, &text)
}
