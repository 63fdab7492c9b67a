//! A till's behaviour: its checkouts, each sent twice as if the answer was lost, retried with
//! the same key and a backoff with full jitter while the API says "try again", and its offline
//! batch uploaded when it comes back online.

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::client::{Api, Dice, PATIENCE, Tokens};
use super::evening::{CATALOG, Evening};
use super::stats::RouteStats;
use crate::Answer;

/// A receipt the API answered 201 for, and where it came from.
#[derive(Clone)]
pub(super) struct Sold {
    pub(super) store: String,
    pub(super) key: String,
    pub(super) receipt: Value,
}

/// What one till saw.
#[derive(Default)]
pub(super) struct TillLog {
    pub(super) routes: BTreeMap<&'static str, RouteStats>,
    pub(super) sold: Vec<Sold>,
    /// Return receipts answered 201 (or replayed on the first send), at the service desk.
    pub(super) returned: Vec<Returned>,
    pub(super) problems: Vec<String>,
}

/// A return receipt the API answered for, and the store that took the goods back.
#[derive(Clone)]
pub(super) struct Returned {
    pub(super) store: String,
    pub(super) key: String,
    pub(super) receipt: Value,
}

impl TillLog {
    fn record(&mut self, route: &'static str, took: Duration, status: u16) {
        self.routes.entry(route).or_insert_with(RouteStats::new).record(took, status);
    }
}

impl Api {
    /// Sends as a till does ([`Api::send_retrying`]); every attempt is recorded under `route`.
    pub(super) async fn send_as_till(
        &self,
        log: &mut TillLog,
        route: &'static str,
        dice: &mut Dice,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Answer, String> {
        self.send_retrying(dice, request, |a, took| log.record(route, took, a.status)).await
    }
}

/// A basket: a few tracked items, and the flash item for some. Paid mostly in cash, generously
/// (the till does not know prices; the change comes back); the `n`th basket of a till puts a
/// little on a card, or on a card and mobile, for one in three each, so refunds have tenders to
/// go back to. Never more than the total after promotions: at most 1.40, and the smallest
/// basket, one unit of the cheapest item (1.50, dairy), comes to 1.42 after its 5 % off; a
/// multi-buy frees one unit of three, the spend-and-save 1.50 of every 20.00.
fn basket(evening: &Evening, dice: &mut Dice, terminal: &str, occurred_at: Option<String>, n: usize) -> Value {
    let mut lines: Vec<Value> = (0..1 + dice.below(4)).map(|_| json!({"sku": evening.sku(dice.below(CATALOG)), "quantity": 1 + dice.below(3)})).collect();
    if dice.chance(evening.flash_share) {
        lines.push(json!({"sku": evening.flash_sku(), "quantity": 1}));
    }
    let cash = json!({"method": "cash", "amount": 200_000});
    let payments = match n % 3 {
        0 => json!([cash]),
        1 => json!([{"method": "card", "amount": 100}, cash]),
        _ => json!([{"method": "mobile", "amount": 90}, {"method": "card", "amount": 50}, cash]),
    };
    let mut sale = json!({"terminalId": terminal, "lines": lines, "payments": payments});
    if let Some(at) = occurred_at {
        sale["occurredAt"] = json!(at);
    }
    sale
}

pub(super) async fn till(evening: &Evening, t: usize, api: &Api, tokens: &Tokens, done: &AtomicU64) -> TillLog {
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
        let sale = basket(evening, &mut dice, &terminal, None, n);
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
pub(super) async fn upload(evening: &Evening, t: usize, api: &Api, tokens: &Tokens) -> TillLog {
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
            let mut sale = basket(&offline, &mut dice, &terminal, Some(at.clone()), n);
            sale["idempotencyKey"] = json!(format!("h{}-{t}-off{n}", evening.run));
            sale
        })
        .collect();
    upload_sales(api, &mut log, &mut dice, "upload", &store, &token, sales).await;
    log
}

/// Uploads offline sales (each with its `idempotencyKey`) in batches of at most 100, every
/// attempt recorded under `route`; each receipt answered goes into `log.sold`, each refusal
/// into `log.problems`.
pub(super) async fn upload_sales(api: &Api, log: &mut TillLog, dice: &mut Dice, route: &'static str, store: &str, token: &str, sales: Vec<Value>) {
    for chunk in sales.chunks(100) {
        upload_batch(api, log, dice, route, store, token, chunk.to_vec()).await;
    }
}

async fn upload_batch(api: &Api, log: &mut TillLog, dice: &mut Dice, route: &'static str, store: &str, token: &str, sales: Vec<Value>) {
    // Entries answered "try again" (503, or 409 in_progress) go up again in the next upload,
    // with their keys, until every one has its answer.
    let mut pending = sales;
    let started = Instant::now();
    let mut round = 0u32;
    while !pending.is_empty() {
        let request = || api.http.post(api.url(&format!("/stores/{store}/sales/batch"))).bearer_auth(token).json(&json!({"sales": pending}));
        let answer = match api.send_as_till(log, route, dice, request).await {
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
                    store: store.to_owned(),
                    key: r["idempotencyKey"].as_str().unwrap_or_default().to_owned(),
                    receipt: r["receipt"].clone(),
                }),
                _ if retry && started.elapsed() < PATIENCE => again.push(sale.clone()),
                _ => log.problems.push(format!("store {store}: offline sale {} answered {}", r["idempotencyKey"], r)),
            }
        }
        pending = again;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(1 + dice.below(20usize << round.min(6)) as u64)).await;
            round += 1;
        }
    }
}
