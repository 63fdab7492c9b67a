//! Cold starts as Lambda has them. Each binary runs under the official Runtime Interface
//! Emulator inside Lambda's CPU share for a memory size (a cgroup quota: 1,769 MB is one vCPU,
//! `retail_tests::cpu_share`), with the environment template.yaml gives it, and reaches DynamoDB
//! over TLS: moto behind a TLS terminator whose CA the function trusts through `SSL_CERT_FILE`
//! (alone: the functions' own store is Amazon's five roots; with `--system-roots`, beside the
//! system's, as the SDK's default client would load them on Lambda's image). Moto and the
//! terminator run outside the limit. Every run is a fresh emulator; per binary and memory size it records
//!
//! - init: the emulator's `INIT REPORT(durationMs)`;
//! - first response: the first invocation's round trip, init included (what a till feels on a
//!   cold start): a real request, a sale for checkout;
//! - second response: the next invocation of the same environment;
//! - peak memory: the function process's `VmHWM`;
//! - CPU: the function process's CPU time through the first response, and for the second
//!   (`/proc/PID/task/*/schedstat`): what the limit turns into waiting, free of its rounding to
//!   whole 10 ms periods, which makes the millisecond figures at 128 and 256 MB lumpy;
//! - the binary's size;
//!
//! and prints medians with their spread (the quartiles). Beside the functions, two baselines
//! in the same run: `hello-lambda` (bare lambda_http) and `hello-dynamodb` (the naive SDK
//! set-up, `aws_config::load_from_env` at init and a GetItem of the same commodity the lookup
//! reads in its handler). At 256 MB it checks the targets: every function's first response at
//! most half the naive hello's, its init at most 1.5 times the bare hello's.
//!
//!     cargo build --release -p bench-hello
//!     cargo build --release -p catalog-admin -p commodity-lookup -p price-adjustment -p checkout \
//!       -p sales-report -p sales-aggregator -p dashboard
//!     cargo run --release --bin bench-cold-start -- [--runs 10] [--memory 128,256,1024] [--only checkout,...] [--system-roots]
//!
//! The functions apart from the hellos, as `sam build` builds each: built together, the naive
//! hello's SDK defaults would turn the SDK's default clients on for the functions too.
//!
//! Needs root for the cgroup; without one it says so and runs unlimited.

use retail_core::domain::StockPolicy;
use retail_local::environment::function_environment;
use retail_local::template::Template;
use retail_tests::cpu_share::CpuShare;
use retail_tests::lambda::{EmulatedBinary, http_event, lambda_env};
use retail_tests::moto::{Moto, stock_a_store};
use retail_tests::tls::TlsTerminator;
use retail_tests::{binaries_dir, workspace_root};
use serde_json::{Value, json};
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};

const FUNCTIONS: [&str; 7] =
    ["commodity-lookup", "checkout", "price-adjustment", "catalog-admin", "sales-report", "sales-aggregator", "dashboard"];
const BARE_HELLO: &str = "hello-lambda";
const NAIVE_HELLO: &str = "hello-dynamodb";
/// Where the targets are checked.
const TARGET_MEMORY: u32 = 256;

struct Sample {
    init_ms: f64,
    first_ms: f64,
    second_ms: f64,
    peak_kb: f64,
    /// The function process's CPU time through the first response, and for the second.
    first_cpu_ms: f64,
    second_cpu_ms: f64,
}

/// Median and quartiles of one figure.
#[derive(Clone, Copy)]
struct Spread {
    median: f64,
    q1: f64,
    q3: f64,
}

struct Row {
    binary: String,
    size: u64,
    init: Spread,
    first: Spread,
    second: Spread,
    peak_kb: Spread,
    first_cpu: Spread,
    second_cpu: Spread,
}

struct Args {
    runs: usize,
    memories: Vec<u32>,
    only: Option<Vec<String>>,
    /// `SSL_CERT_FILE` holds the system's roots beside the terminator's CA (by default only the
    /// CA: a function's built-in store is Amazon's five roots, a file of similar weight), to
    /// show what loading a whole store costs a cold start.
    system_roots: bool,
}

fn args() -> Result<Args, String> {
    let mut args = Args { runs: 10, memories: vec![128, 256, 1024], only: None, system_roots: false };
    let mut given = std::env::args().skip(1);
    while let Some(flag) = given.next() {
        let mut value = || given.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--runs" => args.runs = value()?.parse().map_err(|e| format!("--runs: {e}"))?,
            "--memory" => {
                args.memories = value()?
                    .split(',')
                    .map(|m| m.trim().parse::<u32>().map_err(|e| format!("--memory {m}: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--only" => args.only = Some(value()?.split(',').map(str::to_owned).collect()),
            "--system-roots" => args.system_roots = true,
            other => {
                return Err(format!("unknown argument {other}: --runs N, --memory 128,256,1024, --only name,name, --system-roots"));
            }
        }
    }
    if args.runs == 0 || args.memories.is_empty() {
        return Err("at least one run and one memory size".into());
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("bench-cold-start: {e}");
            return ExitCode::FAILURE;
        }
    };
    let dir = binaries_dir();
    let template_path = workspace_root().join("template.yaml");
    let text = std::fs::read_to_string(&template_path).expect("template.yaml");
    let template = Template::load(&template_path).expect("template.yaml parses");
    let setup = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("a runtime");
    let moto = Moto::start();
    let store = setup.block_on(moto.store());
    setup.block_on(stock_a_store(&store, &[("MILK-1L", StockPolicy::Track)]));
    let tables = store.tables().clone();
    let (sale_event, day) = setup.block_on(retail_tests::lambda::sale_stream_event(&template_path));
    let tls = TlsTerminator::start(&moto.endpoint);
    let scratch = dir.join("bench-cold-start");
    let trust = if args.system_roots {
        tls.trust_bundle(&scratch)
    } else {
        let path = scratch.join("ca.pem");
        std::fs::create_dir_all(&scratch).expect("the scratch folder");
        std::fs::write(&path, &tls.ca_pem).expect("the CA is written");
        path
    };

    let binaries: Vec<&str> = [BARE_HELLO, NAIVE_HELLO]
        .into_iter()
        .chain(FUNCTIONS)
        .filter(|b| args.only.as_ref().is_none_or(|only| only.iter().any(|o| o == b) || !FUNCTIONS.contains(b)))
        .collect();
    println!(
        "cold starts under aws-lambda-rie, {} fresh emulators per binary and memory size; DynamoDB = moto behind TLS ({}, trusting {}); {}",
        args.runs,
        tls.endpoint,
        if args.system_roots { "the system's roots and its CA" } else { "its CA only" },
        dir.display()
    );
    println!("medians, [quartiles]; first = init + the first request's round trip; peak = the function process's VmHWM");
    let mut at_target: Option<Vec<Row>> = None;
    for &memory in &args.memories {
        let share = match CpuShare::for_memory(memory) {
            Ok(share) => {
                println!(
                    "\n{memory} MB: {:.3} of a CPU (cgroup {}, quota {} µs per {} µs)",
                    share.cpus(),
                    share.dir().display(),
                    share.quota_us,
                    share.period_us
                );
                Some(share)
            }
            Err(why) => {
                println!("\n{memory} MB: NO CPU LIMIT, running at full speed: {why}");
                None
            }
        };
        println!(
            "{:<17} {:>6} {:>22} {:>24} {:>20} {:>17} {:>13} {:>11}",
            "binary", "MiB", "init ms", "first response ms", "second ms", "peak MiB", "1st CPU ms", "2nd CPU ms"
        );
        let mut rows = Vec::new();
        for name in &binaries {
            let binary = dir.join(name);
            let Ok(meta) = std::fs::metadata(&binary) else {
                eprintln!("{} is missing: cargo build --release --workspace", binary.display());
                return ExitCode::FAILURE;
            };
            let mut env: Vec<(String, String)> =
                lambda_env(name).into_iter().filter(|(k, _)| k != "AWS_LAMBDA_FUNCTION_MEMORY_SIZE").collect();
            env.push(("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), memory.to_string()));
            env.push(("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()));
            env.push(("AWS_ENDPOINT_URL_DYNAMODB".into(), tls.endpoint.clone()));
            env.push(("SSL_CERT_FILE".into(), trust.display().to_string()));
            if let Some(decl) = template.functions.iter().find(|f| f.binary.as_deref() == Some(*name)) {
                let fenv = function_environment(&text, &decl.logical_id, &|id| tables.by_logical_id(id).map(str::to_owned))
                    .expect("the function's environment resolves");
                env.extend(fenv.variables);
            } else if *name == NAIVE_HELLO {
                env.push(("COMMODITIES_TABLE".into(), tables.commodities.clone()));
            }
            let mut samples = Vec::with_capacity(args.runs);
            for run in 0..args.runs {
                let requests = [request(name, memory, run, 0, &sale_event, &day), request(name, memory, run, 1, &sale_event, &day)];
                match cold_start(&binary, &env, share.as_ref().map(CpuShare::dir), &requests) {
                    Ok(sample) => samples.push(sample),
                    Err(e) => {
                        eprintln!("{name} at {memory} MB, run {run}: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            let spread = |f: fn(&Sample) -> f64| quartiles(samples.iter().map(f).collect());
            let row = Row {
                binary: name.to_string(),
                size: meta.len(),
                init: spread(|s| s.init_ms),
                first: spread(|s| s.first_ms),
                second: spread(|s| s.second_ms),
                peak_kb: spread(|s| s.peak_kb),
                first_cpu: spread(|s| s.first_cpu_ms),
                second_cpu: spread(|s| s.second_cpu_ms),
            };
            println!(
                "{:<17} {:>6.1} {:>22} {:>24} {:>20} {:>17} {:>13.2} {:>11.2}",
                row.binary,
                row.size as f64 / 1048576.0,
                row.init.show(1.0),
                row.first.show(1.0),
                row.second.show(1.0),
                row.peak_kb.show(1024.0),
                row.first_cpu.median,
                row.second_cpu.median
            );
            rows.push(row);
        }
        if memory == TARGET_MEMORY {
            at_target = Some(rows);
        }
    }
    drop(tls);
    drop(moto);
    match at_target {
        Some(rows) => targets(&rows),
        None => {
            println!("\n(the targets are checked at {TARGET_MEMORY} MB, which this run did not measure)");
            ExitCode::SUCCESS
        }
    }
}

/// The targets at 256 MB, as ratios within this run.
fn targets(rows: &[Row]) -> ExitCode {
    let find = |name: &str| rows.iter().find(|r| r.binary == name);
    let (Some(bare), Some(naive)) = (find(BARE_HELLO), find(NAIVE_HELLO)) else {
        println!("\nthe baselines were not measured: no targets checked");
        return ExitCode::SUCCESS;
    };
    println!(
        "\nat {TARGET_MEMORY} MB: first response / naive SDK hello's ({:.1} ms), target <= 0.50; init / bare hello's ({:.1} ms), target <= 1.50",
        naive.first.median, bare.init.median
    );
    let mut missed = Vec::new();
    for row in rows.iter().filter(|r| FUNCTIONS.contains(&r.binary.as_str())) {
        let first = row.first.median / naive.first.median;
        let init = row.init.median / bare.init.median;
        let verdict = if first <= 0.5 && init <= 1.5 { "ok" } else { "MISSED" };
        if verdict != "ok" {
            missed.push(row.binary.clone());
        }
        println!("{:<17} first {first:>5.2}   init {init:>5.2}   {verdict}", row.binary);
    }
    if missed.is_empty() {
        println!("every function meets both targets");
    } else {
        println!("missed by: {}", missed.join(", "));
    }
    ExitCode::SUCCESS
}

impl Spread {
    /// `12.3 [11.9-13.0]`, in units of `per`.
    fn show(&self, per: f64) -> String {
        format!("{:.1} [{:.1}-{:.1}]", self.median / per, self.q1 / per, self.q3 / per)
    }
}

fn quartiles(mut v: Vec<f64>) -> Spread {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let position = q * (v.len() - 1) as f64;
        let (low, high) = (position.floor() as usize, position.ceil() as usize);
        v[low] + (v[high] - v[low]) * (position - low as f64)
    };
    Spread { median: at(0.5), q1: at(0.25), q3: at(0.75) }
}

/// One fresh emulator in the limit: start, two invocations, the INIT REPORT and the peak
/// memory; dropping it kills it and its function.
fn cold_start(binary: &Path, env: &[(String, String)], cgroup: Option<&Path>, requests: &[Value; 2]) -> Result<Sample, String> {
    let emulated = EmulatedBinary::start_limited(binary, env, cgroup);
    let mut took = [0.0; 2];
    let mut cpu = [0.0; 2];
    for (i, event) in requests.iter().enumerate() {
        let before = if i == 0 { 0 } else { emulated.function_cpu_ns().unwrap_or(0) };
        let sent = Instant::now();
        let (status, body) = emulated.invoke_raw(event);
        took[i] = sent.elapsed().as_secs_f64() * 1000.0;
        // An HTTP answer with a 2xx status, or a stream batch with no failed record.
        let answer: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let served = status == 200
            && (answer["statusCode"].as_u64().is_some_and(|s| (200..300).contains(&s))
                || answer["batchItemFailures"].as_array().is_some_and(Vec::is_empty));
        if !served {
            return Err(format!("invocation {} was not served: {status} {body}\n{}", i + 1, emulated.output()));
        }
        let after = emulated.function_cpu_ns().ok_or("the function process's CPU time cannot be read")?;
        cpu[i] = after.saturating_sub(before) as f64 / 1e6;
    }
    let line = emulated
        .wait_for_line(&["INIT REPORT"], Duration::from_secs(5))
        .ok_or_else(|| format!("no INIT REPORT in the emulator's output:\n{}", emulated.output()))?;
    let init_ms = init_report_ms(&line).ok_or_else(|| format!("no durationMs in {line:?}"))?;
    let peak_kb = emulated.function_peak_kb().ok_or("the function process's VmHWM cannot be read")? as f64;
    Ok(Sample { init_ms, first_ms: took[0], second_ms: took[1], peak_kb, first_cpu_ms: cpu[0], second_cpu_ms: cpu[1] })
}

/// `INIT REPORT(durationMs: 12.345)` → 12.345.
fn init_report_ms(line: &str) -> Option<f64> {
    let rest = &line[line.find("INIT REPORT")?..];
    let value = &rest[rest.find("durationMs:")? + "durationMs:".len()..];
    let value: String = value.trim_start().chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
    value.parse().ok()
}

/// The `nth` request of one cold start: a request each function really serves, with the claims
/// the gateway's authorizer would add. Checkout sells (a new idempotency key each time); the
/// lookup and the naive hello read the same commodity.
fn request(binary: &str, memory: u32, run: usize, nth: usize, sale_stream: &Value, day: &str) -> Value {
    let till = ("pos", Some("S001"));
    let head_office = ("headoffice", None);
    match binary {
        "commodity-lookup" => http_event(
            "GET /stores/{storeId}/commodities/{sku}",
            "/stores/S001/commodities/MILK-1L",
            &[("storeId", "S001"), ("sku", "MILK-1L")],
            "",
            till,
            &[],
            None,
        ),
        "checkout" => {
            let key = format!("bench-{memory}-{run}-{nth}-{}", std::process::id());
            let sale = json!({"terminalId": "T1", "lines": [{"sku": "MILK-1L", "quantity": 2}], "payments": [{"method": "cash", "amount": 3000}]});
            http_event(
                "POST /stores/{storeId}/sales",
                "/stores/S001/sales",
                &[("storeId", "S001")],
                "",
                till,
                &[("idempotency-key", &key)],
                Some(&sale),
            )
        }
        "price-adjustment" => http_event(
            "GET /stores/{storeId}/prices/{sku}",
            "/stores/S001/prices/MILK-1L",
            &[("storeId", "S001"), ("sku", "MILK-1L")],
            "",
            head_office,
            &[],
            None,
        ),
        "catalog-admin" => http_event(
            "PUT /stores/{storeId}",
            "/stores/B001",
            &[("storeId", "B001")],
            "",
            head_office,
            &[],
            Some(&json!({"name": "Bench", "region": "EAST", "timezone": "Asia/Shanghai"})),
        ),
        "sales-report" => {
            http_event("GET /reports/daily", "/reports/daily", &[], &format!("date={day}"), head_office, &[], None)
        }
        "sales-aggregator" => sale_stream.clone(),
        "dashboard" => http_event("GET /dashboard", "/dashboard", &[], "", head_office, &[], None),
        _ => http_event("GET /hello", "/hello", &[], "", till, &[], None),
    }
}
