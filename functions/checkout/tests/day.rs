//! checkout against API.md: a till's day of mixed baskets, each receipt exact to the cent
//! against hand-computed expectations, read back by `GET /stores/{storeId}/sales/{saleId}`.

use catalog_admin::CatalogAdmin;
use checkout::Checkout;
use chrono::{DateTime, Duration, FixedOffset, Utc};
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::testing::{catalog::*, request::*, till::*};
use serde_json::{Value, json};

/// A stocked till: the catalog-side functions and checkout over one memory store.
async fn stocked_till() -> Till {
    let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
    Till::stocked(shop, Checkout::new).await
}

/// Checks what the server decides (ids, times, business day) and returns the receipt with those
/// members blanked, so the rest can be compared whole.
#[track_caller]
fn fixed_part(receipt: &Value, before: DateTime<Utc>, after: DateTime<Utc>) -> Value {
    let id = receipt["saleId"].as_str().expect("saleId");
    let uuid = uuid::Uuid::parse_str(id).expect("saleId is a UUID");
    assert_eq!(uuid.get_version_num(), 7, "saleId {id} is a UUID v7");
    assert_eq!(uuid.to_string(), id, "saleId is in canonical form");
    let created = receipt["createdAt"].as_str().expect("createdAt");
    assert!(created.ends_with('Z'), "{created}");
    let created: DateTime<Utc> = created.parse().unwrap();
    assert!(before <= created && created <= after, "createdAt {created} outside [{before}, {after}]");
    let occurred = receipt["occurredAt"].as_str().expect("occurredAt");
    assert!(occurred.ends_with('Z'), "{occurred}");
    let mut fixed = receipt.clone();
    for member in ["saleId", "createdAt"] {
        fixed[member] = json!("*");
    }
    fixed
}

/// The Shanghai calendar date of an instant.
fn shanghai_day(t: DateTime<Utc>) -> String {
    t.with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap()).date_naive().to_string()
}

#[tokio::test]
async fn a_tills_day_of_mixed_baskets_is_exact_to_the_cent() {
    let till = stocked_till().await;
    let before = Utc::now();

    // 1. Two milks scanned, one by sku: merged 3 × 12.99 = 38.97, tax round(3897 × 1300 / 11300)
    //    = round(448.33) = 448. A cola by its UPC-A: 3.50, tax round(40.27) = 40. Total 42.47,
    //    paid 50.00 in cash: change 7.53.
    let b1 = basket(
        "T01",
        json!([{"barcode": milk_ean13(), "quantity": 2}, {"sku": "MILK"}, {"barcode": cola_upc_a()}]),
        json!([cash(5000)]),
    );
    let r1 = till.sold("S001", "day-1", &b1).await;

    // 2. Apples: a 600 g scale label and 634 g weighed at the till merge into 1234 g at
    //    15.98/kg = 19.71932 → 19.72, tax round(1972 × 900 / 10900) = round(162.83) = 163.
    //    Rice 2500 g at 5.99/kg = 14.975 → 14.98 (half away from zero), tax round(123.69) = 124.
    //    Two cake price labels at 8.99, never merged, tax round(103.42) = 103 each.
    //    Total 52.68, paid exactly by card.
    let b2 = basket(
        "T01",
        json!([
            {"barcode": apple_label(600)}, {"sku": "RICE", "weightGrams": 2500}, {"barcode": cake_label(899)},
            {"sku": "APPLE", "weightGrams": 634}, {"barcode": cake_label(899)}
        ]),
        json!([card(5268)]),
    );
    let r2 = till.sold("S001", "day-2", &b2).await;

    // 3. Another till: a rice cooker at S001's 11.11 promotion, 299.00, tax round(3439.82) = 3440;
    //    200.00 by mobile and 100.00 in cash: change 1.00.
    let b3 = basket("T02", json!([{"sku": "COOKER"}]), json!([mobile(20_000), cash(10_000)]));
    let r3 = till.sold("S001", "day-3", &b3).await;

    // 4. Back on T01, a milk sold at 23:30 UTC, sent with a +08:00 offset: 07:30 the next day in
    //    Shanghai, so the next business day. 12.99, tax round(149.44) = 149, by card.
    let late = last_2330_utc();
    let local = late.with_timezone(&FixedOffset::east_opt(8 * 3600).unwrap()).to_rfc3339();
    assert!(local.ends_with("T07:30:00+08:00"), "{local}");
    let mut b4 = basket("T01", json!([{"sku": "MILK"}]), json!([card(1299)]));
    b4["occurredAt"] = json!(local);
    let r4 = till.sold("S001", "day-4", &b4).await;
    let after = Utc::now();

    let occurred = |r: &Value| r["occurredAt"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap();
    assert_eq!(
        fixed_part(&r1, before, after),
        json!({
            "saleId": "*", "receiptNo": "T01-000001", "storeId": "S001", "terminalId": "T01",
            "businessDay": shanghai_day(occurred(&r1)), "occurredAt": r1["occurredAt"], "createdAt": "*",
            "lines": [
                {"sku": "MILK", "name": "Milk 1L", "quantity": 3, "unitAmount": 1299, "lineAmount": 3897, "discountAmount": 0, "netAmount": 3897, "taxAmount": 448, "adjustmentId": "list:0"},
                {"sku": "COLA", "name": "Cola 330ml", "quantity": 1, "unitAmount": 350, "lineAmount": 350, "discountAmount": 0, "netAmount": 350, "taxAmount": 40, "adjustmentId": "list:1"}
            ],
            "promotions": [], "discountTotal": 0,
            "payments": [{"method": "cash", "amount": 5000}],
            "total": 4247, "taxTotal": 488, "paid": 5000, "change": 753, "currency": "CNY"
        })
    );
    assert_eq!(
        fixed_part(&r2, before, after),
        json!({
            "saleId": "*", "receiptNo": "T01-000002", "storeId": "S001", "terminalId": "T01",
            "businessDay": shanghai_day(occurred(&r2)), "occurredAt": r2["occurredAt"], "createdAt": "*",
            "lines": [
                {"sku": "APPLE", "name": "Apples", "weightGrams": 1234, "unitAmount": 1598, "lineAmount": 1972, "discountAmount": 0, "netAmount": 1972, "taxAmount": 163, "adjustmentId": "list:2"},
                {"sku": "RICE", "name": "Rice", "weightGrams": 2500, "unitAmount": 599, "lineAmount": 1498, "discountAmount": 0, "netAmount": 1498, "taxAmount": 124, "adjustmentId": "list:4"},
                {"sku": "CAKE", "name": "Cake slice", "quantity": 1, "unitAmount": 899, "lineAmount": 899, "discountAmount": 0, "netAmount": 899, "taxAmount": 103, "adjustmentId": null},
                {"sku": "CAKE", "name": "Cake slice", "quantity": 1, "unitAmount": 899, "lineAmount": 899, "discountAmount": 0, "netAmount": 899, "taxAmount": 103, "adjustmentId": null}
            ],
            "promotions": [], "discountTotal": 0,
            "payments": [{"method": "card", "amount": 5268}],
            "total": 5268, "taxTotal": 493, "paid": 5268, "change": 0, "currency": "CNY"
        })
    );
    assert_eq!(
        fixed_part(&r3, before, after),
        json!({
            "saleId": "*", "receiptNo": "T02-000001", "storeId": "S001", "terminalId": "T02",
            "businessDay": shanghai_day(occurred(&r3)), "occurredAt": r3["occurredAt"], "createdAt": "*",
            "lines": [
                {"sku": "COOKER", "name": "Rice cooker", "quantity": 1, "unitAmount": 29_900, "lineAmount": 29_900, "discountAmount": 0, "netAmount": 29_900, "taxAmount": 3440, "adjustmentId": "promo-1111:0"}
            ],
            "promotions": [], "discountTotal": 0,
            "payments": [{"method": "mobile", "amount": 20_000}, {"method": "cash", "amount": 10_000}],
            "total": 29_900, "taxTotal": 3440, "paid": 30_000, "change": 100, "currency": "CNY"
        })
    );
    assert_eq!(
        fixed_part(&r4, before, after),
        json!({
            "saleId": "*", "receiptNo": "T01-000003", "storeId": "S001", "terminalId": "T01",
            "businessDay": (late + Duration::days(1)).date_naive().to_string(), "occurredAt": rfc(late), "createdAt": "*",
            "lines": [
                {"sku": "MILK", "name": "Milk 1L", "quantity": 1, "unitAmount": 1299, "lineAmount": 1299, "discountAmount": 0, "netAmount": 1299, "taxAmount": 149, "adjustmentId": "list:0"}
            ],
            "promotions": [], "discountTotal": 0,
            "payments": [{"method": "card", "amount": 1299}],
            "total": 1299, "taxTotal": 149, "paid": 1299, "change": 0, "currency": "CNY"
        })
    );

    // A sale without occurredAt happened when the server received it.
    for r in [&r1, &r2, &r3] {
        let t = occurred(r);
        assert!(before <= t && t <= after, "{t}");
        assert!(t <= r["createdAt"].as_str().unwrap().parse::<DateTime<Utc>>().unwrap());
    }
    // Four sales, four distinct ids; each reads back identical, by any token the route accepts.
    let ids: std::collections::HashSet<&str> = [&r1, &r2, &r3, &r4].iter().map(|r| r["saleId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 4);
    for r in [&r1, &r2, &r3, &r4] {
        let id = r["saleId"].as_str().unwrap();
        for (scope, store) in [("pos", Some("S001")), ("store", Some("S001")), (HO, None)] {
            let a = till.call(receipt_event("S001", id).claims(scope, store)).await;
            assert_eq!(a.ok(200), r, "as {scope}");
        }
    }
    assert_eq!(till.recorded().len(), 4);

    // Stock moved by what was sold: tracked stock goes below zero, strict stock came from 5.
    for (sku, on_hand) in [("MILK", -4), ("COLA", -1), ("APPLE", -1234), ("RICE", -2500), ("CAKE", -2), ("COOKER", 4)] {
        assert_eq!(till.shop.on_hand("S001", sku).await, on_hand, "{sku}");
    }
    // Nothing moved in the other store.
    assert_eq!(till.shop.on_hand("S002", "MILK").await, 0);
}

#[tokio::test]
async fn receipt_numbers_are_unique_in_the_store_and_increase_per_terminal() {
    let till = stocked_till().await;
    let mut seen = std::collections::HashSet::new();
    for (i, terminal) in ["T01", "T02", "T01", "T03", "T02", "T01"].iter().enumerate() {
        let r = till.sold("S001", &format!("seq-{i}"), &basket(terminal, json!([{"sku": "MILK"}]), json!([cash(1299)]))).await;
        assert!(seen.insert(r["receiptNo"].as_str().unwrap().to_owned()), "{}", r["receiptNo"]);
    }
    let numbers: Vec<String> = till.recorded().iter().map(|s| s.receipt.receipt_no.clone()).collect();
    assert_eq!(numbers, ["T01-000001", "T02-000001", "T01-000002", "T03-000001", "T02-000002", "T01-000003"]);
    // Another store's till T01 counts on its own, and does not clash in its own store.
    let r = till.sold("S002", "seq-other", &basket("T01", json!([{"sku": "MILK"}]), json!([cash(1299)]))).await;
    assert_eq!((r["storeId"].as_str(), r["receiptNo"].as_str()), (Some("S002"), Some("T01-000001")));
}

#[tokio::test]
async fn a_store_in_another_timezone_counts_its_own_business_day() {
    let till = stocked_till().await;
    let a = till
        .shop
        .catalog(put_store_event("S003").claims(HO, None).json(&json!({"name": "London", "region": "WEST", "timezone": "Europe/London"})))
        .await;
    assert_eq!(a.status, 201, "{}", a.body);
    let late = last_2330_utc();
    let mut b = basket("T01", json!([{"sku": "MILK"}]), json!([card(1299)]));
    b["occurredAt"] = json!(rfc(late));
    let r = till.sold("S003", "london-1", &b).await;
    // 23:30 UTC is 23:30 (winter) or 00:30 (summer) in London: the local date decides.
    let london = late.with_timezone(&chrono_tz::Europe::London);
    assert_eq!(r["businessDay"], json!(london.date_naive().to_string()));
    // The same instant is the next day in Shanghai.
    let r = till.sold("S001", "shanghai-1", &b).await;
    assert_eq!(r["businessDay"], json!((late + Duration::days(1)).date_naive().to_string()));
}

#[tokio::test]
async fn a_timezone_change_moves_later_sales_only() {
    // A warm checkout remembers a store for a minute; this one sees each change at once.
    let mut till = stocked_till().await;
    till.checkout = std::sync::Arc::new(checkout::Checkout::with_memory(
        till.shop.store.clone(),
        retail_core::store::cache::Warm::forgetful(),
    ));
    let late = last_2330_utc() - Duration::days(1);
    let mut b = basket("T01", json!([{"sku": "MILK"}]), json!([card(1299)]));
    b["occurredAt"] = json!(rfc(late));
    let before = till.sold("S001", "tz-1", &b).await;
    let shanghai = (late + Duration::days(1)).date_naive().to_string();
    assert_eq!(before["businessDay"], json!(shanghai));
    let a = till
        .shop
        .catalog(put_store_event("S001").claims(HO, None).json(&json!({"name": "Shop", "region": "EAST", "timezone": "Europe/London"})))
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    // The recorded sale keeps the business day fixed when it was recorded.
    let id = before["saleId"].as_str().unwrap();
    assert_eq!(till.receipt("S001", id).await.ok(200), &before);
    // The same instant sold now counts on London's day.
    let after = till.sold("S001", "tz-2", &b).await;
    assert_eq!(after["businessDay"], json!(late.with_timezone(&chrono_tz::Europe::London).date_naive().to_string()));
}

mod reading_back {
    use super::*;

    #[tokio::test]
    async fn an_unknown_sale_is_404_and_a_malformed_id_400() {
        let till = stocked_till().await;
        let unknown = uuid::Uuid::now_v7().to_string();
        till.receipt("S001", &unknown).await.problem(404, "not_found");
        for bad in ["not-a-uuid", "123", "0190c2b1-5d1e-7000-8000-00000000000g"] {
            till.receipt("S001", bad).await.problem(400, "invalid_request");
        }
    }

    #[tokio::test]
    async fn a_sale_is_found_only_in_its_own_store() {
        let till = stocked_till().await;
        let r = till.sold("S001", "mine", &basket("T01", json!([{"sku": "MILK"}]), json!([cash(1299)]))).await;
        let id = r["saleId"].as_str().unwrap();
        till.receipt("S002", id).await.problem(404, "not_found");
        assert_eq!(till.receipt("S001", id).await.ok(200), &r);
    }

    #[tokio::test]
    async fn only_tokens_for_the_store_may_read_its_receipts() {
        let till = stocked_till().await;
        let r = till.sold("S001", "mine", &basket("T01", json!([{"sku": "MILK"}]), json!([cash(1299)]))).await;
        let id = r["saleId"].as_str().unwrap();
        for (scope, store) in [("pos", Some("S002")), ("store", Some("S002")), ("pos", None)] {
            till.call(receipt_event("S001", id).claims(scope, store)).await.problem(403, "forbidden_store");
        }
        till.call(receipt_event("S001", id).claims("reports", Some("S001"))).await.problem(403, "forbidden_scope");
        till.call(receipt_event("S001", id).without_authorizer()).await.problem(401, "unauthorized");
    }
}
