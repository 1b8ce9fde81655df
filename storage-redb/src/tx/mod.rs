//! One write transaction, its tables opened on first use, and the
//! record-level changes the contracts are built from. Each helper keeps a record and all
//! of its index entries in step, so no contract can update one and forget
//! the other.
//!
//! Every mutation goes through a method here, which marks the transaction
//! changed; [`crate::writer`] commits only changed transactions, so a call
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

type Hash = &'static [u8; 32];

/// Declares the lazily opened tables of a write transaction: one slot and
/// one accessor per table, so an operation opens (and, at commit, writes
/// back the root of) only the tables it touches.
macro_rules! tables {
    ($($name:ident: ($k:ty, $v:ty) = $def:ident;)*) => {
        /// The tables of one write transaction, each opened on first use.
        pub(crate) struct Tables<'t> {
            txn: &'t WriteTransaction,
            $($name: Option<Table<'t, $k, $v>>,)*
        }

        impl<'t> Tables<'t> {
            fn new(txn: &'t WriteTransaction) -> Self {
                Tables { txn, $($name: None,)* }
            }

            $(
                #[doc = concat!("The `", stringify!($def), "` table, opened on first use.")]
                pub(crate) fn $name(&mut self) -> Result<&mut Table<'t, $k, $v>, Failure> {
                    let table = match self.$name.take() {
                        Some(t) => t,
                        None => self.txn.open_table($def)?,
                    };
                    Ok(self.$name.insert(table))
                }
            )*
        }
    };
}

tables! {
    counters: (&'static str, u64) = COUNTERS;
    clients: (&'static str, &'static [u8]) = CLIENTS;
    clients_by_owner: ((&'static str, &'static str), ()) = CLIENTS_BY_OWNER;
    challenges: (Hash, &'static [u8]) = CHALLENGES;
    challenge_expiry: (&'static [u8], ()) = CHALLENGE_EXPIRY;
    codes: (Hash, &'static [u8]) = CODES;
    code_expiry: (&'static [u8], ()) = CODE_EXPIRY;
    grants: (&'static str, &'static [u8]) = GRANTS;
    grant_by_pair: ((&'static str, &'static str), &'static str) = GRANT_BY_PAIR;
    grants_by_client: ((&'static str, &'static str), ()) = GRANTS_BY_CLIENT;
    families: (&'static str, &'static [u8]) = FAMILIES;
    family_expiry: (&'static [u8], ()) = FAMILY_EXPIRY;
    families_by_grant: ((&'static str, &'static str), ()) = FAMILIES_BY_GRANT;
    families_by_client: ((&'static str, &'static str), ()) = FAMILIES_BY_CLIENT;
    families_by_subject: ((&'static str, &'static str), ()) = FAMILIES_BY_SUBJECT;
    refresh_index: (Hash, (&'static str, u64)) = REFRESH_INDEX;
    family_refresh: ((&'static str, u64), Hash) = FAMILY_REFRESH;
    access: (Hash, &'static [u8]) = ACCESS;
    access_expiry: (&'static [u8], ()) = ACCESS_EXPIRY;
    access_by_client: ((&'static str, Hash), ()) = ACCESS_BY_CLIENT;
    events: (u64, &'static [u8]) = EVENTS;
    cursors: (&'static str, u64) = CURSORS;
    sessions: (Hash, &'static [u8]) = BROWSER_SESSIONS;
    session_idle: (&'static [u8], ()) = SESSION_IDLE;
    session_age: (&'static [u8], ()) = SESSION_AGE;
    devices: (Hash, &'static [u8]) = DEVICES;
    device_by_user_code: (Hash, Hash) = DEVICE_BY_USER_CODE;
    device_expiry: (&'static [u8], ()) = DEVICE_EXPIRY;
    signing_keys: (&'static str, &'static [u8]) = SIGNING_KEYS;
}

/// An expiry index: `expires_at` big-endian ++ key → ().
type Expiry<'t> = Table<'t, &'static [u8], ()>;

/// A write transaction's tables, and whether anything was written.
pub(crate) struct Tx<'t> {
    t: Tables<'t>,
    changed: bool,
    op: &'static str,
    hooks: &'t Hooks,
}

impl<'t> Tx<'t> {
    /// A view of `txn` for the operation `op`; no table is open yet.
    pub(crate) fn new(txn: &'t WriteTransaction, op: &'static str, hooks: &'t Hooks) -> Self {
        Tx {
            t: Tables::new(txn),
            changed: false,
            op,
            hooks,
        }
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
