//! The JWT authorizer API Gateway runs in front of every route, emulated: RS256 tokens signed by
//! a development key kept next to the template, checked for issuer, audience, expiry and
//! not-before, their claims flattened to strings the way HTTP APIs pass them on. The key's public
//! half is published as a JWKS; `retail-local token` mints tokens with it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, KeyAlgorithm, PublicKeyUse, RSAKeyParameters, RSAKeyType,
    ThumbprintHash,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rsa::RsaPrivateKey;
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use rsa::traits::PublicKeyParts;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::template::JwtConfig;

/// Where the development key lives, relative to the template's directory.
pub const KEY_FILE: &str = ".retail-local/dev-signing-key.pem";

/// Verified tokens remembered at most, like the gateway's own authorizer cache.
pub const CACHE_CAPACITY: usize = 10_000;

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("cannot {action} the signing key {path}: {source}")]
    Io { action: &'static str, path: String, source: std::io::Error },
    #[error("the signing key {path} is not an RSA private key in PKCS#8 PEM ({why}); delete it to make a new one")]
    Malformed { path: String, why: String },
    #[error("cannot generate an RSA key: {0}")]
    Generate(String),
}

/// The key pair tokens are signed with and checked against.
pub struct DevKey {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    jwk: Jwk,
}

impl std::fmt::Debug for DevKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevKey").field("kid", &self.kid).finish_non_exhaustive()
    }
}

impl DevKey {
    /// The key at `path`, created (RSA-2048, PKCS#8 PEM, mode 0600) when there is none. Creation
    /// is atomic: the first process to link its new file into place wins, any other reads that one.
    pub fn load_or_create(path: &Path) -> Result<DevKey, KeyError> {
        if let Some(key) = Self::load(path)? {
            return Ok(key);
        }
        let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|source| io_err("create the directory of", path, source))?;
        let private =
            RsaPrivateKey::new(&mut rand::thread_rng(), 2048).map_err(|e| KeyError::Generate(e.to_string()))?;
        let pem = private.to_pkcs8_pem(LineEnding::LF).map_err(|e| KeyError::Generate(e.to_string()))?;

        let tmp = dir.join(format!(".dev-signing-key.{}.{:016x}.tmp", std::process::id(), rand::random::<u64>()));
        let written = write_private(&tmp, pem.as_bytes());
        let placed = written.and_then(|()| match std::fs::hard_link(&tmp, path) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(_) if !path.exists() => std::fs::rename(&tmp, path),
            other => other,
        });
        let _ = std::fs::remove_file(&tmp);
        placed.map_err(|source| io_err("write", path, source))?;
        // Whoever won the race, everyone uses what is on disk now.
        Self::load(path)?.ok_or_else(|| io_err("read", path, std::io::ErrorKind::NotFound.into()))
    }

    fn load(path: &Path) -> Result<Option<DevKey>, KeyError> {
        match std::fs::read_to_string(path) {
            Ok(pem) => DevKey::from_pkcs8_pem(&pem)
                .map(Some)
                .map_err(|why| KeyError::Malformed { path: path.display().to_string(), why }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(io_err("read", path, source)),
        }
    }

    pub fn from_pkcs8_pem(pem: &str) -> Result<DevKey, String> {
        let private = RsaPrivateKey::from_pkcs8_pem(pem).map_err(|e| e.to_string())?;
        let pkcs1 = private.to_pkcs1_der().map_err(|e| e.to_string())?;
        let (n, e) = (private.n().to_bytes_be(), private.e().to_bytes_be());
        let mut jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::RS256),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n: URL_SAFE_NO_PAD.encode(&n),
                e: URL_SAFE_NO_PAD.encode(&e),
            }),
        };
        // RFC 7638 thumbprint: stable for the key, different for another.
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).map_err(|e| e.to_string())?;
        jwk.common.key_id = Some(kid.clone());
        Ok(DevKey {
            kid,
            encoding: EncodingKey::from_rsa_der(pkcs1.as_bytes()),
            decoding: DecodingKey::from_rsa_raw_components(&n, &e),
            jwk,
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// `{"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid", "n", "e"}]}`.
    pub fn jwks(&self) -> Value {
        json!({ "keys": [self.jwk] })
    }

    /// Signs `claims` with RS256 and this key's `kid`.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding).expect("an RSA key signs JSON claims")
    }
}

fn io_err(action: &'static str, path: &Path, source: std::io::Error) -> KeyError {
    KeyError::Io { action, path: path.display().to_string(), source }
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// The key file for a template: `<template dir>/.retail-local/dev-signing-key.pem`.
pub fn key_path_for(template: &Path) -> PathBuf {
    let dir = template.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    dir.join(KEY_FILE)
}

/// What a development token says about its bearer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// `pos`, `store`, `headoffice`.
    pub scopes: Vec<String>,
    pub store_id: Option<String>,
    pub ttl: Duration,
}

impl TokenRequest {
    pub fn new(scopes: &[&str], store_id: Option<&str>) -> Self {
        TokenRequest {
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            store_id: store_id.map(str::to_owned),
            ttl: Duration::from_secs(3600),
        }
    }

    /// The claims of the token, issued now for `config`'s issuer and first audience.
    pub fn claims(&self, config: &JwtConfig) -> Value {
        let now = unix_now();
        let scope = self.scopes.join(" ");
        let sub = match &self.store_id {
            Some(store) => format!("dev-{}-{store}", self.scopes.join("-")),
            None => format!("dev-{}", self.scopes.join("-")),
        };
        let mut claims = json!({
            "iss": config.issuer,
            "aud": config.audience.first().cloned().unwrap_or_default(),
            "sub": sub,
            "scope": scope,
            "iat": now,
            "exp": now + self.ttl.as_secs(),
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        if let Some(store) = &self.store_id {
            claims["store_id"] = json!(store);
        }
        claims
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Why the gateway answered 401; said in `www-authenticate`, never in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unauthorized {
    /// No identity header, or not `Bearer <token>`.
    Missing,
    /// Malformed, wrongly signed, wrong issuer or audience, expired, not yet valid.
    Invalid(&'static str),
}

/// The claims of a verified token, flattened to strings as API Gateway passes them on.
pub type ClaimStrings = Arc<Map<String, Value>>;

struct Cached {
    claims: ClaimStrings,
    exp: u64,
}

/// One JWT authorizer of the template, with its cache of verified tokens.
pub struct JwtAuthorizer {
    config: JwtConfig,
    key: Arc<DevKey>,
    validation: Validation,
    cache: RwLock<HashMap<Box<str>, Cached>>,
}

impl JwtAuthorizer {
    pub fn new(config: JwtConfig, key: Arc<DevKey>) -> Self {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[config.issuer.as_str()]);
        validation.set_audience(&config.audience);
        validation.set_required_spec_claims(&["exp", "iss", "aud"]);
        validation.validate_nbf = true;
        // API Gateway allows no clock skew.
        validation.leeway = 0;
        JwtAuthorizer { config, key, validation, cache: RwLock::new(HashMap::new()) }
    }

    pub fn config(&self) -> &JwtConfig {
        &self.config
    }

    /// The bearer's claims, or why the gateway refuses the request.
    pub fn authorize(&self, headers: &http::HeaderMap) -> Result<ClaimStrings, Unauthorized> {
        let value = headers.get(self.config.identity_header.as_str()).ok_or(Unauthorized::Missing)?;
        let value = value.to_str().map_err(|_| Unauthorized::Missing)?;
        let token = bearer_token(value).ok_or(Unauthorized::Missing)?;
        self.verify(token)
    }

    pub fn verify(&self, token: &str) -> Result<ClaimStrings, Unauthorized> {
        let now = unix_now();
        if let Some(hit) = self.cache.read().expect("cache lock").get(token)
            && hit.exp > now
        {
            return Ok(Arc::clone(&hit.claims));
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| Unauthorized::Invalid("malformed token"))?;
        if header.kid.as_deref() != Some(self.key.kid()) {
            return Err(Unauthorized::Invalid("unknown kid"));
        }
        let data =
            jsonwebtoken::decode::<Map<String, Value>>(token, &self.key.decoding, &self.validation).map_err(|e| {
                use jsonwebtoken::errors::ErrorKind as K;
                Unauthorized::Invalid(match e.kind() {
                    K::ExpiredSignature => "the token has expired",
                    K::ImmatureSignature => "the token is not valid yet",
                    K::InvalidIssuer => "wrong issuer",
                    K::InvalidAudience => "wrong audience",
                    K::InvalidSignature => "bad signature",
                    K::InvalidAlgorithm => "only RS256 is accepted",
                    K::MissingRequiredClaim(_) => "a required claim is missing",
                    _ => "malformed token",
                })
            })?;
        let claims = data.claims;
        if claims.get("iat").and_then(Value::as_u64).is_some_and(|iat| iat > now) {
            return Err(Unauthorized::Invalid("issued in the future"));
        }
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        let flat = Arc::new(flatten_claims(&claims));
        let mut cache = self.cache.write().expect("cache lock");
        if cache.len() >= CACHE_CAPACITY {
            cache.retain(|_, c| c.exp > now);
            if cache.len() >= CACHE_CAPACITY {
                cache.clear();
            }
        }
        cache.insert(token.into(), Cached { claims: Arc::clone(&flat), exp });
        Ok(flat)
    }

    /// How many verified tokens are remembered.
    pub fn cached(&self) -> usize {
        self.cache.read().expect("cache lock").len()
    }
}

fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Claims as HTTP APIs hand them to a function: every value a string, numbers in decimal,
/// arrays as `"[a b]"`, objects as JSON text; nulls dropped.
pub fn flatten_claims(claims: &Map<String, Value>) -> Map<String, Value> {
    claims.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.clone(), Value::String(flat(v)))).collect()
}

fn flat(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => format!("[{}]", items.iter().map(flat).collect::<Vec<_>>().join(" ")),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::OnceLock;

    fn config() -> JwtConfig {
        JwtConfig {
            name: "RetailJwt".into(),
            issuer: "https://auth.retail.local".into(),
            audience: vec!["retail-api".into()],
            identity_header: "authorization".into(),
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "retail-local-{name}-{}-{:x}",
            std::process::id(),
            rand::random::<u32>()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// One key for the tests of this module (RSA generation is slow in debug builds) and its PEM.
    fn module_key() -> &'static (String, Arc<DevKey>) {
        static KEY: OnceLock<(String, Arc<DevKey>)> = OnceLock::new();
        KEY.get_or_init(|| {
            let dir = temp_dir("unit-key");
            let path = dir.join(KEY_FILE);
            let key = Arc::new(DevKey::load_or_create(&path).unwrap());
            let pem = std::fs::read_to_string(&path).unwrap();
            std::fs::remove_dir_all(dir).unwrap();
            (pem, key)
        })
    }

    fn key() -> Arc<DevKey> {
        Arc::clone(&module_key().1)
    }

    fn other_key() -> DevKey {
        static PEM: OnceLock<String> = OnceLock::new();
        let pem = PEM.get_or_init(|| {
            let k = RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
            k.to_pkcs8_pem(LineEnding::LF).unwrap().to_string()
        });
        DevKey::from_pkcs8_pem(pem).unwrap()
    }

    fn headers(token: &str) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert("authorization", format!("Bearer {token}").parse().unwrap());
        h
    }

    fn token_with(edit: impl FnOnce(&mut Value)) -> String {
        let mut claims = TokenRequest::new(&["pos"], Some("S001")).claims(&config());
        edit(&mut claims);
        key().sign(&claims)
    }

    #[test]
    fn a_minted_token_passes_and_its_claims_arrive_as_strings() {
        let auth = JwtAuthorizer::new(config(), key());
        let token = key().sign(&TokenRequest::new(&["pos", "store"], Some("S001")).claims(&config()));
        let claims = auth.authorize(&headers(&token)).unwrap();
        assert_eq!(claims["scope"], "pos store");
        assert_eq!(claims["store_id"], "S001");
        assert_eq!(claims["iss"], "https://auth.retail.local");
        assert_eq!(claims["aud"], "retail-api");
        assert!(claims["exp"].as_str().unwrap().parse::<u64>().is_ok());
        assert_eq!(claims["sub"], "dev-pos-store-S001");
        assert_eq!(auth.cached(), 1);
        // The second time comes from the cache, with the same answer.
        assert_eq!(auth.authorize(&headers(&token)).unwrap(), claims);
    }

    #[test]
    fn bad_tokens_are_refused() {
        let auth = JwtAuthorizer::new(config(), key());
        let now = unix_now();
        let cases = [
            ("wrong issuer", token_with(|c| c["iss"] = json!("https://evil.example"))),
            ("wrong audience", token_with(|c| c["aud"] = json!("other-api"))),
            ("expired", token_with(|c| c["exp"] = json!(now - 5))),
            ("not yet valid", token_with(|c| c["nbf"] = json!(now + 600))),
            ("issued in the future", token_with(|c| c["iat"] = json!(now + 600))),
            ("no exp", token_with(|c| drop(c.as_object_mut().unwrap().remove("exp")))),
            ("malformed", "not.a.jwt".to_owned()),
            ("garbage", "abc".to_owned()),
        ];
        for (what, token) in cases {
            assert!(matches!(auth.authorize(&headers(&token)), Err(Unauthorized::Invalid(_))), "{what} passed");
        }
        assert_eq!(auth.cached(), 0);
    }

    #[test]
    fn a_token_signed_by_another_key_is_refused_even_with_our_kid() {
        let auth = JwtAuthorizer::new(config(), key());
        let other = other_key();
        let claims = TokenRequest::new(&["headoffice"], None).claims(&config());
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(key().kid().to_owned());
        let forged = jsonwebtoken::encode(&header, &claims, &other.encoding).unwrap();
        assert_eq!(auth.verify(&forged), Err(Unauthorized::Invalid("bad signature")));
        assert_eq!(auth.verify(&other.sign(&claims)), Err(Unauthorized::Invalid("unknown kid")));
    }

    #[test]
    fn an_hs256_token_is_refused() {
        let auth = JwtAuthorizer::new(config(), key());
        let claims = TokenRequest::new(&["headoffice"], None).claims(&config());
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(key().kid().to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"secret")).unwrap();
        assert!(auth.verify(&token).is_err());
    }

    #[test]
    fn the_header_must_be_bearer_and_present() {
        let auth = JwtAuthorizer::new(config(), key());
        let token = token_with(|_| {});
        assert_eq!(auth.authorize(&http::HeaderMap::new()), Err(Unauthorized::Missing));
        let mut h = http::HeaderMap::new();
        h.insert("authorization", token.parse().unwrap());
        assert_eq!(auth.authorize(&h), Err(Unauthorized::Missing));
        h.insert("authorization", format!("Basic {token}").parse().unwrap());
        assert_eq!(auth.authorize(&h), Err(Unauthorized::Missing));
        h.insert("authorization", format!("bearer  {token}").parse().unwrap());
        assert!(auth.authorize(&h).is_ok());
    }

    #[test]
    fn the_jwks_key_verifies_a_minted_token() {
        let jwks = key().jwks();
        let jwk = &jwks["keys"][0];
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], key().kid());
        let token = token_with(|_| {});
        let decoding =
            DecodingKey::from_rsa_components(jwk["n"].as_str().unwrap(), jwk["e"].as_str().unwrap()).unwrap();
        let mut v = Validation::new(Algorithm::RS256);
        v.set_audience(&["retail-api"]);
        let data = jsonwebtoken::decode::<Map<String, Value>>(&token, &decoding, &v).unwrap();
        assert_eq!(data.claims["store_id"], "S001");
        assert_eq!(data.header.kid.as_deref(), Some(key().kid()));
    }

    #[test]
    fn the_key_file_is_shared_between_loads() {
        let dir = temp_dir("shared-key");
        let path = dir.join(KEY_FILE);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        write_private(&path, module_key().0.as_bytes()).unwrap();
        let first = DevKey::load_or_create(&path).unwrap();
        let again = DevKey::load_or_create(&path).unwrap();
        assert_eq!(first.kid(), again.kid());
        assert_eq!(first.kid(), key().kid());
        // A token minted with one load verifies with the other.
        let token = again.sign(&TokenRequest::new(&["headoffice"], None).claims(&config()));
        assert!(JwtAuthorizer::new(config(), Arc::new(first)).verify(&token).is_ok());
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn two_creators_racing_for_the_key_file_end_up_with_one_private_key() {
        let dir = temp_dir("race-key");
        let path = dir.join(KEY_FILE);
        let kids: Vec<String> = std::thread::scope(|s| {
            let racers: Vec<_> =
                (0..2).map(|_| s.spawn(|| DevKey::load_or_create(&path).unwrap().kid().to_owned())).collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert_eq!(kids[0], kids[1]);
        assert_eq!(DevKey::load_or_create(&path).unwrap().kid(), kids[0]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // No temporary files are left beside it.
        let names: Vec<_> =
            std::fs::read_dir(path.parent().unwrap()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from("dev-signing-key.pem")]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_malformed_key_file_is_an_error_that_names_it() {
        let dir = temp_dir("bad-key");
        let path = dir.join("key.pem");
        std::fs::write(&path, "not a key").unwrap();
        let err = DevKey::load_or_create(&path).unwrap_err().to_string();
        assert!(err.contains("key.pem") && err.contains("delete it"), "{err}");
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn claims_flatten_like_api_gateway() {
        let claims =
            json!({"s": "x", "n": 42, "f": 1.5, "b": true, "a": ["pos", "store", 3], "o": {"k": 1}, "z": null});
        let flat = flatten_claims(claims.as_object().unwrap());
        assert_eq!(
            Value::Object(flat),
            json!({"s": "x", "n": "42", "f": "1.5", "b": "true", "a": "[pos store 3]", "o": "{\"k\":1}"})
        );
    }

    #[test]
    fn the_cache_stays_bounded() {
        let auth = JwtAuthorizer::new(config(), key());
        {
            let mut cache = auth.cache.write().unwrap();
            for i in 0..CACHE_CAPACITY {
                cache.insert(format!("t{i}").into(), Cached { claims: Arc::new(Map::new()), exp: unix_now() + 60 });
            }
        }
        auth.verify(&token_with(|_| {})).unwrap();
        assert!(auth.cached() <= CACHE_CAPACITY);
        assert_eq!(auth.cached(), 1);
    }
}
