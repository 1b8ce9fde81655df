//! The user's side: connected apps and revocation from a dashboard.

use serde::Serialize;

use crate::audit::Audit;
use crate::clock::Timestamp;
use crate::engine::Engine;
use crate::error::Error;
use crate::manage_error::ManageError;
use crate::model::{EventKind, Revocation, RevocationReason};
use crate::scope::ScopeInfo;
use crate::storage::Storage;

/// One row of the "connected apps" page.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConnectedApp {
    /// Grant id (what the revoke button sends).
    pub grant_id: String,
    /// Client id.
    pub client_id: String,
    /// Client name (or the id if the client is gone).
    pub client_name: String,
    /// Verified domains of the client.
    pub verified_domains: Vec<String>,
    /// Granted scopes with descriptions.
    pub scopes: Vec<ScopeInfo>,
    /// When access was first granted.
    pub granted_at: Timestamp,
    /// When the app last authorized or refreshed.
    pub last_used_at: Timestamp,
}

impl<S: Storage + ?Sized> Engine<S> {
    /// Every app `subject` has authorized, with display data.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn connected_apps(&self, subject: &str) -> Result<Vec<ConnectedApp>, ManageError> {
        let mut out = Vec::new();
        for g in self.store.list_grants(subject).await? {
            let client = self.store.get_client(&g.client_id).await?;
            out.push(ConnectedApp {
                grant_id: g.id,
                client_name: client
                    .as_ref()
                    .map_or_else(|| g.client_id.clone(), |c| c.name.clone()),
                verified_domains: client
                    .as_ref()
                    .filter(|c| c.publisher_verified())
                    .map(|c| c.verified_domains().map(str::to_owned).collect())
                    .unwrap_or_default(),
                client_id: g.client_id,
                scopes: self.config.scopes.describe(&g.scopes),
                granted_at: g.created_at,
                last_used_at: g.last_used_at,
            });
        }
        Ok(out)
    }

    /// Revokes one grant of `subject`: the grant, its remembered consent and
    /// every token of it stop working at once, with a `grant_revoked` event
    /// naming `by` (the user at their dashboard, or an operator).
    ///
    /// # Errors
    /// `NotFound` if `subject` has no such grant; storage failures.
    pub async fn revoke_grant(
        &self,
        by: &Audit,
        subject: &str,
        grant_id: &str,
    ) -> Result<(), ManageError> {
        let g = self
            .store
            .get_grant_by_id(grant_id)
            .await?
            .filter(|g| g.subject == subject)
            .ok_or_else(|| Error::NotFound("no such grant".into()))?;
        let ev = self.event(
            EventKind::GrantRevoked {
                grant_id: g.id.clone(),
                subject: g.subject.clone(),
                client_id: g.client_id.clone(),
            },
            by,
        );
        let rev = Revocation {
            at: self.now(),
            reason: RevocationReason::GrantRevoked,
        };
        if self.store.revoke_grant(&g.id, rev, &[ev]).await? {
            Ok(())
        } else {
            Err(ManageError::NotFound("no such grant".into()))
        }
    }

    /// Revokes every grant and token of `subject` (account suspension).
    /// Returns how many grants there were. The `subject_revoked` event names
    /// `by`.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn revoke_subject(&self, by: &Audit, subject: &str) -> Result<u64, ManageError> {
        let ev = self.event(
            EventKind::SubjectRevoked {
                subject: subject.to_owned(),
            },
            by,
        );
        let rev = Revocation {
            at: self.now(),
            reason: RevocationReason::SubjectRevoked,
        };
        Ok(self.store.revoke_subject(subject, rev, &[ev]).await?)
    }
}
