//! Registered clients.

use async_trait::async_trait;
use latchkey::model::{ClientRecord, NewEvent, Revocation};
use latchkey::storage::{ClientStore, StorageError, StorageResult};

use super::grants::Cascade;
use super::Affected as _;
use crate::codec::{client_cols, client_from, int, json};
use crate::error::{retrying, DbError};

qmark_impl! {
    #[async_trait]
    impl ClientStore for QmarkStore {
        async fn insert_client(&self, client: &ClientRecord, events: &[NewEvent]) -> StorageResult<()> {
            retrying!(async {
                let mut tx = DB::begin_write(&self.pool).await?;
                sqlx::query("INSERT INTO lk_clients (id, owner, revision, body) VALUES (?, ?, ?, ?)")
                    .bind(&client.id)
                    .bind(&client.owner)
                    .bind(int(client.revision))
                    .bind(json(client)?)
                    .execute(&mut *tx)
                    .await?;
                Self::append(&mut tx, events).await?;
                tx.commit().await?;
                Ok::<_, DbError>(())
            })
        }

        async fn get_client(&self, id: &str) -> StorageResult<Option<ClientRecord>> {
            retrying!(async {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    client_cols!(),
                    " FROM lk_clients WHERE id = ?"
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
            retrying!(async {
                let mut tx = DB::begin_write(&self.pool).await?;
                let n = sqlx::query(
                    "UPDATE lk_clients SET owner = ?, revision = ?, body = ? WHERE id = ? AND revision = ?",
                )
                .bind(&client.owner)
                .bind(int(client.revision))
                .bind(json(client)?)
                .bind(&client.id)
                .bind(int(expected_revision))
                .execute(&mut *tx)
                .await?
                .affected();
                if n == 0 {
                    // Not applied: tell a stale revision from a missing client.
                    let present = sqlx::query("SELECT id FROM lk_clients WHERE id = ?")
                        .bind(&client.id)
                        .fetch_optional(&mut *tx)
                        .await?
                        .is_some();
                    tx.rollback().await?;
                    return Err(if present {
                        StorageError::Conflict
                    } else {
                        StorageError::NotFound
                    }
                    .into());
                }
                Self::append(&mut tx, events).await?;
                tx.commit().await?;
                Ok::<_, DbError>(())
            })
        }

        async fn delete_client(
            &self,
            id: &str,
            revocation: Revocation,
            events: &[NewEvent],
        ) -> StorageResult<bool> {
            retrying!(self.cascade(Cascade::Client, id, revocation, events)).map(|n| n > 0)
        }

        async fn list_clients(&self, owner: &str) -> StorageResult<Vec<ClientRecord>> {
            retrying!(async {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    client_cols!(),
                    " FROM lk_clients WHERE owner = ? ORDER BY id"
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
            // "" sorts before every id (ids are never empty), so the first
            // page needs no second query shape.
            let after = after.unwrap_or("");
            let limit = i64::try_from(limit).unwrap_or(i64::MAX);
            retrying!(async {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    client_cols!(),
                    " FROM lk_clients WHERE id > ? ORDER BY id LIMIT ?"
                ))
                .bind(after)
                .bind(limit)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(client_from).collect::<Result<Vec<_>, _>>()
            })
        }
    }
}
