//! Driver errors mapped to [`StorageError`], and the internal retry policy.
//!
//! Deadlocks, serialization failures and lock timeouts roll the whole
//! statement or transaction back, so running it again is safe: those are
//! retried here a few times with jittered backoff before the caller sees
//! [`StorageError::Unavailable`]. Connection loss, pool exhaustion and
//! server shutdown are reported as `Unavailable` at once: a write may or may
//! not have committed, and only the caller knows whether it can repeat it.

use std::time::Duration;

use latchkey::storage::StorageError;

/// Attempts of one operation when the database asked us to retry.
pub(crate) const MAX_ATTEMPTS: u32 = 5;

/// Internal error of one store operation.
#[derive(Debug)]
pub(crate) enum DbError {
    /// From the driver; classified by [`class_of`].
    Sql(sqlx::Error),
    /// A contract outcome decided by the store itself.
    Store(StorageError),
}

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        DbError::Sql(e)
    }
}

impl From<StorageError> for DbError {
    fn from(e: StorageError) -> Self {
        DbError::Store(e)
    }
}

/// A record that could not be decoded: the stored data is not what this
/// version wrote.
pub(crate) fn corrupt(what: impl Into<String>) -> DbError {
    DbError::Store(StorageError::Backend(what.into().into()))
}

/// How to treat a driver error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Rolled back by the database; safe to run again.
    Retry,
    /// The database is unreachable, overloaded or shutting down.
    Unavailable,
    /// A unique constraint refused the write.
    Conflict,
    /// Anything else.
    Backend,
}

/// Classifies a driver error.
pub(crate) fn class_of(e: &sqlx::Error) -> Class {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => Class::Unavailable,
        sqlx::Error::Database(db) => db_class(db.as_ref()),
        _ => Class::Backend,
    }
}

fn db_class(db: &dyn sqlx::error::DatabaseError) -> Class {
    if matches!(db.kind(), sqlx::error::ErrorKind::UniqueViolation) {
        return Class::Conflict;
    }
    #[cfg(feature = "postgres")]
    if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
        return pg_class(pg.code());
    }
    #[cfg(feature = "mysql")]
    if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
        return mysql_class(my.number());
    }
    #[cfg(feature = "sqlite")]
    if let Some(code) = db
        .try_downcast_ref::<sqlx::sqlite::SqliteError>()
        .and_then(sqlx::error::DatabaseError::code)
    {
        return sqlite_class(&code);
    }
    Class::Backend
}

/// SQLSTATE classes of PostgreSQL (appendix A of its manual).
#[cfg(feature = "postgres")]
fn pg_class(code: &str) -> Class {
    match code {
        // serialization_failure, deadlock_detected, lock_not_available
        "40001" | "40P01" | "55P03" => Class::Retry,
        // query_canceled (statement_timeout), admin/crash shutdown,
        // cannot_connect_now, read_only_sql_transaction (failover to a
        // replica), idle session timeout
        "57014" | "57P01" | "57P02" | "57P03" | "25006" | "57P05" => Class::Unavailable,
        // connection exceptions, insufficient resources
        c if c.starts_with("08") || c.starts_with("53") => Class::Unavailable,
        _ => Class::Backend,
    }
}

/// MySQL/MariaDB error numbers.
#[cfg(feature = "mysql")]
fn mysql_class(number: u16) -> Class {
    match number {
        // ER_LOCK_DEADLOCK, ER_LOCK_WAIT_TIMEOUT
        1213 | 1205 => Class::Retry,
        // too many connections, server gone/lost, shutdown, killed, query
        // timeouts (MySQL 3024, MariaDB 1969), read-only, idle disconnect
        1040 | 1053 | 1927 | 2006 | 2013 | 3024 | 1969 | 1290 | 4031 => Class::Unavailable,
        _ => Class::Backend,
    }
}

/// SQLite result codes; the low byte is the primary code.
#[cfg(feature = "sqlite")]
fn sqlite_class(code: &str) -> Class {
    match code.parse::<u32>().map(|c| c & 0xff) {
        // SQLITE_BUSY, SQLITE_LOCKED: another writer held the database past
        // the busy timeout.
        Ok(5 | 6) => Class::Unavailable,
        _ => Class::Backend,
    }
}

/// SQLite's `SQLITE_BUSY` or `SQLITE_LOCKED`: another writer held the
/// database past the busy timeout, and nothing of the attempt stayed.
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite_busy(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db)
        if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some()
            && db.code().is_some_and(|c| sqlite_class(&c) == Class::Unavailable))
}

/// Whether the failed attempt may be repeated.
pub(crate) fn should_retry(e: &DbError) -> bool {
    matches!(e, DbError::Sql(s) if class_of(s) == Class::Retry)
}

/// The error the caller sees.
pub(crate) fn into_storage(e: DbError) -> StorageError {
    match e {
        DbError::Store(s) => s,
        DbError::Sql(s) => match class_of(&s) {
            Class::Conflict => StorageError::Conflict,
            Class::Retry | Class::Unavailable => StorageError::Unavailable(Box::new(s)),
            Class::Backend => StorageError::Backend(Box::new(s)),
        },
    }
}

/// Sleeps before attempt `attempt + 1`: exponential from 2 ms, with jitter
/// so that transactions that deadlocked each other do not meet again.
pub(crate) async fn backoff(attempt: u32) {
    let base = 2u64 << attempt.min(6);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = u64::from(nanos) % base.max(1);
    tokio::time::sleep(Duration::from_millis(base + jitter)).await;
}

/// Runs `$op` (an expression yielding a fresh future each time) until it
/// succeeds, fails for good, or runs out of attempts; maps the error.
macro_rules! retrying {
    ($op:expr) => {{
        let mut attempt: u32 = 1;
        loop {
            match $op.await {
                Err(e)
                    if attempt < $crate::error::MAX_ATTEMPTS && $crate::error::should_retry(&e) =>
                {
                    $crate::error::backoff(attempt).await;
                    attempt += 1;
                }
                other => break other.map_err($crate::error::into_storage),
            }
        }
    }};
}
pub(crate) use retrying;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_errors_map_to_storage_errors() {
        let io = sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(class_of(&io), Class::Unavailable);
        assert_eq!(class_of(&sqlx::Error::PoolTimedOut), Class::Unavailable);
        assert_eq!(class_of(&sqlx::Error::RowNotFound), Class::Backend);
        assert!(matches!(
            into_storage(DbError::Sql(sqlx::Error::PoolTimedOut)),
            StorageError::Unavailable(_)
        ));
        assert!(matches!(
            into_storage(DbError::Sql(sqlx::Error::RowNotFound)),
            StorageError::Backend(_)
        ));
        assert!(matches!(
            into_storage(StorageError::Conflict.into()),
            StorageError::Conflict
        ));
        assert!(!should_retry(&DbError::Sql(sqlx::Error::PoolTimedOut)));
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_codes() {
        for c in ["40001", "40P01", "55P03"] {
            assert_eq!(pg_class(c), Class::Retry, "{c}");
        }
        for c in ["08006", "08001", "53300", "57P01", "57014"] {
            assert_eq!(pg_class(c), Class::Unavailable, "{c}");
        }
        for c in ["42601", "22P02"] {
            assert_eq!(pg_class(c), Class::Backend, "{c}");
        }
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn mysql_numbers() {
        assert_eq!(mysql_class(1213), Class::Retry);
        assert_eq!(mysql_class(1205), Class::Retry);
        assert_eq!(mysql_class(2013), Class::Unavailable);
        assert_eq!(mysql_class(1040), Class::Unavailable);
        assert_eq!(mysql_class(1064), Class::Backend);
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_codes() {
        assert_eq!(sqlite_class("5"), Class::Unavailable);
        assert_eq!(sqlite_class("517"), Class::Unavailable);
        assert_eq!(sqlite_class("6"), Class::Unavailable);
        assert_eq!(sqlite_class("2067"), Class::Backend);
    }
}
