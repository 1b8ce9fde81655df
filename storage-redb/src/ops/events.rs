//! [`EventStore`] on redb.

use async_trait::async_trait;
use latchkey::model::Event;
use latchkey::storage::{EventStore, StorageResult};

use crate::read::events_after;
use crate::tables::{CURSORS, EVENTS};
use crate::RedbStore;

#[async_trait]
impl EventStore for RedbStore {
    async fn poll_events(&self, consumer: &str, limit: usize) -> StorageResult<Vec<Event>> {
        // A known consumer is served from the snapshot; only the first poll
        // of a new one writes (its cursor, so purges wait for it).
        let known =
            self.read(
                |r| match r.open_table(CURSORS)?.get(consumer)?.map(|v| v.value()) {
                    Some(cursor) => Ok(Some(events_after(&r.open_table(EVENTS)?, cursor, limit)?)),
                    None => Ok(None),
                },
            )?;
        if let Some(events) = known {
            return Ok(events);
        }
        let consumer = consumer.to_owned();
        self.write("poll_events", move |tx| {
            let cursor = match tx.cursor(&consumer)? {
                Some(c) => c,
                None => {
                    tx.set_cursor(&consumer, 0)?;
                    0
                }
            };
            tx.events_after(cursor, limit)
        })
        .await
    }

    async fn ack_events(&self, consumer: &str, seq: u64) -> StorageResult<()> {
        let consumer = consumer.to_owned();
        self.write("ack_events", move |tx| {
            let current = tx.cursor(&consumer)?;
            if current.is_none_or(|c| seq > c) {
                tx.set_cursor(&consumer, seq)?;
            }
            Ok(())
        })
        .await
    }
}
