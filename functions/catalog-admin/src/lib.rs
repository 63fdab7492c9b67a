//! `catalog-admin`: head office sets up stores and commodities; stores record stock movements
//! and read how their stock of a sku is split.

use http::StatusCode;
use lambda_http::Request;
use serde::{Deserialize, Serialize};

use retail_core::domain::catalog::CommodityDraft;
use retail_core::domain::catalog::StockPolicy;
use retail_core::domain::stock::{StockMovement, changes_by_sku, total_on_hand};
use retail_core::domain::{Commodity, DomainError, RegionId, Sku, Store, StoreId};
use retail_core::http::body::raw_path_param;
use retail_core::http::function::{ResponseFuture, request_id, respond, route_key, unknown_route};
use retail_core::http::{HttpFunction, Reply, Routed, Scope, authorize, json_body, path_param};
use retail_core::store::{CatalogStore, Written};

pub struct CatalogAdmin<S> {
    store: S,
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

/// A commodity as stored, with the stock split in force (head office's or the automatic one).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CommodityReply<'a> {
    #[serde(flatten)]
    commodity: &'a Commodity,
    stock_shards: u16,
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
    pub fn new(store: S) -> Self {
        CatalogAdmin { store }
    }

    async fn route(&self, request: &Request) -> Routed {
        match route_key(request) {
            "PUT /stores/{storeId}" => self.put_store(request).await,
            "PUT /commodities/{sku}" => self.put_commodity(request).await,
            "POST /stores/{storeId}/stock-movements" => self.record_stock_movements(request).await,
            "GET /stores/{storeId}/stock/{sku}" => self.stock(request).await,
            _ => Err(unknown_route(request)),
        }
    }

    async fn put_store(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::HeadOffice], None)?;
        let body: StoreBody = json_body(request)?;
        let id = path_param(request, "storeId", StoreId::parse)?;
        let store = Store::new(id, &body.name, body.region, body.timezone.as_deref())?;
        let w = self.store.put_store(store.clone()).await?;
        Ok(Reply::json(written(w), &store))
    }

    async fn put_commodity(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::HeadOffice], None)?;
        let draft: CommodityDraft = json_body(request)?;
        let sku = path_param(request, "sku", Sku::parse)?;
        let commodity = Commodity::from_draft(sku, draft)?;
        let w = self.store.put_commodity(commodity.clone()).await?;
        Ok(Reply::json(written(w), &CommodityReply { commodity: &commodity, stock_shards: commodity.stock_shards() }))
    }

    async fn record_stock_movements(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let body: MovementsBody = json_body(request)?;
        let store = path_param(request, "storeId", StoreId::parse)?;
        let changes = changes_by_sku(&body.movements)?;
        if self.store.store(&store).await?.is_none() {
            return Err(DomainError::NotFound(format!("no store {store}")).into());
        }
        let levels = self.store.record_stock_movements(&store, &changes).await?;
        let stock = levels.into_iter().map(|(sku, on_hand)| StockLevel { sku, on_hand }).collect();
        Ok(Reply::ok(&StockLevels { stock }))
    }

    async fn stock(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let store = path_param(request, "storeId", StoreId::parse)?;
        let sku = path_param(request, "sku", Sku::parse)?;
        let (found, commodity) = tokio::try_join!(self.store.store(&store), self.store.commodity(&sku))?;
        if found.is_none() {
            return Err(DomainError::NotFound(format!("no store {store}")).into());
        }
        let commodity = commodity.ok_or_else(|| DomainError::NotFound(format!("no commodity {sku}")))?;
        let shards = self.store.stock_shards(&store, &sku).await?;
        let report = StockReport {
            on_hand: total_on_hand(&shards),
            shards: shards
                .iter()
                .enumerate()
                .map(|(shard, s)| ShardReport { shard, on_hand: s.on_hand, writes: s.writes })
                .collect(),
            sku,
            policy: commodity.stock_policy,
            stock_shards: commodity.stock_shards(),
        };
        Ok(Reply::ok(&report))
    }
}

impl<S: CatalogStore> HttpFunction for CatalogAdmin<S> {
    fn call(&self, request: Request) -> ResponseFuture<'_> {
        Box::pin(async move {
            let id = request_id(&request);
            respond(&id, self.route(&request).await)
        })
    }
}
