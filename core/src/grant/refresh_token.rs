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
use crate::grant::{
    builtin_grant, narrow_resources, narrow_scope, SealedSuccessor, TokenPlan, TokenResponse,
};
use crate::http::Params;
use crate::model::{ClientRecord, FamilyRecord, PreviousGeneration, RevocationReason};
use crate::retry::{retry_lost_races, Attempt};
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
pub fn decide_refresh(
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

builtin_grant!(
    /// The `refresh_token` handler for the [`crate::grant::GrantRegistry`].
    RefreshTokenGrant, RefreshToken, refresh
);

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
        let (found, generation) = self
            .store
            .find_refresh_token(&hash)
            .await?
            .ok_or_else(invalid_grant)?;
        if found.client_id != client.id {
            // RFC 6749 §6: bound to the client. Not reuse: someone else's token.
            return Err(invalid_grant());
        }
        // Two attempts: losing the compare-and-swap means a concurrent
        // refresh won, and the re-read family tells us whether to coalesce.
        retry_lost_races(2, "refresh token family", |attempt| {
            let (found, presented, hash) = (&found, &presented, &hash);
            async move {
                // The first attempt decides on the family just read; only
                // a retry after a lost race reads it again.
                let reread;
                let family = if attempt == 0 {
                    found
                } else {
                    reread = self
                        .store
                        .get_family(&found.id)
                        .await?
                        .ok_or_else(invalid_grant)?;
                    &reread
                };
                self.refresh_attempt(client, params, family, generation, presented, hash)
                    .await
            }
        })
        .await
    }

    async fn refresh_attempt(
        &self,
        client: &ClientRecord,
        params: &Params,
        family: &FamilyRecord,
        generation: u64,
        presented: &Secret,
        hash: &TokenHash,
    ) -> Result<Attempt<TokenResponse>, Error> {
        let now = self.now();
        match decide_refresh(family, generation, hash, now, self.config.refresh_grace) {
            RefreshDecision::Rotate => {
                // Narrowing is checked only for the live token, so a reused
                // token cannot dodge revocation with a bad scope.
                let scopes = narrow_scope(params.single("scope")?, &family.scopes)?;
                let resources = narrow_resources(params.all("resource"), &family.resources)?;
                let (rotation, response) =
                    self.rotation(client, family, presented, &scopes, resources, now)?;
                match self
                    .store
                    .rotate_family(&family.id, generation, &rotation)
                    .await?
                {
                    RotateOutcome::Rotated => Ok(Attempt::Done(response)),
                    RotateOutcome::Stale => Ok(Attempt::Lost),
                    _ => Err(invalid_grant()),
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
                    .open(TokenKind::RefreshToken, presented, sealed)
                    .map_err(|e| Error::internal(format!("successor unreadable: {e}")))?;
                let successor: SealedSuccessor =
                    serde_json::from_slice(&plain).map_err(Error::internal)?;
                crate::observe::signal(crate::observe::Signal::RefreshCoalesced, Some(&client.id));
                Ok(Attempt::Done(successor.response(now)))
            }
            RefreshDecision::Reuse => {
                self.revoke_family_for(
                    &family.id,
                    &family.grant_id,
                    &family.client_id,
                    RevocationReason::RefreshReuse,
                    // The token endpoint's handlers do not see the
                    // request, so the event names the client alone.
                    &crate::audit::Audit::client(
                        &family.client_id,
                        crate::audit::Source::default(),
                    ),
                )
                .await?;
                Err(Error::InvalidGrant(
                    "refresh token reuse detected; the token family is revoked".into(),
                ))
            }
            RefreshDecision::Expired | RefreshDecision::Revoked => Err(invalid_grant()),
        }
    }

    fn rotation(
        &self,
        client: &ClientRecord,
        family: &FamilyRecord,
        presented: &Secret,
        scopes: &crate::scope::ScopeSet,
        resources: Vec<String>,
        now: Timestamp,
    ) -> Result<(Rotation, TokenResponse), Error> {
        let t = self.issue_tokens(TokenPlan {
            client,
            subject: &family.subject,
            scopes,
            resources,
            family_id: Some(&family.id),
            now,
        })?;
        let current = t
            .refresh
            .ok_or_else(|| Error::internal("a family plan mints a refresh token"))?;
        let successor = SealedSuccessor {
            access_token: t.response.access_token.clone(),
            refresh_token: t.response.refresh_token.clone(),
            access_expires_at: t.access.expires_at,
            scope: t.response.scope.clone(),
        };
        let plain = serde_json::to_vec(&successor).map_err(Error::internal)?;
        let sealed = self
            .keys
            .seal(TokenKind::RefreshToken, presented, &plain, &*self.entropy)
            .map_err(Error::internal)?;
        let rotation = Rotation {
            expires_at: current
                .expires_at
                .max(t.access.expires_at)
                .max(family.expires_at),
            current,
            previous: PreviousGeneration {
                hash: family.current.hash,
                rotated_at: now,
                sealed_successor: sealed,
            },
            access: t.access,
            now,
        };
        Ok((rotation, successor.response(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{RefreshGeneration, Revocation, RevocationReason};
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
            decide_refresh(&f, 3, &cur, Timestamp(1001), 30),
            RefreshDecision::Rotate
        );
        assert_eq!(
            decide_refresh(&f, 3, &cur, Timestamp(5000), 30),
            RefreshDecision::Expired
        );
        assert_eq!(
            decide_refresh(&f, 2, &prev, Timestamp(1029), 30),
            RefreshDecision::Coalesce
        );
        assert_eq!(
            decide_refresh(&f, 2, &prev, Timestamp(1030), 30),
            RefreshDecision::Reuse,
            "grace is over"
        );
        assert_eq!(
            decide_refresh(&f, 1, &TokenHash([1; 32]), Timestamp(1001), 30),
            RefreshDecision::Reuse,
            "older generation"
        );
        let mut r = f.clone();
        r.revoked = Some(Revocation {
            at: Timestamp(1),
            reason: RevocationReason::Requested,
        });
        assert_eq!(
            decide_refresh(&r, 3, &cur, Timestamp(1001), 30),
            RefreshDecision::Revoked
        );
    }
}
