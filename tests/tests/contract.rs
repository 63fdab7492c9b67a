//! The contract, the template and the OpenAPI document agree: the same routes, served by the
//! functions the contract names, every function folder deployed the same way, and request bodies
//! that refuse members nobody defined.

use serde_norway::{Mapping, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The routes of the HTTP API (function, method, path), as clients are promised them.
/// Changing this list is a product decision, not a refactor.
const CONTRACT: [(&str, &str, &str); 25] = [
    ("checkout", "POST", "/stores/{storeId}/returns"),
    ("checkout", "GET", "/stores/{storeId}/returns/{returnId}"),
    ("checkout", "GET", "/stores/{storeId}/sales/{saleId}/returnable"),
    ("catalog-admin", "PUT", "/stores/{storeId}"),
    ("catalog-admin", "PUT", "/commodities/{sku}"),
    ("catalog-admin", "POST", "/stores/{storeId}/stock-movements"),
    // Beyond API.md (issue 5): a sku's stock item by item, to see how a hot sku's writes spread.
    ("catalog-admin", "GET", "/stores/{storeId}/stock/{sku}"),
    (
        "commodity-lookup",
        "GET",
        "/stores/{storeId}/commodities/{sku}",
    ),
    (
        "commodity-lookup",
        "GET",
        "/stores/{storeId}/barcodes/{barcode}",
    ),
    (
        "commodity-lookup",
        "POST",
        "/stores/{storeId}/commodities/lookup",
    ),
    // A till's catalog, synced to sell through a network outage (`?cursor=&limit=`).
    ("commodity-lookup", "GET", "/stores/{storeId}/catalog"),
    ("price-adjustment", "POST", "/price-adjustments"),
    ("price-adjustment", "GET", "/price-adjustments/{batchId}"),
    ("price-adjustment", "GET", "/stores/{storeId}/prices/{sku}"),
    ("price-adjustment", "PUT", "/promotions/{promotionId}"),
    ("price-adjustment", "GET", "/promotions/{promotionId}"),
    ("price-adjustment", "GET", "/stores/{storeId}/promotions"),
    ("checkout", "POST", "/stores/{storeId}/sales"),
    ("checkout", "POST", "/stores/{storeId}/sales/batch"),
    ("checkout", "GET", "/stores/{storeId}/sales/{saleId}"),
    ("sales-report", "GET", "/stores/{storeId}/reports/daily"),
    // Every commodity of a store-day, a page at a time (`?date=&cursor=&limit=`).
    ("sales-report", "GET", "/stores/{storeId}/reports/daily/commodities"),
    ("sales-report", "GET", "/reports/daily"),
    // The head-office dashboard's page and files, served without a token.
    ("dashboard", "GET", "/dashboard"),
    ("dashboard", "GET", "/dashboard/{asset}"),
];

/// Request schemas deliberately left open: a sales batch checks only each entry's key up front;
/// the rest of an entry is refused in that entry's own result, not by failing the whole batch.
const OPEN_BY_DESIGN: [&str; 1] = ["SalesBatchEntry"];

const HTTP_METHODS: [&str; 7] = ["get", "put", "post", "delete", "patch", "head", "options"];

type Route = (String, String);

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load_yaml(relative: &str) -> Value {
    let path = repo_root().join(relative);
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

fn template() -> Value {
    load_yaml("template.yaml")
}

fn openapi() -> Value {
    load_yaml("infra/openapi.yaml")
}

fn mapping<'v>(value: &'v Value, what: &str) -> &'v Mapping {
    value
        .as_mapping()
        .unwrap_or_else(|| panic!("{what} is not a mapping"))
}

fn key(k: &Value) -> &str {
    k.as_str().expect("a string key")
}

/// The logical id `X` of `!Ref X` or `{Ref: X}`.
fn ref_target(value: &Value) -> Option<&str> {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
        Value::Mapping(m) if m.len() == 1 => m.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

fn resources_of_type<'t>(template: &'t Value, kind: &str) -> BTreeMap<&'t str, &'t Value> {
    mapping(&template["Resources"], "Resources")
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(kind))
        .map(|(id, r)| (key(id), r))
        .collect()
}

fn functions(template: &Value) -> BTreeMap<&str, &Value> {
    resources_of_type(template, "AWS::Serverless::Function")
}

fn binary_of(function: &Value) -> &str {
    function["Metadata"]["BuildProperties"]["Binary"]
        .as_str()
        .unwrap_or("")
}

fn contract_routes() -> BTreeSet<Route> {
    CONTRACT
        .iter()
        .map(|(_, m, p)| (m.to_string(), p.to_string()))
        .collect()
}

fn assert_contract_routes(found: BTreeSet<Route>, source: &str) {
    let contract = contract_routes();
    let missing: Vec<_> = contract.difference(&found).collect();
    let extra: Vec<_> = found.difference(&contract).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{source} differs from the contract: missing {missing:?}, not in the contract {extra:?}"
    );
}

/// (method, path) → (function binary, event name) for every HttpApi event of the template.
fn template_routes(template: &Value) -> BTreeMap<Route, (String, String)> {
    let mut routes = BTreeMap::new();
    for (id, function) in functions(template) {
        let Some(events) = function["Properties"].get("Events") else {
            continue;
        };
        for (name, event) in mapping(events, "Events") {
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let props = &event["Properties"];
            let api = props.get("ApiId").and_then(ref_target);
            assert_eq!(
                api,
                Some("RetailApi"),
                "{id}.{} must be on the RetailApi",
                key(name)
            );
            let method = props["Method"]
                .as_str()
                .expect("Method")
                .to_ascii_uppercase();
            let path = props["Path"].as_str().expect("Path").to_owned();
            let served_by = (binary_of(function).to_owned(), key(name).to_owned());
            if let Some(other) = routes.insert((method.clone(), path.clone()), served_by) {
                panic!("{method} {path} is routed twice (also by {other:?})");
            }
        }
    }
    routes
}

/// (method, path) → operationId for every operation of the OpenAPI document.
fn openapi_routes(openapi: &Value) -> BTreeMap<Route, String> {
    let mut routes = BTreeMap::new();
    for (path, item) in mapping(&openapi["paths"], "paths") {
        for (method, operation) in mapping(item, "a path item") {
            let method = key(method);
            if !HTTP_METHODS.contains(&method) {
                continue;
            }
            let id = operation["operationId"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            routes.insert((method.to_ascii_uppercase(), key(path).to_owned()), id);
        }
    }
    routes
}

#[test]
fn template_routes_are_exactly_the_contract_and_served_by_the_named_functions() {
    let routes = template_routes(&template());
    assert_contract_routes(
        routes.keys().cloned().collect(),
        "template.yaml's HttpApi events",
    );
    for (function, method, path) in CONTRACT {
        let (binary, event) = &routes[&(method.to_owned(), path.to_owned())];
        assert_eq!(
            binary, function,
            "{method} {path} (event {event}) is served by the wrong function"
        );
    }
}

#[test]
fn openapi_routes_are_exactly_the_contract_with_template_event_names_as_operation_ids() {
    let documented = openapi_routes(&openapi());
    assert_contract_routes(
        documented.keys().cloned().collect(),
        "infra/openapi.yaml's operations",
    );

    let template_routes = template_routes(&template());
    for (route, operation_id) in &documented {
        let (_, event) = template_routes.get(route).unwrap_or_else(|| {
            panic!(
                "{} {} is documented but not routed by template.yaml",
                route.0, route.1
            )
        });
        assert_eq!(
            operation_id, event,
            "operationId of {} {} must be its template event name",
            route.0, route.1
        );
    }
}

#[test]
fn every_function_folder_is_built_from_the_workspace_by_cargo_lambda() {
    let template = template();
    let global_code_uri = template
        .get("Globals")
        .and_then(|g| g["Function"].get("CodeUri"));
    let functions = functions(&template);
    let by_binary: BTreeMap<&str, (&str, &Value)> = functions
        .iter()
        .map(|(id, f)| (binary_of(f), (*id, *f)))
        .collect();
    assert_eq!(
        by_binary.len(),
        functions.len(),
        "two template functions share a Binary"
    );

    let mut folders = BTreeSet::new();
    for entry in fs::read_dir(repo_root().join("functions")).expect("functions/") {
        let path = entry.expect("a functions/ entry").path();
        if path.join("Cargo.toml").is_file() {
            folders.insert(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    assert!(!folders.is_empty(), "no function crates under functions/");

    for folder in &folders {
        let (id, function) = by_binary.get(folder.as_str()).unwrap_or_else(|| {
            panic!(
                "functions/{folder} has no template function with BuildProperties.Binary {folder}"
            )
        });
        let build_method = function["Metadata"]["BuildMethod"].as_str();
        assert_eq!(
            build_method,
            Some("rust-cargolambda"),
            "{id}: Metadata.BuildMethod"
        );
        let code_uri = function["Properties"]
            .get("CodeUri")
            .or(global_code_uri)
            .and_then(Value::as_str);
        assert_eq!(
            code_uri,
            Some("./"),
            "{id}: CodeUri must be the workspace root"
        );
    }
    let binaries: BTreeSet<String> = by_binary.keys().map(|b| b.to_string()).collect();
    assert_eq!(
        binaries, folders,
        "every template function must be a folder of functions/ and vice versa"
    );
}

/// `PriceBatchesTable` → `PRICE_BATCHES_TABLE`.
fn env_var_for_table(logical_id: &str) -> String {
    let stem = logical_id.strip_suffix("Table").unwrap_or(logical_id);
    let mut name = String::new();
    for (i, c) in stem.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            name.push('_');
        }
        name.push(c.to_ascii_uppercase());
    }
    name + "_TABLE"
}

fn env_vars(scope: Option<&Value>) -> Vec<(&str, &Value)> {
    scope
        .and_then(|s| s.get("Environment"))
        .and_then(|e| e.get("Variables"))
        .and_then(Value::as_mapping)
        .map(|vars| vars.iter().map(|(k, v)| (key(k), v)).collect())
        .unwrap_or_default()
}

#[test]
fn function_env_vars_name_only_tables_of_the_template() {
    let template = template();
    let tables = resources_of_type(&template, "AWS::DynamoDB::Table");
    assert!(!tables.is_empty(), "the template defines no tables");
    let globals = template.get("Globals").and_then(|g| g.get("Function"));

    let mut named = BTreeSet::new();
    let mut scopes = vec![("Globals.Function".to_owned(), globals)];
    for (id, function) in functions(&template) {
        scopes.push((id.to_owned(), function.get("Properties")));
    }
    for (scope, variables) in scopes {
        for (var, value) in env_vars(variables) {
            let target = ref_target(value);
            if let Some(target) = target.filter(|t| template["Resources"].get(*t).is_some()) {
                assert!(
                    tables.contains_key(target),
                    "{scope}: {var} refers to {target}, which is not a table"
                );
            }
            if var.ends_with("_TABLE") {
                let table =
                    target.unwrap_or_else(|| panic!("{scope}: {var} must be !Ref of a table"));
                assert!(
                    tables.contains_key(table),
                    "{scope}: {var} names {table}, which is not a table of the template"
                );
                assert_eq!(
                    var,
                    env_var_for_table(table),
                    "{scope}: the variable for {table}"
                );
                named.insert(table);
            }
        }
    }
    let unnamed: Vec<_> = tables.keys().filter(|t| !named.contains(*t)).collect();
    assert!(
        unnamed.is_empty(),
        "tables no function can find by env var: {unnamed:?}"
    );
}

fn resolve<'v>(openapi: &'v Value, schema: &'v Value) -> (&'v Value, Option<&'v str>) {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let name = reference
                .strip_prefix("#/components/schemas/")
                .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
            let target = openapi["components"]["schemas"]
                .get(name)
                .unwrap_or_else(|| panic!("$ref to a missing schema {name}"));
            (resolve(openapi, target).0, Some(name))
        }
        None => (schema, None),
    }
}

fn is_object_schema(schema: &Value) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == "object",
        Some(Value::Sequence(ts)) => ts.iter().any(|t| t.as_str() == Some("object")),
        _ => false,
    }
}

/// Every object schema reachable from `schema` (through refs, properties, items and
/// combinators) closes itself with `additionalProperties: false`, unless open by design.
fn assert_closed(openapi: &Value, schema: &Value, at: &str, seen: &mut BTreeSet<String>) {
    let (schema, name) = resolve(openapi, schema);
    if let Some(name) = name
        && (OPEN_BY_DESIGN.contains(&name) || !seen.insert(name.to_owned()))
    {
        return;
    }
    let at = name.map_or_else(|| at.to_owned(), |n| format!("{at} ({n})"));
    if is_object_schema(schema) {
        assert_eq!(
            schema.get("additionalProperties"),
            Some(&Value::Bool(false)),
            "{at}: a request object must set additionalProperties: false"
        );
    }
    if let Some(properties) = schema.get("properties").and_then(Value::as_mapping) {
        for (property, sub) in properties {
            assert_closed(openapi, sub, &format!("{at}.{}", key(property)), seen);
        }
    }
    if let Some(items) = schema.get("items") {
        assert_closed(openapi, items, &format!("{at}[]"), seen);
    }
    for combinator in ["oneOf", "anyOf", "allOf"] {
        for sub in schema
            .get(combinator)
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
        {
            assert_closed(openapi, sub, at.as_str(), seen);
        }
    }
}

#[test]
fn every_request_body_refuses_unknown_members() {
    let openapi = openapi();
    let mut bodies = 0;
    for ((method, path), _) in openapi_routes(&openapi) {
        let operation = &openapi["paths"][path.as_str()][method.to_ascii_lowercase().as_str()];
        let Some(body) = operation.get("requestBody") else {
            continue;
        };
        let schema = body["content"]
            .get("application/json")
            .and_then(|c| c.get("schema"))
            .unwrap_or_else(|| {
                panic!("{method} {path}: request body without an application/json schema")
            });
        let (top, _) = resolve(&openapi, schema);
        assert!(
            is_object_schema(top),
            "{method} {path}: the request body must be a JSON object"
        );
        assert_closed(
            &openapi,
            schema,
            &format!("{method} {path}"),
            &mut BTreeSet::new(),
        );
        bodies += 1;
    }
    assert_eq!(bodies, 9, "the contract has nine routes that take a body");
}

#[test]
fn table_env_var_names_follow_the_logical_ids() {
    assert_eq!(
        env_var_for_table("PriceBatchesTable"),
        "PRICE_BATCHES_TABLE"
    );
    assert_eq!(env_var_for_table("StoresTable"), "STORES_TABLE");
}

/// Request headers the contract gives routes: (method, path, header, required). A till's sale
/// and a return need their keys; a stock delivery may carry one, so a device can retry it safely.
const REQUEST_HEADERS: [(&str, &str, &str, bool); 3] = [
    ("POST", "/stores/{storeId}/sales", "Idempotency-Key", true),
    ("POST", "/stores/{storeId}/returns", "Idempotency-Key", true),
    (
        "POST",
        "/stores/{storeId}/stock-movements",
        "Idempotency-Key",
        false,
    ),
];

/// Query parameters the contract gives routes: (method, path, parameter, required).
const QUERY_PARAMETERS: [(&str, &str, &str, bool); 9] = [
    ("GET", "/stores/{storeId}/prices/{sku}", "at", false),
    ("GET", "/stores/{storeId}/promotions", "at", false),
    ("GET", "/stores/{storeId}/reports/daily", "date", true),
    ("GET", "/stores/{storeId}/reports/daily/commodities", "date", true),
    ("GET", "/stores/{storeId}/reports/daily/commodities", "cursor", false),
    ("GET", "/stores/{storeId}/reports/daily/commodities", "limit", false),
    ("GET", "/reports/daily", "date", true),
    ("GET", "/stores/{storeId}/catalog", "cursor", false),
    ("GET", "/stores/{storeId}/catalog", "limit", false),
];

/// An operation's parameters, `$ref`s to `components/parameters` resolved.
fn parameters<'v>(openapi: &'v Value, operation: &'v Value) -> Vec<&'v Value> {
    let Some(list) = operation.get("parameters").and_then(Value::as_sequence) else {
        return Vec::new();
    };
    list.iter()
        .map(|p| match p.get("$ref").and_then(Value::as_str) {
            Some(reference) => {
                let name = reference
                    .strip_prefix("#/components/parameters/")
                    .unwrap_or_else(|| panic!("unexpected $ref {reference}"));
                openapi["components"]["parameters"]
                    .get(name)
                    .unwrap_or_else(|| panic!("$ref to a missing parameter {name}"))
            }
            None => p,
        })
        .collect()
}

#[test]
fn idempotency_keys_are_declared_with_their_replay_and_reuse_answers() {
    let openapi = openapi();
    let mut declared = BTreeSet::new();
    for ((method, path), _) in openapi_routes(&openapi) {
        let operation = &openapi["paths"][path.as_str()][method.to_ascii_lowercase().as_str()];
        for p in parameters(&openapi, operation) {
            if p["in"].as_str() != Some("header") {
                continue;
            }
            let name = p["name"].as_str().expect("a parameter name").to_owned();
            let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
            let responses = &operation["responses"];
            assert!(
                responses["200"]["headers"].get("Idempotent-Replayed").is_some(),
                "{method} {path}: a keyed request's 200 may be a replay, with Idempotent-Replayed"
            );
            assert!(
                responses.get("422").is_some(),
                "{method} {path}: a key used for another body is 422 idempotency_key_reused"
            );
            declared.insert((method.clone(), path.clone(), name, required));
        }
    }
    let contract: BTreeSet<_> = REQUEST_HEADERS
        .iter()
        .map(|(m, p, h, r)| (m.to_string(), p.to_string(), h.to_string(), *r))
        .collect();
    assert_eq!(
        declared, contract,
        "infra/openapi.yaml's request headers"
    );
}

#[test]
fn query_parameters_are_declared_as_the_contract_gives_them() {
    let openapi = openapi();
    let mut declared = BTreeSet::new();
    for ((method, path), _) in openapi_routes(&openapi) {
        let operation = &openapi["paths"][path.as_str()][method.to_ascii_lowercase().as_str()];
        for p in parameters(&openapi, operation) {
            if p["in"].as_str() == Some("query") {
                let name = p["name"].as_str().expect("a parameter name").to_owned();
                let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
                declared.insert((method.clone(), path.clone(), name, required));
            }
        }
    }
    let contract: BTreeSet<_> = QUERY_PARAMETERS
        .iter()
        .map(|(m, p, q, r)| (m.to_string(), p.to_string(), q.to_string(), *r))
        .collect();
    assert_eq!(declared, contract, "infra/openapi.yaml's query parameters");
}

/// A till's catalog cursor expires (API.md: older than 7 days, 410 `cursor_expired`): the
/// document must say so, as problem details, or a till could not tell it from a bug.
#[test]
fn the_catalog_declares_its_expired_cursor_answer() {
    let openapi = openapi();
    let gone = &openapi["paths"]["/stores/{storeId}/catalog"]["get"]["responses"]["410"];
    let reference = gone["$ref"].as_str().expect("410 refers to a shared response");
    let name = reference
        .strip_prefix("#/components/responses/")
        .expect("a components/responses $ref");
    let response = &openapi["components"]["responses"][name];
    assert!(
        response["description"]
            .as_str()
            .is_some_and(|d| d.contains("`cursor_expired`")),
        "{name} names the code"
    );
    let schema = &response["content"]["application/problem+json"]["schema"]["$ref"];
    assert_eq!(
        schema.as_str(),
        Some("#/components/schemas/Problem"),
        "{name} is problem details"
    );
}

/// The names of the parameters of the operation `operation_id`.
fn link_target_parameters(openapi: &Value, operation_id: &str) -> BTreeSet<String> {
    for ((method, path), id) in openapi_routes(openapi) {
        if id == operation_id {
            let operation = &openapi["paths"][path.as_str()][method.to_ascii_lowercase().as_str()];
            return parameters(openapi, operation)
                .iter()
                .map(|p| p["name"].as_str().expect("a parameter name").to_owned())
                .collect();
        }
    }
    panic!("a link names {operation_id}, which is no operation of the document");
}

/// Whether the JSON pointer `pointer` (after `#`) can name a member of `schema`'s instances.
fn pointer_fits(openapi: &Value, schema: &Value, pointer: &str) -> bool {
    let (schema, _) = resolve(openapi, schema);
    let Some(rest) = pointer.strip_prefix('/') else {
        return pointer.is_empty();
    };
    let (head, tail) = rest.split_once('/').map_or((rest, ""), |(h, t)| (h, t));
    let tail = if tail.is_empty() {
        String::new()
    } else {
        format!("/{tail}")
    };
    if let Some(sub) = schema.get("properties").and_then(|p| p.get(head)) {
        return pointer_fits(openapi, sub, &tail);
    }
    if head.parse::<usize>().is_ok()
        && let Some(items) = schema.get("items")
    {
        return pointer_fits(openapi, items, &tail);
    }
    ["allOf", "oneOf", "anyOf"]
        .iter()
        .filter_map(|c| schema.get(*c).and_then(Value::as_sequence))
        .flatten()
        .any(|branch| pointer_fits(openapi, branch, pointer))
}

#[test]
fn every_link_names_an_operation_its_parameters_and_members_the_answer_has() {
    let openapi = openapi();
    let mut links = 0;
    for ((method, path), _) in openapi_routes(&openapi) {
        let operation = &openapi["paths"][path.as_str()][method.to_ascii_lowercase().as_str()];
        let own: BTreeSet<String> = parameters(&openapi, operation)
            .iter()
            .map(|p| p["name"].as_str().expect("a parameter name").to_owned())
            .collect();
        for (status, response) in mapping(&operation["responses"], "responses") {
            let Some(named) = response.get("links") else {
                continue;
            };
            let answer = &response["content"]["application/json"]["schema"];
            for (name, link) in mapping(named, "links") {
                let link = match link.get("$ref").and_then(Value::as_str) {
                    Some(r) => {
                        let name = r.strip_prefix("#/components/links/").expect("a link $ref");
                        &openapi["components"]["links"][name]
                    }
                    None => link,
                };
                let at = format!("{method} {path} {} link {}", key(status), key(name));
                let target = link["operationId"].as_str().unwrap_or_else(|| panic!("{at}: no operationId"));
                let accepted = link_target_parameters(&openapi, target);
                for (parameter, expression) in mapping(&link["parameters"], "link parameters") {
                    let parameter = key(parameter);
                    assert!(accepted.contains(parameter), "{at}: {target} has no parameter {parameter}");
                    let expression = expression.as_str().expect("a runtime expression");
                    if let Some(pointer) = expression.strip_prefix("$response.body#") {
                        assert!(pointer_fits(&openapi, answer, pointer), "{at}: the answer has no {pointer}");
                    } else if let Some(from) = expression.strip_prefix("$request.path.") {
                        assert!(own.contains(from), "{at}: the request has no path parameter {from}");
                    } else {
                        panic!("{at}: {expression} is neither the answer's body nor the request's path");
                    }
                }
                links += 1;
            }
        }
    }
    assert!(links > 0, "the stateful fuzzing needs links to follow");
}
