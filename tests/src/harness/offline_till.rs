//! The reference till that sells through a network outage (API.md, "Till catalog sync"; README,
//! "For till developers: syncing the catalog to sell offline"): it takes its store's snapshot
//! during set-up, polls the deltas while online, goes offline mid-evening (it sends nothing),
//! rings up sales priced only from its copy, and uploads them when it is back.
//!
//! Its pricing is the harness's own, not the domain crate's: of a sku's prices in force at the
//! sale's `occurredAt`, the last listed; then the promotions of its copy reaching its store and
//! in force then, as `promotions` reads "How a sale applies them"; tax on each line's net. The
//! set-up places a flash price that starts and a promotion that ends inside the offline stretch,
//! and the audit checks every offline receipt the server recorded has exactly the total, tax and
//! discount the till worked out, with sales on both sides of each moment.

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use super::client::{Api, Dice, Tokens};
use super::evening::{CATALOG, Evening};
use super::promotions::{FlashPrice, Line, Promotion, apply};
use super::stats::OfflineTillTally;
use super::till::{Sold, TillLog, upload_sales};

/// The till's terminal id.
pub(super) const TERMINAL: &str = "OFFLINE-1";
/// The catalog commodity the flash price is put on (neither in the multi-buy nor dairy).
pub(super) const FLASH_ITEM: usize = 5;
/// The catalog commodity the promotion that ends mid-evening takes from (neither in the
/// multi-buy nor dairy).
pub(super) const ENDING_ITEM: usize = 2;
/// The flash price, in minor units (the commodity's regular price is 3.35).
pub(super) const FLASH_AMOUNT: i64 = 199;

/// When the till is offline and what changes meanwhile, as the set-up placed it.
#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) offline_from: DateTime<Utc>,
    pub(super) back_at: DateTime<Utc>,
    /// The flash price starting inside the offline stretch.
    pub(super) flash: FlashPrice,
    /// The promotion ending inside the offline stretch, and when (its `validTo`).
    pub(super) ending: String,
    pub(super) ends_at: DateTime<Utc>,
}

impl Plan {
    /// The offline stretch of the evening whose set-up ends at `end`, cut in three: the flash
    /// price starts after the first third, the promotion ends after the second. Whole seconds.
    pub(super) fn place(evening: &Evening, end: DateTime<Utc>, flash_to: DateTime<Utc>) -> Plan {
        let from = end.trunc_subsecs(0) + chrono::Duration::seconds(evening.offline_till_after);
        let l = evening.offline_till_for;
        Plan {
            offline_from: from,
            back_at: from + chrono::Duration::seconds(l),
            flash: FlashPrice {
                store: evening.store_id(0),
                sku: evening.sku(FLASH_ITEM),
                amount: FLASH_AMOUNT,
                valid_from: from + chrono::Duration::seconds(l / 3),
                valid_to: flash_to,
            },
            ending: format!("h{}-ending", evening.run),
            ends_at: from + chrono::Duration::seconds(2 * l / 3),
        }
    }

    /// When offline sale `k` of `n` occurs: spread evenly over the stretch, in whole seconds.
    fn occurred_at(&self, k: usize, n: usize) -> DateTime<Utc> {
        let l = (self.back_at - self.offline_from).num_seconds();
        self.offline_from + chrono::Duration::seconds((2 * k as i64 + 1) * l / (2 * n as i64))
    }
}

/// What the till holds of its store's catalog: each sku's commodity and prices, the promotions
/// and the store, as last sent, and where to read on from.
#[derive(Default)]
struct Copy {
    cursor: Option<String>,
    commodities: BTreeMap<String, Value>,
    prices: BTreeMap<String, Vec<Value>>,
    promotions: BTreeMap<String, Value>,
    store: Option<Value>,
}

fn instant(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|s| DateTime::parse_from_rfc3339(s).ok()).map(|t| t.with_timezone(&Utc))
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Copy {
    fn apply(&mut self, change: &Value) -> Result<(), String> {
        let id = |m: &str| change[m].as_str().map(str::to_owned).ok_or_else(|| format!("a change without `{m}`: {change}"));
        match change["kind"].as_str() {
            Some("commodity") => {
                match &change["commodity"] {
                    Value::Null => self.commodities.remove(&id("sku")?),
                    c => self.commodities.insert(id("sku")?, c.clone()),
                };
            }
            Some("prices") => {
                let prices = change["prices"].as_array().cloned().ok_or_else(|| format!("a prices change without a list: {change}"))?;
                self.prices.insert(id("sku")?, prices);
            }
            Some("promotion") => {
                match &change["promotion"] {
                    Value::Null => self.promotions.remove(&id("promotionId")?),
                    p => self.promotions.insert(id("promotionId")?, p.clone()),
                };
            }
            Some("store") => self.store = Some(change["store"].clone()),
            _ => return Err(format!("a change of no kind the till knows: {change}")),
        }
        Ok(())
    }

    /// The price of `sku` at `t`: of its adjustments in force then, the last listed.
    fn price_at(&self, sku: &str, t: DateTime<Utc>) -> Option<&Value> {
        self.prices.get(sku)?.iter().rev().find(|p| instant(&p["validFrom"]).is_some_and(|from| from <= t) && instant(&p["validTo"]).is_none_or(|to| t < to))
    }

    /// The promotions of the copy that reach `store` (the chain, its region, itself) and are
    /// in force at `t`.
    fn promotions_at(&self, store: &str, t: DateTime<Utc>) -> Result<Vec<Promotion>, String> {
        let region = self.store.as_ref().and_then(|s| s["region"].as_str()).map(|r| format!("region:{r}"));
        let mut found = Vec::new();
        for p in self.promotions.values() {
            let (scope, p) = Promotion::scoped(p)?;
            let reaches = scope == "chain" || scope == format!("store:{store}") || Some(&scope) == region.as_ref();
            if reaches && p.in_force(t) {
                found.push(p);
            }
        }
        Ok(found)
    }
}

/// An offline sale as the till rang it up: what it sent, and what it worked out.
#[derive(Debug, Clone)]
pub(super) struct Rung {
    key: String,
    at: DateTime<Utc>,
    /// Per merged line: sku and unit price.
    units: Vec<(String, i64)>,
    total: i64,
    tax_total: i64,
    discount_total: i64,
    /// The promotions it applied, in order: id and discount.
    promotions: Vec<(String, i64)>,
}

pub(super) struct OfflineTill {
    store: String,
    token: String,
    run: u32,
    sales: usize,
    copy: Copy,
    dice: Dice,
    log: TillLog,
    snapshot_pages: usize,
    delta_polls: usize,
    delta_changes: usize,
}

/// What the till did, for the audit.
pub(super) struct OfflineRun {
    pub(super) log: TillLog,
    pub(super) rung: Vec<Rung>,
    /// Its copy held the flash price and the ending promotion when it went offline.
    pub(super) held: Result<(), String>,
    snapshot_pages: usize,
    delta_polls: usize,
    delta_changes: usize,
}

impl OfflineTill {
    pub(super) fn new(evening: &Evening, tokens: &Tokens) -> OfflineTill {
        let store = evening.store_id(0);
        OfflineTill {
            token: tokens.token("pos", Some(&store)),
            store,
            run: evening.run,
            sales: evening.offline_till_sales,
            copy: Copy::default(),
            dice: Dice(u64::from(evening.run) << 20 | (3 << 17)),
            log: TillLog::default(),
            snapshot_pages: 0,
            delta_polls: 0,
            delta_changes: 0,
        }
    }

    /// The snapshot (no cursor) or a delta (the copy's cursor), following `more` to the end;
    /// a cursor answered 410 (or 400) is dropped and a snapshot taken again.
    pub(super) async fn sync(&mut self, api: &Api) -> Result<(), String> {
        let delta = self.copy.cursor.is_some();
        if delta {
            self.delta_polls += 1;
        }
        let route = if delta { "catalog-delta" } else { "catalog-snapshot" };
        loop {
            let mut url = api.url(&format!("/stores/{}/catalog?limit=500", self.store));
            if let Some(cursor) = &self.copy.cursor {
                url.push_str(&format!("&cursor={cursor}"));
            }
            let token = self.token.clone();
            let a = api.send_as_till(&mut self.log, route, &mut self.dice, || api.http.get(&url).bearer_auth(&token)).await?;
            if (a.status == 410 || a.status == 400) && self.copy.cursor.is_some() {
                self.log.problems.push(format!("offline till: its cursor was answered {} {}; a snapshot again", a.status, a.body));
                self.copy.cursor = None;
                continue;
            }
            if a.status != 200 {
                return Err(format!("the catalog of store {} answered {} {}", self.store, a.status, a.body));
            }
            if a.body["storeId"] != self.store.as_str() {
                return Err(format!("the catalog of store {} came as {}'s", self.store, a.body["storeId"]));
            }
            let changes = a.body["changes"].as_array().cloned().unwrap_or_default();
            if delta {
                self.delta_changes += changes.len();
            } else {
                self.snapshot_pages += 1;
            }
            for change in &changes {
                self.copy.apply(change)?;
            }
            self.copy.cursor = Some(a.body["cursor"].as_str().ok_or_else(|| format!("a catalog page without a cursor: {}", a.body))?.to_owned());
            if a.body["more"] != json!(true) {
                return Ok(());
            }
        }
    }

    /// Whether the copy holds the plan's flash price (listed for its sku, from its moment)
    /// and its ending promotion (ending at its moment).
    fn holds(&self, plan: &Plan) -> Result<(), String> {
        let from = rfc3339(&plan.flash.valid_from);
        let flash = self.copy.prices.get(&plan.flash.sku).into_iter().flatten().any(|p| {
            p["amount"] == plan.flash.amount && instant(&p["validFrom"]) == Some(plan.flash.valid_from) && p["scope"] == format!("store:{}", plan.flash.store)
        });
        if !flash {
            return Err(format!("going offline, the till's copy lacks the flash price from {from} on {}: {:?}", plan.flash.sku, self.copy.prices.get(&plan.flash.sku)));
        }
        match self.copy.promotions.get(&plan.ending) {
            Some(p) if instant(&p["validTo"]) == Some(plan.ends_at) => Ok(()),
            p => Err(format!("going offline, the till's copy lacks the promotion {} ending at {}: {p:?}", plan.ending, rfc3339(&plan.ends_at))),
        }
    }

    /// Rings up offline sale `k` at `at`, priced from the copy alone.
    fn ring(&mut self, evening: &Evening, k: usize, at: DateTime<Utc>) -> Result<(Value, Rung), String> {
        // Every basket has the ending promotion's sku and the flash-priced one, and a few more
        // (a sku may come twice: the till merges as the server does).
        let mut wanted = vec![(evening.sku(ENDING_ITEM), 1 + self.dice.below(3) as i64), (evening.sku(FLASH_ITEM), 1)];
        for _ in 0..self.dice.below(4) {
            wanted.push((evening.sku(self.dice.below(CATALOG)), 1 + self.dice.below(2) as i64));
        }
        let mut merged: Vec<(String, i64)> = Vec::new();
        for (sku, q) in &wanted {
            match merged.iter_mut().find(|(s, _)| s == sku) {
                Some(m) => m.1 += q,
                None => merged.push((sku.clone(), *q)),
            }
        }
        let mut lines = Vec::new();
        for (sku, q) in &merged {
            let commodity = self.copy.commodities.get(sku).ok_or_else(|| format!("offline sale {k}: {sku} is not in the till's copy"))?;
            let price = self.copy.price_at(sku, at).ok_or_else(|| format!("offline sale {k}: no price of {sku} at {at} in the till's copy"))?;
            let unit = price["amount"].as_i64().ok_or_else(|| format!("offline sale {k}: a price of {sku} without an amount: {price}"))?;
            lines.push(Line {
                sku: sku.clone(),
                category: commodity["category"].as_str().map(str::to_owned),
                quantity: Some(*q),
                unit_amount: unit,
                line_amount: unit * q,
                embedded: false,
                tax_rate_bp: commodity["taxRateBp"].as_i64().ok_or_else(|| format!("offline sale {k}: {sku} without a tax rate: {commodity}"))?,
            });
        }
        let promotions = self.copy.promotions_at(&self.store, at)?;
        let applied = apply(&promotions.iter().collect::<Vec<_>>(), &lines);
        // Half by card for exactly the total (a cent more or less would be refused), half in
        // cash rounded up to the next 100.00.
        let payments = if k.is_multiple_of(2) {
            json!([{"method": "card", "amount": applied.total}])
        } else {
            json!([{"method": "cash", "amount": (applied.total / 10_000 + 1) * 10_000}])
        };
        let key = format!("h{}-offline-till-{k}", self.run);
        let body = json!({
            "idempotencyKey": key,
            "terminalId": TERMINAL,
            "lines": wanted.iter().map(|(sku, q)| json!({"sku": sku, "quantity": q})).collect::<Vec<_>>(),
            "payments": payments,
            "occurredAt": rfc3339(&at),
        });
        let rung = Rung {
            key,
            at,
            units: lines.iter().map(|l| (l.sku.clone(), l.unit_amount)).collect(),
            total: applied.total,
            tax_total: applied.tax_total,
            discount_total: applied.discount_total,
            promotions: applied.promotions.iter().map(|(id, _, d)| (id.clone(), *d)).collect(),
        };
        Ok((body, rung))
    }

    /// The evening: deltas every second while online, offline from the plan's moment (nothing
    /// sent), its sales rung up each at its moment, then back: a delta at once and the upload.
    pub(super) async fn evening(mut self, evening: Evening, plan: Plan, api: std::sync::Arc<Api>) -> OfflineRun {
        let wait_until = |t: DateTime<Utc>| async move {
            if let Ok(wait) = (t - Utc::now()).to_std() {
                tokio::time::sleep(wait).await;
            }
        };
        // (Set-up took its snapshot and its first delta. A set-up slowed by faults may end
        // after the offline stretch began: then the till is offline already, and polls nothing
        // that would drop a promotion ended since from its copy.)
        while Utc::now() + chrono::Duration::seconds(1) < plan.offline_from {
            if let Err(e) = self.sync(&api).await {
                self.log.problems.push(format!("offline till, online: {e}"));
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        wait_until(plan.offline_from).await;
        let held = self.holds(&plan);

        // Offline: not a request.
        let mut sales = Vec::new();
        let mut rung = Vec::new();
        for k in 0..self.sales {
            let at = plan.occurred_at(k, self.sales);
            wait_until(at).await;
            match self.ring(&evening, k, at) {
                Ok((body, r)) => {
                    sales.push(body);
                    rung.push(r);
                }
                Err(e) => self.log.problems.push(format!("offline till: {e}")),
            }
        }
        wait_until(plan.back_at).await;

        // Back: the news first, then the sales.
        if let Err(e) = self.sync(&api).await {
            self.log.problems.push(format!("offline till, back online: {e}"));
        }
        let (store, token) = (self.store.clone(), self.token.clone());
        upload_sales(&api, &mut self.log, &mut self.dice, "offline-till-upload", &store, &token, sales).await;
        OfflineRun {
            log: self.log,
            rung,
            held,
            snapshot_pages: self.snapshot_pages,
            delta_polls: self.delta_polls,
            delta_changes: self.delta_changes,
        }
    }
}

/// Every offline sale the till rang up was recorded (once: the main audit checks keys), with
/// exactly the total, tax and discount the till worked out, its lines at the till's prices and
/// the promotions it applied; at least one on each side of the flash price's start and of the
/// promotion's end, the flash price on the lines after its start only, the promotion on the
/// receipts before its end only.
pub(super) fn audit(plan: &Plan, run: &OfflineRun, sold: &[Sold]) -> (Vec<String>, OfflineTillTally) {
    let mut failures = Vec::new();
    if let Err(e) = &run.held {
        failures.push(e.clone());
    }
    let receipts: HashMap<&str, &Value> = sold.iter().map(|s| (s.key.as_str(), &s.receipt)).collect();
    let mut tally = OfflineTillTally {
        rung: run.rung.len(),
        snapshot_pages: run.snapshot_pages,
        delta_polls: run.delta_polls,
        delta_changes: run.delta_changes,
        ..OfflineTillTally::default()
    };
    for r in &run.rung {
        let Some(receipt) = receipts.get(r.key.as_str()) else {
            failures.push(format!("offline till, sale {}: no receipt recorded", r.key));
            continue;
        };
        tally.recorded += 1;
        let sale = format!("offline till, sale {} (occurredAt {}, sale {})", r.key, rfc3339(&r.at), receipt["saleId"]);
        let mut wrong = Vec::new();
        for (member, value) in [("total", r.total), ("taxTotal", r.tax_total), ("discountTotal", r.discount_total)] {
            if receipt[member] != json!(value) {
                wrong.push(format!("{member} {}, the till's {value}", receipt[member]));
            }
        }
        let units: Vec<(String, i64)> = receipt["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| (l["sku"].as_str().unwrap_or_default().to_owned(), l["unitAmount"].as_i64().unwrap_or(-1)))
            .collect();
        if units != r.units {
            wrong.push(format!("lines at {units:?}, the till's {:?}", r.units));
        }
        let promotions: Vec<(String, i64)> = receipt["promotions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| (p["promotionId"].as_str().unwrap_or_default().to_owned(), p["discount"].as_i64().unwrap_or(-1)))
            .collect();
        if promotions != r.promotions {
            wrong.push(format!("promotions {promotions:?}, the till's {:?}", r.promotions));
        }
        if wrong.is_empty() {
            tally.agreed += 1;
        }
        // The moments: the flash price on its sku from its start, the promotion until its end.
        let flash_on = plan.flash.valid_from <= r.at && r.at < plan.flash.valid_to;
        let flash_unit = units.iter().find(|(s, _)| *s == plan.flash.sku).map(|(_, u)| *u);
        if flash_on {
            tally.after_flash += 1;
        } else {
            tally.before_flash += 1;
        }
        if flash_unit.is_some_and(|u| (u == plan.flash.amount) != flash_on) {
            wrong.push(format!("{} at {flash_unit:?} with the flash price {}in force", plan.flash.sku, if flash_on { "" } else { "not " }));
        }
        let ending_on = r.at < plan.ends_at;
        if ending_on {
            tally.before_end += 1;
        } else {
            tally.after_end += 1;
        }
        if promotions.iter().any(|(id, _)| *id == plan.ending) != ending_on {
            wrong.push(format!("the promotion {} {}listed, {} its end at {}", plan.ending, if ending_on { "not " } else { "" }, if ending_on { "before" } else { "after" }, rfc3339(&plan.ends_at)));
        }
        if !wrong.is_empty() {
            failures.push(format!("{sale}: {}", wrong.join("; ")));
        }
    }
    for (n, side) in [
        (tally.before_flash, "before the flash price started"),
        (tally.after_flash, "after the flash price started"),
        (tally.before_end, "before the promotion ended"),
        (tally.after_end, "after the promotion ended"),
    ] {
        if n == 0 {
            failures.push(format!("offline till: no offline sale {side}"));
        }
    }
    (failures, tally)
}
