//! What `retail-local` reads from the SAM template: every function's HttpApi routes, the binary
//! that serves them, and the JWT authorizer in front of them. Intrinsics are resolved the way a
//! deploy with default parameters would resolve them (`!Ref Param` is the parameter's Default).

pub use retail_core::store::dynamo::{IndexSpec, TableSpec};
use serde_norway::Value;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the template {path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("the template is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("{at}: {problem}")]
    Invalid { at: String, problem: String },
}

fn invalid(at: impl Into<String>, problem: impl Into<String>) -> TemplateError {
    TemplateError::Invalid { at: at.into(), problem: problem.into() }
}

/// A JWT authorizer as an HttpApi configures it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct JwtConfig {
    /// The authorizer's name in the HttpApi's `Auth.Authorizers`.
    pub name: String,
    pub issuer: String,
    pub audience: Vec<String>,
    /// Lower-case header name from `IdentitySource` (`$request.header.Authorization`).
    pub identity_header: String,
}

/// One `Type: HttpApi` event of one function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteDecl {
    /// The function's logical id (`CommodityLookupFunction`).
    pub function: String,
    /// `Metadata.BuildProperties.Binary`: the crate that serves the route.
    pub binary: String,
    /// The event's name (`GetCommodity`).
    pub event: String,
    /// Upper-case method, or `ANY`.
    pub method: String,
    /// `/stores/{storeId}/commodities/{sku}`, or `$default`.
    pub path: String,
    /// `None` when the route is open (`Auth.Authorizer: NONE`, or an API without authorizer).
    pub authorizer: Option<JwtConfig>,
}

impl RouteDecl {
    /// `"GET /stores/{storeId}/commodities/{sku}"`, what API Gateway puts in `routeKey`.
    pub fn route_key(&self) -> String {
        if self.path == "$default" { self.path.clone() } else { format!("{} {}", self.method, self.path) }
    }
}

/// A function declared in the template, with or without routes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionDecl {
    pub logical_id: String,
    pub binary: Option<String>,
    pub has_http_events: bool,
    /// Tables (logical ids) whose DynamoDB streams feed this function, with their batch sizes.
    pub streams: Vec<StreamDecl>,
}

/// A `Type: DynamoDB` event: a table's stream feeding a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamDecl {
    pub table: String,
    pub batch_size: usize,
}

#[derive(Debug, Clone)]
pub struct Template {
    pub functions: Vec<FunctionDecl>,
    pub routes: Vec<RouteDecl>,
    /// The authorizer development tokens are minted for: the default authorizer of the first
    /// HttpApi (by logical id) that has one.
    pub token_authorizer: Option<JwtConfig>,
    /// Every `AWS::DynamoDB::Table`: keys, stream and TTL, what local runs and tests create.
    pub tables: Vec<TableSpec>,
}

#[derive(Debug, Clone, Default)]
struct ApiAuth {
    default: Option<String>,
    authorizers: BTreeMap<String, Result<JwtConfig, String>>,
}

impl Template {
    pub fn load(path: &Path) -> Result<Template, TemplateError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| TemplateError::Read { path: path.display().to_string(), source })?;
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let doc: Value = serde_norway::from_str(text)?;
        let params = Parameters::of(&doc);
        let resources =
            doc.get("Resources").and_then(Value::as_mapping).ok_or_else(|| invalid("Resources", "missing"))?;

        let mut apis: BTreeMap<String, ApiAuth> = BTreeMap::new();
        for (id, resource) in resources {
            let id = key_str(id)?;
            if resource.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::HttpApi") {
                let auth = resource.get("Properties").and_then(|p| p.get("Auth"));
                apis.insert(id.to_owned(), api_auth(&format!("Resources.{id}.Properties.Auth"), auth, &params)?);
            }
        }
        let implicit_auth = doc.get("Globals").and_then(|g| g.get("HttpApi")).and_then(|h| h.get("Auth"));
        let implicit = api_auth("Globals.HttpApi.Auth", implicit_auth, &params)?;

        let mut functions = Vec::new();
        let mut routes = Vec::new();
        for (id, resource) in resources {
            let id = key_str(id)?;
            if resource.get("Type").and_then(Value::as_str) != Some("AWS::Serverless::Function") {
                continue;
            }
            let at = format!("Resources.{id}");
            let binary = resource
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .map(|b| resolve_str(&format!("{at}.Metadata.BuildProperties.Binary"), b, &params))
                .transpose()?;
            let events = resource.get("Properties").and_then(|p| p.get("Events")).and_then(Value::as_mapping);
            let mut has_http_events = false;
            let mut streams = Vec::new();
            for (event_name, event) in events.into_iter().flatten() {
                let event_name = key_str(event_name)?;
                if event.get("Type").and_then(Value::as_str) == Some("DynamoDB") {
                    let props = event.get("Properties");
                    let table = props.and_then(|p| p.get("Stream")).and_then(stream_table).ok_or_else(|| {
                        invalid(
                            format!("{at}.Properties.Events.{event_name}.Properties.Stream"),
                            "expected !GetAtt <Table>.StreamArn",
                        )
                    })?;
                    let batch_size =
                        props.and_then(|p| p.get("BatchSize")).and_then(Value::as_u64).unwrap_or(100) as usize;
                    streams.push(StreamDecl { table: table.to_owned(), batch_size: batch_size.max(1) });
                    continue;
                }
                if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                    continue;
                }
                has_http_events = true;
                let at = format!("{at}.Properties.Events.{event_name}");
                let binary = binary.clone().ok_or_else(|| {
                    invalid(&at, "the function has HttpApi events but no Metadata.BuildProperties.Binary")
                })?;
                let props = event.get("Properties");
                let get = |name: &str| props.and_then(|p| p.get(name));
                let path = match get("Path") {
                    Some(p) => resolve_str(&format!("{at}.Properties.Path"), p, &params)?,
                    None => "$default".to_owned(),
                };
                if path != "$default" && !path.starts_with('/') {
                    return Err(invalid(format!("{at}.Properties.Path"), format!("{path:?} does not start with /")));
                }
                let method = match get("Method") {
                    Some(m) => resolve_str(&format!("{at}.Properties.Method"), m, &params)?.to_ascii_uppercase(),
                    None => "ANY".to_owned(),
                };
                let method = if method == "X-AMAZON-APIGATEWAY-ANY-METHOD" { "ANY".to_owned() } else { method };
                let api = match get("ApiId") {
                    None => &implicit,
                    Some(api_id) => {
                        let api_id = ref_target(api_id).ok_or_else(|| {
                            invalid(format!("{at}.Properties.ApiId"), "expected !Ref to an AWS::Serverless::HttpApi")
                        })?;
                        apis.get(api_id).ok_or_else(|| {
                            invalid(
                                format!("{at}.Properties.ApiId"),
                                format!("{api_id} is not an AWS::Serverless::HttpApi"),
                            )
                        })?
                    }
                };
                let chosen = match get("Auth").and_then(|a| a.get("Authorizer")) {
                    Some(name) => {
                        let name = resolve_str(&format!("{at}.Properties.Auth.Authorizer"), name, &params)?;
                        (name != "NONE").then_some(name)
                    }
                    None => api.default.clone(),
                };
                let authorizer = match chosen {
                    None => None,
                    Some(name) => match api.authorizers.get(&name) {
                        Some(Ok(config)) => Some(config.clone()),
                        Some(Err(why)) => return Err(invalid(&at, format!("authorizer {name}: {why}"))),
                        None => return Err(invalid(&at, format!("authorizer {name} is not declared on its HttpApi"))),
                    },
                };
                routes.push(RouteDecl {
                    function: id.to_owned(),
                    binary,
                    event: event_name.to_owned(),
                    method,
                    path,
                    authorizer,
                });
            }
            functions.push(FunctionDecl { logical_id: id.to_owned(), binary, has_http_events, streams });
        }

        let token_authorizer = apis
            .values()
            .chain(std::iter::once(&implicit))
            .find_map(|api| match api.default.as_ref().and_then(|d| api.authorizers.get(d)) {
                Some(Ok(config)) => Some(config.clone()),
                _ => None,
            })
            .or_else(|| routes.iter().find_map(|r| r.authorizer.clone()));
        let mut tables = Vec::new();
        for (id, resource) in resources {
            let id = key_str(id)?;
            if resource.get("Type").and_then(Value::as_str) == Some("AWS::DynamoDB::Table") {
                tables.push(table_spec(&format!("Resources.{id}.Properties"), id, resource.get("Properties"))?);
            }
        }
        Ok(Template { functions, routes, token_authorizer, tables })
    }
}

/// A table's AttributeDefinitions, KeySchema, StreamSpecification and TimeToLiveSpecification.
fn table_spec(at: &str, id: &str, props: Option<&Value>) -> Result<TableSpec, TemplateError> {
    let props = props.ok_or_else(|| invalid(at, "missing"))?;
    let field = |v: &Value, name: &str, at: &str| -> Result<String, TemplateError> {
        v.get(name).and_then(Value::as_str).map(str::to_owned).ok_or_else(|| invalid(at, format!("missing {name}")))
    };
    let mut attributes = Vec::new();
    for (i, a) in props.get("AttributeDefinitions").and_then(Value::as_sequence).into_iter().flatten().enumerate() {
        let at = format!("{at}.AttributeDefinitions[{i}]");
        attributes.push((field(a, "AttributeName", &at)?, field(a, "AttributeType", &at)?));
    }
    let mut partition_key = None;
    let mut sort_key = None;
    for (i, k) in props.get("KeySchema").and_then(Value::as_sequence).into_iter().flatten().enumerate() {
        let at = format!("{at}.KeySchema[{i}]");
        let name = field(k, "AttributeName", &at)?;
        match field(k, "KeyType", &at)?.as_str() {
            "HASH" => partition_key = Some(name),
            "RANGE" => sort_key = Some(name),
            other => return Err(invalid(at, format!("KeyType {other:?} is neither HASH nor RANGE"))),
        }
    }
    let partition_key = partition_key.ok_or_else(|| invalid(format!("{at}.KeySchema"), "no HASH key"))?;
    for k in std::iter::once(&partition_key).chain(sort_key.as_ref()) {
        if !attributes.iter().any(|(name, _)| name == k) {
            return Err(invalid(format!("{at}.AttributeDefinitions"), format!("key {k} is not defined")));
        }
    }
    let stream_view_type =
        props.get("StreamSpecification").and_then(|s| s.get("StreamViewType")).and_then(Value::as_str).map(str::to_owned);
    let ttl = props.get("TimeToLiveSpecification");
    let ttl_attribute = ttl
        .filter(|t| t.get("Enabled").and_then(Value::as_bool) != Some(false))
        .and_then(|t| t.get("AttributeName"))
        .and_then(Value::as_str)
        .map(str::to_owned);
    let mut indexes = Vec::new();
    for (i, index) in props.get("GlobalSecondaryIndexes").and_then(Value::as_sequence).into_iter().flatten().enumerate() {
        let at = format!("{at}.GlobalSecondaryIndexes[{i}]");
        let name = field(index, "IndexName", &at)?;
        let projection = index.get("Projection").and_then(|p| p.get("ProjectionType")).and_then(Value::as_str);
        if projection != Some("ALL") {
            return Err(invalid(&at, "only ProjectionType ALL is supported"));
        }
        let (mut hash, mut range) = (None, None);
        for (j, k) in index.get("KeySchema").and_then(Value::as_sequence).into_iter().flatten().enumerate() {
            let at = format!("{at}.KeySchema[{j}]");
            let key = field(k, "AttributeName", &at)?;
            if !attributes.iter().any(|(name, _)| *name == key) {
                return Err(invalid(&at, format!("key {key} is not defined")));
            }
            match field(k, "KeyType", &at)?.as_str() {
                "HASH" => hash = Some(key),
                "RANGE" => range = Some(key),
                other => return Err(invalid(at, format!("KeyType {other:?} is neither HASH nor RANGE"))),
            }
        }
        let partition_key = hash.ok_or_else(|| invalid(format!("{at}.KeySchema"), "no HASH key"))?;
        indexes.push(IndexSpec { name, partition_key, sort_key: range });
    }
    Ok(TableSpec { logical_id: id.to_owned(), attributes, partition_key, sort_key, stream_view_type, ttl_attribute, indexes })
}

fn key_str(key: &Value) -> Result<&str, TemplateError> {
    key.as_str().ok_or_else(|| invalid("Resources", format!("a key is not a string: {key:?}")))
}

fn api_auth(at: &str, auth: Option<&Value>, params: &Parameters) -> Result<ApiAuth, TemplateError> {
    let Some(auth) = auth else { return Ok(ApiAuth::default()) };
    let default = auth
        .get("DefaultAuthorizer")
        .map(|d| resolve_str(&format!("{at}.DefaultAuthorizer"), d, params))
        .transpose()?
        .filter(|d| d != "NONE");
    let mut authorizers = BTreeMap::new();
    for (name, def) in auth.get("Authorizers").and_then(Value::as_mapping).into_iter().flatten() {
        let name = key_str(name)?;
        // Only a route that uses an unsupported authorizer is an error, so it is kept as one.
        let config = match def.get("JwtConfiguration") {
            None => Err("only JWT authorizers (JwtConfiguration) are emulated".to_owned()),
            Some(jwt) => Ok(jwt_config(&format!("{at}.Authorizers.{name}"), name, def, jwt, params)?),
        };
        authorizers.insert(name.to_owned(), config);
    }
    if let Some(d) = &default
        && !authorizers.contains_key(d)
    {
        return Err(invalid(format!("{at}.DefaultAuthorizer"), format!("{d} is not among Authorizers")));
    }
    Ok(ApiAuth { default, authorizers })
}

fn jwt_config(at: &str, name: &str, def: &Value, jwt: &Value, params: &Parameters) -> Result<JwtConfig, TemplateError> {
    let issuer = jwt
        .get("issuer")
        .map(|i| resolve_str(&format!("{at}.JwtConfiguration.issuer"), i, params))
        .transpose()?
        .ok_or_else(|| invalid(format!("{at}.JwtConfiguration"), "missing issuer"))?;
    let audience = match jwt.get("audience") {
        None => return Err(invalid(format!("{at}.JwtConfiguration"), "missing audience")),
        Some(Value::Sequence(items)) => items
            .iter()
            .map(|a| resolve_str(&format!("{at}.JwtConfiguration.audience"), a, params))
            .collect::<Result<Vec<_>, _>>()?,
        Some(single) => vec![resolve_str(&format!("{at}.JwtConfiguration.audience"), single, params)?],
    };
    let identity_header = match def.get("IdentitySource") {
        None => "authorization".to_owned(),
        Some(source) => {
            let source = resolve_str(&format!("{at}.IdentitySource"), source, params)?;
            source.strip_prefix("$request.header.").map(str::to_ascii_lowercase).ok_or_else(|| {
                invalid(format!("{at}.IdentitySource"), format!("{source:?} is not $request.header.<name>"))
            })?
        }
    };
    Ok(JwtConfig { name: name.to_owned(), issuer, audience, identity_header })
}

/// Parameter defaults, what `!Ref Param` means for a deploy that overrides nothing.
struct Parameters(BTreeMap<String, Option<String>>);

impl Parameters {
    fn of(doc: &Value) -> Parameters {
        let mut map = BTreeMap::new();
        for (name, def) in doc.get("Parameters").and_then(Value::as_mapping).into_iter().flatten() {
            if let Some(name) = name.as_str() {
                map.insert(name.to_owned(), def.get("Default").and_then(scalar_text));
            }
        }
        Parameters(map)
    }

    fn value(&self, at: &str, name: &str) -> Result<String, TemplateError> {
        match self.0.get(name) {
            Some(Some(v)) => Ok(v.clone()),
            Some(None) => Err(invalid(at, format!("parameter {name} has no Default"))),
            None => Err(invalid(at, format!("{name} is not a template parameter"))),
        }
    }
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The logical id a `!Ref X` / `{Ref: X}` points at.
fn ref_target(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
        Value::Mapping(m) if m.len() == 1 => m.get("Ref").and_then(Value::as_str),
        _ => None,
    }
}

/// The table of `!GetAtt Table.StreamArn` or `Fn::GetAtt: [Table, StreamArn]`.
fn stream_table(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "GetAtt" => t.value.as_str()?.strip_suffix(".StreamArn"),
        Value::Mapping(m) if m.len() == 1 => {
            let parts = m.get("Fn::GetAtt")?.as_sequence()?;
            match parts.as_slice() {
                [table, attr] if attr.as_str() == Some("StreamArn") => table.as_str(),
                _ => None,
            }
        }
        _ => None,
    }
}

fn sub_template(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "Sub" => t.value.as_str(),
        Value::Mapping(m) if m.len() == 1 => m.get("Fn::Sub").and_then(Value::as_str),
        _ => None,
    }
}

/// A string value: a literal, `!Ref Param` (its Default) or `!Sub` over parameters.
fn resolve_str(at: &str, v: &Value, params: &Parameters) -> Result<String, TemplateError> {
    if let Some(text) = scalar_text(v) {
        return Ok(text);
    }
    if let Some(name) = ref_target(v) {
        return params.value(at, name);
    }
    if let Some(template) = sub_template(v) {
        let mut out = String::with_capacity(template.len());
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after.find('}').ok_or_else(|| invalid(at, "unterminated ${ in !Sub"))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                out.push_str(&params.value(at, name)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        return Ok(out);
    }
    Err(invalid(at, format!("expected a string, !Ref to a parameter or !Sub, found {v:?}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../tests/fixtures/template.yaml");

    #[test]
    fn the_project_template_declares_every_table_the_store_names() {
        let t = Template::parse(include_str!("../../../template.yaml")).unwrap();
        let tables = retail_core::store::dynamo::Tables::with_prefix("x-");
        for (logical, _) in tables.all() {
            assert!(t.tables.iter().any(|s| s.logical_id == logical), "{logical} is not in template.yaml");
        }
        let sales = t.tables.iter().find(|s| s.logical_id == "SalesTable").unwrap();
        assert_eq!((sales.partition_key.as_str(), sales.sort_key.as_deref()), ("pk", Some("sk")));
        assert_eq!(sales.stream_view_type.as_deref(), Some("NEW_IMAGE"));
        let keys = t.tables.iter().find(|s| s.logical_id == "IdempotencyTable").unwrap();
        assert_eq!((keys.sort_key.as_deref(), keys.ttl_attribute.as_deref()), (None, Some("expiresAt")));
        assert_eq!(keys.attributes, vec![("pk".to_owned(), "S".to_owned())]);
    }

    #[test]
    fn routes_carry_path_method_binary_and_the_resolved_authorizer() {
        let t = Template::parse(FIXTURE).unwrap();
        let lookup = t.routes.iter().find(|r| r.event == "GetCommodity").unwrap();
        assert_eq!(lookup.route_key(), "GET /stores/{storeId}/commodities/{sku}");
        assert_eq!(lookup.binary, "commodity-lookup");
        assert_eq!(lookup.function, "CommodityLookupFunction");
        let auth = lookup.authorizer.as_ref().unwrap();
        assert_eq!(auth.issuer, "https://auth.retail.local");
        assert_eq!(auth.audience, vec!["retail-api".to_owned()]);
        assert_eq!(auth.identity_header, "authorization");
        assert_eq!(t.token_authorizer.as_ref(), Some(auth));
    }

    #[test]
    fn every_http_event_becomes_a_route_and_stream_functions_none() {
        let t = Template::parse(FIXTURE).unwrap();
        let keys: Vec<String> = t.routes.iter().map(RouteDecl::route_key).collect();
        assert!(keys.contains(&"PUT /commodities/{sku}".to_owned()));
        assert!(keys.contains(&"POST /stores/{storeId}/commodities/lookup".to_owned()));
        assert!(keys.contains(&"GET /reports/daily".to_owned()));
        let aggregator = t.functions.iter().find(|f| f.logical_id == "SalesAggregatorFunction").unwrap();
        assert!(!aggregator.has_http_events);
        assert_eq!(aggregator.binary.as_deref(), Some("sales-aggregator"));
    }

    #[test]
    fn long_form_intrinsics_and_sub_resolve_to_parameter_defaults() {
        let t = Template::parse(
            r#"
Parameters:
  Iss: {Type: String, Default: "https://issuer.example"}
  Aud: {Type: String, Default: aud-1}
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers:
          Jwt:
            IdentitySource: $request.header.X-Token
            JwtConfiguration:
              issuer: {"Fn::Sub": "${Iss}/tenant"}
              audience: {Ref: Aud}
  Fn:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: echo}}
    Properties:
      Events:
        Open:
          Type: HttpApi
          Properties: {ApiId: {Ref: Api}, Path: /open, Method: get, Auth: {Authorizer: NONE}}
        Closed:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /closed, Method: ANY}
"#,
        )
        .unwrap();
        let open = t.routes.iter().find(|r| r.event == "Open").unwrap();
        assert_eq!(open.route_key(), "GET /open");
        assert_eq!(open.authorizer, None);
        let closed = t.routes.iter().find(|r| r.event == "Closed").unwrap();
        let auth = closed.authorizer.as_ref().unwrap();
        assert_eq!(auth.issuer, "https://issuer.example/tenant");
        assert_eq!(auth.audience, vec!["aud-1".to_owned()]);
        assert_eq!(auth.identity_header, "x-token");
        assert_eq!(closed.route_key(), "ANY /closed");
    }

    #[test]
    fn a_ref_to_an_unknown_parameter_names_where_it_is() {
        let err = Template::parse(
            r#"
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      Auth:
        DefaultAuthorizer: Jwt
        Authorizers: {Jwt: {JwtConfiguration: {issuer: !Ref Missing, audience: [a]}}}
"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("Missing is not a template parameter"), "{err}");
        assert!(err.contains("Resources.Api.Properties.Auth.Authorizers.Jwt"), "{err}");
    }

    #[test]
    fn the_workspace_template_parses_when_present() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        if path.exists() {
            let t = Template::load(&path).unwrap();
            assert!(!t.routes.is_empty());
            // Every route needs a token but the dashboard's page and files, which carry none.
            let open: Vec<&str> = t.routes.iter().filter(|r| r.authorizer.is_none()).map(|r| r.path.as_str()).collect();
            assert_eq!(open, ["/dashboard", "/dashboard/{asset}"]);
        }
    }
}
