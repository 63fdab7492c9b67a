//! Request bodies, path and query values, held to the contract's limits.

use http::StatusCode;
use lambda_http::{Body, Request, RequestExt};
use serde::de::DeserializeOwned;

use super::problem::Problem;

/// Largest body a function accepts: 1 MiB.
pub const MAX_BODY_BYTES: usize = 1_048_576;

fn body_bytes(request: &Request) -> &[u8] {
    match request.body() {
        Body::Empty => &[],
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

fn is_json(content_type: &str) -> bool {
    let media = content_type.split(';').next().unwrap_or("").trim();
    media.eq_ignore_ascii_case("application/json")
}

/// A JSON body parsed into `T`: 413 when too large, 415 when not JSON, 400 when malformed or
/// when a member is unknown, missing, duplicated or of the wrong type.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, Problem> {
    let bytes = body_bytes(request);
    if bytes.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the body is {} bytes; the limit is {MAX_BODY_BYTES}", bytes.len()),
        ));
    }
    let content_type = request.headers().get(http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !is_json(content_type) {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "the body must be application/json",
        ));
    }
    super::strict::from_slice(bytes).map_err(|e| Problem::invalid(format!("the body is not valid here: {e}")))
}

/// A path parameter, parsed; a value that does not parse is 400.
pub fn path_param<T>(request: &Request, name: &str, parse: impl FnOnce(&str) -> Result<T, crate::domain::Invalid>) -> Result<T, Problem> {
    let params = request.path_parameters_ref();
    let raw = params.and_then(|p| p.first(name)).ok_or_else(|| Problem::invalid(format!("missing path parameter {name}")))?;
    parse(raw).map_err(Problem::from)
}

/// The raw path parameter, for the store check that precedes parsing.
pub fn raw_path_param<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.path_parameters_ref().and_then(|p| p.first(name))
}

/// A query parameter, if present.
pub fn query_param<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.query_string_parameters_ref().and_then(|q| q.first(name))
}

/// The `Idempotency-Key` header, if sent: ASCII and a valid key, else 400.
pub fn idempotency_key(request: &Request) -> Result<Option<crate::domain::IdempotencyKey>, Problem> {
    let Some(raw) = request.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let raw = raw.to_str().map_err(|_| Problem::invalid("the Idempotency-Key header must be ASCII"))?;
    Ok(Some(crate::domain::IdempotencyKey::parse(raw)?))
}

/// A serializable value on its way out as `application/json`.
pub trait JsonReply {
    fn to_json(&self) -> String;
}

impl<T: serde::Serialize> JsonReply for T {
    fn to_json(&self) -> String {
        // Room for a 20-line receipt up front: growing by doubling from serde_json's small
        // start copied it five times.
        let mut out = Vec::with_capacity(4096);
        serde_json::to_writer(&mut out, self).expect("reply types serialize");
        String::from_utf8(out).expect("serde_json writes UTF-8")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types_with_parameters_are_json() {
        assert!(is_json("application/json"));
        assert!(is_json("Application/JSON; charset=utf-8"));
        assert!(!is_json("text/plain"));
        assert!(!is_json(""));
        assert!(!is_json("application/jsonx"));
    }
}

/// A fingerprint of a JSON document that is equal for equal documents as parsed JSON: member
/// order and whitespace do not matter. SHA-256 of the canonical form, in hex.
pub fn fingerprint(bytes: &[u8]) -> Result<String, Problem> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| Problem::invalid(format!("the body is not valid JSON: {e}")))?;
    Ok(fingerprint_value(&value))
}

/// [`fingerprint`] of a document already parsed.
pub fn fingerprint_value(value: &serde_json::Value) -> String {
    use sha2::{Digest, Sha256};
    let mut canonical = String::new();
    write_canonical(value, &mut canonical);
    let digest = Sha256::digest(canonical.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The body's bytes as they arrived.
pub fn raw_body(request: &Request) -> &[u8] {
    body_bytes(request)
}

fn write_canonical(value: &serde_json::Value, out: &mut String) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut members: Vec<_> = map.iter().collect();
            members.sort_by(|a, b| a.0.cmp(b.0));
            out.push('{');
            for (i, (k, v)) in members.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&serde_json::to_string(k).expect("strings serialize"));
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod fingerprint_tests {
    use super::fingerprint;

    #[test]
    fn equal_documents_have_equal_fingerprints() {
        let a = fingerprint(br#"{"a": 1, "b": [1, {"x": null, "y": "z"}]}"#).unwrap();
        let b = fingerprint(br#"{"b":[1,{"y":"z","x":null}],"a":1}"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, fingerprint(br#"{"a": 2, "b": [1, {"x": null, "y": "z"}]}"#).unwrap());
        assert_ne!(a, fingerprint(br#"{"a": 1, "b": [{"x": null, "y": "z"}, 1]}"#).unwrap());
    }
}
