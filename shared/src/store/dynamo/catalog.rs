//! `CatalogStore` on DynamoDB: stores, commodities with their barcode claims, stock movements.
//! Touches the stores, commodities, barcodes and stock tables.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use std::collections::BTreeMap;

use super::schema::*;
use super::write::{ATTEMPTS, MAX_TRANSACTION, backoff, build_err, busy, versioned_put};
use super::{DynamoStore, unavailable};
use crate::domain::stock::{StockChange, StockShard, padded_levels, plan_movement};
use crate::domain::{CatalogRefusal, Commodity, Invalid, NotFound, Sku, StockPolicy, Store, StoreId};
use crate::store::{CatalogStore, Failure, StoreResult, Written};

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

    /// Wave 1 reads the store, the commodities and their stock; wave 2 is one transaction of
    /// `ADD`s, strict ones conditional on covering their lowest point.
    async fn record_stock_movements(
        &self,
        store: &StoreId,
        changes: &BTreeMap<Sku, StockChange>,
    ) -> Result<Vec<(Sku, i64)>, Failure<CatalogRefusal>> {
        if changes.len() > MAX_TRANSACTION {
            return Err(Invalid::request(format!("at most {MAX_TRANSACTION} skus at once")).into());
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
            let mut tx = Vec::new();
            // A movement lands as its net change; takes from strict items are conditional on
            // what each item holds, so a sale in between fails the transaction and it starts over.
            for ((sku, change), shards) in changes.iter().zip(&shards) {
                let commodity = self
                    .found_commodity(&found, sku)?
                    .ok_or_else(|| NotFound::commodity(sku))?;
                let k = commodity.stock_shards().get();
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
                return Err(Failure::Refused(CatalogRefusal::OutOfStock { shortages }));
            }
            if tx.len() > MAX_TRANSACTION {
                return Err(Invalid::request(format!(
                    "these movements touch {} stock items; at most {MAX_TRANSACTION} at once",
                    tx.len()
                ))
                .into());
            }
            match self.transact(tx).await? {
                Ok(()) => return Ok(after),
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
