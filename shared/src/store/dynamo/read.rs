//! Reads several ports share: an item by key, many keys in one wave (`batch_get`), a query, a store, a commodity, a sku's stock shards, and
//! what a batch read found of commodities, price schedules and barcode holders. Touches the
//! stores, commodities, stock, prices and barcodes tables.

use aws_sdk_dynamodb::types::KeysAndAttributes;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::schema::*;
use super::{DynamoStore, call_failed, in_parallel};
use crate::domain::stock::StockShard;
use crate::domain::{Barcode, Commodity, PriceAdjustment, Sku, Store, StoreId};
use crate::domain::Schedule;
use crate::store::{StoreError, StoreResult};

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
            .map_err(|e| call_failed("GetItem", e))?;
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
            .collect::<Vec<_>>();
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
        let items = schedule_sks(store).into_iter().filter_map(|sk| found.get(&(self.tables.prices.clone(), sku.to_string(), sk)));
        schedule_of(items)
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

/// One sku's schedule from its schedule items, oldest batch first.
pub(super) fn schedule_of<'a>(items: impl IntoIterator<Item = &'a Item>) -> StoreResult<Schedule> {
    let mut out = Vec::new();
    for item in items {
        out.extend(schedule_adjustments(item)?);
    }
    out.sort_by(|a, b| (a.applied_at, &a.id).cmp(&(b.applied_at, &b.id)));
    Ok(Arc::new(out.into_iter().map(Arc::new).collect()))
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

/// Items found by `batch_get`, by (table, pk, sk or "").
pub(crate) type Found = HashMap<(String, String, String), Item>;

fn key_of(table: &str, item: &Item) -> (String, String, String) {
    let pk = string(item, "pk").unwrap_or_default().to_owned();
    let sk = string(item, "sk").unwrap_or_default().to_owned();
    (table.to_owned(), pk, sk)
}

impl DynamoStore {
    /// Strongly consistent reads of many keys across tables: chunks of 100 keys, all chunks in
    /// one wave, unprocessed keys retried with backoff.
    pub(crate) async fn batch_get(&self, keys: Vec<(String, Item)>) -> StoreResult<Found> {
        self.batch_read(keys, true).await
    }

    /// [`DynamoStore::batch_get`], eventually consistent (half the read units): for reads whose
    /// staleness something else catches, a conditional write or the catalog feed.
    pub(crate) async fn batch_get_eventually(&self, keys: Vec<(String, Item)>) -> StoreResult<Found> {
        self.batch_read(keys, false).await
    }

    async fn batch_read(&self, keys: Vec<(String, Item)>, consistent: bool) -> StoreResult<Found> {
        let mut seen = std::collections::HashSet::new();
        let keys: Vec<(String, Item)> = keys.into_iter().filter(|(t, k)| seen.insert(key_of(t, k))).collect();
        let chunks: Vec<Vec<(String, Item)>> = keys.chunks(100).map(|c| c.to_vec()).collect();
        let futures = chunks
            .into_iter()
            .map(|chunk| {
                let client = self.client.clone();
                async move {
                    let mut request: HashMap<String, KeysAndAttributes> = HashMap::new();
                    let mut grouped: HashMap<String, Vec<Item>> = HashMap::new();
                    for (table, key) in chunk {
                        grouped.entry(table).or_default().push(key);
                    }
                    for (table, keys) in grouped {
                        let ka = KeysAndAttributes::builder()
                            .set_keys(Some(keys))
                            .consistent_read(consistent)
                            .build()
                            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                        request.insert(table, ka);
                    }
                    let mut found = Vec::new();
                    for attempt in 0..8u32 {
                        let out = client
                            .batch_get_item()
                            .set_request_items(Some(request))
                            .send()
                            .await
                            .map_err(|e| call_failed("BatchGetItem", e))?;
                        for (table, items) in out.responses.unwrap_or_default() {
                            found.extend(items.into_iter().map(|i| (table.clone(), i)));
                        }
                        match out.unprocessed_keys.filter(|u| !u.is_empty()) {
                            None => return Ok(found),
                            Some(rest) => {
                                request = rest;
                                tokio::time::sleep(Duration::from_millis(20 << attempt.min(5))).await;
                            }
                        }
                    }
                    tracing::warn!("BatchGetItem left keys unprocessed after every retry");
                    Err(StoreError::Unavailable("the database is busy".to_owned()))
                }
            })
            .collect::<Vec<_>>();
        let mut out = Found::new();
        for chunk in in_parallel(futures).await? {
            for (table, item) in chunk {
                out.insert(key_of(&table, &item), item);
            }
        }
        Ok(out)
    }

    /// Every item of a query (or scan, `key_condition` None), following pages.
    pub(crate) async fn query_all(
        &self,
        table: &str,
        key_condition: Option<(&str, HashMap<String, aws_sdk_dynamodb::types::AttributeValue>)>,
    ) -> StoreResult<Vec<Item>> {
        let mut out = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let page = match &key_condition {
                Some((condition, values)) => {
                    let o = self
                        .client
                        .query()
                        .table_name(table)
                        .key_condition_expression(*condition)
                        .set_expression_attribute_values(Some(values.clone()))
                        .consistent_read(true)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| call_failed("Query", e))?;
                    (o.items, o.last_evaluated_key)
                }
                None => {
                    let o = self
                        .client
                        .scan()
                        .table_name(table)
                        .consistent_read(true)
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| call_failed("Scan", e))?;
                    (o.items, o.last_evaluated_key)
                }
            };
            out.extend(page.0.unwrap_or_default());
            match page.1.filter(|k| !k.is_empty()) {
                Some(k) => start = Some(k),
                None => return Ok(out),
            }
        }
    }
}
