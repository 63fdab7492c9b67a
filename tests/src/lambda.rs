//! One function binary under the official Runtime Interface Emulator, as a suite drives it: the
//! process gets exactly the environment given (as in Lambda), its output is kept, and events are
//! POSTed to the emulator's Invoke API. Stopped, with its function process, when dropped.

use serde_json::{Map, Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{binaries_dir, free_port, runtime_interface_emulator};

pub struct EmulatedBinary {
    child: Child,
    addr: String,
    output: Arc<Mutex<Vec<String>>>,
}

/// What Lambda itself sets for a function called `name` (the emulator adds
/// `AWS_LAMBDA_RUNTIME_API`), with development credentials: no tables, no store setting, no
/// endpoint.
pub fn lambda_env(name: &str) -> Vec<(String, String)> {
    [
        ("AWS_LAMBDA_FUNCTION_NAME", name),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_TIMEOUT", "10"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("PATH", "/usr/local/bin:/usr/bin:/bin"),
        ("TZ", ":UTC"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl EmulatedBinary {
    /// Function binary `name` (from [`binaries_dir`]) under a fresh emulator with exactly `env`.
    pub fn start(name: &str, env: &[(String, String)]) -> EmulatedBinary {
        Self::start_path(&binaries_dir().join(name), env)
    }

    pub fn start_path(binary: &Path, env: &[(String, String)]) -> EmulatedBinary {
        Self::start_limited(binary, env, None)
    }

    /// The same, the emulator and the function inside the CPU limit `cgroup` (a control
    /// group's folder, as [`crate::cpu_share::CpuShare`] makes one) when given: the emulator
    /// is started through `sh`, which moves itself into the group and then execs it.
    pub fn start_limited(binary: &Path, env: &[(String, String)], cgroup: Option<&Path>) -> EmulatedBinary {
        assert!(binary.is_file(), "{} is missing: build the workspace in this profile first", binary.display());
        let rie = runtime_interface_emulator();
        let (port, api_port) = (free_port(), free_port());
        let mut command = match cgroup {
            Some(group) => {
                let mut sh = Command::new("/bin/sh");
                sh.arg("-c").arg(r#"echo $$ > "$0/cgroup.procs" && exec "$@""#).arg(group).arg(&rie);
                sh
            }
            None => Command::new(&rie),
        };
        let mut child = command
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
            // Its own group, so the function process under it is stopped with it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", rie.display()));
        let output = Arc::new(Mutex::new(Vec::new()));
        let streams: [Option<Box<dyn Read + Send>>; 2] =
            [child.stdout.take().map(|s| Box::new(s) as _), child.stderr.take().map(|s| Box::new(s) as _)];
        for stream in streams.into_iter().flatten() {
            let output = Arc::clone(&output);
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    output.lock().unwrap().push(line);
                }
            });
        }
        let mut emulated = EmulatedBinary { child, addr: format!("127.0.0.1:{port}"), output };
        let started = Instant::now();
        // Both ports: the emulator opens its Runtime API in a goroutine that can come after its
        // invocations port, and a function started before it exits at once.
        let api_addr = format!("127.0.0.1:{api_port}");
        while std::net::TcpStream::connect(&emulated.addr).is_err() || std::net::TcpStream::connect(&api_addr).is_err() {
            if let Ok(Some(status)) = emulated.child.try_wait() {
                panic!("the emulator exited at once ({status}):\n{}", emulated.output());
            }
            assert!(started.elapsed() < Duration::from_secs(10), "the emulator did not listen:\n{}", emulated.output());
            std::thread::sleep(Duration::from_millis(5));
        }
        emulated
    }

    /// One invocation: the emulator's HTTP status and body as they came.
    pub fn invoke_raw(&self, event: &Value) -> (u16, String) {
        let body = event.to_string();
        let mut stream = std::net::TcpStream::connect(&self.addr).expect("the emulator accepts");
        // Past the template's longest Timeout (the aggregator's 120 s, most of it needed on moto
        // for a full batch), so that a slow invocation is the emulator's timeout, not a hang here.
        stream.set_read_timeout(Some(Duration::from_secs(150))).unwrap();
        let request = format!(
            "POST /2015-03-31/functions/function/invocations HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.write_all(request.as_bytes()).unwrap();
        let mut response = Vec::new();
        if let Err(e) = stream.read_to_end(&mut response) {
            panic!("no answer from the emulator ({e}):\n{}", self.output());
        }
        let split = response.windows(4).position(|w| w == b"\r\n\r\n");
        let Some(split) = split else {
            panic!("not an HTTP response: {:?}\n{}", String::from_utf8_lossy(&response), self.output())
        };
        let head = String::from_utf8_lossy(&response[..split]);
        let body = &response[split + 4..];
        let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        // The emulator streams larger answers (a few KiB and up) in chunks.
        let chunked = head.lines().any(|l| {
            l.split_once(':').is_some_and(|(name, value)| {
                name.trim().eq_ignore_ascii_case("transfer-encoding") && value.trim().eq_ignore_ascii_case("chunked")
            })
        });
        let body = if chunked {
            dechunk(body).unwrap_or_else(|| panic!("a malformed chunked answer: {:?}", String::from_utf8_lossy(body)))
        } else {
            body.to_vec()
        };
        let body = String::from_utf8_lossy(&body).into_owned();
        (status, body)
    }

    /// One invocation the function answered: its answer as JSON (a v2 response, a batch
    /// response, or the `{"errorType", "errorMessage"}` of a handler that failed).
    pub fn invoke(&self, event: &Value) -> Value {
        let (status, body) = self.invoke_raw(event);
        match serde_json::from_str(&body) {
            Ok(answer) if status == 200 => answer,
            _ => panic!("the emulator answered {status}: {body:?}\n--- its output ---\n{}", self.output()),
        }
    }

    /// An HTTP invocation answered with a v2 response: (status, body as JSON or Null).
    pub fn call(&self, event: &Value) -> (u16, Value) {
        let answer = self.invoke(event);
        let Some(status) = answer.get("statusCode").and_then(Value::as_u64) else {
            panic!("the function failed: {answer}\n--- its output ---\n{}", self.output());
        };
        let body = answer.get("body").and_then(Value::as_str).map(|b| serde_json::from_str(b).unwrap_or(Value::Null));
        (status as u16, body.unwrap_or(Value::Null))
    }

    /// The function process's peak resident memory so far (`VmHWM`, kB): the emulator's own
    /// child. The emulator's `REPORT` "Max Memory Used" only repeats the configured size.
    pub fn function_peak_kb(&self) -> Option<u64> {
        self.function_pids()
            .iter()
            .filter_map(|pid| {
                let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
                let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
                line.split_whitespace().nth(1)?.parse().ok()
            })
            .max()
    }

    /// The CPU time the function process has used so far, all its threads (ns, from
    /// `/proc/PID/task/*/schedstat`): what a CPU limit turns into waiting, without the
    /// limit's rounding to whole periods.
    pub fn function_cpu_ns(&self) -> Option<u64> {
        let pid = self.function_pids().into_iter().next()?;
        let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?;
        Some(
            tasks
                .flatten()
                .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
                .filter_map(|line| line.split_whitespace().next()?.parse::<u64>().ok())
                .sum(),
        )
    }

    /// The emulator's children: the function process.
    fn function_pids(&self) -> Vec<String> {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{}/task", self.child.id())) else { return Vec::new() };
        tasks
            .flatten()
            .flat_map(|task| {
                let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
                children.split_whitespace().map(str::to_owned).collect::<Vec<_>>()
            })
            .collect()
    }

    /// Everything the emulator and the function wrote so far.
    pub fn output(&self) -> String {
        self.output.lock().unwrap().join("\n")
    }

    /// Waits up to `limit` for a line of output containing every one of `needles`.
    pub fn wait_for_line(&self, needles: &[&str], limit: Duration) -> Option<String> {
        let started = Instant::now();
        loop {
            let found =
                self.output.lock().unwrap().iter().find(|l| needles.iter().all(|n| l.contains(n))).cloned();
            if found.is_some() || started.elapsed() > limit {
                return found;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for EmulatedBinary {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = Command::new("kill").arg("-KILL").arg("--").arg(format!("-{pid}")).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The body of an HTTP/1.1 `Transfer-Encoding: chunked` message: hex size, CRLF, data, CRLF,
/// and so on to the zero-sized chunk.
fn dechunk(mut rest: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(rest.len());
    loop {
        let line = rest.windows(2).position(|w| w == b"\r\n")?;
        let size = std::str::from_utf8(&rest[..line]).ok()?.split(';').next()?.trim();
        let size = usize::from_str_radix(size, 16).ok()?;
        let after = &rest[line + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(after.get(..size)?);
        rest = after.get(size..)?.strip_prefix(b"\r\n")?;
    }
}

/// A v2 HTTP event for `route_key` with the claims the gateway's authorizer would add for
/// `scope` (and `store`), as API Gateway would build it.
pub fn http_event(
    route_key: &str,
    raw_path: &str,
    path_params: &[(&str, &str)],
    raw_query: &str,
    (scope, store): (&str, Option<&str>),
    headers: &[(&'static str, &str)],
    body: Option<&Value>,
) -> Value {
    let (method, _) = route_key.split_once(' ').expect("METHOD /path");
    let mut claims = Map::new();
    claims.insert("scope".into(), json!(scope));
    if let Some(store) = store {
        claims.insert("store_id".into(), json!(store));
    }
    claims.insert("sub".into(), json!("suite"));
    claims.insert("iss".into(), json!("https://auth.retail.local"));
    claims.insert("aud".into(), json!("retail-api"));
    let now = chrono::Utc::now();
    claims.insert("iat".into(), json!(now.timestamp().to_string()));
    claims.insert("exp".into(), json!((now.timestamp() + 3600).to_string()));
    let mut header_map = http::HeaderMap::new();
    header_map.insert("content-type", http::HeaderValue::from_static("application/json"));
    for (name, value) in headers {
        header_map.insert(*name, http::HeaderValue::from_str(value).expect("a header value"));
    }
    let params: Vec<(&str, String)> = path_params.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
    let body = body.map(Value::to_string).unwrap_or_default();
    retail_local::event::v2_event(&retail_local::event::EventInput {
        method,
        raw_path,
        raw_query,
        headers: &header_map,
        route_key,
        path_params: &params,
        claims: Some(&claims),
        request_id: "suite-request",
        source_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        domain_name: "localhost",
        local_port: 3000,
        body: body.as_bytes(),
        now,
    })
}

/// A stream batch with one real committed sale (store S001, two cartons of MILK-1L, its
/// business day returned beside it): made in-process on the embedded store, as the sales
/// table's stream would carry it.
pub async fn sale_stream_event(template: &Path) -> (Value, String) {
    let api = retail_local::LocalApi::start(&retail_local::Options::new(template).without_seed())
        .await
        .expect("retail-local starts");
    let ho = api.token(&["headoffice"], None);
    let till = api.token(&["pos"], Some("S001"));
    let call = |method: &str, path: &str, token: &str, body: Value| {
        http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/json")
            .header("idempotency-key", "bench-sale-1")
            .body(body.to_string())
            .expect("a request")
    };
    for (method, path, token, body) in [
        ("PUT", "/stores/S001", &ho, json!({"name": "S001", "region": "EAST", "timezone": "Asia/Shanghai"})),
        ("PUT", "/commodities/MILK-1L", &ho, json!({"name": "Milk", "unit": "each", "taxRateBp": 900, "barcodes": [], "stockPolicy": "track"})),
        ("POST", "/price-adjustments", &ho, json!({"batchId": "bench", "adjustments": [{"sku": "MILK-1L", "scope": "chain", "amount": 1299, "validFrom": "2020-01-01T00:00:00Z"}]})),
        ("POST", "/stores/S001/sales", &till, json!({"terminalId": "T1", "lines": [{"sku": "MILK-1L", "quantity": 2}], "payments": [{"method": "cash", "amount": 3000}]})),
    ] {
        let response = api.call(call(method, path, token, body)).await;
        assert!(response.status().is_success(), "{method} {path}: {} {}", response.status(), String::from_utf8_lossy(response.body()));
    }
    let (entries, _) = api.store().expect("the embedded store").entries_since(0);
    let [retail_core::domain::report::LedgerEntry::Sale(sale)] = entries.as_slice() else {
        panic!("one sale was committed, and nothing else: {entries:?}")
    };
    let day = sale.receipt.business_day.to_string();
    (serde_json::to_value(retail_local::stream::stream_event(&entries, 1)).expect("the event serializes"), day)
}
