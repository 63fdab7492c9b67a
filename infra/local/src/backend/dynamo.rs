//! `retail-local` on a DynamoDB endpoint: tables created from the template, the sales table's
//! real stream feeding the aggregator, and the functions either in-process or as their release
//! binaries under the Runtime Interface Emulator.

use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_types::error::display::DisplayErrorContext;
use retail_core::store::dynamo::{Backfilled, DynamoStore, Tables, backfill_catalog};
use sales_aggregator::SalesAggregator;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::api::LocalApi;
use crate::dynamo_stream::{StreamConsumer, feed_from_stream, streams_client_for};
use crate::emulator::{EmulatedFunction, FunctionProcess};
use crate::environment::function_environment;
use crate::error::StartError;
use crate::event::{EventInput, v2_event};
use crate::functions::Functions;
use crate::options::{DynamoOptions, EmulatorOptions, Options};
use crate::seed::SeedSummary;
use crate::stream::{self, SALES_TABLE};
use crate::template::Template;

pub(crate) async fn start_dynamo(options: &Options, dynamo: &DynamoOptions) -> Result<LocalApi, StartError> {
    let template = Template::load(&options.template)?;
    let tables = Tables::with_prefix(&dynamo.table_prefix);
    let store = DynamoStore::for_endpoint(&dynamo.endpoint, tables.clone());
    let tables_error = |why: String| StartError::Tables { endpoint: dynamo.endpoint.clone(), why };
    let mut created = store.create_missing_tables(&template.tables).await.map_err(tables_error)?;
    let seed = match seed_decision(&store, &created, options.seed_dir.is_some(), &dynamo.table_prefix).await {
        Ok(Seed::Yes) => true,
        Ok(Seed::No) => false,
        Ok(Seed::Again) => {
            delete_tables(&store).await.map_err(tables_error)?;
            created = store.create_missing_tables(&template.tables).await.map_err(tables_error)?;
            true
        }
        Err(why) => return Err(tables_error(why)),
    };
    store.check_tables().await.map_err(tables_error)?;
    if created.len() < store.tables().all().len() {
        upgrade_tables(&store, &template).await.map_err(tables_error)?;
    }

    // Which function the sales table's stream feeds, and in what batches.
    let fed = template.functions.iter().find_map(|f| {
        let stream = f.streams.iter().find(|s| s.table == SALES_TABLE)?;
        Some((f.binary.clone().unwrap_or_default(), stream.batch_size))
    });
    let (functions, consumer) = match &dynamo.emulator {
        None => {
            let consumer = match &fed {
                Some((binary, _)) if binary == "sales-aggregator" => {
                    Some(StreamConsumer::InProcess(Arc::new(SalesAggregator::new(store.clone()))))
                }
                Some((binary, _)) => {
                    return Err(StartError::UnknownBinary {
                        function: format!("the {SALES_TABLE} stream's consumer"),
                        binary: binary.clone(),
                        known: "sales-aggregator".into(),
                    });
                }
                None => None,
            };
            (Functions::over(&store), consumer)
        }
        Some(emulator) => {
            let text = std::fs::read_to_string(&options.template).map_err(|source| {
                crate::template::TemplateError::Read { path: options.template.display().to_string(), source }
            })?;
            let processes = emulated_functions(&template, &text, &tables, dynamo, emulator)?;
            warm_up(&template, &processes).await?;
            let consumer = fed.as_ref().and_then(|(binary, _)| processes.get(binary)).cloned().map(StreamConsumer::Emulated);
            let functions = processes
                .values()
                .filter(|f| template.routes.iter().any(|r| r.binary == f.name()))
                .fold(Functions::empty(), |functions, f| functions.with_emulated(Arc::clone(f)));
            (functions, consumer)
        }
    };
    let seeding = Arc::new(AtomicBool::new(seed));
    let feed = consumer.map(|consumer| {
        let batch_size = fed.as_ref().map(|(_, b)| *b).unwrap_or(100);
        let streams = streams_client_for(store.client(), &dynamo.endpoint);
        Arc::new(stream::FeedTask(tokio::spawn(feed_from_stream(
            store.client().clone(),
            streams,
            tables.sales.clone(),
            consumer,
            batch_size,
            Arc::clone(&seeding),
        ))))
    });

    let mut options = options.clone();
    if seed {
        mark_seed_started(&store).await.map_err(tables_error)?;
    } else {
        options.seed_dir = None;
    }
    let started = LocalApi::start_with(&options, functions).await;
    seeding.store(false, Ordering::Relaxed);
    let mut api = match started {
        Ok(api) => api,
        Err(e) => {
            if seed && matches!(e, StartError::Seed(_)) {
                tracing::error!(
                    prefix = %dynamo.table_prefix,
                    "the demo seed did not finish: the next start deletes these tables, creates them again and seeds them"
                );
            }
            return Err(e);
        }
    };
    if let Some(summary) = api.seeded() {
        mark_seed_complete(&store, summary).await.map_err(tables_error)?;
    }
    api.feed = feed;
    api.dynamo = Some((store, created));
    Ok(api)
}

/// Tables an earlier release made, brought up to this one's: the indexes the template has and
/// they lack, and the items written before the tills' catalog sync put into its indexes.
async fn upgrade_tables(store: &DynamoStore, template: &Template) -> Result<(), String> {
    let added = store.add_missing_indexes(&template.tables).await?;
    let tables = store.tables();
    let backfilled = backfill_catalog(store.client(), &tables.commodities, &tables.prices).await?;
    if !added.is_empty() || backfilled != Backfilled::default() {
        tracing::info!(
            indexes = ?added,
            commodities = backfilled.commodities,
            price_schedules = backfilled.schedules,
            "tables made by an earlier release brought up to this one (the catalog indexes a till's snapshot walks)"
        );
    }
    Ok(())
}

/// Where `retail-local` notes how far the demo seed got on a set of tables: one item of the
/// idempotency table, which the functions read and write by key only, under a key none of them
/// uses (theirs begin `sale#`, `stock#`, `receipt-sequence#`). `state` is [`SEED_STARTED`],
/// written before the first seed request, then [`SEED_COMPLETE`] once the last one succeeded.
const SEED_MARKER_PK: &str = "retail-local#demo-seed";
const SEED_STARTED: &str = "started";
const SEED_COMPLETE: &str = "complete";

/// Whether this start seeds the tables.
enum Seed {
    Yes,
    No,
    /// A seed began on these tables and did not finish: delete them, create them again, seed.
    Again,
}

/// Demo data goes into tables that hold nothing yet (seeding twice would add the stock
/// movements twice), and a seed that did not finish is started over rather than left half done.
async fn seed_decision(store: &DynamoStore, created: &[String], wanted: bool, prefix: &str) -> Result<Seed, String> {
    if created.len() == store.tables().all().len() {
        return Ok(if wanted { Seed::Yes } else { Seed::No });
    }
    let marker = store
        .client()
        .get_item()
        .table_name(&store.tables().idempotency)
        .key("pk", AttributeValue::S(SEED_MARKER_PK.into()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| format!("cannot read the seed marker: {}", DisplayErrorContext(&e)))?
        .item;
    let text = |name: &str| marker.as_ref().and_then(|m| m.get(name)?.as_s().ok().cloned()).unwrap_or_default();
    let state = text("state");
    let started_at = text("startedAt");
    Ok(match (state.as_str(), wanted) {
        (SEED_COMPLETE, _) => {
            if wanted {
                tracing::info!(prefix, seeded_at = %text("completedAt"), "the tables hold the demo data already: not seeding them again");
            }
            Seed::No
        }
        (SEED_STARTED, true) => {
            tracing::warn!(
                prefix,
                started_at,
                "the demo seed started on these tables did not finish: deleting them, creating them again and seeding them"
            );
            Seed::Again
        }
        (SEED_STARTED, false) => {
            tracing::warn!(
                prefix,
                started_at,
                "these tables hold a demo seed that did not finish; start without --no-seed to seed them again, \
                 or choose another --table-prefix"
            );
            Seed::No
        }
        (_, false) => Seed::No,
        (_, true) => {
            if all_empty(store).await? {
                Seed::Yes
            } else {
                tracing::info!(
                    prefix,
                    "the tables hold data retail-local did not seed: not seeding them (another --table-prefix starts on new tables)"
                );
                Seed::No
            }
        }
    })
}

/// The marker says a seed began (before its first request).
async fn mark_seed_started(store: &DynamoStore) -> Result<(), String> {
    store
        .client()
        .put_item()
        .table_name(&store.tables().idempotency)
        .item("pk", AttributeValue::S(SEED_MARKER_PK.into()))
        .item("state", AttributeValue::S(SEED_STARTED.into()))
        .item("startedAt", AttributeValue::S(now_text()))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot write the seed marker: {}", DisplayErrorContext(&e)))
}

/// The marker says the seed finished, and what it loaded.
async fn mark_seed_complete(store: &DynamoStore, seeded: &SeedSummary) -> Result<(), String> {
    let what = format!(
        "{} stores, {} commodities, {} price lines, {} stock movements, {} sales, {} promotions",
        seeded.stores, seeded.commodities, seeded.price_lines, seeded.stock_movements, seeded.sales, seeded.promotions
    );
    store
        .client()
        .update_item()
        .table_name(&store.tables().idempotency)
        .key("pk", AttributeValue::S(SEED_MARKER_PK.into()))
        .update_expression("SET #state = :complete, completedAt = :now, seeded = :what")
        .expression_attribute_names("#state", "state")
        .expression_attribute_values(":complete", AttributeValue::S(SEED_COMPLETE.into()))
        .expression_attribute_values(":now", AttributeValue::S(now_text()))
        .expression_attribute_values(":what", AttributeValue::S(what))
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("cannot write the seed marker: {}", DisplayErrorContext(&e)))
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Whether every table is empty (one item at most is read from each).
async fn all_empty(store: &DynamoStore) -> Result<bool, String> {
    for (_, name) in store.tables().all() {
        let page = store
            .client()
            .scan()
            .table_name(name)
            .limit(1)
            .send()
            .await
            .map_err(|e| format!("cannot read {name}: {}", DisplayErrorContext(&e)))?;
        if page.count() > 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Deletes every table of the set and waits until they are gone.
async fn delete_tables(store: &DynamoStore) -> Result<(), String> {
    for (_, name) in store.tables().all() {
        match store.client().delete_table().table_name(name).send().await {
            Ok(_) => {}
            Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => {}
            Err(e) => return Err(format!("cannot delete {name}: {}", DisplayErrorContext(&e))),
        }
    }
    // DynamoDB deletes a table in the background; local endpoints at once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    for (_, name) in store.tables().all() {
        loop {
            match store.client().describe_table().table_name(name).send().await {
                Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_not_found_exception()) => break,
                _ if tokio::time::Instant::now() > deadline => return Err(format!("{name} is still there after deleting it")),
                _ => tokio::time::sleep(Duration::from_millis(500)).await,
            }
        }
    }
    Ok(())
}

/// Every function of the template with a binary, ready to run under the emulator with the
/// environment Lambda would give it.
fn emulated_functions(
    template: &Template,
    text: &str,
    tables: &Tables,
    dynamo: &DynamoOptions,
    emulator: &EmulatorOptions,
) -> Result<BTreeMap<String, Arc<EmulatedFunction>>, StartError> {
    if !emulator.emulator.is_file() {
        return Err(StartError::Emulator(format!(
            "the Runtime Interface Emulator {} does not exist (`bash tests/run.sh --tools` \
             puts it at target/venv/bin/aws-lambda-rie-x86_64)",
            emulator.emulator.display()
        )));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&emulator.emulator).map(|m| m.permissions().mode()).unwrap_or(0);
        if mode & 0o111 == 0 {
            return Err(StartError::Emulator(format!(
                "the Runtime Interface Emulator {} is not executable (chmod +x it)",
                emulator.emulator.display()
            )));
        }
    }
    let region = std::env::var("AWS_REGION").ok().filter(|r| !r.is_empty()).unwrap_or_else(|| "us-east-1".into());
    let mut functions = BTreeMap::new();
    for decl in &template.functions {
        let Some(binary) = &decl.binary else { continue };
        let path = emulator.functions_dir.join(binary);
        if !path.is_file() {
            return Err(StartError::Emulator(format!(
                "{} ({}) has no binary at {}: build it with `cargo build --release --workspace`, or pass --functions-dir",
                decl.logical_id,
                binary,
                path.display()
            )));
        }
        let env = function_environment(text, &decl.logical_id, &|id| tables.by_logical_id(id).map(str::to_owned))?;
        let mut vars: BTreeMap<String, String> = env.variables.clone();
        if vars.contains_key("OIDC_ISSUER") {
            vars.insert("OIDC_DISCOVERY_URL".to_owned(), crate::functions::LOCAL_OIDC_DISCOVERY_URL.to_owned());
        }
        // What Lambda itself sets (the emulator adds AWS_LAMBDA_RUNTIME_API), and development
        // credentials for the local endpoint in place of the function's role.
        for (k, v) in [
            ("AWS_LAMBDA_FUNCTION_NAME", binary.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_owned()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", env.memory_mb.to_string()),
            ("AWS_LAMBDA_FUNCTION_TIMEOUT", env.timeout_s.to_string()),
            ("AWS_LAMBDA_LOG_FORMAT", env.log_format.clone()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{binary}")),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "local".to_owned()),
            ("AWS_REGION", region.clone()),
            ("AWS_DEFAULT_REGION", region.clone()),
            ("AWS_ACCESS_KEY_ID", "local".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "local".to_owned()),
            ("AWS_ENDPOINT_URL_DYNAMODB", dynamo.endpoint.clone()),
            ("PATH", "/usr/local/bin:/usr/bin:/bin".to_owned()),
            ("LANG", "en_US.UTF-8".to_owned()),
            ("TZ", ":UTC".to_owned()),
        ] {
            vars.entry(k.to_owned()).or_insert(v);
        }
        let process = FunctionProcess {
            name: binary.clone(),
            binary: path,
            emulator: emulator.emulator.clone(),
            env: vars.into_iter().collect(),
            timeout: Duration::from_secs(u64::from(env.timeout_s)),
            emulator_logs: emulator.emulator_logs,
        };
        functions.insert(binary.clone(), Arc::new(EmulatedFunction::new(process, emulator.max_environments)));
    }
    Ok(functions)
}

/// One invocation of every function before serving: a binary that cannot start fails the start
/// with its output, instead of every request to it answering 500 later.
async fn warm_up(template: &Template, functions: &BTreeMap<String, Arc<EmulatedFunction>>) -> Result<(), StartError> {
    let mut calls = tokio::task::JoinSet::new();
    for (binary, function) in functions {
        let event = match template.routes.iter().find(|r| &r.binary == binary) {
            Some(route) => warm_up_event(&route.method, &route.path, &route.route_key()),
            // A stream consumer: an empty batch.
            None => json!({ "Records": [] }),
        };
        let function = Arc::clone(function);
        calls.spawn(async move {
            let answer = function.invoke(&event).await.map_err(|e| e.to_string())?;
            let answered = answer.get("statusCode").is_some() || answer.get("batchItemFailures").is_some();
            if answered {
                Ok(())
            } else {
                Err(format!("{}: the warm-up invocation failed: {answer}", function.name()))
            }
        });
    }
    let mut failures = Vec::new();
    while let Some(done) = calls.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e),
            Err(e) => failures.push(e.to_string()),
        }
    }
    if failures.is_empty() { Ok(()) } else { Err(StartError::Emulator(failures.join("\n\n"))) }
}

/// A request to `path` without a token: every function answers it (401) without touching data.
fn warm_up_event(method: &str, path: &str, route_key: &str) -> Value {
    let mut params = Vec::new();
    let raw_path: Vec<String> = path
        .split('/')
        .map(|segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            Some(name) => {
                params.push((name.trim_end_matches('+'), "warm-up".to_owned()));
                "warm-up".to_owned()
            }
            None => segment.to_owned(),
        })
        .collect();
    let raw_path = if path == "$default" { "/".to_owned() } else { raw_path.join("/") };
    let method = if method == "ANY" { "GET" } else { method };
    let headers = http::HeaderMap::new();
    v2_event(&EventInput {
        method,
        raw_path: &raw_path,
        raw_query: "",
        headers: &headers,
        route_key,
        path_params: &params,
        claims: None,
        request_id: "retail-local-warm-up",
        source_ip: std::net::IpAddr::from([127, 0, 0, 1]),
        domain_name: "localhost",
        local_port: 0,
        body: b"",
        now: chrono::Utc::now(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warm_up_event_fills_every_path_parameter() {
        let event = warm_up_event("GET", "/stores/{storeId}/commodities/{sku}", "GET /stores/{storeId}/commodities/{sku}");
        assert_eq!(event["rawPath"], "/stores/warm-up/commodities/warm-up");
        assert_eq!(event["pathParameters"], json!({"storeId": "warm-up", "sku": "warm-up"}));
        assert!(event["requestContext"].get("authorizer").is_none());
        let request = crate::event::lambda_request(event).unwrap();
        assert_eq!(request.method(), http::Method::GET);
    }
}
