//! Types and rules. No I/O, no async, no AWS types.

pub mod barcode;
pub mod catalog;
pub mod ids;
pub mod money;
pub mod price;
pub mod refusal;
pub mod report;
pub mod sale;
pub mod stock;
pub mod time;

pub use barcode::{Barcode, Scan};
pub use catalog::{Commodity, Store, TaxRate, Unit};
pub use refusal::{CatalogRefusal, Invalid, NotFound, SaleRefusal, Shortage};
pub use ids::{BatchId, IdempotencyKey, RegionId, SaleId, Sku, StoreId, TerminalId};
pub use money::{CURRENCY, Money};
pub use price::{AdjustmentId, PriceAdjustment, PriceScope, price_in_force};
pub use stock::{StockPolicy, StockShards};
pub use time::BusinessDay;
