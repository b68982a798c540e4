//! JSON to protobuf, streamed: any serde `Deserializer` of the HTTP API's JSON (the bytes of a
//! reply, a `serde_json::Value`, a value being serialized) is written straight into the wire
//! format of a message, guided by its descriptor. Nothing is built in between (no JSON tree, no
//! dynamic message): a reply costs one pass over its JSON.
//!
//! The mapping is [`super::transcode`]'s, the other way: members the message has no field for
//! are skipped, `null` leaves a field unset, enum words become their numbers, RFC 3339 text a
//! `Timestamp`, any JSON a `google.protobuf.Value`, base64 text bytes. Repeated scalars are
//! written unpacked, which every protobuf reader accepts.

use std::borrow::Cow;
use std::fmt;

use prost::encoding::{WireType, encode_key, encode_varint};
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};
use serde::Deserialize as _;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::transcode::ContractForms;

const TIMESTAMP: &str = "google.protobuf.Timestamp";
const WELL_KNOWN_VALUE: &str = "google.protobuf.Value";
const STRUCT: &str = "google.protobuf.Struct";
const LIST_VALUE: &str = "google.protobuf.ListValue";

/// The JSON `deserializer` holds, as message `desc`.
pub(crate) fn message<'de, D: Deserializer<'de>>(
    desc: &MessageDescriptor,
    forms: &ContractForms,
    deserializer: D,
) -> Result<Vec<u8>, D::Error> {
    let mut out = Vec::with_capacity(256);
    MessageSeed {
        desc,
        forms,
        out: &mut out,
    }
    .deserialize(deserializer)?;
    Ok(out)
}

/// The JSON `deserializer` holds, as field `field` of an otherwise empty message `desc` (a
/// list reply as the `items` of its wrapper).
pub(crate) fn as_field<'de, D: Deserializer<'de>>(
    field: &FieldDescriptor,
    forms: &ContractForms,
    deserializer: D,
) -> Result<Vec<u8>, D::Error> {
    let mut out = Vec::with_capacity(1024);
    FieldSeed {
        field,
        forms,
        out: &mut out,
    }
    .deserialize(deserializer)?;
    Ok(out)
}

/// One message's members, written as its fields (without a tag or length: the caller frames it).
struct MessageSeed<'a> {
    desc: &'a MessageDescriptor,
    forms: &'a ContractForms,
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for MessageSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        match self.desc.full_name() {
            TIMESTAMP => {
                let text = Cow::<str>::deserialize(deserializer)?;
                let at = OffsetDateTime::parse(&text, &Rfc3339).map_err(de::Error::custom)?;
                let nanos = at.unix_timestamp_nanos();
                let seconds =
                    i64::try_from(nanos.div_euclid(1_000_000_000)).map_err(de::Error::custom)?;
                let nanos = nanos.rem_euclid(1_000_000_000);
                if seconds != 0 {
                    encode_key(1, WireType::Varint, self.out);
                    encode_varint(seconds as u64, self.out);
                }
                if nanos != 0 {
                    encode_key(2, WireType::Varint, self.out);
                    encode_varint(nanos as u64, self.out);
                }
                Ok(())
            }
            WELL_KNOWN_VALUE | STRUCT | LIST_VALUE => deserializer.deserialize_any(WellKnown {
                desc: self.desc,
                out: self.out,
            }),
            _ => deserializer.deserialize_map(self),
        }
    }
}

impl<'de> Visitor<'de> for MessageSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "an object for `{}`", self.desc.full_name())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(name) = map.next_key_seed(KeySeed)? {
            match self.desc.get_field_by_name(&name) {
                Some(field) => map.next_value_seed(FieldSeed {
                    field: &field,
                    forms: self.forms,
                    out: self.out,
                })?,
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

/// A member's name, borrowed from the input when it can be.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// One field's value: a list or map as its repeated entries, anything else once.
struct FieldSeed<'a> {
    field: &'a FieldDescriptor,
    forms: &'a ContractForms,
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for FieldSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'a> FieldSeed<'a> {
    fn single(&self) -> ValueSeed<'a> {
        ValueSeed {
            tag: self.field.number(),
            kind: self.field.kind(),
            forms: self.forms,
        }
    }
}

impl<'de> Visitor<'de> for FieldSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a value for `{}`", self.field.full_name())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.single().bool(v, self.out)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.single().int(i128::from(v), self.out)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.single().int(i128::from(v), self.out)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.single().float(v, self.out)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.single().text(v, self.out)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if self.field.is_list() {
            let single = self.single();
            while seq
                .next_element_seed(ElementSeed {
                    single: &single,
                    out: self.out,
                })?
                .is_some()
            {}
            Ok(())
        } else {
            // A JSON array in a message field: a `google.protobuf.Value` or `ListValue`.
            let mut body = Vec::new();
            let Kind::Message(desc) = self.field.kind() else {
                return Err(de::Error::custom(format!(
                    "`{}` is not a list",
                    self.field.name()
                )));
            };
            WellKnown {
                desc: &desc,
                out: &mut body,
            }
            .visit_seq(seq)?;
            frame(self.field.number(), &body, self.out);
            Ok(())
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Kind::Message(desc) = self.field.kind() else {
            return Err(de::Error::custom(format!(
                "`{}` is not an object",
                self.field.name()
            )));
        };
        if self.field.is_map() {
            // Each entry is a message of its own: key (1), value (2).
            let (key_field, value_field) =
                (desc.map_entry_key_field(), desc.map_entry_value_field());
            let value_seed = ValueSeed {
                tag: 2,
                kind: value_field.kind(),
                forms: self.forms,
            };
            while let Some(key) = map.next_key_seed(KeySeed)? {
                let mut entry = Vec::new();
                ValueSeed {
                    tag: 1,
                    kind: key_field.kind(),
                    forms: self.forms,
                }
                .key(&key, &mut entry)?;
                map.next_value_seed(ElementSeed {
                    single: &value_seed,
                    out: &mut entry,
                })?;
                frame(self.field.number(), &entry, self.out);
            }
            return Ok(());
        }
        let mut body = Vec::new();
        match desc.full_name() {
            WELL_KNOWN_VALUE | STRUCT => WellKnown {
                desc: &desc,
                out: &mut body,
            }
            .visit_map(map)?,
            _ => MessageSeed {
                desc: &desc,
                forms: self.forms,
                out: &mut body,
            }
            .visit_map(map)?,
        }
        frame(self.field.number(), &body, self.out);
        Ok(())
    }
}

/// How one value of a field is written: its tag and kind.
struct ValueSeed<'a> {
    tag: u32,
    kind: Kind,
    forms: &'a ContractForms,
}

impl ValueSeed<'_> {
    fn wrong<E: de::Error>(&self, what: &str) -> E {
        E::custom(format!("{what} does not fit a {:?} field", self.kind))
    }

    fn bool<E: de::Error>(&self, v: bool, out: &mut Vec<u8>) -> Result<(), E> {
        match &self.kind {
            Kind::Bool => {
                encode_key(self.tag, WireType::Varint, out);
                encode_varint(u64::from(v), out);
                Ok(())
            }
            Kind::Message(desc) if desc.full_name() == WELL_KNOWN_VALUE => {
                let mut body = Vec::new();
                encode_key(4, WireType::Varint, &mut body);
                encode_varint(u64::from(v), &mut body);
                frame(self.tag, &body, out);
                Ok(())
            }
            _ => Err(self.wrong("a boolean")),
        }
    }

    fn int<E: de::Error>(&self, v: i128, out: &mut Vec<u8>) -> Result<(), E> {
        let fits = |min: i128, max: i128| {
            if (min..=max).contains(&v) {
                Ok(())
            } else {
                Err(self.wrong::<E>(&v.to_string()))
            }
        };
        match &self.kind {
            Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => {
                fits(i128::from(i32::MIN), i128::from(i32::MAX))?;
            }
            Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
                fits(i128::from(i64::MIN), i128::from(i64::MAX))?;
            }
            Kind::Uint32 | Kind::Fixed32 => fits(0, i128::from(u32::MAX))?,
            Kind::Uint64 | Kind::Fixed64 => fits(0, i128::from(u64::MAX))?,
            #[allow(clippy::cast_precision_loss)]
            Kind::Float | Kind::Double => return self.float(v as f64, out),
            // A text-typed scalar (a decimal) a handler wrote as a number.
            Kind::String => return self.text(&v.to_string(), out),
            Kind::Message(desc) if desc.full_name() == WELL_KNOWN_VALUE => {
                #[allow(clippy::cast_precision_loss)]
                return self.float(v as f64, out);
            }
            _ => return Err(self.wrong(&v.to_string())),
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        match &self.kind {
            Kind::Sint32 | Kind::Sint64 => {
                encode_key(self.tag, WireType::Varint, out);
                let v = v as i64;
                encode_varint(((v << 1) ^ (v >> 63)) as u64, out);
            }
            Kind::Sfixed32 | Kind::Fixed32 => {
                encode_key(self.tag, WireType::ThirtyTwoBit, out);
                out.extend_from_slice(&(v as u32).to_le_bytes());
            }
            Kind::Sfixed64 | Kind::Fixed64 => {
                encode_key(self.tag, WireType::SixtyFourBit, out);
                out.extend_from_slice(&(v as u64).to_le_bytes());
            }
            // int32 is sign-extended to 64 bits on the wire, as every encoder does.
            _ => {
                encode_key(self.tag, WireType::Varint, out);
                encode_varint(v as i64 as u64, out);
            }
        }
        Ok(())
    }

    fn float<E: de::Error>(&self, v: f64, out: &mut Vec<u8>) -> Result<(), E> {
        match &self.kind {
            Kind::Double => {
                encode_key(self.tag, WireType::SixtyFourBit, out);
                out.extend_from_slice(&v.to_le_bytes());
            }
            Kind::Float => {
                encode_key(self.tag, WireType::ThirtyTwoBit, out);
                #[allow(clippy::cast_possible_truncation)]
                out.extend_from_slice(&(v as f32).to_le_bytes());
            }
            Kind::String => return self.text(&v.to_string(), out),
            Kind::Message(desc) if desc.full_name() == WELL_KNOWN_VALUE => {
                let mut body = Vec::new();
                encode_key(2, WireType::SixtyFourBit, &mut body);
                body.extend_from_slice(&v.to_le_bytes());
                frame(self.tag, &body, out);
            }
            #[allow(clippy::cast_possible_truncation)]
            _ if v.fract() == 0.0 && v.abs() < 9.0e15 => return self.int(v as i128, out),
            _ => return Err(self.wrong(&v.to_string())),
        }
        Ok(())
    }

    fn text<E: de::Error>(&self, v: &str, out: &mut Vec<u8>) -> Result<(), E> {
        match &self.kind {
            Kind::String => frame(self.tag, v.as_bytes(), out),
            Kind::Bytes => {
                let bytes = cmmv_rules::parse_base64(v)
                    .ok_or_else(|| self.wrong::<E>("text that is not base64"))?;
                frame(self.tag, &bytes, out);
            }
            Kind::Enum(desc) => {
                let number = self
                    .forms
                    .number(desc, v)
                    .ok_or_else(|| self.wrong::<E>(&format!("`{v}`")))?;
                encode_key(self.tag, WireType::Varint, out);
                encode_varint(number as i64 as u64, out);
            }
            Kind::Message(desc) => {
                let mut body = Vec::new();
                MessageSeed {
                    desc,
                    forms: self.forms,
                    out: &mut body,
                }
                .deserialize(de::value::StrDeserializer::<E>::new(v))?;
                frame(self.tag, &body, out);
            }
            // 64-bit integers as text, as protobuf's own JSON writes them.
            _ => {
                let n: i128 = v.parse().map_err(|_| self.wrong::<E>(&format!("`{v}`")))?;
                self.int(n, out)?;
            }
        }
        Ok(())
    }

    /// A map key, given as member text, as the entry's key field.
    fn key<E: de::Error>(&self, key: &str, out: &mut Vec<u8>) -> Result<(), E> {
        match &self.kind {
            Kind::Bool => self.bool(key.parse().map_err(|_| self.wrong::<E>(key))?, out),
            Kind::String => self.text(key, out),
            _ => self.int(key.parse().map_err(|_| self.wrong::<E>(key))?, out),
        }
    }
}

/// One element of a list (or one map value): written with the field's tag.
struct ElementSeed<'a, 'b> {
    single: &'a ValueSeed<'a>,
    out: &'b mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for ElementSeed<'_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ElementSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list element")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        match &self.single.kind {
            // `null` in a list of JSON values is a value.
            Kind::Message(desc) if desc.full_name() == WELL_KNOWN_VALUE => {
                frame(self.single.tag, &[0x08, 0x00], self.out);
                Ok(())
            }
            _ => Err(self.single.wrong("null")),
        }
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.single.bool(v, self.out)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.single.int(i128::from(v), self.out)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.single.int(i128::from(v), self.out)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.single.float(v, self.out)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.single.text(v, self.out)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let Kind::Message(desc) = &self.single.kind else {
            return Err(self.single.wrong("an object"));
        };
        let mut body = Vec::new();
        match desc.full_name() {
            WELL_KNOWN_VALUE | STRUCT => WellKnown {
                desc,
                out: &mut body,
            }
            .visit_map(map)?,
            _ => MessageSeed {
                desc,
                forms: self.single.forms,
                out: &mut body,
            }
            .visit_map(map)?,
        }
        frame(self.single.tag, &body, self.out);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<(), A::Error> {
        let Kind::Message(desc) = &self.single.kind else {
            return Err(self.single.wrong("a list"));
        };
        let mut body = Vec::new();
        WellKnown {
            desc,
            out: &mut body,
        }
        .visit_seq(seq)?;
        frame(self.single.tag, &body, self.out);
        Ok(())
    }
}

/// `google.protobuf.Value`, `Struct` or `ListValue` from any JSON: the body of the message
/// `desc` names, which the caller frames.
struct WellKnown<'a> {
    desc: &'a MessageDescriptor,
    out: &'a mut Vec<u8>,
}

impl WellKnown<'_> {
    fn value_desc(&self) -> Result<MessageDescriptor, String> {
        self.desc
            .parent_pool()
            .get_message_by_name(WELL_KNOWN_VALUE)
            .ok_or_else(|| format!("`{WELL_KNOWN_VALUE}` is not in the descriptor set"))
    }
}

impl<'de> Visitor<'de> for WellKnown<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JSON for `{}`", self.desc.full_name())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        // `null_value` (1) is the enum `NULL_VALUE`, 0.
        encode_key(1, WireType::Varint, self.out);
        encode_varint(0, self.out);
        Ok(())
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        encode_key(4, WireType::Varint, self.out);
        encode_varint(u64::from(v), self.out);
        Ok(())
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }

    #[allow(clippy::cast_precision_loss)]
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.visit_f64(v as f64)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        encode_key(2, WireType::SixtyFourBit, self.out);
        self.out.extend_from_slice(&v.to_le_bytes());
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        frame(3, v.as_bytes(), self.out);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let value_desc = self.value_desc().map_err(de::Error::custom)?;
        let mut list = Vec::new();
        loop {
            let mut item = Vec::new();
            let more = seq.next_element_seed(WellKnownSeed {
                desc: &value_desc,
                out: &mut item,
            })?;
            if more.is_none() {
                break;
            }
            frame(1, &item, &mut list);
        }
        if self.desc.full_name() == LIST_VALUE {
            self.out.extend_from_slice(&list);
        } else {
            frame(6, &list, self.out);
        }
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let value_desc = self.value_desc().map_err(de::Error::custom)?;
        let mut fields = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let mut value = Vec::new();
            map.next_value_seed(WellKnownSeed {
                desc: &value_desc,
                out: &mut value,
            })?;
            let mut entry = Vec::new();
            frame(1, key.as_bytes(), &mut entry);
            frame(2, &value, &mut entry);
            frame(1, &entry, &mut fields);
        }
        if self.desc.full_name() == STRUCT {
            self.out.extend_from_slice(&fields);
        } else {
            frame(5, &fields, self.out);
        }
        Ok(())
    }
}

struct WellKnownSeed<'a> {
    desc: &'a MessageDescriptor,
    out: &'a mut Vec<u8>,
}

impl<'de> DeserializeSeed<'de> for WellKnownSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(WellKnown {
            desc: self.desc,
            out: self.out,
        })
    }
}

/// A length-delimited field: its tag, the length, the bytes.
fn frame(tag: u32, body: &[u8], out: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, out);
    encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}
