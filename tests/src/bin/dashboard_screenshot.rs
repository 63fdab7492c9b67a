//! The README's picture of the dashboard: starts `retail-local` with the demo data (yesterday's
//! demo day), plays an evening of the load harness on it (today), signs head office in through
//! the OpenID flow in headless Chromium and saves the page once every store's figures are read.
//!
//!     cargo build --profile checked --workspace --bins
//!     target/checked/dashboard-screenshot --out tests/screenshots/dashboard.png
//!
//! Needs Debian's `chromium` (`bash tests/run.sh` installs it).

use chromiumoxide::page::ScreenshotParams;
use clap::Parser;
use retail_tests::browser::{eval, figure, launch, sign_in, until};
use retail_tests::harness::{Evening, play};
use retail_tests::{Mode, SpawnedApi, workspace_root};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Saves a screenshot of the dashboard after an evening's sales")]
struct Args {
    #[arg(long, default_value = "tests/screenshots/dashboard.png")]
    out: PathBuf,
    #[arg(long, default_value_t = 16)]
    tills: usize,
    #[arg(long, default_value_t = 4)]
    stores: usize,
    #[arg(long, default_value_t = 25)]
    sales_per_till: usize,
    /// The page's width in CSS pixels (its height is the whole page).
    #[arg(long, default_value_t = 1280)]
    width: u32,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let api = SpawnedApi::spawn_seeded(Mode::Embedded);
    let evening = Evening {
        api: api.base.clone(),
        template: workspace_root().join("template.yaml"),
        tills: args.tills,
        stores: args.stores,
        sales_per_till: args.sales_per_till,
        flash_units_per_store: 60,
        flash_share: 0.5,
        flash_shards: None,
        offline_per_till: 5,
        returns_share: 0.2,
        spend_and_save_after: -1800,
        offline_till_sales: 0,
        offline_till_after: 5,
        offline_till_for: 9,
        run: 1111,
        progress: false,
        faults: None,
    };
    let outcome = play(&evening).await.expect("the evening is set up");
    assert!(outcome.failures.is_empty(), "the evening's books do not balance: {:#?}", outcome.failures);
    eprintln!("played {} receipts in {} stores", outcome.receipts, args.stores);

    let browser = launch(args.width, 1000).await;
    let page = browser.new_page("about:blank").await.expect("a page");
    let watched = format!("/dashboard#flash=FLASH-001,{}", evening.flash_sku());
    sign_in(&page, &api, &watched, "headoffice", "").await;
    until(&page, &format!("{} !== '' && {} !== '0'", figure("salesCount"), figure("salesCount")), Duration::from_secs(30)).await;
    // Every store's own report and stock read, the charts drawn.
    until(&page, "document.getElementById('coverage').hidden && document.querySelectorAll('[data-testid=flash] tbody tr').length > 0", Duration::from_secs(60)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let height: f64 = eval(&page, "document.documentElement.scrollHeight").await;
    eprintln!("the page is {} x {height} CSS pixels", args.width);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).expect("the screenshot's folder");
    }
    page.save_screenshot(ScreenshotParams::builder().full_page(true).build(), &args.out).await.expect("a screenshot");
    eprintln!("saved {}", args.out.display());
}
