//! Device authorizations (RFC 8628) on MySQL/MariaDB and SQLite.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::DeviceRecord;
use latchkey::storage::{rules, DevicePoll, DeviceStore, StorageResult};
use latchkey::token::TokenHash;

use super::Affected as _;
use crate::codec::{bind_device, device_cols, device_from, int, ts, DEVICE_DENIED};
use crate::error::{retrying, DbError};

qmark_impl! {
    impl QmarkStore {
        async fn poll_once(
            &self,
            hash: &TokenHash,
            client_id: &str,
            now: Timestamp,
        ) -> Result<DevicePoll, DbError> {
            let mut tx = DB::begin_write(&self.pool).await?;
            // MySQL locks the row; SQLite's write transaction already
            // holds the database. Either way each poll reads the poll time
            // the previous one wrote.
            let sql = format!(
                concat!("SELECT ", device_cols!(), " FROM lk_devices WHERE hash = ?{}"),
                DB::ROW_LOCK
            );
            let row = sqlx::query(&sql)
                .bind(hash.0.to_vec())
                .fetch_optional(&mut *tx)
                .await?;
            let stored = row.as_ref().map(device_from).transpose()?;
            let (write, outcome) = rules::poll_device(stored.as_ref(), client_id, now);
            if let Some(d) = write {
                sqlx::query("UPDATE lk_devices SET interval_secs = ?, last_poll = ? WHERE hash = ?")
                    .bind(int(d.interval))
                    .bind(d.last_poll.map(ts))
                    .bind(hash.0.to_vec())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            Ok(outcome)
        }
    }
}

qmark_impl! {
    #[async_trait]
    impl DeviceStore for QmarkStore {
        async fn insert_device(&self, device: &DeviceRecord) -> StorageResult<()> {
            retrying!(async {
                let q = sqlx::query(concat!(
                    "INSERT INTO lk_devices (",
                    device_cols!(),
                    ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
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
                let row = sqlx::query(concat!("SELECT ", device_cols!(), " FROM lk_devices WHERE user_code = ?"))
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
                let n = sqlx::query("UPDATE lk_devices SET status = ? WHERE hash = ? AND status = 'pending'")
                    .bind(DEVICE_DENIED)
                    .bind(hash.0.to_vec())
                    .execute(&self.pool)
                    .await?
                    .affected();
                Ok::<_, DbError>(n == 1)
            })
        }
    }
}
