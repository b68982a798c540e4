//! The runtime of CMMV for Rust: what code generated from contracts links against.

pub mod problem;

pub use problem::{FieldError, PROBLEM_JSON, Problem};

#[cfg(feature = "macros")]
pub use cmmv_macros;
