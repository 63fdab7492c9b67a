//! Stores as a warm function remembers them. A store's region and timezone change rarely, so a
//! function keeps what it read for a minute instead of paying a round trip on every sale or
//! scan: that read would otherwise be a whole sequential wave before the basket can be read.
//! Only stores that exist are remembered, so a store set up a moment ago is found at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use std::sync::Arc;

use super::StoreResult;
use crate::domain::sale::MAX_AGE;
use crate::domain::{Promotion, Store, StoreId};

#[derive(Debug)]
pub struct StoreCache {
    ttl: Duration,
    entries: Mutex<HashMap<StoreId, (Instant, Store)>>,
}

impl Default for StoreCache {
    fn default() -> Self {
        StoreCache::new(StoreCache::TTL)
    }
}

impl StoreCache {
    /// How long a change to a store (its region, its timezone) may take to reach a warm function.
    pub const TTL: Duration = Duration::from_secs(60);

    pub fn new(ttl: Duration) -> Self {
        StoreCache { ttl, entries: Mutex::new(HashMap::new()) }
    }

    /// The store, from memory while fresh, else from `load` (and remembered if it exists).
    pub async fn get<F, Fut>(&self, id: &StoreId, load: F) -> StoreResult<Option<Store>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = StoreResult<Option<Store>>>,
    {
        if let Some((at, store)) = self.entries.lock().expect("store cache lock").get(id)
            && at.elapsed() < self.ttl
        {
            return Ok(Some(store.clone()));
        }
        let found = load().await?;
        if let Some(store) = &found {
            self.entries.lock().expect("store cache lock").insert(id.clone(), (Instant::now(), store.clone()));
        }
        Ok(found)
    }
}

/// The chain's promotions as a warm function remembers them: read again when the list is
/// [`PromotionCache::TTL`] old, so a promotion reaches every checkout within that long of being
/// stored (the contract's promise), and one stored that long before it starts applies from its
/// first second: windows are judged at each sale, to the second, on the list in memory. The
/// list reaches back as far as an offline sale may (`MAX_AGE`), so a sale gets the promotions
/// of its moment, even ones that have ended since.
#[derive(Debug)]
pub struct PromotionCache {
    ttl: Duration,
    /// The list and when its read began.
    list: Mutex<Option<(Instant, PromotionList)>>,
    /// One read at a time: the sales that find the list stale together wait for one read
    /// instead of each sending its own (a warm `retail-local` serves many sales at once).
    reading: tokio::sync::Mutex<()>,
}

impl Default for PromotionCache {
    fn default() -> Self {
        PromotionCache::new(PromotionCache::TTL)
    }
}

impl PromotionCache {
    pub const TTL: Duration = Duration::from_secs(10);

    pub fn new(ttl: Duration) -> Self {
        PromotionCache { ttl, list: Mutex::new(None), reading: tokio::sync::Mutex::new(()) }
    }

    /// The promotions a sale recorded at `now` may get, from memory while fresh, else from
    /// `load` (given the moment the list must reach back to: every promotion ending after it).
    pub async fn get<F, Fut>(&self, now: DateTime<Utc>, load: F) -> StoreResult<PromotionList>
    where
        F: FnOnce(DateTime<Utc>) -> Fut,
        Fut: Future<Output = StoreResult<Vec<Promotion>>>,
    {
        if let Some(list) = self.fresh() {
            return Ok(list);
        }
        let _reading = self.reading.lock().await;
        // Another sale may have read it while this one waited.
        if let Some(list) = self.fresh() {
            return Ok(list);
        }
        // Timed from before the read: what the read sees is at least as new as this.
        let started = Instant::now();
        // A minute more than an offline sale's age covers every sale until the list is stale.
        let list: PromotionList = load(now - MAX_AGE - chrono::Duration::minutes(1)).await?.into_iter().map(Arc::new).collect();
        *self.list.lock().expect("promotion cache lock") = Some((started, list.clone()));
        Ok(list)
    }

    fn fresh(&self) -> Option<PromotionList> {
        match &*self.list.lock().expect("promotion cache lock") {
            Some((at, list)) if at.elapsed() < self.ttl => Some(list.clone()),
            _ => None,
        }
    }
}

/// The chain's promotions as read at one moment, shared by the sales that use it.
pub type PromotionList = Arc<[Arc<Promotion>]>;

/// What a warm checkout remembers between requests.
#[derive(Debug, Default)]
pub struct Warm {
    pub stores: StoreCache,
    pub promotions: PromotionCache,
}

impl Warm {
    /// Remembers nothing: every request reads afresh (for tests that change what is stored
    /// between requests).
    pub fn forgetful() -> Self {
        Warm { stores: StoreCache::new(Duration::ZERO), promotions: PromotionCache::new(Duration::ZERO) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn store(region: &str) -> Store {
        let region = crate::domain::RegionId::parse(region).unwrap();
        Store::new(StoreId::parse("S001").unwrap(), "Binjiang", region, None).unwrap()
    }

    #[tokio::test]
    async fn a_fresh_store_is_read_once_and_a_missing_one_every_time() {
        let cache = StoreCache::new(Duration::from_secs(60));
        let id = StoreId::parse("S001").unwrap();
        let loads = AtomicUsize::new(0);
        for _ in 0..3 {
            let found = cache.get(&id, || async { loads.fetch_add(1, Ordering::SeqCst); Ok(Some(store("EAST"))) }).await;
            assert_eq!(found.unwrap().unwrap().region.to_string(), "EAST");
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        let other = StoreId::parse("S002").unwrap();
        for _ in 0..2 {
            assert!(cache.get(&other, || async { loads.fetch_add(1, Ordering::SeqCst); Ok(None) }).await.unwrap().is_none());
        }
        assert_eq!(loads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_stale_store_is_read_again() {
        let cache = StoreCache::new(Duration::ZERO);
        let id = StoreId::parse("S001").unwrap();
        cache.get(&id, || async { Ok(Some(store("EAST"))) }).await.unwrap();
        let found = cache.get(&id, || async { Ok(Some(store("WEST"))) }).await.unwrap().unwrap();
        assert_eq!(found.region.to_string(), "WEST");
    }

    #[tokio::test]
    async fn promotions_are_read_again_once_stale_and_by_one_sale_at_a_time() {
        let now = chrono::Utc::now();
        let loads = AtomicUsize::new(0);
        let load = |after: chrono::DateTime<chrono::Utc>| {
            // The list reaches back as far as an offline sale may be old.
            assert!(now - after > crate::domain::sale::MAX_AGE);
            loads.fetch_add(1, Ordering::SeqCst);
            async { Ok(Vec::new()) }
        };
        let warm = PromotionCache::new(Duration::from_secs(60));
        for _ in 0..3 {
            warm.get(now, load).await.unwrap();
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        // Twenty sales finding a cold list at once: one read.
        let cold = std::sync::Arc::new(PromotionCache::new(Duration::from_secs(60)));
        let reads = std::sync::Arc::new(AtomicUsize::new(0));
        let mut sales = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (cold, reads) = (cold.clone(), reads.clone());
            sales.spawn(async move {
                cold.get(now, |_| async move {
                    reads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    Ok(Vec::new())
                })
                .await
                .unwrap()
            });
        }
        while let Some(done) = sales.join_next().await {
            done.unwrap();
        }
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        // A list older than its time to live is read again.
        let stale = PromotionCache::new(Duration::ZERO);
        stale.get(now, load).await.unwrap();
        stale.get(now, load).await.unwrap();
        assert_eq!(loads.load(Ordering::SeqCst), 3);
    }
}
