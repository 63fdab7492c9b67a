//! The sales table's stream, locally: committed sales and returns from the embedded store's
//! change feed, delivered to `sales-aggregator` as DynamoDB stream events, the way Lambda's event
//! source mapping would (batches in commit order, retried until folded).

use chrono::{SecondsFormat, Utc};
use retail_core::domain::report::LedgerEntry;
use retail_core::store::memory::MemoryStore;
use retail_core::store::sale_item::{return_item, sale_item};
use sales_aggregator::{SalesAggregator, StreamBatch};
use serde_json::{Value, json};
use std::time::Duration;

/// The table whose stream carries committed sales and returns to the aggregator.
pub const SALES_TABLE: &str = "SalesTable";

/// How long the feed waits before looking again when nothing wakes it.
const POLL: Duration = Duration::from_millis(250);

/// The stream records of `entries` (each as the sales table holds it), starting at sequence
/// number `first` (1-based, in commit order).
pub fn stream_event(entries: &[LedgerEntry], first: usize) -> StreamBatch {
    let records: Vec<Value> = entries
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            let (image, created_at) = match entry {
                LedgerEntry::Sale(sale) => (sale_item(sale), sale.receipt.created_at),
                LedgerEntry::Return(receipt) => (return_item(receipt), receipt.created_at),
            };
            let image = serde_json::to_value(image).expect("an item is JSON");
            let keys = json!({"pk": image["pk"], "sk": image["sk"]});
            let sequence = format!("{:021}", first + i);
            json!({
                "eventID": format!("{:032x}", first + i),
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "local",
                "dynamodb": {
                    "ApproximateCreationDateTime": created_at.timestamp(),
                    "Keys": keys,
                    "NewImage": image,
                    "SequenceNumber": sequence,
                    "SizeBytes": 0,
                    "StreamViewType": "NEW_IMAGE"
                },
                "eventSourceARN": "arn:aws:dynamodb:local:000000000000:table/SalesTable/stream/local"
            })
        })
        .collect();
    // One shard, as the embedded store's feed is one ordered log.
    serde_json::from_value(json!({ "Records": records, "shardId": "shardId-local" })).expect("stream records match the event type")
}

/// Feeds every sale and return the store commits to the aggregator, in batches of at most
/// `batch_size`, until the task is aborted. A batch that fails is delivered again, as Lambda would.
pub async fn feed_sales(store: MemoryStore, aggregator: SalesAggregator<MemoryStore>, batch_size: usize) {
    let mut position = 0;
    loop {
        let (entries, _) = store.entries_since(position);
        if entries.is_empty() {
            tokio::select! {
                _ = store.sale_committed() => {}
                _ = tokio::time::sleep(POLL) => {}
            }
            continue;
        }
        for batch in entries.chunks(batch_size) {
            loop {
                let event = stream_event(batch, position + 1);
                match aggregator.fold(event).await {
                    Ok(response) if response.batch_item_failures.is_empty() => break,
                    Ok(response) => {
                        // Our own feed only carries sales and returns; a record the aggregator
                        // cannot read would go to the on-failure queue in AWS. Say so and move on.
                        tracing::error!(failures = ?response.batch_item_failures, "sales-aggregator refused stream records");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, at = %Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true), "sales-aggregator failed; retrying the batch");
                        tokio::time::sleep(POLL).await;
                    }
                }
            }
            position += batch.len();
        }
    }
}

/// Stops the feed when the last handle to it goes.
pub(crate) struct FeedTask(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for FeedTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}
