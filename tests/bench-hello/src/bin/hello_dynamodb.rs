//! Baseline: the naive SDK set-up, as the SDK's own examples write it: the whole configuration
//! chain at init (`aws_config::load_from_env`, the default HTTPS client), then one GetItem in
//! the handler: the commodity `MILK-1L` from `COMMODITIES_TABLE`, the read commodity-lookup
//! makes first.

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{Body, Error, Request, Response, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = aws_config::load_from_env().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table = std::env::var("COMMODITIES_TABLE")?;
    lambda_http::run(service_fn(move |_request: Request| {
        let read = client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S("MILK-1L".into()))
            .key("sk", AttributeValue::S("commodity".into()))
            .send();
        async move {
            let item = read.await?;
            let found = item.item().is_some();
            Ok::<_, Error>(
                Response::builder()
                    .status(if found { 200 } else { 404 })
                    .header("content-type", "application/json")
                    .body(Body::from(format!(r#"{{"found":{found}}}"#)))?,
            )
        }
    }))
    .await
}
