//! The example service: `cargo run -p todo`. Settings come from `CMMV_*` variables; data lives
//! in `CMMV_DATABASE_URL`, by default the SQLite file `cmmv.db` in the working directory
//! (created and migrated on first start), or in memory with `memory:`.
//!
//! Access tokens are signed and verified with the keys of `CMMV_JWT_*`; with none configured,
//! with a secret drawn at start ([`todo::with_development_key`]).

use std::process::ExitCode;

use cmmv::Settings;
use todo::{serve, with_development_key};

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => {
            let (settings, drawn) = with_development_key(settings);
            if drawn {
                eprintln_note(
                    "no CMMV_JWT_HS256_SECRET or CMMV_JWT_KEYS: access tokens are signed with a key drawn for this run",
                );
            }
            settings
        }
        Err(error) => {
            eprintln_error(&error.to_string());
            return ExitCode::from(2);
        }
    };
    match serve(settings).await {
        Ok(code) => code,
        Err(error) => {
            eprintln_error(&error);
            ExitCode::from(2)
        }
    }
}

#[allow(
    clippy::print_stderr,
    reason = "start-up notes go to the terminal, before any logging"
)]
fn eprintln_note(message: &str) {
    eprintln!("note: {message}");
}

#[allow(
    clippy::print_stderr,
    reason = "start-up errors go to the terminal, before any logging"
)]
fn eprintln_error(message: &str) {
    eprintln!("error: {message}");
}
