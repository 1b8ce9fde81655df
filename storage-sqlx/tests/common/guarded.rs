//! A store that runs a cleanup (drop its database) when the last handle
//! goes, delegating every storage trait to the inner store.

use async_trait::async_trait;
use latchkey::clock::Timestamp;
use latchkey::model::{
    AccessTokenRecord, AccessTokenView, ChallengeRecord, ClientRecord, CodeRecord, DeviceRecord,
    Event, FamilyRecord, GrantRecord, NewEvent, Revocation,
};
use latchkey::storage::{
    Approval, ApproveOutcome, BrowserSessionStore, ChallengeStore, ClientStore, CodeFailure,
    CodeStore, DevicePoll, DeviceStore, EventStore, GrantStore, Issuance, PurgeReport, PurgeStore,
    RedeemOutcome, RotateOutcome, Rotation, StorageResult, TokenStore,
};
use latchkey::token::TokenHash;
use latchkey::web::{SessionKey, SessionRecord};

type Cleanup = Box<dyn FnOnce() + Send + Sync>;

/// The inner store plus a cleanup run on drop (after the store is gone).
pub struct Guarded<S> {
    inner: Option<S>,
    cleanup: Option<Cleanup>,
}

impl<S> Guarded<S> {
    /// Wraps `inner`; `cleanup` runs when this is dropped.
    pub fn new(inner: S, cleanup: impl FnOnce() + Send + Sync + 'static) -> Self {
        Guarded {
            inner: Some(inner),
            cleanup: Some(Box::new(cleanup)),
        }
    }

    /// The inner store.
    pub fn inner(&self) -> &S {
        self.inner.as_ref().expect("present until drop")
    }
}

impl<S> Drop for Guarded<S> {
    fn drop(&mut self) {
        drop(self.inner.take());
        if let Some(c) = self.cleanup.take() {
            c();
        }
    }
}

#[async_trait]
impl<S: ClientStore> ClientStore for Guarded<S> {
    async fn insert_client(&self, c: &ClientRecord, e: &[NewEvent]) -> StorageResult<()> {
        self.inner().insert_client(c, e).await
    }
    async fn get_client(&self, id: &str) -> StorageResult<Option<ClientRecord>> {
        self.inner().get_client(id).await
    }
    async fn update_client(&self, c: &ClientRecord, r: u64, e: &[NewEvent]) -> StorageResult<()> {
        self.inner().update_client(c, r, e).await
    }
    async fn delete_client(&self, id: &str, r: Revocation, e: &[NewEvent]) -> StorageResult<bool> {
        self.inner().delete_client(id, r, e).await
    }
    async fn list_clients(&self, owner: &str) -> StorageResult<Vec<ClientRecord>> {
        self.inner().list_clients(owner).await
    }

    async fn list_all_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StorageResult<Vec<ClientRecord>> {
        self.inner().list_all_clients(after, limit).await
    }
}

#[async_trait]
impl<S: ChallengeStore> ChallengeStore for Guarded<S> {
    async fn insert_challenge(&self, c: &ChallengeRecord) -> StorageResult<()> {
        self.inner().insert_challenge(c).await
    }
    async fn get_challenge(&self, h: &TokenHash) -> StorageResult<Option<ChallengeRecord>> {
        self.inner().get_challenge(h).await
    }
    async fn take_challenge(
        &self,
        h: &TokenHash,
        now: Timestamp,
    ) -> StorageResult<Option<ChallengeRecord>> {
        self.inner().take_challenge(h, now).await
    }
}

#[async_trait]
impl<S: GrantStore> GrantStore for Guarded<S> {
    async fn approve(&self, a: &Approval) -> StorageResult<ApproveOutcome> {
        self.inner().approve(a).await
    }
    async fn get_grant(&self, s: &str, c: &str) -> StorageResult<Option<GrantRecord>> {
        self.inner().get_grant(s, c).await
    }
    async fn get_grant_by_id(&self, id: &str) -> StorageResult<Option<GrantRecord>> {
        self.inner().get_grant_by_id(id).await
    }
    async fn list_grants(&self, s: &str) -> StorageResult<Vec<GrantRecord>> {
        self.inner().list_grants(s).await
    }
    async fn revoke_grant(&self, id: &str, r: Revocation, e: &[NewEvent]) -> StorageResult<bool> {
        self.inner().revoke_grant(id, r, e).await
    }
    async fn revoke_subject(&self, s: &str, r: Revocation, e: &[NewEvent]) -> StorageResult<u64> {
        self.inner().revoke_subject(s, r, e).await
    }
}

#[async_trait]
impl<S: CodeStore> CodeStore for Guarded<S> {
    async fn get_code(&self, h: &TokenHash) -> StorageResult<Option<CodeRecord>> {
        self.inner().get_code(h).await
    }
    async fn record_code_failure(&self, h: &TokenHash, max: u32) -> StorageResult<CodeFailure> {
        self.inner().record_code_failure(h, max).await
    }
    async fn redeem_code(
        &self,
        h: &TokenHash,
        now: Timestamp,
        i: &Issuance,
    ) -> StorageResult<RedeemOutcome> {
        self.inner().redeem_code(h, now, i).await
    }
}

#[async_trait]
impl<S: TokenStore> TokenStore for Guarded<S> {
    async fn find_refresh_token(
        &self,
        h: &TokenHash,
    ) -> StorageResult<Option<(FamilyRecord, u64)>> {
        self.inner().find_refresh_token(h).await
    }
    async fn get_family(&self, id: &str) -> StorageResult<Option<FamilyRecord>> {
        self.inner().get_family(id).await
    }
    async fn rotate_family(&self, id: &str, g: u64, r: &Rotation) -> StorageResult<RotateOutcome> {
        self.inner().rotate_family(id, g, r).await
    }
    async fn revoke_family(&self, id: &str, r: Revocation, e: &[NewEvent]) -> StorageResult<bool> {
        self.inner().revoke_family(id, r, e).await
    }
    async fn insert_access_token(&self, t: &AccessTokenRecord) -> StorageResult<()> {
        self.inner().insert_access_token(t).await
    }
    async fn find_access_token(&self, h: &TokenHash) -> StorageResult<Option<AccessTokenView>> {
        self.inner().find_access_token(h).await
    }
    async fn revoke_access_token(
        &self,
        h: &TokenHash,
        at: Timestamp,
        e: &[NewEvent],
    ) -> StorageResult<bool> {
        self.inner().revoke_access_token(h, at, e).await
    }
}

#[async_trait]
impl<S: EventStore> EventStore for Guarded<S> {
    async fn poll_events(&self, c: &str, limit: usize) -> StorageResult<Vec<Event>> {
        self.inner().poll_events(c, limit).await
    }
    async fn ack_events(&self, c: &str, seq: u64) -> StorageResult<()> {
        self.inner().ack_events(c, seq).await
    }
}

#[async_trait]
impl<S: PurgeStore> PurgeStore for Guarded<S> {
    async fn purge_expired(&self, now: Timestamp, limit: usize) -> StorageResult<PurgeReport> {
        self.inner().purge_expired(now, limit).await
    }
}

#[async_trait]
impl<S: BrowserSessionStore> BrowserSessionStore for Guarded<S> {
    async fn insert_browser_session(&self, r: &SessionRecord) -> StorageResult<()> {
        self.inner().insert_browser_session(r).await
    }
    async fn get_browser_session(&self, k: &SessionKey) -> StorageResult<Option<SessionRecord>> {
        self.inner().get_browser_session(k).await
    }
    async fn touch_browser_session(&self, k: &SessionKey, now: Timestamp) -> StorageResult<()> {
        self.inner().touch_browser_session(k, now).await
    }
    async fn replace_browser_session(
        &self,
        old: &SessionKey,
        new: &SessionRecord,
    ) -> StorageResult<()> {
        self.inner().replace_browser_session(old, new).await
    }
    async fn remove_browser_session(&self, k: &SessionKey) -> StorageResult<bool> {
        self.inner().remove_browser_session(k).await
    }
    async fn set_browser_session_flash(&self, k: &SessionKey, m: &str) -> StorageResult<bool> {
        self.inner().set_browser_session_flash(k, m).await
    }
    async fn take_browser_session_flash(&self, k: &SessionKey) -> StorageResult<Option<String>> {
        self.inner().take_browser_session_flash(k).await
    }
    async fn purge_browser_sessions(
        &self,
        idle: Timestamp,
        created: Timestamp,
        limit: usize,
    ) -> StorageResult<u64> {
        self.inner()
            .purge_browser_sessions(idle, created, limit)
            .await
    }
}

#[async_trait]
impl<S: DeviceStore> DeviceStore for Guarded<S> {
    async fn insert_device(&self, d: &DeviceRecord) -> StorageResult<()> {
        self.inner().insert_device(d).await
    }
    async fn find_device_by_user_code(&self, h: &TokenHash) -> StorageResult<Option<DeviceRecord>> {
        self.inner().find_device_by_user_code(h).await
    }
    async fn poll_device(
        &self,
        h: &TokenHash,
        c: &str,
        now: Timestamp,
    ) -> StorageResult<DevicePoll> {
        self.inner().poll_device(h, c, now).await
    }
    async fn deny_device(&self, h: &TokenHash) -> StorageResult<bool> {
        self.inner().deny_device(h).await
    }
}

#[async_trait]
impl<S: latchkey::storage::SigningKeyStore> latchkey::storage::SigningKeyStore for Guarded<S> {
    async fn insert_signing_key(&self, k: &latchkey::jwt::SigningKeyRecord) -> StorageResult<()> {
        self.inner().insert_signing_key(k).await
    }
    async fn list_signing_keys(&self) -> StorageResult<Vec<latchkey::jwt::SigningKeyRecord>> {
        self.inner().list_signing_keys().await
    }
    async fn promote_signing_key(
        &self,
        next: &str,
        previous: Option<&str>,
        now: Timestamp,
    ) -> StorageResult<bool> {
        self.inner().promote_signing_key(next, previous, now).await
    }
    async fn retire_signing_key(&self, kid: &str, now: Timestamp) -> StorageResult<bool> {
        self.inner().retire_signing_key(kid, now).await
    }
}
