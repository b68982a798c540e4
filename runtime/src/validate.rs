//! Decoding and validating request bodies and parameters against a contract.
//!
//! A body is parsed into JSON first (a syntax error is a 400), then decoded field by field and
//! checked against the contract's constraints. Both steps collect *every* failing field, so a
//! client gets one 422 listing all of them, each with a JSON Pointer, the rule and a message.
//! Generated code only lists fields and their rules; the logic lives here.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::patch::Patch;
use crate::problem::{FieldError, Problem};
use crate::types::{Bytes, Date, DateTime, Decimal, Uuid};

/// Collects field failures while decoding and validating.
#[derive(Debug, Default)]
#[doc(hidden)]
pub struct Errors {
    items: Vec<FieldError>,
}

impl Errors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, at: &At<'_>, rule: &str, message: impl Into<String>) {
        self.items.push(FieldError::at(at.pointer(), rule, message));
    }

    pub fn push_error(&mut self, error: FieldError) {
        self.items.push(error);
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.items
    }

    /// `Ok(())` when nothing failed, else the 422 problem listing every failure.
    pub fn into_result(self) -> Result<(), Problem> {
        if self.items.is_empty() {
            Ok(())
        } else {
            Err(Problem::validation(self.items))
        }
    }
}

/// Where a value sits in the body, as a chain of keys and indices. It is rendered as a JSON
/// Pointer (RFC 6901) only when a failure is recorded, so valid bodies cost no allocation.
#[derive(Debug, Clone, Copy)]
#[doc(hidden)]
pub enum At<'a> {
    Root,
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl<'a> At<'a> {
    /// The member `key` of this object.
    pub fn key(&'a self, key: &'a str) -> At<'a> {
        At::Key(self, key)
    }

    /// The item `index` of this array.
    pub fn index(&'a self, index: usize) -> At<'a> {
        At::Index(self, index)
    }

    /// The JSON Pointer: `""` for the root, `/tags/2`, with `~` and `/` escaped.
    pub fn pointer(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            At::Root => {}
            At::Key(parent, key) => {
                parent.write(out);
                out.push('/');
                out.push_str(&key.replace('~', "~0").replace('/', "~1"));
            }
            At::Index(parent, index) => {
                parent.write(out);
                out.push('/');
                out.push_str(&index.to_string());
            }
        }
    }
}

/// A type that can be decoded from JSON, reporting failures instead of stopping at them.
pub trait FromJson: Sized {
    /// Decodes `value`, found at `at`; pushes the failures and returns `None` on any.
    ///
    /// The value is taken by mutable reference so that strings and nested values can be moved
    /// out of the parsed body instead of copied; what is left of it is not meant to be read.
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self>;
}

fn type_error(at: &At<'_>, errors: &mut Errors, expected: &str, value: &Value) {
    let found = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    errors.push(at, "type", format!("expected {expected}, found {found}"));
}

impl FromJson for String {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        match value {
            Value::String(s) => Some(std::mem::take(s)),
            other => {
                type_error(at, errors, "a string", other);
                None
            }
        }
    }
}

impl FromJson for bool {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        match value {
            Value::Bool(b) => Some(*b),
            other => {
                type_error(at, errors, "a boolean", other);
                None
            }
        }
    }
}

impl FromJson for i64 {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        // JSON Schema's `integer` is a number without a fractional part, so `31.0` is one
        // (clients in languages without integers send it); `31.5` is not.
        let whole = || {
            value
                .as_f64()
                .filter(|x| x.fract() == 0.0 && (-(2f64.powi(63))..2f64.powi(63)).contains(x))
                .map(|x| x as i64)
        };
        match value.as_i64().or_else(whole) {
            Some(i) => Some(i),
            None => {
                type_error(at, errors, "an integer", value);
                None
            }
        }
    }
}

impl FromJson for i32 {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        let wide = i64::from_json(value, at, errors)?;
        match i32::try_from(wide) {
            Ok(i) => Some(i),
            Err(_) => {
                errors.push(
                    at,
                    "type",
                    format!("{wide} is outside the range of a 32-bit integer"),
                );
                None
            }
        }
    }
}

impl FromJson for f64 {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        match value.as_f64() {
            Some(x) => Some(x),
            None => {
                type_error(at, errors, "a number", value);
                None
            }
        }
    }
}

impl FromJson for f32 {
    /// The nearest 32-bit float (ties to even); a number beyond the 32-bit range is refused
    /// rather than stored as an infinity (which JSON cannot even write back).
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        let wide = f64::from_json(value, at, errors)?;
        let narrow = wide as f32;
        if narrow.is_finite() {
            Some(narrow)
        } else {
            errors.push(
                at,
                "type",
                format!("{wide} is outside the range of a 32-bit float"),
            );
            None
        }
    }
}

impl FromJson for Value {
    fn from_json(value: &mut Value, _at: &At<'_>, _errors: &mut Errors) -> Option<Self> {
        Some(value.take())
    }
}

/// Types whose JSON form is a string with a syntax of its own.
macro_rules! from_json_via_str {
    ($($ty:ty => $rule:literal, $expected:literal;)*) => {$(
        impl FromJson for $ty {
            fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
                let Value::String(text) = value else {
                    type_error(at, errors, $expected, value);
                    return None;
                };
                match text.parse() {
                    Ok(parsed) => Some(parsed),
                    Err(_) => {
                        errors.push(at, $rule, format!("`{text}` is not {}", $expected));
                        None
                    }
                }
            }
        }
    )*};
}

from_json_via_str! {
    Uuid => "format", "a UUID";
    DateTime => "format", "an RFC 3339 date-time";
    Date => "format", "a date (YYYY-MM-DD)";
    Decimal => "format", "a decimal number in a string";
    Bytes => "format", "base64 text";
}

impl<T: FromJson> FromJson for Vec<T> {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        let Value::Array(items) = value else {
            type_error(at, errors, "an array", value);
            return None;
        };
        let decoded: Vec<Option<T>> = items
            .iter_mut()
            .enumerate()
            .map(|(i, item)| T::from_json(item, &at.index(i), errors))
            .collect();
        decoded.into_iter().collect()
    }
}

impl<T: FromJson> FromJson for BTreeMap<String, T> {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        let Value::Object(entries) = value else {
            type_error(at, errors, "an object", value);
            return None;
        };
        let decoded: Vec<(String, Option<T>)> = entries
            .iter_mut()
            .map(|(k, v)| (k.clone(), T::from_json(v, &at.key(k), errors)))
            .collect();
        decoded.into_iter().map(|(k, v)| Some((k, v?))).collect()
    }
}

/// Decodes an enum's wire value, reporting anything else with the allowed values.
#[doc(hidden)]
pub fn enum_value<'v>(
    value: &'v Value,
    at: &At<'_>,
    allowed: &[&str],
    errors: &mut Errors,
) -> Option<&'v str> {
    match value {
        Value::String(s) if allowed.contains(&s.as_str()) => Some(s),
        Value::String(s) => {
            errors.push(
                at,
                "enum",
                crate::enumeration::not_one_of(s, allowed).to_string(),
            );
            None
        }
        other => {
            type_error(at, errors, "a string", other);
            None
        }
    }
}

/// Checks that `value` is an object with no keys but `allowed`, reporting each unknown key.
#[doc(hidden)]
pub fn object<'v>(
    value: &'v mut Value,
    at: &At<'_>,
    allowed: &[&str],
    errors: &mut Errors,
) -> Option<&'v mut Map<String, Value>> {
    let Value::Object(map) = value else {
        type_error(at, errors, "an object", value);
        return None;
    };
    for key in map.keys() {
        if !allowed.contains(&key.as_str()) {
            errors.push(
                &at.key(key),
                "unknown_field",
                format!("unknown field; expected one of: {}", allowed.join(", ")),
            );
        }
    }
    Some(map)
}

/// How a field may be present in a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[doc(hidden)]
pub struct Presence {
    /// Absence is an error (`required`).
    pub required: bool,
    /// `null` is accepted (and decodes to `None`).
    pub nullable: bool,
}

/// Decodes one field. `Some(None)` is an absent or null field that was allowed to be;
/// `None` means it failed (and the failure was recorded).
#[doc(hidden)]
pub fn field<T: FromJson>(
    map: &mut Map<String, Value>,
    at: &At<'_>,
    key: &str,
    presence: Presence,
    errors: &mut Errors,
) -> Option<Option<T>> {
    let here = at.key(key);
    match map.get_mut(key) {
        None if presence.required => {
            errors.push(&here, "required", "this field is required");
            None
        }
        None => Some(None),
        Some(Value::Null) if presence.nullable => Some(None),
        Some(Value::Null) => {
            errors.push(&here, "null", "this field may not be null");
            None
        }
        Some(value) => T::from_json(value, &here, errors).map(Some),
    }
}

/// Decodes a field that must be present and not null.
#[doc(hidden)]
pub fn required<T: FromJson>(
    map: &mut Map<String, Value>,
    at: &At<'_>,
    key: &str,
    errors: &mut Errors,
) -> Option<T> {
    let presence = Presence {
        required: true,
        nullable: false,
    };
    field(map, at, key, presence, errors).flatten()
}

/// Decodes a field with a default: absent gives the default, `null` is refused.
#[doc(hidden)]
pub fn with_default<T: FromJson>(
    map: &mut Map<String, Value>,
    at: &At<'_>,
    key: &str,
    errors: &mut Errors,
    default: impl FnOnce() -> T,
) -> Option<T> {
    let presence = Presence {
        required: false,
        nullable: false,
    };
    field(map, at, key, presence, errors).map(|value| value.unwrap_or_else(default))
}

/// Decodes a field of a patch: absent, explicitly `null` (only when nullable), or a value.
#[doc(hidden)]
pub fn patch_field<T: FromJson>(
    map: &mut Map<String, Value>,
    at: &At<'_>,
    key: &str,
    nullable: bool,
    errors: &mut Errors,
) -> Option<Patch<T>> {
    let here = at.key(key);
    match map.get_mut(key) {
        None => Some(Patch::Absent),
        Some(Value::Null) if nullable => Some(Patch::Null),
        Some(Value::Null) => {
            errors.push(&here, "null", "this field may not be null");
            None
        }
        Some(value) => T::from_json(value, &here, errors).map(Patch::Value),
    }
}

/// Decodes a whole body: JSON syntax was checked by the extractor; this collects every field
/// failure and then every constraint failure into one 422.
pub fn decode_body<T: FromJson + Check>(value: &mut Value) -> Result<T, Problem> {
    let mut errors = Errors::new();
    // Constraints are checked even when unknown fields were reported, so one response lists
    // every problem the body has.
    match T::from_json(value, &At::Root, &mut errors) {
        Some(decoded) => {
            decoded.check(&Rules::NONE, &At::Root, &mut errors);
            errors.into_result().map(|()| decoded)
        }
        None => Err(Problem::validation(errors.into_vec())),
    }
}

// ---- constraints -----------------------------------------------------------------------------

/// A regular expression compiled on first use. Generated code declares one `static` per
/// pattern, so no cache is shared between apps.
#[derive(Debug)]
#[doc(hidden)]
pub struct LazyRegex {
    source: &'static str,
    compiled: OnceLock<Option<regex::Regex>>,
}

impl LazyRegex {
    pub const fn new(source: &'static str) -> Self {
        Self {
            source,
            compiled: OnceLock::new(),
        }
    }

    pub fn source(&self) -> &'static str {
        self.source
    }

    /// Whether `text` matches. The compiler only accepts patterns that compile, so a pattern
    /// that does not is treated as matching nothing rather than panicking.
    pub fn is_match(&self, text: &str) -> bool {
        self.compiled
            .get_or_init(|| regex::Regex::new(self.source).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(text))
    }
}

/// Well-known string formats, with the rules `docs/contracts.md` documents: the compiler's
/// own definition (`cmmv-rules`), so that a contract's defaults and the server agree.
pub use cmmv_rules::Format;

/// The constraints of one field, as the contract declares them.
#[derive(Debug)]
#[doc(hidden)]
pub struct Rules {
    pub min_length: Option<u64>,
    pub max_length: Option<u64>,
    pub pattern: Option<&'static LazyRegex>,
    pub format: Option<Format>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub exclusive_minimum: Option<f64>,
    pub exclusive_maximum: Option<f64>,
    pub multiple_of: Option<f64>,
    pub min_items: Option<u64>,
    pub max_items: Option<u64>,
    pub unique_items: bool,
    /// Rules of each item of a list or value of a map.
    pub items: Option<&'static Rules>,
}

impl Rules {
    pub const NONE: Rules = Rules {
        min_length: None,
        max_length: None,
        pattern: None,
        format: None,
        minimum: None,
        maximum: None,
        exclusive_minimum: None,
        exclusive_maximum: None,
        multiple_of: None,
        min_items: None,
        max_items: None,
        unique_items: false,
        items: None,
    };

    fn item_rules(&self) -> &Rules {
        self.items.unwrap_or(&Rules::NONE)
    }

    fn check_length(&self, len: u64, unit: &str, at: &At<'_>, errors: &mut Errors) {
        if let Some(min) = self.min_length.filter(|&min| len < min) {
            errors.push(
                at,
                "min_length",
                format!("must be at least {min} {unit} long"),
            );
        }
        if let Some(max) = self.max_length.filter(|&max| len > max) {
            errors.push(
                at,
                "max_length",
                format!("must be at most {max} {unit} long"),
            );
        }
    }

    fn check_number(&self, x: f64, at: &At<'_>, errors: &mut Errors) {
        if let Some(min) = self.minimum.filter(|&m| x < m) {
            errors.push(at, "minimum", format!("must be at least {min}"));
        }
        if let Some(max) = self.maximum.filter(|&m| x > m) {
            errors.push(at, "maximum", format!("must be at most {max}"));
        }
        if let Some(min) = self.exclusive_minimum.filter(|&m| x <= m) {
            errors.push(
                at,
                "exclusive_minimum",
                format!("must be greater than {min}"),
            );
        }
        if let Some(max) = self.exclusive_maximum.filter(|&m| x >= m) {
            errors.push(at, "exclusive_maximum", format!("must be less than {max}"));
        }
        if let Some(m) = self.multiple_of {
            let q = x / m;
            if (q - q.round()).abs() > 1e-9 {
                errors.push(at, "multiple_of", format!("must be a multiple of {m}"));
            }
        }
    }

    fn check_count(&self, count: u64, at: &At<'_>, errors: &mut Errors) {
        if let Some(min) = self.min_items.filter(|&m| count < m) {
            errors.push(at, "min_items", format!("must have at least {min} items"));
        }
        if let Some(max) = self.max_items.filter(|&m| count > m) {
            errors.push(at, "max_items", format!("must have at most {max} items"));
        }
    }
}

/// A value that can be checked against [`Rules`]. Generated structs implement it by checking
/// each of their fields with that field's rules.
pub trait Check {
    /// Records in `errors`, at `at`, every one of `rules` this value breaks; rules that do not
    /// apply to its type are ignored.
    fn check(&self, rules: &Rules, at: &At<'_>, errors: &mut Errors);
}

impl Check for String {
    fn check(&self, rules: &Rules, at: &At<'_>, errors: &mut Errors) {
        rules.check_length(self.chars().count() as u64, "characters", at, errors);
        if let Some(pattern) = rules.pattern {
            if !pattern.is_match(self) {
                errors.push(at, "pattern", format!("must match `{}`", pattern.source()));
            }
        }
        if let Some(format) = rules.format {
            if !format.matches(self) {
                errors.push(at, "format", format!("must be a valid {}", format.name()));
            }
        }
    }
}

impl Check for Bytes {
    fn check(&self, rules: &Rules, at: &At<'_>, errors: &mut Errors) {
        rules.check_length(self.0.len() as u64, "bytes", at, errors);
    }
}

impl Check for Decimal {
    fn check(&self, rules: &Rules, at: &At<'_>, errors: &mut Errors) {
        rules.check_number(self.to_f64(), at, errors);
    }
}

macro_rules! check_number {
    ($($ty:ty),*) => {$(
        impl Check for $ty {
            fn check(&self, rules: &Rules, at: &At<'_>, errors: &mut Errors) {
                rules.check_number(f64::from(*self), at, errors);
            }
        }
    )*};
}

check_number!(i32, f32, f64);

impl Check for i64 {
    fn check(&self, rules: &Rules, at: &At<'_>, errors: &mut Errors) {
        // Bounds come from the contract as f64; every bound a contract can state is exact.
        rules.check_number(*self as f64, at, errors);
    }
}

/// Types with no constraints of their own.
macro_rules! check_nothing {
    ($($ty:ty),*) => {$(
        impl Check for $ty {
            fn check(&self, _rules: &Rules, _at: &At<'_>, _errors: &mut Errors) {}
        }
    )*};
}

check_nothing!(bool, Uuid, Date, DateTime, Value);

impl<T: Check> Check for Option<T> {
    fn check(&self, rules: &Rules, at: &At<'_>, errors: &mut Errors) {
        if let Some(value) = self {
            value.check(rules, at, errors);
        }
    }
}

impl<T: Check> Check for Patch<T> {
    fn check(&self, rules: &Rules, at: &At<'_>, errors: &mut Errors) {
        if let Patch::Value(value) = self {
            value.check(rules, at, errors);
        }
    }
}

impl<T: Check + PartialEq> Check for Vec<T> {
    fn check(&self, rules: &Rules, at: &At<'_>, errors: &mut Errors) {
        rules.check_count(self.len() as u64, at, errors);
        if rules.unique_items {
            if let Some(i) = (1..self.len()).find(|&i| self[..i].contains(&self[i])) {
                errors.push(
                    at,
                    "unique_items",
                    format!("item {i} repeats an earlier item"),
                );
            }
        }
        for (i, item) in self.iter().enumerate() {
            item.check(rules.item_rules(), &at.index(i), errors);
        }
    }
}

impl<T: Check> Check for BTreeMap<String, T> {
    fn check(&self, rules: &Rules, at: &At<'_>, errors: &mut Errors) {
        rules.check_count(self.len() as u64, at, errors);
        for (key, item) in self {
            item.check(rules.item_rules(), &at.key(key), errors);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collects_every_field_failure() {
        let mut body = serde_json::json!({"a": 1, "b": null, "zzz": true});
        let mut errors = Errors::new();
        let map =
            object(&mut body, &At::Root, &["a", "b", "c"], &mut errors).unwrap_or_else(|| panic!());
        let required = Presence {
            required: true,
            nullable: false,
        };
        let a: Option<Option<String>> = field(map, &At::Root, "a", required, &mut errors);
        let b: Option<Option<String>> = field(map, &At::Root, "b", required, &mut errors);
        let c: Option<Option<String>> = field(map, &At::Root, "c", required, &mut errors);
        assert!(a.is_none() && b.is_none() && c.is_none());
        let rules: Vec<(Option<String>, String)> = errors
            .into_vec()
            .into_iter()
            .map(|e| (e.pointer, e.rule))
            .collect();
        assert_eq!(
            rules,
            vec![
                (Some("/zzz".into()), "unknown_field".into()),
                (Some("/a".into()), "type".into()),
                (Some("/b".into()), "null".into()),
                (Some("/c".into()), "required".into()),
            ]
        );
    }

    /// Integers as JSON Schema reads them: a number without a fractional part, in range.
    #[test]
    fn whole_numbers_are_integers() {
        let decode = |json: serde_json::Value| {
            let mut value = json;
            let mut errors = Errors::new();
            let decoded = i32::from_json(&mut value, &At::Root, &mut errors);
            (
                decoded,
                errors
                    .into_vec()
                    .into_iter()
                    .map(|e| e.rule)
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(decode(serde_json::json!(31)), (Some(31), vec![]));
        assert_eq!(decode(serde_json::json!(31.0)), (Some(31), vec![]));
        assert_eq!(decode(serde_json::json!(-2.0)), (Some(-2), vec![]));
        assert_eq!(
            decode(serde_json::json!(31.5)),
            (None, vec!["type".to_owned()])
        );
        assert_eq!(
            decode(serde_json::json!(1e300)),
            (None, vec!["type".to_owned()])
        );
        assert_eq!(
            decode(serde_json::json!(3e9)),
            (None, vec!["type".to_owned()])
        );
        assert_eq!(
            decode(serde_json::json!("31")),
            (None, vec!["type".to_owned()])
        );
    }

    /// A number just under a bound is read as itself, not rounded onto the bound (serde_json's
    /// default float parsing may land a unit off; the runtime parses exactly).
    #[test]
    fn numbers_parse_to_the_nearest_double() {
        let value: Value = serde_json::from_str("0.9999999999999999").expect("a number");
        assert_eq!(value.as_f64(), Some(1.0 - f64::EPSILON / 2.0));
        assert!(value.as_f64().is_some_and(|x| x < 1.0));
    }

    #[test]
    fn rules_check_items_with_pointers() {
        static ITEM: Rules = Rules {
            max_length: Some(3),
            ..Rules::NONE
        };
        static TAGS: Rules = Rules {
            max_items: Some(2),
            unique_items: true,
            items: Some(&ITEM),
            ..Rules::NONE
        };
        let tags = vec!["a".to_owned(), "toolong".to_owned(), "a".to_owned()];
        let mut errors = Errors::new();
        tags.check(&TAGS, &At::Root.key("tags"), &mut errors);
        let rules: Vec<String> = errors
            .into_vec()
            .into_iter()
            .map(|e| format!("{} {}", e.pointer.unwrap_or_default(), e.rule))
            .collect();
        assert_eq!(
            rules,
            vec![
                "/tags max_items",
                "/tags unique_items",
                "/tags/1 max_length"
            ]
        );
    }

    #[test]
    fn pointers_escape_slashes_and_tildes() {
        assert_eq!(At::Root.key("a").key("b/c~d").pointer(), "/a/b~1c~0d");
        assert_eq!(At::Root.key("tags").index(2).pointer(), "/tags/2");
    }
}
