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
}

impl fmt::Display for DateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.format(&Rfc3339) {
            Ok(text) => f.write_str(&text),
            Err(_) => Err(fmt::Error),
        }
    }
}

impl FromStr for DateTime {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        time::OffsetDateTime::parse(s, &Rfc3339)
            .map(DateTime)
            .map_err(|_| format!("`{s}` is not an RFC 3339 date-time"))
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
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || format!("`{s}` is not a date (YYYY-MM-DD)");
        let bytes = s.as_bytes();
        if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
            return Err(bad());
        }
        let year: i32 = s[0..4].parse().map_err(|_| bad())?;
        let month: u8 = s[5..7].parse().map_err(|_| bad())?;
        let day: u8 = s[8..10].parse().map_err(|_| bad())?;
        let month = time::Month::try_from(month).map_err(|_| bad())?;
        time::Date::from_calendar_date(year, month, day)
            .map(Date)
            .map_err(|_| bad())
    }
}

/// An exact decimal number, carried as its canonical text (`-12.50`), never as a float.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Decimal(String);

impl Decimal {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value as a float, for range checks only.
    pub fn to_f64(&self) -> f64 {
        self.0.parse().unwrap_or(f64::NAN)
    }
}

impl fmt::Display for Decimal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Decimal {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix('-').unwrap_or(s);
        let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
        let valid = !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.bytes().all(|b| b.is_ascii_digit())
            && (frac.is_empty() != digits.contains('.'));
        if valid {
            Ok(Decimal(s.to_owned()))
        } else {
            Err(format!("`{s}` is not a decimal number"))
        }
    }
}

/// Binary data, written as standard base64.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Bytes(pub Vec<u8>);

const BASE64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::with_capacity(self.0.len().div_ceil(3) * 4);
        for chunk in self.0.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(BASE64[((n >> (18 - 6 * i)) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        f.write_str(&out)
    }
}

impl FromStr for Bytes {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || "not valid base64".to_owned();
        if s.len() % 4 != 0 {
            return Err(bad());
        }
        let mut out = Vec::with_capacity(s.len() / 4 * 3);
        for chunk in s.as_bytes().chunks(4) {
            let mut n = 0u32;
            let mut padding = 0;
            for (i, &c) in chunk.iter().enumerate() {
                let v = match c {
                    b'=' if i >= 2 => {
                        padding += 1;
                        0
                    }
                    _ if padding > 0 => return Err(bad()),
                    _ => BASE64.iter().position(|&x| x == c).ok_or_else(bad)? as u32,
                };
                n = (n << 6) | v;
            }
            let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
            out.extend_from_slice(&bytes[..3 - padding]);
        }
        Ok(Bytes(out))
    }
}

impl Default for DateTime {
    /// The Unix epoch: only a fallback, generated defaults are checked by the compiler.
    fn default() -> Self {
        Self(time::OffsetDateTime::UNIX_EPOCH)
    }
}

impl Default for Date {
    fn default() -> Self {
        Self(time::OffsetDateTime::UNIX_EPOCH.date())
    }
}

impl Default for Decimal {
    fn default() -> Self {
        Self("0".to_owned())
    }
}

/// A contract's default value for a string-shaped type. The compiler has already checked that
/// the text parses, so the fallback is never used.
pub fn parse_default<T: FromStr + Default>(text: &str) -> T {
    text.parse().unwrap_or_default()
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
