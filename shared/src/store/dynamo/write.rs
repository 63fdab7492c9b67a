//! Writes several ports share: retries with backoff, transactions (their items, and why one was
//! cancelled) and stock updates. The tables are those of the calling port (`stock_update`: stock).

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use super::schema::*;
use super::{DynamoStore, call_failed, refused_for_good};
use crate::domain::{Sku, StoreId};
use crate::store::{StoreError, StoreResult};

pub(super) type Task = Pin<Box<dyn Future<Output = StoreResult<()>> + Send>>;

/// Optimistic operations start over this often before answering "retry shortly".
pub(super) const ATTEMPTS: u32 = 8;
/// Items one TransactWriteItems may hold.
pub(super) const MAX_TRANSACTION: usize = 100;

pub(super) fn build_err(e: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    tracing::error!(error = %e, "a DynamoDB request could not be built");
    StoreError::Unavailable("the database is unavailable".to_owned())
}

pub(super) fn busy() -> StoreError {
    StoreError::Unavailable("the database is busy".to_owned())
}

pub(super) async fn backoff(attempt: u32) {
    // Jittered, so that tills that collided do not collide again.
    let jitter = u64::from(rand_u32() % 20);
    tokio::time::sleep(Duration::from_millis((10u64 << attempt.min(5)) + jitter)).await;
}

pub(super) fn rand_u32() -> u32 {
    uuid::Uuid::new_v4().as_u128() as u32
}

/// Why a transaction was cancelled, item by item (None where the item was fine).
pub(super) struct Cancelled {
    pub(super) reasons: Vec<(Option<String>, Option<Item>)>,
}

impl Cancelled {
    pub(super) fn failed_condition(&self, index: usize) -> bool {
        self.reasons.get(index).is_some_and(|(code, _)| code.as_deref() == Some("ConditionalCheckFailed"))
    }

    pub(super) fn item(&self, index: usize) -> Option<Item> {
        self.reasons.get(index).and_then(|(_, item)| item.clone())
    }

    /// Only conflicts with other transactions in flight: worth another try as it is.
    pub(super) fn only_conflicts(&self) -> bool {
        !self.reasons.iter().any(|(code, _)| {
            code.as_deref().is_some_and(|c| c != "None" && c != "TransactionConflict")
        })
    }
}

fn cancelled(err: SdkError<TransactWriteItemsError, HttpResponse>) -> Result<Cancelled, StoreError> {
    if let Some(TransactWriteItemsError::TransactionCanceledException(e)) = err.as_service_error() {
        // An item DynamoDB refuses as it stands (over 400 KB, say) cancels the transaction
        // like a lost race would: sent again, it fails again, so it leaves here, not as a retry.
        if let Some(reason) = e.cancellation_reasons().iter().find(|r| r.code().is_some_and(refused_for_good)) {
            let code = reason.code().unwrap_or_default();
            let message = reason.message().unwrap_or("(no message)");
            tracing::error!(operation = "TransactWriteItems", code, message, "DynamoDB refused a transaction's item for good: retrying it cannot help");
            return Err(StoreError::permanent("TransactWriteItems", code, message));
        }
        let reasons = e
            .cancellation_reasons()
            .iter()
            .map(|r| (r.code().map(str::to_owned), r.item().cloned().filter(|i| !i.is_empty())))
            .collect();
        return Ok(Cancelled { reasons });
    }
    if err.as_service_error().is_some_and(|e| e.code() == Some("TransactionConflictException")) {
        return Ok(Cancelled { reasons: vec![(Some("TransactionConflict".to_owned()), None)] });
    }
    Err(call_failed("TransactWriteItems", err))
}

/// A transaction's put; `version` (when given) must still be the item's (expressions take no
/// literals, so it goes in as `:v`).
pub(super) fn put(table: &str, item: Item, condition: Option<&str>) -> StoreResult<TransactWriteItem> {
    versioned_put(table, item, condition, None)
}

pub(super) fn versioned_put(table: &str, item: Item, condition: Option<&str>, version: Option<u64>) -> StoreResult<TransactWriteItem> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned))
        .set_expression_attribute_values(version.map(|v| HashMap::from([(":v".to_owned(), n(v as i64))])))
        .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
        .build()
        .map_err(build_err)?;
    Ok(TransactWriteItem::builder().put(put).build())
}

impl DynamoStore {
    pub(super) async fn transact(&self, items: Vec<TransactWriteItem>) -> StoreResult<Result<(), Cancelled>> {
        match self.client.transact_write_items().set_transact_items(Some(items)).send().await {
            Ok(_) => Ok(Ok(())),
            Err(e) => cancelled(e).map(Err),
        }
    }

    /// One stock write: `delta` on a shard, counted; a take from strict stock only if the
    /// shard covers it.
    pub(super) fn stock_update(&self, store: &StoreId, sku: &Sku, shard: usize, delta: i64, strict: bool) -> StoreResult<TransactWriteItem> {
        let mut update = Update::builder()
            .table_name(&self.tables.stock)
            .set_key(Some(self.shard_key(store, sku, shard)))
            .update_expression("ADD onHand :delta, writes :one")
            .expression_attribute_values(":delta", n(delta))
            .expression_attribute_values(":one", n(1));
        if strict && delta < 0 {
            update = update.condition_expression("onHand >= :need").expression_attribute_values(":need", n(-delta));
        }
        Ok(TransactWriteItem::builder().update(update.build().map_err(build_err)?).build())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::CancellationReason;
    use aws_sdk_dynamodb::types::error::TransactionCanceledException;
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn cancelled_with(reasons: &[(&str, &str)]) -> Result<Cancelled, StoreError> {
        let mut e = TransactionCanceledException::builder().message("Transaction cancelled");
        for (code, message) in reasons {
            e = e.cancellation_reasons(CancellationReason::builder().code(*code).message(*message).build());
        }
        let raw = HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::empty());
        cancelled(SdkError::service_error(TransactWriteItemsError::TransactionCanceledException(e.build()), raw))
    }

    #[test]
    fn an_item_over_the_size_limit_cancels_the_transaction_for_good() {
        let size = "Item size has exceeded the maximum allowed size";
        let e = cancelled_with(&[("None", ""), ("ValidationError", size)]).err().expect("not a race to retry");
        assert_eq!(e, StoreError::permanent("TransactWriteItems", "ValidationError", size));
    }

    #[test]
    fn a_lost_race_or_a_failed_condition_is_a_cancellation_to_judge() {
        let c = cancelled_with(&[("ConditionalCheckFailed", "The conditional request failed"), ("None", "")]).ok().unwrap();
        assert!(c.failed_condition(0) && !c.only_conflicts());
        let c = cancelled_with(&[("TransactionConflict", "in flight"), ("None", "")]).ok().unwrap();
        assert!(c.only_conflicts());
    }
}
