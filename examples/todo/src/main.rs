//! The example service: `cargo run -p todo`. Settings come from `CMMV_*` variables; data lives
//! in `CMMV_DATABASE_URL`, by default the SQLite file `cmmv.db` in the working directory
//! (created and migrated on first start), or in memory with `memory:`.

use std::process::ExitCode;
use std::sync::Arc;

use cmmv::Settings;
use cmmv::sql::Database;
use todo::{Todo, api, app};

#[tokio::main]
async fn main() -> ExitCode {
    match serve().await {
        Ok(code) => code,
        Err(error) => {
            eprintln_error(&error);
            ExitCode::from(2)
        }
    }
}

/// Opens and migrates the database, serves until shut down, then closes the database, so
/// that every connection is returned and SQLite's write-ahead log is checkpointed.
async fn serve() -> Result<ExitCode, String> {
    let settings = Settings::from_env().map_err(|e| e.to_string())?;
    let database = if settings.database_url == "memory:" {
        None
    } else {
        let db = Database::connect(&settings.database())
            .await
            .map_err(|e| format!("CMMV_DATABASE_URL: {e}"))?;
        db.migrate(api::MIGRATIONS)
            .await
            .map_err(|e| format!("CMMV_DATABASE_URL: {e}"))?;
        Some(db)
    };
    let todo = match &database {
        Some(db) => Todo::with_database(db),
        None => Todo::in_memory(),
    };
    let app = app(settings, &Arc::new(todo)).map_err(|e| e.to_string())?;
    let code = app.run().await;
    if let Some(db) = database {
        db.close().await;
    }
    Ok(code)
}

#[allow(
    clippy::print_stderr,
    reason = "start-up errors go to the terminal, before any logging"
)]
fn eprintln_error(message: &str) {
    eprintln!("error: {message}");
}
