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

/// A batch as Lambda's event source mapping hands it to the function, through the event type's
/// own deserializer (`aws_lambda_events::dynamodb::Event`, which the function names).
pub fn event<E: DeserializeOwned>(records: Vec<Value>) -> E {
    serde_json::from_value(json!({"Records": records})).expect("a DynamoDB stream event")
}

/// INSERT records of `sales`, numbered from `first`.
pub fn inserts<'a>(first: u64, sales: impl IntoIterator<Item = &'a SaleRecord>) -> Vec<Value> {
    sales.into_iter().enumerate().map(|(i, s)| insert(first + i as u64, s)).collect()
}

/// The sequence number of a record built by [`record`].
pub fn sequence(n: u64) -> String {
    format!("{n:021}")
}
