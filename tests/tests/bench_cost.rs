//! `bench-cost` on a tiny evening, so that the benchmark cannot rot between the runs that
//! produce the README's figures: it plays, reads the functions' capacity lines and `REPORT`
//! durations, and prices every item of the split.

use retail_tests::binaries_dir;
use serde_json::Value;
use std::process::Command;

#[test]
fn bench_cost_prices_every_item_of_a_small_evening() {
    let bench = binaries_dir().join("bench-cost");
    assert!(bench.is_file(), "{} is missing: build the workspace's binaries in this profile first", bench.display());
    let out = Command::new(&bench)
        .args(["--sales", "12", "--skus", "60", "--report-every", "4", "--no-settle", "--json"])
        .output()
        .expect("bench-cost runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench-cost failed:\n{stdout}\n{stderr}");
    let summary: Value = stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v.get("perMillion").is_some())
        .unwrap_or_else(|| panic!("no JSON summary in:\n{stdout}"));
    assert_eq!(summary["sales"], 12.0);
    // Twelve checkouts and four report reads (every fourth sale, and the last after the stream
    // drained) went through the API.
    assert_eq!(summary["apiRequests"], 16);
    let functions = &summary["functions"];
    assert_eq!(functions["checkout"]["invocations"], 12, "{summary}");
    assert_eq!(functions["sales-report"]["invocations"], 4, "{summary}");
    assert!(functions["sales-aggregator"]["invocations"].as_u64() >= Some(1), "{summary}");
    for f in ["checkout", "sales-aggregator", "sales-report"] {
        assert!(functions[f]["billedMs"].as_u64() > Some(0), "{f}: {summary}");
        assert!(functions[f]["peakKb"].as_u64() > Some(1024), "{f}'s VmHWM: {summary}");
    }
    // Each sale is written to the sales table; its tracked lines' stock is taken by the
    // aggregator from the stream, at least one stock item a batch.
    let units = &functions["checkout"]["units"];
    assert!(units["SalesTable"]["writeUnits"].as_f64() >= Some(12.0), "{summary}");
    assert!(functions["sales-aggregator"]["units"]["StockTable"]["writeUnits"].as_f64() >= Some(1.0), "{summary}");
    assert!(functions["sales-aggregator"]["units"]["AggregatesTable"]["writeUnits"].as_f64() > Some(0.0), "{summary}");
    let split = summary["perMillion"].as_object().expect("the split");
    for item in ["checkout writes", "checkout reads", "stock", "aggregator", "report reads", "Lambda", "API"] {
        let dollars = split.get(item).and_then(Value::as_f64).unwrap_or_else(|| panic!("{item} missing: {summary}"));
        assert!(dollars > 0.0, "{item}: {summary}");
    }
    let sum: f64 = split.values().filter_map(Value::as_f64).sum();
    let total = summary["totalPerMillion"].as_f64().expect("a total");
    assert!((sum - total).abs() < 1e-6, "the split adds up to the total: {sum} vs {total}");
    // The API at $1.00 a million requests: 16 requests for 12 checkouts.
    assert!((split["API"].as_f64().unwrap() - 16.0 / 12.0).abs() < 1e-9, "{summary}");
    // The naive design priced beside it, item by item: the same API, more for stock (20-line
    // baskets of tracked items, two units a line in its transaction: $25 a million and up).
    let naive = summary["naivePerMillion"].as_object().expect("the naive split");
    assert_eq!(naive.keys().collect::<Vec<_>>(), split.keys().collect::<Vec<_>>(), "{summary}");
    assert_eq!(naive["API"], split["API"], "{summary}");
    assert!(naive["stock"].as_f64() >= Some(24.99), "{summary}");
    let naive_total = summary["naiveTotalPerMillion"].as_f64().expect("a naive total");
    assert!(naive_total > total, "{summary}");
}
