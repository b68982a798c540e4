//! Lowering operations: CRUD (expanded here into operations with the contract's policies
//! resolved in, the desugaring step) and custom ones, their bodies, parameters and paths.

use super::*;

impl Lowerer<'_> {
    pub(super) fn crud(&mut self, node: Option<&Node>, contract: &mut Contract) {
        let mut requested: Vec<(CrudKind, Span, Option<&Node>)> = Vec::new();
        match node.filter(|n| !n.is_null()) {
            None if contract.account.is_some() => {
                requested = CrudKind::NAMED
                    .into_iter()
                    .filter(|k| !Self::unmade_by_clients(*k))
                    .map(|k| (k, contract.span, None))
                    .collect();
            }
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
        requested.retain(|&(kind, span, _)| self.crud_fits(kind, span, contract));
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
                deprecation: contract.deprecation.clone(),
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
                alternatives: Vec::new(),
                errors: Vec::new(),
                no_store: false,
                redirect: false,
                cookies: Vec::new(),
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

    /// Records of an account contract come and go with the accounts: clients neither create
    /// nor delete them.
    fn unmade_by_clients(kind: CrudKind) -> bool {
        matches!(kind, CrudKind::Create | CrudKind::Delete)
    }

    /// Whether a CRUD operation suits the contract: `me` only an account contract's, whose
    /// keys are account ids; `create` and `delete` never one's.
    fn crud_fits(&mut self, kind: CrudKind, span: Span, contract: &Contract) -> bool {
        match (&contract.account, kind) {
            (None, CrudKind::Me) => {
                self.error(span, format!("`me` needs `{}` bound to the accounts", contract.name))
                    .with_label("the signed-in account has no record here")
                    .with_help("add `account: true` to the contract whose records are the login module's accounts, or write `me` as a custom operation")
                    .emit(self.diags);
                false
            }
            (Some(binding), kind) if Self::unmade_by_clients(kind) => {
                self.error(span, format!("`{}` records come and go with the accounts", contract.name))
                    .with_secondary(binding.span, "bound to the accounts here")
                    .with_help(if kind == CrudKind::Create {
                        "remove `create`: an account's record is made when it first signs in; accounts are made at `/auth/register`"
                    } else {
                        "remove `delete`: an account's record lives as long as the account"
                    })
                    .emit(self.diags);
                false
            }
            _ => true,
        }
    }

    pub(super) fn crud_kind(&mut self, node: &Node) -> Option<CrudKind> {
        let text = self.string(node)?;
        let kind = CrudKind::from_name(&text);
        if kind.is_none() {
            let help = match suggest(&text, CrudKind::NAMED.iter().map(|k| k.name())) {
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
    pub(super) fn apply_overrides(
        &mut self,
        object: &Object<'_>,
        op: &mut Operation,
        contract: &Contract,
    ) {
        if let Some(n) = object.get("summary") {
            op.summary = self.string(n);
        }
        if let Some(n) = object.get("description") {
            op.description = self.string(n);
        }
        if let Some(n) = object.get("deprecated") {
            let (deprecated, deprecation) = self.deprecation(n);
            op.deprecated = deprecated;
            // `deprecated: true` keeps the contract's dates; `false` drops them.
            if deprecation.is_some() || !deprecated {
                op.deprecation = deprecation;
            }
        }
        if let Some(auth) = object.get("auth").and_then(|n| self.auth(n)) {
            op.auth = auth;
        }
        if let Some(limit) = object.get("rate_limit").and_then(|n| self.rate_limit(n)) {
            op.rate_limit = limit;
        }
        if let Some(node) = object.get("versions") {
            if !contract.versioned {
                self.error(
                    node.span,
                    "an operation of an unversioned contract lists no `versions`",
                )
                .with_label("served once, at its bare path, in every version")
                .emit(self.diags);
                return;
            }
            if let Some(versions) = self.versions(node, Some(&contract.versions)) {
                if !versions.is_empty() {
                    op.versions = versions;
                    op.versions_span = Some(node.span);
                }
            }
        }
    }

    pub(super) fn custom_operations(&mut self, node: &Node, contract: &mut Contract) {
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

    pub(super) fn custom_operation(
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
        let redirect = object
            .get("response")
            .is_some_and(|n| n.scalar_text() == Some("redirect"));
        let status = match object.get("status") {
            Some(n) => {
                match n.scalar() {
                    Some(Yaml::Int(s)) if !redirect && (200..=299).contains(&s) => Some(s as u16),
                    Some(Yaml::Int(s))
                        if redirect && REDIRECT_STATUSES.iter().any(|&r| i64::from(r) == s) =>
                    {
                        Some(s as u16)
                    }
                    _ if redirect => {
                        self.error(n.span, "a redirect's `status` is 302, 303, 307 or 308")
                        .with_help("302 or 303 send the client on with a GET; 307 and 308 keep the method")
                        .emit(self.diags);
                        None
                    }
                    _ => {
                        self.error(n.span, "`status` must be a 2xx status code")
                        .with_help("error statuses come from the runtime's problem responses; a redirect says `response: redirect`")
                        .emit(self.diags);
                        None
                    }
                }
            }
            None => None,
        };
        let response = match object.get("response") {
            Some(n) if n.is_null() || n.scalar_text() == Some("none") || redirect => None,
            Some(n) => self.body_type(n).map(|ty| Body { ty, span: n.span }),
            None if status == Some(204) => None,
            None => Some(Body {
                ty: BodyType::Named(contract.name.clone()),
                span,
            }),
        };
        let status = status.unwrap_or(match (redirect, &response) {
            (true, _) => 302,
            (false, None) => 204,
            (false, Some(_)) => 200,
        });
        if status == 204 && response.is_some() {
            if let Some(n) = object.get("status") {
                self.error(n.span, "a 204 response has no body")
                    .with_help("remove `response`, or use status 200")
                    .emit(self.diags);
            }
        }
        if let (true, Some(n)) = (redirect, object.get("responses")) {
            self.error(n.span, "a redirect has no other successes")
                .with_help("answer the other cases with the redirect's `Location`, or with problems under `errors:`")
                .emit(self.diags);
        }
        let cookies = match object.get("cookies") {
            Some(n) => self.cookies(n, redirect),
            None => Vec::new(),
        };
        let alternatives = match object.get("responses") {
            Some(n) if !redirect => self.alternative_replies(n, status),
            _ => Vec::new(),
        };
        let errors = match object.get("errors") {
            Some(n) => self.declared_errors(n),
            None => Vec::new(),
        };
        let no_store = self.flag(&object, "no_store");
        let mut op = Operation {
            name: name.to_owned(),
            span,
            kind: OperationKind::Custom,
            method,
            path,
            summary: None,
            description: None,
            deprecated: contract.deprecated,
            deprecation: contract.deprecation.clone(),
            path_params,
            query,
            request,
            response,
            status,
            redirect,
            cookies,
            alternatives,
            errors,
            no_store,
            auth: contract.auth.clone(),
            rate_limit: contract.rate_limit.clone(),
            versions: contract.versions.clone(),
            versions_span: None,
        };
        self.apply_overrides(&object, &mut op, contract);
        Some(op)
    }

    /// `responses:` of a custom operation: other 2xx answers than its `status`, by status.
    fn alternative_replies(&mut self, node: &Node, status: u16) -> Vec<Reply> {
        let Some(entries) = self.map(node, "`responses`") else {
            return Vec::new();
        };
        let mut replies: Vec<Reply> = Vec::new();
        for (key, value) in entries {
            let reply_status = match key.scalar() {
                Some(Yaml::Int(s)) if (200..=299).contains(&s) && s != i64::from(status) => {
                    s as u16
                }
                _ => {
                    self.error(key.span, "`responses` are keyed by other 2xx statuses than `status`")
                        .with_help("problems are declared under `errors:`; the main success is `status` with `response`")
                        .emit(self.diags);
                    continue;
                }
            };
            if replies.iter().any(|r| r.status == reply_status) {
                self.error(key.span, format!("status {reply_status} is listed twice"))
                    .emit(self.diags);
                continue;
            }
            let Some(object) = self.object(value, &format!("response {reply_status}"), REPLY_KEYS)
            else {
                continue;
            };
            let body = match object.get("response") {
                Some(n) if n.is_null() || n.scalar_text() == Some("none") => None,
                Some(n) => self.body_type(n).map(|ty| Body { ty, span: n.span }),
                None => None,
            };
            if reply_status == 204 && body.is_some() {
                self.error(key.span, "a 204 response has no body")
                    .with_help("remove `response`, or use status 200")
                    .emit(self.diags);
            }
            let description = object.get("description").and_then(|n| self.string(n));
            replies.push(Reply {
                status: reply_status,
                body,
                description,
            });
        }
        replies.sort_by_key(|r| r.status);
        replies
    }

    /// `cookies:` of a custom operation: each cookie its handler reads (`sent`) or its redirect
    /// sets (`set`).
    fn cookies(&mut self, node: &Node, redirect: bool) -> Vec<Cookie> {
        let Some(entries) = self.map(node, "`cookies`") else {
            return Vec::new();
        };
        let mut cookies: Vec<Cookie> = Vec::new();
        for (key, value) in entries {
            let Some(name) = self.key_name(key) else {
                continue;
            };
            // RFC 6265's cookie-name is a token; we keep to the characters every client and
            // proxy passes unquoted.
            if name.is_empty()
                || !name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                self.error(key.span, format!("`{name}` is not a cookie name"))
                    .with_help("use letters, digits, `_` and `-`")
                    .emit(self.diags);
                continue;
            }
            let Some(object) = self.object(value, &format!("cookie `{name}`"), COOKIE_KEYS) else {
                continue;
            };
            let sent = self.flag(&object, "sent");
            let set = self.flag(&object, "set");
            if !sent && !set {
                self.error(key.span, format!("cookie `{name}` is neither sent nor set"))
                    .with_help("say `sent: true` (requests carry it), `set: true` (the answer sets it), or both")
                    .emit(self.diags);
                continue;
            }
            if set && !redirect {
                self.error(
                    key.span,
                    format!("cookie `{name}` is set by an answer that is not a redirect"),
                )
                .with_help("only a redirect (`response: redirect`) sets cookies")
                .emit(self.diags);
                continue;
            }
            let description = object.get("description").and_then(|n| self.string(n));
            cookies.push(Cookie {
                name,
                span: key.span,
                description,
                sent,
                set,
            });
        }
        cookies.sort_by(|a, b| a.name.cmp(&b.name));
        cookies
    }

    /// `errors:` of a custom operation: the problem statuses its handler answers with, each
    /// with when.
    fn declared_errors(&mut self, node: &Node) -> Vec<DeclaredError> {
        let Some(entries) = self.map(node, "`errors`") else {
            return Vec::new();
        };
        let mut errors: Vec<DeclaredError> = Vec::new();
        for (key, value) in entries {
            let status = match key.scalar() {
                Some(Yaml::Int(s)) if PROBLEM_STATUSES.iter().any(|&p| i64::from(p) == s) => {
                    s as u16
                }
                _ => {
                    let list: Vec<String> = PROBLEM_STATUSES.iter().map(u16::to_string).collect();
                    self.error(key.span, "not a problem status of the runtime")
                        .with_help(format!("declare one of {}", list.join(", ")))
                        .emit(self.diags);
                    continue;
                }
            };
            if errors.iter().any(|e| e.status == status) {
                self.error(key.span, format!("status {status} is listed twice"))
                    .emit(self.diags);
                continue;
            }
            let Some(description) = self.string(value) else {
                continue;
            };
            errors.push(DeclaredError {
                status,
                description,
                span: key.span,
            });
        }
        errors.sort_by_key(|e| e.status);
        errors
    }

    pub(super) fn body_type(&mut self, node: &Node) -> Option<BodyType> {
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

    pub(super) fn parameters(
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
    pub(super) fn operation_path(
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
