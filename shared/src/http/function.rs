//! A function's HTTP edge, without knowing who hosts it: `HttpFunction` is what `main.rs` hands to
//! the Lambda runtime (through [`crate::host`]) and what `retail-local` calls in-process.

use http::{HeaderName, HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
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

/// A function's routes: what each function implements. Every `Routes` is an [`HttpFunction`]
/// whose refusals become problem+json with the request id.
pub trait Routes: Send + Sync + 'static {
    fn route(&self, request: &Request) -> impl Future<Output = Routed> + Send;
}

impl<F: Routes> HttpFunction for F {
    fn call(&self, request: Request) -> ResponseFuture<'_> {
        Box::pin(async move {
            let id = request_id(&request);
            respond(&id, self.route(&request).await)
        })
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
            response.headers_mut().extend(reply.headers);
            response
        }
        Err(problem) => {
            crate::metrics::refused(problem.code);
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

/// 501 for a route whose function is declared but not built yet.
pub fn not_implemented(request: &Request) -> Problem {
    Problem::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        format!("{} is declared in the template but not implemented yet", route_key(request)),
    )
}
