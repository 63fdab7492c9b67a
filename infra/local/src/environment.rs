//! What Lambda would put in a function's environment, read from template.yaml: `Globals.Function`
//! merged with the function's own `Environment.Variables`, `MemorySize`, `Timeout` and
//! `LoggingConfig.LogFormat`. `!Ref Param` is the parameter's Default; `!Ref SomeTable` is the
//! physical name the local run gave that table.

use serde_norway::Value;
use std::collections::BTreeMap;

use crate::template::TemplateError;

/// A function's configuration as Lambda would run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionEnvironment {
    pub logical_id: String,
    /// Template variables, resolved.
    pub variables: BTreeMap<String, String>,
    pub memory_mb: u32,
    pub timeout_s: u32,
    /// `JSON` or `Text`.
    pub log_format: String,
}

fn invalid(at: impl Into<String>, problem: impl Into<String>) -> TemplateError {
    TemplateError::Invalid { at: at.into(), problem: problem.into() }
}

/// The environment of `logical_id`. `table_name` maps a table's logical id to its physical name.
pub fn function_environment(
    template_text: &str,
    logical_id: &str,
    table_name: &dyn Fn(&str) -> Option<String>,
) -> Result<FunctionEnvironment, TemplateError> {
    let doc: Value = serde_norway::from_str(template_text)?;
    let params: BTreeMap<String, Option<String>> = doc
        .get("Parameters")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.get("Default").and_then(scalar))))
        .collect();
    let globals = doc.get("Globals").and_then(|g| g.get("Function"));
    let at = format!("Resources.{logical_id}");
    let props = doc
        .get("Resources")
        .and_then(|r| r.get(logical_id))
        .ok_or_else(|| invalid(&at, "no such resource"))?
        .get("Properties");
    let resolve = |at: &str, v: &Value| -> Result<String, TemplateError> {
        if let Some(text) = scalar(v) {
            return Ok(text);
        }
        let target = match v {
            Value::Tagged(t) if t.tag == "Ref" => t.value.as_str(),
            Value::Mapping(m) if m.len() == 1 => m.get("Ref").and_then(Value::as_str),
            _ => None,
        }
        .ok_or_else(|| invalid(at, format!("only literals and !Ref are resolved locally, found {v:?}")))?;
        match params.get(target) {
            Some(Some(default)) => Ok(default.clone()),
            Some(None) => Err(invalid(at, format!("parameter {target} has no Default"))),
            None => table_name(target).ok_or_else(|| invalid(at, format!("!Ref {target}: neither a parameter nor a table"))),
        }
    };
    let mut variables = BTreeMap::new();
    for (source, at) in [(globals, "Globals.Function".to_owned()), (props, format!("{at}.Properties"))] {
        let vars = source.and_then(|s| s.get("Environment")).and_then(|e| e.get("Variables")).and_then(Value::as_mapping);
        for (name, value) in vars.into_iter().flatten() {
            let name = name.as_str().ok_or_else(|| invalid(&at, "a variable name is not a string"))?;
            variables.insert(name.to_owned(), resolve(&format!("{at}.Environment.Variables.{name}"), value)?);
        }
    }
    // The function's own setting wins over Globals.
    let setting = |name: &str| props.and_then(|p| p.get(name)).or_else(|| globals.and_then(|g| g.get(name)));
    let number = |name: &str, default: u32| -> Result<u32, TemplateError> {
        match setting(name) {
            None => Ok(default),
            Some(v) => resolve(&format!("{at}.{name}"), v)?
                .parse()
                .map_err(|_| invalid(format!("{at}.{name}"), "not a whole number")),
        }
    };
    let log_format = match setting("LoggingConfig").and_then(|l| l.get("LogFormat")) {
        Some(v) => resolve(&format!("{at}.LoggingConfig.LogFormat"), v)?,
        None => "Text".to_owned(),
    };
    Ok(FunctionEnvironment {
        logical_id: logical_id.to_owned(),
        variables,
        memory_mb: number("MemorySize", 128)?,
        timeout_s: number("Timeout", 3)?,
        log_format,
    })
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globals_and_the_functions_own_variables_resolve_parameters_and_tables() {
        let text = r#"
Parameters:
  LogLevel: {Type: String, Default: DEBUG}
Globals:
  Function:
    MemorySize: 256
    Timeout: 10
    LoggingConfig: {LogFormat: JSON}
    Environment:
      Variables:
        RUST_LOG: !Ref LogLevel
        SALES_TABLE: !Ref SalesTable
Resources:
  SalesTable: {Type: AWS::DynamoDB::Table}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Timeout: 5
      Environment:
        Variables: {EXTRA: "1", SALES_TABLE: {Ref: SalesTable}}
"#;
        let env = function_environment(text, "Fn", &|id| (id == "SalesTable").then(|| "retail-SalesTable".to_owned()))
            .unwrap();
        assert_eq!(env.variables["RUST_LOG"], "DEBUG");
        assert_eq!(env.variables["SALES_TABLE"], "retail-SalesTable");
        assert_eq!(env.variables["EXTRA"], "1");
        assert_eq!((env.memory_mb, env.timeout_s, env.log_format.as_str()), (256, 5, "JSON"));
        let err = function_environment(text, "Fn", &|_| None).unwrap_err().to_string();
        assert!(err.contains("SalesTable"), "{err}");
    }

    #[test]
    fn the_workspace_template_gives_a_function_its_own_tables_only() {
        let text = include_str!("../../../template.yaml");
        let env = function_environment(text, "CheckoutFunction", &|id| Some(format!("p-{id}"))).unwrap();
        assert_eq!(env.variables["SALES_TABLE"], "p-SalesTable");
        assert_eq!(env.variables["IDEMPOTENCY_TABLE"], "p-IdempotencyTable");
        assert!(!env.variables.contains_key("AGGREGATES_TABLE"), "checkout does not use the aggregates");
        assert_eq!(env.variables["RUST_LOG"], "INFO");
        assert_eq!(env.log_format, "JSON");
        let report = function_environment(text, "SalesReportFunction", &|id| Some(format!("p-{id}"))).unwrap();
        assert_eq!(report.variables["AGGREGATES_TABLE"], "p-AggregatesTable");
        assert!(!report.variables.contains_key("SALES_TABLE"));
    }
}
