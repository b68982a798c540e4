//! What the OAuth / OpenID Connect sign-in is configured with (`CMMV_OAUTH_*`), read and
//! checked at start by `crate::settings`.

use std::time::Duration;

use crate::settings::Secret;

/// The sign-in with identity providers. No provider configured: the routes answer 404.
#[derive(Debug, Clone, PartialEq)]
pub struct OAuthSettings {
    /// The providers whose client id and secret are set, in the order of their names.
    pub providers: Vec<ProviderSettings>,
    /// Where a finished sign-in sends the browser, with `?code=` (`CMMV_OAUTH_FRONTEND_URL`).
    pub frontend_url: Option<String>,
    /// Where a failed flow sends the browser, with `?error=`; a problem answer when `None`
    /// (`CMMV_OAUTH_ERROR_URL`).
    pub error_url: Option<String>,
    /// Whether each sign-in stores the profile (email, name, picture) the provider gave
    /// (`CMMV_OAUTH_SYNC_PROFILE`, default `true`).
    pub sync_profile: bool,
    /// The time limit of each call to a provider (`CMMV_OAUTH_HTTP_TIMEOUT`, default `10s`).
    pub http_timeout: Duration,
    /// How long a started flow may take to come back (`CMMV_OAUTH_FLOW_TTL`, default `10m`).
    pub flow_ttl: Duration,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        Self {
            providers: Vec::new(),
            frontend_url: None,
            error_url: None,
            sync_profile: true,
            http_timeout: Duration::from_secs(10),
            flow_ttl: Duration::from_secs(600),
        }
    }
}

/// One enabled provider.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderSettings {
    /// Its name in the paths and settings, lowercase (`google`, `okta`).
    pub name: String,
    /// What protocol it speaks and where.
    pub kind: ProviderKind,
    /// `CMMV_OAUTH_<NAME>_CLIENT_ID`.
    pub client_id: String,
    /// `CMMV_OAUTH_<NAME>_CLIENT_SECRET`; never logged.
    pub client_secret: Secret,
    /// `CMMV_OAUTH_<NAME>_SCOPES` (space- or comma-separated), or the provider's defaults.
    pub scopes: Vec<String>,
    /// This service's public origin as the provider redirects back to it
    /// (`CMMV_OAUTH_<NAME>_REDIRECT_BASE`, else `CMMV_OAUTH_REDIRECT_BASE`): the callback is
    /// `<base>/auth/oauth/<name>/callback`, which must be registered with the provider.
    pub redirect_base: String,
}

/// The protocol of a provider, with the addresses it is reached at. The defaults are the
/// providers' public endpoints; each can be pointed elsewhere (GitHub Enterprise, a test
/// double).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderKind {
    /// OpenID Connect, from the issuer's discovery document: Google
    /// (`https://accounts.google.com`), or any issuer named in `CMMV_OAUTH_PROVIDERS`.
    Oidc {
        /// `CMMV_OAUTH_<NAME>_ISSUER`.
        issuer: String,
    },
    /// Microsoft Entra ID (OpenID Connect): `<authority>/<tenant>/v2.0`. With the `common`,
    /// `organizations` or `consumers` tenants the ID token's issuer names the user's own
    /// tenant, checked against the discovery document's `{tenantid}` template.
    Microsoft {
        /// `CMMV_OAUTH_MICROSOFT_AUTHORITY` (default `https://login.microsoftonline.com`).
        authority: String,
        /// `CMMV_OAUTH_MICROSOFT_TENANT` (default `common`).
        tenant: String,
    },
    /// GitHub (OAuth 2.0): the profile from `/user`, the email from `/user/emails` (primary
    /// and verified only).
    GitHub {
        /// `CMMV_OAUTH_GITHUB_URL` (default `https://github.com`).
        web_url: String,
        /// `CMMV_OAUTH_GITHUB_API_URL` (default `https://api.github.com`).
        api_url: String,
    },
    /// Facebook (OAuth 2.0): the profile from the Graph API's `/me`.
    Facebook {
        /// `CMMV_OAUTH_FACEBOOK_URL` (default `https://www.facebook.com/v19.0`).
        web_url: String,
        /// `CMMV_OAUTH_FACEBOOK_GRAPH_URL` (default `https://graph.facebook.com/v19.0`).
        graph_url: String,
        /// `CMMV_OAUTH_FACEBOOK_FIELDS` (default `id,name,email,picture`).
        fields: String,
    },
}

impl ProviderKind {
    /// The scopes asked for when the settings name none.
    pub fn default_scopes(&self) -> Vec<String> {
        let scopes: &[&str] = match self {
            ProviderKind::Oidc { .. } | ProviderKind::Microsoft { .. } => {
                &["openid", "email", "profile"]
            }
            ProviderKind::GitHub { .. } => &["read:user", "user:email"],
            ProviderKind::Facebook { .. } => &["email", "public_profile"],
        };
        scopes.iter().map(|s| (*s).to_owned()).collect()
    }
}
