-- Who caused each outbox event, from where (latchkey::audit::Audit, as
-- JSON: actor, address, user agent). Nullable: events written before this
-- release have none, and the previous release keeps appending without it.
-- Adding a column without a default only changes the catalog; the runner's
-- lock_timeout keeps the brief exclusive lock from queueing hot writers.
-- Both the pending queue and the numbered outbox get it, so numbering
-- (src/postgres/events.rs) carries it across. During a rolling upgrade an
-- instance of the previous release that numbers pending events moves only
-- (at, kind): events it numbers arrive without their audit. Numbered 0007
-- in every dialect.
ALTER TABLE lk_events ADD COLUMN audit TEXT;
ALTER TABLE lk_events_pending ADD COLUMN audit TEXT;
