//! Daily sales aggregates, folded sale by sale from the sales stream, and the reports read
//! from them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::catalog::Store;
use super::ids::{Sku, StoreId};
use super::money::{CURRENCY, Money};
use super::sale::{PaymentMethod, SaleRecord};
use super::time::optional_instant;

/// How many commodities a store report ranks.
pub const TOP_COMMODITIES: usize = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HourTotals {
    pub sales_count: u64,
    pub gross_amount: Money,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByPaymentMethod {
    pub cash: Money,
    pub card: Money,
    pub mobile: Money,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommodityTotals {
    pub name: String,
    /// Units of `each` lines.
    pub quantity: i64,
    /// Grams of `kg` lines.
    pub weight_grams: i64,
    pub amount: Money,
}

/// One store's business day, as folded so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreDay {
    pub sales_count: u64,
    pub items_sold: i64,
    pub gross_amount: Money,
    pub tax_amount: Money,
    pub by_hour: Vec<HourTotals>,
    pub by_payment_method: ByPaymentMethod,
    pub commodities: BTreeMap<Sku, CommodityTotals>,
    #[serde(with = "optional_instant", default)]
    pub as_of: Option<DateTime<Utc>>,
}

impl StoreDay {
    /// Adds one sale. The caller makes sure a sale is folded once.
    pub fn fold(&mut self, sale: &SaleRecord) {
        let r = &sale.receipt;
        if self.by_hour.len() != 24 {
            self.by_hour.resize(24, HourTotals::default());
        }
        self.sales_count += 1;
        self.gross_amount.0 += r.total.0;
        self.tax_amount.0 += r.tax_total.0;
        let hour = &mut self.by_hour[usize::from(sale.local_hour.min(23))];
        hour.sales_count += 1;
        hour.gross_amount.0 += r.total.0;
        for p in &r.payments {
            match p.method {
                PaymentMethod::Cash => self.by_payment_method.cash.0 += p.amount.0,
                PaymentMethod::Card => self.by_payment_method.card.0 += p.amount.0,
                PaymentMethod::Mobile => self.by_payment_method.mobile.0 += p.amount.0,
            }
        }
        // Change is paid back in cash: the drawer keeps cash net of change.
        self.by_payment_method.cash.0 -= r.change.0;
        for line in &r.lines {
            let c = self.commodities.entry(line.sku.clone()).or_default();
            c.name.clone_from(&line.name);
            c.amount.0 += line.line_amount.0;
            match (line.quantity, line.weight_grams) {
                (Some(q), _) => {
                    c.quantity += q;
                    self.items_sold += q;
                }
                (None, Some(g)) => {
                    c.weight_grams += g;
                    self.items_sold += 1;
                }
                (None, None) => {}
            }
        }
        self.as_of = self.as_of.max(Some(r.created_at));
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopCommodity {
    pub sku: Sku,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<i64>,
    pub amount: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HourRow {
    pub hour: u8,
    pub sales_count: u64,
    pub gross_amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreDailyReport {
    pub store_id: StoreId,
    pub date: NaiveDate,
    pub currency: &'static str,
    pub sales_count: u64,
    pub items_sold: i64,
    pub gross_amount: Money,
    pub tax_amount: Money,
    pub by_hour: Vec<HourRow>,
    pub by_payment_method: ByPaymentMethod,
    pub top_commodities: Vec<TopCommodity>,
    #[serde(with = "optional_instant")]
    pub as_of: Option<DateTime<Utc>>,
}

/// A store's report for a day: all zeros when nothing was sold.
pub fn store_report(store: &StoreId, date: NaiveDate, day: Option<&StoreDay>) -> StoreDailyReport {
    let empty = StoreDay::default();
    let day = day.unwrap_or(&empty);
    let by_hour = (0..24u8)
        .map(|h| {
            let t = day.by_hour.get(usize::from(h)).copied().unwrap_or_default();
            HourRow { hour: h, sales_count: t.sales_count, gross_amount: t.gross_amount }
        })
        .collect();
    let mut ranked: Vec<(&Sku, &CommodityTotals)> = day.commodities.iter().collect();
    // By amount, highest first, then by sku.
    ranked.sort_by(|a, b| b.1.amount.cmp(&a.1.amount).then_with(|| a.0.cmp(b.0)));
    let top_commodities = ranked
        .into_iter()
        .take(TOP_COMMODITIES)
        .map(|(sku, c)| TopCommodity {
            sku: sku.clone(),
            name: c.name.clone(),
            quantity: (c.quantity != 0 || c.weight_grams == 0).then_some(c.quantity),
            weight_grams: (c.weight_grams != 0).then_some(c.weight_grams),
            amount: c.amount,
        })
        .collect();
    StoreDailyReport {
        store_id: store.clone(),
        date,
        currency: CURRENCY,
        sales_count: day.sales_count,
        items_sold: day.items_sold,
        gross_amount: day.gross_amount,
        tax_amount: day.tax_amount,
        by_hour,
        by_payment_method: day.by_payment_method,
        top_commodities,
        as_of: day.as_of,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainStoreRow {
    pub store_id: StoreId,
    pub sales_count: u64,
    pub gross_amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainDailyReport {
    pub date: NaiveDate,
    pub currency: &'static str,
    pub sales_count: u64,
    pub gross_amount: Money,
    pub tax_amount: Money,
    pub stores: Vec<ChainStoreRow>,
    #[serde(with = "optional_instant")]
    pub as_of: Option<DateTime<Utc>>,
}

/// The chain's report for a date: every store, each on its own business day of that date.
pub fn chain_report(date: NaiveDate, stores: &[Store], days: &BTreeMap<StoreId, StoreDay>) -> ChainDailyReport {
    let mut report = ChainDailyReport {
        date,
        currency: CURRENCY,
        sales_count: 0,
        gross_amount: Money(0),
        tax_amount: Money(0),
        stores: Vec::with_capacity(stores.len()),
        as_of: None,
    };
    let mut ids: Vec<&StoreId> = stores.iter().map(|s| &s.store_id).collect();
    ids.sort();
    for id in ids {
        let day = days.get(id);
        let (count, gross) = day.map(|d| (d.sales_count, d.gross_amount)).unwrap_or_default();
        report.sales_count += count;
        report.gross_amount.0 += gross.0;
        report.tax_amount.0 += day.map(|d| d.tax_amount.0).unwrap_or(0);
        report.as_of = report.as_of.max(day.and_then(|d| d.as_of));
        report.stores.push(ChainStoreRow { store_id: id.clone(), sales_count: count, gross_amount: gross });
    }
    report
}
