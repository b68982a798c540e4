//! Reading settings: the file's values and the environment's over them, each raw value
//! remembering where it came from, then parsed key by key into [`Settings`].

use super::*;

/// The prefix of OpenTelemetry's standard variables.
const OTEL_PREFIX: &str = "OTEL_";

/// Where one raw value came from, so that errors can point there.
#[derive(Debug, Clone)]
pub(super) enum Origin {
    Env,
    File(PathBuf),
}

/// A raw value before parsing.
#[derive(Debug, Clone)]
pub(super) struct Raw {
    pub(super) value: String,
    pub(super) origin: Origin,
}

/// Raw values by full variable name (`CMMV_ADDR`), the file's first, the environment's over them.
#[derive(Debug, Default)]
pub(super) struct RawSettings {
    pub(super) values: BTreeMap<String, Raw>,
}

impl RawSettings {
    pub(super) fn add_env<I, K, V>(&mut self, pairs: I)
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (key, value) in pairs {
            let key = key.as_ref();
            // The variable naming the file is not itself a setting. OpenTelemetry's standard
            // variables are read too, for the exporter (`settings/telemetry.rs`).
            if (key.starts_with(ENV_PREFIX) || key.starts_with(OTEL_PREFIX))
                && key != SETTINGS_FILE_VAR
            {
                self.values.insert(
                    key.to_owned(),
                    Raw {
                        value: value.as_ref().to_owned(),
                        origin: Origin::Env,
                    },
                );
            }
        }
    }

    pub(super) fn add_toml(&mut self, path: &Path, text: &str) -> Result<(), SettingsError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| SettingsError::file(path, e.to_string()))?;
        for (key, value) in table {
            let value = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                // Lists are how a file spells the environment's comma lists (`cors_origins`).
                toml::Value::Array(items) => items
                    .iter()
                    .map(|item| match item {
                        toml::Value::String(s) => Ok(s.clone()),
                        _ => Err(()),
                    })
                    .collect::<Result<Vec<_>, ()>>()
                    .map_err(|()| SettingsError {
                        file: Some(path.to_path_buf()),
                        key: Some(key.clone()),
                        message: "expected a list of strings".to_owned(),
                    })?
                    .join(","),
                _ => {
                    return Err(SettingsError {
                        file: Some(path.to_path_buf()),
                        key: Some(key),
                        message: "expected a string, an integer, a boolean or a list of strings"
                            .to_owned(),
                    });
                }
            };
            self.values.insert(
                format!("{ENV_PREFIX}{}", key.to_ascii_uppercase()),
                Raw {
                    value,
                    origin: Origin::File(path.to_path_buf()),
                },
            );
        }
        Ok(())
    }

    /// Takes the value of `key` out, if it is set to something non-empty.
    pub(super) fn take(&mut self, key: &str) -> Option<(String, Origin)> {
        let raw = self.values.remove(key)?;
        let value = raw.value.trim();
        (!value.is_empty()).then(|| (value.to_owned(), raw.origin))
    }

    /// Parses `key` with `parse`, or keeps `default` when it is not set.
    pub(super) fn parse<T>(
        &mut self,
        key: &str,
        default: T,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, SettingsError> {
        match self.take(key) {
            None => Ok(default),
            Some((value, origin)) => {
                parse(&value).map_err(|message| key_error(key, &origin, message))
            }
        }
    }

    pub(super) fn into_settings(mut self) -> Result<Settings, SettingsError> {
        let d = Settings::default();
        let settings = Settings {
            addr: self.parse("CMMV_ADDR", d.addr, |v| {
                v.parse().map_err(|_| {
                    format!("invalid socket address {v:?} (expected e.g. 0.0.0.0:8080)")
                })
            })?,
            database_url: self.parse("CMMV_DATABASE_URL", d.database_url, parse_database_url)?,
            database_max_connections: self.parse(
                "CMMV_DATABASE_MAX_CONNECTIONS",
                d.database_max_connections,
                |v| parse_count(v, "connection count"),
            )?,
            database_timeout: self.parse("CMMV_DATABASE_TIMEOUT", d.database_timeout, |v| {
                parse_duration(v).and_then(|t| positive(t, t.is_zero()))
            })?,
            database_write_queue: self.parse(
                "CMMV_DATABASE_WRITE_QUEUE",
                d.database_write_queue,
                |v| parse_count(v, "queue length"),
            )?,
            database_write_batch: self.parse(
                "CMMV_DATABASE_WRITE_BATCH",
                d.database_write_batch,
                |v| parse_count(v, "batch size"),
            )?,
            redis_url: self.parse("CMMV_REDIS_URL", d.redis_url, parse_redis_url)?,
            log: self.parse("CMMV_LOG", d.log, |v| Ok(v.to_owned()))?,
            log_format: self.parse("CMMV_LOG_FORMAT", d.log_format, |v| {
                match v.to_ascii_lowercase().as_str() {
                    "json" => Ok(LogFormat::Json),
                    "text" => Ok(LogFormat::Text),
                    _ => Err(format!("invalid log format {v:?} (expected json or text)")),
                }
            })?,
            body_limit: self.parse("CMMV_BODY_LIMIT", d.body_limit, |v| {
                parse_size(v).and_then(|size| positive(size, size == 0))
            })?,
            request_timeout: self.parse("CMMV_REQUEST_TIMEOUT", d.request_timeout, |v| {
                parse_duration(v).and_then(|t| positive(t, t.is_zero()))
            })?,
            readiness_timeout: self.parse("CMMV_READINESS_TIMEOUT", d.readiness_timeout, |v| {
                parse_duration(v).and_then(|t| positive(t, t.is_zero()))
            })?,
            shutdown_delay: self.parse("CMMV_SHUTDOWN_DELAY", d.shutdown_delay, parse_duration)?,
            shutdown_deadline: self.parse(
                "CMMV_SHUTDOWN_DEADLINE",
                d.shutdown_deadline,
                parse_duration,
            )?,
            cors: Cors {
                origins: self.parse("CMMV_CORS_ORIGINS", d.cors.origins, parse_origins)?,
                credentials: self.parse("CMMV_CORS_CREDENTIALS", d.cors.credentials, parse_bool)?,
            },
            hsts_max_age: self.parse("CMMV_HSTS", d.hsts_max_age, parse_hsts)?,
            sunset_gone: self.parse("CMMV_SUNSET_GONE", d.sunset_gone, parse_bool)?,
            rate_limit: RateLimitSettings {
                enabled: self.parse("CMMV_RATE_LIMIT", d.rate_limit.enabled, parse_bool)?,
                trusted_proxies: self.parse(
                    "CMMV_TRUSTED_PROXIES",
                    d.rate_limit.trusted_proxies,
                    |v| {
                        v.split(',')
                            .map(str::trim)
                            .filter(|block| !block.is_empty())
                            .map(str::parse)
                            .collect()
                    },
                )?,
                proxy_header: self.parse(
                    "CMMV_TRUSTED_PROXY_HEADER",
                    d.rate_limit.proxy_header,
                    str::parse,
                )?,
                client_blocks: crate::ratelimit::ClientBlocks {
                    ipv4_prefix: self.parse(
                        "CMMV_RATE_LIMIT_IPV4_PREFIX",
                        d.rate_limit.client_blocks.ipv4_prefix,
                        |v| prefix_length(v, 32),
                    )?,
                    ipv6_prefix: self.parse(
                        "CMMV_RATE_LIMIT_IPV6_PREFIX",
                        d.rate_limit.client_blocks.ipv6_prefix,
                        |v| prefix_length(v, 128),
                    )?,
                },
                fail_mode: self.parse(
                    "CMMV_RATE_LIMIT_FAIL",
                    d.rate_limit.fail_mode,
                    str::parse,
                )?,
                timeout: self.parse("CMMV_RATE_LIMIT_TIMEOUT", d.rate_limit.timeout, |v| {
                    parse_duration(v).and_then(|t| positive(t, t.is_zero()))
                })?,
                legacy_headers: self.parse(
                    "CMMV_RATE_LIMIT_LEGACY_HEADERS",
                    d.rate_limit.legacy_headers,
                    parse_bool,
                )?,
                max_keys: self.parse(
                    "CMMV_RATE_LIMIT_MAX_KEYS",
                    d.rate_limit.max_keys,
                    |v| match v.parse::<usize>() {
                        Ok(n) if n > 0 => Ok(n),
                        _ => Err(format!(
                            "invalid key count {v:?} (expected a positive integer)"
                        )),
                    },
                )?,
            },
            jwt: JwtSettings {
                issuer: self.parse("CMMV_JWT_ISSUER", d.jwt.issuer, |v| Ok(Some(v.to_owned())))?,
                audience: self.parse("CMMV_JWT_AUDIENCE", d.jwt.audience, |v| {
                    Ok(v.split(',')
                        .map(str::trim)
                        .filter(|a| !a.is_empty())
                        .map(str::to_owned)
                        .collect())
                })?,
                hs256_secret: self.parse("CMMV_JWT_HS256_SECRET", d.jwt.hs256_secret, |v| {
                    check_secret(v).map(|()| Some(Secret::new(v)))
                })?,
                hs256_kid: self
                    .parse("CMMV_JWT_HS256_KID", d.jwt.hs256_kid, |v| Ok(v.to_owned()))?,
                keys: self.parse("CMMV_JWT_KEYS", d.jwt.keys, |v| Ok(Some(PathBuf::from(v))))?,
                leeway: self.parse("CMMV_JWT_LEEWAY", d.jwt.leeway, |v| {
                    parse_duration(v).and_then(check_leeway)
                })?,
                roles_claim: self.parse("CMMV_JWT_ROLES_CLAIM", d.jwt.roles_claim, |v| {
                    Ok(v.to_owned())
                })?,
            },
            auth: AuthSettings {
                signing_key: self.parse("CMMV_JWT_SIGNING_KEY", d.auth.signing_key, |v| {
                    Ok(Some(PathBuf::from(v)))
                })?,
                signing_kid: self.parse("CMMV_JWT_SIGNING_KID", d.auth.signing_kid, |v| {
                    Ok(Some(v.to_owned()))
                })?,
                access_ttl: self.parse("CMMV_AUTH_ACCESS_TTL", d.auth.access_ttl, |v| {
                    parse_duration(v).and_then(check_access_ttl)
                })?,
                refresh_ttl: self.parse("CMMV_AUTH_REFRESH_TTL", d.auth.refresh_ttl, |v| {
                    parse_duration(v).and_then(|t| positive(t, t.as_secs() == 0))
                })?,
                default_roles: self.parse(
                    "CMMV_AUTH_DEFAULT_ROLES",
                    d.auth.default_roles,
                    |v| {
                        Ok(v.split(',')
                            .map(str::trim)
                            .filter(|r| !r.is_empty())
                            .map(str::to_owned)
                            .collect())
                    },
                )?,
                password_min_length: self.parse(
                    "CMMV_AUTH_PASSWORD_MIN_LENGTH",
                    d.auth.password_min_length,
                    |v| {
                        v.parse()
                            .map_err(|_| format!("invalid length {v:?} (expected an integer)"))
                            .and_then(check_password_min_length)
                    },
                )?,
                registration: self.parse(
                    "CMMV_AUTH_REGISTRATION",
                    d.auth.registration,
                    str::parse,
                )?,
                confirmation_ttl: self.parse(
                    "CMMV_AUTH_CONFIRMATION_TTL",
                    d.auth.confirmation_ttl,
                    |v| parse_duration(v).and_then(|t| positive(t, t.as_secs() == 0)),
                )?,
                session_ttl: self.parse("CMMV_AUTH_SESSION_TTL", d.auth.session_ttl, |v| {
                    parse_duration(v).and_then(|t| positive(t, t.as_secs() == 0))
                })?,
            },
            oauth: super::oauth::read(&mut self)?,
            telemetry: super::telemetry::read(&mut self)?,
            cursor_secret: self.parse("CMMV_CURSOR_SECRET", d.cursor_secret, |v| {
                check_secret(v).map(|()| Some(Secret::new(v)))
            })?,
            // `OTEL_*` variables the exporter does not read belong to other tools.
            extra: self
                .values
                .into_iter()
                .filter(|(key, _)| key.starts_with(ENV_PREFIX))
                .map(|(key, raw)| (key, raw.value))
                .collect(),
        };
        // The cross-key checks run on the parsed values, so they name the variable.
        settings.validate()?;
        Ok(settings)
    }
}

pub(super) fn key_error(key: &str, origin: &Origin, message: String) -> SettingsError {
    match origin {
        Origin::Env => SettingsError::env(key, message),
        Origin::File(path) => SettingsError {
            file: Some(path.clone()),
            key: Some(key.trim_start_matches(ENV_PREFIX).to_ascii_lowercase()),
            message,
        },
    }
}
