//! Starting a transaction so that cancelling the caller cannot leak it.
//!
//! sqlx 0.8.6 `Pool::begin` is not cancel-safe on PostgreSQL or MySQL: the
//! driver sends `BEGIN`, then awaits the answer, and only then records the
//! transaction (`transaction_depth += 1`) that its drop guards roll back.
//! A future dropped at that await (a task abort, a `timeout`, a `select!`,
//! a disconnected HTTP client) queues no `ROLLBACK`, and the pool's
//! release check (`ping`) does not look at the server's transaction
//! status, so the connection goes back to the pool *inside* a transaction.
//! Every later autocommit statement on it (any store call) then runs in
//! that transaction: it returns success but is not committed, holds its row
//! locks, and commits only when some later `BEGIN … COMMIT` on that
//! connection does (or is lost if that one rolls back). For the outbox this
//! broke the per-grant order: a revocation "committed" in the leaked
//! transaction got its number after the same writer's next revocation.
//! Upstream: transact-rs/sqlx#4393 (also in 0.9.0), fixed by #4394.
//! (SQLite rolls a cancelled `BEGIN` back in its worker, but a custom
//! `BEGIN IMMEDIATE` has one more await before the `Transaction` exists.)
//!
//! [`begin`] runs `Pool::begin` in its own task. Dropping the caller then
//! only detaches that task: it runs to the end, and the `Transaction` it
//! returns is dropped unclaimed, which queues the `ROLLBACK` that the pool
//! sends before it hands the connection out again. A spawn costs
//! microseconds; the `BEGIN` round trip costs more.

use std::borrow::Cow;

use sqlx::{Database, Pool, Transaction};

/// `pool.begin_with(statement)` (or `pool.begin()` for `None`), cancel-safe
/// (see the module docs).
///
/// # Errors
/// As `Pool::begin`; `WorkerCrashed` if the runtime dropped the task.
pub(crate) async fn begin<DB: Database>(
    pool: &Pool<DB>,
    statement: Option<&'static str>,
) -> Result<Transaction<'static, DB>, sqlx::Error> {
    let pool = pool.clone();
    let task = tokio::spawn(async move {
        match statement {
            Some(s) => pool.begin_with(Cow::Borrowed(s)).await,
            None => pool.begin().await,
        }
    });
    match task.await {
        Ok(tx) => tx,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // The runtime is shutting down.
        Err(_) => Err(sqlx::Error::WorkerCrashed),
    }
}
