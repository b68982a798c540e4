//! The intermediate representation every front end lowers to and every emitter reads.
//!
//! Plain data only: no YAML or `syn` types. Collections whose order is not meaningful in the
//! source are `BTreeMap`s, so that output never depends on hashing; fields keep the order in
//! which the contract declares them, because that order is what users expect to see in structs,
//! schemas and messages.

mod module;
mod names;
mod operation;

pub use module::Module;
pub use names::*;
pub use operation::*;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::diag::{FileId, Span};

/// Everything one compilation knows: the project settings and all contracts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Project {
    pub api: ApiInfo,
    /// The runtime's modules the project mounts (`modules:` in `cmmv.yaml`), each documented
    /// through the contract it is declared as.
    pub modules: BTreeSet<Module>,
    /// Named rate-limit policies that operations refer to by name.
    pub rate_limits: BTreeMap<String, RateLimitPolicy>,
    /// Contracts by name.
    pub contracts: BTreeMap<String, Contract>,
    /// The contract declaring each message and enum (see [`Project::index_types`]).
    pub type_owners: BTreeMap<String, String>,
    /// Deprecated API versions (`versions: { 1: { deprecated: ... } }` in `cmmv.yaml`): every
    /// route they serve is deprecated, unless its operation says when itself.
    pub deprecated_versions: BTreeMap<u32, Deprecation>,
}

/// A deprecation with its dates (`deprecated: { since, sunset, link }`): announced in the
/// `Deprecation` (RFC 9745), `Sunset` (RFC 8594) and `Link` headers of every answer, and past
/// `sunset` answered `410 Gone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deprecation {
    /// When it was deprecated, Unix seconds.
    pub since: Option<i64>,
    /// When it stops being served, Unix seconds.
    pub sunset: Option<i64>,
    /// A page about the deprecation and what replaces it.
    pub link: Option<String>,
    pub span: Span,
}

impl Project {
    /// The deprecation of `op` of `contract` as version `version` serves it: the operation's
    /// own (or its contract's), else the version's — unless the contract is unversioned: one
    /// path serves every version, and a version's deprecation is not its own.
    pub fn deprecation_of<'a>(
        &'a self,
        contract: &Contract,
        op: &'a Operation,
        version: u32,
    ) -> Option<&'a Deprecation> {
        op.deprecation.as_ref().or_else(|| {
            contract
                .versioned
                .then(|| self.deprecated_versions.get(&version))
                .flatten()
        })
    }
}

/// Project-wide settings, from `cmmv.yaml` next to the contracts (all optional).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiInfo {
    pub title: String,
    pub version: String,
    pub description: Option<String>,
    /// The proto package, e.g. `todo.v1`.
    pub proto_package: String,
    /// Where the API is served; the documents say a relative `/` (the host serving them) when
    /// none is declared.
    pub servers: Vec<Server>,
    pub contact: Option<Contact>,
    pub license: Option<License>,
    /// A URL.
    pub terms_of_service: Option<String>,
    pub external_docs: Option<ExternalDocs>,
    /// How requests name their API version (`versioning:`).
    pub versioning: Versioning,
    /// The file `cmmv.yaml` was read from, when there was one.
    pub file: Option<FileId>,
}

/// How requests name their API version (`versioning:` in `cmmv.yaml`); several strategies may
/// be on at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioning {
    /// `/v{N}/...` paths (on by default).
    pub uri: bool,
    /// A request header naming the version (`X-API-Version` by default), when on.
    pub header: Option<String>,
    /// The `<api>` of `Accept: application/vnd.<api>.v{N}+json`, when on.
    pub media_type: Option<String>,
    /// The version of a request naming none; `None`: the latest.
    pub default: Option<Spanned<u32>>,
    /// Where `versioning:` was written.
    pub span: Option<Span>,
}

impl Default for Versioning {
    fn default() -> Self {
        Self {
            uri: true,
            header: None,
            media_type: None,
            default: None,
            span: None,
        }
    }
}

impl Versioning {
    /// The default name of the version header.
    pub const HEADER: &str = "X-API-Version";

    /// Whether requests may call bare paths and name the version otherwise.
    pub fn negotiates(&self) -> bool {
        self.header.is_some() || self.media_type.is_some()
    }
}

impl Default for ApiInfo {
    fn default() -> Self {
        Self {
            title: "API".to_owned(),
            version: "1.0.0".to_owned(),
            description: None,
            proto_package: "api".to_owned(),
            servers: Vec::new(),
            contact: None,
            license: None,
            terms_of_service: None,
            external_docs: None,
            versioning: Versioning::default(),
            file: None,
        }
    }
}

/// A server the API is served from: an absolute URL or one relative to the documents'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    pub url: String,
    pub description: Option<String>,
}

/// Who to contact about the API.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Contact {
    pub name: Option<String>,
    pub url: Option<String>,
    pub email: Option<String>,
}

/// The API's license: a name, and either an SPDX identifier or a URL (never both).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct License {
    pub name: String,
    pub identifier: Option<String>,
    pub url: Option<String>,
}

/// Documentation beyond the documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalDocs {
    pub url: String,
    pub description: Option<String>,
}

/// One resource of the API.
#[derive(Debug, Clone, PartialEq)]
pub struct Contract {
    pub name: String,
    pub span: Span,
    /// The source file the contract was declared in.
    pub file: FileId,
    pub description: Option<String>,
    /// The collection path, e.g. `/tasks` (leading slash, no trailing slash, no version).
    pub path: String,
    /// API versions that serve the contract; operations serve a subset.
    pub versions: BTreeSet<u32>,
    /// `false` for a contract served at its bare path (`/auth/login`) rather than under
    /// `/v{N}`, once for all versions; every version's document shows it. Its versions are
    /// the project's (see [`Project::spread_unversioned`]).
    pub versioned: bool,
    /// Declared by a runtime module (`modules:` in `cmmv.yaml`): documented with the project,
    /// while its Rust, storage and proto are the runtime's, not generated for the project.
    pub provided_by: Option<Module>,
    pub deprecated: bool,
    /// When the deprecation began and when the contract's operations stop being served
    /// (`deprecated: { since, sunset, link }`); inherited by operations without their own.
    pub deprecation: Option<Deprecation>,
    /// The default policy of every operation of the contract.
    pub auth: AuthPolicy,
    /// The default rate limit of every operation of the contract.
    pub rate_limit: RateLimit,
    pub storage: Storage,
    /// Who owns each resource (`owner:`): the default CRUD operations then reach only the
    /// caller's own resources, unless the caller holds a bypass role.
    pub owner: Option<Owner>,
    /// `account:`: the contract's records are the login module's accounts, one each, keyed
    /// by the account id (the `sub` of its tokens); it is then owned through its key.
    pub account: Option<AccountBinding>,
    /// Page sizes of the list operation.
    pub pagination: Pagination,
    /// Fields in declaration order.
    pub fields: Vec<Field>,
    /// Request and response messages declared by the contract, by name.
    pub messages: BTreeMap<String, Message>,
    /// Enums declared by the contract (named ones and those of inline `type: enum` fields).
    pub enums: BTreeMap<String, EnumDef>,
    /// CRUD and custom operations, by operation name (`list`, `get`, ..., or the custom name).
    pub operations: BTreeMap<String, Operation>,
}

impl Contract {
    /// The primary-key field. Lowering guarantees there is exactly one.
    pub fn primary_key(&self) -> Option<&Field> {
        self.fields.iter().find(|f| f.primary)
    }

    pub fn field(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// Operations in a stable, readable order: CRUD in its canonical order, then custom
    /// operations by name.
    pub fn operations_in_order(&self) -> Vec<&Operation> {
        let mut ops: Vec<&Operation> = self.operations.values().collect();
        ops.sort_by(|a, b| a.order_key().cmp(&b.order_key()));
        ops
    }
}

/// A named set of fields used as a request or response body.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub name: String,
    pub span: Span,
    pub description: Option<String>,
    pub fields: Vec<Field>,
}

/// A closed set of string values.
#[derive(Debug, Clone, PartialEq)]
pub struct EnumDef {
    pub name: String,
    pub span: Span,
    pub description: Option<String>,
    /// Values in declaration order; the wire form is the value itself.
    pub values: Vec<EnumValue>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EnumValue {
    pub name: String,
    pub span: Span,
    pub description: Option<String>,
}

/// One field of a contract or message.
#[derive(Debug, Clone, PartialEq)]
pub struct Field {
    /// The wire name (snake_case), also the Rust field name (escaped if it is a keyword).
    pub name: String,
    pub span: Span,
    pub ty: Type,
    pub description: Option<String>,
    /// May be absent from a body; absent from `required`.
    pub optional: bool,
    /// May be `null`.
    pub nullable: bool,
    pub default: Option<Value>,
    pub example: Option<Value>,
    /// Boxed, as is `item_constraints`: most fields have few constraints or none, and a large
    /// project holds tens of thousands of fields (operations copy their path parameters).
    pub constraints: Box<Constraints>,
    /// Constraints on each item of a list or each value of a map.
    pub item_constraints: Box<Constraints>,
    /// The resource's identity. Server-generated for `uuid` and `int64`, so read-only.
    pub primary: bool,
    /// Returned but never accepted in input.
    pub read_only: bool,
    /// Accepted in input but never returned (passwords, secrets).
    pub write_only: bool,
    pub deprecated: bool,
    /// Storage: a unique constraint.
    pub unique: bool,
    /// Storage: an index.
    pub index: bool,
    /// List operations accept `?<field>=value` and `?<field>[<operator>]=value` filters on
    /// this field.
    pub filterable: bool,
    /// List operations accept `?sort=<field>` / `-<field>` on this field.
    pub sortable: bool,
    /// A foreign key to the primary key of another contract.
    pub references: Option<Reference>,
    /// An explicit protobuf field number; checked against the lock file.
    pub number: Option<Spanned<u32>>,
    /// The field's previous name, so it keeps its protobuf number across a rename.
    pub renamed_from: Option<Spanned<String>>,
    /// Where parts of the field were written, for diagnostics.
    pub spans: FieldSpans,
}

impl Field {
    /// May be absent or null: a nullable column, and a filter that takes `is_null`.
    pub fn may_be_null(&self) -> bool {
        self.optional || self.nullable
    }

    /// What a filter compares the field as, which decides its operators. Only scalars and
    /// enums are filterable (lowering and validation refuse the others; messages, which are
    /// named types too, are refused there).
    pub fn filter_kind(&self) -> cmmv_rules::list::ValueKind {
        use cmmv_rules::list::ValueKind;
        match &self.ty {
            Type::Scalar(Scalar::Bool) => ValueKind::Bool,
            Type::Scalar(Scalar::Int32 | Scalar::Int64) => ValueKind::Int,
            Type::Scalar(Scalar::Float | Scalar::Double) => ValueKind::Float,
            Type::Scalar(Scalar::Decimal) => ValueKind::Decimal,
            Type::Scalar(Scalar::Uuid) => ValueKind::Uuid,
            Type::Scalar(Scalar::Date) => ValueKind::Date,
            Type::Scalar(Scalar::DateTime) => ValueKind::DateTime,
            Type::Named(_) => ValueKind::Enum,
            _ => ValueKind::Text,
        }
    }
}

/// Source spans of the parts of a field declaration.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FieldSpans {
    /// The type (the field name's span when the type was implied).
    pub ty: Span,
    pub default: Option<Span>,
    pub example: Option<Span>,
}

/// A foreign key: the field holds the primary key of `contract`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub contract: String,
    pub span: Span,
    pub on_delete: OnDelete,
}

/// Serializable because the lock file's schema snapshot records it.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum OnDelete {
    Restrict,
    Cascade,
    SetNull,
}

impl OnDelete {
    pub const ALL: [(&'static str, OnDelete); 3] = [
        ("restrict", OnDelete::Restrict),
        ("cascade", OnDelete::Cascade),
        ("set_null", OnDelete::SetNull),
    ];
}

/// A value with the span it was written at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
}

/// The type of a field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Type {
    Scalar(Scalar),
    List(Box<Type>),
    /// A map from string keys to values of the inner type.
    Map(Box<Type>),
    /// A contract, message or enum, by name. [`Project::resolve`] says which.
    Named(String),
}

impl Type {
    /// The innermost type of a list or map (the type itself otherwise).
    pub fn element(&self) -> &Type {
        match self {
            Type::List(inner) | Type::Map(inner) => inner.element(),
            other => other,
        }
    }

    pub fn as_scalar(&self) -> Option<Scalar> {
        match self {
            Type::Scalar(s) => Some(*s),
            _ => None,
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Type::Scalar(s) => f.write_str(s.name()),
            Type::List(inner) => write!(f, "list<{inner}>"),
            Type::Map(inner) => write!(f, "map<{inner}>"),
            Type::Named(name) => f.write_str(name),
        }
    }
}

/// Built-in scalar types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scalar {
    String,
    Bool,
    Int32,
    Int64,
    Float,
    Double,
    /// An exact decimal, carried as a string on the wire.
    Decimal,
    Uuid,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An RFC 3339 timestamp.
    DateTime,
    /// Base64-encoded bytes.
    Bytes,
    /// Any JSON value.
    Json,
    /// A password or other secret: a string on the way in, hashed (argon2id) by the runtime
    /// before it is stored, never returned. Always write-only.
    Secret,
}

impl Scalar {
    pub const ALL: [Scalar; 13] = [
        Scalar::String,
        Scalar::Bool,
        Scalar::Int32,
        Scalar::Int64,
        Scalar::Float,
        Scalar::Double,
        Scalar::Decimal,
        Scalar::Uuid,
        Scalar::Date,
        Scalar::DateTime,
        Scalar::Bytes,
        Scalar::Json,
        Scalar::Secret,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scalar::String => "string",
            Scalar::Bool => "bool",
            Scalar::Int32 => "int32",
            Scalar::Int64 => "int64",
            Scalar::Float => "float",
            Scalar::Double => "double",
            Scalar::Decimal => "decimal",
            Scalar::Uuid => "uuid",
            Scalar::Date => "date",
            Scalar::DateTime => "datetime",
            Scalar::Bytes => "bytes",
            Scalar::Json => "json",
            Scalar::Secret => "secret",
        }
    }

    pub fn from_name(name: &str) -> Option<Scalar> {
        Scalar::ALL.into_iter().find(|s| s.name() == name)
    }

    pub fn is_integer(self) -> bool {
        matches!(self, Scalar::Int32 | Scalar::Int64)
    }

    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            Scalar::Int32 | Scalar::Int64 | Scalar::Float | Scalar::Double | Scalar::Decimal
        )
    }

    /// Types whose JSON form is a string (so length, pattern and format apply to some of them).
    pub fn is_textual(self) -> bool {
        matches!(self, Scalar::String)
    }
}

/// A literal from a contract: a default, an example, an enum value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    String(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

impl Value {
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(x) => serde_json::Number::from_f64(*x)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::List(items) => items.iter().map(Value::to_json).collect(),
            Value::Map(map) => serde_json::Value::Object(
                map.iter().map(|(k, v)| (k.clone(), v.to_json())).collect(),
            ),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(_) => "a number",
            Value::String(_) => "a string",
            Value::List(_) => "a list",
            Value::Map(_) => "a map",
        }
    }
}

/// Constraints a value must satisfy; each is enforced by the generated validation and
/// documented in OpenAPI.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Constraints {
    /// Strings: length in characters. Bytes: length in bytes.
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    /// A regular expression (Rust `regex` syntax, which is what the server runs) that the whole
    /// string must match somewhere; anchor it with `^...$` to match all of it.
    pub pattern: Option<String>,
    pub format: Option<Format>,
    /// Numbers: inclusive bounds.
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    /// Numbers: exclusive bounds.
    pub exclusive_minimum: Option<f64>,
    pub exclusive_maximum: Option<f64>,
    pub multiple_of: Option<f64>,
    /// Lists and maps: number of items / entries.
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    /// Lists: no two items equal.
    pub unique_items: bool,
}

impl Constraints {
    pub fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }
}

/// Well-known string formats: one definition, shared with the runtime.
pub use cmmv_rules::Format;

/// Who may call an operation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum AuthPolicy {
    /// Anyone, no credentials.
    Public,
    /// Any authenticated principal.
    Authenticated,
    /// An authenticated principal holding roles.
    Roles {
        roles: BTreeSet<String>,
        mode: RoleMode,
    },
}

impl AuthPolicy {
    pub fn requires_credentials(&self) -> bool {
        !matches!(self, AuthPolicy::Public)
    }

    pub fn roles(&self) -> impl Iterator<Item = &str> {
        let roles = match self {
            AuthPolicy::Roles { roles, .. } => Some(roles),
            _ => None,
        };
        roles.into_iter().flatten().map(String::as_str)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum RoleMode {
    /// At least one of the roles.
    Any,
    /// Every one of the roles.
    All,
}

/// The rate limit of an operation.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RateLimit {
    /// Nothing declared: inherit (the contract's limit for operations; none for contracts).
    #[default]
    Inherit,
    /// Explicitly unlimited.
    Unlimited,
    /// Every policy applies; a request must pass all of them.
    Policies(Vec<RateLimitPolicy>),
}

/// One GCRA policy: `limit` requests per `period_secs`, with bursts of up to `burst`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateLimitPolicy {
    /// The name of a shared policy, when the policy came from `cmmv.yaml`.
    pub name: Option<String>,
    pub limit: u32,
    pub period_secs: u64,
    /// The largest burst admitted at once; defaults to `limit`.
    pub burst: u32,
    pub key: RateKey,
    /// What a request gets when the shared limiter cannot decide.
    pub on_error: RateFailMode,
    pub span: Span,
}

/// What a request gets when the shared (Redis) limiter cannot decide in time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum RateFailMode {
    /// The app's setting (`CMMV_RATE_LIMIT_FAIL`).
    #[default]
    App,
    /// Admitted.
    Open,
    /// A 503 problem.
    Closed,
    /// Decided by an in-process limiter of the instance.
    Local,
}

impl RateFailMode {
    /// The modes a contract may name, as it spells them.
    pub const ALL: [(&'static str, RateFailMode); 3] = [
        ("open", RateFailMode::Open),
        ("closed", RateFailMode::Closed),
        ("local", RateFailMode::Local),
    ];

    /// The spelling of a mode a contract chose (`None` for the app's default).
    pub fn as_str(self) -> Option<&'static str> {
        Self::ALL
            .iter()
            .find(|(_, mode)| *mode == self)
            .map(|(name, _)| *name)
    }
}

/// What a rate limit counts requests by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RateKey {
    /// The client IP (from the socket, or trusted proxies' forwarding headers).
    Ip,
    /// The authenticated principal (falls back to the IP for anonymous calls).
    User,
    /// The API key.
    ApiKey,
    /// The value of a request header.
    Header(String),
    /// A key function registered in the app under this name.
    Custom(String),
}

/// How the contract is stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Storage {
    pub table: String,
    /// Adds server-managed `created_at` / `updated_at` fields.
    pub timestamps: bool,
    /// Deletes set `deleted_at` instead of removing the row.
    pub soft_delete: bool,
}

/// Page sizes of a list operation: `?limit=` defaults to `default_limit` and may not exceed
/// `max_limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    pub default_limit: u32,
    pub max_limit: u32,
}

impl Default for Pagination {
    fn default() -> Self {
        Self {
            default_limit: 20,
            max_limit: 100,
        }
    }
}

/// The owner field of an owned contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The field holding the owner's account id (a `string` or `uuid` field).
    pub field: String,
    /// Roles whose holders reach every resource.
    pub bypass: Vec<String>,
    pub span: Span,
}

/// How a contract is bound to the login module's accounts (`account:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountBinding {
    /// The `format: email` field showing the account's email, which the server keeps in step.
    pub email: String,
    pub span: Span,
}

/// Type names the runtime itself puts into every OpenAPI document.
pub const RUNTIME_TYPE_NAMES: &[&str] = &["Problem", "FieldError"];

impl Contract {
    /// The proto service of the contract: `TaskService`.
    pub fn service_name(&self) -> String {
        format!("{}Service", self.name)
    }

    /// The proto request message of an operation: `TaskCompleteRequest`.
    pub fn request_message_name(&self, op: &Operation) -> String {
        format!("{}{}Request", self.name, to_pascal_case(&op.name))
    }

    /// The proto message of the list operation's filters: `TaskFilter`.
    pub fn filter_message_name(&self) -> String {
        format!("{}Filter", self.name)
    }

    /// The proto message of one filter with an operator (`title[prefix]=a`): `TaskCondition`.
    pub fn condition_message_name(&self) -> String {
        format!("{}Condition", self.name)
    }

    /// The proto message wrapping an operation's response when the response is a list (a proto
    /// rpc returns one message): `TaskSearchResponse`. `None` for other responses, which name
    /// their message directly.
    pub fn response_message_name(&self, op: &Operation) -> Option<String> {
        match op.response.as_ref().map(|body| &body.ty) {
            Some(BodyType::List(_)) => {
                Some(format!("{}{}Response", self.name, to_pascal_case(&op.name)))
            }
            _ => None,
        }
    }

    /// Every type name the emitters derive from this contract, so that validation can refuse
    /// user types that would collide with them.
    pub fn generated_type_names(&self) -> Vec<String> {
        let mut names: Vec<String> = [DerivedBody::Input, DerivedBody::Patch, DerivedBody::Page]
            .into_iter()
            .map(|d| d.type_name(&self.name))
            .collect();
        names.push(self.filter_message_name());
        // The sparse form of the resource a list's `fields` returns (OpenAPI only).
        names.push(format!("{}Fields", self.name));
        names.push(self.condition_message_name());
        names.push(self.service_name());
        names.extend(
            self.operations
                .values()
                .map(|op| self.request_message_name(op)),
        );
        names.extend(
            self.operations
                .values()
                .filter_map(|op| self.response_message_name(op)),
        );
        names.extend(
            self.operations
                .values()
                .filter(|op| !op.query.is_empty())
                .map(|op| self.query_struct_name(op)),
        );
        names.push(self.handlers_trait_name());
        names
    }

    /// The Rust struct of a custom operation's query parameters: `TaskSearchQuery`.
    pub fn query_struct_name(&self, op: &Operation) -> String {
        format!("{}{}Query", self.name, to_pascal_case(&op.name))
    }

    /// The Rust trait of the contract's handlers: `TaskHandlers`.
    pub fn handlers_trait_name(&self) -> String {
        format!("{}Handlers", self.name)
    }

    /// The OpenAPI `operationId` of an operation: `task_complete`.
    pub fn operation_id(&self, op: &Operation) -> String {
        format!("{}_{}", to_snake_case(&self.name), op.name)
    }
}

/// What a type name refers to.
#[derive(Debug, Clone, Copy)]
pub enum Definition<'a> {
    Contract(&'a Contract),
    Message(&'a Contract, &'a Message),
    Enum(&'a Contract, &'a EnumDef),
}

/// The message or enum `name` declared by `contract`.
fn declared_in<'a>(contract: &'a Contract, name: &str) -> Option<Definition<'a>> {
    contract
        .messages
        .get(name)
        .map(|m| Definition::Message(contract, m))
        .or_else(|| {
            contract
                .enums
                .get(name)
                .map(|e| Definition::Enum(contract, e))
        })
}

impl Project {
    /// Records which contract declares each message and enum, so that [`Project::resolve`]
    /// is a lookup rather than a scan. Call it again after changing the contracts.
    pub fn index_types(&mut self) {
        self.type_owners = self
            .contracts
            .values()
            .flat_map(|c| {
                c.messages
                    .keys()
                    .chain(c.enums.keys())
                    .map(move |name| (name.clone(), c.name.clone()))
            })
            .collect();
    }

    /// Looks a type name up among contracts, messages and enums (one global namespace).
    pub fn resolve(&self, name: &str) -> Option<Definition<'_>> {
        if let Some(contract) = self.contracts.get(name) {
            return Some(Definition::Contract(contract));
        }
        let indexed = self
            .type_owners
            .get(name)
            .and_then(|owner| self.contracts.get(owner))
            .and_then(|contract| declared_in(contract, name));
        // The index may be stale (a project built by hand, or changed since): scan then.
        indexed.or_else(|| {
            self.contracts
                .values()
                .find_map(|contract| declared_in(contract, name))
        })
    }

    /// The other contracts whose contracts, messages or enums `contract`'s definitions name —
    /// its fields, its messages' fields, its operations' parameters and bodies — each with
    /// the first place it is named: what `contract`'s proto file imports. Unknown names
    /// (reported by validation) are left out.
    pub fn contracts_used_by<'p>(&'p self, contract: &Contract) -> BTreeMap<&'p str, Span> {
        let mut used: BTreeMap<&'p str, Span> = BTreeMap::new();
        let mut name_used = |name: &str, span: Span| {
            let owner = match self.resolve(name) {
                Some(Definition::Contract(owner)) => owner,
                Some(Definition::Message(owner, _) | Definition::Enum(owner, _)) => owner,
                None => return,
            };
            if owner.name != contract.name {
                used.entry(owner.name.as_str()).or_insert(span);
            }
        };
        let operations = contract.operations_in_order();
        let fields = contract
            .fields
            .iter()
            .chain(contract.messages.values().flat_map(|m| &m.fields))
            .chain(
                operations
                    .iter()
                    .flat_map(|op| op.path_params.iter().chain(&op.query)),
            );
        for field in fields {
            if let Type::Named(name) = field.ty.element() {
                name_used(name, field.span);
            }
        }
        for body in operations
            .iter()
            .flat_map(|op| op.request.iter().chain(&op.response))
        {
            if let BodyType::Named(name) | BodyType::List(name) = &body.ty {
                name_used(name, body.span);
            }
        }
        used
    }

    /// Serves each unversioned contract in every version the others serve (version 1 when
    /// there are no others): every document shows it, at its one bare path.
    pub fn spread_unversioned(&mut self) {
        let mut versions: BTreeSet<u32> = self
            .contracts
            .values()
            .filter(|c| c.versioned)
            .flat_map(|c| c.operations.values())
            .flat_map(|o| o.versions.iter().copied())
            .collect();
        if versions.is_empty() {
            versions.insert(1);
        }
        for contract in self.contracts.values_mut().filter(|c| !c.versioned) {
            contract.versions.clone_from(&versions);
            for op in contract.operations.values_mut() {
                op.versions.clone_from(&versions);
            }
        }
    }

    /// The contracts whose Rust, storage and proto this project generates: all but those a
    /// runtime module provides.
    pub fn generated_contracts(&self) -> impl Iterator<Item = &Contract> {
        self.contracts.values().filter(|c| c.provided_by.is_none())
    }

    /// The API versions any contract serves.
    pub fn versions(&self) -> BTreeSet<u32> {
        self.contracts
            .values()
            .flat_map(|c| c.operations.values())
            .flat_map(|o| o.versions.iter().copied())
            .collect()
    }
}
