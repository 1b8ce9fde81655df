-- delete_client now revokes a client's stand-alone (client_credentials)
-- access tokens itself, and introspection no longer looks the client up.
-- Tokens of clients deleted before this release were left unrevoked: revoke
-- them now, or they would read as live again until they expire. The
-- deletion time was never recorded, so the migration time stands in for
-- it. Idempotent.
UPDATE lk_access_tokens SET revoked_at = CAST(strftime('%s', 'now') AS INTEGER) WHERE family_id IS NULL AND revoked_at IS NULL AND NOT EXISTS (SELECT 1 FROM lk_clients c WHERE c.id = lk_access_tokens.client_id);
