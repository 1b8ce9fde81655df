//! Pending authorization requests (challenges): single-use, taken once.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::ChallengeRecord;
use latchkey::storage::{ChallengeStore, StorageResult};
use latchkey::token::TokenHash;

use super::Affected as _;
use crate::codec::{bind_challenge, challenge_cols, challenge_from, ts};
use crate::error::{retrying, DbError};

qmark_impl! {
    impl QmarkStore {
        async fn take_challenge_once(
            &self,
            hash: &TokenHash,
            now: Timestamp,
        ) -> Result<Option<ChallengeRecord>, DbError> {
            if DB::RETURNING {
                let row = sqlx::query(concat!(
                    "DELETE FROM lk_challenges WHERE hash = ? AND expires_at > ? RETURNING ",
                    challenge_cols!()
                ))
                .bind(hash.0.to_vec())
                .bind(ts(now))
                .fetch_optional(&self.pool)
                .await?;
                return row.as_ref().map(challenge_from).transpose();
            }
            // Challenges never change, so reading first is safe; the DELETE's
            // matched-row count decides which concurrent taker gets it.
            let row = sqlx::query(concat!(
                "SELECT ",
                challenge_cols!(),
                " FROM lk_challenges WHERE hash = ? AND expires_at > ?"
            ))
            .bind(hash.0.to_vec())
            .bind(ts(now))
            .fetch_optional(&self.pool)
            .await?;
            let Some(row) = row else {
                return Ok(None);
            };
            let n = sqlx::query("DELETE FROM lk_challenges WHERE hash = ? AND expires_at > ?")
                .bind(hash.0.to_vec())
                .bind(ts(now))
                .execute(&self.pool)
                .await?
                .affected();
            if n == 1 {
                Ok(Some(challenge_from(&row)?))
            } else {
                Ok(None)
            }
        }
    }
}

qmark_impl! {
    #[async_trait]
    impl ChallengeStore for QmarkStore {
        async fn insert_challenge(&self, challenge: &ChallengeRecord) -> StorageResult<()> {
            retrying!(async {
                let q = sqlx::query(concat!(
                    "INSERT INTO lk_challenges (",
                    challenge_cols!(),
                    ") VALUES (?, ?, ?, ?, ?)"
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
                    " FROM lk_challenges WHERE hash = ?"
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
            retrying!(self.take_challenge_once(hash, now))
        }
    }
}
