//! A till syncs its store's catalog (API.md, "Till catalog sync"): a snapshot walked a page at a
//! time, then the changes since, each sent with the state of what it names as of the page.

use chrono::{DateTime, Utc};
use std::collections::HashSet;

use crate::domain::catalog_feed::{
    CatalogChange, CatalogCursor, Changed, DEFAULT_LIMIT, FeedPosition, MAX_LIMIT, MAX_PAGE_BYTES, Position, RESEND_WINDOW,
    json_size, till_prices,
};
use crate::domain::{CatalogRefusal, Invalid, Promotion, PromotionId, Sku, Store};
use crate::store::{CatalogFeed, Failure};

/// One page of a till's sync.
#[derive(Debug, Clone)]
pub struct CatalogPage {
    pub changes: Vec<CatalogChange>,
    pub cursor: CatalogCursor,
    /// Follow `cursor` at once: the snapshot, or the changes, go on.
    pub more: bool,
    pub as_of: DateTime<Utc>,
}

/// `limit`: 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
pub fn page_limit(raw: Option<&str>) -> Result<usize, Invalid> {
    let Some(raw) = raw else { return Ok(DEFAULT_LIMIT) };
    match raw.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) && !raw.starts_with('+') => Ok(n),
        _ => Err(Invalid::request(format!("limit must be a whole number from 1 to {MAX_LIMIT}, not {raw:?}"))),
    }
}

/// The next page for a till of `store` holding `cursor` (`None`: start a snapshot). `limit`:
/// the most commodities in a snapshot page (each comes with its prices), the most changes in a
/// page of changes. A cursor of another region (the store moved) walks the catalog again.
pub async fn catalog_page<S: CatalogFeed>(
    db: &S,
    store: &Store,
    cursor: Option<CatalogCursor>,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<CatalogPage, Failure<CatalogRefusal>> {
    let position = match cursor {
        None => Position::Walk { after: None, then: FeedPosition::before(now - RESEND_WINDOW), rewalk: false },
        Some(cursor) => {
            cursor.check_fresh(now)?;
            if cursor.region == store.region {
                cursor.position
            } else {
                // Other prices and promotions reach the store now. Everything changed since the
                // till's place comes again after the walk, from where it was.
                let then = match cursor.position {
                    Position::Walk { then, .. } => then,
                    Position::Changes { after } => after,
                };
                Position::Walk { after: None, then, rewalk: true }
            }
        }
    };
    let page = match position {
        Position::Walk { after, then, rewalk } => walk(db, store, after, then, rewalk, limit, now).await?,
        Position::Changes { after } => changes(db, store, after, limit, now).await?,
    };
    let (changes, position, more) = page;
    let cursor = CatalogCursor { store: store.store_id.clone(), region: store.region.clone(), issued: now, position };
    Ok(CatalogPage { changes, cursor, more, as_of: now })
}

type Page = (Vec<CatalogChange>, Position, bool);

/// Adds changes while the page stays under [`MAX_PAGE_BYTES`]; `false` (and nothing added)
/// once a group would pass it, unless the page is empty (a page always moves on).
struct Filler {
    changes: Vec<CatalogChange>,
    bytes: usize,
}

impl Filler {
    fn new() -> Self {
        // `{"storeId":"...","changes":[],"cursor":"...","more":false,"asOf":"..."}`
        Filler { changes: Vec::new(), bytes: 256 }
    }

    fn fits(&mut self, group: impl IntoIterator<Item = CatalogChange>) -> bool {
        self.add(group, false)
    }

    /// `anyway`: the group goes in even past the limit (the page's first commodity, so that a
    /// walk always moves on).
    fn add(&mut self, group: impl IntoIterator<Item = CatalogChange>, anyway: bool) -> bool {
        let group: Vec<CatalogChange> = group.into_iter().collect();
        let weight: usize = group.iter().map(|c| json_size(c) + 1).sum();
        if !anyway && !self.changes.is_empty() && self.bytes + weight > MAX_PAGE_BYTES {
            return false;
        }
        self.bytes += weight;
        self.changes.extend(group);
        true
    }
}

async fn walk<S: CatalogFeed>(
    db: &S,
    store: &Store,
    after: Option<Sku>,
    then: FeedPosition,
    rewalk: bool,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Page, Failure<CatalogRefusal>> {
    let first = after.is_none();
    // The first page's store and promotions in the same wave as its commodities.
    let (walked, promotions) = tokio::try_join!(db.walk(store, after.as_ref(), limit), async {
        if first { db.promotions_ending_after(now).await.map(Some) } else { Ok(None) }
    })?;
    let mut page = Filler::new();
    if let Some(promotions) = promotions {
        let mut head = vec![CatalogChange::Store(store.clone())];
        for p in promotions {
            if p.scope.reaches(store) {
                head.push(CatalogChange::Promotion { id: p.id.clone(), promotion: Some(p) });
            } else if rewalk {
                // It may have reached the store in the region it left, or have moved from that
                // region to another scope (its change then went to the old region's feed, which
                // this store no longer reads): a till drops it; one it never held costs a line.
                head.push(CatalogChange::Promotion { id: p.id.clone(), promotion: None });
            }
        }
        page.fits(head);
    }
    let mut last = after;
    let mut cut = false;
    for (i, (commodity, schedule)) in walked.entries.into_iter().enumerate() {
        let sku = commodity.sku().clone();
        let group = [
            CatalogChange::Commodity { sku: sku.clone(), commodity: Some(commodity) },
            CatalogChange::Prices { sku: sku.clone(), prices: till_prices(schedule.iter().map(|a| &**a), store, now) },
        ];
        if !page.add(group, i == 0) {
            cut = true;
            break;
        }
        last = Some(sku);
    }
    Ok(if walked.more || cut {
        (page.changes, Position::Walk { after: last, then, rewalk }, true)
    } else {
        (page.changes, Position::Changes { after: then }, false)
    })
}

async fn changes<S: CatalogFeed>(
    db: &S,
    store: &Store,
    after: FeedPosition,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<Page, Failure<CatalogRefusal>> {
    let read = db.changes_after(store, &after, limit).await?;
    if read.entries.is_empty() {
        // Read again from a minute back next time: a change committed late is never skipped.
        return Ok((Vec::new(), Position::Changes { after: caught_up(now) }, false));
    }
    let mut skus: Vec<Sku> = read.entries.iter().filter_map(|e| e.changed.sku().cloned()).collect();
    skus.sort();
    skus.dedup();
    let promotions_changed = read.entries.iter().any(|e| matches!(e.changed, Changed::Promotion(_)));
    let store_changed = read.entries.iter().any(|e| matches!(e.changed, Changed::Store(_)));
    // A store change is sent with the store read now, not as the function remembers it (up to
    // a minute old): a till polling less often than the resend window would otherwise keep the
    // old name or timezone for good.
    let (entries, promotions, store_now) = tokio::try_join!(
        db.catalog_entries(store, &skus),
        async { if promotions_changed { db.promotions_ending_after(now).await } else { Ok(Vec::new()) } },
        async { if store_changed { db.store(&store.store_id).await } else { Ok(None) } },
    )?;
    let store_now = store_now.unwrap_or_else(|| store.clone());
    let promotion = |id: &PromotionId| promotions.iter().find(|p: &&Promotion| p.id == *id && p.scope.reaches(store)).cloned();
    let mut page = Filler::new();
    let mut sent = HashSet::new();
    let mut last = after;
    let mut cut = false;
    for entry in read.entries {
        if sent.insert(entry.changed.clone()) {
            let change = match &entry.changed {
                Changed::Commodity(sku) => {
                    CatalogChange::Commodity { sku: sku.clone(), commodity: entries.get(sku).map(|(c, _)| c.clone()) }
                }
                Changed::Prices(sku) => CatalogChange::Prices {
                    sku: sku.clone(),
                    prices: entries.get(sku).map(|(_, s)| till_prices(s.iter().map(|a| &**a), store, now)).unwrap_or_default(),
                },
                Changed::Promotion(id) => CatalogChange::Promotion { id: id.clone(), promotion: promotion(id) },
                Changed::Store(_) => CatalogChange::Store(store_now.clone()),
            };
            if !page.fits([change]) {
                cut = true;
                break;
            }
        }
        last = entry.position;
    }
    Ok(if read.more || cut {
        (page.changes, Position::Changes { after: last }, true)
    } else {
        (page.changes, Position::Changes { after: caught_up(now) }, false)
    })
}

/// Where the next poll starts once a till has every change: [`RESEND_WINDOW`] back.
fn caught_up(now: DateTime<Utc>) -> FeedPosition {
    FeedPosition::before(now - RESEND_WINDOW)
}
