//! The local API in this process, started and ready to serve: the gateway over the template's
//! routes, the store the functions keep their data in, and the sales feed. Callable without a
//! socket ([`LocalApi::call`]); `server` puts it on one, `backend` starts it over a back end.

use axum::body::Body;
use bytes::Bytes;
use retail_core::store::dynamo::DynamoStore;
use retail_core::store::memory::MemoryStore;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::authorizer::{DevKey, TokenRequest};
use crate::error::StartError;
use crate::functions::Functions;
use crate::gateway::Gateway;
use crate::options::Options;
use crate::seed::{self, SeedSummary};
use crate::stream::FeedTask;
use crate::template::{self, Template, TemplateError};

/// The local API, ready to serve: cheap to clone, shared by every connection.
/// [`LocalApi::start`] (in `backend`) starts it over the options' back end.
#[derive(Clone)]
pub struct LocalApi {
    pub(crate) gateway: Arc<Gateway>,
    pub(crate) store: Option<MemoryStore>,
    pub(crate) seeded: Option<SeedSummary>,
    /// The sales stream feeding `sales-aggregator`, while any clone of the API lives.
    pub(crate) feed: Option<Arc<FeedTask>>,
    /// On DynamoDB: its store, and the tables this start created.
    pub(crate) dynamo: Option<(DynamoStore, Vec<String>)>,
}

impl LocalApi {
    /// The template's routes served by `functions` (tests swap in their own).
    pub async fn start_with(options: &Options, functions: Functions) -> Result<LocalApi, StartError> {
        let text = std::fs::read_to_string(&options.template)
            .map_err(|source| TemplateError::Read { path: options.template.display().to_string(), source })?;
        let template = Template::parse(&text)?;
        let functions = functions.dashboard_as_in(&text, &template)?;
        let key_file = options.resolved_key_file();
        // RSA key generation takes a moment; keep it off the async workers.
        let key = tokio::task::spawn_blocking(move || DevKey::load_or_create(&key_file))
            .await
            .expect("key generation does not panic")?;
        let gateway = Gateway::build(&template, &functions, Arc::new(key), options.bench_hello)?;
        let seeded = match &options.seed_dir {
            Some(dir) => Some(seed::load(&gateway, dir).await?),
            None => None,
        };
        Ok(LocalApi { gateway: Arc::new(gateway), store: None, seeded, feed: None, dynamo: None })
    }

    /// A signed development token for the template's authorizer.
    pub fn mint(&self, request: &TokenRequest) -> String {
        let config = self.gateway.token_authorizer().cloned().unwrap_or_else(|| template::JwtConfig {
            name: String::new(),
            issuer: String::new(),
            audience: Vec::new(),
            identity_header: "authorization".into(),
        });
        self.gateway.key().sign(&request.claims(&config))
    }

    /// A token with these scopes (`pos`, `store`, `headoffice`) for this store, valid an hour.
    pub fn token(&self, scopes: &[&str], store_id: Option<&str>) -> String {
        self.mint(&TokenRequest::new(scopes, store_id))
    }

    /// One request through the gateway without a socket (the client appears as 127.0.0.1).
    pub async fn call(&self, request: http::Request<impl Into<Body>>) -> http::Response<Bytes> {
        let (parts, body) = request.into_parts();
        let response = self
            .gateway
            .handle(http::Request::from_parts(parts, body.into()), SocketAddr::from(([127, 0, 0, 1], 0)), 0)
            .await;
        let (parts, body) = response.into_parts();
        let bytes = http_body_util::BodyExt::collect(body).await.map(|c| c.to_bytes()).unwrap_or_default();
        http::Response::from_parts(parts, bytes)
    }

    /// `"GET /stores/{storeId}/commodities/{sku}"`, ... as served.
    pub fn route_keys(&self) -> Vec<String> {
        self.gateway.route_keys().map(str::to_owned).collect()
    }

    /// The published JWKS.
    pub fn jwks(&self) -> serde_json::Value {
        self.gateway.key().jwks()
    }

    pub fn seeded(&self) -> Option<&SeedSummary> {
        self.seeded.as_ref()
    }

    /// The embedded store, when started by [`LocalApi::start`].
    pub fn store(&self) -> Option<&MemoryStore> {
        self.store.as_ref()
    }

    /// The DynamoDB store, when started on an endpoint.
    pub fn dynamo_store(&self) -> Option<&DynamoStore> {
        self.dynamo.as_ref().map(|(store, _)| store)
    }

    /// The tables this start created (empty when they all existed).
    pub fn created_tables(&self) -> &[String] {
        self.dynamo.as_ref().map(|(_, created)| created.as_slice()).unwrap_or(&[])
    }
}
