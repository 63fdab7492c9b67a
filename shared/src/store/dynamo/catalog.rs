//! `CatalogStore` on DynamoDB: stores, commodities with their barcode claims, stock movements.
//! Touches the stores, commodities, barcodes and stock tables.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use std::collections::BTreeMap;

use super::schema::*;
use super::write::{ATTEMPTS, MAX_TRANSACTION, backoff, build_err, busy, put, versioned_put};
use super::{DynamoStore, call_failed};
use crate::domain::catalog_feed::{Changed, FeedEntry};
use crate::domain::PriceScope;
use crate::domain::stock::{StockChange, StockShard, padded_levels, plan_movement};
use crate::domain::{CatalogRefusal, Commodity, Invalid, NotFound, Sku, StockPolicy, Store, StoreId};
use crate::store::{CatalogStore, Failure, KEY_RETENTION, Moved, MovementKey, StoreResult, Written};
use chrono::{DateTime, Utc};

impl DynamoStore {
    /// What a key already holds: the first answer (after finishing its parts, if the request
    /// that took it stopped half way), `KeyReused` for another body, or None when it is free
    /// (never used, or older than [`KEY_RETENTION`]: TTL deletes late, so that decides nothing).
    async fn movements_under_key(
        &self,
        store: &StoreId,
        pk: &str,
        k: &MovementKey,
        now: DateTime<Utc>,
    ) -> Result<Option<Moved>, Failure<CatalogRefusal>> {
        let Some(item) = self.get(&self.tables.idempotency, key(pk, None)).await? else {
            return Ok(None);
        };
        let held: MovementKeyItem = from_item("movement key", item)?;
        if held.since <= (now - KEY_RETENTION).timestamp_millis() {
            let gone = self
                .client
                .delete_item()
                .table_name(&self.tables.idempotency)
                .set_key(Some(key(pk, None)))
                .condition_expression("#since = :since")
                .expression_attribute_names("#since", "since")
                .expression_attribute_values(":since", n(held.since))
                .send()
                .await;
            return match gone {
                Ok(_) => Ok(None),
                Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(None),
                Err(e) => Err(call_failed("DeleteItem", e).into()),
            };
        }
        if held.fingerprint != k.fingerprint {
            return Err(Failure::Refused(CatalogRefusal::KeyReused));
        }
        if held.state != COMPLETED {
            self.finish_parts(store, pk).await?;
        }
        let levels = held
            .levels
            .into_iter()
            .map(|(sku, level)| Sku::parse(&sku).map(|sku| (sku, level)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| damaged("movement key", pk, e))?;
        Ok(Some(Moved::Replayed(levels)))
    }

    /// Applies the later parts of the movements under `pk`, each in a transaction that
    /// advances the key's `done` only from the count it read: run twice at once (a request and
    /// its retry), every part still lands once.
    async fn finish_parts(&self, store: &StoreId, pk: &str) -> StoreResult<()> {
        for attempt in 0..ATTEMPTS * 4 {
            let Some(item) = self.get(&self.tables.idempotency, key(pk, None)).await? else {
                return Ok(());
            };
            let held: MovementKeyItem = from_item("movement key", item)?;
            let done = held.done as usize;
            if held.state == COMPLETED || done >= held.parts.len() {
                return Ok(());
            }
            let mut tx = Vec::with_capacity(held.parts[done].len() + 1);
            for (sku, shard, delta) in &held.parts[done] {
                let sku = Sku::parse(sku).map_err(|e| damaged("movement key", pk, e))?;
                tx.push(self.stock_update(store, &sku, usize::from(*shard), *delta, false)?);
            }
            let last = done + 1 == held.parts.len();
            let update = Update::builder()
                .table_name(&self.tables.idempotency)
                .set_key(Some(key(pk, None)))
                .update_expression("SET #done = :next, #st = :state")
                .condition_expression("#done = :done")
                .expression_attribute_names("#done", "done")
                .expression_attribute_names("#st", "state")
                .expression_attribute_values(":done", n(done as i64))
                .expression_attribute_values(":next", n(done as i64 + 1))
                .expression_attribute_values(":state", s(if last { COMPLETED } else { IN_PROGRESS }))
                .build()
                .map_err(build_err)?;
            tx.push(TransactWriteItem::builder().update(update).build());
            if let Err(_cancelled) = self.transact(tx).await? {
                // Another holder applied this part, or a conflict: read again.
                backoff(attempt.min(ATTEMPTS - 1)).await;
            }
        }
        Err(busy())
    }
}

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
            .map_err(|e| call_failed("PutItem", e))?;
        let id = store.store_id.clone();
        self.record_changes(&[FeedEntry::new(PriceScope::Store(id.clone()), Utc::now(), Changed::Store(id))]).await?;
        Ok(if out.attributes.is_some_and(|a| !a.is_empty()) { Written::Replaced } else { Written::Created })
    }

    /// Read the commodity (for its version and the barcodes it gives up), then one transaction:
    /// the commodity if its version is unchanged, each barcode claimed under the sharing rule as
    /// a condition, the released ones given back.
    async fn put_commodity(&self, commodity: Commodity) -> Result<Written, Failure<CatalogRefusal>> {
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
                return Err(Invalid::request("too many barcodes to change at once").into());
            }
            match self.transact(tx).await? {
                Ok(()) => {
                    let changed = Changed::Commodity(commodity.sku.clone());
                    self.record_changes(&[FeedEntry::new(PriceScope::Chain, Utc::now(), changed)]).await?;
                    return Ok(if version == 0 { Written::Created } else { Written::Replaced });
                }
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
                            return Err(Failure::Refused(CatalogRefusal::BarcodeTaken { barcode: barcode.to_string(), skus }));
                        }
                    }
                    // The commodity changed under us, or a conflict: read again.
                    backoff(attempt).await;
                }
            }
        }
        Err(busy().into())
    }

    async fn commodity(&self, sku: &Sku) -> StoreResult<Option<Commodity>> {
        self.get_commodity(sku).await
    }

    /// Wave 1 reads the store, the commodities and their stock (and the key, when one is
    /// given); wave 2 is one transaction of `ADD`s, strict takes conditional on what each item
    /// holds, with the key and its answer. When the movements touch more stock items than one
    /// transaction holds (strict skus split over many items), every take that can fail goes
    /// in the first transaction and the rest follows in parts (see [`MovementKeyItem`]).
    async fn record_stock_movements(
        &self,
        store: &StoreId,
        changes: &BTreeMap<Sku, StockChange>,
        idempotency: Option<&MovementKey>,
        now: DateTime<Utc>,
    ) -> Result<Moved, Failure<CatalogRefusal>> {
        let key_pk = idempotency.map(|k| movement_key_pk(store, &k.key));
        if let (Some(k), Some(pk)) = (idempotency, &key_pk)
            && let Some(moved) = self.movements_under_key(store, pk, k, now).await?
        {
            return Ok(moved);
        }
        let skus: Vec<Sku> = changes.keys().cloned().collect();
        for attempt in 0..ATTEMPTS {
            let mut keys = vec![(self.tables.stores.clone(), key(store.as_str(), None))];
            keys.extend(skus.iter().map(|sku| self.commodity_key(sku)));
            let (found, shards) = tokio::try_join!(self.batch_get(keys), self.read_shards(store, &skus))?;
            if !found.contains_key(&(self.tables.stores.clone(), store.to_string(), String::new())) {
                return Err(NotFound::store(store).into());
            }
            let mut after = Vec::with_capacity(changes.len());
            let mut shortages = Vec::new();
            // What can fail (a take from strict stock) and what cannot (the rest).
            let (mut takes, mut adds) = (Vec::new(), Vec::new());
            for ((sku, change), shards) in changes.iter().zip(&shards) {
                let commodity = self.found_commodity(&found, sku)?.ok_or_else(|| NotFound::commodity(sku))?;
                let k = commodity.stock_shards().get();
                let levels = padded_levels(shards, k);
                let strict = commodity.stock_policy() == StockPolicy::Strict;
                match plan_movement(sku, commodity.stock_policy(), &levels, k, *change) {
                    Ok(plan) => {
                        after.push((sku.clone(), levels.iter().sum::<i64>() + change.net));
                        for (shard, delta) in plan {
                            let write = (sku.clone(), shard as u16, delta);
                            if strict && delta < 0 { takes.push(write) } else { adds.push(write) }
                        }
                    }
                    Err(shortage) => shortages.push(shortage),
                }
            }
            if !shortages.is_empty() {
                return Err(Failure::Refused(CatalogRefusal::OutOfStock { shortages }));
            }
            // One place in each transaction is the key's.
            let room = MAX_TRANSACTION - 1;
            if takes.len() > room {
                return Err(Invalid::request(format!(
                    "these movements take strict stock from {} stock items; at most {room} at once",
                    takes.len()
                ))
                .into());
            }
            let first_adds = adds.len().min(room - takes.len());
            let later: Vec<Vec<(String, u16, i64)>> = adds
                .split_off(first_adds)
                .chunks(room)
                .map(|part| part.iter().map(|(sku, shard, delta)| (sku.to_string(), *shard, *delta)).collect())
                .collect();
            let mut tx = Vec::with_capacity(takes.len() + adds.len() + 1);
            for (sku, shard, delta) in takes {
                tx.push(self.stock_update(store, &sku, usize::from(shard), delta, true)?);
            }
            for (sku, shard, delta) in adds {
                tx.push(self.stock_update(store, &sku, usize::from(shard), delta, false)?);
            }
            // Without a key, a request in one part needs none; one in parts gets one of its own.
            let journal_pk = match &key_pk {
                Some(pk) => Some(pk.clone()),
                None if later.is_empty() => None,
                None => Some(format!("stock#{store}#parts-{}", uuid::Uuid::new_v4())),
            };
            if let Some(pk) = &journal_pk {
                let item = MovementKeyItem {
                    pk: pk.clone(),
                    fingerprint: idempotency.map(|k| k.fingerprint.clone()).unwrap_or_default(),
                    state: if later.is_empty() { COMPLETED } else { IN_PROGRESS }.to_owned(),
                    since: now.timestamp_millis(),
                    expires_at: (now + KEY_RETENTION).timestamp(),
                    levels: after.iter().map(|(sku, level)| (sku.to_string(), *level)).collect(),
                    parts: later.clone(),
                    done: 0,
                };
                tx.push(put(&self.tables.idempotency, to_item("movement key", &item)?, Some("attribute_not_exists(pk)"))?);
            }
            let key_at = tx.len() - 1;
            match self.transact(tx).await? {
                Ok(()) => {
                    if let Some(pk) = journal_pk.filter(|_| !later.is_empty()) {
                        self.finish_parts(store, &pk).await?;
                    }
                    return Ok(Moved::Applied(after));
                }
                // The key was taken meanwhile (this request's own earlier attempt, whose answer
                // was lost, or another body): answer as the key says.
                Err(c) if idempotency.is_some() && c.failed_condition(key_at) => {
                    let (k, pk) = (idempotency.expect("checked"), key_pk.as_deref().expect("with the key"));
                    if let Some(moved) = self.movements_under_key(store, pk, k, now).await? {
                        return Ok(moved);
                    }
                }
                // Stock moved since the read (a sale): read again and decide again.
                Err(_) => backoff(attempt).await,
            }
        }
        Err(busy().into())
    }

    async fn stock_items(&self, store: &StoreId, sku: &Sku) -> StoreResult<Vec<StockShard>> {
        Ok(self.read_shards(store, std::slice::from_ref(sku)).await?.pop().unwrap_or_default())
    }
}
