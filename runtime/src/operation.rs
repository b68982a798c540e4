//! How generated code mounts an operation, and what a generated module exports whole.

use axum::handler::{Handler, Layered};
use tower::layer::util::Stack;

use crate::auth::{Access, Require, require};
use crate::ratelimit::{Limit, Policy, RouteLimits, limit};

/// `handler` behind its rate limits and then its auth guard: how generated code mounts every
/// operation. Both travel with the route, so a router nested under a prefix, merged into
/// another, or served by an app that was never told about them keeps every limit and every
/// guard. The limits are decided first (a refused request costs no authentication), and an
/// empty list costs nothing.
pub fn operation<H, T, S>(
    handler: H,
    access: Access,
    limits: &'static [Policy],
) -> Layered<Stack<Require, Limit>, H, T, S>
where
    H: Handler<T, S>,
    T: 'static,
    S: Clone + Send + Sync + 'static,
{
    handler.layer(Stack::new(require(access), limit(limits)))
}

/// What a generated module (`include!(concat!(env!("OUT_DIR"), "/cmmv/rust/mod.rs"))`)
/// exports whole as `API`, for [`crate::AppBuilder::api`]: the documents to serve, the routes
/// and limits to check, the migrations to apply.
#[derive(Debug, Clone, Copy)]
pub struct Api {
    /// `(version, JSON, YAML)` of each OpenAPI document.
    pub openapi: &'static [(u32, &'static str, &'static str)],
    /// `(method, path)` of every route the generated routers serve.
    pub routes: &'static [(&'static str, &'static str)],
    /// `(method, path, policies)` of every limited route.
    pub rate_limits: RouteLimits,
    /// The database migrations, in order, for [`crate::sql::Database::migrate`].
    pub migrations: &'static [crate::sql::Migration],
    /// The runtime's modules the documents describe (`"login"`): the app must mount each of
    /// them, and no other, for the documents to tell the truth.
    pub modules: &'static [&'static str],
    /// The contract bound to the login module's accounts (`account:`), if one is: the login
    /// module must keep its records ([`crate::auth::Login::with_records`]).
    pub account: Option<&'static str>,
    /// How requests name their API version (`versioning:` in `cmmv.yaml`).
    pub versioning: crate::versioning::Versioning,
    /// How operations travel as protobuf (REST bodies and gRPC): `None` when the proto
    /// target was not generated.
    pub protobuf: Option<crate::protobuf::Protobuf>,
}
