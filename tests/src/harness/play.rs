//! Playing the evening: head office sets up the run's stores, catalog, prices, stock and
//! promotions (and waits the 10 s they take to reach every checkout), the tills ring up their
//! sales at once, then all come back online with their offline batches while
//! the service desks take goods back; a drill's faults are on for the set-up and the play
//! (returns included), and off again for the audit.

use chrono::{SubsecRound, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::audit::audit;
use super::client::{Api, Dice, Tokens};
use super::desk;
use super::evening::{CATALOG, Evening, PROMOTIONS_LAST, TRACKED_STOCK};
use super::offline_till::{self, ENDING_ITEM, OfflineTill, Plan};
use super::promotions::{FlashPrice, Promotion, Rule};
use super::stats::{Outcome, ReturnsTally, RouteStats};
use super::till::{till, upload};
use crate::Answer;

/// Plays the evening and audits it. `Err` only when the evening could not be set up.
pub async fn play(evening: &Evening) -> Result<Outcome, String> {
    evening.check()?;
    let tokens = Arc::new(Tokens::load(&evening.template)?);
    let api = Arc::new(Api {
        base: evening.api.trim_end_matches('/').to_owned(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .pool_max_idle_per_host(evening.tills + 8)
            .build()
            .map_err(|e| e.to_string())?,
    });
    // A drill's faults are on from the start: head office's set-up retries like a till, and
    // its stock deliveries carry an Idempotency-Key, so a lost answer counts nothing twice.
    if let Some(f) = &evening.faults {
        switch_faults(&api, &f.control, &json!(f.rates)).await?;
    }
    // The reference till that sells offline takes its store's snapshot during set-up, before
    // the flash price and the promotions are put (so they reach it in a delta).
    let mut offline = (evening.offline_till_sales > 0).then(|| OfflineTill::new(evening, &tokens));
    let SetUp { promotions, flash, plan } = set_up(evening, &api, &tokens, offline.as_mut()).await?;

    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let ticker = evening.progress.then(|| {
        let (done, total) = (Arc::clone(&done), (evening.tills * evening.sales_per_till) as u64);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let n = done.load(Ordering::Relaxed);
                eprint!("\r{:>5.1} s  checkouts {n}/{total}  {:.0}/s   ", started.elapsed().as_secs_f64(), n as f64 / started.elapsed().as_secs_f64());
            }
        })
    });
    let mut tills = tokio::task::JoinSet::new();
    for t in 0..evening.tills {
        let (evening, api, tokens, done) = (evening.clone(), Arc::clone(&api), Arc::clone(&tokens), Arc::clone(&done));
        tills.spawn(async move { till(&evening, t, &api, &tokens, &done).await });
    }
    let offline = match (offline, &plan) {
        (Some(t), Some(plan)) => Some(tokio::spawn(t.evening(evening.clone(), plan.clone(), Arc::clone(&api)))),
        _ => None,
    };
    let mut logs = Vec::new();
    while let Some(log) = tills.join_next().await {
        logs.push(log.map_err(|e| format!("a till crashed: {e}"))?);
    }
    let rush = started.elapsed();
    // The offline till is back and has uploaded its sales before the burst.
    let offline = match offline {
        Some(t) => Some(t.await.map_err(|e| format!("the offline till crashed: {e}"))?),
        None => None,
    };
    let offline_sold: Vec<_> = offline.iter().flat_map(|o| o.log.sold.iter().cloned()).collect();

    // The offline burst: every till comes back online at once with its batch, while the service
    // desks take back a share of the evening's sales. At the same moment, so that returns meet
    // the uploads in the same stores: the stores' one key space, their terminals' receipt
    // numbers, and tracked stock going down by offline sales and up by restocks at once. The
    // books do not depend on the order (stock is received − sold + restocked whatever came
    // first), and a return needs its sale's receipt, so returns are of the online sales only.
    let desks = desk::choose(evening, &logs.iter().flat_map(|l| l.sold.iter().cloned()).collect::<Vec<_>>());
    let mut uploads = tokio::task::JoinSet::new();
    for t in 0..evening.tills {
        let (evening, api, tokens) = (evening.clone(), Arc::clone(&api), Arc::clone(&tokens));
        uploads.spawn(async move { upload(&evening, t, &api, &tokens).await });
    }
    let mut returns = tokio::task::JoinSet::new();
    for (w, sales) in desks.into_iter().enumerate().filter(|(_, s)| !s.is_empty()) {
        let (evening, api, tokens) = (evening.clone(), Arc::clone(&api), Arc::clone(&tokens));
        returns.spawn(async move { desk::desk(&evening, w, &api, &tokens, sales).await });
    }
    while let Some(log) = uploads.join_next().await {
        logs.push(log.map_err(|e| format!("a till crashed: {e}"))?);
    }
    let mut tally = ReturnsTally::default();
    while let Some(desk) = returns.join_next().await {
        let desk = desk.map_err(|e| format!("a service desk crashed: {e}"))?;
        tally.merge(&desk.tally);
        logs.push(desk.log);
    }
    let play = started.elapsed();
    let mut injected = BTreeMap::new();
    if let Some(f) = &evening.faults {
        let off = json!({"throttle": 0, "delay": 0, "error": 0, "lost": 0});
        let state = switch_faults(&api, &f.control, &off).await?;
        if let Some(counts) = state["injected"].as_object() {
            injected = counts.iter().map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0))).collect();
        }
    }
    if let Some(t) = ticker {
        t.abort();
        eprintln!();
    }

    let offline_rung = offline.map(|mut o| {
        logs.push(std::mem::take(&mut o.log));
        o
    });
    let mut routes: BTreeMap<&'static str, RouteStats> = BTreeMap::new();
    let mut sold = Vec::new();
    let mut returned = Vec::new();
    let mut failures = Vec::new();
    for log in logs {
        for (name, r) in &log.routes {
            routes.entry(*name).or_insert_with(RouteStats::new).merge(r);
        }
        sold.extend(log.sold);
        returned.extend(log.returned);
        failures.extend(log.problems);
    }
    let checkouts = routes.get("checkout").map_or(0, RouteStats::count);
    let mut outcome = Outcome {
        checkouts_per_second: checkouts as f64 / rush.as_secs_f64(),
        routes,
        play,
        receipts: sold.len(),
        flash_sold: 0,
        flash_sold_out_everywhere: false,
        flash_spread: Vec::new(),
        failures,
        injected,
        returns: tally,
        promotions: Vec::new(),
        offline_till: None,
    };
    // A 500 is a bug. A 503 says "a dependency is down, retry": right in a drill, wrong otherwise.
    for (name, r) in &outcome.routes {
        let wrong = |s: u16| s >= 500 && (s != 503 || evening.faults.is_none());
        if let Some((status, _)) = r.statuses.iter().find(|(s, _)| wrong(**s)) {
            outcome.failures.insert(0, format!("{name} answered {status}"));
        }
    }
    audit(evening, &api, &tokens, &promotions, &flash, &sold, &returned, &mut outcome).await;
    if let (Some(run), Some(plan)) = (&offline_rung, &plan) {
        let (failures, tally) = offline_till::audit(plan, run, &offline_sold);
        outcome.failures.extend(failures);
        outcome.offline_till = Some(tally);
    }
    Ok(outcome)
}

/// Head office sets up the run's stores, catalog, prices, stock and promotions through the API,
/// and answers the promotions as stored. The promotions come last: the set-up ends once they
/// have reached every checkout (10 s after they were stored, as the contract promises), since
/// those that started before it (all of them, in a small evening) are not covered by the
/// promise to apply from their first second, and a long-running API's checkouts may remember
/// the promotions they read just before.
async fn set_up(evening: &Evening, api: &Api, tokens: &Tokens, offline: Option<&mut OfflineTill>) -> Result<SetUp, String> {
    let ho = tokens.token("headoffice", None);
    let mut dice = Dice(u64::from(evening.run) << 20 | (1 << 18));
    let expect = |what: String, a: &Answer, ok: &[u16]| {
        if ok.contains(&a.status) { Ok(()) } else { Err(format!("setting up, {what} answered {}: {}", a.status, a.body)) }
    };
    for i in 0..evening.stores {
        let id = evening.store_id(i);
        let body = json!({"name": format!("Harness {i}"), "region": if i % 2 == 0 { "EAST" } else { "WEST" }});
        let a = api.send_retrying(&mut dice, || api.http.put(api.url(&format!("/stores/{id}"))).bearer_auth(&ho).json(&body), |_, _| {}).await?;
        expect(format!("PUT /stores/{id}"), &a, &[200, 201])?;
    }
    let mut lines = Vec::new();
    for j in 0..CATALOG {
        let item = evening.item(j);
        let sku = &item.sku;
        let body = json!({"name": format!("Harness item {j}"), "unit": "each", "taxRateBp": item.tax_rate_bp, "barcodes": [evening.barcode(j)], "category": item.category, "stockPolicy": "track"});
        let a = api.send_retrying(&mut dice, || api.http.put(api.url(&format!("/commodities/{sku}"))).bearer_auth(&ho).json(&body), |_, _| {}).await?;
        expect(format!("PUT /commodities/{sku}"), &a, &[200, 201])?;
        lines.push(json!({"sku": sku, "scope": "chain", "amount": item.price, "validFrom": "2020-01-01T00:00:00Z"}));
    }
    let flash = evening.flash_item();
    let body = json!({"name": "Harness flash item", "unit": "each", "taxRateBp": flash.tax_rate_bp, "barcodes": [evening.barcode(99_999)], "stockPolicy": "strict", "stockShards": evening.flash_shards});
    let a = api.send_retrying(&mut dice, || api.http.put(api.url(&format!("/commodities/{}", flash.sku))).bearer_auth(&ho).json(&body), |_, _| {}).await?;
    expect(format!("PUT /commodities/{}", flash.sku), &a, &[200, 201])?;
    lines.push(json!({"sku": flash.sku, "scope": "chain", "amount": flash.price, "validFrom": "2020-01-01T00:00:00Z"}));
    let batch = json!({"batchId": format!("harness-{}", evening.run), "adjustments": lines});
    let a = api.send_retrying(&mut dice, || api.http.post(api.url("/price-adjustments")).bearer_auth(&ho).json(&batch), |_, _| {}).await?;
    expect("the price batch".into(), &a, &[200, 201])?;
    for i in 0..evening.stores {
        let id = evening.store_id(i);
        let manager = tokens.token("store", Some(&id));
        let mut movements: Vec<Value> = (0..CATALOG).map(|j| json!({"sku": evening.sku(j), "delta": TRACKED_STOCK, "reason": "receipt"})).collect();
        if evening.flash_units_per_store > 0 {
            movements.push(json!({"sku": flash.sku, "delta": evening.flash_units_per_store, "reason": "receipt"}));
        }
        let body = json!({"movements": movements});
        let key = format!("harness-{}-stock-{id}", evening.run);
        let url = api.url(&format!("/stores/{id}/stock-movements"));
        let a = api
            .send_retrying(&mut dice, || api.http.post(&url).bearer_auth(&manager).header("Idempotency-Key", &key).json(&body), |_, _| {})
            .await?;
        expect(format!("stock for {id}"), &a, &[200])?;
    }

    let mut offline = offline;
    if let Some(till) = offline.as_deref_mut() {
        till.sync(api).await.map_err(|e| format!("setting up, the offline till's snapshot: {e}"))?;
    }

    // The promotions: a multi-buy on the flash item (a basket holds one flash unit, so units of
    // the tracked skus listed with it complete the groups), 5 % off the run's dairy, and a
    // chain-wide spend-and-save on every sku of the run starting `spend_and_save_after` the end
    // of set-up. The end of set-up is 10 s from now (once they have reached every checkout).
    let now = Utc::now().trunc_subsecs(0) + chrono::Duration::seconds(1);
    let end = now + chrono::Duration::seconds(10);
    let (from, to) = (now - chrono::Duration::seconds(PROMOTIONS_LAST), now + chrono::Duration::seconds(PROMOTIONS_LAST));
    let run = evening.run;
    let every_sku: BTreeSet<String> = evening.items().into_iter().map(|i| i.sku).collect();
    let multi_skus = (0..CATALOG).filter(|j| j % 3 == 1).map(|j| evening.sku(j)).chain([flash.sku.clone()]).collect();
    let mut wanted = vec![
        Promotion {
            id: format!("h{run}-multi"),
            name: "Harness: buy 3, the cheapest free".into(),
            valid_from: from,
            valid_to: to,
            rule: Rule::MultiBuy { buy: 3, free: 1 },
            skus: Some(multi_skus),
            categories: None,
        },
        Promotion {
            id: format!("h{run}-dairy"),
            name: "Harness: 5 % off dairy".into(),
            valid_from: from,
            valid_to: to,
            rule: Rule::PercentOff { percent_bp: 500 },
            skus: None,
            categories: Some([evening.dairy()].into()),
        },
        Promotion {
            id: format!("h{run}-spend"),
            name: "Harness: 1.50 off every 20.00".into(),
            valid_from: end + chrono::Duration::seconds(evening.spend_and_save_after),
            valid_to: end + chrono::Duration::seconds(PROMOTIONS_LAST),
            rule: Rule::SpendAndSave { threshold: 2000, discount: 150, repeat: true },
            skus: Some(every_sku),
            categories: None,
        },
    ];
    // With the offline till: a promotion ending two thirds into its offline stretch, and a
    // flash price on its store starting a third into it (put now, before the promotions, and
    // so reaching the till in a delta before it goes offline).
    let plan = (evening.offline_till_sales > 0).then(|| Plan::place(evening, end, to));
    let mut flash = Vec::new();
    if let Some(plan) = &plan {
        wanted.push(Promotion {
            id: plan.ending.clone(),
            name: "Harness: 10 % off item 2, ending mid-evening".into(),
            valid_from: from,
            valid_to: plan.ends_at,
            rule: Rule::PercentOff { percent_bp: 1000 },
            skus: Some([evening.sku(ENDING_ITEM)].into()),
            categories: None,
        });
        let f = &plan.flash;
        let batch = json!({
            "batchId": format!("harness-{run}-flash-{}", f.valid_from.timestamp()),
            "adjustments": [{"sku": f.sku, "scope": format!("store:{}", f.store), "amount": f.amount,
                "validFrom": f.valid_from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "validTo": f.valid_to.to_rfc3339_opts(chrono::SecondsFormat::Secs, true), "reason": "harness flash price"}]
        });
        let a = api.send_retrying(&mut dice, || api.http.post(api.url("/price-adjustments")).bearer_auth(&ho).json(&batch), |_, _| {}).await?;
        expect("the flash price".into(), &a, &[200, 201])?;
        if a.body["accepted"] != 1 {
            return Err(format!("setting up, the flash price was not accepted: {}", a.body));
        }
        flash.push(f.clone());
    }
    let mut stored = Vec::new();
    for p in wanted {
        let body = p.body();
        let url = api.url(&format!("/promotions/{}", p.id));
        let a = api.send_retrying(&mut dice, || api.http.put(&url).bearer_auth(&ho).json(&body), |_, _| {}).await?;
        expect(format!("PUT /promotions/{}", p.id), &a, &[200, 201])?;
        match Promotion::from_stored(&a.body) {
            Ok(got) if got == p => stored.push(got),
            Ok(_) => return Err(format!("setting up, promotion {} was stored as {}, not as put: {body}", p.id, a.body)),
            Err(e) => return Err(format!("setting up, promotion {}: {e}", p.id)),
        }
    }
    // The offline till's first delta, at once: it brings the flash price and the promotions
    // while the one that ends mid-evening is still in force (however long set-up takes under
    // faults, it ends after the promotions reach every checkout, possibly after that end).
    if let Some(till) = offline {
        till.sync(api).await.map_err(|e| format!("setting up, the offline till's first delta: {e}"))?;
    }
    // Stored later than planned (retries): the set-up ends 10 s after the last was stored, and a
    // spend-and-save starting after set-up must still have been stored 10 s before it starts.
    let stored_at = Utc::now();
    let end = end.max(stored_at + chrono::Duration::seconds(10));
    let start = stored[2].valid_from;
    if evening.spend_and_save_after > 0 && start < stored_at + chrono::Duration::seconds(10) {
        return Err(format!(
            "setting up, the promotions were stored at {stored_at}, less than 10 s before the spend-and-save starts at {start}: start it later than {} s after set-up",
            evening.spend_and_save_after
        ));
    }
    if let Ok(wait) = (end - Utc::now()).to_std() {
        tokio::time::sleep(wait).await;
    }
    Ok(SetUp { promotions: stored, flash, plan })
}

/// What the set-up put that the evening and its audit need: the promotions as stored, the
/// flash prices, and the offline till's plan.
struct SetUp {
    promotions: Vec<Promotion>,
    flash: Vec<FlashPrice>,
    plan: Option<Plan>,
}

/// Sets the fault layer's rates; answers its state (rates, and faults injected so far).
async fn switch_faults(api: &Api, control: &str, rates: &Value) -> Result<Value, String> {
    let response = api.http.post(control).json(rates).send().await.map_err(|e| format!("the fault layer at {control}: {e}"))?;
    response.json().await.map_err(|e| format!("the fault layer at {control}: {e}"))
}
