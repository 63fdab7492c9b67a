//! RFC 9457 problem details, mapped once from domain errors.

use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use serde_json::{Map, Value, json};

use crate::domain::DomainError;

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

impl From<crate::domain::sale::LineError> for Problem {
    fn from(e: crate::domain::sale::LineError) -> Self {
        Problem::from(e.error).with("line", e.line)
    }
}

impl From<crate::domain::sale::LineErrorOr> for Problem {
    fn from(e: crate::domain::sale::LineErrorOr) -> Self {
        match e {
            crate::domain::sale::LineErrorOr::Sale(e) => e.into(),
            crate::domain::sale::LineErrorOr::Line(e) => e.into(),
        }
    }
}

impl From<DomainError> for Problem {
    fn from(e: DomainError) -> Self {
        let detail = e.to_string();
        match e {
            DomainError::Invalid(_) => Problem::invalid(detail),
            DomainError::InvalidBarcode(_) => Problem::new(StatusCode::BAD_REQUEST, "invalid_barcode", detail),
            DomainError::NotFound(_) => Problem::not_found(detail),
            DomainError::NoPrice(_) => Problem::new(StatusCode::NOT_FOUND, "no_price", detail),
            DomainError::UnitMismatch(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unit_mismatch", detail),
            DomainError::BatchIdReused(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "batch_id_reused", detail),
            DomainError::BarcodeTaken { barcode, skus } => Problem::new(StatusCode::CONFLICT, "barcode_taken", detail)
                .with("barcode", barcode)
                .with("skus", skus),
            DomainError::AmbiguousBarcode { barcode, skus } => {
                Problem::new(StatusCode::CONFLICT, "ambiguous_barcode", detail).with("barcode", barcode).with("skus", skus)
            }
            DomainError::OutOfStock { shortages } => Problem::new(StatusCode::CONFLICT, "out_of_stock", detail)
                .with("shortages", serde_json::to_value(shortages).expect("shortages serialize")),
            DomainError::UnknownCommodity(_) => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_commodity", detail)
            }
            DomainError::NoPriceInSale(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "no_price", detail),
            DomainError::AmbiguousBarcodeInSale { barcode, skus } => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "ambiguous_barcode", detail)
                    .with("barcode", barcode)
                    .with("skus", skus)
            }
            DomainError::PaymentMismatch(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "payment_mismatch", detail),
            DomainError::SaleTooOld(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "sale_too_old", detail),
            DomainError::SaleInFuture(_) => Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "sale_in_future", detail),
            DomainError::MissingIdempotencyKey => {
                Problem::new(StatusCode::BAD_REQUEST, "missing_idempotency_key", detail)
            }
            DomainError::IdempotencyKeyReused => {
                Problem::new(StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused", detail)
            }
            DomainError::InProgress => Problem::new(StatusCode::CONFLICT, "in_progress", detail).retry_after(1),
            DomainError::Unavailable(_) => {
                // The cause is logged where it happened; the client only learns to retry.
                Problem::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "a dependency is busy; retry shortly")
                    .retry_after(1)
            }
        }
    }
}
