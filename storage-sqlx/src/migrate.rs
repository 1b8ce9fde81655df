//! Embedded schema migrations and what the per-dialect runners share.
//!
//! Latchkey runs its own small runner instead of `sqlx::migrate!`:
//! PostgreSQL index builds must use `CREATE INDEX CONCURRENTLY`, which cannot
//! run inside a transaction, every schema change must run under a short
//! `lock_timeout` (and be retried when it gives up, rather than queue the
//! hot path behind it), and several instances may call `migrate()` at once.
//! The runner takes a database-wide lock (advisory lock, `GET_LOCK`, or
//! SQLite's write lock), records each applied version with a SHA-256
//! checksum in `lk_schema_migrations`, refuses to run when an applied file
//! was edited afterwards, and ignores applied versions it does not know
//! (a newer release migrated first: expand/contract keeps old code working).
//! The rules every file follows are in `MIGRATIONS.md`.

use std::time::Duration;

pub(crate) mod runner;

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/migrations.rs"));
}

/// Marker on a migration's first line: run each statement on its own,
/// outside a transaction (PostgreSQL `CREATE INDEX CONCURRENTLY`).
pub const NO_TRANSACTION: &str = "-- no-transaction";

/// One schema migration: `NNNN_name.sql`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    /// Version, strictly increasing; applied in this order.
    pub version: i64,
    /// Name, from the file name.
    pub name: String,
    /// SQL text. Statements end with `;` at the end of a line.
    pub sql: String,
}

impl Migration {
    /// A migration from its parts.
    #[must_use]
    pub fn new(version: i64, name: impl Into<String>, sql: impl Into<String>) -> Self {
        Migration {
            version,
            name: name.into(),
            sql: sql.into(),
        }
    }

    /// Whether the file starts with [`NO_TRANSACTION`].
    #[must_use]
    pub fn no_transaction(&self) -> bool {
        self.sql.trim_start().starts_with(NO_TRANSACTION)
    }

    /// SHA-256 of the text with line endings normalised, so a checkout
    /// with CRLF endings does not look like an edited migration.
    #[must_use]
    pub fn checksum(&self) -> Vec<u8> {
        let text = self.sql.replace("\r\n", "\n");
        ring::digest::digest(&ring::digest::SHA256, text.as_bytes())
            .as_ref()
            .to_vec()
    }

    /// The statements, split where a line ends with `;`, without comment
    /// lines. Statements therefore must not end a line with `;` inside
    /// themselves (no function bodies): `MIGRATIONS.md` forbids them.
    #[must_use]
    pub fn statements(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut cur = String::new();
        for line in self.sql.lines() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with("--") {
                continue;
            }
            cur.push_str(line);
            cur.push('\n');
            if trimmed.ends_with(';') {
                out.push(std::mem::take(&mut cur).trim().to_owned());
            }
        }
        if !cur.trim().is_empty() {
            out.push(cur.trim().to_owned());
        }
        out
    }
}

fn from_embedded(list: &[(i64, &str, &str)]) -> Vec<Migration> {
    list.iter()
        .map(|(v, n, s)| Migration::new(*v, *n, *s))
        .collect()
}

/// The PostgreSQL migrations shipped with this crate.
#[must_use]
pub fn postgres_migrations() -> Vec<Migration> {
    from_embedded(embedded::POSTGRES)
}

/// The MySQL/MariaDB migrations shipped with this crate.
#[must_use]
pub fn mysql_migrations() -> Vec<Migration> {
    from_embedded(embedded::MYSQL)
}

/// The SQLite migrations shipped with this crate.
#[must_use]
pub fn sqlite_migrations() -> Vec<Migration> {
    from_embedded(embedded::SQLITE)
}

/// How the runner applies migrations.
#[derive(Clone, Debug)]
pub struct MigrateOptions {
    /// `lock_timeout` for every schema change (PostgreSQL; rounded up to
    /// whole seconds for MySQL's `lock_wait_timeout`). Short, so a change
    /// stuck behind a long transaction gives up instead of making every
    /// hot query queue behind its lock request.
    pub lock_timeout: Duration,
    /// Attempts per migration when it gave up on a lock.
    pub attempts: u32,
    /// Migrations to run after the embedded ones (tests, extensions).
    /// Versions must be above the embedded ones.
    pub extra: Vec<Migration>,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        MigrateOptions {
            lock_timeout: Duration::from_millis(50),
            attempts: 100,
            extra: Vec::new(),
        }
    }
}

/// What a runner did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MigrateReport {
    /// Versions applied by this call, in order.
    pub applied: Vec<i64>,
    /// Lock timeouts hit and retried.
    pub lock_retries: u32,
}

/// The embedded list plus `extra`, checked to be strictly increasing.
pub(crate) fn plan(
    embedded: Vec<Migration>,
    opts: &MigrateOptions,
) -> Result<Vec<Migration>, latchkey::storage::StorageError> {
    let mut all = embedded;
    all.extend(opts.extra.iter().cloned());
    if all.windows(2).any(|w| w[0].version >= w[1].version) {
        return Err(latchkey::storage::StorageError::Backend(
            "migration versions must be strictly increasing".into(),
        ));
    }
    Ok(all)
}

/// An applied migration whose text changed afterwards.
pub(crate) fn edited(m: &Migration) -> latchkey::storage::StorageError {
    latchkey::storage::StorageError::Backend(
        format!(
            "migration {} ({}) was edited after it was applied; add a new migration instead",
            m.version, m.name
        )
        .into(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_split_on_line_ending_semicolons() {
        let m = Migration::new(
            1,
            "x",
            "-- no-transaction\n-- a comment; not a statement\nALTER TABLE t\n  ADD COLUMN IF NOT EXISTS c TEXT;\n\nDROP INDEX CONCURRENTLY IF EXISTS i;\n",
        );
        assert!(m.no_transaction());
        assert_eq!(
            m.statements(),
            vec![
                "ALTER TABLE t\n  ADD COLUMN IF NOT EXISTS c TEXT;".to_owned(),
                "DROP INDEX CONCURRENTLY IF EXISTS i;".to_owned()
            ]
        );
        assert!(!Migration::new(2, "y", "CREATE TABLE t (a INT);").no_transaction());
    }

    #[test]
    fn checksums_ignore_line_endings_only() {
        let lf = Migration::new(1, "x", "SELECT 1;\n");
        let crlf = Migration::new(1, "x", "SELECT 1;\r\n");
        assert_eq!(lf.checksum(), crlf.checksum());
        assert_ne!(
            lf.checksum(),
            Migration::new(1, "x", "SELECT 2;\n").checksum()
        );
    }

    #[test]
    fn embedded_migrations_are_ordered_and_extras_must_follow() {
        for list in [
            postgres_migrations(),
            mysql_migrations(),
            sqlite_migrations(),
        ] {
            assert!(!list.is_empty());
            assert!(list.windows(2).all(|w| w[0].version < w[1].version));
        }
        let opts = MigrateOptions {
            extra: vec![Migration::new(1, "dup", "SELECT 1;")],
            ..MigrateOptions::default()
        };
        assert!(plan(postgres_migrations(), &opts).is_err());
    }
}
