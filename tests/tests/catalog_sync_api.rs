//! A till syncs the seeded catalog over HTTP, as README's "For till developers" says: the
//! snapshot, then head office's flash price from the walk-through, then the delta; what the
//! till holds prices every commodity exactly as the lookups do. On the embedded store, on moto
//! and with the functions under the Runtime Interface Emulator.

use chrono::{DateTime, Utc};
use retail_tests::{Mode, SpawnedApi, answer, client};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// What a till holds: each sku's commodity and prices as last sent.
#[derive(Default)]
struct Till {
    cursor: Option<String>,
    commodities: BTreeMap<String, Value>,
    prices: BTreeMap<String, Vec<Value>>,
    promotions: BTreeMap<String, Value>,
    store: Option<Value>,
    pages: usize,
    bytes: usize,
    largest_page: usize,
}

fn instant(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().map(|s| DateTime::parse_from_rfc3339(s).expect("an RFC 3339 time").with_timezone(&Utc))
}

impl Till {
    /// Follows `more` to the end of a snapshot or of the changes.
    async fn sync(&mut self, api: &SpawnedApi, token: &str) {
        let c = client();
        loop {
            let mut url = api.url("/stores/S001/catalog?limit=500");
            if let Some(cursor) = &self.cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let response = c.get(url).bearer_auth(token).send().await.unwrap();
            let a = answer(response).await;
            assert_eq!(a.status, 200, "{}", a.body);
            let size = a.body.to_string().len();
            assert!(size <= 1_048_576, "a page of {size} bytes");
            self.bytes += size;
            self.largest_page = self.largest_page.max(size);
            self.pages += 1;
            assert_eq!(a.body["storeId"], "S001");
            for change in a.body["changes"].as_array().expect("changes") {
                match change["kind"].as_str().expect("a kind") {
                    "commodity" => {
                        self.commodities.insert(change["sku"].as_str().unwrap().to_owned(), change["commodity"].clone());
                    }
                    "prices" => {
                        let prices = change["prices"].as_array().expect("prices").clone();
                        self.prices.insert(change["sku"].as_str().unwrap().to_owned(), prices);
                    }
                    "promotion" => {
                        let id = change["promotionId"].as_str().unwrap().to_owned();
                        match &change["promotion"] {
                            Value::Null => self.promotions.remove(&id),
                            p => self.promotions.insert(id, p.clone()),
                        };
                    }
                    "store" => self.store = Some(change["store"].clone()),
                    other => panic!("a change of kind {other}"),
                }
            }
            self.cursor = Some(a.body["cursor"].as_str().expect("a cursor").to_owned());
            if a.body["more"] == json!(false) {
                return;
            }
        }
    }

    /// The price a till shows at `at`: of the adjustments in force, the last listed.
    fn price_at(&self, sku: &str, at: DateTime<Utc>) -> Option<&Value> {
        self.prices.get(sku)?.iter().rev().find(|p| {
            instant(&p["validFrom"]).is_some_and(|from| from <= at) && instant(&p["validTo"]).is_none_or(|to| at < to)
        })
    }
}

async fn a_till_synced_by_snapshot_and_delta_prices_as_the_lookups_do(mode: Mode) {
    let api = SpawnedApi::spawn_seeded(mode);
    let c = client();
    let till_token = api.token("pos", Some("S001"));
    let ho = api.token("headoffice", None);
    let mut till = Till::default();
    till.sync(&api, &till_token).await;
    let (snapshot_pages, snapshot_bytes) = (till.pages, till.bytes);
    assert!(!till.commodities.is_empty());
    assert_eq!(till.store.as_ref().map(|s| s["storeId"].clone()), Some(json!("S001")));
    println!(
        "{mode:?}: snapshot of {} commodities and {} promotions in {snapshot_pages} pages, {snapshot_bytes} bytes, the largest {} bytes",
        till.commodities.len(),
        till.promotions.len(),
        till.largest_page
    );

    // The walk-through's flash price for the next four hours, chain-wide.
    let from = Utc::now();
    let to = from + chrono::Duration::hours(4);
    let batch = json!({
        "batchId": "sync-flash",
        "adjustments": [{"sku": "MILK-1L", "scope": "chain", "amount": 990,
            "validFrom": from.to_rfc3339(), "validTo": to.to_rfc3339(), "reason": "flash"}]
    });
    let a = answer(c.post(api.url("/price-adjustments")).bearer_auth(&ho).json(&batch).send().await.unwrap()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let (pages, bytes) = (till.pages, till.bytes);
    till.sync(&api, &till_token).await;
    println!("{mode:?}: the delta after it: {} pages, {} bytes", till.pages - pages, till.bytes - bytes);
    let now = Utc::now();
    assert_eq!(till.price_at("MILK-1L", now).map(|p| p["amount"].clone()), Some(json!(990)));
    assert!(till.price_at("MILK-1L", to).map(|p| p["amount"].clone()).is_some_and(|a| a != json!(990)));

    // Every commodity the till holds, looked up: the same commodity and the same price now.
    let skus: Vec<&String> = till.commodities.keys().collect();
    for chunk in skus.chunks(100) {
        let body = json!({"skus": chunk});
        let a = answer(
            c.post(api.url("/stores/S001/commodities/lookup")).bearer_auth(&till_token).json(&body).send().await.unwrap(),
        )
        .await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["notFound"], json!([]));
        for item in a.body["items"].as_array().unwrap() {
            let sku = item["sku"].as_str().unwrap();
            let held = &till.commodities[sku];
            for member in ["name", "unit", "taxRateBp", "barcodes", "category"] {
                assert_eq!(held[member], item[member], "{sku}: {member}");
            }
            let price = till.price_at(sku, now);
            assert_eq!(
                price.map(|p| (p["amount"].clone(), p["adjustmentId"].clone())),
                item["price"].as_object().map(|p| (p["amount"].clone(), p["adjustmentId"].clone())),
                "{sku}: the till's price and the lookup's"
            );
        }
    }
}

retail_tests::in_every_mode!(a_till_synced_by_snapshot_and_delta_prices_as_the_lookups_do);
