//! How a function is hosted, without knowing by whom: `HttpFunction` is what `main.rs` hands to
//! the Lambda runtime and what `retail-local` calls in-process.

use http::{HeaderName, HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response, service_fn};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::body::JsonReply;
use super::problem::Problem;

pub type ResponseFuture<'a> = Pin<Box<dyn Future<Output = Response<Body>> + Send + 'a>>;

/// One Lambda function's HTTP handler: an API Gateway v2 request in, a response out. Every
/// refusal is already a problem+json response; nothing here fails.
pub trait HttpFunction: Send + Sync + 'static {
    fn call(&self, request: Request) -> ResponseFuture<'_>;
}

impl<F: HttpFunction + ?Sized> HttpFunction for Arc<F> {
    fn call(&self, request: Request) -> ResponseFuture<'_> {
        (**self).call(request)
    }
}

/// A successful answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    /// Text, so the runtime hands it to the gateway as is rather than base64-encoded.
    pub body: String,
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    pub fn json(status: StatusCode, value: &impl JsonReply) -> Self {
        Reply { status, body: value.to_json(), headers: Vec::new() }
    }

    pub fn ok(value: &impl JsonReply) -> Self {
        Self::json(StatusCode::OK, value)
    }

    pub fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((HeaderName::from_static(name), HeaderValue::from_static(value)));
        self
    }
}

pub type Routed = Result<Reply, Problem>;

/// The gateway's request id, echoed as `x-request-id` and in problems.
pub fn request_id(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

/// `"GET /stores/{storeId}/commodities/{sku}"`: the route API Gateway matched.
pub fn route_key(request: &Request) -> &str {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.route_key.as_deref().unwrap_or(""),
        _ => "",
    }
}

/// Turns a routed result into the response the gateway passes on.
pub fn respond(request_id: &str, routed: Routed) -> Response<Body> {
    match routed {
        Ok(reply) => {
            let mut response = Response::builder()
                .status(reply.status)
                .header("content-type", "application/json")
                .header("x-request-id", request_id)
                .body(Body::from(reply.body))
                .expect("valid response parts");
            response.headers_mut().extend(reply.headers.into_iter().map(|(k, v)| (k, v)));
            response
        }
        Err(problem) => {
            if problem.status.is_server_error() {
                tracing::warn!(code = problem.code, detail = %problem.detail, "refused with a server error");
            }
            problem.into_response(request_id)
        }
    }
}

/// A route this function does not serve (only reachable when something routes wrongly).
pub fn unknown_route(request: &Request) -> Problem {
    Problem::not_found(format!("no route {:?} in this function", route_key(request)))
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

/// Why a function could not start: said once, as an error line, before the process exits 1.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0} is not set: this binary is a Lambda function, run it under Lambda or the Runtime Interface Emulator")]
    NotUnderLambda(&'static str),
    #[error("{name}={value:?} is not a number of megabytes")]
    BadMemorySize { name: &'static str, value: String },
    #[error("the store is misconfigured: {0}")]
    Store(String),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
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

/// The store a function runs on, chosen once at start from its environment.
pub enum HostedStore {
    /// The template sets every `*_TABLE` variable: DynamoDB, as deployed (or any
    /// DynamoDB-compatible endpoint through `AWS_ENDPOINT_URL_DYNAMODB`).
    Dynamo(crate::store::dynamo::DynamoStore),
    /// No `*_TABLE` variable at all (a bare local run): the embedded store, whose data lives and
    /// dies with this process.
    Memory(crate::store::memory::MemoryStore),
}

impl HostedStore {
    /// DynamoDB when any table variable is set (then all must be), else the embedded store.
    pub async fn from_env() -> Result<HostedStore, StartupError> {
        if !crate::store::dynamo::TABLE_VARIABLES.iter().any(|(name, _)| std::env::var_os(name).is_some()) {
            tracing::warn!("no *_TABLE variable is set: running on the embedded store, data is lost when the process ends");
            return Ok(HostedStore::Memory(crate::store::memory::MemoryStore::new()));
        }
        let store = crate::store::dynamo::DynamoStore::from_env(crate::store::dynamo::TableSet::ALL).await.map_err(|e| StartupError::Store(e.to_string()))?;
        Ok(HostedStore::Dynamo(store))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            HostedStore::Dynamo(_) => "dynamodb",
            HostedStore::Memory(_) => "memory",
        }
    }
}

/// A Lambda `main`: logs set up, the environment checked, the store built once (outside the
/// handler, so warm invocations reuse its client and connections), then `serve` until the runtime
/// stops or SIGTERM/SIGINT arrives. Any start failure is one error line and exit code 1.
pub fn lambda_main<F, Fut>(serve: F) -> std::process::ExitCode
where
    F: FnOnce(HostedStore) -> Fut,
    Fut: Future<Output = Result<(), lambda_http::Error>>,
{
    init_tracing();
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
        let store = match HostedStore::from_env().await {
            Ok(store) => store,
            Err(e) => return failed(&e),
        };
        tracing::debug!(store = store.kind(), "store ready");
        tokio::select! {
            served = serve(store) => match served {
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
/// Each invocation logs its route and status inside the runtime's span (so with its request id).
pub async fn run_lambda<F: HttpFunction>(function: F) -> Result<(), lambda_http::Error> {
    let function = Arc::new(function);
    lambda_http::run(service_fn(move |request: Request| {
        let function = Arc::clone(&function);
        async move {
            let route = route_key(&request).to_owned();
            let response = function.call(request).await;
            tracing::info!(route, status = response.status().as_u16(), "answered");
            Ok::<_, std::convert::Infallible>(response)
        }
    }))
    .await
}

/// 501 for a route whose function is declared but not built yet.
pub fn not_implemented(request: &Request) -> Problem {
    Problem::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        format!("{} is declared in the template but not implemented yet", route_key(request)),
    )
}
