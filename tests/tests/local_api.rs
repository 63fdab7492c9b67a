//! End to end: the release `retail-local` on a free loopback port, spoken to over HTTP as a
//! till, a store manager and head office would.

use retail_tests::{Mode, SpawnedApi, answer, client};
use serde_json::{Value, json};

fn ean13(body12: &str) -> String {
    let sum: u32 = body12.bytes().rev().enumerate().map(|(i, d)| u32::from(d - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    format!("{body12}{}", (10 - sum % 10) % 10)
}

async fn the_gateway_refuses_missing_and_bad_tokens_and_unknown_routes(mode: Mode) {
    let api = SpawnedApi::spawn_in(mode, &["--no-seed"]);
    let c = client();
    let url = api.url("/stores/S001/commodities/MILK-1L");

    let a = answer(c.get(&url).send().await.unwrap()).await;
    assert_eq!((a.status, a.body.clone()), (401, json!({"message": "Unauthorized"})));
    let a = answer(c.get(&url).bearer_auth("not.a.jwt").send().await.unwrap()).await;
    assert_eq!((a.status, a.body.clone()), (401, json!({"message": "Unauthorized"})));
    // A valid token with its signature tampered with.
    let token = api.token("pos", Some("S001"));
    let mut forged = token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == 'A' { 'B' } else { 'A' });
    let a = answer(c.get(&url).bearer_auth(&forged).send().await.unwrap()).await;
    assert_eq!(a.status, 401);

    let a = answer(c.get(api.url("/no/such/route")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((a.status, a.body), (404, json!({"message": "Not Found"})));
    let a = answer(c.delete(&url).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(a.status, 404);

    let jwks = answer(c.get(api.url("/.well-known/jwks.json")).send().await.unwrap()).await;
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.body["keys"][0]["alg"], "RS256");
    assert_eq!(jwks.body["keys"][0]["kty"], "RSA");
}

async fn a_till_scans_the_seeded_catalog(mode: Mode) {
    let api = SpawnedApi::spawn_seeded(mode);
    let c = client();
    let token = api.token("pos", Some("S001"));

    let a = answer(c.get(api.url("/stores/S001/barcodes/6901234567892")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["sku"], "MILK-1L");
    assert_eq!(a.body["scanned"], json!({"barcode": "6901234567892", "quantity": 1}));
    assert_eq!(a.body["price"]["currency"], "CNY");
    assert!(a.body["price"]["amount"].as_i64().unwrap() > 0);
    assert!(a.headers.get("x-request-id").is_some());

    // A scale label: item 2112345 weighing 1.234 kg.
    let label = ean13("211234501234");
    let a = answer(c.get(api.url(&format!("/stores/S001/barcodes/{label}"))).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["unit"], "kg");
    assert_eq!(a.body["scanned"]["weightGrams"], 1234);

    let a = answer(
        c.post(api.url("/stores/S001/commodities/lookup"))
            .bearer_auth(&token)
            .json(&json!({"skus": ["MILK-1L", "NO-SUCH-SKU"], "barcodes": ["6901234567892"]}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["items"].as_array().unwrap().len(), 2);
    assert_eq!(a.body["notFound"], json!(["NO-SUCH-SKU"]));

    // A till of S001 cannot look into S002.
    let a = answer(c.get(api.url("/stores/S002/commodities/MILK-1L")).bearer_auth(&token).send().await.unwrap()).await;
    assert_eq!((a.status, a.body["code"].clone()), (403, json!("forbidden_store")));
    assert_eq!(a.headers["content-type"], "application/problem+json");
}

async fn head_office_pushes_a_price_and_every_till_sees_it(mode: Mode) {
    let api = SpawnedApi::spawn_seeded(mode);
    let c = client();
    let ho = api.token("headoffice", None);
    let till = api.token("pos", Some("S002"));

    // A store promotion starting now outranks everything the seed has for this store.
    let from = (chrono::Utc::now() - chrono::Duration::seconds(60)).to_rfc3339();
    let batch = json!({
        "batchId": "e2e-milk-promo",
        "adjustments": [
            {"sku": "MILK-1L", "scope": "store:S002", "amount": 1, "validFrom": from, "validTo": "2099-01-01T00:00:00Z", "reason": "e2e"},
            {"sku": "NO-SUCH-SKU", "scope": "chain", "amount": 100}
        ]
    });
    let a = answer(c.post(api.url("/price-adjustments")).bearer_auth(&ho).json(&batch).send().await.unwrap()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["accepted"], 1);
    assert_eq!(a.body["rejected"], json!([{"index": 1, "code": "unknown_commodity", "detail": a.body["rejected"][0]["detail"]}]));

    let a = answer(c.get(api.url("/stores/S002/commodities/MILK-1L")).bearer_auth(&till).send().await.unwrap()).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.body["price"]["amount"], 1);
    assert_eq!(a.body["price"]["adjustmentId"], "e2e-milk-promo:0");

    // Resent: the same answer, nothing applied twice.
    let again = answer(c.post(api.url("/price-adjustments")).bearer_auth(&ho).json(&batch).send().await.unwrap()).await;
    assert_eq!(again.status, 200);
    let first = answer(c.get(api.url("/price-adjustments/e2e-milk-promo")).bearer_auth(&ho).send().await.unwrap()).await;
    assert_eq!(again.body, first.body);

    let a = answer(c.get(api.url("/stores/S002/prices/MILK-1L?at=2030-01-01T08:00:00%2B08:00")).bearer_auth(&ho).send().await.unwrap()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["batchId"], "e2e-milk-promo");
    assert_eq!(a.body["scope"], "store:S002");
    assert_eq!(a.body["validTo"], "2099-01-01T00:00:00Z");
}

async fn the_seeded_day_opens_as_a_report(mode: Mode) {
    let api = SpawnedApi::spawn_seeded(mode);
    let c = client();
    let sales: Value = serde_json::from_slice(&std::fs::read(api.seed_dir().join("sales.json")).unwrap()).unwrap();
    let seeded = sales.as_array().unwrap().iter().filter(|s| s["storeId"] == "S001").count();
    assert!(seeded > 0);
    // The seed dates its sales yesterday in the store's timezone (S001: Asia/Shanghai).
    let day = (chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive() - chrono::Days::new(1)).to_string();
    let manager = api.token("store", Some("S001"));
    let started = std::time::Instant::now();
    let report = loop {
        let a = answer(c.get(api.url(&format!("/stores/S001/reports/daily?date={day}"))).bearer_auth(&manager).send().await.unwrap()).await;
        assert_eq!(a.status, 200, "{}", a.body);
        if a.body["salesCount"] == json!(seeded) {
            break a.body;
        }
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "the report did not catch up with {seeded} sales: {}", a.body);
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(report["grossAmount"].as_i64().unwrap() > 0, "{report}");
    let hours: i64 = report["byHour"].as_array().unwrap().iter().map(|h| h["salesCount"].as_i64().unwrap_or(0)).sum();
    assert_eq!(hours, seeded as i64, "{report}");
}

async fn a_new_store_and_commodity_are_set_up_and_stocked(mode: Mode) {
    let api = SpawnedApi::spawn_in(mode, &["--no-seed"]);
    let c = client();
    let ho = api.token("headoffice", None);
    let manager = api.token("store", Some("N001"));

    // Empty: nothing seeded.
    let a = answer(c.get(api.url("/stores/S001/commodities/MILK-1L")).bearer_auth(&ho).send().await.unwrap()).await;
    assert_eq!((a.status, a.body["code"].clone()), (404, json!("not_found")));

    let a = answer(c.put(api.url("/stores/N001")).bearer_auth(&ho).json(&json!({"name": "New", "region": "NORTH", "timezone": "Asia/Harbin"})).send().await.unwrap()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let code = ean13("690000000001");
    let a = answer(
        c.put(api.url("/commodities/TEA-1"))
            .bearer_auth(&ho)
            .json(&json!({"name": "Green tea", "unit": "each", "taxRateBp": 1300, "barcodes": [code], "stockPolicy": "strict"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.body);

    let move_stock = |delta: i64| {
        c.post(api.url("/stores/N001/stock-movements"))
            .bearer_auth(&manager)
            .json(&json!({"movements": [{"sku": "TEA-1", "delta": delta, "reason": "receipt"}]}))
            .send()
    };
    let a = answer(move_stock(24).await.unwrap()).await;
    assert_eq!((a.status, a.body.clone()), (200, json!({"stock": [{"sku": "TEA-1", "onHand": 24}]})));
    let a = answer(move_stock(-25).await.unwrap()).await;
    assert_eq!(a.status, 409);
    assert_eq!(a.body["shortages"], json!([{"sku": "TEA-1", "requested": 25, "available": 24}]));

    let a = answer(c.get(api.url(&format!("/stores/N001/barcodes/{code}"))).bearer_auth(&manager).send().await.unwrap()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.body["stock"], json!({"onHand": 24, "policy": "strict"}));
    assert_eq!(a.body["price"], Value::Null);
}

async fn bodies_over_a_mebibyte_reach_the_function_and_are_refused_there(mode: Mode) {
    let api = SpawnedApi::spawn_in(mode, &["--no-seed"]);
    let c = client();
    let ho = api.token("headoffice", None);
    let big = format!("{{\"batchId\":\"big\",\"adjustments\":[],\"pad\":\"{}\"}}", "x".repeat(1_100_000));
    let a = answer(c.post(api.url("/price-adjustments")).bearer_auth(&ho).header("content-type", "application/json").body(big).send().await.unwrap()).await;
    assert_eq!((a.status, a.body["code"].clone()), (413, json!("payload_too_large")));
    let a = answer(c.post(api.url("/price-adjustments")).bearer_auth(&ho).header("content-type", "text/plain").body("{}").send().await.unwrap()).await;
    assert_eq!((a.status, a.body["code"].clone()), (415, json!("unsupported_media_type")));
}

/// Found by the contract fuzzing (tests/tests/fuzz.rs) and the time edges it led to: a price
/// line whose `validFrom` falls before the year 0000 in UTC was accepted and shown back as
/// `-0001-12-31T23:00:00Z`, which is not RFC 3339; on DynamoDB it could not be read again, so every
/// lookup of the sku answered 500. `date=-001-01-01` answered a report for `-0001-01-01`.
async fn times_and_dates_rfc_3339_cannot_write_back_are_refused(mode: Mode) {
    let api = SpawnedApi::spawn_in(mode, &["--no-seed"]);
    let c = client();
    let ho = api.token("headoffice", None);
    let a = answer(c.put(api.url("/stores/S001")).bearer_auth(&ho).json(&json!({"name": "One", "region": "EAST"})).send().await.unwrap()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    let milk = json!({"name": "Milk", "unit": "each", "taxRateBp": 900, "barcodes": [], "stockPolicy": "track"});
    let a = answer(c.put(api.url("/commodities/MILK-1L")).bearer_auth(&ho).json(&milk).send().await.unwrap()).await;
    assert_eq!(a.status, 201, "{}", a.body);

    let batch = json!({"batchId": "edges", "adjustments": [
        {"sku": "MILK-1L", "scope": "chain", "amount": 100, "validFrom": "0000-01-01T00:00:00+01:00"},
        {"sku": "MILK-1L", "scope": "chain", "amount": 200, "validFrom": "2026-01-01T00:00:00Z", "validTo": "9999-12-31T23:59:59-01:00"},
        {"sku": "MILK-1L", "scope": "chain", "amount": 300, "validFrom": "0000-01-01T01:00:00+01:00"},
    ]});
    let a = answer(c.post(api.url("/price-adjustments")).bearer_auth(&ho).json(&batch).send().await.unwrap()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    assert_eq!(a.body["accepted"], 1, "{}", a.body);
    let rejected: Vec<(Value, Value)> =
        a.body["rejected"].as_array().unwrap().iter().map(|r| (r["index"].clone(), r["code"].clone())).collect();
    assert_eq!(rejected, [(json!(0), json!("invalid_window")), (json!(1), json!("invalid_window"))]);

    // The line that was accepted starts at the first instant RFC 3339 writes in UTC.
    let a = answer(c.get(api.url("/stores/S001/commodities/MILK-1L")).bearer_auth(&ho).send().await.unwrap()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!((a.body["price"]["amount"].clone(), a.body["price"]["validFrom"].clone()), (json!(300), json!("0000-01-01T00:00:00Z")));

    let a = answer(c.get(api.url("/stores/S001/prices/MILK-1L?at=9999-12-31T23:59:59-01:00")).bearer_auth(&ho).send().await.unwrap()).await;
    assert_eq!((a.status, a.body["code"].clone()), (400, json!("invalid_request")), "{}", a.body);
    for date in ["-001-01-01", "%2B026-11-11", "%20026-11-11"] {
        let a = answer(c.get(api.url(&format!("/reports/daily?date={date}"))).bearer_auth(&ho).send().await.unwrap()).await;
        assert_eq!((a.status, a.body["code"].clone()), (400, json!("invalid_request")), "{date}: {}", a.body);
    }
    let a = answer(c.get(api.url("/reports/daily?date=0000-01-01")).bearer_auth(&ho).send().await.unwrap()).await;
    assert_eq!((a.status, a.body["date"].clone()), (200, json!("0000-01-01")), "{}", a.body);
}

/// DynamoDB stops answering mid-evening: a till gets 503 with Retry-After within seconds (the
/// SDK's bounded retries, then the timeouts), never a hang, a 500 or AWS's error text.
async fn a_database_that_went_away_is_503_with_retry_after(mode: Mode) {
    let mut api = SpawnedApi::spawn_in(mode, &["--no-seed"]);
    let c = client();
    let ho = api.token("headoffice", None);
    let a = answer(c.put(api.url("/stores/S001")).bearer_auth(&ho).json(&json!({"name": "One", "region": "EAST"})).send().await.unwrap()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    api.stop_dynamodb();

    let till = api.token("pos", Some("S001"));
    let sale = json!({"terminalId": "T1", "lines": [{"sku": "MILK"}], "payments": [{"method": "cash", "amount": 100}]});
    for request in [
        c.get(api.url("/stores/S001/commodities/MILK")).bearer_auth(&till),
        c.post(api.url("/stores/S001/sales")).bearer_auth(&till).header("Idempotency-Key", "k-1").json(&sale),
        c.put(api.url("/stores/S002")).bearer_auth(&ho).json(&json!({"name": "Two", "region": "EAST"})),
    ] {
        let started = std::time::Instant::now();
        let a = answer(request.send().await.unwrap()).await;
        assert_eq!((a.status, a.body["code"].clone()), (503, json!("unavailable")), "{}", a.body);
        assert!(a.headers.get("retry-after").is_some(), "{:?}", a.headers);
        assert!(!a.body.to_string().to_lowercase().contains("dynamo"), "AWS's words reached the client: {}", a.body);
        assert!(started.elapsed() < std::time::Duration::from_secs(15), "503 took {:?}", started.elapsed());
    }
}

retail_tests::in_mode!(moto_gone, Moto, a_database_that_went_away_is_503_with_retry_after);
retail_tests::in_mode!(emulated_gone, Emulated, a_database_that_went_away_is_503_with_retry_after);

retail_tests::in_every_mode!(
    the_gateway_refuses_missing_and_bad_tokens_and_unknown_routes,
    a_new_store_and_commodity_are_set_up_and_stocked,
    bodies_over_a_mebibyte_reach_the_function_and_are_refused_there,
    a_till_scans_the_seeded_catalog,
    head_office_pushes_a_price_and_every_till_sees_it,
    the_seeded_day_opens_as_a_report,
    times_and_dates_rfc_3339_cannot_write_back_are_refused,
);

/// A function binary that cannot start under the emulator stops `retail-local` at start, with
/// the function's own output, instead of leaving it to serve 502s.
#[test]
fn a_function_that_cannot_start_under_the_emulator_stops_retail_local_with_its_log() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::{Command, Stdio};
    let moto = retail_tests::moto::Moto::start();
    let dir = std::env::temp_dir().join(format!("retail-broken-functions-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for name in ["catalog-admin", "commodity-lookup", "price-adjustment", "checkout", "sales-report", "sales-aggregator", "dashboard"] {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\necho \"$0: broken on purpose\" >&2\nexit 1\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut child = Command::new(retail_tests::retail_local_bin())
        .arg("serve")
        .args(["--addr", &format!("127.0.0.1:{}", retail_tests::free_port()), "--no-seed"])
        .arg("--template")
        .arg(retail_tests::workspace_root().join("template.yaml"))
        .args(["--dynamodb-endpoint", &moto.endpoint])
        .arg("--lambda-runtime-emulator")
        .arg(retail_tests::runtime_interface_emulator())
        .arg("--functions-dir")
        .arg(&dir)
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = std::fs::remove_dir_all(&dir);
            panic!("retail-local kept running with functions that cannot start");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!status.success(), "{stderr}");
    assert!(stderr.contains("broken on purpose"), "the function's own output is missing: {stderr}");
}

/// Under the emulator, each function's own lines (its JSON logs and its EMF metrics) are shown
/// on retail-local's stderr by default, prefixed with its name as `sam local` does; the
/// emulator's chatter only with `--emulator-logs`. The start's warm-up invokes every function
/// once, so every function has lines to show without a request.
#[test]
fn the_functions_own_lines_are_shown_prefixed_and_the_emulators_only_when_asked() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let moto = retail_tests::moto::Moto::start();
    let run = |extra: &[&str]| -> Vec<String> {
        let addr = format!("127.0.0.1:{}", retail_tests::free_port());
        let mut child = Command::new(retail_tests::retail_local_bin())
            .arg("serve")
            .args(["--addr", &addr, "--no-seed"])
            .arg("--template")
            .arg(retail_tests::workspace_root().join("template.yaml"))
            .args(["--dynamodb-endpoint", &moto.endpoint])
            .arg("--lambda-runtime-emulator")
            .arg(retail_tests::runtime_interface_emulator())
            .arg("--functions-dir")
            .arg(retail_tests::binaries_dir())
            .args(extra)
            .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        let streams: [Box<dyn std::io::Read + Send>; 2] =
            [Box::new(child.stdout.take().unwrap()), Box::new(child.stderr.take().unwrap())];
        let readers: Vec<_> = streams
            .into_iter()
            .map(|stream| {
                let kept = std::sync::Arc::clone(&lines);
                std::thread::spawn(move || {
                    for line in BufReader::new(stream).lines().map_while(Result::ok) {
                        kept.lock().unwrap().push(line);
                    }
                })
            })
            .collect();
        // Serving (its banner on stdout) means every function answered its warm-up invocation.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !lines.lock().unwrap().iter().any(|l| l.starts_with("retail-local serving")) {
            assert!(child.try_wait().unwrap().is_none(), "retail-local stopped:\n{}", lines.lock().unwrap().join("\n"));
            assert!(std::time::Instant::now() < deadline, "retail-local did not serve:\n{}", lines.lock().unwrap().join("\n"));
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        // The functions' lines of the warm-up are written after their answers.
        std::thread::sleep(std::time::Duration::from_millis(500));
        let _ = child.kill();
        let _ = child.wait();
        for reader in readers {
            reader.join().unwrap();
        }
        lines.lock().unwrap().clone()
    };
    let quiet = run(&[]);
    let text = quiet.join("\n");
    for function in ["catalog-admin", "commodity-lookup", "price-adjustment", "checkout", "sales-report", "sales-aggregator", "dashboard"] {
        let prefix = format!("[{function}] ");
        let own: Vec<&String> = quiet.iter().filter(|l| l.starts_with(&prefix)).collect();
        // Its metrics document: JSON with the function's name as its dimension.
        assert!(
            own.iter().any(|l| l.contains("\"_aws\"") && l.contains(&format!("\"Function\":\"{function}\""))),
            "{function}'s EMF document, prefixed:\n{text}"
        );
    }
    assert!(quiet.iter().any(|l| l.starts_with("[checkout] ") && l.contains("answered")), "{text}");
    assert!(!text.contains("(rapid)") && !text.contains("START RequestId:"), "no emulator chatter by default:\n{text}");

    let chatty = run(&["--emulator-logs"]);
    let text = chatty.join("\n");
    assert!(chatty.iter().any(|l| l.starts_with("[checkout] ") && l.contains("(rapid)")), "{text}");
    assert!(chatty.iter().any(|l| l.starts_with("[dashboard] START RequestId:")), "{text}");
}
