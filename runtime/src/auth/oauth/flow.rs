//! The login module's routes under `/auth/oauth` and `/auth/identities`: starting a flow,
//! its callback, the exchange of the callback's code, linking and unlinking identities (see
//! the module's documentation for the rules).

use serde::{Deserialize, Serialize};

use super::provider::{Profile, Provider};
use super::{FlowError, OAuth};
use crate::auth::Principal;
use crate::auth::audit::{self, AuditEvent, Details};
use crate::auth::contract;
use crate::auth::issuer::unix_now_i64;
use crate::auth::login::{Shared, new_user, start_session, with_bearer};
use crate::auth::secret::{constant_time_eq, random_hex, sha256_hex};
use crate::auth::store::{Identity, NewGrant, Unlink, User, normalize_email};
use crate::extract::{Context, Cookies};
use crate::problem::Problem;
use crate::respond::{Redirect, SetCookie};
use crate::store::StoreError;
use crate::types::DateTime;

/// The cookie that binds a flow to the browser that started it.
pub(crate) const FLOW_COOKIE: &str = "cmmv_oauth";

/// How long the front end has to exchange the callback's code, and a browser to follow a link
/// ticket: each is one step away.
const EXCHANGE_TTL: i64 = 60;
const LINK_TTL: i64 = 60;

const FLOW: &str = "oauth_flow";
const EXCHANGE: &str = "oauth_exchange";
const LINK: &str = "oauth_link";
const LINK_CONFIRM: &str = "oauth_link_confirm";

/// 256 bits for every secret of a flow: state, browser binding, codes and tickets.
const SECRET_BYTES: usize = 32;

/// A flow in progress, kept under the hash of its `state`.
#[derive(Serialize, Deserialize)]
struct Flow {
    provider: String,
    /// The PKCE verifier the code is exchanged with.
    verifier: String,
    /// The OpenID Connect nonce the ID token must carry.
    nonce: Option<String>,
    /// SHA-256 of the browser's `cmmv_oauth` cookie.
    browser: String,
    /// The account to link the identity to, in a link flow.
    link_to: Option<String>,
}

/// What the front end's code is exchanged for.
#[derive(Serialize, Deserialize)]
struct Exchange {
    user_id: String,
    provider: String,
    /// SHA-256 of the flow's browser cookie: the code is exchanged only in the browser that
    /// ran the flow (login CSRF: an attacker's code planted in a victim's front end is
    /// refused there).
    browser: String,
}

/// An identity a link flow brought back, waiting for the account holder to confirm it with
/// their bearer token (`POST /auth/oauth/link/confirm`): a link ticket opened in someone
/// else's browser must not link *their* identity to the account that asked.
#[derive(Serialize, Deserialize)]
struct PendingLink {
    user_id: String,
    browser: String,
    provider: String,
    subject: String,
    email: Option<String>,
    email_verified: bool,
    name: Option<String>,
    avatar_url: Option<String>,
}

/// A link flow's ticket, from `POST /auth/oauth/{provider}/link` to the browser's start.
#[derive(Serialize, Deserialize)]
struct LinkTicket {
    provider: String,
    user_id: String,
}

/// How a callback ended well.
enum Done {
    /// Signed in: the code the front end exchanges.
    SignedIn(String),
    /// An identity to link: the code the account holder confirms.
    Link(String),
}

fn enabled(shared: &Shared) -> Result<&OAuth, Problem> {
    shared
        .oauth
        .as_ref()
        .ok_or_else(|| Problem::not_found("no identity provider is enabled"))
}

fn secret() -> Result<String, Problem> {
    random_hex(SECRET_BYTES).ok_or_else(|| {
        tracing::error!("the system's random number generator failed");
        Problem::unavailable("the server cannot start a sign-in right now; retry later")
    })
}

fn storage(error: StoreError) -> Problem {
    error.into_problem("identity", None)
}

/// `url` with `name=value` added to its query.
fn with_query(url: &str, name: &str, value: &str) -> String {
    // RFC 3986 §2.3: the unreserved characters stay as they are.
    const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let separator = if url.contains('?') { '&' } else { '?' };
    let value: String = percent_encoding::utf8_percent_encode(value, QUERY_VALUE).collect();
    format!("{url}{separator}{name}={value}")
}

/// Keeps a one-time grant of `kind`, redeemed by `secret`, holding `payload` for `ttl` seconds.
async fn put(
    shared: &Shared,
    kind: &str,
    secret: &str,
    payload: &impl Serialize,
    ttl: i64,
) -> Result<(), StoreError> {
    // Plain structs of strings: serializing them cannot fail.
    let payload = serde_json::to_string(payload).unwrap_or_default();
    shared
        .store
        .put_grant(NewGrant {
            hash: sha256_hex(secret),
            kind: kind.to_owned(),
            payload,
            expires_at: unix_now_i64().saturating_add(ttl),
        })
        .await
}

/// Spends the grant of `kind` redeemed by `secret`: what it holds, when it was live.
async fn take<T: for<'de> Deserialize<'de>>(
    shared: &Shared,
    kind: &str,
    secret: &str,
) -> Result<Option<T>, StoreError> {
    let payload = shared
        .store
        .take_grant(kind, &sha256_hex(secret), unix_now_i64())
        .await?;
    Ok(payload.and_then(|p| serde_json::from_str(&p).ok()))
}

pub(crate) fn list_providers(shared: &Shared) -> contract::OAuthProviderList {
    let items = match &shared.oauth {
        Some(oauth) => oauth
            .inner
            .providers
            .values()
            .map(|p| contract::OAuthProvider {
                name: p.name().to_owned(),
                start_url: start_url(p),
            })
            .collect(),
        None => Vec::new(),
    };
    contract::OAuthProviderList { items }
}

fn start_url(provider: &Provider) -> String {
    format!(
        "{}/auth/oauth/{}/start",
        provider.settings.redirect_base,
        provider.name()
    )
}

pub(crate) async fn start(
    shared: &Shared,
    provider: &str,
    link: Option<String>,
) -> Result<Redirect, Problem> {
    let oauth = enabled(shared)?;
    let provider = oauth.provider(provider)?;
    let link_to = match link {
        Some(ticket) => match take::<LinkTicket>(shared, LINK, &ticket)
            .await
            .map_err(storage)?
        {
            Some(t) if t.provider == provider.name() => Some(t.user_id),
            _ => {
                return Err(Problem::bad_request(
                    "the link ticket is unknown, expired, spent, or for another provider",
                ));
            }
        },
        None => None,
    };
    let state = secret()?;
    let browser = secret()?;
    let started = provider
        .start(&oauth.inner.http, state.clone())
        .await
        .map_err(FlowError::into_problem)?;
    let flow = Flow {
        provider: provider.name().to_owned(),
        verifier: started.verifier,
        nonce: started.nonce,
        browser: sha256_hex(&browser),
        link_to,
    };
    let ttl = i64::try_from(oauth.inner.settings.flow_ttl.as_secs()).unwrap_or(600);
    put(shared, FLOW, &state, &flow, ttl)
        .await
        .map_err(storage)?;
    Ok(Redirect::to(started.url).with_cookie(
        SetCookie::new(FLOW_COOKIE, browser)
            .path(provider.cookie_path())
            .max_age(ttl),
    ))
}

pub(crate) async fn callback(
    shared: &Shared,
    ctx: &Context,
    provider: &str,
    query: contract::AccountOauthCallbackQuery,
    cookies: &Cookies,
) -> Result<Redirect, Problem> {
    let oauth = enabled(shared)?;
    let provider = oauth.provider(provider)?;
    let settings = &oauth.inner.settings;
    let spent_cookie = SetCookie::removal(FLOW_COOKIE).path(provider.cookie_path());
    let frontend = settings.frontend_url.as_deref().unwrap_or("/");
    // On success the cookie stays (until its flow's time is up): the code is redeemed in this
    // browser only.
    match finish(shared, oauth, provider, ctx, query, cookies).await {
        Ok(Done::SignedIn(code)) => Ok(Redirect::to(with_query(frontend, "code", &code))),
        Ok(Done::Link(code)) => Ok(Redirect::to(with_query(frontend, "link", &code))),
        Err(error) => {
            audit::record_details(
                AuditEvent::ProviderSignInFailed,
                ctx,
                Details {
                    provider: Some(provider.name()),
                    reason: Some(error.code()),
                    ..Details::default()
                },
            );
            match &settings.error_url {
                Some(url) => {
                    Ok(Redirect::to(with_query(url, "error", error.code()))
                        .with_cookie(spent_cookie))
                }
                None => Err(error.into_problem()),
            }
        }
    }
}

async fn finish(
    shared: &Shared,
    oauth: &OAuth,
    provider: &Provider,
    ctx: &Context,
    query: contract::AccountOauthCallbackQuery,
    cookies: &Cookies,
) -> Result<Done, FlowError> {
    let state = query.state.ok_or(FlowError::InvalidState)?;
    // Spent before anything else: whatever happens next, this state never works again.
    let flow: Flow = take(shared, FLOW, &state)
        .await?
        .ok_or(FlowError::InvalidState)?;
    if flow.provider != provider.name() || !same_browser(cookies, &flow.browser) {
        return Err(FlowError::InvalidState);
    }
    if let Some(error) = query.error {
        return Err(if error == "access_denied" {
            FlowError::AccessDenied
        } else {
            FlowError::Provider(format!("the authorization endpoint answered `{error}`"))
        });
    }
    // RFC 9207: a redirect naming an issuer must name this provider's (mix-up defence).
    if let Some(iss) = &query.iss {
        if let Some(expected) = provider.issuer(&oauth.inner.http).await {
            if *iss != expected {
                return Err(FlowError::InvalidRequest(
                    "the redirect names another issuer than the provider's",
                ));
            }
        }
    }
    let code = query.code.ok_or(FlowError::InvalidRequest(
        "the provider's redirect carries no authorization code",
    ))?;
    let profile = provider
        .finish(&oauth.inner.http, code, flow.verifier, flow.nonce)
        .await?;
    let now = unix_now_i64();
    let identity = identity_of(provider.name(), &profile, now);
    let details = |user_id| Details {
        user_id: Some(user_id),
        provider: Some(provider.name()),
        ..Details::default()
    };
    if let Some(to) = flow.link_to {
        let pending = PendingLink {
            user_id: to,
            browser: flow.browser,
            provider: identity.provider,
            subject: identity.subject,
            email: identity.email,
            email_verified: identity.email_verified,
            name: identity.name,
            avatar_url: identity.avatar_url,
        };
        return Ok(Done::Link(
            issue(shared, LINK_CONFIRM, &pending, EXCHANGE_TTL).await?,
        ));
    }
    let user = match shared
        .store
        .identity(provider.name(), &profile.subject)
        .await?
    {
        Some(known) => {
            let seen = if oauth.inner.settings.sync_profile {
                Identity {
                    user_id: known.user_id.clone(),
                    linked_at: known.linked_at,
                    ..identity
                }
            } else {
                Identity {
                    last_login_at: now,
                    ..known.clone()
                }
            };
            shared.store.touch_identity(seen).await?;
            shared
                .store
                .user(&known.user_id)
                .await?
                .ok_or(FlowError::Store(StoreError::NotFound))?
        }
        None => {
            let email = identity.email.clone().ok_or(FlowError::EmailMissing)?;
            match shared.store.user_by_email(&email).await? {
                // Linked by email only when both sides proved the address (see the module).
                Some(existing)
                    if identity.email_verified
                        && existing.user.email_verified
                        && existing.user.confirmed =>
                {
                    let user = existing.user;
                    link(
                        shared,
                        Identity {
                            user_id: user.id.clone(),
                            ..identity
                        },
                    )
                    .await?;
                    audit::record_details(AuditEvent::IdentityLinked, ctx, details(&user.id));
                    user
                }
                Some(_) => return Err(FlowError::AccountExists),
                None => create(shared, email, identity, now).await?,
            }
        }
    };
    if !user.confirmed {
        return Err(FlowError::AccountExists);
    }
    let exchange = Exchange {
        user_id: user.id.clone(),
        provider: provider.name().to_owned(),
        browser: flow.browser,
    };
    Ok(Done::SignedIn(
        issue(shared, EXCHANGE, &exchange, EXCHANGE_TTL).await?,
    ))
}

/// A new one-time grant of `kind` holding `payload` for `ttl` seconds: its secret.
async fn issue(
    shared: &Shared,
    kind: &str,
    payload: &impl Serialize,
    ttl: i64,
) -> Result<String, FlowError> {
    let secret = random_hex(SECRET_BYTES)
        .ok_or_else(|| FlowError::Provider("the system's randomness failed".into()))?;
    put(shared, kind, &secret, payload, ttl).await?;
    Ok(secret)
}

fn identity_of(provider: &str, profile: &Profile, now: i64) -> Identity {
    Identity {
        provider: provider.to_owned(),
        subject: profile.subject.clone(),
        user_id: String::new(),
        email: profile.email.as_deref().and_then(normalize_email),
        email_verified: profile.email_verified,
        name: profile.name.clone(),
        avatar_url: profile.avatar_url.clone(),
        linked_at: now,
        last_login_at: now,
    }
}

async fn link(shared: &Shared, identity: Identity) -> Result<(), FlowError> {
    match shared.store.link_identity(identity).await {
        Ok(()) => Ok(()),
        // Linked by a concurrent flow a moment ago.
        Err(StoreError::Conflict { .. }) => Err(FlowError::IdentityInUse),
        Err(other) => Err(other.into()),
    }
}

/// A new account made from `identity`: no password, the default roles, its email proven when
/// the provider asserted it verified.
async fn create(
    shared: &Shared,
    email: String,
    identity: Identity,
    now: i64,
) -> Result<User, FlowError> {
    let mut user = new_user(shared, email, None, now, None);
    user.email_verified = identity.email_verified;
    user.identity = Some(Identity {
        user_id: user.id.clone(),
        ..identity
    });
    match shared.store.create_user(user).await {
        Ok(user) => Ok(user),
        Err(StoreError::Conflict { field }) if field == "email" => Err(FlowError::AccountExists),
        Err(StoreError::Conflict { .. }) => Err(FlowError::IdentityInUse),
        Err(other) => Err(other.into()),
    }
}

/// Whether `cookies` hold the browser secret whose hash a grant keeps.
fn same_browser(cookies: &Cookies, browser: &str) -> bool {
    let presented = cookies.get(FLOW_COOKIE).map(sha256_hex).unwrap_or_default();
    constant_time_eq(&presented, browser)
}

pub(crate) async fn exchange(
    shared: &Shared,
    ctx: &Context,
    code: &str,
    cookies: &Cookies,
) -> Result<contract::Tokens, Problem> {
    let refused = || {
        Problem::bad_request(
            "the code is unknown, expired, already used, or from a sign-in in another browser",
        )
    };
    let exchange: Exchange = take(shared, EXCHANGE, code)
        .await
        .map_err(storage)?
        .filter(|e: &Exchange| same_browser(cookies, &e.browser))
        .ok_or_else(refused)?;
    let user = shared
        .store
        .user(&exchange.user_id)
        .await
        .map_err(storage)?
        .ok_or_else(refused)?;
    let tokens = start_session(shared, &user, &ctx.client).await?;
    audit::record_details(
        AuditEvent::SignedIn,
        ctx,
        Details {
            user_id: Some(&user.id),
            provider: Some(&exchange.provider),
            ..Details::default()
        },
    );
    Ok(tokens)
}

fn managing_identities(ctx: &Context) -> Result<&Principal, Problem> {
    with_bearer(ctx, "identities")
}

pub(crate) async fn link_start(
    shared: &Shared,
    ctx: &Context,
    provider: &str,
) -> Result<contract::OAuthLinkStart, Problem> {
    let principal = managing_identities(ctx)?;
    let oauth = enabled(shared)?;
    let provider = oauth.provider(provider)?;
    shared
        .ensure_account(principal, "the token names no account of this service")
        .await?;
    let ticket = secret()?;
    let payload = LinkTicket {
        provider: provider.name().to_owned(),
        user_id: principal.subject.clone(),
    };
    put(shared, LINK, &ticket, &payload, LINK_TTL)
        .await
        .map_err(storage)?;
    Ok(contract::OAuthLinkStart {
        authorization_url: with_query(&start_url(provider), "link", &ticket),
    })
}

/// Links the identity a link flow brought back, when the caller is the account that asked
/// for it, in the browser that ran the flow.
pub(crate) async fn confirm_link(
    shared: &Shared,
    ctx: &Context,
    code: &str,
    cookies: &Cookies,
) -> Result<(), Problem> {
    let principal = managing_identities(ctx)?;
    let pending: PendingLink = take(shared, LINK_CONFIRM, code)
        .await
        .map_err(storage)?
        .filter(|p: &PendingLink| same_browser(cookies, &p.browser))
        .ok_or_else(|| {
            Problem::bad_request(
                "the code is unknown, expired, already used, or from a flow in another browser",
            )
        })?;
    if pending.user_id != principal.subject {
        return Err(Problem::forbidden(
            "the link was asked for by another account",
        ));
    }
    let now = unix_now_i64();
    let identity = Identity {
        provider: pending.provider,
        subject: pending.subject,
        user_id: pending.user_id,
        email: pending.email,
        email_verified: pending.email_verified,
        name: pending.name,
        avatar_url: pending.avatar_url,
        linked_at: now,
        last_login_at: now,
    };
    match shared.store.link_identity(identity.clone()).await {
        Ok(()) => {}
        // Already this account's: linking again changes nothing.
        Err(StoreError::Conflict { .. }) => {
            let holder = shared
                .store
                .identity(&identity.provider, &identity.subject)
                .await
                .map_err(storage)?;
            if holder.is_none_or(|h| h.user_id != identity.user_id) {
                return Err(FlowError::IdentityInUse.into_problem());
            }
            return Ok(());
        }
        Err(other) => return Err(storage(other)),
    }
    audit::record_details(
        AuditEvent::IdentityLinked,
        ctx,
        Details {
            user_id: Some(&identity.user_id),
            provider: Some(&identity.provider),
            ..Details::default()
        },
    );
    Ok(())
}

pub(crate) async fn identities(
    shared: &Shared,
    ctx: &Context,
) -> Result<contract::IdentityList, Problem> {
    let principal = managing_identities(ctx)?;
    let found = shared
        .store
        .identities(&principal.subject)
        .await
        .map_err(storage)?;
    let has_password = match shared
        .store
        .user(&principal.subject)
        .await
        .map_err(storage)?
    {
        Some(user) => shared
            .store
            .user_by_email(&user.email)
            .await
            .map_err(storage)?
            .is_some_and(|c| c.password_hash.is_some()),
        None => false,
    };
    let instant = |unix: i64| {
        DateTime(
            time::OffsetDateTime::from_unix_timestamp(unix)
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH),
        )
    };
    Ok(contract::IdentityList {
        items: found
            .into_iter()
            .map(|i| contract::LinkedIdentity {
                provider: i.provider,
                subject: i.subject,
                email: i.email,
                email_verified: i.email_verified,
                name: i.name,
                avatar_url: i.avatar_url,
                linked_at: instant(i.linked_at),
                last_login_at: instant(i.last_login_at),
            })
            .collect(),
        has_password,
    })
}

pub(crate) async fn unlink(
    shared: &Shared,
    ctx: &Context,
    provider: &str,
    subject: &str,
) -> Result<(), Problem> {
    let principal = managing_identities(ctx)?;
    match shared
        .store
        .unlink_identity(&principal.subject, provider, subject)
        .await
        .map_err(storage)?
    {
        Unlink::Unlinked => {
            audit::record_details(
                AuditEvent::IdentityUnlinked,
                ctx,
                Details {
                    user_id: Some(&principal.subject),
                    provider: Some(provider),
                    ..Details::default()
                },
            );
            Ok(())
        }
        Unlink::NotFound => Err(Problem::not_found("the caller holds no such identity")),
        Unlink::LastWay => Err(Problem::conflict(
            "this identity is the account's last way to sign in: link another provider first",
        )),
    }
}
