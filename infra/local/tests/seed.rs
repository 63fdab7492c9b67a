//! Seeding goes through the functions: every item is a head-office request through the gateway,
//! and the first refusal stops the start, naming the item and the function's answer.

mod common;

use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use retail_core::http::HttpFunction;
use retail_core::http::function::ResponseFuture;
use retail_local::seed::SeedError;
use retail_local::{Functions, LocalApi, StartError};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

/// Records every call and answers 201 (or 409 for one chosen path).
#[derive(Clone, Default)]
struct Recorder {
    calls: Arc<Mutex<Vec<(String, Value, Value)>>>,
    refuse_path: Option<String>,
}

impl HttpFunction for Recorder {
    fn call(&self, request: lambda_http::Request) -> ResponseFuture<'_> {
        Box::pin(async move {
            let RequestContext::ApiGatewayV2(ctx) = request.request_context() else { panic!("not v2") };
            let claims = json!(ctx.authorizer.unwrap().jwt.unwrap().claims);
            let body: Value = match request.body() {
                Body::Text(t) => serde_json::from_str(t).unwrap(),
                _ => Value::Null,
            };
            let line = format!("{} {}", request.method(), request.uri().path());
            self.calls.lock().unwrap().push((line.clone(), claims, body));
            if self.refuse_path.as_deref() == Some(request.uri().path()) {
                return http::Response::builder()
                    .status(409)
                    .header("content-type", "application/problem+json")
                    .body(Body::from(r#"{"code":"barcode_taken","detail":"6921000000000 is taken"}"#))
                    .unwrap();
            }
            let answer =
                if request.uri().path() == "/price-adjustments" { r#"{"accepted":1,"rejected":[]}"# } else { "{}" };
            http::Response::builder()
                .status(201)
                .header("content-type", "application/json")
                .body(Body::from(answer))
                .unwrap()
        })
    }
}

fn recorded(recorder: &Recorder) -> Functions {
    Functions::empty()
        .with("catalog-admin", recorder.clone())
        .with("price-adjustment", recorder.clone())
        .with("commodity-lookup", recorder.clone())
        .with("checkout", recorder.clone())
        .with("sales-report", recorder.clone())
}

#[tokio::test]
async fn every_seed_item_reaches_its_function_as_a_headoffice_request() {
    let recorder = Recorder::default();
    let options = common::options().seed_dir(common::workspace_seed_dir());
    let api = LocalApi::start_with(&options, recorded(&recorder)).await.unwrap();
    let summary = api.seeded().unwrap().clone();
    assert_eq!((summary.stores, summary.commodities), (3, 1000));
    assert!(summary.price_lines >= 1000);
    assert_eq!(summary.stock_movements, 3000);

    let calls = recorder.calls.lock().unwrap();
    let count = |prefix: &str| calls.iter().filter(|(line, _, _)| line.starts_with(prefix)).count();
    assert_eq!(count("PUT /stores/"), 3);
    assert_eq!(count("PUT /commodities/"), 1000);
    assert!(count("POST /price-adjustments") >= 1);
    assert_eq!(count("POST /stores/S001/stock-movements"), 10);
    assert_eq!(summary.sales, 120);
    assert_eq!(count("POST /stores/S001/sales/batch"), 1);
    assert_eq!((summary.promotions, count("PUT /promotions/")), (3, 3));
    // Stores first, then the catalog, then prices, then stock, then yesterday's sales, then the
    // promotions, which start now.
    assert_eq!(calls[0].0, "PUT /stores/S001");
    assert_eq!(calls[3].0, "PUT /commodities/MILK-1L");
    let last_sales = calls.iter().rposition(|(line, _, _)| line.ends_with("/sales/batch")).unwrap();
    assert!(calls[last_sales + 1..].iter().all(|(line, _, _)| line.starts_with("PUT /promotions/")));
    for (line, claims, body) in calls.iter() {
        if line.ends_with("/sales/batch") {
            // Sales come from the store's tills.
            assert_eq!(claims["scope"], "pos", "{line}");
            assert_eq!(format!("POST /stores/{}/sales/batch", claims["store_id"].as_str().unwrap()), *line);
            assert_eq!(body["sales"].as_array().unwrap().len(), 40);
        } else {
            assert_eq!(claims["scope"], "headoffice", "{line}");
            assert!(claims.get("store_id").is_none(), "{line}");
        }
    }
    let milk = calls.iter().find(|(line, _, _)| line == "PUT /commodities/MILK-1L").unwrap();
    assert_eq!(milk.2["barcodes"], json!(["6901234567892"]));
    // A promotion's window is set at load: from now, for the days the seed names.
    let promotion = calls.iter().find(|(line, _, _)| line == "PUT /promotions/spend-300-save-50").unwrap();
    let from = chrono::DateTime::parse_from_rfc3339(promotion.2["validFrom"].as_str().unwrap()).unwrap();
    let to = chrono::DateTime::parse_from_rfc3339(promotion.2["validTo"].as_str().unwrap()).unwrap();
    assert_eq!(to - from, chrono::Duration::days(30));
    assert!((chrono::Utc::now() - from.with_timezone(&chrono::Utc)).num_minutes() < 10);
}

#[tokio::test]
async fn a_refused_seed_item_stops_the_start_and_says_which_and_why() {
    let recorder = Recorder { refuse_path: Some("/commodities/APPLE-FUJI".into()), ..Recorder::default() };
    let options = common::options().seed_dir(common::workspace_seed_dir());
    let err = LocalApi::start_with(&options, recorded(&recorder)).await.err().unwrap();
    let StartError::Seed(SeedError::Refused { ref file, index, status, ref body, .. }) = err else { panic!("{err}") };
    assert_eq!((file.as_str(), index, status), ("commodities.json", 1, 409));
    assert!(body.contains("barcode_taken"));
    let message = err.to_string();
    assert!(message.contains("PUT /commodities/APPLE-FUJI") && message.contains("409"), "{message}");
    // Nothing after the refusal was sent.
    assert_eq!(recorder.calls.lock().unwrap().len(), 3 + 2);
}

#[tokio::test]
async fn a_missing_seed_directory_is_a_clear_error() {
    let dir = common::temp_dir("no-seed");
    let options = common::options().seed_dir(dir.join("absent"));
    let err = LocalApi::start_with(&options, recorded(&Recorder::default())).await.err().unwrap().to_string();
    assert!(err.contains("stores.json") && err.contains("--no-seed"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Through the real handlers: this pins the README walk-through's data.
#[tokio::test]
async fn the_demo_data_seeds_through_the_real_functions() {
    let options = common::options().seed_dir(common::workspace_seed_dir());
    let api = LocalApi::start(&options).await.unwrap();
    let seeded = api.seeded().unwrap();
    assert_eq!((seeded.stores, seeded.commodities), (3, 1000));
    let get = |path: &str, token: &str| {
        http::Request::get(path).header("authorization", format!("Bearer {token}")).body(String::new()).unwrap()
    };
    let pos = api.token(&["pos"], Some("S001"));
    let milk = api.call(get("/stores/S001/barcodes/6901234567892", &pos)).await;
    assert_eq!(milk.status(), 200, "{:?}", milk.body());
    let milk: Value = serde_json::from_slice(milk.body()).unwrap();
    assert_eq!(milk["sku"], "MILK-1L");
    assert!(milk["price"]["amount"].as_i64().unwrap() > 0);
    // A scale label for 1.250 kg of Fuji apples: 21 12345 01250 + check digit.
    let body = "211234501250";
    let label = format!("{body}{}", retail_core::domain::barcode::gs1_check_digit(body.as_bytes()));
    let apple = api.call(get(&format!("/stores/S001/barcodes/{label}"), &pos)).await;
    assert_eq!(apple.status(), 200, "{:?}", apple.body());
    let apple: Value = serde_json::from_slice(apple.body()).unwrap();
    assert_eq!(apple["sku"], "APPLE-FUJI");
    assert_eq!(apple["scanned"]["weightGrams"], 1250);
    let flash = api.call(get("/stores/S003/commodities/FLASH-001", &pos)).await;
    assert_eq!(flash.status(), 403, "a S001 till cannot look into S003");
    let flash = api.call(get("/stores/S003/commodities/FLASH-001", &api.token(&["pos"], Some("S003")))).await;
    let flash: Value = serde_json::from_slice(flash.body()).unwrap();
    assert_eq!(flash["stock"]["policy"], "strict");
    assert_eq!(flash["stock"]["onHand"], 50);
}
