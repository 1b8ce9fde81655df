//! The on-disk layout: every table, its key and value types, and the schema
//! version that names them.
//!
//! Data tables carry the schema version in their name (`v1/…`), so a future
//! layout can be written next to this one and migrated table by table. The
//! meta table is the exception: its name and types never change, so every
//! version can read which version a file holds before touching anything
//! else.
//!
//! Keys are [`latchkey::token::TokenHash`] bytes or ids, never a clear
//! credential. Values are JSON records (see [`crate::codec`]) unless noted.

use redb::{TableDefinition, TableHandle as _, WriteTransaction};

use crate::error::Failure;

/// The layout version this build writes and reads.
pub const SCHEMA_VERSION: u64 = 1;

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

/// Sequence number → event record.
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("v1/events");
/// Consumer name → last acknowledged sequence number.
pub(crate) const CURSORS: TableDefinition<&str, u64> = TableDefinition::new("v1/cursors");

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
        EVENTS.name(),
        CURSORS.name(),
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
    txn.open_table(EVENTS)?;
    txn.open_table(CURSORS)?;
    Ok(())
}
