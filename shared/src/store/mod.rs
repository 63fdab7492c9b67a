//! Persistence ports, shaped by what the shop does rather than by CRUD, and their adapters.
//! Every adapter passes the same conformance suite.

pub mod cache;
pub mod dynamo;
pub mod error;
pub mod memory;
pub mod sale_item;

pub use error::{Failure, StoreError, StoreResult};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;

use crate::domain::catalog_feed::{FeedEntry, FeedPosition};
use crate::domain::price::LineRejection;
use crate::domain::{FxMap, Schedule};
use crate::domain::stock::StockChange;
use crate::domain::returns::{ReturnDraft, ReturnPlan, ReturnReceipt, ReturnRefusal, SaleReturns};
use crate::domain::sale::{CheckedSale, PricedBasket, Receipt, SaleRecord, Settlement};
use crate::domain::stock::StockShard;
use crate::domain::{
    Barcode, BatchId, Promotion, PromotionId, BusinessDay, CatalogRefusal, Commodity, IdempotencyKey, PriceAdjustment, ReturnId, SaleId, SaleRefusal, Sku,
    Store, StoreId,
};

/// A commodity as a till sees it in one store: its stock there and the price schedule that
/// reaches that store (the adjustments that can be in force now or later).
#[derive(Debug, Clone, PartialEq)]
pub struct CommodityView {
    pub commodity: Arc<Commodity>,
    pub on_hand: i64,
    pub prices: Schedule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    Created,
    Replaced,
}

/// The chain's stores, which every port reads.
pub trait Stores: Clone + Send + Sync + 'static {
    fn store(&self, id: &StoreId) -> impl Future<Output = StoreResult<Option<Store>>> + Send;
}

/// What head office sets up: stores, commodities with their barcodes, and stock.
pub trait CatalogStore: Stores {
    fn put_store(&self, store: Store) -> impl Future<Output = StoreResult<Written>> + Send;

    /// Writes a commodity and claims its barcodes in one step: a barcode bound to another sku
    /// is refused (`BarcodeTaken`) unless every holder, this one included, allows sharing.
    /// Barcodes the commodity no longer lists are released.
    fn put_commodity(&self, commodity: Commodity) -> impl Future<Output = Result<Written, Failure<CatalogRefusal>>> + Send;

    fn commodity(&self, sku: &Sku) -> impl Future<Output = StoreResult<Option<Commodity>>> + Send;

    /// Applies every change or none: an unknown sku is `NotFound`, strict stock taken below zero
    /// `OutOfStock`. Returns the new on-hand per sku. Under an idempotency key the answer is
    /// kept with the key (for [`KEY_RETENTION`]) in the same write as the stock, so a request
    /// sent again gets the first answer back (`Replayed`) and moves nothing, and a different
    /// body under the same key is `KeyReused`.
    fn record_stock_movements(
        &self,
        store: &StoreId,
        changes: &BTreeMap<Sku, StockChange>,
        key: Option<&MovementKey>,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Moved, Failure<CatalogRefusal>>> + Send;

    /// The items a (store, sku)'s stock is split over, in shard order (empty: none written).
    fn stock_items(&self, store: &StoreId, sku: &Sku) -> impl Future<Output = StoreResult<Vec<StockShard>>> + Send;
}

/// What a till reads to identify and price what it scans.
pub trait LookupStore: Stores {
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
pub trait PriceStore: Stores {
    /// Which of these skus and stores exist (to validate a batch's lines in one go).
    fn existing(
        &self,
        skus: &[Sku],
        stores: &[StoreId],
    ) -> impl Future<Output = StoreResult<(Vec<Sku>, Vec<StoreId>)>> + Send;

    /// Applies a batch once. The same id with another fingerprint is `BatchIdReused`.
    fn apply_price_batch(&self, batch: PriceBatch) -> impl Future<Output = Result<BatchOutcome, Failure<CatalogRefusal>>> + Send;

    fn price_batch(&self, id: &BatchId) -> impl Future<Output = StoreResult<Option<PriceBatchResult>>> + Send;

    fn commodity(&self, sku: &Sku) -> impl Future<Output = StoreResult<Option<Commodity>>> + Send;

    /// Every adjustment of a sku whose scope reaches `store`, expired ones included.
    fn price_history(&self, store: &Store, sku: &Sku) -> impl Future<Output = StoreResult<Vec<PriceAdjustment>>> + Send;
}

/// What a checkout reads before it commits: the commodities its lines name (by sku or by
/// barcode) with their price schedules for the store.
#[derive(Debug, Clone, Default)]
pub struct BasketReading {
    pub commodities: FxMap<Sku, (Arc<Commodity>, Schedule)>,
    /// Scanned catalog barcode → the skus that hold it.
    pub barcodes: FxMap<String, Vec<Sku>>,
}

/// A stock movement request's `Idempotency-Key` and the fingerprint of its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovementKey {
    pub key: IdempotencyKey,
    pub fingerprint: String,
}

/// What recording stock movements did: applied now, or applied before under the same key (the
/// stock levels of that first answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Moved {
    Applied(Vec<(Sku, i64)>),
    Replayed(Vec<(Sku, i64)>),
}

/// Which attempt claimed a sale's key: made afresh for each attempt, so an attempt gives back
/// its own claim and never another's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken(String);

impl ClaimToken {
    #[allow(clippy::new_without_default, reason = "each token is new; a default one would not be")]
    pub fn new() -> Self {
        ClaimToken(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Where an idempotency key stands when a sale or a return arrives with it (a store's sales
/// and returns share one key space).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyClaim {
    /// Ours now: go on and price the sale (or plan the return), and hand the claim to its commit.
    Claimed(Claim),
    /// Another request with this key is being recorded.
    InProgress { fingerprint: String },
    /// Recorded before: replay its answer if the body is the same.
    Completed { fingerprint: String, answer: Box<KeyAnswer> },
}

/// What a completed key answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyAnswer {
    Sale(Box<Receipt>),
    Return(Box<ReturnReceipt>),
}

/// What claiming a key already did for the sale's commit.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Claim {
    /// The store's receipt number, when the adapter takes it with the claim (DynamoDB does, so
    /// that the commit is one request); `None`: the commit numbers the sale itself.
    pub receipt_sequence: Option<u64>,
}

/// A sale ready to commit under its claimed key; the store gives it its receipt number.
#[derive(Debug, Clone)]
pub struct PendingSale {
    pub key: IdempotencyKey,
    pub claim: Claim,
    pub fingerprint: String,
    pub sale_id: SaleId,
    pub store: Store,
    pub sale: CheckedSale,
    pub basket: PricedBasket,
    pub settlement: Settlement,
    pub created_at: DateTime<Utc>,
}

/// How long a claimed key may stay in progress before a retry may take it over (a crashed
/// attempt must not block its till forever).
pub const IN_PROGRESS_EXPIRY: chrono::Duration = chrono::Duration::seconds(30);
/// How long a completed key answers with its receipt.
pub const KEY_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// The chain's promotions as a checkout reads them: few, changed rarely, so a function keeps
/// them in memory (`cache::PromotionCache`) and reads them again at most 10 s apart.
pub trait PromotionSchedule: Stores {
    /// Every promotion whose window ends after `after` (all a sale at or after that moment can
    /// get), whichever stores it reaches, in id order.
    fn promotions_ending_after(&self, after: DateTime<Utc>) -> impl Future<Output = StoreResult<Vec<Promotion>>> + Send;
}

/// A page of the catalog in sku order.
#[derive(Debug, Clone, Default)]
pub struct Walked {
    /// Each commodity with its schedule (at least what reaches the store asked about).
    pub entries: Vec<(Arc<Commodity>, Schedule)>,
    /// Commodities follow the last one.
    pub more: bool,
}

/// Changes read from the tills' feed, in position order.
#[derive(Debug, Clone, Default)]
pub struct FeedRead {
    pub entries: Vec<FeedEntry>,
    /// Changes follow the last one.
    pub more: bool,
}

/// What a till syncs from (API.md, "Till catalog sync"): the catalog walked in sku order, and
/// the changes recorded for the scopes that reach a store. The writers record those changes
/// with what they write: `put_commodity` and `put_store`, `apply_price_batch` (one change per
/// sku and scope), `put_promotion` (its scope, and the one it left).
pub trait CatalogFeed: PromotionSchedule {
    /// Up to `limit` commodities after `after`, in sku order.
    fn walk(&self, store: &Store, after: Option<&Sku>, limit: usize) -> impl Future<Output = StoreResult<Walked>> + Send;

    /// Up to `limit` changes after `after` for the chain, `store`'s region and `store`, in
    /// position order (one read when there are none).
    fn changes_after(
        &self,
        store: &Store,
        after: &FeedPosition,
        limit: usize,
    ) -> impl Future<Output = StoreResult<FeedRead>> + Send;

    /// The commodities named, with their schedules (an unknown sku is absent).
    fn catalog_entries(
        &self,
        store: &Store,
        skus: &[Sku],
    ) -> impl Future<Output = StoreResult<FxMap<Sku, (Arc<Commodity>, Schedule)>>> + Send;
}

/// Head office's promotions.
pub trait PromotionStore: PromotionSchedule {
    fn promotion(&self, id: &PromotionId) -> impl Future<Output = StoreResult<Option<Versioned<Promotion>>>> + Send;

    /// Writes `promotion` in place of `replacing` (`None`: there is none yet), only if what is
    /// stored is still that: `false` when another write came first, and nothing is written.
    fn put_promotion(
        &self,
        promotion: &Promotion,
        replacing: Option<&Versioned<Promotion>>,
    ) -> impl Future<Output = StoreResult<bool>> + Send;
}

/// A stored value and which write of it that is (1, 2, ...): what a conditional write names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned<T> {
    pub value: T,
    pub version: u64,
}

/// The till's sales: idempotency keys, the atomic commit, and reading receipts back.
pub trait SalesStore: PromotionSchedule {
    /// Claims `key` in `store` for a body with `fingerprint` as attempt `token`, unless it is
    /// in progress or done.
    fn claim_sale_key(
        &self,
        store: &StoreId,
        key: &IdempotencyKey,
        fingerprint: &str,
        token: &ClaimToken,
        now: DateTime<Utc>,
    ) -> impl Future<Output = StoreResult<KeyClaim>> + Send;

    /// Gives the key back if attempt `token` still holds it in progress (a refusal, or a failure
    /// the attempt knows of, even one of the claim itself), so that its retry runs afresh at
    /// once; another attempt's claim, or a completed sale, stays.
    fn release_sale_key(
        &self,
        store: &StoreId,
        key: &IdempotencyKey,
        token: &ClaimToken,
    ) -> impl Future<Output = StoreResult<()>> + Send;

    fn basket_reading(
        &self,
        store: &Store,
        skus: &[Sku],
        barcodes: &[Barcode],
    ) -> impl Future<Output = StoreResult<BasketReading>> + Send;

    /// Records the sale, completes its key with the receipt, and takes its stock, all at once
    /// or not at all: strict stock short of what the sale takes is `OutOfStock`; a claim
    /// another attempt has taken over since is `InProgress`.
    fn commit_sale(&self, sale: PendingSale) -> impl Future<Output = Result<Arc<SaleRecord>, Failure<SaleRefusal>>> + Send;

    fn sale(&self, store: &StoreId, sale_id: &SaleId) -> impl Future<Output = StoreResult<Option<Receipt>>> + Send;
}

/// A return ready to commit under its claimed key, planned from one reading of its sale.
#[derive(Debug, Clone)]
pub struct PendingReturn {
    pub key: IdempotencyKey,
    pub claim: Claim,
    pub fingerprint: String,
    pub return_id: ReturnId,
    /// The store taking the goods back.
    pub store: Store,
    pub draft: ReturnDraft,
    pub sale: Arc<SaleRecord>,
    pub plan: ReturnPlan,
    pub created_at: DateTime<Utc>,
}

/// Goods brought back: the sale with what has come back of it, the atomic commit, and reading
/// return receipts back. Keys are the sales' ([`SalesStore::claim_sale_key`]).
pub trait ReturnsStore: SalesStore {
    /// A sale of `store` with its returned amounts and its returns so far.
    fn sale_returns(&self, store: &StoreId, sale: &SaleId) -> impl Future<Output = StoreResult<Option<SaleReturns>>> + Send;

    /// Records the return in its store, completes its key with the return receipt, sets the
    /// sale's returned amounts (only if no other return of it landed since the plan was made:
    /// else `SaleChanged`, and nothing is written) and restocks the returning store, all at
    /// once or not at all. A claim another attempt has taken over since is `InProgress`.
    fn commit_return(&self, pending: PendingReturn) -> impl Future<Output = Result<Arc<ReturnReceipt>, Failure<ReturnRefusal>>> + Send;

    /// A return taken back by `store`.
    fn return_receipt(&self, store: &StoreId, id: &ReturnId) -> impl Future<Output = StoreResult<Option<ReturnReceipt>>> + Send;
}

/// The daily aggregates the sales stream feeds and the reports read.
pub trait AggregateStore: Stores {
    /// Folds each sale and each return, as the sales stream delivered it, into its store-day
    /// once (a return into the day of the store that took it back): a record folded before, here
    /// or in an earlier call, counts nothing again however the stream delivers it again (the
    /// same batch, or one starting at an earlier record of its shard), and an entry named twice
    /// in one call counts once. Records of one shard must come in the shard's order, one batch
    /// of a shard at a time (`domain::stream`). Returns how many were new.
    fn fold(
        &self,
        entries: &[crate::domain::stream::Streamed<crate::domain::report::LedgerEntry>],
    ) -> impl Future<Output = StoreResult<usize>> + Send;

    /// The head of a store-day: every figure but the commodities'.
    fn store_day(
        &self,
        store: &StoreId,
        day: BusinessDay,
    ) -> impl Future<Output = StoreResult<Option<crate::domain::report::StoreDay>>> + Send;

    /// The commodities of a store-day that may rank among its top ones: at least every one that
    /// does ([`crate::domain::report::top_commodities`] ranks them), a bounded read however many
    /// the day sold.
    fn top_commodity_candidates(
        &self,
        store: &StoreId,
        day: BusinessDay,
    ) -> impl Future<Output = StoreResult<Vec<(Sku, crate::domain::report::CommodityTotals)>>> + Send;

    /// Up to `limit` commodities of a store-day by sku, after `after` (from the first without),
    /// and whether more follow.
    fn day_commodities(
        &self,
        store: &StoreId,
        day: BusinessDay,
        after: Option<&Sku>,
        limit: usize,
    ) -> impl Future<Output = StoreResult<(Vec<(Sku, crate::domain::report::CommodityTotals)>, bool)>> + Send;

    /// Every store, and the store-days of `date` that have sales.
    fn chain_day(
        &self,
        day: BusinessDay,
    ) -> impl Future<
        Output = StoreResult<(Vec<Store>, BTreeMap<StoreId, crate::domain::report::StoreDay>)>,
    > + Send;
}
