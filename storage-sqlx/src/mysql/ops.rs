//! Every storage trait on MySQL/MariaDB.

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
use sqlx::{MySql, Row, Transaction};

use super::MySqlStore;
use crate::codec::{
    access_cols, access_from, challenge_cols, challenge_from, code_failure_from, event_columns,
    int, json, not_redeemed_from, reason, ts, Cols, CODE_BURNED,
};
use crate::error::{corrupt, retrying, DbError};
use crate::qmark::{n64, Qmark};

type Tx = Transaction<'static, MySql>;

/// The statements MySQL shares with SQLite.
type S = Qmark<MySql>;

/// `n` comma-separated copies of `item`.
fn repeat(item: &str, n: usize) -> String {
    vec![item; n].join(", ")
}

/// Appends events as the last writes of a transaction. The counter row's
/// exclusive lock is held until commit, so `seq` follows commit order;
/// `LAST_INSERT_ID(expr)` hands the new value back in the same round trip.
async fn append(tx: &mut Tx, events: &[NewEvent]) -> Result<(), DbError> {
    if events.is_empty() {
        return Ok(());
    }
    let last = sqlx::query(
        "UPDATE lk_event_counter SET last_seq = LAST_INSERT_ID(last_seq + ?) WHERE id = 1",
    )
    .bind(n64(events.len()))
    .execute(&mut **tx)
    .await?
    .last_insert_id();
    let last = i64::try_from(last).map_err(|_| corrupt("event counter overflow"))?;
    let first = last - n64(events.len()) + 1;
    let (at, kind) = event_columns(events)?;
    let sql = format!(
        "INSERT INTO lk_events (seq, at, kind) VALUES {}",
        repeat("(?, ?, ?)", events.len())
    );
    let mut q = sqlx::query(&sql);
    for (i, (at, kind)) in at.into_iter().zip(kind).enumerate() {
        q = q.bind(first + n64(i)).bind(at).bind(kind);
    }
    q.execute(&mut **tx).await?;
    Ok(())
}

/// Ends a single-row revocation: appends and commits when the row changed,
/// rolls back when it did not.
async fn finish_revocation(mut tx: Tx, n: u64, events: &[NewEvent]) -> Result<bool, DbError> {
    if n == 0 {
        tx.rollback().await?;
        return Ok(false);
    }
    append(&mut tx, events).await?;
    tx.commit().await?;
    Ok(true)
}

impl MySqlStore {
    async fn insert_client_once(
        &self,
        c: &ClientRecord,
        events: &[NewEvent],
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
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
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE lk_clients SET owner = ?, revision = ?, body = ? WHERE id = ? AND revision = ?",
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
            let present = sqlx::query("SELECT id FROM lk_clients WHERE id = ?")
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

    /// Deletes grants (of a client, a subject, or one id) and revokes their
    /// families. Families are locked first: rotation locks family then
    /// grant, so taking them in the same order cannot deadlock with it.
    async fn cascade_once(
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
        let mut tx = self.pool.begin().await?;
        sqlx::query(lock).bind(key).fetch_all(&mut *tx).await?;
        let n = sqlx::query(delete)
            .bind(key)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 0 && kind != Cascade::Subject {
            tx.rollback().await?;
            return Ok(0);
        }
        if kind == Cascade::Client {
            sqlx::query("DELETE FROM lk_grants WHERE client_id = ?")
                .bind(key)
                .execute(&mut *tx)
                .await?;
            // Stand-alone (client_credentials) tokens have no family to die with.
            sqlx::query("UPDATE lk_access_tokens SET revoked_at = ? WHERE client_id = ? AND family_id IS NULL AND revoked_at IS NULL")
                .bind(ts(r.at))
                .bind(key)
                .execute(&mut *tx)
                .await?;
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

    async fn approve_once(&self, a: &Approval) -> Result<ApproveOutcome, DbError> {
        let mut tx = self.pool.begin().await?;
        let (outcome, events) = S::approve_in(
            &mut tx,
            a,
            " LOCK IN SHARE MODE",
            " FOR UPDATE",
            " ON DUPLICATE KEY UPDATE id = id",
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

    async fn code_failure_once(&self, hash: &TokenHash, max: u32) -> Result<CodeFailure, DbError> {
        let mut tx = self.pool.begin().await?;
        // `status` is assigned first: MySQL evaluates SET left to right with
        // updated values, so it must read the old `failed_attempts`.
        let n = sqlx::query(
            "UPDATE lk_codes SET status = CASE WHEN failed_attempts + 1 >= ? THEN ? ELSE status END, \
             failed_attempts = failed_attempts + 1 WHERE hash = ? AND status = 'unused'",
        )
        .bind(i64::from(max))
        .bind(CODE_BURNED)
        .bind(hash.0.to_vec())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            tx.rollback().await?;
            return Ok(CodeFailure::NotFound);
        }
        let row = sqlx::query("SELECT failed_attempts, status FROM lk_codes WHERE hash = ?")
            .bind(hash.0.to_vec())
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;
        code_failure_from(&row)
    }

    async fn redeem_once(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        iss: &Issuance,
    ) -> Result<RedeemOutcome, DbError> {
        let mut tx = self.pool.begin().await?;
        // The code's row lock decides between concurrent exchanges.
        let n = sqlx::query(
            "UPDATE lk_codes SET status = 'redeemed', family_id = ? WHERE hash = ? AND status = 'unused' AND expires_at > ?",
        )
        .bind(&iss.family.id)
        .bind(hash.0.to_vec())
        .bind(ts(now))
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Touching the grant also proves it still exists and locks it until
        // commit: a concurrent revocation waits and then revokes our family.
        let touched = if n == 1 {
            sqlx::query(
                "UPDATE lk_grants SET last_used_at = GREATEST(last_used_at, ?) \
                 WHERE id = (SELECT grant_id FROM lk_codes WHERE hash = ?)",
            )
            .bind(ts(now))
            .bind(hash.0.to_vec())
            .execute(&mut *tx)
            .await?
            .rows_affected()
        } else {
            0
        };
        if n == 1 && touched == 0 {
            // The grant was revoked: the code is void.
            tx.rollback().await?;
            return Ok(RedeemOutcome::Invalid);
        }
        if n == 0 {
            // READ COMMITTED: this read sees the winner's commit.
            let row = sqlx::query("SELECT status, family_id FROM lk_codes WHERE hash = ?")
                .bind(hash.0.to_vec())
                .fetch_optional(&mut *tx)
                .await?;
            tx.rollback().await?;
            return not_redeemed_from(row.as_ref());
        }
        S::insert_family(&mut tx, &iss.family).await?;
        S::insert_access(&mut *tx, &iss.access).await?;
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
        let mut tx = self.pool.begin().await?;
        let n = sqlx::query(
            "UPDATE lk_families SET generation = generation + 1, current_hash = ?, current_issued_at = ?, \
             current_expires_at = ?, previous_hash = ?, previous_rotated_at = ?, previous_sealed = ?, expires_at = ? \
             WHERE id = ? AND generation = ? AND revoked_at IS NULL",
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
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 0 {
            let revoked: Option<Option<i64>> =
                sqlx::query_scalar("SELECT revoked_at FROM lk_families WHERE id = ?")
                    .bind(family_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.rollback().await?;
            return Ok(match revoked {
                None => RotateOutcome::NotFound,
                Some(Some(_)) => RotateOutcome::Revoked,
                Some(None) => RotateOutcome::Stale,
            });
        }
        S::insert_refresh(
            &mut *tx,
            &r.current.hash,
            family_id,
            expected.saturating_add(1),
        )
        .await?;
        S::insert_access(&mut *tx, &r.access).await?;
        sqlx::query(
            "UPDATE lk_grants SET last_used_at = GREATEST(last_used_at, ?) \
             WHERE id = (SELECT grant_id FROM lk_families WHERE id = ?)",
        )
        .bind(ts(r.now))
        .bind(family_id)
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
        let mut tx = self.pool.begin().await?;
        let n = S::revoke_family(&mut *tx, family_id, r).await?;
        finish_revocation(tx, n.rows_affected(), events).await
    }

    async fn revoke_access_once(
        &self,
        hash: &TokenHash,
        at: Timestamp,
        events: &[NewEvent],
    ) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let n = S::revoke_access(&mut *tx, hash, at).await?;
        finish_revocation(tx, n.rows_affected(), events).await
    }

    async fn purge_once(&self, now: Timestamp, n: i64) -> Result<PurgeReport, DbError> {
        const MAX_FAMILY_BATCH: i64 = 10_000;
        // Single-table DELETE ... ORDER BY ... LIMIT walks the expiry index
        // and stops after `n` rows.
        let del = |sql: &'static str| sqlx::query(sql).bind(ts(now)).bind(n);
        let challenges =
            del("DELETE FROM lk_challenges WHERE expires_at <= ? ORDER BY expires_at LIMIT ?")
                .execute(&self.pool)
                .await?
                .rows_affected();
        let codes = del("DELETE FROM lk_codes WHERE expires_at <= ? ORDER BY expires_at LIMIT ?")
            .execute(&self.pool)
            .await?
            .rows_affected();
        let access_tokens =
            del("DELETE FROM lk_access_tokens WHERE expires_at <= ? ORDER BY expires_at LIMIT ?")
                .execute(&self.pool)
                .await?
                .rows_affected();
        let mut tx = self.pool.begin().await?;
        // The ids go into `IN (?, …)` lists; MySQL allows 65,535 placeholders
        // a statement, so a family batch is capped ("up to limit" allows it;
        // callers drain until a call reports nothing).
        let ids = sqlx::query(
            "SELECT id FROM lk_families WHERE expires_at <= ? ORDER BY expires_at LIMIT ? FOR UPDATE SKIP LOCKED",
        )
        .bind(ts(now))
        .bind(n.min(MAX_FAMILY_BATCH))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| Cols::text(r, "id"))
        .collect::<Result<Vec<String>, _>>()?;
        let mut families = 0;
        if !ids.is_empty() {
            let list = repeat("?", ids.len());
            let sql = format!("DELETE FROM lk_refresh_tokens WHERE family_id IN ({list})");
            let mut q = sqlx::query(&sql);
            for id in &ids {
                q = q.bind(id);
            }
            q.execute(&mut *tx).await?;
            let sql = format!("DELETE FROM lk_families WHERE id IN ({list})");
            let mut q = sqlx::query(&sql);
            for id in &ids {
                q = q.bind(id);
            }
            families = q.execute(&mut *tx).await?.rows_affected();
        }
        tx.commit().await?;
        // The floor is read inside the DELETE: read separately, a consumer
        // polling for the first time in between (cursor 0) would lose the
        // events between what it read and the stale floor.
        let events = sqlx::query(
            "DELETE FROM lk_events WHERE seq <= (SELECT COALESCE(MIN(seq), 0) FROM lk_event_cursors) \
             ORDER BY seq LIMIT ?",
        )
        .bind(n)
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(PurgeReport {
            challenges,
            codes,
            access_tokens,
            families,
            events,
        })
    }
}

/// What a cascading revocation starts from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Cascade {
    Client,
    Grant,
    Subject,
}

#[async_trait]
impl ClientStore for MySqlStore {
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
        retrying!(self.cascade_once(Cascade::Client, id, revocation, events)).map(|n| n > 0)
    }

    async fn list_clients(&self, owner: &str) -> StorageResult<Vec<ClientRecord>> {
        retrying!(S::clients_of(&self.pool, owner))
    }
}

#[async_trait]
impl ChallengeStore for MySqlStore {
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
                return Ok::<_, DbError>(None);
            };
            let n = sqlx::query("DELETE FROM lk_challenges WHERE hash = ? AND expires_at > ?")
                .bind(hash.0.to_vec())
                .bind(ts(now))
                .execute(&self.pool)
                .await?
                .rows_affected();
            if n == 1 {
                Ok(Some(challenge_from(&row)?))
            } else {
                Ok(None)
            }
        })
    }
}

#[async_trait]
impl GrantStore for MySqlStore {
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
        retrying!(self.cascade_once(Cascade::Grant, grant_id, revocation, events)).map(|n| n > 0)
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<u64> {
        retrying!(self.cascade_once(Cascade::Subject, subject, revocation, events))
    }
}

#[async_trait]
impl CodeStore for MySqlStore {
    async fn get_code(&self, hash: &TokenHash) -> StorageResult<Option<CodeRecord>> {
        retrying!(S::code(&self.pool, hash))
    }

    async fn record_code_failure(
        &self,
        hash: &TokenHash,
        max_failures: u32,
    ) -> StorageResult<CodeFailure> {
        retrying!(self.code_failure_once(hash, max_failures))
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
impl TokenStore for MySqlStore {
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
                "SELECT ", access_cols!(), ", f.revoked_at AS family_revoked_at ",
                "FROM lk_access_tokens a LEFT JOIN lk_families f ON f.id = a.family_id WHERE a.hash = ?"
            ))
            .bind(hash.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
            match row {
                None => Ok::<_, DbError>(None),
                Some(r) => Ok(Some(AccessTokenView {
                    token: access_from(&r)?,
                    family_revoked: r.try_get::<Option<i64>, _>("family_revoked_at")?.is_some(),
                })),
            }
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
impl EventStore for MySqlStore {
    async fn poll_events(&self, consumer: &str, limit: usize) -> StorageResult<Vec<Event>> {
        retrying!(async {
            let mut conn = self.pool.acquire().await?;
            sqlx::query("INSERT INTO lk_event_cursors (consumer, seq) VALUES (?, 0) ON DUPLICATE KEY UPDATE seq = seq")
                .bind(consumer)
                .execute(&mut *conn)
                .await?;
            S::events_after(&mut *conn, consumer, limit).await
        })
    }

    async fn ack_events(&self, consumer: &str, seq: u64) -> StorageResult<()> {
        retrying!(async {
            sqlx::query(
                "INSERT INTO lk_event_cursors (consumer, seq) VALUES (?, ?) \
                 ON DUPLICATE KEY UPDATE seq = GREATEST(seq, VALUES(seq))",
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
impl PurgeStore for MySqlStore {
    async fn purge_expired(&self, now: Timestamp, limit: usize) -> StorageResult<PurgeReport> {
        retrying!(self.purge_once(now, n64(limit)))
    }
}
