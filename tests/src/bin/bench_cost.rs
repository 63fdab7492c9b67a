//! What a sale costs: a hypermarket-like evening on the DynamoDB adapter (moto), the functions
//! as Lambda runs them (each binary under the Runtime Interface Emulator with the template's
//! environment and memory size), priced per million 20-line checkouts.
//!
//! The evening: one store, a catalog of `--skus` commodities (5,000) with chain prices and stock
//! (a few flash items `strict`, the rest `track`), a spend-and-save and a percent-off on fresh
//! items in force; `--sales` checkouts (1,000) of `--lines` lines (20) whose skus follow a long
//! tail (Zipf, exponent 1: the most popular sku is picked 1/H(n) of the time), a flash item in
//! one basket in ten; the store report read every `--report-every` sales (25); the sales
//! table's stream read back and handed to `sales-aggregator` in batches of the template's
//! `BatchSize` (1,000), as the event source mapping does when sales come faster than its window
//! (`--batch N`: as if N of the store's sales shared each batch, as when they come slower or a
//! stream shard carries many stores).
//!
//! What it counts, per function:
//! - DynamoDB read and write units by DynamoDB's published sizing rules, from the
//!   `dynamodb capacity` line each function logs per invocation (the adapter's cost meter,
//!   `shared/src/store/dynamo/meter.rs`): moto's own capacity figures are not DynamoDB's;
//! - Lambda GB-seconds: each invocation's `Billed Duration` from the emulator's `REPORT` line
//!   × the template's `MemorySize` for that function; and Lambda requests;
//! - API requests (checkouts and report reads; the aggregator is not behind the API);
//! - each function process's peak resident memory (`VmHWM`; the emulator's "Max Memory Used"
//!   only repeats the configured size), to check the configured size.
//!
//! Prices: us-east-1, on demand, 2026-12 ([`PRICES`]). The split: checkout writes (the sale,
//! its key, anything not stock), checkout reads, stock (writes to the stock table by any
//! function), aggregator (the store-day folds: everything the aggregator writes and reads but
//! stock), report reads, Lambda, API.
//!
//! `cargo build --release --workspace --bins && cargo run --release --bin bench-cost --
//! [--sales N] [--skus N] [--lines N] [--report-every N] [--batch N] [--no-settle] [--json]
//! [--show-log]` (`--json`: the figures as one JSON line too; `--show-log`: the capacity and
//! REPORT lines of the aggregator and of the first checkouts; `--no-settle`: the evening starts
//! the moment the seed's 5,000-sku push is stored, instead of a minute later).

use catalog_admin::CatalogAdmin;
use chrono::{Duration as Days, SecondsFormat, Utc};
use price_adjustment::PriceAdjustments;
use retail_core::domain::catalog_feed::RESEND_WINDOW;
use retail_core::host::CAPACITY_MESSAGE;
use retail_core::http::HttpFunction;
use retail_core::store::dynamo::DynamoStore;
use retail_core::testing::Event;
use retail_local::environment::function_environment;
use retail_local::template::Template;
use retail_tests::harness::Dice;
use retail_tests::lambda::{EmulatedBinary, http_event, lambda_env};
use retail_tests::moto::Moto;
use retail_tests::workspace_root;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// On-demand prices, us-east-1, as of 2026-12 (USD).
struct Prices {
    per_million_write_units: f64,
    per_million_read_units: f64,
    /// Lambda arm64, per GB-second.
    per_gb_second: f64,
    per_million_lambda_requests: f64,
    /// API Gateway HTTP API, the first 300 million a month.
    per_million_api_requests: f64,
}

const PRICES: Prices = Prices {
    per_million_write_units: 0.625,
    per_million_read_units: 0.125,
    per_gb_second: 0.000_013_333_4,
    per_million_lambda_requests: 0.20,
    per_million_api_requests: 1.00,
};

/// The store the evening sells in.
const STORE: &str = "S001";
/// Flash items: strict stock, in one basket in ten.
const FLASH: usize = 5;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| v.parse().expect("a number")).unwrap_or(default)
}

/// Picks ranks 0..n with probability ∝ 1/(rank+1): a catalog's long tail.
struct LongTail {
    cumulative: Vec<f64>,
}

impl LongTail {
    fn new(n: usize) -> Self {
        let mut total = 0.0;
        let cumulative = (0..n)
            .map(|k| {
                total += 1.0 / (k as f64 + 1.0);
                total
            })
            .collect::<Vec<_>>();
        LongTail { cumulative: cumulative.iter().map(|c| c / total).collect() }
    }

    fn pick(&self, dice: &mut Dice) -> usize {
        let u = dice.unit();
        self.cumulative.partition_point(|c| *c < u).min(self.cumulative.len() - 1)
    }
}

fn sku(rank: usize) -> String {
    format!("HM-{rank:05}")
}

fn flash_sku(i: usize) -> String {
    format!("FLASH-{i}")
}

/// An EAN-13 of twelve digits and their check digit.
fn ean13(first12: u64) -> String {
    let digits = format!("{first12:012}");
    let sum: u32 = digits.chars().enumerate().map(|(i, c)| c.to_digit(10).unwrap_or(0) * if i % 2 == 0 { 1 } else { 3 }).sum();
    format!("{digits}{}", (10 - sum % 10) % 10)
}

fn ok(what: &str, response: lambda_http::Response<lambda_http::Body>) {
    assert!(response.status().is_success(), "{what} refused: {} {:?}", response.status(), response.body());
}

/// The catalog, its prices and stock, and two promotions, written through the use cases.
async fn seed(store: &DynamoStore, skus: usize) {
    let admin = CatalogAdmin::new(store.clone());
    let prices = PriceAdjustments::new(store.clone());
    let ho = |e: Event| e.claims("headoffice", None);
    ok(
        "the store",
        admin
            .call(ho(Event::new("PUT", "/stores/{storeId}", &format!("/stores/{STORE}")))
                .json(&json!({"name": "Hypermarket", "region": "EAST", "timezone": "Asia/Shanghai"}))
                .request())
            .await,
    );
    let all: Vec<(String, bool)> = (0..FLASH).map(|i| (flash_sku(i), true)).chain((0..skus).map(|r| (sku(r), false))).collect();
    for (n, (sku, flash)) in all.iter().enumerate() {
        let fresh = !flash && n % 7 == 0;
        // Names of 25 to 40 characters, as a hypermarket's are.
        let name = format!("{} {sku} {}", if fresh { "Fresh produce" } else { "Grocery item" }, "x".repeat(n % 16));
        ok(
            "a commodity",
            admin
                .call(ho(Event::new("PUT", "/commodities/{sku}", &format!("/commodities/{sku}")))
                    .json(&json!({"name": name, "unit": "each", "taxRateBp": if n % 2 == 0 { 1300 } else { 900 },
                        "barcodes": [ean13(690_000_000_000 + n as u64)],
                        "stockPolicy": if *flash { "strict" } else { "track" },
                        "category": if fresh { "fresh" } else { "grocery" }}))
                    .request())
                .await,
        );
    }
    for (batch, chunk) in all.chunks(500).enumerate() {
        let adjustments: Vec<Value> = chunk
            .iter()
            .enumerate()
            .map(|(i, (sku, _))| json!({"sku": sku, "scope": "chain", "amount": 150 + 37 * ((batch * 500 + i) % 400) as i64, "validFrom": "2020-01-01T00:00:00Z"}))
            .collect();
        ok(
            "prices",
            prices
                .call(ho(Event::new("POST", "/price-adjustments", "/price-adjustments"))
                    .json(&json!({"batchId": format!("cost-{batch}"), "adjustments": adjustments}))
                    .request())
                .await,
        );
    }
    for chunk in all.chunks(100) {
        let movements: Vec<Value> =
            chunk.iter().map(|(sku, flash)| json!({"sku": sku, "delta": if *flash { 1_000 } else { 100_000 }, "reason": "receipt"})).collect();
        ok(
            "stock",
            admin
                .call(ho(Event::new("POST", "/stores/{storeId}/stock-movements", &format!("/stores/{STORE}/stock-movements")))
                    .json(&json!({"movements": movements}))
                    .request())
                .await,
        );
    }
    let at = |hours: i64| (Utc::now() + Days::hours(hours)).to_rfc3339_opts(SecondsFormat::Secs, true);
    for (id, rule) in [
        ("cost-fresh-10", json!({"kind": "percent_off", "percentBp": 1000, "categories": ["fresh"]})),
        ("cost-300-20", json!({"kind": "spend_and_save", "threshold": 30000, "discount": 2000})),
    ] {
        let body = json!({"name": id, "scope": "chain", "validFrom": at(-1), "validTo": at(23), "rule": rule});
        ok("a promotion", prices.call(ho(Event::new("PUT", "/promotions/{promotionId}", &format!("/promotions/{id}"))).json(&body).request()).await);
    }
}

/// A function under the emulator with its template environment, and what it is priced at.
struct Function {
    name: &'static str,
    memory_mb: u32,
    emulated: EmulatedBinary,
}

/// What one function's log says it did.
#[derive(Default, Debug)]
struct Usage {
    invocations: u64,
    billed_ms: u64,
    durations_ms: Vec<f64>,
    /// By table's logical id: (read units, write units).
    units: BTreeMap<String, (f64, f64)>,
    peak_kb: u64,
}

impl Function {
    fn start(template_text: &str, template: &Template, store: &DynamoStore, moto: &Moto, logical_id: &str, name: &'static str) -> Function {
        let decl = template.functions.iter().find(|f| f.logical_id == logical_id).expect("the function is declared");
        let binary = decl.binary.as_deref().expect("a binary");
        let tables = store.tables().clone();
        let fenv = function_environment(template_text, logical_id, &|id| tables.by_logical_id(id).map(str::to_owned))
            .expect("the function's environment resolves");
        let mut env = lambda_env(binary);
        env.retain(|(k, _)| k != "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" && k != "AWS_LAMBDA_FUNCTION_TIMEOUT");
        env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), fenv.memory_mb.to_string()));
        env.push(("AWS_LAMBDA_FUNCTION_TIMEOUT".into(), fenv.timeout_s.to_string()));
        env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), moto.endpoint.clone()));
        // What Lambda sets from the template's LoggingConfig: the functions log JSON lines.
        env.push(("AWS_LAMBDA_LOG_FORMAT".into(), fenv.log_format.to_uppercase()));
        env.extend(fenv.variables);
        Function { name, memory_mb: fenv.memory_mb, emulated: EmulatedBinary::start(binary, &env) }
    }

    /// The function's output read for REPORT and capacity lines, and its process's peak memory.
    fn usage(&self) -> Usage {
        let mut usage = Usage { peak_kb: self.emulated.function_peak_kb().unwrap_or(0), ..Usage::default() };
        for line in self.emulated.output().lines() {
            if let Some(rest) = line.find("REPORT RequestId").map(|at| &line[at..]) {
                // Tab-separated: `Init Duration: ...` (a cold start's), `Duration: 12.34 ms`,
                // `Billed Duration: 13 ms`, ...
                let field = |name: &str| -> Option<f64> {
                    rest.split('\t').find_map(|f| f.trim().strip_prefix(name)).and_then(|v| v.split_whitespace().next()?.parse().ok())
                };
                if let Some(ms) = field("Duration:") {
                    usage.invocations += 1;
                    usage.durations_ms.push(ms);
                    usage.billed_ms += field("Billed Duration:").map(|b| b as u64).unwrap_or(ms.ceil() as u64);
                }
            } else if let Some(doc) =
                line.find('{').filter(|_| line.contains(CAPACITY_MESSAGE)).and_then(|at| serde_json::from_str::<Value>(&line[at..]).ok())
            {
                for (table, (read, write)) in capacity_by_table(&doc) {
                    let entry = usage.units.entry(table).or_default();
                    entry.0 += read;
                    entry.1 += write;
                }
            }
        }
        usage
    }
}

/// The computed units of one `dynamodb capacity` log line, by table's logical id: its `calls`
/// field is a JSON object (as a string) of operation → table → tally (see `host::log_consumed`).
fn capacity_by_table(line: &Value) -> BTreeMap<String, (f64, f64)> {
    let mut out: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let calls = line.pointer("/fields/calls").or_else(|| line.get("calls")).and_then(Value::as_str);
    let Some(calls) = calls.and_then(|c| serde_json::from_str::<Value>(c).ok()) else {
        return out;
    };
    for tables in calls.as_object().into_iter().flat_map(|o| o.values()) {
        for (table, tally) in tables.as_object().into_iter().flatten() {
            let entry = out.entry(table.clone()).or_default();
            entry.0 += tally.get("readUnits").and_then(Value::as_f64).unwrap_or(0.0);
            entry.1 += tally.get("writeUnits").and_then(Value::as_f64).unwrap_or(0.0);
        }
    }
    out
}

/// The next records of the sales table's stream, at most `limit`, as Lambda's event records.
struct SalesStream {
    client: aws_sdk_dynamodbstreams::Client,
    arn: String,
    shard: String,
    iterator: Option<String>,
}

impl SalesStream {
    async fn open(store: &DynamoStore, endpoint: &str) -> SalesStream {
        let dynamodb = store.client();
        let table = dynamodb.describe_table().table_name(&store.tables().sales).send().await.expect("the sales table");
        let arn = table.table().and_then(|t| t.latest_stream_arn()).expect("the sales table has a stream").to_owned();
        // As retail-local's stream reader, with a longer timeout: moto reads a shard slowly.
        let client = aws_sdk_dynamodbstreams::Client::from_conf(
            retail_local::dynamo_stream::streams_client_for(dynamodb, endpoint)
                .config()
                .to_builder()
                .timeout_config(aws_smithy_types::timeout::TimeoutConfig::builder().operation_timeout(std::time::Duration::from_secs(60)).operation_attempt_timeout(std::time::Duration::from_secs(60)).build())
                .build(),
        );
        let stream = client.describe_stream().stream_arn(&arn).send().await.expect("the stream");
        let shards = stream.stream_description().map(|d| d.shards().to_vec()).unwrap_or_default();
        assert_eq!(shards.len(), 1, "moto keeps one shard per table");
        let shard = shards[0].shard_id().expect("a shard id").to_owned();
        let iterator = client
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(&shard)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .expect("an iterator")
            .shard_iterator
            .expect("an iterator");
        SalesStream { client, arn, shard, iterator: Some(iterator) }
    }

    async fn next(&mut self, limit: usize) -> Vec<Value> {
        let Some(iterator) = self.iterator.clone() else { return Vec::new() };
        let out = self.client.get_records().shard_iterator(iterator).limit(limit as i32).send().await.expect("records");
        self.iterator = out.next_shard_iterator.clone();
        out.records().iter().map(|r| retail_local::dynamo_stream::record_json(r, &self.arn, "us-east-1")).collect()
    }
}

fn median(values: &mut [f64]) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sales = arg("--sales", 1_000);
    let skus = arg("--skus", 5_000);
    let lines = arg("--lines", 20);
    let report_every = arg("--report-every", 25).max(1);
    let root = workspace_root();
    let template_path = root.join("template.yaml");
    let text = std::fs::read_to_string(&template_path).expect("template.yaml");
    let template = Template::load(&template_path).expect("template.yaml parses");
    let batch_size = arg(
        "--batch",
        template.functions.iter().flat_map(|f| f.streams.iter()).map(|s| s.batch_size).next().expect("the aggregator's stream"),
    )
    .clamp(1, 1_000); // one GetRecords call reads at most 1,000 records

    let moto = Moto::start();
    let store = moto.store().await;
    let seeding = std::time::Instant::now();
    seed(&store, skus).await;
    eprintln!("seeded {skus} commodities on moto in {:.0?}", seeding.elapsed());
    if !std::env::args().any(|a| a == "--no-settle") {
        // An evening's catalog was loaded before it began. For a minute after a push of more
        // changes than a checkout's poll reads, every poll drops the kept catalog whole (the
        // feed is read a minute back for late commits): `--no-settle` plays that minute too.
        let settle = (RESEND_WINDOW + Days::seconds(1)).to_std().expect("a positive window");
        eprintln!("waiting {settle:?} for the seed to leave the feed's resend window");
        tokio::time::sleep(settle).await;
    }

    let checkout = Function::start(&text, &template, &store, &moto, "CheckoutFunction", "checkout");
    let aggregator = Function::start(&text, &template, &store, &moto, "SalesAggregatorFunction", "sales-aggregator");
    let report = Function::start(&text, &template, &store, &moto, "SalesReportFunction", "sales-report");
    let mut stream = SalesStream::open(&store, &moto.endpoint).await;
    // The seed wrote no sales; the stream starts empty.
    let mut dice = Dice(0x5EED_0011_1111);
    let tail = LongTail::new(skus);
    let till = ("pos", Some(STORE));
    let manager = ("store", Some(STORE));
    let today = Utc::now().with_timezone(&chrono_tz_shanghai()).date_naive().to_string();
    // A manager's read of today's store report (its token's claims are fresh for an hour).
    let report_event = http_event(
        "GET /stores/{storeId}/reports/daily",
        &format!("/stores/{STORE}/reports/daily"),
        &[("storeId", STORE)],
        &format!("date={today}"),
        manager,
        &[],
        None,
    );
    let (mut api_requests, mut stream_batches, mut recorded) = (0u64, 0u64, 0u64);
    let mut naive = Naive::default();
    let played = std::time::Instant::now();
    for n in 0..sales {
        let mut picked: Vec<String> = Vec::new();
        if dice.unit() < 0.1 {
            picked.push(flash_sku(dice.below(FLASH)));
        }
        while picked.len() < lines {
            let s = sku(tail.pick(&mut dice));
            if !picked.contains(&s) {
                picked.push(s);
            }
        }
        let basket: Vec<Value> = picked.iter().map(|s| json!({"sku": s, "quantity": 1 + dice.below(3)})).collect();
        let body = json!({"terminalId": format!("T{:02}", n % 40), "lines": basket, "payments": [{"method": "cash", "amount": 10_000_000}]});
        let key = format!("cost-{n}");
        let event = http_event(
            "POST /stores/{storeId}/sales",
            &format!("/stores/{STORE}/sales"),
            &[("storeId", STORE)],
            "",
            till,
            &[("idempotency-key", key.as_str())],
            Some(&body),
        );
        let (status, answer) = checkout.emulated.call(&event);
        api_requests += 1;
        assert_eq!(status, 201, "sale {n}: {answer}");
        recorded += 1;
        naive.sold(&picked);
        if (n + 1) % batch_size == 0 || n + 1 == sales {
            loop {
                let records = stream.next(batch_size).await;
                if records.is_empty() {
                    break;
                }
                let answer = aggregator.emulated.invoke(&json!({"Records": records, "shardId": stream.shard}));
                stream_batches += 1;
                naive.folded_batch();
                let failed = answer.get("batchItemFailures").and_then(Value::as_array).map_or(0, Vec::len);
                assert_eq!(failed, 0, "the aggregator failed records: {answer}");
            }
        }
        if (n + 1) % report_every == 0 {
            let (status, answer) = report.emulated.call(&report_event);
            api_requests += 1;
            assert_eq!(status, 200, "the report: {answer}");
        }
    }
    eprintln!("played {sales} checkouts in {:.0?}, {stream_batches} stream batches of up to {batch_size}", played.elapsed());

    // The report after the stream drained counts every sale once.
    let (_, final_report) = report.emulated.call(&report_event);
    api_requests += 1;
    assert_eq!(final_report["salesCount"].as_u64(), Some(recorded), "the report counts every sale once: {final_report}");

    if std::env::args().any(|a| a == "--show-log") {
        for line in aggregator.emulated.output().lines().chain(checkout.emulated.output().lines().take(30)).filter(|l| l.contains("REPORT") || l.contains("capacity")) {
            eprintln!("{line}");
        }
    }
    let functions = [&checkout, &aggregator, &report];
    let usages: Vec<(&Function, Usage)> = functions.iter().map(|f| (*f, f.usage())).collect();
    print_costs(&usages, sales as f64, api_requests, &naive);
}

/// The store's timezone for its business day.
fn chrono_tz_shanghai() -> chrono::FixedOffset {
    chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8")
}

/// The naive design priced from the same evening by the same sizing rules: every stock line in
/// the checkout's transaction (two units each, tracked or strict), every sku of a basket read
/// (its commodity and three schedules, one unit each, strongly consistent) on every sale, and
/// the store-day one item rewritten in a transaction per batch (two units per started KB of an
/// item that grows about 74 bytes per sku the day has sold, after a strongly consistent read).
/// Its sale, key, claim and receipt counter cost what this run's did, and Lambda, API and report
/// reads too.
#[derive(Default)]
struct Naive {
    /// Stock lines sold (one stock item each).
    lines: u64,
    /// The skus the day has sold so far.
    day: std::collections::HashSet<String>,
    aggregator_read_units: f64,
    aggregator_write_units: f64,
}

impl Naive {
    /// Bytes of the one-item store-day: its totals, hours and tenders, and an entry per sku.
    const HEAD_BYTES: f64 = 1_000.0;
    const BYTES_PER_SKU: f64 = 74.0;

    fn sold(&mut self, skus: &[String]) {
        self.lines += skus.len() as u64;
        self.day.extend(skus.iter().cloned());
    }

    fn folded_batch(&mut self) {
        let bytes = Self::HEAD_BYTES + Self::BYTES_PER_SKU * self.day.len() as f64;
        self.aggregator_read_units += (bytes / 4096.0).ceil();
        self.aggregator_write_units += 2.0 * (bytes / 1024.0).ceil();
    }
}

fn print_costs(usages: &[(&Function, Usage)], sales: f64, api_requests: u64, naive: &Naive) {
    let per_million = |dollars: f64| dollars / sales * 1e6;
    let reads = |u: &Usage, stock: bool| -> f64 { u.units.iter().filter(|(t, _)| (t.as_str() == "StockTable") == stock).map(|(_, (r, _))| r).sum() };
    let writes = |u: &Usage, stock: bool| -> f64 { u.units.iter().filter(|(t, _)| (t.as_str() == "StockTable") == stock).map(|(_, (_, w))| w).sum() };
    let wcu = |units: f64| units * PRICES.per_million_write_units / 1e6;
    let rcu = |units: f64| units * PRICES.per_million_read_units / 1e6;
    let by = |name: &str| usages.iter().find(|(f, _)| f.name == name).map(|(_, u)| u).expect("a function");
    let (checkout, aggregator, report) = (by("checkout"), by("sales-aggregator"), by("sales-report"));
    let stock: f64 = usages.iter().map(|(_, u)| wcu(writes(u, true)) + rcu(reads(u, true))).sum();
    let lambda: f64 = usages
        .iter()
        .map(|(f, u)| {
            u.billed_ms as f64 / 1000.0 * f.memory_mb as f64 / 1024.0 * PRICES.per_gb_second
                + u.invocations as f64 * PRICES.per_million_lambda_requests / 1e6
        })
        .sum();
    let api = api_requests as f64 * PRICES.per_million_api_requests / 1e6;
    let report_reads = rcu(reads(report, false)) + wcu(writes(report, false));
    // (item, this design, the naive design)
    let rows = [
        ("checkout writes", wcu(writes(checkout, false)), wcu(writes(checkout, false))),
        ("checkout reads", rcu(reads(checkout, false)), rcu(4.0 * naive.lines as f64)),
        ("stock", stock, wcu(2.0 * naive.lines as f64)),
        (
            "aggregator",
            wcu(writes(aggregator, false)) + rcu(reads(aggregator, false)),
            wcu(naive.aggregator_write_units) + rcu(naive.aggregator_read_units),
        ),
        ("report reads", report_reads, report_reads),
        ("Lambda", lambda, lambda),
        ("API", api, api),
    ];
    let total: f64 = rows.iter().map(|(_, d, _)| d).sum();
    let naive_total: f64 = rows.iter().map(|(_, _, d)| d).sum();
    println!("bench-cost: {sales} checkouts, dollars per million checkouts (us-east-1 on demand, 2026-12 prices)");
    println!("  {:<16} {:>8}  {:>7}  {:>8}", "", "this", "share", "naive");
    for (name, dollars, naive) in rows {
        println!(
            "  {name:<16} {:>8.2}  {:>5.1} %  {:>8.2}",
            per_million(dollars),
            100.0 * dollars / total.max(f64::MIN_POSITIVE),
            per_million(naive)
        );
    }
    println!("  {:<16} {:>8.2}           {:>8.2}", "total", per_million(total), per_million(naive_total));
    println!("  this design costs {:.2} of the naive design's", total / naive_total.max(f64::MIN_POSITIVE));
    let json_line = std::env::args().any(|a| a == "--json");
    println!("per function (units per checkout; Lambda median duration, peak memory):");
    for (f, u) in usages {
        let mut durations = u.durations_ms.clone();
        let (r, w): (f64, f64) = u.units.values().fold((0.0, 0.0), |(r, w), (a, b)| (r + a, w + b));
        println!(
            "  {:<17} {:>5} invocations  {:>7.2} RCU  {:>7.2} WCU  median {:>6.1} ms  at {} MB  VmHWM {:.1} MB  {:?}",
            f.name,
            u.invocations,
            r / sales,
            w / sales,
            median(&mut durations),
            f.memory_mb,
            u.peak_kb as f64 / 1024.0,
            u.units.iter().map(|(t, (r, w))| format!("{t} {:.2}/{:.2}", r / sales, w / sales)).collect::<Vec<_>>()
        );
    }
    if json_line {
        // For the smoke test (tests/tests/bench_cost.rs): the same figures, one JSON line.
        let functions: serde_json::Map<String, Value> = usages
            .iter()
            .map(|(f, u)| {
                let units: serde_json::Map<String, Value> =
                    u.units.iter().map(|(t, (r, w))| (t.clone(), json!({"readUnits": r, "writeUnits": w}))).collect();
                (f.name.to_owned(), json!({"invocations": u.invocations, "billedMs": u.billed_ms, "memoryMb": f.memory_mb, "peakKb": u.peak_kb, "units": units}))
            })
            .collect();
        let split: serde_json::Map<String, Value> = rows.iter().map(|(name, d, _)| ((*name).to_owned(), json!(per_million(*d)))).collect();
        let naive_split: serde_json::Map<String, Value> = rows.iter().map(|(name, _, d)| ((*name).to_owned(), json!(per_million(*d)))).collect();
        println!(
            "{}",
            json!({"sales": sales, "apiRequests": api_requests, "perMillion": split, "totalPerMillion": per_million(total),
                "naivePerMillion": naive_split, "naiveTotalPerMillion": per_million(naive_total), "functions": functions})
        );
    }
}
