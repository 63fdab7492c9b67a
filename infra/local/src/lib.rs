//! `retail-local`: the whole API on one port without Docker or an AWS account. It reads
//! `template.yaml`, routes each HttpApi event of each function to that function's handler
//! in-process, and stands in for API Gateway on the way: JWT authorizer, v2 events, its own
//! 401/404/413 answers.
//!
//! In tests and benchmarks:
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let running = retail_local::spawn(&retail_local::Options::new("template.yaml").without_seed()).await?;
//! let token = running.api.token(&["pos"], Some("S001"));
//! let url = running.url("/stores/S001/commodities/MILK-1L");
//! // ... GET url with `Authorization: Bearer {token}` ...
//! running.stop().await?;
//! # Ok(()) }
//! ```

// The API: what to serve, how it starts over a back end, how it is served, why it did not start.
mod api;
mod backend;
mod error;
mod options;
mod server;

// The parts: the command line, API Gateway's part, the functions and their processes, the
// template, demo data and the sales stream.
pub mod authorizer;
pub mod cli;
pub mod dynamo_stream;
pub mod emulator;
pub mod environment;
pub mod event;
pub mod functions;
mod gateway;
pub mod loopback;
pub mod oidc;
pub mod routes;
pub mod seed;
pub mod stream;
pub mod template;
pub mod welcome;

pub use api::LocalApi;
pub use authorizer::{DevKey, TokenRequest};
pub use error::StartError;
pub use functions::{BENCH_HELLO_PATH, BenchHello, Functions};
pub use gateway::{JWKS_PATH, MAX_PAYLOAD_BYTES};
pub use options::{Backend, DEFAULT_TABLE_PREFIX, DynamoOptions, EmulatorOptions, Options};
pub use seed::SeedSummary;
pub use server::{Running, serve, spawn, spawn_api};
pub use stream::SALES_TABLE;
pub use template::Template;
