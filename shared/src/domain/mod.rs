//! Types and rules. No I/O, no async, no AWS types.

// Money is integer minor units: no floating point anywhere in the rules.
#![deny(clippy::float_arithmetic)]

use std::collections::HashMap;

/// A map hashed with FxHash, several times cheaper than SipHash on short keys, for keys nobody
/// outside can choose in bulk: what one basket names (bounded by its lines), or what only head
/// office and the store itself add (skus, sale ids). Maps keyed by what tills send
/// (idempotency keys) keep the std hasher, which resists flooding.
pub type FxMap<K, V> = HashMap<K, V, rustc_hash::FxBuildHasher>;

pub mod barcode;
pub mod catalog;
pub mod catalog_feed;
pub mod ids;
pub mod money;
pub mod price;
pub mod promotion;
pub mod refusal;
pub mod report;
pub mod returns;
pub mod sale;
pub mod stock;
pub mod stream;
pub mod time;

pub use barcode::{Barcode, Scan};
pub use catalog::{Commodity, Store, TaxRate, Unit};
pub use refusal::{CatalogRefusal, Invalid, NotFound, SaleRefusal, Shortage};
pub use ids::{BatchId, IdempotencyKey, PromotionId, RegionId, ReturnId, SaleId, Sku, StoreId, TerminalId};
pub use promotion::{AppliedPromotion, Promotion};
pub use money::{CURRENCY, Money};
pub use price::{AdjustmentId, PriceAdjustment, PriceScope, Schedule, price_in_force};
pub use stock::{StockPolicy, StockShards};
pub use time::BusinessDay;
