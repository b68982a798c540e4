//! The tracing and redaction tests, in a test binary of their own.
//!
//! Each sets a `tracing` subscriber for its thread at `debug` or `trace`. In the integration
//! binary they ran beside tests whose thread-local subscribers stop at `info`, and `tracing`'s
//! process-wide caches of which callsites are enabled (and of the highest level any subscriber
//! wants) are rebuilt as subscribers come and go on other threads: now and then a `debug` span
//! of the runtime was skipped for the whole process. Here every subscriber wants them.

// The integration binary's helpers, shared by path; this binary uses a part of them.
#[allow(dead_code)]
#[path = "../integration/auth_support.rs"]
mod auth_support;
#[allow(dead_code)]
#[path = "../integration/runtime_support.rs"]
mod runtime_support;
#[allow(dead_code)]
#[path = "../integration/store_support.rs"]
mod store_support;

mod redaction;
mod telemetry;
