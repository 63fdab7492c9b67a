//! Baskets priced to the cent by hand, the refusals a basket can meet, payment and change,
//! and properties that hold for any basket.

use super::*;
use crate::domain::refusal::{Invalid, SaleRefusal};
use crate::domain::{Commodity, FxMap, Money, PriceAdjustment, SaleId, Sku, StockPolicy, Store, StoreId, TerminalId, Unit};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use std::sync::Arc;
use crate::domain::barcode::{Barcode, gs1_check_digit};
use crate::domain::catalog::TaxRate;
use crate::domain::ids::{BatchId, RegionId};
use crate::domain::price::{AdjustmentId, PriceScope};
use chrono::TimeZone;
use proptest::prelude::*;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 11, 12, 0, 0).unwrap()
}

fn shop() -> Store {
    Store::new(StoreId::parse("S001").unwrap(), "Binjiang", RegionId::parse("EAST").unwrap(), None).unwrap()
}

/// A 12-digit body with its GS1 check digit.
fn ean13(body12: &str) -> String {
    format!("{body12}{}", gs1_check_digit(body12.as_bytes()))
}

type Entry = (Arc<Commodity>, Arc<Vec<Arc<PriceAdjustment>>>);

/// What the catalog says about a basket's skus, built by hand.
#[derive(Default)]
struct Catalog {
    commodities: FxMap<Sku, Entry>,
    barcodes: FxMap<String, Vec<Sku>>,
    promotions: Vec<Arc<crate::domain::Promotion>>,
}

impl Catalog {
    /// A commodity with a chain-wide regular price (`list:<n>`) in force since long before
    /// `t0`, or no price at all.
    fn with(mut self, sku: &str, unit: Unit, rate_bp: i64, price: Option<i64>, barcodes: &[&str]) -> Self {
        let sku = Sku::parse(sku).unwrap();
        let barcodes: Vec<Barcode> = barcodes.iter().map(|b| Barcode::register(b).unwrap()).collect();
        for b in &barcodes {
            let holders = self.barcodes.entry(b.as_str().to_owned()).or_default();
            holders.push(sku.clone());
            holders.sort();
        }
        let index = self.commodities.len() as u32;
        let prices = price
            .map(|amount| {
                vec![Arc::new(PriceAdjustment {
                    id: AdjustmentId { batch_id: BatchId::parse("list").unwrap(), index },
                    sku: sku.clone(),
                    scope: PriceScope::Chain,
                    amount: Money::from_minor_units(amount),
                    valid_from: t0() - Duration::days(400),
                    valid_to: None,
                    reason: None,
                    applied_at: t0() - Duration::days(400),
                })]
            })
            .unwrap_or_default();
        let commodity = Commodity {
            sku: sku.clone(),
            name: format!("{sku} name").into(),
            unit,
            tax_rate: TaxRate::new(rate_bp).unwrap(),
            barcodes,
            category: None,
            stock_policy: StockPolicy::Track,
            allow_shared_barcodes: true,
            stock_shards_setting: None,
        };
        self.commodities.insert(sku, (Arc::new(commodity), Arc::new(prices)));
        self
    }

    fn view(&self) -> BasketCatalog<'_> {
        BasketCatalog { commodities: &self.commodities, barcodes: &self.barcodes, promotions: &self.promotions }
    }

    fn price(&self, lines: Vec<LineDraft>) -> Result<PricedBasket, Refused> {
        refused(price_basket(&checked(lines), &shop(), &self.view()))
    }

    fn adjustment(&self, sku: &str) -> String {
        self.commodities[&Sku::parse(sku).unwrap()].1[0].id.text()
    }
}

fn by_sku(sku: &str, quantity: Option<i64>, weight_grams: Option<i64>) -> LineDraft {
    LineDraft { sku: Some(sku.into()), barcode: None, quantity, weight_grams }
}

fn scanned(code: &str) -> LineDraft {
    LineDraft { sku: None, barcode: Some(code.into()), quantity: None, weight_grams: None }
}

fn cash(amount: i64) -> Payment {
    Payment { method: PaymentMethod::Cash, amount: Money::from_minor_units(amount) }
}

fn card(amount: i64) -> Payment {
    Payment { method: PaymentMethod::Card, amount: Money::from_minor_units(amount) }
}

fn mobile(amount: i64) -> Payment {
    Payment { method: PaymentMethod::Mobile, amount: Money::from_minor_units(amount) }
}

fn draft(lines: Vec<LineDraft>) -> SaleDraft {
    SaleDraft { terminal_id: TerminalId::parse("T01").unwrap(), lines, payments: vec![cash(1)], occurred_at: None }
}

fn checked(lines: Vec<LineDraft>) -> CheckedSale {
    draft(lines).check(t0()).expect("a well-formed sale")
}

/// A receipt line as the contract shows it.
#[allow(clippy::too_many_arguments)]
fn receipt_line(
    sku: &str,
    quantity: Option<i64>,
    weight_grams: Option<i64>,
    unit: i64,
    line: i64,
    tax: i64,
    adjustment: Option<String>,
) -> ReceiptLine {
    ReceiptLine {
        sku: Sku::parse(sku).unwrap(),
        name: format!("{sku} name").into(),
        quantity,
        weight_grams,
        unit_amount: Money::from_minor_units(unit),
        line_amount: Money::from_minor_units(line),
        discount_amount: Money::ZERO,
        net_amount: Money::from_minor_units(line),
        tax_amount: Money::from_minor_units(tax),
        adjustment_id: adjustment,
    }
}

/// A refusal as the tests read it: said of a line, or of the whole sale.
#[derive(Debug)]
enum Refused {
    Line(usize, SaleRefusal),
    Sale(SaleRefusal),
}

fn refused<T>(result: Result<T, SaleRefusal>) -> Result<T, Refused> {
    result.map_err(|e| match e {
        SaleRefusal::AtLine { line, refusal } => Refused::Line(line, *refusal),
        other => Refused::Sale(other),
    })
}

fn invalid_at(result: Result<PricedBasket, Refused>, line: usize) {
    match result {
        Err(Refused::Line(l, SaleRefusal::Invalid(Invalid::Request(_)))) if l == line => {}
        other => panic!("expected a 400 on line {line}, got {other:?}"),
    }
}

// Hand-computed baskets.

#[test]
fn each_lines_cost_the_unit_price_times_the_quantity_and_carry_their_tax() {
    let cat = Catalog::default()
        .with("MILK", Unit::Each, 1300, Some(1299), &[])
        .with("COLA", Unit::Each, 1300, Some(350), &[]);
    let basket = cat.price(vec![by_sku("MILK", Some(3), None), by_sku("COLA", None, None)]).unwrap();
    // 3 × 12.99 = 38.97; tax round(3897 × 1300 / 11300) = round(448.33) = 448.
    // No quantity is one unit: 3.50; tax round(350 × 1300 / 11300) = round(40.27) = 40.
    assert_eq!(
        basket.lines,
        vec![
            receipt_line("MILK", Some(3), None, 1299, 3897, 448, Some(cat.adjustment("MILK"))),
            receipt_line("COLA", Some(1), None, 350, 350, 40, Some(cat.adjustment("COLA"))),
        ]
    );
    assert_eq!((basket.total, basket.tax_total), (Money::from_minor_units(4247), Money::from_minor_units(488)));
}

#[test]
fn a_weighed_line_is_price_per_kg_times_grams_rounded_half_away_from_zero() {
    let cat = Catalog::default()
        .with("APPLE", Unit::Kg, 900, Some(1598), &[])
        .with("RICE", Unit::Kg, 900, Some(1999), &[]);
    let basket = cat.price(vec![by_sku("APPLE", None, Some(1234)), by_sku("RICE", None, Some(500))]).unwrap();
    // 15.98/kg × 1.234 kg = 19.71932 → 19.72; tax round(1972 × 900 / 10900) = round(162.83) = 163.
    // 19.99/kg × 0.5 kg = 9.995 → 10.00 (half away from zero); tax round(82.57) = 83.
    assert_eq!(
        basket.lines,
        vec![
            receipt_line("APPLE", None, Some(1234), 1598, 1972, 163, Some(cat.adjustment("APPLE"))),
            receipt_line("RICE", None, Some(500), 1999, 1000, 83, Some(cat.adjustment("RICE"))),
        ]
    );
    assert_eq!((basket.total, basket.tax_total), (Money::from_minor_units(2972), Money::from_minor_units(246)));
}

#[test]
fn lines_of_one_sku_merge_before_the_one_rounding() {
    let cat = Catalog::default()
        .with("NUTS", Unit::Kg, 900, Some(1002), &[])
        .with("GUM", Unit::Each, 1300, Some(5), &[]);
    let basket = cat
        .price(vec![
            by_sku("NUTS", None, Some(250)),
            by_sku("GUM", None, None),
            by_sku("NUTS", None, Some(250)),
            by_sku("GUM", Some(1), None),
        ])
        .unwrap();
    // Rounded per line, 250 g at 10.02/kg is 2.505 → 2.51, twice 5.02; merged, 500 g is 5.01.
    assert_eq!(weighed_amount(Money::from_minor_units(1002), 250).minor_units() * 2, 502);
    // One gum is 0.05 with tax round(0.575) = 1 each, 2 per line; merged 0.10 has tax round(1.15) = 1.
    assert_eq!(tax_included(Money::from_minor_units(5), 1300).minor_units() * 2, 2);
    assert_eq!(
        basket.lines,
        vec![
            receipt_line("NUTS", None, Some(500), 1002, 501, 41, Some(cat.adjustment("NUTS"))),
            receipt_line("GUM", Some(2), None, 5, 10, 1, Some(cat.adjustment("GUM"))),
        ]
    );
    assert_eq!((basket.total, basket.tax_total), (Money::from_minor_units(511), Money::from_minor_units(42)));
}

#[test]
fn price_labels_are_never_merged_and_charge_their_embedded_amount() {
    let cat = Catalog::default().with("CAKE", Unit::Each, 1300, Some(1000), &["2312345"]);
    let basket = cat
        .price(vec![
            scanned(&ean13("231234500899")),
            by_sku("CAKE", Some(2), None),
            scanned(&ean13("231234500899")),
            LineDraft { quantity: Some(1), ..scanned(&ean13("231234501250")) },
        ])
        .unwrap();
    // Labels: 8.99 (tax round(103.42) = 103) twice and 12.50 (tax round(143.81) = 144), each its
    // own line with no adjustment; the two cakes by sku are priced 2 × 10.00 (tax round(230.09)).
    assert_eq!(
        basket.lines,
        vec![
            receipt_line("CAKE", Some(1), None, 899, 899, 103, None),
            receipt_line("CAKE", Some(2), None, 1000, 2000, 230, Some(cat.adjustment("CAKE"))),
            receipt_line("CAKE", Some(1), None, 899, 899, 103, None),
            receipt_line("CAKE", Some(1), None, 1250, 1250, 144, None),
        ]
    );
    assert_eq!((basket.total, basket.tax_total), (Money::from_minor_units(5048), Money::from_minor_units(580)));
    assert_eq!(basket.takes, vec![StockTake { sku: Sku::parse("CAKE").unwrap(), policy: StockPolicy::Track, amount: 5, shards: 1 }]);
}

#[test]
fn a_price_label_needs_no_price_in_force() {
    let cat = Catalog::default().with("PIE", Unit::Each, 900, None, &["2300042"]);
    let basket = cat.price(vec![scanned(&ean13("230004200450"))]).unwrap();
    // round(450 × 900 / 10900) = round(37.16) = 37.
    assert_eq!(basket.lines, vec![receipt_line("PIE", Some(1), None, 450, 450, 37, None)]);
    // The same item by sku has no price to charge.
    assert!(matches!(cat.price(vec![by_sku("PIE", None, None)]), Err(Refused::Line(0, SaleRefusal::NoPrice(_)))));
}

#[test]
fn scale_labels_merge_with_other_lines_of_their_sku() {
    let cat = Catalog::default().with("APPLE", Unit::Kg, 900, Some(1598), &["2112345"]);
    let basket = cat
        .price(vec![scanned(&ean13("211234500600")), by_sku("APPLE", None, Some(334)), scanned(&ean13("211234500300"))])
        .unwrap();
    // 600 g + 334 g + 300 g = 1234 g at 15.98/kg = 19.72, as one line.
    assert_eq!(basket.lines, vec![receipt_line("APPLE", None, Some(1234), 1598, 1972, 163, Some(cat.adjustment("APPLE")))]);
    assert_eq!(basket.takes, vec![StockTake { sku: Sku::parse("APPLE").unwrap(), policy: StockPolicy::Track, amount: 1234, shards: 1 }]);
}

#[test]
fn a_upc_a_scan_finds_the_commodity_registered_by_its_ean13() {
    let cat = Catalog::default().with("COLA", Unit::Each, 1300, Some(350), &["036000291452"]);
    let basket = cat.price(vec![scanned("036000291452"), scanned("0036000291452")]).unwrap();
    assert_eq!(basket.lines, vec![receipt_line("COLA", Some(2), None, 350, 700, 81, Some(cat.adjustment("COLA")))]);
}

// Lines that do not fit their unit (400), and what the catalog refuses (422), by line.

#[test]
fn a_line_must_fit_its_unit() {
    let cat = Catalog::default()
        .with("MILK", Unit::Each, 1300, Some(1299), &["2300001"])
        .with("APPLE", Unit::Kg, 900, Some(1598), &["2112345"]);
    let ok = by_sku("MILK", None, None);
    invalid_at(cat.price(vec![ok.clone(), by_sku("MILK", None, Some(100))]), 1);
    invalid_at(cat.price(vec![ok.clone(), by_sku("APPLE", Some(1), None)]), 1);
    invalid_at(cat.price(vec![ok.clone(), by_sku("APPLE", None, None)]), 1);
    // A scale label carries its weight; a price label is one item.
    invalid_at(cat.price(vec![LineDraft { weight_grams: Some(600), ..scanned(&ean13("211234500600")) }]), 0);
    invalid_at(cat.price(vec![LineDraft { quantity: Some(1), ..scanned(&ean13("211234500600")) }]), 0);
    invalid_at(cat.price(vec![LineDraft { quantity: Some(2), ..scanned(&ean13("230000100899")) }]), 0);
    invalid_at(cat.price(vec![LineDraft { weight_grams: Some(2), ..scanned(&ean13("230000100899")) }]), 0);
    // Both measures on one line is refused before the catalog is asked.
    assert!(matches!(
        refused(draft(vec![ok, by_sku("APPLE", Some(1), Some(100))]).check(t0())),
        Err(Refused::Line(1, SaleRefusal::Invalid(Invalid::Request(_))))
    ));
}

#[test]
fn unknown_items_ambiguous_codes_and_missing_prices_name_their_line() {
    let shared = ean13("690123456700");
    let cat = Catalog::default()
        .with("MILK", Unit::Each, 1300, Some(1299), &[])
        .with("NOPRICE", Unit::Each, 1300, None, &[])
        .with("SHARE-A", Unit::Each, 900, Some(100), &[&shared])
        .with("SHARE-B", Unit::Each, 900, Some(100), &[&shared]);
    let milk = by_sku("MILK", None, None);
    assert!(matches!(
        cat.price(vec![milk.clone(), by_sku("GHOST", None, None)]),
        Err(Refused::Line(1, SaleRefusal::UnknownCommodity(_)))
    ));
    assert!(matches!(
        cat.price(vec![milk.clone(), milk.clone(), scanned(&ean13("690000000099"))]),
        Err(Refused::Line(2, SaleRefusal::UnknownCommodity(_)))
    ));
    // An unregistered scale item is unknown too.
    assert!(matches!(
        cat.price(vec![scanned(&ean13("219999900100"))]),
        Err(Refused::Line(0, SaleRefusal::UnknownCommodity(_)))
    ));
    match cat.price(vec![milk.clone(), scanned(&shared)]) {
        Err(Refused::Line(1, SaleRefusal::AmbiguousBarcode { barcode, skus })) => {
            assert_eq!(barcode, shared);
            assert_eq!(skus, vec!["SHARE-A".to_owned(), "SHARE-B".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    // The till may always send the sku instead.
    assert!(cat.price(vec![by_sku("SHARE-A", None, None)]).is_ok());
    assert!(matches!(
        cat.price(vec![milk.clone(), milk.clone(), by_sku("NOPRICE", None, None)]),
        Err(Refused::Line(2, SaleRefusal::NoPrice(_)))
    ));
}

#[test]
fn refusals_come_in_the_contracts_order() {
    let cat = Catalog::default()
        .with("MILK", Unit::Each, 1300, Some(1299), &[])
        .with("NOPRICE", Unit::Each, 1300, None, &[]);
    // An unknown item on a later line answers before a missing price on an earlier one.
    assert!(matches!(
        cat.price(vec![by_sku("NOPRICE", None, None), by_sku("GHOST", None, None)]),
        Err(Refused::Line(1, SaleRefusal::UnknownCommodity(_)))
    ));
    // A line that does not fit its unit (400) answers before an unknown item (422).
    invalid_at(cat.price(vec![by_sku("GHOST", None, None), by_sku("MILK", None, Some(5))]), 1);
}

#[test]
fn the_shape_of_a_sale_is_held_to_the_contracts_limits() {
    let line = || by_sku("MILK", None, None);
    let shape = |lines: Vec<LineDraft>, payments: Vec<Payment>| {
        refused(SaleDraft { terminal_id: TerminalId::parse("T01").unwrap(), lines, payments, occurred_at: None }.check(t0()))
    };
    let bad = |r: Result<CheckedSale, Refused>| match r {
        Err(Refused::Sale(SaleRefusal::Invalid(Invalid::Request(_)))) | Err(Refused::Line(_, SaleRefusal::Invalid(Invalid::Request(_)))) => {}
        other => panic!("expected a 400, got {other:?}"),
    };
    bad(shape(vec![], vec![cash(1)]));
    bad(shape(vec![line(); 201], vec![cash(1)]));
    assert!(shape(vec![line(); 200], vec![cash(1)]).is_ok());
    bad(shape(vec![line()], vec![]));
    bad(shape(vec![line()], vec![cash(1); 11]));
    assert!(shape(vec![line()], vec![cash(1); 10]).is_ok());
    bad(shape(vec![line()], vec![cash(0)]));
    bad(shape(vec![line()], vec![card(-5)]));
    bad(shape(vec![line()], vec![mobile(Money::MAX + 1)]));
    for q in [0, -1, 10_001] {
        bad(shape(vec![by_sku("MILK", Some(q), None)], vec![cash(1)]));
    }
    assert!(shape(vec![by_sku("MILK", Some(10_000), None)], vec![cash(1)]).is_ok());
    for g in [0, -1, 100_001] {
        bad(shape(vec![by_sku("APPLE", None, Some(g))], vec![cash(1)]));
    }
    assert!(shape(vec![by_sku("APPLE", None, Some(100_000))], vec![cash(1)]).is_ok());
    bad(shape(vec![LineDraft { sku: None, barcode: None, quantity: None, weight_grams: None }], vec![cash(1)]));
    bad(shape(vec![LineDraft { barcode: Some(ean13("690123456789")), ..line() }], vec![cash(1)]));
    bad(shape(vec![by_sku(".bad", None, None)], vec![cash(1)]));
    assert!(matches!(
        shape(vec![scanned("6901234567890")], vec![cash(1)]),
        Err(Refused::Line(0, SaleRefusal::Invalid(Invalid::Barcode(_))))
    ));
}

#[test]
fn a_sale_without_a_time_happens_now_and_any_offset_is_read_as_utc() {
    let mut d = draft(vec![by_sku("MILK", None, None)]);
    assert_eq!(d.check(t0()).unwrap().occurred_at, t0());
    d.occurred_at = Some("2026-11-11T20:00:00.250+08:00".into());
    assert_eq!(d.check(t0()).unwrap().occurred_at, t0() + Duration::milliseconds(250));
    d.occurred_at = Some("yesterday".into());
    assert!(matches!(refused(d.check(t0())), Err(Refused::Sale(SaleRefusal::Invalid(Invalid::Request(_))))));
}

#[test]
fn an_offline_sale_may_be_72_hours_old_and_a_till_5_minutes_fast() {
    let now = t0();
    assert_eq!(check_time(now - Duration::hours(72), now), Ok(()));
    assert!(matches!(check_time(now - Duration::hours(72) - Duration::seconds(1), now), Err(SaleRefusal::TooOld(_))));
    assert!(matches!(check_time(now - Duration::hours(73), now), Err(SaleRefusal::TooOld(_))));
    assert_eq!(check_time(now + Duration::minutes(5), now), Ok(()));
    assert!(matches!(check_time(now + Duration::minutes(5) + Duration::seconds(1), now), Err(SaleRefusal::InFuture(_))));
    assert!(matches!(check_time(now + Duration::minutes(10), now), Err(SaleRefusal::InFuture(_))));
}

// Payment and change.

#[test]
fn payments_less_than_the_total_are_a_mismatch() {
    assert!(matches!(settle(Money::from_minor_units(1000), &[cash(999)]), Err(SaleRefusal::PaymentMismatch(_))));
    assert!(matches!(settle(Money::from_minor_units(1000), &[card(500), mobile(499)]), Err(SaleRefusal::PaymentMismatch(_))));
}

#[test]
fn a_total_or_payments_past_the_money_limit_are_too_large() {
    let max = Money::MAX;
    assert!(matches!(settle(Money::from_minor_units(3 * max), &[cash(max)]), Err(SaleRefusal::AmountTooLarge(_))));
    let ten = vec![cash(max); 10];
    assert!(matches!(settle(Money::from_minor_units(1000), &ten), Err(SaleRefusal::AmountTooLarge(_))));
    // At the limit exactly, everything fits: change too.
    assert_eq!(
        settle(Money::from_minor_units(1), &[cash(max)]),
        Ok(Settlement { paid: Money::from_minor_units(max), change: Money::from_minor_units(max - 1) })
    );
    assert_eq!(settle(Money::from_minor_units(max), &[card(max)]), Ok(Settlement { paid: Money::from_minor_units(max), change: Money::ZERO }));
}

#[test]
fn card_and_mobile_may_not_exceed_the_total() {
    assert!(matches!(settle(Money::from_minor_units(1000), &[card(1001)]), Err(SaleRefusal::PaymentMismatch(_))));
    assert!(matches!(settle(Money::from_minor_units(1000), &[card(600), mobile(401)]), Err(SaleRefusal::PaymentMismatch(_))));
    // Even with cash on top, a card over the total would need change paid back on a card.
    assert!(matches!(settle(Money::from_minor_units(1000), &[card(1100), cash(100)]), Err(SaleRefusal::PaymentMismatch(_))));
    assert_eq!(settle(Money::from_minor_units(1000), &[card(600), mobile(400)]), Ok(Settlement { paid: Money::from_minor_units(1000), change: Money::ZERO }));
}

#[test]
fn cash_may_exceed_the_total_and_the_excess_is_change() {
    assert_eq!(settle(Money::from_minor_units(4247), &[cash(5000)]), Ok(Settlement { paid: Money::from_minor_units(5000), change: Money::from_minor_units(753) }));
    assert_eq!(
        settle(Money::from_minor_units(29900), &[mobile(20000), cash(10000)]),
        Ok(Settlement { paid: Money::from_minor_units(30000), change: Money::from_minor_units(100) })
    );
    assert_eq!(settle(Money::from_minor_units(1000), &[card(1000), cash(500)]), Ok(Settlement { paid: Money::from_minor_units(1500), change: Money::from_minor_units(500) }));
    assert_eq!(settle(Money::from_minor_units(1000), &[cash(1000)]), Ok(Settlement { paid: Money::from_minor_units(1000), change: Money::ZERO }));
}

// Recording.

#[test]
fn the_business_day_and_hour_are_the_stores_local_ones() {
    let cat = Catalog::default().with("MILK", Unit::Each, 1300, Some(1299), &[]);
    let mut sale = checked(vec![by_sku("MILK", None, None)]);
    sale.occurred_at = Utc.with_ymd_and_hms(2026, 11, 10, 23, 30, 0).unwrap();
    let basket = price_basket(&sale, &shop(), &cat.view()).unwrap();
    let settlement = settle(basket.total, &[card(1299)]).unwrap();
    let record = record_sale(SaleId::generate(), 42, &shop(), &sale, basket.clone(), settlement, t0());
    // 23:30 UTC is 07:30 the next morning in Shanghai.
    assert_eq!(record.receipt.business_day, NaiveDate::from_ymd_opt(2026, 11, 11).unwrap());
    assert_eq!(record.local_hour, 7);
    assert_eq!(record.receipt.receipt_no, "T01-000042");
    assert_eq!(record.receipt.currency, "CNY");
    let mut london = shop();
    london.timezone = chrono_tz::Europe::London;
    let record = record_sale(SaleId::generate(), 1, &london, &sale, basket, settlement, t0());
    assert_eq!((record.receipt.business_day, record.local_hour), (NaiveDate::from_ymd_opt(2026, 11, 10).unwrap(), 23));
    let json = serde_json::to_value(&record.receipt).unwrap();
    assert_eq!(json["occurredAt"], "2026-11-10T23:30:00Z");
    assert_eq!(json["createdAt"], "2026-11-11T12:00:00Z");
    assert_eq!(json["businessDay"], "2026-11-10");
}

#[test]
fn the_repeated_hour_of_a_daylight_saving_day_is_one_local_hour() {
    let cat = Catalog::default().with("MILK", Unit::Each, 1300, Some(1299), &[]);
    let mut london = shop();
    london.timezone = chrono_tz::Europe::London;
    // 25 October 2026: clocks go back at 02:00 BST, so 01:30 happens twice (00:30Z and 01:30Z).
    let hours: Vec<(NaiveDate, u8)> = [(0, 30), (1, 30)]
        .iter()
        .map(|&(h, m)| {
            let mut sale = checked(vec![by_sku("MILK", None, None)]);
            sale.occurred_at = Utc.with_ymd_and_hms(2026, 10, 25, h, m, 0).unwrap();
            let basket = price_basket(&sale, &london, &cat.view()).unwrap();
            let settlement = settle(basket.total, &[cash(1299)]).unwrap();
            let r = record_sale(SaleId::generate(), 1, &london, &sale, basket, settlement, t0());
            (r.receipt.business_day, r.local_hour)
        })
        .collect();
    let day = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
    assert_eq!(hours, vec![(day, 1), (day, 1)]);
}

#[test]
fn receipt_numbers_name_the_terminal_and_its_sequence() {
    let t = TerminalId::parse("T07").unwrap();
    assert_eq!(receipt_no(&t, 42), "T07-000042");
    assert_eq!(receipt_no(&t, 1_234_567), "T07-1234567");
    assert!(receipt_no(&t, 9) < receipt_no(&t, 10));
}

#[test]
fn equal_sales_have_equal_fingerprints() {
    let parse = |s: &str| serde_json::from_str::<SaleDraft>(s).unwrap().fingerprint();
    let a = parse(r#"{"terminalId":"T1","lines":[{"sku":"MILK","quantity":2}],"payments":[{"method":"cash","amount":5}]}"#);
    let b = parse(r#"{"payments":[{"amount":5,"method":"cash"}],"occurredAt":null,"lines":[{"quantity":2,"sku":"MILK","barcode":null}],"terminalId":"T1"}"#);
    assert_eq!(a, b);
    assert_ne!(a, parse(r#"{"terminalId":"T1","lines":[{"sku":"MILK","quantity":3}],"payments":[{"method":"cash","amount":5}]}"#));
    assert_ne!(a, parse(r#"{"terminalId":"T2","lines":[{"sku":"MILK","quantity":2}],"payments":[{"method":"cash","amount":5}]}"#));
    // The same text in another member, a count moved between members, another method.
    assert_ne!(a, parse(r#"{"terminalId":"T1","lines":[{"barcode":"MILK","quantity":2}],"payments":[{"method":"cash","amount":5}]}"#));
    assert_ne!(a, parse(r#"{"terminalId":"T1","lines":[{"sku":"MILK","weightGrams":2}],"payments":[{"method":"cash","amount":5}]}"#));
    assert_ne!(a, parse(r#"{"terminalId":"T1","lines":[{"sku":"MILK","quantity":2}],"payments":[{"method":"card","amount":5}]}"#));
    assert_ne!(
        parse(r#"{"terminalId":"T1","lines":[{"sku":"A"},{"sku":"B"}],"payments":[{"method":"cash","amount":5}]}"#),
        parse(r#"{"terminalId":"T1","lines":[{"sku":"AB"}],"payments":[{"method":"cash","amount":5}]}"#)
    );
}

// Properties for any basket.

/// `round(n / d)` half away from zero for n ≥ 0, written independently of the code under test.
fn round_div(n: i128, d: i128) -> i64 {
    ((2 * n + d) / (2 * d)) as i64
}

#[derive(Debug, Clone)]
struct Item {
    kg: bool,
    price: i64,
    rate: i64,
}

#[derive(Debug, Clone)]
enum Scanned {
    /// By sku: units (each) or grams (kg); `None` units is one.
    Sku(Option<i64>),
    /// A scale (`21…`) or price (`23…`) label with its weight or amount.
    Label(i64),
}

fn arb_items() -> impl Strategy<Value = Vec<Item>> {
    proptest::collection::vec(
        (any::<bool>(), 1i64..=200_000, prop_oneof![Just(0i64), Just(900), Just(1300), 0i64..=10_000])
            .prop_map(|(kg, price, rate)| Item { kg, price, rate }),
        1..6,
    )
}

fn arb_lines(items: usize) -> impl Strategy<Value = Vec<(usize, Scanned)>> {
    proptest::collection::vec(
        (
            0..items,
            prop_oneof![
                3 => proptest::option::of(1i64..=10_000).prop_map(Scanned::Sku),
                1 => (1i64..=99_999).prop_map(Scanned::Label),
            ],
        ),
        1..40,
    )
}

fn arb_basket() -> impl Strategy<Value = (Vec<Item>, Vec<(usize, Scanned)>)> {
    arb_items().prop_flat_map(|items| {
        let n = items.len();
        (Just(items), arb_lines(n))
    })
}

fn sku_of(i: usize) -> String {
    format!("SKU{i}")
}

fn catalog_of(items: &[Item]) -> Catalog {
    items.iter().enumerate().fold(Catalog::default(), |cat, (i, item)| {
        let code = format!("{}{i:05}", if item.kg { "21" } else { "23" });
        let unit = if item.kg { Unit::Kg } else { Unit::Each };
        cat.with(&sku_of(i), unit, item.rate, Some(item.price), &[&code])
    })
}

fn drafts_of(items: &[Item], lines: &[(usize, Scanned)]) -> Vec<LineDraft> {
    lines
        .iter()
        .map(|(i, s)| match (items[*i].kg, s) {
            (false, Scanned::Sku(q)) => by_sku(&sku_of(*i), *q, None),
            (true, Scanned::Sku(g)) => by_sku(&sku_of(*i), None, Some(g.unwrap_or(1))),
            (kg, Scanned::Label(m)) => {
                scanned(&ean13(&format!("{}{i:05}{m:05}", if kg { "21" } else { "23" })))
            }
        })
        .collect()
}

proptest! {
    #[test]
    fn any_basket_adds_up_line_by_line((items, lines) in arb_basket()) {
        let cat = catalog_of(&items);
        let basket = cat.price(drafts_of(&items, &lines)).unwrap();
        prop_assert_eq!(basket.total.minor_units(), basket.lines.iter().map(|l| l.line_amount.minor_units()).sum::<i64>());
        prop_assert_eq!(basket.tax_total.minor_units(), basket.lines.iter().map(|l| l.tax_amount.minor_units()).sum::<i64>());
        for l in &basket.lines {
            prop_assert!(0 <= l.tax_amount.minor_units() && l.tax_amount.minor_units() <= l.line_amount.minor_units(), "{:?}", l);
            let rate = cat.commodities[&l.sku].0.tax_rate.basis_points();
            prop_assert_eq!(l.tax_amount.minor_units(), round_div(i128::from(l.line_amount.minor_units()) * i128::from(rate), i128::from(10_000 + rate)));
        }
    }

    #[test]
    fn any_basket_merges_each_sku_once_and_keeps_every_label_apart((items, lines) in arb_basket()) {
        let basket = catalog_of(&items).price(drafts_of(&items, &lines)).unwrap();
        for (i, item) in items.iter().enumerate() {
            let sku = Sku::parse(&sku_of(i)).unwrap();
            let mine: Vec<&(usize, Scanned)> = lines.iter().filter(|(j, _)| *j == i).collect();
            let measure = |s: &Scanned| match s { Scanned::Sku(m) => m.unwrap_or(1), Scanned::Label(m) => *m };
            // Everything but price labels merges into one line, priced once.
            let merged: i64 = mine.iter().filter(|(_, s)| item.kg || matches!(s, Scanned::Sku(_))).map(|(_, s)| measure(s)).sum();
            let priced: Vec<&ReceiptLine> = basket.lines.iter().filter(|l| l.sku == sku && l.adjustment_id.is_some()).collect();
            if merged == 0 {
                prop_assert!(priced.is_empty());
            } else {
                prop_assert_eq!(priced.len(), 1);
                let l = priced[0];
                prop_assert_eq!(l.unit_amount.minor_units(), item.price);
                if item.kg {
                    prop_assert_eq!((l.quantity, l.weight_grams), (None, Some(merged)));
                    prop_assert_eq!(l.line_amount.minor_units(), round_div(i128::from(item.price) * i128::from(merged), 1000));
                } else {
                    prop_assert_eq!((l.quantity, l.weight_grams), (Some(merged), None));
                    prop_assert_eq!(l.line_amount.minor_units(), item.price * merged);
                }
            }
            // Price labels: one line each, in scan order, charging what the label says.
            let labels: Vec<i64> = if item.kg { vec![] } else {
                mine.iter().filter_map(|(_, s)| match s { Scanned::Label(a) => Some(*a), _ => None }).collect()
            };
            let charged: Vec<i64> = basket.lines.iter().filter(|l| l.sku == sku && l.adjustment_id.is_none()).map(|l| {
                assert_eq!((l.quantity, l.unit_amount), (Some(1), l.line_amount));
                l.line_amount.minor_units()
            }).collect();
            prop_assert_eq!(charged, labels);
            // Stock is taken for everything: units, grams, one per label.
            let taken: i64 = mine.iter().map(|(_, s)| if !item.kg && matches!(s, Scanned::Label(_)) { 1 } else { measure(s) }).sum();
            let take = basket.takes.iter().find(|t| t.sku == sku).map(|t| t.amount).unwrap_or(0);
            prop_assert_eq!(take, taken);
        }
    }

    #[test]
    fn the_order_of_the_lines_does_not_change_what_is_charged((items, lines) in arb_basket()) {
        let cat = catalog_of(&items);
        let forward = cat.price(drafts_of(&items, &lines)).unwrap();
        let mut reversed_lines = lines.clone();
        reversed_lines.reverse();
        let backward = cat.price(drafts_of(&items, &reversed_lines)).unwrap();
        prop_assert_eq!((forward.total, forward.tax_total), (backward.total, backward.tax_total));
        let key = |b: &PricedBasket| {
            let mut v: Vec<_> = b.lines.iter().map(|l| (l.sku.clone(), l.quantity, l.weight_grams, l.line_amount, l.tax_amount)).collect();
            v.sort();
            v
        };
        prop_assert_eq!(key(&forward), key(&backward));
    }

    #[test]
    fn payments_settle_exactly_or_are_refused(
        total in 0i64..2_000_000,
        payments in proptest::collection::vec((0u8..3, 1i64..1_000_000), 1..=10),
    ) {
        let payments: Vec<Payment> = payments.into_iter().map(|(m, a)| match m {
            0 => cash(a), 1 => card(a), _ => mobile(a),
        }).collect();
        let paid: i64 = payments.iter().map(|p| p.amount.minor_units()).sum();
        let cash_paid: i64 = payments.iter().filter(|p| p.method == PaymentMethod::Cash).map(|p| p.amount.minor_units()).sum();
        match settle(Money::from_minor_units(total), &payments) {
            Ok(s) => {
                prop_assert_eq!(s.paid.minor_units(), paid);
                prop_assert_eq!(s.paid.minor_units() - s.change.minor_units(), total);
                prop_assert!(0 <= s.change.minor_units() && s.change.minor_units() <= cash_paid);
            }
            Err(e) => {
                prop_assert!(matches!(e, SaleRefusal::PaymentMismatch(_)));
                prop_assert!(paid < total || paid - cash_paid > total);
            }
        }
    }
}

#[test]
fn a_sale_recorded_before_promotions_reads_back_with_no_discount() {
    // A stored sale as it was written before promotions existed: no discount members.
    let stored = serde_json::json!({
        "saleId": "0193a3c4-5e6f-7a8b-9c0d-1e2f3a4b5c6d", "receiptNo": "T01-000001", "storeId": "S001", "terminalId": "T01",
        "businessDay": "2026-11-11", "occurredAt": "2026-11-11T04:00:00Z", "createdAt": "2026-11-11T04:00:00Z",
        "lines": [{"sku": "MILK", "name": "Milk 1L", "quantity": 2, "unitAmount": 1299, "lineAmount": 2598, "taxAmount": 299, "adjustmentId": "list:0"}],
        "payments": [{"method": "cash", "amount": 3000}], "total": 2598, "taxTotal": 299, "paid": 3000, "change": 402, "currency": "CNY",
        "localHour": 12
    });
    let record: SaleRecord = serde_json::from_value(stored).unwrap();
    let line = &record.receipt.lines[0];
    assert_eq!((line.discount_amount, line.net_amount), (Money::ZERO, Money::from_minor_units(2598)));
    assert!(record.receipt.promotions.is_empty());
    assert_eq!(record.receipt.discount_total, Money::ZERO);
    // Shown as a receipt of today: every member, the discounts zero.
    let shown = serde_json::to_value(&record.receipt).unwrap();
    assert_eq!(shown["lines"][0]["discountAmount"], 0);
    assert_eq!(shown["lines"][0]["netAmount"], 2598);
    assert_eq!((&shown["promotions"], &shown["discountTotal"]), (&serde_json::json!([]), &serde_json::json!(0)));
}
