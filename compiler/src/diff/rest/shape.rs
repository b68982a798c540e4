//! The REST bodies and query parameters as the wire carries them, built for [`super`] to
//! compare: a [`Shape`] is what travels in one [`Direction`], a request's fields those a client
//! may send (required when it must), a response's those it can rely on, nested messages
//! expanded and a message met again inside itself named rather than expanded. The resolved
//! model ([`crate::api`]) decides the derived bodies, as it does for the emitters. Nothing here
//! compares; it only builds.

use std::collections::BTreeMap;

use super::Served;
use crate::api::{BodyField, ContractApi};
use crate::diag::Span;
use crate::ir::{Body, BodyType, CrudKind, Definition, DerivedBody, Field, Project, Scalar, Type};

/// Whether data flows to the server (constraints bind, required means "must send") or back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    Request,
    Response,
}

/// A value as the wire sees it.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Shape<'p> {
    /// Nothing (no body).
    Empty,
    Scalar(Scalar),
    Enum(Vec<String>),
    List(Box<Shape<'p>>),
    Map(Box<Shape<'p>>),
    /// An object: whose fields (the contract or message that declares them) and which.
    Object {
        owner: String,
        members: Vec<Member<'p>>,
    },
    /// A message met again inside itself: compared by name.
    Recursive(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Member<'p> {
    pub(super) field: &'p Field,
    pub(super) required: bool,
    pub(super) shape: Shape<'p>,
}

pub(super) fn kind_name(shape: &Shape<'_>) -> String {
    match shape {
        Shape::Empty => "nothing".to_owned(),
        Shape::Scalar(s) => s.name().to_owned(),
        Shape::Enum(_) => "an enum".to_owned(),
        Shape::List(inner) => format!("list<{}>", kind_name(inner)),
        Shape::Map(inner) => format!("map<{}>", kind_name(inner)),
        Shape::Object { owner, .. } | Shape::Recursive(owner) => owner.clone(),
    }
}

fn members<'p>(
    project: &'p Project,
    owner: &str,
    fields: impl IntoIterator<Item = BodyField<'p>>,
    direction: Direction,
    visiting: &mut Vec<String>,
) -> Shape<'p> {
    Shape::Object {
        owner: owner.to_owned(),
        members: fields
            .into_iter()
            .map(|f| Member {
                field: f.field,
                required: f.required,
                shape: field_shape(project, &f.field.ty, direction, visiting),
            })
            .collect(),
    }
}

/// The fields of a declared contract or message as they travel in `direction`.
fn declared_fields(fields: &[Field], direction: Direction) -> Vec<BodyField<'_>> {
    fields
        .iter()
        .filter(|f| match direction {
            Direction::Request => !f.read_only,
            Direction::Response => !f.write_only,
        })
        .map(|field| BodyField {
            field,
            required: match direction {
                Direction::Request => !field.optional && field.default.is_none(),
                Direction::Response => !field.optional,
            },
        })
        .collect()
}

fn named_shape<'p>(
    project: &'p Project,
    name: &str,
    direction: Direction,
    visiting: &mut Vec<String>,
) -> Shape<'p> {
    if visiting.iter().any(|v| v == name) {
        return Shape::Recursive(name.to_owned());
    }
    visiting.push(name.to_owned());
    let shape = match project.resolve(name) {
        Some(Definition::Contract(c)) => members(
            project,
            &c.name,
            declared_fields(&c.fields, direction),
            direction,
            visiting,
        ),
        Some(Definition::Message(_, m)) => members(
            project,
            &m.name,
            declared_fields(&m.fields, direction),
            direction,
            visiting,
        ),
        Some(Definition::Enum(_, e)) => {
            Shape::Enum(e.values.iter().map(|v| v.name.clone()).collect())
        }
        None => Shape::Recursive(name.to_owned()),
    };
    visiting.pop();
    shape
}

pub(super) fn field_shape<'p>(
    project: &'p Project,
    ty: &Type,
    direction: Direction,
    visiting: &mut Vec<String>,
) -> Shape<'p> {
    match ty {
        Type::Scalar(s) => Shape::Scalar(*s),
        Type::List(inner) => {
            Shape::List(Box::new(field_shape(project, inner, direction, visiting)))
        }
        Type::Map(inner) => Shape::Map(Box::new(field_shape(project, inner, direction, visiting))),
        Type::Named(name) => named_shape(project, name, direction, visiting),
    }
}

/// A request or response body as the wire carries it in `direction`: a request's derived
/// bodies are the contract's input or patch fields, a page is a list of the resource, and a
/// named contract or message is its fields as they travel that way.
pub(super) fn body_shape<'p>(
    project: &'p Project,
    contract: &ContractApi<'p>,
    body: Option<&Body>,
    direction: Direction,
) -> Shape<'p> {
    let Some(body) = body else {
        return Shape::Empty;
    };
    let derived = |fields: &[BodyField<'p>]| {
        members(
            project,
            &contract.contract.name,
            fields.iter().copied(),
            direction,
            &mut Vec::new(),
        )
    };
    match (&body.ty, direction) {
        (BodyType::Derived(DerivedBody::Input), Direction::Request) => {
            derived(&contract.input.fields)
        }
        (BodyType::Derived(DerivedBody::Patch), Direction::Request) => {
            derived(&contract.patch.fields)
        }
        // A page's fixed fields never change; its items are the resource.
        (BodyType::Derived(DerivedBody::Page), _) => {
            Shape::List(Box::new(derived(&contract.resource.fields)))
        }
        (BodyType::Derived(_), Direction::Response) => derived(&contract.resource.fields),
        (BodyType::Named(name), _) => named_shape(project, name, direction, &mut Vec::new()),
        (BodyType::List(name), _) => Shape::List(Box::new(named_shape(
            project,
            name,
            direction,
            &mut Vec::new(),
        ))),
    }
}

/// One query parameter of a route.
pub(super) struct Parameter<'p> {
    pub(super) shape: Shape<'p>,
    pub(super) required: bool,
    pub(super) field: Option<&'p Field>,
    pub(super) span: Option<Span>,
}

/// The query parameters a route accepts that contracts decide: a custom operation's `query:`,
/// a list's filters (one per filterable field) and its `sort` (an enum of the sortable
/// fields, each ascending or descending). Paging parameters are the runtime's and fixed.
pub(super) fn parameters<'p>(
    project: &'p Project,
    served: &Served<'_, 'p>,
) -> BTreeMap<String, Parameter<'p>> {
    let mut params = BTreeMap::new();
    for query in &served.op.query {
        params.insert(
            query.field.name.clone(),
            Parameter {
                shape: field_shape(
                    project,
                    &query.field.ty,
                    Direction::Request,
                    &mut Vec::new(),
                ),
                required: query.required,
                field: Some(query.field),
                span: Some(query.field.span),
            },
        );
    }
    let contract = served.contract.contract;
    if served.op.operation.crud() == Some(CrudKind::List) {
        for field in contract.fields.iter().filter(|f| f.filterable) {
            params.insert(
                field.name.clone(),
                Parameter {
                    shape: field_shape(project, &field.ty, Direction::Request, &mut Vec::new()),
                    required: false,
                    field: Some(field),
                    span: Some(field.span),
                },
            );
        }
        let sortable: Vec<String> = contract
            .fields
            .iter()
            .filter(|f| f.sortable)
            .flat_map(|f| [f.name.clone(), format!("-{}", f.name)])
            .collect();
        if !sortable.is_empty() {
            params.insert(
                "sort".to_owned(),
                Parameter {
                    shape: Shape::Enum(sortable),
                    required: false,
                    field: None,
                    span: Some(served.op.operation.span),
                },
            );
        }
    }
    params
}
