//! `price-adjustment`: head office pushes price batches to every store; anyone may ask which
//! price was in force, and why.

use chrono::{DateTime, Utc};
use http::StatusCode;
use lambda_http::Request;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

use retail_core::domain::price::{MAX_BATCH_LINES, MAX_REASON, PriceLine, PriceLineContext};
use retail_core::domain::time::{instant, optional_instant, parse_instant};
use retail_core::domain::{
    AdjustmentId, BatchId, CURRENCY, DomainError, Money, PriceScope, Sku, StoreId, price_in_force,
};
use retail_core::http::body::{fingerprint, raw_body, raw_path_param};
use retail_core::http::function::{ResponseFuture, request_id, respond, route_key, unknown_route};
use retail_core::http::{HttpFunction, Problem, Reply, Routed, Scope, authorize, json_body, path_param, query_param};
use retail_core::store::{BatchOutcome, PriceBatch, PriceBatchResult, PriceStore};

pub struct PriceAdjustments<S> {
    store: S,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct BatchBody {
    batch_id: BatchId,
    adjustments: Vec<PriceLine>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Explanation<'a> {
    amount: Money,
    currency: &'static str,
    adjustment_id: &'a AdjustmentId,
    batch_id: &'a BatchId,
    scope: &'a PriceScope,
    #[serde(with = "instant")]
    valid_from: DateTime<Utc>,
    #[serde(with = "optional_instant")]
    valid_to: Option<DateTime<Utc>>,
    reason: Option<&'a str>,
}

struct Known {
    skus: HashSet<Sku>,
    stores: HashSet<StoreId>,
}

impl PriceLineContext for Known {
    fn commodity_exists(&self, sku: &Sku) -> bool {
        self.skus.contains(sku)
    }

    fn store_exists(&self, store: &StoreId) -> bool {
        self.stores.contains(store)
    }
}

/// The DynamoDB tables this function uses: those of its one store port, [`PriceStore`]. Its
/// `main` requires their variables at start, and template.yaml gives it exactly these.
pub const TABLES: retail_core::store::dynamo::TableSet = retail_core::store::dynamo::PRICE_STORE_TABLES;

impl<S: PriceStore> PriceAdjustments<S> {
    pub fn new(store: S) -> Self {
        PriceAdjustments { store }
    }

    async fn route(&self, request: &Request) -> Routed {
        match route_key(request) {
            "POST /price-adjustments" => self.apply_batch(request).await,
            "GET /price-adjustments/{batchId}" => self.batch(request).await,
            "GET /stores/{storeId}/prices/{sku}" => self.explain(request).await,
            _ => Err(unknown_route(request)),
        }
    }

    async fn apply_batch(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::HeadOffice], None)?;
        let body: BatchBody = json_body(request)?;
        if !(1..=MAX_BATCH_LINES).contains(&body.adjustments.len()) {
            return Err(Problem::invalid(format!(
                "adjustments must hold 1 to {MAX_BATCH_LINES} lines, not {}",
                body.adjustments.len()
            )));
        }
        if let Some(i) = body.adjustments.iter().position(|l| l.reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON)) {
            return Err(Problem::invalid(format!("adjustments[{i}].reason is longer than {MAX_REASON} characters")).with("line", i));
        }
        let fingerprint = fingerprint(raw_body(request))?;

        // What the lines name, checked in one read.
        let skus: Vec<Sku> = body.adjustments.iter().filter_map(|l| Sku::parse(&l.sku).ok()).collect::<HashSet<_>>().into_iter().collect();
        let stores: Vec<StoreId> = body
            .adjustments
            .iter()
            .filter_map(|l| match PriceScope::parse(&l.scope) {
                Ok(PriceScope::Store(s)) => Some(s),
                _ => None,
            })
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let (skus, stores) = self.store.existing(&skus, &stores).await?;
        let known = Known { skus: skus.into_iter().collect(), stores: stores.into_iter().collect() };

        let applied_at = Utc::now();
        let mut adjustments = Vec::with_capacity(body.adjustments.len());
        let mut rejected = Vec::new();
        for (index, line) in body.adjustments.iter().enumerate() {
            match line.validate(&body.batch_id, index as u32, applied_at, &known) {
                Ok(a) => adjustments.push(a),
                Err(r) => rejected.push(r),
            }
        }
        let result = PriceBatchResult { batch_id: body.batch_id, accepted: adjustments.len() as u32, rejected, applied_at };
        match self.store.apply_price_batch(PriceBatch { result, adjustments, fingerprint }).await? {
            BatchOutcome::Applied(result) => Ok(Reply::json(StatusCode::CREATED, &result)),
            BatchOutcome::Replayed(result) => Ok(Reply::ok(&result)),
        }
    }

    async fn batch(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::HeadOffice], None)?;
        let id = path_param(request, "batchId", BatchId::parse)?;
        let result = self.store.price_batch(&id).await?.ok_or_else(|| Problem::not_found(format!("no price batch {id}")))?;
        Ok(Reply::ok(&result))
    }

    async fn explain(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let sku = path_param(request, "sku", Sku::parse)?;
        let at = query_param(request, "at").map(parse_instant).transpose()?.unwrap_or_else(Utc::now);
        let store = self.store.store(&store_id).await?.ok_or_else(|| DomainError::NotFound(format!("no store {store_id}")))?;
        if self.store.commodity(&sku).await?.is_none() {
            return Err(Problem::not_found(format!("no commodity {sku}")));
        }
        let history = self.store.price_history(&store, &sku).await?;
        let a = price_in_force(&history, &store, at)
            .ok_or_else(|| DomainError::NoPrice(format!("no price for {sku} in store {store_id} at that time")))?;
        Ok(Reply::ok(&Explanation {
            amount: a.amount,
            currency: CURRENCY,
            adjustment_id: &a.id,
            batch_id: &a.id.batch_id,
            scope: &a.scope,
            valid_from: a.valid_from,
            valid_to: a.valid_to,
            reason: a.reason.as_deref(),
        }))
    }
}

impl<S: PriceStore> HttpFunction for PriceAdjustments<S> {
    fn call(&self, request: Request) -> ResponseFuture<'_> {
        Box::pin(async move {
            let id = request_id(&request);
            respond(&id, self.route(&request).await)
        })
    }
}
