//! What the plain (non-criterion) benches share: `--rounds N`, a tokio runtime, and errors
//! reported as a failed exit.

#![allow(clippy::print_stderr)]

use std::future::Future;
use std::process::ExitCode;

/// Runs `run` with the rounds `--rounds N` asks for (`default` without it) on a tokio runtime;
/// an error is printed and fails the exit.
pub(crate) fn main<F, Fut>(default: usize, run: F) -> ExitCode
where
    F: FnOnce(usize) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let rounds = match args.as_slice() {
        [] => default,
        [flag, n] if flag == "--rounds" => match n.parse() {
            Ok(n) if n > 0 => n,
            _ => return fail(&format!("--rounds takes a positive integer, not {n:?}")),
        },
        other => {
            return fail(&format!(
                "unexpected arguments {other:?} (expected --rounds N)"
            ));
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => return fail(&error.to_string()),
    };
    match runtime.block_on(run(rounds)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => fail(&error),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::FAILURE
}
