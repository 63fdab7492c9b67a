//! `checkout`: a till records a sale, alone or in an offline upload, and reads a receipt back;
//! a till or the service desk takes goods back. The rules (pricing, refunds, refusal order,
//! idempotency) are the `sell` and `take_back` use cases'; this maps HTTP to them.

use chrono::Utc;
use http::StatusCode;
use lambda_http::{Request, RequestExt};
use std::time::{Duration, SystemTime};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use retail_core::domain::sale::{LineDraft, MAX_BATCH_SALES, Payment, Receipt, SaleDraft};
use retail_core::domain::returns::ReturnDraft;
use retail_core::domain::{IdempotencyKey, Invalid, NotFound, ReturnId, SaleId, StoreId, TerminalId};
use retail_core::http::body::raw_path_param;
use retail_core::metrics;
use retail_core::http::function::{request_id, route_key, unknown_route};
use retail_core::http::{Problem, Reply, Routed, Routes, Scope, authorize, json_body, path_param};
use retail_core::store::{ReturnsStore, StoreError};
use retail_core::store::cache::Warm;
use retail_core::usecases::find_store;
use retail_core::usecases::sell::{self, Sold};
use retail_core::usecases::take_back::{self, TakenBack};

/// What an upload leaves of the function's time when it stops starting entries. An upload under
/// DynamoDB trouble (throttles, slow answers, retries) can outlast the function's timeout (10 s
/// in the template), and then the gateway answers the whole upload 500: the entries already
/// recorded stay recorded, and the till learns nothing of any. An entry takes milliseconds on a
/// good day and, with the SDK's retries, seconds on a bad one (3 s per call in AWS; 3.4 s for
/// the slowest in the emulated all-faults drill): 4 s of a 10 s timeout still start 100 entries
/// at 40 ms.
const ENTRY_RESERVE: Duration = Duration::from_secs(6);

/// When an upload stops starting entries (the first always starts, so an upload always moves
/// on): [`ENTRY_RESERVE`] before the invocation's deadline. `None` outside Lambda (retail-local
/// in-process), where nothing cuts a request short.
fn stop_starting_at(request: &Request) -> Option<SystemTime> {
    let deadline = request.lambda_context_ref()?.deadline();
    Some(deadline.checked_sub(ENTRY_RESERVE).unwrap_or(SystemTime::UNIX_EPOCH))
}

/// The answer of an entry the upload had no time left to start: what a busy dependency gets
/// (send it again, same key), saying why.
fn out_of_time() -> Problem {
    Problem::from(StoreError::Unavailable("the upload ran out of time".into()))
        .detail("the upload ran out of time before this sale; send it again")
}

pub struct Checkout<S> {
    db: S,
    warm: Warm,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    sales: Vec<Box<RawValue>>,
}

/// An entry of an offline upload: a sale body with its key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BatchEntry {
    #[allow(dead_code)]
    idempotency_key: Value,
    terminal_id: TerminalId,
    lines: Vec<LineDraft>,
    payments: Vec<Payment>,
    #[serde(default)]
    occurred_at: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchResult {
    idempotency_key: String,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    receipt: Option<Receipt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<Value>,
}

#[derive(Serialize)]
struct BatchResults {
    results: Vec<BatchResult>,
}

/// The `Idempotency-Key` header: required for a sale and for a return.
fn idempotency_key(request: &Request) -> Result<IdempotencyKey, Problem> {
    Ok(retail_core::http::body::idempotency_key(request)?.ok_or(Invalid::MissingIdempotencyKey)?)
}

/// The DynamoDB tables this function uses: those of its store port, [`ReturnsStore`]. Its
/// `main` requires their variables at start, and template.yaml gives it exactly these.
pub const TABLES: retail_core::store::dynamo::TableSet = retail_core::store::dynamo::SALES_STORE_TABLES;

impl<S: ReturnsStore> Checkout<S> {
    pub fn new(db: S) -> Self {
        Checkout::with_memory(db, Warm::default())
    }

    /// With another memory of stores and promotions (how long a change may take to reach sales).
    pub fn with_memory(db: S, warm: Warm) -> Self {
        Checkout { db, warm }
    }

    async fn record_sale(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Pos], raw_path_param(request, "storeId"))?;
        let draft: SaleDraft = json_body(request)?;
        let key = idempotency_key(request)?;
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        match sell::sell(&self.db, &self.warm, &store_id, &key, &draft, Utc::now()).await? {
            Sold::Recorded(sale) => {
                metrics::sold(sale.receipt.total.minor_units());
                Ok(Reply::json(StatusCode::CREATED, &sale.receipt))
            }
            Sold::Replayed(receipt) => {
                metrics::replayed();
                Ok(Reply::ok(&receipt).header("idempotent-replayed", "true"))
            }
        }
    }

    async fn record_offline_sales(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Pos], raw_path_param(request, "storeId"))?;
        let body: BatchBody = json_body(request)?;
        // The entries stay raw JSON until each is answered alone; a duplicate member in any of
        // them is still the whole upload's 400.
        retail_core::http::strict::no_duplicate_members(retail_core::http::body::raw_body(request))
            .map_err(|e| Problem::invalid(format!("the body is not valid here: {e}")))?;
        if !(1..=MAX_BATCH_SALES).contains(&body.sales.len()) {
            return Err(Problem::invalid(format!("sales must hold 1 to {MAX_BATCH_SALES} entries")));
        }
        // Every key first: one missing or malformed key makes the whole upload 400.
        let mut entries = Vec::with_capacity(body.sales.len());
        for (i, raw) in body.sales.iter().enumerate() {
            entries.push((entry_key(i, raw)?, raw));
        }
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let store = find_store::<_, NotFound>(&self.db, &self.warm.stores, &store_id).await?;
        let id = request_id(request);
        let stop_starting = stop_starting_at(request);
        let mut results = Vec::with_capacity(entries.len());
        for (i, (key, raw)) in entries.into_iter().enumerate() {
            let outcome = if i > 0 && stop_starting.is_some_and(|at| SystemTime::now() >= at) {
                // Not started: answered in time instead, for the till to send again.
                Err(out_of_time())
            } else {
                match offline_draft(raw.get()) {
                    Ok(draft) => {
                        sell::sell_in(&self.db, &self.warm.promotions, &store, &key, &draft, Utc::now()).await.map_err(Problem::from)
                    }
                    Err(problem) => Err(problem),
                }
            };
            let idempotency_key = key.to_string();
            results.push(match outcome {
                Ok(Sold::Recorded(sale)) => {
                    metrics::sold(sale.receipt.total.minor_units());
                    BatchResult { idempotency_key, status: 201, receipt: Some(sale.receipt.clone()), problem: None }
                }
                Ok(Sold::Replayed(receipt)) => {
                    metrics::replayed();
                    BatchResult { idempotency_key, status: 200, receipt: Some(*receipt), problem: None }
                }
                Err(problem) => {
                    metrics::refused(problem.code);
                    BatchResult { idempotency_key, status: problem.status.as_u16(), receipt: None, problem: Some(problem.to_json(&id)) }
                }
            });
        }
        Ok(Reply::ok(&BatchResults { results }))
    }

    async fn receipt(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Pos, Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let sale_id = path_param(request, "saleId", SaleId::parse)?;
        Ok(Reply::ok(&sell::receipt(&self.db, &store_id, &sale_id).await?))
    }

    /// `{storeId}` is the store taking the goods back; the sale may be any store's.
    async fn take_back(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Pos, Scope::Store], raw_path_param(request, "storeId"))?;
        let draft: ReturnDraft = json_body(request)?;
        let key = idempotency_key(request)?;
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        match take_back::take_back(&self.db, &self.warm.stores, &store_id, &key, &draft, Utc::now()).await? {
            TakenBack::Recorded(receipt) => {
                metrics::returned(receipt.total.minor_units());
                Ok(Reply::json(StatusCode::CREATED, &*receipt))
            }
            TakenBack::Replayed(receipt) => {
                metrics::replayed();
                Ok(Reply::ok(&receipt).header("idempotent-replayed", "true"))
            }
        }
    }

    async fn return_receipt(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Pos, Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let return_id = path_param(request, "returnId", ReturnId::parse)?;
        Ok(Reply::ok(&take_back::return_receipt(&self.db, &store_id, &return_id).await?))
    }

    /// `{storeId}` is the sale's store: a till of any store may read it, since a customer may
    /// bring a receipt from another store (its token must still act for some store).
    async fn returnable(&self, request: &Request) -> Routed {
        let claims = authorize(request, &[Scope::Pos, Scope::Store, Scope::HeadOffice], None)?;
        if !claims.scopes.contains(&Scope::HeadOffice) && claims.store_id.is_none() {
            return Err(Problem::new(StatusCode::FORBIDDEN, "forbidden_store", "the token acts for no store"));
        }
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let sale_id = path_param(request, "saleId", SaleId::parse)?;
        Ok(Reply::ok(&take_back::what_is_returnable(&self.db, &store_id, &sale_id).await?))
    }
}

/// The key of entry `i` of an offline upload.
fn entry_key(i: usize, raw: &RawValue) -> Result<IdempotencyKey, Problem> {
    let doc: Map<String, Value> =
        serde_json::from_str(raw.get()).map_err(|_| Problem::invalid(format!("sales[{i}] must be an object")))?;
    match doc.get("idempotencyKey") {
        Some(Value::String(k)) => {
            IdempotencyKey::parse(k).map_err(|e| Problem::invalid(format!("sales[{i}].idempotencyKey: {e}")))
        }
        Some(_) => Err(Problem::invalid(format!("sales[{i}].idempotencyKey must be a string"))),
        None => Err(Problem::from(Invalid::MissingIdempotencyKey)
            .with("index", i)
            .detail(format!("sales[{i}] has no idempotencyKey"))),
    }
}

/// An entry of an offline upload as the sale it carries (its key is not part of the sale).
fn offline_draft(raw: &str) -> Result<SaleDraft, Problem> {
    let entry: BatchEntry = retail_core::http::strict::from_slice(raw.as_bytes())
        .map_err(|e| Problem::invalid(format!("the sale is not valid here: {e}")))?;
    Ok(SaleDraft { terminal_id: entry.terminal_id, lines: entry.lines, payments: entry.payments, occurred_at: entry.occurred_at })
}

impl<S: ReturnsStore> Routes for Checkout<S> {
    async fn route(&self, request: &Request) -> Routed {
        match route_key(request) {
            "POST /stores/{storeId}/sales" => self.record_sale(request).await,
            "POST /stores/{storeId}/sales/batch" => self.record_offline_sales(request).await,
            "GET /stores/{storeId}/sales/{saleId}" => self.receipt(request).await,
            "POST /stores/{storeId}/returns" => self.take_back(request).await,
            "GET /stores/{storeId}/returns/{returnId}" => self.return_receipt(request).await,
            "GET /stores/{storeId}/sales/{saleId}/returnable" => self.returnable(request).await,
            _ => Err(unknown_route(request)),
        }
    }
}
