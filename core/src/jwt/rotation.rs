//! When signing keys are published, start signing and are withdrawn: pure
//! functions of the stored keys and `now`, so every instance decides the
//! same thing and tests drive them with plain timestamps.

use super::{SigningKeyRecord, SigningKeyState};
use crate::clock::Timestamp;

/// What [`next_step`] asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Step {
    /// No key signs: make one that signs at once. No cache can hold a JWKS
    /// without it that a token signed by it must beat, as no token has
    /// been signed by any key.
    Bootstrap,
    /// Publish a new key that may sign one cache lifetime later.
    Publish,
    /// Let the pending key sign in place of the active one.
    Promote {
        next: String,
        previous: Option<String>,
    },
    /// Nothing to do before this time.
    Wait(Timestamp),
}

fn in_state(keys: &[SigningKeyRecord], s: SigningKeyState) -> Option<&SigningKeyRecord> {
    keys.iter().find(|k| k.state == s)
}

/// The rotation step for `keys` at `now`. One rotation is two steps:
/// publish, then (once the new key has been published for a JWKS cache
/// lifetime) promote.
pub(crate) fn next_step(keys: &[SigningKeyRecord], now: Timestamp) -> Step {
    let active = in_state(keys, SigningKeyState::Active);
    match (active, in_state(keys, SigningKeyState::Pending)) {
        (None, _) => Step::Bootstrap,
        (Some(a), Some(p)) if p.activates_at <= now => Step::Promote {
            next: p.kid.clone(),
            previous: Some(a.kid.clone()),
        },
        (Some(_), Some(p)) => Step::Wait(p.activates_at),
        (Some(_), None) => Step::Publish,
    }
}

/// Retiring keys whose every token has expired at `now`: each signed its
/// last token no later than `state_since` plus the key-cache refresh, and
/// that token lives at most the JWT lifetime, which `retention` covers.
pub(crate) fn expired_retiring(
    keys: &[SigningKeyRecord],
    now: Timestamp,
    retention: u64,
) -> Vec<String> {
    keys.iter()
        .filter(|k| k.state == SigningKeyState::Retiring && k.state_since.plus(retention) <= now)
        .map(|k| k.kid.clone())
        .collect()
}

/// Keys in the JWKS: all but the retired.
pub(crate) fn published(keys: &[SigningKeyRecord]) -> impl Iterator<Item = &SigningKeyRecord> {
    keys.iter().filter(|k| k.state != SigningKeyState::Retired)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jwt::SigningAlgorithm;

    fn key(kid: &str, state: SigningKeyState, since: u64, activates: u64) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: kid.into(),
            algorithm: SigningAlgorithm::EdDsa,
            public_key: vec![],
            sealed_private: vec![],
            sealed_with: 0,
            created_at: Timestamp(since),
            activates_at: Timestamp(activates),
            state,
            state_since: Timestamp(since),
        }
    }

    #[test]
    fn steps_follow_the_states() {
        use SigningKeyState::*;
        assert_eq!(next_step(&[], Timestamp(0)), Step::Bootstrap);
        let a = key("a", Active, 0, 0);
        assert_eq!(
            next_step(std::slice::from_ref(&a), Timestamp(5)),
            Step::Publish
        );
        let p = key("p", Pending, 10, 100);
        let both = [a.clone(), p];
        assert_eq!(next_step(&both, Timestamp(99)), Step::Wait(Timestamp(100)));
        assert_eq!(
            next_step(&both, Timestamp(100)),
            Step::Promote {
                next: "p".into(),
                previous: Some("a".into())
            }
        );
        let keys = [key("r", Retiring, 50, 0), key("x", Retired, 0, 0), a];
        assert!(expired_retiring(&keys, Timestamp(149), 100).is_empty());
        assert_eq!(expired_retiring(&keys, Timestamp(150), 100), ["r"]);
        assert_eq!(published(&keys).count(), 2);
    }
}
