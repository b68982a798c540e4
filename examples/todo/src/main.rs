//! The example service: `cargo run -p todo`. Settings come from `CMMV_*` variables; data lives
//! in `CMMV_DATABASE_URL`, by default the SQLite file `cmmv.db` in the working directory
//! (created and migrated on first start), or in memory with `memory:`.

use std::process::ExitCode;

use cmmv::Settings;
use todo::serve;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => settings,
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
    reason = "start-up errors go to the terminal, before any logging"
)]
fn eprintln_error(message: &str) {
    eprintln!("error: {message}");
}
