//! The default CRUD behaviour of every contract, over its repository. Generated handler
//! traits call the `*_for` functions from their default methods, with the request's
//! [`Context`]: for an owned contract (`owner:`), the caller's own resources only, unless a
//! role bypasses ownership. Users override a method to change it. The plain functions act on
//! every resource, for the server's own code (seeding, jobs, tests).
//!
//! A handler that changes a default and keeps the rest, the caller's scope included:
//!
//! ```ignore
//! impl NoteHandlers for MyService {
//!     fn note_store(&self) -> &cmmv::Store<Note> {
//!         &self.stores.note
//!     }
//!
//!     // Refuse notes titled "draft", then create as the default would: owned by the caller.
//!     async fn create(&self, ctx: cmmv::Context, input: NoteInput) -> Result<Note, cmmv::Problem> {
//!         if input.title == "draft" {
//!             return Err(cmmv::Problem::conflict("drafts stay on paper"));
//!         }
//!         cmmv::crud::create_for(self.note_store(), ctx, input).await
//!     }
//! }
//! ```

use crate::extract::Context;
use crate::list::Filter;
use crate::problem::Problem;
use crate::resource::{FieldValue, Resource};
use crate::store::{ListQuery, Page, Scope, Store};
use crate::types::DateTime;
use crate::validate::{At, Errors};

fn key_text<R: Resource>(key: &R::Key) -> String {
    key.to_string()
}

/// What the caller of a request reaches of `R`'s resources: all of an unowned contract; of an
/// owned one, the caller's own, or all with a bypass role. A request without a caller reaches
/// nothing of an owned contract: 401 (its operations are never public, the compiler checks).
pub fn scope<R: Resource>(ctx: &Context) -> Result<Scope, Problem> {
    let Some(ownership) = R::OWNERSHIP else {
        return Ok(Scope::All);
    };
    let Some(principal) = &ctx.principal else {
        return Err(crate::auth::AuthError::MissingCredentials.into_problem());
    };
    if ownership.bypass.iter().any(|role| principal.has_role(role)) {
        return Ok(Scope::All);
    }
    // A subject the owner field cannot hold (a token from another issuer, say) owns nothing
    // here: refused before any statement compares it with the column.
    if !R::can_own(&principal.subject) {
        return Err(cannot_own::<R>());
    }
    Ok(Scope::OwnedBy {
        field: ownership.field,
        owner: principal.subject.clone(),
    })
}

/// GET on the collection: the page `query` asks for.
pub async fn list<R: Resource>(store: &Store<R>, query: ListQuery) -> Result<Page<R>, Problem> {
    list_in(store, &Scope::All, query).await
}

/// [`list`] of the resources the caller reaches ([`scope`]).
pub async fn list_for<R: Resource>(
    store: &Store<R>,
    ctx: Context,
    query: ListQuery,
) -> Result<Page<R>, Problem> {
    list_in(store, &scope::<R>(&ctx)?, query).await
}

/// [`list`] within `scope`: its owner condition joins the query's filters, so that every
/// store applies it where it applies them (in SQL, the statement's `WHERE`).
pub async fn list_in<R: Resource>(
    store: &Store<R>,
    scope: &Scope,
    mut query: ListQuery,
) -> Result<Page<R>, Problem> {
    if let Scope::OwnedBy { field, owner } = scope {
        query
            .filters
            .push(Filter::eq(*field, FieldValue::Text(owner.clone())));
    }
    store
        .list(&query)
        .await
        .map_err(|e| e.into_problem(R::NAME, None))
}

/// GET on one resource: the resource with `key`; 404 without one.
pub async fn get<R: Resource>(store: &Store<R>, key: R::Key) -> Result<R, Problem> {
    get_in(store, &Scope::All, key).await
}

/// [`get`] of a resource the caller reaches: another account's is not found, as if it did
/// not exist, so that its existence does not leak.
pub async fn get_for<R: Resource>(
    store: &Store<R>,
    ctx: Context,
    key: R::Key,
) -> Result<R, Problem> {
    get_in(store, &scope::<R>(&ctx)?, key).await
}

/// [`get`] within `scope`.
pub async fn get_in<R: Resource>(
    store: &Store<R>,
    scope: &Scope,
    key: R::Key,
) -> Result<R, Problem> {
    store
        .get(&key, scope)
        .await
        .map_err(|e| e.into_problem(R::NAME, Some(&key_text::<R>(&key))))
}

/// GET `/me` of an account contract (`account:`): the record of the signed-in account, whose
/// key is the caller's account id. A caller without one here (a token of another issuer, an
/// account deleted since) holds a credential that proves nothing to this operation: 401.
pub async fn me_for<R: Resource>(store: &Store<R>, ctx: Context) -> Result<R, Problem> {
    let Some(principal) = &ctx.principal else {
        return Err(crate::auth::AuthError::MissingCredentials.into_problem());
    };
    let unknown = || crate::auth::AuthError::InvalidClaim("sub").into_problem();
    let key: R::Key = principal.subject.parse().map_err(|_| unknown())?;
    match store.get(&key, &Scope::All).await {
        Err(crate::store::StoreError::NotFound) => Err(unknown()),
        other => other.map_err(|e| e.into_problem(R::NAME, Some(&principal.subject))),
    }
}

/// POST: hashes the body's secrets, then stores a new resource with a fresh key (or the
/// client's); 409 when the key or a unique field is taken, 422 when a reference names a
/// resource that does not exist.
pub async fn create<R: Resource>(store: &Store<R>, input: R::Input) -> Result<R, Problem> {
    create_owned(store, None, input).await
}

/// [`create`], the new resource owned by the caller when the contract is owned.
pub async fn create_for<R: Resource>(
    store: &Store<R>,
    ctx: Context,
    input: R::Input,
) -> Result<R, Problem> {
    if R::OWNERSHIP.is_none() {
        return create_owned(store, None, input).await;
    }
    let Some(principal) = &ctx.principal else {
        return Err(crate::auth::AuthError::MissingCredentials.into_problem());
    };
    create_owned(store, Some(principal.subject.clone()), input).await
}

async fn create_owned<R: Resource>(
    store: &Store<R>,
    owner: Option<String>,
    mut input: R::Input,
) -> Result<R, Problem> {
    crate::secret::seal_all(R::input_secrets(&mut input)).await?;
    // An owner the field cannot hold is the caller's identity, not the body, at fault.
    if owner.as_deref().is_some_and(|owner| !R::can_own(owner)) {
        return Err(cannot_own::<R>());
    }
    let now = DateTime::now();
    store
        .insert(Box::new(move |sequence| {
            let key = R::new_key(&input, sequence);
            let mut resource = R::create(key, input, now);
            if let Some(owner) = &owner {
                resource.set_owner(owner);
            }
            resource
        }))
        .await
        .map_err(|e| e.into_problem(R::NAME, None))
}

/// PUT: replaces every input field. A client-chosen key in the body must equal the one in the
/// path: a replace never moves a resource.
pub async fn replace<R: Resource>(
    store: &Store<R>,
    key: R::Key,
    input: R::Input,
) -> Result<R, Problem> {
    replace_in(store, &Scope::All, key, input).await
}

/// [`replace`] of a resource the caller reaches.
pub async fn replace_for<R: Resource>(
    store: &Store<R>,
    ctx: Context,
    key: R::Key,
    input: R::Input,
) -> Result<R, Problem> {
    replace_in(store, &scope::<R>(&ctx)?, key, input).await
}

/// [`replace`] within `scope`.
pub async fn replace_in<R: Resource>(
    store: &Store<R>,
    scope: &Scope,
    key: R::Key,
    mut input: R::Input,
) -> Result<R, Problem> {
    if let Some(body_key) = R::input_key(&input) {
        if body_key != key {
            let mut errors = Errors::new();
            errors.push(
                &At::Root.key(R::KEY_FIELD),
                "key",
                format!("must equal the key in the path, `{key}`"),
            );
            return Err(Problem::validation(errors.into_vec()));
        }
    }
    crate::secret::seal_all(R::input_secrets(&mut input)).await?;
    let now = DateTime::now();
    store
        .update(
            &key,
            scope,
            Box::new(move |resource: &mut R| resource.replace(input, now)),
        )
        .await
        .map_err(|e| e.into_problem(R::NAME, Some(&key_text::<R>(&key))))
}

/// PATCH: changes the fields the body carries.
pub async fn patch<R: Resource>(
    store: &Store<R>,
    key: R::Key,
    patch: R::Patch,
) -> Result<R, Problem> {
    patch_in(store, &Scope::All, key, patch).await
}

/// [`patch`] of a resource the caller reaches.
pub async fn patch_for<R: Resource>(
    store: &Store<R>,
    ctx: Context,
    key: R::Key,
    patch: R::Patch,
) -> Result<R, Problem> {
    patch_in(store, &scope::<R>(&ctx)?, key, patch).await
}

/// [`patch`] within `scope`.
pub async fn patch_in<R: Resource>(
    store: &Store<R>,
    scope: &Scope,
    key: R::Key,
    mut patch: R::Patch,
) -> Result<R, Problem> {
    crate::secret::seal_all(R::patch_secrets(&mut patch)).await?;
    let now = DateTime::now();
    store
        .update(
            &key,
            scope,
            Box::new(move |resource: &mut R| resource.patch(patch, now)),
        )
        .await
        .map_err(|e| e.into_problem(R::NAME, Some(&key_text::<R>(&key))))
}

/// DELETE: removes the resource with `key` (or marks it deleted, with soft delete); 404
/// without one, 409 while others refer to it.
pub async fn delete<R: Resource>(store: &Store<R>, key: R::Key) -> Result<(), Problem> {
    delete_in(store, &Scope::All, key).await
}

/// [`delete`] of a resource the caller reaches.
pub async fn delete_for<R: Resource>(
    store: &Store<R>,
    ctx: Context,
    key: R::Key,
) -> Result<(), Problem> {
    delete_in(store, &scope::<R>(&ctx)?, key).await
}

/// [`delete`] within `scope`.
pub async fn delete_in<R: Resource>(
    store: &Store<R>,
    scope: &Scope,
    key: R::Key,
) -> Result<(), Problem> {
    store
        .delete(&key, scope)
        .await
        .map_err(|e| e.into_problem(R::NAME, Some(&key_text::<R>(&key))))
}

fn cannot_own<R: Resource>() -> Problem {
    Problem::forbidden(format!(
        "the caller's account id cannot own {} resources",
        R::NAME
    ))
}
