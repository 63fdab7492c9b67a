//! What the shop refuses, typed by concern: input that is not what it claims to be, something
//! named that does not exist, a sale's refusals, the catalog's and prices' refusals. Each says
//! what went wrong in the shop's words; the HTTP edge (`http::problem`) picks status and `code`
//! once. Store failures (a busy or damaged database) are not refusals: see `store::StoreError`.

use serde::Serialize;

use super::ids::{Sku, StoreId};

/// A strict commodity that cannot cover what was asked of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Shortage {
    pub sku: String,
    pub requested: i64,
    /// What is on hand, never below zero.
    pub available: i64,
}

/// Input that is not what it claims to be: refused before anything is read or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Malformed or out of range; the text says which member and which rule.
    #[error("{0}")]
    Request(String),
    /// A barcode whose form or check digit is wrong.
    #[error("{0}")]
    Barcode(String),
    #[error("the Idempotency-Key header is required")]
    MissingIdempotencyKey,
}

impl Invalid {
    pub fn request(detail: impl Into<String>) -> Self {
        Invalid::Request(detail.into())
    }
}

/// Something named that does not exist: a store, a commodity, a sale, a batch. The text says which.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NotFound(pub String);

impl NotFound {
    pub fn store(id: &StoreId) -> Self {
        NotFound(format!("no store {id}"))
    }

    pub fn commodity(sku: &Sku) -> Self {
        NotFound(format!("no commodity {sku}"))
    }
}

/// Why a till's sale is not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SaleRefusal {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// The store the sale is for.
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// The refusal of one line of the basket (0-based).
    #[error("{refusal}")]
    AtLine { line: usize, refusal: Box<SaleRefusal> },
    /// A line names a sku or barcode the catalog does not know.
    #[error("{0}")]
    UnknownCommodity(String),
    /// A barcode several skus share: the till must send the sku.
    #[error("barcode {barcode} is shared by {skus:?}; send the sku")]
    AmbiguousBarcode { barcode: String, skus: Vec<String> },
    /// A line's price is not in force at the sale's time.
    #[error("{0}")]
    NoPrice(String),
    #[error("{0}")]
    PaymentMismatch(String),
    /// The total, the payments' sum or the change would pass `Money::MAX`.
    #[error("{0}")]
    AmountTooLarge(String),
    #[error("{0}")]
    TooOld(String),
    #[error("{0}")]
    InFuture(String),
    #[error("not enough stock")]
    OutOfStock { shortages: Vec<Shortage> },
    #[error("this idempotency key was used for a different sale")]
    KeyReused,
    /// The same sale with the same key is still being recorded.
    #[error("a sale with this idempotency key is still in progress; retry with the same key")]
    InProgress,
}

impl SaleRefusal {
    /// This refusal, said of basket line `line`.
    pub fn at_line(self, line: usize) -> Self {
        SaleRefusal::AtLine { line, refusal: Box::new(self) }
    }

    /// Whether the request itself is malformed (answered before any business refusal).
    pub fn is_invalid(&self) -> bool {
        match self {
            SaleRefusal::Invalid(_) => true,
            SaleRefusal::AtLine { refusal, .. } => refusal.is_invalid(),
            _ => false,
        }
    }
}

/// Why a change to the catalog, to stock or to prices, or a look-up in them, is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CatalogRefusal {
    #[error(transparent)]
    Invalid(#[from] Invalid),
    #[error(transparent)]
    NotFound(#[from] NotFound),
    /// The refusal of one line of a request (0-based).
    #[error("{refusal}")]
    AtLine { line: usize, refusal: Box<CatalogRefusal> },
    /// No price in force for the sku in that store at that time.
    #[error("{0}")]
    NoPrice(String),
    /// An in-store barcode bound to a commodity of the other unit.
    #[error("{0}")]
    UnitMismatch(String),
    #[error("barcode {barcode} is already bound to {skus:?}")]
    BarcodeTaken { barcode: String, skus: Vec<String> },
    /// A look-up by a barcode several skus share.
    #[error("barcode {barcode} is shared by {skus:?}")]
    AmbiguousBarcode { barcode: String, skus: Vec<String> },
    /// Strict stock a movement would take below zero.
    #[error("not enough stock")]
    OutOfStock { shortages: Vec<Shortage> },
    #[error("batch id {0} was already used with a different body")]
    BatchIdReused(String),
    /// A stock movement request's `Idempotency-Key` was used for a different body.
    #[error("this idempotency key was used for different movements")]
    KeyReused,
    /// A promotion's scope names a store that does not exist.
    #[error("{0}")]
    InvalidScope(String),
    /// A promotion's window is empty or too long, or a started one would end before now or later.
    #[error("{0}")]
    InvalidWindow(String),
    /// A change to a promotion that has started, other than ending it earlier.
    #[error("{0}")]
    PromotionStarted(String),
    /// A catalog cursor older than its lifetime.
    #[error("{0}")]
    CursorExpired(String),
}

impl CatalogRefusal {
    /// This refusal, said of line `line` of the request.
    pub fn at_line(self, line: usize) -> Self {
        CatalogRefusal::AtLine { line, refusal: Box::new(self) }
    }
}
