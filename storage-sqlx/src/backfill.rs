//! Batched, resumable, throttled backfills: the data step of an
//! expand/contract migration (`MIGRATIONS.md`, "Backfilling a column").
//!
//! A schema migration may only add: a new column arrives empty, the new
//! release writes it on every insert and update, and this runner fills it
//! in on the rows written before. It walks the table in primary-key order
//! by key ranges (keyset pagination: each batch starts after the last key
//! of the previous one, so a batch costs the same at the end of a
//! 100-million-row table as at the start; never `OFFSET`), and runs every
//! batch as its own short transaction that
//!
//! 1. finds the batch's upper key (the `batch_size`-th key after the
//!    cursor),
//! 2. runs the caller's `UPDATE … SET` on the rows in `(cursor, upper]`
//!    that still need it ([`Backfill::pending`]),
//! 3. moves the cursor to the upper key in `lk_backfills` (created on
//!    first use),
//!
//! under a short lock timeout ([`BackfillOptions::lock_timeout`]): a batch
//! that would wait on a row a hot transaction holds gives up, is rolled
//! back and retried smaller after a pause, instead of making the hot path
//! queue behind it. Because the cursor moves in the same transaction as
//! the rows, a crash, a kill or a dropped future loses at most the batch
//! in flight, which rolled back with it: calling [`PgStore::backfill`]
//! again with the same [`Backfill::name`] resumes after the last
//! committed batch, and no row is updated twice even by a `SET` that is
//! not idempotent. A finished backfill is remembered and returns at once.
//!
//! Throttling: a pause between batches, a target rate in rows per second,
//! a batch size that halves when a batch is slow or a lock wait is seen and
//! grows back after clean batches, and, on PostgreSQL, a wait while a
//! streaming replica's replay lag is above
//! [`BackfillOptions::max_replica_lag`]. The progress callback sees every
//! committed batch (rows done, rate, estimated time left) and may pause
//! or stop the run ([`Flow`]), which is where a check of a MySQL replica's
//! lag belongs.
//!
//! ```ignore
//! use latchkey_sqlx::backfill::{Backfill, BackfillOptions, Flow, KeyKind};
//! let job = Backfill::new("0007_token_kind", "lk_access_tokens", "hash", KeyKind::Bytes)
//!     .set("kind = CASE WHEN family_id IS NULL THEN 'client' ELSE 'user' END")
//!     .pending("kind IS NULL");
//! let done = store
//!     .backfill(&job, &BackfillOptions::default(), |p| {
//!         tracing::info!(rows = p.rows_scanned, rate = p.rows_per_sec, "backfill");
//!         Flow::Continue
//!     })
//!     .await?;
//! assert!(done.done);
//! ```
//!
//! [`PgStore::backfill`]: crate::PgStore::backfill

use std::time::Duration;

pub(crate) mod runner;

/// The primary-key column's type, so the cursor can be read and bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeyKind {
    /// An integer key (`BIGINT`, `INTEGER`, …).
    Int,
    /// A text key (`TEXT`, `VARCHAR`), compared in the column's collation.
    Text,
    /// A binary key (`BYTEA`, `VARBINARY`, `BLOB`), such as the token
    /// hashes that key Latchkey's token tables.
    Bytes,
}

/// A primary-key value: where a backfill's cursor stands.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Key {
    /// Of a [`KeyKind::Int`] column.
    Int(i64),
    /// Of a [`KeyKind::Text`] column.
    Text(String),
    /// Of a [`KeyKind::Bytes`] column.
    Bytes(Vec<u8>),
}

/// One backfill: which rows, and what to write into them.
///
/// `table` and `key` must be plain identifiers (letters, digits, `_`);
/// `set` and `pending` are SQL fragments written by the developer (never
/// from user input), without placeholders, in the dialect of the database
/// they run on.
#[derive(Clone, Debug)]
pub struct Backfill {
    /// Identifies the run in `lk_backfills`: calling again with the same
    /// name resumes it. Name it after the migration it completes.
    pub name: String,
    /// The table to fill in.
    pub table: String,
    /// Its primary key: one column, unique and not null.
    pub key: String,
    /// The key column's type.
    pub key_kind: KeyKind,
    /// The assignments of the `UPDATE … SET` (`kind = 'user'`); may refer
    /// to the row's other columns.
    pub set: String,
    /// A condition that holds for the rows still to fill in (`kind IS
    /// NULL`); rows written by the new release already have the value and
    /// are skipped, so a repeated range costs only the scan. Empty: every
    /// row of every range is updated (exactly once: the cursor moves with
    /// the rows).
    pub pending: String,
}

impl Backfill {
    /// A backfill named `name` of `table` keyed by `key`; add the
    /// assignments with [`Backfill::set`].
    #[must_use]
    pub fn new(
        name: impl Into<String>,
        table: impl Into<String>,
        key: impl Into<String>,
        key_kind: KeyKind,
    ) -> Self {
        Backfill {
            name: name.into(),
            table: table.into(),
            key: key.into(),
            key_kind,
            set: String::new(),
            pending: String::new(),
        }
    }

    /// The `SET` assignments.
    #[must_use]
    pub fn set(mut self, assignments: impl Into<String>) -> Self {
        self.set = assignments.into();
        self
    }

    /// The condition a row still to fill in meets.
    #[must_use]
    pub fn pending(mut self, condition: impl Into<String>) -> Self {
        self.pending = condition.into();
        self
    }

    /// Refuses names that would not be plain identifiers, and an empty
    /// `SET`.
    pub(crate) fn check(&self) -> Result<(), String> {
        let ident = |s: &str| {
            !s.is_empty()
                && !s.starts_with(|c: char| c.is_ascii_digit())
                && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        };
        if !ident(&self.table) || !ident(&self.key) {
            return Err(format!(
                "backfill {}: table and key must be plain identifiers",
                self.name
            ));
        }
        if self.set.trim().is_empty() {
            return Err(format!("backfill {}: nothing to SET", self.name));
        }
        if self.name.is_empty() || self.name.len() > 190 {
            return Err("backfill name must be 1 to 190 bytes".into());
        }
        Ok(())
    }
}

/// How fast and how carefully a backfill runs.
#[derive(Clone, Debug)]
pub struct BackfillOptions {
    /// Keys per batch at most (default 1,000). The runner halves it after
    /// a slow batch, a lock timeout or a lock wait it caused, and doubles
    /// it back after clean batches.
    pub batch_size: u32,
    /// Smallest batch the runner shrinks to (default 50).
    pub min_batch_size: u32,
    /// A batch that holds its locks longer than this is slow: the next one
    /// is smaller (default 50 ms). Keep it well under the latency the hot
    /// path can afford to wait on one row.
    pub max_batch_time: Duration,
    /// How long a batch statement may wait for a lock before it gives up
    /// and the batch is retried (default 20 ms). PostgreSQL honours it to
    /// the millisecond; MySQL/MariaDB's `innodb_lock_wait_timeout` counts
    /// whole seconds, so there it is rounded up to 1 s; SQLite waits this
    /// long for the write lock.
    pub lock_timeout: Duration,
    /// Retries of one batch after lock timeouts before the run fails
    /// (default 50); the progress is kept, so calling again resumes.
    pub attempts: u32,
    /// Pause after every batch (default 5 ms): room for the hot path and
    /// for autovacuum.
    pub pause: Duration,
    /// Upper bound on keys scanned per second, if any (default none).
    pub max_rows_per_sec: Option<f64>,
    /// Pause after a batch that made another session wait on one of its
    /// locks, on top of [`BackfillOptions::pause`] (default 50 ms).
    pub lock_wait_backoff: Duration,
    /// PostgreSQL: before each batch, wait while any streaming replica's
    /// `replay_lag` (`pg_stat_replication`, visible to superusers and
    /// `pg_monitor`) is above this. `None` (the default) does not look.
    pub max_replica_lag: Option<Duration>,
}

impl Default for BackfillOptions {
    fn default() -> Self {
        BackfillOptions {
            batch_size: 1_000,
            min_batch_size: 50,
            max_batch_time: Duration::from_millis(50),
            lock_timeout: Duration::from_millis(20),
            attempts: 50,
            pause: Duration::from_millis(5),
            max_rows_per_sec: None,
            lock_wait_backoff: Duration::from_millis(50),
            max_replica_lag: None,
        }
    }
}

/// Where a backfill stands, reported after every committed batch.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct BackfillProgress {
    /// Keys the cursor has passed, over every run of this backfill.
    pub rows_scanned: u64,
    /// Rows the `UPDATE` changed, over every run (rows already filled in
    /// are scanned, not updated).
    pub rows_updated: u64,
    /// Committed batches, over every run.
    pub batches: u64,
    /// Keys scanned by this run.
    pub run_rows: u64,
    /// Time this run has taken so far, pauses included.
    pub elapsed: Duration,
    /// Keys scanned per second by this run.
    pub rows_per_sec: f64,
    /// The table's row count as the database estimates it (PostgreSQL
    /// `reltuples`, MySQL `table_rows`; SQLite counts), read at start.
    pub estimated_total: Option<u64>,
    /// Time left at this run's rate, from the estimate.
    pub estimated_remaining: Option<Duration>,
    /// The batch size the next batch will use.
    pub batch_size: u32,
    /// Batches rolled back on a lock timeout and retried, this run.
    pub lock_timeouts: u64,
    /// Batches after which another session was seen waiting on a lock the
    /// batch held (PostgreSQL, MySQL/MariaDB), this run.
    pub lock_waits_caused: u64,
    /// Time spent waiting for replicas to catch up, this run.
    pub replica_wait: Duration,
    /// The last key done: the next batch starts after it.
    pub cursor: Option<Key>,
    /// Every range is done.
    pub done: bool,
}

/// What the progress callback wants next.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Flow {
    /// Go on with the next batch.
    Continue,
    /// Wait this long first (say, while a replica catches up), then go on.
    Pause(Duration),
    /// Stop after this batch; calling again resumes.
    Stop,
}
