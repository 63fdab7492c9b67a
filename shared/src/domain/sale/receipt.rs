//! A recorded sale: the receipt the till gets back, and what reports need beside it.

use chrono::{DateTime, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

use super::basket::{PricedBasket, StockTake};
use super::draft::CheckedSale;
use super::settlement::Settlement;
use super::Payment;
use crate::domain::catalog::Store;
use crate::domain::ids::{SaleId, Sku, StoreId, TerminalId};
use crate::domain::money::{CURRENCY, Money};
use crate::domain::promotion::AppliedPromotion;
use crate::domain::stock::StockPolicy;
use crate::domain::time::instant;

/// A priced receipt line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", from = "StoredLine")]
pub struct ReceiptLine {
    pub sku: Sku,
    pub name: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quantity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub weight_grams: Option<i64>,
    /// Per unit, or per kg for weighed lines.
    pub unit_amount: Money,
    /// Before promotions.
    pub line_amount: Money,
    /// What promotions took off the line.
    pub discount_amount: Money,
    /// `line_amount - discount_amount`: what the customer paid for the line, and what a return
    /// of all of it refunds.
    pub net_amount: Money,
    /// On `net_amount`.
    pub tax_amount: Money,
    /// The adjustment that priced the line; null for an embedded-price label.
    pub adjustment_id: Option<String>,
}

/// A receipt line as stored. Sales recorded before promotions have no discount members: they
/// read as no discount, their net amount their line amount.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredLine {
    sku: Sku,
    name: Arc<str>,
    #[serde(default)]
    quantity: Option<i64>,
    #[serde(default)]
    weight_grams: Option<i64>,
    unit_amount: Money,
    line_amount: Money,
    #[serde(default)]
    discount_amount: Money,
    #[serde(default)]
    net_amount: Option<Money>,
    tax_amount: Money,
    adjustment_id: Option<String>,
}

impl From<StoredLine> for ReceiptLine {
    fn from(l: StoredLine) -> Self {
        ReceiptLine {
            net_amount: l.net_amount.unwrap_or(l.line_amount - l.discount_amount),
            sku: l.sku,
            name: l.name,
            quantity: l.quantity,
            weight_grams: l.weight_grams,
            unit_amount: l.unit_amount,
            line_amount: l.line_amount,
            discount_amount: l.discount_amount,
            tax_amount: l.tax_amount,
            adjustment_id: l.adjustment_id,
        }
    }
}

/// A recorded sale, as the till gets it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub sale_id: SaleId,
    pub receipt_no: String,
    pub store_id: StoreId,
    pub terminal_id: TerminalId,
    #[serde(with = "crate::domain::time::date")]
    pub business_day: NaiveDate,
    #[serde(with = "instant")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "instant")]
    pub created_at: DateTime<Utc>,
    pub lines: Vec<ReceiptLine>,
    /// The promotions that took something off, in the order they applied (sales recorded
    /// before promotions read as none).
    #[serde(default)]
    pub promotions: Vec<AppliedPromotion>,
    /// What they took off in all: the sum of the lines' `discount_amount`.
    #[serde(default)]
    pub discount_total: Money,
    pub payments: Vec<Payment>,
    /// The sum of the lines' `net_amount`.
    pub total: Money,
    pub tax_total: Money,
    pub paid: Money,
    pub change: Money,
    pub currency: String,
}

/// A receipt and what reports need that a receipt does not show: the local hour, fixed when
/// the sale is recorded like its business day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SaleRecord {
    #[serde(flatten)]
    pub receipt: Receipt,
    pub local_hour: u8,
    /// Per receipt line, how many items its sku's stock was split over when sold: where a
    /// return puts it back without reading the commodity again. Sales recorded before returns
    /// existed read as one item each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stock_shards: Vec<u16>,
    /// The receipt lines whose stock the sales stream takes once the sale is recorded, by index:
    /// the DynamoDB adapter takes `track` stock so, outside the checkout's write
    /// (`store/dynamo/stock_fold.rs`). Empty where the sale took its stock itself: strict lines,
    /// the embedded store, sales recorded before.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stream_takes: Vec<u16>,
}

impl SaleRecord {
    /// What the sales stream takes of each sku's stock for this sale (units, or grams for a
    /// weighed sku), from the lines in `stream_takes`; an index past the lines counts nothing.
    pub fn streamed_takes(&self) -> Vec<(Sku, i64)> {
        let mut takes: Vec<(Sku, i64)> = Vec::new();
        for line in self.stream_takes.iter().filter_map(|&i| self.receipt.lines.get(usize::from(i))) {
            let measure = crate::domain::returns::sold(line);
            match takes.iter_mut().find(|(sku, _)| *sku == line.sku) {
                Some((_, amount)) => *amount += measure,
                None => takes.push((line.sku.clone(), measure)),
            }
        }
        takes
    }

    /// Leaves the stock of its lines whose sku `takes` says is `track` to the sales stream
    /// (`stream_takes`): what a store that takes tracked stock from its stream records.
    pub fn leave_tracked_stock_to_stream(&mut self, takes: &[StockTake]) {
        let tracked: Vec<&Sku> = takes.iter().filter(|t| t.policy == StockPolicy::Track).map(|t| &t.sku).collect();
        self.stream_takes = (0..self.receipt.lines.len())
            .filter(|&i| tracked.contains(&&self.receipt.lines[i].sku))
            .filter_map(|i| u16::try_from(i).ok())
            .collect();
    }
}

/// `T07-000042`: unique in the store (terminal ids are), increasing per terminal.
pub fn receipt_no(terminal: &TerminalId, sequence: u64) -> String {
    format!("{terminal}-{sequence:06}")
}

/// Fixes a priced, paid basket into a sale.
pub fn record_sale(
    sale_id: SaleId,
    sequence: u64,
    store: &Store,
    sale: &CheckedSale,
    basket: PricedBasket,
    settlement: Settlement,
    created_at: DateTime<Utc>,
) -> SaleRecord {
    let local = sale.occurred_at.with_timezone(&store.timezone);
    let stock_shards = basket
        .lines
        .iter()
        .map(|l| basket.takes.iter().find(|t| t.sku == l.sku).map_or(1, |t| t.shards))
        .collect();
    SaleRecord {
        receipt: Receipt {
            sale_id,
            receipt_no: receipt_no(&sale.terminal_id, sequence),
            store_id: store.store_id.clone(),
            terminal_id: sale.terminal_id.clone(),
            business_day: local.date_naive(),
            occurred_at: sale.occurred_at,
            created_at,
            lines: basket.lines,
            promotions: basket.promotions,
            discount_total: basket.discount_total,
            payments: sale.payments.clone(),
            total: basket.total,
            tax_total: basket.tax_total,
            paid: settlement.paid,
            change: settlement.change,
            currency: CURRENCY.to_owned(),
        },
        local_hour: local.hour() as u8,
        stock_shards,
        stream_takes: Vec::new(),
    }
}
