//! `sales-report`: a store's and the chain's daily report, read from the aggregates only, so a
//! report costs the same whether the day had ten sales or a million.

use chrono::NaiveDate;
use lambda_http::Request;

use retail_core::domain::report::{chain_report, store_report};
use retail_core::domain::{DomainError, StoreId};
use retail_core::http::body::raw_path_param;
use retail_core::http::function::{ResponseFuture, request_id, respond, route_key, unknown_route};
use retail_core::http::{HttpFunction, Problem, Reply, Routed, Scope, authorize, path_param, query_param};
use retail_core::store::AggregateStore;

pub struct SalesReport<S> {
    store: S,
}

fn report_date(request: &Request) -> Result<NaiveDate, Problem> {
    let raw = query_param(request, "date").ok_or_else(|| Problem::invalid("the date query parameter is required"))?;
    NaiveDate::parse_from_str(raw, "%Y-%m-%d")
        .ok()
        .filter(|_| raw.len() == 10)
        .ok_or_else(|| Problem::invalid(format!("date {raw:?} must be YYYY-MM-DD")))
}

/// The DynamoDB tables this function uses: those of its one store port, [`AggregateStore`]. Its
/// `main` requires their variables at start, and template.yaml gives it exactly these.
pub const TABLES: retail_core::store::dynamo::TableSet = retail_core::store::dynamo::AGGREGATE_STORE_TABLES;

impl<S: AggregateStore> SalesReport<S> {
    pub fn new(store: S) -> Self {
        SalesReport { store }
    }

    async fn route(&self, request: &Request) -> Routed {
        match route_key(request) {
            "GET /stores/{storeId}/reports/daily" => self.store_daily(request).await,
            "GET /reports/daily" => self.chain_daily(request).await,
            _ => Err(unknown_route(request)),
        }
    }

    async fn store_daily(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::Store, Scope::HeadOffice], raw_path_param(request, "storeId"))?;
        let store_id = path_param(request, "storeId", StoreId::parse)?;
        let date = report_date(request)?;
        if self.store.store(&store_id).await?.is_none() {
            return Err(DomainError::NotFound(format!("no store {store_id}")).into());
        }
        let day = self.store.store_day(&store_id, date).await?;
        Ok(Reply::ok(&store_report(&store_id, date, day.as_ref())))
    }

    async fn chain_daily(&self, request: &Request) -> Routed {
        authorize(request, &[Scope::HeadOffice], None)?;
        let date = report_date(request)?;
        let (stores, days) = self.store.chain_day(date).await?;
        Ok(Reply::ok(&chain_report(date, &stores, &days)))
    }
}

impl<S: AggregateStore> HttpFunction for SalesReport<S> {
    fn call(&self, request: Request) -> ResponseFuture<'_> {
        Box::pin(async move {
            let id = request_id(&request);
            respond(&id, self.route(&request).await)
        })
    }
}
