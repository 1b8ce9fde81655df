//! `grant_type=refresh_token` with rotation, reuse detection and
//! coalescing (OAuth 2.1 §4.3, RFC 9700 §4.14.2).
//!
//! Every refresh rotates the token. A rotated-out token presented again
//! revokes the whole family, unless it comes within the grace window after
//! its rotation and before the successor was used: then it is a concurrent
//! or retried request (a CLI refreshing from two windows, an agent retrying
//! after a timeout) and gets the byte-identical successor. The successor is
//! stored sealed under a key derived from the presented token, so storage
//! never holds a usable token, and coalescing rests on the store's
//! compare-and-swap on (family, generation), so it holds across processes.

use crate::clock::Timestamp;
use crate::engine::Engine;
use crate::error::Error;
use crate::grant::{narrow_resources, narrow_scope, SealedSuccessor, TokenResponse};
use crate::http::Params;
use crate::model::{
    AccessTokenRecord, ClientRecord, FamilyRecord, PreviousGeneration, RefreshGeneration,
    RevocationReason,
};
use crate::storage::{RotateOutcome, Rotation, Storage};
use crate::token::{Secret, TokenHash, TokenKind};

/// What to do with a presented refresh token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefreshDecision {
    /// It is the live token: rotate.
    Rotate,
    /// It was rotated out moments ago and the successor is unused: answer
    /// with the same successor.
    Coalesce,
    /// It was rotated out earlier, or its successor was used: reuse; revoke
    /// the family.
    Reuse,
    /// The live token has expired.
    Expired,
    /// The family is revoked.
    Revoked,
}

/// Decides on a presented refresh token (pure). `generation` is the
/// generation the token was issued as.
#[must_use]
pub fn decide(
    family: &FamilyRecord,
    generation: u64,
    presented: &TokenHash,
    now: Timestamp,
    grace: u64,
) -> RefreshDecision {
    if family.revoked.is_some() {
        return RefreshDecision::Revoked;
    }
    if generation == family.generation {
        return if family.current.expires_at <= now {
            RefreshDecision::Expired
        } else {
            RefreshDecision::Rotate
        };
    }
    match &family.previous {
        Some(p)
            if generation + 1 == family.generation
                && p.hash == *presented
                && now < p.rotated_at.plus(grace) =>
        {
            RefreshDecision::Coalesce
        }
        _ => RefreshDecision::Reuse,
    }
}

fn invalid_grant() -> Error {
    Error::InvalidGrant("refresh token is invalid, expired or revoked".into())
}

impl<S: Storage + ?Sized> Engine<S> {
    pub(crate) async fn refresh(
        &self,
        client: &ClientRecord,
        params: &Params,
    ) -> Result<TokenResponse, Error> {
        let presented = Secret::new(params.required("refresh_token")?);
        let hash = self
            .keys
            .hash(TokenKind::RefreshToken, presented.expose())
            .ok_or_else(invalid_grant)?;
        let (mut family, generation) = self
            .store
            .find_refresh_token(&hash)
            .await?
            .ok_or_else(invalid_grant)?;
        if family.client_id != client.id {
            // RFC 6749 §6: bound to the client. Not reuse: someone else's token.
            return Err(invalid_grant());
        }
        // One retry: losing the compare-and-swap means a concurrent refresh
        // won, and the re-read family tells us whether we may coalesce.
        for _ in 0..2 {
            let now = self.now();
            match decide(&family, generation, &hash, now, self.config.refresh_grace) {
                RefreshDecision::Rotate => {
                    // Narrowing is checked only for the live token, so a
                    // reused token cannot dodge revocation with a bad scope.
                    let scopes = narrow_scope(params.single("scope")?, &family.scopes)?;
                    let resources = narrow_resources(params.all("resource"), &family.resources)?;
                    let (rotation, response) =
                        self.rotation(client, &family, &presented, &scopes, &resources, now)?;
                    match self
                        .store
                        .rotate_family(&family.id, generation, &rotation)
                        .await?
                    {
                        RotateOutcome::Rotated => return Ok(response),
                        RotateOutcome::Stale => {
                            family = self
                                .store
                                .get_family(&family.id)
                                .await?
                                .ok_or_else(invalid_grant)?;
                        }
                        _ => return Err(invalid_grant()),
                    }
                }
                RefreshDecision::Coalesce => {
                    let sealed = family
                        .previous
                        .as_ref()
                        .map(|p| p.sealed_successor.as_slice())
                        .unwrap_or_default();
                    let plain = self
                        .keys
                        .open(TokenKind::RefreshToken, &presented, sealed)
                        .map_err(|e| Error::internal(format!("successor unreadable: {e}")))?;
                    let successor: SealedSuccessor =
                        serde_json::from_slice(&plain).map_err(Error::internal)?;
                    return Ok(successor.response(now));
                }
                RefreshDecision::Reuse => {
                    self.revoke_family_for(
                        &family.id,
                        &family.grant_id,
                        &family.client_id,
                        RevocationReason::RefreshReuse,
                    )
                    .await?;
                    return Err(Error::InvalidGrant(
                        "refresh token reuse detected; the token family is revoked".into(),
                    ));
                }
                RefreshDecision::Expired | RefreshDecision::Revoked => return Err(invalid_grant()),
            }
        }
        Err(Error::TemporarilyUnavailable(
            "refresh raced repeatedly; retry".into(),
        ))
    }

    fn rotation(
        &self,
        client: &ClientRecord,
        family: &FamilyRecord,
        presented: &Secret,
        scopes: &crate::scope::ScopeSet,
        resources: &[String],
        now: Timestamp,
    ) -> Result<(Rotation, TokenResponse), Error> {
        let (access, access_hash) = self.mint(TokenKind::AccessToken)?;
        let (refresh, refresh_hash) = self.mint(TokenKind::RefreshToken)?;
        let access_exp = now.plus(self.access_ttl(client));
        let refresh_exp = now.plus(self.refresh_ttl(client));
        let effective = self.config.scopes.expand(scopes);
        let successor = SealedSuccessor {
            access_token: access.expose().to_owned(),
            refresh_token: Some(refresh.expose().to_owned()),
            access_expires_at: access_exp,
            scope: effective.to_string(),
        };
        let plain = serde_json::to_vec(&successor).map_err(Error::internal)?;
        let sealed = self
            .keys
            .seal(TokenKind::RefreshToken, presented, &plain, &*self.entropy)
            .map_err(Error::internal)?;
        let rotation = Rotation {
            current: RefreshGeneration {
                hash: refresh_hash,
                issued_at: now,
                expires_at: refresh_exp,
            },
            previous: PreviousGeneration {
                hash: family.current.hash,
                rotated_at: now,
                sealed_successor: sealed,
            },
            access: AccessTokenRecord {
                hash: access_hash,
                family_id: Some(family.id.clone()),
                client_id: client.id.clone(),
                subject: family.subject.clone(),
                scopes: effective,
                resources: resources.to_vec(),
                issued_at: now,
                expires_at: access_exp,
                revoked_at: None,
            },
            expires_at: refresh_exp.max(access_exp).max(family.expires_at),
            now,
        };
        Ok((rotation, successor.response(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Revocation, RevocationReason};
    use crate::scope::ScopeSet;

    fn family() -> FamilyRecord {
        FamilyRecord {
            id: "f".into(),
            grant_id: "g".into(),
            client_id: "c".into(),
            subject: "s".into(),
            scopes: ScopeSet::new(),
            resources: vec![],
            generation: 3,
            current: RefreshGeneration {
                hash: TokenHash([3; 32]),
                issued_at: Timestamp(1000),
                expires_at: Timestamp(5000),
            },
            previous: Some(PreviousGeneration {
                hash: TokenHash([2; 32]),
                rotated_at: Timestamp(1000),
                sealed_successor: vec![],
            }),
            created_at: Timestamp(0),
            expires_at: Timestamp(5000),
            revoked: None,
        }
    }

    #[test]
    fn decisions() {
        let f = family();
        let cur = TokenHash([3; 32]);
        let prev = TokenHash([2; 32]);
        assert_eq!(
            decide(&f, 3, &cur, Timestamp(1001), 30),
            RefreshDecision::Rotate
        );
        assert_eq!(
            decide(&f, 3, &cur, Timestamp(5000), 30),
            RefreshDecision::Expired
        );
        assert_eq!(
            decide(&f, 2, &prev, Timestamp(1029), 30),
            RefreshDecision::Coalesce
        );
        assert_eq!(
            decide(&f, 2, &prev, Timestamp(1030), 30),
            RefreshDecision::Reuse,
            "grace is over"
        );
        assert_eq!(
            decide(&f, 1, &TokenHash([1; 32]), Timestamp(1001), 30),
            RefreshDecision::Reuse,
            "older generation"
        );
        let mut r = f.clone();
        r.revoked = Some(Revocation {
            at: Timestamp(1),
            reason: RevocationReason::Requested,
        });
        assert_eq!(
            decide(&r, 3, &cur, Timestamp(1001), 30),
            RefreshDecision::Revoked
        );
    }
}
