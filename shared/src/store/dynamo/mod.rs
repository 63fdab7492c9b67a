//! The DynamoDB adapter: every store port on aws-sdk-dynamodb, held to the embedded store's
//! behaviour by the shared conformance suite. Writes are conditional, a checkout commits in one
//! `TransactWriteItems`, reads go by key (never a scan of history), and every AWS failure is
//! logged here and leaves as `StoreError::Unavailable` (503 with Retry-After), as
//! `StoreError::Permanent` when DynamoDB will refuse the request again (still a 503 to a
//! client, an error for an operator), or as the refusal a cancelled condition means; an item
//! that cannot be read back is `StoreError::Damaged`.

mod schema;
// The store ports on DynamoDB. Each operation's requests are grouped into as few sequential
// waves as the round-trip budgets allow (see ARCHITECTURE.md); the comments say which.
mod aggregates;
pub mod capacity;
mod catalog;
mod failure;
mod feed;
mod kept;
mod lookup;
pub mod meter;
mod once;
mod prices;
mod promotions;
mod read;
mod returns;
mod sales;
mod stock_fold;
mod upgrade;
mod write;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

use crate::store::StoreError;
use crate::store::StoreResult;
pub use capacity::Consumed;
pub use meter::{Attempts, CapacityMeter};
pub use schema::Item;
/// The exactly-once stream fold, for the suites that prove it on moto item by item.
#[doc(hidden)]
pub use once::{CHECKPOINT_PREFIX, Folded, StreamFold};
pub(crate) use failure::{call_failed, refused_for_good};
pub use upgrade::{Backfilled, backfill_catalog};

/// A configuration problem found at start-up (a missing variable, an unreachable table).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

mod tables;
pub use tables::{
    AGGREGATE_STORE_TABLES, CATALOG_FEED_TABLES, CATALOG_STORE_TABLES, LOOKUP_STORE_TABLES, PRICE_STORE_TABLES, PROMOTION_STORE_TABLES, SALES_STORE_TABLES,
    Table,
    TableSet, UnconfiguredTable,
};

/// Each table's environment variable and its logical id in template.yaml.
pub const TABLE_VARIABLES: [(&str, &str); Table::ALL.len()] = {
    let mut out = [("", ""); Table::ALL.len()];
    let mut i = 0;
    while i < Table::ALL.len() {
        out[i] = (Table::ALL[i].variable(), Table::ALL[i].logical_id());
        i += 1;
    }
    out
};

/// The physical table names. A table this store was not configured with holds a placeholder
/// that is no valid table name, and [`DynamoStore::new`] refuses every request naming it before
/// it is sent (logged as an error that names the variable): never a silent call elsewhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    pub stores: String,
    pub commodities: String,
    pub barcodes: String,
    pub stock: String,
    pub prices: String,
    pub price_batches: String,
    pub sales: String,
    pub idempotency: String,
    pub aggregates: String,
    pub promotions: String,
    pub catalog_changes: String,
    configured: TableSet,
}

impl Tables {
    /// The names of `tables` from their variables (`STORES_TABLE`, ...), each required; the
    /// variables of other tables are not read, so those stay unconfigured.
    pub fn from_env(tables: TableSet) -> Result<Tables, ConfigError> {
        Tables::from_lookup(|var| std::env::var(var).ok().filter(|v| !v.is_empty()), tables)
    }

    /// The same from any lookup of variables (tests, tools).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>, tables: TableSet) -> Result<Tables, ConfigError> {
        let mut names: HashMap<Table, String> = HashMap::new();
        let mut missing = Vec::new();
        for table in tables.iter() {
            match lookup(table.variable()) {
                Some(name) => {
                    names.insert(table, name);
                }
                None => missing.push(table),
            }
        }
        if !missing.is_empty() {
            return Err(ConfigError(missing_tables(&missing)));
        }
        let mut name = |t: Table| names.remove(&t).unwrap_or_else(|| t.placeholder());
        Ok(Tables {
            stores: name(Table::Stores),
            commodities: name(Table::Commodities),
            barcodes: name(Table::Barcodes),
            stock: name(Table::Stock),
            prices: name(Table::Prices),
            price_batches: name(Table::PriceBatches),
            sales: name(Table::Sales),
            idempotency: name(Table::Idempotency),
            aggregates: name(Table::Aggregates),
            promotions: name(Table::Promotions),
            catalog_changes: name(Table::CatalogChanges),
            configured: tables,
        })
    }

    /// `<prefix><LogicalId>` for every table: tests give each run its own prefix.
    pub fn with_prefix(prefix: &str) -> Tables {
        Tables::from_lookup(
            |var| Table::from_variable(var).map(|t| format!("{prefix}{}", t.logical_id())),
            TableSet::ALL,
        )
        .expect("every variable is listed")
    }

    /// These names for `tables` only; the others unconfigured (what a function with those
    /// tables sees).
    pub fn only(&self, tables: TableSet) -> Tables {
        Tables::from_lookup(
            |var| Table::from_variable(var).and_then(|t| self.name(t)).map(str::to_owned),
            tables,
        )
        .expect("only tables this one has")
    }

    /// The tables this store was configured with.
    pub fn configured(&self) -> TableSet {
        self.configured
    }

    /// The physical name of `table`, if configured.
    pub fn name(&self, table: Table) -> Option<&str> {
        if !self.configured.contains(table) {
            return None;
        }
        Some(match table {
            Table::Stores => &self.stores,
            Table::Commodities => &self.commodities,
            Table::Barcodes => &self.barcodes,
            Table::Stock => &self.stock,
            Table::Prices => &self.prices,
            Table::PriceBatches => &self.price_batches,
            Table::Sales => &self.sales,
            Table::Idempotency => &self.idempotency,
            Table::Aggregates => &self.aggregates,
            Table::Promotions => &self.promotions,
            Table::CatalogChanges => &self.catalog_changes,
        })
    }

    /// (logical id, physical name) of every configured table, in the template's order.
    pub fn all(&self) -> Vec<(&'static str, &str)> {
        self.configured.iter().filter_map(|t| Some((t.logical_id(), self.name(t)?))).collect()
    }

    /// The physical name of a configured table by its logical id.
    pub fn by_logical_id(&self, logical_id: &str) -> Option<&str> {
        self.name(Table::from_logical_id(logical_id)?)
    }
}

/// `SALES_TABLE is not set ...`: one message for every variable missing.
fn missing_tables(missing: &[Table]) -> String {
    let variables = missing.iter().map(|t| t.variable()).collect::<Vec<_>>().join(", ");
    let ids = missing.iter().map(|t| t.logical_id()).collect::<Vec<_>>().join(", ");
    if missing.len() == 1 {
        format!("environment variable {variables} is not set: it holds the name of {ids}, a table this function uses")
    } else {
        format!("environment variables {variables} are not set: they hold the names of {ids}, tables this function uses")
    }
}

/// How a table is declared in template.yaml: what `create_missing_tables` creates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    pub logical_id: String,
    /// (name, `S` | `N` | `B`)
    pub attributes: Vec<(String, String)>,
    pub partition_key: String,
    pub sort_key: Option<String>,
    /// `NEW_IMAGE`, `NEW_AND_OLD_IMAGES`, ...
    pub stream_view_type: Option<String>,
    pub ttl_attribute: Option<String>,
    /// Global secondary indexes, each projecting every attribute.
    pub indexes: Vec<IndexSpec>,
}

/// A global secondary index of a table (projection `ALL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: String,
    pub partition_key: String,
    pub sort_key: Option<String>,
}

/// Per attempt and per call: a till must hear back fast, and a hung connection must not hold
/// a Lambda until its own timeout.
pub fn timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_millis(1500))
        .operation_timeout(Duration::from_secs(3))
        .build()
}

/// Timeouts for a local endpoint. moto is one Python process: on a busy 2-core laptop a race of
/// fifty transactions or a 5000-line batch keeps it seconds behind, where DynamoDB answers in
/// milliseconds. Connecting still fails fast, so a missing endpoint is a quick 503, not a hang.
pub fn local_timeout_config() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(Duration::from_secs(20))
        .operation_timeout(Duration::from_secs(45))
        .build()
}

/// The SDK's standard retry (throttling and transient errors, with backoff), bounded.
pub fn retry_config() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(3)
}

/// A client config for an explicit endpoint (moto, DynamoDB Local): static development
/// credentials, the region from `AWS_REGION` or us-east-1, the retries of AWS and the local
/// timeouts. Tests add interceptors to it before building.
pub fn endpoint_config(endpoint: &str) -> aws_sdk_dynamodb::config::Builder {
    let region = std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()).unwrap_or_else(|| "us-east-1".into());
    aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .region(Region::new(region))
        .credentials_provider(Credentials::new("local", "local", None, None, "retail-local"))
        .endpoint_url(endpoint)
        .timeout_config(local_timeout_config())
        .retry_config(retry_config())
}

/// The HTTPS client every DynamoDB client here uses, one per process: hyper 1 and rustls on
/// *ring*, trusting [`trust_store`]'s roots.
///
/// Not the SDK's default client (rustls on aws-lc): aws-lc gathers CPU-jitter entropy the
/// first time a process wants random numbers, which at Lambda's CPU share was most of a cold
/// start's first DynamoDB call (aws-lc-rs #1140; a build variable turns it off, but only for
/// builds that remember to set it). *ring* seeds from `getrandom`. And one HTTPS stack: the
/// SDK crates are built without their default clients (`default-features = false` in the
/// workspace), so the legacy hyper 0.14 / rustls 0.21 client is not in the binaries either.
pub fn https_client() -> aws_smithy_runtime_api::client::http::SharedHttpClient {
    use aws_smithy_http_client::tls::{Provider, TlsContext, rustls_provider::CryptoMode};
    static CLIENT: std::sync::OnceLock<aws_smithy_runtime_api::client::http::SharedHttpClient> =
        std::sync::OnceLock::new();
    CLIENT
        .get_or_init(|| {
            let context = TlsContext::builder().with_trust_store(trust_store(&|name| std::env::var_os(name))).build();
            let builder = aws_smithy_http_client::Builder::new().tls_provider(Provider::rustls(CryptoMode::Ring));
            match context {
                Ok(context) => builder.tls_context(context).build_https(),
                // (It cannot fail today: `build` only stores what it is given.)
                Err(_) => builder.build_https(),
            }
        })
        .clone()
}

/// Amazon Trust Services' five roots, which sign the certificates of every AWS endpoint
/// (DynamoDB's among them).
const AMAZON_TRUST_SERVICES_ROOTS: &str = include_str!("amazon-trust-services-roots.pem");

/// The roots a DynamoDB connection trusts: Amazon Trust Services' five, built in, unless
/// `SSL_CERT_FILE` or `SSL_CERT_DIR` is set, in which case what they name (the standard
/// variables: a local TLS endpoint's CA, a proxy's, a region whose endpoints chain elsewhere).
/// Not the system's whole store by default: the SDK's client reads it at init, a bundle file
/// and then a directory (on Debian, where it was measured, some 140 roots twice: 3 ms of CPU at
/// every cold start, about 20 ms at 256 MB's share), to trust roots DynamoDB never presents.
fn trust_store(var: &dyn Fn(&str) -> Option<std::ffi::OsString>) -> aws_smithy_http_client::tls::TrustStore {
    use aws_smithy_http_client::tls::TrustStore;
    let named = ["SSL_CERT_FILE", "SSL_CERT_DIR"].iter().any(|name| var(name).is_some_and(|v| !v.is_empty()));
    if named {
        // rustls-native-certs reads exactly what the variables name.
        TrustStore::default()
    } else {
        TrustStore::empty().with_pem_certificate(AMAZON_TRUST_SERVICES_ROOTS.as_bytes())
    }
}

/// What a function's DynamoDB client is built from: the variables Lambda sets in every
/// function's environment, read once at init.
const REGION_VARIABLE: &str = "AWS_REGION";
const ACCESS_KEY_VARIABLE: &str = "AWS_ACCESS_KEY_ID";
const SECRET_KEY_VARIABLE: &str = "AWS_SECRET_ACCESS_KEY";
const SESSION_TOKEN_VARIABLE: &str = "AWS_SESSION_TOKEN";
/// Set only for a local endpoint (moto, DynamoDB Local); in AWS it is never set.
pub const ENDPOINT_VARIABLE: &str = "AWS_ENDPOINT_URL_DYNAMODB";

/// A function's client, the Lambda way: region, credentials and (locally) the endpoint
/// straight from the variables Lambda sets, with the functions' timeouts and retries. Not
/// `aws_config`'s provider chain, which a cold start pays for in full (profile files looked
/// for and parsed, the chain's providers built) although in Lambda its first link, the
/// environment, always answers. A missing variable is a start-up error that names it.
pub fn lambda_client() -> Result<Client, ConfigError> {
    lambda_client_from(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
}

/// The same from any lookup of variables (tests).
pub fn lambda_client_from(lookup: impl Fn(&str) -> Option<String>) -> Result<Client, ConfigError> {
    let required = |name: &str| {
        lookup(name).ok_or_else(|| {
            ConfigError(format!("{name} is not set: Lambda sets it for every function (under the emulator, set it yourself)"))
        })
    };
    let credentials = Credentials::new(
        required(ACCESS_KEY_VARIABLE)?,
        required(SECRET_KEY_VARIABLE)?,
        lookup(SESSION_TOKEN_VARIABLE),
        None,
        "lambda-environment",
    );
    let endpoint = lookup(ENDPOINT_VARIABLE);
    let mut config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(https_client())
        .region(Region::new(required(REGION_VARIABLE)?))
        .credentials_provider(credentials)
        .timeout_config(if endpoint.is_some() { local_timeout_config() } else { timeout_config() })
        .retry_config(retry_config());
    if let Some(endpoint) = endpoint {
        config = config.endpoint_url(endpoint);
    }
    Ok(Client::from_conf(config.build()))
}

/// Requests one operation keeps in flight at most (a 5000-line batch is thousands of writes).
const MAX_IN_FLIGHT: usize = 48;

/// Cheap to clone: clones share one client.
#[derive(Clone, Debug)]
pub struct DynamoStore {
    client: Client,
    tables: Arc<Tables>,
    /// Round robin over each (store, sku)'s stock shards (by stock partition key), from a
    /// random start per process so that Lambda instances do not all begin on shard 0.
    pub(crate) turns: Arc<std::sync::Mutex<HashMap<String, usize>>>,
    /// Strict (store, sku) stock this process last saw sold out (by stock partition key): its
    /// next sale reads the shards before it writes, rather than sending a transaction bound
    /// to fail.
    pub(crate) sold_out: Arc<std::sync::Mutex<std::collections::HashSet<String>>>,
    /// The cost meter on `client`: what its calls consumed since the last take.
    meter: CapacityMeter,
    /// The commodities and price schedules a warm checkout keeps (`kept.rs`).
    kept: kept::KeptCatalog,
}

impl DynamoStore {
    /// A store over `client`, which gets the cost meter ([`meter`]: every data-plane call asks
    /// for `ReturnConsumedCapacity: TOTAL`, and what it consumed is tallied until
    /// [`DynamoStore::take_consumed`]). Where `tables` leaves tables unconfigured, the client also
    /// gets a guard that refuses any request naming one of them before it is sent.
    pub fn new(client: Client, tables: Tables) -> DynamoStore {
        let unconfigured: Vec<Table> = Table::ALL.into_iter().filter(|t| !tables.configured.contains(*t)).collect();
        let meter = CapacityMeter::new(&tables);
        let mut config = client.config().to_builder().interceptor(meter.clone());
        if !unconfigured.is_empty() {
            config = config.interceptor(self::tables::UnconfiguredTableGuard::new(unconfigured));
        }
        DynamoStore {
            client: Client::from_conf(config.build()),
            tables: Arc::new(tables),
            turns: Default::default(),
            sold_out: Default::default(),
            kept: Default::default(),
            meter,
        }
    }

    /// What this store's calls consumed since the last take (by operation and table), leaving
    /// the tally empty. Clones share it: with requests in flight at once, as in `retail-local`,
    /// a take holds whatever finished meanwhile, not one request's own.
    pub fn take_consumed(&self) -> Consumed {
        self.meter.take()
    }

    /// A handle on the meter that outlives the store moved into a function.
    pub fn meter(&self) -> &CapacityMeter {
        &self.meter
    }

    /// A store on an explicit endpoint with development credentials.
    pub fn for_endpoint(endpoint: &str, tables: Tables) -> DynamoStore {
        DynamoStore::new(Client::from_conf(endpoint_config(endpoint).build()), tables)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }

    /// Describes every configured table; a missing or unreachable one is an error naming it.
    pub async fn check_tables(&self) -> Result<(), String> {
        for (logical, name) in self.tables.all() {
            match self.client.describe_table().table_name(name).send().await {
                Ok(_) => {}
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {
                    return Err(format!("table {name} ({logical}) does not exist"));
                }
                Err(e) => return Err(format!("table {name} ({logical}) cannot be described: {}", DisplayErrorContext(&e))),
            }
        }
        Ok(())
    }

    /// Creates the configured tables of `specs` (parsed from template.yaml) that do not exist
    /// yet, with their keys, stream and TTL. Returns the names it created.
    pub async fn create_missing_tables(&self, specs: &[TableSpec]) -> Result<Vec<String>, String> {
        let mut created = Vec::new();
        for spec in specs {
            let Some(name) = self.tables.by_logical_id(&spec.logical_id) else { continue };
            let exists = match self.client.describe_table().table_name(name).send().await {
                Ok(_) => true,
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => false,
                Err(e) => return Err(format!("cannot describe {name}: {}", DisplayErrorContext(&e))),
            };
            if exists {
                continue;
            }
            create_table(&self.client, name, spec).await?;
            created.push(name.to_owned());
        }
        Ok(created)
    }
}

async fn create_table(client: &Client, name: &str, spec: &TableSpec) -> Result<(), String> {
    let bad = |e: aws_sdk_dynamodb::error::BuildError| format!("table {name}: {e}");
    let mut attributes = Vec::new();
    for (attr, kind) in &spec.attributes {
        attributes.push(
            AttributeDefinition::builder()
                .attribute_name(attr)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()
                .map_err(bad)?,
        );
    }
    let mut keys =
        vec![KeySchemaElement::builder().attribute_name(&spec.partition_key).key_type(KeyType::Hash).build().map_err(bad)?];
    if let Some(sk) = &spec.sort_key {
        keys.push(KeySchemaElement::builder().attribute_name(sk).key_type(KeyType::Range).build().map_err(bad)?);
    }
    let mut indexes = Vec::new();
    for index in &spec.indexes {
        let mut keys = vec![
            KeySchemaElement::builder().attribute_name(&index.partition_key).key_type(KeyType::Hash).build().map_err(bad)?,
        ];
        if let Some(sk) = &index.sort_key {
            keys.push(KeySchemaElement::builder().attribute_name(sk).key_type(KeyType::Range).build().map_err(bad)?);
        }
        indexes.push(
            aws_sdk_dynamodb::types::GlobalSecondaryIndex::builder()
                .index_name(&index.name)
                .set_key_schema(Some(keys))
                .projection(
                    aws_sdk_dynamodb::types::Projection::builder()
                        .projection_type(aws_sdk_dynamodb::types::ProjectionType::All)
                        .build(),
                )
                .build()
                .map_err(bad)?,
        );
    }
    let mut request = client
        .create_table()
        .table_name(name)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(keys))
        .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
        .billing_mode(BillingMode::PayPerRequest);
    if let Some(view) = &spec.stream_view_type {
        request = request.stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view.as_str()))
                .build()
                .map_err(bad)?,
        );
    }
    match request.send().await {
        Ok(_) => {}
        // Someone else created it meanwhile.
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(()),
        Err(e) => return Err(format!("cannot create {name}: {}", DisplayErrorContext(&e))),
    }
    if let Some(ttl) = &spec.ttl_attribute {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder().attribute_name(ttl).enabled(true).build().map_err(bad)?,
            )
            .send()
            .await
            .map_err(|e| format!("cannot set TTL on {name}: {}", DisplayErrorContext(&e)))?;
    }
    Ok(())
}

/// Runs futures at once (at most `MAX_IN_FLIGHT` in flight): one wave of requests. Results in
/// the order given; the first failure wins, unless a later one is permanent.
///
/// A future is taken from `futures` only when it can start: given lazily (an iterator's `map`),
/// a wave of thousands (an aggregator batch's folds) holds `MAX_IN_FLIGHT` request futures at a
/// time, not thousands of them, each the size of the SDK's whole state machine.
pub(crate) async fn in_parallel<T, F>(futures: impl IntoIterator<Item = F>) -> StoreResult<Vec<T>>
where
    T: Send + 'static,
    F: Future<Output = StoreResult<T>> + Send + 'static,
{
    let mut futures = futures.into_iter().enumerate();
    let mut set = JoinSet::new();
    let mut out: Vec<Option<T>> = Vec::new();
    let mut failure = None;
    loop {
        while set.len() < MAX_IN_FLIGHT {
            let Some((i, f)) = futures.next() else { break };
            out.push(None);
            set.spawn(async move { (i, f.await) });
        }
        let Some(joined) = set.join_next().await else { break };
        match joined {
            Ok((i, Ok(v))) => out[i] = Some(v),
            // What the caller hears is the most telling failure: one that will recur wins.
            Ok((_, Err(e))) => {
                if failure.as_ref().is_none_or(|f: &StoreError| !f.is_permanent() && e.is_permanent()) {
                    failure = Some(e);
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "a DynamoDB request task failed");
                failure.get_or_insert(StoreError::Unavailable("the database is unavailable".to_owned()));
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(out.into_iter().map(|v| v.expect("every task answered")).collect()),
    }
}


#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    #[test]
    fn dynamodb_connections_trust_amazons_five_roots_unless_the_standard_variables_name_others() {
        let certificates = AMAZON_TRUST_SERVICES_ROOTS.matches("-----BEGIN CERTIFICATE-----").count();
        assert_eq!(certificates, 5);
        for root in ["Amazon Root CA 1", "Amazon Root CA 2", "Amazon Root CA 3", "Amazon Root CA 4", "Starfield Services Root Certificate Authority - G2"] {
            assert!(AMAZON_TRUST_SERVICES_ROOTS.contains(&format!("# {root}\n-----BEGIN")), "{root}");
        }
        let built_in = format!("{:?}", trust_store(&|_| None));
        assert!(built_in.contains("enable_native_roots: false"), "{built_in}");
        for name in ["SSL_CERT_FILE", "SSL_CERT_DIR"] {
            let named = format!("{:?}", trust_store(&|v| (v == name).then(|| "/etc/ssl/certs/x.pem".into())));
            assert!(named.contains("enable_native_roots: true") && named.contains("custom_certs: []"), "{name}: {named}");
        }
        // Set but empty is unset.
        assert_eq!(format!("{:?}", trust_store(&|_| Some("".into()))), built_in);
    }

    #[test]
    fn a_functions_client_is_built_from_lambdas_variables_and_names_the_missing_one() {
        let lambda = |missing: &'static str| {
            move |name: &str| {
                (name != missing).then(|| match name {
                    "AWS_REGION" => Some("cn-north-1".to_owned()),
                    "AWS_ACCESS_KEY_ID" | "AWS_SECRET_ACCESS_KEY" | "AWS_SESSION_TOKEN" => Some(format!("{name}-value")),
                    _ => None,
                })?
            }
        };
        let client = lambda_client_from(lambda("")).expect("every variable is set");
        assert_eq!(client.config().region().map(|r| r.as_ref()), Some("cn-north-1"));
        for missing in ["AWS_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] {
            let Err(error) = lambda_client_from(lambda(missing)) else { panic!("{missing} is required") };
            assert!(error.0.starts_with(&format!("{missing} is not set")), "{error}");
        }
        // A session token is not required (the emulator's own keys have none). (A local endpoint,
        // AWS_ENDPOINT_URL_DYNAMODB, is what every emulator suite runs on.)
        assert!(lambda_client_from(lambda("AWS_SESSION_TOKEN")).is_ok());
    }

    #[tokio::test]
    async fn a_wave_makes_its_requests_only_as_room_frees_up_and_answers_in_order() {
        let (made, done, most) = (AtomicUsize::new(0), Arc::new(AtomicUsize::new(0)), AtomicUsize::new(0));
        let futures = (0..MAX_IN_FLIGHT * 5).map(|i| {
            let alive = made.fetch_add(1, SeqCst) + 1 - done.load(SeqCst);
            most.fetch_max(alive, SeqCst);
            let done = Arc::clone(&done);
            async move {
                // Later ones finish first, so the order of the answers is not the order of finishing.
                tokio::time::sleep(Duration::from_micros(((MAX_IN_FLIGHT * 5 - i) % 7) as u64 * 100)).await;
                done.fetch_add(1, SeqCst);
                Ok(i)
            }
        });
        let answers = in_parallel(futures).await.unwrap();
        assert_eq!(answers, (0..MAX_IN_FLIGHT * 5).collect::<Vec<_>>());
        let most = most.load(SeqCst);
        assert!(most <= MAX_IN_FLIGHT, "{most} requests existed at once");
        assert!(most > 1, "the wave ran one at a time");
    }
}
