//! `CMMV_OAUTH_*`: the identity providers, read and checked at start. A provider is enabled by
//! its client id and secret; every address must be `https` (plain `http` only on a loopback
//! host, for development and tests); a `CMMV_OAUTH_*` key that configures nothing is an error,
//! so that a misspelt key never silently leaves a provider half-configured.

use openidconnect::url::{Host, Url};

use super::read::RawSettings;
use super::*;
use crate::auth::oauth::{OAuthSettings, ProviderKind, ProviderSettings};

const PREFIX: &str = "CMMV_OAUTH_";

/// The built-in providers, by name; any other is an OpenID Connect issuer listed in
/// `CMMV_OAUTH_PROVIDERS`.
const BUILT_IN: [&str; 4] = ["facebook", "github", "google", "microsoft"];

pub(super) fn read(raw: &mut RawSettings) -> Result<OAuthSettings, SettingsError> {
    let d = OAuthSettings::default();
    let generic: Vec<String> = raw.parse("CMMV_OAUTH_PROVIDERS", Vec::new(), |v| {
        v.split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|name| {
                let valid = name.len() <= 32
                    && name.starts_with(|c: char| c.is_ascii_lowercase())
                    && name
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
                if !valid {
                    Err(format!("invalid provider name {name:?} (lowercase letters, digits and `_`, starting with a letter)"))
                } else if BUILT_IN.contains(&name) {
                    Err(format!("`{name}` is built in: configure it with CMMV_OAUTH_{}_CLIENT_ID alone", name.to_ascii_uppercase()))
                } else {
                    Ok(name.to_owned())
                }
            })
            .collect()
    })?;
    let redirect_base = raw.parse("CMMV_OAUTH_REDIRECT_BASE", None, |v| origin(v).map(Some))?;
    let mut settings = OAuthSettings {
        providers: Vec::new(),
        frontend_url: raw.parse("CMMV_OAUTH_FRONTEND_URL", d.frontend_url, |v| {
            address(v).map(Some)
        })?,
        error_url: raw.parse("CMMV_OAUTH_ERROR_URL", d.error_url, |v| {
            address(v).map(Some)
        })?,
        sync_profile: raw.parse("CMMV_OAUTH_SYNC_PROFILE", d.sync_profile, parse_bool)?,
        http_timeout: raw.parse("CMMV_OAUTH_HTTP_TIMEOUT", d.http_timeout, |v| {
            parse_duration(v).and_then(|t| {
                if t.is_zero() || t > Duration::from_secs(60) {
                    Err("must be more than 0 and at most 60s".to_owned())
                } else {
                    Ok(t)
                }
            })
        })?,
        flow_ttl: raw.parse("CMMV_OAUTH_FLOW_TTL", d.flow_ttl, |v| {
            parse_duration(v).and_then(|t| {
                if t < Duration::from_secs(60) || t > Duration::from_secs(3600) {
                    Err("must be between 1m and 1h".to_owned())
                } else {
                    Ok(t)
                }
            })
        })?,
    };
    let names = BUILT_IN
        .iter()
        .map(|n| (*n).to_owned())
        .chain(generic.iter().cloned());
    let mut names: Vec<String> = names.collect();
    names.sort();
    for name in names {
        if let Some(provider) = provider(raw, &name, generic.contains(&name), &redirect_base)? {
            settings.providers.push(provider);
        }
    }
    if let Some(key) = raw.values.keys().find(|k| k.starts_with(PREFIX)) {
        return Err(SettingsError::env(
            key,
            "configures no provider: the built-in ones are GOOGLE, MICROSOFT, GITHUB and FACEBOOK, and others are named in CMMV_OAUTH_PROVIDERS",
        ));
    }
    if !settings.providers.is_empty() && settings.frontend_url.is_none() {
        return Err(SettingsError::env(
            "CMMV_OAUTH_FRONTEND_URL",
            "is required with a provider: a finished sign-in sends the browser there with a one-time code",
        ));
    }
    Ok(settings)
}

/// The provider `name`, when its client id is set.
fn provider(
    raw: &mut RawSettings,
    name: &str,
    generic: bool,
    redirect_base: &Option<String>,
) -> Result<Option<ProviderSettings>, SettingsError> {
    let key = |suffix: &str| format!("{PREFIX}{}_{suffix}", name.to_ascii_uppercase());
    let text = |raw: &mut RawSettings, suffix: &str, default: &str| {
        raw.parse(&key(suffix), default.to_owned(), |v| Ok(v.to_owned()))
    };
    let url = |raw: &mut RawSettings, suffix: &str, default: &str| {
        let parsed = raw.parse(&key(suffix), None, |v| address(v).map(Some))?;
        Ok::<_, SettingsError>(parsed.unwrap_or_else(|| default.to_owned()))
    };
    let kind = match name {
        "google" => ProviderKind::Oidc {
            issuer: url(raw, "ISSUER", "https://accounts.google.com")?,
        },
        "microsoft" => ProviderKind::Microsoft {
            authority: url(raw, "AUTHORITY", "https://login.microsoftonline.com")?,
            tenant: raw.parse(&key("TENANT"), "common".to_owned(), |v| {
                if v.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')) {
                    // Tenant names and ids are case-insensitive; Microsoft's paths are lowercase.
                    Ok(v.to_ascii_lowercase())
                } else {
                    Err(format!("invalid tenant {v:?} (a tenant id, a domain, `common`, `organizations` or `consumers`)"))
                }
            })?,
        },
        "github" => ProviderKind::GitHub {
            web_url: url(raw, "URL", "https://github.com")?,
            api_url: url(raw, "API_URL", "https://api.github.com")?,
        },
        "facebook" => ProviderKind::Facebook {
            web_url: url(raw, "URL", "https://www.facebook.com/v19.0")?,
            graph_url: url(raw, "GRAPH_URL", "https://graph.facebook.com/v19.0")?,
            fields: text(raw, "FIELDS", "id,name,email,picture")?,
        },
        _ => ProviderKind::Oidc {
            issuer: raw
                .parse(&key("ISSUER"), None, |v| address(v).map(Some))?
                .unwrap_or_default(),
        },
    };
    let client_id = raw.take(&key("CLIENT_ID")).map(|(v, _)| v);
    let client_secret = raw.take(&key("CLIENT_SECRET")).map(|(v, _)| Secret::new(v));
    let scopes = raw.parse(&key("SCOPES"), None, |v| {
        Ok(Some(
            v.split([' ', ','])
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        ))
    })?;
    let own_base = raw.parse(&key("REDIRECT_BASE"), None, |v| origin(v).map(Some))?;
    let (client_id, client_secret) = match (client_id, client_secret) {
        (None, None) if !generic => return Ok(None),
        (Some(id), Some(secret)) => (id, secret),
        (None, _) => {
            return Err(SettingsError::env(
                &key("CLIENT_ID"),
                "is required to enable the provider",
            ));
        }
        (Some(_), None) => {
            return Err(SettingsError::env(
                &key("CLIENT_SECRET"),
                "is required with its CLIENT_ID",
            ));
        }
    };
    if let ProviderKind::Oidc { issuer } = &kind {
        if issuer.is_empty() {
            return Err(SettingsError::env(
                &key("ISSUER"),
                "is required: the OpenID Connect issuer whose discovery document configures the provider",
            ));
        }
    }
    let Some(redirect_base) = own_base.or_else(|| redirect_base.clone()) else {
        return Err(SettingsError::env(
            "CMMV_OAUTH_REDIRECT_BASE",
            format!(
                "is required with a provider (or {}): this service's public origin, where the provider redirects back",
                key("REDIRECT_BASE")
            ),
        ));
    };
    let scopes = scopes.unwrap_or_else(|| kind.default_scopes());
    let oidc = matches!(
        kind,
        ProviderKind::Oidc { .. } | ProviderKind::Microsoft { .. }
    );
    if oidc && !scopes.iter().any(|s| s == "openid") {
        return Err(SettingsError::env(
            &key("SCOPES"),
            "must include `openid`: the provider signs in with OpenID Connect",
        ));
    }
    Ok(Some(ProviderSettings {
        name: name.to_owned(),
        kind,
        client_id,
        client_secret,
        scopes,
        redirect_base,
    }))
}

/// An absolute `https` URL without a fragment (`http` on a loopback host).
fn address(v: &str) -> Result<String, String> {
    let url = Url::parse(v).map_err(|e| format!("invalid URL {v:?}: {e}"))?;
    let loopback = match url.host() {
        Some(Host::Domain(domain)) => domain == "localhost",
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => {
            return Err(format!(
                "{v:?} must be https (plain http only on a loopback host)"
            ));
        }
    }
    if url.fragment().is_some() || !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{v:?} must have no fragment and no credentials"));
    }
    Ok(v.to_owned())
}

/// An origin with an optional path prefix, and no query (this service's public address).
fn origin(v: &str) -> Result<String, String> {
    let checked = address(v)?;
    if checked.contains('?') {
        return Err(format!("{v:?} must have no query"));
    }
    Ok(checked.trim_end_matches('/').to_owned())
}
