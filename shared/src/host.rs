//! Start-up, the outermost ring: what a Lambda `main` calls. Logs set up, the Lambda environment
//! checked, the store built once from the environment, then invocations until the runtime stops
//! or a shutdown signal arrives.
//!
//! The store is DynamoDB with the function's own tables, each named by its `*_TABLE` variable
//! and each required; the embedded store only when `RETAIL_STORE=memory` asks for it
//! (benchmarks, local runs). Missing or wrong configuration is one error line that names the
//! variable, and exit code 1 before the first invocation: a deployed function never sells into
//! memory.
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     lambda_main(checkout::TABLES, |store| async move {
//!         match store {
//!             HostedStore::Dynamo(store) => run_lambda(checkout::Checkout::new(store)).await,
//!             HostedStore::Memory(store) => run_lambda(checkout::Checkout::new(store)).await,
//!         }
//!     })
//! }
//! ```

use lambda_http::lambda_runtime::{self, LambdaEvent};
use lambda_http::{Request, service_fn};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::http::function::{HttpFunction, request_id, route_key};
use crate::store::dynamo::{CapacityMeter, ConfigError, Consumed, DynamoStore};
use crate::store::memory::MemoryStore;
pub use crate::store::dynamo::{Table, TableSet};

/// The variable that picks the store: `dynamodb` (the default) or `memory`.
pub const STORE_VARIABLE: &str = "RETAIL_STORE";

/// Why a function could not start: said once, as an error line, before the process exits 1.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0} is not set: this binary is a Lambda function, run it under Lambda or the Runtime Interface Emulator")]
    NotUnderLambda(&'static str),
    #[error("{name}={value:?} is not a number of megabytes")]
    BadMemorySize { name: &'static str, value: String },
    #[error(
        "RETAIL_STORE={0:?} is not a store: use dynamodb (the default: DynamoDB, the tables named by this \
         function's *_TABLE variables) or memory (the embedded store, whose data dies with the process)"
    )]
    UnknownStore(String),
    #[error("{0} (template.yaml sets each function's own; RETAIL_STORE=memory runs on the embedded store instead)")]
    MissingTables(ConfigError),
    #[error("{0}")]
    LambdaEnvironment(ConfigError),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
}

/// Which store the environment asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// `RETAIL_STORE` unset, empty or `dynamodb`: as deployed.
    Dynamo,
    /// `RETAIL_STORE=memory`: only ever asked for explicitly.
    Memory,
}

impl StoreKind {
    pub fn from_env() -> Result<StoreKind, StartupError> {
        let value = std::env::var_os(STORE_VARIABLE).map(|v| v.to_string_lossy().into_owned());
        StoreKind::from_value(value.as_deref())
    }

    /// From the variable's value (`None`: unset).
    pub fn from_value(value: Option<&str>) -> Result<StoreKind, StartupError> {
        match value {
            None | Some("") | Some("dynamodb") => Ok(StoreKind::Dynamo),
            Some("memory") => Ok(StoreKind::Memory),
            Some(other) => Err(StartupError::UnknownStore(other.to_owned())),
        }
    }
}

/// The store a function runs on, chosen once at start from its environment.
pub enum HostedStore {
    /// DynamoDB, as deployed (or any DynamoDB-compatible endpoint through
    /// `AWS_ENDPOINT_URL_DYNAMODB`), on the tables the function declared.
    Dynamo(DynamoStore),
    /// `RETAIL_STORE=memory`: the embedded store, whose data lives and dies with this process.
    Memory(MemoryStore),
}

impl HostedStore {
    /// What `RETAIL_STORE` asks for; on DynamoDB, `tables` are the function's tables, each of
    /// whose variables must be set (the other tables stay unconfigured: a call to one fails).
    pub async fn from_env(tables: TableSet) -> Result<HostedStore, StartupError> {
        match StoreKind::from_env()? {
            StoreKind::Memory => {
                tracing::warn!("RETAIL_STORE=memory: running on the embedded store, data is lost when the process ends");
                Ok(HostedStore::Memory(MemoryStore::new()))
            }
            StoreKind::Dynamo => {
                let tables = crate::store::dynamo::Tables::from_env(tables).map_err(StartupError::MissingTables)?;
                let client = crate::store::dynamo::lambda_client().map_err(StartupError::LambdaEnvironment)?;
                Ok(HostedStore::Dynamo(DynamoStore::new(client, tables)))
            }
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            HostedStore::Dynamo(_) => "dynamodb",
            HostedStore::Memory(_) => "memory",
        }
    }
}

/// Structured logs: JSON when Lambda's log format says so, plain text otherwise. In JSON every
/// line logged during an invocation carries the runtime's per-invocation span, whose `requestId`
/// is Lambda's request id (`{"span": {"requestId": ..., "name": "Lambda runtime invoke"}}`).
pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if json {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
    } else {
        builder.without_time().try_init()
    };
}

/// What `lambda_runtime` reads from the environment and panics without; checked first so a
/// missing variable is an error line that names it.
pub fn check_lambda_environment() -> Result<(), StartupError> {
    for name in ["AWS_LAMBDA_RUNTIME_API", "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_VERSION"] {
        if std::env::var_os(name).is_none_or(|v| v.is_empty()) {
            return Err(StartupError::NotUnderLambda(name));
        }
    }
    const MEMORY: &str = "AWS_LAMBDA_FUNCTION_MEMORY_SIZE";
    match std::env::var(MEMORY) {
        Err(_) => Err(StartupError::NotUnderLambda(MEMORY)),
        Ok(v) if v.parse::<i32>().is_err() => Err(StartupError::BadMemorySize { name: MEMORY, value: v }),
        Ok(_) => Ok(()),
    }
}

/// A Lambda `main` for a function without a store (the dashboard's page): logs set up, the
/// environment checked, then `serve` until the runtime stops or SIGTERM/SIGINT arrives.
pub fn lambda_main_without_store<F, Fut>(serve: F) -> std::process::ExitCode
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(), lambda_http::Error>>,
{
    host(async move { Ok(serve()) })
}

/// A Lambda `main`: logs set up, the environment checked, the store built once on `tables` (the
/// union of the tables of the store ports the function uses; outside the handler, so warm
/// invocations reuse its client and connections), then `serve` until the runtime stops or
/// SIGTERM/SIGINT arrives. Any start failure is one error line and exit code 1.
pub fn lambda_main<F, Fut>(tables: TableSet, serve: F) -> std::process::ExitCode
where
    F: FnOnce(HostedStore) -> Fut,
    Fut: Future<Output = Result<(), lambda_http::Error>>,
{
    host(async move {
        let store = HostedStore::from_env(tables).await?;
        tracing::debug!(store = store.kind(), ?tables, "store ready");
        if let HostedStore::Dynamo(dynamo) = &store {
            // The store moves into the function; its meter stays here for `after_invocation`.
            let _ = METER.set(dynamo.meter().clone());
        }
        Ok(serve(store))
    })
}

/// What every Lambda `main` does around its function: logs, the environment check, the runtime;
/// then `start` readies the function (a failure there is a start failure) and its serving runs
/// until the runtime stops or a signal arrives.
fn host<S, Fut>(start: S) -> std::process::ExitCode
where
    S: Future<Output = Result<Fut, StartupError>>,
    Fut: Future<Output = Result<(), lambda_http::Error>>,
{
    init_tracing();
    init_metrics();
    let failed = |e: &dyn std::fmt::Display| {
        tracing::error!(error = %e, "the function cannot start");
        std::process::ExitCode::FAILURE
    };
    if let Err(e) = check_lambda_environment() {
        return failed(&e);
    }
    // One invocation at a time per environment: a current-thread runtime starts faster and
    // needs no worker threads.
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return failed(&StartupError::Runtime(e)),
    };
    runtime.block_on(async move {
        let serving = match start.await {
            Ok(serving) => serving,
            Err(e) => return failed(&e),
        };
        tokio::select! {
            served = serving => match served {
                Ok(()) => std::process::ExitCode::SUCCESS,
                Err(e) => failed(&*e),
            },
            signal = shutdown_signal() => {
                tracing::info!(signal, "shutting down");
                std::process::ExitCode::SUCCESS
            }
        }
    })
}

/// Resolves on SIGTERM (what Lambda and the emulator send before they stop an environment)
/// or SIGINT, with the signal's name. Our own handler rather than
/// `lambda_runtime::spawn_graceful_shutdown_handler`: that one registers an extension, which
/// costs the cold start a round trip and panics where the Extensions API is missing.
async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = int.recv() => "SIGINT",
            },
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "ctrl-c"
    }
}

/// What a Lambda `main` calls once its store is built: serve invocations until shut down.
/// Each invocation logs its route and status inside the runtime's span (so with its request id),
/// then what it consumed of DynamoDB and its metrics ([`after_invocation`]).
pub async fn run_lambda<F: HttpFunction>(function: F) -> Result<(), lambda_http::Error> {
    let function = Arc::new(function);
    lambda_http::run(service_fn(move |request: Request| {
        let function = Arc::clone(&function);
        async move {
            let started = Instant::now();
            let route = route_key(&request).to_owned();
            let invocation = Invocation {
                request_id: lambda_http::RequestExt::lambda_context_ref(&request)
                    .map(|context| context.request_id.clone())
                    .unwrap_or_default(),
                api_request_id: Some(request_id(&request)),
                // Only a real store id: the path is the client's to write.
                store: crate::http::body::raw_path_param(&request, "storeId")
                    .filter(|id| crate::domain::StoreId::parse(id).is_ok())
                    .map(str::to_owned),
            };
            let response = function.call(request).await;
            let status = response.status().as_u16();
            tracing::info!(route, status, "answered");
            crate::metrics::answered(status);
            after_invocation(started.elapsed(), invocation);
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}

/// The same for a function that handles events other than HTTP (the sales stream's batches):
/// `handler` per invocation, then what it consumed of DynamoDB ([`after_invocation`]).
pub async fn run_events<E, R, H, Fut>(handler: H) -> Result<(), lambda_http::Error>
where
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    H: Fn(LambdaEvent<E>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, lambda_http::Error>> + Send,
{
    let handler = Arc::new(handler);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<E>| {
        let handler = Arc::clone(&handler);
        async move {
            let started = Instant::now();
            let invocation = Invocation { request_id: event.context.request_id.clone(), api_request_id: None, store: None };
            let answer = handler(event).await;
            after_invocation(started.elapsed(), invocation);
            answer
        }
    }))
    .await
}

/// The cost meter of the DynamoDB store this process hosts, set once by [`lambda_main`] (unset
/// on the embedded store, which has nothing to meter).
static METER: OnceLock<CapacityMeter> = OnceLock::new();

/// The metrics of this process, installed once by [`init_metrics`] (unset outside Lambda: then
/// every `crate::metrics` call is a no-op).
static METRICS: OnceLock<&'static metrics_cloudwatch_embedded::Collector> = OnceLock::new();

/// Set on the first invocation this process serves: its cold start.
static SERVED: AtomicBool = AtomicBool::new(false);

/// The EMF recorder as the process's `metrics` recorder: namespace from `METRICS_NAMESPACE`
/// (`Retail` when unset), every metric dimensioned by the function's name. Documents are
/// written by [`after_invocation`], never by a timer: a frozen environment has no timers.
fn init_metrics() {
    let namespace = std::env::var(crate::metrics::NAMESPACE_VARIABLE)
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| crate::metrics::DEFAULT_NAMESPACE.to_owned());
    let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension(crate::metrics::FUNCTION, function)
        .init()
    {
        Ok(collector) => {
            let _ = METRICS.set(collector);
            crate::metrics::describe();
        }
        // A recorder installed already (a test process): its metrics go there.
        Err(e) => tracing::debug!(error = %e, "no EMF metrics from this process"),
    }
}

/// What the metrics documents of one invocation carry besides the metrics: CloudWatch Logs
/// Insights can find an invocation's figures by its request id (as its log lines carry it), by
/// the gateway's (the `x-request-id` a till reports), or by store.
struct Invocation {
    /// Lambda's request id.
    request_id: String,
    /// API Gateway's request id, for an HTTP invocation.
    api_request_id: Option<String>,
    /// The store the request names (`{storeId}`), if any.
    store: Option<String>,
}

/// After each invocation: what it consumed of DynamoDB, drained from the hosted store's meter
/// and logged as one line ([`log_consumed`]) when anything was; then its metrics (the time it
/// took, whether it was the cold start, DynamoDB's throttles, retries and units, and whatever
/// the function counted) written as EMF documents on stdout. Lambda runs one invocation at a
/// time per process, so the figures are exactly that invocation's.
fn after_invocation(took: Duration, invocation: Invocation) {
    if let Some(meter) = METER.get() {
        let consumed = meter.take();
        log_consumed(&consumed);
        crate::metrics::dynamo(&consumed, meter.take_attempts());
    }
    crate::metrics::invoked(took, !SERVED.swap(true, Ordering::Relaxed));
    if let Some(collector) = METRICS.get() {
        collector.set_property("requestId", invocation.request_id);
        match invocation.api_request_id {
            Some(id) => collector.set_property("apiRequestId", id),
            None => collector.remove_property("apiRequestId"),
        };
        match invocation.store {
            Some(store) => collector.set_property("storeId", store),
            None => collector.remove_property("storeId"),
        };
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        if let Err(e) = collector.flush(&mut out) {
            tracing::warn!(error = %e, "the invocation's metrics could not be written");
        }
    }
}

/// The message of the line [`log_consumed`] writes.
pub const CAPACITY_MESSAGE: &str = "dynamodb capacity";

/// One INFO line, "dynamodb capacity", when `consumed` holds anything: the totals as numbers
/// (`requests`, `readUnits`, `writeUnits`, `reportedReadUnits`, `reportedWriteUnits`) and
/// `calls`, a JSON object (as a string) of the same per operation and table:
/// `{"TransactWriteItems": {"SalesTable": {"requests": 1, "readUnits": 0.0, "writeUnits": 2.0,
/// "reportedReadUnits": 0.0, "reportedWriteUnits": 2.0}}}`. Computed units follow DynamoDB's
/// sizing rules (`store::dynamo::meter` says which are estimates); `reported*` are what
/// DynamoDB said it consumed (zero where it said nothing).
pub fn log_consumed(consumed: &Consumed) {
    if consumed.is_empty() {
        return;
    }
    let total = consumed.total();
    tracing::info!(
        requests = total.requests,
        readUnits = total.read_units,
        writeUnits = total.write_units,
        reportedReadUnits = total.reported_read_units,
        reportedWriteUnits = total.reported_write_units,
        calls = %consumed.to_json(),
        "{CAPACITY_MESSAGE}"
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::dynamo::{SALES_STORE_TABLES, Tables};

    #[test]
    fn the_store_is_dynamodb_unless_memory_is_asked_for_by_name() {
        assert_eq!(StoreKind::from_value(None).unwrap(), StoreKind::Dynamo);
        assert_eq!(StoreKind::from_value(Some("")).unwrap(), StoreKind::Dynamo);
        assert_eq!(StoreKind::from_value(Some("dynamodb")).unwrap(), StoreKind::Dynamo);
        assert_eq!(StoreKind::from_value(Some("memory")).unwrap(), StoreKind::Memory);
        for wrong in ["bogus", "Memory", "embedded", " memory"] {
            let e = StoreKind::from_value(Some(wrong)).unwrap_err().to_string();
            assert!(e.starts_with(&format!("RETAIL_STORE={wrong:?} is not a store")), "{e}");
            assert!(e.contains("dynamodb") && e.contains("memory"), "the allowed values: {e}");
        }
    }

    #[test]
    fn a_missing_table_variable_is_named_and_the_way_out_said() {
        let only_stores = |var: &str| (var == "STORES_TABLE").then(|| "s".to_owned());
        let e = StartupError::MissingTables(Tables::from_lookup(only_stores, SALES_STORE_TABLES).unwrap_err());
        let e = e.to_string();
        for var in ["COMMODITIES_TABLE", "SALES_TABLE", "IDEMPOTENCY_TABLE"] {
            assert!(e.contains(var), "{var}: {e}");
        }
        assert!(!e.contains("STORES_TABLE,") && !e.contains("AGGREGATES_TABLE"), "{e}");
        assert!(e.contains("RETAIL_STORE=memory"), "{e}");
    }
}
