//! The repository abstraction generated CRUD handlers persist through, and the in-memory store.
//! The SQL stores (`crate::sql`) implement the same trait and pass the same conformance suite
//! (`tests/tests/integration/store_conformance.rs`).

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::problem::{FieldError, Problem};
use crate::resource::{FieldValue, Resource};

pub use crate::list::{Direction, Filter, ListQuery, Page};

/// A boxed future, so that repositories can be used as trait objects.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// No resource has that key.
    NotFound,
    /// A unique field (or the key) already holds that value.
    Conflict {
        /// The field whose value is taken: a unique field, or the key field (also when the
        /// database does not say which).
        field: String,
    },
    /// A reference field names a resource that does not exist (the field, when the database
    /// says which).
    MissingReference {
        /// The reference field, or `None` when the database does not say which.
        field: Option<String>,
    },
    /// The resource cannot be deleted: others still refer to it.
    StillReferenced,
    /// The store cannot be reached; the request may succeed later.
    Unavailable(Cause),
    /// Anything else; the cause is logged, never sent to the client.
    Internal(Cause),
}

/// What went wrong inside a store, for the log: a message and, when another error caused it
/// (the database driver's, a stored value's decoder's), that error, kept whole as the
/// [`source`](std::error::Error::source) of the [`StoreError`].
#[derive(Debug, Clone)]
pub struct Cause {
    message: String,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

impl Cause {
    /// A cause described by `message` alone.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// `message`, caused by `source`.
    pub fn with_source(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: message.into(),
            source: Some(Arc::new(source)),
        }
    }

    /// Another error, as the cause: its message, and the error itself as the source.
    pub fn from_error(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::with_source(source.to_string(), source)
    }

    /// What went wrong, in words.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Causes compare by what they say: the source is for the log.
impl PartialEq for Cause {
    fn eq(&self, other: &Self) -> bool {
        self.message == other.message
    }
}

impl Eq for Cause {}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        Self::new(message)
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Self::new(message)
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotFound => f.write_str("no resource has that key"),
            StoreError::Conflict { field } => write!(f, "`{field}` already holds that value"),
            StoreError::MissingReference { field: Some(field) } => {
                write!(f, "`{field}` names a resource that does not exist")
            }
            StoreError::MissingReference { field: None } => {
                f.write_str("a reference names a resource that does not exist")
            }
            StoreError::StillReferenced => f.write_str("other resources still refer to it"),
            StoreError::Unavailable(cause) => write!(f, "the store is unavailable: {cause}"),
            StoreError::Internal(cause) => write!(f, "the store failed: {cause}"),
        }
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StoreError::Unavailable(cause) | StoreError::Internal(cause) => cause
                .source
                .as_deref()
                .map(|e| e as &(dyn std::error::Error + 'static)),
            _ => None,
        }
    }
}

impl StoreError {
    /// The problem a client sees for this error when it concerns a resource of `contract`.
    pub fn into_problem(self, contract: &str, key: Option<&str>) -> Problem {
        match self {
            StoreError::NotFound => Problem::not_found(match key {
                Some(key) => format!("{contract} `{key}` does not exist"),
                None => format!("no such {contract}"),
            }),
            StoreError::Conflict { field } => {
                Problem::conflict(format!("another {contract} already has this `{field}`"))
            }
            StoreError::MissingReference { field } => {
                let message = "refers to a resource that does not exist";
                Problem::validation(vec![match field {
                    Some(field) => FieldError::at(format!("/{field}"), "reference", message),
                    None => FieldError::at("", "reference", format!("a field {message}")),
                }])
            }
            StoreError::StillReferenced => Problem::conflict(match key {
                Some(key) => format!("{contract} `{key}` is still referred to by other resources"),
                None => format!("this {contract} is still referred to by other resources"),
            }),
            StoreError::Unavailable(reason) => {
                let source = reason.source.as_ref().map(|e| format!("{e:?}"));
                tracing::warn!(%reason, source, "store unavailable");
                // Every cause (a full write queue, a locked or unreachable database) is
                // worth a retry soon; a second is long enough for a queue to drain.
                Problem::unavailable("storage is temporarily unavailable; retry later")
                    .with_header(http::header::RETRY_AFTER, http::HeaderValue::from(1u32))
            }
            StoreError::Internal(reason) => {
                let source = reason.source.as_ref().map(|e| format!("{e:?}"));
                tracing::error!(%reason, source, "store failure");
                Problem::internal()
            }
        }
    }
}

/// A change applied atomically to a stored resource. It owns what it needs (`'static`): a
/// SQL store on SQLite runs it on the writer's task, inside the write's savepoint.
pub type Change<R> = Box<dyn FnOnce(&mut R) + Send>;

/// What makes a new resource from the next sequence value (for integer keys), inside the
/// insert's transaction; `'static` for the same reason as [`Change`].
pub type Make<R> = Box<dyn FnOnce(u64) -> R + Send>;

/// Which resources an operation may touch: all of them, or those one account owns. Stores
/// apply it where they look rows up (in SQL, a condition of the statement), so that a
/// resource out of scope is not found, exactly like one that does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Every resource: an unowned contract, a caller holding a bypass role, or the server's
    /// own code.
    All,
    /// The resources whose `field` holds `owner`.
    OwnedBy {
        /// The owner field ([`crate::resource::Ownership::field`]).
        field: &'static str,
        /// The account id.
        owner: String,
    },
}

impl Scope {
    /// Whether `resource` is within the scope.
    pub fn admits<R: Resource>(&self, resource: &R) -> bool {
        match self {
            Scope::All => true,
            Scope::OwnedBy { field, owner } => {
                resource.field(field) == Some(FieldValue::Text(owner.clone()))
            }
        }
    }
}

/// Persistence of one contract's resources.
pub trait Repository<R: Resource>: Send + Sync + std::fmt::Debug + 'static {
    /// The page of resources `query` asks for: filtered, sorted, from after its cursor's
    /// position or past its offset, cut by its limit; [`ListQuery::select`] says what each
    /// store must answer, and whether more items follow ([`Page::more`]).
    fn list<'a>(&'a self, query: &'a ListQuery) -> BoxFuture<'a, Result<Page<R>, StoreError>>;

    /// The resource with this key, within `scope`; `NotFound` without one.
    fn get<'a>(&'a self, key: &'a R::Key, scope: &'a Scope)
    -> BoxFuture<'a, Result<R, StoreError>>;

    /// Stores a new resource made by `make` from the next sequence value; fails with
    /// `Conflict` if its key or a unique field is taken.
    fn insert<'a>(&'a self, make: Make<R>) -> BoxFuture<'a, Result<R, StoreError>>;

    /// Applies `change` to the stored resource within `scope` atomically (no concurrent
    /// update is lost) and returns the new state; `NotFound` without one.
    fn update<'a>(
        &'a self,
        key: &'a R::Key,
        scope: &'a Scope,
        change: Change<R>,
    ) -> BoxFuture<'a, Result<R, StoreError>>;

    /// Deletes the resource with this key within `scope` (a soft delete where the contract
    /// asks for one); `NotFound` without one, `StillReferenced` while others refer to it.
    fn delete<'a>(
        &'a self,
        key: &'a R::Key,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<(), StoreError>>;

    /// Whether the store can serve requests (for readiness).
    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>>;
}

/// A shared handle on a repository.
pub type Store<R> = Arc<dyn Repository<R>>;

/// A thread-safe store in memory: for tests and for trying things out.
#[derive(Debug)]
pub struct MemoryStore<R: Resource> {
    rows: RwLock<BTreeMap<R::Key, R>>,
    sequence: AtomicU64,
}

impl<R: Resource> Default for MemoryStore<R> {
    fn default() -> Self {
        Self {
            rows: RwLock::new(BTreeMap::new()),
            sequence: AtomicU64::new(0),
        }
    }
}

impl<R: Resource> MemoryStore<R> {
    /// An empty store whose integer keys start at 1.
    pub fn new() -> Self {
        Self::default()
    }

    /// A shared handle, ready for the app builder.
    pub fn shared() -> Store<R> {
        Arc::new(Self::new())
    }

    fn poisoned() -> StoreError {
        StoreError::Internal("memory store lock poisoned".into())
    }

    /// The unique field of `candidate` whose value another row (not `except`) already has.
    fn unique_clash(
        rows: &BTreeMap<R::Key, R>,
        candidate: &R,
        except: Option<&R::Key>,
    ) -> Option<String> {
        R::UNIQUE.iter().find_map(|field| {
            let value = candidate.field(field)?;
            if value == FieldValue::Null {
                return None;
            }
            rows.iter()
                .filter(|(key, _)| Some(*key) != except)
                .any(|(_, row)| row.field(field).as_ref() == Some(&value))
                .then(|| (*field).to_owned())
        })
    }
}

impl<R: Resource> Repository<R> for MemoryStore<R> {
    fn list<'a>(&'a self, query: &'a ListQuery) -> BoxFuture<'a, Result<Page<R>, StoreError>> {
        Box::pin(async move {
            let rows = self.rows.read().map_err(|_| Self::poisoned())?;
            Ok(query.select(rows.values()))
        })
    }

    fn get<'a>(
        &'a self,
        key: &'a R::Key,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<R, StoreError>> {
        Box::pin(async move {
            let rows = self.rows.read().map_err(|_| Self::poisoned())?;
            rows.get(key)
                .filter(|row| scope.admits(*row))
                .cloned()
                .ok_or(StoreError::NotFound)
        })
    }

    fn insert<'a>(&'a self, make: Make<R>) -> BoxFuture<'a, Result<R, StoreError>> {
        Box::pin(async move {
            let resource = make(self.sequence.fetch_add(1, Ordering::Relaxed) + 1);
            let mut rows = self.rows.write().map_err(|_| Self::poisoned())?;
            if rows.contains_key(resource.key()) {
                return Err(StoreError::Conflict {
                    field: R::KEY_FIELD.to_owned(),
                });
            }
            if let Some(field) = Self::unique_clash(&rows, &resource, None) {
                return Err(StoreError::Conflict { field });
            }
            rows.insert(resource.key().clone(), resource.clone());
            Ok(resource)
        })
    }

    fn update<'a>(
        &'a self,
        key: &'a R::Key,
        scope: &'a Scope,
        change: Change<R>,
    ) -> BoxFuture<'a, Result<R, StoreError>> {
        Box::pin(async move {
            let mut rows = self.rows.write().map_err(|_| Self::poisoned())?;
            let mut updated = rows
                .get(key)
                .filter(|row| scope.admits(*row))
                .cloned()
                .ok_or(StoreError::NotFound)?;
            change(&mut updated);
            if let Some(field) = Self::unique_clash(&rows, &updated, Some(key)) {
                return Err(StoreError::Conflict { field });
            }
            rows.insert(key.clone(), updated.clone());
            Ok(updated)
        })
    }

    fn delete<'a>(
        &'a self,
        key: &'a R::Key,
        scope: &'a Scope,
    ) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let mut rows = self.rows.write().map_err(|_| Self::poisoned())?;
            if !rows.get(key).is_some_and(|row| scope.admits(row)) {
                return Err(StoreError::NotFound);
            }
            rows.remove(key).map(|_| ()).ok_or(StoreError::NotFound)
        })
    }

    fn check(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(async move { self.rows.read().map(|_| ()).map_err(|_| Self::poisoned()) })
    }
}
