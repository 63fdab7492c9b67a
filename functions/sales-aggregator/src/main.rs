use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    retail_core::http::function::init_tracing();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async move {
        // Not built yet: report every record as failed so the stream keeps them for the real one.
        let failures: Vec<Value> = event.payload["Records"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| r["dynamodb"]["SequenceNumber"].as_str())
            .map(|seq| serde_json::json!({ "itemIdentifier": seq }))
            .collect();
        Ok::<_, Error>(serde_json::json!({ "batchItemFailures": failures }))
    }))
    .await
}
