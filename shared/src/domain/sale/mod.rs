//! A sale at a till: the basket as the till sends it ([`draft`]), priced by the server line by
//! line ([`basket`]), paid ([`settlement`]), and fixed into a receipt ([`receipt`]).

mod basket;
mod draft;
mod receipt;
mod settlement;

pub use basket::*;
pub use draft::*;
pub use receipt::*;
pub use settlement::*;

use chrono::Duration;
use serde::{Deserialize, Serialize};

use super::money::Money;

/// Most sales one offline upload may carry.
pub const MAX_BATCH_SALES: usize = 100;
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

impl PaymentMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentMethod::Cash => "cash",
            PaymentMethod::Card => "card",
            PaymentMethod::Mobile => "mobile",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payment {
    pub method: PaymentMethod,
    pub amount: Money,
}


#[cfg(test)]
mod tests;
