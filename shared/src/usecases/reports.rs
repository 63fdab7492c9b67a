//! Managers' and head office's daily reports, read from the aggregates only: a report costs the
//! same whether the day had ten sales or a million.

use crate::domain::report::{ChainDailyReport, StoreDailyReport, chain_report, store_report};
use crate::domain::{BusinessDay, NotFound, StoreId};
use crate::store::{AggregateStore, Failure};

/// A store's day; `NotFound` for a store that does not exist (a day without sales is zeros).
pub async fn store_daily<S: AggregateStore>(db: &S, store: &StoreId, day: BusinessDay) -> Result<StoreDailyReport, Failure<NotFound>> {
    if db.store(store).await?.is_none() {
        return Err(NotFound::store(store).into());
    }
    let aggregate = db.store_day(store, day).await?;
    Ok(store_report(store, day.date(), aggregate.as_ref()))
}

/// The chain's day: every store, those without sales as zeros.
pub async fn chain_daily<S: AggregateStore>(db: &S, day: BusinessDay) -> Result<ChainDailyReport, Failure<NotFound>> {
    let (stores, days) = db.chain_day(day).await?;
    Ok(chain_report(day.date(), &stores, &days))
}
