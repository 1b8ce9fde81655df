//! One write transaction with every table open, and the record-level
//! changes the contracts are built from. Each helper keeps a record and all
//! of its index entries in step, so no contract can update one and forget
//! the other.
//!
//! Every mutation goes through a method here, which marks the transaction
//! changed; [`crate::store`] commits only changed transactions, so a call
//! that decides to do nothing costs no fsync.

use latchkey::clock::Timestamp;
use latchkey::model::{
    AccessTokenRecord, ChallengeRecord, ClientRecord, CodeRecord, Event, FamilyRecord, GrantRecord,
    NewEvent, Revocation,
};
use latchkey::token::TokenHash;
use redb::{ReadableTable, Table, WriteTransaction};

use crate::codec::{encode, expiry_bound, expiry_key, expiry_record_key};
use crate::error::Failure;
use crate::hooks::Hooks;
use crate::read::{by_hash, by_id, with_prefix};
use crate::tables::{
    ACCESS, ACCESS_EXPIRY, CHALLENGES, CHALLENGE_EXPIRY, CLIENTS, CLIENTS_BY_OWNER, CODES,
    CODE_EXPIRY, COUNTERS, CURSORS, EVENTS, FAMILIES, FAMILIES_BY_CLIENT, FAMILIES_BY_GRANT,
    FAMILIES_BY_SUBJECT, FAMILY_EXPIRY, FAMILY_REFRESH, GRANTS, GRANTS_BY_CLIENT, GRANT_BY_PAIR,
    LAST_EVENT_SEQ, REFRESH_INDEX,
};

type Records<'t, K> = Table<'t, K, &'static [u8]>;
type Pairs<'t> = Table<'t, (&'static str, &'static str), ()>;
type Expiry<'t> = Table<'t, &'static [u8], ()>;
type Hash = &'static [u8; 32];

/// A write transaction's open tables.
pub(crate) struct Tx<'t> {
    counters: Table<'t, &'static str, u64>,
    clients: Records<'t, &'static str>,
    clients_by_owner: Pairs<'t>,
    challenges: Records<'t, Hash>,
    challenge_expiry: Expiry<'t>,
    codes: Records<'t, Hash>,
    code_expiry: Expiry<'t>,
    grants: Records<'t, &'static str>,
    grant_by_pair: Table<'t, (&'static str, &'static str), &'static str>,
    grants_by_client: Pairs<'t>,
    families: Records<'t, &'static str>,
    family_expiry: Expiry<'t>,
    families_by_grant: Pairs<'t>,
    families_by_client: Pairs<'t>,
    families_by_subject: Pairs<'t>,
    refresh_index: Table<'t, Hash, (&'static str, u64)>,
    family_refresh: Table<'t, (&'static str, u64), Hash>,
    access: Records<'t, Hash>,
    access_expiry: Expiry<'t>,
    events: Table<'t, u64, &'static [u8]>,
    cursors: Table<'t, &'static str, u64>,
    changed: bool,
    op: &'static str,
    hooks: &'t Hooks,
}

impl<'t> Tx<'t> {
    /// Opens every table of `txn` for the operation `op`.
    pub(crate) fn open(
        txn: &'t WriteTransaction,
        op: &'static str,
        hooks: &'t Hooks,
    ) -> Result<Self, Failure> {
        Ok(Tx {
            counters: txn.open_table(COUNTERS)?,
            clients: txn.open_table(CLIENTS)?,
            clients_by_owner: txn.open_table(CLIENTS_BY_OWNER)?,
            challenges: txn.open_table(CHALLENGES)?,
            challenge_expiry: txn.open_table(CHALLENGE_EXPIRY)?,
            codes: txn.open_table(CODES)?,
            code_expiry: txn.open_table(CODE_EXPIRY)?,
            grants: txn.open_table(GRANTS)?,
            grant_by_pair: txn.open_table(GRANT_BY_PAIR)?,
            grants_by_client: txn.open_table(GRANTS_BY_CLIENT)?,
            families: txn.open_table(FAMILIES)?,
            family_expiry: txn.open_table(FAMILY_EXPIRY)?,
            families_by_grant: txn.open_table(FAMILIES_BY_GRANT)?,
            families_by_client: txn.open_table(FAMILIES_BY_CLIENT)?,
            families_by_subject: txn.open_table(FAMILIES_BY_SUBJECT)?,
            refresh_index: txn.open_table(REFRESH_INDEX)?,
            family_refresh: txn.open_table(FAMILY_REFRESH)?,
            access: txn.open_table(ACCESS)?,
            access_expiry: txn.open_table(ACCESS_EXPIRY)?,
            events: txn.open_table(EVENTS)?,
            cursors: txn.open_table(CURSORS)?,
            changed: false,
            op,
            hooks,
        })
    }

    /// Whether anything was written.
    pub(crate) fn changed(&self) -> bool {
        self.changed
    }

    /// Runs the fault hook (feature `test-hooks`) at `stage`.
    pub(crate) fn fault(&self, stage: &'static str) {
        self.hooks.fire(self.op, stage);
    }

    fn touch(&mut self) {
        self.changed = true;
    }

    // --- events -----------------------------------------------------------

    /// Appends events with the next sequence numbers.
    pub(crate) fn append(&mut self, events: &[NewEvent]) -> Result<(), Failure> {
        if events.is_empty() {
            return Ok(());
        }
        self.touch();
        let mut seq = self.counters.get(LAST_EVENT_SEQ)?.map_or(0, |v| v.value());
        for e in events {
            seq += 1;
            let event = Event {
                seq,
                at: e.at,
                kind: e.kind.clone(),
            };
            self.events.insert(seq, encode(&event)?.as_slice())?;
        }
        self.counters.insert(LAST_EVENT_SEQ, seq)?;
        Ok(())
    }

    /// A consumer's cursor, if it has one.
    pub(crate) fn cursor(&self, consumer: &str) -> Result<Option<u64>, Failure> {
        Ok(self.cursors.get(consumer)?.map(|v| v.value()))
    }

    /// Up to `limit` events after `cursor`, in order.
    pub(crate) fn events_after(&self, cursor: u64, limit: usize) -> Result<Vec<Event>, Failure> {
        crate::read::events_after(&self.events, cursor, limit)
    }

    /// Sets a consumer's cursor.
    pub(crate) fn set_cursor(&mut self, consumer: &str, seq: u64) -> Result<(), Failure> {
        self.touch();
        self.cursors.insert(consumer, seq)?;
        Ok(())
    }

    /// The lowest cursor of all consumers (0 when there are none): events up
    /// to it are acknowledged by everyone.
    pub(crate) fn min_cursor(&self) -> Result<u64, Failure> {
        let mut min: Option<u64> = None;
        for entry in self.cursors.iter()? {
            let (_, v) = entry?;
            let v = v.value();
            min = Some(min.map_or(v, |m| m.min(v)));
        }
        Ok(min.unwrap_or(0))
    }

    /// Removes up to `limit` events with `seq <= floor`; returns how many.
    pub(crate) fn purge_events(&mut self, floor: u64, limit: usize) -> Result<u64, Failure> {
        let due: Vec<u64> = self
            .events
            .range(..=floor)?
            .take(limit)
            .map(|e| e.map(|(k, _)| k.value()))
            .collect::<Result<_, _>>()?;
        for seq in &due {
            self.touch();
            self.events.remove(seq)?;
        }
        Ok(due.len() as u64)
    }

    // --- clients ----------------------------------------------------------

    /// The client with `id`.
    pub(crate) fn client(&self, id: &str) -> Result<Option<ClientRecord>, Failure> {
        by_id(&self.clients, id)
    }

    /// Writes a client, moving its owner index entry if the owner changed.
    pub(crate) fn put_client(
        &mut self,
        client: &ClientRecord,
        old: Option<&ClientRecord>,
    ) -> Result<(), Failure> {
        self.touch();
        if let Some(old) = old {
            if old.owner != client.owner {
                self.clients_by_owner
                    .remove((old.owner.as_str(), old.id.as_str()))?;
            }
        }
        self.clients
            .insert(client.id.as_str(), encode(client)?.as_slice())?;
        self.clients_by_owner
            .insert((client.owner.as_str(), client.id.as_str()), ())?;
        Ok(())
    }

    /// Deletes a client and its owner index entry; returns it.
    pub(crate) fn remove_client(&mut self, id: &str) -> Result<Option<ClientRecord>, Failure> {
        let Some(client) = self.client(id)? else {
            return Ok(None);
        };
        self.touch();
        self.clients.remove(id)?;
        self.clients_by_owner
            .remove((client.owner.as_str(), client.id.as_str()))?;
        Ok(Some(client))
    }

    // --- challenges -------------------------------------------------------

    /// The challenge with `hash`.
    pub(crate) fn challenge(&self, hash: &TokenHash) -> Result<Option<ChallengeRecord>, Failure> {
        by_hash(&self.challenges, &hash.0)
    }

    /// Stores a new challenge and its expiry entry.
    pub(crate) fn insert_challenge(&mut self, c: &ChallengeRecord) -> Result<(), Failure> {
        self.touch();
        self.challenges.insert(&c.hash.0, encode(c)?.as_slice())?;
        self.challenge_expiry
            .insert(expiry_key(c.expires_at, &c.hash.0).as_slice(), ())?;
        Ok(())
    }

    /// Deletes a challenge and its expiry entry.
    pub(crate) fn remove_challenge(&mut self, c: &ChallengeRecord) -> Result<(), Failure> {
        self.touch();
        self.challenges.remove(&c.hash.0)?;
        self.challenge_expiry
            .remove(expiry_key(c.expires_at, &c.hash.0).as_slice())?;
        Ok(())
    }

    // --- codes ------------------------------------------------------------

    /// The code with `hash`.
    pub(crate) fn code(&self, hash: &TokenHash) -> Result<Option<CodeRecord>, Failure> {
        by_hash(&self.codes, &hash.0)
    }

    /// Writes a code, keeping its expiry entry in step with `old`.
    pub(crate) fn put_code(
        &mut self,
        code: &CodeRecord,
        old: Option<&CodeRecord>,
    ) -> Result<(), Failure> {
        self.touch();
        if let Some(old) = old {
            if old.expires_at != code.expires_at {
                self.code_expiry
                    .remove(expiry_key(old.expires_at, &old.hash.0).as_slice())?;
            }
        }
        self.codes.insert(&code.hash.0, encode(code)?.as_slice())?;
        self.code_expiry
            .insert(expiry_key(code.expires_at, &code.hash.0).as_slice(), ())?;
        Ok(())
    }

    // --- grants -----------------------------------------------------------

    /// The grant with `id`.
    pub(crate) fn grant(&self, id: &str) -> Result<Option<GrantRecord>, Failure> {
        by_id(&self.grants, id)
    }

    /// The id of the (subject, client) grant.
    pub(crate) fn grant_id_for(
        &self,
        subject: &str,
        client_id: &str,
    ) -> Result<Option<String>, Failure> {
        Ok(self
            .grant_by_pair
            .get((subject, client_id))?
            .map(|v| v.value().to_owned()))
    }

    /// Writes a grant and its pair and client index entries. A record that
    /// already sits under this id for another pair loses its old entries, so
    /// the indexes never point at a record that says otherwise.
    pub(crate) fn put_grant(&mut self, grant: &GrantRecord) -> Result<(), Failure> {
        self.touch();
        if let Some(old) = self.grant(&grant.id)? {
            if (old.subject.as_str(), old.client_id.as_str())
                != (grant.subject.as_str(), grant.client_id.as_str())
            {
                self.unindex_grant(&old)?;
            }
        }
        self.grants
            .insert(grant.id.as_str(), encode(grant)?.as_slice())?;
        self.grant_by_pair.insert(
            (grant.subject.as_str(), grant.client_id.as_str()),
            grant.id.as_str(),
        )?;
        self.grants_by_client
            .insert((grant.client_id.as_str(), grant.id.as_str()), ())?;
        Ok(())
    }

    /// Sets a grant's `last_used_at` to `now` if that is later.
    pub(crate) fn touch_grant(&mut self, id: &str, now: Timestamp) -> Result<(), Failure> {
        if let Some(mut g) = self.grant(id)? {
            if g.last_used_at < now {
                g.last_used_at = now;
                self.touch();
                self.grants.insert(id, encode(&g)?.as_slice())?;
            }
        }
        Ok(())
    }

    /// Deletes a grant and its index entries; returns it.
    pub(crate) fn delete_grant(&mut self, id: &str) -> Result<Option<GrantRecord>, Failure> {
        let Some(g) = self.grant(id)? else {
            return Ok(None);
        };
        self.touch();
        self.grants.remove(id)?;
        self.unindex_grant(&g)?;
        Ok(Some(g))
    }

    fn unindex_grant(&mut self, g: &GrantRecord) -> Result<(), Failure> {
        // Only drop the pair entry if it still names this grant.
        let pair = (g.subject.as_str(), g.client_id.as_str());
        if self.grant_id_for(pair.0, pair.1)?.as_deref() == Some(g.id.as_str()) {
            self.grant_by_pair.remove(pair)?;
        }
        self.grants_by_client
            .remove((g.client_id.as_str(), g.id.as_str()))?;
        Ok(())
    }

    /// Ids of every grant of `client_id`.
    pub(crate) fn grants_of_client(&self, client_id: &str) -> Result<Vec<String>, Failure> {
        with_prefix(&self.grants_by_client, client_id)
    }

    /// Ids of every grant of `subject`, in client-id order.
    pub(crate) fn grants_of_subject(&self, subject: &str) -> Result<Vec<String>, Failure> {
        let mut ids = Vec::new();
        for entry in self.grant_by_pair.range((subject, "")..)? {
            let (key, id) = entry?;
            if key.value().0 != subject {
                break;
            }
            ids.push(id.value().to_owned());
        }
        Ok(ids)
    }

    // --- families ---------------------------------------------------------

    /// The family with `id`.
    pub(crate) fn family(&self, id: &str) -> Result<Option<FamilyRecord>, Failure> {
        by_id(&self.families, id)
    }

    /// Writes a family with its expiry and cascade index entries.
    pub(crate) fn put_family(
        &mut self,
        f: &FamilyRecord,
        old: Option<&FamilyRecord>,
    ) -> Result<(), Failure> {
        self.touch();
        if let Some(old) = old {
            if old.expires_at != f.expires_at {
                self.family_expiry
                    .remove(expiry_key(old.expires_at, old.id.as_bytes()).as_slice())?;
            }
        }
        let id = f.id.as_str();
        self.families.insert(id, encode(f)?.as_slice())?;
        self.family_expiry
            .insert(expiry_key(f.expires_at, id.as_bytes()).as_slice(), ())?;
        self.families_by_grant
            .insert((f.grant_id.as_str(), id), ())?;
        self.families_by_client
            .insert((f.client_id.as_str(), id), ())?;
        self.families_by_subject
            .insert((f.subject.as_str(), id), ())?;
        Ok(())
    }

    /// Indexes the family's current refresh token under its generation.
    pub(crate) fn index_refresh(&mut self, f: &FamilyRecord) -> Result<(), Failure> {
        self.touch();
        self.refresh_index
            .insert(&f.current.hash.0, (f.id.as_str(), f.generation))?;
        self.family_refresh
            .insert((f.id.as_str(), f.generation), &f.current.hash.0)?;
        Ok(())
    }

    /// Marks a family revoked unless it already is; returns whether it did.
    pub(crate) fn revoke_family(
        &mut self,
        id: &str,
        revocation: Revocation,
    ) -> Result<bool, Failure> {
        match self.family(id)? {
            Some(mut f) if f.revoked.is_none() => {
                f.revoked = Some(revocation);
                // Revocation touches no indexed field: rewrite the record only.
                self.touch();
                self.families.insert(id, encode(&f)?.as_slice())?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// Ids of every family of a grant.
    pub(crate) fn families_of_grant(&self, grant_id: &str) -> Result<Vec<String>, Failure> {
        with_prefix(&self.families_by_grant, grant_id)
    }

    /// Ids of every family of a client.
    pub(crate) fn families_of_client(&self, client_id: &str) -> Result<Vec<String>, Failure> {
        with_prefix(&self.families_by_client, client_id)
    }

    /// Ids of every family of a subject.
    pub(crate) fn families_of_subject(&self, subject: &str) -> Result<Vec<String>, Failure> {
        with_prefix(&self.families_by_subject, subject)
    }

    /// Deletes a family with every index entry and refresh hash it owns
    /// (its expiry entry is the caller's: purge has already taken it).
    /// Returns whether it existed.
    fn delete_family(&mut self, id: &str) -> Result<bool, Failure> {
        let Some(f) = self.family(id)? else {
            return Ok(false);
        };
        self.touch();
        self.families.remove(id)?;
        self.families_by_grant.remove((f.grant_id.as_str(), id))?;
        self.families_by_client.remove((f.client_id.as_str(), id))?;
        self.families_by_subject.remove((f.subject.as_str(), id))?;
        let mut generations = Vec::new();
        for entry in self.family_refresh.range((id, 0)..=(id, u64::MAX))? {
            let (key, hash) = entry?;
            generations.push((key.value().1, *hash.value()));
        }
        for (generation, hash) in generations {
            self.refresh_index.remove(&hash)?;
            self.family_refresh.remove((id, generation))?;
        }
        Ok(true)
    }

    // --- access tokens ----------------------------------------------------

    /// The access token with `hash`.
    pub(crate) fn access(&self, hash: &TokenHash) -> Result<Option<AccessTokenRecord>, Failure> {
        by_hash(&self.access, &hash.0)
    }

    /// Writes an access token, keeping its expiry entry in step with `old`.
    pub(crate) fn put_access(
        &mut self,
        t: &AccessTokenRecord,
        old: Option<&AccessTokenRecord>,
    ) -> Result<(), Failure> {
        self.touch();
        if let Some(old) = old {
            if old.expires_at != t.expires_at {
                self.access_expiry
                    .remove(expiry_key(old.expires_at, &old.hash.0).as_slice())?;
            }
        }
        self.access.insert(&t.hash.0, encode(t)?.as_slice())?;
        self.access_expiry
            .insert(expiry_key(t.expires_at, &t.hash.0).as_slice(), ())?;
        Ok(())
    }

    /// Stores an access token, replacing one with the same hash.
    pub(crate) fn upsert_access(&mut self, t: &AccessTokenRecord) -> Result<(), Failure> {
        let old = self.access(&t.hash)?;
        self.put_access(t, old.as_ref())
    }

    // --- purge ------------------------------------------------------------

    /// Removes up to `limit` challenges due at `now`; returns how many.
    pub(crate) fn purge_challenges(
        &mut self,
        now: Timestamp,
        limit: usize,
    ) -> Result<u64, Failure> {
        let due = take_due(&mut self.challenge_expiry, now, limit)?;
        self.changed |= !due.is_empty();
        let mut n = 0;
        for key in due {
            let hash = crate::codec::hash_key(expiry_record_key(&key)?)?;
            n += u64::from(self.challenges.remove(&hash)?.is_some());
        }
        Ok(n)
    }

    /// Removes up to `limit` codes due at `now`; returns how many.
    pub(crate) fn purge_codes(&mut self, now: Timestamp, limit: usize) -> Result<u64, Failure> {
        let due = take_due(&mut self.code_expiry, now, limit)?;
        self.changed |= !due.is_empty();
        let mut n = 0;
        for key in due {
            let hash = crate::codec::hash_key(expiry_record_key(&key)?)?;
            n += u64::from(self.codes.remove(&hash)?.is_some());
        }
        Ok(n)
    }

    /// Removes up to `limit` access tokens due at `now`; returns how many.
    pub(crate) fn purge_access(&mut self, now: Timestamp, limit: usize) -> Result<u64, Failure> {
        let due = take_due(&mut self.access_expiry, now, limit)?;
        self.changed |= !due.is_empty();
        let mut n = 0;
        for key in due {
            let hash = crate::codec::hash_key(expiry_record_key(&key)?)?;
            n += u64::from(self.access.remove(&hash)?.is_some());
        }
        Ok(n)
    }

    /// Removes up to `limit` families due at `now`, with their refresh
    /// index; returns how many.
    pub(crate) fn purge_families(&mut self, now: Timestamp, limit: usize) -> Result<u64, Failure> {
        let due = take_due(&mut self.family_expiry, now, limit)?;
        self.changed |= !due.is_empty();
        let mut n = 0;
        for key in due {
            let id = crate::codec::id_key(expiry_record_key(&key)?)?;
            n += u64::from(self.delete_family(id)?);
        }
        Ok(n)
    }
}

/// Takes (reads and deletes) up to `limit` expiry entries due at `now`,
/// oldest first. The scan stops at the first entry not due, so the cost is
/// proportional to what is removed.
fn take_due(index: &mut Expiry<'_>, now: Timestamp, limit: usize) -> Result<Vec<Vec<u8>>, Failure> {
    let bound = expiry_bound(now);
    let range = match &bound {
        Some(b) => index.range::<&[u8]>(..&b[..])?,
        None => index.range::<&[u8]>(..)?,
    };
    let due: Vec<Vec<u8>> = range
        .take(limit)
        .map(|e| e.map(|(k, _)| k.value().to_vec()))
        .collect::<Result<_, _>>()?;
    for key in &due {
        index.remove(key.as_slice())?;
    }
    Ok(due)
}
