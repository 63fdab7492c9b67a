//! The README's DynamoDB mode as a first-time user runs it: moto from `tests/tools/moto_server.py`,
//! then `retail-local --dynamodb-endpoint` from the workspace with the whole demo seed of
//! `infra/seed` (the other suites seed a slice of it on moto). It must serve the whole demo day.
//! And a seed that stops halfway leaves nothing that blocks the next start: that start deletes
//! the half-filled tables, creates them again and seeds them.

use retail_core::store::dynamo::{DynamoStore, Table, Tables};
use retail_local::{Backend, DynamoOptions, LocalApi, Options, StartError};
use retail_tests::moto::Moto;
use retail_tests::{answer, client, free_port, mint_token, retail_local_bin, workspace_root};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

/// How long the whole seed may take on moto on a busy 2-core machine (it took about a minute
/// and a half there; README "On DynamoDB").
const SEED_LIMIT: Duration = Duration::from_secs(15 * 60);

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn list(value: &Value) -> &Vec<Value> {
    value.as_array().expect("a seed file is a JSON list")
}

/// What the seed files say each store holds of each sku once yesterday's sales are taken off:
/// the deliveries of stock.json less the units (grams for a weighed line) sold in sales.json.
fn expected_stock(seed: &Path) -> BTreeMap<(String, String), i64> {
    let mut on_hand: BTreeMap<(String, String), i64> = BTreeMap::new();
    for request in list(&read_json(&seed.join("stock.json"))) {
        let store = request["storeId"].as_str().expect("storeId").to_owned();
        for movement in request["body"]["movements"].as_array().expect("movements") {
            let sku = movement["sku"].as_str().expect("sku").to_owned();
            *on_hand.entry((store.clone(), sku)).or_default() += movement["delta"].as_i64().expect("delta");
        }
    }
    for sale in list(&read_json(&seed.join("sales.json"))) {
        let store = sale["storeId"].as_str().expect("storeId").to_owned();
        for line in sale["body"]["lines"].as_array().expect("lines") {
            let sku = line["sku"].as_str().expect("sku").to_owned();
            let sold = line["weightGrams"].as_i64().or_else(|| line["quantity"].as_i64()).unwrap_or(1);
            *on_hand.entry((store.clone(), sku)).or_default() -= sold;
        }
    }
    on_hand
}

/// Yesterday in the demo stores' timezone (they all keep Asia/Shanghai, UTC+8 all year).
fn yesterday(stores: &[Value]) -> String {
    for store in stores {
        assert_eq!(store["body"]["timezone"], "Asia/Shanghai", "this test dates the demo day in UTC+8: {store}");
    }
    let utc8 = chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8");
    (chrono::Utc::now().with_timezone(&utc8).date_naive() - chrono::Days::new(1)).to_string()
}

/// `retail-local` started from the workspace as the README starts it, its output collected.
struct Started {
    child: Child,
    base: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Started {
    fn log(&self) -> String {
        self.stderr.lock().expect("log").join("\n")
    }
}

impl Drop for Started {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `retail-local --addr <free port> --dynamodb-endpoint <moto>` in the workspace (the README's
/// command, on a free port): the template, the whole seed and the signing key are its defaults.
/// Returns once it printed its banner, i.e. seeding finished, with the banner.
fn start_as_the_readme_does(endpoint: &str) -> (Started, String) {
    let addr = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(retail_local_bin())
        .args(["--addr", &addr, "--dynamodb-endpoint", endpoint])
        .current_dir(workspace_root())
        .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("retail-local starts");
    let stderr = Arc::new(Mutex::new(Vec::new()));
    let lines = Arc::clone(&stderr);
    let err = child.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines().map_while(Result::ok) {
            eprintln!("retail-local: {line}");
            lines.lock().expect("log").push(line);
        }
    });
    let (banner_tx, banner_rx) = mpsc::channel();
    let out = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        let mut out = BufReader::new(out);
        let mut banner = String::new();
        let _ = out.read_line(&mut banner);
        let _ = banner_tx.send(banner);
        // Keep draining, so a full pipe never blocks it.
        std::io::copy(&mut out, &mut std::io::sink()).ok();
    });
    let mut started = Started { child, base: format!("http://{addr}"), stderr };
    let begun = Instant::now();
    loop {
        match banner_rx.recv_timeout(Duration::from_millis(500)) {
            Ok(banner) if !banner.is_empty() => return (started, banner),
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let status = started.child.wait().expect("retail-local exits");
                panic!("retail-local stopped before serving ({status}):\n{}", started.log());
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if let Ok(Some(status)) = started.child.try_wait() {
                    panic!("retail-local stopped before serving ({status}):\n{}", started.log());
                }
                assert!(begun.elapsed() < SEED_LIMIT, "not seeded within {SEED_LIMIT:?}:\n{}", started.log());
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_readme_dynamodb_mode_serves_the_whole_demo_day() {
    let seed = workspace_root().join("infra/seed");
    let stores = list(&read_json(&seed.join("stores.json"))).clone();
    let commodities = list(&read_json(&seed.join("commodities.json"))).clone();
    let sales = list(&read_json(&seed.join("sales.json"))).clone();
    let moto = Moto::start();

    let begun = Instant::now();
    let (api, banner) = start_as_the_readme_does(&moto.endpoint);
    let seeded_in = begun.elapsed();
    eprintln!("the whole demo seed on moto: serving after {:.1} s", seeded_in.as_secs_f64());
    let counts = format!("seeded: {} stores, {} commodities, ", stores.len(), commodities.len());
    assert!(banner.contains(&counts), "{banner}");
    assert!(banner.contains(&format!(", {} sales yesterday", sales.len())), "{banner}");
    let log = api.log();
    assert!(log.contains("seeding the demo data from"), "seeding says what it loads:\n{log}");
    // While seeding, reading the sales stream may time out (moto is busy): not a warning then.
    let stream_warnings: Vec<&str> = log.lines().filter(|l| l.contains("WARN") && l.contains("stream")).collect();
    assert!(stream_warnings.is_empty(), "{stream_warnings:#?}");

    let template = workspace_root().join("template.yaml");
    let c = client();
    // Yesterday's report of every store, fed by the sales table's stream (first: once it has
    // drained, the tracked stock it takes has caught up too).
    let day = yesterday(&stores);
    for store in &stores {
        let id = store["storeId"].as_str().expect("storeId");
        let want = sales.iter().filter(|s| s["storeId"] == id).count();
        assert!(want > 0);
        let manager = mint_token(&template, "store", Some(id), None);
        let waited = Instant::now();
        let report = loop {
            let url = format!("{}/stores/{id}/reports/daily?date={day}", api.base);
            let a = answer(c.get(&url).bearer_auth(&manager).send().await.expect("report")).await;
            assert_eq!(a.status, 200, "{}", a.body);
            if a.body["salesCount"] == json!(want) {
                break a.body;
            }
            assert!(waited.elapsed() < Duration::from_secs(120), "{id}: the report did not reach {want} sales: {}", a.body);
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        assert!(report["grossAmount"].as_i64().is_some_and(|g| g > 0), "{report}");
    }
    let expected = expected_stock(&seed);
    let skus: Vec<&str> = commodities.iter().map(|c| c["sku"].as_str().expect("sku")).collect();
    for store in &stores {
        let id = store["storeId"].as_str().expect("storeId");
        let till = mint_token(&template, "pos", Some(id), None);
        // Every commodity of the catalog, 100 at a time, with its price and this store's stock.
        let mut found = BTreeSet::new();
        for chunk in skus.chunks(100) {
            let url = format!("{}/stores/{id}/commodities/lookup", api.base);
            // Tracked stock is taken from the sales stream: wait for it like the reports below.
            let holds = |a: &retail_tests::Answer| {
                a.body["items"].as_array().is_some_and(|items| {
                    items.iter().all(|item| {
                        let sku = item["sku"].as_str().unwrap_or_default().to_owned();
                        item["stock"]["onHand"] == json!(expected.get(&(id.to_owned(), sku)).copied().unwrap_or(0))
                    })
                })
            };
            let lookup = || async { answer(c.post(&url).bearer_auth(&till).json(&json!({"skus": chunk})).send().await.expect("lookup")).await };
            let a = retail_tests::settled(lookup, holds).await;
            assert_eq!(a.status, 200, "{}", a.body);
            assert_eq!(a.body["notFound"], json!([]), "{id}");
            for item in a.body["items"].as_array().expect("items") {
                let sku = item["sku"].as_str().expect("sku").to_owned();
                assert!(item["price"]["amount"].as_i64().is_some_and(|p| p > 0), "{id} {sku} has no price: {item}");
                let want = expected.get(&(id.to_owned(), sku.clone())).copied().unwrap_or(0);
                assert_eq!(item["stock"]["onHand"], json!(want), "{id} {sku}: {item}");
                found.insert(sku);
            }
        }
        assert_eq!(found.len(), commodities.len(), "{id} serves every commodity of the seed");

        // The strict flash-sale item: its movements spread over several stock items.
        let manager = mint_token(&template, "store", Some(id), None);
        let a = answer(c.get(format!("{}/stores/{id}/stock/FLASH-001", api.base)).bearer_auth(&manager).send().await.expect("stock")).await;
        assert_eq!(a.status, 200, "{}", a.body);
        assert_eq!(a.body["policy"], "strict");
        assert_eq!(a.body["onHand"], json!(expected[&(id.to_owned(), "FLASH-001".to_owned())]), "{}", a.body);
        assert!(a.body["shards"].as_array().is_some_and(|s| s.len() > 1), "{}", a.body);
    }

    let ho = mint_token(&template, "headoffice", None, None);
    let chain = answer(c.get(format!("{}/reports/daily?date={day}", api.base)).bearer_auth(&ho).send().await.expect("chain")).await;
    assert_eq!(chain.status, 200, "{}", chain.body);
    let reported: BTreeSet<&str> = chain.body["stores"].as_array().expect("stores").iter().filter_map(|s| s["storeId"].as_str()).collect();
    let seeded: BTreeSet<&str> = stores.iter().filter_map(|s| s["storeId"].as_str()).collect();
    assert_eq!(reported, seeded);

    // One line per request at the default level, with the id the answer carries.
    let a = c.get(format!("{}/health", api.base)).send().await.expect("health");
    let id = a.headers()["apigw-requestid"].to_str().expect("id").to_owned();
    let waited = Instant::now();
    while !api.log().lines().any(|l| l.contains("GET /health 200") && l.contains(&id)) {
        assert!(waited.elapsed() < Duration::from_secs(5), "no request line for {id}:\n{}", api.log());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn on(endpoint: &str, prefix: &str, seed: Option<&Path>) -> Options {
    let options = Options::new(workspace_root().join("template.yaml")).backend(Backend::Dynamo(DynamoOptions {
        endpoint: endpoint.to_owned(),
        table_prefix: prefix.to_owned(),
        emulator: None,
    }));
    match seed {
        Some(dir) => options.seed_dir(dir),
        None => options.without_seed(),
    }
}

/// `MILK-1L`'s stock in S001, through the API, once it is `want` (tracked stock is taken from
/// the sales stream, a moment after the sales), or as it is after `STREAM_CATCH_UP`.
async fn milk_in_s001(api: &LocalApi, want: i64) -> Value {
    retail_tests::settled(|| milk_now(api), |v| *v == json!(want)).await
}

async fn milk_now(api: &LocalApi) -> Value {
    let till = api.token(&["pos"], Some("S001"));
    let request = http::Request::get("/stores/S001/commodities/MILK-1L")
        .header("authorization", format!("Bearer {till}"))
        .body(String::new())
        .expect("request");
    let response = api.call(request).await;
    assert_eq!(response.status(), 200, "{:?}", response.body());
    let body: Value = serde_json::from_slice(response.body()).expect("json");
    body["stock"]["onHand"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seed_that_stops_halfway_is_started_over_by_the_next_start() {
    let moto = Moto::start();
    let root = std::env::temp_dir().join(format!("retail-demo-seed-recovery-{}", std::process::id()));
    let good = retail_tests::seed::write_slice(&root.join("good"));
    let expected = expected_stock(&good)[&("S001".to_owned(), "MILK-1L".to_owned())];
    // The same slice, with a last delivery the function refuses: every store's stock is written
    // before seeding stops, so seeding it all again on top would count it twice.
    let broken = retail_tests::seed::write_slice(&root.join("broken"));
    let mut stock = read_json(&broken.join("stock.json"));
    stock.as_array_mut().expect("a list").push(json!({"storeId": "S001", "body": {"movements": [{"sku": "NO-SUCH-SKU", "delta": 1, "reason": "receipt"}]}}));
    std::fs::write(broken.join("stock.json"), serde_json::to_vec(&stock).expect("json")).expect("write");

    let prefix = "halfway-";
    let err = LocalApi::start(&on(&moto.endpoint, prefix, Some(&broken))).await.err().expect("the broken seed fails");
    assert!(matches!(err, StartError::Seed(_)), "{err}");
    assert!(err.to_string().contains("stock.json") && err.to_string().contains("NO-SUCH-SKU"), "{err}");

    // Without seeding, the half-filled tables are served as they are, and left alone.
    let api = LocalApi::start(&on(&moto.endpoint, prefix, None)).await.expect("starts");
    assert!(api.created_tables().is_empty() && api.seeded().is_none());
    assert_eq!(milk_in_s001(&api, expected).await, json!(expected), "the broken seed's deliveries were written");
    drop(api);

    // With seeding: the tables are created again and seeded once.
    let api = LocalApi::start(&on(&moto.endpoint, prefix, Some(&good))).await.expect("the next start recovers");
    assert_eq!(api.created_tables().len(), Table::ALL.len(), "{:?}", api.created_tables());
    assert!(api.seeded().is_some_and(|s| s.stock_movements > 0));
    assert_eq!(milk_in_s001(&api, expected).await, json!(expected), "every delivery counted once");
    drop(api);

    // A finished seed is kept.
    let api = LocalApi::start(&on(&moto.endpoint, prefix, Some(&good))).await.expect("starts again");
    assert!(api.created_tables().is_empty() && api.seeded().is_none());
    assert_eq!(milk_in_s001(&api, expected).await, json!(expected));
    drop(api);

    // Tables that hold data retail-local did not seed are not seeded (nor deleted).
    let other = "theirs-";
    let store = DynamoStore::for_endpoint(&moto.endpoint, Tables::with_prefix(other));
    let template = retail_local::Template::load(&workspace_root().join("template.yaml")).expect("template");
    store.create_missing_tables(&template.tables).await.expect("tables");
    store
        .client()
        .put_item()
        .table_name(&store.tables().stores)
        .item("pk", aws_sdk_dynamodb::types::AttributeValue::S("THEIRS".into()))
        .send()
        .await
        .expect("their item");
    let api = LocalApi::start(&on(&moto.endpoint, other, Some(&good))).await.expect("starts");
    assert!(api.created_tables().is_empty() && api.seeded().is_none());
    drop(api);
    // Empty tables with no seed marker (created by a start that stopped before seeding) are seeded.
    let empty = "empty-";
    DynamoStore::for_endpoint(&moto.endpoint, Tables::with_prefix(empty))
        .create_missing_tables(&template.tables)
        .await
        .expect("tables");
    let api = LocalApi::start(&on(&moto.endpoint, empty, Some(&good))).await.expect("starts");
    assert!(api.seeded().is_some());
    assert_eq!(milk_in_s001(&api, expected).await, json!(expected));
    drop(api);
    let _ = std::fs::remove_dir_all(root);
}
