//! A shop for handler tests: one `MemoryStore` shared by the catalog, lookup and price handlers,
//! seeded through the handlers themselves, and real API Gateway v2 events aimed at each route.
//! (commodity-lookup and price-adjustment include this file by path.)
#![allow(dead_code)]

use catalog_admin::CatalogAdmin;
use commodity_lookup::CommodityLookup;
use lambda_http::{Body, Request, RequestExt, Response};
use price_adjustment::PriceAdjustments;
use retail_core::http::HttpFunction;
use retail_core::http::testing::Event;
use retail_core::store::memory::MemoryStore;
use serde_json::{Value, json};
use std::collections::HashMap;

/// The gateway's request id in the recorded fixture every event is built from.
pub const REQUEST_ID: &str = "JKJaXmPLvHcESHA=";
/// The contract's body limit.
pub const MAX_BODY: usize = 1_048_576;
pub const HO: &str = "headoffice";

/// `body` followed by its GS1 check digit (weights 3,1,3,... from the right of the body).
pub fn gs1(body: &str) -> String {
    let sum: u32 = body
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 })
        .sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

/// The same code with its check digit off by one.
pub fn wrong_check(code: &str) -> String {
    let (body, check) = code.split_at(code.len() - 1);
    let d = check.as_bytes()[0] - b'0';
    format!("{body}{}", (d + 1) % 10)
}

/// `{json}` padded with trailing spaces to exactly `len` bytes.
pub fn padded(json: &Value, len: usize) -> String {
    let mut s = json.to_string();
    assert!(s.len() <= len);
    s.push_str(&" ".repeat(len - s.len()));
    s
}

/// Replaces a request's path parameters (for values a path split cannot carry, such as `a/b`).
pub fn with_params(request: Request, params: &[(&str, &str)]) -> Request {
    let map: HashMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    request.with_path_parameters(map)
}

/// What a handler answered, with the parts every test looks at.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
    pub x_request_id: String,
}

impl Answer {
    fn from(response: Response<Body>) -> Self {
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
        };
        let content_type = header("content-type");
        let x_request_id = header("x-request-id");
        let status = response.status().as_u16();
        let body = match response.body() {
            Body::Empty => Value::Null,
            Body::Text(t) => serde_json::from_str(t).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {t}")),
            Body::Binary(b) => serde_json::from_slice(b).unwrap_or_else(|e| panic!("{status}: not JSON ({e})")),
            _ => Value::Null,
        };
        Answer { status, body, content_type, x_request_id }
    }

    /// A success: the status, `application/json`, and the request id header.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.content_type, "application/json", "{}", self.body);
        assert_eq!(self.x_request_id, REQUEST_ID);
        &self.body
    }

    /// A refusal: RFC 9457 problem details with the stable code and the request id.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!((self.status, self.body["code"].as_str()), (status, Some(code)), "{}", self.body);
        assert_eq!(self.content_type, "application/problem+json", "{}", self.body);
        assert_eq!(self.x_request_id, REQUEST_ID);
        assert_eq!(self.body["status"], json!(status), "{}", self.body);
        assert_eq!(self.body["requestId"], json!(REQUEST_ID), "{}", self.body);
        assert!(self.body["type"].is_string(), "{}", self.body);
        assert!(self.body["title"].is_string(), "{}", self.body);
        assert!(self.body["detail"].is_string(), "{}", self.body);
        &self.body
    }
}

// Events for each route, with the fixture's token until `.claims(...)` replaces it.

pub fn put_store_event(store: &str) -> Event {
    Event::new("PUT", "/stores/{storeId}", &format!("/stores/{store}"))
}

pub fn put_commodity_event(sku: &str) -> Event {
    Event::new("PUT", "/commodities/{sku}", &format!("/commodities/{sku}"))
}

pub fn movements_event(store: &str) -> Event {
    Event::new("POST", "/stores/{storeId}/stock-movements", &format!("/stores/{store}/stock-movements"))
}

pub fn by_sku_event(store: &str, sku: &str) -> Event {
    Event::new("GET", "/stores/{storeId}/commodities/{sku}", &format!("/stores/{store}/commodities/{sku}"))
}

pub fn by_barcode_event(store: &str, barcode: &str) -> Event {
    Event::new("GET", "/stores/{storeId}/barcodes/{barcode}", &format!("/stores/{store}/barcodes/{barcode}"))
}

pub fn batch_lookup_event(store: &str) -> Event {
    Event::new("POST", "/stores/{storeId}/commodities/lookup", &format!("/stores/{store}/commodities/lookup"))
}

pub fn post_batch_event() -> Event {
    Event::new("POST", "/price-adjustments", "/price-adjustments")
}

pub fn get_batch_event(batch_id: &str) -> Event {
    Event::new("GET", "/price-adjustments/{batchId}", &format!("/price-adjustments/{batch_id}"))
}

/// `query` is the raw query string (`at=...`, URL-encoded: `+` is `%2B`).
pub fn explain_event(store: &str, sku: &str, query: &str) -> Event {
    let q = if query.is_empty() { String::new() } else { format!("?{query}") };
    Event::new("GET", "/stores/{storeId}/prices/{sku}", &format!("/stores/{store}/prices/{sku}{q}"))
}

/// A commodity body: `unit` each or kg, `policy` track or strict.
pub fn commodity(unit: &str, barcodes: &[&str], policy: &str) -> Value {
    json!({"name": "Thing", "unit": unit, "taxRateBp": 1300, "barcodes": barcodes, "stockPolicy": policy})
}

/// One shop: three handlers over one memory store.
pub struct Shop {
    pub store: MemoryStore,
    pub catalog: CatalogAdmin<MemoryStore>,
    pub lookup: CommodityLookup<MemoryStore>,
    pub prices: PriceAdjustments<MemoryStore>,
}

impl Shop {
    pub fn new() -> Self {
        let store = MemoryStore::new();
        Shop {
            catalog: CatalogAdmin::new(store.clone()),
            lookup: CommodityLookup::new(store.clone()),
            prices: PriceAdjustments::new(store.clone()),
            store,
        }
    }

    pub async fn catalog(&self, event: Event) -> Answer {
        self.catalog_request(event.request()).await
    }

    pub async fn catalog_request(&self, request: Request) -> Answer {
        Answer::from(self.catalog.call(request).await)
    }

    pub async fn lookup(&self, event: Event) -> Answer {
        self.lookup_request(event.request()).await
    }

    pub async fn lookup_request(&self, request: Request) -> Answer {
        Answer::from(self.lookup.call(request).await)
    }

    pub async fn prices(&self, event: Event) -> Answer {
        self.prices_request(event.request()).await
    }

    pub async fn prices_request(&self, request: Request) -> Answer {
        Answer::from(self.prices.call(request).await)
    }

    // Seeding, as head office would.

    pub async fn put_store(&self, store: &str, region: &str) {
        let a = self.catalog(put_store_event(store).claims(HO, None).json(&json!({"name": "Shop", "region": region}))).await;
        assert!(a.status == 201 || a.status == 200, "{}", a.body);
    }

    pub async fn put_commodity(&self, sku: &str, body: &Value) -> Answer {
        self.catalog(put_commodity_event(sku).claims(HO, None).json(body)).await
    }

    pub async fn seed_commodity(&self, sku: &str, body: &Value) {
        let a = self.put_commodity(sku, body).await;
        assert!(a.status == 201 || a.status == 200, "{}", a.body);
    }

    pub async fn move_stock(&self, store: &str, movements: Value) -> Answer {
        self.catalog(movements_event(store).claims(HO, None).json(&json!({"movements": movements}))).await
    }

    pub async fn post_batch(&self, body: &Value) -> Answer {
        self.prices(post_batch_event().claims(HO, None).json(body)).await
    }

    /// A batch of lines, all of which must be accepted.
    pub async fn seed_prices(&self, batch_id: &str, lines: Value) {
        let a = self.post_batch(&json!({"batchId": batch_id, "adjustments": lines})).await;
        let body = a.ok(201);
        assert_eq!(body["rejected"], json!([]), "{body}");
    }

    pub async fn lookup_sku(&self, store: &str, sku: &str) -> Answer {
        self.lookup(by_sku_event(store, sku).claims(HO, None)).await
    }

    pub async fn scan(&self, store: &str, barcode: &str) -> Answer {
        self.lookup(by_barcode_event(store, barcode).claims(HO, None)).await
    }

    pub async fn lookup_batch(&self, store: &str, body: &Value) -> Answer {
        self.lookup(batch_lookup_event(store).claims(HO, None).json(body)).await
    }

    /// The price in force at `at` (RFC 3339, `+` allowed: it is encoded here).
    pub async fn explain(&self, store: &str, sku: &str, at: &str) -> Answer {
        let query = format!("at={}", at.replace('+', "%2B"));
        self.prices(explain_event(store, sku, &query).claims(HO, None)).await
    }

    /// What a lookup shows on hand for `sku` in `store`.
    pub async fn on_hand(&self, store: &str, sku: &str) -> i64 {
        let a = self.lookup_sku(store, sku).await;
        a.ok(200)["stock"]["onHand"].as_i64().expect("onHand is an integer")
    }

    /// The amount a till sees for `sku` in `store` now, or `None` with `"price": null`.
    pub async fn price_now(&self, store: &str, sku: &str) -> Option<i64> {
        let a = self.lookup_sku(store, sku).await;
        let price = &a.ok(200)["price"];
        if price.is_null() { None } else { Some(price["amount"].as_i64().expect("amount is an integer")) }
    }

    /// Whether the store exists, judged by a lookup of a sku that does (`sku` must exist).
    pub async fn store_exists(&self, store: &str, known_sku: &str) -> bool {
        let a = self.lookup_sku(store, known_sku).await;
        match a.status {
            200 => true,
            404 => false,
            other => panic!("unexpected {other}: {}", a.body),
        }
    }
}
