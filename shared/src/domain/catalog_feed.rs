//! Till catalog sync (API.md, "Till catalog sync"): head office's changes, recorded once for the
//! scope they reach (the chain, a region, a store), and the cursor a till pages and polls with.
//!
//! A change names what changed (a commodity, a sku's prices, a promotion, a store); a till is
//! sent its state as it is when the till asks, never the change itself. So a change sent twice
//! is harmless, and the order of changes matters only in that the last one sent wins, which it
//! does because it carries the latest state. That is what lets the feed be read from a little
//! before where a till last stopped ([`RESEND_WINDOW`]) and so never skip a change whose writer
//! committed it late.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize, Serializer};
use std::sync::Arc;

use super::catalog::StoredCommodity;
use super::price::{AdjustmentId, PriceAdjustment, PriceScope};
use super::promotion::Promotion;
use super::time::{instant, optional_instant};
use super::{CatalogRefusal, Commodity, Invalid, Money, PromotionId, RegionId, Sku, Store, StoreId};

/// A delta reads the feed from this long before the end of the last read. A change is
/// recorded with its writer's clock and may commit up to a few seconds later (a request's
/// timeout); clocks agree to milliseconds. Changes of that last minute come again in the next
/// poll, which costs a little and loses nothing.
pub const RESEND_WINDOW: Duration = Duration::seconds(60);
/// How long a cursor stays valid (older: 410 `cursor_expired`).
pub const CURSOR_LIFETIME: Duration = Duration::days(7);
/// How long the feed keeps a change: a cursor's lifetime, a walk through the catalog, and the
/// resend window, with a day to spare.
pub const FEED_RETENTION: Duration = Duration::days(8);
/// The most a page's `changes` weigh as JSON; the page ends before the change that would pass it.
pub const MAX_PAGE_BYTES: usize = 1_000_000;
pub const DEFAULT_LIMIT: usize = 500;
pub const MAX_LIMIT: usize = 1000;
/// Longer than any cursor this API gives.
const MAX_CURSOR_LENGTH: usize = 1024;

/// What a change names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Changed {
    Commodity(Sku),
    Prices(Sku),
    Promotion(PromotionId),
    Store(StoreId),
}

impl Changed {
    /// `commodity#SKU`, `prices#SKU`, `promotion#ID`, `store#ID` (no id holds a `#`).
    pub fn key(&self) -> String {
        match self {
            Changed::Commodity(s) => format!("commodity#{s}"),
            Changed::Prices(s) => format!("prices#{s}"),
            Changed::Promotion(p) => format!("promotion#{p}"),
            Changed::Store(s) => format!("store#{s}"),
        }
    }

    pub fn parse_key(raw: &str) -> Option<Changed> {
        let (kind, id) = raw.split_once('#')?;
        Some(match kind {
            "commodity" => Changed::Commodity(Sku::parse(id).ok()?),
            "prices" => Changed::Prices(Sku::parse(id).ok()?),
            "promotion" => Changed::Promotion(PromotionId::parse(id).ok()?),
            "store" => Changed::Store(StoreId::parse(id).ok()?),
            _ => return None,
        })
    }

    /// The sku it is about, for a commodity or its prices.
    pub fn sku(&self) -> Option<&Sku> {
        match self {
            Changed::Commodity(s) | Changed::Prices(s) => Some(s),
            _ => None,
        }
    }
}

/// Where a change stands in its scope's feed: its writer's clock to the microsecond, then what
/// it names, as text that sorts in that order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FeedPosition(String);

impl FeedPosition {
    pub fn of(at: DateTime<Utc>, changed: &Changed) -> Self {
        FeedPosition(format!("{:016}#{}", micros(at), changed.key()))
    }

    /// Before every change recorded at or after `at`, after every one recorded before it.
    pub fn before(at: DateTime<Utc>) -> Self {
        FeedPosition(format!("{:016}", micros(at)))
    }

    /// A bound (16 digits) or a change's position (16 digits, `#`, what it names).
    pub fn parse(raw: &str) -> Option<Self> {
        let (digits, changed) = match raw.split_once('#') {
            Some((digits, changed)) => (digits, Some(changed)),
            None => (raw, None),
        };
        let digits_ok = digits.len() == 16 && digits.bytes().all(|b| b.is_ascii_digit());
        (digits_ok && changed.is_none_or(|c| Changed::parse_key(c).is_some())).then(|| FeedPosition(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What the position names, for a change's own position (not one made by `before`).
    pub fn changed(&self) -> Option<Changed> {
        Changed::parse_key(self.0.split_once('#')?.1)
    }
}

fn micros(at: DateTime<Utc>) -> i64 {
    at.timestamp_micros().max(0)
}

/// A change as the feed holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    /// The scope it reaches: a store's tills read those of the chain, their region and their store.
    pub audience: PriceScope,
    pub position: FeedPosition,
    pub changed: Changed,
}

impl FeedEntry {
    pub fn new(audience: PriceScope, at: DateTime<Utc>, changed: Changed) -> Self {
        FeedEntry { audience, position: FeedPosition::of(at, &changed), changed }
    }
}

/// The entries a price batch's adjustments make: one per sku and scope, not one per line.
pub fn price_changes(adjustments: &[PriceAdjustment], at: DateTime<Utc>) -> Vec<FeedEntry> {
    let mut pairs: Vec<(&PriceScope, &Sku)> = adjustments.iter().map(|a| (&a.scope, &a.sku)).collect();
    pairs.sort();
    pairs.dedup();
    pairs.into_iter().map(|(scope, sku)| FeedEntry::new(scope.clone(), at, Changed::Prices(sku.clone()))).collect()
}

/// The entries a promotion's write makes: for the scope it reaches now and, when that moved,
/// the scope it reached before (whose tills must drop it).
pub fn promotion_changes(promotion: &Promotion, before: Option<&Promotion>, at: DateTime<Utc>) -> Vec<FeedEntry> {
    let changed = Changed::Promotion(promotion.id.clone());
    let mut entries = vec![FeedEntry::new(promotion.scope.clone(), at, changed.clone())];
    if let Some(old) = before.filter(|old| old.scope != promotion.scope) {
        entries.push(FeedEntry::new(old.scope.clone(), at, changed));
    }
    entries
}

/// Where a till stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// Walking the catalog in sku order, past `after` (`None`: at the start, where the store
    /// and its promotions come first); then the changes after `then`.
    Walk {
        after: Option<Sku>,
        then: FeedPosition,
        /// A walk again because the store moved region: its first page also takes back the
        /// promotions of other regions.
        rewalk: bool,
    },
    /// The changes after this position.
    Changes { after: FeedPosition },
}

/// A till's place in its store's catalog (opaque to the till).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogCursor {
    pub store: StoreId,
    /// The store's region when the till last had its prices: a move walks the catalog again,
    /// since other prices and promotions reach the store now.
    pub region: RegionId,
    pub issued: DateTime<Utc>,
    pub position: Position,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    s: String,
    r: String,
    /// Issued, Unix seconds.
    i: i64,
    /// A walk: after, then, again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    w: Option<(Option<String>, String, bool)>,
    /// Changes after.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    c: Option<String>,
}

impl CatalogCursor {
    pub fn encode(&self) -> String {
        let (w, c) = match &self.position {
            Position::Walk { after, then, rewalk } => {
                (Some((after.as_ref().map(|s| s.to_string()), then.0.clone(), *rewalk)), None)
            }
            Position::Changes { after } => (None, Some(after.0.clone())),
        };
        let wire = Wire { s: self.store.to_string(), r: self.region.to_string(), i: self.issued.timestamp(), w, c };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&wire).expect("a cursor serializes"))
    }

    /// A cursor this API gave for `store` (400 otherwise). Its age is checked apart
    /// ([`CatalogCursor::check_fresh`]), after the store is known to exist. Not signed: a till
    /// that forges one reads only its own store, which its token allows anyway; one issued in
    /// the future (beyond clock skew) is refused, so no cursor escapes its lifetime.
    pub fn decode(raw: &str, store: &StoreId) -> Result<CatalogCursor, Invalid> {
        Self::decode_at(raw, store, Utc::now())
    }

    pub fn decode_at(raw: &str, store: &StoreId, now: DateTime<Utc>) -> Result<CatalogCursor, Invalid> {
        let bad = || Invalid::request("cursor is not one this API gave: start again without one");
        if raw.len() > MAX_CURSOR_LENGTH {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| bad())?;
        let wire: Wire = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let cursor_store = StoreId::parse(&wire.s).map_err(|_| bad())?;
        if cursor_store != *store {
            return Err(Invalid::request(format!("this cursor belongs to store {cursor_store}, not {store}")));
        }
        let position = match (wire.w, wire.c) {
            (Some((after, then, rewalk)), None) => Position::Walk {
                after: after.map(|s| Sku::parse(&s)).transpose().map_err(|_| bad())?,
                then: FeedPosition::parse(&then).ok_or_else(bad)?,
                rewalk,
            },
            (None, Some(after)) => Position::Changes { after: FeedPosition::parse(&after).ok_or_else(bad)? },
            _ => return Err(bad()),
        };
        let issued = DateTime::from_timestamp(wire.i, 0).filter(|i| *i <= now + Duration::minutes(5)).ok_or_else(bad)?;
        Ok(CatalogCursor { store: cursor_store, region: RegionId::parse(&wire.r).map_err(|_| bad())?, issued, position })
    }

    /// 410 `cursor_expired` once older than [`CURSOR_LIFETIME`].
    pub fn check_fresh(&self, now: DateTime<Utc>) -> Result<(), CatalogRefusal> {
        if now - self.issued > CURSOR_LIFETIME {
            return Err(CatalogRefusal::CursorExpired(format!(
                "this cursor was given at {} and is older than 7 days: start again without one",
                super::time::format_instant(&self.issued)
            )));
        }
        Ok(())
    }
}

/// One change as a till receives it, with the state of what it names as of the page.
#[derive(Debug, Clone, PartialEq)]
pub enum CatalogChange {
    /// `None`: no longer sold.
    Commodity { sku: Sku, commodity: Option<Arc<Commodity>> },
    /// Every adjustment of the sku that reaches the store and is in force now or later, in
    /// ascending precedence: of those in force at a moment, the last listed is the price.
    Prices { sku: Sku, prices: Vec<PriceAdjustment> },
    /// `None`: no longer reaches the store, or over.
    Promotion { id: PromotionId, promotion: Option<Promotion> },
    Store(Store),
}

/// The adjustments a till of `store` needs from a sku's schedule at `now`: those that reach it
/// and are in force now or later, lowest precedence first.
pub fn till_prices<'a>(schedule: impl IntoIterator<Item = &'a PriceAdjustment>, store: &Store, now: DateTime<Utc>) -> Vec<PriceAdjustment> {
    let mut prices: Vec<PriceAdjustment> =
        schedule.into_iter().filter(|a| a.scope.reaches(store) && a.current_or_future_at(now)).cloned().collect();
    prices.sort_by(|a, b| a.precedence().cmp(&b.precedence()));
    prices
}

/// The price a till computes from what it was sent: of the adjustments in force at `at`, the
/// last listed.
pub fn till_price_at(prices: &[PriceAdjustment], at: DateTime<Utc>) -> Option<&PriceAdjustment> {
    prices.iter().rev().find(|a| a.in_force_at(at))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TillPrice<'a> {
    amount: Money,
    adjustment_id: &'a AdjustmentId,
    scope: &'a PriceScope,
    #[serde(with = "instant")]
    valid_from: DateTime<Utc>,
    #[serde(with = "optional_instant")]
    valid_to: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Wired<'a> {
    Commodity { sku: &'a Sku, commodity: Option<StoredCommodity<'a>> },
    Prices { sku: &'a Sku, prices: Vec<TillPrice<'a>> },
    #[serde(rename_all = "camelCase")]
    Promotion { promotion_id: &'a PromotionId, promotion: Option<&'a Promotion> },
    Store { store: &'a Store },
}

impl Serialize for CatalogChange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let wired = match self {
            CatalogChange::Commodity { sku, commodity } => {
                Wired::Commodity { sku, commodity: commodity.as_deref().map(StoredCommodity) }
            }
            CatalogChange::Prices { sku, prices } => Wired::Prices {
                sku,
                prices: prices
                    .iter()
                    .map(|a| TillPrice {
                        amount: a.amount,
                        adjustment_id: &a.id,
                        scope: &a.scope,
                        valid_from: a.valid_from,
                        valid_to: a.valid_to,
                    })
                    .collect(),
            },
            CatalogChange::Promotion { id, promotion } => Wired::Promotion { promotion_id: id, promotion: promotion.as_ref() },
            CatalogChange::Store(store) => Wired::Store { store },
        };
        wired.serialize(s)
    }
}

/// How many bytes a value takes as JSON, without keeping them.
pub fn json_size<T: Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    serde_json::to_writer(&mut count, value).expect("a change serializes");
    count.0
}

#[cfg(test)]
mod tests;
