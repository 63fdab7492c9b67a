//! What API Gateway does between a client and a function: match the route, run the JWT
//! authorizer, enforce its payload limit, build the v2 event, invoke, pass the answer through.
//! The answers it gives by itself are API Gateway's: `{"message": ...}` as application/json.

use axum::body::Body;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING, WWW_AUTHENTICATE};
use http::{HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use retail_core::http::function::ResponseFuture;
use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Level;

use crate::authorizer::{DevKey, JwtAuthorizer, Unauthorized};
use crate::oidc::{AUTHORIZE_PATH, DevIssuer, TOKEN_PATH};
use crate::event::{EventInput, lambda_request, v2_event};
use crate::emulator::v2_response;
use crate::functions::{BENCH_HELLO_PATH, BenchHello, Functions, Handler};
use crate::routes::{RouteError, Router};
use crate::template::{JwtConfig, Template};

/// API Gateway's own payload limit. The functions refuse more than 1 MiB themselves, so
/// anything up to this must reach them.
pub const MAX_PAYLOAD_BYTES: usize = 10 * 1024 * 1024;

pub const JWKS_PATH: &str = "/.well-known/jwks.json";
pub const OPENID_CONFIGURATION_PATH: &str = "/.well-known/openid-configuration";

/// Why the gateway cannot be built. Its own error rather than `StartError`, which also wraps
/// seeding's errors: seeding goes through the gateway, so the gateway must not depend on it.
/// `StartError` takes these over variant for variant.
#[derive(Debug)]
pub(crate) enum BuildError {
    /// A route's binary is not among the functions at hand.
    UnknownBinary { function: String, binary: String, known: String },
    Routes(RouteError),
}

impl From<RouteError> for BuildError {
    fn from(e: RouteError) -> Self {
        BuildError::Routes(e)
    }
}

pub(crate) struct Target {
    function: Handler,
    authorizer: Option<Arc<JwtAuthorizer>>,
}

pub(crate) struct Gateway {
    router: Router<Target>,
    jwks: Bytes,
    token_authorizer: Option<JwtConfig>,
    key: Arc<DevKey>,
    /// The OpenID issuer browsers sign in against, for the template's token authorizer.
    issuer: Option<DevIssuer>,
}

impl Gateway {
    pub(crate) fn build(
        template: &Template,
        functions: &Functions,
        key: Arc<DevKey>,
        bench_hello: bool,
    ) -> Result<Gateway, BuildError> {
        let mut authorizers: HashMap<JwtConfig, Arc<JwtAuthorizer>> = HashMap::new();
        let mut authorizer_for = |config: &Option<JwtConfig>| {
            config.as_ref().map(|c| {
                Arc::clone(
                    authorizers
                        .entry(c.clone())
                        .or_insert_with(|| Arc::new(JwtAuthorizer::new(c.clone(), Arc::clone(&key)))),
                )
            })
        };
        let mut routes = Vec::with_capacity(template.routes.len() + 1);
        for decl in &template.routes {
            let function = functions.get(&decl.binary).ok_or_else(|| BuildError::UnknownBinary {
                function: decl.function.clone(),
                binary: decl.binary.clone(),
                known: functions.names().collect::<Vec<_>>().join(", "),
            })?;
            let target = Target { function: function.clone(), authorizer: authorizer_for(&decl.authorizer) };
            routes.push((decl.method.clone(), decl.path.clone(), target));
        }
        if bench_hello {
            let target =
                Target { function: Handler::InProcess(Arc::new(BenchHello)), authorizer: authorizer_for(&template.token_authorizer) };
            routes.push(("GET".to_owned(), BENCH_HELLO_PATH.to_owned(), target));
        }
        let router = Router::new(routes)?;
        let jwks = Bytes::from(serde_json::to_vec(&key.jwks()).expect("JWKS serializes"));
        let issuer = template.token_authorizer.clone().map(|config| DevIssuer::new(Arc::clone(&key), config));
        Ok(Gateway { router, jwks, token_authorizer: template.token_authorizer.clone(), key, issuer })
    }

    pub(crate) fn route_keys(&self) -> impl Iterator<Item = &str> {
        self.router.route_keys()
    }

    pub(crate) fn token_authorizer(&self) -> Option<&JwtConfig> {
        self.token_authorizer.as_ref()
    }

    pub(crate) fn key(&self) -> &DevKey {
        &self.key
    }

    /// One request, start to finish, logged in one line at info level. `peer` is the client,
    /// `local_port` the port it reached.
    pub(crate) async fn handle(&self, request: Request<Body>, peer: SocketAddr, local_port: u16) -> Response<Body> {
        self.handle_logged(request, peer, local_port, Level::INFO).await
    }

    /// The same, logged at debug level: seeding sends thousands of requests and logs its progress
    /// instead.
    pub(crate) async fn handle_quietly(&self, request: Request<Body>, peer: SocketAddr, local_port: u16) -> Response<Body> {
        self.handle_logged(request, peer, local_port, Level::DEBUG).await
    }

    async fn handle_logged(&self, request: Request<Body>, peer: SocketAddr, local_port: u16, level: Level) -> Response<Body> {
        let started = Instant::now();
        let request_id = new_request_id();
        let method = request.method().clone();
        let path = request.uri().path().to_owned();
        let (route, response) = self.answer(request, peer, local_port, &request_id).await;
        log(level, &method, &path, route, &request_id, started, &response);
        response
    }

    /// The answer, and the template's route key it matched (`-` for none, and for the
    /// gateway's own pages).
    async fn answer<'a>(
        &'a self,
        request: Request<Body>,
        peer: SocketAddr,
        local_port: u16,
        request_id: &str,
    ) -> (&'a str, Response<Body>) {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path();

        if parts.method == Method::GET {
            if path == JWKS_PATH {
                return ("-", json_response(StatusCode::OK, self.jwks.clone(), request_id));
            }
            if path == OPENID_CONFIGURATION_PATH {
                return ("-", self.openid_configuration(&parts.headers, local_port, request_id));
            }
            if path == AUTHORIZE_PATH
                && let Some(issuer) = &self.issuer
            {
                return ("-", issuer_answer(issuer.authorize_page(parts.uri.query().unwrap_or("")), request_id));
            }
            if let Some((media_type, body)) = crate::welcome::page(path, self.route_keys()) {
                let mut response = json_response(StatusCode::OK, body, request_id);
                response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(media_type));
                return ("-", response);
            }
        }

        if parts.method == Method::POST
            && (path == AUTHORIZE_PATH || path == TOKEN_PATH)
            && let Some(issuer) = &self.issuer
        {
            let body = match Limited::new(body, ISSUER_FORM_BYTES).collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(_) => return ("-", gateway_answer(StatusCode::BAD_REQUEST, "Bad Request", request_id)),
            };
            let form = String::from_utf8_lossy(&body);
            let answer = if path == TOKEN_PATH { issuer.token(&form) } else { issuer.authorize(&form) };
            return ("-", issuer_answer(answer, request_id));
        }

        let Some(matched) = self.router.find(&parts.method, path) else {
            return ("-", gateway_answer(StatusCode::NOT_FOUND, "Not Found", request_id));
        };
        let claims = match &matched.target.authorizer {
            None => None,
            Some(authorizer) => match authorizer.authorize(&parts.headers) {
                Ok(claims) => Some(claims),
                Err(why) => {
                    let mut response = gateway_answer(StatusCode::UNAUTHORIZED, "Unauthorized", request_id);
                    response.headers_mut().insert(WWW_AUTHENTICATE, challenge(why));
                    return (matched.route_key, response);
                }
            },
        };

        let declared =
            parts.headers.get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|len| len > MAX_PAYLOAD_BYTES as u64) {
            return (matched.route_key, too_large(request_id));
        }
        let body = match Limited::new(body, MAX_PAYLOAD_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => {
                return (matched.route_key, too_large(request_id));
            }
            Err(_) => {
                let response = gateway_answer(StatusCode::BAD_REQUEST, "Bad Request", request_id);
                return (matched.route_key, response);
            }
        };

        let domain = domain_name(&parts.headers, local_port);
        let event = v2_event(&EventInput {
            method: parts.method.as_str(),
            raw_path: path,
            raw_query: parts.uri.query().unwrap_or(""),
            headers: &parts.headers,
            route_key: matched.route_key,
            path_params: &matched.params,
            claims: claims.as_deref(),
            request_id,
            source_ip: peer.ip(),
            domain_name: &domain,
            local_port,
            body: &body,
            now: chrono::Utc::now(),
        });
        let function = match &matched.target.function {
            Handler::InProcess(function) => function,
            Handler::Emulated(function) => {
                // The function's own process answers with a v2 response document; a function
                // error (crash, timeout, unhandled error) is API Gateway's 500.
                let response = match function.invoke(&event).await {
                    Ok(answer) => match v2_response(&answer) {
                        Some(response) => function_response(response, request_id),
                        None => {
                            tracing::error!(function = function.name(), %answer, "the function failed");
                            internal_error(request_id)
                        }
                    },
                    Err(e) => {
                        tracing::error!(error = %e, "invocation failed");
                        internal_error(request_id)
                    }
                };
                return (matched.route_key, response);
            }
        };
        // lambda_http panics on some events it cannot turn into a request; Lambda would fail
        // the invocation, and the gateway then answers 500.
        let lambda_request = match std::panic::catch_unwind(|| lambda_request(event)) {
            Ok(Ok(request)) => request,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "the v2 event does not deserialize; this is a retail-local bug");
                return (matched.route_key, internal_error(request_id));
            }
            Err(_) => return (matched.route_key, internal_error(request_id)),
        };
        let response = match (CatchUnwind { future: function.call(lambda_request) }).await {
            Some(response) => function_response(response, request_id),
            None => internal_error(request_id),
        };
        (matched.route_key, response)
    }

    fn openid_configuration(&self, headers: &http::HeaderMap, local_port: u16, request_id: &str) -> Response<Body> {
        let base = format!("http://{}", domain_name(headers, local_port));
        let doc = match &self.issuer {
            Some(issuer) => issuer.configuration(&base, JWKS_PATH),
            None => serde_json::json!({
                "issuer": null,
                "jwks_uri": format!("{base}{JWKS_PATH}"),
                "id_token_signing_alg_values_supported": ["RS256"],
            }),
        };
        let mut response = json_response(StatusCode::OK, Bytes::from(doc.to_string()), request_id);
        response.headers_mut().insert("access-control-allow-origin", HeaderValue::from_static("*"));
        response
    }
}

/// One line per request: `GET /stores/S001/commodities/MILK-1L 200 3.2 ms` with the route it
/// matched and the request id the answer carries in `apigw-requestid`.
fn log(level: Level, method: &Method, path: &str, route: &str, request_id: &str, started: Instant, response: &Response<Body>) {
    // The macros format their arguments only when the level is on: seeding's thousands of
    // requests at debug cost nothing here.
    let status = response.status().as_u16();
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    if level == Level::INFO {
        tracing::info!(request_id, route, "{method} {path} {status} {ms:.1} ms");
    } else {
        tracing::debug!(request_id, route, "{method} {path} {status} {ms:.1} ms");
    }
}

/// The most a sign-in form or token request may carry.
const ISSUER_FORM_BYTES: usize = 16 * 1024;

/// An answer of the development issuer (`oidc.rs`) as HTTP.
fn issuer_answer(answer: crate::oidc::Answer, request_id: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(answer.body));
    *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(answer.content_type));
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    headers.insert("access-control-allow-origin", HeaderValue::from_static("*"));
    if let Some(location) = answer.location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(http::header::LOCATION, location);
    }
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("apigw-requestid", id);
    }
    response
}

/// Like API Gateway's: 16 characters of base64, ending in `=`.
fn new_request_id() -> String {
    STANDARD.encode(rand::random::<[u8; 11]>())
}

/// The Host header when it is a valid authority, else the loopback address it reached.
fn domain_name(headers: &http::HeaderMap, local_port: u16) -> String {
    headers
        .get(HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| !h.is_empty() && h.parse::<http::uri::Authority>().is_ok())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("localhost:{local_port}"))
}

fn json_response(status: StatusCode, body: Bytes, request_id: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("apigw-requestid", id);
    }
    response
}

/// An answer the gateway gives without invoking a function.
fn gateway_answer(status: StatusCode, message: &'static str, request_id: &str) -> Response<Body> {
    json_response(status, Bytes::from(format!(r#"{{"message":"{message}"}}"#)), request_id)
}

fn too_large(request_id: &str) -> Response<Body> {
    gateway_answer(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large", request_id)
}

fn internal_error(request_id: &str) -> Response<Body> {
    gateway_answer(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error", request_id)
}

fn challenge(why: Unauthorized) -> HeaderValue {
    match why {
        Unauthorized::Missing => HeaderValue::from_static("Bearer"),
        Unauthorized::Invalid(reason) => {
            HeaderValue::from_str(&format!(r#"Bearer error="invalid_token" error_description="{reason}""#))
                .unwrap_or_else(|_| HeaderValue::from_static(r#"Bearer error="invalid_token""#))
        }
    }
}

/// The function's answer as the gateway passes it on: status, headers and body unchanged.
fn function_response(response: Response<lambda_http::Body>, request_id: &str) -> Response<Body> {
    let (mut parts, body) = response.into_parts();
    // Framing is the server's business, as it is the gateway's.
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(TRANSFER_ENCODING);
    if let Ok(id) = HeaderValue::from_str(request_id) {
        parts.headers.insert("apigw-requestid", id);
    }
    let body = match body {
        lambda_http::Body::Text(text) => Body::from(text),
        lambda_http::Body::Binary(bytes) => Body::from(bytes),
        _ => Body::empty(),
    };
    Response::from_parts(parts, body)
}

/// A function call that turns a panic into `None`, as Lambda turns it into a failed invocation.
struct CatchUnwind<'a> {
    future: ResponseFuture<'a>,
}

impl Future for CatchUnwind<'_> {
    type Output = Option<Response<lambda_http::Body>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let future = &mut self.future;
        match std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx))) {
            Ok(Poll::Ready(response)) => Poll::Ready(Some(response)),
            Ok(Poll::Pending) => Poll::Pending,
            Err(_) => Poll::Ready(None),
        }
    }
}
