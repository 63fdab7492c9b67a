//! The command line: `retail-local [serve]`, `retail-local token` and `retail-local backfill-catalog`.

use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::api::LocalApi;
use crate::authorizer::{DevKey, TokenRequest, key_path_for};
use crate::functions::BENCH_HELLO_PATH;
use crate::gateway::JWKS_PATH;
use crate::options::{Backend, DEFAULT_TABLE_PREFIX, DynamoOptions, EmulatorOptions, Options};
use crate::template::Template;

#[derive(Debug, Parser)]
#[command(
    name = "retail-local",
    version,
    about = "Serves the API of template.yaml locally with a JWT authorizer like API Gateway's: functions in-process or under the Lambda Runtime Interface Emulator, on the embedded store or a DynamoDB endpoint.",
    args_conflicts_with_subcommands = true
)]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the API (what runs without a subcommand).
    Serve(ServeArgs),
    /// Print one signed development token on stdout.
    Token(TokenArgs),
    /// Put the commodities and price schedules written before the tills' catalog sync into its
    /// indexes, in tables of a stack deployed before it (after `sam deploy` added the indexes).
    /// Credentials, region and endpoint come from the environment, as the functions' do.
    BackfillCatalog(BackfillArgs),
}

#[derive(Debug, Args)]
struct BackfillArgs {
    /// The commodities table (the stack's output `CommoditiesTableName`).
    #[arg(long, value_name = "NAME")]
    commodities_table: String,
    /// The prices table (the stack's output `PricesTableName`).
    #[arg(long, value_name = "NAME")]
    prices_table: String,
}

#[derive(Debug, Clone, Args)]
struct ServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:3000")]
    addr: String,
    /// Start with an empty store instead of the demo data in infra/seed.
    #[arg(long, conflicts_with = "seed")]
    no_seed: bool,
    /// Load the demo data from DIR (its stores.json, commodities.json, prices.json, stock.json
    /// and sales.json) [default: infra/seed beside the template]
    #[arg(long, value_name = "DIR")]
    seed: Option<PathBuf>,
    /// The SAM template [default: ./template.yaml, else the workspace's]
    #[arg(long, value_name = "PATH")]
    template: Option<PathBuf>,
    /// Also serve GET /__bench/hello, a minimal function behind the same gateway path.
    #[arg(long)]
    bench_hello: bool,
    /// Keep the data on this DynamoDB-compatible endpoint (DynamoDB Local, moto) instead of the
    /// embedded store: missing tables are created from the template, the sales table's stream
    /// feeds the aggregator [default: $AWS_ENDPOINT_URL_DYNAMODB when set]
    #[arg(long, value_name = "URL")]
    dynamodb_endpoint: Option<String>,
    /// Table names on the endpoint are PREFIX + the template's logical id (retail-SalesTable).
    #[arg(long, value_name = "PREFIX", default_value = DEFAULT_TABLE_PREFIX)]
    table_prefix: String,
    /// Run every function's release binary under this AWS Lambda Runtime Interface Emulator
    /// (aws-lambda-rie) instead of its handler in-process; needs --dynamodb-endpoint.
    #[arg(long, value_name = "PATH")]
    lambda_runtime_emulator: Option<PathBuf>,
    /// Where the functions' release binaries are [default: beside retail-local's own executable]
    #[arg(long, value_name = "DIR", requires = "lambda_runtime_emulator")]
    functions_dir: Option<PathBuf>,
    /// Execution environments (emulator processes) per function at most: how many invocations
    /// of one function run at once.
    #[arg(long, value_name = "N", default_value_t = 4, requires = "lambda_runtime_emulator")]
    max_environments: usize,
    /// Also show the emulator's own lines (its `(rapid)` log, START, END and REPORT), prefixed
    /// with the function's name like the functions' own lines, which are always shown.
    #[arg(long, requires = "lambda_runtime_emulator")]
    emulator_logs: bool,
}

/// The backend the flags ask for (`AWS_ENDPOINT_URL_DYNAMODB` stands in for --dynamodb-endpoint).
fn backend(args: &ServeArgs, env_endpoint: Option<String>) -> Result<Backend, String> {
    let endpoint = args.dynamodb_endpoint.clone().or(env_endpoint.filter(|e| !e.is_empty()));
    let Some(endpoint) = endpoint else {
        if args.lambda_runtime_emulator.is_some() {
            return Err("--lambda-runtime-emulator needs --dynamodb-endpoint URL (or AWS_ENDPOINT_URL_DYNAMODB): \
                        functions in their own processes cannot share the embedded store"
                .into());
        }
        return Ok(Backend::Embedded);
    };
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(format!("--dynamodb-endpoint {endpoint:?} is not an http:// or https:// URL"));
    }
    if args.table_prefix.is_empty()
        || !args.table_prefix.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!("--table-prefix {:?}: use letters, digits, _ - or .", args.table_prefix));
    }
    let emulator = match &args.lambda_runtime_emulator {
        None => None,
        Some(path) => {
            let functions_dir = match &args.functions_dir {
                Some(dir) => dir.clone(),
                None => std::env::current_exe()
                    .ok()
                    .and_then(|exe| exe.parent().map(Path::to_path_buf))
                    .ok_or("cannot tell where retail-local's executable is: pass --functions-dir")?,
            };
            if args.max_environments == 0 {
                return Err("--max-environments must be at least 1".into());
            }
            Some(EmulatorOptions {
                emulator: std::path::absolute(path).unwrap_or_else(|_| path.clone()),
                functions_dir,
                max_environments: args.max_environments,
                emulator_logs: args.emulator_logs,
            })
        }
    };
    Ok(Backend::Dynamo(DynamoOptions { endpoint, table_prefix: args.table_prefix.clone(), emulator }))
}

#[derive(Debug, Args)]
struct TokenArgs {
    /// pos, store or headoffice; repeat the flag or separate with spaces for several.
    #[arg(long = "scope", value_name = "SCOPE", required = true)]
    scopes: Vec<String>,
    /// The store the token acts for (required for pos and store).
    #[arg(long = "store", value_name = "ID")]
    store: Option<String>,
    /// Lifetime in seconds.
    #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
    ttl: u64,
    /// The SAM template [default: ./template.yaml, else the workspace's]
    #[arg(long, value_name = "PATH")]
    template: Option<PathBuf>,
}

const SCOPES: [&str; 3] = ["pos", "store", "headoffice"];

/// The binary's `main`.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(cli.serve)) {
        Command::Token(args) => token(args),
        Command::Serve(args) => serve(args),
        Command::BackfillCatalog(args) => backfill(args),
    }
}

fn backfill(args: BackfillArgs) -> ExitCode {
    use retail_core::store::dynamo;
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(async {
        // An operator's tool, run from a laptop or a build job: the SDK's whole provider chain
        // (profiles, SSO, the environment), unlike a function's client (`dynamo::lambda_client`).
        let local = std::env::var_os(dynamo::ENDPOINT_VARIABLE).is_some_and(|v| !v.is_empty());
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(retail_core::store::dynamo::https_client())
            .timeout_config(if local { dynamo::local_timeout_config() } else { dynamo::timeout_config() })
            .retry_config(dynamo::retry_config())
            .load()
            .await;
        let client = aws_sdk_dynamodb::Client::new(&config);
        match dynamo::backfill_catalog(&client, &args.commodities_table, &args.prices_table).await {
            Ok(done) => {
                println!(
                    "put {} commodities and {} price schedules into the catalog indexes (the rest had it already)",
                    done.commodities, done.schedules
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}

fn usage_error(kind: ErrorKind, message: impl std::fmt::Display) -> ! {
    Cli::command().error(kind, message).exit()
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("retail-local: {message}");
    ExitCode::FAILURE
}

/// `--template`, else `template.yaml` in the working directory, else the workspace's.
pub fn resolve_template(arg: Option<&Path>) -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match arg {
        Some(path) => vec![path.to_owned()],
        None => vec![PathBuf::from("template.yaml"), Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")],
    };
    candidates
        .iter()
        .find(|p| p.is_file())
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.clone()))
        .map(|p| p.canonicalize().unwrap_or(p))
        .ok_or_else(|| {
            let tried: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            format!("no template at {} (pass --template PATH)", tried.join(" or "))
        })
}

/// The scopes of `--scope` flags: repeated or space/comma separated, checked, without repeats.
fn parse_scopes(raw: &[String]) -> Result<Vec<String>, String> {
    let mut scopes: Vec<String> = Vec::new();
    for scope in raw.iter().flat_map(|s| s.split([' ', ','])).filter(|s| !s.is_empty()) {
        if !SCOPES.contains(&scope) {
            return Err(format!("unknown scope {scope:?}: use pos, store or headoffice"));
        }
        if !scopes.iter().any(|s| s == scope) {
            scopes.push(scope.to_owned());
        }
    }
    if scopes.is_empty() {
        return Err("--scope needs pos, store or headoffice".into());
    }
    Ok(scopes)
}

fn token(args: TokenArgs) -> ExitCode {
    let scopes = parse_scopes(&args.scopes).unwrap_or_else(|e| usage_error(ErrorKind::InvalidValue, e));
    if let Some(store) = &args.store
        && let Err(e) = retail_core::domain::StoreId::parse(store)
    {
        usage_error(ErrorKind::InvalidValue, format!("--store: {e}"));
    }
    if args.store.is_none()
        && let Some(scope) = scopes.iter().find(|s| *s == "pos" || *s == "store")
    {
        usage_error(
            ErrorKind::MissingRequiredArgument,
            format!("a {scope} token acts for one store: add --store ID (for example --store S001)"),
        );
    }
    if args.ttl == 0 {
        usage_error(ErrorKind::InvalidValue, "--ttl must be at least 1 second");
    }
    let template_path = match resolve_template(args.template.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    let template = match Template::load(&template_path) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let Some(config) = template.token_authorizer else {
        return fail(format!("{} declares no JWT authorizer to mint tokens for", template_path.display()));
    };
    let key = match DevKey::load_or_create(&key_path_for(&template_path)) {
        Ok(k) => k,
        Err(e) => return fail(e),
    };
    let request = TokenRequest { scopes, store_id: args.store, ttl: Duration::from_secs(args.ttl) };
    println!("{}", key.sign(&request.claims(&config)));
    ExitCode::SUCCESS
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ =
        tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
}

fn serve(args: ServeArgs) -> ExitCode {
    init_tracing();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    runtime.block_on(serve_async(args))
}

async fn serve_async(args: ServeArgs) -> ExitCode {
    let template = match resolve_template(args.template.as_deref()) {
        Ok(p) => p,
        Err(e) => return fail(e),
    };
    // Bind first: a taken port is the commonest failure, and it should not wait for seeding.
    let listener = match tokio::net::TcpListener::bind(&args.addr).await {
        Ok(l) => l,
        Err(e) => {
            let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                " (is another retail-local running? choose another with --addr)"
            } else {
                ""
            };
            return fail(format!("cannot listen on {}: {e}{hint}", args.addr));
        }
    };
    let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| args.addr.clone());

    let backend = match backend(&args, std::env::var("AWS_ENDPOINT_URL_DYNAMODB").ok()) {
        Ok(b) => b,
        Err(e) => usage_error(ErrorKind::ArgumentConflict, e),
    };
    let store_banner = match &backend {
        Backend::Embedded => "embedded store".to_owned(),
        Backend::Dynamo(d) => format!(
            "DynamoDB at {}, tables {}*, {}",
            d.endpoint,
            d.table_prefix,
            if d.emulator.is_some() { "functions under the Runtime Interface Emulator" } else { "functions in-process" }
        ),
    };
    let mut options = Options::new(&template).bench_hello(args.bench_hello).backend(backend);
    if args.no_seed {
        options = options.without_seed();
    } else if let Some(dir) = &args.seed {
        options = options.seed_dir(dir);
    }
    let api = match LocalApi::start(&options).await {
        Ok(api) => api,
        Err(e) => return fail(e),
    };

    let seeded = match api.seeded() {
        Some(s) => format!(
            "seeded: {} stores, {} commodities, {} price lines, {} stock movements, {} sales yesterday, {} promotions in {} ms",
            s.stores,
            s.commodities,
            s.price_lines,
            s.stock_movements,
            s.sales,
            s.promotions,
            s.elapsed.as_millis()
        ),
        None => "not seeded".to_owned(),
    };
    // A closed stdout (`retail-local | head -1`) must not take the server down with it.
    let mut banner = format!("retail-local serving http://{addr} ({store_banner}, {seeded})\n");
    banner += &format!("  template  {} ({} routes)\n", template.display(), api.route_keys().len());
    banner += "  token     retail-local token --scope pos --store S001\n";
    banner +=
        "            (from the workspace: cargo run --release --bin retail-local -- token --scope pos --store S001)\n";
    banner += &format!("  jwks      http://{addr}{}\n", JWKS_PATH);
    if args.bench_hello {
        banner += &format!("  bench     GET http://{addr}{}\n", BENCH_HELLO_PATH);
    }
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(banner.as_bytes()).and_then(|()| stdout.flush());
    drop(stdout);

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let mut server = tokio::spawn(crate::server::serve(listener, api, async move {
        let _ = stopped.await;
    }));
    tokio::select! {
        ended = &mut server => return match ended {
            Ok(Ok(())) => ExitCode::SUCCESS,
            Ok(Err(e)) => fail(format!("serving stopped: {e}")),
            Err(e) => fail(format!("serving stopped: {e}")),
        },
        () = shutdown_signal() => {}
    }
    let _ = writeln!(std::io::stderr(), "retail-local: shutting down");
    let _ = stop.send(());
    // Requests in flight finish; a client holding a connection open does not keep us alive.
    match tokio::time::timeout(Duration::from_secs(5), server).await {
        Ok(Ok(Err(e))) => fail(format!("serving stopped: {e}")),
        _ => ExitCode::SUCCESS,
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn scopes_may_repeat_or_be_space_separated() {
        assert_eq!(parse_scopes(&["pos store".into(), "pos".into()]).unwrap(), vec!["pos", "store"]);
        assert_eq!(parse_scopes(&["headoffice".into()]).unwrap(), vec!["headoffice"]);
        assert!(parse_scopes(&["admin".into()]).is_err());
        assert!(parse_scopes(&[" ".into()]).is_err());
    }

    #[test]
    fn serve_is_the_default_and_token_takes_its_flags() {
        let cli = Cli::try_parse_from(["retail-local", "--addr", "127.0.0.1:0", "--no-seed"]).unwrap();
        assert!(cli.command.is_none());
        assert!(cli.serve.no_seed);
        let cli = Cli::try_parse_from(["retail-local", "serve", "--bench-hello"]).unwrap();
        assert!(matches!(cli.command, Some(Command::Serve(ServeArgs { bench_hello: true, .. }))));
        let cli =
            Cli::try_parse_from(["retail-local", "token", "--scope", "pos", "--scope", "store", "--store", "S001"])
                .unwrap();
        let Some(Command::Token(t)) = cli.command else { panic!("token") };
        assert_eq!((t.scopes.len(), t.store.as_deref(), t.ttl), (2, Some("S001"), 3600));
        assert!(Cli::try_parse_from(["retail-local", "token"]).is_err());
        let cli = Cli::try_parse_from(["retail-local", "--seed", "demo"]).unwrap();
        assert_eq!(cli.serve.seed.as_deref(), Some(std::path::Path::new("demo")));
        assert!(Cli::try_parse_from(["retail-local", "--seed", "demo", "--no-seed"]).is_err());
    }

    fn serve_args(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from(std::iter::once("retail-local").chain(args.iter().copied())).unwrap();
        cli.serve
    }

    #[test]
    fn the_emulator_needs_a_dynamodb_endpoint_and_the_endpoint_may_come_from_the_environment() {
        let args = serve_args(&["--lambda-runtime-emulator", "/x/rie"]);
        let err = backend(&args, None).unwrap_err();
        assert!(err.contains("--dynamodb-endpoint"), "{err}");
        let Ok(Backend::Dynamo(d)) = backend(&args, Some("http://127.0.0.1:8000".into())) else { panic!("dynamo") };
        assert_eq!((d.endpoint.as_str(), d.table_prefix.as_str()), ("http://127.0.0.1:8000", "retail-"));
        assert_eq!(d.emulator.unwrap().max_environments, 4);
        assert!(matches!(backend(&serve_args(&[]), None), Ok(Backend::Embedded)));
        let args = serve_args(&["--dynamodb-endpoint", "localhost:8000"]);
        assert!(backend(&args, None).unwrap_err().contains("not an http"));
        let args = serve_args(&["--dynamodb-endpoint", "http://h:1", "--table-prefix", "a b"]);
        assert!(backend(&args, None).unwrap_err().contains("--table-prefix"));
        assert!(Cli::try_parse_from(["retail-local", "--functions-dir", "/x"]).is_err());
    }

    #[test]
    fn an_explicit_template_that_does_not_exist_is_an_error() {
        let err = resolve_template(Some(Path::new("/nonexistent/template.yaml"))).unwrap_err();
        assert!(err.contains("/nonexistent/template.yaml"), "{err}");
    }
}
