//! Bad input on every route that takes a body, against a spawned `retail-local` (embedded store,
//! demo data): sizes at the exact byte, nesting 100,000 deep, invalid UTF-8, duplicate members at
//! depth, numbers at and past the edges, and header edge cases. Each answer's status and code is
//! API.md's ("Conventions", the error table), never a 500; and nothing is written: after every
//! refusal, the route's first good request is still its first write (201, or a stock movement
//! that is not a replay and moves the stock exactly once). And the query of the routes that
//! page with a cursor, a till's catalog and a store-day's commodities: limits and cursors past
//! the edges.

use retail_tests::{Answer, SpawnedApi, answer, client};
use serde_json::{Value, json};

/// API.md's request body limit.
const LIMIT: usize = 1_048_576;

struct Route {
    method: &'static str,
    path: &'static str,
    /// A good body: written by the test's last, accepted request.
    good: Value,
    /// Where an integer member sits in `good` (a JSON pointer), for the number edge cases.
    integer: Option<&'static str>,
    /// Where an object sits at depth, for a duplicate member inside it.
    nested_object: Option<&'static str>,
    idempotency: Idempotency,
    /// The good request's answer, as the first write with that body and key.
    first_write: fn(&Answer) -> bool,
}

#[derive(Clone, Copy, PartialEq)]
enum Idempotency {
    None,
    Optional,
    Required,
}

fn routes() -> Vec<Route> {
    let created = |a: &Answer| a.status == 201 && a.replayed().is_none();
    let sale = json!({"terminalId": "T01", "lines": [{"sku": "MILK-1L", "quantity": 2}],
        "payments": [{"method": "cash", "amount": 100000}]});
    let mut entry = sale.clone();
    entry["idempotencyKey"] = json!("bad-input-batch-entry");
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    vec![
        Route { method: "PUT", path: "/stores/S0BI", good: json!({"name": "Bad Input", "region": "EAST"}),
            integer: None, nested_object: None, idempotency: Idempotency::None, first_write: created },
        Route { method: "PUT", path: "/commodities/BAD-INPUT-1",
            good: json!({"name": "Bad input", "unit": "each", "taxRateBp": 900, "barcodes": [], "stockPolicy": "track"}),
            integer: Some("/taxRateBp"), nested_object: None, idempotency: Idempotency::None, first_write: created },
        Route { method: "POST", path: "/stores/S001/stock-movements",
            good: json!({"movements": [{"sku": "MILK-1L", "delta": 7, "reason": "receipt"}]}),
            integer: Some("/movements/0/delta"), nested_object: Some("/movements/0"), idempotency: Idempotency::Optional,
            first_write: |a| a.status == 200 && a.replayed().is_none() },
        Route { method: "POST", path: "/stores/S001/commodities/lookup", good: json!({"skus": ["MILK-1L"], "barcodes": []}),
            integer: None, nested_object: None, idempotency: Idempotency::None, first_write: |a| a.status == 200 },
        Route { method: "POST", path: "/price-adjustments",
            good: json!({"batchId": "bad-input-batch", "adjustments": [{"sku": "MILK-1L", "scope": "store:S003", "amount": 1234}]}),
            integer: Some("/adjustments/0/amount"), nested_object: Some("/adjustments/0"), idempotency: Idempotency::None,
            first_write: created },
        Route { method: "POST", path: "/stores/S001/sales", good: sale,
            integer: Some("/payments/0/amount"), nested_object: Some("/lines/0"), idempotency: Idempotency::Required,
            first_write: created },
        Route { method: "POST", path: "/stores/S001/sales/batch", good: json!({"sales": [entry]}),
            integer: Some("/sales/0/payments/0/amount"), nested_object: Some("/sales/0/lines/0"),
            idempotency: Idempotency::None,
            first_write: |a| a.status == 200 && a.body["results"][0]["status"] == 201 },
        Route { method: "PUT", path: "/promotions/bad-input-promotion",
            good: json!({"name": "Bad input", "scope": "chain", "validTo": tomorrow,
                "rule": {"kind": "percent_off", "percentBp": 1, "skus": ["BAD-INPUT-1"]}}),
            integer: Some("/rule/percentBp"), nested_object: Some("/rule"), idempotency: Idempotency::None, first_write: created },
    ]
}

/// One bad request: its body bytes, its headers, and API.md's answer.
struct Case {
    what: String,
    body: Vec<u8>,
    content_type: Option<&'static str>,
    idempotency_key: Vec<&'static str>,
    status: u16,
    code: &'static str,
    /// Refused in its batch entry's result (200 for the batch), not for the whole batch: what
    /// API.md says of an entry's own values.
    in_entry: bool,
}

const KEY: &str = "bad-input-key-1";
/// One character past API.md's 1–64.
const KEY_65: &str = "k2345678901234567890123456789012345678901234567890123456789012345";

/// `good` rendered with `value` (raw JSON text) at `pointer`.
fn with_raw(good: &Value, pointer: &str, raw: &str) -> Vec<u8> {
    const MARK: &str = "\u{1}MARK\u{1}";
    let mut v = good.clone();
    *v.pointer_mut(pointer).expect("the pointer names a member") = json!(MARK);
    serde_json::to_string(&v).expect("JSON").replacen(&format!("\"{MARK}\""), raw, 1).into_bytes()
}

/// `good`, with the first member of the object at `pointer` repeated inside it.
fn with_duplicate(good: &Value, pointer: &str) -> Vec<u8> {
    let object = good.pointer(pointer).and_then(Value::as_object).expect("an object");
    let (name, value) = object.iter().next().expect("a member");
    let text = serde_json::to_string(good).expect("JSON");
    let member = format!("{}:{}", json!(name), value);
    // serde_json writes members in order without spaces; the first occurrence of this exact
    // member text is inside the object (every test body keeps it unique).
    assert_eq!(text.matches(&member).count(), 1, "{member} is unique in {text}");
    text.replacen(&member, &format!("{member},{member}"), 1).into_bytes()
}

fn padded(good: &Value, len: usize) -> Vec<u8> {
    let mut body = serde_json::to_vec(good).expect("JSON");
    assert!(body.len() < len);
    body.resize(len, b' ');
    body
}

fn cases(route: &Route) -> Vec<Case> {
    let good = serde_json::to_vec(&route.good).expect("JSON");
    let text = String::from_utf8(good.clone()).expect("UTF-8");
    let keys = if route.idempotency == Idempotency::Required { vec![KEY] } else { vec![] };
    let case = |what: &str, body: Vec<u8>, status, code| Case {
        what: what.into(),
        body,
        content_type: Some("application/json"),
        idempotency_key: keys.clone(),
        status,
        code,
        in_entry: false,
    };
    let deep = |inner: &str| format!("{}{inner}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut out = vec![
        case("one byte over the limit", padded(&route.good, LIMIT + 1), 413, "payload_too_large"),
        case("a mebibyte over the limit", padded(&route.good, 2 * LIMIT), 413, "payload_too_large"),
        case("nesting 100,000 deep", deep("").into_bytes(), 400, "invalid_request"),
        case("an object nested 100,000 deep", format!("{}{}", "{\"a\":".repeat(100_000), "1".to_owned() + &"}".repeat(100_000)).into_bytes(), 400, "invalid_request"),
        case("a member nesting 100,000 deep", format!("{{\"deep\":{}}}", deep("1")).into_bytes(), 400, "invalid_request"),
        case("invalid UTF-8 in a string", {
            let mut b = text.replacen('"', "\"\u{1}", 1).into_bytes();
            let at = b.iter().position(|&c| c == 1).expect("the mark");
            b[at] = 0xff;
            b
        }, 400, "invalid_request"),
        case("a lone surrogate escape", {
            // Into the first string value (after `:"` or `["`).
            let at = [":\"", "[\""].iter().filter_map(|p| text.find(p)).min().expect("a string value") + 2;
            format!("{}\\ud800{}", &text[..at], &text[at..]).into_bytes()
        }, 400, "invalid_request"),
        case("a duplicate member at the top", {
            let (name, value) = route.good.as_object().expect("an object").iter().next().expect("a member");
            format!("{{{}:{value},{}", json!(name), &text[1..]).into_bytes()
        }, 400, "invalid_request"),
        case("not JSON", b"{".to_vec(), 400, "invalid_request"),
        case("an empty body", Vec::new(), 400, "invalid_request"),
        case("null", b"null".to_vec(), 400, "invalid_request"),
        case("an array", b"[]".to_vec(), 400, "invalid_request"),
        case("trailing garbage", [good.as_slice(), b" x"].concat(), 400, "invalid_request"),
        case("two documents", [good.as_slice(), good.as_slice()].concat(), 400, "invalid_request"),
        case("an unknown member", text.replacen('{', "{\"unknownMember\":1,", 1).into_bytes(), 400, "invalid_request"),
    ];
    out.push(Case { content_type: Some("text/plain"), ..case("text/plain", good.clone(), 415, "unsupported_media_type") });
    out.push(Case { content_type: None, ..case("no content type", good.clone(), 415, "unsupported_media_type") });
    out.push(Case {
        content_type: Some("application/jsonx"),
        ..case("a content type that only starts like JSON", good.clone(), 415, "unsupported_media_type")
    });
    if let Some(pointer) = route.nested_object {
        out.push(case("a duplicate member at depth", with_duplicate(&route.good, pointer), 400, "invalid_request"));
    }
    if let Some(pointer) = route.integer {
        for raw in ["1.0", "1.5", "1e2", "1E+2", "1e400", "-1e400", "9223372036854775808", "-9223372036854775809",
            "18446744073709551616", "123456789012345678901234567890", "\"1\"", "true", "null", "[1]", "0x10", "+1", "01", "NaN", "Infinity"]
        {
            // `null` is "absent" for optional members; these integers are all required.
            out.push(Case {
                in_entry: route.path.ends_with("/batch"),
                ..case(&format!("{pointer} = {raw}"), with_raw(&route.good, pointer, raw), 400, "invalid_request")
            });
        }
    }
    match route.idempotency {
        Idempotency::None => {}
        Idempotency::Optional | Idempotency::Required => {
            for (what, keys) in [
                ("an empty idempotency key", vec![""]),
                ("a 65-character idempotency key", vec![KEY_65]),
                ("an idempotency key with a space", vec!["bad key"]),
                ("an idempotency key with a dot", vec!["bad.key"]),
                ("two idempotency keys", vec![KEY, "bad-input-key-2"]),
            ] {
                out.push(Case { idempotency_key: keys, ..case(what, good.clone(), 400, "invalid_request") });
            }
            if route.idempotency == Idempotency::Required {
                out.push(Case {
                    idempotency_key: vec![],
                    ..case("no idempotency key", good.clone(), 400, "missing_idempotency_key")
                });
            }
        }
    }
    out
}

async fn send(api: &SpawnedApi, token: &str, route: &Route, case: &Case) -> Answer {
    let method = reqwest::Method::from_bytes(route.method.as_bytes()).expect("a method");
    let mut request = client().request(method, api.url(route.path)).bearer_auth(token).body(case.body.clone());
    if let Some(ct) = case.content_type {
        request = request.header("content-type", ct);
    }
    for key in &case.idempotency_key {
        request = request.header("idempotency-key", *key);
    }
    answer(request.send().await.expect("an answer")).await
}

fn token_for(api: &SpawnedApi, route: &Route) -> String {
    if route.path.starts_with("/stores/S001/sales") {
        api.token("pos", Some("S001"))
    } else {
        api.token("headoffice", None)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_body_route_refuses_bad_input_with_the_contracts_code_and_writes_nothing() {
    assert_eq!(KEY_65.len(), 65);
    let api = SpawnedApi::spawn(&[]);
    let headoffice = api.token("headoffice", None);
    let stock = |a: Answer| a.ok(200)["onHand"].as_i64().expect("onHand");
    let stock_url = api.url("/stores/S001/stock/MILK-1L");
    let stock_before = stock(answer(client().get(&stock_url).bearer_auth(&headoffice).send().await.unwrap()).await);

    let mut failures = Vec::new();
    let mut checked = 0;
    for route in routes() {
        let token = token_for(&api, &route);
        for case in cases(&route) {
            let a = send(&api, &token, &route, &case).await;
            checked += 1;
            let answered = if case.in_entry {
                let entry = &a.body["results"][0];
                a.status == 200 && entry["status"] == case.status && entry["problem"]["code"] == case.code
            } else {
                a.status == case.status && a.content_type() == "application/problem+json" && a.body["code"] == case.code
            };
            if !answered {
                let body = a.body.to_string();
                failures.push(format!(
                    "{} {} with {}: {} {} {}; want {} {}",
                    route.method, route.path, case.what, a.status, a.content_type(),
                    &body[..body.len().min(300)], case.status, case.code
                ));
            }
        }
        // The good body, padded to exactly the limit, sent as `application/json; charset=utf-8`
        // with the key the bad requests carried: the route's first write.
        let good = Case {
            what: "the good body at exactly the limit".into(),
            body: padded(&route.good, LIMIT),
            content_type: Some("application/json; charset=utf-8"),
            idempotency_key: if route.idempotency == Idempotency::None { vec![] } else { vec![KEY] },
            status: 0,
            code: "",
            in_entry: false,
        };
        let a = send(&api, &token, &route, &good).await;
        if !(route.first_write)(&a) {
            failures.push(format!("{} {} with {}: {} {} (a refused request wrote, or the good body is refused)",
                route.method, route.path, good.what, a.status, a.body));
        }
    }
    // The stock moved once: by the one good movement, not by any refused one.
    let stock_after = stock(answer(client().get(&stock_url).bearer_auth(&headoffice).send().await.unwrap()).await);
    assert!(failures.is_empty(), "{} of {checked} answers differ from API.md:\n{}", failures.len(), failures.join("\n"));
    // The good sale took 2 and the good batch entry 2 more; the good movement brought 7.
    assert_eq!(stock_after, stock_before + 7 - 2 - 2, "the stock moved by the good requests only");
    println!("bad input: {checked} refusals over {} body routes, as API.md gives them", routes().len());
}

/// `GET /stores/{storeId}/catalog?cursor=&limit=`: a `limit` that is not a whole number from 1 to
/// 1000, or a `cursor` this API did not give, gave for another store, or longer than any it
/// gives, is 400 `invalid_request` (before an unknown store's 404); a cursor older than 7 days is
/// 410 `cursor_expired`. A till's token is refused the same way as head office's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_catalog_refuses_bad_query_parameters_with_the_contracts_code() {
    use chrono::{Duration, Utc};
    use retail_core::domain::catalog_feed::{CatalogCursor, FeedPosition, Position};
    use retail_core::domain::{RegionId, StoreId};

    let api = SpawnedApi::spawn(&[]);
    let headoffice = api.token("headoffice", None);
    let till = api.token("pos", Some("S001"));
    let get = |token: &str, store: &str, query: &str| {
        let url = api.url(&format!("/stores/{store}/catalog?{query}"));
        let request = client().get(url).bearer_auth(token);
        async move { answer(request.send().await.expect("an answer")).await }
    };
    // A real cursor of S002, as the route gives it.
    let of_s002 = get(&headoffice, "S002", "limit=1").await;
    let of_s002 = of_s002.ok(200)["cursor"].as_str().expect("a cursor").to_owned();
    // A cursor this API could have given but for its length: a position past any it writes.
    let s001 = StoreId::parse("S001").expect("a store id");
    let east = RegionId::parse("EAST").expect("a region");
    // (A position must name what it records, so the length comes from padding the text.)
    let long_position = FeedPosition::before(Utc::now());
    let too_long = CatalogCursor {
        store: s001,
        region: east.clone(),
        issued: Utc::now(),
        position: Position::Changes { after: long_position },
    }
    .encode()
        + &"A".repeat(1_100);
    assert!(too_long.len() > 1024, "{} characters", too_long.len());
    // Cursors only the clock could make: given 8 days ago.
    let expired_of = |store: &str| {
        let issued = Utc::now() - Duration::days(8);
        CatalogCursor {
            store: StoreId::parse(store).expect("a store id"),
            region: east.clone(),
            issued,
            position: Position::Changes { after: FeedPosition::before(issued) },
        }
        .encode()
    };
    let expired = expired_of("S001");

    let huge = "9".repeat(40);
    let garbage_cursor = format!("cursor={}", "A".repeat(1025));
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("limit 0", "limit=0".into(), 400, "invalid_request"),
        ("limit 1001", "limit=1001".into(), 400, "invalid_request"),
        ("limit -1", "limit=-1".into(), 400, "invalid_request"),
        ("limit 1.5", "limit=1.5".into(), 400, "invalid_request"),
        ("limit 1.0", "limit=1.0".into(), 400, "invalid_request"),
        ("limit 1e2", "limit=1e2".into(), 400, "invalid_request"),
        ("limit +5", "limit=%2B5".into(), 400, "invalid_request"),
        // `+` in a query is a space.
        ("limit ' 5'", "limit=+5".into(), 400, "invalid_request"),
        ("limit abc", "limit=abc".into(), 400, "invalid_request"),
        ("limit 0x10", "limit=0x10".into(), 400, "invalid_request"),
        ("an empty limit", "limit=".into(), 400, "invalid_request"),
        ("a huge limit", format!("limit={huge}"), 400, "invalid_request"),
        ("limit 2^64", "limit=18446744073709551616".into(), 400, "invalid_request"),
        ("a full-width digit", "limit=%EF%BC%95".into(), 400, "invalid_request"),
        ("an empty cursor", "cursor=".into(), 400, "invalid_request"),
        ("a garbage cursor", "cursor=garbage".into(), 400, "invalid_request"),
        ("a cursor of JSON", "cursor=%7B%7D".into(), 400, "invalid_request"),
        ("a NUL cursor", "cursor=%00".into(), 400, "invalid_request"),
        ("1025 characters of cursor", garbage_cursor, 400, "invalid_request"),
        ("an over-long cursor, well-formed", format!("cursor={too_long}"), 400, "invalid_request"),
        ("a cursor of S002", format!("cursor={of_s002}"), 400, "invalid_request"),
        ("a cursor of S002 with a bad limit", format!("cursor={of_s002}&limit=0"), 400, "invalid_request"),
        ("a cursor of S002 with a tail", format!("cursor={of_s002}x"), 400, "invalid_request"),
        ("a cursor older than 7 days", format!("cursor={expired}"), 410, "cursor_expired"),
        ("an expired cursor with a bad limit", format!("cursor={expired}&limit=1001"), 400, "invalid_request"),
    ];

    let mut failures = Vec::new();
    let mut checked = 0;
    for (who, token) in [("head office", &headoffice), ("a till of S001", &till)] {
        for (what, query, status, code) in &cases {
            let a = get(token, "S001", query).await;
            checked += 1;
            if (a.status, a.content_type(), a.body["code"].as_str()) != (*status, "application/problem+json", Some(*code))
                || a.body["status"] != *status
            {
                let body = a.body.to_string();
                failures.push(format!("{who}, {what} (?{}): {} {} {}; want {status} {code}",
                    &query[..query.len().min(80)], a.status, a.content_type(), &body[..body.len().min(300)]));
            }
        }
    }
    // 400 before 404: a bad limit, or another store's cursor, on a store that does not exist;
    // 404 before 410: the store is looked up before the cursor's age.
    for (what, query, status, code) in [
        ("a bad limit", "limit=0".to_owned(), 400, "invalid_request"),
        ("a cursor of S002", format!("cursor={of_s002}"), 400, "invalid_request"),
        ("an expired cursor of S001", format!("cursor={expired}"), 400, "invalid_request"),
        ("an expired cursor of its own", format!("cursor={}", expired_of("S404")), 404, "not_found"),
        ("no cursor", String::new(), 404, "not_found"),
    ] {
        let a = get(&headoffice, "S404", &query).await;
        checked += 1;
        if (a.status, a.content_type(), a.body["code"].as_str()) != (status, "application/problem+json", Some(code)) {
            failures.push(format!("S404, {what}: {} {}; want {status} {code}", a.status, a.body));
        }
    }
    // The edges that are accepted: 1 and 1000, no limit, and S002's own cursor.
    for (store, query) in [("S001", "limit=1".to_owned()), ("S001", "limit=1000".to_owned()), ("S001", String::new()),
        ("S002", format!("cursor={of_s002}"))]
    {
        let a = get(&headoffice, store, &query).await;
        if a.status != 200 || a.body["storeId"] != store {
            failures.push(format!("{store} ?{query}: {} {}; want 200", a.status, a.body));
        }
    }
    assert!(failures.is_empty(), "{} of {checked} answers differ from API.md:\n{}", failures.len(), failures.join("\n"));
    println!("bad input: {checked} refusals of the catalog's query, as API.md gives them");
}

/// `GET /stores/{storeId}/reports/daily/commodities?date=&cursor=&limit=`: a missing or malformed
/// `date`, a `limit` that is not a whole number from 1 to 1000, or a `cursor` this API did not
/// give, gave for another store or another date, or longer than any it gives, is 400
/// `invalid_request`, before an unknown store's 404. A manager's token is refused the same way as
/// head office's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_daily_commodities_refuse_bad_query_parameters_with_the_contracts_code() {
    use chrono::NaiveDate;
    use retail_core::domain::report::DayCommoditiesCursor;
    use retail_core::domain::{Sku, StoreId};

    let api = SpawnedApi::spawn(&[]);
    let headoffice = api.token("headoffice", None);
    let manager = api.token("store", Some("S001"));
    let get = |token: &str, store: &str, query: &str| {
        let url = api.url(&format!("/stores/{store}/reports/daily/commodities?{query}"));
        let request = client().get(url).bearer_auth(token);
        async move { answer(request.send().await.expect("an answer")).await }
    };
    let date = NaiveDate::from_ymd_opt(2026, 11, 11).expect("a date");
    let cursor_of = |store: &str, date: NaiveDate| {
        DayCommoditiesCursor { store: StoreId::parse(store).expect("a store id"), date, after: Sku::parse("MILK-1L").expect("a sku") }
            .encode()
    };
    let own = cursor_of("S001", date);
    let of_s002 = cursor_of("S002", date);
    let of_the_day_before = cursor_of("S001", date.pred_opt().expect("a day before"));
    let too_long = format!("{own}{}", "A".repeat(1_100));
    let huge = "9".repeat(40);
    let d = "date=2026-11-11";
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("no date", String::new(), 400, "invalid_request"),
        ("an empty date", "date=".into(), 400, "invalid_request"),
        ("a date of month 13", "date=2026-13-01".into(), 400, "invalid_request"),
        ("a date written the American way", "date=11%2F11%2F2026".into(), 400, "invalid_request"),
        ("a date with a time", "date=2026-11-11T00:00:00Z".into(), 400, "invalid_request"),
        ("a cursor without a date", format!("cursor={own}"), 400, "invalid_request"),
        ("limit 0", format!("{d}&limit=0"), 400, "invalid_request"),
        ("limit 1001", format!("{d}&limit=1001"), 400, "invalid_request"),
        ("limit -1", format!("{d}&limit=-1"), 400, "invalid_request"),
        ("limit 1.5", format!("{d}&limit=1.5"), 400, "invalid_request"),
        ("limit 1e2", format!("{d}&limit=1e2"), 400, "invalid_request"),
        ("limit +5", format!("{d}&limit=%2B5"), 400, "invalid_request"),
        // `+` in a query is a space.
        ("limit ' 5'", format!("{d}&limit=+5"), 400, "invalid_request"),
        ("limit abc", format!("{d}&limit=abc"), 400, "invalid_request"),
        ("an empty limit", format!("{d}&limit="), 400, "invalid_request"),
        ("a huge limit", format!("{d}&limit={huge}"), 400, "invalid_request"),
        ("a full-width digit", format!("{d}&limit=%EF%BC%95"), 400, "invalid_request"),
        ("an empty cursor", format!("{d}&cursor="), 400, "invalid_request"),
        ("a garbage cursor", format!("{d}&cursor=garbage"), 400, "invalid_request"),
        ("a cursor of JSON", format!("{d}&cursor=%7B%7D"), 400, "invalid_request"),
        ("a NUL cursor", format!("{d}&cursor=%00"), 400, "invalid_request"),
        ("1025 characters of cursor", format!("{d}&cursor={}", "A".repeat(1025)), 400, "invalid_request"),
        ("an over-long cursor, well-formed", format!("{d}&cursor={too_long}"), 400, "invalid_request"),
        ("a cursor of S002", format!("{d}&cursor={of_s002}"), 400, "invalid_request"),
        ("a cursor of the day before", format!("{d}&cursor={of_the_day_before}"), 400, "invalid_request"),
        ("a cursor with a tail", format!("{d}&cursor={own}x"), 400, "invalid_request"),
        ("a cursor of S002 with a bad limit", format!("{d}&cursor={of_s002}&limit=0"), 400, "invalid_request"),
    ];

    let mut failures = Vec::new();
    let mut checked = 0;
    for (who, token) in [("head office", &headoffice), ("a manager of S001", &manager)] {
        for (what, query, status, code) in &cases {
            let a = get(token, "S001", query).await;
            checked += 1;
            if (a.status, a.content_type(), a.body["code"].as_str()) != (*status, "application/problem+json", Some(*code))
                || a.body["status"] != *status
            {
                let body = a.body.to_string();
                failures.push(format!("{who}, {what} (?{}): {} {} {}; want {status} {code}",
                    &query[..query.len().min(80)], a.status, a.content_type(), &body[..body.len().min(300)]));
            }
        }
    }
    // 400 before 404: a bad date, limit or cursor on a store that does not exist.
    for (what, query, status, code) in [
        ("no date", String::new(), 400, "invalid_request"),
        ("a bad limit", format!("{d}&limit=0"), 400, "invalid_request"),
        ("a cursor of S001", format!("{d}&cursor={own}"), 400, "invalid_request"),
        ("a cursor of its own", format!("{d}&cursor={}", cursor_of("S404", date)), 404, "not_found"),
        ("no cursor", d.to_owned(), 404, "not_found"),
    ] {
        let a = get(&headoffice, "S404", &query).await;
        checked += 1;
        if (a.status, a.content_type(), a.body["code"].as_str()) != (status, "application/problem+json", Some(code)) {
            failures.push(format!("S404, {what}: {} {}; want {status} {code}", a.status, a.body));
        }
    }
    // The edges that are accepted: 1 and 1000, no limit, and the store's own cursor.
    for query in [format!("{d}&limit=1"), format!("{d}&limit=1000"), d.to_owned(), format!("{d}&cursor={own}")] {
        let a = get(&manager, "S001", &query).await;
        if a.status != 200 || a.body["storeId"] != "S001" || a.body["date"] != "2026-11-11" {
            failures.push(format!("S001 ?{query}: {} {}; want 200", a.status, a.body));
        }
    }
    assert!(failures.is_empty(), "{} of {checked} answers differ from API.md:\n{}", failures.len(), failures.join("\n"));
    println!("bad input: {checked} refusals of a store-day's commodities query, as API.md gives them");
}
