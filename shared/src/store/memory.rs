//! The embedded store: everything in process memory behind one lock, so each business operation
//! is atomic. The local default, and the reference the DynamoDB adapter is held to.

use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use super::{
    AggregateStore, BasketReading, BatchOutcome, CatalogFeed, CatalogStore, FeedRead, Walked, Claim, ClaimToken, CommodityView, Failure, IN_PROGRESS_EXPIRY,
    KEY_RETENTION, KeyAnswer, KeyClaim, LookupStore, Moved, MovementKey, PendingReturn, PendingSale, PriceBatch, PriceBatchResult,
    PriceStore, PromotionSchedule, PromotionStore, ReturnsStore, SalesStore, StoreResult, Stores, Versioned, Written,
};
use crate::domain::{Promotion, PromotionId};
use crate::domain::report::{CommodityTotals, FoldedDay, LedgerEntry, StoreDay};
use crate::domain::stream::Streamed;
use crate::domain::returns::{ReturnReceipt, ReturnRefusal, ReturnSummary, Returned, SaleReturns, record_return};
use crate::domain::ReturnId;
use crate::domain::sale::{Receipt, SaleRecord, record_sale};
use crate::domain::{FxMap, Schedule};
use crate::domain::{BusinessDay, CatalogRefusal, IdempotencyKey, NotFound, SaleId, SaleRefusal, Shortage, StockPolicy, TerminalId};
use std::collections::HashSet;
use tokio::sync::Notify;
use crate::domain::price::retain_live;
use crate::domain::stock::{
    StockChange, StockShard, padded_levels, plan_movement, plan_take, restock_spread, total_on_hand,
};
use crate::domain::{Barcode, BatchId, Commodity, PriceAdjustment, PriceScope, Sku, Store, StoreId};
use crate::domain::catalog_feed::{Changed, FEED_RETENTION, FeedEntry, FeedPosition, price_changes, promotion_changes};

#[derive(Default)]
struct State {
    stores: HashMap<StoreId, Store>,
    commodities: FxMap<Sku, Arc<Commodity>>,
    barcodes: HashMap<Barcode, Vec<Sku>>,
    /// Per store, per sku, its stock shards (grams for weighed items).
    stock: HashMap<StoreId, FxMap<Sku, Vec<StockShard>>>,
    /// Per sku, the adjustments that can still be in force (see `retain_live`).
    schedules: FxMap<Sku, Schedule>,
    /// Per sku, every adjustment ever applied.
    history: HashMap<Sku, Vec<PriceAdjustment>>,
    batches: HashMap<BatchId, (String, PriceBatchResult)>,
    /// Per store, its sales' idempotency keys.
    keys: HashMap<StoreId, HashMap<IdempotencyKey, KeyRecord>>,
    /// Per store, its stock movement requests' idempotency keys: the body's fingerprint, the
    /// answer, and when it was given.
    movement_keys: HashMap<StoreId, HashMap<IdempotencyKey, MovementKeyRecord>>,
    /// By sale id (a UUID, unique across stores).
    sales: FxMap<SaleId, Arc<SaleRecord>>,
    /// Per store, the last receipt number of each terminal.
    receipt_sequences: HashMap<StoreId, HashMap<TerminalId, u64>>,
    /// What has come back of each sale, and its returns in order.
    returned: FxMap<SaleId, (Returned, Vec<ReturnSummary>)>,
    /// Per returning store, its returns.
    returns: HashMap<StoreId, FxMap<ReturnId, Arc<ReturnReceipt>>>,
    /// Every committed sale and return in commit order: the embedded store's change stream.
    feed: Vec<LedgerEntry>,
    /// Each store-day folded whole: its head and its commodities.
    days: HashMap<(StoreId, BusinessDay), FoldedDay>,
    /// The sales and returns folded into `days` (sale ids and return ids kept apart).
    folded: HashSet<crate::domain::report::EntryId>,
    /// Head office's promotions, each with its version.
    promotions: BTreeMap<PromotionId, Versioned<Promotion>>,
    /// The tills' catalog feed: each change by its position, then the scope it reaches.
    catalog_changes: BTreeMap<(FeedPosition, PriceScope), Changed>,
}

/// A stock movement request's key: its body's fingerprint, its answer, and when it was given.
struct MovementKeyRecord {
    fingerprint: String,
    levels: Vec<(Sku, i64)>,
    at: DateTime<Utc>,
}

struct KeyRecord {
    fingerprint: String,
    state: KeyState,
}

enum KeyState {
    InProgress { since: DateTime<Utc>, token: ClaimToken },
    Completed { answer: KeyAnswer, at: DateTime<Utc> },
}

/// Cheap to clone: clones share one state.
#[derive(Clone, Default)]
pub struct MemoryStore {
    state: Arc<RwLock<State>>,
    committed: Arc<Notify>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied operation: every writer
        // checks everything before it changes anything.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The committed sales and returns from position `from` of the change stream on, and the
    /// next position.
    pub fn entries_since(&self, from: usize) -> (Vec<LedgerEntry>, usize) {
        let state = self.read();
        let from = from.min(state.feed.len());
        (state.feed[from..].to_vec(), state.feed.len())
    }

    /// Wakes when a sale or a return is committed (the embedded store's stream trigger).
    pub async fn sale_committed(&self) {
        self.committed.notified().await
    }
}

fn reaches_store<A: std::borrow::Borrow<PriceAdjustment>>(store: &Store) -> impl Fn(&&A) -> bool + '_ {
    move |a| (*a).borrow().scope.reaches(store)
}

impl State {
    /// Adds changes to the tills' feed, dropping those past its retention.
    fn record_changes(&mut self, entries: impl IntoIterator<Item = FeedEntry>) {
        for e in entries {
            self.catalog_changes.insert((e.position, e.audience), e.changed);
        }
        let oldest = FeedPosition::before(Utc::now() - FEED_RETENTION);
        if self.catalog_changes.first_key_value().is_some_and(|((p, _), _)| *p < oldest) {
            self.catalog_changes.retain(|(p, _), _| *p >= oldest);
        }
    }

    fn shards(&self, store: &StoreId, sku: &Sku) -> &[StockShard] {
        self.stock.get(store).and_then(|levels| levels.get(sku)).map_or(&[], Vec::as_slice)
    }

    /// A commodity with its whole schedule (a till's `till_prices` keeps what reaches its store).
    fn catalog_entry(&self, sku: &Sku) -> Option<(Arc<Commodity>, Schedule)> {
        let commodity = self.commodities.get(sku)?.clone();
        Some((commodity, self.schedules.get(sku).cloned().unwrap_or_default()))
    }

    fn on_hand(&self, store: &StoreId, sku: &Sku) -> i64 {
        total_on_hand(self.shards(store, sku))
    }

    /// Applies (shard, delta) pairs to a sku's shards, each a write.
    /// The terminal's next receipt number in the store (sales and returns count alike).
    fn next_sequence(&mut self, store: &StoreId, terminal: &TerminalId) -> u64 {
        let seq = self.receipt_sequences.entry(store.clone()).or_default().entry(terminal.clone()).or_insert(0);
        *seq += 1;
        *seq
    }

    /// Whether `key` of `store` is still in progress for a body with `fingerprint`.
    fn holds(&self, store: &StoreId, key: &IdempotencyKey, fingerprint: &str) -> bool {
        matches!(
            self.keys.get(store).and_then(|keys| keys.get(key)),
            Some(KeyRecord { fingerprint: f, state: KeyState::InProgress { .. } }) if f == fingerprint
        )
    }

    fn move_stock(&mut self, store: &StoreId, sku: &Sku, plan: &[(usize, i64)]) {
        let shards = self.stock.entry(store.clone()).or_default().entry(sku.clone()).or_default();
        for &(i, delta) in plan {
            if shards.len() <= i {
                shards.resize(i + 1, StockShard::default());
            }
            shards[i].on_hand += delta;
            shards[i].writes += 1;
        }
    }
}

impl Stores for MemoryStore {
    async fn store(&self, id: &StoreId) -> StoreResult<Option<Store>> {
        Ok(self.read().stores.get(id).cloned())
    }
}

impl CatalogStore for MemoryStore {
    async fn put_store(&self, store: Store) -> StoreResult<Written> {
        let mut state = self.write();
        let id = store.store_id.clone();
        state.record_changes([FeedEntry::new(PriceScope::Store(id.clone()), Utc::now(), Changed::Store(id))]);
        Ok(match state.stores.insert(store.store_id.clone(), store) {
            None => Written::Created,
            Some(_) => Written::Replaced,
        })
    }

    async fn put_commodity(&self, commodity: Commodity) -> Result<Written, Failure<CatalogRefusal>> {
        let mut state = self.write();
        for barcode in &commodity.barcodes {
            let holders: Vec<&Sku> =
                state.barcodes.get(barcode).into_iter().flatten().filter(|s| **s != commodity.sku).collect();
            if holders.is_empty() {
                continue;
            }
            let all_share = commodity.allow_shared_barcodes
                && holders.iter().all(|s| state.commodities.get(*s).is_some_and(|c| c.allow_shared_barcodes));
            if !all_share {
                return Err(Failure::Refused(CatalogRefusal::BarcodeTaken {
                    barcode: barcode.to_string(),
                    skus: holders.iter().map(|s| s.to_string()).collect(),
                }));
            }
        }
        let previous = state.commodities.get(&commodity.sku).cloned();
        if let Some(previous) = &previous {
            for released in previous.barcodes.iter().filter(|b| !commodity.barcodes.contains(b)) {
                if let Some(holders) = state.barcodes.get_mut(released) {
                    holders.retain(|s| *s != commodity.sku);
                    if holders.is_empty() {
                        state.barcodes.remove(released);
                    }
                }
            }
        }
        for barcode in &commodity.barcodes {
            let holders = state.barcodes.entry(barcode.clone()).or_default();
            if !holders.contains(&commodity.sku) {
                holders.push(commodity.sku.clone());
                holders.sort();
            }
        }
        state.record_changes([FeedEntry::new(PriceScope::Chain, Utc::now(), Changed::Commodity(commodity.sku.clone()))]);
        state.commodities.insert(commodity.sku.clone(), Arc::new(commodity));
        Ok(if previous.is_some() { Written::Replaced } else { Written::Created })
    }

    async fn commodity(&self, sku: &Sku) -> StoreResult<Option<Commodity>> {
        Ok(self.read().commodities.get(sku).map(|c| (**c).clone()))
    }

    async fn record_stock_movements(
        &self,
        store: &StoreId,
        changes: &BTreeMap<Sku, StockChange>,
        key: Option<&MovementKey>,
        now: DateTime<Utc>,
    ) -> Result<Moved, Failure<CatalogRefusal>> {
        let mut state = self.write();
        if !state.stores.contains_key(store) {
            return Err(NotFound::store(store).into());
        }
        if let Some(k) = key
            && let Some(held) = state.movement_keys.get(store).and_then(|keys| keys.get(&k.key))
            && now - held.at < KEY_RETENTION
        {
            return if held.fingerprint == k.fingerprint {
                Ok(Moved::Replayed(held.levels.clone()))
            } else {
                Err(Failure::Refused(CatalogRefusal::KeyReused))
            };
        }
        let mut plans = Vec::with_capacity(changes.len());
        let mut shortages = Vec::new();
        for (sku, change) in changes {
            let commodity =
                state.commodities.get(sku).ok_or_else(|| NotFound::commodity(sku))?;
            let k = commodity.stock_shards().get();
            let levels = padded_levels(state.shards(store, sku), k);
            match plan_movement(sku, commodity.stock_policy, &levels, k, *change) {
                Ok(plan) => plans.push((sku, plan, levels.iter().sum::<i64>() + change.net)),
                Err(shortage) => shortages.push(shortage),
            }
        }
        if !shortages.is_empty() {
            return Err(Failure::Refused(CatalogRefusal::OutOfStock { shortages }));
        }
        let mut after = Vec::with_capacity(plans.len());
        for (sku, plan, level) in plans {
            state.move_stock(store, sku, &plan);
            after.push((sku.clone(), level));
        }
        if let Some(k) = key {
            let keys = state.movement_keys.entry(store.clone()).or_default();
            keys.insert(k.key.clone(), MovementKeyRecord { fingerprint: k.fingerprint.clone(), levels: after.clone(), at: now });
        }
        Ok(Moved::Applied(after))
    }

    async fn stock_items(&self, store: &StoreId, sku: &Sku) -> StoreResult<Vec<StockShard>> {
        Ok(self.read().shards(store, sku).to_vec())
    }
}

impl LookupStore for MemoryStore {
    async fn commodity_views(
        &self,
        store: &Store,
        skus: &[Sku],
        _at: DateTime<Utc>,
    ) -> StoreResult<Vec<Option<CommodityView>>> {
        let state = self.read();
        Ok(skus
            .iter()
            .map(|sku| {
                let commodity = state.commodities.get(sku)?.clone();
                let on_hand = state.on_hand(&store.store_id, sku);
                let prices = state.schedules.get(sku).cloned().unwrap_or_default();
                Some(CommodityView { commodity, on_hand, prices })
            })
            .collect())
    }

    async fn skus_by_barcode(&self, barcodes: &[Barcode]) -> StoreResult<HashMap<Barcode, Vec<Sku>>> {
        let state = self.read();
        Ok(barcodes.iter().filter_map(|b| state.barcodes.get(b).map(|skus| (b.clone(), skus.clone()))).collect())
    }
}

impl PriceStore for MemoryStore {
    async fn existing(&self, skus: &[Sku], stores: &[StoreId]) -> StoreResult<(Vec<Sku>, Vec<StoreId>)> {
        let state = self.read();
        Ok((
            skus.iter().filter(|s| state.commodities.contains_key(*s)).cloned().collect(),
            stores.iter().filter(|s| state.stores.contains_key(*s)).cloned().collect(),
        ))
    }

    async fn apply_price_batch(&self, batch: PriceBatch) -> Result<BatchOutcome, Failure<CatalogRefusal>> {
        let mut state = self.write();
        if let Some((fingerprint, result)) = state.batches.get(&batch.result.batch_id) {
            return if *fingerprint == batch.fingerprint {
                Ok(BatchOutcome::Replayed(result.clone()))
            } else {
                Err(Failure::Refused(CatalogRefusal::BatchIdReused(batch.result.batch_id.to_string())))
            };
        }
        let now = batch.result.applied_at;
        let changes = price_changes(&batch.adjustments, Utc::now());
        let mut touched = Vec::new();
        for adjustment in batch.adjustments {
            state.history.entry(adjustment.sku.clone()).or_default().push(adjustment.clone());
            touched.push(adjustment.sku.clone());
            Arc::make_mut(state.schedules.entry(adjustment.sku.clone()).or_default()).push(Arc::new(adjustment));
        }
        touched.sort();
        touched.dedup();
        for sku in touched {
            if let Some(schedule) = state.schedules.get_mut(&sku) {
                // Keep what a sale up to 72 hours old may still be priced at.
                retain_live(Arc::make_mut(schedule), now - crate::domain::sale::MAX_AGE);
            }
        }
        state.record_changes(changes);
        state.batches.insert(batch.result.batch_id.clone(), (batch.fingerprint, batch.result.clone()));
        Ok(BatchOutcome::Applied(batch.result))
    }

    async fn price_batch(&self, id: &BatchId) -> StoreResult<Option<PriceBatchResult>> {
        Ok(self.read().batches.get(id).map(|(_, r)| r.clone()))
    }

    async fn commodity(&self, sku: &Sku) -> StoreResult<Option<Commodity>> {
        CatalogStore::commodity(self, sku).await
    }

    async fn price_history(&self, store: &Store, sku: &Sku) -> StoreResult<Vec<PriceAdjustment>> {
        let state = self.read();
        Ok(state.history.get(sku).map(|h| h.iter().filter(reaches_store(store)).cloned().collect()).unwrap_or_default())
    }
}

impl CatalogFeed for MemoryStore {
    async fn walk(&self, _store: &Store, after: Option<&Sku>, limit: usize) -> StoreResult<Walked> {
        let state = self.read();
        let mut skus: Vec<&Sku> = state.commodities.keys().filter(|s| after.is_none_or(|a| *s > a)).collect();
        skus.sort_unstable();
        let more = skus.len() > limit;
        let entries = skus.into_iter().take(limit).map(|sku| state.catalog_entry(sku)).collect::<Option<_>>();
        Ok(Walked { entries: entries.unwrap_or_default(), more })
    }

    async fn changes_after(&self, store: &Store, after: &FeedPosition, limit: usize) -> StoreResult<FeedRead> {
        let state = self.read();
        let mut reaching = state
            .catalog_changes
            .range((after.clone(), PriceScope::Chain)..)
            .filter(|((p, scope), _)| p > after && scope.reaches(store))
            .map(|((position, audience), changed)| FeedEntry {
                audience: audience.clone(),
                position: position.clone(),
                changed: changed.clone(),
            });
        let entries: Vec<FeedEntry> = reaching.by_ref().take(limit).collect();
        Ok(FeedRead { entries, more: reaching.next().is_some() })
    }

    async fn catalog_entries(&self, _store: &Store, skus: &[Sku]) -> StoreResult<FxMap<Sku, (Arc<Commodity>, Schedule)>> {
        let state = self.read();
        Ok(skus.iter().filter_map(|sku| state.catalog_entry(sku).map(|e| (sku.clone(), e))).collect())
    }
}

impl PromotionSchedule for MemoryStore {
    async fn promotions_ending_after(&self, after: DateTime<Utc>) -> StoreResult<Vec<Promotion>> {
        Ok(self.read().promotions.values().filter(|p| p.value.valid_to > after).map(|p| p.value.clone()).collect())
    }
}

impl PromotionStore for MemoryStore {
    async fn promotion(&self, id: &PromotionId) -> StoreResult<Option<Versioned<Promotion>>> {
        Ok(self.read().promotions.get(id).cloned())
    }

    async fn put_promotion(&self, promotion: &Promotion, replacing: Option<&Versioned<Promotion>>) -> StoreResult<bool> {
        let mut state = self.write();
        let stored = state.promotions.get(&promotion.id).map_or(0, |p| p.version);
        let version = replacing.map_or(0, |p| p.version);
        if stored != version {
            return Ok(false);
        }
        let changes = promotion_changes(promotion, replacing.map(|p| &p.value), Utc::now());
        state.record_changes(changes);
        state.promotions.insert(promotion.id.clone(), Versioned { value: promotion.clone(), version: version + 1 });
        Ok(true)
    }
}

impl SalesStore for MemoryStore {
    async fn claim_sale_key(
        &self,
        store: &StoreId,
        key: &IdempotencyKey,
        fingerprint: &str,
        token: &ClaimToken,
        now: DateTime<Utc>,
    ) -> StoreResult<KeyClaim> {
        let mut state = self.write();
        let keys = state.keys.entry(store.clone()).or_default();
        if let Some(record) = keys.get(key) {
            let live = match &record.state {
                KeyState::InProgress { since, .. } => now - *since < IN_PROGRESS_EXPIRY,
                KeyState::Completed { at, .. } => now - *at < KEY_RETENTION,
            };
            if live {
                return Ok(match &record.state {
                    KeyState::InProgress { .. } => KeyClaim::InProgress { fingerprint: record.fingerprint.clone() },
                    KeyState::Completed { answer, .. } => {
                        KeyClaim::Completed { fingerprint: record.fingerprint.clone(), answer: Box::new(answer.clone()) }
                    }
                });
            }
        }
        keys.insert(key.clone(), KeyRecord { fingerprint: fingerprint.to_owned(), state: KeyState::InProgress { since: now, token: token.clone() } });
        // The commit numbers the sale itself, under the same lock.
        Ok(KeyClaim::Claimed(Claim::default()))
    }

    async fn release_sale_key(&self, store: &StoreId, key: &IdempotencyKey, token: &ClaimToken) -> StoreResult<()> {
        let mut state = self.write();
        if let Some(keys) = state.keys.get_mut(store)
            && matches!(keys.get(key), Some(KeyRecord { state: KeyState::InProgress { token: held, .. }, .. }) if held == token)
        {
            keys.remove(key);
        }
        Ok(())
    }

    async fn basket_reading(&self, _store: &Store, skus: &[Sku], barcodes: &[Barcode]) -> StoreResult<BasketReading> {
        let state = self.read();
        let mut reading = BasketReading {
            commodities: FxMap::with_capacity_and_hasher(skus.len() + barcodes.len(), Default::default()),
            barcodes: FxMap::with_capacity_and_hasher(barcodes.len(), Default::default()),
        };
        let mut wanted: Vec<&Sku> = skus.iter().collect();
        for b in barcodes {
            if let Some(holders) = state.barcodes.get(b) {
                reading.barcodes.insert(b.to_string(), holders.clone());
                wanted.extend(holders);
            }
        }
        for sku in wanted {
            if let Some(c) = state.commodities.get(sku) {
                let prices = state.schedules.get(sku).cloned().unwrap_or_default();
                reading.commodities.insert(sku.clone(), (c.clone(), prices));
            }
        }
        Ok(reading)
    }

    async fn commit_sale(&self, pending: PendingSale) -> Result<Arc<SaleRecord>, Failure<SaleRefusal>> {
        let mut guard = self.write();
        let state = &mut *guard;
        let store_id = &pending.store.store_id;
        // The claim lapsed and another attempt took the key over: that one records the sale.
        if !state.holds(store_id, &pending.key, &pending.fingerprint) {
            return Err(Failure::Refused(SaleRefusal::InProgress));
        }
        // Each take starts at its sku's next shard, round robin (the shards' writes so far
        // count the turns), and falls back to others.
        let mut plans = Vec::with_capacity(pending.basket.takes.len());
        let mut shortages = Vec::new();
        for take in &pending.basket.takes {
            let shards = state.shards(store_id, &take.sku);
            let levels = padded_levels(shards, take.shards);
            let first = (shards.iter().map(|s| s.writes).sum::<u64>() % u64::from(take.shards.max(1))) as usize;
            match take.policy {
                StockPolicy::Track => plans.push((&take.sku, vec![(first, -take.amount)])),
                StockPolicy::Strict => match plan_take(&levels, first, take.amount) {
                    Some(plan) => plans.push((&take.sku, plan.into_iter().map(|(i, a)| (i, -a)).collect())),
                    None => shortages.push(Shortage {
                        sku: take.sku.to_string(),
                        requested: take.amount,
                        available: levels.iter().sum::<i64>().max(0),
                    }),
                },
            }
        }
        if !shortages.is_empty() {
            return Err(Failure::Refused(SaleRefusal::OutOfStock { shortages }));
        }
        for (sku, plan) in plans {
            state.move_stock(store_id, sku, &plan);
        }
        let sequence = state.next_sequence(store_id, &pending.sale.terminal_id);
        let record = Arc::new(record_sale(
            pending.sale_id,
            sequence,
            &pending.store,
            &pending.sale,
            pending.basket,
            pending.settlement,
            pending.created_at,
        ));
        state.keys.entry(store_id.clone()).or_default().insert(
            pending.key,
            KeyRecord {
                fingerprint: pending.fingerprint,
                state: KeyState::Completed { answer: KeyAnswer::Sale(Box::new(record.receipt.clone())), at: pending.created_at },
            },
        );
        state.sales.insert(record.receipt.sale_id.clone(), record.clone());
        state.feed.push(LedgerEntry::Sale(record.clone()));
        drop(guard);
        self.committed.notify_waiters();
        Ok(record)
    }

    async fn sale(&self, store: &StoreId, sale_id: &SaleId) -> StoreResult<Option<Receipt>> {
        Ok(self.read().sales.get(sale_id).filter(|r| r.receipt.store_id == *store).map(|r| r.receipt.clone()))
    }
}

impl ReturnsStore for MemoryStore {
    async fn sale_returns(&self, store: &StoreId, sale: &SaleId) -> StoreResult<Option<SaleReturns>> {
        let state = self.read();
        let Some(record) = state.sales.get(sale).filter(|r| r.receipt.store_id == *store) else {
            return Ok(None);
        };
        let (returned, returns) = state.returned.get(sale).cloned().unwrap_or_default();
        Ok(Some(SaleReturns { sale: record.clone(), returned, returns }))
    }

    async fn commit_return(&self, pending: PendingReturn) -> Result<Arc<ReturnReceipt>, Failure<ReturnRefusal>> {
        let mut guard = self.write();
        let state = &mut *guard;
        let store_id = &pending.store.store_id;
        if !state.holds(store_id, &pending.key, &pending.fingerprint) {
            return Err(Failure::Refused(ReturnRefusal::InProgress));
        }
        let sale_id = &pending.sale.receipt.sale_id;
        let count = state.returned.get(sale_id).map_or(0, |(r, _)| r.count);
        if count != pending.plan.planned_from {
            return Err(Failure::Refused(ReturnRefusal::SaleChanged));
        }
        let sequence = state.next_sequence(store_id, &pending.draft.terminal_id);
        let receipt = Arc::new(record_return(
            pending.return_id,
            sequence,
            &pending.store,
            &pending.draft,
            &pending.sale,
            &pending.plan,
            pending.created_at,
        ));
        for restock in &pending.plan.restocks {
            let plan = restock_spread(restock.amount, restock.shards, receipt.return_id.as_str());
            state.move_stock(store_id, &restock.sku, &plan);
        }
        let summary = ReturnSummary {
            return_id: receipt.return_id.clone(),
            store_id: store_id.clone(),
            created_at: receipt.created_at,
            total: receipt.total,
        };
        let (returned, returns) = state.returned.entry(sale_id.clone()).or_default();
        *returned = pending.plan.returned_after.clone();
        returns.push(summary);
        state.keys.entry(store_id.clone()).or_default().insert(
            pending.key,
            KeyRecord {
                fingerprint: pending.fingerprint,
                state: KeyState::Completed { answer: KeyAnswer::Return(Box::new((*receipt).clone())), at: pending.created_at },
            },
        );
        state.returns.entry(store_id.clone()).or_default().insert(receipt.return_id.clone(), receipt.clone());
        state.feed.push(LedgerEntry::Return(receipt.clone()));
        drop(guard);
        self.committed.notify_waiters();
        Ok(receipt)
    }

    async fn return_receipt(&self, store: &StoreId, id: &ReturnId) -> StoreResult<Option<ReturnReceipt>> {
        Ok(self.read().returns.get(store).and_then(|r| r.get(id)).map(|r| (**r).clone()))
    }
}

impl AggregateStore for MemoryStore {
    /// Once per entry id: the embedded store keeps every id it folded (a process's day).
    async fn fold(&self, entries: &[Streamed<LedgerEntry>]) -> StoreResult<usize> {
        let mut state = self.write();
        let mut new = 0;
        for entry in entries.iter().map(|e| &e.value) {
            if !state.folded.insert(entry.id()) {
                continue;
            }
            let (store, date) = entry.store_day();
            state.days.entry((store.clone(), BusinessDay::from(date))).or_default().fold_entry(entry);
            new += 1;
        }
        Ok(new)
    }

    async fn store_day(&self, store: &StoreId, day: BusinessDay) -> StoreResult<Option<StoreDay>> {
        Ok(self.read().days.get(&(store.clone(), day)).map(|d| d.day.clone()))
    }

    /// All of them: the embedded store ranks in memory.
    async fn top_commodity_candidates(&self, store: &StoreId, day: BusinessDay) -> StoreResult<Vec<(Sku, CommodityTotals)>> {
        let state = self.read();
        let Some(folded) = state.days.get(&(store.clone(), day)) else { return Ok(Vec::new()) };
        let top = crate::domain::report::top_commodities(&folded.commodities);
        Ok(top.into_iter().map(|t| (t.sku.clone(), folded.commodities[&t.sku].clone())).collect())
    }

    async fn day_commodities(
        &self,
        store: &StoreId,
        day: BusinessDay,
        after: Option<&Sku>,
        limit: usize,
    ) -> StoreResult<(Vec<(Sku, CommodityTotals)>, bool)> {
        use std::ops::Bound;
        let state = self.read();
        let Some(folded) = state.days.get(&(store.clone(), day)) else { return Ok((Vec::new(), false)) };
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut rest = folded.commodities.range::<Sku, _>((from, Bound::Unbounded));
        let page: Vec<(Sku, CommodityTotals)> = rest.by_ref().take(limit).map(|(s, c)| (s.clone(), c.clone())).collect();
        Ok((page, rest.next().is_some()))
    }

    async fn chain_day(&self, day: BusinessDay) -> StoreResult<(Vec<Store>, BTreeMap<StoreId, StoreDay>)> {
        let state = self.read();
        let stores: Vec<Store> = state.stores.values().cloned().collect();
        let days = stores
            .iter()
            .filter_map(|s| state.days.get(&(s.store_id.clone(), day)).map(|d| (s.store_id.clone(), d.day.clone())))
            .collect();
        Ok((stores, days))
    }
}
