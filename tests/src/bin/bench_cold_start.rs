//! Cold starts under the official Runtime Interface Emulator: each function's release binary is
//! started RUNS times in a fresh emulator, sent one real v2 event (a stream batch with a real sale
//! for the aggregator), and its `INIT REPORT(durationMs)` and first-invocation round trip are
//! recorded. Beside them, two baselines built with the same profile in the same run:
//! `hello-lambda` (bare lambda_http) and `hello-dynamodb` (that plus a DynamoDB client from the
//! environment). The functions run on moto, with the environment template.yaml gives them.
//!
//!     cargo build --release --workspace && cargo run --release --bin bench-cold-start [RUNS]

use retail_local::environment::function_environment;
use retail_local::template::Template;
use retail_tests::lambda::{EmulatedBinary, http_event, lambda_env};
use retail_tests::moto::Moto;
use retail_tests::{binaries_dir, workspace_root};
use serde_json::Value;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const FUNCTIONS: [&str; 6] = ["commodity-lookup", "checkout", "price-adjustment", "catalog-admin", "sales-report", "sales-aggregator"];
const BASELINES: [&str; 2] = ["hello-lambda", "hello-dynamodb"];

struct Sample {
    init_ms: f64,
    first_ms: f64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let runs: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(10);
    let dir = binaries_dir();
    let template_path = workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&template_path).expect("template.yaml");
    let template = Template::load(&template_path).expect("template.yaml parses");
    let moto = Moto::start();
    let store = moto.store().await;
    let tables = store.tables().clone();
    let (sale_event, _) = retail_tests::lambda::sale_stream_event(&template_path).await;

    let base_env = |name: &str| -> Vec<(String, String)> {
        let mut env = lambda_env(name);
        env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
        env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), moto.endpoint.clone()));
        env
    };

    println!("cold starts under aws-lambda-rie, {runs} fresh emulators each, release profile, DynamoDB = moto");
    println!("{:<18} {:>9} {:>12} {:>15} {:>14}", "binary", "size MiB", "init p50 ms", "1st call p50 ms", "init / ddb-hello");
    let mut results: Vec<(String, u64, f64, f64)> = Vec::new();
    for name in BASELINES.iter().chain(FUNCTIONS.iter()) {
        let binary = dir.join(name);
        let Ok(meta) = std::fs::metadata(&binary) else {
            eprintln!("{} is missing: cargo build --release --workspace", binary.display());
            return ExitCode::FAILURE;
        };
        let mut env = base_env(name);
        let event = if let Some(decl) = template.functions.iter().find(|f| f.binary.as_deref() == Some(*name)) {
            let fenv = function_environment(&text, &decl.logical_id, &|id| tables.by_logical_id(id).map(str::to_owned))
                .expect("the function's environment resolves");
            env.extend(fenv.variables);
            if *name == "sales-aggregator" { sale_event.clone() } else { bench_event(name) }
        } else {
            bench_event(name)
        };
        // Each function gets its own tables' variables, as the template gives them; the baselines none.
        debug_assert!(FUNCTIONS.contains(name) == env.iter().any(|(k, _)| k.ends_with("_TABLE")));
        let mut samples = Vec::with_capacity(runs);
        for run in 0..runs {
            match cold_start(&binary, &env, &event) {
                Ok(sample) => samples.push(sample),
                Err(e) => {
                    eprintln!("{name} run {run}: {e}");
                    return ExitCode::FAILURE;
                }
            }
        }
        let init = median(samples.iter().map(|s| s.init_ms).collect());
        let first = median(samples.iter().map(|s| s.first_ms).collect());
        results.push((name.to_string(), meta.len(), init, first));
    }
    let hello_ddb = results.iter().find(|r| r.0 == "hello-dynamodb").map(|r| r.2).unwrap_or(f64::NAN);
    let mut over = Vec::new();
    for (name, size, init, first) in &results {
        let ratio = init / hello_ddb;
        if FUNCTIONS.contains(&name.as_str()) && ratio > 1.25 {
            over.push(name.clone());
        }
        println!("{name:<18} {:>9.2} {init:>12.2} {first:>15.2} {ratio:>14.2}", *size as f64 / (1024.0 * 1024.0));
    }
    if over.is_empty() {
        println!("every function's median init is within 1.25x of hello-dynamodb's");
    } else {
        println!("over 1.25x of hello-dynamodb's init: {}", over.join(", "));
    }
    drop(moto);
    ExitCode::SUCCESS
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
}

/// One fresh emulator: start, one invocation, its INIT REPORT; dropping it kills it and its function.
fn cold_start(binary: &std::path::Path, env: &[(String, String)], event: &Value) -> Result<Sample, String> {
    let emulated = EmulatedBinary::start_path(binary, env);
    let sent = Instant::now();
    let answer = emulated.invoke(event);
    let first_ms = sent.elapsed().as_secs_f64() * 1000.0;
    if answer.get("statusCode").is_none() && answer.get("batchItemFailures").is_none() {
        return Err(format!("the invocation failed: {answer}"));
    }
    let line = emulated
        .wait_for_line(&["INIT REPORT"], Duration::from_secs(5))
        .ok_or_else(|| format!("no INIT REPORT in the emulator's output:\n{}", emulated.output()))?;
    let init_ms = init_report_ms(&line).ok_or_else(|| format!("no durationMs in {line:?}"))?;
    Ok(Sample { init_ms, first_ms })
}

/// `INIT REPORT(durationMs: 12.345)` → 12.345.
fn init_report_ms(line: &str) -> Option<f64> {
    let rest = &line[line.find("INIT REPORT")?..];
    let value = &rest[rest.find("durationMs:")? + "durationMs:".len()..];
    let value: String = value.trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    value.parse().ok()
}

/// A request each function really serves, with the claims the gateway's authorizer would add.
fn bench_event(binary: &str) -> Value {
    match binary {
        "commodity-lookup" => http_event(
            "GET /stores/{storeId}/commodities/{sku}",
            "/stores/S001/commodities/MILK-1L",
            &[("storeId", "S001"), ("sku", "MILK-1L")],
            "",
            ("pos", Some("S001")),
            &[],
            None,
        ),
        "checkout" => http_event(
            "GET /stores/{storeId}/sales/{saleId}",
            "/stores/S001/sales/01JDZ0000000000000000000",
            &[("storeId", "S001"), ("saleId", "01JDZ0000000000000000000")],
            "",
            ("pos", Some("S001")),
            &[],
            None,
        ),
        "price-adjustment" => http_event(
            "GET /stores/{storeId}/prices/{sku}",
            "/stores/S001/prices/MILK-1L",
            &[("storeId", "S001"), ("sku", "MILK-1L")],
            "",
            ("headoffice", None),
            &[],
            None,
        ),
        "catalog-admin" => http_event(
            "PUT /stores/{storeId}",
            "/stores/B001",
            &[("storeId", "B001")],
            "",
            ("headoffice", None),
            &[],
            Some(&serde_json::json!({"name": "Bench", "region": "EAST", "timezone": "Asia/Shanghai"})),
        ),
        "sales-report" => http_event("GET /reports/daily", "/reports/daily", &[], "date=2026-11-29", ("headoffice", None), &[], None),
        _ => http_event("GET /hello", "/hello", &[], "", ("pos", Some("S001")), &[], None),
    }
}
