//! Reads several ports share: an item by key, a store, a commodity, a sku's stock shards, and
//! what a batch read found of commodities, price schedules and barcode holders. Touches the
//! stores, commodities, stock, prices and barcodes tables.

use std::collections::HashMap;
use std::sync::Arc;

use super::schema::*;
use super::{DynamoStore, Found, in_parallel, unavailable};
use crate::domain::stock::StockShard;
use crate::domain::{Barcode, Commodity, PriceAdjustment, Sku, Store, StoreId};
use crate::store::{Schedule, StoreResult};

impl DynamoStore {
    pub(super) async fn get(&self, table: &str, key: Item) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        Ok(out.item.filter(|i| !i.is_empty()))
    }

    pub(super) async fn get_store(&self, id: &StoreId) -> StoreResult<Option<Store>> {
        self.get(&self.tables.stores, key(id.as_str(), None))
            .await?
            .map(|i| from_item::<StoreItem>("store", i)?.store())
            .transpose()
    }

    pub(super) async fn get_commodity(&self, sku: &Sku) -> StoreResult<Option<Commodity>> {
        self.get(&self.tables.commodities, key(sku.as_str(), Some(COMMODITY_SK)))
            .await?
            .map(|i| from_item::<CommodityItem>("commodity", i)?.commodity())
            .transpose()
    }

    pub(super) fn commodity_key(&self, sku: &Sku) -> (String, Item) {
        (self.tables.commodities.clone(), key(sku.as_str(), Some(COMMODITY_SK)))
    }

    /// Shard `i` of a (store, sku)'s stock: one partition per (store, sku), one item per shard.
    pub(super) fn shard_key(&self, store: &StoreId, sku: &Sku, shard: usize) -> Item {
        key(stock_pk(store, sku), Some(&shard.to_string()))
    }

    /// Every shard of each sku's stock in `store`: one query per sku (a partition holds all its
    /// shards, however many head office set then or since), all at once.
    pub(super) async fn read_shards(&self, store: &StoreId, skus: &[Sku]) -> StoreResult<Vec<Vec<StockShard>>> {
        let queries = skus
            .iter()
            .map(|sku| {
                let this = self.clone();
                let pk = stock_pk(store, sku);
                async move {
                    let values = HashMap::from([(":pk".to_owned(), s(pk))]);
                    let items = this.query_all(&this.tables.stock, Some(("pk = :pk", values))).await?;
                    let mut shards = Vec::new();
                    for item in items {
                        let Some(i) = string(&item, "sk").and_then(|sk| sk.parse::<usize>().ok()) else { continue };
                        if shards.len() <= i {
                            shards.resize(i + 1, StockShard::default());
                        }
                        shards[i] = StockShard {
                            on_hand: number("stock", &item, "onHand")?,
                            writes: number("stock", &item, "writes")?.max(0) as u64,
                        };
                    }
                    Ok(shards)
                }
            })
            .collect();
        in_parallel(queries).await
    }

    pub(super) fn found_commodity(&self, found: &Found, sku: &Sku) -> StoreResult<Option<Commodity>> {
        found
            .get(&(self.tables.commodities.clone(), sku.to_string(), COMMODITY_SK.to_owned()))
            .map(|i| from_item::<CommodityItem>("commodity", i.clone())?.commodity())
            .transpose()
    }

    pub(super) fn schedule_keys(&self, store: &Store, sku: &Sku) -> Vec<(String, Item)> {
        schedule_sks(store).iter().map(|sk| (self.tables.prices.clone(), key(sku.as_str(), Some(sk)))).collect()
    }

    /// The adjustments of a sku's schedule items that reach `store`, oldest batch first.
    pub(super) fn found_schedule(&self, found: &Found, store: &Store, sku: &Sku) -> StoreResult<Schedule> {
        let mut out = Vec::new();
        for sk in schedule_sks(store) {
            if let Some(item) = found.get(&(self.tables.prices.clone(), sku.to_string(), sk)) {
                out.extend(schedule_adjustments(item)?);
            }
        }
        out.sort_by(|a, b| (a.applied_at, &a.id).cmp(&(b.applied_at, &b.id)));
        Ok(Arc::new(out.into_iter().map(Arc::new).collect()))
    }

    pub(super) fn found_holders(&self, found: &Found, barcode: &Barcode) -> StoreResult<Option<Vec<Sku>>> {
        let Some(item) = found.get(&(self.tables.barcodes.clone(), barcode.to_string(), BARCODE_SK.to_owned())) else {
            return Ok(None);
        };
        let mut skus = string_set(item, "holders")
            .iter()
            .map(|h| Sku::parse(h).map_err(|e| damaged("barcode", barcode.as_str(), e)))
            .collect::<StoreResult<Vec<Sku>>>()?;
        skus.sort();
        Ok((!skus.is_empty()).then_some(skus))
    }
}

pub(super) fn schedule_adjustments(item: &Item) -> StoreResult<Vec<PriceAdjustment>> {
    item.iter()
        .filter(|(name, _)| name.starts_with(ADJUSTMENT_ATTR))
        .map(|(_, value)| {
            let a: AdjustmentItem = serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value.clone())
                .map_err(|e| damaged("price schedule", &item_key(item), e))?;
            a.adjustment()
        })
        .collect()
}

impl crate::store::Stores for DynamoStore {
    async fn store(&self, id: &StoreId) -> StoreResult<Option<Store>> {
        self.get_store(id).await
    }
}
