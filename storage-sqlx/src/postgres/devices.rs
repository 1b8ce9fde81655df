//! Device authorizations (RFC 8628) on PostgreSQL.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::DeviceRecord;
use latchkey::storage::{rules, DevicePoll, DeviceStore, StorageResult};
use latchkey::token::TokenHash;

use super::PgStore;
use crate::codec::{bind_device, device_cols, device_from, int, ts, DEVICE_DENIED};
use crate::error::{retrying, DbError};

impl PgStore {
    async fn poll_once(
        &self,
        hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
    ) -> Result<DevicePoll, DbError> {
        let mut tx = crate::tx::begin(&self.pool, None).await?;
        // The row lock orders concurrent polls: each one reads the poll
        // time the previous one wrote, so only the first gets through.
        let row = sqlx::query(concat!(
            "SELECT ",
            device_cols!(),
            " FROM lk_devices WHERE hash = $1 FOR UPDATE"
        ))
        .bind(hash.0.to_vec())
        .fetch_optional(&mut *tx)
        .await?;
        let stored = row.as_ref().map(device_from).transpose()?;
        let (write, outcome) = rules::poll_device(stored.as_ref(), client_id, now);
        if let Some(d) = write {
            sqlx::query("UPDATE lk_devices SET interval_secs = $2, last_poll = $3 WHERE hash = $1")
                .bind(hash.0.to_vec())
                .bind(int(d.interval))
                .bind(d.last_poll.map(ts))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }
}

#[async_trait]
impl DeviceStore for PgStore {
    async fn insert_device(&self, device: &DeviceRecord) -> StorageResult<()> {
        retrying!(async {
            let q = sqlx::query(concat!(
                "INSERT INTO lk_devices (",
                device_cols!(),
                ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ));
            bind_device(q, device)?.execute(&self.pool).await?;
            Ok::<_, DbError>(())
        })
    }

    async fn find_device_by_user_code(
        &self,
        user_code: &TokenHash,
    ) -> StorageResult<Option<DeviceRecord>> {
        retrying!(async {
            let row = sqlx::query(concat!(
                "SELECT ",
                device_cols!(),
                " FROM lk_devices WHERE user_code = $1"
            ))
            .bind(user_code.0.to_vec())
            .fetch_optional(&self.pool)
            .await?;
            row.as_ref().map(device_from).transpose()
        })
    }

    async fn poll_device(
        &self,
        hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
    ) -> StorageResult<DevicePoll> {
        retrying!(self.poll_once(hash, client_id, now))
    }

    async fn deny_device(&self, hash: &TokenHash) -> StorageResult<bool> {
        retrying!(async {
            let n = sqlx::query(
                "UPDATE lk_devices SET status = $2 WHERE hash = $1 AND status = 'pending'",
            )
            .bind(hash.0.to_vec())
            .bind(DEVICE_DENIED)
            .execute(&self.pool)
            .await?
            .rows_affected();
            Ok::<_, DbError>(n == 1)
        })
    }
}
