//! When a verified domain is checked again, and what a check's result does
//! to it: pure decisions over the record and `now`.

use crate::clock::Timestamp;
use crate::model::{DomainCheckFailure, DomainState, DomainVerification};

/// How verified domains are re-checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecheckPolicy {
    /// Seconds between checks of one domain. Default: a day.
    pub interval: u64,
    /// Seconds a verified domain stays verified while checks cannot get an
    /// answer (timeouts, network or server failures) since the last check
    /// that found the challenge. A definitive "not there" (no record,
    /// NXDOMAIN, wrong value, 404) lapses it at once. Default: three days,
    /// so an outage of the developer's DNS or web server over a weekend
    /// does not cost them their badge.
    pub grace: u64,
}

impl Default for RecheckPolicy {
    fn default() -> Self {
        RecheckPolicy {
            interval: 86_400,
            grace: 3 * 86_400,
        }
    }
}

/// What one re-check did to a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecheckOutcome {
    /// Still published; still verified.
    Confirmed,
    /// Published again after it had lapsed: verified again.
    Restored,
    /// Not found (definitively, or for longer than the grace period): the
    /// domain lapsed and no longer counts.
    Lapsed,
    /// No answer this time; still verified within the grace period.
    Failing,
    /// Still not found; stays lapsed.
    StillLapsed,
}

/// When the domain was last looked at (a success or a failure), if it is
/// one that re-checks look at: verified or lapsed.
fn last_looked(d: &DomainVerification) -> Option<Timestamp> {
    let base = match d.state {
        DomainState::Verified { at } => at,
        DomainState::Lapsed { at, .. } => at,
        _ => return None,
    };
    let latest = [d.checked_at, d.last_failure.as_ref().map(|f| f.at)]
        .into_iter()
        .flatten()
        .fold(base, Timestamp::max);
    Some(latest)
}

/// Whether a re-check of `d` is due at `now`. Pending and expired
/// domains are never re-checked: they were never proven.
#[must_use]
pub fn is_due(d: &DomainVerification, now: Timestamp, policy: &RecheckPolicy) -> bool {
    last_looked(d).is_some_and(|last| now >= last.plus(policy.interval))
}

/// A check's result, as a re-check keeps it: `Err` holds the developer-
/// facing reason and whether it was definitive.
pub(crate) type Checked = Result<(), (String, bool)>;

/// The domain after a re-check at `now` that got `result`, and what
/// happened; `None` when `d` is not one re-checks apply to.
#[must_use]
pub(crate) fn after_recheck(
    d: &DomainVerification,
    result: &Checked,
    now: Timestamp,
    policy: &RecheckPolicy,
) -> Option<(DomainVerification, RecheckOutcome)> {
    let mut next = d.clone();
    let outcome = match (&d.state, result) {
        (DomainState::Verified { .. }, Ok(())) => RecheckOutcome::Confirmed,
        (DomainState::Lapsed { .. }, Ok(())) => {
            next.state = DomainState::Verified { at: now };
            RecheckOutcome::Restored
        }
        (DomainState::Verified { at }, Err((_, definitive))) => {
            let last_success = d.checked_at.unwrap_or(*at).max(*at);
            if *definitive || now >= last_success.plus(policy.grace) {
                next.state = DomainState::Lapsed {
                    verified_at: *at,
                    at: now,
                };
                RecheckOutcome::Lapsed
            } else {
                RecheckOutcome::Failing
            }
        }
        (DomainState::Lapsed { .. }, Err(_)) => RecheckOutcome::StillLapsed,
        _ => return None,
    };
    match result {
        Ok(()) => {
            next.checked_at = Some(now);
            next.last_failure = None;
        }
        Err((reason, definitive)) => {
            next.last_failure = Some(DomainCheckFailure {
                at: now,
                reason: reason.clone(),
                definitive: *definitive,
            });
        }
    }
    Some((next, outcome))
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp(1_000_000);
    const P: RecheckPolicy = RecheckPolicy {
        interval: 100,
        grace: 1_000,
    };

    fn verified() -> DomainVerification {
        DomainVerification {
            domain: "a.example".into(),
            challenge: "c".into(),
            state: DomainState::Verified { at: T },
            started_at: T,
            checked_at: Some(T),
            last_failure: None,
        }
    }

    fn gone() -> Checked {
        Err(("gone".into(), true))
    }

    fn unreachable() -> Checked {
        Err(("timeout".into(), false))
    }

    #[test]
    fn due_after_the_interval_from_the_last_look() {
        let d = verified();
        assert!(!is_due(&d, T.plus(99), &P));
        assert!(is_due(&d, T.plus(100), &P));
        let (failed, _) = after_recheck(&d, &unreachable(), T.plus(150), &P).unwrap();
        assert!(!is_due(&failed, T.plus(200), &P));
        assert!(is_due(&failed, T.plus(250), &P));
        let mut pending = d.clone();
        pending.state = DomainState::Pending { expires_at: T };
        assert!(!is_due(&pending, T.plus(10_000), &P));
        pending.state = DomainState::Expired;
        assert!(!is_due(&pending, T.plus(10_000), &P));
    }

    #[test]
    fn a_definitive_miss_lapses_at_once_and_a_find_restores() {
        let (lapsed, o) = after_recheck(&verified(), &gone(), T.plus(100), &P).unwrap();
        assert_eq!(o, RecheckOutcome::Lapsed);
        assert_eq!(
            lapsed.state,
            DomainState::Lapsed {
                verified_at: T,
                at: T.plus(100)
            }
        );
        assert!(!lapsed.is_verified());
        assert_eq!(lapsed.last_failure.as_ref().unwrap().reason, "gone");
        let (still, o) = after_recheck(&lapsed, &gone(), T.plus(200), &P).unwrap();
        assert_eq!(o, RecheckOutcome::StillLapsed);
        assert!(still.is_lapsed());
        let (back, o) = after_recheck(&still, &Ok(()), T.plus(300), &P).unwrap();
        assert_eq!(o, RecheckOutcome::Restored);
        assert_eq!(back.state, DomainState::Verified { at: T.plus(300) });
        assert_eq!(back.checked_at, Some(T.plus(300)));
        assert!(back.last_failure.is_none());
    }

    #[test]
    fn no_answer_lapses_only_after_the_grace_period() {
        let (d, o) = after_recheck(&verified(), &unreachable(), T.plus(999), &P).unwrap();
        assert_eq!(o, RecheckOutcome::Failing);
        assert!(d.is_verified());
        let (d, o) = after_recheck(&d, &unreachable(), T.plus(1_000), &P).unwrap();
        assert_eq!(o, RecheckOutcome::Lapsed);
        assert!(d.is_lapsed());
    }

    #[test]
    fn a_find_clears_the_failure() {
        let (d, _) = after_recheck(&verified(), &unreachable(), T.plus(100), &P).unwrap();
        let (d, o) = after_recheck(&d, &Ok(()), T.plus(200), &P).unwrap();
        assert_eq!(o, RecheckOutcome::Confirmed);
        assert_eq!(d.checked_at, Some(T.plus(200)));
        assert!(d.last_failure.is_none());
    }
}
