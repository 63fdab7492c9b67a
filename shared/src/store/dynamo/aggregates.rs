//! `AggregateStore` on DynamoDB: sales and returns folded into store-days, each once, and a
//! chain's day. Touches the aggregates table, and reads stores.
//!
//! A store-day is a small head (pk `day#<date>`, sk the store: totals, hours, tenders,
//! terminals, promotions) and one item per commodity (pk `dayc#<date>#<store>`, sk the sku),
//! so no item grows with the number of skus a store sells: a hypermarket's 20,000 a day are
//! 20,000 small items, never one over DynamoDB's 400 KB.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use chrono::NaiveDate;
use std::collections::{BTreeMap, HashMap, HashSet};

use super::schema::*;
use super::write::{ATTEMPTS, MAX_TRANSACTION, backoff, build_err, busy, versioned_put, put};
use super::{DynamoStore, call_failed, in_parallel};
use crate::domain::report::{CommodityTotals, EntryId, LedgerEntry, StoreDay, TOP_COMMODITIES, commodity_changes};
use crate::domain::{BusinessDay, Sku, Store, StoreId};
use crate::store::{AggregateStore, StoreResult};

/// The commodities of an entry one part of its fold writes: a transaction holds the head, the
/// part's marker and one update per commodity.
const PART_COMMODITIES: usize = MAX_TRANSACTION - 2;

/// How many of a store-day's commodities a report reads by net amount at first: the ten that
/// rank and room for ties and for commodities only taken back (which do not rank).
const TOP_READ: i32 = 40;

/// The partition key of an entry's marker: a sale's by its sale id, a return's by its return id
/// under a prefix of its own.
fn marker_pk(entry: &LedgerEntry) -> String {
    match entry.id() {
        EntryId::Sale(id) => folded_pk(id.as_str()),
        EntryId::Return(id) => folded_return_pk(id.as_str()),
    }
}

/// One part of an entry's fold: its marker and the commodity figures it adds. An entry (a sale
/// of up to 200 lines) may name more commodities than one transaction holds; it is folded in
/// parts, each written with its own marker, so a replay writes only the parts not yet written.
/// Part 0 carries the head's figures and is written last (marker: the entry's own, as before
/// parts existed), so an entry whose part 0 is marked is folded whole.
struct Part<'a> {
    entry: &'a LedgerEntry,
    index: usize,
    marker: String,
    commodities: Vec<(Sku, CommodityTotals)>,
}

/// An entry's parts in the order they are written: the highest first, part 0 last.
fn parts(entry: &LedgerEntry) -> Vec<Part<'_>> {
    let changes: Vec<(Sku, CommodityTotals)> = commodity_changes(entry).into_iter().collect();
    let marker = marker_pk(entry);
    let mut out: Vec<Part<'_>> = changes
        .chunks(PART_COMMODITIES)
        .enumerate()
        .map(|(index, chunk)| Part {
            entry,
            index,
            marker: if index == 0 { marker.clone() } else { format!("{marker}#{index}") },
            commodities: chunk.to_vec(),
        })
        .collect();
    if out.is_empty() {
        out.push(Part { entry, index: 0, marker, commodities: Vec::new() });
    }
    out.reverse();
    out
}

/// The update that adds `c` to a commodity's item: numbers by `ADD`, so concurrent days never
/// read-modify-write; the name a sale gives wins, a return's only fills a name not yet there.
fn commodity_update(table: &str, pk: &str, sku: &Sku, c: &CommodityTotals) -> StoreResult<TransactWriteItem> {
    let name = if c.sold() { "#name = :name" } else { "#name = if_not_exists(#name, :name)" };
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(key(pk, Some(sku.as_str()))))
        .update_expression(format!(
            "SET {name} ADD #quantity :quantity, #weightGrams :weightGrams, #amount :amount, \
             #returnedQuantity :returnedQuantity, #returnedWeightGrams :returnedWeightGrams, \
             #returnsAmount :returnsAmount, #netAmount :netAmount"
        ))
        .expression_attribute_names("#name", "name")
        .expression_attribute_values(":name", s(c.name.as_str()));
    let numbers = [
        ("quantity", c.quantity),
        ("weightGrams", c.weight_grams),
        ("amount", c.amount.minor_units()),
        ("returnedQuantity", c.returned_quantity),
        ("returnedWeightGrams", c.returned_weight_grams),
        ("returnsAmount", c.returns_amount.minor_units()),
        ("netAmount", c.net_amount().minor_units()),
    ];
    let update = numbers.into_iter().fold(update, |u, (attr, value)| {
        u.expression_attribute_names(format!("#{attr}"), attr).expression_attribute_values(format!(":{attr}"), n(value))
    });
    let update = update.build().map_err(build_err)?;
    Ok(TransactWriteItem::builder().update(update).build())
}

impl DynamoStore {
    /// Folds one store-day's sales and returns: read the head and every part's marker, then
    /// write the unmarked parts in transactions of at most 100 items, each the head (if its
    /// version is unchanged), the parts' markers (if absent) and one `ADD` per commodity they
    /// touch. A replay finds the markers; a race loses the version, reads again and goes on.
    async fn fold_day(self, store: StoreId, date: NaiveDate, entries: Vec<LedgerEntry>) -> StoreResult<usize> {
        let table = self.tables.aggregates.clone();
        let head_key = (table.clone(), day_pk(date), store.to_string());
        let commodities_pk = day_commodities_pk(date, &store);
        let all: Vec<Part<'_>> = entries.iter().flat_map(parts).collect();
        let mut folded = 0;
        let mut failures = 0;
        'read: loop {
            let mut keys = vec![(table.clone(), key(day_pk(date), Some(store.as_str())))];
            keys.extend(all.iter().map(|p| (table.clone(), key(p.marker.clone(), Some(ONLY)))));
            let found = self.batch_get(keys).await?;
            let (mut version, mut day) = match found.get(&head_key) {
                Some(item) => {
                    let d: DayItem = from_item("store day", item.clone())?;
                    (d.version, d.day)
                }
                None => (0, StoreDay::default()),
            };
            let mut pending: &[&Part<'_>] =
                &all.iter().filter(|p| !found.contains_key(&(table.clone(), p.marker.clone(), ONLY.to_owned()))).collect::<Vec<_>>();
            while !pending.is_empty() {
                // As many parts as fit, in order (an entry's part 0 after its others).
                let mut changes: BTreeMap<&Sku, CommodityTotals> = BTreeMap::new();
                let mut taken = 0;
                for part in pending {
                    let added = part.commodities.iter().filter(|(sku, _)| !changes.contains_key(sku)).count();
                    if taken > 0 && 1 + (taken + 1) + changes.len() + added > MAX_TRANSACTION {
                        break;
                    }
                    for (sku, c) in &part.commodities {
                        changes.entry(sku).or_default().absorb(c);
                    }
                    taken += 1;
                }
                let (batch, rest) = pending.split_at(taken);
                let mut next = day.clone();
                for part in batch.iter().filter(|p| p.index == 0) {
                    next.fold_entry(part.entry);
                }
                let item = to_item("store day", &DayItem { pk: day_pk(date), sk: store.to_string(), version: version + 1, day: next.clone() })?;
                let (condition, v) = if version == 0 { ("attribute_not_exists(pk)", None) } else { ("version = :v", Some(version)) };
                let mut tx = vec![versioned_put(&table, item, Some(condition), v)?];
                for part in batch {
                    tx.push(put(&table, key(part.marker.clone(), Some(ONLY)), Some("attribute_not_exists(pk)"))?);
                }
                for (sku, c) in &changes {
                    tx.push(commodity_update(&table, &commodities_pk, sku, c)?);
                }
                match self.transact(tx).await? {
                    Ok(()) => {
                        folded += batch.iter().filter(|p| p.index == 0).count();
                        version += 1;
                        day = next;
                        pending = rest;
                    }
                    Err(_) => {
                        failures += 1;
                        if failures >= ATTEMPTS {
                            return Err(busy());
                        }
                        backoff(failures).await;
                        continue 'read;
                    }
                }
            }
            return Ok(folded);
        }
    }

    /// One page of the commodities index, highest net amount first.
    async fn top_page(&self, pk: &str, start: Option<Item>) -> StoreResult<(Vec<Item>, Option<Item>)> {
        let out = self
            .client
            .query()
            .table_name(&self.tables.aggregates)
            .index_name(TOP_COMMODITIES_INDEX)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(":pk", s(pk))
            .scan_index_forward(false)
            .limit(TOP_READ)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| call_failed("Query", e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key.filter(|k| !k.is_empty())))
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

    /// One Query of the index for the highest net amounts; another page only while fewer than
    /// ten commodities sold rank strictly above the lowest amount read (ties there, or many
    /// commodities only taken back), which a real day's top hardly ever has.
    async fn top_commodity_candidates(&self, store: &StoreId, day: BusinessDay) -> StoreResult<Vec<(Sku, CommodityTotals)>> {
        let pk = day_commodities_pk(day.date(), store);
        let mut out: Vec<(Sku, CommodityTotals)> = Vec::new();
        let mut start = None;
        loop {
            let (items, last) = self.top_page(&pk, start).await?;
            for item in items {
                out.push(from_item::<DayCommodityItem>("day commodity", item)?.commodity()?);
            }
            let Some(lowest) = out.last().map(|(_, c)| c.net_amount()) else { return Ok(out) };
            let above = out.iter().filter(|(_, c)| c.sold() && c.net_amount() > lowest).count();
            match last {
                Some(k) if above < TOP_COMMODITIES => start = Some(k),
                _ => return Ok(out),
            }
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
        to_item("store day", &DayItem { pk: day_pk(date), sk: "S001".into(), version: 1, day }).unwrap()
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
                net_amount: 0,
            },
        )
        .unwrap();
        assert!(item_size(&item) < 1024, "{} bytes: one write unit", item_size(&item));
    }

    #[test]
    fn a_sale_of_more_commodities_than_a_transaction_holds_is_folded_in_parts_its_own_last() {
        let skus: Vec<String> = (0..200).map(|i| format!("SKU-{i:03}")).collect();
        let entry = sale(7, &skus);
        let written = parts(&entry);
        let marker = marker_pk(&entry);
        let listed: Vec<(usize, &str, usize)> = written.iter().map(|p| (p.index, p.marker.as_str(), p.commodities.len())).collect();
        assert_eq!(
            listed,
            vec![(2, format!("{marker}#2").as_str(), 4), (1, format!("{marker}#1").as_str(), 98), (0, marker.as_str(), 98)]
        );
        // Each commodity in one part; each part fits a transaction with the head and its marker.
        let covered: BTreeMap<&Sku, usize> = written.iter().flat_map(|p| p.commodities.iter().map(|(s, _)| s)).fold(BTreeMap::new(), |mut m, s| {
            *m.entry(s).or_default() += 1;
            m
        });
        assert_eq!((covered.len(), covered.values().all(|n| *n == 1)), (200, true));
        assert!(written.iter().all(|p| 2 + p.commodities.len() <= MAX_TRANSACTION));
        // An entry of a few commodities is one part under its own marker, as before parts.
        let small = sale(8, &skus[..3]);
        let one = parts(&small);
        assert_eq!((one.len(), one[0].index, one[0].marker.clone()), (1, 0, marker_pk(&small)));
    }
}
