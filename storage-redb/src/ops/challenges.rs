//! [`ChallengeStore`] on redb.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::ChallengeRecord;
use latchkey::storage::{ChallengeStore, StorageError, StorageResult};
use latchkey::token::TokenHash;

use crate::read::by_hash;
use crate::tables::CHALLENGES;
use crate::RedbStore;

#[async_trait]
impl ChallengeStore for RedbStore {
    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> StorageResult<()> {
        let challenge = challenge.clone();
        self.write("insert_challenge", move |tx| {
            if tx.challenge(&challenge.hash)?.is_some() {
                return Err(StorageError::Conflict.into());
            }
            tx.insert_challenge(&challenge)
        })
        .await
    }

    async fn get_challenge(&self, hash: &TokenHash) -> StorageResult<Option<ChallengeRecord>> {
        self.read(|r| by_hash(&r.open_table(CHALLENGES)?, &hash.0))
    }

    async fn take_challenge(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StorageResult<Option<ChallengeRecord>> {
        let hash = *hash;
        self.write("take_challenge", move |tx| tx.take_challenge(&hash, now))
            .await
    }
}
