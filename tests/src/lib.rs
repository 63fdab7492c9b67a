//! Helpers the suites share: spawning `retail-local` on a free port, minting its tokens, and
//! speaking to it as a till or head office would.

pub mod moto;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The release `retail-local` binary: `$RETAIL_LOCAL_BIN`, else `target/release/retail-local`
/// (the test script builds it before the suites run).
pub fn retail_local_bin() -> PathBuf {
    if let Ok(p) = std::env::var("RETAIL_LOCAL_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| workspace_root().join("target"));
    let bin = target.join("release").join("retail-local");
    assert!(bin.exists(), "{} is missing: run `cargo build --release -p retail-local` first", bin.display());
    bin
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("a free loopback port").local_addr().expect("addr").port()
}

/// A running `retail-local`, stopped when dropped.
pub struct LocalApi {
    child: Child,
    pub addr: SocketAddr,
    pub base: String,
    template: PathBuf,
}

impl LocalApi {
    /// Starts `retail-local serve` on a free loopback port with `extra` flags and waits until it
    /// accepts connections.
    pub fn spawn(extra: &[&str]) -> Self {
        let template = workspace_root().join("template.yaml");
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let child = Command::new(retail_local_bin())
            .arg("serve")
            .arg("--addr")
            .arg(addr.to_string())
            .arg("--template")
            .arg(&template)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("retail-local starts");
        let mut api = LocalApi { child, addr, base: format!("http://{addr}"), template };
        api.wait_ready(Duration::from_secs(30));
        api
    }

    fn wait_ready(&mut self, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("retail-local exited early: {status}");
            }
            if TcpStream::connect_timeout(&self.addr, Duration::from_millis(200)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("retail-local did not listen on {} within {limit:?}", self.addr);
    }

    /// A signed token from `retail-local token`, as a developer would mint one.
    pub fn token(&self, scope: &str, store: Option<&str>) -> String {
        mint_token(&self.template, scope, store, None)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }
}

impl Drop for LocalApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `retail-local token` and returns what it printed on standard output.
pub fn mint_token(template: &std::path::Path, scope: &str, store: Option<&str>, ttl: Option<u64>) -> String {
    let mut cmd = Command::new(retail_local_bin());
    cmd.arg("token").arg("--scope").arg(scope).arg("--template").arg(template);
    if let Some(s) = store {
        cmd.arg("--store").arg(s);
    }
    if let Some(t) = ttl {
        cmd.arg("--ttl").arg(t.to_string());
    }
    let out = cmd.output().expect("retail-local token runs");
    assert!(out.status.success(), "token failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).expect("utf-8").trim().to_owned()
}

/// A client with a short timeout: a hung server fails the test instead of stalling the suite.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().expect("client")
}

/// A response's status, headers and body as JSON (`Null` when empty or not JSON).
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: serde_json::Value,
}

pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    Answer { status, headers, body }
}
