//! The store ports on DynamoDB. Each operation's requests are grouped into as few sequential
//! waves as the round-trip budgets allow (see ARCHITECTURE.md); the comments say which.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, PutRequest, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update, WriteRequest,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::schema::*;
use super::{DynamoStore, Found, in_parallel, unavailable};
use crate::domain::price::retain_live;
use crate::domain::report::StoreDay;
use crate::domain::sale::{MAX_AGE, Receipt, SaleRecord, record_sale};
use crate::domain::sale::StockTake;
use crate::domain::stock::{
    StockChange, StockShard, out_of_stock, padded_levels, plan_movement, plan_take, total_on_hand,
};
use crate::domain::{
    Barcode, BatchId, Commodity, DomainError, IdempotencyKey, PriceAdjustment, Shortage, Sku, StockPolicy, Store,
    StoreId,
};
use crate::store::{
    AggregateStore, BasketReading, BatchOutcome, CatalogStore, CommodityView, IN_PROGRESS_EXPIRY, KEY_RETENTION,
    KeyClaim, LookupStore, PendingSale, PriceBatch, PriceBatchResult, PriceStore, SalesStore, Schedule, StoreResult,
    Written,
};

type Task = Pin<Box<dyn Future<Output = StoreResult<()>> + Send>>;

/// Optimistic operations start over this often before answering "retry shortly".
const ATTEMPTS: u32 = 8;
/// Items one TransactWriteItems may hold.
const MAX_TRANSACTION: usize = 100;

fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> DomainError {
    tracing::error!(error = %e, "a DynamoDB request could not be built");
    DomainError::Unavailable("the database is unavailable".to_owned())
}

fn busy() -> DomainError {
    DomainError::Unavailable("the database is busy".to_owned())
}

async fn backoff(attempt: u32) {
    // Jittered, so that tills that collided do not collide again.
    let jitter = u64::from(rand_u32() % 20);
    tokio::time::sleep(Duration::from_millis((10u64 << attempt.min(5)) + jitter)).await;
}

fn rand_u32() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

/// Why a transaction was cancelled, item by item (None where the item was fine).
struct Cancelled {
    reasons: Vec<(Option<String>, Option<Item>)>,
}

impl Cancelled {
    fn failed_condition(&self, index: usize) -> bool {
        self.reasons.get(index).is_some_and(|(code, _)| code.as_deref() == Some("ConditionalCheckFailed"))
    }

    fn item(&self, index: usize) -> Option<Item> {
        self.reasons.get(index).and_then(|(_, item)| item.clone())
    }

    /// Only conflicts with other transactions in flight: worth another try as it is.
    fn only_conflicts(&self) -> bool {
        !self.reasons.iter().any(|(code, _)| {
            code.as_deref().is_some_and(|c| c != "None" && c != "TransactionConflict")
        })
    }
}

fn cancelled(err: SdkError<TransactWriteItemsError, HttpResponse>) -> Result<Cancelled, DomainError> {
    if let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error() {
        let reasons = e
            .cancellation_reasons()
            .iter()
            .map(|r| (r.code().map(str::to_owned), r.item().cloned().filter(|i| !i.is_empty())))
            .collect();
        return Ok(Cancelled { reasons });
    }
    if err.as_service_error().is_some_and(|e| e.code() == Some("TransactionConflictException")) {
        return Ok(Cancelled { reasons: vec![(Some("TransactionConflict".to_owned()), None)] });
    }
    Err(unavailable("TransactWriteItems", err))
}

/// A transaction's put; `version` (when given) must still be the item's (expressions take no
/// literals, so it goes in as `:v`).
fn put(table: &str, item: Item, condition: Option<&str>) -> StoreResult<TransactWriteItem> {
    versioned_put(table, item, condition, None)
}

fn versioned_put(table: &str, item: Item, condition: Option<&str>, version: Option<u64>) -> StoreResult<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .set_expression_attribute_values(version.map(|v| HashMap::from([(":v".to_owned(), n(v as i64))])))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl DynamoStore {
    async fn get(&self, table: &str, key: Item) -> StoreResult<Option<Item>> {
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

    async fn get_store(&self, id: &StoreId) -> StoreResult<Option<Store>> {
        self.get(&self.tables.stores, key(id.as_str(), None))
            .await?
            .map(|i| from_item::<StoreItem>("store", i)?.store())
            .transpose()
    }

    async fn get_commodity(&self, sku: &Sku) -> StoreResult<Option<Commodity>> {
        self.get(&self.tables.commodities, key(sku.as_str(), Some(COMMODITY_SK)))
            .await?
            .map(|i| from_item::<CommodityItem>("commodity", i)?.commodity())
            .transpose()
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> StoreResult<Result<(), Cancelled>> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Ok(())),
            Err(e) => cancelled(e).map(Err),
        }
    }

    fn commodity_key(&self, sku: &Sku) -> (String, Item) {
        (self.tables.commodities.clone(), key(sku.as_str(), Some(COMMODITY_SK)))
    }

    /// Shard `i` of a (store, sku)'s stock: one partition per (store, sku), one item per shard.
    fn shard_key(&self, store: &StoreId, sku: &Sku, shard: usize) -> Item {
        key(stock_pk(store, sku), Some(&shard.to_string()))
    }

    /// Every shard of each sku's stock in `store`: one query per sku (a partition holds all its
    /// shards, however many head office set then or since), all at once.
    async fn read_shards(&self, store: &StoreId, skus: &[Sku]) -> StoreResult<Vec<Vec<StockShard>>> {
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
                        shards[i] = StockShard { on_hand: number(&item, "onHand"), writes: number(&item, "writes").max(0) as u64 };
                    }
                    Ok(shards)
                }
            })
            .collect();
        in_parallel(queries).await
    }

    /// One stock write: `delta` on a shard, counted; a take from strict stock only if the
    /// shard covers it.
    fn stock_update(&self, store: &StoreId, sku: &Sku, shard: usize, delta: i64, strict: bool) -> StoreResult<TransactWriteItem> {
        let mut update = Update::builder()
            .table_name(&self.tables.stock)
            .set_key(Some(self.shard_key(store, sku, shard)))
            .update_expression("ADD onHand :delta, writes :one")
            .expression_attribute_values(":delta", n(delta))
            .expression_attribute_values(":one", n(1));
        if strict && delta < 0 {
            update = update.condition_expression("onHand >= :need").expression_attribute_values(":need", n(-delta));
        }
        Ok(TransactWriteItem::builder().update(update.build().map_err(build_err)?).build())
    }

    /// The shard this take of the (store, sku) starts at: its next turn, round robin.
    fn next_turn(&self, store: &StoreId, take: &StockTake) -> usize {
        if take.shards <= 1 {
            return 0;
        }
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        let turn = turns.entry(stock_pk(store, &take.sku)).or_insert_with(|| rand_u32() as usize);
        *turn = turn.wrapping_add(1);
        *turn % usize::from(take.shards.max(1))
    }

    fn sold_out(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.sold_out.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn found_commodity(&self, found: &Found, sku: &Sku) -> StoreResult<Option<Commodity>> {
        found
            .get(&(self.tables.commodities.clone(), sku.to_string(), COMMODITY_SK.to_owned()))
            .map(|i| from_item::<CommodityItem>("commodity", i.clone())?.commodity())
            .transpose()
    }

    fn schedule_keys(&self, store: &Store, sku: &Sku) -> Vec<(String, Item)> {
        schedule_sks(store).iter().map(|sk| (self.tables.prices.clone(), key(sku.as_str(), Some(sk)))).collect()
    }

    /// The adjustments of a sku's schedule items that reach `store`, oldest batch first.
    fn found_schedule(&self, found: &Found, store: &Store, sku: &Sku) -> StoreResult<Schedule> {
        let mut out = Vec::new();
        for sk in schedule_sks(store) {
            if let Some(item) = found.get(&(self.tables.prices.clone(), sku.to_string(), sk)) {
                out.extend(schedule_adjustments(item)?);
            }
        }
        out.sort_by(|a, b| (a.applied_at, &a.id).cmp(&(b.applied_at, &b.id)));
        Ok(Arc::new(out.into_iter().map(Arc::new).collect()))
    }
}

fn schedule_adjustments(item: &Item) -> StoreResult<Vec<PriceAdjustment>> {
    item.iter()
        .filter(|(name, _)| name.starts_with(ADJUSTMENT_ATTR))
        .map(|(_, value)| {
            let a: AdjustmentItem = serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value.clone())
                .map_err(|e| damaged("price schedule", e))?;
            a.adjustment()
        })
        .collect()
}

// ====================================================================== catalog

impl CatalogStore for DynamoStore {
    async fn put_store(&self, store: Store) -> StoreResult<Written> {
        let out = self
            .client
            .put_item()
            .table_name(&self.tables.stores)
            .set_item(Some(to_item("store", &StoreItem::of(&store))?))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| unavailable("PutItem", e))?;
        Ok(if out.attributes.is_some_and(|a| !a.is_empty()) { Written::Replaced } else { Written::Created })
    }

    async fn store(&self, id: &StoreId) -> StoreResult<Option<Store>> {
        self.get_store(id).await
    }

    /// Read the commodity (for its version and the barcodes it gives up), then one transaction:
    /// the commodity if its version is unchanged, each barcode claimed under the sharing rule as
    /// a condition, the released ones given back.
    async fn put_commodity(&self, commodity: Commodity) -> StoreResult<Written> {
        let sku = commodity.sku.to_string();
        let me = AttributeValue::Ss(vec![sku.clone()]);
        for attempt in 0..ATTEMPTS {
            let previous = self
                .get(&self.tables.commodities, key(&sku, Some(COMMODITY_SK)))
                .await?
                .map(|i| from_item::<CommodityItem>("commodity", i))
                .transpose()?;
            let version = previous.as_ref().map_or(0, |p| p.version);
            let mut tx = Vec::new();
            let widest = previous.as_ref().map_or(1, |p| p.stock_shards_max);
            let item = to_item("commodity", &CommodityItem::of(&commodity, version + 1, widest))?;
            let (condition, v) = match &previous {
                None => ("attribute_not_exists(pk)", None),
                Some(_) => ("version = :v", Some(version)),
            };
            tx.push(versioned_put(&self.tables.commodities, item, Some(condition), v)?);
            for barcode in &commodity.barcodes {
                let (expression, condition) = if commodity.allow_shared_barcodes {
                    (
                        "ADD holders :me DELETE #ex :me",
                        "attribute_not_exists(#ex) OR size(#ex) = :zero OR (size(#ex) = :one AND contains(#ex, :sku))",
                    )
                } else {
                    (
                        "ADD holders :me, #ex :me",
                        "attribute_not_exists(holders) OR size(holders) = :zero OR (size(holders) = :one AND contains(holders, :sku))",
                    )
                };
                let update = Update::builder()
                    .table_name(&self.tables.barcodes)
                    .set_key(Some(key(barcode.as_str(), Some(BARCODE_SK))))
                    .update_expression(expression)
                    .condition_expression(condition)
                    // `exclusive` is a reserved word in expressions.
                    .expression_attribute_names("#ex", "exclusive")
                    .expression_attribute_values(":me", me.clone())
                    .expression_attribute_values(":sku", s(&sku))
                    .expression_attribute_values(":zero", n(0))
                    .expression_attribute_values(":one", n(1))
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                    .build()
                    .map_err(build_err)?;
                tx.push(TransactWriteItem::builder().update(update).build());
            }
            // Barcodes the stored commodity lists and this one does not: given back.
            for old in previous.iter().flat_map(|p| p.barcodes.iter()) {
                if commodity.barcodes.iter().any(|b| b.as_str() == old) {
                    continue;
                }
                let update = Update::builder()
                    .table_name(&self.tables.barcodes)
                    .set_key(Some(key(old.as_str(), Some(BARCODE_SK))))
                    .update_expression("DELETE holders :me, #ex :me")
                    .expression_attribute_names("#ex", "exclusive")
                    .expression_attribute_values(":me", me.clone())
                    .build()
                    .map_err(build_err)?;
                tx.push(TransactWriteItem::builder().update(update).build());
            }
            if tx.len() > MAX_TRANSACTION {
                return Err(DomainError::Invalid("too many barcodes to change at once".to_owned()));
            }
            match self.transact(tx).await? {
                Ok(()) => return Ok(if version == 0 { Written::Created } else { Written::Replaced }),
                Err(c) => {
                    for (i, barcode) in commodity.barcodes.iter().enumerate() {
                        if c.failed_condition(i + 1) {
                            let holders = match c.item(i + 1) {
                                Some(item) => string_set(&item, "holders"),
                                None => self
                                    .get(&self.tables.barcodes, key(barcode.as_str(), Some(BARCODE_SK)))
                                    .await?
                                    .map(|i| string_set(&i, "holders"))
                                    .unwrap_or_default(),
                            };
                            let mut skus: Vec<String> = holders.into_iter().filter(|h| *h != sku).collect();
                            skus.sort();
                            return Err(DomainError::BarcodeTaken { barcode: barcode.to_string(), skus });
                        }
                    }
                    // The commodity changed under us, or a conflict: read again.
                    backoff(attempt).await;
                }
            }
        }
        Err(busy())
    }

    async fn commodity(&self, sku: &Sku) -> StoreResult<Option<Commodity>> {
        self.get_commodity(sku).await
    }

    /// Wave 1 reads the store, the commodities and their stock; wave 2 is one transaction of
    /// `ADD`s, strict ones conditional on covering their lowest point.
    async fn record_stock_movements(
        &self,
        store: &StoreId,
        changes: &BTreeMap<Sku, StockChange>,
    ) -> StoreResult<Vec<(Sku, i64)>> {
        if changes.len() > MAX_TRANSACTION {
            return Err(DomainError::Invalid(format!("at most {MAX_TRANSACTION} skus at once")));
        }
        let skus: Vec<Sku> = changes.keys().cloned().collect();
        for attempt in 0..ATTEMPTS {
            let mut keys = vec![(self.tables.stores.clone(), key(store.as_str(), None))];
            keys.extend(skus.iter().map(|sku| self.commodity_key(sku)));
            let (found, shards) = tokio::try_join!(self.batch_get(keys), self.read_shards(store, &skus))?;
            if !found.contains_key(&(self.tables.stores.clone(), store.to_string(), String::new())) {
                return Err(DomainError::NotFound(format!("no store {store}")));
            }
            let mut after = Vec::with_capacity(changes.len());
            let mut shortages = Vec::new();
            let mut tx = Vec::new();
            // A movement lands as its net change; takes from strict items are conditional on
            // what each item holds, so a sale in between fails the transaction and it starts over.
            for ((sku, change), shards) in changes.iter().zip(&shards) {
                let commodity = self
                    .found_commodity(&found, sku)?
                    .ok_or_else(|| DomainError::NotFound(format!("no commodity {sku}")))?;
                let k = commodity.stock_shards();
                let levels = padded_levels(shards, k);
                let strict = commodity.stock_policy == StockPolicy::Strict;
                match plan_movement(sku, commodity.stock_policy, &levels, k, *change) {
                    Ok(plan) => {
                        after.push((sku.clone(), levels.iter().sum::<i64>() + change.net));
                        for (shard, delta) in plan {
                            tx.push(self.stock_update(store, sku, shard, delta, strict)?);
                        }
                    }
                    Err(shortage) => shortages.push(shortage),
                }
            }
            if !shortages.is_empty() {
                return Err(out_of_stock(shortages));
            }
            if tx.len() > MAX_TRANSACTION {
                return Err(DomainError::Invalid(format!(
                    "these movements touch {} stock items; at most {MAX_TRANSACTION} at once",
                    tx.len()
                )));
            }
            match self.transact(tx).await? {
                Ok(()) => return Ok(after),
                // Stock moved since the read (a sale): read again and decide again.
                Err(_) => backoff(attempt).await,
            }
        }
        Err(busy())
    }

    async fn stock_shards(&self, store: &StoreId, sku: &Sku) -> StoreResult<Vec<StockShard>> {
        Ok(self.read_shards(store, std::slice::from_ref(sku)).await?.pop().unwrap_or_default())
    }
}

// ====================================================================== lookup

impl LookupStore for DynamoStore {
    async fn store(&self, id: &StoreId) -> StoreResult<Option<Store>> {
        self.get_store(id).await
    }

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
            let shards = item.map_or(1, |i| number(i, "stockShardsMax").max(1) as usize);
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
                let on_hand = (0..shards)
                    .filter_map(|i| found.get(&(self.tables.stock.clone(), pk.clone(), i.to_string())))
                    .map(|item| number(item, "onHand"))
                    .sum();
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

impl DynamoStore {
    fn found_holders(&self, found: &Found, barcode: &Barcode) -> StoreResult<Option<Vec<Sku>>> {
        let Some(item) = found.get(&(self.tables.barcodes.clone(), barcode.to_string(), BARCODE_SK.to_owned())) else {
            return Ok(None);
        };
        let mut skus = string_set(item, "holders")
            .iter()
            .map(|h| Sku::parse(h).map_err(|e| damaged("barcode", e)))
            .collect::<StoreResult<Vec<Sku>>>()?;
        skus.sort();
        Ok((!skus.is_empty()).then_some(skus))
    }
}

// ====================================================================== prices

impl PriceStore for DynamoStore {
    async fn store(&self, id: &StoreId) -> StoreResult<Option<Store>> {
        self.get_store(id).await
    }

    async fn existing(&self, skus: &[Sku], stores: &[StoreId]) -> StoreResult<(Vec<Sku>, Vec<StoreId>)> {
        let mut keys: Vec<(String, Item)> = skus.iter().map(|s| self.commodity_key(s)).collect();
        keys.extend(stores.iter().map(|s| (self.tables.stores.clone(), key(s.as_str(), None))));
        let found = self.batch_get(keys).await?;
        let commodities = &self.tables.commodities;
        Ok((
            skus.iter()
                .filter(|s| found.contains_key(&(commodities.clone(), s.to_string(), COMMODITY_SK.to_owned())))
                .cloned()
                .collect(),
            stores
                .iter()
                .filter(|s| found.contains_key(&(self.tables.stores.clone(), s.to_string(), String::new())))
                .cloned()
                .collect(),
        ))
    }

    /// Wave 1: claim the batch id (a conditional put holding the fingerprint and the answer)
    /// and, at the same time, read the schedule items the batch touches. Wave 2: history items
    /// (BatchWriteItem, 25 a request) and per schedule item one `UpdateItem` that sets the new
    /// adjustments and removes those `retain_live` drops, every request at once. Both writes are
    /// idempotent, so a resend of the same body re-applies them (healing a first attempt that
    /// failed half-way) and answers with the first result.
    async fn apply_price_batch(&self, batch: PriceBatch) -> StoreResult<BatchOutcome> {
        let id = batch.result.batch_id.clone();
        let claim_item = to_item(
            "price batch",
            &BatchItem { pk: id.to_string(), fingerprint: batch.fingerprint.clone(), result: batch.result.clone() },
        )?;
        let claim = self
            .client
            .put_item()
            .table_name(&self.tables.price_batches)
            .set_item(Some(claim_item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        let mut groups: BTreeMap<(Sku, String), Vec<PriceAdjustment>> = BTreeMap::new();
        for a in &batch.adjustments {
            groups.entry((a.sku.clone(), schedule_sk(&a.scope))).or_default().push(a.clone());
        }
        let keys = groups.keys().map(|(sku, sk)| (self.tables.prices.clone(), key(sku.as_str(), Some(sk)))).collect();
        let (claimed, found) = tokio::join!(claim, self.batch_get(keys));
        let found = found?;
        let (outcome, applied_at) = match claimed {
            Ok(_) => (BatchOutcome::Applied(batch.result.clone()), batch.result.applied_at),
            Err(e) => {
                let item = match e.as_service_error() {
                    Some(service) if service.is_conditional_check_failed_exception() => match service {
                        aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                            c.item().cloned()
                        }
                        _ => None,
                    },
                    _ => return Err(unavailable("PutItem", e)),
                };
                let item = match item.filter(|i| !i.is_empty()) {
                    Some(i) => Some(i),
                    None => self.get(&self.tables.price_batches, key(id.as_str(), None)).await?,
                };
                let first: BatchItem =
                    from_item("price batch", item.ok_or_else(busy)?)?;
                if first.fingerprint != batch.fingerprint {
                    return Err(DomainError::BatchIdReused(id.to_string()));
                }
                let at = first.result.applied_at;
                (BatchOutcome::Replayed(first.result), at)
            }
        };
        let adjustments: Vec<PriceAdjustment> =
            batch.adjustments.into_iter().map(|a| PriceAdjustment { applied_at, ..a }).collect();
        let mut tasks: Vec<Task> = Vec::new();
        let history: Vec<Item> = adjustments
            .iter()
            .map(|a| {
                to_item(
                    "price history",
                    &HistoryItem { pk: a.sku.to_string(), sk: history_sk(a), adjustment: AdjustmentItem::of(a) },
                )
            })
            .collect::<StoreResult<_>>()?;
        for chunk in history.chunks(25) {
            tasks.push(Box::pin(self.clone().batch_write(self.tables.prices.clone(), chunk.to_vec())));
        }
        let live_from = applied_at - MAX_AGE;
        for ((sku, sk), new) in groups {
            let new: Vec<PriceAdjustment> = new.into_iter().map(|a| PriceAdjustment { applied_at, ..a }).collect();
            let old = match found.get(&(self.tables.prices.clone(), sku.to_string(), sk.clone())) {
                Some(item) => schedule_adjustments(item)?,
                None => Vec::new(),
            };
            let new_ids: HashSet<String> = new.iter().map(|a| adjustment_attr(&a.id)).collect();
            let mut schedule: Vec<PriceAdjustment> =
                old.iter().filter(|a| !new_ids.contains(&adjustment_attr(&a.id))).cloned().collect();
            schedule.extend(new.iter().cloned());
            retain_live(&mut schedule, live_from);
            let kept: HashSet<String> = schedule.iter().map(|a| adjustment_attr(&a.id)).collect();
            let mut sets: Vec<(String, AttributeValue)> = Vec::new();
            for a in new.iter().filter(|a| kept.contains(&adjustment_attr(&a.id))) {
                let value = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(AdjustmentItem::of(a))
                    .map_err(|e| damaged("price schedule", e))?;
                sets.push((adjustment_attr(&a.id), value));
            }
            let removes: Vec<String> = old
                .iter()
                .map(|a| adjustment_attr(&a.id))
                .filter(|attr| !kept.contains(attr) && !new_ids.contains(attr))
                .collect();
            // An update expression stays well under its 4 KB limit at 40 names a request.
            let mut sets = sets.into_iter().peekable();
            let mut removes = removes.into_iter().peekable();
            while sets.peek().is_some() || removes.peek().is_some() {
                let set: Vec<_> = sets.by_ref().take(40).collect();
                let remove: Vec<_> = if set.is_empty() { removes.by_ref().take(40).collect() } else { Vec::new() };
                tasks.push(Box::pin(self.clone().update_schedule(sku.clone(), sk.clone(), set, remove)));
            }
        }
        in_parallel(tasks).await?;
        Ok(outcome)
    }

    async fn price_batch(&self, id: &BatchId) -> StoreResult<Option<PriceBatchResult>> {
        Ok(self
            .get(&self.tables.price_batches, key(id.as_str(), None))
            .await?
            .map(|i| from_item::<BatchItem>("price batch", i))
            .transpose()?
            .map(|b| b.result))
    }

    async fn commodity(&self, sku: &Sku) -> StoreResult<Option<Commodity>> {
        self.get_commodity(sku).await
    }

    /// One query of the sku's history items (never of the live schedule), in apply order.
    async fn price_history(&self, store: &Store, sku: &Sku) -> StoreResult<Vec<PriceAdjustment>> {
        let values = HashMap::from([(":pk".to_owned(), s(sku.as_str())), (":h".to_owned(), s(HISTORY_PREFIX))]);
        let items = self.query_all(&self.tables.prices, Some(("pk = :pk AND begins_with(sk, :h)", values))).await?;
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let a = from_item::<HistoryItem>("price history", item)?.adjustment.adjustment()?;
            if a.scope.reaches(store) {
                out.push(a);
            }
        }
        Ok(out)
    }
}

impl DynamoStore {
    async fn batch_write(self, table: String, items: Vec<Item>) -> StoreResult<()> {
        let mut requests: Vec<WriteRequest> = items
            .into_iter()
            .map(|i| {
                Ok(WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(i)).build().map_err(build_err)?).build())
            })
            .collect::<StoreResult<_>>()?;
        for attempt in 0..ATTEMPTS {
            let out = self
                .client
                .batch_write_item()
                .request_items(table.clone(), requests)
                .send()
                .await
                .map_err(|e| unavailable("BatchWriteItem", e))?;
            match out.unprocessed_items.and_then(|mut u| u.remove(&table)).filter(|r| !r.is_empty()) {
                None => return Ok(()),
                Some(rest) => {
                    requests = rest;
                    backoff(attempt).await;
                }
            }
        }
        Err(busy())
    }

    async fn update_schedule(
        self,
        sku: Sku,
        sk: String,
        set: Vec<(String, AttributeValue)>,
        remove: Vec<String>,
    ) -> StoreResult<()> {
        let mut names = HashMap::new();
        let mut values = HashMap::new();
        let mut clauses = Vec::new();
        if !set.is_empty() {
            let parts: Vec<String> = set
                .into_iter()
                .enumerate()
                .map(|(i, (attr, value))| {
                    names.insert(format!("#s{i}"), attr);
                    values.insert(format!(":s{i}"), value);
                    format!("#s{i} = :s{i}")
                })
                .collect();
            clauses.push(format!("SET {}", parts.join(", ")));
        }
        if !remove.is_empty() {
            let parts: Vec<String> = remove
                .into_iter()
                .enumerate()
                .map(|(i, attr)| {
                    names.insert(format!("#r{i}"), attr);
                    format!("#r{i}")
                })
                .collect();
            clauses.push(format!("REMOVE {}", parts.join(", ")));
        }
        self.client
            .update_item()
            .table_name(&self.tables.prices)
            .set_key(Some(key(sku.as_str(), Some(&sk))))
            .update_expression(clauses.join(" "))
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values((!values.is_empty()).then_some(values))
            .send()
            .await
            .map_err(|e| unavailable("UpdateItem", e))?;
        Ok(())
    }
}

// ====================================================================== sales

impl DynamoStore {
    /// The store's next receipt number: an atomic `ADD` (a refused sale leaves a gap).
    async fn next_receipt_sequence(&self, store: &StoreId) -> StoreResult<i64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.idempotency)
            .set_key(Some(key(receipt_counter_pk(store), None)))
            .update_expression("ADD #seq :one")
            .expression_attribute_names("#seq", "sequence")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| unavailable("UpdateItem", e))?;
        Ok(out.attributes.as_ref().map_or(1, |a| number(a, "sequence")).max(1))
    }

    fn reserve_sequence(&self, store: &StoreId, key_: &IdempotencyKey, sequence: i64) {
        let mut reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        // A claim whose sale never came (a crash, a refusal not released) is forgotten.
        if reserved.len() > 1000 {
            reserved.retain(|_, (_, at)| at.elapsed() < IN_PROGRESS_EXPIRY.to_std().unwrap_or_default());
        }
        reserved.insert((store.to_string(), key_.to_string()), (sequence, std::time::Instant::now()));
    }

    fn reserved_sequence(&self, store: &StoreId, key_: &IdempotencyKey) -> Option<i64> {
        let mut reserved = self.reserved.lock().unwrap_or_else(|e| e.into_inner());
        reserved.remove(&(store.to_string(), key_.to_string())).map(|(s, _)| s)
    }
}

fn key_claim(item: KeyItem) -> KeyClaim {
    match (item.state.as_str(), item.receipt) {
        (COMPLETED, Some(receipt)) => KeyClaim::Completed { fingerprint: item.fingerprint, receipt },
        _ => KeyClaim::InProgress { fingerprint: item.fingerprint },
    }
}

impl SalesStore for DynamoStore {
    async fn store(&self, id: &StoreId) -> StoreResult<Option<Store>> {
        self.get_store(id).await
    }

    /// One conditional put: taken when the key is new, or its record has expired by its own
    /// timestamps (TTL deletes late, so it decides nothing).
    async fn claim_sale_key(
        &self,
        store: &StoreId,
        key_: &IdempotencyKey,
        fingerprint: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<KeyClaim> {
        let pk = sale_key_pk(store, key_);
        let token = uuid::Uuid::new_v4().to_string();
        let item = KeyItem {
            pk: pk.clone(),
            fingerprint: fingerprint.to_owned(),
            state: IN_PROGRESS.to_owned(),
            since: now.timestamp_millis(),
            receipt: None,
            expires_at: (now + KEY_RETENTION).timestamp(),
            claim: Some(token.clone()),
        };
        let claim = self
            .client
            .put_item()
            .table_name(&self.tables.idempotency)
            .set_item(Some(to_item("idempotency key", &item)?))
            .condition_expression(
                "attribute_not_exists(pk) OR (#st = :progress AND #since <= :stale) OR (#st = :done AND #since <= :old)",
            )
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#since", "since")
            .expression_attribute_values(":progress", s(IN_PROGRESS))
            .expression_attribute_values(":done", s(COMPLETED))
            .expression_attribute_values(":stale", n((now - IN_PROGRESS_EXPIRY).timestamp_millis()))
            .expression_attribute_values(":old", n((now - KEY_RETENTION).timestamp_millis()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        // The receipt number is taken in the same wave, so that the commit is one request.
        let (result, sequence) = tokio::join!(claim, self.next_receipt_sequence(store));
        let claimed = |this: &Self| {
            if let Ok(sequence) = sequence {
                this.reserve_sequence(store, key_, sequence);
            }
            Ok(KeyClaim::Claimed)
        };
        match result {
            Ok(_) => claimed(self),
            Err(e) => {
                let held = match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                        c.item().cloned().filter(|i| !i.is_empty())
                    }
                    _ => return Err(unavailable("PutItem", e)),
                };
                let held = match held {
                    Some(i) => i,
                    // Released between the put and this read: the retry will find it free.
                    None => match self.get(&self.tables.idempotency, key(pk, None)).await? {
                        Some(i) => i,
                        None => return Err(DomainError::InProgress),
                    },
                };
                let held: KeyItem = from_item("idempotency key", held)?;
                // Our own put, applied, its answer lost and the request sent again.
                if held.state == IN_PROGRESS && held.claim.as_deref() == Some(token.as_str()) {
                    return claimed(self);
                }
                Ok(key_claim(held))
            }
        }
    }

    async fn release_sale_key(&self, store: &StoreId, key_: &IdempotencyKey) -> StoreResult<()> {
        self.reserved_sequence(store, key_);
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.idempotency)
            .set_key(Some(key(sale_key_pk(store, key_), None)))
            .condition_expression("#st = :progress")
            .expression_attribute_names("#st", "state")
            .expression_attribute_values(":progress", s(IN_PROGRESS))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Completed or gone: nothing to give back.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(unavailable("DeleteItem", e)),
        }
    }

    /// The skus named and the barcodes scanned in one wave; the holders of scanned barcodes
    /// that were not named need a second.
    async fn basket_reading(&self, store: &Store, skus: &[Sku], barcodes: &[Barcode]) -> StoreResult<BasketReading> {
        let mut keys: Vec<(String, Item)> =
            barcodes.iter().map(|b| (self.tables.barcodes.clone(), key(b.as_str(), Some(BARCODE_SK)))).collect();
        for sku in skus {
            keys.push(self.commodity_key(sku));
            keys.extend(self.schedule_keys(store, sku));
        }
        let mut found = self.batch_get(keys).await?;
        let mut reading = BasketReading::default();
        let mut wanted: Vec<Sku> = skus.to_vec();
        for b in barcodes {
            if let Some(holders) = self.found_holders(&found, b)? {
                wanted.extend(holders.iter().cloned());
                reading.barcodes.insert(b.to_string(), holders);
            }
        }
        let named: HashSet<&Sku> = skus.iter().collect();
        let mut more = Vec::new();
        for sku in wanted.iter().filter(|s| !named.contains(s)) {
            more.push(self.commodity_key(sku));
            more.extend(self.schedule_keys(store, sku));
        }
        if !more.is_empty() {
            found.extend(self.batch_get(more).await?);
        }
        for sku in &wanted {
            if let Some(c) = self.found_commodity(&found, sku)? {
                reading.commodities.insert(sku.clone(), (Arc::new(c), self.found_schedule(&found, store, sku)?));
            }
        }
        Ok(reading)
    }

    /// With the receipt number the claim took (else one `ADD` first), one transaction: the sale item, the key completed with its receipt (only if still
    /// ours), and the stock it takes, strict stock only where it covers the take.
    async fn commit_sale(&self, pending: PendingSale) -> StoreResult<Arc<SaleRecord>> {
        let store_id = pending.store.store_id.clone();
        let takes = pending.basket.takes.clone();
        let strict: Vec<_> = takes.iter().filter(|t| t.policy == StockPolicy::Strict).collect();
        if strict.len() + 2 > MAX_TRANSACTION {
            return Err(DomainError::Invalid(format!(
                "a sale may take at most {} strict-stock commodities",
                MAX_TRANSACTION - 2
            )));
        }
        let tracked: Vec<_> = takes.iter().filter(|t| t.policy != StockPolicy::Strict).collect();
        let strict_skus: Vec<Sku> = strict.iter().map(|t| t.sku.clone()).collect();
        let partitions: Vec<String> = strict.iter().map(|t| stock_pk(&store_id, &t.sku)).collect();

        let reserved = self.reserved_sequence(&store_id, &pending.key).map(|s| Ok(s));
        let sequence = match reserved {
            Some(s) => s,
            None => self.next_receipt_sequence(&store_id).await,
        }?;
        let key_pk = sale_key_pk(&store_id, &pending.key);
        let record = Arc::new(record_sale(
            pending.sale_id,
            sequence.max(1) as u64,
            &pending.store,
            &pending.sale,
            pending.basket,
            pending.settlement,
            pending.created_at,
        ));
        let sale_item: Item = crate::store::sale_item::sale_item(&record).into();
        let receipt = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(&record.receipt)
            .map_err(|e| damaged("receipt", e))?;

        let mut tx = vec![put(&self.tables.sales, sale_item, Some("attribute_not_exists(pk)"))?];
        let complete = Update::builder()
            .table_name(&self.tables.idempotency)
            .set_key(Some(key(key_pk, None)))
            .update_expression("SET #st = :done, receipt = :receipt, #since = :at, expiresAt = :expires")
            .condition_expression("#st = :progress AND fingerprint = :fp")
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#since", "since")
            .expression_attribute_values(":done", s(COMPLETED))
            .expression_attribute_values(":progress", s(IN_PROGRESS))
            .expression_attribute_values(":receipt", receipt)
            .expression_attribute_values(":at", n(pending.created_at.timestamp_millis()))
            .expression_attribute_values(":expires", n((pending.created_at + KEY_RETENTION).timestamp()))
            .expression_attribute_values(":fp", s(&pending.fingerprint))
            .build()
            .map_err(build_err)?;
        tx.push(TransactWriteItem::builder().update(complete).build());
        let head = tx;

        // Each take starts at the sale's shard (round robin over the sku's shards); strict stock
        // this process last saw sold out is read first, and any refused take re-plans from a read.
        let starts: HashMap<&Sku, usize> = takes.iter().map(|t| (&t.sku, self.next_turn(&store_id, t))).collect();
        let start = |t: &StockTake| starts[&t.sku];
        let mut levels: Option<Vec<Vec<StockShard>>> = None;
        if partitions.iter().any(|pk| self.sold_out().contains(pk)) {
            levels = Some(self.read_shards(&store_id, &strict_skus).await?);
        }
        let mut tracked_after: &[&StockTake] = &[];
        for attempt in 0..ATTEMPTS {
            let mut tx = head.clone();
            let mut shortages = Vec::new();
            for (j, take) in strict.iter().enumerate() {
                let Some(levels) = &levels else {
                    tx.push(self.stock_update(&store_id, &take.sku, start(take), -take.amount, true)?);
                    continue;
                };
                let on_hand = padded_levels(&levels[j], take.shards);
                match plan_take(&on_hand, start(take), take.amount) {
                    Some(plan) => {
                        for (shard, amount) in plan {
                            tx.push(self.stock_update(&store_id, &take.sku, shard, -amount, true)?);
                        }
                    }
                    None => shortages.push(Shortage {
                        sku: take.sku.to_string(),
                        requested: take.amount,
                        available: on_hand.iter().sum::<i64>().max(0),
                    }),
                }
            }
            if let Some(levels) = &levels {
                let mut sold_out = self.sold_out();
                for (pk, shards) in partitions.iter().zip(levels) {
                    if total_on_hand(shards) <= 0 {
                        sold_out.insert(pk.clone());
                    } else {
                        sold_out.remove(pk);
                    }
                }
            }
            if !shortages.is_empty() {
                return Err(out_of_stock(shortages));
            }
            if tx.len() > MAX_TRANSACTION {
                return Err(DomainError::Invalid(format!(
                    "this sale's strict stock spans {} stock items; at most {} at once",
                    tx.len() - 2,
                    MAX_TRANSACTION - 2
                )));
            }
            // Tracked stock fills the transaction's room; beyond that it follows the commit.
            let room = MAX_TRANSACTION - tx.len();
            let (tracked_in, rest) = tracked.split_at(tracked.len().min(room));
            tracked_after = rest;
            for take in tracked_in {
                tx.push(self.stock_update(&store_id, &take.sku, start(take), -take.amount, false)?);
            }
            let items = tx.len();
            let cancelled = match self.transact(tx).await? {
                Ok(()) => break,
                Err(c) => c,
            };
            if cancelled.failed_condition(1) {
                // Read the key back rather than trust the reason's index (emulators differ): if
                // it is no longer ours in progress, another attempt took it over and records it.
                let held = self.get(&self.tables.idempotency, key(sale_key_pk(&store_id, &pending.key), None)).await?;
                let held: Option<KeyItem> = held.map(|i| from_item("idempotency key", i)).transpose()?;
                // This very transaction, applied and its answer lost, sent again by the SDK:
                // the key is complete with this sale.
                if held.as_ref().is_some_and(|k| {
                    k.state == COMPLETED && k.receipt.as_ref().is_some_and(|r| r.sale_id == record.receipt.sale_id)
                }) {
                    break;
                }
                let ours = held.is_some_and(|k| k.state == IN_PROGRESS && k.fingerprint == pending.fingerprint);
                if !ours {
                    return Err(DomainError::InProgress);
                }
            }
            if attempt + 1 == ATTEMPTS {
                return Err(busy());
            }
            if (2..items).any(|i| cancelled.failed_condition(i)) {
                // A shard ran dry under this take: read every shard and plan again.
                levels = Some(self.read_shards(&store_id, &strict_skus).await?);
                continue;
            }
            if !cancelled.only_conflicts() {
                tracing::error!(reasons = ?cancelled.reasons.iter().map(|r| &r.0).collect::<Vec<_>>(), "a sale's transaction was cancelled");
                return Err(busy());
            }
            backoff(attempt).await;
        }
        if !tracked_after.is_empty() {
            let tasks: Vec<Task> = tracked_after
                .iter()
                .map(|t| -> Task {
                    let this = self.clone();
                    let key = self.shard_key(&store_id, &t.sku, start(t));
                    let amount = t.amount;
                    Box::pin(async move {
                        this.client
                            .update_item()
                            .table_name(&this.tables.stock)
                            .set_key(Some(key))
                            .update_expression("ADD onHand :take, writes :one")
                            .expression_attribute_values(":take", n(-amount))
                            .expression_attribute_values(":one", n(1))
                            .send()
                            .await
                            .map_err(|e| unavailable("UpdateItem", e))?;
                        Ok(())
                    })
                })
                .collect();
            // The sale is recorded: tracked stock that could not follow is logged, not refused.
            if let Err(e) = in_parallel(tasks).await {
                tracing::error!(error = %e, sale = %record.receipt.sale_id, "tracked stock of a large sale was not taken");
            }
        }
        Ok(record)
    }

    async fn sale(&self, store: &StoreId, sale_id: &str) -> StoreResult<Option<Receipt>> {
        let Some(item) = self.get(&self.tables.sales, key(store.as_str(), Some(sale_id))).await? else {
            return Ok(None);
        };
        let record = crate::store::sale_item::sale_from_item(item.into()).map_err(|e| damaged("sale", e))?;
        Ok(Some(record.receipt))
    }
}

// ====================================================================== aggregates

impl DynamoStore {
    /// Folds one store-day's sales: read the day and the sales' markers, fold the unmarked ones,
    /// then one transaction writes the day (if its version is unchanged) and a marker per sale
    /// (if absent). A replay finds the markers; a race loses the version and starts over.
    async fn fold_day(self, store: StoreId, date: NaiveDate, sales: Vec<SaleRecord>) -> StoreResult<usize> {
        let table = self.tables.aggregates.clone();
        let day_key = (table.clone(), day_pk(date), store.to_string());
        let mut folded = 0;
        let mut failures = 0;
        loop {
            let mut keys = vec![(table.clone(), key(day_pk(date), Some(store.as_str())))];
            keys.extend(sales.iter().map(|s| (table.clone(), key(folded_pk(&s.receipt.sale_id), Some(ONLY)))));
            let found = self.batch_get(keys).await?;
            let (version, mut day) = match found.get(&day_key) {
                Some(item) => {
                    let d: DayItem = from_item("store day", item.clone())?;
                    (d.version, d.day)
                }
                None => (0, StoreDay::default()),
            };
            let new: Vec<&SaleRecord> = sales
                .iter()
                .filter(|s| !found.contains_key(&(table.clone(), folded_pk(&s.receipt.sale_id), ONLY.to_owned())))
                .take(MAX_TRANSACTION - 1)
                .collect();
            if new.is_empty() {
                return Ok(folded);
            }
            for sale in &new {
                day.fold(sale);
            }
            let item = to_item("store day", &DayItem { pk: day_pk(date), sk: store.to_string(), version: version + 1, day })?;
            let (condition, v) = if version == 0 { ("attribute_not_exists(pk)", None) } else { ("version = :v", Some(version)) };
            let mut tx = vec![versioned_put(&table, item, Some(condition), v)?];
            for sale in &new {
                tx.push(put(&table, key(folded_pk(&sale.receipt.sale_id), Some(ONLY)), Some("attribute_not_exists(pk)"))?);
            }
            match self.transact(tx).await? {
                Ok(()) => folded += new.len(),
                Err(_) => {
                    failures += 1;
                    if failures >= ATTEMPTS {
                        return Err(busy());
                    }
                    backoff(failures).await;
                }
            }
        }
    }
}

impl AggregateStore for DynamoStore {
    async fn fold_sales(&self, sales: &[SaleRecord]) -> StoreResult<usize> {
        let mut seen = HashSet::new();
        let mut days: BTreeMap<(StoreId, NaiveDate), Vec<SaleRecord>> = BTreeMap::new();
        for sale in sales {
            if seen.insert(sale.receipt.sale_id.clone()) {
                days.entry((sale.receipt.store_id.clone(), sale.receipt.business_day)).or_default().push(sale.clone());
            }
        }
        let tasks = days.into_iter().map(|((store, date), sales)| self.clone().fold_day(store, date, sales)).collect();
        Ok(in_parallel(tasks).await?.into_iter().sum())
    }

    async fn store_day(&self, store: &StoreId, date: NaiveDate) -> StoreResult<Option<StoreDay>> {
        Ok(self
            .get(&self.tables.aggregates, key(day_pk(date), Some(store.as_str())))
            .await?
            .map(|i| from_item::<DayItem>("store day", i))
            .transpose()?
            .map(|d| d.day))
    }

    /// One wave: the stores (a scan of a small table) and the day's store-days (one query).
    async fn chain_day(&self, date: NaiveDate) -> StoreResult<(Vec<Store>, BTreeMap<StoreId, StoreDay>)> {
        let values = HashMap::from([(":pk".to_owned(), s(day_pk(date)))]);
        let (stores, days) = tokio::join!(
            self.query_all(&self.tables.stores, None),
            self.query_all(&self.tables.aggregates, Some(("pk = :pk", values)))
        );
        let stores: Vec<Store> =
            stores?.into_iter().map(|i| from_item::<StoreItem>("store", i)?.store()).collect::<StoreResult<_>>()?;
        let mut out = BTreeMap::new();
        for item in days? {
            let d: DayItem = from_item("store day", item)?;
            if let Some(store) = stores.iter().find(|s| s.store_id.as_str() == d.sk) {
                out.insert(store.store_id.clone(), d.day);
            }
        }
        Ok((stores, out))
    }

    async fn store(&self, id: &StoreId) -> StoreResult<Option<Store>> {
        self.get_store(id).await
    }
}
