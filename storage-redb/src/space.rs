//! Where the bytes of a file go, table by table: a diagnostic for sizing
//! and for the scale benchmark's bytes-per-family figure.

use latchkey::storage::StorageResult;
use redb::{ReadableTableMetadata as _, TableHandle as _};

use crate::error::Failure;
use crate::store::RedbStore;

/// The space one table takes in the last durable snapshot, as redb counts
/// it (see [`redb::TableStats`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TableSpace {
    /// The table's name (`v1/families`, …).
    pub name: String,
    /// Entries in it.
    pub entries: u64,
    /// Bytes of keys and values.
    pub stored_bytes: u64,
    /// Bytes of branch pages and other B-tree metadata.
    pub metadata_bytes: u64,
    /// Bytes of its pages that hold nothing (free space inside pages).
    pub fragmented_bytes: u64,
    /// Leaf and branch pages.
    pub pages: u64,
    /// Height of its B-tree.
    pub height: u32,
}

impl RedbStore {
    /// The space every table takes, largest first. The file itself is
    /// larger than their sum by the pages redb keeps free for reuse (a
    /// file never shrinks unless compacted with [`redb::Database::compact`]).
    ///
    /// # Errors
    /// When redb cannot read its table tree.
    pub fn table_space(&self) -> StorageResult<Vec<TableSpace>> {
        self.read(|txn| {
            let mut out = Vec::new();
            for handle in txn.list_tables()? {
                let table = txn.open_untyped_table(handle.clone())?;
                let s = table.stats()?;
                out.push(TableSpace {
                    name: handle.name().to_owned(),
                    entries: table.len()?,
                    stored_bytes: s.stored_bytes(),
                    metadata_bytes: s.metadata_bytes(),
                    fragmented_bytes: s.fragmented_bytes(),
                    pages: s.leaf_pages() + s.branch_pages(),
                    height: s.tree_height(),
                });
            }
            out.sort_by(|a, b| {
                let total = |t: &TableSpace| t.stored_bytes + t.metadata_bytes + t.fragmented_bytes;
                total(b).cmp(&total(a))
            });
            Ok::<_, Failure>(out)
        })
    }
}
