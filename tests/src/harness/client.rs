//! How the harness speaks to the API: one HTTP client with the API's base URL, and tokens
//! signed with the template's development key. A till's retries are `till`'s `send_as_till`.

use std::time::{Duration, Instant};

use crate::{Answer, answer};

/// Scopes and a store in, a signed token out.
type Signer = dyn Fn(&[&str], Option<&str>) -> String + Send + Sync;

pub(super) struct Tokens {
    sign: Box<Signer>,
}

impl Tokens {
    pub(super) fn load(template: &std::path::Path) -> Result<Tokens, String> {
        use retail_local::authorizer::{DevKey, TokenRequest, key_path_for};
        let config = retail_local::template::Template::load(template)
            .map_err(|e| e.to_string())?
            .token_authorizer
            .ok_or_else(|| format!("{} declares no JWT authorizer", template.display()))?;
        let key = DevKey::load_or_create(&key_path_for(template)).map_err(|e| e.to_string())?;
        Ok(Tokens {
            sign: Box::new(move |scopes, store| {
                let mut request = TokenRequest::new(scopes, store);
                request.ttl = Duration::from_secs(6 * 3600);
                key.sign(&request.claims(&config))
            }),
        })
    }

    pub(super) fn token(&self, scope: &str, store: Option<&str>) -> String {
        (self.sign)(&[scope], store)
    }
}

pub(super) struct Api {
    pub(super) base: String,
    pub(super) http: reqwest::Client,
}

impl Api {
    pub(super) async fn send(&self, request: reqwest::RequestBuilder) -> Result<(Answer, Duration), String> {
        let started = Instant::now();
        let response = request.send().await.map_err(|e| format!("no answer: {e}"))?;
        let a = answer(response).await;
        Ok((a, started.elapsed()))
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
