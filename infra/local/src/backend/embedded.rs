//! `retail-local` on the embedded store: the handlers in-process over one `MemoryStore`, its
//! change feed delivering committed sales to the aggregator as the sales table's stream would.

use retail_core::store::memory::MemoryStore;
use std::sync::Arc;

use crate::api::LocalApi;
use crate::error::StartError;
use crate::functions::Functions;
use crate::options::Options;
use crate::stream::{self, SALES_TABLE};
use crate::template::Template;

/// The template's functions over a fresh embedded store, seeded unless told otherwise.
pub(crate) async fn start_embedded(options: &Options) -> Result<LocalApi, StartError> {
    let store = MemoryStore::new();
    let template = Template::load(&options.template)?;
    // The template says which function the sales table's stream feeds, and in what batches.
    let fed = template.functions.iter().find_map(|f| {
        let stream = f.streams.iter().find(|s| s.table == SALES_TABLE)?;
        Some((f.binary.clone().unwrap_or_default(), stream.batch_size))
    });
    let feed = match fed {
        Some((binary, batch_size)) if binary == "sales-aggregator" => {
            let aggregator = sales_aggregator::SalesAggregator::new(store.clone());
            Some(Arc::new(stream::FeedTask(tokio::spawn(stream::feed_sales(store.clone(), aggregator, batch_size)))))
        }
        Some((binary, _)) => {
            return Err(StartError::UnknownBinary {
                function: format!("the {SALES_TABLE} stream's consumer"),
                binary,
                known: "sales-aggregator".into(),
            });
        }
        None => None,
    };
    let mut api = LocalApi::start_with(options, Functions::embedded(&store)).await?;
    api.store = Some(store);
    api.feed = feed;
    Ok(api)
}
