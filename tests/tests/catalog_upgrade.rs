//! Tables made before the tills' catalog sync: their tables lack its `catalog` indexes and their
//! commodities and price schedules carry no `catalog`. `retail-local` adds the indexes to the
//! tables it finds (as `sam deploy` does to a stack), and `retail-local backfill-catalog` puts
//! the old items in them, after which a till's snapshot walks every one. On moto.

use chrono::{Duration, Utc};
use retail_core::domain::catalog::CommodityDraft;
use retail_core::domain::catalog_feed::CatalogChange;
use retail_core::domain::price::{AdjustmentId, PriceScope};
use retail_core::domain::{BatchId, Commodity, Money, PriceAdjustment, RegionId, Sku, StockPolicy, Store, StoreId, Unit};
use retail_core::store::dynamo::{DynamoStore, TableSpec, Tables, endpoint_config};
use retail_core::store::{CatalogStore, PriceBatch, PriceBatchResult, PriceStore};
use retail_core::usecases::catalog_sync::catalog_page;
use retail_tests::{free_port, moto::Moto, retail_local_bin, workspace_root};

const SKUS: usize = 30;

fn sku(i: usize) -> Sku {
    Sku::parse(&format!("OLD{i:03}")).unwrap()
}

/// Commodities and price schedules a till's snapshot of `store` carries, page after page.
async fn snapshot(db: &DynamoStore, store: &Store) -> (usize, usize) {
    let (mut commodities, mut priced) = (0, 0);
    let mut cursor = None;
    loop {
        let page = catalog_page(db, store, cursor.take(), 7, Utc::now()).await.unwrap();
        for change in &page.changes {
            match change {
                CatalogChange::Commodity { commodity: Some(_), .. } => commodities += 1,
                CatalogChange::Prices { prices, .. } if !prices.is_empty() => priced += 1,
                _ => {}
            }
        }
        cursor = Some(page.cursor);
        if !page.more {
            return (commodities, priced);
        }
    }
}

/// Removes `catalog` from every item of `table`, as the release before wrote them.
async fn as_written_before(db: &DynamoStore, table: &str) {
    let items = db.client().scan().table_name(table).projection_expression("pk, sk").send().await.unwrap();
    for key in items.items.unwrap_or_default() {
        db.client()
            .update_item()
            .table_name(table)
            .set_key(Some(key))
            .update_expression("REMOVE #catalog")
            .expression_attribute_names("#catalog", "catalog")
            .send()
            .await
            .unwrap();
    }
}

/// `retail-local backfill-catalog` on the tables, its endpoint from the environment as in AWS.
fn backfill(moto: &Moto, tables: &Tables) -> String {
    let out = std::process::Command::new(retail_local_bin())
        .args(["backfill-catalog", "--commodities-table", &tables.commodities, "--prices-table", &tables.prices])
        .env("AWS_ENDPOINT_URL_DYNAMODB", &moto.endpoint)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "local")
        .env("AWS_SECRET_ACCESS_KEY", "local")
        .output()
        .expect("retail-local runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Tables named `prefix...` as the release before the catalog sync made them (no index, no
/// attribute but the keys), holding a store and [`SKUS`] commodities with a chain price each,
/// written as it wrote them (no `catalog`).
async fn tables_from_before(moto: &Moto, prefix: &str) -> (DynamoStore, Tables, Store) {
    let tables = Tables::with_prefix(prefix);
    let db = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(endpoint_config(&moto.endpoint).build()), tables.clone());
    let without_indexes: Vec<TableSpec> = template()
        .tables
        .into_iter()
        .map(|t| {
            let keys = [Some(&t.partition_key), t.sort_key.as_ref()];
            let attributes = t.attributes.iter().filter(|(a, _)| keys.contains(&Some(a))).cloned().collect();
            TableSpec { indexes: Vec::new(), attributes, ..t }
        })
        .collect();
    db.create_missing_tables(&without_indexes).await.unwrap();

    let store = Store::new(StoreId::parse("S001").unwrap(), "Shop", RegionId::parse("EAST").unwrap(), None).unwrap();
    db.put_store(store.clone()).await.unwrap();
    let now = Utc::now();
    let id = BatchId::parse("before").unwrap();
    let mut adjustments = Vec::new();
    for i in 0..SKUS {
        let draft = CommodityDraft {
            name: format!("Item {i}"),
            unit: Unit::Each,
            tax_rate_bp: 1300,
            barcodes: Vec::new(),
            category: None,
            stock_policy: StockPolicy::Track,
            allow_shared_barcodes: None,
            stock_shards: None,
        };
        db.put_commodity(Commodity::from_draft(sku(i), draft).unwrap()).await.unwrap();
        adjustments.push(PriceAdjustment {
            id: AdjustmentId { batch_id: id.clone(), index: i as u32 },
            sku: sku(i),
            scope: PriceScope::Chain,
            amount: Money::from_minor_units(100 + i as i64),
            valid_from: now - Duration::hours(1),
            valid_to: None,
            reason: None,
            applied_at: now,
        });
    }
    let result = PriceBatchResult { batch_id: id.clone(), accepted: SKUS as u32, rejected: Vec::new(), applied_at: now };
    db.apply_price_batch(PriceBatch { result, adjustments, fingerprint: id.to_string() }).await.unwrap();
    as_written_before(&db, &tables.commodities).await;
    as_written_before(&db, &tables.prices).await;
    (db, tables, store)
}

fn template() -> retail_local::template::Template {
    retail_local::template::Template::load(&workspace_root().join("template.yaml")).unwrap()
}

/// A deployed stack: `sam deploy` adds the indexes, then the operator runs the backfill.
#[test]
fn tables_from_before_the_catalog_sync_are_walked_once_indexed_and_backfilled() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let moto = Moto::start();
    rt.block_on(async {
        let (db, tables, store) = tables_from_before(&moto, "before-").await;
        let mut added = db.add_missing_indexes(&template().tables).await.unwrap();
        added.sort();
        let mut want = [format!("{}/catalog", tables.commodities), format!("{}/catalog", tables.prices)];
        want.sort();
        assert_eq!(added, want);
        assert_eq!(db.add_missing_indexes(&template().tables).await.unwrap(), Vec::<String>::new(), "added once");
        assert_eq!(snapshot(&db, &store).await, (0, 0), "the old items are not in the indexes yet");

        assert!(backfill(&moto, &tables).contains(&format!("put {SKUS} commodities and {SKUS} price schedules")));
        assert_eq!(snapshot(&db, &store).await, (SKUS, SKUS), "a till's snapshot walks every commodity and its prices");
        assert!(backfill(&moto, &tables).contains("put 0 commodities and 0 price schedules"), "nothing left to do");
    });
}

/// `retail-local` started on tables of the release before does both at start.
#[test]
fn retail_local_brings_the_tables_it_finds_up_to_the_catalog_sync() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let moto = Moto::start();
    rt.block_on(async {
        let (db, tables, store) = tables_from_before(&moto, "found-").await;
        let addr = format!("127.0.0.1:{}", free_port());
        let mut server = std::process::Command::new(retail_local_bin())
            .args(["serve", "--no-seed", "--addr", &addr, "--table-prefix", "found-", "--dynamodb-endpoint", &moto.endpoint])
            .arg("--template")
            .arg(workspace_root().join("template.yaml"))
            .env_remove("AWS_ENDPOINT_URL_DYNAMODB")
            .spawn()
            .expect("retail-local starts");
        let health = format!("http://{addr}/health");
        let started = std::time::Instant::now();
        let serving = loop {
            if reqwest::get(&health).await.is_ok_and(|r| r.status() == 200) {
                break true;
            }
            if started.elapsed() > std::time::Duration::from_secs(120) || server.try_wait().unwrap().is_some() {
                break false;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        };
        let _ = server.kill();
        let _ = server.wait();
        assert!(serving, "retail-local did not serve on the tables it found");
        assert_eq!(db.add_missing_indexes(&template().tables).await.unwrap(), Vec::<String>::new(), "retail-local added them");
        assert_eq!(snapshot(&db, &store).await, (SKUS, SKUS), "and put the old items in them");
        assert!(backfill(&moto, &tables).contains("put 0 commodities and 0 price schedules"));
    });
}
