//! The evening's promotions as the harness understands them, written from the contract's text
//! (API.md, "Promotions", "How a sale applies them") and nothing else: not from the domain
//! crate, so that the audit's recomputation of every receipt's discounts is a second opinion.
//!
//! A receipt's merged lines as it shows them go in; what each line should take off, pay and
//! carry in tax, and which promotions the receipt should list, come out:
//! 1. line promotions (`multi_buy`, `percent_off`) greedily: each worked out on the lines still
//!    free, the one taking most applies (ties: the smaller promotion id) and claims its lines,
//!    the rest are worked out again, until none takes anything; embedded-price lines never;
//! 2. the one `spend_and_save` taking most (ties: the smaller id), on the amounts left;
//!
//! every sharing is floors plus one cent each to the largest remainders (ties: earlier line);
//! a line's tax is taken on its net amount.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};

/// What a promotion takes off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Rule {
    SpendAndSave { threshold: i64, discount: i64, repeat: bool },
    MultiBuy { buy: i64, free: i64 },
    PercentOff { percent_bp: i64 },
}

impl Rule {
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Rule::SpendAndSave { .. } => "spend_and_save",
            Rule::MultiBuy { .. } => "multi_buy",
            Rule::PercentOff { .. } => "percent_off",
        }
    }
}

/// A chain-wide promotion, as the harness puts it and as the API stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Promotion {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) valid_from: DateTime<Utc>,
    /// Exclusive.
    pub(super) valid_to: DateTime<Utc>,
    pub(super) rule: Rule,
    /// Eligible skus and categories (their union); neither: every line.
    pub(super) skus: Option<BTreeSet<String>>,
    pub(super) categories: Option<BTreeSet<String>>,
}

fn rfc3339(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

impl Promotion {
    /// The body of its `PUT /promotions/{promotionId}`.
    pub(super) fn body(&self) -> Value {
        let mut rule = match &self.rule {
            Rule::SpendAndSave { threshold, discount, repeat } => json!({"threshold": threshold, "discount": discount, "repeat": repeat}),
            Rule::MultiBuy { buy, free } => json!({"buy": buy, "free": free}),
            Rule::PercentOff { percent_bp } => json!({"percentBp": percent_bp}),
        };
        rule["kind"] = json!(self.rule.kind());
        if let Some(skus) = &self.skus {
            rule["skus"] = json!(skus);
        }
        if let Some(categories) = &self.categories {
            rule["categories"] = json!(categories);
        }
        json!({"name": self.name, "scope": "chain", "validFrom": rfc3339(&self.valid_from), "validTo": rfc3339(&self.valid_to), "rule": rule})
    }

    /// Reads a stored promotion (`PUT` or `GET /promotions/{promotionId}`); only chain-wide ones.
    pub(super) fn from_stored(v: &Value) -> Result<Promotion, String> {
        if v["scope"] != "chain" {
            return Err(format!("the harness only puts chain-wide promotions: {v}"));
        }
        Promotion::scoped(v).map(|(_, p)| p)
    }

    /// Reads a stored promotion of any scope (as a till's synced copy holds them): its scope
    /// (`chain`, `region:EAST`, `store:S001`) and the promotion.
    pub(super) fn scoped(v: &Value) -> Result<(String, Promotion), String> {
        let text = |m: &str| v[m].as_str().map(str::to_owned).ok_or_else(|| format!("no `{m}` in {v}"));
        let time = |m: &str| -> Result<DateTime<Utc>, String> {
            DateTime::parse_from_rfc3339(&text(m)?).map(|t| t.with_timezone(&Utc)).map_err(|e| format!("`{m}` in {v}: {e}"))
        };
        let scope = text("scope")?;
        let r = &v["rule"];
        let int = |m: &str| r[m].as_i64().ok_or_else(|| format!("no integer `rule.{m}` in {v}"));
        let rule = match r["kind"].as_str() {
            Some("spend_and_save") => Rule::SpendAndSave {
                threshold: int("threshold")?,
                discount: int("discount")?,
                repeat: r["repeat"].as_bool().ok_or_else(|| format!("no `rule.repeat` in {v}"))?,
            },
            Some("multi_buy") => Rule::MultiBuy { buy: int("buy")?, free: int("free")? },
            Some("percent_off") => Rule::PercentOff { percent_bp: int("percentBp")? },
            _ => return Err(format!("no rule kind the harness knows in {v}")),
        };
        let set = |m: &str| -> Result<Option<BTreeSet<String>>, String> {
            match &r[m] {
                Value::Null => Ok(None),
                Value::Array(a) => a.iter().map(|x| x.as_str().map(str::to_owned).ok_or_else(|| format!("`rule.{m}` in {v}"))).collect::<Result<_, _>>().map(Some),
                _ => Err(format!("`rule.{m}` in {v}")),
            }
        };
        let promotion = Promotion {
            id: text("promotionId")?,
            name: text("name")?,
            valid_from: time("validFrom")?,
            valid_to: time("validTo")?,
            rule,
            skus: set("skus")?,
            categories: set("categories")?,
        };
        Ok((scope, promotion))
    }

    /// In force at `t`: `validFrom` ≤ t < `validTo` (chain-wide, so in every store).
    pub(super) fn in_force(&self, t: DateTime<Utc>) -> bool {
        self.valid_from <= t && t < self.valid_to
    }

    fn eligible(&self, line: &Line) -> bool {
        if self.skus.is_none() && self.categories.is_none() {
            return true;
        }
        self.skus.as_ref().is_some_and(|s| s.contains(&line.sku))
            || self.categories.as_ref().is_some_and(|c| line.category.as_ref().is_some_and(|x| c.contains(x)))
    }
}

/// A merged line as the receipt shows it, with what the harness knows of its commodity.
#[derive(Debug, Clone)]
pub(super) struct Line {
    pub(super) sku: String,
    pub(super) category: Option<String>,
    /// Units of an each line; None for a kg line.
    pub(super) quantity: Option<i64>,
    pub(super) unit_amount: i64,
    pub(super) line_amount: i64,
    /// An embedded-price line (no adjustment): never in a line promotion.
    pub(super) embedded: bool,
    pub(super) tax_rate_bp: i64,
}

/// What a sale should come to once its promotions are applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Applied {
    /// Per line: discount, net, tax.
    pub(super) lines: Vec<(i64, i64, i64)>,
    /// The promotions that took something off, in the order they applied: id, name, discount.
    pub(super) promotions: Vec<(String, String, i64)>,
    pub(super) discount_total: i64,
    pub(super) total: i64,
    pub(super) tax_total: i64,
}

/// round(a × b / c), half away from zero, for a, b ≥ 0 and c > 0.
fn round_div(a: i64, b: i64, c: i64) -> i64 {
    let (a, b, c) = (i128::from(a), i128::from(b), i128::from(c));
    ((2 * a * b + c) / (2 * c)) as i64
}

/// `amount` shared over lines in proportion to `weights` (None: not sharing): each gets the
/// floor of its exact share, and the cents left go one each to the largest remainders, ties to
/// the earlier line.
fn share(amount: i64, weights: &[Option<i64>]) -> Vec<i64> {
    let total: i128 = weights.iter().flatten().map(|w| i128::from(*w)).sum();
    let mut shares = vec![0; weights.len()];
    if total <= 0 {
        return shares;
    }
    let mut remainders = Vec::new();
    for (i, w) in weights.iter().enumerate() {
        if let Some(w) = w {
            let exact = i128::from(amount) * i128::from(*w);
            shares[i] = (exact / total) as i64;
            remainders.push((exact % total, i));
        }
    }
    let left = amount - shares.iter().sum::<i64>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, i) in remainders.into_iter().take(left as usize) {
        shares[i] += 1;
    }
    shares
}

/// A line promotion worked out on the lines still free: per line its discount, and the lines
/// it claims (a percent-off: those it took something from; a multi-buy: those with a unit in a
/// full group).
fn line_promotion(p: &Promotion, lines: &[Line], free: &[bool]) -> (Vec<i64>, Vec<bool>) {
    let n = lines.len();
    let open = |i: usize| free[i] && !lines[i].embedded && p.eligible(&lines[i]);
    match p.rule {
        Rule::PercentOff { percent_bp } => {
            let off: Vec<i64> = (0..n).map(|i| if open(i) { round_div(lines[i].line_amount, percent_bp, 10_000) } else { 0 }).collect();
            let claims = off.iter().map(|d| *d > 0).collect();
            (off, claims)
        }
        Rule::MultiBuy { buy, free: gift } => {
            // Every eligible unit, dearest first, equal prices in line order.
            let mut units: Vec<(i64, usize)> = Vec::new();
            for (i, l) in lines.iter().enumerate() {
                if let (true, Some(q)) = (open(i), l.quantity) {
                    units.extend(std::iter::repeat_n((l.unit_amount, i), q.max(0) as usize));
                }
            }
            units.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
            let (buy, gift) = (buy as usize, gift as usize);
            let mut discount = 0;
            let mut claims = vec![false; n];
            for group in units.chunks_exact(buy) {
                for &(_, i) in group {
                    claims[i] = true;
                }
                discount += group[buy - gift..].iter().map(|u| u.0).sum::<i64>();
            }
            let weights: Vec<Option<i64>> = (0..n).map(|i| claims[i].then_some(lines[i].line_amount)).collect();
            (share(discount, &weights), claims)
        }
        Rule::SpendAndSave { .. } => (vec![0; n], vec![false; n]),
    }
}

/// Applies `promotions` (those in force for the sale) to its merged lines.
pub(super) fn apply(promotions: &[&Promotion], lines: &[Line]) -> Applied {
    let n = lines.len();
    let mut discount = vec![0i64; n];
    let mut free = vec![true; n];
    let mut listed = Vec::new();

    // 1. Line promotions, the one taking most first, until none takes anything.
    let mut candidates: Vec<&Promotion> = promotions.iter().copied().filter(|p| !matches!(p.rule, Rule::SpendAndSave { .. })).collect();
    loop {
        let mut best: Option<(i64, usize, Vec<i64>, Vec<bool>)> = None;
        for (k, p) in candidates.iter().enumerate() {
            let (off, claims) = line_promotion(p, lines, &free);
            let took: i64 = off.iter().sum();
            let better = match &best {
                None => took > 0,
                Some((most, b, _, _)) => took > *most || (took == *most && p.id < candidates[*b].id),
            };
            if better {
                best = Some((took, k, off, claims));
            }
        }
        let Some((took, k, off, claims)) = best else { break };
        for i in 0..n {
            discount[i] += off[i];
            free[i] &= !claims[i];
        }
        let p = candidates.remove(k);
        listed.push((p.id.clone(), p.name.clone(), took));
    }

    // 2. The one spend-and-save taking most, on the amounts after step 1.
    let mut best: Option<(i64, &Promotion, Vec<Option<i64>>)> = None;
    for p in promotions.iter().copied() {
        let Rule::SpendAndSave { threshold, discount: off, repeat } = p.rule else { continue };
        let weights: Vec<Option<i64>> = (0..n).map(|i| p.eligible(&lines[i]).then_some(lines[i].line_amount - discount[i])).collect();
        let amount: i64 = weights.iter().flatten().sum();
        let times = if threshold <= 0 || amount < threshold { 0 } else if repeat { amount / threshold } else { 1 };
        let took = off * times;
        let better = match &best {
            None => took > 0,
            Some((most, b, _)) => took > *most || (took == *most && p.id < b.id),
        };
        if better {
            best = Some((took, p, weights));
        }
    }
    if let Some((took, p, weights)) = best {
        for (i, s) in share(took, &weights).into_iter().enumerate() {
            discount[i] += s;
        }
        listed.push((p.id.clone(), p.name.clone(), took));
    }

    let lines: Vec<(i64, i64, i64)> = lines
        .iter()
        .zip(&discount)
        .map(|(l, d)| {
            let net = (l.line_amount - d).max(0);
            (l.line_amount - net, net, round_div(net, l.tax_rate_bp, 10_000 + l.tax_rate_bp))
        })
        .collect();
    Applied {
        discount_total: lines.iter().map(|l| l.0).sum(),
        total: lines.iter().map(|l| l.1).sum(),
        tax_total: lines.iter().map(|l| l.2).sum(),
        lines,
        promotions: listed,
    }
}

/// What the harness knows of one of its commodities.
#[derive(Debug, Clone)]
pub(super) struct Item {
    pub(super) sku: String,
    pub(super) price: i64,
    pub(super) tax_rate_bp: i64,
    pub(super) category: Option<String>,
}

/// A flash price the harness put on one sku in one store: a promotion-type adjustment (with a
/// `validTo`) of that store's scope, so it beats the sku's chain-wide regular price while in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FlashPrice {
    pub(super) store: String,
    pub(super) sku: String,
    pub(super) amount: i64,
    pub(super) valid_from: DateTime<Utc>,
    /// Exclusive.
    pub(super) valid_to: DateTime<Utc>,
}

impl FlashPrice {
    pub(super) fn in_force(&self, store: &str, sku: &str, t: DateTime<Utc>) -> bool {
        self.store == store && self.sku == sku && self.valid_from <= t && t < self.valid_to
    }
}

/// Where a receipt of the run differs from what the promotions in force at its `occurredAt`
/// make of its lines (the lines priced as the harness set them up, or at a flash price of its
/// store in force then); empty when it agrees.
pub(super) fn check_receipt(receipt: &Value, promotions: &[Promotion], items: &HashMap<String, Item>, flash: &[FlashPrice]) -> Vec<String> {
    let mut wrong = Vec::new();
    let Some(at) = receipt["occurredAt"].as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc)) else {
        return vec![format!("no occurredAt the harness can read: {}", receipt["occurredAt"])];
    };
    let mut lines = Vec::new();
    for (i, l) in receipt["lines"].as_array().into_iter().flatten().enumerate() {
        let sku = l["sku"].as_str().unwrap_or_default();
        let Some(item) = items.get(sku) else {
            wrong.push(format!("line {i}: sku {sku:?} is none of the run's"));
            continue;
        };
        let quantity = l["quantity"].as_i64();
        let (unit, amount) = (l["unitAmount"].as_i64().unwrap_or(-1), l["lineAmount"].as_i64().unwrap_or(-1));
        let embedded = l["adjustmentId"].is_null();
        let store = receipt["storeId"].as_str().unwrap_or_default();
        let price = flash.iter().rev().find(|f| f.in_force(store, sku, at)).map_or(item.price, |f| f.amount);
        if !embedded && unit != price {
            wrong.push(format!("line {i} ({sku}): unitAmount {unit}, not its price {price}"));
        }
        if let Some(q) = quantity.filter(|_| !embedded)
            && amount != unit * q
        {
            wrong.push(format!("line {i} ({sku}): lineAmount {amount}, not {q} × {unit}"));
        }
        lines.push(Line { sku: sku.to_owned(), category: item.category.clone(), quantity, unit_amount: unit, line_amount: amount, embedded, tax_rate_bp: item.tax_rate_bp });
    }
    if !wrong.is_empty() {
        return wrong;
    }
    let in_force: Vec<&Promotion> = promotions.iter().filter(|p| p.in_force(at)).collect();
    let want = apply(&in_force, &lines);
    for (i, (l, (discount, net, tax))) in receipt["lines"].as_array().into_iter().flatten().zip(&want.lines).enumerate() {
        for (member, value) in [("discountAmount", discount), ("netAmount", net), ("taxAmount", tax)] {
            if l[member] != json!(value) {
                wrong.push(format!("line {i} ({}): {member} {}, not {value}", lines[i].sku, l[member]));
            }
        }
    }
    let listed: Vec<Value> = want.promotions.iter().map(|(id, name, d)| json!({"promotionId": id, "name": name, "discount": d})).collect();
    if receipt["promotions"] != json!(listed) {
        wrong.push(format!("promotions {}, not {}", receipt["promotions"], json!(listed)));
    }
    for (member, value) in [("discountTotal", want.discount_total), ("total", want.total), ("taxTotal", want.tax_total)] {
        if receipt[member] != json!(value) {
            wrong.push(format!("{member} {}, not {value}", receipt[member]));
        }
    }
    if !wrong.is_empty() {
        let ids: Vec<&str> = in_force.iter().map(|p| p.id.as_str()).collect();
        wrong.push(format!("(occurredAt {at}, promotions of the run in force then: {ids:?})"));
    }
    wrong
}

#[cfg(test)]
mod tests;
