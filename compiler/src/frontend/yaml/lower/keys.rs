//! The keys each construct of the contract format accepts: unknown keys are reported with
//! a suggestion from these lists.

pub(super) const PROJECT_KEYS: &[&str] = &[
    "api",
    "proto",
    "rate_limits",
    "modules",
    "versions",
    "versioning",
];
pub(super) const VERSIONING_KEYS: &[&str] = &["strategies", "header", "media_type", "default"];
pub(super) const API_KEYS: &[&str] = &[
    "title",
    "version",
    "description",
    "servers",
    "contact",
    "license",
    "terms_of_service",
    "external_docs",
];
pub(super) const SERVER_KEYS: &[&str] = &["url", "description"];
pub(super) const CONTACT_KEYS: &[&str] = &["name", "url", "email"];
pub(super) const LICENSE_KEYS: &[&str] = &["name", "identifier", "url"];
pub(super) const EXTERNAL_DOCS_KEYS: &[&str] = &["url", "description"];
pub(super) const PROTO_KEYS: &[&str] = &["package"];

pub(super) const CONTRACT_KEYS: &[&str] = &[
    "contract",
    "description",
    "path",
    "versions",
    "versioned",
    "deprecated",
    "auth",
    "rate_limit",
    "storage",
    "owner",
    "account",
    "pagination",
    "fields",
    "messages",
    "enums",
    "crud",
    "operations",
];

pub(super) const FIELD_KEYS: &[&str] = &[
    "type",
    "description",
    "optional",
    "nullable",
    "default",
    "example",
    "primary",
    "read_only",
    "write_only",
    "deprecated",
    "unique",
    "index",
    "filterable",
    "sortable",
    "ref",
    "on_delete",
    "number",
    "renamed_from",
    "values",
    "items",
];

/// The constraint keys of a field; also the keys `constraints()` reads.
pub(super) const CONSTRAINT_KEYS: &[&str] = &[
    "min_length",
    "max_length",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusive_minimum",
    "exclusive_maximum",
    "multiple_of",
    "min_items",
    "max_items",
    "unique_items",
];

/// Keys that only make sense on a stored contract field, not on a message field or parameter.
pub(super) const CONTRACT_ONLY_FIELD_KEYS: &[&str] = &[
    "primary",
    "unique",
    "index",
    "filterable",
    "sortable",
    "ref",
    "on_delete",
];

pub(super) const ITEM_KEYS: &[&str] = &[
    "min_length",
    "max_length",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusive_minimum",
    "exclusive_maximum",
    "multiple_of",
];

pub(super) const DEPRECATION_KEYS: &[&str] = &["since", "sunset", "link"];
pub(super) const VERSION_KEYS: &[&str] = &["deprecated"];
pub(super) const MESSAGE_KEYS: &[&str] = &["description", "fields"];
pub(super) const ENUM_KEYS: &[&str] = &["description", "values"];
pub(super) const ENUM_VALUE_KEYS: &[&str] = &["name", "description"];
pub(super) const OWNER_KEYS: &[&str] = &["field", "bypass"];
pub(super) const ACCOUNT_KEYS: &[&str] = &["email", "bypass"];
pub(super) const STORAGE_KEYS: &[&str] = &["table", "timestamps", "soft_delete"];
pub(super) const PAGINATION_KEYS: &[&str] = &["default_limit", "max_limit"];
pub(super) const AUTH_KEYS: &[&str] = &["roles", "require"];
pub(super) const RATE_LIMIT_KEYS: &[&str] = &["limit", "per", "burst", "key", "on_error"];
pub(super) const CRUD_OVERRIDE_KEYS: &[&str] = &[
    "summary",
    "description",
    "deprecated",
    "auth",
    "rate_limit",
    "versions",
];
pub(super) const OPERATION_KEYS: &[&str] = &[
    "method",
    "path",
    "summary",
    "description",
    "deprecated",
    "params",
    "query",
    "request",
    "response",
    "status",
    "responses",
    "errors",
    "no_store",
    "cookies",
    "auth",
    "rate_limit",
    "versions",
];
pub(super) const COOKIE_KEYS: &[&str] = &["sent", "set", "description"];
pub(super) const REPLY_KEYS: &[&str] = &["response", "description"];

/// Type names that would shadow the Rust prelude in generated modules.
pub(super) const PRELUDE_NAMES: &[&str] = &[
    "Option", "Some", "None", "Result", "Ok", "Err", "String", "Vec", "Box", "Self", "Stores",
];
