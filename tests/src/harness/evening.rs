//! What an evening is: how many tills, stores and sales, the flash item and its stock, how much
//! comes back, when the spend-and-save starts, the faults to play under; checked before playing,
//! and the names, prices, tax rates and categories of the run's stores and items.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::promotions::Item;

/// What to play. [`Evening::check`] refuses settings that make no evening.
#[derive(Debug, Clone)]
pub struct Evening {
    /// The API's base URL (`http://127.0.0.1:3000`).
    pub api: String,
    /// The template the API serves: its JWT authorizer and development key sign the tokens.
    pub template: PathBuf,
    pub tills: usize,
    pub stores: usize,
    /// Checkouts each till rings up (each sent twice).
    pub sales_per_till: usize,
    /// Units of the flash-sale item in stock in each store.
    pub flash_units_per_store: i64,
    /// Share of baskets that want the flash-sale item, 0 to 1.
    pub flash_share: f64,
    /// How many items each store's flash stock is split over; None for the automatic choice.
    pub flash_shards: Option<u16>,
    /// Sales each till uploads in the offline burst at the end (0 to 100).
    pub offline_per_till: usize,
    /// Share of the evening's online sales that customers bring back (partly, some in two
    /// returns, some to the other store), 0 to 1; the returns are taken during the offline burst.
    pub returns_share: f64,
    /// When the chain-wide spend-and-save starts, in seconds after the end of set-up (when the
    /// tills start selling); negative: that long before it, so that the sales dated earlier (the
    /// offline ones, an hour back) do not get it and the later ones do. A promotion reaches
    /// every checkout within 10 s of being stored, so one starting after set-up starts at least
    /// 10 s after it. The evening's other promotions run from 2 hours before set-up to 2 after.
    pub spend_and_save_after: i64,
    /// Sales the reference offline till rings up while offline (0: no such till). It syncs
    /// the first store's catalog at set-up, polls deltas, goes offline `offline_till_after`
    /// seconds after set-up for `offline_till_for` seconds, and uploads them when back; a
    /// flash price starts a third into that stretch and a promotion ends two thirds into it.
    pub offline_till_sales: usize,
    pub offline_till_after: i64,
    pub offline_till_for: i64,
    /// Names this run's stores and commodities; also seeds the tills' choices.
    pub run: u32,
    /// Print a progress line on standard error while playing.
    pub progress: bool,
    /// A fault drill: the fault layer to switch on for the play phase (off again for the audit).
    pub faults: Option<Faults>,
}

/// The fault layer's control URL and the rates to play under, each 0 to 1 (see
/// tests/tools/fault_proxy.py): `throttle`, `delay`, `error`, `lost`.
#[derive(Debug, Clone)]
pub struct Faults {
    pub control: String,
    pub rates: BTreeMap<String, f64>,
}

/// The track-policy commodities each store sells besides the flash item.
pub(super) const CATALOG: usize = 24;
/// Tracked stock per commodity per store: plenty, so only the flash item runs out.
pub(super) const TRACKED_STOCK: i64 = 1_000_000;
/// The evening's promotions end this long after set-up (and began this long before it).
pub(super) const PROMOTIONS_LAST: i64 = 2 * 3600;
/// The longest window a promotion may have.
const MAX_WINDOW: i64 = 90 * 86_400;

impl Evening {
    pub fn check(&self) -> Result<(), String> {
        if self.tills == 0 {
            return Err("tills must be at least 1".into());
        }
        if self.stores == 0 || self.stores > self.tills {
            return Err(format!("stores must be between 1 and the number of tills ({})", self.tills));
        }
        if self.stores > 99 {
            return Err("stores must be at most 99".into());
        }
        if self.sales_per_till == 0 {
            return Err("sales per till must be at least 1".into());
        }
        if self.flash_units_per_store < 0 || self.flash_units_per_store > 1_000_000 {
            return Err("flash units per store must be between 0 and 1,000,000".into());
        }
        if !(0.0..=1.0).contains(&self.flash_share) {
            return Err("the flash share must be between 0 and 1".into());
        }
        if self.flash_shards.is_some_and(|k| !(1..=retail_core::domain::stock::MAX_STOCK_SHARDS).contains(&k)) {
            return Err(format!("flash shards must be between 1 and {}", retail_core::domain::stock::MAX_STOCK_SHARDS));
        }
        if let Some(f) = &self.faults {
            for (kind, rate) in &f.rates {
                if !["throttle", "delay", "error", "lost"].contains(&kind.as_str()) {
                    return Err(format!("no fault {kind:?}: throttle, delay, error or lost"));
                }
                if !(0.0..=1.0).contains(rate) {
                    return Err(format!("the {kind} rate must be between 0 and 1"));
                }
            }
            if f.rates.values().sum::<f64>() > 1.0 {
                return Err("the fault rates add up to more than 1".into());
            }
        }
        if !(0.0..=1.0).contains(&self.returns_share) {
            return Err("the returns share must be between 0 and 1".into());
        }
        if self.offline_per_till > 100 {
            return Err("offline sales per till must be between 0 and 100 (one batch upload)".into());
        }
        if self.offline_till_sales > 0 {
            if !(3..=10_000).contains(&self.offline_till_sales) {
                return Err("the offline till's sales must be 0 (no offline till) or between 3 and 10,000 (one on each side of each moment)".into());
            }
            if self.offline_till_for < 3 {
                return Err("the offline till must stay offline at least 3 s (a flash price starts a third into it, a promotion ends two thirds into it)".into());
            }
            if self.offline_till_after < 0 || self.offline_till_after + self.offline_till_for >= PROMOTIONS_LAST {
                return Err(format!(
                    "the offline till must go offline at or after the end of set-up and be back before the evening's promotions end ({PROMOTIONS_LAST} s after set-up)"
                ));
            }
        }
        let after = self.spend_and_save_after;
        if (1..10).contains(&after) {
            return Err(format!(
                "the spend-and-save cannot start {after} s after set-up: a promotion reaches every checkout within 10 s of being stored, so at least 10 s after (or at or before the end of set-up, 0 or less)"
            ));
        }
        if !(PROMOTIONS_LAST - MAX_WINDOW..PROMOTIONS_LAST).contains(&after) {
            return Err(format!(
                "the spend-and-save must start before the evening's promotions end ({PROMOTIONS_LAST} s after set-up) and at most 90 days before that: between {} and {} s",
                PROMOTIONS_LAST - MAX_WINDOW,
                PROMOTIONS_LAST - 1
            ));
        }
        Ok(())
    }

    pub(super) fn store_id(&self, i: usize) -> String {
        format!("H{:05}-{i:02}", self.run % 100_000)
    }

    pub(super) fn sku(&self, j: usize) -> String {
        format!("H{:05}-C{j:02}", self.run % 100_000)
    }

    pub(super) fn flash_sku(&self) -> String {
        format!("H{:05}-FLASH", self.run % 100_000)
    }

    /// The category of every fourth catalog commodity, named after the run: categories are
    /// chain-wide, so another run's percent-off never reaches this run's lines.
    pub(super) fn dairy(&self) -> String {
        format!("h{}-dairy", self.run)
    }

    /// Catalog commodity `j` as set up: its price, tax rate and category.
    pub(super) fn item(&self, j: usize) -> Item {
        Item { sku: self.sku(j), price: 150 + 37 * j as i64, tax_rate_bp: if j.is_multiple_of(3) { 900 } else { 1300 }, category: j.is_multiple_of(4).then(|| self.dairy()) }
    }

    pub(super) fn flash_item(&self) -> Item {
        Item { sku: self.flash_sku(), price: 9_900, tax_rate_bp: 1300, category: None }
    }

    /// Every commodity of the run, the catalog's then the flash item.
    pub(super) fn items(&self) -> Vec<Item> {
        (0..CATALOG).map(|j| self.item(j)).chain([self.flash_item()]).collect()
    }

    /// An EAN-13 of prefix 29 (an ordinary code) unique to this run and commodity.
    pub(super) fn barcode(&self, j: usize) -> String {
        let body = format!("29{:05}{j:05}", self.run % 100_000);
        format!("{body}{}", retail_core::domain::barcode::gs1_check_digit(body.as_bytes()))
    }
}
