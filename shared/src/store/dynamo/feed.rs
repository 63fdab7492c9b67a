//! `CatalogFeed` on DynamoDB, and how the writers record what changed for the tills.
//!
//! The feed (the catalog changes table): each change is an item in the partition of the scope
//! it reaches (`pk` `chain`, `region#EAST` or `store#S001`), sorted by its position (`sk`) and
//! kept for `FEED_RETENTION` (`expiresAt`, the table's TTL). Each partition's `head` item holds
//! the latest position written there, so a poll with nothing new is one BatchGetItem of its
//! store's three heads, and a poll with news reads only the partitions that have some.
//!
//! The walk: commodity items and price schedule items carry `catalog = "all"`, which puts them
//! in their table's `catalog` index (one partition, sorted by `pk`, the sku), so a snapshot page
//! is one Query of each index side by side, both in sku order.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use chrono::Utc;
use std::collections::HashMap;
use std::sync::Arc;

use super::schema::*;
use super::write::Task;
use super::read::schedule_of;
use super::{DynamoStore, call_failed, in_parallel};
use crate::domain::catalog_feed::{FEED_RETENTION, FeedEntry, FeedPosition};
use crate::domain::{Commodity, FxMap, PriceScope, Schedule, Sku, Store};
use crate::store::{CatalogFeed, FeedRead, StoreResult, Walked};

/// The index both the commodities and the prices tables walk in sku order.
pub(super) const CATALOG_INDEX: &str = "catalog";
/// Its one partition key value.
pub(super) const CATALOG_ALL: &str = "all";
const HEAD_SK: &str = "head";
/// After every position (16 digits first) and before `head`.
const PAST_EVERY_POSITION: &str = "9999999999999999~";

fn audience_pk(scope: &PriceScope) -> String {
    match scope {
        PriceScope::Chain => "chain".to_owned(),
        PriceScope::Region(r) => format!("region#{r}"),
        PriceScope::Store(s) => format!("store#{s}"),
    }
}

fn audiences(store: &Store) -> [PriceScope; 3] {
    [PriceScope::Chain, PriceScope::Region(store.region.clone()), PriceScope::Store(store.store_id.clone())]
}

impl DynamoStore {
    /// Requests that record `entries` for the tills: the entries (BatchWriteItem, 25 a
    /// request) and each scope's head, all sent at once. A failure fails the write that made
    /// them; its resend records them again (a change sent twice to a till is harmless).
    pub(super) fn change_tasks(&self, entries: &[FeedEntry]) -> StoreResult<Vec<Task>> {
        let expires = (Utc::now() + FEED_RETENTION).timestamp();
        let mut items = Vec::with_capacity(entries.len());
        let mut heads: HashMap<String, &FeedPosition> = HashMap::new();
        for e in entries {
            let pk = audience_pk(&e.audience);
            let mut item = key(pk.clone(), Some(e.position.as_str()));
            item.insert("expiresAt".to_owned(), n(expires));
            items.push(item);
            let head = heads.entry(pk).or_insert(&e.position);
            if e.position > **head {
                *head = &e.position;
            }
        }
        let mut tasks: Vec<Task> = Vec::new();
        for chunk in items.chunks(25) {
            tasks.push(Box::pin(self.clone().batch_write(self.tables.catalog_changes.clone(), chunk.to_vec())));
        }
        for (pk, position) in heads {
            tasks.push(Box::pin(self.clone().raise_head(pk, position.as_str().to_owned())));
        }
        Ok(tasks)
    }

    pub(super) async fn record_changes(&self, entries: &[FeedEntry]) -> StoreResult<()> {
        in_parallel(self.change_tasks(entries)?).await.map(|_| ())
    }

    /// Sets a scope's head to `position` unless it is already past it (two writers at once).
    async fn raise_head(self, pk: String, position: String) -> StoreResult<()> {
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.catalog_changes)
            .set_key(Some(key(pk, Some(HEAD_SK))))
            .update_expression("SET #latest = :p")
            .condition_expression("attribute_not_exists(#latest) OR #latest < :p")
            .expression_attribute_names("#latest", "latest")
            .expression_attribute_values(":p", s(position))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::None)
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(call_failed("UpdateItem", e)),
        }
    }

    /// One page of a `catalog` index from past `after`: its items, and the `pk` (sku) of the
    /// last one DynamoDB looked at when there is more.
    async fn catalog_page(
        &self,
        table: &str,
        after: Option<&Sku>,
        limit: i32,
        filter: Option<(&str, HashMap<String, AttributeValue>)>,
    ) -> StoreResult<(Vec<Item>, Option<String>)> {
        let mut values = HashMap::from([(":all".to_owned(), s(CATALOG_ALL))]);
        // `catalog` is a reserved word in expressions.
        let mut condition = "#catalog = :all".to_owned();
        if let Some(after) = after {
            condition.push_str(" AND pk > :after");
            values.insert(":after".to_owned(), s(after.as_str()));
        }
        let mut query = self
            .client
            .query()
            .table_name(table)
            .index_name(CATALOG_INDEX)
            .expression_attribute_names("#catalog", "catalog")
            .limit(limit);
        if let Some((expression, more)) = filter {
            query = query.filter_expression(expression);
            values.extend(more);
        }
        let out = query
            .key_condition_expression(condition)
            .set_expression_attribute_values(Some(values))
            .send()
            .await
            .map_err(|e| call_failed("Query", e))?;
        let last = out.last_evaluated_key.as_ref().and_then(|k| string(k, "pk")).map(str::to_owned);
        Ok((out.items.unwrap_or_default(), last))
    }
}

impl CatalogFeed for DynamoStore {
    /// One wave: a page of each `catalog` index from past `after`, the price schedules filtered
    /// to the three that reach the store. A commodity goes in the page when the schedules read
    /// cover its sku whole; when they cover none (one sku with more schedules than the page
    /// reads), its schedules are read by key in a second wave.
    async fn walk(&self, store: &Store, after: Option<&Sku>, limit: usize) -> StoreResult<Walked> {
        let limit = limit.clamp(1, 1000);
        let [chain, region, own] = super::schema::schedule_sks(store);
        let reaching = HashMap::from([(":c".to_owned(), s(chain)), (":r".to_owned(), s(region)), (":s".to_owned(), s(own))]);
        let (commodities, schedules) = tokio::try_join!(
            self.catalog_page(&self.tables.commodities, after, limit as i32, None),
            self.catalog_page(&self.tables.prices, after, (limit * 4 + 8) as i32, Some(("sk IN (:c, :r, :s)", reaching))),
        )?;
        let (commodity_items, more_commodities) = commodities;
        let (schedule_items, schedules_end) = schedules;
        let mut by_sku: HashMap<String, Vec<&Item>> = HashMap::new();
        for item in &schedule_items {
            by_sku.entry(string(item, "pk").unwrap_or_default().to_owned()).or_default().push(item);
        }
        let mut entries = Vec::with_capacity(commodity_items.len());
        let mut covered_all = true;
        for item in commodity_items.iter() {
            let commodity = from_item::<CommodityItem>("commodity", item.clone())?.commodity()?;
            // The schedules read stop inside (or before) this sku: it and what follows wait.
            if schedules_end.as_deref().is_some_and(|end| commodity.sku().as_str() >= end) {
                covered_all = false;
                break;
            }
            let schedule = schedule_of(by_sku.get(commodity.sku().as_str()).into_iter().flatten().copied())?;
            entries.push((Arc::new(commodity), schedule));
        }
        if entries.is_empty() && !commodity_items.is_empty() {
            let first = from_item::<CommodityItem>("commodity", commodity_items[0].clone())?.commodity()?;
            let sku = first.sku().clone();
            let mut read = self.catalog_entries(store, std::slice::from_ref(&sku)).await?;
            let entry = read.remove(&sku).unwrap_or_else(|| (Arc::new(first), Schedule::default()));
            return Ok(Walked { entries: vec![entry], more: commodity_items.len() > 1 || more_commodities.is_some() });
        }
        Ok(Walked { entries, more: !covered_all || more_commodities.is_some() })
    }

    /// Wave 1: the heads of the chain's, the region's and the store's partitions; wave 2 (only
    /// when a head is past `after`): those partitions from `after` on, `limit` each, merged.
    async fn changes_after(&self, store: &Store, after: &FeedPosition, limit: usize) -> StoreResult<FeedRead> {
        let table = &self.tables.catalog_changes;
        let scopes = audiences(store);
        let keys = scopes.iter().map(|a| (table.clone(), key(audience_pk(a), Some(HEAD_SK)))).collect();
        let heads = self.batch_get(keys).await?;
        let busy: Vec<&PriceScope> = scopes
            .iter()
            .filter(|a| {
                heads
                    .get(&(table.clone(), audience_pk(a), HEAD_SK.to_owned()))
                    .and_then(|h| string(h, "latest"))
                    .is_some_and(|latest| latest > after.as_str())
            })
            .collect();
        if busy.is_empty() {
            return Ok(FeedRead::default());
        }
        let queries = busy
            .into_iter()
            .map(|audience| {
                let client = self.client.clone();
                let table = table.clone();
                let audience = audience.clone();
                let after = after.clone();
                async move {
                    let out = client
                        .query()
                        .table_name(&table)
                        .key_condition_expression("pk = :pk AND sk BETWEEN :after AND :end")
                        .expression_attribute_values(":pk", s(audience_pk(&audience)))
                        .expression_attribute_values(":after", s(after.as_str()))
                        .expression_attribute_values(":end", s(PAST_EVERY_POSITION))
                        .consistent_read(true)
                        // `BETWEEN` takes `after` itself too, when a change sits there.
                        .limit(limit as i32 + 1)
                        .send()
                        .await
                        .map_err(|e| call_failed("Query", e))?;
                    let mut entries = Vec::new();
                    for item in out.items.unwrap_or_default() {
                        let sk = string(&item, "sk").unwrap_or_default();
                        let position = FeedPosition::parse(sk).filter(|p| p > &after);
                        if let Some((position, changed)) = position.and_then(|p| p.changed().map(|c| (p, c))) {
                            entries.push(FeedEntry { audience: audience.clone(), position, changed });
                        }
                    }
                    Ok((entries, out.last_evaluated_key.is_some()))
                }
            })
            .collect::<Vec<_>>();
        let mut entries = Vec::new();
        let mut more = false;
        for (read, left) in in_parallel(queries).await? {
            entries.extend(read);
            more |= left;
        }
        entries.sort_by(|a, b| (&a.position, &a.audience).cmp(&(&b.position, &b.audience)));
        if entries.len() > limit {
            entries.truncate(limit);
            more = true;
        }
        Ok(FeedRead { entries, more })
    }

    /// One BatchGetItem wave: each commodity with the three schedule items that reach the store.
    async fn catalog_entries(&self, store: &Store, skus: &[Sku]) -> StoreResult<FxMap<Sku, (Arc<Commodity>, Schedule)>> {
        let mut keys = Vec::with_capacity(skus.len() * 4);
        for sku in skus {
            keys.push(self.commodity_key(sku));
            keys.extend(self.schedule_keys(store, sku));
        }
        let found = self.batch_get(keys).await?;
        let mut out = FxMap::default();
        for sku in skus {
            if let Some(commodity) = self.found_commodity(&found, sku)? {
                out.insert(sku.clone(), (Arc::new(commodity), self.found_schedule(&found, store, sku)?));
            }
        }
        Ok(out)
    }
}
