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
//!
//! A sale's receipt lines are one binary attribute, `lines`: their JSON, deflated. As
//! attributes every line repeats its members' names, and a 20-line hypermarket basket was a
//! 3–4 KB item; deflated it is under 2 KB, half the write units (counted twice in the
//! checkout's transaction), and a stream batch of 1,000 sales stays well inside Lambda's 6 MB
//! event. Sales written before carry `lines` as a list, and still read.

use serde::{Deserialize, Serialize};
use serde_dynamo::{AttributeValue, Item};

use super::StoreError;
use crate::domain::report::LedgerEntry;
use crate::domain::returns::{ReturnReceipt, ReturnSummary};
use crate::domain::sale::{ReceiptLine, SaleRecord};
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

/// The attribute that holds a sale's receipt lines.
const LINES: &str = "lines";

pub fn sale_item(record: &SaleRecord) -> Item {
    let mut record = record.clone();
    let lines = std::mem::take(&mut record.receipt.lines);
    let item = SaleItem { pk: record.receipt.store_id.to_string(), sk: record.receipt.sale_id.to_string(), record };
    let mut item: Item = serde_dynamo::to_item(item).expect("a sale maps to an item");
    item.insert(LINES.to_owned(), AttributeValue::B(deflated(&lines)));
    item
}

/// The sale an item holds; an item that is not one is `Damaged`, naming its key.
pub fn sale_from_item(mut item: Item) -> Result<SaleRecord, StoreError> {
    let key = |item: &Item, name: &str| match item.get(name) {
        Some(AttributeValue::S(v)) => v.clone(),
        _ => "?".to_owned(),
    };
    let at = format!("{}/{}", key(&item, "pk"), key(&item, "sk"));
    // Deflated lines are read apart; the rest of the item (and an older item's listed lines) as is.
    let packed = match item.get_mut(LINES) {
        Some(lines @ AttributeValue::B(_)) => match std::mem::replace(lines, AttributeValue::L(Vec::new())) {
            AttributeValue::B(bytes) => Some(bytes),
            _ => None,
        },
        _ => None,
    };
    let mut sale: SaleItem =
        serde_dynamo::from_item(item).map_err(|e| StoreError::damaged("sales", at.clone(), format!("not a sale item: {e}")))?;
    if let Some(bytes) = packed {
        sale.record.receipt.lines =
            inflated(&bytes).map_err(|e| StoreError::damaged("sales", at, format!("its lines do not read: {e}")))?;
    }
    Ok(sale.record)
}

fn deflated(lines: &[ReceiptLine]) -> Vec<u8> {
    use std::io::Write;
    let mut out = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    serde_json::to_writer(&mut out, lines).expect("receipt lines are JSON");
    out.flush().expect("deflating into memory");
    out.finish().expect("deflating into memory")
}

fn inflated(bytes: &[u8]) -> Result<Vec<ReceiptLine>, serde_json::Error> {
    serde_json::from_reader(flate2::read::DeflateDecoder::new(bytes))
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

    /// A hypermarket basket: 20 lines of 25–40-character names, each priced by its own
    /// adjustment (an id no other line shares).
    fn basket_sale(lines: usize) -> SaleRecord {
        let mut sale = sample_sale();
        sale.receipt.lines = (0..lines)
            .map(|i| ReceiptLine {
                sku: crate::domain::Sku::parse(&format!("HM-{:05}", i * 211 % 5000)).unwrap(),
                name: format!("Grocery item HM-{:05} {}", i * 211 % 5000, "x".repeat(i % 16)).into(),
                quantity: Some(1 + i as i64 % 3),
                weight_grams: None,
                unit_amount: Money::from_minor_units(150 + 37 * i as i64),
                line_amount: Money::from_minor_units(150 + 37 * i as i64),
                discount_amount: Money::from_minor_units(i as i64 % 4 * 10),
                net_amount: Money::from_minor_units(150 + 37 * i as i64 - i as i64 % 4 * 10),
                tax_amount: Money::from_minor_units(17 + i as i64),
                adjustment_id: Some(uuid::Uuid::new_v4().to_string()),
            })
            .collect();
        sale
    }

    #[test]
    fn a_sale_reads_back_from_its_item_lines_and_all() {
        let sale = basket_sale(20);
        let item = sale_item(&sale);
        assert!(matches!(item.get(LINES), Some(AttributeValue::B(_))), "the lines are one binary attribute");
        assert_eq!(sale_from_item(item).unwrap(), sale);
        let none = sample_sale();
        assert_eq!(sale_from_item(sale_item(&none)).unwrap(), none);
    }

    #[test]
    fn a_twenty_line_sale_is_written_in_two_units() {
        use crate::store::dynamo::capacity::{Write, item_size, write_units};
        let item: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> = sale_item(&basket_sale(20)).into();
        let bytes = item_size(&item);
        assert!(write_units(bytes, Write::Standard) <= 2.0, "a 20-line sale item is {bytes} bytes");
        // As attributes, the same lines alone were more than that.
        let listed: Item = serde_dynamo::to_item(&basket_sale(20).receipt).unwrap();
        let listed: std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> = listed.into();
        assert!(item_size(&listed) > 3 * 1024, "as attributes: {} bytes", item_size(&listed));
    }

    #[test]
    fn a_sale_written_before_its_lines_were_packed_still_reads() {
        let sale = basket_sale(3);
        let mut item = sale_item(&sale);
        item.insert(LINES.to_owned(), serde_dynamo::to_attribute_value(&sale.receipt.lines).unwrap());
        assert!(matches!(item.get(LINES), Some(AttributeValue::L(_))));
        assert_eq!(sale_from_item(item).unwrap(), sale);
    }

    #[test]
    fn lines_that_do_not_inflate_are_a_damaged_sale_not_a_panic() {
        let mut item = sale_item(&basket_sale(3));
        item.insert(LINES.to_owned(), AttributeValue::B(b"not deflated".to_vec()));
        let err = sale_from_item(item).unwrap_err();
        assert!(matches!(err, StoreError::Damaged { .. }), "{err:?}");
        assert!(err.to_string().contains("lines"), "{err}");
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
