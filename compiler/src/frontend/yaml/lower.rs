//! Lowering: a spanned YAML tree -> IR.
//!
//! Each function reads one construct of the contract format, reports every problem it finds
//! (unknown keys with suggestions, values of the wrong kind, constraints that cannot hold) and
//! returns what it could make sense of, so that one run reports all problems. Checks that need
//! more than one contract (references, route clashes, field numbers) live in `validate.rs`.

use std::collections::{BTreeMap, BTreeSet};

use super::tree::{Node, NodeKind, Scalar as Yaml};
use crate::diag::{Diagnostic, Diagnostics, FileId, Span, suggest};
use crate::ir::*;

/// Lowers one contract file. Returns `None` only when not even the contract's name could be
/// read; otherwise a contract whose broken parts were left out (and reported).
pub fn lower_file(
    file: FileId,
    text: &str,
    named_limits: &BTreeMap<String, RateLimitPolicy>,
    diags: &mut Diagnostics,
) -> Option<Contract> {
    let (root, syntax) = super::tree::parse(file, text);
    diags.extend(syntax);
    lower_tree(file, text, &root?, named_limits, diags)
}

/// Lowers one contract already in tree form. The Rust front end builds such a tree from
/// `#[contract]` items, so both front ends share every check and every message of this file.
/// `text` is the source the tree's spans index into (used to underline part of a scalar).
pub(crate) fn lower_tree(
    file: FileId,
    text: &str,
    root: &Node,
    named_limits: &BTreeMap<String, RateLimitPolicy>,
    diags: &mut Diagnostics,
) -> Option<Contract> {
    let mut cx = Lowerer {
        file,
        text,
        diags,
        named_limits,
    };
    cx.contract(root)
}

/// Lowers `cmmv.yaml`, the project file.
pub fn lower_project_file(file: FileId, text: &str, diags: &mut Diagnostics) -> Project {
    let mut project = Project::default();
    project.api.file = Some(file);
    let (root, syntax) = super::tree::parse(file, text);
    diags.extend(syntax);
    let Some(root) = root else {
        return project;
    };
    let empty = BTreeMap::new();
    let mut cx = Lowerer {
        file,
        text,
        diags,
        named_limits: &empty,
    };
    let Some(map) = cx.object(&root, "the project file", PROJECT_KEYS) else {
        return project;
    };
    if let Some(api) = map.get("api") {
        if let Some(api) = cx.object(api, "`api`", API_KEYS) {
            if let Some(title) = api.get("title").and_then(|n| cx.string(n)) {
                project.api.title = title;
            }
            if let Some(version) = api.get("version").and_then(|n| cx.string(n)) {
                project.api.version = version;
            }
            project.api.description = api.get("description").and_then(|n| cx.string(n));
        }
    }
    if let Some(proto) = map.get("proto") {
        if let Some(proto) = cx.object(proto, "`proto`", PROTO_KEYS) {
            if let Some(node) = proto.get("package") {
                if let Some(package) = cx.string(node) {
                    let valid = package.split('.').all(is_snake_case);
                    if valid {
                        project.api.proto_package = package;
                    } else {
                        cx.error(
                            node.span,
                            format!("`{package}` is not a valid proto package"),
                        )
                        .with_help("use dot-separated lowercase words, e.g. `todo.v1`")
                        .emit(cx.diags);
                    }
                }
            }
        }
    }
    if let Some(limits) = map.get("rate_limits") {
        if let Some(entries) = cx.map(limits, "`rate_limits`") {
            for (key, value) in entries {
                let Some(name) = cx.key_name(key) else {
                    continue;
                };
                if !is_snake_case(&name) {
                    cx.error(
                        key.span,
                        format!("rate-limit policy name `{name}` is not snake_case"),
                    )
                    .with_help("name policies like `standard` or `login_attempts`")
                    .emit(cx.diags);
                    continue;
                }
                if let Some(mut policy) = cx.rate_limit_policy(value) {
                    policy.name = Some(name.clone());
                    project.rate_limits.insert(name, policy);
                }
            }
        }
    }
    project
}

const PROJECT_KEYS: &[&str] = &["api", "proto", "rate_limits"];
const API_KEYS: &[&str] = &["title", "version", "description"];
const PROTO_KEYS: &[&str] = &["package"];

const CONTRACT_KEYS: &[&str] = &[
    "contract",
    "description",
    "path",
    "versions",
    "deprecated",
    "auth",
    "rate_limit",
    "storage",
    "pagination",
    "fields",
    "messages",
    "enums",
    "crud",
    "operations",
];

const FIELD_KEYS: &[&str] = &[
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
const CONSTRAINT_KEYS: &[&str] = &[
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
const CONTRACT_ONLY_FIELD_KEYS: &[&str] = &[
    "primary",
    "unique",
    "index",
    "filterable",
    "sortable",
    "ref",
    "on_delete",
];

const ITEM_KEYS: &[&str] = &[
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

const MESSAGE_KEYS: &[&str] = &["description", "fields"];
const ENUM_KEYS: &[&str] = &["description", "values"];
const ENUM_VALUE_KEYS: &[&str] = &["name", "description"];
const STORAGE_KEYS: &[&str] = &["table", "timestamps", "soft_delete"];
const PAGINATION_KEYS: &[&str] = &["default_limit", "max_limit"];
const AUTH_KEYS: &[&str] = &["roles", "require"];
const RATE_LIMIT_KEYS: &[&str] = &["limit", "per", "burst", "key", "on_error"];
const CRUD_OVERRIDE_KEYS: &[&str] = &[
    "summary",
    "description",
    "deprecated",
    "auth",
    "rate_limit",
    "versions",
];
const OPERATION_KEYS: &[&str] = &[
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
    "auth",
    "rate_limit",
    "versions",
];

/// Type names that would shadow the Rust prelude in generated modules.
const PRELUDE_NAMES: &[&str] = &[
    "Option", "Some", "None", "Result", "Ok", "Err", "String", "Vec", "Box", "Self",
];

/// Query parameter names the list operation reserves for itself.
pub const LIST_PARAMS: &[&str] = &["limit", "offset", "sort", "include_total"];

struct Lowerer<'a> {
    file: FileId,
    text: &'a str,
    diags: &'a mut Diagnostics,
    named_limits: &'a BTreeMap<String, RateLimitPolicy>,
}

/// A map whose keys were checked against the allowed set.
struct Object<'n> {
    entries: &'n [(Node, Node)],
    span: Span,
}

impl<'n> Object<'n> {
    fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.scalar_text() == Some(key))
            .map(|(_, v)| v)
    }

    fn key_span(&self, key: &str) -> Option<Span> {
        self.entries
            .iter()
            .find(|(k, _)| k.scalar_text() == Some(key))
            .map(|(k, _)| k.span)
    }
}

/// A diagnostic on its way out; `emit` pushes it.
struct Pending(Diagnostic);

impl Pending {
    fn with_help(self, help: impl Into<String>) -> Self {
        Pending(self.0.with_help(help))
    }

    fn with_label(self, label: impl Into<String>) -> Self {
        Pending(self.0.with_label(label))
    }

    fn with_secondary(self, span: Span, label: impl Into<String>) -> Self {
        Pending(self.0.with_secondary(span, label))
    }

    fn emit(self, diags: &mut Diagnostics) {
        diags.push(self.0);
    }
}

/// Where a field is declared: contract fields may carry storage and list options.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FieldPlace {
    Contract,
    Message,
    Parameter,
}

impl<'a> Lowerer<'a> {
    fn error(&self, span: Span, message: impl Into<String>) -> Pending {
        Pending(Diagnostic::error(span, message))
    }

    // ---- generic readers -------------------------------------------------------------------

    fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Node, Node)]> {
        match node.as_map() {
            Some(entries) => Some(entries),
            None => {
                self.error(node.span, format!("{what} must be a map"))
                    .with_label(format!("found {}", node.describe()))
                    .emit(self.diags);
                None
            }
        }
    }

    /// Reads a map and reports every key not in `allowed`, with the closest allowed key.
    fn object<'n>(&mut self, node: &'n Node, what: &str, allowed: &[&str]) -> Option<Object<'n>> {
        let entries = self.map(node, what)?;
        for (key, _) in entries {
            let Some(name) = key.scalar_text() else {
                self.error(key.span, "keys must be plain strings")
                    .emit(self.diags);
                continue;
            };
            if !allowed.contains(&name) {
                let mut pending = self
                    .error(key.span, format!("unknown key `{name}` in {what}"))
                    .with_label("unknown key");
                pending = match suggest(name, allowed.iter().copied()) {
                    Some(best) => pending.with_help(format!("did you mean `{best}`?")),
                    None => pending.with_help(format!("expected one of: {}", allowed.join(", "))),
                };
                pending.emit(self.diags);
            }
        }
        Some(Object {
            entries,
            span: node.span,
        })
    }

    fn key_name(&mut self, key: &Node) -> Option<String> {
        match key.scalar_text() {
            Some(name) => Some(name.to_owned()),
            None => {
                self.error(key.span, "keys must be plain strings")
                    .emit(self.diags);
                None
            }
        }
    }

    fn expected(&mut self, node: &Node, expected: &str) {
        self.error(
            node.span,
            format!("expected {expected}, found {}", node.describe()),
        )
        .with_label(format!("expected {expected}"))
        .emit(self.diags);
    }

    fn string(&mut self, node: &Node) -> Option<String> {
        match node.scalar() {
            Some(Yaml::Str(s)) => Some(s.to_owned()),
            _ => {
                self.expected(node, "a string");
                None
            }
        }
    }

    fn bool(&mut self, node: &Node) -> Option<bool> {
        match node.scalar() {
            Some(Yaml::Bool(b)) => Some(b),
            _ => {
                self.expected(node, "`true` or `false`");
                None
            }
        }
    }

    fn flag(&mut self, object: &Object<'_>, key: &str) -> bool {
        object
            .get(key)
            .and_then(|node| self.bool(node))
            .unwrap_or(false)
    }

    fn unsigned(&mut self, node: &Node) -> Option<u64> {
        match node.scalar() {
            Some(Yaml::Int(i)) if i >= 0 => Some(i as u64),
            _ => {
                self.expected(node, "a non-negative integer");
                None
            }
        }
    }

    fn number(&mut self, node: &Node) -> Option<f64> {
        match node.scalar() {
            Some(Yaml::Int(i)) => Some(i as f64),
            Some(Yaml::Float(x)) if x.is_finite() => Some(x),
            _ => {
                self.expected(node, "a number");
                None
            }
        }
    }

    fn string_list(&mut self, node: &Node) -> Option<Vec<(String, Span)>> {
        let Some(items) = node.as_seq() else {
            self.expected(node, "a list of strings");
            return None;
        };
        Some(
            items
                .iter()
                .filter_map(|item| self.string(item).map(|s| (s, item.span)))
                .collect(),
        )
    }

    /// Converts any YAML node to a literal value (defaults, examples).
    fn value(&mut self, node: &Node) -> Value {
        match &node.kind {
            NodeKind::Seq(items) => Value::List(items.iter().map(|i| self.value(i)).collect()),
            NodeKind::Map(entries) => Value::Map(
                entries
                    .iter()
                    .filter_map(|(k, v)| Some((k.scalar_text()?.to_owned(), self.value(v))))
                    .collect(),
            ),
            NodeKind::Scalar { .. } => match node.scalar() {
                Some(Yaml::Null) | None => Value::Null,
                Some(Yaml::Bool(b)) => Value::Bool(b),
                Some(Yaml::Int(i)) => Value::Int(i),
                Some(Yaml::Float(x)) => Value::Float(x),
                Some(Yaml::Str(s)) => Value::String(s.to_owned()),
            },
        }
    }

    /// The span of `part` inside a plain or quoted scalar node, for precise underlines.
    fn sub_span(&self, node: &Node, part_start: usize, part_len: usize) -> Span {
        let start = node.span.start as usize;
        let end = node.span.end as usize;
        let Some(source) = self.text.get(start..end) else {
            return node.span;
        };
        let quote = usize::from(source.starts_with(['"', '\'']));
        let text = node.scalar_text().unwrap_or_default();
        if source.get(quote..quote + text.len()) == Some(text) {
            Span::new(
                self.file,
                start + quote + part_start,
                start + quote + part_start + part_len,
            )
        } else {
            node.span
        }
    }

    // ---- contract --------------------------------------------------------------------------

    fn contract(&mut self, root: &Node) -> Option<Contract> {
        let object = self.object(root, "a contract", CONTRACT_KEYS)?;
        let Some(name_node) = object.get("contract") else {
            self.error(Span::new(self.file, 0, 0), "missing `contract:` key")
                .with_label("every contract file starts with `contract: Name`")
                .with_help("add `contract: Task` (the resource name, PascalCase) at the top")
                .emit(self.diags);
            return None;
        };
        let name = self.string(name_node)?;
        self.check_type_name(&name, name_node.span, "contract");

        let description = object.get("description").and_then(|n| self.string(n));
        let path = match object.get("path") {
            Some(node) => self
                .collection_path(node)
                .unwrap_or_else(|| default_path(&name)),
            None => default_path(&name),
        };
        let versions = match object.get("versions") {
            Some(node) => self
                .versions(node, None)
                .unwrap_or_else(|| BTreeSet::from([1])),
            None => BTreeSet::from([1]),
        };
        let deprecated = self.flag(&object, "deprecated");
        let auth = object
            .get("auth")
            .and_then(|n| self.auth(n))
            .unwrap_or(AuthPolicy::Authenticated);
        let rate_limit = object
            .get("rate_limit")
            .and_then(|n| self.rate_limit(n))
            .unwrap_or(RateLimit::Inherit);
        let (storage, timestamps_span) = self.storage(object.get("storage"), &name);
        let pagination = self.pagination(object.get("pagination"));

        let mut contract = Contract {
            name: name.clone(),
            span: name_node.span,
            file: self.file,
            description,
            path,
            versions,
            deprecated,
            auth,
            rate_limit,
            storage,
            pagination,
            fields: Vec::new(),
            messages: BTreeMap::new(),
            enums: BTreeMap::new(),
            operations: BTreeMap::new(),
        };

        if let Some(enums) = object.get("enums") {
            self.enums(enums, &mut contract.enums);
        }
        match object.get("fields") {
            Some(node) => {
                contract.fields =
                    self.fields(node, &name, FieldPlace::Contract, &mut contract.enums);
            }
            None => self
                .error(
                    name_node.span,
                    format!("contract `{name}` declares no `fields`"),
                )
                .with_help("add a `fields:` map, starting with `id: { type: uuid, primary: true }`")
                .emit(self.diags),
        }
        if let Some(span) = timestamps_span {
            self.add_timestamp_fields(&mut contract.fields, span);
        }
        self.check_primary_key(&contract, object.get("fields"));
        self.check_server_managed_fields(&contract, &object);

        if let Some(messages) = object.get("messages") {
            self.messages(messages, &mut contract);
        }
        self.crud(object.get("crud"), &mut contract);
        if let Some(operations) = object.get("operations") {
            self.custom_operations(operations, &mut contract);
        }
        Some(contract)
    }

    fn check_type_name(&mut self, name: &str, span: Span, what: &str) {
        if !is_pascal_case(name) {
            self.error(span, format!("{what} name `{name}` is not PascalCase"))
                .with_label("expected a name like `TaskList`")
                .with_help(format!(
                    "rename it to `{}`",
                    to_pascal_case(&to_snake_case(name))
                ))
                .emit(self.diags);
        } else if PRELUDE_NAMES.contains(&name) {
            self.error(span, format!("{what} name `{name}` is reserved"))
                .with_label("clashes with a name generated code relies on")
                .with_help(format!("choose another name, e.g. `{name}Item`"))
                .emit(self.diags);
        }
    }

    fn collection_path(&mut self, node: &Node) -> Option<String> {
        let path = self.string(node)?;
        let valid = path.starts_with('/')
            && path.len() > 1
            && !path.ends_with('/')
            && path[1..]
                .split('/')
                .all(|seg| !seg.is_empty() && seg.bytes().all(is_path_literal_byte));
        if valid {
            Some(path)
        } else {
            self.error(node.span, format!("invalid contract path `{path}`"))
                .with_label("not a collection path")
                .with_help("use literal segments of lowercase letters, digits, `-`, `.` and `_`, e.g. `/tasks` or `/admin/users`")
                .emit(self.diags);
            None
        }
    }

    fn versions(&mut self, node: &Node, allowed: Option<&BTreeSet<u32>>) -> Option<BTreeSet<u32>> {
        let Some(items) = node.as_seq() else {
            self.expected(node, "a list of API versions, e.g. `[1, 2]`");
            return None;
        };
        if items.is_empty() {
            self.error(node.span, "`versions` must name at least one version")
                .emit(self.diags);
            return None;
        }
        let mut versions = BTreeSet::new();
        for item in items {
            match item.scalar() {
                Some(Yaml::Int(v)) if (1..=i64::from(u16::MAX)).contains(&v) => {
                    let v = v as u32;
                    if let Some(allowed) = allowed {
                        if !allowed.contains(&v) {
                            let list: Vec<String> = allowed.iter().map(|v| v.to_string()).collect();
                            self.error(item.span, format!("version {v} is not served by the contract"))
                                .with_label("not among the contract's versions")
                                .with_help(format!(
                                    "the contract serves versions [{}]; add {v} to its `versions` or remove it here",
                                    list.join(", ")
                                ))
                                .emit(self.diags);
                            continue;
                        }
                    }
                    if !versions.insert(v) {
                        self.error(item.span, format!("version {v} is listed twice"))
                            .emit(self.diags);
                    }
                }
                _ => self.expected(item, "a positive version number"),
            }
        }
        Some(versions)
    }

    fn auth(&mut self, node: &Node) -> Option<AuthPolicy> {
        const WORDS: &[&str] = &["public", "authenticated"];
        if let Some(Yaml::Str(word)) = node.scalar() {
            return match word {
                "public" => Some(AuthPolicy::Public),
                "authenticated" => Some(AuthPolicy::Authenticated),
                other => {
                    let help = match suggest(other, WORDS.iter().copied()) {
                        Some(best) => format!("did you mean `{best}`?"),
                        None => "use `public`, `authenticated` or `{ roles: [admin] }`".to_owned(),
                    };
                    self.error(node.span, format!("unknown auth policy `{other}`"))
                        .with_help(help)
                        .emit(self.diags);
                    None
                }
            };
        }
        let object = self.object(node, "`auth`", AUTH_KEYS)?;
        let Some(roles_node) = object.get("roles") else {
            self.error(object.span, "an auth map needs `roles`")
                .with_help("write `auth: { roles: [admin] }`, or `auth: authenticated`")
                .emit(self.diags);
            return None;
        };
        let roles = self.string_list(roles_node)?;
        if roles.is_empty() {
            self.error(roles_node.span, "`roles` is empty")
                .with_help("list at least one role, or use `auth: authenticated`")
                .emit(self.diags);
            return None;
        }
        let mut set = BTreeSet::new();
        for (role, span) in roles {
            let valid = !role.is_empty()
                && role
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b':' | b'.'));
            if !valid {
                self.error(span, format!("invalid role name `{role}`"))
                    .with_help("role names use letters, digits, `_`, `-`, `:` and `.`")
                    .emit(self.diags);
            } else if !set.insert(role.clone()) {
                self.error(span, format!("role `{role}` is listed twice"))
                    .emit(self.diags);
            }
        }
        let mode = match object.get("require") {
            None => RoleMode::Any,
            Some(node) => match node.scalar() {
                Some(Yaml::Str("any")) => RoleMode::Any,
                Some(Yaml::Str("all")) => RoleMode::All,
                _ => {
                    self.error(node.span, "`require` must be `any` or `all`")
                        .with_help("`any`: one of the roles suffices (the default); `all`: every role is needed")
                        .emit(self.diags);
                    RoleMode::Any
                }
            },
        };
        Some(AuthPolicy::Roles { roles: set, mode })
    }

    fn rate_limit(&mut self, node: &Node) -> Option<RateLimit> {
        match &node.kind {
            NodeKind::Seq(items) => {
                if items.is_empty() {
                    self.error(node.span, "an empty rate-limit list")
                        .with_help("write `rate_limit: none` for no limit")
                        .emit(self.diags);
                    return None;
                }
                let policies: Vec<RateLimitPolicy> = items
                    .iter()
                    .filter_map(|item| self.rate_limit_entry(item))
                    .collect();
                Some(RateLimit::Policies(policies))
            }
            _ if matches!(node.scalar(), Some(Yaml::Str("none"))) => Some(RateLimit::Unlimited),
            _ => self
                .rate_limit_entry(node)
                .map(|policy| RateLimit::Policies(vec![policy])),
        }
    }

    /// One policy: a map, or the name of a policy from `cmmv.yaml`.
    fn rate_limit_entry(&mut self, node: &Node) -> Option<RateLimitPolicy> {
        if let Some(Yaml::Str(name)) = node.scalar() {
            if let Some(policy) = self.named_limits.get(name) {
                return Some(RateLimitPolicy {
                    span: node.span,
                    ..policy.clone()
                });
            }
            let help = match suggest(name, self.named_limits.keys().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`?"),
                None if self.named_limits.is_empty() => {
                    "declare named policies under `rate_limits:` in cmmv.yaml, or write `{ limit: 100, per: 1m }`".to_owned()
                }
                None => format!(
                    "the named policies are: {}",
                    self.named_limits.keys().cloned().collect::<Vec<_>>().join(", ")
                ),
            };
            self.error(node.span, format!("unknown rate-limit policy `{name}`"))
                .with_label("not declared in cmmv.yaml")
                .with_help(help)
                .emit(self.diags);
            return None;
        }
        self.rate_limit_policy(node)
    }

    fn rate_limit_policy(&mut self, node: &Node) -> Option<RateLimitPolicy> {
        let object = self.object(node, "a rate limit", RATE_LIMIT_KEYS)?;
        let limit = match object.get("limit") {
            Some(n) => self.positive_u32(n, "`limit`"),
            None => {
                self.error(object.span, "a rate limit needs `limit`")
                    .with_help("e.g. `{ limit: 100, per: 1m }`")
                    .emit(self.diags);
                None
            }
        };
        let period_secs = match object.get("per") {
            Some(n) => self.duration(n),
            None => {
                self.error(object.span, "a rate limit needs `per`")
                    .with_help("the period: `1s`, `1m`, `1h` or `1d`")
                    .emit(self.diags);
                None
            }
        };
        let burst = object
            .get("burst")
            .and_then(|n| self.positive_u32(n, "`burst`"));
        let key = object
            .get("key")
            .and_then(|n| self.rate_key(n))
            .unwrap_or(RateKey::Ip);
        let on_error = object
            .get("on_error")
            .map_or(Some(RateFailMode::App), |n| self.rate_fail_mode(n));
        Some(RateLimitPolicy {
            name: None,
            limit: limit?,
            period_secs: period_secs?,
            burst: burst.or(limit)?,
            key,
            on_error: on_error?,
            span: node.span,
        })
    }

    /// `on_error: open | closed | local`.
    fn rate_fail_mode(&mut self, node: &Node) -> Option<RateFailMode> {
        let found = match node.scalar() {
            Some(Yaml::Str(text)) => RateFailMode::ALL
                .iter()
                .find(|(name, _)| *name == text)
                .map(|(_, mode)| *mode),
            _ => None,
        };
        if found.is_none() {
            self.error(node.span, "`on_error` must be `open`, `closed` or `local`")
                .with_help("what a request gets when the shared limiter cannot decide: `open` admits it, `closed` answers 503, `local` lets this instance's own limiter decide; without `on_error`, the app's `CMMV_RATE_LIMIT_FAIL` says")
                .emit(self.diags);
        }
        found
    }

    fn positive_u32(&mut self, node: &Node, what: &str) -> Option<u32> {
        match node.scalar() {
            Some(Yaml::Int(i)) if i >= 1 && i <= i64::from(u32::MAX) => Some(i as u32),
            _ => {
                let found = node
                    .scalar_text()
                    .map_or_else(|| node.describe().to_owned(), |t| format!("`{t}`"));
                self.error(node.span, format!("{what} must be a positive integer"))
                    .with_label(format!("found {found}"))
                    .emit(self.diags);
                None
            }
        }
    }

    fn duration(&mut self, node: &Node) -> Option<u64> {
        let text = match node.scalar() {
            Some(Yaml::Int(i)) if i >= 1 => return Some(i as u64),
            Some(Yaml::Str(s)) => s,
            _ => "",
        };
        let split = text
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len());
        let (digits, unit) = text.split_at(split);
        let count: Option<u64> = if digits.is_empty() {
            Some(1)
        } else {
            digits.parse().ok()
        };
        let unit_secs = match unit {
            "s" => Some(1),
            "m" => Some(60),
            "h" => Some(3600),
            "d" => Some(86_400),
            _ => None,
        };
        match (count, unit_secs) {
            (Some(count), Some(unit)) if count >= 1 => Some(count * unit),
            _ => {
                self.error(node.span, format!("invalid period `{}`", node.scalar_text().unwrap_or_default()))
                    .with_label("expected a duration")
                    .with_help("write a count and a unit: `1s`, `10s`, `1m`, `1h`, `1d` (or a number of seconds)")
                    .emit(self.diags);
                None
            }
        }
    }

    fn rate_key(&mut self, node: &Node) -> Option<RateKey> {
        const KEYS: &[&str] = &["ip", "user", "api_key", "header:", "custom:"];
        let text = self.string(node)?;
        let key = match text.as_str() {
            "ip" => Some(RateKey::Ip),
            "user" => Some(RateKey::User),
            "api_key" => Some(RateKey::ApiKey),
            other => {
                if let Some(header) = other.strip_prefix("header:") {
                    let valid = !header.is_empty()
                        && header
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
                    valid.then(|| RateKey::Header(header.to_ascii_lowercase()))
                } else if let Some(name) = other.strip_prefix("custom:") {
                    is_snake_case(name).then(|| RateKey::Custom(name.to_owned()))
                } else {
                    None
                }
            }
        };
        if key.is_none() {
            let help = match suggest(&text, KEYS.iter().copied()) {
                Some(best) => format!(
                    "did you mean `{best}`? (keys: ip, user, api_key, header:<Name>, custom:<name>)"
                ),
                None => {
                    "use `ip`, `user`, `api_key`, `header:<Name>` or `custom:<name>`".to_owned()
                }
            };
            self.error(node.span, format!("unknown rate-limit key `{text}`"))
                .with_help(help)
                .emit(self.diags);
        }
        key
    }

    fn storage(&mut self, node: Option<&Node>, contract: &str) -> (Storage, Option<Span>) {
        let mut storage = Storage {
            table: default_table(contract),
            timestamps: false,
            soft_delete: false,
        };
        let Some(node) = node else {
            return (storage, None);
        };
        let Some(object) = self.object(node, "`storage`", STORAGE_KEYS) else {
            return (storage, None);
        };
        if let Some(table) = object.get("table") {
            if let Some(name) = self.string(table) {
                if is_snake_case(&name) {
                    storage.table = name;
                } else {
                    self.error(table.span, format!("table name `{name}` is not snake_case"))
                        .with_help(format!("use `{}`", to_snake_case(&name)))
                        .emit(self.diags);
                }
            }
        }
        storage.timestamps = self.flag(&object, "timestamps");
        storage.soft_delete = self.flag(&object, "soft_delete");
        let timestamps_span = storage
            .timestamps
            .then(|| object.key_span("timestamps"))
            .flatten();
        (storage, timestamps_span)
    }

    fn pagination(&mut self, node: Option<&Node>) -> Pagination {
        let mut pagination = Pagination::default();
        let Some(object) = node.and_then(|n| self.object(n, "`pagination`", PAGINATION_KEYS))
        else {
            return pagination;
        };
        if let Some(n) = object.get("default_limit") {
            if let Some(v) = self.positive_u32(n, "`default_limit`") {
                pagination.default_limit = v;
            }
        }
        if let Some(n) = object.get("max_limit") {
            if let Some(v) = self.positive_u32(n, "`max_limit`") {
                pagination.max_limit = v;
            }
        }
        if pagination.default_limit > pagination.max_limit {
            self.error(
                object.span,
                format!(
                    "`default_limit` ({}) is larger than `max_limit` ({})",
                    pagination.default_limit, pagination.max_limit
                ),
            )
            .with_help("the default page size must not exceed the maximum")
            .emit(self.diags);
        }
        pagination
    }

    fn add_timestamp_fields(&mut self, fields: &mut Vec<Field>, span: Span) {
        for name in ["created_at", "updated_at"] {
            if let Some(existing) = fields.iter().find(|f| f.name == name) {
                self.error(
                    existing.span,
                    format!("field `{name}` clashes with `storage.timestamps`"),
                )
                .with_secondary(span, "timestamps add `created_at` and `updated_at`")
                .with_help("remove the field; the server manages it")
                .emit(self.diags);
                continue;
            }
            fields.push(Field {
                description: Some(match name {
                    "created_at" => "When the resource was created (set by the server).".to_owned(),
                    _ => "When the resource was last changed (set by the server).".to_owned(),
                }),
                read_only: true,
                sortable: true,
                ..plain_field(name, span, Type::Scalar(Scalar::DateTime))
            });
        }
    }

    /// Soft delete keeps `deleted_at` for itself, and read-only fields need a value the server
    /// can give them on create.
    fn check_server_managed_fields(&mut self, contract: &Contract, object: &Object<'_>) {
        if contract.storage.soft_delete {
            if let Some(field) = contract.field("deleted_at") {
                let span = object.key_span("storage").unwrap_or(contract.span);
                self.error(
                    field.span,
                    "field `deleted_at` clashes with `storage.soft_delete`",
                )
                .with_secondary(span, "soft delete keeps `deleted_at` in storage")
                .with_help("rename the field")
                .emit(self.diags);
            }
        }
        for field in &contract.fields {
            let server_set = field.primary
                || field.default.is_some()
                || field.optional
                || field.nullable
                || matches!(field.name.as_str(), "created_at" | "updated_at");
            if field.read_only && !server_set {
                self.error(
                    field.span,
                    format!("read-only field `{}` has no value on create", field.name),
                )
                .with_label("clients cannot send it, and nothing sets it")
                .with_help("give it a `default`, or make it `optional` or `nullable`")
                .emit(self.diags);
            }
        }
    }

    fn check_primary_key(&mut self, contract: &Contract, fields_node: Option<&Node>) {
        let primaries: Vec<&Field> = contract.fields.iter().filter(|f| f.primary).collect();
        match primaries.as_slice() {
            [] if fields_node.is_some() => {
                let span = fields_node.map_or(contract.span, |n| n.span);
                self.error(
                    contract.span,
                    format!("contract `{}` has no primary key", contract.name),
                )
                .with_secondary(span, "no field here has `primary: true`")
                .with_help("add `id: { type: uuid, primary: true }` to `fields`")
                .emit(self.diags);
            }
            [_, second, ..] => {
                self.error(second.span, "a contract has exactly one primary key")
                    .with_secondary(primaries[0].span, "first primary key")
                    .with_help("remove `primary: true` from all but one field")
                    .emit(self.diags);
            }
            _ => {}
        }
    }

    // ---- fields ----------------------------------------------------------------------------

    fn fields(
        &mut self,
        node: &Node,
        owner: &str,
        place: FieldPlace,
        enums: &mut BTreeMap<String, EnumDef>,
    ) -> Vec<Field> {
        let Some(entries) = self.map(node, "`fields`") else {
            return Vec::new();
        };
        let mut fields = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.key_name(key) else {
                continue;
            };
            if let Some(field) = self.field(&name, key.span, value, owner, place, enums) {
                fields.push(field);
            }
        }
        fields
    }

    fn check_field_name(&mut self, name: &str, span: Span) -> bool {
        if !is_snake_case(name) {
            self.error(span, format!("field name `{name}` is not snake_case"))
                .with_label("field names are lowercase words joined by `_`")
                .with_help(format!("rename it to `{}`", to_snake_case(name)))
                .emit(self.diags);
            return false;
        }
        if RUST_UNRAWABLE.contains(&name) {
            self.error(span, format!("`{name}` cannot be a field name"))
                .with_label("a Rust keyword that cannot be escaped as `r#`")
                .with_help(format!("rename it, e.g. `{name}_ref`"))
                .emit(self.diags);
            return false;
        }
        true
    }

    fn field(
        &mut self,
        name: &str,
        name_span: Span,
        node: &Node,
        owner: &str,
        place: FieldPlace,
        enums: &mut BTreeMap<String, EnumDef>,
    ) -> Option<Field> {
        let name_ok = self.check_field_name(name, name_span);
        // Shorthand: `title: string`.
        if let Some(Yaml::Str(_)) = node.scalar() {
            let ty = self.field_type(node, None, owner, name, enums)?;
            let mut field = plain_field(name, name_span, ty);
            field.spans.ty = node.span;
            self.check_secret(&mut field, None, place);
            return name_ok.then_some(field);
        }
        let allowed: Vec<&str> = FIELD_KEYS.iter().chain(CONSTRAINT_KEYS).copied().collect();
        let object = self.object(node, &format!("field `{name}`"), &allowed)?;
        if place != FieldPlace::Contract {
            for key in CONTRACT_ONLY_FIELD_KEYS {
                if let Some(span) = object.key_span(key) {
                    let what = if place == FieldPlace::Message {
                        "message fields"
                    } else {
                        "parameters"
                    };
                    self.error(
                        span,
                        format!("`{key}` applies to contract fields, not {what}"),
                    )
                    .with_help("storage and list options belong on the contract's own `fields`")
                    .emit(self.diags);
                }
            }
        }
        let ty = match object.get("type") {
            Some(ty) => self.field_type(ty, object.get("values"), owner, name, enums),
            None => {
                self.error(name_span, format!("field `{name}` has no `type`"))
                    .with_help("e.g. `{ type: string }`; types: string, bool, int32, int64, float, double, decimal, uuid, date, datetime, bytes, json, secret, enum, list<T>, map<T>, or a contract/message/enum name")
                    .emit(self.diags);
                None
            }
        };
        if object.get("values").is_some()
            && !matches!(object.get("type").and_then(Node::scalar_text), Some("enum"))
        {
            if let Some(span) = object.key_span("values") {
                self.error(span, "`values` only applies to `type: enum`")
                    .with_help("declare an inline enum with `{ type: enum, values: [a, b] }`")
                    .emit(self.diags);
            }
        }
        let ty = ty?;
        let constraints = self.constraints(&object, &ty, name);
        let item_constraints = match object.get("items") {
            Some(items) => match &ty {
                Type::List(inner) | Type::Map(inner) => {
                    let inner = (**inner).clone();
                    self.object(items, "`items`", ITEM_KEYS)
                        .map(|o| self.constraints(&o, &inner, name))
                        .unwrap_or_default()
                }
                _ => {
                    self.error(items.span, "`items` applies to lists and maps")
                        .with_label(format!("`{name}` is a `{ty}`"))
                        .emit(self.diags);
                    Constraints::default()
                }
            },
            None => Constraints::default(),
        };

        let primary = self.flag(&object, "primary");
        if primary {
            let allowed = matches!(
                ty,
                Type::Scalar(Scalar::Uuid | Scalar::Int64 | Scalar::String)
            );
            if !allowed {
                self.error(object.get("type").map_or(name_span, |n| n.span), format!("a primary key cannot be a `{ty}`"))
                    .with_help("primary keys are `uuid` or `int64` (generated by the server) or `string` (chosen by the client)")
                    .emit(self.diags);
            }
        }
        let read_only = self.flag(&object, "read_only");
        let write_only = self.flag(&object, "write_only");
        if read_only && write_only {
            if let Some(span) = object.key_span("write_only") {
                self.error(span, "a field cannot be both `read_only` and `write_only`")
                    .with_secondary(
                        object.key_span("read_only").unwrap_or(span),
                        "read_only here",
                    )
                    .with_help(
                        "read_only: returned, never accepted; write_only: accepted, never returned",
                    )
                    .emit(self.diags);
            }
        }
        let optional = self.flag(&object, "optional");
        let nullable = self.flag(&object, "nullable");
        if primary && write_only {
            if let Some(span) = object.key_span("write_only") {
                self.error(span, "a primary key cannot be `write_only`")
                    .with_help("the key identifies the resource in every response")
                    .emit(self.diags);
            }
        }
        if primary && (optional || nullable) {
            self.error(name_span, "a primary key cannot be optional or nullable")
                .emit(self.diags);
        }
        // Server-generated keys are read-only whatever the contract says.
        let generated_key = primary && matches!(ty, Type::Scalar(Scalar::Uuid | Scalar::Int64));

        let references = object.get("ref").and_then(|node| {
            let contract = self.string(node)?;
            let on_delete = match object.get("on_delete") {
                None => OnDelete::Restrict,
                Some(n) => self
                    .one_of(n, &OnDelete::ALL, "`on_delete`")
                    .unwrap_or(OnDelete::Restrict),
            };
            if on_delete == OnDelete::SetNull && !nullable {
                if let Some(span) = object.key_span("on_delete") {
                    self.error(span, "`on_delete: set_null` needs a nullable field")
                        .with_help("add `nullable: true`, or use `restrict` or `cascade`")
                        .emit(self.diags);
                }
            }
            Some(Reference {
                contract,
                span: node.span,
                on_delete,
            })
        });
        if references.is_none() {
            if let Some(span) = object.key_span("on_delete") {
                self.error(span, "`on_delete` needs `ref`")
                    .with_help("`on_delete` says what happens to this row when the referenced one is deleted")
                    .emit(self.diags);
            }
        }
        let number = object.get("number").and_then(|node| match node.scalar() {
            Some(Yaml::Int(n))
                if u32::try_from(n).is_ok_and(|n| {
                    (1..=crate::lock::MAX_FIELD_NUMBER).contains(&n)
                        && !crate::lock::PROTOBUF_RESERVED_NUMBERS.contains(&n)
                }) => {
                Some(Spanned { value: n as u32, span: node.span })
            }
            _ => {
                self.error(node.span, "invalid protobuf field number")
                    .with_help("field numbers are integers from 1 to 536870911, except 19000-19999 (reserved by protobuf)")
                    .emit(self.diags);
                None
            }
        });
        let renamed_from = object.get("renamed_from").and_then(|node| {
            let old = self.string(node)?;
            if !is_snake_case(&old) || old == name {
                self.error(
                    node.span,
                    format!("`renamed_from: {old}` is not a previous field name"),
                )
                .with_help("write the field's old snake_case name, different from its new one")
                .emit(self.diags);
                return None;
            }
            Some(Spanned {
                value: old,
                span: node.span,
            })
        });

        let field = Field {
            name: name.to_owned(),
            span: name_span,
            description: object.get("description").and_then(|n| self.string(n)),
            optional,
            nullable,
            default: object.get("default").map(|n| self.value(n)),
            example: object.get("example").map(|n| self.value(n)),
            constraints: Box::new(constraints),
            item_constraints: Box::new(item_constraints),
            primary,
            read_only: read_only || generated_key,
            write_only,
            deprecated: self.flag(&object, "deprecated"),
            unique: self.flag(&object, "unique") || primary,
            index: self.flag(&object, "index"),
            filterable: self.flag(&object, "filterable"),
            sortable: self.flag(&object, "sortable"),
            references,
            number,
            renamed_from,
            spans: FieldSpans {
                ty: object.get("type").map_or(name_span, |n| n.span),
                default: object.get("default").map(|n| n.span),
                example: object.get("example").map(|n| n.span),
            },
            ty,
        };
        let mut field = field;
        self.check_secret(&mut field, Some(&object), place);
        self.warn_clear_password(&field, &object);
        self.check_list_options(&field, &object);
        if field.primary && field.default.is_some() {
            if let Some(span) = object.key_span("default") {
                self.error(span, "a primary key cannot have a default")
                    .emit(self.diags);
            }
        }
        name_ok.then_some(field)
    }

    fn one_of<T: Copy>(
        &mut self,
        node: &Node,
        options: &[(&'static str, T)],
        what: &str,
    ) -> Option<T> {
        let text = self.string(node)?;
        if let Some((_, value)) = options.iter().find(|(name, _)| *name == text) {
            return Some(*value);
        }
        let names: Vec<&str> = options.iter().map(|(n, _)| *n).collect();
        let help = match suggest(&text, names.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => format!("expected one of: {}", names.join(", ")),
        };
        self.error(node.span, format!("unknown value `{text}` for {what}"))
            .with_help(help)
            .emit(self.diags);
        None
    }

    /// A secret is accepted and hashed, never stored in clear, returned, looked up or shown:
    /// it is write-only whatever the field says, and takes no option that would keep, compare
    /// or publish its value.
    fn check_secret(&mut self, field: &mut Field, object: Option<&Object<'_>>, place: FieldPlace) {
        let secret = Type::Scalar(Scalar::Secret);
        if field.ty != secret {
            if field.ty.element() == &secret {
                self.error(
                    field.spans.ty,
                    format!("a `{}` cannot hold secrets", field.ty),
                )
                .with_label("a list or map of secrets")
                .with_help(
                    "a secret is one field of its own (`type: secret`), hashed when it is written",
                )
                .emit(self.diags);
            }
            return;
        }
        field.write_only = true;
        if place == FieldPlace::Parameter {
            self.error(field.spans.ty, "a parameter cannot be a `secret`")
                .with_label("path and query strings end up in logs and browser histories")
                .with_help("send secrets in a request body: a message field of `type: secret`")
                .emit(self.diags);
        }
        let Some(object) = object else {
            return;
        };
        let refused = [
            ("read_only", "a secret is accepted, never returned"),
            (
                "unique",
                "only the secret's salted hash is stored, so values cannot be compared",
            ),
            (
                "index",
                "only the secret's salted hash is stored, so values cannot be looked up",
            ),
            ("default", "a default would be a secret known to everyone"),
            ("example", "an example is published in the documents"),
        ];
        for (key, why) in refused {
            if let Some(span) = object.key_span(key) {
                self.error(span, format!("`{key}` does not apply to a secret"))
                    .with_help(why)
                    .emit(self.diags);
            }
        }
    }

    /// `write_only` only keeps a value out of responses; a password marked so is still stored
    /// in clear. A warning, with the fix.
    fn warn_clear_password(&mut self, field: &Field, object: &Object<'_>) {
        if !(field.write_only && field.ty == Type::Scalar(Scalar::String)) {
            return;
        }
        let looks_secret = field.name.split('_').any(|part| {
            matches!(
                part,
                "password" | "passwd" | "pwd" | "passphrase" | "pin" | "secret"
            )
        }) || ["password", "passphrase", "secret"]
            .iter()
            .any(|word| field.name.contains(word));
        if looks_secret {
            let span = object.key_span("write_only").unwrap_or(field.span);
            self.diags.push(
                Diagnostic::warning(
                    span,
                    format!("`{}` looks like a secret stored in clear", field.name),
                )
                .with_label("`write_only` only hides the value from responses")
                .with_help("use `type: secret`: the runtime hashes it with argon2id when it is written and never stores, logs or returns it in clear"),
            );
        }
    }

    /// Filtering and sorting only work on values the stores can compare.
    fn check_list_options(&mut self, field: &Field, object: &Object<'_>) {
        let comparable = match &field.ty {
            Type::Scalar(s) => !matches!(s, Scalar::Json | Scalar::Bytes | Scalar::Secret),
            Type::Named(_) => true, // enums; validate.rs rejects messages
            Type::List(_) | Type::Map(_) => false,
        };
        for key in ["filterable", "sortable"] {
            let on = if key == "filterable" {
                field.filterable
            } else {
                field.sortable
            };
            if on && !comparable {
                if let Some(span) = object.key_span(key) {
                    self.error(span, format!("a `{}` field cannot be {key}", field.ty))
                        .with_help("filters and sorting apply to scalar and enum fields")
                        .emit(self.diags);
                }
            } else if on && field.write_only {
                if let Some(span) = object.key_span(key) {
                    self.error(span, format!("a write-only field cannot be {key}"))
                        .with_help(
                            "filtering or sorting on a value that is never returned would leak it",
                        )
                        .emit(self.diags);
                }
            }
        }
        if field.filterable && LIST_PARAMS.contains(&field.name.as_str()) {
            if let Some(span) = object.key_span("filterable") {
                self.error(
                    field.span,
                    format!("a filterable field cannot be named `{}`", field.name),
                )
                .with_secondary(span, "filters use the field name as query parameter")
                .with_help(format!(
                    "`{}` is a query parameter of list operations; rename the field",
                    field.name
                ))
                .emit(self.diags);
            }
        }
    }

    /// Parses `type:`. Inline enums (`type: enum` + `values`) are registered in `enums` under
    /// `<Owner><Field>`.
    fn field_type(
        &mut self,
        node: &Node,
        values: Option<&Node>,
        owner: &str,
        field: &str,
        enums: &mut BTreeMap<String, EnumDef>,
    ) -> Option<Type> {
        let Some(Yaml::Str(text)) = node.scalar() else {
            self.expected(node, "a type name");
            return None;
        };
        if text == "enum" {
            let enum_name = format!("{owner}{}", to_pascal_case(field));
            let Some(values) = values else {
                self.error(node.span, "`type: enum` needs `values`")
                    .with_help("e.g. `{ type: enum, values: [low, normal, high] }`")
                    .emit(self.diags);
                return None;
            };
            let def = self.enum_def(&enum_name, node.span, values, None)?;
            if let Some(existing) = enums.get(&enum_name) {
                self.error(node.span, format!("the inline enum of `{field}` is named `{enum_name}`, which is already taken"))
                    .with_secondary(existing.span, "an enum of that name")
                    .with_help("rename one of them, or refer to the existing enum with `type: ".to_owned() + &enum_name + "`")
                    .emit(self.diags);
                return None;
            }
            enums.insert(enum_name.clone(), def);
            return Some(Type::Named(enum_name));
        }
        self.parse_type(node, text, 0)
    }

    fn parse_type(&mut self, node: &Node, text: &str, offset: usize) -> Option<Type> {
        let here = |cx: &Self, len: usize| cx.sub_span(node, offset, len);
        let trimmed = text.trim();
        for (prefix, wrap) in [
            ("list<", Type::List as fn(Box<Type>) -> Type),
            ("map<", Type::Map),
        ] {
            if let Some(rest) = trimmed.strip_prefix(prefix) {
                let Some(inner) = rest.strip_suffix('>') else {
                    self.error(
                        here(self, text.len()),
                        format!("unclosed `{prefix}` in type `{text}`"),
                    )
                    .with_help(format!("write `{prefix}string>`"))
                    .emit(self.diags);
                    return None;
                };
                // `map<string, T>` spells out the key type, which is always a string.
                let inner = match inner.strip_prefix("string,") {
                    Some(value) if prefix == "map<" => value.trim_start(),
                    _ => inner,
                };
                let inner_offset = offset + text.find(inner).unwrap_or(prefix.len());
                let inner_ty = self.parse_type(node, inner, inner_offset)?;
                if matches!(inner_ty, Type::List(_) | Type::Map(_)) {
                    self.error(
                        here(self, text.len()),
                        format!("nested collection type `{text}`"),
                    )
                    .with_help("wrap the inner collection in a message and use `list<MessageName>`")
                    .emit(self.diags);
                    return None;
                }
                return Some(wrap(Box::new(inner_ty)));
            }
        }
        if let Some(scalar) = Scalar::from_name(trimmed) {
            return Some(Type::Scalar(scalar));
        }
        if is_pascal_case(trimmed) {
            return Some(Type::Named(trimmed.to_owned()));
        }
        let mut candidates: Vec<&str> = Scalar::ALL.iter().map(|s| s.name()).collect();
        candidates.extend(["enum", "list<", "map<"]);
        let help = match suggest(trimmed, candidates.iter().copied()) {
            Some(best) => format!("did you mean `{best}`?"),
            None => "types: string, bool, int32, int64, float, double, decimal, uuid, date, datetime, bytes, json, secret, enum, list<T>, map<T>, or a PascalCase contract, message or enum name".to_owned(),
        };
        self.error(here(self, text.len()), format!("unknown type `{trimmed}`"))
            .with_label("not a type")
            .with_help(help)
            .emit(self.diags);
        None
    }

    fn constraints(&mut self, object: &Object<'_>, ty: &Type, field: &str) -> Constraints {
        let mut c = Constraints::default();
        let scalar = ty.as_scalar();
        let is_collection = matches!(ty, Type::List(_) | Type::Map(_));
        let applies = |key: &str| -> bool {
            match key {
                "min_length" | "max_length" => {
                    matches!(
                        scalar,
                        Some(Scalar::String | Scalar::Bytes | Scalar::Secret)
                    )
                }
                "pattern" => matches!(scalar, Some(Scalar::String | Scalar::Secret)),
                "format" => scalar == Some(Scalar::String),
                "minimum" | "maximum" | "exclusive_minimum" | "exclusive_maximum"
                | "multiple_of" => scalar.is_some_and(Scalar::is_numeric),
                "min_items" | "max_items" => is_collection,
                "unique_items" => matches!(ty, Type::List(_)),
                _ => true,
            }
        };
        for &key in CONSTRAINT_KEYS {
            let Some(node) = object.get(key) else {
                continue;
            };
            if !applies(key) {
                let span = object.key_span(key).unwrap_or(node.span);
                let target = match key {
                    "min_length" | "max_length" => "strings and bytes",
                    "pattern" | "format" => "strings",
                    "min_items" | "max_items" => "lists and maps",
                    "unique_items" => "lists",
                    _ => "numbers",
                };
                let help = if is_collection
                    && !matches!(key, "min_items" | "max_items" | "unique_items")
                {
                    format!(
                        "to constrain each item, write it under `items:`, e.g. `items: {{ {key}: ... }}`"
                    )
                } else {
                    format!("`{key}` constrains {target}")
                };
                self.error(
                    span,
                    format!("`{key}` does not apply to `{field}` of type `{ty}`"),
                )
                .with_label(format!("`{key}` constrains {target}"))
                .with_help(help)
                .emit(self.diags);
                continue;
            }
            match key {
                "min_length" => c.min_length = self.unsigned(node),
                "max_length" => c.max_length = self.unsigned(node),
                "min_items" => c.min_items = self.unsigned(node),
                "max_items" => c.max_items = self.unsigned(node),
                "unique_items" => c.unique_items = self.bool(node).unwrap_or(false),
                "minimum" => c.minimum = self.number(node),
                "maximum" => c.maximum = self.number(node),
                "exclusive_minimum" => c.exclusive_minimum = self.number(node),
                "exclusive_maximum" => c.exclusive_maximum = self.number(node),
                "multiple_of" => c.multiple_of = self.number(node),
                "pattern" => c.pattern = self.pattern(node),
                "format" => {
                    let options: Vec<(&'static str, Format)> =
                        Format::ALL.iter().map(|f| (f.name(), *f)).collect();
                    c.format = self.one_of(node, &options, "`format`");
                }
                _ => {}
            }
        }
        self.check_bounds(object, &c, scalar);
        c
    }

    fn pattern(&mut self, node: &Node) -> Option<String> {
        let pattern = self.string(node)?;
        match regex_syntax::Parser::new().parse(&pattern) {
            Ok(_) => Some(pattern),
            Err(error) => {
                let (detail, span) = match &error {
                    regex_syntax::Error::Parse(e) => {
                        let s = e.span();
                        (
                            e.kind().to_string(),
                            self.sub_span(
                                node,
                                s.start.offset,
                                (s.end.offset - s.start.offset).max(1),
                            ),
                        )
                    }
                    regex_syntax::Error::Translate(e) => {
                        let s = e.span();
                        (
                            e.kind().to_string(),
                            self.sub_span(
                                node,
                                s.start.offset,
                                (s.end.offset - s.start.offset).max(1),
                            ),
                        )
                    }
                    other => (other.to_string(), node.span),
                };
                self.error(span, format!("invalid regular expression: {detail}"))
                    .with_label(detail)
                    .with_help("patterns use Rust `regex` syntax (no look-around or backreferences); quote them with single quotes so YAML leaves `\\` alone")
                    .emit(self.diags);
                None
            }
        }
    }

    /// Reports constraint pairs that no value can satisfy.
    fn check_bounds(&mut self, object: &Object<'_>, c: &Constraints, scalar: Option<Scalar>) {
        let span_of = |key: &str| object.key_span(key).unwrap_or(object.span);
        let pairs_u = [
            ("min_length", c.min_length, "max_length", c.max_length),
            ("min_items", c.min_items, "max_items", c.max_items),
        ];
        for (lo_key, lo, hi_key, hi) in pairs_u {
            if let (Some(lo), Some(hi)) = (lo, hi) {
                if lo > hi {
                    self.error(
                        span_of(lo_key),
                        format!("`{lo_key}` ({lo}) is greater than `{hi_key}` ({hi})"),
                    )
                    .with_secondary(span_of(hi_key), "upper bound here")
                    .with_help("no value can satisfy both; swap or fix the bounds")
                    .emit(self.diags);
                }
            }
        }
        let lower = [
            ("minimum", c.minimum, false),
            ("exclusive_minimum", c.exclusive_minimum, true),
        ];
        let upper = [
            ("maximum", c.maximum, false),
            ("exclusive_maximum", c.exclusive_maximum, true),
        ];
        for (lo_key, lo, lo_ex) in lower {
            for (hi_key, hi, hi_ex) in upper {
                if let (Some(lo), Some(hi)) = (lo, hi) {
                    let empty = if lo_ex || hi_ex { lo >= hi } else { lo > hi };
                    if empty {
                        self.error(
                            span_of(lo_key),
                            format!("`{lo_key}` ({lo}) and `{hi_key}` ({hi}) leave no valid value"),
                        )
                        .with_secondary(span_of(hi_key), "upper bound here")
                        .with_help("the lower bound must be below the upper bound")
                        .emit(self.diags);
                    }
                }
            }
        }
        if let Some(m) = c.multiple_of {
            if m <= 0.0 {
                self.error(
                    span_of("multiple_of"),
                    "`multiple_of` must be greater than zero",
                )
                .emit(self.diags);
            }
        }
        if scalar.is_some_and(Scalar::is_integer) {
            for key in [
                "minimum",
                "maximum",
                "exclusive_minimum",
                "exclusive_maximum",
                "multiple_of",
            ] {
                if let Some(node) = object.get(key) {
                    if matches!(node.scalar(), Some(Yaml::Float(x)) if x.fract() != 0.0) {
                        self.error(
                            node.span,
                            format!("`{key}` of an integer field must be an integer"),
                        )
                        .emit(self.diags);
                    }
                }
            }
        }
        if scalar == Some(Scalar::Int32) {
            let range = f64::from(i32::MIN)..=f64::from(i32::MAX);
            for (key, value) in [
                ("minimum", c.minimum),
                ("maximum", c.maximum),
                ("exclusive_minimum", c.exclusive_minimum),
                ("exclusive_maximum", c.exclusive_maximum),
            ] {
                if value.is_some_and(|v| !range.contains(&v)) {
                    self.error(
                        span_of(key),
                        format!("`{key}` is outside the range of `int32`"),
                    )
                    .with_help("use `int64`, or a bound between -2147483648 and 2147483647")
                    .emit(self.diags);
                }
            }
        }
    }

    // ---- enums and messages ----------------------------------------------------------------

    fn enums(&mut self, node: &Node, enums: &mut BTreeMap<String, EnumDef>) {
        let Some(entries) = self.map(node, "`enums`") else {
            return;
        };
        for (key, value) in entries {
            let Some(name) = self.key_name(key) else {
                continue;
            };
            self.check_type_name(&name, key.span, "enum");
            let (values, description) = match value.as_map() {
                Some(_) => {
                    let Some(object) = self.object(value, &format!("enum `{name}`"), ENUM_KEYS)
                    else {
                        continue;
                    };
                    let description = object.get("description").and_then(|n| self.string(n));
                    let Some(values) = object.get("values") else {
                        self.error(key.span, format!("enum `{name}` has no `values`"))
                            .with_help("e.g. `Priority: { values: [low, normal, high] }`")
                            .emit(self.diags);
                        continue;
                    };
                    (values, description)
                }
                None => (value, None),
            };
            if let Some(def) = self.enum_def(&name, key.span, values, description) {
                enums.insert(name, def);
            }
        }
    }

    fn enum_def(
        &mut self,
        name: &str,
        span: Span,
        values: &Node,
        description: Option<String>,
    ) -> Option<EnumDef> {
        let Some(items) = values.as_seq() else {
            self.expected(values, "a list of enum values");
            return None;
        };
        if items.is_empty() {
            self.error(values.span, format!("enum `{name}` has no values"))
                .emit(self.diags);
            return None;
        }
        let mut out: Vec<EnumValue> = Vec::new();
        for item in items {
            let (value, description) = if item.as_map().is_some() {
                let Some(object) = self.object(item, "an enum value", ENUM_VALUE_KEYS) else {
                    continue;
                };
                let Some(n) = object.get("name") else {
                    self.error(item.span, "an enum value map needs `name`")
                        .emit(self.diags);
                    continue;
                };
                (
                    self.string(n),
                    object.get("description").and_then(|d| self.string(d)),
                )
            } else {
                (self.string(item), None)
            };
            let Some(value) = value else { continue };
            if !is_snake_case(&value) {
                self.error(item.span, format!("enum value `{value}` is not snake_case"))
                    .with_help(format!(
                        "write `{}`; the wire value is exactly what you write",
                        to_snake_case(&value)
                    ))
                    .emit(self.diags);
                continue;
            }
            if let Some(first) = out.iter().find(|v| v.name == value) {
                self.error(item.span, format!("enum value `{value}` is listed twice"))
                    .with_secondary(first.span, "first listed here")
                    .emit(self.diags);
                continue;
            }
            if value == "unspecified" {
                self.error(item.span, "`unspecified` is reserved")
                    .with_help("proto enums use `<ENUM>_UNSPECIFIED = 0` for an unset value; choose another name")
                    .emit(self.diags);
                continue;
            }
            out.push(EnumValue {
                name: value,
                span: item.span,
                description,
            });
        }
        Some(EnumDef {
            name: name.to_owned(),
            span,
            description,
            values: out,
        })
    }

    fn messages(&mut self, node: &Node, contract: &mut Contract) {
        let Some(entries) = self.map(node, "`messages`") else {
            return;
        };
        for (key, value) in entries {
            let Some(name) = self.key_name(key) else {
                continue;
            };
            self.check_type_name(&name, key.span, "message");
            let Some(object) = self.object(value, &format!("message `{name}`"), MESSAGE_KEYS)
            else {
                continue;
            };
            let fields = match object.get("fields") {
                Some(fields) => {
                    self.fields(fields, &name, FieldPlace::Message, &mut contract.enums)
                }
                None => Vec::new(),
            };
            let description = object.get("description").and_then(|n| self.string(n));
            contract.messages.insert(
                name.clone(),
                Message {
                    name,
                    span: key.span,
                    description,
                    fields,
                },
            );
        }
    }

    // ---- operations ------------------------------------------------------------------------

    fn crud(&mut self, node: Option<&Node>, contract: &mut Contract) {
        let mut requested: Vec<(CrudKind, Span, Option<&Node>)> = Vec::new();
        match node.filter(|n| !n.is_null()) {
            None => {
                requested = CrudKind::ALL
                    .iter()
                    .map(|k| (*k, contract.span, None))
                    .collect();
            }
            Some(node) => match &node.kind {
                NodeKind::Seq(items) => {
                    for item in items {
                        if let Some(kind) = self.crud_kind(item) {
                            if requested.iter().any(|(k, _, _)| *k == kind) {
                                self.error(item.span, format!("`{}` is listed twice", kind.name()))
                                    .emit(self.diags);
                            } else {
                                requested.push((kind, item.span, None));
                            }
                        }
                    }
                }
                NodeKind::Map(entries) => {
                    for (key, value) in entries {
                        if let Some(kind) = self.crud_kind(key) {
                            requested.push((kind, key.span, (!value.is_null()).then_some(value)));
                        }
                    }
                }
                NodeKind::Scalar { .. } => self.expected(
                    node,
                    "a list such as `[list, get, create]` or a map of overrides",
                ),
            },
        }
        let pk_param = contract.primary_key().map(|pk| path_param_from(pk, "id"));
        for (kind, span, overrides) in requested {
            let overrides = overrides.and_then(|o| {
                self.object(o, &format!("`crud.{}`", kind.name()), CRUD_OVERRIDE_KEYS)
            });
            let mut op = Operation {
                name: kind.name().to_owned(),
                span,
                kind: OperationKind::Crud(kind),
                method: kind.method(),
                path: kind.path().to_owned(),
                summary: None,
                description: None,
                deprecated: contract.deprecated,
                path_params: Vec::new(),
                query: Vec::new(),
                request: match kind {
                    CrudKind::Create | CrudKind::Update => Some(DerivedBody::Input),
                    CrudKind::Patch => Some(DerivedBody::Patch),
                    _ => None,
                }
                .map(|d| Body {
                    ty: BodyType::Derived(d),
                    span,
                }),
                response: match kind {
                    CrudKind::List => Some(BodyType::Derived(DerivedBody::Page)),
                    CrudKind::Delete => None,
                    _ => Some(BodyType::Named(contract.name.clone())),
                }
                .map(|ty| Body { ty, span }),
                status: kind.success_status(),
                auth: contract.auth.clone(),
                rate_limit: contract.rate_limit.clone(),
                versions: contract.versions.clone(),
                versions_span: None,
            };
            if kind.path().contains("{id}") {
                op.path_params.extend(pk_param.clone());
            }
            if let Some(o) = overrides {
                self.apply_overrides(&o, &mut op, contract);
            }
            contract.operations.insert(op.name.clone(), op);
        }
    }

    fn crud_kind(&mut self, node: &Node) -> Option<CrudKind> {
        let text = self.string(node)?;
        let kind = CrudKind::from_name(&text);
        if kind.is_none() {
            let help = match suggest(&text, CrudKind::ALL.iter().map(|k| k.name())) {
                Some(best) => format!("did you mean `{best}`?"),
                None => "CRUD operations are list, get, create, update, patch and delete; declare others under `operations`".to_owned(),
            };
            self.error(node.span, format!("unknown CRUD operation `{text}`"))
                .with_help(help)
                .emit(self.diags);
        }
        kind
    }

    /// Applies the keys an operation may override: texts, auth, rate limit, versions.
    fn apply_overrides(&mut self, object: &Object<'_>, op: &mut Operation, contract: &Contract) {
        if let Some(n) = object.get("summary") {
            op.summary = self.string(n);
        }
        if let Some(n) = object.get("description") {
            op.description = self.string(n);
        }
        if let Some(n) = object.get("deprecated") {
            op.deprecated = self.bool(n).unwrap_or(op.deprecated);
        }
        if let Some(auth) = object.get("auth").and_then(|n| self.auth(n)) {
            op.auth = auth;
        }
        if let Some(limit) = object.get("rate_limit").and_then(|n| self.rate_limit(n)) {
            op.rate_limit = limit;
        }
        if let Some(node) = object.get("versions") {
            if let Some(versions) = self.versions(node, Some(&contract.versions)) {
                if !versions.is_empty() {
                    op.versions = versions;
                    op.versions_span = Some(node.span);
                }
            }
        }
    }

    fn custom_operations(&mut self, node: &Node, contract: &mut Contract) {
        let Some(entries) = self.map(node, "`operations`") else {
            return;
        };
        for (key, value) in entries {
            let Some(name) = self.key_name(key) else {
                continue;
            };
            if !is_snake_case(&name) {
                self.error(
                    key.span,
                    format!("operation name `{name}` is not snake_case"),
                )
                .with_help(format!("rename it to `{}`", to_snake_case(&name)))
                .emit(self.diags);
                continue;
            }
            if RUST_UNRAWABLE.contains(&name.as_str()) {
                self.error(key.span, format!("`{name}` cannot be an operation name"))
                    .with_help(format!("rename it, e.g. `{name}_op`"))
                    .emit(self.diags);
                continue;
            }
            if let Some(existing) = contract.operations.get(&name) {
                self.error(
                    key.span,
                    format!("operation `{name}` clashes with the CRUD operation of that name"),
                )
                .with_secondary(existing.span, "CRUD operation enabled here")
                .with_help("rename the custom operation, or remove the CRUD operation from `crud`")
                .emit(self.diags);
                continue;
            }
            if let Some(op) = self.custom_operation(&name, key.span, value, contract) {
                contract.operations.insert(name, op);
            }
        }
    }

    fn custom_operation(
        &mut self,
        name: &str,
        span: Span,
        node: &Node,
        contract: &mut Contract,
    ) -> Option<Operation> {
        let object = self.object(node, &format!("operation `{name}`"), OPERATION_KEYS)?;
        let method = match object.get("method") {
            Some(n) => {
                let text = self.string(n)?;
                match Method::from_name(&text) {
                    Some(m) => Some(m),
                    None => {
                        let help = match suggest(&text, Method::ALL.iter().map(|m| m.as_str())) {
                            Some(best) => format!("did you mean `{best}`?"),
                            None => "methods: GET, POST, PUT, PATCH, DELETE".to_owned(),
                        };
                        self.error(n.span, format!("unknown HTTP method `{text}`"))
                            .with_help(help)
                            .emit(self.diags);
                        None
                    }
                }
            }
            None => {
                self.error(span, format!("operation `{name}` has no `method`"))
                    .with_help("add `method: POST` (or GET, PUT, PATCH, DELETE)")
                    .emit(self.diags);
                None
            }
        };
        let path_node = object.get("path");
        let path = match path_node {
            Some(n) => self.string(n).unwrap_or_default(),
            None => format!("/{}", name.replace('_', "-")),
        };
        let mut declared_params = match object.get("params") {
            Some(n) => {
                let owner = contract.name.clone();
                self.parameters(n, &owner, name, "params", &mut contract.enums)
            }
            None => Vec::new(),
        };
        let path_params =
            self.operation_path(&path, path_node, span, contract, &mut declared_params);
        let query = match object.get("query") {
            Some(n) => {
                let owner = contract.name.clone();
                self.parameters(n, &owner, name, "query", &mut contract.enums)
            }
            None => Vec::new(),
        };
        for q in &query {
            if let Some(p) = path_params.iter().find(|p| p.name == q.name) {
                self.error(
                    q.span,
                    format!("`{}` is both a path and a query parameter", q.name),
                )
                .with_secondary(p.span, "path parameter")
                .with_help("rename one of them")
                .emit(self.diags);
            }
        }
        let method = method?;
        let request = object.get("request").and_then(|n| {
            if n.is_null() || n.scalar_text() == Some("none") {
                return None;
            }
            let ty = self.body_type(n)?;
            if !method.has_body() {
                self.error(
                    n.span,
                    format!("{} operations take no request body", method.as_str()),
                )
                .with_help("declare inputs under `query:` or use POST")
                .emit(self.diags);
                return None;
            }
            Some(Body { ty, span: n.span })
        });
        let status = match object.get("status") {
            Some(n) => match n.scalar() {
                Some(Yaml::Int(s)) if (200..=299).contains(&s) => Some(s as u16),
                _ => {
                    self.error(n.span, "`status` must be a 2xx status code")
                        .with_help("error statuses come from the runtime's problem responses")
                        .emit(self.diags);
                    None
                }
            },
            None => None,
        };
        let response = match object.get("response") {
            Some(n) if n.is_null() || n.scalar_text() == Some("none") => None,
            Some(n) => self.body_type(n).map(|ty| Body { ty, span: n.span }),
            None if status == Some(204) => None,
            None => Some(Body {
                ty: BodyType::Named(contract.name.clone()),
                span,
            }),
        };
        let status = status.unwrap_or(if response.is_none() { 204 } else { 200 });
        if status == 204 && response.is_some() {
            if let Some(n) = object.get("status") {
                self.error(n.span, "a 204 response has no body")
                    .with_help("remove `response`, or use status 200")
                    .emit(self.diags);
            }
        }
        let mut op = Operation {
            name: name.to_owned(),
            span,
            kind: OperationKind::Custom,
            method,
            path,
            summary: None,
            description: None,
            deprecated: contract.deprecated,
            path_params,
            query,
            request,
            response,
            status,
            auth: contract.auth.clone(),
            rate_limit: contract.rate_limit.clone(),
            versions: contract.versions.clone(),
            versions_span: None,
        };
        self.apply_overrides(&object, &mut op, contract);
        Some(op)
    }

    fn body_type(&mut self, node: &Node) -> Option<BodyType> {
        let text = self.string(node)?;
        if let Some(inner) = text.strip_prefix("list<").and_then(|r| r.strip_suffix('>')) {
            if is_pascal_case(inner) {
                return Some(BodyType::List(inner.to_owned()));
            }
        } else if is_pascal_case(&text) {
            return Some(BodyType::Named(text));
        }
        self.error(node.span, format!("invalid body type `{text}`"))
            .with_help(
                "name a contract or message (`Task`), a list of one (`list<Task>`), or `none`",
            )
            .emit(self.diags);
        None
    }

    fn parameters(
        &mut self,
        node: &Node,
        contract: &str,
        op: &str,
        what: &str,
        enums: &mut BTreeMap<String, EnumDef>,
    ) -> Vec<Field> {
        let Some(entries) = self.map(node, &format!("`{what}`")) else {
            return Vec::new();
        };
        let owner = format!("{contract}{}", to_pascal_case(op));
        let mut params = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.key_name(key) else {
                continue;
            };
            let Some(field) =
                self.field(&name, key.span, value, &owner, FieldPlace::Parameter, enums)
            else {
                continue;
            };
            if matches!(
                field.ty,
                Type::Map(_) | Type::Scalar(Scalar::Json | Scalar::Bytes)
            ) || (what == "params" && matches!(field.ty, Type::List(_)))
            {
                self.error(
                    key.span,
                    format!("parameter `{name}` cannot be a `{}`", field.ty),
                )
                .with_help(if what == "params" {
                    "path parameters are scalars or enums"
                } else {
                    "query parameters are scalars, enums or lists of them"
                })
                .emit(self.diags);
                continue;
            }
            params.push(field);
        }
        params
    }

    /// Checks an operation path and returns its parameters in path order.
    fn operation_path(
        &mut self,
        path: &str,
        node: Option<&Node>,
        op_span: Span,
        contract: &Contract,
        declared: &mut Vec<Field>,
    ) -> Vec<Field> {
        let span = node.map_or(op_span, |n| n.span);
        let mut params = Vec::new();
        if !path.is_empty() && (!path.starts_with('/') || path.ends_with('/')) {
            self.error(span, format!("invalid operation path `{path}`"))
                .with_help("paths are relative to the contract's path and start with `/`, e.g. `/{id}/complete`")
                .emit(self.diags);
            return params;
        }
        for segment in path.split('/').skip(1) {
            if let Some(param) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if params.iter().any(|p: &Field| p.name == param) {
                    self.error(
                        span,
                        format!("path parameter `{param}` appears twice in `{path}`"),
                    )
                    .with_help("give each parameter its own name")
                    .emit(self.diags);
                } else if param == "id" {
                    if let Some(pos) = declared.iter().position(|f| f.name == "id") {
                        let declared_id = declared.remove(pos);
                        self.error(declared_id.span, "`id` cannot be declared under `params`")
                            .with_help("`{id}` is always the contract's primary key, with its type")
                            .emit(self.diags);
                    }
                    if let Some(pk) = contract.primary_key() {
                        params.push(path_param_from(pk, "id"));
                    }
                } else if let Some(pos) = declared.iter().position(|f| f.name == param) {
                    params.push(declared.remove(pos));
                } else {
                    let offset = path.find(segment).unwrap_or(0);
                    let at = node.map_or(span, |n| self.sub_span(n, offset, segment.len()));
                    self.error(at, format!("path parameter `{param}` is not declared"))
                        .with_help(format!("declare it under `params:`, e.g. `params: {{ {param}: {{ type: string }} }}`; `{{id}}` is the primary key"))
                        .emit(self.diags);
                }
            } else if segment.is_empty() || !segment.bytes().all(is_path_literal_byte) {
                self.error(span, format!("invalid path segment `{segment}` in `{path}`"))
                    .with_help("literal segments use lowercase letters, digits, `-`, `.` and `_`; parameters are written `{name}`")
                    .emit(self.diags);
            }
        }
        for unused in declared.drain(..) {
            self.error(
                unused.span,
                format!("parameter `{}` does not appear in the path", unused.name),
            )
            .with_help(format!(
                "add `{{{}}}` to `path`, or move it under `query:`",
                unused.name
            ))
            .emit(self.diags);
        }
        params
    }
}

fn is_path_literal_byte(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'_')
}

/// A path parameter carrying the primary key's type.
fn path_param_from(pk: &Field, name: &str) -> Field {
    Field {
        description: Some("The resource's identifier.".to_owned()),
        ..plain_field(name, pk.span, pk.ty.clone())
    }
}

/// A field with a type and nothing else.
fn plain_field(name: &str, span: Span, ty: Type) -> Field {
    Field {
        name: name.to_owned(),
        span,
        ty,
        description: None,
        optional: false,
        nullable: false,
        default: None,
        example: None,
        constraints: Box::default(),
        item_constraints: Box::default(),
        primary: false,
        read_only: false,
        write_only: false,
        deprecated: false,
        unique: false,
        index: false,
        filterable: false,
        sortable: false,
        references: None,
        number: None,
        renamed_from: None,
        spans: FieldSpans {
            ty: span,
            default: None,
            example: None,
        },
    }
}
