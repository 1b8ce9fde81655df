//! Expiry housekeeping on SQLite: one write transaction. SQLite has no
//! `DELETE … LIMIT` (without a compile option), so batches are chosen by
//! key in a subquery.

use latchkey::clock::Timestamp;
use latchkey::storage::PurgeReport;
use sqlx::sqlite::SqlitePool;

use crate::codec::ts;
use crate::error::DbError;

pub(super) async fn purge_once(
    pool: &SqlitePool,
    now: Timestamp,
    n: i64,
) -> Result<PurgeReport, DbError> {
    let mut tx = crate::tx::begin(pool, Some("BEGIN IMMEDIATE")).await?;
    let del = |sql: &'static str| sqlx::query(sql).bind(ts(now)).bind(n);
    let challenges = del("DELETE FROM lk_challenges WHERE hash IN (SELECT hash FROM lk_challenges WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
        .execute(&mut *tx).await?.rows_affected();
    let codes = del("DELETE FROM lk_codes WHERE hash IN (SELECT hash FROM lk_codes WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
        .execute(&mut *tx).await?.rows_affected();
    let access_tokens = del("DELETE FROM lk_access_tokens WHERE hash IN (SELECT hash FROM lk_access_tokens WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
        .execute(&mut *tx).await?.rows_affected();
    let devices = del("DELETE FROM lk_devices WHERE hash IN (SELECT hash FROM lk_devices WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
        .execute(&mut *tx).await?.rows_affected();
    del("DELETE FROM lk_refresh_tokens WHERE family_id IN (SELECT id FROM lk_families WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
        .execute(&mut *tx).await?;
    let families = del("DELETE FROM lk_families WHERE id IN (SELECT id FROM lk_families WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
        .execute(&mut *tx).await?.rows_affected();
    let events = sqlx::query(
        "DELETE FROM lk_events WHERE seq IN (SELECT seq FROM lk_events WHERE seq <= \
         COALESCE((SELECT MIN(seq) FROM lk_event_cursors), 0) ORDER BY seq LIMIT ?)",
    )
    .bind(n)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(PurgeReport {
        challenges,
        codes,
        access_tokens,
        families,
        events,
        devices,
    })
}

/// One batch of expired browser sessions in one write transaction: idle
/// ones first, then those past their absolute lifetime, each chosen from
/// its expiry index in a subquery.
pub(super) async fn purge_sessions(
    pool: &SqlitePool,
    idle_before: Timestamp,
    created_before: Timestamp,
    n: i64,
) -> Result<u64, DbError> {
    let mut tx = crate::tx::begin(pool, Some("BEGIN IMMEDIATE")).await?;
    let idle = sqlx::query(
        "DELETE FROM lk_browser_sessions WHERE session_key IN (SELECT session_key \
         FROM lk_browser_sessions WHERE last_seen < ? ORDER BY last_seen LIMIT ?)",
    )
    .bind(ts(idle_before))
    .bind(n)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let room = n.saturating_sub(i64::try_from(idle).unwrap_or(i64::MAX));
    let aged = if room > 0 {
        sqlx::query(
            "DELETE FROM lk_browser_sessions WHERE session_key IN (SELECT session_key \
             FROM lk_browser_sessions WHERE created_at < ? ORDER BY created_at LIMIT ?)",
        )
        .bind(ts(created_before))
        .bind(room)
        .execute(&mut *tx)
        .await?
        .rows_affected()
    } else {
        0
    };
    tx.commit().await?;
    Ok(idle + aged)
}
