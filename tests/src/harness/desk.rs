//! The service desk: customers bring back a share of the evening's online sales while the tills
//! come back online with their offline batches. One desk works through a sale's returns in
//! order, so what is left of the sale is known here at every step and each answer is checked
//! exactly: a part of it, for some a second part (lines in two returns), for some an attempt at
//! more than is left (409 `return_exceeds_sale` with what is left), for some the rest. Some are
//! taken back by a till of another store, reasons are mixed (each with its default restock, now
//! and then an explicit one), some ask for their refunds explicitly. Before each return the till
//! reads what is left of the sale, and every return is sent a second time with its key, as if
//! its answer was lost.

use serde_json::{Value, json};
use std::collections::HashMap;

use super::client::{Api, Dice, Tokens};
use super::evening::Evening;
use super::stats::ReturnsTally;
use super::till::{Returned, Sold, TillLog};
use crate::Answer;

const REASONS: [&str; 4] = ["unwanted", "wrong_item", "damaged", "expired"];
const METHODS: [&str; 3] = ["cash", "card", "mobile"];

/// What one desk did: what its tills saw, and what the returns covered.
pub(super) struct DeskLog {
    pub(super) log: TillLog,
    pub(super) tally: ReturnsTally,
}

/// How many sales come back at least when the share asks for any (and that many were sold):
/// [`kinds`] goes through every kind of return once in eight sales.
const AT_LEAST: usize = 8;

/// The sales brought back, and to which desk each goes: the `k`th chosen sale (in the order of
/// their keys, so a run id always chooses the same) is desk `k % tills`'s. Which sales were
/// sold can vary from run to run (the flash item's last units go to whichever till is first),
/// so too few chosen are topped up with the first of the others, in order.
pub(super) fn choose(evening: &Evening, sold: &[Sold]) -> Vec<Vec<(usize, Sold)>> {
    let mut sold: Vec<&Sold> = sold.iter().collect();
    sold.sort_by(|a, b| (&a.store, &a.key).cmp(&(&b.store, &b.key)));
    let mut dice = Dice(u64::from(evening.run) << 20 | (1 << 17));
    let mut desks = vec![Vec::new(); evening.tills];
    let (mut chosen, others): (Vec<&Sold>, Vec<&Sold>) = sold.into_iter().partition(|_| dice.chance(evening.returns_share));
    if evening.returns_share > 0.0 {
        chosen.extend(others.into_iter().take(AT_LEAST.saturating_sub(chosen.len())));
    }
    for (k, s) in chosen.into_iter().enumerate() {
        desks[k % evening.tills].push((k, s.clone()));
    }
    desks
}

/// A rounding of `amount × k / n`, half away from zero, for amount, k ≥ 0 and n > 0.
fn share(amount: i64, n: i64, k: i64) -> i64 {
    let (a, n, k) = (i128::from(amount), i128::from(n.max(1)), i128::from(k));
    ((2 * a * k + n) / (2 * n)) as i64
}

/// What is known of a sale brought back.
struct Sale {
    store: String,
    id: String,
    receipt_no: Value,
    /// Per line: sku, name, units sold, net amount (what the customer paid for it), tax.
    lines: Vec<(String, Value, i64, i64, i64)>,
    /// Per line: units back, and in how many returns.
    returned: Vec<(i64, u32)>,
    /// What each tender may still take back (cash net of change), in METHODS order.
    left: [i64; 3],
}

impl Sale {
    fn of(s: &Sold) -> Sale {
        let r = &s.receipt;
        let lines: Vec<(String, Value, i64, i64, i64)> = r["lines"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|l| {
                (
                    l["sku"].as_str().unwrap_or_default().to_owned(),
                    l["name"].clone(),
                    l["quantity"].as_i64().unwrap_or(0),
                    // What the customer paid for it, after promotions: what returns refund.
                    l["netAmount"].as_i64().unwrap_or(0),
                    l["taxAmount"].as_i64().unwrap_or(0),
                )
            })
            .collect();
        let mut left = [0; 3];
        for p in r["payments"].as_array().into_iter().flatten() {
            if let Some(m) = METHODS.iter().position(|m| p["method"] == *m) {
                left[m] += p["amount"].as_i64().unwrap_or(0);
            }
        }
        left[0] -= r["change"].as_i64().unwrap_or(0);
        Sale {
            store: s.store.clone(),
            id: r["saleId"].as_str().unwrap_or_default().to_owned(),
            receipt_no: r["receiptNo"].clone(),
            returned: vec![(0, 0); lines.len()],
            lines,
            left,
        }
    }

    fn left_of(&self, line: usize) -> i64 {
        self.lines[line].2 - self.returned[line].0
    }

    /// What returning `q` more of `line` refunds, and its tax (the cumulative formula).
    fn refund(&self, line: usize, q: i64) -> (i64, i64) {
        let (_, _, n, net, tax) = &self.lines[line];
        let r = self.returned[line].0;
        (share(*net, *n, r + q) - share(*net, *n, r), share(*tax, *n, r + q) - share(*tax, *n, r))
    }

    /// What `GET .../returnable` should say of it now.
    fn returnable(&self) -> Value {
        let lines: Vec<Value> = self
            .lines
            .iter()
            .enumerate()
            .map(|(i, (sku, name, n, net, _))| {
                let back = self.returned[i].0;
                json!({"line": i, "sku": sku, "name": name, "sold": n, "returned": back, "returnable": n - back, "refundable": net - share(*net, *n, back)})
            })
            .collect();
        json!({"lines": lines, "refundableByMethod": {"cash": self.left[0].max(0), "card": self.left[1].max(0), "mobile": self.left[2].max(0)}})
    }
}

/// A tender split as a map of method to amount, zero amounts left out.
fn by_method(payments: &Value) -> HashMap<String, i64> {
    let mut by = HashMap::new();
    for p in payments.as_array().into_iter().flatten() {
        *by.entry(p["method"].as_str().unwrap_or("?").to_owned()).or_insert(0) += p["amount"].as_i64().unwrap_or(0);
    }
    by.retain(|_, v| *v != 0);
    by
}

/// `total` over the tenders in `order`, each up to what it has left (cash without limit).
fn split(total: i64, left: &[i64; 3], order: &[usize]) -> Vec<Value> {
    let mut rest = total;
    let mut refunds = Vec::new();
    for &m in order {
        let amount = if m == 0 { rest } else { rest.min(left[m].max(0)) };
        if amount > 0 {
            refunds.push(json!({"method": METHODS[m], "amount": amount}));
            rest -= amount;
        }
    }
    if rest > 0 {
        refunds.push(json!({"method": "cash", "amount": rest}));
    }
    refunds
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    /// Some of what is left of some lines.
    Part,
    /// More than is left of one line (409), now and then beside a good line.
    Beyond,
    /// Everything that is left.
    Rest,
}

fn kinds(k: usize) -> Vec<Kind> {
    let mut kinds = vec![Kind::Part];
    if !k.is_multiple_of(3) {
        kinds.push(Kind::Part);
    }
    if k % 2 == 1 && k % 8 != 7 {
        kinds.push(Kind::Beyond);
    }
    if k % 4 == 3 {
        kinds.push(Kind::Rest);
    }
    if k % 8 == 7 {
        kinds.push(Kind::Beyond);
    }
    kinds
}

/// Desk `w` takes back its share of the sales.
pub(super) async fn desk(evening: &Evening, w: usize, api: &Api, tokens: &Tokens, sales: Vec<(usize, Sold)>) -> DeskLog {
    // The desk's choices follow from the run id alone; its retries' backoff draws from its own
    // dice, so a drill's faults change when returns are sent, never which are.
    let mut dice = Dice(u64::from(evening.run) << 20 | (1 << 16) | w as u64);
    let mut backoff = Dice(u64::from(evening.run) << 20 | (1 << 15) | w as u64);
    let mut desk = DeskLog { log: TillLog::default(), tally: ReturnsTally::default() };
    let mut pos: HashMap<String, String> = HashMap::new();
    for (k, sold) in sales {
        let Some(home) = (0..evening.stores).find(|i| evening.store_id(*i) == sold.store) else {
            desk.log.problems.push(format!("store {}: not one of the evening's stores", sold.store));
            continue;
        };
        let mut sale = Sale::of(&sold);
        desk.tally.sales += 1;
        for (a, kind) in kinds(k).into_iter().enumerate() {
            // Where it comes back: at a till of another store for one return in three.
            let at = if evening.stores > 1 && (k + a) % 3 == 1 { (home + 1 + dice.below(evening.stores - 1)) % evening.stores } else { home };
            let tills_there = (evening.tills - at).div_ceil(evening.stores);
            let t = at + evening.stores * dice.below(tills_there);
            let store = evening.store_id(at);
            let terminal = format!("T{t:03}");
            let token = pos.entry(store.clone()).or_insert_with(|| tokens.token("pos", Some(&store))).clone();
            let reason = REASONS[(k + a) % REASONS.len()];
            // Now and then the till says whether to restock, against the reason's default.
            let restock = ((2 * k + a) % 5 == 3).then_some(!matches!(reason, "unwanted" | "wrong_item"));
            let mut lines: Vec<(usize, i64, bool)> = Vec::new(); // line, units, quantity sent
            let mut exceeds = Vec::new();
            let open: Vec<usize> = (0..sale.lines.len()).filter(|i| sale.left_of(*i) > 0).collect();
            match kind {
                Kind::Part | Kind::Rest if open.is_empty() => continue,
                Kind::Part => {
                    let mut chosen: Vec<usize> = open.iter().copied().filter(|_| dice.chance(0.5)).collect();
                    // A second part takes more of a line already partly back, when there is one.
                    if a > 0
                        && let Some(again) = open.iter().find(|i| sale.returned[**i].0 > 0)
                        && !chosen.contains(again)
                    {
                        chosen.push(*again);
                    }
                    if chosen.is_empty() {
                        chosen.push(open[dice.below(open.len())]);
                    }
                    chosen.sort_unstable();
                    for i in chosen {
                        let left = sale.left_of(i);
                        // The first part leaves something of a line of several units.
                        let q = if a == 0 && left > 1 { 1 + dice.below(left as usize - 1) as i64 } else { 1 + dice.below(left as usize) as i64 };
                        lines.push((i, q, q > 1 || !dice.chance(0.3)));
                    }
                }
                Kind::Rest => lines.extend(open.iter().map(|&i| (i, sale.left_of(i), true))),
                Kind::Beyond => {
                    let i = dice.below(sale.lines.len());
                    let q = sale.left_of(i) + 1 + dice.below(2) as i64;
                    exceeds.push(json!({"line": i, "requested": q, "returnable": sale.left_of(i)}));
                    lines.push((i, q, true));
                    if let Some(&j) = open.iter().find(|j| **j != i)
                        && dice.chance(0.5)
                    {
                        lines.insert(dice.below(2), (j, 1, true));
                    }
                }
            }
            let key = format!("h{}-r{k}-{a}", evening.run);
            let mut body = json!({
                "terminalId": terminal,
                "sale": {"storeId": sale.store, "saleId": sale.id},
                "lines": lines.iter().map(|&(i, q, sent)| if sent { json!({"line": i, "quantity": q}) } else { json!({"line": i}) }).collect::<Vec<_>>(),
                "reason": reason,
            });
            if let Some(r) = restock {
                body["restock"] = json!(r);
            }
            let refund: Vec<(i64, i64)> = if exceeds.is_empty() { lines.iter().map(|&(i, q, _)| sale.refund(i, q)).collect() } else { Vec::new() };
            let total: i64 = refund.iter().map(|r| r.0).sum();
            let explicit = exceeds.is_empty() && (k + 2 * a) % 3 == 2;
            let expected_refunds = if explicit {
                // The customer asks for cash, or for mobile first.
                let asked = if dice.chance(0.5) { split(total, &sale.left, &[0]) } else { split(total, &sale.left, &[2, 1, 0]) };
                body["refunds"] = json!(asked);
                asked
            } else {
                split(total, &sale.left, &[1, 2, 0])
            };

            // The till reads what is left of the sale first (a till of any store may).
            let url = api.url(&format!("/stores/{}/sales/{}/returnable", sale.store, sale.id));
            match api.send_as_till(&mut desk.log, "returnable", &mut backoff, || api.http.get(&url).bearer_auth(&token)).await {
                Ok(r) if r.status == 200 => {
                    let want = sale.returnable();
                    let found = json!({"lines": r.body["lines"], "refundableByMethod": r.body["refundableByMethod"]});
                    if found != want {
                        desk.log.problems.push(format!("store {}, sale {}: what is left reads {found}, not {want}", sale.store, sale.id));
                    }
                }
                Ok(r) => desk.log.problems.push(format!("store {}, sale {}: what is left answered {} {}", sale.store, sale.id, r.status, r.body)),
                Err(e) => desk.log.problems.push(format!("store {}, sale {}: what is left got {e}", sale.store, sale.id)),
            }

            let url = api.url(&format!("/stores/{store}/returns"));
            let send = || api.http.post(&url).bearer_auth(&token).header("Idempotency-Key", &key).json(&body);
            let first = api.send_as_till(&mut desk.log, "return", &mut backoff, send).await;
            // The answer is "lost": the till sends the same return with the same key again.
            let again = api.send_as_till(&mut desk.log, "re-return", &mut backoff, send).await;
            let (first, again) = match (first, again) {
                (Ok(a), Ok(b)) => (a, b),
                (Err(e), _) | (_, Err(e)) => {
                    desk.log.problems.push(format!("store {store}, return {key}: {e}"));
                    continue;
                }
            };
            let replayed = |a: &Answer| a.status == 200 && a.headers.get("idempotent-replayed").is_some_and(|v| v == "true");
            let what = format!("store {store}, return {key} of sale {} of {}", sale.id, sale.store);
            if !exceeds.is_empty() {
                let refused = |a: &Answer| a.status == 409 && a.body["code"] == "return_exceeds_sale" && a.body["lines"] == json!(exceeds);
                if refused(&first) && refused(&again) {
                    desk.tally.refused += 1;
                } else {
                    desk.log.problems.push(format!(
                        "{what}: {body} asks more than is left ({exceeds:?}) and answered {} {} then {} {}",
                        first.status, first.body, again.status, again.body
                    ));
                }
                // A return recorded anyway is still a return: the audit counts it.
                if first.status == 201 || replayed(&first) {
                    desk.log.returned.push(Returned { store: store.clone(), key: key.clone(), receipt: first.body.clone() });
                    note(&mut sale, &first.body);
                }
                continue;
            }
            if !(first.status == 201 || replayed(&first)) {
                desk.log.problems.push(format!("{what}: {body} answered {} {} then {} {}", first.status, first.body, again.status, again.body));
                continue;
            }
            if !(replayed(&again) && again.body == first.body) {
                desk.log.problems.push(format!("{what}: the resend of return {} answered {} {} instead of replaying it", first.body["returnId"], again.status, again.body));
            }
            let receipt = &first.body;
            let default_restock = matches!(reason, "unwanted" | "wrong_item");
            let want_lines: Vec<Value> = lines
                .iter()
                .zip(&refund)
                .map(|(&(i, q, _), &(amount, tax))| {
                    json!({"line": i, "sku": sale.lines[i].0, "name": sale.lines[i].1, "quantity": q, "refundAmount": amount, "taxAmount": tax, "restocked": restock.unwrap_or(default_restock)})
                })
                .collect();
            let want = json!({
                "storeId": store, "terminalId": terminal, "reason": reason,
                "sale": {"storeId": sale.store, "saleId": sale.id, "receiptNo": sale.receipt_no},
                "lines": want_lines, "total": total, "taxTotal": refund.iter().map(|r| r.1).sum::<i64>(), "currency": "CNY",
            });
            let found = json!({
                "storeId": receipt["storeId"], "terminalId": receipt["terminalId"], "reason": receipt["reason"], "sale": receipt["sale"],
                "lines": receipt["lines"], "total": receipt["total"], "taxTotal": receipt["taxTotal"], "currency": receipt["currency"],
            });
            if found != want {
                desk.log.problems.push(format!("{what}: the receipt says {found}, not {want}"));
            }
            if by_method(&receipt["refunds"]) != by_method(&json!(expected_refunds)) {
                desk.log.problems.push(format!(
                    "{what}: refunded {} ({}), not {} as {}",
                    receipt["refunds"],
                    if explicit { "asked" } else { "by default" },
                    json!(expected_refunds),
                    if explicit { "asked" } else { "card first, then mobile, the rest in cash" }
                ));
            }
            desk.log.returned.push(Returned { store: store.clone(), key: key.clone(), receipt: receipt.clone() });
            note(&mut sale, receipt);
            desk.tally.receipts += 1;
            desk.tally.cross_store += usize::from(at != home);
            desk.tally.explicit_refunds += usize::from(explicit);
            desk.tally.explicit_restock += usize::from(restock.is_some());
            *desk.tally.by_reason.entry(reason.to_owned()).or_default() += 1;
            desk.tally.restocked_units +=
                receipt["lines"].as_array().into_iter().flatten().filter(|l| l["restocked"] == true).map(|l| l["quantity"].as_i64().unwrap_or(0)).sum::<i64>();
        }
        desk.tally.lines_in_two_returns += sale.returned.iter().filter(|r| r.1 >= 2).count();
        desk.tally.lines_all_back += sale.returned.iter().enumerate().filter(|(i, r)| r.0 > 0 && r.0 == sale.lines[*i].2).count();
    }
    desk
}

/// Folds a recorded return into what is known of its sale: the units back and, by tender,
/// what was refunded (as the server answered it, so one wrong answer is reported once).
fn note(sale: &mut Sale, receipt: &Value) {
    for l in receipt["lines"].as_array().into_iter().flatten() {
        if let Some(i) = l["line"].as_u64().map(|i| i as usize).filter(|i| *i < sale.returned.len()) {
            sale.returned[i].0 += l["quantity"].as_i64().unwrap_or(0);
            sale.returned[i].1 += 1;
        }
    }
    for (method, amount) in by_method(&receipt["refunds"]) {
        if let Some(m) = METHODS.iter().position(|x| *x == method) {
            sale.left[m] -= amount;
        }
    }
}
