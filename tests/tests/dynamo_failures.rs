//! The DynamoDB adapter when DynamoDB is not there: a missing table is named, and an endpoint
//! that never answers or refuses connections is a quick `Unavailable` (503), never a hang.

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
/// sent: at once, as `Unavailable` naming the variable, never a call to some other table.
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
    assert!(matches!(&sale, Err(StoreError::Unavailable(why)) if why.contains("SALES_TABLE is not set")), "{sale:?}");
    // Through a batch read too.
    let skus = retail_core::store::LookupStore::skus_by_barcode(&store, &[Barcode::register("6901234567892").unwrap()]).await;
    assert!(matches!(&skus, Err(StoreError::Unavailable(why)) if why.contains("BARCODES_TABLE")), "{skus:?}");
    assert!(started.elapsed() < Duration::from_secs(1), "refused without a round trip: {:?}", started.elapsed());
    held.abort();
}
