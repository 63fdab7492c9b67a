//! The local API over real HTTP: routing, the JWT authorizer, the v2 event a function receives,
//! and the answers the gateway gives by itself.

mod common;

use http::StatusCode;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use retail_core::http::HttpFunction;
use retail_core::http::function::ResponseFuture;
use retail_local::{Functions, LocalApi, Options, Running, TokenRequest};
use serde_json::{Value, json};
use std::time::Duration;

/// Answers with what it received, so tests can see the event the gateway built.
struct Echo;

impl HttpFunction for Echo {
    fn call(&self, request: lambda_http::Request) -> ResponseFuture<'_> {
        Box::pin(async move {
            let RequestContext::ApiGatewayV2(ctx) = request.request_context() else { panic!("not a v2 request") };
            if request.uri().path().contains("PANIC") {
                panic!("the function fails");
            }
            let body = match request.body() {
                Body::Text(t) => t.clone().into_bytes(),
                Body::Binary(b) => b.clone(),
                _ => Vec::new(),
            };
            let claims = ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref()).map(|j| json!(j.claims));
            let path_params: serde_json::Map<String, Value> =
                request.path_parameters().iter().map(|(k, v)| (k.to_owned(), json!(v))).collect();
            let seen = json!({
                "routeKey": ctx.route_key,
                "requestId": ctx.request_id,
                "method": request.method().as_str(),
                "claims": claims,
                "pathParameters": path_params,
                "query": request.query_string_parameters().first("q"),
                "contentType": request.headers().get("content-type").map(|v| v.to_str().unwrap()),
                "bodyLength": body.len(),
                "bodyStart": String::from_utf8_lossy(&body[..body.len().min(64)]),
            });
            http::Response::builder()
                .status(207)
                .header("content-type", "application/json")
                .header("x-request-id", ctx.request_id.unwrap_or_default())
                .header("x-echo", "yes")
                .body(Body::from(seen.to_string()))
                .unwrap()
        })
    }
}

fn echo_everywhere() -> Functions {
    ["catalog-admin", "commodity-lookup", "price-adjustment", "checkout", "sales-report"]
        .into_iter()
        .fold(Functions::empty(), |f, name| f.with(name, Echo))
}

async fn spawn_echo(options: &Options) -> Running {
    let api = LocalApi::start_with(options, echo_everywhere()).await.unwrap();
    retail_local::spawn_api(api).await.unwrap()
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_good_token_reaches_the_function_with_claims_params_query_and_body() {
    let running = spawn_echo(&common::options()).await;
    let token = running.api.token(&["pos"], Some("S001"));
    let response = client()
        .post(running.url("/stores/S001/commodities/lookup?q=a%20b&q=c"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"skus":["MILK-1L"]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 207, "the function's status passes through");
    assert_eq!(response.headers()["x-echo"], "yes");
    let request_id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["apigw-requestid"], request_id.as_str());
    let seen = json_of(response).await;
    assert_eq!(seen["routeKey"], "POST /stores/{storeId}/commodities/lookup");
    assert_eq!(seen["requestId"], request_id);
    assert_eq!(seen["pathParameters"], json!({"storeId": "S001"}));
    assert_eq!(seen["query"], "a b");
    assert_eq!(seen["claims"]["scope"], "pos");
    assert_eq!(seen["claims"]["store_id"], "S001");
    assert_eq!(seen["claims"]["aud"], "retail-api");
    assert_eq!(seen["bodyStart"], r#"{"skus":["MILK-1L"]}"#);
    assert_eq!(seen["contentType"], "application/json");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn path_parameters_arrive_decoded_and_the_more_specific_route_wins() {
    let running = spawn_echo(&common::options()).await;
    let token = running.api.token(&["headoffice"], None);
    let seen = json_of(
        client().get(running.url("/stores/S001/commodities/MILK%2D1L")).bearer_auth(&token).send().await.unwrap(),
    )
    .await;
    assert_eq!(seen["routeKey"], "GET /stores/{storeId}/commodities/{sku}");
    assert_eq!(seen["pathParameters"], json!({"storeId": "S001", "sku": "MILK-1L"}));
    let seen =
        json_of(client().get(running.url("/reports/daily?date=2026-11-11")).bearer_auth(&token).send().await.unwrap())
            .await;
    assert_eq!(seen["routeKey"], "GET /reports/daily");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn unknown_routes_and_other_methods_are_404_from_the_gateway() {
    let running = spawn_echo(&common::options()).await;
    let token = running.api.token(&["headoffice"], None);
    for (method, path) in [
        (reqwest::Method::GET, "/nothing"),
        (reqwest::Method::DELETE, "/stores/S001"),
        (reqwest::Method::GET, "/reports/daily/"),
        (reqwest::Method::GET, "/Reports/daily"),
        (reqwest::Method::GET, "/stores/S001/commodities/a/b"),
    ] {
        for authorized in [true, false] {
            let mut request = client().request(method.clone(), running.url(path));
            if authorized {
                request = request.bearer_auth(&token);
            }
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
            assert_eq!(response.headers()["content-type"], "application/json");
            assert!(response.headers().get("x-request-id").is_none(), "no function ran");
            assert_eq!(json_of(response).await, json!({"message": "Not Found"}));
        }
    }
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_newcomer_finds_the_routes_the_token_commands_the_contract_and_a_health_check() {
    let running = spawn_echo(&common::options()).await;
    let root = client().get(running.url("/")).send().await.unwrap();
    assert_eq!(root.status(), StatusCode::OK);
    assert_eq!(root.headers()["content-type"], "text/plain; charset=utf-8");
    let page = root.text().await.unwrap();
    for route in running.api.route_keys() {
        assert!(page.contains(&format!("  {route}\n")), "{route} is listed:\n{page}");
    }
    assert!(page.contains("--bin retail-local -- token --scope pos --store S001"), "{page}");
    let health = client().get(running.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    assert_eq!(json_of(health).await, json!({"status": "ok"}));
    let contract = client().get(running.url("/openapi.yaml")).send().await.unwrap();
    assert_eq!(contract.status(), StatusCode::OK);
    assert_eq!(contract.headers()["content-type"], "application/yaml");
    let text = contract.text().await.unwrap();
    assert_eq!(text, std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi.yaml")).unwrap());
    // Only GET: these are pages, not routes of the API.
    let posted = client().post(running.url("/health")).send().await.unwrap();
    assert_eq!(posted.status(), StatusCode::NOT_FOUND);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn the_docs_page_shows_the_contract_with_the_vendored_redoc_and_nothing_remote() {
    let running = spawn_echo(&common::options()).await;
    let root = client().get(running.url("/")).send().await.unwrap().text().await.unwrap();
    assert!(root.contains("The contract: /openapi.yaml (OpenAPI 3.1), to read in a browser: /docs"), "{root}");

    let docs = client().get(running.url("/docs")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert_eq!(docs.headers()["content-type"], "text/html; charset=utf-8");
    let page = docs.text().await.unwrap();
    assert!(!page.contains("http://") && !page.contains("https://") && !page.contains("//cdn"), "{page}");
    let addresses: Vec<&str> = ["src=\"", "href=\"", "spec-url=\""]
        .iter()
        .flat_map(|attribute| page.split(attribute).skip(1).map(|rest| rest.split('"').next().unwrap()))
        .collect();
    assert_eq!(addresses, ["/docs/redoc.standalone.js", "/openapi.yaml"], "{page}");
    assert!(addresses.iter().all(|a| a.starts_with('/') && !a.starts_with("//")));

    let script = client().get(running.url("/docs/redoc.standalone.js")).send().await.unwrap();
    assert_eq!(script.status(), StatusCode::OK);
    assert_eq!(script.headers()["content-type"], "text/javascript; charset=utf-8");
    let served = script.bytes().await.unwrap();
    let vendored = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/redoc.standalone.js")).unwrap();
    assert!(served[..] == vendored[..], "the vendored bytes, {} of them, not {}", vendored.len(), served.len());

    let notices = client().get(running.url("/docs/redoc.standalone.js.LICENSE.txt")).send().await.unwrap();
    assert_eq!(notices.status(), StatusCode::OK);
    assert_eq!(notices.headers()["content-type"], "text/plain; charset=utf-8");
    assert!(notices.text().await.unwrap().contains("ReDoc"));
    // Pages, not routes: nothing else under /docs, and only GET.
    for (method, path) in
        [(reqwest::Method::GET, "/docs/"), (reqwest::Method::GET, "/docs/x.js"), (reqwest::Method::POST, "/docs")]
    {
        let response = client().request(method.clone(), running.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{method} {path}");
    }
    running.stop().await.unwrap();
}

fn forged_token(api: &LocalApi, edit: impl FnOnce(&mut Value)) -> String {
    let mut claims = TokenRequest::new(&["headoffice"], None).claims(&retail_local::template::JwtConfig {
        name: "RetailJwt".into(),
        issuer: "https://auth.retail.local".into(),
        audience: vec!["retail-api".into()],
        identity_header: "authorization".into(),
    });
    edit(&mut claims);
    // Signed with the API's own key: only the claims are wrong.
    let header = {
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        h.kid = api.jwks()["keys"][0]["kid"].as_str().map(str::to_owned);
        h
    };
    let pem = std::fs::read(common::key_file()).unwrap();
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_rsa_pem(&pem).unwrap()).unwrap()
}

#[tokio::test]
async fn bad_or_missing_tokens_are_401_from_the_gateway() {
    let running = spawn_echo(&common::options()).await;
    let api = &running.api;
    let good = api.token(&["headoffice"], None);
    let now = retail_local::authorizer::unix_now();
    let mut tampered = good.clone();
    // Flip a character of the signature.
    let last = tampered.pop().unwrap();
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    let cases: Vec<(&str, Option<String>)> = vec![
        ("missing", None),
        ("not bearer", Some(format!("Basic {good}"))),
        ("malformed", Some("Bearer not-a-jwt".into())),
        ("wrong signature", Some(format!("Bearer {tampered}"))),
        ("wrong issuer", Some(format!("Bearer {}", forged_token(api, |c| c["iss"] = json!("https://elsewhere"))))),
        ("wrong audience", Some(format!("Bearer {}", forged_token(api, |c| c["aud"] = json!("other"))))),
        ("expired", Some(format!("Bearer {}", forged_token(api, |c| c["exp"] = json!(now - 1))))),
        ("not yet valid", Some(format!("Bearer {}", forged_token(api, |c| c["nbf"] = json!(now + 300))))),
    ];
    for (what, authorization) in cases {
        let mut request = client().get(running.url("/stores/S001/commodities/MILK-1L"));
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{what}");
        assert_eq!(response.headers()["content-type"], "application/json", "{what}");
        assert!(response.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"), "{what}");
        assert_eq!(json_of(response).await, json!({"message": "Unauthorized"}), "{what}");
    }
    // And the good one passes.
    let response =
        client().get(running.url("/stores/S001/commodities/MILK-1L")).bearer_auth(&good).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 207);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn the_published_jwks_verifies_a_minted_token() {
    let running = spawn_echo(&common::options()).await;
    let jwks = json_of(client().get(running.url("/.well-known/jwks.json")).send().await.unwrap()).await;
    let jwk = &jwks["keys"][0];
    assert_eq!(
        (jwk["kty"].as_str(), jwk["alg"].as_str(), jwk["use"].as_str()),
        (Some("RSA"), Some("RS256"), Some("sig"))
    );
    let token = running.api.token(&["store"], Some("S002"));
    let header = jsonwebtoken::decode_header(&token).unwrap();
    assert_eq!(header.kid.as_deref(), jwk["kid"].as_str());
    let key =
        jsonwebtoken::DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.set_audience(&["retail-api"]);
    validation.set_issuer(&["https://auth.retail.local"]);
    let data = jsonwebtoken::decode::<Value>(&token, &key, &validation).unwrap();
    assert_eq!(data.claims["store_id"], "S002");
    assert_eq!(data.claims["scope"], "store");
    let openid = json_of(client().get(running.url("/.well-known/openid-configuration")).send().await.unwrap()).await;
    assert_eq!(openid["issuer"], "https://auth.retail.local");
    assert_eq!(openid["jwks_uri"], running.url("/.well-known/jwks.json"));
    running.stop().await.unwrap();
}

#[tokio::test]
async fn bodies_over_a_mebibyte_reach_the_function_and_over_ten_megabytes_do_not() {
    let running = spawn_echo(&common::options()).await;
    let token = running.api.token(&["headoffice"], None);
    let two_mib = vec![b'x'; 2 * 1024 * 1024];
    let response =
        client().put(running.url("/commodities/BIG")).bearer_auth(&token).body(two_mib).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 207);
    assert_eq!(json_of(response).await["bodyLength"], 2 * 1024 * 1024);
    let too_big = vec![b'x'; retail_local::MAX_PAYLOAD_BYTES + 1];
    let response =
        client().put(running.url("/commodities/BIG")).bearer_auth(&token).body(too_big).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(json_of(response).await, json!({"message": "Request Entity Too Large"}));
    // Without a Content-Length (chunked), the limit holds as the body is read.
    let answer = chunked_put(running.addr, "/commodities/BIG", &token, 11, 1024 * 1024).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.ends_with(r#"{"message":"Request Entity Too Large"}"#), "{answer}");
    running.stop().await.unwrap();
}

/// A PUT with a chunked body, by hand: `chunks` chunks of `size` bytes. Returns the raw answer.
async fn chunked_put(addr: std::net::SocketAddr, path: &str, token: &str, chunks: usize, size: usize) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "PUT {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b'y'; size];
    for _ in 0..chunks {
        // The gateway may answer and close before the whole body is sent.
        if stream.write_all(format!("{size:x}\r\n").as_bytes()).await.is_err()
            || stream.write_all(&chunk).await.is_err()
            || stream.write_all(b"\r\n").await.is_err()
        {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn binary_bodies_reach_the_function_unchanged() {
    let running = spawn_echo(&common::options()).await;
    let token = running.api.token(&["headoffice"], None);
    let response = client()
        .put(running.url("/commodities/BIN"))
        .bearer_auth(&token)
        .body(vec![0xff, 0xfe, 0x00])
        .send()
        .await
        .unwrap();
    assert_eq!(json_of(response).await["bodyLength"], 3);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn a_panicking_function_is_a_500_from_the_gateway_and_the_server_keeps_serving() {
    let running = spawn_echo(&common::options()).await;
    let token = running.api.token(&["headoffice"], None);
    let client = client();
    let response = client.get(running.url("/stores/PANIC/commodities/X")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(json_of(response).await, json!({"message": "Internal Server Error"}));
    let response = client.get(running.url("/stores/S001/commodities/X")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 207);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn bench_hello_is_served_through_the_authorizer_only_when_asked() {
    let running = spawn_echo(&common::options().bench_hello(true)).await;
    let token = running.api.token(&["pos"], Some("S001"));
    let response = client().get(running.url("/__bench/hello")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["x-request-id"], response.headers()["apigw-requestid"]);
    assert_eq!(json_of(response).await, json!({"hello": "world"}));
    let response = client().get(running.url("/__bench/hello")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    running.stop().await.unwrap();

    let running = spawn_echo(&common::options()).await;
    let response = client().get(running.url("/__bench/hello")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn one_connection_serves_many_requests() {
    let running = spawn_echo(&common::options().bench_hello(true)).await;
    let token = running.api.token(&["pos"], Some("S001"));
    let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().unwrap();
    let mut ids = std::collections::HashSet::new();
    for _ in 0..50 {
        let response = client.get(running.url("/__bench/hello")).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        ids.insert(response.headers()["x-request-id"].to_str().unwrap().to_owned());
    }
    assert_eq!(ids.len(), 50, "every request gets its own id");
    running.stop().await.unwrap();
}

#[tokio::test]
async fn the_real_functions_receive_the_requests() {
    // Whatever the handlers answer today, it comes from the function (problem+json with the
    // gateway's request id), not from the gateway.
    let running = retail_local::spawn(&common::options()).await.unwrap();
    let token = running.api.token(&["pos"], Some("S001"));
    let response =
        client().get(running.url("/stores/S001/commodities/NOPE-1")).bearer_auth(&token).send().await.unwrap();
    let content_type = response.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("application/problem+json"), "{content_type}");
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    assert_eq!(response.headers()["apigw-requestid"], id.as_str());
    assert_eq!(json_of(response).await["requestId"], id);
    running.stop().await.unwrap();
}

#[tokio::test]
async fn in_process_calls_take_the_same_path() {
    let api = LocalApi::start_with(&common::options(), echo_everywhere()).await.unwrap();
    let request = http::Request::get("/stores/S003/sales/abc")
        .header("authorization", format!("Bearer {}", api.token(&["pos"], Some("S003"))))
        .body(String::new())
        .unwrap();
    let response = api.call(request).await;
    assert_eq!(response.status().as_u16(), 207);
    let seen: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(seen["routeKey"], "GET /stores/{storeId}/sales/{saleId}");
    assert_eq!(seen["pathParameters"], json!({"storeId": "S003", "saleId": "abc"}));
    let unauthorized = api.call(http::Request::get("/stores/S003/sales/abc").body(String::new()).unwrap()).await;
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_template_function_with_an_unknown_binary_stops_the_start() {
    let functions = echo_everywhere();
    let dir = common::temp_dir("unknown-binary");
    let template =
        std::fs::read_to_string(common::fixture_template()).unwrap().replace("Binary: checkout", "Binary: till-magic");
    std::fs::write(dir.join("template.yaml"), template).unwrap();
    let options = Options::new(dir.join("template.yaml")).without_seed().key_file(common::key_file());
    let err = LocalApi::start_with(&options, functions).await.err().unwrap().to_string();
    assert!(err.contains("CheckoutFunction") && err.contains("till-magic"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test]
async fn the_workspace_template_routes_every_http_function() {
    let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    if !template.exists() {
        return;
    }
    let options = Options::new(template).without_seed().key_file(common::key_file());
    let api = LocalApi::start(&options).await.unwrap();
    let keys = api.route_keys();
    for expected in [
        "PUT /stores/{storeId}",
        "GET /stores/{storeId}/commodities/{sku}",
        "POST /stores/{storeId}/sales",
        "GET /reports/daily",
    ] {
        assert!(keys.iter().any(|k| k == expected), "{expected} missing from {keys:?}");
    }
}

/// The in-process dashboard takes its settings from the template it is served with (parameters
/// at their defaults), as the deployed function takes them from its environment, and signs in
/// against `retail-local` itself.
#[tokio::test]
async fn the_in_process_dashboard_is_configured_by_the_template() {
    let real = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")).unwrap();
    let changed = real
        .replacen("  DashboardFlashSkus:\n    Type: String\n    Default: \"\"", "  DashboardFlashSkus:\n    Type: String\n    Default: \"FLASH-001, MILK-1L\"", 1)
        .replacen("  ChainTimezone:\n    Type: String\n    Default: Asia/Shanghai", "  ChainTimezone:\n    Type: String\n    Default: Europe/Berlin", 1);
    assert_ne!(changed, real, "the template's dashboard parameters moved: mend this test");
    let dir = common::temp_dir("dashboard-template");
    let path = dir.join("template.yaml");
    std::fs::write(&path, changed).unwrap();
    let options = Options::new(path).without_seed().key_file(common::key_file());
    let functions = Functions::embedded(&retail_core::store::memory::MemoryStore::new());
    let running = retail_local::spawn_api(LocalApi::start_with(&options, functions).await.unwrap()).await.unwrap();
    let config = json_of(client().get(running.url("/dashboard/config.json")).send().await.unwrap()).await;
    assert_eq!(config["flashSkus"], json!(["FLASH-001", "MILK-1L"]), "{config}");
    assert_eq!(config["timezone"], "Europe/Berlin", "{config}");
    assert_eq!(config["clientId"], "dashboard", "{config}");
    assert_eq!(config["discoveryUrl"], "/.well-known/openid-configuration", "{config}");
}
