//! What the functions tell CloudWatch about the shop and themselves: counters and timings through
//! the `metrics` facade, written by the Lambda host ([`crate::host`]) as CloudWatch Embedded
//! Metric Format documents (`metrics_cloudwatch_embedded`) on stdout once per invocation, where
//! Lambda's log stream turns them into metrics without an API call.
//!
//! Every metric is dimensioned by `Function` (Lambda's function name); `Requests` also by
//! `StatusClass`, and consumed capacity by `Operation`. The store is not a dimension: a chain
//! of a thousand stores would pay for a thousand metrics per name. Each document carries the
//! store and the request id as properties instead, which CloudWatch Logs Insights can query.
//!
//! Where nothing installed a recorder (`retail-local` in-process, the tests), every call here is
//! a no-op. `template.yaml`'s alarms and dashboard name these metrics; `tests/tests/operations.rs`
//! checks that each name they use is one of [`ALL`].

use std::time::Duration;

/// The variable that names the CloudWatch namespace (`template.yaml` sets it for every function).
pub const NAMESPACE_VARIABLE: &str = "METRICS_NAMESPACE";
/// The namespace when the variable is unset.
pub const DEFAULT_NAMESPACE: &str = "Retail";

/// The dimension every metric carries: the function's name as Lambda knows it.
pub const FUNCTION: &str = "Function";
/// `Requests`' second dimension: `2xx`, `3xx`, `4xx` or `5xx`.
pub const STATUS_CLASS: &str = "StatusClass";
/// The consumed-capacity metrics' second dimension: the DynamoDB operation (`TransactWriteItems`).
pub const OPERATION: &str = "Operation";

/// HTTP answers, by status class (Count).
pub const REQUESTS: &str = "Requests";
/// 503 answers: a dependency throttling or down (Count).
pub const UNAVAILABLE: &str = "Unavailable";
/// The handler's time per invocation (Milliseconds; alarms read its p99).
pub const LATENCY: &str = "Latency";
/// 1 on an execution environment's first invocation (Count).
pub const COLD_START: &str = "ColdStart";
/// Sales committed, replays not counted (Count).
pub const SALES: &str = "Sales";
/// What those sales took, in minor units of the chain's currency.
pub const SALES_AMOUNT: &str = "SalesAmount";
/// Returns committed (Count).
pub const RETURNS: &str = "Returns";
/// What those returns refunded, in minor units.
pub const REFUND_AMOUNT: &str = "RefundAmount";
/// Sales refused as `out_of_stock` (Count).
pub const OUT_OF_STOCK: &str = "OutOfStock";
/// Answers replayed for a reused idempotency key: a till's retry (Count).
pub const IDEMPOTENT_REPLAYS: &str = "IdempotentReplays";
/// `in_progress` answers: a retry that arrived while its first attempt was still running (Count).
pub const IN_PROGRESS: &str = "InProgress";
/// DynamoDB attempts answered with throttling (Count).
pub const DYNAMO_THROTTLES: &str = "DynamoThrottles";
/// DynamoDB attempts that were retries of an earlier one (Count).
pub const DYNAMO_RETRIES: &str = "DynamoRetries";
/// Read capacity units per invocation and operation (as DynamoDB reported them, else computed).
pub const CONSUMED_READ_UNITS: &str = "ConsumedReadUnits";
/// Write capacity units per invocation and operation (likewise).
pub const CONSUMED_WRITE_UNITS: &str = "ConsumedWriteUnits";
/// Sales-stream records folded into the reports, each once (Count).
pub const RECORDS_FOLDED: &str = "RecordsFolded";
/// Records the aggregator could not fold: reported as batch item failures, or in a batch that
/// failed whole and is retried (Count).
pub const RECORDS_FAILED: &str = "RecordsFailed";
/// The age of the newest record of a folded batch when it was folded (Milliseconds): how far
/// the reports trail the tills.
pub const FOLD_LAG: &str = "FoldLag";

/// Every metric name the functions emit.
pub const ALL: [&str; 18] = [
    REQUESTS,
    UNAVAILABLE,
    LATENCY,
    COLD_START,
    SALES,
    SALES_AMOUNT,
    RETURNS,
    REFUND_AMOUNT,
    OUT_OF_STOCK,
    IDEMPOTENT_REPLAYS,
    IN_PROGRESS,
    DYNAMO_THROTTLES,
    DYNAMO_RETRIES,
    CONSUMED_READ_UNITS,
    CONSUMED_WRITE_UNITS,
    RECORDS_FOLDED,
    RECORDS_FAILED,
    FOLD_LAG,
];

/// The units CloudWatch shows, said once when the recorder is installed.
pub(crate) fn describe() {
    use ::metrics::{Unit, describe_counter, describe_histogram};
    for name in [REQUESTS, UNAVAILABLE, COLD_START, SALES, RETURNS, OUT_OF_STOCK, IDEMPOTENT_REPLAYS, IN_PROGRESS] {
        describe_counter!(name, Unit::Count, "");
    }
    for name in [DYNAMO_THROTTLES, DYNAMO_RETRIES, RECORDS_FOLDED, RECORDS_FAILED] {
        describe_counter!(name, Unit::Count, "");
    }
    describe_histogram!(LATENCY, Unit::Milliseconds, "");
    describe_histogram!(FOLD_LAG, Unit::Milliseconds, "");
}

/// An HTTP answer: its status class, and a 503 apart.
pub fn answered(status: u16) {
    let class = match status {
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    };
    ::metrics::counter!(REQUESTS, STATUS_CLASS => class).increment(1);
    if status == 503 {
        ::metrics::counter!(UNAVAILABLE).increment(1);
    }
}

/// A refusal with a problem `code`, counted where the code is one an operator watches.
pub fn refused(code: &str) {
    match code {
        "out_of_stock" => ::metrics::counter!(OUT_OF_STOCK).increment(1),
        "in_progress" => ::metrics::counter!(IN_PROGRESS).increment(1),
        _ => {}
    }
}

/// A sale committed, for `amount` minor units.
pub fn sold(amount: i64) {
    ::metrics::counter!(SALES).increment(1);
    ::metrics::counter!(SALES_AMOUNT).increment(amount.max(0).unsigned_abs());
}

/// A return committed, refunding `amount` minor units.
pub fn returned(amount: i64) {
    ::metrics::counter!(RETURNS).increment(1);
    ::metrics::counter!(REFUND_AMOUNT).increment(amount.max(0).unsigned_abs());
}

/// An answer replayed for a reused idempotency key.
pub fn replayed() {
    ::metrics::counter!(IDEMPOTENT_REPLAYS).increment(1);
}

/// A stream batch: `folded` records newly counted, `failed` not, and the age of its newest
/// record (`None` for a batch with nothing in it).
pub fn folded(folded: usize, failed: usize, lag: Option<Duration>) {
    ::metrics::counter!(RECORDS_FOLDED).increment(folded as u64);
    ::metrics::counter!(RECORDS_FAILED).increment(failed as u64);
    if let Some(lag) = lag {
        ::metrics::histogram!(FOLD_LAG).record(lag.as_secs_f64() * 1000.0);
    }
}

/// One invocation's handler time, and whether it was the environment's first.
pub(crate) fn invoked(took: Duration, cold: bool) {
    ::metrics::histogram!(LATENCY).record(took.as_secs_f64() * 1000.0);
    if cold {
        ::metrics::counter!(COLD_START).increment(1);
    }
}

/// What an invocation asked of DynamoDB: throttled and retried attempts, and the capacity
/// units each operation consumed (what DynamoDB reported where it reported anything, the
/// meter's computation otherwise: moto reports little).
pub(crate) fn dynamo(consumed: &crate::store::dynamo::Consumed, attempts: crate::store::dynamo::Attempts) {
    ::metrics::counter!(DYNAMO_THROTTLES).increment(attempts.throttled);
    ::metrics::counter!(DYNAMO_RETRIES).increment(attempts.retried);
    let mut by_operation: std::collections::BTreeMap<&str, (f64, f64)> = Default::default();
    for (operation, _table, tally) in consumed.calls() {
        let reported = tally.reported_read_units > 0.0 || tally.reported_write_units > 0.0;
        let (read, write) = if reported {
            (tally.reported_read_units, tally.reported_write_units)
        } else {
            (tally.read_units, tally.write_units)
        };
        let sum = by_operation.entry(operation).or_default();
        sum.0 += read;
        sum.1 += write;
    }
    for (operation, (read, write)) in by_operation {
        let operation = operation.to_owned();
        if read > 0.0 {
            ::metrics::histogram!(CONSUMED_READ_UNITS, OPERATION => operation.clone()).record(read);
        }
        if write > 0.0 {
            ::metrics::histogram!(CONSUMED_WRITE_UNITS, OPERATION => operation).record(write);
        }
    }
}
