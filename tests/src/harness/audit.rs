//! The books, audited from the API alone once the evening is played: no sale or return twice,
//! every receipt and return receipt reads back, what is left of every sale agrees with the
//! returns answered (never more back than sold, never more refunded than paid, all of it when
//! all is back), stock taken equals units sold less units restocked (strict stock never below
//! zero, item by item), every receipt's discounts, net amounts, tax and totals are what the
//! promotions in force at its `occurredAt` make of its lines (worked out by the harness itself,
//! `promotions`), and the reports, once the stream drains, equal the sums of the receipts and
//! return receipts, store by store, terminal by terminal, promotion by promotion and over the
//! chain.

use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::client::{Api, Tokens};
use super::evening::{CATALOG, Evening, TRACKED_STOCK};
use super::promotions::{FlashPrice, Item, Promotion, check_receipt};
use super::stats::{Outcome, PromotionTally, Spread};
use super::till::{Returned, Sold};
use crate::answer;

/// How long reports, and tracked stock taken from the stream, may trail the last sale or return
/// (the stream draining).
const REPORT_CATCH_UP: Duration = Duration::from_secs(60);

const METHODS: [&str; 3] = ["cash", "card", "mobile"];

/// The books, from the API alone.
#[allow(clippy::too_many_arguments)]
pub(super) async fn audit(
    evening: &Evening,
    api: &Api,
    tokens: &Tokens,
    promotions: &[Promotion],
    flash: &[FlashPrice],
    sold: &[Sold],
    returned: &[Returned],
    outcome: &mut Outcome,
) {
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
    // No return twice: one receipt per key (the store's one key space, shared with sales),
    // return ids unique, return numbers unique in their store.
    let mut return_ids = HashSet::new();
    let mut return_nos = HashSet::new();
    for r in returned {
        if !keys.insert((&r.store, &r.key)) {
            failures.push(format!("store {}, key {}: two receipts (a return's)", r.store, r.key));
        }
        if !return_ids.insert(r.receipt["returnId"].to_string()) {
            failures.push(format!("store {}: return {} recorded twice", r.store, r.receipt["returnId"]));
        }
        if !return_nos.insert((&r.store, r.receipt["returnNo"].to_string())) {
            failures.push(format!("store {}: return number {} given twice", r.store, r.receipt["returnNo"]));
        }
    }

    // Every receipt's promotions worked out again, from those the harness set up that were in
    // force at its occurredAt and the prices, tax rates and categories it gave its commodities:
    // each line's discount, net amount and tax, the promotions listed (in order, with what each
    // took off), the discount total, the total and the tax.
    let items: HashMap<String, Item> = evening.items().into_iter().map(|i| (i.sku.clone(), i)).collect();
    for s in sold {
        let wrong = check_receipt(&s.receipt, promotions, &items, flash);
        if !wrong.is_empty() {
            failures.push(format!("store {}, key {}: sale {} is not what its promotions make of it: {}", s.store, s.key, s.receipt["saleId"], wrong.join("; ")));
        }
        let (total, paid, change) = (s.receipt["total"].as_i64(), s.receipt["paid"].as_i64(), s.receipt["change"].as_i64());
        if let (Some(total), Some(paid), Some(change)) = (total, paid, change)
            && change != paid - total
        {
            failures.push(format!("store {}, key {}: sale {} paid {paid} for {total}, change {change}", s.store, s.key, s.receipt["saleId"]));
        }
    }
    outcome.promotions = promotions
        .iter()
        .map(|p| {
            let listing: Vec<i64> = sold
                .iter()
                .flat_map(|s| s.receipt["promotions"].as_array().into_iter().flatten())
                .filter(|l| l["promotionId"] == p.id.as_str())
                .map(|l| l["discount"].as_i64().unwrap_or(0))
                .collect();
            let in_window = sold
                .iter()
                .filter(|s| s.receipt["occurredAt"].as_str().and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok()).is_some_and(|t| p.in_force(t)))
                .count();
            PromotionTally { id: p.id.clone(), kind: p.rule.kind(), receipts: listing.len(), discount: listing.iter().sum(), in_window }
        })
        .collect();
    let run_promotions: BTreeSet<&str> = promotions.iter().map(|p| p.id.as_str()).collect();

    // Every receipt and return receipt reads back identical.
    let managers: HashMap<String, String> =
        (0..evening.stores).map(|i| evening.store_id(i)).map(|id| (id.clone(), tokens.token("store", Some(&id)))).collect();
    let managers = Arc::new(managers);
    let mut reads: Vec<Read> = sold
        .iter()
        .map(|s| Read {
            what: format!("store {}: sale {}", s.store, s.receipt["saleId"]),
            store: s.store.clone(),
            path: format!("/stores/{}/sales/{}", s.store, s.receipt["saleId"].as_str().unwrap_or_default()),
        })
        .collect();
    reads.extend(returned.iter().map(|r| Read {
        what: format!("store {}: return {}", r.store, r.receipt["returnId"]),
        store: r.store.clone(),
        path: format!("/stores/{}/returns/{}", r.store, r.receipt["returnId"].as_str().unwrap_or_default()),
    }));
    let wanted: Vec<&Value> = sold.iter().map(|s| &s.receipt).chain(returned.iter().map(|r| &r.receipt)).collect();
    for (read, (want, got)) in reads.iter().zip(wanted.into_iter().zip(read_all(api, &managers, &reads).await)) {
        match got {
            Ok((200, body)) if body == *want => {}
            Ok((status, body)) => failures.push(format!("{} reads back as {status} {body}", read.what)),
            Err(e) => failures.push(format!("{} cannot be read: {e}", read.what)),
        }
    }

    // What is left of every sale, as the API tells it, against the returns the desks were answered.
    let mut by_sale: HashMap<&str, Vec<&Value>> = HashMap::new();
    for r in returned {
        by_sale.entry(r.receipt["sale"]["saleId"].as_str().unwrap_or_default()).or_default().push(&r.receipt);
    }
    let reads: Vec<Read> = sold
        .iter()
        .map(|s| Read {
            what: format!("store {}: what is left of sale {}", s.store, s.receipt["saleId"]),
            store: s.store.clone(),
            path: format!("/stores/{}/sales/{}/returnable", s.store, s.receipt["saleId"].as_str().unwrap_or_default()),
        })
        .collect();
    for ((s, read), got) in sold.iter().zip(&reads).zip(read_all(api, &managers, &reads).await) {
        let returns = by_sale.get(s.receipt["saleId"].as_str().unwrap_or_default()).map_or(&[][..], Vec::as_slice);
        match got {
            Ok((200, left)) => what_is_left(s, returns, &left, &mut failures),
            Ok((status, body)) => failures.push(format!("{} answered {status} {body}", read.what)),
            Err(e) => failures.push(format!("{} got {e}", read.what)),
        }
    }

    // Stock taken equals units sold less units restocked, store by store (a return restocks the
    // store that took it back), and strict stock never went below zero.
    let mut units: HashMap<(&str, String), i64> = HashMap::new();
    for s in sold {
        for line in s.receipt["lines"].as_array().into_iter().flatten() {
            *units.entry((s.store.as_str(), line["sku"].as_str().unwrap_or_default().to_owned())).or_default() += line["quantity"].as_i64().unwrap_or(0);
        }
    }
    let mut restocked: HashMap<(&str, String), i64> = HashMap::new();
    for r in returned {
        for line in r.receipt["lines"].as_array().into_iter().flatten().filter(|l| l["restocked"] == true) {
            *restocked.entry((r.store.as_str(), line["sku"].as_str().unwrap_or_default().to_owned())).or_default() += line["quantity"].as_i64().unwrap_or(0);
        }
    }
    // The flash item's units sold, from the receipts.
    let mut flash_sold = 0;
    let mut sold_out_everywhere = true;
    for i in 0..evening.stores {
        let taken = units.get(&(evening.store_id(i).as_str(), evening.flash_sku())).copied().unwrap_or(0);
        flash_sold += taken;
        sold_out_everywhere &= taken == evening.flash_units_per_store;
    }
    // Tracked stock is taken from the sales stream on DynamoDB: a store's stock is read again
    // until it balances, for as long as reports may trail.
    for i in 0..evening.stores {
        let store = evening.store_id(i);
        let since = Instant::now();
        loop {
            let (wrong, spread) = store_stock(api, evening, &store, &managers[&store], &units, &restocked).await;
            if wrong.is_empty() || since.elapsed() > REPORT_CATCH_UP {
                failures.extend(wrong);
                outcome.flash_spread.extend(spread);
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // The reports, once the stream has drained, equal the sums of the receipts and returns.
    let days = store_days(sold, returned, &run_promotions);
    let since = Instant::now();
    for ((store, day), want) in &days {
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
            if let Some(missing) = missing_members(&report, STORE_MEMBERS, TERMINAL_MEMBERS) {
                failures.push(format!("store {store}: the report of {day} has no {missing}: the reports do not count returns or promotions yet ({report})"));
                break;
            }
            let found = store_view(&report, &run_promotions);
            if found == *want {
                break;
            }
            let over = |member: &str| report[member].as_i64().unwrap_or(0) > want[member].as_i64().unwrap_or(0);
            if since.elapsed() > REPORT_CATCH_UP || over("salesCount") || over("returnsCount") {
                failures.push(format!(
                    "store {store}: the report of {day} disagrees with the receipts and return receipts{}: {}",
                    if since.elapsed() > REPORT_CATCH_UP { format!(" after {REPORT_CATCH_UP:?}") } else { " (it counts more than there are)".into() },
                    differences("", &found, want).join("; ")
                ));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    // The chain's report of each day: its stores' rows as their reports, and its totals the
    // sums of its rows (every store of the chain, the evening's and any others).
    let ho = tokens.token("headoffice", None);
    let dates: BTreeSet<&String> = days.keys().map(|(_, day)| day).collect();
    for day in dates {
        let url = api.url(&format!("/reports/daily?date={day}"));
        let mut want_rows = BTreeMap::new();
        for i in 0..evening.stores {
            let store = evening.store_id(i);
            let d = days.get(&(store.clone(), day.clone()));
            let get = |m: &str| d.map_or(0, |d| d[m].as_i64().unwrap_or(0));
            want_rows.insert(
                store,
                json!({"salesCount": get("salesCount"), "grossAmount": get("grossAmount"), "returnsAmount": get("returnsAmount"), "netAmount": get("netAmount")}),
            );
        }
        loop {
            let report = match api.send(api.http.get(&url).bearer_auth(&ho)).await {
                Ok((a, _)) if a.status == 200 => a.body,
                Ok((a, _)) => {
                    failures.push(format!("the chain's report of {day} answered {} {}", a.status, a.body));
                    break;
                }
                Err(e) => {
                    failures.push(format!("the chain's report of {day} got {e}"));
                    break;
                }
            };
            if let Some(missing) = missing_members(&report, &[CHAIN_MEMBERS, &[CHAIN_DISCOUNT]].concat(), CHAIN_ROW_MEMBERS) {
                failures.push(format!("the chain's report of {day} has no {missing}: the reports do not count returns or promotions yet ({report})"));
                break;
            }
            let rows: BTreeMap<String, Value> = report["stores"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|r| (r["storeId"].as_str().unwrap_or_default().to_owned(), pick(r, CHAIN_ROW_MEMBERS)))
                .collect();
            let mut wrong: Vec<String> = Vec::new();
            for (store, want) in &want_rows {
                match rows.get(store) {
                    Some(found) => wrong.extend(differences(&format!("stores[{store}]."), found, want)),
                    None => wrong.push(format!("no row for store {store}")),
                }
            }
            let sum = |m: &str| rows.values().map(|r| r[m].as_i64().unwrap_or(0)).sum::<i64>();
            let totals = pick(&report, CHAIN_MEMBERS);
            let want_totals = json!({
                "salesCount": sum("salesCount"), "grossAmount": sum("grossAmount"), "returnsAmount": sum("returnsAmount"),
                "netAmount": report["grossAmount"].as_i64().unwrap_or(0) - report["returnsAmount"].as_i64().unwrap_or(0),
            });
            wrong.extend(differences("", &totals, &want_totals));
            if sum("netAmount") != want_totals["netAmount"] {
                wrong.push(format!("the stores' netAmount add up to {}, not grossAmount − returnsAmount {}", sum("netAmount"), want_totals["netAmount"]));
            }
            // Its discountAmount, which no row carries: the sum of its stores' own, the
            // evening's as their receipts say, any other store's as its report says, read while
            // the chain's report stays as it was (else some other run is selling: read again).
            let mut moving = false;
            if wrong.is_empty() {
                let ours: i64 = want_rows.keys().map(|store| days.get(&(store.clone(), day.clone())).map_or(0, |d| d["discountAmount"].as_i64().unwrap_or(0))).sum();
                let others: Vec<&String> = rows.iter().filter(|(id, r)| !want_rows.contains_key(*id) && r["salesCount"].as_i64().unwrap_or(0) > 0).map(|(id, _)| id).collect();
                let mut theirs = 0;
                for store in others {
                    let theirs_url = api.url(&format!("/stores/{store}/reports/daily?date={day}"));
                    match api.send(api.http.get(&theirs_url).bearer_auth(&ho)).await {
                        Ok((a, _)) if a.status == 200 => theirs += a.body["discountAmount"].as_i64().unwrap_or(0),
                        Ok((a, _)) => wrong.push(format!("the report of store {store} (not the evening's) answered {} {}", a.status, a.body)),
                        Err(e) => wrong.push(format!("the report of store {store} (not the evening's) got {e}")),
                    }
                }
                let found = report["discountAmount"].as_i64().unwrap_or(0);
                match api.send(api.http.get(&url).bearer_auth(&ho)).await {
                    Ok((a, _)) if a.status == 200 && a.body == report => {
                        if found != ours + theirs {
                            wrong.push(format!("discountAmount {found}, not its stores' {} (the evening's {ours}, the others' {theirs})", ours + theirs));
                        }
                    }
                    // Another run's sales came in meanwhile: at least the evening's discounts.
                    _ if found < ours => wrong.push(format!("discountAmount {found}, less than the evening's stores' {ours}")),
                    _ => moving = true,
                }
            }
            if wrong.is_empty() && (!moving || since.elapsed() > REPORT_CATCH_UP) {
                break;
            }
            if since.elapsed() > REPORT_CATCH_UP {
                failures.push(format!("the chain's report of {day} after {REPORT_CATCH_UP:?}: {}", wrong.join("; ")));
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    outcome.flash_sold = flash_sold;
    outcome.flash_sold_out_everywhere = sold_out_everywhere;
    outcome.failures.extend(failures);
}

/// A GET the audit makes with the manager's token of `store`.
struct Read {
    what: String,
    store: String,
    path: String,
}

/// Every read, 16 at a time; the answers in the order of `reads`.
async fn read_all(api: &Api, managers: &Arc<HashMap<String, String>>, reads: &[Read]) -> Vec<Result<(u16, Value), String>> {
    let mut tasks = tokio::task::JoinSet::new();
    let chunk = reads.len().div_ceil(16).max(1);
    for (c, part) in reads.chunks(chunk).enumerate() {
        let (part, base, http, managers) =
            (part.iter().map(|r| (r.store.clone(), r.path.clone())).collect::<Vec<_>>(), api.base.clone(), api.http.clone(), Arc::clone(managers));
        tasks.spawn(async move {
            let mut got = Vec::new();
            for (store, path) in part {
                got.push(match http.get(format!("{base}{path}")).bearer_auth(&managers[&store]).send().await {
                    Ok(r) => {
                        let a = answer(r).await;
                        Ok((a.status, a.body))
                    }
                    Err(e) => Err(e.to_string()),
                });
            }
            (c, got)
        });
    }
    let mut parts = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((c, got)) => {
                parts.insert(c, got);
            }
            Err(e) => return reads.iter().map(|_| Err(format!("a reader crashed: {e}"))).collect(),
        }
    }
    parts.into_values().flatten().collect()
}

/// One sale's `returnable` against its receipt and the returns answered for it: per line,
/// returned ≤ sold and as the returns add up, refunds ≤ what the line cost and all of it once
/// all is back; the same returns listed; each tender's refundable what it paid less its refunds.
fn what_is_left(s: &Sold, returns: &[&Value], left: &Value, failures: &mut Vec<String>) {
    let sale = format!("store {}, sale {}", s.store, s.receipt["saleId"]);
    let lines = s.receipt["lines"].as_array().cloned().unwrap_or_default();
    let found = left["lines"].as_array().cloned().unwrap_or_default();
    if found.len() != lines.len() {
        failures.push(format!("{sale}: what is left lists {} lines, the receipt {}", found.len(), lines.len()));
    }
    for (i, (line, f)) in lines.iter().zip(&found).enumerate() {
        let sold = line["quantity"].as_i64().or(line["weightGrams"].as_i64()).unwrap_or(0);
        // What the customer paid for the line, after promotions: what its returns refund.
        let paid = line["netAmount"].as_i64().unwrap_or(0);
        let (mut back, mut refunded) = (0, 0);
        for r in returns {
            for l in r["lines"].as_array().into_iter().flatten().filter(|l| l["line"] == i) {
                back += l["quantity"].as_i64().or(l["weightGrams"].as_i64()).unwrap_or(0);
                refunded += l["refundAmount"].as_i64().unwrap_or(0);
            }
        }
        let line = format!("{sale}, line {i} ({})", line["sku"]);
        if back > sold {
            failures.push(format!("{line}: {back} returned of {sold} sold"));
        }
        if refunded > paid {
            failures.push(format!("{line}: {refunded} refunded of {paid} paid"));
        }
        if back == sold && refunded != paid {
            failures.push(format!("{line}: all {sold} back but {refunded} refunded of {paid} paid"));
        }
        let said = (f["sold"].as_i64(), f["returned"].as_i64(), f["returnable"].as_i64(), f["refundable"].as_i64());
        if said != (Some(sold), Some(back), Some(sold - back), Some(paid - refunded)) {
            failures.push(format!(
                "{line}: what is left says sold {}, returned {}, returnable {}, refundable {}; the receipts say {sold}, {back}, {}, {}",
                f["sold"],
                f["returned"],
                f["returnable"],
                f["refundable"],
                sold - back,
                paid - refunded
            ));
        }
    }
    let listed: BTreeSet<String> = left["returns"].as_array().into_iter().flatten().map(|r| r["returnId"].to_string()).collect();
    let answered: BTreeSet<String> = returns.iter().map(|r| r["returnId"].to_string()).collect();
    if listed != answered {
        failures.push(format!("{sale}: the API lists returns {:?}, the tills were answered {:?}", left["returns"], answered));
    }
    let mut want = Map::new();
    for (m, method) in METHODS.iter().enumerate() {
        let mut paid: i64 = s.receipt["payments"].as_array().into_iter().flatten().filter(|p| p["method"] == *method).map(|p| p["amount"].as_i64().unwrap_or(0)).sum();
        if m == 0 {
            paid -= s.receipt["change"].as_i64().unwrap_or(0);
        }
        let refunded: i64 =
            returns.iter().flat_map(|r| r["refunds"].as_array().into_iter().flatten()).filter(|p| p["method"] == *method).map(|p| p["amount"].as_i64().unwrap_or(0)).sum();
        want.insert((*method).to_owned(), json!((paid - refunded).max(0)));
    }
    if left["refundableByMethod"] != Value::Object(want.clone()) {
        failures.push(format!("{sale}: refundable by method {}, but paid less refunded is {}", left["refundableByMethod"], Value::Object(want)));
    }
}

/// The members of a store report the audit compares, and of each of its terminals' rows.
const STORE_MEMBERS: &[&str] = &[
    "salesCount",
    "grossAmount",
    "taxAmount",
    "discountAmount",
    "byPromotion",
    "returnsCount",
    "returnsAmount",
    "returnsTax",
    "refundsByMethod",
    "netAmount",
    "byTerminal",
];
const TERMINAL_MEMBERS: &[&str] = &["salesCount", "grossAmount", "returnsCount", "returnsAmount", "cashIn", "cashOut"];
/// The members of the chain's report the audit compares, and of each of its stores' rows.
const CHAIN_MEMBERS: &[&str] = &["salesCount", "grossAmount", "returnsAmount", "netAmount"];
/// Besides, the chain's `discountAmount` (the sum of its stores', which its rows do not carry).
const CHAIN_DISCOUNT: &str = "discountAmount";
const CHAIN_ROW_MEMBERS: &[&str] = &["salesCount", "grossAmount", "returnsAmount", "netAmount"];

/// The first member a report lacks: of its own, or of a row of its `byTerminal` or `stores`.
fn missing_members(report: &Value, members: &[&str], row_members: &[&str]) -> Option<String> {
    if let Some(m) = members.iter().find(|m| report.get(**m).is_none_or(Value::is_null)) {
        return Some(format!("`{m}`"));
    }
    let rows = report.get("byTerminal").or(report.get("stores")).and_then(Value::as_array)?;
    rows.iter().find_map(|row| row_members.iter().find(|m| row.get(**m).is_none_or(Value::is_null)).map(|m| format!("`{m}` in its row {row}")))
}

fn pick(v: &Value, members: &[&str]) -> Value {
    Value::Object(members.iter().map(|m| ((*m).to_owned(), v[*m].clone())).collect())
}

/// What the audit compares of a store report: its figures, its terminals' rows by id, and the
/// rows of the run's promotions by id (a store of the run sells under no other, but should one
/// reach its lines, the receipts' check says so).
fn store_view(report: &Value, run_promotions: &BTreeSet<&str>) -> Value {
    let mut view = pick(report, STORE_MEMBERS);
    let promotions: Map<String, Value> = report["byPromotion"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["promotionId"].as_str().is_some_and(|id| run_promotions.contains(id)))
        .map(|p| (p["promotionId"].as_str().unwrap_or_default().to_owned(), pick(p, &["salesCount", "discount"])))
        .collect();
    view["byPromotion"] = Value::Object(promotions);
    let terminals: Map<String, Value> = report["byTerminal"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| (t["terminalId"].as_str().unwrap_or_default().to_owned(), pick(t, TERMINAL_MEMBERS)))
        .collect();
    view["byTerminal"] = Value::Object(terminals);
    view
}

/// What each store-day's report should say, from the receipts and return receipts: sales count
/// where they were sold, returns where they were taken back, each on its own business day.
fn store_days(sold: &[Sold], returned: &[Returned], run_promotions: &BTreeSet<&str>) -> BTreeMap<(String, String), Value> {
    #[derive(Default)]
    struct Day {
        sales: i64,
        gross: i64,
        tax: i64,
        discount: i64,
        /// Per promotion of the run: the receipts listing it, what it took off them.
        promotions: BTreeMap<String, (i64, i64)>,
        returns: i64,
        returns_amount: i64,
        returns_tax: i64,
        refunds: [i64; 3],
        terminals: BTreeMap<String, [i64; 6]>,
    }
    let amount = |v: &Value| v.as_i64().unwrap_or(0);
    let cash = |payments: &Value| payments.as_array().into_iter().flatten().filter(|p| p["method"] == "cash").map(|p| amount(&p["amount"])).sum::<i64>();
    let mut days: BTreeMap<(String, String), Day> = BTreeMap::new();
    for s in sold {
        let r = &s.receipt;
        let day = days.entry((s.store.clone(), r["businessDay"].as_str().unwrap_or_default().to_owned())).or_default();
        day.sales += 1;
        day.gross += amount(&r["total"]);
        day.tax += amount(&r["taxTotal"]);
        day.discount += amount(&r["discountTotal"]);
        for p in r["promotions"].as_array().into_iter().flatten() {
            let id = p["promotionId"].as_str().unwrap_or_default();
            if run_promotions.contains(id) {
                let totals = day.promotions.entry(id.to_owned()).or_default();
                totals.0 += 1;
                totals.1 += amount(&p["discount"]);
            }
        }
        let t = day.terminals.entry(r["terminalId"].as_str().unwrap_or_default().to_owned()).or_default();
        t[0] += 1;
        t[1] += amount(&r["total"]);
        t[4] += cash(&r["payments"]) - amount(&r["change"]);
    }
    for x in returned {
        let r = &x.receipt;
        let day = days.entry((x.store.clone(), r["businessDay"].as_str().unwrap_or_default().to_owned())).or_default();
        day.returns += 1;
        day.returns_amount += amount(&r["total"]);
        day.returns_tax += amount(&r["taxTotal"]);
        for p in r["refunds"].as_array().into_iter().flatten() {
            if let Some(m) = METHODS.iter().position(|m| p["method"] == *m) {
                day.refunds[m] += amount(&p["amount"]);
            }
        }
        let t = day.terminals.entry(r["terminalId"].as_str().unwrap_or_default().to_owned()).or_default();
        t[2] += 1;
        t[3] += amount(&r["total"]);
        t[5] += cash(&r["refunds"]);
    }
    days.into_iter()
        .map(|(k, d)| {
            let terminals: Map<String, Value> = d
                .terminals
                .into_iter()
                .map(|(id, t)| {
                    (id, json!({"salesCount": t[0], "grossAmount": t[1], "returnsCount": t[2], "returnsAmount": t[3], "cashIn": t[4], "cashOut": t[5]}))
                })
                .collect();
            let promotions: Map<String, Value> =
                d.promotions.into_iter().map(|(id, (n, discount))| (id, json!({"salesCount": n, "discount": discount}))).collect();
            let view = json!({
                "salesCount": d.sales, "grossAmount": d.gross, "taxAmount": d.tax,
                "discountAmount": d.discount, "byPromotion": promotions,
                "returnsCount": d.returns, "returnsAmount": d.returns_amount, "returnsTax": d.returns_tax,
                "refundsByMethod": {"cash": d.refunds[0], "card": d.refunds[1], "mobile": d.refunds[2]},
                "netAmount": d.gross - d.returns_amount,
                "byTerminal": terminals,
            });
            (k, view)
        })
        .collect()
}

/// Where `found` and `want` differ, member by member (`byTerminal.T003.cashOut: 120, not 240`).
fn differences(at: &str, found: &Value, want: &Value) -> Vec<String> {
    match (found, want) {
        (Value::Object(f), Value::Object(w)) => {
            let names: BTreeSet<&String> = f.keys().chain(w.keys()).collect();
            names
                .into_iter()
                .flat_map(|n| differences(&format!("{at}{n}."), f.get(n).unwrap_or(&Value::Null), w.get(n).unwrap_or(&Value::Null)))
                .collect()
        }
        _ if found == want => Vec::new(),
        _ => vec![format!("{}: {found}, not {want}", at.trim_end_matches('.'))],
    }
}

/// One store's stock against the receipts: every sku's `onHand` is what it started with less
/// the units sold plus the units restocked there, strict stock never below zero item by item,
/// and the flash item's stock items add up. Answers what disagrees, and the flash item's spread.
async fn store_stock(
    api: &Api,
    evening: &Evening,
    store: &str,
    manager: &str,
    units: &HashMap<(&str, String), i64>,
    restocked: &HashMap<(&str, String), i64>,
) -> (Vec<String>, Option<Spread>) {
    let mut failures = Vec::new();
    let skus: Vec<String> = (0..CATALOG).map(|j| evening.sku(j)).chain([evening.flash_sku()]).collect();
    let request = api.http.post(api.url(&format!("/stores/{store}/commodities/lookup"))).bearer_auth(manager).json(&json!({"skus": skus}));
    let items = match api.send(request).await {
        Ok((a, _)) if a.status == 200 => a.body["items"].as_array().cloned().unwrap_or_default(),
        Ok((a, _)) => return (vec![format!("store {store}: the stock lookup answered {} {}", a.status, a.body)], None),
        Err(e) => return (vec![format!("store {store}: the stock lookup got {e}")], None),
    };
    for item in items {
        let sku = item["sku"].as_str().unwrap_or_default().to_owned();
        let on_hand = item["stock"]["onHand"].as_i64().unwrap_or(i64::MIN);
        let flash = sku == evening.flash_sku();
        let start = if flash { evening.flash_units_per_store } else { TRACKED_STOCK };
        let taken = units.get(&(store, sku.clone())).copied().unwrap_or(0);
        let back = restocked.get(&(store, sku.clone())).copied().unwrap_or(0);
        if on_hand != start - taken + back {
            failures.push(format!(
                "store {store}, sku {sku}: {taken} units sold and {back} restocked but stock went from {start} to {on_hand}, not {}",
                start - taken + back
            ));
        }
        if flash && on_hand < 0 {
            failures.push(format!("store {store}, sku {sku}: strict stock at {on_hand}"));
        }
    }
    // The flash stock item by item: no item below zero, the items add up to what lookups show.
    let flash = evening.flash_sku();
    let request = api.http.get(api.url(&format!("/stores/{store}/stock/{flash}"))).bearer_auth(manager);
    let spread = match api.send(request).await {
        Ok((a, _)) if a.status == 200 => {
            let shards = a.body["shards"].as_array().cloned().unwrap_or_default();
            let held: Vec<i64> = shards.iter().map(|s| s["onHand"].as_i64().unwrap_or(i64::MIN)).collect();
            if let Some(low) = held.iter().position(|h| *h < 0) {
                failures.push(format!("store {store}, sku {flash}: stock item {low} at {}", held[low]));
            }
            let key = (store, flash.clone());
            let expected = evening.flash_units_per_store - units.get(&key).copied().unwrap_or(0) + restocked.get(&key).copied().unwrap_or(0);
            if held.iter().sum::<i64>() != expected {
                failures.push(format!("store {store}, sku {flash}: its stock items hold {held:?}, not {expected} in all"));
            }
            Some(Spread {
                store: store.to_owned(),
                shards: a.body["stockShards"].as_u64().unwrap_or(1) as u16,
                writes: shards.iter().map(|s| s["writes"].as_u64().unwrap_or(0)).collect(),
            })
        }
        Ok((a, _)) => {
            failures.push(format!("store {store}: the stock of {flash} answered {} {}", a.status, a.body));
            None
        }
        Err(e) => {
            failures.push(format!("store {store}: the stock of {flash} got {e}"));
            None
        }
    };
    (failures, spread)
}
