//! `sales-report`: a store's and the chain's daily report, and a store-day's commodities a page
//! at a time, read from the aggregates only, so a report costs the same whether the day had ten
//! sales or a million.

use lambda_http::Request;

use retail_core::domain::report::{DayCommoditiesCursor, commodities_limit};
use retail_core::domain::{BusinessDay, Invalid, StoreId};
use retail_core::http::body::raw_path_param;
use retail_core::http::function::{route_key, unknown_route};
use retail_core::http::{Problem, Reply, Routed, Routes, Scope, authorize, path_param, query_param};
use retail_core::store::AggregateStore;
use retail_core::usecases::reports;

pub struct SalesReport<S> {
    db: S,
}

/// The `date` query parameter: required, `YYYY-MM-DD`.
fn report_day(request: &Request) -> Result<BusinessDay, Problem> {
    let raw = query_param(request, "date").ok_or_else(|| Invalid::request("the date query parameter is required"))?;
    Ok(BusinessDay::parse(raw)?)
}

/// The DynamoDB tables this function uses: those of its one store port, [`AggregateStore`]. Its
/// `main` requires their variables at start, and template.yaml gives it exactly these.
pub const TABLES: retail_core::store::dynamo::TableSet = retail_core::store::dynamo::AGGREGATE_STORE_TABLES;

impl<S: AggregateStore> SalesReport<S> {
    pub fn new(db: S) -> Self {
        SalesReport { db }
    }

    async fn store_daily(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let day = report_day(request)?;
        Ok(Reply::ok(&reports::store_daily(&self.db, &store_id, day).await?))
    }

    /// Every commodity the store sold or took back that day, by sku, a page at a time. Refused
    /// in the contract's order: a bad date, limit or cursor (or another store's or day's
    /// cursor) 400, then an unknown store 404.
    async fn store_daily_commodities(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let day = report_day(request)?;
        let limit = commodities_limit(query_param(request, "limit"))?;
        let cursor = query_param(request, "cursor").map(|raw| DayCommoditiesCursor::decode(raw, &store_id, day.date())).transpose()?;
        Ok(Reply::ok(&reports::day_commodities(&self.db, &store_id, day, cursor, limit).await?))
    }

    async fn chain_daily(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::HeadOffice], None)?;
        let day = report_day(request)?;
        Ok(Reply::ok(&reports::chain_daily(&self.db, day).await?))
    }
}

impl<S: AggregateStore> Routes for SalesReport<S> {
    async fn route(&self, request: &Request) -> Routed {
        match route_key(request) {
            "GET /stores/{storeId}/reports/daily" => self.store_daily(request).await,
            "GET /stores/{storeId}/reports/daily/commodities" => self.store_daily_commodities(request).await,
            "GET /reports/daily" => self.chain_daily(request).await,
            _ => Err(unknown_route(request)),
        }
    }
}
