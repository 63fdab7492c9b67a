//! The rules of a return: what may come back, what it refunds, to which tenders.

use super::*;
use crate::domain::RegionId;
use crate::domain::sale::{Receipt, SaleRecord};
use chrono::{Duration, TimeZone};
use proptest::prelude::*;

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 4, 0, 0).unwrap()
}

fn store(id: &str) -> Store {
    Store::new(StoreId::parse(id).unwrap(), "Binjiang", RegionId::parse("EAST").unwrap(), None).unwrap()
}

fn line(sku: &str, quantity: Option<i64>, grams: Option<i64>, amount: i64, tax: i64) -> ReceiptLine {
    ReceiptLine {
        sku: Sku::parse(sku).unwrap(),
        name: Arc::from(sku),
        quantity,
        weight_grams: grams,
        unit_amount: Money::from_minor_units(amount),
        line_amount: Money::from_minor_units(amount),
        discount_amount: Money::ZERO,
        net_amount: Money::from_minor_units(amount),
        tax_amount: Money::from_minor_units(tax),
        adjustment_id: Some("a".into()),
    }
}

fn sale(lines: Vec<ReceiptLine>, payments: Vec<Payment>) -> SaleReturns {
    let total: Money = lines.iter().map(|l| l.line_amount).sum();
    let paid: Money = payments.iter().map(|p| p.amount).sum();
    let receipt = Receipt {
        sale_id: SaleId::generate(),
        receipt_no: "T01-000001".into(),
        store_id: StoreId::parse("S001").unwrap(),
        terminal_id: TerminalId::parse("T01").unwrap(),
        business_day: NaiveDate::from_ymd_opt(2026, 11, 11).unwrap(),
        occurred_at: now() - Duration::days(9),
        created_at: now() - Duration::days(9),
        tax_total: lines.iter().map(|l| l.tax_amount).sum(),
        lines,
        promotions: vec![],
        discount_total: Money::ZERO,
        payments,
        total,
        paid,
        change: paid - total,
        currency: CURRENCY.into(),
    };
    SaleReturns { sale: Arc::new(SaleRecord { receipt, local_hour: 20, stock_shards: vec![], stream_takes: vec![] }), returned: Returned::default(), returns: vec![] }
}

fn pay(method: PaymentMethod, amount: i64) -> Payment {
    Payment { method, amount: Money::from_minor_units(amount) }
}

fn draft(lines: &[(usize, Option<i64>, Option<i64>)]) -> ReturnDraft {
    ReturnDraft {
        terminal_id: TerminalId::parse("T09").unwrap(),
        sale: SaleRef { store_id: StoreId::parse("S001").unwrap(), sale_id: SaleId::generate() },
        lines: lines.iter().map(|&(line, quantity, weight_grams)| ReturnLineDraft { line, quantity, weight_grams }).collect(),
        reason: ReturnReason::Unwanted,
        restock: None,
        refunds: None,
    }
}

/// Plans and applies `d` to `found` as a commit would.
fn take(found: &mut SaleReturns, d: &ReturnDraft) -> Result<ReturnPlan, ReturnRefusal> {
    let plan = plan_return(d, found, &store("S002"), now())?;
    found.returned = plan.returned_after.clone();
    Ok(plan)
}

#[test]
fn three_units_come_back_one_at_a_time_and_refund_the_line_exactly() {
    // 3 × 12.50 at 13 %: tax round(3750 × 1300 / 11300) = 431.
    let mut found = sale(vec![line("MILK", Some(3), None, 3750, 431)], vec![pay(PaymentMethod::Cash, 5000)]);
    let one = draft(&[(0, Some(1), None)]);
    let steps: Vec<(i64, i64)> = (0..3)
        .map(|_| take(&mut found, &one).map(|p| (p.total.minor_units(), p.tax_total.minor_units())).unwrap())
        .collect();
    assert_eq!(steps, [(1250, 144), (1250, 143), (1250, 144)]);
    let fourth = take(&mut found, &one).unwrap_err();
    assert_eq!(fourth, ReturnRefusal::ExceedsSale(vec![Exceeded { line: 0, requested: 1, returnable: 0 }]));
    // Cash paid 5000 with 1250 change: 3750 net, all refunded in cash.
    assert_eq!(found.returned.refunded, ByMethod { cash: Money::from_minor_units(3750), ..ByMethod::default() });
    assert_eq!(refundable_by_method(&found.sale, &found.returned), ByMethod::default());
}

#[test]
fn a_weighed_line_without_weight_returns_what_is_left() {
    let mut found = sale(vec![line("APPLE", None, Some(1500), 1797, 148)], vec![pay(PaymentMethod::Card, 1797)]);
    let part = take(&mut found, &draft(&[(0, None, Some(500))])).unwrap();
    assert_eq!(part.total.minor_units(), 599);
    let rest = take(&mut found, &draft(&[(0, None, None)])).unwrap();
    assert_eq!((rest.lines[0].weight_grams, rest.total.minor_units()), (Some(1000), 1198));
    assert_eq!(rest.refunds, vec![pay(PaymentMethod::Card, 1198)]);
    // Nothing left: asking for "the rest" asks for nothing, which is more than there is.
    let none = take(&mut found, &draft(&[(0, None, None)])).unwrap_err();
    assert_eq!(none, ReturnRefusal::ExceedsSale(vec![Exceeded { line: 0, requested: 0, returnable: 0 }]));
}

#[test]
fn a_request_line_must_fit_its_sale_line() {
    let found = sale(vec![line("MILK", Some(3), None, 3750, 431), line("APPLE", None, Some(500), 599, 49)], vec![]);
    let refused = |d: ReturnDraft| plan_return(&d, &found, &store("S001"), now()).unwrap_err();
    assert!(matches!(refused(draft(&[(2, None, None)])), ReturnRefusal::AtLine { line: 0, .. }));
    assert!(matches!(refused(draft(&[(0, Some(1), None), (0, None, Some(5))])), ReturnRefusal::AtLine { line: 1, .. }));
    assert!(matches!(refused(draft(&[(1, Some(1), None)])), ReturnRefusal::AtLine { line: 0, .. }));
    for r in [refused(draft(&[(2, None, None)])), refused(draft(&[(1, Some(1), None)]))] {
        let ReturnRefusal::AtLine { refusal, .. } = r else { unreachable!() };
        assert!(matches!(*refusal, ReturnRefusal::Invalid(_)));
    }
}

#[test]
fn the_window_closes_thirty_days_after_the_sales_business_day_in_the_returning_store() {
    let found = sale(vec![line("MILK", Some(1), None, 1250, 144)], vec![pay(PaymentMethod::Cash, 1250)]);
    let s = store("S002");
    // Asia/Shanghai: 2026-12-11 is the last day; it ends at 16:00 UTC.
    let last = Utc.with_ymd_and_hms(2026, 12, 11, 15, 59, 59).unwrap();
    assert!(plan_return(&draft(&[(0, None, None)]), &found, &s, last).is_ok());
    let late = plan_return(&draft(&[(0, None, None)]), &found, &s, last + Duration::seconds(1)).unwrap_err();
    assert!(matches!(late, ReturnRefusal::WindowClosed(_)), "{late:?}");
    assert_eq!(returnable_until(found.sale.receipt.business_day), NaiveDate::from_ymd_opt(2026, 12, 11).unwrap());
}

#[test]
fn an_embedded_price_label_comes_back_whole_or_not_at_all() {
    let mut label = line("CHEESE", Some(1), None, 2380, 274);
    label.adjustment_id = None;
    let mut weighed = line("HAM", None, Some(350), 1400, 161);
    weighed.adjustment_id = None;
    let found = sale(vec![label, weighed], vec![pay(PaymentMethod::Cash, 3780)]);
    let s = store("S001");
    assert!(plan_return(&draft(&[(0, None, None), (1, None, None)]), &found, &s, now()).is_ok());
    let part = plan_return(&draft(&[(1, None, Some(100))]), &found, &s, now()).unwrap_err();
    assert!(matches!(&part, ReturnRefusal::AtLine { line: 0, refusal } if matches!(**refusal, ReturnRefusal::NotReturnable(_))), "{part:?}");
}

#[test]
fn explicit_refunds_must_add_up_and_no_card_or_mobile_refund_passes_what_it_paid() {
    let found = sale(
        vec![line("MILK", Some(2), None, 2500, 288)],
        vec![pay(PaymentMethod::Card, 1000), pay(PaymentMethod::Cash, 2000)],
    );
    let s = store("S001");
    let with = |refunds: Vec<Payment>| {
        let mut d = draft(&[(0, Some(2), None)]);
        d.refunds = Some(refunds);
        plan_return(&d, &found, &s, now())
    };
    assert!(matches!(with(vec![pay(PaymentMethod::Cash, 2499)]), Err(ReturnRefusal::RefundMismatch(_))));
    assert!(matches!(with(vec![pay(PaymentMethod::Card, 1001), pay(PaymentMethod::Cash, 1499)]), Err(ReturnRefusal::RefundMismatch(_))));
    assert!(matches!(with(vec![pay(PaymentMethod::Mobile, 1)]), Err(ReturnRefusal::RefundMismatch(_))));
    // Cash may take it all: the store's choice at the desk.
    assert_eq!(with(vec![pay(PaymentMethod::Cash, 2500)]).unwrap().refunds, vec![pay(PaymentMethod::Cash, 2500)]);
    // Default: card first (1000), the rest in cash, not the cash handed over as change.
    let plan = plan_return(&draft(&[(0, Some(2), None)]), &found, &s, now()).unwrap();
    assert_eq!(plan.refunds, vec![pay(PaymentMethod::Card, 1000), pay(PaymentMethod::Cash, 1500)]);
}

#[test]
fn more_than_is_left_is_refused_before_a_refund_that_does_not_add_up() {
    let found = sale(vec![line("MILK", Some(2), None, 2500, 288)], vec![pay(PaymentMethod::Cash, 2500)]);
    let mut d = draft(&[(0, Some(3), None)]);
    d.refunds = Some(vec![pay(PaymentMethod::Cash, 1)]);
    let refused = plan_return(&d, &found, &store("S001"), now()).unwrap_err();
    assert_eq!(refused, ReturnRefusal::ExceedsSale(vec![Exceeded { line: 0, requested: 3, returnable: 2 }]));
}

#[test]
fn restock_follows_the_reason_unless_the_till_says_otherwise() {
    let found = sale(vec![line("MILK", Some(4), None, 5000, 575), line("MILK", Some(1), None, 1000, 115)], vec![]);
    let s = store("S001");
    for (reason, restock, expected) in [
        (ReturnReason::Unwanted, None, true),
        (ReturnReason::WrongItem, None, true),
        (ReturnReason::Damaged, None, false),
        (ReturnReason::Expired, None, false),
        (ReturnReason::Damaged, Some(true), true),
        (ReturnReason::Unwanted, Some(false), false),
    ] {
        let mut d = draft(&[(0, Some(2), None), (1, None, None)]);
        d.reason = reason;
        d.restock = restock;
        let plan = plan_return(&d, &found, &s, now()).unwrap();
        assert!(plan.lines.iter().all(|l| l.restocked == expected), "{reason:?} {restock:?}");
        let back: Vec<(&str, i64)> = plan.restocks.iter().map(|r| (r.sku.as_str(), r.amount)).collect();
        assert_eq!(back, if expected { vec![("MILK", 3)] } else { vec![] }, "two lines of one sku restock as one");
    }
}

#[test]
fn a_draft_is_checked_before_anything_is_read() {
    let ok = draft(&[(0, Some(1), None)]);
    assert_eq!(ok.check(), Ok(()));
    let bad = |f: &dyn Fn(&mut ReturnDraft)| {
        let mut d = ok.clone();
        f(&mut d);
        d.check().unwrap_err()
    };
    assert!(matches!(bad(&|d| d.lines.clear()), ReturnRefusal::Invalid(_)));
    assert!(matches!(bad(&|d| d.lines = vec![d.lines[0].clone(); 2]), ReturnRefusal::AtLine { line: 1, .. }));
    assert!(matches!(bad(&|d| d.lines[0].quantity = Some(0)), ReturnRefusal::AtLine { line: 0, .. }));
    assert!(matches!(bad(&|d| d.lines[0].weight_grams = Some(5)), ReturnRefusal::AtLine { line: 0, .. }));
    assert!(matches!(bad(&|d| d.refunds = Some(vec![pay(PaymentMethod::Cash, 0)])), ReturnRefusal::Invalid(_)));
    assert!(matches!(bad(&|d| d.refunds = Some(vec![pay(PaymentMethod::Cash, 1); 11])), ReturnRefusal::Invalid(_)));
    // A return's fingerprint never equals a sale's, and differs with any member.
    let mut other = ok.clone();
    other.restock = Some(true);
    assert_ne!(ok.fingerprint(), other.fingerprint());
    assert_eq!(ok.fingerprint(), ok.clone().fingerprint());
}

#[test]
fn return_numbers_are_the_terminals_sequence_marked_as_returns() {
    assert_eq!(return_no(&TerminalId::parse("T07").unwrap(), 43), "T07-R000043");
}

fn arb_payments() -> impl Strategy<Value = (i64, Vec<Payment>)> {
    // A total, and payments that settle it: card and mobile at most the total, cash the rest
    // and maybe more (change).
    (1i64..=2_000_000, 0u32..=100, 0u32..=100, 0i64..=5_000).prop_map(|(total, card_pct, mobile_pct, extra)| {
        let card = total * i64::from(card_pct) / 100;
        let mobile = (total - card) * i64::from(mobile_pct) / 100;
        let cash = total - card - mobile + extra;
        let mut payments = Vec::new();
        for (m, a) in [(PaymentMethod::Card, card), (PaymentMethod::Mobile, mobile), (PaymentMethod::Cash, cash)] {
            if a > 0 {
                payments.push(pay(m, a));
            }
        }
        (total, payments)
    })
}

proptest! {
    /// Any sequence of partial returns of a line refunds at most its net amount at every step
    /// and exactly it once all of it is back; tax likewise.
    #[test]
    fn partial_returns_never_refund_more_than_the_line_and_all_of_it_exactly(
        amount in 0i64..=1_000_000_000,
        rate in 0i64..=10_000,
        sold in 1i64..=10_000,
        cuts in proptest::collection::vec(1i64..=10_000, 0..12),
    ) {
        let tax = crate::domain::sale::tax_included(Money::from_minor_units(amount), rate).minor_units();
        let mut found = sale(vec![line("X", Some(sold), None, amount, tax)], vec![pay(PaymentMethod::Card, amount.max(1))]);
        let (mut refunded, mut taxed, mut back) = (0i64, 0i64, 0i64);
        for cut in cuts.into_iter().chain([sold]) {
            let q = cut.min(sold - back);
            if q == 0 { break; }
            let plan = take(&mut found, &draft(&[(0, Some(q), None)])).unwrap();
            prop_assert!(plan.total.minor_units() >= 0 && plan.tax_total.minor_units() >= 0);
            refunded += plan.total.minor_units();
            taxed += plan.tax_total.minor_units();
            back += q;
            prop_assert!(refunded <= amount, "refunded {} of {}", refunded, amount);
            prop_assert!(taxed <= tax, "tax {} of {}", taxed, tax);
            prop_assert_eq!(refunded, div_round_half_away(i128::from(amount) * i128::from(back), i128::from(sold)) as i64);
        }
        prop_assert_eq!(back, sold);
        prop_assert_eq!((refunded, taxed), (amount, tax));
        prop_assert_eq!(returnable(&found).lines[0].refundable, Money::ZERO);
    }

    /// Returned line by line in any order and sizes, the default tenders never give a card or
    /// mobile more than it paid, nor cash more than it took net of change, and they always add
    /// up to the refund.
    #[test]
    fn the_default_tenders_never_refund_a_method_more_than_it_paid(
        (total, payments) in arb_payments(),
        units in 1i64..=20,
        cuts in proptest::collection::vec(1i64..=20, 1..10),
    ) {
        let mut found = sale(vec![line("X", Some(units), None, total, 0)], payments.clone());
        let mut back = 0;
        for cut in cuts.into_iter().chain([units]) {
            let q = cut.min(units - back);
            if q == 0 { break; }
            let plan = take(&mut found, &draft(&[(0, Some(q), None)])).unwrap();
            back += q;
            prop_assert_eq!(plan.refunds.iter().map(|r| r.amount).sum::<Money>(), plan.total);
        }
        let paid = ByMethod::of(&payments);
        let refunded = found.returned.refunded;
        prop_assert!(refunded.card <= paid.card && refunded.mobile <= paid.mobile, "{:?} of {:?}", refunded, paid);
        prop_assert!(refunded.cash <= paid.cash - found.sale.receipt.change);
        prop_assert_eq!(refunded.cash + refunded.card + refunded.mobile, Money::from_minor_units(total));
    }
}
