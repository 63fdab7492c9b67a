//! Round-trip budgets of the DynamoDB adapter (ARCHITECTURE.md), measured on moto by an SDK
//! interceptor that counts requests and sequential waves (a wave: requests in flight together;
//! a request sent after all earlier ones answered starts a new one). While it measures, every
//! answer takes a network's round trip (`ROUND_TRIP`), so that scheduling noise on a busy
//! machine cannot split requests the code sends together.

use aws_sdk_dynamodb::config::interceptors::{BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use chrono::{DateTime, Duration, TimeZone, Utc};
use retail_core::domain::catalog::CommodityDraft;
use retail_core::domain::price::{AdjustmentId, PriceScope};
use retail_core::domain::sale::{BasketCatalog, CheckedLine, CheckedSale, LineItem, Payment, PaymentMethod, price_basket, settle};
use retail_core::domain::stock::StockChange;
use retail_core::domain::{
    BusinessDay, SaleId,
    BatchId, Commodity, IdempotencyKey, Money, PriceAdjustment, RegionId, Sku, StockPolicy, Store, StoreId, TerminalId,
    Unit,
};
use retail_core::store::dynamo::{DynamoStore, endpoint_config};
use retail_core::store::{
    AggregateStore, BatchOutcome, CatalogStore, KeyClaim, LookupStore, PendingSale, PriceBatch, PriceBatchResult,
    PriceStore, SalesStore, Stores,
};
use retail_core::domain::returns::{ReturnDraft, ReturnLineDraft, ReturnReason, SaleRef};
use retail_core::domain::promotion::{Eligible, Rule};
use retail_core::domain::sale::{LineDraft, SaleDraft};
use retail_core::domain::{Promotion, PromotionId};
use retail_core::store::PromotionStore;
use retail_core::store::cache::{StoreCache, Warm};
use retail_core::domain::catalog_feed::{CatalogChange, CatalogCursor, FeedPosition, Position};
use retail_core::usecases::catalog_sync::catalog_page;
use retail_core::usecases::sell::{Sold, sell};
use retail_core::usecases::take_back::{TakenBack, take_back};
use retail_tests::moto::Moto;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Default, Clone)]
struct Count {
    in_flight: usize,
    requests: usize,
    waves: usize,
    max_in_flight: usize,
    operations: BTreeMap<String, usize>,
}

#[derive(Debug, Clone, Default)]
struct Meter(Arc<Mutex<Count>>, Arc<AtomicBool>);

impl Meter {
    /// Starts a measurement: counts from zero, and from now on every answer takes a round trip.
    fn reset(&self) {
        *self.0.lock().unwrap() = Count::default();
        self.1.store(true, Ordering::Relaxed);
    }

    fn take(&self) -> Count {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "RequestMeter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let op = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("?")
            .to_owned();
        let mut c = self.0.lock().unwrap();
        if c.in_flight == 0 {
            c.waves += 1;
        }
        c.in_flight += 1;
        c.requests += 1;
        c.max_in_flight = c.max_in_flight.max(c.in_flight);
        *c.operations.entry(op).or_default() += 1;
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let mut c = self.0.lock().unwrap();
        c.in_flight = c.in_flight.saturating_sub(1);
        Ok(())
    }
}

/// While a measurement runs, no answer comes back sooner than this after its request left: a
/// round trip of a network, not of loopback. Without it, a busy machine that starts one of two
/// requests the code sends together a few milliseconds late could see the other already
/// answered by moto, and count two waves where the code waits once (CI did, once).
const ROUND_TRIP: std::time::Duration = std::time::Duration::from_millis(50);

/// The SDK's own HTTP client, its answers held until `ROUND_TRIP` once the meter measures.
#[derive(Debug)]
struct Network {
    client: SharedHttpClient,
    measuring: Arc<AtomicBool>,
}

impl HttpClient for Network {
    fn http_connector(&self, settings: &HttpConnectorSettings, components: &RuntimeComponents) -> SharedHttpConnector {
        SharedHttpConnector::new(Link {
            connector: self.client.http_connector(settings, components),
            measuring: self.measuring.clone(),
        })
    }
}

#[derive(Debug)]
struct Link {
    connector: SharedHttpConnector,
    measuring: Arc<AtomicBool>,
}

impl HttpConnector for Link {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let sent = tokio::time::Instant::now();
        let answer = self.connector.call(request);
        let slow = self.measuring.load(Ordering::Relaxed);
        HttpConnectorFuture::new(async move {
            let answer = answer.await;
            if slow {
                tokio::time::sleep_until(sent + ROUND_TRIP).await;
            }
            answer
        })
    }
}

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 11, 4, 0, 0).unwrap()
}

fn sku(i: usize) -> Sku {
    Sku::parse(&format!("SKU{i:05}")).unwrap()
}

fn commodity(s: Sku, policy: StockPolicy) -> Commodity {
    let draft = CommodityDraft {
        name: format!("Item {s}"),
        unit: Unit::Each,
        tax_rate_bp: 1300,
        barcodes: Vec::new(),
        category: None,
        stock_policy: policy,
        allow_shared_barcodes: None,
        stock_shards: None,
    };
    Commodity::from_draft(s, draft).unwrap()
}

fn adjustment(batch: &str, index: u32, s: Sku, scope: &str, amount: i64, from: DateTime<Utc>, applied: DateTime<Utc>) -> PriceAdjustment {
    PriceAdjustment {
        id: AdjustmentId { batch_id: BatchId::parse(batch).unwrap(), index },
        sku: s,
        scope: PriceScope::parse(scope).unwrap(),
        amount: Money::from_minor_units(amount),
        valid_from: from,
        valid_to: None,
        reason: None,
        applied_at: applied,
    }
}

fn price_batch(id: &str, applied: DateTime<Utc>, adjustments: Vec<PriceAdjustment>) -> PriceBatch {
    PriceBatch {
        result: PriceBatchResult {
            batch_id: BatchId::parse(id).unwrap(),
            accepted: adjustments.len() as u32,
            rejected: Vec::new(),
            applied_at: applied,
        },
        adjustments,
        fingerprint: format!("fp-{id}"),
    }
}

/// A store, 100 priced commodities (SKU00000 strict with stock), and a meter on the client.
async fn setup(moto: &Moto) -> (DynamoStore, Meter, Store) {
    let meter = Meter::default();
    let network = Network { client: aws_smithy_http_client::Builder::new().build_http(), measuring: meter.1.clone() };
    let s = moto.store_with(endpoint_config(&moto.endpoint).interceptor(meter.clone()).http_client(network)).await;
    let store = Store::new(StoreId::parse("S001").unwrap(), "Binjiang", RegionId::parse("EAST").unwrap(), None).unwrap();
    s.put_store(store.clone()).await.unwrap();
    let from = t0() - Duration::days(1);
    let mut lines = Vec::new();
    for i in 0..100 {
        let policy = if i == 0 { StockPolicy::Strict } else { StockPolicy::Track };
        s.put_commodity(commodity(sku(i), policy)).await.unwrap();
        lines.push(adjustment("base", i as u32, sku(i), "chain", 1000 + i as i64, from, from));
    }
    s.apply_price_batch(price_batch("base", from, lines)).await.unwrap();
    let stock = [(sku(0), StockChange { net: 50, lowest: 0 })].into_iter().collect();
    s.record_stock_movements(&store.store_id, &stock, None, chrono::Utc::now()).await.unwrap();
    meter.reset();
    (s, meter, store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lookup_costs_one_request_and_a_hundred_one_wave_and_split_stock_one_more() {
    let moto = Moto::start();
    let (s, meter, store) = setup(&moto).await;
    let one = s.commodity_views(&store, &[sku(7)], t0()).await.unwrap();
    assert!(one[0].is_some());
    let c = meter.take();
    println!("lookup of 1 sku: {c:?}");
    assert_eq!((c.requests, c.waves), (1, 1), "{c:?}");

    // A strict sku's stock is split (eight items by default): its other shards are a second wave.
    let split = s.commodity_views(&store, &[sku(0)], t0()).await.unwrap();
    assert_eq!(split[0].as_ref().unwrap().on_hand, 50);
    let c = meter.take();
    println!("lookup of 1 split sku: {c:?}");
    assert_eq!((c.requests, c.waves), (2, 2), "{c:?}");

    let skus: Vec<Sku> = (0..100).map(sku).collect();
    let views = s.commodity_views(&store, &skus, t0()).await.unwrap();
    assert!(views.iter().all(Option::is_some));
    let c = meter.take();
    println!("lookup of 100 skus: {c:?}");
    assert_eq!(c.waves, 2, "{c:?}");
    assert_eq!(c.requests, 6, "500 keys, 100 a request, then the split sku's 7 other shards: {c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_checkout_costs_two_waves_and_a_report_one_wave() {
    let moto = Moto::start();
    let (s, meter, store) = setup(&moto).await;
    // Three promotions in force that the basket meets: a percent-off, a multi-buy and a
    // spend-and-save.
    let promotion = |id: &str, rule: Rule| Promotion {
        id: PromotionId::parse(id).unwrap(),
        name: id.to_owned(),
        scope: PriceScope::Chain,
        valid_from: t0() - Duration::hours(1),
        valid_to: t0() + Duration::hours(1),
        rule,
    };
    let some = |range: std::ops::Range<usize>| Eligible { skus: Some(range.map(sku).collect()), categories: None };
    for p in [
        promotion("p-percent", Rule::PercentOff { percent_bp: 1000, eligible: some(0..5) }),
        promotion("p-multi", Rule::MultiBuy { buy: 3, free: 1, eligible: some(5..10) }),
        promotion("p-spend", Rule::SpendAndSave { threshold: Money::from_minor_units(10_000), discount: Money::from_minor_units(500), repeat: true, eligible: Eligible::default() }),
    ] {
        assert!(s.put_promotion(&p, None).await.unwrap());
    }
    // A warm function knows its store (the cache's minute); its promotions it reads again every
    // 10 s, so the worst case is a sale that finds them stale: they are read in its first wave.
    let warm = Warm::default();
    warm.stores.get(&store.store_id, || s.store(&store.store_id)).await.unwrap();
    let sale = |terminal: &str| SaleDraft {
        terminal_id: TerminalId::parse(terminal).unwrap(),
        lines: (0..20).map(|i| LineDraft { sku: Some(sku(i).to_string()), barcode: None, quantity: Some(2), weight_grams: None }).collect(),
        payments: vec![Payment { method: PaymentMethod::Cash, amount: Money::from_minor_units(1_000_000) }],
        occurred_at: None,
    };
    meter.reset();
    // Wave 1: claim the key, read the basket and the promotions together; wave 2: commit.
    let sold = sell(&s, &warm, &store.store_id, &IdempotencyKey::parse("k-1").unwrap(), &sale("T01"), t0()).await.unwrap();
    let Sold::Recorded(record) = sold else { panic!("a new sale is recorded") };
    assert_eq!(record.receipt.promotions.len(), 3, "{:?}", record.receipt.promotions);
    let c = meter.take();
    println!("checkout of 20 lines, promotions read: {c:?}");
    assert!(c.waves <= 2, "{c:?}");
    assert_eq!((c.operations.get("Query"), c.operations.get("TransactWriteItems")), (Some(&1), Some(&1)), "{c:?}");
    // The next sale finds the promotions in memory.
    let sold = sell(&s, &warm, &store.store_id, &IdempotencyKey::parse("k-2").unwrap(), &sale("T02"), t0()).await.unwrap();
    assert!(matches!(sold, Sold::Recorded(_)));
    let c = meter.take();
    println!("checkout of 20 lines, promotions in memory: {c:?}");
    assert!(c.waves <= 2, "{c:?}");
    assert_eq!((c.operations.get("Query"), c.operations.get("TransactWriteItems")), (None, Some(&1)), "{c:?}");

    s.fold(&[retail_core::testing::stream::streamed(1, retail_core::domain::report::LedgerEntry::Sale(record.clone()))]).await.unwrap();
    meter.reset();
    let business_day = BusinessDay::from(record.receipt.business_day);
    // One wave: the store, the day's head and its top commodities (which the head keeps).
    let report = retail_core::usecases::reports::store_daily(&s, &store.store_id, business_day).await.unwrap();
    assert_eq!((report.sales_count, report.top_commodities.len()), (1, 10));
    let c = meter.take();
    println!("store report: {c:?}");
    assert_eq!((c.requests, c.waves), (3, 1), "{c:?}");
    assert_eq!((c.operations.get("GetItem"), c.operations.get("Query")), (Some(&3), None), "{c:?}");
    // A page of the day's commodities: the store and one Query, in one wave.
    let page = retail_core::usecases::reports::day_commodities(&s, &store.store_id, business_day, None, 15).await.unwrap();
    assert_eq!((page.items.len(), page.next_cursor.is_some()), (15, true));
    let c = meter.take();
    println!("a page of the store-day's commodities: {c:?}");
    assert_eq!((c.requests, c.waves), (2, 1), "{c:?}");
    let (_, days) = s.chain_day(BusinessDay::from(record.receipt.business_day)).await.unwrap();
    assert_eq!(days.len(), 1);
    let c = meter.take();
    println!("chain report: {c:?}");
    assert_eq!(c.waves, 1, "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_return_costs_two_waves() {
    let moto = Moto::start();
    let (s, meter, store) = setup(&moto).await;
    let sale = CheckedSale {
        terminal_id: TerminalId::parse("T01").unwrap(),
        lines: (0..20)
            .map(|i| CheckedLine { item: LineItem::Sku(sku(i)), quantity: Some(2), weight_grams: None })
            .collect(),
        payments: vec![Payment { method: PaymentMethod::Card, amount: Money::from_minor_units(40_380) }],
        occurred_at: t0(),
    };
    let skus: Vec<Sku> = (0..20).map(sku).collect();
    let key = IdempotencyKey::parse("k-1").unwrap();
    let token = retail_core::store::ClaimToken::new();
    let KeyClaim::Claimed(claim) = s.claim_sale_key(&store.store_id, &key, "fp", &token, t0()).await.unwrap() else {
        panic!("a new key is claimed")
    };
    let reading = s.basket_reading(&store, &skus, &[]).await.unwrap();
    let basket =
        price_basket(&sale, &store, &BasketCatalog { commodities: &reading.commodities, barcodes: &reading.barcodes, promotions: &[] }).unwrap();
    let settlement = settle(basket.total, &sale.payments).unwrap();
    let record = s
        .commit_sale(PendingSale {
            key,
            claim,
            fingerprint: "fp".into(),
            sale_id: SaleId::parse("0190f5a4-0000-7000-8000-000000000002").unwrap(),
            store: store.clone(),
            sale,
            basket,
            settlement,
            created_at: t0(),
        })
        .await
        .unwrap();
    // A warm function knows its store (the cache's minute), as a checkout's budget assumes.
    let stores = StoreCache::default();
    stores.get(&store.store_id, || s.store(&store.store_id)).await.unwrap();
    meter.reset();

    // One of each of the 20 lines back, restocked: wave 1 claims the key (and takes the return's
    // number) while it reads the sale and its returns; wave 2 commits.
    let draft = ReturnDraft {
        terminal_id: TerminalId::parse("T01").unwrap(),
        sale: SaleRef { store_id: store.store_id.clone(), sale_id: record.receipt.sale_id.clone() },
        lines: (0..20).map(|line| ReturnLineDraft { line, quantity: Some(1), weight_grams: None }).collect(),
        reason: ReturnReason::Unwanted,
        restock: None,
        refunds: None,
    };
    let key = IdempotencyKey::parse("r-1").unwrap();
    let taken = take_back(&s, &stores, &store.store_id, &key, &draft, t0() + Duration::hours(1)).await.unwrap();
    let TakenBack::Recorded(receipt) = taken else { panic!("a new return is recorded") };
    assert_eq!(receipt.lines.len(), 20);
    let c = meter.take();
    println!("return of 20 lines: {c:?}");
    assert!(c.waves <= 2, "{c:?}");
    assert_eq!(c.operations.get("Query"), Some(&1), "{c:?}");
    assert_eq!(c.operations.get("TransactWriteItems"), Some(&1), "{c:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_price_batch_of_5000_lines_costs_two_waves() {
    let moto = Moto::start();
    let (s, meter, store) = setup(&moto).await;
    let at = t0();
    // 500 skus, each with ten future chain prices: 5000 lines on 500 schedule items.
    let mut lines = Vec::new();
    for i in 0..500 {
        for d in 0..10 {
            let from = at + Duration::days(d);
            lines.push(adjustment("big", lines.len() as u32, sku(i), "chain", 2000 + d, from, at));
        }
    }
    assert_eq!(lines.len(), 5000);
    let outcome = s.apply_price_batch(price_batch("big", at, lines)).await.unwrap();
    assert!(matches!(outcome, BatchOutcome::Applied(_)));
    let c = meter.take();
    println!("price batch of 5000 lines: {c:?}");
    assert!(c.waves <= 2, "{c:?}");
    // The tills' feed: one change per sku and scope (500), 25 a request, and the chain's head;
    // the rest is the history (200 requests) and the 500 schedules.
    assert_eq!(c.operations.get("BatchWriteItem"), Some(&(200 + 20)), "{c:?}");
    assert_eq!(c.operations.get("UpdateItem"), Some(&(500 + 1)), "{c:?}");
    let views = s.commodity_views(&store, &[sku(3)], at + Duration::days(4)).await.unwrap();
    let view = views[0].clone().unwrap();
    let price = retail_core::domain::price_in_force(view.prices.iter(), &store, at + Duration::days(4) + Duration::hours(1));
    assert_eq!(price.map(|a| a.amount.minor_units()), Some(2004));
    assert_eq!(s.price_history(&store, &sku(3)).await.unwrap().len(), 11);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_catalog_page_costs_one_wave_an_idle_poll_one_request_and_news_three_waves() {
    let moto = Moto::start();
    let (s, meter, store) = setup(&moto).await;
    let now = chrono::Utc::now();
    // A snapshot of the 100 commodities, 40 a page: each page one wave (both catalog indexes
    // side by side, and on the first page the promotions too).
    let mut cursor = None;
    let mut pages = 0;
    let mut skus = 0;
    loop {
        let page = catalog_page(&s, &store, cursor.take(), 40, now).await.unwrap();
        let c = meter.take();
        println!("snapshot page {pages}: {c:?}");
        assert_eq!(c.waves, 1, "{c:?}");
        assert_eq!(c.operations.get("Query"), Some(&if pages == 0 { 3 } else { 2 }), "{c:?}");
        skus += page.changes.iter().filter(|c| matches!(c, CatalogChange::Prices { prices, .. } if prices.len() == 1)).count();
        pages += 1;
        cursor = Some(page.cursor);
        if !page.more {
            break;
        }
    }
    assert_eq!(skus, 100, "every commodity came with its one chain price");
    assert!(pages <= 4, "{pages} pages");

    // Caught up a while ago (past the resend window) and nothing new: one request.
    let idle = CatalogCursor {
        position: Position::Changes { after: FeedPosition::before(chrono::Utc::now()) },
        ..cursor.clone().unwrap()
    };
    let page = catalog_page(&s, &store, Some(idle.clone()), 500, chrono::Utc::now()).await.unwrap();
    assert!(page.changes.is_empty() && !page.more);
    let c = meter.take();
    println!("idle poll: {c:?}");
    assert_eq!((c.requests, c.waves, c.operations.get("BatchGetItem")), (1, 1, Some(&1)), "{c:?}");

    // One sku repriced for the chain: the heads, that partition, the sku's state.
    let at = chrono::Utc::now();
    s.apply_price_batch(price_batch("news", at, vec![adjustment("news", 0, sku(7), "chain", 777, at, at)])).await.unwrap();
    meter.reset();
    let page = catalog_page(&s, &store, Some(idle), 500, chrono::Utc::now()).await.unwrap();
    let c = meter.take();
    println!("poll with one change: {c:?}");
    assert_eq!((c.requests, c.waves), (3, 3), "{c:?}");
    let [CatalogChange::Prices { sku: changed, prices }] = page.changes.as_slice() else { panic!("{:?}", page.changes) };
    assert_eq!(changed, &sku(7));
    assert_eq!(prices.last().map(|a| a.amount.minor_units()), Some(777));
}
