//! `checkout`: a till records a sale. The server prices every line itself, takes the payment,
//! and commits the sale, its idempotency key and its stock in one step; a retry with the same
//! key never sells twice.

use chrono::Utc;
use std::sync::Arc;
use http::StatusCode;
use lambda_http::Request;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use retail_core::domain::sale::{
    CheckedSale, LineDraft, LineItem, Payment, Receipt, SaleDraft, SaleRecord, check_time, price_basket, settle, BasketCatalog,
};
use retail_core::domain::{Barcode, DomainError, IdempotencyKey, Sku, Store, StoreId, TerminalId};
use retail_core::http::body::raw_path_param;
use retail_core::http::function::{ResponseFuture, request_id, respond, route_key, unknown_route};
use retail_core::http::{HttpFunction, Problem, Reply, Routed, Scope, authorize, json_body, path_param};
use retail_core::store::cache::StoreCache;
use retail_core::store::{BasketReading, KeyClaim, PendingSale, SalesStore};

/// Most sales one offline upload may carry.
pub const MAX_BATCH_SALES: usize = 100;

pub struct Checkout<S> {
    store: S,
    stores: StoreCache,
}

/// How a sale was answered: recorded now, or the receipt of the first attempt replayed.
enum Sold {
    Recorded(Arc<SaleRecord>),
    Replayed(Receipt),
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

fn idempotency_key(raw: Option<&str>) -> Result<IdempotencyKey, Problem> {
    let raw = raw.ok_or_else(|| Problem::from(DomainError::MissingIdempotencyKey))?;
    IdempotencyKey::parse(raw).map_err(Problem::from)
}

/// The DynamoDB tables this function uses: those of its one store port, [`SalesStore`]. Its
/// `main` requires their variables at start, and template.yaml gives it exactly these.
pub const TABLES: retail_core::store::dynamo::TableSet = retail_core::store::dynamo::SALES_STORE_TABLES;

impl<S: SalesStore> Checkout<S> {
    pub fn new(store: S) -> Self {
        Checkout::with_store_cache(store, StoreCache::default())
    }

    /// With another memory of stores (how long a store change may take to reach sales).
    pub fn with_store_cache(store: S, stores: StoreCache) -> Self {
        Checkout { store, stores }
    }

    async fn route(&self, request: &Request) -> Routed {
        match route_key(request) {
            "POST /stores/{storeId}/sales" => self.record_sale(request).await,
            "POST /stores/{storeId}/sales/batch" => self.record_offline_sales(request).await,
            "GET /stores/{storeId}/sales/{saleId}" => self.receipt(request).await,
            _ => Err(unknown_route(request)),
        }
    }

    async fn shop(&self, id: &StoreId) -> Result<Store, Problem> {
        let found = self.stores.get(id, || self.store.store(id)).await?;
        found.ok_or_else(|| DomainError::NotFound(format!("no store {id}")).into())
    }

    async fn record_sale(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Pos], raw_path_param(request, "storeId"))?;
        let draft: SaleDraft = json_body(request)?;
        let header = request.headers().get("idempotency-key");
        let key = match header.map(|v| v.to_str()) {
            Some(Err(_)) => return Err(Problem::invalid("the Idempotency-Key header must be ASCII")),
            raw => idempotency_key(raw.map(|r| r.expect("checked above")))?,
        };
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let now = Utc::now();
        let checked = draft.check(now)?;
        let store = self.shop(&store_id).await?;
        match self.sell(&store, &key, &draft.fingerprint(), checked).await? {
            Sold::Recorded(sale) => Ok(Reply::json(StatusCode::CREATED, &sale.receipt)),
            Sold::Replayed(receipt) => Ok(Reply::ok(&receipt).header("idempotent-replayed", "true")),
        }
    }

    async fn record_offline_sales(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Pos], raw_path_param(request, "storeId"))?;
        let body: BatchBody = json_body(request)?;
        if !(1..=MAX_BATCH_SALES).contains(&body.sales.len()) {
            return Err(Problem::invalid(format!("sales must hold 1 to {MAX_BATCH_SALES} entries")));
        }
        // Every key first: one missing or malformed key makes the whole upload 400.
        let mut entries = Vec::with_capacity(body.sales.len());
        for (i, raw) in body.sales.iter().enumerate() {
            let doc: Map<String, Value> = serde_json::from_str(raw.get())
                .map_err(|_| Problem::invalid(format!("sales[{i}] must be an object")))?;
            let key = match doc.get("idempotencyKey") {
                Some(Value::String(k)) => IdempotencyKey::parse(k)
                    .map_err(|e| Problem::invalid(format!("sales[{i}].idempotencyKey: {e}")))?,
                Some(_) => return Err(Problem::invalid(format!("sales[{i}].idempotencyKey must be a string"))),
                None => {
                    return Err(Problem::new(
                        StatusCode::BAD_REQUEST,
                        "missing_idempotency_key",
                        format!("sales[{i}] has no idempotencyKey"),
                    )
                    .with("index", i));
                }
            };
            entries.push((key, raw));
        }
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let store = self.shop(&store_id).await?;
        let id = request_id(request);
        let mut results = Vec::with_capacity(entries.len());
        for (key, raw) in entries {
            let outcome = self.record_entry(&store, &key, raw.get()).await;
            results.push(match outcome {
                Ok(Sold::Recorded(sale)) => BatchResult {
                    idempotency_key: key.to_string(),
                    status: 201,
                    receipt: Some(sale.receipt.clone()),
                    problem: None,
                },
                Ok(Sold::Replayed(receipt)) => BatchResult {
                    idempotency_key: key.to_string(),
                    status: 200,
                    receipt: Some(receipt),
                    problem: None,
                },
                Err(problem) => {
                    let status = problem.status.as_u16();
                    BatchResult {
                        idempotency_key: key.to_string(),
                        status,
                        receipt: None,
                        problem: Some(problem.to_json(&id)),
                    }
                }
            });
        }
        Ok(Reply::ok(&BatchResults { results }))
    }

    /// One entry of an offline upload, answered as `POST /sales` would answer it alone.
    async fn record_entry(&self, store: &Store, key: &IdempotencyKey, raw: &str) -> Result<Sold, Problem> {
        let entry: BatchEntry = retail_core::http::strict::from_slice(raw.as_bytes())
            .map_err(|e| Problem::invalid(format!("the sale is not valid here: {e}")))?;
        let draft = SaleDraft {
            terminal_id: entry.terminal_id,
            lines: entry.lines,
            payments: entry.payments,
            occurred_at: entry.occurred_at,
        };
        let checked = draft.check(Utc::now())?;
        // The key is not part of the sale: the same sale sent alone has the same fingerprint.
        self.sell(store, key, &draft.fingerprint(), checked).await
    }

    /// Claims the key while reading what the basket names (one wave of reads), then prices,
    /// checks and commits the sale (one write); gives the key back on refusal.
    async fn sell(&self, store: &Store, key: &IdempotencyKey, fingerprint: &str, sale: CheckedSale) -> Result<Sold, Problem> {
        let now = Utc::now();
        let mut skus: Vec<Sku> = Vec::new();
        let mut barcodes: Vec<Barcode> = Vec::new();
        for line in &sale.lines {
            match &line.item {
                LineItem::Sku(s) => skus.push(s.clone()),
                LineItem::Scan(scan) => barcodes.push(scan.barcode.clone()),
            }
        }
        skus.sort();
        skus.dedup();
        barcodes.sort();
        barcodes.dedup();
        // A replay or a key in use wastes the read; every first attempt saves a round trip.
        let (claim, reading) = tokio::join!(
            self.store.claim_sale_key(&store.store_id, key, fingerprint, now),
            self.store.basket_reading(store, &skus, &barcodes),
        );
        match claim? {
            KeyClaim::Completed { fingerprint: first, receipt } if first == fingerprint => return Ok(Sold::Replayed(receipt)),
            KeyClaim::InProgress { fingerprint: first } if first == fingerprint => return Err(DomainError::InProgress.into()),
            KeyClaim::Completed { .. } | KeyClaim::InProgress { .. } => return Err(DomainError::IdempotencyKeyReused.into()),
            KeyClaim::Claimed => {}
        }
        let outcome = match reading {
            Ok(reading) => self.price_and_commit(store, key, fingerprint, sale, &reading).await,
            Err(e) => Err(e.into()),
        };
        if outcome.is_err()
            && let Err(e) = self.store.release_sale_key(&store.store_id, key).await
        {
            // The claim lapses by itself after a while; the till's retry waits until then.
            tracing::warn!(error = %e, "could not release an idempotency key after a refusal");
        }
        outcome.map(Sold::Recorded)
    }

    async fn price_and_commit(
        &self,
        store: &Store,
        key: &IdempotencyKey,
        fingerprint: &str,
        sale: CheckedSale,
        reading: &BasketReading,
    ) -> Result<Arc<SaleRecord>, Problem> {
        let now = Utc::now();
        let catalog = BasketCatalog { commodities: &reading.commodities, barcodes: &reading.barcodes };
        let priced = price_basket(&sale, store, &catalog);
        // A line that does not fit its unit is a 400 and answers before any 422.
        if let Err(e) = &priced
            && matches!(e.error, DomainError::Invalid(_))
        {
            return Err(e.clone().into());
        }
        check_time(sale.occurred_at, now)?;
        let basket = priced?;
        let settlement = settle(basket.total, &sale.payments)?;
        let record = self
            .store
            .commit_sale(PendingSale {
                key: key.clone(),
                fingerprint: fingerprint.to_owned(),
                sale_id: uuid::Uuid::now_v7().to_string(),
                store: store.clone(),
                sale,
                basket,
                settlement,
                created_at: now,
            })
            .await?;
        Ok(record)
    }

    async fn receipt(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Pos, Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let sale_id = path_param(request, "saleId", |raw| {
            uuid::Uuid::parse_str(raw)
                .map(|u| u.to_string())
                .map_err(|_| DomainError::Invalid(format!("sale id {raw:?} is not a UUID")))
        })?;
        let receipt = self
            .store
            .sale(&store_id, &sale_id)
            .await?
            .ok_or_else(|| Problem::not_found(format!("no sale {sale_id} in store {store_id}")))?;
        Ok(Reply::ok(&receipt))
    }
}

impl<S: SalesStore> HttpFunction for Checkout<S> {
    fn call(&self, request: Request) -> ResponseFuture<'_> {
        Box::pin(async move {
            let id = request_id(&request);
            respond(&id, self.route(&request).await)
        })
    }
}
