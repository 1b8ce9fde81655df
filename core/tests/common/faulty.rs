//! A fault-injecting wrapper around the memory store (the one place mocks
//! are allowed), shared by the failure tests.

use std::sync::atomic::{AtomicU8, Ordering};

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::*;
use latchkey::storage::*;
use latchkey::token::TokenHash;
use latchkey::MemoryStore;

/// 0 = healthy, 1 = unavailable, 2 = broken, 3 = only `approve` fails.
#[derive(Default)]
pub struct Faulty {
    pub inner: MemoryStore,
    mode: AtomicU8,
}

impl Faulty {
    fn check(&self, method: &str) -> StorageResult<()> {
        match self.mode.load(Ordering::SeqCst) {
            0 => Ok(()),
            1 => Err(StorageError::Unavailable("connection refused".into())),
            3 if method != "approve" => Ok(()),
            3 => Err(StorageError::Unavailable(
                "connection lost mid-approval".into(),
            )),
            _ => Err(StorageError::Backend("disk on fire".into())),
        }
    }
    pub fn set(&self, m: u8) {
        self.mode.store(m, Ordering::SeqCst);
    }
}

macro_rules! delegate {
    ($trait:ident { $(fn $name:ident(&self $(, $arg:ident : $ty:ty)*) -> $ret:ty;)* }) => {
        #[async_trait]
        impl $trait for Faulty {
            $(async fn $name(&self $(, $arg: $ty)*) -> $ret {
                self.check(stringify!($name))?;
                self.inner.$name($($arg),*).await
            })*
        }
    };
}

delegate!(ClientStore {
    fn insert_client(&self, c: &ClientRecord, e: &[NewEvent]) -> StorageResult<()>;
    fn get_client(&self, id: &str) -> StorageResult<Option<ClientRecord>>;
    fn update_client(&self, c: &ClientRecord, r: u64, e: &[NewEvent]) -> StorageResult<()>;
    fn delete_client(&self, id: &str, r: Revocation, e: &[NewEvent]) -> StorageResult<bool>;
    fn list_clients(&self, owner: &str) -> StorageResult<Vec<ClientRecord>>;
    fn list_all_clients(&self, after: Option<&str>, limit: usize) -> StorageResult<Vec<ClientRecord>>;
});
delegate!(ChallengeStore {
    fn insert_challenge(&self, c: &ChallengeRecord) -> StorageResult<()>;
    fn get_challenge(&self, h: &TokenHash) -> StorageResult<Option<ChallengeRecord>>;
    fn take_challenge(&self, h: &TokenHash, now: Timestamp) -> StorageResult<Option<ChallengeRecord>>;
});
delegate!(GrantStore {
    fn approve(&self, a: &Approval) -> StorageResult<ApproveOutcome>;
    fn get_grant(&self, s: &str, c: &str) -> StorageResult<Option<GrantRecord>>;
    fn get_grant_by_id(&self, id: &str) -> StorageResult<Option<GrantRecord>>;
    fn list_grants(&self, s: &str) -> StorageResult<Vec<GrantRecord>>;
    fn revoke_grant(&self, id: &str, r: Revocation, e: &[NewEvent]) -> StorageResult<bool>;
    fn revoke_subject(&self, s: &str, r: Revocation, e: &[NewEvent]) -> StorageResult<u64>;
});
delegate!(CodeStore {
    fn get_code(&self, h: &TokenHash) -> StorageResult<Option<CodeRecord>>;
    fn record_code_failure(&self, h: &TokenHash, m: u32) -> StorageResult<CodeFailure>;
    fn redeem_code(&self, h: &TokenHash, now: Timestamp, i: &Issuance) -> StorageResult<RedeemOutcome>;
});
delegate!(TokenStore {
    fn find_refresh_token(&self, h: &TokenHash) -> StorageResult<Option<(FamilyRecord, u64)>>;
    fn get_family(&self, id: &str) -> StorageResult<Option<FamilyRecord>>;
    fn rotate_family(&self, id: &str, g: u64, r: &Rotation) -> StorageResult<RotateOutcome>;
    fn revoke_family(&self, id: &str, r: Revocation, e: &[NewEvent]) -> StorageResult<bool>;
    fn insert_access_token(&self, t: &AccessTokenRecord) -> StorageResult<()>;
    fn find_access_token(&self, h: &TokenHash) -> StorageResult<Option<AccessTokenView>>;
    fn revoke_access_token(&self, h: &TokenHash, at: Timestamp, e: &[NewEvent]) -> StorageResult<bool>;
});
delegate!(EventStore {
    fn poll_events(&self, c: &str, l: usize) -> StorageResult<Vec<Event>>;
    fn ack_events(&self, c: &str, s: u64) -> StorageResult<()>;
});
delegate!(PurgeStore {
    fn purge_expired(&self, now: Timestamp, l: usize) -> StorageResult<PurgeReport>;
});
delegate!(BrowserSessionStore {
    fn insert_browser_session(&self, r: &latchkey::web::SessionRecord) -> StorageResult<()>;
    fn get_browser_session(&self, k: &latchkey::web::SessionKey) -> StorageResult<Option<latchkey::web::SessionRecord>>;
    fn touch_browser_session(&self, k: &latchkey::web::SessionKey, now: Timestamp) -> StorageResult<()>;
    fn replace_browser_session(&self, o: &latchkey::web::SessionKey, n: &latchkey::web::SessionRecord) -> StorageResult<()>;
    fn remove_browser_session(&self, k: &latchkey::web::SessionKey) -> StorageResult<bool>;
    fn set_browser_session_flash(&self, k: &latchkey::web::SessionKey, m: &str) -> StorageResult<bool>;
    fn take_browser_session_flash(&self, k: &latchkey::web::SessionKey) -> StorageResult<Option<String>>;
    fn purge_browser_sessions(&self, i: Timestamp, c: Timestamp, l: usize) -> StorageResult<u64>;
});
delegate!(DeviceStore {
    fn insert_device(&self, d: &DeviceRecord) -> StorageResult<()>;
    fn find_device_by_user_code(&self, h: &TokenHash) -> StorageResult<Option<DeviceRecord>>;
    fn poll_device(&self, h: &TokenHash, c: &str, now: Timestamp) -> StorageResult<DevicePoll>;
    fn deny_device(&self, h: &TokenHash) -> StorageResult<bool>;
});
delegate!(SigningKeyStore {
    fn insert_signing_key(&self, k: &latchkey::jwt::SigningKeyRecord) -> StorageResult<()>;
    fn list_signing_keys(&self) -> StorageResult<Vec<latchkey::jwt::SigningKeyRecord>>;
    fn promote_signing_key(&self, n: &str, p: Option<&str>, now: Timestamp) -> StorageResult<bool>;
    fn retire_signing_key(&self, k: &str, now: Timestamp) -> StorageResult<bool>;
});
