-- no-transaction
-- Test-only migration (tests/pg_migration_load.rs): expands the biggest,
-- hottest table while traffic flows. Each statement runs on its own under
-- the runner's short lock_timeout; every one is repeatable.
ALTER TABLE lk_access_tokens ADD COLUMN IF NOT EXISTS note TEXT;
DROP INDEX CONCURRENTLY IF EXISTS lk_access_tokens_note;
CREATE INDEX CONCURRENTLY IF NOT EXISTS lk_access_tokens_note ON lk_access_tokens (note);
