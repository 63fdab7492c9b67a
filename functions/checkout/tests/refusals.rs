//! checkout against API.md: every refusal of `POST /stores/{storeId}/sales`, with its status,
//! code and details, and that a refused sale records nothing and moves no stock.

use catalog_admin::CatalogAdmin;
use checkout::Checkout;
use chrono::{Duration, Utc};
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::testing::{catalog::*, request::*, till::*};
use serde_json::{Value, json};

/// A stocked till: the catalog-side functions and checkout over one memory store.
async fn stocked_till() -> Till {
    let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
    Till::stocked(shop, Checkout::new).await
}

fn milk() -> Value {
    json!({"sku": "MILK"})
}

/// Nothing was recorded and stock is where `Till::stocked` left it.
async fn nothing_moved(till: &Till) {
    assert!(till.recorded().is_empty(), "a refused sale was recorded");
    for (sku, on_hand) in [("MILK", 0), ("COOKER", 5), ("FLASH", 0), ("APPLE", 0)] {
        assert_eq!(till.shop.on_hand("S001", sku).await, on_hand, "{sku}");
    }
}

mod who_may_sell {
    use super::*;

    #[tokio::test]
    async fn a_till_selling_for_another_store_is_forbidden_store() {
        let till = stocked_till().await;
        let b = basket("T01", json!([milk()]), json!([cash(1299)]));
        for store in [Some("S002"), None] {
            let a = till.call(sale_event("S001").claims("pos", store).header("Idempotency-Key", "k1").json(&b)).await;
            a.problem(403, "forbidden_store");
        }
        nothing_moved(&till).await;
    }

    #[tokio::test]
    async fn store_managers_and_head_office_may_not_sell() {
        let till = stocked_till().await;
        let b = basket("T01", json!([milk()]), json!([cash(1299)]));
        for (scope, store) in [("store", Some("S001")), (HO, None), (HO, Some("S001")), ("store headoffice", Some("S001"))] {
            let a = till.call(sale_event("S001").claims(scope, store).header("Idempotency-Key", "k1").json(&b)).await;
            a.problem(403, "forbidden_scope");
            let a = till.call(upload_event("S001").claims(scope, store).json(&json!({"sales": []}))).await;
            a.problem(403, "forbidden_scope");
        }
        // The scope is checked before the store.
        let a = till.call(sale_event("S001").claims("store", Some("S002")).header("Idempotency-Key", "k1").json(&b)).await;
        a.problem(403, "forbidden_scope");
        till.call(sale_event("S001").header("Idempotency-Key", "k1").json(&b).without_authorizer()).await.problem(401, "unauthorized");
        nothing_moved(&till).await;
        // A till of the store may; a token listing several scopes needs only one accepted.
        till.call(sale_event("S001").claims("store pos", Some("S001")).header("Idempotency-Key", "k1").json(&b)).await.ok(201);
    }

    #[tokio::test]
    async fn a_sale_for_an_unknown_store_is_404() {
        let till = stocked_till().await;
        let b = basket("T01", json!([milk()]), json!([cash(1299)]));
        till.sell("S009", "k1", &b).await.problem(404, "not_found");
        till.sell("s001", "k1", &b).await.problem(400, "invalid_request");
    }
}

mod idempotency_key_header {
    use super::*;

    #[tokio::test]
    async fn a_sale_without_the_header_is_400_missing_idempotency_key() {
        let till = stocked_till().await;
        let b = basket("T01", json!([milk()]), json!([cash(1299)]));
        let a = till.call(sale_event("S001").claims("pos", Some("S001")).json(&b)).await;
        a.problem(400, "missing_idempotency_key");
        nothing_moved(&till).await;
    }

    #[tokio::test]
    async fn a_non_ascii_key_is_malformed_not_missing() {
        let till = stocked_till().await;
        let b = basket("T01", json!([milk()]), json!([cash(1299)]));
        // The header is there, so the key is malformed (400 invalid_request), not missing.
        till.sell("S001", "ключ", &b).await.problem(400, "invalid_request");
        nothing_moved(&till).await;
    }

    #[tokio::test]
    async fn a_malformed_key_is_400() {
        let till = stocked_till().await;
        let b = basket("T01", json!([milk()]), json!([cash(1299)]));
        for key in ["has space", "a/b", "key.1", &"k".repeat(65)] {
            let a = till.sell("S001", key, &b).await;
            a.problem(400, "invalid_request");
        }
        // An empty header is no key at all.
        let a = till.sell("S001", "", &b).await;
        assert_eq!(a.status, 400, "{}", a.body);
        nothing_moved(&till).await;
        // 64 characters of the allowed set are fine.
        till.sell("S001", &format!("{}_-", "K9".repeat(31)), &b).await.ok(201);
    }
}

mod shape {
    use super::*;

    /// Each of these is 400 `invalid_request`, whatever the catalog holds.
    #[tokio::test]
    async fn malformed_baskets_are_400_and_record_nothing() {
        let till = stocked_till().await;
        let line = |l: Value| basket("T01", json!([l]), json!([cash(100_000)]));
        let cases: Vec<(&str, Value)> = vec![
            ("no lines", basket("T01", json!([]), json!([cash(1)]))),
            ("201 lines", basket("T01", Value::Array(vec![milk(); 201]), json!([cash(1_000_000)]))),
            ("no payments", basket("T01", json!([milk()]), json!([]))),
            ("11 payments", basket("T01", json!([milk()]), Value::Array(vec![cash(200); 11]))),
            ("a payment of 0", basket("T01", json!([milk()]), json!([cash(1299), card(0)]))),
            ("a negative payment", basket("T01", json!([milk()]), json!([cash(-1)]))),
            ("a payment over the money limit", basket("T01", json!([milk()]), json!([cash(1_000_000_001)]))),
            ("an unknown method", basket("T01", json!([milk()]), json!([{"method": "cheque", "amount": 1299}]))),
            ("quantity 0", line(json!({"sku": "MILK", "quantity": 0}))),
            ("negative quantity", line(json!({"sku": "MILK", "quantity": -1}))),
            ("quantity 10,001", line(json!({"sku": "MILK", "quantity": 10_001}))),
            ("a fractional quantity", line(json!({"sku": "MILK", "quantity": 1.5}))),
            ("weightGrams 0", line(json!({"sku": "APPLE", "weightGrams": 0}))),
            ("weightGrams 100,001", line(json!({"sku": "APPLE", "weightGrams": 100_001}))),
            ("weightGrams on an each item", line(json!({"sku": "MILK", "weightGrams": 500}))),
            ("quantity on a kg item", line(json!({"sku": "APPLE", "quantity": 1}))),
            ("both quantity and weightGrams", line(json!({"sku": "APPLE", "quantity": 1, "weightGrams": 500}))),
            ("a kg line with neither", line(json!({"sku": "APPLE"}))),
            ("weightGrams on a scale label", line(json!({"barcode": apple_label(600), "weightGrams": 600}))),
            ("both sku and barcode", line(json!({"sku": "MILK", "barcode": milk_ean13()}))),
            ("neither sku nor barcode", line(json!({"quantity": 1}))),
            ("a malformed sku", line(json!({"sku": "-MILK"}))),
            ("an unknown member", line(json!({"sku": "MILK", "price": 1}))),
            ("a client price", json!({"terminalId": "T01", "lines": [milk()], "payments": [cash(1299)], "total": 1299})),
            ("a malformed terminal", basket("T 01", json!([milk()]), json!([cash(1299)]))),
            ("a malformed occurredAt", json!({"terminalId": "T01", "lines": [milk()], "payments": [cash(1299)], "occurredAt": "today"})),
        ];
        for (why, body) in cases {
            let a = till.sell("S001", "shape", &body).await;
            assert_eq!((a.status, a.body["code"].as_str()), (400, Some("invalid_request")), "{why}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        nothing_moved(&till).await;
        // The limits themselves are allowed.
        let edge = basket(
            "T01",
            json!([{"sku": "MILK", "quantity": 10_000}, {"sku": "APPLE", "weightGrams": 100_000}]),
            Value::Array(vec![cash(2_000_000); 10]),
        );
        let r = till.sold("S001", "edge", &edge).await;
        assert_eq!(r["total"], json!(1299 * 10_000 + 159_800));
    }

    #[tokio::test]
    async fn two_hundred_lines_are_allowed_and_merge() {
        // 200 × 12.99 = 2598.00; tax round(259800 × 1300 / 11300) = round(29888.496) = 29888.
        let till = stocked_till().await;
        let r = till.sold("S001", "k200", &basket("T01", Value::Array(vec![milk(); 200]), json!([cash(259_800)]))).await;
        assert_eq!(r["lines"], json!([{"sku": "MILK", "name": "Milk 1L", "quantity": 200, "unitAmount": 1299, "lineAmount": 259_800, "discountAmount": 0, "netAmount": 259_800, "taxAmount": 29_888, "adjustmentId": "list:0"}]));
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_415_and_bad_json_400() {
        let till = stocked_till().await;
        let b = basket("T01", json!([milk()]), json!([cash(1299)]));
        let a = till.call(sale_event("S001").claims("pos", Some("S001")).header("Idempotency-Key", "k").body_with_type("text/plain", &b.to_string())).await;
        a.problem(415, "unsupported_media_type");
        let a = till.call(sale_event("S001").claims("pos", Some("S001")).header("Idempotency-Key", "k").raw_json("{\"terminalId\":")).await;
        a.problem(400, "invalid_request");
        let dup = r#"{"terminalId":"T01","terminalId":"T02","lines":[{"sku":"MILK"}],"payments":[{"method":"cash","amount":1299}]}"#;
        let a = till.call(sale_event("S001").claims("pos", Some("S001")).header("Idempotency-Key", "k").raw_json(dup)).await;
        a.problem(400, "invalid_request");
        nothing_moved(&till).await;
    }

    #[tokio::test]
    async fn a_body_over_one_mebibyte_is_413_before_anything_else_is_checked() {
        let till = stocked_till().await;
        let big = padded(&basket("T01", json!([milk()]), json!([cash(1299)])), MAX_BODY + 1);
        // No key and an unknown store: the size answers first.
        let a = till.call(sale_event("S009").claims("pos", Some("S009")).raw_json(&big)).await;
        a.problem(413, "payload_too_large");
        // Exactly the limit is read (and sold).
        let fits = padded(&basket("T01", json!([milk()]), json!([cash(1299)])), MAX_BODY);
        till.call(sale_event("S001").claims("pos", Some("S001")).header("Idempotency-Key", "big").raw_json(&fits)).await.ok(201);
    }

    #[tokio::test]
    async fn without_a_key_a_wrong_media_type_is_still_415() {
        let till = stocked_till().await;
        let a = till.call(sale_event("S001").claims("pos", Some("S001")).body_with_type("text/plain", "{}")).await;
        a.problem(415, "unsupported_media_type");
        // And a malformed body is 400 invalid_request, and an unknown store after a missing key 400.
        let a = till.call(sale_event("S009").claims("pos", Some("S009")).json(&basket("T01", json!([milk()]), json!([cash(1299)])))).await;
        a.problem(400, "missing_idempotency_key");
    }

    #[tokio::test]
    async fn a_bad_check_digit_is_400_invalid_barcode() {
        let till = stocked_till().await;
        for code in [wrong_check(&milk_ean13()), "12345".into(), "69012345678a".into(), gs1("211234500000")] {
            let a = till.sell("S001", "k", &basket("T01", json!([milk(), {"barcode": code}]), json!([cash(100_000)]))).await;
            assert_eq!(a.problem(400, "invalid_barcode")["line"], json!(1), "{code}");
        }
        nothing_moved(&till).await;
    }
}

mod business_rules {
    use super::*;

    #[tokio::test]
    async fn an_unknown_sku_or_barcode_is_422_unknown_commodity_naming_the_line() {
        let till = stocked_till().await;
        for (line, unknown) in [
            (1, json!({"sku": "GHOST"})),
            (1, json!({"barcode": gs1("690000000099")})),
            (1, json!({"barcode": gs1("219999900500")})),
        ] {
            let a = till.sell("S001", "k", &basket("T01", json!([milk(), unknown, milk()]), json!([cash(100_000)]))).await;
            assert_eq!(a.problem(422, "unknown_commodity")["line"], json!(line));
        }
        nothing_moved(&till).await;
    }

    #[tokio::test]
    async fn a_line_without_a_price_in_force_is_422_no_price_naming_the_line() {
        let till = stocked_till().await;
        let a = till.sell("S001", "k", &basket("T01", json!([milk(), milk(), {"sku": "NOPRICE"}]), json!([cash(100_000)]))).await;
        assert_eq!(a.problem(422, "no_price")["line"], json!(2));
        // An unknown item is refused before a missing price, whatever their lines.
        let a = till.sell("S001", "k", &basket("T01", json!([{"sku": "NOPRICE"}, {"sku": "GHOST"}]), json!([cash(100_000)]))).await;
        assert_eq!(a.problem(422, "unknown_commodity")["line"], json!(1));
        nothing_moved(&till).await;
    }

    #[tokio::test]
    async fn a_shared_barcode_in_a_sale_is_422_ambiguous_barcode() {
        let till = stocked_till().await;
        let a = till.sell("S001", "k", &basket("T01", json!([milk(), {"barcode": shared_code()}]), json!([cash(100_000)]))).await;
        let p = a.problem(422, "ambiguous_barcode");
        assert_eq!(p["line"], json!(1));
        assert_eq!(p["skus"], json!(["SHARE-A", "SHARE-B"]));
        nothing_moved(&till).await;
        // The till sends the sku instead.
        let r = till.sold("S001", "k", &basket("T01", json!([milk(), {"sku": "SHARE-B"}]), json!([cash(1399)]))).await;
        assert_eq!(r["total"], json!(1399));
    }

    #[tokio::test]
    async fn payments_short_of_the_total_are_422_payment_mismatch() {
        let till = stocked_till().await;
        for payments in [json!([cash(1298)]), json!([card(1000), mobile(298)]), json!([card(1), cash(1297)])] {
            let a = till.sell("S001", "k", &basket("T01", json!([milk()]), payments)).await;
            a.problem(422, "payment_mismatch");
        }
        nothing_moved(&till).await;
    }

    #[tokio::test]
    async fn card_and_mobile_above_the_total_are_422_payment_mismatch() {
        let till = stocked_till().await;
        for payments in [json!([card(1300)]), json!([card(1000), mobile(300)]), json!([mobile(1300), cash(100)])] {
            let a = till.sell("S001", "k", &basket("T01", json!([milk()]), payments)).await;
            a.problem(422, "payment_mismatch");
        }
        nothing_moved(&till).await;
        // Cash may exceed the total: the excess is change.
        let r = till.sold("S001", "k", &basket("T01", json!([milk()]), json!([card(1000), cash(500)]))).await;
        assert_eq!((r["paid"].clone(), r["change"].clone(), r["total"].clone()), (json!(1500), json!(201), json!(1299)));
    }

    #[tokio::test]
    async fn a_total_or_payments_past_the_money_limit_are_422_amount_too_large() {
        let till = stocked_till().await;
        till.shop.seed_commodity("GOLD", &commodity("each", &[], "track")).await;
        till.shop
            .seed_prices("gold", json!([{"sku": "GOLD", "scope": "chain", "amount": 1_000_000_000, "validFrom": "2020-01-01T00:00:00Z"}]))
            .await;
        // Three bars at the largest price: a total of 3,000,000,000.
        let a = till.sell("S001", "k", &basket("T01", json!([{"sku": "GOLD", "quantity": 3}]), json!([cash(1_000_000_000)]))).await;
        a.problem(422, "amount_too_large");
        // Ten cash payments at the limit: paid 10,000,000,000.
        let a = till.sell("S001", "k", &basket("T01", json!([milk()]), Value::Array(vec![cash(1_000_000_000); 10]))).await;
        a.problem(422, "amount_too_large");
        nothing_moved(&till).await;
        // One bar paid with one payment at the limit fits.
        let r = till.sold("S001", "k", &basket("T01", json!([{"sku": "GOLD"}]), json!([card(1_000_000_000)]))).await;
        assert_eq!(r["total"], json!(1_000_000_000));
    }

    #[tokio::test]
    async fn a_strict_item_short_of_stock_is_409_out_of_stock_and_nothing_moves() {
        let till = stocked_till().await;
        let b = basket(
            "T01",
            json!([{"sku": "MILK", "quantity": 2}, {"sku": "COOKER", "quantity": 4}, {"sku": "FLASH"}, {"sku": "COOKER", "quantity": 2}]),
            json!([cash(1_000_000)]),
        );
        let a = till.sell("S001", "short", &b).await;
        let p = a.problem(409, "out_of_stock");
        assert_eq!(
            p["shortages"],
            json!([{"sku": "COOKER", "requested": 6, "available": 5}, {"sku": "FLASH", "requested": 1, "available": 0}])
        );
        nothing_moved(&till).await;
    }

    #[tokio::test]
    async fn refusals_come_in_the_contracts_order() {
        let till = stocked_till().await;
        // Unknown beats no price beats payment beats stock.
        let all = json!([{"sku": "FLASH"}, {"sku": "NOPRICE"}, {"sku": "GHOST"}]);
        till.sell("S001", "k", &basket("T01", all, json!([cash(1)]))).await.problem(422, "unknown_commodity");
        let three = json!([{"sku": "FLASH"}, {"sku": "NOPRICE"}]);
        till.sell("S001", "k", &basket("T01", three, json!([cash(1)]))).await.problem(422, "no_price");
        till.sell("S001", "k", &basket("T01", json!([{"sku": "FLASH"}]), json!([cash(1)]))).await.problem(422, "payment_mismatch");
        till.sell("S001", "k", &basket("T01", json!([{"sku": "FLASH"}]), json!([cash(9900)]))).await.problem(409, "out_of_stock");
        // A 400 answers before any 422.
        let bad = json!([{"sku": "GHOST"}, {"sku": "MILK", "weightGrams": 5}]);
        till.sell("S001", "k", &basket("T01", bad, json!([cash(1)]))).await.problem(400, "invalid_request");
        nothing_moved(&till).await;
    }

    #[tokio::test]
    async fn a_shortage_never_reports_less_than_zero_available() {
        let till = stocked_till().await;
        // Milk was tracked and oversold, then head office made it strict.
        till.sold("S001", "k1", &basket("T01", json!([{"sku": "MILK", "quantity": 4}]), json!([cash(5196)]))).await;
        assert_eq!(till.shop.on_hand("S001", "MILK").await, -4);
        till.shop.seed_commodity("MILK", &json!({"name": "Milk 1L", "unit": "each", "taxRateBp": 1300, "barcodes": [milk_ean13()], "stockPolicy": "strict"})).await;
        let a = till.sell("S001", "k2", &basket("T01", json!([{"sku": "MILK"}]), json!([cash(1299)]))).await;
        assert_eq!(a.problem(409, "out_of_stock")["shortages"], json!([{"sku": "MILK", "requested": 1, "available": 0}]));
        assert_eq!(till.shop.on_hand("S001", "MILK").await, -4);
        assert_eq!(till.recorded().len(), 1);
    }

    #[tokio::test]
    async fn tracked_stock_may_go_below_zero() {
        let till = stocked_till().await;
        till.shop.move_stock("S001", json!([{"sku": "MILK", "delta": 2, "reason": "receipt"}])).await.ok(200);
        till.sold("S001", "k", &basket("T01", json!([{"sku": "MILK", "quantity": 5}]), json!([cash(6495)]))).await;
        assert_eq!(till.shop.on_hand("S001", "MILK").await, -3);
    }
}

mod time {
    use super::*;

    fn at(offset: Duration) -> Value {
        let mut b = basket("T01", json!([milk()]), json!([cash(1299)]));
        b["occurredAt"] = json!(rfc(Utc::now() + offset));
        b
    }

    #[tokio::test]
    async fn a_sale_older_than_72_hours_is_422_sale_too_old() {
        let till = stocked_till().await;
        till.sell("S001", "k", &at(-Duration::hours(73))).await.problem(422, "sale_too_old");
        nothing_moved(&till).await;
        let r = till.sold("S001", "k", &at(-Duration::hours(71))).await;
        assert_eq!(r["total"], json!(1299));
    }

    #[tokio::test]
    async fn a_sale_more_than_5_minutes_ahead_is_422_sale_in_future() {
        let till = stocked_till().await;
        till.sell("S001", "k", &at(Duration::minutes(10))).await.problem(422, "sale_in_future");
        nothing_moved(&till).await;
        // A till clock a little fast is fine.
        till.sold("S001", "k", &at(Duration::minutes(4))).await;
    }

    #[tokio::test]
    async fn an_offline_sale_is_priced_at_the_regular_price_in_force_then_not_now() {
        let till = stocked_till().await;
        let shop = &till.shop;
        shop.seed_commodity("TEA", &json!({"name": "Tea", "unit": "each", "taxRateBp": 1300, "barcodes": [], "stockPolicy": "track"})).await;
        shop.seed_prices("tea-old", json!([{"sku": "TEA", "scope": "chain", "amount": 800, "validFrom": LONG_AGO}])).await;
        // Head office raised the price a day ago.
        let raised = rfc(Utc::now() - Duration::hours(24));
        shop.seed_prices("tea-new", json!([{"sku": "TEA", "scope": "chain", "amount": 1000, "validFrom": raised}])).await;
        let then = Utc::now() - Duration::hours(48);
        // The price service itself says 8.00 was in force then.
        assert_eq!(shop.explain("S001", "TEA", &rfc(then)).await.ok(200)["amount"], json!(800));

        let mut offline = basket("T01", json!([{"sku": "TEA"}]), json!([cash(800)]));
        offline["occurredAt"] = json!(rfc(then));
        let a = till.sell("S001", "offline-48h", &offline).await;
        let r = a.ok(201);
        assert_eq!((r["lines"][0]["unitAmount"].clone(), r["lines"][0]["adjustmentId"].clone()), (json!(800), json!("tea-old:0")));
        assert_eq!(r["total"], json!(800));
        // Sold now, it is 10.00.
        let r = till.sold("S001", "online", &basket("T01", json!([{"sku": "TEA"}]), json!([cash(1000)]))).await;
        assert_eq!(r["lines"][0]["adjustmentId"], json!("tea-new:0"));
    }

    #[tokio::test]
    async fn an_offline_sale_during_a_promotion_since_ended_gets_the_promotion() {
        let till = stocked_till().await;
        let shop = &till.shop;
        let (from, to) = (Utc::now() - Duration::hours(60), Utc::now() - Duration::hours(36));
        shop.seed_prices("milk-flash", json!([{"sku": "MILK", "scope": "chain", "amount": 999, "validFrom": rfc(from), "validTo": rfc(to)}])).await;
        let then = Utc::now() - Duration::hours(48);
        assert_eq!(shop.explain("S001", "MILK", &rfc(then)).await.ok(200)["amount"], json!(999));

        let mut offline = basket("T01", json!([milk()]), json!([cash(1299)]));
        offline["occurredAt"] = json!(rfc(then));
        let r = till.sold("S001", "offline-promo", &offline).await;
        assert_eq!(
            r["lines"][0],
            json!({"sku": "MILK", "name": "Milk 1L", "quantity": 1, "unitAmount": 999, "lineAmount": 999, "discountAmount": 0, "netAmount": 999, "taxAmount": 115, "adjustmentId": "milk-flash:0"})
        );
        assert_eq!((r["total"].clone(), r["change"].clone()), (json!(999), json!(300)));
    }
}
