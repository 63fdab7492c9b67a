//! commodity-lookup's till catalog sync against API.md ("Till catalog sync"): a cursor stays
//! valid at least 7 days; an older one is 410 `cursor_expired` as problem details, in the
//! contract's order (400, then 404, then 410). The server never gives an old cursor, so the tests
//! age one it gave (or make one) with the domain type.

use catalog_admin::CatalogAdmin;
use chrono::{DateTime, Duration, Utc};
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::domain::catalog_feed::{CatalogCursor, FeedPosition, Position};
use retail_core::domain::{RegionId, StoreId};
use retail_core::store::cache::StoreCache;
use retail_core::testing::{Answer, Event, catalog::*, request::HO};
use serde_json::json;
use std::sync::Arc;

/// `GET /stores/{store}/catalog?{query}`.
fn catalog_event(store: &str, query: &str) -> Event {
    let q = if query.is_empty() { String::new() } else { format!("?{query}") };
    Event::new("GET", "/stores/{storeId}/catalog", &format!("/stores/{store}/catalog{q}"))
}

/// S001 (EAST) and S002 (WEST), milk (priced chain-wide) and cola: two pages at `limit=1`.
async fn shop() -> Shop {
    let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
    shop.put_store("S001", "EAST").await;
    shop.put_store("S002", "WEST").await;
    shop.seed_commodity("MILK", &commodity("each", &[], "track")).await;
    shop.seed_commodity("COLA", &commodity("each", &[], "track")).await;
    shop.seed_prices("milk", json!([{"sku": "MILK", "scope": "chain", "amount": 1299, "validFrom": "2020-01-01T00:00:00Z"}])).await;
    shop
}

async fn sync(shop: &Shop, store: &str, query: &str) -> Answer {
    shop.lookup(catalog_event(store, query).claims(HO, None)).await
}

/// The cursor a page gave, read back.
fn cursor_of(answer: &Answer, store: &str) -> CatalogCursor {
    let raw = answer.ok(200)["cursor"].as_str().expect("a cursor");
    CatalogCursor::decode(raw, &StoreId::parse(store).expect("a store id")).expect("the API's own cursor")
}

/// `cursor`, as if it had been given at `issued`.
fn given_at(cursor: &CatalogCursor, issued: DateTime<Utc>) -> String {
    CatalogCursor { issued, ..cursor.clone() }.encode()
}

/// The last page of a snapshot of `store`: its cursor asks for the changes since.
async fn caught_up(shop: &Shop, store: &str) -> CatalogCursor {
    let mut query = String::new();
    loop {
        let a = sync(shop, store, &query).await;
        let cursor = cursor_of(&a, store);
        if a.body["more"] == json!(false) {
            return cursor;
        }
        query = format!("cursor={}", cursor.encode());
    }
}

#[tokio::test]
async fn a_cursor_older_than_7_days_is_gone_as_problem_details() {
    let shop = shop().await;
    let eight_days_ago = Utc::now() - Duration::days(8);
    // The brief's cursor, made whole with the domain type: a till's place in S001's changes.
    let made = CatalogCursor {
        store: StoreId::parse("S001").unwrap(),
        region: RegionId::parse("EAST").unwrap(),
        issued: eight_days_ago,
        position: Position::Changes { after: FeedPosition::before(eight_days_ago) },
    };
    // And cursors the route gave, aged: one in the middle of a snapshot, one caught up.
    let walking = cursor_of(&sync(&shop, "S001", "limit=1").await, "S001");
    assert!(matches!(walking.position, Position::Walk { .. }), "{walking:?}");
    let polling = caught_up(&shop, "S001").await;
    assert!(matches!(polling.position, Position::Changes { .. }), "{polling:?}");
    for (what, cursor) in [
        ("made", made.encode()),
        ("a snapshot's, aged", given_at(&walking, eight_days_ago)),
        ("a caught-up one, aged", given_at(&polling, eight_days_ago)),
        ("a minute past its 7 days", given_at(&polling, Utc::now() - Duration::days(7) - Duration::minutes(1))),
    ] {
        for (scope, store) in [(HO, None), ("pos", Some("S001")), ("store", Some("S001"))] {
            let a = shop.lookup(catalog_event("S001", &format!("cursor={cursor}")).claims(scope, store)).await;
            assert_eq!(a.status, 410, "{what} as {scope}: {}", a.body);
            let body = a.problem(410, "cursor_expired");
            assert_eq!(body["type"], "urn:retail:problem:cursor_expired", "{what}: {body}");
            assert!(body["detail"].as_str().unwrap().contains("start again without one"), "{what}: {body}");
        }
    }
    // Starting again without one works.
    assert_eq!(sync(&shop, "S001", "").await.ok(200)["storeId"], "S001");
}

#[tokio::test]
async fn a_cursor_stays_valid_for_7_days() {
    let shop = shop().await;
    let walking = cursor_of(&sync(&shop, "S001", "limit=1").await, "S001");
    let polling = caught_up(&shop, "S001").await;
    let almost = Utc::now() - Duration::days(7) + Duration::minutes(1);
    for cursor in [given_at(&walking, almost), given_at(&polling, almost)] {
        let a = sync(&shop, "S001", &format!("cursor={cursor}")).await;
        let body = a.ok(200);
        assert_eq!(body["storeId"], "S001", "{body}");
        // The next cursor is new: its 7 days start again.
        let next = cursor_of(&a, "S001");
        assert!(Utc::now() - next.issued < Duration::minutes(1), "{next:?}");
    }
}

#[tokio::test]
async fn an_expired_cursor_is_checked_after_the_query_and_the_store() {
    let shop = shop().await;
    let eight_days_ago = Utc::now() - Duration::days(8);
    let polling = caught_up(&shop, "S001").await;
    let expired = given_at(&polling, eight_days_ago);
    // 400 before 410: a bad limit beside it.
    for limit in ["0", "1001", "abc"] {
        sync(&shop, "S001", &format!("cursor={expired}&limit={limit}")).await.problem(400, "invalid_request");
    }
    // 400 before 410: another store's expired cursor.
    sync(&shop, "S002", &format!("cursor={expired}")).await.problem(400, "invalid_request");
    // 404 before 410: an expired cursor of a store that does not exist.
    let of_nowhere = CatalogCursor { store: StoreId::parse("S404").unwrap(), ..polling.clone() };
    sync(&shop, "S404", &format!("cursor={}", given_at(&of_nowhere, eight_days_ago))).await.problem(404, "not_found");
    // 403 before all of them.
    let a = shop.lookup(catalog_event("S001", &format!("cursor={expired}")).claims("pos", Some("S002"))).await;
    a.problem(403, "forbidden_store");
}

#[tokio::test]
async fn a_store_that_moved_region_still_refuses_an_expired_cursor() {
    let mut shop = shop().await;
    // A warm function remembers a store for a minute; this one forgets at once.
    shop.lookup = Arc::new(CommodityLookup::with_store_cache(shop.store.clone(), StoreCache::new(std::time::Duration::ZERO)));
    let polling = caught_up(&shop, "S001").await;
    shop.put_store("S001", "WEST").await;
    // A fresh cursor of the old region walks the catalog again; an expired one is still gone.
    let a = sync(&shop, "S001", &format!("cursor={}", polling.encode())).await;
    assert_eq!(a.ok(200)["changes"][0], json!({"kind": "store", "store": {"storeId": "S001", "name": "Shop", "region": "WEST", "timezone": "Asia/Shanghai"}}));
    let expired = given_at(&polling, Utc::now() - Duration::days(8));
    sync(&shop, "S001", &format!("cursor={expired}")).await.problem(410, "cursor_expired");
}
