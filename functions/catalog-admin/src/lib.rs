//! `catalog-admin`: head office sets up stores and commodities; stores record stock movements
//! and read how their stock of a sku is split.

use http::StatusCode;
use lambda_http::Request;
use serde::{Deserialize, Serialize};

use retail_core::domain::catalog::{CommodityDraft, StoredCommodity};
use retail_core::domain::stock::{StockMovement, total_on_hand};
use retail_core::domain::{RegionId, Sku, StockPolicy, Store, StoreId};
use chrono::Utc;
use retail_core::http::body::{fingerprint, idempotency_key, raw_body, raw_path_param};
use retail_core::http::function::{route_key, unknown_route};
use retail_core::http::{Reply, Routed, Routes, Scope, authorize, json_body, path_param};
use retail_core::store::{CatalogStore, Moved, MovementKey, Written};
use retail_core::usecases::catalog;

pub struct CatalogAdmin<S> {
    db: S,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreBody {
    name: String,
    region: RegionId,
    #[serde(default)]
    timezone: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MovementsBody {
    movements: Vec<StockMovement>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StockLevel {
    sku: Sku,
    on_hand: i64,
}

#[derive(Serialize)]
struct StockLevels {
    stock: Vec<StockLevel>,
}

/// A (store, sku)'s stock item by item: what a manager checks when a flash sale runs hot.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StockReport {
    sku: Sku,
    policy: StockPolicy,
    on_hand: i64,
    stock_shards: u16,
    shards: Vec<ShardReport>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ShardReport {
    shard: usize,
    on_hand: i64,
    writes: u64,
}

fn written(w: Written) -> StatusCode {
    match w {
        Written::Created => StatusCode::CREATED,
        Written::Replaced => StatusCode::OK,
    }
}

/// The DynamoDB tables this function uses: those of its one store port, [`CatalogStore`]. Its
/// `main` requires their variables at start, and template.yaml gives it exactly these.
pub const TABLES: retail_core::store::dynamo::TableSet = retail_core::store::dynamo::CATALOG_STORE_TABLES;

impl<S: CatalogStore> CatalogAdmin<S> {
    pub fn new(db: S) -> Self {
        CatalogAdmin { db }
    }

    async fn put_store(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::HeadOffice], None)?;
        let body: StoreBody = json_body(request)?;
        let id = path_param(request, "storeId", StoreId::parse)?;
        let store = Store::new(id, &body.name, body.region, body.timezone.as_deref())?;
        let w = self.db.put_store(store.clone()).await?;
        Ok(Reply::json(written(w), &store))
    }

    async fn put_commodity(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::HeadOffice], None)?;
        let draft: CommodityDraft = json_body(request)?;
        let sku = path_param(request, "sku", Sku::parse)?;
        let (commodity, w) = catalog::put_commodity(&self.db, sku, draft).await?;
        Ok(Reply::json(written(w), &StoredCommodity(&commodity)))
    }

    async fn record_stock_movements(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let body: MovementsBody = json_body(request)?;
        let key = idempotency_key(request)?
            .map(|key| fingerprint(raw_body(request)).map(|fingerprint| MovementKey { key, fingerprint }))
            .transpose()?;
        let store = path_param(request, "storeId", StoreId::parse)?;
        let moved = catalog::record_stock_movements(&self.db, &store, &body.movements, key.as_ref(), Utc::now()).await?;
        let (levels, replayed) = match moved {
            Moved::Applied(levels) => (levels, false),
            Moved::Replayed(levels) => (levels, true),
        };
        let stock = levels.into_iter().map(|(sku, on_hand)| StockLevel { sku, on_hand }).collect();
        let reply = Reply::ok(&StockLevels { stock });
        if replayed {
            retail_core::metrics::replayed();
            return Ok(reply.header("idempotent-replayed", "true"));
        }
        Ok(reply)
    }

    async fn stock(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let store = path_param(request, "storeId", StoreId::parse)?;
        let sku = path_param(request, "sku", Sku::parse)?;
        let (commodity, shards) = catalog::stock_items(&self.db, &store, &sku).await?;
        let report = StockReport {
            on_hand: total_on_hand(&shards),
            shards: shards
                .iter()
                .enumerate()
                .map(|(shard, s)| ShardReport { shard, on_hand: s.on_hand, writes: s.writes })
                .collect(),
            sku,
            policy: commodity.stock_policy(),
            stock_shards: commodity.stock_shards().get(),
        };
        Ok(Reply::ok(&report))
    }
}

impl<S: CatalogStore> Routes for CatalogAdmin<S> {
    async fn route(&self, request: &Request) -> Routed {
        match route_key(request) {
            "PUT /stores/{storeId}" => self.put_store(request).await,
            "PUT /commodities/{sku}" => self.put_commodity(request).await,
            "POST /stores/{storeId}/stock-movements" => self.record_stock_movements(request).await,
            "GET /stores/{storeId}/stock/{sku}" => self.stock(request).await,
            _ => Err(unknown_route(request)),
        }
    }
}
