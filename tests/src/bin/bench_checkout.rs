//! One checkout of a 20-line basket through the `checkout` handler on the embedded store, event
//! in and receipt out, beside a baseline measured in the same run: decoding the same API Gateway
//! v2 event and encoding a response of the same size, with no work between.
//!
//! `cargo run --release --bin bench-checkout -- [--iterations N]`

use aws_lambda_events::apigw::ApiGatewayV2httpResponse;
use catalog_admin::CatalogAdmin;
use checkout::Checkout;
use lambda_http::{Body, Response};
use price_adjustment::PriceAdjustments;
use retail_core::http::HttpFunction;
use retail_core::testing::Event;
use retail_core::store::memory::MemoryStore;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

const LINES: usize = 20;
const ROUNDS: usize = 10;

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

async fn setup() -> (Checkout<MemoryStore>, Vec<Value>) {
    let store = MemoryStore::new();
    let admin = CatalogAdmin::new(store.clone());
    let prices = PriceAdjustments::new(store.clone());
    let ok = |r: Response<Body>| assert!(r.status().is_success(), "seed refused: {:?}", r.body());
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
                    .json(&json!({"name": format!("Commodity {i}"), "unit": if kg { "kg" } else { "each" }, "taxRateBp": if i % 2 == 0 { 1300 } else { 900 }, "barcodes": [], "stockPolicy": "track"}))
                    .request(),
            )
            .await);
        adjustments.push(json!({"sku": sku, "scope": "chain", "amount": 199 + 37 * i as i64, "validFrom": "2020-01-01T00:00:00Z"}));
        lines.push(if kg { json!({"sku": sku, "weightGrams": 350 + i}) } else { json!({"sku": sku, "quantity": 1 + i % 3}) });
    }
    ok(prices
        .call(Event::new("POST", "/price-adjustments", "/price-adjustments").claims("headoffice", None).json(&json!({"batchId": "bench", "adjustments": adjustments})).request())
        .await);
    let basket = json!({"terminalId": "T01", "lines": lines, "payments": [{"method": "cash", "amount": 1_000_000}]});
    (Checkout::new(store), vec![basket])
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(|v| v.parse().expect("a number")).unwrap_or(default)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let iterations = arg("--iterations", 20_000) as usize;
    assert!(iterations > 0, "--iterations must be positive");
    let (checkout, baskets) = setup().await;
    // One event per sale (each with its own key), made before the clock starts.
    let events: Vec<String> = (0..iterations + 1000)
        .map(|i| {
            let event = Event::new("POST", "/stores/{storeId}/sales", "/stores/S001/sales")
                .claims("pos", Some("S001"))
                .header("Idempotency-Key", &format!("bench-{i:08}"))
                .json(&baskets[0]);
            event.to_json_string()
        })
        .collect();

    // A receipt of the real size for the baseline to encode.
    let sample = checkout.call(lambda_http::request::from_str(&events[iterations]).expect("event")).await;
    assert_eq!(sample.status(), 201, "the benchmark basket must sell: {:?}", sample.body());
    let receipt: Value = match sample.body() {
        Body::Text(t) => serde_json::from_str(t).expect("json"),
        Body::Binary(b) => serde_json::from_slice(b).expect("json"),
        _ => panic!("empty receipt"),
    };

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
    // Warm up both paths.
    baseline(&events[..1000.min(iterations)]);
    for event in &events[iterations + 1..iterations + 1000] {
        encode(checkout.call(lambda_http::request::from_str(event).expect("event")).await);
    }

    // Rounds alternate the two paths, so that a neighbour's load on a shared machine weighs on
    // both alike.
    let (mut base_time, mut base_bytes) = (Duration::ZERO, 0);
    let (mut checkout_time, mut bytes) = (Duration::ZERO, 0);
    for round in events[..iterations].chunks(iterations.div_ceil(ROUNDS)) {
        let (t, b) = baseline(round);
        base_time += t;
        base_bytes += b;
        let start = Instant::now();
        for event in round {
            let response = checkout.call(lambda_http::request::from_str(event).expect("event")).await;
            assert_eq!(response.status(), 201);
            bytes += encode(response).len();
        }
        checkout_time += start.elapsed();
    }

    let per = |d: Duration| d.as_secs_f64() * 1e6 / iterations as f64;
    println!("checkout of a {LINES}-line basket on the embedded store, {iterations} sales in {ROUNDS} alternating rounds, one thread");
    println!("{:<10} {:>12} {:>14}", "path", "µs per sale", "response bytes");
    println!("{:<10} {:>12.2} {:>14}", "baseline", per(base_time), base_bytes / iterations);
    println!("{:<10} {:>12.2} {:>14}", "checkout", per(checkout_time), bytes / iterations);
    let ratio = checkout_time.as_secs_f64() / base_time.as_secs_f64();
    println!("checkout/baseline: {ratio:.2} (target ≤ 2.00): {}", if ratio <= 2.0 { "met" } else { "NOT met" });
}
