//! [`RedbStore`]: opening a file, checking its schema, and running every
//! storage call as one redb transaction on a blocking thread.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::Arc;

use latchkey::storage::{StorageError, StorageResult};
use redb::{ConcurrencyMode, Database, Durability, ReadTransaction, ReadableDatabase as _};

use crate::error::{from_join, panic_message, Failure, OpenError};
use crate::hooks::Hooks;
use crate::tables::{create_all, upgrade_from_v1, META, SCHEMA_KEY, SCHEMA_VERSION};
use crate::tx::Tx;

/// Latchkey storage on an embedded [redb](https://docs.rs/redb) file.
///
/// Implements every trait of [`latchkey::storage`]; see the crate docs for
/// durability, locking and threading.
///
/// Cloning is cheap and shares the open file.
#[derive(Clone)]
pub struct RedbStore {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) db: Database,
    hooks: Hooks,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedbStore")
    }
}

impl RedbStore {
    /// Opens the store in the file at `path`, creating the file and its
    /// tables if it does not exist, and upgrading a file written by an
    /// older version of this crate (schema 1 to 4) in place, in one
    /// transaction.
    ///
    /// This blocks on file I/O (and on crash recovery, if the last process
    /// using the file died); call it at startup or inside
    /// `tokio::task::spawn_blocking`.
    ///
    /// # Errors
    ///
    /// [`OpenError::AlreadyOpen`] if another handle or process has the file
    /// open, [`OpenError::NewerSchema`] if a newer version of this crate
    /// wrote it, [`OpenError::NotLatchkey`] if it holds someone else's redb
    /// tables, [`OpenError::Redb`] for I/O failures and corruption.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, OpenError> {
        // ExclusiveWriter is redb's default; spelled out because the
        // one-process-per-file guarantee in the crate docs rests on it.
        let db = Database::builder()
            .set_concurrency_mode(ConcurrencyMode::ExclusiveWriter)
            .create(path)?;
        Self::from_database(db)
    }

    /// Wraps a database opened with custom redb settings (cache size,
    /// repair callback, …; see [`redb::Builder`]), checking, creating or
    /// upgrading the schema as [`RedbStore::open`] does.
    ///
    /// Every call stays one transaction whatever the settings. Only the
    /// default [`ConcurrencyMode::ExclusiveWriter`] is tested here; the
    /// multi-process modes should keep the contracts (redb still runs one
    /// write transaction at a time) but are not covered by this crate's
    /// tests.
    ///
    /// # Errors
    ///
    /// As [`RedbStore::open`], except for errors of opening the file itself.
    pub fn from_database(db: Database) -> Result<Self, OpenError> {
        init_schema(&db)?;
        Ok(RedbStore {
            inner: Arc::new(Inner {
                db,
                hooks: Hooks::default(),
            }),
        })
    }

    /// Installs a fault hook, called as `hook(operation, stage)` at named
    /// points inside write transactions: `"mid"` between the parts of a
    /// multi-table change and `"commit"` just before it is committed.
    /// Tests use it to panic or stall (then kill the process) there.
    ///
    /// Only with the `test-hooks` feature; never enable it in production.
    #[cfg(feature = "test-hooks")]
    pub fn set_fault_hook(&self, hook: impl Fn(&str, &str) + Send + Sync + 'static) {
        self.inner.hooks.set(Some(Arc::new(hook)));
    }

    /// Removes the fault hook (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn clear_fault_hook(&self) {
        self.inner.hooks.set(None);
    }

    /// Runs `job` on a blocking thread so redb's synchronous I/O never
    /// stalls an async worker. A panic in `job` becomes
    /// [`StorageError::Backend`]: redb rolls the open transaction back as
    /// the panic unwinds, so nothing of it is committed.
    ///
    /// Outside a Tokio runtime there is no blocking pool to use, so the job
    /// runs in place (with the same panic handling).
    ///
    /// If the caller drops the future, the job still runs to completion:
    /// the change is then either fully committed or not at all, never
    /// half-done.
    pub(crate) async fn call<T: Send + 'static>(
        &self,
        job: impl FnOnce(&Inner) -> Result<T, Failure> + Send + 'static,
    ) -> StorageResult<T> {
        let inner = Arc::clone(&self.inner);
        let job = move || job(&inner).map_err(StorageError::from);
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => rt.spawn_blocking(job).await.map_err(from_join)?,
            Err(_) => std::panic::catch_unwind(AssertUnwindSafe(job))
                .map_err(|p| StorageError::Backend(panic_message(p).into()))?,
        }
    }
}

impl Inner {
    /// Runs `f` in one write transaction for the operation `op`, committing
    /// (durably) only if it succeeded and changed something. On an error the
    /// transaction is dropped, which rolls everything in it back.
    pub(crate) fn write<T>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let mut txn = self.db.begin_write()?;
        // Immediate is redb's default; set anyway, since every contract's
        // "once it returned Ok it happened" depends on it.
        txn.set_durability(Durability::Immediate)?;
        let (out, changed) = {
            let mut tx = Tx::open(&txn, op, &self.hooks)?;
            let out = f(&mut tx)?;
            tx.fault("commit");
            (out, tx.changed())
        };
        if changed {
            txn.commit()?;
        } else {
            txn.abort()?;
        }
        Ok(out)
    }

    /// Runs `f` on one consistent snapshot.
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, Failure>,
    ) -> Result<T, Failure> {
        let txn = self.db.begin_read()?;
        f(&txn)
    }
}

/// Checks the schema version of `db`: records the current one (with every
/// table) in a file that has none, or upgrades an older one in place. Each
/// change is one transaction, so a crash during it leaves the file as it
/// was and the next open starts over.
fn init_schema(db: &Database) -> Result<(), OpenError> {
    let found = {
        let txn = db.begin_read().map_err(Failure::from)?;
        match txn.open_table(META) {
            Ok(meta) => meta
                .get(SCHEMA_KEY)
                .map_err(Failure::from)?
                .map(|v| v.value()),
            Err(redb::TableError::TableDoesNotExist(_)) => {
                let has_tables = txn.list_tables().map_err(Failure::from)?.next().is_some();
                if has_tables {
                    return Err(OpenError::NotLatchkey);
                }
                None
            }
            Err(e) => return Err(Failure::from(e).into()),
        }
    };
    match found {
        Some(SCHEMA_VERSION) => Ok(()),
        Some(found) if found > SCHEMA_VERSION => Err(OpenError::NewerSchema {
            found,
            supported: SCHEMA_VERSION,
        }),
        // Every step from `found` to the current version, in one
        // transaction: a crash part-way leaves the file at `found`.
        Some(found @ 1..SCHEMA_VERSION) => set_up(db, |txn| {
            if found < 2 {
                upgrade_from_v1(txn)?;
            }
            // Versions 3, 4 and 5 only add tables. Any table a later
            // version added is created here, empty.
            create_all(txn)
        }),
        Some(found) => Err(OpenError::UnsupportedSchema { found }),
        None => set_up(db, create_all),
    }
}

/// Runs `f` and records [`SCHEMA_VERSION`] in one durable write
/// transaction.
fn set_up(
    db: &Database,
    f: impl FnOnce(&redb::WriteTransaction) -> Result<(), Failure>,
) -> Result<(), OpenError> {
    let mut txn = db.begin_write().map_err(Failure::from)?;
    txn.set_durability(Durability::Immediate)
        .map_err(Failure::from)?;
    f(&txn)?;
    {
        let mut meta = txn.open_table(META).map_err(Failure::from)?;
        meta.insert(SCHEMA_KEY, SCHEMA_VERSION)
            .map_err(Failure::from)?;
    }
    txn.commit().map_err(Failure::from)?;
    Ok(())
}
