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
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        scalar => {
            out.push_str(&inline(scalar));
            out.push('\n');
        }
    }
    out
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, indent: usize) {
    for (key, value) in map {
        push_indent(out, indent);
        out.push_str(&string(key));
        out.push(':');
        write_nested(out, value, indent + 2);
    }
}

fn write_seq(out: &mut String, items: &[Value], indent: usize) {
    for item in items {
        match item {
            Value::Object(_) | Value::Array(_) if !is_empty_collection(item) => {
                // The item's block is written as if on its own lines, then its first line
                // moves up behind the dash: `- key: value`, continuation lines aligned below.
                let mut block = String::new();
                write_block(&mut block, item, indent + 2);
                push_indent(out, indent);
                out.push_str("- ");
                out.push_str(&block[indent + 2..]);
            }
            scalar => {
                push_indent(out, indent);
                out.push_str("- ");
                out.push_str(&inline(scalar));
                out.push('\n');
            }
        }
    }
}

/// Writes a map value or sequence item that follows a `key:`.
fn write_nested(out: &mut String, value: &Value, indent: usize) {
    if is_empty_collection(value) || !matches!(value, Value::Object(_) | Value::Array(_)) {
        out.push(' ');
        out.push_str(&inline(value));
        out.push('\n');
    } else {
        out.push('\n');
        write_block(out, value, indent);
    }
}

fn write_block(out: &mut String, value: &Value, indent: usize) {
    match value {
        Value::Object(map) => write_map(out, map, indent),
        Value::Array(items) => write_seq(out, items, indent),
        scalar => {
            push_indent(out, indent);
            out.push_str(&inline(scalar));
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

/// A scalar, or an empty collection in flow style.
fn inline(value: &Value) -> String {
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => number(n),
        Value::String(s) => string(s),
        Value::Array(_) => "[]".to_owned(),
        Value::Object(_) => "{}".to_owned(),
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

/// A string scalar (or key): plain when that is unambiguous, double-quoted otherwise.
fn string(s: &str) -> String {
    if is_plain_safe(s) {
        s.to_owned()
    } else {
        quoted(s)
    }
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
        && !RESERVED_WORDS.contains(&s.to_ascii_lowercase().as_str())
}

/// A double-quoted scalar. Characters YAML would fold, drop or refuse (line breaks, control
/// characters, the byte-order mark, non-characters) are escaped.
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
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
