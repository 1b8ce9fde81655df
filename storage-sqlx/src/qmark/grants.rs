//! Grants (a subject's consent to a client), approval, and the cascading
//! revocations that start from a client, a grant or a subject.

use async_trait::async_trait;
use latchkey::model::{GrantRecord, NewEvent, Revocation};
use latchkey::storage::{rules, Approval, ApproveOutcome, GrantStore, StorageResult};

use super::Affected as _;
use crate::codec::{bind_grant, grant_cols, grant_from, int, json, reason, scopes, ts};
use crate::error::{retrying, DbError};

/// What a cascading revocation starts from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Cascade {
    Client,
    Grant,
    Subject,
}

qmark_impl! {
    impl QmarkStore {
        /// Deletes grants (of a client, a subject, or one id) and revokes
        /// their families; returns how many rows the first delete matched.
        /// Where rows are locked, families are locked first: rotation locks
        /// family then grant, so taking them in the same order cannot
        /// deadlock with it.
        pub(super) async fn cascade(
            &self,
            kind: Cascade,
            key: &str,
            r: Revocation,
            events: &[NewEvent],
        ) -> Result<u64, DbError> {
            let (lock, delete, revoke) = match kind {
                Cascade::Client => (
                    "SELECT id FROM lk_families WHERE client_id = ? AND revoked_at IS NULL FOR UPDATE",
                    "DELETE FROM lk_clients WHERE id = ?",
                    "UPDATE lk_families SET revoked_at = ?, revoked_reason = ? WHERE client_id = ? AND revoked_at IS NULL",
                ),
                Cascade::Grant => (
                    "SELECT id FROM lk_families WHERE grant_id = ? AND revoked_at IS NULL FOR UPDATE",
                    "DELETE FROM lk_grants WHERE id = ?",
                    "UPDATE lk_families SET revoked_at = ?, revoked_reason = ? WHERE grant_id = ? AND revoked_at IS NULL",
                ),
                Cascade::Subject => (
                    "SELECT id FROM lk_families WHERE subject = ? AND revoked_at IS NULL FOR UPDATE",
                    "DELETE FROM lk_grants WHERE subject = ?",
                    "UPDATE lk_families SET revoked_at = ?, revoked_reason = ? WHERE subject = ? AND revoked_at IS NULL",
                ),
            };
            let mut tx = DB::begin_write(&self.pool).await?;
            if DB::ROW_LOCKS {
                sqlx::query(lock).bind(key).fetch_all(&mut *tx).await?;
            }
            let n = sqlx::query(delete)
                .bind(key)
                .execute(&mut *tx)
                .await?
                .affected();
            if n == 0 && kind != Cascade::Subject {
                tx.rollback().await?;
                return Ok(0);
            }
            if kind == Cascade::Client {
                sqlx::query("DELETE FROM lk_grants WHERE client_id = ?")
                    .bind(key)
                    .execute(&mut *tx)
                    .await?;
                // Stand-alone (client_credentials) tokens have no family
                // to die with.
                sqlx::query(
                    "UPDATE lk_access_tokens SET revoked_at = ? \
                     WHERE client_id = ? AND family_id IS NULL AND revoked_at IS NULL",
                )
                .bind(ts(r.at))
                .bind(key)
                .execute(&mut *tx)
                .await?;
            }
            // A new statement: under READ COMMITTED it sees families
            // redeemed while we waited for the locks above.
            sqlx::query(revoke)
                .bind(ts(r.at))
                .bind(reason(r.reason)?)
                .bind(key)
                .execute(&mut *tx)
                .await?;
            Self::append(&mut tx, events).await?;
            tx.commit().await?;
            Ok(n)
        }

        /// "The user approved" in one write transaction: the client read
        /// with [`Dialect::SHARE_LOCK`], the challenge deleted, the grant
        /// inserted if absent and then read with [`Dialect::ROW_LOCK`],
        /// merged with `rules::merge_approval`, the code and the merge's
        /// events written. Anything but `Approved` rolls back.
        async fn approve_once(&self, a: &Approval) -> Result<ApproveOutcome, DbError> {
            let code = &a.code;
            let mut tx = DB::begin_write(&self.pool).await?;
            let client_read = format!("SELECT id FROM lk_clients WHERE id = ?{}", DB::SHARE_LOCK);
            let client = sqlx::query(&client_read)
                .bind(&code.client_id)
                .fetch_optional(&mut *tx)
                .await?;
            if client.is_none() {
                tx.rollback().await?;
                return Ok(ApproveOutcome::ClientGone);
            }
            if let Some(h) = &a.challenge {
                let taken = sqlx::query("DELETE FROM lk_challenges WHERE hash = ? AND expires_at > ?")
                    .bind(h.0.to_vec())
                    .bind(ts(code.issued_at))
                    .execute(&mut *tx)
                    .await?
                    .affected();
                if taken == 0 {
                    tx.rollback().await?;
                    return Ok(ApproveOutcome::ChallengeGone);
                }
            }
            let fresh = rules::merge_approval(None, a);
            let insert = format!(
                "INSERT INTO lk_grants ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?){}",
                grant_cols!(),
                DB::GRANT_IF_ABSENT
            );
            bind_grant(sqlx::query(&insert), &fresh.grant)?
                .execute(&mut *tx)
                .await?;
            let read = format!(
                "SELECT {} FROM lk_grants WHERE subject = ? AND client_id = ?{}",
                grant_cols!(),
                DB::ROW_LOCK
            );
            let row = sqlx::query(&read)
                .bind(&code.subject)
                .bind(&code.client_id)
                .fetch_one(&mut *tx)
                .await?;
            let existing = grant_from(&row)?;
            // The candidate id is fresh (the contract of `Approval`): finding
            // it means this transaction's insert created the grant. MySQL's
            // affected-row count cannot tell (it depends on client flags).
            let w = if existing.id == fresh.grant.id {
                fresh
            } else {
                let w = rules::merge_approval(Some(&existing), a);
                sqlx::query(
                    "UPDATE lk_grants SET scopes = ?, resources = ?, remembered_scopes = ?, \
                     last_used_at = ?, revision = ? WHERE id = ?",
                )
                .bind(scopes(&w.grant.scopes))
                .bind(json(&w.grant.resources)?)
                .bind(w.grant.remembered_scopes.as_ref().map(scopes))
                .bind(ts(w.grant.last_used_at))
                .bind(int(w.grant.revision))
                .bind(&w.grant.id)
                .execute(&mut *tx)
                .await?;
                w
            };
            Self::insert_code(&mut tx, &w.code).await?;
            Self::append(&mut tx, &w.events).await?;
            tx.commit().await?;
            Ok(ApproveOutcome::Approved {
                grant_id: w.grant.id,
            })
        }
    }
}

qmark_impl! {
    #[async_trait]
    impl GrantStore for QmarkStore {
        async fn approve(&self, approval: &Approval) -> StorageResult<ApproveOutcome> {
            retrying!(self.approve_once(approval))
        }

        async fn get_grant(
            &self,
            subject: &str,
            client_id: &str,
        ) -> StorageResult<Option<GrantRecord>> {
            retrying!(async {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    grant_cols!(),
                    " FROM lk_grants WHERE subject = ? AND client_id = ?"
                ))
                .bind(subject)
                .bind(client_id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(grant_from).transpose()
            })
        }

        async fn get_grant_by_id(&self, id: &str) -> StorageResult<Option<GrantRecord>> {
            retrying!(async {
                let row = sqlx::query(concat!("SELECT ", grant_cols!(), " FROM lk_grants WHERE id = ?"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(grant_from).transpose()
            })
        }

        async fn list_grants(&self, subject: &str) -> StorageResult<Vec<GrantRecord>> {
            retrying!(async {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    grant_cols!(),
                    " FROM lk_grants WHERE subject = ? ORDER BY client_id"
                ))
                .bind(subject)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(grant_from).collect::<Result<Vec<_>, _>>()
            })
        }

        async fn revoke_grant(
            &self,
            grant_id: &str,
            revocation: Revocation,
            events: &[NewEvent],
        ) -> StorageResult<bool> {
            retrying!(self.cascade(Cascade::Grant, grant_id, revocation, events)).map(|n| n > 0)
        }

        async fn revoke_subject(
            &self,
            subject: &str,
            revocation: Revocation,
            events: &[NewEvent],
        ) -> StorageResult<u64> {
            retrying!(self.cascade(Cascade::Subject, subject, revocation, events))
        }
    }
}
