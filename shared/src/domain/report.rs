//! Daily sales aggregates, folded sale by sale and return by return from the sales stream, and
//! the reports read from them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::catalog::Store;
use super::ids::{PromotionId, ReturnId, SaleId, Sku, StoreId, TerminalId};
use super::refusal::Invalid;
use super::money::{CURRENCY, Money};
use super::returns::ReturnReceipt;
use super::sale::{PaymentMethod, SaleRecord};
use super::time::optional_instant;

/// What the sales table's change stream carries to the reports: a sale, or a return (counted
/// by the store that took it back, on its business day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerEntry {
    Sale(std::sync::Arc<SaleRecord>),
    Return(std::sync::Arc<ReturnReceipt>),
}

/// What makes an entry the same entry however often the stream delivers it: sales by sale id,
/// returns by return id, each in its own namespace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EntryId {
    Sale(SaleId),
    Return(ReturnId),
}

impl LedgerEntry {
    pub fn id(&self) -> EntryId {
        match self {
            LedgerEntry::Sale(s) => EntryId::Sale(s.receipt.sale_id.clone()),
            LedgerEntry::Return(r) => EntryId::Return(r.return_id.clone()),
        }
    }

    /// The store-day that counts it: a sale's store and business day; a return's are those of
    /// the store that took it back, whichever store made the sale.
    pub fn store_day(&self) -> (&StoreId, NaiveDate) {
        match self {
            LedgerEntry::Sale(s) => (&s.receipt.store_id, s.receipt.business_day),
            LedgerEntry::Return(r) => (&r.store_id, r.business_day),
        }
    }
}

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

impl ByPaymentMethod {
    fn add(&mut self, method: PaymentMethod, amount: Money) {
        match method {
            PaymentMethod::Cash => self.cash += amount,
            PaymentMethod::Card => self.card += amount,
            PaymentMethod::Mobile => self.mobile += amount,
        }
    }
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn is_no_money(m: &Money) -> bool {
    *m == Money::ZERO
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
    /// Units of `each` lines taken back in the store that day (whichever store sold them).
    /// The returned members are left out while zero: most commodities of a day never come back.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub returned_quantity: i64,
    /// Grams of `kg` lines taken back.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub returned_weight_grams: i64,
    /// What those returns refunded.
    #[serde(default, skip_serializing_if = "is_no_money")]
    pub returns_amount: Money,
}

impl CommodityTotals {
    /// Whether any of it was sold that day (not only taken back).
    pub fn sold(&self) -> bool {
        self.quantity != 0 || self.weight_grams != 0
    }

    /// What it took that day net of what its returns refunded: what the top commodities rank by.
    pub fn net_amount(&self) -> Money {
        self.amount - self.returns_amount
    }

    /// Sold or taken back by weight.
    pub fn by_weight(&self) -> bool {
        self.weight_grams != 0 || self.returned_weight_grams != 0
    }

    /// Sold or taken back by the piece (both, for a commodity whose unit changed that day).
    pub fn by_units(&self) -> bool {
        self.quantity != 0 || self.returned_quantity != 0
    }

    /// Adds figures folded after these (one entry's, or a batch's summed by [`Self::absorb`]
    /// too): the name of the latest sale wins; a return names a commodity only while it has
    /// none (one sold in another store). Merging in any grouping gives what folding the entries
    /// one by one gives, so a store may sum a batch per commodity before writing it.
    pub fn absorb(&mut self, later: &CommodityTotals) {
        if later.sold() || self.name.is_empty() {
            self.name.clone_from(&later.name);
        }
        self.quantity += later.quantity;
        self.weight_grams += later.weight_grams;
        self.amount += later.amount;
        self.returned_quantity += later.returned_quantity;
        self.returned_weight_grams += later.returned_weight_grams;
        self.returns_amount += later.returns_amount;
    }
}

/// What one sale or return adds to each commodity it names (its lines of a sku summed).
pub fn commodity_changes(entry: &LedgerEntry) -> BTreeMap<Sku, CommodityTotals> {
    let mut out: BTreeMap<Sku, CommodityTotals> = BTreeMap::new();
    match entry {
        LedgerEntry::Sale(sale) => {
            for line in &sale.receipt.lines {
                let c = out.entry(line.sku.clone()).or_default();
                c.name = line.name.to_string();
                c.amount += line.net_amount;
                match (line.quantity, line.weight_grams) {
                    (Some(q), _) => c.quantity += q,
                    (None, Some(g)) => c.weight_grams += g,
                    (None, None) => {}
                }
            }
        }
        LedgerEntry::Return(r) => {
            for line in &r.lines {
                let c = out.entry(line.sku.clone()).or_default();
                c.name = line.name.to_string();
                c.returns_amount += line.refund_amount;
                match (line.quantity, line.weight_grams) {
                    (Some(q), _) => c.returned_quantity += q,
                    (None, Some(g)) => c.returned_weight_grams += g,
                    (None, None) => {}
                }
            }
        }
    }
    out
}

/// A store-day folded whole in one place (the embedded store, tests): its head and every
/// commodity's figures. A DynamoDB store keeps each commodity in an item of its own.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FoldedDay {
    pub day: StoreDay,
    pub commodities: BTreeMap<Sku, CommodityTotals>,
}

impl FoldedDay {
    /// Adds a sale or a return; the caller makes sure each entry is folded once.
    pub fn fold_entry(&mut self, entry: &LedgerEntry) {
        self.day.fold_entry(entry);
        for (sku, change) in commodity_changes(entry) {
            self.commodities.entry(sku).or_default().absorb(&change);
        }
    }

    /// The day's report, its top commodities ranked among all of them.
    pub fn report(&self, store: &StoreId, date: NaiveDate) -> StoreDailyReport {
        store_report(store, date, Some(&self.day), top_commodities(&self.commodities))
    }
}

/// A sale recorded more than this after it occurred counts as an offline sale in its
/// terminal's row: uploaded by a till that was offline, or backdated by one.
pub const OFFLINE_AFTER: chrono::Duration = chrono::Duration::minutes(5);

/// One terminal's day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalTotals {
    pub sales_count: u64,
    /// Its sales recorded more than [`OFFLINE_AFTER`] after their `occurredAt`.
    pub offline_sales_count: u64,
    pub gross_amount: Money,
    /// Cash its drawer took, net of the change it paid back.
    pub cash_in: Money,
    /// Returns taken back at it (days folded before returns read as none).
    #[serde(default)]
    pub returns_count: u64,
    #[serde(default)]
    pub returns_amount: Money,
    /// Cash its drawer paid back on returns.
    #[serde(default)]
    pub cash_out: Money,
}

/// One promotion's share of a day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionTotals {
    pub sales_count: u64,
    pub discount: Money,
}

/// One store's business day, as folded so far: its head, whose size does not grow with the
/// commodities sold (each commodity's figures are kept apart, see [`commodity_changes`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreDay {
    pub sales_count: u64,
    pub items_sold: i64,
    pub gross_amount: Money,
    pub tax_amount: Money,
    pub by_hour: Vec<HourTotals>,
    pub by_payment_method: ByPaymentMethod,
    /// Days folded before terminals were counted read as none.
    #[serde(default)]
    pub by_terminal: BTreeMap<TerminalId, TerminalTotals>,
    /// Returns taken back in the store that day, whichever store made the sale; days folded
    /// before returns were counted read as none.
    #[serde(default)]
    pub returns_count: u64,
    /// The sum of those returns' `total`.
    #[serde(default)]
    pub returns_amount: Money,
    /// The sum of those returns' `taxTotal`.
    #[serde(default)]
    pub returns_tax: Money,
    /// What those returns paid back, by method (adds up to `returns_amount`).
    #[serde(default)]
    pub refunds_by_method: ByPaymentMethod,
    /// What promotions took off the day's sales (days folded before promotions read as none).
    #[serde(default)]
    pub discount_amount: Money,
    /// Per promotion that took something off a sale: how many sales and how much.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub by_promotion: BTreeMap<PromotionId, PromotionTotals>,
    /// When the latest sale or return folded in was recorded (its `createdAt`): a return is
    /// folded in as much as a sale, so it moves the time the day is complete up to.
    #[serde(with = "optional_instant", default)]
    pub as_of: Option<DateTime<Utc>>,
}

impl StoreDay {
    /// Adds what the stream carried: a sale or a return. The caller makes sure each entry is
    /// folded once, into the store-day of [`LedgerEntry::store_day`].
    pub fn fold_entry(&mut self, entry: &LedgerEntry) {
        match entry {
            LedgerEntry::Sale(sale) => self.fold(sale),
            LedgerEntry::Return(receipt) => self.fold_return(receipt),
        }
    }

    /// Adds one sale. The caller makes sure a sale is folded once.
    pub fn fold(&mut self, sale: &SaleRecord) {
        let r = &sale.receipt;
        self.hours();
        self.sales_count += 1;
        self.gross_amount += r.total;
        self.tax_amount += r.tax_total;
        self.discount_amount += r.discount_total;
        for p in &r.promotions {
            let totals = self.by_promotion.entry(p.promotion_id.clone()).or_default();
            totals.sales_count += 1;
            totals.discount += p.discount;
        }
        let hour = &mut self.by_hour[usize::from(sale.local_hour.min(23))];
        hour.sales_count += 1;
        hour.gross_amount += r.total;
        for p in &r.payments {
            self.by_payment_method.add(p.method, p.amount);
        }
        // Change is paid back in cash: the drawer keeps cash net of change.
        self.by_payment_method.cash -= r.change;
        let terminal = self.by_terminal.entry(r.terminal_id.clone()).or_default();
        terminal.sales_count += 1;
        if r.created_at - r.occurred_at > OFFLINE_AFTER {
            terminal.offline_sales_count += 1;
        }
        terminal.gross_amount += r.total;
        let cash: Money = r.payments.iter().filter(|p| p.method == PaymentMethod::Cash).map(|p| p.amount).sum();
        terminal.cash_in += cash - r.change;
        for line in &r.lines {
            match (line.quantity, line.weight_grams) {
                (Some(q), _) => self.items_sold += q,
                (None, Some(_)) => self.items_sold += 1,
                (None, None) => {}
            }
        }
        self.as_of = self.as_of.max(Some(r.created_at));
    }

    /// Adds one return, in the store that took it back, on its business day there. It leaves
    /// the sales' figures alone (`grossAmount`, `byPaymentMethod`, `itemsSold`, the hours): a
    /// return is counted beside them, and the report nets them (`netAmount`). The caller makes
    /// sure a return is folded once.
    pub fn fold_return(&mut self, r: &ReturnReceipt) {
        self.hours();
        self.returns_count += 1;
        self.returns_amount += r.total;
        self.returns_tax += r.tax_total;
        for refund in &r.refunds {
            self.refunds_by_method.add(refund.method, refund.amount);
        }
        let terminal = self.by_terminal.entry(r.terminal_id.clone()).or_default();
        terminal.returns_count += 1;
        terminal.returns_amount += r.total;
        terminal.cash_out += r.refunds.iter().filter(|p| p.method == PaymentMethod::Cash).map(|p| p.amount).sum();
        self.as_of = self.as_of.max(Some(r.created_at));
    }

    fn hours(&mut self) {
        if self.by_hour.len() != 24 {
            self.by_hour.resize(24, HourTotals::default());
        }
    }
}

/// A top commodity's figures are net of the returns taken back in the store that day.
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

/// A terminal's row of the store report: its sales and the returns taken back at it. Its drawer
/// should hold `cashIn` − `cashOut` plus its float.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalRow {
    pub terminal_id: TerminalId,
    pub sales_count: u64,
    pub offline_sales_count: u64,
    pub gross_amount: Money,
    pub returns_count: u64,
    pub returns_amount: Money,
    pub cash_in: Money,
    pub cash_out: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionRow {
    pub promotion_id: PromotionId,
    pub sales_count: u64,
    pub discount: Money,
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
    /// What promotions took off besides `grossAmount`.
    pub discount_amount: Money,
    /// Per promotion that took something off that day, by promotion id.
    pub by_promotion: Vec<PromotionRow>,
    pub returns_count: u64,
    pub returns_amount: Money,
    pub returns_tax: Money,
    pub refunds_by_method: ByPaymentMethod,
    /// `grossAmount` − `returnsAmount`: below zero on a day whose returns outweigh its sales.
    pub net_amount: Money,
    /// Every terminal with a sale or a return that day, by terminal id.
    pub by_terminal: Vec<TerminalRow>,
    /// The latest sale or return folded in (see [`StoreDay::as_of`]); null before any.
    #[serde(with = "optional_instant")]
    pub as_of: Option<DateTime<Utc>>,
}

/// The day's best sellers: among the commodities sold that day (one only taken back is no
/// seller), up to [`TOP_COMMODITIES`] by amount net of returns, highest first, then by sku;
/// their figures net of returns too. `candidates` must hold every commodity that can rank (a
/// store reads only the highest net amounts).
pub fn top_commodities<'a>(candidates: impl IntoIterator<Item = (&'a Sku, &'a CommodityTotals)>) -> Vec<TopCommodity> {
    let mut ranked: Vec<(&Sku, &CommodityTotals)> = candidates.into_iter().filter(|(_, c)| c.sold()).collect();
    ranked.sort_by(|a, b| b.1.net_amount().cmp(&a.1.net_amount()).then_with(|| a.0.cmp(b.0)));
    ranked
        .into_iter()
        .take(TOP_COMMODITIES)
        .map(|(sku, c)| TopCommodity {
            sku: sku.clone(),
            name: c.name.clone(),
            quantity: (c.by_units() || !c.by_weight()).then_some(c.quantity - c.returned_quantity),
            weight_grams: c.by_weight().then_some(c.weight_grams - c.returned_weight_grams),
            amount: c.net_amount(),
        })
        .collect()
}

/// How many commodities a store-day's [`TopList`] keeps.
pub const TOP_KEPT: usize = 40;

/// A commodity's figures as a [`TopList`] keeps them, with how many folds its item had taken
/// when they were read: of two readings, the one with more folds is the newer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ranked {
    #[serde(flatten)]
    pub totals: CommodityTotals,
    pub folds: u64,
}

/// The commodities of a store-day with the highest net amounts, kept in the store-day's head, so
/// that a report reads its top in the item it reads anyway, and no index entry moves with every
/// commodity's every sale (an index sorted by net amount writes twice per fold).
///
/// Invariant: every commodity of the day not listed has a net amount at or below `floor` (no
/// floor: every commodity of the day is listed). So the listed ones above the floor are exactly
/// the day's highest, and the top ranks from them alone while at least [`TOP_COMMODITIES`] sold
/// ones are above it ([`TopList::complete`]). Sales only raise net amounts, so a commodity that
/// passes the floor is listed as it is folded; returns lower them, and a list that falls short
/// is rebuilt from all the day's commodities ([`TopList::rebuilt`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TopList {
    pub listed: BTreeMap<Sku, Ranked>,
    /// Minor units; none while every commodity is listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor: Option<i64>,
}

impl TopList {
    /// A commodity's figures as its item holds them after a fold (or as read): listed if they
    /// are newer than what is listed, or if they pass the floor; then the list is cut to
    /// [`TOP_KEPT`], the floor raised to the highest net amount cut.
    pub fn observe(&mut self, sku: &Sku, reading: Ranked) {
        let net = reading.totals.net_amount().minor_units();
        match self.listed.get_mut(sku) {
            Some(listed) if reading.folds >= listed.folds => *listed = reading,
            Some(_) => {}
            None if self.floor.is_none_or(|f| net > f) => {
                self.listed.insert(sku.clone(), reading);
            }
            None => {}
        }
        self.cut();
    }

    fn cut(&mut self) {
        if self.listed.len() > TOP_KEPT {
            self.cut_to_kept();
        }
        // What the floor covers is known to rank no better than what was cut.
        if let Some(floor) = self.floor {
            self.listed.retain(|_, r| r.totals.net_amount().minor_units() > floor);
        }
    }

    fn cut_to_kept(&mut self) {
        let mut ranked: Vec<(Sku, i64)> = self.listed.iter().map(|(s, r)| (s.clone(), r.totals.net_amount().minor_units())).collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        for (sku, net) in ranked.split_off(TOP_KEPT) {
            self.listed.remove(&sku);
            self.floor = Some(self.floor.map_or(net, |f| f.max(net)));
        }
    }

    /// Whether the listed commodities hold every one that ranks in the day's top.
    pub fn complete(&self) -> bool {
        let Some(floor) = self.floor else { return true };
        self.listed.values().filter(|r| r.totals.sold() && r.totals.net_amount().minor_units() > floor).count() >= TOP_COMMODITIES
    }

    /// The list of a day whose commodities are all these.
    pub fn rebuilt(all: impl IntoIterator<Item = (Sku, Ranked)>) -> TopList {
        let mut list = TopList::default();
        for (sku, reading) in all {
            list.listed.insert(sku, reading);
            // Cut now and then, not at every commodity: a day has thousands.
            if list.listed.len() > 4 * TOP_KEPT {
                list.cut();
            }
        }
        list.cut();
        list
    }

    /// The commodities [`top_commodities`] ranks from (all listed ones are above the floor).
    pub fn candidates(&self) -> Vec<(Sku, CommodityTotals)> {
        self.listed.iter().map(|(s, r)| (s.clone(), r.totals.clone())).collect()
    }
}

/// A store's report for a day, with its [`top_commodities`]: all zeros when nothing was sold
/// or taken back.
pub fn store_report(store: &StoreId, date: NaiveDate, day: Option<&StoreDay>, top_commodities: Vec<TopCommodity>) -> StoreDailyReport {
    let empty = StoreDay::default();
    let day = day.unwrap_or(&empty);
    let by_hour = (0..24u8)
        .map(|h| {
            let t = day.by_hour.get(usize::from(h)).copied().unwrap_or_default();
            HourRow { hour: h, sales_count: t.sales_count, gross_amount: t.gross_amount }
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
        discount_amount: day.discount_amount,
        by_promotion: day
            .by_promotion
            .iter()
            .map(|(id, p)| PromotionRow { promotion_id: id.clone(), sales_count: p.sales_count, discount: p.discount })
            .collect(),
        returns_count: day.returns_count,
        returns_amount: day.returns_amount,
        returns_tax: day.returns_tax,
        refunds_by_method: day.refunds_by_method,
        net_amount: day.gross_amount - day.returns_amount,
        by_terminal: day
            .by_terminal
            .iter()
            .map(|(id, t)| TerminalRow {
                terminal_id: id.clone(),
                sales_count: t.sales_count,
                offline_sales_count: t.offline_sales_count,
                gross_amount: t.gross_amount,
                returns_count: t.returns_count,
                returns_amount: t.returns_amount,
                cash_in: t.cash_in,
                cash_out: t.cash_out,
            })
            .collect(),
        as_of: day.as_of,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainStoreRow {
    pub store_id: StoreId,
    pub sales_count: u64,
    pub gross_amount: Money,
    /// Returns taken back in the store on its business day.
    pub returns_amount: Money,
    pub net_amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainDailyReport {
    pub date: NaiveDate,
    pub currency: &'static str,
    pub sales_count: u64,
    pub gross_amount: Money,
    pub tax_amount: Money,
    pub returns_amount: Money,
    /// `grossAmount` − `returnsAmount`.
    pub net_amount: Money,
    /// What promotions took off the chain's sales.
    pub discount_amount: Money,
    pub stores: Vec<ChainStoreRow>,
    /// The latest of the stores' `asOf`.
    #[serde(with = "optional_instant")]
    pub as_of: Option<DateTime<Utc>>,
}

/// The chain's report for a date: every store, each on its own business day of that date.
pub fn chain_report(date: NaiveDate, stores: &[Store], days: &BTreeMap<StoreId, StoreDay>) -> ChainDailyReport {
    let mut report = ChainDailyReport {
        date,
        currency: CURRENCY,
        sales_count: 0,
        gross_amount: Money::ZERO,
        tax_amount: Money::ZERO,
        returns_amount: Money::ZERO,
        net_amount: Money::ZERO,
        discount_amount: Money::ZERO,
        stores: Vec::with_capacity(stores.len()),
        as_of: None,
    };
    let mut ids: Vec<&StoreId> = stores.iter().map(|s| &s.store_id).collect();
    ids.sort();
    for id in ids {
        let day = days.get(id);
        let (count, gross, returns) = day.map(|d| (d.sales_count, d.gross_amount, d.returns_amount)).unwrap_or_default();
        report.sales_count += count;
        report.gross_amount += gross;
        report.returns_amount += returns;
        report.tax_amount += day.map(|d| d.tax_amount).unwrap_or_default();
        report.discount_amount += day.map(|d| d.discount_amount).unwrap_or_default();
        report.as_of = report.as_of.max(day.and_then(|d| d.as_of));
        report.stores.push(ChainStoreRow {
            store_id: id.clone(),
            sales_count: count,
            gross_amount: gross,
            returns_amount: returns,
            net_amount: gross - returns,
        });
    }
    report.net_amount = report.gross_amount - report.returns_amount;
    report
}

/// How many commodities a page of a day's commodities holds unless asked otherwise, and at most.
pub const DEFAULT_COMMODITIES_LIMIT: usize = 200;
pub const MAX_COMMODITIES_LIMIT: usize = 1000;
const MAX_CURSOR_LENGTH: usize = 1024;

/// The `limit` of a page of a day's commodities: a whole number from 1 to 1000 (no sign), or
/// absent for 200.
pub fn commodities_limit(raw: Option<&str>) -> Result<usize, Invalid> {
    let Some(raw) = raw else { return Ok(DEFAULT_COMMODITIES_LIMIT) };
    match raw.parse::<usize>() {
        Ok(n) if (1..=MAX_COMMODITIES_LIMIT).contains(&n) && raw.bytes().all(|b| b.is_ascii_digit()) => Ok(n),
        _ => Err(Invalid::request(format!("limit must be a whole number from 1 to {MAX_COMMODITIES_LIMIT}, not {raw:?}"))),
    }
}

/// One commodity of a store-day, as the commodities route lists it: what was sold and what was
/// taken back, by the piece or by weight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayCommodityRow {
    pub sku: Sku,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<i64>,
    pub amount: Money,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returned_quantity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub returned_weight_grams: Option<i64>,
    pub returns_amount: Money,
}

impl DayCommodityRow {
    pub fn of(sku: Sku, c: CommodityTotals) -> DayCommodityRow {
        let (units, weight) = (c.by_units() || !c.by_weight(), c.by_weight());
        DayCommodityRow {
            sku,
            quantity: units.then_some(c.quantity),
            weight_grams: weight.then_some(c.weight_grams),
            amount: c.amount,
            returned_quantity: units.then_some(c.returned_quantity),
            returned_weight_grams: weight.then_some(c.returned_weight_grams),
            returns_amount: c.returns_amount,
            name: c.name,
        }
    }
}

/// A page of a store-day's commodities, by sku.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DayCommoditiesPage {
    pub store_id: StoreId,
    pub date: NaiveDate,
    pub items: Vec<DayCommodityRow>,
    /// The next page's cursor; `None` (null) on the last page.
    pub next_cursor: Option<String>,
}

/// Where a manager's walk through a store-day's commodities stands (opaque to the client): the
/// store and day it walks, and the last sku it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCommoditiesCursor {
    pub store: StoreId,
    pub date: NaiveDate,
    pub after: Sku,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorWire {
    s: String,
    d: NaiveDate,
    a: String,
}

impl DayCommoditiesCursor {
    pub fn encode(&self) -> String {
        use base64::Engine;
        let wire = CursorWire { s: self.store.to_string(), d: self.date, a: self.after.to_string() };
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).expect("a cursor serializes"))
    }

    /// A cursor this API gave for the same store and day (400 otherwise). Not signed: one forged
    /// reads only what the token may read anyway.
    pub fn decode(raw: &str, store: &StoreId, date: NaiveDate) -> Result<DayCommoditiesCursor, Invalid> {
        use base64::Engine;
        let bad = || Invalid::request("cursor is not one this API gave: start again without one");
        if raw.len() > MAX_CURSOR_LENGTH {
            return Err(bad());
        }
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let wire: CursorWire = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let cursor_store = StoreId::parse(&wire.s).map_err(|_| bad())?;
        let after = Sku::parse(&wire.a).map_err(|_| bad())?;
        if cursor_store != *store || wire.d != date {
            return Err(Invalid::request(format!("this cursor walks store {cursor_store} on {}, not {store} on {date}", wire.d)));
        }
        Ok(DayCommoditiesCursor { store: cursor_store, date, after })
    }
}

#[cfg(test)]
mod tests {
    //! A day folded sale by sale and return by return, checked by hand to the cent, and the
    //! properties every fold keeps: money balances by method, by hour and by terminal, and the
    //! order of the sales and returns does not matter.

    use super::*;
    use crate::domain::catalog::Store;
    use crate::domain::ids::{RegionId, TerminalId};
    use crate::domain::returns::{ReturnReason, ReturnReceiptLine, ReturnedSale};
    use crate::domain::sale::{Payment, Receipt, ReceiptLine};
    use std::sync::Arc;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 11, 1, 0, 0).unwrap()
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 11).unwrap()
    }

    fn s001() -> StoreId {
        StoreId::parse("S001").unwrap()
    }

    /// A receipt line: `measure` is units for `each`, grams for `kg`.
    #[derive(Debug, Clone)]
    struct Line {
        sku: String,
        kg: bool,
        measure: i64,
        amount: i64,
        tax: i64,
    }

    fn each(sku: &str, quantity: i64, amount: i64, tax: i64) -> Line {
        Line { sku: sku.into(), kg: false, measure: quantity, amount, tax }
    }

    fn kg(sku: &str, grams: i64, amount: i64, tax: i64) -> Line {
        Line { sku: sku.into(), kg: true, measure: grams, amount, tax }
    }

    /// A sale id (a UUID) named by a short text: equal texts, equal ids.
    fn test_sale_id(name: &str) -> crate::domain::SaleId {
        let bits = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        crate::domain::SaleId::parse(&format!("00000000-0000-4000-8000-{:012x}", bits & 0xffff_ffff_ffff)).unwrap()
    }

    /// A recorded sale whose totals, payments and change agree, as checkout records them.
    fn sale(id: &str, hour: u8, created_at: DateTime<Utc>, lines: &[Line], payments: &[(PaymentMethod, i64)]) -> SaleRecord {
        let total: i64 = lines.iter().map(|l| l.amount).sum();
        let paid: i64 = payments.iter().map(|p| p.1).sum();
        assert!(paid >= total);
        SaleRecord {
            receipt: Receipt {
                sale_id: test_sale_id(id),
                receipt_no: format!("T01-{id}"),
                store_id: s001(),
                terminal_id: TerminalId::parse("T01").unwrap(),
                business_day: day(),
                occurred_at: created_at,
                created_at,
                lines: lines
                    .iter()
                    .map(|l| ReceiptLine {
                        sku: Sku::parse(&l.sku).unwrap(),
                        name: format!("{} name", l.sku).into(),
                        quantity: (!l.kg).then_some(l.measure),
                        weight_grams: l.kg.then_some(l.measure),
                        unit_amount: Money::from_minor_units(l.amount),
                        line_amount: Money::from_minor_units(l.amount),
                        discount_amount: Money::ZERO,
                        net_amount: Money::from_minor_units(l.amount),
                        tax_amount: Money::from_minor_units(l.tax),
                        adjustment_id: None,
                    })
                    .collect(),
                promotions: vec![],
                discount_total: Money::ZERO,
                payments: payments.iter().map(|&(method, amount)| Payment { method, amount: Money::from_minor_units(amount) }).collect(),
                total: Money::from_minor_units(total),
                tax_total: Money::from_minor_units(lines.iter().map(|l| l.tax).sum()),
                paid: Money::from_minor_units(paid),
                change: Money::from_minor_units(paid - total),
                currency: CURRENCY.into(),
            },
            local_hour: hour,
            stock_shards: vec![],
            stream_takes: vec![],
        }
    }

    fn fold_all<'a>(sales: impl IntoIterator<Item = &'a SaleRecord>) -> FoldedDay {
        let mut d = FoldedDay::default();
        for s in sales {
            d.fold_entry(&LedgerEntry::Sale(Arc::new(s.clone())));
        }
        d
    }

    /// A return id (a UUID) named by a short text, as [`test_sale_id`].
    fn test_return_id(name: &str) -> ReturnId {
        let bits = name.bytes().fold(0x8422_2325_cbf2_9ce4u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        ReturnId::parse(&format!("00000000-0000-7000-9000-{:012x}", bits & 0xffff_ffff_ffff)).unwrap()
    }

    /// A return taken back by `store` at `terminal` on `day()`: `lines` as (receipt line of
    /// `sale`, units or grams, refund, tax), refunded by `refunds`, which add up to its total.
    fn give_back(
        id: &str,
        store: &str,
        terminal: &str,
        created_at: DateTime<Utc>,
        sale: &SaleRecord,
        lines: &[(usize, i64, i64, i64)],
        refunds: &[(PaymentMethod, i64)],
    ) -> ReturnReceipt {
        let total: i64 = lines.iter().map(|l| l.2).sum();
        assert_eq!(refunds.iter().map(|r| r.1).sum::<i64>(), total, "refunds add up to the total");
        ReturnReceipt {
            return_id: test_return_id(id),
            return_no: format!("{terminal}-R{id}"),
            store_id: StoreId::parse(store).unwrap(),
            terminal_id: TerminalId::parse(terminal).unwrap(),
            business_day: day(),
            created_at,
            reason: ReturnReason::Unwanted,
            sale: ReturnedSale {
                store_id: sale.receipt.store_id.clone(),
                sale_id: sale.receipt.sale_id.clone(),
                receipt_no: sale.receipt.receipt_no.clone(),
            },
            lines: lines
                .iter()
                .map(|&(line, measure, refund, tax)| {
                    let sold = &sale.receipt.lines[line];
                    ReturnReceiptLine {
                        line,
                        sku: sold.sku.clone(),
                        name: sold.name.clone(),
                        quantity: sold.quantity.map(|_| measure),
                        weight_grams: sold.weight_grams.map(|_| measure),
                        refund_amount: Money::from_minor_units(refund),
                        tax_amount: Money::from_minor_units(tax),
                        restocked: true,
                    }
                })
                .collect(),
            refunds: refunds.iter().map(|&(method, amount)| Payment { method, amount: Money::from_minor_units(amount) }).collect(),
            total: Money::from_minor_units(total),
            tax_total: Money::from_minor_units(lines.iter().map(|l| l.3).sum()),
            currency: CURRENCY.into(),
        }
    }

    fn fold_entries<'a>(entries: impl IntoIterator<Item = &'a LedgerEntry>) -> FoldedDay {
        let mut d = FoldedDay::default();
        for e in entries {
            d.fold_entry(e);
        }
        d
    }

    use PaymentMethod::{Card, Cash, Mobile};

    /// Three receipts of a morning and an evening (the checkout tests' baskets).
    fn three_sales() -> Vec<SaleRecord> {
        vec![
            sale("a", 9, t0(), &[each("MILK", 3, 3897, 448), kg("APPLE", 1234, 1972, 163)], &[(Cash, 10_000)]),
            sale("b", 9, t0() + Duration::minutes(5), &[each("CAKE", 1, 899, 103), each("CAKE", 1, 899, 103)], &[(Card, 1798)]),
            sale(
                "c",
                20,
                t0() + Duration::hours(11),
                &[each("MILK", 1, 1299, 149), each("COOKER", 1, 29_900, 3440)],
                &[(Mobile, 20_000), (Cash, 20_000)],
            ),
        ]
    }

    #[test]
    fn a_day_folds_to_the_sum_of_its_receipts() {
        let d = fold_all(&three_sales());
        assert_eq!(d.day.sales_count, 3);
        // Units of each lines (3 + 1 + 1 + 1 + 1) and one per weighed line (1).
        assert_eq!(d.day.items_sold, 8);
        assert_eq!(d.day.gross_amount, Money::from_minor_units(5869 + 1798 + 31_199));
        assert_eq!(d.day.tax_amount, Money::from_minor_units(448 + 163 + 103 + 103 + 149 + 3440));
        // Cash net of change: 100.00 − 41.31 and 200.00 − 88.01.
        assert_eq!(d.day.by_payment_method, ByPaymentMethod { cash: Money::from_minor_units(5869 + 11_199), card: Money::from_minor_units(1798), mobile: Money::from_minor_units(20_000) });
        assert_eq!(d.day.by_hour[9], HourTotals { sales_count: 2, gross_amount: Money::from_minor_units(7667) });
        assert_eq!(d.day.by_hour[20], HourTotals { sales_count: 1, gross_amount: Money::from_minor_units(31_199) });
        assert_eq!(d.day.by_hour.iter().map(|h| h.sales_count).sum::<u64>(), 3);
        assert_eq!(d.day.as_of, Some(t0() + Duration::hours(11)));
    }

    #[test]
    fn a_store_report_reads_as_the_contract_says() {
        let d = fold_all(&three_sales());
        let report = serde_json::to_value(d.report(&s001(), day())).unwrap();
        let mut by_hour: Vec<_> = (0..24).map(|h| json!({"hour": h, "salesCount": 0, "grossAmount": 0})).collect();
        by_hour[9] = json!({"hour": 9, "salesCount": 2, "grossAmount": 7667});
        by_hour[20] = json!({"hour": 20, "salesCount": 1, "grossAmount": 31_199});
        assert_eq!(
            report,
            json!({
                "storeId": "S001", "date": "2026-11-11", "currency": "CNY",
                "salesCount": 3, "itemsSold": 8, "grossAmount": 38_866, "taxAmount": 4406,
                "byHour": by_hour,
                "byPaymentMethod": {"cash": 17_068, "card": 1798, "mobile": 20_000},
                "topCommodities": [
                    {"sku": "COOKER", "name": "COOKER name", "quantity": 1, "amount": 29_900},
                    {"sku": "MILK", "name": "MILK name", "quantity": 4, "amount": 5196},
                    {"sku": "APPLE", "name": "APPLE name", "weightGrams": 1234, "amount": 1972},
                    {"sku": "CAKE", "name": "CAKE name", "quantity": 2, "amount": 1798}
                ],
                "discountAmount": 0, "byPromotion": [],
                "returnsCount": 0, "returnsAmount": 0, "returnsTax": 0,
                "refundsByMethod": {"cash": 0, "card": 0, "mobile": 0},
                "netAmount": 38_866,
                "byTerminal": [{
                    "terminalId": "T01", "salesCount": 3, "offlineSalesCount": 0, "grossAmount": 38_866,
                    "returnsCount": 0, "returnsAmount": 0, "cashIn": 17_068, "cashOut": 0
                }],
                "asOf": "2026-11-11T12:00:00Z"
            })
        );
    }

    #[test]
    fn a_sale_recorded_more_than_five_minutes_after_it_occurred_counts_as_offline_at_its_terminal() {
        let mut sales = three_sales();
        let at = |minutes: i64| {
            let mut s = sale("late", 10, t0() + Duration::hours(1), &[each("MILK", 1, 1299, 149)], &[(Card, 1299)]);
            s.receipt.terminal_id = TerminalId::parse("T02").unwrap();
            s.receipt.occurred_at = s.receipt.created_at - Duration::minutes(minutes);
            s
        };
        sales.extend([at(5), at(6), at(72 * 60)]);
        let d = fold_all(&sales);
        let t01 = &d.day.by_terminal[&TerminalId::parse("T01").unwrap()];
        let t02 = &d.day.by_terminal[&TerminalId::parse("T02").unwrap()];
        assert_eq!((t01.sales_count, t01.offline_sales_count), (3, 0));
        assert_eq!((t02.sales_count, t02.offline_sales_count, t02.cash_in), (3, 2, Money::ZERO), "exactly five minutes is not late");
        assert_eq!(t02.gross_amount, Money::from_minor_units(3 * 1299));
    }

    #[test]
    fn a_day_without_sales_is_all_zeros() {
        let report = serde_json::to_value(store_report(&s001(), day(), None, vec![])).unwrap();
        let by_hour: Vec<_> = (0..24).map(|h| json!({"hour": h, "salesCount": 0, "grossAmount": 0})).collect();
        assert_eq!(
            report,
            json!({
                "storeId": "S001", "date": "2026-11-11", "currency": "CNY",
                "salesCount": 0, "itemsSold": 0, "grossAmount": 0, "taxAmount": 0,
                "byHour": by_hour,
                "byPaymentMethod": {"cash": 0, "card": 0, "mobile": 0},
                "topCommodities": [],
                "discountAmount": 0, "byPromotion": [],
                "returnsCount": 0, "returnsAmount": 0, "returnsTax": 0,
                "refundsByMethod": {"cash": 0, "card": 0, "mobile": 0},
                "netAmount": 0,
                "byTerminal": [],
                "asOf": null
            })
        );
    }

    #[test]
    fn top_commodities_rank_by_amount_then_sku_and_stop_at_ten() {
        // Twelve skus; K00..K11 with amounts that tie in pairs.
        let lines: Vec<Line> = (0..12).map(|i| each(&format!("K{:02}", 11 - i), 1, 100 * (i / 2 + 1), 0)).collect();
        let d = fold_all(&[sale("x", 10, t0(), &lines, &[(Cash, 4200)])]);
        let top: Vec<(String, i64)> =
            d.report(&s001(), day()).top_commodities.iter().map(|t| (t.sku.to_string(), t.amount.minor_units())).collect();
        let expected: Vec<(String, i64)> = [
            ("K00", 600), ("K01", 600), ("K02", 500), ("K03", 500), ("K04", 400),
            ("K05", 400), ("K06", 300), ("K07", 300), ("K08", 200), ("K09", 200),
        ]
        .iter()
        .map(|(s, a)| (s.to_string(), *a))
        .collect();
        assert_eq!(top, expected);
    }

    #[test]
    fn the_chain_report_lists_every_store_and_sums_them() {
        let store = |id: &str| Store::new(StoreId::parse(id).unwrap(), "Shop", RegionId::parse("EAST").unwrap(), None).unwrap();
        let stores = vec![store("S003"), store("S001"), store("S002")];
        let mut days = BTreeMap::new();
        days.insert(s001(), fold_all(&three_sales()).day);
        let mut s3 = three_sales()[1].clone();
        s3.receipt.store_id = StoreId::parse("S003").unwrap();
        s3.receipt.created_at = t0() + Duration::hours(12);
        days.insert(s3.receipt.store_id.clone(), fold_all([&s3]).day);
        let report = serde_json::to_value(chain_report(day(), &stores, &days)).unwrap();
        assert_eq!(
            report,
            json!({
                "date": "2026-11-11", "currency": "CNY",
                "salesCount": 4, "grossAmount": 38_866 + 1798, "taxAmount": 4406 + 206,
                "returnsAmount": 0, "netAmount": 38_866 + 1798,
                "discountAmount": 0,
                "stores": [
                    {"storeId": "S001", "salesCount": 3, "grossAmount": 38_866, "returnsAmount": 0, "netAmount": 38_866},
                    {"storeId": "S002", "salesCount": 0, "grossAmount": 0, "returnsAmount": 0, "netAmount": 0},
                    {"storeId": "S003", "salesCount": 1, "grossAmount": 1798, "returnsAmount": 0, "netAmount": 1798}
                ],
                "asOf": "2026-11-11T13:00:00Z"
            })
        );
        let empty = serde_json::to_value(chain_report(day(), &stores, &BTreeMap::new())).unwrap();
        assert_eq!((empty["salesCount"].clone(), empty["grossAmount"].clone(), empty["asOf"].clone()), (json!(0), json!(0), json!(null)));
        assert_eq!(empty["stores"].as_array().unwrap().len(), 3);
    }

    /// S001's day of three sales with two returns taken back there: at T01, a milk of the
    /// morning's first basket and all its apples, in cash (its tender); at T02, in the evening,
    /// rice that S002 sold, to the card that paid for it. S002 sold the rice; S003 took back a
    /// cake S001 sold, and sold nothing.
    struct ReturnsDay {
        sales: Vec<SaleRecord>,
        rice: SaleRecord,
        at_s001: Vec<ReturnReceipt>,
        at_s003: ReturnReceipt,
    }

    fn returns_day() -> ReturnsDay {
        let sales = three_sales();
        let mut rice = sale("rice", 12, t0() + Duration::hours(3), &[kg("RICE", 2500, 1498, 124)], &[(Card, 1498)]);
        rice.receipt.store_id = StoreId::parse("S002").unwrap();
        // 1 of 3 milks: round(3897 / 3) = 1299, tax round(448 / 3) = 149; the apples whole.
        let milk_and_apples = give_back("r1", "S001", "T01", t0() + Duration::hours(2), &sales[0], &[(0, 1, 1299, 149), (1, 1234, 1972, 163)], &[(Cash, 3271)]);
        let rice_back = give_back("r2", "S001", "T02", t0() + Duration::hours(12), &rice, &[(0, 2500, 1498, 124)], &[(Card, 1498)]);
        let cake = give_back("r3", "S003", "T09", t0() + Duration::hours(13), &sales[1], &[(0, 1, 899, 103)], &[(Card, 899)]);
        ReturnsDay { sales, rice, at_s001: vec![milk_and_apples, rice_back], at_s003: cake }
    }

    fn s001_entries(d: &ReturnsDay) -> Vec<LedgerEntry> {
        let mut entries: Vec<LedgerEntry> = d.sales.iter().map(|s| LedgerEntry::Sale(Arc::new(s.clone()))).collect();
        entries.extend(d.at_s001.iter().map(|r| LedgerEntry::Return(Arc::new(r.clone()))));
        entries
    }

    #[test]
    fn returns_count_in_the_store_and_on_the_day_that_took_them_back_beside_the_sales() {
        let d = returns_day();
        let entries = s001_entries(&d);
        // Each entry names the store-day that counts it: the rice's return is S001's, not S002's.
        assert_eq!(entries[4].store_day(), (&s001(), day()));
        assert_eq!(d.rice.receipt.store_id.as_str(), "S002");
        let folded = fold_entries(&entries);
        let sales_only = fold_all(&d.sales);
        // The sales' figures are the sales' alone.
        assert_eq!((folded.day.sales_count, folded.day.items_sold, folded.day.gross_amount, folded.day.tax_amount), (3, 8, sales_only.day.gross_amount, sales_only.day.tax_amount));
        assert_eq!((folded.day.by_payment_method, &folded.day.by_hour), (sales_only.day.by_payment_method, &sales_only.day.by_hour));
        assert_eq!(folded.day.returns_count, 2);
        assert_eq!(folded.day.returns_amount, Money::from_minor_units(3271 + 1498));
        assert_eq!(folded.day.returns_tax, Money::from_minor_units(149 + 163 + 124));
        assert_eq!(folded.day.refunds_by_method, ByPaymentMethod { cash: Money::from_minor_units(3271), card: Money::from_minor_units(1498), mobile: Money::ZERO });
        // Per commodity, for the route that lists them all: what came back beside what was sold.
        let milk = &folded.commodities[&Sku::parse("MILK").unwrap()];
        assert_eq!((milk.quantity, milk.amount, milk.returned_quantity, milk.returns_amount), (4, Money::from_minor_units(5196), 1, Money::from_minor_units(1299)));
        let apple = &folded.commodities[&Sku::parse("APPLE").unwrap()];
        assert_eq!((apple.weight_grams, apple.returned_weight_grams, apple.returns_amount), (1234, 1234, Money::from_minor_units(1972)));
        let rice = &folded.commodities[&Sku::parse("RICE").unwrap()];
        assert_eq!(
            rice,
            &CommodityTotals {
                name: "RICE name".into(),
                quantity: 0,
                weight_grams: 0,
                amount: Money::ZERO,
                returned_quantity: 0,
                returned_weight_grams: 2500,
                returns_amount: Money::from_minor_units(1498),
            }
        );
        // The evening's return is the latest thing folded in.
        assert_eq!(folded.day.as_of, Some(t0() + Duration::hours(12)));

        let report = serde_json::to_value(folded.report(&s001(), day())).unwrap();
        let sales_report = serde_json::to_value(sales_only.report(&s001(), day())).unwrap();
        // The top commodities rank net of what came back, and show net figures: a milk of
        // four and all the apples came back. A commodity only taken back (the rice) is no seller.
        assert_eq!(
            report["topCommodities"],
            json!([
                {"sku": "COOKER", "name": "COOKER name", "quantity": 1, "amount": 29_900},
                {"sku": "MILK", "name": "MILK name", "quantity": 3, "amount": 5196 - 1299},
                {"sku": "CAKE", "name": "CAKE name", "quantity": 2, "amount": 1798},
                {"sku": "APPLE", "name": "APPLE name", "weightGrams": 0, "amount": 0}
            ])
        );
        assert_ne!(report["topCommodities"], sales_report["topCommodities"]);
        assert_eq!((&report["byHour"], &report["byPaymentMethod"]), (&sales_report["byHour"], &sales_report["byPaymentMethod"]));
        assert_eq!((report["returnsCount"].clone(), report["returnsAmount"].clone(), report["returnsTax"].clone()), (json!(2), json!(4769), json!(436)));
        assert_eq!(report["refundsByMethod"], json!({"cash": 3271, "card": 1498, "mobile": 0}));
        assert_eq!((report["grossAmount"].clone(), report["netAmount"].clone()), (json!(38_866), json!(38_866 - 4769)));
        // T02 sold nothing but took the rice back: it has a row.
        assert_eq!(
            report["byTerminal"],
            json!([
                {"terminalId": "T01", "salesCount": 3, "offlineSalesCount": 0, "grossAmount": 38_866,
                 "returnsCount": 1, "returnsAmount": 3271, "cashIn": 17_068, "cashOut": 3271},
                {"terminalId": "T02", "salesCount": 0, "offlineSalesCount": 0, "grossAmount": 0,
                 "returnsCount": 1, "returnsAmount": 1498, "cashIn": 0, "cashOut": 0}
            ])
        );
        assert_eq!(report["asOf"], json!("2026-11-11T13:00:00Z"));
    }

    #[test]
    fn a_drawer_holds_the_cash_it_took_less_the_cash_it_paid_back() {
        let d = returns_day();
        let mut entries = s001_entries(&d);
        // A second T01 return, of the evening basket's milk, told to go back in cash although
        // that basket was paid part by mobile.
        entries.push(LedgerEntry::Return(Arc::new(give_back("r4", "S001", "T01", t0() + Duration::hours(11), &d.sales[2], &[(0, 1, 1299, 149)], &[(Cash, 1299)]))));
        let report = fold_entries(&entries).report(&s001(), day());
        let t01 = report.by_terminal.iter().find(|t| t.terminal_id.as_str() == "T01").unwrap();
        // Cash in: 100.00 − 41.31 and 200.00 − 88.01; cash out: 32.71 and 12.99.
        assert_eq!((t01.cash_in, t01.cash_out), (Money::from_minor_units(5869 + 11_199), Money::from_minor_units(3271 + 1299)));
        assert_eq!((t01.cash_in - t01.cash_out).minor_units(), 17_068 - 4570);
        assert_eq!((t01.returns_count, t01.returns_amount), (2, Money::from_minor_units(4570)));
        assert_eq!(report.refunds_by_method.cash, Money::from_minor_units(4570));
        // The drawers together paid back exactly the day's cash refunds.
        let cash_out: Money = report.by_terminal.iter().map(|t| t.cash_out).sum();
        assert_eq!(cash_out, report.refunds_by_method.cash);
    }

    #[test]
    fn a_day_of_returns_only_nets_below_zero_and_is_as_of_its_latest_return() {
        let d = returns_day();
        let mut only = FoldedDay::default();
        only.fold_entry(&LedgerEntry::Return(Arc::new(d.at_s003.clone())));
        let report = serde_json::to_value(only.report(&StoreId::parse("S003").unwrap(), day())).unwrap();
        assert_eq!((report["salesCount"].clone(), report["grossAmount"].clone(), report["itemsSold"].clone()), (json!(0), json!(0), json!(0)));
        assert_eq!((report["returnsAmount"].clone(), report["netAmount"].clone()), (json!(899), json!(-899)));
        assert_eq!(report["topCommodities"], json!([]));
        assert_eq!(report["byHour"].as_array().unwrap().len(), 24);
        assert_eq!(report["asOf"], json!("2026-11-11T14:00:00Z"));
    }

    #[test]
    fn the_chain_report_nets_each_stores_returns_on_its_own_day() {
        let d = returns_day();
        let store = |id: &str| Store::new(StoreId::parse(id).unwrap(), "Shop", RegionId::parse("EAST").unwrap(), None).unwrap();
        let stores = vec![store("S002"), store("S003"), store("S001")];
        let mut days = BTreeMap::new();
        days.insert(s001(), fold_entries(&s001_entries(&d)).day);
        days.insert(StoreId::parse("S002").unwrap(), fold_all([&d.rice]).day);
        let mut s003 = StoreDay::default();
        s003.fold_return(&d.at_s003);
        days.insert(StoreId::parse("S003").unwrap(), s003);
        let report = serde_json::to_value(chain_report(day(), &stores, &days)).unwrap();
        assert_eq!(
            report,
            json!({
                "date": "2026-11-11", "currency": "CNY",
                "salesCount": 4, "grossAmount": 38_866 + 1498, "taxAmount": 4406 + 124,
                "returnsAmount": 4769 + 899, "netAmount": 38_866 + 1498 - 4769 - 899,
                "discountAmount": 0,
                "stores": [
                    {"storeId": "S001", "salesCount": 3, "grossAmount": 38_866, "returnsAmount": 4769, "netAmount": 38_866 - 4769},
                    // The rice came back in S001: S002 keeps its sale whole.
                    {"storeId": "S002", "salesCount": 1, "grossAmount": 1498, "returnsAmount": 0, "netAmount": 1498},
                    {"storeId": "S003", "salesCount": 0, "grossAmount": 0, "returnsAmount": 899, "netAmount": -899}
                ],
                // S003's return at 14:00 is the chain's latest entry.
                "asOf": "2026-11-11T14:00:00Z"
            })
        );
    }

    #[test]
    fn a_day_stored_before_returns_were_counted_reads_as_none_returned() {
        let d = fold_all(&three_sales()).day;
        let mut stored = serde_json::to_value(&d).unwrap();
        // What a day folded before returns holds: none of the members returns brought.
        for member in ["returnsCount", "returnsAmount", "returnsTax", "refundsByMethod"] {
            assert!(stored.as_object_mut().unwrap().remove(member).is_some(), "{member}");
        }
        for terminal in stored["byTerminal"].as_object_mut().unwrap().values_mut() {
            for member in ["returnsCount", "returnsAmount", "cashOut"] {
                assert!(terminal.as_object_mut().unwrap().remove(member).is_some(), "{member}");
            }
        }
        // A head written before commodities had items of their own still holds them: read past.
        assert!(stored.get("commodities").is_none());
        stored["commodities"] = json!({"MILK": {"name": "MILK name", "quantity": 4, "weightGrams": 0, "amount": 5196}});
        let read: StoreDay = serde_json::from_value(stored).unwrap();
        assert_eq!(read, d);
    }

    // Properties of any day of sales (and of returns).

    const SKUS: usize = 6;

    /// Any sale: lines of six skus (even ones by the piece, odd ones by weight), paid by card and
    /// mobile up to the total and the rest in cash, maybe with change.
    fn arb_sale(id: usize) -> impl Strategy<Value = SaleRecord> {
        (
            proptest::collection::vec((0..SKUS, 1i64..=10_000, 1i64..=500_000, 0i64..=100), 1..8),
            0u8..24,
            0i64..86_400,
            0i64..=100,
            0i64..=100,
            0i64..=100_000,
        )
            .prop_map(move |(lines, hour, second, card_pct, mobile_pct, extra_cash)| {
                let lines: Vec<Line> = lines
                    .into_iter()
                    .map(|(sku, measure, amount, tax_pct)| Line {
                        sku: format!("P{sku}"),
                        kg: sku % 2 == 1,
                        measure,
                        amount,
                        tax: amount * tax_pct / 100,
                    })
                    .collect();
                let total: i64 = lines.iter().map(|l| l.amount).sum();
                let card = total * card_pct / 100;
                let mobile = (total - card) * mobile_pct / 100;
                let cash = total - card - mobile + extra_cash;
                let payments: Vec<(PaymentMethod, i64)> =
                    [(Card, card), (Mobile, mobile), (Cash, cash)].into_iter().filter(|p| p.1 > 0).collect();
                sale(&format!("sale-{id:03}"), hour, t0() + Duration::seconds(second), &lines, &payments)
            })
    }

    fn arb_day() -> impl Strategy<Value = Vec<SaleRecord>> {
        (1usize..30).prop_flat_map(|n| (0..n).map(arb_sale).collect::<Vec<_>>())
    }

    /// Any return of part of a sale, at one of three terminals, refunded to card, mobile and
    /// cash in any split.
    fn arb_return(id: usize, sale: SaleRecord) -> impl Strategy<Value = ReturnReceipt> {
        let lines = sale.receipt.lines.len();
        (proptest::sample::subsequence((0..lines).collect::<Vec<_>>(), 1..=lines), 0usize..3, 0i64..86_400, 0i64..=100, 0i64..=100)
            .prop_map(move |(picked, terminal, second, card_pct, mobile_pct)| {
                let lines: Vec<(usize, i64, i64, i64)> = picked
                    .iter()
                    .map(|&i| {
                        let l = &sale.receipt.lines[i];
                        let measure = l.quantity.or(l.weight_grams).unwrap();
                        (i, (measure + 1) / 2, l.line_amount.minor_units() / 2, l.tax_amount.minor_units() / 2)
                    })
                    .collect();
                let total: i64 = lines.iter().map(|l| l.2).sum();
                let card = total * card_pct / 100;
                let mobile = (total - card) * mobile_pct / 100;
                let refunds: Vec<(PaymentMethod, i64)> =
                    [(Card, card), (Mobile, mobile), (Cash, total - card - mobile)].into_iter().filter(|p| p.1 > 0).collect();
                give_back(&format!("return-{id:03}"), "S001", &format!("T{terminal:02}"), t0() + Duration::seconds(second), &sale, &lines, &refunds)
            })
    }

    /// A day of sales and returns of some of them, as the stream's entries.
    fn arb_ledger() -> impl Strategy<Value = Vec<LedgerEntry>> {
        arb_day()
            .prop_flat_map(|sales| {
                let returns: Vec<_> = sales.iter().enumerate().map(|(i, s)| proptest::option::of(arb_return(i, s.clone()))).collect();
                (Just(sales), returns)
            })
            .prop_map(|(sales, returns)| {
                let mut entries: Vec<LedgerEntry> = sales.into_iter().map(|s| LedgerEntry::Sale(Arc::new(s))).collect();
                entries.extend(returns.into_iter().flatten().map(|r| LedgerEntry::Return(Arc::new(r))));
                entries
            })
    }

    proptest! {
        #[test]
        fn money_balances_by_method_by_hour_and_by_commodity(sales in arb_day()) {
            let d = fold_all(&sales);
            let gross: i64 = sales.iter().map(|s| s.receipt.total.minor_units()).sum();
            prop_assert_eq!(d.day.gross_amount.minor_units(), gross);
            prop_assert_eq!(d.day.tax_amount.minor_units(), sales.iter().map(|s| s.receipt.tax_total.minor_units()).sum::<i64>());
            prop_assert_eq!(d.day.sales_count, sales.len() as u64);
            let m = d.day.by_payment_method;
            prop_assert_eq!(m.cash.minor_units() + m.card.minor_units() + m.mobile.minor_units(), gross);
            prop_assert!(m.cash.minor_units() >= 0);
            prop_assert_eq!(d.day.by_hour.len(), 24);
            prop_assert_eq!(d.day.by_hour.iter().map(|h| h.gross_amount.minor_units()).sum::<i64>(), gross);
            prop_assert_eq!(d.day.by_hour.iter().map(|h| h.sales_count).sum::<u64>(), sales.len() as u64);
            prop_assert_eq!(d.commodities.values().map(|c| c.amount.minor_units()).sum::<i64>(), gross);
            let lines = sales.iter().flat_map(|s| &s.receipt.lines);
            let items: i64 = lines.map(|l| l.quantity.unwrap_or(1)).sum();
            prop_assert_eq!(d.day.items_sold, items);
            prop_assert_eq!(d.day.as_of, sales.iter().map(|s| s.receipt.created_at).max());
            let report = d.report(&s001(), day());
            prop_assert_eq!(report.by_hour.iter().map(|h| h.gross_amount.minor_units()).sum::<i64>(), gross);
            prop_assert!(report.top_commodities.len() <= TOP_COMMODITIES);
            prop_assert!(report.top_commodities.windows(2).all(|w| (std::cmp::Reverse(w[0].amount), &w[0].sku) < (std::cmp::Reverse(w[1].amount), &w[1].sku)));
        }

        #[test]
        fn folding_the_same_sales_in_any_order_gives_the_same_day(
            sales in arb_day(),
            order in any::<proptest::sample::Index>(),
        ) {
            let forward = fold_all(&sales);
            prop_assert_eq!(&fold_all(sales.iter().rev()), &forward);
            // Any rotation of the stream, and one with the middle sales moved to the front.
            let k = order.index(sales.len());
            let rotated: Vec<&SaleRecord> = sales[k..].iter().chain(&sales[..k]).collect();
            prop_assert_eq!(&fold_all(rotated), &forward);
            let mut shuffled = sales.clone();
            shuffled.sort_by_key(|s| (s.receipt.total, s.local_hour));
            prop_assert_eq!(&fold_all(&shuffled), &forward);
        }

        #[test]
        fn returns_balance_by_method_by_terminal_and_by_commodity_in_any_order(
            entries in arb_ledger(),
            order in any::<proptest::sample::Index>(),
        ) {
            let d = fold_entries(&entries);
            let returns: Vec<&ReturnReceipt> = entries.iter().filter_map(|e| match e { LedgerEntry::Return(r) => Some(&**r), _ => None }).collect();
            let sales: Vec<&SaleRecord> = entries.iter().filter_map(|e| match e { LedgerEntry::Sale(s) => Some(&**s), _ => None }).collect();
            let refunded: i64 = returns.iter().map(|r| r.total.minor_units()).sum();
            prop_assert_eq!(d.day.returns_count, returns.len() as u64);
            prop_assert_eq!(d.day.returns_amount.minor_units(), refunded);
            prop_assert_eq!(d.day.returns_tax.minor_units(), returns.iter().map(|r| r.tax_total.minor_units()).sum::<i64>());
            let m = d.day.refunds_by_method;
            prop_assert_eq!(m.cash.minor_units() + m.card.minor_units() + m.mobile.minor_units(), refunded);
            prop_assert_eq!(d.day.by_terminal.values().map(|t| t.returns_amount.minor_units()).sum::<i64>(), refunded);
            prop_assert_eq!(d.day.by_terminal.values().map(|t| t.returns_count).sum::<u64>(), returns.len() as u64);
            prop_assert_eq!(d.day.by_terminal.values().map(|t| t.cash_out).sum::<Money>(), m.cash);
            prop_assert_eq!(d.commodities.values().map(|c| c.returns_amount.minor_units()).sum::<i64>(), refunded);
            // The sales' figures are untouched by returns.
            prop_assert_eq!(&fold_all(sales.iter().copied()).day.by_payment_method, &d.day.by_payment_method);
            prop_assert_eq!(d.day.sales_count, sales.len() as u64);
            let latest = entries.iter().map(|e| match e { LedgerEntry::Sale(s) => s.receipt.created_at, LedgerEntry::Return(r) => r.created_at }).max();
            prop_assert_eq!(d.day.as_of, latest);
            let report = d.report(&s001(), day());
            prop_assert_eq!(report.net_amount, report.gross_amount - report.returns_amount);
            prop_assert!(report.top_commodities.iter().all(|t| d.commodities[&t.sku].sold()));
            // Any order of the stream folds to the same day.
            prop_assert_eq!(&fold_entries(entries.iter().rev()), &d);
            let k = order.index(entries.len());
            prop_assert_eq!(&fold_entries(entries[k..].iter().chain(&entries[..k])), &d);
        }

        #[test]
        fn the_chain_totals_are_the_sum_of_its_stores(per_store in proptest::collection::vec(proptest::option::of(arb_day()), 1..6)) {
            let stores: Vec<Store> = (0..per_store.len())
                .map(|i| Store::new(StoreId::parse(&format!("S{i:03}")).unwrap(), "Shop", RegionId::parse("EAST").unwrap(), None).unwrap())
                .collect();
            let days: BTreeMap<StoreId, StoreDay> = per_store
                .iter()
                .zip(&stores)
                .filter_map(|(sales, store)| sales.as_ref().map(|s| (store.store_id.clone(), fold_all(s).day)))
                .collect();
            let report = chain_report(day(), &stores, &days);
            prop_assert_eq!(report.stores.len(), stores.len());
            prop_assert_eq!(report.sales_count, report.stores.iter().map(|s| s.sales_count).sum::<u64>());
            prop_assert_eq!(report.gross_amount.minor_units(), report.stores.iter().map(|s| s.gross_amount.minor_units()).sum::<i64>());
            prop_assert_eq!(report.tax_amount.minor_units(), days.values().map(|d| d.tax_amount.minor_units()).sum::<i64>());
            prop_assert_eq!(report.net_amount, report.gross_amount - report.returns_amount);
            for row in &report.stores {
                let d = days.get(&row.store_id);
                prop_assert_eq!(row.gross_amount, d.map(|d| d.gross_amount).unwrap_or_default());
                prop_assert_eq!(row.sales_count, d.map(|d| d.sales_count).unwrap_or(0));
            }
        }
    }

    /// A change a batch makes to one commodity of the day.
    #[derive(Debug, Clone)]
    struct Change {
        sku: usize,
        sold: i64,
        returned: i64,
    }

    fn arb_batches() -> impl Strategy<Value = Vec<(Vec<Change>, bool)>> {
        let change = (0usize..120, 0i64..5_000, prop_oneof![8 => Just(0i64), 1 => 0i64..20_000])
            .prop_map(|(sku, sold, returned)| Change { sku, sold, returned });
        proptest::collection::vec((proptest::collection::vec(change, 1..40), any::<bool>()), 1..40)
    }

    proptest! {
        /// A day of folds over up to 120 commodities (three times what the list keeps): each
        /// batch sells or takes back some of them; the list observes what each item holds after
        /// the batch (now and then a reading older than the one it lists), and is rebuilt when
        /// it falls short. Its top is always the whole day's.
        #[test]
        fn a_top_list_ranks_as_the_whole_day_does(batches in arb_batches()) {
            let sku = |n: usize| Sku::parse(&format!("SKU-{n:03}")).unwrap();
            let mut truth: BTreeMap<Sku, Ranked> = BTreeMap::new();
            let mut list = TopList::default();
            let mut stale: Option<(Sku, Ranked)> = None;
            for (changes, replay_stale) in batches {
                let mut touched = std::collections::BTreeSet::new();
                for c in changes {
                    let r = truth.entry(sku(c.sku)).or_default();
                    r.totals.name = format!("commodity {}", c.sku);
                    if c.sold > 0 {
                        r.totals.quantity += 1;
                        r.totals.amount += Money::from_minor_units(c.sold);
                    }
                    r.totals.returns_amount += Money::from_minor_units(c.returned);
                    r.folds += 1;
                    touched.insert(sku(c.sku));
                }
                for s in &touched {
                    list.observe(s, truth[s].clone());
                }
                // A reading of a listed commodity from before this batch, arriving late (the
                // store reads a head before the items it folds, so a late reading can only be
                // of one that the head it writes lists).
                if let (true, Some((s, old))) = (replay_stale, stale.take())
                    && list.listed.contains_key(&s)
                {
                    list.observe(&s, old);
                }
                if let Some(s) = touched.iter().next() {
                    let mut old = truth[s].clone();
                    old.folds -= 1;
                    old.totals.amount -= Money::from_minor_units(1);
                    stale = Some((s.clone(), old));
                }
                if !list.complete() {
                    list = TopList::rebuilt(truth.clone());
                }
                prop_assert!(list.listed.len() <= TOP_KEPT);
                let want = top_commodities(truth.iter().map(|(s, r)| (s, &r.totals)));
                let candidates = list.candidates();
                let got = top_commodities(candidates.iter().map(|(s, c)| (s, c)));
                prop_assert_eq!(got, want);
            }
        }
    }
}
