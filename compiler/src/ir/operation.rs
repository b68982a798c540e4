//! Operations: CRUD and custom, their methods, bodies and answers.

use std::collections::BTreeSet;

use super::{AuthPolicy, Contract, Field, RateLimit};
use crate::diag::Span;

/// The built-in operations every contract may serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CrudKind {
    List,
    Get,
    Create,
    /// `PUT`: replaces the resource.
    Update,
    /// `PATCH`: changes the fields sent, `null` clears a nullable field.
    Patch,
    Delete,
    /// `GET {path}/me`: the record of the signed-in account, on an account contract only
    /// (`account:`), whose keys are account ids.
    Me,
}

impl CrudKind {
    /// The operations a contract gets when `crud:` is absent: every named one but `me`, an
    /// account contract's (last in [`CrudKind::NAMED`]).
    pub const ALL: &[CrudKind] = CrudKind::NAMED.split_at(6).0;

    pub fn name(self) -> &'static str {
        match self {
            CrudKind::List => "list",
            CrudKind::Get => "get",
            CrudKind::Create => "create",
            CrudKind::Update => "update",
            CrudKind::Patch => "patch",
            CrudKind::Delete => "delete",
            CrudKind::Me => "me",
        }
    }

    /// Every kind a contract may list, `me` included.
    pub const NAMED: [CrudKind; 7] = [
        CrudKind::List,
        CrudKind::Get,
        CrudKind::Create,
        CrudKind::Update,
        CrudKind::Patch,
        CrudKind::Delete,
        CrudKind::Me,
    ];

    pub fn from_name(name: &str) -> Option<CrudKind> {
        CrudKind::NAMED.into_iter().find(|k| k.name() == name)
    }

    pub fn method(self) -> Method {
        match self {
            CrudKind::List | CrudKind::Get | CrudKind::Me => Method::Get,
            CrudKind::Create => Method::Post,
            CrudKind::Update => Method::Put,
            CrudKind::Patch => Method::Patch,
            CrudKind::Delete => Method::Delete,
        }
    }

    /// The path relative to the contract's collection path.
    pub fn path(self) -> &'static str {
        match self {
            CrudKind::List | CrudKind::Create => "",
            CrudKind::Me => "/me",
            _ => "/{id}",
        }
    }

    pub fn success_status(self) -> u16 {
        match self {
            CrudKind::Create => 201,
            CrudKind::Delete => 204,
            _ => 200,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Method {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    pub const ALL: [Method; 5] = [
        Method::Get,
        Method::Post,
        Method::Put,
        Method::Patch,
        Method::Delete,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    pub fn lowercase(self) -> &'static str {
        match self {
            Method::Get => "get",
            Method::Post => "post",
            Method::Put => "put",
            Method::Patch => "patch",
            Method::Delete => "delete",
        }
    }

    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name))
    }

    /// Whether requests of this method carry a body.
    pub fn has_body(self) -> bool {
        matches!(self, Method::Post | Method::Put | Method::Patch)
    }
}

/// Whether an operation is one of the built-in CRUD ones or written by the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum OperationKind {
    Crud(CrudKind),
    Custom,
}

/// One HTTP operation of a contract. CRUD operations are expanded into the same shape as
/// custom ones, so emitters treat both alike.
#[derive(Debug, Clone, PartialEq)]
pub struct Operation {
    /// `list`, `get`, ... for CRUD; the snake_case name for custom operations.
    pub name: String,
    pub span: Span,
    pub kind: OperationKind,
    pub method: Method,
    /// The path relative to the contract's path, e.g. `/{id}/complete` (may be empty).
    pub path: String,
    pub summary: Option<String>,
    pub description: Option<String>,
    pub deprecated: bool,
    /// Already resolved: the operation's own dates, or its contract's.
    pub deprecation: Option<super::Deprecation>,
    /// Path parameters in the order they appear in the path. `{id}` is the primary key.
    pub path_params: Vec<Field>,
    /// Query parameters (scalar fields only).
    pub query: Vec<Field>,
    /// The request body, when the operation takes one.
    pub request: Option<Body>,
    /// The success response body; `None` is an empty response (204).
    pub response: Option<Body>,
    /// The success status code (a 3xx one for a redirect).
    pub status: u16,
    /// The success answer is a redirect (`response: redirect`): `status` with a `Location`
    /// and no body.
    pub redirect: bool,
    /// The cookies the operation reads from the request or sets in its answer (`cookies:`).
    pub cookies: Vec<Cookie>,
    /// Other successes the operation answers with, besides `status` (`responses:`).
    pub alternatives: Vec<Reply>,
    /// Problems the operation's own logic answers with, and when (`errors:`); documented
    /// beside those every operation of its kind may give.
    pub errors: Vec<DeclaredError>,
    /// Successful answers carry credentials: `Cache-Control: no-store`.
    pub no_store: bool,
    /// Already resolved: the operation's own policy, or the contract's.
    pub auth: AuthPolicy,
    /// Already resolved: the operation's own limit, or the contract's; never `Inherit`.
    pub rate_limit: RateLimit,
    /// Already resolved: a subset of the contract's versions.
    pub versions: BTreeSet<u32>,
    /// Where the operation's own overrides were written, for diagnostics.
    pub versions_span: Option<Span>,
}

impl Operation {
    pub(super) fn order_key(&self) -> (u8, Option<CrudKind>, &str) {
        match self.kind {
            OperationKind::Crud(kind) => (0, Some(kind), ""),
            OperationKind::Custom => (1, None, &self.name),
        }
    }

    pub fn crud(&self) -> Option<CrudKind> {
        match self.kind {
            OperationKind::Crud(kind) => Some(kind),
            OperationKind::Custom => None,
        }
    }

    /// The full path served for one version: `/v1/tasks/{id}`, or `/auth/login` for an
    /// unversioned contract.
    pub fn full_path(&self, contract: &Contract, version: u32) -> String {
        if contract.versioned {
            format!("/v{version}{}{}", contract.path, self.path)
        } else {
            format!("{}{}", contract.path, self.path)
        }
    }

    /// The success answers: `status` with `response`, then the alternatives by status.
    pub fn replies(&self) -> Vec<Reply> {
        let mut replies = vec![Reply {
            status: self.status,
            body: self.response.clone(),
            description: None,
        }];
        replies.extend(self.alternatives.iter().cloned());
        replies
    }
}

/// A cookie an operation reads or sets: documented as an `in: cookie` parameter when `sent`,
/// and as the answer's `Set-Cookie` header when `set`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    pub name: String,
    pub span: Span,
    pub description: Option<String>,
    /// Requests may carry it; the handler receives the request's cookies.
    pub sent: bool,
    /// The success answer (a redirect) sets it.
    pub set: bool,
}

/// The statuses a redirect may answer with: 302 and 303 turn the next request into a GET,
/// 307 and 308 keep the method; 301 is left out (clients cache it).
pub const REDIRECT_STATUSES: &[u16] = &[302, 303, 307, 308];

/// One success answer of an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    /// `None` for an empty answer.
    pub body: Option<Body>,
    /// When the operation answers so.
    pub description: Option<String>,
}

/// A problem status an operation declares, with when it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeclaredError {
    pub status: u16,
    pub description: String,
    pub span: Span,
}

/// The problem statuses an operation may declare: those the runtime's problems use.
pub const PROBLEM_STATUSES: &[u16] = &[
    400, 401, 403, 404, 409, 413, 415, 422, 429, 500, 502, 503, 504,
];

/// A request or response body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    pub ty: BodyType,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodyType {
    /// A contract or message by name.
    Named(String),
    /// A list of a contract or message.
    List(String),
    /// CRUD bodies that are derived from the contract itself.
    Derived(DerivedBody),
}

/// Bodies the compiler derives from a contract for its CRUD operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DerivedBody {
    /// What create (POST) and replace (PUT) requests send: every input field (no read-only
    /// ones); fields with defaults may be left out.
    Input,
    /// What a patch request may send: every input field, each optional; `null` clears a
    /// nullable field.
    Patch,
    /// A page of the resource: `items`, `limit`, `offset` and, when asked for, `total`.
    Page,
}

impl DerivedBody {
    /// The schema / message / struct name of the body for `contract`.
    pub fn type_name(self, contract: &str) -> String {
        match self {
            DerivedBody::Input => format!("{contract}Input"),
            DerivedBody::Patch => format!("{contract}Patch"),
            DerivedBody::Page => format!("{contract}Page"),
        }
    }
}
