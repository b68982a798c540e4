//! One notion of a user: the login module's accounts are the records of the project's account
//! contract (`account:` in a contract, `User` in the example). The module keeps the
//! credentials; the contract's store keeps the record, keyed by the account id that tokens
//! carry as `sub`, so `GET /v1/users/me` and ownership (`owner:` fields holding `sub`) name the
//! same person as `/auth/me`.
//!
//! The record is made when the account is registered, and made again if missing (or its email
//! brought back in step) whenever the account signs in: so accounts made before the contract
//! was bound, or whose record could not be written at registration, get theirs at their next
//! sign-in instead of a `me` that never answers.
//!
//! A service that builds its app by hand gives the login module the generated store:
//!
//! ```ignore
//! let stores = std::sync::Arc::new(api::Stores::open(database.as_ref()));
//! let login = cmmv::auth::Login::from_settings(accounts, &settings)?
//!     .with_records(stores.accounts());
//! let app = cmmv::App::builder(settings).api(&api::API).login(&login).routes(api::routes(stores));
//! ```
//!
//! (`cmmv::service::Service` does the same with `service.accounts(stores.accounts())`.)

use std::fmt;
use std::marker::PhantomData;

use super::BoxFuture;
use crate::resource::AccountRecord;
use crate::store::{Scope, Store, StoreError};
use crate::types::DateTime;

/// Where the login module keeps each account's record: implemented for the account contract's
/// store by [`ContractAccounts`], which the generated `Stores::accounts` gives.
pub trait AccountRecords: Send + Sync + fmt::Debug + 'static {
    /// Makes sure the account `id` has its record, showing `email`: made with the contract's
    /// defaults when missing, its email updated when it differs, untouched otherwise.
    fn ensure<'a>(&'a self, id: &'a str, email: &'a str) -> BoxFuture<'a, Result<(), StoreError>>;
}

/// The account contract `R`'s store, as the login module's [`AccountRecords`].
pub struct ContractAccounts<R: AccountRecord> {
    store: Store<R>,
    contract: PhantomData<fn() -> R>,
}

impl<R: AccountRecord> ContractAccounts<R> {
    /// The records of `store`.
    pub fn new(store: Store<R>) -> Self {
        Self {
            store,
            contract: PhantomData,
        }
    }
}

impl<R: AccountRecord> fmt::Debug for ContractAccounts<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContractAccounts")
            .field("contract", &R::NAME)
            .field("store", &self.store)
            .finish()
    }
}

impl<R: AccountRecord> AccountRecords for ContractAccounts<R> {
    fn ensure<'a>(&'a self, id: &'a str, email: &'a str) -> BoxFuture<'a, Result<(), StoreError>> {
        Box::pin(async move {
            let key: R::Key = id.parse().map_err(|_| {
                StoreError::Internal(format!("account id `{id}` is no key of {}", R::NAME).into())
            })?;
            // Two first sign-ins of one account may race: the loser's insert conflicts on the
            // key, and it then finds the winner's record like any later sign-in.
            for _ in 0..2 {
                match self.store.get(&key, &Scope::All).await {
                    Ok(record) if record.account_email() == email => return Ok(()),
                    Ok(_) => {
                        let email = email.to_owned();
                        let now = DateTime::now();
                        let change = move |record: &mut R| record.set_account_email(&email, now);
                        return self
                            .store
                            .update(&key, &Scope::All, Box::new(change))
                            .await
                            .map(|_| ());
                    }
                    Err(StoreError::NotFound) => {}
                    Err(error) => return Err(error),
                }
                let (made, email) = (key.clone(), email.to_owned());
                let make = move |_| R::for_account(made, &email, DateTime::now());
                match self.store.insert(Box::new(make)).await {
                    Ok(_) => return Ok(()),
                    Err(StoreError::Conflict { field }) if field == R::KEY_FIELD => continue,
                    Err(error) => return Err(error),
                }
            }
            Err(StoreError::Internal(
                format!(
                    "the {} record of account `{id}` is neither found nor made",
                    R::NAME
                )
                .into(),
            ))
        })
    }
}
