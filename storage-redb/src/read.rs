//! Lookups shared by read transactions and write transactions: both hand
//! out tables implementing [`ReadableTable`], so one helper serves both.

use crate::codec::{decode, Record};
use crate::error::Failure;
use redb::{ReadableTable, Value};

/// The record stored under a string id.
pub(crate) fn by_id<R: Record>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    id: &str,
) -> Result<Option<R>, Failure> {
    match table.get(id)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

/// The record stored under a token hash.
pub(crate) fn by_hash<R: Record>(
    table: &impl ReadableTable<&'static [u8; 32], &'static [u8]>,
    hash: &[u8; 32],
) -> Result<Option<R>, Failure> {
    match table.get(hash)? {
        Some(v) => Ok(Some(decode(v.value())?)),
        None => Ok(None),
    }
}

/// The second components of every `(prefix, _)` key, in key order: what a
/// pair index holds for one grant, client or subject.
pub(crate) fn with_prefix<V: Value + 'static>(
    table: &impl ReadableTable<(&'static str, &'static str), V>,
    prefix: &str,
) -> Result<Vec<String>, Failure> {
    let mut out = Vec::new();
    for entry in table.range((prefix, "")..)? {
        let (key, _) = entry?;
        let (first, second) = key.value();
        if first != prefix {
            break;
        }
        out.push(second.to_owned());
    }
    Ok(out)
}

/// Up to `limit` events with `seq > cursor`, in order.
pub(crate) fn events_after(
    table: &impl ReadableTable<u64, &'static [u8]>,
    cursor: u64,
    limit: usize,
) -> Result<Vec<latchkey::model::Event>, Failure> {
    let Some(start) = cursor.checked_add(1) else {
        return Ok(Vec::new());
    };
    table
        .range(start..)?
        .take(limit)
        .map(|e| {
            let (_, v) = e?;
            decode(v.value())
        })
        .collect()
}
