//! The login module's audit trail: one structured record per security event, under the target
//! [`AUDIT_TARGET`] so that operators route it apart (`CMMV_LOG=info,cmmv::audit=info`) and
//! keep it longer than request logs. A record names the account, the client's address and the
//! request id; never a password, a token, a code or a secret.

use crate::extract::Context;

/// The `tracing` target of audit records.
pub const AUDIT_TARGET: &str = "cmmv::audit";

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuditEvent {
    /// An account was registered (or its pending registration started over).
    Registered,
    /// A password sign-in succeeded, or a confirmation signed the account in.
    SignedIn,
    /// A password sign-in failed: unknown email, wrong password or unconfirmed account alike.
    SignInFailed,
    /// A refresh token was presented again after its rotation: its session was ended.
    RefreshReused,
    /// A session was signed out with its refresh token.
    SignedOut,
    /// The account's owner ended one of its sessions.
    SessionRevoked,
    /// The account's owner ended every one of its sessions.
    SessionsRevoked,
    /// The password was changed; every session of the account ended.
    PasswordChanged,
    /// A password change was refused: the current password was wrong.
    PasswordChangeRefused,
    /// A sign-in through an identity provider failed (the reason is its code).
    ProviderSignInFailed,
    /// An identity at a provider was linked to the account.
    IdentityLinked,
    /// An identity at a provider was unlinked from the account.
    IdentityUnlinked,
    /// An API key was created.
    ApiKeyCreated,
    /// An API key was revoked by its owner.
    ApiKeyRevoked,
}

impl AuditEvent {
    fn as_str(self) -> &'static str {
        match self {
            AuditEvent::Registered => "registered",
            AuditEvent::SignedIn => "signed_in",
            AuditEvent::SignInFailed => "sign_in_failed",
            AuditEvent::RefreshReused => "refresh_reused",
            AuditEvent::SignedOut => "signed_out",
            AuditEvent::SessionRevoked => "session_revoked",
            AuditEvent::SessionsRevoked => "sessions_revoked",
            AuditEvent::PasswordChanged => "password_changed",
            AuditEvent::PasswordChangeRefused => "password_change_refused",
            AuditEvent::ProviderSignInFailed => "provider_sign_in_failed",
            AuditEvent::IdentityLinked => "identity_linked",
            AuditEvent::IdentityUnlinked => "identity_unlinked",
            AuditEvent::ApiKeyCreated => "api_key_created",
            AuditEvent::ApiKeyRevoked => "api_key_revoked",
        }
    }
}

/// Records `event` of the request `ctx`, for the account `user_id` when it is known, and the
/// session it concerns when there is one.
pub(crate) fn record(
    event: AuditEvent,
    ctx: &Context,
    user_id: Option<&str>,
    session: Option<&str>,
) {
    record_details(
        event,
        ctx,
        Details {
            user_id,
            session,
            ..Details::default()
        },
    );
}

/// What an audit record says besides the event and the request.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Details<'a> {
    /// The account, when known.
    pub(crate) user_id: Option<&'a str>,
    /// The session concerned.
    pub(crate) session: Option<&'a str>,
    /// The identity provider concerned.
    pub(crate) provider: Option<&'a str>,
    /// Why it failed, as a code (`invalid_state`), never a provider's own words.
    pub(crate) reason: Option<&'a str>,
    /// The id of the API key concerned (never the key).
    pub(crate) api_key: Option<&'a str>,
}

/// Records `event` of the request `ctx` with its `details`.
pub(crate) fn record_details(event: AuditEvent, ctx: &Context, details: Details<'_>) {
    let Details {
        user_id,
        session,
        provider,
        reason,
        api_key,
    } = details;
    let level_warn = matches!(
        event,
        AuditEvent::SignInFailed
            | AuditEvent::RefreshReused
            | AuditEvent::PasswordChangeRefused
            | AuditEvent::ProviderSignInFailed
    );
    macro_rules! emit {
        ($level:expr) => {
            tracing::event!(
                target: AUDIT_TARGET,
                $level,
                event = event.as_str(),
                user_id,
                session,
                provider,
                reason,
                api_key,
                client_ip = ctx.client.ip.as_deref(),
                request_id = ctx.request_id.as_str(),
                "audit"
            )
        };
    }
    if level_warn {
        emit!(tracing::Level::WARN);
    } else {
        emit!(tracing::Level::INFO);
    }
}
