//! `retail-local`: the whole API on one port without Docker or an AWS account. It reads
//! `template.yaml`, routes each HttpApi event of each function to that function's handler
//! in-process, and stands in for API Gateway on the way: JWT authorizer, v2 events, its own
//! 401/404/413 answers.
//!
//! In tests and benchmarks:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let running = retail_local::spawn(&retail_local::Options::new("template.yaml").without_seed()).await?;
//! let token = running.api.token(&["pos"], Some("S001"));
//! let url = running.url("/stores/S001/commodities/MILK-1L");
//! // ... GET url with `Authorization: Bearer {token}` ...
//! running.stop().await?;
//! # Ok(()) }
//! ```

pub mod authorizer;
pub mod cli;
pub mod dynamo_stream;
pub mod emulator;
pub mod environment;
pub mod event;
pub mod loopback;
pub mod functions;
mod gateway;
pub mod routes;
pub mod seed;
pub mod stream;
pub mod template;
mod backend;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::serve::ListenerExt;
use bytes::Bytes;
use retail_core::store::memory::MemoryStore;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use authorizer::{DevKey, TokenRequest};
pub use functions::{BENCH_HELLO_PATH, BenchHello, Functions};
pub use gateway::{JWKS_PATH, MAX_PAYLOAD_BYTES};
pub use seed::SeedSummary;
pub use template::Template;

use gateway::Gateway;

/// Why the local API could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Template(#[from] template::TemplateError),
    #[error(transparent)]
    Key(#[from] authorizer::KeyError),
    #[error("the template's routes do not compile: {0}")]
    Routes(#[from] routes::RouteError),
    #[error("{function} is served by binary {binary:?}, which retail-local does not host (it hosts: {known})")]
    UnknownBinary { function: String, binary: String, known: String },
    #[error(transparent)]
    Seed(#[from] seed::SeedError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("DynamoDB at {endpoint}: {why}")]
    Tables { endpoint: String, why: String },
    #[error("{0}")]
    Emulator(String),
}

/// The table whose stream carries committed sales to the aggregator.
pub const SALES_TABLE: &str = "SalesTable";

/// What to serve and how.
#[derive(Debug, Clone)]
pub struct Options {
    pub template: PathBuf,
    /// The signing key; `None`: `<template dir>/.retail-local/dev-signing-key.pem`.
    pub key_file: Option<PathBuf>,
    /// Demo data loaded at start; `None`: start empty.
    pub seed_dir: Option<PathBuf>,
    /// Also serve `GET /__bench/hello`.
    pub bench_hello: bool,
    /// Where the functions keep their data, and how they run.
    pub backend: Backend,
}

/// Where the data lives and how the functions run.
#[derive(Debug, Clone, Default)]
pub enum Backend {
    /// The embedded store, handlers in-process.
    #[default]
    Embedded,
    /// A DynamoDB-compatible endpoint (DynamoDB Local, moto, AWS).
    Dynamo(DynamoOptions),
}

#[derive(Debug, Clone)]
pub struct DynamoOptions {
    pub endpoint: String,
    /// Table names are `<prefix><LogicalId>` (`retail-SalesTable`).
    pub table_prefix: String,
    /// Run each function's release binary under the Runtime Interface Emulator instead of its
    /// handler in-process.
    pub emulator: Option<EmulatorOptions>,
}

/// The default `--table-prefix`.
pub const DEFAULT_TABLE_PREFIX: &str = "retail-";

#[derive(Debug, Clone)]
pub struct EmulatorOptions {
    /// The `aws-lambda-rie` executable.
    pub emulator: PathBuf,
    /// Where the functions' release binaries are (`target/release`).
    pub functions_dir: PathBuf,
    /// Execution environments per function at most (concurrent invocations of it).
    pub max_environments: usize,
}

impl Options {
    /// Serves `template`, seeded from `<template dir>/infra/seed`.
    pub fn new(template: impl Into<PathBuf>) -> Self {
        let template = template.into();
        let seed_dir = Some(template_dir(&template).join("infra/seed"));
        Options { template, key_file: None, seed_dir, bench_hello: false, backend: Backend::Embedded }
    }

    pub fn without_seed(mut self) -> Self {
        self.seed_dir = None;
        self
    }

    pub fn seed_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.seed_dir = Some(dir.into());
        self
    }

    pub fn key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.key_file = Some(path.into());
        self
    }

    pub fn backend(mut self, backend: Backend) -> Self {
        self.backend = backend;
        self
    }

    pub fn bench_hello(mut self, on: bool) -> Self {
        self.bench_hello = on;
        self
    }

    pub fn resolved_key_file(&self) -> PathBuf {
        self.key_file.clone().unwrap_or_else(|| authorizer::key_path_for(&self.template))
    }
}

fn template_dir(template: &Path) -> &Path {
    template.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// The local API, ready to serve: cheap to clone, shared by every connection.
#[derive(Clone)]
pub struct LocalApi {
    gateway: Arc<Gateway>,
    store: Option<MemoryStore>,
    seeded: Option<SeedSummary>,
    /// The sales stream feeding `sales-aggregator`, while any clone of the API lives.
    feed: Option<Arc<stream::FeedTask>>,
    /// On DynamoDB: its store, and the tables this start created.
    dynamo: Option<(retail_core::store::dynamo::DynamoStore, Vec<String>)>,
}

impl LocalApi {
    /// The template's functions over the options' backend, seeded unless told otherwise.
    pub async fn start(options: &Options) -> Result<LocalApi, StartError> {
        match &options.backend {
            Backend::Embedded => Self::start_embedded(options).await,
            Backend::Dynamo(dynamo) => backend::start_dynamo(options, dynamo).await,
        }
    }

    /// The template's functions over a fresh embedded store, seeded unless told otherwise.
    async fn start_embedded(options: &Options) -> Result<LocalApi, StartError> {
        let store = MemoryStore::new();
        let template = Template::load(&options.template)?;
        // The template says which function the sales table's stream feeds, and in what batches.
        let fed = template.functions.iter().find_map(|f| {
            let stream = f.streams.iter().find(|s| s.table == SALES_TABLE)?;
            Some((f.binary.clone().unwrap_or_default(), stream.batch_size))
        });
        let feed = match fed {
            Some((binary, batch_size)) if binary == "sales-aggregator" => {
                let aggregator = sales_aggregator::SalesAggregator::new(store.clone());
                Some(Arc::new(stream::FeedTask(tokio::spawn(stream::feed_sales(store.clone(), aggregator, batch_size)))))
            }
            Some((binary, _)) => {
                return Err(StartError::UnknownBinary {
                    function: format!("the {SALES_TABLE} stream's consumer"),
                    binary,
                    known: "sales-aggregator".into(),
                });
            }
            None => None,
        };
        let mut api = Self::start_with(options, Functions::embedded(&store)).await?;
        api.store = Some(store);
        api.feed = feed;
        Ok(api)
    }

    /// The template's routes served by `functions` (tests swap in their own).
    pub async fn start_with(options: &Options, functions: Functions) -> Result<LocalApi, StartError> {
        let template = Template::load(&options.template)?;
        let key_file = options.resolved_key_file();
        // RSA key generation takes a moment; keep it off the async workers.
        let key = tokio::task::spawn_blocking(move || DevKey::load_or_create(&key_file))
            .await
            .expect("key generation does not panic")?;
        let gateway = Gateway::build(&template, &functions, Arc::new(key), options.bench_hello)?;
        let seeded = match &options.seed_dir {
            Some(dir) => Some(seed::load(&gateway, dir).await?),
            None => None,
        };
        Ok(LocalApi { gateway: Arc::new(gateway), store: None, seeded, feed: None, dynamo: None })
    }

    /// A signed development token for the template's authorizer.
    pub fn mint(&self, request: &TokenRequest) -> String {
        let config = self.gateway.token_authorizer().cloned().unwrap_or_else(|| template::JwtConfig {
            name: String::new(),
            issuer: String::new(),
            audience: Vec::new(),
            identity_header: "authorization".into(),
        });
        self.gateway.key().sign(&request.claims(&config))
    }

    /// A token with these scopes (`pos`, `store`, `headoffice`) for this store, valid an hour.
    pub fn token(&self, scopes: &[&str], store_id: Option<&str>) -> String {
        self.mint(&TokenRequest::new(scopes, store_id))
    }

    /// One request through the gateway without a socket (the client appears as 127.0.0.1).
    pub async fn call(&self, request: http::Request<impl Into<Body>>) -> http::Response<Bytes> {
        let (parts, body) = request.into_parts();
        let response = self
            .gateway
            .handle(http::Request::from_parts(parts, body.into()), SocketAddr::from(([127, 0, 0, 1], 0)), 0)
            .await;
        let (parts, body) = response.into_parts();
        let bytes = http_body_util::BodyExt::collect(body).await.map(|c| c.to_bytes()).unwrap_or_default();
        http::Response::from_parts(parts, bytes)
    }

    /// `"GET /stores/{storeId}/commodities/{sku}"`, ... as served.
    pub fn route_keys(&self) -> Vec<String> {
        self.gateway.route_keys().map(str::to_owned).collect()
    }

    /// The published JWKS.
    pub fn jwks(&self) -> serde_json::Value {
        self.gateway.key().jwks()
    }

    pub fn seeded(&self) -> Option<&SeedSummary> {
        self.seeded.as_ref()
    }

    /// The embedded store, when started by [`LocalApi::start`].
    pub fn store(&self) -> Option<&MemoryStore> {
        self.store.as_ref()
    }

    /// The DynamoDB store, when started on an endpoint.
    pub fn dynamo_store(&self) -> Option<&retail_core::store::dynamo::DynamoStore> {
        self.dynamo.as_ref().map(|(store, _)| store)
    }

    /// The tables this start created (empty when they all existed).
    pub fn created_tables(&self) -> &[String] {
        self.dynamo.as_ref().map(|(_, created)| created.as_slice()).unwrap_or(&[])
    }
}

#[derive(Clone)]
struct Served {
    api: LocalApi,
    port: u16,
}

async fn gateway_handler(
    State(served): State<Served>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: http::Request<Body>,
) -> http::Response<Body> {
    served.api.gateway.handle(request, peer, served.port).await
}

/// Serves `api` on `listener` (HTTP/1.1, keep-alive) until `shutdown` completes, then lets
/// requests in flight finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    api: LocalApi,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let port = listener.local_addr()?.port();
    let app = axum::Router::new().fallback(gateway_handler).with_state(Served { api, port });
    let listener = listener.tap_io(|tcp| {
        // Small answers go out at once rather than waiting for Nagle.
        let _ = tcp.set_nodelay(true);
    });
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// A local API serving on a free loopback port in this process.
pub struct Running {
    pub addr: SocketAddr,
    pub api: LocalApi,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Running {
    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops accepting, finishes requests in flight, and returns how serving ended.
    pub async fn stop(self) -> std::io::Result<()> {
        let _ = self.stop.send(());
        self.task.await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// Starts the API for `options` (embedded store) and serves it on `127.0.0.1:0`.
pub async fn spawn(options: &Options) -> Result<Running, StartError> {
    let api = LocalApi::start(options).await?;
    spawn_api(api).await.map_err(|source| StartError::Bind { addr: "127.0.0.1:0".into(), source })
}

/// Serves an already started API on `127.0.0.1:0`.
pub async fn spawn_api(api: LocalApi) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, api.clone(), async move {
        let _ = stopped.await;
    }));
    Ok(Running { addr, api, stop, task })
}
