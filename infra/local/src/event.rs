//! The HTTP API payload-format-2.0 event API Gateway hands a function, built from an HTTP
//! request, and the `lambda_http::Request` a function receives from it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderMap;
use lambda_http::request::LambdaRequest;
use serde_json::{Map, Value, json};
use std::net::IpAddr;

use crate::routes::percent_decode;

/// What API Gateway knows about a request when it invokes the route's function.
#[derive(Debug, Clone)]
pub struct EventInput<'a> {
    pub method: &'a str,
    /// The path as sent, still percent-encoded.
    pub raw_path: &'a str,
    /// The query as sent, without `?`; empty when there is none.
    pub raw_query: &'a str,
    pub headers: &'a HeaderMap,
    /// `"GET /stores/{storeId}/commodities/{sku}"`.
    pub route_key: &'a str,
    /// Decoded path parameters.
    pub path_params: &'a [(&'a str, String)],
    /// Flattened JWT claims, when the route has an authorizer.
    pub claims: Option<&'a Map<String, Value>>,
    pub request_id: &'a str,
    pub source_ip: IpAddr,
    /// The Host the client addressed (`127.0.0.1:3000`): a valid authority.
    pub domain_name: &'a str,
    /// The port the gateway listens on, for `x-forwarded-port`.
    pub local_port: u16,
    pub body: &'a [u8],
    pub now: chrono::DateTime<chrono::Utc>,
}

/// Account and API id in every event: recognisably not AWS.
pub const ACCOUNT_ID: &str = "000000000000";
pub const API_ID: &str = "retaillocal";

/// The event as JSON, in API Gateway's exact shape: header names lower-case with repeated
/// headers comma-joined, cookies split out, query parameters decoded and comma-joined, path
/// parameters decoded, the body as text when it is UTF-8 and base64 otherwise.
pub fn v2_event(input: &EventInput<'_>) -> Value {
    let mut headers = Map::with_capacity(input.headers.keys_len());
    let mut cookies: Vec<Value> = Vec::new();
    for name in input.headers.keys() {
        let mut joined = String::new();
        for (i, value) in input.headers.get_all(name).iter().enumerate() {
            let text = String::from_utf8_lossy(value.as_bytes());
            if name == http::header::COOKIE {
                cookies.extend(
                    text.split(';').map(str::trim).filter(|c| !c.is_empty()).map(|c| Value::String(c.to_owned())),
                );
                continue;
            }
            if i > 0 {
                joined.push(',');
            }
            joined.push_str(&text);
        }
        if name != http::header::COOKIE {
            headers.insert(name.as_str().to_owned(), Value::String(joined));
        }
    }
    // What the gateway sets itself, whatever the client sent.
    let forwarded_for = match headers.get("x-forwarded-for").and_then(Value::as_str) {
        Some(chain) => format!("{chain}, {}", input.source_ip),
        None => input.source_ip.to_string(),
    };
    headers.insert("x-forwarded-for".into(), Value::String(forwarded_for));
    headers.insert("x-forwarded-proto".into(), Value::String("http".into()));
    headers.insert("x-forwarded-port".into(), Value::String(input.local_port.to_string()));
    headers.insert("host".into(), Value::String(input.domain_name.to_owned()));

    let mut event = json!({
        "version": "2.0",
        "routeKey": input.route_key,
        "rawPath": input.raw_path,
        "rawQueryString": input.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": input.domain_name,
            "domainPrefix": input.domain_name.split(['.', ':']).next().unwrap_or(""),
            "http": {
                "method": input.method,
                "path": input.raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": input.source_ip.to_string(),
                "userAgent": input.headers.get(http::header::USER_AGENT).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()).unwrap_or_default(),
            },
            "requestId": input.request_id,
            "routeKey": input.route_key,
            "stage": "$default",
            "time": input.now.format("%d/%b/%Y:%H:%M:%S %z").to_string(),
            "timeEpoch": input.now.timestamp_millis(),
        },
        "isBase64Encoded": false,
    });
    let obj = event.as_object_mut().expect("an object");
    if !cookies.is_empty() {
        obj.insert("cookies".into(), Value::Array(cookies));
    }
    if let Some(query) = query_parameters(input.raw_query) {
        obj.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !input.path_params.is_empty() {
        let params: Map<String, Value> =
            input.path_params.iter().map(|(k, v)| ((*k).to_owned(), Value::String(v.clone()))).collect();
        obj.insert("pathParameters".into(), Value::Object(params));
    }
    if let Some(claims) = input.claims {
        obj["requestContext"]
            .as_object_mut()
            .expect("an object")
            .insert("authorizer".into(), json!({ "jwt": { "claims": claims, "scopes": null } }));
    }
    if !input.body.is_empty() {
        match std::str::from_utf8(input.body) {
            Ok(text) => obj.insert("body".into(), Value::String(text.to_owned())),
            Err(_) => {
                obj.insert("isBase64Encoded".into(), Value::Bool(true));
                obj.insert("body".into(), Value::String(STANDARD.encode(input.body)))
            }
        };
    }
    event
}

/// Query parameters as API Gateway passes them: decoded, repeated names comma-joined.
fn query_parameters(raw: &str) -> Option<Map<String, Value>> {
    let mut params: Map<String, Value> = Map::new();
    for pair in raw.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let (name, value) = (percent_decode(name), percent_decode(value));
        match params.get_mut(&name) {
            Some(Value::String(existing)) => {
                existing.push(',');
                existing.push_str(&value);
            }
            _ => {
                params.insert(name, Value::String(value));
            }
        }
    }
    (!params.is_empty()).then_some(params)
}

/// The request a function sees for an event, as `lambda_http` builds it in Lambda.
pub fn lambda_request(event: Value) -> Result<lambda_http::Request, serde_json::Error> {
    let event: aws_lambda_events::apigw::ApiGatewayV2httpRequest = serde_json::from_value(event)?;
    Ok(LambdaRequest::ApiGatewayV2(event).into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::RequestExt;
    use lambda_http::request::RequestContext;

    fn sample(headers: &HeaderMap, claims: &Map<String, Value>, body: &[u8]) -> Value {
        let params = [("storeId", "S001".to_owned()), ("sku", "MILK 1L".to_owned())];
        v2_event(&EventInput {
            method: "POST",
            raw_path: "/stores/S001/commodities/MILK%201L",
            raw_query: "at=2026-11-11T12%3A00%3A00Z&tag=a&tag=b&flag",
            headers,
            route_key: "POST /stores/{storeId}/commodities/{sku}",
            path_params: &params,
            claims: Some(claims),
            request_id: "AbCdEfGhIjKlMnO=",
            source_ip: "127.0.0.1".parse().unwrap(),
            domain_name: "127.0.0.1:3000",
            local_port: 3000,
            body,
            now: chrono::DateTime::from_timestamp(1_794_398_400, 0).unwrap(),
        })
    }

    fn headers() -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-type", "application/json".parse().unwrap());
        h.append("x-multi", "one".parse().unwrap());
        h.append("x-multi", "two".parse().unwrap());
        h.append("cookie", "a=1; b=2".parse().unwrap());
        h.insert("user-agent", "till/1.0".parse().unwrap());
        h.insert("host", "127.0.0.1:3000".parse().unwrap());
        h
    }

    fn claims() -> Map<String, Value> {
        json!({"scope": "pos", "store_id": "S001", "exp": "1794402000"}).as_object().unwrap().clone()
    }

    #[test]
    fn the_event_has_api_gateways_shape() {
        let event = sample(&headers(), &claims(), br#"{"skus":["MILK-1L"]}"#);
        assert_eq!(event["version"], "2.0");
        assert_eq!(event["headers"]["x-multi"], "one,two");
        assert_eq!(event["headers"]["x-forwarded-for"], "127.0.0.1");
        assert_eq!(event["headers"]["x-forwarded-proto"], "http");
        assert!(event["headers"].get("cookie").is_none());
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert_eq!(event["queryStringParameters"], json!({"at": "2026-11-11T12:00:00Z", "tag": "a,b", "flag": ""}));
        assert_eq!(event["pathParameters"], json!({"storeId": "S001", "sku": "MILK 1L"}));
        assert_eq!(event["requestContext"]["authorizer"]["jwt"]["claims"]["store_id"], "S001");
        assert_eq!(event["requestContext"]["authorizer"]["jwt"]["scopes"], Value::Null);
        assert_eq!(event["requestContext"]["time"], "11/Nov/2026:12:00:00 +0000");
        assert_eq!(event["requestContext"]["timeEpoch"], 1_794_398_400_000i64);
        assert_eq!(event["requestContext"]["http"]["userAgent"], "till/1.0");
        assert_eq!(event["body"], r#"{"skus":["MILK-1L"]}"#);
        assert_eq!(event["isBase64Encoded"], false);
    }

    #[test]
    fn the_event_deserializes_into_the_request_a_function_reads() {
        let event = sample(&headers(), &claims(), br#"{"skus":["MILK-1L"]}"#);
        let typed: aws_lambda_events::apigw::ApiGatewayV2httpRequest = serde_json::from_value(event.clone()).unwrap();
        assert_eq!(typed.route_key.as_deref(), Some("POST /stores/{storeId}/commodities/{sku}"));
        let request = lambda_request(event).unwrap();
        assert_eq!(request.method(), http::Method::POST);
        assert_eq!(request.uri().path(), "/stores/S001/commodities/MILK%201L");
        assert_eq!(request.path_parameters_ref().unwrap().first("sku"), Some("MILK 1L"));
        assert_eq!(request.query_string_parameters_ref().unwrap().first("at"), Some("2026-11-11T12:00:00Z"));
        assert_eq!(request.headers()["cookie"], "a=1; b=2");
        assert_eq!(request.body(), &lambda_http::Body::Text(r#"{"skus":["MILK-1L"]}"#.into()));
        let Some(RequestContext::ApiGatewayV2(ctx)) = request.request_context_ref() else { panic!("a v2 context") };
        assert_eq!(ctx.request_id.as_deref(), Some("AbCdEfGhIjKlMnO="));
        assert_eq!(ctx.route_key.as_deref(), Some("POST /stores/{storeId}/commodities/{sku}"));
        assert_eq!(ctx.authorizer.as_ref().unwrap().jwt.as_ref().unwrap().claims["scope"], "pos");
        // And the shared crate reads the same claims from it.
        let claims = retail_core::http::Claims::from_request(&request).unwrap();
        assert_eq!(claims.store_id.as_deref(), Some("S001"));
        assert_eq!(claims.scopes, vec![retail_core::http::Scope::Pos]);
    }

    #[test]
    fn a_body_that_is_not_utf8_travels_as_base64() {
        let event = sample(&headers(), &claims(), &[0xff, 0x00, 0x41]);
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(event["body"], "/wBB");
        let request = lambda_request(event).unwrap();
        assert_eq!(request.body(), &lambda_http::Body::Binary(vec![0xff, 0x00, 0x41]));
    }

    #[test]
    fn without_query_params_or_body_those_members_are_absent() {
        let headers = HeaderMap::new();
        let event = v2_event(&EventInput {
            method: "GET",
            raw_path: "/reports/daily",
            raw_query: "",
            headers: &headers,
            route_key: "GET /reports/daily",
            path_params: &[],
            claims: None,
            request_id: "r",
            source_ip: "::1".parse().unwrap(),
            domain_name: "localhost",
            local_port: 3000,
            body: b"",
            now: chrono::Utc::now(),
        });
        for absent in ["queryStringParameters", "pathParameters", "body", "cookies"] {
            assert!(event.get(absent).is_none(), "{absent}");
        }
        assert!(event["requestContext"].get("authorizer").is_none());
        let request = lambda_request(event).unwrap();
        assert_eq!(request.body(), &lambda_http::Body::Empty);
    }
}
