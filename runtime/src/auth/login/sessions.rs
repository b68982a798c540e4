//! What the login module's operations share: new accounts, sessions and their tokens.

use std::sync::Arc;
use std::time::Duration;

use super::{REFRESH_TOKEN_BYTES, Shared, no_randomness, storage};
use crate::auth::contract;
use crate::auth::issuer::unix_now_i64;
use crate::auth::secret::{random_hex, sha256_hex};
use crate::auth::store::{NewConfirmation, NewRefreshToken, NewUser, SessionClient, User};
use crate::problem::Problem;

/// A new account with the default roles; its email unproven and no identity, which the OAuth
/// flow changes for an account it makes.
pub(crate) fn new_user(
    shared: &Shared,
    email: String,
    password_hash: Option<String>,
    now: i64,
    confirmation: Option<NewConfirmation>,
) -> NewUser {
    NewUser {
        id: uuid::Uuid::now_v7().to_string(),
        email,
        password_hash,
        email_verified: false,
        identity: None,
        roles: shared.options.default_roles.clone(),
        created_at: now,
        confirmation,
    }
}

/// The enumeration-safe registration: the same `202` and body whether the address is new,
/// pending or taken, after the same work (the password was hashed either way); what differs
/// happens in the mail the address's owner gets.
pub(super) async fn register_pending(
    shared: &Shared,
    email: String,
    password_hash: String,
    now: i64,
) -> Result<contract::AccountRegisterReply, Problem> {
    let token = random_hex(REFRESH_TOKEN_BYTES).ok_or_else(no_randomness)?;
    let ttl = i64::try_from(shared.options.confirmation_ttl.as_secs()).unwrap_or(i64::MAX);
    let confirmation = NewConfirmation {
        hash: sha256_hex(&token),
        expires_at: now.saturating_add(ttl),
    };
    let created = shared
        .store
        .create_user(new_user(
            shared,
            email.clone(),
            Some(password_hash.clone()),
            now,
            Some(confirmation.clone()),
        ))
        .await;
    let sent_token = match created {
        Ok(_) => true,
        Err(crate::store::StoreError::Conflict { .. }) => shared
            .store
            .restart_confirmation(&email, password_hash, confirmation)
            .await
            .map_err(storage)?,
        Err(error) => return Err(storage(error)),
    };
    if let Some(mailer) = &shared.mailer {
        let mailer = Arc::clone(mailer);
        let to = email.clone();
        tokio::spawn(async move {
            if sent_token {
                mailer.send_confirmation(&to, &token).await;
            } else {
                mailer.send_already_registered(&to).await;
            }
        });
    }
    Ok(contract::AccountRegisterReply::Accepted(
        contract::PendingRegistration {
            email,
            status: contract::PendingRegistrationStatus::PendingConfirmation,
        },
    ))
}

/// A new refresh-token family for `user` and a first access token.
pub(crate) async fn start_session(
    shared: &Shared,
    user: &User,
    client: &SessionClient,
) -> Result<contract::Tokens, Problem> {
    let (family, refresh_token) = open_session(shared, user, client).await?;
    tokens(shared, user, &family, refresh_token)
}

/// A new refresh-token family for `user`: its id and first refresh token, no access token yet.
pub(super) async fn open_session(
    shared: &Shared,
    user: &User,
    client: &SessionClient,
) -> Result<(String, String), Problem> {
    // The tokens name the account: the record they lead to exists before they do.
    match ensure_record(shared, user).await {
        Ok(()) => {}
        // A record of another id holds the account's email (a row from before the contract
        // was bound to the accounts): the account still signs in, and the operator is told to
        // resolve the duplicate; its `me` answers 401 until then.
        Err(crate::store::StoreError::Conflict { field }) => tracing::error!(
            user_id = %user.id,
            field,
            "the account's record cannot be made: another record holds the same value; resolve the duplicate"
        ),
        Err(error) => return Err(error.into_problem("account record", None)),
    }
    let now = unix_now_i64();
    let (refresh_token, next) = new_refresh_token(shared, now)?;
    // Time-ordered, so that sessions started within one second still list in order.
    let family = uuid::Uuid::now_v7().to_string();
    shared
        .store
        .start_family(&family, &user.id, next, client.clone(), now)
        .await
        .map_err(storage)?;
    Ok((family, refresh_token))
}

/// Hashes a password that just verified again with the current costs. A failure changes
/// nothing the user sees: the old hash still verifies, and the next sign-in tries again.
/// The new hash replaces `old` only if the password did not change meanwhile (a concurrent
/// password change must not be undone by the old password's renewed hash).
/// The renewed hash, when it replaced `old`.
pub(super) async fn rehash(
    shared: &Shared,
    user_id: &str,
    old: &str,
    password: String,
) -> Option<String> {
    let rehashed = match shared.passwords.hash_blocking(password).await {
        Ok(hash) => shared
            .store
            .renew_password_hash(user_id, old, hash.clone())
            .await
            .map(|renewed| renewed.then_some(hash))
            .map_err(|e| e.to_string()),
        Err(error) => Err(error.to_string()),
    };
    match rehashed {
        Ok(Some(hash)) => {
            tracing::info!(user_id, "password hash renewed with the current costs");
            Some(hash)
        }
        Ok(None) => {
            tracing::info!(user_id, "password changed meanwhile; hash not renewed");
            None
        }
        Err(error) => {
            tracing::warn!(user_id, %error, "password hash not renewed");
            None
        }
    }
}

/// Ends the access tokens of `session`: recorded until the last of them has expired anyway,
/// the verifiers' clock leeway included (at most `CMMV_JWT_LEEWAY`'s ceiling, whatever it is set to).
pub(super) async fn end_access_tokens(
    shared: &Shared,
    session: &str,
    now: i64,
) -> Result<(), Problem> {
    let until = now
        .saturating_add(seconds(shared.issuer.ttl()))
        .saturating_add(seconds(crate::settings::JWT_MAX_LEEWAY));
    shared
        .revocations
        .revoke_session(session, until)
        .await
        .map_err(storage)
}

pub(super) fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

/// Makes sure `user` has its record in the account contract's store, if the project binds one.
pub(super) async fn ensure_record(
    shared: &Shared,
    user: &User,
) -> Result<(), crate::store::StoreError> {
    match &shared.records {
        Some(records) => records.ensure(&user.id, &user.email).await,
        None => Ok(()),
    }
}

pub(super) fn new_refresh_token(
    shared: &Shared,
    now: i64,
) -> Result<(String, NewRefreshToken), Problem> {
    let token = random_hex(REFRESH_TOKEN_BYTES).ok_or_else(no_randomness)?;
    let ttl = i64::try_from(shared.options.refresh_ttl.as_secs()).unwrap_or(i64::MAX);
    let next = NewRefreshToken {
        hash: sha256_hex(&token),
        expires_at: now.saturating_add(ttl),
    };
    Ok((token, next))
}

pub(super) fn tokens(
    shared: &Shared,
    user: &User,
    session: &str,
    refresh_token: String,
) -> Result<contract::Tokens, Problem> {
    let access = shared
        .issuer
        .issue_in(&user.id, &user.roles, Some(session))
        .map_err(|error| {
            tracing::error!(%error, "access token not signed");
            Problem::internal()
        })?;
    Ok(contract::Tokens {
        access_token: access.token,
        token_type: "Bearer".to_owned(),
        expires_in: seconds(access.expires_in),
        refresh_token,
        refresh_expires_in: seconds(shared.options.refresh_ttl),
    })
}
