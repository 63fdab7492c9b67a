//! Selling, end to end: a till's sale checked, its idempotency key claimed, its basket read,
//! priced, refused in the contract's order or committed, and the key given back on refusal.
//! Every way a sale is recorded (a sale alone, an entry of an offline upload, and later a
//! return's exchange) goes through [`sell`] or [`sell_in`].

use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::domain::sale::{BasketCatalog, CheckedSale, LineItem, Receipt, SaleDraft, SaleRecord, check_time, price_basket, settle};
use crate::domain::{Barcode, IdempotencyKey, NotFound, Promotion, SaleId, SaleRefusal, Sku, Store, StoreId};
use crate::store::cache::{PromotionCache, Warm};
use crate::usecases::find_store;
use crate::store::{BasketReading, Claim, ClaimToken, Failure, KeyAnswer, KeyClaim, PendingSale, SalesStore};

/// How a sale was answered: recorded now, or the receipt of its first attempt replayed.
#[derive(Debug, Clone)]
pub enum Sold {
    Recorded(Arc<SaleRecord>),
    Replayed(Box<Receipt>),
}

pub type SaleResult<T> = Result<T, Failure<SaleRefusal>>;

/// Sells `draft` in store `store_id` under `key`: the sale's own checks (400s) before the store
/// is looked up (404), then [`sell_in`]. `warm` is what the function remembers of stores and
/// promotions.
pub async fn sell<S: SalesStore>(
    db: &S,
    warm: &Warm,
    store_id: &StoreId,
    key: &IdempotencyKey,
    draft: &SaleDraft,
    now: DateTime<Utc>,
) -> SaleResult<Sold> {
    let checked = draft.check(now)?;
    let store = find_store(db, &warm.stores, store_id).await?;
    record(db, &warm.promotions, &store, key, &draft.fingerprint(), checked, now).await
}

/// Sells `draft` in a store already found (an offline upload looks its store up once).
pub async fn sell_in<S: SalesStore>(
    db: &S,
    promotions: &PromotionCache,
    store: &Store,
    key: &IdempotencyKey,
    draft: &SaleDraft,
    now: DateTime<Utc>,
) -> SaleResult<Sold> {
    let checked = draft.check(now)?;
    // The key is not part of the sale: the same sale sent alone has the same fingerprint.
    record(db, promotions, store, key, &draft.fingerprint(), checked, now).await
}

/// A recorded sale's receipt; `NotFound` when the store has no such sale.
pub async fn receipt<S: SalesStore>(db: &S, store: &StoreId, sale: &SaleId) -> Result<Receipt, Failure<NotFound>> {
    db.sale(store, sale)
        .await?
        .ok_or_else(|| Failure::Refused(NotFound(format!("no sale {sale} in store {store}"))))
}

/// Claims the key while reading what the basket names and, when the function's list is stale,
/// the promotions (one wave of reads), then prices, checks and commits the sale (one write);
/// gives the key back on refusal.
async fn record<S: SalesStore>(
    db: &S,
    promotions: &PromotionCache,
    store: &Store,
    key: &IdempotencyKey,
    fingerprint: &str,
    sale: CheckedSale,
    now: DateTime<Utc>,
) -> SaleResult<Sold> {
    let (skus, barcodes) = named_in(&sale);
    let token = ClaimToken::new();
    // A replay or a key in use wastes the read; every first attempt saves a round trip.
    let (claim, reading, promotions) = tokio::join!(
        db.claim_sale_key(&store.store_id, key, fingerprint, &token, now),
        db.basket_reading(store, &skus, &barcodes),
        promotions.get(now, |after| db.promotions_ending_after(after)),
    );
    let claim = match claim {
        Ok(claim) => claim,
        // The claim may have landed and only its answer been lost: give it back now, or the
        // till's retry would find it in progress until it lapses.
        Err(e) => {
            release(db, &store.store_id, key, &token).await;
            return Err(e.into());
        }
    };
    let claim = match settle_claim(claim, fingerprint) {
        Ok(claim) => claim,
        Err(Settled::Replay(answer)) => match *answer {
            KeyAnswer::Sale(receipt) => return Ok(Sold::Replayed(receipt)),
            // A return's key: its fingerprint never equals a sale's.
            KeyAnswer::Return(_) => return Err(SaleRefusal::KeyReused.into()),
        },
        Err(Settled::InProgress) => return Err(SaleRefusal::InProgress.into()),
        Err(Settled::KeyReused) => return Err(SaleRefusal::KeyReused.into()),
    };
    let outcome = match (reading, promotions) {
        (Ok(reading), Ok(promotions)) => price_and_commit(db, store, key, fingerprint, claim, sale, &reading, &promotions, now).await,
        (Err(e), _) | (_, Err(e)) => Err(e.into()),
    };
    if outcome.is_err() {
        release(db, &store.store_id, key, &token).await;
    }
    outcome.map(Sold::Recorded)
}

/// What a key already held decides, when this attempt did not get it.
pub(crate) enum Settled {
    /// Completed with an equal body: its first answer again.
    Replay(Box<KeyAnswer>),
    /// An equal body is still being recorded.
    InProgress,
    /// Used for another body (a sale's key for a return too), done or not.
    KeyReused,
}

/// The claim to go on with, or what the key's holder decides; one rule for sales and returns.
pub(crate) fn settle_claim(claim: KeyClaim, fingerprint: &str) -> Result<Claim, Settled> {
    match claim {
        KeyClaim::Claimed(claim) => Ok(claim),
        KeyClaim::Completed { fingerprint: first, answer } if first == fingerprint => Err(Settled::Replay(answer)),
        KeyClaim::InProgress { fingerprint: first } if first == fingerprint => Err(Settled::InProgress),
        KeyClaim::Completed { .. } | KeyClaim::InProgress { .. } => Err(Settled::KeyReused),
    }
}

/// Gives this attempt's claim back, if it holds one; when that fails too, the claim lapses by
/// itself after `IN_PROGRESS_EXPIRY` and the till's retry waits until then.
pub(crate) async fn release<S: SalesStore>(db: &S, store: &StoreId, key: &IdempotencyKey, token: &ClaimToken) {
    if let Err(e) = db.release_sale_key(store, key, token).await {
        tracing::warn!(error = %e, "could not give an idempotency key back after a failed attempt");
    }
}

/// The skus and barcodes a basket names, each once.
fn named_in(sale: &CheckedSale) -> (Vec<Sku>, Vec<Barcode>) {
    let mut skus: Vec<Sku> = Vec::new();
    let mut barcodes: Vec<Barcode> = Vec::new();
    for line in &sale.lines {
        match &line.item {
            LineItem::Sku(s) => skus.push(s.clone()),
            LineItem::Scan(scan) => barcodes.push(scan.barcode.clone()),
        }
    }
    skus.sort();
    skus.dedup();
    barcodes.sort();
    barcodes.dedup();
    (skus, barcodes)
}

/// Prices the basket and commits it, refusing in the contract's order: a line that does not
/// fit its unit (400) before the sale's time (422) before an unknown or unpriced line (422)
/// before payment (422) before stock (409).
#[allow(clippy::too_many_arguments)]
async fn price_and_commit<S: SalesStore>(
    db: &S,
    store: &Store,
    key: &IdempotencyKey,
    fingerprint: &str,
    claim: Claim,
    sale: CheckedSale,
    reading: &BasketReading,
    promotions: &[Arc<Promotion>],
    now: DateTime<Utc>,
) -> SaleResult<Arc<SaleRecord>> {
    let catalog = BasketCatalog { commodities: &reading.commodities, barcodes: &reading.barcodes, promotions };
    let priced = price_basket(&sale, store, &catalog);
    if let Err(refusal) = &priced
        && refusal.is_invalid()
    {
        return Err(refusal.clone().into());
    }
    check_time(sale.occurred_at, now)?;
    let basket = priced?;
    let settlement = settle(basket.total, &sale.payments)?;
    let pending = PendingSale {
        key: key.clone(),
        claim,
        fingerprint: fingerprint.to_owned(),
        sale_id: SaleId::generate(),
        store: store.clone(),
        sale,
        basket,
        settlement,
        created_at: now,
    };
    db.commit_sale(pending).await
}

#[cfg(test)]
mod tests {
    //! The sale use case on the embedded store: replays, refusals in the contract's order, and
    //! a key given back after a refusal.

    use super::*;
    use crate::domain::catalog::CommodityDraft;
    use crate::domain::price::PriceLine;
    use crate::domain::sale::{LineDraft, Payment, PaymentMethod};
    use crate::domain::stock::{MovementReason, StockMovement};
    use crate::domain::{BatchId, Commodity, Invalid, Money, RegionId, StockPolicy, TerminalId, Unit};
    use crate::store::memory::MemoryStore;
    use crate::store::{CatalogStore, Stores};
    use crate::usecases::prices::apply_price_batch;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 11, 12, 0, 0).unwrap()
    }

    fn s001() -> StoreId {
        StoreId::parse("S001").unwrap()
    }

    /// S001 with MILK (tracked, 12.50) and FLASH (strict, 9.90, `flash_units` on hand).
    async fn shop(flash_units: i64) -> MemoryStore {
        let db = MemoryStore::new();
        db.put_store(Store::new(s001(), "Binjiang", RegionId::parse("EAST").unwrap(), None).unwrap()).await.unwrap();
        for (sku, policy) in [("MILK", StockPolicy::Track), ("FLASH", StockPolicy::Strict)] {
            let draft = CommodityDraft {
                name: sku.into(),
                unit: Unit::Each,
                tax_rate_bp: 1300,
                barcodes: vec![],
                category: None,
                stock_policy: policy,
                allow_shared_barcodes: None,
                stock_shards: None,
            };
            db.put_commodity(Commodity::from_draft(Sku::parse(sku).unwrap(), draft).unwrap()).await.unwrap();
        }
        let line = |sku: &str, amount| PriceLine {
            sku: sku.into(),
            scope: "chain".into(),
            amount,
            valid_from: Some("2026-11-01T00:00:00Z".into()),
            valid_to: None,
            reason: None,
        };
        let batch = [line("MILK", 1250), line("FLASH", 990)];
        apply_price_batch(&db, BatchId::parse("prices").unwrap(), &batch, "fp".into(), now()).await.unwrap();
        let movement = StockMovement { sku: Sku::parse("FLASH").unwrap(), delta: flash_units, reason: MovementReason::GoodsIn };
        crate::usecases::catalog::record_stock_movements(&db, &s001(), &[movement], None, now()).await.unwrap();
        db
    }

    fn line(sku: &str, quantity: i64) -> LineDraft {
        LineDraft { sku: Some(sku.into()), barcode: None, quantity: Some(quantity), weight_grams: None }
    }

    fn draft(lines: Vec<LineDraft>, cash: i64) -> SaleDraft {
        SaleDraft {
            terminal_id: TerminalId::parse("T01").unwrap(),
            lines,
            payments: vec![Payment { method: PaymentMethod::Cash, amount: Money::from_minor_units(cash) }],
            occurred_at: None,
        }
    }

    fn key(k: &str) -> IdempotencyKey {
        IdempotencyKey::parse(k).unwrap()
    }

    async fn sell_now(db: &MemoryStore, k: &str, sale: &SaleDraft) -> SaleResult<Sold> {
        sell(db, &Warm::default(), &s001(), &key(k), sale, now()).await
    }

    async fn flash_on_hand(db: &MemoryStore) -> i64 {
        let items = db.stock_items(&s001(), &Sku::parse("FLASH").unwrap()).await.unwrap();
        crate::domain::stock::total_on_hand(&items)
    }

    #[tokio::test]
    async fn a_sale_is_recorded_once_and_its_retry_replays_the_first_receipt() {
        let db = shop(5).await;
        let sale = draft(vec![line("MILK", 2), line("FLASH", 1)], 5000);
        let Sold::Recorded(first) = sell_now(&db, "k-1", &sale).await.unwrap() else { panic!("a first attempt records") };
        assert_eq!((first.receipt.total, first.receipt.change), (Money::from_minor_units(3490), Money::from_minor_units(1510)));
        let Sold::Replayed(again) = sell_now(&db, "k-1", &sale).await.unwrap() else { panic!("a retry replays") };
        assert_eq!(*again, first.receipt);
        assert_eq!(flash_on_hand(&db).await, 4, "the retry took no stock");
        assert_eq!(receipt(&db, &s001(), &first.receipt.sale_id).await.unwrap(), first.receipt);
    }

    #[tokio::test]
    async fn a_key_used_for_another_sale_or_still_in_progress_is_refused() {
        let db = shop(5).await;
        sell_now(&db, "k-1", &draft(vec![line("MILK", 1)], 2000)).await.unwrap();
        let other = sell_now(&db, "k-1", &draft(vec![line("MILK", 2)], 2000)).await.unwrap_err();
        assert_eq!(other, Failure::Refused(SaleRefusal::KeyReused));
        // Another till process holds the key for this very sale.
        let sale = draft(vec![line("MILK", 3)], 5000);
        db.claim_sale_key(&s001(), &key("k-2"), &sale.fingerprint(), &ClaimToken::new(), now()).await.unwrap();
        assert_eq!(sell_now(&db, "k-2", &sale).await.unwrap_err(), Failure::Refused(SaleRefusal::InProgress));
    }

    /// The embedded store, except that a claim lands and then its answer is lost.
    #[derive(Clone)]
    struct ClaimAnswerLost(MemoryStore);

    impl Stores for ClaimAnswerLost {
        async fn store(&self, id: &StoreId) -> crate::store::StoreResult<Option<Store>> {
            self.0.store(id).await
        }
    }

    impl crate::store::PromotionSchedule for ClaimAnswerLost {
        async fn promotions_ending_after(&self, after: DateTime<Utc>) -> crate::store::StoreResult<Vec<crate::domain::Promotion>> {
            self.0.promotions_ending_after(after).await
        }
    }

    impl SalesStore for ClaimAnswerLost {
        async fn claim_sale_key(
            &self,
            store: &StoreId,
            key: &IdempotencyKey,
            fingerprint: &str,
            token: &ClaimToken,
            now: DateTime<Utc>,
        ) -> crate::store::StoreResult<KeyClaim> {
            self.0.claim_sale_key(store, key, fingerprint, token, now).await?;
            Err(crate::store::StoreError::Unavailable("the claim's answer was lost".into()))
        }

        async fn release_sale_key(&self, store: &StoreId, key: &IdempotencyKey, token: &ClaimToken) -> crate::store::StoreResult<()> {
            self.0.release_sale_key(store, key, token).await
        }

        async fn basket_reading(&self, store: &Store, skus: &[Sku], barcodes: &[Barcode]) -> crate::store::StoreResult<BasketReading> {
            self.0.basket_reading(store, skus, barcodes).await
        }

        async fn commit_sale(&self, sale: PendingSale) -> SaleResult<Arc<SaleRecord>> {
            self.0.commit_sale(sale).await
        }

        async fn sale(&self, store: &StoreId, sale_id: &SaleId) -> crate::store::StoreResult<Option<Receipt>> {
            self.0.sale(store, sale_id).await
        }
    }

    #[tokio::test]
    async fn a_claim_whose_answer_was_lost_is_given_back_at_once() {
        let db = shop(5).await;
        let sale = draft(vec![line("MILK", 1)], 2000);
        let lost = ClaimAnswerLost(db.clone());
        let e = sell(&lost, &Warm::default(), &s001(), &key("k-1"), &sale, now()).await.unwrap_err();
        assert!(matches!(e, Failure::Store(crate::store::StoreError::Unavailable(_))), "{e:?}");
        // The retry a moment later sells, rather than waiting for the claim to lapse.
        let retry = sell(&db, &Warm::default(), &s001(), &key("k-1"), &sale, now() + Duration::seconds(1)).await;
        assert!(matches!(retry, Ok(Sold::Recorded(_))), "{retry:?}");
    }

    #[tokio::test]
    async fn refusals_come_in_the_contracts_order() {
        let db = shop(0).await;
        // A malformed line (400) before a sale too old (422) before stock (409).
        let mut sale = draft(vec![line("FLASH", 1), LineDraft { weight_grams: Some(100), ..line("MILK", 1) }], 5000);
        sale.lines[1].quantity = None;
        sale.occurred_at = Some((now() - Duration::hours(80)).to_rfc3339());
        let refused = sell_now(&db, "k-1", &sale).await.unwrap_err();
        assert!(refused.refusal().is_some_and(SaleRefusal::is_invalid), "{refused:?}");
        assert!(matches!(refused, Failure::Refused(SaleRefusal::AtLine { line: 1, .. })), "{refused:?}");
        sale.lines.pop();
        assert!(matches!(sell_now(&db, "k-1", &sale).await, Err(Failure::Refused(SaleRefusal::TooOld(_)))));
        sale.occurred_at = None;
        // Unknown before unpaid; unpaid before out of stock.
        let unknown = draft(vec![line("NOPE", 1)], 1);
        assert!(matches!(sell_now(&db, "k-1", &unknown).await, Err(Failure::Refused(SaleRefusal::AtLine { line: 0, .. }))));
        let unpaid = draft(vec![line("FLASH", 1)], 100);
        assert!(matches!(sell_now(&db, "k-1", &unpaid).await, Err(Failure::Refused(SaleRefusal::PaymentMismatch(_)))));
        assert!(matches!(sell_now(&db, "k-1", &sale).await, Err(Failure::Refused(SaleRefusal::OutOfStock { .. }))));
    }

    #[tokio::test]
    async fn a_refused_sale_gives_its_key_back_so_the_retry_runs_afresh() {
        let db = shop(0).await;
        let sale = draft(vec![line("FLASH", 1)], 1000);
        assert!(matches!(sell_now(&db, "k-1", &sale).await, Err(Failure::Refused(SaleRefusal::OutOfStock { .. }))));
        let restock = StockMovement { sku: Sku::parse("FLASH").unwrap(), delta: 1, reason: MovementReason::GoodsIn };
        crate::usecases::catalog::record_stock_movements(&db, &s001(), &[restock], None, now()).await.unwrap();
        assert!(matches!(sell_now(&db, "k-1", &sale).await, Ok(Sold::Recorded(_))));
        assert_eq!(flash_on_hand(&db).await, 0);
    }

    #[tokio::test]
    async fn a_sale_for_a_store_that_does_not_exist_is_not_found_after_its_own_checks() {
        let db = shop(1).await;
        let stores = Warm::default();
        let nowhere = StoreId::parse("S999").unwrap();
        let sale = draft(vec![line("MILK", 1)], 2000);
        let missing = sell(&db, &stores, &nowhere, &key("k-1"), &sale, now()).await.unwrap_err();
        assert_eq!(missing, Failure::Refused(SaleRefusal::NotFound(NotFound::store(&nowhere))));
        let malformed = draft(vec![], 2000);
        let invalid = sell(&db, &stores, &nowhere, &key("k-1"), &malformed, now()).await.unwrap_err();
        assert!(matches!(invalid, Failure::Refused(SaleRefusal::Invalid(Invalid::Request(_)))), "{invalid:?}");
        assert_eq!(db.store(&nowhere).await.unwrap(), None);
    }
}
