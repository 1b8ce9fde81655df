-- Who caused each outbox event, from where (latchkey::audit::Audit, as
-- JSON: actor, address, user agent). Nullable: events written before this
-- release have none. Numbered 0007 in every dialect.
ALTER TABLE lk_events ADD COLUMN audit TEXT;
