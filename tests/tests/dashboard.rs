//! The dashboard in a real headless Chromium (Debian's `chromium`, which the test command
//! installs) against a spawned `retail-local`: signed in through the OpenID flow with PKCE, the
//! figures it renders equal to the report routes', a new sale shown within the refresh, a till's
//! token refused, and no console errors.

use chromiumoxide::cdp::js_protocol::runtime::{EventConsoleApiCalled, EventExceptionThrown};
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures_util::StreamExt;
use retail_tests::{Mode, SpawnedApi, answer, client};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHROMIUM: &str = "/usr/bin/chromium";

async fn browser() -> Browser {
    assert!(std::path::Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: `bash tests/run.sh` installs it (apt-get install chromium)");
    let profile = std::env::temp_dir().join(format!("retail-dashboard-{}-{:x}", std::process::id(), rand_suffix()));
    let config = BrowserConfig::builder()
        .chrome_executable(CHROMIUM)
        .no_sandbox()
        .user_data_dir(profile)
        .window_size(1280, 1400)
        // Without these Chromium reaches for Google's hosts, which this network refuses.
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-gpu"])
        .build()
        .expect("a browser configuration");
    let (browser, mut handler) = Browser::launch(config).await.expect("Chromium starts");
    tokio::spawn(async move { while handler.next().await.is_some() {} });
    browser
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0)
}

/// Console errors and uncaught exceptions of `page`, as they happen.
async fn console_errors(page: &Page) -> Arc<Mutex<Vec<String>>> {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let mut console = page.event_listener::<EventConsoleApiCalled>().await.expect("console events");
    let mut thrown = page.event_listener::<EventExceptionThrown>().await.expect("exception events");
    let (a, b) = (Arc::clone(&errors), Arc::clone(&errors));
    tokio::spawn(async move {
        while let Some(e) = console.next().await {
            if format!("{:?}", e.r#type).to_lowercase().contains("error") {
                a.lock().unwrap().push(format!("{:?}", e.args));
            }
        }
    });
    tokio::spawn(async move {
        while let Some(e) = thrown.next().await {
            b.lock().unwrap().push(format!("{:?}", e.exception_details));
        }
    });
    errors
}

async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    page.evaluate(js).await.unwrap_or_else(|e| panic!("{js}: {e}")).into_value().unwrap_or_else(|e| panic!("{js}: {e}"))
}

/// Waits until `js` is true on the page, or fails after `within`.
async fn until(page: &Page, js: &str, within: Duration) {
    let started = Instant::now();
    loop {
        if eval::<bool>(page, js).await {
            return;
        }
        assert!(started.elapsed() < within, "not within {within:?}: {js}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Opens the dashboard and signs in through retail-local's authorize page as `scope`.
async fn sign_in(page: &Page, api: &SpawnedApi, scope: &str, store: &str) {
    page.goto(api.url("/dashboard")).await.expect("the dashboard opens");
    until(page, "!document.querySelector('[data-testid=signed-out]').hidden", Duration::from_secs(10)).await;
    page.find_element("[data-testid=sign-in]").await.unwrap().click().await.unwrap();
    until(page, "location.pathname === '/oauth2/authorize' && !!document.getElementById('approve')", Duration::from_secs(10)).await;
    eval::<Value>(page, &format!("document.getElementById('scope').value = '{scope}'; document.getElementById('store_id').value = '{store}'; true")).await;
    page.find_element("#approve").await.unwrap().click().await.unwrap();
    until(page, "location.pathname === '/dashboard' && !location.search.includes('code=')", Duration::from_secs(10)).await;
}

fn figure(name: &str) -> String {
    format!("document.querySelector('[data-figure={name}]').textContent")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_office_watches_the_day_and_a_till_is_refused() {
    let api = SpawnedApi::spawn_seeded(Mode::Embedded);
    let c = client();
    let till = api.token("pos", Some("S001"));
    let sell = |key: String| {
        let c = c.clone();
        let url = api.url("/stores/S001/sales");
        let till = till.clone();
        async move {
            let body = json!({"terminalId": "T01", "lines": [{"sku": "MILK-1L", "quantity": 2}], "payments": [{"method": "cash", "amount": 100000}]});
            let a = answer(c.post(url).bearer_auth(&till).header("Idempotency-Key", key).json(&body).send().await.unwrap()).await;
            assert_eq!(a.status, 201, "{}", a.body);
            a.body
        }
    };
    for n in 0..3 {
        sell(format!("dash-{n}")).await;
    }
    let hq = api.token("headoffice", None);
    // The demo chain's stores keep Asia/Shanghai time (UTC+8, no daylight saving).
    let today = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).unwrap()).date_naive().to_string();
    let chain = answer(c.get(api.url(&format!("/reports/daily?date={today}"))).bearer_auth(&hq).send().await.unwrap()).await;
    assert_eq!(chain.status, 200, "{}", chain.body);

    let browser = browser().await;
    let page = browser.new_page("about:blank").await.unwrap();
    let errors = console_errors(&page).await;
    sign_in(&page, &api, "headoffice", "").await;
    let sales = chain.body["salesCount"].as_u64().unwrap();
    until(&page, &format!("{} === '{}'", figure("salesCount"), sales), Duration::from_secs(15)).await;
    let gross: String = eval(&page, &figure("grossAmount")).await;
    let want = format!("{:.2}", chain.body["grossAmount"].as_i64().unwrap() as f64 / 100.0);
    assert!(gross.ends_with(&want), "the page shows {gross}, the chain report {want}");
    let rows: u64 = eval(&page, "document.querySelectorAll('[data-testid=stores] tbody tr').length").await;
    assert_eq!(rows, chain.body["stores"].as_array().unwrap().len() as u64);

    // A new sale shows within the refresh (10 s).
    sell("dash-new".to_owned()).await;
    until(&page, &format!("{} === '{}'", figure("salesCount"), sales + 1), Duration::from_secs(15)).await;
    let as_of: String = eval(&page, "document.querySelector('[data-testid=as-of]').textContent").await;
    assert!(as_of.starts_with("as of "), "{as_of}");

    // A till's token is refused with a clear message.
    page.find_element("#sign-out").await.unwrap().click().await.unwrap();
    sign_in(&page, &api, "pos", "S001").await;
    until(&page, "document.querySelector('[data-testid=notice]').textContent.includes(\"a till's token cannot open it\")", Duration::from_secs(10)).await;
    assert!(eval::<bool>(&page, "document.querySelector('[data-testid=board]').hidden").await);

    let errors = errors.lock().unwrap().clone();
    assert!(errors.is_empty(), "console errors: {errors:?}");
}
