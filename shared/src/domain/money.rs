//! Money in integer minor units of the chain's one currency.

use serde::{Deserialize, Serialize};

use super::refusal::Invalid;

/// The chain's one currency, stated on every top-level priced object.
pub const CURRENCY: &str = "CNY";

/// An amount in minor units (`1299` is 12.99). Never floating point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(transparent)]
pub struct Money(i64);

impl Money {
    pub const ZERO: Money = Money(0);

    /// The largest amount the API accepts in one field.
    pub const MAX: i64 = 1_000_000_000;

    /// A price: at least one minor unit, at most [`Money::MAX`].
    pub fn price(amount: i64) -> Result<Self, Invalid> {
        if (1..=Self::MAX).contains(&amount) {
            Ok(Money(amount))
        } else {
            Err(Invalid::Request(format!(
                "amount {amount} must be between 1 and {}",
                Self::MAX
            )))
        }
    }

    /// An amount as it is (a total, a tender, change): only prices have bounds of their own.
    pub const fn from_minor_units(amount: i64) -> Self {
        Money(amount)
    }

    pub const fn minor_units(self) -> i64 {
        self.0
    }
}

// Sums of amounts (totals, reports). In the `checked` profile the tests run, an overflow panics;
// no sum the API allows comes near i64 (each field is at most `Money::MAX`, batches are bounded).
impl std::ops::Add for Money {
    type Output = Money;
    fn add(self, other: Money) -> Money {
        Money(self.0 + other.0)
    }
}

impl std::ops::Sub for Money {
    type Output = Money;
    fn sub(self, other: Money) -> Money {
        Money(self.0 - other.0)
    }
}

impl std::ops::AddAssign for Money {
    fn add_assign(&mut self, other: Money) {
        self.0 += other.0;
    }
}

impl std::ops::SubAssign for Money {
    fn sub_assign(&mut self, other: Money) {
        self.0 -= other.0;
    }
}

impl std::iter::Sum for Money {
    fn sum<I: Iterator<Item = Money>>(amounts: I) -> Money {
        amounts.fold(Money(0), |total, amount| total + amount)
    }
}

/// `numerator / denominator` rounded half away from zero, in exact integer arithmetic.
pub fn div_round_half_away(numerator: i128, denominator: i128) -> i128 {
    assert!(denominator > 0, "denominator must be positive");
    // Every amount a sale prices fits in 64 bits: the same arithmetic there, without a 128-bit
    // division (a call to a runtime routine).
    if let (Ok(n), Ok(d)) = (i64::try_from(numerator), i64::try_from(denominator)) {
        let (q, r) = (n / d, n % d);
        // |r| < d ≤ i64::MAX, so twice it fits in a u64.
        return i128::from(if 2 * r.unsigned_abs() >= d.unsigned_abs() { q + n.signum() } else { q });
    }
    let q = numerator / denominator;
    let r = numerator % denominator;
    if 2 * r.abs() >= denominator {
        q + numerator.signum()
    } else {
        q
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rounds_half_away_from_zero() {
        assert_eq!(div_round_half_away(5, 10), 1);
        assert_eq!(div_round_half_away(4, 10), 0);
        assert_eq!(div_round_half_away(-5, 10), -1);
        assert_eq!(div_round_half_away(15, 10), 2);
        assert_eq!(div_round_half_away(1499, 1000), 1);
        assert_eq!(div_round_half_away(1500, 1000), 2);
    }

    proptest! {
        /// The 64-bit path gives what 128-bit arithmetic gives.
        #[test]
        fn rounds_as_in_128_bits(
            numerator in prop_oneof![-1_000_000_000_000i128..1_000_000_000_000, any::<i64>().prop_map(i128::from), any::<i128>()],
            denominator in prop_oneof![1i128..20_000, 1..=i128::from(i64::MAX), 1..=i128::MAX / 2],
        ) {
            let q = numerator / denominator;
            let r = numerator % denominator;
            let wide = if 2 * r.abs() >= denominator { q + numerator.signum() } else { q };
            prop_assert_eq!(div_round_half_away(numerator, denominator), wide);
        }
    }

    #[test]
    fn prices_are_bounded() {
        assert!(Money::price(0).is_err());
        assert!(Money::price(-1).is_err());
        assert!(Money::price(1).is_ok());
        assert!(Money::price(Money::MAX).is_ok());
        assert!(Money::price(Money::MAX + 1).is_err());
    }
}
