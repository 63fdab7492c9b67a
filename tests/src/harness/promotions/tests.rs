//! The harness's reading of "How a sale applies them" on baskets worked out by hand from the
//! contract's text.

use super::*;

fn promotion(id: &str, rule: Rule, skus: &[&str], categories: &[&str]) -> Promotion {
    let set = |v: &[&str]| (!v.is_empty()).then(|| v.iter().map(|s| (*s).to_owned()).collect());
    Promotion {
        id: id.into(),
        name: format!("{id} name"),
        valid_from: "2026-11-11T00:00:00Z".parse().unwrap(),
        valid_to: "2026-11-12T00:00:00Z".parse().unwrap(),
        rule,
        skus: set(skus),
        categories: set(categories),
    }
}

fn each(sku: &str, category: Option<&str>, quantity: i64, unit: i64, rate: i64) -> Line {
    Line {
        sku: sku.into(),
        category: category.map(Into::into),
        quantity: Some(quantity),
        unit_amount: unit,
        line_amount: unit * quantity,
        embedded: false,
        tax_rate_bp: rate,
    }
}

fn listed(a: &Applied) -> Vec<(&str, i64)> {
    a.promotions.iter().map(|(id, _, d)| (id.as_str(), *d)).collect()
}

#[test]
fn percent_off_rounds_each_line_half_away_from_zero() {
    let p = promotion("pct", Rule::PercentOff { percent_bp: 500 }, &[], &["dairy"]);
    let lines = [each("A", Some("dairy"), 1, 150, 900), each("B", None, 1, 150, 900), each("C", Some("dairy"), 2, 187, 1300)];
    let a = apply(&[&p], &lines);
    // 7.5 → 8, 18.7 → 19; tax on the net: 142 × 900 / 10900 = 11.72 → 12, 355 × 1300 / 11300 = 40.84 → 41.
    assert_eq!(a.lines, vec![(8, 142, 12), (0, 150, 12), (19, 355, 41)]);
    assert_eq!(listed(&a), [("pct", 27)]);
    assert_eq!((a.discount_total, a.total, a.tax_total), (27, 647, 65));
}

#[test]
fn a_multi_buy_frees_the_cheapest_of_each_full_group_and_shares_it_by_line_amount() {
    let p = promotion("multi", Rule::MultiBuy { buy: 3, free: 1 }, &["FLASH", "C1"], &[]);
    // 9900, 187, 187 make a group: 187 free, over 9900 and 374 (of 10274): 180.19 and 6.81,
    // the one cent left to the larger remainder.
    let lines = [each("FLASH", None, 1, 9900, 1300), each("C1", None, 2, 187, 1300), each("C2", None, 3, 150, 1300)];
    let a = apply(&[&p], &lines);
    assert_eq!(a.lines.iter().map(|l| (l.0, l.1)).collect::<Vec<_>>(), [(180, 9720), (7, 367), (0, 450)]);
    assert_eq!(listed(&a), [("multi", 187)]);
    // Two units only: no full group, nothing taken, nothing listed.
    let a = apply(&[&p], &[each("C1", None, 2, 187, 1300)]);
    assert_eq!((a.discount_total, a.promotions.len()), (0, 0));
    // Seven units: two groups (the seventh, cheapest, in none), each freeing its cheapest.
    let a = apply(&[&p], &[each("C1", None, 4, 200, 0), each("FLASH", None, 3, 300, 0)]);
    // Units 300 300 300 | 200 200 200 | 200: 300 and 200 free; 500 over 800 and 900.
    assert_eq!(listed(&a), [("multi", 500)]);
    assert_eq!(a.lines.iter().map(|l| l.0).collect::<Vec<_>>(), [235, 265]);
}

#[test]
fn line_promotions_apply_the_one_taking_most_first_each_line_in_one() {
    let multi = promotion("multi", Rule::MultiBuy { buy: 3, free: 1 }, &["D", "M"], &[]);
    let pct = promotion("pct", Rule::PercentOff { percent_bp: 500 }, &[], &["dairy"]);
    // The multi-buy takes 100, the percent-off 50 of D: the multi-buy claims D and M, and the
    // percent-off has nothing left to take from. 100 over 1000 and 200: 83.33 and 16.67.
    let lines = [each("D", Some("dairy"), 1, 1000, 0), each("M", None, 2, 100, 0)];
    let a = apply(&[&pct, &multi], &lines);
    assert_eq!(listed(&a), [("multi", 100)]);
    assert_eq!(a.lines.iter().map(|l| l.0).collect::<Vec<_>>(), [83, 17]);
    // D dearer: the percent-off takes 200 and claims it; the multi-buy's two units left make no group.
    let lines = [each("D", Some("dairy"), 1, 4000, 0), each("M", None, 2, 100, 0)];
    let a = apply(&[&multi, &pct], &lines);
    assert_eq!(listed(&a), [("pct", 200)]);
    // Both apply when they take from different lines, the larger first.
    let lines = [each("E", Some("dairy"), 1, 1000, 0), each("M", None, 3, 100, 0)];
    let a = apply(&[&pct, &multi], &lines);
    assert_eq!(listed(&a), [("multi", 100), ("pct", 50)]);
    // Equal takings: the smaller id first.
    let other = promotion("a-pct", Rule::PercentOff { percent_bp: 500 }, &["E"], &[]);
    let a = apply(&[&pct, &other], &[each("E", Some("dairy"), 1, 1000, 0)]);
    assert_eq!(listed(&a), [("a-pct", 50)]);
}

#[test]
fn the_best_spend_and_save_applies_alone_on_the_amounts_after_line_promotions() {
    let pct = promotion("pct", Rule::PercentOff { percent_bp: 500 }, &[], &["dairy"]);
    let every = promotion("spend", Rule::SpendAndSave { threshold: 2000, discount: 150, repeat: true }, &[], &[]);
    let once = promotion("once", Rule::SpendAndSave { threshold: 2000, discount: 200, repeat: false }, &[], &[]);
    let lines = [each("A", None, 1, 2500, 1300), each("D", Some("dairy"), 1, 1700, 900)];
    // After the 85 off D: 2500 + 1615 = 4115, twice 2000: 300 (beats 200), over 2500 and 1615:
    // 182.26 and 117.74.
    let a = apply(&[&once, &every, &pct], &lines);
    assert_eq!(listed(&a), [("pct", 85), ("spend", 300)]);
    // Tax on the net: 2318 × 1300 / 11300 = 266.67, 1497 × 900 / 10900 = 123.6.
    assert_eq!(a.lines, vec![(182, 2318, 267), (203, 1497, 124)]);
    assert_eq!((a.discount_total, a.total, a.tax_total), (385, 3815, 391));
    // Below the threshold after line promotions: nothing (2000 − 100 = 1900).
    let a = apply(&[&every, &pct], &[each("D", Some("dairy"), 1, 2000, 0)]);
    assert_eq!(listed(&a), [("pct", 100)]);
    // Only its eligible lines count and share.
    let some = promotion("some", Rule::SpendAndSave { threshold: 1000, discount: 100, repeat: false }, &["A"], &[]);
    let a = apply(&[&some], &[each("A", None, 1, 1000, 0), each("B", None, 1, 5000, 0)]);
    assert_eq!(a.lines.iter().map(|l| l.0).collect::<Vec<_>>(), [100, 0]);
    // Equal takings: the smaller id.
    let twin = promotion("a-spend", Rule::SpendAndSave { threshold: 2000, discount: 150, repeat: true }, &[], &[]);
    let a = apply(&[&every, &twin], &[each("A", None, 1, 2500, 0)]);
    assert_eq!(listed(&a), [("a-spend", 150)]);
}

#[test]
fn embedded_price_lines_share_a_spend_and_save_but_take_no_line_promotion() {
    let pct = promotion("pct", Rule::PercentOff { percent_bp: 1000 }, &[], &[]);
    let spend = promotion("spend", Rule::SpendAndSave { threshold: 1000, discount: 100, repeat: false }, &[], &[]);
    let embedded = Line { embedded: true, ..each("W", None, 1, 600, 0) };
    let a = apply(&[&pct, &spend], &[embedded, each("A", None, 1, 500, 0)]);
    // 10 % of A only: 50; then 600 + 450 = 1050 ≥ 1000: 100 over 600 and 450 (57.14, 42.86).
    assert_eq!(listed(&a), [("pct", 50), ("spend", 100)]);
    assert_eq!(a.lines.iter().map(|l| l.0).collect::<Vec<_>>(), [57, 93]);
}

#[test]
fn cents_left_go_to_the_largest_remainders_ties_to_the_earlier_line() {
    assert_eq!(share(1, &[Some(1), Some(1)]), [1, 0]);
    assert_eq!(share(2, &[Some(1), None, Some(1), Some(1)]), [1, 0, 1, 0]);
    assert_eq!(share(10, &[Some(1), Some(2)]), [3, 7]);
    assert_eq!(share(5, &[Some(0), Some(0)]), [0, 0]);
}

#[test]
fn a_stored_promotion_reads_back_as_put() {
    let p = promotion("h1-multi", Rule::MultiBuy { buy: 3, free: 1 }, &["B", "A"], &[]);
    let mut stored = p.body();
    stored["promotionId"] = json!("h1-multi");
    stored["rule"]["categories"] = Value::Null;
    assert_eq!(Promotion::from_stored(&stored), Ok(p.clone()));
    assert!(p.in_force(p.valid_from) && !p.in_force(p.valid_to) && !p.in_force(p.valid_from - chrono::Duration::seconds(1)));
}

#[test]
fn a_receipt_is_checked_against_the_promotions_in_force_at_its_occurred_at() {
    let items: HashMap<String, Item> = [
        Item { sku: "D".into(), price: 150, tax_rate_bp: 900, category: Some("dairy".into()) },
        Item { sku: "X".into(), price: 1000, tax_rate_bp: 1300, category: None },
    ]
    .into_iter()
    .map(|i| (i.sku.clone(), i))
    .collect();
    let pct = promotion("pct", Rule::PercentOff { percent_bp: 500 }, &[], &["dairy"]);
    let line = |sku: &str, q: i64, unit: i64, discount: i64, net: i64, tax: i64| {
        json!({"sku": sku, "quantity": q, "unitAmount": unit, "lineAmount": q * unit, "discountAmount": discount, "netAmount": net, "taxAmount": tax, "adjustmentId": "a"})
    };
    let receipt = |at: &str, lines: Vec<Value>, promotions: Value, discount: i64, total: i64, tax: i64| {
        json!({"occurredAt": at, "lines": lines, "promotions": promotions, "discountTotal": discount, "total": total, "taxTotal": tax})
    };
    // 8 off D (7.5), tax on 142 and 1000: 12 and 115.
    let right = receipt(
        "2026-11-11T10:00:00.250Z",
        vec![line("D", 1, 150, 8, 142, 12), line("X", 1, 1000, 0, 1000, 115)],
        json!([{"promotionId": "pct", "name": "pct name", "discount": 8}]),
        8,
        1142,
        127,
    );
    assert_eq!(check_receipt(&right, std::slice::from_ref(&pct), &items, &[]), Vec::<String>::new());
    // A cent short on the line (rounded half down), and the totals that follow from it.
    let mut wrong = right.clone();
    wrong["lines"][0] = line("D", 1, 150, 7, 143, 12);
    let found = check_receipt(&wrong, std::slice::from_ref(&pct), &items, &[]);
    assert!(found[0].contains("line 0 (D): discountAmount 7, not 8"), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("line 0 (D): netAmount 143, not 142")), "{found:?}");
    // The second before the promotion starts: nothing off, and a receipt that took 8 is wrong.
    let before = Promotion { valid_from: "2026-11-11T10:00:01Z".parse().unwrap(), ..pct.clone() };
    let found = check_receipt(&right, &[before], &items, &[]);
    assert!(found.iter().any(|f| f.starts_with("promotions [")), "{found:?}");
    assert!(found.iter().any(|f| f.starts_with("total 1142, not 1150")), "{found:?}");
    // A price the harness never set.
    let mut dear = right.clone();
    dear["lines"][1] = line("X", 1, 1100, 0, 1100, 127);
    assert_eq!(check_receipt(&dear, &[pct], &items, &[]), ["line 1 (X): unitAmount 1100, not its price 1000"]);
}
