//! The runtime of CMMV for Rust: what code generated from contracts links against.
//!
//! A contract compiles (`cmmv gen`, a `build.rs` with `cmmv_compiler::Builder`, or
//! `#[cmmv::contract]`) into types, validation, a handler trait and an axum router per
//! contract, plus one `API` value (documents, routes, limits, migrations). This crate serves
//! them: an [`App`] built from [`Settings`] mounts the routers, lends them what every route
//! shares (the limiter, the authenticator, metrics), and runs the server with graceful
//! shutdown.
//!
//! ```no_run
//! # mod api {
//! #     pub const API: cmmv::Api = cmmv::Api { openapi: &[], routes: &[], rate_limits: &[], migrations: &[], modules: &[], account: None, versioning: cmmv::versioning::Versioning::URI, protobuf: None };
//! # }
//! # async fn serve() -> Result<(), Box<dyn std::error::Error>> {
//! // pub mod api { include!(concat!(env!("OUT_DIR"), "/cmmv/rust/mod.rs")); }
//! let settings = cmmv::Settings::from_env()?; // CMMV_* and an optional cmmv.toml
//! let app = cmmv::App::builder(settings)
//!     .api(&api::API) // the OpenAPI documents, and the limits' keys checked at start
//!     // .routes(api::task_routes(handlers)) for each contract: every operation carries its
//!     // auth guard and its rate limits
//!     .build()?;
//! app.run().await; // binds CMMV_ADDR; SIGTERM drains in-flight requests
//! # Ok(()) }
//! ```
//!
//! Where things are:
//!
//! | module | what |
//! | --- | --- |
//! | [`app`] | [`App`], [`AppBuilder`], [`BuildError`]: assembling and serving |
//! | [`settings`] | [`Settings`] from `CMMV_*` variables and `cmmv.toml`, checked at start |
//! | [`problem`] | [`Problem`]: every error as RFC 9457 `application/problem+json` |
//! | [`auth`] | bearer tokens, API keys, the guards, and the login module (`/auth/*`) |
//! | [`ratelimit`] | GCRA limits per route, in process or on Redis, and client identity |
//! | [`sql`], [`store`] | SQLite and PostgreSQL stores, migrations, the in-memory store |
//! | [`list`] | list requests: filters with operators, sorting, offset and cursor pages, counts, sparse fieldsets |
//! | [`secret`] | `type: secret` fields: hashed with argon2id, never shown |
//! | [`validate`], [`extract`], [`crud`], [`resource`], [`enumeration`], [`types`] | what generated types and handlers are built on: decoding and checks, extractors, default CRUD, scalar types |
//! | [`health`], [`metrics`], [`logging`], [`shutdown`], [`request_id`] | operations |
//!
//! What operators configure (proxies, IPv6 counting, fail modes, registration) is in
//! `docs/operations.md`; the contract format in `docs/contracts.md`.

#![deny(missing_docs)]

// The login module's items are generated (`auth::contract`), and generated code names this
// crate by its absolute path, `::cmmv`, as it does from a user's crate.
extern crate self as cmmv;

pub mod app;
pub mod auth;
pub mod crud;
pub mod deprecation;
#[cfg(feature = "docs")]
pub mod docs;
pub mod enumeration;
pub mod extract;
mod fingerprint;
pub mod health;
mod layers;
pub mod list;
pub mod logging;
pub mod metrics;
mod openapi;
mod operation;
pub mod patch;
pub mod problem;
pub mod protobuf;
pub mod ratelimit;
pub mod request_id;
pub mod resource;
mod respond;
pub mod secret;
pub mod service;
pub mod settings;
pub mod shutdown;
pub mod sql;
pub mod store;
mod system;
pub mod telemetry;
pub mod testing;
pub mod types;
pub mod validate;
pub mod versioning;

pub use app::{App, AppBuilder, BuildError};
pub use enumeration::Enum;
pub use extract::Context;
pub use health::{HealthIndicator, Readiness};
pub use metrics::Metrics;
pub use operation::{Api, operation};
pub use patch::Patch;
pub use problem::{FieldError, PROBLEM_JSON, Problem};
pub use request_id::RequestId;
pub use resource::Resource;
pub use respond::{Created, Redirect, SetCookie};
pub use settings::{Settings, SettingsError};
pub use shutdown::ShutdownOutcome;
pub use store::{MemoryStore, Page, Scope, Store};

/// What only generated code calls, fenced off from the documented API: the crates it names
/// (so that users need not depend on them, or on matching versions, themselves), and the
/// decoding, checking, row and response helpers its types and handlers are written in. Not a
/// public API: it changes with the compiler that generates the calls.
#[doc(hidden)]
pub mod __private {
    pub use axum;
    pub use serde;
    pub use serde_json;

    pub use crate::extract::{QueryReader, path_key};
    pub use crate::resource::{FieldKind, QueryField, ToFieldValue};
    pub use crate::respond::{empty, json, no_content, no_store, redirect};
    pub use crate::sql::{Column, ColumnKind, ForeignKey, Record, Row, json_from_sql, json_to_sql};
    pub use crate::validate::{
        At, Errors, LazyRegex, Presence, Rules, enum_value, field, object, patch_field, required,
        with_default,
    };
}

#[cfg(feature = "macros")]
pub use cmmv_macros;
/// Declares a contract in Rust: `#[cmmv::contract(...)]` on a struct or an inline module (see
/// `docs/contracts.md`, "Contracts in Rust").
#[cfg(feature = "macros")]
pub use cmmv_macros::contract;
