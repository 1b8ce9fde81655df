//! Outbox events and consumer cursors.

use latchkey::model::{Event, NewEvent};
use redb::ReadableTable;

use super::Tx;
use crate::codec::encode;
use crate::error::Failure;
use crate::tables::LAST_EVENT_SEQ;

impl Tx<'_> {
    /// Appends events with the next sequence numbers.
    pub(crate) fn append(&mut self, events: &[NewEvent]) -> Result<(), Failure> {
        if events.is_empty() {
            return Ok(());
        }
        self.touch();
        let mut seq = self
            .t
            .counters()?
            .get(LAST_EVENT_SEQ)?
            .map_or(0, |v| v.value());
        for e in events {
            seq += 1;
            let event = Event {
                seq,
                at: e.at,
                kind: e.kind.clone(),
                audit: Some(e.audit.clone()),
            };
            self.t.events()?.insert(seq, encode(&event)?.as_slice())?;
        }
        self.t.counters()?.insert(LAST_EVENT_SEQ, seq)?;
        Ok(())
    }

    /// A consumer's cursor, if it has one.
    pub(crate) fn cursor(&mut self, consumer: &str) -> Result<Option<u64>, Failure> {
        Ok(self.t.cursors()?.get(consumer)?.map(|v| v.value()))
    }

    /// Up to `limit` events after `cursor`, in order.
    pub(crate) fn events_after(
        &mut self,
        cursor: u64,
        limit: usize,
    ) -> Result<Vec<Event>, Failure> {
        crate::read::events_after(&*self.t.events()?, cursor, limit)
    }

    /// Sets a consumer's cursor.
    pub(crate) fn set_cursor(&mut self, consumer: &str, seq: u64) -> Result<(), Failure> {
        self.touch();
        self.t.cursors()?.insert(consumer, seq)?;
        Ok(())
    }

    /// The lowest cursor of all consumers (0 when there are none): events up
    /// to it are acknowledged by everyone.
    pub(crate) fn min_cursor(&mut self) -> Result<u64, Failure> {
        let mut min: Option<u64> = None;
        for entry in self.t.cursors()?.iter()? {
            let (_, v) = entry?;
            let v = v.value();
            min = Some(min.map_or(v, |m| m.min(v)));
        }
        Ok(min.unwrap_or(0))
    }

    /// Removes up to `limit` events with `seq <= floor`; returns how many.
    pub(crate) fn purge_events(&mut self, floor: u64, limit: usize) -> Result<u64, Failure> {
        let due: Vec<u64> = self
            .t
            .events()?
            .range(..=floor)?
            .take(limit)
            .map(|e| e.map(|(k, _)| k.value()))
            .collect::<Result<_, _>>()?;
        for seq in &due {
            self.touch();
            self.t.events()?.remove(seq)?;
        }
        Ok(due.len() as u64)
    }
}
