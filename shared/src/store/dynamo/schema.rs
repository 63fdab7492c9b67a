//! What each table holds, as serde types mapped by serde_dynamo, and their keys. Domain types
//! are rebuilt from these through their checked constructors, so a damaged item is an error,
//! never a value that breaks an invariant.

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use crate::domain::catalog::TaxRate;
use crate::domain::price::{AdjustmentId, PriceScope};
use crate::domain::report::{CommodityTotals, Ranked, StoreDay, TopList};
use crate::domain::sale::Receipt;
use crate::domain::time::{instant, optional_instant};
use crate::domain::{
    Barcode, BatchId, Commodity, Money, PriceAdjustment, RegionId, Sku, StockPolicy, StockShards, Store, StoreId,
    Unit,
};
use crate::store::{PriceBatchResult, StoreError};

pub type Item = HashMap<String, AttributeValue>;

/// The one sort key of items that are alone in their partition.
pub const ONLY: &str = "-";
/// Prefix of a price schedule item's adjustment attributes (`a#<batch>#<index>`).
pub const ADJUSTMENT_ATTR: &str = "a#";

pub fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub fn key(pk: impl Into<String>, sk: Option<&str>) -> Item {
    let mut k = HashMap::from([("pk".to_owned(), s(pk))]);
    if let Some(sk) = sk {
        k.insert("sk".to_owned(), s(sk));
    }
    k
}

/// A stored `what` (an item kind: "store", "commodity", ...) at `key` that does not hold what
/// this code writes there.
pub fn damaged(what: &str, key: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::damaged(what, key, e.to_string())
}

/// An item's key as text (`pk` or `pk/sk`), to name it in an error.
pub fn item_key(item: &Item) -> String {
    match (string(item, "pk"), string(item, "sk")) {
        (Some(pk), Some(sk)) => format!("{pk}/{sk}"),
        (Some(pk), None) => pk.to_owned(),
        _ => "?".to_owned(),
    }
}

pub fn to_item<T: Serialize>(what: &str, value: &T) -> Result<Item, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_item(value).map_err(|e| damaged(what, "(not written)", e))
}

pub fn from_item<T: for<'de> Deserialize<'de>>(what: &str, item: Item) -> Result<T, StoreError> {
    let key = item_key(&item);
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item).map_err(|e| damaged(what, &key, e))
}

/// A number attribute of a stored `what`: 0 when the item has none (never written), an error
/// naming the item when it holds something else.
pub fn number(what: &str, item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        None => Ok(0),
        Some(AttributeValue::N(v)) => v.parse().map_err(|e| damaged(what, &item_key(item), format_args!("{name}: {e}"))),
        Some(other) => Err(damaged(what, &item_key(item), format_args!("{name} is not a number: {other:?}"))),
    }
}

pub fn string<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v),
        _ => None,
    }
}

pub fn string_set(item: &Item, name: &str) -> Vec<String> {
    match item.get(name) {
        Some(AttributeValue::Ss(v)) => v.clone(),
        _ => Vec::new(),
    }
}

// ------------------------------------------------------------------ stores

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreItem {
    pub pk: String,
    pub name: String,
    pub region: String,
    pub timezone: String,
}

impl StoreItem {
    pub fn of(store: &Store) -> Self {
        StoreItem {
            pk: store.store_id.to_string(),
            name: store.name.clone(),
            region: store.region.to_string(),
            timezone: store.timezone.name().to_owned(),
        }
    }

    pub fn store(self) -> Result<Store, StoreError> {
        let bad = |e: crate::domain::Invalid| damaged("store", &self.pk, e);
        let id = StoreId::parse(&self.pk).map_err(bad)?;
        let region = RegionId::parse(&self.region).map_err(bad)?;
        Store::new(id, &self.name, region, Some(&self.timezone)).map_err(bad)
    }
}

// ------------------------------------------------------------------ commodities

pub const COMMODITY_SK: &str = "commodity";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommodityItem {
    pub pk: String,
    pub sk: String,
    pub name: String,
    pub unit: Unit,
    pub tax_rate_bp: i64,
    pub barcodes: Vec<String>,
    pub category: Option<String>,
    pub stock_policy: StockPolicy,
    pub allow_shared_barcodes: bool,
    /// Head office's stock split, absent for the automatic choice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock_shards: Option<u16>,
    /// The widest split the sku has had: stock may sit in any shard below it, so a lookup
    /// reads them all (absent on items written before splits: one).
    #[serde(default = "one_shard")]
    pub stock_shards_max: u16,
    /// Bumped on every write: a put whose read is stale fails its condition and starts over.
    pub version: u64,
    /// `all`: in the `catalog` index a till's snapshot walks (feed.rs).
    #[serde(default)]
    pub catalog: Option<String>,
}

fn one_shard() -> u16 {
    1
}

impl CommodityItem {
    /// `widest`: the widest split the sku had before this write.
    pub fn of(c: &Commodity, version: u64, widest: u16) -> Self {
        CommodityItem {
            pk: c.sku.to_string(),
            sk: COMMODITY_SK.to_owned(),
            name: c.name.to_string(),
            unit: c.unit,
            tax_rate_bp: c.tax_rate.basis_points(),
            barcodes: c.barcodes.iter().map(|b| b.to_string()).collect(),
            category: c.category.clone(),
            stock_policy: c.stock_policy,
            allow_shared_barcodes: c.allow_shared_barcodes,
            stock_shards: c.stock_shards_setting.map(StockShards::get),
            stock_shards_max: widest.max(c.stock_shards().get()),
            version,
            catalog: Some(super::feed::CATALOG_ALL.to_owned()),
        }
    }

    pub fn commodity(self) -> Result<Commodity, StoreError> {
        let bad = |e: crate::domain::Invalid| damaged("commodity", &self.pk, e);
        let stock_shards_setting = self.stock_shards.map(|k| StockShards::parse(i64::from(k))).transpose().map_err(bad)?;
        Ok(Commodity {
            sku: Sku::parse(&self.pk).map_err(bad)?,
            name: self.name.into(),
            unit: self.unit,
            tax_rate: TaxRate::new(self.tax_rate_bp).map_err(bad)?,
            barcodes: self.barcodes.into_iter().map(Barcode::from_stored).collect(),
            category: self.category,
            stock_policy: self.stock_policy,
            allow_shared_barcodes: self.allow_shared_barcodes,
            stock_shards_setting,
        })
    }
}

/// A barcode's item: `holders` (string set) are the skus bound to it, `exclusive` those of
/// them that do not allow sharing. Sets, so that a claim is one conditional `ADD`.
pub const BARCODE_SK: &str = "holders";

// ------------------------------------------------------------------ prices

/// The schedule item of one scope of a sku: `live#chain`, `live#region#EAST`, `live#store#S001`.
pub fn schedule_sk(scope: &PriceScope) -> String {
    match scope {
        PriceScope::Chain => "live#chain".to_owned(),
        PriceScope::Region(r) => format!("live#region#{r}"),
        PriceScope::Store(s) => format!("live#store#{s}"),
    }
}

/// The schedule items that reach a store.
pub fn schedule_sks(store: &Store) -> [String; 3] {
    [
        schedule_sk(&PriceScope::Chain),
        schedule_sk(&PriceScope::Region(store.region.clone())),
        schedule_sk(&PriceScope::Store(store.store_id.clone())),
    ]
}

pub fn adjustment_attr(id: &AdjustmentId) -> String {
    format!("{ADJUSTMENT_ATTR}{}#{}", id.batch_id, id.index)
}

/// History items sort by when their batch was applied, then by line.
pub fn history_sk(a: &PriceAdjustment) -> String {
    format!("history#{:020}#{}#{:05}", a.applied_at.timestamp_micros(), a.id.batch_id, a.id.index)
}

pub const HISTORY_PREFIX: &str = "history#";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdjustmentItem {
    pub batch_id: String,
    pub index: u32,
    pub sku: String,
    pub scope: String,
    pub amount: i64,
    #[serde(with = "instant")]
    pub valid_from: DateTime<Utc>,
    #[serde(with = "optional_instant", default)]
    pub valid_to: Option<DateTime<Utc>>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(with = "instant")]
    pub applied_at: DateTime<Utc>,
}

impl AdjustmentItem {
    pub fn of(a: &PriceAdjustment) -> Self {
        AdjustmentItem {
            batch_id: a.id.batch_id.to_string(),
            index: a.id.index,
            sku: a.sku.to_string(),
            scope: a.scope.to_string(),
            amount: a.amount.minor_units(),
            valid_from: a.valid_from,
            valid_to: a.valid_to,
            reason: a.reason.clone(),
            applied_at: a.applied_at,
        }
    }

    pub fn adjustment(self) -> Result<PriceAdjustment, StoreError> {
        let at = format!("{}#{}", self.batch_id, self.index);
        let bad = |e: crate::domain::Invalid| damaged("price adjustment", &at, e);
        Ok(PriceAdjustment {
            id: AdjustmentId { batch_id: BatchId::parse(&self.batch_id).map_err(bad)?, index: self.index },
            sku: Sku::parse(&self.sku).map_err(bad)?,
            scope: PriceScope::parse(&self.scope).map_err(bad)?,
            amount: Money::from_minor_units(self.amount),
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            reason: self.reason,
            applied_at: self.applied_at,
        })
    }
}

#[derive(Serialize, Deserialize)]
pub struct HistoryItem {
    pub pk: String,
    pub sk: String,
    pub adjustment: AdjustmentItem,
}

#[derive(Serialize, Deserialize)]
pub struct BatchItem {
    pub pk: String,
    pub fingerprint: String,
    pub result: PriceBatchResult,
}

// ------------------------------------------------------------------ sales

pub const IN_PROGRESS: &str = "in_progress";
pub const COMPLETED: &str = "completed";

/// An idempotency key of a store's sales. `since` (epoch ms) decides expiry; `expiresAt`
/// (epoch s) only lets TTL tidy up.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyItem {
    pub pk: String,
    pub fingerprint: String,
    pub state: String,
    pub since: i64,
    /// A sale's key completes with its sale's id ([`KeyItem::sale_id`]), and a replay reads the
    /// receipt from the sale: a key completed before that holds the whole receipt here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receipt: Option<Receipt>,
    /// The sale a completed sale key answers with: a few bytes where the receipt is kilobytes,
    /// written twice in the sale's transaction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sale_id: Option<String>,
    /// A return's key completes with its return receipt instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_receipt: Option<crate::domain::returns::ReturnReceipt>,
    pub expires_at: i64,
    /// Which claim put it: a claim whose answer was lost and that the SDK sent again finds
    /// its own token and knows the key is its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
}

/// A stock movement request's key, written in the same transaction as the stock it moved,
/// with the answer. A request that touches more stock items than one transaction holds is
/// applied in parts: the first writes this item `in_progress` with the later parts, and each
/// later part advances `done` in its own transaction, so whoever holds the key (the request,
/// or a retry of it) finishes the parts exactly once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MovementKeyItem {
    pub pk: String,
    pub fingerprint: String,
    pub state: String,
    pub since: i64,
    pub expires_at: i64,
    /// The answer: each sku's on-hand after the movements.
    pub levels: Vec<(String, i64)>,
    /// The parts after the first: (sku, stock item, delta) each.
    #[serde(default)]
    pub parts: Vec<Vec<(String, u16, i64)>>,
    /// How many of `parts` are applied.
    #[serde(default)]
    pub done: u32,
}

pub fn movement_key_pk(store: &StoreId, key: &crate::domain::IdempotencyKey) -> String {
    format!("stock#{store}#{key}")
}

pub fn sale_key_pk(store: &StoreId, key: &crate::domain::IdempotencyKey) -> String {
    format!("sale#{store}#{key}")
}

/// One counter per store: numbers are unique in the store and increase per terminal, and the
/// claim (which knows the store, not the terminal) can take the next one in its own wave.
pub fn receipt_counter_pk(store: &StoreId) -> String {
    format!("receipt-sequence#{store}")
}

pub fn stock_pk(store: &StoreId, sku: &Sku) -> String {
    format!("{store}#{sku}")
}

// ------------------------------------------------------------------ aggregates

pub fn day_pk(date: chrono::NaiveDate) -> String {
    format!("day#{date}")
}

/// The head of a store-day (pk [`day_pk`], sk the store): every figure but the commodities',
/// so its size does not grow with what the store sells. It also carries its stream checkpoints
/// (`ck#<shard>` attributes, `store/dynamo/once.rs`). (A head written before commodities had
/// items of their own holds them in `day.commodities`, which reads as nothing now; one folded
/// before checkpoints left `folded#` marker items behind, which nothing reads now.)
#[derive(Serialize, Deserialize)]
pub struct DayItem {
    pub pk: String,
    pub sk: String,
    pub version: u64,
    pub day: StoreDay,
    /// The day's highest commodities by net amount; none in a head written before it kept them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top: Option<TopList>,
}

/// The partition of a store-day's commodities: one item per sku (sort key the sku), each folded
/// by `ADD`, so no item grows with the day.
pub fn day_commodities_pk(date: chrono::NaiveDate, store: &StoreId) -> String {
    format!("dayc#{date}#{store}")
}

/// One commodity of a store-day, with how many folds its item has taken (`folds`: of two
/// readings, the one with more is the newer; `TopList`). (Items folded before the head kept the
/// top carry a `netAmount` too, which nothing reads now.)
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DayCommodityItem {
    pub pk: String,
    pub sk: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub quantity: i64,
    #[serde(default)]
    pub weight_grams: i64,
    #[serde(default)]
    pub amount: i64,
    #[serde(default)]
    pub returned_quantity: i64,
    #[serde(default)]
    pub returned_weight_grams: i64,
    #[serde(default)]
    pub returns_amount: i64,
    #[serde(default)]
    pub folds: u64,
}

impl DayCommodityItem {
    /// Its figures with its fold count, as a [`TopList`] observes them.
    pub fn ranked(self) -> Result<(Sku, Ranked), StoreError> {
        let folds = self.folds;
        let (sku, totals) = self.commodity()?;
        Ok((sku, Ranked { totals, folds }))
    }

    pub fn commodity(self) -> Result<(Sku, CommodityTotals), StoreError> {
        let sku = Sku::parse(&self.sk).map_err(|e| damaged("day commodity", &format!("{}/{}", self.pk, self.sk), e))?;
        Ok((
            sku,
            CommodityTotals {
                name: self.name,
                quantity: self.quantity,
                weight_grams: self.weight_grams,
                amount: Money::from_minor_units(self.amount),
                returned_quantity: self.returned_quantity,
                returned_weight_grams: self.returned_weight_grams,
                returns_amount: Money::from_minor_units(self.returns_amount),
            },
        ))
    }
}
