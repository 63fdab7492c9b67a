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
//! variant for the whole run, as before 2026-12-04)

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

/// A variant: its handler, and its time, response bytes and page faults per round.
struct Variant {
    name: &'static str,
    promotions: bool,
    checkout: Checkout<MemoryStore>,
    rounds: Vec<Duration>,
    bytes: usize,
    /// Page faults per round.
    faults: Vec<u64>,
}

impl Variant {
    /// One checkout per event, timed together.
    async fn run(&mut self, events: &[String]) -> Duration {
        let faults = minor_faults();
        let start = Instant::now();
        for event in events {
            let response = self.checkout.call(lambda_http::request::from_str(event).expect("event")).await;
            assert_eq!(response.status(), 201);
            self.bytes += encode(response).len();
        }
        let elapsed = start.elapsed();
        self.faults.push(minor_faults() - faults);
        elapsed
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

#[tokio::main(flavor = "current_thread")]
async fn main() {
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
        let start = Instant::now();
        let mut bytes = 0;
        for event in events {
            let request = lambda_http::request::from_str(event).expect("event");
            std::hint::black_box(&request);
            let body = serde_json::to_vec(&receipt).expect("encodes");
            let response = Response::builder().status(201).header("content-type", "application/json").body(Body::from(body)).expect("response");
            bytes += encode(response).len();
        }
        (start.elapsed(), bytes)
    };
    let mut variants = [
        Variant { name: "plain", promotions: false, checkout: plain, rounds: Vec::new(), bytes: 0, faults: Vec::new() },
        Variant { name: "promotions", promotions: true, checkout: promoted, rounds: Vec::new(), bytes: 0, faults: Vec::new() },
    ];
    // Warm up every path (without `--growing`, with as many sales as a round, so that the
    // first round finds as much memory already touched as the others).
    baseline(&events[..1000.min(iterations)]);
    for variant in &mut variants {
        variant.run(&events[iterations + 1..]).await;
        variant.bytes = 0;
        variant.faults.clear();
    }

    // Rounds alternate the paths (the two variants in turn first), so that a neighbour's load
    // on a shared machine weighs on all alike. Before each round, outside the clock, each
    // variant gets a fresh store and the last one's is dropped: a store holds at most one
    // round's sales, and each round reuses the memory the last one freed (see the README).
    let (mut base_rounds, mut base_bytes, mut base_faults) = (Vec::new(), 0, Vec::new());
    let mut sizes = Vec::new();
    for (r, round) in events[..iterations].chunks(per_round).enumerate() {
        if !growing {
            for variant in &mut variants {
                variant.fresh_store(first).await;
            }
        }
        let faults = minor_faults();
        let (t, b) = baseline(round);
        base_faults.push(minor_faults() - faults);
        base_rounds.push(t);
        base_bytes += b;
        sizes.push(round.len());
        for v in 0..variants.len() {
            let variant = &mut variants[(v + r) % variants.len()];
            let t = variant.run(round).await;
            variant.rounds.push(t);
        }
    }

    if std::env::args().any(|a| a == "--each") {
        println!("µs per sale (page faults) in each round");
        println!("{:<6} {:>15} {}", "round", "baseline", variants.iter().map(|v| format!("{:>18}", v.name)).collect::<String>());
        for (r, n) in sizes.iter().enumerate() {
            let cell = |d: Duration, faults: u64| format!("{:.2} ({faults})", d.as_secs_f64() * 1e6 / *n as f64);
            let cells: String = variants.iter().map(|v| format!("{:>18}", cell(v.rounds[r], v.faults[r]))).collect();
            println!("{:<6} {:>15} {cells}", r + 1, cell(base_rounds[r], base_faults[r]));
        }
    }
    let total = |rounds: &[Duration]| rounds.iter().sum::<Duration>();
    let per = |d: Duration, n: usize| d.as_secs_f64() * 1e6 / n as f64;
    let per_round = |rounds: &[Duration]| spread(rounds.iter().zip(&sizes).map(|(d, &n)| per(*d, n)).collect());
    println!(
        "checkout of a {LINES}-line basket on the embedded store, {iterations} sales per variant in {ROUNDS} alternating rounds, one thread, {}",
        if growing { "one store per variant for the run" } else { "a fresh store per variant each round" }
    );
    println!("{:<10} {:>12} {:>26} {:>14} {:>12}", "path", "µs per sale", "rounds: min / median / max", "response bytes", "page faults");
    let (lo, mid, hi) = per_round(&base_rounds);
    println!("{:<10} {:>12.2} {:>8.2} / {:>6.2} / {:>6.2} {:>14} {:>12}", "baseline", per(total(&base_rounds), iterations), lo, mid, hi, base_bytes / iterations, base_faults.iter().sum::<u64>());
    for v in &variants {
        let (lo, mid, hi) = per_round(&v.rounds);
        println!("{:<10} {:>12.2} {:>8.2} / {:>6.2} / {:>6.2} {:>14} {:>12}", v.name, per(total(&v.rounds), iterations), lo, mid, hi, v.bytes / iterations, v.faults.iter().sum::<u64>());
    }
    for v in &variants {
        let ratio = total(&v.rounds).as_secs_f64() / total(&base_rounds).as_secs_f64();
        let (lo, mid, hi) = spread(v.rounds.iter().zip(&base_rounds).map(|(c, b)| c.as_secs_f64() / b.as_secs_f64()).collect());
        println!(
            "{:<10} checkout/baseline: {ratio:.2} (rounds {lo:.2} / {mid:.2} / {hi:.2}; target ≤ 2.00): {}",
            v.name,
            if ratio <= 2.0 { "met" } else { "NOT met" }
        );
    }
}
