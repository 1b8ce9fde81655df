//! [`CodeStore`] on redb.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::CodeRecord;
use latchkey::storage::{
    rules, CodeFailure, CodeStore, Issuance, RedeemOutcome, StorageError, StorageResult,
};
use latchkey::token::TokenHash;

use crate::read::by_hash;
use crate::tables::CODES;
use crate::RedbStore;

#[async_trait]
impl CodeStore for RedbStore {
    async fn get_code(&self, hash: &TokenHash) -> StorageResult<Option<CodeRecord>> {
        self.read(|r| by_hash(&r.open_table(CODES)?, &hash.0))
    }

    async fn record_code_failure(
        &self,
        hash: &TokenHash,
        max_failures: u32,
    ) -> StorageResult<CodeFailure> {
        let hash = *hash;
        self.write("record_code_failure", move |tx| {
            let old = tx.code(&hash)?;
            match rules::count_code_failure(old.as_ref(), max_failures) {
                Ok((code, outcome)) => {
                    tx.put_code(&code, old.as_ref())?;
                    Ok(outcome)
                }
                Err(outcome) => Ok(outcome),
            }
        })
        .await
    }

    async fn redeem_code(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        issuance: &Issuance,
    ) -> StorageResult<RedeemOutcome> {
        let (hash, issuance) = (*hash, issuance.clone());
        self.write("redeem_code", move |tx| {
            let family = &issuance.family;
            let old = tx.code(&hash)?;
            let grant_exists = match &old {
                Some(c) => tx.grant(&c.grant_id)?.is_some(),
                None => false,
            };
            let code = match rules::redeem_code(old.as_ref(), now, grant_exists, &family.id) {
                Ok(code) => code,
                Err(outcome) => return Ok(outcome),
            };
            if tx.family(&family.id)?.is_some() {
                return Err(StorageError::Conflict.into());
            }
            tx.put_code(&code, old.as_ref())?;
            tx.fault("mid");
            tx.index_refresh(family)?;
            tx.put_family(family, None)?;
            tx.upsert_access(&issuance.access)?;
            tx.touch_grant(&code.grant_id, now)?;
            tx.append(&issuance.events)?;
            Ok(RedeemOutcome::Issued)
        })
        .await
    }
}
