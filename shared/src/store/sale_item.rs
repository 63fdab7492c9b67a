//! How a sale looks as a DynamoDB item: what the sales table holds and what its stream carries
//! as `NewImage`. One mapping, used by every adapter and by the stream's reader.

use serde::{Deserialize, Serialize};
use serde_dynamo::Item;

use super::StoreError;
use crate::domain::sale::SaleRecord;

/// A sale item: keyed by store (`pk`) and sale id (`sk`), the record's members beside them.
#[derive(Serialize, Deserialize)]
struct SaleItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    record: SaleRecord,
}

pub fn sale_item(record: &SaleRecord) -> Item {
    let item = SaleItem {
        pk: record.receipt.store_id.to_string(),
        sk: record.receipt.sale_id.to_string(),
        record: record.clone(),
    };
    serde_dynamo::to_item(item).expect("a sale maps to an item")
}

/// The sale an item holds; an item that is not one is `Damaged`, naming its key.
pub fn sale_from_item(item: Item) -> Result<SaleRecord, StoreError> {
    let key = |item: &Item, name: &str| match item.get(name) {
        Some(serde_dynamo::AttributeValue::S(v)) => v.clone(),
        _ => "?".to_owned(),
    };
    let at = format!("{}/{}", key(&item, "pk"), key(&item, "sk"));
    let item: SaleItem =
        serde_dynamo::from_item(item).map_err(|e| StoreError::damaged("sales", at, format!("not a sale item: {e}")))?;
    Ok(item.record)
}
