//! Expiry housekeeping on PostgreSQL.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::storage::{PurgeReport, PurgeStore, StorageResult};

use super::{count as limit, PgStore};
use crate::codec::ts;
use crate::error::{retrying, DbError};

impl PgStore {
    /// Deletes up to `n` rows of `table` (keyed by `hash`) expired at
    /// `now`. Each kind is its own short statement: a batch locks only the
    /// rows it deletes, and SKIP LOCKED leaves rows that a token operation
    /// is using for the next call instead of waiting for them.
    async fn delete_expired(
        &self,
        table: &'static str,
        now: Timestamp,
        n: i64,
    ) -> Result<u64, DbError> {
        let sql = format!(
            "DELETE FROM {table} WHERE hash IN (SELECT hash FROM {table} \
             WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED)"
        );
        Ok(sqlx::query(&sql)
            .bind(ts(now))
            .bind(n)
            .execute(&self.pool)
            .await?
            .rows_affected())
    }

    async fn purge_once(&self, now: Timestamp, n: i64) -> Result<PurgeReport, DbError> {
        // Numbers pending events, so they do not pile up while nobody polls.
        super::events::sequence(&self.pool).await?;
        let challenges = self.delete_expired("lk_challenges", now, n).await?;
        let codes = self.delete_expired("lk_codes", now, n).await?;
        let access_tokens = self.delete_expired("lk_access_tokens", now, n).await?;
        let families: i64 = sqlx::query_scalar(
            "WITH f AS (DELETE FROM lk_families WHERE id IN (SELECT id FROM lk_families \
               WHERE expires_at <= $1 ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED) RETURNING id), \
             r AS (DELETE FROM lk_refresh_tokens WHERE family_id IN (SELECT id FROM f) RETURNING hash) \
             SELECT (SELECT count(*) FROM f) + 0 * (SELECT count(*) FROM r)",
        )
        .bind(ts(now))
        .bind(n)
        .fetch_one(&self.pool)
        .await?;
        let devices = self.delete_expired("lk_devices", now, n).await?;
        // Events every registered reader is done with: per-consumer cursors,
        // and for groups what was fed and not yet completed.
        let events = sqlx::query(
            "WITH floor AS (SELECT COALESCE(LEAST( \
               (SELECT min(seq) FROM lk_event_cursors), \
               (SELECT min(fed_seq) FROM lk_event_groups), \
               (SELECT min(seq) - 1 FROM lk_event_deliveries)), 0) AS s) \
             DELETE FROM lk_events WHERE seq IN (SELECT seq FROM lk_events, floor \
               WHERE seq <= floor.s ORDER BY seq LIMIT $1)",
        )
        .bind(n)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(PurgeReport {
            challenges,
            codes,
            access_tokens,
            families: u64::try_from(families).unwrap_or(0),
            events,
            devices,
        })
    }
}

#[async_trait]
impl PurgeStore for PgStore {
    async fn purge_expired(&self, now: Timestamp, limit_n: usize) -> StorageResult<PurgeReport> {
        retrying!(self.purge_once(now, limit(limit_n)))
    }
}
