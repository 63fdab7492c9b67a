//! The exactly-once stream fold (`store/dynamo/once.rs`) on moto, on the stock table: items
//! keep a checkpoint per stream shard instead of a marker per sale, and each record counts once
//! whether a batch comes twice, again from an earlier record, from two shards interleaved, or
//! twice at the same time; an item with six shards' checkpoints stays under 1 KB (one write
//! unit), and a checkpoint 48 hours older than the item's newest record is removed.

use aws_sdk_dynamodb::types::AttributeValue;
use retail_core::domain::stream::{Contribution, SequenceNumber, ShardId};
use retail_core::store::dynamo::capacity::item_size;
use retail_core::store::dynamo::{CHECKPOINT_PREFIX, DynamoStore, Folded, StreamFold, Table};
use retail_tests::moto::Moto;
use std::collections::{BTreeMap, HashMap};

/// A record time: 1 December 2026, plus hours.
fn at(hours: i64) -> i64 {
    1_764_547_200 + hours * 3600
}

/// A shard id the shape DynamoDB gives (37 characters).
fn shard(n: u32) -> ShardId {
    ShardId::parse(&format!("shardId-{:020}-{:08x}", 1_764_547_200_000u64 + u64::from(n), 0x0a1b_2c3d + n)).unwrap()
}

/// A sequence number of 21 digits (DynamoDB's shortest) for `n`: leading zeros, so that 99
/// and 100 differ in length once they are read as numbers.
fn seq(n: u64) -> SequenceNumber {
    SequenceNumber::parse(&format!("{n:021}")).unwrap()
}

/// Records `seqs` of `shard` each adding `qty(seq)` on hand to stock item `item`.
fn fold(item: &str, shard: &ShardId, seqs: impl IntoIterator<Item = u64>, hours: i64) -> StreamFold {
    StreamFold {
        pk: format!("S001#{item}"),
        sk: "0".to_owned(),
        shard: shard.clone(),
        contributions: seqs
            .into_iter()
            .map(|n| Contribution { sequence: seq(n), at: at(hours), deltas: BTreeMap::from([("onHand".to_owned(), qty(n))]) })
            .collect(),
        set_if_absent: vec![("name".to_owned(), format!("Commodity {item}"))],
    }
}

/// What record `n` adds: distinct powers of two (below 61 records apart), so a sum tells which
/// records counted, and how often.
fn qty(n: u64) -> i64 {
    -(1i64 << (n % 61))
}

fn sum(seqs: impl IntoIterator<Item = u64>) -> i64 {
    seqs.into_iter().map(qty).sum()
}

async fn item(s: &DynamoStore, item: &str) -> HashMap<String, AttributeValue> {
    s.client()
        .get_item()
        .table_name(&s.tables().stock)
        .key("pk", AttributeValue::S(format!("S001#{item}")))
        .key("sk", AttributeValue::S("0".to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap_or_default()
}

async fn on_hand(s: &DynamoStore, name: &str) -> i64 {
    match item(s, name).await.get("onHand") {
        Some(AttributeValue::N(v)) => v.parse().unwrap(),
        other => panic!("{name}: onHand is {other:?}"),
    }
}

fn checkpoints(item: &HashMap<String, AttributeValue>) -> Vec<String> {
    let mut out: Vec<String> = item.keys().filter(|k| k.starts_with(CHECKPOINT_PREFIX)).cloned().collect();
    out.sort();
    out
}

async fn start() -> (Moto, DynamoStore) {
    let _ = tracing_subscriber::fmt().with_test_writer().try_init();
    let moto = Moto::start();
    let s = moto.store().await;
    (moto, s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_applied_twice_counts_once() {
    let (_moto, s) = start().await;
    let a = shard(1);
    let batch = vec![fold("MILK", &a, 1..=3, 0), fold("COLA", &a, [2], 0)];
    let first = s.fold_stream_once(Table::Stock, batch.clone()).await.unwrap();
    assert_eq!(first, Folded { written: 2, contributions: 4, conflicts: 0 });
    let again = s.fold_stream_once(Table::Stock, batch).await.unwrap();
    assert_eq!(again, Folded::default(), "nothing is written the second time");
    assert_eq!(on_hand(&s, "MILK").await, sum(1..=3));
    assert_eq!(on_hand(&s, "COLA").await, sum([2]));
    let milk = item(&s, "MILK").await;
    assert_eq!(milk.get("name"), Some(&AttributeValue::S("Commodity MILK".into())));
    assert_eq!(checkpoints(&milk), vec![format!("{CHECKPOINT_PREFIX}{a}")]);
    assert_eq!(milk.get(&format!("{CHECKPOINT_PREFIX}{a}")), Some(&AttributeValue::S(format!("3/{}", at(0)))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redelivery_from_an_earlier_record_counts_each_record_once() {
    let (_moto, s) = start().await;
    let a = shard(1);
    // Records 97 to 101 (the sequence numbers change length at 100), then again from 99 on
    // with more, then a bisected half from 98.
    s.fold_stream_once(Table::Stock, vec![fold("MILK", &a, 97..=101, 0)]).await.unwrap();
    let second = s.fold_stream_once(Table::Stock, vec![fold("MILK", &a, 99..=105, 0)]).await.unwrap();
    assert_eq!(second.contributions, 4, "102 to 105 only");
    let third = s.fold_stream_once(Table::Stock, vec![fold("MILK", &a, 98..=102, 0)]).await.unwrap();
    assert_eq!(third, Folded::default());
    assert_eq!(on_hand(&s, "MILK").await, sum(97..=105));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_interleaved_count_each_record_once() {
    let (_moto, s) = start().await;
    let (a, b) = (shard(1), shard(2));
    // The same sequence numbers on both shards: each shard's checkpoint says nothing of the other.
    let b_fold = |seqs: std::ops::RangeInclusive<u64>| {
        let mut f = fold("MILK", &b, seqs, 1);
        for c in &mut f.contributions {
            c.deltas.insert("onHand".to_owned(), 1000 * qty(c.sequence.as_str().parse().unwrap()));
        }
        f
    };
    s.fold_stream_once(Table::Stock, vec![fold("MILK", &a, 1..=2, 0)]).await.unwrap();
    s.fold_stream_once(Table::Stock, vec![b_fold(1..=3)]).await.unwrap();
    s.fold_stream_once(Table::Stock, vec![fold("MILK", &a, 1..=4, 0), b_fold(2..=3)]).await.unwrap();
    s.fold_stream_once(Table::Stock, vec![b_fold(3..=5), fold("MILK", &a, 4..=4, 0)]).await.unwrap();
    assert_eq!(on_hand(&s, "MILK").await, sum(1..=4) + 1000 * sum(1..=5));
    assert_eq!(checkpoints(&item(&s, "MILK").await).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_concurrent_applications_of_one_batch_count_once() {
    let (_moto, s) = start().await;
    let a = shard(1);
    let skus: Vec<String> = (0..12).map(|i| format!("SKU-{i:03}")).collect();
    let batch: Vec<StreamFold> = skus.iter().map(|sku| fold(sku, &a, 1..=5, 0)).collect();
    let (one, two) = tokio::join!(s.fold_stream_once(Table::Stock, batch.clone()), s.fold_stream_once(Table::Stock, batch.clone()));
    let (one, two) = (one.unwrap(), two.unwrap());
    assert_eq!(one.written + two.written, skus.len(), "each item written by one of them: {one:?} {two:?}");
    assert_eq!(one.contributions + two.contributions, 5 * skus.len());
    for sku in &skus {
        assert_eq!(on_hand(&s, sku).await, sum(1..=5), "{sku}");
    }
    // And once more, late, on top.
    assert_eq!(s.fold_stream_once(Table::Stock, batch).await.unwrap(), Folded::default());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_with_six_shards_checkpoints_stays_under_a_kilobyte() {
    let (_moto, s) = start().await;
    // The longest shard ids and sequence numbers DynamoDB documents: 65 characters, 40 digits.
    for n in 0..6u32 {
        let long = ShardId::parse(&format!("shardId-{:0>57}", n)).unwrap();
        assert_eq!(long.as_str().len(), 65);
        let mut f = fold("MILK", &long, [1], i64::from(n));
        f.contributions[0].sequence = SequenceNumber::parse(&("9".repeat(39) + &n.to_string())).unwrap();
        f.set_if_absent = vec![("name".to_owned(), "A commodity name of forty characters...".to_owned())];
        s.fold_stream_once(Table::Stock, vec![f]).await.unwrap();
    }
    let milk = item(&s, "MILK").await;
    assert_eq!(checkpoints(&milk).len(), 6);
    let size = item_size(&milk);
    assert!(size < 1024, "{size} bytes: {milk:?}");
    assert_eq!(on_hand(&s, "MILK").await, 6 * qty(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_48_hours_older_than_the_newest_record_is_removed() {
    let (_moto, s) = start().await;
    let (a, b, c) = (shard(1), shard(2), shard(3));
    s.fold_stream_once(Table::Stock, vec![fold("MILK", &a, [1], 0)]).await.unwrap();
    s.fold_stream_once(Table::Stock, vec![fold("MILK", &b, [1], 30)]).await.unwrap();
    assert_eq!(checkpoints(&item(&s, "MILK").await).len(), 2);
    // 49 hours after a's record: a's checkpoint goes, b's (19 hours before) stays.
    s.fold_stream_once(Table::Stock, vec![fold("MILK", &c, [1], 49)]).await.unwrap();
    let milk = item(&s, "MILK").await;
    assert_eq!(checkpoints(&milk), {
        let mut v = vec![format!("{CHECKPOINT_PREFIX}{b}"), format!("{CHECKPOINT_PREFIX}{c}")];
        v.sort();
        v
    });
    assert_eq!(on_hand(&s, "MILK").await, 3 * qty(1));
}
