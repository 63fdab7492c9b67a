//! Payment and change.

use super::{Payment, PaymentMethod};
use crate::domain::money::Money;
use crate::domain::refusal::SaleRefusal;

/// What was paid and what goes back in cash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settlement {
    pub paid: Money,
    pub change: Money,
}

/// Payments must cover the total; card and mobile may not exceed it (only cash gives change).
pub fn settle(total: Money, payments: &[Payment]) -> Result<Settlement, SaleRefusal> {
    let paid: i64 = payments.iter().map(|p| p.amount.0).sum();
    let exact: i64 = payments.iter().filter(|p| p.method != PaymentMethod::Cash).map(|p| p.amount.0).sum();
    if paid < total.0 {
        return Err(SaleRefusal::PaymentMismatch(format!("payments add up to {paid}, less than the total {}", total.0)));
    }
    if exact > total.0 {
        return Err(SaleRefusal::PaymentMismatch(format!(
            "card and mobile payments add up to {exact}, more than the total {}; only cash gives change",
            total.0
        )));
    }
    Ok(Settlement { paid: Money(paid), change: Money(paid - total.0) })
}
