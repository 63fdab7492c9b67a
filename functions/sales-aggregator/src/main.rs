use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use retail_core::store::memory::MemoryStore;
use sales_aggregator::SalesAggregator;

#[tokio::main]
async fn main() -> Result<(), Error> {
    retail_core::http::function::init_tracing();
    let aggregator = std::sync::Arc::new(SalesAggregator::new(MemoryStore::new()));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| {
        let aggregator = aggregator.clone();
        async move { aggregator.fold(event.payload).await.map_err(Error::from) }
    }))
    .await
}
