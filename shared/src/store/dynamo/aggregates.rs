//! `AggregateStore` on DynamoDB: sales and returns folded into store-days, each once, and a
//! chain's day. Touches the aggregates table, and reads stores.
//!
//! A store-day is a small head (pk `day#<date>`, sk the store: totals, hours, tenders,
//! terminals, promotions) and one item per commodity (pk `dayc#<date>#<store>`, sk the sku),
//! so no item grows with the number of skus a store sells: a hypermarket's 20,000 a day are
//! 20,000 small items, never one over DynamoDB's 400 KB.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::once::{CHECKPOINT_PREFIX, StreamFold, checkpoints_of};
use super::schema::*;
use super::write::{ATTEMPTS, backoff, busy};
use super::{DynamoStore, call_failed, in_parallel};
use crate::domain::report::{CommodityTotals, LedgerEntry, Ranked, StoreDay, TopList, commodity_changes};
use crate::domain::stream::{Contribution, Streamed, advance};
use crate::domain::{BusinessDay, Sku, Store, StoreId};
use crate::store::{AggregateStore, StoreResult};

/// What an entry adds to one commodity's item: its numbers, by attribute, each `ADD`ed (zeros
/// too, so that every commodity item has every figure), and one fold.
fn commodity_deltas(c: &CommodityTotals) -> BTreeMap<String, i64> {
    [
        ("quantity", c.quantity),
        ("weightGrams", c.weight_grams),
        ("amount", c.amount.minor_units()),
        ("returnedQuantity", c.returned_quantity),
        ("returnedWeightGrams", c.returned_weight_grams),
        ("returnsAmount", c.returns_amount.minor_units()),
        ("folds", 1),
    ]
    .into_iter()
    .map(|(name, value)| (name.to_owned(), value))
    .collect()
}

/// The folds a store-day's entries make into its commodities' items: one per entry and sku it
/// names, the name set where the item has none yet.
fn commodity_folds(pk: &str, entries: &[&Streamed<LedgerEntry>]) -> Vec<StreamFold> {
    let mut folds = Vec::new();
    for entry in entries {
        for (sku, c) in commodity_changes(&entry.value) {
            folds.push(StreamFold {
                pk: pk.to_owned(),
                sk: sku.to_string(),
                shard: entry.position.shard.clone(),
                contributions: vec![Contribution {
                    sequence: entry.position.sequence.clone(),
                    at: entry.at,
                    deltas: commodity_deltas(&c),
                }],
                set_if_absent: vec![("name".to_owned(), c.name)],
            });
        }
    }
    folds
}

impl DynamoStore {
    /// Folds one store-day's stream records, each once, with no transaction and no marker per
    /// record: every item the day writes (its commodities', then its head) carries a checkpoint
    /// per stream shard and takes only the records after it (`store/dynamo/once.rs`). A batch
    /// of a hundred 20-line sales writes each commodity it names once and the head once. The
    /// head is read before the commodities are folded, so the readings of them its top list
    /// observes are newer than any head write it builds on (`TopList`).
    async fn fold_day(self, store: StoreId, date: NaiveDate, entries: Vec<Streamed<LedgerEntry>>) -> StoreResult<usize> {
        let table = self.tables.aggregates.clone();
        let head = self.get(&table, key(day_pk(date), Some(store.as_str()))).await?;
        let all: Vec<&Streamed<LedgerEntry>> = entries.iter().collect();
        let folds = commodity_folds(&day_commodities_pk(date, &store), &all);
        let touched: Vec<Item> = folds.iter().map(|f| key(f.pk.clone(), Some(&f.sk))).collect();
        // Strongly consistent: the top list observes the items read back.
        let (_, readings) = self.fold_once(&table, folds, true).await?;
        self.fold_head(&table, &store, date, &entries, head, readings, touched).await
    }

    /// The store-day's head: the records after its checkpoints folded in, its top list observing
    /// `readings` (the commodity items the batch touched), written whole if its version is
    /// unchanged; else read again, with the touched commodities, and again. Returns how many
    /// records were new to it.
    #[allow(clippy::too_many_arguments)]
    async fn fold_head(
        &self,
        table: &str,
        store: &StoreId,
        date: NaiveDate,
        entries: &[Streamed<LedgerEntry>],
        mut item: Option<Item>,
        mut readings: Vec<Item>,
        touched: Vec<Item>,
    ) -> StoreResult<usize> {
        let head_key = key(day_pk(date), Some(store.as_str()));
        for attempt in 1..=ATTEMPTS {
            let checkpoints = checkpoints_of(item.as_ref())?;
            let (next, fresh) = advance(&checkpoints, entries);
            if fresh.is_empty() {
                return Ok(0);
            }
            let (version, mut day, top) = match &item {
                Some(i) => {
                    let d: DayItem = from_item("store day", i.clone())?;
                    (d.version, d.day, d.top)
                }
                None => (0, StoreDay::default(), Some(TopList::default())),
            };
            for entry in &fresh {
                day.fold_entry(&entry.value);
            }
            let mut top = match top {
                Some(top) => top,
                // A head from before it kept its top: from all the day's commodities.
                None => TopList::rebuilt(self.day_readings(table, date, store).await?),
            };
            for reading in &readings {
                let (sku, ranked) = from_item::<DayCommodityItem>("day commodity", reading.clone())?.ranked()?;
                top.observe(&sku, ranked);
            }
            if !top.complete() {
                // Returns took listed commodities below the floor: rank the whole day again.
                top = TopList::rebuilt(self.day_readings(table, date, store).await?);
            }
            let head = DayItem { pk: day_pk(date), sk: store.to_string(), version: version + 1, day, top: Some(top) };
            let mut out = to_item("store day", &head)?;
            out.extend(next.iter().map(|(shard, ck)| (format!("{CHECKPOINT_PREFIX}{shard}"), s(ck.encode()))));
            let put = self
                .client
                .put_item()
                .table_name(table)
                .set_item(Some(out))
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
            let put = if version == 0 {
                put.condition_expression("attribute_not_exists(pk)")
            } else {
                put.condition_expression("version = :v").expression_attribute_values(":v", n(version as i64))
            };
            match put.send().await {
                Ok(_) => return Ok(fresh.len()),
                Err(e) => {
                    let Some(PutItemError::ConditionalCheckFailedException(failed)) = e.as_service_error() else {
                        return Err(call_failed("PutItem", e));
                    };
                    // Another batch wrote the head first: fold against what it wrote, with
                    // readings newer than the ones it observed.
                    item = match failed.item().filter(|i| !i.is_empty()) {
                        Some(now) => Some(now.clone()),
                        None => {
                            backoff(attempt).await;
                            self.get(table, head_key.clone()).await?
                        }
                    };
                    let keys = touched.iter().map(|k| (table.to_owned(), k.clone())).collect();
                    readings = self.batch_get(keys).await?.into_values().collect();
                }
            }
        }
        tracing::warn!(store = %store, %date, "a store-day's head lost every race");
        Err(busy())
    }

    /// Every commodity of a store-day with its fold count: a strongly consistent Query of its
    /// partition, every page.
    async fn day_readings(&self, table: &str, date: NaiveDate, store: &StoreId) -> StoreResult<Vec<(Sku, Ranked)>> {
        let values = HashMap::from([(":pk".to_owned(), s(day_commodities_pk(date, store)))]);
        self.query_all(table, Some(("pk = :pk", values)))
            .await?
            .into_iter()
            .map(|i| from_item::<DayCommodityItem>("day commodity", i)?.ranked())
            .collect()
    }
}

impl AggregateStore for DynamoStore {
    /// One task per store-day (a return's is the returning store's), run side by side, and
    /// beside them the tracked stock the sales leave to the stream (`stock_fold.rs`); an entry
    /// named twice in the call is folded from its first record.
    async fn fold(&self, entries: &[Streamed<LedgerEntry>]) -> StoreResult<usize> {
        let mut seen = HashSet::new();
        let mut firsts = Vec::with_capacity(entries.len());
        let mut days: BTreeMap<(StoreId, NaiveDate), Vec<Streamed<LedgerEntry>>> = BTreeMap::new();
        for entry in entries {
            if seen.insert(entry.value.id()) {
                let (store, date) = entry.value.store_day();
                days.entry((store.clone(), date)).or_default().push(entry.clone());
                firsts.push(entry);
            }
        }
        let tasks = days.into_iter().map(|((store, date), entries)| self.clone().fold_day(store, date, entries));
        let (days, _) = tokio::try_join!(in_parallel(tasks), self.take_streamed_stock(&firsts))?;
        Ok(days.into_iter().sum())
    }

    async fn store_day(&self, store: &StoreId, day: BusinessDay) -> StoreResult<Option<StoreDay>> {
        Ok(self
            .get(&self.tables.aggregates, key(day_pk(day.date()), Some(store.as_str())))
            .await?
            .map(|i| from_item::<DayItem>("store day", i))
            .transpose()?
            .map(|d| d.day))
    }

    /// The head's top list (one GetItem); for a head written before it kept one, every
    /// commodity of the day.
    async fn top_commodity_candidates(&self, store: &StoreId, day: BusinessDay) -> StoreResult<Vec<(Sku, CommodityTotals)>> {
        let table = &self.tables.aggregates;
        let Some(item) = self.get(table, key(day_pk(day.date()), Some(store.as_str()))).await? else { return Ok(Vec::new()) };
        match from_item::<DayItem>("store day", item)?.top {
            Some(top) => Ok(top.candidates()),
            None => Ok(self.day_readings(table, day.date(), store).await?.into_iter().map(|(s, r)| (s, r.totals)).collect()),
        }
    }

    /// A strongly consistent Query of the store-day's commodities partition, by sku; one more
    /// than asked for tells whether more follow.
    async fn day_commodities(
        &self,
        store: &StoreId,
        day: BusinessDay,
        after: Option<&Sku>,
        limit: usize,
    ) -> StoreResult<(Vec<(Sku, CommodityTotals)>, bool)> {
        let mut values = HashMap::from([(":pk".to_owned(), s(day_commodities_pk(day.date(), store)))]);
        let condition = match after {
            Some(sku) => {
                values.insert(":after".to_owned(), s(sku.as_str()));
                "pk = :pk AND sk > :after"
            }
            None => "pk = :pk",
        };
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.tables.aggregates)
                .key_condition_expression(condition)
                .set_expression_attribute_values(Some(values.clone()))
                .consistent_read(true)
                .limit(i32::try_from(limit + 1 - out.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| call_failed("Query", e))?;
            for item in page.items.unwrap_or_default() {
                out.push(from_item::<DayCommodityItem>("day commodity", item)?.commodity()?);
            }
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) if out.len() <= limit => start = Some(k),
                _ => break,
            }
        }
        let more = out.len() > limit;
        out.truncate(limit);
        Ok((out, more))
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

#[cfg(test)]
mod tests {
    //! The shape of what a fold writes, without a database: parts that fit a transaction, and a
    //! head whose size does not depend on how many commodities the day sold.

    use super::*;
    use crate::domain::sale::{Payment, PaymentMethod, Receipt, ReceiptLine, SaleRecord};
    use crate::domain::{Money, SaleId, TerminalId};
    use chrono::{TimeZone, Utc};
    use std::sync::Arc;

    /// Sale `n` of S001 at terminal T`n % 40`: one unit of each sku, 1.00 each, paid in cash.
    fn sale(n: u32, skus: &[String]) -> LedgerEntry {
        let at = Utc.with_ymd_and_hms(2026, 11, 11, 12, 0, 0).unwrap() + chrono::Duration::seconds(i64::from(n));
        let total = Money::from_minor_units(100 * skus.len() as i64);
        LedgerEntry::Sale(Arc::new(SaleRecord {
            receipt: Receipt {
                sale_id: SaleId::parse(&format!("00000000-0000-4000-8000-{n:012}")).unwrap(),
                receipt_no: format!("T01-{n:06}"),
                store_id: StoreId::parse("S001").unwrap(),
                terminal_id: TerminalId::parse(&format!("T{:02}", n % 40)).unwrap(),
                business_day: NaiveDate::from_ymd_opt(2026, 11, 11).unwrap(),
                occurred_at: at,
                created_at: at,
                lines: skus
                    .iter()
                    .map(|sku| ReceiptLine {
                        sku: Sku::parse(sku).unwrap(),
                        name: format!("{sku} thirty characters of name..").into(),
                        quantity: Some(1),
                        weight_grams: None,
                        unit_amount: Money::from_minor_units(100),
                        line_amount: Money::from_minor_units(100),
                        discount_amount: Money::ZERO,
                        net_amount: Money::from_minor_units(100),
                        tax_amount: Money::from_minor_units(12),
                        adjustment_id: None,
                    })
                    .collect(),
                promotions: vec![],
                discount_total: Money::ZERO,
                payments: vec![Payment { method: PaymentMethod::Cash, amount: total }],
                total,
                tax_total: Money::from_minor_units(12 * skus.len() as i64),
                paid: total,
                change: Money::ZERO,
                currency: "CNY".into(),
            },
            local_hour: 20,
            stock_shards: vec![],
            stream_takes: vec![],
        }))
    }

    fn item_size(item: &Item) -> u64 {
        super::super::capacity::item_size(item)
    }

    /// The head a store-day of `entries` writes.
    fn head(entries: &[LedgerEntry]) -> Item {
        let mut day = StoreDay::default();
        for e in entries {
            day.fold_entry(e);
        }
        let date = NaiveDate::from_ymd_opt(2026, 11, 11).unwrap();
        to_item("store day", &DayItem { pk: day_pk(date), sk: "S001".into(), version: 1, day, top: None }).unwrap()
    }

    #[test]
    fn a_store_days_head_is_as_large_at_twenty_thousand_skus_as_at_one() {
        // 100 baskets of 200 lines: 20,000 different skus, or the same sku on every line.
        let many: Vec<LedgerEntry> =
            (0..100).map(|n| sale(n, &(0..200).map(|i| format!("SKU-{:05}", n * 200 + i)).collect::<Vec<_>>())).collect();
        let one: Vec<LedgerEntry> = (0..100).map(|n| sale(n, &vec!["SKU-00000".to_owned(); 200])).collect();
        let distinct: HashSet<Sku> = many.iter().flat_map(|e| commodity_changes(e).into_keys()).collect();
        assert_eq!(distinct.len(), 20_000);
        let (many, one) = (head(&many), head(&one));
        assert_eq!(many, one, "the head holds nothing per sku");
        let bytes = item_size(&many);
        println!("the head of a day of 100 sales at 40 terminals: {bytes} bytes");
        assert!(bytes < 64 * 1024, "{bytes} bytes");
    }

    #[test]
    fn a_head_with_a_full_top_list_of_the_longest_names_stays_small() {
        let longest = |i: usize| CommodityTotals {
            name: "N".repeat(200),
            quantity: 1_000_000_000,
            weight_grams: 1_000_000_000,
            amount: Money::from_minor_units(1_000_000_000_000 + i as i64),
            returned_quantity: 1_000_000_000,
            returned_weight_grams: 1_000_000_000,
            returns_amount: Money::from_minor_units(1_000_000_000),
        };
        let all = (0..10 * crate::domain::report::TOP_KEPT)
            .map(|i| (Sku::parse(&format!("{i:0>32}")).unwrap(), Ranked { totals: longest(i), folds: u64::MAX }));
        let top = TopList::rebuilt(all);
        assert_eq!(top.listed.len(), crate::domain::report::TOP_KEPT);
        let many: Vec<LedgerEntry> = (0..100).map(|n| sale(n, &["SKU-00000".to_owned()])).collect();
        let mut item = head(&many);
        item.extend(to_item("top", &DayItem { pk: String::new(), sk: String::new(), version: 0, day: StoreDay::default(), top: Some(top) }).unwrap().into_iter().filter(|(k, _)| k == "top"));
        let bytes = item_size(&item);
        println!("a head with a full top list of the longest names: {bytes} bytes");
        assert!(bytes < 64 * 1024, "{bytes} bytes");
    }

    #[test]
    fn a_commodity_item_stays_small() {
        let c = CommodityTotals {
            name: "N".repeat(200),
            quantity: 1_000_000_000,
            weight_grams: 1_000_000_000,
            amount: Money::from_minor_units(1_000_000_000_000),
            returned_quantity: 1_000_000_000,
            returned_weight_grams: 1_000_000_000,
            returns_amount: Money::from_minor_units(1_000_000_000_000),
        };
        let item = to_item(
            "day commodity",
            &DayCommodityItem {
                pk: day_commodities_pk(NaiveDate::from_ymd_opt(2026, 11, 11).unwrap(), &StoreId::parse("S0123456789ABCDE").unwrap()),
                sk: "A".repeat(32),
                name: c.name.clone(),
                quantity: c.quantity,
                weight_grams: c.weight_grams,
                amount: c.amount.minor_units(),
                returned_quantity: c.returned_quantity,
                returned_weight_grams: c.returned_weight_grams,
                returns_amount: c.returns_amount.minor_units(),
                folds: 1_000_000,
            },
        )
        .unwrap();
        assert!(item_size(&item) < 1024, "{} bytes: one write unit", item_size(&item));
    }
}
