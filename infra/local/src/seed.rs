//! Demo data, loaded at start through the functions themselves: every item becomes the request
//! head office would send, with a headoffice token, through the gateway. There is no second way
//! into the store, so seed data that a function would refuse fails the start.

use axum::body::Body;
use http::{Method, Request};
use serde::Deserialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::authorizer::TokenRequest;
use crate::gateway::Gateway;

pub const STORES_FILE: &str = "stores.json";
pub const COMMODITIES_FILE: &str = "commodities.json";
pub const PRICES_FILE: &str = "prices.json";
pub const STOCK_FILE: &str = "stock.json";

/// What seeding loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedSummary {
    pub stores: usize,
    pub commodities: usize,
    pub price_lines: usize,
    pub stock_movements: usize,
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

    let mut summary = SeedSummary {
        stores: stores.len(),
        commodities: commodities.len(),
        price_lines: prices.iter().map(|b| count(b, "adjustments")).sum(),
        stock_movements: stock.iter().map(|s| count(&s.body, "movements")).sum(),
        elapsed: Duration::ZERO,
    };
    let token = gateway.token_authorizer().map(|config| {
        let mut request = TokenRequest::new(&["headoffice"], None);
        request.ttl = Duration::from_secs(600);
        gateway.key().sign(&request.claims(config))
    });

    let stores = stores.into_iter().map(|s| Call {
        method: Method::PUT,
        path: format!("/stores/{}", segment(&s.store_id)),
        body: s.body,
    });
    run(gateway, token.as_deref(), STORES_FILE, stores).await?;
    let commodities = commodities.into_iter().map(|c| Call {
        method: Method::PUT,
        path: format!("/commodities/{}", segment(&c.sku)),
        body: c.body,
    });
    run(gateway, token.as_deref(), COMMODITIES_FILE, commodities).await?;
    let prices = prices.into_iter().map(|body| Call { method: Method::POST, path: "/price-adjustments".into(), body });
    let answers = run(gateway, token.as_deref(), PRICES_FILE, prices).await?;
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
    let stock = stock.into_iter().map(|s| Call {
        method: Method::POST,
        path: format!("/stores/{}/stock-movements", segment(&s.store_id)),
        body: s.body,
    });
    run(gateway, token.as_deref(), STOCK_FILE, stock).await?;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

fn count(body: &Value, member: &str) -> usize {
    body.get(member).and_then(Value::as_array).map_or(0, Vec::len)
}

fn read<T: serde::de::DeserializeOwned>(dir: &Path, file: &str) -> Result<T, SeedError> {
    let path: PathBuf = dir.join(file);
    let text = std::fs::read(&path).map_err(|source| SeedError::Read { path: path.display().to_string(), source })?;
    serde_json::from_slice(&text).map_err(|e| SeedError::Shape { path: path.display().to_string(), why: e.to_string() })
}

/// Sends each call in order; stops at the first answer that is not 200 or 201.
async fn run(
    gateway: &Gateway,
    token: Option<&str>,
    file: &str,
    calls: impl Iterator<Item = Call>,
) -> Result<Vec<Value>, SeedError> {
    let peer = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut answers = Vec::new();
    for (index, call) in calls.enumerate() {
        let mut request = Request::builder()
            .method(call.method.clone())
            .uri(&call.path)
            .header("content-type", "application/json")
            .header("user-agent", "retail-local-seed");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(Body::from(call.body.to_string())).map_err(|e| SeedError::Shape {
            path: file.to_owned(),
            why: format!("item {index} makes no valid request ({}): {e}", call.path),
        })?;
        let response = gateway.handle(request, peer, 0).await;
        let status = response.status();
        let body =
            http_body_util::BodyExt::collect(response.into_body()).await.map(|c| c.to_bytes()).unwrap_or_default();
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
    }
    Ok(answers)
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
    fn the_committed_seed_files_have_the_expected_shape() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../seed");
        let stores: Vec<StoreItem> = read(&dir, STORES_FILE).unwrap();
        let commodities: Vec<CommodityItem> = read(&dir, COMMODITIES_FILE).unwrap();
        let _: PriceBatches = read(&dir, PRICES_FILE).unwrap();
        let stock: Vec<StoreItem> = read(&dir, STOCK_FILE).unwrap();
        assert!(stores.len() >= 3);
        assert!(commodities.len() >= 1000);
        assert!(stock.iter().all(|s| count(&s.body, "movements") <= 100));
    }
}
