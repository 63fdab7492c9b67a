//! checkout with Double 11 promotions against API.md: a basket under a percent-off, a multi-buy
//! and a spend-and-save priced to the cent by hand, the promotions of a sale's own moment
//! (offline sales included, to the second), payment against the discounted total, replays and
//! receipts read back, and a return refunding a share of what the customer paid.

use catalog_admin::CatalogAdmin;
use checkout::Checkout;
use chrono::{Duration, SecondsFormat, Utc};
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::testing::{catalog::*, till::*};
use serde_json::{Value, json};

async fn stocked_till() -> Till {
    let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
    Till::stocked(shop, Checkout::new).await
}

fn at(offset: Duration) -> String {
    (Utc::now() + offset).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn promotion(name: &str, scope: &str, from: &str, to: &str, rule: Value) -> Value {
    json!({"name": name, "scope": scope, "validFrom": from, "validTo": to, "rule": rule})
}

/// Three promotions in force in S001 since an hour ago, for a day.
async fn double_11(till: &Till) {
    let (from, to) = (at(Duration::hours(-1)), at(Duration::hours(23)));
    let shop = &till.shop;
    shop.seed_promotion("milk-20", &promotion("Milk 20 % off", "chain", &from, &to,
        json!({"kind": "percent_off", "percentBp": 2000, "skus": ["MILK"]}))).await;
    shop.seed_promotion("cola-3-for-2", &promotion("Cola: buy 3, pay 2", "region:EAST", &from, &to,
        json!({"kind": "multi_buy", "buy": 3, "free": 1, "skus": ["COLA"]}))).await;
    shop.seed_promotion("spend-300", &promotion("300 spent, 50 off", "store:S001", &from, &to,
        json!({"kind": "spend_and_save", "threshold": 30000, "discount": 5000}))).await;
}

fn the_basket(payments: Value) -> Value {
    basket("T01", json!([{"sku": "COLA", "quantity": 3}, {"sku": "MILK", "quantity": 2}, {"sku": "COOKER"}, {"barcode": cake_label(1000)}]), payments)
}

#[tokio::test]
async fn three_promotions_price_a_basket_to_the_cent() {
    let till = stocked_till().await;
    double_11(&till).await;
    // Before promotions: cola 3 × 3.50 = 10.50, milk 2 × 12.99 = 25.98, the cooker 299.00 (its
    // S001 promotion price), a cake label 10.00: 345.48.
    // 1. Line promotions: milk 20 % = 5.196 → 5.20 beats the cola multi-buy's 3.50, so it goes
    //    first; then the multi-buy frees one cola (3.50).
    // 2. What is left: 7.00 + 20.78 + 299.00 + 10.00 = 336.78 ≥ 300: 50.00 off, shared
    //    5000 × (700, 2078, 29900, 1000) / 33678 = 103.93, 308.51, 4439.10, 148.46: floors 103,
    //    308, 4439, 148 (4998), the two cents left to .93 and .51.
    // Net: cola 1050 − 350 − 104 = 596, milk 2598 − 520 − 309 = 1769, cooker 29900 − 4439 =
    // 25461, cake 1000 − 148 = 852: 286.78. Tax 13 % on each net amount: 69, 204, 2929, 98.
    let r = till.sold("S001", "promo-1", &the_basket(json!([card(28678)]))).await;
    let line = |sku: &str, name: &str, q: i64, unit: i64, amount: i64, off: i64, tax: i64, adj: Value| {
        json!({"sku": sku, "name": name, "quantity": q, "unitAmount": unit, "lineAmount": amount, "discountAmount": off,
               "netAmount": amount - off, "taxAmount": tax, "adjustmentId": adj})
    };
    assert_eq!(
        r["lines"],
        json!([
            line("COLA", "Cola 330ml", 3, 350, 1050, 454, 69, json!("list:1")),
            line("MILK", "Milk 1L", 2, 1299, 2598, 829, 204, json!("list:0")),
            line("COOKER", "Rice cooker", 1, 29900, 29900, 4439, 2929, json!("promo-1111:0")),
            line("CAKE", "Cake slice", 1, 1000, 1000, 148, 98, Value::Null),
        ])
    );
    assert_eq!(
        r["promotions"],
        json!([
            {"promotionId": "milk-20", "name": "Milk 20 % off", "discount": 520},
            {"promotionId": "cola-3-for-2", "name": "Cola: buy 3, pay 2", "discount": 350},
            {"promotionId": "spend-300", "name": "300 spent, 50 off", "discount": 5000},
        ])
    );
    assert_eq!((&r["discountTotal"], &r["total"], &r["taxTotal"]), (&json!(5870), &json!(28678), &json!(3300)));
    assert_eq!((&r["paid"], &r["change"]), (&json!(28678), &json!(0)));
    // Read back and replayed, the same receipt.
    let id = r["saleId"].as_str().unwrap();
    assert_eq!(till.receipt("S001", id).await.ok(200), &r);
    let again = till.sell("S001", "promo-1", &the_basket(json!([card(28678)]))).await;
    assert_eq!((again.ok(200), again.replayed()), (&r, Some("true")));
}

#[tokio::test]
async fn payments_are_judged_against_the_discounted_total() {
    let till = stocked_till().await;
    double_11(&till).await;
    // The card may not pay the price before promotions: only cash gives change.
    till.sell("S001", "k1", &the_basket(json!([card(34548)]))).await.problem(422, "payment_mismatch");
    till.sell("S001", "k1", &the_basket(json!([card(28677)]))).await.problem(422, "payment_mismatch");
    let r = till.sold("S001", "k1", &the_basket(json!([cash(30000)]))).await;
    assert_eq!((&r["total"], &r["change"]), (&json!(28678), &json!(1322)));
}

#[tokio::test]
async fn promotions_reach_only_the_stores_their_scope_names() {
    let till = stocked_till().await;
    double_11(&till).await;
    // S002 is in WEST: only the chain-wide milk promotion reaches it, and it sells no cooker.
    let b = basket("T01", json!([{"sku": "COLA", "quantity": 3}, {"sku": "MILK"}]), json!([cash(10000)]));
    let r = till.sold("S002", "west-1", &b).await;
    assert_eq!(r["promotions"], json!([{"promotionId": "milk-20", "name": "Milk 20 % off", "discount": 260}]));
    assert_eq!(r["lines"][0]["discountAmount"], 0);
    assert_eq!(r["total"], 1050 + 1299 - 260);
}

#[tokio::test]
async fn a_sale_gets_the_promotions_of_its_own_moment_to_the_second() {
    let till = stocked_till().await;
    let start = Utc::now() - Duration::hours(2);
    let (from, to) = (start.to_rfc3339_opts(SecondsFormat::Secs, true), at(Duration::hours(-1)));
    // Over an hour ago: the promotion has ended, but an offline sale of its window still gets it.
    till.shop.seed_promotion("flash-10", &promotion("Milk 10 % off", "chain", &from, &to,
        json!({"kind": "percent_off", "percentBp": 1000, "skus": ["MILK"]}))).await;
    let milk = |occurred: String, paid: i64| {
        let mut b = basket("T02", json!([{"sku": "MILK"}]), json!([card(paid)]));
        b["occurredAt"] = json!(occurred);
        b
    };
    let second = |offset: i64| {
        (chrono::DateTime::parse_from_rfc3339(&from).unwrap() + Duration::seconds(offset)).to_rfc3339_opts(SecondsFormat::Secs, true)
    };
    // At its first second: 12.99 − 1.30.
    let r = till.sold("S001", "off-1", &milk(second(0), 1169)).await;
    assert_eq!((&r["total"], &r["promotions"][0]["promotionId"]), (&json!(1169), &json!("flash-10")));
    // One second before: full price, and no promotion listed.
    let r = till.sold("S001", "off-2", &milk(second(-1), 1299)).await;
    assert_eq!((&r["total"], &r["promotions"], &r["discountTotal"]), (&json!(1299), &json!([]), &json!(0)));
    // Its last second, and the second it ends.
    let end = |offset: i64| {
        (chrono::DateTime::parse_from_rfc3339(&to).unwrap() + Duration::seconds(offset)).to_rfc3339_opts(SecondsFormat::Secs, true)
    };
    assert_eq!(till.sold("S001", "off-3", &milk(end(-1), 1169)).await["total"], 1169);
    assert_eq!(till.sold("S001", "off-4", &milk(end(0), 1299)).await["total"], 1299);
    // Now: full price.
    let r = till.sold("S001", "now-1", &basket("T02", json!([{"sku": "MILK"}]), json!([card(1299)]))).await;
    assert_eq!(r["total"], 1299);
    // The same in an offline upload.
    let mut entry = milk(second(30), 1169);
    entry["idempotencyKey"] = json!("up-1");
    let results = till.upload("S001", &json!({"sales": [entry]})).await;
    let results = results.ok(200);
    assert_eq!((&results["results"][0]["status"], &results["results"][0]["receipt"]["total"]), (&json!(201), &json!(1169)));
}

#[tokio::test]
async fn a_return_refunds_a_share_of_what_the_customer_paid() {
    let till = stocked_till().await;
    double_11(&till).await;
    let r = till.sold("S001", "promo-r", &the_basket(json!([card(28678)]))).await;
    // One cola of three: round(596 × 1/3) = 199, its tax round(69 × 1/3) = 23.
    let one = till.take_back("S001", "back-1", &return_body("T01", &r, &[(0, Some(1))], "unwanted")).await;
    let one = one.ok(201).clone();
    assert_eq!((&one["lines"][0]["refundAmount"], &one["lines"][0]["taxAmount"], &one["total"]), (&json!(199), &json!(23), &json!(199)));
    assert_eq!(one["refunds"], json!([{"method": "card", "amount": 199}]));
    // The other two: 596 − 199 = 397, so the line's refunds add up to its net amount.
    let rest = till.take_back("S001", "back-2", &return_body("T01", &r, &[(0, Some(2))], "unwanted")).await;
    assert_eq!(rest.ok(201)["lines"][0]["refundAmount"], 397);
    let left = till.returnable("S001", r["saleId"].as_str().unwrap(), "S001").await;
    let left = left.ok(200);
    assert_eq!((&left["lines"][0]["returnable"], &left["lines"][0]["refundable"]), (&json!(0), &json!(0)));
    // The cooker: all of what was paid for it, and no more.
    assert_eq!(left["lines"][2]["refundable"], 25461);
}
