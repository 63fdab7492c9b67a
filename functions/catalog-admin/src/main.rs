use retail_core::store::memory::MemoryStore;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    retail_core::http::function::init_tracing();
    retail_core::http::run_lambda(catalog_admin::CatalogAdmin::new(MemoryStore::new())).await
}
