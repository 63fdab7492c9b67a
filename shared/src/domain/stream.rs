//! Exactly once from a DynamoDB stream without a marker per record: per-item checkpoints.
//!
//! A consumer of the sales table's stream (Lambda) folds each batch of records into items (stock
//! shards, store-day figures) with one plain write per item per batch. Lambda delivers at least
//! once: a batch may come again, a later batch may start at any earlier record of its shard
//! (retries, `ReportBatchItemFailures`, bisection), and several shards are live at once, so the
//! records that touch one item come from several shards. Records of one shard arrive in order.
//!
//! So each item remembers, per shard, the sequence number of the last record applied to it (its
//! [`Checkpoints`]). A batch's contributions to the item that lie after the shard's checkpoint
//! are exactly those not yet applied ([`unapplied`]): everything at or before it was applied, in
//! order, by an earlier write of the same item. The checkpoint is per shard because sequence
//! numbers only order records within one shard; across shards they say nothing.
//!
//! What it guarantees: if every write of an item is conditioned on the item's checkpoint for the
//! shard being what was read (the DynamoDB adapter does that, `store/dynamo/once.rs`), and the
//! consumer never lets Lambda move past a record before every item the record touches is written
//! (a failure is reported at or before the record), each record counts once in each item. Two
//! things must hold of the deployment: one batch at a time per shard (`ParallelizationFactor` 1:
//! with more, batches of one shard run side by side and a later record could be applied before
//! an earlier one, which would then be skipped), and records of a shard delivered in order.
//!
//! Checkpoints do not pile up: one older than [`KEEP`] (48 h) before the item's newest record is
//! dropped ([`Checkpoints::record`]). Stream records live 24 hours, so no record at or before such
//! a checkpoint can be delivered again; the other 24 hours are slack for approximate times.
//!
//! No I/O here: the proptest in this file drives [`unapplied`] through random interleavings,
//! batch cuts and re-deliveries.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use super::refusal::Invalid;

/// How long a checkpoint is kept after the item's newest record (seconds): twice the stream's
/// 24-hour retention.
pub const KEEP: i64 = 48 * 3600;

/// A stream record's sequence number. DynamoDB Streams documents it as a string of numeric
/// characters only, 21 to 40 long (API reference, `SequenceNumberRange` and `StreamRecord`:
/// "String contains numeric characters only. Length Constraints: Minimum length of 21. Maximum
/// length of 40."), increasing within a shard. Forty digits overflow a u128 (39) and lose
/// precision in an f64 (about 16), so it is held as text, without leading zeros, and compared as
/// the number it writes: by length, then digit by digit. (Any 1 to 40 digits are accepted: local
/// emulators write shorter ones.)
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SequenceNumber(String);

impl SequenceNumber {
    pub const MAX_DIGITS: usize = 40;

    pub fn parse(raw: &str) -> Result<SequenceNumber, Invalid> {
        if raw.is_empty() || raw.len() > Self::MAX_DIGITS || !raw.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Invalid::request(format!("sequence number {raw:?} must be 1 to 40 digits")));
        }
        let trimmed = raw.trim_start_matches('0');
        Ok(SequenceNumber(if trimmed.is_empty() { "0".to_owned() } else { trimmed.to_owned() }))
    }

    /// Its digits, without leading zeros.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Ord for SequenceNumber {
    fn cmp(&self, other: &Self) -> Ordering {
        // No leading zeros: the longer is the larger, and equal lengths compare as text.
        self.0.len().cmp(&other.0.len()).then_with(|| self.0.cmp(&other.0))
    }
}

impl PartialOrd for SequenceNumber {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Display for SequenceNumber {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A shard of a stream. DynamoDB Streams documents `ShardId` as "the system-generated identifier
/// for this shard", a string 28 to 65 long (API reference, `Shard`), e.g.
/// `shardId-00000001700000000000-0a1b2c3d`. It becomes part of an attribute name
/// (`store/dynamo/once.rs`), so only printable ASCII without spaces is accepted, 1 to 65 long.
/// Note: a Lambda event of DynamoDB records does not name the shard in each record (its
/// `eventID` is not a shard id, unlike Kinesis'); the event of a tumbling window carries
/// `shardId`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShardId(String);

impl ShardId {
    pub const MAX_LEN: usize = 65;

    pub fn parse(raw: &str) -> Result<ShardId, Invalid> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN || !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(Invalid::request(format!("shard id {raw:?} must be 1 to 65 printable ASCII characters")));
        }
        Ok(ShardId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ShardId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Where a record sits in a stream.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Position {
    pub shard: ShardId,
    pub sequence: SequenceNumber,
}

/// A record of the stream as a consumer folds it: where it sits, when it was written (epoch
/// seconds, its `ApproximateCreationDateTime`) and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Streamed<T> {
    pub position: Position,
    pub at: i64,
    pub value: T,
}

/// The checkpoints `checkpoints` become once `records` (of any shards, in any order) are
/// applied, and those records that lie after them: exactly the ones not yet applied, given the
/// guarantees of the module doc. Checkpoints older than [`KEEP`] are dropped as they advance.
pub fn advance<'a, T>(checkpoints: &Checkpoints, records: &'a [Streamed<T>]) -> (Checkpoints, Vec<&'a Streamed<T>>) {
    let mut fresh: Vec<&Streamed<T>> = Vec::new();
    let mut last: BTreeMap<&ShardId, Checkpoint> = BTreeMap::new();
    for r in records {
        if checkpoints.get(&r.position.shard).is_some_and(|c| r.position.sequence <= c.sequence) {
            continue;
        }
        fresh.push(r);
        let ck = last.entry(&r.position.shard).or_insert_with(|| Checkpoint { sequence: r.position.sequence.clone(), at: r.at });
        ck.include(&r.position.sequence, r.at);
    }
    let mut next = checkpoints.clone();
    for (shard, ck) in last {
        next.record(shard.clone(), ck);
    }
    (next, fresh)
}

/// An item's checkpoint for one shard: the last record of the shard applied to the item, and that
/// record's approximate creation time (epoch seconds, the record's `ApproximateCreationDateTime`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub sequence: SequenceNumber,
    pub at: i64,
}

impl Checkpoint {
    /// Moves it to a record of its shard (applied with it), if that record is later; its time is
    /// the latest of theirs.
    pub fn include(&mut self, sequence: &SequenceNumber, at: i64) {
        if *sequence > self.sequence {
            self.sequence = sequence.clone();
        }
        self.at = self.at.max(at);
    }

    /// `<sequence>/<epoch seconds>`: how an item stores it (one short string).
    pub fn encode(&self) -> String {
        format!("{}/{}", self.sequence, self.at)
    }

    pub fn decode(raw: &str) -> Result<Checkpoint, Invalid> {
        let bad = || Invalid::request(format!("checkpoint {raw:?} is not <sequence>/<epoch seconds>"));
        let (sequence, at) = raw.split_once('/').ok_or_else(bad)?;
        Ok(Checkpoint { sequence: SequenceNumber::parse(sequence).map_err(|_| bad())?, at: at.parse().map_err(|_| bad())? })
    }
}

/// An item's checkpoints, by shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Checkpoints(BTreeMap<ShardId, Checkpoint>);

impl Checkpoints {
    pub fn new() -> Checkpoints {
        Checkpoints::default()
    }

    pub fn get(&self, shard: &ShardId) -> Option<&Checkpoint> {
        self.0.get(shard)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&ShardId, &Checkpoint)> {
        self.0.iter()
    }

    /// The newest record time among them.
    pub fn newest(&self) -> Option<i64> {
        self.0.values().map(|c| c.at).max()
    }

    /// Sets `shard`'s checkpoint (as read, or advanced) without pruning.
    pub fn insert(&mut self, shard: ShardId, checkpoint: Checkpoint) {
        self.0.insert(shard, checkpoint);
    }

    /// Sets `shard`'s checkpoint and drops every other more than [`KEEP`] older than the newest;
    /// returns the shards dropped (never `shard` itself).
    pub fn record(&mut self, shard: ShardId, checkpoint: Checkpoint) -> Vec<ShardId> {
        self.0.insert(shard.clone(), checkpoint);
        let newest = self.newest().unwrap_or_default();
        let stale: Vec<ShardId> =
            self.0.iter().filter(|(s, c)| **s != shard && c.at < newest.saturating_sub(KEEP)).map(|(s, _)| s.clone()).collect();
        for s in &stale {
            self.0.remove(s);
        }
        stale
    }
}

impl FromIterator<(ShardId, Checkpoint)> for Checkpoints {
    fn from_iter<T: IntoIterator<Item = (ShardId, Checkpoint)>>(iter: T) -> Self {
        Checkpoints(iter.into_iter().collect())
    }
}

/// What a record adds to an item, summed over a batch.
pub trait Deltas: Default + Clone {
    fn absorb(&mut self, other: &Self);
}

impl Deltas for i64 {
    fn absorb(&mut self, other: &Self) {
        *self += other;
    }
}

/// Named numbers (an item's attributes): each name's deltas add up.
impl<K: Ord + Clone> Deltas for BTreeMap<K, i64> {
    fn absorb(&mut self, other: &Self) {
        for (k, v) in other {
            *self.entry(k.clone()).or_default() += v;
        }
    }
}

/// One record's contribution to one item. A record may contribute more than once to an item (a
/// sale with two lines of a sku): each with the record's sequence number, all applied together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contribution<D> {
    pub sequence: SequenceNumber,
    /// The record's approximate creation time, epoch seconds.
    pub at: i64,
    pub deltas: D,
}

/// What a batch still owes an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unapplied<D> {
    /// The contributions after the checkpoint, summed.
    pub deltas: D,
    /// How many contributions that is.
    pub contributions: usize,
    /// The shard's checkpoint once they are applied: the last of them.
    pub checkpoint: Checkpoint,
}

/// The contributions of one batch (records of `shard`, in any order) to one item that lie after
/// the item's checkpoint for the shard, summed, with the checkpoint that records them. `None`
/// when the item has them all already: nothing to write.
pub fn unapplied<D: Deltas>(checkpoints: &Checkpoints, shard: &ShardId, contributions: &[Contribution<D>]) -> Option<Unapplied<D>> {
    let after = checkpoints.get(shard).map(|c| &c.sequence);
    let mut out: Option<Unapplied<D>> = None;
    for c in contributions.iter().filter(|c| after.is_none_or(|a| c.sequence > *a)) {
        let u = out.get_or_insert_with(|| Unapplied {
            deltas: D::default(),
            contributions: 0,
            checkpoint: Checkpoint { sequence: c.sequence.clone(), at: c.at },
        });
        u.deltas.absorb(&c.deltas);
        u.contributions += 1;
        u.checkpoint.include(&c.sequence, c.at);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn seq(raw: &str) -> SequenceNumber {
        SequenceNumber::parse(raw).unwrap()
    }

    fn shard(raw: &str) -> ShardId {
        ShardId::parse(raw).unwrap()
    }

    fn c(sequence: &str, at: i64, delta: i64) -> Contribution<i64> {
        Contribution { sequence: seq(sequence), at, deltas: delta }
    }

    #[test]
    fn sequence_numbers_compare_as_numbers_of_up_to_forty_digits() {
        // Longer is larger, whatever the text says; leading zeros do not count.
        assert!(seq("100000000000000000000") > seq("99999999999999999999"));
        assert!(seq("9") < seq("10"));
        assert_eq!(seq("000123"), seq("123"));
        assert_eq!(seq("000"), seq("0"));
        assert_eq!(seq("0000000000000000000042").as_str(), "42");
        // Forty digits, past u128::MAX (39 digits) and where an f64 sees no difference.
        let a = seq("9999999999999999999999999999999999999998");
        let b = seq("9999999999999999999999999999999999999999");
        assert!(a < b);
        assert!(b > a);
        assert_eq!(a.cmp(&a.clone()), Ordering::Equal);
        assert!(seq("340282366920938463463374607431768211456") > seq("340282366920938463463374607431768211455"));
        // Typical DynamoDB numbers: 21 to 40 digits.
        assert!(seq("4421584500000000017450439091") < seq("4421584500000000017450439092"));
    }

    #[test]
    fn sequence_numbers_and_shards_refuse_what_they_cannot_be() {
        for bad in ["", "12a", "-1", "1.5", " 1", &"1".repeat(41)] {
            assert!(SequenceNumber::parse(bad).is_err(), "{bad:?}");
        }
        assert!(SequenceNumber::parse(&"9".repeat(40)).is_ok());
        for bad in ["", "a b", &"s".repeat(66), "shard\u{e9}"] {
            assert!(ShardId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ShardId::parse("shardId-00000001700000000000-0a1b2c3d").is_ok());
    }

    #[test]
    fn checkpoints_encode_and_decode() {
        let ck = Checkpoint { sequence: seq("4421584500000000017450439091"), at: 1_764_900_000 };
        assert_eq!(ck.encode(), "4421584500000000017450439091/1764900000");
        assert_eq!(Checkpoint::decode(&ck.encode()).unwrap(), ck);
        for bad in ["", "12", "12/", "/12", "1x/12", "12/x"] {
            assert!(Checkpoint::decode(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_what_lies_after_the_shards_checkpoint_is_unapplied() {
        let s1 = shard("s1");
        let s2 = shard("s2");
        let batch = [c("5", 100, 1), c("9", 101, 10), c("10", 102, 100)];
        // A new item: all of it.
        let u = unapplied(&Checkpoints::new(), &s1, &batch).unwrap();
        assert_eq!((u.deltas, u.contributions, u.checkpoint.clone()), (111, 3, Checkpoint { sequence: seq("10"), at: 102 }));
        // After 9 on s1: only 10 (numerically after 9, though "10" < "9" as text).
        let mut cks = Checkpoints::new();
        cks.insert(s1.clone(), Checkpoint { sequence: seq("9"), at: 101 });
        let u = unapplied(&cks, &s1, &batch).unwrap();
        assert_eq!((u.deltas, u.contributions), (100, 1));
        // s2's checkpoint says nothing about s1's records, and the reverse.
        assert_eq!(unapplied(&cks, &s2, &batch).unwrap().deltas, 111);
        // All applied: nothing to write.
        cks.insert(s1.clone(), Checkpoint { sequence: seq("10"), at: 102 });
        assert_eq!(unapplied(&cks, &s1, &batch), None);
        // One record contributing twice (two lines of a sku) counts twice.
        let u = unapplied(&Checkpoints::new(), &s1, &[c("7", 1, 2), c("7", 1, 3)]).unwrap();
        assert_eq!((u.deltas, u.contributions, u.checkpoint.sequence), (5, 2, seq("7")));
    }

    #[test]
    fn a_checkpoint_older_than_48_hours_before_the_newest_is_dropped() {
        let mut cks = Checkpoints::new();
        cks.insert(shard("old"), Checkpoint { sequence: seq("1"), at: 0 });
        cks.insert(shard("edge"), Checkpoint { sequence: seq("1"), at: 1000 });
        let dropped = cks.record(shard("new"), Checkpoint { sequence: seq("2"), at: KEEP + 1000 });
        assert_eq!(dropped, vec![shard("old")]);
        assert_eq!(cks.len(), 2);
        assert!(cks.get(&shard("edge")).is_some() && cks.get(&shard("new")).is_some());
        // The shard recorded is never dropped, even with an old time.
        let dropped = cks.record(shard("late"), Checkpoint { sequence: seq("3"), at: 0 });
        assert!(dropped.is_empty() && cks.get(&shard("late")).is_some());
    }

    /// A stream of records on up to 3 shards over up to 3 items; each record contributes to one
    /// or two items. Times advance by up to 2 hours a record, so over a long run shards'
    /// checkpoints age past 48 hours and are pruned.
    #[derive(Debug, Clone)]
    struct Record {
        shard: usize,
        at: i64,
        touches: Vec<(usize, i64)>,
    }

    fn records() -> impl Strategy<Value = Vec<Record>> {
        prop::collection::vec((0..3usize, 0..2 * 3600i64, prop::collection::vec((0..3usize, -50..50i64), 1..3)), 1..80).prop_map(
            |raw| {
                let mut at = 1_700_000_000;
                raw.into_iter()
                    .map(|(shard, gap, touches)| {
                        at += gap;
                        Record { shard, at, touches }
                    })
                    .collect()
            },
        )
    }

    /// Sequence numbers of a shard: rising by random steps from under a power of ten, so that
    /// their length changes midway (as text, "99…" sorts after "100…"), written with or without
    /// leading zeros.
    fn sequences(n: usize, digits: u32, steps: &[u64], zeros: &[usize]) -> Vec<String> {
        let half: u128 = (0..n / 2).map(|i| u128::from(steps[i % steps.len()])).sum();
        let mut v: u128 = 10u128.pow(digits) - half - 1;
        (0..n)
            .map(|i| {
                v += u128::from(steps[i % steps.len()]);
                format!("{}{v}", "0".repeat(zeros[i % zeros.len()]))
            })
            .collect()
    }

    /// A record in its shard: sequence number, time, and (item, delta) contributions.
    type Entry = (String, i64, Vec<(usize, i64)>);

    /// Lambda over the stream, and the items it writes through [`unapplied`].
    struct Sim {
        /// Each shard's records in order.
        shards: Vec<Vec<Entry>>,
        ids: Vec<ShardId>,
        /// Where Lambda stands in each shard: every record before it is in every item.
        cursor: Vec<usize>,
        /// The newest record time delivered: "now" is at least that.
        newest: i64,
        /// Each item's checkpoints and total.
        items: Vec<(Checkpoints, i64)>,
    }

    impl Sim {
        /// Delivers records `from..from + len` of `shard`; the items whose bit is set in
        /// `failing` fail their write, and Lambda hears of the first record touching one.
        fn deliver(&mut self, shard: usize, from: usize, len: usize, failing: u8) {
            let to = (from + len).min(self.shards[shard].len());
            if from >= to {
                return;
            }
            let batch = &self.shards[shard][from..to];
            self.newest = self.newest.max(batch.iter().map(|r| r.1).max().unwrap_or(i64::MIN));
            let mut first_failed: Option<usize> = None;
            for (item, (cks, total)) in self.items.iter_mut().enumerate() {
                let mut first = None;
                let mut contributions = Vec::new();
                for (i, (s, at, touches)) in batch.iter().enumerate() {
                    for (_, d) in touches.iter().filter(|(it, _)| *it == item) {
                        first.get_or_insert(i);
                        contributions.push(Contribution { sequence: seq(s), at: *at, deltas: *d });
                    }
                }
                let Some(first) = first else { continue };
                if failing & (1 << item) != 0 {
                    first_failed = Some(first_failed.map_or(first, |f| f.min(first)));
                    continue;
                }
                if let Some(u) = unapplied(cks, &self.ids[shard], &contributions) {
                    *total += u.deltas;
                    cks.record(self.ids[shard].clone(), u.checkpoint);
                }
            }
            // Lambda moves on past what succeeded (ReportBatchItemFailures), never back.
            let reached = first_failed.map_or(to, |f| from + f);
            self.cursor[shard] = self.cursor[shard].max(reached);
        }

        /// The time of the record where Lambda stands in `shard`, if any is left.
        fn next_at(&self, shard: usize) -> Option<i64> {
            self.shards[shard].get(self.cursor[shard]).map(|r| r.1)
        }

        /// Lambda retries a failing record until it passes, long before the stream drops it
        /// (24 hours): no shard lags more than 6 hours behind the newest record delivered.
        fn catch_up(&mut self) {
            for shard in 0..self.shards.len() {
                while self.next_at(shard).is_some_and(|at| at < self.newest.saturating_sub(6 * 3600)) {
                    let from = self.cursor[shard];
                    self.deliver(shard, from, 1, 0);
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn every_record_counts_once_however_batches_are_cut_and_delivered_again(
            records in records(),
            digits in 19u32..36,
            steps in prop::collection::vec(1u64..1_000_000, 1..5),
            zeros in prop::collection::vec(0usize..3, 1..4),
            deliveries in prop::collection::vec((0..3usize, 0..6usize, 1..8usize, any::<u8>()), 0..80),
        ) {
            let mut shards: Vec<Vec<Entry>> = vec![Vec::new(); 3];
            for r in &records {
                shards[r.shard].push((String::new(), r.at, r.touches.clone()));
            }
            for (i, list) in shards.iter_mut().enumerate() {
                let numbers = sequences(list.len(), digits + i as u32, &steps, &zeros);
                for (entry, s) in list.iter_mut().zip(numbers) {
                    entry.0 = s;
                }
            }
            let mut sim = Sim {
                shards,
                ids: (0..3).map(|i| shard(&format!("shardId-{i:020}-0a1b2c3d"))).collect(),
                cursor: vec![0; 3],
                newest: 0,
                items: vec![(Checkpoints::new(), 0); 3],
            };
            for (shard, back, len, failing) in deliveries {
                sim.catch_up();
                // Where Lambda stands, or again from an earlier record still in the stream
                // (newer than 24 hours before the newest delivered).
                let mut from = sim.cursor[shard].saturating_sub(back);
                while from < sim.cursor[shard] && sim.shards[shard][from].1 < sim.newest.saturating_sub(24 * 3600) {
                    from += 1;
                }
                sim.deliver(shard, from, len, failing);
            }
            // Then the rest without failures, the oldest record first.
            while let Some(shard) = (0..3).filter(|s| sim.next_at(*s).is_some()).min_by_key(|s| sim.next_at(*s)) {
                let from = sim.cursor[shard];
                sim.deliver(shard, from, 1, 0);
            }

            for (item, (cks, total)) in sim.items.iter().enumerate() {
                let want: i64 = records.iter().flat_map(|r| &r.touches).filter(|(it, _)| *it == item).map(|(_, d)| d).sum();
                prop_assert_eq!(*total, want, "item {}", item);
                prop_assert!(cks.len() <= 3);
                if let Some(newest) = cks.newest() {
                    prop_assert!(cks.iter().all(|(_, c)| c.at >= newest - KEEP), "{:?}", cks);
                }
            }
        }
    }
}
