//! The default CRUD behaviour of every contract, over its repository. Generated handler
//! traits call these from their default methods; users override a method to change it.

use crate::problem::Problem;
use crate::resource::Resource;
use crate::store::{ListQuery, Page, Store};
use crate::types::DateTime;
use crate::validate::{At, Errors};

fn key_text<R: Resource>(key: &R::Key) -> String {
    key.to_string()
}

/// GET on the collection: the page `query` asks for.
pub async fn list<R: Resource>(store: &Store<R>, query: ListQuery) -> Result<Page<R>, Problem> {
    store
        .list(&query)
        .await
        .map_err(|e| e.into_problem(R::NAME, None))
}

/// GET on one resource: the resource with `key`; 404 without one.
pub async fn get<R: Resource>(store: &Store<R>, key: R::Key) -> Result<R, Problem> {
    store
        .get(&key)
        .await
        .map_err(|e| e.into_problem(R::NAME, Some(&key_text::<R>(&key))))
}

/// POST: hashes the body's secrets, then stores a new resource with a fresh key (or the
/// client's); 409 when the key or a unique field is taken, 422 when a reference names a
/// resource that does not exist.
pub async fn create<R: Resource>(store: &Store<R>, mut input: R::Input) -> Result<R, Problem> {
    crate::secret::seal_all(R::input_secrets(&mut input)).await?;
    let now = DateTime::now();
    store
        .insert(Box::new(move |sequence| {
            let key = R::new_key(&input, sequence);
            R::create(key, input, now)
        }))
        .await
        .map_err(|e| e.into_problem(R::NAME, None))
}

/// PUT: replaces every input field. A client-chosen key in the body must equal the one in the
/// path: a replace never moves a resource.
pub async fn replace<R: Resource>(
    store: &Store<R>,
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
            Box::new(move |resource: &mut R| resource.replace(input, now)),
        )
        .await
        .map_err(|e| e.into_problem(R::NAME, Some(&key_text::<R>(&key))))
}

/// PATCH: changes the fields the body carries.
pub async fn patch<R: Resource>(
    store: &Store<R>,
    key: R::Key,
    mut patch: R::Patch,
) -> Result<R, Problem> {
    crate::secret::seal_all(R::patch_secrets(&mut patch)).await?;
    let now = DateTime::now();
    store
        .update(
            &key,
            Box::new(move |resource: &mut R| resource.patch(patch, now)),
        )
        .await
        .map_err(|e| e.into_problem(R::NAME, Some(&key_text::<R>(&key))))
}

/// DELETE: removes the resource with `key` (or marks it deleted, with soft delete); 404
/// without one, 409 while others refer to it.
pub async fn delete<R: Resource>(store: &Store<R>, key: R::Key) -> Result<(), Problem> {
    store
        .delete(&key)
        .await
        .map_err(|e| e.into_problem(R::NAME, Some(&key_text::<R>(&key))))
}
