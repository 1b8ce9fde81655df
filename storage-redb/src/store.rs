//! [`RedbStore`]: opening a file, checking its schema, serving reads from
//! the last durable snapshot, and running writes through one writer thread
//! that commits concurrent calls together (group commit).

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, RwLock};
use std::thread::JoinHandle;

use latchkey::storage::{StorageError, StorageResult};
use redb::{ConcurrencyMode, Database, ReadTransaction, ReadableDatabase as _};
use tokio::sync::oneshot;

use crate::error::{panic_message, Failure, OpenError};
use crate::hooks::Hooks;
use crate::tables::{create_all, upgrade_from_v1, META, SCHEMA_KEY, SCHEMA_VERSION};
use crate::tx::Tx;
use crate::writer::{self, Job};

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

/// One open file: what readers and the writer thread share, the writer's
/// queue, and the thread itself (joined when the last handle goes, so the
/// file is closed, and can be reopened, once `drop` returns).
pub(crate) struct Inner {
    pub(crate) shared: Arc<Shared>,
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    writer: Option<JoinHandle<()>>,
}

/// What the callers and the writer thread share.
pub(crate) struct Shared {
    /// The last durable state: every read runs on it. Declared before `db`
    /// so it is dropped first.
    snapshot: RwLock<Arc<ReadTransaction>>,
    /// Whether batches may commit non-durably before their last call (see
    /// [`RedbStore::from_database`]).
    pub(crate) group: bool,
    pub(crate) db: Database,
    pub(crate) hooks: Hooks,
    /// Durable (fsynced) commits since open, for [`RedbStore::durable_commits`].
    pub(crate) durable_commits: AtomicU64,
}

impl fmt::Debug for RedbStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RedbStore")
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        // Closing the queue ends the writer's loop once it has answered
        // everything already queued.
        self.jobs.take();
        if let Some(w) = self.writer.take() {
            let _ = w.join();
        }
    }
}

impl RedbStore {
    /// Opens the store in the file at `path`, creating the file and its
    /// tables if it does not exist, and upgrading a file written by an
    /// older version of this crate (schema 1 to 5) in place, in one
    /// transaction.
    ///
    /// This blocks on file I/O (and on crash recovery, if the last process
    /// using the file died); call it at startup or inside
    /// `tokio::task::spawn_blocking`. It starts the store's writer thread.
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
    /// Group commit and reads from the published snapshot need the default
    /// [`ConcurrencyMode::ExclusiveWriter`] (non-durable commits, and this
    /// handle the file's only writer). In a mode that refuses non-durable
    /// commits every call commits durably on its own and reads start a
    /// fresh snapshot; those modes are not covered by this crate's tests.
    ///
    /// # Errors
    ///
    /// As [`RedbStore::open`], except for errors of opening the file itself.
    pub fn from_database(db: Database) -> Result<Self, OpenError> {
        init_schema(&db)?;
        let group = allows_group_commit(&db)?;
        let snapshot = db.begin_read().map_err(Failure::from)?;
        let shared = Arc::new(Shared {
            snapshot: RwLock::new(Arc::new(snapshot)),
            group,
            db,
            hooks: Hooks::default(),
            durable_commits: AtomicU64::new(0),
        });
        let (jobs, queue) = mpsc::channel();
        let writer = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("latchkey-redb-writer".into())
                .spawn(move || writer::run(&shared, &queue))
                .map_err(|e| OpenError::Storage(StorageError::Backend(Box::new(e))))?
        };
        Ok(RedbStore {
            inner: Arc::new(Inner {
                shared,
                jobs: Some(jobs),
                writer: Some(writer),
            }),
        })
    }

    /// Durable (fsynced) commits since the store was opened. Concurrent
    /// state changes share one, so under load this grows more slowly than
    /// the number of calls; a diagnostic for tuning and tests.
    #[must_use]
    pub fn durable_commits(&self) -> u64 {
        self.inner.shared.durable_commits.load(Ordering::Relaxed)
    }

    /// Installs a fault hook, called as `hook(operation, stage)` at named
    /// points inside write transactions: `"mid"` between the parts of a
    /// multi-table change and `"commit"` just before it is committed.
    /// Tests use it to panic or stall (then kill the process) there.
    ///
    /// Only with the `test-hooks` feature; never enable it in production.
    #[cfg(feature = "test-hooks")]
    pub fn set_fault_hook(&self, hook: impl Fn(&str, &str) + Send + Sync + 'static) {
        self.inner.shared.hooks.set(Some(Arc::new(hook)));
    }

    /// Removes the fault hook (feature `test-hooks`).
    #[cfg(feature = "test-hooks")]
    pub fn clear_fault_hook(&self) {
        self.inner.shared.hooks.set(None);
    }

    /// Runs `f` on the last durable snapshot, in place. A point read costs
    /// a few microseconds, far less than a hop to another thread; the pages
    /// it needs are in redb's cache or the OS page cache. A panic in `f`
    /// becomes [`StorageError::Backend`].
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&ReadTransaction) -> Result<T, Failure>,
    ) -> StorageResult<T> {
        let snapshot = self.inner.shared.snapshot()?;
        match std::panic::catch_unwind(AssertUnwindSafe(|| f(&snapshot))) {
            Ok(r) => r.map_err(StorageError::from),
            Err(p) => Err(StorageError::Backend(panic_message(p).into())),
        }
    }

    /// Queues `f` for the writer thread as the operation `op`, and waits
    /// until it has run in its own write transaction and that transaction
    /// is durable (or rolled back: on an error, a panic — reported as
    /// [`StorageError::Backend`] — or when `f` changed nothing).
    ///
    /// Outside a Tokio runtime the caller's thread blocks on the answer.
    /// If the caller drops the future, the operation still runs to
    /// completion: it is then either fully committed or not at all.
    pub(crate) async fn write<T: Send + 'static>(
        &self,
        op: &'static str,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, Failure> + Send + 'static,
    ) -> StorageResult<T> {
        let (reply, answer) = oneshot::channel();
        let sent = self
            .inner
            .jobs
            .as_ref()
            .is_some_and(|q| q.send(writer::job(op, f, reply)).is_ok());
        if !sent {
            return Err(writer::stopped());
        }
        let answer = match tokio::runtime::Handle::try_current() {
            Ok(_) => answer.await,
            Err(_) => answer.blocking_recv(),
        };
        answer.unwrap_or_else(|_| Err(writer::stopped()))
    }
}

impl Shared {
    /// The current durable snapshot (without group commit, where another
    /// process may write, a fresh one).
    fn snapshot(&self) -> Result<Arc<ReadTransaction>, Failure> {
        if !self.group {
            return Ok(Arc::new(self.db.begin_read()?));
        }
        Ok(match self.snapshot.read() {
            Ok(s) => Arc::clone(&s),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        })
    }

    /// Makes the state as of now the one readers see. Called by the writer
    /// right after a durable commit, before it answers anyone, so a caller
    /// whose write returned reads it back.
    pub(crate) fn publish(&self) -> Result<(), Failure> {
        let next = Arc::new(self.db.begin_read()?);
        match self.snapshot.write() {
            Ok(mut s) => *s = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        Ok(())
    }
}

/// Whether `db` takes non-durable commits, which group commit needs (the
/// multi-process concurrency modes refuse them).
fn allows_group_commit(db: &Database) -> Result<bool, OpenError> {
    let mut txn = db.begin_write().map_err(Failure::from)?;
    let allowed = txn.set_durability(redb::Durability::None).is_ok();
    txn.abort().map_err(Failure::from)?;
    Ok(allowed)
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
            // Versions 3, 4 and 5 only add tables, and 6 only a record
            // encoding that it reads next to the old one. Any table a
            // later version added is created here, empty.
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
    txn.set_durability(redb::Durability::Immediate)
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
