//! Pricing a basket: each line from the price in force at the sale's time, to the cent.

use std::sync::Arc;

use super::draft::{CheckedSale, LineItem, line_problem};
use super::receipt::ReceiptLine;
use crate::domain::{Commodity, FxMap};
use crate::domain::barcode::Embedded;
use crate::domain::catalog::{Store, Unit};
use crate::domain::ids::Sku;
use crate::domain::money::{Money, div_round_half_away};
use crate::domain::price::{PriceAdjustment, Schedule, price_in_force};
use crate::domain::promotion::{AppliedPromotion, Promotion, PromotionLine, apply_promotions};
use crate::domain::refusal::SaleRefusal;
use crate::domain::stock::StockPolicy;

/// What the catalog says about the skus a basket names, as seen from its store.
pub struct BasketCatalog<'a> {
    pub commodities: &'a FxMap<Sku, (Arc<Commodity>, Schedule)>,
    /// For each scanned barcode, the skus that hold it.
    pub barcodes: &'a FxMap<String, Vec<Sku>>,
    /// The chain's promotions that may be in force (those for the store and the sale's moment
    /// are picked here).
    pub promotions: &'a [Arc<Promotion>],
}

/// How much of a sku a basket takes, in units or grams, with its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockTake {
    pub sku: Sku,
    pub policy: StockPolicy,
    pub amount: i64,
    /// How many items the sku's stock is split over (the commodity's `stock_shards()`).
    pub shards: u16,
}

/// A basket priced to the cent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedBasket {
    pub lines: Vec<ReceiptLine>,
    /// The promotions that took something off, in the order they applied.
    pub promotions: Vec<AppliedPromotion>,
    pub discount_total: Money,
    /// The sum of the lines' net amounts.
    pub total: Money,
    pub tax_total: Money,
    /// Per sku in order of first appearance.
    pub takes: Vec<StockTake>,
}

enum Measure {
    Units(i64),
    Grams(i64),
}

struct Resolved<'a> {
    index: usize,
    commodity: &'a Commodity,
    prices: &'a [Arc<PriceAdjustment>],
    measure: Measure,
    embedded_amount: Option<Money>,
}

/// `round(amount × rate / (10000 + rate))`: the tax inside a tax-inclusive amount.
pub fn tax_included(amount: Money, rate_bp: i64) -> Money {
    Money::from_minor_units(div_round_half_away(i128::from(amount.minor_units()) * i128::from(rate_bp), i128::from(10_000 + rate_bp)) as i64)
}

/// A weighed line: the price per kg times the grams, rounded once.
pub fn weighed_amount(per_kg: Money, grams: i64) -> Money {
    Money::from_minor_units(div_round_half_away(i128::from(per_kg.minor_units()) * i128::from(grams), 1000) as i64)
}

/// Prices every line from the price in force at the sale's time, in the contract's order of
/// refusals: a line that does not fit its unit (400), an unknown or ambiguous item (422), no
/// price in force (422). Lines of one sku priced the same way are merged before rounding;
/// embedded-price labels are never merged.
pub fn price_basket(sale: &CheckedSale, store: &Store, catalog: &BasketCatalog<'_>) -> Result<PricedBasket, SaleRefusal> {
    let fail = |line: usize, refusal: SaleRefusal| refusal.at_line(line);
    // Which commodity each line names (None: unknown or ambiguous, refused after unit checks).
    let mut named: Vec<Result<&(Arc<Commodity>, Schedule), SaleRefusal>> =
        Vec::with_capacity(sale.lines.len());
    for line in &sale.lines {
        named.push(match &line.item {
            LineItem::Sku(sku) => catalog
                .commodities
                .get(sku)
                .ok_or_else(|| SaleRefusal::UnknownCommodity(format!("no commodity {sku}"))),
            LineItem::Scan(scan) => match catalog.barcodes.get(scan.barcode.as_str()).map(Vec::as_slice) {
                None | Some([]) => Err(SaleRefusal::UnknownCommodity(format!("no commodity has barcode {}", scan.scanned))),
                Some([sku]) => catalog
                    .commodities
                    .get(sku)
                    .ok_or_else(|| SaleRefusal::UnknownCommodity(format!("no commodity {sku}"))),
                Some(many) => Err(SaleRefusal::AmbiguousBarcode {
                    barcode: scan.scanned.clone(),
                    skus: many.iter().map(ToString::to_string).collect(),
                }),
            },
        });
    }
    // 400s first: each known line must fit its unit.
    let mut resolved = Vec::with_capacity(sale.lines.len());
    for (index, (line, found)) in sale.lines.iter().zip(&named).enumerate() {
        let Ok((commodity, prices)) = found else { continue };
        let embedded = match &line.item {
            LineItem::Scan(scan) => scan.embedded,
            LineItem::Sku(_) => None,
        };
        let bad = |why: &str| line_problem(index, format!("{}: {why}", commodity.sku));
        let (measure, embedded_amount) = match (commodity.unit, embedded) {
            (Unit::Each, Some(Embedded::Amount(amount))) => {
                if line.weight_grams.is_some() {
                    return Err(bad("sold by the piece, so it takes no weightGrams"));
                }
                if line.quantity.is_some_and(|q| q != 1) {
                    return Err(bad("a price label is one item; scan each label"));
                }
                (Measure::Units(1), Some(amount))
            }
            (Unit::Each, _) => {
                if line.weight_grams.is_some() {
                    return Err(bad("sold by the piece, so it takes quantity, not weightGrams"));
                }
                (Measure::Units(line.quantity.unwrap_or(1)), None)
            }
            (Unit::Kg, Some(Embedded::WeightGrams(grams))) => {
                if line.quantity.is_some() || line.weight_grams.is_some() {
                    return Err(bad("the weight is on the label; send neither quantity nor weightGrams"));
                }
                (Measure::Grams(grams), None)
            }
            (Unit::Kg, _) => {
                if line.quantity.is_some() {
                    return Err(bad("sold by weight, so it takes weightGrams, not quantity"));
                }
                let grams = line.weight_grams.ok_or_else(|| bad("sold by weight: weightGrams is required"))?;
                (Measure::Grams(grams), None)
            }
        };
        resolved.push(Resolved { index, commodity, prices, measure, embedded_amount });
    }
    // Then 422s in line order: unknown or ambiguous items.
    if let Some((index, Err(e))) = named.iter().enumerate().find(|(_, n)| n.is_err()) {
        return Err(fail(index, e.clone()));
    }
    // Merge, then price each merged line once.
    struct Merged<'c> {
        commodity: &'c Commodity,
        measure: i64,
        /// None for an embedded-price label, which is never merged.
        price: Option<&'c PriceAdjustment>,
        embedded_amount: Money,
    }
    let mut merged: Vec<Merged<'_>> = Vec::with_capacity(resolved.len());
    let mut merged_at: FxMap<&Sku, usize> = FxMap::with_capacity_and_hasher(resolved.len(), Default::default());
    let mut takes: Vec<StockTake> = Vec::new();
    let mut take_at: FxMap<&Sku, usize> = FxMap::with_capacity_and_hasher(resolved.len(), Default::default());
    for r in &resolved {
        let c = r.commodity;
        let measure = match r.measure {
            Measure::Units(n) | Measure::Grams(n) => n,
        };
        match take_at.get(&c.sku) {
            Some(&i) => takes[i].amount += measure,
            None => {
                take_at.insert(&c.sku, takes.len());
                takes.push(StockTake { sku: c.sku.clone(), policy: c.stock_policy, amount: measure, shards: c.stock_shards().get() });
            }
        }
        if let Some(amount) = r.embedded_amount {
            merged.push(Merged { commodity: c, measure, price: None, embedded_amount: amount });
            continue;
        }
        if let Some(&at) = merged_at.get(&c.sku) {
            merged[at].measure += measure;
            continue;
        }
        let price = price_in_force(r.prices, store, sale.occurred_at).ok_or_else(|| {
            fail(r.index, SaleRefusal::NoPrice(format!("no price in force for {} at the sale's time", c.sku)))
        })?;
        merged_at.insert(&c.sku, merged.len());
        merged.push(Merged { commodity: c, measure, price: Some(price), embedded_amount: Money::ZERO });
    }
    let mut lines: Vec<ReceiptLine> = Vec::with_capacity(merged.len());
    for m in &merged {
        let c = m.commodity;
        let line = match m.price {
            None => ReceiptLine {
                sku: c.sku.clone(),
                name: c.name.clone(),
                quantity: Some(1),
                weight_grams: None,
                unit_amount: m.embedded_amount,
                line_amount: m.embedded_amount,
                discount_amount: Money::ZERO,
                net_amount: m.embedded_amount,
                tax_amount: Money::ZERO,
                adjustment_id: None,
            },
            Some(price) => {
                let (quantity, weight_grams, line_amount) = match c.unit {
                    Unit::Each => (Some(m.measure), None, Money::from_minor_units(price.amount.minor_units() * m.measure)),
                    Unit::Kg => (None, Some(m.measure), weighed_amount(price.amount, m.measure)),
                };
                ReceiptLine {
                    sku: c.sku.clone(),
                    name: c.name.clone(),
                    quantity,
                    weight_grams,
                    unit_amount: price.amount,
                    line_amount,
                    discount_amount: Money::ZERO,
                    net_amount: line_amount,
                    tax_amount: Money::ZERO,
                    adjustment_id: Some(price.id.text()),
                }
            }
        };
        lines.push(line);
    }
    // Promotions after per-line prices, then tax on what is left of each line.
    let in_force: Vec<&Promotion> =
        catalog.promotions.iter().map(Arc::as_ref).filter(|p| p.in_force_for(store, sale.occurred_at)).collect();
    let mut applied = Vec::new();
    if !in_force.is_empty() {
        let seen: Vec<PromotionLine<'_>> = merged
            .iter()
            .zip(&lines)
            .map(|(m, l)| PromotionLine {
                sku: &l.sku,
                category: m.commodity.category(),
                unit_amount: l.unit_amount,
                line_amount: l.line_amount,
                units: if m.price.is_some() { l.quantity } else { None },
                embedded: m.price.is_none(),
            })
            .collect();
        let discounts = apply_promotions(&seen, &in_force);
        for (line, discount) in lines.iter_mut().zip(discounts.lines) {
            line.discount_amount = discount;
            line.net_amount = line.line_amount - discount;
        }
        applied = discounts.applied;
    }
    let mut total = 0i64;
    let mut tax_total = 0i64;
    let mut discount_total = 0i64;
    for (line, m) in lines.iter_mut().zip(&merged) {
        line.tax_amount = tax_included(line.net_amount, m.commodity.tax_rate.basis_points());
        total += line.net_amount.minor_units();
        tax_total += line.tax_amount.minor_units();
        discount_total += line.discount_amount.minor_units();
    }
    Ok(PricedBasket {
        lines,
        promotions: applied,
        discount_total: Money::from_minor_units(discount_total),
        total: Money::from_minor_units(total),
        tax_total: Money::from_minor_units(tax_total),
        takes,
    })
}
