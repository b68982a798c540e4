//! Building one contract's file: its messages (the resource, the bodies derived from it,
//! filters, pages, the contract's own messages), enums and service, numbered by the lock.

use cmmv_rules::list::{MAX_IN_VALUES, Operator};

use super::*;
/// The proto form of a field type.
pub(super) struct ProtoType {
    pub(super) ty: String,
    pub(super) repeated: bool,
    /// A message type (or a map), which has presence without `optional`, or cannot have it.
    pub(super) has_presence: bool,
}

/// Whether a field should say it may be unset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Presence {
    Required,
    Optional,
}

pub(super) struct FileBuilder<'a> {
    pub(super) api: &'a Api<'a>,
    pub(super) project: &'a Project,
    pub(super) lock: &'a Lock,
    /// What the contract's projections share: its bodies, names and routes.
    pub(super) resolved: &'a ContractApi<'a>,
    pub(super) contract: &'a Contract,
    pub(super) imports: BTreeSet<String>,
}

impl<'a> FileBuilder<'a> {
    pub(super) fn new(api: &'a Api<'a>, lock: &'a Lock, resolved: &'a ContractApi<'a>) -> Self {
        let project = api.project;
        Self {
            api,
            project,
            lock,
            resolved,
            contract: resolved.contract,
            // The files of the other contracts it uses: the resolved answer validation's check
            // for import cycles follows too.
            imports: resolved
                .uses
                .keys()
                .filter_map(|name| project.contracts.get(*name))
                .map(import_path)
                .collect(),
        }
    }

    pub(super) fn build(&mut self) -> Result<FileView, Diagnostic> {
        let contract = self.contract;
        let resolved = self.resolved;
        let mut messages = vec![self.resource_message()?];
        if resolved.uses_derived(DerivedBody::Input) {
            messages.push(self.input_message()?);
        }
        if resolved.uses_derived(DerivedBody::Patch) {
            messages.push(self.patch_message()?);
        }
        if let Some(filter) = self.filter_message()? {
            messages.push(filter);
            messages.push(self.condition_message());
        }
        if resolved.uses_derived(DerivedBody::Page) {
            messages.push(self.page_message());
        }
        for message in contract.messages.values() {
            messages.push(self.user_message(message)?);
        }
        let enums = contract
            .enums
            .values()
            .map(|def| self.enum_view(def))
            .collect::<Result<Vec<_>, _>>()?;
        let service = self.service()?;
        Ok(FileView {
            package: self.project.api.proto_package.clone(),
            imports: std::mem::take(&mut self.imports).into_iter().collect(),
            messages: shared(messages),
            enums: shared(enums),
            service,
        })
    }

    // ---- types -------------------------------------------------------------------------------

    pub(super) fn proto_type(&mut self, ty: &Type) -> ProtoType {
        match ty {
            Type::Scalar(scalar) => {
                let (ty, is_message) = self.scalar(*scalar);
                ProtoType {
                    ty,
                    repeated: false,
                    has_presence: is_message,
                }
            }
            Type::Named(name) => {
                let (ty, is_message) = self.named(name);
                ProtoType {
                    ty,
                    repeated: false,
                    has_presence: is_message,
                }
            }
            Type::List(inner) => ProtoType {
                repeated: true,
                has_presence: true,
                ..self.proto_type(inner)
            },
            Type::Map(inner) => {
                let value = self.proto_type(inner);
                ProtoType {
                    ty: format!("map<string, {}>", value.ty),
                    repeated: false,
                    has_presence: true,
                }
            }
        }
    }

    /// The proto type of a scalar, and whether it is a message.
    pub(super) fn scalar(&mut self, scalar: Scalar) -> (String, bool) {
        let (ty, import) = match scalar {
            Scalar::String | Scalar::Decimal | Scalar::Uuid | Scalar::Date | Scalar::Secret => {
                ("string", None)
            }
            Scalar::Bool => ("bool", None),
            Scalar::Int32 => ("int32", None),
            Scalar::Int64 => ("int64", None),
            Scalar::Float => ("float", None),
            Scalar::Double => ("double", None),
            Scalar::Bytes => ("bytes", None),
            Scalar::DateTime => (TIMESTAMP, Some("google/protobuf/timestamp.proto")),
            Scalar::Json => (VALUE, Some("google/protobuf/struct.proto")),
        };
        if let Some(import) = import {
            self.imports.insert(import.to_owned());
        }
        (ty.to_owned(), import.is_some())
    }

    /// A contract, message or enum by name (its file is imported: see
    /// [`Project::contracts_used_by`]), and whether it is a message.
    pub(super) fn named(&self, name: &str) -> (String, bool) {
        let is_message = !matches!(self.project.resolve(name), Some(Definition::Enum(..)));
        (name.to_owned(), is_message)
    }

    /// The proto type of a request or response body.
    pub(super) fn body_type(&mut self, body: &BodyType) -> ProtoType {
        match body {
            BodyType::Named(name) => self.proto_type(&Type::Named(name.clone())),
            BodyType::List(name) => {
                self.proto_type(&Type::List(Box::new(Type::Named(name.clone()))))
            }
            BodyType::Derived(d) => ProtoType {
                ty: d.type_name(&self.contract.name),
                repeated: false,
                has_presence: true,
            },
        }
    }

    // ---- fields ------------------------------------------------------------------------------

    /// A field of a contract or message, numbered by the lock entry of `message`.
    pub(super) fn field(
        &mut self,
        message: &str,
        field: &Field,
        presence: Presence,
        extra_comments: &[String],
    ) -> Result<FieldView, Diagnostic> {
        let number = self
            .lock
            .field_number(message, &field.name)
            .ok_or_else(|| unnumbered(field.span, message, &field.name))?;
        Ok(self.numbered_field(field, number, presence, extra_comments))
    }

    /// A field with its number already known.
    pub(super) fn numbered_field(
        &mut self,
        field: &Field,
        number: u32,
        presence: Presence,
        extra_comments: &[String],
    ) -> FieldView {
        let ty = self.proto_type(&field.ty);
        let mut comments = text_lines(field.description.as_deref());
        comments.extend(format_note(field));
        comments.extend(extra_comments.iter().cloned());
        FieldView {
            comments,
            label: label(&ty, presence),
            ty: ty.ty,
            name: field.name.clone(),
            number,
            deprecated: field.deprecated,
        }
    }

    /// Fields of the contract's own numbering (`Task`, `TaskInput`, `TaskPatch`, `TaskFilter`).
    /// The fields of a body derived from the contract, numbered like the contract's own.
    pub(super) fn contract_fields(
        &mut self,
        body: &BodyModel<'a>,
        presence: impl Fn(BodyField<'_>) -> Presence,
        extra_comments: impl Fn(&Field) -> Vec<String>,
    ) -> Result<Vec<FieldView>, Diagnostic> {
        let contract = self.contract;
        body.fields
            .iter()
            .map(|&f| {
                self.field(
                    &contract.name,
                    f.field,
                    presence(f),
                    &extra_comments(f.field),
                )
            })
            .collect()
    }

    /// The reserved numbers and names of a message's lock entry.
    pub(super) fn reserved(&self, message: &str) -> ReservedView {
        self.lock
            .messages
            .get(message)
            .map(|entry| ReservedView::new(&entry.reserved, str::to_owned))
            .unwrap_or_default()
    }

    // ---- messages ----------------------------------------------------------------------------

    /// A message numbered like the contract itself: the resource and the messages derived
    /// from it.
    pub(super) fn contract_message(
        &self,
        name: String,
        comments: Vec<String>,
        fields: Vec<FieldView>,
    ) -> MessageView {
        MessageView::new(name, comments, fields, self.reserved(&self.contract.name))
    }

    pub(super) fn resource_message(&mut self) -> Result<MessageView, Diagnostic> {
        let resolved = self.resolved;
        let fields = self.contract_fields(
            &resolved.resource,
            |f| may_be_unset(f.field),
            |_| Vec::new(),
        )?;
        let mut message = self.contract_message(
            self.contract.name.clone(),
            text_lines(self.contract.description.as_deref()),
            fields,
        );
        message.deprecated = self.contract.deprecated;
        Ok(message)
    }

    pub(super) fn input_message(&mut self) -> Result<MessageView, Diagnostic> {
        let resolved = self.resolved;
        let fields = self.contract_fields(&resolved.input, input_presence, |f| {
            f.default
                .iter()
                .map(|d| format!("Default: {}.", d.to_json()))
                .collect()
        })?;
        let comments = vec![format!(
            "What create and update requests send: the fields of `{}` except read-only ones.",
            self.contract.name
        )];
        Ok(self.contract_message(resolved.input.name.clone(), comments, fields))
    }

    pub(super) fn patch_message(&mut self) -> Result<MessageView, Diagnostic> {
        let resolved = self.resolved;
        let fields =
            self.contract_fields(&resolved.patch, |_| Presence::Optional, |_| Vec::new())?;
        let comments = vec![
            format!(
                "What a patch request sends: unset fields of `{}` stay unchanged.",
                self.contract.name
            ),
            "proto3 cannot mark repeated and map fields optional, so here an empty list or map"
                .to_owned(),
            "cannot be told from an absent one, and setting a nullable field to null is not"
                .to_owned(),
            "expressible; use Update to replace those fields.".to_owned(),
        ];
        Ok(self.contract_message(resolved.patch.name.clone(), comments, fields))
    }

    /// `TaskFilter`, when the contract has a list operation and filterable fields.
    pub(super) fn filter_message(&mut self) -> Result<Option<MessageView>, Diagnostic> {
        let Some(filter) = &self.resolved.filter else {
            return Ok(None);
        };
        let fields = self.contract_fields(filter, |_| Presence::Optional, |_| Vec::new())?;
        let comments = vec![format!(
            "Filters of the list operation: only `{}` items equal to every set field are listed.",
            self.contract.name
        )];
        Ok(Some(self.contract_message(
            filter.name.clone(),
            comments,
            fields,
        )))
    }

    /// `TaskCondition`: one filter with an operator, as the HTTP query writes
    /// `field[op]=value`; the list request carries any number of them, all of which must hold.
    pub(super) fn condition_message(&self) -> MessageView {
        let filter = self.resolved.filter.iter().flat_map(|f| f.declared());
        let fields: Vec<String> = filter
            .map(|field| {
                let operators: Vec<&str> =
                    Operator::for_field(field.filter_kind(), field.may_be_null())
                        .map(Operator::name)
                        .collect();
                format!("`{}`: {}", field.name, operators.join(", "))
            })
            .collect();
        let fields_comment = format!(
            "The filterable field and its operators: {}.",
            fields.join("; ")
        );
        fixed_message(
            self.contract.condition_message_name(),
            vec![
                "One filter of the list operation: `field[op]=values` in the HTTP query."
                    .to_owned(),
            ],
            vec![
                plain_field("", "string", "field", 1, &fields_comment),
                plain_field(
                    "",
                    "string",
                    "op",
                    2,
                    "The operator, as the HTTP query names it.",
                ),
                plain_field(
                    "repeated",
                    "string",
                    "values",
                    3,
                    &format!(
                        "The operand as the HTTP query writes it: one value, or up to {MAX_IN_VALUES} for `in` and `nin`; `true` or `false` for `is_null`."
                    ),
                ),
            ],
        )
    }

    pub(super) fn page_message(&self) -> MessageView {
        let contract = &self.contract.name;
        let fields = vec![
            plain_field(
                "repeated",
                contract,
                "items",
                1,
                &format!("The `{contract}` items of this page."),
            ),
            plain_field(
                "",
                "int32",
                "limit",
                2,
                "The page size the items were listed with.",
            ),
            plain_field(
                "",
                "int32",
                "offset",
                3,
                "How many items were skipped (0 for a page after a cursor).",
            ),
            plain_field(
                "optional",
                "int64",
                "total",
                4,
                "The number of matching items, when `include_total` (`count`) was asked for.",
            ),
            plain_field(
                "optional",
                "string",
                "next",
                5,
                "The cursor of the next page, when items follow this one.",
            ),
            plain_field(
                "optional",
                "string",
                "next_link",
                6,
                "The next page's URI reference in the HTTP API.",
            ),
        ];
        fixed_message(
            self.resolved.page.clone(),
            vec![format!("One page of `{contract}` items.")],
            fields,
        )
    }

    pub(super) fn user_message(&mut self, message: &Message) -> Result<MessageView, Diagnostic> {
        let fields = message
            .fields
            .iter()
            .map(|f| self.field(&message.name, f, may_be_unset(f), &[]))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MessageView::new(
            message.name.clone(),
            text_lines(message.description.as_deref()),
            fields,
            self.reserved(&message.name),
        ))
    }

    pub(super) fn enum_view(&self, def: &EnumDef) -> Result<EnumView, Diagnostic> {
        let prefix = to_screaming_snake_case(&def.name);
        let value_name = |value: &str| proto_enum_value_name(&prefix, value);
        let mut values = vec![EnumValueView {
            name: value_name("unspecified"),
            number: 0,
            comments: vec!["Not set, or a value this reader does not know.".to_owned()],
        }];
        for value in &def.values {
            let number = self
                .lock
                .value_number(&def.name, &value.name)
                .ok_or_else(|| unnumbered(value.span, &def.name, &value.name))?;
            values.push(EnumValueView {
                name: value_name(&value.name),
                number,
                comments: text_lines(value.description.as_deref()),
            });
        }
        let reserved = self
            .lock
            .enums
            .get(&def.name)
            .map(|entry| ReservedView::new(&entry.reserved, value_name))
            .unwrap_or_default();
        Ok(EnumView {
            name: def.name.clone(),
            comments: text_lines(def.description.as_deref()),
            values: shared(values),
            reserved: Arc::new(reserved),
        })
    }

    // ---- service -----------------------------------------------------------------------------

    pub(super) fn service(&mut self) -> Result<Option<Arc<ServiceView>>, Diagnostic> {
        let (contract, resolved) = (self.contract, self.resolved);
        if resolved.operations.is_empty() {
            return Ok(None);
        }
        let all_versions = &self.api.versions;
        let mut rpcs = Vec::new();
        let mut messages = Vec::new();
        for op_api in &resolved.operations {
            let op = op_api.operation;
            let request = op_api.request_message.clone();
            messages.push(self.request_message(op, &request)?);
            let response = match (&op.response, op_api.response_message.clone()) {
                (Some(body), Some(wrapper)) => {
                    let items = self.body_type(&body.ty);
                    messages.push(fixed_message(
                        wrapper.clone(),
                        vec![format!("The response of {}.", to_pascal_case(&op.name))],
                        vec![plain_field(
                            label(&items, Presence::Required),
                            &items.ty,
                            "items",
                            1,
                            "",
                        )],
                    ));
                    wrapper
                }
                (Some(body), None) => self.body_type(&body.ty).ty,
                (None, _) => {
                    self.imports
                        .insert("google/protobuf/empty.proto".to_owned());
                    EMPTY.to_owned()
                }
            };
            let mut comments = text_lines(op.summary.as_deref());
            comments.extend(text_lines(op.description.as_deref()));
            comments.push(format!(
                "HTTP: `{} {}{}`.",
                op.method.as_str(),
                contract.path,
                op.path
            ));
            if op_api.versions() != all_versions {
                comments.push(format!(
                    "Served by API {} only.",
                    versions_text(op_api.versions())
                ));
            }
            rpcs.push(RpcView {
                name: to_pascal_case(&op.name),
                comments,
                request,
                response,
                deprecated: op.deprecated,
            });
        }
        Ok(Some(Arc::new(ServiceView {
            name: resolved.service.clone(),
            comments: vec![format!(
                "The operations on `{}`, as served by the HTTP API under `{}`.",
                contract.name, contract.path
            )],
            rpcs: shared(rpcs),
            messages: shared(messages),
        })))
    }

    pub(super) fn request_message(
        &mut self,
        op: &Operation,
        name: &str,
    ) -> Result<MessageView, Diagnostic> {
        let comments = vec![format!("The request of {}.", to_pascal_case(&op.name))];
        match op.crud() {
            Some(CrudKind::List) => {
                Ok(fixed_message(name.to_owned(), comments, self.list_fields()))
            }
            Some(_) => {
                // CRUD requests have fixed shapes: the path parameters, then the body.
                let mut fields = Vec::new();
                for (number, param) in (1..).zip(&op.path_params) {
                    fields.push(self.numbered_field(param, number, Presence::Required, &[]));
                }
                if let Some(body) = &op.request {
                    let number = u32::try_from(fields.len() + 1).unwrap_or(u32::MAX);
                    fields.push(self.body_field(body, number));
                }
                Ok(fixed_message(name.to_owned(), comments, fields))
            }
            None => {
                // Custom requests are numbered by the lock, so inputs added later never
                // renumber the ones already published.
                let mut fields = Vec::new();
                for param in &op.path_params {
                    fields.push(self.field(name, param, Presence::Required, &[])?);
                }
                for &param in &self.resolved.of(op).query {
                    fields.push(self.field(name, param.field, input_presence(param), &[])?);
                }
                if let Some(body) = &op.request {
                    let number = self
                        .lock
                        .field_number(name, BODY_FIELD)
                        .ok_or_else(|| unnumbered(body.span, name, BODY_FIELD))?;
                    fields.push(self.body_field(body, number));
                }
                Ok(MessageView::new(
                    name.to_owned(),
                    comments,
                    fields,
                    self.reserved(name),
                ))
            }
        }
    }

    /// The `body` field of a request message.
    pub(super) fn body_field(&mut self, body: &Body, number: u32) -> FieldView {
        let ty = self.body_type(&body.ty);
        plain_field(
            label(&ty, Presence::Required),
            &ty.ty,
            BODY_FIELD,
            number,
            "",
        )
    }

    /// The fixed fields of a list request.
    pub(super) fn list_fields(&self) -> Vec<FieldView> {
        let contract = self.contract;
        let pagination = contract.pagination;
        let sortable: Vec<&str> = contract
            .fields
            .iter()
            .filter(|f| f.sortable)
            .map(|f| f.name.as_str())
            .collect();
        let sort_comment = if sortable.is_empty() {
            format!("Sort keys; no field of `{}` is sortable.", contract.name)
        } else {
            format!(
                "Sort keys: a field name for ascending order, `-name` for descending. Sortable: {}.",
                sortable.join(", ")
            )
        };
        let mut fields = vec![
            plain_field(
                "optional",
                "int32",
                "limit",
                1,
                &format!(
                    "The page size: {} when unset, at most {}.",
                    pagination.default_limit, pagination.max_limit
                ),
            ),
            plain_field("", "int32", "offset", 2, "How many items to skip."),
            plain_field("repeated", "string", "sort", 3, &sort_comment),
            plain_field(
                "",
                "bool",
                "include_total",
                4,
                "Whether the page carries `total` (`count` in the HTTP query).",
            ),
        ];
        if let Some(filter) = &self.resolved.filter {
            fields.push(plain_field(
                "",
                &filter.name,
                "filter",
                5,
                "Only items equal to every set filter.",
            ));
        }
        fields.extend([
            plain_field(
                "",
                "string",
                "cursor",
                6,
                "The `next` of the previous page: the items after its last one. Not with `offset`.",
            ),
            plain_field(
                "repeated",
                "string",
                "fields",
                7,
                "Only these fields of each item (a sparse fieldset); every field when empty.",
            ),
        ]);
        if self.resolved.filter.is_some() {
            fields.push(plain_field(
                "repeated",
                &self.contract.condition_message_name(),
                "conditions",
                8,
                "Filters with operators, all of which must hold besides `filter`.",
            ));
        }
        fields
    }
}

/// A field whose shape the compiler fixes (page, list request, wrappers), with a one-line
/// comment (none when empty).
pub(super) fn plain_field(
    label: &'static str,
    ty: &str,
    name: &str,
    number: u32,
    comment: &str,
) -> FieldView {
    FieldView {
        comments: text_lines(Some(comment)),
        label,
        ty: ty.to_owned(),
        name: name.to_owned(),
        number,
        deprecated: false,
    }
}

/// A message with a fixed shape: nothing is ever removed from it, so it reserves nothing.
pub(super) fn fixed_message(
    name: String,
    comments: Vec<String>,
    fields: Vec<FieldView>,
) -> MessageView {
    MessageView::new(name, comments, fields, ReservedView::default())
}

/// `repeated` for lists; `optional` where a field may be unset and its type has no presence of
/// its own (scalars and enums); nothing otherwise. proto3 allows `optional` on message fields
/// too, but they already have presence, and repeated and map fields cannot take it.
pub(super) fn label(ty: &ProtoType, presence: Presence) -> &'static str {
    if ty.repeated {
        "repeated"
    } else if presence == Presence::Optional && !ty.has_presence {
        "optional"
    } else {
        ""
    }
}

/// Optional and nullable fields may be unset in the resource and in user messages.
pub(super) fn may_be_unset(field: &Field) -> Presence {
    if field.optional || field.nullable {
        Presence::Optional
    } else {
        Presence::Required
    }
}

/// Inputs that may be left out (optional, defaulted or nullable ones) may be unset.
pub(super) fn input_presence(input: BodyField<'_>) -> Presence {
    if input.required && !input.field.nullable {
        Presence::Required
    } else {
        Presence::Optional
    }
}

/// The emitter only runs on a lock that `lock::assign` produced for the same project, which
/// numbers everything; a lock from elsewhere may not.
pub(super) fn unnumbered(span: Span, owner: &str, name: &str) -> Diagnostic {
    Diagnostic::error(span, format!("`{owner}.{name}` has no number in the lock"))
        .with_label("not numbered")
        .with_help("numbers come from `lock::assign`; run `cmmv gen` to update the lock file")
}

/// The lines of a description; nothing for `None` or blank text.
pub(super) fn text_lines(text: Option<&str>) -> Vec<String> {
    let text = text.unwrap_or_default().trim();
    if text.is_empty() {
        return Vec::new();
    }
    text.lines()
        .map(|line| line.trim_end().to_owned())
        .collect()
}

/// What a proto `string` carries when the contract type is richer than a string.
pub(super) fn format_note(field: &Field) -> Option<String> {
    let note = match field.ty.element() {
        Type::Scalar(Scalar::Decimal) => {
            "A decimal number as a string, e.g. \"12.50\" (exact, unlike double)."
        }
        Type::Scalar(Scalar::Uuid) => {
            "A UUID as a string, e.g. \"123e4567-e89b-12d3-a456-426614174000\"."
        }
        Type::Scalar(Scalar::Date) => "A calendar date as a string, YYYY-MM-DD.",
        Type::Scalar(Scalar::String) => {
            return field
                .constraints
                .format
                .or(field.item_constraints.format)
                .map(|format| format!("Format: {}.", format_name(format)));
        }
        _ => return None,
    };
    Some(note.to_owned())
}

pub(super) fn format_name(format: Format) -> &'static str {
    match format {
        Format::Email => "email address",
        Format::Url => "URL",
        Format::Hostname => "host name",
        Format::Ipv4 => "IPv4 address",
        Format::Ipv6 => "IPv6 address",
    }
}

/// `version 2`, `versions 1 and 2`, `versions 1, 2 and 3`.
pub(super) fn versions_text(versions: &BTreeSet<u32>) -> String {
    let numbers: Vec<String> = versions.iter().map(u32::to_string).collect();
    match numbers.split_last() {
        Some((last, [])) => format!("version {last}"),
        Some((last, rest)) => format!("versions {} and {last}", rest.join(", ")),
        None => "no version".to_owned(),
    }
}
