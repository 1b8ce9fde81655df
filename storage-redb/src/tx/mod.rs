//! One write transaction with every table open, and the record-level
//! changes the contracts are built from. Each helper keeps a record and all
//! of its index entries in step, so no contract can update one and forget
//! the other.
//!
//! Every mutation goes through a method here, which marks the transaction
//! changed; [`crate::store`] commits only changed transactions, so a call
//! that decides to do nothing costs no fsync.

mod access;
mod challenges;
mod clients;
mod codes;
mod devices;
mod events;
mod families;
mod grants;
mod purge;
mod sessions;
pub(crate) mod signing_keys;

use redb::{Table, WriteTransaction};

use crate::error::Failure;
use crate::hooks::Hooks;
use crate::tables::{
    ACCESS, ACCESS_BY_CLIENT, ACCESS_EXPIRY, BROWSER_SESSIONS, CHALLENGES, CHALLENGE_EXPIRY,
    CLIENTS, CLIENTS_BY_OWNER, CODES, CODE_EXPIRY, COUNTERS, CURSORS, DEVICES, DEVICE_BY_USER_CODE,
    DEVICE_EXPIRY, EVENTS, FAMILIES, FAMILIES_BY_CLIENT, FAMILIES_BY_GRANT, FAMILIES_BY_SUBJECT,
    FAMILY_EXPIRY, FAMILY_REFRESH, GRANTS, GRANTS_BY_CLIENT, GRANT_BY_PAIR, REFRESH_INDEX,
    SESSION_AGE, SESSION_IDLE, SIGNING_KEYS,
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
    access_by_client: Table<'t, (&'static str, Hash), ()>,
    events: Table<'t, u64, &'static [u8]>,
    cursors: Table<'t, &'static str, u64>,
    sessions: Records<'t, Hash>,
    session_idle: Expiry<'t>,
    session_age: Expiry<'t>,
    devices: Records<'t, Hash>,
    device_by_user_code: Table<'t, Hash, Hash>,
    device_expiry: Expiry<'t>,
    signing_keys: Records<'t, &'static str>,
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
            access_by_client: txn.open_table(ACCESS_BY_CLIENT)?,
            events: txn.open_table(EVENTS)?,
            cursors: txn.open_table(CURSORS)?,
            sessions: txn.open_table(BROWSER_SESSIONS)?,
            session_idle: txn.open_table(SESSION_IDLE)?,
            session_age: txn.open_table(SESSION_AGE)?,
            devices: txn.open_table(DEVICES)?,
            device_by_user_code: txn.open_table(DEVICE_BY_USER_CODE)?,
            device_expiry: txn.open_table(DEVICE_EXPIRY)?,
            signing_keys: txn.open_table(SIGNING_KEYS)?,
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
}
