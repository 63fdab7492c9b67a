//! Head-office price adjustments and the one rule that says which price is in force.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;
use std::sync::Arc;

use super::catalog::Store;
use super::refusal::{CatalogRefusal, Invalid};
use super::ids::{BatchId, RegionId, Sku, StoreId};
use super::money::Money;
use super::time::parse_instant;

/// A sku's price schedule: the adjustments that can be in force now or later, at least those
/// whose scope reaches the store asked about (`price_in_force` picks among them). Shared, so
/// a read hands it out without copying.
pub type Schedule = Arc<Vec<Arc<PriceAdjustment>>>;

/// Which stores an adjustment reaches.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PriceScope {
    Chain,
    Region(RegionId),
    Store(StoreId),
}

impl PriceScope {
    /// `chain`, `region:EAST`, `store:S001`.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let bad = || Invalid::Request(format!("scope {raw:?} must be chain, region:ID or store:ID"));
        if raw == "chain" {
            return Ok(PriceScope::Chain);
        }
        match raw.split_once(':') {
            Some(("region", id)) => RegionId::parse(id).map(PriceScope::Region).map_err(|_| bad()),
            Some(("store", id)) => StoreId::parse(id).map(PriceScope::Store).map_err(|_| bad()),
            _ => Err(bad()),
        }
    }

    /// Store beats region beats chain.
    pub fn specificity(&self) -> u8 {
        match self {
            PriceScope::Chain => 0,
            PriceScope::Region(_) => 1,
            PriceScope::Store(_) => 2,
        }
    }

    /// Whether the scope reaches this store, by the store's current region.
    pub fn reaches(&self, store: &Store) -> bool {
        match self {
            PriceScope::Chain => true,
            PriceScope::Region(r) => *r == store.region,
            PriceScope::Store(s) => *s == store.store_id,
        }
    }
}

impl fmt::Display for PriceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PriceScope::Chain => f.write_str("chain"),
            PriceScope::Region(r) => write!(f, "region:{r}"),
            PriceScope::Store(s) => write!(f, "store:{s}"),
        }
    }
}

impl Serialize for PriceScope {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `{batchId}:{index}`: names the line of the batch that set a price.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AdjustmentId {
    pub batch_id: BatchId,
    pub index: u32,
}

impl AdjustmentId {
    /// The id as text, without the formatting machinery (a receipt writes one per line).
    pub fn text(&self) -> String {
        let mut digits = [0u8; 10];
        let mut n = self.index;
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        let mut out = String::with_capacity(self.batch_id.as_str().len() + 1 + digits.len() - at);
        out.push_str(self.batch_id.as_str());
        out.push(':');
        out.push_str(std::str::from_utf8(&digits[at..]).expect("ascii digits"));
        out
    }
}

impl fmt::Display for AdjustmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.batch_id, self.index)
    }
}

impl Serialize for AdjustmentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One accepted line of a head-office batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceAdjustment {
    pub id: AdjustmentId,
    pub sku: Sku,
    pub scope: PriceScope,
    pub amount: Money,
    pub valid_from: DateTime<Utc>,
    /// Exclusive. An adjustment with an end is a promotion.
    pub valid_to: Option<DateTime<Utc>>,
    pub reason: Option<String>,
    /// When its batch was applied: "the latest batch" wins ties.
    pub applied_at: DateTime<Utc>,
}

impl PriceAdjustment {
    pub fn is_promotion(&self) -> bool {
        self.valid_to.is_some()
    }

    pub fn in_force_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_from <= at && self.valid_to.is_none_or(|end| at < end)
    }

    /// Whether it can still be in force at or after `at` (a lookup need not keep the rest).
    pub fn current_or_future_at(&self, at: DateTime<Utc>) -> bool {
        self.valid_to.is_none_or(|end| at < end)
    }

    /// Higher wins: promotions before regular prices, then the most specific scope, then the
    /// latest `validFrom`, then the latest batch, then the later line in its batch.
    pub(crate) fn precedence(&self) -> (bool, u8, DateTime<Utc>, DateTime<Utc>, &BatchId, u32) {
        (
            self.is_promotion(),
            self.scope.specificity(),
            self.valid_from,
            self.applied_at,
            &self.id.batch_id,
            self.id.index,
        )
    }
}

/// The price in force for `store` at `at` among `candidates` (adjustments of one sku).
pub fn price_in_force<'a, A: Borrow<PriceAdjustment> + 'a>(
    candidates: impl IntoIterator<Item = &'a A>,
    store: &Store,
    at: DateTime<Utc>,
) -> Option<&'a PriceAdjustment> {
    candidates
        .into_iter()
        .map(Borrow::borrow)
        .filter(|a: &&PriceAdjustment| a.scope.reaches(store) && a.in_force_at(at))
        .max_by(|a, b| a.precedence().cmp(&b.precedence()))
}

/// Drops what can no longer be in force at or after `now`: ended promotions, and regular prices
/// outranked by another regular price of the same scope already in force. What is left is the
/// price schedule a lookup reads; history keeps everything for the as-of explanation.
pub fn retain_live<A: Borrow<PriceAdjustment> + Clone>(schedule: &mut Vec<A>, now: DateTime<Utc>) {
    let snapshot = schedule.clone();
    schedule.retain(|a| {
        let a: &PriceAdjustment = a.borrow();
        if a.is_promotion() {
            return a.current_or_future_at(now);
        }
        !snapshot.iter().map(Borrow::borrow).any(|b: &PriceAdjustment| {
            !b.is_promotion() && b.scope == a.scope && b.valid_from <= now && b.precedence() > a.precedence()
        })
    });
}

/// Longest `reason` a line may carry.
pub const MAX_REASON: usize = 500;
/// Most lines in one batch.
pub const MAX_BATCH_LINES: usize = 5000;

/// A line as head office sends it. Types are checked by serde (a wrong type fails the whole
/// request); values are checked line by line by [`PriceLine::validate`].
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PriceLine {
    pub sku: String,
    pub scope: String,
    pub amount: i64,
    #[serde(default)]
    pub valid_from: Option<String>,
    #[serde(default)]
    pub valid_to: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// Why a line of a batch was not applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineRejection {
    pub index: u32,
    pub code: String,
    pub detail: String,
}

impl LineRejection {
    fn new(index: u32, code: &str, detail: String) -> Self {
        LineRejection { index, code: code.to_owned(), detail }
    }
}

/// What a line may refer to: the catalog answers these before lines are checked.
pub trait PriceLineContext {
    fn commodity_exists(&self, sku: &Sku) -> bool;
    fn store_exists(&self, store: &StoreId) -> bool;
}

/// The skus and stores a batch names that exist, read in one go before its lines are checked.
#[derive(Debug, Clone, Default)]
pub struct KnownNames {
    pub skus: std::collections::HashSet<Sku>,
    pub stores: std::collections::HashSet<StoreId>,
}

impl PriceLineContext for KnownNames {
    fn commodity_exists(&self, sku: &Sku) -> bool {
        self.skus.contains(sku)
    }

    fn store_exists(&self, store: &StoreId) -> bool {
        self.stores.contains(store)
    }
}

/// The skus and stores a batch's lines name (well-formed ones only, each once): what must be
/// looked up before its lines are checked.
pub fn names_in(lines: &[PriceLine]) -> (Vec<Sku>, Vec<StoreId>) {
    let mut skus: Vec<Sku> = lines.iter().filter_map(|l| Sku::parse(&l.sku).ok()).collect();
    let mut stores: Vec<StoreId> = lines
        .iter()
        .filter_map(|l| match PriceScope::parse(&l.scope) {
            Ok(PriceScope::Store(s)) => Some(s),
            _ => None,
        })
        .collect();
    skus.sort();
    skus.dedup();
    stores.sort();
    stores.dedup();
    (skus, stores)
}

/// A batch's shape, before anything is read: 1 to [`MAX_BATCH_LINES`] lines, reasons at most
/// [`MAX_REASON`] characters.
pub fn check_batch_shape(lines: &[PriceLine]) -> Result<(), CatalogRefusal> {
    if !(1..=MAX_BATCH_LINES).contains(&lines.len()) {
        return Err(Invalid::request(format!("adjustments must hold 1 to {MAX_BATCH_LINES} lines, not {}", lines.len())).into());
    }
    if let Some(i) = lines.iter().position(|l| l.reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON)) {
        let refusal = CatalogRefusal::from(Invalid::request(format!("adjustments[{i}].reason is longer than {MAX_REASON} characters")));
        return Err(refusal.at_line(i));
    }
    Ok(())
}

impl PriceLine {
    /// Checks one line: the commodity exists, the scope is well formed and names a real store,
    /// the amount is a price, and the window is not empty. `validFrom` defaults to `applied_at`.
    pub fn validate(
        &self,
        batch_id: &BatchId,
        index: u32,
        applied_at: DateTime<Utc>,
        context: &impl PriceLineContext,
    ) -> Result<PriceAdjustment, LineRejection> {
        let sku = Sku::parse(&self.sku)
            .ok()
            .filter(|sku| context.commodity_exists(sku))
            .ok_or_else(|| LineRejection::new(index, "unknown_commodity", format!("no commodity {:?}", self.sku)))?;
        let scope = PriceScope::parse(&self.scope)
            .map_err(|e| LineRejection::new(index, "invalid_scope", e.to_string()))?;
        if let PriceScope::Store(store) = &scope
            && !context.store_exists(store)
        {
            return Err(LineRejection::new(index, "invalid_scope", format!("no store {store}")));
        }
        let amount = Money::price(self.amount).map_err(|e| LineRejection::new(index, "invalid_amount", e.to_string()))?;
        let window = |raw: &Option<String>| {
            raw.as_deref()
                .map(parse_instant)
                .transpose()
                .map_err(|e| LineRejection::new(index, "invalid_window", e.to_string()))
        };
        let valid_from = window(&self.valid_from)?.unwrap_or(applied_at);
        let valid_to = window(&self.valid_to)?;
        if let Some(end) = valid_to
            && end <= valid_from
        {
            return Err(LineRejection::new(index, "invalid_window", "validTo must be after validFrom".into()));
        }
        Ok(PriceAdjustment {
            id: AdjustmentId { batch_id: batch_id.clone(), index },
            sku,
            scope,
            amount,
            valid_from,
            valid_to,
            reason: self.reason.clone(),
            applied_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;

    fn store(id: &str, region: &str) -> Store {
        Store::new(StoreId::parse(id).unwrap(), "Shop", RegionId::parse(region).unwrap(), None).unwrap()
    }

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 11, 0, 0, 0).unwrap()
    }

    fn adj(batch: &str, index: u32, scope: PriceScope, amount: i64, from_h: i64, to_h: Option<i64>, applied_h: i64) -> PriceAdjustment {
        PriceAdjustment {
            id: AdjustmentId { batch_id: BatchId::parse(batch).unwrap(), index },
            sku: Sku::parse("SKU").unwrap(),
            scope,
            amount: Money::from_minor_units(amount),
            valid_from: t0() + Duration::hours(from_h),
            valid_to: to_h.map(|h| t0() + Duration::hours(h)),
            reason: None,
            applied_at: t0() + Duration::hours(applied_h),
        }
    }

    #[test]
    fn a_chain_flash_price_beats_a_regular_store_price_during_its_window() {
        let s = store("S001", "EAST");
        let regular = adj("b1", 0, PriceScope::Store(s.store_id.clone()), 1000, -100, None, -100);
        let flash = adj("b2", 0, PriceScope::Chain, 500, 20, Some(22), -1);
        let all = [regular.clone(), flash.clone()];
        assert_eq!(price_in_force(&all, &s, t0() + Duration::hours(21)), Some(&flash));
        assert_eq!(price_in_force(&all, &s, t0() + Duration::hours(22)), Some(&regular));
        assert_eq!(price_in_force(&all, &s, t0() + Duration::hours(19)), Some(&regular));
    }

    #[test]
    fn a_store_promotion_beats_a_chain_promotion() {
        let s = store("S001", "EAST");
        let chain = adj("b1", 0, PriceScope::Chain, 500, 0, Some(10), 0);
        let own = adj("b1", 1, PriceScope::Store(s.store_id.clone()), 450, 0, Some(10), 0);
        let region = adj("b1", 2, PriceScope::Region(RegionId::parse("EAST").unwrap()), 470, 0, Some(10), 0);
        let all = [chain, own.clone(), region];
        assert_eq!(price_in_force(&all, &s, t0() + Duration::hours(1)), Some(&own));
    }

    #[test]
    fn other_regions_and_stores_do_not_reach() {
        let s = store("S001", "EAST");
        let west = adj("b1", 0, PriceScope::Region(RegionId::parse("WEST").unwrap()), 470, 0, None, 0);
        let other = adj("b1", 1, PriceScope::Store(StoreId::parse("S002").unwrap()), 470, 0, None, 0);
        assert_eq!(price_in_force(&[west, other], &s, t0() + Duration::hours(1)), None);
    }

    #[test]
    fn ties_go_to_the_latest_batch_then_the_later_line() {
        let s = store("S001", "EAST");
        let first = adj("b1", 5, PriceScope::Chain, 100, 0, None, 0);
        let later_batch = adj("b0", 0, PriceScope::Chain, 200, 0, None, 1);
        assert_eq!(price_in_force(&[first.clone(), later_batch.clone()], &s, t0() + Duration::hours(2)), Some(&later_batch));
        let later_line = adj("b1", 6, PriceScope::Chain, 300, 0, None, 0);
        assert_eq!(price_in_force(&[later_line.clone(), first], &s, t0() + Duration::hours(2)), Some(&later_line));
    }

    #[test]
    fn a_schedule_keeps_what_can_still_be_in_force() {
        let s = store("S001", "EAST");
        let old = adj("b1", 0, PriceScope::Chain, 100, -10, None, -10);
        let newer = adj("b2", 0, PriceScope::Chain, 200, -5, None, -5);
        let future = adj("b3", 0, PriceScope::Chain, 300, 5, None, -1);
        let ended = adj("b3", 1, PriceScope::Chain, 50, -3, Some(-1), -4);
        let running = adj("b3", 2, PriceScope::Chain, 60, -3, Some(3), -4);
        let all = vec![old, newer.clone(), future.clone(), ended, running.clone()];
        let mut live = all.clone();
        retain_live(&mut live, t0());
        assert_eq!(live, vec![newer, future, running]);
        for h in 0..12 {
            let at = t0() + Duration::hours(h);
            assert_eq!(price_in_force(&live, &s, at), price_in_force(&all, &s, at));
        }
    }

    #[test]
    fn adjustment_ids_read_batch_colon_line() {
        for index in [0, 7, 10, 4999, u32::MAX] {
            let id = AdjustmentId { batch_id: BatchId::parse("b-1").unwrap(), index };
            assert_eq!(id.text(), id.to_string());
        }
    }

    #[test]
    fn scopes_parse_and_print() {
        for raw in ["chain", "region:EAST", "store:S001"] {
            assert_eq!(PriceScope::parse(raw).unwrap().to_string(), raw);
        }
        for raw in ["", "Chain", "region:", "store:s1", "city:X", "region:east"] {
            assert!(PriceScope::parse(raw).is_err(), "{raw}");
        }
    }

    fn arb_adjustment() -> impl Strategy<Value = PriceAdjustment> {
        (0u32..4, 0u32..20, 0u8..4, 1i64..5000, -48i64..48, proptest::option::of(1i64..48), 0i64..4).prop_map(
            |(batch, index, scope, amount, from_h, len, applied_h)| {
                let scope = match scope {
                    0 => PriceScope::Chain,
                    1 => PriceScope::Region(RegionId::parse("EAST").unwrap()),
                    2 => PriceScope::Region(RegionId::parse("WEST").unwrap()),
                    _ => PriceScope::Store(StoreId::parse(if index % 2 == 0 { "S001" } else { "S002" }).unwrap()),
                };
                adj(&format!("b{batch}"), index, scope, amount, from_h, len.map(|l| from_h + l), applied_h)
            },
        )
    }

    proptest! {
        #[test]
        fn the_answer_is_the_most_specific_latest_adjustment_in_force(
            candidates in proptest::collection::vec(arb_adjustment(), 0..30),
            at_h in -50i64..100,
        ) {
            let s = store("S001", "EAST");
            let at = t0() + Duration::hours(at_h);
            let chosen = price_in_force(&candidates, &s, at);
            let eligible: Vec<_> = candidates.iter().filter(|a| a.scope.reaches(&s) && a.in_force_at(at)).collect();
            match chosen {
                None => prop_assert!(eligible.is_empty()),
                Some(c) => {
                    prop_assert!(c.scope.reaches(&s) && c.in_force_at(at));
                    for other in &eligible {
                        // Nothing eligible outranks the answer on the documented order.
                        let key = |a: &PriceAdjustment| (a.is_promotion(), a.scope.specificity(), a.valid_from, a.applied_at);
                        prop_assert!(key(other) <= key(c));
                    }
                    // The order of the candidates does not matter.
                    let mut reversed = candidates.clone();
                    reversed.reverse();
                    prop_assert_eq!(price_in_force(&reversed, &s, at), Some(c));
                }
            }
        }
    }
}
