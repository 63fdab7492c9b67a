//! The Double 11 evening, played against a running API: tills scanning, looking up and checking
//! out in several stores at once, a `strict` flash-sale item that sells out, every checkout sent
//! a second time as if its answer was lost, and a burst of offline uploads at the end while the
//! service desks take back a share of the sales. Then the books are audited from the API alone.
//!
//! The harness sets up its own stores, commodities, prices and stock (named after its run id),
//! so it can play against a seeded or a long-running API without touching anyone's data.
//!
//! `evening` says what to play, `play` plays it, each `till` rings up its sales (retrying as a
//! real till would), each `desk` takes goods back, `audit` checks the books, `stats` keeps the
//! figures.

mod audit;
mod client;
mod desk;
mod evening;
mod play;
mod stats;
mod till;

pub use evening::{Evening, Faults};
pub use play::play;
pub use stats::{Outcome, ReturnsTally, RouteStats, Spread};
