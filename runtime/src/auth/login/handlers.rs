//! The login module's operations, and who may call the ones that manage an account.

use super::sessions::{
    end_access_tokens, ensure_record, new_refresh_token, open_session, register_pending, rehash,
    seconds, tokens,
};
use super::{
    INVALID_CONFIRMATION, Registration, Shared, instant, invalid_credentials, invalid_refresh,
    new_user, start_session, storage,
};
use crate::auth::api_keys;
use crate::auth::audit::{self, AuditEvent};
use crate::auth::contract;
use crate::auth::issuer::unix_now_i64;
use crate::auth::oauth;
use crate::auth::password::normalize_password;
use crate::auth::secret::sha256_hex;
use crate::auth::store::{ApiKey, Rotation, normalize_email};
use crate::auth::{Principal, Scheme};
use crate::extract::{Context, Cookies};
use crate::problem::{FieldError, Problem};
use crate::respond::Redirect;
use crate::validate::Format;

/// The module's operations, as its contract declares them: the generated routes decode and
/// check each body, guard each route and limit it, and call these.
impl contract::AccountHandlers for Shared {
    async fn list_oauth_providers(
        &self,
        _ctx: Context,
    ) -> Result<contract::OAuthProviderList, Problem> {
        Ok(oauth::list_providers(self))
    }

    async fn oauth_start(
        &self,
        _ctx: Context,
        provider: String,
        query: contract::AccountOauthStartQuery,
    ) -> Result<Redirect, Problem> {
        oauth::start(self, &provider, query.link).await
    }

    async fn oauth_callback(
        &self,
        ctx: Context,
        provider: String,
        query: contract::AccountOauthCallbackQuery,
        cookies: Cookies,
    ) -> Result<Redirect, Problem> {
        oauth::callback(self, &ctx, &provider, query, &cookies).await
    }

    async fn oauth_exchange(
        &self,
        ctx: Context,
        cookies: Cookies,
        body: contract::OAuthExchange,
    ) -> Result<contract::Tokens, Problem> {
        oauth::exchange(self, &ctx, &body.code, &cookies).await
    }

    async fn confirm_oauth_link(
        &self,
        ctx: Context,
        cookies: Cookies,
        body: contract::OAuthExchange,
    ) -> Result<(), Problem> {
        oauth::confirm_link(self, &ctx, &body.code, &cookies).await
    }

    async fn link_oauth(
        &self,
        ctx: Context,
        provider: String,
    ) -> Result<contract::OAuthLinkStart, Problem> {
        oauth::link_start(self, &ctx, &provider).await
    }

    async fn list_identities(&self, ctx: Context) -> Result<contract::IdentityList, Problem> {
        oauth::identities(self, &ctx).await
    }

    async fn unlink_identity(
        &self,
        ctx: Context,
        provider: String,
        subject: String,
    ) -> Result<(), Problem> {
        oauth::unlink(self, &ctx, &provider, &subject).await
    }

    async fn register(
        &self,
        ctx: Context,
        body: contract::NewAccount,
    ) -> Result<contract::AccountRegisterReply, Problem> {
        let email = normalize_email(&body.email).filter(|email| Format::Email.matches(email));
        let mut errors = Vec::new();
        if email.is_none() {
            errors.push(FieldError::at("/email", "format", "must be a valid email"));
        }
        let min = self.options.password_min_length;
        if normalize_password(&body.password).chars().count() < min {
            errors.push(FieldError::at(
                "/password",
                "min_length",
                format!("must be at least {min} characters"),
            ));
        }
        let Some(email) = email.filter(|_| errors.is_empty()) else {
            return Err(Problem::validation(errors));
        };
        let password_hash = self
            .passwords
            .hash_blocking(body.password)
            .await
            .map_err(|error| {
                tracing::error!(%error, "password hashing failed");
                Problem::unavailable("accounts cannot be created right now; retry later")
            })?;
        let now = unix_now_i64();
        match self.options.registration {
            Registration::Immediate => {
                let user = self
                    .store
                    .create_user(new_user(self, email, Some(password_hash), now, None))
                    .await
                    .map_err(storage)?;
                // The account exists either way: a record that cannot be made now is made
                // at its first sign-in, which tries again.
                if let Err(error) = ensure_record(self, &user).await {
                    tracing::warn!(%error, "the new account's record is left to its first sign-in");
                }
                audit::record(AuditEvent::Registered, &ctx, Some(&user.id), None);
                Ok(contract::AccountRegisterReply::Created(user.into()))
            }
            Registration::Confirm => register_pending(self, email, password_hash, now).await,
        }
    }

    async fn confirm(
        &self,
        ctx: Context,
        body: contract::ConfirmationToken,
    ) -> Result<contract::Tokens, Problem> {
        let user = self
            .store
            .confirm(&sha256_hex(&body.token), unix_now_i64())
            .await
            .map_err(storage)?
            .ok_or_else(|| Problem::bad_request(INVALID_CONFIRMATION))?;
        // The mailbox's owner just proved it: sign them in.
        let tokens = start_session(self, &user, &ctx.client).await?;
        audit::record(AuditEvent::SignedIn, &ctx, Some(&user.id), None);
        Ok(tokens)
    }

    async fn login(
        &self,
        ctx: Context,
        body: contract::Credentials,
    ) -> Result<contract::Tokens, Problem> {
        let found = match normalize_email(&body.email) {
            Some(email) => self.store.user_by_email(&email).await.map_err(storage)?,
            None => None,
        };
        // An unknown user, and an account without a password, are checked against the dummy
        // hash: the same work, the same answer.
        // So is a pending one: its password is checked, but it signs in only once confirmed.
        let stored = found.as_ref().and_then(|c| c.password_hash.clone());
        let verified = self
            .passwords
            .verify_blocking(body.password.clone(), stored)
            .await;
        match found {
            Some(credentials) if verified && credentials.user.confirmed => {
                let mut verified_hash = credentials.password_hash.clone();
                if let Some(old) = credentials
                    .password_hash
                    .as_deref()
                    .filter(|hash| self.passwords.needs_rehash(hash))
                {
                    if let Some(renewed) =
                        rehash(self, &credentials.user.id, old, body.password).await
                    {
                        verified_hash = Some(renewed);
                    }
                }
                let user = &credentials.user;
                let (family, refresh_token) = open_session(self, user, &ctx.client).await?;
                // A password change that finished while this sign-in checked the old password
                // ended every session before this one existed: this one must not outlive it.
                let current = self
                    .store
                    .user_by_email(&user.email)
                    .await
                    .map_err(storage)?
                    .and_then(|c| c.password_hash);
                if current != verified_hash {
                    self.store
                        .revoke_session(&user.id, &family, unix_now_i64())
                        .await
                        .map_err(storage)?;
                    audit::record(AuditEvent::SignInFailed, &ctx, Some(&user.id), None);
                    return Err(invalid_credentials());
                }
                let tokens = tokens(self, user, &family, refresh_token)?;
                audit::record(AuditEvent::SignedIn, &ctx, Some(&user.id), None);
                Ok(tokens)
            }
            found => {
                // The account, when there is one: its owner sees attempts at their account.
                let user_id = found.as_ref().map(|c| c.user.id.as_str());
                audit::record(AuditEvent::SignInFailed, &ctx, user_id, None);
                Err(invalid_credentials())
            }
        }
    }

    async fn refresh(
        &self,
        ctx: Context,
        body: contract::RefreshToken,
    ) -> Result<contract::Tokens, Problem> {
        let now = unix_now_i64();
        let (refresh_token, next) = new_refresh_token(self, now)?;
        let rotation = self
            .store
            .rotate(
                &sha256_hex(&body.refresh_token),
                next,
                now.saturating_sub(seconds(self.options.session_ttl)),
                now,
            )
            .await
            .map_err(storage)?;
        let (user_id, session) = match rotation {
            Rotation::Rotated { user_id, family_id } => (user_id, family_id),
            Rotation::Reused { user_id, family_id } => {
                // Either the client retried a refresh whose answer it lost, or someone else
                // holds a copy of the token; both end the session, its access tokens with it,
                // which is the safe reading.
                audit::record(
                    AuditEvent::RefreshReused,
                    &ctx,
                    Some(&user_id),
                    Some(&family_id),
                );
                end_access_tokens(self, &family_id, now).await?;
                return Err(invalid_refresh());
            }
            Rotation::Invalid => return Err(invalid_refresh()),
        };
        let user = self
            .store
            .user(&user_id)
            .await
            .map_err(storage)?
            .ok_or_else(invalid_refresh)?;
        tokens(self, &user, &session, refresh_token)
    }

    async fn logout(&self, ctx: Context, body: contract::RefreshToken) -> Result<(), Problem> {
        // The same answer whether the token was live: logging out twice is not an error, and
        // an unknown token learns nothing.
        let now = unix_now_i64();
        let ended = self
            .store
            .revoke_family(&sha256_hex(&body.refresh_token), now)
            .await
            .map_err(storage)?;
        if let Some(session) = ended {
            end_access_tokens(self, &session, now).await?;
            audit::record(AuditEvent::SignedOut, &ctx, None, Some(&session));
        }
        Ok(())
    }

    async fn me(&self, ctx: Context) -> Result<contract::Identity, Problem> {
        let principal = signed_in(&ctx)?;
        let email = self
            .store
            .user(&principal.subject)
            .await
            .map_err(storage)?
            .map(|user| user.email);
        Ok(contract::Identity {
            subject: principal.subject.clone(),
            roles: principal.roles.clone(),
            scheme: match principal.scheme {
                Scheme::Bearer => contract::IdentityScheme::Bearer,
                Scheme::ApiKey => contract::IdentityScheme::ApiKey,
            },
            email,
        })
    }

    async fn list_sessions(&self, ctx: Context) -> Result<contract::SessionList, Problem> {
        let principal = managing_sessions(&ctx)?;
        let now = unix_now_i64();
        let sessions = self
            .store
            .sessions(
                &principal.subject,
                now.saturating_sub(seconds(self.options.session_ttl)),
                now,
            )
            .await
            .map_err(storage)?;
        let items = sessions
            .into_iter()
            .map(|session| contract::Session {
                current: principal.session.as_deref() == Some(session.id.as_str()),
                id: session.id,
                created_at: instant(session.created_at),
                last_used_at: instant(session.last_used_at),
                client_ip: session.client.ip,
                user_agent: session.client.user_agent,
            })
            .collect();
        Ok(contract::SessionList { items })
    }

    async fn revoke_session(&self, ctx: Context, session_id: String) -> Result<(), Problem> {
        let principal = managing_sessions(&ctx)?;
        let now = unix_now_i64();
        let revoked = self
            .store
            .revoke_session(&principal.subject, &session_id, now)
            .await
            .map_err(storage)?;
        if !revoked {
            return Err(Problem::not_found("no session of yours has this id"));
        }
        end_access_tokens(self, &session_id, now).await?;
        audit::record(
            AuditEvent::SessionRevoked,
            &ctx,
            Some(&principal.subject),
            Some(&session_id),
        );
        Ok(())
    }

    async fn revoke_sessions(&self, ctx: Context) -> Result<(), Problem> {
        let principal = managing_sessions(&ctx)?;
        let now = unix_now_i64();
        let ended = self
            .store
            .revoke_sessions(&principal.subject, now)
            .await
            .map_err(storage)?;
        for session in &ended {
            end_access_tokens(self, session, now).await?;
        }
        audit::record(
            AuditEvent::SessionsRevoked,
            &ctx,
            Some(&principal.subject),
            None,
        );
        Ok(())
    }

    async fn change_password(
        &self,
        ctx: Context,
        body: contract::PasswordChange,
    ) -> Result<contract::Tokens, Problem> {
        let principal = managing_sessions(&ctx)?;
        let min = self.options.password_min_length;
        if normalize_password(&body.new_password).chars().count() < min {
            return Err(Problem::validation(vec![FieldError::at(
                "/new_password",
                "min_length",
                format!("must be at least {min} characters"),
            )]));
        }
        let account = match self.store.user(&principal.subject).await.map_err(storage)? {
            Some(user) => self
                .store
                .user_by_email(&user.email)
                .await
                .map_err(storage)?,
            None => None,
        };
        let stored = account.as_ref().and_then(|c| c.password_hash.clone());
        let verified = self
            .passwords
            .verify_blocking(body.current_password, stored)
            .await;
        let Some(credentials) = account.filter(|_| verified) else {
            audit::record(
                AuditEvent::PasswordChangeRefused,
                &ctx,
                Some(&principal.subject),
                principal.session.as_deref(),
            );
            return Err(Problem::forbidden("the current password is wrong"));
        };
        let hash = self
            .passwords
            .hash_blocking(body.new_password)
            .await
            .map_err(|error| {
                tracing::error!(%error, "password hashing failed");
                Problem::unavailable("the password cannot be changed right now; retry later")
            })?;
        let user = credentials.user;
        // Whoever else holds a session of this account (a thief, the reason for the change)
        // holds nothing any more: every session ends with its access tokens, and every API key
        // (one minted with a stolen session must not outlive it). All of that is recorded
        // before the password changes, so that a change that fails half-way is retried with
        // the same current password, and ends the same sessions again.
        let now = unix_now_i64();
        let ended = self
            .store
            .revoke_sessions(&user.id, now)
            .await
            .map_err(storage)?;
        for session in &ended {
            end_access_tokens(self, session, now).await?;
        }
        let keys = self
            .store
            .revoke_api_keys(&user.id, now)
            .await
            .map_err(storage)?;
        self.store
            .set_password_hash(&user.id, hash)
            .await
            .map_err(storage)?;
        // Once more: a sign-in with the old password that started its session between the
        // first ending and the change is ended too (one that starts later finds the new hash,
        // see `login`).
        let now = unix_now_i64();
        for session in self
            .store
            .revoke_sessions(&user.id, now)
            .await
            .map_err(storage)?
        {
            end_access_tokens(self, &session, now).await?;
        }
        let tokens = start_session(self, &user, &ctx.client).await?;
        audit::record(AuditEvent::PasswordChanged, &ctx, Some(&user.id), None);
        if keys > 0 {
            tracing::info!(target: audit::AUDIT_TARGET, event = "api_keys_revoked", user_id = %user.id, keys, "audit");
        }
        Ok(tokens)
    }

    async fn create_api_key(
        &self,
        ctx: Context,
        body: contract::NewApiKey,
    ) -> Result<contract::CreatedApiKey, Problem> {
        let principal = managing_keys(&ctx)?;
        // A key acts as the account that made it: a token from elsewhere, whose subject has no
        // account here, has nothing for a key to act as.
        self.ensure_account(
            principal,
            "API keys belong to accounts of this service, and the caller's token names none",
        )
        .await?;
        let now = unix_now_i64();
        let name = body.name.trim().to_owned();
        let roles = body.roles.unwrap_or_else(|| principal.roles.clone());
        let mut errors: Vec<FieldError> = Vec::new();
        // The contract bounds the length as sent; a name of spaces only is empty once trimmed.
        if name.is_empty() {
            errors.push(FieldError::at(
                "/name",
                "min_length",
                "must hold more than spaces",
            ));
        }
        errors.extend(
            roles
                .iter()
                .enumerate()
                .filter(|(_, role)| !principal.has_role(role))
                .map(|(i, _)| {
                    FieldError::at(
                        format!("/roles/{i}"),
                        "subset",
                        "an API key cannot hold a role its creator does not",
                    )
                }),
        );
        let expires_at = body.expires_at.map(|at| at.0.unix_timestamp());
        if expires_at.is_some_and(|at| at <= now) {
            errors.push(FieldError::at(
                "/expires_at",
                "future",
                "must be in the future",
            ));
        }
        if !errors.is_empty() {
            return Err(Problem::validation(errors));
        }
        let (key, text) = api_keys::create(&*self.store, |minted| ApiKey {
            id: uuid::Uuid::now_v7().to_string(),
            prefix: minted.prefix.clone(),
            user_id: principal.subject.clone(),
            name: name.clone(),
            roles: roles.clone(),
            last4: minted.last4.clone(),
            created_at: now,
            expires_at,
        })
        .await
        .map_err(storage)?;
        audit::record_details(
            AuditEvent::ApiKeyCreated,
            &ctx,
            audit::Details {
                user_id: Some(&principal.subject),
                session: principal.session.as_deref(),
                api_key: Some(&key.id),
                ..audit::Details::default()
            },
        );
        let view = contract::ApiKey::from(key);
        Ok(contract::CreatedApiKey {
            id: view.id,
            prefix: view.prefix,
            name: view.name,
            roles: view.roles,
            last4: view.last4,
            created_at: view.created_at,
            expires_at: view.expires_at,
            key: text,
        })
    }

    async fn list_api_keys(&self, ctx: Context) -> Result<contract::ApiKeyList, Problem> {
        let principal = managing_keys(&ctx)?;
        let keys = self
            .store
            .api_keys(&principal.subject)
            .await
            .map_err(storage)?;
        Ok(contract::ApiKeyList {
            items: keys.into_iter().map(contract::ApiKey::from).collect(),
        })
    }

    async fn revoke_api_key(&self, ctx: Context, key_id: String) -> Result<(), Problem> {
        let principal = managing_keys(&ctx)?;
        let revoked = self
            .store
            .revoke_api_key(&principal.subject, &key_id, unix_now_i64())
            .await
            .map_err(storage)?;
        if revoked {
            audit::record_details(
                AuditEvent::ApiKeyRevoked,
                &ctx,
                audit::Details {
                    user_id: Some(&principal.subject),
                    session: principal.session.as_deref(),
                    api_key: Some(&key_id),
                    ..audit::Details::default()
                },
            );
            Ok(())
        } else {
            Err(Problem::not_found(format!(
                "no live API key `{key_id}` of yours"
            )))
        }
    }
}

/// The caller of an operation the contract guards (`auth: authenticated`): the guard admitted
/// only those it authenticated.
fn signed_in(ctx: &Context) -> Result<&Principal, Problem> {
    ctx.principal
        .as_deref()
        .ok_or_else(|| Problem::unauthorized("credentials are required", "Bearer"))
}

/// Sessions, passwords, API keys and identities are managed by a signed-in user (a bearer
/// token), never with an API key, which belongs to no session and no person at the desk: a
/// leaked key must not sign its owner out, change their password, mint keys that outlive its
/// own revocation, or link identities. `what` names the thing managed, for the 403.
pub(crate) fn with_bearer<'c>(ctx: &'c Context, what: &str) -> Result<&'c Principal, Problem> {
    let principal = signed_in(ctx)?;
    if principal.scheme == Scheme::Bearer {
        Ok(principal)
    } else {
        Err(Problem::forbidden(format!(
            "{what} are managed with a bearer token from /auth/login, not with an API key"
        )))
    }
}

fn managing_sessions(ctx: &Context) -> Result<&Principal, Problem> {
    with_bearer(ctx, "sessions")
}

fn managing_keys(ctx: &Context) -> Result<&Principal, Problem> {
    with_bearer(ctx, "API keys")
}
