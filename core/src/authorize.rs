//! The authorization endpoint (OAuth 2.1 §4.1.1–4.1.2, RFC 6749 §4.1) and
//! the login/consent hand-off to the host.
//!
//! The engine validates the request and answers with data the host acts on
//! ([`AuthorizeOutcome`]): show an error page, log the user in, ask for
//! consent, or redirect. Login and consent screens belong to the host; the
//! engine only parks the validated request behind a single-use challenge
//! bound to the user agent, and re-validates everything when the host
//! completes it.

use ring::digest;

use crate::audit::{Audit, Source};
use crate::clock::Timestamp;
use crate::config::MAX_CODE_TTL;
use crate::engine::Engine;
use crate::error::Error;
use crate::http::{HttpRequest, Params};
use crate::model::{
    ChallengeRecord, ClientRecord, CodeRecord, CodeStatus, GrantRecord, GrantType,
    PendingAuthorization, Visibility,
};
use crate::pkce;
use crate::redirect::validate_resource;
use crate::redirect::{redirect_host, redirect_matches, with_query};
use crate::retry::{retry_lost_races, Attempt};
use crate::scope::{ScopeInfo, ScopeRegistry, ScopeSet};
use crate::storage::{Approval, ApproveOutcome, Storage, StorageError};
use crate::token::{Secret, TokenHash, TokenKind};

/// Longest `state` accepted.
pub const MAX_STATE_LEN: usize = 1024;

/// The user the host has authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Stable user identifier (the token's `sub`).
    pub subject: String,
    /// The account (organisation) the user acts in; private clients may
    /// only be authorized by users of their owner account.
    pub account: String,
}

/// What the consent screen needs to show.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentPrompt {
    /// The challenge to send back with the decision (hidden form field).
    pub challenge: Secret,
    /// Client id.
    pub client_id: String,
    /// Client display name.
    pub client_name: String,
    /// Client visibility.
    pub visibility: Visibility,
    /// Domains the client has proven it owns, when they host every one of
    /// its redirect URIs; empty otherwise, so the page does not present
    /// the app as verified ([`ClientRecord::publisher_verified`]).
    pub verified_domains: Vec<String>,
    /// Domains it had proven, whose proof a re-check no longer found
    /// ([`crate::model::DomainState::Lapsed`]).
    pub lapsed_domains: Vec<String>,
    /// Where the user will be sent.
    pub redirect_uri: String,
    /// Host of the redirect URI, to show prominently.
    pub redirect_host: String,
    /// Requested scopes with descriptions (implied scopes listed too).
    pub scopes: Vec<ScopeInfo>,
    /// The scopes the request named (without implied ones): the ones a
    /// user may untick on partial approval.
    pub requested: ScopeSet,
    /// Requested resources (RFC 8707).
    pub resources: Vec<String>,
    /// When the challenge expires.
    pub expires_at: Timestamp,
}

/// What the host does next. `Debug` redacts the redirect URL, which may
/// carry an authorization code.
#[non_exhaustive]
pub enum AuthorizeOutcome {
    /// Redirect the user agent (302/303) to this URL: a code, or an error
    /// with `state` and `iss` (RFC 6749 §4.1.2, RFC 9207).
    Redirect(String),
    /// Render this error yourself; never redirect (unknown client,
    /// unregistered redirect URI, malformed request before the redirect URI
    /// could be trusted, invalid challenge).
    ShowError(Error),
    /// Authenticate the user, then call [`Engine::resume`] with this
    /// challenge.
    LoginRequired {
        /// The challenge to carry through login.
        challenge: Secret,
    },
    /// Show the consent screen, then call [`Engine::accept`] or
    /// [`Engine::reject`].
    ConsentRequired(Box<ConsentPrompt>),
    /// The user decided on a device authorization (RFC 8628 §3.3): there
    /// is nowhere to redirect; tell them to return to their device.
    DeviceDecided {
        /// Whether the user approved.
        approved: bool,
        /// The client's display name.
        client_name: String,
    },
}

impl std::fmt::Debug for AuthorizeOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthorizeOutcome::Redirect(url) => {
                let base = url.split('?').next().unwrap_or_default();
                write!(f, "Redirect({base}?<redacted>)")
            }
            AuthorizeOutcome::ShowError(e) => f.debug_tuple("ShowError").field(e).finish(),
            AuthorizeOutcome::LoginRequired { .. } => f.write_str("LoginRequired"),
            AuthorizeOutcome::ConsentRequired(p) => {
                f.debug_tuple("ConsentRequired").field(p).finish()
            }
            AuthorizeOutcome::DeviceDecided { approved, .. } => f
                .debug_struct("DeviceDecided")
                .field("approved", approved)
                .finish_non_exhaustive(),
        }
    }
}

/// The user's decision on a consent screen.
#[derive(Clone, Debug, Default)]
pub struct ConsentDecision {
    /// Scopes approved; `None` approves everything requested. Must be a
    /// non-empty subset of the request.
    pub scopes: Option<ScopeSet>,
    /// Skip the prompt next time for a subset of these scopes.
    pub remember: bool,
}

fn redirect_error(p: &PendingAuthorization, issuer: &str, err: &Error) -> AuthorizeOutcome {
    let desc = err.description();
    let mut q: Vec<(&str, &str)> = vec![("error", err.code()), ("error_description", &desc)];
    if let Some(s) = &p.state {
        q.push(("state", s));
    }
    q.push(("iss", issuer));
    AuthorizeOutcome::Redirect(with_query(&p.redirect_uri, &q))
}

/// Where the request `p` parked starts again: on the authorization
/// endpoint with the same parameters the client sent (the redirect URI only
/// if it was sent), so validating it again gives the same request; for a
/// device (RFC 8628 §3.3), the code-entry page, as its user code is stored
/// hashed only (the new user types it again; the device keeps polling).
fn restart_path(endpoints: &crate::config::Endpoints, p: &PendingAuthorization) -> String {
    let path_of = |url| match crate::metadata::split_origin(url) {
        (_, "") => "/",
        (_, path) => path,
    };
    if p.device.is_some() {
        return path_of(&endpoints.device_verification).to_owned();
    }
    let path = path_of(&endpoints.authorization);
    let scope = p.scopes.to_string();
    let mut q: Vec<(&str, &str)> = vec![("response_type", "code"), ("client_id", &p.client_id)];
    if p.redirect_uri_explicit {
        q.push(("redirect_uri", &p.redirect_uri));
    }
    if !scope.is_empty() {
        q.push(("scope", &scope));
    }
    if let Some(s) = &p.state {
        q.push(("state", s));
    }
    q.push(("code_challenge", &p.code_challenge));
    q.push(("code_challenge_method", "S256"));
    for r in &p.resources {
        q.push(("resource", r));
    }
    format!("{path}?{}", crate::http::encode_form(&q))
}

/// Finds the redirect URI to use (RFC 6749 §3.1.2.3): the presented one if
/// it matches a registered one, or the only registered one.
///
/// # Errors
/// `UntrustedRedirect` (never redirected).
pub fn resolve_redirect_uri(
    client: &ClientRecord,
    presented: Option<&str>,
) -> Result<(String, bool), Error> {
    match presented {
        Some(p) if client.redirect_uris.iter().any(|r| redirect_matches(r, p)) => {
            Ok((p.to_owned(), true))
        }
        Some(_) => Err(Error::UntrustedRedirect(
            "redirect_uri is not registered for this client".into(),
        )),
        None => match client.redirect_uris.as_slice() {
            [only] => Ok((only.clone(), false)),
            _ => Err(Error::UntrustedRedirect(
                "redirect_uri is required when a client has several".into(),
            )),
        },
    }
}

/// Validates everything after the redirect URI: response type, grant,
/// PKCE, scopes and resources. Pure: the caller turns an error into a
/// redirect.
///
/// # Errors
/// The OAuth error to redirect with.
pub fn validate_request(
    params: &Params,
    client: &ClientRecord,
    registry: &ScopeRegistry,
    default_scopes: Option<&ScopeSet>,
    base: &mut PendingAuthorization,
) -> Result<(), Error> {
    // Any repeated parameter but `resource` is an error (RFC 6749 §3.1).
    params.reject_repeats(&["resource"])?;
    match params.single("response_type")? {
        None => return Err(Error::invalid_request("missing parameter response_type")),
        Some("code") => {}
        Some(_) => {
            return Err(Error::UnsupportedResponseType(
                "only response_type=code is supported (OAuth 2.1)".into(),
            ))
        }
    }
    if !client.allows_grant(GrantType::AuthorizationCode) {
        return Err(Error::UnauthorizedClient(
            "client may not use the authorization code grant".into(),
        ));
    }
    let challenge = params
        .single("code_challenge")?
        .ok_or_else(|| Error::invalid_request("code_challenge is required (PKCE)"))?;
    match params.single("code_challenge_method")? {
        Some("S256") => {}
        Some(_) => return Err(Error::invalid_request("code_challenge_method must be S256")),
        None => {
            return Err(Error::invalid_request(
                "code_challenge_method is required and must be S256",
            ))
        }
    }
    pkce::validate_challenge(challenge)?;
    let (scopes, resources) = requested_access(params, client, registry, default_scopes)?;
    base.code_challenge = challenge.to_owned();
    base.scopes = scopes;
    base.resources = resources;
    Ok(())
}

/// The scopes and resources (RFC 8707) a request asks for, checked against
/// the registry and the client: what the authorization endpoint and the
/// device authorization endpoint (RFC 8628 §3.1) both accept. Without
/// `resource`, every resource the client may use.
///
/// # Errors
/// `invalid_scope`, `invalid_target` or `invalid_request`.
pub fn requested_access(
    params: &Params,
    client: &ClientRecord,
    registry: &ScopeRegistry,
    default_scopes: Option<&ScopeSet>,
) -> Result<(ScopeSet, Vec<String>), Error> {
    let scopes = match params.single("scope")? {
        Some(s) => ScopeSet::parse(s)?,
        None => default_scopes
            .cloned()
            .ok_or_else(|| Error::InvalidScope("scope is required".into()))?,
    };
    registry.check_known(&scopes)?;
    if !scopes.is_subset(&client.scopes) {
        return Err(Error::InvalidScope(
            "scope not allowed for this client".into(),
        ));
    }
    let mut resources: Vec<String> = Vec::new();
    for r in params.all("resource") {
        validate_resource(r)?;
        if !client.resources.contains(r) {
            return Err(Error::InvalidTarget(
                "resource not allowed for this client".into(),
            ));
        }
        if !resources.contains(r) {
            resources.push(r.clone());
        }
    }
    if resources.is_empty() {
        // RFC 8707 §2: without `resource` the server picks a default; the
        // client's allowed resources keep the token audience-restricted.
        resources.clone_from(&client.resources);
    }
    Ok((scopes, resources))
}

/// Re-checks a parked request against the client as it is now, so an edit
/// or deletion between prompt and decision cannot be bypassed.
fn still_valid(
    client: &ClientRecord,
    p: &PendingAuthorization,
    registry: &ScopeRegistry,
) -> Result<(), Error> {
    // A device request's "redirect URI" is this server's own
    // verification page, never one the client registered.
    if p.device.is_none()
        && !client
            .redirect_uris
            .iter()
            .any(|r| redirect_matches(r, &p.redirect_uri))
    {
        return Err(Error::UntrustedRedirect(
            "redirect_uri is no longer registered".into(),
        ));
    }
    let grant = match p.device {
        Some(_) => GrantType::DeviceCode,
        None => GrantType::AuthorizationCode,
    };
    if !client.allows_grant(grant) {
        return Err(Error::UnauthorizedClient(
            "client may no longer use this grant".into(),
        ));
    }
    registry.check_known(&p.scopes)?;
    if !p.scopes.is_subset(&client.scopes) {
        return Err(Error::InvalidScope(
            "scope no longer allowed for this client".into(),
        ));
    }
    if p.resources.iter().any(|r| !client.resources.contains(r)) {
        return Err(Error::InvalidTarget(
            "resource no longer allowed for this client".into(),
        ));
    }
    Ok(())
}

/// The code an approval of `p` by `subject` stores, unused, issued `now`
/// (the store sets its grant id when it merges the approval).
pub(crate) fn approved_code(
    p: &PendingAuthorization,
    subject: &str,
    granted: ScopeSet,
    hash: TokenHash,
    now: Timestamp,
    expires_at: Timestamp,
) -> CodeRecord {
    CodeRecord {
        hash,
        client_id: p.client_id.clone(),
        grant_id: String::new(),
        subject: subject.to_owned(),
        redirect_uri: p.redirect_uri.clone(),
        redirect_uri_explicit: p.redirect_uri_explicit,
        scopes: granted,
        resources: p.resources.clone(),
        code_challenge: p.code_challenge.clone(),
        issued_at: now,
        expires_at,
        failed_attempts: 0,
        status: CodeStatus::Unused,
    }
}

pub(crate) fn challenge_gone() -> Error {
    Error::InvalidChallenge("challenge already used or expired".into())
}

pub(crate) fn client_gone() -> Error {
    Error::UntrustedRedirect("the client no longer exists".into())
}

fn private_app() -> Error {
    Error::AccessDenied("this application is private to another account".into())
}

fn binding_hash(binding: &str) -> TokenHash {
    let mut ctx = digest::Context::new(&digest::SHA256);
    ctx.update(b"latchkey ua-binding v1\0");
    ctx.update(binding.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(ctx.finish().as_ref());
    TokenHash(out)
}

/// Whether a remembered grant covers this request without prompting.
#[must_use]
pub fn consent_remembered(
    grant: Option<&GrantRecord>,
    p: &PendingAuthorization,
    client: &ClientRecord,
    config: &crate::config::EngineConfig,
) -> bool {
    if config.reprompt_public_clients && client.visibility == Visibility::Public {
        return false;
    }
    // Nobody vetted a self-registered or self-described client:
    // remembering consent for it is the host's choice.
    let unvetted_remembered = if client.metadata_document.is_some() {
        config
            .client_id_metadata_documents
            .as_ref()
            .is_some_and(|m| m.remember_consent)
    } else {
        config
            .registration
            .as_ref()
            .is_some_and(|r| r.remember_consent)
    };
    if client.visibility == Visibility::Unvetted && !unvetted_remembered {
        return false;
    }
    // RFC 8252 §8.6: without a secret, a loopback or private-use-scheme
    // redirect proves nothing about which app is asking, so an impostor
    // could ride on remembered consent. Only an https redirect (a claimed
    // domain) identifies a public client.
    if config.reprompt_unverifiable_native_clients
        && !client.auth_method.is_confidential()
        && !p.redirect_uri.starts_with("https://")
    {
        return false;
    }
    grant.is_some_and(|g| {
        g.remembered_scopes
            .as_ref()
            .is_some_and(|r| p.scopes.is_subset(r))
            && p.resources.iter().all(|x| g.resources.contains(x))
    })
}

impl<S: Storage + ?Sized> Engine<S> {
    /// Handles a request to the authorization endpoint (GET query, or POST
    /// form). `principal` is the user the host already knows, if any;
    /// `binding` ties any challenge to this user agent (e.g. a hash of the
    /// host's session cookie) so another browser cannot complete it.
    pub async fn authorize(
        &self,
        req: &HttpRequest,
        principal: Option<&Principal>,
        binding: &str,
    ) -> AuthorizeOutcome {
        match self.authorize_inner(req, principal, binding).await {
            Ok(o) => o,
            Err(e) => AuthorizeOutcome::ShowError(e),
        }
    }

    async fn authorize_inner(
        &self,
        req: &HttpRequest,
        principal: Option<&Principal>,
        binding: &str,
    ) -> Result<AuthorizeOutcome, Error> {
        let params = match req.method.as_str() {
            "GET" => Params::parse(&req.query)?,
            "POST" => req.form_body()?,
            _ => return Err(Error::MethodNotAllowed("GET, POST")),
        };
        let client_id = params
            .single("client_id")?
            .ok_or_else(|| Error::invalid_request("missing parameter client_id"))?;
        // Never a redirect: a client that cannot be identified has no
        // trusted redirect URI (RFC 6749 §4.1.2.1).
        let client = self
            .lookup_client(client_id)
            .await
            .map_err(|e| e.into_error(Error::UntrustedRedirect))?
            .ok_or_else(|| Error::UntrustedRedirect("unknown client".into()))?;
        let (redirect_uri, explicit) =
            resolve_redirect_uri(&client, params.single("redirect_uri")?)?;
        // The redirect URI is trusted from here on: errors go back to it.
        let state = params.single("state").ok().flatten().map(str::to_owned);
        let mut pending = PendingAuthorization {
            client_id: client.id.clone(),
            redirect_uri,
            redirect_uri_explicit: explicit,
            state: state.filter(|s| s.len() <= MAX_STATE_LEN),
            scopes: ScopeSet::new(),
            resources: vec![],
            code_challenge: String::new(),
            device: None,
        };
        if params
            .single("state")
            .ok()
            .flatten()
            .is_some_and(|s| s.len() > MAX_STATE_LEN)
        {
            return Ok(redirect_error(
                &pending,
                &self.config.issuer,
                &Error::invalid_request("state too long"),
            ));
        }
        if let Err(e) = validate_request(
            &params,
            &client,
            &self.config.scopes,
            self.config.default_scopes.as_ref(),
            &mut pending,
        ) {
            return Ok(redirect_error(&pending, &self.config.issuer, &e));
        }
        match principal {
            None => {
                let (challenge, _) = self.park(&pending, binding).await?;
                Ok(AuthorizeOutcome::LoginRequired { challenge })
            }
            Some(p) => {
                self.decide_consent(&client, pending, p, None, binding, &Source::of(req))
                    .await
            }
        }
    }

    /// Stores the validated request behind a new challenge; returns the
    /// challenge and its expiry.
    pub(crate) async fn park(
        &self,
        pending: &PendingAuthorization,
        binding: &str,
    ) -> Result<(Secret, Timestamp), Error> {
        let (challenge, hash) = self.mint(TokenKind::ConsentChallenge)?;
        let now = self.now();
        let expires_at = now.plus(self.config.challenge_ttl);
        self.store
            .insert_challenge(&ChallengeRecord {
                hash,
                binding: binding_hash(binding),
                request: pending.clone(),
                created_at: now,
                expires_at,
            })
            .await?;
        Ok((challenge, expires_at))
    }

    /// Takes a challenge for good; a challenge someone else took first
    /// (a double submit, a race) is an error for the host to show.
    async fn consume(&self, hash: &TokenHash) -> Result<(), Error> {
        match self.store.take_challenge(hash, self.now()).await? {
            Some(_) => Ok(()),
            None => Err(challenge_gone()),
        }
    }

    /// A private app is only for users of its owner account: for anyone
    /// else, uses up the parked challenge (if any) and answers with an error
    /// page. Shown, not redirected: anyone can register a private app with
    /// any redirect URI, and an automatic redirect for strangers would make
    /// this server an open redirector (RFC 9700 §4.11.2).
    async fn refuse_stranger(
        &self,
        client: &ClientRecord,
        principal: &Principal,
        parked: Option<&TokenHash>,
    ) -> Result<Option<AuthorizeOutcome>, Error> {
        if client.visibility != Visibility::Private || principal.account == client.owner {
            return Ok(None);
        }
        if let Some(h) = parked {
            self.store.take_challenge(h, self.now()).await?;
        }
        Ok(Some(AuthorizeOutcome::ShowError(private_app())))
    }

    /// With a known user: refuse private clients of other accounts, skip the
    /// prompt for remembered consent, or ask.
    async fn decide_consent(
        &self,
        client: &ClientRecord,
        pending: PendingAuthorization,
        principal: &Principal,
        parked: Option<(Secret, &ChallengeRecord)>,
        binding: &str,
        source: &Source,
    ) -> Result<AuthorizeOutcome, Error> {
        if let Some(refusal) = self
            .refuse_stranger(client, principal, parked.as_ref().map(|(_, c)| &c.hash))
            .await?
        {
            return Ok(refusal);
        }
        let grant = self.store.get_grant(&principal.subject, &client.id).await?;
        // A device request is always shown (RFC 8628 §5.4): entering a code
        // someone else sent is how remote phishing works, and the prompt is
        // the user's one chance to notice.
        if pending.device.is_none()
            && consent_remembered(grant.as_ref(), &pending, client, &self.config)
        {
            let challenge = parked.as_ref().map(|(_, c)| c.hash);
            let scopes = pending.scopes.clone();
            let remember = true;
            return self
                .issue_code(
                    client,
                    &pending,
                    &Approver::new(principal, source),
                    scopes,
                    remember,
                    challenge,
                )
                .await;
        }
        let (challenge, expires_at) = match parked {
            Some((s, c)) => (s, c.expires_at),
            None => self.park(&pending, binding).await?,
        };
        Ok(AuthorizeOutcome::ConsentRequired(Box::new(
            self.prompt(client, &pending, challenge, expires_at),
        )))
    }

    fn prompt(
        &self,
        client: &ClientRecord,
        p: &PendingAuthorization,
        challenge: Secret,
        expires_at: Timestamp,
    ) -> ConsentPrompt {
        let scopes = self
            .config
            .scopes
            .describe(&self.config.scopes.expand(&p.scopes));
        ConsentPrompt {
            challenge,
            client_id: client.id.clone(),
            client_name: client.name.clone(),
            visibility: client.visibility,
            verified_domains: if client.publisher_verified() {
                client.verified_domains().map(str::to_owned).collect()
            } else {
                vec![]
            },
            lapsed_domains: client.lapsed_domains().map(str::to_owned).collect(),
            redirect_uri: p.redirect_uri.clone(),
            redirect_host: redirect_host(&p.redirect_uri),
            scopes,
            requested: p.scopes.clone(),
            resources: p.resources.clone(),
            expires_at,
        }
    }

    /// Loads a challenge and checks expiry, binding and the client as it is
    /// now. `Ok(Err(outcome))` is a final answer: the request became invalid
    /// after its redirect URI was trusted, so the error goes to the client
    /// and the challenge is used up.
    async fn load_challenge(
        &self,
        challenge: &str,
        binding: &str,
    ) -> Result<Result<(ChallengeRecord, ClientRecord), AuthorizeOutcome>, Error> {
        let invalid =
            || Error::InvalidChallenge("unknown, expired or already used challenge".into());
        let hash = self
            .keys
            .hash(TokenKind::ConsentChallenge, challenge)
            .ok_or_else(invalid)?;
        let c = self.store.get_challenge(&hash).await?.ok_or_else(invalid)?;
        if c.expires_at <= self.now() {
            return Err(invalid());
        }
        if !c.binding.ct_eq(&binding_hash(binding)) {
            return Err(Error::InvalidChallenge(
                "challenge belongs to another browser session".into(),
            ));
        }
        let client = self
            .store
            .get_client(&c.request.client_id)
            .await?
            .ok_or_else(|| Error::UntrustedRedirect("the client no longer exists".into()))?;
        match still_valid(&client, &c.request, &self.config.scopes) {
            Ok(()) => Ok(Ok((c, client))),
            Err(e @ Error::UntrustedRedirect(_)) => Err(e),
            // A device request has no redirect URI to send the error to.
            Err(e) if c.request.device.is_some() => {
                self.consume(&hash).await?;
                Err(e)
            }
            Err(e) => {
                self.consume(&hash).await?;
                Ok(Err(redirect_error(&c.request, &self.config.issuer, &e)))
            }
        }
    }

    /// After the host logged the user in: continues a parked request. Gives
    /// a redirect when consent is remembered, otherwise the consent prompt.
    /// Calling it again re-renders the prompt. `source` is where the
    /// user's request came from ([`Source::of`] the host's request): when
    /// remembered consent approves at once, the `consent_given` event
    /// records it with the user as actor.
    pub async fn resume(
        &self,
        challenge: &str,
        binding: &str,
        principal: &Principal,
        source: &Source,
    ) -> AuthorizeOutcome {
        let r = async {
            let (c, client) = match self.load_challenge(challenge, binding).await? {
                Ok(x) => x,
                Err(outcome) => return Ok(outcome),
            };
            let pending = c.request.clone();
            self.decide_consent(
                &client,
                pending,
                principal,
                Some((Secret::new(challenge), &c)),
                binding,
                source,
            )
            .await
        };
        r.await.unwrap_or_else(AuthorizeOutcome::ShowError)
    }

    /// The user approved. Issues a code for the approved scopes and returns
    /// the redirect. The challenge is single-use. The `grant_created` and
    /// `consent_given` events name the user as actor, from `source`
    /// ([`Source::of`] the request that carried the decision).
    pub async fn accept(
        &self,
        challenge: &str,
        binding: &str,
        principal: &Principal,
        decision: ConsentDecision,
        source: &Source,
    ) -> AuthorizeOutcome {
        let r = async {
            let (c, client) = match self.load_challenge(challenge, binding).await? {
                Ok(x) => x,
                Err(outcome) => return Ok(outcome),
            };
            let requested = &c.request.scopes;
            let granted = decision.scopes.unwrap_or_else(|| requested.clone());
            if granted.is_empty() || !granted.is_subset(requested) {
                return Err(Error::InvalidScope(
                    "approved scopes must be a non-empty subset of the request".into(),
                ));
            }
            if let Some(refusal) = self
                .refuse_stranger(&client, principal, Some(&c.hash))
                .await?
            {
                return Ok(refusal);
            }
            let approver = Approver::new(principal, source);
            if let Some(device) = c.request.device {
                return self
                    .approve_device(&client, &c, device, &approver, granted, decision.remember)
                    .await;
            }
            // The challenge is consumed in the same atomic step as the
            // grant and code: a failure leaves it usable for a retry.
            self.issue_code(
                &client,
                &c.request,
                &approver,
                granted,
                decision.remember,
                Some(c.hash),
            )
            .await
        };
        r.await.unwrap_or_else(AuthorizeOutcome::ShowError)
    }

    /// The user wants to decide as someone else ("not you? switch
    /// account"). Uses up the challenge, which is bound to this browser
    /// session and so to this user, and returns the authorization request
    /// it parked as a same-origin path (`/oauth/authorize?…`, RFC 6749
    /// §4.1.1), for the host to send the browser to once another user has
    /// signed in: the request starts again under a new challenge, with the
    /// client's `state`, PKCE challenge, scopes and resources unchanged.
    ///
    /// # Errors
    /// [`Error::InvalidChallenge`] for an unknown, expired, used or foreign
    /// challenge; storage errors.
    pub async fn restart(&self, challenge: &str, binding: &str) -> Result<String, Error> {
        let c = match self.load_challenge(challenge, binding).await? {
            Ok((c, _)) => c,
            // The request is no longer one the client may make: nothing to
            // restart, and the flow shows why on the next attempt.
            Err(_) => return Err(challenge_gone()),
        };
        self.consume(&c.hash).await?;
        Ok(restart_path(&self.config.endpoints, &c.request))
    }

    /// The user denied: redirect with `access_denied` (RFC 6749 §4.1.2.1).
    pub async fn reject(&self, challenge: &str, binding: &str) -> AuthorizeOutcome {
        let r = async {
            let c = match self.load_challenge(challenge, binding).await? {
                Ok((c, _)) => c,
                Err(outcome) => return Ok(outcome),
            };
            self.consume(&c.hash).await?;
            if let Some(device) = c.request.device {
                return self.deny_device(&c.request.client_id, device).await;
            }
            let e = Error::AccessDenied("the user denied the request".into());
            Ok(redirect_error(&c.request, &self.config.issuer, &e))
        };
        r.await.unwrap_or_else(AuthorizeOutcome::ShowError)
    }

    /// A self-registered client a user approved is no longer an unused
    /// registration ([`Engine::purge_unused_registrations`]). Best effort:
    /// a lost race or an outage only keeps the flag unset, which the next
    /// approval retries; it never fails the user's authorization.
    /// "The user approved `code`", with a fresh candidate grant id.
    pub(crate) fn approval(
        &self,
        challenge: Option<TokenHash>,
        code: CodeRecord,
        remember: bool,
        by: &Approver,
    ) -> Result<Approval, Error> {
        Ok(Approval {
            challenge,
            code,
            remember,
            new_grant_id: self.new_id("lkg_")?,
            audit: by.audit.clone(),
        })
    }

    pub(crate) async fn mark_registration_used(&self, client: &ClientRecord) {
        if client.registration.as_ref().is_none_or(|r| r.used) {
            return;
        }
        let mut c = client.clone();
        if let Some(r) = c.registration.as_mut() {
            r.used = true;
        }
        c.revision += 1;
        let _ = self.store.update_client(&c, client.revision, &[]).await;
    }

    /// Records "the user approved" in one atomic step: consumes `challenge`
    /// (when the approval completes a parked request), merges the grant and
    /// stores a fresh code. Concurrent approvals of one user and client all
    /// succeed; only a code-hash collision (never in practice) is retried.
    async fn issue_code(
        &self,
        client: &ClientRecord,
        p: &PendingAuthorization,
        by: &Approver,
        granted: ScopeSet,
        remember: bool,
        challenge: Option<TokenHash>,
    ) -> Result<AuthorizeOutcome, Error> {
        let ttl = client
            .lifetimes
            .authorization_code
            .unwrap_or(self.config.code_ttl)
            .min(MAX_CODE_TTL);
        retry_lost_races(3, "authorization code", |_| async {
            let now = self.now();
            let (code, hash) = self.mint(TokenKind::AuthorizationCode)?;
            let approval = self.approval(
                challenge,
                approved_code(p, &by.subject, granted.clone(), hash, now, now.plus(ttl)),
                remember,
                by,
            )?;
            match self.store.approve(&approval).await {
                Ok(ApproveOutcome::Approved { .. }) => {
                    self.mark_registration_used(client).await;
                    let mut q: Vec<(&str, &str)> = vec![("code", code.expose())];
                    if let Some(s) = &p.state {
                        q.push(("state", s));
                    }
                    q.push(("iss", &self.config.issuer));
                    Ok(Attempt::Done(AuthorizeOutcome::Redirect(with_query(
                        &p.redirect_uri,
                        &q,
                    ))))
                }
                Ok(ApproveOutcome::ChallengeGone) => Err(challenge_gone()),
                Ok(ApproveOutcome::ClientGone) => Err(client_gone()),
                Err(StorageError::Conflict) => Ok(Attempt::Lost),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }
}

/// The user approving a request, and what the approval's events record
/// about them.
pub(crate) struct Approver {
    pub(crate) subject: String,
    pub(crate) audit: Audit,
}

impl Approver {
    pub(crate) fn new(principal: &Principal, source: &Source) -> Self {
        Approver {
            subject: principal.subject.clone(),
            audit: Audit::user(&principal.subject, source.clone()),
        }
    }
}
