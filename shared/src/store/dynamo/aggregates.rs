//! `AggregateStore` on DynamoDB: sales folded into store-days, each sale once, and a chain's day.
//! Touches the aggregates table, and reads stores.

use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::schema::*;
use super::write::{ATTEMPTS, MAX_TRANSACTION, backoff, busy, put, versioned_put};
use super::{DynamoStore, in_parallel};
use crate::domain::report::StoreDay;
use crate::domain::sale::SaleRecord;
use crate::domain::{BusinessDay, Store, StoreId};
use crate::store::{AggregateStore, StoreResult};

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
            keys.extend(sales.iter().map(|s| (table.clone(), key(folded_pk(s.receipt.sale_id.as_str()), Some(ONLY)))));
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
                .filter(|s| !found.contains_key(&(table.clone(), folded_pk(s.receipt.sale_id.as_str()), ONLY.to_owned())))
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
                tx.push(put(&table, key(folded_pk(sale.receipt.sale_id.as_str()), Some(ONLY)), Some("attribute_not_exists(pk)"))?);
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

    async fn store_day(&self, store: &StoreId, day: BusinessDay) -> StoreResult<Option<StoreDay>> {
        Ok(self
            .get(&self.tables.aggregates, key(day_pk(day.date()), Some(store.as_str())))
            .await?
            .map(|i| from_item::<DayItem>("store day", i))
            .transpose()?
            .map(|d| d.day))
    }

    /// One wave: the stores (a scan of a small table) and the day's store-days (one query).
    async fn chain_day(&self, day: BusinessDay) -> StoreResult<(Vec<Store>, BTreeMap<StoreId, StoreDay>)> {
        let values = HashMap::from([(":pk".to_owned(), s(day_pk(day.date())))]);
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
}
