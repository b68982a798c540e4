//! Lowering a contract: its name, path, versions, storage and pagination, the fields the
//! server manages, and the checks on its primary key.

use super::*;

impl Lowerer<'_> {
    pub(super) fn contract(&mut self, root: &Node) -> Option<Contract> {
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
        let versioned = match object.get("versioned") {
            Some(node) => self.bool(node).unwrap_or(true),
            None => true,
        };
        let versions = match object.get("versions") {
            Some(node) if !versioned => {
                self.error(node.span, "an unversioned contract lists no `versions`")
                    .with_label("`versioned: false` serves it in every version")
                    .with_help("remove `versions`, or `versioned: false`")
                    .emit(self.diags);
                BTreeSet::from([1])
            }
            Some(node) => self
                .versions(node, None)
                .unwrap_or_else(|| BTreeSet::from([1])),
            None => BTreeSet::from([1]),
        };
        let (deprecated, deprecation) = object
            .get("deprecated")
            .map_or((false, None), |node| self.deprecation(node));
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
            versioned,
            provided_by: None,
            deprecated,
            deprecation,
            auth,
            rate_limit,
            storage,
            owner: None,
            account: None,
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
        if let Some(node) = object.get("owner") {
            contract.owner = self.owner(node, &mut contract.fields);
        }
        if let Some(node) = object.get("account") {
            self.account(node, &mut contract);
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

    /// `owner: owner_id` or `owner: { field: owner_id, bypass: [admin] }`. The owner field
    /// becomes read-only: the server sets it from the caller, and clients never choose it.
    pub(super) fn owner(&mut self, node: &Node, fields: &mut [Field]) -> Option<Owner> {
        let (field_node, bypass) = if node.scalar_text().is_some() {
            (node, Vec::new())
        } else {
            let object = self.object(node, "`owner`", OWNER_KEYS)?;
            let Some(field_node) = object.get("field") else {
                self.error(node.span, "`owner` names no `field`")
                    .with_help("write `owner: { field: owner_id, bypass: [admin] }`")
                    .emit(self.diags);
                return None;
            };
            let bypass = self.bypass_roles(object.get("bypass"));
            (field_node, bypass)
        };
        let name = self.string(field_node)?;
        let Some(field) = fields.iter_mut().find(|f| f.name == name) else {
            self.error(
                field_node.span,
                format!("owner field `{name}` is not a field of the contract"),
            )
            .with_help(format!(
                "declare it: `{name}: {{ type: uuid, index: true }}`"
            ))
            .emit(self.diags);
            return None;
        };
        let holds_an_id = matches!(field.ty, Type::Scalar(Scalar::String | Scalar::Uuid));
        if !holds_an_id || field.primary || field.optional || field.nullable || field.write_only {
            self.error(field_node.span, format!("`{name}` cannot hold the owner"))
                .with_secondary(field.span, "declared here")
                .with_help("the owner field is a required `string` or `uuid` field, not the key, that responses show")
                .emit(self.diags);
            return None;
        }
        field.read_only = true;
        Some(Owner {
            field: name,
            bypass,
            span: field_node.span,
        })
    }

    /// `bypass: [admin]`: the roles whose holders reach every owned resource.
    fn bypass_roles(&mut self, node: Option<&Node>) -> Vec<String> {
        let Some(list) = node else {
            return Vec::new();
        };
        match list.as_seq() {
            Some(items) => items.iter().filter_map(|i| self.string(i)).collect(),
            None => {
                self.expected(list, "a list of roles, e.g. `[admin]`");
                Vec::new()
            }
        }
    }

    /// `account: true` or `account: { email: email, bypass: [admin] }`: the contract's records
    /// are the login module's accounts. The login module makes an account's record when the
    /// account first signs in, from its id (the key) and email alone, so every other field must
    /// have a value without the client; the record is owned through its key, and the email
    /// field is the server's to keep in step.
    pub(super) fn account(&mut self, node: &Node, contract: &mut Contract) {
        let (email_node, bypass) = if node.scalar_text().is_some() {
            match self.bool(node) {
                Some(true) => (None, Vec::new()),
                _ => return,
            }
        } else {
            let Some(object) = self.object(node, "`account`", ACCOUNT_KEYS) else {
                return;
            };
            let bypass = self.bypass_roles(object.get("bypass"));
            (object.get("email"), bypass)
        };
        let email = match email_node {
            Some(n) => match self.string(n) {
                Some(name) => name,
                None => return,
            },
            None => "email".to_owned(),
        };
        let email_span = email_node.map_or(node.span, |n| n.span);
        if let Some(owner) = &contract.owner {
            self.error(owner.span, "an account contract is owned through its key already")
                .with_secondary(node.span, "bound to the accounts here")
                .with_help("remove `owner:`; name the roles that reach every record in `account: { bypass: [admin] }`")
                .emit(self.diags);
        }
        let key = contract
            .primary_key()
            .filter(|k| k.ty == Type::Scalar(Scalar::Uuid))
            .map(|k| k.name.clone());
        let Some(key) = key else {
            self.error(node.span, format!("`{}` is bound to the accounts but its key is no `uuid`", contract.name))
                .with_help("an account's record is keyed by the account id: declare `id: { type: uuid, primary: true }`")
                .emit(self.diags);
            return;
        };
        let timestamps = contract.storage.timestamps;
        let mut bound = true;
        for field in &mut contract.fields {
            if field.name == email {
                let is_email = field.ty == Type::Scalar(Scalar::String)
                    && field.constraints.format == Some(Format::Email);
                if !is_email || field.optional || field.nullable || field.write_only {
                    self.error(
                        email_span,
                        format!("`{email}` cannot show the account's email"),
                    )
                    .with_secondary(field.span, "declared here")
                    .with_help("the email field is a required `string` with `format: email`")
                    .emit(self.diags);
                    bound = false;
                }
                field.read_only = true;
                continue;
            }
            let server_made = field.primary
                || (timestamps && matches!(field.name.as_str(), "created_at" | "updated_at"));
            if server_made || field.optional || field.nullable || field.default.is_some() {
                continue;
            }
            self.error(
                field.span,
                format!("`{}.{}` has no value when an account's record is made", contract.name, field.name),
            )
            .with_secondary(node.span, "bound to the accounts here")
            .with_help("the record is made when the account first signs in, from its id and email alone: make the field `optional: true` or give it a `default:`")
            .emit(self.diags);
            bound = false;
        }
        if !contract.fields.iter().any(|f| f.name == email) {
            self.error(
                email_span,
                format!("`{email}` is not a field of `{}`", contract.name),
            )
            .with_help(format!(
                "declare it: `{email}: {{ type: string, format: email, max_length: 254 }}`"
            ))
            .emit(self.diags);
            bound = false;
        }
        if !bound {
            return;
        }
        contract.account = Some(AccountBinding {
            email,
            span: node.span,
        });
        contract.owner = Some(Owner {
            field: key,
            bypass,
            span: node.span,
        });
    }

    pub(super) fn check_type_name(&mut self, name: &str, span: Span, what: &str) {
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

    pub(super) fn collection_path(&mut self, node: &Node) -> Option<String> {
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

    pub(super) fn versions(
        &mut self,
        node: &Node,
        allowed: Option<&BTreeSet<u32>>,
    ) -> Option<BTreeSet<u32>> {
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

    pub(super) fn storage(
        &mut self,
        node: Option<&Node>,
        contract: &str,
    ) -> (Storage, Option<Span>) {
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

    pub(super) fn pagination(&mut self, node: Option<&Node>) -> Pagination {
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

    pub(super) fn add_timestamp_fields(&mut self, fields: &mut Vec<Field>, span: Span) {
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
    pub(super) fn check_server_managed_fields(&mut self, contract: &Contract, object: &Object<'_>) {
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
        let owner = contract.owner.as_ref().map(|o| o.field.as_str());
        let account_email = contract.account.as_ref().map(|a| a.email.as_str());
        for field in &contract.fields {
            let server_set = field.primary
                || Some(field.name.as_str()) == owner
                || Some(field.name.as_str()) == account_email
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

    pub(super) fn check_primary_key(&mut self, contract: &Contract, fields_node: Option<&Node>) {
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
}
