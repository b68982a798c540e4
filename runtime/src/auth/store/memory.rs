//! The auth store in memory: for tests and for trying things out. One lock over everything
//! makes each operation atomic, which is all rotation needs here.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};

use super::{
    ApiKey, AuthStore, BoxFuture, Identity, NewApiKey, NewConfirmation, NewGrant, NewRefreshToken,
    NewUser, Rotation, Session, SessionClient, StoredApiKey, Unlink, User, UserCredentials,
};
use crate::store::StoreError;

/// Users, token families and API keys in process memory.
#[derive(Debug, Default)]
pub struct MemoryAuthStore {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// By id.
    users: HashMap<String, UserCredentials>,
    /// Email → id.
    emails: HashMap<String, String>,
    /// By id.
    families: HashMap<String, Family>,
    /// Token hash → token.
    tokens: HashMap<String, Token>,
    /// By prefix.
    api_keys: HashMap<String, (NewApiKey, bool)>,
    /// Confirmation-token hash → (user id, expires at).
    confirmations: HashMap<String, (String, i64)>,
    /// By (provider, subject).
    identities: HashMap<(String, String), Identity>,
    /// Grant hash → grant.
    grants: HashMap<String, NewGrant>,
}

#[derive(Debug)]
struct Family {
    user_id: String,
    revoked: bool,
    created_at: i64,
    last_used_at: i64,
    client: SessionClient,
}

#[derive(Debug)]
struct Token {
    family_id: String,
    user_id: String,
    expires_at: i64,
    used: bool,
}

impl MemoryAuthStore {
    /// An empty store: no users, tokens or keys.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> Result<MutexGuard<'_, State>, StoreError> {
        // A panic while holding the lock leaves the maps consistent (every change is a single
        // insert or flag), so a poisoned lock is still usable.
        Ok(self
            .state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}

impl AuthStore for MemoryAuthStore {
    fn create_user(&self, user: NewUser) -> BoxFuture<'_, Result<User, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            if state.emails.contains_key(&user.email) {
                return Err(StoreError::Conflict {
                    field: "email".to_owned(),
                });
            }
            if let Some(identity) = &user.identity {
                let key = (identity.provider.clone(), identity.subject.clone());
                if state.identities.contains_key(&key) {
                    return Err(StoreError::Conflict {
                        field: "subject".to_owned(),
                    });
                }
                state.identities.insert(key, identity.clone());
            }
            let created = User {
                id: user.id.clone(),
                email: user.email.clone(),
                roles: user.roles,
                created_at: user.created_at,
                confirmed: user.confirmation.is_none(),
                email_verified: user.email_verified,
            };
            if let Some(confirmation) = user.confirmation {
                state.confirmations.insert(
                    confirmation.hash,
                    (user.id.clone(), confirmation.expires_at),
                );
            }
            state.emails.insert(user.email, user.id.clone());
            state.users.insert(
                user.id,
                UserCredentials {
                    user: created.clone(),
                    password_hash: user.password_hash,
                },
            );
            Ok(created)
        })
    }

    fn restart_confirmation<'a>(
        &'a self,
        email: &'a str,
        password_hash: String,
        confirmation: NewConfirmation,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            let State {
                emails,
                users,
                confirmations,
                ..
            } = &mut *state;
            let Some(user) = emails.get(email).and_then(|id| users.get_mut(id)) else {
                return Ok(false);
            };
            if user.user.confirmed {
                return Ok(false);
            }
            user.password_hash = Some(password_hash);
            let id = user.user.id.clone();
            confirmations.retain(|_, (owner, _)| *owner != id);
            confirmations.insert(confirmation.hash, (id, confirmation.expires_at));
            Ok(true)
        })
    }

    fn confirm<'a>(
        &'a self,
        presented: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<User>, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            let Some((id, expires_at)) = state.confirmations.remove(presented) else {
                return Ok(None);
            };
            if expires_at <= now {
                return Ok(None);
            }
            Ok(state.users.get_mut(&id).map(|user| {
                user.user.confirmed = true;
                user.user.email_verified = true;
                user.user.clone()
            }))
        })
    }

    fn user_by_email<'a>(
        &'a self,
        email: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserCredentials>, StoreError>> {
        Box::pin(async move {
            let state = self.state()?;
            Ok(state
                .emails
                .get(email)
                .and_then(|id| state.users.get(id))
                .cloned())
        })
    }

    fn user<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<User>, StoreError>> {
        Box::pin(async move { Ok(self.state()?.users.get(id).map(|c| c.user.clone())) })
    }

    fn set_roles<'a>(
        &'a self,
        id: &'a str,
        roles: Vec<String>,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            let user = state.users.get_mut(id).ok_or(StoreError::NotFound)?;
            user.user.roles = roles;
            Ok(())
        })
    }

    fn start_family<'a>(
        &'a self,
        family_id: &'a str,
        user_id: &'a str,
        first: NewRefreshToken,
        client: SessionClient,
        now: i64,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            if !state.users.contains_key(user_id) {
                return Err(StoreError::MissingReference {
                    field: Some("user_id".to_owned()),
                });
            }
            state.families.insert(
                family_id.to_owned(),
                Family {
                    user_id: user_id.to_owned(),
                    revoked: false,
                    created_at: now,
                    last_used_at: now,
                    client,
                },
            );
            state.tokens.insert(
                first.hash,
                Token {
                    family_id: family_id.to_owned(),
                    user_id: user_id.to_owned(),
                    expires_at: first.expires_at,
                    used: false,
                },
            );
            Ok(())
        })
    }

    fn rotate<'a>(
        &'a self,
        presented: &'a str,
        next: NewRefreshToken,
        started_after: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            let State {
                families, tokens, ..
            } = &mut *state;
            let Some(token) = tokens.get_mut(presented) else {
                return Ok(Rotation::Invalid);
            };
            let Some(family) = families.get_mut(&token.family_id) else {
                return Ok(Rotation::Invalid);
            };
            if token.used {
                family.revoked = true;
                return Ok(Rotation::Reused {
                    user_id: token.user_id.clone(),
                    family_id: token.family_id.clone(),
                });
            }
            if family.revoked || family.created_at <= started_after || token.expires_at <= now {
                return Ok(Rotation::Invalid);
            }
            token.used = true;
            family.last_used_at = now;
            let successor = Token {
                family_id: token.family_id.clone(),
                user_id: token.user_id.clone(),
                expires_at: next.expires_at,
                used: false,
            };
            let (user_id, family_id) = (successor.user_id.clone(), successor.family_id.clone());
            tokens.insert(next.hash, successor);
            Ok(Rotation::Rotated { user_id, family_id })
        })
    }

    fn revoke_family<'a>(
        &'a self,
        presented: &'a str,
        _now: i64,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            let Some(family_id) = state.tokens.get(presented).map(|t| t.family_id.clone()) else {
                return Ok(None);
            };
            if let Some(family) = state.families.get_mut(&family_id) {
                family.revoked = true;
            }
            Ok(Some(family_id))
        })
    }

    fn sessions<'a>(
        &'a self,
        user_id: &'a str,
        started_after: i64,
        now: i64,
    ) -> BoxFuture<'a, Result<Vec<Session>, StoreError>> {
        Box::pin(async move {
            let state = self.state()?;
            let live = |id: &String| {
                state
                    .tokens
                    .values()
                    .any(|t| &t.family_id == id && !t.used && t.expires_at > now)
            };
            let mut sessions: Vec<Session> = state
                .families
                .iter()
                .filter(|(id, f)| {
                    f.user_id == user_id && !f.revoked && f.created_at > started_after && live(id)
                })
                .map(|(id, f)| Session {
                    id: id.clone(),
                    created_at: f.created_at,
                    last_used_at: f.last_used_at,
                    client: f.client.clone(),
                })
                .collect();
            sessions.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(sessions)
        })
    }

    fn revoke_session<'a>(
        &'a self,
        user_id: &'a str,
        family_id: &'a str,
        _now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            match state.families.get_mut(family_id) {
                Some(family) if family.user_id == user_id => {
                    family.revoked = true;
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn revoke_sessions<'a>(
        &'a self,
        user_id: &'a str,
        _now: i64,
    ) -> BoxFuture<'a, Result<Vec<String>, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            let mut revoked = Vec::new();
            for (id, family) in &mut state.families {
                if family.user_id == user_id {
                    family.revoked = true;
                    revoked.push(id.clone());
                }
            }
            revoked.sort();
            Ok(revoked)
        })
    }

    fn revoke_api_keys<'a>(
        &'a self,
        user_id: &'a str,
        _now: i64,
    ) -> BoxFuture<'a, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            let mut revoked = 0;
            for (key, is_revoked) in state.api_keys.values_mut() {
                if key.key.user_id == user_id && !*is_revoked {
                    *is_revoked = true;
                    revoked += 1;
                }
            }
            Ok(revoked)
        })
    }

    fn set_password_hash<'a>(
        &'a self,
        user_id: &'a str,
        password_hash: String,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            let user = state.users.get_mut(user_id).ok_or(StoreError::NotFound)?;
            user.password_hash = Some(password_hash);
            Ok(())
        })
    }

    fn renew_password_hash<'a>(
        &'a self,
        user_id: &'a str,
        old: &'a str,
        new: String,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            match state.users.get_mut(user_id) {
                Some(user) if user.password_hash.as_deref() == Some(old) => {
                    user.password_hash = Some(new);
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
    }

    fn purge_expired(&self, now: i64) -> BoxFuture<'_, Result<u64, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            let before = state.tokens.len();
            state.tokens.retain(|_, token| token.expires_at > now);
            let State {
                families,
                tokens,
                confirmations,
                grants,
                ..
            } = &mut *state;
            families.retain(|id, _| tokens.values().any(|t| &t.family_id == id));
            confirmations.retain(|_, (_, expires_at)| *expires_at > now);
            grants.retain(|_, grant| grant.expires_at > now);
            Ok(u64::try_from(before - tokens.len()).unwrap_or(u64::MAX))
        })
    }

    fn create_api_key(&self, key: NewApiKey) -> BoxFuture<'_, Result<ApiKey, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            if state.api_keys.contains_key(&key.key.prefix) {
                return Err(StoreError::Conflict {
                    field: "prefix".to_owned(),
                });
            }
            if !state.users.contains_key(&key.key.user_id) {
                return Err(StoreError::MissingReference {
                    field: Some("user_id".to_owned()),
                });
            }
            let created = key.key.clone();
            state.api_keys.insert(key.key.prefix.clone(), (key, false));
            Ok(created)
        })
    }

    fn api_keys<'a>(&'a self, user_id: &'a str) -> BoxFuture<'a, Result<Vec<ApiKey>, StoreError>> {
        Box::pin(async move {
            let state = self.state()?;
            let mut keys: Vec<ApiKey> = state
                .api_keys
                .values()
                .filter(|(stored, revoked)| !revoked && stored.key.user_id == user_id)
                .map(|(stored, _)| stored.key.clone())
                .collect();
            keys.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
            Ok(keys)
        })
    }

    fn revoke_api_key<'a>(
        &'a self,
        user_id: &'a str,
        id: &'a str,
        _now: i64,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            let found = state.api_keys.values_mut().find(|(stored, revoked)| {
                !*revoked && stored.key.id == id && stored.key.user_id == user_id
            });
            Ok(match found {
                Some((_, revoked)) => {
                    *revoked = true;
                    true
                }
                None => false,
            })
        })
    }

    fn api_key_by_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredApiKey>, StoreError>> {
        Box::pin(async move {
            let state = self.state()?;
            Ok(state.api_keys.get(prefix).map(|(stored, revoked)| {
                let owner_roles = state
                    .users
                    .get(&stored.key.user_id)
                    .map(|owner| owner.user.roles.clone())
                    .unwrap_or_default();
                StoredApiKey {
                    key: stored.key.clone(),
                    hash: stored.hash.clone(),
                    revoked: *revoked,
                    owner_roles,
                }
            }))
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.state().map(drop) })
    }

    fn identity<'a>(
        &'a self,
        provider: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Option<Identity>, StoreError>> {
        Box::pin(async move {
            let state = self.state()?;
            Ok(state
                .identities
                .get(&(provider.to_owned(), subject.to_owned()))
                .cloned())
        })
    }

    fn link_identity(&self, identity: Identity) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            if !state.users.contains_key(&identity.user_id) {
                return Err(StoreError::MissingReference {
                    field: Some("user_id".to_owned()),
                });
            }
            let key = (identity.provider.clone(), identity.subject.clone());
            if state.identities.contains_key(&key) {
                return Err(StoreError::Conflict {
                    field: "subject".to_owned(),
                });
            }
            state.identities.insert(key, identity);
            Ok(())
        })
    }

    fn touch_identity(&self, identity: Identity) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            let key = (identity.provider.clone(), identity.subject.clone());
            match state.identities.get_mut(&key) {
                Some(stored) if stored.user_id == identity.user_id => {
                    stored.email = identity.email;
                    stored.email_verified = identity.email_verified;
                    stored.name = identity.name;
                    stored.avatar_url = identity.avatar_url;
                    stored.last_login_at = identity.last_login_at;
                    Ok(())
                }
                _ => Err(StoreError::NotFound),
            }
        })
    }

    fn identities<'a>(
        &'a self,
        user_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<Identity>, StoreError>> {
        Box::pin(async move {
            let state = self.state()?;
            let mut found: Vec<Identity> = state
                .identities
                .values()
                .filter(|i| i.user_id == user_id)
                .cloned()
                .collect();
            found.sort_by(|a, b| {
                (a.linked_at, &a.provider, &a.subject).cmp(&(b.linked_at, &b.provider, &b.subject))
            });
            Ok(found)
        })
    }

    fn unlink_identity<'a>(
        &'a self,
        user_id: &'a str,
        provider: &'a str,
        subject: &'a str,
    ) -> BoxFuture<'a, Result<Unlink, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            let key = (provider.to_owned(), subject.to_owned());
            if state
                .identities
                .get(&key)
                .is_none_or(|i| i.user_id != user_id)
            {
                return Ok(Unlink::NotFound);
            }
            let has_password = state
                .users
                .get(user_id)
                .is_some_and(|u| u.password_hash.is_some());
            let others = state
                .identities
                .values()
                .filter(|i| i.user_id == user_id)
                .count()
                - 1;
            if !has_password && others == 0 {
                return Ok(Unlink::LastWay);
            }
            state.identities.remove(&key);
            Ok(Unlink::Unlinked)
        })
    }

    fn put_grant(&self, grant: NewGrant) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            if state.grants.contains_key(&grant.hash) {
                return Err(StoreError::Conflict {
                    field: "hash".to_owned(),
                });
            }
            state.grants.insert(grant.hash.clone(), grant);
            Ok(())
        })
    }

    fn take_grant<'a>(
        &'a self,
        kind: &'a str,
        hash: &'a str,
        now: i64,
    ) -> BoxFuture<'a, Result<Option<String>, StoreError>> {
        Box::pin(async move {
            let mut state = self.state()?;
            if state.grants.get(hash).is_none_or(|g| g.kind != kind) {
                return Ok(None);
            }
            Ok(state
                .grants
                .remove(hash)
                .filter(|g| g.expires_at > now)
                .map(|g| g.payload))
        })
    }
}
