//! The runtime of CMMV for Rust: what code generated from contracts links against.

pub mod app;
pub mod auth;
pub mod crud;
pub mod enumeration;
pub mod extract;
mod fingerprint;
pub mod health;
mod layers;
pub mod logging;
pub mod metrics;
mod openapi;
mod operation;
pub mod patch;
pub mod problem;
pub mod ratelimit;
pub mod request_id;
pub mod resource;
pub mod respond;
pub mod secret;
pub mod settings;
pub mod shutdown;
pub mod sql;
pub mod store;
pub mod types;
pub mod validate;

pub use app::{App, AppBuilder, BuildError};
pub use enumeration::Enum;
pub use extract::Context;
pub use health::Readiness;
pub use metrics::Metrics;
pub use operation::{Api, operation};
pub use patch::Patch;
pub use problem::{FieldError, PROBLEM_JSON, Problem};
pub use request_id::RequestId;
pub use resource::Resource;
pub use settings::{Settings, SettingsError};
pub use shutdown::ShutdownOutcome;
pub use store::{MemoryStore, Page, Store};

/// Crates generated code names through `::cmmv::__private`, so that users need not depend on
/// them (or on matching versions) themselves. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use axum;
    pub use serde;
    pub use serde_json;
}

#[cfg(feature = "macros")]
pub use cmmv_macros;
/// Declares a contract in Rust: `#[cmmv::contract(...)]` on a struct or an inline module (see
/// `docs/contracts.md`, "Contracts in Rust").
#[cfg(feature = "macros")]
pub use cmmv_macros::contract;
