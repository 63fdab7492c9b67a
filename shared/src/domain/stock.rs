//! Stock movements: receipts, counts and damage a store records.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::ids::Sku;
use super::refusal::{Invalid, Shortage};

/// `track`: counted, may go negative (shelves are real, stock data is not).
/// `strict`: never below zero (flash-sale items).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StockPolicy {
    Track,
    Strict,
}

pub const MAX_MOVEMENTS: usize = 100;
pub const MAX_DELTA: i64 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MovementReason {
    /// Goods received from a delivery (`"receipt"` on the wire; not a sale's receipt).
    #[serde(rename = "receipt")]
    GoodsIn,
    Count,
    Damage,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StockMovement {
    pub sku: Sku,
    /// Signed change: units for `each` items, grams for `kg` items.
    pub delta: i64,
    pub reason: MovementReason,
}

/// What a request's movements do to one sku, applied in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockChange {
    pub net: i64,
    /// The lowest the running change gets (0 or below): strict stock must cover it.
    pub lowest: i64,
}

/// Folds movements per sku, in the order given, after checking each delta's range.
pub fn changes_by_sku(movements: &[StockMovement]) -> Result<BTreeMap<Sku, StockChange>, Invalid> {
    if movements.is_empty() || movements.len() > MAX_MOVEMENTS {
        return Err(Invalid::request(format!("movements must hold 1 to {MAX_MOVEMENTS} entries")));
    }
    let mut out: BTreeMap<Sku, StockChange> = BTreeMap::new();
    for (i, m) in movements.iter().enumerate() {
        if m.delta.abs() > MAX_DELTA {
            return Err(Invalid::request(format!(
                "movements[{i}].delta {} is beyond ±{MAX_DELTA}",
                m.delta
            )));
        }
        let c = out.entry(m.sku.clone()).or_insert(StockChange { net: 0, lowest: 0 });
        c.net += m.delta;
        c.lowest = c.lowest.min(c.net);
    }
    Ok(out)
}

/// Checks a change against what is on hand: strict stock never goes below zero.
pub fn check_change(sku: &Sku, policy: StockPolicy, on_hand: i64, change: StockChange) -> Result<i64, Shortage> {
    if policy == StockPolicy::Strict && on_hand + change.lowest < 0 {
        return Err(Shortage { sku: sku.to_string(), requested: -change.lowest, available: on_hand.max(0) });
    }
    Ok(on_hand + change.net)
}

/// Most stock items one (store, sku) may be split over.
pub const MAX_STOCK_SHARDS: u16 = 32;

/// How many items a (store, sku)'s stock is split over: 1 to [`MAX_STOCK_SHARDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StockShards(u16);

impl StockShards {
    pub const ONE: StockShards = StockShards(1);
    /// A `strict` sku's split when head office sets none. One DynamoDB item takes about 1,000
    /// writes a second and a sale's transactional write costs two, so one item sells about 500
    /// a second; a flash-sale item (strict) gets eight, room for 4,000 sales a second per store.
    pub const STRICT: StockShards = StockShards(8);
    pub const MAX: StockShards = StockShards(MAX_STOCK_SHARDS);

    /// Checks head office's `stockShards` setting (or a stored one).
    pub fn parse(requested: i64) -> Result<Self, Invalid> {
        u16::try_from(requested)
            .ok()
            .filter(|k| (1..=MAX_STOCK_SHARDS).contains(k))
            .map(StockShards)
            .ok_or_else(|| Invalid::request(format!("stockShards must be 1 to {MAX_STOCK_SHARDS}, not {requested}")))
    }

    pub fn get(self) -> u16 {
        self.0
    }
}

/// One of the items a (store, sku)'s stock is split over: what it holds, and how many writes
/// it has taken (to see how a hot sku's writes spread).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StockShard {
    pub on_hand: i64,
    pub writes: u64,
}

/// What a (store, sku) holds over all its shards.
pub fn total_on_hand(shards: &[StockShard]) -> i64 {
    shards.iter().map(|s| s.on_hand).sum()
}

/// Where a take of `amount` comes from, as (shard, amount) pairs: the shard the sale was
/// routed to (`first`) if it covers the whole take; else the next one round that does; else
/// the fullest shards first, split. None when the shards hold less than `amount` together.
/// Shards never give more than they hold, so strict stock never goes below zero.
pub fn plan_take(levels: &[i64], first: usize, amount: i64) -> Option<Vec<(usize, i64)>> {
    if amount <= 0 {
        return Some(Vec::new());
    }
    let k = levels.len();
    if k == 0 {
        return None;
    }
    if let Some(i) = (0..k).map(|step| (first + step) % k).find(|&i| levels[i] >= amount) {
        return Some(vec![(i, amount)]);
    }
    let mut fullest: Vec<usize> = (0..k).filter(|&i| levels[i] > 0).collect();
    fullest.sort_by_key(|&i| std::cmp::Reverse(levels[i]));
    let mut left = amount;
    let mut plan = Vec::new();
    for i in fullest {
        let part = levels[i].min(left);
        plan.push((i, part));
        left -= part;
        if left == 0 {
            return Some(plan);
        }
    }
    None
}

/// How `amount` received spreads over the first `k` shards: as evenly as whole units allow,
/// the remainder to the lowest shards.
pub fn spread_goods_in(amount: i64, k: u16) -> Vec<i64> {
    let k = i64::from(k.max(1));
    (0..k).map(|i| amount / k + i64::from(i < amount % k)).collect()
}

/// Where goods brought back go, as (shard, amount) pairs: spread like a receipt, the remainder
/// from a shard the return's id picks rather than from the first, so that the single units of
/// many returns of a flash-sale item spread over its items instead of all landing on item 0
/// (the Double 11 harness saw item 0 take 56 writes of 295, its target 1.5 / 8).
pub fn restock_spread(amount: i64, k: u16, return_id: &str) -> Vec<(usize, i64)> {
    let mut even = spread_goods_in(amount, k);
    let first = return_id.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b))) % even.len();
    even.rotate_right(first);
    even.into_iter().enumerate().filter(|(_, d)| *d != 0).collect()
}

/// How a movement lands on a sku's shards (their on-hand, in shard order; missing ones hold
/// nothing), as (shard, delta) pairs: a net receipt spreads over the first `k`; a net take
/// comes from the shards that hold stock when it is strict, from the first when it is tracked
/// (which may go below zero). The shortage when strict stock cannot cover the change.
pub fn plan_movement(
    sku: &Sku,
    policy: StockPolicy,
    levels: &[i64],
    k: u16,
    change: StockChange,
) -> Result<Vec<(usize, i64)>, Shortage> {
    let on_hand: i64 = levels.iter().sum();
    check_change(sku, policy, on_hand, change)?;
    if change.net >= 0 {
        return Ok(spread_goods_in(change.net, k).into_iter().enumerate().filter(|(_, d)| *d != 0).collect());
    }
    if policy == StockPolicy::Track {
        return Ok(vec![(0, change.net)]);
    }
    plan_take(levels, 0, -change.net)
        .map(|plan| plan.into_iter().map(|(i, a)| (i, -a)).collect())
        .ok_or_else(|| Shortage { sku: sku.to_string(), requested: -change.net, available: on_hand.max(0) })
}

/// The on-hand of a sku's shards, at least `k` of them (the ones never written hold nothing).
pub fn padded_levels(shards: &[StockShard], k: u16) -> Vec<i64> {
    let mut levels: Vec<i64> = shards.iter().map(|s| s.on_hand).collect();
    if levels.len() < usize::from(k) {
        levels.resize(usize::from(k), 0);
    }
    levels
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn single_units_brought_back_spread_over_the_items() {
        let mut writes = [0; 8];
        for i in 0..800 {
            let spread = restock_spread(1, 8, &format!("0193a3c4-5e6f-7a8b-9c0d-{i:012}"));
            assert_eq!(spread.iter().map(|(_, a)| a).sum::<i64>(), 1);
            writes[spread[0].0] += 1;
        }
        assert!(writes.iter().all(|w| (60..=140).contains(w)), "{writes:?}");
    }

    proptest! {
        #[test]
        fn a_restock_puts_back_exactly_the_amount_as_evenly_as_a_receipt(amount in 1i64..500, k in 1u16..33, id in "[0-9a-f-]{36}") {
            let spread = restock_spread(amount, k, &id);
            prop_assert_eq!(spread.iter().map(|(_, a)| a).sum::<i64>(), amount);
            let most = spread.iter().map(|(_, a)| *a).max().unwrap();
            prop_assert!(most <= amount / i64::from(k) + 1);
            prop_assert!(spread.iter().all(|(s, a)| *s < usize::from(k) && *a > 0));
        }

        /// A plan takes exactly the amount, never more than a shard holds, starts at the routed
        /// shard when it can, and fails only when the shards hold too little together.
        #[test]
        fn a_take_is_planned_exactly_from_what_the_shards_hold(
            levels in proptest::collection::vec(-5i64..40, 1..12),
            first in 0usize..12,
            amount in 1i64..200,
        ) {
            let first = first % levels.len();
            let available: i64 = levels.iter().filter(|l| **l > 0).sum();
            match plan_take(&levels, first, amount) {
                None => prop_assert!(available < amount),
                Some(plan) => {
                    prop_assert_eq!(plan.iter().map(|(_, a)| a).sum::<i64>(), amount);
                    for (i, a) in &plan {
                        prop_assert!(*a > 0 && *a <= levels[*i]);
                    }
                    let mut shards: Vec<usize> = plan.iter().map(|(i, _)| *i).collect();
                    shards.dedup();
                    prop_assert_eq!(shards.len(), plan.len());
                    if levels[first] >= amount {
                        prop_assert_eq!(plan, vec![(first, amount)]);
                    }
                }
            }
        }

        #[test]
        fn a_receipt_spreads_evenly_and_whole(amount in 0i64..1_000_000, k in 1u16..=MAX_STOCK_SHARDS) {
            let parts = spread_goods_in(amount, k);
            prop_assert_eq!(parts.len(), usize::from(k));
            prop_assert_eq!(parts.iter().sum::<i64>(), amount);
            prop_assert!(parts.iter().max().unwrap() - parts.iter().min().unwrap() <= 1);
        }
    }

    #[test]
    fn the_split_setting_has_limits() {
        assert_eq!(StockShards::parse(1).map(StockShards::get), Ok(1));
        assert_eq!(StockShards::parse(32).map(StockShards::get), Ok(32));
        assert!(StockShards::parse(0).is_err());
        assert!(StockShards::parse(33).is_err());
        assert!(StockShards::parse(-1).is_err());
    }

    fn mv(sku: &str, delta: i64) -> StockMovement {
        StockMovement { sku: Sku::parse(sku).unwrap(), delta, reason: MovementReason::Count }
    }

    #[test]
    fn running_total_is_checked_in_order() {
        let c = changes_by_sku(&[mv("A", -5), mv("A", 10), mv("B", 3)]).unwrap();
        let a = c[&Sku::parse("A").unwrap()];
        assert_eq!(a, StockChange { net: 5, lowest: -5 });
        assert!(check_change(&Sku::parse("A").unwrap(), StockPolicy::Strict, 4, a).is_err());
        assert_eq!(check_change(&Sku::parse("A").unwrap(), StockPolicy::Strict, 5, a), Ok(10));
        assert_eq!(check_change(&Sku::parse("A").unwrap(), StockPolicy::Track, 0, a), Ok(5));
    }

    #[test]
    fn limits_are_enforced() {
        assert!(changes_by_sku(&[]).is_err());
        assert!(changes_by_sku(&[mv("A", 1_000_001)]).is_err());
        assert!(changes_by_sku(&[mv("A", -1_000_000)]).is_ok());
        let many: Vec<_> = (0..101).map(|_| mv("A", 1)).collect();
        assert!(changes_by_sku(&many).is_err());
    }
}
