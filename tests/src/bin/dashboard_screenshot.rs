//! The README's picture of the dashboard: starts `retail-local` with the demo data, signs head
//! office in through the OpenID flow in headless Chromium, opens the demo day (yesterday: the
//! seed's 40 sales a store) and saves the page once every store's figures are read.
//!
//!     cargo build --profile checked --workspace --bins
//!     target/checked/dashboard-screenshot --out tests/screenshots/dashboard.png
//!
//! Needs Debian's `chromium` (`bash tests/run.sh` installs it).

use chromiumoxide::page::ScreenshotParams;
use clap::Parser;
use retail_tests::browser::{eval, figure, launch, sign_in, until};
use retail_tests::seed::demo_day_sales;
use retail_tests::{Mode, SpawnedApi};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Parser)]
#[command(about = "Saves a screenshot of the dashboard on the demo day")]
struct Args {
    #[arg(long, default_value = "tests/screenshots/dashboard.png")]
    out: PathBuf,
    /// The page's width in CSS pixels (its height is the whole page).
    #[arg(long, default_value_t = 1280)]
    width: u32,
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let api = SpawnedApi::spawn_seeded(Mode::Embedded);
    // The demo day: yesterday in the demo chain's stores (Asia/Shanghai, UTC+8 all year).
    let shanghai = chrono::FixedOffset::east_opt(8 * 3600).expect("an offset");
    let demo_day = chrono::Utc::now().with_timezone(&shanghai).date_naive() - chrono::Days::new(1);

    let browser = launch(args.width, 1000).await;
    let page = browser.new_page("about:blank").await.expect("a page");
    sign_in(&page, &api, "/dashboard#flash=FLASH-001,MILK-1L", "headoffice", "").await;
    until(&page, "!document.getElementById('board').hidden", Duration::from_secs(30)).await;
    eval::<serde_json::Value>(&page, &format!("const d = document.getElementById('day'); d.value = '{demo_day}'; d.dispatchEvent(new Event('change')); true")).await;
    // Every store's own report and stock read for that day, the charts drawn.
    until(&page, &format!("{} === '{}' && document.getElementById('coverage').hidden && document.querySelectorAll('[data-testid=flash] tbody tr').length === 6", figure("salesCount"), demo_day_sales(None)), Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let height: f64 = eval(&page, "document.documentElement.scrollHeight").await;
    eprintln!("the page is {} x {height} CSS pixels", args.width);
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir).expect("the screenshot's folder");
    }
    page.save_screenshot(ScreenshotParams::builder().full_page(true).build(), &args.out).await.expect("a screenshot");
    eprintln!("saved {}", args.out.display());
}
