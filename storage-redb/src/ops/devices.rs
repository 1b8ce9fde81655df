//! [`DeviceStore`] on redb: each call is one write transaction, so a poll's
//! read, `slow_down` decision and write cannot interleave with another's.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::{DeviceRecord, DeviceStatus};
use latchkey::storage::{rules, DevicePoll, DeviceStore, StorageError, StorageResult};
use latchkey::token::TokenHash;

use crate::read::by_hash;
use crate::tables::{DEVICES, DEVICE_BY_USER_CODE};
use crate::RedbStore;

#[async_trait]
impl DeviceStore for RedbStore {
    async fn insert_device(&self, device: &DeviceRecord) -> StorageResult<()> {
        let device = device.clone();
        self.write("insert_device", move |tx| {
            if tx.device(&device.hash)?.is_some() || tx.user_code_taken(&device.user_code)? {
                return Err(StorageError::Conflict.into());
            }
            tx.insert_device(&device)
        })
        .await
    }

    async fn find_device_by_user_code(
        &self,
        user_code: &TokenHash,
    ) -> StorageResult<Option<DeviceRecord>> {
        self.read(|r| {
            let Some(hash) = r.open_table(DEVICE_BY_USER_CODE)?.get(&user_code.0)? else {
                return Ok(None);
            };
            by_hash(&r.open_table(DEVICES)?, hash.value())
        })
    }

    async fn poll_device(
        &self,
        hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
    ) -> StorageResult<DevicePoll> {
        let (hash, client_id) = (*hash, client_id.to_owned());
        self.write("poll_device", move |tx| {
            let (write, outcome) = rules::poll_device(tx.device(&hash)?.as_ref(), &client_id, now);
            if let Some(d) = write {
                tx.update_device(&d)?;
            }
            Ok(outcome)
        })
        .await
    }

    async fn deny_device(&self, hash: &TokenHash) -> StorageResult<bool> {
        let hash = *hash;
        self.write("deny_device", move |tx| match tx.device(&hash)? {
            Some(mut d) if d.status == DeviceStatus::Pending => {
                d.status = DeviceStatus::Denied;
                tx.update_device(&d)?;
                Ok(true)
            }
            _ => Ok(false),
        })
        .await
    }
}
