//! The dashboard in a real headless Chromium (Debian's `chromium`, which the test command
//! installs) against a spawned `retail-local` in each of its modes: signed in through the OpenID
//! flow with PKCE, the figures it renders equal to the report routes', a new sale shown within
//! the refresh, a store manager's view of their store on a phone-sized screen, a till's token
//! refused, the first load's transfer, and no console errors.

use chromiumoxide::Page;
use chromiumoxide::cdp::browser_protocol::emulation::SetDeviceMetricsOverrideParams;
use chromiumoxide::cdp::browser_protocol::network::EventRequestWillBeSent;
use futures_util::StreamExt;
use retail_tests::browser::{Transferred, console_errors, eval, figure, launch, sign_in, table, transferred, until};
use retail_tests::seed::demo_day_sales;
use retail_tests::{Mode, SpawnedApi, answer, client};
use serde_json::{Value, json};
use std::time::Duration;

/// What the page may move on its first load, signed in and drawn (the acceptance).
const FIRST_LOAD_BYTES: u64 = 300 * 1024;

/// The business day today in the demo chain's stores (Asia/Shanghai: UTC+8, no daylight saving).
fn today() -> String {
    chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive().to_string()
}

async fn sell(api: &SpawnedApi, store: &str, key: &str, lines: Value) -> Value {
    let till = api.token("pos", Some(store));
    let body = json!({"terminalId": "T01", "lines": lines, "payments": [{"method": "cash", "amount": 10_000_000}]});
    let a = answer(client().post(api.url(&format!("/stores/{store}/sales"))).bearer_auth(&till).header("Idempotency-Key", key).json(&body).send().await.unwrap()).await;
    assert_eq!(a.status, 201, "{}", a.body);
    a.body
}

async fn read(api: &SpawnedApi, token: &str, path: &str) -> Value {
    let a = answer(client().get(api.url(path)).bearer_auth(token).send().await.unwrap()).await;
    assert_eq!(a.status, 200, "{path}: {}", a.body);
    a.body
}

/// The chain report for today once it counts `sales` sales (reports follow the sales stream).
async fn chain_once_it_counts(api: &SpawnedApi, sales: u64) -> Value {
    let hq = api.token("headoffice", None);
    for _ in 0..150 {
        let chain = read(api, &hq, &format!("/reports/daily?date={}", today())).await;
        if chain["salesCount"].as_u64() == Some(sales) {
            return chain;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the chain report never counted {sales} sales");
}

/// An amount as the page writes it in Chromium's en-US locale, without the currency sign.
fn money(minor: &Value) -> String {
    let minor = minor.as_i64().expect("an amount");
    let units = (minor.abs() / 100).to_string();
    let mut grouped = String::new();
    for (i, digit) in units.chars().enumerate() {
        if i > 0 && (units.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    format!("{}{grouped}.{:02}", if minor < 0 { "-" } else { "" }, minor.abs() % 100)
}

/// Head office signs in and sees exactly what the chain report says, then a new sale within
/// the refresh (and the stream's moment, in the DynamoDB modes). Returns what `bytes` had
/// counted when the first figures were drawn.
async fn head_office_sees_the_reports(page: &Page, api: &SpawnedApi, bytes: Option<&Transferred>) -> Option<(u64, u64)> {
    let milk = json!([{"sku": "MILK-1L", "quantity": 2}]);
    for n in 0..3 {
        sell(api, "S001", &format!("dash-{n}"), milk.clone()).await;
    }
    sell(api, "S002", "dash-s2", milk.clone()).await;
    let chain = chain_once_it_counts(api, 4).await;

    sign_in(page, api, "/dashboard", "headoffice", "").await;
    until(page, &format!("{} === '4'", figure("salesCount")), Duration::from_secs(15)).await;
    let first_load = bytes.map(|b| *b.lock().unwrap());
    let gross: String = eval(page, &figure("grossAmount")).await;
    assert!(gross.ends_with(&money(&chain["grossAmount"])), "the page shows {gross}, the chain report {}", chain["grossAmount"]);
    let net: String = eval(page, &figure("netAmount")).await;
    assert!(net.ends_with(&money(&chain["netAmount"])), "the page shows {net}, the chain report {}", chain["netAmount"]);
    // Every store, biggest first, with the chain report's figures.
    let rows = table(page, "stores").await;
    let stores = chain["stores"].as_array().unwrap();
    assert_eq!(rows.len(), stores.len(), "{rows:?}");
    let s001 = stores.iter().find(|s| s["storeId"] == "S001").unwrap();
    assert_eq!(rows[0][0], "S001", "{rows:?}");
    assert!(rows[0][1].ends_with(&money(&s001["grossAmount"])), "{rows:?} against {s001}");
    assert_eq!(rows[0][3], "3", "{rows:?}");

    sell(api, "S003", "dash-new", milk).await;
    until(page, &format!("{} === '5'", figure("salesCount")), Duration::from_secs(25)).await;
    let as_of: String = eval(page, "document.querySelector('[data-testid=as-of]').textContent").await;
    assert!(as_of.starts_with("as of "), "{as_of}");
    first_load
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_watches_the_day_and_a_till_is_refused() {
    let api = SpawnedApi::spawn_seeded(Mode::Embedded);
    let browser = launch(1280, 1400).await;
    let page = browser.new_page("about:blank").await.unwrap();
    let errors = console_errors(&page).await;
    let bytes = transferred(&page).await;
    let (moved, requests) = head_office_sees_the_reports(&page, &api, Some(&bytes)).await.unwrap();
    // The page's files, the sign-in round trip and the first reads, counted as they crossed
    // the wire; the script library alone is 51 KB, so a count below that measured nothing.
    println!("first load, signed in and drawn: {moved} bytes in {requests} requests");
    assert!(moved > 51_000 && moved < FIRST_LOAD_BYTES, "{moved} bytes in {requests} requests");

    // A till's token is refused with a clear message.
    page.find_element("#sign-out").await.unwrap().click().await.unwrap();
    sign_in(&page, &api, "/dashboard", "pos", "S001").await;
    until(&page, "document.querySelector('[data-testid=notice]').textContent.includes(\"a till's token cannot open it\")", Duration::from_secs(10)).await;
    assert!(eval::<bool>(&page, "document.querySelector('[data-testid=board]').hidden").await);

    let errors = errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// A store manager on a phone: their store only, its flash items sold and left, nothing wider
/// than the screen. Yesterday (the demo day) has the seed's 40 sales a store, so a watched sku
/// outside the store's top ten is counted from its commodity pages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_manager_sees_their_store_on_a_phone() {
    let api = SpawnedApi::spawn_seeded(Mode::Embedded);
    let manager = api.token("store", Some("S002"));
    let yesterday = (chrono::NaiveDate::parse_from_str(&today(), "%Y-%m-%d").unwrap() - chrono::Days::new(1)).to_string();
    // The seed's sales reach the reports through the stream once the server answers.
    let mut report = Value::Null;
    for _ in 0..100 {
        report = read(&api, &manager, &format!("/stores/S002/reports/daily?date={yesterday}")).await;
        if report["salesCount"].as_u64() == Some(demo_day_sales(Some("S002"))) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(report["salesCount"].as_u64(), Some(demo_day_sales(Some("S002"))), "{report}");
    let top: Vec<&str> = report["topCommodities"].as_array().unwrap().iter().map(|c| c["sku"].as_str().unwrap()).collect();
    let listed = read(&api, &manager, &format!("/stores/S002/reports/daily/commodities?date={yesterday}&limit=1000")).await;
    let outside = listed["items"].as_array().unwrap().iter().filter(|c| c["quantity"].as_i64().is_some_and(|q| q > 0)).find(|c| !top.contains(&c["sku"].as_str().unwrap())).expect("a sku sold outside the top ten").clone();
    let inside = report["topCommodities"].as_array().unwrap().iter().find(|c| c["quantity"].is_u64()).expect("a counted sku in the top ten");
    let watched = format!("{},{}", inside["sku"].as_str().unwrap(), outside["sku"].as_str().unwrap());
    let stock = |sku: &Value| {
        let path = format!("/stores/S002/stock/{}", sku.as_str().unwrap());
        let (api, manager) = (&api, &manager);
        async move { read(api, manager, &path).await["onHand"].as_i64().unwrap() }
    };
    let (inside_left, outside_left) = (stock(&inside["sku"]).await, stock(&outside["sku"]).await);

    let browser = launch(390, 844).await;
    let page = browser.new_page("about:blank").await.unwrap();
    page.execute(SetDeviceMetricsOverrideParams::builder().width(390).height(844).device_scale_factor(3.0).mobile(true).build().unwrap()).await.unwrap();
    let errors = console_errors(&page).await;
    sign_in(&page, &api, &format!("/dashboard#flash={watched}"), "store", "S002").await;
    until(&page, "document.querySelectorAll('[data-testid=stores] tbody tr').length === 1", Duration::from_secs(15)).await;
    assert_eq!(eval::<String>(&page, "document.querySelector('[data-testid=who]').textContent").await, "Store S002");
    eval::<Value>(&page, &format!("const d = document.getElementById('day'); d.value = '{yesterday}'; d.dispatchEvent(new Event('change')); true")).await;
    until(&page, &format!("{} === '{}'", figure("salesCount"), report["salesCount"]), Duration::from_secs(15)).await;
    let rows = table(&page, "stores").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0][0], "S002");
    assert!(rows[0][1].ends_with(&money(&report["grossAmount"])), "{rows:?} against {}", report["grossAmount"]);

    // Sold from the report (top ten, then the commodity pages), left from the stock route.
    until(&page, "document.querySelectorAll('[data-testid=flash] tbody tr').length === 2", Duration::from_secs(15)).await;
    let want = vec![
        vec!["S002".to_owned(), inside["sku"].as_str().unwrap().to_owned(), inside["quantity"].to_string(), inside_left.to_string()],
        vec!["S002".to_owned(), outside["sku"].as_str().unwrap().to_owned(), outside["quantity"].to_string(), outside_left.to_string()],
    ];
    let started = std::time::Instant::now();
    while table(&page, "flash").await != want && started.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(table(&page, "flash").await, want);
    // The top commodities are the store's own.
    let shown = table(&page, "top").await;
    assert_eq!(shown.iter().map(|r| r[0].as_str()).collect::<Vec<_>>(), top);

    // Nothing wider than the phone: no sideways scrolling, every chart within the screen.
    let fits: Value = eval(&page, "({ page: document.documentElement.scrollWidth, screen: innerWidth, charts: [...document.querySelectorAll('.chart canvas')].map((c) => c.getBoundingClientRect().right) })").await;
    let screen = fits["screen"].as_f64().unwrap();
    assert_eq!(screen, 390.0, "{fits}");
    assert!(fits["page"].as_f64().unwrap() <= screen, "{fits}");
    let charts = fits["charts"].as_array().unwrap();
    assert!(charts.len() >= 3 && charts.iter().all(|r| r.as_f64().unwrap() <= screen), "{fits}");

    let errors = errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

/// A chain of 63 stores: a refresh reads the chain report (the headline and every store's row)
/// and at most 48 of the stores' own reports, and the page says the rest are read in turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_chain_is_read_in_turns() {
    let api = SpawnedApi::spawn_seeded(Mode::Embedded);
    let hq = api.token("headoffice", None);
    for n in 0..60 {
        let body = json!({"name": format!("Branch {n}"), "region": "EAST", "timezone": "Asia/Shanghai"});
        let a = answer(client().put(api.url(&format!("/stores/B{n:03}"))).bearer_auth(&hq).json(&body).send().await.unwrap()).await;
        assert_eq!(a.status, 201, "{}", a.body);
    }
    sell(&api, "S001", "big-1", json!([{"sku": "MILK-1L"}])).await;
    let chain = chain_once_it_counts(&api, 1).await;
    assert_eq!(chain["stores"].as_array().unwrap().len(), 63);

    let browser = launch(1280, 1400).await;
    let page = browser.new_page("about:blank").await.unwrap();
    let requested = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let mut sent = page.event_listener::<EventRequestWillBeSent>().await.unwrap();
    let log = std::sync::Arc::clone(&requested);
    tokio::spawn(async move {
        while let Some(e) = sent.next().await {
            log.lock().unwrap().push(e.request.url.clone());
        }
    });
    sign_in(&page, &api, "/dashboard", "headoffice", "").await;
    until(&page, &format!("{} === '1' && !document.getElementById('coverage').hidden", figure("salesCount")), Duration::from_secs(15)).await;
    // The first refresh: one chain report, then 48 of the 63 stores' reports of the day.
    let urls = requested.lock().unwrap().clone();
    let chain_reads = urls.iter().filter(|u| u.contains("/reports/daily?")  && !u.contains("/stores/")).count();
    let store_reads = urls.iter().filter(|u| u.contains("/stores/")).count();
    assert_eq!((chain_reads, store_reads), (1, 48), "{urls:#?}");
    let coverage: String = eval(&page, "document.getElementById('coverage').textContent").await;
    assert!(coverage.contains("48 of 63 stores"), "{coverage}");
    assert_eq!(table(&page, "stores").await.len(), 63);
}

async fn on_dynamodb(mode: Mode) {
    let api = SpawnedApi::spawn_seeded(mode);
    let browser = launch(1280, 1400).await;
    let page = browser.new_page("about:blank").await.unwrap();
    let errors = console_errors(&page).await;
    head_office_sees_the_reports(&page, &api, None).await;
    let errors = errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_moto() {
    on_dynamodb(Mode::Moto).await;
}

/// The page itself served by the dashboard's binary under the Runtime Interface Emulator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_emulator() {
    on_dynamodb(Mode::Emulated).await;
}
