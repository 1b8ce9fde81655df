//! Statements written once for the `?`-placeholder dialects (MySQL/MariaDB
//! and SQLite).
//!
//! Only statements whose SQL and binds are the same on both live here:
//! reads, plain inserts, and the compare-and-swap updates of a transaction.
//! Opening transactions (`BEGIN IMMEDIATE` on SQLite, row locks on MySQL),
//! rolling back, upserts, the outbox counter and the purge stay in each
//! dialect's `ops.rs`, because that is where the two differ.

use std::marker::PhantomData;

use latchkey::clock::Timestamp;
use latchkey::model::{
    AccessTokenRecord, ChallengeRecord, ClientRecord, CodeRecord, Event, FamilyRecord, GrantRecord,
    NewEvent, Revocation,
};
use latchkey::storage::{rules, Approval, ApproveOutcome};
use latchkey::token::TokenHash;
use sqlx::{Database, Encode, Executor, IntoArguments, Type};

use crate::codec::{
    access_fields, bind_access, bind_challenge, bind_code, bind_family, bind_grant, challenge_cols,
    challenge_from, client_cols, client_from, code_cols, code_from, event_cols, event_from,
    family_cols, family_fields, family_from, grant_cols, grant_from, int, json, reason,
    refresh_from, scopes, ts, Cols,
};
use crate::error::DbError;

/// The shared statements for dialect `DB`; the bounds below hold for
/// `MySql` and `Sqlite` and are spelled out once here.
pub(crate) struct Qmark<DB>(PhantomData<DB>);

/// A count as a bound value.
pub(crate) fn n64(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl<DB> Qmark<DB>
where
    DB: Database,
    DB::Row: Cols,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> &'q String: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Type<DB>,
    for<'q> Vec<u8>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB> + Type<DB>,
    for<'q> Option<Vec<u8>>: Encode<'q, DB> + Type<DB>,
{
    pub(crate) async fn client<'e>(
        ex: impl Executor<'e, Database = DB>,
        id: &str,
    ) -> Result<Option<ClientRecord>, DbError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            client_cols!(),
            " FROM lk_clients WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(ex)
        .await?;
        row.as_ref().map(client_from).transpose()
    }

    pub(crate) async fn clients_of<'e>(
        ex: impl Executor<'e, Database = DB>,
        owner: &str,
    ) -> Result<Vec<ClientRecord>, DbError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            client_cols!(),
            " FROM lk_clients WHERE owner = ? ORDER BY id"
        ))
        .bind(owner)
        .fetch_all(ex)
        .await?;
        rows.iter().map(client_from).collect()
    }

    pub(crate) async fn insert_client<'e>(
        ex: impl Executor<'e, Database = DB>,
        c: &ClientRecord,
    ) -> Result<(), DbError> {
        sqlx::query("INSERT INTO lk_clients (id, owner, revision, body) VALUES (?, ?, ?, ?)")
            .bind(&c.id)
            .bind(&c.owner)
            .bind(int(c.revision))
            .bind(json(c)?)
            .execute(ex)
            .await?;
        Ok(())
    }

    pub(crate) async fn insert_challenge<'e>(
        ex: impl Executor<'e, Database = DB>,
        c: &ChallengeRecord,
    ) -> Result<(), DbError> {
        let q = sqlx::query(concat!(
            "INSERT INTO lk_challenges (",
            challenge_cols!(),
            ") VALUES (?, ?, ?, ?, ?)"
        ));
        bind_challenge(q, c)?.execute(ex).await?;
        Ok(())
    }

    pub(crate) async fn challenge<'e>(
        ex: impl Executor<'e, Database = DB>,
        hash: &TokenHash,
    ) -> Result<Option<ChallengeRecord>, DbError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            challenge_cols!(),
            " FROM lk_challenges WHERE hash = ?"
        ))
        .bind(hash.0.to_vec())
        .fetch_optional(ex)
        .await?;
        row.as_ref().map(challenge_from).transpose()
    }

    pub(crate) async fn grant<'e>(
        ex: impl Executor<'e, Database = DB>,
        subject: &str,
        client_id: &str,
    ) -> Result<Option<GrantRecord>, DbError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            grant_cols!(),
            " FROM lk_grants WHERE subject = ? AND client_id = ?"
        ))
        .bind(subject)
        .bind(client_id)
        .fetch_optional(ex)
        .await?;
        row.as_ref().map(grant_from).transpose()
    }

    pub(crate) async fn grant_by_id<'e>(
        ex: impl Executor<'e, Database = DB>,
        id: &str,
    ) -> Result<Option<GrantRecord>, DbError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            grant_cols!(),
            " FROM lk_grants WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(ex)
        .await?;
        row.as_ref().map(grant_from).transpose()
    }

    pub(crate) async fn grants_of<'e>(
        ex: impl Executor<'e, Database = DB>,
        subject: &str,
    ) -> Result<Vec<GrantRecord>, DbError> {
        let rows = sqlx::query(concat!(
            "SELECT ",
            grant_cols!(),
            " FROM lk_grants WHERE subject = ? ORDER BY client_id"
        ))
        .bind(subject)
        .fetch_all(ex)
        .await?;
        rows.iter().map(grant_from).collect()
    }

    /// Replaces the grant if it is still at `revision`; the caller decides
    /// on the matched-row count (0 or 1).
    pub(crate) async fn update_grant<'e>(
        ex: impl Executor<'e, Database = DB>,
        g: &GrantRecord,
        revision: u64,
    ) -> Result<DB::QueryResult, DbError> {
        Ok(sqlx::query(
            "UPDATE lk_grants SET scopes = ?, resources = ?, remembered_scopes = ?, created_at = ?, \
             last_used_at = ?, revision = ? WHERE id = ? AND subject = ? AND client_id = ? AND revision = ?",
        )
        .bind(scopes(&g.scopes))
        .bind(json(&g.resources)?)
        .bind(g.remembered_scopes.as_ref().map(scopes))
        .bind(ts(g.created_at))
        .bind(ts(g.last_used_at))
        .bind(int(g.revision))
        .bind(&g.id)
        .bind(&g.subject)
        .bind(&g.client_id)
        .bind(int(revision))
        .execute(ex)
        .await?)
    }

    /// The reads and writes of an approval inside the caller's write
    /// transaction; the caller appends the returned events and commits, or
    /// rolls back on anything but [`ApproveOutcome::Approved`].
    /// `share_lock` and `row_lock` are the dialect's locking clauses for
    /// the client and grant reads (empty on SQLite, whose `BEGIN IMMEDIATE`
    /// already excludes every other writer); `insert_if_absent` turns the
    /// candidate grant's `INSERT` into a no-op when the pair exists.
    pub(crate) async fn approve_in(
        conn: &mut DB::Connection,
        a: &Approval,
        share_lock: &str,
        row_lock: &str,
        insert_if_absent: &str,
    ) -> Result<(ApproveOutcome, Vec<NewEvent>), DbError> {
        let code = &a.code;
        let client = sqlx::query(&format!(
            "SELECT id FROM lk_clients WHERE id = ?{share_lock}"
        ))
        .bind(&code.client_id)
        .fetch_optional(&mut *conn)
        .await?;
        if client.is_none() {
            return Ok((ApproveOutcome::ClientGone, vec![]));
        }
        if let Some(h) = &a.challenge {
            // RETURNING (MariaDB 10.5+, SQLite 3.35+) says whether this
            // statement took it, without a dialect's affected-rows type.
            let taken = sqlx::query(
                "DELETE FROM lk_challenges WHERE hash = ? AND expires_at > ? RETURNING hash",
            )
            .bind(h.0.to_vec())
            .bind(ts(code.issued_at))
            .fetch_optional(&mut *conn)
            .await?;
            if taken.is_none() {
                return Ok((ApproveOutcome::ChallengeGone, vec![]));
            }
        }
        let fresh = rules::merge_approval(None, a);
        let insert = format!(
            "INSERT INTO lk_grants ({}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?){insert_if_absent}",
            grant_cols!()
        );
        bind_grant(sqlx::query(&insert), &fresh.grant)?
            .execute(&mut *conn)
            .await?;
        let row = sqlx::query(&format!(
            "SELECT {} FROM lk_grants WHERE subject = ? AND client_id = ?{row_lock}",
            grant_cols!()
        ))
        .bind(&code.subject)
        .bind(&code.client_id)
        .fetch_one(&mut *conn)
        .await?;
        let existing = grant_from(&row)?;
        // Ids are random: finding our candidate's id means our insert made it.
        let w = if existing.id == fresh.grant.id {
            fresh
        } else {
            let w = rules::merge_approval(Some(&existing), a);
            Self::update_grant(&mut *conn, &w.grant, existing.revision).await?;
            w
        };
        Self::insert_code(&mut *conn, &w.code).await?;
        Ok((
            ApproveOutcome::Approved {
                grant_id: w.grant.id,
            },
            w.events,
        ))
    }

    pub(crate) async fn insert_code<'e>(
        ex: impl Executor<'e, Database = DB>,
        c: &CodeRecord,
    ) -> Result<(), DbError> {
        let q = sqlx::query(concat!(
            "INSERT INTO lk_codes (",
            code_cols!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ));
        bind_code(q, c)?.execute(ex).await?;
        Ok(())
    }

    pub(crate) async fn code<'e>(
        ex: impl Executor<'e, Database = DB>,
        hash: &TokenHash,
    ) -> Result<Option<CodeRecord>, DbError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            code_cols!(),
            " FROM lk_codes WHERE hash = ?"
        ))
        .bind(hash.0.to_vec())
        .fetch_optional(ex)
        .await?;
        row.as_ref().map(code_from).transpose()
    }

    /// Inserts a new family and its first refresh token.
    pub(crate) async fn insert_family(
        conn: &mut DB::Connection,
        f: &FamilyRecord,
    ) -> Result<(), DbError> {
        let q = sqlx::query(concat!(
            "INSERT INTO lk_families (",
            family_fields!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ));
        bind_family(q, f)?.execute(&mut *conn).await?;
        Self::insert_refresh(conn, &f.current.hash, &f.id, f.generation).await
    }

    pub(crate) async fn insert_refresh<'e>(
        ex: impl Executor<'e, Database = DB>,
        hash: &TokenHash,
        family_id: &str,
        generation: u64,
    ) -> Result<(), DbError> {
        sqlx::query("INSERT INTO lk_refresh_tokens (hash, family_id, generation) VALUES (?, ?, ?)")
            .bind(hash.0.to_vec())
            .bind(family_id)
            .bind(int(generation))
            .execute(ex)
            .await?;
        Ok(())
    }

    pub(crate) async fn refresh_token<'e>(
        ex: impl Executor<'e, Database = DB>,
        hash: &TokenHash,
    ) -> Result<Option<(FamilyRecord, u64)>, DbError> {
        let row = sqlx::query(concat!(
            "SELECT r.generation AS token_generation, ",
            family_cols!(),
            " FROM lk_refresh_tokens r JOIN lk_families f ON f.id = r.family_id WHERE r.hash = ?"
        ))
        .bind(hash.0.to_vec())
        .fetch_optional(ex)
        .await?;
        row.as_ref().map(refresh_from).transpose()
    }

    pub(crate) async fn family<'e>(
        ex: impl Executor<'e, Database = DB>,
        id: &str,
    ) -> Result<Option<FamilyRecord>, DbError> {
        let row = sqlx::query(concat!(
            "SELECT ",
            family_cols!(),
            " FROM lk_families f WHERE f.id = ?"
        ))
        .bind(id)
        .fetch_optional(ex)
        .await?;
        row.as_ref().map(family_from).transpose()
    }

    /// Revokes one family unless it already is.
    pub(crate) async fn revoke_family<'e>(
        ex: impl Executor<'e, Database = DB>,
        family_id: &str,
        r: Revocation,
    ) -> Result<DB::QueryResult, DbError> {
        Ok(sqlx::query(
            "UPDATE lk_families SET revoked_at = ?, revoked_reason = ? WHERE id = ? AND revoked_at IS NULL",
        )
        .bind(ts(r.at))
        .bind(reason(r.reason)?)
        .bind(family_id)
        .execute(ex)
        .await?)
    }

    /// Revokes one access token unless it already is.
    pub(crate) async fn revoke_access<'e>(
        ex: impl Executor<'e, Database = DB>,
        hash: &TokenHash,
        at: Timestamp,
    ) -> Result<DB::QueryResult, DbError> {
        Ok(sqlx::query(
            "UPDATE lk_access_tokens SET revoked_at = ? WHERE hash = ? AND revoked_at IS NULL",
        )
        .bind(ts(at))
        .bind(hash.0.to_vec())
        .execute(ex)
        .await?)
    }

    pub(crate) async fn insert_access<'e>(
        ex: impl Executor<'e, Database = DB>,
        a: &AccessTokenRecord,
    ) -> Result<(), DbError> {
        let q = sqlx::query(concat!(
            "INSERT INTO lk_access_tokens (",
            access_fields!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        ));
        bind_access(q, a)?.execute(ex).await?;
        Ok(())
    }

    /// Up to `limit` events after `consumer`'s cursor, in order.
    pub(crate) async fn events_after<'e>(
        ex: impl Executor<'e, Database = DB>,
        consumer: &str,
        limit: usize,
    ) -> Result<Vec<Event>, DbError> {
        let rows = sqlx::query(concat!(
            "SELECT ", event_cols!(), " FROM lk_events WHERE seq > ",
            "COALESCE((SELECT seq FROM lk_event_cursors WHERE consumer = ?), 0) ORDER BY seq LIMIT ?"
        ))
        .bind(consumer)
        .bind(n64(limit))
        .fetch_all(ex)
        .await?;
        rows.iter().map(event_from).collect()
    }
}
