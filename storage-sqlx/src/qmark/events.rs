//! The outbox: appending events inside a write, per-consumer cursors.

use async_trait::async_trait;
use latchkey::model::{Event, NewEvent};
use latchkey::storage::{EventStore, StorageResult};
use sqlx::Transaction;

use super::{n64, repeat};
use crate::codec::{event_cols, event_from, int, json, ts};
use crate::error::{retrying, DbError};

qmark_impl! {
    impl QmarkStore {
        /// Appends events as the last writes of a transaction. Taking the
        /// numbers locks the counter row until commit, so `seq` follows
        /// commit order (see the crate docs on the outbox).
        pub(super) async fn append(
            tx: &mut Transaction<'static, DB>,
            events: &[NewEvent],
        ) -> Result<(), DbError> {
            if events.is_empty() {
                return Ok(());
            }
            let last = DB::take_seqs(&mut **tx, n64(events.len())).await?;
            let first = last - n64(events.len()) + 1;
            let sql = format!(
                "INSERT INTO lk_events (seq, at, kind, audit) VALUES {}",
                repeat("(?, ?, ?, ?)", events.len())
            );
            let mut q = sqlx::query(&sql);
            for (i, e) in events.iter().enumerate() {
                q = q
                    .bind(first + n64(i))
                    .bind(ts(e.at))
                    .bind(json(&e.kind)?)
                    .bind(json(&e.audit)?);
            }
            q.execute(&mut **tx).await?;
            Ok(())
        }

        /// Ends a single-row revocation: appends and commits when the row
        /// changed (`n` is 1), rolls back when it did not.
        pub(super) async fn finish_revocation(
            mut tx: Transaction<'static, DB>,
            n: u64,
            events: &[NewEvent],
        ) -> Result<bool, DbError> {
            if n == 0 {
                tx.rollback().await?;
                return Ok(false);
            }
            Self::append(&mut tx, events).await?;
            tx.commit().await?;
            Ok(true)
        }
    }
}

qmark_impl! {
    #[async_trait]
    impl EventStore for QmarkStore {
        async fn poll_events(&self, consumer: &str, limit: usize) -> StorageResult<Vec<Event>> {
            retrying!(async {
                // Registering first makes purge wait for this consumer.
                let mut conn = self.pool.acquire().await?;
                sqlx::query(DB::REGISTER_CURSOR)
                    .bind(consumer)
                    .execute(&mut *conn)
                    .await?;
                let rows = sqlx::query(concat!(
                    "SELECT ", event_cols!(), " FROM lk_events WHERE seq > ",
                    "COALESCE((SELECT seq FROM lk_event_cursors WHERE consumer = ?), 0) ORDER BY seq LIMIT ?"
                ))
                .bind(consumer)
                .bind(n64(limit))
                .fetch_all(&mut *conn)
                .await?;
                rows.iter().map(event_from).collect::<Result<Vec<_>, _>>()
            })
        }

        async fn ack_events(&self, consumer: &str, seq: u64) -> StorageResult<()> {
            retrying!(async {
                sqlx::query(DB::ADVANCE_CURSOR)
                    .bind(consumer)
                    .bind(int(seq))
                    .execute(&self.pool)
                    .await?;
                Ok::<_, DbError>(())
            })
        }
    }
}
