//! Expiry housekeeping: the statements differ too much between the
//! dialects to share (MySQL deletes with `ORDER BY … LIMIT` and skips
//! locked rows; SQLite has neither and purges in one write transaction),
//! so each dialect's `purge.rs` holds them.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::storage::{PurgeReport, PurgeStore, StorageResult};

use super::n64;
use crate::error::retrying;

qmark_impl! {
    #[async_trait]
    impl PurgeStore for QmarkStore {
        async fn purge_expired(&self, now: Timestamp, limit: usize) -> StorageResult<PurgeReport> {
            retrying!(DB::purge(&self.pool, now, n64(limit)))
        }
    }
}
