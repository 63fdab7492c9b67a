//! One checkout of a 20-line basket through the `checkout` handler on the embedded store, event
//! in and receipt out, beside a baseline measured in the same run: decoding the same API Gateway
//! v2 event and encoding a response of the same size, with no work between.
//!
//! Two variants in every run, each against that one baseline: `plain`, no promotions, and
//! `promotions`, three in force that all apply to the basket (10 % off its fresh lines, 3 for 2
//! on five skus it holds three of, 10.00 off a spend of 100.00), stored through
//! `PUT /promotions/{id}`. Each has its own store, a fresh one every round (made and seeded
//! outside the clock), so that no store holds more than a round's sales: a function writes its
//! sales to DynamoDB, and its memory does not grow with them (see the README).
//!
//! `cargo run --release --bin bench-checkout -- [--iterations N] [--each] [--growing]`
//! (`--each`: every round's µs per sale and page faults too; `--growing`: one store per
//! variant for the whole run, as before 2026-12-04). It runs itself again with
//! `MIMALLOC_PURGE_DELAY=-1` unless that is set (see `main`).

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use catalog_admin::CatalogAdmin;
use chrono::{Duration as Days, SecondsFormat, Utc};
use checkout::Checkout;
use lambda_http::{Body, Response};
use price_adjustment::PriceAdjustments;
use retail_core::http::HttpFunction;
use retail_core::store::memory::MemoryStore;
use retail_core::testing::Event;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const LINES: usize = 20;
const ROUNDS: usize = 10;
/// The promotions of the `promotions` variant, by id.
const PROMOTIONS: [&str; 3] = ["bench-fresh-10", "bench-3-for-2", "bench-100-10"];

/// What the Lambda runtime does with a response: the v2 response document, as JSON text.
fn encode(response: Response<Body>) -> String {
    let (parts, body) = response.into_parts();
    let mut out = ApiGatewayV2httpResponse::default();
    out.status_code = i64::from(parts.status.as_u16());
    out.headers = parts.headers;
    out.body = match body {
        Body::Text(t) => Some(aws_lambda_events::encodings::Body::Text(t)),
        Body::Binary(b) => Some(aws_lambda_events::encodings::Body::Text(String::from_utf8(b).expect("utf-8"))),
        _ => None,
    };
    serde_json::to_string(&out).expect("encodes")
}

fn ok(r: Response<Body>) {
    assert!(r.status().is_success(), "seed refused: {:?}", r.body());
}

/// A store with the basket's 20 commodities priced (each, weighed and mixed tax rates; the
/// weighed ones in category `fresh`), and with `promotions`, the three promotions in force.
async fn setup(promotions: bool) -> (Checkout<MemoryStore>, Value) {
    let store = MemoryStore::new();
    let admin = CatalogAdmin::new(store.clone());
    let prices = PriceAdjustments::new(store.clone());
    ok(admin
        .call(Event::new("PUT", "/stores/{storeId}", "/stores/S001").claims("headoffice", None).json(&json!({"name": "Bench", "region": "EAST"})).request())
        .await);
    let mut lines = Vec::new();
    let mut adjustments = Vec::new();
    for i in 0..LINES {
        let sku = format!("SKU-{i:02}");
        let kg = i % 4 == 3;
        ok(admin
            .call(
                Event::new("PUT", "/commodities/{sku}", &format!("/commodities/{sku}"))
                    .claims("headoffice", None)
                    .json(&json!({"name": format!("Commodity {i}"), "unit": if kg { "kg" } else { "each" }, "taxRateBp": if i % 2 == 0 { 1300 } else { 900 }, "barcodes": [], "stockPolicy": "track", "category": if kg { "fresh" } else { "grocery" }}))
                    .request(),
            )
            .await);
        adjustments.push(json!({"sku": sku, "scope": "chain", "amount": 199 + 37 * i as i64, "validFrom": "2020-01-01T00:00:00Z"}));
        lines.push(if kg { json!({"sku": sku, "weightGrams": 350 + i}) } else { json!({"sku": sku, "quantity": 1 + i % 3}) });
    }
    ok(prices
        .call(Event::new("POST", "/price-adjustments", "/price-adjustments").claims("headoffice", None).json(&json!({"batchId": "bench", "adjustments": adjustments})).request())
        .await);
    if promotions {
        let at = |hours: i64| (Utc::now() + Days::hours(hours)).to_rfc3339_opts(SecondsFormat::Secs, true);
        let rules = [
            json!({"kind": "percent_off", "percentBp": 1000, "categories": ["fresh"]}),
            // Three each of these five: five groups of three, the cheapest of each free.
            json!({"kind": "multi_buy", "buy": 3, "free": 1, "skus": ["SKU-02", "SKU-05", "SKU-08", "SKU-14", "SKU-17"]}),
            // The basket is 170.97 before promotions, about 142 after the two above.
            json!({"kind": "spend_and_save", "threshold": 10000, "discount": 1000}),
        ];
        for (id, rule) in PROMOTIONS.iter().zip(rules) {
            let body = json!({"name": format!("Bench {id}"), "scope": "chain", "validFrom": at(-1), "validTo": at(23), "rule": rule});
            ok(prices.call(Event::new("PUT", "/promotions/{promotionId}", &format!("/promotions/{id}")).claims("headoffice", None).json(&body).request()).await);
        }
    }
    let basket = json!({"terminalId": "T01", "lines": lines, "payments": [{"method": "cash", "amount": 1_000_000}]});
    (Checkout::new(store), basket)
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| v.parse().expect("a number")).unwrap_or(default)
}

/// The body of a response, as JSON.
fn json_of(response: &Response<Body>) -> Value {
    match response.body() {
        Body::Text(t) => serde_json::from_str(t).expect("json"),
        Body::Binary(b) => serde_json::from_slice(b).expect("json"),
        _ => panic!("empty receipt"),
    }
}

/// The process's minor page faults so far (0 where `/proc` does not say).
fn minor_faults() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // After the command's name in parentheses: state, ppid, pgrp, session, tty, tpgid, flags, minflt.
    stat.rsplit_once(')').and_then(|(_, rest)| rest.split_whitespace().nth(7)).and_then(|f| f.parse().ok()).unwrap_or(0)
}

/// A path's measured rounds: time, response bytes and page faults of each.
#[derive(Default)]
struct Rounds {
    times: Vec<Duration>,
    bytes: usize,
    faults: Vec<u64>,
}

impl Rounds {
    /// Times `run` (which answers with its response bytes), counting its page faults.
    fn time(run: impl FnOnce() -> usize) -> (Duration, usize, u64) {
        let faults = minor_faults();
        let start = Instant::now();
        let bytes = run();
        let elapsed = start.elapsed();
        (elapsed, bytes, minor_faults() - faults)
    }

    fn record(&mut self, (time, bytes, faults): (Duration, usize, u64)) {
        self.times.push(time);
        self.bytes += bytes;
        self.faults.push(faults);
    }
}

/// A variant: its handler and its rounds.
struct Variant {
    name: &'static str,
    promotions: bool,
    checkout: Checkout<MemoryStore>,
    rounds: Rounds,
}

impl Variant {
    /// One checkout per event, timed together.
    async fn run(&mut self, events: &[String]) -> (Duration, usize, u64) {
        let faults = minor_faults();
        let start = Instant::now();
        let mut bytes = 0;
        for event in events {
            let response = self.checkout.call(lambda_http::request::from_str(event).expect("event")).await;
            assert_eq!(response.status(), 201);
            bytes += encode(response).len();
        }
        let elapsed = start.elapsed();
        (elapsed, bytes, minor_faults() - faults)
    }

    /// A store of its own again, seeded and with one sale made (`event`), the old one dropped.
    async fn fresh_store(&mut self, event: &str) {
        self.checkout = setup(self.promotions).await.0;
        let sample = self.checkout.call(lambda_http::request::from_str(event).expect("event")).await;
        assert_eq!(sample.status(), 201);
    }
}

/// Smallest, median (of an even count, the mean of the middle two) and largest.
fn spread(mut values: Vec<f64>) -> (f64, f64, f64) {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    let median = if n % 2 == 1 { values[n / 2] } else { (values[n / 2 - 1] + values[n / 2]) / 2.0 };
    (values[0], median, values[n - 1])
}

/// mimalloc's delay before it gives freed memory back to the system (its "purge").
const PURGE_DELAY: &str = "MIMALLOC_PURGE_DELAY";

fn main() {
    // Each round drops a store of a round's sales, tens of MB freed at once; by default the
    // allocator gives what is free back to the system a second later, so purges land inside
    // later rounds and their memory is faulted in again there (bursts of 1,000 to 2,900 page
    // faults, such a round up to 40 % slower). A function's heap does not churn like that, so the
    // bench keeps what it frees: it runs itself again with purging off unless told a delay.
    // mimalloc reads its options when the process starts, hence a second process.
    if std::env::var_os(PURGE_DELAY).is_none() {
        let status = std::process::Command::new(std::env::current_exe().expect("the bench's own path"))
            .args(std::env::args_os().skip(1))
            .env(PURGE_DELAY, "-1")
            .status()
            .expect("the bench runs itself");
        std::process::exit(status.code().unwrap_or(1));
    }
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime").block_on(bench());
}

async fn bench() {
    let iterations = arg("--iterations", 20_000) as usize;
    assert!(iterations > 0, "--iterations must be positive");
    // `--growing`: the method before 2026-12-04, one store per variant for every round, so
    // that each holds every sale of the run by its end (see the README on what that measured).
    let growing = std::env::args().any(|a| a == "--growing");
    let per_round = iterations.div_ceil(ROUNDS);
    let warm_up = if growing { 1000 } else { per_round };
    let (plain, basket) = setup(false).await;
    let (promoted, promoted_basket) = setup(true).await;
    assert_eq!(basket, promoted_basket);
    // One event per sale (each with its own key), made before the clock starts; each variant
    // has its own store, so both take the same events.
    let events: Vec<String> = (0..iterations + 1 + warm_up)
        .map(|i| {
            let event = Event::new("POST", "/stores/{storeId}/sales", "/stores/S001/sales")
                .claims("pos", Some("S001"))
                .header("Idempotency-Key", &format!("bench-{i:08}"))
                .json(&basket);
            event.to_json_string()
        })
        .collect();
    let first = &events[iterations];

    // A receipt of the real size for the baseline to encode: the plain variant's (the other's
    // is larger by its three promotions, so its ratio is if anything overstated).
    let sample = plain.call(lambda_http::request::from_str(first).expect("event")).await;
    assert_eq!(sample.status(), 201, "the benchmark basket must sell: {:?}", sample.body());
    let receipt = json_of(&sample);
    assert_eq!(receipt["promotions"], json!([]), "no promotions in the plain variant");
    let promoted_sample = promoted.call(lambda_http::request::from_str(first).expect("event")).await;
    assert_eq!(promoted_sample.status(), 201, "the benchmark basket must sell: {:?}", promoted_sample.body());
    let promoted_receipt = json_of(&promoted_sample);
    let mut applied: Vec<&str> = promoted_receipt["promotions"].as_array().expect("promotions").iter().map(|p| p["promotionId"].as_str().expect("id")).collect();
    applied.sort_unstable();
    let mut wanted = PROMOTIONS.to_vec();
    wanted.sort_unstable();
    assert_eq!(applied, wanted, "all three promotions must apply: {promoted_receipt}");
    assert!(promoted_receipt["discountTotal"].as_i64().expect("discountTotal") > 0);

    let baseline = |events: &[String]| {
        Rounds::time(|| {
            let mut bytes = 0;
            for event in events {
                let request = lambda_http::request::from_str(event).expect("event");
                std::hint::black_box(&request);
                let body = serde_json::to_vec(&receipt).expect("encodes");
                let response = Response::builder().status(201).header("content-type", "application/json").body(Body::from(body)).expect("response");
                bytes += encode(response).len();
            }
            bytes
        })
    };
    let mut variants = [
        Variant { name: "plain", promotions: false, checkout: plain, rounds: Rounds::default() },
        Variant { name: "promotions", promotions: true, checkout: promoted, rounds: Rounds::default() },
    ];

    // Rounds alternate the paths (the two variants in turn first), so that a neighbour's load
    // on a shared machine weighs on all alike. Before each round, outside the clock, each
    // variant gets a fresh store and the last one's is dropped: a store holds at most one
    // round's sales, and each round reuses the memory the last one freed (see the README).
    // Warm-up rounds go first, the same but not counted (two without `--growing`: the first
    // round after set-up still touches memory for the first time).
    let warm_ups = if growing { 1 } else { 2 };
    let warm = &events[iterations + 1..];
    let mut base = Rounds::default();
    let mut sizes = Vec::new();
    for (r, round) in std::iter::repeat_n(warm, warm_ups).chain(events[..iterations].chunks(per_round)).enumerate() {
        let counted = r >= warm_ups;
        if !growing {
            for variant in &mut variants {
                variant.fresh_store(first).await;
            }
        }
        let timed = baseline(round);
        if counted {
            base.record(timed);
            sizes.push(round.len());
        }
        for v in 0..variants.len() {
            let variant = &mut variants[(v + r) % variants.len()];
            let timed = variant.run(round).await;
            if counted {
                variant.rounds.record(timed);
            }
        }
    }

    if std::env::args().any(|a| a == "--each") {
        println!("µs per sale (page faults) in each round");
        println!("{:<6} {:>15} {}", "round", "baseline", variants.iter().map(|v| format!("{:>18}", v.name)).collect::<String>());
        for (r, n) in sizes.iter().enumerate() {
            let cell = |rounds: &Rounds| format!("{:.2} ({})", rounds.times[r].as_secs_f64() * 1e6 / *n as f64, rounds.faults[r]);
            let cells: String = variants.iter().map(|v| format!("{:>18}", cell(&v.rounds))).collect();
            println!("{:<6} {:>15} {cells}", r + 1, cell(&base));
        }
    }
    let total = |rounds: &Rounds| rounds.times.iter().sum::<Duration>();
    let per = |d: Duration, n: usize| d.as_secs_f64() * 1e6 / n as f64;
    let line = |name: &str, rounds: &Rounds| {
        let (lo, mid, hi) = spread(rounds.times.iter().zip(&sizes).map(|(d, &n)| per(*d, n)).collect());
        let faults = rounds.faults.iter().sum::<u64>();
        println!("{name:<10} {:>12.2} {lo:>8.2} / {mid:>6.2} / {hi:>6.2} {:>14} {faults:>12}", per(total(rounds), iterations), rounds.bytes / iterations);
    };
    println!(
        "checkout of a {LINES}-line basket on the embedded store, {iterations} sales per variant in {ROUNDS} alternating rounds, one thread, {}, {PURGE_DELAY}={}",
        if growing { "one store per variant for the run" } else { "a fresh store per variant each round" },
        std::env::var(PURGE_DELAY).unwrap_or_default()
    );
    println!("{:<10} {:>12} {:>26} {:>14} {:>12}", "path", "µs per sale", "rounds: min / median / max", "response bytes", "page faults");
    line("baseline", &base);
    for v in &variants {
        line(v.name, &v.rounds);
    }
    for v in &variants {
        let ratio = total(&v.rounds).as_secs_f64() / total(&base).as_secs_f64();
        let (lo, mid, hi) = spread(v.rounds.times.iter().zip(&base.times).map(|(c, b)| c.as_secs_f64() / b.as_secs_f64()).collect());
        println!(
            "{:<10} checkout/baseline: {ratio:.2} (rounds {lo:.2} / {mid:.2} / {hi:.2}; target ≤ 2.00): {}",
            v.name,
            if ratio <= 2.0 { "met" } else { "NOT met" }
        );
    }
}
