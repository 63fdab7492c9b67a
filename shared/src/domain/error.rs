//! What can go wrong, in the shop's words. The HTTP ring maps each variant to a status and a
//! stable `code` once (`http::problem`).

use serde::Serialize;

/// A strict commodity that cannot cover what was asked of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shortage {
    pub sku: String,
    pub requested: i64,
    /// What is on hand, never below zero.
    pub available: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Malformed or out-of-range input.
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    InvalidBarcode(String),
    /// Unknown store, sku, barcode, sale or batch; the text says which.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    NoPrice(String),
    #[error("{0}")]
    UnitMismatch(String),
    #[error("batch id {0} was already used with a different body")]
    BatchIdReused(String),
    #[error("barcode {barcode} is already bound to {skus:?}")]
    BarcodeTaken { barcode: String, skus: Vec<String> },
    #[error("barcode {barcode} is shared by {skus:?}")]
    AmbiguousBarcode { barcode: String, skus: Vec<String> },
    #[error("not enough stock")]
    OutOfStock { shortages: Vec<Shortage> },
    /// A sale names an sku or barcode the catalog does not know.
    #[error("{0}")]
    UnknownCommodity(String),
    /// A sale line's price is not in force at the sale's time.
    #[error("{0}")]
    NoPriceInSale(String),
    /// In a sale, a barcode several skus share: the till must send the sku.
    #[error("barcode {barcode} is shared by {skus:?}; send the sku")]
    AmbiguousBarcodeInSale { barcode: String, skus: Vec<String> },
    #[error("{0}")]
    PaymentMismatch(String),
    #[error("{0}")]
    SaleTooOld(String),
    #[error("{0}")]
    SaleInFuture(String),
    #[error("the Idempotency-Key header is required")]
    MissingIdempotencyKey,
    #[error("this idempotency key was used for a different sale")]
    IdempotencyKeyReused,
    /// The same sale with the same key is still being recorded.
    #[error("a sale with this idempotency key is still in progress; retry with the same key")]
    InProgress,
    /// A dependency is throttling or down; safe to retry.
    #[error("{0}")]
    Unavailable(String),
}
