//! The runtime of CMMV for Rust: what code generated from contracts links against.

pub mod app;
pub mod health;
mod layers;
pub mod logging;
pub mod metrics;
mod openapi;
pub mod problem;
pub mod request_id;
pub mod settings;
pub mod shutdown;

pub use app::{App, AppBuilder};
pub use health::Readiness;
pub use metrics::Metrics;
pub use problem::{FieldError, PROBLEM_JSON, Problem};
pub use request_id::RequestId;
pub use settings::{Settings, SettingsError};
pub use shutdown::ShutdownOutcome;

#[cfg(feature = "macros")]
pub use cmmv_macros;
