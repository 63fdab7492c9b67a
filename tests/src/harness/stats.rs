//! The figures of an evening: latencies (HDR histograms) and statuses per route, how the flash
//! stock's writes spread over its items, what the returns covered, what each promotion took
//! off, and the outcome the harness prints.

use hdrhistogram::Histogram;
use std::collections::BTreeMap;
use std::time::Duration;

/// Latencies and statuses of one route.
pub struct RouteStats {
    latency_us: Histogram<u64>,
    pub statuses: BTreeMap<u16, u64>,
}

impl RouteStats {
    pub(super) fn new() -> Self {
        RouteStats { latency_us: Histogram::new_with_bounds(1, 600_000_000, 3).expect("histogram bounds"), statuses: BTreeMap::new() }
    }

    pub(super) fn record(&mut self, took: Duration, status: u16) {
        let _ = self.latency_us.record((took.as_micros() as u64).max(1));
        *self.statuses.entry(status).or_default() += 1;
    }

    pub(super) fn merge(&mut self, other: &RouteStats) {
        let _ = self.latency_us.add(&other.latency_us);
        for (s, n) in &other.statuses {
            *self.statuses.entry(*s).or_default() += n;
        }
    }

    pub fn count(&self) -> u64 {
        self.latency_us.len()
    }

    pub fn p50(&self) -> Duration {
        Duration::from_micros(self.latency_us.value_at_quantile(0.5))
    }

    pub fn p99(&self) -> Duration {
        Duration::from_micros(self.latency_us.value_at_quantile(0.99))
    }

    pub fn max(&self) -> Duration {
        Duration::from_micros(self.latency_us.max())
    }
}

/// What the evening measured and what the audit found.
pub struct Outcome {
    pub routes: BTreeMap<&'static str, RouteStats>,
    /// First sends of checkouts per second of the play phase (resends not counted).
    pub checkouts_per_second: f64,
    pub play: Duration,
    pub receipts: usize,
    /// Units of the flash item the receipts sold.
    pub flash_sold: i64,
    /// Every store sold all the flash units it received (returns may have put some back since).
    pub flash_sold_out_everywhere: bool,
    /// Per store, how the flash item's stock writes spread over its items.
    pub flash_spread: Vec<Spread>,
    /// Every discrepancy the audit found, the first first; empty when the books balance.
    pub failures: Vec<String>,
    /// In a drill, how many faults of each kind the fault layer injected.
    pub injected: BTreeMap<String, u64>,
    /// What the service desk took back.
    pub returns: ReturnsTally,
    /// Per promotion the evening set up, in the order it was set up: what it took off.
    pub promotions: Vec<PromotionTally>,
    /// What the reference till that sold offline did; None when it was off.
    pub offline_till: Option<OfflineTillTally>,
}

/// The reference till that went offline mid-evening: its sync, its offline sales, and how many
/// of their receipts agree with what it worked out from its copy.
#[derive(Debug, Clone, Default)]
pub struct OfflineTillTally {
    /// Snapshot pages read at set-up; delta polls while online and on coming back, and the
    /// changes they brought.
    pub snapshot_pages: usize,
    pub delta_polls: usize,
    pub delta_changes: usize,
    /// Sales rung up offline; of them recorded by the server; of those, with exactly the
    /// till's total, tax, discount, prices and promotions.
    pub rung: usize,
    pub recorded: usize,
    pub agreed: usize,
    /// Recorded offline sales dated before and after the flash price's start, and before and
    /// after the promotion's end.
    pub before_flash: usize,
    pub after_flash: usize,
    pub before_end: usize,
    pub after_end: usize,
}

/// What one promotion took off the evening's receipts (as they list it).
#[derive(Debug, Clone)]
pub struct PromotionTally {
    pub id: String,
    /// `multi_buy`, `percent_off` or `spend_and_save`.
    pub kind: &'static str,
    /// Receipts that list it: it took something off them.
    pub receipts: usize,
    /// What it took off them in all.
    pub discount: i64,
    /// Receipts dated inside its window (those it could have taken something off).
    pub in_window: usize,
}

/// What the evening's returns covered, counted from the answers the desks checked.
#[derive(Debug, Clone, Default)]
pub struct ReturnsTally {
    /// Sales brought back.
    pub sales: usize,
    /// Returns recorded (answered 201, or replayed on their first send in a drill).
    pub receipts: usize,
    /// Attempts at more than was left, refused 409 `return_exceeds_sale` as expected.
    pub refused: usize,
    /// Returns taken back by a till of another store than the sale's.
    pub cross_store: usize,
    /// Returns that named their refunds.
    pub explicit_refunds: usize,
    /// Returns that said whether to restock instead of leaving it to the reason.
    pub explicit_restock: usize,
    /// Sale lines that came back in two returns or more.
    pub lines_in_two_returns: usize,
    /// Sale lines that came back whole.
    pub lines_all_back: usize,
    /// Units put back on a shelf.
    pub restocked_units: i64,
    /// Returns recorded, by reason.
    pub by_reason: BTreeMap<String, usize>,
}

impl ReturnsTally {
    pub(super) fn merge(&mut self, other: &ReturnsTally) {
        self.sales += other.sales;
        self.receipts += other.receipts;
        self.refused += other.refused;
        self.cross_store += other.cross_store;
        self.explicit_refunds += other.explicit_refunds;
        self.explicit_restock += other.explicit_restock;
        self.lines_in_two_returns += other.lines_in_two_returns;
        self.lines_all_back += other.lines_all_back;
        self.restocked_units += other.restocked_units;
        for (reason, n) in &other.by_reason {
            *self.by_reason.entry(reason.clone()).or_default() += n;
        }
    }
}

/// One store's flash stock, item by item: the writes each item took (the receipt and sales).
#[derive(Debug, Clone)]
pub struct Spread {
    pub store: String,
    /// The split in force.
    pub shards: u16,
    pub writes: Vec<u64>,
}

impl Spread {
    /// The busiest item's share of the writes (0 when there were none).
    pub fn busiest_share(&self) -> f64 {
        let total: u64 = self.writes.iter().sum();
        if total == 0 { 0.0 } else { *self.writes.iter().max().unwrap_or(&0) as f64 / total as f64 }
    }

    /// The target: the busiest of K items takes at most 1.5 / K of the writes.
    pub fn target(&self) -> f64 {
        1.5 / f64::from(self.shards.max(1))
    }
}

impl Outcome {
    pub fn print(&self) {
        println!(
            "played {:.1} s: {} receipts, {:.0} checkouts/s; flash item: {} sold, sold out in every store: {}",
            self.play.as_secs_f64(),
            self.receipts,
            self.checkouts_per_second,
            self.flash_sold,
            self.flash_sold_out_everywhere
        );
        for s in &self.flash_spread {
            println!(
                "flash stock in {}: {} items, writes {:?}, busiest {:.1} % (target <= {:.1} %: {})",
                s.store,
                s.shards,
                s.writes,
                100.0 * s.busiest_share(),
                100.0 * s.target(),
                if s.busiest_share() <= s.target() { "met" } else { "NOT met" }
            );
        }
        let r = &self.returns;
        println!(
            "returns: {} of {} sales brought back, {} refused for more than was left; {} at another store, {} with refunds named, {} with restock named, {} lines back in two returns or more, {} lines back whole, {} units restocked; by reason {:?}",
            r.receipts, r.sales, r.refused, r.cross_store, r.explicit_refunds, r.explicit_restock, r.lines_in_two_returns, r.lines_all_back, r.restocked_units, r.by_reason
        );
        let listed: Vec<String> = self
            .promotions
            .iter()
            .map(|p| format!("{} ({}) on {} of the {} receipts in its window, {} off", p.id, p.kind, p.receipts, p.in_window, p.discount))
            .collect();
        println!("promotions: {}; {} off in all", listed.join(", "), self.promotions.iter().map(|p| p.discount).sum::<i64>());
        if let Some(t) = &self.offline_till {
            println!(
                "offline till: snapshot of {} pages, {} delta polls bringing {} changes; {} sales rung up offline, {} recorded, {} exactly as the till priced them; {} before and {} after the flash price started, {} before and {} after the promotion ended",
                t.snapshot_pages, t.delta_polls, t.delta_changes, t.rung, t.recorded, t.agreed, t.before_flash, t.after_flash, t.before_end, t.after_end
            );
        }
        println!("{:<10} {:>8} {:>10} {:>10} {:>10}  statuses", "route", "requests", "p50 ms", "p99 ms", "max ms");
        for (name, r) in &self.routes {
            let ms = |d: Duration| d.as_secs_f64() * 1000.0;
            let statuses: Vec<String> = r.statuses.iter().map(|(s, n)| format!("{s}:{n}")).collect();
            println!("{name:<10} {:>8} {:>10.2} {:>10.2} {:>10.2}  {}", r.count(), ms(r.p50()), ms(r.p99()), ms(r.max()), statuses.join(" "));
        }
        if !self.injected.is_empty() {
            println!("faults injected: {:?}", self.injected);
        }
        if self.failures.is_empty() {
            println!("audit: the books balance");
        } else {
            println!("audit: {} discrepancies; the first: {}", self.failures.len(), self.failures[0]);
            for f in self.failures.iter().skip(1).take(9) {
                println!("  also: {f}");
            }
        }
    }
}
