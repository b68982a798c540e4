//! IR types and fields -> JSON Schema, and the component schemas a contract contributes.

use std::borrow::Cow;

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
            pattern: Some(base64_pattern(c.min_length, c.max_length)),
            ..typed(JsonType::String, None)
        },
        // Any JSON value but `null`, which only a nullable field takes (`nullable` then drops
        // the `not`): `null` is how a client clears a field, not a value to store.
        Scalar::Json => Schema {
            not: Some(Box::new(Schema::of_type(JsonType::Null))),
            ..Schema::default()
        },
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
            // A bound at zero is a sign, which a pattern can say exactly; other bounds stay
            // extensions (and in the description), which validators do not enforce.
            if let Some(pattern) = signed_decimal_pattern(c) {
                schema.pattern = Some(pattern.to_owned());
            }
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
        // A `float` is rounded to 32 bits before its bounds are checked, so the values the
        // server accepts end where rounding stops landing inside them: the bounds are stated
        // as those thresholds (and the 32-bit range is one even when none is declared).
        Scalar::Float => {
            let ((lower, lower_inclusive), (upper, upper_inclusive)) = float32_bounds(c);
            if lower_inclusive {
                schema.minimum = number(lower);
            } else {
                schema.exclusive_minimum = number(lower);
            }
            if upper_inclusive {
                schema.maximum = number(upper);
            } else {
                schema.exclusive_maximum = number(upper);
            }
            schema.multiple_of = c.multiple_of.and_then(number);
        }
        _ if scalar.is_numeric() => {
            schema.minimum = c.minimum.and_then(number);
            schema.maximum = c.maximum.and_then(number);
            // A 32-bit integer's range is a bound the server applies whether declared or not.
            if scalar == Scalar::Int32 {
                let (min, max) = (f64::from(i32::MIN), f64::from(i32::MAX));
                schema.minimum = number(c.minimum.map_or(min, |m| m.max(min)));
                schema.maximum = number(c.maximum.map_or(max, |m| m.min(max)));
            }
            schema.exclusive_minimum = c.exclusive_minimum.and_then(number);
            schema.exclusive_maximum = c.exclusive_maximum.and_then(number);
            schema.multiple_of = c.multiple_of.and_then(number);
        }
        _ => {}
    }
    schema
}

/// The pattern of standard, padded base64 whose decoded length is within `min..=max` bytes,
/// exactly as the server decodes it: the last character before padding may only carry zero
/// bits (the decoder refuses others), and the count of groups bounds the length.
pub(super) fn base64_pattern(min: Option<u64>, max: Option<u64>) -> String {
    const CHAR: &str = "[A-Za-z0-9+/]";
    // A final group of one byte (`xy==`) or two (`xyz=`), its last character zero-padded.
    let one = format!("{CHAR}[AQgw]==");
    let two = format!("{CHAR}{{2}}[AEIMQUYcgkosw048]=");
    let groups = |from: u64, to: Option<u64>| match to {
        Some(to) if to == from => format!("(?:{CHAR}{{4}}){{{from}}}"),
        Some(to) => format!("(?:{CHAR}{{4}}){{{from},{to}}}"),
        None if from == 0 => format!("(?:{CHAR}{{4}})*"),
        None => format!("(?:{CHAR}{{4}}){{{from},}}"),
    };
    // A text of `g` full groups and a tail of `t` bytes (0, 1 or 2) decodes to `3g + t`
    // bytes: one alternative per tail, each with the group counts that keep it in bounds.
    let min = min.unwrap_or(0);
    let alternatives: Vec<String> = [(0u64, ""), (1, one.as_str()), (2, two.as_str())]
        .into_iter()
        .filter_map(|(tail, text)| {
            let from = min.saturating_sub(tail).div_ceil(3);
            let to = match max {
                Some(max) if max < tail => return None,
                Some(max) => Some((max - tail) / 3),
                None => None,
            };
            if to.is_some_and(|to| to < from) {
                return None;
            }
            Some(format!("{}{text}", groups(from, to)))
        })
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}

/// The wire values a `float` field accepts, as `((lower, inclusive), (upper, inclusive))`: a
/// number is rounded to the nearest 32-bit float (ties to even), refused when that is infinite,
/// and the rounded value is held to the declared bounds. Rounding is monotonic, so the accepted
/// numbers are one interval, ending halfway to the first 32-bit float outside the bounds.
pub(super) fn float32_bounds(c: &Constraints) -> ((f64, bool), (f64, bool)) {
    // The largest 32-bit float the bounds above allow, and the smallest the ones below do.
    let mut high = f32::MAX;
    if let Some(max) = c.maximum {
        high = high.min(largest_f32(max, |v| v <= max));
    }
    if let Some(max) = c.exclusive_maximum {
        high = high.min(largest_f32(max, |v| v < max));
    }
    let mut low = f32::MIN;
    if let Some(min) = c.minimum {
        low = low.max(-largest_f32(-min, |v| v <= -min));
    }
    if let Some(min) = c.exclusive_minimum {
        low = low.max(-largest_f32(-min, |v| v < -min));
    }
    let upper = rounding_edge(high);
    // Rounding is symmetric: the lower edge is the upper edge of the negated values.
    let lower = rounding_edge(-low);
    ((-lower.0, lower.1), upper)
}

/// The largest 32-bit float `v` near `bound` with `ok(v)`.
fn largest_f32(bound: f64, ok: impl Fn(f64) -> bool) -> f32 {
    let mut v = (bound as f32).clamp(f32::MIN, f32::MAX);
    // A bound beyond the 32-bit range stops at its end.
    while !ok(f64::from(v)) && v > f32::MIN {
        v = -next_up(-v);
    }
    v
}

/// The least 32-bit float above finite `v` (`f32::next_up`, which is newer than our MSRV).
pub(super) fn next_up(v: f32) -> f32 {
    if v == 0.0 {
        return f32::from_bits(1);
    }
    let bits = v.to_bits();
    f32::from_bits(if v > 0.0 { bits + 1 } else { bits - 1 })
}

/// Where numbers stop rounding to `v` or below, going up: halfway to the next 32-bit float
/// (beyond `f32::MAX`, the overflow edge `2^128`), included when a tie rounds to `v` (its
/// last mantissa bit is even).
fn rounding_edge(v: f32) -> (f64, bool) {
    let next = if v == f32::MAX {
        2f64.powi(128)
    } else {
        f64::from(next_up(v))
    };
    ((f64::from(v) + next) / 2.0, v.to_bits() & 1 == 0)
}

/// The pattern of a decimal whose only bound sits at zero, when it has one: a bound at zero
/// is a sign. The server compares the value as a number, so `-0` is zero.
fn signed_decimal_pattern(c: &Constraints) -> Option<&'static str> {
    const NON_NEGATIVE: &str = r"^(?:[0-9]+(?:\.[0-9]+)?|-0+(?:\.0+)?)$";
    const POSITIVE: &str = r"^(?:0*[1-9][0-9]*(?:\.[0-9]+)?|0+\.[0-9]*[1-9][0-9]*)$";
    const NON_POSITIVE: &str = r"^(?:-[0-9]+(?:\.[0-9]+)?|0+(?:\.0+)?)$";
    const NEGATIVE: &str = r"^-(?:0*[1-9][0-9]*(?:\.[0-9]+)?|0+\.[0-9]*[1-9][0-9]*)$";
    let bounds = [
        c.minimum,
        c.maximum,
        c.exclusive_minimum,
        c.exclusive_maximum,
        c.multiple_of,
    ];
    if bounds.iter().flatten().count() != 1 {
        return None;
    }
    match (
        c.minimum,
        c.exclusive_minimum,
        c.maximum,
        c.exclusive_maximum,
    ) {
        (Some(0.0), None, None, None) => Some(NON_NEGATIVE),
        (None, Some(0.0), None, None) => Some(POSITIVE),
        (None, None, Some(0.0), None) => Some(NON_POSITIVE),
        (None, None, None, Some(0.0)) => Some(NEGATIVE),
        _ => None,
    }
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
        // `json`: any value but null; nullable, null too.
        None => Schema {
            not: None,
            ..schema
        },
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

/// The name of a resource's sparse form: `TaskFields`.
pub(super) fn fields_name(contract: &Contract) -> String {
    format!("{}Fields", contract.name)
}

/// A resource as a sparse fieldset returns it (`?fields=id,title`): its fields, none required.
pub(super) fn fields_schema(contract: &Contract) -> Schema {
    Schema {
        description: Some(format!(
            "A `{}` with only the fields a list's `fields` parameter named.",
            contract.name
        )),
        required: Vec::new(),
        ..resource_schema(contract)
    }
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
        // A whole resource, or with `fields` the chosen fields of one: no field is required
        // of the second, which the first still documents.
        items: Some(Box::new(Schema {
            any_of: vec![
                Schema::reference(&contract.name),
                Schema::reference(&fields_name(contract)),
            ],
            ..Schema::default()
        })),
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
    /// The resource as a sparse fieldset returns it.
    Fields(&'p Contract),
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
            Component::Fields(contract),
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
            Component::Fields(contract) => fields_name(contract),
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
    pub(super) fn refs(self) -> Vec<Cow<'p, str>> {
        fn of_fields<'f>(fields: impl IntoIterator<Item = &'f Field>) -> Vec<Cow<'f, str>> {
            let mut names = Vec::new();
            for field in fields {
                named_types(&field.ty, &mut names);
            }
            names.into_iter().map(Cow::Borrowed).collect()
        }
        match self {
            Component::Resource(contract) | Component::Fields(contract) => {
                of_fields(&contract.fields)
            }
            Component::Derived(resolved, derived) => match resolved.derived(derived) {
                Some(body) => of_fields(body.declared()),
                // A page's items are the resource, whole or sparse.
                None => vec![
                    Cow::Borrowed(resolved.contract.name.as_str()),
                    Cow::Owned(fields_name(resolved.contract)),
                ],
            },
            Component::Message(message) => of_fields(&message.fields),
            Component::Problem => vec![Cow::Borrowed(FIELD_ERROR)],
            Component::Enum(_) | Component::FieldError => Vec::new(),
        }
    }

    pub(super) fn schema(self) -> Schema {
        match self {
            Component::Resource(contract) => resource_schema(contract),
            Component::Fields(contract) => fields_schema(contract),
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
