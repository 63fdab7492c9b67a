//! The Double 11 evening, played against a running API: tills scanning, looking up and checking
//! out in several stores at once, a `strict` flash-sale item that sells out, every checkout sent
//! a second time as if its answer was lost, and a burst of offline uploads at the end while the
//! service desks take back a share of the sales, under a multi-buy on the flash item, a percent-off
//! on a category and a chain-wide spend-and-save that starts mid-run. Then the books are audited
//! from the API alone, every receipt's discounts worked out again by the harness itself.
//!
//! The harness sets up its own stores, commodities, prices, stock and promotions (named after its
//! run id, down to the category its percent-off takes from), so it can play against a seeded or
//! a long-running API without touching anyone's data.
//!
//! `evening` says what to play, `play` plays it, each `till` rings up its sales (retrying as a
//! real till would), each `desk` takes goods back, `audit` checks the books, `promotions` is the
//! harness's own reading of how a sale applies promotions, `stats` keeps the figures, and
//! `offline_till` is a reference till that syncs its store's catalog, goes offline mid-evening,
//! prices its sales from its copy with the harness's own pricing and uploads them when back.

mod audit;
mod client;
mod desk;
mod evening;
mod offline_till;
mod play;
mod promotions;
mod stats;
mod till;

pub use client::Dice;
pub use evening::{Evening, Faults};
pub use play::play;
pub use stats::{OfflineTillTally, Outcome, PromotionTally, ReturnsTally, RouteStats, Spread};
