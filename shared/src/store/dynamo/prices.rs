//! `PriceStore` on DynamoDB: price batches applied once (the claim, history, live schedules) and
//! price history. Touches the price batches, prices, commodities and stores tables.

use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, ReturnValuesOnConditionCheckFailure, WriteRequest};
use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Utc;

use super::feed::CATALOG_ALL;
use super::read::schedule_adjustments;
use super::schema::*;
use super::write::{ATTEMPTS, Task, backoff, build_err, busy};
use super::{DynamoStore, call_failed, in_parallel};
use crate::domain::catalog_feed::price_changes;
use crate::domain::price::retain_live;
use crate::domain::sale::MAX_AGE;
use crate::domain::{BatchId, CatalogRefusal, Commodity, PriceAdjustment, Sku, Store, StoreId};
use crate::store::{BatchOutcome, Failure, PriceBatch, PriceBatchResult, PriceStore, StoreResult};

impl PriceStore for DynamoStore {
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
    async fn apply_price_batch(&self, batch: PriceBatch) -> Result<BatchOutcome, Failure<CatalogRefusal>> {
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
                    _ => return Err(call_failed("PutItem", e).into()),
                };
                let item = match item.filter(|i| !i.is_empty()) {
                    Some(i) => Some(i),
                    None => self.get(&self.tables.price_batches, key(id.as_str(), None)).await?,
                };
                let first: BatchItem =
                    from_item("price batch", item.ok_or_else(busy)?)?;
                if first.fingerprint != batch.fingerprint {
                    return Err(Failure::Refused(CatalogRefusal::BatchIdReused(id.to_string())));
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
        // The tills' feed: one change per sku and scope, in the same wave.
        tasks.extend(self.change_tasks(&price_changes(&adjustments, Utc::now()))?);
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
                    .map_err(|e| damaged("price schedule", &format!("{sku}/{sk}"), e))?;
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
    pub(super) async fn batch_write(self, table: String, items: Vec<Item>) -> StoreResult<()> {
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
                .map_err(|e| call_failed("BatchWriteItem", e))?;
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
        // In the `catalog` index, which a till's snapshot walks (feed.rs); a reserved word.
        names.insert("#catalog".to_owned(), "catalog".to_owned());
        values.insert(":catalog".to_owned(), s(CATALOG_ALL));
        let parts: Vec<String> = std::iter::once("#catalog = :catalog".to_owned())
            .chain(set.into_iter().enumerate().map(|(i, (attr, value))| {
                names.insert(format!("#s{i}"), attr);
                values.insert(format!(":s{i}"), value);
                format!("#s{i} = :s{i}")
            }))
            .collect();
        clauses.push(format!("SET {}", parts.join(", ")));
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
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(|e| call_failed("UpdateItem", e))?;
        Ok(())
    }
}
