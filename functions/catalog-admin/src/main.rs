//! The catalog-admin Lambda: its store built once from the environment, then invocations until shut down.

use retail_core::host::{HostedStore, lambda_main, run_lambda};

fn main() -> std::process::ExitCode {
    lambda_main(catalog_admin::TABLES, |store| async move {
        match store {
            HostedStore::Dynamo(store) => run_lambda(catalog_admin::CatalogAdmin::new(store)).await,
            HostedStore::Memory(store) => run_lambda(catalog_admin::CatalogAdmin::new(store)).await,
        }
    })
}
