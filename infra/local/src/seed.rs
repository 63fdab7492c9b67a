//! Demo data, loaded at start through the functions themselves: every item becomes the request
//! head office would send, with a headoffice token, through the gateway. There is no second way
//! into the store, so seed data that a function would refuse fails the start.

use axum::body::Body;
use http::{Method, Request};
use serde::Deserialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use chrono::Utc;
use std::time::{Duration, Instant};

use crate::authorizer::{DevKey, TokenRequest};
use crate::gateway::Gateway;
use crate::template::JwtConfig;

pub const STORES_FILE: &str = "stores.json";
pub const COMMODITIES_FILE: &str = "commodities.json";
pub const PRICES_FILE: &str = "prices.json";
pub const STOCK_FILE: &str = "stock.json";
pub const SALES_FILE: &str = "sales.json";
pub const PROMOTIONS_FILE: &str = "promotions.json";

/// What seeding loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedSummary {
    pub stores: usize,
    pub commodities: usize,
    pub price_lines: usize,
    pub stock_movements: usize,
    /// Sales recorded on yesterday's business day of each store.
    pub sales: usize,
    /// Promotions in force from the start, for the days each names.
    pub promotions: usize,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("cannot read the seed file {path}: {source} (start with --no-seed to go without demo data)")]
    Read { path: String, source: std::io::Error },
    #[error("the seed file {path} is not in its expected shape: {why}")]
    Shape { path: String, why: String },
    #[error("seeding failed: {file} item {index}: {method} {path} answered {status}: {body}")]
    Refused { file: String, index: usize, method: String, path: String, status: u16, body: String },
}

/// `{"storeId", "body"}`, `{"sku", "body"}`: an item addressed by an id in the path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreItem {
    #[serde(rename = "storeId")]
    store_id: String,
    body: Value,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CommodityItem {
    sku: String,
    body: Value,
}

/// `prices.json`: one POST /price-adjustments body, or a list of them.
#[derive(Deserialize)]
#[serde(untagged)]
enum PriceBatches {
    Many(Vec<Value>),
    One(Value),
}

/// A till sale of the demo day: its local clock time and how it was paid; the loader dates it
/// yesterday (an offline sale may be at most 72 hours old) and works out the amount.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SaleItem {
    store_id: String,
    local_time: String,
    idempotency_key: String,
    pay_with: String,
    body: Value,
}

/// A promotion of the demo: `PUT /promotions/{promotionId}`'s body without its window, which
/// the loader sets from now for `days` days (a promotion runs at most 90 days, so no fixed date
/// would stay in force).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PromotionItem {
    promotion_id: String,
    days: i64,
    body: Value,
}

struct Call {
    method: Method,
    path: String,
    body: Value,
}

pub(crate) async fn load(gateway: &Gateway, dir: &Path) -> Result<SeedSummary, SeedError> {
    let started = Instant::now();
    let stores: Vec<StoreItem> = read(dir, STORES_FILE)?;
    let commodities: Vec<CommodityItem> = read(dir, COMMODITIES_FILE)?;
    let prices = match read::<PriceBatches>(dir, PRICES_FILE)? {
        PriceBatches::Many(batches) => batches,
        PriceBatches::One(batch) => vec![batch],
    };
    let stock: Vec<StoreItem> = read(dir, STOCK_FILE)?;
    let sales: Vec<SaleItem> = read(dir, SALES_FILE)?;
    let promotions: Vec<PromotionItem> = read(dir, PROMOTIONS_FILE)?;

    let mut summary = SeedSummary {
        stores: stores.len(),
        commodities: commodities.len(),
        price_lines: prices.iter().map(|b| count(b, "adjustments")).sum(),
        stock_movements: stock.iter().map(|s| count(&s.body, "movements")).sum(),
        sales: sales.len(),
        promotions: promotions.len(),
        elapsed: Duration::ZERO,
    };
    let timezones: std::collections::HashMap<String, chrono_tz::Tz> = stores
        .iter()
        .map(|s| {
            let tz = s.body.get("timezone").and_then(Value::as_str).unwrap_or("Asia/Shanghai");
            (s.store_id.clone(), tz.parse().unwrap_or(chrono_tz::Asia::Shanghai))
        })
        .collect();
    let mut token = SeedToken::new(gateway.token_authorizer(), gateway.key(), &["headoffice"], None);

    tracing::info!(
        "seeding the demo data from {}: {} stores, {} commodities, {} price lines, {} stock movements, {} sales",
        dir.display(),
        summary.stores,
        summary.commodities,
        summary.price_lines,
        summary.stock_movements,
        summary.sales
    );

    let mut progress = Progress::new(format!("{STORES_FILE} (stores)"), stores.len());
    let stores = stores.into_iter().map(|s| Call {
        method: Method::PUT,
        path: format!("/stores/{}", segment(&s.store_id)),
        body: s.body,
    });
    run(gateway, &mut token, STORES_FILE, stores, &mut progress).await?;
    progress.finish();
    let mut progress = Progress::new(format!("{COMMODITIES_FILE} (commodities)"), commodities.len());
    let commodities = commodities.into_iter().map(|c| Call {
        method: Method::PUT,
        path: format!("/commodities/{}", segment(&c.sku)),
        body: c.body,
    });
    run(gateway, &mut token, COMMODITIES_FILE, commodities, &mut progress).await?;
    progress.finish();
    let mut progress = Progress::new(format!("{PRICES_FILE} (price batches)"), prices.len());
    let prices = prices.into_iter().map(|body| Call { method: Method::POST, path: "/price-adjustments".into(), body });
    let answers = run(gateway, &mut token, PRICES_FILE, prices, &mut progress).await?;
    progress.finish();
    // A line the function rejected is a bug in the seed data, even though the batch was accepted.
    for (index, answer) in answers.iter().enumerate() {
        if answer.get("rejected").and_then(Value::as_array).is_some_and(|r| !r.is_empty()) {
            return Err(SeedError::Refused {
                file: PRICES_FILE.into(),
                index,
                method: "POST".into(),
                path: "/price-adjustments".into(),
                status: 201,
                body: answer.to_string(),
            });
        }
    }
    let mut progress = Progress::new(format!("{STOCK_FILE} (stock movement requests)"), stock.len());
    let stock = stock.into_iter().map(|s| Call {
        method: Method::POST,
        path: format!("/stores/{}/stock-movements", segment(&s.store_id)),
        body: s.body,
    });
    run(gateway, &mut token, STOCK_FILE, stock, &mut progress).await?;
    progress.finish();
    record_sales(gateway, &mut token, &timezones, sales).await?;
    // After the sales: they are yesterday's, and the promotions start now.
    let mut progress = Progress::new(format!("{PROMOTIONS_FILE} (promotions)"), promotions.len());
    let now = Utc::now();
    let mut calls = Vec::with_capacity(promotions.len());
    for (index, p) in promotions.into_iter().enumerate() {
        let mut body = p.body;
        let fields = body
            .as_object_mut()
            .ok_or_else(|| SeedError::Shape { path: PROMOTIONS_FILE.into(), why: format!("item {index}: body is not an object") })?;
        let ends = now + chrono::Duration::days(p.days);
        fields.insert("validFrom".into(), Value::from(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
        fields.insert("validTo".into(), Value::from(ends.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)));
        calls.push(Call { method: Method::PUT, path: format!("/promotions/{}", segment(&p.promotion_id)), body });
    }
    run(gateway, &mut token, PROMOTIONS_FILE, calls.into_iter(), &mut progress).await?;
    progress.finish();
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Records the demo day's sales through `POST /stores/{id}/sales/batch`, as tills coming back
/// online would, each paid exactly (card, mobile) or with change (cash).
async fn record_sales(
    gateway: &Gateway,
    headoffice: &mut SeedToken<'_>,
    timezones: &std::collections::HashMap<String, chrono_tz::Tz>,
    sales: Vec<SaleItem>,
) -> Result<(), SeedError> {
    use chrono::TimeZone;
    let shape = |why: String| SeedError::Shape { path: SALES_FILE.into(), why };
    let mut by_store: std::collections::BTreeMap<String, Vec<Value>> = Default::default();
    let lines = sales.iter().map(|s| s.body.get("lines").and_then(Value::as_array).map_or(0, Vec::len)).sum();
    let mut progress = Progress::new(format!("{SALES_FILE} (the price of each sale line when it was sold)"), lines);
    for (index, sale) in sales.into_iter().enumerate() {
        let tz = *timezones.get(&sale.store_id).ok_or_else(|| shape(format!("item {index}: unknown store")))?;
        let time = chrono::NaiveTime::parse_from_str(&sale.local_time, "%H:%M")
            .map_err(|e| shape(format!("item {index}: localTime: {e}")))?;
        let yesterday = Utc::now().with_timezone(&tz).date_naive().pred_opt().expect("a day before today");
        let occurred_at = tz
            .from_local_datetime(&yesterday.and_time(time))
            .earliest()
            .ok_or_else(|| shape(format!("item {index}: no such local time yesterday")))?
            .with_timezone(&Utc);
        let at = occurred_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        // What the sale costs then, from the prices in force then, as the till's customer pays it.
        let mut total = 0i64;
        for line in sale.body.get("lines").and_then(Value::as_array).into_iter().flatten() {
            let sku = line.get("sku").and_then(Value::as_str).ok_or_else(|| shape(format!("item {index}: a line has no sku")))?;
            let path = format!("/stores/{}/prices/{}?at={at}", segment(&sale.store_id), segment(sku));
            let price = run(
                gateway,
                headoffice,
                SALES_FILE,
                std::iter::once(Call { method: Method::GET, path, body: Value::Null }),
                &mut progress,
            )
            .await?
            .remove(0);
            let amount = price.get("amount").and_then(Value::as_i64).unwrap_or(0);
            total += match (line.get("quantity").and_then(Value::as_i64), line.get("weightGrams").and_then(Value::as_i64)) {
                (_, Some(grams)) => retail_core::domain::sale::weighed_amount(retail_core::domain::Money::from_minor_units(amount), grams).minor_units(),
                (quantity, None) => amount * quantity.unwrap_or(1),
            };
        }
        let paid = if sale.pay_with == "cash" { (total + 999) / 1000 * 1000 } else { total };
        let mut entry = sale.body;
        let fields = entry.as_object_mut().ok_or_else(|| shape(format!("item {index}: body is not an object")))?;
        fields.insert("idempotencyKey".into(), Value::from(sale.idempotency_key));
        fields.insert("occurredAt".into(), Value::from(at));
        fields.insert("payments".into(), serde_json::json!([{"method": sale.pay_with, "amount": paid}]));
        by_store.entry(sale.store_id).or_default().push(entry);
    }
    progress.finish();
    let batches = by_store.values().map(|entries| entries.len().div_ceil(100)).sum();
    let mut progress = Progress::new(format!("{SALES_FILE} (sales batches)"), batches);
    for (store_id, entries) in by_store {
        let mut token = SeedToken::new(gateway.token_authorizer(), gateway.key(), &["pos"], Some(&store_id));
        let calls = entries.chunks(100).map(|chunk| Call {
            method: Method::POST,
            path: format!("/stores/{}/sales/batch", segment(&store_id)),
            body: serde_json::json!({ "sales": chunk }),
        });
        for (index, answer) in run(gateway, &mut token, SALES_FILE, calls, &mut progress).await?.into_iter().enumerate() {
            let refused = answer
                .get("results")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .find(|r| !matches!(r.get("status").and_then(Value::as_u64), Some(200 | 201)));
            if let Some(result) = refused {
                return Err(SeedError::Refused {
                    file: SALES_FILE.into(),
                    index,
                    method: "POST".into(),
                    path: format!("/stores/{store_id}/sales/batch"),
                    status: 200,
                    body: result.to_string(),
                });
            }
        }
    }
    progress.finish();
    Ok(())
}

fn count(body: &Value, member: &str) -> usize {
    body.get(member).and_then(Value::as_array).map_or(0, Vec::len)
}

fn read<T: serde::de::DeserializeOwned>(dir: &Path, file: &str) -> Result<T, SeedError> {
    let path: PathBuf = dir.join(file);
    let text = std::fs::read(&path).map_err(|source| SeedError::Read { path: path.display().to_string(), source })?;
    serde_json::from_slice(&text).map_err(|e| SeedError::Shape { path: path.display().to_string(), why: e.to_string() })
}

/// Sends each call in order, counting it in `progress`; stops at the first answer that is not
/// 200 or 201.
async fn run(
    gateway: &Gateway,
    token: &mut SeedToken<'_>,
    file: &str,
    calls: impl Iterator<Item = Call>,
    progress: &mut Progress,
) -> Result<Vec<Value>, SeedError> {
    let peer = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut answers = Vec::new();
    for (index, call) in calls.enumerate() {
        // A 503 (a DynamoDB endpoint that is slow to answer) is retried, as a client told
        // "retry shortly" would; anything else is final.
        let mut attempt = 0;
        let (status, body) = loop {
            let mut request = Request::builder()
                .method(call.method.clone())
                .uri(&call.path)
                .header("content-type", "application/json")
                .header("user-agent", "retail-local-seed");
            if let Some(token) = token.get() {
                request = request.header("authorization", format!("Bearer {token}"));
            }
            let body = if call.body.is_null() { String::new() } else { call.body.to_string() };
            let request = request.body(Body::from(body)).map_err(|e| SeedError::Shape {
                path: file.to_owned(),
                why: format!("item {index} makes no valid request ({}): {e}", call.path),
            })?;
            let response = gateway.handle_quietly(request, peer, 0).await;
            let status = response.status();
            let body =
                http_body_util::BodyExt::collect(response.into_body()).await.map(|c| c.to_bytes()).unwrap_or_default();
            attempt += 1;
            if status == http::StatusCode::SERVICE_UNAVAILABLE && attempt < 6 {
                tokio::time::sleep(std::time::Duration::from_millis(200 * attempt)).await;
                continue;
            }
            break (status, body);
        };
        if status != http::StatusCode::OK && status != http::StatusCode::CREATED {
            return Err(SeedError::Refused {
                file: file.to_owned(),
                index,
                method: call.method.to_string(),
                path: call.path,
                status: status.as_u16(),
                body: String::from_utf8_lossy(&body).into_owned(),
            });
        }
        answers.push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        progress.tick();
    }
    Ok(answers)
}

/// How long seeding's tokens live; each is signed again when half of that has passed, since a
/// slow endpoint can keep seeding busy for longer (a seed on moto's own table copies took over ten
/// minutes, and its requests began to answer 401).
const TOKEN_TTL: Duration = Duration::from_secs(600);

/// The development token seeding's requests carry (none when the template has no JWT
/// authorizer), signed again before it expires.
struct SeedToken<'k> {
    config: Option<JwtConfig>,
    key: &'k DevKey,
    request: TokenRequest,
    current: Option<(String, Instant)>,
}

impl<'k> SeedToken<'k> {
    fn new(config: Option<&JwtConfig>, key: &'k DevKey, scopes: &[&str], store: Option<&str>) -> SeedToken<'k> {
        let mut request = TokenRequest::new(scopes, store);
        request.ttl = TOKEN_TTL;
        SeedToken { config: config.cloned(), key, request, current: None }
    }

    fn get(&mut self) -> Option<String> {
        let config = self.config.as_ref()?;
        if self.current.as_ref().is_none_or(|(_, signed)| signed.elapsed() >= self.request.ttl / 2) {
            self.current = Some((self.key.sign(&self.request.claims(config)), Instant::now()));
        }
        self.current.as_ref().map(|(token, _)| token.clone())
    }
}

/// How often a long step says how far it is.
const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// The progress of one seeding step (a file, or part of one): a line every [`PROGRESS_EVERY`]
/// with its count and rate, and one when it is done if it took that long. On the embedded store
/// seeding takes well under a second and says nothing; on moto it takes minutes.
struct Progress {
    what: String,
    total: usize,
    done: usize,
    started: Instant,
    said: Instant,
}

impl Progress {
    fn new(what: impl Into<String>, total: usize) -> Progress {
        let now = Instant::now();
        Progress { what: what.into(), total, done: 0, started: now, said: now }
    }

    fn rate(&self) -> f64 {
        self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-3)
    }

    fn tick(&mut self) {
        self.done += 1;
        if self.said.elapsed() >= PROGRESS_EVERY {
            self.said = Instant::now();
            tracing::info!(
                "seeding {}: {} of {} ({:.0}/s, {} s)",
                self.what,
                self.done,
                self.total,
                self.rate(),
                self.started.elapsed().as_secs()
            );
        }
    }

    fn finish(self) {
        if self.started.elapsed() >= PROGRESS_EVERY {
            tracing::info!(
                "seeded {}: {} in {:.1} s ({:.0}/s)",
                self.what,
                self.done,
                self.started.elapsed().as_secs_f64(),
                self.rate()
            );
        }
    }
}

/// An id as one path segment: unreserved characters as they are, the rest percent-encoded.
fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_single_path_segments() {
        assert_eq!(segment("MILK-1L"), "MILK-1L");
        assert_eq!(segment("a/b c"), "a%2Fb%20c");
    }

    #[test]
    fn a_seed_token_is_signed_again_before_it_expires() {
        let dir = std::env::temp_dir().join(format!("retail-local-seed-token-{}", std::process::id()));
        let key = DevKey::load_or_create(&dir.join("key.pem")).unwrap();
        let config = JwtConfig {
            name: "jwt".into(),
            issuer: "https://issuer.example".into(),
            audience: vec!["retail".into()],
            identity_header: "authorization".into(),
        };
        let expires = |token: &str| {
            let payload = token.split('.').nth(1).unwrap();
            let claims: Value =
                serde_json::from_slice(&base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap())
                    .unwrap();
            claims["exp"].as_u64().unwrap()
        };
        let mut token = SeedToken::new(Some(&config), &key, &["headoffice"], None);
        token.request.ttl = Duration::from_secs(2);
        let first = token.get().unwrap();
        assert_eq!(token.get().unwrap(), first, "kept while young");
        std::thread::sleep(Duration::from_millis(1100));
        let second = token.get().unwrap();
        assert!(expires(&second) > expires(&first), "signed again after half its life");
        assert!(SeedToken::new(None, &key, &["pos"], Some("S001")).get().is_none(), "no authorizer, no token");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn the_committed_seed_files_have_the_expected_shape() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed");
        let stores: Vec<StoreItem> = read(&dir, STORES_FILE).unwrap();
        let commodities: Vec<CommodityItem> = read(&dir, COMMODITIES_FILE).unwrap();
        let _: PriceBatches = read(&dir, PRICES_FILE).unwrap();
        let stock: Vec<StoreItem> = read(&dir, STOCK_FILE).unwrap();
        let promotions: Vec<PromotionItem> = read(&dir, PROMOTIONS_FILE).unwrap();
        assert!(promotions.len() >= 3 && promotions.iter().all(|p| (1..=90).contains(&p.days)));
        assert!(stores.len() >= 3);
        assert!(commodities.len() >= 1000);
        assert!(stock.iter().all(|s| count(&s.body, "movements") <= 100));
    }
}
