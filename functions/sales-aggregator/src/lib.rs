//! `sales-aggregator`: folds the sales table's change stream into daily aggregates. The stream
//! delivers at least once and may replay a batch; the store folds each sale and each return once.

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};

use retail_core::store::sale_item::entry_from_item;
use retail_core::store::{AggregateStore, StoreError};

pub struct SalesAggregator<S> {
    db: S,
}

/// The DynamoDB tables this function uses: only the aggregates. Its port, [`AggregateStore`],
/// also reads the stores for the reports, which folding never does, so the function is not
/// given them (a call to a table the store was not given is refused unsent). Its `main`
/// requires their variables at start, and template.yaml gives it exactly these.
pub const TABLES: retail_core::store::dynamo::TableSet =
    retail_core::store::dynamo::TableSet::of(&[retail_core::store::dynamo::Table::Aggregates]);

impl<S: AggregateStore> SalesAggregator<S> {
    pub fn new(db: S) -> Self {
        SalesAggregator { db }
    }

    /// Folds every new sale and return of the batch. A record that is neither (nor a sale's
    /// note of a return, which counts nothing) is reported as a batch item failure (the stream
    /// retries from it, then hands it to the on-failure queue) while the good ones still count;
    /// a store that fails fails the whole batch, to be retried, and says whether the failure
    /// is one retries can mend ([`StoreError::is_permanent`]).
    pub async fn fold(&self, event: Event) -> Result<DynamoDbEventResponse, StoreError> {
        let mut entries = Vec::with_capacity(event.records.len());
        let mut failures = Vec::new();
        for record in event.records {
            // Sales and returns are written once and never changed: only inserts carry news (a
            // return rewrites its sale's returned amounts: a MODIFY, nothing to count).
            if record.event_name != "INSERT" {
                continue;
            }
            let id = record.change.sequence_number.clone().unwrap_or_else(|| record.event_id.clone());
            match entry_from_item(record.change.new_image) {
                Ok(Some(entry)) => entries.push(entry),
                // A sale's note of one of its returns: the return's own item counts it.
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(sequence = %id, error = %e, "a stream record is neither a sale nor a return");
                    let mut failure = DynamoDbBatchItemFailure::default();
                    failure.item_identifier = Some(id);
                    failures.push(failure);
                }
            }
        }
        let folded = match self.db.fold(&entries).await {
            Ok(folded) => folded,
            // The stream retries the batch either way (halved, up to the template's
            // MaximumRetryAttempts, then to the on-failure queue): only an operator can make a
            // permanent failure pass, so it is said so, with the database's reason.
            Err(e) if e.is_permanent() => {
                tracing::error!(
                    entries = entries.len(),
                    reason = %e,
                    "the batch cannot be folded, and retrying it will not help until an operator acts: \
                     it goes to the on-failure queue after the stream's retries"
                );
                return Err(e);
            }
            Err(e) => {
                tracing::warn!(entries = entries.len(), reason = %e, "the batch could not be folded now; the stream retries it");
                return Err(e);
            }
        };
        tracing::debug!(received = entries.len(), folded, "folded a batch of sales and returns");
        let mut response = DynamoDbEventResponse::default();
        response.batch_item_failures = failures;
        Ok(response)
    }
}
