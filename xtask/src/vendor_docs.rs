//! `cargo xtask vendor-docs [--check]`: the docs page's renderer, from the npm registry. Fetches
//! `swagger-ui-dist` at the pinned version with `npm pack` (which checks the tarball against
//! the registry's integrity), checks that integrity against the one pinned here, and writes the
//! files the runtime embeds into `runtime/assets/swagger-ui/` — or, with `--check`, fails when
//! the committed files differ from the package's.

use std::path::Path;
use std::process::Command;

const PACKAGE: &str = "swagger-ui-dist@5.35.0";
const INTEGRITY: &str = "sha512-U06rpMtW9V3XPGOBeamTUSr0Z09jMX4IJuANpE/EZbAhw0G8CgwrzU4YmXkn/h0wCDNsXdGarTNNHC3sU8yVUQ==";
/// What the runtime embeds, with the license it comes under.
const FILES: [&str; 5] = [
    "swagger-ui-bundle.js",
    "swagger-ui-standalone-preset.js",
    "swagger-ui.css",
    "LICENSE",
    "NOTICE",
];

pub(crate) fn run(root: &Path, check: bool) -> Result<(), String> {
    let work = tempfile::tempdir().map_err(|e| e.to_string())?;
    let packed = Command::new("npm")
        .args(["pack", PACKAGE, "--json", "--pack-destination"])
        .arg(work.path())
        .current_dir(work.path())
        .output()
        .map_err(|e| format!("cannot run npm: {e}"))?;
    if !packed.status.success() {
        return Err(format!(
            "npm pack {PACKAGE} failed: {}",
            String::from_utf8_lossy(&packed.stderr)
        ));
    }
    let report: serde_json::Value =
        serde_json::from_slice(&packed.stdout).map_err(|e| format!("npm pack's report: {e}"))?;
    let integrity = report[0]["integrity"].as_str().unwrap_or_default();
    if integrity != INTEGRITY {
        return Err(format!(
            "{PACKAGE} has integrity {integrity}, not the pinned {INTEGRITY}"
        ));
    }
    let tarball = work
        .path()
        .join(report[0]["filename"].as_str().unwrap_or_default());
    let status = Command::new("tar")
        .arg("xzf")
        .arg(&tarball)
        .current_dir(work.path())
        .status()
        .map_err(|e| format!("cannot run tar: {e}"))?;
    if !status.success() {
        return Err(format!("cannot unpack {}", tarball.display()));
    }
    let assets = root.join("runtime/assets/swagger-ui");
    let mut stale = Vec::new();
    for file in FILES {
        let fresh = std::fs::read(work.path().join("package").join(file))
            .map_err(|e| format!("{file}: {e}"))?;
        let held = std::fs::read(assets.join(file)).unwrap_or_default();
        if fresh == held {
            continue;
        }
        if check {
            stale.push(file);
        } else {
            std::fs::write(assets.join(file), fresh).map_err(|e| format!("{file}: {e}"))?;
        }
    }
    if !stale.is_empty() {
        return Err(format!(
            "runtime/assets/swagger-ui: {stale:?} differ from {PACKAGE}; run `cargo xtask vendor-docs`"
        ));
    }
    println!("vendor-docs: {PACKAGE} ({INTEGRITY}) matches runtime/assets/swagger-ui");
    Ok(())
}
