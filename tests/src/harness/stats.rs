//! The figures of an evening: latencies (HDR histograms) and statuses per route, how the flash
//! stock's writes spread over its items, and the outcome the harness prints.

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
    pub flash_sold: i64,
    pub flash_sold_out_everywhere: bool,
    /// Per store, how the flash item's stock writes spread over its items.
    pub flash_spread: Vec<Spread>,
    /// Every discrepancy the audit found, the first first; empty when the books balance.
    pub failures: Vec<String>,
    /// In a drill, how many faults of each kind the fault layer injected.
    pub injected: BTreeMap<String, u64>,
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
