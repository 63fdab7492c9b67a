//! The sale as the till sends it, its fingerprint for retries, and the checks that need no catalog.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{MAX_AGE, MAX_CLOCK_SKEW, MAX_LINES, MAX_PAYMENTS, MAX_QUANTITY, MAX_WEIGHT_GRAMS, Payment};
use crate::domain::barcode::Scan;
use crate::domain::ids::{Sku, TerminalId};
use crate::domain::money::Money;
use crate::domain::refusal::{Invalid, SaleRefusal};
use crate::domain::time::parse_instant;

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

/// A line that is malformed, said of that line.
pub(super) fn line_problem(index: usize, detail: String) -> SaleRefusal {
    SaleRefusal::from(Invalid::request(format!("lines[{index}]: {detail}"))).at_line(index)
}

impl SaleDraft {
    /// Equal for sales that are equal as parsed JSON (an absent optional member and `null` are
    /// the same sale): what a retried request must match to be a replay.
    pub fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        // A canonical binary form of the parsed sale (every member tagged, every text
        // length-prefixed), hashed directly: cheaper than hashing its JSON, and as exact.
        fn text(h: &mut Sha256, t: Option<&str>) {
            match t {
                None => h.update([0]),
                Some(t) => {
                    h.update([1]);
                    h.update((t.len() as u64).to_le_bytes());
                    h.update(t.as_bytes());
                }
            }
        }
        fn number(h: &mut Sha256, n: Option<i64>) {
            match n {
                None => h.update([0]),
                Some(n) => {
                    h.update([1]);
                    h.update(n.to_le_bytes());
                }
            }
        }
        let mut h = Sha256::new();
        text(&mut h, Some(self.terminal_id.as_str()));
        h.update((self.lines.len() as u64).to_le_bytes());
        for line in &self.lines {
            text(&mut h, line.sku.as_deref());
            text(&mut h, line.barcode.as_deref());
            number(&mut h, line.quantity);
            number(&mut h, line.weight_grams);
        }
        h.update((self.payments.len() as u64).to_le_bytes());
        for p in &self.payments {
            h.update([p.method as u8]);
            h.update(p.amount.minor_units().to_le_bytes());
        }
        text(&mut h, self.occurred_at.as_deref());
        let digest = h.finalize();
        let mut hex = String::with_capacity(64);
        for b in digest {
            hex.push(char::from_digit(u32::from(b >> 4), 16).expect("a nibble"));
            hex.push(char::from_digit(u32::from(b & 15), 16).expect("a nibble"));
        }
        hex
    }

    /// Checks everything that needs no catalog: counts, ranges, ids, barcodes, and the time
    /// (`now` when the till sends none). The time window itself is [`check_time`]'s.
    pub fn check(&self, now: DateTime<Utc>) -> Result<CheckedSale, SaleRefusal> {
        if !(1..=MAX_LINES).contains(&self.lines.len()) {
            return Err(Invalid::request(format!("lines must hold 1 to {MAX_LINES} entries")).into());
        }
        if !(1..=MAX_PAYMENTS).contains(&self.payments.len()) {
            return Err(Invalid::request(format!("payments must hold 1 to {MAX_PAYMENTS} entries")).into());
        }
        for (i, p) in self.payments.iter().enumerate() {
            if !(1..=Money::MAX).contains(&p.amount.minor_units()) {
                return Err(Invalid::request(format!("payments[{i}].amount must be between 1 and {}", Money::MAX)).into());
            }
        }
        let occurred_at = self.occurred_at.as_deref().map(parse_instant).transpose()?.unwrap_or(now);
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, l) in self.lines.iter().enumerate() {
            let at = |e: Invalid| SaleRefusal::from(e).at_line(i);
            let item = match (&l.sku, &l.barcode) {
                (Some(sku), None) => LineItem::Sku(Sku::parse(sku).map_err(at)?),
                (None, Some(code)) => LineItem::Scan(Scan::parse(code).map_err(at)?),
                _ => return Err(line_problem(i, "name exactly one of sku and barcode".into())),
            };
            if l.quantity.is_some() && l.weight_grams.is_some() {
                return Err(line_problem(i, "send quantity or weightGrams, not both".into()));
            }
            if let Some(q) = l.quantity
                && !(1..=MAX_QUANTITY).contains(&q)
            {
                return Err(line_problem(i, format!("quantity must be between 1 and {MAX_QUANTITY}")));
            }
            if let Some(g) = l.weight_grams
                && !(1..=MAX_WEIGHT_GRAMS).contains(&g)
            {
                return Err(line_problem(i, format!("weightGrams must be between 1 and {MAX_WEIGHT_GRAMS}")));
            }
            lines.push(CheckedLine { item, quantity: l.quantity, weight_grams: l.weight_grams });
        }
        Ok(CheckedSale { terminal_id: self.terminal_id.clone(), lines, payments: self.payments.clone(), occurred_at })
    }
}

/// Offline sales may be up to 72 hours old; a till's clock may run at most 5 minutes fast.
pub fn check_time(occurred_at: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), SaleRefusal> {
    if occurred_at < now - MAX_AGE {
        return Err(SaleRefusal::TooOld(format!("occurredAt is more than {} hours ago", MAX_AGE.num_hours())));
    }
    if occurred_at > now + MAX_CLOCK_SKEW {
        return Err(SaleRefusal::InFuture(format!(
            "occurredAt is more than {} minutes ahead of the server's clock",
            MAX_CLOCK_SKEW.num_minutes()
        )));
    }
    Ok(())
}
