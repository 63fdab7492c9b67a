//! Stores as a warm function remembers them. A store's region and timezone change rarely, so a
//! function keeps what it read for a minute instead of paying a round trip on every sale or
//! scan: that read would otherwise be a whole sequential wave before the basket can be read.
//! Only stores that exist are remembered, so a store set up a moment ago is found at once.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::StoreResult;
use crate::domain::{Store, StoreId};

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
}
