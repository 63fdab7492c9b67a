//! Stock movements: receipts, counts and damage a store records.

use serde::Deserialize;
use std::collections::BTreeMap;

use super::catalog::StockPolicy;
use super::error::{DomainError, Shortage};
use super::ids::Sku;

pub const MAX_MOVEMENTS: usize = 100;
pub const MAX_DELTA: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MovementReason {
    Receipt,
    Count,
    Damage,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockMovement {
    pub sku: Sku,
    /// Signed change: units for `each` items, grams for `kg` items.
    pub delta: i64,
    pub reason: MovementReason,
}

/// What a request's movements do to one sku, applied in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockChange {
    pub net: i64,
    /// The lowest the running change gets (0 or below): strict stock must cover it.
    pub lowest: i64,
}

/// Folds movements per sku, in the order given, after checking each delta's range.
pub fn changes_by_sku(movements: &[StockMovement]) -> Result<BTreeMap<Sku, StockChange>, DomainError> {
    if movements.is_empty() || movements.len() > MAX_MOVEMENTS {
        return Err(DomainError::Invalid(format!("movements must hold 1 to {MAX_MOVEMENTS} entries")));
    }
    let mut out: BTreeMap<Sku, StockChange> = BTreeMap::new();
    for (i, m) in movements.iter().enumerate() {
        if m.delta.abs() > MAX_DELTA {
            return Err(DomainError::Invalid(format!(
                "movements[{i}].delta {} is beyond ±{MAX_DELTA}",
                m.delta
            )));
        }
        let c = out.entry(m.sku.clone()).or_insert(StockChange { net: 0, lowest: 0 });
        c.net += m.delta;
        c.lowest = c.lowest.min(c.net);
    }
    Ok(out)
}

/// Checks a change against what is on hand: strict stock never goes below zero.
pub fn check_change(sku: &Sku, policy: StockPolicy, on_hand: i64, change: StockChange) -> Result<i64, Shortage> {
    if policy == StockPolicy::Strict && on_hand + change.lowest < 0 {
        return Err(Shortage { sku: sku.to_string(), requested: -change.lowest, available: on_hand.max(0) });
    }
    Ok(on_hand + change.net)
}

/// Turns shortages into the refusal a client sees.
pub fn out_of_stock(shortages: Vec<Shortage>) -> DomainError {
    DomainError::OutOfStock { shortages }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mv(sku: &str, delta: i64) -> StockMovement {
        StockMovement { sku: Sku::parse(sku).unwrap(), delta, reason: MovementReason::Count }
    }

    #[test]
    fn running_total_is_checked_in_order() {
        let c = changes_by_sku(&[mv("A", -5), mv("A", 10), mv("B", 3)]).unwrap();
        let a = c[&Sku::parse("A").unwrap()];
        assert_eq!(a, StockChange { net: 5, lowest: -5 });
        assert!(check_change(&Sku::parse("A").unwrap(), StockPolicy::Strict, 4, a).is_err());
        assert_eq!(check_change(&Sku::parse("A").unwrap(), StockPolicy::Strict, 5, a), Ok(10));
        assert_eq!(check_change(&Sku::parse("A").unwrap(), StockPolicy::Track, 0, a), Ok(5));
    }

    #[test]
    fn limits_are_enforced() {
        assert!(changes_by_sku(&[]).is_err());
        assert!(changes_by_sku(&[mv("A", 1_000_001)]).is_err());
        assert!(changes_by_sku(&[mv("A", -1_000_000)]).is_ok());
        let many: Vec<_> = (0..101).map(|_| mv("A", 1)).collect();
        assert!(changes_by_sku(&many).is_err());
    }
}
