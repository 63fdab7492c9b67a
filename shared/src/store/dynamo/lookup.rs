//! `LookupStore` on DynamoDB: a store's view of commodities (stock, live prices) and barcode
//! lookups, read only. Touches the stores, commodities, stock, prices and barcodes tables.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::Arc;

use super::DynamoStore;
use super::schema::*;
use crate::domain::{Barcode, Sku, Store};
use crate::store::{CommodityView, LookupStore, StoreResult};

impl LookupStore for DynamoStore {
    /// One wave: commodity, stock and the three schedule items (chain, region, store) of each
    /// sku, 100 keys a request, all requests at once.
    async fn commodity_views(
        &self,
        store: &Store,
        skus: &[Sku],
        _at: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<CommodityView>>> {
        let mut keys = Vec::with_capacity(skus.len() * 5);
        for sku in skus {
            keys.push(self.commodity_key(sku));
            keys.push((self.tables.stock.clone(), self.shard_key(&store.store_id, sku, 0)));
            keys.extend(self.schedule_keys(store, sku));
        }
        let mut found = self.batch_get(keys).await?;
        // A sku that was ever split may hold stock in its other shards: a second wave, for
        // those skus only (a flash-sale item; a tracked sku is never split unless head office
        // says so).
        let mut more = Vec::new();
        let mut widest = Vec::with_capacity(skus.len());
        for sku in skus {
            let item = found.get(&(self.tables.commodities.clone(), sku.to_string(), COMMODITY_SK.to_owned()));
            let shards = match item {
                Some(i) => number("commodity", i, "stockShardsMax")?.max(1) as usize,
                None => 1,
            };
            more.extend((1..shards).map(|i| (self.tables.stock.clone(), self.shard_key(&store.store_id, sku, i))));
            widest.push(shards);
        }
        if !more.is_empty() {
            found.extend(self.batch_get(more).await?);
        }
        skus.iter()
            .zip(widest)
            .map(|(sku, shards)| {
                let Some(commodity) = self.found_commodity(&found, sku)? else { return Ok(None) };
                let pk = stock_pk(&store.store_id, sku);
                let mut on_hand = 0;
                for item in (0..shards).filter_map(|i| found.get(&(self.tables.stock.clone(), pk.clone(), i.to_string()))) {
                    on_hand += number("stock", item, "onHand")?;
                }
                Ok(Some(CommodityView {
                    commodity: Arc::new(commodity),
                    on_hand,
                    prices: self.found_schedule(&found, store, sku)?,
                }))
            })
            .collect()
    }

    async fn skus_by_barcode(&self, barcodes: &[Barcode]) -> StoreResult<HashMap<Barcode, Vec<Sku>>> {
        let keys = barcodes.iter().map(|b| (self.tables.barcodes.clone(), key(b.as_str(), Some(BARCODE_SK)))).collect();
        let found = self.batch_get(keys).await?;
        let mut out = HashMap::new();
        for b in barcodes {
            if let Some(skus) = self.found_holders(&found, b)? {
                out.insert(b.clone(), skus);
            }
        }
        Ok(out)
    }
}
