//! [`CodeStore`] on redb.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::{CodeRecord, CodeStatus};
use latchkey::storage::{
    CodeFailure, CodeStore, Issuance, RedeemOutcome, StorageError, StorageResult,
};
use latchkey::token::TokenHash;

use crate::read::by_hash;
use crate::tables::CODES;
use crate::RedbStore;

#[async_trait]
impl CodeStore for RedbStore {
    async fn get_code(&self, hash: &TokenHash) -> StorageResult<Option<CodeRecord>> {
        let hash = *hash;
        self.call(move |db| db.read(|r| by_hash(&r.open_table(CODES)?, &hash.0)))
            .await
    }

    async fn record_code_failure(
        &self,
        hash: &TokenHash,
        max_failures: u32,
    ) -> StorageResult<CodeFailure> {
        let hash = *hash;
        self.call(move |db| {
            db.write("record_code_failure", |tx| {
                let Some(old) = tx.code(&hash)? else {
                    return Ok(CodeFailure::NotFound);
                };
                if old.status != CodeStatus::Unused {
                    return Ok(CodeFailure::NotFound);
                }
                let mut code = old.clone();
                code.failed_attempts = code.failed_attempts.saturating_add(1);
                let outcome = if code.failed_attempts >= max_failures {
                    code.status = CodeStatus::Burned;
                    CodeFailure::Burned
                } else {
                    CodeFailure::Counted(code.failed_attempts)
                };
                tx.put_code(&code, Some(&old))?;
                Ok(outcome)
            })
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
        self.call(move |db| {
            db.write("redeem_code", |tx| {
                let Some(old) = tx.code(&hash)? else {
                    return Ok(RedeemOutcome::Invalid);
                };
                match &old.status {
                    CodeStatus::Redeemed { family_id } => {
                        return Ok(RedeemOutcome::AlreadyRedeemed {
                            family_id: family_id.clone(),
                        })
                    }
                    CodeStatus::Unused => {}
                    // Burned, or a status this version does not know: never
                    // redeemable.
                    _ => return Ok(RedeemOutcome::Invalid),
                }
                if old.expires_at <= now || tx.grant(&old.grant_id)?.is_none() {
                    return Ok(RedeemOutcome::Invalid);
                }
                let family = &issuance.family;
                if tx.family(&family.id)?.is_some() {
                    return Err(StorageError::Conflict.into());
                }
                let mut code = old.clone();
                code.status = CodeStatus::Redeemed {
                    family_id: family.id.clone(),
                };
                tx.put_code(&code, Some(&old))?;
                tx.fault("mid");
                tx.index_refresh(family)?;
                tx.put_family(family, None)?;
                tx.upsert_access(&issuance.access)?;
                tx.touch_grant(&old.grant_id, now)?;
                tx.append(&issuance.events)?;
                Ok(RedeemOutcome::Issued)
            })
        })
        .await
    }
}
