//! sales-report against API.md "Sales reporting": once the stream has drained into
//! sales-aggregator, `GET /stores/{storeId}/reports/daily` and `GET /reports/daily` equal the sums
//! of the receipts and return receipts exactly.

use catalog_admin::CatalogAdmin;
use checkout::Checkout;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::domain::report::LedgerEntry;
use retail_core::domain::returns::{ReturnDraft, ReturnSummary};
use retail_core::domain::{IdempotencyKey, StoreId};
use retail_core::http::HttpFunction;
use retail_core::store::cache::StoreCache;
use retail_core::store::memory::MemoryStore;
use retail_core::store::sale_item::{return_item, sale_return_item};
use retail_core::testing::{Answer, catalog::*, request::*, stream::*, till::*};
use retail_core::usecases::take_back::{TakenBack, take_back};
use sales_aggregator::SalesAggregator;
use sales_report::SalesReport;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

fn store_report_event(store: &str, query: &str) -> Event {
    Event::new("GET", "/stores/{storeId}/reports/daily", &format!("/stores/{store}/reports/daily{query}"))
}

fn commodities_event(store: &str, query: &str) -> Event {
    Event::new("GET", "/stores/{storeId}/reports/daily/commodities", &format!("/stores/{store}/reports/daily/commodities{query}"))
}

fn chain_report_event(query: &str) -> Event {
    Event::new("GET", "/reports/daily", &format!("/reports/daily{query}"))
}

/// A till, the aggregator and the report over one store.
struct Office {
    till: Till,
    aggregator: SalesAggregator<MemoryStore>,
    report: SalesReport<MemoryStore>,
    /// How far the stream has been delivered.
    delivered: usize,
}

impl Office {
    async fn new() -> Self {
        let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
        let till = Till::stocked(shop, Checkout::new).await;
        let aggregator = SalesAggregator::new(till.shop.store.clone());
        let report = SalesReport::new(till.shop.store.clone());
        Office { till, aggregator, report, delivered: 0 }
    }

    /// Delivers every committed sale and return not yet delivered, as one stream batch.
    async fn drain(&mut self) {
        let (entries, next) = self.till.shop.store.entries_since(self.delivered);
        let records = self.records(self.delivered as u64 + 1, &entries);
        let response = self.aggregator.fold(event(records)).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        self.delivered = next;
    }

    /// What the sales table's stream carries for `entries`, numbered from `first`: a sale's
    /// item; a return's item, then what its commit also writes in the sale's partition (the
    /// sale's note of the return, and the sale rewritten with what came back: a MODIFY).
    fn records(&self, first: u64, entries: &[LedgerEntry]) -> Vec<Value> {
        let (all, _) = self.till.shop.store.entries_since(0);
        let mut records = Vec::new();
        let mut sequence = first;
        let mut push = |name: &str, image: Value| {
            records.push(record(name, sequence, image));
            sequence += 1;
        };
        for entry in entries {
            match entry {
                LedgerEntry::Sale(sale) => push("INSERT", image(sale)),
                LedgerEntry::Return(r) => {
                    push("INSERT", serde_json::to_value(return_item(r)).unwrap());
                    let sale = all
                        .iter()
                        .find_map(|e| match e {
                            LedgerEntry::Sale(s) if s.receipt.sale_id == r.sale.sale_id => Some(s.clone()),
                            _ => None,
                        })
                        .expect("a return's sale was committed before it");
                    let note = ReturnSummary { return_id: r.return_id.clone(), store_id: r.store_id.clone(), created_at: r.created_at, total: r.total };
                    push("INSERT", serde_json::to_value(sale_return_item(&sale, &note)).unwrap());
                    push("MODIFY", image(&sale));
                }
            }
        }
        records
    }

    /// Takes back `lines` ((receipt line, units or grams; `None`: one unit, or all of a weighed
    /// line)) of the sale `receipt` in `store` at `terminal`, at `now`, through the take-back use
    /// case on the embedded store. Returns the return receipt as the till gets it.
    async fn take_back(&self, store: &str, key: &str, terminal: &str, receipt: &Value, lines: &[(usize, Option<i64>)], now: DateTime<Utc>) -> Value {
        let lines: Vec<Value> = lines
            .iter()
            .map(|&(line, q)| match (q, receipt["lines"][line].get("weightGrams").is_some()) {
                (None, _) => json!({"line": line}),
                (Some(q), false) => json!({"line": line, "quantity": q}),
                (Some(g), true) => json!({"line": line, "weightGrams": g}),
            })
            .collect();
        let draft: ReturnDraft = serde_json::from_value(json!({
            "terminalId": terminal,
            "sale": {"storeId": receipt["storeId"], "saleId": receipt["saleId"]},
            "lines": lines,
            "reason": "unwanted",
        }))
        .unwrap();
        let store = StoreId::parse(store).unwrap();
        let key = IdempotencyKey::parse(key).unwrap();
        match take_back(&self.till.shop.store, &StoreCache::default(), &store, &key, &draft, now).await {
            Ok(TakenBack::Recorded(r)) => serde_json::to_value(&*r).unwrap(),
            other => panic!("the return was not recorded: {other:?}"),
        }
    }

    async fn call(&self, event: Event) -> Answer {
        Answer::from(self.report.call(event.request()).await)
    }

    async fn store_day(&self, store: &str, date: NaiveDate) -> Value {
        self.call(store_report_event(store, &format!("?date={date}")).claims(HO, None)).await.ok(200).clone()
    }

    /// Every page of a store-day's commodities, `limit` at a time, following `nextCursor`.
    async fn commodities(&self, store: &str, date: NaiveDate, limit: usize) -> Vec<Value> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let query = match &cursor {
                Some(c) => format!("?date={date}&limit={limit}&cursor={c}"),
                None => format!("?date={date}&limit={limit}"),
            };
            let page = self.call(commodities_event(store, &query).claims("store", Some(store))).await.ok(200).clone();
            assert_eq!((&page["storeId"], &page["date"]), (&json!(store), &json!(date.to_string())));
            assert!(page["items"].as_array().unwrap().len() <= limit, "{page}");
            cursor = page["nextCursor"].as_str().map(str::to_owned);
            pages.push(page);
            if cursor.is_none() {
                return pages;
            }
            assert!(pages.len() < 100, "the pages end");
        }
    }

    async fn chain_day(&self, date: NaiveDate) -> Value {
        self.call(chain_report_event(&format!("?date={date}")).claims(HO, None)).await.ok(200).clone()
    }
}

/// The business day the tests report on: a whole Shanghai day in the past 72 hours (the day of
/// 07:30 local that was 23:30 UTC the day before the last 23:30 UTC).
fn report_day() -> NaiveDate {
    (last_2330_utc() - Duration::days(1) + Duration::hours(8)).date_naive()
}

/// `HH:MM` on `day` in Shanghai, as a till would send it.
fn shanghai(day: NaiveDate, hm: &str) -> String {
    format!("{day}T{hm}:00+08:00")
}

fn at(mut body: Value, occurred_at: &str) -> Value {
    body["occurredAt"] = json!(occurred_at);
    body
}

/// The sums of some receipts, computed from the receipts alone, in the store report's shape.
fn sums(receipts: &[Value], store: &str, date: NaiveDate, local_offset_hours: i64) -> Value {
    sums_with_returns(receipts, &[], store, date, local_offset_hours)
}

/// The sums of some receipts and the return receipts of the returns the store took back.
fn sums_with_returns(receipts: &[Value], returns: &[Value], store: &str, date: NaiveDate, local_offset_hours: i64) -> Value {
    let total = |r: &Value, m: &str| r[m].as_i64().unwrap();
    let mut by_hour = vec![(0u64, 0i64); 24];
    let mut cash = 0;
    let mut card = 0;
    let mut mobile = 0;
    let mut items = 0;
    #[derive(Default)]
    struct TerminalSums {
        sales: u64,
        offline: u64,
        gross: i64,
        cash_in: i64,
        returns: u64,
        returned: i64,
        cash_out: i64,
    }
    let mut terminals: BTreeMap<String, TerminalSums> = BTreeMap::new();
    // sku → (name, quantity, weightGrams, amount)
    let mut skus: BTreeMap<String, (String, i64, i64, i64)> = BTreeMap::new();
    // promotionId → (sales, discount)
    let mut promotions: BTreeMap<String, (u64, i64)> = BTreeMap::new();
    for r in receipts {
        for p in r["promotions"].as_array().unwrap() {
            let e = promotions.entry(p["promotionId"].as_str().unwrap().to_owned()).or_default();
            e.0 += 1;
            e.1 += p["discount"].as_i64().unwrap();
        }
        let occurred: DateTime<Utc> = r["occurredAt"].as_str().unwrap().parse().unwrap();
        let hour = (occurred + Duration::hours(local_offset_hours)).format("%H").to_string().parse::<usize>().unwrap();
        by_hour[hour].0 += 1;
        by_hour[hour].1 += total(r, "total");
        for p in r["payments"].as_array().unwrap() {
            let amount = p["amount"].as_i64().unwrap();
            match p["method"].as_str().unwrap() {
                "cash" => cash += amount,
                "card" => card += amount,
                _ => mobile += amount,
            }
        }
        cash -= total(r, "change");
        let created: DateTime<Utc> = r["createdAt"].as_str().unwrap().parse().unwrap();
        let t = terminals.entry(r["terminalId"].as_str().unwrap().to_owned()).or_default();
        t.sales += 1;
        t.offline += u64::from(created - occurred > Duration::minutes(5));
        t.gross += total(r, "total");
        let paid_in_cash: i64 = r["payments"].as_array().unwrap().iter().filter(|p| p["method"] == "cash").map(|p| p["amount"].as_i64().unwrap()).sum();
        t.cash_in += paid_in_cash - total(r, "change");
        for l in r["lines"].as_array().unwrap() {
            let e = skus.entry(l["sku"].as_str().unwrap().to_owned()).or_insert((l["name"].as_str().unwrap().to_owned(), 0, 0, 0));
            match (l["quantity"].as_i64(), l["weightGrams"].as_i64()) {
                (Some(q), None) => {
                    e.1 += q;
                    items += q;
                }
                (None, Some(g)) => {
                    e.2 += g;
                    items += 1;
                }
                other => panic!("a line with {other:?}"),
            }
            // What the customer paid for it, after promotions.
            e.3 += l["netAmount"].as_i64().unwrap();
        }
    }
    let mut refunds = BTreeMap::from([("cash", 0), ("card", 0), ("mobile", 0)]);
    // The top commodities' figures are net of what came back; one only taken back does not rank.
    let mut weighed: BTreeSet<String> = skus.iter().filter(|(_, e)| e.2 > 0).map(|(sku, _)| sku.clone()).collect();
    for l in returns.iter().flat_map(|r| r["lines"].as_array().unwrap()) {
        let Some(e) = skus.get_mut(l["sku"].as_str().unwrap()) else { continue };
        match (l["quantity"].as_i64(), l["weightGrams"].as_i64()) {
            (Some(q), None) => e.1 -= q,
            (None, Some(g)) => {
                e.2 -= g;
                weighed.insert(l["sku"].as_str().unwrap().to_owned());
            }
            other => panic!("a returned line with {other:?}"),
        }
        e.3 -= l["refundAmount"].as_i64().unwrap();
    }
    for r in returns {
        let t = terminals.entry(r["terminalId"].as_str().unwrap().to_owned()).or_default();
        t.returns += 1;
        t.returned += total(r, "total");
        for p in r["refunds"].as_array().unwrap() {
            let method = p["method"].as_str().unwrap();
            *refunds.get_mut(method).unwrap() += p["amount"].as_i64().unwrap();
            if method == "cash" {
                t.cash_out += p["amount"].as_i64().unwrap();
            }
        }
    }
    let mut ranked: Vec<(String, (String, i64, i64, i64))> = skus.into_iter().collect();
    ranked.sort_by(|a, b| b.1.3.cmp(&a.1.3).then(a.0.cmp(&b.0)));
    let top: Vec<Value> = ranked
        .into_iter()
        .take(10)
        .map(|(sku, (name, q, g, amount))| {
            let mut t = json!({"sku": sku, "name": name, "amount": amount});
            if weighed.contains(&sku) {
                t["weightGrams"] = json!(g);
            } else {
                t["quantity"] = json!(q);
            }
            t
        })
        .collect();
    // The time of the latest sale or return folded in, as its receipt states it.
    let as_of = receipts
        .iter()
        .chain(returns)
        .map(|r| r["createdAt"].as_str().unwrap())
        .max_by_key(|t| t.parse::<DateTime<Utc>>().unwrap())
        .map(str::to_owned);
    let gross: i64 = receipts.iter().map(|r| total(r, "total")).sum();
    let returned: i64 = returns.iter().map(|r| total(r, "total")).sum();
    json!({
        "storeId": store, "date": date.to_string(), "currency": "CNY",
        "salesCount": receipts.len(), "itemsSold": items,
        "grossAmount": gross,
        "taxAmount": receipts.iter().map(|r| total(r, "taxTotal")).sum::<i64>(),
        "byHour": by_hour.iter().enumerate().map(|(h, (n, g))| json!({"hour": h, "salesCount": n, "grossAmount": g})).collect::<Vec<_>>(),
        "byPaymentMethod": {"cash": cash, "card": card, "mobile": mobile},
        "topCommodities": top,
        "discountAmount": receipts.iter().map(|r| total(r, "discountTotal")).sum::<i64>(),
        "byPromotion": promotions.iter().map(|(id, (n, d))| json!({"promotionId": id, "salesCount": n, "discount": d})).collect::<Vec<_>>(),
        "returnsCount": returns.len(),
        "returnsAmount": returned,
        "returnsTax": returns.iter().map(|r| total(r, "taxTotal")).sum::<i64>(),
        "refundsByMethod": refunds,
        "netAmount": gross - returned,
        "byTerminal": terminals.iter().map(|(id, t)| json!({
            "terminalId": id, "salesCount": t.sales, "offlineSalesCount": t.offline, "grossAmount": t.gross,
            "returnsCount": t.returns, "returnsAmount": t.returned, "cashIn": t.cash_in, "cashOut": t.cash_out,
        })).collect::<Vec<_>>(),
        "asOf": as_of,
    })
}

/// Stores S001 and S002 (Shanghai), S003 (London) and S004 (no sales); three more commodities so
/// that twelve are sold; a day of seven baskets in S001 with its neighbours' sales either side,
/// one in S002 and one in S003. Returns the receipts of `report_day()` in S001.
async fn a_sales_day(office: &Office) -> Vec<Value> {
    a_sales_day_and_its_neighbours(office).await.0
}

/// [`a_sales_day`], and S002's receipt of the day.
async fn a_sales_day_and_its_neighbours(office: &Office) -> (Vec<Value>, Value) {
    let till = &office.till;
    let shop = &till.shop;
    for (store, body) in [
        ("S003", json!({"name": "London", "region": "WEST", "timezone": "Europe/London"})),
        ("S004", json!({"name": "Quiet", "region": "WEST"})),
    ] {
        assert_eq!(shop.catalog(put_store_event(store).claims(HO, None).json(&body)).await.status, 201);
    }
    for (sku, name, tax) in [("TEA", "Tea", 1300), ("SOAP", "Soap", 1300), ("EGGS", "Eggs 10", 900)] {
        shop.seed_commodity(sku, &json!({"name": name, "unit": "each", "taxRateBp": tax, "barcodes": [], "stockPolicy": "track"})).await;
    }
    shop.seed_prices(
        "extra",
        json!([
            {"sku": "TEA", "scope": "chain", "amount": 800, "validFrom": LONG_AGO},
            {"sku": "SOAP", "scope": "chain", "amount": 350, "validFrom": LONG_AGO},
            {"sku": "EGGS", "scope": "chain", "amount": 1200, "validFrom": LONG_AGO}
        ]),
    )
    .await;
    shop.move_stock("S001", json!([{"sku": "FLASH", "delta": 2, "reason": "receipt"}])).await.ok(200);

    let d = report_day();
    let day_sales = [
        // 00:10: 2 × 12.99 = 25.98 (tax 299), 30.00 cash, change 4.02.
        ("r1", shanghai(d, "00:10"), basket("T01", json!([{"sku": "MILK", "quantity": 2}]), json!([cash(3000)]))),
        // 07:30: apples 1234 g = 19.72 (163) and a cake label 8.99 (103), by card.
        (
            "r2",
            shanghai(d, "07:30"),
            basket("T01", json!([{"barcode": apple_label(600)}, {"sku": "APPLE", "weightGrams": 634}, {"barcode": cake_label(899)}]), json!([card(2871)])),
        ),
        // 09:15: the cooker at 299.00 (3440), 200.00 mobile and 100.00 cash, change 1.00.
        ("r3", shanghai(d, "09:15"), basket("T02", json!([{"sku": "COOKER"}]), json!([mobile(20_000), cash(10_000)]))),
        // 09:45: rice 2500 g = 14.98 (124) and 2 colas 7.00 (81), exact cash.
        (
            "r4",
            shanghai(d, "09:45"),
            basket("T01", json!([{"sku": "RICE", "weightGrams": 2500}, {"barcode": cola_upc_a(), "quantity": 2}]), json!([cash(2198)])),
        ),
        // 13:05: 3 teas 24.00 (276), 2 soaps 7.00 (81, ties with cola), eggs 12.00 (99), and the
        // two 1.00 shared-code items by sku (8 each): 45.00, 20.00 card and 25.00 mobile.
        (
            "r5",
            shanghai(d, "13:05"),
            basket(
                "T02",
                json!([{"sku": "TEA", "quantity": 3}, {"sku": "SOAP", "quantity": 2}, {"sku": "EGGS"}, {"sku": "SHARE-A"}, {"sku": "SHARE-B"}]),
                json!([card(2000), mobile(2500)]),
            ),
        ),
        // 20:00: a flash kettle 99.00 (1139) and a milk 12.99 (149), by card.
        ("r6", shanghai(d, "20:00"), basket("T01", json!([{"sku": "FLASH"}, {"sku": "MILK"}]), json!([card(11_199)]))),
        // 23:59: 2 cakes by sku 20.00 (230), 50.00 cash, change 30.00.
        ("r7", shanghai(d, "23:59"), basket("T03", json!([{"sku": "CAKE", "quantity": 2}]), json!([cash(5000)]))),
    ];
    let mut receipts = Vec::new();
    for (key, when, body) in day_sales {
        receipts.push(till.sold("S001", key, &at(body, &when)).await);
    }
    // The neighbouring days of S001, one minute either side.
    let prev = d.pred_opt().unwrap();
    let next = d.succ_opt().unwrap();
    let milk = || basket("T01", json!([{"sku": "MILK"}]), json!([card(1299)]));
    till.sold("S001", "before", &at(milk(), &shanghai(prev, "23:59"))).await;
    till.sold("S001", "after", &at(milk(), &shanghai(next, "00:00"))).await;
    // S002 sells rice at noon: 14.98, 15.00 cash.
    let s002 = till.sold("S002", "s2", &at(basket("T01", json!([{"sku": "RICE", "weightGrams": 2500}]), json!([cash(1500)])), &shanghai(d, "12:00"))).await;
    // London sells a milk at 23:30 UTC on the report day: London's day, Shanghai's next day.
    let london = format!("{d}T23:30:00Z");
    till.sold("S003", "s3", &at(milk(), &london)).await;
    (receipts, s002)
}

#[tokio::test]
async fn a_store_report_equals_the_sums_of_its_receipts() {
    let mut office = Office::new().await;
    let receipts = a_sales_day(&office).await;
    office.drain().await;
    let d = report_day();
    let report = office.store_day("S001", d).await;
    assert_eq!(report, sums(&receipts, "S001", d, 8));

    // And to the cent, by hand.
    assert_eq!((report["salesCount"].clone(), report["itemsSold"].clone()), (json!(7), json!(20)));
    assert_eq!((report["grossAmount"].clone(), report["taxAmount"].clone()), (json!(55_266), json!(6200)));
    assert_eq!(report["byPaymentMethod"], json!({"cash": 16_696, "card": 16_070, "mobile": 22_500}));
    let hours: Vec<(i64, i64, i64)> = report["byHour"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["salesCount"] != json!(0))
        .map(|h| (h["hour"].as_i64().unwrap(), h["salesCount"].as_i64().unwrap(), h["grossAmount"].as_i64().unwrap()))
        .collect();
    assert_eq!(hours, [(0, 1, 2598), (7, 1, 2871), (9, 2, 32_098), (13, 1, 4500), (20, 1, 11_199), (23, 1, 2000)]);
    assert_eq!(report["byHour"].as_array().unwrap().len(), 24);
    let top: Vec<(&str, i64)> =
        report["topCommodities"].as_array().unwrap().iter().map(|t| (t["sku"].as_str().unwrap(), t["amount"].as_i64().unwrap())).collect();
    assert_eq!(
        top,
        [("COOKER", 29_900), ("FLASH", 9900), ("MILK", 3897), ("CAKE", 2899), ("TEA", 2400), ("APPLE", 1972), ("RICE", 1498), ("EGGS", 1200), ("COLA", 700), ("SOAP", 700)]
    );
    assert_eq!(report["topCommodities"][5], json!({"sku": "APPLE", "name": "Apples", "weightGrams": 1234, "amount": 1972}));
    assert_eq!(report["topCommodities"][3], json!({"sku": "CAKE", "name": "Cake slice", "quantity": 3, "amount": 2899}));
}

#[tokio::test]
async fn the_neighbouring_days_hold_only_their_own_sales() {
    let mut office = Office::new().await;
    a_sales_day(&office).await;
    office.drain().await;
    let d = report_day();
    for day in [d.pred_opt().unwrap(), d.succ_opt().unwrap()] {
        let r = office.store_day("S001", day).await;
        assert_eq!((r["salesCount"].clone(), r["grossAmount"].clone()), (json!(1), json!(1299)), "{day}");
    }
    let before = office.store_day("S001", d.pred_opt().unwrap()).await;
    assert_eq!(before["byHour"][23], json!({"hour": 23, "salesCount": 1, "grossAmount": 1299}));
    let after = office.store_day("S001", d.succ_opt().unwrap()).await;
    assert_eq!(after["byHour"][0], json!({"hour": 0, "salesCount": 1, "grossAmount": 1299}));
}

#[tokio::test]
async fn the_chain_report_lists_every_store_on_its_own_business_day_and_sums_them() {
    let mut office = Office::new().await;
    let receipts = a_sales_day(&office).await;
    office.drain().await;
    let d = report_day();
    let chain = office.chain_day(d).await;
    // London's 23:30 UTC sale is on London's report day (GMT in winter, BST in summer).
    let london_day = (d.and_hms_opt(23, 30, 0).unwrap().and_utc()).with_timezone(&chrono_tz::Europe::London).date_naive();
    let s003 = if london_day == d { (1, 1299) } else { (0, 0) };
    let s001_gross: i64 = receipts.iter().map(|r| r["total"].as_i64().unwrap()).sum();
    assert_eq!(
        chain["stores"],
        json!([
            {"storeId": "S001", "salesCount": 7, "grossAmount": s001_gross, "returnsAmount": 0, "netAmount": s001_gross},
            {"storeId": "S002", "salesCount": 1, "grossAmount": 1498, "returnsAmount": 0, "netAmount": 1498},
            {"storeId": "S003", "salesCount": s003.0, "grossAmount": s003.1, "returnsAmount": 0, "netAmount": s003.1},
            {"storeId": "S004", "salesCount": 0, "grossAmount": 0, "returnsAmount": 0, "netAmount": 0}
        ])
    );
    assert_eq!(chain["discountAmount"], json!(0));
    assert_eq!(chain["salesCount"], json!(8 + s003.0));
    assert_eq!(chain["grossAmount"], json!(55_266 + 1498 + s003.1));
    // Tax: S001 62.00, S002's rice 1.24, London's milk 1.49.
    assert_eq!(chain["taxAmount"], json!(6200 + 124 + if s003.0 == 1 { 149 } else { 0 }));
    assert_eq!((chain["date"].clone(), chain["currency"].clone()), (json!(d.to_string()), json!("CNY")));
    // London's report counts its sale in London's clock hour.
    let london_hour = d.and_hms_opt(23, 30, 0).unwrap().and_utc().with_timezone(&chrono_tz::Europe::London).format("%H").to_string();
    let r = office.store_day("S003", d).await;
    let h: usize = london_hour.parse().unwrap();
    assert_eq!(r["byHour"][h]["salesCount"], json!(s003.0), "hour {h}");
    // Each store's row equals its own report.
    for row in chain["stores"].as_array().unwrap() {
        let r = office.store_day(row["storeId"].as_str().unwrap(), d).await;
        assert_eq!((&r["salesCount"], &r["grossAmount"]), (&row["salesCount"], &row["grossAmount"]));
    }
    // asOf is the latest of the stores' asOf.
    let mut latest: Vec<String> = Vec::new();
    for row in chain["stores"].as_array().unwrap() {
        if let Some(t) = office.store_day(row["storeId"].as_str().unwrap(), d).await["asOf"].as_str() {
            latest.push(t.to_owned());
        }
    }
    assert_eq!(chain["asOf"].as_str(), latest.iter().max().map(String::as_str));
}

#[tokio::test]
async fn promotions_reach_the_reports_once_with_what_each_took_off() {
    let mut office = Office::new().await;
    let d = report_day();
    let shop = &office.till.shop;
    let window = |from: &str, to: &str| (shanghai(d, from), shanghai(d, to));
    let (from, to) = window("00:00", "23:59");
    shop.seed_promotion("milk-10", &json!({"name": "Milk 10 % off", "scope": "chain", "validFrom": from, "validTo": to,
        "rule": {"kind": "percent_off", "percentBp": 1000, "skus": ["MILK"]}})).await;
    let (from, to) = window("12:00", "23:59");
    shop.seed_promotion("spend-100", &json!({"name": "100 spent, 10 off", "scope": "store:S001", "validFrom": from, "validTo": to,
        "rule": {"kind": "spend_and_save", "threshold": 10_000, "discount": 1000, "repeat": true}})).await;
    let sales = [
        // 09:00: 3 milks, 38.97 less 3.90: 35.07; the spend-and-save has not started.
        ("p1", shanghai(d, "09:00"), basket("T01", json!([{"sku": "MILK", "quantity": 3}]), json!([cash(4000)]))),
        // 13:00: the cooker 299.00 and a milk 12.99 less 1.30: 310.69, three times 10.00 off: 280.69.
        ("p2", shanghai(d, "13:00"), basket("T02", json!([{"sku": "COOKER"}, {"sku": "MILK"}]), json!([card(28_069)]))),
        // 14:00: a cola, nothing off.
        ("p3", shanghai(d, "14:00"), basket("T01", json!([{"sku": "COLA"}]), json!([cash(350)]))),
    ];
    let mut receipts = Vec::new();
    for (key, when, body) in sales {
        receipts.push(office.till.sold("S001", key, &at(body, &when)).await);
    }
    assert_eq!(receipts.iter().map(|r| r["discountTotal"].as_i64().unwrap()).collect::<Vec<_>>(), [390, 130 + 3000, 0]);
    office.drain().await;
    let report = office.store_day("S001", d).await;
    assert_eq!(report, sums(&receipts, "S001", d, 8));
    assert_eq!(report["discountAmount"], json!(3520));
    assert_eq!(
        report["byPromotion"],
        json!([{"promotionId": "milk-10", "salesCount": 2, "discount": 520}, {"promotionId": "spend-100", "salesCount": 1, "discount": 3000}])
    );
    // A commodity's amount is what was paid for it: 35.07 + the milk's share of p2.
    let milk = report["topCommodities"].as_array().unwrap().iter().find(|c| c["sku"] == "MILK").unwrap().clone();
    assert_eq!(milk["amount"], json!(3507 + receipts[1]["lines"][1]["netAmount"].as_i64().unwrap()));
    let chain = office.chain_day(d).await;
    assert_eq!((chain["discountAmount"].clone(), chain["grossAmount"].clone()), (json!(3520), json!(3507 + 28_069 + 350)));
    // The stream again: nothing counted twice.
    let (all, _) = office.till.shop.store.entries_since(0);
    office.aggregator.fold(event(office.records(1, &all))).await.unwrap();
    assert_eq!(office.store_day("S001", d).await, report);
}

#[tokio::test]
async fn replaying_the_stream_changes_no_report() {
    let mut office = Office::new().await;
    a_sales_day(&office).await;
    office.drain().await;
    let d = report_day();
    let (store, chain) = (office.store_day("S001", d).await, office.chain_day(d).await);
    let (all, _) = office.till.shop.store.entries_since(0);
    for _ in 0..2 {
        office.aggregator.fold(event(office.records(1, &all))).await.unwrap();
    }
    assert_eq!(office.store_day("S001", d).await, store);
    assert_eq!(office.chain_day(d).await, chain);
}

#[tokio::test]
async fn a_return_counts_once_in_the_store_and_on_the_day_that_took_it_back_however_often_the_stream_replays() {
    let mut office = Office::new().await;
    let (receipts, s002) = a_sales_day_and_its_neighbours(&office).await;
    office.drain().await;
    let d = report_day();
    let s002_before = office.store_day("S002", d).await;
    // In the evening of the report day S001 takes back one of the two milks of its first basket
    // (12.99 in cash, at T01; tax round(2.99 / 2) = 1.50) and all of S002's rice (14.98 in cash, at T05, a desk that sold
    // nothing).
    let evening: DateTime<Utc> = shanghai(d, "18:30").parse().unwrap();
    let milk = office.take_back("S001", "back-1", "T01", &receipts[0], &[(0, Some(1))], evening).await;
    let rice = office.take_back("S001", "back-2", "T05", &s002, &[(0, None)], evening + Duration::minutes(5)).await;
    assert_eq!((milk["total"].clone(), milk["taxTotal"].clone(), milk["businessDay"].clone()), (json!(1299), json!(150), json!(d.to_string())));
    assert_eq!((rice["total"].clone(), rice["storeId"].clone(), rice["sale"]["storeId"].clone()), (json!(1498), json!("S001"), json!("S002")));
    let returns = [milk, rice];

    // Drained, then the whole stream delivered twice more: each return counts once.
    office.drain().await;
    let (all, _) = office.till.shop.store.entries_since(0);
    assert_eq!(all.iter().filter(|e| matches!(e, LedgerEntry::Return(_))).count(), 2);
    for _ in 0..2 {
        let response = office.aggregator.fold(event(office.records(1, &all))).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
    }
    let report = office.store_day("S001", d).await;
    assert_eq!(report, sums_with_returns(&receipts, &returns, "S001", d, 8));
    assert_eq!((report["returnsCount"].clone(), report["returnsAmount"].clone(), report["returnsTax"].clone()), (json!(2), json!(2797), json!(150 + 124)));
    assert_eq!(report["refundsByMethod"], json!({"cash": 2797, "card": 0, "mobile": 0}));
    assert_eq!((report["grossAmount"].clone(), report["netAmount"].clone()), (json!(55_266), json!(55_266 - 2797)));
    // The sales' own figures are the sales' alone.
    assert_eq!(report["byPaymentMethod"], json!({"cash": 16_696, "card": 16_070, "mobile": 22_500}));
    let t01 = report["byTerminal"].as_array().unwrap().iter().find(|t| t["terminalId"] == "T01").unwrap();
    assert_eq!((t01["returnsCount"].clone(), t01["cashOut"].clone()), (json!(1), json!(1299)));
    let t05 = report["byTerminal"].as_array().unwrap().iter().find(|t| t["terminalId"] == "T05").unwrap();
    assert_eq!(
        t05,
        &json!({"terminalId": "T05", "salesCount": 0, "offlineSalesCount": 0, "grossAmount": 0, "returnsCount": 1, "returnsAmount": 1498, "cashIn": 0, "cashOut": 1498})
    );
    // The store that sold the rice keeps its sale whole; the chain nets each store's returns.
    assert_eq!(office.store_day("S002", d).await, s002_before);
    let chain = office.chain_day(d).await;
    assert_eq!(chain["stores"][0], json!({"storeId": "S001", "salesCount": 7, "grossAmount": 55_266, "returnsAmount": 2797, "netAmount": 55_266 - 2797}));
    assert_eq!(chain["stores"][1], json!({"storeId": "S002", "salesCount": 1, "grossAmount": 1498, "returnsAmount": 0, "netAmount": 1498}));
    assert_eq!(chain["returnsAmount"], json!(2797));
    assert_eq!(chain["netAmount"].as_i64().unwrap(), chain["grossAmount"].as_i64().unwrap() - 2797);
}

#[tokio::test]
async fn a_report_trails_the_stream_and_catches_up_once_it_drains() {
    let mut office = Office::new().await;
    let d = report_day();
    let milk = basket("T01", json!([{"sku": "MILK"}]), json!([cash(1299)]));
    let first = office.till.sold("S001", "k1", &at(milk.clone(), &shanghai(d, "10:00"))).await;
    office.drain().await;
    let second = office.till.sold("S001", "k2", &at(milk, &shanghai(d, "11:00"))).await;
    // Not yet delivered: the report shows the first sale only, as of that sale.
    let r = office.store_day("S001", d).await;
    assert_eq!(r, sums(std::slice::from_ref(&first), "S001", d, 8));
    office.drain().await;
    assert_eq!(office.store_day("S001", d).await, sums(&[first, second], "S001", d, 8));
}

#[tokio::test]
async fn a_till_that_backdates_shows_in_its_terminals_offline_count() {
    let mut office = Office::new().await;
    let till = &office.till;
    // Three sales at T01 (now, 4 minutes ago, 10 minutes ago) and two at T02 (an hour ago, now);
    // all on the same Shanghai business day unless that day began within the last hour.
    let now = Utc::now();
    if (now + Duration::hours(8)).format("%H").to_string() == "00" {
        return; // 00:xx in Shanghai: an hour ago was yesterday; the sums test covers the rest.
    }
    let mut totals = BTreeMap::<&str, i64>::new();
    for (key, terminal, ago) in [("b1", "T01", 0), ("b2", "T01", 4), ("b3", "T01", 10), ("b4", "T02", 60), ("b5", "T02", 0)] {
        let sale = basket(terminal, json!([{"sku": "MILK"}]), json!([cash(5000)]));
        let receipt = till.sold("S001", key, &at(sale, &rfc(now - Duration::minutes(ago)))).await;
        *totals.entry(terminal).or_default() += receipt["total"].as_i64().unwrap();
    }
    office.drain().await;
    let today = (now + Duration::hours(8)).date_naive();
    let report = office.store_day("S001", today).await;
    let rows: Vec<(&str, i64, i64, i64)> = report["byTerminal"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["terminalId"].as_str().unwrap(), t["salesCount"].as_i64().unwrap(), t["offlineSalesCount"].as_i64().unwrap(), t["cashIn"].as_i64().unwrap()))
        .collect();
    // Paid in cash with change back: each drawer took exactly its sales' totals.
    assert_eq!(rows, [("T01", 3, 1, totals["T01"]), ("T02", 2, 1, totals["T02"])], "{report}");
}

#[tokio::test]
async fn a_day_without_sales_is_all_zeros_not_404() {
    let office = Office::new().await;
    let d = report_day();
    let r = office.store_day("S002", d).await;
    assert_eq!(r, sums(&[], "S002", d, 8));
    assert_eq!(r["asOf"], Value::Null);
    assert_eq!(r["topCommodities"], json!([]));
    assert_eq!(r["byPaymentMethod"], json!({"cash": 0, "card": 0, "mobile": 0}));
    let chain = office.chain_day(d).await;
    assert_eq!(
        chain,
        json!({
            "date": d.to_string(), "currency": "CNY", "salesCount": 0, "grossAmount": 0, "taxAmount": 0,
            "returnsAmount": 0, "netAmount": 0, "discountAmount": 0,
            "stores": [
                {"storeId": "S001", "salesCount": 0, "grossAmount": 0, "returnsAmount": 0, "netAmount": 0},
                {"storeId": "S002", "salesCount": 0, "grossAmount": 0, "returnsAmount": 0, "netAmount": 0}
            ],
            "asOf": null
        })
    );
}

#[tokio::test]
async fn a_store_days_commodities_page_by_sku_with_what_was_sold_and_what_came_back() {
    let mut office = Office::new().await;
    let (receipts, s002) = a_sales_day_and_its_neighbours(&office).await;
    office.drain().await;
    let d = report_day();
    let evening: DateTime<Utc> = shanghai(d, "18:30").parse().unwrap();
    let milk = office.take_back("S001", "back-1", "T01", &receipts[0], &[(0, Some(1))], evening).await;
    let rice = office.take_back("S001", "back-2", "T05", &s002, &[(0, None)], evening + Duration::minutes(5)).await;
    office.drain().await;

    // What the receipts say, per sku: sold (units, grams, amount) and taken back.
    let mut want: BTreeMap<String, Value> = BTreeMap::new();
    for l in receipts.iter().flat_map(|r| r["lines"].as_array().unwrap()) {
        let e = want.entry(l["sku"].as_str().unwrap().to_owned()).or_insert_with(|| {
            let mut row = json!({"sku": l["sku"], "name": l["name"], "amount": 0, "returnsAmount": 0});
            let (sold, back) = if l.get("weightGrams").is_some() { ("weightGrams", "returnedWeightGrams") } else { ("quantity", "returnedQuantity") };
            row[sold] = json!(0);
            row[back] = json!(0);
            row
        });
        let (member, measure) = match l.get("weightGrams") { Some(g) => ("weightGrams", g), None => ("quantity", &l["quantity"]) };
        e[member] = json!(e[member].as_i64().unwrap() + measure.as_i64().unwrap());
        e["amount"] = json!(e["amount"].as_i64().unwrap() + l["netAmount"].as_i64().unwrap());
    }
    // The rice was sold in S002 and came back in S001 (which sold rice of its own too).
    let rice_row = want.get_mut("RICE").unwrap();
    rice_row["returnedWeightGrams"] = rice["lines"][0]["weightGrams"].clone();
    rice_row["returnsAmount"] = json!(1498);
    let milk_row = want.get_mut(milk["lines"][0]["sku"].as_str().unwrap()).unwrap();
    milk_row["returnedQuantity"] = json!(1);
    milk_row["returnsAmount"] = json!(1299);
    assert_eq!(want.len(), 12, "twelve sold");

    for limit in [1, 5, 12, 200] {
        let pages = office.commodities("S001", d, limit).await;
        assert_eq!(pages.len(), want.len().div_ceil(limit).max(1), "limit {limit}");
        let listed: Vec<Value> = pages.iter().flat_map(|p| p["items"].as_array().unwrap().clone()).collect();
        // Every commodity once, by sku, each as the receipts sum it.
        assert_eq!(listed, want.values().cloned().collect::<Vec<_>>(), "limit {limit}");
    }
    // The top commodities are net of the returns: the milk ranks by what it kept.
    let report = office.store_day("S001", d).await;
    let top = report["topCommodities"].as_array().unwrap();
    let milk_top = top.iter().find(|t| t["sku"] == milk_row_sku(&milk)).unwrap();
    let milk_sold = &want[milk_row_sku(&milk)];
    assert_eq!(milk_top["amount"], json!(milk_sold["amount"].as_i64().unwrap() - 1299));
    assert_eq!(milk_top["quantity"], json!(milk_sold["quantity"].as_i64().unwrap() - 1));
    // A day without sales lists nothing, in one page.
    let empty = office.commodities("S004", d, 10).await;
    assert_eq!((empty.len(), &empty[0]["items"], &empty[0]["nextCursor"]), (1, &json!([]), &json!(null)));
}

fn milk_row_sku(milk_return: &Value) -> &str {
    milk_return["lines"][0]["sku"].as_str().unwrap()
}

mod refusals {
    use super::*;

    #[tokio::test]
    async fn the_commodities_route_refuses_a_bad_date_limit_or_cursor_before_an_unknown_store() {
        let office = Office::new().await;
        let at = |store: &str, query: &str| commodities_event(store, query).claims(HO, None);
        for query in ["", "?date=2026-13-01", "?date=2026-11-11&limit=0", "?date=2026-11-11&limit=1001", "?date=2026-11-11&limit=%2B5",
            "?date=2026-11-11&limit=x", "?date=2026-11-11&cursor=", "?date=2026-11-11&cursor=nonsense"]
        {
            office.call(at("S001", query)).await.problem(400, "invalid_request");
            office.call(at("S999", query)).await.problem(400, "invalid_request");
        }
        let cursor = |store: &str, date: &str| {
            retail_core::domain::report::DayCommoditiesCursor {
                store: StoreId::parse(store).unwrap(),
                date: date.parse().unwrap(),
                after: retail_core::domain::Sku::parse("MILK").unwrap(),
            }
            .encode()
        };
        // Another store's or another day's cursor is 400; one's own is a page.
        office.call(at("S001", &format!("?date=2026-11-11&cursor={}", cursor("S002", "2026-11-11")))).await.problem(400, "invalid_request");
        office.call(at("S001", &format!("?date=2026-11-11&cursor={}", cursor("S001", "2026-11-10")))).await.problem(400, "invalid_request");
        office.call(at("S001", &format!("?date=2026-11-11&cursor={}", cursor("S001", "2026-11-11")))).await.ok(200);
        office.call(at("S999", &format!("?date=2026-11-11&cursor={}", cursor("S999", "2026-11-11")))).await.problem(404, "not_found");
        office.call(at("S999", "?date=2026-11-11")).await.problem(404, "not_found");
        // A till may not read it; a manager only their own store's.
        office.call(commodities_event("S001", "?date=2026-11-11").claims("pos", Some("S001"))).await.problem(403, "forbidden_scope");
        office.call(commodities_event("S001", "?date=2026-11-11").claims("store", Some("S002"))).await.problem(403, "forbidden_store");
        office.call(commodities_event("S001", "?date=2026-11-11").claims("store", Some("S001"))).await.ok(200);
    }

    #[tokio::test]
    async fn a_missing_or_malformed_date_is_400() {
        let office = Office::new().await;
        for query in ["", "?day=2026-11-11", "?date=", "?date=2026-11-1", "?date=2026-13-01", "?date=2026-02-30", "?date=20261111", "?date=2026-11-11T00:00:00Z", "?date=+2026-11-11", "?date=11/11/2026"] {
            let a = office.call(store_report_event("S001", query).claims(HO, None)).await;
            assert_eq!(a.status, 400, "{query}: {}", a.body);
            a.problem(400, "invalid_request");
            office.call(chain_report_event(query).claims(HO, None)).await.problem(400, "invalid_request");
        }
    }

    #[tokio::test]
    async fn an_unknown_store_is_404_and_a_malformed_one_400() {
        let office = Office::new().await;
        office.call(store_report_event("S999", "?date=2026-11-11").claims(HO, None)).await.problem(404, "not_found");
        office.call(store_report_event("s001", "?date=2026-11-11").claims(HO, None)).await.problem(400, "invalid_request");
        // 400 answers before 404.
        office.call(store_report_event("S999", "?date=tomorrow").claims(HO, None)).await.problem(400, "invalid_request");
    }

    #[tokio::test]
    async fn a_till_may_not_read_reports() {
        let office = Office::new().await;
        office.call(store_report_event("S001", "?date=2026-11-11").claims("pos", Some("S001"))).await.problem(403, "forbidden_scope");
        office.call(chain_report_event("?date=2026-11-11").claims("pos", Some("S001"))).await.problem(403, "forbidden_scope");
        // Scope is checked before the query.
        office.call(store_report_event("S001", "").claims("pos", Some("S001"))).await.problem(403, "forbidden_scope");
    }

    #[tokio::test]
    async fn a_store_manager_reads_their_own_store_only_and_never_the_chain() {
        let office = Office::new().await;
        let q = "?date=2026-11-11";
        office.call(store_report_event("S001", q).claims("store", Some("S002"))).await.problem(403, "forbidden_store");
        office.call(store_report_event("S001", q).claims("store", None)).await.problem(403, "forbidden_store");
        office.call(store_report_event("S001", q).claims("store", Some("S001"))).await.ok(200);
        office.call(chain_report_event(q).claims("store", Some("S001"))).await.problem(403, "forbidden_scope");
        office.call(chain_report_event(q).claims(HO, None)).await.ok(200);
        office.call(store_report_event("S001", q).without_authorizer()).await.problem(401, "unauthorized");
        office.call(chain_report_event(q).without_authorizer()).await.problem(401, "unauthorized");
    }
}
