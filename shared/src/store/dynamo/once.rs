//! Folding a stream batch into items exactly once, with one plain UpdateItem per item and no
//! marker per record: each item carries its own checkpoint per stream shard
//! (`domain::stream`). The aggregator's store-days use it; tables with `pk`/`sk` string keys.
//!
//! What it guarantees: given folds (an item, the shard of the batch, the batch's contributions to
//! the item in shard order, numbers to `ADD` and strings to set when absent), each contribution
//! reaches its item once, however often the batch, or a later one starting at any earlier record
//! of the shard, is applied, and whoever else applies the same records at the same time. Each
//! item is written only if the checkpoint it was computed from is still the item's: the update
//! `ADD`s what lies after the shard's checkpoint, `SET`s the checkpoint to the last of it and
//! `REMOVE`s checkpoints older than 48 hours before the item's newest record, conditioned on the
//! shard's checkpoint (and every checkpoint it removes) being exactly what was read, absent or
//! equal. A failed condition means someone else applied first: the item is read again (from the
//! failed write's answer when DynamoDB returns it, else by BatchGetItem) and recomputed, at most
//! `ATTEMPTS` times, then `StoreError::Unavailable`. An item with nothing left to apply is not
//! written; one that does not exist is created by its update.
//!
//! Why a checkpoint per shard: sequence numbers order records within a shard only, and the
//! records touching one item (sales of a sku) come from every shard of the sales stream. Each is
//! a top-level attribute `ck#<shardId>` holding `<sequence>/<epoch seconds>`, not an entry of a
//! map: `SET map.#k` fails while the map does not exist, and `if_not_exists` on the map and a
//! path inside it cannot share one expression. A string, because a sequence number may have 40
//! digits and a DynamoDB number holds 38.
//!
//! What it costs: one wave of BatchGetItem (strongly consistent: one read unit per started 4 KB
//! of each item, half that for a caller that does not read the items back; the whole item is
//! billed however little a projection returns, and checkpoint attributes cannot be projected by
//! prefix, so the items are read whole: a few hundred bytes, one unit each), then one wave of
//! UpdateItem (one write unit per started 1 KB of the larger of the item before and after: one
//! unit for an item under 1 KB, which an item with 6 shards' checkpoints is). Against today's fold: two units per item in a transaction, plus a marker item
//! (two more) per sale, and the head's re-put. A lost race costs the failed write's unit and one
//! more try.

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use std::collections::{BTreeMap, HashMap};

use super::schema::*;
use super::write::{ATTEMPTS, backoff, busy};
use super::{DynamoStore, call_failed, in_parallel};
use crate::domain::stream::{Checkpoint, Checkpoints, Contribution, ShardId, unapplied};
use crate::store::{StoreError, StoreResult};

/// The prefix of an item's checkpoint attributes: `ck#<shardId>`.
pub const CHECKPOINT_PREFIX: &str = "ck#";

/// What one batch of one shard does to one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamFold {
    pub pk: String,
    pub sk: String,
    pub shard: ShardId,
    /// The batch's contributions to the item, each a record's sequence number and time and the
    /// numbers it adds (attribute name → delta).
    pub contributions: Vec<Contribution<BTreeMap<String, i64>>>,
    /// Strings set only where the item has none yet (a commodity's name): attribute → value.
    pub set_if_absent: Vec<(String, String)>,
}

/// What a fold wrote.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Folded {
    /// Items updated.
    pub written: usize,
    /// Contributions applied (those found applied already are not counted).
    pub contributions: usize,
    /// Writes that lost a race and were recomputed.
    pub conflicts: usize,
}

/// The checkpoints an item holds (none for an item not there).
pub(crate) fn checkpoints_of(item: Option<&Item>) -> StoreResult<Checkpoints> {
    let Some(item) = item else { return Ok(Checkpoints::new()) };
    let mut out = Checkpoints::new();
    for (name, value) in item {
        let Some(shard) = name.strip_prefix(CHECKPOINT_PREFIX) else { continue };
        let bad = |e: &dyn std::fmt::Display| damaged("stream checkpoint", &item_key(item), format_args!("{name}: {e}"));
        let AttributeValue::S(raw) = value else { return Err(bad(&"not a string")) };
        let shard = ShardId::parse(shard).map_err(|e| bad(&e))?;
        out.insert(shard, Checkpoint::decode(raw).map_err(|e| bad(&e))?);
    }
    Ok(out)
}

/// Folds with the same item and shard as one (their contributions together), so that no two
/// writes of one wave race for one checkpoint.
fn merged(folds: Vec<StreamFold>) -> Vec<StreamFold> {
    let mut out: Vec<StreamFold> = Vec::new();
    let mut at: HashMap<(String, String, ShardId), usize> = HashMap::new();
    for fold in folds {
        match at.get(&(fold.pk.clone(), fold.sk.clone(), fold.shard.clone())) {
            Some(&i) => {
                out[i].contributions.extend(fold.contributions);
                for (name, value) in fold.set_if_absent {
                    if !out[i].set_if_absent.iter().any(|(n, _)| *n == name) {
                        out[i].set_if_absent.push((name, value));
                    }
                }
            }
            None => {
                at.insert((fold.pk.clone(), fold.sk.clone(), fold.shard.clone()), out.len());
                out.push(fold);
            }
        }
    }
    out
}

impl DynamoStore {
    /// Applies `folds` to items of `table` exactly once (module doc): one read wave, one write
    /// wave, and a read and a write again per item that lost a race. Also answers every folded
    /// item as it is afterwards (as written, or as read when it had nothing to take: exactly so
    /// only if the read is `consistent`). An eventually consistent read (half the units) is
    /// exact enough for the fold itself: a checkpoint read stale fails its write's condition,
    /// whose answer carries the item as it is, and the item is folded again from that.
    pub(crate) async fn fold_once(&self, table: &str, folds: Vec<StreamFold>, consistent: bool) -> StoreResult<(Folded, Vec<Item>)> {
        let folds = merged(folds);
        let keys = folds.iter().map(|f| (table.to_owned(), key(f.pk.clone(), Some(&f.sk)))).collect();
        let found = if consistent { self.batch_get(keys).await? } else { self.batch_get_eventually(keys).await? };
        // Lazy: each fold's request is made when it can start (see `in_parallel`).
        let writes = folds.into_iter().map(|fold| {
            let item = found.get(&(table.to_owned(), fold.pk.clone(), fold.sk.clone())).cloned();
            self.clone().fold_item(table.to_owned(), fold, item)
        });
        let mut out = Folded::default();
        let mut items = Vec::new();
        for (one, item) in in_parallel(writes).await? {
            out.written += one.written;
            out.contributions += one.contributions;
            out.conflicts += one.conflicts;
            items.extend(item);
        }
        Ok((out, items))
    }

    /// One item: what is unapplied against `item` (as read), written conditionally; on a lost
    /// race, again against the item as it is now. Answers the item as it is afterwards.
    async fn fold_item(self, table: String, fold: StreamFold, mut item: Option<Item>) -> StoreResult<(Folded, Option<Item>)> {
        let mut conflicts = 0;
        loop {
            let checkpoints = checkpoints_of(item.as_ref())?;
            let Some(todo) = unapplied(&checkpoints, &fold.shard, &fold.contributions) else {
                return Ok((Folded { written: 0, contributions: 0, conflicts: conflicts as usize }, item));
            };
            let read = checkpoints.get(&fold.shard).cloned();
            let mut next = checkpoints.clone();
            let pruned = next.record(fold.shard.clone(), todo.checkpoint.clone());

            let mut names: HashMap<String, String> = HashMap::new();
            let mut values: HashMap<String, AttributeValue> = HashMap::new();
            names.insert("#ck".to_owned(), format!("{CHECKPOINT_PREFIX}{}", fold.shard));
            values.insert(":ck".to_owned(), s(todo.checkpoint.encode()));
            let mut set = vec!["#ck = :ck".to_owned()];
            for (i, (name, value)) in fold.set_if_absent.iter().enumerate() {
                names.insert(format!("#s{i}"), name.clone());
                values.insert(format!(":s{i}"), s(value.as_str()));
                set.push(format!("#s{i} = if_not_exists(#s{i}, :s{i})"));
            }
            let mut add = Vec::new();
            for (i, (name, delta)) in todo.deltas.iter().enumerate() {
                names.insert(format!("#d{i}"), name.clone());
                values.insert(format!(":d{i}"), n(*delta));
                add.push(format!("#d{i} :d{i}"));
            }
            let mut condition = match &read {
                None => "attribute_not_exists(#ck)".to_owned(),
                Some(old) => {
                    values.insert(":old".to_owned(), s(old.encode()));
                    "#ck = :old".to_owned()
                }
            };
            let mut remove = Vec::new();
            for (i, shard) in pruned.iter().enumerate() {
                let old = checkpoints.get(shard).expect("a pruned checkpoint was read");
                names.insert(format!("#p{i}"), format!("{CHECKPOINT_PREFIX}{shard}"));
                values.insert(format!(":p{i}"), s(old.encode()));
                remove.push(format!("#p{i}"));
                condition.push_str(&format!(" AND #p{i} = :p{i}"));
            }
            let mut expression = format!("SET {}", set.join(", "));
            if !add.is_empty() {
                expression.push_str(&format!(" ADD {}", add.join(", ")));
            }
            if !remove.is_empty() {
                expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
            }

            let sent = self
                .client
                .update_item()
                .table_name(&table)
                .set_key(Some(key(fold.pk.clone(), Some(&fold.sk))))
                .update_expression(expression)
                .condition_expression(condition)
                .set_expression_attribute_names(Some(names))
                .set_expression_attribute_values(Some(values))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
                .send()
                .await;
            match sent {
                Ok(out) => {
                    let folded = Folded { written: 1, contributions: todo.contributions, conflicts: conflicts as usize };
                    return Ok((folded, out.attributes.filter(|i| !i.is_empty())));
                }
                Err(e) => {
                    let Some(UpdateItemError::ConditionalCheckFailedException(failed)) = e.as_service_error() else {
                        return Err(call_failed("UpdateItem", e));
                    };
                    conflicts += 1;
                    if conflicts >= ATTEMPTS {
                        tracing::warn!(table, pk = fold.pk, sk = fold.sk, "a stream fold lost every race for its item");
                        return Err(busy());
                    }
                    item = match failed.item().filter(|i| !i.is_empty()) {
                        Some(now) => Some(now.clone()),
                        // Read as the first read was (BatchGetItem), so that a fold needs no
                        // other permission on its table.
                        None => {
                            backoff(conflicts).await;
                            self.batch_get(vec![(table.clone(), key(fold.pk.clone(), Some(&fold.sk)))]).await?.into_values().next()
                        }
                    };
                }
            }
        }
    }

    /// [`DynamoStore::fold_once`] on `table` (stock or aggregates), for the suites that prove it
    /// on moto item by item.
    #[doc(hidden)]
    pub async fn fold_stream_once(&self, table: super::Table, folds: Vec<StreamFold>) -> StoreResult<Folded> {
        let Some(name) = self.tables.name(table) else {
            return Err(StoreError::permanent("UpdateItem", "UnconfiguredTable", format!("{} is not configured", table.variable())));
        };
        let name = name.to_owned();
        Ok(self.fold_once(&name, folds, true).await?.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::stream::SequenceNumber;

    fn fold(pk: &str, shard: &str, seqs: &[&str]) -> StreamFold {
        StreamFold {
            pk: pk.to_owned(),
            sk: "-".to_owned(),
            shard: ShardId::parse(shard).unwrap(),
            contributions: seqs
                .iter()
                .map(|q| Contribution { sequence: SequenceNumber::parse(q).unwrap(), at: 1, deltas: BTreeMap::from([("qty".to_owned(), 1)]) })
                .collect(),
            set_if_absent: vec![("name".to_owned(), format!("from {q}", q = seqs.first().unwrap_or(&"")))],
        }
    }

    #[test]
    fn folds_of_one_item_and_shard_are_written_as_one() {
        let out = merged(vec![fold("a", "s1", &["1"]), fold("a", "s2", &["2"]), fold("a", "s1", &["3"]), fold("b", "s1", &["4"])]);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0].contributions.len(), 2);
        assert_eq!(out[0].set_if_absent, vec![("name".to_owned(), "from 1".to_owned())]);
    }

    #[test]
    fn an_items_checkpoints_are_its_ck_attributes() {
        let item = HashMap::from([
            ("pk".to_owned(), s("a")),
            ("qty".to_owned(), n(3)),
            ("ck#shardId-1".to_owned(), s("0042/1700000000")),
        ]);
        let cks = checkpoints_of(Some(&item)).unwrap();
        assert_eq!(cks.len(), 1);
        let ck = cks.get(&ShardId::parse("shardId-1").unwrap()).unwrap();
        assert_eq!((ck.sequence.as_str(), ck.at), ("42", 1_700_000_000));
        assert!(checkpoints_of(None).unwrap().is_empty());
        let damaged = HashMap::from([("pk".to_owned(), s("a")), ("ck#s".to_owned(), n(4))]);
        assert!(matches!(checkpoints_of(Some(&damaged)), Err(StoreError::Damaged { .. })));
    }
}
