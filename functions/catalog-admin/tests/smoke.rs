use catalog_admin::CatalogAdmin;
use retail_core::http::HttpFunction;
use retail_core::http::testing::{Event, parts};
use retail_core::store::memory::MemoryStore;
use serde_json::json;

#[tokio::test]
async fn a_store_is_created_then_replaced() {
    let f = CatalogAdmin::new(MemoryStore::new());
    let put = || Event::new("PUT", "/stores/{storeId}", "/stores/S001").claims("headoffice", None).json(&json!({"name": "Binjiang", "region": "EAST"}));
    let (status, body) = parts(f.call(put().request()).await);
    assert_eq!(status, 201, "{body}");
    assert_eq!(body, json!({"storeId": "S001", "name": "Binjiang", "region": "EAST", "timezone": "Asia/Shanghai"}));
    let (status, _) = parts(f.call(put().request()).await);
    assert_eq!(status, 200);
}
