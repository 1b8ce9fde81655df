-- Who caused each outbox event, from where (latchkey::audit::Audit, as
-- JSON: actor, address, user agent). Nullable: events written before this
-- release have none, and the previous release keeps appending without it.
-- One DDL statement (MySQL DDL commits implicitly), INSTANT so the server
-- refuses rather than copy the table. Numbered 0007 in every dialect.
ALTER TABLE lk_events ADD COLUMN audit LONGTEXT NULL, ALGORITHM=INSTANT;
