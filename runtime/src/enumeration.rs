//! Contract enums: generated code declares each one's values and wire names ([`Enum`]); their
//! decoding, checking, storage and filtering come from here, once for all of them, with one
//! wording for a value that is not one of them.

use serde_json::Value;

use crate::resource::{FieldValue, ToFieldValue};
use crate::sql::{ColumnError, SqlColumn, SqlValue};
use crate::types::ParseError;
use crate::validate::{At, Check, Errors, FromJson, Rules, enum_value};

/// A closed set of string values, as generated code declares a contract's enum.
pub trait Enum: Copy + PartialEq + Send + Sync + 'static {
    /// The enum's name in the contract (`TaskPriority`).
    const NAME: &'static str;
    /// Every value, in declaration order.
    const VALUES: &'static [Self];
    /// The wire name of each of [`Enum::VALUES`], in the same order.
    const WIRE: &'static [&'static str];

    /// The value's wire name.
    fn as_str(self) -> &'static str {
        Self::VALUES
            .iter()
            .position(|value| *value == self)
            .and_then(|i| Self::WIRE.get(i))
            .copied()
            .unwrap_or_default()
    }

    /// The value of a wire name, or the one message every bad value gets.
    fn parse(text: &str) -> Result<Self, ParseError> {
        Self::WIRE
            .iter()
            .position(|wire| *wire == text)
            .and_then(|i| Self::VALUES.get(i))
            .copied()
            .ok_or_else(|| not_one_of(text, Self::WIRE))
    }
}

/// The message of a value that is not one of `allowed`, wherever it is met (a body, a query
/// parameter, a stored row).
pub(crate) fn not_one_of(text: &str, allowed: &[&str]) -> ParseError {
    ParseError::new(text, format!("one of: {}", allowed.join(", ")))
}

impl<E: Enum> FromJson for E {
    fn from_json(value: &mut Value, at: &At<'_>, errors: &mut Errors) -> Option<Self> {
        enum_value(value, at, E::WIRE, errors).and_then(|text| E::parse(text).ok())
    }
}

impl<E: Enum> Check for E {
    /// An enum value is valid by construction.
    fn check(&self, _rules: &Rules, _at: &At<'_>, _errors: &mut Errors) {}
}

impl<E: Enum> ToFieldValue for E {
    fn to_field_value(&self) -> FieldValue {
        FieldValue::Text(self.as_str().to_owned())
    }
}

impl<E: Enum> SqlColumn for E {
    fn to_sql(&self) -> SqlValue {
        SqlValue::Text(self.as_str().to_owned())
    }

    fn from_sql(value: SqlValue) -> Result<Self, ColumnError> {
        Ok(E::parse(&String::from_sql(value)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Color {
        Red,
        DarkBlue,
    }

    impl Enum for Color {
        const NAME: &'static str = "Color";
        const VALUES: &'static [Self] = &[Color::Red, Color::DarkBlue];
        const WIRE: &'static [&'static str] = &["red", "dark_blue"];
    }

    #[test]
    fn values_and_wire_names_map_both_ways_with_one_wording() {
        assert_eq!(Color::DarkBlue.as_str(), "dark_blue");
        assert_eq!(Color::parse("red"), Ok(Color::Red));
        let refused = Color::parse("green");
        let refused = refused.expect_err("green is no color");
        assert_eq!(refused.to_string(), "`green` is not one of: red, dark_blue");
        assert_eq!(refused.expected(), "one of: red, dark_blue");
        let mut errors = Errors::new();
        let mut value = Value::from("green");
        assert_eq!(Color::from_json(&mut value, &At::Root, &mut errors), None);
        assert_eq!(errors.into_vec()[0].message, refused.to_string());
        assert_eq!(
            Color::from_sql(SqlValue::Text("dark_blue".to_owned())).ok(),
            Some(Color::DarkBlue)
        );
        // A stored value that is no longer a value: the column error keeps the parser's.
        let stored = Color::from_sql(SqlValue::Text("green".to_owned()))
            .expect_err("green is not stored as a color");
        let source = std::error::Error::source(&stored).expect("the parse error is the source");
        assert_eq!(source.to_string(), refused.to_string());
    }
}
