//! The engine's domain calls: verify a pending domain through a verifier,
//! re-check verified ones, and the one write path both use.

use crate::audit::{Acting, Audit, ClientAction};
use crate::clock::Timestamp;
use crate::engine::Engine;
use crate::manage_error::ManageError;
use crate::model::{ClientRecord, DomainState, DomainVerification, EventKind};
use crate::retry::{retry_lost_races, Attempt};
use crate::storage::{Storage, StorageError};

use super::schedule::{after_recheck, is_due, Checked, RecheckOutcome, RecheckPolicy};
use super::{check_domain_name, DomainVerifier, Found, VerifyError};

/// Why [`Engine::verify_domain`] did not verify the domain.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DomainCheckError {
    /// The challenge was not found; nothing was changed. Show
    /// [`VerifyError::explain`] to the developer.
    #[error("{0}")]
    NotProven(VerifyError),
    /// The call itself failed (no such client or pending domain, an
    /// expired challenge, storage); see [`ManageError::user_facing`].
    #[error(transparent)]
    Manage(#[from] ManageError),
}

/// What [`Engine::recheck_due_domains`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecheckReport {
    /// Clients looked at.
    pub clients_scanned: u64,
    /// Domains checked.
    pub checked: u64,
    /// Still verified.
    pub confirmed: u64,
    /// Verified again after they had lapsed.
    pub restored: u64,
    /// Lapsed by this run.
    pub lapsed: u64,
    /// No answer, still verified within the grace period.
    pub failing: u64,
    /// Still lapsed.
    pub still_lapsed: u64,
}

impl RecheckReport {
    fn count(&mut self, o: RecheckOutcome) {
        self.checked += 1;
        match o {
            RecheckOutcome::Confirmed => self.confirmed += 1,
            RecheckOutcome::Restored => self.restored += 1,
            RecheckOutcome::Lapsed => self.lapsed += 1,
            RecheckOutcome::Failing => self.failing += 1,
            RecheckOutcome::StillLapsed => self.still_lapsed += 1,
        }
    }
}

fn invalid(why: &str) -> ManageError {
    ManageError::InvalidMetadata(why.to_owned().into())
}

fn not_found() -> ManageError {
    ManageError::NotFound("no such client".into())
}

/// A change of one domain of a client, decided from the stored record.
pub(crate) struct DomainChange<T> {
    pub(crate) domain: DomainVerification,
    pub(crate) events: Vec<EventKind>,
    pub(crate) out: T,
}

impl<S: Storage + ?Sized> Engine<S> {
    /// Changes one domain of client `id` as `decide` says, from the record
    /// as stored, with the optimistic-concurrency check (retried when a
    /// concurrent edit wins). Client validation is not run: only the
    /// domain's state changes, and a public client whose domain lapses
    /// must still be written (it is then shown as unverified).
    pub(crate) async fn change_domain<T, F>(
        &self,
        by: &Audit,
        id: &str,
        domain: &str,
        decide: F,
    ) -> Result<(ClientRecord, T), ManageError>
    where
        F: Fn(&DomainVerification, Timestamp) -> Result<DomainChange<T>, ManageError>,
    {
        retry_lost_races(3, "client", |_| async {
            let mut c = self.get_client(id).await?;
            let expected = c.revision;
            let now = self.now();
            let slot = c
                .domains
                .iter_mut()
                .find(|d| d.domain == domain)
                .ok_or_else(|| invalid("unknown domain"))?;
            let change = decide(slot, now)?;
            *slot = change.domain;
            c.updated_at = now;
            c.revision += 1;
            let events: Vec<_> = change
                .events
                .into_iter()
                .map(|k| self.event(k, by))
                .collect();
            match self.store.update_client(&c, expected, &events).await {
                Ok(()) => Ok(Attempt::Done((c, change.out))),
                Err(StorageError::Conflict) => Ok(Attempt::Lost),
                Err(StorageError::NotFound) => Err(not_found()),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Marks the pending `domain` verified, if its challenge is still
    /// `challenge` (when given) and unexpired; `checked_at` records a check
    /// that saw it. Expired challenges become `expired`. `by` must be
    /// allowed to update the client.
    pub(crate) async fn confirm_pending(
        &self,
        by: &Acting,
        id: &str,
        domain: &str,
        challenge: Option<&str>,
    ) -> Result<ClientRecord, ManageError> {
        let domain = check_domain_name(domain).map_err(|e| invalid(&e.to_string()))?;
        let now = self.now();
        let current = self.client_for(by, ClientAction::Update, id).await?;
        let expired = current.domains.iter().any(|d| {
            d.domain == domain
                && matches!(d.state, DomainState::Pending { expires_at } if expires_at <= now)
        });
        if expired {
            self.expire_domain_verification(by, id, &domain).await?;
            return Err(invalid("the domain challenge expired; start again"));
        }
        let checked = challenge.is_some();
        let (c, ()) = self
            .change_domain(by.audit(), id, &domain, |d, now| {
                let pending =
                    matches!(d.state, DomainState::Pending { expires_at } if expires_at > now);
                // A restart between the check and this write has a new
                // challenge that nobody checked.
                if !pending || challenge.is_some_and(|ch| ch != d.challenge) {
                    return Err(invalid("no pending verification for that domain"));
                }
                let mut next = d.clone();
                next.state = DomainState::Verified { at: now };
                next.checked_at = checked.then_some(now);
                next.last_failure = None;
                Ok(DomainChange {
                    domain: next,
                    events: vec![
                        EventKind::ClientUpdated {
                            client_id: id.to_owned(),
                        },
                        EventKind::DomainVerified {
                            client_id: id.to_owned(),
                            domain: domain.clone(),
                        },
                    ],
                    out: (),
                })
            })
            .await?;
        Ok(c)
    }

    /// Proves ownership of the pending `domain` of client `id`: asks
    /// `verifier` whether the challenge from
    /// [`Engine::start_domain_verification`] is published, and if so marks
    /// the domain verified ([`Engine::confirm_domain`]'s path, with the
    /// `client_updated` and `domain_verified` events). Nothing changes when
    /// it is not found.
    ///
    /// # Errors
    /// [`DomainCheckError::NotProven`] with each method's reason;
    /// [`DomainCheckError::Manage`] for an invalid or unknown domain, no
    /// pending verification, an expired challenge (which becomes
    /// `expired`), an unknown client, or storage failures; `Forbidden`
    /// when `by` may not update the client.
    pub async fn verify_domain(
        &self,
        by: &Acting,
        id: &str,
        domain: &str,
        verifier: &dyn DomainVerifier,
    ) -> Result<ClientRecord, DomainCheckError> {
        let domain = check_domain_name(domain).map_err(|e| invalid(&e.to_string()))?;
        let c = self.client_for(by, ClientAction::Update, id).await?;
        let d = c
            .domains
            .iter()
            .find(|d| d.domain == domain && matches!(d.state, DomainState::Pending { .. }))
            .ok_or_else(|| invalid("no pending verification for that domain"))?;
        let now = self.now();
        if matches!(d.state, DomainState::Pending { expires_at } if expires_at <= now) {
            // Said without asking the network.
            self.expire_domain_verification(by, id, &domain).await?;
            return Err(invalid("the domain challenge expired; start again").into());
        }
        let _found: Found = verifier
            .check(&domain, &d.challenge)
            .await
            .map_err(DomainCheckError::NotProven)?;
        Ok(self
            .confirm_pending(by, id, &domain, Some(&d.challenge))
            .await?)
    }

    /// Checks the verified (or lapsed) `domain` of client `id` again now,
    /// whether due or not, and records the result: still verified, lapsed
    /// (event `domain_lapsed`), or verified again (event
    /// `domain_verified`); both with `client_updated`.
    ///
    /// # Errors
    /// `InvalidMetadata` for an invalid domain or one that is neither
    /// verified nor lapsed; `NotFound`; storage failures (nothing changed).
    pub async fn recheck_domain(
        &self,
        id: &str,
        domain: &str,
        verifier: &dyn DomainVerifier,
        policy: &RecheckPolicy,
    ) -> Result<RecheckOutcome, ManageError> {
        let domain = check_domain_name(domain).map_err(|e| invalid(&e.to_string()))?;
        let c = self.get_client(id).await?;
        let d = c
            .domains
            .iter()
            .find(|d| d.domain == domain && (d.is_verified() || d.is_lapsed()))
            .ok_or_else(|| invalid("the domain is neither verified nor lapsed"))?;
        let result = self.check(&domain, &d.challenge, verifier).await;
        self.record_recheck(id, &domain, &result, policy).await
    }

    async fn check(&self, domain: &str, challenge: &str, verifier: &dyn DomainVerifier) -> Checked {
        match verifier.check(domain, challenge).await {
            Ok(_) => Ok(()),
            Err(e) => Err((e.explain(domain), e.is_definitive())),
        }
    }

    async fn record_recheck(
        &self,
        id: &str,
        domain: &str,
        result: &Checked,
        policy: &RecheckPolicy,
    ) -> Result<RecheckOutcome, ManageError> {
        let (_, outcome) = self
            .change_domain(&Audit::system(), id, domain, |d, now| {
                let (next, outcome) = after_recheck(d, result, now, policy)
                    .ok_or_else(|| invalid("the domain is neither verified nor lapsed"))?;
                let client_id = id.to_owned();
                let domain = domain.to_owned();
                let events = match outcome {
                    RecheckOutcome::Lapsed => vec![
                        EventKind::ClientUpdated {
                            client_id: client_id.clone(),
                        },
                        EventKind::DomainLapsed { client_id, domain },
                    ],
                    RecheckOutcome::Restored => vec![
                        EventKind::ClientUpdated {
                            client_id: client_id.clone(),
                        },
                        EventKind::DomainVerified { client_id, domain },
                    ],
                    // Only the bookkeeping of when it was looked at.
                    _ => vec![],
                };
                Ok(DomainChange {
                    domain: next,
                    events,
                    out: outcome,
                })
            })
            .await?;
        Ok(outcome)
    }

    /// Re-checks every verified or lapsed domain of every client that is
    /// due under `policy` ([`is_due`]), scanning clients `page` at a time.
    /// One domain's check failing to get an answer is a result like any
    /// other (see [`RecheckPolicy::grace`]); a client deleted or edited
    /// meanwhile is skipped or retried.
    ///
    /// # Errors
    /// Storage failures, which end the run (what was recorded before
    /// stays recorded; the rest is due again next run).
    pub async fn recheck_due_domains(
        &self,
        verifier: &dyn DomainVerifier,
        policy: &RecheckPolicy,
        page: usize,
    ) -> Result<RecheckReport, ManageError> {
        let mut report = RecheckReport::default();
        let mut after: Option<String> = None;
        loop {
            let clients = self
                .store
                .list_all_clients(after.as_deref(), page.max(1))
                .await?;
            let Some(last) = clients.last() else {
                return Ok(report);
            };
            after = Some(last.id.clone());
            for c in &clients {
                report.clients_scanned += 1;
                for d in &c.domains {
                    if !is_due(d, self.now(), policy) {
                        continue;
                    }
                    let result = self.check(&d.domain, &d.challenge, verifier).await;
                    match self.record_recheck(&c.id, &d.domain, &result, policy).await {
                        Ok(o) => report.count(o),
                        // Deleted, or the domain restarted or removed
                        // meanwhile: nothing left to re-check.
                        Err(ManageError::NotFound(_) | ManageError::InvalidMetadata(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
}
