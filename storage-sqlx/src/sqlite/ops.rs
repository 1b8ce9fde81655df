//! Every storage trait on SQLite.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::{
    AccessTokenRecord, AccessTokenView, ChallengeRecord, ClientRecord, CodeRecord, Event,
    FamilyRecord, GrantRecord, NewEvent, Revocation,
};
use latchkey::storage::{
    Approval, ApproveOutcome, ChallengeStore, ClientStore, CodeFailure, CodeStore, EventStore,
    GrantStore, Issuance, PurgeReport, PurgeStore, RedeemOutcome, RotateOutcome, Rotation,
    StorageError, StorageResult, TokenStore,
};
use latchkey::token::TokenHash;
use sqlx::{Row, Sqlite, Transaction};

use super::SqliteStore;
use crate::codec::{
    access_cols, access_view_from, challenge_cols, challenge_from, code_failure_from, int, json,
    not_redeemed_from, reason, ts, CODE_BURNED,
};
use crate::error::{retrying, DbError};
use crate::qmark::{n64, Qmark};

type Tx = Transaction<'static, Sqlite>;

/// The statements SQLite shares with MySQL.
type S = Qmark<Sqlite>;

/// Appends events at the end of a write transaction: the counter is bumped
/// under the database write lock, so `seq` follows commit order.
async fn append(tx: &mut Tx, events: &[NewEvent]) -> Result<(), DbError> {
    if events.is_empty() {
        return Ok(());
    }
    let last: i64 = sqlx::query_scalar(
        "UPDATE lk_event_counter SET last_seq = last_seq + ? WHERE id = 1 RETURNING last_seq",
    )
    .bind(n64(events.len()))
    .fetch_one(&mut **tx)
    .await?;
    let first = last - n64(events.len()) + 1;
    for (i, e) in events.iter().enumerate() {
        sqlx::query("INSERT INTO lk_events (seq, at, kind) VALUES (?, ?, ?)")
            .bind(first + n64(i))
            .bind(ts(e.at))
            .bind(json(&e.kind)?)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Ends a single-row revocation: appends and commits when the row changed;
/// otherwise dropping `tx` rolls it back.
async fn finish_revocation(mut tx: Tx, n: u64, events: &[NewEvent]) -> Result<bool, DbError> {
    if n == 0 {
        return Ok(false);
    }
    append(&mut tx, events).await?;
    tx.commit().await?;
    Ok(true)
}

impl SqliteStore {
    async fn write(&self) -> Result<Tx, DbError> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    async fn insert_client_once(
        &self,
        c: &ClientRecord,
        events: &[NewEvent],
    ) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        S::insert_client(&mut *tx, c).await?;
        append(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn update_client_once(
        &self,
        c: &ClientRecord,
        expected: u64,
        events: &[NewEvent],
    ) -> Result<(), DbError> {
        let mut tx = self.write().await?;
        let n = sqlx::query(
            "UPDATE lk_clients SET owner = ?1, revision = ?2, body = ?3 WHERE id = ?4 AND revision = ?5",
        )
        .bind(&c.owner)
        .bind(int(c.revision))
        .bind(json(c)?)
        .bind(&c.id)
        .bind(int(expected))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            let present = sqlx::query("SELECT 1 AS one FROM lk_clients WHERE id = ?")
                .bind(&c.id)
                .fetch_optional(&mut *tx)
                .await?
                .is_some();
            return Err(if present {
                StorageError::Conflict
            } else {
                StorageError::NotFound
            }
            .into());
        }
        append(&mut tx, events).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn delete_client_once(
        &self,
        id: &str,
        r: Revocation,
        events: &[NewEvent],
    ) -> Result<bool, DbError> {
        let mut tx = self.write().await?;
        let n = sqlx::query("DELETE FROM lk_clients WHERE id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 {
            return Ok(false);
        }
        sqlx::query("DELETE FROM lk_grants WHERE client_id = ?")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE lk_families SET revoked_at = ?, revoked_reason = ? WHERE client_id = ? AND revoked_at IS NULL")
            .bind(ts(r.at))
            .bind(reason(r.reason)?)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // Stand-alone (client_credentials) tokens have no family to die with.
        sqlx::query("UPDATE lk_access_tokens SET revoked_at = ? WHERE client_id = ? AND family_id IS NULL AND revoked_at IS NULL")
            .bind(ts(r.at))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        append(&mut tx, events).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn approve_once(&self, a: &Approval) -> Result<ApproveOutcome, DbError> {
        let mut tx = self.write().await?;
        let (outcome, events) = S::approve_in(
            &mut tx,
            a,
            "",
            "",
            " ON CONFLICT (subject, client_id) DO NOTHING",
        )
        .await?;
        if !matches!(outcome, ApproveOutcome::Approved { .. }) {
            tx.rollback().await?;
            return Ok(outcome);
        }
        append(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    async fn revoke_grants_once(
        &self,
        by_subject: bool,
        key: &str,
        r: Revocation,
        events: &[NewEvent],
    ) -> Result<u64, DbError> {
        let (delete, revoke) = if by_subject {
            (
                "DELETE FROM lk_grants WHERE subject = ?",
                "UPDATE lk_families SET revoked_at = ?, revoked_reason = ? WHERE subject = ? AND revoked_at IS NULL",
            )
        } else {
            (
                "DELETE FROM lk_grants WHERE id = ?",
                "UPDATE lk_families SET revoked_at = ?, revoked_reason = ? WHERE grant_id = ? AND revoked_at IS NULL",
            )
        };
        let mut tx = self.write().await?;
        let n = sqlx::query(delete)
            .bind(key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 && !by_subject {
            return Ok(0);
        }
        sqlx::query(revoke)
            .bind(ts(r.at))
            .bind(reason(r.reason)?)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        append(&mut tx, events).await?;
        tx.commit().await?;
        Ok(n)
    }

    async fn redeem_once(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        iss: &Issuance,
    ) -> Result<RedeemOutcome, DbError> {
        let mut tx = self.write().await?;
        let grant: Option<String> = sqlx::query_scalar(
            "UPDATE lk_codes SET status = 'redeemed', family_id = ? WHERE hash = ? AND status = 'unused' \
             AND expires_at > ? AND EXISTS (SELECT 1 FROM lk_grants g WHERE g.id = lk_codes.grant_id) RETURNING grant_id",
        )
        .bind(&iss.family.id)
        .bind(hash.0.to_vec())
        .bind(ts(now))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(grant_id) = grant else {
            let row = sqlx::query("SELECT status, family_id FROM lk_codes WHERE hash = ?")
                .bind(hash.0.to_vec())
                .fetch_optional(&mut *tx)
                .await?;
            return not_redeemed_from(row.as_ref());
        };
        S::insert_family(&mut tx, &iss.family).await?;
        S::insert_access(&mut *tx, &iss.access).await?;
        sqlx::query("UPDATE lk_grants SET last_used_at = ? WHERE id = ? AND last_used_at < ?")
            .bind(ts(now))
            .bind(&grant_id)
            .bind(ts(now))
            .execute(&mut *tx)
            .await?;
        append(&mut tx, &iss.events).await?;
        tx.commit().await?;
        Ok(RedeemOutcome::Issued)
    }

    async fn rotate_once(
        &self,
        family_id: &str,
        expected: u64,
        r: &Rotation,
    ) -> Result<RotateOutcome, DbError> {
        let mut tx = self.write().await?;
        let row = sqlx::query(
            "UPDATE lk_families SET generation = generation + 1, current_hash = ?, current_issued_at = ?, \
             current_expires_at = ?, previous_hash = ?, previous_rotated_at = ?, previous_sealed = ?, expires_at = ? \
             WHERE id = ? AND generation = ? AND revoked_at IS NULL RETURNING grant_id, generation",
        )
        .bind(r.current.hash.0.to_vec())
        .bind(ts(r.current.issued_at))
        .bind(ts(r.current.expires_at))
        .bind(r.previous.hash.0.to_vec())
        .bind(ts(r.previous.rotated_at))
        .bind(r.previous.sealed_successor.clone())
        .bind(ts(r.expires_at))
        .bind(family_id)
        .bind(int(expected))
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            let revoked: Option<bool> =
                sqlx::query_scalar("SELECT revoked_at IS NOT NULL FROM lk_families WHERE id = ?")
                    .bind(family_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            return Ok(match revoked {
                None => RotateOutcome::NotFound,
                Some(true) => RotateOutcome::Revoked,
                Some(false) => RotateOutcome::Stale,
            });
        };
        let grant_id: String = row.try_get("grant_id")?;
        let generation: i64 = row.try_get("generation")?;
        sqlx::query("INSERT INTO lk_refresh_tokens (hash, family_id, generation) VALUES (?, ?, ?)")
            .bind(r.current.hash.0.to_vec())
            .bind(family_id)
            .bind(generation)
            .execute(&mut *tx)
            .await?;
        S::insert_access(&mut *tx, &r.access).await?;
        sqlx::query("UPDATE lk_grants SET last_used_at = ? WHERE id = ? AND last_used_at < ?")
            .bind(ts(r.now))
            .bind(&grant_id)
            .bind(ts(r.now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(RotateOutcome::Rotated)
    }

    async fn revoke_family_once(
        &self,
        family_id: &str,
        r: Revocation,
        events: &[NewEvent],
    ) -> Result<bool, DbError> {
        let mut tx = self.write().await?;
        let n = S::revoke_family(&mut *tx, family_id, r).await?;
        finish_revocation(tx, n.rows_affected(), events).await
    }

    async fn revoke_access_once(
        &self,
        hash: &TokenHash,
        at: Timestamp,
        events: &[NewEvent],
    ) -> Result<bool, DbError> {
        let mut tx = self.write().await?;
        let n = S::revoke_access(&mut *tx, hash, at).await?;
        finish_revocation(tx, n.rows_affected(), events).await
    }

    async fn purge_once(&self, now: Timestamp, n: i64) -> Result<PurgeReport, DbError> {
        let mut tx = self.write().await?;
        let del = |sql: &'static str| sqlx::query(sql).bind(ts(now)).bind(n);
        let challenges = del("DELETE FROM lk_challenges WHERE hash IN (SELECT hash FROM lk_challenges WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
            .execute(&mut *tx).await?.rows_affected();
        let codes = del("DELETE FROM lk_codes WHERE hash IN (SELECT hash FROM lk_codes WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
            .execute(&mut *tx).await?.rows_affected();
        let access_tokens = del("DELETE FROM lk_access_tokens WHERE hash IN (SELECT hash FROM lk_access_tokens WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
            .execute(&mut *tx).await?.rows_affected();
        del("DELETE FROM lk_refresh_tokens WHERE family_id IN (SELECT id FROM lk_families WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
            .execute(&mut *tx).await?;
        let families = del("DELETE FROM lk_families WHERE id IN (SELECT id FROM lk_families WHERE expires_at <= ? ORDER BY expires_at LIMIT ?)")
            .execute(&mut *tx).await?.rows_affected();
        let events = sqlx::query(
            "DELETE FROM lk_events WHERE seq IN (SELECT seq FROM lk_events WHERE seq <= \
             COALESCE((SELECT MIN(seq) FROM lk_event_cursors), 0) ORDER BY seq LIMIT ?)",
        )
        .bind(n)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        tx.commit().await?;
        Ok(PurgeReport {
            challenges,
            codes,
            access_tokens,
            families,
            events,
        })
    }
}

#[async_trait]
impl ClientStore for SqliteStore {
    async fn insert_client(&self, client: &ClientRecord, events: &[NewEvent]) -> StorageResult<()> {
        retrying!(self.insert_client_once(client, events))
    }

    async fn get_client(&self, id: &str) -> StorageResult<Option<ClientRecord>> {
        retrying!(S::client(&self.pool, id))
    }

    async fn update_client(
        &self,
        client: &ClientRecord,
        expected_revision: u64,
        events: &[NewEvent],
    ) -> StorageResult<()> {
        retrying!(self.update_client_once(client, expected_revision, events))
    }

    async fn delete_client(
        &self,
        id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        retrying!(self.delete_client_once(id, revocation, events))
    }

    async fn list_clients(&self, owner: &str) -> StorageResult<Vec<ClientRecord>> {
        retrying!(S::clients_of(&self.pool, owner))
    }
}

#[async_trait]
impl ChallengeStore for SqliteStore {
    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> StorageResult<()> {
        retrying!(S::insert_challenge(&self.pool, challenge))
    }

    async fn get_challenge(&self, hash: &TokenHash) -> StorageResult<Option<ChallengeRecord>> {
        retrying!(S::challenge(&self.pool, hash))
    }

    async fn take_challenge(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StorageResult<Option<ChallengeRecord>> {
        retrying!(async {
            let row = sqlx::query(concat!(
                "DELETE FROM lk_challenges WHERE hash = ? AND expires_at > ? RETURNING ",
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

#[async_trait]
impl GrantStore for SqliteStore {
    async fn approve(&self, approval: &Approval) -> StorageResult<ApproveOutcome> {
        retrying!(self.approve_once(approval))
    }

    async fn get_grant(
        &self,
        subject: &str,
        client_id: &str,
    ) -> StorageResult<Option<GrantRecord>> {
        retrying!(S::grant(&self.pool, subject, client_id))
    }

    async fn get_grant_by_id(&self, id: &str) -> StorageResult<Option<GrantRecord>> {
        retrying!(S::grant_by_id(&self.pool, id))
    }

    async fn list_grants(&self, subject: &str) -> StorageResult<Vec<GrantRecord>> {
        retrying!(S::grants_of(&self.pool, subject))
    }

    async fn revoke_grant(
        &self,
        grant_id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        retrying!(self.revoke_grants_once(false, grant_id, revocation, events)).map(|n| n > 0)
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<u64> {
        retrying!(self.revoke_grants_once(true, subject, revocation, events))
    }
}

#[async_trait]
impl CodeStore for SqliteStore {
    async fn get_code(&self, hash: &TokenHash) -> StorageResult<Option<CodeRecord>> {
        retrying!(S::code(&self.pool, hash))
    }

    async fn record_code_failure(
        &self,
        hash: &TokenHash,
        max_failures: u32,
    ) -> StorageResult<CodeFailure> {
        retrying!(async {
            let row = sqlx::query(
                "UPDATE lk_codes SET failed_attempts = failed_attempts + 1, \
                 status = CASE WHEN failed_attempts + 1 >= ?1 THEN ?2 ELSE status END \
                 WHERE hash = ?3 AND status = 'unused' RETURNING failed_attempts, status",
            )
            .bind(i64::from(max_failures))
            .bind(CODE_BURNED)
            .bind(hash.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref()
                .map_or(Ok(CodeFailure::NotFound), code_failure_from)
        })
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

#[async_trait]
impl TokenStore for SqliteStore {
    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> StorageResult<Option<(FamilyRecord, u64)>> {
        retrying!(S::refresh_token(&self.pool, hash))
    }

    async fn get_family(&self, id: &str) -> StorageResult<Option<FamilyRecord>> {
        retrying!(S::family(&self.pool, id))
    }

    async fn rotate_family(
        &self,
        family_id: &str,
        expected_generation: u64,
        rotation: &Rotation,
    ) -> StorageResult<RotateOutcome> {
        retrying!(self.rotate_once(family_id, expected_generation, rotation))
    }

    async fn revoke_family(
        &self,
        family_id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        retrying!(self.revoke_family_once(family_id, revocation, events))
    }

    async fn insert_access_token(&self, token: &AccessTokenRecord) -> StorageResult<()> {
        retrying!(S::insert_access(&self.pool, token))
    }

    async fn find_access_token(&self, hash: &TokenHash) -> StorageResult<Option<AccessTokenView>> {
        retrying!(async {
            let row = sqlx::query(concat!(
                "SELECT ", access_cols!(), ", f.revoked_at IS NOT NULL AS family_revoked ",
                "FROM lk_access_tokens a LEFT JOIN lk_families f ON f.id = a.family_id WHERE a.hash = ?"
            ))
            .bind(hash.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(access_view_from).transpose()
        })
    }

    async fn revoke_access_token(
        &self,
        hash: &TokenHash,
        at: Timestamp,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        retrying!(self.revoke_access_once(hash, at, events))
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn poll_events(&self, consumer: &str, limit: usize) -> StorageResult<Vec<Event>> {
        retrying!(async {
            sqlx::query("INSERT INTO lk_event_cursors (consumer, seq) VALUES (?, 0) ON CONFLICT (consumer) DO NOTHING")
                .bind(consumer)
                .execute(&self.pool)
                .await?;
            S::events_after(&self.pool, consumer, limit).await
        })
    }

    async fn ack_events(&self, consumer: &str, seq: u64) -> StorageResult<()> {
        retrying!(async {
            sqlx::query(
                "INSERT INTO lk_event_cursors (consumer, seq) VALUES (?, ?) \
                 ON CONFLICT (consumer) DO UPDATE SET seq = MAX(seq, excluded.seq)",
            )
            .bind(consumer)
            .bind(int(seq))
            .execute(&self.pool)
            .await?;
            Ok::<_, DbError>(())
        })
    }
}

#[async_trait]
impl PurgeStore for SqliteStore {
    async fn purge_expired(&self, now: Timestamp, limit: usize) -> StorageResult<PurgeReport> {
        retrying!(self.purge_once(now, n64(limit)))
    }
}
