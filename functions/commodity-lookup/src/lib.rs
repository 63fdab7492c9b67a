//! `commodity-lookup`: in progress. Declared with its routes; answers 501 until its issue lands.

use lambda_http::Request;
use retail_core::http::function::{ResponseFuture, not_implemented, request_id, respond};
use http::StatusCode;
use retail_core::http::{Claims, HttpFunction, Problem};

pub struct CommodityLookup<S> {
    #[allow(dead_code)]
    store: S,
}

impl<S> CommodityLookup<S> {
    pub fn new(store: S) -> Self {
        CommodityLookup { store }
    }
}

impl<S: Send + Sync + 'static> HttpFunction for CommodityLookup<S> {
    fn call(&self, request: Request) -> ResponseFuture<'_> {
        Box::pin(async move {
            let id = request_id(&request);
            let routed = match Claims::from_request(&request) {
                None => Err(Problem::new(StatusCode::UNAUTHORIZED, "unauthorized", "the request carries no authorizer claims")),
                Some(_) => Err(not_implemented(&request)),
            };
            respond(&id, routed)
        })
    }
}
