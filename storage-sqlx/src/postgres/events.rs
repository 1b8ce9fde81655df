//! The outbox on PostgreSQL: per-consumer cursors and shared-work groups.
//!
//! Sequence numbers come from the one-row `lk_event_counter`, bumped by the
//! appending transaction itself. Its row lock is held until commit, so a
//! second appender gets its numbers only after the first has committed and
//! become visible: `seq` order is commit order, every snapshot sees a
//! gap-free prefix, and a consumer reading `seq > cursor` never skips an
//! event that commits later with a lower number. (A `SEQUENCE` or identity
//! column would not do: numbers are taken at insert time, not commit time.)
//! The price is that appenders serialise for the tail of their transaction;
//! operations that append nothing never touch the counter.

use std::time::Duration;

use async_trait::async_trait;
use latchkey::model::Event;
use latchkey::storage::{EventStore, StorageResult};

use super::{count as limit, PgStore};
use crate::codec::{event_cols, event_from, int};
use crate::error::{retrying, DbError};

#[async_trait]
impl EventStore for PgStore {
    async fn poll_events(&self, consumer: &str, limit_n: usize) -> StorageResult<Vec<Event>> {
        retrying!(async {
            // Registers the consumer (so purge waits for it) and reads past
            // its cursor in one statement; a just-inserted cursor is 0.
            let rows = sqlx::query(concat!(
                "WITH reg AS (INSERT INTO lk_event_cursors (consumer, seq) VALUES ($1, 0) ",
                "ON CONFLICT (consumer) DO NOTHING RETURNING seq) ",
                "SELECT ",
                event_cols!(),
                " FROM lk_events WHERE seq > ",
                "COALESCE((SELECT seq FROM lk_event_cursors WHERE consumer = $1), 0) ",
                "ORDER BY seq LIMIT $2"
            ))
            .bind(consumer)
            .bind(limit(limit_n))
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(event_from).collect::<Result<Vec<_>, _>>()
        })
    }

    async fn ack_events(&self, consumer: &str, seq: u64) -> StorageResult<()> {
        retrying!(async {
            sqlx::query(
                "INSERT INTO lk_event_cursors (consumer, seq) VALUES ($1, $2) \
                 ON CONFLICT (consumer) DO UPDATE SET seq = GREATEST(lk_event_cursors.seq, EXCLUDED.seq)",
            )
            .bind(consumer)
            .bind(int(seq))
            .execute(&self.pool)
            .await?;
            Ok::<_, DbError>(())
        })
    }
}

impl PgStore {
    /// Claims up to `limit` events for a consumer *group* whose members
    /// share the work: each event is handed to one member at a time, under
    /// a lease of `lease`; [`PgStore::complete_events`] finishes it, and an
    /// event whose lease runs out (its member died) is handed out again.
    /// Delivery is at least once. Unlike [`EventStore::poll_events`], order
    /// is only per claim: members process in parallel.
    ///
    /// Each call first moves the group's visible prefix of the outbox into
    /// `lk_event_deliveries` (skipped if another member is doing it), then
    /// claims with `FOR UPDATE SKIP LOCKED`, so members never wait on each
    /// other. A group is registered by its first claim and holds back purge
    /// of events it has not been fed or not completed.
    ///
    /// # Errors
    /// `Unavailable` / `Backend` as for every store call.
    pub async fn claim_events(
        &self,
        group: &str,
        limit_n: usize,
        lease: Duration,
    ) -> StorageResult<Vec<Event>> {
        let lease_ms = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        retrying!(async {
            sqlx::query(
                "INSERT INTO lk_event_groups (name, fed_seq) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING",
            )
            .bind(group)
            .execute(&self.pool)
            .await?;
            // Feeding reads a snapshot of lk_events: by the commit-order
            // property it is a gap-free prefix, so recording its maximum as
            // fed never skips an event.
            sqlx::query(
                "WITH g AS (SELECT fed_seq FROM lk_event_groups WHERE name = $1 FOR UPDATE SKIP LOCKED), \
                 ins AS (INSERT INTO lk_event_deliveries (group_name, seq, leased_until, attempts) \
                   SELECT $1, e.seq, '-infinity', 0 FROM lk_events e, g WHERE e.seq > g.fed_seq \
                   ORDER BY e.seq LIMIT 10000 ON CONFLICT DO NOTHING RETURNING seq) \
                 UPDATE lk_event_groups SET fed_seq = (SELECT max(seq) FROM ins) \
                 WHERE name = $1 AND EXISTS (SELECT 1 FROM ins)",
            )
            .bind(group)
            .execute(&self.pool)
            .await?;
            let rows = sqlx::query(
                "WITH picked AS (SELECT seq FROM lk_event_deliveries \
                   WHERE group_name = $1 AND leased_until < now() \
                   ORDER BY seq LIMIT $2 FOR UPDATE SKIP LOCKED), \
                 upd AS (UPDATE lk_event_deliveries d \
                   SET leased_until = now() + $3 * interval '1 millisecond', attempts = d.attempts + 1 \
                   FROM picked WHERE d.group_name = $1 AND d.seq = picked.seq RETURNING d.seq) \
                 SELECT e.seq, e.at, e.kind FROM lk_events e JOIN upd ON upd.seq = e.seq ORDER BY e.seq",
            )
            .bind(group)
            .bind(limit(limit_n))
            .bind(lease_ms)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(event_from).collect::<Result<Vec<_>, _>>()
        })
    }

    /// Marks claimed events of `group` as done; returns how many were still
    /// pending. Completing twice is harmless.
    ///
    /// # Errors
    /// `Unavailable` / `Backend` as for every store call.
    pub async fn complete_events(&self, group: &str, seqs: &[u64]) -> StorageResult<u64> {
        let seqs: Vec<i64> = seqs.iter().map(|s| int(*s)).collect();
        retrying!(async {
            Ok::<_, DbError>(
                sqlx::query(
                    "DELETE FROM lk_event_deliveries WHERE group_name = $1 AND seq = ANY($2)",
                )
                .bind(group)
                .bind(&seqs)
                .execute(&self.pool)
                .await?
                .rows_affected(),
            )
        })
    }
}
