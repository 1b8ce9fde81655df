//! Registered clients on PostgreSQL.

use async_trait::async_trait;
use latchkey::model::{ClientRecord, NewEvent, Revocation};
use latchkey::storage::{ClientStore, StorageError, StorageResult};
use sqlx::Row;

use super::{append_events, count, PgStore};
use crate::codec::{client_cols, client_from, event_columns, int, json, reason, ts};
use crate::error::{retrying, DbError};

impl PgStore {
    async fn insert_client_once(
        &self,
        c: &ClientRecord,
        events: &[NewEvent],
    ) -> Result<(), DbError> {
        let (at, kind, audit) = event_columns(events)?;
        sqlx::query(concat!(
            "WITH c AS (INSERT INTO lk_clients (id, owner, revision, body) VALUES ($1, $2, $3, $4) RETURNING id), ",
            pg_events!("$5", "$6", "$7", "$8", "EXISTS (SELECT 1 FROM c)"),
            "SELECT count(*) FROM c"
        ))
        .bind(&c.id)
        .bind(&c.owner)
        .bind(int(c.revision))
        .bind(json(c)?)
        .bind(count(events.len()))
        .bind(at)
        .bind(kind)
        .bind(audit)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn update_client_once(
        &self,
        c: &ClientRecord,
        expected: u64,
        events: &[NewEvent],
    ) -> Result<(), DbError> {
        let (at, kind, audit) = event_columns(events)?;
        let row = sqlx::query(concat!(
            "WITH u AS (UPDATE lk_clients SET owner = $2, revision = $3, body = $4 ",
            "WHERE id = $1 AND revision = $8 RETURNING id), ",
            pg_events!("$5", "$6", "$7", "$9", "EXISTS (SELECT 1 FROM u)"),
            "SELECT (SELECT count(*) FROM u) AS updated, ",
            "EXISTS (SELECT 1 FROM lk_clients WHERE id = $1) AS present"
        ))
        .bind(&c.id)
        .bind(&c.owner)
        .bind(int(c.revision))
        .bind(json(c)?)
        .bind(count(events.len()))
        .bind(at)
        .bind(kind)
        .bind(int(expected))
        .bind(audit)
        .fetch_one(&self.pool)
        .await?;
        if row.try_get::<i64, _>("updated")? == 1 {
            Ok(())
        } else if row.try_get::<bool, _>("present")? {
            Err(StorageError::Conflict.into())
        } else {
            Err(StorageError::NotFound.into())
        }
    }

    async fn delete_client_once(
        &self,
        id: &str,
        r: Revocation,
        events: &[NewEvent],
    ) -> Result<bool, DbError> {
        let mut tx = crate::tx::begin(&self.pool, None).await?;
        // Families first, then the client's grants: the same lock order as
        // rotation (family, then grant), so the two cannot deadlock.
        sqlx::query(
            "SELECT id FROM lk_families WHERE client_id = $1 AND revoked_at IS NULL FOR UPDATE",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?;
        let deleted = sqlx::query("DELETE FROM lk_clients WHERE id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if deleted == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM lk_grants WHERE client_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        // A new statement: sees families redeemed while we waited above.
        sqlx::query("UPDATE lk_families SET revoked_at = $2, revoked_reason = $3 WHERE client_id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(ts(r.at))
            .bind(reason(r.reason)?)
            .execute(&mut *tx)
            .await?;
        // Stand-alone (client_credentials) tokens have no family to die with.
        sqlx::query("UPDATE lk_access_tokens SET revoked_at = $2 WHERE client_id = $1 AND family_id IS NULL AND revoked_at IS NULL")
            .bind(id)
            .bind(ts(r.at))
            .execute(&mut *tx)
            .await?;
        append_events(&mut tx, events).await?;
        tx.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl ClientStore for PgStore {
    async fn insert_client(&self, client: &ClientRecord, events: &[NewEvent]) -> StorageResult<()> {
        retrying!(self.insert_client_once(client, events))
    }

    async fn get_client(&self, id: &str) -> StorageResult<Option<ClientRecord>> {
        retrying!(async {
            let row = sqlx::query(concat!(
                "SELECT ",
                client_cols!(),
                " FROM lk_clients WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(client_from).transpose()
        })
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
        retrying!(async {
            let rows = sqlx::query(concat!(
                "SELECT ",
                client_cols!(),
                " FROM lk_clients WHERE owner = $1 ORDER BY id COLLATE \"C\""
            ))
            .bind(owner)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(client_from).collect::<Result<Vec<_>, _>>()
        })
    }

    async fn list_all_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StorageResult<Vec<ClientRecord>> {
        // "" sorts before every id (ids are never empty), so the first page
        // needs no second query shape.
        let after = after.unwrap_or("");
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        retrying!(async {
            let rows = sqlx::query(concat!(
                "SELECT ",
                client_cols!(),
                " FROM lk_clients WHERE id COLLATE \"C\" > $1 ORDER BY id COLLATE \"C\" LIMIT $2"
            ))
            .bind(after)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
            rows.iter().map(client_from).collect::<Result<Vec<_>, _>>()
        })
    }
}
