//! checkout against API.md "Retries": one `Idempotency-Key` never sells twice, replays return the
//! first receipt, refusals leave nothing behind, and the rushes of a flash sale (many retries of
//! one sale, many tills on one strict item) record exactly what was sold.

use catalog_admin::CatalogAdmin;
use checkout::Checkout;
use chrono::{Duration, Utc};
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::domain::sale::SaleDraft;
use retail_core::domain::{IdempotencyKey, StoreId};
use retail_core::http::HttpFunction;
use retail_core::store::{ClaimToken, SalesStore};
use retail_core::testing::{Answer, catalog::*, till::*};
use serde_json::{Value, json};
use std::sync::Arc;

/// A stocked till: the catalog-side functions and checkout over one memory store.
async fn stocked_till() -> Till {
    let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
    Till::stocked(shop, Checkout::new).await
}

fn cooker() -> Value {
    basket("T01", json!([{"sku": "COOKER"}, {"sku": "MILK", "quantity": 2}]), json!([card(29_900), cash(5000)]))
}

fn fingerprint(body: &Value) -> String {
    serde_json::from_value::<SaleDraft>(body.clone()).unwrap().fingerprint()
}

#[tokio::test]
async fn the_same_key_and_body_again_replays_the_identical_receipt() {
    let till = stocked_till().await;
    let first = till.sell("S001", "retry-1", &cooker()).await;
    let receipt = first.ok(201).clone();
    assert_eq!(first.replayed(), None, "a first answer is not a replay");
    for _ in 0..3 {
        let again = till.sell("S001", "retry-1", &cooker()).await;
        assert_eq!(again.ok(200), &receipt);
        assert_eq!(again.replayed(), Some("true"));
    }
    // Equal as parsed JSON: member order, whitespace and explicit nulls do not make another sale.
    let reordered = r#" { "payments" : [{"amount":29900,"method":"card"},{"method":"cash","amount":5000}],
        "occurredAt": null, "lines": [{"sku":"COOKER","barcode":null},{"quantity":2,"sku":"MILK","weightGrams":null}], "terminalId":"T01" } "#;
    let again = till
        .call(sale_event("S001").claims("pos", Some("S001")).header("Idempotency-Key", "retry-1").raw_json(reordered))
        .await;
    assert_eq!(again.ok(200), &receipt);
    assert_eq!(again.replayed(), Some("true"));
    // One sale, stock moved once.
    assert_eq!(till.recorded().len(), 1);
    assert_eq!(till.shop.on_hand("S001", "COOKER").await, 4);
    assert_eq!(till.shop.on_hand("S001", "MILK").await, -2);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422_idempotency_key_reused() {
    let till = stocked_till().await;
    let receipt = till.sold("S001", "retry-2", &cooker()).await;
    let mut other = cooker();
    other["lines"][1]["quantity"] = json!(3);
    other["payments"][1]["amount"] = json!(5000);
    till.sell("S001", "retry-2", &other).await.problem(422, "idempotency_key_reused");
    let mut later = cooker();
    later["occurredAt"] = json!(receipt["occurredAt"]);
    till.sell("S001", "retry-2", &later).await.problem(422, "idempotency_key_reused");
    // Nothing recorded or moved by the refusal; the first sale still replays.
    assert_eq!(till.recorded().len(), 1);
    assert_eq!(till.shop.on_hand("S001", "COOKER").await, 4);
    assert_eq!(till.sell("S001", "retry-2", &cooker()).await.ok(200), &receipt);
}

#[tokio::test]
async fn a_key_is_unique_within_its_store_only() {
    let till = stocked_till().await;
    let b = basket("T01", json!([{"sku": "MILK"}]), json!([cash(1299)]));
    let s1 = till.sold("S001", "same-key", &b).await;
    let s2 = till.sold("S002", "same-key", &b).await;
    assert_ne!(s1["saleId"], s2["saleId"]);
    assert_eq!(till.recorded().len(), 2);
}

#[tokio::test]
async fn a_refused_sale_leaves_nothing_behind_so_its_retry_runs_afresh() {
    let till = stocked_till().await;
    let b = basket("T01", json!([{"sku": "COOKER", "quantity": 6}]), json!([cash(6 * 29_900)]));
    let p = till.sell("S001", "retry-3", &b).await.problem(409, "out_of_stock").clone();
    assert_eq!(p["shortages"], json!([{"sku": "COOKER", "requested": 6, "available": 5}]));
    assert!(till.recorded().is_empty());
    assert_eq!(till.shop.on_hand("S001", "COOKER").await, 5);
    // Stock arrives; the same key and body now sell.
    till.shop.move_stock("S001", json!([{"sku": "COOKER", "delta": 1, "reason": "receipt"}])).await.ok(200);
    let r = till.sold("S001", "retry-3", &b).await;
    assert_eq!(r["total"], json!(6 * 29_900));
    assert_eq!(till.shop.on_hand("S001", "COOKER").await, 0);

    // A payment mismatch, corrected under the same key, is a new sale rather than a reused key.
    let short = basket("T01", json!([{"sku": "MILK"}]), json!([cash(1000)]));
    till.sell("S001", "retry-4", &short).await.problem(422, "payment_mismatch");
    till.sold("S001", "retry-4", &basket("T01", json!([{"sku": "MILK"}]), json!([cash(1299)]))).await;
    // So does an unknown item, once the till sends a good basket.
    till.sell("S001", "retry-5", &basket("T01", json!([{"sku": "GHOST"}]), json!([cash(1)]))).await.problem(422, "unknown_commodity");
    till.sold("S001", "retry-5", &basket("T01", json!([{"sku": "MILK"}]), json!([cash(1299)]))).await;
    assert_eq!(till.recorded().len(), 3);
}

#[tokio::test]
async fn while_the_first_attempt_runs_the_same_body_is_409_in_progress_and_another_body_422() {
    let till = stocked_till().await;
    let store = StoreId::parse("S001").unwrap();
    let key = IdempotencyKey::parse("running").unwrap();
    // The first attempt has claimed the key and not finished.
    let first = ClaimToken::new();
    till.shop.store.claim_sale_key(&store, &key, &fingerprint(&cooker()), &first, Utc::now()).await.unwrap();
    let a = till.sell("S001", "running", &cooker()).await;
    a.problem(409, "in_progress");
    assert_eq!(a.retry_after(), Some("1"));
    let mut other = cooker();
    other["terminalId"] = json!("T02");
    till.sell("S001", "running", &other).await.problem(422, "idempotency_key_reused");
    assert!(till.recorded().is_empty());
    // The first attempt gives up (a refusal releases its key): the retry sells.
    till.shop.store.release_sale_key(&store, &key, &first).await.unwrap();
    till.sold("S001", "running", &cooker()).await;
    assert_eq!(till.recorded().len(), 1);
}

#[tokio::test]
async fn a_claim_abandoned_long_ago_is_taken_over_by_the_retry() {
    let till = stocked_till().await;
    let store = StoreId::parse("S001").unwrap();
    let key = IdempotencyKey::parse("crashed").unwrap();
    // An attempt that crashed a minute ago, judged by its stored timestamp.
    till.shop.store.claim_sale_key(&store, &key, &fingerprint(&cooker()), &ClaimToken::new(), Utc::now() - Duration::seconds(60)).await.unwrap();
    till.sold("S001", "crashed", &cooker()).await;
    assert_eq!(till.recorded().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_retries_of_one_sale_record_it_once() {
    let till = stocked_till().await;
    let b = cooker();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let checkout = Arc::clone(&till.checkout);
            let event = sale_event("S001").claims("pos", Some("S001")).header("Idempotency-Key", "rush-1").json(&b);
            tokio::spawn(async move { Answer::from(checkout.call(event.request()).await) })
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    let created: Vec<&Answer> = replies.iter().filter(|r| r.status == 201).collect();
    assert_eq!(created.len(), 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    let receipt = created[0].ok(201);
    for r in &replies {
        match r.status {
            201 => {}
            200 => {
                assert_eq!(r.ok(200), receipt);
                assert_eq!(r.replayed(), Some("true"));
            }
            409 => {
                r.problem(409, "in_progress");
                assert_eq!(r.retry_after(), Some("1"));
            }
            other => panic!("unexpected {other}: {}", r.body),
        }
    }
    assert_eq!(till.recorded().len(), 1);
    assert_eq!(till.shop.on_hand("S001", "COOKER").await, 4);
    assert_eq!(till.shop.on_hand("S001", "MILK").await, -2);
    // Once the rush is over, a retry replays.
    assert_eq!(till.sell("S001", "rush-1", &b).await.ok(200), receipt);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_tills_on_a_strict_item_with_ten_in_stock_sell_exactly_ten() {
    let till = stocked_till().await;
    till.shop.move_stock("S001", json!([{"sku": "FLASH", "delta": 10, "reason": "receipt"}])).await.ok(200);
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let checkout = Arc::clone(&till.checkout);
            let b = basket(&format!("T{i:02}"), json!([{"sku": "FLASH"}]), json!([mobile(9900)]));
            let event = sale_event("S001").claims("pos", Some("S001")).header("Idempotency-Key", &format!("flash-{i}")).json(&b);
            tokio::spawn(async move { Answer::from(checkout.call(event.request()).await) })
        })
        .collect();
    let mut replies = Vec::new();
    for t in tasks {
        replies.push(t.await.unwrap());
    }
    let sold = replies.iter().filter(|r| r.status == 201).count();
    let refused: Vec<&Answer> = replies.iter().filter(|r| r.status == 409).collect();
    assert_eq!((sold, refused.len()), (10, 40), "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    for r in refused {
        let shortage = &r.problem(409, "out_of_stock")["shortages"][0];
        assert_eq!((shortage["sku"].as_str(), shortage["requested"].as_i64()), (Some("FLASH"), Some(1)));
        assert_eq!(shortage["available"], json!(0));
    }
    for r in replies.iter().filter(|r| r.status == 201) {
        r.ok(201);
    }
    assert_eq!(till.shop.on_hand("S001", "FLASH").await, 0);
    assert_eq!(till.recorded().len(), 10);
    // Refused tills left nothing behind: with new stock the same key sells.
    let loser = replies.iter().position(|r| r.status == 409).unwrap();
    till.shop.move_stock("S001", json!([{"sku": "FLASH", "delta": 1, "reason": "receipt"}])).await.ok(200);
    let b = basket(&format!("T{loser:02}"), json!([{"sku": "FLASH"}]), json!([mobile(9900)]));
    till.sold("S001", &format!("flash-{loser}"), &b).await;
    assert_eq!(till.shop.on_hand("S001", "FLASH").await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_terminal_selling_concurrently_never_repeats_a_receipt_number() {
    let till = stocked_till().await;
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let checkout = Arc::clone(&till.checkout);
            let b = basket("T07", json!([{"sku": "MILK"}]), json!([cash(1299)]));
            let event = sale_event("S001").claims("pos", Some("S001")).header("Idempotency-Key", &format!("t7-{i}")).json(&b);
            tokio::spawn(async move { Answer::from(checkout.call(event.request()).await) })
        })
        .collect();
    let mut numbers = Vec::new();
    for t in tasks {
        numbers.push(t.await.unwrap().ok(201)["receiptNo"].as_str().unwrap().to_owned());
    }
    numbers.sort();
    let expected: Vec<String> = (1..=20).map(|n| format!("T07-{n:06}")).collect();
    assert_eq!(numbers, expected);
    // In commit order they increase.
    let committed: Vec<String> = till.recorded().iter().map(|s| s.receipt.receipt_no.clone()).collect();
    assert_eq!(committed, expected);
}
