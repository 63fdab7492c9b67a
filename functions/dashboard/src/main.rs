//! The dashboard Lambda: its files compiled in, its configuration from the environment.

use retail_core::host::{lambda_main_without_store, run_lambda};

fn main() -> std::process::ExitCode {
    lambda_main_without_store(|| run_lambda(dashboard::Dashboard::new(&dashboard::DashboardConfig::from_env())))
}
