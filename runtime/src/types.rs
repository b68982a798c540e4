//! Value types generated structs use for contract scalars whose JSON form is a string:
//! `uuid`, `date`, `datetime`, `decimal` and `bytes`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::format_description::well_known::Rfc3339;

pub use uuid::Uuid;

/// An instant, written as RFC 3339 (`2030-01-31T17:00:00Z`). Ordered by instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DateTime(pub time::OffsetDateTime);

impl DateTime {
    /// The current instant in UTC, cut to whole microseconds so that it reads back from a SQL
    /// store unchanged.
    pub fn now() -> Self {
        // Stored with the precision of microseconds: what SQL stores keep, so that a value
        // read back equals the value written.
        let now = time::OffsetDateTime::now_utc();
        Self(
            now.replace_nanosecond(now.nanosecond() / 1000 * 1000)
                .unwrap_or(now),
        )
    }

    /// Nanoseconds since the Unix epoch, for ordering and storage.
    pub fn unix_nanos(&self) -> i128 {
        self.0.unix_timestamp_nanos()
    }

    /// The instant `nanos` after the Unix epoch, in UTC, as generated code writes a
    /// contract's default (the compiler parsed it; an instant outside the supported range is
    /// clamped to it).
    pub fn from_unix_nanos(nanos: i128) -> Self {
        let min = time::PrimitiveDateTime::MIN.assume_utc();
        let max = time::PrimitiveDateTime::MAX.assume_utc();
        let nanos = nanos.clamp(min.unix_timestamp_nanos(), max.unix_timestamp_nanos());
        Self(time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(min))
    }
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(text) => f.write_str(&text),
            Err(_) => Err(fmt::Error),
        }
    }
}

/// A text that is not a value of the type it was read as: what was given and what a value of
/// the type looks like. Its message is the one clients see in a 400 or 422.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    input: String,
    expected: std::borrow::Cow<'static, str>,
}

impl ParseError {
    /// `input` is not `expected` (`an RFC 3339 date-time`, `one of: low, high`).
    pub fn new(input: &str, expected: impl Into<std::borrow::Cow<'static, str>>) -> Self {
        Self {
            input: input.to_owned(),
            expected: expected.into(),
        }
    }

    /// The text that did not parse.
    pub fn input(&self) -> &str {
        &self.input
    }

    /// What a valid value looks like.
    pub fn expected(&self) -> &str {
        &self.expected
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not {}", self.input, self.expected)
    }
}

impl std::error::Error for ParseError {}

impl FromStr for DateTime {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        cmmv_rules::parse_date_time(s)
            .map(DateTime)
            .ok_or_else(|| ParseError::new(s, "an RFC 3339 date-time"))
    }
}

/// A calendar date, written `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date(pub time::Date);

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (y, m, d) = (self.0.year(), u8::from(self.0.month()), self.0.day());
        write!(f, "{y:04}-{m:02}-{d:02}")
    }
}

impl FromStr for Date {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        cmmv_rules::parse_date(s)
            .map(Date)
            .ok_or_else(|| ParseError::new(s, "a date (YYYY-MM-DD)"))
    }
}

impl Date {
    /// The date of a Julian day number, as generated code writes a contract's default (the
    /// compiler parsed it; a day outside the supported range is clamped to it).
    pub fn from_julian_day(day: i32) -> Self {
        let day = day.clamp(
            time::Date::MIN.to_julian_day(),
            time::Date::MAX.to_julian_day(),
        );
        Date(time::Date::from_julian_day(day).unwrap_or(time::Date::MIN))
    }
}

/// An exact decimal number (`decimal` fields), kept as the text it was written in and sent as
/// a JSON string: an optional `-`, digits, and an optional `.` with more digits (`-12.50`).
/// Equality compares that text, so `1.5` and `1.50` differ.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

impl Decimal {
    /// The number as written, digit for digit.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as a float, for range checks only.
    pub fn to_f64(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }

    /// A contract's default, as generated code writes it: text the compiler checked with
    /// the rule [`FromStr`] applies.
    pub fn from_checked(text: &str) -> Self {
        Decimal(text.to_owned())
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Decimal {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if cmmv_rules::is_decimal(s) {
            Ok(Decimal(s.to_owned()))
        } else {
            Err(ParseError::new(s, "a decimal number"))
        }
    }
}

/// Binary data, written as standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&cmmv_rules::to_base64(&self.0))
    }
}

impl FromStr for Bytes {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        cmmv_rules::parse_base64(s)
            .map(Bytes)
            .ok_or_else(|| ParseError::new(s, "valid base64"))
    }
}

/// A contract's default value for a `json` field, written as JSON text.
pub fn json_default(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_default()
}

/// Serde through `Display` / `FromStr`, for the string-shaped types above.
macro_rules! serde_as_string {
    ($($ty:ty),*) => {$(
        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                text.parse().map_err(serde::de::Error::custom)
            }
        }
    )*};
}

serde_as_string!(DateTime, Date, Decimal, Bytes);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for data in [&b""[..], b"h", b"he", b"hel", b"hello"] {
            let text = Bytes(data.to_vec()).to_string();
            assert_eq!(
                text.parse::<Bytes>().map(|b| b.0),
                Ok(data.to_vec()),
                "{text}"
            );
        }
        assert_eq!(Bytes(b"hello".to_vec()).to_string(), "aGVsbG8=");
        assert!("a=bc".parse::<Bytes>().is_err());
    }

    #[test]
    fn defaults_as_generated_code_writes_them() {
        assert_eq!(Date::from_julian_day(2_451_545).to_string(), "2000-01-01");
        assert_eq!(
            DateTime::from_unix_nanos(-3_598_500_000_000).to_string(),
            "1969-12-31T23:00:01.5Z"
        );
        assert_eq!(
            Uuid::from_u128(42).to_string(),
            "00000000-0000-0000-0000-00000000002a"
        );
        assert_eq!(Decimal::from_checked("12.50").as_str(), "12.50");
        // Out of range is clamped, never a panic.
        let _ = DateTime::from_unix_nanos(i128::MAX);
        let _ = Date::from_julian_day(i32::MIN);
    }

    #[test]
    fn dates_and_decimals() {
        assert!("2024-02-29".parse::<Date>().is_ok());
        assert!("2023-02-29".parse::<Date>().is_err());
        assert_eq!(
            "2024-02-09".parse::<Date>().map(|d| d.to_string()),
            Ok("2024-02-09".to_owned())
        );
        assert!("2030-01-31T17:00:00Z".parse::<DateTime>().is_ok());
        assert!("2030-01-31 17:00".parse::<DateTime>().is_err());
        assert!("-12.50".parse::<Decimal>().is_ok());
        assert!("12.".parse::<Decimal>().is_err());
        assert!("1e5".parse::<Decimal>().is_err());
    }
}
