//! Baseline: the hello function plus what every real function pays at init, a DynamoDB client
//! built from the environment (region, credentials, endpoint), without contacting anything.

use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    lambda_http::run(service_fn(move |_request: Request| {
        // Held by the handler, as a real function holds its store.
        let _client = &client;
        async { Ok::<_, Error>(Response::builder().status(200).header("content-type", "application/json").body(Body::from(r#"{"hello":"world"}"#))?) }
    }))
    .await
}
