//! The DynamoDB adapter when DynamoDB is not there: a missing table is named, and an endpoint
//! that never answers or refuses connections is a quick `Unavailable` (503), never a hang. And
//! when DynamoDB refuses for good (an item over 400 KB, a table that does not exist): a
//! `Permanent` failure with DynamoDB's own words, sent once.

use retail_core::domain::StoreId;
use retail_core::store::{StoreError, Stores};
use retail_core::store::dynamo::{DynamoStore, Tables, endpoint_config, timeout_config};
use std::time::{Duration, Instant};

#[tokio::test]
async fn a_missing_table_is_an_error_that_names_it() {
    let moto = retail_tests::moto::Moto::start();
    let store = DynamoStore::for_endpoint(&moto.endpoint, Tables::with_prefix("absent-"));
    let err = store.check_tables().await.expect_err("no table exists");
    let (logical, name) = store.tables().all().into_iter().next().expect("the template has tables");
    assert!(name.starts_with("absent-"));
    assert_eq!(err, format!("table {name} ({logical}) does not exist"));
}

/// What a function does with a lookup when DynamoDB cannot be reached, and how long it took.
async fn lookup_on(endpoint: &str) -> (Result<Option<retail_core::domain::Store>, StoreError>, Duration) {
    // The timeouts a deployed function uses (AWS, not the generous local ones).
    let config = endpoint_config(endpoint).timeout_config(timeout_config());
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::from_conf(config.build()), Tables::with_prefix("retail-"));
    let started = Instant::now();
    let answer = store.store(&StoreId::parse("S001").unwrap()).await;
    (answer, started.elapsed())
}

#[tokio::test]
async fn an_endpoint_that_never_answers_times_out_into_unavailable() {
    // Accepts connections and reads nothing: a request hangs until the client gives up.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let (answer, took) = lookup_on(&format!("http://{addr}")).await;
    held.abort();
    assert!(matches!(answer, Err(StoreError::Unavailable(_))), "{answer:?}");
    // The operation timeout is 3 s, whatever the retries were doing.
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

#[tokio::test]
async fn a_refused_connection_is_unavailable_at_once() {
    let port = retail_tests::free_port();
    let (answer, took) = lookup_on(&format!("http://127.0.0.1:{port}")).await;
    assert!(matches!(answer, Err(StoreError::Unavailable(_))), "{answer:?}");
    assert!(took < Duration::from_secs(6), "took {took:?}");
}

/// A store given only some tables (as a function is) refuses any call to the others before it is
/// sent: at once, as a permanent failure naming the variable, never a call to some other table.
#[tokio::test]
async fn a_call_to_a_table_the_store_was_not_given_is_refused_naming_its_variable() {
    use retail_core::domain::Barcode;
    use retail_core::store::SalesStore;
    use retail_core::store::dynamo::AGGREGATE_STORE_TABLES;
    // Accepts connections and reads nothing: only a request that is never sent comes back at once.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let tables = Tables::with_prefix("retail-").only(AGGREGATE_STORE_TABLES);
    assert_eq!(tables.name(retail_core::store::dynamo::Table::Sales), None);
    let store = DynamoStore::for_endpoint(&format!("http://{addr}"), tables);

    let started = Instant::now();
    let sale = SalesStore::sale(&store, &StoreId::parse("S001").unwrap(), &retail_core::domain::SaleId::generate()).await;
    assert!(matches!(&sale, Err(StoreError::Permanent { message, .. }) if message.contains("SALES_TABLE is not set")), "{sale:?}");
    // Through a batch read too.
    let skus = retail_core::store::LookupStore::skus_by_barcode(&store, &[Barcode::register("6901234567892").unwrap()]).await;
    assert!(matches!(&skus, Err(StoreError::Permanent { message, .. }) if message.contains("BARCODES_TABLE")), "{skus:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "refused without a round trip: {:?}", started.elapsed());
    held.abort();
}

/// Counts the requests a client sends (each attempt, the SDK's retries included).
#[derive(Debug, Clone, Default)]
struct Attempts(std::sync::Arc<std::sync::atomic::AtomicUsize>);

impl aws_sdk_dynamodb::config::Intercept for Attempts {
    fn name(&self) -> &'static str {
        "Attempts"
    }

    fn read_before_transmit(
        &self,
        _: &aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef<'_>,
        _: &aws_sdk_dynamodb::config::RuntimeComponents,
        _: &mut aws_sdk_dynamodb::config::ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(())
    }
}

impl Attempts {
    fn take(&self) -> usize {
        self.0.swap(0, std::sync::atomic::Ordering::Relaxed)
    }
}

/// A store named in 410,000 bytes: an item over DynamoDB's 400 KB (moto enforces it).
fn a_store_too_large_for_one_item() -> retail_core::domain::Store {
    let mut store = a_store("Central");
    store.name = "x".repeat(410_000);
    store
}

fn a_store(name: &str) -> retail_core::domain::Store {
    let region = retail_core::domain::RegionId::parse("EAST").unwrap();
    retail_core::domain::Store::new(StoreId::parse("S001").unwrap(), name, region, None).unwrap()
}

fn a_commodity_with_a_barcode() -> retail_core::domain::Commodity {
    let draft = retail_core::domain::catalog::CommodityDraft {
        name: "Milk 1l".into(),
        unit: retail_core::domain::Unit::Each,
        tax_rate_bp: 1300,
        barcodes: vec!["6901234567892".into()],
        category: None,
        stock_policy: retail_core::domain::StockPolicy::Track,
        allow_shared_barcodes: None,
        stock_shards: None,
    };
    retail_core::domain::Commodity::from_draft(retail_core::domain::Sku::parse("MILK").unwrap(), draft).unwrap()
}

#[tokio::test]
async fn an_item_over_the_size_limit_is_refused_for_good_and_sent_once() {
    use retail_core::store::CatalogStore;
    let moto = retail_tests::moto::Moto::start();
    let attempts = Attempts::default();
    let store = moto.store_with(endpoint_config(&moto.endpoint).interceptor(attempts.clone())).await;
    attempts.take();
    let answer = store.put_store(a_store_too_large_for_one_item()).await;
    let Err(StoreError::Permanent { operation, code, message }) = &answer else { panic!("{answer:?}") };
    assert_eq!((operation.as_str(), code.as_str()), ("PutItem", "ValidationException"));
    assert!(message.contains("Item size has exceeded the maximum allowed size"), "{message}");
    assert!(answer.as_ref().unwrap_err().is_permanent());
    // Not retried like a throttle: one request, and nothing written.
    assert_eq!(attempts.take(), 1);
    assert_eq!(store.store(&StoreId::parse("S001").unwrap()).await.unwrap(), None);
}

#[tokio::test]
async fn a_write_to_a_table_that_does_not_exist_is_refused_for_good() {
    use retail_core::store::CatalogStore;
    let moto = retail_tests::moto::Moto::start();
    let store = DynamoStore::for_endpoint(&moto.endpoint, Tables::with_prefix("absent-"));
    let answer = store.put_store(a_store("Central")).await;
    assert!(
        matches!(&answer, Err(StoreError::Permanent { operation, code, .. }) if operation == "PutItem" && code == "ResourceNotFoundException"),
        "{answer:?}"
    );
}

/// A transaction naming a table that does not exist: DynamoDB answers the exception, moto
/// cancels the transaction with it as the item's reason. Either way, no retry loop runs.
#[tokio::test]
async fn a_transaction_cancelled_for_good_leaves_the_retry_loop_at_once() {
    use retail_core::store::CatalogStore;
    use retail_core::store::dynamo::{Table, TableSet};
    let moto = retail_tests::moto::Moto::start();
    let made = moto.store().await;
    // Every table as made, but the barcodes one is not there.
    let tables = Tables::from_lookup(
        |var| {
            let table = Table::from_variable(var)?;
            if table == Table::Barcodes { Some("absent-barcodes".to_owned()) } else { made.tables().name(table).map(str::to_owned) }
        },
        TableSet::ALL,
    )
    .unwrap();
    let attempts = Attempts::default();
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::from_conf(endpoint_config(&moto.endpoint).interceptor(attempts.clone()).build()),
        tables,
    );
    let answer = store.put_commodity(a_commodity_with_a_barcode()).await;
    assert!(
        matches!(&answer, Err(retail_core::store::Failure::Store(e)) if e.is_permanent()),
        "{answer:?}"
    );
    // The commodity read, then the transaction once: no backoff and try again.
    assert_eq!(attempts.take(), 2);
}
