//! The runtime of CMMV for Rust: what code generated from contracts links against.
//! Its contents (problems, validation, auth, rate limits, storage) arrive with their issues.

#[cfg(feature = "macros")]
pub use cmmv_macros;
