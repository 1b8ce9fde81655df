//! The in-memory reference store: every contract under one read-write
//! lock.
//!
//! Correct and concurrent (reads share the lock, each change holds it
//! alone, and it is never held across an `.await`), not durable. Other backends are checked
//! against the same `latchkey::conformance` (feature `conformance`) suite.

mod signing_keys;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use async_trait::async_trait;

use super::rules;
use super::{
    Approval, ApproveOutcome, BrowserSessionStore, ChallengeStore, ClientStore, CodeFailure,
    CodeStore, DevicePoll, DeviceStore, EventStore, GrantStore, Issuance, PurgeReport, PurgeStore,
    RedeemOutcome, RotateOutcome, Rotation, StorageError, StorageResult, TokenStore,
};
use crate::clock::Timestamp;
use crate::model::{
    AccessTokenRecord, AccessTokenView, ChallengeRecord, ClientRecord, CodeRecord, DeviceRecord,
    DeviceStatus, Event, FamilyRecord, GrantRecord, NewEvent, Revocation,
};
use crate::token::TokenHash;
use crate::web::{SessionKey, SessionRecord};

#[derive(Default)]
struct State {
    clients: BTreeMap<String, ClientRecord>,
    challenges: HashMap<TokenHash, ChallengeRecord>,
    challenge_expiry: BTreeSet<(Timestamp, TokenHash)>,
    codes: HashMap<TokenHash, CodeRecord>,
    code_expiry: BTreeSet<(Timestamp, TokenHash)>,
    grants: HashMap<String, GrantRecord>,
    grant_by_pair: BTreeMap<(String, String), String>,
    families: HashMap<String, FamilyRecord>,
    family_expiry: BTreeSet<(Timestamp, String)>,
    refresh_index: HashMap<TokenHash, (String, u64)>,
    family_refresh: HashMap<String, Vec<TokenHash>>,
    access: HashMap<TokenHash, AccessTokenRecord>,
    access_expiry: BTreeSet<(Timestamp, TokenHash)>,
    events: BTreeMap<u64, Event>,
    next_seq: u64,
    cursors: BTreeMap<String, u64>,
    sessions: HashMap<SessionKey, SessionRecord>,
    /// (last seen, key) of every session: the idle-timeout index.
    session_idle: BTreeSet<(Timestamp, SessionKey)>,
    /// (created at, key) of every session: the absolute-lifetime index.
    session_age: BTreeSet<(Timestamp, SessionKey)>,
    devices: HashMap<TokenHash, DeviceRecord>,
    /// User-code hash → device-code hash: the unique user-code index.
    device_by_user_code: HashMap<TokenHash, TokenHash>,
    device_expiry: BTreeSet<(Timestamp, TokenHash)>,
    /// Access-token signing keys, oldest first.
    signing_keys: Vec<crate::jwt::SigningKeyRecord>,
}

impl State {
    fn append(&mut self, events: &[NewEvent]) {
        for e in events {
            self.next_seq += 1;
            self.events.insert(
                self.next_seq,
                Event {
                    seq: self.next_seq,
                    at: e.at,
                    kind: e.kind.clone(),
                    audit: Some(e.audit.clone()),
                },
            );
        }
    }

    fn revoke_families_where(
        &mut self,
        revocation: Revocation,
        pred: impl Fn(&FamilyRecord) -> bool,
    ) {
        for f in self.families.values_mut() {
            if pred(f) {
                rules::revoke_family(f, revocation);
            }
        }
    }

    fn insert_access(&mut self, t: &AccessTokenRecord) {
        self.access_expiry.insert((t.expires_at, t.hash));
        self.access.insert(t.hash, t.clone());
    }

    fn set_family(&mut self, f: FamilyRecord) {
        if let Some(old) = self.families.get(&f.id) {
            self.family_expiry.remove(&(old.expires_at, old.id.clone()));
        }
        self.family_expiry.insert((f.expires_at, f.id.clone()));
        self.families.insert(f.id.clone(), f);
    }

    fn index_refresh(&mut self, f: &FamilyRecord) {
        self.refresh_index
            .insert(f.current.hash, (f.id.clone(), f.generation));
        self.family_refresh
            .entry(f.id.clone())
            .or_default()
            .push(f.current.hash);
    }

    fn touch_grant(&mut self, grant_id: &str, now: Timestamp) {
        if let Some(g) = self.grants.get_mut(grant_id) {
            if g.last_used_at < now {
                g.last_used_at = now;
            }
        }
    }

    fn take_challenge(&mut self, hash: &TokenHash, now: Timestamp) -> Option<ChallengeRecord> {
        if !rules::challenge_is_live(self.challenges.get(hash)?, now) {
            return None;
        }
        let c = self.challenges.remove(hash)?;
        self.challenge_expiry.remove(&(c.expires_at, c.hash));
        Some(c)
    }

    fn insert_session(&mut self, r: &SessionRecord) {
        self.session_idle.insert((r.last_seen, r.key.clone()));
        self.session_age.insert((r.created_at, r.key.clone()));
        self.sessions.insert(r.key.clone(), r.clone());
    }

    fn remove_session(&mut self, key: &SessionKey) -> bool {
        let Some(r) = self.sessions.remove(key) else {
            return false;
        };
        self.session_idle.remove(&(r.last_seen, r.key.clone()));
        self.session_age.remove(&(r.created_at, r.key));
        true
    }

    fn delete_grant(&mut self, grant_id: &str) -> Option<GrantRecord> {
        let g = self.grants.remove(grant_id)?;
        self.grant_by_pair
            .remove(&(g.subject.clone(), g.client_id.clone()));
        Some(g)
    }
}

/// In-memory implementation of every storage trait.
#[derive(Default)]
pub struct MemoryStore {
    state: RwLock<State>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MemoryStore")
    }
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The state for a change: callers of changes serialise here.
    fn lock(&self) -> StorageResult<RwLockWriteGuard<'_, State>> {
        // A panic while holding the lock may have left a half-applied change:
        // refuse to serve from it rather than guess.
        self.state.write().map_err(|_| poisoned())
    }

    /// The state for a read: readers share it (token lookups, the hot
    /// path, do not wait for one another).
    fn read(&self) -> StorageResult<RwLockReadGuard<'_, State>> {
        self.state.read().map_err(|_| poisoned())
    }
}

fn poisoned() -> StorageError {
    StorageError::Backend("memory store poisoned by a panic".into())
}

#[async_trait]
impl ClientStore for MemoryStore {
    async fn insert_client(&self, client: &ClientRecord, events: &[NewEvent]) -> StorageResult<()> {
        let mut s = self.lock()?;
        if s.clients.contains_key(&client.id) {
            return Err(StorageError::Conflict);
        }
        s.clients.insert(client.id.clone(), client.clone());
        s.append(events);
        Ok(())
    }

    async fn get_client(&self, id: &str) -> StorageResult<Option<ClientRecord>> {
        Ok(self.read()?.clients.get(id).cloned())
    }

    async fn update_client(
        &self,
        client: &ClientRecord,
        expected_revision: u64,
        events: &[NewEvent],
    ) -> StorageResult<()> {
        let mut s = self.lock()?;
        let stored = s.clients.get(&client.id).ok_or(StorageError::NotFound)?;
        if stored.revision != expected_revision {
            return Err(StorageError::Conflict);
        }
        s.clients.insert(client.id.clone(), client.clone());
        s.append(events);
        Ok(())
    }

    async fn delete_client(
        &self,
        id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        let mut s = self.lock()?;
        if s.clients.remove(id).is_none() {
            return Ok(false);
        }
        let grant_ids: Vec<String> = s
            .grants
            .values()
            .filter(|g| g.client_id == id)
            .map(|g| g.id.clone())
            .collect();
        for g in grant_ids {
            s.delete_grant(&g);
        }
        s.revoke_families_where(revocation, |f| f.client_id == id);
        for t in s.access.values_mut() {
            if t.family_id.is_none() && t.client_id == id && t.revoked_at.is_none() {
                t.revoked_at = Some(revocation.at);
            }
        }
        s.append(events);
        Ok(true)
    }

    async fn list_clients(&self, owner: &str) -> StorageResult<Vec<ClientRecord>> {
        Ok(self
            .lock()?
            .clients
            .values()
            .filter(|c| c.owner == owner)
            .cloned()
            .collect())
    }

    async fn list_all_clients(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> StorageResult<Vec<ClientRecord>> {
        use std::ops::Bound;
        let s = self.read()?;
        let from = match after {
            Some(a) => Bound::Excluded(a.to_owned()),
            None => Bound::Unbounded,
        };
        Ok(s.clients
            .range((from, Bound::Unbounded))
            .take(limit)
            .map(|(_, c)| c.clone())
            .collect())
    }
}

#[async_trait]
impl ChallengeStore for MemoryStore {
    async fn insert_challenge(&self, challenge: &ChallengeRecord) -> StorageResult<()> {
        let mut s = self.lock()?;
        if s.challenges.contains_key(&challenge.hash) {
            return Err(StorageError::Conflict);
        }
        s.challenge_expiry
            .insert((challenge.expires_at, challenge.hash));
        s.challenges.insert(challenge.hash, challenge.clone());
        Ok(())
    }

    async fn get_challenge(&self, hash: &TokenHash) -> StorageResult<Option<ChallengeRecord>> {
        Ok(self.read()?.challenges.get(hash).cloned())
    }

    async fn take_challenge(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> StorageResult<Option<ChallengeRecord>> {
        Ok(self.lock()?.take_challenge(hash, now))
    }
}

#[async_trait]
impl GrantStore for MemoryStore {
    async fn approve(&self, approval: &Approval) -> StorageResult<ApproveOutcome> {
        let mut s = self.lock()?;
        let code = &approval.code;
        if s.codes.contains_key(&code.hash) {
            return Err(StorageError::Conflict);
        }
        if !s.clients.contains_key(&code.client_id) {
            return Ok(ApproveOutcome::ClientGone);
        }
        if let Some(h) = &approval.challenge {
            if s.take_challenge(h, code.issued_at).is_none() {
                return Ok(ApproveOutcome::ChallengeGone);
            }
        }
        let pair = (code.subject.clone(), code.client_id.clone());
        let existing = s.grant_by_pair.get(&pair).and_then(|id| s.grants.get(id));
        let w = rules::merge_approval(existing, approval);
        s.grant_by_pair.insert(pair, w.grant.id.clone());
        s.grants.insert(w.grant.id.clone(), w.grant.clone());
        s.code_expiry.insert((w.code.expires_at, w.code.hash));
        s.codes.insert(w.code.hash, w.code);
        s.append(&w.events);
        Ok(ApproveOutcome::Approved {
            grant_id: w.grant.id,
        })
    }

    async fn get_grant(
        &self,
        subject: &str,
        client_id: &str,
    ) -> StorageResult<Option<GrantRecord>> {
        let s = self.read()?;
        Ok(s.grant_by_pair
            .get(&(subject.to_owned(), client_id.to_owned()))
            .and_then(|id| s.grants.get(id))
            .cloned())
    }

    async fn get_grant_by_id(&self, id: &str) -> StorageResult<Option<GrantRecord>> {
        Ok(self.read()?.grants.get(id).cloned())
    }

    async fn list_grants(&self, subject: &str) -> StorageResult<Vec<GrantRecord>> {
        let s = self.read()?;
        Ok(s.grant_by_pair
            .range((subject.to_owned(), String::new())..)
            .take_while(|((sub, _), _)| sub == subject)
            .filter_map(|(_, id)| s.grants.get(id).cloned())
            .collect())
    }

    async fn revoke_grant(
        &self,
        grant_id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        let mut s = self.lock()?;
        if s.delete_grant(grant_id).is_none() {
            return Ok(false);
        }
        s.revoke_families_where(revocation, |f| f.grant_id == grant_id);
        s.append(events);
        Ok(true)
    }

    async fn revoke_subject(
        &self,
        subject: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<u64> {
        let mut s = self.lock()?;
        let ids: Vec<String> = s
            .grants
            .values()
            .filter(|g| g.subject == subject)
            .map(|g| g.id.clone())
            .collect();
        for id in &ids {
            s.delete_grant(id);
        }
        s.revoke_families_where(revocation, |f| f.subject == subject);
        s.append(events);
        Ok(ids.len() as u64)
    }
}

#[async_trait]
impl CodeStore for MemoryStore {
    async fn get_code(&self, hash: &TokenHash) -> StorageResult<Option<CodeRecord>> {
        Ok(self.read()?.codes.get(hash).cloned())
    }

    async fn record_code_failure(
        &self,
        hash: &TokenHash,
        max_failures: u32,
    ) -> StorageResult<CodeFailure> {
        let mut s = self.lock()?;
        match rules::count_code_failure(s.codes.get(hash), max_failures) {
            Ok((code, outcome)) => {
                s.codes.insert(code.hash, code);
                Ok(outcome)
            }
            Err(outcome) => Ok(outcome),
        }
    }

    async fn redeem_code(
        &self,
        hash: &TokenHash,
        now: Timestamp,
        issuance: &Issuance,
    ) -> StorageResult<RedeemOutcome> {
        let mut s = self.lock()?;
        let family = &issuance.family;
        let code = s.codes.get(hash);
        let grant_exists = code.is_some_and(|c| s.grants.contains_key(&c.grant_id));
        let code = match rules::redeem_code(code, now, grant_exists, &family.id) {
            Ok(c) => c,
            Err(outcome) => return Ok(outcome),
        };
        if s.families.contains_key(&family.id) {
            return Err(StorageError::Conflict);
        }
        let grant_id = code.grant_id.clone();
        s.codes.insert(code.hash, code);
        s.index_refresh(family);
        s.set_family(family.clone());
        s.insert_access(&issuance.access);
        s.touch_grant(&grant_id, now);
        s.append(&issuance.events);
        Ok(RedeemOutcome::Issued)
    }
}

#[async_trait]
impl TokenStore for MemoryStore {
    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> StorageResult<Option<(FamilyRecord, u64)>> {
        let s = self.read()?;
        Ok(s.refresh_index
            .get(hash)
            .and_then(|(fid, generation)| s.families.get(fid).map(|f| (f.clone(), *generation))))
    }

    async fn get_family(&self, id: &str) -> StorageResult<Option<FamilyRecord>> {
        Ok(self.read()?.families.get(id).cloned())
    }

    async fn rotate_family(
        &self,
        family_id: &str,
        expected_generation: u64,
        rotation: &Rotation,
    ) -> StorageResult<RotateOutcome> {
        let mut s = self.lock()?;
        let f =
            match rules::apply_rotation(s.families.get(family_id), expected_generation, rotation) {
                Ok(f) => f,
                Err(outcome) => return Ok(outcome),
            };
        s.index_refresh(&f);
        let grant_id = f.grant_id.clone();
        s.set_family(f);
        s.insert_access(&rotation.access);
        s.touch_grant(&grant_id, rotation.now);
        Ok(RotateOutcome::Rotated)
    }

    async fn revoke_family(
        &self,
        family_id: &str,
        revocation: Revocation,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        let mut s = self.lock()?;
        let revoked = s
            .families
            .get_mut(family_id)
            .is_some_and(|f| rules::revoke_family(f, revocation));
        if revoked {
            s.append(events);
        }
        Ok(revoked)
    }

    async fn insert_access_token(&self, token: &AccessTokenRecord) -> StorageResult<()> {
        let mut s = self.lock()?;
        if s.access.contains_key(&token.hash) {
            return Err(StorageError::Conflict);
        }
        s.insert_access(token);
        Ok(())
    }

    async fn find_access_token(&self, hash: &TokenHash) -> StorageResult<Option<AccessTokenView>> {
        let s = self.read()?;
        Ok(s.access.get(hash).map(|t| AccessTokenView {
            family_revoked: t
                .family_id
                .as_ref()
                .and_then(|f| s.families.get(f))
                .is_some_and(|f| f.revoked.is_some()),
            token: t.clone(),
        }))
    }

    async fn revoke_access_token(
        &self,
        hash: &TokenHash,
        at: Timestamp,
        events: &[NewEvent],
    ) -> StorageResult<bool> {
        let mut s = self.lock()?;
        match s.access.get_mut(hash) {
            Some(t) if t.revoked_at.is_none() => {
                t.revoked_at = Some(at);
                s.append(events);
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

#[async_trait]
impl EventStore for MemoryStore {
    async fn poll_events(&self, consumer: &str, limit: usize) -> StorageResult<Vec<Event>> {
        let mut s = self.lock()?;
        let cursor = *s.cursors.entry(consumer.to_owned()).or_insert(0);
        Ok(s.events
            .range(cursor + 1..)
            .take(limit)
            .map(|(_, e)| e.clone())
            .collect())
    }

    async fn ack_events(&self, consumer: &str, seq: u64) -> StorageResult<()> {
        let mut s = self.lock()?;
        let c = s.cursors.entry(consumer.to_owned()).or_insert(0);
        if seq > *c {
            *c = seq;
        }
        Ok(())
    }
}

fn drain_expired<K: Ord + Clone>(
    index: &mut BTreeSet<(Timestamp, K)>,
    now: Timestamp,
    limit: usize,
) -> Vec<K> {
    let due: Vec<(Timestamp, K)> = index
        .iter()
        .take_while(|(t, _)| *t <= now)
        .take(limit)
        .cloned()
        .collect();
    for d in &due {
        index.remove(d);
    }
    due.into_iter().map(|(_, k)| k).collect()
}

#[async_trait]
impl PurgeStore for MemoryStore {
    async fn purge_expired(&self, now: Timestamp, limit: usize) -> StorageResult<PurgeReport> {
        let mut s = self.lock()?;
        let mut r = PurgeReport::default();
        for h in drain_expired(&mut s.challenge_expiry, now, limit) {
            r.challenges += u64::from(s.challenges.remove(&h).is_some());
        }
        for h in drain_expired(&mut s.code_expiry, now, limit) {
            r.codes += u64::from(s.codes.remove(&h).is_some());
        }
        for h in drain_expired(&mut s.access_expiry, now, limit) {
            r.access_tokens += u64::from(s.access.remove(&h).is_some());
        }
        for h in drain_expired(&mut s.device_expiry, now, limit) {
            if let Some(d) = s.devices.remove(&h) {
                s.device_by_user_code.remove(&d.user_code);
                r.devices += 1;
            }
        }
        for id in drain_expired(&mut s.family_expiry, now, limit) {
            if let Some(f) = s.families.remove(&id) {
                r.families += 1;
                for h in s.family_refresh.remove(&f.id).unwrap_or_default() {
                    s.refresh_index.remove(&h);
                }
            }
        }
        let floor = s.cursors.values().copied().min().unwrap_or(0);
        let purgeable: Vec<u64> = s
            .events
            .range(..=floor)
            .map(|(k, _)| *k)
            .take(limit)
            .collect();
        for k in purgeable {
            s.events.remove(&k);
            r.events += 1;
        }
        Ok(r)
    }
}

#[async_trait]
impl DeviceStore for MemoryStore {
    async fn insert_device(&self, device: &DeviceRecord) -> StorageResult<()> {
        let mut s = self.lock()?;
        if s.devices.contains_key(&device.hash)
            || s.device_by_user_code.contains_key(&device.user_code)
        {
            return Err(StorageError::Conflict);
        }
        s.device_by_user_code.insert(device.user_code, device.hash);
        s.device_expiry.insert((device.expires_at, device.hash));
        s.devices.insert(device.hash, device.clone());
        Ok(())
    }

    async fn find_device_by_user_code(
        &self,
        user_code: &TokenHash,
    ) -> StorageResult<Option<DeviceRecord>> {
        let s = self.read()?;
        Ok(s.device_by_user_code
            .get(user_code)
            .and_then(|h| s.devices.get(h))
            .cloned())
    }

    async fn poll_device(
        &self,
        hash: &TokenHash,
        client_id: &str,
        now: Timestamp,
    ) -> StorageResult<DevicePoll> {
        let mut s = self.lock()?;
        let (write, outcome) = rules::poll_device(s.devices.get(hash), client_id, now);
        if let Some(d) = write {
            s.devices.insert(d.hash, d);
        }
        Ok(outcome)
    }

    async fn deny_device(&self, hash: &TokenHash) -> StorageResult<bool> {
        let mut s = self.lock()?;
        match s.devices.get_mut(hash) {
            Some(d) if d.status == DeviceStatus::Pending => {
                d.status = DeviceStatus::Denied;
                Ok(true)
            }
            _ => Ok(false),
        }
    }
}

/// Up to `limit` keys of `index` whose time is before `before`, in order.
fn sessions_before(
    index: &BTreeSet<(Timestamp, SessionKey)>,
    before: Timestamp,
    limit: usize,
) -> Vec<SessionKey> {
    index
        .iter()
        .take_while(|(t, _)| *t < before)
        .take(limit)
        .map(|(_, k)| k.clone())
        .collect()
}

#[async_trait]
impl BrowserSessionStore for MemoryStore {
    async fn insert_browser_session(&self, record: &SessionRecord) -> StorageResult<()> {
        let mut s = self.lock()?;
        if s.sessions.contains_key(&record.key) {
            return Err(StorageError::Conflict);
        }
        s.insert_session(record);
        Ok(())
    }

    async fn get_browser_session(&self, key: &SessionKey) -> StorageResult<Option<SessionRecord>> {
        Ok(self.read()?.sessions.get(key).cloned())
    }

    async fn touch_browser_session(&self, key: &SessionKey, now: Timestamp) -> StorageResult<()> {
        let mut s = self.lock()?;
        let State {
            sessions,
            session_idle,
            ..
        } = &mut *s;
        if let Some(r) = sessions.get_mut(key) {
            if r.last_seen < now {
                session_idle.remove(&(r.last_seen, key.clone()));
                session_idle.insert((now, key.clone()));
                r.last_seen = now;
            }
        }
        Ok(())
    }

    async fn replace_browser_session(
        &self,
        old: &SessionKey,
        new: &SessionRecord,
    ) -> StorageResult<()> {
        let mut s = self.lock()?;
        if new.key != *old && s.sessions.contains_key(&new.key) {
            return Err(StorageError::Conflict);
        }
        s.remove_session(old);
        s.insert_session(new);
        Ok(())
    }

    async fn remove_browser_session(&self, key: &SessionKey) -> StorageResult<bool> {
        Ok(self.lock()?.remove_session(key))
    }

    async fn set_browser_session_flash(
        &self,
        key: &SessionKey,
        message: &str,
    ) -> StorageResult<bool> {
        let mut s = self.lock()?;
        Ok(s.sessions
            .get_mut(key)
            .map(|r| r.flash = Some(message.to_owned()))
            .is_some())
    }

    async fn take_browser_session_flash(&self, key: &SessionKey) -> StorageResult<Option<String>> {
        Ok(self
            .lock()?
            .sessions
            .get_mut(key)
            .and_then(|r| r.flash.take()))
    }

    async fn purge_browser_sessions(
        &self,
        idle_before: Timestamp,
        created_before: Timestamp,
        limit: usize,
    ) -> StorageResult<u64> {
        let mut s = self.lock()?;
        // Idle ones first, then whatever room is left for those past their
        // absolute lifetime (the idle pass already removed its own from
        // the second index).
        let idle = sessions_before(&s.session_idle, idle_before, limit);
        let mut n = 0;
        for k in &idle {
            n += u64::from(s.remove_session(k));
        }
        for k in &sessions_before(&s.session_age, created_before, limit - idle.len()) {
            n += u64::from(s.remove_session(k));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod conformance {
    use std::sync::Arc;

    use super::MemoryStore;

    crate::conformance_tests!(|| async { Arc::new(MemoryStore::new()) });
}
