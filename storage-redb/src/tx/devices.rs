//! Device authorizations with their user-code and expiry indexes.

use latchkey::model::DeviceRecord;
use latchkey::token::TokenHash;
use redb::ReadableTable as _;

use super::Tx;
use crate::codec::{encode, expiry_key};
use crate::error::Failure;
use crate::read::by_hash;

impl Tx<'_> {
    /// The device authorization with device-code hash `hash`.
    pub(crate) fn device(&mut self, hash: &TokenHash) -> Result<Option<DeviceRecord>, Failure> {
        by_hash(&*self.t.devices()?, &hash.0)
    }

    /// Whether a device authorization holds user code `user_code`.
    pub(crate) fn user_code_taken(&mut self, user_code: &TokenHash) -> Result<bool, Failure> {
        Ok(self.t.device_by_user_code()?.get(&user_code.0)?.is_some())
    }

    /// Stores a new device authorization with its index entries.
    pub(crate) fn insert_device(&mut self, d: &DeviceRecord) -> Result<(), Failure> {
        self.touch();
        self.t.devices()?.insert(&d.hash.0, encode(d)?.as_slice())?;
        self.t
            .device_by_user_code()?
            .insert(&d.user_code.0, &d.hash.0)?;
        self.t
            .device_expiry()?
            .insert(expiry_key(d.expires_at, &d.hash.0).as_slice(), ())?;
        Ok(())
    }

    /// Rewrites a stored device authorization whose codes and expiry are
    /// unchanged (polls and denial), so its index entries stay valid.
    pub(crate) fn update_device(&mut self, d: &DeviceRecord) -> Result<(), Failure> {
        self.touch();
        self.t.devices()?.insert(&d.hash.0, encode(d)?.as_slice())?;
        Ok(())
    }
}
