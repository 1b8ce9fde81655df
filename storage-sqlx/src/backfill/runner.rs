//! The backfill loop, written once; each dialect supplies the few hooks in
//! [`BackfillDialect`]: how a batch transaction begins under a short lock
//! timeout, the progress table's DDL, and the probes for lock waits, row
//! estimates and replica lag.

use std::future::Future;
use std::time::{Duration, Instant};

use latchkey::storage::{StorageError, StorageResult};
use sqlx::{Database, Executor, IntoArguments, Pool, Transaction};

use super::{Backfill, BackfillOptions, BackfillProgress, Flow, Key, KeyKind};
use crate::codec::Cols;
use crate::error::{backoff, into_storage, DbError};

/// What a dialect tells the backfill loop.
pub(crate) trait BackfillDialect: Database<Row: Cols> {
    /// `$1, $2, …` placeholders (PostgreSQL) rather than `?`.
    const NUMBERED: bool;

    /// Creates `lk_backfills` if it does not exist.
    const PROGRESS_TABLE: &'static str;

    /// Registers backfill `?` (its name) unless it is registered.
    const REGISTER: &'static str;

    /// Session settings for the run's own connection (it is closed, not
    /// pooled, afterwards, so they never leak to other callers).
    fn prepare(
        _conn: &mut Self::Connection,
        _opts: &BackfillOptions,
    ) -> impl Future<Output = Result<(), DbError>> + Send {
        async { Ok(()) }
    }

    /// Begins one batch's transaction, under the lock timeout.
    fn begin<'c>(
        conn: &'c mut Self::Connection,
        opts: &BackfillOptions,
    ) -> impl Future<Output = Result<Transaction<'c, Self>, DbError>> + Send;

    /// Rows a statement changed.
    fn affected(result: &Self::QueryResult) -> u64;

    /// Whether the error is a lock timeout, deadlock or busy database: the
    /// batch rolled back and may run again.
    fn lock_timeout(e: &sqlx::Error) -> bool;

    /// Sessions waiting for a lock, asked inside a batch before it
    /// commits (so, while it holds its row locks); 0 where the dialect
    /// cannot tell.
    fn waiters(_conn: &mut Self::Connection) -> impl Future<Output = Result<u64, DbError>> + Send {
        async { Ok(0) }
    }

    /// The database's estimate of `table`'s row count.
    fn estimate(
        conn: &mut Self::Connection,
        table: &str,
    ) -> impl Future<Output = Result<Option<u64>, DbError>> + Send;

    /// The largest replay lag among streaming replicas, if known.
    fn replica_lag(
        _conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Option<Duration>, DbError>> + Send {
        async { Ok(None) }
    }
}

/// The statements of one backfill, built once per run. The caller's
/// fragments are spliced in after the placeholders are numbered, so a `?`
/// inside them is never taken for one.
struct Statements {
    /// The batch's upper key and its key count, after the cursor.
    upper_next: String,
    /// The same from the table's first key.
    upper_first: String,
    /// The update of `(cursor, upper]`.
    update_next: String,
    /// The update of `[first, upper]`.
    update_first: String,
}

impl Statements {
    fn new(numbered: bool, job: &Backfill) -> Self {
        let p = |i: usize| {
            if numbered {
                format!("${i}")
            } else {
                "?".to_owned()
            }
        };
        let (t, k) = (&job.table, &job.key);
        let upper = |filter: &str, limit: &str| {
            format!(
                "SELECT bk, count(*) OVER () AS n FROM \
                 (SELECT {k} AS bk FROM {t} {filter} ORDER BY {k} LIMIT {limit}) s \
                 ORDER BY bk DESC LIMIT 1"
            )
        };
        let pending = if job.pending.trim().is_empty() {
            String::new()
        } else {
            format!(" AND ({})", job.pending)
        };
        let set = &job.set;
        Statements {
            upper_next: upper(&format!("WHERE {k} > {}", p(1)), &p(2)),
            upper_first: upper("", &p(1)),
            update_next: format!(
                "UPDATE {t} SET {set} WHERE {k} > {} AND {k} <= {}{pending}",
                p(1),
                p(2)
            ),
            update_first: format!("UPDATE {t} SET {set} WHERE {k} <= {}{pending}", p(1)),
        }
    }
}

/// A committed batch.
struct Batch {
    upper: Key,
    scanned: u64,
    updated: u64,
    waiters: u64,
    took: Duration,
}

fn key_from<R: Cols>(row: &R, col: &str, kind: KeyKind) -> Result<Key, DbError> {
    Ok(match kind {
        KeyKind::Int => Key::Int(row.i64(col)?),
        KeyKind::Text => Key::Text(row.text(col)?),
        KeyKind::Bytes => Key::Bytes(row.bytes(col)?),
    })
}

fn stored_key<R: Cols>(row: &R, kind: KeyKind) -> Result<Option<Key>, DbError> {
    Ok(match kind {
        KeyKind::Int => row.opt_i64("cursor_int")?.map(Key::Int),
        KeyKind::Text => row.opt_text("cursor_text")?.map(Key::Text),
        KeyKind::Bytes => row.opt_bytes("cursor_bytes")?.map(Key::Bytes),
    })
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn signed(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Binds a key as its column type.
macro_rules! bind_key {
    ($q:expr, $key:expr) => {
        match $key {
            Key::Int(v) => $q.bind(*v),
            Key::Text(v) => $q.bind(v.clone()),
            Key::Bytes(v) => $q.bind(v.clone()),
        }
    };
}

/// Creates the progress table if it is missing and the job's row in it.
async fn register<DB>(conn: &mut DB::Connection, job: &Backfill) -> Result<(), DbError>
where
    DB: BackfillDialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    Executor::execute(&mut *conn, DB::PROGRESS_TABLE).await?;
    sqlx::query(DB::REGISTER)
        .bind(job.name.clone())
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// PostgreSQL's `CREATE TABLE IF NOT EXISTS` is not safe against a
/// concurrent one: the loser fails with `duplicate_table` (42P07) or a
/// unique violation on the catalog (CI saw the first). Nothing stayed.
fn lost_create_race(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.is_unique_violation()
            || db.code().is_some_and(|c| c == "42P07" || c == "42710"))
}

/// Runs (or resumes) `job` to the end, or until `progress` says stop.
pub(crate) async fn run<DB, F>(
    pool: &Pool<DB>,
    job: &Backfill,
    opts: &BackfillOptions,
    mut progress: F,
) -> StorageResult<BackfillProgress>
where
    DB: BackfillDialect,
    F: FnMut(&BackfillProgress) -> Flow + Send,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    job.check().map_err(|e| StorageError::Backend(e.into()))?;
    let mut conn = pool.acquire().await.map_err(|e| into_storage(e.into()))?;
    // Closed rather than pooled when this run ends or is dropped: a
    // dropped run may leave a batch transaction open (closing rolls it
    // back on the server) and the session settings must not leak.
    conn.close_on_drop();
    let conn: &mut DB::Connection = &mut conn;
    let result: Result<BackfillProgress, DbError> = async {
        let began = Instant::now();
        DB::prepare(conn, opts).await?;
        // A run that restarts right after a killed one can meet it here:
        // the server finishes the dead session's `CREATE TABLE` or insert
        // after the client has gone, and until it does this one waits past
        // the lock timeout or, on PostgreSQL, loses the race to create the
        // table. Both leave nothing behind.
        let mut attempt = 1;
        loop {
            match register::<DB>(conn, job).await {
                Err(DbError::Sql(e))
                    if (DB::lock_timeout(&e) || lost_create_race(&e))
                        && attempt < opts.attempts.max(1) =>
                {
                    backoff(attempt.min(5)).await;
                    attempt += 1;
                }
                other => break other?,
            }
        }
        let ph = |i: usize| {
            if DB::NUMBERED {
                format!("${i}")
            } else {
                "?".into()
            }
        };
        let row = sqlx::query(&format!(
            "SELECT cursor_int, cursor_text, cursor_bytes, scanned, updated, batches, done \
         FROM lk_backfills WHERE name = {}",
            ph(1)
        ))
        .bind(job.name.clone())
        .fetch_one(&mut *conn)
        .await?;
        let mut p = BackfillProgress {
            rows_scanned: count(row.i64("scanned")?),
            rows_updated: count(row.i64("updated")?),
            batches: count(row.i64("batches")?),
            cursor: stored_key(&row, job.key_kind)?,
            done: row.i64("done")? != 0,
            batch_size: opts.batch_size.max(1),
            ..BackfillProgress::default()
        };
        if p.done {
            return Ok(p);
        }
        p.estimated_total = DB::estimate(conn, &job.table).await?;
        let sql = Statements::new(DB::NUMBERED, job);
        let advance = format!(
            "UPDATE lk_backfills SET cursor_int = {}, cursor_text = {}, cursor_bytes = {}, \
         scanned = scanned + {}, updated = updated + {}, batches = batches + 1 WHERE name = {}",
            ph(1),
            ph(2),
            ph(3),
            ph(4),
            ph(5),
            ph(6)
        );
        let finish = format!("UPDATE lk_backfills SET done = 1 WHERE name = {}", ph(1));
        let min_batch = opts.min_batch_size.clamp(1, p.batch_size);
        loop {
            if let Some(max) = opts.max_replica_lag {
                wait_for_replicas::<DB>(conn, max, &mut p).await?;
            }
            let mut attempt = 1;
            let batch = loop {
                let once = batch::<DB>(conn, job, &sql, &advance, &finish, &p, opts).await;
                match once {
                    Err(DbError::Sql(e))
                        if DB::lock_timeout(&e) && attempt < opts.attempts.max(1) =>
                    {
                        // Rolled back: nothing of it stays. Let the holder
                        // finish, and ask for less next time.
                        p.lock_timeouts += 1;
                        p.batch_size = (p.batch_size / 2).max(min_batch);
                        backoff(attempt.min(5)).await;
                        attempt += 1;
                    }
                    other => break other?,
                }
            };
            let elapsed = began.elapsed();
            let Some(b) = batch else {
                p.done = true;
                p.elapsed = elapsed;
                p.estimated_remaining = Some(Duration::ZERO);
                progress(&p);
                return Ok(p);
            };
            p.rows_scanned += b.scanned;
            p.rows_updated += b.updated;
            p.batches += 1;
            p.run_rows += b.scanned;
            p.cursor = Some(b.upper);
            p.elapsed = elapsed;
            p.rows_per_sec = p.run_rows as f64 / elapsed.as_secs_f64().max(1e-6);
            p.estimated_remaining = p.estimated_total.map(|total| {
                let left = total.saturating_sub(p.rows_scanned) as f64;
                Duration::from_secs_f64(left / p.rows_per_sec.max(1e-6))
            });
            let mut pause = opts.pause;
            if b.waiters > 0 {
                p.lock_waits_caused += 1;
                p.batch_size = (p.batch_size / 2).max(min_batch);
                pause += opts.lock_wait_backoff;
            } else if b.took > opts.max_batch_time {
                p.batch_size = (p.batch_size / 2).max(min_batch);
            } else {
                p.batch_size = p.batch_size.saturating_mul(2).min(opts.batch_size.max(1));
            }
            if let Some(rate) = opts.max_rows_per_sec.filter(|r| *r > 0.0) {
                // The time this batch should have taken at the target rate.
                let due = Duration::from_secs_f64(b.scanned as f64 / rate);
                pause = pause.max(due.saturating_sub(b.took));
            }
            match progress(&p) {
                Flow::Continue => {}
                Flow::Pause(d) => pause += d,
                Flow::Stop => return Ok(p),
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
    }
    .await;
    result.map_err(into_storage)
}

/// One batch in its own transaction; `None` when no key is left (the
/// backfill is then marked done).
async fn batch<DB>(
    conn: &mut DB::Connection,
    job: &Backfill,
    sql: &Statements,
    advance: &str,
    finish: &str,
    p: &BackfillProgress,
    opts: &BackfillOptions,
) -> Result<Option<Batch>, DbError>
where
    DB: BackfillDialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    for<'q> Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let limit = i64::from(p.batch_size);
    let mut tx = DB::begin(conn, opts).await?;
    let started = Instant::now();
    let row = match &p.cursor {
        Some(c) => {
            bind_key!(sqlx::query(&sql.upper_next), c)
                .bind(limit)
                .fetch_optional(&mut *tx)
                .await?
        }
        None => {
            sqlx::query(&sql.upper_first)
                .bind(limit)
                .fetch_optional(&mut *tx)
                .await?
        }
    };
    let Some(row) = row else {
        sqlx::query(finish)
            .bind(job.name.clone())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        return Ok(None);
    };
    let upper = key_from(&row, "bk", job.key_kind)?;
    let scanned = count(row.i64("n")?);
    let result = match &p.cursor {
        Some(c) => {
            let q = bind_key!(sqlx::query(&sql.update_next), c);
            bind_key!(q, &upper).execute(&mut *tx).await?
        }
        None => {
            bind_key!(sqlx::query(&sql.update_first), &upper)
                .execute(&mut *tx)
                .await?
        }
    };
    let updated = DB::affected(&result);
    let (i, t, b) = match &upper {
        Key::Int(v) => (Some(*v), None, None),
        Key::Text(v) => (None, Some(v.clone()), None),
        Key::Bytes(v) => (None, None, Some(v.clone())),
    };
    sqlx::query(advance)
        .bind(i)
        .bind(t)
        .bind(b)
        .bind(signed(scanned))
        .bind(signed(updated))
        .bind(job.name.clone())
        .execute(&mut *tx)
        .await?;
    // Asked while this batch still holds its locks: anyone waiting now
    // may be waiting for us.
    let waiters = DB::waiters(&mut tx).await?;
    tx.commit().await?;
    Ok(Some(Batch {
        upper,
        scanned,
        updated,
        waiters,
        took: started.elapsed(),
    }))
}

/// Waits while the replicas are further behind than `max`.
async fn wait_for_replicas<DB: BackfillDialect>(
    conn: &mut DB::Connection,
    max: Duration,
    p: &mut BackfillProgress,
) -> Result<(), DbError> {
    loop {
        match DB::replica_lag(conn).await? {
            Some(lag) if lag > max => {
                let nap = (lag - max).clamp(Duration::from_millis(100), Duration::from_secs(5));
                p.replica_wait += nap;
                tokio::time::sleep(nap).await;
            }
            _ => return Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_number_only_their_own_placeholders() {
        let job = Backfill::new("b", "t", "id", KeyKind::Int)
            .set("note = '?'")
            .pending("note IS NULL");
        let pg = Statements::new(true, &job);
        assert_eq!(
            pg.update_next,
            "UPDATE t SET note = '?' WHERE id > $1 AND id <= $2 AND (note IS NULL)"
        );
        assert!(pg.upper_next.contains("WHERE id > $1 ORDER BY id LIMIT $2"));
        assert!(pg.upper_first.contains("FROM t  ORDER BY id LIMIT $1"));
        let q = Statements::new(false, &job.clone().pending(""));
        assert_eq!(q.update_first, "UPDATE t SET note = '?' WHERE id <= ?");
        assert!(!q.upper_next.to_uppercase().contains("OFFSET"));
    }

    #[test]
    fn identifiers_are_checked() {
        let ok = Backfill::new("b", "lk_access_tokens", "hash", KeyKind::Bytes).set("x = 1");
        assert!(ok.check().is_ok());
        for bad in ["t; DROP TABLE x", "", "1t", "a.b"] {
            let mut j = ok.clone();
            j.table = bad.into();
            assert!(j.check().is_err(), "{bad}");
        }
        assert!(ok.clone().set(" ").check().is_err());
    }
}
