//! Protobuf messages to and from the JSON the HTTP API speaks, by descriptor.
//!
//! A decoded request becomes the very `serde_json::Value` a JSON request would have been, so it
//! meets the same `FromJson` decoding and the same checks, and its errors carry the same JSON
//! pointers (field names are the contract's in both forms). A reply is serialized as for JSON and
//! then written into its message.
//!
//! The mapping is the contract's, not protobuf's canonical JSON: 64-bit integers stay numbers,
//! enum values are the contract's words (`todo`, not `TASK_STATUS_TODO`), timestamps are RFC 3339
//! text, bytes are standard base64, and a field proto3 cannot mark as unset (a plain `string`,
//! `int32`, `bool`) is sent with its zero value: the contract's rules then judge it as they would
//! judge `""` or `0` in JSON. Unknown fields of a decoded message are dropped, as protobuf's
//! compatibility rules expect of an older reader; nothing of them reaches the handler.

use std::collections::HashMap;

use bytes::Bytes;
use prost_reflect::{
    DynamicMessage, EnumDescriptor, FieldDescriptor, Kind, MapKey, MessageDescriptor,
    ReflectMessage as _, Value as Proto,
};
use serde_json::{Map, Number, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

const TIMESTAMP: &str = "google.protobuf.Timestamp";
const WELL_KNOWN_VALUE: &str = "google.protobuf.Value";
const STRUCT: &str = "google.protobuf.Struct";
const LIST_VALUE: &str = "google.protobuf.ListValue";

/// The contract's word for each proto enum value, and back, by the enum's full name.
/// (It also knows which unset fields stand for `null`: what the transcoder needs of the
/// contract beyond the descriptors.)
#[derive(Debug, Default)]
pub(crate) struct ContractForms {
    words: HashMap<&'static str, EnumWords>,
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

    fn number(&self, desc: &EnumDescriptor, word: &str) -> Option<i32> {
        let proto = self.words.get(desc.full_name())?.to_proto.get(word)?;
        Some(desc.get_value_by_name(proto)?.number())
    }
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

/// A JSON reply written into message `desc`: members the message has no field for are left
/// out, `null` leaves a field unset.
pub(crate) fn from_json(
    desc: &MessageDescriptor,
    value: &Value,
    enums: &ContractForms,
) -> Result<DynamicMessage, String> {
    let mut message = DynamicMessage::new(desc.clone());
    match desc.full_name() {
        TIMESTAMP => {
            let text = value.as_str().ok_or("a timestamp that is not text")?;
            let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|e| e.to_string())?;
            let nanos = at.unix_timestamp_nanos();
            let seconds =
                i64::try_from(nanos.div_euclid(1_000_000_000)).map_err(|e| e.to_string())?;
            let nanos =
                i32::try_from(nanos.rem_euclid(1_000_000_000)).map_err(|e| e.to_string())?;
            message.set_field_by_name("seconds", Proto::I64(seconds));
            message.set_field_by_name("nanos", Proto::I32(nanos));
            return Ok(message);
        }
        WELL_KNOWN_VALUE | STRUCT | LIST_VALUE => return well_known_from_json(desc, value),
        _ => {}
    }
    let Value::Object(object) = value else {
        return Err(format!("`{}` expects an object", desc.full_name()));
    };
    for (name, value) in object {
        let Some(field) = desc.get_field_by_name(name) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        let proto = if field.is_map() {
            map_from_json(&field, value, enums)?
        } else if field.is_list() {
            let kind = field.kind();
            let items = value
                .as_array()
                .ok_or_else(|| format!("`{name}` is not a list"))?;
            Proto::List(
                items
                    .iter()
                    .map(|item| single_from_json(&kind, item, enums))
                    .collect::<Result<_, _>>()?,
            )
        } else {
            single_from_json(&field.kind(), value, enums)?
        };
        message.set_field(&field, proto);
    }
    Ok(message)
}

fn map_from_json(
    field: &FieldDescriptor,
    value: &Value,
    enums: &ContractForms,
) -> Result<Proto, String> {
    let Kind::Message(entry) = field.kind() else {
        return Err(format!("`{}` is not a map", field.name()));
    };
    let object = value
        .as_object()
        .ok_or_else(|| format!("`{}` is not an object", field.name()))?;
    let (key_kind, value_kind) = (
        entry.map_entry_key_field().kind(),
        entry.map_entry_value_field().kind(),
    );
    let mut entries = HashMap::new();
    for (key, value) in object {
        let bad = || format!("map key `{key}` of `{}`", field.name());
        let key = match key_kind {
            Kind::Bool => MapKey::Bool(key.parse().map_err(|_| bad())?),
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                MapKey::I32(key.parse().map_err(|_| bad())?)
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                MapKey::I64(key.parse().map_err(|_| bad())?)
            }
            Kind::Uint32 | Kind::Fixed32 => MapKey::U32(key.parse().map_err(|_| bad())?),
            Kind::Uint64 | Kind::Fixed64 => MapKey::U64(key.parse().map_err(|_| bad())?),
            _ => MapKey::String(key.clone()),
        };
        entries.insert(key, single_from_json(&value_kind, value, enums)?);
    }
    Ok(Proto::Map(entries))
}

fn single_from_json(kind: &Kind, value: &Value, enums: &ContractForms) -> Result<Proto, String> {
    let wrong = || format!("{value} does not fit a {kind:?} field");
    let int = || {
        value
            .as_i64()
            .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
    };
    let uint = || {
        value
            .as_u64()
            .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
    };
    Ok(match kind {
        Kind::Bool => Proto::Bool(value.as_bool().ok_or_else(wrong)?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Proto::I32(
            int()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(wrong)?,
        ),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Proto::I64(int().ok_or_else(wrong)?),
        Kind::Uint32 | Kind::Fixed32 => Proto::U32(
            uint()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(wrong)?,
        ),
        Kind::Uint64 | Kind::Fixed64 => Proto::U64(uint().ok_or_else(wrong)?),
        #[allow(clippy::cast_possible_truncation)]
        Kind::Float => Proto::F32(value.as_f64().ok_or_else(wrong)? as f32),
        Kind::Double => Proto::F64(value.as_f64().ok_or_else(wrong)?),
        Kind::String => match value {
            Value::String(s) => Proto::String(s.clone()),
            // Decimals and other text-typed scalars a handler may have written as numbers.
            Value::Number(n) => Proto::String(n.to_string()),
            _ => return Err(wrong()),
        },
        Kind::Bytes => {
            let text = value.as_str().ok_or_else(wrong)?;
            Proto::Bytes(Bytes::from(
                cmmv_rules::parse_base64(text).ok_or_else(wrong)?,
            ))
        }
        Kind::Enum(desc) => {
            let word = value.as_str().ok_or_else(wrong)?;
            Proto::EnumNumber(enums.number(desc, word).ok_or_else(wrong)?)
        }
        Kind::Message(desc) => Proto::Message(from_json(desc, value, enums)?),
    })
}

fn well_known_from_json(desc: &MessageDescriptor, value: &Value) -> Result<DynamicMessage, String> {
    let pool = desc.parent_pool();
    let find = |name: &str| {
        pool.get_message_by_name(name)
            .ok_or_else(|| format!("`{name}` is not in the descriptor set"))
    };
    let mut message = DynamicMessage::new(desc.clone());
    match desc.full_name() {
        STRUCT => {
            let object = value.as_object().ok_or("a Struct that is not an object")?;
            let value_desc = find(WELL_KNOWN_VALUE)?;
            let mut fields = HashMap::new();
            for (key, value) in object {
                let value = well_known_from_json(&value_desc, value)?;
                fields.insert(MapKey::String(key.clone()), Proto::Message(value));
            }
            message.set_field_by_name("fields", Proto::Map(fields));
        }
        LIST_VALUE => {
            let items = value.as_array().ok_or("a ListValue that is not an array")?;
            let value_desc = find(WELL_KNOWN_VALUE)?;
            let values = items
                .iter()
                .map(|item| well_known_from_json(&value_desc, item).map(Proto::Message))
                .collect::<Result<_, _>>()?;
            message.set_field_by_name("values", Proto::List(values));
        }
        _ => match value {
            Value::Null => message.set_field_by_name("null_value", Proto::EnumNumber(0)),
            Value::Bool(b) => message.set_field_by_name("bool_value", Proto::Bool(*b)),
            Value::Number(n) => {
                message
                    .set_field_by_name("number_value", Proto::F64(n.as_f64().unwrap_or_default()));
            }
            Value::String(s) => message.set_field_by_name("string_value", Proto::String(s.clone())),
            Value::Array(_) => {
                let list = well_known_from_json(&find(LIST_VALUE)?, value)?;
                message.set_field_by_name("list_value", Proto::Message(list));
            }
            Value::Object(_) => {
                let object = well_known_from_json(&find(STRUCT)?, value)?;
                message.set_field_by_name("struct_value", Proto::Message(object));
            }
        },
    }
    Ok(message)
}
