//! The single integration-test binary of the workspace.

mod builder;
mod cli;
mod contracts;
mod diagnostics;
