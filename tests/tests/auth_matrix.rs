//! Who may call what, exhaustively: every route of the contract × every kind of token a careless
//! client or an attacker would send, against a spawned `retail-local` (embedded store, demo
//! data), each answer checked against API.md ("Who may call what", "Answers the gateway gives
//! itself"): a token the gateway must refuse is 401 `{"message":"Unauthorized"}` on every route;
//! a valid token without an accepted scope is 403 `forbidden_scope`; a till or manager acting for
//! another store (or for none, or for the store's id in another case) is 403 `forbidden_store`;
//! an accepted one reaches the function's own checks. No refused request writes anything.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use retail_local::authorizer::{DevKey, TokenRequest, key_path_for, unix_now};
use retail_local::template::{JwtConfig, Template};
use retail_tests::{SpawnedApi, answer, client};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
use serde_json::{Value, json};

/// What a route accepts (API.md, "Routes"), and a request that succeeds for an accepted token.
struct Route {
    method: &'static str,
    path: &'static str,
    /// Empty: an open route, which every request reaches, with any token or none.
    scopes: &'static [&'static str],
    /// `/stores/{storeId}/...`: `pos` and `store` tokens act for their own store only.
    store: bool,
    /// A store's route that `pos` and `store` tokens of any store may read (what is left to
    /// return of a sale: the customer may bring the receipt to another store); they must still
    /// act for some store.
    any_store: bool,
    body: Option<Value>,
    /// For a write: how the first accepted request is answered, which shows that no refused one
    /// wrote before it (a sale or a batch already recorded would be replayed, a commodity
    /// already made would be 200, not 201).
    first_write: Option<fn(&retail_tests::Answer) -> bool>,
}

fn routes() -> Vec<Route> {
    let sale = json!({"terminalId": "T01", "lines": [{"sku": "MILK-1L", "quantity": 1}],
        "payments": [{"method": "cash", "amount": 100000}]});
    let mut batch_entry = sale.clone();
    batch_entry["idempotencyKey"] = json!("authz-batch-1");
    let read = |method, path, scopes, store| Route { method, path, scopes, store, any_store: false, body: None, first_write: None };
    // A return of a sale that does not exist: accepted tokens reach the function's 404.
    let a_return = json!({"terminalId": "T01", "sale": {"storeId": "S001", "saleId": "0b7d7a55-5d3c-4f0e-9d38-2a6f3c1e9a01"},
        "lines": [{"line": 0}], "reason": "unwanted"});
    let created = |a: &retail_tests::Answer| a.status == 201 && a.replayed().is_none();
    // A promotion that takes nothing off anything the other routes sell.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let a_promotion = json!({"name": "Intruder", "scope": "chain", "validTo": tomorrow,
        "rule": {"kind": "percent_off", "percentBp": 1, "skus": ["AUTHZ-NEW"]}});
    vec![
        Route { method: "PUT", path: "/stores/S001", scopes: &["headoffice"], store: true, any_store: false,
            body: Some(json!({"name": "Binjiang", "region": "EAST", "timezone": "Asia/Shanghai"})), first_write: None },
        Route { method: "PUT", path: "/commodities/AUTHZ-NEW", scopes: &["headoffice"], store: false, any_store: false,
            body: Some(json!({"name": "Intruder", "unit": "each", "taxRateBp": 900, "barcodes": [], "stockPolicy": "track"})),
            first_write: Some(created) },
        Route { method: "POST", path: "/stores/S001/stock-movements", scopes: &["store", "headoffice"], store: true, any_store: false,
            body: Some(json!({"movements": [{"sku": "MILK-1L", "delta": 1000, "reason": "receipt"}]})),
            first_write: Some(|a| a.status == 200 && a.replayed().is_none()) },
        read("GET", "/stores/S001/stock/MILK-1L", &["store", "headoffice"], true),
        read("GET", "/dashboard", &[], false),
        read("GET", "/dashboard/app.js", &[], false),
        read("GET", "/stores/S001/commodities/MILK-1L", &["pos", "store", "headoffice"], true),
        read("GET", "/stores/S001/barcodes/6901234567892", &["pos", "store", "headoffice"], true),
        Route { method: "POST", path: "/stores/S001/commodities/lookup", scopes: &["pos", "store", "headoffice"],
            store: true, any_store: false, body: Some(json!({"skus": ["MILK-1L"]})), first_write: None },
        // A page of one commodity: an accepted token gets the snapshot's first page.
        read("GET", "/stores/S001/catalog?limit=1", &["pos", "store", "headoffice"], true),
        Route { method: "POST", path: "/price-adjustments", scopes: &["headoffice"], store: false, any_store: false,
            body: Some(json!({"batchId": "authz-intruder", "adjustments": [{"sku": "MILK-1L", "scope": "chain", "amount": 1}]})),
            first_write: Some(created) },
        read("GET", "/price-adjustments/authz-intruder", &["headoffice"], false),
        read("GET", "/stores/S001/prices/MILK-1L", &["store", "headoffice"], true),
        Route { method: "POST", path: "/stores/S001/sales", scopes: &["pos"], store: true, any_store: false, body: Some(sale),
            first_write: Some(created) },
        Route { method: "POST", path: "/stores/S001/sales/batch", scopes: &["pos"], store: true, any_store: false,
            body: Some(json!({"sales": [batch_entry]})),
            first_write: Some(|a| a.status == 200 && a.body["results"][0]["status"] == 201) },
        read("GET", "/stores/S001/sales/0b7d7a55-5d3c-4f0e-9d38-2a6f3c1e9a01", &["pos", "store", "headoffice"], true),
        read("GET", "/stores/S001/reports/daily?date=2026-11-11", &["store", "headoffice"], true),
        read("GET", "/stores/S001/reports/daily/commodities?date=2026-11-11&limit=5", &["store", "headoffice"], true),
        read("GET", "/reports/daily?date=2026-11-11", &["headoffice"], false),
        Route { method: "POST", path: "/stores/S001/returns", scopes: &["pos", "store"], store: true, any_store: false,
            body: Some(a_return), first_write: None },
        read("GET", "/stores/S001/returns/0b7d7a55-5d3c-4f0e-9d38-2a6f3c1e9a02", &["pos", "store", "headoffice"], true),
        Route { any_store: true,
            ..read("GET", "/stores/S001/sales/0b7d7a55-5d3c-4f0e-9d38-2a6f3c1e9a01/returnable", &["pos", "store", "headoffice"], false) },
        Route { method: "PUT", path: "/promotions/authz-promotion", scopes: &["headoffice"], store: false, any_store: false,
            body: Some(a_promotion), first_write: Some(created) },
        read("GET", "/promotions/authz-promotion", &["headoffice"], false),
        read("GET", "/stores/S001/promotions", &["pos", "store", "headoffice"], true),
    ]
}

/// A token of the matrix, and what API.md says the answer is for a route.
struct Bearer {
    what: &'static str,
    /// The `Authorization` header, if any.
    header: Option<String>,
    expect: Expect,
}

enum Expect {
    /// The gateway refuses it on every route.
    Gateway401,
    /// A valid token: its scopes and store decide, route by route.
    Claims { scopes: &'static [&'static str], store: Option<&'static str> },
}

struct Keys {
    config: JwtConfig,
    ours: DevKey,
    our_pem: String,
    other_pem: String,
    other: DevKey,
}

impl Keys {
    fn load(api: &SpawnedApi) -> Self {
        let template = retail_tests::workspace_root().join("template.yaml");
        // `retail-local token` has made the key beside the template; a second template directory
        // gets a key of its own (another kid).
        let _ = api.token("headoffice", None);
        let our_path = key_path_for(&template);
        let other_dir = std::env::temp_dir().join(format!("retail-authz-other-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&other_dir);
        std::fs::create_dir_all(&other_dir).expect("temp dir");
        let other_path = key_path_for(&other_dir.join("template.yaml"));
        let other = DevKey::load_or_create(&other_path).expect("another key");
        let other_pem = std::fs::read_to_string(&other_path).expect("the other key's PEM");
        let _ = std::fs::remove_dir_all(&other_dir);
        Keys {
            // The authorizer the gateway checks tokens with, as the template declares it.
            config: Template::load(&template).expect("template.yaml parses").token_authorizer.expect("a JWT authorizer"),
            ours: DevKey::load_or_create(&our_path).expect("our key"),
            our_pem: std::fs::read_to_string(&our_path).expect("our key's PEM"),
            other_pem,
            other,
        }
    }

    fn claims(&self, scopes: &[&str], store: Option<&str>, edit: impl FnOnce(&mut Value)) -> Value {
        let mut claims = TokenRequest::new(scopes, store).claims(&self.config);
        edit(&mut claims);
        claims
    }

    fn signed(&self, claims: &Value) -> String {
        self.ours.sign(claims)
    }

    fn header_with(&self, alg: jsonwebtoken::Algorithm) -> jsonwebtoken::Header {
        let mut h = jsonwebtoken::Header::new(alg);
        h.kid = Some(self.ours.kid().to_owned());
        h
    }

    /// Signed with another RSA key, but naming our key's id.
    fn other_key_our_kid(&self, claims: &Value) -> String {
        let key = jsonwebtoken::EncodingKey::from_rsa_pem(self.other_pem.as_bytes()).expect("PEM");
        jsonwebtoken::encode(&self.header_with(jsonwebtoken::Algorithm::RS256), claims, &key).expect("signs")
    }

    /// `alg: none` and no signature, naming our key.
    fn unsigned(&self, claims: &Value) -> String {
        let header = json!({"alg": "none", "typ": "JWT", "kid": self.ours.kid()});
        let part = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("JSON"));
        format!("{}.{}.", part(&header), part(claims))
    }

    /// The classic confusion: HS256 with our public key's PEM as the shared secret.
    fn hs256_with_public_key(&self, claims: &Value) -> String {
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(&self.our_pem).expect("our PKCS#8 key");
        let public = private.to_public_key().to_public_key_pem(LineEnding::LF).expect("public PEM");
        let key = jsonwebtoken::EncodingKey::from_secret(public.as_bytes());
        jsonwebtoken::encode(&self.header_with(jsonwebtoken::Algorithm::HS256), claims, &key).expect("signs")
    }
}

fn bearers(keys: &Keys) -> Vec<Bearer> {
    let now = unix_now();
    let ho = || keys.claims(&["headoffice"], None, |_| {});
    let bearer = |token: String| Some(format!("Bearer {token}"));
    let refused = |what, header| Bearer { what, header, expect: Expect::Gateway401 };
    let valid = |what, scopes: &'static [&'static str], store: Option<&'static str>, token: String| Bearer {
        what,
        header: bearer(token),
        expect: Expect::Claims { scopes, store },
    };
    let mut tampered = keys.signed(&ho());
    let last = tampered.pop().expect("a token");
    tampered.push(if last == 'A' { 'B' } else { 'A' });
    vec![
        refused("no token", None),
        refused("not a bearer", Some(format!("Basic {}", keys.signed(&ho())))),
        refused("malformed", bearer("not-a-jwt".into())),
        refused("three empty parts", bearer("..".into())),
        refused("tampered signature", bearer(tampered)),
        refused("signed by another key", bearer(keys.other.sign(&ho()))),
        refused("signed by another key, naming ours", bearer(keys.other_key_our_kid(&ho()))),
        refused("alg none", bearer(keys.unsigned(&ho()))),
        refused("HS256 signed with the public key", bearer(keys.hs256_with_public_key(&ho()))),
        refused("expired", bearer(keys.signed(&keys.claims(&["headoffice"], None, |c| c["exp"] = json!(now - 1))))),
        refused("not yet valid", bearer(keys.signed(&keys.claims(&["headoffice"], None, |c| c["nbf"] = json!(now + 300))))),
        refused("wrong issuer", bearer(keys.signed(&keys.claims(&["headoffice"], None, |c| c["iss"] = json!("https://elsewhere"))))),
        refused("wrong audience", bearer(keys.signed(&keys.claims(&["headoffice"], None, |c| c["aud"] = json!("other-api"))))),
        valid("no scope claim", &[], None,
            keys.signed(&keys.claims(&["headoffice"], None, |c| drop(c.as_object_mut().expect("claims").remove("scope"))))),
        valid("an unknown scope", &[], None, keys.signed(&keys.claims(&["admin"], None, |_| {}))),
        valid("a scope's name in another case", &[], None, keys.signed(&keys.claims(&["HEADOFFICE"], None, |_| {}))),
        valid("pos of the store", &["pos"], Some("S001"), keys.signed(&keys.claims(&["pos"], Some("S001"), |_| {}))),
        valid("store of the store", &["store"], Some("S001"), keys.signed(&keys.claims(&["store"], Some("S001"), |_| {}))),
        valid("headoffice", &["headoffice"], None, keys.signed(&ho())),
        valid("headoffice naming another store", &["headoffice"], Some("S002"),
            keys.signed(&keys.claims(&["headoffice"], Some("S002"), |_| {}))),
        valid("pos and store of the store", &["pos", "store"], Some("S001"),
            keys.signed(&keys.claims(&["pos", "store"], Some("S001"), |_| {}))),
        valid("pos of another store", &["pos"], Some("S002"), keys.signed(&keys.claims(&["pos"], Some("S002"), |_| {}))),
        valid("store of another store", &["store"], Some("S002"), keys.signed(&keys.claims(&["store"], Some("S002"), |_| {}))),
        valid("pos of no store", &["pos"], None, keys.signed(&keys.claims(&["pos"], None, |_| {}))),
        valid("store of no store", &["store"], None, keys.signed(&keys.claims(&["store"], None, |_| {}))),
        valid("pos of the store in lower case", &["pos"], Some("s001"), keys.signed(&keys.claims(&["pos"], Some("s001"), |_| {}))),
        valid("store of the store in lower case", &["store"], Some("s001"),
            keys.signed(&keys.claims(&["store"], Some("s001"), |_| {}))),
    ]
}

/// API.md's answer for `bearer` on `route`: `Ok(())` when the token may call it, else the status
/// and the body or code.
fn expected(route: &Route, bearer: &Bearer) -> Result<(), (u16, &'static str)> {
    // An open route (the dashboard's page and files): the gateway checks no token.
    if route.scopes.is_empty() {
        return Ok(());
    }
    let Expect::Claims { scopes, store } = &bearer.expect else {
        return Err((401, "Unauthorized"));
    };
    let granted: Vec<&str> = scopes.iter().copied().filter(|s| route.scopes.contains(s)).collect();
    if granted.is_empty() {
        return Err((403, "forbidden_scope"));
    }
    if route.store && !granted.contains(&"headoffice") && *store != Some("S001") {
        return Err((403, "forbidden_store"));
    }
    if route.any_store && !granted.contains(&"headoffice") && store.is_none() {
        return Err((403, "forbidden_store"));
    }
    Ok(())
}

async fn send(api: &SpawnedApi, route: &Route, authorization: Option<&str>) -> retail_tests::Answer {
    let method = reqwest::Method::from_bytes(route.method.as_bytes()).expect("a method");
    let mut request = client().request(method, api.url(route.path));
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    if let Some(body) = &route.body {
        request = request.header("idempotency-key", "authz-matrix-key").json(body);
    }
    answer(request.send().await.expect("an answer")).await
}

/// After every refusal: no commodity, price batch or promotion was made and the stock did not move.
async fn nothing_was_written(api: &SpawnedApi, headoffice: &str, stock_before: &Value) {
    let c = client();
    let get = |path: &str| c.get(api.url(path)).bearer_auth(headoffice).send();
    let a = answer(get("/stores/S001/commodities/AUTHZ-NEW").await.unwrap()).await;
    a.problem(404, "not_found");
    let a = answer(get("/price-adjustments/authz-intruder").await.unwrap()).await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = answer(get("/promotions/authz-promotion").await.unwrap()).await;
    assert_eq!(a.status, 404, "{}", a.body);
    let a = answer(get("/stores/S001/stock/MILK-1L").await.unwrap()).await;
    assert_eq!(&a.ok(200)["onHand"], stock_before, "the stock moved");
}

/// Whether the concrete `path` (its query aside) is an instance of the template's `pattern`.
fn instance_of(pattern: &str, path: &str) -> bool {
    let path = path.split_once('?').map_or(path, |(p, _)| p);
    let (want, got): (Vec<&str>, Vec<&str>) = (pattern.split('/').collect(), path.split('/').collect());
    want.len() == got.len() && want.iter().zip(&got).all(|(w, g)| (w.starts_with('{') && w.ends_with('}')) || w == g)
}

#[test]
fn the_matrix_has_every_route_of_the_template_once() {
    let template = Template::load(&retail_tests::workspace_root().join("template.yaml")).expect("template.yaml parses");
    let routes = routes();
    let mut missing = Vec::new();
    for declared in &template.routes {
        let found = routes.iter().filter(|r| r.method == declared.method && instance_of(&declared.path, r.path)).count();
        if found != 1 {
            missing.push(format!("{} {} ({found} in the matrix)", declared.method, declared.path));
        }
    }
    assert!(missing.is_empty(), "the matrix must have each route of template.yaml once: {missing:?}");
    for route in &routes {
        let served = template.routes.iter().filter(|d| d.method == route.method && instance_of(&d.path, route.path)).count();
        assert_eq!(served, 1, "{} {} is one route of template.yaml", route.method, route.path);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_route_answers_every_kind_of_token_as_the_contract_says() {
    let api = SpawnedApi::spawn(&[]);
    let keys = Keys::load(&api);
    let headoffice = keys.signed(&keys.claims(&["headoffice"], None, |_| {}));
    let stock_before = answer(
        client().get(api.url("/stores/S001/stock/MILK-1L")).bearer_auth(&headoffice).send().await.unwrap(),
    )
    .await
    .ok(200)["onHand"]
        .clone();
    let routes = routes();
    let bearers = bearers(&keys);

    // The refusals first, so that nothing an accepted token writes can hide a refused write.
    let mut checked = 0;
    let mut failures = Vec::new();
    let mut written = std::collections::HashSet::new();
    for accepted_pass in [false, true] {
        for route in &routes {
            for bearer in &bearers {
                let want = expected(route, bearer);
                if want.is_ok() != accepted_pass {
                    continue;
                }
                let a = send(&api, route, bearer.header.as_deref()).await;
                checked += 1;
                let seen = format!("{} {} with {}: {} {}", route.method, route.path, bearer.what, a.status, a.body);
                match want {
                    Err((401, message)) => {
                        if (a.status, a.content_type(), &a.body)
                            != (401, "application/json", &json!({"message": message}))
                        {
                            failures.push(format!("{seen}; want 401 {{\"message\":\"Unauthorized\"}}"));
                        }
                    }
                    Err((status, code)) => {
                        if a.status != status
                            || a.content_type() != "application/problem+json"
                            || a.body["code"] != code
                            || a.body["status"] != status
                        {
                            failures.push(format!("{seen}; want {status} {code} as problem+json"));
                        }
                    }
                    Ok(()) => {
                        if matches!(a.status, 401 | 403) || a.status >= 500 {
                            failures.push(format!("{seen}; want the function's own answer"));
                        } else if let Some(fresh) = route.first_write
                            && written.insert(route.path)
                            && !fresh(&a)
                        {
                            failures.push(format!("{seen}; the first accepted write found one already made"));
                        }
                    }
                }
            }
        }
        if !accepted_pass {
            nothing_was_written(&api, &headoffice, &stock_before).await;
        }
    }
    assert!(failures.is_empty(), "{} of {checked} answers differ from API.md:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(checked, routes.len() * bearers.len(), "every route met every token");
    let writes = routes.iter().filter(|r| r.first_write.is_some()).count();
    assert_eq!(written.len(), writes, "every write route was accepted at least once");
    println!("auth matrix: {} routes × {} tokens = {checked} answers as API.md gives them", routes.len(), bearers.len());
}
