//! price-adjustment against API.md: `POST /price-adjustments`, `GET /price-adjustments/{batchId}`
//! and `GET /stores/{storeId}/prices/{sku}`, and the price a till then sees through
//! commodity-lookup.

use catalog_admin::CatalogAdmin;
use chrono::{DateTime, Duration, Utc};
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::testing::{catalog::*, request::*};
use serde_json::{Value, json};

const LONG_AGO: &str = "2020-01-01T00:00:00Z";

/// S001 and S003 in EAST, S002 in WEST; milk and cola by the piece, apples by weight.
async fn priced_shop() -> Shop {
    let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
    shop.put_store("S001", "EAST").await;
    shop.put_store("S002", "WEST").await;
    shop.put_store("S003", "EAST").await;
    shop.seed_commodity("MILK", &commodity("each", &[], "track")).await;
    shop.seed_commodity("COLA", &commodity("each", &[], "track")).await;
    shop.seed_commodity("APPLE", &commodity("kg", &["2112345"], "track")).await;
    shop
}

fn line(sku: &str, scope: &str, amount: i64) -> Value {
    json!({"sku": sku, "scope": scope, "amount": amount, "validFrom": LONG_AGO})
}

fn promo(sku: &str, scope: &str, amount: i64, from: &str, to: &str) -> Value {
    json!({"sku": sku, "scope": scope, "amount": amount, "validFrom": from, "validTo": to})
}

fn batch(id: &str, lines: Value) -> Value {
    json!({"batchId": id, "adjustments": lines})
}

fn utc(raw: &str) -> DateTime<Utc> {
    assert!(raw.ends_with('Z'), "{raw} is not UTC with Z");
    DateTime::parse_from_rfc3339(raw).unwrap_or_else(|e| panic!("{raw}: {e}")).with_timezone(&Utc)
}

/// The amount and adjustment explained for `sku` in `store` at `at`.
async fn explained(shop: &Shop, store: &str, sku: &str, at: &str) -> (i64, String) {
    let a = shop.explain(store, sku, at).await;
    let body = a.ok(200);
    (body["amount"].as_i64().unwrap(), body["adjustmentId"].as_str().unwrap().to_owned())
}

mod who_may_call {
    use super::*;

    #[tokio::test]
    async fn every_route_refuses_a_request_the_authorizer_did_not_see() {
        let shop = priced_shop().await;
        shop.prices(post_batch_event().json(&batch("b1", json!([line("MILK", "chain", 100)]))).without_authorizer()).await.problem(401, "unauthorized");
        shop.prices(get_batch_event("b1").without_authorizer()).await.problem(401, "unauthorized");
        shop.prices(explain_event("S001", "MILK", "").without_authorizer()).await.problem(401, "unauthorized");
    }

    #[tokio::test]
    async fn only_headoffice_may_push_or_read_a_batch() {
        let shop = priced_shop().await;
        let body = batch("b1", json!([line("MILK", "chain", 100)]));
        for (scope, store) in [("pos", Some("S001")), ("store", Some("S001")), ("pos store", Some("S001"))] {
            shop.prices(post_batch_event().claims(scope, store).json(&body)).await.problem(403, "forbidden_scope");
        }
        // Nothing was applied and the id is free.
        shop.prices(get_batch_event("b1").claims(HO, None)).await.problem(404, "not_found");
        assert_eq!(shop.price_now("S001", "MILK").await, None);
        shop.post_batch(&body).await.ok(201);
        for (scope, store) in [("pos", Some("S001")), ("store", Some("S001"))] {
            shop.prices(get_batch_event("b1").claims(scope, store)).await.problem(403, "forbidden_scope");
        }
    }

    #[tokio::test]
    async fn a_till_may_not_ask_why_a_price_holds() {
        let shop = priced_shop().await;
        shop.seed_prices("b1", json!([line("MILK", "chain", 100)])).await;
        shop.prices(explain_event("S001", "MILK", "").claims("pos", Some("S001"))).await.problem(403, "forbidden_scope");
        // Scope before store.
        shop.prices(explain_event("S001", "MILK", "").claims("pos", Some("S002"))).await.problem(403, "forbidden_scope");
    }

    #[tokio::test]
    async fn a_manager_asks_about_their_own_store_and_head_office_about_any() {
        let shop = priced_shop().await;
        shop.seed_prices("b1", json!([line("MILK", "chain", 100)])).await;
        shop.prices(explain_event("S001", "MILK", "").claims("store", Some("S002"))).await.problem(403, "forbidden_store");
        shop.prices(explain_event("S001", "MILK", "").claims("store", None)).await.problem(403, "forbidden_store");
        assert_eq!(shop.prices(explain_event("S001", "MILK", "").claims("store", Some("S001"))).await.ok(200)["amount"], 100);
        for store in ["S001", "S002", "S003"] {
            assert_eq!(shop.prices(explain_event(store, "MILK", "").claims(HO, None)).await.ok(200)["amount"], 100);
        }
    }
}

mod check_order {
    use super::*;

    #[tokio::test]
    async fn a_forbidden_token_with_a_bad_body_is_403() {
        let shop = priced_shop().await;
        let a = shop.prices(post_batch_event().claims("store", Some("S001")).raw_json(&"{".repeat(MAX_BODY + 1))).await;
        a.problem(403, "forbidden_scope");
    }

    #[tokio::test]
    async fn a_too_large_body_is_413_before_its_media_type_or_content() {
        let shop = priced_shop().await;
        let over = padded(&batch("b1", json!([line("MILK", "chain", 100)])), MAX_BODY + 1);
        shop.prices(post_batch_event().claims(HO, None).raw_json(&over)).await.problem(413, "payload_too_large");
        shop.prices(post_batch_event().claims(HO, None).body_with_type("text/plain", &over)).await.problem(413, "payload_too_large");
        shop.prices(get_batch_event("b1").claims(HO, None)).await.problem(404, "not_found");
    }

    #[tokio::test]
    async fn a_body_of_exactly_the_limit_is_applied() {
        let shop = priced_shop().await;
        let at_limit = padded(&batch("b1", json!([line("MILK", "chain", 100)])), MAX_BODY);
        shop.prices(post_batch_event().claims(HO, None).raw_json(&at_limit)).await.ok(201);
        assert_eq!(shop.price_now("S001", "MILK").await, Some(100));
    }

    #[tokio::test]
    async fn a_body_that_is_not_json_is_415_before_it_is_parsed() {
        let shop = priced_shop().await;
        for content_type in ["text/plain", "application/x-www-form-urlencoded"] {
            let a = shop.prices(post_batch_event().claims(HO, None).body_with_type(content_type, "{not json")).await;
            a.problem(415, "unsupported_media_type");
        }
    }

    #[tokio::test]
    async fn the_explanation_checks_the_store_before_the_path_and_the_path_before_existence() {
        let shop = priced_shop().await;
        shop.prices(explain_event("s001", "MILK", "").claims("store", Some("S001"))).await.problem(403, "forbidden_store");
        shop.prices(explain_event("s001", "MILK", "").claims(HO, None)).await.problem(400, "invalid_request");
        // A bad `at` on an unknown store and sku is 400, not 404.
        shop.prices(explain_event("S404", "GHOST", "at=yesterday").claims(HO, None)).await.problem(400, "invalid_request");
    }
}

mod batches {
    use super::*;

    #[tokio::test]
    async fn good_lines_apply_and_bad_ones_are_rejected_by_index() {
        let shop = priced_shop().await;
        let before = Utc::now();
        let lines = json!([
            line("MILK", "chain", 1299),
            line("GHOST", "chain", 100),
            line("MILK", "city:HZ", 100),
            line("MILK", "store:S999", 100),
            line("MILK", "region:NOWHERE", 100),
            line("MILK", "chain", 0),
            line("MILK", "chain", -5),
            line("MILK", "chain", 1_000_000_001),
            line("MILK", "store:S002", 1_000_000_000),
            promo("MILK", "chain", 100, "2026-11-11T12:00:00Z", "2026-11-11T12:00:00Z"),
            promo("MILK", "chain", 100, "2026-11-11T12:00:00Z", "2026-11-11T11:59:59Z"),
            line("MILK", "store:s001", 100),
            line("MILK", "region:", 100),
            line("MILK", "store:S001", 1199),
            promo("MILK", "chain", 999, "2026-11-11T12:00:00Z", "2026-11-11T14:00:00Z"),
            line("MILK", "Chain", 100),
            // The same instant in another offset is no later.
            promo("MILK", "chain", 100, "2026-11-11T20:00:00+08:00", "2026-11-11T12:00:00Z"),
        ]);
        let a = shop.post_batch(&batch("2026-11-11-flash", lines)).await;
        let body = a.ok(201).clone();
        assert_eq!(body["batchId"], "2026-11-11-flash");
        assert_eq!(body["accepted"], 5, "{body}");
        let rejected: Vec<(u64, &str)> = body["rejected"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                assert_eq!(r.as_object().unwrap().len(), 3, "{r}");
                assert!(!r["detail"].as_str().unwrap().is_empty(), "{r}");
                (r["index"].as_u64().unwrap(), r["code"].as_str().unwrap())
            })
            .collect();
        assert_eq!(
            rejected,
            vec![
                (1, "unknown_commodity"),
                (2, "invalid_scope"),
                (3, "invalid_scope"),
                (5, "invalid_amount"),
                (6, "invalid_amount"),
                (7, "invalid_amount"),
                (9, "invalid_window"),
                (10, "invalid_window"),
                (11, "invalid_scope"),
                (12, "invalid_scope"),
                (15, "invalid_scope"),
                (16, "invalid_window"),
            ]
        );
        assert_eq!(body.as_object().unwrap().len(), 4, "{body}");
        let applied_at = utc(body["appliedAt"].as_str().unwrap());
        assert!(before <= applied_at && applied_at <= Utc::now(), "{applied_at}");

        // The good lines are in force: line 13 in S001, line 8 in S002, line 0 in S003.
        assert_eq!(explained(&shop, "S001", "MILK", "2026-06-01T00:00:00Z").await, (1199, "2026-11-11-flash:13".into()));
        assert_eq!(explained(&shop, "S002", "MILK", "2026-06-01T00:00:00Z").await, (1_000_000_000, "2026-11-11-flash:8".into()));
        assert_eq!(explained(&shop, "S003", "MILK", "2026-06-01T00:00:00Z").await, (1299, "2026-11-11-flash:0".into()));
        assert_eq!(explained(&shop, "S003", "MILK", "2026-11-11T13:00:00Z").await, (999, "2026-11-11-flash:14".into()));
        // The region that has no stores took its price all the same.
        shop.put_store("S004", "NOWHERE").await;
        assert_eq!(explained(&shop, "S004", "MILK", "2026-06-01T00:00:00Z").await, (100, "2026-11-11-flash:4".into()));
    }

    #[tokio::test]
    async fn a_batch_with_every_line_rejected_is_still_created() {
        let shop = priced_shop().await;
        let a = shop.post_batch(&batch("all-bad", json!([line("GHOST", "chain", 100)]))).await;
        let body = a.ok(201);
        assert_eq!(body["accepted"], 0);
        assert_eq!(body["rejected"][0]["code"], "unknown_commodity");
        shop.prices(get_batch_event("all-bad").claims(HO, None)).await.ok(200);
    }

    #[tokio::test]
    async fn minus_zero_is_an_integer_zero_and_rejected_as_an_amount() {
        let shop = priced_shop().await;
        let body = r#"{"batchId": "minus-zero", "adjustments": [{"sku": "MILK", "scope": "chain", "amount": -0}]}"#;
        let a = shop.prices(post_batch_event().claims(HO, None).raw_json(body)).await;
        let body = a.ok(201);
        assert_eq!(body["accepted"], 0, "{body}");
        assert_eq!(body["rejected"][0]["code"], "invalid_amount", "{body}");
        // With a fraction it is no integer: the whole batch is 400.
        let body = r#"{"batchId": "minus-zero-2", "adjustments": [{"sku": "MILK", "scope": "chain", "amount": -0.0}]}"#;
        shop.prices(post_batch_event().claims(HO, None).raw_json(body)).await.problem(400, "invalid_request");
    }

    #[tokio::test]
    async fn the_stored_result_is_read_back_by_batch_id() {
        let shop = priced_shop().await;
        let first = shop.post_batch(&batch("b-1_x", json!([line("MILK", "chain", 100), line("GHOST", "chain", 1)]))).await;
        let first = first.ok(201).clone();
        let a = shop.prices(get_batch_event("b-1_x").claims(HO, None)).await;
        assert_eq!(a.ok(200), &first);
    }

    #[tokio::test]
    async fn an_unknown_batch_is_not_found_and_a_malformed_id_invalid() {
        let shop = priced_shop().await;
        shop.prices(get_batch_event("nope").claims(HO, None)).await.problem(404, "not_found");
        let long = "b".repeat(65);
        for id in ["a b", "a.b", long.as_str()] {
            let a = shop.prices(get_batch_event(id).claims(HO, None)).await;
            assert_eq!(a.status, 400, "{id}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        let request = with_params(get_batch_event("a%2Fb").claims(HO, None).request(), &[("batchId", "a/b")]);
        shop.prices_request(request).await.problem(400, "invalid_request");
        let sixty_four = "b".repeat(64);
        shop.prices(get_batch_event(&sixty_four).claims(HO, None)).await.problem(404, "not_found");
    }

    #[tokio::test]
    async fn an_equal_body_again_answers_the_first_result_and_applies_nothing_twice() {
        let shop = priced_shop().await;
        let first_body = r#"{"batchId": "first", "adjustments": [{"sku": "MILK", "scope": "chain", "amount": 1000, "validFrom": "2020-01-01T00:00:00Z", "reason": "list"}]}"#;
        let a = shop.prices(post_batch_event().claims(HO, None).raw_json(first_body)).await;
        let first = a.ok(201).clone();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        shop.seed_prices("second", json!([line("MILK", "chain", 1100)])).await;
        assert_eq!(shop.price_now("S001", "MILK").await, Some(1100));

        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        // Members reordered, whitespace changed: the same document as parsed JSON.
        let reordered = r#"{"adjustments":[{"reason":"list","validFrom":"2020-01-01T00:00:00Z","amount":1000,"scope":"chain","sku":"MILK"}],"batchId":"first"}"#;
        let a = shop.prices(post_batch_event().claims(HO, None).raw_json(reordered)).await;
        assert_eq!(a.ok(200), &first);
        let a = shop.prices(post_batch_event().claims(HO, None).raw_json(first_body)).await;
        assert_eq!(a.ok(200), &first);
        // Had "first" been applied again it would now be the latest batch.
        assert_eq!(shop.price_now("S001", "MILK").await, Some(1100));
        let a = shop.prices(explain_event("S001", "MILK", "").claims(HO, None)).await;
        assert_eq!(a.ok(200)["batchId"], "second");
        assert_eq!(shop.prices(get_batch_event("first").claims(HO, None)).await.ok(200), &first);
    }

    #[tokio::test]
    async fn the_same_batch_id_with_a_different_body_is_refused_and_nothing_is_applied() {
        let shop = priced_shop().await;
        let lines = json!([line("MILK", "chain", 1000), line("COLA", "chain", 300)]);
        let first = shop.post_batch(&batch("first", lines)).await.ok(201).clone();
        for different in [
            batch("first", json!([line("MILK", "chain", 1001), line("COLA", "chain", 300)])),
            // Lines are an ordered list: swapping them is a different body.
            batch("first", json!([line("COLA", "chain", 300), line("MILK", "chain", 1000)])),
            batch("first", json!([line("MILK", "chain", 1000)])),
        ] {
            let a = shop.post_batch(&different).await;
            assert_eq!(a.status, 422, "{different}: {}", a.body);
            a.problem(422, "batch_id_reused");
        }
        assert_eq!(shop.price_now("S001", "MILK").await, Some(1000));
        assert_eq!(shop.price_now("S001", "COLA").await, Some(300));
        assert_eq!(shop.prices(get_batch_event("first").claims(HO, None)).await.ok(200), &first);
    }

    #[tokio::test]
    async fn one_to_five_thousand_lines_and_a_refused_batch_uses_nothing_up() {
        let shop = priced_shop().await;
        let too_many: Vec<Value> = (0..5001).map(|i| json!({"sku": "MILK", "scope": "chain", "amount": 1000 + i})).collect();
        shop.post_batch(&batch("big", json!(too_many))).await.problem(400, "invalid_request");
        shop.post_batch(&batch("big", json!([]))).await.problem(400, "invalid_request");
        shop.prices(get_batch_event("big").claims(HO, None)).await.problem(404, "not_found");
        assert_eq!(shop.price_now("S001", "MILK").await, None);

        let five_thousand: Vec<Value> = (0..5000).map(|i| json!({"sku": "MILK", "scope": "chain", "amount": 1000 + i, "validFrom": LONG_AGO})).collect();
        let a = shop.post_batch(&batch("big", json!(five_thousand))).await;
        let body = a.ok(201);
        assert_eq!((body["accepted"].clone(), body["rejected"].clone()), (json!(5000), json!([])));
        // All tie but for the line: the last line wins.
        assert_eq!(shop.price_now("S001", "MILK").await, Some(5999));
    }

    #[tokio::test]
    async fn structural_errors_fail_the_whole_batch_and_use_nothing_up() {
        let shop = priced_shop().await;
        let ok_line = r#"{"sku": "MILK", "scope": "chain", "amount": 100}"#;
        for raw in [
            "{not json".to_owned(),
            String::new(),
            format!(r#"{{"batchId": "b1", "adjustments": [{ok_line}], "note": "x"}}"#),
            r#"{"batchId": "b1", "adjustments": [{"sku": "MILK", "scope": "chain", "amount": 100, "price": 5}]}"#.to_owned(),
            r#"{"batchId": "b1"}"#.to_owned(),
            format!(r#"{{"adjustments": [{ok_line}]}}"#),
            r#"{"batchId": "b1", "adjustments": [{"scope": "chain", "amount": 100}]}"#.to_owned(),
            r#"{"batchId": "b1", "adjustments": [{"sku": "MILK", "amount": 100}]}"#.to_owned(),
            r#"{"batchId": "b1", "adjustments": [{"sku": "MILK", "scope": "chain"}]}"#.to_owned(),
            r#"{"batchId": "b1", "adjustments": [{"sku": "MILK", "scope": "chain", "amount": "100"}]}"#.to_owned(),
            r#"{"batchId": "b1", "adjustments": [{"sku": "MILK", "scope": "chain", "amount": 9.5}]}"#.to_owned(),
            r#"{"batchId": "b1", "adjustments": [{"sku": "MILK", "scope": "chain", "amount": 1e3}]}"#.to_owned(),
            r#"{"batchId": "b1", "adjustments": [{"sku": "MILK", "scope": "chain", "amount": 100.0}]}"#.to_owned(),
            r#"{"batchId": "b1", "adjustments": [{"sku": 5, "scope": "chain", "amount": 100}]}"#.to_owned(),
            r#"{"batchId": "b1", "adjustments": [{"sku": "MILK", "scope": ["chain"], "amount": 100}]}"#.to_owned(),
            r#"{"batchId": "b1", "adjustments": [{"sku": "MILK", "scope": "chain", "amount": 100, "validTo": 5}]}"#.to_owned(),
            format!(r#"{{"batchId": "b1", "adjustments": {ok_line}}}"#),
            format!(r#"{{"batchId": 1, "adjustments": [{ok_line}]}}"#),
            format!(r#"{{"batchId": "b1", "batchId": "b2", "adjustments": [{ok_line}]}}"#),
            r#"{"batchId": "b1", "adjustments": [{"sku": "MILK", "sku": "COLA", "scope": "chain", "amount": 100}]}"#.to_owned(),
        ] {
            let a = shop.prices(post_batch_event().claims(HO, None).raw_json(&raw)).await;
            assert_eq!(a.status, 400, "{raw}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        shop.prices(get_batch_event("b1").claims(HO, None)).await.problem(404, "not_found");
        assert_eq!(shop.price_now("S001", "MILK").await, None);
        shop.post_batch(&batch("b1", json!([line("MILK", "chain", 100)]))).await.ok(201);
    }

    #[tokio::test]
    async fn a_structurally_bad_body_under_a_used_batch_id_is_400_not_422() {
        let shop = priced_shop().await;
        shop.seed_prices("b1", json!([line("MILK", "chain", 100)])).await;
        let too_many: Vec<Value> = (0..5001).map(|_| line("MILK", "chain", 100)).collect();
        shop.post_batch(&batch("b1", json!(too_many))).await.problem(400, "invalid_request");
        let raw = r#"{"batchId": "b1", "adjustments": [{"sku": "MILK", "scope": "chain", "amount": 100, "note": 1}]}"#;
        shop.prices(post_batch_event().claims(HO, None).raw_json(raw)).await.problem(400, "invalid_request");
    }

    #[tokio::test]
    async fn a_malformed_batch_id_is_invalid_request() {
        let shop = priced_shop().await;
        let long = "b".repeat(65);
        for id in ["", "a/b", "a b", "a.b", long.as_str()] {
            let a = shop.post_batch(&batch(id, json!([line("MILK", "chain", 100)]))).await;
            assert_eq!(a.status, 400, "{id:?}: {}", a.body);
            a.problem(400, "invalid_request");
        }
        assert_eq!(shop.price_now("S001", "MILK").await, None);
    }

    #[tokio::test]
    async fn a_json_array_in_place_of_a_line_object_is_invalid_request() {
        let shop = priced_shop().await;
        let raw = r#"{"batchId": "b1", "adjustments": [["MILK", "chain", 100]]}"#;
        shop.prices(post_batch_event().claims(HO, None).raw_json(raw)).await.problem(400, "invalid_request");
        shop.prices(get_batch_event("b1").claims(HO, None)).await.problem(404, "not_found");
    }

    #[tokio::test]
    async fn null_optional_members_of_a_line_are_accepted() {
        let shop = priced_shop().await;
        let body = batch("b1", json!([{"sku": "MILK", "scope": "chain", "amount": 100, "validFrom": null, "validTo": null, "reason": null}]));
        let a = shop.post_batch(&body).await;
        assert_eq!(a.ok(201)["accepted"], 1);
        assert_eq!(shop.price_now("S001", "MILK").await, Some(100));
    }

    #[tokio::test]
    async fn a_line_without_valid_from_starts_when_its_batch_is_applied() {
        let shop = priced_shop().await;
        let a = shop.post_batch(&batch("now", json!([{"sku": "MILK", "scope": "chain", "amount": 100}]))).await;
        let applied_at = a.ok(201)["appliedAt"].as_str().unwrap().to_owned();
        let a = shop.explain("S001", "MILK", &applied_at).await;
        let body = a.ok(200);
        assert_eq!(body["validFrom"], applied_at.as_str());
        assert_eq!(body["validTo"], Value::Null);
        let just_before = (utc(&applied_at) - Duration::milliseconds(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        shop.explain("S001", "MILK", &just_before).await.problem(404, "no_price");
        // A promotion whose window ends before "now" is empty.
        let a = shop.post_batch(&batch("late", json!([{"sku": "MILK", "scope": "chain", "amount": 90, "validTo": "2000-01-01T00:00:00Z"}]))).await;
        assert_eq!(a.ok(201)["rejected"][0]["code"], "invalid_window");
    }
}

mod explanations {
    use super::*;

    #[tokio::test]
    async fn the_price_in_force_comes_with_where_it_came_from_in_utc() {
        let shop = priced_shop().await;
        let lines = json!([
            line("MILK", "chain", 1299),
            {"sku": "MILK", "scope": "store:S001", "amount": 999, "validFrom": "2026-11-11T20:00:00+08:00",
             "validTo": "2026-11-11T23:59:59.5+08:00", "reason": "Singles' Day"},
        ]);
        shop.seed_prices("2026-11-11-flash", lines).await;
        let a = shop.explain("S001", "MILK", "2026-11-11T12:30:00Z").await;
        assert_eq!(
            a.ok(200),
            &json!({
                "amount": 999, "currency": "CNY", "adjustmentId": "2026-11-11-flash:1", "batchId": "2026-11-11-flash",
                "scope": "store:S001", "validFrom": "2026-11-11T12:00:00Z", "validTo": "2026-11-11T15:59:59.500Z",
                "reason": "Singles' Day"
            })
        );
        let a = shop.explain("S001", "MILK", "2026-11-11T16:00:00Z").await;
        assert_eq!(
            a.ok(200),
            &json!({
                "amount": 1299, "currency": "CNY", "adjustmentId": "2026-11-11-flash:0", "batchId": "2026-11-11-flash",
                "scope": "chain", "validFrom": "2020-01-01T00:00:00Z", "validTo": null, "reason": null
            })
        );
    }

    #[tokio::test]
    async fn at_may_carry_any_offset_and_fraction() {
        let shop = priced_shop().await;
        shop.seed_prices("b1", json!([line("MILK", "chain", 1299), promo("MILK", "chain", 999, "2026-11-11T12:00:00Z", "2026-11-11T14:00:00Z")])).await;
        for at in ["2026-11-11T20:00:00+08:00", "2026-11-11T21:59:59.999+08:00", "2026-11-11T07:00:00-05:00"] {
            assert_eq!(explained(&shop, "S001", "MILK", at).await, (999, "b1:1".into()), "{at}");
        }
        assert_eq!(explained(&shop, "S001", "MILK", "2026-11-11T22:00:00+08:00").await, (1299, "b1:0".into()));
    }

    #[tokio::test]
    async fn at_defaults_to_now() {
        let shop = priced_shop().await;
        let now = Utc::now();
        let window = promo("MILK", "chain", 999, &(now - Duration::hours(1)).to_rfc3339(), &(now + Duration::hours(1)).to_rfc3339());
        shop.seed_prices("b1", json!([line("MILK", "chain", 1299), window])).await;
        let a = shop.prices(explain_event("S001", "MILK", "").claims(HO, None)).await;
        assert_eq!(a.ok(200)["amount"], 999);
    }

    #[tokio::test]
    async fn a_bad_at_is_invalid_request() {
        let shop = priced_shop().await;
        shop.seed_prices("b1", json!([line("MILK", "chain", 1299)])).await;
        for at in ["yesterday", "2026-11-11", "2026-11-11%2012:00:00", "2026-11-11T12:00:00", "1794398400", ""] {
            let a = shop.prices(explain_event("S001", "MILK", &format!("at={at}")).claims(HO, None)).await;
            assert_eq!(a.status, 400, "at={at}: {}", a.body);
            a.problem(400, "invalid_request");
        }
    }

    #[tokio::test]
    async fn no_price_in_force_is_no_price() {
        let shop = priced_shop().await;
        shop.explain("S001", "MILK", "2026-06-01T00:00:00Z").await.problem(404, "no_price");
        shop.seed_prices("b1", json!([promo("MILK", "chain", 999, "2026-11-11T12:00:00Z", "2026-11-11T14:00:00Z"), line("COLA", "region:WEST", 300)])).await;
        shop.explain("S001", "MILK", "2026-11-11T14:00:00Z").await.problem(404, "no_price");
        shop.explain("S001", "MILK", "2026-11-11T11:59:59Z").await.problem(404, "no_price");
        shop.explain("S001", "COLA", "2026-06-01T00:00:00Z").await.problem(404, "no_price");
        shop.explain("S001", "APPLE", "2026-06-01T00:00:00Z").await.problem(404, "no_price");
    }

    #[tokio::test]
    async fn an_unknown_store_or_sku_is_not_found_and_a_malformed_one_invalid() {
        let shop = priced_shop().await;
        shop.seed_prices("b1", json!([line("MILK", "chain", 1299)])).await;
        shop.explain("S404", "MILK", "2026-06-01T00:00:00Z").await.problem(404, "not_found");
        shop.explain("S001", "GHOST", "2026-06-01T00:00:00Z").await.problem(404, "not_found");
        shop.explain("s001", "MILK", "2026-06-01T00:00:00Z").await.problem(400, "invalid_request");
        shop.explain("S001", "a b", "2026-06-01T00:00:00Z").await.problem(400, "invalid_request");
    }

    #[tokio::test]
    async fn history_answers_for_times_since_overtaken() {
        let shop = priced_shop().await;
        shop.seed_prices("old", json!([line("MILK", "chain", 1000)])).await;
        shop.seed_prices("new", json!([{"sku": "MILK", "scope": "chain", "amount": 1200, "validFrom": "2026-06-01T00:00:00Z"}])).await;
        assert_eq!(explained(&shop, "S001", "MILK", "2026-05-31T23:59:59Z").await, (1000, "old:0".into()));
        assert_eq!(explained(&shop, "S001", "MILK", "2026-06-01T00:00:00Z").await, (1200, "new:0".into()));
        assert_eq!(shop.price_now("S001", "MILK").await, Some(1200));
    }
}

mod resolution {
    use super::*;

    #[tokio::test]
    async fn a_chain_promotion_beats_a_stores_regular_price_inside_its_window_only() {
        let shop = priced_shop().await;
        shop.seed_prices("regular", json!([line("MILK", "store:S001", 1299)])).await;
        shop.seed_prices("flash", json!([promo("MILK", "chain", 500, "2026-11-11T12:00:00Z", "2026-11-11T14:00:00Z")])).await;
        assert_eq!(explained(&shop, "S001", "MILK", "2026-11-11T11:59:59Z").await, (1299, "regular:0".into()));
        assert_eq!(explained(&shop, "S001", "MILK", "2026-11-11T12:00:00Z").await, (500, "flash:0".into()));
        assert_eq!(explained(&shop, "S001", "MILK", "2026-11-11T13:59:59.999Z").await, (500, "flash:0".into()));
        assert_eq!(explained(&shop, "S001", "MILK", "2026-11-11T14:00:00Z").await, (1299, "regular:0".into()));
    }

    #[tokio::test]
    async fn a_till_sees_a_chain_promotion_over_its_stores_regular_price_now() {
        let shop = priced_shop().await;
        let now = Utc::now();
        shop.seed_prices("regular", json!([line("MILK", "store:S001", 1299), line("COLA", "store:S001", 350)])).await;
        shop.seed_prices(
            "flash",
            json!([
                promo("MILK", "chain", 500, &(now - Duration::hours(1)).to_rfc3339(), &(now + Duration::hours(1)).to_rfc3339()),
                promo("COLA", "chain", 200, &(now + Duration::hours(1)).to_rfc3339(), &(now + Duration::hours(2)).to_rfc3339()),
            ]),
        )
        .await;
        let a = shop.lookup_sku("S001", "MILK").await;
        let price = &a.ok(200)["price"];
        assert_eq!((price["amount"].clone(), price["adjustmentId"].clone()), (json!(500), json!("flash:0")));
        assert!(price["validTo"].is_string(), "{price}");
        // Not yet in its window.
        assert_eq!(shop.price_now("S001", "COLA").await, Some(350));
    }

    #[tokio::test]
    async fn a_store_promotion_beats_region_and_chain_promotions() {
        let shop = priced_shop().await;
        let (from, to) = ("2026-11-11T12:00:00Z", "2026-11-11T14:00:00Z");
        shop.seed_prices(
            "b1",
            json!([
                promo("MILK", "store:S001", 450, from, to),
                promo("MILK", "chain", 500, from, to),
                promo("MILK", "region:EAST", 470, from, to),
            ]),
        )
        .await;
        // A chain promotion sent later, starting later, still loses to the store's own.
        shop.seed_prices("b2", json!([promo("MILK", "chain", 400, "2026-11-11T12:30:00Z", to)])).await;
        assert_eq!(explained(&shop, "S001", "MILK", "2026-11-11T13:00:00Z").await, (450, "b1:0".into()));
        assert_eq!(explained(&shop, "S003", "MILK", "2026-11-11T13:00:00Z").await, (470, "b1:2".into()));
        assert_eq!(explained(&shop, "S002", "MILK", "2026-11-11T13:00:00Z").await, (400, "b2:0".into()));
        assert_eq!(explained(&shop, "S002", "MILK", "2026-11-11T12:15:00Z").await, (500, "b1:1".into()));
    }

    #[tokio::test]
    async fn region_prices_reach_stores_of_that_region_only() {
        let shop = priced_shop().await;
        shop.seed_prices("b1", json!([line("COLA", "region:EAST", 300)])).await;
        assert_eq!(explained(&shop, "S001", "COLA", "2026-06-01T00:00:00Z").await, (300, "b1:0".into()));
        assert_eq!(explained(&shop, "S003", "COLA", "2026-06-01T00:00:00Z").await, (300, "b1:0".into()));
        assert_eq!(shop.explain("S001", "COLA", "2026-06-01T00:00:00Z").await.ok(200)["scope"], "region:EAST");
        shop.explain("S002", "COLA", "2026-06-01T00:00:00Z").await.problem(404, "no_price");
        assert_eq!(shop.price_now("S001", "COLA").await, Some(300));
        assert_eq!(shop.price_now("S002", "COLA").await, None);
        // A region price beats a chain price; store beats region.
        shop.seed_prices("b2", json!([line("COLA", "chain", 330), line("COLA", "store:S003", 310)])).await;
        assert_eq!(shop.price_now("S001", "COLA").await, Some(300));
        assert_eq!(shop.price_now("S002", "COLA").await, Some(330));
        assert_eq!(shop.price_now("S003", "COLA").await, Some(310));
    }

    #[tokio::test]
    async fn a_later_valid_from_beats_a_later_batch() {
        let shop = priced_shop().await;
        shop.seed_prices("b1", json!([{"sku": "MILK", "scope": "chain", "amount": 300, "validFrom": "2026-03-01T00:00:00Z"}])).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        shop.seed_prices("b2", json!([line("MILK", "chain", 100)])).await;
        assert_eq!(explained(&shop, "S001", "MILK", "2026-04-01T00:00:00Z").await, (300, "b1:0".into()));
        assert_eq!(explained(&shop, "S001", "MILK", "2026-02-01T00:00:00Z").await, (100, "b2:0".into()));
        assert_eq!(shop.price_now("S001", "MILK").await, Some(300));
    }

    #[tokio::test]
    async fn a_later_batch_wins_a_tie() {
        let shop = priced_shop().await;
        // Named so that the earlier batch sorts last: the batch id is not what decides.
        shop.seed_prices("z-earlier", json!([line("MILK", "chain", 1000)])).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        shop.seed_prices("a-later", json!([line("MILK", "chain", 1100)])).await;
        assert_eq!(explained(&shop, "S001", "MILK", "2026-06-01T00:00:00Z").await, (1100, "a-later:0".into()));
        assert_eq!(shop.price_now("S001", "MILK").await, Some(1100));
        let a = shop.lookup_sku("S001", "MILK").await;
        assert_eq!(a.ok(200)["price"]["adjustmentId"], "a-later:0");
    }

    #[tokio::test]
    async fn a_later_line_wins_a_tie_within_its_batch() {
        let shop = priced_shop().await;
        shop.seed_prices("b1", json!([line("MILK", "chain", 1000), line("MILK", "chain", 1100), line("COLA", "chain", 300)])).await;
        assert_eq!(explained(&shop, "S001", "MILK", "2026-06-01T00:00:00Z").await, (1100, "b1:1".into()));
        assert_eq!(shop.price_now("S001", "MILK").await, Some(1100));
    }

    #[tokio::test]
    async fn an_ended_promotion_gives_way_to_the_regular_price_it_interrupted() {
        let shop = priced_shop().await;
        let now = Utc::now();
        shop.seed_prices("regular", json!([line("MILK", "chain", 1299)])).await;
        shop.seed_prices("over", json!([promo("MILK", "chain", 500, LONG_AGO, &(now - Duration::minutes(1)).to_rfc3339())])).await;
        assert_eq!(shop.price_now("S001", "MILK").await, Some(1299));
    }
}
