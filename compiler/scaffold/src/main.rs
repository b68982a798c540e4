//! `cargo run`: serves on `CMMV_ADDR` (127.0.0.1:8080 unless set), its data in
//! `CMMV_DATABASE_URL` (the SQLite file `cmmv.db` unless set). Every setting: `.env.example`.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match cmmv::Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => return fail(&error.to_string()),
    };
    match {{crate_ident}}::serve(settings).await {
        Ok(code) => code,
        Err(error) => fail(&error),
    }
}

#[allow(
    clippy::print_stderr,
    reason = "a failure to start is for the person who started it"
)]
fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}
