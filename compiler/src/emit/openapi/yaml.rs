//! A small, deterministic YAML writer for JSON values.
//!
//! Output is block style with two-space indentation. A string is written plain only when no
//! YAML reader could take it for anything but that string, under both YAML 1.2 and the YAML 1.1
//! rules many tools still apply (`yes`, `on`, `1e3` ...). Every other string is written in
//! double quotes with JSON-style escapes, which YAML's double-quoted style also understands.
//! Numbers are written so that YAML 1.1 and 1.2 readers both see the same number.

use serde_json::Value;

/// The YAML text of `value`, ending in a newline.
pub(super) fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0, false),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0, false),
        scalar => {
            push_inline(&mut out, scalar);
            out.push('\n');
        }
    }
    out
}

// Everything is written straight into `out`: the documents run to tens of megabytes, and a
// string per scalar or per nested block would cost more than the writing itself.
// `hanging` means the first line's indentation is already written (behind a `- `).

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize, hanging: bool) {
    for (i, (key, value)) in map.iter().enumerate() {
        if i > 0 || !hanging {
            push_indent(out, indent);
        }
        push_string(out, key);
        out.push(':');
        write_nested(out, value, indent + 2);
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize, hanging: bool) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 || !hanging {
            push_indent(out, indent);
        }
        out.push_str("- ");
        match item {
            // The item's block continues behind the dash (`- key: value`), its other lines
            // aligned below its first.
            Value::Object(_) | Value::Array(_) if !is_empty_collection(item) => {
                write_block(out, item, indent + 2, true);
            }
            scalar => {
                push_inline(out, scalar);
                out.push('\n');
            }
        }
    }
}

/// Writes a map value or sequence item that follows a `key:`.
fn write_nested(out: &mut String, value: &Value, indent: usize) {
    if is_empty_collection(value) || !matches!(value, Value::Object(_) | Value::Array(_)) {
        out.push(' ');
        push_inline(out, value);
        out.push('\n');
    } else {
        out.push('\n');
        write_block(out, value, indent, false);
    }
}

fn write_block(out: &mut String, value: &Value, indent: usize, hanging: bool) {
    match value {
        Value::Object(map) => write_map(out, map, indent, hanging),
        Value::Array(items) => write_seq(out, items, indent, hanging),
        scalar => {
            if !hanging {
                push_indent(out, indent);
            }
            push_inline(out, scalar);
            out.push('\n');
        }
    }
}

fn is_empty_collection(value: &Value) -> bool {
    match value {
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

fn push_indent(out: &mut String, indent: usize) {
    out.extend(std::iter::repeat_n(' ', indent));
}

/// Appends a scalar, or an empty collection in flow style.
fn push_inline(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        Value::Number(n) => out.push_str(&number(n)),
        Value::String(s) => push_string(out, s),
        Value::Array(_) => out.push_str("[]"),
        Value::Object(_) => out.push_str("{}"),
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
fn number(n: &serde_json::Number) -> String {
    let text = n.to_string();
    let Some((mantissa, exponent)) = text.split_once(['e', 'E']) else {
        return text;
    };
    let dot = if mantissa.contains('.') { "" } else { ".0" };
    let sign = if exponent.starts_with(['-', '+']) {
        ""
    } else {
        "+"
    };
    format!("{mantissa}{dot}e{sign}{exponent}")
}

/// Words that YAML 1.1 or 1.2 resolve to booleans or null when written plain.
const RESERVED_WORDS: &[&str] = &["true", "false", "yes", "no", "y", "n", "on", "off", "null"];

/// A letter, then letters, digits, `_`, `-`, `.`, `/` and inner spaces: such a scalar cannot
/// start a number, an indicator, a comment or a `key: value` pair.
fn is_plain_safe(s: &str) -> bool {
    let starts_with_letter = s.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
    starts_with_letter
        && !s.ends_with(' ')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ' '))
        && !RESERVED_WORDS.iter().any(|w| w.eq_ignore_ascii_case(s))
}

/// A double-quoted scalar. Characters YAML would fold, drop or refuse (line breaks, control
/// characters, the byte-order mark, non-characters) are escaped.
fn push_quoted(out: &mut String, s: &str) {
    out.reserve(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => {
                use std::fmt::Write as _;
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
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
    }

    #[test]
    fn floats_read_alike_in_yaml_1_1_and_1_2() {
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
        assert_eq!(to_string(&value), expected);
    }
}
