//! How the harness speaks to the API: one HTTP client with the API's base URL, and tokens
//! signed with the template's development key. A till's retries are `till`'s `send_as_till`.

use std::time::{Duration, Instant};

use crate::{Answer, answer};

/// Scopes and a store in, a signed token out.
type Signer = dyn Fn(&[&str], Option<&str>) -> String + Send + Sync;

/// How long a till (or head office setting up) keeps retrying a request answered "try again":
/// an idempotency claim stranded by an attempt that failed after its claim landed lapses after
/// 30 s, and under heavy faults on moto one attempt can take seconds, so well beyond that.
pub(super) const PATIENCE: Duration = Duration::from_secs(120);

/// A small deterministic generator (splitmix64): each till's choices follow from the run id
/// (and `bench-cost`'s evening from its seed).
pub struct Dice(pub u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() <= p && p > 0.0
    }
}

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

    /// Sends as a till does: an answer that says "try again" (503, or 409 `in_progress` while
    /// its own earlier attempt is being recorded) or no answer at all is retried, the same
    /// request with the same key, after an exponential backoff with full jitter, for up to
    /// `PATIENCE`. `each` sees every attempt's answer; the last answer is returned.
    pub(super) async fn send_retrying(
        &self,
        dice: &mut Dice,
        request: impl Fn() -> reqwest::RequestBuilder,
        mut each: impl FnMut(&Answer, Duration),
    ) -> Result<Answer, String> {
        let started = Instant::now();
        let mut attempt = 0u32;
        loop {
            let outcome = self.send(request()).await;
            let again = match &outcome {
                Ok((a, took)) => {
                    each(a, *took);
                    a.status == 503 || (a.status == 409 && a.body["code"] == "in_progress")
                }
                Err(_) => true,
            };
            if !again || started.elapsed() > PATIENCE {
                return outcome.map(|(a, _)| a);
            }
            let cap = 20u64 << attempt.min(6);
            tokio::time::sleep(Duration::from_millis(1 + dice.below(cap as usize) as u64)).await;
            attempt += 1;
        }
    }

    pub(super) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}
