//! Route and path checks: each method and path is served once per API version, spelt one way,
//! and clear of the paths the runtime serves itself (health, metrics, the documents, the docs
//! page). With version negotiation by header or media type, a versioned contract's bare path
//! must also stay clear of every path served without a version, since the runtime rewrites
//! bare paths to versioned routes before the router sees them.

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};

use crate::diag::{Diagnostic, Diagnostics, Span};
use crate::ir::*;

/// The paths the runtime serves itself (health, metrics, the documents and their index, the
/// docs page), each with everything below it: an unversioned contract there would clash with
/// them when the routers merge. The login module's `/auth/...` is not listed: the module is a
/// contract of the project (unversioned, at `/auth`) when it is mounted, and clashes as one.
const RUNTIME_PATHS: &[&str] = &[
    "/health",
    "/metrics",
    "/openapi",
    "/openapi.json",
    "/openapi.yaml",
    "/docs",
];

/// `a` and `b` are the same path, or one is below the other (segment-wise).
fn path_overlaps(a: &str, b: &str) -> bool {
    let below = |inner: &str, outer: &str| {
        inner
            .strip_prefix(outer)
            .is_some_and(|rest| rest.starts_with('/'))
    };
    a == b || below(a, b) || below(b, a)
}

fn check_runtime_paths(project: &Project, diags: &mut Diagnostics) {
    for contract in project.contracts.values().filter(|c| !c.versioned) {
        let clash = RUNTIME_PATHS.iter().find(|reserved| {
            contract.path == **reserved || contract.path.starts_with(&format!("{reserved}/"))
        });
        if let Some(reserved) = clash {
            diags.push(
                Diagnostic::error(
                    contract.span,
                    format!(
                        "unversioned contract `{}` is served under `{reserved}`, which the runtime serves itself",
                        contract.name
                    ),
                )
                .with_help("choose another `path`, or serve the contract under `/v{N}`"),
            );
        }
    }
}

/// With the `header` or `media_type` strategy, a request may call a versioned route at its
/// bare path (`/tasks/1` for `/v2/tasks/1`): the runtime rewrites any path some version's
/// route matches before the router sees it. A versioned contract whose bare path is, holds or
/// lies below a path served without a version (the runtime's own, or an unversioned
/// contract's, the login module's `/auth` among them) would take that path's requests.
fn check_bare_paths(project: &Project, diags: &mut Diagnostics) {
    let versioning = &project.api.versioning;
    if !versioning.negotiates() {
        return;
    }
    let unversioned: Vec<&Contract> = project
        .contracts
        .values()
        .filter(|c| !c.versioned)
        .collect();
    for contract in project.contracts.values().filter(|c| c.versioned) {
        let bare = &contract.path;
        let with_strategy = |diagnostic: Diagnostic| match versioning.span {
            Some(span) => diagnostic.with_secondary(
                span,
                "bare paths answer for versioned routes because of this",
            ),
            None => diagnostic,
        };
        if let Some(reserved) = RUNTIME_PATHS.iter().find(|r| path_overlaps(bare, r)) {
            diags.push(with_strategy(
                Diagnostic::error(
                    contract.span,
                    format!(
                        "the bare path `{bare}` of versioned contract `{}` overlaps `{reserved}`, which the runtime serves itself",
                        contract.name
                    ),
                )
                .with_label(format!("served at `{bare}` as well as `/v{{N}}{bare}`"))
                .with_help(format!(
                    "requests for `{reserved}` would be taken for the contract's routes: choose another `path`"
                )),
            ));
        }
        for other in unversioned.iter().filter(|o| path_overlaps(bare, &o.path)) {
            diags.push(with_strategy(
                Diagnostic::error(
                    contract.span,
                    format!(
                        "the bare path `{bare}` of versioned contract `{}` overlaps `{}`, where {} is served",
                        contract.name,
                        other.path,
                        match other.provided_by {
                            Some(module) => format!(
                                "the {} module (contract `{}`)",
                                module.name(),
                                other.name
                            ),
                            None => format!("unversioned contract `{}`", other.name),
                        }
                    ),
                )
                .with_label(format!("served at `{bare}` as well as `/v{{N}}{bare}`"))
                .with_secondary(other.span, format!("`{}` is served at `{}` without a version", other.name, other.path))
                .with_help(format!(
                    "requests for `{}` would be taken for the versioned routes: give one of the two contracts another `path`",
                    other.path
                )),
            ));
        }
    }
}

/// The same method on the same path (parameters count as equal whatever their name) in the
/// same API version is served twice. Clashes between the same two declarations (two contracts
/// on one collection path clash on every CRUD route) are reported once, listing every route.
pub(super) fn check_routes(project: &Project, diags: &mut Diagnostics) {
    check_runtime_paths(project, diags);
    check_bare_paths(project, diags);
    let mut routes: HashMap<(u32, Method, String), (&Contract, &Operation)> = HashMap::new();
    // One path shape must be spelled one way: OpenAPI forbids paths that differ only in
    // parameter names, and the router cannot tell them apart.
    let mut spellings: HashMap<(u32, String), (String, &Contract, &Operation)> = HashMap::new();
    // (route, operation, first operation) for each pair of clashing declarations.
    type Clash = (String, String, String);
    let mut clashes: BTreeMap<(Span, Span), Vec<Clash>> = BTreeMap::new();
    for contract in project.contracts.values() {
        for op in contract.operations_in_order() {
            for &version in &op.versions {
                let full_path = op.full_path(contract, version);
                let shape = route_shape(&full_path);
                match spellings.entry((version, shape.clone())) {
                    Entry::Occupied(first) => {
                        let (first_path, first_contract, first_op) = first.get();
                        if *first_path != full_path {
                            diags.push(
                                Diagnostic::error(op.span, format!("`{full_path}` and `{first_path}` differ only in parameter names"))
                                    .with_label(format!("operation `{}.{}`", contract.name, op.name))
                                    .with_secondary(first_op.span, format!("`{}.{}` spells it `{first_path}`", first_contract.name, first_op.name))
                                    .with_help("use the same parameter names for the same path"),
                            );
                        }
                    }
                    Entry::Vacant(slot) => {
                        slot.insert((full_path.clone(), contract, op));
                    }
                }
                match routes.entry((version, op.method, shape)) {
                    Entry::Occupied(first) => {
                        let (first_contract, first_op) = first.get();
                        clashes.entry((op.span, first_op.span)).or_default().push((
                            format!("{} {full_path}", op.method.as_str()),
                            format!("{}.{}", contract.name, op.name),
                            format!("{}.{}", first_contract.name, first_op.name),
                        ));
                    }
                    Entry::Vacant(slot) => {
                        slot.insert((contract, op));
                    }
                }
            }
        }
    }
    for ((span, first_span), routes) in clashes {
        let [(route, op, first_op), rest @ ..] = routes.as_slice() else {
            continue;
        };
        let mut diagnostic = if rest.is_empty() {
            Diagnostic::error(span, format!("route `{route}` is served twice"))
                .with_label(format!("operation `{op}`"))
                .with_secondary(first_span, format!("also served by `{first_op}`"))
        } else {
            Diagnostic::error(span, format!("{} routes are served twice", routes.len()))
                .with_label(format!("operations here (`{op}`, ...)"))
                .with_secondary(first_span, format!("also served by `{first_op}`, ..."))
        };
        if !rest.is_empty() {
            for (route, op, first_op) in &routes {
                diagnostic = diagnostic.with_note(format!("`{route}`: `{op}` and `{first_op}`"));
            }
        }
        diags.push(diagnostic.with_help(
            "change the path or method of one operation (or the contract's `path`), or serve them in different versions",
        ));
    }
}

fn route_shape(path: &str) -> String {
    let mut shape = String::with_capacity(path.len());
    for (i, segment) in path.split('/').enumerate() {
        if i > 0 {
            shape.push('/');
        }
        shape.push_str(if segment.starts_with('{') {
            "{}"
        } else {
            segment
        });
    }
    shape
}
