//! The sales-report Lambda: its store built once from the environment, then invocations until shut down.

use retail_core::host::{HostedStore, lambda_main, run_lambda};

fn main() -> std::process::ExitCode {
    lambda_main(sales_report::TABLES, |store| async move {
        match store {
            HostedStore::Dynamo(store) => run_lambda(sales_report::SalesReport::new(store)).await,
            HostedStore::Memory(store) => run_lambda(sales_report::SalesReport::new(store)).await,
        }
    })
}
