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
    Replayed(Box<ReturnReceipt>),
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
        Err(Settled::Replay(answer)) => match *answer {
            KeyAnswer::Return(receipt) => return Ok(TakenBack::Replayed(receipt)),
            // A sale's key: its fingerprint never equals a return's.
            KeyAnswer::Sale(_) => return Err(ReturnRefusal::KeyReused.into()),
        },
        Err(Settled::InProgress) => return Err(ReturnRefusal::InProgress.into()),
        Err(Settled::KeyReused) => return Err(ReturnRefusal::KeyReused.into()),
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

#[cfg(test)]
mod tests {
    //! The use case on the embedded store, where the clock is the test's: the window closes.

    use super::*;
    use crate::domain::catalog::CommodityDraft;
    use crate::domain::price::PriceLine;
    use crate::domain::returns::{ReturnLineDraft, ReturnReason, SaleRef};
    use crate::domain::sale::{LineDraft, Payment, PaymentMethod, SaleDraft};
    use crate::domain::{BatchId, Commodity, Money, RegionId, Sku, StockPolicy, Store, TerminalId, Unit};
    use crate::store::memory::MemoryStore;
    use crate::store::CatalogStore;
    use crate::usecases::prices::apply_price_batch;
    use crate::usecases::sell::{Sold, sell};
    use chrono::{Duration, TimeZone};

    fn s001() -> StoreId {
        StoreId::parse("S001").unwrap()
    }

    /// A sale of 2 MILK at 12.50 in S001 (Shanghai) at `at`.
    async fn sold_at(at: DateTime<Utc>) -> (MemoryStore, SaleRef) {
        let db = MemoryStore::new();
        db.put_store(Store::new(s001(), "Binjiang", RegionId::parse("EAST").unwrap(), None).unwrap()).await.unwrap();
        let draft = CommodityDraft {
            name: "Milk".into(),
            unit: Unit::Each,
            tax_rate_bp: 1300,
            barcodes: vec![],
            category: None,
            stock_policy: StockPolicy::Track,
            allow_shared_barcodes: None,
            stock_shards: None,
        };
        db.put_commodity(Commodity::from_draft(Sku::parse("MILK").unwrap(), draft).unwrap()).await.unwrap();
        let line = PriceLine { sku: "MILK".into(), scope: "chain".into(), amount: 1250, valid_from: Some("2026-01-01T00:00:00Z".into()), valid_to: None, reason: None };
        apply_price_batch(&db, BatchId::parse("list").unwrap(), &[line], "fp".into(), at).await.unwrap();
        let sale = SaleDraft {
            terminal_id: TerminalId::parse("T01").unwrap(),
            lines: vec![LineDraft { sku: Some("MILK".into()), barcode: None, quantity: Some(2), weight_grams: None }],
            payments: vec![Payment { method: PaymentMethod::Cash, amount: Money::from_minor_units(2500) }],
            occurred_at: None,
        };
        let key = IdempotencyKey::parse("s-1").unwrap();
        let Sold::Recorded(record) = sell(&db, &crate::store::cache::Warm::default(), &s001(), &key, &sale, at).await.unwrap() else { unreachable!() };
        (db, SaleRef { store_id: s001(), sale_id: record.receipt.sale_id.clone() })
    }

    fn one_back(sale: SaleRef) -> ReturnDraft {
        ReturnDraft {
            terminal_id: TerminalId::parse("T02").unwrap(),
            sale,
            lines: vec![ReturnLineDraft { line: 0, quantity: None, weight_grams: None }],
            reason: ReturnReason::Unwanted,
            restock: None,
            refunds: None,
        }
    }

    #[tokio::test]
    async fn a_return_is_taken_until_the_thirtieth_day_after_the_sales_business_day() {
        // Sold at 20:00 in Shanghai on 11 November: returns until the end of 11 December there.
        let sold = Utc.with_ymd_and_hms(2026, 11, 11, 12, 0, 0).unwrap();
        let (db, sale) = sold_at(sold).await;
        let draft = one_back(sale);
        let key = IdempotencyKey::parse("r-1").unwrap();
        let last = Utc.with_ymd_and_hms(2026, 12, 11, 15, 59, 0).unwrap();
        let late = last + Duration::minutes(1);
        let refused = take_back(&db, &StoreCache::default(), &s001(), &key, &draft, late).await.unwrap_err();
        assert!(matches!(refused, Failure::Refused(ReturnRefusal::WindowClosed(_))), "{refused:?}");
        // The refusal gave the key back, and recorded nothing.
        assert!(db.entries_since(0).0.len() == 1);
        let taken = take_back(&db, &StoreCache::default(), &s001(), &key, &draft, last).await.unwrap();
        let TakenBack::Recorded(receipt) = taken else { panic!("recorded") };
        assert_eq!((receipt.total, receipt.business_day.to_string().as_str()), (Money::from_minor_units(1250), "2026-12-11"));
    }
}
