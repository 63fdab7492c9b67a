//! Stores and commodities: what head office sets up before anything is sold.

use chrono_tz::Tz;
use std::sync::Arc;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

use super::barcode::{Barcode, BarcodeKind};
use super::ids::{RegionId, Sku, StoreId};
use super::refusal::{CatalogRefusal, Invalid};
pub use super::stock::StockPolicy;
use super::stock::StockShards;

/// Where a store's business days and hours are counted unless it says otherwise.
pub const DEFAULT_TIMEZONE: Tz = chrono_tz::Asia::Shanghai;

pub(crate) const MAX_NAME: usize = 200;
pub(crate) const MAX_CATEGORY: usize = 100;
/// Enough for every pack size a manufacturer prints, small enough to keep an item small.
pub const MAX_BARCODES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Store {
    pub store_id: StoreId,
    pub name: String,
    pub region: RegionId,
    #[serde(serialize_with = "serialize_tz")]
    pub timezone: Tz,
}

fn serialize_tz<S: serde::Serializer>(tz: &Tz, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(tz.name())
}

pub(crate) fn checked_text(what: &str, raw: &str, max: usize) -> Result<String, Invalid> {
    if raw.trim().is_empty() {
        return Err(Invalid::request(format!("{what} must not be empty")));
    }
    if raw.chars().count() > max {
        return Err(Invalid::request(format!("{what} is longer than {max} characters")));
    }
    Ok(raw.to_owned())
}

impl Store {
    pub fn new(store_id: StoreId, name: &str, region: RegionId, timezone: Option<&str>) -> Result<Self, Invalid> {
        let timezone = match timezone {
            None => DEFAULT_TIMEZONE,
            Some(name) => name
                .parse::<Tz>()
                .map_err(|_| Invalid::request(format!("timezone {name:?} is not an IANA time zone name")))?,
        };
        Ok(Store { store_id, name: checked_text("name", name, MAX_NAME)?, region, timezone })
    }
}

/// How a commodity is sold: by the piece, or by weight with its price per kg.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    Each,
    Kg,
}

/// Tax included in a price, in basis points (1300 = 13 %).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TaxRate(u16);

impl TaxRate {
    pub fn new(bp: i64) -> Result<Self, Invalid> {
        if (0..=10_000).contains(&bp) {
            Ok(TaxRate(bp as u16))
        } else {
            Err(Invalid::request(format!("taxRateBp {bp} must be between 0 and 10000")))
        }
    }

    pub fn basis_points(self) -> i64 {
        i64::from(self.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Commodity {
    pub(crate) sku: Sku,
    /// Shared: every receipt line that sells it carries it.
    pub(crate) name: Arc<str>,
    pub(crate) unit: Unit,
    #[serde(rename = "taxRateBp")]
    pub(crate) tax_rate: TaxRate,
    pub(crate) barcodes: Vec<Barcode>,
    pub(crate) category: Option<String>,
    pub(crate) stock_policy: StockPolicy,
    pub(crate) allow_shared_barcodes: bool,
    /// How many items its stock is split over in each store, as head office set it; None
    /// for the automatic choice (`stock_shards()`).
    #[serde(skip)]
    pub(crate) stock_shards_setting: Option<StockShards>,
}

/// A commodity as stored, as head office reads it back and a till syncs it: with the stock
/// split in force (head office's or the automatic one).
#[derive(Debug, Clone, Copy)]
pub struct StoredCommodity<'a>(pub &'a Commodity);

impl Serialize for StoredCommodity<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Wire<'a> {
            #[serde(flatten)]
            commodity: &'a Commodity,
            stock_shards: u16,
        }
        Wire { commodity: self.0, stock_shards: self.0.stock_shards().get() }.serialize(s)
    }
}

/// Read-only outside retail-core: a commodity is built by `from_draft` (head office's checked
/// draft) or read back by a store adapter, so its fields always hold what those checked.
impl Commodity {
    pub fn sku(&self) -> &Sku {
        &self.sku
    }

    pub fn name(&self) -> &Arc<str> {
        &self.name
    }

    pub fn unit(&self) -> Unit {
        self.unit
    }

    pub fn tax_rate(&self) -> TaxRate {
        self.tax_rate
    }

    pub fn barcodes(&self) -> &[Barcode] {
        &self.barcodes
    }

    pub fn category(&self) -> Option<&str> {
        self.category.as_deref()
    }

    pub fn stock_policy(&self) -> StockPolicy {
        self.stock_policy
    }

    pub fn allows_shared_barcodes(&self) -> bool {
        self.allow_shared_barcodes
    }

    /// How many items its stock is split over in each store: head office's setting, else
    /// `StockShards::STRICT` for strict stock (flash-sale items) and one for tracked stock.
    pub fn stock_shards(&self) -> StockShards {
        self.stock_shards_setting.unwrap_or(match self.stock_policy {
            StockPolicy::Strict => StockShards::STRICT,
            StockPolicy::Track => StockShards::ONE,
        })
    }
}

/// A commodity as head office sends it, before its rules are checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CommodityDraft {
    pub name: String,
    pub unit: Unit,
    pub tax_rate_bp: i64,
    pub barcodes: Vec<String>,
    #[serde(default)]
    pub category: Option<String>,
    pub stock_policy: StockPolicy,
    #[serde(default)]
    pub allow_shared_barcodes: Option<bool>,
    /// How many items each store's stock of it is split over (1 to `MAX_STOCK_SHARDS`);
    /// absent or null for the automatic choice.
    #[serde(default)]
    pub stock_shards: Option<i64>,
}

impl Commodity {
    /// Checks a draft: names, tax rate, every barcode valid, no barcode twice, in-store codes
    /// on the unit they measure (`21…` weighed items, `23…` items sold by the piece).
    pub fn from_draft(sku: Sku, draft: CommodityDraft) -> Result<Self, CatalogRefusal> {
        let name = checked_text("name", &draft.name, MAX_NAME)?;
        let category = draft.category.as_deref().map(|c| checked_text("category", c, MAX_CATEGORY)).transpose()?;
        let tax_rate = TaxRate::new(draft.tax_rate_bp)?;
        let stock_shards_setting = draft.stock_shards.map(StockShards::parse).transpose()?;
        if draft.barcodes.len() > MAX_BARCODES {
            return Err(Invalid::request(format!("at most {MAX_BARCODES} barcodes")).into());
        }
        // Every code is checked (400) before any pairing with the unit (422): the contract's order.
        let mut barcodes = Vec::with_capacity(draft.barcodes.len());
        let mut seen = HashSet::new();
        for raw in &draft.barcodes {
            let barcode = Barcode::register(raw)?;
            if !seen.insert(barcode.clone()) {
                return Err(Invalid::request(format!("barcode {raw} is listed twice")).into());
            }
            barcodes.push(barcode);
        }
        for barcode in &barcodes {
            let fits = match barcode.kind() {
                BarcodeKind::Standard => true,
                BarcodeKind::EmbeddedWeight => draft.unit == Unit::Kg,
                BarcodeKind::EmbeddedPrice => draft.unit == Unit::Each,
            };
            if !fits {
                return Err(CatalogRefusal::UnitMismatch(format!(
                    "barcode {barcode} is an in-store {} code and cannot be bound to a commodity sold by {}",
                    if barcode.kind() == BarcodeKind::EmbeddedWeight { "weight" } else { "price" },
                    if draft.unit == Unit::Kg { "weight" } else { "the piece" },
                )));
            }
        }
        Ok(Commodity {
            sku,
            name: name.into(),
            unit: draft.unit,
            tax_rate,
            barcodes,
            category,
            stock_policy: draft.stock_policy,
            allow_shared_barcodes: draft.allow_shared_barcodes.unwrap_or(false),
            stock_shards_setting,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(unit: Unit, barcodes: &[&str]) -> CommodityDraft {
        CommodityDraft {
            name: "Apples".into(),
            unit,
            tax_rate_bp: 900,
            barcodes: barcodes.iter().map(|s| s.to_string()).collect(),
            category: None,
            stock_policy: StockPolicy::Track,
            allow_shared_barcodes: None,
            stock_shards: None,
        }
    }

    #[test]
    fn strict_stock_is_split_by_default_and_head_office_may_choose() {
        let sku = Sku::parse("FLASH").unwrap();
        let strict = CommodityDraft { stock_policy: StockPolicy::Strict, ..draft(Unit::Each, &[]) };
        assert_eq!(Commodity::from_draft(sku.clone(), strict.clone()).unwrap().stock_shards(), StockShards::STRICT);
        assert_eq!(Commodity::from_draft(sku.clone(), draft(Unit::Each, &[])).unwrap().stock_shards(), StockShards::ONE);
        let chosen = CommodityDraft { stock_shards: Some(3), ..strict.clone() };
        assert_eq!(Commodity::from_draft(sku.clone(), chosen).unwrap().stock_shards().get(), 3);
        for bad in [0, 33, -1] {
            let refused = Commodity::from_draft(sku.clone(), CommodityDraft { stock_shards: Some(bad), ..strict.clone() });
            assert!(matches!(refused, Err(CatalogRefusal::Invalid(Invalid::Request(_)))), "{bad}");
        }
    }

    #[test]
    fn in_store_codes_must_match_the_unit() {
        let sku = Sku::parse("APPLE").unwrap();
        assert!(Commodity::from_draft(sku.clone(), draft(Unit::Kg, &["2112345"])).is_ok());
        assert!(matches!(
            Commodity::from_draft(sku.clone(), draft(Unit::Each, &["2112345"])),
            Err(CatalogRefusal::UnitMismatch(_))
        ));
        assert!(matches!(
            Commodity::from_draft(sku.clone(), draft(Unit::Kg, &["2312345"])),
            Err(CatalogRefusal::UnitMismatch(_))
        ));
        assert!(Commodity::from_draft(sku, draft(Unit::Each, &["2312345"])).is_ok());
    }

    #[test]
    fn an_invalid_code_is_reported_before_a_unit_mismatch() {
        let r = Commodity::from_draft(Sku::parse("X").unwrap(), draft(Unit::Each, &["2112345", "12345"]));
        assert!(matches!(r, Err(CatalogRefusal::Invalid(Invalid::Barcode(_)))));
    }

    #[test]
    fn a_upc_and_its_ean13_are_the_same_barcode() {
        let sku = Sku::parse("COLA").unwrap();
        let r = Commodity::from_draft(sku, draft(Unit::Each, &["036000291452", "0036000291452"]));
        assert!(matches!(r, Err(CatalogRefusal::Invalid(Invalid::Request(_)))));
    }

    #[test]
    fn stores_default_to_shanghai_and_refuse_unknown_zones() {
        let s = Store::new(StoreId::parse("S1").unwrap(), "Binjiang", RegionId::parse("EAST").unwrap(), None).unwrap();
        assert_eq!(s.timezone, chrono_tz::Asia::Shanghai);
        assert!(Store::new(StoreId::parse("S1").unwrap(), "B", RegionId::parse("E").unwrap(), Some("Mars/Base")).is_err());
        assert!(Store::new(StoreId::parse("S1").unwrap(), " ", RegionId::parse("E").unwrap(), None).is_err());
    }
}
