//! The REST surface, version by version: routes, bodies, parameters, statuses and policies.
//!
//! Bodies are compared as the wire sees them, not by type name: a request body is the fields a
//! client may send (and must send), a response the fields it can rely on, nested messages
//! expanded. The resolved model ([`crate::api`]) decides both, as it does for the emitters.

mod shape;

use std::collections::{BTreeMap, BTreeSet};

use self::shape::{Direction, Member, Shape, body_shape, field_shape, kind_name, parameters};
use super::{Finding, Sides, Surface, Verdict};
use crate::api::{Api, ContractApi, OperationApi, Route};
use crate::diag::Span;
use crate::ir::{AuthPolicy, Constraints, Field, RoleMode};

pub(super) fn compare(sides: &Sides<'_>) -> Vec<Finding> {
    let old_api = Api::resolve(sides.old.project);
    let new_api = Api::resolve(sides.new.project);
    let old_routes = routes(&old_api);
    let new_routes = routes(&new_api);
    let mut findings = Vec::new();
    for (&version, old) in &old_routes {
        let Some(new) = new_routes.get(&version) else {
            let first = old.values().next();
            findings.push(Finding {
                rule: "version-removed",
                verdict: Verdict::Breaking,
                surface: Surface::Rest,
                subject: format!("v{version}"),
                message: format!("API version {version} is no longer served"),
                hint: Some(
                    "keep serving a version until its clients have moved: deprecate it and \
                     announce a sunset date first"
                        .to_owned(),
                ),
                location: first.and_then(|r| sides.old.locate(r.op.operation.span)),
                version: Some(version),
                route: None,
                served: true,
            });
            continue;
        };
        let mut at = Reach {
            version,
            served: true,
            findings: &mut findings,
            sides,
            route: String::new(),
            response: None,
        };
        compare_version(&mut at, old, new);
    }
    for (&version, new) in &new_routes {
        if !old_routes.contains_key(&version) {
            findings.push(Finding {
                rule: "version-added",
                verdict: Verdict::Safe,
                surface: Surface::Rest,
                subject: format!("v{version}"),
                message: format!("API version {version} is served"),
                hint: None,
                location: new
                    .values()
                    .next()
                    .and_then(|r| sides.new.locate(r.op.operation.span)),
                version: Some(version),
                route: None,
                served: false,
            });
        }
    }
    findings
}

/// One operation as one version serves it.
struct Served<'a, 'p> {
    contract: &'a ContractApi<'p>,
    op: &'a OperationApi<'p>,
    route: &'a Route,
}

impl Served<'_, '_> {
    fn label(&self) -> String {
        format!("{} {}", self.route.method.as_str(), self.route.path)
    }

    fn key(&self) -> String {
        format!("{}.{}", self.contract.contract.name, self.op.operation.name)
    }
}

type Routes<'a, 'p> = BTreeMap<u32, BTreeMap<(String, String), Served<'a, 'p>>>;

fn routes<'a, 'p>(api: &'a Api<'p>) -> Routes<'a, 'p> {
    let mut routes: Routes<'a, 'p> = BTreeMap::new();
    for (contract, op, route) in api.routes() {
        routes.entry(route.version).or_default().insert(
            (contract.contract.name.clone(), op.operation.name.clone()),
            Served {
                contract,
                op,
                route,
            },
        );
    }
    routes
}

/// Where findings are being made: the version, the route, and whether it was served.
struct Reach<'f, 's, 'p> {
    version: u32,
    served: bool,
    findings: &'f mut Vec<Finding>,
    sides: &'s Sides<'p>,
    route: String,
    /// The alternative success status whose body is being compared, if any: named in the
    /// messages (the `202` response) so that they differ from the main response's.
    response: Option<u16>,
}

impl Reach<'_, '_, '_> {
    /// The response being compared, as messages name it.
    fn response_name(&self) -> String {
        match self.response {
            Some(status) => format!("`{status}` response"),
            None => "response".to_owned(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        rule: &'static str,
        verdict: Verdict,
        subject: String,
        message: String,
        hint: Option<&str>,
        old: Option<Span>,
        new: Option<Span>,
    ) {
        let location = self.sides.locate(old, new);
        self.findings.push(Finding {
            rule,
            verdict,
            surface: Surface::Rest,
            subject,
            message,
            hint: hint.map(str::to_owned),
            location,
            version: Some(self.version),
            route: (!self.route.is_empty()).then(|| self.route.clone()),
            served: self.served,
        });
    }
}

const NEW_VERSION: &str = "serve the new form in a new API version (`versions:`) and keep the \
                           old one where it is until its clients have moved";

fn compare_version(
    at: &mut Reach<'_, '_, '_>,
    old: &BTreeMap<(String, String), Served<'_, '_>>,
    new: &BTreeMap<(String, String), Served<'_, '_>>,
) {
    let mut matched = BTreeSet::new();
    for (key, before) in old {
        // The same operation of the same contract, or else whatever now answers its route.
        let after = new.get(key).or_else(|| {
            new.iter()
                .find(|(k, r)| {
                    !old.contains_key(*k)
                        && r.route.method == before.route.method
                        && same_route(&r.route.path, &before.route.path)
                })
                .map(|(_, r)| r)
        });
        let Some(after) = after else {
            at.route = before.label();
            at.push(
                "operation-removed",
                Verdict::Breaking,
                before.key(),
                format!(
                    "`{}` is no longer served in v{}",
                    before.label(),
                    at.version
                ),
                Some(NEW_VERSION),
                Some(before.op.operation.span),
                None,
            );
            continue;
        };
        matched.insert((
            after.contract.contract.name.clone(),
            after.op.operation.name.clone(),
        ));
        at.route = before.label();
        if before.route.method != after.route.method
            || !same_route(&before.route.path, &after.route.path)
        {
            at.push(
                "path-changed",
                Verdict::Breaking,
                before.key(),
                format!(
                    "`{}` moved to `{}` in v{}",
                    before.label(),
                    after.label(),
                    at.version
                ),
                Some(NEW_VERSION),
                Some(before.op.operation.span),
                Some(after.op.operation.span),
            );
        }
        compare_operation(at, before, after);
    }
    for (key, after) in new {
        if !matched.contains(key) && !old.contains_key(key) {
            at.route = after.label();
            at.push(
                "operation-added",
                Verdict::Safe,
                after.key(),
                format!("`{}` is served in v{}", after.label(), at.version),
                None,
                None,
                Some(after.op.operation.span),
            );
        }
    }
}

/// Two route templates answer the same requests: the same segments, whatever their parameters
/// are called.
fn same_route(a: &str, b: &str) -> bool {
    let shape = |path: &str| -> Vec<String> {
        path.split('/')
            .map(|s| {
                if s.starts_with('{') {
                    "{}".to_owned()
                } else {
                    s.to_owned()
                }
            })
            .collect()
    };
    shape(a) == shape(b)
}

fn compare_operation(at: &mut Reach<'_, '_, '_>, before: &Served<'_, '_>, after: &Served<'_, '_>) {
    let (old_project, new_project) = (at.sides.old.project, at.sides.new.project);
    let old_op = before.op.operation;
    let new_op = after.op.operation;

    // Bodies: a request's fields as a client sends them, a response's as it reads them.
    let request = (old_op.request.as_ref(), new_op.request.as_ref());
    compare_bodies(
        at,
        before,
        after,
        Direction::Request,
        "request body",
        request,
    );
    let response = (old_op.response.as_ref(), new_op.response.as_ref());
    compare_bodies(
        at,
        before,
        after,
        Direction::Response,
        "response body",
        response,
    );

    // Parameters.
    let old_params = parameters(old_project, before);
    let new_params = parameters(new_project, after);
    for (name, old) in &old_params {
        let subject = format!("{} ?{name}", before.key());
        match new_params.get(name) {
            None => at.push(
                "query-parameter-removed",
                Verdict::Breaking,
                subject,
                format!("query parameter `{name}` is no longer accepted"),
                Some(NEW_VERSION),
                old.span,
                None,
            ),
            Some(new) => {
                if !old.required && new.required {
                    at.push(
                        "query-parameter-made-required",
                        Verdict::Breaking,
                        subject.clone(),
                        format!("query parameter `{name}` must now be given"),
                        Some("give it a default, or keep it optional"),
                        old.span,
                        new.span,
                    );
                } else if old.required && !new.required {
                    at.push(
                        "query-parameter-made-optional",
                        Verdict::Safe,
                        subject.clone(),
                        format!("query parameter `{name}` may now be left out"),
                        None,
                        None,
                        new.span,
                    );
                }
                if let (Some(old_field), Some(new_field)) = (old.field, new.field) {
                    compare_constraints(at, &subject, old_field, new_field);
                }
                compare_shape(
                    at,
                    Direction::Request,
                    &format!("query parameter `{name}`"),
                    &old.shape,
                    &new.shape,
                    (old.field, new.field),
                );
            }
        }
    }
    for (name, new) in &new_params {
        if old_params.contains_key(name) {
            continue;
        }
        let subject = format!("{} ?{name}", after.key());
        if new.required {
            at.push(
                "query-parameter-added-required",
                Verdict::Breaking,
                subject,
                format!("query parameter `{name}` is now required"),
                Some("give the new parameter a default, or make it optional"),
                None,
                new.span,
            );
        } else {
            at.push(
                "query-parameter-added-optional",
                Verdict::Safe,
                subject,
                format!("optional query parameter `{name}` is accepted"),
                None,
                None,
                new.span,
            );
        }
    }
    for (i, (old, new)) in old_op
        .path_params
        .iter()
        .zip(&new_op.path_params)
        .enumerate()
    {
        let (old_shape, new_shape) = (
            field_shape(old_project, &old.ty, Direction::Request, &mut Vec::new()),
            field_shape(new_project, &new.ty, Direction::Request, &mut Vec::new()),
        );
        compare_constraints(at, &format!("{} {{{}}}", after.key(), new.name), old, new);
        compare_shape(
            at,
            Direction::Request,
            &format!("path parameter {}", i + 1),
            &old_shape,
            &new_shape,
            (Some(old), Some(new)),
        );
    }

    // Success statuses, and the bodies of the alternative ones both sides answer with (the
    // main response's body is compared above, whatever its status).
    let statuses = |op: &crate::ir::Operation| -> BTreeSet<u16> {
        op.replies().iter().map(|r| r.status).collect()
    };
    let (old_statuses, new_statuses) = (statuses(old_op), statuses(new_op));
    let (old_replies, new_replies) = (old_op.replies(), new_op.replies());
    for old_reply in &old_replies {
        let status = old_reply.status;
        if status == old_op.status && status == new_op.status {
            continue;
        }
        let Some(new_reply) = new_replies.iter().find(|r| r.status == status) else {
            continue;
        };
        at.response = Some(status);
        compare_bodies(
            at,
            before,
            after,
            Direction::Response,
            &format!("`{status}` response body"),
            (old_reply.body.as_ref(), new_reply.body.as_ref()),
        );
        at.response = None;
    }
    for status in old_statuses.difference(&new_statuses) {
        at.push(
            "response-status-removed",
            Verdict::Breaking,
            before.key(),
            format!("no longer answers {status} on success"),
            Some("keep the old success status; a client checks for it"),
            Some(old_op.span),
            Some(new_op.span),
        );
    }
    for status in new_statuses.difference(&old_statuses) {
        at.push(
            "response-status-added",
            Verdict::Safe,
            after.key(),
            format!("may answer {status} on success"),
            None,
            None,
            Some(new_op.span),
        );
    }

    // Who may call it.
    let (old_auth, new_auth) = (before.op.auth, after.op.auth);
    if old_auth != new_auth {
        let change = format!(
            "auth changed from {} to {}",
            describe(old_auth),
            describe(new_auth)
        );
        if admits_fewer(old_auth, new_auth) {
            at.push(
                "auth-stricter",
                Verdict::Breaking,
                before.key(),
                change,
                Some("callers that were admitted are now refused: tighten access in a new version, or grant the new roles to every caller first"),
                Some(old_op.span),
                Some(new_op.span),
            );
        } else if admits_fewer(new_auth, old_auth) {
            at.push(
                "auth-relaxed",
                Verdict::Safe,
                after.key(),
                change,
                None,
                Some(old_op.span),
                Some(new_op.span),
            );
        }
    }
}

fn describe(auth: &AuthPolicy) -> String {
    match auth {
        AuthPolicy::Public => "public".to_owned(),
        AuthPolicy::Authenticated => "any signed-in caller".to_owned(),
        AuthPolicy::Roles { roles, mode } => {
            let roles: Vec<&str> = roles.iter().map(String::as_str).collect();
            match mode {
                RoleMode::Any => format!("any of roles [{}]", roles.join(", ")),
                RoleMode::All => format!("all of roles [{}]", roles.join(", ")),
            }
        }
    }
}

/// Whether some caller that `old` admits is refused by `new`.
fn admits_fewer(old: &AuthPolicy, new: &AuthPolicy) -> bool {
    use AuthPolicy::*;
    match (old, new) {
        (_, Public) => false,
        (Public, _) => true,
        (Authenticated, Authenticated) => false,
        (Authenticated, Roles { .. }) => true,
        (Roles { .. }, Authenticated) => false,
        (
            Roles {
                roles: was,
                mode: was_mode,
            },
            Roles { roles: now, mode },
        ) => match (was_mode, mode) {
            // Any one of `was` sufficed: a caller with a role no longer listed is refused.
            (RoleMode::Any, RoleMode::Any) => !was.is_subset(now),
            // A caller holding exactly `was` now needs every role of `now`.
            (RoleMode::All, RoleMode::All) => !now.is_subset(was),
            // A caller holding any single role of `was` must now hold all of `now`.
            (RoleMode::Any, RoleMode::All) => was
                .iter()
                .any(|role| !now.iter().all(|needed| needed == role)),
            // A caller holding exactly `was` needs one role of `now`.
            (RoleMode::All, RoleMode::Any) => was.is_disjoint(now),
        },
    }
}

/// Compares what one place (a body, a parameter, a field) carries before and after.
/// Compares one body of an operation on both sides, as the wire carries it in `direction`.
fn compare_bodies(
    at: &mut Reach<'_, '_, '_>,
    before: &Served<'_, '_>,
    after: &Served<'_, '_>,
    direction: Direction,
    place: &str,
    (old, new): (Option<&crate::ir::Body>, Option<&crate::ir::Body>),
) {
    let old = body_shape(at.sides.old.project, before.contract, old, direction);
    let new = body_shape(at.sides.new.project, after.contract, new, direction);
    compare_shape(at, direction, place, &old, &new, (None, None));
}

fn compare_shape(
    at: &mut Reach<'_, '_, '_>,
    direction: Direction,
    place: &str,
    old: &Shape<'_>,
    new: &Shape<'_>,
    fields: (Option<&Field>, Option<&Field>),
) {
    let spans = (fields.0.map(|f| f.span), fields.1.map(|f| f.span));
    let subject = || match fields {
        (_, Some(f)) | (Some(f), None) => format!("{place} `{}`", f.name),
        _ => place.to_owned(),
    };
    match (old, new) {
        (
            Shape::Object {
                owner: old_owner,
                members: old_members,
            },
            Shape::Object {
                owner: new_owner,
                members: new_members,
            },
        ) => compare_members(
            at,
            direction,
            (old_owner, new_owner),
            old_members,
            new_members,
        ),
        // A body that appears or disappears: its fields appear or disappear.
        (Shape::Empty, Shape::Object { owner, members }) => {
            compare_members(at, direction, (owner, owner), &[], members);
        }
        (Shape::Object { owner, members }, Shape::Empty) => {
            compare_members(at, direction, (owner, owner), members, &[]);
        }
        (Shape::List(a), Shape::List(b)) | (Shape::Map(a), Shape::Map(b)) => {
            compare_shape(at, direction, place, a, b, fields);
        }
        (Shape::Enum(a), Shape::Enum(b)) => {
            for value in a.iter().filter(|v| !b.contains(v)) {
                at.push(
                    "enum-value-removed",
                    Verdict::Breaking,
                    subject(),
                    format!("{} no longer has the value `{value}`", subject()),
                    Some("keep the value (deprecate it in its description) until no client sends or expects it"),
                    spans.0,
                    spans.1,
                );
            }
            for value in b.iter().filter(|v| !a.contains(v)) {
                at.push(
                    "enum-value-added",
                    Verdict::Safe,
                    subject(),
                    format!("{} gained the value `{value}`", subject()),
                    None,
                    None,
                    spans.1.or(spans.0),
                );
            }
        }
        (a, b) if a == b => {}
        (Shape::Recursive(a), Shape::Recursive(b)) if a == b => {}
        (Shape::Scalar(a), Shape::Scalar(b)) if a == b => {}
        (a, b) => at.push(
            "field-type-changed",
            Verdict::Breaking,
            subject(),
            format!(
                "{} changed type from {} to {}",
                subject(),
                kind_name(a),
                kind_name(b)
            ),
            Some("add a field of the new type beside the old one instead, and deprecate the old"),
            spans.0,
            spans.1,
        ),
    }
}

fn compare_members(
    at: &mut Reach<'_, '_, '_>,
    direction: Direction,
    owners: (&str, &str),
    old: &[Member<'_>],
    new: &[Member<'_>],
) {
    let request = direction == Direction::Request;
    let body = if request {
        "request".to_owned()
    } else {
        at.response_name()
    };
    for before in old {
        let name = &before.field.name;
        let subject = format!("{}.{name}", owners.0);
        let Some(after) = new.iter().find(|m| m.field.name == *name) else {
            let (rule, hint) = if request {
                (
                    "request-field-removed",
                    "clients still send it and would be refused (unknown fields are rejected): keep accepting it, deprecated, until they stop",
                )
            } else {
                (
                    "response-field-removed",
                    "clients may read it: keep returning it, marked `deprecated: true`, until they have moved",
                )
            };
            at.push(
                rule,
                Verdict::Breaking,
                subject.clone(),
                format!("`{subject}` is no longer in the {body}"),
                Some(hint),
                Some(before.field.span),
                None,
            );
            continue;
        };
        let subject = format!("{}.{name}", owners.1);
        if request {
            if !before.required && after.required {
                at.push(
                    "request-field-made-required",
                    Verdict::Breaking,
                    subject.clone(),
                    format!("`{subject}` must now be sent"),
                    Some("give it a default, or keep it optional"),
                    Some(before.field.span),
                    Some(after.field.span),
                );
            } else if before.required && !after.required {
                at.push(
                    "request-field-made-optional",
                    Verdict::Safe,
                    subject.clone(),
                    format!("`{subject}` may now be left out"),
                    None,
                    None,
                    Some(after.field.span),
                );
            }
            let (was_null, is_null) = (before.field.nullable, after.field.nullable);
            if was_null && !is_null {
                at.push(
                    "constraint-narrowed",
                    Verdict::Breaking,
                    subject.clone(),
                    format!("`{subject}` no longer accepts null"),
                    Some(NARROWED),
                    Some(before.field.span),
                    Some(after.field.span),
                );
            } else if !was_null && is_null {
                at.push(
                    "constraint-widened",
                    Verdict::Safe,
                    subject.clone(),
                    format!("`{subject}` now accepts null"),
                    None,
                    None,
                    Some(after.field.span),
                );
            }
            compare_constraints(at, &subject, before.field, after.field);
        } else {
            // Present before and maybe absent now, or never null before and maybe null now.
            let may_vanish = before.required && !after.required;
            let may_be_null = !before.field.nullable && after.field.nullable;
            if may_vanish || may_be_null {
                at.push(
                    "response-field-made-optional",
                    Verdict::Breaking,
                    subject.clone(),
                    format!("`{subject}` may now be missing or null in the {body}"),
                    Some("clients rely on it being there: keep it always present in this version"),
                    Some(before.field.span),
                    Some(after.field.span),
                );
            }
        }
        compare_shape(
            at,
            direction,
            &format!("`{subject}`"),
            &before.shape,
            &after.shape,
            (Some(before.field), Some(after.field)),
        );
    }
    for after in new {
        let name = &after.field.name;
        if old.iter().any(|m| m.field.name == *name) {
            continue;
        }
        let subject = format!("{}.{name}", owners.1);
        let (rule, verdict, message, hint) = match (request, after.required) {
            (true, true) => (
                "request-field-added-required",
                Verdict::Breaking,
                format!("`{subject}` is new and must be sent"),
                Some("give the new field a default, or make it optional"),
            ),
            (true, false) => (
                "request-field-added-optional",
                Verdict::Safe,
                format!("`{subject}` is new and may be sent"),
                None,
            ),
            (false, _) => (
                "response-field-added",
                Verdict::Safe,
                format!("`{subject}` is new in the {body}"),
                None,
            ),
        };
        at.push(
            rule,
            verdict,
            subject,
            message,
            hint,
            None,
            Some(after.field.span),
        );
    }
}

const NARROWED: &str = "values clients send today would be refused: keep the old bounds in this \
                        version, or validate the new ones in a new version";

/// Constraints of a field accepted in requests: a narrower one refuses what was accepted.
fn compare_constraints(at: &mut Reach<'_, '_, '_>, subject: &str, old: &Field, new: &Field) {
    let mut narrowed = Vec::new();
    let mut widened = Vec::new();
    for (what, a, b) in [
        ("", &*old.constraints, &*new.constraints),
        ("items: ", &*old.item_constraints, &*new.item_constraints),
    ] {
        let (n, w) = bounds(a, b);
        narrowed.extend(n.into_iter().map(|s| format!("{what}{s}")));
        widened.extend(w.into_iter().map(|s| format!("{what}{s}")));
    }
    if !narrowed.is_empty() {
        at.push(
            "constraint-narrowed",
            Verdict::Breaking,
            subject.to_owned(),
            format!("`{subject}` accepts less: {}", narrowed.join(", ")),
            Some(NARROWED),
            Some(old.span),
            Some(new.span),
        );
    }
    if !widened.is_empty() {
        at.push(
            "constraint-widened",
            Verdict::Safe,
            subject.to_owned(),
            format!("`{subject}` accepts more: {}", widened.join(", ")),
            None,
            None,
            Some(new.span),
        );
    }
}

/// What got narrower and what got wider between two sets of constraints.
fn bounds(old: &Constraints, new: &Constraints) -> (Vec<String>, Vec<String>) {
    let mut narrowed = Vec::new();
    let mut widened = Vec::new();
    let mut side = |narrower: bool, text: String| {
        if narrower {
            narrowed.push(text);
        } else {
            widened.push(text);
        }
    };
    // A lower bound narrows when it appears or rises; an upper one when it appears or falls.
    let mut lower = |name: &str, a: Option<f64>, b: Option<f64>| match (a, b) {
        (None, Some(b)) => side(true, format!("{name} {b} added")),
        (Some(a), None) => side(false, format!("{name} {a} removed")),
        (Some(a), Some(b)) if b > a => side(true, format!("{name} {a} -> {b}")),
        (Some(a), Some(b)) if b < a => side(false, format!("{name} {a} -> {b}")),
        _ => {}
    };
    let as_f = |v: Option<u64>| v.map(|v| v as f64);
    lower("min_length", as_f(old.min_length), as_f(new.min_length));
    lower("min_items", as_f(old.min_items), as_f(new.min_items));
    lower("minimum", old.minimum, new.minimum);
    lower(
        "exclusive_minimum",
        old.exclusive_minimum,
        new.exclusive_minimum,
    );
    let neg = |v: Option<f64>| v.map(|v| -v);
    // An upper bound is a lower bound of the negated value.
    let mut upper = |name: &str, a: Option<f64>, b: Option<f64>| match (a, b) {
        (None, Some(b)) => side(true, format!("{name} {b} added")),
        (Some(a), None) => side(false, format!("{name} {a} removed")),
        (Some(a), Some(b)) if neg(Some(b)) > neg(Some(a)) => {
            side(true, format!("{name} {a} -> {b}"));
        }
        (Some(a), Some(b)) if b > a => side(false, format!("{name} {a} -> {b}")),
        _ => {}
    };
    upper("max_length", as_f(old.max_length), as_f(new.max_length));
    upper("max_items", as_f(old.max_items), as_f(new.max_items));
    upper("maximum", old.maximum, new.maximum);
    upper(
        "exclusive_maximum",
        old.exclusive_maximum,
        new.exclusive_maximum,
    );
    match (&old.pattern, &new.pattern) {
        (None, Some(p)) => side(true, format!("pattern `{p}` added")),
        (Some(_), None) => side(false, "pattern removed".to_owned()),
        (Some(a), Some(b)) if a != b => side(true, format!("pattern `{a}` -> `{b}`")),
        _ => {}
    }
    match (old.format, new.format) {
        (None, Some(f)) => side(true, format!("format `{}` added", f.name())),
        (Some(_), None) => side(false, "format removed".to_owned()),
        (Some(a), Some(b)) if a != b => {
            side(true, format!("format `{}` -> `{}`", a.name(), b.name()));
        }
        _ => {}
    }
    match (old.multiple_of, new.multiple_of) {
        (None, Some(m)) => side(true, format!("multiple_of {m} added")),
        (Some(m), None) => side(false, format!("multiple_of {m} removed")),
        // A value that was a multiple of `a` is still one of `b` when `b` divides `a`.
        (Some(a), Some(b)) if a != b => {
            let divides = (a / b).fract() == 0.0;
            side(!divides, format!("multiple_of {a} -> {b}"));
        }
        _ => {}
    }
    match (old.unique_items, new.unique_items) {
        (false, true) => side(true, "unique_items added".to_owned()),
        (true, false) => side(false, "unique_items removed".to_owned()),
        _ => {}
    }
    (narrowed, widened)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(mode: RoleMode, names: &[&str]) -> AuthPolicy {
        AuthPolicy::Roles {
            roles: names.iter().map(|s| (*s).to_owned()).collect(),
            mode,
        }
    }

    #[test]
    fn auth_order() {
        use AuthPolicy::*;
        assert!(admits_fewer(&Public, &Authenticated));
        assert!(!admits_fewer(&Authenticated, &Public));
        let any_ab = roles(RoleMode::Any, &["a", "b"]);
        let any_a = roles(RoleMode::Any, &["a"]);
        let all_ab = roles(RoleMode::All, &["a", "b"]);
        assert!(admits_fewer(&any_ab, &any_a));
        assert!(!admits_fewer(&any_a, &any_ab));
        assert!(admits_fewer(&any_ab, &all_ab));
        assert!(!admits_fewer(&all_ab, &any_ab));
        assert!(admits_fewer(&roles(RoleMode::All, &["a"]), &all_ab));
        assert!(!admits_fewer(&any_a, &roles(RoleMode::All, &["a"])));
        assert!(admits_fewer(&all_ab, &roles(RoleMode::Any, &["c"])));
    }

    #[test]
    fn constraint_bounds() {
        let old = Constraints {
            max_length: Some(10),
            minimum: Some(0.0),
            multiple_of: Some(0.5),
            ..Constraints::default()
        };
        let new = Constraints {
            max_length: Some(5),
            minimum: Some(-1.0),
            multiple_of: Some(0.25),
            pattern: Some("^a".to_owned()),
            ..Constraints::default()
        };
        let (narrowed, widened) = bounds(&old, &new);
        assert_eq!(narrowed, ["max_length 10 -> 5", "pattern `^a` added"]);
        assert_eq!(widened, ["minimum 0 -> -1", "multiple_of 0.5 -> 0.25"]);
    }
}
