//! The functions `retail-local` can host in-process, by the binary name the template gives them
//! (`Metadata.BuildProperties.Binary`).

use retail_core::http::HttpFunction;
use retail_core::http::function::{Reply, ResponseFuture, request_id, respond};
use retail_core::store::dynamo::TableSet;
use retail_core::store::memory::MemoryStore;
use retail_core::store::{AggregateStore, CatalogFeed, CatalogStore, LookupStore, PriceStore, PromotionStore, ReturnsStore};
use std::collections::BTreeMap;
use std::sync::Arc;

use crate::emulator::EmulatedFunction;

/// How a function is called: its handler in this process, or its binary under the emulator.
#[derive(Clone)]
pub enum Handler {
    InProcess(Arc<dyn HttpFunction>),
    Emulated(Arc<EmulatedFunction>),
}

/// Binary name → the function's HTTP handler.
#[derive(Clone, Default)]
pub struct Functions {
    http: BTreeMap<String, Handler>,
}

impl std::fmt::Debug for Functions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.http.keys()).finish()
    }
}

impl Functions {
    pub fn empty() -> Self {
        Functions::default()
    }

    /// The workspace's HTTP functions over one embedded store (clones share its state).
    pub fn embedded(store: &MemoryStore) -> Self {
        Functions::over(store)
    }

    /// The workspace's HTTP functions in-process over `store` (clones share one client or state).
    pub fn over<S>(store: &S) -> Self
    where
        S: CatalogStore + LookupStore + CatalogFeed + PriceStore + PromotionStore + ReturnsStore + AggregateStore,
    {
        Functions::empty()
            .with("catalog-admin", catalog_admin::CatalogAdmin::new(store.clone()))
            .with("commodity-lookup", commodity_lookup::CommodityLookup::new(store.clone()))
            .with("price-adjustment", price_adjustment::PriceAdjustments::new(store.clone()))
            .with("checkout", checkout::Checkout::new(store.clone()))
            .with("sales-report", sales_report::SalesReport::new(store.clone()))
            .with("dashboard", dashboard::Dashboard::new(&dashboard::DashboardConfig::from_vars(local_dashboard_var)))
    }

    /// The in-process dashboard configured as `template` configures its function (its
    /// environment, parameters at their defaults), signing browsers in against this
    /// `retail-local`. Unchanged when the template has no dashboard or it runs under the emulator.
    pub fn dashboard_as_in(self, template_text: &str, template: &crate::template::Template) -> Result<Self, crate::template::TemplateError> {
        let Some(decl) = template.functions.iter().find(|f| f.binary.as_deref() == Some("dashboard")) else {
            return Ok(self);
        };
        if !matches!(self.get("dashboard"), Some(Handler::InProcess(_))) {
            return Ok(self);
        }
        let vars = crate::environment::function_environment(template_text, &decl.logical_id, &|_| None)?.variables;
        let config = dashboard::DashboardConfig::from_vars(|name| local_dashboard_var(name).or_else(|| vars.get(name).cloned()));
        Ok(self.with("dashboard", dashboard::Dashboard::new(&config)))
    }

    /// Adds or replaces the handler of `binary`.
    pub fn with(mut self, binary: &str, function: impl HttpFunction) -> Self {
        self.http.insert(binary.to_owned(), Handler::InProcess(Arc::new(function)));
        self
    }

    /// Adds or replaces `binary` with its process under the emulator.
    pub fn with_emulated(mut self, function: Arc<EmulatedFunction>) -> Self {
        self.http.insert(function.name().to_owned(), Handler::Emulated(function));
        self
    }

    pub fn get(&self, binary: &str) -> Option<&Handler> {
        self.http.get(binary)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.http.keys().map(String::as_str)
    }
}

/// Every function binary of the workspace, and the DynamoDB tables it declares (its crate's
/// `TABLES`): what its `main` requires at start, and what template.yaml must give it.
pub const DECLARED_TABLES: [(&str, TableSet); 6] = [
    ("catalog-admin", catalog_admin::TABLES),
    ("commodity-lookup", commodity_lookup::TABLES),
    ("price-adjustment", price_adjustment::TABLES),
    ("checkout", checkout::TABLES),
    ("sales-report", sales_report::TABLES),
    ("sales-aggregator", sales_aggregator::TABLES),
];

/// The tables function `binary` declares, if the workspace has it.
pub fn declared_tables(binary: &str) -> Option<TableSet> {
    DECLARED_TABLES.iter().find(|(name, _)| *name == binary).map(|(_, tables)| *tables)
}

/// Where `--bench-hello` serves [`BenchHello`].
pub const BENCH_HELLO_PATH: &str = "/__bench/hello";

/// The smallest function: 200 `{"hello":"world"}` with the headers every function sets. Served
/// through the same authorizer, event and in-process call as the real routes, it is the
/// baseline a lookup benchmark compares against.
pub struct BenchHello;

#[derive(serde::Serialize)]
struct Hello {
    hello: &'static str,
}

impl HttpFunction for BenchHello {
    fn call(&self, request: lambda_http::Request) -> ResponseFuture<'_> {
        Box::pin(async move {
            let id = request_id(&request);
            respond(&id, Ok(Reply::ok(&Hello { hello: "world" })))
        })
    }
}

/// What `retail-local` tells a function that signs browsers in (`OIDC_ISSUER` in its
/// environment): the OpenID issuer is `retail-local` itself, discovered on the page's own origin.
pub const LOCAL_OIDC_DISCOVERY_URL: &str = crate::gateway::OPENID_CONFIGURATION_PATH;

/// What `retail-local` sets for the dashboard whatever its template says: this issuer.
fn local_dashboard_var(name: &str) -> Option<String> {
    (name == "OIDC_DISCOVERY_URL").then(|| LOCAL_OIDC_DISCOVERY_URL.to_owned())
}
