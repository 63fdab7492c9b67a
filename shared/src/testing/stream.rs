//! The sales table's change stream for tests: DynamoDB stream records as Lambda delivers them
//! (`Records[].dynamodb.NewImage` in DynamoDB JSON), built from committed sales with the one
//! item mapping ([`sale_item`]).

use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::domain::sale::SaleRecord;
use crate::store::sale_item::sale_item;

/// One stream record: `event_name` INSERT, MODIFY or REMOVE, with `image` as its NewImage.
pub fn record(event_name: &str, sequence: u64, image: Value) -> Value {
    let keys = json!({"pk": image.get("pk").cloned().unwrap_or(json!({"S": "?"})), "sk": image.get("sk").cloned().unwrap_or(json!({"S": "?"}))});
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": 1_794_409_200,
        "Keys": keys,
        "SequenceNumber": format!("{sequence:021}"),
        "SizeBytes": 512,
        "StreamViewType": "NEW_IMAGE"
    });
    if event_name != "REMOVE" {
        dynamodb["NewImage"] = image;
    }
    json!({
        "eventID": format!("{sequence:032x}"),
        "eventName": event_name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "ap-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": "arn:aws:dynamodb:ap-east-1:123456789012:table/Sales/stream/2026-11-11T00:00:00.000"
    })
}

/// A sale's item as the table holds it and the stream carries it.
pub fn image(sale: &SaleRecord) -> Value {
    serde_json::to_value(sale_item(sale)).expect("an item is JSON")
}

/// The INSERT record of a committed sale.
pub fn insert(sequence: u64, sale: &SaleRecord) -> Value {
    record("INSERT", sequence, image(sale))
}

/// The shard [`event`] says its records come from.
pub const SHARD: &str = "shardId-00000001794409200000-0a1b2c3d";

/// A batch as Lambda's event source mapping hands it to the function with the template's
/// tumbling window (which names the shard), through the event type's own deserializer.
pub fn event<E: DeserializeOwned>(records: Vec<Value>) -> E {
    serde_json::from_value(event_json(records)).expect("a DynamoDB stream event")
}

/// [`event`] as JSON: the records of one shard in a tumbling window, as Lambda sends them.
pub fn event_json(records: Vec<Value>) -> Value {
    json!({
        "Records": records,
        "window": {"start": "2026-11-11T12:00:00Z", "end": "2026-11-11T12:15:00Z"},
        "state": {},
        "shardId": SHARD,
        "eventSourceARN": "arn:aws:dynamodb:ap-east-1:123456789012:table/Sales/stream/2026-11-11T00:00:00.000",
        "isFinalInvokeForWindow": false,
        "isWindowTerminatedEarly": false
    })
}

/// INSERT records of `sales`, numbered from `first`.
pub fn inserts<'a>(first: u64, sales: impl IntoIterator<Item = &'a SaleRecord>) -> Vec<Value> {
    sales.into_iter().enumerate().map(|(i, s)| insert(first + i as u64, s)).collect()
}

/// The sequence number of a record built by [`record`].
pub fn sequence(n: u64) -> String {
    format!("{n:021}")
}

/// `entry` as record `sequence` of [`SHARD`] (at the record time [`record`] gives): what the
/// aggregator hands its store for an INSERT of it.
pub fn streamed(
    sequence: u64,
    entry: crate::domain::report::LedgerEntry,
) -> crate::domain::stream::Streamed<crate::domain::report::LedgerEntry> {
    use crate::domain::stream::{Position, SequenceNumber, ShardId, Streamed};
    Streamed {
        position: Position {
            shard: ShardId::parse(SHARD).expect("a shard id"),
            sequence: SequenceNumber::parse(&self::sequence(sequence)).expect("a sequence number"),
        },
        at: 1_794_409_200,
        value: entry,
    }
}
