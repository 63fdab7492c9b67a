//! The sales-aggregator Lambda: its store built once from the environment, then batches of the
//! sales table's stream until shut down.

use lambda_runtime::{Error, LambdaEvent};
use retail_core::host::{HostedStore, lambda_main, run_events};
use retail_core::store::AggregateStore;
use sales_aggregator::{SalesAggregator, StreamBatch};
use std::sync::Arc;

fn main() -> std::process::ExitCode {
    lambda_main(sales_aggregator::TABLES, |store| async move {
        match store {
            HostedStore::Dynamo(store) => fold_stream(SalesAggregator::new(store)).await,
            HostedStore::Memory(store) => fold_stream(SalesAggregator::new(store)).await,
        }
    })
}

async fn fold_stream<S: AggregateStore>(aggregator: SalesAggregator<S>) -> Result<(), Error> {
    let aggregator = Arc::new(aggregator);
    run_events(move |event: LambdaEvent<StreamBatch>| {
        let aggregator = Arc::clone(&aggregator);
        async move {
            let records = event.payload.event.records.len();
            let response = aggregator.fold(event.payload).await?;
            tracing::info!(records, failed = response.batch_item_failures.len(), "folded");
            Ok::<_, Error>(response)
        }
    })
    .await
}
