//! The cost meter: an SDK interceptor on the adapter's DynamoDB client (registered by
//! [`super::DynamoStore::new`], which every store goes through) that asks every data-plane call
//! for `ReturnConsumedCapacity: TOTAL` and tallies, per operation and table (the template's
//! logical id, `SalesTable`; the physical name for a table this store does not know), the
//! requests and the units they consumed: computed from the items the call carries or returns by
//! DynamoDB's published sizing rules ([`super::capacity`]), and, apart, as DynamoDB reported them
//! in `ConsumedCapacity`. On AWS the reported figure is the truth; the computed one is what a
//! benchmark on moto (whose figures are not DynamoDB's) can use. [`super::DynamoStore::take_consumed`]
//! drains the tally; the Lambda host logs it after each invocation (`crate::host`).
//!
//! What the computed units are, operation by operation (each answered attempt is a request; a
//! retried call is billed for each attempt DynamoDB answered):
//! - PutItem, each Put of a BatchWriteItem or TransactWriteItems: the item sent. Exact, unless
//!   it replaces a larger item (DynamoDB bills the larger of the two): when the call returns the
//!   old item (`ReturnValues: ALL_OLD`, or the item of a failed condition) its size counts if
//!   larger.
//! - UpdateItem, DeleteItem, and a transaction's Update, Delete and ConditionCheck: the item's
//!   size is not in the request, so it is estimated as the key's size plus the sizes of the
//!   expression's attribute values (an Update's new values and its condition's operands; a
//!   Delete's or ConditionCheck's condition operands), or the size of the attributes the call
//!   returned (`ReturnValues`, or the item of a failed condition) when that is larger. Usually
//!   an underestimate (the item's other attributes are unseen), but at least the one unit
//!   every write costs. A ConditionCheck is billed as a write, twice, like the other items of
//!   a transaction: DynamoDB's "Capacity management for transactions" (developer guide,
//!   transaction-apis.html) bills two underlying writes per item, and a ConditionCheck consumes
//!   write capacity (measured 2 WCU for an item under 1 KB: martinhicks.dev, "What a
//!   conditional DynamoDB transaction actually costs").
//! - GetItem, Query, Scan, BatchGetItem, TransactGetItems: the items returned (a missing item
//!   costs the minimum). Exact when the whole item comes back; a projection or a filter makes it
//!   an underestimate (DynamoDB bills the items read, before either). `ConsistentRead` picks
//!   strong or eventual; TransactGetItems is transactional. A BatchGetItem's unprocessed keys
//!   are not billed; a BatchWriteItem's unprocessed items neither.
//! - Failures: a write whose condition failed (`ConditionalCheckFailedException`) is billed
//!   like the write (DynamoDB bills a failed conditional write per started KB); a cancelled
//!   transaction (`TransactionCanceledException`) whose reasons include a failed condition is
//!   billed as if every item were written transactionally, the items returned with the reasons
//!   counting where larger: an estimate, as DynamoDB does not publish what a cancelled
//!   transaction bills. Any other failure (throttling, conflicts, validation, a call refused
//!   before it was sent) counts as a request of no units, or not at all if unanswered.
//!
//! - Global secondary indexes (every index of this project's tables projects all attributes):
//!   a write that succeeded also writes each index its item is in, one unit per started KB of
//!   the item, and two when it changes the item's index key (delete the old index entry, put
//!   the new: "Global secondary indexes", GSI.Writes, in the developer guide). A Put is in an
//!   index when it carries all of that index's key attributes (one write; replacing an item
//!   indexed under another key would be a second, not counted). An Update that names one of an
//!   index's key attributes is counted as moving the item's index key (two writes; one where
//!   the item was new). An Update naming none, and a Delete, are counted as touching no index
//!   (the item's other attributes are unseen). Inside a transaction an index write is counted
//!   once, not twice (the guide doubles a transaction's item writes and says nothing of its
//!   indexes): an estimate. [`Table::index_keys`] says which indexes exist.
//!
//! Reported units: the answer's `ConsumedCapacity` entries, by their table: `ReadCapacityUnits`
//! and `WriteCapacityUnits` when given, else `CapacityUnits` counted as reads for a read
//! operation and writes for a write. Failed calls carry none.

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_get_item::{BatchGetItemError, BatchGetItemInput, BatchGetItemOutput};
use aws_sdk_dynamodb::operation::batch_write_item::{BatchWriteItemError, BatchWriteItemInput, BatchWriteItemOutput};
use aws_sdk_dynamodb::operation::delete_item::{DeleteItemError, DeleteItemInput, DeleteItemOutput};
use aws_sdk_dynamodb::operation::get_item::{GetItemError, GetItemInput, GetItemOutput};
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::{QueryError, QueryInput, QueryOutput};
use aws_sdk_dynamodb::operation::scan::{ScanError, ScanInput, ScanOutput};
use aws_sdk_dynamodb::operation::transact_get_items::{TransactGetItemsError, TransactGetItemsInput, TransactGetItemsOutput};
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsInput, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemInput, UpdateItemOutput};
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity, ReturnConsumedCapacity, WriteRequest};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{Error, Input, Output};
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::retries::RequestAttempts;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::capacity::{self, Consumed, Read, Tally, Write};
use super::{Table, Tables};

type Attributes = HashMap<String, AttributeValue>;

/// The interceptor, and the handle that drains what it recorded (clones share the tally).
#[derive(Debug, Clone)]
pub struct CapacityMeter {
    consumed: Arc<Mutex<Consumed>>,
    /// Attempts throttled and retried since the last take.
    attempts: Arc<Mutex<Attempts>>,
    /// Physical table name → logical id.
    names: Arc<HashMap<String, &'static str>>,
    /// Physical table name → the key attributes of each of its global secondary indexes.
    indexes: Arc<HashMap<String, &'static [&'static [&'static str]]>>,
}

impl CapacityMeter {
    /// A meter that names `tables` by their logical ids.
    pub fn new(tables: &Tables) -> CapacityMeter {
        let names = Table::ALL.into_iter().filter_map(|t| Some((tables.name(t)?.to_owned(), t.logical_id()))).collect();
        let indexes = Table::ALL.into_iter().filter_map(|t| Some((tables.name(t)?.to_owned(), t.index_keys()))).collect();
        CapacityMeter {
            consumed: Arc::default(),
            attempts: Arc::default(),
            names: Arc::new(names),
            indexes: Arc::new(indexes),
        }
    }

    /// The attempts throttled and retried since the last take, leaving both at zero.
    pub fn take_attempts(&self) -> Attempts {
        std::mem::take(&mut *self.attempts.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Everything recorded since the last take, leaving the tally empty.
    pub fn take(&self) -> Consumed {
        std::mem::take(&mut *self.consumed.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Per table, what one answered attempt of `planned` consumed, the writes to global
    /// secondary indexes of a call that succeeded included.
    fn bill(&self, planned: &Planned, answer: Result<&Output, &OrchestratorError<Error>>) -> Vec<(String, Tally)> {
        let mut billed = bill(planned, answer);
        if answer.is_ok() {
            for (table, units) in index_writes(&planned.touched, &self.indexes) {
                match billed.iter_mut().find(|(t, _)| *t == table) {
                    Some((_, tally)) => tally.write_units += units,
                    None => billed.push((table, Tally { requests: 1, write_units: units, ..Tally::default() })),
                }
            }
        }
        billed
    }

    fn record(&self, operation: &str, billed: Vec<(String, Tally)>) {
        let named: Vec<(&str, Tally)> = billed
            .iter()
            .map(|(table, tally)| (self.names.get(table).copied().unwrap_or(table.as_str()), *tally))
            .collect();
        self.consumed.lock().unwrap_or_else(|e| e.into_inner()).record(operation, named);
    }
}

impl Intercept for CapacityMeter {
    fn name(&self) -> &'static str {
        "CapacityMeter"
    }

    // Once per call, before the retry loop: the input is still there to change and to read.
    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(planned) = ask_for_capacity(context.input_mut()) {
            cfg.interceptor_state().store_put(planned);
        }
        Ok(())
    }

    // Once per attempt, before it is sent: the orchestrator numbers them from 1.
    fn read_before_attempt(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if cfg.load::<RequestAttempts>().is_some_and(|a| a.attempts() > 1) {
            self.attempts.lock().unwrap_or_else(|e| e.into_inner()).retried += 1;
        }
        Ok(())
    }

    // Once per attempt DynamoDB answered.
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if context.output_or_error().err().is_some_and(throttled) {
            self.attempts.lock().unwrap_or_else(|e| e.into_inner()).throttled += 1;
        }
        if let Some(planned) = cfg.load::<Planned>() {
            self.record(planned.operation, self.bill(planned, context.output_or_error()));
        }
        Ok(())
    }
}

/// Attempts of DynamoDB calls that went wrong on the way, counted by the meter.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attempts {
    /// Answered with throttling (DynamoDB's own codes, or a transaction cancelled for it).
    pub throttled: u64,
    /// Sent again after an earlier attempt of the same call failed.
    pub retried: u64,
}

/// Whether an attempt's failure is DynamoDB throttling: the call's own error code, or a
/// transaction cancelled because one of its items was throttled.
fn throttled(error: &OrchestratorError<Error>) -> bool {
    let Some(error) = error.as_operation_error() else { return false };
    macro_rules! code_of {
        ($($operation_error:ty),*) => {
            None$(.or_else(|| error.downcast_ref::<$operation_error>().and_then(|e| e.code())))*
        };
    }
    let code: Option<&str> = code_of!(
        GetItemError,
        PutItemError,
        UpdateItemError,
        DeleteItemError,
        QueryError,
        ScanError,
        BatchGetItemError,
        BatchWriteItemError,
        TransactGetItemsError,
        TransactWriteItemsError
    );
    let cancelled_for_it = match error.downcast_ref::<TransactWriteItemsError>() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
            e.cancellation_reasons().iter().any(|r| r.code().is_some_and(super::failure::throttling))
        }
        _ => false,
    };
    code.is_some_and(super::failure::throttling) || cancelled_for_it
}

/// What the meter keeps of a request until its answers: the operation and what its items weigh.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Planned {
    operation: &'static str,
    shape: Shape,
    /// The items it writes, as the indexes see them.
    touched: Vec<Touched>,
}

/// A written item as the global secondary indexes see it: its table, its (estimated) size,
/// and the attributes it carries (a Put) or its update expression names (an Update).
#[derive(Debug, Clone, PartialEq)]
struct Touched {
    table: String,
    bytes: u64,
    put: bool,
    names: Vec<String>,
}

impl Touched {
    fn put(table: &str, item: &Attributes) -> Touched {
        Touched { table: table.to_owned(), bytes: capacity::item_size(item), put: true, names: item.keys().cloned().collect() }
    }

    /// The attributes an update expression names: through `#placeholders` or bare.
    fn update(table: &str, bytes: u64, expression: &str, placeholders: Option<&HashMap<String, String>>) -> Touched {
        const KEYWORDS: [&str; 6] = ["SET", "ADD", "REMOVE", "DELETE", "if_not_exists", "list_append"];
        let names = expression
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '#' || c == ':'))
            .filter(|w| !w.is_empty() && !w.starts_with(':') && !KEYWORDS.contains(w))
            .filter_map(|w| match w.strip_prefix('#') {
                Some(_) => placeholders.and_then(|p| p.get(w)).cloned(),
                None => Some(w.to_owned()),
            })
            .collect();
        Touched { table: table.to_owned(), bytes, put: false, names }
    }
}

/// Per table, the write units a successful call also spent on global secondary indexes
/// (see the module's doc).
fn index_writes(touched: &[Touched], indexes: &HashMap<String, &'static [&'static [&'static str]]>) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = Vec::new();
    for item in touched {
        let Some(keys) = indexes.get(&item.table) else { continue };
        let has = |attr: &&str| item.names.iter().any(|n| n == attr);
        let writes: u64 = keys
            .iter()
            .map(|index| match item.put {
                true if index.iter().all(has) => 1,
                false if index.iter().any(has) => 2,
                _ => 0,
            })
            .sum();
        if writes == 0 {
            continue;
        }
        let units = writes as f64 * capacity::write_units(item.bytes, Write::Standard);
        match out.iter_mut().find(|(t, _)| *t == item.table) {
            Some((_, u)) => *u += units,
            None => out.push((item.table.clone(), units)),
        }
    }
    out
}

impl Storable for Planned {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone, PartialEq)]
enum Shape {
    /// PutItem (the item's size), UpdateItem, DeleteItem (the estimate).
    Write { table: String, bytes: u64 },
    /// GetItem, Query, Scan: billed by what comes back.
    Read { table: String, read: Read },
    /// Per table: its consistency and how many keys were asked for.
    BatchGet { tables: Vec<(String, Read, usize)> },
    /// Per item: its table and size (estimated for a Delete).
    BatchWrite { items: Vec<(String, u64)> },
    /// Per item, in order: its table.
    TransactGet { tables: Vec<String> },
    /// Per item, in order: its table and size (estimated but for a Put).
    TransactWrite { items: Vec<(String, u64)> },
}

impl Shape {
    fn reads(&self) -> bool {
        matches!(self, Shape::Read { .. } | Shape::BatchGet { .. } | Shape::TransactGet { .. })
    }
}

fn consistency(consistent_read: Option<bool>) -> Read {
    if consistent_read == Some(true) { Read::Strong } else { Read::Eventual }
}

fn size(item: Option<&Attributes>) -> u64 {
    item.map(capacity::item_size).unwrap_or(0)
}

/// The estimate for an item the request does not carry whole: its key and the expression's values.
fn estimate(key: Option<&Attributes>, values: Option<&Attributes>) -> u64 {
    size(key) + values.map(|v| v.values().map(capacity::value_size).sum()).unwrap_or(0)
}

fn table(name: &Option<String>) -> String {
    name.clone().unwrap_or_default()
}

/// Sets `ReturnConsumedCapacity: TOTAL` on a data-plane request and plans its billing; `None`
/// for any other operation (DescribeTable, CreateTable, ...), left as it is.
pub(crate) fn ask_for_capacity(input: &mut Input) -> Option<Planned> {
    let total = Some(ReturnConsumedCapacity::Total);
    let mut touched = Vec::new();
    let (operation, shape) = if let Some(i) = input.downcast_mut::<PutItemInput>() {
        i.return_consumed_capacity = total;
        if let Some(item) = &i.item {
            touched.push(Touched::put(&table(&i.table_name), item));
        }
        ("PutItem", Shape::Write { table: table(&i.table_name), bytes: size(i.item.as_ref()) })
    } else if let Some(i) = input.downcast_mut::<UpdateItemInput>() {
        i.return_consumed_capacity = total;
        let bytes = estimate(i.key.as_ref(), i.expression_attribute_values.as_ref());
        let expression = i.update_expression.as_deref().unwrap_or_default();
        touched.push(Touched::update(&table(&i.table_name), bytes, expression, i.expression_attribute_names.as_ref()));
        ("UpdateItem", Shape::Write { table: table(&i.table_name), bytes })
    } else if let Some(i) = input.downcast_mut::<DeleteItemInput>() {
        i.return_consumed_capacity = total;
        let bytes = estimate(i.key.as_ref(), i.expression_attribute_values.as_ref());
        ("DeleteItem", Shape::Write { table: table(&i.table_name), bytes })
    } else if let Some(i) = input.downcast_mut::<GetItemInput>() {
        i.return_consumed_capacity = total;
        ("GetItem", Shape::Read { table: table(&i.table_name), read: consistency(i.consistent_read) })
    } else if let Some(i) = input.downcast_mut::<QueryInput>() {
        i.return_consumed_capacity = total;
        ("Query", Shape::Read { table: table(&i.table_name), read: consistency(i.consistent_read) })
    } else if let Some(i) = input.downcast_mut::<ScanInput>() {
        i.return_consumed_capacity = total;
        ("Scan", Shape::Read { table: table(&i.table_name), read: consistency(i.consistent_read) })
    } else if let Some(i) = input.downcast_mut::<BatchGetItemInput>() {
        i.return_consumed_capacity = total;
        let mut tables: Vec<(String, Read, usize)> = i
            .request_items
            .iter()
            .flatten()
            .map(|(name, keys)| (name.clone(), consistency(keys.consistent_read), keys.keys.len()))
            .collect();
        tables.sort_by(|a, b| a.0.cmp(&b.0));
        ("BatchGetItem", Shape::BatchGet { tables })
    } else if let Some(i) = input.downcast_mut::<BatchWriteItemInput>() {
        i.return_consumed_capacity = total;
        for (name, writes) in i.request_items.iter().flatten() {
            touched.extend(writes.iter().filter_map(|w| w.put_request.as_ref()).map(|p| Touched::put(name, &p.item)));
        }
        ("BatchWriteItem", Shape::BatchWrite { items: batch_writes(i.request_items.as_ref()) })
    } else if let Some(i) = input.downcast_mut::<TransactGetItemsInput>() {
        i.return_consumed_capacity = total;
        let tables = i.transact_items.iter().flatten().map(|t| t.get.as_ref().map(|g| g.table_name.clone()).unwrap_or_default()).collect();
        ("TransactGetItems", Shape::TransactGet { tables })
    } else if let Some(i) = input.downcast_mut::<TransactWriteItemsInput>() {
        i.return_consumed_capacity = total;
        let items = i
            .transact_items
            .iter()
            .flatten()
            .map(|t| {
                if let Some(p) = &t.put {
                    touched.push(Touched::put(&p.table_name, &p.item));
                    (p.table_name.clone(), capacity::item_size(&p.item))
                } else if let Some(u) = &t.update {
                    let bytes = estimate(Some(&u.key), u.expression_attribute_values.as_ref());
                    touched.push(Touched::update(&u.table_name, bytes, &u.update_expression, u.expression_attribute_names.as_ref()));
                    (u.table_name.clone(), bytes)
                } else if let Some(d) = &t.delete {
                    (d.table_name.clone(), estimate(Some(&d.key), d.expression_attribute_values.as_ref()))
                } else if let Some(c) = &t.condition_check {
                    (c.table_name.clone(), estimate(Some(&c.key), c.expression_attribute_values.as_ref()))
                } else {
                    (String::new(), 0)
                }
            })
            .collect();
        ("TransactWriteItems", Shape::TransactWrite { items })
    } else {
        return None;
    };
    Some(Planned { operation, shape, touched })
}

/// A BatchWriteItem's items (its tables in name order): a Put's size, a Delete's key's.
fn batch_writes(requests: Option<&HashMap<String, Vec<WriteRequest>>>) -> Vec<(String, u64)> {
    let mut tables: Vec<_> = requests.into_iter().flatten().collect();
    tables.sort_by(|a, b| a.0.cmp(b.0));
    tables
        .into_iter()
        .flat_map(|(name, writes)| {
            writes.iter().map(move |w| {
                let bytes = match (&w.put_request, &w.delete_request) {
                    (Some(put), _) => capacity::item_size(&put.item),
                    (None, Some(delete)) => capacity::item_size(&delete.key),
                    (None, None) => 0,
                };
                (name.clone(), bytes)
            })
        })
        .collect()
}

/// Per table (in first-touched order), what one answered attempt of `planned` consumed.
pub(crate) fn bill(planned: &Planned, answer: Result<&Output, &OrchestratorError<Error>>) -> Vec<(String, Tally)> {
    let mut billed = Billed::default();
    match answer {
        Ok(output) => billed_output(planned, output, &mut billed),
        Err(error) => {
            if let Some(error) = error.as_operation_error() {
                billed_failure(planned, error, &mut billed);
            }
        }
    }
    // Every table the request named counts the request, billed or not.
    for table in planned.tables() {
        billed.touch(table);
    }
    billed.0
}

impl Planned {
    fn tables(&self) -> Vec<&str> {
        match &self.shape {
            Shape::Write { table, .. } | Shape::Read { table, .. } => vec![table.as_str()],
            Shape::BatchGet { tables } => tables.iter().map(|(t, _, _)| t.as_str()).collect(),
            Shape::BatchWrite { items } | Shape::TransactWrite { items } => items.iter().map(|(t, _)| t.as_str()).collect(),
            Shape::TransactGet { tables } => tables.iter().map(String::as_str).collect(),
        }
    }
}

/// Per table, in the order first touched.
#[derive(Default)]
struct Billed(Vec<(String, Tally)>);

impl Billed {
    fn entry(&mut self, table: &str) -> &mut Tally {
        let at = match self.0.iter().position(|(t, _)| t == table) {
            Some(at) => at,
            None => {
                self.0.push((table.to_owned(), Tally { requests: 1, ..Tally::default() }));
                self.0.len() - 1
            }
        };
        &mut self.0[at].1
    }

    fn touch(&mut self, table: &str) {
        self.entry(table);
    }

    fn read(&mut self, table: &str, units: f64) {
        self.entry(table).read_units += units;
    }

    fn write(&mut self, table: &str, units: f64) {
        self.entry(table).write_units += units;
    }

    fn reported(&mut self, capacity: &ConsumedCapacity, reads: bool) {
        let Some(table) = capacity.table_name() else { return };
        let tally = self.entry(table);
        match (capacity.read_capacity_units(), capacity.write_capacity_units()) {
            (None, None) => {
                let units = capacity.capacity_units().unwrap_or(0.0);
                if reads {
                    tally.reported_read_units += units;
                } else {
                    tally.reported_write_units += units;
                }
            }
            (read, write) => {
                tally.reported_read_units += read.unwrap_or(0.0);
                tally.reported_write_units += write.unwrap_or(0.0);
            }
        }
    }

    fn reported_all(&mut self, capacities: &[ConsumedCapacity], reads: bool) {
        for capacity in capacities {
            self.reported(capacity, reads);
        }
    }
}

fn billed_output(planned: &Planned, output: &Output, billed: &mut Billed) {
    let reads = planned.shape.reads();
    match &planned.shape {
        Shape::Write { table, bytes } => {
            // The returned attributes (ReturnValues), where the call asked for them.
            let (returned, reported) = if let Some(o) = output.downcast_ref::<PutItemOutput>() {
                (o.attributes(), o.consumed_capacity())
            } else if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
                (o.attributes(), o.consumed_capacity())
            } else if let Some(o) = output.downcast_ref::<DeleteItemOutput>() {
                (o.attributes(), o.consumed_capacity())
            } else {
                (None, None)
            };
            billed.write(table, capacity::write_units((*bytes).max(size(returned)), Write::Standard));
            if let Some(c) = reported {
                billed.reported(c, reads);
            }
        }
        Shape::Read { table, read } => {
            let (units, reported) = if let Some(o) = output.downcast_ref::<GetItemOutput>() {
                (capacity::read_units(size(o.item()), *read), o.consumed_capacity())
            } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
                (capacity::query_read_units(o.items().iter().map(capacity::item_size), *read), o.consumed_capacity())
            } else if let Some(o) = output.downcast_ref::<ScanOutput>() {
                (capacity::query_read_units(o.items().iter().map(capacity::item_size), *read), o.consumed_capacity())
            } else {
                (0.0, None)
            };
            billed.read(table, units);
            if let Some(c) = reported {
                billed.reported(c, reads);
            }
        }
        Shape::BatchGet { tables } => {
            let Some(o) = output.downcast_ref::<BatchGetItemOutput>() else { return };
            for (table, read, keys) in tables {
                let found = o.responses().and_then(|r| r.get(table)).map(Vec::as_slice).unwrap_or_default();
                let unprocessed = o.unprocessed_keys().and_then(|u| u.get(table)).map(|k| k.keys().len()).unwrap_or(0);
                // Keys read and not found cost the minimum each.
                let missing = keys.saturating_sub(unprocessed).saturating_sub(found.len());
                let units = capacity::items_read_units(found.iter().map(capacity::item_size), *read)
                    + missing as f64 * capacity::read_units(0, *read);
                billed.read(table, units);
            }
            billed.reported_all(o.consumed_capacity(), reads);
        }
        Shape::BatchWrite { items } => {
            let Some(o) = output.downcast_ref::<BatchWriteItemOutput>() else { return };
            for (table, bytes) in items {
                billed.write(table, capacity::write_units(*bytes, Write::Standard));
            }
            // What DynamoDB did not process is not billed: taken back off.
            for (table, bytes) in batch_writes(o.unprocessed_items()) {
                billed.write(&table, -capacity::write_units(bytes, Write::Standard));
            }
            billed.reported_all(o.consumed_capacity(), reads);
        }
        Shape::TransactGet { tables } => {
            let Some(o) = output.downcast_ref::<TransactGetItemsOutput>() else { return };
            for (i, table) in tables.iter().enumerate() {
                let item = o.responses().get(i).and_then(|r| r.item());
                billed.read(table, capacity::read_units(size(item), Read::Transactional));
            }
            billed.reported_all(o.consumed_capacity(), reads);
        }
        Shape::TransactWrite { items } => {
            let Some(o) = output.downcast_ref::<TransactWriteItemsOutput>() else { return };
            for (table, bytes) in items {
                billed.write(table, capacity::write_units(*bytes, Write::Transactional));
            }
            billed.reported_all(o.consumed_capacity(), reads);
        }
    }
}

fn billed_failure(planned: &Planned, error: &Error, billed: &mut Billed) {
    match &planned.shape {
        Shape::Write { table, bytes } => {
            // A failed condition is billed like the write, the item it returned counting where larger.
            let failed_item = if let Some(e) = error.downcast_ref::<PutItemError>() {
                match e {
                    PutItemError::ConditionalCheckFailedException(c) => Some(c.item()),
                    _ => None,
                }
            } else if let Some(e) = error.downcast_ref::<UpdateItemError>() {
                match e {
                    UpdateItemError::ConditionalCheckFailedException(c) => Some(c.item()),
                    _ => None,
                }
            } else if let Some(e) = error.downcast_ref::<DeleteItemError>() {
                match e {
                    DeleteItemError::ConditionalCheckFailedException(c) => Some(c.item()),
                    _ => None,
                }
            } else {
                None
            };
            if let Some(item) = failed_item {
                billed.write(table, capacity::write_units((*bytes).max(size(item)), Write::Standard));
            }
        }
        Shape::TransactWrite { items } => {
            let Some(TransactWriteItemsError::TransactionCanceledException(e)) = error.downcast_ref::<TransactWriteItemsError>()
            else {
                return;
            };
            let reasons = e.cancellation_reasons();
            if !reasons.iter().any(|r| r.code() == Some("ConditionalCheckFailed")) {
                return;
            }
            for (i, (table, bytes)) in items.iter().enumerate() {
                let returned = size(reasons.get(i).and_then(|r| r.item()));
                billed.write(table, capacity::write_units((*bytes).max(returned), Write::Transactional));
            }
        }
        // A read that failed, or a batch, bills nothing.
        _ => {}
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::describe_table::DescribeTableInput;
    use aws_sdk_dynamodb::types::error::{
        ConditionalCheckFailedException, ProvisionedThroughputExceededException, TransactionCanceledException,
    };
    use aws_sdk_dynamodb::types::{
        CancellationReason, ConditionCheck, DeleteRequest, Get, ItemResponse, KeysAndAttributes, Put, PutRequest,
        TransactGetItem, TransactWriteItem, Update,
    };

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.to_owned())
    }

    fn n(v: &str) -> AttributeValue {
        AttributeValue::N(v.to_owned())
    }

    /// An item of exactly `bytes` (at least 7): "pk" "x" (3 bytes) and "pad" with the rest.
    fn sized(bytes: usize) -> Attributes {
        let item = HashMap::from([("pk".to_owned(), s("x")), ("pad".to_owned(), s(&"p".repeat(bytes - 6)))]);
        assert_eq!(capacity::item_size(&item), bytes as u64);
        item
    }

    /// {"pk": "STOCK#S001#MILK"}: 2 + 15 = 17 bytes.
    fn key() -> Attributes {
        HashMap::from([("pk".to_owned(), s("STOCK#S001#MILK"))])
    }

    fn meter() -> CapacityMeter {
        CapacityMeter::new(&Tables::with_prefix("t-"))
    }

    fn reported(table: &str, read: Option<f64>, write: Option<f64>, total: f64) -> ConsumedCapacity {
        ConsumedCapacity::builder()
            .table_name(table)
            .capacity_units(total)
            .set_read_capacity_units(read)
            .set_write_capacity_units(write)
            .build()
    }

    /// One call through the meter as the interceptor sees it: the input (checked to ask for
    /// TOTAL), then one answer.
    fn call<I>(meter: &CapacityMeter, input: I, answer: Result<Output, Error>) -> Consumed
    where
        I: std::fmt::Debug + Send + Sync + 'static,
    {
        let mut input = Input::erase(input);
        let planned = ask_for_capacity(&mut input).expect("a data-plane call");
        assert!(format!("{input:?}").contains("return_consumed_capacity: Some(Total)"), "{input:?}");
        let answer = answer.map_err(OrchestratorError::operation);
        meter.record(planned.operation, meter.bill(&planned, answer.as_ref()));
        meter.take()
    }

    #[test]
    fn a_write_that_succeeds_also_pays_for_the_indexes_its_item_is_in() {
        let m = meter();
        // A commodity carrying `catalog` and `pk` is in the commodities' catalog index: its 19
        // bytes written twice, 1 + 1.
        let commodity = HashMap::from([("pk".to_owned(), s("MILK")), ("catalog".to_owned(), s("all")), ("sk".to_owned(), s("c"))]);
        assert_eq!(capacity::item_size(&commodity), 19);
        let input = PutItemInput::builder().table_name("t-CommoditiesTable").set_item(Some(commodity.clone())).build().unwrap();
        assert_eq!(call(&m, input.clone(), Ok(Output::erase(PutItemOutput::builder().build()))).of("PutItem", "CommoditiesTable").write_units, 2.0);
        // The same item without `catalog` is in no index; a failed condition writes no index.
        let plain = HashMap::from([("pk".to_owned(), s("MILK")), ("sk".to_owned(), s("c"))]);
        let input_plain = PutItemInput::builder().table_name("t-CommoditiesTable").set_item(Some(plain)).build().unwrap();
        assert_eq!(call(&m, input_plain, Ok(Output::erase(PutItemOutput::builder().build()))).of("PutItem", "CommoditiesTable").write_units, 1.0);
        let failed = Error::erase(PutItemError::ConditionalCheckFailedException(ConditionalCheckFailedException::builder().message("no").build()));
        assert_eq!(call(&m, input, Err(failed)).of("PutItem", "CommoditiesTable").write_units, 1.0);

        // An update that moves `catalog`, the catalog index's partition key, through a
        // placeholder: 1 for the item, 2 for the index (the old entry deleted, the new put).
        let update = |names: &[(&str, &str)], expression: &str| {
            let mut u = UpdateItemInput::builder().table_name("t-CommoditiesTable").set_key(Some(key())).update_expression(expression);
            for (placeholder, name) in names {
                u = u.expression_attribute_names(*placeholder, *name);
            }
            u.expression_attribute_values(":q", n("1")).build().unwrap()
        };
        let moved = update(&[("#net", "catalog"), ("#q", "quantity")], "ADD #net :q, #q :q");
        assert_eq!(call(&m, moved, Ok(Output::erase(UpdateItemOutput::builder().build()))).of("UpdateItem", "CommoditiesTable").write_units, 3.0);
        // Named bare, the same; naming no index key, the item alone.
        let bare = update(&[], "SET catalog = :q");
        assert_eq!(call(&m, bare, Ok(Output::erase(UpdateItemOutput::builder().build()))).of("UpdateItem", "CommoditiesTable").write_units, 3.0);
        let other = update(&[("#q", "quantity")], "ADD #q :q");
        assert_eq!(call(&m, other, Ok(Output::erase(UpdateItemOutput::builder().build()))).of("UpdateItem", "CommoditiesTable").write_units, 1.0);
        // A table without indexes: the item alone, whatever it names.
        let stock = UpdateItemInput::builder()
            .table_name("t-StockTable")
            .set_key(Some(key()))
            .update_expression("ADD catalog :q")
            .expression_attribute_values(":q", n("1"))
            .build()
            .unwrap();
        assert_eq!(call(&m, stock, Ok(Output::erase(UpdateItemOutput::builder().build()))).of("UpdateItem", "StockTable").write_units, 1.0);

        // In a transaction: the item twice (transactional), its index writes once each: 2 + 2.
        let tx = TransactWriteItemsInput::builder()
            .transact_items(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name("t-CommoditiesTable")
                            .set_key(Some(key()))
                            .update_expression("ADD #net :q")
                            .expression_attribute_names("#net", "catalog")
                            .expression_attribute_values(":q", n("1"))
                            .build()
                            .unwrap(),
                    )
                    .build(),
            )
            .build()
            .unwrap();
        let output = Output::erase(TransactWriteItemsOutput::builder().build());
        assert_eq!(call(&m, tx, Ok(output)).of("TransactWriteItems", "CommoditiesTable").write_units, 4.0);
    }

    fn tally(requests: u64, read: f64, write: f64, reported_read: f64, reported_write: f64) -> Tally {
        Tally { requests, read_units: read, write_units: write, reported_read_units: reported_read, reported_write_units: reported_write }
    }

    #[test]
    fn a_put_bills_its_item_per_started_kilobyte_and_keeps_what_dynamodb_reported_apart() {
        let m = meter();
        // {"pk": "SALE#1", "total": 12999}: 2 + 6 and 5 + 4 = 17 bytes: one unit.
        let item = HashMap::from([("pk".to_owned(), s("SALE#1")), ("total".to_owned(), n("12999"))]);
        let input = PutItemInput::builder().table_name("t-SalesTable").set_item(Some(item)).build().unwrap();
        // moto's way: CapacityUnits alone, counted as writes for a write.
        let output = PutItemOutput::builder().consumed_capacity(reported("t-SalesTable", None, None, 1.0)).build();
        let consumed = call(&m, input, Ok(Output::erase(output)));
        assert_eq!(consumed.of("PutItem", "SalesTable"), tally(1, 0.0, 1.0, 0.0, 1.0));
        assert_eq!(consumed.total(), tally(1, 0.0, 1.0, 0.0, 1.0));

        // 2011 bytes: two units; nothing reported.
        let input = PutItemInput::builder().table_name("t-SalesTable").set_item(Some(sized(2011))).build().unwrap();
        let consumed = call(&m, input, Ok(Output::erase(PutItemOutput::builder().build())));
        assert_eq!(consumed.of("PutItem", "SalesTable"), tally(1, 0.0, 2.0, 0.0, 0.0));

        // Replacing a larger item it returned (ALL_OLD, 3000 bytes): the larger counts, 3 units.
        let input = PutItemInput::builder().table_name("t-SalesTable").set_item(Some(sized(100))).build().unwrap();
        let output = PutItemOutput::builder().set_attributes(Some(sized(3000))).build();
        assert_eq!(call(&m, input, Ok(Output::erase(output))).of("PutItem", "SalesTable").write_units, 3.0);
    }

    #[test]
    fn an_update_or_delete_is_estimated_from_its_key_and_values_or_what_it_returned() {
        let m = meter();
        // Key 17 bytes, values -2 and 0 of 2 bytes each: 21 bytes, one unit.
        let input = UpdateItemInput::builder()
            .table_name("t-StockTable")
            .set_key(Some(key()))
            .update_expression("ADD onHand :d")
            .condition_expression("onHand > :z")
            .expression_attribute_values(":d", n("-2"))
            .expression_attribute_values(":z", n("0"))
            .build()
            .unwrap();
        let plan = ask_for_capacity(&mut Input::erase(input.clone())).unwrap();
        assert_eq!((plan.operation, plan.shape), ("UpdateItem", Shape::Write { table: "t-StockTable".into(), bytes: 21 }));
        let output = UpdateItemOutput::builder().consumed_capacity(reported("t-StockTable", Some(0.0), Some(1.0), 1.0)).build();
        assert_eq!(call(&m, input.clone(), Ok(Output::erase(output))).of("UpdateItem", "StockTable"), tally(1, 0.0, 1.0, 0.0, 1.0));
        // The same returning ALL_NEW, 1500 bytes: 2 units.
        let output = UpdateItemOutput::builder().set_attributes(Some(sized(1500))).build();
        assert_eq!(call(&m, input, Ok(Output::erase(output))).of("UpdateItem", "StockTable").write_units, 2.0);

        // A delete of the key alone: the minimum, one unit; with the 4100 bytes it returned: 5.
        let input = DeleteItemInput::builder().table_name("t-StockTable").set_key(Some(key())).build().unwrap();
        assert_eq!(call(&m, input.clone(), Ok(Output::erase(DeleteItemOutput::builder().build()))).of("DeleteItem", "StockTable").write_units, 1.0);
        let output = DeleteItemOutput::builder().set_attributes(Some(sized(4100))).build();
        assert_eq!(call(&m, input, Ok(Output::erase(output))).of("DeleteItem", "StockTable").write_units, 5.0);
    }

    #[test]
    fn a_failed_condition_is_billed_like_the_write_and_throttling_is_not() {
        let m = meter();
        let input = PutItemInput::builder().table_name("t-IdempotencyTable").set_item(Some(sized(500))).build().unwrap();
        let failed = |item: Option<Attributes>| {
            Error::erase(PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder().message("no").set_item(item).build(),
            ))
        };
        assert_eq!(call(&m, input.clone(), Err(failed(None))).of("PutItem", "IdempotencyTable"), tally(1, 0.0, 1.0, 0.0, 0.0));
        // The item it returned (ALL_OLD on failure), 2100 bytes: 3 units.
        assert_eq!(call(&m, input.clone(), Err(failed(Some(sized(2100))))).of("PutItem", "IdempotencyTable").write_units, 3.0);
        let throttled = Error::erase(PutItemError::ProvisionedThroughputExceededException(
            ProvisionedThroughputExceededException::builder().message("slow down").build(),
        ));
        assert_eq!(call(&m, input, Err(throttled)).of("PutItem", "IdempotencyTable"), tally(1, 0.0, 0.0, 0.0, 0.0));
    }

    #[test]
    fn reads_bill_what_came_back_by_consistency() {
        let m = meter();
        // Eventually consistent, 5000 bytes: 2 × 4 KB halved, 1 unit.
        let get = GetItemInput::builder().table_name("t-CommoditiesTable").set_key(Some(key())).build().unwrap();
        let output = GetItemOutput::builder().set_item(Some(sized(5000))).build();
        assert_eq!(call(&m, get, Ok(Output::erase(output))).of("GetItem", "CommoditiesTable"), tally(1, 1.0, 0.0, 0.0, 0.0));
        // Strongly consistent and not found: the minimum, 1 unit; reported 1 as CapacityUnits of a read.
        let get = GetItemInput::builder().table_name("t-CommoditiesTable").set_key(Some(key())).consistent_read(true).build().unwrap();
        let output = GetItemOutput::builder().consumed_capacity(reported("t-CommoditiesTable", None, None, 1.0)).build();
        assert_eq!(call(&m, get, Ok(Output::erase(output))).of("GetItem", "CommoditiesTable"), tally(1, 1.0, 0.0, 1.0, 0.0));

        // A query of three items of 1500 bytes: 4500 rounded once, 2 units; eventually 1.
        let items = vec![sized(1500), sized(1500), sized(1500)];
        let query = QueryInput::builder().table_name("t-PricesTable").consistent_read(true).build().unwrap();
        let output = QueryOutput::builder().set_items(Some(items.clone())).build();
        assert_eq!(call(&m, query, Ok(Output::erase(output))).of("Query", "PricesTable").read_units, 2.0);
        let scan = ScanInput::builder().table_name("t-PricesTable").build().unwrap();
        let output = ScanOutput::builder().set_items(Some(items)).build();
        assert_eq!(call(&m, scan, Ok(Output::erase(output))).of("Scan", "PricesTable").read_units, 1.0);
        // An empty page still costs the minimum.
        let query = QueryInput::builder().table_name("t-PricesTable").build().unwrap();
        assert_eq!(call(&m, query, Ok(Output::erase(QueryOutput::builder().build()))).of("Query", "PricesTable").read_units, 0.5);
    }

    #[test]
    fn a_batch_get_rounds_each_item_per_table_and_bills_no_unprocessed_key() {
        let m = meter();
        let keys = |count: usize, consistent: bool| {
            KeysAndAttributes::builder().set_keys(Some(vec![key(); count])).consistent_read(consistent).build().unwrap()
        };
        let input = BatchGetItemInput::builder()
            .request_items("t-CommoditiesTable", keys(3, true))
            .request_items("t-PricesTable", keys(2, false))
            .build()
            .unwrap();
        // Commodities: 100 bytes (1) and 5000 (2) found, the third key missing (1): 4 units.
        // Prices: one key unprocessed, the other found (10 bytes, eventually): 0.5.
        let output = BatchGetItemOutput::builder()
            .responses("t-CommoditiesTable", vec![sized(100), sized(5000)])
            .responses("t-PricesTable", vec![sized(10)])
            .unprocessed_keys("t-PricesTable", keys(1, false))
            .consumed_capacity(reported("t-CommoditiesTable", Some(4.0), None, 4.0))
            .consumed_capacity(reported("t-PricesTable", Some(0.5), None, 0.5))
            .build();
        let consumed = call(&m, input, Ok(Output::erase(output)));
        assert_eq!(consumed.of("BatchGetItem", "CommoditiesTable"), tally(1, 4.0, 0.0, 4.0, 0.0));
        assert_eq!(consumed.of("BatchGetItem", "PricesTable"), tally(1, 0.5, 0.0, 0.5, 0.0));
        assert_eq!(consumed.total(), tally(1, 4.5, 0.0, 4.5, 0.0));
    }

    #[test]
    fn a_batch_write_bills_each_item_but_the_unprocessed() {
        let m = meter();
        let put = |bytes| WriteRequest::builder().put_request(PutRequest::builder().set_item(Some(sized(bytes))).build().unwrap()).build();
        let delete = WriteRequest::builder().delete_request(DeleteRequest::builder().set_key(Some(key())).build().unwrap()).build();
        let input = BatchWriteItemInput::builder()
            .request_items("t-StockTable", vec![put(10), put(1500), delete])
            .build()
            .unwrap();
        // 1 + 2 + 1, less the 1500-byte put DynamoDB left unprocessed (2): 2 units.
        let output = BatchWriteItemOutput::builder().unprocessed_items("t-StockTable", vec![put(1500)]).build();
        assert_eq!(call(&m, input, Ok(Output::erase(output))).of("BatchWriteItem", "StockTable"), tally(1, 0.0, 2.0, 0.0, 0.0));
    }

    #[test]
    fn a_transactional_get_bills_each_item_twice() {
        let m = meter();
        let get = |table: &str| TransactGetItem::builder().get(Get::builder().table_name(table).set_key(Some(key())).build().unwrap()).build();
        let input = TransactGetItemsInput::builder().transact_items(get("t-SalesTable")).transact_items(get("t-StoresTable")).build().unwrap();
        // 5000 bytes: 2 × 2 = 4; the store missing: 1 × 2 = 2.
        let output = TransactGetItemsOutput::builder()
            .responses(ItemResponse::builder().set_item(Some(sized(5000))).build())
            .responses(ItemResponse::builder().build())
            .build();
        let consumed = call(&m, input, Ok(Output::erase(output)));
        assert_eq!(consumed.of("TransactGetItems", "SalesTable"), tally(1, 4.0, 0.0, 0.0, 0.0));
        assert_eq!(consumed.of("TransactGetItems", "StoresTable"), tally(1, 2.0, 0.0, 0.0, 0.0));
        assert_eq!(consumed.total().requests, 1);
    }

    /// A checkout's shape: the sale (1100 bytes), its key completed (an update), a condition on
    /// the store, each in its own table.
    fn transaction() -> TransactWriteItemsInput {
        let put = Put::builder().table_name("t-SalesTable").set_item(Some(sized(1100))).build().unwrap();
        let update = Update::builder()
            .table_name("t-IdempotencyTable")
            .set_key(Some(key()))
            .update_expression("SET #st = :done")
            .expression_attribute_values(":done", s("done"))
            .build()
            .unwrap();
        let check = ConditionCheck::builder()
            .table_name("t-StoresTable")
            .set_key(Some(key()))
            .condition_expression("attribute_exists(pk)")
            .build()
            .unwrap();
        TransactWriteItemsInput::builder()
            .transact_items(TransactWriteItem::builder().put(put).build())
            .transact_items(TransactWriteItem::builder().update(update).build())
            .transact_items(TransactWriteItem::builder().condition_check(check).build())
            .build()
            .unwrap()
    }

    #[test]
    fn a_transaction_bills_each_item_twice_per_table_and_a_condition_check_as_a_write() {
        let m = meter();
        let output = TransactWriteItemsOutput::builder()
            .consumed_capacity(reported("t-SalesTable", None, Some(4.0), 4.0))
            .consumed_capacity(reported("t-IdempotencyTable", None, Some(2.0), 2.0))
            .consumed_capacity(reported("t-StoresTable", None, Some(2.0), 2.0))
            .build();
        let consumed = call(&m, transaction(), Ok(Output::erase(output)));
        // 1100 bytes: 2 units, twice. The update: 17 + 4 bytes, 1 unit, twice; the check: 17 bytes, twice.
        assert_eq!(consumed.of("TransactWriteItems", "SalesTable"), tally(1, 0.0, 4.0, 0.0, 4.0));
        assert_eq!(consumed.of("TransactWriteItems", "IdempotencyTable"), tally(1, 0.0, 2.0, 0.0, 2.0));
        assert_eq!(consumed.of("TransactWriteItems", "StoresTable"), tally(1, 0.0, 2.0, 0.0, 2.0));
        assert_eq!(consumed.total(), tally(1, 0.0, 8.0, 0.0, 8.0));
    }

    #[test]
    fn a_transaction_cancelled_by_a_condition_is_billed_and_one_cancelled_by_a_conflict_is_not() {
        let m = meter();
        let cancelled = |codes: [&str; 3], item: Option<Attributes>| {
            let reasons = codes
                .iter()
                .enumerate()
                .map(|(i, code)| CancellationReason::builder().code(*code).set_item(if i == 1 { item.clone() } else { None }).build())
                .collect();
            Error::erase(TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder().message("cancelled").set_cancellation_reasons(Some(reasons)).build(),
            ))
        };
        // The key's update refused, returning its 3000-byte item: 3 units, twice.
        let consumed = call(&m, transaction(), Err(cancelled(["None", "ConditionalCheckFailed", "None"], Some(sized(3000)))));
        assert_eq!(consumed.of("TransactWriteItems", "SalesTable"), tally(1, 0.0, 4.0, 0.0, 0.0));
        assert_eq!(consumed.of("TransactWriteItems", "IdempotencyTable"), tally(1, 0.0, 6.0, 0.0, 0.0));
        assert_eq!(consumed.of("TransactWriteItems", "StoresTable"), tally(1, 0.0, 2.0, 0.0, 0.0));
        let consumed = call(&m, transaction(), Err(cancelled(["None", "TransactionConflict", "None"], None)));
        assert_eq!(consumed.total(), tally(1, 0.0, 0.0, 0.0, 0.0));
        assert_eq!(consumed.calls().count(), 3, "the request still counts under each table");
    }

    #[test]
    fn other_operations_are_left_alone_and_unknown_tables_keep_their_names() {
        let mut input = Input::erase(DescribeTableInput::builder().table_name("t-SalesTable").build().unwrap());
        assert_eq!(ask_for_capacity(&mut input), None);
        let m = meter();
        let input = DeleteItemInput::builder().table_name("elsewhere").set_key(Some(key())).build().unwrap();
        let consumed = call(&m, input, Ok(Output::erase(DeleteItemOutput::builder().build())));
        assert_eq!(consumed.of("DeleteItem", "elsewhere"), tally(1, 0.0, 1.0, 0.0, 0.0));
        assert!(m.take().is_empty(), "a take drains");
    }
}
