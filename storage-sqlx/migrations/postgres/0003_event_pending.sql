-- Outbox appends without a numbering lock. Writers insert their events
-- here, last in their transaction, instead of taking `lk_event_counter`;
-- readers number the committed rows into `lk_events` under the counter's
-- row lock, in `id` order (see src/postgres/events.rs). Instances of the
-- previous release keep numbering their own events with the counter,
-- which stays correct beside this table. The identity keeps the default
-- CACHE 1, so ids are handed out in real-time order across sessions.
-- Rows live only until the next read, so the table is a queue: vacuum it
-- after a fixed number of deleted rows, not a fraction of its size.
CREATE TABLE lk_events_pending (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    kind TEXT NOT NULL
) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000);
