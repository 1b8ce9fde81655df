//! Expiry housekeeping on MySQL/MariaDB.

use latchkey::clock::Timestamp;
use latchkey::storage::PurgeReport;
use sqlx::mysql::MySqlPool;

use crate::codec::{ts, Cols};
use crate::error::DbError;
use crate::qmark::repeat;

pub(super) async fn purge_once(
    pool: &MySqlPool,
    now: Timestamp,
    n: i64,
) -> Result<PurgeReport, DbError> {
    const MAX_FAMILY_BATCH: i64 = 10_000;
    // Single-table DELETE ... ORDER BY ... LIMIT walks the expiry index
    // and stops after `n` rows.
    let del = |sql: &'static str| sqlx::query(sql).bind(ts(now)).bind(n);
    let challenges =
        del("DELETE FROM lk_challenges WHERE expires_at <= ? ORDER BY expires_at LIMIT ?")
            .execute(pool)
            .await?
            .rows_affected();
    let codes = del("DELETE FROM lk_codes WHERE expires_at <= ? ORDER BY expires_at LIMIT ?")
        .execute(pool)
        .await?
        .rows_affected();
    let access_tokens =
        del("DELETE FROM lk_access_tokens WHERE expires_at <= ? ORDER BY expires_at LIMIT ?")
            .execute(pool)
            .await?
            .rows_affected();
    let devices = del("DELETE FROM lk_devices WHERE expires_at <= ? ORDER BY expires_at LIMIT ?")
        .execute(pool)
        .await?
        .rows_affected();
    let mut tx = crate::tx::begin(pool, None).await?;
    // The ids go into `IN (?, …)` lists; MySQL allows 65,535 placeholders
    // a statement, so a family batch is capped ("up to limit" allows it;
    // callers drain until a call reports nothing).
    let ids = sqlx::query(
        "SELECT id FROM lk_families WHERE expires_at <= ? ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED",
    )
    .bind(ts(now))
    .bind(n.min(MAX_FAMILY_BATCH))
    .fetch_all(&mut *tx)
    .await?
    .iter()
    .map(|r| Cols::text(r, "id"))
    .collect::<Result<Vec<String>, _>>()?;
    let mut families = 0;
    if !ids.is_empty() {
        let list = repeat("?", ids.len());
        let sql = format!("DELETE FROM lk_refresh_tokens WHERE family_id IN ({list})");
        let mut q = sqlx::query(&sql);
        for id in &ids {
            q = q.bind(id);
        }
        q.execute(&mut *tx).await?;
        let sql = format!("DELETE FROM lk_families WHERE id IN ({list})");
        let mut q = sqlx::query(&sql);
        for id in &ids {
            q = q.bind(id);
        }
        families = q.execute(&mut *tx).await?.rows_affected();
    }
    tx.commit().await?;
    // The floor is read inside the DELETE: read separately, a consumer
    // polling for the first time in between (cursor 0) would lose the
    // events between what it read and the stale floor.
    let events = sqlx::query(
        "DELETE FROM lk_events WHERE seq <= (SELECT COALESCE(MIN(seq), 0) FROM lk_event_cursors) \
         ORDER BY seq LIMIT ?",
    )
    .bind(n)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(PurgeReport {
        challenges,
        codes,
        access_tokens,
        families,
        events,
        devices,
    })
}

/// One batch of expired browser sessions: idle ones first, then those past
/// their absolute lifetime, each a single-table `DELETE … ORDER BY …
/// LIMIT` that walks its expiry index and stops after the batch.
pub(super) async fn purge_sessions(
    pool: &MySqlPool,
    idle_before: Timestamp,
    created_before: Timestamp,
    n: i64,
) -> Result<u64, DbError> {
    let idle = sqlx::query(
        "DELETE FROM lk_browser_sessions WHERE last_seen < ? ORDER BY last_seen LIMIT ?",
    )
    .bind(ts(idle_before))
    .bind(n)
    .execute(pool)
    .await?
    .rows_affected();
    let room = n.saturating_sub(i64::try_from(idle).unwrap_or(i64::MAX));
    if room <= 0 {
        return Ok(idle);
    }
    let aged = sqlx::query(
        "DELETE FROM lk_browser_sessions WHERE created_at < ? ORDER BY created_at LIMIT ?",
    )
    .bind(ts(created_before))
    .bind(room)
    .execute(pool)
    .await?
    .rows_affected();
    Ok(idle + aged)
}
