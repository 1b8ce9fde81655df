//! The record-level transitions behind the atomic storage operations,
//! written once.
//!
//! A backend that loads records and writes them back inside its own
//! transaction (the memory store, redb) calls these to decide what to write,
//! so each invariant lives here and not in every backend. A backend that
//! pushes the decision into its query language (the SQL backends' `UPDATE …
//! WHERE generation = $n AND revoked_at IS NULL`) translates the same rule,
//! and `latchkey::conformance` (feature `conformance`) checks that translation.

use crate::clock::Timestamp;
use crate::model::{
    ChallengeRecord, CodeRecord, CodeStatus, DeviceRecord, EventKind, FamilyRecord, GrantRecord,
    NewEvent, Revocation,
};
use crate::storage::{Approval, CodeFailure, DevicePoll, RedeemOutcome, RotateOutcome, Rotation};

/// Seconds added to a device's polling interval by each `slow_down`
/// (RFC 8628 §3.5).
pub const SLOW_DOWN_STEP: u64 = 5;

/// One device poll (RFC 8628 §3.5): the record to write back, if any, and
/// what to report. A poll for another client or an expired code writes
/// nothing. A poll sooner than `interval` after the previous one raises
/// the interval by [`SLOW_DOWN_STEP`], for this and every later poll.
#[must_use]
pub fn poll_device(
    device: Option<&DeviceRecord>,
    client_id: &str,
    now: Timestamp,
) -> (Option<DeviceRecord>, DevicePoll) {
    let Some(d) = device.filter(|d| d.client_id == client_id) else {
        return (None, DevicePoll::NotFound);
    };
    if d.expires_at <= now {
        return (None, DevicePoll::Expired);
    }
    let mut next = d.clone();
    next.last_poll = Some(now);
    let too_soon = d.last_poll.is_some_and(|t| now < t.plus(d.interval));
    if too_soon {
        next.interval = d.interval.saturating_add(SLOW_DOWN_STEP);
        (Some(next.clone()), DevicePoll::SlowDown(next))
    } else {
        (Some(next.clone()), DevicePoll::Polled(next))
    }
}

/// Whether a stored challenge may still be taken at `now`.
#[must_use]
pub fn challenge_is_live(challenge: &ChallengeRecord, now: Timestamp) -> bool {
    challenge.expires_at > now
}

/// The rotation compare-and-swap (RFC 9700 §4.14.2): the family after
/// `rotation` if it exists, is not revoked and is at `expected_generation`;
/// otherwise the outcome to report, and nothing is written.
///
/// # Errors
/// [`RotateOutcome::NotFound`], [`RotateOutcome::Revoked`] or
/// [`RotateOutcome::Stale`].
pub fn apply_rotation(
    family: Option<&FamilyRecord>,
    expected_generation: u64,
    rotation: &Rotation,
) -> Result<FamilyRecord, RotateOutcome> {
    let f = family.ok_or(RotateOutcome::NotFound)?;
    if f.revoked.is_some() {
        return Err(RotateOutcome::Revoked);
    }
    if f.generation != expected_generation {
        return Err(RotateOutcome::Stale);
    }
    let mut next = f.clone();
    next.generation += 1;
    next.current = rotation.current.clone();
    next.previous = Some(rotation.previous.clone());
    next.expires_at = rotation.expires_at;
    Ok(next)
}

/// Revocation is sticky: marks the family revoked unless it already is.
/// Returns whether this call revoked it (events are appended only then).
pub fn revoke_family(family: &mut FamilyRecord, revocation: Revocation) -> bool {
    if family.revoked.is_some() {
        return false;
    }
    family.revoked = Some(revocation);
    true
}

/// Single-use codes (RFC 6749 §4.1.2, §10.5): the code marked redeemed by
/// `family_id` if it is unused, unexpired at `now` and its grant still
/// exists; otherwise what to report, and nothing is written.
///
/// # Errors
/// [`RedeemOutcome::AlreadyRedeemed`] (the caller revokes what the first
/// redemption issued) or [`RedeemOutcome::Invalid`].
pub fn redeem_code(
    code: Option<&CodeRecord>,
    now: Timestamp,
    grant_exists: bool,
    family_id: &str,
) -> Result<CodeRecord, RedeemOutcome> {
    let code = code.ok_or(RedeemOutcome::Invalid)?;
    match &code.status {
        CodeStatus::Unused => {}
        CodeStatus::Redeemed { family_id } => {
            return Err(RedeemOutcome::AlreadyRedeemed {
                family_id: family_id.clone(),
            })
        }
        CodeStatus::Burned => return Err(RedeemOutcome::Invalid),
    }
    if code.expires_at <= now || !grant_exists {
        return Err(RedeemOutcome::Invalid);
    }
    let mut next = code.clone();
    next.status = CodeStatus::Redeemed {
        family_id: family_id.to_owned(),
    };
    Ok(next)
}

/// Counts one wrong PKCE verifier (RFC 7636 §4.6) against an unused code,
/// burning it at `max_failures`: the code to write and what to report.
///
/// # Errors
/// [`CodeFailure::NotFound`] when there is no unused code to count against.
pub fn count_code_failure(
    code: Option<&CodeRecord>,
    max_failures: u32,
) -> Result<(CodeRecord, CodeFailure), CodeFailure> {
    let code = code.ok_or(CodeFailure::NotFound)?;
    if code.status != CodeStatus::Unused {
        return Err(CodeFailure::NotFound);
    }
    let mut next = code.clone();
    next.failed_attempts = next.failed_attempts.saturating_add(1);
    if next.failed_attempts >= max_failures {
        next.status = CodeStatus::Burned;
        return Ok((next, CodeFailure::Burned));
    }
    let n = next.failed_attempts;
    Ok((next, CodeFailure::Counted(n)))
}

/// What an approval writes: the merged grant, the code bound to it, and the
/// events to append.
#[derive(Clone, Debug)]
pub struct ApprovalWrite {
    /// The grant after the approval (insert if `created`, else replace).
    pub grant: GrantRecord,
    /// Whether the grant is new.
    pub created: bool,
    /// The code, with `grant_id` set to the grant's id.
    pub code: CodeRecord,
    /// `GrantCreated` (when new) and `ConsentGiven`.
    pub events: Vec<NewEvent>,
}

/// Merges an approval into the (subject, client) grant as it is at commit
/// time. Scopes, resources and remembered scopes only grow (a union), so
/// approvals applied in any order give the same grant and none loses what
/// another recorded; `revision` counts the changes.
#[must_use]
pub fn merge_approval(existing: Option<&GrantRecord>, approval: &Approval) -> ApprovalWrite {
    let code = &approval.code;
    let now = code.issued_at;
    let granted = &code.scopes;
    let (grant, created) = match existing {
        Some(g) => {
            let mut resources = g.resources.clone();
            for r in &code.resources {
                if !resources.contains(r) {
                    resources.push(r.clone());
                }
            }
            let remembered = if approval.remember {
                Some(
                    g.remembered_scopes
                        .clone()
                        .unwrap_or_default()
                        .union(granted),
                )
            } else {
                g.remembered_scopes.clone()
            };
            let grant = GrantRecord {
                scopes: g.scopes.union(granted),
                resources,
                remembered_scopes: remembered,
                last_used_at: g.last_used_at.max(now),
                revision: g.revision + 1,
                ..g.clone()
            };
            (grant, false)
        }
        None => {
            let grant = GrantRecord {
                id: approval.new_grant_id.clone(),
                subject: code.subject.clone(),
                client_id: code.client_id.clone(),
                scopes: granted.clone(),
                resources: code.resources.clone(),
                remembered_scopes: approval.remember.then(|| granted.clone()),
                created_at: now,
                last_used_at: now,
                revision: 0,
            };
            (grant, true)
        }
    };
    let mut events = Vec::with_capacity(2);
    if created {
        events.push(NewEvent {
            at: now,
            kind: EventKind::GrantCreated {
                grant_id: grant.id.clone(),
                subject: grant.subject.clone(),
                client_id: grant.client_id.clone(),
            },
            audit: approval.audit.clone(),
        });
    }
    events.push(NewEvent {
        at: now,
        kind: EventKind::ConsentGiven {
            grant_id: grant.id.clone(),
            subject: grant.subject.clone(),
            client_id: grant.client_id.clone(),
            scopes: granted.clone(),
        },
        audit: approval.audit.clone(),
    });
    let mut code = code.clone();
    code.grant_id.clone_from(&grant.id);
    ApprovalWrite {
        grant,
        created,
        code,
        events,
    }
}

/// Whether `key` may join `existing` signing keys: its `kid` is new and
/// the slot of its state is free ([`crate::storage::SigningKeyStore`]).
#[must_use]
pub fn signing_key_insertable(
    existing: &[crate::jwt::SigningKeyRecord],
    key: &crate::jwt::SigningKeyRecord,
) -> bool {
    let slot = key.state.slot();
    existing
        .iter()
        .all(|k| k.kid != key.kid && (slot.is_none() || k.state.slot() != slot))
}

/// The records a promotion writes, or `None` when the contract of
/// [`crate::storage::SigningKeyStore::promote_signing_key`] refuses it:
/// `next` must be pending, and `previous` the active key (or, when
/// `None`, no key active).
#[must_use]
pub fn promote_signing_key(
    keys: &[crate::jwt::SigningKeyRecord],
    next: &str,
    previous: Option<&str>,
    now: Timestamp,
) -> Option<Vec<crate::jwt::SigningKeyRecord>> {
    use crate::jwt::SigningKeyState::{Active, Pending, Retiring};
    let active = keys.iter().find(|k| k.state == Active);
    if active.map(|k| k.kid.as_str()) != previous {
        return None;
    }
    let mut n = keys
        .iter()
        .find(|k| k.kid == next && k.state == Pending)?
        .clone();
    n.state = Active;
    n.state_since = now;
    let mut out = vec![n];
    if let Some(a) = active {
        let mut a = a.clone();
        a.state = Retiring;
        a.state_since = now;
        out.insert(0, a);
    }
    Some(out)
}

/// The retired form of `key`, or `None` unless it is retiring: no longer
/// published, its sealed private key erased.
#[must_use]
pub fn retire_signing_key(
    key: &crate::jwt::SigningKeyRecord,
    now: Timestamp,
) -> Option<crate::jwt::SigningKeyRecord> {
    if key.state != crate::jwt::SigningKeyState::Retiring {
        return None;
    }
    let mut k = key.clone();
    k.state = crate::jwt::SigningKeyState::Retired;
    k.state_since = now;
    k.sealed_private.clear();
    Some(k)
}
