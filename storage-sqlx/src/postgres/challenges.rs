//! Pending authorization requests (challenges) on PostgreSQL.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::ChallengeRecord;
use latchkey::storage::{ChallengeStore, StorageResult};
use latchkey::token::TokenHash;

use super::PgStore;
use crate::codec::{bind_challenge, challenge_cols, challenge_from, ts};
use crate::error::{retrying, DbError};

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
