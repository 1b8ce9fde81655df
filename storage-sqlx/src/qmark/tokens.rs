//! Refresh-token families (rotation, reuse, revocation) and access tokens.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::{AccessTokenRecord, AccessTokenView, FamilyRecord, NewEvent, Revocation};
use latchkey::storage::{RotateOutcome, Rotation, StorageResult, TokenStore};
use latchkey::token::TokenHash;
use sqlx::{Executor, Transaction};

use super::Affected as _;
use crate::codec::{
    access_fields, access_view_from, access_view_sql, bind_access, bind_family, family_cols,
    family_fields, family_from, int, reason, refresh_from, refresh_sql, ts, Cols,
};
use crate::error::{retrying, DbError};

qmark_impl! {
    impl QmarkStore {
        /// Inserts a new family and its first refresh token.
        pub(super) async fn insert_family(
            tx: &mut Transaction<'static, DB>,
            f: &FamilyRecord,
        ) -> Result<(), DbError> {
            let q = sqlx::query(concat!(
                "INSERT INTO lk_families (",
                family_fields!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ));
            bind_family(q, f)?.execute(&mut **tx).await?;
            Self::insert_refresh(tx, &f.current.hash, &f.id, f.generation).await
        }

        async fn insert_refresh(
            tx: &mut Transaction<'static, DB>,
            hash: &TokenHash,
            family_id: &str,
            generation: u64,
        ) -> Result<(), DbError> {
            sqlx::query("INSERT INTO lk_refresh_tokens (hash, family_id, generation) VALUES (?, ?, ?)")
                .bind(hash.0.to_vec())
                .bind(family_id)
                .bind(int(generation))
                .execute(&mut **tx)
                .await?;
            Ok(())
        }

        pub(super) async fn insert_access<'e>(
            ex: impl Executor<'e, Database = DB>,
            a: &AccessTokenRecord,
        ) -> Result<(), DbError> {
            let q = sqlx::query(concat!(
                "INSERT INTO lk_access_tokens (",
                access_fields!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ));
            bind_access(q, a)?.execute(ex).await?;
            Ok(())
        }

        /// The rotation: a compare-and-swap on (generation, not revoked)
        /// whose matched-row count decides between concurrent rotations,
        /// then the new refresh and access tokens and the grant's use time.
        async fn rotate_once(
            &self,
            family_id: &str,
            expected: u64,
            r: &Rotation,
        ) -> Result<RotateOutcome, DbError> {
            let mut tx = DB::begin_write(&self.pool).await?;
            let n = sqlx::query(
                "UPDATE lk_families SET generation = generation + 1, current_hash = ?, current_issued_at = ?, \
                 current_expires_at = ?, previous_hash = ?, previous_rotated_at = ?, previous_sealed = ?, expires_at = ? \
                 WHERE id = ? AND generation = ? AND revoked_at IS NULL",
            )
            .bind(r.current.hash.0.to_vec())
            .bind(ts(r.current.issued_at))
            .bind(ts(r.current.expires_at))
            .bind(r.previous.hash.0.to_vec())
            .bind(ts(r.previous.rotated_at))
            .bind(r.previous.sealed_successor.clone())
            .bind(ts(r.expires_at))
            .bind(family_id)
            .bind(int(expected))
            .execute(&mut *tx)
            .await?
            .affected();
            if n == 0 {
                // Not applied: a read in the same transaction tells why.
                let row = sqlx::query("SELECT revoked_at FROM lk_families WHERE id = ?")
                    .bind(family_id)
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.rollback().await?;
                return Ok(match row {
                    None => RotateOutcome::NotFound,
                    Some(row) if row.opt_i64("revoked_at")?.is_some() => RotateOutcome::Revoked,
                    Some(_) => RotateOutcome::Stale,
                });
            }
            Self::insert_refresh(&mut tx, &r.current.hash, family_id, expected.saturating_add(1))
                .await?;
            Self::insert_access(&mut *tx, &r.access).await?;
            sqlx::query(
                "UPDATE lk_grants SET last_used_at = CASE WHEN last_used_at < ? THEN ? ELSE last_used_at END \
                 WHERE id = (SELECT grant_id FROM lk_families WHERE id = ?)",
            )
            .bind(ts(r.now))
            .bind(ts(r.now))
            .bind(family_id)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(RotateOutcome::Rotated)
        }

        async fn revoke_family_once(
            &self,
            family_id: &str,
            r: Revocation,
            events: &[NewEvent],
        ) -> Result<bool, DbError> {
            let mut tx = DB::begin_write(&self.pool).await?;
            let n = sqlx::query(
                "UPDATE lk_families SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
            )
            .bind(ts(r.at))
            .bind(reason(r.reason)?)
            .bind(family_id)
            .execute(&mut *tx)
            .await?
            .affected();
            Self::finish_revocation(tx, n, events).await
        }

        async fn revoke_access_once(
            &self,
            hash: &TokenHash,
            at: Timestamp,
            events: &[NewEvent],
        ) -> Result<bool, DbError> {
            let mut tx = DB::begin_write(&self.pool).await?;
            let n = sqlx::query(
                "UPDATE lk_access_tokens SET revoked_at = ? WHERE hash = ? AND revoked_at IS NULL",
            )
            .bind(ts(at))
            .bind(hash.0.to_vec())
            .execute(&mut *tx)
            .await?
            .affected();
            Self::finish_revocation(tx, n, events).await
        }
    }
}

qmark_impl! {
    #[async_trait]
    impl TokenStore for QmarkStore {
        async fn find_refresh_token(
            &self,
            hash: &TokenHash,
        ) -> StorageResult<Option<(FamilyRecord, u64)>> {
            retrying!(async {
                let row = sqlx::query(concat!(refresh_sql!(), "?"))
                    .bind(hash.0.to_vec())
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(refresh_from).transpose()
            })
        }

        async fn get_family(&self, id: &str) -> StorageResult<Option<FamilyRecord>> {
            retrying!(async {
                let row = sqlx::query(concat!("SELECT ", family_cols!(), " FROM lk_families f WHERE f.id = ?"))
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
            retrying!(Self::insert_access(&self.pool, token))
        }

        async fn find_access_token(&self, hash: &TokenHash) -> StorageResult<Option<AccessTokenView>> {
            retrying!(async {
                let row = sqlx::query(concat!(access_view_sql!(), "?"))
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
}
