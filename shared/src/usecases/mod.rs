//! Use cases: plain async functions over the store ports, each one business operation end to
//! end. Retries, idempotency and the contract's order of refusals live here, once; a function's
//! `lib.rs` authorizes, parses, calls one of these and replies.

pub mod catalog;
pub mod catalog_sync;
pub mod lookup;
pub mod prices;
pub mod promotions;
pub mod reports;
pub mod sell;
pub mod take_back;

use crate::domain::{NotFound, Store, StoreId};
use crate::store::cache::StoreCache;
use crate::store::{Failure, Stores};

/// The store `id`, from the function's memory while fresh; `NotFound` when there is none. Every
/// use case that serves one store starts here, refused in its own refusal type.
pub async fn find_store<S: Stores, R: From<NotFound>>(db: &S, stores: &StoreCache, id: &StoreId) -> Result<Store, Failure<R>> {
    let found = stores.get(id, || db.store(id)).await?;
    found.ok_or_else(|| Failure::Refused(NotFound::store(id).into()))
}
