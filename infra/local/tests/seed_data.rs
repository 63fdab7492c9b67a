//! The committed demo data obeys the domain's rules, checked with the domain crate itself, so a
//! seed file never has to wait for a running handler to find out it is wrong.

mod common;

use chrono::Utc;
use retail_core::domain::barcode::gs1_check_digit;
use retail_core::domain::catalog::CommodityDraft;
use retail_core::domain::price::{PriceLine, PriceLineContext};
use retail_core::domain::stock::{StockMovement, changes_by_sku};
use retail_core::domain::{BatchId, Commodity, RegionId, Sku, StockPolicy, Store, StoreId, Unit};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet};

fn read(file: &str) -> Value {
    let path = common::workspace_seed_dir().join(file);
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

fn stores() -> Vec<Store> {
    read("stores.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let body = &s["body"];
            let members: HashSet<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
            assert!(members.is_subset(&HashSet::from(["name", "region", "timezone"])), "{body}");
            Store::new(
                StoreId::parse(s["storeId"].as_str().unwrap()).unwrap(),
                body["name"].as_str().unwrap(),
                RegionId::parse(body["region"].as_str().unwrap()).unwrap(),
                body["timezone"].as_str(),
            )
            .unwrap()
        })
        .collect()
}

fn commodities() -> Vec<Commodity> {
    read("commodities.json")
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let sku = Sku::parse(c["sku"].as_str().unwrap()).unwrap();
            let draft: CommodityDraft = serde_json::from_value(c["body"].clone()).unwrap();
            Commodity::from_draft(sku.clone(), draft).unwrap_or_else(|e| panic!("{sku}: {e}"))
        })
        .collect()
}

#[test]
fn stores_span_two_regions() {
    let stores = stores();
    assert!(stores.len() >= 3);
    let regions: HashSet<&str> = stores.iter().map(|s| s.region.as_str()).collect();
    assert!(regions.len() >= 2, "{regions:?}");
    assert!(stores.iter().any(|s| s.store_id.as_str() == "S001"));
}

#[test]
fn a_thousand_valid_commodities_with_unique_barcodes() {
    let commodities = commodities();
    assert_eq!(commodities.len(), 1000);
    let skus: HashSet<&Sku> = commodities.iter().map(|c| c.sku()).collect();
    assert_eq!(skus.len(), 1000);
    let mut holders: HashMap<&str, &str> = HashMap::new();
    for c in &commodities {
        for b in c.barcodes() {
            if let Some(other) = holders.insert(b.as_str(), c.sku().as_str()) {
                panic!("{b} is on {other} and {}", c.sku());
            }
        }
    }
    let raw: Vec<String> = read("commodities.json")
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["body"]["barcodes"].as_array().unwrap().iter().map(|b| b.as_str().unwrap().to_owned()))
        .collect();
    for len in [7, 8, 12, 13] {
        assert!(raw.iter().any(|b| b.len() == len), "no {len}-digit barcode");
    }
    for code in raw.iter().filter(|b| b.len() != 7) {
        let (body, check) = code.split_at(code.len() - 1);
        assert_eq!(gs1_check_digit(body.as_bytes()).to_string(), check, "{code}");
    }
    assert!(commodities.iter().any(|c| c.unit() == Unit::Kg) && commodities.iter().any(|c| c.unit() == Unit::Each));
    assert!(commodities.iter().all(|c| [900, 1300].contains(&c.tax_rate().basis_points())));
    let strict: Vec<&str> =
        commodities.iter().filter(|c| c.stock_policy() == StockPolicy::Strict).map(|c| c.sku().as_str()).collect();
    assert_eq!(strict, vec!["FLASH-001"]);
}

#[test]
fn the_readme_walk_through_items_are_there() {
    let commodities = commodities();
    let by_sku = |sku: &str| commodities.iter().find(|c| c.sku().as_str() == sku).unwrap();
    let milk = by_sku("MILK-1L");
    assert!(milk.barcodes().iter().any(|b| b.as_str() == "6901234567892"));
    let apple = by_sku("APPLE-FUJI");
    assert_eq!(apple.unit(), Unit::Kg);
    assert!(apple.barcodes().iter().any(|b| b.as_str() == "2112345"));
    assert!(
        commodities.iter().any(|c| c.unit() == Unit::Each && c.barcodes().iter().any(|b| b.as_str().starts_with("23")))
    );
}

struct Catalog {
    skus: HashSet<Sku>,
    stores: HashSet<StoreId>,
}

impl PriceLineContext for Catalog {
    fn commodity_exists(&self, sku: &Sku) -> bool {
        self.skus.contains(sku)
    }
    fn store_exists(&self, store: &StoreId) -> bool {
        self.stores.contains(store)
    }
}

#[test]
fn every_price_line_is_accepted_and_every_commodity_has_a_chain_price() {
    let catalog = Catalog {
        skus: commodities().into_iter().map(|c| c.sku().clone()).collect(),
        stores: stores().into_iter().map(|s| s.store_id).collect(),
    };
    let batches = read("prices.json");
    let mut chain_regular = HashSet::new();
    let (mut regions, mut store_scoped, mut promotions) = (0, 0, 0);
    let mut batch_ids = HashSet::new();
    for batch in batches.as_array().unwrap() {
        let batch_id = BatchId::parse(batch["batchId"].as_str().unwrap()).unwrap();
        assert!(batch_ids.insert(batch_id.clone()), "{batch_id} twice");
        let lines = batch["adjustments"].as_array().unwrap();
        assert!((1..=5000).contains(&lines.len()));
        for (i, line) in lines.iter().enumerate() {
            let parsed: PriceLine = serde_json::from_value(line.clone()).unwrap();
            let adjustment = parsed
                .validate(&batch_id, i as u32, Utc::now(), &catalog)
                .unwrap_or_else(|r| panic!("{batch_id} line {i}: {r:?}"));
            match parsed.scope.as_str() {
                "chain" if adjustment.valid_to.is_none() => {
                    chain_regular.insert(parsed.sku.clone());
                }
                "chain" => promotions += 1,
                s if s.starts_with("region:") => regions += 1,
                _ => store_scoped += 1,
            }
        }
    }
    assert_eq!(chain_regular.len(), catalog.skus.len(), "every commodity has a chain price");
    assert!(regions > 0 && store_scoped > 0 && promotions > 0);
}

#[test]
fn stock_receipts_fill_every_store_within_request_limits() {
    let policies: BTreeMap<Sku, StockPolicy> = commodities().into_iter().map(|c| (c.sku().clone(), c.stock_policy())).collect();
    let mut received: HashMap<String, HashSet<Sku>> = HashMap::new();
    for item in read("stock.json").as_array().unwrap() {
        let store = StoreId::parse(item["storeId"].as_str().unwrap()).unwrap();
        let movements: Vec<StockMovement> = serde_json::from_value(item["body"]["movements"].clone()).unwrap();
        let changes = changes_by_sku(&movements).unwrap();
        for (sku, change) in changes {
            assert!(policies.contains_key(&sku), "{sku} unknown");
            assert!(change.lowest >= 0 || policies[&sku] == StockPolicy::Track, "{sku} strict stock below zero");
            received.entry(store.to_string()).or_default().insert(sku);
        }
    }
    for store in stores() {
        assert_eq!(received[store.store_id.as_str()].len(), policies.len(), "{} lacks stock", store.store_id);
    }
}
