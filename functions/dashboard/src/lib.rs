//! `dashboard`: head office's page of the evening. One HTML page, its script and styles and the
//! chart library, compiled into the binary and served as they are: nothing on the page is
//! rendered here. The page signs its user in with OpenID Connect against the template's issuer
//! and reads the report routes with that user's token; this function sees no token.
//!
//! `GET /dashboard` is the page, `GET /dashboard/{asset}` its files, and
//! `GET /dashboard/config.json` what the page needs to know of this deployment (the issuer,
//! where to discover it, the client id, the chain's timezone), from the function's environment.

use http::{HeaderValue, StatusCode};
use lambda_http::{Body, Request, Response};
use retail_core::http::HttpFunction;
use retail_core::http::function::{ResponseFuture, request_id, route_key};
use sha2::{Digest, Sha256};

/// A file the page is made of.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: &'static str,
}

const PAGE: Asset = Asset { name: "index.html", content_type: "text/html; charset=utf-8", body: include_str!("../assets/index.html") };

const ASSETS: &[Asset] = &[
    Asset { name: "app.js", content_type: "text/javascript; charset=utf-8", body: include_str!("../assets/app.js") },
    Asset { name: "app.css", content_type: "text/css; charset=utf-8", body: include_str!("../assets/app.css") },
    Asset { name: "uPlot.iife.min.js", content_type: "text/javascript; charset=utf-8", body: include_str!("../assets/vendor/uPlot.iife.min.js") },
    Asset { name: "uPlot.min.css", content_type: "text/css; charset=utf-8", body: include_str!("../assets/vendor/uPlot.min.css") },
    Asset { name: "uPlot.LICENSE", content_type: "text/plain; charset=utf-8", body: include_str!("../assets/vendor/uPlot.LICENSE") },
];

/// The page's only script and style sources are this function's own files; it talks to the API
/// (same origin) and to the identity provider's token endpoint (any HTTPS origin: Cognito's is
/// not its issuer's), and is never framed.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self' https: http://localhost:* http://127.0.0.1:*; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// What the page learns of its deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DashboardConfig {
    /// The `iss` of the tokens the API accepts (the template's `JwtIssuer`).
    pub issuer: String,
    /// Where the issuer's OpenID configuration is read: `<issuer>/.well-known/openid-configuration`
    /// unless set (`retail-local` points it at itself).
    pub discovery_url: String,
    /// The OAuth client the page signs in as (the identity provider's app client).
    pub client_id: String,
    /// The scopes the page asks for besides `openid`.
    pub scopes: String,
    /// The chain's timezone: what "today" means on the page.
    pub timezone: String,
    /// The flash items the page watches unless its address names others (`#flash=A,B`).
    pub flash_skus: Vec<String>,
}

impl DashboardConfig {
    /// From `OIDC_ISSUER`, `OIDC_DISCOVERY_URL`, `OIDC_CLIENT_ID`, `OIDC_SCOPES`,
    /// `CHAIN_TIMEZONE` and `FLASH_SKUS` (comma separated); absent ones read as empty or their
    /// defaults.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The same from any source of variables: `retail-local` hosts the page in-process, where
    /// its own environment is not the function's.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let issuer = var("OIDC_ISSUER").unwrap_or_default();
        DashboardConfig {
            discovery_url: var("OIDC_DISCOVERY_URL")
                .unwrap_or_else(|| format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))),
            issuer,
            client_id: var("OIDC_CLIENT_ID").unwrap_or_else(|| "dashboard".to_owned()),
            scopes: var("OIDC_SCOPES").unwrap_or_default(),
            timezone: var("CHAIN_TIMEZONE").unwrap_or_else(|| "Asia/Shanghai".to_owned()),
            flash_skus: var("FLASH_SKUS")
                .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect())
                .unwrap_or_default(),
        }
    }

    fn to_json(&self) -> String {
        serde_json::json!({
            "issuer": self.issuer,
            "discoveryUrl": self.discovery_url,
            "clientId": self.client_id,
            "scopes": self.scopes,
            "timezone": self.timezone,
            "flashSkus": self.flash_skus,
        })
        .to_string()
    }
}

pub struct Dashboard {
    config: String,
    /// The ETags of the page, `config.json` and `ASSETS` in order, hashed once at start rather
    /// than at every request.
    page_tag: String,
    config_tag: String,
    asset_tags: Vec<String>,
}

impl Dashboard {
    pub fn new(config: &DashboardConfig) -> Self {
        let config = config.to_json();
        Dashboard {
            page_tag: etag(PAGE.body),
            config_tag: etag(&config),
            asset_tags: ASSETS.iter().map(|a| etag(a.body)).collect(),
            config,
        }
    }

    fn answer(&self, request: &Request) -> Response<Body> {
        let id = request_id(request);
        let key = route_key(request);
        let asset = request.uri().path().rsplit('/').next().unwrap_or("");
        match key {
            "GET /dashboard" => file(request, &id, PAGE.content_type, PAGE.body, &self.page_tag, "no-cache"),
            "GET /dashboard/{asset}" if asset == "config.json" => {
                file(request, &id, "application/json", &self.config, &self.config_tag, "no-cache")
            }
            "GET /dashboard/{asset}" => match ASSETS.iter().position(|a| a.name == asset) {
                // The page names its files without a version: a deploy reaches it within minutes.
                Some(i) => file(request, &id, ASSETS[i].content_type, ASSETS[i].body, &self.asset_tags[i], "max-age=300"),
                None => not_found(&id),
            },
            _ => not_found(&id),
        }
    }
}

/// A strong ETag of `body`: 12 bytes of its SHA-256.
fn etag(body: &str) -> String {
    use base64::Engine;
    format!("\"{}\"", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&Sha256::digest(body.as_bytes())[..12]))
}

impl HttpFunction for Dashboard {
    fn call(&self, request: Request) -> ResponseFuture<'_> {
        Box::pin(async move { self.answer(&request) })
    }
}

/// A file, or 304 when the browser's copy (`If-None-Match`) is this one.
fn file(request: &Request, id: &str, content_type: &'static str, body: &str, tag: &str, cache: &'static str) -> Response<Body> {
    let fresh = request
        .headers()
        .get_all("if-none-match")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let (status, body) = if fresh { (StatusCode::NOT_MODIFIED, String::new()) } else { (StatusCode::OK, body.to_owned()) };
    let mut response = Response::builder()
        .status(status)
        .header("content-type", content_type)
        .header("cache-control", cache)
        .header("etag", tag)
        .header("x-content-type-options", "nosniff")
        .header("referrer-policy", "no-referrer")
        .header("x-request-id", id)
        .body(Body::from(body))
        .expect("valid response parts");
    if content_type.starts_with("text/html") {
        response.headers_mut().insert("content-security-policy", HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    }
    response
}

fn not_found(id: &str) -> Response<Body> {
    retail_core::http::Problem::not_found("the dashboard has no such file").into_response(id)
}
