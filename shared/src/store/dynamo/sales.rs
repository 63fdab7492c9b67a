//! `SalesStore` on DynamoDB: idempotency keys and receipt numbers, basket readings, the checkout's
//! commit. Touches the idempotency, sales and stock tables, and reads stores, commodities,
//! barcodes and prices.

use aws_sdk_dynamodb::types::{ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::schema::*;
use super::write::{ATTEMPTS, Cancelled, MAX_TRANSACTION, Task, backoff, build_err, busy, put, rand_u32};
use super::kept::POLL_LIMIT;
use super::{DynamoStore, Table, call_failed, in_parallel};
use crate::domain::sale::{Receipt, SaleRecord, StockTake, record_sale};
use crate::domain::stock::{StockShard, padded_levels, plan_take, total_on_hand};
use crate::domain::{Barcode, FxMap, IdempotencyKey, Invalid, SaleId, SaleRefusal, Shortage, Sku, StockPolicy, Store, StoreId};
use crate::store::{CatalogFeed, ClaimToken, KeyAnswer,
    BasketReading, Claim, Failure, IN_PROGRESS_EXPIRY, KEY_RETENTION, KeyClaim, PendingSale, SalesStore, StoreResult,
};

impl DynamoStore {
    /// The store's next receipt number: an atomic `ADD` (a refused sale leaves a gap).
    pub(super) async fn next_receipt_sequence(&self, store: &StoreId) -> StoreResult<u64> {
        let out = self
            .client
            .update_item()
            .table_name(&self.tables.idempotency)
            .set_key(Some(key(receipt_counter_pk(store), None)))
            .update_expression("ADD #seq :one")
            .expression_attribute_names("#seq", "sequence")
            .expression_attribute_values(":one", n(1))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .map_err(|e| call_failed("UpdateItem", e))?;
        let sequence = match &out.attributes {
            Some(a) => number("receipt counter", a, "sequence")?,
            None => 1,
        };
        Ok(sequence.max(1) as u64)
    }

    /// The shard this take of the (store, sku) starts at: its next turn, round robin.
    fn next_turn(&self, store: &StoreId, take: &StockTake) -> usize {
        if take.shards <= 1 {
            return 0;
        }
        let mut turns = self.turns.lock().unwrap_or_else(|e| e.into_inner());
        let turn = turns.entry(stock_pk(store, &take.sku)).or_insert_with(|| rand_u32() as usize);
        *turn = turn.wrapping_add(1);
        *turn % usize::from(take.shards.max(1))
    }

    fn sold_out(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.sold_out.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn key_claim(item: KeyItem) -> KeyClaim {
    let answer = match (item.receipt, item.return_receipt) {
        (Some(receipt), _) => Some(KeyAnswer::Sale(Box::new(receipt))),
        (None, Some(receipt)) => Some(KeyAnswer::Return(Box::new(receipt))),
        (None, None) => None,
    };
    match (item.state.as_str(), answer) {
        (COMPLETED, Some(answer)) => KeyClaim::Completed { fingerprint: item.fingerprint, answer: Box::new(answer) },
        _ => KeyClaim::InProgress { fingerprint: item.fingerprint },
    }
}

impl SalesStore for DynamoStore {
    /// One conditional put: taken when the key is new, or its record has expired by its own
    /// timestamps (TTL deletes late, so it decides nothing).
    async fn claim_sale_key(
        &self,
        store: &StoreId,
        key_: &IdempotencyKey,
        fingerprint: &str,
        token: &ClaimToken,
        now: DateTime<Utc>,
    ) -> StoreResult<KeyClaim> {
        let pk = sale_key_pk(store, key_);
        let item = KeyItem {
            pk: pk.clone(),
            fingerprint: fingerprint.to_owned(),
            state: IN_PROGRESS.to_owned(),
            since: now.timestamp_millis(),
            receipt: None,
            sale_id: None,
            return_receipt: None,
            expires_at: (now + KEY_RETENTION).timestamp(),
            claim: Some(token.as_str().to_owned()),
        };
        let claim = self
            .client
            .put_item()
            .table_name(&self.tables.idempotency)
            .set_item(Some(to_item("idempotency key", &item)?))
            .condition_expression(
                "attribute_not_exists(pk) OR (#st = :progress AND #since <= :stale) OR (#st = :done AND #since <= :old)",
            )
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#since", "since")
            .expression_attribute_values(":progress", s(IN_PROGRESS))
            .expression_attribute_values(":done", s(COMPLETED))
            .expression_attribute_values(":stale", n((now - IN_PROGRESS_EXPIRY).timestamp_millis()))
            .expression_attribute_values(":old", n((now - KEY_RETENTION).timestamp_millis()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send();
        // The receipt number is taken in the same wave, so that the commit is one request; it
        // travels to the commit in the claim (if taking it failed, the commit takes one).
        let (result, sequence) = tokio::join!(claim, self.next_receipt_sequence(store));
        let claimed = Claim { receipt_sequence: sequence.ok() };
        match result {
            Ok(_) => Ok(KeyClaim::Claimed(claimed)),
            Err(e) => {
                let held = match e.as_service_error() {
                    Some(aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c)) => {
                        c.item().cloned().filter(|i| !i.is_empty())
                    }
                    _ => return Err(call_failed("PutItem", e)),
                };
                let held = match held {
                    Some(i) => i,
                    // Released between the put and this read: the retry will find it free.
                    None => match self.get(&self.tables.idempotency, key(pk, None)).await? {
                        Some(i) => i,
                        None => return Ok(KeyClaim::InProgress { fingerprint: fingerprint.to_owned() }),
                    },
                };
                let mut held: KeyItem = from_item("idempotency key", held)?;
                // Our own put, applied, its answer lost and the request sent again.
                if held.state == IN_PROGRESS && held.claim.as_deref() == Some(token.as_str()) {
                    return Ok(KeyClaim::Claimed(claimed));
                }
                // Completed with its sale's id: the answer is that sale's receipt.
                if let (COMPLETED, None, Some(id)) = (held.state.as_str(), &held.receipt, &held.sale_id) {
                    let sale_id = SaleId::parse(id).map_err(|e| damaged("idempotency key", &held.pk, e))?;
                    let receipt = self.sale(store, &sale_id).await?;
                    held.receipt = Some(receipt.ok_or_else(|| damaged("idempotency key", &held.pk, "its sale is not there"))?);
                }
                Ok(key_claim(held))
            }
        }
    }

    async fn release_sale_key(&self, store: &StoreId, key_: &IdempotencyKey, token: &ClaimToken) -> StoreResult<()> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.idempotency)
            .set_key(Some(key(sale_key_pk(store, key_), None)))
            .condition_expression("#st = :progress AND #claim = :token")
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#claim", "claim")
            .expression_attribute_values(":progress", s(IN_PROGRESS))
            .expression_attribute_values(":token", s(token.as_str()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Completed or gone: nothing to give back.
            Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(()),
            Err(e) => Err(call_failed("DeleteItem", e)),
        }
    }

    /// The skus named and the barcodes scanned in one wave; the holders of scanned barcodes
    /// that were not named need a second. Skus this function keeps (`kept.rs`) are not read,
    /// once the feed, when due, has said what changed.
    async fn basket_reading(&self, store: &Store, skus: &[Sku], barcodes: &[Barcode]) -> StoreResult<BasketReading> {
        let wall = chrono::Utc::now();
        let keeping = self.tables.configured.contains(Table::CatalogChanges);
        if keeping && let Some(from) = self.kept.poll_due(&store.store_id) {
            let read = self.changes_after(store, &from, POLL_LIMIT).await?;
            self.kept.polled(&store.store_id, wall, &read);
        }
        let mut reading = BasketReading::default();
        if keeping {
            reading.commodities = self.kept.get(&store.store_id, skus);
        }
        let unread: Vec<&Sku> = skus.iter().filter(|s| !reading.commodities.contains_key(*s)).collect();
        let mut keys: Vec<(String, Item)> =
            barcodes.iter().map(|b| (self.tables.barcodes.clone(), key(b.as_str(), Some(BARCODE_SK)))).collect();
        for sku in &unread {
            keys.push(self.commodity_key(sku));
            keys.extend(self.schedule_keys(store, sku));
        }
        // What is kept may be read eventually consistent (half the units): a change the read
        // missed is in the feed, which the next poll reads from a minute back.
        let fetch = |keys: Vec<(String, Item)>| async move {
            match (keys.is_empty(), keeping) {
                (true, _) => Ok(Default::default()),
                (false, true) => self.batch_get_eventually(keys).await,
                (false, false) => self.batch_get(keys).await,
            }
        };
        let mut found = fetch(keys).await?;
        let mut wanted: Vec<Sku> = unread.into_iter().cloned().collect();
        for b in barcodes {
            if let Some(holders) = self.found_holders(&found, b)? {
                wanted.extend(holders.iter().filter(|s| !reading.commodities.contains_key(*s)).cloned());
                reading.barcodes.insert(b.to_string(), holders);
            }
        }
        let named: HashSet<&Sku> = skus.iter().collect();
        let mut more = Vec::new();
        for sku in wanted.iter().filter(|s| !named.contains(s)) {
            more.push(self.commodity_key(sku));
            more.extend(self.schedule_keys(store, sku));
        }
        found.extend(fetch(more).await?);
        let mut read = FxMap::default();
        for sku in &wanted {
            if let Some(c) = self.found_commodity(&found, sku)? {
                read.insert(sku.clone(), (Arc::new(c), self.found_schedule(&found, store, sku)?));
            }
        }
        if keeping {
            self.kept.keep(&store.store_id, wall, &read);
        }
        reading.commodities.extend(read);
        Ok(reading)
    }

    /// With the receipt number the claim took (else one `ADD` first), one transaction: the sale
    /// item, the key completed with its sale's id (only if still ours), and the strict stock it
    /// takes, only where it covers the take. Tracked stock is not taken here: the sale names the
    /// lines whose stock the sales stream takes (`SaleRecord::stream_takes`, `stock_fold.rs`).
    async fn commit_sale(&self, pending: PendingSale) -> Result<Arc<SaleRecord>, Failure<SaleRefusal>> {
        let store_id = pending.store.store_id.clone();
        let takes = pending.basket.takes.clone();
        let strict: Vec<_> = takes.iter().filter(|t| t.policy == StockPolicy::Strict).collect();
        if strict.len() + 2 > MAX_TRANSACTION {
            return Err(Invalid::request(format!(
                "a sale may take at most {} strict-stock commodities",
                MAX_TRANSACTION - 2
            ))
            .into());
        }
        let strict_skus: Vec<Sku> = strict.iter().map(|t| t.sku.clone()).collect();
        let partitions: Vec<String> = strict.iter().map(|t| stock_pk(&store_id, &t.sku)).collect();

        let sequence = match pending.claim.receipt_sequence {
            Some(s) => s,
            None => self.next_receipt_sequence(&store_id).await?,
        };
        let key_pk = sale_key_pk(&store_id, &pending.key);
        let mut record = record_sale(
            pending.sale_id,
            sequence.max(1),
            &pending.store,
            &pending.sale,
            pending.basket,
            pending.settlement,
            pending.created_at,
        );
        record.leave_tracked_stock_to_stream(&takes);
        let record = Arc::new(record);
        let head = self.sale_head(&record, key_pk.clone(), &pending.fingerprint, pending.created_at)?;

        // Each take starts at the sale's shard (round robin over the sku's shards); strict stock
        // this process last saw sold out is read first, and any refused take re-plans from a read.
        let starts: HashMap<&Sku, usize> = strict.iter().map(|t| (&t.sku, self.next_turn(&store_id, t))).collect();
        let start = |t: &StockTake| starts[&t.sku];
        let mut levels: Option<Vec<Vec<StockShard>>> = None;
        if partitions.iter().any(|pk| self.sold_out().contains(pk)) {
            levels = Some(self.read_shards(&store_id, &strict_skus).await?);
        }
        for attempt in 0..ATTEMPTS {
            let mut tx = head.clone();
            let shortages = self.push_strict_takes(&mut tx, &store_id, &strict, levels.as_deref(), &start)?;
            if let Some(levels) = &levels {
                self.note_sold_out(&partitions, levels);
            }
            if !shortages.is_empty() {
                return Err(Failure::Refused(SaleRefusal::OutOfStock { shortages }));
            }
            if tx.len() > MAX_TRANSACTION {
                return Err(Invalid::request(format!(
                    "this sale's strict stock spans {} stock items; at most {} at once",
                    tx.len() - 2,
                    MAX_TRANSACTION - 2
                ))
                .into());
            }
            let items = tx.len();
            let cancelled = match self.transact(tx).await? {
                Ok(()) => break,
                Err(c) => c,
            };
            match self.after_cancelled_sale(&cancelled, attempt, items, &key_pk, &pending.fingerprint, &record).await? {
                AfterCancel::Recorded => break,
                AfterCancel::Replan => levels = Some(self.read_shards(&store_id, &strict_skus).await?),
                AfterCancel::BackOff => backoff(attempt).await,
            }
        }
        Ok(record)
    }

    async fn sale(&self, store: &StoreId, sale_id: &SaleId) -> StoreResult<Option<Receipt>> {
        let Some(item) = self.get(&self.tables.sales, key(store.as_str(), Some(sale_id.as_str()))).await? else {
            return Ok(None);
        };
        let record = crate::store::sale_item::sale_from_item(item.into())?;
        Ok(Some(record.receipt))
    }
}

/// What `commit_sale` does after its transaction was cancelled.
enum AfterCancel {
    /// The transaction was applied after all: the sale is recorded.
    Recorded,
    /// A strict take was refused: read the stock and plan again, at once.
    Replan,
    /// Only conflicts: back off and send it again.
    BackOff,
}

// The steps of `commit_sale`, in the order it takes them.
impl DynamoStore {
    /// The transaction's first two items: the sale item (if new) and its key completed with the
    /// sale's id (only if still ours in progress).
    fn sale_head(
        &self,
        record: &SaleRecord,
        key_pk: String,
        fingerprint: &str,
        created_at: DateTime<Utc>,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let sale_item: Item = crate::store::sale_item::sale_item(record).into();

        let mut tx = vec![put(&self.tables.sales, sale_item, Some("attribute_not_exists(pk)"))?];
        let complete = Update::builder()
            .table_name(&self.tables.idempotency)
            .set_key(Some(key(key_pk, None)))
            .update_expression("SET #st = :done, saleId = :sale, #since = :at, expiresAt = :expires")
            .condition_expression("#st = :progress AND fingerprint = :fp")
            .expression_attribute_names("#st", "state")
            .expression_attribute_names("#since", "since")
            .expression_attribute_values(":done", s(COMPLETED))
            .expression_attribute_values(":progress", s(IN_PROGRESS))
            .expression_attribute_values(":sale", s(record.receipt.sale_id.as_str()))
            .expression_attribute_values(":at", n(created_at.timestamp_millis()))
            .expression_attribute_values(":expires", n((created_at + KEY_RETENTION).timestamp()))
            .expression_attribute_values(":fp", s(fingerprint))
            .build()
            .map_err(build_err)?;
        tx.push(TransactWriteItem::builder().update(complete).build());
        Ok(tx)
    }

    /// Each strict take's stock updates onto `tx`: from its start shard unread (`levels` None),
    /// else as planned from the levels read. Answers the takes the levels cannot cover.
    fn push_strict_takes(
        &self,
        tx: &mut Vec<TransactWriteItem>,
        store_id: &StoreId,
        strict: &[&StockTake],
        levels: Option<&[Vec<StockShard>]>,
        start: &impl Fn(&StockTake) -> usize,
    ) -> StoreResult<Vec<Shortage>> {
        let mut shortages = Vec::new();
        for (j, take) in strict.iter().enumerate() {
            let Some(levels) = levels else {
                tx.push(self.stock_update(store_id, &take.sku, start(take), -take.amount, true)?);
                continue;
            };
            let on_hand = padded_levels(&levels[j], take.shards);
            match plan_take(&on_hand, start(take), take.amount) {
                Some(plan) => {
                    for (shard, amount) in plan {
                        tx.push(self.stock_update(store_id, &take.sku, shard, -amount, true)?);
                    }
                }
                None => shortages.push(Shortage {
                    sku: take.sku.to_string(),
                    requested: take.amount,
                    available: on_hand.iter().sum::<i64>().max(0),
                }),
            }
        }
        Ok(shortages)
    }

    /// Remembers which of the strict (store, sku) partitions read were sold out.
    fn note_sold_out(&self, partitions: &[String], levels: &[Vec<StockShard>]) {
        let mut sold_out = self.sold_out();
        for (pk, shards) in partitions.iter().zip(levels) {
            if total_on_hand(shards) <= 0 {
                sold_out.insert(pk.clone());
            } else {
                sold_out.remove(pk);
            }
        }
    }

    /// What follows the sale's cancelled transaction of `items` items. It ends in an error when
    /// the key went to another attempt, on the last attempt, or when not only conflicts cancelled it.
    async fn after_cancelled_sale(
        &self,
        cancelled: &Cancelled,
        attempt: u32,
        items: usize,
        key_pk: &str,
        fingerprint: &str,
        record: &SaleRecord,
    ) -> Result<AfterCancel, Failure<SaleRefusal>> {
        if cancelled.failed_condition(1) {
            // Read the key back rather than trust the reason's index (emulators differ): if
            // it is no longer ours in progress, another attempt took it over and records it.
            let held = self.get(&self.tables.idempotency, key(key_pk, None)).await?;
            let held: Option<KeyItem> = held.map(|i| from_item("idempotency key", i)).transpose()?;
            // This very transaction, applied and its answer lost, sent again by the SDK:
            // the key is complete with this sale.
            if held.as_ref().is_some_and(|k| {
                k.state == COMPLETED && k.sale_id.as_deref() == Some(record.receipt.sale_id.as_str())
            }) {
                return Ok(AfterCancel::Recorded);
            }
            let ours = held.is_some_and(|k| k.state == IN_PROGRESS && k.fingerprint == fingerprint);
            if !ours {
                return Err(Failure::Refused(SaleRefusal::InProgress));
            }
        }
        if attempt + 1 == ATTEMPTS {
            return Err(busy().into());
        }
        if (2..items).any(|i| cancelled.failed_condition(i)) {
            // A shard ran dry under this take: read every shard and plan again.
            return Ok(AfterCancel::Replan);
        }
        if !cancelled.only_conflicts() {
            tracing::error!(reasons = ?cancelled.reasons.iter().map(|r| &r.0).collect::<Vec<_>>(), "a sale's transaction was cancelled");
            return Err(busy().into());
        }
        Ok(AfterCancel::BackOff)
    }

    /// Stock writes that follow a committed transaction which had no room for them, as
    /// (sku, shard, delta): one unconditional `UpdateItem` each, all at once.
    pub(super) async fn move_stock_after(&self, store_id: &StoreId, writes: &[(Sku, usize, i64)]) -> StoreResult<()> {
        let tasks: Vec<Task> = writes
            .iter()
            .map(|(sku, shard, delta)| -> Task {
                let this = self.clone();
                let key = self.shard_key(store_id, sku, *shard);
                let delta = *delta;
                Box::pin(async move {
                    this.client
                        .update_item()
                        .table_name(&this.tables.stock)
                        .set_key(Some(key))
                        .update_expression("ADD onHand :delta, writes :one")
                        .expression_attribute_values(":delta", n(delta))
                        .expression_attribute_values(":one", n(1))
                        .send()
                        .await
                        .map_err(|e| call_failed("UpdateItem", e))?;
                    Ok(())
                })
            })
            .collect();
        in_parallel(tasks).await.map(|_| ())
    }
}
