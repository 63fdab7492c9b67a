//! Real API Gateway HTTP API v2 events for handler tests: a recorded event with JWT authorizer
//! claims (`tests/fixtures/apigw-v2-jwt.json`), re-aimed at the route under test.

use lambda_http::{Request, RequestExt};
use serde_json::{Map, Value, json};
use std::collections::HashMap;

const FIXTURE: &str = include_str!("../../tests/fixtures/apigw-v2-jwt.json");

/// The gateway's request id in the recorded fixture every event is built from.
pub const REQUEST_ID: &str = "JKJaXmPLvHcESHA=";
/// The contract's body limit.
pub const MAX_BODY: usize = 1_048_576;
/// Head office's scope.
pub const HO: &str = "headoffice";

/// An event for `method path` on `route` (e.g. `"GET /stores/{storeId}/commodities/{sku}"`),
/// with path parameters read off by matching the two.
#[derive(Debug, Clone)]
pub struct Event {
    doc: Value,
}

impl Event {
    pub fn new(method: &str, route: &str, path: &str) -> Self {
        let mut doc: Value = serde_json::from_str(FIXTURE).expect("the fixture is JSON");
        let (raw_path, query) = path.split_once('?').unwrap_or((path, ""));
        let route_key = format!("{method} {route}");
        let mut params = Map::new();
        for (pattern, actual) in route.split('/').zip(raw_path.split('/')) {
            if let Some(name) = pattern.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                params.insert(name.to_owned(), json!(actual));
            }
        }
        doc["routeKey"] = json!(route_key);
        doc["rawPath"] = json!(raw_path);
        doc["rawQueryString"] = json!(query);
        doc["pathParameters"] = if params.is_empty() { Value::Null } else { Value::Object(params) };
        doc["requestContext"]["routeKey"] = json!(route_key);
        doc["requestContext"]["http"]["method"] = json!(method);
        doc["requestContext"]["http"]["path"] = json!(raw_path);
        Event { doc }
    }

    /// Replaces the token's claims: `scope` and, when given, `store_id`.
    pub fn claims(mut self, scope: &str, store_id: Option<&str>) -> Self {
        let claims = &mut self.doc["requestContext"]["authorizer"]["jwt"]["claims"];
        claims["scope"] = json!(scope);
        match store_id {
            Some(s) => claims["store_id"] = json!(s),
            None => {
                claims.as_object_mut().expect("claims object").remove("store_id");
            }
        }
        self
    }

    /// As if no authorizer had seen the request.
    pub fn without_authorizer(mut self) -> Self {
        self.doc["requestContext"].as_object_mut().expect("context").remove("authorizer");
        self
    }

    pub fn body_with_type(mut self, content_type: &str, body: &str) -> Self {
        self.doc["headers"]["content-type"] = json!(content_type);
        self.doc["headers"]["content-length"] = json!(body.len().to_string());
        self.doc["body"] = json!(body);
        self
    }

    pub fn json(self, body: &Value) -> Self {
        self.raw_json(&body.to_string())
    }

    pub fn raw_json(self, body: &str) -> Self {
        self.body_with_type("application/json", body)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.doc["headers"][name.to_ascii_lowercase()] = json!(value);
        self
    }

    /// The event as the JSON text Lambda would hand to the runtime.
    pub fn to_json_string(&self) -> String {
        self.doc.to_string()
    }

    /// Through `lambda_http`'s own deserializer, as the runtime would.
    pub fn request(&self) -> Request {
        lambda_http::request::from_str(&self.doc.to_string()).expect("a valid v2 event")
    }
}

/// `{json}` padded with trailing spaces to exactly `len` bytes.
pub fn padded(json: &Value, len: usize) -> String {
    let mut s = json.to_string();
    assert!(s.len() <= len);
    s.push_str(&" ".repeat(len - s.len()));
    s
}

/// Replaces a request's path parameters (for values a path split cannot carry, such as `a/b`).
pub fn with_params(request: Request, params: &[(&str, &str)]) -> Request {
    let map: HashMap<String, String> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    request.with_path_parameters(map)
}
