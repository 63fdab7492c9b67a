//! How a sale looks as a DynamoDB item: what the sales table holds and what its stream carries
//! as `NewImage`. One mapping, used by every adapter and by the stream's reader.

use serde::{Deserialize, Serialize};
use serde_dynamo::Item;

use crate::domain::DomainError;
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
        sk: record.receipt.sale_id.clone(),
        record: record.clone(),
    };
    serde_dynamo::to_item(item).expect("a sale maps to an item")
}

pub fn sale_from_item(item: Item) -> Result<SaleRecord, DomainError> {
    let item: SaleItem =
        serde_dynamo::from_item(item).map_err(|e| DomainError::Invalid(format!("not a sale item: {e}")))?;
    Ok(item.record)
}
