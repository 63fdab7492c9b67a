//! Cold starts under the official Runtime Interface Emulator: each function's release binary is
//! started RUNS times in a fresh emulator, sent one real v2 event (a stream batch with a real sale
//! for the aggregator), and its `INIT REPORT(durationMs)` and first-invocation round trip are
//! recorded. Beside them, two baselines built with the same profile in the same run:
//! `hello-lambda` (bare lambda_http) and `hello-dynamodb` (that plus a DynamoDB client from the
//! environment). The functions run on moto, with the environment template.yaml gives them.
//!
//!     cargo build --release --workspace && cargo run --release -p retail-tests --bin bench-cold-start [RUNS]

use retail_local::environment::function_environment;
use retail_local::event::{EventInput, v2_event};
use retail_local::template::Template;
use retail_tests::moto::Moto;
use retail_tests::{free_port, binaries_dir, runtime_interface_emulator, workspace_root};
use serde_json::{Map, Value, json};
use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
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
    let rie = runtime_interface_emulator();
    let template_path = workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&template_path).expect("template.yaml");
    let template = Template::load(&template_path).expect("template.yaml parses");
    let moto = Moto::start();
    let store = moto.store().await;
    let tables = store.tables().clone();
    let (sale_event, _) = retail_tests::lambda::sale_stream_event(&template_path).await;

    let base_env = |name: &str| -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_FUNCTION_NAME", name),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", "10"),
            ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "local"),
            ("AWS_SECRET_ACCESS_KEY", "local"),
            ("AWS_ENDPOINT_URL_DYNAMODB", moto.endpoint.as_str()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("TZ", ":UTC"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
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
            if *name == "sales-aggregator" { sale_event.clone() } else { http_event(name) }
        } else {
            http_event(name)
        };
        // Each function gets its own tables' variables, as the template gives them; the baselines none.
        debug_assert!(FUNCTIONS.contains(name) == env.iter().any(|(k, _)| k.ends_with("_TABLE")));
        let mut samples = Vec::with_capacity(runs);
        for run in 0..runs {
            match cold_start(&rie, &binary, &env, &event) {
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

/// One fresh emulator: start, one invocation, its INIT REPORT, then kill it and its function.
fn cold_start(rie: &Path, binary: &Path, env: &[(String, String)], event: &Value) -> Result<Sample, String> {
    let port = free_port();
    let api_port = free_port();
    let mut child = Command::new(rie)
        .arg("--runtime-interface-emulator-address")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--runtime-api-address")
        .arg(format!("127.0.0.1:{api_port}"))
        .arg(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", rie.display()))?;
    let (lines_tx, lines) = mpsc::channel::<String>();
    for stream in [child.stdout.take().map(|s| Box::new(s) as Box<dyn std::io::Read + Send>), child.stderr.take().map(|s| Box::new(s) as _)]
        .into_iter()
        .flatten()
    {
        let tx = lines_tx.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    }
    drop(lines_tx);
    let pid = child.id();
    let result = (|| {
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                return Err("the emulator did not listen".to_owned());
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let body = event.to_string();
        let sent = Instant::now();
        let answer = post(&addr, "/2015-03-31/functions/function/invocations", &body)?;
        let first_ms = sent.elapsed().as_secs_f64() * 1000.0;
        let answer: Value = serde_json::from_str(&answer).map_err(|e| format!("not JSON ({e}): {answer}"))?;
        if answer.get("statusCode").is_none() && answer.get("batchItemFailures").is_none() {
            return Err(format!("the invocation failed: {answer}"));
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut seen = Vec::new();
        while Instant::now() < deadline {
            match lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    if let Some(ms) = init_report_ms(&line) {
                        return Ok(Sample { init_ms: ms, first_ms });
                    }
                    seen.push(line);
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        Err(format!("no INIT REPORT in the emulator's output:\n{}", seen.join("\n")))
    })();
    let _ = Command::new("kill").arg("-KILL").arg("--").arg(format!("-{pid}")).status();
    let _ = child.kill();
    let _ = child.wait();
    result
}

/// `INIT REPORT(durationMs: 12.345)` → 12.345.
fn init_report_ms(line: &str) -> Option<f64> {
    let rest = &line[line.find("INIT REPORT")?..];
    let value = &rest[rest.find("durationMs:")? + "durationMs:".len()..];
    let value: String = value.trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    value.parse().ok()
}

/// A blocking HTTP/1.1 POST over loopback: no client library's own set-up in the measurement.
fn post(addr: &str, path: &str, body: &str) -> Result<String, String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(15))).map_err(|e| e.to_string())?;
    let _ = stream.set_nodelay(true);
    let request = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text.split_once("\r\n\r\n").ok_or("no HTTP response")?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("the emulator answered {}", head.lines().next().unwrap_or("")));
    }
    // The emulator answers with Content-Length, so the body is the rest.
    Ok(body.to_owned())
}

/// A request each function really serves, with the claims the gateway's authorizer would add.
fn http_event(binary: &str) -> Value {
    let (method, path, route, params, scope, body): (&str, String, &str, Vec<(&str, String)>, &str, &str) = match binary {
        "commodity-lookup" => (
            "GET",
            "/stores/S001/commodities/MILK-1L".into(),
            "GET /stores/{storeId}/commodities/{sku}",
            vec![("storeId", "S001".into()), ("sku", "MILK-1L".into())],
            "pos",
            "",
        ),
        "checkout" => (
            "GET",
            "/stores/S001/sales/01JDZ0000000000000000000".into(),
            "GET /stores/{storeId}/sales/{saleId}",
            vec![("storeId", "S001".into()), ("saleId", "01JDZ0000000000000000000".into())],
            "pos",
            "",
        ),
        "price-adjustment" => (
            "GET",
            "/stores/S001/prices/MILK-1L".into(),
            "GET /stores/{storeId}/prices/{sku}",
            vec![("storeId", "S001".into()), ("sku", "MILK-1L".into())],
            "headoffice",
            "",
        ),
        "catalog-admin" => (
            "PUT",
            "/stores/B001".into(),
            "PUT /stores/{storeId}",
            vec![("storeId", "B001".into())],
            "headoffice",
            r#"{"name": "Bench", "region": "EAST", "timezone": "Asia/Shanghai"}"#,
        ),
        "sales-report" => ("GET", "/reports/daily".into(), "GET /reports/daily", vec![], "headoffice", ""),
        _ => ("GET", "/hello".into(), "GET /hello", vec![], "pos", ""),
    };
    let raw_query = if binary == "sales-report" { "date=2026-11-29" } else { "" };
    let mut claims = Map::new();
    claims.insert("scope".into(), json!(scope));
    if scope == "pos" {
        claims.insert("store_id".into(), json!("S001"));
    }
    claims.insert("sub".into(), json!("bench"));
    claims.insert("iss".into(), json!("https://auth.retail.local"));
    claims.insert("aud".into(), json!("retail-api"));
    let now = chrono::Utc::now();
    claims.insert("iat".into(), json!(now.timestamp().to_string()));
    claims.insert("exp".into(), json!((now.timestamp() + 3600).to_string()));
    let mut headers = http::HeaderMap::new();
    headers.insert("content-type", http::HeaderValue::from_static("application/json"));
    v2_event(&EventInput {
        method,
        raw_path: &path,
        raw_query,
        headers: &headers,
        route_key: route,
        path_params: &params,
        claims: Some(&claims),
        request_id: "bench-cold-start",
        source_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        domain_name: "localhost",
        local_port: 3000,
        body: body.as_bytes(),
        now,
    })
}
