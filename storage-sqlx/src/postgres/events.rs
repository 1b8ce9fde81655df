//! The outbox on PostgreSQL: numbering, per-consumer cursors and
//! shared-work groups.
//!
//! # Appending takes no numbering lock
//!
//! A writer inserts its events into `lk_events_pending` as the *last* step
//! of its transaction (after every row change; see `pg_events!` and
//! `append_events`). The `id` identity (CACHE 1) is drawn at insert time, so
//! ids follow the real-time order of those last steps. Nothing there is
//! shared between writers: appenders no longer wait for each other, nor for
//! another appender's commit and its WAL flush.
//!
//! # Readers number events
//!
//! [`sequence`] runs before every read of `lk_events` (`poll_events`,
//! `claim_events`) and before purge (so pending rows do not pile up while
//! nobody polls). In one transaction it
//!
//! 1. locks the one-row `lk_event_counter` (`FOR UPDATE`): numberers
//!    serialise on it, and its lock is held to commit;
//! 2. in a *new* statement (READ COMMITTED: a new snapshot, taken after the
//!    lock was granted, so it sees everything the previous numberer
//!    committed) moves a bounded batch of the visible pending rows into
//!    `lk_events`, numbered `last_seq + row_number() OVER (ORDER BY id)`,
//!    deletes them from pending and sets `last_seq` to the highest number;
//! 3. commits, making the numbers and the counter visible atomically.
//!
//! It skips all of this when a plain read sees no pending row. That is not
//! a race: an event committed before the reader started is seen by that
//! read, and one committed later will be numbered above everything numbered
//! so far, so leaving it for the next read skips nothing.
//!
//! **(a) No consumer skips an event.** Numbers are only ever assigned by a
//! transaction holding the counter lock, each one starting from the
//! `last_seq` its predecessor committed, and the events and the new
//! `last_seq` commit together. So the committed contents of `lk_events` are
//! always `1..=last_seq` without a hole (less what purge removed below every
//! cursor), and any snapshot sees such a prefix: PostgreSQL releases a
//! transaction's locks only after it is visible, so a snapshot that sees a
//! numberer sees every earlier one. A reader of `seq > cursor` can therefore
//! never later find an event with a number at or below its cursor. Pending
//! rows that were invisible (uncommitted) to a numberer stay in pending and
//! get numbers above it.
//!
//! **(b) Conflicting transactions keep their commit order.** If T2 has to
//! wait for a row lock T1 holds (both update a family, a code, a grant…), T2
//! gets the lock only after T1 committed, and appends after taking it, so
//! T2's ids are drawn after T1 committed: `id(T1) < id(T2)`. A numberer that
//! sees T2 committed also sees T1 (committed earlier), so T1's events are
//! numbered in the same batch and earlier (`ORDER BY id`) or in an earlier
//! batch; T1's events can never be numbered after T2's. The same holds for
//! any transaction that *reads* what T1 committed before appending. This is
//! the per-grant order the `pg_outbox` tests check. Transactions that
//! overlap in time and touch nothing in common may be numbered in either
//! order (by when they appended, not when they committed), and the events
//! of two such transactions may interleave: no reader can tell that from a
//! commit order.
//!
//! Both rest on a store call being committed when it returns. A pooled
//! connection left inside a transaction breaks that: an autocommit append
//! run on it commits later, with whatever ends that transaction, and is
//! numbered after events committed in between. sqlx 0.8.6 leaves one behind
//! when a `begin` is cancelled during its `BEGIN` round trip (a consumer
//! task aborted inside [`sequence`] did it), so every transaction here is
//! started through `crate::tx::begin`, which cannot be cancelled half-way.
//!
//! Writers never touch the counter, so the only waits left on it are
//! numberers (readers) waiting for one another, each for one short
//! statement and its commit.
//!
//! # Rolling upgrade
//!
//! Instances of the previous release still append with the counter: in
//! their own transaction they update `lk_event_counter` (row lock held to
//! commit) and insert their events straight into `lk_events`. They take the
//! same row lock as [`sequence`], so old appenders and new numberers form one
//! queue on it; an old appender's `UPDATE` re-reads the newest `last_seq`
//! once its wait ends, and commits its events with the bumped counter. (a)
//! therefore holds across versions (`pg_event_appends` tests it). Old
//! readers do not number pending events: those become visible once a new
//! instance reads or purges.
//!
//! (b) does *not* fully hold between versions: if a new writer T1 commits
//! (events pending) and an old writer T2 then conflicts with it, T2 numbers
//! its events at once, and T1's get higher numbers unless a reader numbered
//! them in between. So while both versions run, two conflicting operations
//! on one grant that run within one polling interval, on instances of
//! different versions, may be delivered in reverse order (for example an
//! approval on a new instance, then the grant's revocation on an old one).
//! Delivery stays exactly-once-per-cursor and gap-free, and a consumer that
//! re-reads the current rows when handling an event is unaffected; one that
//! applies payloads blindly may need a reconciliation pass after the
//! rollout. Closing this window would need every instance to switch at one
//! instant (for example a flag read under the counter lock), which costs
//! more than the window it closes. Rolling back to the old release
//! leaves pending events unnumbered until a new instance reads again.
//!
//! The audit column (migration 0007) follows the same path: pending rows
//! carry it and numbering copies it. A previous-release numberer copies
//! only `at` and `kind`, so while both run, an event numbered by an old
//! instance reads back with `audit: None`; nothing else is lost.

use std::time::Duration;

use async_trait::async_trait;
use latchkey::model::Event;
use latchkey::storage::{EventStore, StorageResult};

use sqlx::PgPool;

use super::{count as limit, PgStore};
use crate::codec::{event_cols, event_from, int};
use crate::error::{retrying, DbError};

/// Most pending events one [`sequence`] call numbers.
const SEQUENCE_BATCH: i64 = 10_000;

/// Numbers committed pending events (see the module docs); returns how many.
pub(super) async fn sequence(pool: &PgPool) -> Result<u64, DbError> {
    let pending: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM lk_events_pending)")
        .fetch_one(pool)
        .await?;
    if !pending {
        return Ok(0);
    }
    let mut tx = crate::tx::begin(pool, None).await?;
    sqlx::query("SELECT last_seq FROM lk_event_counter WHERE id = 1 FOR UPDATE")
        .execute(&mut *tx)
        .await?;
    // A new statement: its snapshot is taken with the lock held.
    let moved: i64 = sqlx::query_scalar(
        "WITH p AS (DELETE FROM lk_events_pending WHERE id IN \
           (SELECT id FROM lk_events_pending ORDER BY id LIMIT $1) RETURNING id, at, kind, audit), \
         ins AS (INSERT INTO lk_events (seq, at, kind, audit) \
           SELECT c.last_seq + row_number() OVER (ORDER BY p.id), p.at, p.kind, p.audit \
           FROM p, lk_event_counter c WHERE c.id = 1 RETURNING seq), \
         ctr AS (UPDATE lk_event_counter SET last_seq = (SELECT max(seq) FROM ins) \
           WHERE id = 1 AND EXISTS (SELECT 1 FROM ins) RETURNING last_seq) \
         SELECT (SELECT count(*) FROM ins) + 0 * (SELECT count(*) FROM ctr)",
    )
    .bind(SEQUENCE_BATCH)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(u64::try_from(moved).unwrap_or(0))
}

#[async_trait]
impl EventStore for PgStore {
    async fn poll_events(&self, consumer: &str, limit_n: usize) -> StorageResult<Vec<Event>> {
        retrying!(async {
            sequence(&self.pool).await?;
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
    /// Each call first numbers pending events (see the module docs; readers
    /// queue briefly on the counter for that), then moves the group's
    /// visible prefix of the outbox into `lk_event_deliveries` (skipped if
    /// another member is doing it), then claims with `FOR UPDATE SKIP
    /// LOCKED`, so members never wait on each other's claims. A group is registered by its first claim and holds back purge
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
            sequence(&self.pool).await?;
            // Feeding reads a snapshot of lk_events: it is a gap-free prefix
            // (see the module docs), so recording its maximum as fed never
            // skips an event.
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
                 SELECT e.seq, e.at, e.kind, e.audit FROM lk_events e JOIN upd ON upd.seq = e.seq ORDER BY e.seq",
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
