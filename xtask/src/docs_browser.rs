//! `cargo xtask docs-browser`: the example's interactive documents (`/docs`) in a real
//! browser — Debian's Chromium, headless, driven by Playwright for Python (`.ci/run` installs
//! both) — with every request outside 127.0.0.1 refused. `.ci/docs/browser.py` opens the page,
//! checks that it shows every operation of each version's document, switches versions,
//! authorizes with the example's own access token (from `/auth/login`), runs "Try it out" on
//! an authenticated operation and expects its 200, and fails on any console error or
//! Content-Security-Policy violation.

use std::path::Path;
use std::process::Command;

use crate::example::RunningExample;

/// Where Debian's package puts the browser.
const CHROMIUM: &str = "/usr/bin/chromium";

pub(crate) fn run(root: &Path) -> Result<(), String> {
    let example = RunningExample::start(root)?;
    let script = root.join(".ci/docs/browser.py");
    let status = Command::new("python3")
        .arg(&script)
        .args(["--base", &format!("http://{}", example.addr)])
        .args(["--chromium", CHROMIUM])
        .env("CMMV_DOCS_TOKEN", &example.token)
        .status()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if status.success() {
        Ok(())
    } else {
        Err("the docs page failed in the browser (report above)".to_owned())
    }
}
