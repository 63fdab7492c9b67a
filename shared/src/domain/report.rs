//! Daily sales aggregates, folded sale by sale from the sales stream, and the reports read
//! from them.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::catalog::Store;
use super::ids::{Sku, StoreId, TerminalId};
use super::money::{CURRENCY, Money};
use super::sale::{PaymentMethod, SaleRecord};
use super::time::optional_instant;

/// What the sales table's change stream carries to the reports: a sale, or a return (counted
/// by the store that took it back, on its business day).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerEntry {
    Sale(std::sync::Arc<SaleRecord>),
    Return(std::sync::Arc<super::returns::ReturnReceipt>),
}

/// How many commodities a store report ranks.
pub const TOP_COMMODITIES: usize = 10;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HourTotals {
    pub sales_count: u64,
    pub gross_amount: Money,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ByPaymentMethod {
    pub cash: Money,
    pub card: Money,
    pub mobile: Money,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CommodityTotals {
    pub name: String,
    /// Units of `each` lines.
    pub quantity: i64,
    /// Grams of `kg` lines.
    pub weight_grams: i64,
    pub amount: Money,
}

/// A sale recorded more than this after it occurred counts as an offline sale in its
/// terminal's row: uploaded by a till that was offline, or backdated by one.
pub const OFFLINE_AFTER: chrono::Duration = chrono::Duration::minutes(5);

/// One terminal's day.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalTotals {
    pub sales_count: u64,
    /// Its sales recorded more than [`OFFLINE_AFTER`] after their `occurredAt`.
    pub offline_sales_count: u64,
    pub gross_amount: Money,
    /// Cash its drawer took, net of the change it paid back.
    pub cash_in: Money,
}

/// One store's business day, as folded so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreDay {
    pub sales_count: u64,
    pub items_sold: i64,
    pub gross_amount: Money,
    pub tax_amount: Money,
    pub by_hour: Vec<HourTotals>,
    pub by_payment_method: ByPaymentMethod,
    pub commodities: BTreeMap<Sku, CommodityTotals>,
    /// Days folded before terminals were counted read as none.
    #[serde(default)]
    pub by_terminal: BTreeMap<TerminalId, TerminalTotals>,
    #[serde(with = "optional_instant", default)]
    pub as_of: Option<DateTime<Utc>>,
}

impl StoreDay {
    /// Adds one sale. The caller makes sure a sale is folded once.
    pub fn fold(&mut self, sale: &SaleRecord) {
        let r = &sale.receipt;
        if self.by_hour.len() != 24 {
            self.by_hour.resize(24, HourTotals::default());
        }
        self.sales_count += 1;
        self.gross_amount += r.total;
        self.tax_amount += r.tax_total;
        let hour = &mut self.by_hour[usize::from(sale.local_hour.min(23))];
        hour.sales_count += 1;
        hour.gross_amount += r.total;
        for p in &r.payments {
            match p.method {
                PaymentMethod::Cash => self.by_payment_method.cash += p.amount,
                PaymentMethod::Card => self.by_payment_method.card += p.amount,
                PaymentMethod::Mobile => self.by_payment_method.mobile += p.amount,
            }
        }
        // Change is paid back in cash: the drawer keeps cash net of change.
        self.by_payment_method.cash -= r.change;
        let terminal = self.by_terminal.entry(r.terminal_id.clone()).or_default();
        terminal.sales_count += 1;
        if r.created_at - r.occurred_at > OFFLINE_AFTER {
            terminal.offline_sales_count += 1;
        }
        terminal.gross_amount += r.total;
        let cash: Money = r.payments.iter().filter(|p| p.method == PaymentMethod::Cash).map(|p| p.amount).sum();
        terminal.cash_in += cash - r.change;
        for line in &r.lines {
            let c = self.commodities.entry(line.sku.clone()).or_default();
            if *c.name != *line.name {
                c.name = line.name.to_string();
            }
            c.amount += line.line_amount;
            match (line.quantity, line.weight_grams) {
                (Some(q), _) => {
                    c.quantity += q;
                    self.items_sold += q;
                }
                (None, Some(g)) => {
                    c.weight_grams += g;
                    self.items_sold += 1;
                }
                (None, None) => {}
            }
        }
        self.as_of = self.as_of.max(Some(r.created_at));
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TopCommodity {
    pub sku: Sku,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantity: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weight_grams: Option<i64>,
    pub amount: Money,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HourRow {
    pub hour: u8,
    pub sales_count: u64,
    pub gross_amount: Money,
}

/// A terminal's row of the store report. Returns (`returnsCount`, `returnsAmount`, `cashOut`)
/// are taken back at a terminal too; until a store takes returns they are zero.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TerminalRow {
    pub terminal_id: TerminalId,
    pub sales_count: u64,
    pub offline_sales_count: u64,
    pub gross_amount: Money,
    pub returns_count: u64,
    pub returns_amount: Money,
    pub cash_in: Money,
    pub cash_out: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreDailyReport {
    pub store_id: StoreId,
    pub date: NaiveDate,
    pub currency: &'static str,
    pub sales_count: u64,
    pub items_sold: i64,
    pub gross_amount: Money,
    pub tax_amount: Money,
    pub by_hour: Vec<HourRow>,
    pub by_payment_method: ByPaymentMethod,
    pub top_commodities: Vec<TopCommodity>,
    /// Every terminal with a sale that day, by terminal id.
    pub by_terminal: Vec<TerminalRow>,
    #[serde(with = "optional_instant")]
    pub as_of: Option<DateTime<Utc>>,
}

/// A store's report for a day: all zeros when nothing was sold.
pub fn store_report(store: &StoreId, date: NaiveDate, day: Option<&StoreDay>) -> StoreDailyReport {
    let empty = StoreDay::default();
    let day = day.unwrap_or(&empty);
    let by_hour = (0..24u8)
        .map(|h| {
            let t = day.by_hour.get(usize::from(h)).copied().unwrap_or_default();
            HourRow { hour: h, sales_count: t.sales_count, gross_amount: t.gross_amount }
        })
        .collect();
    let mut ranked: Vec<(&Sku, &CommodityTotals)> = day.commodities.iter().collect();
    // By amount, highest first, then by sku.
    ranked.sort_by(|a, b| b.1.amount.cmp(&a.1.amount).then_with(|| a.0.cmp(b.0)));
    let top_commodities = ranked
        .into_iter()
        .take(TOP_COMMODITIES)
        .map(|(sku, c)| TopCommodity {
            sku: sku.clone(),
            name: c.name.clone(),
            quantity: (c.quantity != 0 || c.weight_grams == 0).then_some(c.quantity),
            weight_grams: (c.weight_grams != 0).then_some(c.weight_grams),
            amount: c.amount,
        })
        .collect();
    StoreDailyReport {
        store_id: store.clone(),
        date,
        currency: CURRENCY,
        sales_count: day.sales_count,
        items_sold: day.items_sold,
        gross_amount: day.gross_amount,
        tax_amount: day.tax_amount,
        by_hour,
        by_payment_method: day.by_payment_method,
        top_commodities,
        by_terminal: day
            .by_terminal
            .iter()
            .map(|(id, t)| TerminalRow {
                terminal_id: id.clone(),
                sales_count: t.sales_count,
                offline_sales_count: t.offline_sales_count,
                gross_amount: t.gross_amount,
                returns_count: 0,
                returns_amount: Money::ZERO,
                cash_in: t.cash_in,
                cash_out: Money::ZERO,
            })
            .collect(),
        as_of: day.as_of,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainStoreRow {
    pub store_id: StoreId,
    pub sales_count: u64,
    pub gross_amount: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainDailyReport {
    pub date: NaiveDate,
    pub currency: &'static str,
    pub sales_count: u64,
    pub gross_amount: Money,
    pub tax_amount: Money,
    pub stores: Vec<ChainStoreRow>,
    #[serde(with = "optional_instant")]
    pub as_of: Option<DateTime<Utc>>,
}

/// The chain's report for a date: every store, each on its own business day of that date.
pub fn chain_report(date: NaiveDate, stores: &[Store], days: &BTreeMap<StoreId, StoreDay>) -> ChainDailyReport {
    let mut report = ChainDailyReport {
        date,
        currency: CURRENCY,
        sales_count: 0,
        gross_amount: Money::ZERO,
        tax_amount: Money::ZERO,
        stores: Vec::with_capacity(stores.len()),
        as_of: None,
    };
    let mut ids: Vec<&StoreId> = stores.iter().map(|s| &s.store_id).collect();
    ids.sort();
    for id in ids {
        let day = days.get(id);
        let (count, gross) = day.map(|d| (d.sales_count, d.gross_amount)).unwrap_or_default();
        report.sales_count += count;
        report.gross_amount += gross;
        report.tax_amount += day.map(|d| d.tax_amount).unwrap_or_default();
        report.as_of = report.as_of.max(day.and_then(|d| d.as_of));
        report.stores.push(ChainStoreRow { store_id: id.clone(), sales_count: count, gross_amount: gross });
    }
    report
}

#[cfg(test)]
mod tests {
    //! A day folded sale by sale, checked by hand to the cent, and the properties every fold
    //! keeps: money balances by method and by hour, and the order of the sales does not matter.

    use super::*;
    use crate::domain::catalog::Store;
    use crate::domain::ids::{RegionId, TerminalId};
    use crate::domain::sale::{Payment, Receipt, ReceiptLine};
    use chrono::{Duration, TimeZone};
    use proptest::prelude::*;
    use serde_json::json;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 11, 1, 0, 0).unwrap()
    }

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 11).unwrap()
    }

    fn s001() -> StoreId {
        StoreId::parse("S001").unwrap()
    }

    /// A receipt line: `measure` is units for `each`, grams for `kg`.
    #[derive(Debug, Clone)]
    struct Line {
        sku: String,
        kg: bool,
        measure: i64,
        amount: i64,
        tax: i64,
    }

    fn each(sku: &str, quantity: i64, amount: i64, tax: i64) -> Line {
        Line { sku: sku.into(), kg: false, measure: quantity, amount, tax }
    }

    fn kg(sku: &str, grams: i64, amount: i64, tax: i64) -> Line {
        Line { sku: sku.into(), kg: true, measure: grams, amount, tax }
    }

    /// A sale id (a UUID) named by a short text: equal texts, equal ids.
    fn test_sale_id(name: &str) -> crate::domain::SaleId {
        let bits = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        crate::domain::SaleId::parse(&format!("00000000-0000-4000-8000-{:012x}", bits & 0xffff_ffff_ffff)).unwrap()
    }

    /// A recorded sale whose totals, payments and change agree, as checkout records them.
    fn sale(id: &str, hour: u8, created_at: DateTime<Utc>, lines: &[Line], payments: &[(PaymentMethod, i64)]) -> SaleRecord {
        let total: i64 = lines.iter().map(|l| l.amount).sum();
        let paid: i64 = payments.iter().map(|p| p.1).sum();
        assert!(paid >= total);
        SaleRecord {
            receipt: Receipt {
                sale_id: test_sale_id(id),
                receipt_no: format!("T01-{id}"),
                store_id: s001(),
                terminal_id: TerminalId::parse("T01").unwrap(),
                business_day: day(),
                occurred_at: created_at,
                created_at,
                lines: lines
                    .iter()
                    .map(|l| ReceiptLine {
                        sku: Sku::parse(&l.sku).unwrap(),
                        name: format!("{} name", l.sku).into(),
                        quantity: (!l.kg).then_some(l.measure),
                        weight_grams: l.kg.then_some(l.measure),
                        unit_amount: Money::from_minor_units(l.amount),
                        line_amount: Money::from_minor_units(l.amount),
                        tax_amount: Money::from_minor_units(l.tax),
                        adjustment_id: None,
                    })
                    .collect(),
                payments: payments.iter().map(|&(method, amount)| Payment { method, amount: Money::from_minor_units(amount) }).collect(),
                total: Money::from_minor_units(total),
                tax_total: Money::from_minor_units(lines.iter().map(|l| l.tax).sum()),
                paid: Money::from_minor_units(paid),
                change: Money::from_minor_units(paid - total),
                currency: CURRENCY.into(),
            },
            local_hour: hour,
            stock_shards: vec![],
        }
    }

    fn fold_all<'a>(sales: impl IntoIterator<Item = &'a SaleRecord>) -> StoreDay {
        let mut d = StoreDay::default();
        for s in sales {
            d.fold(s);
        }
        d
    }

    use PaymentMethod::{Card, Cash, Mobile};

    /// Three receipts of a morning and an evening (the checkout tests' baskets).
    fn three_sales() -> Vec<SaleRecord> {
        vec![
            sale("a", 9, t0(), &[each("MILK", 3, 3897, 448), kg("APPLE", 1234, 1972, 163)], &[(Cash, 10_000)]),
            sale("b", 9, t0() + Duration::minutes(5), &[each("CAKE", 1, 899, 103), each("CAKE", 1, 899, 103)], &[(Card, 1798)]),
            sale(
                "c",
                20,
                t0() + Duration::hours(11),
                &[each("MILK", 1, 1299, 149), each("COOKER", 1, 29_900, 3440)],
                &[(Mobile, 20_000), (Cash, 20_000)],
            ),
        ]
    }

    #[test]
    fn a_day_folds_to_the_sum_of_its_receipts() {
        let d = fold_all(&three_sales());
        assert_eq!(d.sales_count, 3);
        // Units of each lines (3 + 1 + 1 + 1 + 1) and one per weighed line (1).
        assert_eq!(d.items_sold, 8);
        assert_eq!(d.gross_amount, Money::from_minor_units(5869 + 1798 + 31_199));
        assert_eq!(d.tax_amount, Money::from_minor_units(448 + 163 + 103 + 103 + 149 + 3440));
        // Cash net of change: 100.00 − 41.31 and 200.00 − 88.01.
        assert_eq!(d.by_payment_method, ByPaymentMethod { cash: Money::from_minor_units(5869 + 11_199), card: Money::from_minor_units(1798), mobile: Money::from_minor_units(20_000) });
        assert_eq!(d.by_hour[9], HourTotals { sales_count: 2, gross_amount: Money::from_minor_units(7667) });
        assert_eq!(d.by_hour[20], HourTotals { sales_count: 1, gross_amount: Money::from_minor_units(31_199) });
        assert_eq!(d.by_hour.iter().map(|h| h.sales_count).sum::<u64>(), 3);
        assert_eq!(d.as_of, Some(t0() + Duration::hours(11)));
    }

    #[test]
    fn a_store_report_reads_as_the_contract_says() {
        let d = fold_all(&three_sales());
        let report = serde_json::to_value(store_report(&s001(), day(), Some(&d))).unwrap();
        let mut by_hour: Vec<_> = (0..24).map(|h| json!({"hour": h, "salesCount": 0, "grossAmount": 0})).collect();
        by_hour[9] = json!({"hour": 9, "salesCount": 2, "grossAmount": 7667});
        by_hour[20] = json!({"hour": 20, "salesCount": 1, "grossAmount": 31_199});
        assert_eq!(
            report,
            json!({
                "storeId": "S001", "date": "2026-11-11", "currency": "CNY",
                "salesCount": 3, "itemsSold": 8, "grossAmount": 38_866, "taxAmount": 4406,
                "byHour": by_hour,
                "byPaymentMethod": {"cash": 17_068, "card": 1798, "mobile": 20_000},
                "topCommodities": [
                    {"sku": "COOKER", "name": "COOKER name", "quantity": 1, "amount": 29_900},
                    {"sku": "MILK", "name": "MILK name", "quantity": 4, "amount": 5196},
                    {"sku": "APPLE", "name": "APPLE name", "weightGrams": 1234, "amount": 1972},
                    {"sku": "CAKE", "name": "CAKE name", "quantity": 2, "amount": 1798}
                ],
                "byTerminal": [{
                    "terminalId": "T01", "salesCount": 3, "offlineSalesCount": 0, "grossAmount": 38_866,
                    "returnsCount": 0, "returnsAmount": 0, "cashIn": 17_068, "cashOut": 0
                }],
                "asOf": "2026-11-11T12:00:00Z"
            })
        );
    }

    #[test]
    fn a_sale_recorded_more_than_five_minutes_after_it_occurred_counts_as_offline_at_its_terminal() {
        let mut sales = three_sales();
        let at = |minutes: i64| {
            let mut s = sale("late", 10, t0() + Duration::hours(1), &[each("MILK", 1, 1299, 149)], &[(Card, 1299)]);
            s.receipt.terminal_id = TerminalId::parse("T02").unwrap();
            s.receipt.occurred_at = s.receipt.created_at - Duration::minutes(minutes);
            s
        };
        sales.extend([at(5), at(6), at(72 * 60)]);
        let d = fold_all(&sales);
        let t01 = &d.by_terminal[&TerminalId::parse("T01").unwrap()];
        let t02 = &d.by_terminal[&TerminalId::parse("T02").unwrap()];
        assert_eq!((t01.sales_count, t01.offline_sales_count), (3, 0));
        assert_eq!((t02.sales_count, t02.offline_sales_count, t02.cash_in), (3, 2, Money::ZERO), "exactly five minutes is not late");
        assert_eq!(t02.gross_amount, Money::from_minor_units(3 * 1299));
    }

    #[test]
    fn a_day_without_sales_is_all_zeros() {
        let report = serde_json::to_value(store_report(&s001(), day(), None)).unwrap();
        let by_hour: Vec<_> = (0..24).map(|h| json!({"hour": h, "salesCount": 0, "grossAmount": 0})).collect();
        assert_eq!(
            report,
            json!({
                "storeId": "S001", "date": "2026-11-11", "currency": "CNY",
                "salesCount": 0, "itemsSold": 0, "grossAmount": 0, "taxAmount": 0,
                "byHour": by_hour,
                "byPaymentMethod": {"cash": 0, "card": 0, "mobile": 0},
                "topCommodities": [],
                "byTerminal": [],
                "asOf": null
            })
        );
    }

    #[test]
    fn top_commodities_rank_by_amount_then_sku_and_stop_at_ten() {
        // Twelve skus; K00..K11 with amounts that tie in pairs.
        let lines: Vec<Line> = (0..12).map(|i| each(&format!("K{:02}", 11 - i), 1, 100 * (i / 2 + 1), 0)).collect();
        let d = fold_all(&[sale("x", 10, t0(), &lines, &[(Cash, 4200)])]);
        let top: Vec<(String, i64)> =
            store_report(&s001(), day(), Some(&d)).top_commodities.iter().map(|t| (t.sku.to_string(), t.amount.minor_units())).collect();
        let expected: Vec<(String, i64)> = [
            ("K00", 600), ("K01", 600), ("K02", 500), ("K03", 500), ("K04", 400),
            ("K05", 400), ("K06", 300), ("K07", 300), ("K08", 200), ("K09", 200),
        ]
        .iter()
        .map(|(s, a)| (s.to_string(), *a))
        .collect();
        assert_eq!(top, expected);
    }

    #[test]
    fn the_chain_report_lists_every_store_and_sums_them() {
        let store = |id: &str| Store::new(StoreId::parse(id).unwrap(), "Shop", RegionId::parse("EAST").unwrap(), None).unwrap();
        let stores = vec![store("S003"), store("S001"), store("S002")];
        let mut days = BTreeMap::new();
        days.insert(s001(), fold_all(&three_sales()));
        let mut s3 = three_sales()[1].clone();
        s3.receipt.store_id = StoreId::parse("S003").unwrap();
        s3.receipt.created_at = t0() + Duration::hours(12);
        days.insert(s3.receipt.store_id.clone(), fold_all([&s3]));
        let report = serde_json::to_value(chain_report(day(), &stores, &days)).unwrap();
        assert_eq!(
            report,
            json!({
                "date": "2026-11-11", "currency": "CNY",
                "salesCount": 4, "grossAmount": 38_866 + 1798, "taxAmount": 4406 + 206,
                "stores": [
                    {"storeId": "S001", "salesCount": 3, "grossAmount": 38_866},
                    {"storeId": "S002", "salesCount": 0, "grossAmount": 0},
                    {"storeId": "S003", "salesCount": 1, "grossAmount": 1798}
                ],
                "asOf": "2026-11-11T13:00:00Z"
            })
        );
        let empty = serde_json::to_value(chain_report(day(), &stores, &BTreeMap::new())).unwrap();
        assert_eq!((empty["salesCount"].clone(), empty["grossAmount"].clone(), empty["asOf"].clone()), (json!(0), json!(0), json!(null)));
        assert_eq!(empty["stores"].as_array().unwrap().len(), 3);
    }

    // Properties of any day of sales.

    const SKUS: usize = 6;

    /// Any sale: lines of six skus (even ones by the piece, odd ones by weight), paid by card and
    /// mobile up to the total and the rest in cash, maybe with change.
    fn arb_sale(id: usize) -> impl Strategy<Value = SaleRecord> {
        (
            proptest::collection::vec((0..SKUS, 1i64..=10_000, 1i64..=500_000, 0i64..=100), 1..8),
            0u8..24,
            0i64..86_400,
            0i64..=100,
            0i64..=100,
            0i64..=100_000,
        )
            .prop_map(move |(lines, hour, second, card_pct, mobile_pct, extra_cash)| {
                let lines: Vec<Line> = lines
                    .into_iter()
                    .map(|(sku, measure, amount, tax_pct)| Line {
                        sku: format!("P{sku}"),
                        kg: sku % 2 == 1,
                        measure,
                        amount,
                        tax: amount * tax_pct / 100,
                    })
                    .collect();
                let total: i64 = lines.iter().map(|l| l.amount).sum();
                let card = total * card_pct / 100;
                let mobile = (total - card) * mobile_pct / 100;
                let cash = total - card - mobile + extra_cash;
                let payments: Vec<(PaymentMethod, i64)> =
                    [(Card, card), (Mobile, mobile), (Cash, cash)].into_iter().filter(|p| p.1 > 0).collect();
                sale(&format!("sale-{id:03}"), hour, t0() + Duration::seconds(second), &lines, &payments)
            })
    }

    fn arb_day() -> impl Strategy<Value = Vec<SaleRecord>> {
        (1usize..30).prop_flat_map(|n| (0..n).map(arb_sale).collect::<Vec<_>>())
    }

    proptest! {
        #[test]
        fn money_balances_by_method_by_hour_and_by_commodity(sales in arb_day()) {
            let d = fold_all(&sales);
            let gross: i64 = sales.iter().map(|s| s.receipt.total.minor_units()).sum();
            prop_assert_eq!(d.gross_amount.minor_units(), gross);
            prop_assert_eq!(d.tax_amount.minor_units(), sales.iter().map(|s| s.receipt.tax_total.minor_units()).sum::<i64>());
            prop_assert_eq!(d.sales_count, sales.len() as u64);
            let m = d.by_payment_method;
            prop_assert_eq!(m.cash.minor_units() + m.card.minor_units() + m.mobile.minor_units(), gross);
            prop_assert!(m.cash.minor_units() >= 0);
            prop_assert_eq!(d.by_hour.len(), 24);
            prop_assert_eq!(d.by_hour.iter().map(|h| h.gross_amount.minor_units()).sum::<i64>(), gross);
            prop_assert_eq!(d.by_hour.iter().map(|h| h.sales_count).sum::<u64>(), sales.len() as u64);
            prop_assert_eq!(d.commodities.values().map(|c| c.amount.minor_units()).sum::<i64>(), gross);
            let lines = sales.iter().flat_map(|s| &s.receipt.lines);
            let items: i64 = lines.map(|l| l.quantity.unwrap_or(1)).sum();
            prop_assert_eq!(d.items_sold, items);
            prop_assert_eq!(d.as_of, sales.iter().map(|s| s.receipt.created_at).max());
            let report = store_report(&s001(), day(), Some(&d));
            prop_assert_eq!(report.by_hour.iter().map(|h| h.gross_amount.minor_units()).sum::<i64>(), gross);
            prop_assert!(report.top_commodities.len() <= TOP_COMMODITIES);
            prop_assert!(report.top_commodities.windows(2).all(|w| (std::cmp::Reverse(w[0].amount), &w[0].sku) < (std::cmp::Reverse(w[1].amount), &w[1].sku)));
        }

        #[test]
        fn folding_the_same_sales_in_any_order_gives_the_same_day(
            sales in arb_day(),
            order in any::<proptest::sample::Index>(),
        ) {
            let forward = fold_all(&sales);
            prop_assert_eq!(&fold_all(sales.iter().rev()), &forward);
            // Any rotation of the stream, and one with the middle sales moved to the front.
            let k = order.index(sales.len());
            let rotated: Vec<&SaleRecord> = sales[k..].iter().chain(&sales[..k]).collect();
            prop_assert_eq!(&fold_all(rotated), &forward);
            let mut shuffled = sales.clone();
            shuffled.sort_by_key(|s| (s.receipt.total, s.local_hour));
            prop_assert_eq!(&fold_all(&shuffled), &forward);
        }

        #[test]
        fn the_chain_totals_are_the_sum_of_its_stores(per_store in proptest::collection::vec(proptest::option::of(arb_day()), 1..6)) {
            let stores: Vec<Store> = (0..per_store.len())
                .map(|i| Store::new(StoreId::parse(&format!("S{i:03}")).unwrap(), "Shop", RegionId::parse("EAST").unwrap(), None).unwrap())
                .collect();
            let days: BTreeMap<StoreId, StoreDay> = per_store
                .iter()
                .zip(&stores)
                .filter_map(|(sales, store)| sales.as_ref().map(|s| (store.store_id.clone(), fold_all(s))))
                .collect();
            let report = chain_report(day(), &stores, &days);
            prop_assert_eq!(report.stores.len(), stores.len());
            prop_assert_eq!(report.sales_count, report.stores.iter().map(|s| s.sales_count).sum::<u64>());
            prop_assert_eq!(report.gross_amount.minor_units(), report.stores.iter().map(|s| s.gross_amount.minor_units()).sum::<i64>());
            prop_assert_eq!(report.tax_amount.minor_units(), days.values().map(|d| d.tax_amount.minor_units()).sum::<i64>());
            for row in &report.stores {
                let d = days.get(&row.store_id);
                prop_assert_eq!(row.gross_amount, d.map(|d| d.gross_amount).unwrap_or_default());
                prop_assert_eq!(row.sales_count, d.map(|d| d.sales_count).unwrap_or(0));
            }
        }
    }
}
