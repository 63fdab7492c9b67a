//! Helpers the suites share: spawning `retail-local` on a free port, minting its tokens, and
//! speaking to it as a till or head office would.

pub mod browser;
pub mod cpu_share;
pub mod harness;
pub mod lambda;
pub mod moto;
pub mod seed;
pub mod tls;

use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The workspace root (this crate lives in `tests/`).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent").to_path_buf()
}

/// The directory of the cargo profile this executable was built in (`target/<profile>`): test
/// binaries live in its `deps/`, the bench binaries in it directly. Suites spawn the binaries
/// built beside them, so `tests/run.sh` builds the workspace in the profile it tests with.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the running executable's path");
    let dir = exe.parent().expect("an executable has a directory");
    match dir.file_name() {
        Some(name) if name == "deps" => dir.parent().expect("deps/ has a parent").to_path_buf(),
        _ => dir.to_path_buf(),
    }
}

/// The `retail-local` binary: `$RETAIL_LOCAL_BIN`, else the one in [`profile_dir`].
pub fn retail_local_bin() -> PathBuf {
    if let Ok(p) = std::env::var("RETAIL_LOCAL_BIN") {
        return PathBuf::from(p);
    }
    let bin = profile_dir().join("retail-local");
    assert!(
        bin.exists(),
        "{} is missing: build the workspace in this profile first (`bash tests/run.sh` does)",
        bin.display()
    );
    bin
}

/// A free loopback port for a server a test starts (see `retail_local::loopback`: not `bind(0)`,
/// whose just-released ports two tests starting at once could both be given).
pub fn free_port() -> u16 {
    retail_local::loopback::loopback_port().expect("a free loopback port")
}

/// How `retail-local` runs the functions in a suite: every end-to-end test runs in each mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Handlers in-process on the embedded store (`retail-local` as a developer starts it).
    Embedded,
    /// Handlers in-process on DynamoDB (moto), the sales table's real stream feeding reports.
    Moto,
    /// Each function's release binary under the Runtime Interface Emulator, on moto.
    Emulated,
}

/// The directory of the binaries the suites run (where `retail-local` and the functions are).
pub fn binaries_dir() -> PathBuf {
    retail_local_bin().parent().expect("a binary has a directory").to_path_buf()
}

/// The official Runtime Interface Emulator, which `tests/run.sh` takes out of the pinned
/// aws-sam-cli wheel (`tests/emulator.txt`) into the test venv's `bin/`.
pub fn runtime_interface_emulator() -> PathBuf {
    let rie = moto::venv().join("bin/aws-lambda-rie-x86_64");
    assert!(rie.is_file(), "{} is missing: run `bash tests/run.sh --tools`", rie.display());
    rie
}

/// A `retail-local` child process serving on a loopback port, stopped when dropped (with the moto
/// it runs on, if any). In-process, `retail_local::spawn` serves a `retail_local::LocalApi` instead.
pub struct SpawnedApi {
    child: Child,
    pub addr: SocketAddr,
    pub base: String,
    template: PathBuf,
    pub mode: Mode,
    // Dropped after `child` is stopped (see Drop).
    moto: Option<moto::Moto>,
    faults: Option<moto::FaultProxy>,
    /// A seed slice written for this server, removed with it.
    seed_slice: Option<PathBuf>,
}

impl SpawnedApi {
    /// Starts `retail-local serve` on a free loopback port with `extra` flags and waits until it
    /// answers (embedded store).
    pub fn spawn(extra: &[&str]) -> Self {
        Self::spawn_in(Mode::Embedded, extra)
    }

    /// Started with the demo data: all of `infra/seed` on the embedded store, a slice of it
    /// ([`seed::write_slice`]) on moto, where the whole seed takes about a minute.
    pub fn spawn_seeded(mode: Mode) -> Self {
        if mode == Mode::Embedded {
            return Self::spawn_in(mode, &[]);
        }
        static SLICES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = SLICES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("retail-seed-slice-{}-{n}", std::process::id()));
        seed::write_slice(&dir);
        let mut api = Self::spawn_in(mode, &["--seed", dir.to_str().expect("a UTF-8 temp dir")]);
        api.seed_slice = Some(dir);
        api
    }

    /// The same in `mode`: on a moto of its own, so tests never share data.
    pub fn spawn_in(mode: Mode, extra: &[&str]) -> Self {
        Self::spawn_with(mode, extra, false)
    }

    /// In a DynamoDB mode, with the fault layer between the functions and moto (rates zero
    /// until [`SpawnedApi::fault_control`] is told otherwise).
    pub fn spawn_with_faults(mode: Mode, extra: &[&str]) -> Self {
        assert_ne!(mode, Mode::Embedded, "the embedded store has no DynamoDB to fault");
        Self::spawn_with(mode, extra, true)
    }

    fn spawn_with(mode: Mode, extra: &[&str], faults: bool) -> Self {
        let template = workspace_root().join("template.yaml");
        let port = free_port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("addr");
        let mut command = Command::new(retail_local_bin());
        command.arg("serve").arg("--addr").arg(addr.to_string()).arg("--template").arg(&template).args(extra);
        // Not inherited: the mode alone decides where the data lives.
        command.env_remove("AWS_ENDPOINT_URL_DYNAMODB");
        let mut proxy = None;
        let moto = match mode {
            Mode::Embedded => None,
            Mode::Moto | Mode::Emulated => {
                let moto = moto::Moto::start();
                let endpoint = if faults {
                    let p = moto::FaultProxy::start(&moto.endpoint, u64::from(port));
                    let endpoint = p.endpoint.clone();
                    proxy = Some(p);
                    endpoint
                } else {
                    moto.endpoint.clone()
                };
                command.arg("--dynamodb-endpoint").arg(&endpoint);
                if mode == Mode::Emulated {
                    command.arg("--lambda-runtime-emulator").arg(runtime_interface_emulator());
                    command.arg("--functions-dir").arg(binaries_dir());
                }
                Some(moto)
            }
        };
        let child = command.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().expect("retail-local starts");
        let mut api = SpawnedApi { child, addr, base: format!("http://{addr}"), template, mode, moto, faults: proxy, seed_slice: None };
        // On moto, seeding and starting the emulators take seconds; the embedded store is quick.
        api.wait_ready(if mode == Mode::Embedded { Duration::from_secs(30) } else { Duration::from_secs(180) });
        api
    }

    /// Ready means serving: the port is bound before seeding, so poll the JWKS, not the socket.
    fn wait_ready(&mut self, limit: Duration) {
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("retail-local exited early: {status}");
            }
            if jwks_answers(&self.addr) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("retail-local did not answer on {} within {limit:?}", self.addr);
    }

    /// A signed token from `retail-local token`, as a developer would mint one.
    pub fn token(&self, scope: &str, store: Option<&str>) -> String {
        mint_token(&self.template, scope, store, None)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Where this server's demo data came from (`infra/seed`, or the slice written for it).
    pub fn seed_dir(&self) -> PathBuf {
        self.seed_slice.clone().unwrap_or_else(|| workspace_root().join("infra/seed"))
    }

    /// Stops the DynamoDB server under this API (moto modes), as if the database went away.
    pub fn stop_dynamodb(&mut self) {
        assert!(self.moto.take().is_some(), "stop_dynamodb: {:?} runs on no DynamoDB server", self.mode);
    }

    /// The fault layer's control URL, when started with one.
    pub fn fault_control(&self) -> Option<String> {
        self.faults.as_ref().map(|f| f.control.clone())
    }

    /// moto's endpoint, in the modes that run on it.
    pub fn dynamodb_endpoint(&self) -> Option<&str> {
        self.moto.as_ref().map(|m| m.endpoint.as_str())
    }
}

/// One `GET /.well-known/jwks.json` over a plain socket, answered 200.
fn jwks_answers(addr: &SocketAddr) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = TcpStream::connect_timeout(addr, Duration::from_millis(200)) else { return false };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let request = format!("GET /.well-known/jwks.json HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

impl Drop for SpawnedApi {
    fn drop(&mut self) {
        // SIGTERM first, so retail-local stops its emulator processes itself; then make sure.
        #[cfg(unix)]
        if let Ok(pid) = i32::try_from(self.child.id()) {
            let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.faults.take();
        self.moto.take();
        if let Some(dir) = self.seed_slice.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Generates one `#[tokio::test]` per [`Mode`] for each `async fn name(mode: Mode)` listed:
/// `embedded::name`, `moto::name`, `emulated::name`.
#[macro_export]
macro_rules! in_every_mode {
    ($($name:ident),* $(,)?) => {
        $crate::in_mode!(embedded, Embedded, $($name),*);
        $crate::in_mode!(moto, Moto, $($name),*);
        $crate::in_mode!(emulated, Emulated, $($name),*);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! in_mode {
    ($module:ident, $mode:ident, $($name:ident),*) => {
        mod $module {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name($crate::Mode::$mode).await
                }
            )*
        }
    };
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

/// A response's status, headers and body as JSON: the one answer type the function crates' tests
/// read in-process responses with too.
pub use retail_core::testing::Answer;

/// What came back over HTTP (the body `Null` when empty or not JSON).
pub async fn answer(response: reqwest::Response) -> Answer {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let bytes = response.bytes().await.expect("body");
    Answer::from_http(status, headers, &bytes)
}

/// How long what the sales stream brings about (reports, tracked stock taken from the stream)
/// may trail the writes behind it in a test: generous, since moto's stream and a loaded machine
/// are slow, and a test that waits stops at the first answer that holds.
pub const STREAM_CATCH_UP: Duration = Duration::from_secs(30);

/// `read`'s answer once `done` holds of it, or its last answer after [`STREAM_CATCH_UP`], for the
/// caller's assertion to name: for what the sales stream brings about a moment after a write.
pub async fn settled<T, F: std::future::Future<Output = T>>(mut read: impl FnMut() -> F, done: impl Fn(&T) -> bool) -> T {
    let started = Instant::now();
    loop {
        let got = read().await;
        if done(&got) || started.elapsed() > STREAM_CATCH_UP {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
