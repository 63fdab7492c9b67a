//! The contract's promise on promotions, end to end over HTTP on every adapter: a promotion
//! stored 10 seconds before its `validFrom` applies to a sale at its first second and not one
//! second before, even at a checkout that has been selling (and so remembers the promotions it
//! read) since before it was stored.

use chrono::{DateTime, Duration, SecondsFormat, SubsecRound, Utc};
use retail_tests::{Mode, SpawnedApi, answer, client};
use serde_json::{Value, json};

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn sleep_until(t: DateTime<Utc>) {
    if let Ok(wait) = (t - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
}

async fn stored_ten_seconds_ahead(mode: Mode) {
    let api = SpawnedApi::spawn_in(mode, &["--no-seed"]);
    let c = client();
    let ho = api.token("headoffice", None);
    let till = api.token("pos", Some("S001"));
    let ok = |a: &retail_tests::Answer, status: u16| assert_eq!(a.status, status, "{}", a.body);
    let a = answer(c.put(api.url("/stores/S001")).bearer_auth(&ho).json(&json!({"name": "Binjiang", "region": "EAST"})).send().await.unwrap()).await;
    ok(&a, 201);
    let milk = json!({"name": "Milk", "unit": "each", "taxRateBp": 900, "barcodes": [], "stockPolicy": "track"});
    ok(&answer(c.put(api.url("/commodities/MILK")).bearer_auth(&ho).json(&milk).send().await.unwrap()).await, 201);
    let prices = json!({"batchId": "list", "adjustments": [{"sku": "MILK", "scope": "chain", "amount": 1000, "validFrom": "2020-01-01T00:00:00Z"}]});
    ok(&answer(c.post(api.url("/price-adjustments")).bearer_auth(&ho).json(&prices).send().await.unwrap()).await, 201);

    let sell = |key: &'static str, occurred: Option<DateTime<Utc>>| {
        let mut body = json!({"terminalId": "T01", "lines": [{"sku": "MILK"}], "payments": [{"method": "cash", "amount": 2000}]});
        if let Some(t) = occurred {
            body["occurredAt"] = json!(rfc(t));
        }
        let request = c.post(api.url("/stores/S001/sales")).bearer_auth(&till).header("Idempotency-Key", key).json(&body);
        async move {
            let a = answer(request.send().await.unwrap()).await;
            assert_eq!(a.status, 201, "{key}: {}", a.body);
            a.body
        }
    };
    // The checkout sells before the promotion exists: what it remembers has none.
    assert_eq!(sell("before", None).await["total"], 1000);

    // Stored at least 10 s before it starts (its first second a whole second).
    let starts = Utc::now().trunc_subsecs(0) + Duration::seconds(11);
    let promotion = json!({"name": "Milk 10 % off", "scope": "chain", "validFrom": rfc(starts), "validTo": rfc(starts + Duration::hours(1)),
        "rule": {"kind": "percent_off", "percentBp": 1000, "skus": ["MILK"]}});
    ok(&answer(c.put(api.url("/promotions/milk-10")).bearer_auth(&ho).json(&promotion).send().await.unwrap()).await, 201);
    assert!(starts - Utc::now() >= Duration::seconds(10), "stored too late for the test to mean anything");

    // One second before it starts: full price, nothing listed.
    sleep_until(starts - Duration::seconds(1)).await;
    let r = sell("second-before", Some(starts - Duration::seconds(1))).await;
    assert_eq!((&r["total"], &r["promotions"]), (&json!(1000), &json!([])), "{r}");
    // Its first second: 10.00 − 1.00, as the clock reaches it.
    sleep_until(starts).await;
    let r = sell("first-second", Some(starts)).await;
    assert_eq!((&r["total"], &r["discountTotal"]), (&json!(900), &json!(100)), "{r}");
    assert_eq!(r["promotions"], json!([{"promotionId": "milk-10", "name": "Milk 10 % off", "discount": 100}]));
    let r = sell("at-once", None).await;
    assert_eq!(r["total"], 900, "{r}");

    // The store's tills see the same window.
    let listed = |t: DateTime<Utc>| {
        let request = c.get(api.url(&format!("/stores/S001/promotions?at={}", rfc(t)))).bearer_auth(&till);
        async move {
            let a = answer(request.send().await.unwrap()).await;
            assert_eq!(a.status, 200, "{}", a.body);
            a.body["promotions"].as_array().unwrap().iter().map(|p| p["promotionId"].clone()).collect::<Vec<Value>>()
        }
    };
    assert_eq!(listed(starts - Duration::seconds(1)).await, Vec::<Value>::new());
    assert_eq!(listed(starts).await, vec![json!("milk-10")]);
}

retail_tests::in_mode!(embedded, Embedded, stored_ten_seconds_ahead);
retail_tests::in_mode!(moto, Moto, stored_ten_seconds_ahead);
retail_tests::in_mode!(emulated, Emulated, stored_ten_seconds_ahead);
