//! [`GrantStore`] on redb.

use async_trait::async_trait;
use latchkey::model::{GrantRecord, NewEvent, Revocation};
use latchkey::storage::{rules, Approval, ApproveOutcome, GrantStore, StorageError, StorageResult};

use crate::error::Failure;
use crate::read::by_id;
use crate::tables::{GRANTS, GRANT_BY_PAIR};
use crate::RedbStore;

#[async_trait]
impl GrantStore for RedbStore {
    async fn approve(&self, approval: &Approval) -> StorageResult<ApproveOutcome> {
        let approval = approval.clone();
        self.write("approve", move |tx| {
            let code = &approval.code;
            // The checks run in the reference store's order, so every
            // backend reports the same outcome for the same state; each
            // failing check returns before anything is written.
            if tx.code(&code.hash)?.is_some() {
                return Err(StorageError::Conflict.into());
            }
            // The client is read inside this write transaction, and
            // redb runs one at a time: a concurrent delete_client lands
            // wholly before (we see no client) or after (its cascade
            // sees the grant and revokes it).
            if tx.client(&code.client_id)?.is_none() {
                return Ok(ApproveOutcome::ClientGone);
            }
            if let Some(h) = &approval.challenge {
                if tx.take_challenge(h, code.issued_at)?.is_none() {
                    return Ok(ApproveOutcome::ChallengeGone);
                }
            }
            // Merged against the grant as it is now, inside the
            // transaction, so concurrent approvals of one pair all land
            // in one grant.
            let existing = match tx.grant_id_for(&code.subject, &code.client_id)? {
                Some(id) => tx.grant(&id)?,
                None => None,
            };
            let w = rules::merge_approval(existing.as_ref(), &approval);
            tx.put_grant(&w.grant)?;
            tx.fault("mid");
            tx.put_code(&w.code, None)?;
            tx.append(&w.events)?;
            Ok(ApproveOutcome::Approved {
                grant_id: w.grant.id,
            })
        })
        .await
    }

    async fn get_grant(
        &self,
        subject: &str,
        client_id: &str,
    ) -> StorageResult<Option<GrantRecord>> {
        let (subject, client_id) = (subject.to_owned(), client_id.to_owned());
        self.read(|r| {
            let pairs = r.open_table(GRANT_BY_PAIR)?;
            let Some(id) = pairs
                .get((subject.as_str(), client_id.as_str()))?
                .map(|v| v.value().to_owned())
            else {
                return Ok(None);
            };
            by_id(&r.open_table(GRANTS)?, &id)
        })
    }

    async fn get_grant_by_id(&self, id: &str) -> StorageResult<Option<GrantRecord>> {
        self.read(|r| by_id(&r.open_table(GRANTS)?, id))
    }

    async fn list_grants(&self, subject: &str) -> StorageResult<Vec<GrantRecord>> {
        self.read(|r| {
            let pairs = r.open_table(GRANT_BY_PAIR)?;
            let grants = r.open_table(GRANTS)?;
            let mut out = Vec::new();
            for entry in pairs.range((subject, "")..)? {
                let (key, id) = entry?;
                if key.value().0 != subject {
                    break;
                }
                let id = id.value();
                let g: GrantRecord = by_id(&grants, id)?.ok_or_else(|| {
                    Failure::Corrupt(format!("pair index names missing grant {id}"))
                })?;
                out.push(g);
            }
            Ok(out)
        })
    }

    async fn revoke_grant(
        &self,
        grant_id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        let (grant_id, events) = (grant_id.to_owned(), events.to_vec());
        self.write("revoke_grant", move |tx| {
            if tx.delete_grant(&grant_id)?.is_none() {
                return Ok(false);
            }
            tx.fault("mid");
            for family_id in tx.families_of_grant(&grant_id)? {
                tx.revoke_family(&family_id, revocation)?;
            }
            tx.append(&events)?;
            Ok(true)
        })
        .await
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<u64> {
        let (subject, events) = (subject.to_owned(), events.to_vec());
        self.write("revoke_subject", move |tx| {
            let ids = tx.grants_of_subject(&subject)?;
            for id in &ids {
                tx.delete_grant(id)?;
            }
            tx.fault("mid");
            for family_id in tx.families_of_subject(&subject)? {
                tx.revoke_family(&family_id, revocation)?;
            }
            tx.append(&events)?;
            Ok(ids.len() as u64)
        })
        .await
    }
}
