//! A slice of the demo data in `infra/seed`, for the suites that seed DynamoDB (moto): the full
//! seed takes about a minute there (one request at a time), once in `demo_seed_moto.rs`; the
//! slice keeps every other moto test's start to seconds. It is cut from the real files at run
//! time, so it never drifts.

use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The first commodities of the catalog (the milk, the weighed apples and the flash-sale item
/// come first) and the first sales of each store, with every commodity those sales need.
const COMMODITIES: usize = 30;
const SALES_PER_STORE: usize = 4;

/// Writes the slice into `dir` (created) and returns it.
pub fn write_slice(dir: &Path) -> PathBuf {
    let seed = crate::workspace_root().join("infra/seed");
    let read = |name: &str| -> Value {
        let path = seed.join(name);
        serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let list = |v: Value| -> Vec<Value> { v.as_array().cloned().expect("a seed file is a JSON list") };

    let mut per_store: std::collections::HashMap<String, usize> = Default::default();
    let sales: Vec<Value> = list(read("sales.json"))
        .into_iter()
        .filter(|sale| {
            let n = per_store.entry(sale["storeId"].as_str().unwrap_or_default().to_owned()).or_default();
            *n += 1;
            *n <= SALES_PER_STORE
        })
        .collect();
    let catalog = list(read("commodities.json"));
    let mut skus: BTreeSet<String> =
        catalog.iter().take(COMMODITIES).map(|c| c["sku"].as_str().expect("a sku").to_owned()).collect();
    for sale in &sales {
        for line in sale["body"]["lines"].as_array().expect("sale lines") {
            skus.insert(line["sku"].as_str().expect("a line's sku").to_owned());
        }
    }
    let kept = |line: &Value| line["sku"].as_str().is_some_and(|s| skus.contains(s));

    let commodities: Vec<Value> = catalog.into_iter().filter(kept).collect();
    let prices: Vec<Value> = list(read("prices.json"))
        .into_iter()
        .filter_map(|mut batch| {
            let lines: Vec<Value> = batch["adjustments"].as_array()?.iter().filter(|l| kept(l)).cloned().collect();
            (!lines.is_empty()).then(|| {
                batch["adjustments"] = json!(lines);
                batch
            })
        })
        .collect();
    let stock: Vec<Value> = list(read("stock.json"))
        .into_iter()
        .filter_map(|mut item| {
            let moves: Vec<Value> = item["body"]["movements"].as_array()?.iter().filter(|m| kept(m)).cloned().collect();
            (!moves.is_empty()).then(|| {
                item["body"]["movements"] = json!(moves);
                item
            })
        })
        .collect();

    std::fs::create_dir_all(dir).expect("the slice's directory");
    let write = |name: &str, v: Value| std::fs::write(dir.join(name), serde_json::to_vec(&v).expect("json")).expect("a slice file");
    write("stores.json", read("stores.json"));
    write("commodities.json", json!(commodities));
    write("prices.json", json!(prices));
    write("stock.json", json!(stock));
    write("sales.json", json!(sales));
    write("promotions.json", read("promotions.json"));
    dir.to_path_buf()
}

/// How many of the demo day's sales (`infra/seed/sales.json`, yesterday's business day) are
/// `store`'s, or the whole chain's: what the reports count once the seed has reached them.
pub fn demo_day_sales(store: Option<&str>) -> u64 {
    let path = crate::workspace_root().join("infra/seed/sales.json");
    let sales: Vec<Value> = serde_json::from_slice(&std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    sales.iter().filter(|s| store.is_none_or(|id| s["storeId"] == id)).count() as u64
}
