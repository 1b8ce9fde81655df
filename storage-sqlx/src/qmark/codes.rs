//! Authorization codes: issued with an approval, redeemed once.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::CodeRecord;
use latchkey::storage::{CodeFailure, CodeStore, Issuance, RedeemOutcome, StorageResult};
use latchkey::token::TokenHash;
use sqlx::Transaction;

use super::Affected as _;
use crate::codec::{
    bind_code, code_cols, code_failure_from, code_from, not_redeemed_from, ts, CODE_BURNED,
};
use crate::error::{retrying, DbError};

/// Counts a failed exchange of an unused code, burning it at the limit.
/// `status` is assigned first: MySQL evaluates `SET` left to right with
/// updated values, so it must read the old `failed_attempts` (SQLite reads
/// old values throughout, so the order suits both).
macro_rules! count_failure {
    () => {
        "UPDATE lk_codes SET status = CASE WHEN failed_attempts + 1 >= ? THEN ? ELSE status END, \
         failed_attempts = failed_attempts + 1 WHERE hash = ? AND status = 'unused'"
    };
}

qmark_impl! {
    impl QmarkStore {
        pub(super) async fn insert_code(
            tx: &mut Transaction<'static, DB>,
            c: &CodeRecord,
        ) -> Result<(), DbError> {
            let q = sqlx::query(concat!(
                "INSERT INTO lk_codes (",
                code_cols!(),
                ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            ));
            bind_code(q, c)?.execute(&mut **tx).await?;
            Ok(())
        }

        async fn code_failure_once(&self, hash: &TokenHash, max: u32) -> Result<CodeFailure, DbError> {
            if DB::RETURNING {
                let row = sqlx::query(concat!(count_failure!(), " RETURNING failed_attempts, status"))
                    .bind(i64::from(max))
                    .bind(CODE_BURNED)
                    .bind(hash.0.to_vec())
                    .fetch_optional(&self.pool)
                    .await?;
                return row.as_ref().map_or(Ok(CodeFailure::NotFound), code_failure_from);
            }
            let mut tx = DB::begin_write(&self.pool).await?;
            let n = sqlx::query(count_failure!())
                .bind(i64::from(max))
                .bind(CODE_BURNED)
                .bind(hash.0.to_vec())
                .execute(&mut *tx)
                .await?
                .affected();
            if n == 0 {
                tx.rollback().await?;
                return Ok(CodeFailure::NotFound);
            }
            let row = sqlx::query("SELECT failed_attempts, status FROM lk_codes WHERE hash = ?")
                .bind(hash.0.to_vec())
                .fetch_one(&mut *tx)
                .await?;
            tx.commit().await?;
            code_failure_from(&row)
        }

        async fn redeem_once(
            &self,
            hash: &TokenHash,
            now: Timestamp,
            iss: &Issuance,
        ) -> Result<RedeemOutcome, DbError> {
            let mut tx = DB::begin_write(&self.pool).await?;
            // The code's row (or SQLite's database) lock decides between
            // concurrent exchanges.
            let n = sqlx::query(
                "UPDATE lk_codes SET status = 'redeemed', family_id = ? WHERE hash = ? AND status = 'unused' AND expires_at > ?",
            )
            .bind(&iss.family.id)
            .bind(hash.0.to_vec())
            .bind(ts(now))
            .execute(&mut *tx)
            .await?
            .affected();
            if n == 0 {
                // READ COMMITTED: this read sees the winner's commit.
                let row = sqlx::query("SELECT status, family_id FROM lk_codes WHERE hash = ?")
                    .bind(hash.0.to_vec())
                    .fetch_optional(&mut *tx)
                    .await?;
                tx.rollback().await?;
                return not_redeemed_from(row.as_ref());
            }
            // Touching the grant also proves it still exists and locks it
            // until commit: a concurrent revocation waits and then revokes
            // our family. The row matches even when the time is unchanged.
            let touched = sqlx::query(
                "UPDATE lk_grants SET last_used_at = CASE WHEN last_used_at < ? THEN ? ELSE last_used_at END \
                 WHERE id = (SELECT grant_id FROM lk_codes WHERE hash = ?)",
            )
            .bind(ts(now))
            .bind(ts(now))
            .bind(hash.0.to_vec())
            .execute(&mut *tx)
            .await?
            .affected();
            if touched == 0 {
                // The grant was revoked: the code is void.
                tx.rollback().await?;
                return Ok(RedeemOutcome::Invalid);
            }
            Self::insert_family(&mut tx, &iss.family).await?;
            Self::insert_access(&mut *tx, &iss.access).await?;
            Self::append(&mut tx, &iss.events).await?;
            tx.commit().await?;
            Ok(RedeemOutcome::Issued)
        }
    }
}

qmark_impl! {
    #[async_trait]
    impl CodeStore for QmarkStore {
        async fn get_code(&self, hash: &TokenHash) -> StorageResult<Option<CodeRecord>> {
            retrying!(async {
                let row = sqlx::query(concat!("SELECT ", code_cols!(), " FROM lk_codes WHERE hash = ?"))
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
            retrying!(self.code_failure_once(hash, max_failures))
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
}
