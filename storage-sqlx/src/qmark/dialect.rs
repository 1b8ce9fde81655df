//! What differs between the `?`-placeholder dialects, and the sqlx bounds
//! the shared code needs.

use std::future::Future;

use latchkey::clock::Timestamp;
use latchkey::storage::PurgeReport;
use sqlx::{Database, Pool, Transaction};

use crate::backfill::runner::BackfillDialect;
use crate::codec::Cols;
use crate::error::DbError;
use crate::migrate::runner::MigrateDialect;

/// The matched-row count of a statement (sqlx has no trait for it).
pub(crate) trait Affected {
    /// Rows the statement matched.
    fn affected(&self) -> u64;
}

/// A `?`-placeholder dialect: the sqlx database plus the statements that
/// cannot be written once for both. Everything else is in the capability
/// files next to this one.
pub(crate) trait Dialect:
    MigrateDialect + BackfillDialect + Database<Row: Cols, QueryResult: Affected>
{
    /// Whether `SELECT … FOR UPDATE` locks rows. MySQL locks rows, so a
    /// cascading revocation locks the families first (the order rotation
    /// takes them in); SQLite locks the whole database when a write
    /// transaction begins, so there is nothing to lock row by row.
    const ROW_LOCKS: bool;

    /// Whether `UPDATE`/`DELETE … RETURNING` exists (SQLite 3.35+; not
    /// MySQL 8): with it, a take or a counted failure is one statement.
    const RETURNING: bool;

    /// Appended to the approval's client read: holds the client row so a
    /// concurrent `delete_client` is ordered before or after the approval.
    const SHARE_LOCK: &'static str;

    /// Appended to the approval's grant read: locks the grant row so
    /// concurrent approvals of one pair merge one after another.
    const ROW_LOCK: &'static str;

    /// Appended to an `INSERT INTO lk_grants`: makes it a no-op when the
    /// (subject, client) pair already has a grant.
    const GRANT_IF_ABSENT: &'static str;

    /// Registers consumer `?` at cursor 0 unless it is registered.
    const REGISTER_CURSOR: &'static str;

    /// Moves consumer `?`'s cursor to `?`, never backwards.
    const ADVANCE_CURSOR: &'static str;

    /// Begins a transaction that is going to write.
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, DbError>> + Send;

    /// Takes `n` sequence numbers from the one-row event counter and
    /// returns the last. The counter's lock is held until commit, so this
    /// must be the transaction's last write but for the event inserts.
    fn take_seqs(
        conn: &mut Self::Connection,
        n: i64,
    ) -> impl Future<Output = Result<i64, DbError>> + Send;

    /// Deletes one batch (up to `n` of each kind) of expired records and
    /// of events every consumer is done with.
    fn purge(
        pool: &Pool<Self>,
        now: Timestamp,
        n: i64,
    ) -> impl Future<Output = Result<PurgeReport, DbError>> + Send;

    /// Deletes up to `n` browser sessions last seen before `idle_before`
    /// or created before `created_before`, through their expiry indexes;
    /// returns how many.
    fn purge_sessions(
        pool: &Pool<Self>,
        idle_before: Timestamp,
        created_before: Timestamp,
        n: i64,
    ) -> impl Future<Output = Result<u64, DbError>> + Send;
}

/// Writes an `impl` block for [`QmarkStore`](super::QmarkStore) over every
/// dialect: `qmark_impl! { impl QmarkStore { … } }` or
/// `qmark_impl! { #[async_trait] impl SomeStore for QmarkStore { … } }`.
/// Rust does not carry a trait's `where` clauses to the code that uses the
/// trait, so the sqlx bounds the shared statements need are spelled out
/// once, here, instead of on every block.
macro_rules! qmark_impl {
    (@bounds [$($head:tt)*] $body:tt) => {
        $($head)*
        where
            DB: $crate::qmark::Dialect,
            for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
            for<'q> DB::Arguments<'q>: sqlx::IntoArguments<'q, DB>,
            for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> &'q String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
            for<'q> Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        $body
    };
    (impl QmarkStore $body:tt) => {
        // `Dialect` stays crate-private on purpose: callers name the
        // concrete stores (`MySqlStore`, `SqliteStore`), never the bound.
        qmark_impl!(@bounds [#[allow(private_bounds)] impl<DB> $crate::qmark::QmarkStore<DB>] $body);
    };
    ($(#[$attr:meta])* impl $tr:ident for QmarkStore $body:tt) => {
        qmark_impl!(@bounds [$(#[$attr])* impl<DB> $tr for $crate::qmark::QmarkStore<DB>] $body);
    };
}
