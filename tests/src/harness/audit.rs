//! The books, audited from the API alone once the evening is played: no sale twice, every
//! receipt reads back, stock taken equals units sold (strict stock never below zero, item by
//! item), and the reports, once the stream drains, equal the sums of the receipts.

use serde_json::json;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{Api, Tokens};
use super::evening::{CATALOG, Evening, TRACKED_STOCK};
use super::stats::{Outcome, Spread};
use super::till::Sold;
use crate::answer;

/// How long reports may trail the last sale (the stream draining).
const REPORT_CATCH_UP: Duration = Duration::from_secs(60);

/// The books, from the API alone.
pub(super) async fn audit(evening: &Evening, api: &Api, tokens: &Tokens, sold: &[Sold], outcome: &mut Outcome) {
    let mut failures = Vec::new();
    // No sale twice: one receipt per key, sale ids and receipt numbers unique.
    let mut keys = HashSet::new();
    let mut sale_ids = HashSet::new();
    let mut receipt_nos = HashSet::new();
    for s in sold {
        if !keys.insert((&s.store, &s.key)) {
            failures.push(format!("store {}, key {}: two receipts", s.store, s.key));
        }
        if !sale_ids.insert(s.receipt["saleId"].to_string()) {
            failures.push(format!("store {}: sale {} recorded twice", s.store, s.receipt["saleId"]));
        }
        if !receipt_nos.insert((&s.store, s.receipt["receiptNo"].to_string())) {
            failures.push(format!("store {}: receipt number {} given twice", s.store, s.receipt["receiptNo"]));
        }
    }

    // Every receipt reads back identical.
    let mut reads = tokio::task::JoinSet::new();
    let managers: HashMap<String, String> =
        (0..evening.stores).map(|i| evening.store_id(i)).map(|id| (id.clone(), tokens.token("store", Some(&id)))).collect();
    let managers = Arc::new(managers);
    for chunk in sold.chunks(sold.len().div_ceil(16).max(1)) {
        let (chunk, base, http, managers) = (chunk.to_vec(), api.base.clone(), api.http.clone(), Arc::clone(&managers));
        reads.spawn(async move {
            let mut found = Vec::new();
            for s in chunk {
                let url = format!("{base}/stores/{}/sales/{}", s.store, s.receipt["saleId"].as_str().unwrap_or_default());
                match http.get(url).bearer_auth(&managers[&s.store]).send().await {
                    Ok(r) => {
                        let a = answer(r).await;
                        if a.status != 200 || a.body != s.receipt {
                            found.push(format!("store {}: sale {} reads back as {} {}", s.store, s.receipt["saleId"], a.status, a.body));
                        }
                    }
                    Err(e) => found.push(format!("store {}: sale {} cannot be read: {e}", s.store, s.receipt["saleId"])),
                }
            }
            found
        });
    }
    while let Some(found) = reads.join_next().await {
        failures.extend(found.unwrap_or_else(|e| vec![format!("a receipt reader crashed: {e}")]));
    }

    // Units sold equal stock taken, and strict stock never went below zero.
    let mut units: HashMap<(&str, String), i64> = HashMap::new();
    for s in sold {
        for line in s.receipt["lines"].as_array().into_iter().flatten() {
            *units.entry((s.store.as_str(), line["sku"].as_str().unwrap_or_default().to_owned())).or_default() += line["quantity"].as_i64().unwrap_or(0);
        }
    }
    let mut flash_sold = 0;
    let mut sold_out_everywhere = true;
    for i in 0..evening.stores {
        let store = evening.store_id(i);
        let skus: Vec<String> = (0..CATALOG).map(|j| evening.sku(j)).chain([evening.flash_sku()]).collect();
        let request = api.http.post(api.url(&format!("/stores/{store}/commodities/lookup"))).bearer_auth(&managers[&store]).json(&json!({"skus": skus}));
        let items = match api.send(request).await {
            Ok((a, _)) if a.status == 200 => a.body["items"].as_array().cloned().unwrap_or_default(),
            Ok((a, _)) => {
                failures.push(format!("store {store}: the stock lookup answered {} {}", a.status, a.body));
                continue;
            }
            Err(e) => {
                failures.push(format!("store {store}: the stock lookup got {e}"));
                continue;
            }
        };
        for item in items {
            let sku = item["sku"].as_str().unwrap_or_default().to_owned();
            let on_hand = item["stock"]["onHand"].as_i64().unwrap_or(i64::MIN);
            let flash = sku == evening.flash_sku();
            let start = if flash { evening.flash_units_per_store } else { TRACKED_STOCK };
            let taken = units.get(&(store.as_str(), sku.clone())).copied().unwrap_or(0);
            if on_hand != start - taken {
                failures.push(format!("store {store}, sku {sku}: {taken} units sold but stock went from {start} to {on_hand}"));
            }
            if flash {
                flash_sold += taken;
                sold_out_everywhere &= on_hand == 0;
                if on_hand < 0 {
                    failures.push(format!("store {store}, sku {sku}: strict stock at {on_hand}"));
                }
            }
        }
        // The flash stock item by item: no item below zero, the items add up to what lookups show.
        let flash = evening.flash_sku();
        let request = api.http.get(api.url(&format!("/stores/{store}/stock/{flash}"))).bearer_auth(&managers[&store]);
        match api.send(request).await {
            Ok((a, _)) if a.status == 200 => {
                let shards = a.body["shards"].as_array().cloned().unwrap_or_default();
                let held: Vec<i64> = shards.iter().map(|s| s["onHand"].as_i64().unwrap_or(i64::MIN)).collect();
                if let Some(low) = held.iter().position(|h| *h < 0) {
                    failures.push(format!("store {store}, sku {flash}: stock item {low} at {}", held[low]));
                }
                let expected = evening.flash_units_per_store - units.get(&(store.as_str(), flash.clone())).copied().unwrap_or(0);
                if held.iter().sum::<i64>() != expected {
                    failures.push(format!("store {store}, sku {flash}: its stock items hold {held:?}, not {expected} in all"));
                }
                outcome.flash_spread.push(Spread {
                    store: store.clone(),
                    shards: a.body["stockShards"].as_u64().unwrap_or(1) as u16,
                    writes: shards.iter().map(|s| s["writes"].as_u64().unwrap_or(0)).collect(),
                });
            }
            Ok((a, _)) => failures.push(format!("store {store}: the stock of {flash} answered {} {}", a.status, a.body)),
            Err(e) => failures.push(format!("store {store}: the stock of {flash} got {e}")),
        }
    }

    // The reports, once the stream has drained, equal the sums of the receipts.
    let mut days: BTreeMap<(String, String), (i64, i64, i64)> = BTreeMap::new();
    for s in sold {
        let day = days.entry((s.store.clone(), s.receipt["businessDay"].as_str().unwrap_or_default().to_owned())).or_default();
        day.0 += 1;
        day.1 += s.receipt["total"].as_i64().unwrap_or(0);
        day.2 += s.receipt["taxTotal"].as_i64().unwrap_or(0);
    }
    let since = Instant::now();
    for ((store, day), (count, gross, tax)) in &days {
        let url = api.url(&format!("/stores/{store}/reports/daily?date={day}"));
        loop {
            let report = match api.send(api.http.get(&url).bearer_auth(&managers[store])).await {
                Ok((a, _)) if a.status == 200 => a.body,
                Ok((a, _)) => {
                    failures.push(format!("store {store}: the report of {day} answered {} {}", a.status, a.body));
                    break;
                }
                Err(e) => {
                    failures.push(format!("store {store}: the report of {day} got {e}"));
                    break;
                }
            };
            let found = (report["salesCount"].as_i64(), report["grossAmount"].as_i64(), report["taxAmount"].as_i64());
            if found == (Some(*count), Some(*gross), Some(*tax)) {
                break;
            }
            if since.elapsed() > REPORT_CATCH_UP || report["salesCount"].as_i64().is_some_and(|n| n > *count) {
                failures.push(format!(
                    "store {store}: the report of {day} says {} sales, {} gross, {} tax; the receipts add up to {count}, {gross}, {tax}",
                    report["salesCount"], report["grossAmount"], report["taxAmount"]
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    outcome.flash_sold = flash_sold;
    outcome.flash_sold_out_everywhere = sold_out_everywhere;
    outcome.failures.extend(failures);
}
