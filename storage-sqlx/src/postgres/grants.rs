//! Clients, challenges, grants and codes on PostgreSQL.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::{
    ChallengeRecord, ClientRecord, CodeRecord, GrantRecord, NewEvent, Revocation,
};
use latchkey::storage::{
    rules, Approval, ApproveOutcome, ChallengeStore, ClientStore, CodeFailure, CodeStore,
    GrantStore, Issuance, RedeemOutcome, StorageError, StorageResult,
};
use latchkey::token::TokenHash;
use sqlx::Row;

use super::{append_events, PgStore};
use crate::codec::{
    access_fields, bind_access, bind_challenge, bind_code, bind_family, bind_grant, challenge_cols,
    challenge_from, client_cols, client_from, code_cols, code_failure_from, code_from,
    event_columns, family_fields, grant_cols, grant_from, int, json, reason, scopes, ts,
    CODE_BURNED, CODE_REDEEMED,
};
use crate::error::{retrying, DbError};

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl PgStore {
    async fn insert_client_once(
        &self,
        c: &ClientRecord,
        events: &[NewEvent],
    ) -> Result<(), DbError> {
        let (at, kind) = event_columns(events)?;
        sqlx::query(concat!(
            "WITH c AS (INSERT INTO lk_clients (id, owner, revision, body) VALUES ($1, $2, $3, $4) RETURNING id), ",
            pg_events!("$5", "$6", "$7", "EXISTS (SELECT 1 FROM c)"),
            "SELECT count(*) FROM c"
        ))
        .bind(&c.id)
        .bind(&c.owner)
        .bind(int(c.revision))
        .bind(json(c)?)
        .bind(count(events.len()))
        .bind(at)
        .bind(kind)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn update_client_once(
        &self,
        c: &ClientRecord,
        expected: u64,
        events: &[NewEvent],
    ) -> Result<(), DbError> {
        let (at, kind) = event_columns(events)?;
        let row = sqlx::query(concat!(
            "WITH u AS (UPDATE lk_clients SET owner = $2, revision = $3, body = $4 ",
            "WHERE id = $1 AND revision = $8 RETURNING id), ",
            pg_events!("$5", "$6", "$7", "EXISTS (SELECT 1 FROM u)"),
            "SELECT (SELECT count(*) FROM u) AS updated, ",
            "EXISTS (SELECT 1 FROM lk_clients WHERE id = $1) AS present"
        ))
        .bind(&c.id)
        .bind(&c.owner)
        .bind(int(c.revision))
        .bind(json(c)?)
        .bind(count(events.len()))
        .bind(at)
        .bind(kind)
        .bind(int(expected))
        .fetch_one(&self.pool)
        .await?;
        if row.try_get::<i64, _>("updated")? == 1 {
            Ok(())
        } else if row.try_get::<bool, _>("present")? {
            Err(StorageError::Conflict.into())
        } else {
            Err(StorageError::NotFound.into())
        }
    }

    async fn delete_client_once(
        &self,
        id: &str,
        r: Revocation,
        events: &[NewEvent],
    ) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        // Families first, then the client's grants: the same lock order as
        // rotation (family, then grant), so the two cannot deadlock.
        sqlx::query(
            "SELECT id FROM lk_families WHERE client_id = $1 AND revoked_at IS NULL FOR UPDATE",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM lk_clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM lk_grants WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // A new statement: sees families redeemed while we waited above.
        sqlx::query("UPDATE lk_families SET revoked_at = $2, revoked_reason = $3 WHERE client_id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(ts(r.at))
            .bind(reason(r.reason)?)
            .execute(&mut *tx)
            .await?;
        // Stand-alone (client_credentials) tokens have no family to die with.
        sqlx::query("UPDATE lk_access_tokens SET revoked_at = $2 WHERE client_id = $1 AND family_id IS NULL AND revoked_at IS NULL")
            .bind(id)
            .bind(ts(r.at))
            .execute(&mut *tx)
            .await?;
        append_events(&mut tx, events).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// "The user approved" in one transaction. The client row is read
    /// `FOR SHARE` so a concurrent `delete_client` (which deletes it) is
    /// ordered entirely before or after; the grant row is created if absent
    /// and then locked, so concurrent approvals of one pair queue on it and
    /// each merges into what the previous one committed.
    async fn approve_once(&self, a: &Approval) -> Result<ApproveOutcome, DbError> {
        let code = &a.code;
        let mut tx = self.pool.begin().await?;
        let client = sqlx::query("SELECT id FROM lk_clients WHERE id = $1 FOR SHARE")
            .bind(&code.client_id)
            .fetch_optional(&mut *tx)
            .await?;
        if client.is_none() {
            tx.rollback().await?;
            return Ok(ApproveOutcome::ClientGone);
        }
        if let Some(h) = &a.challenge {
            let taken =
                sqlx::query("DELETE FROM lk_challenges WHERE hash = $1 AND expires_at > $2")
                    .bind(h.0.to_vec())
                    .bind(ts(code.issued_at))
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            if taken == 0 {
                tx.rollback().await?;
                return Ok(ApproveOutcome::ChallengeGone);
            }
        }
        let fresh = rules::merge_approval(None, a);
        let q = sqlx::query(concat!(
            "INSERT INTO lk_grants (",
            grant_cols!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ",
            "ON CONFLICT (subject, client_id) DO NOTHING"
        ));
        let inserted = bind_grant(q, &fresh.grant)?
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let w = if inserted == 1 {
            fresh
        } else {
            let row = sqlx::query(concat!(
                "SELECT ",
                grant_cols!(),
                " FROM lk_grants WHERE subject = $1 AND client_id = $2 FOR UPDATE"
            ))
            .bind(&code.subject)
            .bind(&code.client_id)
            .fetch_one(&mut *tx)
            .await?;
            let existing = grant_from(&row)?;
            let w = rules::merge_approval(Some(&existing), a);
            sqlx::query(
                "UPDATE lk_grants SET scopes = $2, resources = $3, remembered_scopes = $4, \
                 last_used_at = $5, revision = $6 WHERE id = $1",
            )
            .bind(&w.grant.id)
            .bind(scopes(&w.grant.scopes))
            .bind(json(&w.grant.resources)?)
            .bind(w.grant.remembered_scopes.as_ref().map(scopes))
            .bind(ts(w.grant.last_used_at))
            .bind(int(w.grant.revision))
            .execute(&mut *tx)
            .await?;
            w
        };
        let q = sqlx::query(concat!(
            "INSERT INTO lk_codes (",
            code_cols!(),
            ") ",
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ));
        bind_code(q, &w.code)?.execute(&mut *tx).await?;
        append_events(&mut tx, &w.events).await?;
        tx.commit().await?;
        Ok(ApproveOutcome::Approved {
            grant_id: w.grant.id,
        })
    }

    async fn revoke_grants_once(
        &self,
        by_subject: bool,
        key: &str,
        r: Revocation,
        events: &[NewEvent],
    ) -> Result<u64, DbError> {
        let (lock, delete, revoke) = if by_subject {
            (
                "SELECT id FROM lk_families WHERE subject = $1 AND revoked_at IS NULL FOR UPDATE",
                "DELETE FROM lk_grants WHERE subject = $1",
                "UPDATE lk_families SET revoked_at = $2, revoked_reason = $3 WHERE subject = $1 AND revoked_at IS NULL",
            )
        } else {
            (
                "SELECT id FROM lk_families WHERE grant_id = $1 AND revoked_at IS NULL FOR UPDATE",
                "DELETE FROM lk_grants WHERE id = $1",
                "UPDATE lk_families SET revoked_at = $2, revoked_reason = $3 WHERE grant_id = $1 AND revoked_at IS NULL",
            )
        };
        let mut tx = self.pool.begin().await?;
        // Lock order family -> grant, as in rotation; see delete_client.
        sqlx::query(lock).bind(key).fetch_all(&mut *tx).await?;
        let deleted = sqlx::query(delete)
            .bind(key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 && !by_subject {
            tx.rollback().await?;
            return Ok(0);
        }
        sqlx::query(revoke)
            .bind(key)
            .bind(ts(r.at))
            .bind(reason(r.reason)?)
            .execute(&mut *tx)
            .await?;
        append_events(&mut tx, events).await?;
        tx.commit().await?;
        Ok(deleted)
    }

    async fn redeem_once(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        iss: &Issuance,
    ) -> Result<RedeemOutcome, DbError> {
        let (at, kind) = event_columns(&iss.events)?;
        // $1 code, $2 now, $3..$19 family, $20..$28 access token,
        // $29..$31 events. The grant must still exist: FOR KEY SHARE makes
        // a concurrent revocation either wait for this exchange (and then
        // revoke its family) or win (and the code is invalid).
        let q = sqlx::query(concat!(
            "WITH c AS (UPDATE lk_codes SET status = 'redeemed', family_id = $3 ",
            "WHERE hash = $1 AND status = 'unused' AND expires_at > $2 ",
            "AND EXISTS (SELECT 1 FROM lk_grants g WHERE g.id = lk_codes.grant_id FOR KEY SHARE) ",
            "RETURNING grant_id), ",
            "fam AS (INSERT INTO lk_families (", family_fields!(), ") ",
            "SELECT $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19 FROM c RETURNING id), ",
            "rt AS (INSERT INTO lk_refresh_tokens (hash, family_id, generation) SELECT $10, $3, $9 FROM c RETURNING hash), ",
            "at AS (INSERT INTO lk_access_tokens (", access_fields!(), ") ",
            "SELECT $20, $21, $22, $23, $24, $25, $26, $27, $28 FROM c RETURNING hash), ",
            "gr AS (UPDATE lk_grants SET last_used_at = $2 WHERE id = (SELECT grant_id FROM c) AND last_used_at < $2 RETURNING id), ",
            // Referencing every CTE makes them run before the counter is
            // locked, so the counter is the last lock taken.
            pg_events!("$29", "$30", "$31",
                "EXISTS (SELECT 1 FROM c) AND (SELECT count(*) FROM fam) + (SELECT count(*) FROM rt) + (SELECT count(*) FROM at) + (SELECT count(*) FROM gr) >= 0"),
            "SELECT (SELECT count(*) FROM c) AS issued, (SELECT count(*) FROM ev) AS appended"
        ))
        .bind(hash.0.to_vec())
        .bind(ts(now));
        let q = bind_access(bind_family(q, &iss.family)?, &iss.access)?
            .bind(count(iss.events.len()))
            .bind(at)
            .bind(kind);
        let mut conn = self.pool.acquire().await?;
        let row = q.fetch_one(&mut *conn).await?;
        if row.try_get::<i64, _>("issued")? == 1 {
            return Ok(RedeemOutcome::Issued);
        }
        // Lost or invalid: a fresh read tells which (rare path).
        let row = sqlx::query("SELECT status, family_id FROM lk_codes WHERE hash = $1")
            .bind(hash.0.to_vec())
            .fetch_optional(&mut *conn)
            .await?;
        Ok(match row {
            Some(r) if r.try_get::<String, _>("status")? == CODE_REDEEMED => {
                match r.try_get::<Option<String>, _>("family_id")? {
                    Some(family_id) => RedeemOutcome::AlreadyRedeemed { family_id },
                    None => return Err(crate::error::corrupt("redeemed code without family")),
                }
            }
            _ => RedeemOutcome::Invalid,
        })
    }
}

#[async_trait]
impl ClientStore for PgStore {
    async fn insert_client(&self, client: &ClientRecord, events: &[NewEvent]) -> StorageResult<()> {
        retrying!(self.insert_client_once(client, events))
    }

    async fn get_client(&self, id: &str) -> StorageResult<Option<ClientRecord>> {
        retrying!(async {
            let row = sqlx::query(concat!(
                "SELECT ",
                client_cols!(),
                " FROM lk_clients WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(client_from).transpose()
        })
    }

    async fn update_client(
        &self,
        client: &ClientRecord,
        expected_revision: u64,
        events: &[NewEvent],
    ) -> StorageResult<()> {
        retrying!(self.update_client_once(client, expected_revision, events))
    }

    async fn delete_client(
        &self,
        id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        retrying!(self.delete_client_once(id, revocation, events))
    }

    async fn list_clients(&self, owner: &str) -> StorageResult<Vec<ClientRecord>> {
        retrying!(async {
            let rows = sqlx::query(concat!(
                "SELECT ",
                client_cols!(),
                " FROM lk_clients WHERE owner = $1 ORDER BY id COLLATE \"C\""
            ))
            .bind(owner)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(client_from).collect::<Result<Vec<_>, _>>()
        })
    }
}

#[async_trait]
impl ChallengeStore for PgStore {
    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> StorageResult<()> {
        retrying!(async {
            let q = sqlx::query(concat!(
                "INSERT INTO lk_challenges (",
                challenge_cols!(),
                ") VALUES ($1, $2, $3, $4, $5)"
            ));
            bind_challenge(q, challenge)?.execute(&self.pool).await?;
            Ok::<_, DbError>(())
        })
    }

    async fn get_challenge(&self, hash: &TokenHash) -> StorageResult<Option<ChallengeRecord>> {
        retrying!(async {
            let row = sqlx::query(concat!(
                "SELECT ",
                challenge_cols!(),
                " FROM lk_challenges WHERE hash = $1"
            ))
            .bind(hash.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(challenge_from).transpose()
        })
    }

    async fn take_challenge(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StorageResult<Option<ChallengeRecord>> {
        retrying!(async {
            // One DELETE: of concurrent takers, only one deletes the row.
            let row = sqlx::query(concat!(
                "DELETE FROM lk_challenges WHERE hash = $1 AND expires_at > $2 RETURNING ",
                challenge_cols!()
            ))
            .bind(hash.0.to_vec())
            .bind(ts(now))
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(challenge_from).transpose()
        })
    }
}

#[async_trait]
impl GrantStore for PgStore {
    async fn approve(&self, approval: &Approval) -> StorageResult<ApproveOutcome> {
        retrying!(self.approve_once(approval))
    }

    async fn get_grant(
        &self,
        subject: &str,
        client_id: &str,
    ) -> StorageResult<Option<GrantRecord>> {
        retrying!(async {
            let row = sqlx::query(concat!(
                "SELECT ",
                grant_cols!(),
                " FROM lk_grants WHERE subject = $1 AND client_id = $2"
            ))
            .bind(subject)
            .bind(client_id)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(grant_from).transpose()
        })
    }

    async fn get_grant_by_id(&self, id: &str) -> StorageResult<Option<GrantRecord>> {
        retrying!(async {
            let row = sqlx::query(concat!(
                "SELECT ",
                grant_cols!(),
                " FROM lk_grants WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(grant_from).transpose()
        })
    }

    async fn list_grants(&self, subject: &str) -> StorageResult<Vec<GrantRecord>> {
        retrying!(async {
            let rows = sqlx::query(concat!(
                "SELECT ",
                grant_cols!(),
                " FROM lk_grants WHERE subject = $1 ORDER BY client_id COLLATE \"C\""
            ))
            .bind(subject)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(grant_from).collect::<Result<Vec<_>, _>>()
        })
    }

    async fn revoke_grant(
        &self,
        grant_id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        retrying!(self.revoke_grants_once(false, grant_id, revocation, events)).map(|n| n > 0)
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<u64> {
        retrying!(self.revoke_grants_once(true, subject, revocation, events))
    }
}

#[async_trait]
impl CodeStore for PgStore {
    async fn get_code(&self, hash: &TokenHash) -> StorageResult<Option<CodeRecord>> {
        retrying!(async {
            let row = sqlx::query(concat!(
                "SELECT ",
                code_cols!(),
                " FROM lk_codes WHERE hash = $1"
            ))
            .bind(hash.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(code_from).transpose()
        })
    }

    async fn record_code_failure(
        &self,
        hash: &TokenHash,
        max_failures: u32,
    ) -> StorageResult<CodeFailure> {
        retrying!(async {
            let row = sqlx::query(
                "UPDATE lk_codes SET failed_attempts = failed_attempts + 1, \
                 status = CASE WHEN failed_attempts + 1 >= $2 THEN $3 ELSE status END \
                 WHERE hash = $1 AND status = 'unused' RETURNING failed_attempts, status",
            )
            .bind(hash.0.to_vec())
            .bind(i64::from(max_failures))
            .bind(CODE_BURNED)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref()
                .map_or(Ok(CodeFailure::NotFound), code_failure_from)
        })
    }

    async fn redeem_code(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        issuance: &Issuance,
    ) -> StorageResult<RedeemOutcome> {
        retrying!(self.redeem_once(hash, now, issuance))
    }
}
