//! The operators' side of template.yaml (issue #17): every function logs into a group with a
//! retention and gets the metrics namespace; every table is protected from deletion; the alarms
//! watch checkout's errors and latency, DynamoDB throttling, the aggregator and Lambda's capacity,
//! and tell the operators' topic; the alarms and the dashboard read only metrics the functions
//! emit; the API throttles every route, head office's writes lower, logs each request as JSON,
//! and answers CORS only for a dashboard origin someone configured.

use retail_local::Template;
use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use std::collections::{BTreeMap, BTreeSet};

/// The EMF metrics the functions emit, and the dimensions they carry: `Function` always,
/// `StatusClass` on `Requests`, `Operation` on the consumed units (`retail_core::metrics`).
const EMITTED_METRICS: [&str; 18] = retail_core::metrics::ALL;
const EMITTED_DIMENSIONS: [&str; 3] =
    [retail_core::metrics::FUNCTION, retail_core::metrics::STATUS_CLASS, retail_core::metrics::OPERATION];

/// The retention periods CloudWatch Logs accepts (days).
const LOG_RETENTIONS: [u64; 22] =
    [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653];

fn template_text() -> String {
    std::fs::read_to_string(retail_tests::workspace_root().join("template.yaml")).expect("template.yaml")
}

fn template() -> Yaml {
    serde_norway::from_str(&template_text()).expect("template.yaml parses")
}

fn resources_of_type<'a>(template: &'a Yaml, kind: &str) -> Vec<(&'a str, &'a Yaml)> {
    template["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(id, r)| (id.as_str().expect("a logical id"), r))
        .collect()
}

/// What `!Name value` (or `{Fn::Name: value}`, `{Ref: value}`) holds.
fn intrinsic<'a>(v: &'a Yaml, name: &str) -> Option<&'a Yaml> {
    match v {
        Yaml::Tagged(t) if t.tag == name => Some(&t.value),
        Yaml::Mapping(m) if m.len() == 1 => {
            let long = if name == "Ref" { name.to_owned() } else { format!("Fn::{name}") };
            m.get(long.as_str())
        }
        _ => None,
    }
}

fn ref_of(v: &Yaml) -> Option<&str> {
    intrinsic(v, "Ref").and_then(Yaml::as_str)
}

fn parameter_default<'a>(template: &'a Yaml, name: &str) -> &'a Yaml {
    let parameter = &template["Parameters"][name];
    assert!(!parameter.is_null(), "no parameter {name}");
    &parameter["Default"]
}

fn number(v: &Yaml) -> f64 {
    match v {
        Yaml::Number(n) => n.as_f64().expect("a number"),
        Yaml::String(s) => s.parse().unwrap_or_else(|_| panic!("{s:?} is not a number")),
        other => panic!("{other:?} is not a number"),
    }
}

/// A condition's value for a deploy that overrides no parameter.
fn condition_by_default(template: &Yaml, name: &str) -> bool {
    fn value(template: &Yaml, v: &Yaml) -> String {
        match ref_of(v) {
            Some(name) => match parameter_default(template, name) {
                Yaml::String(s) => s.clone(),
                Yaml::Number(n) => n.to_string(),
                other => panic!("{name}'s default {other:?}"),
            },
            None => v.as_str().map(str::to_owned).or_else(|| v.as_f64().map(|n| n.to_string())).expect("a literal"),
        }
    }
    fn holds(template: &Yaml, c: &Yaml) -> bool {
        if let Some(args) = intrinsic(c, "Not") {
            return !holds(template, &args[0]);
        }
        if let Some(args) = intrinsic(c, "Equals") {
            return value(template, &args[0]) == value(template, &args[1]);
        }
        if let Some(name) = intrinsic(c, "Condition").and_then(Yaml::as_str) {
            return holds(template, &template["Conditions"][name]);
        }
        panic!("a condition this test cannot evaluate: {c:?}")
    }
    let condition = &template["Conditions"][name];
    assert!(!condition.is_null(), "no condition {name}");
    holds(template, condition)
}

// ---------------------------------------------------------------- tables, logs, environment

#[test]
fn every_table_is_protected_from_deletion() {
    let template = template();
    let tables = resources_of_type(&template, "AWS::DynamoDB::Table");
    assert!(!tables.is_empty());
    for (id, table) in tables {
        assert_eq!(table["Properties"]["DeletionProtectionEnabled"].as_bool(), Some(true), "{id}");
    }
}

#[test]
fn every_function_logs_into_a_group_kept_for_the_stacks_retention() {
    let template = template();
    let retention = &template["Parameters"]["LogRetentionDays"];
    assert_eq!(number(&retention["Default"]), 30.0);
    let allowed: BTreeSet<u64> =
        retention["AllowedValues"].as_sequence().expect("AllowedValues").iter().map(|v| number(v) as u64).collect();
    assert_eq!(allowed, LOG_RETENTIONS.into_iter().collect(), "LogRetentionDays: the values CloudWatch Logs accepts");

    // Log group name (as written in its !Sub) → its retention.
    let groups: BTreeMap<String, &Yaml> = resources_of_type(&template, "AWS::Logs::LogGroup")
        .into_iter()
        .filter_map(|(_, g)| {
            let name = intrinsic(&g["Properties"]["LogGroupName"], "Sub")?.as_str()?;
            Some((name.to_owned(), &g["Properties"]["RetentionInDays"]))
        })
        .collect();
    let functions = resources_of_type(&template, "AWS::Serverless::Function");
    assert!(!functions.is_empty());
    for (id, _) in functions {
        let name = format!("/aws/lambda/${{{id}}}");
        let retention = groups.get(&name).unwrap_or_else(|| panic!("{id}: no log group named {name}"));
        assert_eq!(ref_of(retention), Some("LogRetentionDays"), "{id}: its group's RetentionInDays");
    }
}

#[test]
fn every_function_is_given_the_metrics_namespace() {
    let text = template_text();
    let template = template();
    let namespace = Some(retail_core::metrics::DEFAULT_NAMESPACE);
    assert_eq!(parameter_default(&template, "MetricsNamespace").as_str(), namespace);
    for (id, _) in resources_of_type(&template, "AWS::Serverless::Function") {
        // What Lambda would put in its environment: Globals merged with its own.
        let env = retail_local::environment::function_environment(&text, id, &|t| Some(format!("p-{t}"))).unwrap();
        assert_eq!(env.variables.get(retail_core::metrics::NAMESPACE_VARIABLE).map(String::as_str), namespace, "{id}");
    }
}

#[test]
fn functions_are_traced_as_the_tracing_parameter_says() {
    let template = template();
    assert_eq!(ref_of(&template["Globals"]["Function"]["Tracing"]), Some("Tracing"));
    let allowed: BTreeSet<&str> =
        template["Parameters"]["Tracing"]["AllowedValues"].as_sequence().unwrap().iter().filter_map(Yaml::as_str).collect();
    assert_eq!(allowed, BTreeSet::from(["Active", "PassThrough"]));
    // A function with its own role: Lambda refuses Active tracing to a role that cannot write.
    for (id, function) in resources_of_type(&template, "AWS::Serverless::Function") {
        let Some(role) = intrinsic(&function["Properties"]["Role"], "GetAtt").and_then(Yaml::as_str) else { continue };
        let role = role.strip_suffix(".Arn").expect("Role: !GetAtt X.Arn");
        let managed = serde_norway::to_string(&template["Resources"][role]["Properties"]["ManagedPolicyArns"]).unwrap();
        assert!(managed.contains("AWSXrayWriteOnlyAccess") && managed.contains("TracingActive"), "{id}'s role {role}: {managed}");
    }
}

// ---------------------------------------------------------------- alarms

/// One metric an alarm reads: namespace (`!Ref MetricsNamespace` is written `$MetricsNamespace`),
/// name, dimensions (name → value as written), statistic.
#[derive(Debug, Clone)]
struct MetricUse {
    namespace: String,
    name: String,
    dimensions: BTreeMap<String, Yaml>,
    stat: String,
}

const EMF: &str = "$MetricsNamespace";

fn namespace_of(v: &Yaml) -> String {
    match (ref_of(v), v.as_str()) {
        (Some(param), _) => format!("${param}"),
        (None, Some(literal)) => literal.to_owned(),
        _ => panic!("a namespace {v:?}"),
    }
}

fn metric_use(metric: &Yaml, stat: &Yaml) -> MetricUse {
    let dimensions = metric["Dimensions"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|d| (d["Name"].as_str().expect("a dimension name").to_owned(), d["Value"].clone()))
        .collect();
    MetricUse {
        namespace: namespace_of(&metric["Namespace"]),
        name: metric["MetricName"].as_str().expect("a MetricName").to_owned(),
        dimensions,
        stat: stat.as_str().expect("a statistic").to_owned(),
    }
}

struct Alarm<'a> {
    id: &'a str,
    properties: &'a Yaml,
    metrics: Vec<MetricUse>,
    /// Metric math expressions, as written (a `!Sub` template is taken as its text).
    expressions: Vec<String>,
}

impl Alarm<'_> {
    fn reads(&self, namespace: &str, name: &str) -> Vec<&MetricUse> {
        self.metrics.iter().filter(|m| m.namespace == namespace && m.name == name).collect()
    }
}

fn alarms(template: &Yaml) -> Vec<Alarm<'_>> {
    resources_of_type(template, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(id, alarm)| {
            let p = &alarm["Properties"];
            let mut metrics = Vec::new();
            let mut expressions = Vec::new();
            if !p["MetricName"].is_null() {
                let stat = if p["ExtendedStatistic"].is_null() { &p["Statistic"] } else { &p["ExtendedStatistic"] };
                metrics.push(metric_use(p, stat));
            }
            for query in p["Metrics"].as_sequence().into_iter().flatten() {
                if !query["MetricStat"].is_null() {
                    metrics.push(metric_use(&query["MetricStat"]["Metric"], &query["MetricStat"]["Stat"]));
                }
                let expression = &query["Expression"];
                if let Some(text) = expression.as_str().or_else(|| intrinsic(expression, "Sub").and_then(Yaml::as_str)) {
                    expressions.push(text.to_owned());
                }
            }
            assert!(!metrics.is_empty(), "{id} reads no metric");
            Alarm { id, properties: p, metrics, expressions }
        })
        .collect()
}

/// The one alarm that reads `name` from `namespace` with `dimension` = `!Ref target` (or, for
/// `None`, with no dimension at all).
fn alarm_on<'a>(alarms: &'a [Alarm<'a>], namespace: &str, name: &str, dimension: Option<(&str, &str)>) -> &'a Alarm<'a> {
    let matching: Vec<&Alarm> = alarms
        .iter()
        .filter(|a| {
            a.reads(namespace, name).iter().any(|m| match dimension {
                None => m.dimensions.is_empty(),
                Some((dim, target)) => m.dimensions.get(dim).and_then(ref_of) == Some(target),
            })
        })
        .collect();
    assert!(!matching.is_empty(), "no alarm reads {namespace} {name} {dimension:?}");
    matching[0]
}

#[test]
fn every_alarm_tells_the_operators_topic_when_it_fires_and_when_it_clears() {
    let template = template();
    let topics = resources_of_type(&template, "AWS::SNS::Topic");
    assert_eq!(topics.len(), 1, "one operators' topic");
    let topic = topics[0].0;
    let alarms = alarms(&template);
    assert!(alarms.len() >= 8, "{} alarms", alarms.len());
    for alarm in &alarms {
        for actions in ["AlarmActions", "OKActions"] {
            let named: Vec<Option<&str>> =
                alarm.properties[actions].as_sequence().into_iter().flatten().map(ref_of).collect();
            assert_eq!(named, vec![Some(topic)], "{}: {actions}", alarm.id);
        }
        assert!(alarm.properties["TreatMissingData"].as_str().is_some(), "{}: TreatMissingData", alarm.id);
        // Thresholds are the operators' to tune, except "any message at all".
        let threshold = &alarm.properties["Threshold"];
        match ref_of(threshold) {
            Some(param) => assert!(!parameter_default(&template, param).is_null(), "{}: {param} has a default", alarm.id),
            None => assert_eq!(number(threshold), 0.0, "{}: a literal threshold", alarm.id),
        }
    }
}

#[test]
fn operators_are_mailed_only_when_an_address_is_given() {
    let template = template();
    assert_eq!(parameter_default(&template, "AlarmEmail").as_str(), Some(""));
    let subscriptions = resources_of_type(&template, "AWS::SNS::Subscription");
    assert!(!subscriptions.is_empty(), "no e-mail subscription");
    for (id, s) in subscriptions {
        assert_eq!(ref_of(&s["Properties"]["Endpoint"]), Some("AlarmEmail"), "{id}");
        let condition = s["Condition"].as_str().unwrap_or_else(|| panic!("{id} has no Condition"));
        assert!(!condition_by_default(&template, condition), "{id}: subscribed with no address");
    }
}

#[test]
fn checkout_errors_and_latency_raise_alarms() {
    let template = template();
    let alarms = alarms(&template);
    let checkout = Some(("Function", "CheckoutFunction"));

    // The 5xx rate: 5xx over all classes, missing classes as 0.
    let errors = alarm_on(&alarms, EMF, "Requests", checkout);
    let classes: BTreeSet<&str> = errors
        .reads(EMF, "Requests")
        .iter()
        .filter_map(|m| m.dimensions.get("StatusClass").and_then(Yaml::as_str))
        .collect();
    assert_eq!(classes, BTreeSet::from(["2xx", "3xx", "4xx", "5xx"]), "{}", errors.id);
    assert!(errors.expressions.iter().any(|e| e.contains("FILL(")), "{}: {:?}", errors.id, errors.expressions);

    // The 503 rate: Unavailable over all requests.
    let unavailable = alarm_on(&alarms, EMF, "Unavailable", checkout);
    assert_eq!(unavailable.reads(EMF, "Requests").len(), 4, "{}: over every status class", unavailable.id);
    assert!(unavailable.expressions.iter().any(|e| e.contains("FILL(")), "{}", unavailable.id);

    let latency = alarm_on(&alarms, EMF, "Latency", checkout);
    assert_eq!(latency.reads(EMF, "Latency")[0].stat, "p99", "{}", latency.id);
}

#[test]
fn dynamodb_throttling_raises_alarms_for_checkout_and_the_hot_tables() {
    let template = template();
    let alarms = alarms(&template);
    alarm_on(&alarms, EMF, "DynamoThrottles", Some(("Function", "CheckoutFunction")));
    for table in ["SalesTable", "StockTable", "IdempotencyTable", "CommoditiesTable"] {
        for metric in ["ReadThrottleEvents", "WriteThrottleEvents"] {
            alarm_on(&alarms, "AWS/DynamoDB", metric, Some(("TableName", table)));
        }
    }
}

#[test]
fn the_aggregator_falling_behind_or_giving_up_raises_alarms() {
    let template = template();
    let alarms = alarms(&template);
    let age = alarm_on(&alarms, "AWS/Lambda", "IteratorAge", Some(("FunctionName", "SalesAggregatorFunction")));
    assert_eq!(ref_of(&age.properties["Threshold"]), Some("AggregatorIteratorAgeMs"));
    let dlq = alarms
        .iter()
        .find(|a| {
            a.reads("AWS/SQS", "ApproximateNumberOfMessagesVisible").iter().any(|m| {
                intrinsic(&m.dimensions["QueueName"], "GetAtt").and_then(Yaml::as_str)
                    == Some("AggregatorDeadLetterQueue.QueueName")
            })
        })
        .expect("an alarm on the aggregator's dead-letter queue");
    assert_eq!(dlq.properties["ComparisonOperator"].as_str(), Some("GreaterThanThreshold"), "{}", dlq.id);
    assert_eq!(number(&dlq.properties["Threshold"]), 0.0, "{}: any message", dlq.id);
}

#[test]
fn lambda_throttles_and_concurrency_near_the_account_limit_raise_alarms() {
    let template = template();
    let alarms = alarms(&template);
    // Every function of this stack is counted.
    let throttles = alarm_on(&alarms, "AWS/Lambda", "Throttles", Some(("FunctionName", "CheckoutFunction")));
    let counted: BTreeSet<&str> =
        throttles.reads("AWS/Lambda", "Throttles").iter().filter_map(|m| ref_of(&m.dimensions["FunctionName"])).collect();
    let functions: BTreeSet<&str> =
        resources_of_type(&template, "AWS::Serverless::Function").into_iter().map(|(id, _)| id).collect();
    assert_eq!(counted, functions, "{}", throttles.id);

    let concurrency = alarm_on(&alarms, "AWS/Lambda", "ConcurrentExecutions", None);
    assert_eq!(concurrency.reads("AWS/Lambda", "ConcurrentExecutions")[0].stat, "Maximum");
    assert!(concurrency.expressions.iter().any(|e| e.contains("${AccountConcurrencyLimit}")), "{}", concurrency.id);
    assert_eq!(ref_of(&concurrency.properties["Threshold"]), Some("ConcurrencyAlarmPercent"));
    assert_eq!(number(parameter_default(&template, "AccountConcurrencyLimit")), 1000.0);
    assert_eq!(number(parameter_default(&template, "ConcurrencyAlarmPercent")), 80.0);
}

// ---------------------------------------------------------------- the dashboard

/// A `!Sub` template with every `${X}` replaced by `<X>`, and the names it substituted.
fn substituted(text: &str) -> (String, BTreeSet<String>) {
    let mut out = String::new();
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("an unclosed ${") + start;
        let name = &rest[start + 2..end];
        if let Some(literal) = name.strip_prefix('!') {
            out.push_str("${");
            out.push_str(literal);
            out.push('}');
        } else {
            out.push('<');
            out.push_str(name);
            out.push('>');
            names.insert(name.to_owned());
        }
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    (out, names)
}

fn dashboard(template: &Yaml) -> (Json, BTreeSet<String>) {
    let dashboards = resources_of_type(template, "AWS::CloudWatch::Dashboard");
    assert_eq!(dashboards.len(), 1, "one operators' dashboard");
    let body = &dashboards[0].1["Properties"]["DashboardBody"];
    let text = intrinsic(body, "Sub").and_then(Yaml::as_str).expect("DashboardBody: !Sub with the stack's names");
    let (json, names) = substituted(text);
    let body = serde_json::from_str(&json).unwrap_or_else(|e| panic!("the dashboard body is not JSON: {e}\n{json}"));
    (body, names)
}

/// Metrics the dashboard shows: (namespace, name), from metric arrays and SEARCH expressions.
fn dashboard_metrics(body: &Json) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for widget in body["widgets"].as_array().expect("widgets") {
        for line in widget["properties"]["metrics"].as_array().into_iter().flatten() {
            let line = line.as_array().expect("a metric line is an array");
            if let [Json::String(namespace), Json::String(name), ..] = line.as_slice() {
                assert_ne!(namespace, ".", "spell the namespace out, so it can be checked");
                out.insert((namespace.clone(), name.clone()));
            }
            for item in line.iter().filter_map(|i| i["expression"].as_str()) {
                if let Some(search) = item.strip_prefix("SEARCH('{") {
                    let namespace = search.split(',').next().expect("a SEARCH schema").to_owned();
                    let name = search
                        .split_once("MetricName=\"")
                        .and_then(|(_, n)| n.split_once('"'))
                        .map(|(n, _)| n.to_owned())
                        .unwrap_or_else(|| panic!("a SEARCH without MetricName: {item}"));
                    out.insert((namespace, name));
                }
            }
        }
    }
    out
}

#[test]
fn the_dashboard_body_is_json_naming_only_what_the_stack_defines() {
    let template = template();
    let (body, names) = dashboard(&template);
    let widgets = body["widgets"].as_array().expect("widgets");
    assert!(widgets.len() >= 10, "{} widgets", widgets.len());
    for name in &names {
        let target = name.split('.').next().unwrap();
        let known = name.starts_with("AWS::")
            || !template["Parameters"][target].is_null()
            || !template["Resources"][target].is_null();
        assert!(known, "the dashboard substitutes ${{{name}}}, which the template does not define");
    }
    for widget in widgets.iter().filter(|w| w["type"] == "metric") {
        assert_eq!(widget["properties"]["region"], "<AWS::Region>", "{}", widget["properties"]["title"]);
    }
}

#[test]
fn the_dashboard_shows_the_alarms_signals() {
    let template = template();
    let (body, _) = dashboard(&template);
    let shown = dashboard_metrics(&body);
    let emf = "<MetricsNamespace>";
    let wanted = [
        (emf, "Requests"),
        (emf, "Latency"),
        (emf, "Sales"),
        (emf, "SalesAmount"),
        (emf, "OutOfStock"),
        (emf, "IdempotentReplays"),
        (emf, "InProgress"),
        (emf, "DynamoThrottles"),
        (emf, "ConsumedReadUnits"),
        (emf, "ConsumedWriteUnits"),
        (emf, "RecordsFolded"),
        (emf, "RecordsFailed"),
        (emf, "FoldLag"),
        ("AWS/Lambda", "IteratorAge"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "ConcurrentExecutions"),
        ("AWS/DynamoDB", "WriteThrottleEvents"),
    ];
    for (namespace, name) in wanted {
        assert!(shown.contains(&(namespace.to_owned(), name.to_owned())), "the dashboard shows no {namespace} {name}");
    }
    // Its alarm widget lists every alarm.
    let listed: BTreeSet<&str> = body["widgets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["type"] == "alarm")
        .flat_map(|w| w["properties"]["alarms"].as_array().into_iter().flatten())
        .filter_map(|a| a.as_str()?.strip_prefix('<')?.strip_suffix(".Arn>"))
        .collect();
    let defined: BTreeSet<&str> = alarms(&template).iter().map(|a| a.id).collect();
    assert_eq!(listed, defined, "the dashboard's alarm widget");
}

#[test]
fn alarms_and_dashboard_read_only_metrics_the_functions_emit() {
    let template = template();
    let emitted: BTreeSet<&str> = EMITTED_METRICS.into_iter().collect();
    for alarm in alarms(&template) {
        for m in alarm.metrics.iter().filter(|m| m.namespace == EMF) {
            assert!(emitted.contains(m.name.as_str()), "{} reads {}, which no function emits", alarm.id, m.name);
            for (dimension, value) in &m.dimensions {
                assert!(EMITTED_DIMENSIONS.contains(&dimension.as_str()), "{}: dimension {dimension}", alarm.id);
                if dimension == "Function" {
                    let target = ref_of(value).unwrap_or_else(|| panic!("{}: Function is !Ref of a function", alarm.id));
                    assert_eq!(template["Resources"][target]["Type"].as_str(), Some("AWS::Serverless::Function"), "{}", alarm.id);
                }
            }
            assert!(m.dimensions.contains_key("Function"), "{}: {} is only published per function", alarm.id, m.name);
        }
    }
    let (body, _) = dashboard(&template);
    let shown = dashboard_metrics(&body);
    assert!(shown.iter().any(|(ns, _)| ns == "<MetricsNamespace>"), "the dashboard shows no EMF metric");
    for (namespace, name) in &shown {
        if namespace == "<MetricsNamespace>" {
            assert!(emitted.contains(name.as_str()), "the dashboard shows {name}, which no function emits");
        } else {
            assert!(namespace.starts_with("AWS/"), "the dashboard reads namespace {namespace}");
        }
    }
}

// ---------------------------------------------------------------- the API

fn api(template: &Yaml) -> &Yaml {
    let apis = resources_of_type(template, "AWS::Serverless::HttpApi");
    assert_eq!(apis.len(), 1);
    &apis[0].1["Properties"]
}

#[test]
fn every_route_is_throttled_and_head_office_writes_lower() {
    let template = template();
    let api = api(&template);
    let limit = |settings: &Yaml, which: &str| -> f64 {
        let param = ref_of(&settings[which]).unwrap_or_else(|| panic!("{which} is not a parameter: {settings:?}"));
        number(parameter_default(&template, param))
    };
    let default = &api["DefaultRouteSettings"];
    let (rate, burst) = (limit(default, "ThrottlingRateLimit"), limit(default, "ThrottlingBurstLimit"));
    assert!(rate >= 1000.0 && burst >= 1000.0, "thousands of tills: {rate}/s, burst {burst}");

    let routes = Template::parse(&template_text()).expect("retail-local reads the template").routes;
    let keys: BTreeSet<String> = routes.iter().map(|r| r.route_key()).collect();
    let settings = api["RouteSettings"].as_mapping().expect("RouteSettings");
    let limited: BTreeSet<String> = settings.keys().map(|k| k.as_str().expect("a route key").to_owned()).collect();
    for key in &limited {
        assert!(keys.contains(key), "RouteSettings names {key:?}, which is no route of the template");
        let route = &settings[key.as_str()];
        assert!(limit(route, "ThrottlingRateLimit") < rate, "{key}: below the tills' rate");
        assert!(limit(route, "ThrottlingBurstLimit") < burst, "{key}: below the tills' burst");
    }
    let head_office_writes: BTreeSet<String> = routes
        .iter()
        .filter(|r| r.method != "GET")
        .filter(|r| r.function == "CatalogAdminFunction" || ["/price-adjustments", "/promotions/{promotionId}"].contains(&r.path.as_str()))
        .map(|r| r.route_key())
        .collect();
    assert_eq!(head_office_writes.len(), 5, "{head_office_writes:?}");
    assert_eq!(limited, head_office_writes, "the head-office write routes, and only those, are limited lower");
}

#[test]
fn the_api_logs_each_request_as_a_json_line() {
    let template = template();
    let settings = &api(&template)["AccessLogSettings"];
    let group = intrinsic(&settings["DestinationArn"], "GetAtt").and_then(Yaml::as_str).expect("DestinationArn: !GetAtt X.Arn");
    let group = group.strip_suffix(".Arn").unwrap();
    assert_eq!(template["Resources"][group]["Type"].as_str(), Some("AWS::Logs::LogGroup"));
    assert_eq!(ref_of(&template["Resources"][group]["Properties"]["RetentionInDays"]), Some("LogRetentionDays"));
    let format = settings["Format"].as_str().expect("a literal Format");
    let line: BTreeMap<String, String> = serde_json::from_str(format).expect("the access log line is a JSON object of strings");
    let logged: BTreeSet<&str> = line.values().map(String::as_str).collect();
    for variable in [
        "$context.requestId",
        "$context.routeKey",
        "$context.status",
        "$context.responseLatency",
        "$context.integrationLatency",
        "$context.identity.sourceIp",
        "$context.integrationErrorMessage",
        "$context.authorizer.error",
    ] {
        assert!(logged.contains(variable), "the access log leaves out {variable}");
    }
}

#[test]
fn cors_is_off_unless_a_dashboard_origin_is_given() {
    let template = template();
    assert!(template["Globals"]["HttpApi"]["CorsConfiguration"].is_null());
    assert_eq!(parameter_default(&template, "DashboardOrigin").as_str(), Some(""));
    let cors = intrinsic(&api(&template)["CorsConfiguration"], "If").expect("CorsConfiguration: !If [condition, ...]");
    let condition = cors[0].as_str().expect("a condition name");
    assert!(!condition_by_default(&template, condition), "CORS is on by default");
    assert_eq!(ref_of(&cors[2]), Some("AWS::NoValue"), "no CORS at all when off");
    let on = &cors[1];
    let origins: Vec<Option<&str>> = on["AllowOrigins"].as_sequence().expect("AllowOrigins").iter().map(ref_of).collect();
    assert_eq!(origins, vec![Some("DashboardOrigin")]);
    let headers: BTreeSet<&str> = on["AllowHeaders"].as_sequence().unwrap().iter().filter_map(Yaml::as_str).collect();
    for header in ["authorization", "content-type", "idempotency-key"] {
        assert!(headers.contains(header), "a browser may not send {header}");
    }
    let methods: BTreeSet<&str> = on["AllowMethods"].as_sequence().unwrap().iter().filter_map(Yaml::as_str).collect();
    assert_eq!(methods, BTreeSet::from(["GET", "POST", "PUT"]));
}
