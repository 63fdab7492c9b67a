//! Promotions checked by hand to the cent (满减 with and without repeat, buy 3 pay 2, percent
//! off a category, how they combine), the rules a stored promotion keeps, and properties that
//! hold for any basket and any set of promotions.

use super::*;
use crate::domain::ids::{RegionId, StoreId};
use chrono::TimeZone;
use proptest::prelude::*;
use serde_json::json;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 11, 12, 0, 0).unwrap()
}

fn sku(raw: &str) -> Sku {
    Sku::parse(raw).unwrap()
}

fn promotion(id: &str, rule: Rule) -> Promotion {
    Promotion {
        id: PromotionId::parse(id).unwrap(),
        name: format!("{id} name"),
        scope: PriceScope::Chain,
        valid_from: t0() - Duration::hours(1),
        valid_to: t0() + Duration::hours(1),
        rule,
    }
}

fn every() -> Eligible {
    Eligible::default()
}

fn skus(list: &[&str]) -> Eligible {
    Eligible { skus: Some(list.iter().map(|s| sku(s)).collect()), categories: None }
}

fn categories(list: &[&str]) -> Eligible {
    Eligible { skus: None, categories: Some(list.iter().map(|s| s.to_string()).collect()) }
}

fn money(n: i64) -> Money {
    Money::from_minor_units(n)
}

/// A basket line as the tests write it: (sku, category, unit amount, units or None for kg with
/// its amount, embedded).
#[derive(Debug)]
struct L {
    sku: Sku,
    category: Option<&'static str>,
    unit: i64,
    line: i64,
    units: Option<i64>,
    embedded: bool,
}

fn each(s: &str, category: Option<&'static str>, unit: i64, units: i64) -> L {
    L { sku: sku(s), category, unit, line: unit * units, units: Some(units), embedded: false }
}

fn weighed(s: &str, category: Option<&'static str>, per_kg: i64, amount: i64) -> L {
    L { sku: sku(s), category, unit: per_kg, line: amount, units: None, embedded: false }
}

fn label(s: &str, amount: i64) -> L {
    L { sku: sku(s), category: None, unit: amount, line: amount, units: None, embedded: true }
}

fn apply(lines: &[L], promotions: &[Promotion]) -> Discounts {
    let seen: Vec<PromotionLine<'_>> = lines
        .iter()
        .map(|l| PromotionLine {
            sku: &l.sku,
            category: l.category,
            unit_amount: money(l.unit),
            line_amount: money(l.line),
            units: l.units,
            embedded: l.embedded,
        })
        .collect();
    let refs: Vec<&Promotion> = promotions.iter().collect();
    apply_promotions(&seen, &refs)
}

fn cents(d: &Discounts) -> Vec<i64> {
    d.lines.iter().map(|m| m.minor_units()).collect()
}

fn applied(d: &Discounts) -> Vec<(&str, i64)> {
    d.applied.iter().map(|a| (a.promotion_id.as_str(), a.discount.minor_units())).collect()
}

fn spend(threshold: i64, discount: i64, repeat: bool, eligible: Eligible) -> Rule {
    Rule::SpendAndSave { threshold: money(threshold), discount: money(discount), repeat, eligible }
}

#[test]
fn every_full_300_takes_50_off_shared_by_amount_to_the_cent() {
    // 每满 300 减 50 on 710.00: twice, 100.00 off, shared 400 : 300 : 10 (remainder cents to
    // the largest remainders).
    let lines = [each("A", None, 20000, 2), each("B", None, 30000, 1), each("C", None, 1000, 1)];
    let d = apply(&lines, &[promotion("p-300-50", spend(30000, 5000, true, every()))]);
    assert_eq!(applied(&d), vec![("p-300-50", 10000)]);
    // 10000 × 40000/71000 = 5633.80, × 30000/71000 = 4225.35, × 1000/71000 = 140.85: floors
    // 5633 + 4225 + 140 = 9998, the two cents left to .85 and .80.
    assert_eq!(cents(&d), vec![5634, 4225, 141]);
    // Without repeat: once.
    let once = apply(&lines, &[promotion("p-once", spend(30000, 5000, false, every()))]);
    assert_eq!(once.applied[0].discount, money(5000));
    assert_eq!(cents(&once).iter().sum::<i64>(), 5000);
    // Below the threshold: nothing, and not listed.
    let short = apply(&[each("A", None, 29999, 1)], &[promotion("p", spend(30000, 5000, true, every()))]);
    assert_eq!((cents(&short), short.applied.len()), (vec![0], 0));
}

#[test]
fn buy_three_pay_two_frees_the_cheapest_of_each_full_group() {
    // Detergent: 3 × 25.90 and 2 × 19.90 = 5 units, one full group (25.90, 25.90, 25.90):
    // its cheapest unit (25.90) is free; the other two units are not in a full group.
    let lines = [each("DET-L", Some("detergent"), 2590, 3), each("DET-S", Some("detergent"), 1990, 2)];
    let d = apply(&lines, &[promotion("b3p2", Rule::MultiBuy { buy: 3, free: 1, eligible: categories(&["detergent"]) })]);
    assert_eq!(applied(&d), vec![("b3p2", 2590)]);
    // Only DET-L had a unit in a full group: it takes the whole discount.
    assert_eq!(cents(&d), vec![2590, 0]);
    // Six units: two groups, (25.90 × 3) and (19.90 × 3): free 25.90 and 19.90, shared over
    // both lines by their amounts: 4580 × 7770/13740 = 2590, × 5970/13740 = 1990.
    let lines = [each("DET-L", Some("detergent"), 2590, 3), each("DET-S", Some("detergent"), 1990, 3)];
    let d = apply(&lines, &[promotion("b3p2", Rule::MultiBuy { buy: 3, free: 1, eligible: categories(&["detergent"]) })]);
    assert_eq!(applied(&d), vec![("b3p2", 4580)]);
    assert_eq!(cents(&d), vec![2590, 1990]);
    // Four units of 10.00 and one of 1.00: one full group of the three dearest, one 10.00
    // free; the fourth 10.00 and the 1.00 are left over, so Y takes no part.
    let lines = [each("X", None, 1000, 4), each("Y", None, 100, 1)];
    let d = apply(&lines, &[promotion("b3p2", Rule::MultiBuy { buy: 3, free: 1, eligible: every() })]);
    assert_eq!((applied(&d), cents(&d)), (vec![("b3p2", 1000)], vec![1000, 0]));
    // Weighed lines and embedded-price labels never take part.
    let d = apply(&[weighed("APPLE", None, 1000, 3000), label("CAKE", 500), label("CAKE", 500), label("CAKE", 500)], &[promotion(
        "b3p2",
        Rule::MultiBuy { buy: 3, free: 1, eligible: every() },
    )]);
    assert!(d.applied.is_empty());
}

#[test]
fn percent_off_rounds_each_line_and_skips_other_categories() {
    let lines = [each("MILK", Some("dairy"), 1299, 1), each("YOG", Some("dairy"), 333, 3), each("BREAD", Some("bakery"), 800, 1)];
    let d = apply(&lines, &[promotion("dairy-20", Rule::PercentOff { percent_bp: 2000, eligible: categories(&["dairy"]) })]);
    // 1299 × 20 % = 259.8 → 260; 999 × 20 % = 199.8 → 200.
    assert_eq!(cents(&d), vec![260, 200, 0]);
    assert_eq!(applied(&d), vec![("dairy-20", 460)]);
}

#[test]
fn line_promotions_go_greedily_then_the_best_spend_and_save_on_what_is_left() {
    let lines = [
        each("DET", Some("detergent"), 3000, 3),
        each("MILK", Some("dairy"), 1000, 2),
        label("CAKE", 2500),
        weighed("BEEF", Some("meat"), 9000, 13500),
    ];
    let promotions = [
        // 10 % off everything would take 900 + 200 + 1350 = 2450 (never the label); buy 3 pay
        // 2 on detergent takes 3000. The multi-buy goes first and claims DET; the percent-off
        // is worked out again on what is left: 200 + 1350 = 1550.
        promotion("all-10", Rule::PercentOff { percent_bp: 1000, eligible: every() }),
        promotion("det-b3p2", Rule::MultiBuy { buy: 3, free: 1, eligible: skus(&["DET"]) }),
        // After step 1: 6000 + 1800 + 2500 + 12150 = 22450. 满 200 减 30 (repeat: once, 30.00)
        // against 满 100 减 12 with repeat (twice, 24.00): the first takes more.
        promotion("s-200-30", spend(20000, 3000, true, every())),
        promotion("s-100-12", spend(10000, 1200, true, every())),
    ];
    let d = apply(&lines, &promotions);
    assert_eq!(applied(&d), vec![("det-b3p2", 3000), ("all-10", 1550), ("s-200-30", 3000)]);
    // 3000 over 6000 : 1800 : 2500 : 12150 = 801.78, 240.53, 334.08, 1623.61 → floors 801,
    // 240, 334, 1623 (2998), the two cents to .78 and .61.
    assert_eq!(cents(&d), vec![3000 + 802, 200 + 240, 334, 1350 + 1624]);
    // Listed in any order, the same.
    let mut shuffled = promotions.clone();
    shuffled.reverse();
    assert_eq!(apply(&lines, &shuffled), d);
}

#[test]
fn ties_go_to_the_smaller_promotion_id() {
    let lines = [each("A", None, 1000, 1)];
    let d = apply(&lines, &[
        promotion("b", Rule::PercentOff { percent_bp: 1000, eligible: every() }),
        promotion("a", Rule::PercentOff { percent_bp: 1000, eligible: every() }),
    ]);
    assert_eq!(applied(&d), vec![("a", 100)]);
    let d = apply(&lines, &[promotion("y", spend(500, 100, false, every())), promotion("x", spend(1000, 100, false, every()))]);
    assert_eq!(applied(&d), vec![("x", 100)]);
}

#[test]
fn shares_add_up_exactly_and_never_pass_a_weight() {
    assert_eq!(share_out(100, &[1, 1, 1]), vec![34, 33, 33]);
    assert_eq!(share_out(2, &[1, 1, 1]), vec![1, 1, 0]);
    assert_eq!(share_out(0, &[5, 0]), vec![0, 0]);
    assert_eq!(share_out(7, &[0, 0]), vec![0, 0]);
    assert_eq!(share_out(10, &[10, 0, 0]), vec![10, 0, 0]);
}

// ------------------------------------------------------------------ storing a promotion

fn draft(body: serde_json::Value) -> PromotionDraft {
    serde_json::from_value(body).unwrap()
}

fn check(body: serde_json::Value) -> Result<Promotion, Invalid> {
    draft(body).check(PromotionId::parse("p1").unwrap(), None, t0())
}

fn body(rule: serde_json::Value) -> serde_json::Value {
    json!({"name": "Double 11", "scope": "chain", "validFrom": "2026-11-11T00:00:00+08:00", "validTo": "2026-11-12T00:00:00+08:00", "rule": rule})
}

#[test]
fn rules_are_checked_by_kind_and_shown_with_every_member_of_their_kind() {
    let p = check(body(json!({"kind": "spend_and_save", "threshold": 30000, "discount": 5000}))).unwrap();
    assert_eq!(
        serde_json::to_value(&p).unwrap(),
        json!({"promotionId": "p1", "name": "Double 11", "scope": "chain", "validFrom": "2026-11-10T16:00:00Z", "validTo": "2026-11-11T16:00:00Z",
               "rule": {"kind": "spend_and_save", "threshold": 30000, "discount": 5000, "repeat": false, "skus": null, "categories": null}})
    );
    let p = check(body(json!({"kind": "multi_buy", "buy": 3, "free": 1, "skus": ["DET-2", "DET-1", "DET-2"]}))).unwrap();
    assert_eq!(
        serde_json::to_value(&p).unwrap()["rule"],
        json!({"kind": "multi_buy", "buy": 3, "free": 1, "skus": ["DET-1", "DET-2"], "categories": null})
    );
    let p = check(body(json!({"kind": "percent_off", "percentBp": 2000, "categories": ["dairy"]}))).unwrap();
    assert_eq!(serde_json::to_value(&p).unwrap()["rule"], json!({"kind": "percent_off", "percentBp": 2000, "skus": null, "categories": ["dairy"]}));
    // What it serializes to reads back as the same promotion (how it is stored).
    assert_eq!(serde_json::from_value::<Promotion>(serde_json::to_value(&p).unwrap()).unwrap(), p);
    for bad in [
        json!({"kind": "spend_and_save", "threshold": 100, "discount": 101}),
        json!({"kind": "spend_and_save", "threshold": 0, "discount": 0}),
        json!({"kind": "spend_and_save", "threshold": 1_000_000_001_i64, "discount": 1}),
        json!({"kind": "spend_and_save", "discount": 1}),
        json!({"kind": "spend_and_save", "threshold": 100, "discount": 10, "buy": 3}),
        json!({"kind": "multi_buy", "buy": 3, "free": 3}),
        json!({"kind": "multi_buy", "buy": 101, "free": 1}),
        json!({"kind": "multi_buy", "buy": 3, "free": 0}),
        json!({"kind": "multi_buy", "buy": 3, "free": 1, "repeat": false}),
        json!({"kind": "percent_off", "percentBp": 9001}),
        json!({"kind": "percent_off", "percentBp": 0}),
        json!({"kind": "percent_off", "percentBp": 100, "threshold": 5}),
        json!({"kind": "percent_off", "percentBp": 100, "skus": []}),
        json!({"kind": "percent_off", "percentBp": 100, "categories": []}),
        json!({"kind": "percent_off", "percentBp": 100, "skus": ["no sku"]}),
        json!({"kind": "percent_off", "percentBp": 100, "categories": [" "]}),
    ] {
        assert!(check(body(bad.clone())).is_err(), "{bad}");
    }
    assert!(serde_json::from_value::<PromotionDraft>(body(json!({"kind": "free_lunch"}))).is_err());
    assert!(serde_json::from_value::<PromotionDraft>(body(json!({"kind": "percent_off", "percentBp": 1, "colour": 1}))).is_err());
    let mut no_end = body(json!({"kind": "percent_off", "percentBp": 100}));
    no_end.as_object_mut().unwrap().remove("validTo");
    assert!(check(no_end.clone()).unwrap_err().to_string().contains("validTo"));
    // validFrom defaults to now when created, to the stored one when updated.
    no_end["validTo"] = json!("2026-11-12T00:00:00Z");
    no_end.as_object_mut().unwrap().remove("validFrom");
    let created = check(no_end.clone()).unwrap();
    assert_eq!(created.valid_from, t0());
    let stored = Promotion { valid_from: t0() - Duration::days(2), ..created.clone() };
    let updated = draft(no_end).check(created.id.clone(), Some(&stored), t0()).unwrap();
    assert_eq!(updated.valid_from, stored.valid_from);
}

#[test]
fn a_window_is_at_most_90_days_and_a_started_promotion_may_only_end_earlier() {
    let base = promotion("p", Rule::PercentOff { percent_bp: 1000, eligible: every() });
    let window = |from: DateTime<Utc>, to: DateTime<Utc>| Promotion { valid_from: from, valid_to: to, ..base.clone() };
    let now = t0();
    assert!(matches!(revise(None, window(now, now), now), Err(CatalogRefusal::InvalidWindow(_))));
    assert!(matches!(revise(None, window(now, now + Duration::days(90)), now), Ok(Revision::Create(_))));
    assert!(matches!(revise(None, window(now, now + Duration::days(90) + Duration::seconds(1)), now), Err(CatalogRefusal::InvalidWindow(_))));
    // Recorded after the fact, for offline sales still to come: allowed.
    assert!(matches!(revise(None, window(now - Duration::days(3), now - Duration::days(2)), now), Ok(Revision::Create(_))));

    let started = window(now - Duration::hours(1), now + Duration::hours(5));
    assert_eq!(revise(Some(&started), started.clone(), now), Ok(Revision::Unchanged(started.clone())));
    let earlier = window(started.valid_from, now + Duration::hours(1));
    assert_eq!(revise(Some(&started), earlier.clone(), now), Ok(Revision::Change(earlier)));
    assert!(matches!(revise(Some(&started), window(started.valid_from, now), now), Ok(Revision::Change(_))));
    for bad_end in [now - Duration::seconds(1), now + Duration::hours(6)] {
        assert!(matches!(revise(Some(&started), window(started.valid_from, bad_end), now), Err(CatalogRefusal::InvalidWindow(_))));
    }
    let renamed = Promotion { name: "other".into(), ..started.clone() };
    assert!(matches!(revise(Some(&started), renamed, now), Err(CatalogRefusal::PromotionStarted(_))));
    let deeper = Promotion { rule: Rule::PercentOff { percent_bp: 2000, eligible: every() }, ..started.clone() };
    assert!(matches!(revise(Some(&started), deeper, now), Err(CatalogRefusal::PromotionStarted(_))));
    let moved = window(started.valid_from - Duration::hours(1), started.valid_to);
    assert!(matches!(revise(Some(&started), moved, now), Err(CatalogRefusal::PromotionStarted(_))));
    // Not started yet: anything goes.
    let later = window(now + Duration::hours(1), now + Duration::hours(2));
    let renamed = Promotion { name: "other".into(), ..later.clone() };
    assert!(matches!(revise(Some(&later), renamed, now), Ok(Revision::Change(_))));
}

#[test]
fn a_promotion_reaches_stores_by_scope_and_applies_to_the_second() {
    let east = Store::new(StoreId::parse("S001").unwrap(), "Binjiang", RegionId::parse("EAST").unwrap(), None).unwrap();
    let p = Promotion { scope: PriceScope::Region(RegionId::parse("EAST").unwrap()), ..promotion("p", Rule::PercentOff { percent_bp: 1, eligible: every() }) };
    assert!(!p.in_force_for(&east, p.valid_from - Duration::seconds(1)));
    assert!(p.in_force_for(&east, p.valid_from));
    assert!(p.in_force_for(&east, p.valid_to - Duration::nanoseconds(1)));
    assert!(!p.in_force_for(&east, p.valid_to));
    let west = Store::new(StoreId::parse("S002").unwrap(), "Chengdu", RegionId::parse("WEST").unwrap(), None).unwrap();
    assert!(!p.in_force_for(&west, p.valid_from));
}

// ------------------------------------------------------------------ properties

fn arb_eligible() -> impl Strategy<Value = Eligible> {
    prop_oneof![
        Just(every()),
        proptest::sample::subsequence(vec!["A", "B", "C", "D", "E"], 1..=3).prop_map(|s| skus(&s)),
        proptest::sample::subsequence(vec!["x", "y"], 1..=2).prop_map(|c| categories(&c)),
    ]
}

fn arb_rule() -> impl Strategy<Value = Rule> {
    prop_oneof![
        (1..50_000i64, 1..=10_000i64, any::<bool>(), arb_eligible()).prop_map(|(t, d, repeat, e)| spend(t.max(d), d.min(t), repeat, e)),
        (2..=6i64, arb_eligible()).prop_flat_map(|(buy, e)| (Just(buy), 1..buy, Just(e)))
            .prop_map(|(buy, free, eligible)| Rule::MultiBuy { buy, free, eligible }),
        (1..=MAX_PERCENT_BP, arb_eligible()).prop_map(|(percent_bp, eligible)| Rule::PercentOff { percent_bp, eligible }),
    ]
}

fn arb_promotions() -> impl Strategy<Value = Vec<Promotion>> {
    proptest::collection::vec(arb_rule(), 0..6)
        .prop_map(|rules| rules.into_iter().enumerate().map(|(i, r)| promotion(&format!("p{i}"), r)).collect())
}

fn arb_lines() -> impl Strategy<Value = Vec<L>> {
    let sku = proptest::sample::select(vec!["A", "B", "C", "D", "E"]);
    let category = proptest::sample::select(vec![None, Some("x"), Some("y")]);
    proptest::collection::vec(
        (sku, category, 1..100_000i64, 1..20i64, 0..4u8).prop_map(|(s, c, unit, n, kind)| match kind {
            0 => weighed(s, c, unit, unit * n / 7 + 1),
            1 => label(s, unit),
            _ => each(s, c, unit, n),
        }),
        1..12,
    )
}

proptest! {
    #[test]
    fn discounts_add_up_never_pass_a_line_and_do_not_depend_on_order(
        lines in arb_lines(),
        promotions in arb_promotions(),
        seed in any::<u64>(),
    ) {
        let d = apply(&lines, &promotions);
        // No line below zero.
        for (l, off) in lines.iter().zip(&d.lines) {
            prop_assert!(off.minor_units() >= 0 && off.minor_units() <= l.line, "{} off a line of {}", off.minor_units(), l.line);
        }
        // Each promotion's shares add up to its discount: in all, the lines' discounts to the
        // promotions'; and none is listed that took nothing, none twice, at most one basket one.
        let listed: i64 = d.applied.iter().map(|a| a.discount.minor_units()).sum();
        prop_assert_eq!(cents(&d).iter().sum::<i64>(), listed);
        prop_assert!(d.applied.iter().all(|a| a.discount.minor_units() > 0));
        let mut ids: Vec<&str> = d.applied.iter().map(|a| a.promotion_id.as_str()).collect();
        ids.sort_unstable();
        ids.dedup();
        prop_assert_eq!(ids.len(), d.applied.len());
        let baskets = d.applied.iter().filter(|a| promotions.iter().any(|p| p.id == a.promotion_id && p.rule.is_basket())).count();
        prop_assert!(baskets <= 1);
        // The same whatever order the promotions are listed in.
        let mut shuffled = promotions.clone();
        let n = shuffled.len().max(1);
        shuffled.rotate_left((seed as usize) % n);
        if seed % 2 == 1 { shuffled.reverse(); }
        prop_assert_eq!(apply(&lines, &shuffled), d);
    }

    #[test]
    fn one_promotion_shares_exactly_its_discount(lines in arb_lines(), rule in arb_rule()) {
        let d = apply(&lines, &[promotion("only", rule)]);
        let listed: i64 = d.applied.iter().map(|a| a.discount.minor_units()).sum();
        prop_assert_eq!(cents(&d).iter().sum::<i64>(), listed);
    }

    #[test]
    fn share_out_is_exact(total in 0..1_000_000i64, weights in proptest::collection::vec(0..1_000_000i64, 1..20)) {
        let sum: i64 = weights.iter().sum();
        let total = if sum == 0 { 0 } else { total.min(sum) };
        let shares = share_out(total, &weights);
        prop_assert_eq!(shares.iter().sum::<i64>(), total);
        for (s, w) in shares.iter().zip(&weights) {
            prop_assert!(*s >= 0 && s <= w);
        }
    }
}

// ------------------------------------------------------------------ against the first version

/// `apply_promotions` and `share_out` as first written (128-bit arithmetic throughout, a full
/// sort of the remainders, one vector per promotion's eligibility): the faster ones must give
/// exactly the same discounts.
#[allow(clippy::type_complexity)]
mod reference {
    use super::super::{AppliedPromotion, Discounts, Promotion, PromotionLine, Rule};
    use crate::domain::money::Money;

    fn reference_div_round_half_away(numerator: i128, denominator: i128) -> i128 {
        let q = numerator / denominator;
        let r = numerator % denominator;
        if 2 * r.abs() >= denominator { q + numerator.signum() } else { q }
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
        // Per promotion, which lines its rule looks at (worked out once).
        let eligible: Vec<Vec<bool>> = candidates
            .iter()
            .map(|p| lines.iter().map(|l| p.rule.eligible().takes(l.sku, l.category)).collect())
            .collect();

        // 1. Line promotions, the one taking most first, on the lines still free.
        let mut claimed: Vec<bool> = lines.iter().map(|l| l.embedded).collect();
        let mut spent = vec![false; candidates.len()];
        loop {
            let mut best: Option<(usize, i64, Vec<(usize, i64)>)> = None;
            for (at, p) in candidates.iter().enumerate() {
                if spent[at] || p.rule.is_basket() {
                    continue;
                }
                let free_lines = |i: usize| eligible[at][i] && !claimed[i];
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
            let base: i64 = (0..lines.len()).filter(|&i| eligible[at][i]).map(|i| left[i]).sum();
            let times = if *repeat { base / threshold.minor_units() } else { i64::from(base >= threshold.minor_units()) };
            let off = times * discount.minor_units();
            if off > 0 && best.is_none_or(|(_, most)| off > most) {
                best = Some((at, off));
            }
        }
        if let Some((at, off)) = best {
            let weights: Vec<i64> = (0..lines.len()).map(|i| if eligible[at][i] { left[i] } else { 0 }).collect();
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
        reference_div_round_half_away(i128::from(amount.minor_units()) * i128::from(bp), 10_000) as i64
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
        for (i, &w) in weights.iter().enumerate() {
            let exact = i128::from(total) * i128::from(w);
            shares.push((exact / sum) as i64);
            remainders.push((exact % sum, i));
        }
        let left = total - shares.iter().sum::<i64>();
        remainders.sort_by(|(ra, ia), (rb, ib)| rb.cmp(ra).then(ia.cmp(ib)));
        for &(_, i) in remainders.iter().take(usize::try_from(left).unwrap_or(0)) {
            shares[i] += 1;
        }
        shares
    }
}

proptest! {
    #[test]
    fn discounts_are_those_of_the_first_version(lines in arb_lines(), promotions in arb_promotions()) {
        let seen: Vec<PromotionLine<'_>> = lines
            .iter()
            .map(|l| PromotionLine { sku: &l.sku, category: l.category, unit_amount: money(l.unit), line_amount: money(l.line), units: l.units, embedded: l.embedded })
            .collect();
        let refs: Vec<&Promotion> = promotions.iter().collect();
        prop_assert_eq!(apply_promotions(&seen, &refs), reference::apply_promotions(&seen, &refs));
    }

    #[test]
    fn shares_are_those_of_the_first_version(
        total in prop_oneof![0..1_000_000i64, 0..=i64::MAX],
        // Amounts of baskets, and weights whose products or sum pass 64 bits.
        weights in prop_oneof![
            proptest::collection::vec(0..1_000_000i64, 0..40),
            proptest::collection::vec(prop_oneof![0..3i64, 0..=i64::MAX, (i64::MAX / 4)..=i64::MAX], 0..6),
        ],
    ) {
        prop_assert_eq!(share_out(total, &weights), reference::share_out(total, &weights));
    }
}
