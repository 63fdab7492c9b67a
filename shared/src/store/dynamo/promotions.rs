//! `PromotionStore` and `PromotionSchedule` on DynamoDB. Touches the promotions table, which
//! holds each promotion twice, written together: its record (`promotion#<id>`, read by id and
//! written only if its version is unchanged), and an entry in the one `schedule` partition
//! sorted by when it ends (`<validTo>#<id>`), so that a checkout reads only the promotions
//! that can still apply, however many have ended before, in one query.

use aws_sdk_dynamodb::types::{Delete, TransactWriteItem};
use chrono::{DateTime, Utc};

use crate::domain::catalog_feed::promotion_changes;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

use super::schema::*;
use super::write::{build_err, put};
use super::DynamoStore;
use crate::domain::{Promotion, PromotionId};
use crate::store::{PromotionSchedule, PromotionStore, StoreResult, Versioned};

/// The partition of the schedule entries.
const SCHEDULE_PK: &str = "schedule";

fn record_pk(id: &PromotionId) -> String {
    format!("promotion#{id}")
}

/// Sorts as time does: fixed width, every fraction digit written.
fn ends_key(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.9fZ").to_string()
}

fn schedule_sk(p: &Promotion) -> String {
    format!("{}#{}", ends_key(&p.valid_to), p.id)
}

#[derive(Serialize, Deserialize)]
struct RecordItem {
    pk: String,
    sk: String,
    version: u64,
    promotion: Promotion,
}

#[derive(Serialize, Deserialize)]
struct ScheduleItem {
    pk: String,
    sk: String,
    promotion: Promotion,
}

impl PromotionSchedule for DynamoStore {
    /// One query of the schedule, from `after` on (strongly consistent, so a promotion stored
    /// before the query started is in it).
    async fn promotions_ending_after(&self, after: DateTime<Utc>) -> StoreResult<Vec<Promotion>> {
        let values = HashMap::from([(":pk".to_owned(), s(SCHEDULE_PK)), (":after".to_owned(), s(ends_key(&after)))]);
        let items = self.query_all(&self.tables.promotions, Some(("pk = :pk AND sk > :after", values))).await?;
        let mut promotions = items
            .into_iter()
            .map(|i| from_item::<ScheduleItem>("promotion schedule entry", i).map(|e| e.promotion))
            .collect::<StoreResult<Vec<_>>>()?;
        promotions.retain(|p| p.valid_to > after);
        promotions.sort_by(|a, b| a.id.cmp(&b.id));
        Ok(promotions)
    }
}

impl PromotionStore for DynamoStore {
    async fn promotion(&self, id: &PromotionId) -> StoreResult<Option<Versioned<Promotion>>> {
        let Some(item) = self.get(&self.tables.promotions, key(record_pk(id), Some(ONLY))).await? else { return Ok(None) };
        let record: RecordItem = from_item("promotion", item)?;
        Ok(Some(Versioned { value: record.promotion, version: record.version }))
    }

    /// One transaction: the record (if its version is still `replacing`'s), the schedule entry,
    /// and the removal of the entry the promotion had when it ended at another time.
    async fn put_promotion(&self, promotion: &Promotion, replacing: Option<&Versioned<Promotion>>) -> StoreResult<bool> {
        let table = &self.tables.promotions;
        let version = replacing.map_or(0, |p| p.version);
        let record = to_item(
            "promotion",
            &RecordItem { pk: record_pk(&promotion.id), sk: ONLY.to_owned(), version: version + 1, promotion: promotion.clone() },
        )?;
        let condition = if version == 0 { "attribute_not_exists(pk)" } else { "version = :v" };
        let mut tx = vec![super::write::versioned_put(table, record, Some(condition), (version > 0).then_some(version))?];
        let entry = ScheduleItem { pk: SCHEDULE_PK.to_owned(), sk: schedule_sk(promotion), promotion: promotion.clone() };
        tx.push(put(table, to_item("promotion schedule entry", &entry)?, None)?);
        if let Some(old) = replacing.map(|p| schedule_sk(&p.value)).filter(|old| *old != entry.sk) {
            let delete = Delete::builder().table_name(table).set_key(Some(key(SCHEDULE_PK, Some(&old)))).build().map_err(build_err)?;
            tx.push(TransactWriteItem::builder().delete(delete).build());
        }
        // A lost condition or a conflict alike: the caller reads again and judges afresh.
        if self.transact(tx).await?.is_err() {
            return Ok(false);
        }
        self.record_changes(&promotion_changes(promotion, replacing.map(|p| &p.value), Utc::now())).await?;
        Ok(true)
    }
}
