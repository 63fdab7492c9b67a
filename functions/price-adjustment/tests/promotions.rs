//! price-adjustment's promotions against API.md: `PUT /promotions/{promotionId}`,
//! `GET /promotions/{promotionId}` and `GET /stores/{storeId}/promotions?at=`; who may call
//! them, every refusal in the contract's order, and the rule that a started promotion may only
//! be ended earlier.

use catalog_admin::CatalogAdmin;
use chrono::{Duration, SecondsFormat, Utc};
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::testing::{catalog::*, request::*};
use serde_json::{Value, json};

async fn shop() -> Shop {
    let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
    shop.put_store("S001", "EAST").await;
    shop.put_store("S002", "WEST").await;
    shop
}

fn at(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn hours(h: i64) -> String {
    at(Duration::hours(h))
}

/// 每满 300 减 50 across the chain, from an hour ago for a day.
fn spend_and_save() -> Value {
    json!({"name": "Every 300, 50 off", "scope": "chain", "validFrom": hours(-1), "validTo": hours(23),
           "rule": {"kind": "spend_and_save", "threshold": 30000, "discount": 5000, "repeat": true}})
}

fn with(mut body: Value, member: &str, value: Value) -> Value {
    body[member] = value;
    body
}

fn without(mut body: Value, member: &str) -> Value {
    body.as_object_mut().unwrap().remove(member);
    body
}

#[tokio::test]
async fn only_head_office_stores_and_reads_promotions_and_tills_read_their_stores() {
    let shop = shop().await;
    let body = spend_and_save();
    for (scope, store) in [("pos", Some("S001")), ("store", Some("S001"))] {
        shop.prices(put_promotion_event("p1").claims(scope, store).json(&body)).await.problem(403, "forbidden_scope");
        shop.prices(get_promotion_event("p1").claims(scope, store)).await.problem(403, "forbidden_scope");
    }
    shop.prices(put_promotion_event("p1").json(&body).without_authorizer()).await.problem(401, "unauthorized");
    // Nothing was stored by the refusals.
    shop.prices(get_promotion_event("p1").claims(HO, None)).await.problem(404, "not_found");
    shop.put_promotion("p1", &body).await.ok(201);
    // A store's promotions: its tills, its manager and head office; another store's token no.
    for (scope, store) in [("pos", Some("S001")), ("store", Some("S001")), (HO, None)] {
        let a = shop.prices(store_promotions_event("S001", "").claims(scope, store)).await;
        assert_eq!(a.ok(200)["promotions"][0]["promotionId"], "p1");
    }
    shop.prices(store_promotions_event("S001", "").claims("pos", Some("S002"))).await.problem(403, "forbidden_store");
    shop.prices(store_promotions_event("S001", "").without_authorizer()).await.problem(401, "unauthorized");
}

#[tokio::test]
async fn a_promotion_is_created_then_answered_as_stored_with_every_member() {
    let shop = shop().await;
    let body = json!({"name": "Detergent 3 for 2", "scope": "region:EAST", "validFrom": "2026-11-10T16:00:00.5+00:00",
        "validTo": "2026-11-11T16:00:00Z", "rule": {"kind": "multi_buy", "buy": 3, "free": 1, "categories": ["detergent"], "skus": null}});
    let a = shop.put_promotion("det-3-for-2", &body).await;
    let stored = a.ok(201).clone();
    assert_eq!(
        stored,
        json!({"promotionId": "det-3-for-2", "name": "Detergent 3 for 2", "scope": "region:EAST",
               "validFrom": "2026-11-10T16:00:00.500Z", "validTo": "2026-11-11T16:00:00Z",
               "rule": {"kind": "multi_buy", "buy": 3, "free": 1, "skus": null, "categories": ["detergent"]}})
    );
    assert_eq!(shop.prices(get_promotion_event("det-3-for-2").claims(HO, None)).await.ok(200), &stored);
    // The same body again, and the same meaning written otherwise (absent for null, another
    // offset): 200, unchanged, even though it has started and ended.
    assert_eq!(shop.put_promotion("det-3-for-2", &body).await.ok(200), &stored);
    let same = json!({"name": "Detergent 3 for 2", "scope": "region:EAST", "validFrom": "2026-11-11T00:00:00.5+08:00",
        "validTo": "2026-11-11T16:00:00Z", "rule": {"kind": "multi_buy", "buy": 3, "free": 1, "categories": ["detergent"]}});
    assert_eq!(shop.put_promotion("det-3-for-2", &same).await.ok(200), &stored);
}

#[tokio::test]
async fn valid_from_defaults_to_now_on_creation_and_to_the_stored_one_on_update() {
    let shop = shop().await;
    let before = Utc::now();
    let body = without(with(spend_and_save(), "validFrom", Value::Null), "validFrom");
    let created = shop.put_promotion("p1", &body).await.ok(201).clone();
    let from = chrono::DateTime::parse_from_rfc3339(created["validFrom"].as_str().unwrap()).unwrap();
    assert!(from >= before && from <= Utc::now(), "{from}");
    // Later, the same body without validFrom keeps it: nothing changes.
    assert_eq!(shop.put_promotion("p1", &body).await.ok(200), &created);
    // null means absent.
    assert_eq!(shop.put_promotion("p1", &with(body, "validFrom", Value::Null)).await.ok(200), &created);
}

#[tokio::test]
async fn refusals_come_in_the_contracts_order_and_store_nothing() {
    let shop = shop().await;
    let base = spend_and_save();
    let bad_requests = [
        without(base.clone(), "validTo"),
        with(base.clone(), "validTo", Value::Null),
        without(base.clone(), "name"),
        with(base.clone(), "name", json!("  ")),
        with(base.clone(), "name", json!("x".repeat(201))),
        with(base.clone(), "scope", json!("planet")),
        with(base.clone(), "scope", json!("store:s001")),
        with(base.clone(), "validTo", json!("tomorrow")),
        with(base.clone(), "colour", json!("red")),
        with(base.clone(), "rule", json!({"kind": "spend_and_save", "threshold": 100, "discount": 101})),
        with(base.clone(), "rule", json!({"kind": "multi_buy", "buy": 3, "free": 3})),
        with(base.clone(), "rule", json!({"kind": "percent_off", "percentBp": 9001})),
        with(base.clone(), "rule", json!({"kind": "percent_off", "percentBp": 10, "skus": []})),
        with(base.clone(), "rule", json!({"kind": "percent_off", "percentBp": 10, "buy": 3})),
        with(base.clone(), "rule", json!({"kind": "percent_off", "percentBp": 10.5})),
        with(base.clone(), "rule", json!({"kind": "bogof"})),
        // 400 before 422: a malformed body naming a store that does not exist.
        with(with(base.clone(), "scope", json!("store:S404")), "rule", json!({"kind": "percent_off"})),
    ];
    for body in &bad_requests {
        shop.put_promotion("p1", body).await.problem(400, "invalid_request");
    }
    shop.prices(put_promotion_event("no%20way").claims(HO, None).json(&base)).await.problem(400, "invalid_request");
    shop.prices(put_promotion_event("p1").claims(HO, None).raw_json(r#"{"name":"a","name":"b"}"#)).await.problem(400, "invalid_request");
    shop.prices(put_promotion_event("p1").claims(HO, None).body_with_type("text/plain", "{}")).await.problem(415, "unsupported_media_type");
    // A store that does not exist (regions are free names), before the window.
    let nowhere = with(with(base.clone(), "scope", json!("store:S404")), "validTo", base["validFrom"].clone());
    shop.put_promotion("p1", &nowhere).await.problem(422, "invalid_scope");
    shop.put_promotion("p1", &with(base.clone(), "scope", json!("region:MARS"))).await.ok(201);
    shop.put_promotion("p2", &with(base.clone(), "validTo", base["validFrom"].clone())).await.problem(422, "invalid_window");
    let from = Utc::now() - Duration::hours(1);
    let exactly_90 = json!({"validFrom": from.to_rfc3339(), "validTo": (from + Duration::days(90)).to_rfc3339()});
    let past_90 = (from + Duration::days(90) + Duration::seconds(1)).to_rfc3339();
    let mut long = base.clone();
    long["validFrom"] = exactly_90["validFrom"].clone();
    long["validTo"] = json!(past_90);
    shop.put_promotion("p2", &long).await.problem(422, "invalid_window");
    long["validTo"] = exactly_90["validTo"].clone();
    shop.put_promotion("p2", &long).await.ok(201);
    // Nothing refused was stored.
    for id in ["p3", "no-way"] {
        shop.prices(get_promotion_event(id).claims(HO, None)).await.problem(404, "not_found");
    }
    shop.prices(get_promotion_event("a.b").claims(HO, None)).await.problem(400, "invalid_request");
}

#[tokio::test]
async fn a_started_promotion_may_only_be_ended_earlier_and_not_before_now() {
    let shop = shop().await;
    let started = spend_and_save();
    let stored = shop.put_promotion("p1", &started).await.ok(201).clone();
    // Any other change: 409, and nothing changes.
    for change in [
        with(started.clone(), "name", json!("Every 300, 60 off")),
        with(started.clone(), "scope", json!("region:EAST")),
        with(started.clone(), "validFrom", json!(hours(-2))),
        with(started.clone(), "rule", json!({"kind": "spend_and_save", "threshold": 30000, "discount": 6000, "repeat": true})),
    ] {
        shop.put_promotion("p1", &change).await.problem(409, "promotion_started");
    }
    // Ending it later, or before now: 422 (before 409 when both).
    shop.put_promotion("p1", &with(started.clone(), "validTo", json!(hours(30)))).await.problem(422, "invalid_window");
    shop.put_promotion("p1", &with(started.clone(), "validTo", json!(at(Duration::minutes(-1))))).await.problem(422, "invalid_window");
    let both = with(with(started.clone(), "validTo", json!(hours(30))), "name", json!("other"));
    shop.put_promotion("p1", &both).await.problem(422, "invalid_window");
    assert_eq!(shop.prices(get_promotion_event("p1").claims(HO, None)).await.ok(200), &stored);
    // Ended earlier: 200, and it is what is stored.
    let two_hours = hours(2);
    let earlier = with(started.clone(), "validTo", json!(two_hours));
    let changed = shop.put_promotion("p1", &earlier).await.ok(200).clone();
    assert_eq!(changed["validTo"], json!(two_hours));
    assert_eq!(shop.prices(get_promotion_event("p1").claims(HO, None)).await.ok(200), &changed);
    // Not started yet: anything may change.
    let later = json!({"name": "Tomorrow", "scope": "chain", "validFrom": hours(24), "validTo": hours(48),
        "rule": {"kind": "percent_off", "percentBp": 1000}});
    shop.put_promotion("p2", &later).await.ok(201);
    let renamed = with(with(later, "name", json!("Tomorrow, deeper")), "rule", json!({"kind": "percent_off", "percentBp": 2000}));
    assert_eq!(shop.put_promotion("p2", &renamed).await.ok(200)["rule"]["percentBp"], 2000);
}

#[tokio::test]
async fn a_store_sees_exactly_the_promotions_in_force_for_it_then() {
    let shop = shop().await;
    let percent = |name: &str, scope: &str, from: &str, to: &str| {
        json!({"name": name, "scope": scope, "validFrom": from, "validTo": to, "rule": {"kind": "percent_off", "percentBp": 500}})
    };
    let t = "2026-11-11T12:00:00Z";
    shop.seed_promotion("chain", &percent("chain", "chain", "2026-11-11T00:00:00Z", "2026-11-12T00:00:00Z")).await;
    shop.seed_promotion("east", &percent("east", "region:EAST", "2026-11-11T12:00:00Z", "2026-11-11T13:00:00Z")).await;
    shop.seed_promotion("s002", &percent("s002", "store:S002", "2026-11-11T00:00:00Z", "2026-11-12T00:00:00Z")).await;
    shop.seed_promotion("ended", &percent("ended", "chain", "2026-11-11T00:00:00Z", "2026-11-11T12:00:00Z")).await;
    shop.seed_promotion("later", &percent("later", "chain", "2026-11-11T12:00:01Z", "2026-11-12T00:00:00Z")).await;
    let ids = |a: &retail_core::testing::answer::Answer| -> Vec<String> {
        a.ok(200)["promotions"].as_array().unwrap().iter().map(|p| p["promotionId"].as_str().unwrap().to_owned()).collect()
    };
    let listed = |store: &str, when: &str| {
        let query = format!("at={}", when.replace('+', "%2B"));
        shop.prices(store_promotions_event(store, &query).claims(HO, None))
    };
    assert_eq!(ids(&listed("S001", t).await), vec!["chain", "east"]);
    assert_eq!(ids(&listed("S002", t).await), vec!["chain", "s002"]);
    assert_eq!(ids(&listed("S001", "2026-11-11T20:00:00+08:00").await), vec!["chain", "east"]);
    assert_eq!(ids(&listed("S001", "2026-11-11T11:59:59Z").await), vec!["chain", "ended"]);
    // Now (no `at`): none of these is in force any more.
    assert_eq!(ids(&shop.prices(store_promotions_event("S001", "").claims(HO, None)).await), Vec::<String>::new());
    shop.prices(store_promotions_event("S404", "").claims(HO, None)).await.problem(404, "not_found");
    shop.prices(store_promotions_event("S001", "at=yesterday").claims(HO, None)).await.problem(400, "invalid_request");
    shop.prices(store_promotions_event("s-1", "").claims(HO, None)).await.problem(400, "invalid_request");
}
