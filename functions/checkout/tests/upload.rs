//! checkout against API.md: `POST /stores/{storeId}/sales/batch`, a till coming back online.
//! Entries run in order, share keys with `POST /stores/{storeId}/sales`, and each gets what it
//! would have got alone.

use catalog_admin::CatalogAdmin;
use checkout::Checkout;
use chrono::{Duration, Utc};
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::testing::{catalog::*, till::*};
use serde_json::{Value, json};

/// A stocked till: the catalog-side functions and checkout over one memory store.
async fn stocked_till() -> Till {
    let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
    Till::stocked(shop, Checkout::new).await
}

/// An upload entry: the key and a sale body.
fn entry(key: &str, sale: &Value) -> Value {
    let mut e = sale.clone();
    e["idempotencyKey"] = json!(key);
    e
}

fn milk(terminal: &str) -> Value {
    basket(terminal, json!([{"sku": "MILK"}]), json!([cash(1299)]))
}

/// The problem without its human-readable `detail`.
fn without_detail(problem: &Value) -> Value {
    let mut p = problem.clone();
    p.as_object_mut().unwrap().remove("detail");
    p
}

#[tokio::test]
async fn entries_run_in_order_and_each_gets_what_it_would_have_got_alone() {
    let till = stocked_till().await;
    // Sold online before the till went offline: its key is already used.
    let online = till.sold("S001", "up-0", &milk("T01")).await;
    let earlier = rfc(Utc::now() - Duration::hours(5));
    let mut apples = basket("T01", json!([{"barcode": apple_label(600)}, {"sku": "APPLE", "weightGrams": 634}]), json!([card(1972)]));
    apples["occurredAt"] = json!(earlier);
    let too_many = basket("T01", json!([{"sku": "COOKER", "quantity": 6}]), json!([cash(179_400)]));
    let short = basket("T01", json!([{"sku": "MILK"}]), json!([cash(1)]));
    let unknown = basket("T01", json!([{"sku": "MILK"}, {"sku": "GHOST"}]), json!([cash(5000)]));
    let mut malformed = milk("T01");
    malformed["lines"][0]["price"] = json!(1);
    let mut reused = milk("T01");
    reused["lines"][0]["quantity"] = json!(2);
    reused["payments"][0]["amount"] = json!(2598);
    let mut old = milk("T01");
    old["occurredAt"] = json!(rfc(Utc::now() - Duration::hours(80)));
    let sales = json!([
        entry("up-1", &apples),
        entry("up-0", &milk("T01")),
        entry("up-2", &too_many),
        entry("up-3", &short),
        entry("up-4", &unknown),
        entry("up-5", &malformed),
        entry("up-0", &reused),
        entry("up-6", &old),
        entry("up-7", &milk("T02")),
        entry("up-1", &apples)
    ]);
    let a = till.upload("S001", &json!({"sales": sales})).await;
    let results = a.ok(200)["results"].as_array().unwrap().clone();
    let keys: Vec<&str> = results.iter().map(|r| r["idempotencyKey"].as_str().unwrap()).collect();
    assert_eq!(keys, ["up-1", "up-0", "up-2", "up-3", "up-4", "up-5", "up-0", "up-6", "up-7", "up-1"]);
    let statuses: Vec<i64> = results.iter().map(|r| r["status"].as_i64().unwrap()).collect();
    assert_eq!(statuses, [201, 200, 409, 422, 422, 400, 422, 422, 201, 200]);

    // Receipts: the new sales as recorded, the online one and the in-batch repeat replayed.
    let apples_receipt = &results[0]["receipt"];
    assert_eq!(apples_receipt["occurredAt"], json!(earlier));
    assert_eq!(apples_receipt["receiptNo"], json!("T01-000002"));
    assert_eq!(
        apples_receipt["lines"],
        json!([{"sku": "APPLE", "name": "Apples", "weightGrams": 1234, "unitAmount": 1598, "lineAmount": 1972, "discountAmount": 0, "netAmount": 1972, "taxAmount": 163, "adjustmentId": "list:2"}])
    );
    assert_eq!(&results[1]["receipt"], &online);
    assert_eq!(&results[9]["receipt"], apples_receipt);
    assert_eq!(results[8]["receipt"]["receiptNo"], json!("T02-000001"));
    for i in [0, 8] {
        let id = results[i]["receipt"]["saleId"].as_str().unwrap();
        assert_eq!(till.receipt("S001", id).await.ok(200), &results[i]["receipt"]);
    }
    for r in &results {
        assert!(r["receipt"].is_null() != r["problem"].is_null(), "one of receipt and problem: {r}");
    }
    assert_eq!(till.recorded().len(), 3);

    // Problems: exactly what the same sale alone would get (fresh keys; refusals left nothing).
    let codes: Vec<&str> = results.iter().filter_map(|r| r["problem"]["code"].as_str()).collect();
    assert_eq!(codes, ["out_of_stock", "payment_mismatch", "unknown_commodity", "invalid_request", "idempotency_key_reused", "sale_too_old"]);
    for (i, body, key) in [(2, &too_many, "alone-2"), (3, &short, "alone-3"), (4, &unknown, "alone-4"), (5, &malformed, "alone-5"), (7, &old, "alone-7")] {
        let alone = till.sell("S001", key, body).await;
        assert_eq!(alone.status as i64, statuses[i]);
        assert_eq!(without_detail(&results[i]["problem"]), without_detail(&alone.body), "entry {i}");
    }
    let alone = till.sell("S001", "up-0", &reused).await;
    assert_eq!(without_detail(&results[6]["problem"]), without_detail(&alone.body));
    assert_eq!(results[2]["problem"]["shortages"], json!([{"sku": "COOKER", "requested": 6, "available": 5}]));
    assert_eq!(results[4]["problem"]["line"], json!(1));
    assert_eq!(till.recorded().len(), 3);
    assert_eq!(till.shop.on_hand("S001", "COOKER").await, 5);
}

#[tokio::test]
async fn a_sale_uploaded_in_a_batch_replays_when_sent_alone() {
    let till = stocked_till().await;
    let a = till.upload("S001", &json!({"sales": [entry("both-ways", &milk("T01"))]})).await;
    let receipt = a.ok(200)["results"][0]["receipt"].clone();
    let again = till.sell("S001", "both-ways", &milk("T01")).await;
    assert_eq!(again.ok(200), &receipt);
    assert_eq!(again.replayed(), Some("true"));
    assert_eq!(till.recorded().len(), 1);
}

#[tokio::test]
async fn a_missing_or_malformed_key_in_any_entry_makes_the_whole_batch_400() {
    let till = stocked_till().await;
    let good = entry("good-1", &milk("T01"));
    let a = till.upload("S001", &json!({"sales": [good, milk("T01")]})).await;
    a.problem(400, "missing_idempotency_key");
    for bad in [json!("has space"), json!(""), json!("k".repeat(65)), json!(42), Value::Null] {
        let mut e = milk("T01");
        e["idempotencyKey"] = bad.clone();
        let a = till.upload("S001", &json!({"sales": [good, e]})).await;
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        a.problem(400, a.body["code"].as_str().unwrap());
    }
    // Nothing ran, not even the good entry before the bad one.
    assert!(till.recorded().is_empty());
    assert_eq!(till.shop.on_hand("S001", "MILK").await, 0);
}

#[tokio::test]
async fn a_duplicate_member_in_any_entry_makes_the_whole_batch_400() {
    let till = stocked_till().await;
    let good = entry("good-1", &milk("T01")).to_string();
    let sale = r#""terminalId": "T01", "lines": [{"sku": "MILK"}], "payments": [{"method": "cash", "amount": 1299}]"#;
    for dup in [
        format!(r#"{{"idempotencyKey": "dup-1", "idempotencyKey": "dup-2", {sale}}}"#),
        format!(r#"{{"idempotencyKey": "dup-1", {sale}, "terminalId": "T02"}}"#),
        r#"{"idempotencyKey": "dup-1", "terminalId": "T01", "lines": [{"sku": "MILK", "sku": "MILK"}], "payments": [{"method": "cash", "amount": 1299}]}"#.to_owned(),
    ] {
        let body = format!(r#"{{"sales": [{good}, {dup}]}}"#);
        let a = till.call(upload_event("S001").claims("pos", Some("S001")).raw_json(&body)).await;
        let p = a.problem(400, "invalid_request");
        assert!(p["detail"].as_str().unwrap().contains("duplicate"), "{p}");
    }
    // Nothing ran, not even the good entry before the bad one.
    assert!(till.recorded().is_empty());
}

#[tokio::test]
async fn minus_zero_is_an_integer_zero_and_the_business_rule_answers() {
    let till = stocked_till().await;
    let body = r#"{"sales": [{"idempotencyKey": "z-1", "terminalId": "T01", "lines": [{"sku": "MILK", "quantity": -0}], "payments": [{"method": "cash", "amount": 1299}]}]}"#;
    let a = till.call(upload_event("S001").claims("pos", Some("S001")).raw_json(body)).await;
    let result = &a.ok(200)["results"][0];
    assert_eq!(result["status"], json!(400), "{result}");
    assert!(result["problem"]["detail"].as_str().unwrap().contains("quantity"), "{result}");
}

#[tokio::test]
async fn a_batch_holds_1_to_100_sales() {
    let till = stocked_till().await;
    till.upload("S001", &json!({"sales": []})).await.problem(400, "invalid_request");
    let many: Vec<Value> = (0..101).map(|i| entry(&format!("k{i}"), &milk("T01"))).collect();
    till.upload("S001", &json!({"sales": many})).await.problem(400, "invalid_request");
    assert!(till.recorded().is_empty());
    let hundred: Vec<Value> = (0..100).map(|i| entry(&format!("k{i}"), &milk("T01"))).collect();
    let a = till.upload("S001", &json!({"sales": hundred})).await;
    let results = a.ok(200)["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 100);
    assert!(results.iter().all(|r| r["status"] == json!(201)));
    assert_eq!(results[99]["receipt"]["receiptNo"], json!("T01-000100"));
    // Unknown members of the batch itself are refused.
    till.upload("S001", &json!({"sales": [entry("x", &milk("T01"))], "till": "T01"})).await.problem(400, "invalid_request");
}

#[tokio::test]
async fn only_a_till_of_the_store_may_upload() {
    let till = stocked_till().await;
    let body = json!({"sales": [entry("k", &milk("T01"))]});
    till.call(upload_event("S001").claims("pos", Some("S002")).json(&body)).await.problem(403, "forbidden_store");
    till.call(upload_event("S001").claims("store", Some("S001")).json(&body)).await.problem(403, "forbidden_scope");
    till.call(upload_event("S009").claims("pos", Some("S009")).json(&body)).await.problem(404, "not_found");
    assert!(till.recorded().is_empty());
}

/// An upload under DynamoDB trouble can outlast the function's timeout, and the gateway would
/// answer it 500 with some entries recorded and the till told nothing. So an upload stops
/// starting entries 6 s before its invocation's deadline (the first always starts): the rest are
/// answered 503 `unavailable`, recorded nowhere, and go through when sent again.
#[tokio::test]
async fn an_upload_near_its_deadline_answers_the_entries_it_cannot_start_503() {
    use lambda_http::RequestExt;
    let till = stocked_till().await;
    let sales = json!({"sales": [entry("late-1", &milk("T01")), entry("late-2", &milk("T01")), entry("late-3", &milk("T01"))]});
    let mut context = lambda_http::Context::default();
    context.deadline = (std::time::SystemTime::now() + std::time::Duration::from_secs(2))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let request = upload_event("S001").claims("pos", Some("S001")).json(&sales).request().with_lambda_context(context);
    let answer = till.call_request(request).await;
    let results = answer.ok(200)["results"].as_array().unwrap().clone();
    let statuses: Vec<u64> = results.iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [201, 503, 503], "{results:?}");
    for r in &results[1..] {
        assert_eq!(r["problem"]["code"], "unavailable", "{r}");
        assert!(r["receipt"].is_null(), "{r}");
    }
    assert_eq!(till.recorded().len(), 1, "only the first was recorded");

    // Sent again with time to spare: the first is a replay, the others are recorded now.
    let again = till.upload("S001", &sales).await;
    let statuses: Vec<u64> = again.ok(200)["results"].as_array().unwrap().iter().map(|r| r["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [200, 201, 201]);
    assert_eq!(till.recorded().len(), 3);
}
