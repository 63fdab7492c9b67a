//! Persistence ports, shaped by what the shop does rather than by CRUD, and their adapters.
//! Every adapter passes the same conformance suite.

pub mod memory;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;

use crate::domain::price::LineRejection;
use crate::domain::stock::StockChange;
use crate::domain::{Barcode, BatchId, Commodity, DomainError, PriceAdjustment, Sku, Store, StoreId};

pub type StoreResult<T> = Result<T, DomainError>;

/// A commodity as a till sees it in one store: its stock there and the price schedule that
/// reaches that store (the adjustments that can be in force now or later).
#[derive(Debug, Clone, PartialEq)]
pub struct CommodityView {
    pub commodity: Commodity,
    pub on_hand: i64,
    pub prices: Vec<PriceAdjustment>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Replaced,
}

/// What head office sets up: stores, commodities with their barcodes, and stock.
pub trait CatalogStore: Clone + Send + Sync + 'static {
    fn put_store(&self, store: Store) -> impl Future<Output = StoreResult<Written>> + Send;

    fn store(&self, id: &StoreId) -> impl Future<Output = StoreResult<Option<Store>>> + Send;

    /// Writes a commodity and claims its barcodes in one step: a barcode bound to another sku
    /// is refused (`BarcodeTaken`) unless every holder, this one included, allows sharing.
    /// Barcodes the commodity no longer lists are released.
    fn put_commodity(&self, commodity: Commodity) -> impl Future<Output = StoreResult<Written>> + Send;

    fn commodity(&self, sku: &Sku) -> impl Future<Output = StoreResult<Option<Commodity>>> + Send;

    /// Applies every change or none: an unknown sku is `NotFound`, strict stock taken below zero
    /// `OutOfStock`. Returns the new on-hand per sku.
    fn record_stock_movements(
        &self,
        store: &StoreId,
        changes: &BTreeMap<Sku, StockChange>,
    ) -> impl Future<Output = StoreResult<Vec<(Sku, i64)>>> + Send;
}

/// What a till reads to identify and price what it scans.
pub trait LookupStore: Clone + Send + Sync + 'static {
    fn store(&self, id: &StoreId) -> impl Future<Output = StoreResult<Option<Store>>> + Send;

    /// The commodities, in the order asked, as seen from `store` at `at`; `None` for an unknown sku.
    fn commodity_views(
        &self,
        store: &Store,
        skus: &[Sku],
        at: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<Vec<Option<CommodityView>>>> + Send;

    /// The skus bound to each barcode (several when a manufacturer's code is shared).
    fn skus_by_barcode(
        &self,
        barcodes: &[Barcode],
    ) -> impl Future<Output = StoreResult<HashMap<Barcode, Vec<Sku>>>> + Send;
}

/// The answer to a price batch, kept so that a resend gets the same answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PriceBatchResult {
    pub batch_id: BatchId,
    pub accepted: u32,
    pub rejected: Vec<LineRejection>,
    #[serde(with = "crate::domain::time::instant")]
    pub applied_at: DateTime<Utc>,
}

/// A batch ready to apply: its result, its accepted lines, and the fingerprint of its body.
#[derive(Debug, Clone)]
pub struct PriceBatch {
    pub result: PriceBatchResult,
    pub adjustments: Vec<PriceAdjustment>,
    /// Equal bodies (as parsed JSON) have equal fingerprints.
    pub fingerprint: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchOutcome {
    Applied(PriceBatchResult),
    /// The same id with an equal body was applied before: its first result, nothing applied.
    Replayed(PriceBatchResult),
}

/// Head office's price pushes and the as-of explanation.
pub trait PriceStore: Clone + Send + Sync + 'static {
    fn store(&self, id: &StoreId) -> impl Future<Output = StoreResult<Option<Store>>> + Send;

    /// Which of these skus and stores exist (to validate a batch's lines in one go).
    fn existing(
        &self,
        skus: &[Sku],
        stores: &[StoreId],
    ) -> impl Future<Output = StoreResult<(Vec<Sku>, Vec<StoreId>)>> + Send;

    /// Applies a batch once. The same id with another fingerprint is `BatchIdReused`.
    fn apply_price_batch(&self, batch: PriceBatch) -> impl Future<Output = StoreResult<BatchOutcome>> + Send;

    fn price_batch(&self, id: &BatchId) -> impl Future<Output = StoreResult<Option<PriceBatchResult>>> + Send;

    fn commodity(&self, sku: &Sku) -> impl Future<Output = StoreResult<Option<Commodity>>> + Send;

    /// Every adjustment of a sku whose scope reaches `store`, expired ones included.
    fn price_history(&self, store: &Store, sku: &Sku) -> impl Future<Output = StoreResult<Vec<PriceAdjustment>>> + Send;
}
