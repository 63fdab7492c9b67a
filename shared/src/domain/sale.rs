//! A sale at a till: the basket as the till sends it, priced by the server line by line, paid,
//! and fixed into a receipt.

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

use super::barcode::{Embedded, Scan};
use super::catalog::{StockPolicy, Store, Unit};
use super::error::DomainError;
use super::ids::{Sku, StoreId, TerminalId};
use super::money::{CURRENCY, Money, div_round_half_away};
use super::price::{PriceAdjustment, price_in_force};
use super::time::{instant, parse_instant};
use super::Commodity;

pub const MAX_LINES: usize = 200;
pub const MAX_PAYMENTS: usize = 10;
pub const MAX_QUANTITY: i64 = 10_000;
pub const MAX_WEIGHT_GRAMS: i64 = 100_000;
/// How old an offline sale may be.
pub const MAX_AGE: Duration = Duration::hours(72);
/// How far ahead of the server's clock a till's clock may run.
pub const MAX_CLOCK_SKEW: Duration = Duration::minutes(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentMethod {
    Cash,
    Card,
    Mobile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    pub method: PaymentMethod,
    pub amount: Money,
}

/// A basket line as the till sends it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LineDraft {
    #[serde(default)]
    pub sku: Option<String>,
    #[serde(default)]
    pub barcode: Option<String>,
    #[serde(default)]
    pub quantity: Option<i64>,
    #[serde(default)]
    pub weight_grams: Option<i64>,
}

/// A sale as the till sends it: never a price, only what was scanned and how it was paid.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SaleDraft {
    pub terminal_id: TerminalId,
    pub lines: Vec<LineDraft>,
    pub payments: Vec<Payment>,
    #[serde(default)]
    pub occurred_at: Option<String>,
}

/// What a line names: a sku, or a scanned code (maybe carrying a weight or a price).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineItem {
    Sku(Sku),
    Scan(Scan),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedLine {
    pub item: LineItem,
    pub quantity: Option<i64>,
    pub weight_grams: Option<i64>,
}

/// A sale whose shape is valid; what it names is not yet known to exist.
#[derive(Debug, Clone)]
pub struct CheckedSale {
    pub terminal_id: TerminalId,
    pub lines: Vec<CheckedLine>,
    pub payments: Vec<Payment>,
    pub occurred_at: DateTime<Utc>,
}

fn line_problem(index: usize, detail: String) -> DomainError {
    DomainError::Invalid(format!("lines[{index}]: {detail}"))
}

/// A refusal that names a line of the request (0-based).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub error: DomainError,
}

impl SaleDraft {
    /// Equal for sales that are equal as parsed JSON (an absent optional member and `null` are
    /// the same sale): what a retried request must match to be a replay.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        struct Hashing(Sha256);
        impl std::io::Write for Hashing {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.update(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut hashing = Hashing(Sha256::new());
        serde_json::to_writer(&mut hashing, self).expect("a sale serializes");
        let digest = hashing.0.finalize();
        let mut hex = String::with_capacity(64);
        for b in digest {
            hex.push(char::from_digit(u32::from(b >> 4), 16).expect("a nibble"));
            hex.push(char::from_digit(u32::from(b & 15), 16).expect("a nibble"));
        }
        hex
    }

    /// Checks everything that needs no catalog: counts, ranges, ids, barcodes, and the time
    /// (`now` when the till sends none). The time window itself is [`check_time`]'s.
    pub fn check(&self, now: DateTime<Utc>) -> Result<CheckedSale, LineErrorOr> {
        if !(1..=MAX_LINES).contains(&self.lines.len()) {
            return Err(DomainError::Invalid(format!("lines must hold 1 to {MAX_LINES} entries")).into());
        }
        if !(1..=MAX_PAYMENTS).contains(&self.payments.len()) {
            return Err(DomainError::Invalid(format!("payments must hold 1 to {MAX_PAYMENTS} entries")).into());
        }
        for (i, p) in self.payments.iter().enumerate() {
            if !(1..=Money::MAX).contains(&p.amount.0) {
                return Err(DomainError::Invalid(format!("payments[{i}].amount must be between 1 and {}", Money::MAX)).into());
            }
        }
        let occurred_at = self.occurred_at.as_deref().map(parse_instant).transpose()?.unwrap_or(now);
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, l) in self.lines.iter().enumerate() {
            let at = |e: DomainError| LineErrorOr::Line(LineError { line: i, error: e });
            let item = match (&l.sku, &l.barcode) {
                (Some(sku), None) => LineItem::Sku(Sku::parse(sku).map_err(at)?),
                (None, Some(code)) => LineItem::Scan(Scan::parse(code).map_err(at)?),
                _ => return Err(at(line_problem(i, "name exactly one of sku and barcode".into()))),
            };
            if l.quantity.is_some() && l.weight_grams.is_some() {
                return Err(at(line_problem(i, "send quantity or weightGrams, not both".into())));
            }
            if let Some(q) = l.quantity
                && !(1..=MAX_QUANTITY).contains(&q)
            {
                return Err(at(line_problem(i, format!("quantity must be between 1 and {MAX_QUANTITY}"))));
            }
            if let Some(g) = l.weight_grams
                && !(1..=MAX_WEIGHT_GRAMS).contains(&g)
            {
                return Err(at(line_problem(i, format!("weightGrams must be between 1 and {MAX_WEIGHT_GRAMS}"))));
            }
            lines.push(CheckedLine { item, quantity: l.quantity, weight_grams: l.weight_grams });
        }
        Ok(CheckedSale { terminal_id: self.terminal_id.clone(), lines, payments: self.payments.clone(), occurred_at })
    }
}

/// A refusal of the whole sale, or of one of its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineErrorOr {
    Sale(DomainError),
    Line(LineError),
}

impl From<DomainError> for LineErrorOr {
    fn from(e: DomainError) -> Self {
        LineErrorOr::Sale(e)
    }
}

/// Offline sales may be up to 72 hours old; a till's clock may run at most 5 minutes fast.
pub fn check_time(occurred_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), DomainError> {
    if occurred_at < now - MAX_AGE {
        return Err(DomainError::SaleTooOld(format!("occurredAt is more than {} hours ago", MAX_AGE.num_hours())));
    }
    if occurred_at > now + MAX_CLOCK_SKEW {
        return Err(DomainError::SaleInFuture(format!(
            "occurredAt is more than {} minutes ahead of the server's clock",
            MAX_CLOCK_SKEW.num_minutes()
        )));
    }
    Ok(())
}

/// A priced receipt line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReceiptLine {
    pub sku: Sku,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quantity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub weight_grams: Option<i64>,
    /// Per unit, or per kg for weighed lines.
    pub unit_amount: Money,
    pub line_amount: Money,
    pub tax_amount: Money,
    /// The adjustment that priced the line; null for an embedded-price label.
    pub adjustment_id: Option<String>,
}

/// What the catalog says about the skus a basket names, as seen from its store.
pub struct BasketCatalog<'a> {
    pub commodities: &'a HashMap<Sku, (Arc<Commodity>, Arc<Vec<Arc<PriceAdjustment>>>)>,
    /// For each scanned barcode, the skus that hold it.
    pub barcodes: &'a HashMap<String, Vec<Sku>>,
}

/// How much of a sku a basket takes, in units or grams, with its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockTake {
    pub sku: Sku,
    pub policy: StockPolicy,
    pub amount: i64,
}

/// A basket priced to the cent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedBasket {
    pub lines: Vec<ReceiptLine>,
    pub total: Money,
    pub tax_total: Money,
    /// Per sku in order of first appearance.
    pub takes: Vec<StockTake>,
}

enum Measure {
    Units(i64),
    Grams(i64),
}

struct Resolved<'a> {
    index: usize,
    commodity: &'a Commodity,
    prices: &'a [Arc<PriceAdjustment>],
    measure: Measure,
    embedded_amount: Option<Money>,
}

/// `round(amount × rate / (10000 + rate))`: the tax inside a tax-inclusive amount.
pub fn tax_included(amount: Money, rate_bp: i64) -> Money {
    Money(div_round_half_away(i128::from(amount.0) * i128::from(rate_bp), i128::from(10_000 + rate_bp)) as i64)
}

/// A weighed line: the price per kg times the grams, rounded once.
pub fn weighed_amount(per_kg: Money, grams: i64) -> Money {
    Money(div_round_half_away(i128::from(per_kg.0) * i128::from(grams), 1000) as i64)
}

/// Prices every line from the price in force at the sale's time, in the contract's order of
/// refusals: a line that does not fit its unit (400), an unknown or ambiguous item (422), no
/// price in force (422). Lines of one sku priced the same way are merged before rounding;
/// embedded-price labels are never merged.
pub fn price_basket(sale: &CheckedSale, store: &Store, catalog: &BasketCatalog<'_>) -> Result<PricedBasket, LineError> {
    let fail = |line: usize, error: DomainError| LineError { line, error };
    // Which commodity each line names (None: unknown or ambiguous, refused after unit checks).
    let mut named: Vec<Result<&(Arc<Commodity>, Arc<Vec<Arc<PriceAdjustment>>>), DomainError>> =
        Vec::with_capacity(sale.lines.len());
    for line in &sale.lines {
        named.push(match &line.item {
            LineItem::Sku(sku) => catalog
                .commodities
                .get(sku)
                .ok_or_else(|| DomainError::UnknownCommodity(format!("no commodity {sku}"))),
            LineItem::Scan(scan) => match catalog.barcodes.get(scan.barcode.as_str()).map(Vec::as_slice) {
                None | Some([]) => Err(DomainError::UnknownCommodity(format!("no commodity has barcode {}", scan.scanned))),
                Some([sku]) => catalog
                    .commodities
                    .get(sku)
                    .ok_or_else(|| DomainError::UnknownCommodity(format!("no commodity {sku}"))),
                Some(many) => Err(DomainError::AmbiguousBarcodeInSale {
                    barcode: scan.scanned.clone(),
                    skus: many.iter().map(ToString::to_string).collect(),
                }),
            },
        });
    }
    // 400s first: each known line must fit its unit.
    let mut resolved = Vec::with_capacity(sale.lines.len());
    for (index, (line, found)) in sale.lines.iter().zip(&named).enumerate() {
        let Ok((commodity, prices)) = found else { continue };
        let embedded = match &line.item {
            LineItem::Scan(scan) => scan.embedded,
            LineItem::Sku(_) => None,
        };
        let bad = |why: &str| fail(index, line_problem(index, format!("{}: {why}", commodity.sku)));
        let (measure, embedded_amount) = match (commodity.unit, embedded) {
            (Unit::Each, Some(Embedded::Amount(amount))) => {
                if line.weight_grams.is_some() {
                    return Err(bad("sold by the piece, so it takes no weightGrams"));
                }
                if line.quantity.is_some_and(|q| q != 1) {
                    return Err(bad("a price label is one item; scan each label"));
                }
                (Measure::Units(1), Some(amount))
            }
            (Unit::Each, _) => {
                if line.weight_grams.is_some() {
                    return Err(bad("sold by the piece, so it takes quantity, not weightGrams"));
                }
                (Measure::Units(line.quantity.unwrap_or(1)), None)
            }
            (Unit::Kg, Some(Embedded::WeightGrams(grams))) => {
                if line.quantity.is_some() || line.weight_grams.is_some() {
                    return Err(bad("the weight is on the label; send neither quantity nor weightGrams"));
                }
                (Measure::Grams(grams), None)
            }
            (Unit::Kg, _) => {
                if line.quantity.is_some() {
                    return Err(bad("sold by weight, so it takes weightGrams, not quantity"));
                }
                let grams = line.weight_grams.ok_or_else(|| bad("sold by weight: weightGrams is required"))?;
                (Measure::Grams(grams), None)
            }
        };
        resolved.push(Resolved { index, commodity, prices, measure, embedded_amount });
    }
    // Then 422s in line order: unknown or ambiguous items.
    if let Some((index, Err(e))) = named.iter().enumerate().find(|(_, n)| n.is_err()) {
        return Err(fail(index, e.clone()));
    }
    // Merge, then price each merged line once.
    struct Merged<'c> {
        commodity: &'c Commodity,
        measure: i64,
        /// None for an embedded-price label, which is never merged.
        price: Option<&'c PriceAdjustment>,
        embedded_amount: Money,
    }
    let mut merged: Vec<Merged<'_>> = Vec::with_capacity(resolved.len());
    let mut merged_at: HashMap<&Sku, usize> = HashMap::with_capacity(resolved.len());
    let mut takes: Vec<StockTake> = Vec::new();
    let mut take_at: HashMap<&Sku, usize> = HashMap::with_capacity(resolved.len());
    for r in &resolved {
        let c = r.commodity;
        let measure = match r.measure {
            Measure::Units(n) | Measure::Grams(n) => n,
        };
        match take_at.get(&c.sku) {
            Some(&i) => takes[i].amount += measure,
            None => {
                take_at.insert(&c.sku, takes.len());
                takes.push(StockTake { sku: c.sku.clone(), policy: c.stock_policy, amount: measure });
            }
        }
        if let Some(amount) = r.embedded_amount {
            merged.push(Merged { commodity: c, measure, price: None, embedded_amount: amount });
            continue;
        }
        if let Some(&at) = merged_at.get(&c.sku) {
            merged[at].measure += measure;
            continue;
        }
        let price = price_in_force(r.prices, store, sale.occurred_at).ok_or_else(|| {
            fail(r.index, DomainError::NoPriceInSale(format!("no price in force for {} at the sale's time", c.sku)))
        })?;
        merged_at.insert(&c.sku, merged.len());
        merged.push(Merged { commodity: c, measure, price: Some(price), embedded_amount: Money(0) });
    }
    let mut lines: Vec<ReceiptLine> = Vec::with_capacity(merged.len());
    let mut total = 0i64;
    let mut tax_total = 0i64;
    for m in merged {
        let c = m.commodity;
        let rate = c.tax_rate.basis_points();
        let line = match m.price {
            None => ReceiptLine {
                sku: c.sku.clone(),
                name: c.name.clone(),
                quantity: Some(1),
                weight_grams: None,
                unit_amount: m.embedded_amount,
                line_amount: m.embedded_amount,
                tax_amount: tax_included(m.embedded_amount, rate),
                adjustment_id: None,
            },
            Some(price) => {
                let (quantity, weight_grams, line_amount) = match c.unit {
                    Unit::Each => (Some(m.measure), None, Money(price.amount.0 * m.measure)),
                    Unit::Kg => (None, Some(m.measure), weighed_amount(price.amount, m.measure)),
                };
                ReceiptLine {
                    sku: c.sku.clone(),
                    name: c.name.clone(),
                    quantity,
                    weight_grams,
                    unit_amount: price.amount,
                    line_amount,
                    tax_amount: tax_included(line_amount, rate),
                    adjustment_id: Some(price.id.text()),
                }
            }
        };
        total += line.line_amount.0;
        tax_total += line.tax_amount.0;
        lines.push(line);
    }
    Ok(PricedBasket { lines, total: Money(total), tax_total: Money(tax_total), takes })
}

/// What was paid and what goes back in cash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub paid: Money,
    pub change: Money,
}

/// Payments must cover the total; card and mobile may not exceed it (only cash gives change).
pub fn settle(total: Money, payments: &[Payment]) -> Result<Settlement, DomainError> {
    let paid: i64 = payments.iter().map(|p| p.amount.0).sum();
    let exact: i64 = payments.iter().filter(|p| p.method != PaymentMethod::Cash).map(|p| p.amount.0).sum();
    if paid < total.0 {
        return Err(DomainError::PaymentMismatch(format!("payments add up to {paid}, less than the total {}", total.0)));
    }
    if exact > total.0 {
        return Err(DomainError::PaymentMismatch(format!(
            "card and mobile payments add up to {exact}, more than the total {}; only cash gives change",
            total.0
        )));
    }
    Ok(Settlement { paid: Money(paid), change: Money(paid - total.0) })
}

/// A recorded sale, as the till gets it back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub sale_id: String,
    pub receipt_no: String,
    pub store_id: StoreId,
    pub terminal_id: TerminalId,
    pub business_day: NaiveDate,
    #[serde(with = "instant")]
    pub occurred_at: DateTime<Utc>,
    #[serde(with = "instant")]
    pub created_at: DateTime<Utc>,
    pub lines: Vec<ReceiptLine>,
    pub payments: Vec<Payment>,
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
}

/// `T07-000042`: unique in the store (terminal ids are), increasing per terminal.
pub fn receipt_no(terminal: &TerminalId, sequence: u64) -> String {
    format!("{terminal}-{sequence:06}")
}

/// Fixes a priced, paid basket into a sale.
pub fn record_sale(
    sale_id: String,
    sequence: u64,
    store: &Store,
    sale: &CheckedSale,
    basket: PricedBasket,
    settlement: Settlement,
    created_at: DateTime<Utc>,
) -> SaleRecord {
    let local = sale.occurred_at.with_timezone(&store.timezone);
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
            payments: sale.payments.clone(),
            total: basket.total,
            tax_total: basket.tax_total,
            paid: settlement.paid,
            change: settlement.change,
            currency: CURRENCY.to_owned(),
        },
        local_hour: local.hour() as u8,
    }
}
