//! [`TokenStore`] on redb.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::{AccessTokenRecord, AccessTokenView, FamilyRecord, NewEvent, Revocation};
use latchkey::storage::{rules, RotateOutcome, Rotation, StorageError, StorageResult, TokenStore};
use latchkey::token::TokenHash;

use crate::read::{by_hash, by_id};
use crate::tables::{ACCESS, FAMILIES, REFRESH_INDEX};
use crate::RedbStore;

#[async_trait]
impl TokenStore for RedbStore {
    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> StorageResult<Option<(FamilyRecord, u64)>> {
        self.read(|r| {
            let index = r.open_table(REFRESH_INDEX)?;
            let Some((family_id, generation)) = index.get(&hash.0)?.map(|v| {
                let (id, generation) = v.value();
                (id.to_owned(), generation)
            }) else {
                return Ok(None);
            };
            let family: Option<FamilyRecord> = by_id(&r.open_table(FAMILIES)?, &family_id)?;
            Ok(family.map(|f| (f, generation)))
        })
    }

    async fn get_family(&self, id: &str) -> StorageResult<Option<FamilyRecord>> {
        self.read(|r| by_id(&r.open_table(FAMILIES)?, id))
    }

    async fn rotate_family(
        &self,
        family_id: &str,
        expected_generation: u64,
        rotation: &Rotation,
    ) -> StorageResult<RotateOutcome> {
        let (family_id, rotation) = (family_id.to_owned(), rotation.clone());
        self.write("rotate_family", move |tx| {
            let old = tx.family(&family_id)?;
            let f = match rules::apply_rotation(old.as_ref(), expected_generation, &rotation) {
                Ok(f) => f,
                Err(outcome) => return Ok(outcome),
            };
            tx.index_refresh(&f)?;
            tx.fault("mid");
            tx.put_family(&f, old.as_ref())?;
            tx.upsert_access(&rotation.access)?;
            tx.touch_grant(&f.grant_id, rotation.now)?;
            Ok(RotateOutcome::Rotated)
        })
        .await
    }

    async fn revoke_family(
        &self,
        family_id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        let (family_id, events) = (family_id.to_owned(), events.to_vec());
        self.write("revoke_family", move |tx| {
            if !tx.revoke_family(&family_id, revocation)? {
                return Ok(false);
            }
            tx.fault("mid");
            tx.append(&events)?;
            Ok(true)
        })
        .await
    }

    async fn insert_access_token(&self, token: &AccessTokenRecord) -> StorageResult<()> {
        let token = token.clone();
        self.write("insert_access_token", move |tx| {
            if tx.access(&token.hash)?.is_some() {
                return Err(StorageError::Conflict.into());
            }
            tx.put_access(&token, None)
        })
        .await
    }

    async fn find_access_token(&self, hash: &TokenHash) -> StorageResult<Option<AccessTokenView>> {
        self.read(|r| {
            let Some(token) = by_hash::<AccessTokenRecord>(&r.open_table(ACCESS)?, &hash.0)? else {
                return Ok(None);
            };
            // Same snapshot as the token: the view is consistent.
            let family_revoked = match &token.family_id {
                Some(id) => by_id::<FamilyRecord>(&r.open_table(FAMILIES)?, id)?
                    .is_some_and(|f| f.revoked.is_some()),
                None => false,
            };
            Ok(Some(AccessTokenView {
                token,
                family_revoked,
            }))
        })
    }

    async fn revoke_access_token(
        &self,
        hash: &TokenHash,
        at: Timestamp,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        let (hash, events) = (*hash, events.to_vec());
        self.write("revoke_access_token", move |tx| {
            if !tx.revoke_access(&hash, at)? {
                return Ok(false);
            }
            tx.fault("mid");
            tx.append(&events)?;
            Ok(true)
        })
        .await
    }
}
