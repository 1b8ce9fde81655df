//! The on-disk layout: every table, its key and value types, and the schema
//! version that names them.
//!
//! Data tables carry in their name the schema version that introduced their
//! layout (`v1/…`, `v2/…`), so a future layout can be written next to this
//! one and migrated table by table; a table whose layout did not change
//! keeps its name, and its data, across versions. The meta table is the
//! exception: its name and types never change, so every version can read
//! which version a file holds before touching anything else.
//!
//! History:
//! - 1: the first layout.
//! - 2: adds [`ACCESS_BY_CLIENT`], so `delete_client` revokes a client's
//!   stand-alone access tokens without scanning every token. A version-1
//!   file is upgraded in place on open (see [`upgrade_from_v1`]).
//! - 3: adds [`BROWSER_SESSIONS`] with its two expiry indexes
//!   ([`SESSION_IDLE`], [`SESSION_AGE`]), for
//!   `latchkey::storage::BrowserSessionStore`. Nothing existing changes, so
//!   the upgrade from 2 only creates them, empty; a version-1 file gets
//!   both upgrades in one transaction.
//! - 4: adds [`DEVICES`] with its user-code index ([`DEVICE_BY_USER_CODE`])
//!   and expiry index ([`DEVICE_EXPIRY`]), for
//!   `latchkey::storage::DeviceStore` (RFC 8628). Again only new tables:
//!   the upgrade from 3 creates them, empty, and older files get every
//!   step in one transaction.
//! - 5: adds [`SIGNING_KEYS`], for `latchkey::storage::SigningKeyStore`
//!   (JWT access tokens). Only a new table: the upgrade from 4 creates it,
//!   empty, and older files get every step in one transaction.
//! - 6: values may be compact binary records (see [`crate::codec`]) as
//!   well as JSON. No table changes and nothing is rewritten: version 6
//!   reads version 5's JSON records as they are and writes them back
//!   compact when they next change. The version number exists so that a
//!   version-5 build refuses ([`crate::OpenError::NewerSchema`]) a file
//!   whose records it could not read.
//!
//! Keys are [`latchkey::token::TokenHash`] bytes or ids, never a clear
//! credential. Values are records in either encoding of [`crate::codec`]
//! unless noted.

use latchkey::clock::{Clock as _, SystemClock};
use latchkey::model::AccessTokenRecord;
use redb::{ReadableTable as _, TableDefinition, TableHandle as _, WriteTransaction};

use crate::codec::{decode, encode};
use crate::error::Failure;

/// The layout version this build writes and reads. Older versions it
/// upgrades on open: 1 to 5.
pub const SCHEMA_VERSION: u64 = 6;

/// Unversioned on purpose: `schema_version` → `u64`, readable by every
/// version of this crate.
pub(crate) const META: TableDefinition<&str, u64> = TableDefinition::new("latchkey/meta");
/// The key of the schema version in [`META`].
pub(crate) const SCHEMA_KEY: &str = "schema_version";

/// Named counters: [`LAST_EVENT_SEQ`] → last sequence number handed out.
pub(crate) const COUNTERS: TableDefinition<&str, u64> = TableDefinition::new("v1/counters");
/// Kept apart from the events table because a purge may empty it, and
/// sequence numbers must never be reused.
pub(crate) const LAST_EVENT_SEQ: &str = "last_event_seq";

/// Client id → client record.
pub(crate) const CLIENTS: TableDefinition<&str, &[u8]> = TableDefinition::new("v1/clients");
/// (owner, client id) → (), for `list_clients` in id order.
pub(crate) const CLIENTS_BY_OWNER: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("v1/clients_by_owner");

/// Challenge hash → challenge record.
pub(crate) const CHALLENGES: TableDefinition<&[u8; 32], &[u8]> =
    TableDefinition::new("v1/challenges");
/// Expiry key (see [`crate::codec::expiry_key`]) of each challenge → ().
pub(crate) const CHALLENGE_EXPIRY: TableDefinition<&[u8], ()> =
    TableDefinition::new("v1/challenge_expiry");

/// Code hash → code record.
pub(crate) const CODES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("v1/codes");
/// Expiry key of each code → ().
pub(crate) const CODE_EXPIRY: TableDefinition<&[u8], ()> = TableDefinition::new("v1/code_expiry");

/// Grant id → grant record.
pub(crate) const GRANTS: TableDefinition<&str, &[u8]> = TableDefinition::new("v1/grants");
/// (subject, client id) → grant id: the one-grant-per-pair rule, and the
/// grants of a subject in client-id order.
pub(crate) const GRANT_BY_PAIR: TableDefinition<(&str, &str), &str> =
    TableDefinition::new("v1/grant_by_pair");
/// (client id, grant id) → (), for the `delete_client` cascade.
pub(crate) const GRANTS_BY_CLIENT: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("v1/grants_by_client");

/// Family id → family record.
pub(crate) const FAMILIES: TableDefinition<&str, &[u8]> = TableDefinition::new("v1/families");
/// Expiry key of each family → ().
pub(crate) const FAMILY_EXPIRY: TableDefinition<&[u8], ()> =
    TableDefinition::new("v1/family_expiry");
/// (grant id, family id) → (), for the `revoke_grant` cascade.
pub(crate) const FAMILIES_BY_GRANT: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("v1/families_by_grant");
/// (client id, family id) → (), for the `delete_client` cascade.
pub(crate) const FAMILIES_BY_CLIENT: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("v1/families_by_client");
/// (subject, family id) → (), for the `revoke_subject` cascade.
pub(crate) const FAMILIES_BY_SUBJECT: TableDefinition<(&str, &str), ()> =
    TableDefinition::new("v1/families_by_subject");

/// Refresh token hash (any generation) → (family id, generation).
pub(crate) const REFRESH_INDEX: TableDefinition<&[u8; 32], (&str, u64)> =
    TableDefinition::new("v1/refresh_index");
/// (family id, generation) → refresh token hash, so purging a family finds
/// every refresh hash it indexed.
pub(crate) const FAMILY_REFRESH: TableDefinition<(&str, u64), &[u8; 32]> =
    TableDefinition::new("v1/family_refresh");

/// Access token hash → access token record.
pub(crate) const ACCESS: TableDefinition<&[u8; 32], &[u8]> =
    TableDefinition::new("v1/access_tokens");
/// Expiry key of each access token → ().
pub(crate) const ACCESS_EXPIRY: TableDefinition<&[u8], ()> =
    TableDefinition::new("v1/access_expiry");
/// (client id, token hash) → () for every stand-alone access token (no
/// family: `client_credentials`), so the `delete_client` cascade revokes
/// them at the cost of what the client has, not of the whole token table.
/// Family tokens need no entry: they die with their family.
pub(crate) const ACCESS_BY_CLIENT: TableDefinition<(&str, &[u8; 32]), ()> =
    TableDefinition::new("v2/access_by_client");

/// Sequence number → event record.
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("v1/events");
/// Consumer name → last acknowledged sequence number.
pub(crate) const CURSORS: TableDefinition<&str, u64> = TableDefinition::new("v1/cursors");

/// Session key (SHA-256 of the cookie) → browser session record (see
/// [`crate::codec::StoredSession`]).
pub(crate) const BROWSER_SESSIONS: TableDefinition<&[u8; 32], &[u8]> =
    TableDefinition::new("v3/browser_sessions");
/// Expiry key of each session by `last_seen` (the idle timeout) → ().
pub(crate) const SESSION_IDLE: TableDefinition<&[u8], ()> =
    TableDefinition::new("v3/browser_session_idle");
/// Expiry key of each session by `created_at` (the absolute lifetime) → ().
pub(crate) const SESSION_AGE: TableDefinition<&[u8], ()> =
    TableDefinition::new("v3/browser_session_age");

/// Device-code hash → device authorization record.
pub(crate) const DEVICES: TableDefinition<&[u8; 32], &[u8]> = TableDefinition::new("v4/devices");
/// User-code hash → device-code hash: unique, so two live device
/// authorizations never share a user code.
pub(crate) const DEVICE_BY_USER_CODE: TableDefinition<&[u8; 32], &[u8; 32]> =
    TableDefinition::new("v4/device_by_user_code");
/// Expiry key of each device authorization → ().
pub(crate) const DEVICE_EXPIRY: TableDefinition<&[u8], ()> =
    TableDefinition::new("v4/device_expiry");

/// `kid` → access-token signing key (public key, sealed private key,
/// rotation state). A handful of rows: the at-most-one active and pending
/// rule is checked by reading them all inside the write transaction.
pub(crate) const SIGNING_KEYS: TableDefinition<&str, &[u8]> =
    TableDefinition::new("v5/signing_keys");

/// Names of every data table of this version, for checks and tests.
pub(crate) fn versioned_table_names() -> Vec<&'static str> {
    vec![
        COUNTERS.name(),
        CLIENTS.name(),
        CLIENTS_BY_OWNER.name(),
        CHALLENGES.name(),
        CHALLENGE_EXPIRY.name(),
        CODES.name(),
        CODE_EXPIRY.name(),
        GRANTS.name(),
        GRANT_BY_PAIR.name(),
        GRANTS_BY_CLIENT.name(),
        FAMILIES.name(),
        FAMILY_EXPIRY.name(),
        FAMILIES_BY_GRANT.name(),
        FAMILIES_BY_CLIENT.name(),
        FAMILIES_BY_SUBJECT.name(),
        REFRESH_INDEX.name(),
        FAMILY_REFRESH.name(),
        ACCESS.name(),
        ACCESS_EXPIRY.name(),
        ACCESS_BY_CLIENT.name(),
        EVENTS.name(),
        CURSORS.name(),
        BROWSER_SESSIONS.name(),
        SESSION_IDLE.name(),
        SESSION_AGE.name(),
        DEVICES.name(),
        DEVICE_BY_USER_CODE.name(),
        DEVICE_EXPIRY.name(),
        SIGNING_KEYS.name(),
    ]
}

/// Creates every data table (opening a table in a write transaction creates
/// it), so read transactions never meet a missing one.
pub(crate) fn create_all(txn: &WriteTransaction) -> Result<(), Failure> {
    txn.open_table(COUNTERS)?;
    txn.open_table(CLIENTS)?;
    txn.open_table(CLIENTS_BY_OWNER)?;
    txn.open_table(CHALLENGES)?;
    txn.open_table(CHALLENGE_EXPIRY)?;
    txn.open_table(CODES)?;
    txn.open_table(CODE_EXPIRY)?;
    txn.open_table(GRANTS)?;
    txn.open_table(GRANT_BY_PAIR)?;
    txn.open_table(GRANTS_BY_CLIENT)?;
    txn.open_table(FAMILIES)?;
    txn.open_table(FAMILY_EXPIRY)?;
    txn.open_table(FAMILIES_BY_GRANT)?;
    txn.open_table(FAMILIES_BY_CLIENT)?;
    txn.open_table(FAMILIES_BY_SUBJECT)?;
    txn.open_table(REFRESH_INDEX)?;
    txn.open_table(FAMILY_REFRESH)?;
    txn.open_table(ACCESS)?;
    txn.open_table(ACCESS_EXPIRY)?;
    txn.open_table(ACCESS_BY_CLIENT)?;
    txn.open_table(EVENTS)?;
    txn.open_table(CURSORS)?;
    txn.open_table(BROWSER_SESSIONS)?;
    txn.open_table(SESSION_IDLE)?;
    txn.open_table(SESSION_AGE)?;
    txn.open_table(DEVICES)?;
    txn.open_table(DEVICE_BY_USER_CODE)?;
    txn.open_table(DEVICE_EXPIRY)?;
    txn.open_table(SIGNING_KEYS)?;
    Ok(())
}

/// Upgrades a version-1 layout to version 2 inside `txn` (the caller sets
/// the version and commits, so the upgrade is one transaction: a crash
/// leaves the file at version 1, intact, and the next open upgrades again).
///
/// Creates [`ACCESS_BY_CLIENT`] and fills it from the access-token table.
/// Version 1 left the stand-alone tokens of a deleted client unrevoked
/// (the engine then asked for the client on every use); version 2 relies
/// on `delete_client` having revoked them, so the upgrade revokes every
/// still-unrevoked stand-alone token whose client no longer exists, as of
/// now (the deletion time was not recorded). Without that, those tokens
/// would read as live again after the upgrade.
pub(crate) fn upgrade_from_v1(txn: &WriteTransaction) -> Result<(), Failure> {
    let now = SystemClock.now();
    let clients = txn.open_table(CLIENTS)?;
    let mut access = txn.open_table(ACCESS)?;
    let mut index = txn.open_table(ACCESS_BY_CLIENT)?;
    let mut orphans = Vec::new();
    for entry in access.iter()? {
        let (_, bytes) = entry?;
        let t: AccessTokenRecord = decode(bytes.value())?;
        if t.family_id.is_some() {
            continue;
        }
        index.insert((t.client_id.as_str(), &t.hash.0), ())?;
        if t.revoked_at.is_none() && clients.get(t.client_id.as_str())?.is_none() {
            orphans.push(t);
        }
    }
    for mut t in orphans {
        // Only `revoked_at` changes: the expiry index entry stays valid.
        t.revoked_at = Some(now);
        access.insert(&t.hash.0, encode(&t)?.as_slice())?;
    }
    Ok(())
}
