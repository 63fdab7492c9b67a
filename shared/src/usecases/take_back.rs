//! Taking goods back, end to end: the return checked, its key claimed (the store's one key
//! space, shared with sales) while its sale is read, planned against what has come back of the
//! sale so far, refused in the contract's order or committed, planned again when another
//! return of the same sale landed first, and the key given back on refusal.

use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::domain::returns::{ReturnDraft, ReturnReceipt, ReturnRefusal, Returnable, SaleReturns, plan_return, returnable};
use crate::domain::{IdempotencyKey, NotFound, ReturnId, SaleId, StoreId};
use crate::store::cache::StoreCache;
use crate::store::{ClaimToken, Failure, KeyAnswer, PendingReturn, ReturnsStore, StoreError};
use crate::usecases::find_store;
use crate::usecases::sell::{Settled, release, settle_claim};

/// How a return was answered: recorded now, or the receipt of its first attempt replayed.
#[derive(Debug, Clone)]
pub enum TakenBack {
    Recorded(Arc<ReturnReceipt>),
    Replayed(ReturnReceipt),
}

pub type ReturnResult<T> = Result<T, Failure<ReturnRefusal>>;

/// How many times a return is planned again because other returns of its sale landed first.
/// Each time, one did: a line sold `n` times is exhausted after at most `n` of them.
const PLANS: usize = 12;

/// Takes `draft` back in store `store_id` under `key`: the return's own checks (400s), the
/// store (404), then the sale read while the key is claimed (404), planned and committed.
pub async fn take_back<S: ReturnsStore>(
    db: &S,
    stores: &StoreCache,
    store_id: &StoreId,
    key: &IdempotencyKey,
    draft: &ReturnDraft,
    now: DateTime<Utc>,
) -> ReturnResult<TakenBack> {
    draft.check()?;
    let store = find_store(db, stores, store_id).await?;
    let fingerprint = draft.fingerprint();
    let token = ClaimToken::new();
    // One wave: the key and the sale, as a sale claims its key while reading its basket.
    let (claim, found) = tokio::join!(
        db.claim_sale_key(store_id, key, &fingerprint, &token, now),
        db.sale_returns(&draft.sale.store_id, &draft.sale.sale_id),
    );
    let claim = match claim {
        Ok(claim) => claim,
        Err(e) => {
            // The claim may have landed and only its answer been lost.
            release(db, store_id, key, &token).await;
            return Err(e.into());
        }
    };
    let claim = match settle_claim(claim, &fingerprint) {
        Ok(claim) => claim,
        Err(Settled::Replay(KeyAnswer::Return(receipt))) => return Ok(TakenBack::Replayed(receipt)),
        Err(Settled::InProgress) => return Err(ReturnRefusal::InProgress.into()),
        Err(Settled::Replay(KeyAnswer::Sale(_)) | Settled::KeyReused) => return Err(ReturnRefusal::KeyReused.into()),
    };
    let outcome = async {
        let mut found = sale_found(found?, draft)?;
        let return_id = ReturnId::generate();
        for _ in 0..PLANS {
            let plan = plan_return(draft, &found, &store, now)?;
            let pending = PendingReturn {
                key: key.clone(),
                claim,
                fingerprint: fingerprint.clone(),
                return_id: return_id.clone(),
                store: store.clone(),
                draft: draft.clone(),
                sale: found.sale.clone(),
                plan,
                created_at: now,
            };
            match db.commit_return(pending).await {
                Err(Failure::Refused(ReturnRefusal::SaleChanged)) => {
                    found = sale_found(db.sale_returns(&draft.sale.store_id, &draft.sale.sale_id).await?, draft)?;
                }
                done => return done,
            }
        }
        Err(Failure::Store(StoreError::unavailable("other returns of this sale kept landing first; retry with the same key")))
    }
    .await;
    if outcome.is_err() {
        release(db, store_id, key, &token).await;
    }
    outcome.map(TakenBack::Recorded)
}

fn sale_found(found: Option<SaleReturns>, draft: &ReturnDraft) -> ReturnResult<SaleReturns> {
    found.ok_or_else(|| {
        Failure::Refused(NotFound(format!("no sale {} in store {}", draft.sale.sale_id, draft.sale.store_id)).into())
    })
}

/// A return receipt of the store that took it; `NotFound` when it has none such.
pub async fn return_receipt<S: ReturnsStore>(db: &S, store: &StoreId, id: &ReturnId) -> Result<ReturnReceipt, Failure<NotFound>> {
    db.return_receipt(store, id)
        .await?
        .ok_or_else(|| Failure::Refused(NotFound(format!("no return {id} in store {store}"))))
}

/// What is left to return of a sale of `store`.
pub async fn what_is_returnable<S: ReturnsStore>(db: &S, store: &StoreId, sale: &SaleId) -> Result<Returnable, Failure<NotFound>> {
    let found = db.sale_returns(store, sale).await?;
    let found = found.ok_or_else(|| Failure::Refused(NotFound(format!("no sale {sale} in store {store}"))))?;
    Ok(returnable(&found))
}
