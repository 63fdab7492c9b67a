//! Double 11 promotions: spend-and-save (满减), multi-buy and percent-off. What head office
//! stores (checked, and a started promotion only ever ended earlier), and how a sale applies
//! the ones in force to its priced lines, to the cent.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::catalog::{MAX_CATEGORY, MAX_NAME, Store, checked_text};
use super::ids::{PromotionId, Sku};
use super::money::{Money, div_round_half_away};
use super::price::PriceScope;
use super::refusal::{CatalogRefusal, Invalid};
use super::time::{instant, parse_instant};

/// The longest window a promotion may have (exactly this is allowed).
pub const MAX_WINDOW: Duration = Duration::days(90);
/// Most skus one rule may name; its categories reach further.
pub const MAX_SKUS: usize = 1000;
/// Most categories one rule may name.
pub const MAX_CATEGORIES: usize = 100;
/// Largest group of a multi-buy.
pub const MAX_BUY: i64 = 100;
/// Largest percent-off, in basis points (90 %).
pub const MAX_PERCENT_BP: i64 = 9000;

/// The lines a rule looks at: those whose sku is in `skus` or whose category is in
/// `categories`; with neither, every line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Eligible {
    /// Sorted, each once.
    pub skus: Option<Vec<Sku>>,
    /// Sorted, each once.
    pub categories: Option<Vec<String>>,
}

impl Eligible {
    #[inline]
    pub fn takes(&self, sku: &Sku, category: Option<&str>) -> bool {
        if self.skus.is_none() && self.categories.is_none() {
            return true;
        }
        self.skus.as_ref().is_some_and(|s| s.binary_search(sku).is_ok())
            || category.is_some_and(|c| self.categories.as_ref().is_some_and(|cs| cs.binary_search_by(|x| x.as_str().cmp(c)).is_ok()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rule {
    /// When the eligible lines reach `threshold` after line promotions, `discount` off (with
    /// `repeat`, for every full `threshold`).
    SpendAndSave { threshold: Money, discount: Money, repeat: bool, eligible: Eligible },
    /// Eligible units of each lines, most expensive first, in groups of `buy`: the `free`
    /// cheapest of each full group cost nothing.
    MultiBuy { buy: i64, free: i64, eligible: Eligible },
    /// That share of each eligible line, rounded per line.
    PercentOff { percent_bp: i64, eligible: Eligible },
}

impl Rule {
    pub fn eligible(&self) -> &Eligible {
        match self {
            Rule::SpendAndSave { eligible, .. } | Rule::MultiBuy { eligible, .. } | Rule::PercentOff { eligible, .. } => eligible,
        }
    }

    /// A spend-and-save looks at the whole basket, after the line promotions.
    pub fn is_basket(&self) -> bool {
        matches!(self, Rule::SpendAndSave { .. })
    }
}

/// A promotion as stored: checked, with its defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "StoredPromotion")]
pub struct Promotion {
    pub id: PromotionId,
    pub name: String,
    pub scope: PriceScope,
    pub valid_from: DateTime<Utc>,
    /// Exclusive.
    pub valid_to: DateTime<Utc>,
    pub rule: Rule,
}

impl Promotion {
    /// In force for a sale in `store` at `at`: its scope reaches the store (by the store's
    /// current region, as for prices) and `at` is inside its window, to the second.
    pub fn in_force_for(&self, store: &Store, at: DateTime<Utc>) -> bool {
        self.scope.reaches(store) && self.valid_from <= at && at < self.valid_to
    }

    pub fn has_started(&self, now: DateTime<Utc>) -> bool {
        self.valid_from <= now
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    SpendAndSave,
    MultiBuy,
    PercentOff,
}

/// A rule as head office sends it, and as it is stored: every kind's members optional here,
/// checked by kind in [`RuleDraft::check`] (a member of another kind is refused).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RuleDraft {
    pub kind: RuleKind,
    #[serde(default)]
    pub threshold: Option<i64>,
    #[serde(default)]
    pub discount: Option<i64>,
    #[serde(default)]
    pub repeat: Option<bool>,
    #[serde(default)]
    pub buy: Option<i64>,
    #[serde(default)]
    pub free: Option<i64>,
    #[serde(default)]
    pub percent_bp: Option<i64>,
    #[serde(default)]
    pub skus: Option<Vec<String>>,
    #[serde(default)]
    pub categories: Option<Vec<String>>,
}

/// `PUT /promotions/{promotionId}`'s body.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PromotionDraft {
    pub name: String,
    pub scope: String,
    #[serde(default)]
    pub valid_from: Option<String>,
    /// Required; an `Option` so that its absence is said in the shop's words.
    #[serde(default)]
    pub valid_to: Option<String>,
    pub rule: RuleDraft,
}

fn rule_problem(detail: String) -> Invalid {
    Invalid::request(format!("rule: {detail}"))
}

fn required(kind: &str, name: &str, value: Option<i64>) -> Result<i64, Invalid> {
    value.ok_or_else(|| rule_problem(format!("a {kind} rule needs {name}")))
}

fn in_range(name: &str, value: i64, low: i64, high: i64) -> Result<i64, Invalid> {
    if (low..=high).contains(&value) {
        Ok(value)
    } else {
        Err(rule_problem(format!("{name} {value} must be between {low} and {high}")))
    }
}

impl RuleDraft {
    pub fn check(&self) -> Result<Rule, Invalid> {
        let members = [
            ("threshold", self.threshold.is_some()),
            ("discount", self.discount.is_some()),
            ("repeat", self.repeat.is_some()),
            ("buy", self.buy.is_some()),
            ("free", self.free.is_some()),
            ("percentBp", self.percent_bp.is_some()),
        ];
        let (kind, own): (&str, &[&str]) = match self.kind {
            RuleKind::SpendAndSave => ("spend_and_save", &["threshold", "discount", "repeat"]),
            RuleKind::MultiBuy => ("multi_buy", &["buy", "free"]),
            RuleKind::PercentOff => ("percent_off", &["percentBp"]),
        };
        if let Some((name, _)) = members.iter().find(|(name, present)| *present && !own.contains(name)) {
            return Err(rule_problem(format!("{name} is not a member of a {kind} rule")));
        }
        let eligible = Eligible { skus: checked_skus(self.skus.as_deref())?, categories: checked_categories(self.categories.as_deref())? };
        Ok(match self.kind {
            RuleKind::SpendAndSave => {
                let threshold = in_range("threshold", required(kind, "threshold", self.threshold)?, 1, Money::MAX)?;
                let discount = in_range("discount", required(kind, "discount", self.discount)?, 1, Money::MAX)?;
                if discount > threshold {
                    return Err(rule_problem(format!("discount {discount} must not exceed threshold {threshold}")));
                }
                Rule::SpendAndSave {
                    threshold: Money::from_minor_units(threshold),
                    discount: Money::from_minor_units(discount),
                    repeat: self.repeat.unwrap_or(false),
                    eligible,
                }
            }
            RuleKind::MultiBuy => {
                let buy = in_range("buy", required(kind, "buy", self.buy)?, 2, MAX_BUY)?;
                let free = in_range("free", required(kind, "free", self.free)?, 1, buy - 1)?;
                Rule::MultiBuy { buy, free, eligible }
            }
            RuleKind::PercentOff => {
                let percent_bp = in_range("percentBp", required(kind, "percentBp", self.percent_bp)?, 1, MAX_PERCENT_BP)?;
                Rule::PercentOff { percent_bp, eligible }
            }
        })
    }
}

fn checked_skus(raw: Option<&[String]>) -> Result<Option<Vec<Sku>>, Invalid> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.is_empty() || raw.len() > MAX_SKUS {
        return Err(rule_problem(format!("skus must list 1 to {MAX_SKUS} skus (leave it out for every line)")));
    }
    let mut skus = raw.iter().map(|s| Sku::parse(s).map_err(|e| rule_problem(format!("skus: {e}")))).collect::<Result<Vec<_>, _>>()?;
    skus.sort();
    skus.dedup();
    Ok(Some(skus))
}

fn checked_categories(raw: Option<&[String]>) -> Result<Option<Vec<String>>, Invalid> {
    let Some(raw) = raw else { return Ok(None) };
    if raw.is_empty() || raw.len() > MAX_CATEGORIES {
        return Err(rule_problem(format!("categories must list 1 to {MAX_CATEGORIES} categories (leave it out for every line)")));
    }
    let mut categories =
        raw.iter().map(|c| checked_text("rule: a category", c, MAX_CATEGORY)).collect::<Result<Vec<_>, _>>()?;
    categories.sort();
    categories.dedup();
    Ok(Some(categories))
}

impl PromotionDraft {
    /// The promotion this body means, its defaults filled in: `validFrom` is the stored one when
    /// an update leaves it out, else `now`. Only the body's own rules (400); what it names and
    /// its window are judged by [`check_scope`] and [`revise`].
    pub fn check(&self, id: PromotionId, stored: Option<&Promotion>, now: DateTime<Utc>) -> Result<Promotion, Invalid> {
        let name = checked_text("name", &self.name, MAX_NAME)?;
        let scope = PriceScope::parse(&self.scope)?;
        let valid_from = match &self.valid_from {
            Some(raw) => parse_instant(raw).map_err(|e| Invalid::request(format!("validFrom: {e}")))?,
            None => stored.map_or(now, |p| p.valid_from),
        };
        let valid_to = match &self.valid_to {
            Some(raw) => parse_instant(raw).map_err(|e| Invalid::request(format!("validTo: {e}")))?,
            None => return Err(Invalid::request("validTo is required: a promotion always ends")),
        };
        let rule = self.rule.check()?;
        Ok(Promotion { id, name, scope, valid_from, valid_to, rule })
    }
}

/// A promotion naming a store that does not exist is refused (`exists` says whether its store
/// does; regions are free names, as for prices).
pub fn check_scope(promotion: &Promotion, store_exists: bool) -> Result<(), CatalogRefusal> {
    match &promotion.scope {
        PriceScope::Store(s) if !store_exists => Err(CatalogRefusal::InvalidScope(format!("no store {s}"))),
        _ => Ok(()),
    }
}

/// What storing a promotion does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revision {
    Create(Promotion),
    Change(Promotion),
    /// The body means what is stored: nothing to write.
    Unchanged(Promotion),
}

/// Judges `wanted` against what is stored, in the contract's order: its window (422), then,
/// for a promotion that has started, the one change allowed: ending it earlier, not before
/// `now` (else 422 `invalid_window`); any other change is 409 `promotion_started`.
pub fn revise(stored: Option<&Promotion>, wanted: Promotion, now: DateTime<Utc>) -> Result<Revision, CatalogRefusal> {
    if wanted.valid_to <= wanted.valid_from {
        return Err(CatalogRefusal::InvalidWindow("validTo must be after validFrom".into()));
    }
    if wanted.valid_to - wanted.valid_from > MAX_WINDOW {
        return Err(CatalogRefusal::InvalidWindow(format!("a promotion runs at most {} days", MAX_WINDOW.num_days())));
    }
    let Some(stored) = stored else { return Ok(Revision::Create(wanted)) };
    if *stored == wanted {
        return Ok(Revision::Unchanged(wanted));
    }
    if !stored.has_started(now) {
        return Ok(Revision::Change(wanted));
    }
    if wanted.valid_to != stored.valid_to && (wanted.valid_to > stored.valid_to || wanted.valid_to < now) {
        return Err(CatalogRefusal::InvalidWindow(
            "a promotion that has started may only be ended earlier, and not before now".into(),
        ));
    }
    let same_but_its_end = Promotion { valid_to: stored.valid_to, ..wanted.clone() };
    if same_but_its_end != *stored {
        return Err(CatalogRefusal::PromotionStarted(format!(
            "promotion {} started at {}: it may only be ended earlier",
            stored.id,
            super::time::format_instant(&stored.valid_from)
        )));
    }
    Ok(Revision::Change(wanted))
}

// ------------------------------------------------------------------ on the wire and in storage

/// The promotion as the API shows it: every member of its rule's kind present (`null` when
/// absent, `repeat` as `false`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PromotionOut<'a> {
    promotion_id: &'a PromotionId,
    name: &'a str,
    scope: &'a PriceScope,
    #[serde(with = "instant")]
    valid_from: DateTime<Utc>,
    #[serde(with = "instant")]
    valid_to: DateTime<Utc>,
    rule: RuleOut<'a>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum RuleOut<'a> {
    SpendAndSave { threshold: Money, discount: Money, repeat: bool, skus: Option<&'a [Sku]>, categories: Option<&'a [String]> },
    MultiBuy { buy: i64, free: i64, skus: Option<&'a [Sku]>, categories: Option<&'a [String]> },
    PercentOff {
        #[serde(rename = "percentBp")]
        percent_bp: i64,
        skus: Option<&'a [Sku]>,
        categories: Option<&'a [String]>,
    },
}

impl Serialize for Promotion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Eligible { skus, categories } = self.rule.eligible();
        let (skus, categories) = (skus.as_deref(), categories.as_deref());
        let rule = match &self.rule {
            Rule::SpendAndSave { threshold, discount, repeat, .. } => {
                RuleOut::SpendAndSave { threshold: *threshold, discount: *discount, repeat: *repeat, skus, categories }
            }
            Rule::MultiBuy { buy, free, .. } => RuleOut::MultiBuy { buy: *buy, free: *free, skus, categories },
            Rule::PercentOff { percent_bp, .. } => RuleOut::PercentOff { percent_bp: *percent_bp, skus, categories },
        };
        PromotionOut {
            promotion_id: &self.id,
            name: &self.name,
            scope: &self.scope,
            valid_from: self.valid_from,
            valid_to: self.valid_to,
            rule,
        }
        .serialize(s)
    }
}

/// A promotion read back (what [`Promotion`] serializes to), rebuilt through the same checks
/// as a new one, so a damaged item is an error, never a promotion that breaks a rule.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct StoredPromotion {
    promotion_id: PromotionId,
    name: String,
    scope: String,
    valid_from: String,
    valid_to: String,
    rule: RuleDraft,
}

impl TryFrom<StoredPromotion> for Promotion {
    type Error = Invalid;

    fn try_from(p: StoredPromotion) -> Result<Self, Invalid> {
        let draft = PromotionDraft { name: p.name, scope: p.scope, valid_from: Some(p.valid_from), valid_to: Some(p.valid_to), rule: p.rule };
        draft.check(p.promotion_id, None, DateTime::<Utc>::MIN_UTC)
    }
}

// ------------------------------------------------------------------ how a sale applies them

/// A priced line as the promotions see it.
#[derive(Debug, Clone, Copy)]
pub struct PromotionLine<'a> {
    pub sku: &'a Sku,
    pub category: Option<&'a str>,
    pub unit_amount: Money,
    pub line_amount: Money,
    /// Units of an `each` line priced from the catalog; `None` for a weighed line or an
    /// embedded-price label, which never take part in a multi-buy.
    pub units: Option<i64>,
    /// An embedded-price label: counts toward spend-and-save only.
    pub embedded: bool,
}

/// A promotion that took something off a sale, as its receipt lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppliedPromotion {
    pub promotion_id: PromotionId,
    pub name: String,
    pub discount: Money,
}

/// What the promotions take off a basket: per line, and the promotions in the order they applied.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Discounts {
    pub lines: Vec<Money>,
    pub applied: Vec<AppliedPromotion>,
}

/// Applies the promotions in force (already filtered for the store and the moment) to priced
/// lines, as the contract says: line promotions greedily, the one taking most first (ties: the
/// smaller id), each line in at most one; then the best single spend-and-save on the amounts
/// left. Every discount is shared to the cent. The order of `in_force` does not matter.
pub fn apply_promotions(lines: &[PromotionLine<'_>], in_force: &[&Promotion]) -> Discounts {
    let mut discounts = Discounts { lines: vec![Money::ZERO; lines.len()], applied: Vec::new() };
    if in_force.is_empty() {
        return discounts;
    }
    let mut candidates: Vec<&Promotion> = in_force.to_vec();
    candidates.sort_by(|a, b| a.id.cmp(&b.id));
    // Per promotion, which lines its rule looks at (worked out once, in one allocation).
    let n = lines.len();
    let mut eligibility = Vec::with_capacity(candidates.len() * n);
    for p in &candidates {
        let rule = p.rule.eligible();
        eligibility.extend(lines.iter().map(|l| rule.takes(l.sku, l.category)));
    }
    let eligible = |at: usize, i: usize| eligibility[at * n + i];

    // 1. Line promotions, the one taking most first, on the lines still free.
    let mut claimed: Vec<bool> = lines.iter().map(|l| l.embedded).collect();
    let mut spent = vec![false; candidates.len()];
    /// A candidate's take: its place among the candidates, its discount, each line's share.
    type Take = (usize, i64, Vec<(usize, i64)>);
    loop {
        let mut best: Option<Take> = None;
        for (at, p) in candidates.iter().enumerate() {
            if spent[at] || p.rule.is_basket() {
                continue;
            }
            let free_lines = |i: usize| eligible(at, i) && !claimed[i];
            let Some((total, shares)) = line_discount(&p.rule, lines, free_lines) else { continue };
            // Candidates are in id order: a later one must take strictly more to win a tie.
            if best.as_ref().is_none_or(|(_, most, _)| total > *most) {
                best = Some((at, total, shares));
            }
        }
        let Some((at, total, shares)) = best else { break };
        spent[at] = true;
        for (i, share) in shares {
            claimed[i] = true;
            discounts.lines[i] += Money::from_minor_units(share);
        }
        discounts.applied.push(applied(candidates[at], total));
    }

    // 2. The best single spend-and-save, on what is left of each line.
    let left: Vec<i64> = lines.iter().zip(&discounts.lines).map(|(l, d)| (l.line_amount - *d).minor_units()).collect();
    let mut best: Option<(usize, i64)> = None;
    for (at, p) in candidates.iter().enumerate() {
        let Rule::SpendAndSave { threshold, discount, repeat, .. } = &p.rule else { continue };
        let base: i64 = (0..n).filter(|&i| eligible(at, i)).map(|i| left[i]).sum();
        let times = if *repeat { base / threshold.minor_units() } else { i64::from(base >= threshold.minor_units()) };
        let off = times * discount.minor_units();
        if off > 0 && best.is_none_or(|(_, most)| off > most) {
            best = Some((at, off));
        }
    }
    if let Some((at, off)) = best {
        let weights: Vec<i64> = (0..n).map(|i| if eligible(at, i) { left[i] } else { 0 }).collect();
        for (i, share) in share_out(off, &weights).into_iter().enumerate() {
            discounts.lines[i] += Money::from_minor_units(share);
        }
        discounts.applied.push(applied(candidates[at], off));
    }
    discounts
}

fn applied(p: &Promotion, discount: i64) -> AppliedPromotion {
    AppliedPromotion { promotion_id: p.id.clone(), name: p.name.clone(), discount: Money::from_minor_units(discount) }
}

/// A line promotion's discount on the lines `free` lets it use, and each line's share of it
/// (the lines that took part); `None` when it takes nothing.
fn line_discount(rule: &Rule, lines: &[PromotionLine<'_>], free: impl Fn(usize) -> bool) -> Option<(i64, Vec<(usize, i64)>)> {
    match rule {
        Rule::PercentOff { percent_bp, .. } => {
            let shares: Vec<(usize, i64)> = (0..lines.len())
                .filter(|&i| free(i))
                .map(|i| (i, percent_of(lines[i].line_amount, *percent_bp)))
                .filter(|(_, d)| *d > 0)
                .collect();
            let total: i64 = shares.iter().map(|(_, d)| d).sum();
            (total > 0).then_some((total, shares))
        }
        Rule::MultiBuy { buy, free: free_units, .. } => {
            // Most expensive first; equal prices, the earlier line first.
            let mut taking: Vec<(usize, i64)> =
                (0..lines.len()).filter(|&i| free(i)).filter_map(|i| lines[i].units.filter(|&u| u > 0).map(|u| (i, u))).collect();
            taking.sort_by(|(a, _), (b, _)| lines[*b].unit_amount.cmp(&lines[*a].unit_amount).then(a.cmp(b)));
            let units: i64 = taking.iter().map(|(_, u)| u).sum();
            let grouped = units / buy * buy;
            if grouped == 0 {
                return None;
            }
            // Of the first `x` units in that order, how many are free: the last `free` of each group.
            let free_before = |x: i64| x / buy * free_units + (x % buy - (buy - free_units)).max(0);
            let mut total = 0;
            let mut members = Vec::new();
            let mut at = 0;
            for (i, u) in taking {
                let (start, end) = (at.min(grouped), (at + u).min(grouped));
                if end > start {
                    total += (free_before(end) - free_before(start)) * lines[i].unit_amount.minor_units();
                    members.push(i);
                }
                at += u;
            }
            members.sort_unstable();
            let weights: Vec<i64> = members.iter().map(|&i| lines[i].line_amount.minor_units()).collect();
            let shares = members.into_iter().zip(share_out(total, &weights)).collect();
            (total > 0).then_some((total, shares))
        }
        Rule::SpendAndSave { .. } => None,
    }
}

/// `round(amount × bp / 10000)`, half away from zero.
fn percent_of(amount: Money, bp: i64) -> i64 {
    div_round_half_away(i128::from(amount.minor_units()) * i128::from(bp), 10_000) as i64
}

/// Shares `total` over `weights` in proportion, to the cent: each gets the floor of its exact
/// share, and the cents left go one each to the largest remainders (ties: the earlier first),
/// so the shares add up to exactly `total`. No share passes its weight when `total` does not
/// pass the weights' sum. All zeros when the weights are.
pub fn share_out(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|&w| i128::from(w)).sum();
    if sum <= 0 {
        return vec![0; weights.len()];
    }
    let mut shares = Vec::with_capacity(weights.len());
    let mut remainders = Vec::with_capacity(weights.len());
    // In 64 bits when every product fits (any basket: the same numbers, without 128-bit
    // division), else in 128.
    match i64::try_from(sum) {
        Ok(sum) if weights.iter().all(|&w| total.checked_mul(w).is_some()) => {
            for (i, &w) in weights.iter().enumerate() {
                let exact = total * w;
                shares.push(exact / sum);
                remainders.push((i128::from(exact % sum), i));
            }
        }
        _ => {
            for (i, &w) in weights.iter().enumerate() {
                let exact = i128::from(total) * i128::from(w);
                shares.push((exact / sum) as i64);
                remainders.push((exact % sum, i));
            }
        }
    }
    let left = usize::try_from(total - shares.iter().sum::<i64>()).unwrap_or(0).min(remainders.len());
    if left > 0 {
        // The `left` largest remainders (ties: the earlier first), in any order: only which
        // they are matters.
        let order = |(ra, ia): &(i128, usize), (rb, ib): &(i128, usize)| rb.cmp(ra).then(ia.cmp(ib));
        remainders.select_nth_unstable_by(left - 1, order);
        for &(_, i) in &remainders[..left] {
            shares[i] += 1;
        }
    }
    shares
}

#[cfg(test)]
mod tests;
