//! Where the login module keeps users, refresh tokens and API keys: the [`AuthStore`] trait,
//! in memory ([`MemoryAuthStore`]) or in the app's SQL database ([`SqlAuthStore`]).
//!
//! Secrets are never stored: passwords as argon2id PHC strings, refresh tokens and API keys
//! as the SHA-256 of the secret. Refresh tokens belong to a *family* (one login); rotation
//! marks the presented token used and adds its successor to the family in one atomic step,
//! and presenting a used token again revokes the whole family (RFC 9700 §4.14.2). Every
//! implementation passes the same conformance suite (`tests/.../auth_login.rs`).

mod memory;
mod sql;

use std::fmt;

pub use memory::MemoryAuthStore;
pub use sql::{AUTH_MIGRATIONS, SqlAuthStore};

pub(crate) use crate::store::BoxFuture;
use crate::store::StoreError;

/// A registered user, as the store returns it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The subject (`sub`) of the user's tokens.
    pub id: String,
    /// Trimmed and lowercased, unique.
    pub email: String,
    /// The roles the user holds, carried in the roles claim of their access tokens and capping
    /// what their API keys grant.
    pub roles: Vec<String>,
    /// Unix seconds.
    pub created_at: i64,
    /// Whether the account may sign in: created so, or confirmed since through the token
    /// sent to its email (see [`crate::auth::Registration::Confirm`]).
    pub confirmed: bool,
    /// Whether someone proved they read the email: a mailed confirmation token came back,
    /// or an identity provider asserted the address verified when the account was made from
    /// it. Only such an account is linked to a provider's identity by its email alone.
    pub email_verified: bool,
}

/// A one-time token that confirms a pending account: the hash of its secret and when it
/// expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewConfirmation {
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// A user to create.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// The new user's id, the subject (`sub`) of their tokens; the login module makes a UUIDv7.
    pub id: String,
    /// Already normalized (see [`normalize_email`]).
    pub email: String,
    /// The PHC string of the password; `None` for an account made from a provider's identity,
    /// which signs in only through its identities.
    pub password_hash: Option<String>,
    /// Whether the email is known to be the account holder's (see [`User::email_verified`]).
    pub email_verified: bool,
    /// The provider identity the account is made from, stored with it in one step.
    pub identity: Option<Identity>,
    /// The roles the user starts with (the login module gives `CMMV_AUTH_DEFAULT_ROLES`).
    pub roles: Vec<String>,
    /// When the user registered, in Unix seconds.
    pub created_at: i64,
    /// `None`: the account may sign in at once. Otherwise it is pending until this token
    /// comes back ([`AuthStore::confirm`]).
    pub confirmation: Option<NewConfirmation>,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("roles", &self.roles)
            .field("pending", &self.confirmation.is_some())
            .finish_non_exhaustive()
    }
}

/// A user with the hash their password is checked against.
#[derive(Clone, PartialEq, Eq)]
pub struct UserCredentials {
    /// The user, as [`AuthStore::user`] would return them.
    pub user: User,
    /// The argon2id PHC string the presented password is verified against; never logged.
    /// `None` for an account without a password (made from a provider's identity).
    pub password_hash: Option<String>,
}

impl fmt::Debug for UserCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserCredentials")
            .field("user", &self.user)
            .finish_non_exhaustive()
    }
}

/// A refresh token to store: the hash of its secret and when it expires.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefreshToken {
    /// SHA-256 of the token, hex.
    pub hash: String,
    /// Unix seconds.
    pub expires_at: i64,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current: it is now used, and its successor is in the family.
    Rotated {
        /// The owner of the family, whom the successor token is issued to.
        user_id: String,
        /// The family (session), which the access token issued with the successor names.
        family_id: String,
    },
    /// The token had already been used: the whole family is now revoked.
    Reused {
        /// The owner of the family.
        user_id: String,
        /// The family (session) ended.
        family_id: String,
    },
    /// Unknown, expired, or of a revoked family; nothing changed.
    Invalid,
}

/// Where a session was started from, as its owner sees it listed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionClient {
    /// The client's address, as the app resolved it (trusted proxies considered).
    pub ip: Option<String>,
    /// The `User-Agent` it sent, cut to 256 characters.
    pub user_agent: Option<String>,
}

/// A live session: one refresh-token family, from one sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The family's id: the `sid` of the access tokens issued in it.
    pub id: String,
    /// When it started (Unix seconds).
    pub created_at: i64,
    /// When its refresh token was last used (its start, before any refresh).
    pub last_used_at: i64,
    /// Where it was started from.
    pub client: SessionClient,
}

/// An API key as its owner sees it listed (never the secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    /// The key's own id, which its owner names to revoke it (`DELETE /auth/api-keys/{id}`).
    pub id: String,
    /// The public part of the key (`cmmv_<prefix>_...`), unique: how it is found.
    pub prefix: String,
    /// The id of the user who created and owns the key; requests made with it act as them.
    pub user_id: String,
    /// The label its owner gave the key, trimmed.
    pub name: String,
    /// The roles the key was created with, a subset of its creator's; the key acts only with
    /// those its owner still holds (see [`StoredApiKey::owner_roles`]).
    pub roles: Vec<String>,
    /// The last four characters of the secret, to tell keys apart.
    pub last4: String,
    /// When the key was created, in Unix seconds.
    pub created_at: i64,
    /// When the key stops working, in Unix seconds; `None` for a key that never expires.
    pub expires_at: Option<i64>,
}

/// An API key to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewApiKey {
    /// The key as it will be listed.
    pub key: ApiKey,
    /// SHA-256 of the whole key, hex.
    pub hash: String,
}

/// An API key found by its prefix, with what verifying it needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredApiKey {
    /// The key as it is listed.
    pub key: ApiKey,
    /// SHA-256 of the whole key, hex, compared in constant time with the hash of the
    /// presented key.
    pub hash: String,
    /// Whether the owner revoked the key; a revoked key is refused.
    pub revoked: bool,
    /// The owner's current roles: a key never grants more than its owner still holds.
    pub owner_roles: Vec<String>,
}

/// An account's identity at an OAuth / OpenID Connect provider: who the provider says signed
/// in (`subject`, unique per provider), and the profile it gave at the last sign-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider's name in the settings (`google`, `github`, ...).
    pub provider: String,
    /// The provider's stable id of the person (`sub`, or GitHub's and Facebook's numeric id).
    pub subject: String,
    /// The account it signs in to.
    pub user_id: String,
    /// The email the provider gave, normalized.
    pub email: Option<String>,
    /// Whether the provider asserted the email verified.
    pub email_verified: bool,
    /// The display name the provider gave.
    pub name: Option<String>,
    /// The picture the provider gave.
    pub avatar_url: Option<String>,
    /// When it was linked (Unix seconds).
    pub linked_at: i64,
    /// When it last signed in (Unix seconds).
    pub last_login_at: i64,
}

/// What unlinking an identity did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlink {
    /// It is gone.
    Unlinked,
    /// The account holds no such identity.
    NotFound,
    /// Refused: it is the account's last way to sign in (no password, no other identity).
    LastWay,
}

/// A one-time grant waiting to be redeemed: an OAuth flow in progress (keyed by the hash of
/// its `state`), or the code a front end exchanges for tokens. The payload is the flow's own
/// JSON; the store keeps it opaque.
#[derive(Clone, PartialEq, Eq)]
pub struct NewGrant {
    /// SHA-256 of the secret that redeems it, hex.
    pub hash: String,
    /// What kind of grant it is; a grant is redeemed only as its own kind.
    pub kind: String,
    /// What redeeming it yields.
    pub payload: String,
    /// Unix seconds.
    pub expires_at: i64,
}

impl fmt::Debug for NewGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewGrant")
            .field("kind", &self.kind)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Users, refresh-token families and API keys. Times are Unix seconds, passed in so that
/// every implementation decides expiry the same way.
pub trait AuthStore: Send + Sync + fmt::Debug + 'static {
    /// Creates a user; `Conflict { field: "email" }` when the email is taken.
    fn create_user(&self, user: NewUser) -> BoxFuture<'_, Result<User, StoreError>>;

    /// Starts the confirmation of the *pending* account of `email` over: its password hash
    /// becomes `password_hash` and `confirmation` replaces its earlier tokens. Whoever reads
    /// the mailbox then confirms the account with the password given last, so a stranger who
    /// registered the address first cannot keep its owner out. `false`, changing nothing,
    /// when the account is confirmed or there is none.
    fn restart_confirmation<'a>(
        &'a self,
        email: &'a str,
        password_hash: String,
        confirmation: NewConfirmation,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Confirms the pending account of the token whose hash is `presented`, if the token is
    /// live at `now`: the token is spent (it works once) and the account may sign in. `None`
    /// for an unknown, spent or expired token.
    fn confirm<'a>(
        &'a self,
        presented: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<User>, StoreError>>;

    /// The user with this (normalized) email and their password hash.
    fn user_by_email<'a>(
        &'a self,
        email: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserCredentials>, StoreError>>;

    /// The user with this id.
    fn user<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<User>, StoreError>>;

    /// Replaces a user's roles (for administrators and tests); `NotFound` without the user.
    /// Tokens already issued keep their roles until they expire; refreshes pick up the new
    /// ones.
    fn set_roles<'a>(
        &'a self,
        id: &'a str,
        roles: Vec<String>,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Starts a refresh-token family (a session) for `user_id` with its first token, from
    /// `client`.
    fn start_family<'a>(
        &'a self,
        family_id: &'a str,
        user_id: &'a str,
        first: NewRefreshToken,
        client: SessionClient,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Presents the token whose hash is `presented`: atomically, when it is current and its
    /// family was started after `started_after` (a session's absolute lifetime), marks it
    /// used, stores `next` in its family and marks the family used at `now`; when it was
    /// already used, revokes the family. Of two concurrent calls with one token, exactly one
    /// rotates.
    fn rotate<'a>(
        &'a self,
        presented: &'a str,
        next: NewRefreshToken,
        started_after: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>>;

    /// Revokes the family of the token whose hash is `presented` (logout): the family's id
    /// when the token is known, live or not, so that a retried sign-out whose first attempt
    /// could not record the ending (see `Revocations`) records it.
    fn revoke_family<'a>(
        &'a self,
        presented: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>>;

    /// The live sessions of `user_id` (not revoked, started after `started_after`, holding a
    /// refresh token that is neither used nor expired at `now`), oldest first.
    fn sessions<'a>(
        &'a self,
        user_id: &'a str,
        started_after: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<Session>, StoreError>>;

    /// Revokes `user_id`'s session `family_id`: whether it is theirs (revoked now or before,
    /// so that a retried revocation records its ending again).
    fn revoke_session<'a>(
        &'a self,
        user_id: &'a str,
        family_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Revokes every session of `user_id`: the ids of all its sessions the store still holds,
    /// revoked now or before (a retry records their endings again).
    fn revoke_sessions<'a>(
        &'a self,
        user_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<String>, StoreError>>;

    /// Revokes every live API key of `user_id` (a password change: keys minted with a stolen
    /// session must not outlive it); how many.
    fn revoke_api_keys<'a>(
        &'a self,
        user_id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<u64, StoreError>>;

    /// Replaces a user's password hash (a password change, or a re-hash with new costs);
    /// `NotFound` without the user.
    fn set_password_hash<'a>(
        &'a self,
        user_id: &'a str,
        password_hash: String,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Replaces `user_id`'s password hash `old` with `new` (the same password hashed with the
    /// current costs), only if the hash is still `old`: a password changed meanwhile is never
    /// overwritten with the old password's new hash. Whether it was replaced.
    fn renew_password_hash<'a>(
        &'a self,
        user_id: &'a str,
        old: &'a str,
        new: String,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Deletes the refresh tokens expired at `now` and the families left without any (and
    /// expired confirmation tokens); returns how many refresh tokens went. Run it now and then (a daily task): nothing else removes them.
    /// An expired token that was purged is refused as unknown rather than as reuse, which
    /// changes nothing for its holder: it was refused either way.
    fn purge_expired(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>>;

    /// Stores an API key; `Conflict` if its prefix is taken.
    fn create_api_key(&self, key: NewApiKey) -> BoxFuture<'_, Result<ApiKey, StoreError>>;

    /// The live (not revoked) keys of `user_id`, oldest first.
    fn api_keys<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<ApiKey>, StoreError>>;

    /// Revokes `user_id`'s key `id`; whether it was theirs and live.
    fn revoke_api_key<'a>(
        &'a self,
        user_id: &'a str,
        id: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// The key with this prefix, revoked or not.
    fn api_key_by_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredApiKey>, StoreError>>;

    /// Whether the store can serve requests (for readiness).
    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The identity `subject` at `provider`, whichever account holds it.
    fn identity<'a>(
        &'a self,
        provider: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Option<Identity>, StoreError>>;

    /// Links `identity` to its account; `Conflict { field: "subject" }` when an account
    /// already holds it, `MissingReference` without the account.
    fn link_identity(&self, identity: Identity) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Stores what a sign-in through `identity` brought: its profile (when synced) and when.
    fn touch_identity(&self, identity: Identity) -> BoxFuture<'_, Result<(), StoreError>>;

    /// The identities of `user_id`, oldest first.
    fn identities<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Identity>, StoreError>>;

    /// Unlinks `user_id`'s identity, unless it is the account's last way to sign in. Two
    /// concurrent unlinks of an account's last two identities cannot both succeed.
    fn unlink_identity<'a>(
        &'a self,
        user_id: &'a str,
        provider: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Unlink, StoreError>>;

    /// Stores a one-time grant; `Conflict` when its hash is taken.
    fn put_grant(&self, grant: NewGrant) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Redeems the grant of `kind` whose hash is `hash`: its payload when it is live at `now`.
    /// The grant is spent whether live or not, so of two concurrent redemptions at most one
    /// gets it.
    fn take_grant<'a>(
        &'a self,
        kind: &'a str,
        hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>>;
}

/// The form emails are stored and looked up in, so that one address is one account however
/// it was typed: trimmed; the local part lowercased and in Unicode NFC (`jörg` typed as `o` +
/// a combining diaeresis is the precomposed `ö`); the domain in IDNA's ASCII form (UTS 46:
/// `Bücher.de` and `xn--bcher-kva.de` are one domain). Addresses differing only in case are
/// one account, whatever RFC 5321 allows for local parts: that is what users expect, and it
/// keeps `Alice@x` from registering next to `alice@x`.
///
/// `None` when the text cannot be an address: no `@`, or a domain IDNA refuses.
pub fn normalize_email(email: &str) -> Option<String> {
    use unicode_normalization::UnicodeNormalization as _;
    let (local, domain) = email.trim().rsplit_once('@')?;
    let local: String = local.to_lowercase().nfc().collect();
    let domain = idna::domain_to_ascii(domain).ok()?;
    Some(format!("{local}@{domain}"))
}
