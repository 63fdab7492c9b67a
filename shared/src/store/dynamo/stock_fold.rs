//! Tracked stock taken from the sales stream: the checkout writes a sale without touching its
//! `track` lines' stock, and names them (`SaleRecord::stream_takes`); the aggregator takes them
//! here, batched per sku and exactly once, like the store-days (`once.rs`: each stock item
//! carries a checkpoint per stream shard). Strict stock never goes this way: it is taken in the
//! sale's transaction, which refuses a sale it does not cover.
//!
//! What it changes for a till and a manager: a tracked sku's `onHand` trails its sales by the
//! stream's delay (about a second, longer while the aggregator retries), and may go below zero
//! as it always could. What it saves: a sale's tracked lines cost nothing in the checkout; each
//! batch writes one unit per distinct sku it sold instead of two per line in a transaction.
//!
//! A sku's stream takes go to its first stock item (shard 0): the sku's stock is the sum of its
//! items, and only strict stock, taken item by item, needs them spread.

use std::collections::BTreeMap;

use super::DynamoStore;
use super::once::StreamFold;
use super::schema::stock_pk;
use crate::domain::report::LedgerEntry;
use crate::domain::stream::{Contribution, Streamed};
use crate::store::StoreResult;

/// The stock item stream takes go to.
const TAKEN_FROM_SHARD: &str = "0";

/// The folds the sales among `entries` make into stock items: per sale and sku it names in
/// `stream_takes`, the amount off `onHand` and one write counted.
pub(super) fn stock_folds(entries: &[&Streamed<LedgerEntry>]) -> Vec<StreamFold> {
    let mut folds = Vec::new();
    for entry in entries {
        let LedgerEntry::Sale(sale) = &entry.value else { continue };
        for (sku, amount) in sale.streamed_takes() {
            folds.push(StreamFold {
                pk: stock_pk(&sale.receipt.store_id, &sku),
                sk: TAKEN_FROM_SHARD.to_owned(),
                shard: entry.position.shard.clone(),
                contributions: vec![Contribution {
                    sequence: entry.position.sequence.clone(),
                    at: entry.at,
                    deltas: BTreeMap::from([("onHand".to_owned(), -amount), ("writes".to_owned(), 1)]),
                }],
                set_if_absent: Vec::new(),
            });
        }
    }
    folds
}

impl DynamoStore {
    /// Takes the tracked stock the sales among `entries` leave to the stream, each once.
    /// Answers how many stock items were written.
    pub(super) async fn take_streamed_stock(&self, entries: &[&Streamed<LedgerEntry>]) -> StoreResult<usize> {
        let folds = stock_folds(entries);
        if folds.is_empty() {
            return Ok(0);
        }
        // Nothing reads the items back, so an eventually consistent read is enough (half the units).
        let (folded, _) = self.fold_once(&self.tables.stock, folds, false).await?;
        Ok(folded.written)
    }
}
