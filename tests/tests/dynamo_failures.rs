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
