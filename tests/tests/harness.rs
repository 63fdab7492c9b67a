//! The load harness at a small size, against `retail-local` on the embedded store and on moto:
//! the evening is played under its promotions, returns taken, and the books balance (every
//! receipt's discounts included); and under faults.

use retail_tests::harness::{Evening, Faults, Outcome, ReturnsTally, play};
use retail_tests::{Mode, SpawnedApi, workspace_root};

fn small(api: &SpawnedApi) -> Evening {
    Evening {
        api: api.base.clone(),
        template: workspace_root().join("template.yaml"),
        tills: 8,
        stores: 2,
        sales_per_till: 6,
        flash_units_per_store: 5,
        flash_share: 0.6,
        flash_shards: Some(2),
        offline_per_till: 3,
        returns_share: 0.4,
        // Started half an hour before the rush: after the offline sales (dated an hour back).
        spend_and_save_after: -1800,
        // The reference till sells 20 sales offline over 6 s starting 2 s into the evening: a
        // flash price starts 2 s in, a promotion ends 4 s in.
        offline_till_sales: 20,
        offline_till_after: 2,
        offline_till_for: 6,
        run: 4242,
        progress: false,
        faults: None,
    }
}

async fn a_small_evening_balances_the_books(mode: Mode) {
    let api = SpawnedApi::spawn_in(mode, &["--no-seed"]);
    let evening = small(&api);
    let outcome = play(&evening).await.expect("the evening is set up");
    outcome.print();
    assert!(outcome.failures.is_empty(), "{:#?}", outcome.failures);
    // About 29 baskets want the flash item, 5 in stock per store: it sells out, never over.
    assert!(outcome.flash_sold_out_everywhere);
    assert_eq!(outcome.flash_sold, 10);
    // Split over two items in each store, the flash stock's writes went round both.
    assert_eq!(outcome.flash_spread.len(), 2);
    for spread in &outcome.flash_spread {
        assert_eq!((spread.shards, spread.writes.len()), (2, 2), "{spread:?}");
        assert!(spread.busiest_share() <= spread.target(), "{spread:?}");
    }
    let checkout = &outcome.routes["checkout"];
    let resend = &outcome.routes["resend"];
    assert_eq!(checkout.count(), 48);
    assert_eq!(resend.statuses.get(&200), checkout.statuses.get(&201), "every sale replayed once");
    assert_eq!(checkout.statuses.get(&201).copied().unwrap_or(0) + checkout.statuses.get(&409).copied().unwrap_or(0), 48);
    let till = the_offline_till_sold_as_it_priced(&outcome);
    assert_eq!(outcome.receipts as u64, checkout.statuses[&201] + 8 * 3 + till, "the offline burst and the offline till sold too");
    assert_eq!(outcome.routes["upload"].statuses.get(&200), Some(&8));
    assert_eq!(outcome.routes["offline-till-upload"].statuses.get(&200), Some(&1), "20 sales, one batch");
    // The service desks took back part of the evening, every case coming up at least once; each
    // return was replayed once, each attempt at more than was left refused both times.
    let r = &outcome.returns;
    every_kind_of_return(r);
    let (ret, again) = (&outcome.routes["return"], &outcome.routes["re-return"]);
    assert_eq!(ret.statuses.get(&201).map(|n| *n as usize), Some(r.receipts), "{:?}", ret.statuses);
    assert_eq!(ret.statuses.get(&409).map(|n| *n as usize), Some(r.refused), "{:?}", ret.statuses);
    assert_eq!(again.statuses.get(&200).map(|n| *n as usize), Some(r.receipts), "{:?}", again.statuses);
    assert_eq!(again.statuses.get(&409).map(|n| *n as usize), Some(r.refused), "{:?}", again.statuses);
    assert_eq!(outcome.routes["returnable"].statuses.keys().collect::<Vec<_>>(), [&200]);
    every_promotion_took_something(&outcome);
}

/// Each of the evening's promotions took something off at least one receipt (the audit checked
/// every receipt's discounts against its own reading of the contract), and the spend-and-save
/// started within the evening: the receipts dated before it (the offline ones) did not get it.
fn every_promotion_took_something(outcome: &Outcome) {
    let p = &outcome.promotions;
    // The fourth is the offline till's: it ends while the till is offline.
    assert_eq!(p.iter().map(|p| p.kind).collect::<Vec<_>>(), ["multi_buy", "percent_off", "spend_and_save", "percent_off"], "{p:?}");
    for promotion in p {
        assert!(promotion.receipts > 0 && promotion.discount > 0, "{promotion:?}");
    }
    assert_eq!(p[0].in_window, outcome.receipts, "{p:?}");
    let spend = &p[2];
    assert!(spend.in_window < outcome.receipts, "every receipt was dated after the spend-and-save started: {spend:?}");
    assert!(spend.receipts < outcome.receipts, "{spend:?}");
}

/// The reference till synced its store's catalog (a snapshot, then deltas), sold its 20 sales
/// offline on both sides of the flash price's start and of the promotion's end, and every one
/// was recorded with exactly the total, tax and discount it worked out (the audit failed
/// otherwise); answers how many it sold.
fn the_offline_till_sold_as_it_priced(outcome: &Outcome) -> u64 {
    let t = outcome.offline_till.as_ref().expect("the offline till played");
    assert!(t.snapshot_pages >= 1 && t.delta_polls >= 2 && t.delta_changes > 0, "{t:?}");
    assert_eq!((t.rung, t.recorded, t.agreed), (20, 20, 20), "{t:?}");
    assert!(t.before_flash > 0 && t.after_flash > 0 && t.before_end > 0 && t.after_end > 0, "{t:?}");
    assert_eq!(t.before_flash + t.after_flash, 20, "{t:?}");
    t.recorded as u64
}

/// The small evening's returns cover every case: partial, lines in two returns, lines back
/// whole, attempts beyond what is left, another store taking goods back, every reason, refunds
/// and restock named as well as by default.
fn every_kind_of_return(r: &ReturnsTally) {
    assert!(r.sales >= 8, "{r:?}");
    assert!(r.receipts > r.sales, "{r:?}");
    assert!(r.refused > 0, "{r:?}");
    assert!(r.cross_store > 0, "{r:?}");
    assert!(r.explicit_refunds > 0 && r.explicit_refunds < r.receipts, "{r:?}");
    assert!(r.explicit_restock > 0 && r.explicit_restock < r.receipts, "{r:?}");
    assert!(r.lines_in_two_returns > 0, "{r:?}");
    assert!(r.lines_all_back > 0, "{r:?}");
    assert!(r.restocked_units > 0, "{r:?}");
    assert_eq!(r.by_reason.keys().map(String::as_str).collect::<Vec<_>>(), ["damaged", "expired", "unwanted", "wrong_item"], "{r:?}");
}

retail_tests::in_mode!(embedded, Embedded, a_small_evening_balances_the_books);
retail_tests::in_mode!(moto, Moto, a_small_evening_balances_the_books);

/// A drill: the small evening on DynamoDB with `rate` of the functions' DynamoDB calls hit by
/// `kind` (and with every kind at once for "all"). Tills retry with the same key; the books
/// must balance, every answered sale exist once, and the faults must really have happened.
async fn a_drill(mode: Mode, kinds: &[&str], rate: f64) {
    let api = SpawnedApi::spawn_with_faults(mode, &["--no-seed"]);
    let rates = kinds.iter().map(|k| ((*k).to_owned(), rate)).collect();
    let evening = Evening { faults: Some(Faults { control: api.fault_control().expect("a fault layer"), rates }), ..small(&api) };
    let outcome = play(&evening).await.expect("the evening is set up");
    outcome.print();
    assert!(outcome.failures.is_empty(), "{:#?}", outcome.failures);
    for kind in kinds {
        assert!(outcome.injected.get(*kind).is_some_and(|n| *n > 0), "no {kind} was injected: {:?}", outcome.injected);
    }
    assert!(outcome.flash_sold_out_everywhere);
    assert_eq!(outcome.flash_sold, 10);
    // Every first send ended in a receipt or a refusal for stock; each sale was replayed once.
    let resend = &outcome.routes["resend"];
    let till = the_offline_till_sold_as_it_priced(&outcome);
    assert_eq!(outcome.receipts as u64, resend.statuses.get(&200).copied().unwrap_or(0) + 8 * 3 + till, "{:?}", resend.statuses);
    // Returns were taken under the faults too (the audit checked none was doubled by a lost
    // answer: what is left of each sale, the stock restocked, the reports); each return that
    // was recorded was replayed once.
    every_kind_of_return(&outcome.returns);
    let again = &outcome.routes["re-return"];
    assert_eq!(again.statuses.get(&200).map(|n| *n as usize), Some(outcome.returns.receipts), "{:?}", again.statuses);
    every_promotion_took_something(&outcome);
}

async fn throttled(mode: Mode) {
    a_drill(mode, &["throttle"], 0.1).await
}
async fn delayed(mode: Mode) {
    a_drill(mode, &["delay"], 0.1).await
}
async fn failing_with_500s(mode: Mode) {
    a_drill(mode, &["error"], 0.1).await
}
async fn losing_answers_to_applied_writes(mode: Mode) {
    a_drill(mode, &["lost"], 0.1).await
}
async fn every_fault_at_once(mode: Mode) {
    a_drill(mode, &["throttle", "delay", "error", "lost"], 0.1).await
}

mod drill {
    use super::*;
    retail_tests::in_mode!(moto, Moto, throttled, delayed, failing_with_500s, losing_answers_to_applied_writes, every_fault_at_once);
    retail_tests::in_mode!(emulated, Emulated, every_fault_at_once);
}

#[test]
fn settings_that_make_no_evening_are_refused() {
    let good = Evening {
        api: "http://127.0.0.1:1".into(),
        template: workspace_root().join("template.yaml"),
        tills: 4,
        stores: 2,
        sales_per_till: 1,
        flash_units_per_store: 0,
        flash_share: 0.5,
        flash_shards: None,
        offline_per_till: 0,
        returns_share: 0.0,
        spend_and_save_after: 15,
        offline_till_sales: 0,
        offline_till_after: 0,
        offline_till_for: 0,
        run: 1,
        progress: false,
        faults: None,
    };
    assert_eq!(good.check(), Ok(()));
    let refused = |e: Evening| e.check().expect_err("refused");
    assert!(refused(Evening { tills: 0, ..good.clone() }).contains("tills"));
    assert!(refused(Evening { stores: 0, ..good.clone() }).contains("stores"));
    assert!(refused(Evening { stores: 5, ..good.clone() }).contains("stores"));
    assert!(refused(Evening { sales_per_till: 0, ..good.clone() }).contains("sales"));
    assert!(refused(Evening { flash_units_per_store: -1, ..good.clone() }).contains("flash units"));
    assert!(refused(Evening { flash_share: -0.1, ..good.clone() }).contains("flash share"));
    assert!(refused(Evening { flash_share: 1.5, ..good.clone() }).contains("flash share"));
    assert!(refused(Evening { offline_per_till: 101, ..good.clone() }).contains("offline"));
    assert!(refused(Evening { returns_share: -0.1, ..good.clone() }).contains("returns share"));
    assert!(refused(Evening { returns_share: 1.5, ..good.clone() }).contains("returns share"));
    assert!(refused(Evening { flash_shards: Some(0), ..good.clone() }).contains("flash shards"));
    let drill = |kind: &str, rate: f64| Some(Faults { control: String::new(), rates: [(kind.to_owned(), rate)].into() });
    assert!(refused(Evening { faults: drill("lost", -0.1), ..good.clone() }).contains("lost rate"));
    assert!(refused(Evening { faults: drill("throttle", 1.5), ..good.clone() }).contains("throttle rate"));
    assert!(refused(Evening { faults: drill("fire", 0.1), ..good.clone() }).contains("no fault"));
    let too_much = Some(Faults { control: String::new(), rates: [("lost".to_owned(), 0.6), ("error".to_owned(), 0.6)].into() });
    assert!(refused(Evening { faults: too_much, ..good.clone() }).contains("more than 1"));
    assert!(refused(Evening { flash_shards: Some(33), ..good.clone() }).contains("flash shards"));
    assert_eq!(Evening { spend_and_save_after: 10, ..good.clone() }.check(), Ok(()));
    assert_eq!(Evening { spend_and_save_after: 0, ..good.clone() }.check(), Ok(()));
    assert_eq!(Evening { spend_and_save_after: -3600, ..good.clone() }.check(), Ok(()));
    assert!(refused(Evening { spend_and_save_after: 9, ..good.clone() }).contains("at least 10 s"));
    assert!(refused(Evening { spend_and_save_after: 1, ..good.clone() }).contains("at least 10 s"));
    assert!(refused(Evening { spend_and_save_after: 7200, ..good.clone() }).contains("spend-and-save"));
    assert!(refused(Evening { spend_and_save_after: -90 * 86_400, ..good.clone() }).contains("spend-and-save"));
    let till = Evening { offline_till_sales: 20, offline_till_after: 2, offline_till_for: 6, ..good.clone() };
    assert_eq!(till.check(), Ok(()));
    assert!(refused(Evening { offline_till_sales: 2, ..till.clone() }).contains("offline till"));
    assert!(refused(Evening { offline_till_for: 2, ..till.clone() }).contains("offline till"));
    assert!(refused(Evening { offline_till_after: -1, ..till.clone() }).contains("offline till"));
    assert!(refused(Evening { offline_till_after: 7200, ..till.clone() }).contains("offline till"));
}
