//! A till for handler tests: the catalog-side [`Shop`] plus checkout over the same `MemoryStore`,
//! a stocked catalog seeded through the real handlers, and real API Gateway v2 events for the
//! sales routes.
//!
//! As with the shop, a test hands the function in: `Till::stocked(shop, Checkout::new)`.

use chrono::{DateTime, Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use std::sync::Arc;

use super::answer::Answer;
use super::catalog::{Shop, gs1};
use super::request::{Event, HO};
use crate::domain::sale::SaleRecord;
use crate::http::HttpFunction;
use crate::store::memory::MemoryStore;

pub const LONG_AGO: &str = "2020-01-01T00:00:00Z";
pub const FAR_AHEAD: &str = "2099-01-01T00:00:00Z";

/// A till scanning milk: EAN-13 `6901234567892`.
pub fn milk_ean13() -> String {
    gs1("690123456789")
}

/// Cola as a UPC-A (12 digits), registered and scanned as such.
pub fn cola_upc_a() -> String {
    gs1("03600029145")
}

/// A code two skus share (manufacturers reuse codes).
pub fn shared_code() -> String {
    gs1("690123456700")
}

/// A scale label `21IIIIIWWWWWC` for apples (item `2112345`).
pub fn apple_label(grams: u32) -> String {
    gs1(&format!("2112345{grams:05}"))
}

/// A price label `23IIIIIPPPPPC` for cake (item `2312345`).
pub fn cake_label(amount: u32) -> String {
    gs1(&format!("2312345{amount:05}"))
}

/// RFC 3339 UTC with `Z`, whole seconds.
pub fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A sale body.
pub fn basket(terminal: &str, lines: Value, payments: Value) -> Value {
    json!({"terminalId": terminal, "lines": lines, "payments": payments})
}

pub fn cash(amount: i64) -> Value {
    json!({"method": "cash", "amount": amount})
}

pub fn card(amount: i64) -> Value {
    json!({"method": "card", "amount": amount})
}

pub fn mobile(amount: i64) -> Value {
    json!({"method": "mobile", "amount": amount})
}

pub fn sale_event(store: &str) -> Event {
    Event::new("POST", "/stores/{storeId}/sales", &format!("/stores/{store}/sales"))
}

pub fn upload_event(store: &str) -> Event {
    Event::new("POST", "/stores/{storeId}/sales/batch", &format!("/stores/{store}/sales/batch"))
}

pub fn receipt_event(store: &str, sale_id: &str) -> Event {
    Event::new("GET", "/stores/{storeId}/sales/{saleId}", &format!("/stores/{store}/sales/{sale_id}"))
}

pub fn return_event(store: &str) -> Event {
    Event::new("POST", "/stores/{storeId}/returns", &format!("/stores/{store}/returns"))
}

pub fn return_receipt_event(store: &str, return_id: &str) -> Event {
    Event::new("GET", "/stores/{storeId}/returns/{returnId}", &format!("/stores/{store}/returns/{return_id}"))
}

pub fn returnable_event(store: &str, sale_id: &str) -> Event {
    Event::new(
        "GET",
        "/stores/{storeId}/sales/{saleId}/returnable",
        &format!("/stores/{store}/sales/{sale_id}/returnable"),
    )
}

/// A return body: `lines` as (receipt line, quantity) pairs, quantity `None` for "one unit" or
/// "all that is left" of a weighed line.
pub fn return_body(terminal: &str, receipt: &Value, lines: &[(usize, Option<i64>)], reason: &str) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|&(line, q)| {
            let weighed = receipt["lines"][line].get("weightGrams").is_some();
            match (q, weighed) {
                (None, _) => json!({"line": line}),
                (Some(q), false) => json!({"line": line, "quantity": q}),
                (Some(g), true) => json!({"line": line, "weightGrams": g}),
            }
        })
        .collect();
    json!({
        "terminalId": terminal,
        "sale": {"storeId": receipt["storeId"], "saleId": receipt["saleId"]},
        "lines": lines,
        "reason": reason,
    })
}

/// The catalog-side shop and a checkout over the same store.
pub struct Till {
    pub shop: Shop,
    /// checkout.
    pub checkout: Arc<dyn HttpFunction>,
}

/// The price list every stocked till starts with: batch `list`, in force since 2020.
pub const LIST: [(&str, i64); 9] = [
    ("MILK", 1299),
    ("COLA", 350),
    ("APPLE", 1598),
    ("CAKE", 1000),
    ("RICE", 599),
    ("COOKER", 39_900),
    ("FLASH", 9900),
    ("SHARE-A", 100),
    ("SHARE-B", 100),
];

impl Till {
    /// `shop` and checkout over its store, made by the constructor given (`Checkout::new`).
    pub fn new<K: HttpFunction>(shop: Shop, checkout: impl FnOnce(MemoryStore) -> K) -> Self {
        let checkout = Arc::new(checkout(shop.store.clone()));
        Till { shop, checkout }
    }

    /// Stores S001 (EAST, Shanghai) and S002 (WEST); a catalog of every kind of line:
    ///
    /// | sku | unit | tax | codes | policy | price |
    /// | --- | --- | --- | --- | --- | --- |
    /// | MILK | each | 13 % | EAN-13 | track | 12.99 (`list:0`) |
    /// | COLA | each | 13 % | UPC-A | track | 3.50 (`list:1`) |
    /// | APPLE | kg | 9 % | `2112345` | track | 15.98/kg (`list:2`) |
    /// | CAKE | each | 13 % | `2312345` | track | 10.00 (`list:3`) |
    /// | RICE | kg | 9 % | | track | 5.99/kg (`list:4`) |
    /// | COOKER | each | 13 % | | strict, 5 in S001 | 399.00 (`list:5`); in S001 299.00 until 2099 (`promo-1111:0`) |
    /// | FLASH | each | 13 % | | strict, none | 99.00 (`list:6`) |
    /// | SHARE-A, SHARE-B | each | 9 % | one shared code | track | 1.00 |
    /// | NOPRICE | each | 13 % | | track | none |
    pub async fn stocked<K: HttpFunction>(shop: Shop, checkout: impl FnOnce(MemoryStore) -> K) -> Self {
        let till = Till::new(shop, checkout);
        let shop = &till.shop;
        shop.put_store("S001", "EAST").await;
        shop.put_store("S002", "WEST").await;
        let body = |name: &str, unit: &str, tax: i64, barcodes: Vec<String>, policy: &str| {
            json!({"name": name, "unit": unit, "taxRateBp": tax, "barcodes": barcodes, "stockPolicy": policy})
        };
        shop.seed_commodity("MILK", &body("Milk 1L", "each", 1300, vec![milk_ean13()], "track")).await;
        shop.seed_commodity("COLA", &body("Cola 330ml", "each", 1300, vec![cola_upc_a()], "track")).await;
        shop.seed_commodity("APPLE", &body("Apples", "kg", 900, vec!["2112345".into()], "track")).await;
        shop.seed_commodity("CAKE", &body("Cake slice", "each", 1300, vec!["2312345".into()], "track")).await;
        shop.seed_commodity("RICE", &body("Rice", "kg", 900, vec![], "track")).await;
        shop.seed_commodity("COOKER", &body("Rice cooker", "each", 1300, vec![], "strict")).await;
        shop.seed_commodity("FLASH", &body("Flash kettle", "each", 1300, vec![], "strict")).await;
        shop.seed_commodity("NOPRICE", &body("Unpriced", "each", 1300, vec![], "track")).await;
        for sku in ["SHARE-A", "SHARE-B"] {
            let mut b = body(sku, "each", 900, vec![shared_code()], "track");
            b["allowSharedBarcodes"] = json!(true);
            shop.seed_commodity(sku, &b).await;
        }
        let list: Vec<Value> =
            LIST.iter().map(|(sku, amount)| json!({"sku": sku, "scope": "chain", "amount": amount, "validFrom": LONG_AGO})).collect();
        shop.seed_prices("list", Value::Array(list)).await;
        shop.seed_prices(
            "promo-1111",
            json!([{"sku": "COOKER", "scope": "store:S001", "amount": 29_900, "validFrom": LONG_AGO, "validTo": FAR_AHEAD, "reason": "11.11"}]),
        )
        .await;
        shop.move_stock("S001", json!([{"sku": "COOKER", "delta": 5, "reason": "receipt"}])).await.ok(200);
        till
    }

    pub async fn call(&self, event: Event) -> Answer {
        self.call_request(event.request()).await
    }

    /// The same with a request built by the test (a Lambda context added, for instance).
    pub async fn call_request(&self, request: lambda_http::Request) -> Answer {
        Answer::from(self.checkout.call(request).await)
    }

    /// `POST /stores/{store}/sales` as a till of that store, with `key` as `Idempotency-Key`.
    pub async fn sell(&self, store: &str, key: &str, body: &Value) -> Answer {
        self.call(sale_event(store).claims("pos", Some(store)).header("Idempotency-Key", key).json(body)).await
    }

    /// `POST /stores/{store}/sales/batch` as a till of that store.
    pub async fn upload(&self, store: &str, body: &Value) -> Answer {
        self.call(upload_event(store).claims("pos", Some(store)).json(body)).await
    }

    /// `GET /stores/{store}/sales/{saleId}` as head office.
    pub async fn receipt(&self, store: &str, sale_id: &str) -> Answer {
        self.call(receipt_event(store, sale_id).claims(HO, None)).await
    }

    /// Every sale committed so far, in commit order (the store's change stream, its returns
    /// left out).
    pub fn recorded(&self) -> Vec<Arc<SaleRecord>> {
        use crate::domain::report::LedgerEntry;
        let (entries, _) = self.shop.store.entries_since(0);
        entries.into_iter().filter_map(|e| if let LedgerEntry::Sale(s) = e { Some(s) } else { None }).collect()
    }

    /// `POST /stores/{store}/returns` as a till of that store, with `key` as `Idempotency-Key`.
    pub async fn take_back(&self, store: &str, key: &str, body: &Value) -> Answer {
        self.call(return_event(store).claims("pos", Some(store)).header("Idempotency-Key", key).json(body)).await
    }

    /// `GET /stores/{sale_store}/sales/{saleId}/returnable` as a till of `till_store`.
    pub async fn returnable(&self, sale_store: &str, sale_id: &str, till_store: &str) -> Answer {
        self.call(returnable_event(sale_store, sale_id).claims("pos", Some(till_store))).await
    }

    /// Sells `body` and insists on 201; returns the receipt.
    pub async fn sold(&self, store: &str, key: &str, body: &Value) -> Value {
        let r = self.sell(store, key, body).await;
        r.ok(201).clone()
    }
}

/// The most recent 23:30 UTC that is already past: 07:30 the next morning in Shanghai.
pub fn last_2330_utc() -> DateTime<Utc> {
    let now = Utc::now();
    let today = now.date_naive().and_hms_opt(23, 30, 0).unwrap().and_utc();
    if today <= now { today } else { today - Duration::days(1) }
}
