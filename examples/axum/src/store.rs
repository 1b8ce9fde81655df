//! Opening the storage backend: embedded redb in the data directory.

use std::path::Path;
use std::sync::Arc;

use latchkey_redb::RedbStore;

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "latchkey.redb";

/// Opens (creating on first start) `<data_dir>/latchkey.redb`. The data
/// directory must exist. A second server on the same directory gets a clear
/// error instead of sharing the file.
///
/// # Errors
/// A message naming the file and what went wrong.
pub fn open_redb(data_dir: &Path) -> Result<Arc<RedbStore>, String> {
    let path = data_dir.join(DB_FILE);
    RedbStore::open(&path)
        .map(Arc::new)
        .map_err(|e| format!("{}: {e}", path.display()))
}
