//! The resolved API model: what every emitter needs, computed once from a validated project.
//!
//! The IR ([`crate::ir`]) is the *declared* model: what the contracts say, with the spans that
//! diagnostics point at. This module derives from it, in one pass, everything the projections
//! must agree on — which fields each body carries and which of them a client must send, the
//! names of derived types and messages, the operations served per version and the routes they
//! are served at, the files a contract's proto imports — so that the Rust, OpenAPI and proto
//! emitters read the answers instead of each deciding them. Where two projections disagreed
//! before (the key in `TagPatch`), they could only because each computed the field list itself.
//!
//! The model borrows the project: it is cheap to build, and holds no second copy of a field.

use std::collections::{BTreeMap, BTreeSet};

use crate::diag::Span;
use crate::ir::{
    AuthPolicy, BodyType, Contract, CrudKind, DerivedBody, Field, Method, Operation, Project,
    RateLimit,
};

/// The resolved model of a whole project.
#[derive(Debug)]
pub struct Api<'p> {
    pub project: &'p Project,
    /// The API versions any operation serves, ascending: one OpenAPI document each.
    pub versions: BTreeSet<u32>,
    /// Every contract, in the project's (name) order.
    pub contracts: Vec<ContractApi<'p>>,
}

/// One contract, resolved.
#[derive(Debug)]
pub struct ContractApi<'p> {
    pub contract: &'p Contract,
    /// The resource as the server returns it (write-only fields left out).
    pub resource: BodyModel<'p>,
    /// `TaskInput`: what create and replace requests send.
    pub input: BodyModel<'p>,
    /// `TaskPatch`: what patch requests send; no field is required.
    pub patch: BodyModel<'p>,
    /// `TaskFilter`: the list operation's equality filters, when it has any.
    pub filter: Option<BodyModel<'p>>,
    /// `TaskPage`: a page of list results, whose items are the resource.
    pub page: String,
    /// The derived bodies the contract's operations use (the proto file declares only these).
    pub derived_in_use: BTreeSet<DerivedBody>,
    /// The operations, CRUD in canonical order then custom ones by name.
    pub operations: Vec<OperationApi<'p>>,
    /// The proto service: `TaskService`.
    pub service: String,
    /// The Rust trait of the contract's handlers: `TaskHandlers`.
    pub handlers_trait: String,
    /// The other contracts whose types this one names, each with the first place it does: the
    /// files its proto imports (and what validation's cycle check follows).
    pub uses: BTreeMap<&'p str, Span>,
}

/// The fields of one body, in declaration order.
#[derive(Debug, Clone)]
pub struct BodyModel<'p> {
    /// The type, schema and message name: `TaskInput`.
    pub name: String,
    pub fields: Vec<BodyField<'p>>,
}

/// One field of a body.
#[derive(Debug, Clone, Copy)]
pub struct BodyField<'p> {
    pub field: &'p Field,
    /// A client must send the field in this body (it may still send `null` when nullable).
    pub required: bool,
}

impl<'p> BodyModel<'p> {
    fn of(
        name: String,
        fields: &'p [Field],
        carried: impl Fn(&Field) -> bool,
        required: impl Fn(&Field) -> bool,
    ) -> Self {
        Self {
            name,
            fields: fields
                .iter()
                .filter(|f| carried(f))
                .map(|field| BodyField {
                    field,
                    required: required(field),
                })
                .collect(),
        }
    }

    /// The declared fields, without their resolution.
    pub fn declared(&self) -> impl Iterator<Item = &'p Field> + '_ {
        self.fields.iter().map(|f| f.field)
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Whether the body carries the field named `name`.
    pub fn carries(&self, name: &str) -> bool {
        self.fields.iter().any(|f| f.field.name == name)
    }

    /// The wire names of the fields, in order.
    pub fn field_names(&self) -> Vec<&'p str> {
        self.fields.iter().map(|f| f.field.name.as_str()).collect()
    }
}

/// One operation, resolved.
#[derive(Debug)]
pub struct OperationApi<'p> {
    pub operation: &'p Operation,
    /// The OpenAPI `operationId`: `task_complete`.
    pub operation_id: String,
    /// The proto request message: `TaskCompleteRequest`.
    pub request_message: String,
    /// The proto message wrapping a list response (`TaskSearchResponse`); `None` when the
    /// response names its message directly or is empty.
    pub response_message: Option<String>,
    /// The Rust struct of a custom operation's query parameters (`TaskSearchQuery`), when it
    /// has any.
    pub query_struct: Option<String>,
    /// The declared query parameters; one is required unless it is optional or has a default
    /// the server fills in.
    pub query: Vec<BodyField<'p>>,
    /// Every route serving the operation: one per version, ascending.
    pub routes: Vec<Route>,
    /// Resolved: the operation's own policy, or the contract's.
    pub auth: &'p AuthPolicy,
    /// Resolved: the operation's own limit, or the contract's; never `Inherit`.
    pub rate_limit: &'p RateLimit,
}

/// Where one version serves an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub version: u32,
    pub method: Method,
    /// The full path: `/v1/tasks/{id}`.
    pub path: String,
}

impl<'p> Api<'p> {
    /// Resolves a project that lowered and validated without errors.
    pub fn resolve(project: &'p Project) -> Self {
        Self {
            project,
            versions: project.versions(),
            contracts: project
                .contracts
                .values()
                .map(|contract| ContractApi::resolve(project, contract))
                .collect(),
        }
    }

    /// The resolved contract named `name`.
    pub fn contract(&self, name: &str) -> Option<&ContractApi<'p>> {
        self.contracts
            .binary_search_by(|c| c.contract.name.as_str().cmp(name))
            .ok()
            .map(|i| &self.contracts[i])
    }

    /// Every route of every operation, contract by contract.
    pub fn routes(&self) -> impl Iterator<Item = (&ContractApi<'p>, &OperationApi<'p>, &Route)> {
        self.contracts.iter().flat_map(|c| {
            c.operations
                .iter()
                .flat_map(move |op| op.routes.iter().map(move |route| (c, op, route)))
        })
    }
}

impl<'p> ContractApi<'p> {
    /// Resolves one contract of a validated project (what the `#[contract]` macro needs).
    pub fn resolve(project: &'p Project, contract: &'p Contract) -> Self {
        let name = |derived: DerivedBody| derived.type_name(&contract.name);
        let fields = &contract.fields;
        let has_list = contract.operations.contains_key(CrudKind::List.name());
        let filter = BodyModel::of(
            format!("{}Filter", contract.name),
            fields,
            |f| f.filterable,
            |_| false,
        );
        Self {
            contract,
            resource: BodyModel::of(
                contract.name.clone(),
                fields,
                |f| !f.write_only,
                |f| !f.optional,
            ),
            // Everything but read-only fields; fields with defaults may be left out.
            input: BodyModel::of(
                name(DerivedBody::Input),
                fields,
                |f| !f.read_only,
                |f| !f.optional && f.default.is_none(),
            ),
            // The input fields but the key, which a patch never changes (it is in the path).
            patch: BodyModel::of(
                name(DerivedBody::Patch),
                fields,
                |f| !f.read_only && !f.primary,
                |_| false,
            ),
            filter: (has_list && !filter.is_empty()).then_some(filter),
            page: name(DerivedBody::Page),
            derived_in_use: contract
                .operations
                .values()
                .flat_map(|op| op.request.iter().chain(&op.response))
                .filter_map(|body| match body.ty {
                    BodyType::Derived(d) => Some(d),
                    _ => None,
                })
                .collect(),
            operations: contract
                .operations_in_order()
                .into_iter()
                .map(|op| OperationApi::resolve(contract, op))
                .collect(),
            service: format!("{}Service", contract.name),
            handlers_trait: format!("{}Handlers", contract.name),
            uses: project.contracts_used_by(contract),
        }
    }

    /// The fields of a derived body; `None` for `Page`, whose fields are fixed (`items`,
    /// `limit`, `offset`, `total`) and whose items are the resource.
    pub fn derived(&self, derived: DerivedBody) -> Option<&BodyModel<'p>> {
        match derived {
            DerivedBody::Input => Some(&self.input),
            DerivedBody::Patch => Some(&self.patch),
            DerivedBody::Page => None,
        }
    }

    /// The type, schema and message name of a derived body.
    pub fn derived_name(&self, derived: DerivedBody) -> &str {
        match derived {
            DerivedBody::Input => &self.input.name,
            DerivedBody::Patch => &self.patch.name,
            DerivedBody::Page => &self.page,
        }
    }

    /// Whether any operation's body is the derived one.
    pub fn uses_derived(&self, derived: DerivedBody) -> bool {
        self.derived_in_use.contains(&derived)
    }

    /// The resolved operation named `name`.
    pub fn operation(&self, name: &str) -> Option<&OperationApi<'p>> {
        self.operations.iter().find(|op| op.operation.name == name)
    }

    /// The resolved form of one of the contract's operations.
    ///
    /// # Panics
    ///
    /// When `op` is not the contract's: every operation of a resolved contract is resolved.
    pub fn of(&self, op: &Operation) -> &OperationApi<'p> {
        self.operation(&op.name).unwrap_or_else(|| {
            panic!(
                "operation `{}` of `{}` is resolved",
                op.name, self.contract.name
            )
        })
    }
}

impl<'p> OperationApi<'p> {
    fn resolve(contract: &'p Contract, op: &'p Operation) -> Self {
        Self {
            operation: op,
            operation_id: contract.operation_id(op),
            request_message: contract.request_message_name(op),
            response_message: contract.response_message_name(op),
            query_struct: (!op.query.is_empty()).then(|| contract.query_struct_name(op)),
            query: op
                .query
                .iter()
                .map(|field| BodyField {
                    field,
                    required: !field.optional && field.default.is_none(),
                })
                .collect(),
            routes: op
                .versions
                .iter()
                .map(|&version| Route {
                    version,
                    method: op.method,
                    path: op.full_path(contract, version),
                })
                .collect(),
            auth: &op.auth,
            rate_limit: &op.rate_limit,
        }
    }

    /// The versions serving the operation.
    pub fn versions(&self) -> &'p BTreeSet<u32> {
        &self.operation.versions
    }

    /// The route of one version, when it serves the operation.
    pub fn route(&self, version: u32) -> Option<&Route> {
        self.routes.iter().find(|r| r.version == version)
    }

    /// The routes a router mounts: each path once (an unversioned contract serves one path
    /// for all its versions).
    pub fn served_routes(&self) -> impl Iterator<Item = &Route> {
        self.routes
            .iter()
            .enumerate()
            .filter(|(i, route)| self.routes[..*i].iter().all(|r| r.path != route.path))
            .map(|(_, route)| route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_of(contract: &str) -> Project {
        let mut input = crate::Input::default();
        input.add_contract("c.yaml", contract);
        let (project, diags) = crate::lower_and_validate(&input);
        assert!(!diags.has_errors(), "{diags:?}");
        project
    }

    #[test]
    fn bodies_carry_the_fields_each_request_may_send() {
        let project = api_of(
            "contract: Tag
path: /tags
auth: public
fields:
  slug: { type: string, primary: true, max_length: 40 }
  label: string
  color: { type: string, default: red }
  note: { type: string, optional: true }
  hits: { type: int64, read_only: true, optional: true }
  token: { type: string, write_only: true }
crud: [list, get, create, patch]
",
        );
        let api = Api::resolve(&project);
        let tag = api.contract("Tag").expect("Tag resolved");
        assert_eq!(
            tag.resource.field_names(),
            ["slug", "label", "color", "note", "hits"]
        );
        assert_eq!(
            tag.input.field_names(),
            ["slug", "label", "color", "note", "token"]
        );
        let required: Vec<&str> = tag
            .input
            .fields
            .iter()
            .filter(|f| f.required)
            .map(|f| f.field.name.as_str())
            .collect();
        assert_eq!(required, ["slug", "label", "token"]);
        assert_eq!(
            tag.resource.fields.iter().filter(|f| !f.required).count(),
            2
        );
        // The client-chosen key is the one input field a patch cannot carry.
        assert_eq!(tag.patch.field_names(), ["label", "color", "note", "token"]);
        assert!(tag.patch.fields.iter().all(|f| !f.required));
        assert!(tag.filter.is_none());
        assert!(tag.uses_derived(DerivedBody::Patch));
        assert!(tag.uses_derived(DerivedBody::Input) && tag.uses_derived(DerivedBody::Page));
        let paths: Vec<String> = api
            .routes()
            .map(|(_, op, r)| format!("{} {} {}", op.operation_id, r.method.as_str(), r.path))
            .collect();
        assert_eq!(
            paths,
            [
                "tag_list GET /v1/tags",
                "tag_get GET /v1/tags/{id}",
                "tag_create POST /v1/tags",
                "tag_patch PATCH /v1/tags/{id}",
            ]
        );
    }
}
