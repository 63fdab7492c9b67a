//! The local API on a socket: [`serve`] for a listener of the caller's (the binary's `--addr`),
//! [`spawn`] and [`spawn_api`] for a free loopback port in this process (tests, benchmarks).

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::serve::ListenerExt;
use std::future::Future;
use std::net::SocketAddr;

use crate::api::LocalApi;
use crate::error::StartError;
use crate::options::Options;

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
