//! checkout's returns against API.md on the embedded store: a return and its receipt, what is
//! left to return, retries, every refusal with its status and code in the contract's order
//! (and nothing recorded after one), returns from another store, and a race of returns.

use catalog_admin::CatalogAdmin;
use checkout::Checkout;
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::domain::report::LedgerEntry;
use retail_core::testing::{catalog::*, request::*, till::*};
use serde_json::{Value, json};
use std::sync::Arc;

async fn stocked_till() -> Till {
    let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
    Till::stocked(shop, Checkout::new).await
}

/// 3 MILK (12.99, 13 %) and 1.5 kg of APPLE (15.98/kg, 9 %), paid 20.00 by card and the rest
/// in cash with change.
async fn a_sale(till: &Till, store: &str, key: &str) -> Value {
    let b = basket("T01", json!([{"sku": "MILK", "quantity": 3}, {"sku": "APPLE", "weightGrams": 1500}]), json!([card(2000), cash(5000)]));
    till.sold(store, key, &b).await
}

fn returns_so_far(till: &Till) -> usize {
    till.shop.store.entries_since(0).0.iter().filter(|e| matches!(e, LedgerEntry::Return(_))).count()
}

#[tokio::test]
async fn a_return_refunds_by_the_cumulative_formula_and_shows_in_what_is_left() {
    let till = stocked_till().await;
    let sale = a_sale(&till, "S001", "s-1").await;
    // MILK 3 × 1299 = 3897, tax round(3897 × 1300 / 11300) = 448; APPLE 1.5 kg = 2397, tax 198.
    assert_eq!((sale["lines"][0]["lineAmount"].as_i64(), sale["lines"][0]["taxAmount"].as_i64()), (Some(3897), Some(448)));
    let body = return_body("T05", &sale, &[(0, Some(1)), (1, Some(500))], "unwanted");
    let r = till.take_back("S001", "r-1", &body).await;
    let receipt = r.ok(201).clone();
    assert_eq!(receipt["lines"][0]["refundAmount"], 1299);
    assert_eq!(receipt["lines"][0]["taxAmount"], 149);
    // round(2397 × 500 / 1500) = 799, tax round(198 / 3) = 66.
    assert_eq!(receipt["lines"][1]["refundAmount"], 799);
    assert_eq!(receipt["lines"][1]["weightGrams"], 500);
    assert_eq!((receipt["total"].as_i64(), receipt["taxTotal"].as_i64()), (Some(2098), Some(215)));
    // Card first (it paid 2000), the rest in cash.
    assert_eq!(receipt["refunds"], json!([{"method": "card", "amount": 2000}, {"method": "cash", "amount": 98}]));
    assert_eq!(receipt["sale"], json!({"storeId": "S001", "saleId": sale["saleId"], "receiptNo": sale["receiptNo"]}));
    assert_eq!((receipt["storeId"].as_str(), receipt["terminalId"].as_str(), receipt["reason"].as_str()), (Some("S001"), Some("T05"), Some("unwanted")));
    assert!(receipt["returnNo"].as_str().unwrap().starts_with("T05-R"), "{}", receipt["returnNo"]);
    assert_eq!(receipt["currency"], "CNY");
    assert!(receipt["lines"].as_array().unwrap().iter().all(|l| l["restocked"] == true));
    // Restocked: a unit of milk and 500 g of apples are back on S001's shelf.
    assert_eq!(till.shop.on_hand("S001", "MILK").await, -3 + 1);
    assert_eq!(till.shop.on_hand("S001", "APPLE").await, -1500 + 500);

    let id = receipt["returnId"].as_str().unwrap();
    let read = till.call(return_receipt_event("S001", id).claims("store", Some("S001"))).await;
    assert_eq!(read.ok(200), &receipt);
    till.call(return_receipt_event("S002", id).claims(HO, None)).await.problem(404, "not_found");

    let left = till.returnable("S001", sale["saleId"].as_str().unwrap(), "S001").await;
    let left = left.ok(200);
    assert_eq!(left["lines"][0], json!({"line": 0, "sku": "MILK", "name": "Milk 1L", "sold": 3, "returned": 1, "returnable": 2, "refundable": 2598}));
    assert_eq!(left["lines"][1]["returnable"], 1000);
    assert_eq!(left["lines"][1]["refundable"], 2397 - 799);
    // Cash took 5000 − change 706 = 4294 (the total 6294 less the card's 2000), 98 refunded.
    assert_eq!(left["refundableByMethod"], json!({"cash": 4294 - 98, "card": 0, "mobile": 0}));
    assert_eq!(left["returns"].as_array().unwrap().len(), 1);
    assert_eq!(left["returns"][0]["returnId"], receipt["returnId"]);
    assert_eq!(left["returnableUntil"].as_str().unwrap().len(), 10);
}

#[tokio::test]
async fn the_rest_of_a_sale_comes_back_to_the_cent() {
    let till = stocked_till().await;
    let sale = a_sale(&till, "S001", "s-1").await;
    let mut refunded = 0;
    for (i, q) in [1, 1, 1].into_iter().enumerate() {
        let r = till.take_back("S001", &format!("r-{i}"), &return_body("T05", &sale, &[(0, Some(q))], "unwanted")).await;
        refunded += r.ok(201)["total"].as_i64().unwrap();
    }
    assert_eq!(refunded, 3897);
    let r = till.take_back("S001", "r-apple", &return_body("T05", &sale, &[(1, None)], "expired")).await;
    let apple = r.ok(201);
    assert_eq!((apple["lines"][0]["weightGrams"].as_i64(), apple["total"].as_i64()), (Some(1500), Some(2397)));
    assert_eq!(apple["lines"][0]["restocked"], false, "expired goods are not restocked by default");
    assert_eq!(till.shop.on_hand("S001", "APPLE").await, -1500);
    let left = till.returnable("S001", sale["saleId"].as_str().unwrap(), "S001").await;
    let left = left.ok(200);
    assert!(left["lines"].as_array().unwrap().iter().all(|l| l["returnable"] == 0 && l["refundable"] == 0), "{left}");
    assert_eq!(left["refundableByMethod"], json!({"cash": 0, "card": 0, "mobile": 0}));
}

#[tokio::test]
async fn a_return_is_retried_like_a_sale_and_shares_the_stores_keys() {
    let till = stocked_till().await;
    let sale = a_sale(&till, "S001", "s-1").await;
    let body = return_body("T05", &sale, &[(0, Some(1))], "unwanted");
    let first = till.take_back("S001", "r-1", &body).await.ok(201).clone();
    let again = till.take_back("S001", "r-1", &body).await;
    assert_eq!(again.ok(200), &first);
    assert_eq!(again.replayed(), Some("true"));
    let other = return_body("T05", &sale, &[(0, Some(2))], "unwanted");
    till.take_back("S001", "r-1", &other).await.problem(422, "idempotency_key_reused");
    // The sale's key, used for a return; the return's key, used for a sale.
    till.take_back("S001", "s-1", &body).await.problem(422, "idempotency_key_reused");
    let b = basket("T01", json!([{"sku": "MILK"}]), json!([cash(1299)]));
    till.sell("S001", "r-1", &b).await.problem(422, "idempotency_key_reused");
    // Keys are per store: the same key in another store is another return.
    till.take_back("S002", "r-1", &body).await.ok(201);
    assert_eq!(returns_so_far(&till), 2);
    assert_eq!(till.shop.on_hand("S001", "MILK").await, -3 + 1);
}

#[tokio::test]
async fn a_till_of_another_store_takes_a_sale_back_and_restocks_its_own_shelf() {
    let till = stocked_till().await;
    let sale = a_sale(&till, "S001", "s-1").await;
    let sale_id = sale["saleId"].as_str().unwrap();
    // A till of S002 may read what is left of S001's sale.
    till.returnable("S001", sale_id, "S002").await.ok(200);
    let r = till.take_back("S002", "r-1", &return_body("T09", &sale, &[(0, Some(2))], "wrong_item")).await;
    let receipt = r.ok(201).clone();
    assert_eq!((receipt["storeId"].as_str(), receipt["sale"]["storeId"].as_str()), (Some("S002"), Some("S001")));
    assert_eq!(till.shop.on_hand("S002", "MILK").await, 2);
    assert_eq!(till.shop.on_hand("S001", "MILK").await, -3, "the first store's stock is not disturbed");
    let left = till.returnable("S001", sale_id, "S001").await;
    assert_eq!(left.ok(200)["lines"][0]["returned"], 2);
    assert_eq!(left.ok(200)["returns"][0]["storeId"], "S002");
    // The receipt is the returning store's.
    let id = receipt["returnId"].as_str().unwrap();
    till.call(return_receipt_event("S002", id).claims("pos", Some("S002"))).await.ok(200);
    till.call(return_receipt_event("S001", id).claims("pos", Some("S001"))).await.problem(404, "not_found");
}

mod refusals {
    use super::*;

    /// Nothing recorded and no stock moved since `a_sale`.
    async fn nothing_recorded(till: &Till) {
        assert_eq!(returns_so_far(till), 0, "a refused return was recorded");
        assert_eq!(till.shop.on_hand("S001", "MILK").await, -3);
        assert_eq!(till.shop.on_hand("S001", "APPLE").await, -1500);
    }

    #[tokio::test]
    async fn who_may_take_goods_back_and_read_them() {
        let till = stocked_till().await;
        let sale = a_sale(&till, "S001", "s-1").await;
        let body = return_body("T05", &sale, &[(0, Some(1))], "unwanted");
        let post = |scope: &'static str, store: Option<&'static str>| return_event("S001").claims(scope, store).header("Idempotency-Key", "r-1").json(&body);
        till.call(post("pos", Some("S001")).without_authorizer()).await.problem(401, "unauthorized");
        till.call(post("headoffice", None)).await.problem(403, "forbidden_scope");
        till.call(post("pos", Some("S002"))).await.problem(403, "forbidden_store");
        till.call(post("store", None)).await.problem(403, "forbidden_store");
        let sale_id = sale["saleId"].as_str().unwrap();
        till.call(returnable_event("S001", sale_id).claims("pos", None)).await.problem(403, "forbidden_store");
        till.call(returnable_event("S001", sale_id).claims("pos", Some("S002"))).await.ok(200);
        till.call(returnable_event("S001", sale_id).claims(HO, None)).await.ok(200);
        nothing_recorded(&till).await;
        // A store manager may take goods back (the service desk).
        till.call(post("store", Some("S001"))).await.ok(201);
    }

    #[tokio::test]
    async fn each_refusal_with_its_status_and_code_in_the_contracts_order() {
        let till = stocked_till().await;
        let sale = a_sale(&till, "S001", "s-1").await;
        let good = return_body("T05", &sale, &[(0, Some(1))], "unwanted");
        let send = |body: Value| {
            let till = &till;
            async move { till.take_back("S001", "r-1", &body).await }
        };
        let with = |f: &dyn Fn(&mut Value)| {
            let mut b = good.clone();
            f(&mut b);
            b
        };
        // 413 and 415 before 400.
        let big = padded(&good, 1_048_577);
        let a = till.call(return_event("S001").claims("pos", Some("S001")).header("Idempotency-Key", "r-1").raw_json(&big)).await;
        a.problem(413, "payload_too_large");
        let a = till.call(return_event("S001").claims("pos", Some("S001")).header("Idempotency-Key", "r-1").body_with_type("text/plain", "{}")).await;
        a.problem(415, "unsupported_media_type");
        // 400: the header, the shape, the values.
        let a = till.call(return_event("S001").claims("pos", Some("S001")).json(&good)).await;
        a.problem(400, "missing_idempotency_key");
        send(with(&|b| b["colour"] = json!("red"))).await.problem(400, "invalid_request");
        send(with(&|b| b["reason"] = json!("changed_mind"))).await.problem(400, "invalid_request");
        send(with(&|b| b["lines"] = json!([]))).await.problem(400, "invalid_request");
        send(with(&|b| b["lines"] = json!([{"line": 0}, {"line": 0}]))).await.problem(400, "invalid_request")["line"].as_i64();
        send(with(&|b| b["lines"] = json!([{"line": 0, "quantity": 1, "weightGrams": 1}]))).await.problem(400, "invalid_request");
        send(with(&|b| b["sale"]["saleId"] = json!("not-a-uuid"))).await.problem(400, "invalid_request");
        send(with(&|b| b["refunds"] = json!([{"method": "cash", "amount": 0}]))).await.problem(400, "invalid_request");
        let raw = r#"{"terminalId":"T05","terminalId":"T06","sale":{},"lines":[{"line":0}],"reason":"unwanted"}"#;
        let a = till.call(return_event("S001").claims("pos", Some("S001")).header("Idempotency-Key", "r-1").raw_json(raw)).await;
        a.problem(400, "invalid_request");
        // 404: the returning store, the sale.
        till.take_back("S009", "r-1", &good).await.problem(404, "not_found");
        let unknown = with(&|b| b["sale"]["saleId"] = json!("0190a0b0-0000-7000-8000-000000000000"));
        send(unknown).await.problem(404, "not_found");
        send(with(&|b| b["sale"]["storeId"] = json!("S002"))).await.problem(404, "not_found");
        // 400 once the sale is read: a line it does not have, the wrong measure for a line.
        let p = send(with(&|b| b["lines"] = json!([{"line": 0, "quantity": 1}, {"line": 7}]))).await;
        assert_eq!(p.problem(400, "invalid_request")["line"], 1);
        send(with(&|b| b["lines"] = json!([{"line": 1, "quantity": 1}]))).await.problem(400, "invalid_request");
        send(with(&|b| b["lines"] = json!([{"line": 0, "weightGrams": 1}]))).await.problem(400, "invalid_request");
        // 409: more than is left, with what is left.
        let p = send(with(&|b| b["lines"] = json!([{"line": 0, "quantity": 4}, {"line": 1, "weightGrams": 1500}]))).await;
        assert_eq!(p.problem(409, "return_exceeds_sale")["lines"], json!([{"line": 0, "requested": 4, "returnable": 3}]));
        // 422: refunds that do not add up, or more to the card than it paid.
        send(with(&|b| b["refunds"] = json!([cash(1)]))).await.problem(422, "refund_mismatch");
        send(with(&|b| b["refunds"] = json!([mobile(1299)]))).await.problem(422, "refund_mismatch");
        nothing_recorded(&till).await;
        // Every refusal gave the key back: the good return under the same key runs afresh.
        send(good.clone()).await.ok(201);
        send(with(&|b| b["refunds"] = json!([card(1299)]))).await.problem(422, "idempotency_key_reused");
    }

    #[tokio::test]
    async fn an_embedded_price_label_comes_back_whole_or_not_at_all() {
        let till = stocked_till().await;
        let b = basket("T01", json!([{"barcode": cake_label(1250)}]), json!([cash(1250)]));
        let sale = till.sold("S001", "s-1", &b).await;
        let p = till.take_back("S001", "r-1", &return_body("T05", &sale, &[(0, Some(2))], "unwanted")).await;
        assert_eq!(p.problem(422, "not_returnable")["line"], 0);
        let r = till.take_back("S001", "r-1", &return_body("T05", &sale, &[(0, None)], "unwanted")).await;
        assert_eq!(r.ok(201)["total"], 1250);
    }
}

/// 20 returns of one unit at once of a line sold 5 times, from tills of two stores: exactly 5
/// come back, every other is 409 with nothing left.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_returns_of_five_units_give_back_exactly_five() {
    let till = Arc::new(stocked_till().await);
    let b = basket("T01", json!([{"sku": "MILK", "quantity": 5}]), json!([cash(6495)]));
    let sale = till.sold("S001", "s-1", &b).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let (till, sale) = (till.clone(), sale.clone());
        let store = if i % 2 == 0 { "S001" } else { "S002" };
        tasks.spawn(async move { till.take_back(store, &format!("r-{i}"), &return_body("T05", &sale, &[(0, Some(1))], "unwanted")).await });
    }
    let (mut back, mut refused) = (0, 0);
    while let Some(answer) = tasks.join_next().await {
        let a = answer.unwrap();
        if a.status == 201 {
            back += 1;
        } else {
            assert_eq!(a.problem(409, "return_exceeds_sale")["lines"], json!([{"line": 0, "requested": 1, "returnable": 0}]));
            refused += 1;
        }
    }
    assert_eq!((back, refused), (5, 15));
    assert_eq!(till.shop.on_hand("S001", "MILK").await + till.shop.on_hand("S002", "MILK").await, 0);
    let left = till.returnable("S001", sale["saleId"].as_str().unwrap(), "S001").await;
    assert_eq!(left.ok(200)["lines"][0]["returned"], 5);
}
