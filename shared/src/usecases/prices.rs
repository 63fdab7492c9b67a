//! Head office's prices: a batch applied once, line by line, and the as-of explanation.

use chrono::{DateTime, Utc};

use crate::domain::price::{KnownNames, PriceLine, check_batch_shape, names_in};
use crate::domain::{BatchId, CatalogRefusal, NotFound, PriceAdjustment, Sku, StoreId, price_in_force};
use crate::store::{Stores, BatchOutcome, Failure, PriceBatch, PriceBatchResult, PriceStore};

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
