//! Errors: [`OpenError`] for opening a file, and the mapping of everything
//! redb, the codec or a worker thread can report onto
//! [`latchkey::storage::StorageError`].

use std::io::ErrorKind;

use latchkey::storage::StorageError;

/// Why [`crate::RedbStore::open`] refused a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// Another handle (in this process or another one) has the file open.
    /// redb locks the whole file, so sharing it would not be safe; close the
    /// other handle first.
    #[error("the database file is already open by another handle or process")]
    AlreadyOpen,
    /// The file was written by a newer version of this crate. Opening it
    /// with this version could misread or damage it, so it is refused.
    #[error(
        "the database file has schema version {found}, newer than the supported version {supported}"
    )]
    NewerSchema {
        /// The version recorded in the file.
        found: u64,
        /// The newest version this build understands.
        supported: u64,
    },
    /// The file records a schema version this build cannot read (older than
    /// any it knows, with no migration available).
    #[error("the database file has unsupported schema version {found}")]
    UnsupportedSchema {
        /// The version recorded in the file.
        found: u64,
    },
    /// The file is a redb database holding tables but no Latchkey schema
    /// record: it belongs to something else.
    #[error("the database file is a redb database but not a Latchkey store")]
    NotLatchkey,
    /// redb could not open or initialise the file (I/O, corruption, a file
    /// format that needs an upgrade, …).
    #[error("redb failed to open the database file")]
    Redb(#[source] redb::Error),
    /// Reading or writing the schema record failed.
    #[error("could not read or initialise the schema")]
    Storage(#[source] StorageError),
}

impl From<redb::DatabaseError> for OpenError {
    fn from(e: redb::DatabaseError) -> Self {
        match e {
            redb::DatabaseError::DatabaseAlreadyOpen => OpenError::AlreadyOpen,
            other => OpenError::Redb(other.into()),
        }
    }
}

impl From<Failure> for OpenError {
    fn from(f: Failure) -> Self {
        OpenError::Storage(f.into())
    }
}

/// What can go wrong inside one storage call, before it is reported as a
/// [`StorageError`]. It exists so `?` works on redb, codec and contract
/// errors alike inside transaction closures.
#[derive(Debug)]
pub(crate) enum Failure {
    /// A contract outcome (`Conflict`, `NotFound`) or an already mapped error.
    Storage(StorageError),
    /// Anything redb reported.
    Redb(redb::Error),
    /// A stored value that does not decode, or a record that does not encode.
    Codec(serde_json::Error),
    /// Data that decodes but breaks an invariant of the layout.
    Corrupt(String),
}

impl From<StorageError> for Failure {
    fn from(e: StorageError) -> Self {
        Failure::Storage(e)
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::Codec(e)
    }
}

macro_rules! from_redb {
    ($($t:ty),* $(,)?) => {
        $(impl From<$t> for Failure {
            fn from(e: $t) -> Self {
                Failure::Redb(e.into())
            }
        })*
    };
}

from_redb!(
    redb::Error,
    redb::StorageError,
    redb::TableError,
    redb::TransactionError,
    redb::CommitError,
    redb::DatabaseError,
    redb::SetDurabilityError,
);

impl From<Failure> for StorageError {
    fn from(f: Failure) -> Self {
        match f {
            Failure::Storage(e) => e,
            Failure::Redb(e) => classify(e),
            Failure::Codec(e) => StorageError::Backend(Box::new(e)),
            Failure::Corrupt(what) => StorageError::Backend(what.into()),
        }
    }
}

/// Sorts redb errors into "retrying later may work" and "something is
/// wrong". Only I/O conditions that are known to pass (a full disk being
/// cleaned up, an interrupted or timed-out call, a lock held elsewhere) are
/// worth a retry; corruption, a closed database or a poisoned handle are not.
fn classify(e: redb::Error) -> StorageError {
    let transient = match &e {
        redb::Error::Io(io) => matches!(
            io.kind(),
            ErrorKind::Interrupted
                | ErrorKind::TimedOut
                | ErrorKind::WouldBlock
                | ErrorKind::StorageFull
                | ErrorKind::QuotaExceeded
                | ErrorKind::ResourceBusy
        ),
        redb::Error::DatabaseAlreadyOpen => true,
        _ => false,
    };
    if transient {
        StorageError::Unavailable(Box::new(e))
    } else {
        StorageError::Backend(Box::new(e))
    }
}

/// The text of a panic payload, for the error chain.
pub(crate) fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let msg = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    format!("storage call panicked: {msg}")
}
