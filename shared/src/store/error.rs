//! How the store fails, apart from what the shop refuses: a busy or unreachable database
//! (safe to retry) or data that cannot be read back (never guessed at).

use crate::domain::refusal::{CatalogRefusal, Invalid, NotFound, SaleRefusal};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Throttled, timed out or down: the same request may succeed shortly.
    #[error("{0}")]
    Unavailable(String),
    /// A stored item that does not hold what this code wrote there.
    #[error("damaged item in {table} at {key}: {detail}")]
    Damaged { table: String, key: String, detail: String },
}

impl StoreError {
    pub fn unavailable(detail: impl Into<String>) -> Self {
        StoreError::Unavailable(detail.into())
    }

    pub fn damaged(table: impl Into<String>, key: impl Into<String>, detail: impl Into<String>) -> Self {
        StoreError::Damaged { table: table.into(), key: key.into(), detail: detail.into() }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Why a business operation did not happen: the shop's rules refused it (`R`: a refusal of
/// one concern), or the store failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure<R> {
    #[error(transparent)]
    Refused(R),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl<R> Failure<R> {
    /// The refusal, if this is one.
    pub fn refusal(&self) -> Option<&R> {
        match self {
            Failure::Refused(r) => Some(r),
            Failure::Store(_) => None,
        }
    }
}

// `?` on a refusal of the operation's own concern, or on a refusal every concern knows.
impl From<SaleRefusal> for Failure<SaleRefusal> {
    fn from(r: SaleRefusal) -> Self {
        Failure::Refused(r)
    }
}

impl From<crate::domain::returns::ReturnRefusal> for Failure<crate::domain::returns::ReturnRefusal> {
    fn from(r: crate::domain::returns::ReturnRefusal) -> Self {
        Failure::Refused(r)
    }
}

impl From<CatalogRefusal> for Failure<CatalogRefusal> {
    fn from(r: CatalogRefusal) -> Self {
        Failure::Refused(r)
    }
}

impl<R: From<Invalid>> From<Invalid> for Failure<R> {
    fn from(r: Invalid) -> Self {
        Failure::Refused(r.into())
    }
}

impl<R: From<NotFound>> From<NotFound> for Failure<R> {
    fn from(r: NotFound) -> Self {
        Failure::Refused(r.into())
    }
}
