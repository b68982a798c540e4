//! The providers' protocols: OpenID Connect from a discovery document (Google, Microsoft Entra
//! ID, any issuer) on `openidconnect`, and the OAuth 2.0 providers whose profile comes from
//! an API (GitHub, Facebook) on `oauth2`. Each turns an authorization code into a
//! [`Profile`]; the flow around it (state, cookies, accounts) is `flow.rs`'s.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header;
use oauth2::basic::BasicClient;
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreClientAuthMethod, CoreJsonWebKeySet,
    CoreJwsSigningAlgorithm, CoreProviderMetadata,
};
use openidconnect::{
    AccessTokenHash, AuthType, AuthUrl, AuthorizationCode, ClaimsVerificationError, ClientId,
    ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError,
    TokenResponse, TokenUrl,
};
use serde::Deserialize;

use super::FlowError;
use super::http::{CallError, ProviderClient};
use super::settings::{ProviderKind, ProviderSettings};

/// How long a discovery document and its keys are used before they are read again. Keys are
/// also read again at once when a token names a key the set lacks: a provider rotating its
/// keys is followed without waiting. That costs one read per such callback at most, and a
/// callback needs a live one-time flow and the provider's own token answer, so nobody can make
/// the service read keys at will.
const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// Who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Profile {
    pub(crate) subject: String,
    pub(crate) email: Option<String>,
    pub(crate) email_verified: bool,
    pub(crate) name: Option<String>,
    pub(crate) avatar_url: Option<String>,
}

/// An enabled provider.
#[derive(Debug)]
pub(crate) struct Provider {
    pub(crate) settings: ProviderSettings,
    redirect_uri: RedirectUrl,
    protocol: Protocol,
}

#[derive(Debug)]
enum Protocol {
    Oidc(Oidc),
    GitHub {
        web_url: String,
        api_url: String,
    },
    Facebook {
        web_url: String,
        graph_url: String,
        fields: String,
    },
}

/// What starting a flow needs the flow to keep.
pub(crate) struct Started {
    pub(crate) url: String,
    pub(crate) verifier: String,
    pub(crate) nonce: Option<String>,
}

impl Provider {
    pub(crate) fn new(settings: ProviderSettings) -> Result<Self, String> {
        let callback = format!(
            "{}/auth/oauth/{}/callback",
            settings.redirect_base, settings.name
        );
        let redirect_uri = RedirectUrl::new(callback).map_err(|e| e.to_string())?;
        let protocol = match &settings.kind {
            ProviderKind::Oidc { issuer } => Protocol::Oidc(Oidc::new(issuer, None)),
            ProviderKind::Microsoft { authority, tenant } => Protocol::Oidc(Oidc::new(
                &format!("{}/{tenant}/v2.0", authority.trim_end_matches('/')),
                Some(()),
            )),
            ProviderKind::GitHub { web_url, api_url } => Protocol::GitHub {
                web_url: web_url.trim_end_matches('/').to_owned(),
                api_url: api_url.trim_end_matches('/').to_owned(),
            },
            ProviderKind::Facebook {
                web_url,
                graph_url,
                fields,
            } => Protocol::Facebook {
                web_url: web_url.trim_end_matches('/').to_owned(),
                graph_url: graph_url.trim_end_matches('/').to_owned(),
                fields: fields.clone(),
            },
        };
        Ok(Self {
            settings,
            redirect_uri,
            protocol,
        })
    }

    pub(crate) fn name(&self) -> &str {
        &self.settings.name
    }

    /// The path of the flow's routes as the browser sees them: the redirect base's own path
    /// (a service behind a proxy under `/api`) before `/auth/oauth`, so that the flow cookie
    /// reaches the callback.
    pub(crate) fn cookie_path(&self) -> String {
        let prefix = openidconnect::url::Url::parse(&self.settings.redirect_base)
            .map(|url| url.path().trim_end_matches('/').to_owned())
            .unwrap_or_default();
        format!("{prefix}/auth/oauth")
    }

    fn client_id(&self) -> ClientId {
        ClientId::new(self.settings.client_id.clone())
    }

    fn client_secret(&self) -> ClientSecret {
        ClientSecret::new(self.settings.client_secret.expose().to_owned())
    }

    fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        self.settings.scopes.iter().cloned().map(Scope::new)
    }

    /// The authorization URL of a new flow with `state`: PKCE S256 always, a nonce for
    /// OpenID Connect.
    pub(crate) async fn start(
        &self,
        http: &ProviderClient,
        state: String,
    ) -> Result<Started, FlowError> {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        match &self.protocol {
            Protocol::Oidc(oidc) => {
                let discovered = oidc.discovered(http).await?;
                let client = oidc.client(&discovered, self)?;
                let (url, _, nonce) = client
                    .authorize_url(
                        CoreAuthenticationFlow::AuthorizationCode,
                        move || CsrfToken::new(state),
                        Nonce::new_random,
                    )
                    // `openid` is the crate's to add, once.
                    .add_scopes(self.scopes().filter(|s| s.as_str() != "openid"))
                    .set_pkce_challenge(challenge)
                    .url();
                Ok(Started {
                    url: url.to_string(),
                    verifier: verifier.secret().clone(),
                    nonce: Some(nonce.secret().clone()),
                })
            }
            Protocol::GitHub { web_url, .. } | Protocol::Facebook { web_url, .. } => {
                let authorize = match &self.protocol {
                    Protocol::GitHub { .. } => format!("{web_url}/login/oauth/authorize"),
                    _ => format!("{web_url}/dialog/oauth"),
                };
                let client = BasicClient::new(self.client_id())
                    .set_auth_uri(AuthUrl::new(authorize).map_err(configuration)?)
                    .set_redirect_uri(self.redirect_uri.clone());
                let (url, _) = client
                    .authorize_url(move || CsrfToken::new(state))
                    .add_scopes(self.scopes())
                    .set_pkce_challenge(challenge)
                    .url();
                Ok(Started {
                    url: url.to_string(),
                    verifier: verifier.secret().clone(),
                    nonce: None,
                })
            }
        }
    }

    /// The issuer the provider's redirect may name (RFC 9207 `iss`), when it is one fixed
    /// issuer.
    pub(crate) async fn issuer(&self, http: &ProviderClient) -> Option<String> {
        match &self.protocol {
            Protocol::Oidc(oidc) if !oidc.tenant_template => oidc
                .discovered(http)
                .await
                .ok()
                .map(|d| d.issuer.to_string()),
            _ => None,
        }
    }

    /// Exchanges `code` with the flow's PKCE `verifier`, and reads who signed in: from the
    /// verified ID token (checked against `nonce`), or from the provider's API.
    pub(crate) async fn finish(
        &self,
        http: &ProviderClient,
        code: String,
        verifier: String,
        nonce: Option<String>,
    ) -> Result<Profile, FlowError> {
        let code = AuthorizationCode::new(code);
        let verifier = PkceCodeVerifier::new(verifier);
        match &self.protocol {
            Protocol::Oidc(oidc) => {
                let nonce = nonce.ok_or_else(|| FlowError::InvalidState)?;
                oidc.finish(self, http, code, verifier, &Nonce::new(nonce))
                    .await
            }
            Protocol::GitHub { web_url, api_url } => {
                let token = self
                    .exchange(
                        &ErrorsAsStatus(http),
                        &format!("{web_url}/login/oauth/access_token"),
                        code,
                        verifier,
                    )
                    .await?;
                github_profile(http, api_url, &token).await
            }
            Protocol::Facebook {
                graph_url, fields, ..
            } => {
                let token = self
                    .exchange(
                        http,
                        &format!("{graph_url}/oauth/access_token"),
                        code,
                        verifier,
                    )
                    .await?;
                facebook_profile(http, graph_url, fields, &token).await
            }
        }
    }

    /// The OAuth 2.0 code exchange: the access token.
    async fn exchange<C>(
        &self,
        http: &C,
        token_url: &str,
        code: AuthorizationCode,
        verifier: PkceCodeVerifier,
    ) -> Result<String, FlowError>
    where
        C: for<'c> openidconnect::AsyncHttpClient<'c, Error = CallError>,
    {
        let client = BasicClient::new(self.client_id())
            .set_client_secret(self.client_secret())
            .set_auth_type(AuthType::RequestBody)
            .set_token_uri(TokenUrl::new(token_url.to_owned()).map_err(configuration)?)
            .set_redirect_uri(self.redirect_uri.clone());
        let answer = client
            .exchange_code(code)
            .set_pkce_verifier(verifier)
            .request_async(http)
            .await
            .map_err(token_error)?;
        Ok(answer.access_token().secret().clone())
    }
}

/// A client with the endpoints the code flow uses: authorization and token.
type OidcClient = CoreClient<
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
    oauth2::EndpointNotSet,
>;

/// An OpenID Connect provider and what its discovery document said, kept for an hour.
#[derive(Debug)]
struct Oidc {
    /// `<issuer>/.well-known/openid-configuration`.
    discovery_url: String,
    /// The issuer the settings name, which the document must name too (OpenID Connect
    /// Discovery §4.3); for Microsoft, the document's issuer is taken as it is.
    configured_issuer: Option<String>,
    /// Microsoft's multi-tenant issuers: the document's issuer holds `{tenantid}`, and each
    /// token's issuer names the user's tenant there.
    tenant_template: bool,
    cache: tokio::sync::Mutex<Option<Arc<Discovered>>>,
}

#[derive(Debug)]
struct Discovered {
    issuer: IssuerUrl,
    auth_url: AuthUrl,
    token_url: TokenUrl,
    jwks_uri: openidconnect::JsonWebKeySetUrl,
    keys: CoreJsonWebKeySet,
    /// The token endpoint takes the client's secret in the body, not as Basic auth.
    secret_in_body: bool,
    /// The asymmetric algorithms the provider signs ID tokens with.
    algorithms: Vec<CoreJwsSigningAlgorithm>,
    /// Where the profile is read when the ID token carries no email.
    userinfo: Option<String>,
    read_at: Instant,
}

impl Oidc {
    fn new(issuer: &str, microsoft: Option<()>) -> Self {
        let tenant_template = microsoft.is_some()
            // `consumers` has one fixed issuer (the personal accounts' tenant), not a template.
            && ["common", "organizations"]
                .iter()
                .any(|t| issuer.ends_with(&format!("/{t}/v2.0")));
        Oidc {
            discovery_url: format!(
                "{}/.well-known/openid-configuration",
                issuer.trim_end_matches('/')
            ),
            configured_issuer: microsoft.is_none().then(|| issuer.to_owned()),
            tenant_template,
            cache: tokio::sync::Mutex::new(None),
        }
    }

    /// The discovery document and keys: cached, read again when an hour old (a failed read
    /// keeps the old ones while they last).
    async fn discovered(&self, http: &ProviderClient) -> Result<Arc<Discovered>, FlowError> {
        let mut cache = self.cache.lock().await;
        if let Some(found) = cache
            .as_ref()
            .filter(|d| d.read_at.elapsed() < DISCOVERY_TTL)
        {
            return Ok(Arc::clone(found));
        }
        match self.discover(http).await {
            Ok(fresh) => {
                let fresh = Arc::new(fresh);
                *cache = Some(Arc::clone(&fresh));
                Ok(fresh)
            }
            Err(error) => match cache.as_ref() {
                Some(stale) => {
                    tracing::warn!(%error, url = %self.discovery_url, "provider discovery failed; using the last document read");
                    Ok(Arc::clone(stale))
                }
                None => Err(error),
            },
        }
    }

    async fn discover(&self, http: &ProviderClient) -> Result<Discovered, FlowError> {
        let document = get_json(http, &self.discovery_url, None).await?;
        let metadata: CoreProviderMetadata = serde_json::from_slice(&document)
            .map_err(|e| FlowError::Provider(format!("unreadable discovery document: {e}")))?;
        let issuer = metadata.issuer().clone();
        if let Some(configured) = &self.configured_issuer {
            if issuer.as_str() != configured {
                return Err(FlowError::Provider(format!(
                    "the discovery document names the issuer {:?}, not the configured {configured:?}",
                    issuer.as_str()
                )));
            }
        }
        if self.tenant_template != issuer.as_str().contains("{tenantid}") {
            return Err(FlowError::Provider(format!(
                "unexpected issuer {:?} for this tenant",
                issuer.as_str()
            )));
        }
        let token_url = metadata.token_endpoint().cloned().ok_or_else(|| {
            FlowError::Provider("the discovery document has no token endpoint".into())
        })?;
        let keys = fetch_keys(http, metadata.jwks_uri()).await?;
        let methods = metadata.token_endpoint_auth_methods_supported();
        // Basic auth is the default of RFC 8414 when the document names no method.
        let secret_in_body = methods.is_some_and(|m| {
            !m.contains(&CoreClientAuthMethod::ClientSecretBasic)
                && m.contains(&CoreClientAuthMethod::ClientSecretPost)
        });
        // Keys, never the client secret, sign what we accept: `none` and the HMAC algorithms
        // (which would make the secret a verification key) are left out whatever the
        // document lists.
        let mut algorithms: Vec<CoreJwsSigningAlgorithm> = metadata
            .id_token_signing_alg_values_supported()
            .iter()
            .filter(|alg| {
                !matches!(
                    alg,
                    CoreJwsSigningAlgorithm::None
                        | CoreJwsSigningAlgorithm::HmacSha256
                        | CoreJwsSigningAlgorithm::HmacSha384
                        | CoreJwsSigningAlgorithm::HmacSha512
                )
            })
            .cloned()
            .collect();
        if algorithms.is_empty() {
            algorithms.push(CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256);
        }
        Ok(Discovered {
            issuer,
            auth_url: metadata.authorization_endpoint().clone(),
            token_url,
            jwks_uri: metadata.jwks_uri().clone(),
            keys,
            secret_in_body,
            algorithms,
            userinfo: metadata.userinfo_endpoint().map(|u| u.to_string()),
            read_at: Instant::now(),
        })
    }

    /// Reads the provider's keys again: a token signed with a key the set `stale` lacks.
    /// Concurrent callbacks in the same case share one read.
    async fn refresh_keys(
        &self,
        http: &ProviderClient,
        stale: &Discovered,
    ) -> Result<Arc<Discovered>, FlowError> {
        let mut cache = self.cache.lock().await;
        if let Some(current) = cache.as_ref() {
            if current.read_at > stale.read_at {
                // Read by another callback meanwhile.
                return Ok(Arc::clone(current));
            }
        }
        let keys = fetch_keys(http, &stale.jwks_uri).await?;
        let fresh = Arc::new(Discovered {
            issuer: stale.issuer.clone(),
            auth_url: stale.auth_url.clone(),
            token_url: stale.token_url.clone(),
            jwks_uri: stale.jwks_uri.clone(),
            keys,
            secret_in_body: stale.secret_in_body,
            algorithms: stale.algorithms.clone(),
            userinfo: stale.userinfo.clone(),
            read_at: Instant::now(),
        });
        *cache = Some(Arc::clone(&fresh));
        Ok(fresh)
    }

    fn client(
        &self,
        discovered: &Discovered,
        provider: &Provider,
    ) -> Result<OidcClient, FlowError> {
        let auth_type = if discovered.secret_in_body {
            AuthType::RequestBody
        } else {
            AuthType::BasicAuth
        };
        Ok(CoreClient::new(
            provider.client_id(),
            discovered.issuer.clone(),
            discovered.keys.clone(),
        )
        .set_client_secret(provider.client_secret())
        .set_auth_type(auth_type)
        .set_auth_uri(discovered.auth_url.clone())
        .set_token_uri(discovered.token_url.clone())
        .set_redirect_uri(provider.redirect_uri.clone()))
    }

    async fn finish(
        &self,
        provider: &Provider,
        http: &ProviderClient,
        code: AuthorizationCode,
        verifier: PkceCodeVerifier,
        nonce: &Nonce,
    ) -> Result<Profile, FlowError> {
        let discovered = self.discovered(http).await?;
        let client = self.client(&discovered, provider)?;
        let answer = client
            .exchange_code(code)
            .set_pkce_verifier(verifier)
            .request_async(http)
            .await
            .map_err(token_error)?;
        let id_token = answer
            .id_token()
            .ok_or_else(|| FlowError::Provider("the token answer carries no ID token".into()))?;
        let verify = |client: &OidcClient| {
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs(discovered.algorithms.iter().cloned())
                .require_issuer_match(!self.tenant_template);
            id_token.claims(&verifier, nonce).cloned()
        };
        let (claims, client) = match verify(&client) {
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let fresh = self.refresh_keys(http, &discovered).await?;
                let client = self.client(&fresh, provider)?;
                (verify(&client), client)
            }
            other => (other, client),
        };
        let claims = claims.map_err(|e| FlowError::IdToken(e.to_string()))?;
        if self.tenant_template
            && !tenant_issuer(discovered.issuer.as_str(), claims.issuer().as_str())
        {
            return Err(FlowError::IdToken(format!(
                "issuer {:?} does not fit {:?}",
                claims.issuer().as_str(),
                discovered.issuer.as_str()
            )));
        }
        // OpenID Connect Core §3.1.3.7: when present, `azp` must be this client.
        if let Some(azp) = claims.authorized_party() {
            if azp.as_str() != provider.settings.client_id {
                return Err(FlowError::IdToken(
                    "the authorized party (azp) is another client".into(),
                ));
            }
        }
        // §3.2.2.9: the access token is the one the ID token was issued with.
        if let Some(expected) = claims.access_token_hash() {
            let verifier = client
                .id_token_verifier()
                .set_allowed_algs(discovered.algorithms.iter().cloned());
            let actual = id_token
                .signing_alg()
                .ok()
                .zip(id_token.signing_key(&verifier).ok())
                .and_then(|(alg, key)| {
                    AccessTokenHash::from_token(answer.access_token(), alg, key).ok()
                });
            if actual.as_ref() != Some(expected) {
                return Err(FlowError::IdToken(
                    "the access token does not match at_hash".into(),
                ));
            }
        }
        let profile = Profile {
            subject: claims.subject().as_str().to_owned(),
            email: claims.email().map(|e| e.as_str().to_owned()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            avatar_url: claims
                .picture()
                .and_then(|p| p.get(None))
                .map(|p| p.as_str().to_owned()),
        };
        match (&profile.email, &discovered.userinfo) {
            (None, Some(userinfo)) => {
                userinfo_profile(http, userinfo, answer.access_token().secret(), profile).await
            }
            _ => Ok(profile),
        }
    }
}

/// The profile completed from the UserInfo endpoint (some providers keep the email out of the
/// ID token). Its `sub` must be the ID token's (OpenID Connect Core §5.3.2): an answer about
/// anyone else is refused.
async fn userinfo_profile(
    http: &ProviderClient,
    url: &str,
    token: &str,
    profile: Profile,
) -> Result<Profile, FlowError> {
    #[derive(Deserialize)]
    struct UserInfo {
        sub: String,
        email: Option<String>,
        #[serde(default, deserialize_with = "lenient_bool")]
        email_verified: bool,
        name: Option<String>,
        picture: Option<String>,
    }
    let info: UserInfo = read(&get_json(http, url, Some(token)).await?)?;
    if info.sub != profile.subject {
        return Err(FlowError::IdToken(
            "the UserInfo answer is about another subject".into(),
        ));
    }
    Ok(Profile {
        email_verified: info.email.is_some() && info.email_verified,
        email: info.email,
        name: profile.name.or(info.name),
        avatar_url: profile.avatar_url.or(info.picture),
        subject: profile.subject,
    })
}

/// `true`, `false`, or the strings some providers send instead.
fn lenient_bool<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<bool, D::Error> {
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Bool(b) => b,
        serde_json::Value::String(s) => s.eq_ignore_ascii_case("true"),
        _ => false,
    })
}

/// Whether a token's issuer is Microsoft's `{tenantid}` template with a tenant id in it.
fn tenant_issuer(template: &str, issuer: &str) -> bool {
    let Some((before, after)) = template.split_once("{tenantid}") else {
        return false;
    };
    issuer
        .strip_prefix(before)
        .and_then(|rest| rest.strip_suffix(after))
        .is_some_and(|tenant| {
            tenant.len() == 36 && tenant.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        })
}

async fn fetch_keys(
    http: &ProviderClient,
    uri: &openidconnect::JsonWebKeySetUrl,
) -> Result<CoreJsonWebKeySet, FlowError> {
    let body = get_json(http, uri.as_str(), None).await?;
    serde_json::from_slice(&body)
        .map_err(|e| FlowError::Provider(format!("unreadable key set: {e}")))
}

/// A GET answered with 200 and JSON: the body.
async fn get_json(
    http: &ProviderClient,
    url: &str,
    bearer: Option<&str>,
) -> Result<Vec<u8>, FlowError> {
    let mut request = http::Request::get(url).header(header::ACCEPT, "application/json");
    if let Some(token) = bearer {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let request = request
        .body(Vec::new())
        .map_err(|e| FlowError::Provider(e.to_string()))?;
    let answer = http.send(request).await.map_err(FlowError::from)?;
    if !answer.status().is_success() {
        return Err(FlowError::Provider(format!(
            "{} answered {}",
            url.split('?').next().unwrap_or_default(),
            answer.status()
        )));
    }
    Ok(answer.into_body())
}

async fn github_profile(
    http: &ProviderClient,
    api_url: &str,
    token: &str,
) -> Result<Profile, FlowError> {
    #[derive(Deserialize)]
    struct User {
        id: u64,
        name: Option<String>,
        avatar_url: Option<String>,
    }
    #[derive(Deserialize)]
    struct Email {
        email: String,
        primary: bool,
        verified: bool,
    }
    let user: User = read(&get_json(http, &format!("{api_url}/user"), Some(token)).await?)?;
    let emails: Vec<Email> =
        read(&get_json(http, &format!("{api_url}/user/emails"), Some(token)).await?)?;
    // Only the primary address, and only when GitHub verified it: another listed address may
    // be unverified, and would let its claimant into the account holding it.
    let email = emails.into_iter().find(|e| e.primary && e.verified);
    Ok(Profile {
        subject: user.id.to_string(),
        email_verified: email.is_some(),
        email: email.map(|e| e.email),
        name: user.name,
        avatar_url: user.avatar_url,
    })
}

async fn facebook_profile(
    http: &ProviderClient,
    graph_url: &str,
    fields: &str,
    token: &str,
) -> Result<Profile, FlowError> {
    #[derive(Deserialize)]
    struct Me {
        id: String,
        name: Option<String>,
        email: Option<String>,
        picture: Option<Picture>,
    }
    #[derive(Deserialize)]
    struct Picture {
        data: PictureData,
    }
    #[derive(Deserialize)]
    struct PictureData {
        url: Option<String>,
    }
    let fields: String =
        percent_encoding::utf8_percent_encode(fields, percent_encoding::NON_ALPHANUMERIC).collect();
    let me: Me = read(
        &get_json(
            http,
            &format!("{graph_url}/me?fields={fields}"),
            Some(token),
        )
        .await?,
    )?;
    Ok(Profile {
        subject: me.id,
        // The Graph API says nothing of whether the address was verified: it is taken as
        // unverified, so it never links to an existing account by itself.
        email_verified: false,
        email: me.email,
        name: me.name,
        avatar_url: me.picture.and_then(|p| p.data.url),
    })
}

fn read<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, FlowError> {
    serde_json::from_slice(body)
        .map_err(|e| FlowError::Provider(format!("unreadable profile: {e}")))
}

fn configuration(error: impl std::fmt::Display) -> FlowError {
    FlowError::Provider(format!("misconfigured endpoint: {error}"))
}

fn token_error<E>(error: RequestTokenError<CallError, E>) -> FlowError
where
    E: oauth2::ErrorResponse + std::fmt::Display,
{
    match error {
        RequestTokenError::Request(call) => FlowError::from(call),
        RequestTokenError::ServerResponse(answer) => {
            FlowError::Provider(format!("the token endpoint refused the code: {answer}"))
        }
        RequestTokenError::Parse(error, _) => {
            FlowError::Provider(format!("unreadable token answer: {error}"))
        }
        RequestTokenError::Other(other) => FlowError::Provider(other),
    }
}

/// GitHub answers a refused code with `200 OK` and an `error` member: given to `oauth2` as the
/// `400` RFC 6749 §5.2 prescribes, so that it reads the error instead of failing to find a
/// token.
struct ErrorsAsStatus<'a>(&'a ProviderClient);

impl<'c> openidconnect::AsyncHttpClient<'c> for ErrorsAsStatus<'_> {
    type Error = CallError;
    type Future = std::pin::Pin<
        Box<
            dyn std::future::Future<Output = Result<openidconnect::HttpResponse, CallError>>
                + Send
                + 'c,
        >,
    >;

    fn call(&'c self, request: openidconnect::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let mut answer = self.0.send(request).await?;
            if answer.status() == http::StatusCode::OK {
                let refused = serde_json::from_slice::<serde_json::Value>(answer.body())
                    .is_ok_and(|v| v.get("error").is_some());
                if refused {
                    *answer.status_mut() = http::StatusCode::BAD_REQUEST;
                }
            }
            Ok(answer)
        })
    }
}
