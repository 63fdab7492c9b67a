//! Least privilege, checked both ways: each function's release binary runs under the Runtime
//! Interface Emulator on moto, with the environment template.yaml gives it and an access key of
//! its own (its logical id), through a day that takes every path its code has to DynamoDB
//! (sales, replays, refusals after a claim, a keyed delivery in parts, an expired key, price
//! batches, lookups, reports, the stream batch, a till's catalog sync: snapshot pages, a poll
//! with changes, an idle poll). moto records each request's IAM actions per access key
//! (`MOTO_RECORD_CALLS`, tests/tools/moto_server.py), a Query or Scan of an index on the index.
//! Then, for every function and table or index, the actions its code called must be exactly
//! the actions its policy grants on that resource (`!GetAtt XTable.Arn`, or
//! `!Sub "${XTable.Arn}/index/NAME"`, which IAM checks apart from the table's): a call not
//! granted is an AccessDenied in AWS, a grant never called is privilege to take away.
//!
//! Only the statements on tables are compared: the aggregator's role also lets Lambda's event
//! source mapping read the sales stream and send failed batches to the queue, which the service
//! does for the function, not its code.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_dynamodb::types::AttributeValue;
use retail_core::domain::catalog_feed::{CatalogCursor, FeedPosition, Position};
use retail_core::domain::{RegionId, StoreId};
use retail_local::environment::function_environment;
use retail_local::template::Template;
use retail_tests::lambda::{EmulatedBinary, http_event, lambda_env, sale_stream_event};
use retail_tests::moto::Moto;
use retail_tests::workspace_root;
use serde_json::{Value, json};
use serde_norway::Value as Yaml;

/// (action, resource): a table's logical id (`PricesTable`), or one of its indexes
/// (`PricesTable/index/catalog`), which IAM checks on its own ARN for a Query or Scan of it.
type Grants = BTreeSet<(String, String)>;

/// The resource a grant or a call names: the table, or `table/index/name`.
fn resource(table: &str, index: Option<&str>) -> String {
    index.map_or_else(|| table.to_owned(), |index| format!("{table}/index/{index}"))
}

/// Calls the code makes only when DynamoDB's answer is lost or races another request, which a
/// day on moto does not produce: granted, and counted as called, with the path that needs them.
const ON_LOST_ANSWERS: [(&str, &str, &str, &str); 2] = [
    ("CheckoutFunction", "dynamodb:GetItem", "IdempotencyTable",
        "a key read back when a claim's refusal carries no item or a commit's answer was lost (store/dynamo/sales.rs)"),
    ("CatalogAdminFunction", "dynamodb:GetItem", "BarcodesTable",
        "a taken barcode's holders read back when the cancellation carries no item (store/dynamo/catalog.rs)"),
];

/// The table resource a policy's `Resource` entry names: `!GetAtt XTable.Arn` (the table) or
/// `!Sub "${XTable.Arn}/index/NAME"` (an index of it, which must exist); `None` for what is not a
/// table or an index (queues, `!GetAtt XTable.StreamArn`, `!Sub "${XTable.Arn}/stream/*"`).
fn table_resource(id: &str, entry: &Yaml, indexes: &BTreeMap<&str, BTreeSet<&str>>) -> Option<String> {
    let Yaml::Tagged(t) = entry else { return None };
    if t.tag == "GetAtt" {
        let table = t.value.as_str().and_then(|v| v.strip_suffix(".Arn"))?;
        return indexes.contains_key(table).then(|| table.to_owned());
    }
    if t.tag != "Sub" {
        return None;
    }
    let text = t.value.as_str().unwrap_or_else(|| panic!("{id}: a !Sub resource this test cannot read: {:?}", t.value));
    let (table, rest) = text.strip_prefix("${")?.split_once(".Arn}")?;
    let table_indexes = indexes.get(table)?;
    if rest.starts_with("/stream/") {
        return None;
    }
    if rest.is_empty() {
        return Some(table.to_owned());
    }
    let index = rest.strip_prefix("/index/").unwrap_or_else(|| panic!("{id}: a resource of {table} this test cannot read: {text}"));
    assert!(!index.contains('*'), "{id}: a wildcard index {text}");
    assert!(table_indexes.contains(index), "{id}: {text} names no index of {table}");
    Some(resource(table, Some(index)))
}

/// What each function's policy grants on each table and index, from template.yaml: the
/// function's own `Policies` statements, or its `Role`'s.
fn granted(template: &Yaml) -> BTreeMap<String, Grants> {
    let resources = template["Resources"].as_mapping().expect("Resources");
    // Each table's logical id, with the names of its global secondary indexes.
    let indexes: BTreeMap<&str, BTreeSet<&str>> = resources
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::DynamoDB::Table"))
        .map(|(id, r)| {
            let names = r["Properties"]["GlobalSecondaryIndexes"]
                .as_sequence()
                .into_iter()
                .flatten()
                .map(|i| i["IndexName"].as_str().expect("an IndexName"))
                .collect();
            (id.as_str().expect("an id"), names)
        })
        .collect();
    let mut out = BTreeMap::new();
    for (id, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let id = id.as_str().expect("an id").to_owned();
        let props = &resource["Properties"];
        let documents: Vec<&Yaml> = match props.get("Role") {
            Some(Yaml::Tagged(t)) if t.tag == "GetAtt" => {
                let role = t.value.as_str().expect("Role.Arn").trim_end_matches(".Arn");
                let policies = resources[role]["Properties"]["Policies"].as_sequence().expect("the role's policies");
                policies.iter().map(|p| &p["PolicyDocument"]).collect()
            }
            _ => props["Policies"].as_sequence().map(|s| s.iter().collect()).unwrap_or_default(),
        };
        let mut grants = Grants::new();
        for document in documents {
            for statement in document["Statement"].as_sequence().expect("statements") {
                assert_eq!(statement["Effect"].as_str(), Some("Allow"), "{id}: only Allow statements");
                let actions: Vec<&str> = match &statement["Action"] {
                    Yaml::Sequence(s) => s.iter().map(|a| a.as_str().expect("an action")).collect(),
                    a => vec![a.as_str().expect("an action")],
                };
                let resources: Vec<&Yaml> = match &statement["Resource"] {
                    Yaml::Sequence(s) => s.iter().collect(),
                    r => vec![r],
                };
                for resource in resources {
                    // Stream ARNs and queues are neither tables nor indexes.
                    let Some(table) = table_resource(&id, resource, &indexes) else { continue };
                    for action in &actions {
                        assert!(!action.contains('*'), "{id}: a wildcard action {action} on {table}");
                        grants.insert((action.to_string(), table.clone()));
                    }
                }
            }
        }
        out.insert(id, grants);
    }
    out
}

struct Function {
    emulated: EmulatedBinary,
}

impl Function {
    fn call(&self, route: &str, path: &str, params: &[(&str, &str)], who: (&str, Option<&str>), key: Option<&str>, body: Option<Value>) -> (u16, Value) {
        let headers: Vec<(&'static str, &str)> = key.map(|k| vec![("idempotency-key", k)]).unwrap_or_default();
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        self.emulated.call(&http_event(route, path, params, query, who, &headers, body.as_ref()))
    }
}

const HO: (&str, Option<&str>) = ("headoffice", None);
const TILL: (&str, Option<&str>) = ("pos", Some("S001"));

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn each_function_is_granted_exactly_the_dynamodb_actions_its_code_calls() {
    let root = workspace_root();
    let template_path = root.join("template.yaml");
    let text = std::fs::read_to_string(&template_path).expect("template.yaml");
    let template = Template::load(&template_path).expect("template.yaml parses");
    let record = std::env::temp_dir().join(format!("retail-iam-{}.jsonl", std::process::id()));
    let _ = std::fs::remove_file(&record);
    let moto = Moto::start_recording(&record);
    let store = moto.store().await;
    let tables = store.tables().clone();
    let (stream_batch, business_day) = sale_stream_event(&template_path).await;

    let start = |logical_id: &str| {
        let decl = template.functions.iter().find(|f| f.logical_id == logical_id).expect("the function is declared");
        let binary = decl.binary.as_deref().expect("a binary");
        let mut env = lambda_env(binary);
        env.retain(|(k, _)| k != "AWS_ACCESS_KEY_ID");
        env.push(("AWS_ACCESS_KEY_ID".into(), logical_id.into()));
        env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), moto.endpoint.clone()));
        let fenv = function_environment(&text, logical_id, &|id| tables.by_logical_id(id).map(str::to_owned))
            .expect("the function's environment resolves");
        env.extend(fenv.variables);
        Function { emulated: EmulatedBinary::start(binary, &env) }
    };
    let admin = start("CatalogAdminFunction");
    let prices = start("PriceAdjustmentFunction");
    let lookup = start("CommodityLookupFunction");
    let checkout = start("CheckoutFunction");
    let report = start("SalesReportFunction");
    let aggregator = start("SalesAggregatorFunction");

    let expect = |what: &str, (status, body): (u16, Value), want: u16| {
        assert_eq!(status, want, "{what}: {body}");
        body
    };

    // Head office sets up a store and its catalog, and changes a commodity's barcodes.
    expect("store", admin.call("PUT /stores/{storeId}", "/stores/S001", &[("storeId", "S001")], HO, None,
        Some(json!({"name": "Binjiang", "region": "EAST"}))), 201);
    expect("another store", admin.call("PUT /stores/{storeId}", "/stores/S002", &[("storeId", "S002")], HO, None,
        Some(json!({"name": "Xihu", "region": "EAST"}))), 201);
    let commodity = |sku: &str, barcode: &str, policy: &str| {
        json!({"name": sku, "unit": "each", "taxRateBp": 900, "barcodes": [barcode], "stockPolicy": policy})
    };
    expect("milk", admin.call("PUT /commodities/{sku}", "/commodities/MILK-1L", &[("sku", "MILK-1L")], HO, None,
        Some(commodity("MILK-1L", "6901234567892", "track"))), 201);
    expect("milk's new barcode", admin.call("PUT /commodities/{sku}", "/commodities/MILK-1L", &[("sku", "MILK-1L")], HO, None,
        Some(commodity("MILK-1L", "6901234567885", "track"))), 200);
    expect("a taken barcode", admin.call("PUT /commodities/{sku}", "/commodities/MILK-2L", &[("sku", "MILK-2L")], HO, None,
        Some(commodity("MILK-2L", "6901234567885", "track"))), 409);
    expect("flash", admin.call("PUT /commodities/{sku}", "/commodities/FLASH-001", &[("sku", "FLASH-001")], HO, None,
        Some(commodity("FLASH-001", "6901234567878", "strict"))), 201);
    // Enough skus for a delivery past one transaction's 100 items (DynamoDB's limit, less the key).
    let many: Vec<String> = (0..95).map(|i| format!("BULK-{i:02}")).collect();
    for sku in &many {
        let body = json!({"name": sku, "unit": "each", "taxRateBp": 900, "barcodes": [], "stockPolicy": "track"});
        expect("a bulk commodity", admin.call("PUT /commodities/{sku}", &format!("/commodities/{sku}"), &[("sku", sku)], HO, None,
            Some(body)), 201);
    }

    // Deliveries: plain, keyed (replayed, reused), keyed past one transaction (parts), and under
    // a key older than its retention (deleted, then used again).
    let movements = |skus: &[&str], delta: i64| {
        json!({"movements": skus.iter().map(|s| json!({"sku": s, "delta": delta, "reason": "receipt"})).collect::<Vec<_>>()})
    };
    let stock_route = "POST /stores/{storeId}/stock-movements";
    let stock_path = "/stores/S001/stock-movements";
    let s001 = [("storeId", "S001")];
    expect("a delivery", admin.call(stock_route, stock_path, &s001, HO, None, Some(movements(&["MILK-1L"], 50))), 200);
    expect("a keyed delivery", admin.call(stock_route, stock_path, &s001, HO, Some("d-1"), Some(movements(&["FLASH-001"], 3))), 200);
    expect("its replay", admin.call(stock_route, stock_path, &s001, HO, Some("d-1"), Some(movements(&["FLASH-001"], 3))), 200);
    expect("its key reused", admin.call(stock_route, stock_path, &s001, HO, Some("d-1"), Some(movements(&["FLASH-001"], 4))), 422);
    // 95 bulk skus and FLASH-001's goods-in spread over its 8 stock items: 103 items at once.
    let mut wide_skus: Vec<&str> = many.iter().map(String::as_str).collect();
    wide_skus.push("FLASH-001");
    let wide = movements(&wide_skus, 8);
    expect("a keyed delivery in parts", admin.call(stock_route, stock_path, &s001, HO, Some("d-2"), Some(wide)), 200);
    let old_key = |pk: &str| -> std::collections::HashMap<String, AttributeValue> {
        [
            ("pk", AttributeValue::S(pk.into())),
            ("fingerprint", AttributeValue::S("an old delivery".into())),
            ("state", AttributeValue::S("completed".into())),
            ("since", AttributeValue::N("0".into())),
            ("expiresAt", AttributeValue::N("0".into())),
            ("levels", AttributeValue::L(vec![])),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    };
    store
        .client()
        .put_item()
        .table_name(tables.by_logical_id("IdempotencyTable").expect("the table"))
        .set_item(Some(old_key("stock#S001#d-old")))
        .send()
        .await
        .expect("an expired key is planted");
    expect("a delivery under an expired key", admin.call(stock_route, stock_path, &s001, HO, Some("d-old"), Some(movements(&["MILK-1L"], 1))), 200);
    expect("stock by item", admin.call("GET /stores/{storeId}/stock/{sku}", "/stores/S001/stock/FLASH-001",
        &[("storeId", "S001"), ("sku", "FLASH-001")], HO, None, None), 200);

    // Prices: a batch, its replay, reading it back, a price's explanation.
    let batch = json!({"batchId": "iam-1", "adjustments": [
        {"sku": "MILK-1L", "scope": "chain", "amount": 1390, "validFrom": "2020-01-01T00:00:00Z"},
        {"sku": "FLASH-001", "scope": "store:S001", "amount": 19900, "validFrom": "2020-01-01T00:00:00Z"},
        {"sku": "NOPE", "scope": "chain", "amount": 1}]});
    expect("a price batch", prices.call("POST /price-adjustments", "/price-adjustments", &[], HO, None, Some(batch.clone())), 201);
    expect("its replay", prices.call("POST /price-adjustments", "/price-adjustments", &[], HO, None, Some(batch)), 200);
    expect("the batch", prices.call("GET /price-adjustments/{batchId}", "/price-adjustments/iam-1", &[("batchId", "iam-1")], HO, None, None), 200);
    expect("a price", prices.call("GET /stores/{storeId}/prices/{sku}", "/stores/S001/prices/MILK-1L",
        &[("storeId", "S001"), ("sku", "MILK-1L")], HO, None, None), 200);

    // Promotions: one created, sent again, ended earlier (its schedule entry moves), read back,
    // and a store's promotions in force.
    let at = |hours: i64| (chrono::Utc::now() + chrono::Duration::hours(hours)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let (from, to, earlier) = (at(-1), at(48), at(24));
    let promotion = |ends: &str| json!({"name": "Milk 10 % off", "scope": "chain", "validFrom": from, "validTo": ends,
        "rule": {"kind": "percent_off", "percentBp": 1000, "skus": ["MILK-1L"]}});
    let promotion_path = "/promotions/iam-milk";
    let promotion_id = [("promotionId", "iam-milk")];
    expect("a promotion", prices.call("PUT /promotions/{promotionId}", promotion_path, &promotion_id, HO, None, Some(promotion(&to))), 201);
    expect("the same again", prices.call("PUT /promotions/{promotionId}", promotion_path, &promotion_id, HO, None, Some(promotion(&to))), 200);
    expect("ended earlier", prices.call("PUT /promotions/{promotionId}", promotion_path, &promotion_id, HO, None, Some(promotion(&earlier))), 200);
    expect("the promotion", prices.call("GET /promotions/{promotionId}", promotion_path, &promotion_id, HO, None, None), 200);
    expect("a store's promotions", prices.call("GET /stores/{storeId}/promotions", "/stores/S001/promotions", &[("storeId", "S001")],
        TILL, None, None), 200);

    // A till looks up.
    expect("by sku", lookup.call("GET /stores/{storeId}/commodities/{sku}", "/stores/S001/commodities/MILK-1L",
        &[("storeId", "S001"), ("sku", "MILK-1L")], TILL, None, None), 200);
    expect("by barcode", lookup.call("GET /stores/{storeId}/barcodes/{barcode}", "/stores/S001/barcodes/6901234567885",
        &[("storeId", "S001"), ("barcode", "6901234567885")], TILL, None, None), 200);
    expect("many", lookup.call("POST /stores/{storeId}/commodities/lookup", "/stores/S001/commodities/lookup", &s001, TILL, None,
        Some(json!({"skus": ["MILK-1L", "FLASH-001", "NOPE"], "barcodes": ["6901234567878"]}))), 200);

    // A till sells: track and strict stock, a replay, a refusal after the claim (out of stock:
    // the claim is released), a batch, a receipt read back, a return of it in another store.
    let sale = |lines: Value, paid: i64| json!({"terminalId": "T01", "lines": lines, "payments": [{"method": "cash", "amount": paid}]});
    let sales_route = "POST /stores/{storeId}/sales";
    let sales_path = "/stores/S001/sales";
    let receipt = expect("a sale", checkout.call(sales_route, sales_path, &s001, TILL, Some("s-1"),
        Some(sale(json!([{"sku": "MILK-1L", "quantity": 2}, {"sku": "FLASH-001", "quantity": 1}, {"barcode": "6901234567885"}]), 100000))), 201);
    expect("its replay", checkout.call(sales_route, sales_path, &s001, TILL, Some("s-1"),
        Some(sale(json!([{"sku": "MILK-1L", "quantity": 2}, {"sku": "FLASH-001", "quantity": 1}, {"barcode": "6901234567885"}]), 100000))), 200);
    // A second later the warm checkout asks the tills' feed what changed in the catalog it
    // keeps (head office wrote it a moment ago: the heads, then a Query of what is new).
    std::thread::sleep(std::time::Duration::from_millis(1100));
    expect("out of stock", checkout.call(sales_route, sales_path, &s001, TILL, Some("s-2"),
        Some(sale(json!([{"sku": "FLASH-001", "quantity": 50}]), 10_000_000))), 409);
    // A milk at 13.90 less the promotion's 10 %, paid exactly by card.
    let batch = expect("a batch", checkout.call("POST /stores/{storeId}/sales/batch", "/stores/S001/sales/batch", &s001, TILL, None,
        Some(json!({"sales": [{"idempotencyKey": "s-3", "terminalId": "T02", "lines": [{"sku": "MILK-1L", "quantity": 1}],
            "payments": [{"method": "card", "amount": 1251}]}]}))), 200);
    assert_eq!(batch["results"][0]["status"], 201, "{batch}");
    let sale_id = receipt["saleId"].as_str().expect("a sale id").to_owned();
    expect("the receipt", checkout.call("GET /stores/{storeId}/sales/{saleId}", &format!("/stores/S001/sales/{sale_id}"),
        &[("storeId", "S001"), ("saleId", &sale_id)], TILL, None, None), 200);

    // A till of S002 takes a milk of that sale back and reads what is left of it; a return
    // beyond what is left is refused after the claim (released).
    let returns_route = "POST /stores/{storeId}/returns";
    let s002 = [("storeId", "S002")];
    let till2 = ("pos", Some("S002"));
    let a_return = |quantity: i64| json!({"terminalId": "T09", "sale": {"storeId": "S001", "saleId": sale_id},
        "lines": [{"line": 0, "quantity": quantity}], "reason": "unwanted"});
    let taken = expect("a return", checkout.call(returns_route, "/stores/S002/returns", &s002, till2, Some("r-1"), Some(a_return(1))), 201);
    expect("its replay", checkout.call(returns_route, "/stores/S002/returns", &s002, till2, Some("r-1"), Some(a_return(1))), 200);
    expect("too many", checkout.call(returns_route, "/stores/S002/returns", &s002, till2, Some("r-2"), Some(a_return(5))), 409);
    let return_id = taken["returnId"].as_str().expect("a return id").to_owned();
    expect("the return receipt", checkout.call("GET /stores/{storeId}/returns/{returnId}", &format!("/stores/S002/returns/{return_id}"),
        &[("storeId", "S002"), ("returnId", &return_id)], till2, None, None), 200);
    expect("what is left", checkout.call("GET /stores/{storeId}/sales/{saleId}/returnable",
        &format!("/stores/S001/sales/{sale_id}/returnable"), &[("storeId", "S001"), ("saleId", &sale_id)], till2, None, None), 200);

    // The stream batch folds into the reports, which a manager and head office read, and takes
    // the sale's tracked stock (as a DynamoDB checkout leaves it: its line 0 to the stream).
    let mut stream_batch = stream_batch;
    stream_batch["Records"][0]["dynamodb"]["NewImage"]["streamTakes"] = json!({"L": [{"N": "0"}]});
    let folded = aggregator.emulated.invoke(&stream_batch);
    assert_eq!(folded["batchItemFailures"], json!([]), "{folded}");
    // A head written before heads kept their top commodities (its `top` taken away here) is
    // ranked again from all the day's commodities, a Query, when its next record comes.
    store
        .client()
        .update_item()
        .table_name(&tables.aggregates)
        .key("pk", AttributeValue::S(format!("day#{business_day}")))
        .key("sk", AttributeValue::S("S001".into()))
        .update_expression("REMOVE top")
        .condition_expression("attribute_exists(top)")
        .send()
        .await
        .expect("the head kept its top");
    let mut next = stream_batch.clone();
    next["Records"][0]["dynamodb"]["SequenceNumber"] = json!("000000000000000000002");
    let folded = aggregator.emulated.invoke(&next);
    assert_eq!(folded["batchItemFailures"], json!([]), "{folded}");
    let day = format!("/stores/S001/reports/daily?date={business_day}");
    expect("the store's day", report.call("GET /stores/{storeId}/reports/daily", &day, &s001, HO, None, None), 200);
    let commodities = format!("/stores/S001/reports/daily/commodities?date={business_day}&limit=1");
    let page = expect("the store-day's commodities", report.call("GET /stores/{storeId}/reports/daily/commodities", &commodities, &s001, HO, None, None), 200);
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    expect("the chain's day", report.call("GET /reports/daily", &format!("/reports/daily?date={business_day}"), &[], HO, None, None), 200);

    // A till syncs its store's catalog. BULK-00 is priced in 13 other regions first: more
    // schedule items than a one-commodity page reads of the prices' `catalog` index, so that
    // page reads its prices by key.
    let regions: Vec<Value> = (1..=13)
        .map(|r| json!({"sku": "BULK-00", "scope": format!("region:R{r:02}"), "amount": 100 + r, "validFrom": "2020-01-01T00:00:00Z"}))
        .collect();
    expect("prices in other regions", prices.call("POST /price-adjustments", "/price-adjustments", &[], HO, None,
        Some(json!({"batchId": "iam-regions", "adjustments": regions}))), 201);
    let catalog_route = "GET /stores/{storeId}/catalog";
    let sync = |what: &str, query: &str| {
        expect(what, lookup.call(catalog_route, &format!("/stores/S001/catalog?{query}"), &s001, TILL, None, None), 200)
    };
    let skus_of = |page: &Value, kind: &str| -> Vec<String> {
        let changes = page["changes"].as_array().unwrap_or_else(|| panic!("a page's changes: {page}"));
        changes.iter().filter(|c| c["kind"] == kind).map(|c| c["sku"].as_str().expect("a sku").to_owned()).collect()
    };
    // What moto recorded from line `from` on, and how many lines it holds.
    let recorded = |from: usize| -> (Vec<Value>, usize) {
        let text = std::fs::read_to_string(&record).expect("moto's record");
        let lines: Vec<&str> = text.lines().collect();
        (lines[from.min(lines.len())..].iter().map(|l| serde_json::from_str(l).expect("a JSON line")).collect(), lines.len())
    };
    let table_of = |id: &str| tables.by_logical_id(id).expect("a table of the template").to_owned();
    let lookup_call = |action: &str, table: &str| json!({"key": "CommodityLookupFunction", "action": action, "table": table_of(table)});
    let (_, before) = recorded(0);
    let first = sync("a one-commodity snapshot page", "limit=1");
    assert_eq!(skus_of(&first, "commodity"), ["BULK-00"], "{first}");
    assert_eq!(first["more"], true, "{first}");
    let (calls, _) = recorded(before);
    assert!(calls.contains(&lookup_call("dynamodb:BatchGetItem", "PricesTable")), "BULK-00's prices read by key: {calls:?}");
    // The snapshot: the store and its promotions, then 40 commodities a page with their prices,
    // through both `catalog` indexes, until the cursor turns to the changes.
    let mut page = sync("a snapshot", "limit=40");
    let mut walked = skus_of(&page, "commodity");
    let mut pages = 1;
    while page["more"] == true {
        assert!(pages < 10, "the snapshot does not end: {page}");
        let cursor = page["cursor"].as_str().expect("a cursor").to_owned();
        page = sync("a snapshot page", &format!("cursor={cursor}&limit=40"));
        walked.extend(skus_of(&page, "commodity"));
        pages += 1;
    }
    let distinct: BTreeSet<&String> = walked.iter().collect();
    assert_eq!((walked.len(), distinct.len()), (many.len() + 2, many.len() + 2), "every commodity once: {walked:?}");
    assert!(pages >= 3, "the snapshot pages: {pages}");
    let caught_up = page["cursor"].as_str().expect("a cursor").to_owned();

    // Head office changes a price, a commodity, the store and a promotion; the till's next poll
    // reads the heads, the partitions with news, and each change's current state.
    expect("a price change", prices.call("POST /price-adjustments", "/price-adjustments", &[], HO, None,
        Some(json!({"batchId": "iam-2", "adjustments": [
            {"sku": "FLASH-001", "scope": "region:EAST", "amount": 18900, "validFrom": "2020-01-01T00:00:00Z"}]}))), 201);
    expect("a new commodity", admin.call("PUT /commodities/{sku}", "/commodities/BREAD-1", &[("sku", "BREAD-1")], HO, None,
        Some(commodity("BREAD-1", "6901234567861", "track"))), 201);
    expect("the store renamed", admin.call("PUT /stores/{storeId}", "/stores/S001", &s001, HO, None,
        Some(json!({"name": "Binjiang Riverside", "region": "EAST"}))), 200);
    let flash_promotion = json!({"name": "Flash 5 % off", "scope": "store:S001", "validFrom": from, "validTo": to,
        "rule": {"kind": "percent_off", "percentBp": 500, "skus": ["FLASH-001"]}});
    expect("a new promotion", prices.call("PUT /promotions/{promotionId}", "/promotions/iam-flash", &[("promotionId", "iam-flash")],
        HO, None, Some(flash_promotion)), 201);
    let mut page = sync("the changes", &format!("cursor={caught_up}"));
    let mut changes: Vec<Value> = Vec::new();
    loop {
        changes.extend(page["changes"].as_array().expect("changes").iter().cloned());
        if page["more"] != true {
            break;
        }
        assert!(changes.len() < 10_000, "the changes do not end: {page}");
        let cursor = page["cursor"].as_str().expect("a cursor").to_owned();
        page = sync("more changes", &format!("cursor={cursor}"));
    }
    let has = |kind: &str, field: &str, id: &str| changes.iter().any(|c| c["kind"] == kind && c[field] == id);
    assert!(has("prices", "sku", "FLASH-001"), "the price change: {changes:?}");
    assert!(has("commodity", "sku", "BREAD-1"), "the new commodity: {changes:?}");
    assert!(changes.iter().any(|c| c["kind"] == "store"), "the store: {changes:?}");
    assert!(has("promotion", "promotionId", "iam-flash"), "the promotion: {changes:?}");

    // An idle poll: the cursor a till holds a minute after that poll (the resend window past)
    // finds nothing new, and reads only the three heads.
    let now = chrono::Utc::now();
    let idle = CatalogCursor {
        store: StoreId::parse("S001").expect("a store id"),
        region: RegionId::parse("EAST").expect("a region"),
        issued: now,
        position: Position::Changes { after: FeedPosition::before(now) },
    }
    .encode();
    let (_, before) = recorded(0);
    let polled = sync("an idle poll", &format!("cursor={idle}"));
    assert_eq!((&polled["changes"], &polled["more"]), (&json!([]), &json!(false)), "{polled}");
    // Its calls: the heads (one BatchGetItem of the feed), and the store unless still cached.
    let heads = lookup_call("dynamodb:BatchGetItem", "CatalogChangesTable");
    let the_store = lookup_call("dynamodb:GetItem", "StoresTable");
    let (calls, _) = recorded(before);
    assert!(
        calls.contains(&heads) && calls.iter().all(|c| *c == heads || *c == the_store),
        "an idle poll reads the three heads and nothing else: {calls:?}"
    );

    drop((admin, prices, lookup, checkout, report, aggregator));
    // The record: (access key, action, table name, and the index for a Query or Scan of one)
    // per line.
    let names: BTreeMap<String, String> = template
        .tables
        .iter()
        .filter_map(|t| tables.by_logical_id(&t.logical_id).map(|name| (name.to_owned(), t.logical_id.clone())))
        .collect();
    let mut called: BTreeMap<String, Grants> = BTreeMap::new();
    for line in std::fs::read_to_string(&record).expect("moto's record").lines() {
        let call: Value = serde_json::from_str(line).expect("a JSON line");
        let key = call["key"].as_str().unwrap_or_default();
        if !key.ends_with("Function") {
            continue; // the test's own set-up (tables, the planted key)
        }
        let table = call["table"].as_str().unwrap_or_default();
        let table = names.get(table).unwrap_or_else(|| panic!("{key} called {} on {table:?}, not a table of the template", call["action"]));
        let on = resource(table, call.get("index").map(|i| i.as_str().expect("an index name")));
        called.entry(key.to_owned()).or_default().insert((call["action"].as_str().expect("an action").to_owned(), on));
    }
    let _ = std::fs::remove_file(&record);

    let granted = granted(&serde_norway::from_str(&text).expect("template.yaml"));
    for (function, action, table, why) in ON_LOST_ANSWERS {
        let grant = (action.to_owned(), table.to_owned());
        assert!(granted[function].contains(&grant), "{function} needs {action} on {table}: {why}");
        called.entry(function.to_owned()).or_default().insert(grant);
    }
    let mut wrong = Vec::new();
    for (function, grants) in &granted {
        let calls = called.get(function).cloned().unwrap_or_default();
        for (action, table) in calls.difference(grants) {
            wrong.push(format!("{function} calls {action} on {table}, which its policy does not grant (AccessDenied in AWS)"));
        }
        for (action, table) in grants.difference(&calls) {
            wrong.push(format!("{function} is granted {action} on {table}, which its code never calls"));
        }
    }
    for (function, calls) in &called {
        println!("{function} called: {}", calls.iter().map(|(a, t)| format!("{} {t}", a.trim_start_matches("dynamodb:"))).collect::<Vec<_>>().join(", "));
    }
    assert!(wrong.is_empty(), "template.yaml's policies and the code differ:\n{}", wrong.join("\n"));
}
