//! The single integration-test binary of the workspace.

mod auth_http;
mod auth_login;
mod auth_support;
mod builder;
mod cli;
mod contracts;
mod diagnostics;
mod formats;
mod list_queries;
mod macro_cli;
mod macro_parity;
mod openapi_consistency;
mod projections;
mod ratelimit_http;
mod ratelimit_redis;
mod runtime_health;
mod runtime_http;
mod runtime_metrics;
mod runtime_shutdown;
mod runtime_support;
mod security;
mod service;
mod store_conformance;
mod store_sql;
mod store_support;
mod store_writer;
