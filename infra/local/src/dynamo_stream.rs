//! The sales table's real stream on a DynamoDB endpoint, delivered to `sales-aggregator` the way
//! Lambda's event source mapping does it: DescribeStream, GetShardIterator (TRIM_HORIZON, as the
//! template asks), GetRecords in batches of the template's `BatchSize`; a batch the function
//! fails is retried, and with `ReportBatchItemFailures` only from the first failed record on; after
//! `MaximumRetryAttempts` it is given up (in AWS: the on-failure queue), loudly.

use aws_sdk_dynamodbstreams::Client as StreamsClient;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use aws_smithy_types::error::display::DisplayErrorContext;
use base64::Engine;
use retail_core::store::dynamo::DynamoStore;
use sales_aggregator::SalesAggregator;
use serde_json::{Map, Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::emulator::EmulatedFunction;

/// How often an idle shard is polled (Lambda polls a stream about four times a second).
const POLL: Duration = Duration::from_millis(250);
/// The template's `MaximumRetryAttempts`.
const MAX_RETRIES: u32 = 5;

/// What the stream feeds: the aggregator in-process, or its binary under the emulator.
#[derive(Clone)]
pub enum StreamConsumer {
    InProcess(Arc<SalesAggregator<DynamoStore>>),
    Emulated(Arc<EmulatedFunction>),
}

impl StreamConsumer {
    /// Delivers one batch; the sequence numbers the function reported as failed.
    async fn deliver(&self, event: Value) -> Result<Vec<String>, String> {
        let failures = match self {
            StreamConsumer::InProcess(aggregator) => {
                let event = serde_json::from_value(event).map_err(|e| format!("the stream event does not deserialize: {e}"))?;
                let response = aggregator.fold(event).await.map_err(|e| e.to_string())?;
                response.batch_item_failures.into_iter().filter_map(|f| f.item_identifier).collect()
            }
            StreamConsumer::Emulated(function) => {
                let answer = function.invoke(&event).await.map_err(|e| e.to_string())?;
                let Some(failures) = answer.get("batchItemFailures").and_then(Value::as_array) else {
                    return Err(format!("the function failed: {answer}"));
                };
                failures.iter().filter_map(|f| f.get("itemIdentifier")?.as_str().map(str::to_owned)).collect()
            }
        };
        Ok(failures)
    }
}

/// Reads the stream of `table` from its oldest record on and feeds `consumer` until aborted.
/// While `seeding` is set, failures to read the stream are logged at debug level, not as
/// warnings: seeding keeps the endpoint busy (moto answers one request at a time), so reads time
/// out then and are simply retried.
pub async fn feed_from_stream(
    dynamodb: aws_sdk_dynamodb::Client,
    streams: StreamsClient,
    table: String,
    consumer: StreamConsumer,
    batch_size: usize,
    seeding: Arc<AtomicBool>,
) {
    let mut feed = Feed { streams, consumer, batch_size, region: region_of(&dynamodb), seeding };
    let stream_arn = loop {
        match dynamodb.describe_table().table_name(&table).send().await {
            Ok(out) => match out.table().and_then(|t| t.latest_stream_arn()) {
                Some(arn) => break arn.to_owned(),
                None => {
                    tracing::error!(table, "the table has no stream: sales will not reach the reports");
                    return;
                }
            },
            Err(e) => feed.read_failed("cannot describe the sales table; retrying", &table, &DisplayErrorContext(&e).to_string()),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    };
    feed.run(&stream_arn).await;
}

struct Feed {
    streams: StreamsClient,
    consumer: StreamConsumer,
    batch_size: usize,
    region: String,
    seeding: Arc<AtomicBool>,
}

/// A shard being read: where to read next, and the last record delivered.
struct Position {
    iterator: Option<String>,
    last_sequence: Option<String>,
}

impl Feed {
    /// A failed read, retried: a warning, or a debug line while seeding keeps the endpoint busy.
    fn read_failed(&self, what: &str, at: &str, error: &str) {
        if self.seeding.load(Ordering::Relaxed) {
            tracing::debug!(at, error, "{what} (the endpoint is busy seeding)");
        } else {
            tracing::warn!(at, error, "{what}");
        }
    }

    async fn run(&mut self, stream_arn: &str) {
        let mut open: HashMap<String, Position> = HashMap::new();
        let mut finished: HashSet<String> = HashSet::new();
        let mut parents: HashMap<String, Option<String>> = HashMap::new();
        let mut described_at: Option<tokio::time::Instant> = None;
        loop {
            // New shards appear as DynamoDB splits; look again now and then, and when one closes.
            if described_at.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                match self.shards(stream_arn).await {
                    Ok(shards) => {
                        for (id, parent) in shards {
                            parents.entry(id).or_insert(parent);
                        }
                        described_at = Some(tokio::time::Instant::now());
                    }
                    Err(e) => self.read_failed("DescribeStream failed; retrying", stream_arn, &e),
                }
            }
            // A child shard is read only once its parent is done, so records stay in order per key.
            for (id, parent) in &parents {
                let ready = parent.as_ref().is_none_or(|p| finished.contains(p) || !parents.contains_key(p));
                if ready && !finished.contains(id) && !open.contains_key(id) {
                    open.insert(id.clone(), Position { iterator: None, last_sequence: None });
                }
            }
            let mut delivered_any = false;
            let ids: Vec<String> = open.keys().cloned().collect();
            for id in ids {
                let position = open.get_mut(&id).expect("listed");
                match self.poll_shard(stream_arn, &id, position).await {
                    Ok(ShardState::Delivered) => delivered_any = true,
                    Ok(ShardState::Idle) => {}
                    Ok(ShardState::Closed) => {
                        open.remove(&id);
                        finished.insert(id);
                        described_at = None;
                    }
                    Err(e) => self.read_failed("reading the sales stream failed; retrying", &id, &e),
                }
            }
            if !delivered_any {
                tokio::time::sleep(POLL).await;
            }
        }
    }

    async fn shards(&self, stream_arn: &str) -> Result<Vec<(String, Option<String>)>, String> {
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let out = self
                .streams
                .describe_stream()
                .stream_arn(stream_arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .map_err(|e| DisplayErrorContext(&e).to_string())?;
            let Some(description) = out.stream_description() else { return Ok(shards) };
            for shard in description.shards() {
                if let Some(id) = shard.shard_id() {
                    shards.push((id.to_owned(), shard.parent_shard_id().map(str::to_owned)));
                }
            }
            match description.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_owned()),
                None => return Ok(shards),
            }
        }
    }

    async fn poll_shard(&self, stream_arn: &str, shard: &str, position: &mut Position) -> Result<ShardState, String> {
        let iterator = match position.iterator.take() {
            Some(it) => it,
            None => {
                let request = self.streams.get_shard_iterator().stream_arn(stream_arn).shard_id(shard);
                let request = match &position.last_sequence {
                    Some(seq) => request.shard_iterator_type(ShardIteratorType::AfterSequenceNumber).sequence_number(seq),
                    None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
                };
                let out = request.send().await.map_err(|e| DisplayErrorContext(&e).to_string())?;
                match out.shard_iterator() {
                    Some(it) => it.to_owned(),
                    None => return Ok(ShardState::Closed),
                }
            }
        };
        let out = match self.streams.get_records().shard_iterator(&iterator).limit(self.batch_size as i32).send().await {
            Ok(out) => out,
            Err(e) => {
                // An expired iterator is fetched again from the last record delivered.
                position.iterator = None;
                return Err(DisplayErrorContext(&e).to_string());
            }
        };
        let records = out.records();
        let state = if records.is_empty() {
            ShardState::Idle
        } else {
            self.deliver(stream_arn, shard, records).await;
            position.last_sequence = records.last().and_then(|r| r.dynamodb()?.sequence_number()).map(str::to_owned);
            ShardState::Delivered
        };
        match out.next_shard_iterator() {
            Some(next) => position.iterator = Some(next.to_owned()),
            None => return Ok(ShardState::Closed),
        }
        Ok(state)
    }

    /// One batch of `shard`, delivered as the template's event source mapping (with its
    /// tumbling window, which names the shard) would ([`deliver_batch`]).
    async fn deliver(&self, stream_arn: &str, shard: &str, records: &[Record]) {
        let batch: Vec<Value> = records.iter().map(|r| record_json(r, stream_arn, &self.region)).collect();
        let send = |records: Vec<Value>| self.consumer.deliver(json!({ "Records": records, "shardId": shard }));
        deliver_batch(batch, POLL, send).await;
    }
}

/// Delivers `batch` through `send` (which answers the sequence numbers the function reported
/// failed, or the function's error) as an event source mapping with this template's settings
/// does: a batch the function fails is halved and each half delivered in turn
/// (`BisectBatchOnFunctionError`; a split is not a retry), a single record it fails is retried
/// up to `MaximumRetryAttempts` (`pause` times the attempt apart), and after a partial failure
/// (`ReportBatchItemFailures`) delivery resumes from the lowest failed record, as a retry. What
/// is given up on (in AWS: the on-failure queue) is logged and returned.
async fn deliver_batch<F, Fut>(batch: Vec<Value>, pause: Duration, send: F) -> Vec<Vec<Value>>
where
    F: Fn(Vec<Value>) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, String>>,
{
    let mut given_up = Vec::new();
    // The pieces still to deliver, in the shard's order, each with its retries so far.
    let mut pieces: VecDeque<(Vec<Value>, u32)> = VecDeque::from([(batch, 0)]);
    while let Some((mut pending, mut attempt)) = pieces.pop_front() {
        let why = match send(pending.clone()).await {
            Ok(failures) if failures.is_empty() => continue,
            Ok(failures) => {
                // Lambda resumes from the lowest failed sequence number.
                let first = pending.iter().position(|r| {
                    r["dynamodb"]["SequenceNumber"].as_str().is_some_and(|s| failures.iter().any(|f| f == s))
                });
                match first {
                    Some(i) => pending.drain(..i).for_each(drop),
                    None => {
                        tracing::error!(?failures, "sales-aggregator reported failures for records it was not sent");
                        given_up.push(pending);
                        continue;
                    }
                }
                format!("sales-aggregator reported {} failed records", failures.len())
            }
            Err(e) if pending.len() > 1 => {
                let second = pending.split_off(pending.len() / 2);
                tracing::warn!(records = pending.len() + second.len(), error = %e,
                    "sales-aggregator failed a stream batch; delivering it in halves");
                pieces.push_front((second, attempt));
                pieces.push_front((pending, attempt));
                continue;
            }
            Err(e) => e,
        };
        attempt += 1;
        if attempt > MAX_RETRIES {
            let first = pending.first().map(|r| r["dynamodb"]["SequenceNumber"].clone()).unwrap_or_default();
            tracing::error!(records = pending.len(), first_sequence = %first, error = %why,
                "giving up on a sales stream batch after {MAX_RETRIES} retries (in AWS it goes to the on-failure queue)");
            given_up.push(pending);
            continue;
        }
        tracing::warn!(attempt, error = %why, "sales-aggregator failed a stream batch; retrying");
        tokio::time::sleep(pause * attempt).await;
        pieces.push_front((pending, attempt));
    }
    given_up
}

enum ShardState {
    Delivered,
    Idle,
    Closed,
}

fn region_of(client: &aws_sdk_dynamodb::Client) -> String {
    client.config().region().map(|r| r.to_string()).unwrap_or_else(|| "us-east-1".into())
}

/// A stream record as Lambda hands it to a function (`aws_lambda_events::dynamodb::EventRecord`).
pub fn record_json(record: &Record, stream_arn: &str, region: &str) -> Value {
    let mut dynamodb = Map::new();
    if let Some(d) = record.dynamodb() {
        if let Some(t) = d.approximate_creation_date_time() {
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(t.secs()));
        }
        if let Some(keys) = d.keys() {
            dynamodb.insert("Keys".into(), item_json(keys));
        }
        if let Some(image) = d.new_image() {
            dynamodb.insert("NewImage".into(), item_json(image));
        }
        if let Some(image) = d.old_image() {
            dynamodb.insert("OldImage".into(), item_json(image));
        }
        if let Some(seq) = d.sequence_number() {
            dynamodb.insert("SequenceNumber".into(), json!(seq));
        }
        dynamodb.insert("SizeBytes".into(), json!(d.size_bytes().unwrap_or(0)));
        if let Some(view) = d.stream_view_type() {
            dynamodb.insert("StreamViewType".into(), json!(view.as_str()));
        }
    }
    json!({
        "eventID": record.event_id().unwrap_or_default(),
        "eventName": record.event_name().map(|n| n.as_str()).unwrap_or("INSERT"),
        "eventVersion": record.event_version().unwrap_or("1.1"),
        "eventSource": "aws:dynamodb",
        "awsRegion": record.aws_region().unwrap_or(region),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}

fn item_json(item: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(item.iter().map(|(k, v)| (k.clone(), attribute_json(v))).collect())
}

/// DynamoDB's typed JSON (`{"S": "..."}`, `{"N": "12"}`, ...), what stream events carry.
fn attribute_json(value: &AttributeValue) -> Value {
    let b64 = |b: &aws_sdk_dynamodbstreams::primitives::Blob| base64::engine::general_purpose::STANDARD.encode(b.as_ref());
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b) }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::Bs(v) => json!({ "BS": v.iter().map(b64).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": item_json(m) }),
        AttributeValue::L(l) => json!({ "L": l.iter().map(attribute_json).collect::<Vec<_>>() }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        _ => json!({ "NULL": true }),
    }
}

/// A streams client for the same endpoint, region and credentials as `dynamodb`.
pub fn streams_client_for(dynamodb: &aws_sdk_dynamodb::Client, endpoint: &str) -> StreamsClient {
    let region = region_of(dynamodb);
    let config = aws_sdk_dynamodbstreams::Config::builder()
        .behavior_version(aws_sdk_dynamodbstreams::config::BehaviorVersion::latest())
        .http_client(retail_core::store::dynamo::https_client())
        .region(aws_sdk_dynamodbstreams::config::Region::new(region))
        .credentials_provider(aws_sdk_dynamodbstreams::config::Credentials::new("local", "local", None, None, "retail-local"))
        .endpoint_url(endpoint)
        .timeout_config(retail_core::store::dynamo::timeout_config())
        .build();
    StreamsClient::from_conf(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodbstreams::types::{OperationType, StreamRecord, StreamViewType};

    #[test]
    fn a_stream_record_becomes_the_event_record_the_aggregator_reads() {
        let image = HashMap::from([
            ("pk".to_owned(), AttributeValue::S("S001".into())),
            ("total".to_owned(), AttributeValue::N("1299".into())),
            ("lines".to_owned(), AttributeValue::L(vec![AttributeValue::M(HashMap::from([("q".to_owned(), AttributeValue::N("2".into()))]))])),
            ("flag".to_owned(), AttributeValue::Bool(true)),
        ]);
        let record = Record::builder()
            .event_id("e1")
            .event_name(OperationType::Insert)
            .dynamodb(
                StreamRecord::builder()
                    .set_keys(Some(HashMap::from([("pk".to_owned(), AttributeValue::S("S001".into()))])))
                    .set_new_image(Some(image))
                    .sequence_number("000100")
                    .size_bytes(42)
                    .stream_view_type(StreamViewType::NewImage)
                    .build(),
            )
            .build();
        let json = record_json(&record, "arn:stream", "us-east-1");
        assert_eq!(json["eventName"], "INSERT");
        assert_eq!(json["dynamodb"]["NewImage"]["lines"]["L"][0]["M"]["q"]["N"], "2");
        assert_eq!(json["dynamodb"]["SequenceNumber"], "000100");
        let event: aws_lambda_events::dynamodb::Event = serde_json::from_value(json!({"Records": [json]})).unwrap();
        assert_eq!(event.records[0].change.sequence_number.as_deref(), Some("000100"));
        assert_eq!(event.records[0].change.new_image.len(), 4);
    }

    fn records(n: usize) -> Vec<Value> {
        (0..n).map(|i| json!({"dynamodb": {"SequenceNumber": format!("{:03}", i)}})).collect()
    }

    fn sequences(records: &[Value]) -> Vec<String> {
        records.iter().map(|r| r["dynamodb"]["SequenceNumber"].as_str().unwrap().to_owned()).collect()
    }

    /// Delivers 8 records to a function that fails any batch of more than `fits`, and any batch
    /// holding a record of `poison`: what it was sent, in order, and what was given up.
    async fn deliver_to(fits: usize, poison: &[&str]) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
        let sent = std::sync::Mutex::new(Vec::new());
        let send = |batch: Vec<Value>| {
            let seqs = sequences(&batch);
            sent.lock().unwrap().push(seqs.clone());
            let fails = seqs.len() > fits || seqs.iter().any(|s| poison.contains(&s.as_str()));
            async move { if fails { Err("the function failed".to_owned()) } else { Ok(Vec::new()) } }
        };
        let given_up = deliver_batch(records(8), Duration::ZERO, send).await;
        (sent.into_inner().unwrap(), given_up.iter().map(|b| sequences(b)).collect())
    }

    #[tokio::test]
    async fn a_batch_the_function_fails_is_halved_until_it_passes_in_the_shards_order() {
        let (sent, given_up) = deliver_to(2, &[]).await;
        let delivered: Vec<String> = sent.iter().filter(|b| b.len() <= 2).flatten().cloned().collect();
        assert_eq!(delivered, sequences(&records(8)), "every record once, in order: {sent:?}");
        assert_eq!(sent.len(), 1 + 2 + 4, "8, then 4 and 4 halved: {sent:?}");
        assert!(given_up.is_empty());
    }

    #[tokio::test]
    async fn a_poison_record_alone_is_retried_then_given_up_and_the_rest_delivered() {
        let (sent, given_up) = deliver_to(8, &["005"]).await;
        assert_eq!(given_up, vec![vec!["005".to_owned()]], "{sent:?}");
        let alone = sent.iter().filter(|b| b.as_slice() == ["005"]).count();
        assert_eq!(alone, 1 + MAX_RETRIES as usize, "tried, then retried MaximumRetryAttempts times: {sent:?}");
        for other in sequences(&records(8)).iter().filter(|s| *s != "005") {
            assert!(sent.iter().any(|b| b.contains(other) && !b.iter().any(|s| s == "005")), "{other} delivered: {sent:?}");
        }
    }

    #[tokio::test]
    async fn after_a_partial_failure_delivery_resumes_from_the_lowest_failed_record() {
        let sent = std::sync::Mutex::new(Vec::new());
        let send = |batch: Vec<Value>| {
            let seqs = sequences(&batch);
            sent.lock().unwrap().push(seqs.clone());
            let first = sent.lock().unwrap().len() == 1;
            async move { Ok(if first { vec!["006".to_owned(), "003".to_owned()] } else { Vec::new() }) }
        };
        assert!(deliver_batch(records(8), Duration::ZERO, send).await.is_empty());
        let sent = sent.into_inner().unwrap();
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert_eq!(sent[1], ["003", "004", "005", "006", "007"], "{sent:?}");
    }
}
