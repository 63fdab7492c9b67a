//! The Double 11 evening against a running API, then an audit of the books from the API alone,
//! every receipt's discounts worked out again from the promotions the evening set up.
//!
//!     cargo run --release --bin retail-local -- --no-seed &
//!     cargo run --release --bin load-harness -- --tills 64 --stores 4 --flash-units 250
//!
//! Prints throughput, p50/p99/max latency per route and the status mix, then the audit; exits 1
//! when the books do not balance (the first discrepancy names the sale, sku and store), 2 when
//! the settings make no evening or the run cannot be set up.

use clap::Parser;
use retail_tests::harness::{Evening, play};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(about = "Plays a Double 11 evening against a running API and audits the books")]
struct Args {
    /// The API's base URL.
    #[arg(long, default_value = "http://127.0.0.1:3000")]
    api: String,
    /// The SAM template the API serves (its authorizer and development key sign the tokens).
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    #[arg(long, default_value_t = 64)]
    tills: usize,
    #[arg(long, default_value_t = 4)]
    stores: usize,
    /// Checkouts each till rings up; each is sent twice, as if its first answer was lost.
    #[arg(long, default_value_t = 40)]
    sales_per_till: usize,
    /// Units of the strict flash-sale item in each store.
    #[arg(long, default_value_t = 250)]
    flash_units: i64,
    /// Share of baskets that want the flash-sale item (0 to 1).
    #[arg(long, default_value_t = 0.5, allow_negative_numbers = true)]
    flash_share: f64,
    /// How many items each store's flash stock is split over (1 to 32) [default: automatic].
    #[arg(long)]
    flash_shards: Option<u16>,
    /// Sales each till uploads in the offline burst at the end (0 to 100).
    #[arg(long, default_value_t = 5)]
    offline_per_till: usize,
    /// Share of the online sales customers bring back during the offline burst (0 to 1).
    #[arg(long, default_value_t = 0.2, allow_negative_numbers = true)]
    returns_share: f64,
    /// When the chain-wide spend-and-save starts, in seconds after set-up (at least 10: a
    /// promotion reaches every checkout within 10 s of being stored); 0 or less: that long
    /// before set-up ended. The multi-buy on the flash item and the 5 % off the run's dairy run
    /// from 2 hours before set-up to 2 hours after.
    #[arg(long, value_name = "SECONDS", default_value_t = 15, allow_negative_numbers = true)]
    spend_and_save_after: i64,
    /// Sales the reference offline till rings up while offline (0: no offline till). It syncs
    /// the first store's catalog at set-up, polls the deltas, goes offline, prices its sales
    /// from its copy (a flash price starts and a promotion ends meanwhile) and uploads them when
    /// back; the audit checks the server recorded exactly the totals it worked out.
    #[arg(long, default_value_t = 20)]
    offline_till_sales: usize,
    /// When the offline till goes offline, in seconds after set-up.
    #[arg(long, value_name = "SECONDS", default_value_t = 5)]
    offline_till_after: i64,
    /// How long the offline till stays offline, in seconds (at least 3).
    #[arg(long, value_name = "SECONDS", default_value_t = 9)]
    offline_till_for: i64,
    /// Names this run's stores and commodities [default: from the clock].
    #[arg(long)]
    run: Option<u32>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let run = args.run.unwrap_or_else(|| {
        (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0) % 100_000) as u32
    });
    let evening = Evening {
        api: args.api,
        template: args.template,
        tills: args.tills,
        stores: args.stores,
        sales_per_till: args.sales_per_till,
        flash_units_per_store: args.flash_units,
        flash_share: args.flash_share,
        flash_shards: args.flash_shards,
        offline_per_till: args.offline_per_till,
        returns_share: args.returns_share,
        spend_and_save_after: args.spend_and_save_after,
        offline_till_sales: args.offline_till_sales,
        offline_till_after: args.offline_till_after,
        offline_till_for: args.offline_till_for,
        run,
        progress: true,
        faults: None,
    };
    if let Err(e) = evening.check() {
        eprintln!("load-harness: {e}");
        return ExitCode::from(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("a tokio runtime");
    match runtime.block_on(play(&evening)) {
        Ok(outcome) => {
            println!("run {run}: {} tills in {} stores, {} sales each", evening.tills, evening.stores, evening.sales_per_till);
            outcome.print();
            if outcome.failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE }
        }
        Err(e) => {
            eprintln!("load-harness: {e}");
            ExitCode::from(2)
        }
    }
}
