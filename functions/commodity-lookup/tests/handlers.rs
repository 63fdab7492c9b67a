//! commodity-lookup against API.md: by sku, by scanned barcode, and the batch lookup, over a
//! catalog, stock and prices seeded through catalog-admin and price-adjustment.

use catalog_admin::CatalogAdmin;
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::testing::{catalog::*, request::*};
use retail_core::store::cache::StoreCache;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

const LONG_AGO: &str = "2020-01-01T08:00:00+08:00";
const LONG_AGO_UTC: &str = "2020-01-01T00:00:00Z";
const FAR_AHEAD: &str = "2099-01-01T00:00:00Z";

struct Codes {
    milk_ean13: String,
    milk_ean8: String,
    cola_upc_a: String,
    flour_ean13: String,
    bread_prefix_22: String,
    shared: String,
}

fn codes() -> Codes {
    Codes {
        milk_ean13: gs1("690123456789"),
        milk_ean8: gs1("9638507"),
        cola_upc_a: gs1("03600029145"),
        flour_ean13: gs1("690000000001"),
        bread_prefix_22: gs1("220000012345"),
        shared: gs1("690123456700"),
    }
}

/// S001 (EAST) and S002 (WEST); milk, cola, bread and cake by the piece, apples and flour by
/// weight, two skus sharing one code; milk priced chain-wide and stocked in S001.
async fn stocked_shop() -> (Shop, Codes) {
    let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
    let c = codes();
    shop.put_store("S001", "EAST").await;
    shop.put_store("S002", "WEST").await;
    let with = |name: &str, unit: &str, barcodes: Vec<&str>, category: Value, policy: &str| {
        json!({"name": name, "unit": unit, "taxRateBp": 1300, "barcodes": barcodes, "category": category, "stockPolicy": policy})
    };
    shop.seed_commodity("MILK", &with("Milk 1L", "each", vec![&c.milk_ean13, &c.milk_ean8], json!("dairy"), "track")).await;
    shop.seed_commodity("COLA", &with("Cola", "each", vec![&c.cola_upc_a], Value::Null, "track")).await;
    shop.seed_commodity("BREAD", &with("Bread", "each", vec![&c.bread_prefix_22], Value::Null, "track")).await;
    shop.seed_commodity("CAKE", &with("Cake slice", "each", vec!["2312345"], json!("bakery"), "track")).await;
    shop.seed_commodity("APPLE", &with("Apples", "kg", vec!["2112345"], json!("fruit"), "strict")).await;
    shop.seed_commodity("FLOUR", &with("Flour", "kg", vec![&c.flour_ean13], Value::Null, "track")).await;
    for sku in ["SHARE-A", "SHARE-B"] {
        let body = json!({"name": sku, "unit": "each", "taxRateBp": 900, "barcodes": [c.shared], "stockPolicy": "track", "allowSharedBarcodes": true});
        shop.seed_commodity(sku, &body).await;
    }
    shop.seed_prices("milk-2020", json!([{"sku": "MILK", "scope": "chain", "amount": 1299, "validFrom": LONG_AGO, "reason": "list price"}])).await;
    shop.move_stock("S001", json!([{"sku": "MILK", "delta": 24, "reason": "receipt"}, {"sku": "APPLE", "delta": 12_500, "reason": "receipt"}])).await.ok(200);
    (shop, c)
}

fn milk_in_s001(c: &Codes) -> Value {
    json!({
        "sku": "MILK", "name": "Milk 1L", "unit": "each", "taxRateBp": 1300,
        "barcodes": [c.milk_ean13, c.milk_ean8], "category": "dairy",
        "price": {"amount": 1299, "currency": "CNY", "adjustmentId": "milk-2020:0", "validFrom": LONG_AGO_UTC, "validTo": null},
        "stock": {"onHand": 24, "policy": "track"}
    })
}

fn scanned_as(mut item: Value, scanned: Value) -> Value {
    item["scanned"] = scanned;
    item
}

mod who_may_call {
    use super::*;

    /// A route's name, and its request for a store.
    type RouteEvent = (&'static str, fn(&str) -> Event);

    fn events() -> Vec<RouteEvent> {
        vec![
            ("by sku", |s| by_sku_event(s, "MILK")),
            ("by barcode", |s| by_barcode_event(s, "6901234567892")),
            ("batch", |s| batch_lookup_event(s).json(&json!({"skus": ["MILK"]}))),
            ("catalog", |s| Event::new("GET", "/stores/{storeId}/catalog", &format!("/stores/{s}/catalog?limit=1"))),
        ]
    }

    #[tokio::test]
    async fn every_route_refuses_a_request_the_authorizer_did_not_see() {
        let (shop, _) = stocked_shop().await;
        for (route, event) in events() {
            let a = shop.lookup(event("S001").without_authorizer()).await;
            assert_eq!(a.status, 401, "{route}: {}", a.body);
            a.problem(401, "unauthorized");
        }
    }

    #[tokio::test]
    async fn tills_managers_and_head_office_may_look_up() {
        let (shop, _) = stocked_shop().await;
        for (route, event) in events() {
            for (scope, store) in [("pos", Some("S001")), ("store", Some("S001")), (HO, None), (HO, Some("S002"))] {
                let a = shop.lookup(event("S001").claims(scope, store)).await;
                assert_eq!(a.status, 200, "{route} as {scope}: {}", a.body);
                a.ok(200);
            }
        }
    }

    #[tokio::test]
    async fn a_till_or_manager_of_another_store_or_of_none_is_forbidden_store() {
        let (shop, _) = stocked_shop().await;
        for (route, event) in events() {
            for (scope, store) in [("pos", Some("S002")), ("store", Some("S002")), ("pos", None), ("store", None)] {
                let a = shop.lookup(event("S001").claims(scope, store)).await;
                assert_eq!(a.status, 403, "{route} as {scope} {store:?}: {}", a.body);
                a.problem(403, "forbidden_store");
            }
        }
    }

    #[tokio::test]
    async fn a_token_with_none_of_the_scopes_is_forbidden_scope_before_the_store_is_checked() {
        let (shop, _) = stocked_shop().await;
        for (route, event) in events() {
            for (scope, store) in [("reports", Some("S001")), ("", Some("S001")), ("admin", Some("S002"))] {
                let a = shop.lookup(event("S001").claims(scope, store)).await;
                assert_eq!(a.status, 403, "{route} as {scope:?}: {}", a.body);
                a.problem(403, "forbidden_scope");
            }
        }
    }

    #[tokio::test]
    async fn the_store_is_checked_before_the_path_is_parsed() {
        let (shop, _) = stocked_shop().await;
        // A till of S001 may not touch "s001", valid or not.
        shop.lookup(by_sku_event("s001", "MILK").claims("pos", Some("S001"))).await.problem(403, "forbidden_store");
        shop.lookup(by_sku_event("s001", "MILK").claims(HO, None)).await.problem(400, "invalid_request");
    }
}

mod by_sku {
    use super::*;

    #[tokio::test]
    async fn a_commodity_comes_with_its_price_in_force_and_its_stock_in_this_store() {
        let (shop, c) = stocked_shop().await;
        let a = shop.lookup(by_sku_event("S001", "MILK").claims("pos", Some("S001"))).await;
        assert_eq!(a.ok(200), &milk_in_s001(&c));
        // Stock is per store.
        let a = shop.lookup_sku("S002", "MILK").await;
        assert_eq!(a.ok(200)["stock"], json!({"onHand": 0, "policy": "track"}));
        // Weighed stock is in grams.
        assert_eq!(shop.lookup_sku("S001", "APPLE").await.ok(200)["stock"], json!({"onHand": 12_500, "policy": "strict"}));
    }

    #[tokio::test]
    async fn a_commodity_without_a_price_in_force_has_a_null_price() {
        let (shop, _) = stocked_shop().await;
        shop.seed_prices(
            "not-here",
            json!([
                {"sku": "COLA", "scope": "region:WEST", "amount": 350, "validFrom": LONG_AGO},
                {"sku": "COLA", "scope": "store:S002", "amount": 340, "validFrom": LONG_AGO},
                {"sku": "COLA", "scope": "chain", "amount": 330, "validFrom": FAR_AHEAD},
                {"sku": "COLA", "scope": "chain", "amount": 300, "validFrom": LONG_AGO, "validTo": "2020-02-01T00:00:00Z"},
            ]),
        )
        .await;
        let a = shop.lookup_sku("S001", "COLA").await;
        let body = a.ok(200);
        assert!(body.as_object().unwrap().contains_key("price"), "{body}");
        assert_eq!(body["price"], Value::Null);
        assert_eq!(body["category"], Value::Null);
        assert_eq!(shop.price_now("S002", "COLA").await, Some(340));
    }

    #[tokio::test]
    async fn a_promotion_in_force_shows_its_window_in_utc() {
        let (shop, _) = stocked_shop().await;
        shop.seed_prices(
            "milk-promo",
            json!([{"sku": "MILK", "scope": "region:EAST", "amount": 999, "validFrom": "2026-01-01T08:00:00+08:00", "validTo": "2098-12-31T20:00:00-04:00"}]),
        )
        .await;
        let a = shop.lookup_sku("S001", "MILK").await;
        assert_eq!(
            a.ok(200)["price"],
            json!({"amount": 999, "currency": "CNY", "adjustmentId": "milk-promo:0", "validFrom": "2026-01-01T00:00:00Z", "validTo": "2099-01-01T00:00:00Z"})
        );
        // S002 is in WEST: the regular chain price still holds there.
        assert_eq!(shop.price_now("S002", "MILK").await, Some(1299));
    }

    #[tokio::test]
    async fn a_store_moved_to_another_region_sees_that_regions_prices_from_then_on() {
        let (mut shop, _) = stocked_shop().await;
        // A warm function remembers a store for a minute; this one forgets at once.
        shop.lookup = Arc::new(CommodityLookup::with_store_cache(shop.store.clone(), StoreCache::new(Duration::ZERO)));
        shop.seed_prices("west", json!([{"sku": "COLA", "scope": "region:WEST", "amount": 350, "validFrom": LONG_AGO}])).await;
        assert_eq!(shop.price_now("S001", "COLA").await, None);
        shop.put_store("S001", "WEST").await;
        assert_eq!(shop.price_now("S001", "COLA").await, Some(350));
    }

    #[tokio::test]
    async fn an_unknown_sku_or_store_is_not_found() {
        let (shop, _) = stocked_shop().await;
        shop.lookup_sku("S001", "GHOST").await.problem(404, "not_found");
        shop.lookup_sku("S404", "MILK").await.problem(404, "not_found");
        shop.lookup(by_sku_event("S404", "MILK").claims("pos", Some("S404"))).await.problem(404, "not_found");
    }

    #[tokio::test]
    async fn an_invalid_store_or_sku_in_the_path_is_invalid_request() {
        let (shop, _) = stocked_shop().await;
        let long = "M".repeat(33);
        for (store, sku) in [("s001", "MILK"), ("-S1", "MILK"), ("S001", "a b"), ("S001", ".milk"), ("S001", long.as_str())] {
            let a = shop.lookup_sku(store, sku).await;
            assert_eq!(a.status, 400, "{store} {sku}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        // Even when the store does not exist: 400 before 404.
        shop.lookup_sku("S404", "a b").await.problem(400, "invalid_request");
    }
}

mod by_barcode {
    use super::*;

    #[tokio::test]
    async fn an_ean13_scan_answers_the_commodity_and_one_unit() {
        let (shop, c) = stocked_shop().await;
        let a = shop.lookup(by_barcode_event("S001", &c.milk_ean13).claims("pos", Some("S001"))).await;
        assert_eq!(a.ok(200), &scanned_as(milk_in_s001(&c), json!({"barcode": c.milk_ean13, "quantity": 1})));
    }

    #[tokio::test]
    async fn an_ean8_scan_answers_the_commodity() {
        let (shop, c) = stocked_shop().await;
        let a = shop.scan("S001", &c.milk_ean8).await;
        assert_eq!(a.ok(200), &scanned_as(milk_in_s001(&c), json!({"barcode": c.milk_ean8, "quantity": 1})));
    }

    #[tokio::test]
    async fn a_upc_a_scan_is_read_as_its_ean13() {
        let (shop, c) = stocked_shop().await;
        let a = shop.scan("S001", &c.cola_upc_a).await;
        let body = a.ok(200);
        assert_eq!(body["sku"], "COLA");
        assert_eq!(body["barcodes"], json!([format!("0{}", c.cola_upc_a)]));
        assert_eq!(body["scanned"], json!({"barcode": c.cola_upc_a, "quantity": 1}));
        // The same code scanned as EAN-13 finds the same commodity, and says what was scanned.
        let ean13 = format!("0{}", c.cola_upc_a);
        let a = shop.scan("S001", &ean13).await;
        assert_eq!(a.ok(200)["sku"], "COLA");
        assert_eq!(a.body["scanned"], json!({"barcode": ean13, "quantity": 1}));
    }

    #[tokio::test]
    async fn a_weighed_label_carries_its_weight_in_grams() {
        let (shop, _) = stocked_shop().await;
        let label = gs1("211234501250");
        let a = shop.scan("S001", &label).await;
        let body = a.ok(200);
        assert_eq!(body["sku"], "APPLE");
        assert_eq!(body["unit"], "kg");
        assert_eq!(body["barcodes"], json!(["2112345"]));
        // A weighed item has no quantity.
        assert_eq!(body["scanned"], json!({"barcode": label, "weightGrams": 1250}));
    }

    #[tokio::test]
    async fn a_priced_label_carries_its_amount_and_counts_one_unit() {
        let (shop, _) = stocked_shop().await;
        let label = gs1("231234500899");
        let a = shop.scan("S001", &label).await;
        let body = a.ok(200);
        assert_eq!(body["sku"], "CAKE");
        assert_eq!(body["scanned"], json!({"barcode": label, "quantity": 1, "embeddedAmount": 899}));
        assert_eq!(body["price"], Value::Null);
    }

    #[tokio::test]
    async fn a_plain_barcode_of_a_weighed_item_carries_no_measure() {
        let (shop, c) = stocked_shop().await;
        let a = shop.scan("S001", &c.flour_ean13).await;
        let body = a.ok(200);
        assert_eq!(body["sku"], "FLOUR");
        assert_eq!(body["scanned"], json!({"barcode": c.flour_ean13}));
    }

    #[tokio::test]
    async fn other_prefix_2_codes_are_ordinary_barcodes() {
        let (shop, c) = stocked_shop().await;
        let a = shop.scan("S001", &c.bread_prefix_22).await;
        let body = a.ok(200);
        assert_eq!(body["sku"], "BREAD");
        assert_eq!(body["scanned"], json!({"barcode": c.bread_prefix_22, "quantity": 1}));
    }

    #[tokio::test]
    async fn a_code_that_is_not_a_valid_barcode_is_invalid_barcode() {
        let (shop, c) = stocked_shop().await;
        for (why, code) in [
            ("EAN-13 check digit", wrong_check(&c.milk_ean13)),
            ("EAN-8 check digit", wrong_check(&c.milk_ean8)),
            ("UPC-A check digit", wrong_check(&c.cola_upc_a)),
            ("weighed label check digit", wrong_check(&gs1("211234501250"))),
            ("the 7-digit item part", "2112345".to_owned()),
            ("5 digits", "12345".to_owned()),
            ("11 digits", "03600029145".to_owned()),
            ("14 digits", gs1("0690123456789")),
            ("letters", "69012345678A".to_owned()),
            ("zero embedded weight", gs1("211234500000")),
            ("zero embedded amount", gs1("231234500000")),
        ] {
            let a = shop.scan("S001", &code).await;
            assert_eq!(a.status, 400, "{why} {code}: {}", a.body);
            a.problem(400, "invalid_barcode");
        }
        // 400 before 404: the store is not looked at.
        shop.scan("S404", "12345").await.problem(400, "invalid_barcode");
    }

    #[tokio::test]
    async fn an_unknown_barcode_or_store_is_not_found() {
        let (shop, c) = stocked_shop().await;
        shop.scan("S001", &gs1("690999999999")).await.problem(404, "not_found");
        shop.scan("S001", &gs1("9699999")).await.problem(404, "not_found");
        // A weighed label whose item part nobody registered.
        shop.scan("S001", &gs1("219999901250")).await.problem(404, "not_found");
        shop.scan("S404", &c.milk_ean13).await.problem(404, "not_found");
        shop.scan("s001", &c.milk_ean13).await.problem(400, "invalid_request");
    }

    #[tokio::test]
    async fn a_barcode_shared_by_several_skus_is_ambiguous() {
        let (shop, c) = stocked_shop().await;
        let a = shop.scan("S001", &c.shared).await;
        let body = a.problem(409, "ambiguous_barcode");
        assert_eq!(body["skus"], json!(["SHARE-A", "SHARE-B"]));
    }
}

mod batch {
    use super::*;

    #[tokio::test]
    async fn items_are_answered_with_the_requested_strings_not_found() {
        let (shop, c) = stocked_shop().await;
        let unknown = gs1("690999999999");
        let label = gs1("211234501250");
        let body = json!({"skus": ["MILK", "NOPE"], "barcodes": [c.cola_upc_a, unknown, label]});
        let a = shop.lookup(batch_lookup_event("S001").claims("pos", Some("S001")).json(&body)).await;
        let body = a.ok(200);
        let items = body["items"].as_array().unwrap();
        assert_eq!(items.len(), 3, "{body}");
        let find = |sku: &str| items.iter().find(|i| i["sku"] == sku).unwrap_or_else(|| panic!("{sku} in {body}"));
        assert_eq!(find("MILK"), &milk_in_s001(&c));
        assert_eq!(find("COLA")["scanned"], json!({"barcode": c.cola_upc_a, "quantity": 1}));
        assert_eq!(find("APPLE")["scanned"], json!({"barcode": label, "weightGrams": 1250}));
        assert_eq!(find("APPLE")["stock"], json!({"onHand": 12_500, "policy": "strict"}));
        let mut not_found: Vec<&str> = body["notFound"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        not_found.sort();
        let mut expected = vec!["NOPE", unknown.as_str()];
        expected.sort();
        assert_eq!(not_found, expected);
    }

    #[tokio::test]
    async fn skus_or_barcodes_alone_will_do_and_the_other_may_be_null() {
        let (shop, c) = stocked_shop().await;
        let a = shop.lookup_batch("S001", &json!({"skus": ["MILK"]})).await;
        assert_eq!(a.ok(200), &json!({"items": [milk_in_s001(&c)], "notFound": []}));
        let a = shop.lookup_batch("S001", &json!({"skus": null, "barcodes": [c.milk_ean8]})).await;
        let expected = scanned_as(milk_in_s001(&c), json!({"barcode": c.milk_ean8, "quantity": 1}));
        assert_eq!(a.ok(200), &json!({"items": [expected], "notFound": []}));
        let a = shop.lookup_batch("S001", &json!({"skus": ["GHOST"], "barcodes": null})).await;
        assert_eq!(a.ok(200), &json!({"items": [], "notFound": ["GHOST"]}));
    }

    #[tokio::test]
    async fn items_are_seen_from_the_store_asked_about() {
        let (shop, _) = stocked_shop().await;
        shop.seed_prices("west", json!([{"sku": "COLA", "scope": "region:WEST", "amount": 350, "validFrom": LONG_AGO}])).await;
        let a = shop.lookup_batch("S002", &json!({"skus": ["MILK", "COLA"]})).await;
        let items = a.ok(200)["items"].as_array().unwrap().clone();
        let milk = items.iter().find(|i| i["sku"] == "MILK").unwrap();
        let cola = items.iter().find(|i| i["sku"] == "COLA").unwrap();
        assert_eq!(milk["stock"]["onHand"], 0);
        assert_eq!(milk["price"]["amount"], 1299);
        assert_eq!(cola["price"]["amount"], 350);
        let a = shop.lookup_batch("S001", &json!({"skus": ["COLA"]})).await;
        assert_eq!(a.ok(200)["items"][0]["price"], Value::Null);
    }

    #[tokio::test]
    async fn one_to_a_hundred_skus_and_barcodes_together_are_accepted() {
        let (shop, _) = stocked_shop().await;
        let skus: Vec<String> = (0..50).map(|i| format!("NONE-{i}")).collect();
        let barcodes: Vec<String> = (0..50).map(|i| gs1(&format!("6999999999{i:02}"))).collect();
        let a = shop.lookup_batch("S001", &json!({"skus": skus, "barcodes": barcodes})).await;
        let body = a.ok(200);
        assert_eq!(body["items"], json!([]));
        let mut not_found: Vec<String> = serde_json::from_value(body["notFound"].clone()).unwrap();
        not_found.sort();
        let mut asked: Vec<String> = skus.iter().chain(&barcodes).cloned().collect();
        asked.sort();
        assert_eq!(not_found, asked);

        let one_more: Vec<String> = (0..51).map(|i| format!("NONE-{i}")).collect();
        let a = shop.lookup_batch("S001", &json!({"skus": one_more, "barcodes": barcodes})).await;
        a.problem(400, "invalid_request");
        let skus_101: Vec<String> = (0..101).map(|i| format!("NONE-{i}")).collect();
        shop.lookup_batch("S001", &json!({"skus": skus_101})).await.problem(400, "invalid_request");
        for empty in [json!({}), json!({"skus": [], "barcodes": []}), json!({"skus": null, "barcodes": null})] {
            let a = shop.lookup_batch("S001", &empty).await;
            assert_eq!(a.status, 400, "{empty}: {}", a.body);
            a.problem(400, "invalid_request");
        }
    }

    #[tokio::test]
    async fn a_malformed_sku_or_barcode_fails_the_request() {
        let (shop, c) = stocked_shop().await;
        let a = shop.lookup_batch("S001", &json!({"skus": ["MILK", "a b"], "barcodes": [c.milk_ean13]})).await;
        a.problem(400, "invalid_request");
        for bad in [wrong_check(&c.milk_ean13), "12345".to_owned(), "ABCDEFGH".to_owned(), gs1("211234500000")] {
            let a = shop.lookup_batch("S001", &json!({"skus": ["MILK"], "barcodes": [c.milk_ean13, bad]})).await;
            assert_eq!(a.status, 400, "{bad}: {}", a.body);
            a.problem(400, "invalid_barcode");
        }
    }

    #[tokio::test]
    async fn an_unknown_store_is_not_found_and_a_bad_store_id_invalid() {
        let (shop, _) = stocked_shop().await;
        shop.lookup_batch("S404", &json!({"skus": ["MILK"]})).await.problem(404, "not_found");
        shop.lookup_batch("s001", &json!({"skus": ["MILK"]})).await.problem(400, "invalid_request");
        // A malformed sku is 400 before the unknown store is 404.
        shop.lookup_batch("S404", &json!({"skus": ["a b"]})).await.problem(400, "invalid_request");
    }

    #[tokio::test]
    async fn malformed_unknown_mistyped_and_duplicate_members_are_invalid_requests() {
        let (shop, _) = stocked_shop().await;
        for raw in [
            r#"{"skus": ["MILK"]"#,
            r#"{"skus": ["MILK"], "sku": ["COLA"]}"#,
            r#"{"skus": "MILK"}"#,
            r#"{"skus": [7]}"#,
            r#"{"barcodes": [6901234567892]}"#,
            r#"{"skus": ["MILK"], "skus": ["COLA"]}"#,
            "",
        ] {
            let a = shop.lookup(batch_lookup_event("S001").claims(HO, None).raw_json(raw)).await;
            assert_eq!(a.status, 400, "{raw}: {}", a.body);
            a.problem(400, "invalid_request");
        }
    }

    #[tokio::test]
    async fn a_json_array_in_place_of_the_body_object_is_invalid_request() {
        let (shop, _) = stocked_shop().await;
        let a = shop.lookup(batch_lookup_event("S001").claims(HO, None).raw_json(r#"[["MILK"], []]"#)).await;
        a.problem(400, "invalid_request");
    }

    #[tokio::test]
    async fn the_body_limit_and_media_type_are_checked_in_the_contracts_order() {
        let (shop, _) = stocked_shop().await;
        let body = json!({"skus": ["MILK"]});
        let at_limit = padded(&body, MAX_BODY);
        shop.lookup(batch_lookup_event("S001").claims(HO, None).raw_json(&at_limit)).await.ok(200);
        let over = padded(&body, MAX_BODY + 1);
        shop.lookup(batch_lookup_event("S001").claims(HO, None).raw_json(&over)).await.problem(413, "payload_too_large");
        // 413 before 415 and before a bad store id.
        let a = shop.lookup(batch_lookup_event("s001").claims(HO, None).body_with_type("text/plain", &over)).await;
        a.problem(413, "payload_too_large");
        // 403 before 413.
        let a = shop.lookup(batch_lookup_event("S001").claims("pos", Some("S002")).raw_json(&over)).await;
        a.problem(403, "forbidden_store");
        // 415 before 400.
        let a = shop.lookup(batch_lookup_event("s001").claims(HO, None).body_with_type("text/plain", "{")).await;
        a.problem(415, "unsupported_media_type");
        let a = shop.lookup(batch_lookup_event("S001").claims(HO, None).body_with_type("application/json;charset=UTF-8", &body.to_string())).await;
        a.ok(200);
    }
}
