//! sales-aggregator when its store fails: the batch fails (the stream retries it), and a failure
//! that retries cannot mend is logged as an error saying so, with the database's reason.

use catalog_admin::CatalogAdmin;
use checkout::Checkout;
use commodity_lookup::CommodityLookup;
use price_adjustment::PriceAdjustments;
use retail_core::store::StoreError;
use retail_core::store::dynamo::{DynamoStore, TableSet, Tables};
use retail_core::testing::{catalog::Shop, stream::*, till::*};
use sales_aggregator::SalesAggregator;
use serde_json::json;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

/// Every event logged while it is the default subscriber, as `LEVEL field=value ...`.
#[derive(Clone, Default)]
struct Logged(Arc<Mutex<Vec<String>>>);

struct Fields<'a>(&'a mut String);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }
}

impl tracing::Subscriber for Logged {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut line = event.metadata().level().to_string();
        event.record(&mut Fields(&mut line));
        self.0.lock().unwrap().push(line);
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

#[tokio::test(flavor = "current_thread")]
async fn a_batch_the_store_refuses_for_good_fails_and_is_logged_as_permanent_with_the_reason() {
    let shop = Shop::new(CatalogAdmin::new, CommodityLookup::new, PriceAdjustments::new);
    let till = Till::stocked(shop, Checkout::new).await;
    till.sold("S001", "a", &basket("T01", json!([{"sku": "MILK", "quantity": 3}]), json!([cash(5000)]))).await;
    let sales = till.recorded();

    // A deployment that did not give the function its aggregates table: every fold is refused
    // before it is sent, and sending it again changes nothing.
    let store = DynamoStore::for_endpoint("http://127.0.0.1:9", Tables::with_prefix("retail-").only(TableSet::of(&[])));
    let aggregator = SalesAggregator::new(store);
    let logged = Logged::default();
    let _default = tracing::subscriber::set_default(logged.clone());
    let answer = aggregator.fold(event(inserts(1, sales.iter().map(|s| &**s)))).await;

    let Err(e @ StoreError::Permanent { .. }) = &answer else { panic!("{answer:?}") };
    assert!(e.to_string().contains("AGGREGATES_TABLE"), "{e}");
    let lines = logged.0.lock().unwrap().clone();
    let said = lines.iter().find(|l| l.contains("retrying it will not help")).unwrap_or_else(|| panic!("{lines:#?}"));
    assert!(said.starts_with("ERROR"), "{said}");
    assert!(said.contains("AGGREGATES_TABLE") && said.contains("entries=1"), "{said}");
}
