//! Client management: registration, updates, secret rotation and domain
//! verification (the developer-console side of the engine).
//!
//! Every call that changes a client takes the [`Acting`] caller: an
//! operator, or a member of the owning account with a [`Role`]. The engine
//! refuses what the role does not allow ([`Acting::check`]: viewers change
//! nothing, developers rotate and delete only the apps they created) and
//! names the caller on the event it appends, so a host's console gets the
//! rules without restating them.
//!
//! [`Role`]: crate::audit::Role
//!
//! Metadata rules follow RFC 7591 §2 where they apply, so the dynamic
//! registration endpoint of a later release can reuse [`validate_client`].

use serde::{Deserialize, Serialize};

use crate::audit::{Acting, Audit, ClientAction};
use crate::clock::Timestamp;
use crate::engine::Engine;
use crate::error::Error;
use crate::jwt::AccessTokenFormat;
use crate::manage_error::ManageError;
use crate::model::{
    AuthMethod, ClientLifetimes, ClientRecord, DomainState, DomainVerification, EventKind,
    GrantType, Revocation, RevocationReason, SecretHashes, Visibility,
};
use crate::redirect::{on_domain, validate_redirect_uri, validate_resource};
use crate::retry::{retry_lost_races, Attempt};
use crate::scope::{ScopeRegistry, ScopeSet};
use crate::storage::{Storage, StorageError};
use crate::token::{Secret, TokenKind};

/// Shortest secret accepted from an operator (seeded clients): 256 bits of
/// base64 text. Engine-generated secrets are always 256-bit.
pub const MIN_PROVIDED_SECRET_LEN: usize = 43;

/// What a developer submits to register a client. `Debug` redacts `secret`.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRegistration {
    /// Fixed client id (operators seeding first-party clients); generated
    /// when `None`.
    #[serde(default)]
    pub id: Option<String>,
    /// Owning account.
    pub owner: String,
    /// Display name.
    pub name: String,
    /// Redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Grant types; defaults to authorization code + refresh.
    #[serde(default)]
    pub grant_types: Vec<GrantType>,
    /// Allowed scopes.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// Allowed resource indicators.
    #[serde(default)]
    pub resources: Vec<String>,
    /// Resource indicators the client serves (may introspect for).
    #[serde(default)]
    pub served_resources: Vec<String>,
    /// Token endpoint auth method; defaults to `client_secret_basic`.
    #[serde(default)]
    pub auth_method: Option<AuthMethod>,
    /// Visibility; defaults to private.
    #[serde(default)]
    pub visibility: Option<Visibility>,
    /// Lifetime overrides.
    #[serde(default)]
    pub lifetimes: ClientLifetimes,
    /// Access-token format; `None` follows the per-resource choice (see
    /// [`crate::jwt`]).
    #[serde(default)]
    pub access_token_format: Option<AccessTokenFormat>,
    /// Operator-provided secret for seeded confidential clients; generated
    /// when `None`. Must be at least [`MIN_PROVIDED_SECRET_LEN`] characters.
    #[serde(default, skip_serializing)]
    pub secret: Option<String>,
}

impl std::fmt::Debug for ClientRegistration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRegistration")
            .field("id", &self.id)
            .field("owner", &self.owner)
            .field("name", &self.name)
            .field("redirect_uris", &self.redirect_uris)
            .field("grant_types", &self.grant_types)
            .field("scopes", &self.scopes)
            .field("auth_method", &self.auth_method)
            .field("visibility", &self.visibility)
            .field("access_token_format", &self.access_token_format)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Changes to a client; `None` leaves a field as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientUpdate {
    /// New name.
    pub name: Option<String>,
    /// New redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// New grant types.
    pub grant_types: Option<Vec<GrantType>>,
    /// New allowed scopes.
    pub scopes: Option<Vec<String>>,
    /// New allowed resources.
    pub resources: Option<Vec<String>>,
    /// New served resources.
    pub served_resources: Option<Vec<String>>,
    /// New visibility.
    pub visibility: Option<Visibility>,
    /// New lifetimes.
    pub lifetimes: Option<ClientLifetimes>,
    /// New access-token format: `Some(None)` goes back to the
    /// per-resource choice.
    pub access_token_format: Option<Option<AccessTokenFormat>>,
}

fn bad(why: impl Into<String>) -> ManageError {
    ManageError::InvalidMetadata(why.into().into())
}

fn meta(why: impl Into<String>) -> Error {
    Error::InvalidClientMetadata(why.into().into())
}

fn validate_domain(d: &str) -> Result<String, Error> {
    crate::domains::check_domain_name(d).map_err(|e| meta(e.to_string()))
}

/// Longest app name, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Most clients one write compares its name with (see
/// `Engine::validate_write`): 20,000 records read in pages of 500.
pub const NAME_SCAN_LIMIT: usize = 20_000;
const NAME_SCAN_PAGE: usize = 500;

/// The human-readable metadata a self-registered client gave (RFC 7591
/// §2): plain visible text, URLs in ASCII ([`crate::display`]).
fn check_registration_text(r: &crate::model::DynamicRegistration) -> Result<(), Error> {
    let urls = [
        ("client_uri", &r.client_uri),
        ("logo_uri", &r.logo_uri),
        ("tos_uri", &r.tos_uri),
        ("policy_uri", &r.policy_uri),
    ];
    for (field, v) in urls {
        if let Some(u) = v {
            crate::display::check_url_text(field, u)?;
        }
    }
    for c in &r.contacts {
        crate::display::check_text("contacts", c)?;
    }
    for (field, v) in [
        ("software_id", &r.software_id),
        ("software_version", &r.software_version),
    ] {
        if let Some(t) = v {
            crate::display::check_text(field, t)?;
        }
    }
    Ok(())
}

/// Checks a client record against every rule: name, redirect URIs, grant
/// types against client type, scopes against the registry, resources,
/// lifetimes, and the public-visibility requirement that every redirect URI
/// sits on a verified domain.
///
/// # Errors
/// `invalid_client_metadata`, `invalid_redirect_uri` or `invalid_scope`.
pub fn validate_client(
    c: &ClientRecord,
    registry: &ScopeRegistry,
    enabled_grants: &[GrantType],
) -> Result<(), Error> {
    crate::display::check_name(&c.name, MAX_NAME_CHARS, &[])?;
    // A metadata document's URL is its id (draft-ietf-oauth-client-id-
    // metadata-document §3), up to what every backend stores.
    let max_id = if c.metadata_document.is_some() {
        255
    } else {
        128
    };
    if c.id.is_empty() || c.id.len() > max_id || !c.id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(meta(format!(
            "client id must be 1 to {max_id} visible ASCII characters"
        )));
    }
    if c.owner.is_empty() {
        return Err(meta("owner is required"));
    }
    if c.redirect_uris.len() > 20 {
        return Err(meta("at most 20 redirect URIs"));
    }
    if let Some(r) = &c.registration {
        check_registration_text(r)?;
    }
    for u in &c.redirect_uris {
        crate::display::check_url_text("redirect URI", u)?;
        if c.registration.is_some() || c.metadata_document.is_some() {
            // Self-described agents run on developers' machines and
            // register `http://localhost:PORT` (the MCP authorization
            // spec's rule); operator-registered clients keep RFC 8252 §8.3.
            crate::registration::metadata::check_redirect_uri(u)?;
        } else {
            validate_redirect_uri(u)?;
        }
    }
    if c.grant_types.is_empty() {
        return Err(meta("at least one grant type is required"));
    }
    if let Some(g) = c.grant_types.iter().find(|g| !enabled_grants.contains(g)) {
        return Err(meta(format!(
            "grant type {} is not enabled on this server",
            g.as_str()
        )));
    }
    if c.allows_grant(GrantType::AuthorizationCode) && c.redirect_uris.is_empty() {
        return Err(Error::InvalidRedirectUri(
            "authorization_code clients need at least one redirect URI".into(),
        ));
    }
    if c.allows_grant(GrantType::RefreshToken)
        && !c.allows_grant(GrantType::AuthorizationCode)
        && !c.allows_grant(GrantType::DeviceCode)
    {
        return Err(meta(
            "refresh_token requires authorization_code or the device grant",
        ));
    }
    if c.allows_grant(GrantType::ClientCredentials) && !c.auth_method.is_confidential() {
        return Err(meta("client_credentials is only for confidential clients"));
    }
    if c.auth_method.is_confidential() != c.secret.is_some() {
        return Err(meta(
            "confidential clients have a secret and public ones do not",
        ));
    }
    registry.check_known(&c.scopes)?;
    for r in c.resources.iter().chain(&c.served_resources) {
        crate::display::check_url_text("resource", r)?;
        validate_resource(r)
            .map_err(|_| meta("resources must be absolute URIs without fragment"))?;
    }
    if c.lifetimes
        .authorization_code
        .is_some_and(|t| t == 0 || t > crate::config::MAX_CODE_TTL)
    {
        return Err(meta("authorization code lifetime must be 1 to 600 seconds"));
    }
    if c.lifetimes.access_token == Some(0) || c.lifetimes.refresh_token == Some(0) {
        return Err(meta("lifetimes must be positive"));
    }
    if c.visibility == Visibility::Public {
        let verified: Vec<&str> = c.verified_domains().collect();
        if verified.is_empty() {
            return Err(meta("public clients need a verified domain"));
        }
        for u in &c.redirect_uris {
            if !verified.iter().any(|d| on_domain(u, d)) {
                return Err(Error::InvalidRedirectUri(
                    format!("redirect URI {u} is not on a verified domain").into(),
                ));
            }
        }
    }
    Ok(())
}

impl ClientRegistration {
    /// The grant types, with the default (authorization code + refresh)
    /// for an empty list.
    #[must_use]
    pub fn grant_types_or_default(&self) -> Vec<GrantType> {
        if self.grant_types.is_empty() {
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        } else {
            self.grant_types.clone()
        }
    }
}

/// What [`Engine::upsert_client`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpsertOutcome {
    /// The client did not exist and was registered.
    Created,
    /// The client existed and was changed to match.
    Updated,
    /// The client already matched; nothing was written.
    Unchanged,
}

/// The result of [`Engine::upsert_client`].
#[derive(Debug)]
pub struct Upserted {
    /// The client as stored.
    pub client: ClientRecord,
    /// A secret the engine generated now (shown this once); `None` when the
    /// operator provided one or the old one was kept.
    pub secret: Option<Secret>,
    /// What happened.
    pub outcome: UpsertOutcome,
}

/// What a registration returns: the record and, for confidential clients,
/// the secret. The secret is shown this once and stored only as a hash.
#[derive(Debug)]
pub struct RegisteredClient {
    /// The stored client.
    pub client: ClientRecord,
    /// The secret in the clear, if any.
    pub secret: Option<Secret>,
}

impl<S: Storage + ?Sized> Engine<S> {
    pub(crate) fn secret_for(
        &self,
        provided: Option<&str>,
    ) -> Result<(Secret, SecretHashes), Error> {
        let secret = match provided {
            Some(p) if p.len() < MIN_PROVIDED_SECRET_LEN => {
                return Err(meta("provided secrets must be at least 43 characters"))
            }
            Some(p) => Secret::new(p),
            None => self.mint(TokenKind::ClientSecret)?.0,
        };
        let hashes = SecretHashes {
            current: self.keys.digest(secret.expose()),
            previous: None,
            previous_until: None,
        };
        Ok((secret, hashes))
    }

    /// Registers a client (RFC 7591 §2 metadata rules) for `reg.owner`,
    /// created by `by` ([`ClientRecord::created_by`]). A new client cannot
    /// be public yet: it has no verified domain.
    ///
    /// # Errors
    /// [`ManageError::Forbidden`] for a viewer, `NotFound` for a member of
    /// another account; validation errors, `invalid_client_metadata` for a
    /// taken id, storage failures.
    pub async fn register_client(
        &self,
        by: &Acting,
        reg: ClientRegistration,
    ) -> Result<RegisteredClient, ManageError> {
        let now = self.now();
        let auth_method = reg.auth_method.unwrap_or(AuthMethod::ClientSecretBasic);
        let (secret, hashes) = if auth_method.is_confidential() {
            let (s, h) = self.secret_for(reg.secret.as_deref())?;
            (Some(s), Some(h))
        } else if reg.secret.is_some() {
            return Err(bad("public clients (auth method none) have no secret"));
        } else {
            (None, None)
        };
        let grant_types = reg.grant_types_or_default();
        let id = match reg.id {
            Some(id) => id,
            None => self.new_id("lkc_")?,
        };
        let client = ClientRecord {
            id,
            owner: reg.owner,
            created_by: Some(by.audit().actor.clone()),
            name: crate::display::normalise(&reg.name),
            redirect_uris: reg.redirect_uris,
            grant_types,
            scopes: ScopeSet::from_tokens(reg.scopes)?,
            resources: reg.resources,
            served_resources: reg.served_resources,
            auth_method,
            secret: hashes,
            visibility: reg.visibility.unwrap_or(Visibility::Private),
            domains: vec![],
            lifetimes: reg.lifetimes,
            access_token_format: reg.access_token_format,
            registration: None,
            metadata_document: None,
            created_at: now,
            updated_at: now,
            revision: 0,
        };
        by.check(ClientAction::Register, &client)?;
        self.validate_write(&client, None).await?;
        let ev = self.event(
            EventKind::ClientCreated {
                client_id: client.id.clone(),
            },
            by.audit(),
        );
        match self.store.insert_client(&client, &[ev]).await {
            Err(StorageError::Conflict) => Err(ManageError::AlreadyExists),
            r => r.map_err(ManageError::from),
        }?;
        Ok(RegisteredClient { client, secret })
    }

    /// Makes the client with `reg.id` match `reg` (operators seeding
    /// first-party clients from configuration): registers it if missing,
    /// otherwise updates every field `reg` states, including owner, auth
    /// method and an operator-provided secret, and writes nothing when it
    /// already matches. A confidential client without a provided secret keeps
    /// its secret, or gets a generated one if it had none. Domains and their
    /// verification are kept. Only an operator may upsert
    /// ([`ClientAction::Upsert`]), since it may change the owner.
    ///
    /// # Errors
    /// [`ManageError::Forbidden`] for anyone but an operator;
    /// `invalid_client_metadata` without a fixed id; validation errors;
    /// storage failures.
    pub async fn upsert_client(
        &self,
        by: &Acting,
        reg: ClientRegistration,
    ) -> Result<Upserted, ManageError> {
        by.check_owner(ClientAction::Upsert, &reg.owner, None)?;
        let id = reg
            .id
            .clone()
            .filter(|i| !i.is_empty())
            .ok_or_else(|| meta("upserting needs a fixed client id"))?;
        retry_lost_races(3, "client", |_| async {
            let Some(existing) = self.store.get_client(&id).await? else {
                let generated = reg.secret.is_none();
                return match self.register_client(by, reg.clone()).await {
                    Ok(r) => Ok(Attempt::Done(Upserted {
                        client: r.client,
                        secret: r.secret.filter(|_| generated),
                        outcome: UpsertOutcome::Created,
                    })),
                    // Registered concurrently: update it instead.
                    Err(ManageError::AlreadyExists) => Ok(Attempt::Lost),
                    Err(e) => Err(e),
                };
            };
            let auth = reg.auth_method.unwrap_or(AuthMethod::ClientSecretBasic);
            let mut generated = None;
            let secret = match (
                auth.is_confidential(),
                reg.secret.as_deref(),
                &existing.secret,
            ) {
                (false, Some(_), _) => {
                    return Err(bad("public clients (auth method none) have no secret"))
                }
                (false, None, _) => None,
                (true, Some(s), Some(h)) if self.keys.matches(s, &h.current) => Some(h.clone()),
                (true, Some(s), _) => Some(self.secret_for(Some(s))?.1),
                (true, None, Some(h)) => Some(h.clone()),
                (true, None, None) => {
                    let (s, h) = self.secret_for(None)?;
                    generated = Some(s);
                    Some(h)
                }
            };
            let mut c = ClientRecord {
                owner: reg.owner.clone(),
                name: crate::display::normalise(&reg.name),
                redirect_uris: reg.redirect_uris.clone(),
                grant_types: reg.grant_types_or_default(),
                scopes: ScopeSet::from_tokens(reg.scopes.clone())?,
                resources: reg.resources.clone(),
                served_resources: reg.served_resources.clone(),
                auth_method: auth,
                secret,
                visibility: reg.visibility.unwrap_or(Visibility::Private),
                lifetimes: reg.lifetimes,
                access_token_format: reg.access_token_format,
                ..existing.clone()
            };
            if c == existing {
                return Ok(Attempt::Done(Upserted {
                    client: c,
                    secret: None,
                    outcome: UpsertOutcome::Unchanged,
                }));
            }
            c.updated_at = self.now();
            c.revision += 1;
            self.validate_write(&c, Some(&existing)).await?;
            let ev = self.event(
                EventKind::ClientUpdated {
                    client_id: c.id.clone(),
                },
                by.audit(),
            );
            match self.store.update_client(&c, existing.revision, &[ev]).await {
                Ok(()) => Ok(Attempt::Done(Upserted {
                    client: c,
                    secret: generated,
                    outcome: UpsertOutcome::Updated,
                })),
                Err(StorageError::Conflict | StorageError::NotFound) => Ok(Attempt::Lost),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// [`validate_client`] against this engine's scopes and grants, and
    /// the host's reserved names.
    pub(crate) fn validate(&self, c: &ClientRecord) -> Result<(), Error> {
        let grants: Vec<GrantType> = self.grants.grant_types().collect();
        validate_client(c, &self.config.scopes, &grants)?;
        if c.access_token_format == Some(AccessTokenFormat::Jwt) && self.config.jwt.is_none() {
            return Err(meta("JWT access tokens are not enabled on this server"));
        }
        crate::display::check_name(&c.name, MAX_NAME_CHARS, &self.config.reserved_client_names)
    }

    /// [`Engine::validate`], then, when `c` is new or its name or owner
    /// changed from `before`, that no other owner's app has a name that
    /// looks like it ([`crate::display::skeleton`]).
    ///
    /// The check reads the clients a page at a time and stops after
    /// [`NAME_SCAN_LIMIT`] of them: a write costs one scan, and past that
    /// many clients the rest go unchecked (storage keeps no index of
    /// skeletons, so every backend answers it the same way).
    ///
    /// Only apps an operator or a developer registered are protected:
    /// clients that registered themselves (RFC 7591, metadata documents)
    /// may share a name among themselves, as every install of one agent
    /// registers anew under the same name, and may not block anyone's
    /// name by taking it first.
    pub(crate) async fn validate_write(
        &self,
        c: &ClientRecord,
        before: Option<&ClientRecord>,
    ) -> Result<(), Error> {
        self.validate(c)?;
        let same = before.is_some_and(|b| b.name == c.name && b.owner == c.owner);
        if same || c.name == crate::registration::metadata::UNNAMED {
            return Ok(());
        }
        let mine = crate::display::skeleton(&c.name);
        let self_registered =
            |r: &ClientRecord| r.registration.is_some() || r.metadata_document.is_some();
        let mut after: Option<String> = None;
        let mut seen = 0;
        loop {
            let page = self
                .store
                .list_all_clients(after.as_deref(), NAME_SCAN_PAGE)
                .await?;
            let taken = page.iter().any(|o| {
                o.id != c.id
                    && o.owner != c.owner
                    && !self_registered(o)
                    && crate::display::skeleton(&o.name) == mine
            });
            if taken {
                return Err(meta(
                    "name is another app's name, or looks like it; choose a name of your own",
                ));
            }
            seen += page.len();
            if page.len() < NAME_SCAN_PAGE || seen >= NAME_SCAN_LIMIT {
                return Ok(());
            }
            after = page.last().map(|o| o.id.clone());
        }
    }

    /// The client with `id`.
    ///
    /// # Errors
    /// `NotFound`, storage failures.
    pub async fn get_client(&self, id: &str) -> Result<ClientRecord, ManageError> {
        self.store
            .get_client(id)
            .await?
            .ok_or_else(|| ManageError::NotFound("no such client".into()))
    }

    /// Clients owned by `owner`.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn list_clients(&self, owner: &str) -> Result<Vec<ClientRecord>, ManageError> {
        Ok(self.store.list_clients(owner).await?)
    }

    /// Client `id`, if `by` may do `action` to it.
    pub(crate) async fn client_for(
        &self,
        by: &Acting,
        action: ClientAction,
        id: &str,
    ) -> Result<ClientRecord, ManageError> {
        let c = self.get_client(id).await?;
        by.check(action, &c)?;
        Ok(c)
    }

    /// Applies `change` to a client if `by` may do `action` to it,
    /// re-validating everything, with an optimistic-concurrency check so
    /// concurrent edits are not lost (the permission is checked again on
    /// every attempt, against the record the attempt writes over).
    async fn modify_client<F>(
        &self,
        by: &Acting,
        action: ClientAction,
        id: &str,
        kind: fn(String) -> EventKind,
        change: F,
    ) -> Result<ClientRecord, ManageError>
    where
        F: Fn(&mut ClientRecord, Timestamp) -> Result<(), ManageError>,
    {
        retry_lost_races(3, "client", |_| async {
            let mut c = self.client_for(by, action, id).await?;
            let before = c.clone();
            let now = self.now();
            change(&mut c, now)?;
            c.updated_at = now;
            c.revision += 1;
            self.validate_write(&c, Some(&before)).await?;
            let expected = before.revision;
            let ev = self.event(kind(c.id.clone()), by.audit());
            match self.store.update_client(&c, expected, &[ev]).await {
                Ok(()) => Ok(Attempt::Done(c)),
                Err(StorageError::Conflict) => Ok(Attempt::Lost),
                Err(StorageError::NotFound) => Err(ManageError::NotFound("no such client".into())),
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Updates a client's metadata ([`ClientAction::Update`]).
    ///
    /// # Errors
    /// [`ManageError::Forbidden`] when `by` may not; validation errors,
    /// `NotFound`, storage failures.
    pub async fn update_client(
        &self,
        by: &Acting,
        id: &str,
        update: ClientUpdate,
    ) -> Result<ClientRecord, ManageError> {
        let scopes = update
            .scopes
            .clone()
            .map(ScopeSet::from_tokens)
            .transpose()?;
        self.modify_client(
            by,
            ClientAction::Update,
            id,
            |client_id| EventKind::ClientUpdated { client_id },
            |c, _| {
                if let Some(v) = &update.name {
                    c.name = crate::display::normalise(v);
                }
                if let Some(v) = &update.redirect_uris {
                    c.redirect_uris.clone_from(v);
                }
                if let Some(v) = &update.grant_types {
                    c.grant_types.clone_from(v);
                }
                if let Some(v) = &scopes {
                    c.scopes = v.clone();
                }
                if let Some(v) = &update.resources {
                    c.resources.clone_from(v);
                }
                if let Some(v) = &update.served_resources {
                    c.served_resources.clone_from(v);
                }
                if let Some(v) = update.visibility {
                    c.visibility = v;
                }
                if let Some(v) = update.lifetimes {
                    c.lifetimes = v;
                }
                if let Some(v) = update.access_token_format {
                    c.access_token_format = v;
                }
                Ok(())
            },
        )
        .await
    }

    /// Deletes a client; its grants go and every token of it stops working,
    /// in one atomic step with the `client_deleted` event naming `by`. Only
    /// an account owner, the developer who created it, or an operator may
    /// ([`ClientAction::Delete`]).
    ///
    /// # Errors
    /// [`ManageError::Forbidden`] when `by` may not; `NotFound`, storage
    /// failures.
    pub async fn delete_client(&self, by: &Acting, id: &str) -> Result<(), ManageError> {
        self.client_for(by, ClientAction::Delete, id).await?;
        self.remove_client(id, by.audit()).await
    }

    /// Deletes a client with the `client_deleted` event naming `by`, with
    /// no permission check (RFC 7592 deletion by the client itself, purge
    /// of unused registrations).
    pub(crate) async fn remove_client(&self, id: &str, by: &Audit) -> Result<(), ManageError> {
        let ev = self.event(
            EventKind::ClientDeleted {
                client_id: id.to_owned(),
            },
            by,
        );
        let rev = Revocation {
            at: self.now(),
            reason: RevocationReason::ClientDeleted,
        };
        if self.store.delete_client(id, rev, &[ev]).await? {
            Ok(())
        } else {
            Err(ManageError::NotFound("no such client".into()))
        }
    }

    /// Issues a new secret. The previous one keeps working for
    /// `config.secret_rotation_overlap` seconds so deployments can roll.
    /// Only an account owner, the developer who created the client, or an
    /// operator may ([`ClientAction::RotateSecret`]): whoever rotates sees
    /// the new secret. The `secret_rotated` event names `by`.
    ///
    /// # Errors
    /// [`ManageError::Forbidden`] when `by` may not;
    /// `invalid_client_metadata` for public clients, `NotFound`, storage
    /// failures.
    pub async fn rotate_client_secret(&self, by: &Acting, id: &str) -> Result<Secret, ManageError> {
        let (secret, fresh) = self.secret_for(None)?;
        let overlap = self.config.secret_rotation_overlap;
        self.modify_client(
            by,
            ClientAction::RotateSecret,
            id,
            |client_id| EventKind::SecretRotated { client_id },
            |c, now| {
                let Some(old) = &c.secret else {
                    return Err(bad("public clients have no secret"));
                };
                c.secret = Some(SecretHashes {
                    current: fresh.current,
                    previous: Some(old.current),
                    previous_until: Some(now.plus(overlap)),
                });
                Ok(())
            },
        )
        .await?;
        Ok(secret)
    }

    /// Starts (or restarts) proof of ownership of `domain`: returns the value
    /// the developer publishes (DNS TXT `_latchkey-challenge.<domain>` or
    /// `https://<domain>/.well-known/latchkey-challenge`). The host then
    /// calls [`Engine::verify_domain`] with a
    /// [`DomainVerifier`](crate::domains::DomainVerifier), which checks it.
    ///
    /// # Errors
    /// [`ManageError::Forbidden`] when `by` may not update the client;
    /// invalid domain, `NotFound`, storage failures.
    pub async fn start_domain_verification(
        &self,
        by: &Acting,
        id: &str,
        domain: &str,
    ) -> Result<DomainVerification, ManageError> {
        let domain = validate_domain(domain)?;
        let mut raw = [0u8; 24];
        self.entropy.fill(&mut raw)?;
        let challenge = format!("latchkey-verification={}", base64_url(&raw));
        let ttl = self.config.domain_verification_ttl;
        let c = self
            .modify_client(
                by,
                ClientAction::Update,
                id,
                |client_id| EventKind::ClientUpdated { client_id },
                |c, now| {
                    if c.domains
                        .iter()
                        .any(|d| d.domain == domain && d.is_verified())
                    {
                        return Err(bad("domain already verified"));
                    }
                    c.domains.retain(|d| d.domain != domain);
                    c.domains.push(DomainVerification {
                        domain: domain.clone(),
                        challenge: challenge.clone(),
                        state: DomainState::Pending {
                            expires_at: now.plus(ttl),
                        },
                        started_at: now,
                        checked_at: None,
                        last_failure: None,
                    });
                    Ok(())
                },
            )
            .await?;
        c.domains
            .into_iter()
            .find(|d| d.domain == domain)
            .ok_or_else(|| ManageError::Internal("domain vanished after update".into()))
    }

    /// Marks `domain` verified on the host's word that the challenge is
    /// published (an operator override; [`Engine::verify_domain`] checks
    /// it instead). A challenge past its deadline becomes `expired`
    /// instead. Writes `client_updated` and `domain_verified`.
    ///
    /// # Errors
    /// [`ManageError::Forbidden`] when `by` may not update the client;
    /// `invalid_client_metadata` when there is no pending, unexpired
    /// verification; `NotFound`; storage failures.
    pub async fn confirm_domain(
        &self,
        by: &Acting,
        id: &str,
        domain: &str,
    ) -> Result<ClientRecord, ManageError> {
        self.confirm_pending(by, id, domain, None).await
    }

    /// Ends a domain's verification (pending or verified): it no longer
    /// counts. Refused while the client is public and needs the domain.
    ///
    /// # Errors
    /// [`ManageError::Forbidden`] when `by` may not update the client;
    /// `invalid_client_metadata` when the domain is unknown or still needed;
    /// `NotFound`; storage failures.
    pub async fn expire_domain_verification(
        &self,
        by: &Acting,
        id: &str,
        domain: &str,
    ) -> Result<ClientRecord, ManageError> {
        let domain = validate_domain(domain)?;
        self.modify_client(
            by,
            ClientAction::Update,
            id,
            |client_id| EventKind::ClientUpdated { client_id },
            |c, _| {
                let d = c
                    .domains
                    .iter_mut()
                    .find(|d| d.domain == domain)
                    .ok_or_else(|| meta("unknown domain"))?;
                d.state = DomainState::Expired;
                Ok(())
            },
        )
        .await
    }
}

pub(crate) fn base64_url(b: &[u8]) -> String {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    URL_SAFE_NO_PAD.encode(b)
}
