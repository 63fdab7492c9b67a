//! Selling, end to end: a till's sale checked, its idempotency key claimed, its basket read,
//! priced, refused in the contract's order or committed, and the key given back on refusal.
//! Every way a sale is recorded (a sale alone, an entry of an offline upload, and later a
//! return's exchange) goes through [`sell`] or [`sell_in`].

use chrono::{DateTime, Utc};
use std::sync::Arc;

use crate::domain::sale::{BasketCatalog, CheckedSale, LineItem, Receipt, SaleDraft, SaleRecord, check_time, price_basket, settle};
use crate::domain::{Barcode, IdempotencyKey, NotFound, SaleId, SaleRefusal, Sku, Store, StoreId};
use crate::store::cache::StoreCache;
use crate::store::{Stores, BasketReading, Claim, Failure, KeyClaim, PendingSale, SalesStore};

/// How a sale was answered: recorded now, or the receipt of its first attempt replayed.
#[derive(Debug, Clone)]
pub enum Sold {
    Recorded(Arc<SaleRecord>),
    Replayed(Receipt),
}

pub type SaleResult<T> = Result<T, Failure<SaleRefusal>>;

/// Sells `draft` in store `store_id` under `key`: the sale's own checks (400s) before the store
/// is looked up (404), then [`sell_in`]. `stores` is the function's memory of stores.
pub async fn sell<S: SalesStore>(
    db: &S,
    stores: &StoreCache,
    store_id: &StoreId,
    key: &IdempotencyKey,
    draft: &SaleDraft,
    now: DateTime<Utc>,
) -> SaleResult<Sold> {
    let checked = draft.check(now)?;
    let store = find_store(db, stores, store_id).await?;
    record(db, &store, key, &draft.fingerprint(), checked, now).await
}

/// Sells `draft` in a store already found (an offline upload looks its store up once).
pub async fn sell_in<S: SalesStore>(
    db: &S,
    store: &Store,
    key: &IdempotencyKey,
    draft: &SaleDraft,
    now: DateTime<Utc>,
) -> SaleResult<Sold> {
    let checked = draft.check(now)?;
    // The key is not part of the sale: the same sale sent alone has the same fingerprint.
    record(db, store, key, &draft.fingerprint(), checked, now).await
}

/// The store `id`, from the function's memory while fresh; `NotFound` when there is none.
pub async fn find_store<S: SalesStore>(db: &S, stores: &StoreCache, id: &StoreId) -> SaleResult<Store> {
    let found = stores.get(id, || db.store(id)).await?;
    Ok(found.ok_or_else(|| NotFound::store(id))?)
}

/// A recorded sale's receipt; `NotFound` when the store has no such sale.
pub async fn receipt<S: SalesStore>(db: &S, store: &StoreId, sale: &SaleId) -> Result<Receipt, Failure<NotFound>> {
    db.sale(store, sale)
        .await?
        .ok_or_else(|| Failure::Refused(NotFound(format!("no sale {sale} in store {store}"))))
}

/// Claims the key while reading what the basket names (one wave of reads), then prices,
/// checks and commits the sale (one write); gives the key back on refusal.
async fn record<S: SalesStore>(
    db: &S,
    store: &Store,
    key: &IdempotencyKey,
    fingerprint: &str,
    sale: CheckedSale,
    now: DateTime<Utc>,
) -> SaleResult<Sold> {
    let (skus, barcodes) = named_in(&sale);
    // A replay or a key in use wastes the read; every first attempt saves a round trip.
    let (claim, reading) = tokio::join!(
        db.claim_sale_key(&store.store_id, key, fingerprint, now),
        db.basket_reading(store, &skus, &barcodes),
    );
    let claim = match claim? {
        KeyClaim::Claimed(claim) => claim,
        KeyClaim::Completed { fingerprint: first, receipt } if first == fingerprint => return Ok(Sold::Replayed(receipt)),
        KeyClaim::InProgress { fingerprint: first } if first == fingerprint => {
            return Err(SaleRefusal::InProgress.into());
        }
        KeyClaim::Completed { .. } | KeyClaim::InProgress { .. } => return Err(SaleRefusal::KeyReused.into()),
    };
    let outcome = match reading {
        Ok(reading) => price_and_commit(db, store, key, fingerprint, claim, sale, &reading, now).await,
        Err(e) => Err(e.into()),
    };
    if outcome.is_err()
        && let Err(e) = db.release_sale_key(&store.store_id, key).await
    {
        // The claim lapses by itself after a while; the till's retry waits until then.
        tracing::warn!(error = %e, "could not release an idempotency key after a refusal");
    }
    outcome.map(Sold::Recorded)
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
    now: DateTime<Utc>,
) -> SaleResult<Arc<SaleRecord>> {
    let catalog = BasketCatalog { commodities: &reading.commodities, barcodes: &reading.barcodes };
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
