//! The rules the CMMV compiler and its runtime must apply alike, in one place: the string
//! formats a contract may name, and the parsers of the scalar values written as strings
//! (UUIDs, dates, date-times, decimals, base64 bytes).
//!
//! The compiler checks a contract's defaults and examples with these parsers, and emits the
//! parsed values; the runtime decodes requests with the same ones. So a value the compiler
//! accepts is one the server accepts, and one the server refuses is refused at compile time,
//! with a diagnostic at the contract's line, instead of turning into another value at start.
//!
//! The query language of list operations (their parameters and each type's filter operators)
//! is here too, in [`list`]: the documents list what the server parses.
//!
//! Dependency-light on purpose: the compiler and every service link it.

pub mod list;

use std::net::{Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use time::format_description::well_known::Rfc3339;

pub use time::{Date, OffsetDateTime};
pub use uuid::Uuid;

/// Well-known string formats, with the rules `docs/contracts.md` documents (kept deliberately
/// simple: a syntactic check, not a deliverability one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Format {
    Email,
    Url,
    Hostname,
    Ipv4,
    Ipv6,
}

impl Format {
    pub const ALL: [Format; 5] = [
        Format::Email,
        Format::Url,
        Format::Hostname,
        Format::Ipv4,
        Format::Ipv6,
    ];

    /// The name contracts write (`format: email`).
    pub fn name(self) -> &'static str {
        match self {
            Format::Email => "email",
            Format::Url => "url",
            Format::Hostname => "hostname",
            Format::Ipv4 => "ipv4",
            Format::Ipv6 => "ipv6",
        }
    }

    /// The JSON Schema `format` keyword value.
    pub fn json_schema_name(self) -> &'static str {
        match self {
            Format::Url => "uri",
            other => other.name(),
        }
    }

    /// Whether `s` is of this format.
    pub fn matches(self, s: &str) -> bool {
        let no_space = || !s.chars().any(char::is_whitespace);
        match self {
            Format::Email => s.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && no_space()
            }),
            Format::Url => s.split_once("://").is_some_and(|(scheme, rest)| {
                scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                    && scheme
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                    && !rest.is_empty()
                    && no_space()
            }),
            Format::Hostname => {
                !s.is_empty()
                    && s.len() <= 253
                    && s.split('.').all(|label| {
                        !label.is_empty()
                            && label.len() <= 63
                            && !label.starts_with('-')
                            && !label.ends_with('-')
                            && label
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    })
            }
            Format::Ipv4 => s.parse::<Ipv4Addr>().is_ok(),
            Format::Ipv6 => s.parse::<Ipv6Addr>().is_ok(),
        }
    }
}

/// A UUID, in any of the forms the `uuid` crate reads (hyphenated, simple, braced, URN).
pub fn parse_uuid(s: &str) -> Option<Uuid> {
    Uuid::try_parse(s).ok()
}

/// A calendar date, `YYYY-MM-DD`, that exists (no February 30th).
pub fn parse_date(s: &str) -> Option<Date> {
    let bytes = s.as_bytes();
    if bytes.len() != 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return None;
    }
    let digits = |range: std::ops::Range<usize>| {
        s.get(range)
            .filter(|part| part.bytes().all(|b| b.is_ascii_digit()))
    };
    let year: i32 = digits(0..4)?.parse().ok()?;
    let month: u8 = digits(5..7)?.parse().ok()?;
    let day: u8 = digits(8..10)?.parse().ok()?;
    Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()
}

/// An RFC 3339 date-time (`2030-01-31T17:00:00Z`, with an optional fraction and an offset).
/// A leap second other than `23:59:60` is refused.
pub fn parse_date_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

/// An HTTP-date (RFC 9110, IMF-fixdate) of a Unix time: `Fri, 01 Jan 2027 00:00:00 GMT`, as
/// the `Sunset` header (RFC 8594) carries it and the documents show it. Times outside what an
/// HTTP-date can say are clamped to its range (years 1 to 9999).
pub fn http_date(unix_seconds: i64) -> String {
    const MIN: i64 = -62_135_596_800; // 0001-01-01T00:00:00Z
    const MAX: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let at = OffsetDateTime::from_unix_timestamp(unix_seconds.clamp(MIN, MAX))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let weekday = match at.weekday() {
        time::Weekday::Monday => "Mon",
        time::Weekday::Tuesday => "Tue",
        time::Weekday::Wednesday => "Wed",
        time::Weekday::Thursday => "Thu",
        time::Weekday::Friday => "Fri",
        time::Weekday::Saturday => "Sat",
        time::Weekday::Sunday => "Sun",
    };
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{weekday}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        at.day(),
        MONTHS[usize::from(u8::from(at.month())) - 1],
        at.year(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

/// Whether `s` is a decimal number as the wire carries it: an optional `-`, digits, and an
/// optional `.` followed by digits (no exponent, no `+`, no leading or trailing `.`).
pub fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = match digits.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (digits, None),
    };
    !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
}

/// Bytes written in standard base64 with padding; the empty string is zero bytes.
pub fn parse_base64(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::STANDARD.decode(s).ok()
}

/// Bytes as standard base64 with padding.
pub fn to_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {

    #[test]
    fn http_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1_798_761_600), "Fri, 01 Jan 2027 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(i64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    use super::*;

    #[test]
    fn dates_exist() {
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2023-02-29").is_none());
        assert!(parse_date("2024-13-01").is_none());
        assert!(parse_date("2024-1-01").is_none());
        assert!(parse_date("+024-01-01").is_none());
    }

    #[test]
    fn date_times_are_rfc_3339_without_invented_seconds() {
        assert!(parse_date_time("2030-01-31T17:00:00Z").is_some());
        assert!(parse_date_time("2030-01-31T17:00:00.123456+02:00").is_some());
        // Issue 16: the compiler once accepted this, and the server read it as 1970-01-01.
        assert!(parse_date_time("2030-01-31T12:00:60Z").is_none());
        assert!(parse_date_time("2030-01-31 17:00").is_none());
    }

    #[test]
    fn decimals_base64_and_uuids() {
        for good in ["0", "-12.50", "12", "007.1"] {
            assert!(is_decimal(good), "{good}");
        }
        for bad in ["", "-", "12.", ".5", "1e5", "+1", "1.2.3", "٣"] {
            assert!(!is_decimal(bad), "{bad}");
        }
        assert_eq!(parse_base64(""), Some(Vec::new()));
        assert_eq!(parse_base64("aGVsbG8="), Some(b"hello".to_vec()));
        assert_eq!(parse_base64("aGVsbG8"), None);
        assert_eq!(to_base64(b"hello"), "aGVsbG8=");
        assert!(parse_uuid("0190c3b1-7f7e-7a9a-8b1e-2f1d3c4b5a69").is_some());
        assert!(parse_uuid("0190c3b1-7f7e-7a9a-8b1e").is_none());
    }

    #[test]
    fn formats() {
        assert!(Format::Email.matches("ada@example.com"));
        assert!(!Format::Email.matches("ada@example"));
        assert!(Format::Url.matches("https://example.com/x"));
        assert!(!Format::Url.matches("example.com"));
        assert!(Format::Hostname.matches("a-b.example"));
        assert!(Format::Ipv6.matches("::1"));
        assert_eq!(Format::Url.json_schema_name(), "uri");
    }
}
