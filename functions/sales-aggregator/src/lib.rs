//! `sales-aggregator`: folds the sales table's change stream into daily aggregates, and takes
//! the tracked stock the sales leave to it. The stream delivers at least once and may replay a
//! batch; the store folds each sale and each return once.

use aws_lambda_events::dynamodb::{Event, TimeWindowEventResponse};
use aws_lambda_events::streams::DynamoDbBatchItemFailure;
use serde::{Deserialize, Serialize};

use retail_core::domain::stream::{Position, SequenceNumber, ShardId, Streamed};
use retail_core::store::sale_item::entry_from_item;
use retail_core::store::{AggregateStore, StoreError};

/// A batch of the sales table's stream as the template's event source mapping delivers it. Its
/// tumbling window (`TumblingWindowInSeconds`) is there for one field: only a windowed event
/// names the shard its records come from (`shardId`), which the exactly-once fold needs
/// (`retail_core::domain::stream`). The window's state is not used.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct StreamBatch {
    #[serde(flatten)]
    pub event: Event,
    #[serde(rename = "shardId", default, skip_serializing_if = "Option::is_none")]
    pub shard_id: Option<String>,
}

/// What the function answers: the records that failed, and the window's state (none; a windowed
/// invocation must answer one).
pub type FoldResponse = TimeWindowEventResponse;

pub struct SalesAggregator<S> {
    db: S,
}

/// The DynamoDB tables this function uses: the aggregates, and the stock the sales leave to the
/// stream (tracked stock). Its port, [`AggregateStore`], also reads the stores for the reports,
/// which folding never does, so the function is not given them (a call to a table the store
/// was not given is refused unsent). Its `main` requires their variables at start, and
/// template.yaml gives it exactly these.
pub const TABLES: retail_core::store::dynamo::TableSet = retail_core::store::dynamo::TableSet::of(&[
    retail_core::store::dynamo::Table::Aggregates,
    retail_core::store::dynamo::Table::Stock,
]);

impl<S: AggregateStore> SalesAggregator<S> {
    pub fn new(db: S) -> Self {
        SalesAggregator { db }
    }

    /// Folds every new sale and return of the batch. A record that is neither (nor a sale's
    /// note of a return, which counts nothing), or has no sequence number, is reported as a
    /// batch item failure (the stream retries from it, then hands it to the on-failure queue)
    /// while the good ones before it still count; a store that fails fails the whole batch, to
    /// be retried, and says whether the failure is one retries can mend
    /// ([`StoreError::is_permanent`]). A batch whose event names no shard cannot be folded
    /// exactly once: a permanent failure, which names the setting that is missing.
    pub async fn fold(&self, batch: StreamBatch) -> Result<FoldResponse, StoreError> {
        let shard = batch.shard_id.as_deref().map(ShardId::parse).transpose().map_err(|e| {
            StoreError::permanent("fold", "BadShardId", format!("the stream event's shardId: {e}"))
        })?;
        let mut entries = Vec::with_capacity(batch.event.records.len());
        let mut failures = Vec::new();
        for record in batch.event.records {
            // Sales and returns are written once and never changed: only inserts carry news (a
            // return rewrites its sale's returned amounts: a MODIFY, nothing to count).
            if record.event_name != "INSERT" {
                continue;
            }
            let id = record.change.sequence_number.clone().unwrap_or_else(|| record.event_id.clone());
            let Some(shard) = &shard else {
                return Err(StoreError::permanent(
                    "fold",
                    "NoShardId",
                    "the stream event names no shard (shardId): the event source mapping needs a tumbling window \
                     (TumblingWindowInSeconds, as template.yaml sets it) for sales to be folded exactly once",
                ));
            };
            let sequence = record.change.sequence_number.as_deref().map(SequenceNumber::parse);
            let at = record.change.approximate_creation_date_time.timestamp();
            match (sequence, entry_from_item(record.change.new_image)) {
                (Some(Ok(sequence)), Ok(Some(entry))) => {
                    entries.push(Streamed { position: Position { shard: shard.clone(), sequence }, at, value: entry })
                }
                // A sale's note of one of its returns: the return's own item counts it.
                (_, Ok(None)) => {}
                (sequence, item) => {
                    let why = match (sequence, item) {
                        (_, Err(e)) => format!("neither a sale nor a return: {e}"),
                        (Some(Err(e)), _) => format!("its sequence number: {e}"),
                        _ => "it has no sequence number".to_owned(),
                    };
                    tracing::warn!(sequence = %id, reason = %why, "a stream record cannot be folded");
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = Some(id);
                    failures.push(failure);
                }
            }
        }
        // How far the reports trail the tills: the age of the newest record, at fold time.
        let newest = entries.iter().map(|e| e.at).max();
        let lag = newest.map(|at| (chrono::Utc::now().timestamp_millis() - at * 1000).max(0).unsigned_abs());
        let folded = match self.db.fold(&entries).await {
            Ok(folded) => {
                retail_core::metrics::folded(folded, failures.len(), lag.map(std::time::Duration::from_millis));
                folded
            }
            // The stream retries the batch either way (halved, up to the template's
            // MaximumRetryAttempts, then to the on-failure queue): only an operator can make a
            // permanent failure pass, so it is said so, with the database's reason.
            Err(e) if e.is_permanent() => {
                retail_core::metrics::folded(0, entries.len() + failures.len(), None);
                tracing::error!(
                    entries = entries.len(),
                    reason = %e,
                    "the batch cannot be folded, and retrying it will not help until an operator acts: \
                     it goes to the on-failure queue after the stream's retries"
                );
                return Err(e);
            }
            Err(e) => {
                retail_core::metrics::folded(0, entries.len() + failures.len(), None);
                tracing::warn!(entries = entries.len(), reason = %e, "the batch could not be folded now; the stream retries it");
                return Err(e);
            }
        };
        tracing::debug!(received = entries.len(), folded, "folded a batch of sales and returns");
        let mut response = FoldResponse::default();
        response.batch_item_failures = failures;
        Ok(response)
    }
}
