//! Records to columns and back, shared by every dialect.
//!
//! Lists and nested structures (redirect URIs, resources, client metadata,
//! event payloads) are stored as JSON text: they are read and written whole
//! and never queried into, so one portable text column beats a child table.
//! Everything a query filters, joins, orders or compares-and-swaps on is a
//! column of its own.

use latchkey::clock::Timestamp;
use latchkey::model::{
    AccessTokenRecord, ChallengeRecord, ClientRecord, CodeRecord, CodeStatus, Event, FamilyRecord,
    GrantRecord, PreviousGeneration, RefreshGeneration, Revocation, RevocationReason,
};
use latchkey::scope::ScopeSet;
use latchkey::storage::CodeFailure;
use latchkey::token::TokenHash;
use latchkey::web::{CsrfToken, SessionKey, SessionRecord};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{corrupt, DbError};

mod devices;
pub(crate) use devices::{bind_device, device_cols, device_from, DEVICE_DENIED};
mod signing_keys;
pub(crate) use signing_keys::{bind_signing_key, signing_key_cols, signing_key_from};

/// Typed column access, implemented for each dialect's row type so the
/// decoders below are written once.
pub(crate) trait Cols {
    fn i64(&self, col: &str) -> Result<i64, DbError>;
    fn opt_i64(&self, col: &str) -> Result<Option<i64>, DbError>;
    fn text(&self, col: &str) -> Result<String, DbError>;
    fn opt_text(&self, col: &str) -> Result<Option<String>, DbError>;
    fn bytes(&self, col: &str) -> Result<Vec<u8>, DbError>;
    fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, DbError>;
    fn boolean(&self, col: &str) -> Result<bool, DbError>;
}

/// Implements [`Cols`] for a concrete row type.
#[cfg(any(feature = "postgres", feature = "sqlite"))]
macro_rules! impl_cols {
    ($row:ty) => {
        impl $crate::codec::Cols for $row {
            fn i64(&self, col: &str) -> Result<i64, $crate::error::DbError> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn opt_i64(&self, col: &str) -> Result<Option<i64>, $crate::error::DbError> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn text(&self, col: &str) -> Result<String, $crate::error::DbError> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn opt_text(&self, col: &str) -> Result<Option<String>, $crate::error::DbError> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn bytes(&self, col: &str) -> Result<Vec<u8>, $crate::error::DbError> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>, $crate::error::DbError> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
            fn boolean(&self, col: &str) -> Result<bool, $crate::error::DbError> {
                Ok(sqlx::Row::try_get(self, col)?)
            }
        }
    };
}
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) use impl_cols;

/// A timestamp as a signed column value. `u64` seconds beyond `i64::MAX`
/// (year 292 billion) saturate rather than wrap.
pub(crate) fn ts(t: Timestamp) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

/// A counter (revision, generation, seq) as a column value.
pub(crate) fn int(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn uint(v: i64, what: &str) -> Result<u64, DbError> {
    u64::try_from(v).map_err(|_| corrupt(format!("negative {what}")))
}

fn time(v: i64) -> Result<Timestamp, DbError> {
    uint(v, "timestamp").map(Timestamp)
}

/// A stored hash back to a [`TokenHash`].
pub(crate) fn hash(v: Vec<u8>) -> Result<TokenHash, DbError> {
    <[u8; 32]>::try_from(v.as_slice())
        .map(TokenHash)
        .map_err(|_| corrupt("token hash is not 32 bytes"))
}

/// Canonical space-separated scope text (the set is kept sorted).
pub(crate) fn scopes(s: &ScopeSet) -> String {
    s.to_string()
}

fn parse_scopes(s: &str) -> Result<ScopeSet, DbError> {
    ScopeSet::from_tokens(s.split(' ').filter(|t| !t.is_empty()))
        .map_err(|_| corrupt("malformed stored scopes"))
}

/// JSON text of a value.
pub(crate) fn json<T: Serialize + ?Sized>(v: &T) -> Result<String, DbError> {
    serde_json::to_string(v).map_err(|e| corrupt(format!("encoding JSON: {e}")))
}

fn from_json<T: DeserializeOwned>(s: &str) -> Result<T, DbError> {
    serde_json::from_str(s).map_err(|e| corrupt(format!("decoding stored JSON: {e}")))
}

/// The wire name of a revocation reason.
pub(crate) fn reason(r: RevocationReason) -> Result<String, DbError> {
    match serde_json::to_value(r) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        _ => Err(corrupt("revocation reason is not a string")),
    }
}

fn parse_reason(s: String) -> Result<RevocationReason, DbError> {
    serde_json::from_value(serde_json::Value::String(s))
        .map_err(|_| corrupt("unknown revocation reason"))
}

/// Code status column values.
pub(crate) const CODE_UNUSED: &str = "unused";
pub(crate) const CODE_REDEEMED: &str = "redeemed";
pub(crate) const CODE_BURNED: &str = "burned";

/// Columns of `lk_clients` read back.
macro_rules! client_cols {
    () => {
        "body"
    };
}
pub(crate) use client_cols;

pub(crate) fn client_from(r: &impl Cols) -> Result<ClientRecord, DbError> {
    from_json(&r.text("body")?)
}

macro_rules! challenge_cols {
    () => {
        "hash, binding, request, created_at, expires_at"
    };
}
pub(crate) use challenge_cols;

pub(crate) fn challenge_from(r: &impl Cols) -> Result<ChallengeRecord, DbError> {
    Ok(ChallengeRecord {
        hash: hash(r.bytes("hash")?)?,
        binding: hash(r.bytes("binding")?)?,
        request: from_json(&r.text("request")?)?,
        created_at: time(r.i64("created_at")?)?,
        expires_at: time(r.i64("expires_at")?)?,
    })
}

macro_rules! grant_cols {
    () => {
        "id, subject, client_id, scopes, resources, remembered_scopes, created_at, last_used_at, revision"
    };
}
pub(crate) use grant_cols;

pub(crate) fn grant_from(r: &impl Cols) -> Result<GrantRecord, DbError> {
    Ok(GrantRecord {
        id: r.text("id")?,
        subject: r.text("subject")?,
        client_id: r.text("client_id")?,
        scopes: parse_scopes(&r.text("scopes")?)?,
        resources: from_json(&r.text("resources")?)?,
        remembered_scopes: r
            .opt_text("remembered_scopes")?
            .map(|s| parse_scopes(&s))
            .transpose()?,
        created_at: time(r.i64("created_at")?)?,
        last_used_at: time(r.i64("last_used_at")?)?,
        revision: uint(r.i64("revision")?, "revision")?,
    })
}

macro_rules! code_cols {
    () => {
        "hash, client_id, grant_id, subject, redirect_uri, redirect_uri_explicit, scopes, resources, code_challenge, issued_at, expires_at, failed_attempts, status, family_id"
    };
}
pub(crate) use code_cols;

pub(crate) fn code_from(r: &impl Cols) -> Result<CodeRecord, DbError> {
    let status = match r.text("status")?.as_str() {
        CODE_UNUSED => CodeStatus::Unused,
        CODE_BURNED => CodeStatus::Burned,
        CODE_REDEEMED => CodeStatus::Redeemed {
            family_id: r
                .opt_text("family_id")?
                .ok_or_else(|| corrupt("redeemed code without family"))?,
        },
        other => return Err(corrupt(format!("unknown code status {other}"))),
    };
    Ok(CodeRecord {
        hash: hash(r.bytes("hash")?)?,
        client_id: r.text("client_id")?,
        grant_id: r.text("grant_id")?,
        subject: r.text("subject")?,
        redirect_uri: r.text("redirect_uri")?,
        redirect_uri_explicit: r.boolean("redirect_uri_explicit")?,
        scopes: parse_scopes(&r.text("scopes")?)?,
        resources: from_json(&r.text("resources")?)?,
        code_challenge: r.text("code_challenge")?,
        issued_at: time(r.i64("issued_at")?)?,
        expires_at: time(r.i64("expires_at")?)?,
        failed_attempts: u32::try_from(r.i64("failed_attempts")?)
            .map_err(|_| corrupt("failed_attempts out of range"))?,
        status,
    })
}

/// Family columns, qualified by alias `f` so they can be joined.
macro_rules! family_cols {
    () => {
        "f.id, f.grant_id, f.client_id, f.subject, f.scopes, f.resources, f.generation, f.current_hash, f.current_issued_at, f.current_expires_at, f.previous_hash, f.previous_rotated_at, f.previous_sealed, f.created_at, f.expires_at, f.revoked_at, f.revoked_reason"
    };
}
pub(crate) use family_cols;

pub(crate) fn family_from(r: &impl Cols) -> Result<FamilyRecord, DbError> {
    let previous = match (
        r.opt_bytes("previous_hash")?,
        r.opt_i64("previous_rotated_at")?,
        r.opt_bytes("previous_sealed")?,
    ) {
        (Some(h), Some(at), Some(sealed)) => Some(PreviousGeneration {
            hash: hash(h)?,
            rotated_at: time(at)?,
            sealed_successor: sealed,
        }),
        (None, None, None) => None,
        _ => return Err(corrupt("partial previous generation")),
    };
    let revoked = match (r.opt_i64("revoked_at")?, r.opt_text("revoked_reason")?) {
        (Some(at), Some(reason)) => Some(Revocation {
            at: time(at)?,
            reason: parse_reason(reason)?,
        }),
        (None, None) => None,
        _ => return Err(corrupt("partial revocation")),
    };
    Ok(FamilyRecord {
        id: r.text("id")?,
        grant_id: r.text("grant_id")?,
        client_id: r.text("client_id")?,
        subject: r.text("subject")?,
        scopes: parse_scopes(&r.text("scopes")?)?,
        resources: from_json(&r.text("resources")?)?,
        generation: uint(r.i64("generation")?, "generation")?,
        current: RefreshGeneration {
            hash: hash(r.bytes("current_hash")?)?,
            issued_at: time(r.i64("current_issued_at")?)?,
            expires_at: time(r.i64("current_expires_at")?)?,
        },
        previous,
        created_at: time(r.i64("created_at")?)?,
        expires_at: time(r.i64("expires_at")?)?,
        revoked,
    })
}

/// Access-token columns, qualified by alias `a`.
macro_rules! access_cols {
    () => {
        "a.hash, a.family_id, a.client_id, a.subject, a.scopes, a.resources, a.issued_at, a.expires_at, a.revoked_at"
    };
}
pub(crate) use access_cols;

pub(crate) fn access_from(r: &impl Cols) -> Result<AccessTokenRecord, DbError> {
    Ok(AccessTokenRecord {
        hash: hash(r.bytes("hash")?)?,
        family_id: r.opt_text("family_id")?,
        client_id: r.text("client_id")?,
        subject: r.text("subject")?,
        scopes: parse_scopes(&r.text("scopes")?)?,
        resources: from_json(&r.text("resources")?)?,
        issued_at: time(r.i64("issued_at")?)?,
        expires_at: time(r.i64("expires_at")?)?,
        revoked_at: r.opt_i64("revoked_at")?.map(time).transpose()?,
    })
}

/// The refresh-token lookup, up to the hash's placeholder (`$1` or `?`):
/// the family joined to the token, read by [`refresh_from`].
macro_rules! refresh_sql {
    () => {
        concat!(
            "SELECT r.generation AS token_generation, ",
            $crate::codec::family_cols!(),
            " FROM lk_refresh_tokens r JOIN lk_families f ON f.id = r.family_id WHERE r.hash = "
        )
    };
}
pub(crate) use refresh_sql;

/// A refresh-token lookup: the family (`family_cols!()`) and the token's own
/// generation, selected as `token_generation`.
pub(crate) fn refresh_from(r: &impl Cols) -> Result<(FamilyRecord, u64), DbError> {
    let g =
        u64::try_from(r.i64("token_generation")?).map_err(|_| corrupt("negative generation"))?;
    Ok((family_from(r)?, g))
}

/// The access-token lookup, up to the hash's placeholder (`$1` or `?`). One
/// read joins the family, so the view is consistent; `family_revoked_at`
/// is NULL when the token has no family or the family is live.
macro_rules! access_view_sql {
    () => {
        concat!(
            "SELECT ",
            $crate::codec::access_cols!(),
            ", f.revoked_at AS family_revoked_at ",
            "FROM lk_access_tokens a LEFT JOIN lk_families f ON f.id = a.family_id WHERE a.hash = "
        )
    };
}
pub(crate) use access_view_sql;

/// An access-token lookup (see `access_view_sql!`). The family's
/// revocation time is read rather than a boolean: MySQL has no boolean
/// expression type to decode.
pub(crate) fn access_view_from(r: &impl Cols) -> Result<latchkey::model::AccessTokenView, DbError> {
    Ok(latchkey::model::AccessTokenView {
        token: access_from(r)?,
        family_revoked: r.opt_i64("family_revoked_at")?.is_some(),
    })
}

/// A counted failure, from the code row's `status` and `failed_attempts`
/// after the increment.
pub(crate) fn code_failure_from(r: &impl Cols) -> Result<CodeFailure, DbError> {
    Ok(if r.text("status")? == CODE_BURNED {
        CodeFailure::Burned
    } else {
        CodeFailure::Counted(u32::try_from(r.i64("failed_attempts")?).unwrap_or(u32::MAX))
    })
}

/// Why a code was not redeemed, from its `status` and `family_id` (or its
/// absence): a repeated exchange learns the family to revoke.
pub(crate) fn not_redeemed_from(
    r: Option<&impl Cols>,
) -> Result<latchkey::storage::RedeemOutcome, DbError> {
    use latchkey::storage::RedeemOutcome;
    Ok(match r {
        Some(r) if r.text("status")? == CODE_REDEEMED => RedeemOutcome::AlreadyRedeemed {
            family_id: r
                .opt_text("family_id")?
                .ok_or_else(|| corrupt("redeemed code without family"))?,
        },
        _ => RedeemOutcome::Invalid,
    })
}

macro_rules! event_cols {
    () => {
        "seq, at, kind, audit"
    };
}
pub(crate) use event_cols;

pub(crate) fn event_from(r: &impl Cols) -> Result<Event, DbError> {
    Ok(Event {
        seq: uint(r.i64("seq")?, "seq")?,
        at: time(r.i64("at")?)?,
        kind: from_json(&r.text("kind")?)?,
        audit: r.opt_text("audit")?.map(|a| from_json(&a)).transpose()?,
    })
}

/// Event payloads as parallel column vectors (`at`, `kind` as JSON, `audit`
/// as JSON), for PostgreSQL's `unnest`.
#[cfg(feature = "postgres")]
pub(crate) type EventColumns = (Vec<i64>, Vec<String>, Vec<String>);

/// The [`EventColumns`] of `events`.
#[cfg(feature = "postgres")]
pub(crate) fn event_columns(events: &[latchkey::model::NewEvent]) -> Result<EventColumns, DbError> {
    let mut at = Vec::with_capacity(events.len());
    let mut kind = Vec::with_capacity(events.len());
    let mut audit = Vec::with_capacity(events.len());
    for e in events {
        at.push(ts(e.at));
        kind.push(json(&e.kind)?);
        audit.push(json(&e.audit)?);
    }
    Ok((at, kind, audit))
}

/// A query being bound, for any dialect.
pub(crate) type Q<'q, DB> = sqlx::query::Query<'q, DB, <DB as sqlx::Database>::Arguments<'q>>;

/// Binds the values of `family_cols!()` (in that order).
pub(crate) fn bind_family<'q, DB>(q: Q<'q, DB>, f: &FamilyRecord) -> Result<Q<'q, DB>, DbError>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<Vec<u8>>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let prev = f.previous.as_ref();
    Ok(q.bind(f.id.clone())
        .bind(f.grant_id.clone())
        .bind(f.client_id.clone())
        .bind(f.subject.clone())
        .bind(scopes(&f.scopes))
        .bind(json(&f.resources)?)
        .bind(int(f.generation))
        .bind(f.current.hash.0.to_vec())
        .bind(ts(f.current.issued_at))
        .bind(ts(f.current.expires_at))
        .bind(prev.map(|p| p.hash.0.to_vec()))
        .bind(prev.map(|p| ts(p.rotated_at)))
        .bind(prev.map(|p| p.sealed_successor.clone()))
        .bind(ts(f.created_at))
        .bind(ts(f.expires_at))
        .bind(f.revoked.map(|r| ts(r.at)))
        .bind(f.revoked.map(|r| reason(r.reason)).transpose()?))
}

/// Binds the values of `access_cols!()` (in that order).
pub(crate) fn bind_access<'q, DB>(q: Q<'q, DB>, a: &AccessTokenRecord) -> Result<Q<'q, DB>, DbError>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<i64>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    Ok(q.bind(a.hash.0.to_vec())
        .bind(a.family_id.clone())
        .bind(a.client_id.clone())
        .bind(a.subject.clone())
        .bind(scopes(&a.scopes))
        .bind(json(&a.resources)?)
        .bind(ts(a.issued_at))
        .bind(ts(a.expires_at))
        .bind(a.revoked_at.map(ts)))
}

/// Binds the values of `code_cols!()` (in that order).
pub(crate) fn bind_code<'q, DB>(q: Q<'q, DB>, c: &CodeRecord) -> Result<Q<'q, DB>, DbError>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let (status, family) = match &c.status {
        CodeStatus::Unused => (CODE_UNUSED, None),
        CodeStatus::Redeemed { family_id } => (CODE_REDEEMED, Some(family_id.clone())),
        CodeStatus::Burned => (CODE_BURNED, None),
        #[allow(unreachable_patterns)]
        _ => return Err(corrupt("unknown code status")),
    };
    Ok(q.bind(c.hash.0.to_vec())
        .bind(c.client_id.clone())
        .bind(c.grant_id.clone())
        .bind(c.subject.clone())
        .bind(c.redirect_uri.clone())
        .bind(c.redirect_uri_explicit)
        .bind(scopes(&c.scopes))
        .bind(json(&c.resources)?)
        .bind(c.code_challenge.clone())
        .bind(ts(c.issued_at))
        .bind(ts(c.expires_at))
        .bind(i64::from(c.failed_attempts))
        .bind(status.to_owned())
        .bind(family))
}

/// Binds the values of `grant_cols!()` (in that order).
pub(crate) fn bind_grant<'q, DB>(q: Q<'q, DB>, g: &GrantRecord) -> Result<Q<'q, DB>, DbError>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    Ok(q.bind(g.id.clone())
        .bind(g.subject.clone())
        .bind(g.client_id.clone())
        .bind(scopes(&g.scopes))
        .bind(json(&g.resources)?)
        .bind(g.remembered_scopes.as_ref().map(scopes))
        .bind(ts(g.created_at))
        .bind(ts(g.last_used_at))
        .bind(int(g.revision)))
}

/// Binds the values of `challenge_cols!()` (in that order).
pub(crate) fn bind_challenge<'q, DB>(
    q: Q<'q, DB>,
    c: &ChallengeRecord,
) -> Result<Q<'q, DB>, DbError>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    Ok(q.bind(c.hash.0.to_vec())
        .bind(c.binding.0.to_vec())
        .bind(json(&c.request)?)
        .bind(ts(c.created_at))
        .bind(ts(c.expires_at)))
}

/// `lk_browser_sessions` columns, in `bind_session` order.
macro_rules! session_cols {
    () => {
        "session_key, user_id, csrf, binding, flash, created_at, last_seen"
    };
}
pub(crate) use session_cols;

pub(crate) fn session_from(r: &impl Cols) -> Result<SessionRecord, DbError> {
    Ok(SessionRecord {
        key: SessionKey(hash(r.bytes("session_key")?)?.0),
        user: r.opt_text("user_id")?,
        csrf: CsrfToken::new(r.text("csrf")?),
        binding: r.text("binding")?,
        flash: r.opt_text("flash")?,
        created_at: time(r.i64("created_at")?)?,
        last_seen: time(r.i64("last_seen")?)?,
    })
}

/// Binds the values of `session_cols!()` (in that order).
pub(crate) fn bind_session<'q, DB>(q: Q<'q, DB>, s: &SessionRecord) -> Q<'q, DB>
where
    DB: sqlx::Database,
    String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Option<String>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    Vec<u8>: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    q.bind(s.key.0.to_vec())
        .bind(s.user.clone())
        .bind(s.csrf.expose().to_owned())
        .bind(s.binding.clone())
        .bind(s.flash.clone())
        .bind(ts(s.created_at))
        .bind(ts(s.last_seen))
}

/// Unqualified `lk_families` columns, in `bind_family` order, for inserts.
macro_rules! family_fields {
    () => {
        "id, grant_id, client_id, subject, scopes, resources, generation, current_hash, current_issued_at, current_expires_at, previous_hash, previous_rotated_at, previous_sealed, created_at, expires_at, revoked_at, revoked_reason"
    };
}
pub(crate) use family_fields;

/// Unqualified `lk_access_tokens` columns, in `bind_access` order.
macro_rules! access_fields {
    () => {
        "hash, family_id, client_id, subject, scopes, resources, issued_at, expires_at, revoked_at"
    };
}
pub(crate) use access_fields;
