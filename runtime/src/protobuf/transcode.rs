//! Protobuf messages to and from the JSON the HTTP API speaks, by descriptor.
//!
//! A decoded request becomes the very `serde_json::Value` a JSON request would have been, so it
//! meets the same `FromJson` decoding and the same checks, and its errors carry the same JSON
//! pointers (field names are the contract's in both forms). A reply is serialized as for JSON and
//! then written into its message ([`super::encode`]).
//!
//! The mapping is the contract's, not protobuf's canonical JSON: 64-bit integers stay numbers,
//! enum values are the contract's words (`todo`, not `TASK_STATUS_TODO`), timestamps are RFC 3339
//! text, bytes are standard base64, and a field proto3 cannot mark as unset (a plain `string`,
//! `int32`, `bool`) is sent with its zero value: the contract's rules then judge it as they would
//! judge `""` or `0` in JSON. Unknown fields of a decoded message are dropped, as protobuf's
//! compatibility rules expect of an older reader; nothing of them reaches the handler.

use std::collections::HashMap;

use prost_reflect::{
    DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MapKey, ReflectMessage as _,
    Value as Proto,
};
use serde_json::{Map, Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const TIMESTAMP: &str = "google.protobuf.Timestamp";
const WELL_KNOWN_VALUE: &str = "google.protobuf.Value";
const STRUCT: &str = "google.protobuf.Struct";
const LIST_VALUE: &str = "google.protobuf.ListValue";

/// What the transcoding needs of the contracts beyond the descriptors: the contract's word for
/// each proto enum value (and back), and the fields whose absence stands for `null`.
#[derive(Debug, Default)]
pub(crate) struct ContractForms {
    /// By the enum's full name.
    words: HashMap<&'static str, EnumWords>,
    /// Full field names (`todo.v1.Task.notes`).
    nulls: std::collections::HashSet<&'static str>,
}

#[derive(Debug, Default)]
struct EnumWords {
    to_json: HashMap<&'static str, &'static str>,
    to_proto: HashMap<&'static str, &'static str>,
}

impl ContractForms {
    pub(crate) fn new(
        table: &'static [(&'static str, &'static [(&'static str, &'static str)])],
        nulls: &'static [&'static str],
    ) -> Self {
        let words = table
            .iter()
            .map(|&(name, values)| {
                let words = EnumWords {
                    to_json: values.iter().copied().collect(),
                    to_proto: values.iter().map(|&(proto, json)| (json, proto)).collect(),
                };
                (name, words)
            })
            .collect();
        Self {
            words,
            nulls: nulls.iter().copied().collect(),
        }
    }

    /// The contract's word for value `number`; `None` for the zero value (unset) and for
    /// numbers this server does not know.
    fn word(&self, desc: &EnumDescriptor, number: i32) -> Option<&'static str> {
        let value = desc.get_value(number)?;
        self.words
            .get(desc.full_name())?
            .to_json
            .get(value.name())
            .copied()
    }

    pub(crate) fn number(&self, desc: &EnumDescriptor, word: &str) -> Option<i32> {
        let proto = self.words.get(desc.full_name())?.to_proto.get(word)?;
        Some(desc.get_value_by_name(proto)?.number())
    }
}

/// What turning `message` into JSON builds, in values, counted until it passes `limit`. A
/// message becomes an object with a value for (nearly) every field of its descriptor, set or
/// not, so two bytes on the wire (an empty element of a repeated message) can stand for many
/// values: the decoder refuses a message whose weight is out of proportion to its size.
pub(crate) fn weight(message: &DynamicMessage, limit: usize) -> usize {
    // An object costs far more than a scalar (a map node each): counted as sixteen values.
    let mut total = 16 + message.descriptor().fields().len();
    for (_, value) in message.fields() {
        if total > limit {
            break;
        }
        total += value_weight(value, limit - total);
    }
    total
}

fn value_weight(value: &Proto, limit: usize) -> usize {
    let mut total = 0;
    let mut add = |value: &Proto| {
        if total <= limit {
            total += value_weight(value, limit - total);
        }
    };
    match value {
        Proto::Message(message) => return weight(message, limit),
        Proto::List(items) => items.iter().for_each(&mut add),
        Proto::Map(entries) => entries.values().for_each(&mut add),
        _ => return 1,
    }
    total + 1
}

/// A decoded message as the JSON object the HTTP API would have received.
pub(crate) fn to_json(message: &DynamicMessage, enums: &ContractForms) -> Value {
    let desc = message.descriptor();
    match desc.full_name() {
        TIMESTAMP => return timestamp_to_json(message),
        WELL_KNOWN_VALUE | STRUCT | LIST_VALUE => return well_known_to_json(message),
        _ => {}
    }
    let mut object = Map::new();
    for field in desc.fields() {
        // Unset optional and message fields are left out, so that the contract's default (or
        // its `required` rule) applies, as when a JSON request leaves them out.
        if field.supports_presence() && !message.has_field(&field) {
            if enums.nulls.contains(field.full_name()) {
                object.insert(field.name().to_owned(), Value::Null);
            }
            continue;
        }
        let value = message.get_field(&field);
        // An empty list or map cannot be told from an absent one in proto3: it is left out,
        // so that the contract's default applies (or its `required` rule refuses it).
        if matches!(value.as_ref(), Proto::List(items) if items.is_empty())
            || matches!(value.as_ref(), Proto::Map(entries) if entries.is_empty())
        {
            continue;
        }
        let json = if field.is_map() {
            map_to_json(&field, &value, enums)
        } else if let Proto::List(items) = value.as_ref() {
            let kind = field.kind();
            Value::Array(
                items
                    .iter()
                    .map(|item| single_to_json(&kind, item, enums))
                    .collect(),
            )
        } else {
            match (field.kind(), value.as_ref()) {
                // The zero value of an enum is `unspecified`: the field was not sent.
                (Kind::Enum(desc), Proto::EnumNumber(0)) if desc.get_value(0).is_some() => {
                    continue;
                }
                (kind, value) => single_to_json(&kind, value, enums),
            }
        };
        object.insert(field.name().to_owned(), json);
    }
    Value::Object(object)
}

fn map_to_json(field: &FieldDescriptor, value: &Proto, enums: &ContractForms) -> Value {
    let Proto::Map(entries) = value else {
        return Value::Object(Map::new());
    };
    let kind = match field.kind() {
        Kind::Message(entry) => entry.map_entry_value_field().kind(),
        kind => kind,
    };
    let mut object = Map::new();
    for (key, value) in entries {
        let key = match key {
            MapKey::Bool(b) => b.to_string(),
            MapKey::I32(n) => n.to_string(),
            MapKey::I64(n) => n.to_string(),
            MapKey::U32(n) => n.to_string(),
            MapKey::U64(n) => n.to_string(),
            MapKey::String(s) => s.clone(),
        };
        object.insert(key, single_to_json(&kind, value, enums));
    }
    Value::Object(object)
}

fn single_to_json(kind: &Kind, value: &Proto, enums: &ContractForms) -> Value {
    match value {
        Proto::Bool(b) => Value::Bool(*b),
        Proto::I32(n) => Value::from(*n),
        Proto::I64(n) => Value::from(*n),
        Proto::U32(n) => Value::from(*n),
        Proto::U64(n) => Value::from(*n),
        Proto::F32(n) => Number::from_f64(f64::from(*n)).map_or(Value::Null, Value::Number),
        Proto::F64(n) => Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Proto::String(s) => Value::String(s.clone()),
        Proto::Bytes(b) => Value::String(cmmv_rules::to_base64(b)),
        Proto::EnumNumber(number) => match kind {
            Kind::Enum(desc) => match enums.word(desc, *number) {
                Some(word) => Value::String(word.to_owned()),
                // A number this server does not know: the contract's `enum` rule refuses it.
                None => Value::from(*number),
            },
            _ => Value::from(*number),
        },
        Proto::Message(message) => to_json(message, enums),
        Proto::List(items) => Value::Array(
            items
                .iter()
                .map(|item| single_to_json(kind, item, enums))
                .collect(),
        ),
        Proto::Map(_) => Value::Object(Map::new()),
    }
}

fn timestamp_to_json(message: &DynamicMessage) -> Value {
    let seconds = message
        .get_field_by_name("seconds")
        .and_then(|v| v.as_i64())
        .unwrap_or_default();
    let nanos = message
        .get_field_by_name("nanos")
        .and_then(|v| v.as_i32())
        .unwrap_or_default();
    let at = i128::from(seconds) * 1_000_000_000 + i128::from(nanos);
    match OffsetDateTime::from_unix_timestamp_nanos(at)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
    {
        Some(text) => Value::String(text),
        // Outside the years RFC 3339 can write: the `date-time` rule refuses the number.
        None => Value::from(seconds),
    }
}

fn well_known_to_json(message: &DynamicMessage) -> Value {
    match message.descriptor().full_name() {
        STRUCT => {
            let mut object = Map::new();
            if let Some(Proto::Map(fields)) = message.get_field_by_name("fields").as_deref() {
                for (key, value) in fields {
                    if let (MapKey::String(key), Proto::Message(value)) = (key, value) {
                        object.insert(key.clone(), well_known_to_json(value));
                    }
                }
            }
            Value::Object(object)
        }
        LIST_VALUE => match message.get_field_by_name("values").as_deref() {
            Some(Proto::List(values)) => Value::Array(
                values
                    .iter()
                    .filter_map(|v| v.as_message().map(well_known_to_json))
                    .collect(),
            ),
            _ => Value::Array(Vec::new()),
        },
        _ => {
            // `google.protobuf.Value`: whichever member of its `kind` is set.
            match message.fields().next() {
                Some((field, value)) => match (field.name(), value) {
                    // JSON has one number type; a whole number reads back as the integer a
                    // JSON client would have sent (`1`, not `1.0`).
                    #[allow(clippy::cast_possible_truncation)]
                    ("number_value", Proto::F64(n)) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                        Value::from(*n as i64)
                    }
                    ("number_value", Proto::F64(n)) => {
                        Number::from_f64(*n).map_or(Value::Null, Value::Number)
                    }
                    ("string_value", Proto::String(s)) => Value::String(s.clone()),
                    ("bool_value", Proto::Bool(b)) => Value::Bool(*b),
                    ("struct_value" | "list_value", Proto::Message(m)) => well_known_to_json(m),
                    _ => Value::Null,
                },
                None => Value::Null,
            }
        }
    }
}
