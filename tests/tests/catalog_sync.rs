//! Till catalog sync on both adapters (API.md, "Till catalog sync"): a simulated till applies a
//! snapshot and then every delta, in random interleavings with head office's changes (the
//! store moving region included), and must end up pricing every sku and listing every
//! promotion exactly as the server's lookups and checkout would, at every moment from now on.
//! A property test on the embedded store, a smaller one on moto; then the walk's edges.

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;
use retail_core::domain::catalog::CommodityDraft;
use retail_core::domain::catalog_feed::{CatalogChange, CatalogCursor, FeedPosition, Position, till_price_at};
use retail_core::domain::price::{AdjustmentId, PriceScope};
use retail_core::domain::promotion::{Eligible, Rule};
use retail_core::domain::{
    BatchId, Commodity, Money, PriceAdjustment, Promotion, PromotionId, RegionId, Sku, StockPolicy, Store, StoreId, Unit,
    price_in_force,
};
use retail_core::store::{
    CatalogFeed, CatalogStore, LookupStore, PriceBatch, PriceBatchResult, PriceStore, PromotionStore,
};
use retail_core::usecases::catalog_sync::catalog_page;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

trait Ports: CatalogStore + LookupStore + CatalogFeed + PriceStore + PromotionStore {}
impl<T: CatalogStore + LookupStore + CatalogFeed + PriceStore + PromotionStore> Ports for T {}

const SKUS: usize = 12;
const STORE: &str = "S001";

fn sku(i: usize) -> Sku {
    Sku::parse(&format!("SKU{i:03}")).unwrap()
}

fn region(east: bool) -> RegionId {
    RegionId::parse(if east { "EAST" } else { "WEST" }).unwrap()
}

fn shop(id: &str, east: bool) -> Store {
    Store::new(StoreId::parse(id).unwrap(), "Shop", region(east), None).unwrap()
}

fn commodity(i: usize, name: u8) -> Commodity {
    let draft = CommodityDraft {
        name: format!("Item {i} v{name}"),
        unit: Unit::Each,
        tax_rate_bp: 1300,
        barcodes: Vec::new(),
        category: Some(if i.is_multiple_of(2) { "dairy".into() } else { "snacks".into() }),
        stock_policy: StockPolicy::Track,
        allow_shared_barcodes: None,
        stock_shards: None,
    };
    Commodity::from_draft(sku(i), draft).unwrap()
}

/// What head office or a till does next.
#[derive(Debug, Clone)]
enum Step {
    PutCommodity { sku: usize, name: u8 },
    /// Lines (sku, scope 0 chain / 1 EAST / 2 WEST / 3 S001 / 4 S002, amount, from in minutes
    /// from now, length in minutes or none).
    Prices(Vec<(usize, u8, i64, i64, Option<i64>)>),
    PutPromotion { id: u8, scope: u8, from: i64, length: i64 },
    /// S001 moves to EAST (true) or WEST.
    Move(bool),
    /// The till asks for its next page.
    Poll,
    /// The till catches up, then time passes: its next poll starts where an idle poll a
    /// minute later would, past the resend window, so nothing older comes again.
    Later,
}

fn scope(code: u8) -> PriceScope {
    match code {
        0 => PriceScope::Chain,
        1 => PriceScope::Region(region(true)),
        2 => PriceScope::Region(region(false)),
        3 => PriceScope::Store(StoreId::parse("S001").unwrap()),
        _ => PriceScope::Store(StoreId::parse("S002").unwrap()),
    }
}

fn arb_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        2 => (0..SKUS, 0u8..3).prop_map(|(sku, name)| Step::PutCommodity { sku, name }),
        3 => proptest::collection::vec(
            (0..SKUS, 0u8..5, 100i64..5000, -90i64..90, proptest::option::of(1i64..120)),
            1..8
        ).prop_map(Step::Prices),
        2 => (0u8..4, 0u8..5, -120i64..60, 1i64..240).prop_map(|(id, scope, from, length)| Step::PutPromotion { id, scope, from, length }),
        1 => any::<bool>().prop_map(Step::Move),
        5 => Just(Step::Poll),
        1 => Just(Step::Later),
    ]
}

/// A till of S001: what it holds after applying every change it was sent, in order.
#[derive(Default)]
struct Till {
    cursor: Option<CatalogCursor>,
    store: Option<Store>,
    commodities: BTreeMap<Sku, Option<Arc<Commodity>>>,
    prices: BTreeMap<Sku, Vec<PriceAdjustment>>,
    promotions: BTreeMap<PromotionId, Promotion>,
    pages: usize,
    caught_up: bool,
}

impl Till {
    async fn poll<S: Ports>(&mut self, db: &S, limit: usize) {
        let store = db.store(&StoreId::parse(STORE).unwrap()).await.unwrap().unwrap();
        let asked_for_changes = matches!(&self.cursor, Some(c) if matches!(c.position, Position::Changes { .. }));
        let page = catalog_page(db, &store, self.cursor.take(), limit, Utc::now()).await.unwrap();
        for change in page.changes {
            match change {
                CatalogChange::Commodity { sku, commodity } => {
                    self.commodities.insert(sku, commodity);
                }
                CatalogChange::Prices { sku, prices } => {
                    self.prices.insert(sku, prices);
                }
                CatalogChange::Promotion { id, promotion: Some(p) } => {
                    self.promotions.insert(id, p);
                }
                CatalogChange::Promotion { id, promotion: None } => {
                    self.promotions.remove(&id);
                }
                CatalogChange::Store(s) => self.store = Some(s),
            }
        }
        // The cursor goes through its text, as a till holds it.
        self.cursor = Some(CatalogCursor::decode(&page.cursor.encode(), &store.store_id).unwrap());
        // A snapshot's last page is not the end: what changed while the till paged through it
        // comes in the next delta, as the contract says.
        self.caught_up = asked_for_changes && !page.more;
        self.pages += 1;
    }

    async fn catch_up<S: Ports>(&mut self, db: &S, limit: usize) {
        self.caught_up = false;
        for _ in 0..200 {
            self.poll(db, limit).await;
            if self.caught_up {
                return;
            }
        }
        panic!("the till never caught up");
    }

    /// Holds exactly what the server prices and lists with, at every moment in `moments`.
    async fn agrees_with<S: Ports>(&self, db: &S, moments: &[DateTime<Utc>]) -> Result<(), String> {
        let store = db.store(&StoreId::parse(STORE).unwrap()).await.unwrap().unwrap();
        if self.store.as_ref() != Some(&store) {
            return Err(format!("the till holds store {:?}, the server {store:?}", self.store));
        }
        let skus: Vec<Sku> = (0..SKUS).map(sku).collect();
        let views = db.commodity_views(&store, &skus, Utc::now()).await.unwrap();
        for (sku, view) in skus.iter().zip(views) {
            let held = self.commodities.get(sku).cloned().flatten();
            if held.as_deref() != view.as_ref().map(|v| &*v.commodity) {
                return Err(format!("{sku}: the till holds {held:?}, lookups say {:?}", view.map(|v| v.commodity)));
            }
            let Some(view) = view else { continue };
            let prices = self.prices.get(sku).map(Vec::as_slice).unwrap_or_default();
            for at in moments {
                let till = till_price_at(prices, *at).map(|a| (a.id.clone(), a.amount));
                let server = price_in_force(view.prices.iter(), &store, *at).map(|a| (a.id.clone(), a.amount));
                if till != server {
                    return Err(format!("{sku} at {at}: the till prices {till:?}, the server {server:?}"));
                }
            }
        }
        let now = Utc::now();
        let listed = db.promotions_ending_after(now).await.unwrap();
        let server: Vec<&Promotion> = listed.iter().filter(|p| p.scope.reaches(&store)).collect();
        let till: Vec<&Promotion> = self.promotions.values().filter(|p| p.valid_to > now).collect();
        if till != server {
            return Err(format!("the till lists promotions {till:?}, the server {server:?}"));
        }
        Ok(())
    }
}

static BATCHES: AtomicU32 = AtomicU32::new(0);

async fn play<S: Ports>(db: &S, steps: &[Step], limit: usize) -> Result<(), String> {
    let now = Utc::now();
    db.put_store(shop("S001", true)).await.unwrap();
    db.put_store(shop("S002", false)).await.unwrap();
    for i in 0..SKUS / 2 {
        db.put_commodity(commodity(i, 0)).await.unwrap();
    }
    let mut till = Till::default();
    for step in steps {
        match step {
            Step::PutCommodity { sku, name } => {
                db.put_commodity(commodity(*sku, *name)).await.unwrap();
            }
            Step::Prices(lines) => {
                let known: Vec<Sku> = db.existing(&(0..SKUS).map(sku).collect::<Vec<_>>(), &[]).await.unwrap().0;
                let id = BatchId::parse(&format!("b{}", BATCHES.fetch_add(1, Ordering::Relaxed))).unwrap();
                let applied = Utc::now();
                let adjustments: Vec<PriceAdjustment> = lines
                    .iter()
                    .filter(|(s, ..)| known.contains(&sku(*s)))
                    .enumerate()
                    .map(|(i, (s, code, amount, from, length))| PriceAdjustment {
                        id: AdjustmentId { batch_id: id.clone(), index: i as u32 },
                        sku: sku(*s),
                        scope: scope(*code),
                        amount: Money::from_minor_units(*amount),
                        valid_from: now + Duration::minutes(*from),
                        valid_to: length.map(|l| now + Duration::minutes(from + l)),
                        reason: None,
                        applied_at: applied,
                    })
                    .collect();
                let result = PriceBatchResult { batch_id: id.clone(), accepted: adjustments.len() as u32, rejected: Vec::new(), applied_at: applied };
                db.apply_price_batch(PriceBatch { result, adjustments, fingerprint: id.to_string() }).await.unwrap();
            }
            Step::PutPromotion { id, scope: code, from, length } => {
                let id = PromotionId::parse(&format!("p{id}")).unwrap();
                let stored = db.promotion(&id).await.unwrap();
                let promotion = Promotion {
                    id: id.clone(),
                    name: format!("{id}"),
                    scope: scope(*code),
                    valid_from: now + Duration::minutes(*from),
                    valid_to: now + Duration::minutes(from + length),
                    rule: Rule::PercentOff { percent_bp: 500, eligible: Eligible { skus: None, categories: Some(vec!["dairy".into()]) } },
                };
                assert!(db.put_promotion(&promotion, stored.as_ref()).await.unwrap());
            }
            Step::Move(east) => {
                db.put_store(shop("S001", *east)).await.unwrap();
            }
            Step::Poll => till.poll(db, limit).await,
            Step::Later => {
                till.catch_up(db, limit).await;
                if let Some(CatalogCursor { position: Position::Changes { after }, .. }) = &mut till.cursor {
                    *after = FeedPosition::before(Utc::now());
                }
            }
        }
    }
    till.catch_up(db, limit).await;
    let now = Utc::now();
    let moments: Vec<DateTime<Utc>> = [0, 1, 30, 59, 61, 90, 119, 121, 180, 240, 400].iter().map(|m| now + Duration::minutes(*m)).collect();
    till.agrees_with(db, &moments).await?;
    // Caught up and nothing new: the next poll sends nothing it does not already hold.
    till.poll(db, limit).await;
    till.agrees_with(db, &moments).await
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn a_till_that_applies_every_page_prices_as_the_embedded_store_does(
        steps in proptest::collection::vec(arb_step(), 1..40),
        limit in 1usize..6,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let db = retail_core::store::memory::MemoryStore::new();
        rt.block_on(play(&db, &steps, limit)).map_err(TestCaseError::fail)?;
    }
}

#[test]
fn a_till_that_applies_every_page_prices_as_dynamodb_does() {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    let moto = retail_tests::moto::Moto::start();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig { cases: 6, ..ProptestConfig::default() });
    let strategy = (proptest::collection::vec(arb_step(), 1..25), 1usize..6);
    runner
        .run(&strategy, |(steps, limit)| {
            let db = rt.block_on(moto.store());
            rt.block_on(play(&db, &steps, limit)).map_err(TestCaseError::fail)
        })
        .unwrap();
}

/// How much a snapshot weighs: every page of at most `limit` commodities, each page's changes
/// as JSON. Returns (pages, bytes, the largest page, commodities).
async fn weigh_snapshot<S: Ports>(db: &S, store: &Store, limit: usize) -> (usize, usize, usize, usize) {
    let (mut pages, mut bytes, mut largest, mut commodities) = (0, 0, 0, 0);
    let mut cursor = None;
    loop {
        let page = catalog_page(db, store, cursor.take(), limit, Utc::now()).await.unwrap();
        let size = serde_json::to_vec(&page.changes).unwrap().len();
        assert!(size <= 1_000_000, "a page of {size} bytes");
        pages += 1;
        bytes += size;
        largest = largest.max(size);
        commodities += page.changes.iter().filter(|c| matches!(c, CatalogChange::Commodity { .. })).count();
        cursor = Some(page.cursor);
        if !page.more {
            return (pages, bytes, largest, commodities);
        }
    }
}

fn priced(batch: &str, lines: impl Iterator<Item = (usize, PriceScope, i64, i64)>) -> PriceBatch {
    let now = Utc::now();
    let id = BatchId::parse(batch).unwrap();
    let adjustments: Vec<PriceAdjustment> = lines
        .enumerate()
        .map(|(i, (s, scope, amount, from_days))| PriceAdjustment {
            id: AdjustmentId { batch_id: id.clone(), index: i as u32 },
            sku: Sku::parse(&format!("BIG{s:05}")).unwrap(),
            scope,
            amount: Money::from_minor_units(amount),
            valid_from: now + Duration::days(from_days),
            valid_to: None,
            reason: None,
            applied_at: now,
        })
        .collect();
    let result = PriceBatchResult { batch_id: id, accepted: adjustments.len() as u32, rejected: Vec::new(), applied_at: now };
    PriceBatch { result, adjustments, fingerprint: batch.to_owned() }
}

/// A hypermarket's 20,000 skus, each with a chain price and one in ten with a regional one: the
/// snapshot's pages and weight (README, "For till developers"). And pages stay under 1 MB
/// however many prices a sku has scheduled: 1,000 skus with twelve each fill less than a page
/// of 1,000, so the page ends early and the next one goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_snapshot_of_twenty_thousand_skus_comes_in_pages_under_a_megabyte() {
    let db = retail_core::store::memory::MemoryStore::new();
    let store = shop("S001", true);
    db.put_store(store.clone()).await.unwrap();
    for i in 0..20_000 {
        let c = Commodity::from_draft(Sku::parse(&format!("BIG{i:05}")).unwrap(), CommodityDraft {
            name: format!("Hypermarket item number {i}"),
            unit: if i % 10 == 0 { Unit::Kg } else { Unit::Each },
            tax_rate_bp: 1300,
            barcodes: vec![ean13(&format!("69{i:010}"))],
            category: Some(format!("aisle-{}", i % 40)),
            stock_policy: StockPolicy::Track,
            allow_shared_barcodes: None,
            stock_shards: None,
        })
        .unwrap();
        db.put_commodity(c).await.unwrap();
    }
    for part in 0..4 {
        let lines = (part * 5000..(part + 1) * 5000).map(|i| (i, PriceScope::Chain, 1000 + i as i64 % 900, -1));
        db.apply_price_batch(priced(&format!("chain-{part}"), lines)).await.unwrap();
    }
    let lines = (0..20_000).step_by(10).map(|i| (i, PriceScope::Region(region(true)), 900 + i as i64 % 900, -1));
    db.apply_price_batch(priced("east", lines)).await.unwrap();
    let (pages, bytes, largest, commodities) = weigh_snapshot(&db, &store, 1000).await;
    println!("20,000 skus, pages of 1,000: {pages} pages, {bytes} bytes, the largest {largest} bytes");
    assert_eq!(commodities, 20_000);
    assert_eq!(pages, 20);

    let db = retail_core::store::memory::MemoryStore::new();
    db.put_store(store.clone()).await.unwrap();
    for i in 0..1000 {
        db.put_commodity(Commodity::from_draft(Sku::parse(&format!("BIG{i:05}")).unwrap(), CommodityDraft {
            name: format!("Item {i}"),
            unit: Unit::Each,
            tax_rate_bp: 1300,
            barcodes: Vec::new(),
            category: None,
            stock_policy: StockPolicy::Track,
            allow_shared_barcodes: None,
            stock_shards: None,
        }).unwrap()).await.unwrap();
    }
    for day in 0..12 {
        let lines = (0..1000).map(move |i| (i, PriceScope::Chain, 1000 + day * 10, day));
        db.apply_price_batch(priced(&format!("day-{day}"), lines)).await.unwrap();
    }
    let (pages, bytes, largest, commodities) = weigh_snapshot(&db, &store, 1000).await;
    println!("1,000 skus with 12 prices each, pages of 1,000: {pages} pages, {bytes} bytes, the largest {largest} bytes");
    assert_eq!(commodities, 1000);
    assert!(pages >= 2, "{pages} pages: a page over 1 MB was not cut");
}

fn ean13(body12: &str) -> String {
    format!("{body12}{}", retail_core::domain::barcode::gs1_check_digit(body12.as_bytes()))
}

/// A function remembers a store for up to a minute (`StoreCache`); a store change in a delta is
/// sent as the store is now, not as remembered, or a till polling less often than the resend
/// window would keep the old name for good.
async fn a_renamed_store_reaches_the_till_as_it_is_now<S: Ports>(db: &S) {
    let remembered = shop(STORE, true);
    db.put_store(remembered.clone()).await.unwrap();
    db.put_commodity(commodity(0, 0)).await.unwrap();
    let mut till = Till::default();
    till.catch_up(db, 5).await;
    let renamed = Store::new(remembered.store_id.clone(), "Shop on the corner", region(true), None).unwrap();
    db.put_store(renamed.clone()).await.unwrap();
    let page = catalog_page(db, &remembered, till.cursor.take(), 5, Utc::now()).await.unwrap();
    let sent: Vec<&Store> = page.changes.iter().filter_map(|c| if let CatalogChange::Store(s) = c { Some(s) } else { None }).collect();
    assert_eq!(sent, [&renamed], "{:?}", page.changes);
}

#[tokio::test]
async fn a_store_change_is_sent_as_the_store_is_now_on_the_embedded_store() {
    a_renamed_store_reaches_the_till_as_it_is_now(&retail_core::store::memory::MemoryStore::new()).await;
}

#[test]
fn a_store_change_is_sent_as_the_store_is_now_on_dynamodb() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let moto = retail_tests::moto::Moto::start();
    let db = rt.block_on(moto.store());
    rt.block_on(a_renamed_store_reaches_the_till_as_it_is_now(&db));
}
