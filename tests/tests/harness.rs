//! The load harness at a small size, against `retail-local` on the embedded store and on moto:
//! the evening is played and the books balance.

use retail_tests::harness::{Evening, play};
use retail_tests::{LocalApi, Mode, workspace_root};

fn small(api: &LocalApi) -> Evening {
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
        run: 4242,
        progress: false,
    }
}

async fn a_small_evening_balances_the_books(mode: Mode) {
    let api = LocalApi::spawn_in(mode, &["--no-seed"]);
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
    assert_eq!(outcome.receipts as u64, checkout.statuses[&201] + 8 * 3, "the offline burst sold too");
    assert_eq!(outcome.routes["upload"].statuses.get(&200), Some(&8));
}

retail_tests::in_mode!(embedded, Embedded, a_small_evening_balances_the_books);
retail_tests::in_mode!(moto, Moto, a_small_evening_balances_the_books);

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
        run: 1,
        progress: false,
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
    assert!(refused(Evening { flash_shards: Some(0), ..good.clone() }).contains("flash shards"));
    assert!(refused(Evening { flash_shards: Some(33), ..good.clone() }).contains("flash shards"));
}
