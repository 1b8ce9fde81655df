//! The writer thread: group commit.
//!
//! Every state-changing call is queued here as a [`Job`]. The thread takes
//! whatever is queued (up to [`MAX_BATCH`]) and runs each job in its *own*
//! write transaction, one after the other, so each keeps its atomicity and
//! sees exactly the jobs before it, as if they had run alone: a job that
//! fails, refuses or panics is rolled back by redb and leaves no trace, and
//! the others go on. All but the last are committed with
//! [`Durability::None`] (in memory, no fsync); the last with
//! [`Durability::Immediate`], which makes every commit of the batch durable
//! with one fsync (an empty durable commit does it if the last job wrote
//! nothing). Only then is the new state published to readers and every
//! caller answered: "returned `Ok`" still means "on disk".
//!
//! Readers never see a non-durable commit: they read the snapshot published
//! after the last durable one ([`crate::store::Shared::publish`]). A crash
//! before the fsync loses the batch's commits, none of which was answered.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use latchkey::storage::{StorageError, StorageResult};
use redb::Durability;
use tokio::sync::oneshot;

use crate::error::{panic_message, Failure};
use crate::store::Shared;
use crate::tx::Tx;

/// Most jobs committed together: bounds how long the first caller of a
/// batch waits behind the others.
const MAX_BATCH: usize = 256;

/// One queued operation, type-erased so different result types share the
/// queue.
pub(crate) trait Job: Send {
    /// The operation's name, for fault hooks.
    fn op(&self) -> &'static str;
    /// Runs the operation in `tx`; `false` if it returned an error (kept
    /// for the answer).
    fn run(&mut self, tx: &mut Tx<'_>) -> bool;
    /// Turns a success into `e` (its commit failed); an error of the
    /// operation itself is kept.
    fn fail(&mut self, e: StorageError);
    /// Sends the result to the caller, if it still waits.
    fn answer(self: Box<Self>);
}

struct Call<T, F> {
    op: &'static str,
    f: Option<F>,
    out: Option<StorageResult<T>>,
    reply: oneshot::Sender<StorageResult<T>>,
}

/// A job running `f` as the operation `op`, answering on `reply`.
pub(crate) fn job<T, F>(
    op: &'static str,
    f: F,
    reply: oneshot::Sender<StorageResult<T>>,
) -> Box<dyn Job>
where
    T: Send + 'static,
    F: FnOnce(&mut Tx<'_>) -> Result<T, Failure> + Send + 'static,
{
    Box::new(Call {
        op,
        f: Some(f),
        out: None,
        reply,
    })
}

impl<T, F> Job for Call<T, F>
where
    T: Send,
    F: FnOnce(&mut Tx<'_>) -> Result<T, Failure> + Send,
{
    fn op(&self) -> &'static str {
        self.op
    }

    fn run(&mut self, tx: &mut Tx<'_>) -> bool {
        let Some(f) = self.f.take() else {
            return false;
        };
        let out = f(tx).map_err(StorageError::from);
        let ok = out.is_ok();
        self.out = Some(out);
        ok
    }

    fn fail(&mut self, e: StorageError) {
        if !matches!(self.out, Some(Err(_))) {
            self.out = Some(Err(e));
        }
    }

    fn answer(self: Box<Self>) {
        let out = self.out.unwrap_or_else(|| Err(stopped()));
        // A caller that stopped waiting has nothing to be told.
        let _ = self.reply.send(out);
    }
}

/// The error of a call the writer could not answer.
pub(crate) fn stopped() -> StorageError {
    StorageError::Backend("the redb writer thread stopped before answering".into())
}

/// The writer thread's loop: runs until every handle of the store is gone.
pub(crate) fn run(shared: &Shared, queue: &mpsc::Receiver<Box<dyn Job>>) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // Operations' panics are caught one by one (`run_one`); one out
        // here drops the batch, whose callers then get `stopped()`, and the
        // thread goes on serving.
        let _ = catch_unwind(AssertUnwindSafe(|| commit_batch(shared, batch)));
    }
}

/// Runs a batch, makes it durable with one fsync, publishes it, answers.
fn commit_batch(shared: &Shared, mut batch: Vec<Box<dyn Job>>) {
    let last = batch.len() - 1;
    let mut committed = Vec::with_capacity(batch.len());
    // Whether a non-durable commit still waits for a durable one.
    let mut unsynced = false;
    for (i, job) in batch.iter_mut().enumerate() {
        let durable = i == last || !shared.group;
        if run_one(shared, job.as_mut(), durable) {
            committed.push(i);
            // A durable commit persists every commit before it too.
            unsynced = !durable;
        }
    }
    let done = if unsynced { sync(shared) } else { Ok(()) };
    let done = match done {
        Ok(()) if !committed.is_empty() => shared.publish(),
        other => other,
    };
    if let Err(f) = done {
        // Nothing of this batch is known to be on disk (or readers could
        // not be shown it): every job that committed reports the failure.
        let e = StorageError::from(f);
        for &i in &committed {
            batch[i].fail(copy(&e));
        }
    }
    for job in batch {
        job.answer();
    }
}

/// Runs one job in its own write transaction and commits it (durably if
/// `durable`) when it succeeded and changed something; otherwise rolls it
/// back. Returns whether it committed.
fn run_one(shared: &Shared, job: &mut dyn Job, durable: bool) -> bool {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<bool, Failure> {
        let mut txn = shared.db.begin_write()?;
        txn.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        })?;
        let commit = {
            let mut tx = Tx::new(&txn, job.op(), &shared.hooks);
            let ok = job.run(&mut tx);
            if ok {
                tx.fault("commit");
            }
            ok && tx.changed()
        };
        if commit {
            txn.commit()?;
            if durable {
                shared.durable_commits.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            txn.abort()?;
        }
        Ok(commit)
    }));
    match result {
        Ok(Ok(committed)) => committed,
        Ok(Err(f)) => {
            job.fail(f.into());
            false
        }
        // redb rolls the transaction back as the panic unwinds through it.
        Err(p) => {
            job.fail(StorageError::Backend(panic_message(p).into()));
            false
        }
    }
}

/// An empty durable commit: persists the non-durable commits before it.
fn sync(shared: &Shared) -> Result<(), Failure> {
    let mut txn = shared.db.begin_write()?;
    txn.set_durability(Durability::Immediate)?;
    txn.commit()?;
    shared.durable_commits.fetch_add(1, Ordering::Relaxed);
    Ok(())
}

/// The same error for another caller (a cause is not `Clone`: its text is
/// kept).
fn copy(e: &StorageError) -> StorageError {
    match e {
        StorageError::NotFound => StorageError::NotFound,
        StorageError::Conflict => StorageError::Conflict,
        StorageError::Unavailable(c) => StorageError::Unavailable(c.to_string().into()),
        StorageError::Backend(c) => StorageError::Backend(c.to_string().into()),
        other => StorageError::Backend(other.to_string().into()),
    }
}
