//! A shop for handler tests: one `MemoryStore` shared by the catalog, lookup and price functions,
//! seeded through the handlers themselves, and real API Gateway v2 events aimed at each route.
//!
//! The functions themselves live in crates that depend on this one, so a test hands them in:
//! `Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new)`.

use serde_json::{Value, json};
use std::sync::Arc;

use super::answer::Answer;
use super::request::{Event, HO};
use crate::http::HttpFunction;
use crate::store::memory::MemoryStore;
use lambda_http::Request;

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

pub fn put_promotion_event(id: &str) -> Event {
    Event::new("PUT", "/promotions/{promotionId}", &format!("/promotions/{id}"))
}

pub fn get_promotion_event(id: &str) -> Event {
    Event::new("GET", "/promotions/{promotionId}", &format!("/promotions/{id}"))
}

/// `query` is the raw query string (`at=...`, URL-encoded), or empty.
pub fn store_promotions_event(store: &str, query: &str) -> Event {
    let q = if query.is_empty() { String::new() } else { format!("?{query}") };
    Event::new("GET", "/stores/{storeId}/promotions", &format!("/stores/{store}/promotions{q}"))
}

/// A commodity body: `unit` each or kg, `policy` track or strict.
pub fn commodity(unit: &str, barcodes: &[&str], policy: &str) -> Value {
    json!({"name": "Thing", "unit": unit, "taxRateBp": 1300, "barcodes": barcodes, "stockPolicy": policy})
}

/// One shop: three handlers over one memory store.
pub struct Shop {
    pub store: MemoryStore,
    /// catalog-admin.
    pub catalog: Arc<dyn HttpFunction>,
    /// commodity-lookup.
    pub lookup: Arc<dyn HttpFunction>,
    /// price-adjustment.
    pub prices: Arc<dyn HttpFunction>,
}

impl Shop {
    /// A new memory store and the three functions over it, each made by the constructor given
    /// (`CatalogAdmin::new`, `CommodityLookup::new`, `PriceAdjustments::new`).
    pub fn new<C, L, P>(
        catalog: impl FnOnce(MemoryStore) -> C,
        lookup: impl FnOnce(MemoryStore) -> L,
        prices: impl FnOnce(MemoryStore) -> P,
    ) -> Self
    where
        C: HttpFunction,
        L: HttpFunction,
        P: HttpFunction,
    {
        let store = MemoryStore::new();
        Shop {
            catalog: Arc::new(catalog(store.clone())),
            lookup: Arc::new(lookup(store.clone())),
            prices: Arc::new(prices(store.clone())),
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

    /// `PUT /promotions/{id}` as head office.
    pub async fn put_promotion(&self, id: &str, body: &Value) -> Answer {
        self.prices(put_promotion_event(id).claims(HO, None).json(body)).await
    }

    /// A promotion that must be accepted (created or changed).
    pub async fn seed_promotion(&self, id: &str, body: &Value) -> Value {
        let a = self.put_promotion(id, body).await;
        assert!(a.status == 201 || a.status == 200, "{}", a.body);
        a.body.clone()
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
