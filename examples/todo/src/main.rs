//! The example service: `cargo run -p todo`. Settings come from `CMMV_*` variables; data lives
//! in `CMMV_DATABASE_URL`, by default the SQLite file `cmmv.db` in the working directory
//! (created and migrated on first start), or in memory with `memory:`.
//!
//! Access tokens are signed and verified with the keys of `CMMV_JWT_*`. So that the example
//! runs with nothing set, it signs them with a secret drawn at start when no key is configured:
//! such tokens die with the process (refresh tokens, kept in the database, do not).

use std::process::ExitCode;

use cmmv::Settings;
use todo::serve;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_env() {
        Ok(settings) => with_development_key(settings),
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

/// `settings`, with a secret for this run only when no JWT key is configured.
fn with_development_key(mut settings: Settings) -> Settings {
    if settings.jwt.has_keys() {
        return settings;
    }
    // Two random UUIDs: 244 random bits, more than HS256 needs, from the OS's generator.
    let secret = format!(
        "{}{}",
        cmmv::types::Uuid::new_v4().simple(),
        cmmv::types::Uuid::new_v4().simple()
    );
    settings.jwt.hs256_secret = Some(cmmv::settings::Secret::new(secret));
    settings.jwt.issuer.get_or_insert_with(|| "todo".to_owned());
    if settings.jwt.audience.is_empty() {
        settings.jwt.audience = vec!["todo".to_owned()];
    }
    eprintln_note(
        "no CMMV_JWT_HS256_SECRET or CMMV_JWT_KEYS: access tokens are signed with a key drawn for this run",
    );
    settings
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
