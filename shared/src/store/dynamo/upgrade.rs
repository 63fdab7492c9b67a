//! Tables made by an earlier release, brought up to what this one reads. The tills' catalog
//! sync (feed.rs) walks a `catalog` index on the commodities and prices tables, which only
//! items written since carry: a stack deployed before it gets the indexes from `sam deploy`
//! (CloudFormation adds a global secondary index to a live table), `retail-local` adds them to
//! the tables it finds, and either way the items written before need `catalog = "all"` once
//! ([`backfill_catalog`]), or a till's snapshot would miss them until head office writes them
//! again.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate, IndexStatus,
    KeySchemaElement, KeyType, Projection, ProjectionType, ScalarAttributeType,
};
use aws_smithy_types::error::display::DisplayErrorContext;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::feed::CATALOG_ALL;
use super::schema::COMMODITY_SK;
use super::{DynamoStore, IndexSpec, TableSpec, in_parallel, call_failed};

/// How long `retail-local` waits for an index it added to become active.
const INDEX_WAIT: Duration = Duration::from_secs(600);

impl DynamoStore {
    /// Adds to the existing tables of `specs` (parsed from template.yaml) the global secondary
    /// indexes they lack, one at a time, each awaited until active (what `sam deploy` does to a
    /// deployed stack). Answers the indexes added, as `table/index`.
    pub async fn add_missing_indexes(&self, specs: &[TableSpec]) -> Result<Vec<String>, String> {
        let mut added = Vec::new();
        for spec in specs {
            let Some(name) = self.tables.by_logical_id(&spec.logical_id) else { continue };
            for index in &spec.indexes {
                if index_status(&self.client, name, &index.name).await?.is_some() {
                    continue;
                }
                add_index(&self.client, name, spec, index).await?;
                added.push(format!("{name}/{}", index.name));
            }
        }
        Ok(added)
    }
}

/// The status of `index` on `table`; `None` when the table has no such index.
async fn index_status(client: &Client, table: &str, index: &str) -> Result<Option<IndexStatus>, String> {
    let described = client
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| format!("cannot describe {table}: {}", DisplayErrorContext(&e)))?;
    let indexes = described.table.and_then(|t| t.global_secondary_indexes).unwrap_or_default();
    Ok(indexes
        .into_iter()
        .find(|i| i.index_name.as_deref() == Some(index))
        .map(|i| i.index_status.unwrap_or(IndexStatus::Active)))
}

async fn add_index(client: &Client, table: &str, spec: &TableSpec, index: &IndexSpec) -> Result<(), String> {
    let bad = |e: aws_sdk_dynamodb::error::BuildError| format!("index {table}/{}: {e}", index.name);
    let keys: Vec<(&str, KeyType)> = std::iter::once((index.partition_key.as_str(), KeyType::Hash))
        .chain(index.sort_key.as_deref().map(|k| (k, KeyType::Range)))
        .collect();
    let mut schema = Vec::new();
    let mut attributes = Vec::new();
    for (attribute, kind) in keys {
        schema.push(KeySchemaElement::builder().attribute_name(attribute).key_type(kind).build().map_err(bad)?);
        let (_, scalar) = spec
            .attributes
            .iter()
            .find(|(a, _)| a == attribute)
            .ok_or_else(|| format!("index {table}/{}: the template defines no type for `{attribute}`", index.name))?;
        attributes.push(
            AttributeDefinition::builder()
                .attribute_name(attribute)
                .attribute_type(ScalarAttributeType::from(scalar.as_str()))
                .build()
                .map_err(bad)?,
        );
    }
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(&index.name)
        .set_key_schema(Some(schema))
        .projection(Projection::builder().projection_type(ProjectionType::All).build())
        .build()
        .map_err(bad)?;
    tracing::info!(table, index = index.name, "adding an index the template has and the table lacks");
    client
        .update_table()
        .table_name(table)
        .set_attribute_definitions(Some(attributes))
        .global_secondary_index_updates(GlobalSecondaryIndexUpdate::builder().create(create).build())
        .send()
        .await
        .map_err(|e| format!("cannot add index {} to {table}: {}", index.name, DisplayErrorContext(&e)))?;
    let started = Instant::now();
    loop {
        match index_status(client, table, &index.name).await? {
            Some(IndexStatus::Active) => return Ok(()),
            _ if started.elapsed() > INDEX_WAIT => {
                return Err(format!("index {table}/{} is not active after {} s", index.name, INDEX_WAIT.as_secs()));
            }
            _ => tokio::time::sleep(Duration::from_secs(1)).await,
        }
    }
}

/// What [`backfill_catalog`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backfilled {
    /// Commodity items given `catalog`.
    pub commodities: usize,
    /// Price schedule items (`live#...`) given `catalog`.
    pub schedules: usize,
}

/// Puts every commodity item of `commodities` and every price schedule item of `prices` that
/// lacks `catalog` into its table's `catalog` index (`catalog = "all"`, what the writers set
/// since the catalog sync). Safe to run again and beside the running functions: it scans for
/// items without the attribute, and sets that one attribute only on items that still exist.
pub async fn backfill_catalog(client: &Client, commodities: &str, prices: &str) -> Result<Backfilled, String> {
    let commodities = backfill(client, commodities, "sk = :kind", COMMODITY_SK).await?;
    let schedules = backfill(client, prices, "begins_with(sk, :kind)", "live#").await?;
    Ok(Backfilled { commodities, schedules })
}

/// Scans `table` for the items matching `filter` (`:kind` bound to `kind`) without `catalog`,
/// and sets it on each; answers how many.
async fn backfill(client: &Client, table: &str, filter: &str, kind: &str) -> Result<usize, String> {
    let mut updated = 0;
    let mut start: Option<HashMap<String, AttributeValue>> = None;
    loop {
        let page = client
            .scan()
            .table_name(table)
            .filter_expression(format!("{filter} AND attribute_not_exists(#catalog)"))
            .projection_expression("pk, sk")
            // `catalog` is a reserved word in expressions.
            .expression_attribute_names("#catalog", "catalog")
            .expression_attribute_values(":kind", AttributeValue::S(kind.to_owned()))
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .map_err(|e| format!("cannot scan {table}: {}", DisplayErrorContext(&e)))?;
        let writes: Vec<_> = page
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|key| {
                let (client, table) = (client.clone(), table.to_owned());
                async move {
                    let set = client
                        .update_item()
                        .table_name(&table)
                        .set_key(Some(key))
                        .update_expression("SET #catalog = :all")
                        .condition_expression("attribute_exists(pk)")
                        .expression_attribute_names("#catalog", "catalog")
                        .expression_attribute_values(":all", AttributeValue::S(CATALOG_ALL.to_owned()))
                        .send()
                        .await;
                    match set {
                        Ok(_) => Ok(true),
                        // Deleted since the scan read it: nothing to put in the index.
                        Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
                        Err(e) => Err(call_failed("UpdateItem", e)),
                    }
                }
            })
            .collect();
        let done = in_parallel(writes).await.map_err(|e| format!("cannot update the items of {table}: {e}"))?;
        updated += done.into_iter().filter(|&set| set).count();
        match page.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => return Ok(updated),
        }
    }
}
