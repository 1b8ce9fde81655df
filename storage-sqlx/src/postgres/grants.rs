//! Grants, approval, and grant and subject revocation on PostgreSQL.

use async_trait::async_trait;
use latchkey::model::{CodeRecord, GrantRecord, NewEvent, Revocation};
use latchkey::storage::{GrantExpectation, GrantStore, StorageError, StorageResult};
use sqlx::Row;

use super::{append_events, count, PgStore};
use crate::codec::{
    bind_code, bind_grant, code_cols, event_columns, grant_cols, grant_from, int, reason, ts,
};
use crate::error::{retrying, DbError};

impl PgStore {
    async fn approve_once(
        &self,
        grant: &GrantRecord,
        expected: &GrantExpectation,
        code: &CodeRecord,
        events: &[NewEvent],
    ) -> Result<(), DbError> {
        let (at, kind) = event_columns(events)?;
        let q = match expected {
            GrantExpectation::Absent => sqlx::query(concat!(
                "WITH g AS (INSERT INTO lk_grants (", grant_cols!(), ") ",
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id), ",
                "c AS (INSERT INTO lk_codes (", code_cols!(), ") ",
                "SELECT $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23 FROM g RETURNING hash), ",
                pg_events!("$24", "$25", "$26", "EXISTS (SELECT 1 FROM c)"),
                "SELECT count(*) AS n FROM c"
            )),
            GrantExpectation::Revision { id, .. } if *id != grant.id => {
                return Err(StorageError::Conflict.into())
            }
            GrantExpectation::Revision { .. } => sqlx::query(concat!(
                "WITH g AS (UPDATE lk_grants SET scopes = $4, resources = $5, remembered_scopes = $6, ",
                "created_at = $7, last_used_at = $8, revision = $9 ",
                "WHERE id = $1 AND subject = $2 AND client_id = $3 AND revision = $27 RETURNING id), ",
                "c AS (INSERT INTO lk_codes (", code_cols!(), ") ",
                "SELECT $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23 FROM g RETURNING hash), ",
                pg_events!("$24", "$25", "$26", "EXISTS (SELECT 1 FROM c)"),
                "SELECT count(*) AS n FROM c"
            )),
        };
        let q = bind_code(bind_grant(q, grant)?, code)?
            .bind(count(events.len()))
            .bind(at)
            .bind(kind);
        let q = match expected {
            GrantExpectation::Revision { revision, .. } => q.bind(int(*revision)),
            GrantExpectation::Absent => q,
        };
        let n: i64 = q.fetch_one(&self.pool).await?.try_get("n")?;
        if n == 1 {
            Ok(())
        } else {
            Err(StorageError::Conflict.into())
        }
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
}

#[async_trait]
impl GrantStore for PgStore {
    async fn approve(
        &self,
        grant: &GrantRecord,
        expected: &GrantExpectation,
        code: &CodeRecord,
        events: &[NewEvent],
    ) -> StorageResult<()> {
        retrying!(self.approve_once(grant, expected, code, events))
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
