//! `ReturnsStore` on DynamoDB: a sale with what has come back of it (one query of its
//! partition), the return's commit (one `TransactWriteItems`), and return receipts read back.
//! Touches the sales, idempotency and stock tables.
//!
//! What has come back of a sale is kept on the sale item as `returned` (the domain's
//! [`Returned`], absent until the first return); its `count` is the guard a commit names.

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use std::collections::HashMap;
use std::sync::Arc;

use super::schema::*;
use super::write::{ATTEMPTS, Cancelled, MAX_TRANSACTION, backoff, build_err, busy, put};
use super::DynamoStore;
use crate::domain::returns::{ReturnReceipt, ReturnRefusal, ReturnSummary, Returned, SaleReturns, record_return};
use crate::domain::sale::SaleRecord;
use crate::domain::stock::restock_spread;
use crate::domain::{ReturnId, SaleId, Sku, StoreId};
use crate::store::sale_item::{
    KIND_SALE_RETURN, return_from_item, return_item, return_sk, sale_from_item, sale_return_from_item, sale_return_item,
};
use crate::store::{Failure, KEY_RETENTION, PendingReturn, ReturnsStore, StoreResult};

/// The sale item's attribute holding what has come back of it.
const RETURNED: &str = "returned";

/// The transaction's items before the restocks, in this order.
const RETURN_ITEM: usize = 0;
const KEY_ITEM: usize = 1;
const SALE_ITEM: usize = 2;
const NOTE_ITEM: usize = 3;
const HEAD: usize = 4;

impl ReturnsStore for DynamoStore {
    /// One query of the sale's partition from its sort key on: the sale item (with `returned`)
    /// and its notes of its returns (`<saleId>#return#<returnId>`) sort together.
    async fn sale_returns(&self, store: &StoreId, sale: &SaleId) -> StoreResult<Option<SaleReturns>> {
        let values = HashMap::from([(":pk".to_owned(), s(store.as_str())), (":sale".to_owned(), s(sale.as_str()))]);
        let items = self.query_all(&self.tables.sales, Some(("pk = :pk AND begins_with(sk, :sale)", values))).await?;
        let mut record: Option<(SaleRecord, Returned)> = None;
        let mut returns = Vec::new();
        for item in items {
            if string(&item, "sk") == Some(sale.as_str()) {
                let returned = match item.get(RETURNED) {
                    None => Returned::default(),
                    Some(value) => serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(value.clone())
                        .map_err(|e| damaged("sale's returned amounts", &item_key(&item), e))?,
                };
                record = Some((sale_from_item(item.into())?, returned));
            } else if string(&item, "kind") == Some(KIND_SALE_RETURN) {
                returns.push(sale_return_from_item(item.into())?);
            }
        }
        let Some((record, returned)) = record else { return Ok(None) };
        returns.sort_by(|a: &ReturnSummary, b: &ReturnSummary| (a.created_at, &a.return_id).cmp(&(b.created_at, &b.return_id)));
        Ok(Some(SaleReturns { sale: Arc::new(record), returned, returns }))
    }

    /// With the receipt number the claim took (else one `ADD` first), one transaction: the
    /// return item, its key completed with the return receipt (only if still ours), the sale's
    /// returned amounts (only if still those the plan was made from), the sale's note of the
    /// return, and the restocks in the returning store. Restock writes beyond one transaction's
    /// room follow the commit, one `UpdateItem` each, all at once; one that fails is logged,
    /// not refused (the return is recorded).
    async fn commit_return(&self, pending: PendingReturn) -> Result<Arc<ReturnReceipt>, Failure<ReturnRefusal>> {
        let store_id = pending.store.store_id.clone();
        let sequence = match pending.claim.receipt_sequence {
            Some(sequence) => sequence,
            None => self.next_receipt_sequence(&store_id).await?,
        };
        let receipt = Arc::new(record_return(
            pending.return_id.clone(),
            sequence.max(1),
            &pending.store,
            &pending.draft,
            &pending.sale,
            &pending.plan,
            pending.created_at,
        ));
        let key_pk = sale_key_pk(&store_id, &pending.key);
        let mut tx = self.return_head(&pending, &receipt, &key_pk)?;
        let mut restocks = Vec::new();
        for restock in &pending.plan.restocks {
            for (shard, amount) in restock_spread(restock.amount, restock.shards, pending.return_id.as_str()) {
                restocks.push((restock.sku.clone(), shard, amount));
            }
        }
        let (restock_in, restock_after) = restocks.split_at(restocks.len().min(MAX_TRANSACTION - HEAD));
        for (sku, shard, amount) in restock_in {
            tx.push(self.stock_update(&store_id, sku, *shard, *amount, false)?);
        }

        let mut recorded = receipt;
        for attempt in 0..ATTEMPTS {
            let cancelled = match self.transact(tx.clone()).await? {
                Ok(()) => break,
                Err(c) => c,
            };
            match self.after_cancelled_return(&cancelled, attempt, &key_pk, &pending).await? {
                AfterCancel::Recorded(stored) => {
                    recorded = stored;
                    break;
                }
                AfterCancel::BackOff => backoff(attempt).await,
            }
        }
        if !restock_after.is_empty() {
            self.restock_after(&store_id, restock_after, &recorded.return_id).await;
        }
        Ok(recorded)
    }

    async fn return_receipt(&self, store: &StoreId, id: &ReturnId) -> StoreResult<Option<ReturnReceipt>> {
        let Some(item) = self.get(&self.tables.sales, key(store.as_str(), Some(&return_sk(id)))).await? else {
            return Ok(None);
        };
        Ok(Some(return_from_item(item.into())?))
    }
}

/// What `commit_return` does after its transaction was cancelled.
enum AfterCancel {
    /// The transaction was applied after all (its answer lost, the SDK sent it again): the
    /// return as its key holds it.
    Recorded(Arc<ReturnReceipt>),
    /// Only conflicts: back off and send it again.
    BackOff,
}

// The steps of `commit_return`, in the order it takes them.
impl DynamoStore {
    /// The transaction's first items: the return, its key completed, the sale's returned
    /// amounts guarded by the count the plan was made from, and the sale's note of the return.
    fn return_head(&self, pending: &PendingReturn, receipt: &ReturnReceipt, key_pk: &str) -> StoreResult<Vec<TransactWriteItem>> {
        let sale = &pending.sale;
        let at = receipt.return_id.as_str();
        let receipt_value =
            serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(receipt).map_err(|e| damaged("return receipt", at, e))?;
        let after = serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(&pending.plan.returned_after)
            .map_err(|e| damaged("sale's returned amounts", at, e))?;

        let mut tx = vec![put(&self.tables.sales, return_item(receipt).into(), Some("attribute_not_exists(pk)"))?];
        let complete = Update::builder()
            .table_name(&self.tables.idempotency)
            .set_key(Some(key(key_pk, None)))
            .update_expression("SET #st = :done, returnReceipt = :receipt, #since = :at, expiresAt = :expires")
            .condition_expression("#st = :progress AND fingerprint = :fp")
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#since", "since")
            .expression_attribute_values(":done", s(COMPLETED))
            .expression_attribute_values(":progress", s(IN_PROGRESS))
            .expression_attribute_values(":receipt", receipt_value)
            .expression_attribute_values(":at", n(pending.created_at.timestamp_millis()))
            .expression_attribute_values(":expires", n((pending.created_at + KEY_RETENTION).timestamp()))
            .expression_attribute_values(":fp", s(&pending.fingerprint))
            .build()
            .map_err(build_err)?;
        tx.push(TransactWriteItem::builder().update(complete).build());

        // The guard: two returns planned from one reading of the sale cannot both land,
        // whichever till or store sends them.
        let mut guard = Update::builder()
            .table_name(&self.tables.sales)
            .set_key(Some(key(sale.receipt.store_id.as_str(), Some(sale.receipt.sale_id.as_str()))))
            .update_expression("SET #returned = :after")
            .expression_attribute_names("#returned", RETURNED)
            .expression_attribute_values(":after", after);
        guard = if pending.plan.planned_from == 0 {
            guard.condition_expression("attribute_exists(pk) AND attribute_not_exists(#returned)")
        } else {
            guard
                .condition_expression("attribute_exists(pk) AND #returned.#count = :from")
                .expression_attribute_names("#count", "count")
                .expression_attribute_values(":from", n(pending.plan.planned_from as i64))
        };
        tx.push(TransactWriteItem::builder().update(guard.build().map_err(build_err)?).build());

        let summary = ReturnSummary {
            return_id: receipt.return_id.clone(),
            store_id: receipt.store_id.clone(),
            created_at: receipt.created_at,
            total: receipt.total,
        };
        tx.push(put(&self.tables.sales, sale_return_item(sale, &summary).into(), Some("attribute_not_exists(pk)"))?);
        debug_assert_eq!(tx.len(), HEAD);
        Ok(tx)
    }

    /// What follows the return's cancelled transaction. It ends in a refusal when the key went
    /// to another attempt (`InProgress`) or another return of the sale landed first
    /// (`SaleChanged`), in an error on the last attempt or when not only conflicts cancelled it.
    async fn after_cancelled_return(
        &self,
        cancelled: &Cancelled,
        attempt: u32,
        key_pk: &str,
        pending: &PendingReturn,
    ) -> Result<AfterCancel, Failure<ReturnRefusal>> {
        if [RETURN_ITEM, KEY_ITEM, SALE_ITEM, NOTE_ITEM].iter().any(|&i| cancelled.failed_condition(i)) {
            // Read the key back rather than trust the reasons' indexes (emulators differ).
            let held = self.get(&self.tables.idempotency, key(key_pk, None)).await?;
            let held: Option<KeyItem> = held.map(|i| from_item("idempotency key", i)).transpose()?;
            // This very transaction, applied and its answer lost, sent again by the SDK: the
            // key is complete with this return.
            if let Some(KeyItem { state, return_receipt: Some(stored), .. }) = &held
                && state == COMPLETED
                && stored.return_id == pending.return_id
            {
                return Ok(AfterCancel::Recorded(Arc::new(stored.clone())));
            }
            let ours = held.is_some_and(|k| k.state == IN_PROGRESS && k.fingerprint == pending.fingerprint);
            if !ours {
                return Err(Failure::Refused(ReturnRefusal::InProgress));
            }
            if cancelled.failed_condition(SALE_ITEM) {
                // Another return of the sale landed since it was read: the use case plans again.
                return Err(Failure::Refused(ReturnRefusal::SaleChanged));
            }
        }
        if attempt + 1 == ATTEMPTS {
            return Err(busy().into());
        }
        if !cancelled.only_conflicts() {
            tracing::error!(
                reasons = ?cancelled.reasons.iter().map(|r| &r.0).collect::<Vec<_>>(),
                return_id = %pending.return_id,
                "a return's transaction was cancelled"
            );
            return Err(busy().into());
        }
        Ok(AfterCancel::BackOff)
    }

    /// The restock writes that found no room in the transaction, once it is committed.
    async fn restock_after(&self, store_id: &StoreId, restocks: &[(Sku, usize, i64)], return_id: &ReturnId) {
        // The return is recorded: stock that could not follow is logged, not refused.
        if let Err(e) = self.move_stock_after(store_id, restocks).await {
            tracing::error!(error = %e, return_id = %return_id, "restocked goods of a large return were not put back");
        }
    }
}
