//! `retail-core`: the supermarket's domain in three rings, dependencies pointing inward.
//!
//! * [`domain`]: types that can only hold valid values and the shop's rules; no I/O.
//! * [`store`]: persistence ports shaped by business operations, and their adapters.
//! * [`http`]: what every function shares at its edge (claims, problems, JSON limits).

pub mod domain;
pub mod http;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

// Every binary that links the domain (each function, retail-local, the benchmarks) allocates
// through mimalloc: a checkout makes many small short-lived allocations, where it beats glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;
