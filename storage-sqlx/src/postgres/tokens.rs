//! Families, refresh and access tokens on PostgreSQL.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::{AccessTokenRecord, AccessTokenView, FamilyRecord, NewEvent, Revocation};
use latchkey::storage::{RotateOutcome, Rotation, StorageResult, TokenStore};
use latchkey::token::TokenHash;
use sqlx::Row;

use super::{count, PgStore};
use crate::codec::{
    access_fields, access_view_from, access_view_sql, bind_access, event_columns, family_cols,
    family_from, int, reason, refresh_from, refresh_sql, ts,
};
use crate::error::{retrying, DbError};

impl PgStore {
    async fn rotate_once(
        &self,
        family_id: &str,
        expected: u64,
        r: &Rotation,
    ) -> Result<RotateOutcome, DbError> {
        // One statement: the compare-and-swap on (generation, not revoked)
        // takes the family's row lock; a concurrent rotation waits, then
        // re-checks the condition on the new row version and matches
        // nothing. $1 family, $2 expected generation, $3..$9 new state,
        // $10 now, $11..$19 access token.
        let q = sqlx::query(concat!(
            "WITH f AS (UPDATE lk_families SET generation = generation + 1, current_hash = $3, ",
            "current_issued_at = $4, current_expires_at = $5, previous_hash = $6, ",
            "previous_rotated_at = $7, previous_sealed = $8, expires_at = $9 ",
            "WHERE id = $1 AND generation = $2 AND revoked_at IS NULL RETURNING id, grant_id, generation), ",
            "rt AS (INSERT INTO lk_refresh_tokens (hash, family_id, generation) SELECT $3, f.id, f.generation FROM f RETURNING hash), ",
            "at AS (INSERT INTO lk_access_tokens (", access_fields!(), ") ",
            "SELECT $11, $12, $13, $14, $15, $16, $17, $18, $19 FROM f RETURNING hash), ",
            "gr AS (UPDATE lk_grants SET last_used_at = $10 WHERE id = (SELECT grant_id FROM f) AND last_used_at < $10 RETURNING id) ",
            "SELECT (SELECT count(*) FROM f) AS rotated, (SELECT count(*) FROM rt) + (SELECT count(*) FROM at) + (SELECT count(*) FROM gr) AS side"
        ))
        .bind(family_id)
        .bind(int(expected))
        .bind(r.current.hash.0.to_vec())
        .bind(ts(r.current.issued_at))
        .bind(ts(r.current.expires_at))
        .bind(r.previous.hash.0.to_vec())
        .bind(ts(r.previous.rotated_at))
        .bind(r.previous.sealed_successor.clone())
        .bind(ts(r.expires_at))
        .bind(ts(r.now));
        // One checkout for both statements of the rare path too.
        let mut conn = self.pool.acquire().await?;
        let row = bind_access(q, &r.access)?.fetch_one(&mut *conn).await?;
        if row.try_get::<i64, _>("rotated")? == 1 {
            return Ok(RotateOutcome::Rotated);
        }
        // Not applied: a fresh read tells why (rare path).
        let row =
            sqlx::query("SELECT revoked_at IS NOT NULL AS revoked FROM lk_families WHERE id = $1")
                .bind(family_id)
                .fetch_optional(&mut *conn)
                .await?;
        Ok(match row {
            None => RotateOutcome::NotFound,
            Some(r) if r.try_get::<bool, _>("revoked")? => RotateOutcome::Revoked,
            Some(_) => RotateOutcome::Stale,
        })
    }

    async fn revoke_family_once(
        &self,
        family_id: &str,
        r: Revocation,
        events: &[NewEvent],
    ) -> Result<bool, DbError> {
        let (at, kind, audit) = event_columns(events)?;
        let row = sqlx::query(concat!(
            "WITH f AS (UPDATE lk_families SET revoked_at = $2, revoked_reason = $3 ",
            "WHERE id = $1 AND revoked_at IS NULL RETURNING id), ",
            pg_events!("$4", "$5", "$6", "$7", "EXISTS (SELECT 1 FROM f)"),
            "SELECT (SELECT count(*) FROM f) AS n, (SELECT count(*) FROM ev) AS appended"
        ))
        .bind(family_id)
        .bind(ts(r.at))
        .bind(reason(r.reason)?)
        .bind(count(events.len()))
        .bind(at)
        .bind(kind)
        .bind(audit)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? == 1)
    }

    async fn revoke_access_once(
        &self,
        hash: &TokenHash,
        when: Timestamp,
        events: &[NewEvent],
    ) -> Result<bool, DbError> {
        let (at, kind, audit) = event_columns(events)?;
        let row = sqlx::query(concat!(
            "WITH a AS (UPDATE lk_access_tokens SET revoked_at = $2 ",
            "WHERE hash = $1 AND revoked_at IS NULL RETURNING hash), ",
            pg_events!("$3", "$4", "$5", "$6", "EXISTS (SELECT 1 FROM a)"),
            "SELECT (SELECT count(*) FROM a) AS n, (SELECT count(*) FROM ev) AS appended"
        ))
        .bind(hash.0.to_vec())
        .bind(ts(when))
        .bind(count(events.len()))
        .bind(at)
        .bind(kind)
        .bind(audit)
        .fetch_one(&self.pool)
        .await?;
        Ok(row.try_get::<i64, _>("n")? == 1)
    }
}

#[async_trait]
impl TokenStore for PgStore {
    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> StorageResult<Option<(FamilyRecord, u64)>> {
        retrying!(async {
            let row = sqlx::query(concat!(refresh_sql!(), "$1"))
                .bind(hash.0.to_vec())
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(refresh_from).transpose()
        })
    }

    async fn get_family(&self, id: &str) -> StorageResult<Option<FamilyRecord>> {
        retrying!(async {
            let row = sqlx::query(concat!(
                "SELECT ",
                family_cols!(),
                " FROM lk_families f WHERE f.id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(family_from).transpose()
        })
    }

    async fn rotate_family(
        &self,
        family_id: &str,
        expected_generation: u64,
        rotation: &Rotation,
    ) -> StorageResult<RotateOutcome> {
        retrying!(self.rotate_once(family_id, expected_generation, rotation))
    }

    async fn revoke_family(
        &self,
        family_id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        retrying!(self.revoke_family_once(family_id, revocation, events))
    }

    async fn insert_access_token(&self, token: &AccessTokenRecord) -> StorageResult<()> {
        retrying!(async {
            let q = sqlx::query(concat!(
                "INSERT INTO lk_access_tokens (",
                access_fields!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ));
            bind_access(q, token)?.execute(&self.pool).await?;
            Ok::<_, DbError>(())
        })
    }

    async fn find_access_token(&self, hash: &TokenHash) -> StorageResult<Option<AccessTokenView>> {
        retrying!(async {
            let row = sqlx::query(concat!(access_view_sql!(), "$1"))
                .bind(hash.0.to_vec())
                .fetch_optional(&self.pool)
                .await?;
            row.as_ref().map(access_view_from).transpose()
        })
    }

    async fn revoke_access_token(
        &self,
        hash: &TokenHash,
        at: Timestamp,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        retrying!(self.revoke_access_once(hash, at, events))
    }
}
