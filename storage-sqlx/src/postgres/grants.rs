//! Grants, approval, and grant and subject revocation on PostgreSQL.

use super::{append_events, PgStore};
use crate::codec::{
    bind_code, bind_grant, code_cols, grant_cols, grant_from, int, json, reason, scopes, ts,
};
use crate::error::{retrying, DbError};
use async_trait::async_trait;
use latchkey::model::{GrantRecord, NewEvent, Revocation};
use latchkey::storage::{rules, Approval, ApproveOutcome, GrantStore, StorageResult};

impl PgStore {
    /// "The user approved" in one transaction. The client row is read
    /// `FOR SHARE` so a concurrent `delete_client` (which deletes it) is
    /// ordered entirely before or after; the grant row is created if absent
    /// and then locked, so concurrent approvals of one pair queue on it and
    /// each merges into what the previous one committed.
    async fn approve_once(&self, a: &Approval) -> Result<ApproveOutcome, DbError> {
        let code = &a.code;
        let mut tx = crate::tx::begin(&self.pool, None).await?;
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
        let mut tx = crate::tx::begin(&self.pool, None).await?;
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
