//! Head office's prices: a batch applied once, line by line, and the as-of explanation.

use chrono::{DateTime, Utc};

use crate::domain::price::{KnownNames, PriceLine, check_batch_shape, names_in};
use crate::domain::{BatchId, CatalogRefusal, NotFound, PriceAdjustment, Sku, StoreId, price_in_force};
use crate::store::{BatchOutcome, Failure, PriceBatch, PriceBatchResult, PriceStore};

pub type PriceResult<T> = Result<T, Failure<CatalogRefusal>>;

/// Applies a batch at `now`: its shape checked (400), what its lines name read in one go, each
/// line checked on its own (a bad line is rejected in the result, the others applied), then
/// applied once: the same id with an equal body (`fingerprint`) replays the first result.
pub async fn apply_price_batch<S: PriceStore>(
    db: &S,
    batch_id: BatchId,
    lines: &[PriceLine],
    fingerprint: String,
    now: DateTime<Utc>,
) -> PriceResult<BatchOutcome> {
    check_batch_shape(lines)?;
    let (skus, stores) = names_in(lines);
    let (skus, stores) = db.existing(&skus, &stores).await?;
    let known = KnownNames { skus: skus.into_iter().collect(), stores: stores.into_iter().collect() };
    let mut adjustments = Vec::with_capacity(lines.len());
    let mut rejected = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        match line.validate(&batch_id, index as u32, now, &known) {
            Ok(a) => adjustments.push(a),
            Err(r) => rejected.push(r),
        }
    }
    let result = PriceBatchResult { batch_id, accepted: adjustments.len() as u32, rejected, applied_at: now };
    db.apply_price_batch(PriceBatch { result, adjustments, fingerprint }).await
}

/// A batch's result as it was first answered.
pub async fn price_batch<S: PriceStore>(db: &S, id: &BatchId) -> PriceResult<PriceBatchResult> {
    db.price_batch(id).await?.ok_or_else(|| NotFound(format!("no price batch {id}")).into())
}

/// The adjustment that prices `sku` in store `store_id` at `at`, and so explains it.
pub async fn price_in_force_at<S: PriceStore>(db: &S, store_id: &StoreId, sku: &Sku, at: DateTime<Utc>) -> PriceResult<PriceAdjustment> {
    let store = db.store(store_id).await?.ok_or_else(|| NotFound::store(store_id))?;
    if db.commodity(sku).await?.is_none() {
        return Err(NotFound::commodity(sku).into());
    }
    let history = db.price_history(&store, sku).await?;
    price_in_force(&history, &store, at)
        .cloned()
        .ok_or_else(|| CatalogRefusal::NoPrice(format!("no price for {sku} in store {store_id} at that time")).into())
}

#[cfg(test)]
mod tests {
    //! The price-batch use case on the embedded store: applied once, lines checked one by one,
    //! the batch's shape refused whole, and the price in force explained.

    use super::*;
    use crate::domain::catalog::CommodityDraft;
    use crate::domain::{Commodity, Invalid, RegionId, StockPolicy, Store, Unit};
    use crate::store::CatalogStore;
    use crate::store::memory::MemoryStore;
    use chrono::{Duration, TimeZone};

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 11, 12, 0, 0).unwrap()
    }

    async fn catalog() -> MemoryStore {
        let db = MemoryStore::new();
        let s001 = StoreId::parse("S001").unwrap();
        db.put_store(Store::new(s001, "Binjiang", RegionId::parse("EAST").unwrap(), None).unwrap()).await.unwrap();
        let draft = CommodityDraft {
            name: "Milk".into(),
            unit: Unit::Each,
            tax_rate_bp: 900,
            barcodes: vec![],
            category: None,
            stock_policy: StockPolicy::Track,
            allow_shared_barcodes: None,
            stock_shards: None,
        };
        db.put_commodity(Commodity::from_draft(Sku::parse("MILK").unwrap(), draft).unwrap()).await.unwrap();
        db
    }

    fn line(sku: &str, scope: &str, amount: i64) -> PriceLine {
        PriceLine { sku: sku.into(), scope: scope.into(), amount, valid_from: None, valid_to: None, reason: None }
    }

    fn id(raw: &str) -> BatchId {
        BatchId::parse(raw).unwrap()
    }

    #[tokio::test]
    async fn a_batch_applies_its_good_lines_once_and_rejects_the_bad_ones_by_index() {
        let db = catalog().await;
        let lines = vec![line("MILK", "store:S001", 1290), line("NOPE", "chain", 100), line("MILK", "store:S404", 100), line("MILK", "chain", 0)];
        let BatchOutcome::Applied(result) = apply_price_batch(&db, id("b-1"), &lines, "fp-1".into(), now()).await.unwrap() else {
            panic!("a new batch is applied")
        };
        assert_eq!(result.accepted, 1);
        let rejected: Vec<(u32, &str)> = result.rejected.iter().map(|r| (r.index, r.code.as_str())).collect();
        assert_eq!(rejected, vec![(1, "unknown_commodity"), (2, "invalid_scope"), (3, "invalid_amount")]);
        // The same body again, later: the first answer, nothing applied twice.
        let again = apply_price_batch(&db, id("b-1"), &lines, "fp-1".into(), now() + Duration::minutes(5)).await.unwrap();
        assert_eq!(again, BatchOutcome::Replayed(result.clone()));
        assert_eq!(price_batch(&db, &id("b-1")).await.unwrap(), result);
        let reused = apply_price_batch(&db, id("b-1"), &lines[..1], "fp-2".into(), now()).await.unwrap_err();
        assert_eq!(reused, Failure::Refused(CatalogRefusal::BatchIdReused("b-1".into())));
        let missing = price_batch(&db, &id("b-2")).await.unwrap_err();
        assert!(matches!(missing, Failure::Refused(CatalogRefusal::NotFound(_))));
    }

    #[tokio::test]
    async fn a_batch_out_of_shape_is_refused_whole_before_anything_is_read_or_written() {
        let db = catalog().await;
        let empty = apply_price_batch(&db, id("b-1"), &[], "fp".into(), now()).await.unwrap_err();
        assert!(matches!(empty, Failure::Refused(CatalogRefusal::Invalid(Invalid::Request(_)))));
        let mut long = vec![line("MILK", "chain", 100), line("MILK", "chain", 200)];
        long[1].reason = Some("x".repeat(501));
        let refused = apply_price_batch(&db, id("b-1"), &long, "fp".into(), now()).await.unwrap_err();
        assert!(matches!(refused, Failure::Refused(CatalogRefusal::AtLine { line: 1, .. })), "{refused:?}");
        assert!(matches!(price_batch(&db, &id("b-1")).await, Err(Failure::Refused(CatalogRefusal::NotFound(_)))));
    }

    #[tokio::test]
    async fn the_price_in_force_is_explained_and_its_absence_named() {
        let db = catalog().await;
        let s001 = StoreId::parse("S001").unwrap();
        let milk = Sku::parse("MILK").unwrap();
        let none = price_in_force_at(&db, &s001, &milk, now()).await.unwrap_err();
        assert!(matches!(none, Failure::Refused(CatalogRefusal::NoPrice(_))));
        apply_price_batch(&db, id("b-1"), &[line("MILK", "region:EAST", 1190)], "fp".into(), now()).await.unwrap();
        let a = price_in_force_at(&db, &s001, &milk, now()).await.unwrap();
        assert_eq!((a.amount.minor_units(), a.id.batch_id.as_str()), (1190, "b-1"));
        let nowhere = price_in_force_at(&db, &StoreId::parse("S404").unwrap(), &milk, now()).await.unwrap_err();
        assert!(matches!(nowhere, Failure::Refused(CatalogRefusal::NotFound(_))));
        let unknown = price_in_force_at(&db, &s001, &Sku::parse("NOPE").unwrap(), now()).await.unwrap_err();
        assert!(matches!(unknown, Failure::Refused(CatalogRefusal::NotFound(_))));
    }
}
