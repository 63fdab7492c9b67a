//! `price-adjustment`: head office pushes price batches and promotions to every store; anyone
//! may ask which price was in force, and why, and a store's tills which promotions are.

use chrono::{DateTime, Utc};
use http::StatusCode;
use lambda_http::Request;
use serde::{Deserialize, Serialize};

use retail_core::domain::price::PriceLine;
use retail_core::domain::time::{instant, optional_instant, parse_instant};
use retail_core::domain::{AdjustmentId, BatchId, CURRENCY, Money, PriceScope, Sku, StoreId};
use retail_core::http::body::{fingerprint, raw_body, raw_path_param};
use retail_core::http::function::{route_key, unknown_route};
use retail_core::http::{Reply, Routed, Routes, Scope, authorize, json_body, path_param, query_param};
use retail_core::domain::promotion::PromotionDraft;
use retail_core::domain::{Promotion, PromotionId};
use retail_core::store::{BatchOutcome, PriceStore, PromotionStore};
use retail_core::usecases::promotions::{self, Stored};
use retail_core::usecases::prices;

pub struct PriceAdjustments<S> {
    db: S,
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

#[derive(Serialize)]
struct InForce {
    promotions: Vec<Promotion>,
}

/// The DynamoDB tables this function uses: those of its store ports, [`PriceStore`] and
/// [`PromotionStore`]. Its `main` requires their variables at start, and template.yaml gives it
/// exactly these.
pub const TABLES: retail_core::store::dynamo::TableSet =
    retail_core::store::dynamo::PRICE_STORE_TABLES.union(retail_core::store::dynamo::PROMOTION_STORE_TABLES);

impl<S: PriceStore + PromotionStore> PriceAdjustments<S> {
    pub fn new(db: S) -> Self {
        PriceAdjustments { db }
    }

    async fn apply_batch(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::HeadOffice], None)?;
        let body: BatchBody = json_body(request)?;
        let fingerprint = fingerprint(raw_body(request))?;
        match prices::apply_price_batch(&self.db, body.batch_id, &body.adjustments, fingerprint, Utc::now()).await? {
            BatchOutcome::Applied(result) => Ok(Reply::json(StatusCode::CREATED, &result)),
            BatchOutcome::Replayed(result) => Ok(Reply::ok(&result)),
        }
    }

    async fn batch(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::HeadOffice], None)?;
        let id = path_param(request, "batchId", BatchId::parse)?;
        Ok(Reply::ok(&prices::price_batch(&self.db, &id).await?))
    }

    async fn explain(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let sku = path_param(request, "sku", Sku::parse)?;
        let at = query_param(request, "at").map(parse_instant).transpose()?.unwrap_or_else(Utc::now);
        let a = prices::price_in_force_at(&self.db, &store_id, &sku, at).await?;
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

impl<S: PriceStore + PromotionStore> PriceAdjustments<S> {
    async fn put_promotion(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::HeadOffice], None)?;
        let draft: PromotionDraft = json_body(request)?;
        let id = path_param(request, "promotionId", PromotionId::parse)?;
        match promotions::put_promotion(&self.db, id, &draft, Utc::now()).await? {
            Stored::Created(p) => Ok(Reply::json(StatusCode::CREATED, &p)),
            Stored::Updated(p) => Ok(Reply::ok(&p)),
        }
    }

    async fn promotion(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::HeadOffice], None)?;
        let id = path_param(request, "promotionId", PromotionId::parse)?;
        Ok(Reply::ok(&promotions::promotion(&self.db, &id).await?))
    }

    async fn promotions_in_force(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Pos, Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let at = query_param(request, "at").map(parse_instant).transpose()?.unwrap_or_else(Utc::now);
        Ok(Reply::ok(&InForce { promotions: promotions::promotions_in_force(&self.db, &store_id, at).await? }))
    }
}

impl<S: PriceStore + PromotionStore> Routes for PriceAdjustments<S> {
    async fn route(&self, request: &Request) -> Routed {
        match route_key(request) {
            "POST /price-adjustments" => self.apply_batch(request).await,
            "GET /price-adjustments/{batchId}" => self.batch(request).await,
            "GET /stores/{storeId}/prices/{sku}" => self.explain(request).await,
            "PUT /promotions/{promotionId}" => self.put_promotion(request).await,
            "GET /promotions/{promotionId}" => self.promotion(request).await,
            "GET /stores/{storeId}/promotions" => self.promotions_in_force(request).await,
            _ => Err(unknown_route(request)),
        }
    }
}
