//! IR types and fields -> JSON Schema, and the component schemas a contract contributes.

use crate::api::{BodyField, BodyModel, ContractApi};
use crate::ir::{Constraints, Contract, DerivedBody, EnumDef, Field, Message, Scalar, Type, Value};

use super::model::{AdditionalProperties, JsonType, Properties, Schema, number};
use super::problems::{self, FIELD_ERROR, PROBLEM};

/// What the text of a `decimal` must look like; the same rule the server's validation applies.
const DECIMAL_PATTERN: &str = r"^-?[0-9]+(\.[0-9]+)?$";

/// Where a field's schema is used; it decides which annotations the schema carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// The resource as returned, and messages: every field, flagged read-only or write-only.
    Resource,
    /// A create or replace body: read-only fields are absent, so only `writeOnly` is said.
    Input,
    /// A patch body: like `Input`, but an absent field keeps its value, so defaults do not
    /// apply and are not shown.
    Patch,
    /// A path or query parameter.
    Parameter,
}

/// The schema of a value of type `ty`: its JSON type and its constraints. `items` constrains
/// each item of a list or each value of a map.
pub(super) fn type_schema(ty: &Type, constraints: &Constraints, items: &Constraints) -> Schema {
    match ty {
        Type::Scalar(scalar) => scalar_schema(*scalar, constraints),
        Type::Named(name) => Schema::reference(name),
        Type::List(inner) => Schema {
            items: Some(Box::new(type_schema(inner, items, &Constraints::default()))),
            min_items: constraints.min_items,
            max_items: constraints.max_items,
            unique_items: constraints.unique_items,
            ..Schema::of_type(JsonType::Array)
        },
        Type::Map(inner) => Schema {
            additional_properties: Some(AdditionalProperties::Schema(Box::new(type_schema(
                inner,
                items,
                &Constraints::default(),
            )))),
            min_properties: constraints.min_items,
            max_properties: constraints.max_items,
            ..Schema::of_type(JsonType::Object)
        },
    }
}

/// The schema of one scalar with its constraints.
fn scalar_schema(scalar: Scalar, c: &Constraints) -> Schema {
    let typed = |ty: JsonType, format: Option<&'static str>| Schema {
        format,
        ..Schema::of_type(ty)
    };
    let mut schema = match scalar {
        Scalar::String => typed(JsonType::String, c.format.map(|f| f.json_schema_name())),
        Scalar::Bool => typed(JsonType::Boolean, None),
        Scalar::Int32 => typed(JsonType::Integer, Some("int32")),
        Scalar::Int64 => typed(JsonType::Integer, Some("int64")),
        Scalar::Float => typed(JsonType::Number, Some("float")),
        Scalar::Double => typed(JsonType::Number, Some("double")),
        Scalar::Decimal => Schema {
            pattern: Some(DECIMAL_PATTERN.to_owned()),
            ..typed(JsonType::String, Some("decimal"))
        },
        Scalar::Uuid => typed(JsonType::String, Some("uuid")),
        Scalar::Date => typed(JsonType::String, Some("date")),
        Scalar::DateTime => typed(JsonType::String, Some("date-time")),
        Scalar::Bytes => Schema {
            content_encoding: Some("base64"),
            ..typed(JsonType::String, None)
        },
        // Any JSON value: the empty schema.
        Scalar::Json => Schema::default(),
        Scalar::Secret => typed(JsonType::String, Some("password")),
    };
    match scalar {
        // `minLength` would count base64 characters, not the bytes the server checks.
        Scalar::Bytes => {
            set_extension(&mut schema, "x-min-bytes", c.min_length.map(Into::into));
            set_extension(&mut schema, "x-max-bytes", c.max_length.map(Into::into));
        }
        Scalar::String | Scalar::Secret => {
            schema.min_length = c.min_length;
            schema.max_length = c.max_length;
            schema.pattern.clone_from(&c.pattern);
        }
        // JSON Schema's numeric keywords ignore strings, so the bounds of a decimal (a string
        // on the wire) are stated as extensions that keep their meaning.
        Scalar::Decimal => {
            let bounds = [
                ("x-minimum", c.minimum),
                ("x-maximum", c.maximum),
                ("x-exclusive-minimum", c.exclusive_minimum),
                ("x-exclusive-maximum", c.exclusive_maximum),
                ("x-multiple-of", c.multiple_of),
            ];
            for (key, bound) in bounds {
                set_extension(&mut schema, key, bound.and_then(number).map(Into::into));
            }
        }
        _ if scalar.is_numeric() => {
            schema.minimum = c.minimum.and_then(number);
            schema.maximum = c.maximum.and_then(number);
            schema.exclusive_minimum = c.exclusive_minimum.and_then(number);
            schema.exclusive_maximum = c.exclusive_maximum.and_then(number);
            schema.multiple_of = c.multiple_of.and_then(number);
        }
        _ => {}
    }
    schema
}

/// Sets the extension `key` when there is a value for it.
fn set_extension(schema: &mut Schema, key: &'static str, value: Option<serde_json::Value>) {
    if let Some(value) = value {
        schema.extensions.insert(key, value);
    }
}

/// The names a value of type `ty` refers to, as `type_schema` writes them into `$ref`s.
fn named_types<'t>(ty: &'t Type, out: &mut Vec<&'t str>) {
    match ty {
        Type::Scalar(_) => {}
        Type::Named(name) => out.push(name),
        Type::List(inner) | Type::Map(inner) => named_types(inner, out),
    }
}

/// Lets a schema also accept `null`: `type: [T, "null"]` for inline types, and
/// `anyOf: [{$ref}, {type: null}]` for references, whose target cannot be changed.
pub(super) fn nullable(schema: Schema) -> Schema {
    if schema.reference.is_some() {
        return Schema {
            any_of: vec![schema, Schema::of_type(JsonType::Null)],
            ..Schema::default()
        };
    }
    match schema.ty {
        Some(mut ty) => {
            ty.nullable = true;
            Schema {
                ty: Some(ty),
                ..schema
            }
        }
        // The empty schema (`json`) already accepts null.
        None => schema,
    }
}

/// The schema of a field as used in `place`: its type, nullability and annotations.
pub(super) fn field_schema(field: &Field, place: Place) -> Schema {
    let base = type_schema(&field.ty, &field.constraints, &field.item_constraints);
    let mut schema = if field.nullable { nullable(base) } else { base };
    schema.description = field_description(field);
    if place != Place::Patch {
        schema.default = field
            .default
            .as_ref()
            .map(|v| Box::new(wire_value(&field.ty, v)));
    }
    schema.examples = field
        .example
        .iter()
        .map(|v| wire_value(&field.ty, v))
        .collect();
    schema.read_only = place == Place::Resource && field.read_only;
    schema.write_only =
        matches!(place, Place::Resource | Place::Input | Place::Patch) && field.write_only;
    schema.deprecated = field.deprecated;
    schema.references = field.references.as_ref().map(|r| r.contract.clone());
    schema
}

/// The field's description, with a sentence naming the contract it references, if any.
fn field_description(field: &Field) -> Option<String> {
    let reference = field
        .references
        .as_ref()
        .map(|r| format!("The primary key of a `{}`.", r.contract));
    join(field.description.clone(), reference, " ")
}

/// Both texts joined by `separator` when both are present, else the one that is.
fn join(first: Option<String>, second: Option<String>, separator: &str) -> Option<String> {
    match (first, second) {
        (Some(first), Some(second)) => Some(format!("{first}{separator}{second}")),
        (first, second) => first.or(second),
    }
}

/// A contract literal in its wire form: decimals travel as strings even when the contract
/// wrote them as numbers, so that defaults and examples validate against the schema.
fn wire_value(ty: &Type, value: &Value) -> serde_json::Value {
    match (ty, value) {
        (Type::Scalar(Scalar::Decimal), Value::Int(i)) => serde_json::Value::String(i.to_string()),
        (Type::Scalar(Scalar::Decimal), Value::Float(x)) => {
            serde_json::Value::String(x.to_string())
        }
        (Type::List(inner), Value::List(items)) => {
            items.iter().map(|item| wire_value(inner, item)).collect()
        }
        (Type::Map(inner), Value::Map(entries)) => serde_json::Value::Object(
            entries
                .iter()
                .map(|(key, item)| (key.clone(), wire_value(inner, item)))
                .collect(),
        ),
        (_, other) => other.to_json(),
    }
}

/// An object schema over `fields`, each required or not.
fn object_schema<'f>(
    description: Option<String>,
    fields: impl IntoIterator<Item = BodyField<'f>>,
    place: Place,
    closed: bool,
) -> Schema {
    let mut schema = Schema {
        description,
        additional_properties: closed.then_some(AdditionalProperties::Allowed(false)),
        ..Schema::of_type(JsonType::Object)
    };
    for BodyField { field, required } in fields {
        if required {
            schema.required.push(field.name.clone());
        }
        schema
            .properties
            .0
            .push((field.name.clone(), field_schema(field, place)));
    }
    schema
}

/// Declared fields, each required when `required` says so.
fn declared<'f>(
    fields: &'f [Field],
    required: impl Fn(&Field) -> bool,
) -> impl Iterator<Item = BodyField<'f>> {
    fields.iter().map(move |field| BodyField {
        field,
        required: required(field),
    })
}

/// The resource as the server returns it. Write-only fields are listed (flagged `writeOnly`)
/// so that the one schema also describes what clients may send, as OpenAPI intends.
pub(super) fn resource_schema(contract: &Contract) -> Schema {
    Schema {
        deprecated: contract.deprecated,
        ..object_schema(
            contract.description.clone(),
            declared(&contract.fields, |f| !f.optional && !f.write_only),
            Place::Resource,
            false,
        )
    }
}

/// The body of create and replace requests. Closed, because the server rejects unknown fields.
pub(super) fn input_schema(contract: &str, input: &BodyModel<'_>) -> Schema {
    object_schema(
        Some(format!(
            "What a client sends to create or replace a `{contract}`. Fields with defaults may be left out."
        )),
        input.fields.iter().copied(),
        Place::Input,
        true,
    )
}

/// The body of patch requests: the resolved patch fields, none required.
pub(super) fn patch_schema(contract: &str, patch: &BodyModel<'_>) -> Schema {
    object_schema(
        Some(format!(
            "The fields of a `{contract}` to change; absent fields keep their value, `null` clears a nullable field."
        )),
        patch.fields.iter().copied(),
        Place::Patch,
        true,
    )
}

/// A page of list results: the body `cmmv::Page` serializes to.
pub(super) fn page_schema(contract: &Contract) -> Schema {
    let count = |description: &str, format: &'static str, minimum: f64| Schema {
        description: Some(description.to_owned()),
        ..integer(format, minimum)
    };
    let text = |description: &str, format: Option<&'static str>| Schema {
        description: Some(description.to_owned()),
        format,
        ..Schema::of_type(JsonType::String)
    };
    let items = Schema {
        description: Some("The items of this page, in the requested order. With `fields`, each item carries only the fields named there.".to_owned()),
        items: Some(Box::new(Schema::reference(&contract.name))),
        ..Schema::of_type(JsonType::Array)
    };
    Schema {
        description: Some(format!("One page of `{}` items.", contract.name)),
        properties: Properties(vec![
            ("items".to_owned(), items),
            (
                "limit".to_owned(),
                count("The page size that was applied.", "int32", 1.0),
            ),
            (
                "offset".to_owned(),
                count(
                    "How many matching items the request skipped (`offset`; 0 for a page after a `cursor`).",
                    "int64",
                    0.0,
                ),
            ),
            (
                "total".to_owned(),
                count(
                    "How many items the filters admit in all. Present only when the request set `count=true`.",
                    "int64",
                    0.0,
                ),
            ),
            (
                "next".to_owned(),
                text(
                    "The cursor of the next page, to pass as `cursor`; present only when items follow this page.",
                    None,
                ),
            ),
            (
                "next_link".to_owned(),
                text(
                    "The next page's URI reference: this request with `cursor` set to `next`. Present with `next`, and sent as the response's `Link` header too.",
                    Some("uri-reference"),
                ),
            ),
        ]),
        required: vec!["items".to_owned(), "limit".to_owned(), "offset".to_owned()],
        ..Schema::of_type(JsonType::Object)
    }
}

/// An integer of `format` (`int32`, `int64`) with a lower bound: the shape of page sizes,
/// offsets and counts.
pub(super) fn integer(format: &'static str, minimum: f64) -> Schema {
    Schema {
        format: Some(format),
        minimum: number(minimum),
        ..Schema::of_type(JsonType::Integer)
    }
}

/// A declared message. Messages are request and response DTOs whose generated types reject
/// unknown fields, so the schema is closed.
pub(super) fn message_schema(message: &Message) -> Schema {
    object_schema(
        message.description.clone(),
        declared(&message.fields, |f| !f.optional),
        Place::Resource,
        true,
    )
}

/// An enum: a closed set of strings. JSON Schema has no place for the description of each
/// value, so documented values are listed in the description, as a Markdown list.
pub(super) fn enum_schema(def: &EnumDef) -> Schema {
    let documented: Vec<String> = def
        .values
        .iter()
        .filter_map(|v| Some(format!("- `{}`: {}", v.name, v.description.as_deref()?)))
        .collect();
    let values = (!documented.is_empty()).then(|| documented.join("\n"));
    Schema {
        description: join(def.description.clone(), values, "\n\n"),
        enum_values: def
            .values
            .iter()
            .map(|v| serde_json::Value::String(v.name.clone()))
            .collect(),
        ..Schema::of_type(JsonType::String)
    }
}

/// A component schema: one a contract declares or derives, or one every document shares.
/// Cheap to hold; the schema itself is built on demand, so that a large document never holds
/// all of its schemas at once.
#[derive(Debug, Clone, Copy)]
pub(super) enum Component<'p> {
    Resource(&'p Contract),
    Derived(&'p ContractApi<'p>, DerivedBody),
    Message(&'p Message),
    Enum(&'p EnumDef),
    Problem,
    FieldError,
}

impl<'p> Component<'p> {
    /// Every component a contract declares or derives.
    pub(super) fn of_contract(
        resolved: &'p ContractApi<'p>,
    ) -> impl Iterator<Item = Component<'p>> {
        let contract = resolved.contract;
        [
            Component::Resource(contract),
            Component::Derived(resolved, DerivedBody::Input),
            Component::Derived(resolved, DerivedBody::Patch),
            Component::Derived(resolved, DerivedBody::Page),
        ]
        .into_iter()
        .chain(contract.messages.values().map(Component::Message))
        .chain(contract.enums.values().map(Component::Enum))
    }

    /// The name under `components.schemas`.
    pub(super) fn name(self) -> String {
        match self {
            Component::Resource(contract) => contract.name.clone(),
            Component::Derived(resolved, derived) => resolved.derived_name(derived).to_owned(),
            Component::Message(message) => message.name.clone(),
            Component::Enum(def) => def.name.clone(),
            Component::Problem => PROBLEM.to_owned(),
            Component::FieldError => FIELD_ERROR.to_owned(),
        }
    }

    /// The names of the component schemas this one refers to (with repeats), read off the IR:
    /// the names [`Schema::collect_refs`] finds in [`Component::schema`], without building it.
    /// Finding which schemas a document must show follows these for every component.
    pub(super) fn refs(self) -> Vec<&'p str> {
        fn of_fields<'f>(fields: impl IntoIterator<Item = &'f Field>) -> Vec<&'f str> {
            let mut names = Vec::new();
            for field in fields {
                named_types(&field.ty, &mut names);
            }
            names
        }
        match self {
            Component::Resource(contract) => of_fields(&contract.fields),
            Component::Derived(resolved, derived) => match resolved.derived(derived) {
                Some(body) => of_fields(body.declared()),
                // A page's items are the resource.
                None => vec![resolved.contract.name.as_str()],
            },
            Component::Message(message) => of_fields(&message.fields),
            Component::Problem => vec![FIELD_ERROR],
            Component::Enum(_) | Component::FieldError => Vec::new(),
        }
    }

    pub(super) fn schema(self) -> Schema {
        match self {
            Component::Resource(contract) => resource_schema(contract),
            Component::Derived(resolved, DerivedBody::Input) => {
                input_schema(&resolved.contract.name, &resolved.input)
            }
            Component::Derived(resolved, DerivedBody::Patch) => {
                patch_schema(&resolved.contract.name, &resolved.patch)
            }
            Component::Derived(resolved, DerivedBody::Page) => page_schema(resolved.contract),
            Component::Message(message) => message_schema(message),
            Component::Enum(def) => enum_schema(def),
            Component::Problem => problems::problem_schema(),
            Component::FieldError => problems::field_error_schema(),
        }
    }
}
