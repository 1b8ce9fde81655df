//! The device authorization grant's front half (RFC 8628 §3.1–3.3): the
//! device authorization endpoint, user codes, and the user's side up to
//! the shared consent step. The token endpoint half is
//! [`crate::grant::device_code`].
//!
//! Flow: the device posts to [`Engine::device_authorization`] and shows the
//! user code; the user opens the verification page
//! ([`crate::web::flow::BrowserFlow::device`]) and types it;
//! [`Engine::enter_user_code`] parks a consent challenge exactly like the
//! authorization endpoint does, so sign-in, the consent page and the
//! decision ([`Engine::accept`] / [`Engine::reject`]) are the ones every
//! grant uses. Approval is stored by [`crate::storage::GrantStore::approve`]
//! under the device code's hash; the device's next poll redeems it.

use serde::Serialize;

use crate::authorize::{
    approved_code, challenge_gone, client_gone, requested_access, AuthorizeOutcome,
};
use crate::engine::Engine;
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse};
use crate::model::{
    ChallengeRecord, ClientRecord, DeviceRecord, DeviceStatus, GrantType, PendingAuthorization,
    PendingDevice,
};
use crate::redirect::with_query;
use crate::retry::{retry_lost_races, Attempt};
use crate::scope::ScopeSet;
use crate::storage::{ApproveOutcome, Storage, StorageError};
use crate::token::{Secret, TokenHash, TokenKind};

/// The user-code alphabet: consonants only (RFC 8628 §6.1), so no vowel
/// spells a word and nothing is mistaken for a digit (no `0`/`O`, `1`/`I`).
pub const USER_CODE_ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// Characters in a user code: 20^8 ≈ 2^34.6 codes, against a guessing rate
/// that the verification page throttles (RFC 8628 §5.1).
pub const USER_CODE_LEN: usize = 8;

/// A successful device authorization response (RFC 8628 §3.2). `Debug`
/// redacts both codes.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct DeviceAuthorizationResponse {
    /// The device code the device polls with.
    pub device_code: String,
    /// The code the user types, grouped as `WDJB-MJHT`.
    pub user_code: String,
    /// The page where the user types it.
    pub verification_uri: String,
    /// The page with the code filled in, for a QR code or a link.
    pub verification_uri_complete: String,
    /// Seconds until both codes expire.
    pub expires_in: u64,
    /// Seconds to wait between polls.
    pub interval: u64,
}

impl std::fmt::Debug for DeviceAuthorizationResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceAuthorizationResponse")
            .field("verification_uri", &self.verification_uri)
            .field("expires_in", &self.expires_in)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

/// Draws a user code from `entropy`: [`USER_CODE_LEN`] letters of
/// [`USER_CODE_ALPHABET`], unbiased (bytes ≥ 240 are redrawn), grouped by
/// four with a dash.
///
/// # Errors
/// When the randomness source fails.
pub fn generate_user_code(
    entropy: &dyn crate::entropy::Entropy,
) -> Result<String, crate::entropy::EntropyError> {
    let n = USER_CODE_ALPHABET.len();
    let limit = 256 - 256 % n;
    let mut letters = Vec::with_capacity(USER_CODE_LEN);
    while letters.len() < USER_CODE_LEN {
        let mut buf = [0u8; 16];
        entropy.fill(&mut buf)?;
        for b in buf.iter().map(|b| usize::from(*b)).filter(|b| *b < limit) {
            if letters.len() < USER_CODE_LEN {
                letters.push(char::from(USER_CODE_ALPHABET[b % n]));
            }
        }
    }
    let (a, b) = letters.split_at(USER_CODE_LEN / 2);
    Ok(format!(
        "{}-{}",
        a.iter().collect::<String>(),
        b.iter().collect::<String>()
    ))
}

/// What a person typed, as a user code: case, dashes and white space are
/// ignored. `None` when it cannot be a user code at all.
#[must_use]
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let ok = code.len() == USER_CODE_LEN && code.bytes().all(|b| USER_CODE_ALPHABET.contains(&b));
    ok.then_some(code)
}

impl<S: Storage + ?Sized> Engine<S> {
    /// The keyed hash a user code is stored under. Keyed (not a plain
    /// digest) because 2^34 codes are few enough to enumerate offline.
    fn user_code_hash(&self, normalized: &str) -> TokenHash {
        self.keys.digest(&format!("lk_uc_{normalized}"))
    }

    /// The device authorization endpoint (RFC 8628 §3.1–3.2): a `POST`
    /// form, with client authentication as at the token endpoint (public
    /// clients send `client_id`), `scope` and `resource` validated as at
    /// the authorization endpoint. Answers JSON with `Cache-Control:
    /// no-store`; errors as the token endpoint's (RFC 6749 §5.2).
    pub async fn device_authorization(&self, req: &HttpRequest) -> HttpResponse {
        match self.device_authorization_inner(req).await {
            Ok(r) => HttpResponse::json(200, serde_json::to_vec(&r).unwrap_or_default()),
            Err(e) => HttpResponse::error(&e),
        }
    }

    async fn device_authorization_inner(
        &self,
        req: &HttpRequest,
    ) -> Result<DeviceAuthorizationResponse, Error> {
        let params = req.credential_form()?;
        params.reject_repeats(&["resource"])?;
        let client = self.authenticate_client(req, &params).await?;
        if !self.grants.enables(GrantType::DeviceCode)
            || !client.allows_grant(GrantType::DeviceCode)
        {
            return Err(Error::UnauthorizedClient(
                "client may not use the device authorization grant".into(),
            ));
        }
        let (scopes, resources) = requested_access(
            &params,
            &client,
            &self.config.scopes,
            self.config.default_scopes.as_ref(),
        )?;
        let ttl = self.config.device_code_ttl;
        let interval = self.config.device_poll_interval;
        // A user code is short, so it can collide with a live one; a fresh
        // pair is drawn then.
        let (device_code, user_code) = retry_lost_races(5, "device authorization", |_| async {
            let now = self.now();
            let (device_code, hash) = self.mint(TokenKind::DeviceCode)?;
            let user_code = generate_user_code(&*self.entropy)?;
            let normalized = normalize_user_code(&user_code)
                .ok_or_else(|| Error::internal("a generated user code is well formed"))?;
            let record = DeviceRecord {
                hash,
                user_code: self.user_code_hash(&normalized),
                client_id: client.id.clone(),
                scopes: scopes.clone(),
                resources: resources.clone(),
                created_at: now,
                expires_at: now.plus(ttl),
                interval,
                last_poll: None,
                status: DeviceStatus::Pending,
            };
            match self.store.insert_device(&record).await {
                Ok(()) => Ok(Attempt::Done((device_code, user_code))),
                Err(StorageError::Conflict) => Ok(Attempt::Lost),
                Err(e) => Err(Error::from(e)),
            }
        })
        .await?;
        let verification_uri = self.config.endpoints.device_verification.clone();
        Ok(DeviceAuthorizationResponse {
            device_code: device_code.expose().to_owned(),
            verification_uri_complete: with_query(&verification_uri, &[("user_code", &user_code)]),
            user_code,
            verification_uri,
            expires_in: ttl,
            interval,
        })
    }

    /// The user typed `user_code` at the verification page (RFC 8628
    /// §3.3). For a live, undecided code of a client that may still use
    /// the grant, parks a consent challenge bound to `binding` (as
    /// [`Engine::authorize`] does) and returns it: continue with
    /// [`Engine::resume`] once the user is signed in. `Ok(None)` for
    /// anything else (malformed, unknown, expired, decided): callers count
    /// those against the guessing budget and say only "not valid".
    ///
    /// # Errors
    /// Storage or randomness failures.
    pub async fn enter_user_code(
        &self,
        user_code: &str,
        binding: &str,
    ) -> Result<Option<Secret>, Error> {
        let Some(normalized) = normalize_user_code(user_code) else {
            return Ok(None);
        };
        let hash = self.user_code_hash(&normalized);
        let Some(d) = self.store.find_device_by_user_code(&hash).await? else {
            return Ok(None);
        };
        if d.expires_at <= self.now() || d.status != DeviceStatus::Pending {
            return Ok(None);
        }
        // Approved already: the approval sits under the device code's hash.
        if self.store.get_code(&d.hash).await?.is_some() {
            return Ok(None);
        }
        let Some(client) = self.store.get_client(&d.client_id).await? else {
            return Ok(None);
        };
        if !client.allows_grant(GrantType::DeviceCode) {
            return Ok(None);
        }
        let pending = PendingAuthorization {
            client_id: d.client_id,
            // Not a redirect target: the consent page shows it as where
            // the user stays (this server), and nothing is sent there.
            redirect_uri: self.config.endpoints.device_verification.clone(),
            redirect_uri_explicit: false,
            state: None,
            scopes: d.scopes,
            resources: d.resources,
            code_challenge: String::new(),
            device: Some(PendingDevice {
                hash: d.hash,
                expires_at: d.expires_at,
            }),
        };
        let (challenge, _) = self.park(&pending, binding).await?;
        Ok(Some(challenge))
    }

    /// The user approved a device request: in one
    /// [`crate::storage::GrantStore::approve`] step, takes the challenge,
    /// merges the grant and stores the approval under the device code's
    /// hash (bound to the subject and the grant), valid until the device
    /// code expires.
    pub(crate) async fn approve_device(
        &self,
        client: &ClientRecord,
        c: &ChallengeRecord,
        device: PendingDevice,
        by: &crate::authorize::Approver,
        granted: ScopeSet,
        remember: bool,
    ) -> Result<AuthorizeOutcome, Error> {
        let now = self.now();
        if device.expires_at <= now {
            return Err(Error::InvalidChallenge(
                "the code has expired; start again on your device".into(),
            ));
        }
        // The pending request's "redirect URI" (the verification page)
        // and empty PKCE challenge are stored as they are: nothing reads
        // them, since only the device grant can find this hash.
        let code = approved_code(
            &c.request,
            &by.subject,
            granted,
            device.hash,
            now,
            device.expires_at,
        );
        let approval = self.approval(Some(c.hash), code, remember, by)?;
        match self.store.approve(&approval).await {
            Ok(ApproveOutcome::Approved { .. }) => {
                self.mark_registration_used(client).await;
                Ok(AuthorizeOutcome::DeviceDecided {
                    approved: true,
                    client_name: client.name.clone(),
                })
            }
            Ok(ApproveOutcome::ClientGone) => Err(client_gone()),
            // The hash is taken: another approval of this device landed
            // first (the same code entered in two browsers).
            Ok(_) | Err(StorageError::Conflict) => Err(challenge_gone()),
            Err(e) => Err(e.into()),
        }
    }

    /// The user denied a device request (its challenge already taken).
    pub(crate) async fn deny_device(
        &self,
        client_id: &str,
        device: PendingDevice,
    ) -> Result<AuthorizeOutcome, Error> {
        self.store.deny_device(&device.hash).await?;
        let client_name = self
            .store
            .get_client(client_id)
            .await?
            .map_or_else(|| client_id.to_owned(), |c| c.name);
        Ok(AuthorizeOutcome::DeviceDecided {
            approved: false,
            client_name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::entropy::SystemEntropy;

    #[test]
    fn user_codes_are_grouped_consonants() {
        for _ in 0..200 {
            let c = generate_user_code(&SystemEntropy::new()).unwrap();
            assert_eq!(c.len(), 9);
            assert_eq!(&c[4..5], "-");
            assert!(c
                .bytes()
                .filter(|b| *b != b'-')
                .all(|b| USER_CODE_ALPHABET.contains(&b)));
        }
    }

    #[test]
    fn typing_is_forgiving_but_not_sloppy() {
        assert_eq!(
            normalize_user_code("wdjb-mjht").as_deref(),
            Some("WDJBMJHT")
        );
        assert_eq!(
            normalize_user_code(" WDJB MJHT ").as_deref(),
            Some("WDJBMJHT")
        );
        assert_eq!(normalize_user_code("WDJBMJHT").as_deref(), Some("WDJBMJHT"));
        assert_eq!(normalize_user_code("WDJB-MJH"), None);
        assert_eq!(normalize_user_code("WDJB-MJHA"), None, "vowels never occur");
        assert_eq!(normalize_user_code("WDJB-MJH0"), None);
        assert_eq!(normalize_user_code("WDJB-MJHTX"), None);
    }
}
