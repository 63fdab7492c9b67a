//! The edge every function shares: claims and who may call what, problem+json, JSON bodies
//! with the contract's limits, request ids. Start-up is [`crate::host`]'s.

pub mod auth;
pub mod body;
pub mod function;
pub mod problem;
pub mod strict;

pub use auth::{Claims, Scope, authorize};
pub use body::{JsonReply, MAX_BODY_BYTES, json_body, path_param, query_param};
pub use function::{HttpFunction, Reply, Routed, Routes};
pub use problem::Problem;
