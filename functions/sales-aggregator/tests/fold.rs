//! sales-aggregator against ARCHITECTURE.md "Sales to reports": DynamoDB stream batches of
//! committed sales (each sale's item as NewImage) fold into store-days so that every sale counts
//! exactly once, however often the stream delivers it.

use catalog_admin::CatalogAdmin;
use checkout::Checkout;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::domain::report::StoreDay;
use retail_core::domain::sale::SaleRecord;
use retail_core::domain::StoreId;
use retail_core::store::AggregateStore;
use retail_core::store::memory::MemoryStore;
use sales_aggregator::SalesAggregator;
use serde_json::{Value, json};
use retail_core::testing::{catalog::Shop, stream::*, till::*};
use std::sync::Arc;

/// A stocked till that has sold four baskets in S001 (one of them offline, at 23:30 UTC a day
/// before the last one: 07:30 on an earlier Shanghai business day) and one in S002.
async fn a_days_sales() -> (Till, Vec<Arc<SaleRecord>>) {
    let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
    let till = Till::stocked(shop, Checkout::new).await;
    till.sold("S001", "a", &basket("T01", json!([{"sku": "MILK", "quantity": 3}, {"barcode": cola_upc_a()}]), json!([cash(5000)]))).await;
    let weighed = json!([{"barcode": apple_label(600)}, {"sku": "APPLE", "weightGrams": 634}, {"barcode": cake_label(899)}]);
    till.sold("S001", "b", &basket("T01", weighed, json!([card(2871)]))).await;
    till.sold("S001", "c", &basket("T02", json!([{"sku": "COOKER"}]), json!([mobile(20_000), cash(10_000)]))).await;
    let mut late = basket("T02", json!([{"sku": "MILK"}]), json!([card(1299)]));
    late["occurredAt"] = json!(rfc(earlier_2330_utc()));
    till.sold("S001", "d", &late).await;
    till.sold("S002", "e", &basket("T01", json!([{"sku": "RICE", "weightGrams": 2500}]), json!([cash(1500)]))).await;
    let sales = till.recorded();
    assert_eq!(sales.len(), 5);
    (till, sales)
}

/// 23:30 UTC the day before the last one past: within 72 hours, and never on today's Shanghai day.
fn earlier_2330_utc() -> DateTime<Utc> {
    last_2330_utc() - Duration::days(1)
}

/// What the store-days should be: each sale folded once, by the domain's own fold.
fn expected(sales: &[Arc<SaleRecord>]) -> std::collections::BTreeMap<(StoreId, NaiveDate), StoreDay> {
    let mut days = std::collections::BTreeMap::new();
    for s in sales {
        days.entry((s.receipt.store_id.clone(), s.receipt.business_day)).or_insert_with(StoreDay::default).fold(s);
    }
    days
}

async fn assert_days(store: &MemoryStore, sales: &[Arc<SaleRecord>]) {
    for ((store_id, day), want) in expected(sales) {
        let got = store.store_day(&store_id, day.into()).await.unwrap();
        assert_eq!(got.as_ref(), Some(&want), "{store_id} {day}");
    }
}

#[tokio::test]
async fn a_batch_of_committed_sales_folds_each_into_its_store_day() {
    let (till, sales) = a_days_sales().await;
    let aggregator = SalesAggregator::new(till.shop.store.clone());
    let response = aggregator.fold(event(inserts(1, sales.iter().map(|s| &**s)))).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_days(&till.shop.store, &sales).await;

    // Spelled out for the first business day of S001: three sales, the receipts' sums.
    let first = &sales[0].receipt;
    let day = till.shop.store.store_day(&first.store_id, first.business_day.into()).await.unwrap().unwrap();
    let same_day: Vec<&SaleRecord> =
        sales.iter().map(|s| &**s).filter(|s| s.receipt.store_id == first.store_id && s.receipt.business_day == first.business_day).collect();
    assert_eq!(same_day.len(), 3);
    assert_eq!(day.sales_count, 3);
    assert_eq!(day.gross_amount.minor_units(), 3897 + 350 + 1972 + 899 + 29_900);
    assert_eq!(day.gross_amount.minor_units(), same_day.iter().map(|s| s.receipt.total.minor_units()).sum::<i64>());
    assert_eq!(day.tax_amount.minor_units(), same_day.iter().map(|s| s.receipt.tax_total.minor_units()).sum::<i64>());
    // Cash net of change: 50.00 − 7.53 and 100.00 − 1.00.
    assert_eq!((day.by_payment_method.cash.minor_units(), day.by_payment_method.card.minor_units(), day.by_payment_method.mobile.minor_units()), (4247 + 9900, 2871, 20_000));
    assert_eq!(day.items_sold, 3 + 1 + 1 + 1 + 1);
    // The 23:30 UTC sale is on the day after in Shanghai, at 07:00-08:00 local, alone.
    let late = &sales[3].receipt;
    assert_eq!(late.business_day, (earlier_2330_utc() + Duration::days(1)).date_naive());
    assert_ne!(late.business_day, first.business_day);
    let next = till.shop.store.store_day(&late.store_id, late.business_day.into()).await.unwrap().unwrap();
    assert_eq!((next.sales_count, next.by_hour[7].sales_count, next.gross_amount.minor_units()), (1, 1, 1299));
}

#[tokio::test]
async fn the_stream_image_is_dynamodb_json() {
    let (_, sales) = a_days_sales().await;
    let img = image(&sales[0]);
    assert_eq!(img["pk"], json!({"S": "S001"}));
    assert_eq!(img["sk"], json!({"S": sales[0].receipt.sale_id}));
    assert_eq!(img["total"], json!({"N": "4247"}));
    assert_eq!(img["currency"], json!({"S": "CNY"}));
}

#[tokio::test]
async fn replaying_a_batch_changes_nothing() {
    let (till, sales) = a_days_sales().await;
    let aggregator = SalesAggregator::new(till.shop.store.clone());
    let batch = inserts(1, sales.iter().map(|s| &**s));
    for _ in 0..3 {
        let response = aggregator.fold(event(batch.clone())).await.unwrap();
        assert!(response.batch_item_failures.is_empty());
        assert_days(&till.shop.store, &sales).await;
    }
    // Overlapping batches (a retry from the middle, then a wider one) count nothing twice.
    aggregator.fold(event(batch[2..].to_vec())).await.unwrap();
    aggregator.fold(event(batch[1..4].to_vec())).await.unwrap();
    assert_days(&till.shop.store, &sales).await;
}

#[tokio::test]
async fn sales_arriving_over_several_batches_add_up_once() {
    let (till, sales) = a_days_sales().await;
    let aggregator = SalesAggregator::new(till.shop.store.clone());
    let batch = inserts(1, sales.iter().map(|s| &**s));
    aggregator.fold(event(batch[..2].to_vec())).await.unwrap();
    assert_days(&till.shop.store, &sales[..2]).await;
    aggregator.fold(event(batch[..4].to_vec())).await.unwrap();
    aggregator.fold(event(batch[3..].to_vec())).await.unwrap();
    assert_days(&till.shop.store, &sales).await;
}

#[tokio::test]
async fn a_malformed_image_is_reported_by_its_sequence_number_and_the_good_sales_still_fold() {
    let (till, sales) = a_days_sales().await;
    let aggregator = SalesAggregator::new(till.shop.store.clone());
    let mut broken_total = image(&sales[1]);
    broken_total["total"] = json!({"S": "lots"});
    let mut no_receipt = image(&sales[2]);
    for member in ["lines", "payments", "receiptNo"] {
        no_receipt.as_object_mut().unwrap().remove(member);
    }
    let records = vec![
        insert(1, &sales[0]),
        record("INSERT", 2, broken_total),
        insert(3, &sales[3]),
        record("INSERT", 4, json!({"pk": {"S": "S001"}, "sk": {"S": "not-a-sale"}})),
        record("INSERT", 5, no_receipt),
        insert(6, &sales[4]),
    ];
    let response = aggregator.fold(event(records.clone())).await.unwrap();
    let failed: Vec<Option<String>> = response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, vec![Some(sequence(2)), Some(sequence(4)), Some(sequence(5))]);
    let good = [sales[0].clone(), sales[3].clone(), sales[4].clone()];
    assert_days(&till.shop.store, &good).await;
    // Lambda retries from the first failure: the good sales after it are not counted again.
    let response = aggregator.fold(event(records[1..].to_vec())).await.unwrap();
    assert_eq!(response.batch_item_failures.len(), 3);
    assert_days(&till.shop.store, &good).await;
    // The failures' response serializes as Lambda expects.
    let doc = serde_json::to_value(&response).unwrap();
    assert_eq!(doc["batchItemFailures"][0], json!({"itemIdentifier": sequence(2)}));
}

#[tokio::test]
async fn modify_and_remove_records_are_ignored() {
    let (till, sales) = a_days_sales().await;
    let aggregator = SalesAggregator::new(till.shop.store.clone());
    let records = vec![
        insert(1, &sales[0]),
        record("MODIFY", 2, image(&sales[1])),
        record("REMOVE", 3, image(&sales[0])),
        record("MODIFY", 4, json!({"pk": {"S": "S001"}, "sk": {"S": "garbage"}})),
    ];
    let response = aggregator.fold(event(records)).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_days(&till.shop.store, &sales[..1]).await;
    let first = &sales[0].receipt;
    let day = till.shop.store.store_day(&first.store_id, first.business_day.into()).await.unwrap().unwrap();
    assert_eq!((day.sales_count, day.gross_amount.minor_units()), (1, 4247));
}

#[tokio::test]
async fn an_empty_batch_folds_nothing() {
    let (till, sales) = a_days_sales().await;
    let aggregator = SalesAggregator::new(till.shop.store.clone());
    let response = aggregator.fold(event(Vec::<Value>::new())).await.unwrap();
    assert!(response.batch_item_failures.is_empty());
    let first = &sales[0].receipt;
    assert_eq!(till.shop.store.store_day(&first.store_id, first.business_day.into()).await.unwrap(), None);
}

/// Without the template's tumbling window the event names no shard, and sales cannot be folded
/// exactly once: the batch fails for good, naming the setting, and nothing is counted. A batch
/// with no sale in it (a window's last call) still passes, and the answer carries the window's
/// state, which a windowed invocation must.
#[tokio::test]
async fn a_batch_without_its_shard_fails_for_good_and_folds_nothing() {
    let (till, sales) = a_days_sales().await;
    let aggregator = SalesAggregator::new(till.shop.store.clone());
    let unwindowed: sales_aggregator::StreamBatch =
        serde_json::from_value(json!({"Records": inserts(1, sales.iter().map(|s| &**s))})).unwrap();
    let err = aggregator.fold(unwindowed).await.unwrap_err();
    assert!(err.is_permanent(), "{err}");
    assert!(err.to_string().contains("TumblingWindowInSeconds"), "{err}");
    let first = &sales[0].receipt;
    assert_eq!(till.shop.store.store_day(&first.store_id, first.business_day.into()).await.unwrap(), None);

    let last_call = aggregator.fold(event(vec![])).await.unwrap();
    let answer = serde_json::to_value(&last_call).unwrap();
    assert_eq!(answer, json!({"state": {}, "batchItemFailures": []}));
}
