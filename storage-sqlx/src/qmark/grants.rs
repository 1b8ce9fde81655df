//! Grants (a subject's consent to a client), approval, and the cascading
//! revocations that start from a client, a grant or a subject.

use async_trait::async_trait;
use latchkey::model::{CodeRecord, GrantRecord, NewEvent, Revocation};
use latchkey::storage::{GrantExpectation, GrantStore, StorageError, StorageResult};

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

        async fn approve_once(
            &self,
            grant: &GrantRecord,
            expected: &GrantExpectation,
            code: &CodeRecord,
            events: &[NewEvent],
        ) -> Result<(), DbError> {
            if matches!(expected, GrantExpectation::Revision { id, .. } if *id != grant.id) {
                return Err(StorageError::Conflict.into());
            }
            let mut tx = DB::begin_write(&self.pool).await?;
            match expected {
                GrantExpectation::Absent => {
                    let q = sqlx::query(concat!(
                        "INSERT INTO lk_grants (",
                        grant_cols!(),
                        ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    ));
                    bind_grant(q, grant)?.execute(&mut *tx).await?;
                }
                GrantExpectation::Revision { revision, .. } => {
                    // Replaces the grant only if it is still at `revision`.
                    let n = sqlx::query(
                        "UPDATE lk_grants SET scopes = ?, resources = ?, remembered_scopes = ?, created_at = ?, \
                         last_used_at = ?, revision = ? WHERE id = ? AND subject = ? AND client_id = ? AND revision = ?",
                    )
                    .bind(scopes(&grant.scopes))
                    .bind(json(&grant.resources)?)
                    .bind(grant.remembered_scopes.as_ref().map(scopes))
                    .bind(ts(grant.created_at))
                    .bind(ts(grant.last_used_at))
                    .bind(int(grant.revision))
                    .bind(&grant.id)
                    .bind(&grant.subject)
                    .bind(&grant.client_id)
                    .bind(int(*revision))
                    .execute(&mut *tx)
                    .await?
                    .affected();
                    if n == 0 {
                        tx.rollback().await?;
                        return Err(StorageError::Conflict.into());
                    }
                }
            }
            Self::insert_code(&mut tx, code).await?;
            Self::append(&mut tx, events).await?;
            tx.commit().await?;
            Ok(())
        }
    }
}

qmark_impl! {
    #[async_trait]
    impl GrantStore for QmarkStore {
        async fn approve(
            &self,
            grant: &GrantRecord,
            expected: &GrantExpectation,
            code: &CodeRecord,
            events: &[NewEvent],
        ) -> StorageResult<()> {
            retrying!(self.approve_once(grant, expected, code, events))
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
