//! The catalog as a warm checkout keeps it: each sku's commodity with its price schedule for a
//! store, read once and kept until the tills' feed of changes (`feed.rs`) names the sku, names
//! the store, or brings more changes than one poll reads (then all of the store's are dropped).
//!
//! The feed is polled at most once a [`POLL_EVERY`] per store, before the basket is read: one
//! BatchGetItem of three heads when nothing changed lately. It is read from [`RESEND_WINDOW`]
//! before the previous poll, as tills read it, so a change whose writer committed it late is
//! still seen. Prices are judged at each sale against the schedule kept, to the second: a flash
//! price stored before it starts begins on its second; a price stored now reaches sales within
//! a poll. What is saved: a hypermarket basket's 20 skus read four items each (the commodity and
//! its three schedules), 80 read units a sale, and now only the skus not kept yet.
//!
//! Barcodes are not kept: a scanned barcode's holders are read each time (a label reassigned
//! is seen at once), and only the commodities they name come from here.

use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::catalog_feed::{Changed, FeedPosition, RESEND_WINDOW};
use crate::domain::{Commodity, FxMap, Schedule, Sku, StoreId};
use crate::store::FeedRead;

/// How often a store's kept catalog is checked against the feed, at most.
pub(crate) const POLL_EVERY: Duration = Duration::from_secs(1);
/// The most changes one poll reads; more means the store's kept catalog is dropped whole.
pub(crate) const POLL_LIMIT: usize = 1000;
/// The most skus kept in all (over every store a function sells for): past it, everything is
/// dropped and kept again from the next reads. About 600 bytes each.
const MOST_KEPT: usize = 30_000;

type Entry = (Arc<Commodity>, Schedule);

#[derive(Debug, Default)]
struct StoreCatalog {
    /// When the feed was last read (or the first sku kept), by this process's clock and by the
    /// wall clock the feed's positions use.
    polled: Option<(Instant, DateTime<Utc>)>,
    entries: HashMap<Sku, Entry>,
}

#[derive(Debug, Default, Clone)]
pub(crate) struct KeptCatalog {
    stores: Arc<Mutex<HashMap<StoreId, StoreCatalog>>>,
}

impl KeptCatalog {
    fn stores(&self) -> std::sync::MutexGuard<'_, HashMap<StoreId, StoreCatalog>> {
        self.stores.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where the feed must be read from before the store's kept skus may be used, when a poll
    /// is due (`None`: nothing kept, or polled less than [`POLL_EVERY`] ago).
    pub(crate) fn poll_due(&self, store: &StoreId) -> Option<FeedPosition> {
        let stores = self.stores();
        let (at, wall) = stores.get(store)?.polled?;
        (at.elapsed() >= POLL_EVERY).then(|| FeedPosition::before(wall - RESEND_WINDOW))
    }

    /// What a poll begun at `wall` read: the skus it names are dropped (all of them when it
    /// names the store or did not read every change).
    pub(crate) fn polled(&self, store: &StoreId, wall: DateTime<Utc>, read: &FeedRead) {
        let mut stores = self.stores();
        let Some(kept) = stores.get_mut(store) else { return };
        kept.polled = Some((Instant::now(), wall));
        if read.more || read.entries.iter().any(|e| matches!(e.changed, Changed::Store(_))) {
            kept.entries.clear();
            return;
        }
        for entry in &read.entries {
            if let Changed::Commodity(sku) | Changed::Prices(sku) = &entry.changed {
                kept.entries.remove(sku);
            }
        }
    }

    /// The kept entries of `skus`.
    pub(crate) fn get(&self, store: &StoreId, skus: &[Sku]) -> FxMap<Sku, Entry> {
        let stores = self.stores();
        let Some(kept) = stores.get(store) else { return FxMap::default() };
        skus.iter().filter_map(|sku| kept.entries.get(sku).map(|e| (sku.clone(), e.clone()))).collect()
    }

    /// Keeps entries read at or after `wall` (read after the store's last poll began, or, for a
    /// store with nothing kept, the moment its feed is next read from).
    pub(crate) fn keep<'a>(&self, store: &StoreId, wall: DateTime<Utc>, read: impl IntoIterator<Item = (&'a Sku, &'a Entry)>) {
        let mut stores = self.stores();
        if stores.values().map(|s| s.entries.len()).sum::<usize>() >= MOST_KEPT {
            stores.clear();
        }
        let kept = stores.entry(store.clone()).or_default();
        kept.polled.get_or_insert((Instant::now(), wall));
        for (sku, entry) in read {
            kept.entries.insert(sku.clone(), entry.clone());
        }
    }
}
