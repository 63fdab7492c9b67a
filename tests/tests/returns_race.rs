//! Acceptance of returns under a race, end to end over HTTP on every adapter: 20 returns at once
//! of one unit each of a line sold 5 times, from tills of two stores (10 each). Exactly 5 come
//! back, every other is refused 409 `return_exceeds_sale` with nothing left, what is left of the
//! sale shows the 5, and the two stores' stock took back exactly 5 in all, each what it took.

use retail_tests::{Mode, SpawnedApi, answer, client};
use serde_json::{Value, json};
use std::sync::Arc;

const STORES: [&str; 2] = ["S001", "S002"];

/// Two stores and one commodity with its price, set up over HTTP as head office would; the
/// first store receives 10 units.
async fn shop(api: &SpawnedApi, c: &reqwest::Client, sku: &str, policy: &str) {
    let ho = api.token("headoffice", None);
    for (i, store) in STORES.into_iter().enumerate() {
        let body = json!({"name": format!("Race {i}"), "region": if i == 0 { "EAST" } else { "WEST" }});
        let a = answer(c.put(api.url(&format!("/stores/{store}"))).bearer_auth(&ho).json(&body).send().await.unwrap()).await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
    let body = json!({"name": "Race item", "unit": "each", "taxRateBp": 900, "barcodes": [], "stockPolicy": policy, "stockShards": if policy == "strict" { Some(4) } else { None }});
    let a = answer(c.put(api.url(&format!("/commodities/{sku}"))).bearer_auth(&ho).json(&body).send().await.unwrap()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let prices = json!({"batchId": "race-prices", "adjustments": [{"sku": sku, "scope": "chain", "amount": 1299, "validFrom": "2020-01-01T00:00:00Z"}]});
    let a = answer(c.post(api.url("/price-adjustments")).bearer_auth(&ho).json(&prices).send().await.unwrap()).await;
    assert_eq!((a.status, a.body["accepted"].clone()), (201, json!(1)), "{}", a.body);
    let stock = json!({"movements": [{"sku": sku, "delta": 10, "reason": "receipt"}]});
    let a = answer(c.post(api.url("/stores/S001/stock-movements")).bearer_auth(&ho).json(&stock).send().await.unwrap()).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

async fn on_hand(api: &SpawnedApi, c: &reqwest::Client, ho: &str, store: &str, sku: &str) -> (i64, Value) {
    let a = answer(c.get(api.url(&format!("/stores/{store}/stock/{sku}"))).bearer_auth(ho).send().await.unwrap()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    (a.body["onHand"].as_i64().unwrap(), a.body["shards"].clone())
}

async fn twenty_returns_of_five_units(mode: Mode, sku: &str, policy: &str) {
    let api = Arc::new(SpawnedApi::spawn_in(mode, &["--no-seed"]));
    let c = client();
    shop(&api, &c, sku, policy).await;
    let ho = api.token("headoffice", None);
    let tills: Vec<String> = STORES.iter().map(|s| api.token("pos", Some(s))).collect();

    // 5 × 12.99 = 64.95, tax 9 %: round(6495 × 900 / 10900) = 536.
    let sale = json!({"terminalId": "T00", "lines": [{"sku": sku, "quantity": 5}], "payments": [{"method": "cash", "amount": 6495}]});
    let a = answer(c.post(api.url("/stores/S001/sales")).bearer_auth(&tills[0]).header("Idempotency-Key", "race-sale").json(&sale).send().await.unwrap()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let receipt = a.body;
    assert_eq!((receipt["lines"][0]["lineAmount"].as_i64(), receipt["lines"][0]["taxAmount"].as_i64()), (Some(6495), Some(536)));
    let sale_id = receipt["saleId"].as_str().unwrap().to_owned();
    // Tracked stock is taken from the sales stream on DynamoDB: a moment later.
    let before = retail_tests::settled(
        || async { vec![on_hand(&api, &c, &ho, "S001", sku).await.0, on_hand(&api, &c, &ho, "S002", sku).await.0] },
        |b| b == &[5, 0],
    )
    .await;
    assert_eq!(before, [5, 0]);

    // 20 returns of one unit, 10 from each store's tills, let go at once.
    let body = |i: usize| json!({"terminalId": format!("T{:02}", i / 2), "sale": {"storeId": "S001", "saleId": sale_id}, "lines": [{"line": 0, "quantity": 1}], "reason": "unwanted"});
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (api, c, start, body) = (Arc::clone(&api), c.clone(), Arc::clone(&start), body(i));
        let (store, token) = (STORES[i % 2], tills[i % 2].clone());
        tasks.spawn(async move {
            start.wait().await;
            let sent = c.post(api.url(&format!("/stores/{store}/returns"))).bearer_auth(&token).header("Idempotency-Key", format!("race-return-{i}")).json(&body).send();
            (i, answer(sent.await.unwrap()).await)
        });
    }
    let mut answers: Vec<(usize, retail_tests::Answer)> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        answers.push(done.unwrap());
    }
    answers.sort_by_key(|(i, _)| *i);

    let mut back: Vec<(usize, Value)> = Vec::new();
    for (i, a) in &answers {
        match a.status {
            201 => back.push((*i, a.body.clone())),
            409 => {
                assert_eq!(a.body["code"], "return_exceeds_sale", "return {i}: {}", a.body);
                assert_eq!(a.body["lines"], json!([{"line": 0, "requested": 1, "returnable": 0}]), "return {i}: {}", a.body);
            }
            s => panic!("return {i} answered {s} {}", a.body),
        }
    }
    assert_eq!(back.len(), 5, "exactly 5 come back: {:?}", answers.iter().map(|(i, a)| (i, a.status)).collect::<Vec<_>>());
    // Each returned unit refunds a fifth of 64.95; the taxes add up to the line's, to the cent.
    for (i, r) in &back {
        assert_eq!((r["storeId"].as_str(), r["total"].as_i64()), (Some(STORES[i % 2]), Some(1299)), "return {i}: {r}");
        assert_eq!(r["lines"][0]["restocked"], true);
        assert_eq!(r["refunds"], json!([{"method": "cash", "amount": 1299}]));
    }
    assert_eq!(back.iter().map(|(_, r)| r["taxTotal"].as_i64().unwrap()).sum::<i64>(), 536);

    // What is left of the sale: all 5 back, nothing refundable, the 5 returns listed.
    let a = answer(c.get(api.url(&format!("/stores/S001/sales/{sale_id}/returnable"))).bearer_auth(&tills[1]).send().await.unwrap()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        (a.body["lines"][0]["sold"].as_i64(), a.body["lines"][0]["returned"].as_i64(), a.body["lines"][0]["returnable"].as_i64(), a.body["lines"][0]["refundable"].as_i64()),
        (Some(5), Some(5), Some(0), Some(0)),
        "{}",
        a.body
    );
    assert_eq!(a.body["refundableByMethod"], json!({"cash": 0, "card": 0, "mobile": 0}));
    let mut listed: Vec<&str> = a.body["returns"].as_array().unwrap().iter().map(|r| r["returnId"].as_str().unwrap()).collect();
    let mut answered: Vec<&str> = back.iter().map(|(_, r)| r["returnId"].as_str().unwrap()).collect();
    listed.sort_unstable();
    answered.sort_unstable();
    assert_eq!(listed, answered);

    // Restocked exactly 5 across the two stores, each store what it took back.
    let mut restocked = 0;
    for (s, store) in STORES.into_iter().enumerate() {
        let (now, shards) = on_hand(&api, &c, &ho, store, sku).await;
        let took = back.iter().filter(|(i, _)| i % 2 == s).count() as i64;
        assert_eq!(now - before[s], took, "{store} took {took} back: {shards}");
        if policy == "strict" {
            assert!(shards.as_array().unwrap().iter().all(|s| s["onHand"].as_i64().unwrap() >= 0), "{store}: {shards}");
        }
        restocked += now - before[s];
    }
    assert_eq!(restocked, 5);

    // Every return again with its key: the 5 replay their receipts, the 15 are refused again.
    for (i, first) in &answers {
        let store = STORES[i % 2];
        let sent = c.post(api.url(&format!("/stores/{store}/returns"))).bearer_auth(&tills[i % 2]).header("Idempotency-Key", format!("race-return-{i}")).json(&body(*i));
        let again = answer(sent.send().await.unwrap()).await;
        if first.status == 201 {
            assert_eq!((again.status, again.replayed()), (200, Some("true")), "return {i}: {}", again.body);
            assert_eq!(again.body, first.body, "return {i}");
        } else {
            assert_eq!((again.status, &again.body["lines"]), (409, &json!([{"line": 0, "requested": 1, "returnable": 0}])), "return {i}: {}", again.body);
        }
    }
    let total: i64 = [on_hand(&api, &c, &ho, "S001", sku).await.0, on_hand(&api, &c, &ho, "S002", sku).await.0].iter().sum();
    assert_eq!(total, 10, "the retries restocked nothing");
}

async fn a_tracked_line(mode: Mode) {
    twenty_returns_of_five_units(mode, "RACE-TRACK", "track").await
}

/// Strict stock, split over 4 items: restocks spread over them, none below zero.
async fn a_strict_line(mode: Mode) {
    twenty_returns_of_five_units(mode, "RACE-STRICT", "strict").await
}

retail_tests::in_mode!(embedded, Embedded, a_tracked_line, a_strict_line);
retail_tests::in_mode!(moto, Moto, a_tracked_line, a_strict_line);
retail_tests::in_mode!(emulated, Emulated, a_tracked_line);
