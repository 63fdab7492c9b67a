//! What a function answered, read the same way whether it was called in-process (a `lambda_http`
//! response to an [`Event`](super::request::Event)) or over HTTP (status, headers and body bytes,
//! e.g. from `reqwest`): its status, headers and JSON body, and the checks every test makes of a
//! success ([`Answer::ok`]) and of a refusal ([`Answer::problem`]).

use http::HeaderMap;
use lambda_http::{Body, Response};
use serde_json::{Value, json};

use super::request::REQUEST_ID;

/// A response's status, headers and body as JSON.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    /// The body as JSON: `Null` when empty (and, over HTTP, when not JSON).
    pub body: Value,
    /// The request id the answer must echo, when the test chose it: the fixture's, in-process.
    request_id: Option<&'static str>,
}

impl From<Response<Body>> for Answer {
    /// A handler's response to an [`Event`](super::request::Event): a body that is not JSON fails
    /// the test, and the request id to echo is the fixture's ([`REQUEST_ID`]).
    fn from(response: Response<Body>) -> Self {
        let (parts, body) = response.into_parts();
        let status = parts.status.as_u16();
        let body = match body {
            Body::Empty => Value::Null,
            Body::Text(t) => serde_json::from_str(&t).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {t}")),
            Body::Binary(b) => serde_json::from_slice(&b).unwrap_or_else(|e| panic!("{status}: not JSON ({e})")),
            _ => Value::Null,
        };
        Answer { status, headers: parts.headers, body, request_id: Some(REQUEST_ID) }
    }
}

impl Answer {
    /// An answer received over HTTP (a gateway in front: it may answer in text, and it mints the
    /// request ids, so [`Answer::ok`] and [`Answer::problem`] check one is echoed, not which).
    pub fn from_http(status: u16, headers: HeaderMap, body: &[u8]) -> Self {
        let body = serde_json::from_slice(body).unwrap_or(Value::Null);
        Answer { status, headers, body, request_id: None }
    }

    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `content-type`, or `""`.
    pub fn content_type(&self) -> &str {
        self.header("content-type").unwrap_or_default()
    }

    /// `x-request-id`, or `""`.
    pub fn x_request_id(&self) -> &str {
        self.header("x-request-id").unwrap_or_default()
    }

    /// `Idempotent-Replayed`, on a checkout replay.
    pub fn replayed(&self) -> Option<&str> {
        self.header("idempotent-replayed")
    }

    /// `Retry-After`, on a refusal worth retrying.
    pub fn retry_after(&self) -> Option<&str> {
        self.header("retry-after")
    }

    #[track_caller]
    fn echoes_request_id(&self) {
        match self.request_id {
            Some(id) => assert_eq!(self.x_request_id(), id),
            None => assert!(!self.x_request_id().is_empty(), "no x-request-id: {}", self.body),
        }
    }

    /// A success: the status, `application/json`, and the request id header.
    #[track_caller]
    pub fn ok(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "{}", self.body);
        assert_eq!(self.content_type(), "application/json", "{}", self.body);
        self.echoes_request_id();
        &self.body
    }

    /// A refusal: RFC 9457 problem details with the stable code and the request id.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!((self.status, self.body["code"].as_str()), (status, Some(code)), "{}", self.body);
        assert_eq!(self.content_type(), "application/problem+json", "{}", self.body);
        self.echoes_request_id();
        assert_eq!(self.body["status"], json!(status), "{}", self.body);
        assert_eq!(self.body["requestId"], json!(self.x_request_id()), "{}", self.body);
        for member in ["type", "title", "detail"] {
            assert!(self.body[member].is_string(), "{member}: {}", self.body);
        }
        &self.body
    }
}
