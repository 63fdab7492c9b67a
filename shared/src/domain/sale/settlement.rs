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
/// A total or payments past the money limit are refused first: no field of a receipt may
/// hold more than one amount field of a request may (`Money::MAX`).
pub fn settle(total: Money, payments: &[Payment]) -> Result<Settlement, SaleRefusal> {
    let paid: Money = payments.iter().map(|p| p.amount).sum();
    for (what, amount) in [("the total", total), ("the payments", paid)] {
        if amount.minor_units() > Money::MAX {
            return Err(SaleRefusal::AmountTooLarge(format!(
                "{what} would be {}, more than the limit {}",
                amount.minor_units(),
                Money::MAX
            )));
        }
    }
    let exact: Money = payments.iter().filter(|p| p.method != PaymentMethod::Cash).map(|p| p.amount).sum();
    if paid < total {
        return Err(SaleRefusal::PaymentMismatch(format!(
            "payments add up to {}, less than the total {}",
            paid.minor_units(),
            total.minor_units()
        )));
    }
    if exact > total {
        return Err(SaleRefusal::PaymentMismatch(format!(
            "card and mobile payments add up to {}, more than the total {}; only cash gives change",
            exact.minor_units(),
            total.minor_units()
        )));
    }
    Ok(Settlement { paid, change: paid - total })
}
