//! Lowering fields: names, flags and their combinations (keys, read- and write-only,
//! secrets, references, list options), and the warning for passwords stored in clear.

use super::*;

impl Lowerer<'_> {
    pub(super) fn fields(
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

    pub(super) fn check_field_name(&mut self, name: &str, span: Span) -> bool {
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

    pub(super) fn field(
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

    pub(super) fn one_of<T: Copy>(
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
    pub(super) fn check_secret(
        &mut self,
        field: &mut Field,
        object: Option<&Object<'_>>,
        place: FieldPlace,
    ) {
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
    pub(super) fn warn_clear_password(&mut self, field: &Field, object: &Object<'_>) {
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
    pub(super) fn check_list_options(&mut self, field: &Field, object: &Object<'_>) {
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
}
