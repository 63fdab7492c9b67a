//! The functions' metrics as Lambda would ship them: the release binaries under the official
//! Runtime Interface Emulator, on moto (behind the fault proxy, to throttle on demand), write
//! CloudWatch Embedded Metric Format documents on stdout after each invocation. Each document
//! is checked against the EMF specification, and its figures against what the test did: a sale,
//! its retry, a return, an oversold flash item, a read while DynamoDB throttles, and a stream
//! batch folded twice.

use retail_core::domain::StockPolicy;
use retail_core::metrics;
use retail_core::store::dynamo::Table;
use retail_tests::lambda::{EmulatedBinary, http_event, lambda_env, sale_stream_event};
use retail_tests::moto::{FaultProxy, Moto, stock_a_store};
use retail_tests::workspace_root;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const NAMESPACE: &str = "RetailSuite";

/// The EMF documents among an environment's output lines, each checked against the
/// specification (CloudWatch_Embedded_Metric_Format_Specification): `_aws` with a millisecond
/// `Timestamp` and `CloudWatchMetrics` directives, each naming its namespace, dimension sets
/// (each dimension a string member of the document, at most 30) and metrics (each a number,
/// or an array of at most 100 numbers, in the document).
fn emf_documents(output: &str) -> Vec<Value> {
    let mut documents = Vec::new();
    for line in output.lines().filter(|l| l.contains("\"_aws\"")) {
        let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("an EMF line that is not JSON ({e}): {line}"));
        let aws = &doc["_aws"];
        let timestamp = aws["Timestamp"].as_u64().unwrap_or_else(|| panic!("no Timestamp: {line}"));
        let now = chrono::Utc::now().timestamp_millis() as u64;
        assert!(timestamp <= now && now - timestamp < 600_000, "Timestamp in milliseconds, now: {line}");
        let directives = aws["CloudWatchMetrics"].as_array().unwrap_or_else(|| panic!("no CloudWatchMetrics: {line}"));
        assert!(!directives.is_empty(), "{line}");
        for directive in directives {
            assert_eq!(directive["Namespace"], NAMESPACE, "{line}");
            for set in directive["Dimensions"].as_array().unwrap_or_else(|| panic!("no Dimensions: {line}")) {
                let set = set.as_array().expect("a dimension set is an array");
                assert!(set.len() <= 30, "{line}");
                for name in set {
                    let name = name.as_str().expect("a dimension name");
                    assert!(doc[name].is_string(), "dimension {name} is a string member: {line}");
                }
            }
            let listed = directive["Metrics"].as_array().unwrap_or_else(|| panic!("no Metrics: {line}"));
            assert!(!listed.is_empty() && listed.len() <= 100, "{line}");
            for metric in listed {
                let name = metric["Name"].as_str().unwrap_or_else(|| panic!("a metric without a Name: {line}"));
                assert!(metrics::ALL.contains(&name), "{name} is one of retail_core::metrics::ALL");
                match &doc[name] {
                    Value::Number(_) => {}
                    Value::Array(values) => {
                        assert!(!values.is_empty() && values.len() <= 100 && values.iter().all(Value::is_number), "{line}")
                    }
                    other => panic!("{name} = {other}: not a number: {line}"),
                }
                if let Some(unit) = metric.get("Unit") {
                    let known = ["Count", "Milliseconds", "None", "Seconds", "Bytes"];
                    assert!(unit.as_str().is_some_and(|u| known.contains(&u)), "{line}");
                }
            }
        }
        documents.push(doc);
    }
    documents
}

/// What the documents of one invocation say (those whose property `property` is `id`: Lambda's
/// `requestId`, or the gateway's `apiRequestId`), metric by metric: the sum of its values (an
/// array's too), keyed by the metric and its dimensions other than `Function`
/// (`Requests StatusClass=2xx`).
fn figures(documents: &[Value], property: &str, id: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for doc in documents.iter().filter(|d| d[property] == id) {
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            let dimensions: Vec<String> = directive["Dimensions"][0]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d.as_str().unwrap())
                .filter(|d| *d != metrics::FUNCTION)
                .map(|d| format!(" {d}={}", doc[d].as_str().unwrap()))
                .collect();
            assert_eq!(directive["Dimensions"][0][0], metrics::FUNCTION, "every metric by function: {doc}");
            for metric in directive["Metrics"].as_array().unwrap() {
                let name = metric["Name"].as_str().unwrap();
                let value = match &doc[name] {
                    Value::Array(values) => values.iter().map(|v| v.as_f64().unwrap()).sum(),
                    v => v.as_f64().unwrap(),
                };
                *out.entry(format!("{name}{}", dimensions.concat())).or_insert(0.0) += value;
            }
        }
    }
    out
}

/// Waits until the documents of the invocation whose gateway request id is `api_request_id`
/// have been written (the host writes them after the answer).
fn documents_of(f: &EmulatedBinary, api_request_id: &str) -> (Vec<Value>, BTreeMap<String, f64>) {
    let started = Instant::now();
    loop {
        let documents = emf_documents(&f.output());
        let figures = figures(&documents, "apiRequestId", api_request_id);
        if figures.contains_key(metrics::LATENCY) {
            return (documents, figures);
        }
        assert!(started.elapsed() < Duration::from_secs(10), "no metrics for {api_request_id}:\n{}", f.output());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A v2 event from a pos till of S001, under its own request id.
fn till_event(route: &str, path: &str, params: &[(&str, &str)], key: Option<&str>, body: Option<&Value>, id: &str) -> Value {
    let headers: Vec<(&'static str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
    let mut event = http_event(route, path, params, "", ("pos", Some("S001")), &headers, body);
    event["requestContext"]["requestId"] = json!(id);
    event
}

/// Sets the fault proxy's rates.
async fn set_faults(control: &str, rates: Value) {
    let response = retail_tests::client().post(control).json(&rates).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
}

/// How many faults of `kind` the proxy has injected so far.
async fn injected(control: &str, kind: &str) -> u64 {
    let body: Value = retail_tests::client().get(control).send().await.unwrap().json().await.unwrap();
    body["injected"][kind].as_u64().unwrap_or_else(|| panic!("{body}"))
}

fn env_for(store: &retail_core::store::dynamo::DynamoStore, function: &str, endpoint: &str) -> Vec<(String, String)> {
    let mut env = lambda_env(function);
    env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), endpoint.to_owned()));
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    env.push((metrics::NAMESPACE_VARIABLE.into(), NAMESPACE.into()));
    env.extend(
        store.tables().all().into_iter().map(|(id, name)| (Table::from_logical_id(id).unwrap().variable().to_owned(), name.to_owned())),
    );
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkout_under_the_emulator_writes_emf_documents_that_match_what_the_tills_did() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint, 17);
    let store = moto.store().await;
    stock_a_store(&store, &[("MILK-1L", StockPolicy::Track), ("FLASH-1", StockPolicy::Strict)]).await;
    let f = EmulatedBinary::start("checkout", &env_for(&store, "checkout", &proxy.endpoint));
    let sales = ("POST /stores/{storeId}/sales", "/stores/S001/sales", [("storeId", "S001")]);

    // A sale: counted with its amount, on the environment's cold start.
    let sale = json!({"terminalId": "T1", "lines": [{"sku": "MILK-1L", "quantity": 2}], "payments": [{"method": "cash", "amount": 3000}]});
    let (status, receipt) = f.call(&till_event(sales.0, sales.1, &sales.2, Some("m-sale-1"), Some(&sale), "r-sale"));
    assert_eq!(status, 201, "{receipt}\n{}", f.output());
    let (documents, sold) = documents_of(&f, "r-sale");
    assert_eq!(sold["Requests StatusClass=2xx"], 1.0, "{sold:?}");
    assert_eq!(sold[metrics::COLD_START], 1.0, "{sold:?}");
    assert_eq!(sold[metrics::SALES], 1.0, "{sold:?}");
    assert_eq!(sold[metrics::SALES_AMOUNT], receipt["total"].as_f64().unwrap(), "{sold:?}");
    assert_eq!(receipt["total"], 2598);
    assert!(sold[metrics::LATENCY] > 0.0, "{sold:?}");
    // Its DynamoDB units: per operation, what the invocation's capacity log line says
    // DynamoDB reported (moto reports some), or else what the meter computed.
    let doc = documents.iter().find(|d| d["apiRequestId"] == "r-sale").unwrap();
    let capacity = f
        .output()
        .lines()
        .filter(|l| l.contains("\"dynamodb capacity\""))
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["span"]["requestId"] == doc["requestId"])
        .unwrap_or_else(|| panic!("the invocation's capacity line, by its request id {}:\n{}", doc["requestId"], f.output()));
    let calls: Value = serde_json::from_str(capacity["calls"].as_str().unwrap()).unwrap();
    let mut units: BTreeMap<String, f64> = BTreeMap::new();
    for (operation, tables) in calls.as_object().unwrap() {
        for tally in tables.as_object().unwrap().values() {
            let reported = tally["reportedReadUnits"].as_f64().unwrap() + tally["reportedWriteUnits"].as_f64().unwrap() > 0.0;
            let (read, write) = if reported { ("reportedReadUnits", "reportedWriteUnits") } else { ("readUnits", "writeUnits") };
            for (metric, field) in [("ConsumedReadUnits", read), ("ConsumedWriteUnits", write)] {
                let value = tally[field].as_f64().unwrap();
                if value > 0.0 {
                    *units.entry(format!("{metric} Operation={operation}")).or_default() += value;
                }
            }
        }
    }
    let emitted: BTreeMap<String, f64> = sold.iter().filter(|(k, _)| k.starts_with("Consumed")).map(|(k, v)| (k.clone(), *v)).collect();
    assert_eq!(emitted, units, "{capacity}");
    assert!(emitted.contains_key("ConsumedWriteUnits Operation=TransactWriteItems"), "the commit: {emitted:?}");
    for key in [metrics::OUT_OF_STOCK, metrics::IDEMPOTENT_REPLAYS, metrics::DYNAMO_THROTTLES, metrics::DYNAMO_RETRIES] {
        assert!(!sold.contains_key(key), "nothing of {key}: {sold:?}");
    }
    assert_eq!((&doc["Function"], &doc["storeId"]), (&json!("checkout"), &json!("S001")), "{doc}");

    // The till retries: the first receipt replayed, no second sale, not a cold start.
    let (status, _) = f.call(&till_event(sales.0, sales.1, &sales.2, Some("m-sale-1"), Some(&sale), "r-retry"));
    assert_eq!(status, 200);
    let (_, retried) = documents_of(&f, "r-retry");
    assert_eq!(retried[metrics::IDEMPOTENT_REPLAYS], 1.0, "{retried:?}");
    for key in [metrics::SALES, metrics::SALES_AMOUNT, metrics::COLD_START] {
        assert!(!retried.contains_key(key), "nothing of {key}: {retried:?}");
    }

    // A return of one carton: counted with its refund.
    let sale_id = receipt["saleId"].as_str().unwrap();
    let back = json!({"terminalId": "T1", "sale": {"storeId": "S001", "saleId": sale_id}, "lines": [{"line": 0, "quantity": 1}], "reason": "unwanted"});
    let (status, refund) = f.call(&till_event(
        "POST /stores/{storeId}/returns",
        "/stores/S001/returns",
        &[("storeId", "S001")],
        Some("m-return-1"),
        Some(&back),
        "r-return",
    ));
    assert_eq!(status, 201, "{refund}");
    let (_, returned) = documents_of(&f, "r-return");
    assert_eq!(returned[metrics::RETURNS], 1.0, "{returned:?}");
    assert_eq!(returned[metrics::REFUND_AMOUNT], refund["total"].as_f64().unwrap(), "{returned:?}");
    assert_eq!(refund["total"], 1299);

    // The flash item has no stock: refused, counted.
    let flash = json!({"terminalId": "T1", "lines": [{"sku": "FLASH-1", "quantity": 1}], "payments": [{"method": "cash", "amount": 2000}]});
    let (status, problem) = f.call(&till_event(sales.0, sales.1, &sales.2, Some("m-flash-1"), Some(&flash), "r-flash"));
    assert_eq!((status, problem["code"].as_str()), (409, Some("out_of_stock")), "{problem}");
    let (_, refused) = documents_of(&f, "r-flash");
    assert_eq!(refused[metrics::OUT_OF_STOCK], 1.0, "{refused:?}");
    assert_eq!(refused["Requests StatusClass=4xx"], 1.0, "{refused:?}");
    assert!(!refused.contains_key(metrics::SALES), "{refused:?}");

    // DynamoDB throttles every request: the receipt cannot be read, the till is told to retry
    // (503), and every throttled attempt and every retry is counted.
    set_faults(&proxy.control, json!({"throttle": 1.0})).await;
    let before = injected(&proxy.control, "throttle").await;
    let (status, problem) = f.call(&till_event(
        "GET /stores/{storeId}/sales/{saleId}",
        &format!("/stores/S001/sales/{sale_id}"),
        &[("storeId", "S001"), ("saleId", sale_id)],
        None,
        None,
        "r-throttled",
    ));
    assert_eq!((status, problem["code"].as_str()), (503, Some("unavailable")), "{problem}");
    let throttled = injected(&proxy.control, "throttle").await - before;
    let (_, unavailable) = documents_of(&f, "r-throttled");
    assert_eq!(unavailable["Requests StatusClass=5xx"], 1.0, "{unavailable:?}");
    assert_eq!(unavailable[metrics::UNAVAILABLE], 1.0, "{unavailable:?}");
    assert!(throttled >= 2, "the SDK retried: {throttled}");
    assert_eq!(unavailable[metrics::DYNAMO_THROTTLES], throttled as f64, "{unavailable:?}");
    let retries = unavailable[metrics::DYNAMO_RETRIES];
    assert!(retries >= 1.0 && retries < throttled as f64, "each call's attempts after its first: {unavailable:?}");
    drop(proxy);
}

/// The aggregator: a batch of one sale folded (with the lag of its record), then the same batch
/// again, as the stream may replay it: nothing folded twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_aggregator_counts_what_it_folded_once_and_how_far_behind_it_is() {
    let moto = Moto::start();
    let store = moto.store().await;
    let (event, _) = sale_stream_event(&workspace_root().join("template.yaml")).await;
    let f = EmulatedBinary::start("sales-aggregator", &env_for(&store, "sales-aggregator", &moto.endpoint));
    // The emulator makes up each invocation's request id: invocations are told apart by order.
    let answer = f.invoke(&event);
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let documents = wait_for(&f, 1);
    let first = invocation_figures(&documents[0]);
    assert_eq!(first[metrics::RECORDS_FOLDED], 1.0, "{first:?}");
    assert_eq!(first[metrics::COLD_START], 1.0, "{first:?}");
    // The record was made moments ago (its creation time has second precision).
    let lag = first[metrics::FOLD_LAG];
    assert!((0.0..120_000.0).contains(&lag), "{first:?}");
    assert!(!first.contains_key(metrics::RECORDS_FAILED), "{first:?}");

    let answer = f.invoke(&event);
    assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    let documents = wait_for(&f, 2);
    let again = invocation_figures(&documents[1]);
    assert!(!again.contains_key(metrics::RECORDS_FOLDED), "a replayed batch folds nothing: {again:?}");
    assert!(!again.contains_key(metrics::COLD_START), "{again:?}");
    assert!(again.keys().any(|k| k.starts_with("ConsumedReadUnits")), "it read to find out: {again:?}");
}

/// The figures of each invocation, in order (by request id, as they were written).
fn wait_for(f: &EmulatedBinary, invocations: usize) -> Vec<Vec<Value>> {
    let started = Instant::now();
    loop {
        let documents = emf_documents(&f.output());
        let mut ids: Vec<String> = Vec::new();
        for doc in &documents {
            let id = doc["requestId"].as_str().expect("every document names its invocation").to_owned();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        let complete: Vec<Vec<Value>> = ids
            .iter()
            .map(|id| documents.iter().filter(|d| d["requestId"] == id.as_str()).cloned().collect::<Vec<_>>())
            .filter(|docs| figures(docs, "requestId", docs[0]["requestId"].as_str().unwrap()).contains_key(metrics::LATENCY))
            .collect();
        if complete.len() >= invocations {
            return complete;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{invocations} invocations' metrics:\n{}", f.output());
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn invocation_figures(documents: &[Value]) -> BTreeMap<String, f64> {
    figures(documents, "requestId", documents[0]["requestId"].as_str().unwrap())
}
