//! The example service: `cargo run -p todo`. Settings come from `CMMV_*` variables.

use std::process::ExitCode;
use std::sync::Arc;

use cmmv::Settings;
use todo::{Todo, app};

/// Which store the settings ask for. Only memory is built in so far; anything else stops the
/// service at start rather than pretending to persist.
fn check_database_url() -> Result<(), String> {
    match std::env::var("CMMV_DATABASE_URL") {
        Err(_) => Ok(()),
        Ok(url) if url == "memory:" => Ok(()),
        Ok(url) => Err(format!(
            "CMMV_DATABASE_URL: unsupported database URL `{url}`; this build keeps data in memory (`memory:`)"
        )),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env()
        .map_err(|e| e.to_string())
        .and_then(|s| {
            check_database_url()?;
            Ok(s)
        }) {
        Ok(settings) => settings,
        Err(error) => {
            eprintln_error(&error);
            return ExitCode::from(2);
        }
    };
    match app(settings, &Arc::new(Todo::in_memory())) {
        Ok(app) => app.run().await,
        Err(error) => {
            eprintln_error(&error.to_string());
            ExitCode::from(2)
        }
    }
}

#[allow(
    clippy::print_stderr,
    reason = "start-up errors go to the terminal, before any logging"
)]
fn eprintln_error(message: &str) {
    eprintln!("error: {message}");
}
