//! The Double 11 evening, played against a running API: tills scanning, looking up and checking
//! out in several stores at once, a `strict` flash-sale item that sells out, every checkout sent
//! a second time as if its answer was lost, and a burst of offline uploads at the end. Then the
//! books are audited from the API alone.
//!
//! The harness sets up its own stores, commodities, prices and stock (named after its run id),
//! so it can play against a seeded or a long-running API without touching anyone's data.

use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::{Answer, answer};

/// What to play. [`Evening::check`] refuses settings that make no evening.
#[derive(Debug, Clone)]
pub struct Evening {
    /// The API's base URL (`http://127.0.0.1:3000`).
    pub api: String,
    /// The template the API serves: its JWT authorizer and development key sign the tokens.
    pub template: PathBuf,
    pub tills: usize,
    pub stores: usize,
    /// Checkouts each till rings up (each sent twice).
    pub sales_per_till: usize,
    /// Units of the flash-sale item in stock in each store.
    pub flash_units_per_store: i64,
    /// Share of baskets that want the flash-sale item, 0 to 1.
    pub flash_share: f64,
    /// How many items each store's flash stock is split over; None for the automatic choice.
    pub flash_shards: Option<u16>,
    /// Sales each till uploads in the offline burst at the end (0 to 100).
    pub offline_per_till: usize,
    /// Names this run's stores and commodities; also seeds the tills' choices.
    pub run: u32,
    /// Print a progress line on standard error while playing.
    pub progress: bool,
    /// A fault drill: the fault layer to switch on for the play phase (off again for the audit).
    pub faults: Option<Faults>,
}

/// The fault layer's control URL and the rates to play under, each 0 to 1 (see
/// tests/tools/fault_proxy.py): `throttle`, `delay`, `error`, `lost`.
#[derive(Debug, Clone)]
pub struct Faults {
    pub control: String,
    pub rates: BTreeMap<String, f64>,
}

/// How long a till keeps retrying a sale that is answered "try again": an idempotency claim
/// stranded by an attempt that failed after its claim landed lapses after 30 s, and under heavy
/// faults on moto one attempt can take seconds, so well beyond that.
const TILL_PATIENCE: Duration = Duration::from_secs(120);

/// The track-policy commodities each store sells besides the flash item.
const CATALOG: usize = 24;
/// Tracked stock per commodity per store: plenty, so only the flash item runs out.
const TRACKED_STOCK: i64 = 1_000_000;
/// How long reports may trail the last sale (the stream draining).
const REPORT_CATCH_UP: Duration = Duration::from_secs(60);

impl Evening {
    pub fn check(&self) -> Result<(), String> {
        if self.tills == 0 {
            return Err("tills must be at least 1".into());
        }
        if self.stores == 0 || self.stores > self.tills {
            return Err(format!("stores must be between 1 and the number of tills ({})", self.tills));
        }
        if self.stores > 99 {
            return Err("stores must be at most 99".into());
        }
        if self.sales_per_till == 0 {
            return Err("sales per till must be at least 1".into());
        }
        if self.flash_units_per_store < 0 || self.flash_units_per_store > 1_000_000 {
            return Err("flash units per store must be between 0 and 1,000,000".into());
        }
        if !(0.0..=1.0).contains(&self.flash_share) {
            return Err("the flash share must be between 0 and 1".into());
        }
        if self.flash_shards.is_some_and(|k| !(1..=retail_core::domain::stock::MAX_STOCK_SHARDS).contains(&k)) {
            return Err(format!("flash shards must be between 1 and {}", retail_core::domain::stock::MAX_STOCK_SHARDS));
        }
        if let Some(f) = &self.faults {
            for (kind, rate) in &f.rates {
                if !["throttle", "delay", "error", "lost"].contains(&kind.as_str()) {
                    return Err(format!("no fault {kind:?}: throttle, delay, error or lost"));
                }
                if !(0.0..=1.0).contains(rate) {
                    return Err(format!("the {kind} rate must be between 0 and 1"));
                }
            }
            if f.rates.values().sum::<f64>() > 1.0 {
                return Err("the fault rates add up to more than 1".into());
            }
        }
        if self.offline_per_till > 100 {
            return Err("offline sales per till must be between 0 and 100 (one batch upload)".into());
        }
        Ok(())
    }

    fn store_id(&self, i: usize) -> String {
        format!("H{:05}-{i:02}", self.run % 100_000)
    }

    fn sku(&self, j: usize) -> String {
        format!("H{:05}-C{j:02}", self.run % 100_000)
    }

    fn flash_sku(&self) -> String {
        format!("H{:05}-FLASH", self.run % 100_000)
    }

    /// An EAN-13 of prefix 29 (an ordinary code) unique to this run and commodity.
    fn barcode(&self, j: usize) -> String {
        let body = format!("29{:05}{j:05}", self.run % 100_000);
        format!("{body}{}", retail_core::domain::barcode::gs1_check_digit(body.as_bytes()))
    }
}

/// Latencies and statuses of one route.
pub struct RouteStats {
    latency_us: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
}

impl RouteStats {
    fn new() -> Self {
        RouteStats { latency_us: Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds"), statuses: BTreeMap::new() }
    }

    fn record(&mut self, took: Duration, status: u16) {
        let _ = self.latency_us.record((took.as_micros() as u64).max(1));
        *self.statuses.entry(status).or_default() += 1;
    }

    fn merge(&mut self, other: &RouteStats) {
        let _ = self.latency_us.add(&other.latency_us);
        for (s, n) in &other.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.latency_us.len()
    }

    pub fn p50(&self) -> Duration {
        Duration::from_micros(self.latency_us.value_at_quantile(0.5))
    }

    pub fn p99(&self) -> Duration {
        Duration::from_micros(self.latency_us.value_at_quantile(0.99))
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.latency_us.max())
    }
}

/// A receipt the API answered 201 for, and where it came from.
#[derive(Clone)]
struct Sold {
    store: String,
    key: String,
    receipt: Value,
}

/// What one till saw.
#[derive(Default)]
struct TillLog {
    routes: BTreeMap<&'static str, RouteStats>,
    sold: Vec<Sold>,
    problems: Vec<String>,
}

impl TillLog {
    fn record(&mut self, route: &'static str, took: Duration, status: u16) {
        self.routes.entry(route).or_insert_with(RouteStats::new).record(took, status);
    }
}

/// What the evening measured and what the audit found.
pub struct Outcome {
    pub routes: BTreeMap<&'static str, RouteStats>,
    /// First sends of checkouts per second of the play phase (resends not counted).
    pub checkouts_per_second: f64,
    pub play: Duration,
    pub receipts: usize,
    pub flash_sold: i64,
    pub flash_sold_out_everywhere: bool,
    /// Per store, how the flash item's stock writes spread over its items.
    pub flash_spread: Vec<Spread>,
    /// Every discrepancy the audit found, the first first; empty when the books balance.
    pub failures: Vec<String>,
    /// In a drill, how many faults of each kind the fault layer injected.
    pub injected: BTreeMap<String, u64>,
}

/// One store's flash stock, item by item: the writes each item took (the receipt and sales).
#[derive(Debug, Clone)]
pub struct Spread {
    pub store: String,
    /// The split in force.
    pub shards: u16,
    pub writes: Vec<u64>,
}

impl Spread {
    /// The busiest item's share of the writes (0 when there were none).
    pub fn busiest_share(&self) -> f64 {
        let total: u64 = self.writes.iter().sum();
        if total == 0 { 0.0 } else { *self.writes.iter().max().unwrap_or(&0) as f64 / total as f64 }
    }

    /// The target: the busiest of K items takes at most 1.5 / K of the writes.
    pub fn target(&self) -> f64 {
        1.5 / f64::from(self.shards.max(1))
    }
}

impl Outcome {
    pub fn print(&self) {
        println!(
            "played {:.1} s: {} receipts, {:.0} checkouts/s; flash item: {} sold, sold out in every store: {}",
            self.play.as_secs_f64(),
            self.receipts,
            self.checkouts_per_second,
            self.flash_sold,
            self.flash_sold_out_everywhere
        );
        for s in &self.flash_spread {
            println!(
                "flash stock in {}: {} items, writes {:?}, busiest {:.1} % (target <= {:.1} %: {})",
                s.store,
                s.shards,
                s.writes,
                100.0 * s.busiest_share(),
                100.0 * s.target(),
                if s.busiest_share() <= s.target() { "met" } else { "NOT met" }
            );
        }
        println!("{:<10} {:>8} {:>10} {:>10} {:>10}  statuses", "route", "requests", "p50 ms", "p99 ms", "max ms");
        for (name, r) in &self.routes {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let statuses: Vec<String> = r.statuses.iter().map(|(s, n)| format!("{s}:{n}")).collect();
            println!("{name:<10} {:>8} {:>10.2} {:>10.2} {:>10.2}  {}", r.count(), ms(r.p50()), ms(r.p99()), ms(r.max()), statuses.join(" "));
        }
        if !self.injected.is_empty() {
            println!("faults injected: {:?}", self.injected);
        }
        if self.failures.is_empty() {
            println!("audit: the books balance");
        } else {
            println!("audit: {} discrepancies; the first: {}", self.failures.len(), self.failures[0]);
            for f in self.failures.iter().skip(1).take(9) {
                println!("  also: {f}");
            }
        }
    }
}

/// A small deterministic generator (splitmix64): each till's choices follow from the run id.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
}

struct Tokens {
    sign: Box<dyn Fn(&[&str], Option<&str>) -> String + Send + Sync>,
}

impl Tokens {
    fn load(template: &std::path::Path) -> Result<Tokens, String> {
        use retail_local::authorizer::{DevKey, TokenRequest, key_path_for};
        let config = retail_local::template::Template::load(template)
            .map_err(|e| e.to_string())?
            .token_authorizer
            .ok_or_else(|| format!("{} declares no JWT authorizer", template.display()))?;
        let key = DevKey::load_or_create(&key_path_for(template)).map_err(|e| e.to_string())?;
        Ok(Tokens {
            sign: Box::new(move |scopes, store| {
                let mut request = TokenRequest::new(scopes, store);
                request.ttl = Duration::from_secs(6 * 3600);
                key.sign(&request.claims(&config))
            }),
        })
    }

    fn token(&self, scope: &str, store: Option<&str>) -> String {
        (self.sign)(&[scope], store)
    }
}

struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// Sends as a till does: an answer that says "try again" (503, or 409 `in_progress` while
    /// its own earlier attempt is being recorded) or no answer at all is retried, the same
    /// request with the same key, after an exponential backoff with full jitter, for up to
    /// `TILL_PATIENCE`. Every attempt is recorded under `route`; the last answer is returned.
    async fn send_as_till(
        &self,
        log: &mut TillLog,
        route: &'static str,
        dice: &mut Dice,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, String> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let outcome = self.send(request()).await;
            let again = match &outcome {
                Ok((a, took)) => {
                    log.record(route, *took, a.status);
                    a.status == 503 || (a.status == 409 && a.body["code"] == "in_progress")
                }
                Err(_) => true,
            };
            if !again || started.elapsed() > TILL_PATIENCE {
                return outcome.map(|(a, _)| a);
            }
            let cap = 20u64 << attempt.min(6);
            tokio::time::sleep(Duration::from_millis(1 + dice.below(cap as usize) as u64)).await;
            attempt += 1;
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Result<(Answer, Duration), String> {
        let started = Instant::now();
        let response = request.send().await.map_err(|e| format!("no answer: {e}"))?;
        let a = answer(response).await;
        Ok((a, started.elapsed()))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

/// Plays the evening and audits it. `Err` only when the evening could not be set up.
pub async fn play(evening: &Evening) -> Result<Outcome, String> {
    evening.check()?;
    let tokens = Arc::new(Tokens::load(&evening.template)?);
    let api = Arc::new(Api {
        base: evening.api.trim_end_matches('/').to_owned(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(evening.tills + 8)
            .build()
            .map_err(|e| e.to_string())?,
    });
    set_up(evening, &api, &tokens).await?;
    if let Some(f) = &evening.faults {
        switch_faults(&api, &f.control, &json!(f.rates)).await?;
    }

    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let ticker = evening.progress.then(|| {
        let (done, total) = (Arc::clone(&done), (evening.tills * evening.sales_per_till) as u64);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let n = done.load(Ordering::Relaxed);
                eprint!("\r{:>5.1} s  checkouts {n}/{total}  {:.0}/s   ", started.elapsed().as_secs_f64(), n as f64 / started.elapsed().as_secs_f64());
            }
        })
    });
    let mut tills = tokio::task::JoinSet::new();
    for t in 0..evening.tills {
        let (evening, api, tokens, done) = (evening.clone(), Arc::clone(&api), Arc::clone(&tokens), Arc::clone(&done));
        tills.spawn(async move { till(&evening, t, &api, &tokens, &done).await });
    }
    let mut logs = Vec::new();
    while let Some(log) = tills.join_next().await {
        logs.push(log.map_err(|e| format!("a till crashed: {e}"))?);
    }
    let rush = started.elapsed();

    // The offline burst: every till comes back online at once with its batch.
    let mut uploads = tokio::task::JoinSet::new();
    for t in 0..evening.tills {
        let (evening, api, tokens) = (evening.clone(), Arc::clone(&api), Arc::clone(&tokens));
        uploads.spawn(async move { upload(&evening, t, &api, &tokens).await });
    }
    while let Some(log) = uploads.join_next().await {
        logs.push(log.map_err(|e| format!("a till crashed: {e}"))?);
    }
    let play = started.elapsed();
    let mut injected = BTreeMap::new();
    if let Some(f) = &evening.faults {
        let off = json!({"throttle": 0, "delay": 0, "error": 0, "lost": 0});
        let state = switch_faults(&api, &f.control, &off).await?;
        if let Some(counts) = state["injected"].as_object() {
            injected = counts.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect();
        }
    }
    if let Some(t) = ticker {
        t.abort();
        eprintln!();
    }

    let mut routes: BTreeMap<&'static str, RouteStats> = BTreeMap::new();
    let mut sold = Vec::new();
    let mut failures = Vec::new();
    for log in logs {
        for (name, r) in &log.routes {
            routes.entry(*name).or_insert_with(RouteStats::new).merge(r);
        }
        sold.extend(log.sold);
        failures.extend(log.problems);
    }
    let checkouts = routes.get("checkout").map_or(0, RouteStats::count);
    let mut outcome = Outcome {
        checkouts_per_second: checkouts as f64 / rush.as_secs_f64(),
        routes,
        play,
        receipts: sold.len(),
        flash_sold: 0,
        flash_sold_out_everywhere: false,
        flash_spread: Vec::new(),
        failures,
        injected,
    };
    // A 500 is a bug. A 503 says "a dependency is down, retry": right in a drill, wrong otherwise.
    for (name, r) in &outcome.routes {
        let wrong = |s: u16| s >= 500 && (s != 503 || evening.faults.is_none());
        if let Some((status, _)) = r.statuses.iter().find(|(s, _)| wrong(**s)) {
            outcome.failures.insert(0, format!("{name} answered {status}"));
        }
    }
    audit(evening, &api, &tokens, &sold, &mut outcome).await;
    Ok(outcome)
}

/// Head office sets up the run's stores, catalog, prices and stock through the API.
async fn set_up(evening: &Evening, api: &Api, tokens: &Tokens) -> Result<(), String> {
    let ho = tokens.token("headoffice", None);
    let expect = |what: String, a: Answer, ok: &[u16]| {
        if ok.contains(&a.status) { Ok(()) } else { Err(format!("setting up, {what} answered {}: {}", a.status, a.body)) }
    };
    for i in 0..evening.stores {
        let id = evening.store_id(i);
        let (a, _) = api.send(api.http.put(api.url(&format!("/stores/{id}"))).bearer_auth(&ho).json(&json!({"name": format!("Harness {i}"), "region": if i % 2 == 0 { "EAST" } else { "WEST" }}))).await?;
        expect(format!("PUT /stores/{id}"), a, &[200, 201])?;
    }
    let mut lines = Vec::new();
    for j in 0..CATALOG {
        let sku = evening.sku(j);
        let body = json!({"name": format!("Harness item {j}"), "unit": "each", "taxRateBp": if j % 3 == 0 { 900 } else { 1300 }, "barcodes": [evening.barcode(j)], "stockPolicy": "track"});
        let (a, _) = api.send(api.http.put(api.url(&format!("/commodities/{sku}"))).bearer_auth(&ho).json(&body)).await?;
        expect(format!("PUT /commodities/{sku}"), a, &[200, 201])?;
        lines.push(json!({"sku": sku, "scope": "chain", "amount": 150 + 37 * j as i64, "validFrom": "2020-01-01T00:00:00Z"}));
    }
    let flash = evening.flash_sku();
    let body = json!({"name": "Harness flash item", "unit": "each", "taxRateBp": 1300, "barcodes": [evening.barcode(99_999)], "stockPolicy": "strict", "stockShards": evening.flash_shards});
    let (a, _) = api.send(api.http.put(api.url(&format!("/commodities/{flash}"))).bearer_auth(&ho).json(&body)).await?;
    expect(format!("PUT /commodities/{flash}"), a, &[200, 201])?;
    lines.push(json!({"sku": flash, "scope": "chain", "amount": 9_900, "validFrom": "2020-01-01T00:00:00Z"}));
    let batch = json!({"batchId": format!("harness-{}", evening.run), "adjustments": lines});
    let (a, _) = api.send(api.http.post(api.url("/price-adjustments")).bearer_auth(&ho).json(&batch)).await?;
    expect("the price batch".into(), a, &[200, 201])?;
    for i in 0..evening.stores {
        let id = evening.store_id(i);
        let manager = tokens.token("store", Some(&id));
        let mut movements: Vec<Value> = (0..CATALOG).map(|j| json!({"sku": evening.sku(j), "delta": TRACKED_STOCK, "reason": "receipt"})).collect();
        if evening.flash_units_per_store > 0 {
            movements.push(json!({"sku": flash, "delta": evening.flash_units_per_store, "reason": "receipt"}));
        }
        let (a, _) = api.send(api.http.post(api.url(&format!("/stores/{id}/stock-movements"))).bearer_auth(&manager).json(&json!({"movements": movements}))).await?;
        expect(format!("stock for {id}"), a, &[200])?;
    }
    Ok(())
}

/// A basket: a few tracked items, and the flash item for some. Paid in cash, generously (the
/// till does not know prices; the change comes back).
fn basket(evening: &Evening, dice: &mut Dice, terminal: &str, occurred_at: Option<String>) -> Value {
    let mut lines: Vec<Value> = (0..1 + dice.below(4)).map(|_| json!({"sku": evening.sku(dice.below(CATALOG)), "quantity": 1 + dice.below(3)})).collect();
    if dice.chance(evening.flash_share) {
        lines.push(json!({"sku": evening.flash_sku(), "quantity": 1}));
    }
    let mut sale = json!({"terminalId": terminal, "lines": lines, "payments": [{"method": "cash", "amount": 200_000}]});
    if let Some(at) = occurred_at {
        sale["occurredAt"] = json!(at);
    }
    sale
}

async fn till(evening: &Evening, t: usize, api: &Api, tokens: &Tokens, done: &AtomicU64) -> TillLog {
    let store = evening.store_id(t % evening.stores);
    let terminal = format!("T{t:03}");
    let token = tokens.token("pos", Some(&store));
    let mut dice = Dice(u64::from(evening.run) << 20 | t as u64);
    let mut log = TillLog::default();
    for n in 0..evening.sales_per_till {
        // A scan, and now and then a batch lookup of the shelf.
        let code = evening.barcode(dice.below(CATALOG));
        match api.send(api.http.get(api.url(&format!("/stores/{store}/barcodes/{code}"))).bearer_auth(&token)).await {
            Ok((a, took)) => log.record("scan", took, a.status),
            Err(e) => log.problems.push(format!("till {terminal}: a scan got {e}")),
        }
        if n % 5 == 0 {
            let skus: Vec<String> = (0..10).map(|_| evening.sku(dice.below(CATALOG))).chain([evening.flash_sku()]).collect();
            let request = api.http.post(api.url(&format!("/stores/{store}/commodities/lookup"))).bearer_auth(&token).json(&json!({"skus": skus}));
            match api.send(request).await {
                Ok((a, took)) => log.record("lookup", took, a.status),
                Err(e) => log.problems.push(format!("till {terminal}: a lookup got {e}")),
            }
        }

        let key = format!("h{}-{t}-{n}", evening.run);
        let sale = basket(evening, &mut dice, &terminal, None);
        let send = || api.http.post(api.url(&format!("/stores/{store}/sales"))).bearer_auth(&token).header("Idempotency-Key", &key).json(&sale);
        let first = api.send_as_till(&mut log, "checkout", &mut dice, send).await;
        done.fetch_add(1, Ordering::Relaxed);
        // The answer is "lost": the till sends the same sale with the same key again.
        let again = api.send_as_till(&mut log, "resend", &mut dice, send).await;
        let replayed = |a: &Answer| a.status == 200 && a.headers.get("idempotent-replayed").is_some_and(|v| v == "true");
        match (&first, &again) {
            (Ok(a), Ok(b)) => match (a.status, b.status) {
                // Recorded now, or (after a retry whose first attempt was recorded but not
                // answered) replayed already: either way the resend replays the same receipt.
                (201 | 200, 200) if (a.status == 201 || replayed(a)) && replayed(b) && a.body == b.body => {
                    log.sold.push(Sold { store: store.clone(), key: key.clone(), receipt: a.body.clone() })
                }
                (201 | 200, _) => log.problems.push(format!(
                    "store {store}, key {key}: the resend of sale {} answered {} {} instead of replaying it",
                    a.body["saleId"], b.status, b.body
                )),
                (409, 409) if a.body["code"] == "out_of_stock" && b.body["code"] == "out_of_stock" => {}
                _ => log.problems.push(format!("store {store}, key {key}: a checkout answered {} {} then {} {}", a.status, a.body, b.status, b.body)),
            },
            (Err(e), _) | (_, Err(e)) => log.problems.push(format!("store {store}, key {key}: {e}")),
        }
    }
    log
}

/// The till's offline batch: sales rung up an hour ago, without the flash item.
async fn upload(evening: &Evening, t: usize, api: &Api, tokens: &Tokens) -> TillLog {
    let mut log = TillLog::default();
    if evening.offline_per_till == 0 {
        return log;
    }
    let store = evening.store_id(t % evening.stores);
    let terminal = format!("T{t:03}");
    let token = tokens.token("pos", Some(&store));
    let mut dice = Dice(u64::from(evening.run) << 20 | (1 << 19) | t as u64);
    let at = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let offline = Evening { flash_share: 0.0, ..evening.clone() };
    let sales: Vec<Value> = (0..evening.offline_per_till)
        .map(|n| {
            let mut sale = basket(&offline, &mut dice, &terminal, Some(at.clone()));
            sale["idempotencyKey"] = json!(format!("h{}-{t}-off{n}", evening.run));
            sale
        })
        .collect();
    // Entries answered "try again" (503, or 409 in_progress) go up again in the next upload,
    // with their keys, until every one has its answer.
    let mut pending = sales;
    let started = Instant::now();
    let mut round = 0u32;
    while !pending.is_empty() {
        let request = || api.http.post(api.url(&format!("/stores/{store}/sales/batch"))).bearer_auth(&token).json(&json!({"sales": pending}));
        let answer = match api.send_as_till(&mut log, "upload", &mut dice, request).await {
            Ok(a) => a,
            Err(e) => {
                log.problems.push(format!("store {store}: an offline upload got {e}"));
                break;
            }
        };
        let results = answer.body["results"].as_array().cloned().unwrap_or_default();
        if answer.status != 200 || results.len() != pending.len() {
            log.problems.push(format!("store {store}: an offline upload answered {} {}", answer.status, answer.body));
            break;
        }
        let mut again = Vec::new();
        for (sale, r) in pending.iter().zip(results) {
            let retry = r["status"] == 503 || (r["status"] == 409 && r["problem"]["code"] == "in_progress");
            match r["status"].as_u64() {
                // 200: an earlier upload recorded it and its answer was lost.
                Some(201 | 200) => log.sold.push(Sold {
                    store: store.clone(),
                    key: r["idempotencyKey"].as_str().unwrap_or_default().to_owned(),
                    receipt: r["receipt"].clone(),
                }),
                _ if retry && started.elapsed() < TILL_PATIENCE => again.push(sale.clone()),
                _ => log.problems.push(format!("store {store}: offline sale {} answered {}", r["idempotencyKey"], r)),
            }
        }
        pending = again;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(1 + dice.below(20usize << round.min(6)) as u64)).await;
            round += 1;
        }
    }
    log
}

/// Sets the fault layer's rates; answers its state (rates, and faults injected so far).
async fn switch_faults(api: &Api, control: &str, rates: &Value) -> Result<Value, String> {
    let response = api.http.post(control).json(rates).send().await.map_err(|e| format!("the fault layer at {control}: {e}"))?;
    response.json().await.map_err(|e| format!("the fault layer at {control}: {e}"))
}

/// The books, from the API alone.
async fn audit(evening: &Evening, api: &Api, tokens: &Tokens, sold: &[Sold], outcome: &mut Outcome) {
    let mut failures = Vec::new();
    // No sale twice: one receipt per key, sale ids and receipt numbers unique.
    let mut keys = HashSet::new();
    let mut sale_ids = HashSet::new();
    let mut receipt_nos = HashSet::new();
    for s in sold {
        if !keys.insert((&s.store, &s.key)) {
            failures.push(format!("store {}, key {}: two receipts", s.store, s.key));
        }
        if !sale_ids.insert(s.receipt["saleId"].to_string()) {
            failures.push(format!("store {}: sale {} recorded twice", s.store, s.receipt["saleId"]));
        }
        if !receipt_nos.insert((&s.store, s.receipt["receiptNo"].to_string())) {
            failures.push(format!("store {}: receipt number {} given twice", s.store, s.receipt["receiptNo"]));
        }
    }

    // Every receipt reads back identical.
    let mut reads = tokio::task::JoinSet::new();
    let managers: HashMap<String, String> =
        (0..evening.stores).map(|i| evening.store_id(i)).map(|id| (id.clone(), tokens.token("store", Some(&id)))).collect();
    let managers = Arc::new(managers);
    for chunk in sold.chunks(sold.len().div_ceil(16).max(1)) {
        let (chunk, base, http, managers) = (chunk.to_vec(), api.base.clone(), api.http.clone(), Arc::clone(&managers));
        reads.spawn(async move {
            let mut found = Vec::new();
            for s in chunk {
                let url = format!("{base}/stores/{}/sales/{}", s.store, s.receipt["saleId"].as_str().unwrap_or_default());
                match http.get(url).bearer_auth(&managers[&s.store]).send().await {
                    Ok(r) => {
                        let a = answer(r).await;
                        if a.status != 200 || a.body != s.receipt {
                            found.push(format!("store {}: sale {} reads back as {} {}", s.store, s.receipt["saleId"], a.status, a.body));
                        }
                    }
                    Err(e) => found.push(format!("store {}: sale {} cannot be read: {e}", s.store, s.receipt["saleId"])),
                }
            }
            found
        });
    }
    while let Some(found) = reads.join_next().await {
        failures.extend(found.unwrap_or_else(|e| vec![format!("a receipt reader crashed: {e}")]));
    }

    // Units sold equal stock taken, and strict stock never went below zero.
    let mut units: HashMap<(&str, String), i64> = HashMap::new();
    for s in sold {
        for line in s.receipt["lines"].as_array().into_iter().flatten() {
            *units.entry((s.store.as_str(), line["sku"].as_str().unwrap_or_default().to_owned())).or_default() += line["quantity"].as_i64().unwrap_or(0);
        }
    }
    let mut flash_sold = 0;
    let mut sold_out_everywhere = true;
    for i in 0..evening.stores {
        let store = evening.store_id(i);
        let skus: Vec<String> = (0..CATALOG).map(|j| evening.sku(j)).chain([evening.flash_sku()]).collect();
        let request = api.http.post(api.url(&format!("/stores/{store}/commodities/lookup"))).bearer_auth(&managers[&store]).json(&json!({"skus": skus}));
        let items = match api.send(request).await {
            Ok((a, _)) if a.status == 200 => a.body["items"].as_array().cloned().unwrap_or_default(),
            Ok((a, _)) => {
                failures.push(format!("store {store}: the stock lookup answered {} {}", a.status, a.body));
                continue;
            }
            Err(e) => {
                failures.push(format!("store {store}: the stock lookup got {e}"));
                continue;
            }
        };
        for item in items {
            let sku = item["sku"].as_str().unwrap_or_default().to_owned();
            let on_hand = item["stock"]["onHand"].as_i64().unwrap_or(i64::MIN);
            let flash = sku == evening.flash_sku();
            let start = if flash { evening.flash_units_per_store } else { TRACKED_STOCK };
            let taken = units.get(&(store.as_str(), sku.clone())).copied().unwrap_or(0);
            if on_hand != start - taken {
                failures.push(format!("store {store}, sku {sku}: {taken} units sold but stock went from {start} to {on_hand}"));
            }
            if flash {
                flash_sold += taken;
                sold_out_everywhere &= on_hand == 0;
                if on_hand < 0 {
                    failures.push(format!("store {store}, sku {sku}: strict stock at {on_hand}"));
                }
            }
        }
        // The flash stock item by item: no item below zero, the items add up to what lookups show.
        let flash = evening.flash_sku();
        let request = api.http.get(api.url(&format!("/stores/{store}/stock/{flash}"))).bearer_auth(&managers[&store]);
        match api.send(request).await {
            Ok((a, _)) if a.status == 200 => {
                let shards = a.body["shards"].as_array().cloned().unwrap_or_default();
                let held: Vec<i64> = shards.iter().map(|s| s["onHand"].as_i64().unwrap_or(i64::MIN)).collect();
                if let Some(low) = held.iter().position(|h| *h < 0) {
                    failures.push(format!("store {store}, sku {flash}: stock item {low} at {}", held[low]));
                }
                let expected = evening.flash_units_per_store - units.get(&(store.as_str(), flash.clone())).copied().unwrap_or(0);
                if held.iter().sum::<i64>() != expected {
                    failures.push(format!("store {store}, sku {flash}: its stock items hold {held:?}, not {expected} in all"));
                }
                outcome.flash_spread.push(Spread {
                    store: store.clone(),
                    shards: a.body["stockShards"].as_u64().unwrap_or(1) as u16,
                    writes: shards.iter().map(|s| s["writes"].as_u64().unwrap_or(0)).collect(),
                });
            }
            Ok((a, _)) => failures.push(format!("store {store}: the stock of {flash} answered {} {}", a.status, a.body)),
            Err(e) => failures.push(format!("store {store}: the stock of {flash} got {e}")),
        }
    }

    // The reports, once the stream has drained, equal the sums of the receipts.
    let mut days: BTreeMap<(String, String), (i64, i64, i64)> = BTreeMap::new();
    for s in sold {
        let day = days.entry((s.store.clone(), s.receipt["businessDay"].as_str().unwrap_or_default().to_owned())).or_default();
        day.0 += 1;
        day.1 += s.receipt["total"].as_i64().unwrap_or(0);
        day.2 += s.receipt["taxTotal"].as_i64().unwrap_or(0);
    }
    let since = Instant::now();
    for ((store, day), (count, gross, tax)) in &days {
        let url = api.url(&format!("/stores/{store}/reports/daily?date={day}"));
        loop {
            let report = match api.send(api.http.get(&url).bearer_auth(&managers[store])).await {
                Ok((a, _)) if a.status == 200 => a.body,
                Ok((a, _)) => {
                    failures.push(format!("store {store}: the report of {day} answered {} {}", a.status, a.body));
                    break;
                }
                Err(e) => {
                    failures.push(format!("store {store}: the report of {day} got {e}"));
                    break;
                }
            };
            let found = (report["salesCount"].as_i64(), report["grossAmount"].as_i64(), report["taxAmount"].as_i64());
            if found == (Some(*count), Some(*gross), Some(*tax)) {
                break;
            }
            if since.elapsed() > REPORT_CATCH_UP || report["salesCount"].as_i64().is_some_and(|n| n > *count) {
                failures.push(format!(
                    "store {store}: the report of {day} says {} sales, {} gross, {} tax; the receipts add up to {count}, {gross}, {tax}",
                    report["salesCount"], report["grossAmount"], report["taxAmount"]
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    outcome.flash_sold = flash_sold;
    outcome.flash_sold_out_everywhere = sold_out_everywhere;
    outcome.failures.extend(failures);
}
