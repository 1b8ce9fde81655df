-- Test-only migration (tests/pg_backfill_load.rs): the expand step of the
-- worked example in MIGRATIONS.md. A nullable column with no default is a
-- catalog-only change; the backfill runner fills it in afterwards.
ALTER TABLE lk_access_tokens ADD COLUMN IF NOT EXISTS kind TEXT;
