//! One conformance suite for the store ports, run against the embedded store and against the
//! DynamoDB adapter on moto's server: the adapters must answer alike.

use chrono::{DateTime, Duration, TimeZone, Utc};
use retail_core::testing::stream::streamed;
use retail_core::domain::barcode::gs1_check_digit;
use retail_core::domain::catalog::CommodityDraft;
use retail_core::domain::price::{AdjustmentId, PriceScope};
use retail_core::domain::sale::{
    BasketCatalog, CheckedLine, CheckedSale, LineItem, Payment, PaymentMethod, price_basket, settle,
};
use retail_core::domain::stock::StockChange;
use retail_core::domain::{
    Barcode, BatchId, BusinessDay, CatalogRefusal, Commodity, IdempotencyKey, SaleId, SaleRefusal, Money, PriceAdjustment, RegionId, Sku, StockPolicy,
    Store, StoreId, TerminalId, Unit, price_in_force,
};
use retail_core::domain::returns::{
    ReturnDraft, ReturnLineDraft, ReturnReason, ReturnReceipt, ReturnReceiptLine, ReturnRefusal, ReturnSummary, ReturnedSale, Returned, SaleRef,
    SaleReturns, plan_return,
};
use retail_core::domain::sale::SaleRecord;
use retail_core::domain::ReturnId;
use retail_core::store::{KeyAnswer, 
    AggregateStore, BatchOutcome, CatalogStore, ClaimToken, Failure, IN_PROGRESS_EXPIRY, KEY_RETENTION, KeyClaim, LookupStore, Moved,
    MovementKey, PendingReturn, PendingSale,
    PriceBatch, PriceBatchResult, PriceStore, PromotionStore, ReturnsStore, Stores, Versioned, Written,
};
use retail_core::domain::promotion::{Eligible, Rule};
use retail_core::domain::{Promotion, PromotionId};
use std::collections::BTreeMap;
use std::sync::Arc;

trait AllPorts: CatalogStore + LookupStore + PriceStore + PromotionStore + ReturnsStore + AggregateStore {}
impl<T: CatalogStore + LookupStore + PriceStore + PromotionStore + ReturnsStore + AggregateStore> AllPorts for T {}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(retail_core::store::memory::MemoryStore::new()).await;
                }
            )*
        }
        mod dynamo {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
                    let moto = retail_tests::moto::Moto::start();
                    super::$name(moto.store().await).await;
                }
            )*
        }
    };
}

conformance!(
    stores_are_created_then_replaced,
    barcodes_are_claimed_shared_and_released,
    stock_movements_apply_all_or_nothing,
    price_batches_apply_once_and_a_reused_id_is_refused,
    the_price_in_force_and_history_reach_only_their_stores,
    sale_keys_are_claimed_held_expired_and_released,
    a_committed_sale_completes_its_key_takes_stock_and_reads_back,
    a_strict_shortage_commits_nothing,
    fifty_tills_racing_for_ten_strict_units_sell_exactly_ten,
    receipt_numbers_increase_per_terminal_and_are_unique_in_the_store,
    folding_counts_each_sale_once_under_replay,
    folding_counts_each_return_once_in_the_store_that_took_it_back,
    a_hot_skus_stock_is_split_spread_and_sold_to_the_last_unit,
    a_smaller_split_still_sells_what_a_larger_one_left,
    stock_movements_under_a_key_apply_once,
    movements_touching_more_items_than_one_transaction_apply_whole,
    a_committed_return_completes_its_key_restocks_and_reads_back,
    a_return_planned_from_a_stale_reading_is_refused_and_writes_nothing,
    a_sale_of_one_store_is_returned_in_another,
    promotions_are_written_once_per_version_and_listed_by_when_they_end,
    a_basket_reading_sees_head_offices_changes_within_a_second,
);

// ------------------------------------------------------------------ fixtures

/// Movements without a key, as the request applied them.
async fn mv<S: AllPorts>(s: &S, store: &StoreId, changes: &BTreeMap<Sku, StockChange>) -> Result<Vec<(Sku, i64)>, Failure<CatalogRefusal>> {
    match s.record_stock_movements(store, changes, None, t0()).await? {
        Moved::Applied(levels) => Ok(levels),
        Moved::Replayed(levels) => panic!("movements without a key replayed {levels:?}"),
    }
}

fn movement_key(k: &str, fingerprint: &str) -> MovementKey {
    MovementKey { key: IdempotencyKey::parse(k).unwrap(), fingerprint: fingerprint.to_owned() }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 11, 4, 0, 0).unwrap()
}

fn sku(s: &str) -> Sku {
    Sku::parse(s).unwrap()
}

fn store_id(s: &str) -> StoreId {
    StoreId::parse(s).unwrap()
}

fn shop(id: &str, region: &str) -> Store {
    Store::new(store_id(id), &format!("Shop {id}"), RegionId::parse(region).unwrap(), None).unwrap()
}

fn ean13(body12: &str) -> String {
    format!("{body12}{}", gs1_check_digit(body12.as_bytes()))
}

fn commodity(s: &str, policy: StockPolicy, barcodes: &[&str], shared: bool) -> Commodity {
    commodity_split(s, policy, barcodes, shared, None)
}

/// A commodity whose stock head office splits over `shards` items in each store (None: automatic).
fn commodity_split(s: &str, policy: StockPolicy, barcodes: &[&str], shared: bool, shards: Option<u16>) -> Commodity {
    commodity_named(s, &format!("Item {s}"), policy, barcodes, shared, shards)
}

/// [`commodity_split`] under another name than `Item <sku>`.
fn commodity_named(s: &str, name: &str, policy: StockPolicy, barcodes: &[&str], shared: bool, shards: Option<u16>) -> Commodity {
    Commodity::from_draft(
        sku(s),
        CommodityDraft {
            name: name.to_owned(),
            unit: Unit::Each,
            tax_rate_bp: 1300,
            barcodes: barcodes.iter().map(|b| b.to_string()).collect(),
            category: None,
            stock_policy: policy,
            allow_shared_barcodes: Some(shared),
            stock_shards: shards.map(i64::from),
        },
    )
    .unwrap()
}

#[allow(clippy::too_many_arguments, reason = "one row of the adjustments a test writes, read like a table")]
fn adjustment(batch: &str, index: u32, s: &str, scope: &str, amount: i64, from: DateTime<Utc>, to: Option<DateTime<Utc>>, applied: DateTime<Utc>) -> PriceAdjustment {
    PriceAdjustment {
        id: AdjustmentId { batch_id: BatchId::parse(batch).unwrap(), index },
        sku: sku(s),
        scope: PriceScope::parse(scope).unwrap(),
        amount: Money::from_minor_units(amount),
        valid_from: from,
        valid_to: to,
        reason: Some("test".into()),
        applied_at: applied,
    }
}

fn batch(id: &str, fingerprint: &str, applied: DateTime<Utc>, adjustments: Vec<PriceAdjustment>) -> PriceBatch {
    PriceBatch {
        result: PriceBatchResult {
            batch_id: BatchId::parse(id).unwrap(),
            accepted: adjustments.len() as u32,
            rejected: Vec::new(),
            applied_at: applied,
        },
        adjustments,
        fingerprint: fingerprint.to_owned(),
    }
}

fn moves(list: &[(&str, i64, i64)]) -> BTreeMap<Sku, StockChange> {
    list.iter().map(|(s, net, lowest)| (sku(s), StockChange { net: *net, lowest: *lowest })).collect()
}

/// A store S001 (region EAST) with a strict sku F1 and a tracked sku T1, both priced 1000 by
/// the chain since t0 - 1 day, and `strict_units` of F1 on hand.
async fn shop_with_stock<S: AllPorts>(s: &S, strict_units: i64) -> Store {
    let store = shop("S001", "EAST");
    s.put_store(store.clone()).await.unwrap();
    s.put_commodity(commodity("F1", StockPolicy::Strict, &[], false)).await.unwrap();
    s.put_commodity(commodity("T1", StockPolicy::Track, &[], false)).await.unwrap();
    let from = t0() - Duration::days(1);
    s.apply_price_batch(batch(
        "base",
        "fp-base",
        from,
        vec![adjustment("base", 0, "F1", "chain", 1000, from, None, from), adjustment("base", 1, "T1", "chain", 1000, from, None, from)],
    ))
    .await
    .unwrap();
    if strict_units > 0 {
        mv(s, &store.store_id, &moves(&[("F1", strict_units, 0)])).await.unwrap();
    }
    store
}

/// Claims `key` and prices a cash sale of `lines` (sku, units) at t0 the way checkout does.
async fn pending<S: AllPorts>(s: &S, store: &Store, key: &str, terminal: &str, lines: &[(&str, i64)]) -> PendingSale {
    pending_as(s, store, key, terminal, lines, &ClaimToken::new()).await
}

/// [`pending`], claimed as attempt `token`.
async fn pending_as<S: AllPorts>(s: &S, store: &Store, key: &str, terminal: &str, lines: &[(&str, i64)], token: &ClaimToken) -> PendingSale {
    let key = IdempotencyKey::parse(key).unwrap();
    let fingerprint = format!("fp-{key}");
    let claim = match s.claim_sale_key(&store.store_id, &key, &fingerprint, token, t0()).await.unwrap() {
        KeyClaim::Claimed(claim) => claim,
        other => panic!("expected the key claimed, found {other:?}"),
    };
    let sale = CheckedSale {
        terminal_id: TerminalId::parse(terminal).unwrap(),
        lines: lines
            .iter()
            .map(|(k, q)| CheckedLine { item: LineItem::Sku(sku(k)), quantity: Some(*q), weight_grams: None })
            .collect(),
        payments: vec![Payment { method: PaymentMethod::Cash, amount: Money::from_minor_units(1_000_000) }],
        occurred_at: t0(),
    };
    let skus: Vec<Sku> = lines.iter().map(|(k, _)| sku(k)).collect();
    let reading = s.basket_reading(store, &skus, &[]).await.unwrap();
    let basket = price_basket(&sale, store, &BasketCatalog { commodities: &reading.commodities, barcodes: &reading.barcodes, promotions: &[] }).unwrap();
    let settlement = settle(basket.total, &sale.payments).unwrap();
    PendingSale {
        key,
        claim,
        fingerprint,
        sale_id: SaleId::parse(&uuid_like()).unwrap(),
        store: store.clone(),
        sale,
        basket,
        settlement,
        created_at: t0(),
    }
}

fn uuid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(1);
    format!("00000000-0000-7000-8000-{:012x}", N.fetch_add(1, Ordering::Relaxed) + u64::from(std::process::id()) * 1_000_000)
}

/// The sales stream delivering `sale` to the aggregator's fold: where the DynamoDB adapter takes
/// a sale's tracked stock (the embedded store took it with the sale; its fold only counts it).
/// Delivered twice, as the stream may. For tests that fold nothing else: its sequence numbers
/// are the process's own.
async fn delivered<S: AllPorts>(s: &S, sale: &Arc<SaleRecord>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let entry = streamed(NEXT.fetch_add(1, Ordering::Relaxed), retail_core::domain::report::LedgerEntry::Sale(Arc::clone(sale)));
    assert_eq!(s.fold(std::slice::from_ref(&entry)).await.unwrap(), 1);
    // The stream delivers at least once: the same record again counts and takes nothing more.
    assert_eq!(s.fold(&[entry]).await.unwrap(), 0);
}

async fn on_hand<S: AllPorts>(s: &S, store: &Store, k: &str) -> i64 {
    s.commodity_views(store, &[sku(k)], t0()).await.unwrap()[0].as_ref().unwrap().on_hand
}

// ------------------------------------------------------------------ the suite

async fn stores_are_created_then_replaced<S: AllPorts>(s: S) {
    let id = store_id("S001");
    assert_eq!(Stores::store(&s, &id).await.unwrap(), None);
    assert_eq!(s.put_store(shop("S001", "EAST")).await.unwrap(), Written::Created);
    assert_eq!(s.put_store(shop("S001", "WEST")).await.unwrap(), Written::Replaced);
    let read = Stores::store(&s, &id).await.unwrap().unwrap();
    assert_eq!(read, shop("S001", "WEST"));
    assert_eq!(read.timezone.name(), "Asia/Shanghai");
}

async fn barcodes_are_claimed_shared_and_released<S: AllPorts>(s: S) {
    let a = ean13("690000000001");
    let b = ean13("690000000002");
    assert_eq!(s.put_commodity(commodity("A1", StockPolicy::Track, &[&a, &b], false)).await.unwrap(), Written::Created);
    // Taken: A1 does not share.
    let err = s.put_commodity(commodity("B1", StockPolicy::Track, &[&a], true)).await.unwrap_err();
    assert_eq!(err, Failure::Refused(CatalogRefusal::BarcodeTaken { barcode: a.clone(), skus: vec!["A1".into()] }));
    assert_eq!(CatalogStore::commodity(&s, &sku("B1")).await.unwrap(), None, "a refused put writes nothing");
    // A1 now allows sharing: B1 (sharing too) may hold the code; C1 (not sharing) may not.
    assert_eq!(s.put_commodity(commodity("A1", StockPolicy::Track, &[&a, &b], true)).await.unwrap(), Written::Replaced);
    s.put_commodity(commodity("B1", StockPolicy::Track, &[&a], true)).await.unwrap();
    let err = s.put_commodity(commodity("C1", StockPolicy::Track, &[&a], false)).await.unwrap_err();
    assert_eq!(err, Failure::Refused(CatalogRefusal::BarcodeTaken { barcode: a.clone(), skus: vec!["A1".into(), "B1".into()] }));
    let ba = Barcode::register(&a).unwrap();
    let bb = Barcode::register(&b).unwrap();
    let held = s.skus_by_barcode(&[ba.clone(), bb.clone()]).await.unwrap();
    assert_eq!(held[&ba], vec![sku("A1"), sku("B1")]);
    assert_eq!(held[&bb], vec![sku("A1")]);
    // A1 gives up both codes: b is free again, a is B1's alone.
    s.put_commodity(commodity("A1", StockPolicy::Track, &[], true)).await.unwrap();
    let held = s.skus_by_barcode(&[ba.clone(), bb.clone()]).await.unwrap();
    assert_eq!(held.get(&ba), Some(&vec![sku("B1")]));
    assert_eq!(held.get(&bb), None);
    s.put_commodity(commodity("C1", StockPolicy::Track, &[&b], false)).await.unwrap();
    let c1 = PriceStore::commodity(&s, &sku("C1")).await.unwrap().unwrap();
    assert_eq!(c1, commodity("C1", StockPolicy::Track, &[&b], false));
}

async fn stock_movements_apply_all_or_nothing<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 0).await;
    let id = &store.store_id;
    // A strict sku may not dip below zero even in the middle of a request.
    let err = mv(&s, id, &moves(&[("F1", 5, -1), ("T1", -3, -3)])).await.unwrap_err();
    assert_eq!(
        err,
        Failure::Refused(CatalogRefusal::OutOfStock {
            shortages: vec![retail_core::domain::Shortage { sku: "F1".into(), requested: 1, available: 0 }]
        })
    );
    assert_eq!(on_hand(&s, &store, "T1").await, 0, "nothing of a refused request is applied");
    let after = mv(&s, id, &moves(&[("F1", 5, 0), ("T1", -3, -3)])).await.unwrap();
    assert_eq!(after, vec![(sku("F1"), 5), (sku("T1"), -3)]);
    let after = mv(&s, id, &moves(&[("F1", -5, -5)])).await.unwrap();
    assert_eq!(after, vec![(sku("F1"), 0)]);
    let err = mv(&s, id, &moves(&[("F1", 1, 0), ("NOPE", 1, 0)])).await.unwrap_err();
    assert!(matches!(err, Failure::Refused(CatalogRefusal::NotFound(_))), "{err:?}");
    assert_eq!(on_hand(&s, &store, "F1").await, 0);
    let err = mv(&s, &store_id("S999"), &moves(&[("F1", 1, 0)])).await.unwrap_err();
    assert!(matches!(err, Failure::Refused(CatalogRefusal::NotFound(_))), "{err:?}");
}

async fn stock_movements_under_a_key_apply_once<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 0).await;
    let id = &store.store_id;
    let delivery = moves(&[("F1", 5, 0), ("T1", 7, 0)]);
    let k = movement_key("delivery-1", "fp-a");
    let first = s.record_stock_movements(id, &delivery, Some(&k), t0()).await.unwrap();
    assert_eq!(first, Moved::Applied(vec![(sku("F1"), 5), (sku("T1"), 7)]));
    // Its answer was lost: sent again, the first answer, and nothing moves twice.
    let again = s.record_stock_movements(id, &delivery, Some(&k), t0() + Duration::minutes(1)).await.unwrap();
    assert_eq!(again, Moved::Replayed(vec![(sku("F1"), 5), (sku("T1"), 7)]));
    assert_eq!((on_hand(&s, &store, "F1").await, on_hand(&s, &store, "T1").await), (5, 7));
    // Another body under the same key is refused, and moves nothing.
    let other = s.record_stock_movements(id, &moves(&[("F1", 1, 0)]), Some(&movement_key("delivery-1", "fp-b")), t0()).await;
    assert_eq!(other, Err(Failure::Refused(CatalogRefusal::KeyReused)));
    assert_eq!(on_hand(&s, &store, "F1").await, 5);
    // A refused request leaves its key free: the corrected request under it applies.
    let short = movement_key("count-1", "fp-short");
    let err = s.record_stock_movements(id, &moves(&[("F1", -9, -9)]), Some(&short), t0()).await.unwrap_err();
    assert!(matches!(err, Failure::Refused(CatalogRefusal::OutOfStock { .. })), "{err:?}");
    let fixed = movement_key("count-1", "fp-fixed");
    assert!(matches!(s.record_stock_movements(id, &moves(&[("F1", -5, -5)]), Some(&fixed), t0()).await, Ok(Moved::Applied(_))));
    assert_eq!(on_hand(&s, &store, "F1").await, 0);
    // Keys are the store's: another store's same key is its own.
    let s002 = Store { store_id: store_id("S002"), ..store.clone() };
    s.put_store(s002.clone()).await.unwrap();
    let there = s.record_stock_movements(&s002.store_id, &moves(&[("T1", 1, 0)]), Some(&k), t0()).await.unwrap();
    assert_eq!(there, Moved::Applied(vec![(sku("T1"), 1)]));
    // Kept for KEY_RETENTION; after that the key is new again.
    let later = t0() + KEY_RETENTION + Duration::minutes(1);
    let reused = s.record_stock_movements(id, &moves(&[("T1", 1, 0)]), Some(&movement_key("delivery-1", "fp-c")), later).await;
    assert_eq!(reused, Ok(Moved::Applied(vec![(sku("T1"), 8)])));
}

/// Four strict skus split over 32 items each: a delivery of 64 units of each writes 128 stock
/// items, more than one DynamoDB transaction holds (100), and a count takes from one of them.
async fn movements_touching_more_items_than_one_transaction_apply_whole<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 0).await;
    let id = &store.store_id;
    for h in ["W1", "W2", "W3", "W4"] {
        hot_sku(&s, h, 32).await;
    }
    let delivery = moves(&[("W1", 64, 0), ("W2", 64, 0), ("W3", 64, 0), ("W4", 64, 0), ("T1", 1, 0)]);
    let k = movement_key("big-delivery", "fp-big");
    let first = s.record_stock_movements(id, &delivery, Some(&k), t0()).await.unwrap();
    let levels = vec![(sku("T1"), 1), (sku("W1"), 64), (sku("W2"), 64), (sku("W3"), 64), (sku("W4"), 64)];
    assert_eq!(first, Moved::Applied(levels.clone()));
    for h in ["W1", "W2", "W3", "W4"] {
        assert_eq!(shards(&s, &store, h).await, vec![(2, 1); 32], "{h}: every item got its share once");
    }
    assert_eq!(s.record_stock_movements(id, &delivery, Some(&k), t0()).await.unwrap(), Moved::Replayed(levels));
    assert_eq!(on_hand(&s, &store, "W4").await, 64);
    // Without a key too, the whole request lands; a take beyond one sku's stock refuses it all.
    let without = moves(&[("W1", 32, 0), ("W2", 32, 0), ("W3", 32, 0), ("W4", -2, -2)]);
    assert_eq!(mv(&s, id, &without).await.unwrap(), vec![(sku("W1"), 96), (sku("W2"), 96), (sku("W3"), 96), (sku("W4"), 62)]);
    let err = mv(&s, id, &moves(&[("W1", 64, 0), ("W2", 64, 0), ("W3", 64, 0), ("W4", -63, -63)])).await.unwrap_err();
    assert!(matches!(err, Failure::Refused(CatalogRefusal::OutOfStock { .. })), "{err:?}");
    assert_eq!(on_hand(&s, &store, "W1").await, 96, "nothing of the refused request landed");
}

async fn price_batches_apply_once_and_a_reused_id_is_refused<S: AllPorts>(s: S) {
    s.put_store(shop("S001", "EAST")).await.unwrap();
    s.put_commodity(commodity("P1", StockPolicy::Track, &[], false)).await.unwrap();
    let at = t0();
    let first = batch("b-1", "fp-1", at, vec![adjustment("b-1", 0, "P1", "chain", 1500, at, None, at)]);
    let result = first.result.clone();
    assert_eq!(s.apply_price_batch(first.clone()).await.unwrap(), BatchOutcome::Applied(result.clone()));
    // A resend (applied later) answers with the first result and applies nothing new.
    let mut again = first.clone();
    again.result.applied_at = at + Duration::minutes(5);
    assert_eq!(s.apply_price_batch(again).await.unwrap(), BatchOutcome::Replayed(result.clone()));
    let mut other = first.clone();
    other.fingerprint = "fp-other".into();
    assert_eq!(s.apply_price_batch(other).await.unwrap_err(), Failure::Refused(CatalogRefusal::BatchIdReused("b-1".into())));
    assert_eq!(s.price_batch(&BatchId::parse("b-1").unwrap()).await.unwrap(), Some(result));
    assert_eq!(s.price_batch(&BatchId::parse("b-2").unwrap()).await.unwrap(), None);
    let store = shop("S001", "EAST");
    assert_eq!(s.price_history(&store, &sku("P1")).await.unwrap().len(), 1, "a replay adds no history");
    let (skus, stores) = s.existing(&[sku("P1"), sku("P9")], &[store_id("S001"), store_id("S009")]).await.unwrap();
    assert_eq!((skus, stores), (vec![sku("P1")], vec![store_id("S001")]));
}

async fn the_price_in_force_and_history_reach_only_their_stores<S: AllPorts>(s: S) {
    let east = shop("S001", "EAST");
    let west = shop("S002", "WEST");
    s.put_store(east.clone()).await.unwrap();
    s.put_store(west.clone()).await.unwrap();
    s.put_commodity(commodity("P1", StockPolicy::Track, &[], false)).await.unwrap();
    let a1 = t0() - Duration::days(10);
    s.apply_price_batch(batch("b-1", "fp", a1, vec![
        adjustment("b-1", 0, "P1", "chain", 1000, a1, None, a1),
        adjustment("b-1", 1, "P1", "region:EAST", 900, a1, None, a1),
    ]))
    .await
    .unwrap();
    let a2 = t0() - Duration::days(5);
    // A new chain price outranks the old one; a store promotion for S002 runs one day.
    s.apply_price_batch(batch("b-2", "fp", a2, vec![
        adjustment("b-2", 0, "P1", "chain", 1100, a2, None, a2),
        adjustment("b-2", 1, "P1", "store:S002", 500, t0() - Duration::hours(1), Some(t0() + Duration::hours(23)), a2),
    ]))
    .await
    .unwrap();
    let price = |store: &Store, schedule: &retail_core::domain::Schedule, at| price_in_force(schedule.iter(), store, at).map(|a| a.amount.minor_units());
    let east_view = s.commodity_views(&east, &[sku("P1"), sku("NOPE")], t0()).await.unwrap();
    assert!(east_view[1].is_none());
    let east_view = east_view[0].clone().unwrap();
    assert_eq!(price(&east, &east_view.prices, t0()), Some(900), "the region beats the chain");
    let west_view = s.commodity_views(&west, &[sku("P1")], t0()).await.unwrap()[0].clone().unwrap();
    assert_eq!(price(&west, &west_view.prices, t0()), Some(500), "the promotion is in force");
    assert_eq!(price(&west, &west_view.prices, t0() + Duration::days(1)), Some(1100), "then the chain price");
    let history_east: Vec<String> = s.price_history(&east, &sku("P1")).await.unwrap().iter().map(|a| a.id.to_string()).collect();
    assert_eq!(history_east, vec!["b-1:0", "b-1:1", "b-2:0"]);
    let history_west: Vec<String> = s.price_history(&west, &sku("P1")).await.unwrap().iter().map(|a| a.id.to_string()).collect();
    assert_eq!(history_west, vec!["b-1:0", "b-2:0", "b-2:1"]);
    // The basket reading sees the same schedule.
    let reading = s.basket_reading(&west, &[sku("P1")], &[]).await.unwrap();
    assert_eq!(price(&west, &reading.commodities[&sku("P1")].1, t0()), Some(500));
}

/// A warm checkout may keep what it read of the catalog (the DynamoDB adapter does), but a price
/// or a commodity stored after a reading reaches the next reading a second later, and a flash
/// price stored ahead of its window applies from its first second.
async fn a_basket_reading_sees_head_offices_changes_within_a_second<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 5).await;
    let skus = [sku("T1"), sku("F1")];
    let price = |r: &retail_core::store::BasketReading, k: &str, at| {
        price_in_force(r.commodities[&sku(k)].1.iter(), &store, at).map(|a| a.amount.minor_units())
    };
    let first = s.basket_reading(&store, &skus, &[]).await.unwrap();
    assert_eq!((price(&first, "T1", t0()), price(&first, "F1", t0())), (Some(1000), Some(1000)));

    // Head office: a flash price for T1 an hour ahead, and T1 renamed.
    let flash = t0() + Duration::hours(1);
    s.apply_price_batch(batch("flash", "fp-flash", t0(), vec![adjustment("flash", 0, "T1", "chain", 500, flash, Some(flash + Duration::hours(1)), t0())]))
        .await
        .unwrap();
    s.put_commodity(commodity_named("T1", "Item T1, new label", StockPolicy::Track, &[], false, None)).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let second = s.basket_reading(&store, &skus, &[]).await.unwrap();
    assert_eq!(&**second.commodities[&sku("T1")].0.name(), "Item T1, new label");
    assert_eq!(price(&second, "T1", flash - Duration::seconds(1)), Some(1000), "not before its second");
    assert_eq!(price(&second, "T1", flash), Some(500), "the flash price from its first second");
    assert_eq!(price(&second, "F1", flash), Some(1000), "an sku head office did not touch");
    // Read again at once: the same.
    let third = s.basket_reading(&store, &skus, &[]).await.unwrap();
    assert_eq!((price(&third, "T1", flash), &**third.commodities[&sku("T1")].0.name()), (Some(500), "Item T1, new label"));
}

async fn sale_keys_are_claimed_held_expired_and_released<S: AllPorts>(s: S) {
    let store = store_id("S001");
    let key = IdempotencyKey::parse("k-1").unwrap();
    let (a, b, c, d) = (ClaimToken::new(), ClaimToken::new(), ClaimToken::new(), ClaimToken::new());
    assert!(matches!(s.claim_sale_key(&store, &key, "fp-a", &a, t0()).await.unwrap(), KeyClaim::Claimed(_)));
    assert_eq!(
        s.claim_sale_key(&store, &key, "fp-b", &b, t0() + Duration::seconds(1)).await.unwrap(),
        KeyClaim::InProgress { fingerprint: "fp-a".into() }
    );
    // The same key in another store is another key.
    assert!(matches!(s.claim_sale_key(&store_id("S002"), &key, "fp-b", &b, t0()).await.unwrap(), KeyClaim::Claimed(_)));
    // A crashed attempt's claim lapses.
    assert!(matches!(s.claim_sale_key(&store, &key, "fp-c", &c, t0() + IN_PROGRESS_EXPIRY).await.unwrap(), KeyClaim::Claimed(_)));
    // Only the attempt holding the claim gives it back: the crashed one's release is too late.
    s.release_sale_key(&store, &key, &a).await.unwrap();
    assert_eq!(
        s.claim_sale_key(&store, &key, "fp-d", &d, t0() + IN_PROGRESS_EXPIRY).await.unwrap(),
        KeyClaim::InProgress { fingerprint: "fp-c".into() }
    );
    s.release_sale_key(&store, &key, &c).await.unwrap();
    assert!(matches!(s.claim_sale_key(&store, &key, "fp-d", &d, t0() + IN_PROGRESS_EXPIRY).await.unwrap(), KeyClaim::Claimed(_)));
    // Releasing an unknown key is no error.
    s.release_sale_key(&store, &IdempotencyKey::parse("k-none").unwrap(), &d).await.unwrap();
}

async fn a_committed_sale_completes_its_key_takes_stock_and_reads_back<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 5).await;
    let sale_token = ClaimToken::new();
    let sale = pending_as(&s, &store, "k-1", "T01", &[("F1", 2), ("T1", 3)], &sale_token).await;
    let (key, fingerprint) = (sale.key.clone(), sale.fingerprint.clone());
    let record = s.commit_sale(sale).await.unwrap();
    assert_eq!(record.receipt.total, Money::from_minor_units(5000));
    assert!(record.receipt.receipt_no.starts_with("T01-0"), "{}", record.receipt.receipt_no);
    assert_eq!(on_hand(&s, &store, "F1").await, 3, "strict stock is taken with the sale");
    delivered(&s, &record).await;
    assert_eq!(on_hand(&s, &store, "T1").await, -3, "tracked stock may go negative");
    match s.claim_sale_key(&store.store_id, &key, &fingerprint, &ClaimToken::new(), t0() + Duration::minutes(1)).await.unwrap() {
        KeyClaim::Completed { fingerprint: f, answer } => {
            assert_eq!(f, fingerprint);
            assert_eq!(*answer, KeyAnswer::Sale(Box::new(record.receipt.clone())));
        }
        other => panic!("expected the completed key, got {other:?}"),
    }
    // A completed key is not released.
    s.release_sale_key(&store.store_id, &key, &sale_token).await.unwrap();
    assert!(matches!(s.claim_sale_key(&store.store_id, &key, "x", &ClaimToken::new(), t0()).await.unwrap(), KeyClaim::Completed { .. }));
    let read = s.sale(&store.store_id, &record.receipt.sale_id).await.unwrap();
    assert_eq!(read, Some(record.receipt.clone()));
    assert_eq!(s.sale(&store_id("S002"), &record.receipt.sale_id).await.unwrap(), None, "a sale is read in its store");
    // A commit whose claim was taken over is refused.
    let mut late = pending(&s, &store, "k-2", "T01", &[("T1", 1)]).await;
    late.fingerprint = "another body".into();
    assert_eq!(s.commit_sale(late).await.unwrap_err(), Failure::Refused(SaleRefusal::InProgress));
    assert_eq!(on_hand(&s, &store, "T1").await, -3);
}

async fn a_strict_shortage_commits_nothing<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 1).await;
    let sale = pending(&s, &store, "k-1", "T01", &[("T1", 4), ("F1", 2)]).await;
    let key = sale.key.clone();
    let err = s.commit_sale(sale).await.unwrap_err();
    assert_eq!(
        err,
        Failure::Refused(SaleRefusal::OutOfStock {
            shortages: vec![retail_core::domain::Shortage { sku: "F1".into(), requested: 2, available: 1 }]
        })
    );
    assert_eq!(on_hand(&s, &store, "F1").await, 1);
    assert_eq!(on_hand(&s, &store, "T1").await, 0);
    // The key is still in progress (the caller releases it), not completed.
    assert!(matches!(
        s.claim_sale_key(&store.store_id, &key, "fp-k-1", &ClaimToken::new(), t0()).await.unwrap(),
        KeyClaim::InProgress { .. }
    ));
    assert_eq!(s.fold(&[]).await.unwrap(), 0);
}

async fn fifty_tills_racing_for_ten_strict_units_sell_exactly_ten<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 10).await;
    let mut sales = Vec::new();
    for i in 0..50 {
        sales.push(pending(&s, &store, &format!("k-{i}"), &format!("T{i:02}"), &[("F1", 1)]).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for sale in sales {
        let s = s.clone();
        tasks.spawn(async move { s.commit_sale(sale).await });
    }
    let (mut sold, mut refused) = (0, 0);
    while let Some(done) = tasks.join_next().await {
        match done.unwrap() {
            Ok(_) => sold += 1,
            Err(Failure::Refused(SaleRefusal::OutOfStock { .. })) => refused += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((sold, refused), (10, 40));
    assert_eq!(on_hand(&s, &store, "F1").await, 0);
}

async fn receipt_numbers_increase_per_terminal_and_are_unique_in_the_store<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 0).await;
    let mut numbers: Vec<(String, u64)> = Vec::new();
    for i in 0..3 {
        for terminal in ["T01", "T02"] {
            let sale = pending(&s, &store, &format!("k-{terminal}-{i}"), terminal, &[("T1", 1)]).await;
            let no = s.commit_sale(sale).await.unwrap().receipt.receipt_no.clone();
            let (t, seq) = no.split_once('-').expect("T01-000001");
            assert_eq!(t, terminal);
            assert_eq!(seq.len(), 6);
            numbers.push((t.to_owned(), seq.parse().unwrap()));
        }
    }
    for terminal in ["T01", "T02"] {
        let seqs: Vec<u64> = numbers.iter().filter(|(t, _)| t == terminal).map(|(_, n)| *n).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{terminal}: {seqs:?} do not increase");
        assert!(seqs[0] >= 1);
    }
    let mut unique = numbers.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 6);
}

async fn folding_counts_each_sale_once_under_replay<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 0).await;
    s.put_store(shop("S002", "WEST")).await.unwrap();
    let mut records = Vec::new();
    let mut entries = Vec::new();
    for i in 0..3 {
        let sale = pending(&s, &store, &format!("k-{i}"), "T01", &[("T1", i + 1)]).await;
        let sale = s.commit_sale(sale).await.unwrap();
        records.push((*sale).clone());
        entries.push(streamed(i as u64 + 1, retail_core::domain::report::LedgerEntry::Sale(sale)));
    }
    let date = BusinessDay::from(records[0].receipt.business_day);
    assert_eq!(s.store_day(&store.store_id, date).await.unwrap(), None);
    assert_eq!(s.fold(&entries[..2]).await.unwrap(), 2);
    // The stream replays the batch, then delivers the next one overlapping it (a record twice).
    assert_eq!(s.fold(&entries[..2]).await.unwrap(), 0);
    assert_eq!(s.fold(&[entries[1].clone(), entries[2].clone(), entries[2].clone()]).await.unwrap(), 1);
    let day = s.store_day(&store.store_id, date).await.unwrap().unwrap();
    assert_eq!(day.sales_count, 3);
    assert_eq!(day.items_sold, 6);
    assert_eq!(day.gross_amount, Money::from_minor_units(6000));
    let (commodities, more) = s.day_commodities(&store.store_id, date, None, 10).await.unwrap();
    assert_eq!((commodities.len(), &commodities[0].0, commodities[0].1.quantity, more), (1, &sku("T1"), 6, false));
    let top = s.top_commodity_candidates(&store.store_id, date).await.unwrap();
    assert_eq!(top, commodities);
    assert_eq!(day.as_of, Some(t0()));
    let (stores, days) = s.chain_day(date).await.unwrap();
    let mut ids: Vec<String> = stores.iter().map(|s| s.store_id.to_string()).collect();
    ids.sort();
    assert_eq!(ids, vec!["S001", "S002"]);
    assert_eq!(days.len(), 1);
    assert_eq!(days[&store.store_id], day);
    let (_, other_day) = s.chain_day(BusinessDay::from(date.date() + Duration::days(1))).await.unwrap();
    assert!(other_day.is_empty());
}

/// A return of one unit of `sale`'s first line (1000, in cash) taken back in `store` at terminal
/// T02, `minutes` after t0, on the sale's business day: made by hand, as the stream carries it.
fn given_back(
    sale: &retail_core::domain::sale::SaleRecord,
    store: &StoreId,
    id: retail_core::domain::ReturnId,
    minutes: i64,
) -> retail_core::domain::report::LedgerEntry {
    use retail_core::domain::returns::{ReturnReason, ReturnReceipt, ReturnReceiptLine, ReturnedSale};
    let line = &sale.receipt.lines[0];
    let refund = Money::from_minor_units(1000);
    retail_core::domain::report::LedgerEntry::Return(std::sync::Arc::new(ReturnReceipt {
        return_no: format!("T02-R{minutes:06}"),
        return_id: id,
        store_id: store.clone(),
        terminal_id: TerminalId::parse("T02").unwrap(),
        business_day: sale.receipt.business_day,
        created_at: t0() + Duration::minutes(minutes),
        reason: ReturnReason::Unwanted,
        sale: ReturnedSale {
            store_id: sale.receipt.store_id.clone(),
            sale_id: sale.receipt.sale_id.clone(),
            receipt_no: sale.receipt.receipt_no.clone(),
        },
        lines: vec![ReturnReceiptLine {
            line: 0,
            sku: line.sku.clone(),
            name: line.name.clone(),
            quantity: Some(1),
            weight_grams: None,
            refund_amount: refund,
            tax_amount: Money::from_minor_units(115),
            restocked: true,
        }],
        refunds: vec![Payment { method: PaymentMethod::Cash, amount: refund }],
        total: refund,
        tax_total: Money::from_minor_units(115),
        currency: "CNY".into(),
    }))
}

async fn folding_counts_each_return_once_in_the_store_that_took_it_back<S: AllPorts>(s: S) {
    use retail_core::domain::ReturnId;
    use retail_core::domain::report::LedgerEntry;
    let store = shop_with_stock(&s, 0).await;
    let other = shop("S002", "WEST");
    s.put_store(other.clone()).await.unwrap();
    let sale = s.commit_sale(pending(&s, &store, "k-1", "T01", &[("T1", 3)]).await).await.unwrap();
    let date = BusinessDay::from(sale.receipt.business_day);
    // In stream order: the sale, a return here, a return whose id is the sale's own UUID (told
    // apart from the sale), a return in the other store.
    let sold = streamed(1, LedgerEntry::Sale(sale.clone()));
    let here = streamed(2, given_back(&sale, &store.store_id, ReturnId::generate(), 30));
    let twin = streamed(3, given_back(&sale, &store.store_id, ReturnId::parse(sale.receipt.sale_id.as_str()).unwrap(), 60));
    let elsewhere = streamed(4, given_back(&sale, &other.store_id, ReturnId::generate(), 90));

    // A sale and a return of one store-day in one batch, the return delivered twice in it.
    assert_eq!(s.fold(&[sold.clone(), here.clone(), here.clone()]).await.unwrap(), 2);
    // Replayed alone, then again among new entries.
    assert_eq!(s.fold(std::slice::from_ref(&here)).await.unwrap(), 0);
    assert_eq!(s.fold(&[twin.clone(), sold.clone(), elsewhere.clone(), here.clone()]).await.unwrap(), 2);
    assert_eq!(s.fold(&[twin, elsewhere, sold]).await.unwrap(), 0);

    let day = s.store_day(&store.store_id, date).await.unwrap().unwrap();
    assert_eq!((day.sales_count, day.gross_amount, day.items_sold), (1, Money::from_minor_units(3000), 3));
    assert_eq!((day.returns_count, day.returns_amount, day.returns_tax), (2, Money::from_minor_units(2000), Money::from_minor_units(230)));
    assert_eq!(day.refunds_by_method.cash, Money::from_minor_units(2000));
    let t02 = &day.by_terminal[&TerminalId::parse("T02").unwrap()];
    assert_eq!((t02.sales_count, t02.returns_count, t02.returns_amount, t02.cash_out), (0, 2, Money::from_minor_units(2000), Money::from_minor_units(2000)));
    let (commodities, _) = s.day_commodities(&store.store_id, date, None, 10).await.unwrap();
    let t1 = &commodities.iter().find(|(s, _)| *s == sku("T1")).unwrap().1;
    assert_eq!((t1.quantity, t1.returned_quantity, t1.returns_amount), (3, 2, Money::from_minor_units(2000)));
    assert_eq!(day.as_of, Some(t0() + Duration::minutes(60)), "the latest return folded in");
    // The return taken back in S002 counts there, not where the goods were sold.
    let there = s.store_day(&other.store_id, date).await.unwrap().unwrap();
    assert_eq!((there.sales_count, there.returns_count, there.returns_amount), (0, 1, Money::from_minor_units(1000)));
    assert_eq!(there.as_of, Some(t0() + Duration::minutes(90)));
    let (_, days) = s.chain_day(date).await.unwrap();
    assert_eq!((days.len(), &days[&store.store_id], &days[&other.store_id]), (2, &day, &there));
}

/// A strict sku H with its stock split over `k` items, priced 1000, in `store`.
async fn hot_sku<S: AllPorts>(s: &S, h: &str, k: u16) {
    s.put_commodity(commodity_split(h, StockPolicy::Strict, &[], false, Some(k))).await.unwrap();
    let from = t0() - Duration::days(1);
    s.apply_price_batch(batch(&format!("p-{h}"), &format!("fp-{h}"), from, vec![adjustment(&format!("p-{h}"), 0, h, "chain", 1000, from, None, from)]))
        .await
        .unwrap();
}

async fn shards<S: AllPorts>(s: &S, store: &Store, h: &str) -> Vec<(i64, u64)> {
    s.stock_items(&store.store_id, &sku(h)).await.unwrap().iter().map(|x| (x.on_hand, x.writes)).collect()
}

async fn sell<S: AllPorts>(s: &S, store: &Store, key: &str, lines: &[(&str, i64)]) -> Result<(), Failure<SaleRefusal>> {
    let sale = pending(s, store, key, "T01", lines).await;
    s.commit_sale(sale).await.map(|_| ())
}

async fn a_hot_skus_stock_is_split_spread_and_sold_to_the_last_unit<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 0).await;
    hot_sku(&s, "H1", 4).await;
    assert_eq!(mv(&s, &store.store_id, &moves(&[("H1", 10, 0)])).await.unwrap(), vec![(sku("H1"), 10)]);
    // A receipt spreads evenly; lookups show one figure.
    assert_eq!(shards(&s, &store, "H1").await, vec![(3, 1), (3, 1), (2, 1), (2, 1)]);
    assert_eq!(on_hand(&s, &store, "H1").await, 10);
    // Four sales of one go round the four items, a write each.
    for i in 0..4 {
        sell(&s, &store, &format!("h-{i}"), &[("H1", 1)]).await.unwrap();
    }
    assert_eq!(shards(&s, &store, "H1").await, vec![(2, 2), (2, 2), (1, 2), (1, 2)]);
    // A take no single item covers is split over the items that hold stock.
    sell(&s, &store, "h-big", &[("H1", 6)]).await.unwrap();
    assert!(shards(&s, &store, "H1").await.iter().all(|(on_hand, _)| *on_hand == 0));
    assert_eq!(on_hand(&s, &store, "H1").await, 0);
    // Sold out: refused whole, twice (the second from what this process knows), nothing moves.
    for key in ["h-late-1", "h-late-2"] {
        let refused = sell(&s, &store, key, &[("T1", 1), ("H1", 1)]).await.unwrap_err();
        assert_eq!(
            refused,
            Failure::Refused(SaleRefusal::OutOfStock { shortages: vec![retail_core::domain::Shortage { sku: "H1".into(), requested: 1, available: 0 }] })
        );
    }
    assert_eq!(on_hand(&s, &store, "T1").await, 0);
    // Restocked, it sells again at once.
    mv(&s, &store.store_id, &moves(&[("H1", 2, 0)])).await.unwrap();
    sell(&s, &store, "h-restocked", &[("H1", 2)]).await.unwrap();
    assert_eq!(on_hand(&s, &store, "H1").await, 0);
    assert!(shards(&s, &store, "H1").await.iter().all(|(on_hand, _)| *on_hand == 0));
}

async fn a_smaller_split_still_sells_what_a_larger_one_left<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 0).await;
    hot_sku(&s, "H2", 4).await;
    mv(&s, &store.store_id, &moves(&[("H2", 8, 0)])).await.unwrap();
    // Head office folds the split back to one item: the stock in the others still counts and sells.
    s.put_commodity(commodity_split("H2", StockPolicy::Strict, &[], false, Some(1))).await.unwrap();
    assert_eq!(on_hand(&s, &store, "H2").await, 8);
    for i in 0..8 {
        sell(&s, &store, &format!("h2-{i}"), &[("H2", 1)]).await.unwrap();
    }
    assert!(matches!(sell(&s, &store, "h2-late", &[("H2", 1)]).await, Err(Failure::Refused(SaleRefusal::OutOfStock { .. }))));
    // New stock goes to the one item now in force.
    mv(&s, &store.store_id, &moves(&[("H2", 3, 0)])).await.unwrap();
    let after = shards(&s, &store, "H2").await;
    assert_eq!(after.iter().map(|(on_hand, _)| *on_hand).collect::<Vec<_>>(), vec![3, 0, 0, 0]);
    // Damage taken from strict stock comes from the items that hold it, never below zero.
    assert!(matches!(
        mv(&s, &store.store_id, &moves(&[("H2", -4, -4)])).await,
        Err(Failure::Refused(CatalogRefusal::OutOfStock { .. }))
    ));
    mv(&s, &store.store_id, &moves(&[("H2", -3, -3)])).await.unwrap();
    assert_eq!(on_hand(&s, &store, "H2").await, 0);
}

// ------------------------------------------------------------------ returns

/// A sale committed in `store` at t0 by terminal T01, paid in cash.
async fn sold<S: AllPorts>(s: &S, store: &Store, key: &str, lines: &[(&str, i64)]) -> Arc<SaleRecord> {
    let sale = pending(s, store, key, "T01", lines).await;
    s.commit_sale(sale).await.unwrap()
}

/// A return of `sale` at `terminal`: (receipt line, units) each, for `reason`.
fn return_draft(sale: &SaleRecord, terminal: &str, lines: &[(usize, i64)], reason: ReturnReason) -> ReturnDraft {
    ReturnDraft {
        terminal_id: TerminalId::parse(terminal).unwrap(),
        sale: SaleRef { store_id: sale.receipt.store_id.clone(), sale_id: sale.receipt.sale_id.clone() },
        lines: lines.iter().map(|&(line, q)| ReturnLineDraft { line, quantity: Some(q), weight_grams: None }).collect(),
        reason,
        restock: None,
        refunds: None,
    }
}

/// Claims `key` in `store` (the store taking the goods back) and plans `draft` at `now` against
/// `found`, one reading of its sale, the way the take-back use case does.
async fn pending_return<S: AllPorts>(s: &S, store: &Store, key: &str, draft: &ReturnDraft, found: &SaleReturns, now: DateTime<Utc>) -> PendingReturn {
    let key = IdempotencyKey::parse(key).unwrap();
    let fingerprint = draft.fingerprint();
    let claim = match s.claim_sale_key(&store.store_id, &key, &fingerprint, &ClaimToken::new(), now).await.unwrap() {
        KeyClaim::Claimed(claim) => claim,
        other => panic!("expected the key claimed, found {other:?}"),
    };
    PendingReturn {
        key,
        claim,
        fingerprint,
        return_id: ReturnId::generate(),
        store: store.clone(),
        draft: draft.clone(),
        sale: found.sale.clone(),
        plan: plan_return(draft, found, store, now).unwrap(),
        created_at: now,
    }
}

async fn sale_returns<S: AllPorts>(s: &S, sale: &SaleRecord) -> SaleReturns {
    s.sale_returns(&sale.receipt.store_id, &sale.receipt.sale_id).await.unwrap().expect("the sale is found")
}

/// `T02-R000003`: the terminal, R, six digits.
fn assert_return_no(no: &str, terminal: &str) {
    let (t, n) = no.split_once("-R").unwrap_or_else(|| panic!("{no} is no return number"));
    assert_eq!(t, terminal, "{no}");
    assert!(n.len() == 6 && n.bytes().all(|b| b.is_ascii_digit()), "{no}");
}

async fn a_committed_return_completes_its_key_restocks_and_reads_back<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 5).await;
    let sale = sold(&s, &store, "k-1", &[("F1", 2), ("T1", 3)]).await;
    delivered(&s, &sale).await;
    assert_eq!((on_hand(&s, &store, "F1").await, on_hand(&s, &store, "T1").await), (3, -3));
    let found = sale_returns(&s, &sale).await;
    assert_eq!(found.sale.receipt, sale.receipt);
    assert_eq!((found.returned.clone(), found.returns.len()), (Returned::default(), 0), "nothing back yet");
    let unknown = SaleId::parse(&uuid_like()).unwrap();
    assert!(s.sale_returns(&store.store_id, &unknown).await.unwrap().is_none());

    // One of F1 and two of T1 come back, unwanted: refunded in cash (how the sale was paid), restocked.
    let now = t0() + Duration::hours(1);
    let draft = return_draft(&sale, "T02", &[(0, 1), (1, 2)], ReturnReason::Unwanted);
    let pending = pending_return(&s, &store, "r-1", &draft, &found, now).await;
    let (key, fingerprint, return_id) = (pending.key.clone(), pending.fingerprint.clone(), pending.return_id.clone());
    let returned_after = pending.plan.returned_after.clone();
    let receipt = s.commit_return(pending).await.unwrap();
    assert_eq!(receipt.return_id, return_id);
    assert_return_no(&receipt.return_no, "T02");
    assert_eq!((receipt.store_id.clone(), receipt.terminal_id.as_str()), (store.store_id.clone(), "T02"));
    assert_eq!(receipt.business_day.to_string(), "2026-11-11", "the returning store's day (Asia/Shanghai)");
    assert_eq!(receipt.created_at, now);
    assert_eq!(receipt.reason, ReturnReason::Unwanted);
    assert_eq!(
        receipt.sale,
        ReturnedSale { store_id: store.store_id.clone(), sale_id: sale.receipt.sale_id.clone(), receipt_no: sale.receipt.receipt_no.clone() }
    );
    let line = |line: usize, k: &str, q: i64, refund: i64, tax: i64| ReturnReceiptLine {
        line,
        sku: sku(k),
        name: format!("Item {k}").into(),
        quantity: Some(q),
        weight_grams: None,
        refund_amount: Money::from_minor_units(refund),
        tax_amount: Money::from_minor_units(tax),
        restocked: true,
    };
    // F1: 2 sold for 2000 (tax 230), one back; T1: 3 for 3000 (tax 345), two back.
    assert_eq!(receipt.lines, vec![line(0, "F1", 1, 1000, 115), line(1, "T1", 2, 2000, 230)]);
    assert_eq!((receipt.total.minor_units(), receipt.tax_total.minor_units()), (3000, 345));
    assert_eq!(receipt.refunds, vec![Payment { method: PaymentMethod::Cash, amount: Money::from_minor_units(3000) }]);

    // The key completes with the return receipt: a second claim finds it.
    match s.claim_sale_key(&store.store_id, &key, &fingerprint, &ClaimToken::new(), now + Duration::minutes(1)).await.unwrap() {
        KeyClaim::Completed { fingerprint: f, answer } => {
            assert_eq!(f, fingerprint);
            assert_eq!(*answer, KeyAnswer::Return(Box::new((*receipt).clone())));
        }
        other => panic!("expected the completed key, got {other:?}"),
    }

    // The sale shows what came back and its note of the return.
    let after = sale_returns(&s, &sale).await;
    assert_eq!(after.returned, returned_after);
    assert_eq!(after.returned.count, 1);
    assert_eq!((after.returned.line(0).amount, after.returned.line(1).amount), (1, 2));
    assert_eq!(after.returned.refunded.cash, Money::from_minor_units(3000));
    let note = ReturnSummary { return_id: return_id.clone(), store_id: store.store_id.clone(), created_at: now, total: receipt.total };
    assert_eq!(after.returns, vec![note.clone()]);

    // The receipt reads back in the store that took the goods back, and in no other.
    assert_eq!(s.return_receipt(&store.store_id, &return_id).await.unwrap(), Some((*receipt).clone()));
    assert_eq!(s.return_receipt(&store_id("S002"), &return_id).await.unwrap(), None);
    assert_eq!(s.return_receipt(&store.store_id, &ReturnId::generate()).await.unwrap(), None);

    // Restocked where it came back.
    assert_eq!((on_hand(&s, &store, "F1").await, on_hand(&s, &store, "T1").await), (4, -1));

    // The last F1 comes back later, planned from the new reading; damaged: not restocked.
    let later = now + Duration::minutes(5);
    let draft = return_draft(&sale, "T02", &[(0, 1)], ReturnReason::Damaged);
    let pending = pending_return(&s, &store, "r-2", &draft, &after, later).await;
    let second = s.commit_return(pending).await.unwrap();
    assert_return_no(&second.return_no, "T02");
    assert!(second.return_no > receipt.return_no, "{} after {}", second.return_no, receipt.return_no);
    assert_eq!((second.total.minor_units(), second.tax_total.minor_units()), (1000, 115), "the rest of the line, to the cent");
    assert!(!second.lines[0].restocked);
    assert_eq!(on_hand(&s, &store, "F1").await, 4);
    let after = sale_returns(&s, &sale).await;
    assert_eq!(after.returned.count, 2);
    assert_eq!(after.returned.line(0), retail_core::domain::returns::LineReturned {
        amount: 2,
        refund: Money::from_minor_units(2000),
        tax: Money::from_minor_units(230),
    });
    let ids: Vec<&ReturnId> = after.returns.iter().map(|r| &r.return_id).collect();
    assert_eq!(ids, vec![&return_id, &second.return_id], "in the order they were made");
}

async fn a_return_planned_from_a_stale_reading_is_refused_and_writes_nothing<S: AllPorts>(s: S) {
    let store = shop_with_stock(&s, 5).await;
    let sale = sold(&s, &store, "k-1", &[("F1", 3)]).await;
    let now = t0() + Duration::hours(1);
    let draft = return_draft(&sale, "T02", &[(0, 1)], ReturnReason::Unwanted);
    // Two tills read the sale before either return lands; for the first return of the sale
    // (no returned amounts yet), then for a later one.
    for (round, on_hand_after) in [(0, 3), (1, 4)] {
        let reading = sale_returns(&s, &sale).await;
        assert_eq!(reading.returned.count, round);
        let first = pending_return(&s, &store, &format!("r-{round}-a"), &draft, &reading, now).await;
        let late = pending_return(&s, &store, &format!("r-{round}-b"), &draft, &reading, now).await;
        let (late_key, late_id) = (late.key.clone(), late.return_id.clone());
        s.commit_return(first).await.unwrap();
        assert_eq!(s.commit_return(late).await.unwrap_err(), Failure::Refused(ReturnRefusal::SaleChanged));
        // Nothing of the refused commit: no return, no stock, no note, its key still in progress.
        assert_eq!(s.return_receipt(&store.store_id, &late_id).await.unwrap(), None);
        assert_eq!(on_hand(&s, &store, "F1").await, on_hand_after);
        let after = sale_returns(&s, &sale).await;
        assert_eq!(after.returned.count, round + 1);
        assert_eq!(after.returned.line(0).amount, (round + 1) as i64);
        assert_eq!(after.returns.len(), (round + 1) as usize);
        assert!(after.returns.iter().all(|r| r.return_id != late_id));
        assert!(matches!(
            s.claim_sale_key(&store.store_id, &late_key, &draft.fingerprint(), &ClaimToken::new(), now).await.unwrap(),
            KeyClaim::InProgress { .. }
        ));
    }
}

async fn a_sale_of_one_store_is_returned_in_another<S: AllPorts>(s: S) {
    let s001 = shop_with_stock(&s, 5).await;
    let s002 = shop("S002", "WEST");
    s.put_store(s002.clone()).await.unwrap();
    let sale = sold(&s, &s001, "k-1", &[("F1", 2)]).await;
    assert_eq!((on_hand(&s, &s001, "F1").await, on_hand(&s, &s002, "F1").await), (3, 0));

    // Brought to S002 under a key S001 used for the sale: keys are each store's own.
    let now = t0() + Duration::days(2);
    let draft = return_draft(&sale, "T05", &[(0, 2)], ReturnReason::WrongItem);
    let found = sale_returns(&s, &sale).await;
    let pending = pending_return(&s, &s002, "k-1", &draft, &found, now).await;
    let return_id = pending.return_id.clone();
    let receipt: Arc<ReturnReceipt> = s.commit_return(pending).await.unwrap();
    assert_eq!(receipt.store_id, s002.store_id);
    assert_eq!(receipt.sale.store_id, s001.store_id);
    assert_eq!(receipt.return_no, "T05-R000001", "numbered in the returning store");
    assert_eq!(receipt.total, Money::from_minor_units(2000));

    // The goods go back on S002's shelf, not S001's.
    assert_eq!((on_hand(&s, &s001, "F1").await, on_hand(&s, &s002, "F1").await), (3, 2));
    // The receipt is S002's; the sale, still S001's, notes the return and who took it.
    assert_eq!(s.return_receipt(&s002.store_id, &return_id).await.unwrap(), Some((*receipt).clone()));
    assert_eq!(s.return_receipt(&s001.store_id, &return_id).await.unwrap(), None);
    let after = sale_returns(&s, &sale).await;
    assert_eq!(after.returned.count, 1);
    assert_eq!(after.returns.len(), 1);
    assert_eq!((after.returns[0].return_id.clone(), after.returns[0].store_id.clone()), (return_id, s002.store_id.clone()));
    assert!(s.sale_returns(&s002.store_id, &sale.receipt.sale_id).await.unwrap().is_none(), "a sale is read in its store");
    // The sale's own key in S001 still answers with the sale.
    let sale_key = IdempotencyKey::parse("k-1").unwrap();
    match s.claim_sale_key(&s001.store_id, &sale_key, "fp-k-1", &ClaimToken::new(), now).await.unwrap() {
        KeyClaim::Completed { answer, .. } => assert_eq!(*answer, KeyAnswer::Sale(Box::new(sale.receipt.clone()))),
        other => panic!("expected the sale's completed key, got {other:?}"),
    }
}

// ------------------------------------------------------------------ promotions

fn promotion(id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Promotion {
    Promotion {
        id: PromotionId::parse(id).unwrap(),
        name: format!("{id} name"),
        scope: PriceScope::Chain,
        valid_from: from,
        valid_to: to,
        rule: Rule::PercentOff { percent_bp: 1000, eligible: Eligible { skus: None, categories: Some(vec!["dairy".into()]) } },
    }
}

async fn ending_after<S: AllPorts>(s: &S, after: DateTime<Utc>) -> Vec<String> {
    s.promotions_ending_after(after).await.unwrap().iter().map(|p| p.id.to_string()).collect()
}

async fn promotions_are_written_once_per_version_and_listed_by_when_they_end<S: AllPorts>(s: S) {
    let t = t0();
    let p1 = promotion("p1", t - Duration::hours(2), t + Duration::hours(2));
    assert!(s.put_promotion(&p1, None).await.unwrap());
    // Created once: a second creation loses.
    assert!(!s.put_promotion(&p1, None).await.unwrap());
    let stored = s.promotion(&p1.id).await.unwrap().unwrap();
    assert_eq!(stored, Versioned { value: p1.clone(), version: 1 });
    // A change names the version it replaces; a stale one loses and writes nothing.
    let earlier = Promotion { valid_to: t + Duration::hours(1), ..p1.clone() };
    assert!(s.put_promotion(&earlier, Some(&stored)).await.unwrap());
    assert!(!s.put_promotion(&Promotion { name: "late".into(), ..p1.clone() }, Some(&stored)).await.unwrap());
    let now_stored = s.promotion(&p1.id).await.unwrap().unwrap();
    assert_eq!(now_stored, Versioned { value: earlier.clone(), version: 2 });
    assert!(s.promotion(&PromotionId::parse("nope").unwrap()).await.unwrap().is_none());

    // Listed by when they end, in id order; its end moved, so it is listed by its new end only.
    let p2 = promotion("p0", t - Duration::days(3), t - Duration::days(2));
    let p3 = promotion("p3", t + Duration::days(1), t + Duration::days(2));
    for p in [&p2, &p3] {
        assert!(s.put_promotion(p, None).await.unwrap());
    }
    assert_eq!(ending_after(&s, t - Duration::days(4)).await, ["p0", "p1", "p3"]);
    assert_eq!(ending_after(&s, t).await, ["p1", "p3"]);
    assert_eq!(ending_after(&s, t + Duration::minutes(90)).await, ["p3"], "p1 ends at t + 1 h now, not t + 2 h");
    // Exactly at an end: that promotion is over.
    assert_eq!(ending_after(&s, t + Duration::hours(1)).await, ["p3"]);
    assert_eq!(ending_after(&s, t + Duration::hours(1) - Duration::nanoseconds(1)).await, ["p1", "p3"]);
    // Read back whole.
    let listed = s.promotions_ending_after(t).await.unwrap();
    assert_eq!(listed, vec![earlier, p3]);
}
