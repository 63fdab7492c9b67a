//! Taking goods back: which lines of a sale and how much of them may come back, what that
//! refunds (to the cent, by the cumulative formula), to which tenders, and what goes back on
//! the shelf. A return may come to any store of the chain; the sale's returned amounts are
//! guarded wherever it comes from.

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

use super::catalog::Store;
use super::ids::{ReturnId, SaleId, Sku, StoreId, TerminalId};
use super::money::{CURRENCY, Money, div_round_half_away};
use super::refusal::{Invalid, NotFound};
use super::sale::{MAX_LINES, MAX_PAYMENTS, MAX_QUANTITY, MAX_WEIGHT_GRAMS, Payment, PaymentMethod, ReceiptLine, SaleRecord, receipt_no};
use super::time::instant;

/// A return is taken up to this many days after the sale's business day.
pub const RETURN_WINDOW_DAYS: u64 = 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnReason {
    Unwanted,
    WrongItem,
    Damaged,
    Expired,
}

impl ReturnReason {
    /// Goods that are fine go back on the shelf; damaged or expired ones do not.
    pub fn restocks_by_default(self) -> bool {
        matches!(self, ReturnReason::Unwanted | ReturnReason::WrongItem)
    }
}

/// The sale a return names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SaleRef {
    pub store_id: StoreId,
    pub sale_id: SaleId,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReturnLineDraft {
    /// 0-based index into the sale's receipt lines.
    pub line: usize,
    #[serde(default)]
    pub quantity: Option<i64>,
    #[serde(default)]
    pub weight_grams: Option<i64>,
}

/// A return as the till or the service desk sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReturnDraft {
    pub terminal_id: TerminalId,
    pub sale: SaleRef,
    pub lines: Vec<ReturnLineDraft>,
    pub reason: ReturnReason,
    #[serde(default)]
    pub restock: Option<bool>,
    #[serde(default)]
    pub refunds: Option<Vec<Payment>>,
}

impl ReturnDraft {
    /// Equal for returns equal as parsed JSON; never equal to a sale's (the key space is shared).
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        h.update(b"return\0");
        // The draft's own serialization: members in declaration order, absent and null alike.
        h.update(serde_json::to_vec(self).expect("a return draft serializes"));
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Everything that needs neither the sale nor the store: counts, ranges, each line once.
    pub fn check(&self) -> Result<(), ReturnRefusal> {
        if !(1..=MAX_LINES).contains(&self.lines.len()) {
            return Err(Invalid::request(format!("lines must hold 1 to {MAX_LINES} entries")).into());
        }
        let mut seen = std::collections::HashSet::new();
        for (i, l) in self.lines.iter().enumerate() {
            let problem = |detail: String| ReturnRefusal::from(Invalid::request(format!("lines[{i}]: {detail}"))).at_line(i);
            if !seen.insert(l.line) {
                return Err(problem(format!("line {} is named twice; name each line at most once", l.line)));
            }
            if l.quantity.is_some() && l.weight_grams.is_some() {
                return Err(problem("send quantity or weightGrams, not both".into()));
            }
            if let Some(q) = l.quantity
                && !(1..=MAX_QUANTITY).contains(&q)
            {
                return Err(problem(format!("quantity must be between 1 and {MAX_QUANTITY}")));
            }
            if let Some(g) = l.weight_grams
                && !(1..=MAX_WEIGHT_GRAMS).contains(&g)
            {
                return Err(problem(format!("weightGrams must be between 1 and {MAX_WEIGHT_GRAMS}")));
            }
        }
        if let Some(refunds) = &self.refunds {
            if refunds.len() > MAX_PAYMENTS {
                return Err(Invalid::request(format!("refunds must hold at most {MAX_PAYMENTS} entries")).into());
            }
            for (i, r) in refunds.iter().enumerate() {
                if !(1..=Money::MAX).contains(&r.amount.minor_units()) {
                    return Err(Invalid::request(format!("refunds[{i}].amount must be between 1 and {}", Money::MAX)).into());
                }
            }
        }
        Ok(())
    }
}

/// Money by tender.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByMethod {
    pub cash: Money,
    pub card: Money,
    pub mobile: Money,
}

impl ByMethod {
    pub fn get(&self, method: PaymentMethod) -> Money {
        match method {
            PaymentMethod::Cash => self.cash,
            PaymentMethod::Card => self.card,
            PaymentMethod::Mobile => self.mobile,
        }
    }

    pub fn add(&mut self, method: PaymentMethod, amount: Money) {
        match method {
            PaymentMethod::Cash => self.cash += amount,
            PaymentMethod::Card => self.card += amount,
            PaymentMethod::Mobile => self.mobile += amount,
        }
    }

    pub fn of(payments: &[Payment]) -> Self {
        let mut by = ByMethod::default();
        for p in payments {
            by.add(p.method, p.amount);
        }
        by
    }
}

/// What has come back of one receipt line so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LineReturned {
    /// Units, or grams of a weighed line.
    pub amount: i64,
    pub refund: Money,
    pub tax: Money,
}

/// What has come back of a sale so far, kept with the sale. `count` is how many returns made it:
/// a commit names the count it planned from, so two returns planned from one reading cannot
/// both land.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Returned {
    pub count: u64,
    /// By receipt line (shorter than the receipt when later lines have had nothing back).
    pub lines: Vec<LineReturned>,
    pub refunded: ByMethod,
}

impl Returned {
    pub fn line(&self, index: usize) -> LineReturned {
        self.lines.get(index).copied().unwrap_or_default()
    }
}

/// One return of a sale, as the sale lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnSummary {
    pub return_id: ReturnId,
    pub store_id: StoreId,
    #[serde(with = "instant")]
    pub created_at: DateTime<Utc>,
    pub total: Money,
}

/// A sale with what has come back of it: what a return is planned from.
#[derive(Debug, Clone)]
pub struct SaleReturns {
    pub sale: Arc<SaleRecord>,
    pub returned: Returned,
    /// Its returns in the order they were made.
    pub returns: Vec<ReturnSummary>,
}

/// How much of a line was sold: units, or the grams of a weighed line.
pub fn sold(line: &ReceiptLine) -> i64 {
    line.quantity.or(line.weight_grams).unwrap_or(0)
}

/// What returning `q` more of a line of `n` sold with `r` already back refunds, of a line
/// amount `amount`: `round(amount × (r+q)/n) − round(amount × r/n)`, so that the refunds of a
/// line add up to exactly `amount` once all of it is back and never pass it on the way.
pub fn cumulative_share(amount: Money, sold: i64, returned: i64, q: i64) -> Money {
    let at = |k: i64| div_round_half_away(i128::from(amount.minor_units()) * i128::from(k), i128::from(sold.max(1)));
    Money::from_minor_units((at(returned + q) - at(returned)) as i64)
}

/// The last business day a return of a sale of `business_day` is taken.
pub fn returnable_until(business_day: NaiveDate) -> NaiveDate {
    business_day.checked_add_days(Days::new(RETURN_WINDOW_DAYS)).unwrap_or(NaiveDate::MAX)
}

/// What each tender may still take back: what it paid (cash net of change) less what was
/// refunded to it (never below zero: cash may be refunded beyond what cash paid).
pub fn refundable_by_method(sale: &SaleRecord, returned: &Returned) -> ByMethod {
    let paid = ByMethod::of(&sale.receipt.payments);
    let left = |method: PaymentMethod| {
        let mut p = paid.get(method);
        if method == PaymentMethod::Cash {
            p -= sale.receipt.change;
        }
        Money::from_minor_units((p - returned.refunded.get(method)).minor_units().max(0))
    };
    ByMethod { cash: left(PaymentMethod::Cash), card: left(PaymentMethod::Card), mobile: left(PaymentMethod::Mobile) }
}

/// The default refund of `total`: card first, then mobile, each up to what it has left, the
/// rest in cash.
pub fn default_refunds(total: Money, left: ByMethod) -> Vec<Payment> {
    let mut rest = total;
    let mut refunds = Vec::new();
    for method in [PaymentMethod::Card, PaymentMethod::Mobile] {
        let amount = Money::from_minor_units(rest.minor_units().min(left.get(method).minor_units()));
        if amount > Money::ZERO {
            refunds.push(Payment { method, amount });
            rest -= amount;
        }
    }
    if rest > Money::ZERO {
        refunds.push(Payment { method: PaymentMethod::Cash, amount: rest });
    }
    refunds
}

/// One line of a return receipt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnReceiptLine {
    pub line: usize,
    pub sku: Sku,
    pub name: Arc<str>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub quantity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub weight_grams: Option<i64>,
    pub refund_amount: Money,
    pub tax_amount: Money,
    pub restocked: bool,
}

/// The sale a return receipt names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnedSale {
    pub store_id: StoreId,
    pub sale_id: SaleId,
    pub receipt_no: String,
}

/// A recorded return, as the till gets it back and as reports fold it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnReceipt {
    pub return_id: ReturnId,
    pub return_no: String,
    /// The store that took the goods back (and counts the return).
    pub store_id: StoreId,
    pub terminal_id: TerminalId,
    #[serde(with = "crate::domain::time::date")]
    pub business_day: NaiveDate,
    #[serde(with = "instant")]
    pub created_at: DateTime<Utc>,
    pub reason: ReturnReason,
    pub sale: ReturnedSale,
    pub lines: Vec<ReturnReceiptLine>,
    pub refunds: Vec<Payment>,
    pub total: Money,
    pub tax_total: Money,
    pub currency: String,
}

/// Stock that goes back on the returning store's shelf.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restock {
    pub sku: Sku,
    /// Units, or grams of a weighed commodity.
    pub amount: i64,
    /// How many items the sku's stock was split over when it was sold.
    pub shards: u16,
}

/// A return worked out against one reading of its sale, ready to commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReturnPlan {
    pub lines: Vec<ReturnReceiptLine>,
    pub refunds: Vec<Payment>,
    pub total: Money,
    pub tax_total: Money,
    /// The sale's returned amounts once this return is in (`count` one more).
    pub returned_after: Returned,
    /// The `count` it was planned from: the commit lands only if it is still the sale's.
    pub planned_from: u64,
    pub restocks: Vec<Restock>,
}

/// A line asked for more than is left of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exceeded {
    pub line: usize,
    pub requested: i64,
    pub returnable: i64,
}

/// Why a return is not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReturnRefusal {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The returning store, or the sale.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// The refusal of one line of the request (0-based index into the request's lines).
    #[error("{refusal}")]
    AtLine { line: usize, refusal: Box<ReturnRefusal> },
    #[error("{0}")]
    WindowClosed(String),
    /// An embedded-price line asked for in part.
    #[error("{0}")]
    NotReturnable(String),
    #[error("{0}")]
    RefundMismatch(String),
    #[error("more than is left to return of {} line(s)", .0.len())]
    ExceedsSale(Vec<Exceeded>),
    #[error("this idempotency key was used for a different sale or return")]
    KeyReused,
    #[error("a return with this idempotency key is still in progress; retry with the same key")]
    InProgress,
    /// Another return of the sale landed between the reading and the commit: plan again.
    /// The use case handles it; it never reaches a client.
    #[error("the sale's returns changed meanwhile")]
    SaleChanged,
}

impl ReturnRefusal {
    pub fn at_line(self, line: usize) -> Self {
        ReturnRefusal::AtLine { line, refusal: Box::new(self) }
    }
}

/// Plans `draft` (checked) against `sale` as read, for `store` taking it back at `now`.
/// Refusals in the contract's order: a request line that does not fit its sale line (400), the
/// window (422), an embedded-price line asked for in part (422), more than is left (409),
/// explicit refunds that do not add up (422: judged only on a return that can be made, so a
/// till whose line ran out hears that, not that its refund is wrong).
pub fn plan_return(draft: &ReturnDraft, found: &SaleReturns, store: &Store, now: DateTime<Utc>) -> Result<ReturnPlan, ReturnRefusal> {
    let receipt = &found.sale.receipt;
    let returned = &found.returned;
    let mut asked = Vec::with_capacity(draft.lines.len());
    for (i, l) in draft.lines.iter().enumerate() {
        let at = |detail: String| ReturnRefusal::from(Invalid::request(format!("lines[{i}]: {detail}"))).at_line(i);
        let Some(sale_line) = receipt.lines.get(l.line) else {
            return Err(at(format!("the sale has {} lines; there is no line {}", receipt.lines.len(), l.line)));
        };
        let weighed = sale_line.weight_grams.is_some();
        if weighed && l.quantity.is_some() {
            return Err(at(format!("line {} is weighed: send weightGrams, not quantity", l.line)));
        }
        if !weighed && l.weight_grams.is_some() {
            return Err(at(format!("line {} is sold by the unit: send quantity, not weightGrams", l.line)));
        }
        let left = sold(sale_line) - returned.line(l.line).amount;
        // An each line without quantity returns one unit; a weighed one without weight, all that is left.
        let q = if weighed { l.weight_grams.unwrap_or(left) } else { l.quantity.unwrap_or(1) };
        asked.push((i, l.line, sale_line, q, left));
    }
    let today = now.with_timezone(&store.timezone).date_naive();
    let until = returnable_until(receipt.business_day);
    if today > until {
        return Err(ReturnRefusal::WindowClosed(format!(
            "the sale of {} could be returned until {until}",
            receipt.business_day
        )));
    }
    for &(i, index, sale_line, q, _) in &asked {
        // An embedded-price label is priced as one thing: it comes back whole or not at all.
        if sale_line.adjustment_id.is_none() && q != sold(sale_line) {
            return Err(ReturnRefusal::NotReturnable(format!(
                "line {index} is an embedded-price label: return all of it ({}) or none",
                sold(sale_line)
            ))
            .at_line(i));
        }
    }
    let exceeded: Vec<Exceeded> = asked
        .iter()
        .filter(|&&(_, _, _, q, left)| q == 0 || q > left)
        .map(|&(_, index, _, q, left)| Exceeded { line: index, requested: q, returnable: left.max(0) })
        .collect();
    if !exceeded.is_empty() {
        return Err(ReturnRefusal::ExceedsSale(exceeded));
    }

    let restock = draft.restock.unwrap_or(draft.reason.restocks_by_default());
    let mut after = returned.clone();
    after.count += 1;
    if after.lines.len() < receipt.lines.len() {
        after.lines.resize(receipt.lines.len(), LineReturned::default());
    }
    let mut lines = Vec::with_capacity(asked.len());
    let mut restocks: BTreeMap<Sku, Restock> = BTreeMap::new();
    let (mut total, mut tax_total) = (Money::ZERO, Money::ZERO);
    for &(_, index, sale_line, q, _) in &asked {
        let before = returned.line(index).amount;
        let n = sold(sale_line);
        let refund = cumulative_share(sale_line.net_amount, n, before, q);
        let tax = cumulative_share(sale_line.tax_amount, n, before, q);
        let back = &mut after.lines[index];
        back.amount += q;
        back.refund += refund;
        back.tax += tax;
        total += refund;
        tax_total += tax;
        let weighed = sale_line.weight_grams.is_some();
        lines.push(ReturnReceiptLine {
            line: index,
            sku: sale_line.sku.clone(),
            name: sale_line.name.clone(),
            quantity: (!weighed).then_some(q),
            weight_grams: weighed.then_some(q),
            refund_amount: refund,
            tax_amount: tax,
            restocked: restock,
        });
        if restock {
            let shards = found.sale.stock_shards.get(index).copied().unwrap_or(1).max(1);
            restocks
                .entry(sale_line.sku.clone())
                .or_insert(Restock { sku: sale_line.sku.clone(), amount: 0, shards })
                .amount += q;
        }
    }

    let left = refundable_by_method(&found.sale, returned);
    let refunds = match &draft.refunds {
        None => default_refunds(total, left),
        Some(asked) => {
            let sum: Money = asked.iter().map(|r| r.amount).sum();
            if sum != total {
                return Err(ReturnRefusal::RefundMismatch(format!(
                    "refunds add up to {}; this return refunds {}",
                    sum.minor_units(),
                    total.minor_units()
                )));
            }
            let by = ByMethod::of(asked);
            for method in [PaymentMethod::Card, PaymentMethod::Mobile] {
                if by.get(method) > left.get(method) {
                    return Err(ReturnRefusal::RefundMismatch(format!(
                        "{} refunds add up to {}; {} has {} left to refund on this sale",
                        method.as_str(),
                        by.get(method).minor_units(),
                        method.as_str(),
                        left.get(method).minor_units()
                    )));
                }
            }
            asked.clone()
        }
    };
    for r in &refunds {
        after.refunded.add(r.method, r.amount);
    }
    Ok(ReturnPlan {
        lines,
        refunds,
        total,
        tax_total,
        returned_after: after,
        planned_from: returned.count,
        restocks: restocks.into_values().collect(),
    })
}

/// Fixes a planned return into its receipt: numbered in the returning store, dated there.
#[allow(clippy::too_many_arguments)]
pub fn record_return(
    return_id: ReturnId,
    sequence: u64,
    store: &Store,
    draft: &ReturnDraft,
    sale: &SaleRecord,
    plan: &ReturnPlan,
    created_at: DateTime<Utc>,
) -> ReturnReceipt {
    ReturnReceipt {
        return_id,
        return_no: return_no(&draft.terminal_id, sequence),
        store_id: store.store_id.clone(),
        terminal_id: draft.terminal_id.clone(),
        business_day: created_at.with_timezone(&store.timezone).date_naive(),
        created_at,
        reason: draft.reason,
        sale: ReturnedSale {
            store_id: sale.receipt.store_id.clone(),
            sale_id: sale.receipt.sale_id.clone(),
            receipt_no: sale.receipt.receipt_no.clone(),
        },
        lines: plan.lines.clone(),
        refunds: plan.refunds.clone(),
        total: plan.total,
        tax_total: plan.tax_total,
        currency: CURRENCY.to_owned(),
    }
}

/// `T07-R000043`: from the same sequence as the terminal's receipts, marked as a return.
pub fn return_no(terminal: &TerminalId, sequence: u64) -> String {
    let no = receipt_no(terminal, sequence);
    match no.split_once('-') {
        Some((t, n)) if t == terminal.as_str() => format!("{t}-R{n}"),
        _ => format!("R{no}"),
    }
}

/// `GET .../sales/{saleId}/returnable`: what is left to return of a sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Returnable {
    pub sale_id: SaleId,
    pub store_id: StoreId,
    #[serde(with = "crate::domain::time::date")]
    pub business_day: NaiveDate,
    #[serde(with = "crate::domain::time::date")]
    pub returnable_until: NaiveDate,
    pub lines: Vec<ReturnableLine>,
    pub refundable_by_method: ByMethod,
    pub returns: Vec<ReturnSummary>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReturnableLine {
    pub line: usize,
    pub sku: Sku,
    pub name: Arc<str>,
    pub sold: i64,
    pub returned: i64,
    pub returnable: i64,
    /// What the rest of the line would refund: N − round(N × returned / sold).
    pub refundable: Money,
}

pub fn returnable(found: &SaleReturns) -> Returnable {
    let r = &found.sale.receipt;
    let lines = r
        .lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let (n, back) = (sold(l), found.returned.line(i).amount);
            ReturnableLine {
                line: i,
                sku: l.sku.clone(),
                name: l.name.clone(),
                sold: n,
                returned: back,
                returnable: (n - back).max(0),
                refundable: cumulative_share(l.net_amount, n, back, n - back),
            }
        })
        .collect();
    Returnable {
        sale_id: r.sale_id.clone(),
        store_id: r.store_id.clone(),
        business_day: r.business_day,
        returnable_until: returnable_until(r.business_day),
        lines,
        refundable_by_method: refundable_by_method(&found.sale, &found.returned),
        returns: found.returns.clone(),
    }
}

#[cfg(test)]
mod tests;
