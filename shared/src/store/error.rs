//! How the store fails, apart from what the shop refuses: a busy or unreachable database
//! (safe to retry), a request the database refuses for good (retrying it as it stands cannot
//! help), or data that cannot be read back (never guessed at).

use crate::domain::refusal::{CatalogRefusal, Invalid, NotFound, SaleRefusal};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Throttled, timed out or down: the same request may succeed shortly.
    #[error("{0}")]
    Unavailable(String),
    /// Refused, and refused again however often it is sent as it stands: a request the
    /// database judges invalid (an item over DynamoDB's 400 KB), a table that does not exist,
    /// credentials or permissions it does not accept. A bug or a misconfigured deployment, for
    /// an operator: `code` and `message` are the database's own.
    #[error("{operation} was refused for good: {code}: {message}")]
    Permanent { operation: String, code: String, message: String },
    /// A stored item that does not hold what this code wrote there.
    #[error("damaged item in {table} at {key}: {detail}")]
    Damaged { table: String, key: String, detail: String },
}

impl StoreError {
    pub fn unavailable(detail: impl Into<String>) -> Self {
        StoreError::Unavailable(detail.into())
    }

    pub fn permanent(operation: impl Into<String>, code: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Permanent { operation: operation.into(), code: code.into(), message: message.into() }
    }

    /// Whether sending the same request again cannot succeed (an operator must act first).
    pub fn is_permanent(&self) -> bool {
        matches!(self, StoreError::Permanent { .. })
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
