//! A till identifies and prices what it scans: one commodity by sku or by barcode, or up to
//! [`MAX_LOOKUP`] at once, as seen from its store now.

use chrono::{DateTime, Utc};
use std::collections::HashMap;

use crate::domain::{Barcode, CatalogRefusal, Invalid, NotFound, Scan, Sku, Store};
use crate::store::{CommodityView, Failure, LookupStore};

/// Most skus and barcodes one batch lookup may ask for, together.
pub const MAX_LOOKUP: usize = 100;

pub type LookupResult<T> = Result<T, Failure<CatalogRefusal>>;

/// A batch lookup's size: 1 to [`MAX_LOOKUP`] skus and barcodes together.
pub fn check_lookup_size(asked: usize) -> Result<(), Invalid> {
    if (1..=MAX_LOOKUP).contains(&asked) {
        Ok(())
    } else {
        Err(Invalid::request(format!("ask for 1 to {MAX_LOOKUP} skus and barcodes together, not {asked}")))
    }
}

/// One commodity by sku, as `store` sees it at `now`.
pub async fn by_sku<S: LookupStore>(db: &S, store: &Store, sku: &Sku, now: DateTime<Utc>) -> LookupResult<CommodityView> {
    let views = db.commodity_views(store, std::slice::from_ref(sku), now).await?;
    Ok(views.into_iter().next().flatten().ok_or_else(|| NotFound::commodity(sku))?)
}

/// The one commodity a scanned barcode names; a barcode several skus share is refused with
/// their list, so the till can ask which was meant.
pub async fn by_barcode<S: LookupStore>(db: &S, store: &Store, scan: &Scan, now: DateTime<Utc>) -> LookupResult<CommodityView> {
    let holders = db.skus_by_barcode(std::slice::from_ref(&scan.barcode)).await?;
    let sku = match holders.get(&scan.barcode).map(Vec::as_slice).unwrap_or_default() {
        [] => return Err(NotFound(format!("no commodity has barcode {}", scan.scanned)).into()),
        [one] => one,
        many => {
            return Err(CatalogRefusal::AmbiguousBarcode {
                barcode: scan.scanned.clone(),
                skus: many.iter().map(ToString::to_string).collect(),
            }
            .into());
        }
    };
    by_sku(db, store, sku, now).await
}

/// What a batch lookup found: per sku asked, its commodity or none; per barcode asked, every
/// commodity that holds it (several for a shared manufacturer's code, none when unknown).
pub struct Found {
    pub by_sku: Vec<Option<CommodityView>>,
    pub by_barcode: Vec<Vec<CommodityView>>,
}

/// Looks up skus and scanned barcodes together: the barcodes' holders in one read, then one
/// read for every sku asked for by name or reached by a barcode.
pub async fn look_up<S: LookupStore>(db: &S, store: &Store, skus: &[Sku], scans: &[Scan], now: DateTime<Utc>) -> LookupResult<Found> {
    let barcodes: Vec<Barcode> = scans.iter().map(|s| s.barcode.clone()).collect();
    let holders = if barcodes.is_empty() { HashMap::new() } else { db.skus_by_barcode(&barcodes).await? };
    let mut wanted: Vec<Sku> = skus.to_vec();
    for scan in scans {
        wanted.extend(holders.get(&scan.barcode).into_iter().flatten().cloned());
    }
    wanted.sort();
    wanted.dedup();
    let views = db.commodity_views(store, &wanted, now).await?;
    let found: HashMap<&Sku, &CommodityView> =
        wanted.iter().zip(&views).filter_map(|(sku, v)| v.as_ref().map(|v| (sku, v))).collect();
    Ok(Found {
        by_sku: skus.iter().map(|sku| found.get(sku).map(|v| (*v).clone())).collect(),
        by_barcode: scans
            .iter()
            .map(|scan| holders.get(&scan.barcode).into_iter().flatten().filter_map(|sku| found.get(sku).map(|v| (*v).clone())).collect())
            .collect(),
    })
}
