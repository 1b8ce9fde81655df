//! Dynamic client registration (RFC 7591) and management (RFC 7592):
//! agents and MCP clients that meet this server for the first time
//! register themselves, with no operator in the loop.
//!
//! Off unless [`crate::config::EngineConfig::registration`] is set. The
//! host's [`RegistrationConfig`] says who may register (anyone, holders of
//! an initial access token, or whoever a callback admits), which scopes and
//! resources self-registered clients may ask for, how many may exist, and
//! how long a registration nobody approved is kept. Such clients are
//! [`Visibility::Unvetted`]: any user may authorize them, the consent page
//! says nobody vetted them, and remembered consent for them follows
//! [`RegistrationConfig::remember_consent`].

pub mod metadata;

use std::sync::Arc;

use crate::audit::{Audit, Source};
use crate::engine::Engine;
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse};
use crate::manage_error::ManageError;
use crate::model::{ClientRecord, DynamicRegistration, EventKind, Visibility};
use crate::scope::ScopeSet;
use crate::storage::{Storage, StorageError};
use crate::token::{TokenHash, TokenKind};
use metadata::{ClientInformation, ClientMetadata};

/// The host's admission check: the metadata and the bearer token (if
/// any) of a registration request.
pub type Admit = Arc<dyn Fn(&ClientMetadata, Option<&str>) -> bool + Send + Sync>;

/// Who may register.
#[derive(Clone)]
#[non_exhaustive]
pub enum RegistrationAccess {
    /// Anyone (RFC 7591 §3: open registration). Bound it with
    /// [`RegistrationConfig::max_clients`] and rate limits.
    Open,
    /// Holders of one of these initial access tokens, sent as
    /// `Authorization: Bearer` (RFC 7591 §3). Compared in constant time.
    InitialAccessTokens(Vec<String>),
    /// Whoever the host's callback admits, given the metadata and the
    /// bearer token (if any) of the request.
    Callback(Admit),
}

impl std::fmt::Debug for RegistrationAccess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RegistrationAccess::Open => f.write_str("Open"),
            RegistrationAccess::InitialAccessTokens(t) => {
                write!(f, "InitialAccessTokens(<{} redacted>)", t.len())
            }
            RegistrationAccess::Callback(_) => f.write_str("Callback"),
        }
    }
}

/// The host's registration policy.
#[derive(Clone, Debug)]
pub struct RegistrationConfig {
    /// Who may register.
    pub access: RegistrationAccess,
    /// The account that owns self-registered clients (they appear in no
    /// user's developer console).
    pub owner: String,
    /// Scopes a self-registered client may ask for; a request without
    /// `scope` gets all of them, one naming others is refused.
    pub allowed_scopes: ScopeSet,
    /// Resource indicators (RFC 8707) self-registered clients may request
    /// tokens for, e.g. the MCP servers this authorization server protects.
    pub resources: Vec<String>,
    /// Most self-registered clients at once.
    pub max_clients: usize,
    /// Seconds a registration that no user approved is kept
    /// ([`Engine::purge_unused_registrations`]).
    pub unused_ttl: u64,
    /// Whether "don't ask again" applies to self-registered clients.
    /// Default `false`: they are asked for every time.
    pub remember_consent: bool,
}

impl RegistrationConfig {
    /// The scopes a client asking for `requested` may use: all allowed
    /// ones, whatever it names among them; refused when it names one
    /// beyond them.
    ///
    /// The client's `scope` is not a cap: anyone can register again with a
    /// wider one, so it would bound nothing, and it would break step-up
    /// (MCP 2025-11-25): an MCP client registers with the scopes of its
    /// first challenge and later re-authorizes for more. The policy is the
    /// bound, and the user approves each scope on the consent page.
    fn scopes_for(&self, requested: Option<&str>) -> Result<ScopeSet, Error> {
        scopes_within(&self.allowed_scopes, requested)
    }

    /// Open registration for `allowed_scopes` and `resources`, at most
    /// 10,000 clients, unused ones kept a day.
    #[must_use]
    pub fn open(allowed_scopes: ScopeSet, resources: Vec<String>) -> Self {
        RegistrationConfig {
            access: RegistrationAccess::Open,
            owner: "dynamic-registration".into(),
            allowed_scopes,
            resources,
            max_clients: 10_000,
            unused_ttl: 86_400,
            remember_consent: false,
        }
    }
}

/// The scopes an unvetted client (self-registered, or described by its
/// metadata document) may use when its metadata says `requested`: all of
/// `allowed`, whatever it names among them; refused when it names one
/// beyond them (see [`RegistrationConfig::scopes_for`] for why the named
/// ones are no cap).
pub(crate) fn scopes_within(
    allowed: &ScopeSet,
    requested: Option<&str>,
) -> Result<ScopeSet, Error> {
    if let Some(s) = requested {
        let want = ScopeSet::parse(s)
            .map_err(|_| Error::InvalidClientMetadata("scope is malformed".into()))?;
        if !want.is_subset(allowed) {
            return Err(Error::InvalidClientMetadata(
                "scope asks for more than this server grants to clients nobody vetted".into(),
            ));
        }
    }
    Ok(allowed.clone())
}

fn json(status: u16, body: &impl serde::Serialize) -> HttpResponse {
    HttpResponse::json(status, serde_json::to_vec(body).unwrap_or_default())
}

/// RFC 7592 §2.1 / RFC 6750 §3.1: a missing or wrong registration access
/// token.
fn invalid_token() -> HttpResponse {
    let mut r = json(
        401,
        &serde_json::json!({
            "error": "invalid_token",
            "error_description": "the registration access token is missing, invalid or revoked",
        }),
    );
    r.headers.push((
        "WWW-Authenticate".into(),
        "Bearer error=\"invalid_token\"".into(),
    ));
    r
}

fn bearer(req: &HttpRequest) -> Result<Option<&str>, Error> {
    match req.header("authorization")? {
        None => Ok(None),
        Some(h) => crate::http::bearer_token(h)
            .map(Some)
            .ok_or_else(|| Error::invalid_request("malformed Authorization header")),
    }
}

fn json_body(req: &HttpRequest, method: &'static str) -> Result<ClientMetadata, Error> {
    if req.method != method {
        return Err(Error::MethodNotAllowed(method));
    }
    let ct = req.header("content-type")?.unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/json")
    {
        return Err(Error::invalid_request(
            "content type must be application/json",
        ));
    }
    metadata::parse(&req.body)
}

impl<S: Storage + ?Sized> Engine<S> {
    fn registration_config(&self) -> Result<&RegistrationConfig, Error> {
        self.config.registration.as_ref().ok_or(Error::NotFound(
            "dynamic client registration is not enabled".into(),
        ))
    }

    /// The URL of a client's configuration endpoint (RFC 7592 §2).
    fn registration_client_uri(&self, client_id: &str) -> String {
        format!(
            "{}/{}",
            self.config.endpoints.registration,
            crate::http::encode_component(client_id)
        )
    }

    /// The client registration endpoint (RFC 7591 §3): `POST` JSON client
    /// metadata, `201` with the client information, the client secret (for
    /// confidential clients, shown once), and the registration access token
    /// and URI for RFC 7592 management.
    pub async fn register(&self, req: &HttpRequest) -> HttpResponse {
        match self.register_inner(req).await {
            Ok(r) => r,
            Err(e) => HttpResponse::error(&e),
        }
    }

    async fn register_inner(&self, req: &HttpRequest) -> Result<HttpResponse, Error> {
        let policy = self.registration_config()?;
        let meta = json_body(req, "POST")?;
        let presented = bearer(req)?;
        let admitted = match &policy.access {
            RegistrationAccess::Open => true,
            RegistrationAccess::InitialAccessTokens(tokens) => presented.is_some_and(|p| {
                tokens.iter().fold(false, |ok, t| {
                    ok | crate::web::ct_eq(t.as_bytes(), p.as_bytes())
                })
            }),
            RegistrationAccess::Callback(admit) => admit(&meta, presented),
        };
        if !admitted {
            return Ok(invalid_token());
        }
        let checked = meta.check()?;
        let scopes = policy.scopes_for(checked.scope.as_deref())?;
        let existing = self.store.list_clients(&policy.owner).await?;
        if existing.len() >= policy.max_clients {
            return Err(Error::AccessDenied(
                "the registration quota of this server is reached; try again later".into(),
            ));
        }
        let now = self.now();
        let (rat, rat_hash) = self.mint(TokenKind::RegistrationAccessToken)?;
        let secret = if checked.auth_method.is_confidential() {
            Some(self.secret_for(None)?)
        } else {
            None
        };
        let id = self.new_id("lkc_")?;
        // The client registers itself: it is the actor, and the creator.
        let by = Audit::client(&id, Source::of(req));
        let client = ClientRecord {
            id,
            owner: policy.owner.clone(),
            created_by: Some(by.actor.clone()),
            name: checked.name,
            redirect_uris: checked.redirect_uris,
            grant_types: checked.grant_types,
            scopes,
            resources: policy.resources.clone(),
            served_resources: vec![],
            auth_method: checked.auth_method,
            secret: secret.as_ref().map(|(_, hashes)| hashes.clone()),
            visibility: Visibility::Unvetted,
            domains: vec![],
            lifetimes: Default::default(),
            access_token_format: None,
            registration: Some(DynamicRegistration {
                access_token: rat_hash,
                used: false,
                client_uri: checked.client_uri,
                logo_uri: checked.logo_uri,
                tos_uri: checked.tos_uri,
                policy_uri: checked.policy_uri,
                contacts: checked.contacts,
                software_id: checked.software_id,
                software_version: checked.software_version,
            }),
            metadata_document: None,
            created_at: now,
            updated_at: now,
            revision: 0,
        };
        self.validate_write(&client, None).await?;
        let ev = self.event(
            EventKind::ClientCreated {
                client_id: client.id.clone(),
            },
            &by,
        );
        self.store.insert_client(&client, &[ev]).await?;
        let mut info = ClientInformation::of(&client, self.registration_client_uri(&client.id));
        info.client_secret = secret.as_ref().map(|(s, _)| s.expose());
        info.registration_access_token = Some(rat.expose());
        let mut r = json(201, &info);
        r.headers.push(("Cache-Control".into(), "no-store".into()));
        Ok(r)
    }

    /// The client configuration endpoint (RFC 7592 §2): `GET` reads,
    /// `PUT` replaces the metadata, `DELETE` removes the client, each with
    /// the registration access token as `Authorization: Bearer`.
    pub async fn manage_registration(&self, req: &HttpRequest, client_id: &str) -> HttpResponse {
        match self.manage_inner(req, client_id).await {
            Ok(r) => r,
            Err(e) => HttpResponse::error(&e),
        }
    }

    async fn manage_inner(
        &self,
        req: &HttpRequest,
        client_id: &str,
    ) -> Result<HttpResponse, Error> {
        self.registration_config()?;
        let Some(presented) = bearer(req)? else {
            return Ok(invalid_token());
        };
        let Some(client) = self.store.get_client(client_id).await? else {
            return Ok(invalid_token());
        };
        let Some(reg) = &client.registration else {
            return Ok(invalid_token());
        };
        let ok = self
            .keys
            .hash(TokenKind::RegistrationAccessToken, presented)
            .is_some_and(|h: TokenHash| h.ct_eq(&reg.access_token));
        if !ok {
            return Ok(invalid_token());
        }
        match req.method.as_str() {
            "GET" => {
                let info = ClientInformation::of(&client, self.registration_client_uri(&client.id));
                let mut r = json(200, &info);
                r.headers.push(("Cache-Control".into(), "no-store".into()));
                Ok(r)
            }
            "PUT" => self.update_registration(req, client).await,
            "DELETE" => {
                self.remove_client(&client.id, &Audit::client(&client.id, Source::of(req)))
                    .await
                    .map_err(manage_to_error)?;
                Ok(HttpResponse {
                    status: 204,
                    headers: vec![("Cache-Control".into(), "no-store".into())],
                    body: vec![],
                })
            }
            _ => Err(Error::MethodNotAllowed("GET, PUT, DELETE")),
        }
    }

    /// RFC 7592 §2.2: the request replaces every metadata value; members
    /// left out are removed (or reset to their defaults).
    async fn update_registration(
        &self,
        req: &HttpRequest,
        mut client: ClientRecord,
    ) -> Result<HttpResponse, Error> {
        let policy = self.registration_config()?;
        let meta = json_body(req, "PUT")?;
        if meta.client_id.as_deref() != Some(client.id.as_str()) {
            return Err(Error::invalid_request(
                "client_id must be present and name this client",
            ));
        }
        if let Some(s) = &meta.client_secret {
            let matches = client
                .secret
                .as_ref()
                .is_some_and(|h| self.keys.matches(s, &h.current));
            if !matches {
                return Err(Error::invalid_request("client_secret does not match"));
            }
        }
        let checked = meta.check()?;
        if checked.auth_method != client.auth_method {
            return Err(Error::InvalidClientMetadata(
                "token_endpoint_auth_method cannot change; register a new client".into(),
            ));
        }
        let scopes = policy.scopes_for(checked.scope.as_deref())?;
        let expected = client.revision;
        let before = client.clone();
        let Some(reg) = client.registration.take() else {
            return Ok(invalid_token());
        };
        client.name = checked.name;
        client.redirect_uris = checked.redirect_uris;
        client.grant_types = checked.grant_types;
        client.scopes = scopes;
        client.registration = Some(DynamicRegistration {
            client_uri: checked.client_uri,
            logo_uri: checked.logo_uri,
            tos_uri: checked.tos_uri,
            policy_uri: checked.policy_uri,
            contacts: checked.contacts,
            software_id: checked.software_id,
            software_version: checked.software_version,
            ..reg
        });
        client.updated_at = self.now();
        client.revision += 1;
        self.validate_write(&client, Some(&before)).await?;
        let ev = self.event(
            EventKind::ClientUpdated {
                client_id: client.id.clone(),
            },
            &Audit::client(&client.id, Source::of(req)),
        );
        match self.store.update_client(&client, expected, &[ev]).await {
            Ok(()) => {}
            Err(StorageError::Conflict) => {
                return Err(Error::TemporarilyUnavailable(
                    "the client changed concurrently; retry".into(),
                ))
            }
            Err(e) => return Err(e.into()),
        }
        let info = ClientInformation::of(&client, self.registration_client_uri(&client.id));
        let mut r = json(200, &info);
        r.headers.push(("Cache-Control".into(), "no-store".into()));
        Ok(r)
    }

    /// Deletes up to `limit` self-registered clients that no user approved
    /// within the policy's `unused_ttl`; returns how many went.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn purge_unused_registrations(&self, limit: usize) -> Result<u64, ManageError> {
        let Some(policy) = &self.config.registration else {
            return Ok(0);
        };
        let now = self.now();
        let mut n = 0;
        for c in self.store.list_clients(&policy.owner).await? {
            if n as usize >= limit {
                break;
            }
            let unused = c.registration.as_ref().is_some_and(|r| !r.used);
            if unused && c.created_at.plus(policy.unused_ttl) <= now {
                match self.remove_client(&c.id, &Audit::system()).await {
                    Ok(()) => n += 1,
                    Err(ManageError::NotFound(_)) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(n)
    }
}

fn manage_to_error(e: ManageError) -> Error {
    match e {
        ManageError::NotFound(d) => Error::NotFound(d),
        ManageError::Unavailable(c) => Error::TemporarilyUnavailable(c),
        ManageError::Internal(c) => Error::ServerError(c),
        other => Error::internal(other.to_string()),
    }
}
