//! Head office's catalog and a store's stock: stores and commodities set up, stock movements
//! recorded all or nothing, and how a sku's stock is split.

use crate::domain::catalog::CommodityDraft;
use crate::domain::stock::{StockMovement, StockShard, changes_by_sku};
use crate::domain::{CatalogRefusal, Commodity, NotFound, Sku, Store, StoreId};
use chrono::{DateTime, Utc};

use crate::store::{CatalogStore, Failure, Moved, MovementKey, Written};

pub type CatalogResult<T> = Result<T, Failure<CatalogRefusal>>;

/// Checks a commodity draft and writes it with its barcodes.
pub async fn put_commodity<S: CatalogStore>(db: &S, sku: Sku, draft: CommodityDraft) -> CatalogResult<(Commodity, Written)> {
    let commodity = Commodity::from_draft(sku, draft)?;
    let written = db.put_commodity(commodity.clone()).await?;
    Ok((commodity, written))
}

/// Records a store's movements, applied in order per sku and all or none (400 before 404).
/// Returns the new on-hand per sku; under a key sent before with the same body, the first
/// answer again and nothing moved.
pub async fn record_stock_movements<S: CatalogStore>(
    db: &S,
    store: &StoreId,
    movements: &[StockMovement],
    key: Option<&MovementKey>,
    now: DateTime<Utc>,
) -> CatalogResult<Moved> {
    let changes = changes_by_sku(movements)?;
    existing_store(db, store).await?;
    db.record_stock_movements(store, &changes, key, now).await
}

/// A sku's stock in a store, item by item, with the commodity that sets its policy and split.
pub async fn stock_items<S: CatalogStore>(db: &S, store: &StoreId, sku: &Sku) -> CatalogResult<(Commodity, Vec<StockShard>)> {
    let (found, commodity) = tokio::try_join!(db.store(store), db.commodity(sku))?;
    found.ok_or_else(|| NotFound::store(store))?;
    let commodity = commodity.ok_or_else(|| NotFound::commodity(sku))?;
    let items = db.stock_items(store, sku).await?;
    Ok((commodity, items))
}

/// The store `id`, or `NotFound` naming it.
pub async fn existing_store<S: CatalogStore>(db: &S, id: &StoreId) -> CatalogResult<Store> {
    Ok(db.store(id).await?.ok_or_else(|| NotFound::store(id))?)
}
