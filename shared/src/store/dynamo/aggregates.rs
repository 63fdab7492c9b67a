//! `AggregateStore` on DynamoDB: sales and returns folded into store-days, each once, and a
//! chain's day. Touches the aggregates table, and reads stores.

use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::schema::*;
use super::write::{ATTEMPTS, MAX_TRANSACTION, backoff, busy, put, versioned_put};
use super::{DynamoStore, in_parallel};
use crate::domain::report::{EntryId, LedgerEntry, StoreDay};
use crate::domain::{BusinessDay, Store, StoreId};
use crate::store::{AggregateStore, StoreResult};

/// The partition key of an entry's marker: a sale's by its sale id, a return's by its return id
/// under a prefix of its own.
fn marker_pk(entry: &LedgerEntry) -> String {
    match entry.id() {
        EntryId::Sale(id) => folded_pk(id.as_str()),
        EntryId::Return(id) => folded_return_pk(id.as_str()),
    }
}

impl DynamoStore {
    /// Folds one store-day's sales and returns: read the day and the entries' markers, fold the
    /// unmarked ones, then one transaction writes the day (if its version is unchanged) and a
    /// marker per entry (if absent). A replay finds the markers; a race loses the version and
    /// starts over.
    async fn fold_day(self, store: StoreId, date: NaiveDate, entries: Vec<LedgerEntry>) -> StoreResult<usize> {
        let table = self.tables.aggregates.clone();
        let day_key = (table.clone(), day_pk(date), store.to_string());
        let markers: Vec<String> = entries.iter().map(marker_pk).collect();
        let mut folded = 0;
        let mut failures = 0;
        loop {
            let mut keys = vec![(table.clone(), key(day_pk(date), Some(store.as_str())))];
            keys.extend(markers.iter().map(|m| (table.clone(), key(m.clone(), Some(ONLY)))));
            let found = self.batch_get(keys).await?;
            let (version, mut day) = match found.get(&day_key) {
                Some(item) => {
                    let d: DayItem = from_item("store day", item.clone())?;
                    (d.version, d.day)
                }
                None => (0, StoreDay::default()),
            };
            let new: Vec<(&LedgerEntry, &String)> = entries
                .iter()
                .zip(&markers)
                .filter(|(_, m)| !found.contains_key(&(table.clone(), (*m).clone(), ONLY.to_owned())))
                .take(MAX_TRANSACTION - 1)
                .collect();
            if new.is_empty() {
                return Ok(folded);
            }
            for (entry, _) in &new {
                day.fold_entry(entry);
            }
            let item = to_item("store day", &DayItem { pk: day_pk(date), sk: store.to_string(), version: version + 1, day })?;
            let (condition, v) = if version == 0 { ("attribute_not_exists(pk)", None) } else { ("version = :v", Some(version)) };
            let mut tx = vec![versioned_put(&table, item, Some(condition), v)?];
            for (_, marker) in &new {
                tx.push(put(&table, key((*marker).clone(), Some(ONLY)), Some("attribute_not_exists(pk)"))?);
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
    /// One task per store-day (a return's is the returning store's), run side by side.
    async fn fold(&self, entries: &[LedgerEntry]) -> StoreResult<usize> {
        let mut seen = HashSet::new();
        let mut days: BTreeMap<(StoreId, NaiveDate), Vec<LedgerEntry>> = BTreeMap::new();
        for entry in entries {
            if seen.insert(entry.id()) {
                let (store, date) = entry.store_day();
                days.entry((store.clone(), date)).or_default().push(entry.clone());
            }
        }
        let tasks = days.into_iter().map(|((store, date), entries)| self.clone().fold_day(store, date, entries)).collect();
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
