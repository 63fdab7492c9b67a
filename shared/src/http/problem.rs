//! RFC 9457 problem details: every refusal and store failure gets its status and `code` here, once.

use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::{Map, Value, json};

use crate::domain::returns::ReturnRefusal;
use crate::domain::{CatalogRefusal, Invalid, NotFound, SaleRefusal, Shortage};
use crate::store::{Failure, StoreError};

/// A refusal on its way to the client: status, stable `code`, and details.
#[derive(Debug, Clone)]
pub struct Problem {
    pub status: StatusCode,
    pub code: &'static str,
    pub detail: String,
    /// Extra members (`line`, `sku`, `skus`, `shortages`).
    pub extras: Map<String, Value>,
    /// Seconds, for 409 `in_progress` and 503.
    pub retry_after: Option<u32>,
}

impl Problem {
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Problem { status, code, detail: detail.into(), extras: Map::new(), retry_after: None }
    }

    pub fn invalid(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extras.insert(key.to_owned(), value.into());
        self
    }

    /// The same problem, said in other words.
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = detail.into();
        self
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    fn title(&self) -> &'static str {
        self.status.canonical_reason().unwrap_or("Error")
    }

    /// The problem document, as a response body or an entry of a batch answer.
    pub fn to_json(&self, request_id: &str) -> Value {
        let mut doc = Map::with_capacity(7 + self.extras.len());
        doc.insert("type".into(), json!(format!("urn:retail:problem:{}", self.code)));
        doc.insert("title".into(), json!(self.title()));
        doc.insert("status".into(), json!(self.status.as_u16()));
        doc.insert("detail".into(), json!(self.detail));
        doc.insert("code".into(), json!(self.code));
        doc.insert("requestId".into(), json!(request_id));
        doc.extend(self.extras.clone());
        Value::Object(doc)
    }

    /// The problem as an `application/problem+json` response carrying the request id.
    pub fn into_response(self, request_id: &str) -> Response<Body> {
        let body = self.to_json(request_id).to_string();
        let mut response = Response::builder()
            .status(self.status)
            .header("content-type", "application/problem+json")
            .header("x-request-id", request_id)
            .body(Body::from(body))
            .expect("valid response parts");
        if let Some(s) = self.retry_after {
            response.headers_mut().insert("retry-after", HeaderValue::from(s));
        }
        response
    }
}

impl From<Invalid> for Problem {
    fn from(e: Invalid) -> Self {
        let detail = e.to_string();
        match e {
            Invalid::Request(_) => Problem::invalid(detail),
            Invalid::Barcode(_) => Problem::new(StatusCode::BAD_REQUEST, "invalid_barcode", detail),
            Invalid::MissingIdempotencyKey => Problem::new(StatusCode::BAD_REQUEST, "missing_idempotency_key", detail),
        }
    }
}

impl From<NotFound> for Problem {
    fn from(e: NotFound) -> Self {
        Problem::not_found(e.0)
    }
}

impl From<SaleRefusal> for Problem {
    fn from(e: SaleRefusal) -> Self {
        let detail = e.to_string();
        let refused = |code| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail.clone());
        match e {
            SaleRefusal::Invalid(e) => e.into(),
            SaleRefusal::NotFound(e) => e.into(),
            SaleRefusal::AtLine { line, refusal } => Problem::from(*refusal).with("line", line),
            SaleRefusal::UnknownCommodity(_) => refused("unknown_commodity"),
            SaleRefusal::AmbiguousBarcode { barcode, skus } => {
                refused("ambiguous_barcode").with("barcode", barcode).with("skus", skus)
            }
            SaleRefusal::NoPrice(_) => refused("no_price"),
            SaleRefusal::PaymentMismatch(_) => refused("payment_mismatch"),
            SaleRefusal::AmountTooLarge(_) => refused("amount_too_large"),
            SaleRefusal::TooOld(_) => refused("sale_too_old"),
            SaleRefusal::InFuture(_) => refused("sale_in_future"),
            SaleRefusal::OutOfStock { shortages } => out_of_stock(detail, &shortages),
            SaleRefusal::KeyReused => refused("idempotency_key_reused"),
            SaleRefusal::InProgress => Problem::new(StatusCode::CONFLICT, "in_progress", detail).retry_after(1),
        }
    }
}

impl From<ReturnRefusal> for Problem {
    fn from(e: ReturnRefusal) -> Self {
        let detail = e.to_string();
        let refused = |code| Problem::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail.clone());
        match e {
            ReturnRefusal::Invalid(e) => e.into(),
            ReturnRefusal::NotFound(e) => e.into(),
            ReturnRefusal::AtLine { line, refusal } => Problem::from(*refusal).with("line", line),
            ReturnRefusal::WindowClosed(_) => refused("return_window_closed"),
            ReturnRefusal::NotReturnable(_) => refused("not_returnable"),
            ReturnRefusal::RefundMismatch(_) => refused("refund_mismatch"),
            ReturnRefusal::ExceedsSale(lines) => Problem::new(StatusCode::CONFLICT, "return_exceeds_sale", detail)
                .with("lines", serde_json::to_value(lines).expect("lines serialize")),
            ReturnRefusal::KeyReused => refused("idempotency_key_reused"),
            ReturnRefusal::InProgress => Problem::new(StatusCode::CONFLICT, "in_progress", detail).retry_after(1),
            // Planned again by the use case until it lands; should it ever get out, a retry helps.
            ReturnRefusal::SaleChanged => {
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "a dependency is busy; retry shortly").retry_after(1)
            }
        }
    }
}

impl From<CatalogRefusal> for Problem {
    fn from(e: CatalogRefusal) -> Self {
        let detail = e.to_string();
        match e {
            CatalogRefusal::Invalid(e) => e.into(),
            CatalogRefusal::NotFound(e) => e.into(),
            CatalogRefusal::AtLine { line, refusal } => Problem::from(*refusal).with("line", line),
            CatalogRefusal::NoPrice(_) => Problem::new(StatusCode::NOT_FOUND, "no_price", detail),
            CatalogRefusal::UnitMismatch(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unit_mismatch", detail),
            CatalogRefusal::BarcodeTaken { barcode, skus } => {
                Problem::new(StatusCode::CONFLICT, "barcode_taken", detail).with("barcode", barcode).with("skus", skus)
            }
            CatalogRefusal::AmbiguousBarcode { barcode, skus } => {
                Problem::new(StatusCode::CONFLICT, "ambiguous_barcode", detail).with("barcode", barcode).with("skus", skus)
            }
            CatalogRefusal::OutOfStock { shortages } => out_of_stock(detail, &shortages),
            CatalogRefusal::BatchIdReused(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "batch_id_reused", detail),
            CatalogRefusal::KeyReused => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", detail),
            CatalogRefusal::InvalidScope(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_scope", detail),
            CatalogRefusal::InvalidWindow(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_window", detail),
            CatalogRefusal::PromotionStarted(_) => Problem::new(StatusCode::CONFLICT, "promotion_started", detail),
            CatalogRefusal::CursorExpired(_) => Problem::new(StatusCode::GONE, "cursor_expired", detail),
        }
    }
}

fn out_of_stock(detail: String, shortages: &[Shortage]) -> Problem {
    Problem::new(StatusCode::CONFLICT, "out_of_stock", detail)
        .with("shortages", serde_json::to_value(shortages).expect("shortages serialize"))
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e {
            // A permanent failure is an operator's to fix (a misconfigured table, an item
            // grown past the limit); the client hears what it hears of an outage.
            StoreError::Unavailable(_) | StoreError::Permanent { .. } => {
                // The cause is logged where it happened; the client only learns to retry.
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "a dependency is busy; retry shortly")
                    .retry_after(1)
            }
            StoreError::Damaged { .. } => {
                // Data this code cannot read back is never guessed at: logged whole, answered
                // as a failure of ours without the table's insides.
                tracing::error!(error = %e, "a stored item is damaged");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "a stored record cannot be read")
            }
        }
    }
}

impl<R> From<Failure<R>> for Problem
where
    Problem: From<R>,
{
    fn from(e: Failure<R>) -> Self {
        match e {
            Failure::Refused(r) => r.into(),
            Failure::Store(e) => e.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_permanent_store_failure_answers_as_an_outage_without_the_databases_words() {
        let refused = StoreError::permanent("PutItem", "ValidationException", "Item size has exceeded the maximum allowed size");
        let problem = Problem::from(refused);
        let outage = Problem::from(StoreError::unavailable("the database is unavailable"));
        assert_eq!((problem.status, problem.code, problem.retry_after), (StatusCode::SERVICE_UNAVAILABLE, "unavailable", Some(1)));
        assert_eq!(problem.detail, outage.detail);
        let body = problem.to_json("r1").to_string();
        assert!(!body.contains("ValidationException") && !body.contains("PutItem"), "{body}");
    }
}
