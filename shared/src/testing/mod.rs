//! Helpers the function crates' tests share (the `testing` feature): real API Gateway v2 events,
//! one way of reading what a function answered, a shop and a till seeded through the handlers,
//! and the sales table's change stream.
//!
//! The functions depend on this crate, so none is named here: a test hands their constructors
//! to [`catalog::Shop::new`] and [`till::Till::new`], which hold them as [`HttpFunction`]s.
//!
//! * [`request`]: [`Event`], a recorded v2 event with JWT claims, re-aimed at a route.
//! * [`answer`]: [`Answer`], a response's status, headers and JSON body, in-process or over HTTP.
//! * [`catalog`]: catalog-admin, commodity-lookup and price-adjustment over one memory store.
//! * [`till`]: checkout beside that shop, a stocked catalog, sale bodies and events.
//! * [`stream`]: DynamoDB stream records of committed sales, as sales-aggregator receives them.
//!
//! [`HttpFunction`]: crate::http::HttpFunction

pub mod answer;
pub mod catalog;
pub mod request;
pub mod stream;
pub mod till;

pub use answer::Answer;
pub use request::{Event, REQUEST_ID};
