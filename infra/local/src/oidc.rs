//! `retail-local` as the OpenID Connect issuer a browser signs in against, for development:
//! the dashboard (and anything else speaking OIDC) runs the same authorization-code flow with
//! PKCE as against the chain's identity provider in AWS.
//!
//! - `GET /.well-known/openid-configuration`: where the endpoints are (`gateway.rs`);
//! - `GET /oauth2/authorize`: a page where the developer picks the scope and store the token will
//!   carry, then `POST /oauth2/authorize` sends the browser back to `redirect_uri` with a code;
//! - `POST /oauth2/token`: the code and its PKCE verifier for an access token, signed with the
//!   development key the gateway's authorizer trusts (its JWKS at `/.well-known/jwks.json`).
//!
//! Codes are single-use and live a minute, in memory. Redirects go only to loopback and
//! `localhost` addresses: this issuer signs whatever the developer picks, so it must not hand
//! codes to another site.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::authorizer::{DevKey, TokenRequest};
use crate::template::JwtConfig;

pub const AUTHORIZE_PATH: &str = "/oauth2/authorize";
pub const TOKEN_PATH: &str = "/oauth2/token";

/// How long a code may wait for its exchange.
const CODE_LIFETIME: Duration = Duration::from_secs(60);
/// The scopes a developer may pick, as the functions know them.
const SCOPES: [&str; 3] = ["headoffice", "store", "pos"];

/// An answer of the issuer's: status, content type, body, and a `Location` for redirects.
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub location: Option<String>,
}

impl Answer {
    fn html(status: u16, body: String) -> Self {
        Answer { status, content_type: "text/html; charset=utf-8", body, location: None }
    }

    fn json(status: u16, body: serde_json::Value) -> Self {
        Answer { status, content_type: "application/json", body: body.to_string(), location: None }
    }

    /// An OAuth error (RFC 6749 §5.2).
    fn error(status: u16, error: &str, description: &str) -> Self {
        Self::json(status, serde_json::json!({"error": error, "error_description": description}))
    }

    fn redirect(to: String) -> Self {
        Answer { status: 303, content_type: "text/plain; charset=utf-8", body: String::new(), location: Some(to) }
    }
}

/// What a code stands for until it is exchanged.
#[derive(Debug)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    token: TokenRequest,
    issued: Instant,
}

pub struct DevIssuer {
    key: Arc<DevKey>,
    config: JwtConfig,
    codes: Mutex<HashMap<String, Grant>>,
}

fn form(raw: &str) -> HashMap<String, String> {
    form_urlencoded::parse(raw.as_bytes()).into_owned().collect()
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn b64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// A redirect this issuer may send a code to: http(s) on a loopback address or `localhost`.
fn loopback(uri: &str) -> bool {
    let Ok(uri) = uri.parse::<http::Uri>() else { return false };
    let host = uri.host().unwrap_or("").trim_matches(|c| c == '[' || c == ']');
    matches!(uri.scheme_str(), Some("http" | "https"))
        && (host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback()))
}

impl DevIssuer {
    pub fn new(key: Arc<DevKey>, config: JwtConfig) -> Self {
        DevIssuer { key, config, codes: Mutex::new(HashMap::new()) }
    }

    /// The discovery document, its endpoints at `base` (`http://host:port`).
    pub fn configuration(&self, base: &str, jwks_path: &str) -> serde_json::Value {
        let scopes: Vec<&str> = ["openid"].into_iter().chain(SCOPES).collect();
        serde_json::json!({
            "issuer": self.config.issuer,
            "authorization_endpoint": format!("{base}{AUTHORIZE_PATH}"),
            "token_endpoint": format!("{base}{TOKEN_PATH}"),
            "jwks_uri": format!("{base}{jwks_path}"),
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": scopes,
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["none"],
        })
    }

    /// `GET /oauth2/authorize?...`: the page that picks what the token carries. A request that
    /// cannot be sent back (no or a foreign `redirect_uri`) is refused here, on the page.
    pub fn authorize_page(&self, query: &str) -> Answer {
        let q = form(query);
        if let Err(why) = Self::checked_request(&q) {
            return Answer::html(400, format!("<!doctype html><title>Sign-in refused</title><p>{}</p>", escape(&why)));
        }
        let hidden: String = ["client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method"]
            .iter()
            .map(|name| {
                format!(
                    r#"<input type="hidden" name="{name}" value="{}">"#,
                    escape(q.get(*name).map(String::as_str).unwrap_or(""))
                )
            })
            .collect();
        let options: String = SCOPES.iter().map(|s| format!(r#"<option value="{s}">{s}</option>"#)).collect();
        Answer::html(
            200,
            format!(
                r#"<!doctype html><html lang="en"><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>retail-local sign-in</title>
<body style="font:15px system-ui,sans-serif;max-width:26rem;margin:3rem auto;padding:0 1rem">
<h1 style="font-size:1.2rem">retail-local: sign in for development</h1>
<p>{client} asks for a token. Pick what it carries:</p>
<form method="post" action="{AUTHORIZE_PATH}" style="display:grid;gap:.75rem">{hidden}
<label>Scope <select name="scope" id="scope">{options}</select></label>
<label>Store (for store and pos) <input name="store_id" id="store_id" value="S001"></label>
<button id="approve">Sign in</button>
</form>"#,
                client = escape(q.get("client_id").map(String::as_str).unwrap_or("")),
            ),
        )
    }

    /// The parts of an authorization request every answer depends on.
    fn checked_request(q: &HashMap<String, String>) -> Result<(), String> {
        let redirect = q.get("redirect_uri").map(String::as_str).unwrap_or("");
        if !loopback(redirect) {
            return Err(format!("redirect_uri {redirect:?} is not a loopback or localhost address"));
        }
        if q.get("client_id").is_none_or(|c| c.is_empty()) {
            return Err("client_id is required".to_owned());
        }
        if q.get("response_type").is_some_and(|r| r != "code") {
            return Err("only response_type=code is supported".to_owned());
        }
        if q.get("code_challenge_method").map(String::as_str) != Some("S256")
            || q.get("code_challenge").is_none_or(|c| c.len() < 43)
        {
            return Err("PKCE is required: code_challenge_method=S256 and a code_challenge".to_owned());
        }
        Ok(())
    }

    /// `POST /oauth2/authorize`: the developer's pick; back to `redirect_uri` with a code.
    pub fn authorize(&self, body: &str) -> Answer {
        let q = form(body);
        if let Err(why) = Self::checked_request(&q) {
            return Answer::html(400, format!("<!doctype html><title>Sign-in refused</title><p>{}</p>", escape(&why)));
        }
        let redirect_uri = q["redirect_uri"].clone();
        let back = |params: &[(&str, &str)]| {
            let mut to = redirect_uri.clone();
            to.push(if to.contains('?') { '&' } else { '?' });
            to += &form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
            to
        };
        let state = q.get("state").map(String::as_str).unwrap_or("");
        let scope = q.get("scope").map(String::as_str).unwrap_or("");
        if !SCOPES.contains(&scope) {
            return Answer::redirect(back(&[("error", "invalid_scope"), ("error_description", "pick headoffice, store or pos"), ("state", state)]));
        }
        let store = q.get("store_id").map(|s| s.trim()).filter(|s| !s.is_empty());
        if scope != "headoffice" && store.is_none() {
            return Answer::redirect(back(&[("error", "invalid_request"), ("error_description", "a store and pos token names its store"), ("state", state)]));
        }
        let store = if scope == "headoffice" { None } else { store };
        let code = b64url(&rand::random::<[u8; 24]>());
        let grant = Grant {
            client_id: q["client_id"].clone(),
            redirect_uri: redirect_uri.clone(),
            challenge: q["code_challenge"].clone(),
            token: TokenRequest::new(&[scope], store),
            issued: Instant::now(),
        };
        let mut codes = self.codes.lock().unwrap_or_else(|e| e.into_inner());
        codes.retain(|_, g| g.issued.elapsed() < CODE_LIFETIME);
        codes.insert(code.clone(), grant);
        Answer::redirect(back(&[("code", &code), ("state", state)]))
    }

    /// `POST /oauth2/token`: a code, once, with the verifier of its challenge.
    pub fn token(&self, body: &str) -> Answer {
        let q = form(body);
        if q.get("grant_type").map(String::as_str) != Some("authorization_code") {
            return Answer::error(400, "unsupported_grant_type", "only authorization_code is supported");
        }
        let code = q.get("code").map(String::as_str).unwrap_or("");
        let grant = self.codes.lock().unwrap_or_else(|e| e.into_inner()).remove(code);
        let Some(grant) = grant.filter(|g| g.issued.elapsed() < CODE_LIFETIME) else {
            return Answer::error(400, "invalid_grant", "the code is unknown, used or expired");
        };
        if q.get("redirect_uri") != Some(&grant.redirect_uri) || q.get("client_id") != Some(&grant.client_id) {
            return Answer::error(400, "invalid_grant", "redirect_uri or client_id differ from the authorization request's");
        }
        let verifier = q.get("code_verifier").map(String::as_str).unwrap_or("");
        if b64url(&Sha256::digest(verifier.as_bytes())) != grant.challenge {
            return Answer::error(400, "invalid_grant", "the code_verifier does not match the code_challenge");
        }
        let claims = grant.token.claims(&self.config);
        let token = self.key.sign(&claims);
        Answer::json(
            200,
            serde_json::json!({
                "access_token": token,
                "token_type": "Bearer",
                "expires_in": grant.token.ttl.as_secs(),
                "scope": claims["scope"],
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authorizer::JwtAuthorizer;

    fn issuer() -> (DevIssuer, JwtAuthorizer) {
        static KEY: std::sync::OnceLock<Arc<DevKey>> = std::sync::OnceLock::new();
        let key = Arc::clone(KEY.get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("retail-local-oidc-{}-{:x}", std::process::id(), rand::random::<u32>()));
            std::fs::create_dir_all(&dir).unwrap();
            let key = DevKey::load_or_create(&dir.join("dev-key.pem")).unwrap();
            std::fs::remove_dir_all(dir).unwrap();
            Arc::new(key)
        }));
        let config = JwtConfig {
            name: "RetailJwt".into(),
            issuer: "https://auth.retail.local".into(),
            audience: vec!["retail-api".into()],
            identity_header: "authorization".into(),
        };
        (DevIssuer::new(Arc::clone(&key), config.clone()), JwtAuthorizer::new(config, key))
    }

    const VERIFIER: &str = "a-verifier-of-at-least-forty-three-characters-long-0123456789";

    fn challenge() -> String {
        b64url(&Sha256::digest(VERIFIER.as_bytes()))
    }

    fn request(extra: &[(&str, &str)]) -> String {
        let challenge = challenge();
        let mut pairs = vec![
            ("response_type", "code"),
            ("client_id", "dashboard"),
            ("redirect_uri", "http://127.0.0.1:3000/dashboard"),
            ("state", "s-1"),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
        ];
        pairs.extend_from_slice(extra);
        form_urlencoded::Serializer::new(String::new()).extend_pairs(pairs).finish()
    }

    fn code_of(answer: &Answer) -> String {
        let location = answer.location.as_deref().expect("a redirect");
        let query = location.split_once('?').expect("a query").1;
        let q = form(query);
        assert_eq!(q.get("state").map(String::as_str), Some("s-1"), "{location}");
        q.get("code").cloned().unwrap_or_else(|| panic!("no code: {location}"))
    }

    fn exchange(issuer: &DevIssuer, code: &str, verifier: &str) -> Answer {
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs([
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", "http://127.0.0.1:3000/dashboard"),
                ("client_id", "dashboard"),
                ("code_verifier", verifier),
            ])
            .finish();
        issuer.token(&body)
    }

    #[test]
    fn a_store_managers_pick_becomes_a_token_the_authorizer_accepts_once() {
        let (issuer, authorizer) = issuer();
        let page = issuer.authorize_page(&request(&[]));
        assert_eq!(page.status, 200);
        assert!(page.body.contains(r#"name="code_challenge""#), "{}", page.body);
        let answer = issuer.authorize(&request(&[("scope", "store"), ("store_id", "S002")]));
        assert_eq!(answer.status, 303);
        let code = code_of(&answer);
        let token = exchange(&issuer, &code, VERIFIER);
        assert_eq!(token.status, 200, "{}", token.body);
        let token: serde_json::Value = serde_json::from_str(&token.body).unwrap();
        let claims = authorizer.verify(token["access_token"].as_str().unwrap()).expect("a token the gateway accepts");
        assert_eq!(claims.get("scope").and_then(serde_json::Value::as_str), Some("store"));
        assert_eq!(claims.get("store_id").and_then(serde_json::Value::as_str), Some("S002"));
        // A code is good once.
        let again = exchange(&issuer, &code, VERIFIER);
        assert_eq!((again.status, again.body.contains("invalid_grant")), (400, true), "{}", again.body);
    }

    #[test]
    fn a_wrong_verifier_or_a_foreign_redirect_gets_no_token() {
        let (issuer, _) = issuer();
        let code = code_of(&issuer.authorize(&request(&[("scope", "headoffice")])));
        let wrong = exchange(&issuer, &code, "another-verifier-of-at-least-forty-three-characters-000");
        assert_eq!((wrong.status, wrong.body.contains("code_verifier")), (400, true), "{}", wrong.body);
        // The code was spent by the failed try, as a leaked code must not be retried.
        assert_eq!(exchange(&issuer, &code, VERIFIER).status, 400);

        let foreign = request(&[("scope", "headoffice")]).replace("127.0.0.1%3A3000", "evil.example");
        assert_eq!(issuer.authorize(&foreign).status, 400);
        assert_eq!(issuer.authorize_page(&foreign).status, 400);
        let no_pkce = request(&[("scope", "headoffice")]).replace("S256", "plain");
        assert_eq!(issuer.authorize(&no_pkce).status, 400);
    }

    #[test]
    fn a_store_token_without_a_store_goes_back_as_an_error() {
        let (issuer, _) = issuer();
        let answer = issuer.authorize(&request(&[("scope", "pos"), ("store_id", " ")]));
        let location = answer.location.expect("a redirect");
        assert!(location.contains("error=invalid_request") && location.contains("state=s-1"), "{location}");
    }
}
