//! Store-day aggregates that stay bounded however many commodities a day sells (issue 15):
//! folding any day of sales and returns, delivered as a stream might (batches of any size, each
//! starting at any earlier record, replays), gives the figures of folding each entry once in
//! memory (`FoldedDay`), on the embedded store (a property test) and on the DynamoDB adapter over
//! moto (a smaller one); and a store-day of 3,000 skus on moto, sales of 200 lines, with no item
//! over 64 KB and its commodities paged by sku, each once.

use chrono::{Duration, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use retail_core::domain::report::{FoldedDay, LedgerEntry, StoreDailyReport};
use retail_core::testing::stream::streamed;
use retail_core::domain::returns::{ReturnReason, ReturnReceipt, ReturnReceiptLine, ReturnedSale};
use retail_core::domain::sale::{Payment, PaymentMethod, Receipt, ReceiptLine, SaleRecord};
use retail_core::domain::{BusinessDay, Money, RegionId, ReturnId, SaleId, Sku, Store, StoreId, TerminalId};
use retail_core::store::{AggregateStore, CatalogStore};
use retail_core::usecases::reports;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 11).unwrap()
}

fn store_id(id: &str) -> StoreId {
    StoreId::parse(id).unwrap()
}

/// Commodity `i`: even ones sold by the piece, odd ones by weight.
fn sku(i: usize) -> Sku {
    Sku::parse(&format!("SKU-{i:05}")).unwrap()
}

fn by_weight(i: usize) -> bool {
    i % 2 == 1
}

/// A line of a sale: (commodity, units or grams, net amount).
type Line = (usize, i64, i64);

/// Sale `n` of S001 on the day: its lines as given, paid in cash, at terminal T`n % 3`.
fn sale(n: usize, lines: &[Line]) -> SaleRecord {
    let at = Utc.with_ymd_and_hms(2026, 11, 11, 4, 0, 0).unwrap() + Duration::seconds(n as i64);
    let total = Money::from_minor_units(lines.iter().map(|l| l.2).sum());
    SaleRecord {
        receipt: Receipt {
            sale_id: SaleId::parse(&format!("00000000-0000-4000-8000-{n:012}")).unwrap(),
            receipt_no: format!("T01-{n:06}"),
            store_id: store_id("S001"),
            terminal_id: TerminalId::parse(&format!("T{:02}", n % 3)).unwrap(),
            business_day: date(),
            occurred_at: at,
            created_at: at,
            lines: lines
                .iter()
                .map(|&(i, measure, amount)| ReceiptLine {
                    sku: sku(i),
                    name: format!("Commodity {i} of thirty characters").into(),
                    quantity: (!by_weight(i)).then_some(measure),
                    weight_grams: by_weight(i).then_some(measure),
                    unit_amount: Money::from_minor_units(amount),
                    line_amount: Money::from_minor_units(amount),
                    discount_amount: Money::ZERO,
                    net_amount: Money::from_minor_units(amount),
                    tax_amount: Money::from_minor_units(amount / 10),
                    adjustment_id: None,
                })
                .collect(),
            promotions: vec![],
            discount_total: Money::ZERO,
            payments: vec![Payment { method: PaymentMethod::Cash, amount: total }],
            total,
            tax_total: Money::from_minor_units(lines.iter().map(|l| l.2 / 10).sum()),
            paid: total,
            change: Money::ZERO,
            currency: "CNY".into(),
        },
        local_hour: 12,
        stock_shards: vec![],
        stream_takes: vec![],
    }
}

/// Return `n`: half of each picked line of `sale` (rounded up) for half its amount, refunded
/// in cash and taken back in `store` on the day.
fn give_back(n: usize, store: &str, sale: &SaleRecord, picked: &[usize]) -> ReturnReceipt {
    let lines: Vec<ReturnReceiptLine> = picked
        .iter()
        .map(|&line| {
            let sold = &sale.receipt.lines[line];
            let half = |m: Option<i64>| m.map(|m| (m + 1) / 2);
            ReturnReceiptLine {
                line,
                sku: sold.sku.clone(),
                name: sold.name.clone(),
                quantity: half(sold.quantity),
                weight_grams: half(sold.weight_grams),
                refund_amount: Money::from_minor_units(sold.net_amount.minor_units() / 2),
                tax_amount: Money::from_minor_units(sold.tax_amount.minor_units() / 2),
                restocked: true,
            }
        })
        .collect();
    let total: Money = lines.iter().map(|l| l.refund_amount).sum();
    ReturnReceipt {
        return_id: ReturnId::parse(&format!("00000000-0000-7000-9000-{n:012}")).unwrap(),
        return_no: format!("T09-R{n:06}"),
        store_id: store_id(store),
        terminal_id: TerminalId::parse("T09").unwrap(),
        business_day: date(),
        created_at: sale.receipt.created_at + Duration::hours(1),
        reason: ReturnReason::Unwanted,
        sale: ReturnedSale {
            store_id: sale.receipt.store_id.clone(),
            sale_id: sale.receipt.sale_id.clone(),
            receipt_no: sale.receipt.receipt_no.clone(),
        },
        tax_total: lines.iter().map(|l| l.tax_amount).sum(),
        lines,
        refunds: if total == Money::ZERO { vec![] } else { vec![Payment { method: PaymentMethod::Cash, amount: total }] },
        total,
        currency: "CNY".into(),
    }
}

/// A day's ledger: sales of `lines` each, and for some of them a return of some lines, taken
/// back in S001 or in S002.
fn ledger(sales: &[Vec<Line>], returns: &[(usize, Vec<usize>, bool)]) -> Vec<LedgerEntry> {
    let sales: Vec<SaleRecord> = sales.iter().enumerate().map(|(n, lines)| sale(n, lines)).collect();
    let mut entries: Vec<LedgerEntry> = sales.iter().map(|s| LedgerEntry::Sale(Arc::new(s.clone()))).collect();
    for (n, (of, picked, elsewhere)) in returns.iter().enumerate() {
        let sale = &sales[of % sales.len()];
        let picked: BTreeSet<usize> = picked.iter().map(|p| p % sale.receipt.lines.len()).collect();
        let picked: Vec<usize> = picked.into_iter().collect();
        entries.push(LedgerEntry::Return(Arc::new(give_back(n, if *elsewhere { "S002" } else { "S001" }, sale, &picked))));
    }
    entries
}

/// Each store-day folded from every entry once, in memory.
fn expected(entries: &[LedgerEntry]) -> BTreeMap<StoreId, FoldedDay> {
    let mut days: BTreeMap<StoreId, FoldedDay> = BTreeMap::new();
    for e in entries {
        days.entry(e.store_day().0.clone()).or_default().fold_entry(e);
    }
    days
}

async fn open_stores<S: CatalogStore>(s: &S) {
    for id in ["S001", "S002"] {
        s.put_store(Store::new(store_id(id), "Shop", RegionId::parse("EAST").unwrap(), None).unwrap()).await.unwrap();
    }
}

/// Every page of a store-day's commodities, `limit` at a time, through the route's use case.
async fn every_page<S: AggregateStore>(s: &S, store: &StoreId, limit: usize) -> Vec<retail_core::domain::report::DayCommodityRow> {
    let mut rows = Vec::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let page = reports::day_commodities(s, store, BusinessDay::from(date()), cursor.take(), limit).await.unwrap();
        assert!(page.items.len() <= limit);
        rows.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(retail_core::domain::report::DayCommoditiesCursor::decode(&next, store, date()).unwrap()),
            None => return rows,
        }
    }
    panic!("the pages never end");
}

/// The store's figures equal `want`'s: the head, every commodity by sku once, the report.
async fn agrees<S: AggregateStore>(s: &S, store: &StoreId, want: Option<&FoldedDay>, limit: usize) -> Result<(), String> {
    let day = BusinessDay::from(date());
    let head = s.store_day(store, day).await.map_err(|e| e.to_string())?;
    if head.as_ref() != want.map(|w| &w.day) {
        return Err(format!("{store}: the head is {head:?}, not {:?}", want.map(|w| &w.day)));
    }
    let rows = every_page(s, store, limit).await;
    let listed: Vec<(Sku, retail_core::domain::report::DayCommodityRow)> = rows.iter().map(|r| (r.sku.clone(), r.clone())).collect();
    let wanted: Vec<(Sku, retail_core::domain::report::DayCommodityRow)> = want
        .map(|w| w.commodities.iter().map(|(sku, c)| (sku.clone(), retail_core::domain::report::DayCommodityRow::of(sku.clone(), c.clone()))).collect())
        .unwrap_or_default();
    if listed != wanted {
        return Err(format!("{store}: {} commodities listed, {} folded; first difference at {:?}", listed.len(), wanted.len(),
            listed.iter().zip(&wanted).find(|(a, b)| a != b)));
    }
    let report: StoreDailyReport = reports::store_daily(s, store, day).await.map_err(|e| format!("{e:?}"))?;
    let want_report = match want {
        Some(w) => w.report(store, date()),
        None => retail_core::domain::report::store_report(store, date(), None, vec![]),
    };
    if report != want_report {
        return Err(format!("{store}: the report's top is {:?}, not {:?}", report.top_commodities, want_report.top_commodities));
    }
    Ok(())
}

/// Delivers `entries` as the stream might: as records 1, 2, ... of one shard, in batches of
/// `chunk` new records, each batch starting up to `early[k]` records before the first new one (a
/// retry after a reported failure, a bisected batch), and sent twice when `replay`. Returns how
/// many entries the store counted as new.
async fn deliver<S: AggregateStore>(s: &S, entries: &[LedgerEntry], early: &[Vec<usize>], chunk: usize, replay: bool) -> usize {
    let records: Vec<_> = entries.iter().enumerate().map(|(i, e)| streamed(i as u64 + 1, e.clone())).collect();
    let backs: Vec<usize> = early.iter().flatten().copied().collect();
    let (mut new, mut next) = (0, 0);
    for k in 0.. {
        if next == records.len() {
            break;
        }
        let back = backs.get(k).map_or(0, |b| b % (next + 1));
        let end = (next + chunk).min(records.len());
        let batch = &records[next - back..end];
        new += s.fold(batch).await.unwrap();
        if replay {
            assert_eq!(s.fold(batch).await.unwrap(), 0, "a replayed batch counts nothing");
        }
        next = end;
    }
    new
}

/// Any day: `sales` of up to `lines` lines over `skus` commodities, returns of some of them.
fn arb_day(sales: usize, lines: usize, skus: usize) -> impl Strategy<Value = Vec<LedgerEntry>> {
    let line = (0..skus, 1i64..=2_000, 0i64..=100_000);
    (
        proptest::collection::vec(proptest::collection::vec(line, 1..=lines), 1..=sales),
        proptest::collection::vec((any::<usize>(), proptest::collection::vec(any::<usize>(), 1..4), any::<bool>()), 0..=sales / 2),
    )
        .prop_map(|(sales, returns)| ledger(&sales, &returns))
}

fn arb_delivery() -> impl Strategy<Value = (Vec<Vec<usize>>, usize, bool, usize)> {
    (proptest::collection::vec(proptest::collection::vec(any::<usize>(), 1..8), 0..4), 1usize..12, any::<bool>(), 1usize..8)
}

async fn a_day_delivered_any_way_folds_as_once_in_memory<S: AggregateStore + CatalogStore>(
    s: &S,
    entries: &[LedgerEntry],
    (early, chunk, replay, limit): &(Vec<Vec<usize>>, usize, bool, usize),
) -> Result<(), String> {
    open_stores(s).await;
    let new = deliver(s, entries, early, *chunk, *replay).await;
    if new != entries.len() {
        return Err(format!("{new} entries counted as new, of {}", entries.len()));
    }
    let want = expected(entries);
    for store in [store_id("S001"), store_id("S002")] {
        agrees(s, &store, want.get(&store), *limit).await?;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
    #[test]
    fn any_day_delivered_in_any_batches_with_replays_folds_once_on_the_embedded_store(
        entries in arb_day(12, 8, 20),
        delivery in arb_delivery(),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let s = retail_core::store::memory::MemoryStore::new();
        rt.block_on(a_day_delivered_any_way_folds_as_once_in_memory(&s, &entries, &delivery)).map_err(TestCaseError::fail)?;
    }
}

/// The same on moto, fewer and with sales of up to 130 lines over 160 commodities.
#[test]
fn any_day_delivered_in_any_batches_with_replays_folds_once_on_dynamodb() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let moto = retail_tests::moto::Moto::start();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 6, ..ProptestConfig::default() });
    runner
        .run(&(arb_day(6, 130, 160), arb_delivery()), |(entries, delivery)| {
            let s = rt.block_on(moto.store());
            rt.block_on(a_day_delivered_any_way_folds_as_once_in_memory(&s, &entries, &delivery)).map_err(TestCaseError::fail)
        })
        .unwrap();
}

/// An item's size by DynamoDB's rules (names and values; a number about one byte per two
/// digits, plus one; maps and lists 3 bytes and a byte per member besides their members).
fn size(value: &aws_sdk_dynamodb::types::AttributeValue) -> usize {
    use aws_sdk_dynamodb::types::AttributeValue as A;
    match value {
        A::S(s) => s.len(),
        A::N(n) => n.trim_start_matches('-').len().div_ceil(2) + 1,
        A::Bool(_) | A::Null(_) => 1,
        A::M(m) => 3 + m.iter().map(|(k, v)| k.len() + size(v) + 1).sum::<usize>(),
        A::L(l) => 3 + l.iter().map(|v| size(v) + 1).sum::<usize>(),
        A::Ss(l) => l.iter().map(String::len).sum(),
        other => panic!("not written by the aggregator: {other:?}"),
    }
}

/// 15 baskets of 200 different commodities (3,000 in the store-day), five returns, delivered in
/// two batches with the whole stream replayed between.
#[test]
fn a_store_day_of_three_thousand_skus_keeps_every_item_small_and_pages_each_sku_once() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let moto = retail_tests::moto::Moto::start();
    let s = rt.block_on(moto.store());
    let sales: Vec<Vec<Line>> =
        (0..15).map(|n| (0..200).map(|i| (n * 200 + i, 1 + (i % 7) as i64, 100 + ((n * 37 + i * 11) % 5000) as i64)).collect()).collect();
    let returns: Vec<(usize, Vec<usize>, bool)> = (0..5).map(|n| (n * 3, vec![n, n + 50, n + 100], n == 4)).collect();
    let entries = ledger(&sales, &returns);
    rt.block_on(async {
        open_stores(&s).await;
        let started = std::time::Instant::now();
        let records: Vec<_> = entries.iter().enumerate().map(|(i, e)| streamed(i as u64 + 1, e.clone())).collect();
        assert_eq!(s.fold(&records[..8]).await.unwrap(), 8);
        assert_eq!(s.fold(&records).await.unwrap(), entries.len() - 8);
        assert_eq!(s.fold(&records).await.unwrap(), 0, "the whole stream replayed counts nothing");
        println!("folded {} entries of 3,000 skus in {:?}", entries.len(), started.elapsed());
        let want = expected(&entries);
        assert_eq!(want[&store_id("S001")].commodities.len(), 3000);
        for limit in [1000, 777] {
            for store in [store_id("S001"), store_id("S002")] {
                agrees(&s, &store, want.get(&store), limit).await.unwrap();
            }
        }
        // No item of the aggregates table is over 64 KB (the head least of all).
        let client = s.client();
        let mut start = None;
        let (mut items, mut largest) = (0, (0, String::new()));
        loop {
            let page = client.scan().table_name(&s.tables().aggregates).set_exclusive_start_key(start.take()).send().await.unwrap();
            for item in page.items.unwrap_or_default() {
                let bytes: usize = item.iter().map(|(k, v)| k.len() + size(v)).sum();
                items += 1;
                if bytes > largest.0 {
                    largest = (bytes, format!("{:?}/{:?}", item.get("pk"), item.get("sk")));
                }
            }
            match page.last_evaluated_key.filter(|k| !k.is_empty()) {
                Some(k) => start = Some(k),
                None => break,
            }
        }
        println!("{items} items in the aggregates table, the largest {} bytes ({})", largest.0, largest.1);
        assert!(largest.0 <= 64 * 1024, "{largest:?}");
        // 3,000 + S002's returned commodities, two heads, and a marker per part of each entry.
        assert!(items > 3000, "{items}");
    });
}
