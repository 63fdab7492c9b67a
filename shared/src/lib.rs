//! `retail-core`: the supermarket's domain in rings, dependencies pointing inward.
//!
//! * [`domain`]: types that can only hold valid values and the shop's rules; no I/O.
//! * [`store`]: persistence ports shaped by business operations, and their adapters.
//! * [`http`]: what every function shares at its edge (claims, problems, JSON limits).
//! * [`metrics`]: what the functions tell CloudWatch (Embedded Metric Format, per invocation).
//! * [`host`]: start-up; the store from the environment (DynamoDB on the function's own tables,
//!   the embedded store only when asked for), and serving until shut down.

pub mod domain;
pub mod host;
pub mod http;
pub mod metrics;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;
pub mod usecases;

// Every binary that links the domain (each function, retail-local, the benchmarks) allocates
// through mimalloc: a checkout makes many small short-lived allocations, where it beats glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
