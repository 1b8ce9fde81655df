//! Browser sessions. Single-row changes are one statement; the two that
//! read before they write (replace, take-flash) are one write transaction.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::storage::{BrowserSessionStore, StorageResult};
use latchkey::web::{SessionKey, SessionRecord};

use super::{n64, Affected as _};
use crate::codec::{bind_session, session_cols, session_from, ts, Cols as _};
use crate::error::{retrying, DbError};

qmark_impl! {
    impl QmarkStore {
        async fn replace_session_once(
            &self,
            old: &SessionKey,
            new: &SessionRecord,
        ) -> Result<(), DbError> {
            // A taken new key fails the INSERT; dropping the transaction
            // then rolls the DELETE back too.
            let mut tx = DB::begin_write(&self.pool).await?;
            sqlx::query("DELETE FROM lk_browser_sessions WHERE session_key = ?")
                .bind(old.0.to_vec())
                .execute(&mut *tx)
                .await?;
            let q = sqlx::query(concat!(
                "INSERT INTO lk_browser_sessions (",
                session_cols!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?)"
            ));
            bind_session(q, new).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        }

        async fn take_flash_once(&self, key: &SessionKey) -> Result<Option<String>, DbError> {
            // MySQL locks the row (concurrent takers queue, and the next
            // one reads the cleared value); SQLite's write transaction
            // already excludes every other writer.
            let mut tx = DB::begin_write(&self.pool).await?;
            let read = format!(
                "SELECT flash FROM lk_browser_sessions WHERE session_key = ?{}",
                DB::ROW_LOCK
            );
            let row = sqlx::query(&read)
                .bind(key.0.to_vec())
                .fetch_optional(&mut *tx)
                .await?;
            let flash = match row {
                Some(r) => r.opt_text("flash")?,
                None => None,
            };
            if flash.is_some() {
                sqlx::query("UPDATE lk_browser_sessions SET flash = NULL WHERE session_key = ?")
                    .bind(key.0.to_vec())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            }
            Ok(flash)
        }
    }
}

qmark_impl! {
    #[async_trait]
    impl BrowserSessionStore for QmarkStore {
        async fn insert_browser_session(&self, record: &SessionRecord) -> StorageResult<()> {
            retrying!(async {
                let q = sqlx::query(concat!(
                    "INSERT INTO lk_browser_sessions (",
                    session_cols!(),
                    ") VALUES (?, ?, ?, ?, ?, ?, ?)"
                ));
                bind_session(q, record).execute(&self.pool).await?;
                Ok::<_, DbError>(())
            })
        }

        async fn get_browser_session(
            &self,
            key: &SessionKey,
        ) -> StorageResult<Option<SessionRecord>> {
            retrying!(async {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    session_cols!(),
                    " FROM lk_browser_sessions WHERE session_key = ?"
                ))
                .bind(key.0.to_vec())
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(session_from).transpose()
            })
        }

        async fn touch_browser_session(
            &self,
            key: &SessionKey,
            now: Timestamp,
        ) -> StorageResult<()> {
            retrying!(async {
                sqlx::query(
                    "UPDATE lk_browser_sessions SET last_seen = ? \
                     WHERE session_key = ? AND last_seen < ?",
                )
                .bind(ts(now))
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
            retrying!(self.replace_session_once(old, new))
        }

        async fn remove_browser_session(&self, key: &SessionKey) -> StorageResult<bool> {
            retrying!(async {
                let n = sqlx::query("DELETE FROM lk_browser_sessions WHERE session_key = ?")
                    .bind(key.0.to_vec())
                    .execute(&self.pool)
                    .await?
                    .affected();
                Ok::<_, DbError>(n > 0)
            })
        }

        async fn set_browser_session_flash(
            &self,
            key: &SessionKey,
            message: &str,
        ) -> StorageResult<bool> {
            retrying!(async {
                // Matched rows (MySQL: CLIENT_FOUND_ROWS), so setting the
                // same message again still reports the session exists.
                let n = sqlx::query("UPDATE lk_browser_sessions SET flash = ? WHERE session_key = ?")
                    .bind(message)
                    .bind(key.0.to_vec())
                    .execute(&self.pool)
                    .await?
                    .affected();
                Ok::<_, DbError>(n > 0)
            })
        }

        async fn take_browser_session_flash(
            &self,
            key: &SessionKey,
        ) -> StorageResult<Option<String>> {
            retrying!(self.take_flash_once(key))
        }

        async fn purge_browser_sessions(
            &self,
            idle_before: Timestamp,
            created_before: Timestamp,
            limit: usize,
        ) -> StorageResult<u64> {
            retrying!(DB::purge_sessions(&self.pool, idle_before, created_before, n64(limit)))
        }
    }
}
