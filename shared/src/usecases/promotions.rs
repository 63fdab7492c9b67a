//! Head office's promotions: stored once checked (a started one only ever ended earlier), read
//! back, and listed as a till of a store sees them at a moment.

use chrono::{DateTime, Utc};

use crate::domain::price::PriceScope;
use crate::domain::promotion::{PromotionDraft, Revision, check_scope, revise};
use crate::domain::{CatalogRefusal, NotFound, Promotion, PromotionId, StoreId};
use crate::store::{Failure, PromotionStore, StoreError};
use crate::usecases::prices::PriceResult;

/// What storing a promotion did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Created(Promotion),
    /// Changed, or the body meant what was stored and nothing was written.
    Updated(Promotion),
}

/// Optimistic writes start over this often before answering "retry shortly".
const ATTEMPTS: usize = 8;

/// Stores `draft` as promotion `id` at `now`, refused in the contract's order: the body (400),
/// a scope naming no store (422), the window (422), a change to a started promotion other than
/// ending it earlier (422 before now or later, else 409). A write that loses to another one
/// reads again and judges afresh.
pub async fn put_promotion<S: PromotionStore>(db: &S, id: PromotionId, draft: &PromotionDraft, now: DateTime<Utc>) -> PriceResult<Stored> {
    for _ in 0..ATTEMPTS {
        let stored = db.promotion(&id).await?;
        let wanted = draft.check(id.clone(), stored.as_ref().map(|s| &s.value), now)?;
        let store_exists = match &wanted.scope {
            PriceScope::Store(s) => db.store(s).await?.is_some(),
            _ => true,
        };
        check_scope(&wanted, store_exists)?;
        let (promotion, created) = match revise(stored.as_ref().map(|s| &s.value), wanted, now)? {
            // Written again all the same: a resend is how a client heals a first attempt whose
            // answer was lost, and so the tills' feed gets the change even if that attempt's
            // record of it failed.
            Revision::Unchanged(p) => (p, false),
            Revision::Create(p) => (p, true),
            Revision::Change(p) => (p, false),
        };
        if db.put_promotion(&promotion, stored.as_ref()).await? {
            return Ok(if created { Stored::Created(promotion) } else { Stored::Updated(promotion) });
        }
    }
    Err(Failure::Store(StoreError::Unavailable("the promotion is being changed by another request".into())))
}

pub async fn promotion<S: PromotionStore>(db: &S, id: &PromotionId) -> PriceResult<Promotion> {
    Ok(db.promotion(id).await?.ok_or_else(|| CatalogRefusal::from(NotFound(format!("no promotion {id}"))))?.value)
}

/// The promotions in force for `store_id` at `at`, in id order: what its tills show.
pub async fn promotions_in_force<S: PromotionStore>(db: &S, store_id: &StoreId, at: DateTime<Utc>) -> PriceResult<Vec<Promotion>> {
    let (store, ending) = tokio::join!(db.store(store_id), db.promotions_ending_after(at));
    let store = store?.ok_or_else(|| NotFound::store(store_id))?;
    Ok(ending?.into_iter().filter(|p| p.in_force_for(&store, at)).collect())
}
