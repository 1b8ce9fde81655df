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
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let del = |sql: &'static str| sqlx::query(sql).bind(ts(now)).bind(n);
    let challenges = del("DELETE FROM lk_challenges WHERE hash IN (SELECT hash FROM lk_challenges WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
        .execute(&mut *tx).await?.rows_affected();
    let codes = del("DELETE FROM lk_codes WHERE hash IN (SELECT hash FROM lk_codes WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
        .execute(&mut *tx).await?.rows_affected();
    let access_tokens = del("DELETE FROM lk_access_tokens WHERE hash IN (SELECT hash FROM lk_access_tokens WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
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
    })
}
