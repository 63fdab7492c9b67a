//! catalog-admin against API.md: `PUT /stores/{storeId}`, `PUT /commodities/{sku}` and
//! `POST /stores/{storeId}/stock-movements`, called in-process with real API Gateway v2 events.

use catalog_admin::CatalogAdmin;
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::testing::{catalog::*, request::*};
use serde_json::{Value, json};

/// catalog-admin, and the functions its writes are read back through, over one memory store.
fn new_shop() -> Shop {
    Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new)
}

fn binjiang() -> Value {
    json!({"name": "Binjiang", "region": "EAST"})
}

/// A shop with store S001 (EAST) and S002 (WEST).
async fn two_stores() -> Shop {
    let shop = new_shop();
    shop.put_store("S001", "EAST").await;
    shop.put_store("S002", "WEST").await;
    shop
}

mod who_may_call {
    use super::*;

    #[tokio::test]
    async fn every_route_refuses_a_request_the_authorizer_did_not_see() {
        let shop = two_stores().await;
        for event in [
            put_store_event("S001").json(&binjiang()),
            put_commodity_event("MILK").json(&commodity("each", &[], "track")),
            movements_event("S001").json(&json!({"movements": [{"sku": "MILK", "delta": 1, "reason": "receipt"}]})),
        ] {
            shop.catalog(event.without_authorizer()).await.problem(401, "unauthorized");
        }
    }

    #[tokio::test]
    async fn only_headoffice_may_put_a_store() {
        let shop = new_shop();
        for (scope, store) in [("pos", Some("S001")), ("store", Some("S001")), ("pos store", Some("S001")), ("reports", None)] {
            let a = shop.catalog(put_store_event("S001").claims(scope, store).json(&binjiang())).await;
            a.problem(403, "forbidden_scope");
        }
        // Nothing was written: the first head-office PUT still creates.
        shop.catalog(put_store_event("S001").claims(HO, None).json(&binjiang())).await.ok(201);
    }

    #[tokio::test]
    async fn only_headoffice_may_put_a_commodity() {
        let shop = two_stores().await;
        for scope in ["store", "pos"] {
            let a = shop.catalog(put_commodity_event("MILK").claims(scope, Some("S001")).json(&commodity("each", &[], "track"))).await;
            a.problem(403, "forbidden_scope");
        }
        shop.lookup_sku("S001", "MILK").await.problem(404, "not_found");
    }

    #[tokio::test]
    async fn a_till_may_not_record_stock_movements() {
        let shop = two_stores().await;
        shop.seed_commodity("MILK", &commodity("each", &[], "track")).await;
        let body = json!({"movements": [{"sku": "MILK", "delta": 5, "reason": "receipt"}]});
        shop.catalog(movements_event("S001").claims("pos", Some("S001")).json(&body)).await.problem(403, "forbidden_scope");
        // The scope is checked before the store.
        shop.catalog(movements_event("S001").claims("pos", Some("S002")).json(&body)).await.problem(403, "forbidden_scope");
        assert_eq!(shop.on_hand("S001", "MILK").await, 0);
    }

    #[tokio::test]
    async fn a_store_manager_records_movements_for_their_own_store_only() {
        let shop = two_stores().await;
        shop.seed_commodity("MILK", &commodity("each", &[], "track")).await;
        let body = json!({"movements": [{"sku": "MILK", "delta": 5, "reason": "receipt"}]});
        shop.catalog(movements_event("S001").claims("store", Some("S002")).json(&body)).await.problem(403, "forbidden_store");
        shop.catalog(movements_event("S001").claims("store", None).json(&body)).await.problem(403, "forbidden_store");
        assert_eq!(shop.on_hand("S001", "MILK").await, 0);

        let a = shop.catalog(movements_event("S001").claims("store", Some("S001")).json(&body)).await;
        assert_eq!(a.ok(200), &json!({"stock": [{"sku": "MILK", "onHand": 5}]}));
        // Any listed scope the route accepts will do.
        let a = shop.catalog(movements_event("S001").claims("pos store", Some("S001")).json(&body)).await;
        assert_eq!(a.ok(200), &json!({"stock": [{"sku": "MILK", "onHand": 10}]}));
    }

    #[tokio::test]
    async fn headoffice_records_movements_for_any_store() {
        let shop = two_stores().await;
        shop.seed_commodity("MILK", &commodity("each", &[], "track")).await;
        for store in ["S001", "S002"] {
            let body = json!({"movements": [{"sku": "MILK", "delta": 3, "reason": "count"}]});
            let a = shop.catalog(movements_event(store).claims(HO, None).json(&body)).await;
            assert_eq!(a.ok(200), &json!({"stock": [{"sku": "MILK", "onHand": 3}]}));
            // A head-office token that also names a store still acts for every store.
            let a = shop.catalog(movements_event(store).claims(HO, Some("S999")).json(&body)).await;
            assert_eq!(a.ok(200), &json!({"stock": [{"sku": "MILK", "onHand": 6}]}));
        }
    }
}

mod check_order {
    use super::*;

    #[tokio::test]
    async fn no_authorizer_answers_401_before_anything_else_is_looked_at() {
        let shop = new_shop();
        let a = shop.catalog(put_store_event("s001").body_with_type("text/plain", &"x".repeat(MAX_BODY + 1)).without_authorizer()).await;
        a.problem(401, "unauthorized");
    }

    #[tokio::test]
    async fn a_till_token_with_a_bad_body_is_403() {
        let shop = new_shop();
        let a = shop.catalog(put_store_event("S001").claims("pos", Some("S001")).raw_json("{not json")).await;
        a.problem(403, "forbidden_scope");
        let a = shop.catalog(put_store_event("s001").claims("pos", Some("S001")).raw_json(&"x".repeat(MAX_BODY + 1))).await;
        a.problem(403, "forbidden_scope");
    }

    #[tokio::test]
    async fn a_too_large_body_with_a_bad_store_id_is_413() {
        let shop = new_shop();
        let big = padded(&binjiang(), MAX_BODY + 1);
        shop.catalog(put_store_event("s001").claims(HO, None).raw_json(&big)).await.problem(413, "payload_too_large");
        // 413 is also checked before the media type.
        let a = shop.catalog(put_store_event("s001").claims(HO, None).body_with_type("text/plain", &big)).await;
        a.problem(413, "payload_too_large");
        let a = shop.catalog(movements_event("s001").claims(HO, None).raw_json(&"[".repeat(MAX_BODY + 1))).await;
        a.problem(413, "payload_too_large");
    }

    #[tokio::test]
    async fn every_route_with_a_body_answers_413_and_415_and_writes_nothing() {
        let shop = two_stores().await;
        shop.seed_commodity("PROBE", &commodity("each", &[], "track")).await;
        let events = || {
            [
                ("store", put_store_event("S009"), binjiang()),
                ("commodity", put_commodity_event("MILK"), commodity("each", &[], "track")),
                ("movements", movements_event("S001"), json!({"movements": [{"sku": "PROBE", "delta": 5, "reason": "receipt"}]})),
            ]
        };
        for (route, event, body) in events() {
            let a = shop.catalog(event.claims(HO, None).raw_json(&padded(&body, MAX_BODY + 1))).await;
            assert_eq!(a.status, 413, "{route}: {}", a.body);
            a.problem(413, "payload_too_large");
        }
        for (route, event, body) in events() {
            let a = shop.catalog(event.claims(HO, None).body_with_type("text/plain", &body.to_string())).await;
            assert_eq!(a.status, 415, "{route}: {}", a.body);
            a.problem(415, "unsupported_media_type");
        }
        assert!(!shop.store_exists("S009", "PROBE").await);
        shop.lookup_sku("S001", "MILK").await.problem(404, "not_found");
        assert_eq!(shop.on_hand("S001", "PROBE").await, 0);
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_415_before_it_is_parsed_or_the_path_is_read() {
        let shop = new_shop();
        let a = shop.catalog(put_store_event("s001").claims(HO, None).body_with_type("text/plain", "{not json")).await;
        a.problem(415, "unsupported_media_type");
        let a = shop.catalog(put_commodity_event("a b").claims(HO, None).body_with_type("application/xml", "<x/>")).await;
        a.problem(415, "unsupported_media_type");
    }

    #[tokio::test]
    async fn a_bad_body_on_an_unknown_store_is_400_not_404() {
        let shop = new_shop();
        let a = shop.catalog(movements_event("S404").claims(HO, None).json(&json!({"movements": []}))).await;
        a.problem(400, "invalid_request");
        let a = shop.catalog(movements_event("S404").claims(HO, None).json(&json!({"movements": [{"sku": "X", "delta": 1_000_001, "reason": "count"}]}))).await;
        a.problem(400, "invalid_request");
    }

    #[tokio::test]
    async fn an_invalid_barcode_is_400_even_when_an_earlier_barcode_mismatches_the_unit() {
        let shop = new_shop();
        // 400 comes before 422, whatever the order of the list.
        let bad = wrong_check(&gs1("690123456789"));
        let a = shop.put_commodity("APPLE", &commodity("each", &["2112345", &bad], "track")).await;
        a.problem(400, "invalid_barcode");
        let a = shop.put_commodity("APPLE", &commodity("each", &[&bad, "2112345"], "track")).await;
        a.problem(400, "invalid_barcode");
    }

    #[tokio::test]
    async fn a_barcode_listed_twice_is_400_even_when_an_earlier_barcode_mismatches_the_unit() {
        let shop = new_shop();
        let ean = gs1("690123456789");
        let a = shop.put_commodity("APPLE", &commodity("kg", &["2312345", &ean, &ean], "track")).await;
        a.problem(400, "invalid_request");
    }

    #[tokio::test]
    async fn a_unit_mismatch_is_422_even_when_another_barcode_is_taken() {
        let shop = new_shop();
        shop.put_store("S001", "EAST").await;
        let ean = gs1("690123456789");
        shop.seed_commodity("COLA", &commodity("each", &[&ean], "track")).await;
        let a = shop.put_commodity("APPLE", &commodity("each", &[&ean, "2112345"], "track")).await;
        a.problem(422, "unit_mismatch");
        shop.lookup_sku("S001", "APPLE").await.problem(404, "not_found");
    }

    #[tokio::test]
    async fn an_unknown_sku_on_an_overdrawn_strict_item_is_404_not_409() {
        let shop = two_stores().await;
        shop.seed_commodity("FLASH", &commodity("each", &[], "strict")).await;
        let a = shop
            .move_stock("S001", json!([{"sku": "FLASH", "delta": -5, "reason": "damage"}, {"sku": "GHOST", "delta": 1, "reason": "receipt"}]))
            .await;
        a.problem(404, "not_found");
        let a = shop
            .move_stock("S001", json!([{"sku": "GHOST", "delta": 1, "reason": "receipt"}, {"sku": "FLASH", "delta": -5, "reason": "damage"}]))
            .await;
        a.problem(404, "not_found");
    }
}

mod bodies {
    use super::*;

    #[tokio::test]
    async fn a_problem_carries_the_gateway_request_id_in_body_and_header() {
        let shop = new_shop();
        let a = shop.catalog(put_store_event("s001").claims(HO, None).json(&binjiang())).await;
        let body = a.problem(400, "invalid_request");
        assert_eq!(body["requestId"], REQUEST_ID);
        assert_eq!(a.x_request_id(), REQUEST_ID);
        assert_eq!(body["type"], "urn:retail:problem:invalid_request");
    }

    #[tokio::test]
    async fn a_success_carries_the_request_id_header() {
        let shop = new_shop();
        let a = shop.catalog(put_store_event("S001").claims(HO, None).json(&binjiang())).await;
        a.ok(201);
        assert_eq!(a.x_request_id(), REQUEST_ID);
    }

    #[tokio::test]
    async fn malformed_unknown_missing_mistyped_and_duplicate_members_are_invalid_requests() {
        let shop = new_shop();
        for body in [
            r#"{"name": "Binjiang", "region": "EAST""#,
            r#"{"name": "Binjiang", "region": "EAST"} trailing"#,
            "",
            r#"{"name": "Binjiang", "region": "EAST", "regoin": "WEST"}"#,
            r#"{"name": "Binjiang"}"#,
            r#"{"name": 7, "region": "EAST"}"#,
            r#"{"name": "Binjiang", "region": ["EAST"]}"#,
            r#"{"name": "a", "name": "b", "region": "EAST"}"#,
            r#"{"name": null, "region": "EAST"}"#,
        ] {
            let a = shop.catalog(put_store_event("S001").claims(HO, None).raw_json(body)).await;
            assert_eq!(a.status, 400, "{body}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        // Nothing was written by any of them.
        shop.catalog(put_store_event("S001").claims(HO, None).json(&binjiang())).await.ok(201);
    }

    #[tokio::test]
    async fn a_json_array_in_place_of_an_object_is_a_wrong_type() {
        let shop = new_shop();
        shop.put_store("S001", "EAST").await;
        let a = shop.catalog(put_store_event("S002").claims(HO, None).raw_json(r#"["Binjiang", "EAST"]"#)).await;
        a.problem(400, "invalid_request");
        let a = shop.catalog(put_commodity_event("MILK").claims(HO, None).raw_json(r#"["Milk", "each", 1300, [], null, "track", null]"#)).await;
        a.problem(400, "invalid_request");
        shop.lookup_sku("S001", "MILK").await.problem(404, "not_found");
        shop.seed_commodity("MILK", &commodity("each", &[], "track")).await;
        let a = shop.catalog(movements_event("S001").claims(HO, None).raw_json(r#"{"movements": [["MILK", 5, "receipt"]]}"#)).await;
        a.problem(400, "invalid_request");
        assert_eq!(shop.on_hand("S001", "MILK").await, 0);
        // S002 was not created by the array body.
        assert!(!shop.store_exists("S002", "MILK").await);
    }

    #[tokio::test]
    async fn a_fraction_or_exponent_in_an_integer_field_is_invalid_request() {
        let shop = new_shop();
        shop.put_store("S001", "EAST").await;
        for tax in ["9.5", "1e3", "1300.0", "1.3E3", "\"1300\""] {
            let body = format!(
                r#"{{"name": "Milk", "unit": "each", "taxRateBp": {tax}, "barcodes": [], "stockPolicy": "track"}}"#
            );
            let a = shop.catalog(put_commodity_event("MILK").claims(HO, None).raw_json(&body)).await;
            assert_eq!(a.status, 400, "taxRateBp {tax}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        shop.lookup_sku("S001", "MILK").await.problem(404, "not_found");

        shop.seed_commodity("MILK", &commodity("each", &[], "track")).await;
        for delta in ["1.5", "1e3", "10.0"] {
            let body = format!(r#"{{"movements": [{{"sku": "MILK", "delta": {delta}, "reason": "receipt"}}]}}"#);
            let a = shop.catalog(movements_event("S001").claims(HO, None).raw_json(&body)).await;
            assert_eq!(a.status, 400, "delta {delta}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        assert_eq!(shop.on_hand("S001", "MILK").await, 0);
    }

    #[tokio::test]
    async fn a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_413() {
        let shop = new_shop();
        let at_limit = padded(&binjiang(), MAX_BODY);
        assert_eq!(at_limit.len(), 1_048_576);
        shop.catalog(put_store_event("S001").claims(HO, None).raw_json(&at_limit)).await.ok(201);
        let over = padded(&binjiang(), MAX_BODY + 1);
        shop.catalog(put_store_event("S002").claims(HO, None).raw_json(&over)).await.problem(413, "payload_too_large");
        // S002 was not created: its first PUT still answers 201.
        shop.catalog(put_store_event("S002").claims(HO, None).json(&binjiang())).await.ok(201);
    }

    #[tokio::test]
    async fn a_body_that_is_not_application_json_is_415() {
        let shop = new_shop();
        let body = binjiang().to_string();
        for content_type in ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", "application/problem+json"] {
            let a = shop.catalog(put_store_event("S001").claims(HO, None).body_with_type(content_type, &body)).await;
            a.problem(415, "unsupported_media_type");
        }
        let a = shop.catalog(put_store_event("S001").claims(HO, None).body_with_type("application/json; charset=utf-8", &body)).await;
        a.ok(201);
    }
}

mod stores {
    use super::*;

    #[tokio::test]
    async fn a_store_is_created_then_replaced_and_answers_its_stored_form() {
        let shop = new_shop();
        let put = |body: Value| put_store_event("S001").claims(HO, None).json(&body);
        let a = shop.catalog(put(binjiang())).await;
        assert_eq!(a.ok(201), &json!({"storeId": "S001", "name": "Binjiang", "region": "EAST", "timezone": "Asia/Shanghai"}));
        let a = shop.catalog(put(json!({"name": "Binjiang North", "region": "EAST-2", "timezone": "Asia/Urumqi"}))).await;
        assert_eq!(
            a.ok(200),
            &json!({"storeId": "S001", "name": "Binjiang North", "region": "EAST-2", "timezone": "Asia/Urumqi"})
        );
        let a = shop.catalog(put(binjiang())).await;
        a.ok(200);
    }

    #[tokio::test]
    async fn a_null_timezone_means_shanghai() {
        let shop = new_shop();
        let a = shop.catalog(put_store_event("S001").claims(HO, None).json(&json!({"name": "B", "region": "EAST", "timezone": null}))).await;
        assert_eq!(a.ok(201)["timezone"], "Asia/Shanghai");
    }

    #[tokio::test]
    async fn store_ids_at_the_edges_of_the_pattern_are_accepted() {
        let shop = new_shop();
        for id in ["0", "0-A", "ABCDEFGHIJKLMNOP"] {
            let a = shop.catalog(put_store_event(id).claims(HO, None).json(&binjiang())).await;
            assert_eq!(a.ok(201)["storeId"], id);
        }
    }

    #[tokio::test]
    async fn an_invalid_store_id_in_the_path_is_invalid_request() {
        let shop = new_shop();
        for id in ["s001", "-S1", "ABCDEFGHIJKLMNOPQ", "S_1", "S 1"] {
            let a = shop.catalog(put_store_event(id).claims(HO, None).json(&binjiang())).await;
            assert_eq!(a.status, 400, "{id}: {}", a.body);
            a.problem(400, "invalid_request");
        }
    }

    #[tokio::test]
    async fn an_unknown_timezone_empty_name_or_bad_region_is_invalid_request_and_nothing_is_written() {
        let shop = new_shop();
        shop.seed_commodity("PROBE", &commodity("each", &[], "track")).await;
        for body in [
            json!({"name": "Binjiang", "region": "EAST", "timezone": "Mars/Olympus"}),
            json!({"name": "Binjiang", "region": "EAST", "timezone": "+08:00"}),
            json!({"name": "Binjiang", "region": "EAST", "timezone": ""}),
            json!({"name": "", "region": "EAST"}),
            json!({"name": "   ", "region": "EAST"}),
            json!({"name": "Binjiang", "region": "east"}),
            json!({"name": "Binjiang", "region": ""}),
            json!({"name": "Binjiang", "region": "ABCDEFGHIJKLMNOPQ"}),
        ] {
            let a = shop.catalog(put_store_event("S001").claims(HO, None).json(&body)).await;
            assert_eq!(a.status, 400, "{body}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        assert!(!shop.store_exists("S001", "PROBE").await);
    }

    #[tokio::test]
    async fn a_refused_replacement_keeps_the_old_store() {
        let shop = new_shop();
        shop.put_store("S001", "EAST").await;
        shop.seed_commodity("MILK", &commodity("each", &[], "track")).await;
        shop.seed_prices("east-milk", json!([{"sku": "MILK", "scope": "region:EAST", "amount": 1099}])).await;
        let body = json!({"name": "Binjiang", "region": "WEST", "timezone": "Mars/Olympus"});
        shop.catalog(put_store_event("S001").claims(HO, None).json(&body)).await.problem(400, "invalid_request");
        // Still in EAST: the EAST price still reaches it.
        assert_eq!(shop.price_now("S001", "MILK").await, Some(1099));
    }
}

mod commodities {
    use super::*;

    #[tokio::test]
    async fn a_commodity_is_created_then_replaced_and_answers_its_stored_form() {
        let shop = new_shop();
        let ean13 = gs1("690123456789");
        let upc_a = gs1("03600029145");
        let body = json!({
            "name": "Cola 330ml", "unit": "each", "taxRateBp": 1300, "barcodes": [ean13, upc_a],
            "category": "drinks", "stockPolicy": "track", "allowSharedBarcodes": false
        });
        let a = shop.put_commodity("COLA-330", &body).await;
        assert_eq!(
            a.ok(201),
            &json!({
                "sku": "COLA-330", "name": "Cola 330ml", "unit": "each", "taxRateBp": 1300,
                // UPC-A is stored as its EAN-13.
                "barcodes": [ean13, format!("0{upc_a}")],
                "category": "drinks", "stockPolicy": "track", "allowSharedBarcodes": false, "stockShards": 1
            })
        );
        let replacement = json!({"name": "Cola 330 ml", "unit": "each", "taxRateBp": 900, "barcodes": [ean13], "stockPolicy": "strict"});
        let a = shop.put_commodity("COLA-330", &replacement).await;
        assert_eq!(
            a.ok(200),
            &json!({
                "sku": "COLA-330", "name": "Cola 330 ml", "unit": "each", "taxRateBp": 900, "barcodes": [ean13],
                "category": null, "stockPolicy": "strict", "allowSharedBarcodes": false, "stockShards": 8
            })
        );
    }

    #[tokio::test]
    async fn null_optional_members_are_accepted() {
        let shop = new_shop();
        let body = json!({"name": "Apples", "unit": "kg", "taxRateBp": 900, "barcodes": ["2112345"], "category": null,
                          "stockPolicy": "track", "allowSharedBarcodes": null});
        let a = shop.put_commodity("APPLE", &body).await;
        let stored = a.ok(201);
        assert_eq!(stored["category"], Value::Null);
        assert_eq!(stored["allowSharedBarcodes"], false);
        assert_eq!(stored["barcodes"], json!(["2112345"]));
    }

    #[tokio::test]
    async fn ean8_and_in_store_item_parts_register_as_given() {
        let shop = new_shop();
        let ean8 = gs1("9638507");
        let a = shop.put_commodity("GUM", &commodity("each", &[&ean8, "2312345"], "track")).await;
        assert_eq!(a.ok(201)["barcodes"], json!([ean8, "2312345"]));
        let a = shop.put_commodity("APPLE", &commodity("kg", &["2154321"], "track")).await;
        assert_eq!(a.ok(201)["barcodes"], json!(["2154321"]));
        // Other prefix-2 EAN-13 codes are ordinary barcodes.
        let other = gs1("220000012345");
        let a = shop.put_commodity("BREAD", &commodity("each", &[&other], "track")).await;
        assert_eq!(a.ok(201)["barcodes"], json!([other]));
    }

    #[tokio::test]
    async fn invalid_barcodes_are_refused_and_nothing_is_written() {
        let shop = new_shop();
        shop.put_store("S001", "EAST").await;
        for (why, barcode) in [
            ("bad check digit", wrong_check(&gs1("690123456789"))),
            ("bad EAN-8 check digit", wrong_check(&gs1("9638507"))),
            ("bad UPC-A check digit", wrong_check(&gs1("03600029145"))),
            ("5 digits", "12345".to_owned()),
            ("14 digits", gs1("0690123456789")),
            ("empty", String::new()),
            ("letters", "69012345678a".to_owned()),
            ("a full weighed in-store code", gs1("211234501250")),
            ("a full priced in-store code", gs1("231234500899")),
            ("7 digits outside 21 and 23", "2212345".to_owned()),
            ("spaces", " 6901234567892".to_owned()),
        ] {
            let a = shop.put_commodity("APPLE", &commodity("kg", &[&barcode], "track")).await;
            assert_eq!(a.status, 400, "{why} {barcode:?}: {}", a.body);
            a.problem(400, "invalid_barcode");
        }
        shop.lookup_sku("S001", "APPLE").await.problem(404, "not_found");
    }

    #[tokio::test]
    async fn an_in_store_code_on_the_wrong_unit_is_unit_mismatch_and_nothing_is_written() {
        let shop = new_shop();
        shop.put_store("S001", "EAST").await;
        shop.put_commodity("PEAR", &commodity("each", &["2112345"], "track")).await.problem(422, "unit_mismatch");
        shop.put_commodity("CAKE", &commodity("kg", &["2312345"], "track")).await.problem(422, "unit_mismatch");
        shop.lookup_sku("S001", "PEAR").await.problem(404, "not_found");
        shop.lookup_sku("S001", "CAKE").await.problem(404, "not_found");
        // The right pairings are fine, and the codes were not claimed by the refused PUTs.
        shop.put_commodity("APPLE", &commodity("kg", &["2112345"], "track")).await.ok(201);
        shop.put_commodity("BUN", &commodity("each", &["2312345"], "track")).await.ok(201);
    }

    #[tokio::test]
    async fn a_barcode_bound_to_another_sku_is_taken_and_nothing_is_written() {
        let shop = new_shop();
        shop.put_store("S001", "EAST").await;
        let ean = gs1("690123456789");
        shop.seed_commodity("COLA", &commodity("each", &[&ean], "track")).await;
        let other = gs1("690123456790");
        let a = shop.put_commodity("COLA-B", &commodity("each", &[&other, &ean], "track")).await;
        let body = a.problem(409, "barcode_taken");
        assert_eq!(body["skus"], json!(["COLA"]));
        shop.lookup_sku("S001", "COLA-B").await.problem(404, "not_found");
        // The other barcode was not claimed either.
        let a = shop.scan("S001", &other).await;
        a.problem(404, "not_found");
    }

    #[tokio::test]
    async fn a_upc_a_and_its_ean13_are_the_same_barcode() {
        let shop = new_shop();
        let upc_a = gs1("03600029145");
        shop.seed_commodity("COLA", &commodity("each", &[&upc_a], "track")).await;
        let a = shop.put_commodity("COLA-B", &commodity("each", &[&format!("0{upc_a}")], "track")).await;
        assert_eq!(a.problem(409, "barcode_taken")["skus"], json!(["COLA"]));
        // Listing both forms on one commodity lists one barcode twice.
        let a = shop.put_commodity("COLA-C", &commodity("each", &[&upc_a, &format!("0{upc_a}")], "track")).await;
        a.problem(400, "invalid_request");
    }

    #[tokio::test]
    async fn a_barcode_is_shared_only_when_every_holder_allows_it() {
        let shop = new_shop();
        shop.put_store("S001", "EAST").await;
        let ean = gs1("690123456789");
        let sharing = |name: &str| {
            json!({"name": name, "unit": "each", "taxRateBp": 1300, "barcodes": [ean], "stockPolicy": "track", "allowSharedBarcodes": true})
        };
        shop.put_commodity("A", &sharing("a")).await.ok(201);
        // The newcomer does not allow sharing.
        let a = shop.put_commodity("B", &commodity("each", &[&ean], "track")).await;
        assert_eq!(a.problem(409, "barcode_taken")["skus"], json!(["A"]));
        // Both allow it.
        shop.put_commodity("B", &sharing("b")).await.ok(201);
        // A third that allows sharing still meets a holder that does not.
        shop.seed_commodity("X", &commodity("each", &[], "track")).await;
        let strict_holder = gs1("690123456790");
        shop.seed_commodity("Y", &commodity("each", &[&strict_holder], "track")).await;
        let body = json!({"name": "c", "unit": "each", "taxRateBp": 1300, "barcodes": [strict_holder], "stockPolicy": "track", "allowSharedBarcodes": true});
        assert_eq!(shop.put_commodity("C", &body).await.problem(409, "barcode_taken")["skus"], json!(["Y"]));
        shop.lookup_sku("S001", "C").await.problem(404, "not_found");
        // The shared code is now ambiguous at the till.
        let a = shop.scan("S001", &ean).await;
        assert_eq!(a.problem(409, "ambiguous_barcode")["skus"], json!(["A", "B"]));
    }

    #[tokio::test]
    async fn a_holder_that_stops_allowing_sharing_cannot_keep_a_shared_barcode() {
        let shop = new_shop();
        let ean = gs1("690123456789");
        let body = |share: bool| {
            json!({"name": "n", "unit": "each", "taxRateBp": 1300, "barcodes": [ean], "stockPolicy": "track", "allowSharedBarcodes": share})
        };
        shop.put_commodity("A", &body(true)).await.ok(201);
        shop.put_commodity("B", &body(true)).await.ok(201);
        assert_eq!(shop.put_commodity("A", &body(false)).await.problem(409, "barcode_taken")["skus"], json!(["B"]));
    }

    #[tokio::test]
    async fn releasing_a_barcode_on_update_frees_it_for_another_sku() {
        let shop = new_shop();
        shop.put_store("S001", "EAST").await;
        let ean = gs1("690123456789");
        let next = gs1("690123456790");
        shop.seed_commodity("OLD", &commodity("each", &[&ean], "track")).await;
        shop.put_commodity("NEW", &commodity("each", &[&ean], "track")).await.problem(409, "barcode_taken");
        shop.put_commodity("OLD", &commodity("each", &[&next], "track")).await.ok(200);
        shop.put_commodity("NEW", &commodity("each", &[&ean], "track")).await.ok(201);
        assert_eq!(shop.scan("S001", &ean).await.ok(200)["sku"], "NEW");
        assert_eq!(shop.scan("S001", &next).await.ok(200)["sku"], "OLD");
    }

    #[tokio::test]
    async fn a_commodity_may_keep_its_own_barcodes_on_replacement() {
        let shop = new_shop();
        let ean = gs1("690123456789");
        shop.seed_commodity("COLA", &commodity("each", &[&ean], "track")).await;
        shop.put_commodity("COLA", &commodity("each", &[&ean], "strict")).await.ok(200);
    }

    #[tokio::test]
    async fn a_refused_replacement_keeps_the_old_commodity() {
        let shop = new_shop();
        shop.put_store("S001", "EAST").await;
        let ean = gs1("690123456789");
        let taken = gs1("690123456790");
        shop.seed_commodity("OTHER", &commodity("each", &[&taken], "track")).await;
        let original = json!({"name": "Cola", "unit": "each", "taxRateBp": 1300, "barcodes": [ean], "category": "drinks", "stockPolicy": "track"});
        shop.seed_commodity("COLA", &original).await;
        for (status, code, body) in [
            (409, "barcode_taken", commodity("each", &[&taken], "strict")),
            (422, "unit_mismatch", commodity("each", &["2112345"], "strict")),
            (400, "invalid_barcode", commodity("each", &["123"], "strict")),
            (400, "invalid_request", json!({"name": "", "unit": "each", "taxRateBp": 1300, "barcodes": [], "stockPolicy": "strict"})),
        ] {
            shop.put_commodity("COLA", &body).await.problem(status, code);
        }
        let seen = shop.lookup_sku("S001", "COLA").await;
        let seen = seen.ok(200);
        assert_eq!(seen["name"], "Cola");
        assert_eq!(seen["barcodes"], json!([ean]));
        assert_eq!(seen["category"], "drinks");
        assert_eq!(seen["stock"]["policy"], "track");
        assert_eq!(shop.scan("S001", &ean).await.ok(200)["sku"], "COLA");
    }

    #[tokio::test]
    async fn tax_rates_run_from_0_to_10000_basis_points() {
        let shop = new_shop();
        shop.put_store("S001", "EAST").await;
        for (tax, ok) in [(0i64, true), (10_000, true), (10_001, false), (-1, false)] {
            let body = json!({"name": "n", "unit": "each", "taxRateBp": tax, "barcodes": [], "stockPolicy": "track"});
            let a = shop.put_commodity(&format!("T{}", tax.abs()), &body).await;
            if ok {
                assert_eq!(a.ok(201)["taxRateBp"], tax);
            } else {
                a.problem(400, "invalid_request");
            }
        }
        shop.lookup_sku("S001", "T10001").await.problem(404, "not_found");
        shop.lookup_sku("S001", "T1").await.problem(404, "not_found");
    }

    #[tokio::test]
    async fn unknown_missing_and_mistyped_members_are_invalid_requests() {
        let shop = new_shop();
        shop.put_store("S001", "EAST").await;
        let good = commodity("each", &[], "track");
        let with = |key: &str, value: Value| {
            let mut b = good.clone();
            b[key] = value;
            b
        };
        let without = |key: &str| {
            let mut b = good.clone();
            b.as_object_mut().unwrap().remove(key);
            b
        };
        for body in [
            with("sku", json!("MILK")),
            with("taxrateBp", json!(1300)),
            with("unit", json!("g")),
            with("unit", json!("EACH")),
            with("stockPolicy", json!("loose")),
            with("barcodes", json!("6901234567892")),
            with("barcodes", json!([6901234567892u64])),
            with("allowSharedBarcodes", json!("yes")),
            with("category", json!(5)),
            with("category", json!("")),
            with("name", json!("x".repeat(201))),
            without("name"),
            without("unit"),
            without("taxRateBp"),
            without("barcodes"),
            without("stockPolicy"),
        ] {
            let a = shop.put_commodity("MILK", &body).await;
            assert_eq!(a.status, 400, "{body}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        let dup = r#"{"name": "a", "name": "b", "unit": "each", "taxRateBp": 1300, "barcodes": [], "stockPolicy": "track"}"#;
        shop.catalog(put_commodity_event("MILK").claims(HO, None).raw_json(dup)).await.problem(400, "invalid_request");
        shop.lookup_sku("S001", "MILK").await.problem(404, "not_found");
    }

    #[tokio::test]
    async fn an_invalid_sku_in_the_path_is_invalid_request() {
        let shop = new_shop();
        let long = "a".repeat(33);
        for sku in ["a b", ".milk", "-milk", "milk!", long.as_str()] {
            let a = shop.put_commodity(sku, &commodity("each", &[], "track")).await;
            assert_eq!(a.status, 400, "{sku:?}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        let edge = format!("A{}", "a._-".repeat(7)) + "xyz";
        assert_eq!(edge.len(), 32);
        assert_eq!(shop.put_commodity(&edge, &commodity("each", &[], "track")).await.ok(201)["sku"], edge.as_str());
    }
}

mod stock_movements {
    use super::*;

    async fn stocked_shop() -> Shop {
        let shop = two_stores().await;
        shop.seed_commodity("MILK", &commodity("each", &[], "track")).await;
        shop.seed_commodity("FLASH", &commodity("each", &[], "strict")).await;
        shop.seed_commodity("APPLE", &commodity("kg", &["2112345"], "strict")).await;
        shop
    }

    #[tokio::test]
    async fn movements_are_summed_per_sku_and_each_sku_is_answered_once() {
        let shop = stocked_shop().await;
        let a = shop
            .move_stock(
                "S001",
                json!([
                    {"sku": "MILK", "delta": 120, "reason": "receipt"},
                    {"sku": "FLASH", "delta": 10, "reason": "receipt"},
                    {"sku": "MILK", "delta": -3, "reason": "damage"},
                    {"sku": "MILK", "delta": -7, "reason": "count"},
                ]),
            )
            .await;
        let stock = a.ok(200)["stock"].as_array().unwrap().clone();
        assert_eq!(stock.len(), 2, "{stock:?}");
        assert!(stock.contains(&json!({"sku": "MILK", "onHand": 110})), "{stock:?}");
        assert!(stock.contains(&json!({"sku": "FLASH", "onHand": 10})), "{stock:?}");
        // The next request starts from what is on hand.
        let a = shop.move_stock("S001", json!([{"sku": "MILK", "delta": 5, "reason": "receipt"}])).await;
        assert_eq!(a.ok(200), &json!({"stock": [{"sku": "MILK", "onHand": 115}]}));
        assert_eq!(shop.on_hand("S001", "MILK").await, 115);
        assert_eq!(shop.on_hand("S001", "FLASH").await, 10);
    }

    fn keyed(store: &str, key: &str, movements: Value) -> Event {
        movements_event(store).claims("store", Some(store)).header("Idempotency-Key", key).json(&json!({"movements": movements}))
    }

    #[tokio::test]
    async fn a_delivery_sent_again_under_its_key_is_counted_once() {
        let shop = stocked_shop().await;
        let delivery = json!([{"sku": "MILK", "delta": 24, "reason": "receipt"}, {"sku": "FLASH", "delta": 6, "reason": "receipt"}]);
        let first = shop.catalog(keyed("S001", "delivery-0042", delivery.clone())).await;
        let body = first.ok(200).clone();
        assert_eq!(first.replayed(), None);
        // Its answer was lost: the same key and body again is the first answer, and nothing moves.
        let again = shop.catalog(keyed("S001", "delivery-0042", delivery.clone())).await;
        assert_eq!(again.ok(200), &body);
        assert_eq!(again.replayed(), Some("true"));
        assert_eq!((shop.on_hand("S001", "MILK").await, shop.on_hand("S001", "FLASH").await), (24, 6));
        // A different body under the key is refused and moves nothing.
        let other = json!([{"sku": "MILK", "delta": 25, "reason": "receipt"}]);
        shop.catalog(keyed("S001", "delivery-0042", other)).await.problem(422, "idempotency_key_reused");
        assert_eq!(shop.on_hand("S001", "MILK").await, 24);
        // Without the key every request applies.
        shop.move_stock("S001", json!([{"sku": "MILK", "delta": 1, "reason": "receipt"}])).await.ok(200);
        shop.move_stock("S001", json!([{"sku": "MILK", "delta": 1, "reason": "receipt"}])).await.ok(200);
        assert_eq!(shop.on_hand("S001", "MILK").await, 26);
        // A malformed key is 400, before anything moves.
        for bad in ["has space", "", &"k".repeat(65)] {
            shop.catalog(keyed("S001", bad, json!([{"sku": "MILK", "delta": 1, "reason": "receipt"}]))).await.problem(400, "invalid_request");
        }
        assert_eq!(shop.on_hand("S001", "MILK").await, 26);
    }

    #[tokio::test]
    async fn stock_is_kept_per_store() {
        let shop = stocked_shop().await;
        shop.move_stock("S001", json!([{"sku": "MILK", "delta": 40, "reason": "receipt"}])).await.ok(200);
        shop.move_stock("S002", json!([{"sku": "MILK", "delta": 7, "reason": "receipt"}])).await.ok(200);
        assert_eq!(shop.on_hand("S001", "MILK").await, 40);
        assert_eq!(shop.on_hand("S002", "MILK").await, 7);
    }

    #[tokio::test]
    async fn kg_stock_is_counted_in_grams() {
        let shop = stocked_shop().await;
        let a = shop.move_stock("S001", json!([{"sku": "APPLE", "delta": 25_000, "reason": "receipt"}, {"sku": "APPLE", "delta": -1_250, "reason": "damage"}])).await;
        assert_eq!(a.ok(200), &json!({"stock": [{"sku": "APPLE", "onHand": 23_750}]}));
        let seen = shop.lookup_sku("S001", "APPLE").await;
        assert_eq!(seen.ok(200)["stock"], json!({"onHand": 23_750, "policy": "strict"}));
    }

    #[tokio::test]
    async fn an_unknown_sku_fails_the_whole_request_and_nothing_is_applied() {
        let shop = stocked_shop().await;
        shop.move_stock("S001", json!([{"sku": "MILK", "delta": 10, "reason": "receipt"}])).await.ok(200);
        let a = shop
            .move_stock("S001", json!([{"sku": "MILK", "delta": 5, "reason": "receipt"}, {"sku": "GHOST", "delta": 1, "reason": "receipt"}]))
            .await;
        a.problem(404, "not_found");
        assert_eq!(shop.on_hand("S001", "MILK").await, 10);
    }

    #[tokio::test]
    async fn strict_stock_below_zero_is_out_of_stock_with_shortages_and_nothing_is_applied() {
        let shop = stocked_shop().await;
        shop.move_stock("S001", json!([{"sku": "FLASH", "delta": 3, "reason": "receipt"}, {"sku": "MILK", "delta": 10, "reason": "receipt"}])).await.ok(200);
        let a = shop
            .move_stock(
                "S001",
                json!([
                    {"sku": "MILK", "delta": -2, "reason": "damage"},
                    {"sku": "FLASH", "delta": -5, "reason": "damage"},
                    {"sku": "APPLE", "delta": -500, "reason": "count"},
                ]),
            )
            .await;
        let body = a.problem(409, "out_of_stock");
        let shortages = body["shortages"].as_array().unwrap();
        assert_eq!(shortages.len(), 2, "{body}");
        assert!(shortages.contains(&json!({"sku": "FLASH", "requested": 5, "available": 3})), "{body}");
        assert!(shortages.contains(&json!({"sku": "APPLE", "requested": 500, "available": 0})), "{body}");
        assert_eq!(shop.on_hand("S001", "MILK").await, 10);
        assert_eq!(shop.on_hand("S001", "FLASH").await, 3);
        assert_eq!(shop.on_hand("S001", "APPLE").await, 0);
    }

    #[tokio::test]
    async fn strict_stock_may_be_taken_to_exactly_zero() {
        let shop = stocked_shop().await;
        shop.move_stock("S001", json!([{"sku": "FLASH", "delta": 3, "reason": "receipt"}])).await.ok(200);
        let a = shop.move_stock("S001", json!([{"sku": "FLASH", "delta": -3, "reason": "damage"}])).await;
        assert_eq!(a.ok(200), &json!({"stock": [{"sku": "FLASH", "onHand": 0}]}));
        let a = shop.move_stock("S001", json!([{"sku": "FLASH", "delta": -1, "reason": "damage"}])).await;
        assert_eq!(a.problem(409, "out_of_stock")["shortages"], json!([{"sku": "FLASH", "requested": 1, "available": 0}]));
        assert_eq!(shop.on_hand("S001", "FLASH").await, 0);
    }

    #[tokio::test]
    async fn strict_stock_is_checked_movement_by_movement_in_the_order_given() {
        let shop = stocked_shop().await;
        // The damage comes before the receipt: it would take the stock below zero.
        let a = shop.move_stock("S001", json!([{"sku": "FLASH", "delta": -5, "reason": "damage"}, {"sku": "FLASH", "delta": 10, "reason": "receipt"}])).await;
        assert_eq!(a.problem(409, "out_of_stock")["shortages"], json!([{"sku": "FLASH", "requested": 5, "available": 0}]));
        assert_eq!(shop.on_hand("S001", "FLASH").await, 0);
        let a = shop.move_stock("S001", json!([{"sku": "FLASH", "delta": 10, "reason": "receipt"}, {"sku": "FLASH", "delta": -5, "reason": "damage"}])).await;
        assert_eq!(a.ok(200), &json!({"stock": [{"sku": "FLASH", "onHand": 5}]}));
    }

    #[tokio::test]
    async fn tracked_stock_may_go_negative() {
        let shop = stocked_shop().await;
        let a = shop.move_stock("S001", json!([{"sku": "MILK", "delta": -4, "reason": "count"}])).await;
        assert_eq!(a.ok(200), &json!({"stock": [{"sku": "MILK", "onHand": -4}]}));
        assert_eq!(shop.on_hand("S001", "MILK").await, -4);
    }

    #[tokio::test]
    async fn one_to_a_hundred_movements_are_accepted() {
        let shop = stocked_shop().await;
        shop.move_stock("S001", json!([])).await.problem(400, "invalid_request");
        let one_oh_one: Vec<Value> = (0..101).map(|_| json!({"sku": "MILK", "delta": 1, "reason": "receipt"})).collect();
        shop.move_stock("S001", json!(one_oh_one)).await.problem(400, "invalid_request");
        assert_eq!(shop.on_hand("S001", "MILK").await, 0);
        let hundred: Vec<Value> = (0..100).map(|_| json!({"sku": "MILK", "delta": 1, "reason": "receipt"})).collect();
        let a = shop.move_stock("S001", json!(hundred)).await;
        assert_eq!(a.ok(200), &json!({"stock": [{"sku": "MILK", "onHand": 100}]}));
    }

    #[tokio::test]
    async fn a_delta_may_be_a_million_either_way_and_no_more() {
        let shop = stocked_shop().await;
        let a = shop.move_stock("S001", json!([{"sku": "MILK", "delta": 1_000_000, "reason": "receipt"}])).await;
        assert_eq!(a.ok(200)["stock"][0]["onHand"], 1_000_000);
        let a = shop.move_stock("S001", json!([{"sku": "MILK", "delta": -1_000_000, "reason": "count"}])).await;
        assert_eq!(a.ok(200)["stock"][0]["onHand"], 0);
        for delta in [1_000_001, -1_000_001] {
            let a = shop.move_stock("S001", json!([{"sku": "MILK", "delta": 1, "reason": "receipt"}, {"sku": "MILK", "delta": delta, "reason": "count"}])).await;
            a.problem(400, "invalid_request");
        }
        assert_eq!(shop.on_hand("S001", "MILK").await, 0);
    }

    #[tokio::test]
    async fn an_unknown_store_is_not_found() {
        let shop = stocked_shop().await;
        let a = shop.move_stock("S404", json!([{"sku": "MILK", "delta": 1, "reason": "receipt"}])).await;
        a.problem(404, "not_found");
    }

    #[tokio::test]
    async fn an_invalid_store_id_in_the_path_is_invalid_request() {
        let shop = stocked_shop().await;
        let a = shop.move_stock("s001", json!([{"sku": "MILK", "delta": 1, "reason": "receipt"}])).await;
        a.problem(400, "invalid_request");
    }

    #[tokio::test]
    async fn malformed_movements_are_invalid_requests() {
        let shop = stocked_shop().await;
        for movement in [
            json!({"sku": "MILK", "delta": 1, "reason": "theft"}),
            json!({"sku": "MILK", "delta": 1}),
            json!({"sku": "MILK", "reason": "receipt"}),
            json!({"delta": 1, "reason": "receipt"}),
            json!({"sku": "a b", "delta": 1, "reason": "receipt"}),
            json!({"sku": "MILK", "delta": "1", "reason": "receipt"}),
            json!({"sku": "MILK", "delta": 1, "reason": "receipt", "note": "x"}),
        ] {
            let a = shop.move_stock("S001", json!([movement])).await;
            assert_eq!(a.status, 400, "{movement}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        for raw in [
            r#"{"movements": [{"sku": "MILK", "sku": "FLASH", "delta": 1, "reason": "receipt"}]}"#,
            r#"{"movements": [], "movements": [{"sku": "MILK", "delta": 1, "reason": "receipt"}]}"#,
            r#"{"moves": [{"sku": "MILK", "delta": 1, "reason": "receipt"}]}"#,
            r#"{"movements": null}"#,
        ] {
            let a = shop.catalog(movements_event("S001").claims(HO, None).raw_json(raw)).await;
            assert_eq!(a.status, 400, "{raw}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        assert_eq!(shop.on_hand("S001", "MILK").await, 0);
    }
}

mod stock_split {
    use super::*;

    fn stock_event(store: &str, sku: &str) -> Event {
        Event::new("GET", "/stores/{storeId}/stock/{sku}", &format!("/stores/{store}/stock/{sku}"))
    }

    #[tokio::test]
    async fn strict_stock_is_split_over_eight_items_unless_head_office_says_otherwise() {
        let shop = two_stores().await;
        let strict = shop.put_commodity("FLASH", &commodity("each", &[], "strict")).await;
        assert_eq!(strict.ok(201)["stockShards"], 8);
        let tracked = shop.put_commodity("MILK", &commodity("each", &[], "track")).await;
        assert_eq!(tracked.ok(201)["stockShards"], 1);
        let mut chosen = commodity("each", &[], "strict");
        chosen["stockShards"] = json!(3);
        assert_eq!(shop.put_commodity("FLASH", &chosen).await.ok(200)["stockShards"], 3);
        for bad in [json!(0), json!(33), json!(-1), json!(2.5), json!("4")] {
            let mut body = commodity("each", &[], "strict");
            body["stockShards"] = bad.clone();
            shop.put_commodity("FLASH", &body).await.problem(400, "invalid_request");
        }
        // A refused setting changed nothing.
        assert_eq!(shop.put_commodity("FLASH", &chosen).await.ok(200)["stockShards"], 3);
    }

    #[tokio::test]
    async fn a_manager_sees_the_stock_item_by_item_and_lookups_see_one_figure() {
        let shop = two_stores().await;
        let mut body = commodity("each", &[], "strict");
        body["stockShards"] = json!(4);
        shop.seed_commodity("FLASH", &body).await;
        shop.move_stock("S001", json!([{"sku": "FLASH", "delta": 10, "reason": "receipt"}])).await.ok(200);
        let a = shop.catalog(stock_event("S001", "FLASH").claims("store", Some("S001"))).await;
        assert_eq!(
            a.ok(200),
            &json!({"sku": "FLASH", "policy": "strict", "onHand": 10, "stockShards": 4, "shards": [
                {"shard": 0, "onHand": 3, "writes": 1}, {"shard": 1, "onHand": 3, "writes": 1},
                {"shard": 2, "onHand": 2, "writes": 1}, {"shard": 3, "onHand": 2, "writes": 1}]})
        );
        assert_eq!(shop.on_hand("S001", "FLASH").await, 10);
        // Another store has none of it yet; a till may not look; another store's manager may not.
        let other = shop.catalog(stock_event("S002", "FLASH").claims(HO, None)).await;
        assert_eq!(other.ok(200)["shards"], json!([]));
        shop.catalog(stock_event("S001", "FLASH").claims("pos", Some("S001"))).await.problem(403, "forbidden_scope");
        shop.catalog(stock_event("S001", "FLASH").claims("store", Some("S002"))).await.problem(403, "forbidden_store");
        shop.catalog(stock_event("S001", "NOPE").claims(HO, None)).await.problem(404, "not_found");
        shop.catalog(stock_event("S404", "FLASH").claims(HO, None)).await.problem(404, "not_found");
        shop.catalog(stock_event("S001", "-bad").claims(HO, None)).await.problem(400, "invalid_request");
    }
}
