//! How sales and returns look as DynamoDB items: what the sales table holds and what its stream
//! carries as `NewImage`. One mapping, used by every adapter and by the stream's reader.
//!
//! The sales table holds three kinds of item, told apart by `kind` (absent on a sale):
//! - a sale: `pk` its store, `sk` its sale id; what has come back of it is kept on it
//!   (`returned`, with its `count`, see the DynamoDB adapter);
//! - a return (`kind` "return"): `pk` the store that took it back, `sk` `return#<returnId>`;
//! - a sale's note of one of its returns (`kind` "saleReturn"): `pk` the sale's store, `sk`
//!   `<saleId>#return#<returnId>`, so that the sale and its returns are one query.
//!
//! Sales and returns reach the reports; the notes do not.

use serde::{Deserialize, Serialize};
use serde_dynamo::Item;

use super::StoreError;
use crate::domain::report::LedgerEntry;
use crate::domain::returns::{ReturnReceipt, ReturnSummary};
use crate::domain::sale::SaleRecord;
use crate::domain::{ReturnId, SaleId};

pub const KIND_RETURN: &str = "return";
pub const KIND_SALE_RETURN: &str = "saleReturn";

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

/// A return item: in the returning store's partition.
#[derive(Serialize, Deserialize)]
struct ReturnItem {
    pk: String,
    sk: String,
    kind: String,
    #[serde(flatten)]
    receipt: ReturnReceipt,
}

/// The sort key of a return in its store's partition.
pub fn return_sk(id: &ReturnId) -> String {
    format!("return#{id}")
}

/// The sort key of a sale's note of one of its returns.
pub fn sale_return_sk(sale: &SaleId, id: &ReturnId) -> String {
    format!("{sale}#return#{id}")
}

pub fn return_item(receipt: &ReturnReceipt) -> Item {
    let item = ReturnItem {
        pk: receipt.store_id.to_string(),
        sk: return_sk(&receipt.return_id),
        kind: KIND_RETURN.to_owned(),
        receipt: receipt.clone(),
    };
    serde_dynamo::to_item(item).expect("a return maps to an item")
}

/// A sale's note of a return: in the sale's partition, beside it.
#[derive(Serialize, Deserialize)]
struct SaleReturnItem {
    pk: String,
    sk: String,
    kind: String,
    #[serde(flatten)]
    summary: ReturnSummary,
}

pub fn sale_return_item(sale: &SaleRecord, summary: &ReturnSummary) -> Item {
    let item = SaleReturnItem {
        pk: sale.receipt.store_id.to_string(),
        sk: sale_return_sk(&sale.receipt.sale_id, &summary.return_id),
        kind: KIND_SALE_RETURN.to_owned(),
        summary: summary.clone(),
    };
    serde_dynamo::to_item(item).expect("a sale's return note maps to an item")
}

fn kind(item: &Item) -> Option<&str> {
    match item.get("kind") {
        Some(serde_dynamo::AttributeValue::S(k)) => Some(k.as_str()),
        _ => None,
    }
}

fn at(item: &Item) -> String {
    let key = |name: &str| match item.get(name) {
        Some(serde_dynamo::AttributeValue::S(v)) => v.clone(),
        _ => "?".to_owned(),
    };
    format!("{}/{}", key("pk"), key("sk"))
}

pub fn return_from_item(item: Item) -> Result<ReturnReceipt, StoreError> {
    let place = at(&item);
    let item: ReturnItem =
        serde_dynamo::from_item(item).map_err(|e| StoreError::damaged("sales", place, format!("not a return item: {e}")))?;
    Ok(item.receipt)
}

pub fn sale_return_from_item(item: Item) -> Result<ReturnSummary, StoreError> {
    let place = at(&item);
    let item: SaleReturnItem = serde_dynamo::from_item(item)
        .map_err(|e| StoreError::damaged("sales", place, format!("not a sale's return note: {e}")))?;
    Ok(item.summary)
}

/// What a new item of the sales table means to the reports: a sale, a return, or nothing (a
/// sale's note of a return). An item of another kind, or one that does not parse, is `Damaged`.
pub fn entry_from_item(item: Item) -> Result<Option<LedgerEntry>, StoreError> {
    match kind(&item) {
        None => Ok(Some(LedgerEntry::Sale(std::sync::Arc::new(sale_from_item(item)?)))),
        Some(KIND_RETURN) => Ok(Some(LedgerEntry::Return(std::sync::Arc::new(return_from_item(item)?)))),
        Some(KIND_SALE_RETURN) => Ok(None),
        Some(other) => Err(StoreError::damaged("sales", at(&item), format!("an item of unknown kind {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::sale::Receipt;
    use crate::domain::{Money, StoreId, TerminalId};

    fn sample_sale() -> SaleRecord {
        let at = chrono::DateTime::from_timestamp(1_794_000_000, 0).unwrap();
        SaleRecord {
            receipt: Receipt {
                sale_id: SaleId::generate(),
                receipt_no: "T01-000001".into(),
                store_id: StoreId::parse("S001").unwrap(),
                terminal_id: TerminalId::parse("T01").unwrap(),
                business_day: at.date_naive(),
                occurred_at: at,
                created_at: at,
                lines: vec![],
                promotions: vec![],
                discount_total: Money::ZERO,
                payments: vec![],
                total: Money::ZERO,
                tax_total: Money::ZERO,
                paid: Money::ZERO,
                change: Money::ZERO,
                currency: "CNY".into(),
            },
            local_hour: 12,
            stock_shards: vec![],
            stream_takes: vec![],
        }
    }

    #[test]
    fn a_sale_item_with_its_returned_amounts_still_reads_as_the_sale() {
        // Kept on the sale item by the DynamoDB adapter; the stream's reader ignores them.
        let mut item = sale_item(&sample_sale());
        item.insert("returnsCount".into(), serde_dynamo::AttributeValue::N("2".into()));
        assert!(matches!(entry_from_item(item), Ok(Some(LedgerEntry::Sale(_)))));
        let mut odd = sale_item(&sample_sale());
        odd.insert("kind".into(), serde_dynamo::AttributeValue::S("refund".into()));
        assert!(matches!(entry_from_item(odd), Err(StoreError::Damaged { .. })));
    }
}
