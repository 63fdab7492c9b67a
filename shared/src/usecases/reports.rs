//! Managers' and head office's daily reports, read from the aggregates only: a report costs the
//! same whether the day had ten sales or a million, and ten commodities or twenty thousand.

use crate::domain::report::{
    ChainDailyReport, DayCommoditiesCursor, DayCommoditiesPage, DayCommodityRow, StoreDailyReport, chain_report, store_report,
    top_commodities,
};
use crate::domain::{BusinessDay, NotFound, StoreId};
use crate::store::{AggregateStore, Failure};

/// A store's day; `NotFound` for a store that does not exist (a day without sales is zeros).
/// One wave: the store, the day's head and its top commodities read together.
pub async fn store_daily<S: AggregateStore>(db: &S, store: &StoreId, day: BusinessDay) -> Result<StoreDailyReport, Failure<NotFound>> {
    let (found, head, candidates) = tokio::join!(db.store(store), db.store_day(store, day), db.top_commodity_candidates(store, day));
    if found?.is_none() {
        return Err(NotFound::store(store).into());
    }
    let candidates = candidates?;
    let top = top_commodities(candidates.iter().map(|(sku, c)| (sku, c)));
    Ok(store_report(store, day.date(), head?.as_ref(), top))
}

/// A page of every commodity a store sold or took back on a day, by sku, from `cursor` (the
/// first page without); `NotFound` for a store that does not exist. One wave.
pub async fn day_commodities<S: AggregateStore>(
    db: &S,
    store: &StoreId,
    day: BusinessDay,
    cursor: Option<DayCommoditiesCursor>,
    limit: usize,
) -> Result<DayCommoditiesPage, Failure<NotFound>> {
    let after = cursor.map(|c| c.after);
    let (found, page) = tokio::join!(db.store(store), db.day_commodities(store, day, after.as_ref(), limit));
    if found?.is_none() {
        return Err(NotFound::store(store).into());
    }
    let (items, more) = page?;
    let next_cursor = match items.last() {
        Some((last, _)) if more => Some(DayCommoditiesCursor { store: store.clone(), date: day.date(), after: last.clone() }.encode()),
        _ => None,
    };
    Ok(DayCommoditiesPage {
        store_id: store.clone(),
        date: day.date(),
        items: items.into_iter().map(|(sku, c)| DayCommodityRow::of(sku, c)).collect(),
        next_cursor,
    })
}

/// The chain's day: every store, those without sales as zeros.
pub async fn chain_daily<S: AggregateStore>(db: &S, day: BusinessDay) -> Result<ChainDailyReport, Failure<NotFound>> {
    let (stores, days) = db.chain_day(day).await?;
    Ok(chain_report(day.date(), &stores, &days))
}
