//! End to end over HTTP: a till's day through `retail-local`, its receipts to the cent, the
//! reports fed from the sales stream equal to the sum of the receipts, and the rushes a flash
//! sale brings (retries with one key, many tills on a strict item).

use retail_tests::{Mode, SpawnedApi, answer, client};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn ean13(body12: &str) -> String {
    let sum: u32 = body12.bytes().rev().enumerate().map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    format!("{body12}{}", (10 - sum % 10) % 10)
}

/// A store and a small catalog, set up over HTTP as head office would.
async fn shop(api: &SpawnedApi, c: &reqwest::Client) {
    let ho = api.token("headoffice", None);
    let put = |path: String, body: Value| c.put(api.url(&path)).bearer_auth(&ho).json(&body).send();
    assert_eq!(put("/stores/E2E".into(), json!({"name": "E2E", "region": "EAST", "timezone": "Asia/Shanghai"})).await.unwrap().status(), 201);
    for (sku, unit, tax, barcodes, policy) in [
        ("MILK", "each", 900, vec![ean13("690000000101")], "track"),
        ("BREAD", "each", 900, vec![], "track"),
        ("APPLE", "kg", 900, vec!["2100777".to_owned()], "track"),
        ("CAKE", "each", 1300, vec!["2300888".to_owned()], "track"),
        ("COOKER", "each", 1300, vec![], "strict"),
    ] {
        let body = json!({"name": sku, "unit": unit, "taxRateBp": tax, "barcodes": barcodes, "stockPolicy": policy});
        assert_eq!(put(format!("/commodities/{sku}"), body).await.unwrap().status(), 201);
    }
    let prices = json!({"batchId": "e2e-prices", "adjustments": [
        {"sku": "MILK", "scope": "chain", "amount": 1299, "validFrom": "2020-01-01T00:00:00Z"},
        {"sku": "BREAD", "scope": "chain", "amount": 650, "validFrom": "2020-01-01T00:00:00Z"},
        {"sku": "APPLE", "scope": "chain", "amount": 1598, "validFrom": "2020-01-01T00:00:00Z"},
        {"sku": "COOKER", "scope": "chain", "amount": 39900, "validFrom": "2020-01-01T00:00:00Z"},
        {"sku": "COOKER", "scope": "store:E2E", "amount": 9900, "validFrom": "2020-01-01T00:00:00Z", "validTo": "2099-01-01T00:00:00Z", "reason": "flash"}
    ]});
    let a = answer(c.post(api.url("/price-adjustments")).bearer_auth(&ho).json(&prices).send().await.unwrap()).await;
    assert_eq!((a.status, a.body["accepted"].clone()), (201, json!(5)), "{}", a.body);
    let stock = json!({"movements": [{"sku": "COOKER", "delta": 10, "reason": "receipt"}, {"sku": "MILK", "delta": 100, "reason": "receipt"}]});
    let a = answer(c.post(api.url("/stores/E2E/stock-movements")).bearer_auth(&ho).json(&stock).send().await.unwrap()).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

async fn sell(api: &SpawnedApi, c: &reqwest::Client, token: &str, key: &str, body: &Value) -> retail_tests::Answer {
    answer(c.post(api.url("/stores/E2E/sales")).bearer_auth(token).header("Idempotency-Key", key).json(body).send().await.unwrap()).await
}

async fn a_tills_day_is_exact_to_the_cent_and_the_reports_equal_the_receipts(mode: Mode) {
    let api = SpawnedApi::spawn_in(mode, &["--no-seed"]);
    let c = client();
    shop(&api, &c).await;
    let till = api.token("pos", Some("E2E"));

    // 3 milk by scan + 2 by sku merge into 5 × 12.99 = 64.95; tax 9 %: round(6495 × 900 / 10900) = 536.
    // 1.234 kg of apples at 15.98/kg = 19.71932 → 19.72; tax round(1972 × 900 / 10900) = 163.
    // A cake label priced 23.45: tax 13 %: round(2345 × 1300 / 11300) = 270.
    let milk = ean13("690000000101");
    let basket = json!({"terminalId": "T1", "lines": [
        {"barcode": milk, "quantity": 3}, {"sku": "MILK", "quantity": 2},
        {"barcode": ean13("210077701234")}, {"barcode": ean13("230088802345")}
    ], "payments": [{"method": "card", "amount": 5000}, {"method": "cash", "amount": 10000}]});
    let a = sell(&api, &c, &till, "day-1", &basket).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let r = &a.body;
    assert_eq!(r["lines"][0], json!({"sku": "MILK", "name": "MILK", "quantity": 5, "unitAmount": 1299, "lineAmount": 6495, "discountAmount": 0, "netAmount": 6495, "taxAmount": 536, "adjustmentId": "e2e-prices:0"}));
    assert_eq!(r["lines"][1], json!({"sku": "APPLE", "name": "APPLE", "weightGrams": 1234, "unitAmount": 1598, "lineAmount": 1972, "discountAmount": 0, "netAmount": 1972, "taxAmount": 163, "adjustmentId": "e2e-prices:2"}));
    assert_eq!(r["lines"][2], json!({"sku": "CAKE", "name": "CAKE", "quantity": 1, "unitAmount": 2345, "lineAmount": 2345, "discountAmount": 0, "netAmount": 2345, "taxAmount": 270, "adjustmentId": null}));
    assert_eq!((r["total"].clone(), r["taxTotal"].clone()), (json!(10812), json!(969)));
    assert_eq!((r["paid"].clone(), r["change"].clone(), r["currency"].clone()), (json!(15000), json!(4188), json!("CNY")));
    // The contract: unique in the store, increasing per terminal (the DynamoDB adapter numbers
    // from one store-wide counter, so a terminal's numbers may skip).
    let number = |r: &Value| -> (String, u64) {
        let (till, n) = r["receiptNo"].as_str().unwrap().split_once('-').unwrap();
        (till.to_owned(), n.parse().unwrap())
    };
    assert_eq!(number(r).0, "T1");

    // The same key and body again: the identical receipt, marked replayed.
    let again = sell(&api, &c, &till, "day-1", &basket).await;
    assert_eq!((again.status, &again.body), (200, &a.body));
    assert_eq!(again.headers["idempotent-replayed"], "true");
    // The same key with another body: refused, nothing recorded.
    let other = json!({"terminalId": "T1", "lines": [{"sku": "BREAD"}], "payments": [{"method": "cash", "amount": 650}]});
    let reused = sell(&api, &c, &till, "day-1", &other).await;
    assert_eq!((reused.status, reused.body["code"].clone()), (422, json!("idempotency_key_reused")));

    // More of the day: bread by the piece, the flash cooker, mobile and exact cash.
    let mut receipts = vec![a.body.clone()];
    for (i, (lines, method, paid)) in [
        (json!([{"sku": "BREAD", "quantity": 3}]), "mobile", 1950),
        (json!([{"sku": "COOKER"}]), "cash", 9900),
        (json!([{"sku": "BREAD"}, {"sku": "APPLE", "weightGrams": 500}]), "cash", 2000),
    ]
    .into_iter()
    .enumerate()
    {
        let body = json!({"terminalId": "T2", "lines": lines, "payments": [{"method": method, "amount": paid}]});
        let a = sell(&api, &c, &till, &format!("day-{}", i + 2), &body).await;
        assert_eq!(a.status, 201, "{}", a.body);
        assert_eq!(number(&a.body).0, "T2");
        if i > 0 {
            assert!(number(&a.body).1 > number(receipts.last().unwrap()).1, "{} after {}", a.body["receiptNo"], receipts.last().unwrap()["receiptNo"]);
        }
        receipts.push(a.body);
    }
    let mut numbers: Vec<&str> = receipts.iter().map(|r| r["receiptNo"].as_str().unwrap()).collect();
    numbers.sort();
    numbers.dedup();
    assert_eq!(numbers.len(), receipts.len(), "receipt numbers repeat: {numbers:?}");
    // 6.50 + 0.5 kg × 15.98 = 7.99 → 14.49; paid 20.00, change 5.51.
    assert_eq!((receipts[3]["total"].clone(), receipts[3]["change"].clone()), (json!(1449), json!(551)));

    // Every receipt can be fetched back, identical.
    let manager = api.token("store", Some("E2E"));
    for r in &receipts {
        let got = answer(c.get(api.url(&format!("/stores/E2E/sales/{}", r["saleId"].as_str().unwrap()))).bearer_auth(&manager).send().await.unwrap()).await;
        assert_eq!((got.status, &got.body), (200, r));
    }

    // The reports, once the stream has drained, equal the sums of the receipts exactly.
    let day = receipts[0]["businessDay"].as_str().unwrap().to_owned();
    let sum = |f: &str| receipts.iter().map(|r| r[f].as_i64().unwrap()).sum::<i64>();
    let started = Instant::now();
    let report = loop {
        let a = answer(c.get(api.url(&format!("/stores/E2E/reports/daily?date={day}"))).bearer_auth(&manager).send().await.unwrap()).await;
        assert_eq!(a.status, 200, "{}", a.body);
        if a.body["salesCount"] == json!(receipts.len()) {
            break a.body;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "the report did not catch up: {}", a.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(report["grossAmount"], json!(sum("total")));
    assert_eq!(report["taxAmount"], json!(sum("taxTotal")));
    // 5 milk + 1 cake + 3 bread + 1 cooker + 1 bread, plus one per kg line (2).
    assert_eq!(report["itemsSold"], json!(5 + 1 + 3 + 1 + 1 + 2));
    let by_method = &report["byPaymentMethod"];
    assert_eq!(by_method, &json!({"cash": 10000 - 4188 + 9900 + 2000 - 551, "card": 5000, "mobile": 1950}));
    let hours: i64 = report["byHour"].as_array().unwrap().iter().map(|h| h["grossAmount"].as_i64().unwrap()).sum();
    assert_eq!(hours, sum("total"));
    assert_eq!(report["topCommodities"][0]["sku"], "COOKER");
    assert_eq!(report["asOf"], receipts.iter().map(|r| r["createdAt"].as_str().unwrap()).max().unwrap());

    let ho = api.token("headoffice", None);
    let chain = answer(c.get(api.url(&format!("/reports/daily?date={day}"))).bearer_auth(&ho).send().await.unwrap()).await;
    assert_eq!(chain.status, 200);
    assert_eq!(chain.body["grossAmount"], json!(sum("total")));
    assert_eq!(
        chain.body["stores"],
        json!([{"storeId": "E2E", "salesCount": 4, "grossAmount": sum("total"), "returnsAmount": 0, "netAmount": sum("total")}])
    );
}

async fn twenty_retries_with_one_key_record_one_sale(mode: Mode) {
    let api = SpawnedApi::spawn_in(mode, &["--no-seed"]);
    let c = client();
    shop(&api, &c).await;
    let till = api.token("pos", Some("E2E"));
    let body = json!({"terminalId": "T9", "lines": [{"sku": "MILK"}], "payments": [{"method": "cash", "amount": 1299}]});
    let answers = futures_join(&api, &c, &till, (0..20).map(|_| ("one-key".to_owned(), body.clone())).collect()).await;
    let created: Vec<_> = answers.iter().filter(|a| a.status == 201).collect();
    assert_eq!(created.len(), 1, "{:?}", answers.iter().map(|a| a.status).collect::<Vec<_>>());
    for a in &answers {
        match a.status {
            200 => assert_eq!(a.body, created[0].body),
            201 => {}
            409 => assert_eq!(a.body["code"], "in_progress"),
            s => panic!("unexpected {s}: {}", a.body),
        }
    }
    let ho = api.token("headoffice", None);
    // Milk's stock is tracked: taken from the sales stream on DynamoDB, a moment later.
    let milk = retail_tests::settled(
        || async { answer(c.get(api.url("/stores/E2E/commodities/MILK")).bearer_auth(&ho).send().await.unwrap()).await },
        |milk| milk.body["stock"]["onHand"] == 99,
    )
    .await;
    assert_eq!(milk.body["stock"]["onHand"], 99);
}

async fn fifty_tills_on_a_strict_item_with_ten_in_stock_sell_exactly_ten(mode: Mode) {
    let api = SpawnedApi::spawn_in(mode, &["--no-seed"]);
    let c = client();
    shop(&api, &c).await;
    let till = api.token("pos", Some("E2E"));
    let sales = (0..50)
        .map(|i| (format!("rush-{i}"), json!({"terminalId": format!("T{i}"), "lines": [{"sku": "COOKER"}], "payments": [{"method": "mobile", "amount": 9900}]})))
        .collect();
    let answers = futures_join(&api, &c, &till, sales).await;
    assert_eq!(answers.iter().filter(|a| a.status == 201).count(), 10);
    for a in answers.iter().filter(|a| a.status != 201) {
        assert_eq!((a.status, a.body["code"].clone()), (409, json!("out_of_stock")), "{}", a.body);
        assert_eq!(a.body["shortages"], json!([{"sku": "COOKER", "requested": 1, "available": 0}]));
    }
    let ho = api.token("headoffice", None);
    let cooker = answer(c.get(api.url("/stores/E2E/commodities/COOKER")).bearer_auth(&ho).send().await.unwrap()).await;
    assert_eq!(cooker.body["stock"], json!({"onHand": 0, "policy": "strict"}));
}

/// Sends every sale at once, each on its own task.
async fn futures_join(api: &SpawnedApi, c: &reqwest::Client, token: &str, sales: Vec<(String, Value)>) -> Vec<retail_tests::Answer> {
    let tasks: Vec<_> = sales
        .into_iter()
        .map(|(key, body)| {
            let (c, url, token) = (c.clone(), api.url("/stores/E2E/sales"), token.to_owned());
            tokio::spawn(async move { answer(c.post(url).bearer_auth(token).header("Idempotency-Key", key).json(&body).send().await.unwrap()).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

retail_tests::in_every_mode!(
    a_tills_day_is_exact_to_the_cent_and_the_reports_equal_the_receipts,
    twenty_retries_with_one_key_record_one_sale,
    fifty_tills_on_a_strict_item_with_ten_in_stock_sell_exactly_ten,
);
