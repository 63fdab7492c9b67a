//! Functions as real Lambda processes: each function's release binary under the official Runtime
//! Interface Emulator (`aws-lambda-rie`), one emulator per execution environment. Like Lambda, a
//! function gets another environment when every one it has is busy (an emulator serves one
//! invocation at a time), up to a limit; environments are reused while warm.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::Value;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Semaphore;

use crate::loopback::loopback_port;

/// The path the emulator serves invocations on (Lambda's Invoke API).
pub const INVOCATIONS_PATH: &str = "/2015-03-31/functions/function/invocations";

/// Lines of an environment's output kept for the error that reports its failure.
const LOG_TAIL: usize = 60;

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("{function}: cannot start an emulator: {why}")]
    Start { function: String, why: String },
    #[error("{function}: the invocation failed: {why}\n--- its environment's last output ---\n{log}")]
    Failed { function: String, why: String, log: String },
}

/// How to run one function under the emulator.
#[derive(Debug, Clone)]
pub struct FunctionProcess {
    /// The binary name (`checkout`), also the function name Lambda reports.
    pub name: String,
    pub binary: PathBuf,
    pub emulator: PathBuf,
    /// Its whole environment: the process starts with nothing else, as in Lambda.
    pub env: Vec<(String, String)>,
    /// How long an invocation may take before it counts as failed.
    pub timeout: Duration,
    /// Show the emulator's own lines too, not only the function's ([`emulator_chatter`]).
    pub emulator_logs: bool,
}

/// One function's environments.
pub struct EmulatedFunction {
    process: FunctionProcess,
    idle: Mutex<Vec<Environment>>,
    slots: Semaphore,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl std::fmt::Debug for EmulatedFunction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmulatedFunction").field("name", &self.process.name).finish()
    }
}

impl EmulatedFunction {
    /// At most `max_environments` invocations of this function run at once.
    pub fn new(process: FunctionProcess, max_environments: usize) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new()).pool_idle_timeout(Duration::from_secs(30)).build(connector);
        EmulatedFunction { process, idle: Mutex::new(Vec::new()), slots: Semaphore::new(max_environments.max(1)), client }
    }

    pub fn name(&self) -> &str {
        &self.process.name
    }

    /// One invocation with `event`; the function's answer as JSON. A function error (what the
    /// runtime reports to `/error`) comes back as the emulator returns it: `{"errorType", ...}`.
    pub async fn invoke(&self, event: &Value) -> Result<Value, InvokeError> {
        let _slot = self.slots.acquire().await.expect("the semaphore is never closed");
        let idle = self.idle.lock().expect("not poisoned").pop();
        let environment = match idle {
            Some(e) => e,
            None => Environment::start(&self.process).await?,
        };
        match environment.invoke(&self.client, event, self.process.timeout).await {
            Ok(answer) => {
                self.idle.lock().expect("not poisoned").push(environment);
                Ok(answer)
            }
            // A broken environment is not reused (Lambda would replace it too).
            Err(why) => Err(InvokeError::Failed { function: self.process.name.clone(), why, log: environment.log_tail() }),
        }
    }

    /// How many environments are warm right now.
    pub fn warm(&self) -> usize {
        self.idle.lock().expect("not poisoned").len()
    }
}

/// One emulator process and the function process under it, killed together when dropped.
struct Environment {
    child: tokio::process::Child,
    url: String,
    log: Arc<Mutex<VecDeque<String>>>,
}

impl Environment {
    async fn start(process: &FunctionProcess) -> Result<Environment, InvokeError> {
        let fail = |why: String| InvokeError::Start { function: process.name.clone(), why };
        let (rie_port, api_port) = (loopback_port().map_err(&fail)?, loopback_port().map_err(&fail)?);
        let rie_addr = SocketAddr::from(([127, 0, 0, 1], rie_port));
        let mut command = tokio::process::Command::new(&process.emulator);
        command
            .arg("--runtime-interface-emulator-address")
            .arg(rie_addr.to_string())
            // Every emulator needs its own Runtime API port (its default, 9001, is shared).
            .arg("--runtime-api-address")
            .arg(format!("127.0.0.1:{api_port}"))
            .arg(&process.binary)
            .env_clear()
            .envs(process.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        {
            // Its own process group, so the function process dies with it; and it dies with us.
            command.process_group(0);
            // SAFETY: the closure runs in the forked child before exec and only calls prctl,
            // which is async-signal-safe; it allocates nothing and takes no lock.
            #[allow(unsafe_code)]
            unsafe {
                command.pre_exec(|| {
                    #[cfg(target_os = "linux")]
                    libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().map_err(|e| fail(format!("{}: {e}", process.emulator.display())))?;
        let log = Arc::new(Mutex::new(VecDeque::with_capacity(LOG_TAIL)));
        if let Some(out) = child.stdout.take() {
            tokio::spawn(keep_output(out, process.name.clone(), process.emulator_logs, Arc::clone(&log)));
        }
        if let Some(err) = child.stderr.take() {
            tokio::spawn(keep_output(err, process.name.clone(), process.emulator_logs, Arc::clone(&log)));
        }
        let mut environment = Environment { child, url: format!("http://{rie_addr}{INVOCATIONS_PATH}"), log };
        let api_addr = SocketAddr::from(([127, 0, 0, 1], api_port));
        let started = Instant::now();
        loop {
            if let Ok(Some(status)) = environment.child.try_wait() {
                return Err(fail(format!("the emulator exited at once ({status}):\n{}", environment.log_tail())));
            }
            // Both ports: the emulator opens its Runtime API in a goroutine of its own, which on a
            // loaded machine can come after its invocations port; a function that starts fast
            // (the dashboard's page) then finds nothing to connect to and exits.
            if tokio::net::TcpStream::connect(rie_addr).await.is_ok()
                && tokio::net::TcpStream::connect(api_addr).await.is_ok()
            {
                return Ok(environment);
            }
            if started.elapsed() > Duration::from_secs(10) {
                return Err(fail(format!(
                    "the emulator did not listen on {rie_addr} and {api_addr} within 10 s:\n{}",
                    environment.log_tail()
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn invoke(
        &self,
        client: &Client<HttpConnector, Full<Bytes>>,
        event: &Value,
        timeout: Duration,
    ) -> Result<Value, String> {
        let request = http::Request::post(&self.url)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(event.to_string())))
            .map_err(|e| e.to_string())?;
        let call = async {
            let response = client.request(request).await.map_err(|e| format!("the emulator did not answer: {e}"))?;
            let status = response.status();
            let body = response.into_body().collect().await.map_err(|e| e.to_string())?.to_bytes();
            if !status.is_success() {
                return Err(format!("the emulator answered {status}: {}", String::from_utf8_lossy(&body)));
            }
            serde_json::from_slice::<Value>(&body)
                .map_err(|e| format!("the answer is not JSON ({e}): {}", String::from_utf8_lossy(&body)))
        };
        // The emulator enforces the function's own timeout; this one guards against a hung emulator.
        match tokio::time::timeout(timeout + Duration::from_secs(5), call).await {
            Ok(answer) => answer,
            Err(_) => Err(format!("no answer within {:?}", timeout + Duration::from_secs(5))),
        }
    }

    fn log_tail(&self) -> String {
        self.log.lock().expect("not poisoned").iter().cloned().collect::<Vec<_>>().join("\n")
    }
}

impl Drop for Environment {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.child.id() {
            // The whole group: the emulator and the function process it started.
            // SAFETY: killpg takes plain integers; at worst the group is gone and it fails.
            #[allow(unsafe_code)]
            unsafe {
                libc::killpg(pid as libc::pid_t, libc::SIGKILL);
            }
        }
        let _ = self.child.start_kill();
    }
}

/// Shows an environment's output on retail-local's stderr as `sam local` does, each line
/// prefixed with the function's name: the function's own lines (its JSON logs and EMF
/// metrics documents) always, the emulator's chatter only when asked (`--emulator-logs`;
/// otherwise at debug level). Keeps the tail of both for the error that reports a failure.
async fn keep_output(
    stream: impl tokio::io::AsyncRead + Unpin,
    function: String,
    emulator_logs: bool,
    log: Arc<Mutex<VecDeque<String>>>,
) {
    use std::io::Write;
    let mut lines = BufReader::new(stream).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if emulator_logs || !emulator_chatter(&line) {
            // One write per line, under the lock: environments of several functions share stderr.
            let _ = writeln!(std::io::stderr().lock(), "[{function}] {line}");
        } else {
            tracing::debug!(function = %function, "{line}");
        }
        let mut log = log.lock().expect("not poisoned");
        if log.len() == LOG_TAIL {
            log.pop_front();
        }
        log.push_back(line);
    }
}

/// Whether a line of an environment's output is the emulator's rather than the function's: its
/// own log (`05 Dec 2026 21:15:02,118 [INFO] (rapid) exec ...`) and the invocation markers
/// Lambda writes around a function's lines (`START RequestId: ...`, `END ...`, `REPORT ...`,
/// `INIT_REPORT ...`).
pub fn emulator_chatter(line: &str) -> bool {
    line.contains(" (rapid) ")
        || ["START RequestId:", "END RequestId:", "REPORT RequestId:", "INIT_START", "INIT_REPORT", "INIT REPORT"]
            .iter()
            .any(|marker| line.starts_with(marker))
}

/// The status, headers and body of a payload-format-2.0 response document, as API Gateway reads
/// it; `None` when `answer` is not one (a function error).
pub fn v2_response(answer: &Value) -> Option<http::Response<lambda_http::Body>> {
    use base64::Engine;
    let status = answer.get("statusCode")?.as_u64()?;
    let mut response = http::Response::builder().status(u16::try_from(status).ok()?);
    if let Some(headers) = answer.get("headers").and_then(Value::as_object) {
        for (name, value) in headers {
            if let Some(value) = value.as_str() {
                response = response.header(name.as_str(), value);
            }
        }
    }
    if let Some(multi) = answer.get("multiValueHeaders").and_then(Value::as_object) {
        for (name, values) in multi {
            if answer.get("headers").and_then(|h| h.get(name)).is_some() {
                continue;
            }
            for value in values.as_array().into_iter().flatten().filter_map(Value::as_str) {
                response = response.header(name.as_str(), value);
            }
        }
    }
    for cookie in answer.get("cookies").and_then(Value::as_array).into_iter().flatten().filter_map(Value::as_str) {
        response = response.header(http::header::SET_COOKIE, cookie);
    }
    let body = match answer.get("body").and_then(Value::as_str) {
        None => lambda_http::Body::Empty,
        Some(text) if answer.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) => {
            lambda_http::Body::Binary(base64::engine::general_purpose::STANDARD.decode(text).ok()?)
        }
        Some(text) => lambda_http::Body::Text(text.to_owned()),
    };
    response.body(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_emulators_lines_are_told_from_the_functions() {
        for chatter in [
            "05 Dec 2026 21:15:02,118 [INFO] (rapid) exec '/work/main/target/checked/checkout' (cwd=/work/main, handler=)",
            "05 Dec 2026 21:15:02,131 [WARNING] (rapid) Cannot list external agents error=open /opt/extensions: no such file or directory",
            "START RequestId: 6c2d0a2e-6a4b-4c1c-9a53-2f1d0f5a3b7e Version: $LATEST",
            "END RequestId: 6c2d0a2e-6a4b-4c1c-9a53-2f1d0f5a3b7e",
            "REPORT RequestId: 6c2d0a2e-6a4b-4c1c-9a53-2f1d0f5a3b7e\tInit Duration: 9.93 ms\tDuration: 2.10 ms",
        ] {
            assert!(emulator_chatter(chatter), "{chatter}");
        }
        for own in [
            r#"{"timestamp":"2026-12-05T21:15:02.140Z","level":"INFO","route":"GET /dashboard","status":200,"message":"answered"}"#,
            r#"{"_aws":{"Timestamp":1796505302140,"CloudWatchMetrics":[]},"Function":"checkout","Requests":1}"#,
            "INFO the function cannot start error=STORES_TABLE is not set",
            "/x/checkout: broken on purpose",
        ] {
            assert!(!emulator_chatter(own), "{own}");
        }
    }

    #[test]
    fn a_v2_response_document_becomes_the_response_the_gateway_passes_on() {
        let r = v2_response(&json!({
            "statusCode": 201,
            "headers": {"content-type": "application/json", "x-request-id": "r1"},
            "multiValueHeaders": {"content-type": ["application/json"]},
            "cookies": ["a=1"],
            "body": "{\"ok\":true}",
            "isBase64Encoded": false
        }))
        .unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.headers()["content-type"], "application/json");
        assert_eq!(r.headers().get_all("content-type").iter().count(), 1);
        assert_eq!(r.headers()["set-cookie"], "a=1");
        assert_eq!(r.body(), &lambda_http::Body::Text("{\"ok\":true}".into()));
        let binary = v2_response(&json!({"statusCode": 200, "body": "/wBB", "isBase64Encoded": true})).unwrap();
        assert_eq!(binary.body(), &lambda_http::Body::Binary(vec![0xff, 0, 0x41]));
        assert!(v2_response(&json!({"errorType": "Runtime.ExitError", "errorMessage": "exit status 1"})).is_none());
    }
}
