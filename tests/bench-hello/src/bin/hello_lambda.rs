//! Baseline: the smallest `lambda_http` function, as the runtime's own examples write it.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::run(service_fn(|_request: Request| async {
        Ok::<_, Error>(Response::builder().status(200).header("content-type", "application/json").body(Body::from(r#"{"hello":"world"}"#))?)
    }))
    .await
}
