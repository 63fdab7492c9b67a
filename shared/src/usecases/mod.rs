//! Use cases: plain async functions over the store ports, each one business operation end to
//! end. Retries, idempotency and the contract's order of refusals live here, once; a function's
//! `lib.rs` authorizes, parses, calls one of these and replies.

pub mod catalog;
pub mod lookup;
pub mod prices;
pub mod reports;
pub mod sell;
