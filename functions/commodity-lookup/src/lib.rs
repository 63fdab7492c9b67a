//! `commodity-lookup`: what a till asks when it scans: the commodity, its price in force in this
//! store now, and the stock on hand; and the store's catalog a till syncs to sell offline.

use chrono::{DateTime, Utc};
use lambda_http::Request;
use serde::{Deserialize, Serialize};

use retail_core::domain::barcode::Embedded;
use retail_core::domain::catalog_feed::{CatalogChange, CatalogCursor};
use retail_core::domain::time::{instant, optional_instant};
use retail_core::domain::{
    AdjustmentId, Barcode, CURRENCY, Money, NotFound, Scan, Sku, StockPolicy, Store, StoreId, TaxRate, Unit, price_in_force,
};
use retail_core::http::body::raw_path_param;
use retail_core::http::function::{route_key, unknown_route};
use retail_core::http::{Reply, Routed, Routes, Scope, authorize, json_body, path_param, query_param};
use retail_core::store::cache::StoreCache;
use retail_core::store::{CatalogFeed, CommodityView, LookupStore};
use retail_core::usecases::{catalog_sync, find_store, lookup};

pub use retail_core::usecases::lookup::MAX_LOOKUP;

const SCOPES: &[Scope] = &[Scope::Pos, Scope::Store, Scope::HeadOffice];

pub struct CommodityLookup<S> {
    db: S,
    stores: StoreCache,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PriceNow<'a> {
    amount: Money,
    currency: &'static str,
    adjustment_id: &'a AdjustmentId,
    #[serde(with = "instant")]
    valid_from: DateTime<Utc>,
    #[serde(with = "optional_instant")]
    valid_to: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct StockNow {
    on_hand: i64,
    policy: StockPolicy,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct Scanned<'a> {
    barcode: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    quantity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    weight_grams: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    embedded_amount: Option<Money>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Item<'a> {
    sku: &'a Sku,
    name: &'a str,
    unit: Unit,
    tax_rate_bp: TaxRate,
    barcodes: &'a [Barcode],
    category: Option<&'a str>,
    price: Option<PriceNow<'a>>,
    stock: StockNow,
    #[serde(skip_serializing_if = "Option::is_none")]
    scanned: Option<Scanned<'a>>,
}

fn item<'a>(view: &'a CommodityView, store: &Store, now: DateTime<Utc>, scan: Option<&'a Scan>) -> Item<'a> {
    let c = &view.commodity;
    let price = price_in_force(view.prices.iter(), store, now).map(|a| PriceNow {
        amount: a.amount,
        currency: CURRENCY,
        adjustment_id: &a.id,
        valid_from: a.valid_from,
        valid_to: a.valid_to,
    });
    let scanned = scan.map(|s| {
        let mut scanned = Scanned { barcode: &s.scanned, ..Default::default() };
        if c.unit() == Unit::Each {
            scanned.quantity = Some(1);
        }
        match s.embedded {
            Some(Embedded::WeightGrams(g)) => scanned.weight_grams = Some(g),
            Some(Embedded::Amount(a)) => scanned.embedded_amount = Some(a),
            None => {}
        }
        scanned
    });
    Item {
        sku: c.sku(),
        name: c.name(),
        unit: c.unit(),
        tax_rate_bp: c.tax_rate(),
        barcodes: c.barcodes(),
        category: c.category(),
        price,
        stock: StockNow { on_hand: view.on_hand, policy: c.stock_policy() },
        scanned,
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LookupBody {
    #[serde(default)]
    skus: Option<Vec<String>>,
    #[serde(default)]
    barcodes: Option<Vec<String>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LookupResult<'a> {
    items: Vec<Item<'a>>,
    not_found: Vec<&'a str>,
}

/// A page of a till's catalog sync.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CatalogReply<'a> {
    store_id: &'a StoreId,
    changes: &'a [CatalogChange],
    cursor: String,
    more: bool,
    #[serde(with = "instant")]
    as_of: DateTime<Utc>,
}

/// The DynamoDB tables this function uses: those of its store ports, [`LookupStore`] and
/// [`CatalogFeed`]. Its `main` requires their variables at start, and template.yaml gives it
/// exactly these.
pub const TABLES: retail_core::store::dynamo::TableSet =
    retail_core::store::dynamo::LOOKUP_STORE_TABLES.union(retail_core::store::dynamo::CATALOG_FEED_TABLES);

impl<S: LookupStore + CatalogFeed> CommodityLookup<S> {
    pub fn new(db: S) -> Self {
        CommodityLookup::with_store_cache(db, StoreCache::default())
    }

    /// With another memory of stores (how long a store change may take to reach lookups).
    pub fn with_store_cache(db: S, stores: StoreCache) -> Self {
        CommodityLookup { db, stores }
    }

    async fn by_sku(&self, request: &Request) -> Routed {
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let sku = path_param(request, "sku", Sku::parse)?;
        let store = find_store::<_, NotFound>(&self.db, &self.stores, &store_id).await?;
        let now = Utc::now();
        let view = lookup::by_sku(&self.db, &store, &sku, now).await?;
        Ok(Reply::ok(&item(&view, &store, now, None)))
    }

    async fn by_barcode(&self, request: &Request) -> Routed {
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let scan = path_param(request, "barcode", Scan::parse)?;
        let store = find_store::<_, NotFound>(&self.db, &self.stores, &store_id).await?;
        let now = Utc::now();
        let view = lookup::by_barcode(&self.db, &store, &scan, now).await?;
        Ok(Reply::ok(&item(&view, &store, now, Some(&scan))))
    }

    async fn batch(&self, request: &Request) -> Routed {
        let body: LookupBody = json_body(request)?;
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let raw_skus = body.skus.unwrap_or_default();
        let raw_barcodes = body.barcodes.unwrap_or_default();
        lookup::check_lookup_size(raw_skus.len() + raw_barcodes.len())?;
        let skus = raw_skus.iter().map(|s| Sku::parse(s)).collect::<Result<Vec<_>, _>>()?;
        let scans = raw_barcodes.iter().map(|b| Scan::parse(b)).collect::<Result<Vec<_>, _>>()?;
        let store = find_store::<_, NotFound>(&self.db, &self.stores, &store_id).await?;
        let now = Utc::now();
        let found = lookup::look_up(&self.db, &store, &skus, &scans, now).await?;

        let mut result = LookupResult { items: Vec::with_capacity(skus.len() + scans.len()), not_found: Vec::new() };
        for (raw, view) in raw_skus.iter().zip(&found.by_sku) {
            match view {
                Some(view) => result.items.push(item(view, &store, now, None)),
                None => result.not_found.push(raw),
            }
        }
        for ((raw, scan), views) in raw_barcodes.iter().zip(&scans).zip(&found.by_barcode) {
            // A shared barcode answers with every commodity that holds it; the till sees the
            // same `scanned.barcode` more than once and asks which was meant.
            if views.is_empty() {
                result.not_found.push(raw);
            }
            for view in views {
                result.items.push(item(view, &store, now, Some(scan)));
            }
        }
        Ok(Reply::ok(&result))
    }

    /// A snapshot page (no cursor, or a snapshot's) or the changes since (a caught-up cursor).
    /// Refused in the contract's order: a bad limit or cursor, or another store's (400); an
    /// unknown store (404); a cursor past its lifetime (410).
    async fn catalog(&self, request: &Request) -> Routed {
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let limit = catalog_sync::page_limit(query_param(request, "limit"))?;
        let now = Utc::now();
        let cursor = query_param(request, "cursor").map(|raw| CatalogCursor::decode_at(raw, &store_id, now)).transpose()?;
        let store = find_store::<_, NotFound>(&self.db, &self.stores, &store_id).await?;
        let page = catalog_sync::catalog_page(&self.db, &store, cursor, limit, now).await?;
        Ok(Reply::ok(&CatalogReply {
            store_id: &store_id,
            changes: &page.changes,
            cursor: page.cursor.encode(),
            more: page.more,
            as_of: page.as_of,
        }))
    }
}

impl<S: LookupStore + CatalogFeed> Routes for CommodityLookup<S> {
    async fn route(&self, request: &Request) -> Routed {
        authorize(request, SCOPES, raw_path_param(request, "storeId"))?;
        match route_key(request) {
            "GET /stores/{storeId}/commodities/{sku}" => self.by_sku(request).await,
            "GET /stores/{storeId}/barcodes/{barcode}" => self.by_barcode(request).await,
            "POST /stores/{storeId}/commodities/lookup" => self.batch(request).await,
            "GET /stores/{storeId}/catalog" => self.catalog(request).await,
            _ => Err(unknown_route(request)),
        }
    }
}
