//! Start-up (`retail_core::host`) of the function binaries, each under the official Runtime
//! Interface Emulator as Lambda would run it: a function without its table variables or with a
//! store setting nobody knows exits non-zero at init, naming the variable; with only its own
//! tables it serves; the embedded store only when `RETAIL_STORE=memory` asks for it. And the
//! template gives each function exactly the tables its binary requires, and its policy names the
//! same.

use retail_core::store::dynamo::{Table, TableSet};
use retail_local::functions::DECLARED_TABLES;
use retail_tests::lambda::{EmulatedBinary, http_event, lambda_env, sale_stream_event};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// How long a function's output may trail the emulator's answer.
const OUTPUT: Duration = Duration::from_secs(10);

/// A milk carton's EAN-13 (README's walk-through).
const MILK_BARCODE: &str = "6901234567892";

/// Functions that keep no data (the dashboard's page): no tables, no table policies.
const KEEPS_NO_DATA: [&str; 1] = ["dashboard"];

fn declared(binary: &str) -> TableSet {
    retail_local::functions::declared_tables(binary).unwrap_or_else(|| panic!("{binary} declares no tables"))
}

fn with(mut env: Vec<(String, String)>, more: &[(&str, &str)]) -> Vec<(String, String)> {
    env.extend(more.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    env
}

/// Table variables for `tables`, named as if deployed (`retail-SalesTable`): never read.
fn named(tables: TableSet) -> Vec<(String, String)> {
    tables.iter().map(|t| (t.variable().to_owned(), format!("retail-{}", t.logical_id()))).collect()
}

/// What the template gives `binary` on DynamoDB at `endpoint`: Lambda's variables and the
/// names of its own tables in `store`, no others.
fn on_dynamodb(binary: &str, store: &retail_core::store::dynamo::DynamoStore, endpoint: &str) -> Vec<(String, String)> {
    let mut env = with(lambda_env(binary), &[("AWS_ENDPOINT_URL_DYNAMODB", endpoint)]);
    env.extend(store.tables().only(declared(binary)).all().into_iter().map(|(id, name)| {
        (Table::from_logical_id(id).expect("a table of the template").variable().to_owned(), name.to_owned())
    }));
    env
}

/// An event the function would serve if it started.
fn any_event(binary: &str) -> Value {
    if binary == "sales-aggregator" {
        json!({"Records": []})
    } else {
        http_event("GET /reports/daily", "/reports/daily", &[], "date=2026-11-11", ("headoffice", None), &[], None)
    }
}

/// Starts `binary` with `env`, invokes it once, and returns the error line its start logged
/// (the one containing every one of `needles`) after checking that it served nothing and that
/// its process exited non-zero.
fn refused_at_init(binary: &str, env: &[(String, String)], needles: &[&str]) -> String {
    let f = EmulatedBinary::start(binary, env);
    let (status, body) = f.invoke_raw(&any_event(binary));
    let answered = serde_json::from_str::<Value>(&body)
        .is_ok_and(|a| a.get("statusCode").is_some() || a.get("batchItemFailures").is_some());
    assert!(!answered, "{binary} served with {env:?}: {status} {body}\n--- its output ---\n{}", f.output());
    // The emulator reports how the runtime process ended: exit status 1, at init.
    assert!(
        f.wait_for_line(&["exited", "exit status 1"], OUTPUT).is_some(),
        "{binary} did not exit with status 1 ({status} {body:?})\n--- its output ---\n{}",
        f.output()
    );
    assert!(f.wait_for_line(&["INIT RTDONE(status: error)"], OUTPUT).is_some(), "{binary}: not at init:\n{}", f.output());
    let line = f.wait_for_line(needles, OUTPUT).unwrap_or_else(|| {
        panic!("{binary}: no line names {needles:?}\n--- its output ---\n{}", f.output())
    });
    assert!(line.contains("the function cannot start"), "{binary}: not the start error line: {line}");
    // One error line per start of the process (the emulator may start it again to invoke).
    let output = f.output();
    let errors = output.lines().filter(|l| l.contains("the function cannot start")).count();
    let starts = output.lines().filter(|l| l.contains("(rapid) exec '")).count();
    assert_eq!(errors, starts.max(1), "{binary}: one error line per start:\n{output}");
    line
}

#[test]
fn every_function_without_table_variables_exits_at_init_naming_them() {
    for (binary, tables) in DECLARED_TABLES {
        assert!(!tables.is_empty(), "{binary}");
        let variables: Vec<&str> = tables.variables().collect();
        let line = refused_at_init(binary, &lambda_env(binary), &variables);
        assert!(line.contains("RETAIL_STORE=memory"), "{binary}: the way to the embedded store is said: {line}");
        for other in TableSet::ALL.iter().filter(|t| !tables.contains(*t)) {
            assert!(!line.contains(other.variable()), "{binary} does not use {}: {line}", other.variable());
        }
    }
}

#[test]
fn a_function_missing_one_of_its_tables_names_that_one() {
    for (binary, missing) in [("checkout", Table::Sales), ("sales-report", Table::Aggregates), ("catalog-admin", Table::Barcodes)] {
        let rest: TableSet = declared(binary).iter().filter(|t| *t != missing).collect();
        let env = [lambda_env(binary), named(rest)].concat();
        let line = refused_at_init(binary, &env, &[missing.variable()]);
        for present in rest.variables() {
            assert!(!line.contains(present), "{binary}: {present} is set: {line}");
        }
    }
}

#[test]
fn an_unknown_store_setting_exits_at_init_naming_retail_store() {
    for binary in ["checkout", "sales-aggregator"] {
        // Every table is there: only the setting is wrong.
        let env = with([lambda_env(binary), named(declared(binary))].concat(), &[("RETAIL_STORE", "bogus")]);
        let line = refused_at_init(binary, &env, &["RETAIL_STORE", "bogus"]);
        assert!(line.contains("dynamodb") && line.contains("memory"), "the allowed values: {line}");
    }
}

#[test]
fn a_function_without_lambdas_region_or_credentials_exits_at_init_naming_the_variable() {
    // The client is built from the variables Lambda sets, read once at init: not a provider
    // chain that would go looking for a profile file or an instance's metadata instead.
    for (binary, missing) in [("checkout", "AWS_REGION"), ("commodity-lookup", "AWS_ACCESS_KEY_ID"), ("sales-aggregator", "AWS_SECRET_ACCESS_KEY")] {
        let env: Vec<(String, String)> =
            [lambda_env(binary), named(declared(binary))].concat().into_iter().filter(|(k, _)| k != missing).collect();
        // (The emulator's own log line names a missing key too: the function's line is wanted.)
        let line = refused_at_init(binary, &env, &["the function cannot start", missing]);
        assert!(line.contains("Lambda sets it"), "{binary}: why it is expected: {line}");
    }
}

/// DynamoDB reached as in AWS, over TLS: a function trusts the roots `SSL_CERT_FILE` names,
/// and no other certificate; without the variable, Amazon Trust Services' roots only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_reaches_dynamodb_over_tls_and_trusts_only_the_roots_it_is_given() {
    use retail_core::domain::StockPolicy;
    let moto = retail_tests::moto::Moto::start();
    let store = moto.store().await;
    retail_tests::moto::stock_a_store(&store, &[("MILK-1L", StockPolicy::Track)]).await;
    let tls = retail_tests::tls::TlsTerminator::start(&moto.endpoint);
    let dir = tempdir("tls");
    let trusted = tls.trust_bundle(&dir);
    let untrusted = dir.join("system-roots-only.pem");
    let system = std::fs::read_to_string(&trusted).unwrap().replace(&tls.ca_pem, "");
    std::fs::write(&untrusted, system).unwrap();
    let lookup = |roots: Option<&std::path::Path>| {
        let mut env = on_dynamodb("commodity-lookup", &store, &tls.endpoint);
        env.extend(roots.map(|roots| ("SSL_CERT_FILE".to_owned(), roots.display().to_string())));
        let f = EmulatedBinary::start("commodity-lookup", &env);
        let event = http_event(
            "GET /stores/{storeId}/commodities/{sku}",
            "/stores/S001/commodities/MILK-1L",
            &[("storeId", "S001"), ("sku", "MILK-1L")],
            "",
            ("pos", Some("S001")),
            &[],
            None,
        );
        let (status, body) = f.call(&event);
        (status, body, f.output())
    };
    let (status, body, output) = lookup(Some(&trusted));
    assert_eq!((status, &body["sku"], &body["price"]["amount"]), (200, &json!("MILK-1L"), &json!(1299)), "{body}\n{output}");
    // The terminator's certificate is not signed by any root the system trusts, nor by
    // Amazon's: refused, and the till hears that DynamoDB is unavailable, not that the milk
    // is unknown.
    for roots in [Some(untrusted.as_path()), None] {
        let (status, body, output) = lookup(roots);
        assert_eq!((status, &body["code"]), (503, &json!("unavailable")), "{roots:?}: {body}\n{output}");
    }
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("retail-host-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_embedded_store_is_used_only_when_asked_for_by_name() {
    let env = with(lambda_env("catalog-admin"), &[("RETAIL_STORE", "memory")]);
    let f = EmulatedBinary::start("catalog-admin", &env);
    let put = |id: &str| {
        let path = format!("/stores/{id}");
        http_event(
            "PUT /stores/{storeId}",
            &path,
            &[("storeId", id)],
            "",
            ("headoffice", None),
            &[],
            Some(&json!({"name": "Memory", "region": "EAST", "timezone": "Asia/Shanghai"})),
        )
    };
    assert_eq!(f.call(&put("M001")).0, 201, "{}", f.output());
    // The same process keeps what it was given: 200 for a replaced store.
    assert_eq!(f.call(&put("M001")).0, 200, "{}", f.output());
    let warning = f.wait_for_line(&["RETAIL_STORE=memory"], OUTPUT);
    assert!(
        warning.as_deref().is_some_and(|w| w.contains("WARN") && w.contains("lost")),
        "the embedded store says its data dies with the process:\n{}",
        f.output()
    );
}

/// Every function binary on moto with only its own tables' variables (and no `RETAIL_STORE`), in
/// the order a day goes: head office sets up a store and a commodity with a barcode and stocks
/// it, prices it; a till looks it up and sells it by barcode; the stream folds a sale; the reports
/// read. Each call must succeed: a call to a table the function was not given would fail.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_function_serves_on_moto_with_only_its_own_tables() {
    let template = retail_tests::workspace_root().join("template.yaml");
    let (sale_event, day) = sale_stream_event(&template).await;
    let moto = retail_tests::moto::Moto::start();
    let store = moto.store().await;
    let start = |binary: &str| {
        let env = on_dynamodb(binary, &store, &moto.endpoint);
        assert_eq!(env.iter().filter(|(k, _)| k.ends_with("_TABLE")).count(), declared(binary).len());
        EmulatedBinary::start(binary, &env)
    };
    let ho = ("headoffice", None);
    let manager = ("store", Some("S001"));
    let till = ("pos", Some("S001"));
    let served = |f: &EmulatedBinary, event: Value, status: u16| -> Value {
        let (got, body) = f.call(&event);
        assert_eq!(got, status, "{} {}: {body}\n--- its output ---\n{}", event["routeKey"], event["rawPath"], f.output());
        body
    };

    let admin = start("catalog-admin");
    let store_body = json!({"name": "One", "region": "EAST", "timezone": "Asia/Shanghai"});
    served(&admin, http_event("PUT /stores/{storeId}", "/stores/S001", &[("storeId", "S001")], "", ho, &[], Some(&store_body)), 201);
    let milk = json!({"name": "Milk", "unit": "each", "taxRateBp": 900, "barcodes": [MILK_BARCODE], "stockPolicy": "track"});
    served(&admin, http_event("PUT /commodities/{sku}", "/commodities/MILK-1L", &[("sku", "MILK-1L")], "", ho, &[], Some(&milk)), 201);
    let receipt = json!({"movements": [{"sku": "MILK-1L", "delta": 40, "reason": "receipt"}]});
    let stocked = served(
        &admin,
        http_event("POST /stores/{storeId}/stock-movements", "/stores/S001/stock-movements", &[("storeId", "S001")], "", manager, &[], Some(&receipt)),
        200,
    );
    assert_eq!(stocked, json!({"stock": [{"sku": "MILK-1L", "onHand": 40}]}));
    served(&admin, http_event("GET /stores/{storeId}/stock/{sku}", "/stores/S001/stock/MILK-1L", &[("storeId", "S001"), ("sku", "MILK-1L")], "", manager, &[], None), 200);
    drop(admin);

    let prices = start("price-adjustment");
    let batch = json!({"batchId": "host-1", "adjustments": [{"sku": "MILK-1L", "scope": "chain", "amount": 1299, "validFrom": "2020-01-01T00:00:00Z"}]});
    let applied = prices.call(&http_event("POST /price-adjustments", "/price-adjustments", &[], "", ho, &[], Some(&batch)));
    assert!(matches!(applied.0, 200 | 201), "{applied:?}\n{}", prices.output());
    served(&prices, http_event("GET /price-adjustments/{batchId}", "/price-adjustments/host-1", &[("batchId", "host-1")], "", ho, &[], None), 200);
    served(&prices, http_event("GET /stores/{storeId}/prices/{sku}", "/stores/S001/prices/MILK-1L", &[("storeId", "S001"), ("sku", "MILK-1L")], "", ho, &[], None), 200);
    drop(prices);

    let lookup = start("commodity-lookup");
    let path = format!("/stores/S001/barcodes/{MILK_BARCODE}");
    let scanned = served(&lookup, http_event("GET /stores/{storeId}/barcodes/{barcode}", &path, &[("storeId", "S001"), ("barcode", MILK_BARCODE)], "", till, &[], None), 200);
    assert_eq!(scanned["stock"]["onHand"], 40, "{scanned}");
    served(&lookup, http_event("GET /stores/{storeId}/commodities/{sku}", "/stores/S001/commodities/MILK-1L", &[("storeId", "S001"), ("sku", "MILK-1L")], "", till, &[], None), 200);
    drop(lookup);

    let checkout = start("checkout");
    let sale = json!({"terminalId": "T1", "lines": [{"barcode": MILK_BARCODE, "quantity": 2}], "payments": [{"method": "cash", "amount": 3000}]});
    let sold = served(
        &checkout,
        http_event("POST /stores/{storeId}/sales", "/stores/S001/sales", &[("storeId", "S001")], "", till, &[("idempotency-key", "host-sale-1")], Some(&sale)),
        201,
    );
    assert_eq!(sold["total"], 2598, "{sold}");
    let sale_id = sold["saleId"].as_str().expect("a sale id").to_owned();
    let path = format!("/stores/S001/sales/{sale_id}");
    let fetched = served(&checkout, http_event("GET /stores/{storeId}/sales/{saleId}", &path, &[("storeId", "S001"), ("saleId", &sale_id)], "", manager, &[], None), 200);
    assert_eq!(fetched, sold);
    drop(checkout);

    let aggregator = start("sales-aggregator");
    let folded = aggregator.invoke(&sale_event);
    // A windowed invocation answers the window's state too (none kept).
    assert_eq!(folded, json!({"state": {}, "batchItemFailures": []}), "{}", aggregator.output());
    drop(aggregator);

    let report = start("sales-report");
    let query = format!("date={day}");
    let daily = served(&report, http_event("GET /stores/{storeId}/reports/daily", "/stores/S001/reports/daily", &[("storeId", "S001")], &query, manager, &[], None), 200);
    assert_eq!(daily["salesCount"], 1, "the folded sale: {daily}");
    let chain = served(&report, http_event("GET /reports/daily", "/reports/daily", &[], &query, ho, &[], None), 200);
    assert!(chain.to_string().contains("S001"), "{chain}");
}

// ---------------------------------------------------------------- the template

type Yaml = serde_norway::Value;

fn template() -> Yaml {
    let path = retail_tests::workspace_root().join("template.yaml");
    serde_norway::from_str(&std::fs::read_to_string(path).expect("template.yaml")).expect("template.yaml parses")
}

/// Function logical id → its binary.
fn template_functions(template: &Yaml) -> BTreeMap<String, String> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(id, r)| {
            let binary = r["Metadata"]["BuildProperties"]["Binary"].as_str().expect("a binary").to_owned();
            (id.as_str().expect("an id").to_owned(), binary)
        })
        .collect()
}

#[test]
fn the_template_gives_each_function_exactly_the_tables_its_binary_requires() {
    let text = std::fs::read_to_string(retail_tests::workspace_root().join("template.yaml")).unwrap();
    let functions = template_functions(&template());
    let binaries: BTreeSet<&str> = functions.values().map(String::as_str).filter(|b| !KEEPS_NO_DATA.contains(b)).collect();
    let declared_binaries: BTreeSet<&str> = DECLARED_TABLES.iter().map(|(b, _)| *b).collect();
    assert_eq!(binaries, declared_binaries, "every function of the template declares its tables, and only those");
    for (id, binary) in &functions {
        // What Lambda would put in its environment: Globals merged with its own.
        let env = retail_local::environment::function_environment(&text, id, &|t| Some(format!("p-{t}"))).unwrap();
        let given: BTreeMap<&str, &str> =
            env.variables.iter().filter(|(k, _)| k.ends_with("_TABLE")).map(|(k, v)| (k.as_str(), v.as_str())).collect();
        if KEEPS_NO_DATA.contains(&binary.as_str()) {
            assert!(given.is_empty(), "{id} ({binary}) keeps no data but is given {given:?}");
            continue;
        }
        let required: BTreeMap<&str, String> =
            declared(binary).iter().map(|t| (t.variable(), format!("p-{}", t.logical_id()))).collect();
        let required: BTreeMap<&str, &str> = required.iter().map(|(k, v)| (*k, v.as_str())).collect();
        assert_eq!(given, required, "{id} ({binary}): the template's table variables against what the binary requires");
    }
}

/// The tables (logical ids) a list of IAM statements grants access to: `!GetAtt X.Arn` of a
/// table, or `!Sub "${X.Arn}/index/NAME"`, one of its indexes (read through, the function needs
/// the table's name). Stream ARNs (`X.StreamArn`, `${X.Arn}/stream/*`) are not the table.
fn tables_granted(statements: &Yaml, tables: &BTreeSet<String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for statement in statements.as_sequence().into_iter().flatten() {
        let resources = match &statement["Resource"] {
            Yaml::Sequence(list) => list.clone(),
            one => vec![one.clone()],
        };
        for resource in resources {
            let Yaml::Tagged(t) = &resource else { continue };
            let target = if t.tag == "GetAtt" {
                t.value.as_str().and_then(|v| v.strip_suffix(".Arn"))
            } else if t.tag == "Sub" {
                t.value.as_str().and_then(|v| v.strip_prefix("${")?.split_once(".Arn}/index/")).map(|(table, _)| table)
            } else {
                None
            };
            if let Some(target) = target.filter(|t| tables.contains(*t)) {
                out.insert(target.to_owned());
            }
        }
    }
    out
}

#[test]
fn each_functions_policy_names_the_tables_it_is_given_and_no_others() {
    let template = template();
    let resources = template["Resources"].as_mapping().unwrap();
    let tables: BTreeSet<String> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::DynamoDB::Table")
        .map(|(id, _)| id.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(tables.len(), Table::ALL.len());
    for (id, binary) in template_functions(&template) {
        let properties = &template["Resources"][id.as_str()]["Properties"];
        if KEEPS_NO_DATA.contains(&binary.as_str()) {
            assert!(properties["Policies"].is_null() && properties["Role"].is_null(), "{id} ({binary}) keeps no data but is given policies");
            continue;
        }
        // Policies inline, or those of the role it names.
        let policies: Vec<Yaml> = match &properties["Role"] {
            Yaml::Tagged(t) if t.tag == "GetAtt" => {
                let role = t.value.as_str().unwrap().strip_suffix(".Arn").expect("Role: !GetAtt X.Arn");
                let policies = template["Resources"][role]["Properties"]["Policies"].as_sequence().expect("the role's policies");
                policies.iter().map(|p| p["PolicyDocument"].clone()).collect()
            }
            _ => properties["Policies"].as_sequence().expect("inline policies").clone(),
        };
        let granted: BTreeSet<String> =
            policies.iter().flat_map(|p| tables_granted(&p["Statement"], &tables)).collect();
        let given: BTreeSet<String> = properties["Environment"]["Variables"]
            .as_mapping()
            .into_iter()
            .flatten()
            .filter_map(|(k, _)| Table::from_variable(k.as_str()?))
            .map(|t| t.logical_id().to_owned())
            .collect();
        assert!(!given.is_empty(), "{id} is given no tables");
        assert_eq!(granted, given, "{id} ({binary}): the tables its policy grants against those it is given");
    }
}

// ---------------------------------------------------------------- what the binaries are made of

/// Each function's dependency graph, as `sam build` compiles it (the function's package alone):
/// one HTTPS stack (hyper 1, rustls 0.23 on ring), no aws-lc (whose jitter entropy costs
/// every cold start tens of milliseconds at Lambda's CPU share) and not the SDK's legacy
/// hyper 0.14 / rustls 0.21 client. A dependency that turns the SDK's default features back on
/// fails here.
#[test]
fn every_function_is_built_with_one_https_stack_and_without_aws_lc() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    for binary in DECLARED_TABLES.iter().map(|(binary, _)| *binary).chain(KEEPS_NO_DATA) {
        let out = std::process::Command::new(&cargo)
            .args(["tree", "--offline", "--locked", "-e", "normal", "--prefix", "none", "-p", binary])
            .current_dir(retail_tests::workspace_root())
            .output()
            .expect("cargo tree runs");
        assert!(out.status.success(), "{binary}: {}", String::from_utf8_lossy(&out.stderr));
        let tree = String::from_utf8_lossy(&out.stdout);
        let crates: BTreeSet<&str> = tree.lines().filter_map(|l| l.split(" (").next()).collect();
        for banned in ["aws-lc-rs", "aws-lc-sys", "hyper v0.14", "rustls v0.21", "hyper-rustls v0.24", "h2 v0.3"] {
            assert!(!crates.iter().any(|c| c.starts_with(banned)), "{binary} depends on {banned}:\n{tree}");
        }
        if !KEEPS_NO_DATA.contains(&binary) {
            for needed in ["rustls v0.23", "ring v0.17", "hyper v1"] {
                assert!(crates.iter().any(|c| c.starts_with(needed)), "{binary} has no {needed}:\n{tree}");
            }
        }
    }
}
