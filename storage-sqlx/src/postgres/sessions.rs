//! Browser sessions on PostgreSQL: every operation one statement.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::storage::{BrowserSessionStore, StorageResult};
use latchkey::web::{SessionKey, SessionRecord};

use super::{count, PgStore};
use crate::codec::{bind_session, session_cols, session_from, ts};
use crate::error::{retrying, DbError};

impl PgStore {
    async fn purge_sessions_once(
        &self,
        idle_before: Timestamp,
        created_before: Timestamp,
        n: i64,
    ) -> Result<u64, DbError> {
        // Idle ones first, then those past their absolute lifetime, each
        // batch read from its expiry index. SKIP LOCKED leaves a session a
        // request is using for the next run; the outer condition is
        // checked again on the row as it is when deleted, so a session
        // touched meanwhile stays.
        let idle = sqlx::query(
            "DELETE FROM lk_browser_sessions WHERE session_key IN (SELECT session_key \
               FROM lk_browser_sessions WHERE last_seen < $1 ORDER BY last_seen LIMIT $2 \
               FOR UPDATE SKIP LOCKED) AND (last_seen < $1 OR created_at < $3)",
        )
        .bind(ts(idle_before))
        .bind(n)
        .bind(ts(created_before))
        .execute(&self.pool)
        .await?
        .rows_affected();
        let room = n.saturating_sub(i64::try_from(idle).unwrap_or(i64::MAX));
        if room <= 0 {
            return Ok(idle);
        }
        let aged = sqlx::query(
            "DELETE FROM lk_browser_sessions WHERE session_key IN (SELECT session_key \
               FROM lk_browser_sessions WHERE created_at < $1 ORDER BY created_at LIMIT $2 \
               FOR UPDATE SKIP LOCKED) AND created_at < $1",
        )
        .bind(ts(created_before))
        .bind(room)
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(idle + aged)
    }
}

#[async_trait]
impl BrowserSessionStore for PgStore {
    async fn insert_browser_session(&self, record: &SessionRecord) -> StorageResult<()> {
        retrying!(async {
            let q = sqlx::query(concat!(
                "INSERT INTO lk_browser_sessions (",
                session_cols!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ));
            bind_session(q, record).execute(&self.pool).await?;
            Ok::<_, DbError>(())
        })
    }

    async fn get_browser_session(&self, key: &SessionKey) -> StorageResult<Option<SessionRecord>> {
        retrying!(async {
            let row = sqlx::query(concat!(
                "SELECT ",
                session_cols!(),
                " FROM lk_browser_sessions WHERE session_key = $1"
            ))
            .bind(key.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(session_from).transpose()
        })
    }

    async fn touch_browser_session(&self, key: &SessionKey, now: Timestamp) -> StorageResult<()> {
        retrying!(async {
            sqlx::query(
                "UPDATE lk_browser_sessions SET last_seen = $2 \
                 WHERE session_key = $1 AND last_seen < $2",
            )
            .bind(key.0.to_vec())
            .bind(ts(now))
            .execute(&self.pool)
            .await?;
            Ok::<_, DbError>(())
        })
    }

    async fn replace_browser_session(
        &self,
        old: &SessionKey,
        new: &SessionRecord,
    ) -> StorageResult<()> {
        retrying!(async {
            // One statement, so one transaction: a taken new key fails the
            // INSERT and undoes the DELETE with it.
            let q = sqlx::query(concat!(
                "WITH gone AS (DELETE FROM lk_browser_sessions WHERE session_key = $8) ",
                "INSERT INTO lk_browser_sessions (",
                session_cols!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
            ));
            bind_session(q, new)
                .bind(old.0.to_vec())
                .execute(&self.pool)
                .await?;
            Ok::<_, DbError>(())
        })
    }

    async fn remove_browser_session(&self, key: &SessionKey) -> StorageResult<bool> {
        retrying!(async {
            let n = sqlx::query("DELETE FROM lk_browser_sessions WHERE session_key = $1")
                .bind(key.0.to_vec())
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok::<_, DbError>(n > 0)
        })
    }

    async fn set_browser_session_flash(
        &self,
        key: &SessionKey,
        message: &str,
    ) -> StorageResult<bool> {
        retrying!(async {
            let n = sqlx::query("UPDATE lk_browser_sessions SET flash = $2 WHERE session_key = $1")
                .bind(key.0.to_vec())
                .bind(message)
                .execute(&self.pool)
                .await?
                .rows_affected();
            Ok::<_, DbError>(n > 0)
        })
    }

    async fn take_browser_session_flash(&self, key: &SessionKey) -> StorageResult<Option<String>> {
        retrying!(async {
            // The row lock orders concurrent takers; a taker that waited
            // re-checks `flash IS NOT NULL` on the row as the winner left
            // it, finds nothing, and returns no message.
            let flash: Option<Option<String>> = sqlx::query_scalar(
                "UPDATE lk_browser_sessions s SET flash = NULL \
                 FROM (SELECT session_key, flash FROM lk_browser_sessions \
                       WHERE session_key = $1 AND flash IS NOT NULL FOR UPDATE) old \
                 WHERE s.session_key = old.session_key RETURNING old.flash",
            )
            .bind(key.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
            Ok::<_, DbError>(flash.flatten())
        })
    }

    async fn purge_browser_sessions(
        &self,
        idle_before: Timestamp,
        created_before: Timestamp,
        limit: usize,
    ) -> StorageResult<u64> {
        retrying!(self.purge_sessions_once(idle_before, created_before, count(limit)))
    }
}
