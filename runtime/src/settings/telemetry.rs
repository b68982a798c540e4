//! The tracing exporter's settings: OpenTelemetry's standard variables (`OTEL_*`), each with a
//! `CMMV_OTEL_*` twin that wins when both are set, so that a platform's injected `OTEL_*`
//! values can be overridden for one service. Export is off unless an endpoint is configured.

use super::read::RawSettings;
use super::*;
use crate::telemetry::{Sampler, TelemetrySettings};

/// Takes the first of `keys` that is set, in order.
fn first(
    raw: &mut RawSettings,
    keys: &[&'static str],
) -> Option<(&'static str, String, read::Origin)> {
    let mut found = None;
    // Every key is taken, so that a losing twin does not end up among the unknown settings.
    for &key in keys {
        if let Some((value, origin)) = raw.take(key) {
            found.get_or_insert((key, value, origin));
        }
    }
    found
}

fn parse_first<T>(
    raw: &mut RawSettings,
    keys: &[&'static str],
    default: T,
    parse: impl FnOnce(&'static str, &str) -> Result<T, String>,
) -> Result<T, SettingsError> {
    match first(raw, keys) {
        None => Ok(default),
        Some((key, value, origin)) => {
            parse(key, &value).map_err(|message| read::key_error(key, &origin, message))
        }
    }
}

pub(super) fn read(raw: &mut RawSettings) -> Result<TelemetrySettings, SettingsError> {
    let d = TelemetrySettings::default();
    let disabled = parse_first(
        raw,
        &["CMMV_OTEL_DISABLED", "OTEL_SDK_DISABLED"],
        false,
        |_, v| parse_bool(v),
    )?;
    // A list, as the specification has it (`otlp,console`): on when it names `otlp`.
    let exporter_on = parse_first(raw, &["OTEL_TRACES_EXPORTER"], true, |_, v| {
        let names: Vec<String> = v
            .split(',')
            .map(|n| n.trim().to_ascii_lowercase())
            .collect();
        if names.iter().any(|n| n == "otlp") {
            Ok(true)
        } else if names.iter().all(|n| n == "none" || n.is_empty()) {
            Ok(false)
        } else {
            Err(format!(
                "unsupported traces exporter {v:?} (expected otlp or none)"
            ))
        }
    })?;
    let protocol = first(
        raw,
        &[
            "CMMV_OTEL_PROTOCOL",
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ],
    );

    let endpoint = parse_first(
        raw,
        &[
            "CMMV_OTEL_ENDPOINT",
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
        ],
        None,
        |key, v| endpoint(key, v).map(Some),
    )?;
    let headers = parse_first(
        raw,
        &[
            "CMMV_OTEL_HEADERS",
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ],
        Vec::new(),
        |_, v| pairs(v, "header"),
    )?
    .into_iter()
    // Headers carry the collector's credentials: never shown by `Debug`.
    .map(|(name, value)| (name, Secret::new(value)))
    .collect();
    let mut resource = parse_first(
        raw,
        &["CMMV_OTEL_RESOURCE_ATTRIBUTES", "OTEL_RESOURCE_ATTRIBUTES"],
        Vec::new(),
        |_, v| pairs(v, "attribute"),
    )?;
    let named = parse_first(
        raw,
        &["CMMV_OTEL_SERVICE_NAME", "OTEL_SERVICE_NAME"],
        None,
        |_, v| Ok(Some(v.to_owned())),
    )?;
    // The service name outranks a `service.name` among the attributes, as the specification says.
    let from_attributes = resource
        .iter()
        .position(|(key, _)| key == "service.name")
        .map(|at| resource.remove(at).1);
    let service_name = named.or(from_attributes).unwrap_or(d.service_name);
    let sampler_name = first(raw, &["CMMV_OTEL_SAMPLER", "OTEL_TRACES_SAMPLER"]);
    let sampler_arg = first(raw, &["CMMV_OTEL_SAMPLER_ARG", "OTEL_TRACES_SAMPLER_ARG"]);
    let sampler = match sampler_name {
        None => d.sampler,
        Some((key, value, origin)) => sampler(&value, sampler_arg.as_ref().map(|a| a.1.as_str()))
            .map_err(|message| read::key_error(key, &origin, message))?,
    };
    let timeout = parse_first(
        raw,
        &[
            "CMMV_OTEL_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ],
        d.timeout,
        millis_or_duration,
    )?;
    let queue = parse_first(
        raw,
        &["CMMV_OTEL_QUEUE", "OTEL_BSP_MAX_QUEUE_SIZE"],
        d.queue,
        |_, v| parse_count(v, "queue length"),
    )?;
    let batch = parse_first(
        raw,
        &["CMMV_OTEL_BATCH", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE"],
        d.batch,
        |_, v| parse_count(v, "batch size"),
    )?;
    let delay = parse_first(
        raw,
        &["CMMV_OTEL_DELAY", "OTEL_BSP_SCHEDULE_DELAY"],
        d.delay,
        millis_or_duration,
    )?;
    let filter = parse_first(raw, &["CMMV_OTEL_FILTER"], d.filter, |_, v| {
        tracing_subscriber::EnvFilter::try_new(v)
            .map(|_| v.to_owned())
            .map_err(|e| format!("invalid filter {v:?}: {e}"))
    })?;
    let endpoint = endpoint.filter(|_| !disabled && exporter_on);
    // The protocol matters only when something is exported.
    if let (Some(_), Some((key, value, origin))) = (&endpoint, protocol) {
        if value != "http/protobuf" {
            return Err(read::key_error(
                key,
                &origin,
                format!(
                    "unsupported OTLP protocol {value:?} (this build exports http/protobuf only: point it at the collector's HTTP port, 4318)"
                ),
            ));
        }
    }
    Ok(TelemetrySettings {
        endpoint,
        headers,
        service_name,
        resource,
        sampler,
        timeout,
        queue,
        batch: batch.min(queue),
        delay,
        filter,
    })
}

/// A positive time: the standard variables say milliseconds (`OTEL_BSP_SCHEDULE_DELAY=5000`),
/// `CMMV_` ones a duration like every other `CMMV_` setting (`5s`).
fn millis_or_duration(key: &str, v: &str) -> Result<Duration, String> {
    let t = if key.starts_with(ENV_PREFIX) {
        parse_duration(v)?
    } else {
        Duration::from_millis(
            v.parse()
                .map_err(|_| format!("invalid time {v:?} (expected milliseconds)"))?,
        )
    };
    positive(t, t.is_zero())
}

/// An OTLP/HTTP traces URL. The generic variable names the collector's base address, to which
/// the specification appends `/v1/traces`; the signal-specific ones name the URL whole.
fn endpoint(key: &str, v: &str) -> Result<String, String> {
    // Only a masked form is ever shown: the URL may hold a password.
    let valid = (v.starts_with("http://") || v.starts_with("https://"))
        && v.parse::<http::Uri>().is_ok_and(|uri| uri.host().is_some());
    if !valid {
        return Err(format!(
            "invalid OTLP endpoint {:?} (expected an http:// or https:// URL)",
            super::redact_url(v)
        ));
    }
    if key == "OTEL_EXPORTER_OTLP_ENDPOINT" {
        Ok(format!("{}/v1/traces", v.trim_end_matches('/')))
    } else {
        Ok(v.to_owned())
    }
}

/// `key1=value1,key2=value2`, values percent-decoded (the W3C Baggage octets the OpenTelemetry
/// variables use).
fn pairs(v: &str, what: &str) -> Result<Vec<(String, String)>, String> {
    v.split(',')
        .map(str::trim)
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').ok_or_else(|| {
                format!("invalid {what} list: an entry has no `=` (expected key=value,...)")
            })?;
            let key = key.trim();
            if key.is_empty() {
                return Err(format!("invalid {what} list: an entry has an empty key"));
            }
            let value = percent_encoding::percent_decode_str(value.trim())
                .decode_utf8()
                .map_err(|_| format!("invalid {what} list: the value of {key:?} is not UTF-8"))?;
            Ok((key.to_owned(), value.into_owned()))
        })
        .collect()
}

/// The specification's sampler names.
fn sampler(name: &str, arg: Option<&str>) -> Result<Sampler, String> {
    let ratio = || match arg {
        None => Ok(1.0),
        Some(a) => match a.trim().parse::<f64>() {
            Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
            _ => Err(format!(
                "invalid sampler argument {a:?} (expected a ratio from 0 to 1)"
            )),
        },
    };
    Ok(match name.to_ascii_lowercase().as_str() {
        "always_on" => Sampler::AlwaysOn,
        "always_off" => Sampler::AlwaysOff,
        "traceidratio" => Sampler::Ratio(ratio()?),
        "parentbased_always_on" => Sampler::ParentBased(Box::new(Sampler::AlwaysOn)),
        "parentbased_always_off" => Sampler::ParentBased(Box::new(Sampler::AlwaysOff)),
        "parentbased_traceidratio" => Sampler::ParentBased(Box::new(Sampler::Ratio(ratio()?))),
        _ => {
            return Err(format!(
                "unsupported sampler {name:?} (expected always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off or parentbased_traceidratio)"
            ));
        }
    })
}

#[cfg(test)]
mod tests {
    use crate::Settings;
    use crate::telemetry::Sampler;

    fn telemetry(pairs: &[(&str, &str)]) -> crate::telemetry::TelemetrySettings {
        Settings::from_pairs(pairs.iter().copied())
            .expect("valid settings")
            .telemetry
    }

    fn error(pairs: &[(&str, &str)]) -> String {
        Settings::from_pairs(pairs.iter().copied())
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn off_unless_an_endpoint_is_set() {
        assert_eq!(telemetry(&[]).endpoint, None);
        assert_eq!(
            telemetry(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")]).endpoint,
            Some("http://collector:4318/v1/traces".to_owned())
        );
        assert_eq!(
            telemetry(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318"),
                (
                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                    "http://traces:4318/custom"
                ),
            ])
            .endpoint,
            Some("http://traces:4318/custom".to_owned())
        );
        for off in [
            ("OTEL_SDK_DISABLED", "true"),
            ("OTEL_TRACES_EXPORTER", "none"),
        ] {
            assert_eq!(
                telemetry(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"), off]).endpoint,
                None
            );
        }
    }

    #[test]
    fn cmmv_twins_win_over_the_standard_variables() {
        let settings = telemetry(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://platform:4318"),
            ("CMMV_OTEL_ENDPOINT", "http://mine:4318/v1/traces"),
            ("OTEL_SERVICE_NAME", "platform-name"),
            ("CMMV_OTEL_SERVICE_NAME", "my-name"),
            ("OTEL_TRACES_SAMPLER", "always_on"),
            ("CMMV_OTEL_SAMPLER", "traceidratio"),
            ("CMMV_OTEL_SAMPLER_ARG", "0.25"),
            ("OTEL_EXPORTER_OTLP_TIMEOUT", "250"),
            ("CMMV_OTEL_QUEUE", "16"),
            ("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "64"),
        ]);
        assert_eq!(
            settings.endpoint.as_deref(),
            Some("http://mine:4318/v1/traces")
        );
        assert_eq!(settings.service_name, "my-name");
        assert_eq!(settings.sampler, Sampler::Ratio(0.25));
        assert_eq!(settings.timeout, std::time::Duration::from_millis(250));
        assert_eq!(settings.queue, 16);
        // A batch never exceeds the queue.
        assert_eq!(settings.batch, 16);
    }

    #[test]
    fn resource_attributes_and_headers_are_read_and_headers_stay_secret() {
        let settings = Settings::from_pairs([
            (
                "OTEL_RESOURCE_ATTRIBUTES",
                "service.name=from-attributes,deployment.environment.name=prod%20eu",
            ),
            (
                "OTEL_EXPORTER_OTLP_HEADERS",
                "authorization=Bearer%20collector-secret-31,x-tenant=a",
            ),
        ])
        .expect("valid settings");
        let telemetry = &settings.telemetry;
        assert_eq!(telemetry.service_name, "from-attributes");
        assert_eq!(
            telemetry.resource,
            vec![(
                "deployment.environment.name".to_owned(),
                "prod eu".to_owned()
            )]
        );
        assert_eq!(
            telemetry.headers[0].1.expose(),
            "Bearer collector-secret-31"
        );
        assert!(!format!("{settings:?}").contains("collector-secret-31"));
        // `OTEL_*` variables are no unknown `CMMV_*` settings.
        assert!(settings.extra.is_empty());
    }

    #[test]
    fn bad_values_name_their_variable() {
        let grpc = error(&[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
        ]);
        // Without an endpoint nothing is exported, and the protocol does not matter.
        assert_eq!(
            telemetry(&[("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")]).endpoint,
            None
        );
        assert!(
            telemetry(&[
                ("OTEL_TRACES_EXPORTER", "otlp,console"),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ])
            .endpoint
            .is_some()
        );
        let unparsable = error(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://user:s3cr^t@collector:4318",
        )]);
        assert!(!unparsable.contains("s3cr^t"), "{unparsable}");
        assert!(
            grpc.contains("OTEL_EXPORTER_OTLP_PROTOCOL") && grpc.contains("4318"),
            "{grpc}"
        );
        let sampler = error(&[("OTEL_TRACES_SAMPLER", "sometimes")]);
        assert!(sampler.contains("OTEL_TRACES_SAMPLER"), "{sampler}");
        let ratio = error(&[
            ("OTEL_TRACES_SAMPLER", "traceidratio"),
            ("OTEL_TRACES_SAMPLER_ARG", "2"),
        ]);
        assert!(ratio.contains("ratio"), "{ratio}");
        let endpoint = error(&[("CMMV_OTEL_ENDPOINT", "collector:4318")]);
        assert!(endpoint.contains("CMMV_OTEL_ENDPOINT"), "{endpoint}");
        let password = error(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://user:hunter2-pw@c")]);
        assert!(!password.contains("hunter2-pw"), "{password}");
        let headers = error(&[("OTEL_EXPORTER_OTLP_HEADERS", "novalue")]);
        assert!(headers.contains("OTEL_EXPORTER_OTLP_HEADERS"), "{headers}");
    }

    #[test]
    fn settings_debug_hides_url_passwords_and_unknown_values() {
        let settings = Settings::from_pairs([
            ("CMMV_DATABASE_URL", "postgres://app:db-password-77@db/app"),
            ("CMMV_REDIS_URL", "redis://:redis-password-88@cache:6379"),
            ("CMMV_PAYMENTS_TOKEN", "component-token-99"),
        ])
        .expect("valid settings");
        let shown = format!("{settings:?}");
        for secret in ["db-password-77", "redis-password-88", "component-token-99"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("postgres://app:***@db/app"));
        assert!(shown.contains("CMMV_PAYMENTS_TOKEN"));
    }

    #[test]
    fn url_redaction_finds_every_password() {
        use crate::settings::redact_url;
        assert_eq!(
            redact_url("postgres://app:p@ss/WORD@db:5432/app?sslmode=require"),
            "postgres://app:***@db:5432/app?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://db.internal/app?user=app&password=QUERYPW123"),
            "postgres://db.internal/app?user=app&password=***"
        );
        assert_eq!(
            redact_url("https://user:OTELPW789@collector:4318/v1/traces"),
            "https://user:***@collector:4318/v1/traces"
        );
        assert_eq!(
            redact_url("postgres://app:pa?ss@db/app"),
            "postgres://app:***@db/app"
        );
        assert_eq!(redact_url("sqlite://cmmv.db"), "sqlite://cmmv.db");
        assert_eq!(redact_url("redis://cache:6379/0"), "redis://cache:6379/0");
        let settings = Settings::from_pairs([(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "https://user:OTELPW789@collector:4318",
        )])
        .expect("valid settings");
        assert!(!format!("{settings:?}").contains("OTELPW789"));
    }
}
