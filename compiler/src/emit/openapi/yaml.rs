//! A small, deterministic YAML writer for JSON values.
//!
//! Output is block style with two-space indentation. A string is written plain only when no
//! YAML reader could take it for anything but that string, under both YAML 1.2 and the YAML 1.1
//! rules many tools still apply (`yes`, `on`, `1e3` ...). Every other string is written in
//! double quotes with JSON-style escapes, which YAML's double-quoted style also understands.
//! Numbers are written so that YAML 1.1 and 1.2 readers both see the same number.

//!
//! The writer is a `serde::Serializer`, so the typed OpenAPI model is written without first
//! becoming a JSON value: the documents run to tens of megabytes, and a value tree of them costs
//! millions of small allocations and twice the text's size in memory. Its output is what
//! `serde_json::to_value` followed by a block-style write would give: maps keep the order of
//! their entries, `None` and `()` are `null`, a unit variant is its name, and a newtype, tuple or
//! struct variant is a one-entry map keyed by its name.

use std::fmt::{self, Write as _};

use serde::ser::{self, Serialize};
use serde_json::Value;

/// `key:` as an entry of a block map whose entries are indented by `indent`; `write_value`
/// or a nested map's entries follow.
pub(super) fn write_key(out: &mut String, indent: usize, key: &str) {
    push_indent(out, indent);
    push_string(out, key);
    out.push(':');
}

/// The value of an entry that `write_key` began at `indent`.
pub(super) fn write_value<T: Serialize + ?Sized>(
    out: &mut String,
    indent: usize,
    value: &T,
) -> Result<(), Error> {
    value.serialize(Node {
        out,
        at: Position::AfterKey(indent + 2),
    })
}

/// The YAML text of `value` as a whole document, ending in a newline.
#[cfg(test)]
pub(super) fn to_string<T: Serialize + ?Sized>(value: &T) -> Result<String, Error> {
    let mut out = String::new();
    value.serialize(Node {
        out: &mut out,
        at: Position::Top,
    })?;
    Ok(out)
}

/// Why a value has no YAML text: a map key that is not a string, number or boolean.
#[derive(Debug)]
pub(super) struct Error(String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

impl ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

// Everything is written straight into `out`: a string per scalar or per nested block would
// cost more than the writing itself.
//
// Whether a map or sequence is empty is known only when it ends (a struct with skipped fields
// or a flattened map says `None` up front). So nothing is written when one starts: its first
// entry writes what goes before it (the line break after `key:`), and an empty one writes `{}`
// or `[]` at its end, in the place a scalar would take.

/// What is already written in front of the value being serialized.
#[derive(Debug, Clone, Copy)]
enum Position {
    /// Nothing: the value is the document. Documents are written entry by entry (see
    /// `writer`), so only tests write a whole value.
    #[cfg_attr(not(test), expect(dead_code))]
    Top,
    /// `key:`; a block below it is indented by the given width.
    AfterKey(usize),
    /// `- ` at the given width minus two: a block continues behind the dash (`- key: value`),
    /// its other lines aligned below its first.
    AfterDash(usize),
}

/// The serializer of one value.
struct Node<'o> {
    out: &'o mut String,
    at: Position,
}

impl<'o> Node<'o> {
    /// Writes a scalar, or an empty collection in flow style, and ends its line.
    fn inline(self, write: impl FnOnce(&mut String)) -> Result<(), Error> {
        if let Position::AfterKey(_) = self.at {
            self.out.push(' ');
        }
        write(self.out);
        self.out.push('\n');
        Ok(())
    }

    fn block(self, kind: Kind) -> Block<'o> {
        let indent = match self.at {
            Position::Top => 0,
            Position::AfterKey(indent) | Position::AfterDash(indent) => indent,
        };
        Block {
            out: self.out,
            at: self.at,
            indent,
            kind,
            entries: 0,
        }
    }

    fn number(self, n: &serde_json::Number) -> Result<(), Error> {
        self.inline(|out| push_number(out, n))
    }

    fn float(self, value: Value) -> Result<(), Error> {
        // `Value::from` is what `to_value` does with a float: non-finite ones become null.
        match value {
            Value::Number(n) => self.number(&n),
            _ => self.inline(|out| out.push_str("null")),
        }
    }

    fn integer(self, n: impl fmt::Display) -> Result<(), Error> {
        self.inline(|out| {
            let _ = write!(out, "{n}");
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    Seq,
}

/// A map or sequence being written.
struct Block<'o> {
    out: &'o mut String,
    at: Position,
    /// The indentation of its entries.
    indent: usize,
    kind: Kind,
    entries: usize,
}

impl Block<'_> {
    /// Writes what goes before an entry: a line break after `key:`, the indentation unless the
    /// first entry hangs behind a dash.
    fn begin_entry(&mut self) {
        if self.entries == 0 {
            match self.at {
                Position::Top => push_indent(self.out, self.indent),
                Position::AfterKey(_) => {
                    self.out.push('\n');
                    push_indent(self.out, self.indent);
                }
                Position::AfterDash(_) => {}
            }
        } else {
            push_indent(self.out, self.indent);
        }
        self.entries += 1;
    }

    fn key<K: Serialize + ?Sized>(&mut self, key: &K) -> Result<(), Error> {
        self.begin_entry();
        key.serialize(Key { out: self.out })?;
        self.out.push(':');
        Ok(())
    }

    fn value<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Error> {
        value.serialize(Node {
            out: self.out,
            at: Position::AfterKey(self.indent + 2),
        })
    }

    fn element<V: Serialize + ?Sized>(&mut self, value: &V) -> Result<(), Error> {
        self.begin_entry();
        self.out.push_str("- ");
        value.serialize(Node {
            out: self.out,
            at: Position::AfterDash(self.indent + 2),
        })
    }

    fn finish(self) -> Result<(), Error> {
        if self.entries == 0 {
            let empty = match self.kind {
                Kind::Map => "{}",
                Kind::Seq => "[]",
            };
            Node {
                out: self.out,
                at: self.at,
            }
            .inline(|out| out.push_str(empty))?;
        }
        Ok(())
    }
}

impl<'o> ser::Serializer for Node<'o> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = Block<'o>;
    type SerializeTuple = Block<'o>;
    type SerializeTupleStruct = Block<'o>;
    type SerializeTupleVariant = Block<'o>;
    type SerializeMap = Block<'o>;
    type SerializeStruct = Block<'o>;
    type SerializeStructVariant = Block<'o>;

    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.inline(|out| out.push_str(if v { "true" } else { "false" }))
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.integer(v)
    }
    fn serialize_f32(self, v: f32) -> Result<(), Error> {
        self.float(Value::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<(), Error> {
        self.float(Value::from(v))
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<(), Error> {
        self.inline(|out| push_string(out, v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), Error> {
        let mut seq = self.block(Kind::Seq);
        for byte in v {
            seq.element(byte)?;
        }
        seq.finish()
    }
    fn serialize_none(self) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), Error> {
        self.inline(|out| out.push_str("null"))
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        let mut map = self.block(Kind::Map);
        map.key(variant)?;
        map.value(value)?;
        map.finish()
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Block<'o>, Error> {
        Ok(self.block(Kind::Seq))
    }
    fn serialize_tuple(self, _len: usize) -> Result<Block<'o>, Error> {
        Ok(self.block(Kind::Seq))
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Block<'o>, Error> {
        Ok(self.block(Kind::Seq))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Block<'o>, Error> {
        // `variant:` opens a one-entry map, which needs no end of its own once it has its entry;
        // the sequence behind it is the value.
        let mut outer = self.block(Kind::Map);
        outer.key(variant)?;
        let at = Position::AfterKey(outer.indent + 2);
        Ok(Node { out: outer.out, at }.block(Kind::Seq))
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Block<'o>, Error> {
        Ok(self.block(Kind::Map))
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Block<'o>, Error> {
        Ok(self.block(Kind::Map))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<Block<'o>, Error> {
        // As for tuple variants: the struct is the value of a one-entry map.
        let mut outer = self.block(Kind::Map);
        outer.key(variant)?;
        let at = Position::AfterKey(outer.indent + 2);
        Ok(Node { out: outer.out, at }.block(Kind::Map))
    }
}

impl ser::SerializeSeq for Block<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTuple for Block<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTupleStruct for Block<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeTupleVariant for Block<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.element(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeMap for Block<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        self.key(key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Error> {
        self.value(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeStruct for Block<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.key(key)?;
        self.value(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

impl ser::SerializeStructVariant for Block<'_> {
    type Ok = ();
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        self.key(key)?;
        self.value(value)
    }
    fn end(self) -> Result<(), Error> {
        self.finish()
    }
}

/// The serializer of a map key. Like `to_value`, it takes strings, and numbers, booleans and
/// chars as their text; anything else is an error.
struct Key<'o> {
    out: &'o mut String,
}

impl Key<'_> {
    fn text(self, text: impl fmt::Display) -> Result<(), Error> {
        push_string(self.out, &text.to_string());
        Ok(())
    }
}

fn key_error() -> Error {
    Error("a map key must be a string, a number or a boolean".to_owned())
}

impl ser::Serializer for Key<'_> {
    type Ok = ();
    type Error = Error;
    type SerializeSeq = ser::Impossible<(), Error>;
    type SerializeTuple = ser::Impossible<(), Error>;
    type SerializeTupleStruct = ser::Impossible<(), Error>;
    type SerializeTupleVariant = ser::Impossible<(), Error>;
    type SerializeMap = ser::Impossible<(), Error>;
    type SerializeStruct = ser::Impossible<(), Error>;
    type SerializeStructVariant = ser::Impossible<(), Error>;

    fn serialize_str(self, v: &str) -> Result<(), Error> {
        push_string(self.out, v);
        Ok(())
    }
    fn serialize_bool(self, v: bool) -> Result<(), Error> {
        self.text(v)
    }
    fn serialize_i8(self, v: i8) -> Result<(), Error> {
        self.text(v)
    }
    fn serialize_i16(self, v: i16) -> Result<(), Error> {
        self.text(v)
    }
    fn serialize_i32(self, v: i32) -> Result<(), Error> {
        self.text(v)
    }
    fn serialize_i64(self, v: i64) -> Result<(), Error> {
        self.text(v)
    }
    fn serialize_i128(self, v: i128) -> Result<(), Error> {
        self.text(v)
    }
    fn serialize_u8(self, v: u8) -> Result<(), Error> {
        self.text(v)
    }
    fn serialize_u16(self, v: u16) -> Result<(), Error> {
        self.text(v)
    }
    fn serialize_u32(self, v: u32) -> Result<(), Error> {
        self.text(v)
    }
    fn serialize_u64(self, v: u64) -> Result<(), Error> {
        self.text(v)
    }
    fn serialize_u128(self, v: u128) -> Result<(), Error> {
        self.text(v)
    }
    fn serialize_f32(self, _v: f32) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_f64(self, _v: f64) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_char(self, v: char) -> Result<(), Error> {
        self.text(v)
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_none(self) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_unit(self) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<(), Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), Error> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<(), Error> {
        Err(key_error())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, Error> {
        Err(key_error())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, Error> {
        Err(key_error())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, Error> {
        Err(key_error())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(key_error())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, Error> {
        Err(key_error())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, Error> {
        Err(key_error())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(key_error())
    }
}

fn push_indent(out: &mut String, indent: usize) {
    const SPACES: &str = "                                                                ";
    let mut left = indent;
    while left > 0 {
        let n = left.min(SPACES.len());
        out.push_str(&SPACES[..n]);
        left -= n;
    }
}

/// Appends a string scalar (or key): plain when that is unambiguous, double-quoted otherwise.
fn push_string(out: &mut String, s: &str) {
    if is_plain_safe(s) {
        out.push_str(s);
    } else {
        push_quoted(out, s);
    }
}

/// Integers as they are. Floats in JSON's shortest form may read as strings in YAML 1.1 (`1e300`
/// lacks the dot and the exponent sign it requires), so the mantissa gets a `.0` and the
/// exponent a sign: `1.0e+300` reads as the same float everywhere.
fn push_number(out: &mut String, n: &serde_json::Number) {
    let text = n.to_string();
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        out.push_str(&text);
        return;
    };
    let dot = if mantissa.contains('.') { "" } else { ".0" };
    let sign = if exponent.starts_with(['-', '+']) {
        ""
    } else {
        "+"
    };
    let _ = write!(out, "{mantissa}{dot}e{sign}{exponent}");
}

/// Words that YAML 1.1 or 1.2 resolve to booleans or null when written plain.
const RESERVED_WORDS: &[&str] = &["true", "false", "yes", "no", "y", "n", "on", "off", "null"];

/// A letter, then letters, digits, `_`, `-`, `.`, `/` and inner spaces: such a scalar cannot
/// start a number, an indicator, a comment or a `key: value` pair.
fn is_plain_safe(s: &str) -> bool {
    let bytes = s.as_bytes();
    // Every allowed character is ASCII, so bytes can be checked in place of chars, each with
    // one look-up: every key and string of a document passes through here.
    bytes.first().is_some_and(u8::is_ascii_alphabetic)
        && bytes.last() != Some(&b' ')
        && bytes.iter().all(|&b| PLAIN[usize::from(b)])
        // The longest reserved word has five letters.
        && (s.len() > 5 || !RESERVED_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s)))
}

/// The bytes a plain scalar may hold (see `is_plain_safe`).
const PLAIN: [bool; 256] = {
    let mut plain = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        plain[b] = c.is_ascii_alphanumeric() || matches!(c, b'_' | b'-' | b'.' | b'/' | b' ');
        b += 1;
    }
    plain
};

/// A double-quoted scalar. Characters YAML would fold, drop or refuse (line breaks, control
/// characters, the byte-order mark, non-characters) are escaped.
fn push_quoted(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    // Runs of characters that need no escape are copied whole. Nearly every quoted scalar of a
    // document (references, descriptions) is ASCII, so bytes are checked one by one and only
    // the rest is decoded into characters.
    let bytes = s.as_bytes();
    let mut run = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let (c, len) = if b.is_ascii() {
            if !matches!(b, b'"' | b'\\' | 0..=0x1f | 0x7f) {
                i += 1;
                continue;
            }
            (char::from(b), 1)
        } else {
            match s[i..].chars().next() {
                Some(c) if needs_escape(c) => (c, c.len_utf8()),
                Some(c) => {
                    i += c.len_utf8();
                    continue;
                }
                None => break,
            }
        };
        out.push_str(&s[run..i]);
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
        }
        i += len;
        run = i;
    }
    out.push_str(&s[run..]);
    out.push('"');
}

/// Whether `c` falls outside YAML's printable set, or is a line break YAML would fold.
fn needs_escape(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{feff}' | '\u{fffe}' | '\u{ffff}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn string(s: &str) -> String {
        let mut out = String::new();
        push_string(&mut out, s);
        out
    }

    #[test]
    fn plain_and_quoted_strings() {
        assert_eq!(string("Task"), "Task");
        assert_eq!(string("application/json"), "application/json");
        assert_eq!(string("/v1/tasks/{id}"), "\"/v1/tasks/{id}\"");
        assert_eq!(string("200"), "\"200\"");
        assert_eq!(string("$ref"), "\"$ref\"");
        assert_eq!(string("yes"), "\"yes\"");
        assert_eq!(string("Off"), "\"Off\"");
        assert_eq!(string("a: b"), "\"a: b\"");
        assert_eq!(string(""), "\"\"");
        assert_eq!(string("trailing "), "\"trailing \"");
        assert_eq!(string("line\nbreak \"q\""), "\"line\\nbreak \\\"q\\\"\"");
        assert_eq!(string("sep\u{2028}"), "\"sep\\u2028\"");
        // Escapes among ASCII and non-ASCII text: controls (C0, DEL, C1), tabs, backslashes.
        assert_eq!(
            string("é\t\\ \u{1}\u{7f}\u{85}ü: ok"),
            "\"é\\t\\\\ \\u0001\\u007f\\u0085ü: ok\""
        );
        assert_eq!(string("\u{feff}start"), "\"\\ufeffstart\"");
        assert_eq!(string("ends\r"), "\"ends\\r\"");
    }

    #[test]
    fn floats_read_alike_in_yaml_1_1_and_1_2() {
        let number = |n: &serde_json::Number| {
            let mut out = String::new();
            push_number(&mut out, n);
            out
        };
        let n = |v: f64| number(&serde_json::Number::from_f64(v).unwrap_or_else(|| 0.into()));
        assert_eq!(n(1.5), "1.5");
        assert_eq!(n(1e300), "1.0e+300");
        assert_eq!(n(1.5e-7), "1.5e-7");
        assert_eq!(number(&7.into()), "7");
    }

    #[test]
    fn block_layout() {
        let value = json!({
            "a": 1,
            "list": [{"x": true, "y": [1, 2]}, "s", [], [3, [4]]],
            "empty": {},
            "nested": {"k": null},
        });
        let expected = "\
a: 1
list:
  - x: true
    \"y\":
      - 1
      - 2
  - s
  - []
  - - 3
    - - 4
empty: {}
nested:
  k: null
";
        assert_eq!(to_string(&value).ok().as_deref(), Some(expected));
    }
}
