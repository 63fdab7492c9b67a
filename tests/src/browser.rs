//! Debian's Chromium, headless, driven over the DevTools protocol (`chromiumoxide`): what the
//! dashboard's test and its screenshot script share. `tests/run.sh` installs the browser.

use chromiumoxide::cdp::browser_protocol::network::EventLoadingFinished;
use chromiumoxide::cdp::js_protocol::runtime::{EventConsoleApiCalled, EventExceptionThrown};
use chromiumoxide::handler::viewport::Viewport;
use chromiumoxide::{Browser, BrowserConfig, Page};
use futures_util::StreamExt;
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::SpawnedApi;

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// A headless Chromium with a profile of its own, its pages `width` × `height` CSS pixels.
pub async fn launch(width: u32, height: u32) -> Browser {
    assert!(std::path::Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: `bash tests/run.sh` installs it (apt-get install chromium)");
    static PROFILES: AtomicU64 = AtomicU64::new(0);
    let profile = std::env::temp_dir().join(format!("retail-chromium-{}-{}", std::process::id(), PROFILES.fetch_add(1, Ordering::Relaxed)));
    let config = BrowserConfig::builder()
        .chrome_executable(CHROMIUM)
        .no_sandbox()
        .user_data_dir(profile)
        .window_size(width, height)
        .viewport(Viewport { width, height, device_scale_factor: Some(1.0), emulating_mobile: false, is_landscape: true, has_touch: false })
        // Without these Chromium reaches for Google's hosts, which this network refuses.
        .args(["--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-gpu"])
        .build()
        .expect("a browser configuration");
    let (browser, mut handler) = Browser::launch(config).await.expect("Chromium starts");
    tokio::spawn(async move { while handler.next().await.is_some() {} });
    browser
}

/// Console errors and uncaught exceptions of `page`, as they happen.
pub async fn console_errors(page: &Page) -> Arc<Mutex<Vec<String>>> {
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

/// Bytes received and requests finished, as counted by [`transferred`].
pub type Transferred = Arc<Mutex<(u64, u64)>>;

/// Bytes `page` has received over the network from now on (headers and bodies as sent, what
/// DevTools calls a request's encoded data length), with the number of requests.
pub async fn transferred(page: &Page) -> Transferred {
    let total = Arc::new(Mutex::new((0, 0)));
    let mut finished = page.event_listener::<EventLoadingFinished>().await.expect("network events");
    let sum = Arc::clone(&total);
    tokio::spawn(async move {
        while let Some(e) = finished.next().await {
            let mut t = sum.lock().unwrap();
            t.0 += e.encoded_data_length.max(0.0) as u64;
            t.1 += 1;
        }
    });
    total
}

pub async fn eval<T: serde::de::DeserializeOwned>(page: &Page, js: &str) -> T {
    page.evaluate(js).await.unwrap_or_else(|e| panic!("{js}: {e}")).into_value().unwrap_or_else(|e| panic!("{js}: {e}"))
}

/// Waits until `js` is true on the page, or fails after `within`.
pub async fn until(page: &Page, js: &str, within: Duration) {
    let started = Instant::now();
    loop {
        if eval::<bool>(page, js).await {
            return;
        }
        assert!(started.elapsed() < within, "not within {within:?}: {js}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Opens the dashboard at `path` (`/dashboard`, maybe with a `#flash=` fragment) and signs in
/// through retail-local's authorize page as `scope` of `store` ("" for none).
pub async fn sign_in(page: &Page, api: &SpawnedApi, path: &str, scope: &str, store: &str) {
    page.goto(api.url(path)).await.expect("the dashboard opens");
    until(page, "!document.querySelector('[data-testid=signed-out]').hidden", Duration::from_secs(10)).await;
    page.find_element("[data-testid=sign-in]").await.unwrap().click().await.unwrap();
    until(page, "location.pathname === '/oauth2/authorize' && !!document.getElementById('approve')", Duration::from_secs(10)).await;
    eval::<Value>(page, &format!("document.getElementById('scope').value = '{scope}'; document.getElementById('store_id').value = '{store}'; true")).await;
    page.find_element("#approve").await.unwrap().click().await.unwrap();
    until(page, "location.pathname === '/dashboard' && !location.search.includes('code=')", Duration::from_secs(10)).await;
}

/// The text of the dashboard's figure `name` (`salesCount`, `grossAmount`, ...).
pub fn figure(name: &str) -> String {
    format!("document.querySelector('[data-figure={name}]').textContent")
}

/// The cells of the dashboard's table `testid`, row by row.
pub async fn table(page: &Page, testid: &str) -> Vec<Vec<String>> {
    eval(page, &format!("[...document.querySelectorAll('[data-testid={testid}] tbody tr')].map((tr) => [...tr.cells].map((td) => td.textContent))")).await
}
