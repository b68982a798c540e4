//! The parsers and checks of setting values: each returns the message a bad value gets,
//! which names what was expected (never the value, when it is a secret).

use super::*;

/// An HS256 secret long enough to resist guessing offline from one captured token.
pub(super) fn check_secret(v: &str) -> Result<(), String> {
    if v.len() < JWT_MIN_SECRET_BYTES {
        // Never echo the value: it is a secret, even when a bad one.
        Err(format!(
            "too short: {} bytes, at least {JWT_MIN_SECRET_BYTES} required (e.g. `openssl rand -base64 48`)",
            v.len()
        ))
    } else {
        Ok(())
    }
}

/// Leeway in whole seconds (what JWT times are counted in), and bounded.
pub(super) fn check_leeway(leeway: Duration) -> Result<Duration, String> {
    if leeway.subsec_nanos() != 0 {
        Err("must be whole seconds (e.g. 30s)".to_owned())
    } else if leeway > JWT_MAX_LEEWAY {
        Err(format!(
            "{}s is too long: at most {}s (5m)",
            leeway.as_secs(),
            JWT_MAX_LEEWAY.as_secs()
        ))
    } else {
        Ok(leeway)
    }
}

/// Access tokens live at least a second (JWT times are whole seconds) and at most a day.
pub(super) fn check_access_ttl(ttl: Duration) -> Result<Duration, String> {
    if ttl.as_secs() == 0 {
        Err("must be at least 1s".to_owned())
    } else if ttl > AUTH_MAX_ACCESS_TTL {
        Err(format!(
            "{}s is too long: at most 24h (access tokens cannot be revoked)",
            ttl.as_secs()
        ))
    } else {
        Ok(ttl)
    }
}

/// NIST SP 800-63B asks for at least 8 characters; the upper bound is the longest accepted.
pub(super) fn check_password_min_length(length: usize) -> Result<usize, String> {
    if (8..=AUTH_MAX_PASSWORD_LENGTH).contains(&length) {
        Ok(length)
    } else {
        Err(format!(
            "{length} is out of range: between 8 and {AUTH_MAX_PASSWORD_LENGTH}"
        ))
    }
}

/// Refuses a zero where it would disable a protection (no body, no time at all).
/// A positive whole number of something (`what`, for the message).
pub(super) fn parse_count<T: std::str::FromStr + Default + PartialEq>(
    v: &str,
    what: &str,
) -> Result<T, String> {
    match v.parse::<T>() {
        Ok(n) if n != T::default() => Ok(n),
        _ => Err(format!(
            "invalid {what} {v:?} (expected a positive integer)"
        )),
    }
}

pub(super) fn positive<T>(value: T, is_zero: bool) -> Result<T, String> {
    if is_zero {
        Err("must be greater than 0".to_owned())
    } else {
        Ok(value)
    }
}

/// A storage URL of a kind the runtime has a store for.
pub(super) fn parse_database_url(v: &str) -> Result<String, String> {
    let known = ["sqlite:", "postgres://", "postgresql://", "memory:"];
    if known.iter().any(|scheme| v.starts_with(scheme)) {
        Ok(v.to_owned())
    } else {
        Err(format!(
            "unsupported database URL {:?} (expected sqlite://FILE, postgres://..., or memory:)",
            // A URL may carry a password: show only what follows the credentials.
            v.rsplit('@').next().unwrap_or(v)
        ))
    }
}

pub(super) fn parse_redis_url(v: &str) -> Result<Option<String>, String> {
    if ["redis://", "rediss://", "unix://", "redis+unix://"]
        .iter()
        .any(|scheme| v.starts_with(scheme))
    {
        Ok(Some(v.to_owned()))
    } else {
        Err(format!(
            "invalid Redis URL {:?} (expected redis://, rediss:// or unix://)",
            // A URL may carry a password: show only what follows the credentials.
            v.rsplit('@').next().unwrap_or(v)
        ))
    }
}

/// `true`/`false` and the usual spellings of them.
/// A prefix length of at most `max` bits, and at least 1: a /0 would count the whole
/// internet as one client.
pub(super) fn prefix_length(v: &str, max: u8) -> Result<u8, String> {
    match v.trim().trim_start_matches('/').parse::<u8>() {
        Ok(n) if (1..=max).contains(&n) => Ok(n),
        _ => Err(format!(
            "invalid prefix length {v:?} (expected 1 to {max}, e.g. {max})"
        )),
    }
}

pub(crate) fn parse_bool(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(format!("invalid boolean {v:?} (expected true or false)")),
    }
}

/// `500ms`, `30s`, `2m`, `1h`, `30d`; a bare number is seconds.
pub(crate) fn parse_duration(v: &str) -> Result<Duration, String> {
    let error = || format!("invalid duration {v:?} (expected e.g. 500ms, 30s, 2m, 1h or 30d)");
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(digits);
    let number: u64 = number.parse().map_err(|_| error())?;
    let millis_per_unit = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return Err(error()),
    };
    number
        .checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(error)
}

/// Bytes, optionally with a binary (`KiB`, `MiB`, `GiB`) or decimal (`kB`, `MB`, `GB`) unit.
pub(crate) fn parse_size(v: &str) -> Result<usize, String> {
    let error = || format!("invalid size {v:?} (expected bytes, or e.g. 512KiB or 4MiB)");
    let digits = v.find(|c: char| !c.is_ascii_digit()).unwrap_or(v.len());
    let (number, unit) = v.split_at(digits);
    let number: usize = number.parse().map_err(|_| error())?;
    let multiplier: usize = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return Err(error()),
    };
    number.checked_mul(multiplier).ok_or_else(error)
}

pub(super) fn parse_hsts(v: &str) -> Result<Option<u64>, String> {
    if let Ok(enabled) = parse_bool(v) {
        // `1`/`0` read as booleans: a one-second max-age is never what anyone meant.
        return Ok(enabled.then_some(HSTS_DEFAULT_MAX_AGE));
    }
    v.parse::<u64>().map(Some).map_err(|_| {
        format!("invalid HSTS setting {v:?} (expected true, false or a max-age in seconds)")
    })
}

pub(super) fn parse_origins(v: &str) -> Result<CorsOrigins, String> {
    let origins: Vec<&str> = v
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    if origins == ["*"] {
        return Ok(CorsOrigins::Any);
    }
    if origins.contains(&"*") {
        return Err("\"*\" cannot be combined with other origins".to_owned());
    }
    for origin in &origins {
        check_origin(origin)?;
    }
    Ok(CorsOrigins::List(
        origins.into_iter().map(str::to_owned).collect(),
    ))
}

/// An origin is `scheme://host[:port]`, exactly as browsers send it in `Origin`: a trailing
/// slash or a path would never match, so it is refused here rather than silently ignored.
pub(super) fn check_origin(origin: &str) -> Result<(), String> {
    let error =
        || format!("invalid origin {origin:?} (expected scheme://host[:port], without a path)");
    let rest = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .ok_or_else(error)?;
    if rest.is_empty() || rest.contains(['/', '?', '#', ' ']) {
        return Err(error());
    }
    HeaderValue::from_str(origin).map_err(|_| error())?;
    Ok(())
}
