//! The cost meter (retail_core::store::dynamo::meter) on moto: every data-plane request a
//! DynamoStore's client sends carries `ReturnConsumedCapacity: TOTAL`, and what a known set of
//! calls consumed drains per operation and table with the units worked out by hand from
//! DynamoDB's sizing rules. And a checkout under the Runtime Interface Emulator logs the
//! "dynamodb capacity" line with its transaction's write units.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, KeysAndAttributes, Put, TransactWriteItem, Update};
use aws_smithy_runtime_api::box_error::BoxError;
use chrono::Utc;
use retail_core::domain::{Sku, StockPolicy};
use retail_core::store::dynamo::capacity::Tally;
use retail_core::store::dynamo::{DynamoStore, Table, endpoint_config};
use retail_tests::lambda::{EmulatedBinary, http_event, lambda_env};
use retail_tests::moto::{Moto, stock_a_store};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Every request's operation (`x-amz-target`) and whether its body asked for TOTAL.
#[derive(Debug, Clone, Default)]
struct Requests(Arc<Mutex<Vec<(String, bool)>>>);

impl Intercept for Requests {
    fn name(&self) -> &'static str {
        "RequestBodies"
    }

    // After serialization: the body as it leaves.
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request();
        let operation = request.headers().get("x-amz-target").and_then(|t| t.rsplit('.').next()).unwrap_or("?").to_owned();
        let body: Value = serde_json::from_slice(request.body().bytes().unwrap_or_default()).unwrap_or(Value::Null);
        self.0.lock().unwrap().push((operation, body["ReturnConsumedCapacity"] == "TOTAL"));
        Ok(())
    }
}

const DATA_PLANE: [&str; 10] = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
];

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_owned())
}

fn item(attrs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
    attrs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

fn tally(requests: u64, read: f64, write: f64) -> (u64, f64, f64) {
    (requests, read, write)
}

fn computed(t: Tally) -> (u64, f64, f64) {
    (t.requests, t.read_units, t.write_units)
}

async fn metered_store(moto: &Moto) -> (DynamoStore, Requests) {
    let requests = Requests::default();
    let store = moto.store_with(endpoint_config(&moto.endpoint).interceptor(requests.clone())).await;
    // Creating the tables (control plane) consumed nothing.
    assert!(store.take_consumed().is_empty());
    requests.0.lock().unwrap().clear();
    (store, requests)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn known_calls_drain_the_units_worked_out_by_hand_and_every_request_asks_for_total() {
    let moto = Moto::start();
    let (store, requests) = metered_store(&moto).await;
    let db = store.client();
    let t = store.tables();

    // PutItem, StoresTable. {"pk": "S900" (2 + 4), "name": 1100 × "x" (4 + 1100)}: 1110 bytes, 2 units.
    let big = item(&[("pk", s("S900")), ("name", s(&"x".repeat(1100)))]);
    db.put_item().table_name(&t.stores).set_item(Some(big)).send().await.unwrap();
    // {"pk": "S901", "name": "small"}: 6 + 9 = 15 bytes, 1 unit.
    let small = item(&[("pk", s("S901")), ("name", s("small"))]);
    db.put_item().table_name(&t.stores).set_item(Some(small.clone())).send().await.unwrap();
    // The same with a condition that fails: billed all the same, 1 unit.
    let refused =
        db.put_item().table_name(&t.stores).set_item(Some(small)).condition_expression("attribute_not_exists(pk)").send().await;
    assert!(refused.unwrap_err().into_service_error().is_conditional_check_failed_exception());

    // GetItem, StoresTable: 1110 bytes strongly consistent, 1 unit; 15 bytes eventually, 0.5.
    let key = |pk: &str| item(&[("pk", s(pk))]);
    let got = db.get_item().table_name(&t.stores).set_key(Some(key("S900"))).consistent_read(true).send().await.unwrap();
    assert!(got.item().is_some());
    db.get_item().table_name(&t.stores).set_key(Some(key("S901"))).send().await.unwrap();

    // TransactWriteItems: a Put on SalesTable ({"pk": "SALE#1", "sk": "A"}: 8 + 3 = 11 bytes, 1
    // unit, twice), an Update on IdempotencyTable (key "K1" 4 bytes + the value "done" 4: 1
    // unit, twice), a ConditionCheck on StoresTable (key 6 bytes: 1 unit, twice).
    let sale = |pk: &str| item(&[("pk", s(pk)), ("sk", s("A"))]);
    let put = |pk: &str| TransactWriteItem::builder().put(Put::builder().table_name(&t.sales).set_item(Some(sale(pk))).build().unwrap()).build();
    let exists = |pk: &str| {
        TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder().table_name(&t.stores).set_key(Some(key(pk))).condition_expression("attribute_exists(pk)").build().unwrap(),
            )
            .build()
    };
    let update = Update::builder()
        .table_name(&t.idempotency)
        .set_key(Some(key("K1")))
        .update_expression("SET #st = :v")
        .expression_attribute_names("#st", "state")
        .expression_attribute_values(":v", s("done"))
        .build()
        .unwrap();
    db.transact_write_items()
        .transact_items(put("SALE#1"))
        .transact_items(TransactWriteItem::builder().update(update).build())
        .transact_items(exists("S900"))
        .send()
        .await
        .unwrap();
    // Cancelled by its condition (no store S999): its items billed as if written, 2 + 2.
    let cancelled = db.transact_write_items().transact_items(put("SALE#2")).transact_items(exists("S999")).send().await;
    assert!(cancelled.unwrap_err().into_service_error().is_transaction_canceled_exception());

    // Query, SalesTable, strongly consistent: the one 11-byte sale, 1 unit.
    let found = db
        .query()
        .table_name(&t.sales)
        .key_condition_expression("pk = :p")
        .expression_attribute_values(":p", s("SALE#1"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(found.count(), 1);

    // BatchGetItem, StoresTable, eventually: 1110 bytes 0.5, 15 bytes 0.5, S999 missing 0.5.
    let keys = KeysAndAttributes::builder().keys(key("S900")).keys(key("S901")).keys(key("S999")).build().unwrap();
    let batch = db.batch_get_item().request_items(&t.stores, keys).send().await.unwrap();
    assert_eq!(batch.responses().unwrap()[&t.stores].len(), 2);

    // DeleteItem, IdempotencyTable: the key, 4 bytes, 1 unit.
    db.delete_item().table_name(&t.idempotency).set_key(Some(key("K1"))).send().await.unwrap();

    let consumed = store.take_consumed();
    println!("{}", serde_json::to_string_pretty(&consumed.to_json()).unwrap());
    let of = |op: &str, table: Table| computed(consumed.of(op, table.logical_id()));
    assert_eq!(of("PutItem", Table::Stores), tally(3, 0.0, 4.0));
    assert_eq!(of("GetItem", Table::Stores), tally(2, 1.5, 0.0));
    assert_eq!(of("TransactWriteItems", Table::Sales), tally(2, 0.0, 4.0));
    assert_eq!(of("TransactWriteItems", Table::Idempotency), tally(1, 0.0, 2.0));
    assert_eq!(of("TransactWriteItems", Table::Stores), tally(2, 0.0, 4.0));
    assert_eq!(of("Query", Table::Sales), tally(1, 1.0, 0.0));
    assert_eq!(of("BatchGetItem", Table::Stores), tally(1, 1.5, 0.0));
    assert_eq!(of("DeleteItem", Table::Idempotency), tally(1, 0.0, 1.0));
    assert_eq!(consumed.calls().count(), 8, "nothing else: {consumed:?}");
    assert_eq!(computed(consumed.total()), tally(10, 4.0, 15.0));
    assert!(store.take_consumed().is_empty(), "a take drains");

    // moto answers TOTAL with a ConsumedCapacity (its own figures: only that they came back).
    assert!(consumed.of("PutItem", "StoresTable").reported_write_units > 0.0, "{consumed:?}");
    assert!(consumed.of("GetItem", "StoresTable").reported_read_units > 0.0, "{consumed:?}");

    let sent = requests.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 10, "{sent:?}");
    for (operation, total) in &sent {
        assert!(DATA_PLANE.contains(&operation.as_str()) && *total, "{operation} without ReturnConsumedCapacity TOTAL");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_adapters_own_calls_all_ask_for_total_and_are_metered() {
    let moto = Moto::start();
    let (store, requests) = metered_store(&moto).await;
    let (shop, milk) = (stock_a_store(&store, &[("MILK-1L", StockPolicy::Track)]).await, Sku::parse("MILK-1L").unwrap());
    let views = retail_core::store::LookupStore::commodity_views(&store, &shop, &[milk], Utc::now()).await.unwrap();
    assert!(views[0].is_some());
    let consumed = store.take_consumed();
    let sent = requests.0.lock().unwrap().clone();
    assert!(!sent.is_empty());
    for (operation, total) in &sent {
        assert!(DATA_PLANE.contains(&operation.as_str()) && *total, "{operation} without ReturnConsumedCapacity TOTAL: {sent:?}");
    }
    assert_eq!(consumed.total().requests, sent.len() as u64, "{consumed:?}");
    for (operation, table, tally) in consumed.calls() {
        assert!(Table::from_logical_id(table).is_some(), "{operation} on {table}: named by its logical id");
        assert!(tally.read_units + tally.write_units >= 0.5, "{operation} on {table}: every call costs: {tally:?}");
    }
}

/// A warm checkout keeps the commodities and schedules it read (`store/dynamo/kept.rs`): the
/// same basket read again costs nothing, and a second later only the feed's three heads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_basket_read_again_reads_only_the_feeds_heads_once_a_second() {
    use retail_core::store::SalesStore;
    let moto = Moto::start();
    let (store, _) = metered_store(&moto).await;
    let (shop, milk) = (stock_a_store(&store, &[("MILK-1L", StockPolicy::Track)]).await, Sku::parse("MILK-1L").unwrap());
    store.take_consumed();
    let basket = [milk];
    store.basket_reading(&shop, &basket, &[]).await.unwrap();
    let first = store.take_consumed();
    let tables = |c: &retail_core::store::dynamo::capacity::Consumed| -> Vec<String> {
        c.calls().map(|(operation, table, _)| format!("{operation} {table}")).collect()
    };
    assert_eq!(tables(&first), ["BatchGetItem CommoditiesTable", "BatchGetItem PricesTable"], "{first:?}");
    assert!(store.basket_reading(&shop, &basket, &[]).await.unwrap().commodities.contains_key(&basket[0]));
    assert!(store.take_consumed().is_empty(), "read again at once: nothing");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert!(store.basket_reading(&shop, &basket, &[]).await.unwrap().commodities.contains_key(&basket[0]));
    let later = store.take_consumed();
    // Head office wrote the catalog a moment ago, so the feed's heads have news: the chain's
    // partition is read, and MILK-1L, named there, is read again.
    let mut calls = tables(&later);
    calls.sort();
    assert_eq!(
        calls,
        ["BatchGetItem CatalogChangesTable", "BatchGetItem CommoditiesTable", "BatchGetItem PricesTable", "Query CatalogChangesTable"],
        "{later:?}"
    );
}

/// The checkout binary under the emulator, on moto, logging JSON as Lambda does with
/// `LoggingConfig: LogFormat: JSON`: one sale of one line, then its capacity line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkout_under_the_emulator_logs_its_capacity_line() {
    let moto = Moto::start();
    let (store, _) = metered_store(&moto).await;
    stock_a_store(&store, &[("MILK-1L", StockPolicy::Track)]).await;
    let tables = store.tables().only(checkout::TABLES);
    let mut env = lambda_env("checkout");
    env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), moto.endpoint.clone()));
    env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
    env.extend(tables.all().into_iter().map(|(id, name)| (Table::from_logical_id(id).unwrap().variable().to_owned(), name.to_owned())));
    let f = EmulatedBinary::start("checkout", &env);
    let sale = json!({"terminalId": "T1", "lines": [{"sku": "MILK-1L", "quantity": 2}], "payments": [{"method": "cash", "amount": 3000}]});
    let event = http_event(
        "POST /stores/{storeId}/sales",
        "/stores/S001/sales",
        &[("storeId", "S001")],
        "",
        ("pos", Some("S001")),
        &[("idempotency-key", "meter-sale-1")],
        Some(&sale),
    );
    let (status, body) = f.call(&event);
    assert_eq!(status, 201, "{body}\n{}", f.output());
    let line = f
        .wait_for_line(&["\"dynamodb capacity\""], Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no capacity line:\n{}", f.output()));
    println!("{line}");
    let line: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    assert_eq!(line["level"], "INFO", "{line}");
    // The invocation's request id, as every line of an invocation carries.
    assert!(line["span"]["requestId"].is_string(), "{line}");
    let calls: Value = serde_json::from_str(line["calls"].as_str().expect("calls, a JSON string")).unwrap();
    // The commit: one transaction whose sale item (one line, well under 1 KB) is 1 unit, twice.
    let commit = &calls["TransactWriteItems"]["SalesTable"];
    assert_eq!(commit["requests"], 1, "{calls}");
    assert_eq!(commit["writeUnits"], 2.0, "{calls}");
    // The totals are the sum of the calls.
    let sum = |field: &str| -> f64 {
        calls.as_object().unwrap().values().flat_map(|t| t.as_object().unwrap().values()).map(|c| c[field].as_f64().unwrap()).sum()
    };
    assert_eq!(line["writeUnits"].as_f64(), Some(sum("writeUnits")), "{line}");
    assert_eq!(line["readUnits"].as_f64(), Some(sum("readUnits")), "{line}");
    assert!(line["requests"].as_u64().unwrap() >= 2, "{line}");
    // One line per invocation: a second sale logs a second.
    let again = http_event(
        "POST /stores/{storeId}/sales",
        "/stores/S001/sales",
        &[("storeId", "S001")],
        "",
        ("pos", Some("S001")),
        &[("idempotency-key", "meter-sale-2")],
        Some(&sale),
    );
    assert_eq!(f.call(&again).0, 201);
    let started = std::time::Instant::now();
    while f.output().matches("\"dynamodb capacity\"").count() < 2 {
        assert!(started.elapsed() < Duration::from_secs(10), "one line per invocation:\n{}", f.output());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The meter bills a write's global secondary indexes from `Table::index_keys`: it names
/// exactly the indexes template.yaml declares, with their key attributes.
#[test]
fn the_meters_indexes_are_the_templates() {
    let template = retail_local::template::Template::load(&retail_tests::workspace_root().join("template.yaml")).expect("template.yaml parses");
    for table in Table::ALL {
        let spec = template.tables.iter().find(|s| s.logical_id == table.logical_id()).expect("every table is in the template");
        let declared: Vec<Vec<String>> = spec
            .indexes
            .iter()
            .map(|i| std::iter::once(i.partition_key.clone()).chain(i.sort_key.clone()).collect())
            .collect();
        let metered: Vec<Vec<String>> = table.index_keys().iter().map(|keys| keys.iter().map(|k| (*k).to_owned()).collect()).collect();
        assert_eq!(metered, declared, "{}", table.logical_id());
    }
}
