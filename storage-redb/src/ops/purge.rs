//! [`PurgeStore`] on redb.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::storage::{PurgeReport, PurgeStore, StorageResult};

use crate::RedbStore;

#[async_trait]
impl PurgeStore for RedbStore {
    async fn purge_expired(&self, now: Timestamp, limit: usize) -> StorageResult<PurgeReport> {
        // One transaction: a purge is never seen half-applied, and a
        // family goes together with every refresh hash it indexed.
        self.write("purge_expired", move |tx| {
            let challenges = tx.purge_challenges(now, limit)?;
            let codes = tx.purge_codes(now, limit)?;
            let access_tokens = tx.purge_access(now, limit)?;
            let families = tx.purge_families(now, limit)?;
            let devices = tx.purge_devices(now, limit)?;
            tx.fault("mid");
            let floor = tx.min_cursor()?;
            let events = tx.purge_events(floor, limit)?;
            Ok(PurgeReport {
                challenges,
                codes,
                access_tokens,
                families,
                events,
                devices,
            })
        })
        .await
    }
}
