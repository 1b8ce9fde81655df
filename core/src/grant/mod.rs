//! The token endpoint (RFC 6749 §3.2, OAuth 2.1 §3.2) and one module per
//! grant type. Each grant module keeps its decision as a pure function of
//! the records and `now`; the async part only loads and stores.

pub mod authorization_code;
pub mod client_credentials;
pub mod device_code;
mod issue;
pub mod refresh_token;

pub(crate) use issue::TokenPlan;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::audit::Audit;
use crate::clock::Timestamp;
use crate::engine::Engine;
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse, Params};
use crate::model::{ClientRecord, EventKind, GrantType, Revocation, RevocationReason};
use crate::scope::ScopeSet;
use crate::storage::Storage;

/// A successful token response (RFC 6749 §5.1). `Debug` redacts the tokens.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token, when the client may refresh.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// Granted scopes (RFC 6749 §3.3: always sent, as they may differ).
    pub scope: String,
}

impl std::fmt::Debug for TokenResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenResponse")
            .field("access_token", &"<redacted>")
            .field("expires_in", &self.expires_in)
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|_| "<redacted>"),
            )
            .field("scope", &self.scope)
            .finish()
    }
}

/// What is sealed for coalesced refresh retries: the whole successor
/// response, with the absolute expiry so `expires_in` stays truthful.
#[derive(Serialize, Deserialize)]
pub(crate) struct SealedSuccessor {
    pub(crate) access_token: String,
    pub(crate) refresh_token: Option<String>,
    pub(crate) access_expires_at: Timestamp,
    pub(crate) scope: String,
}

impl SealedSuccessor {
    pub(crate) fn response(&self, now: Timestamp) -> TokenResponse {
        TokenResponse {
            access_token: self.access_token.clone(),
            token_type: "Bearer".into(),
            expires_in: now.until(self.access_expires_at),
            refresh_token: self.refresh_token.clone(),
            scope: self.scope.clone(),
        }
    }
}

pub(crate) fn token_ok(t: &TokenResponse) -> HttpResponse {
    HttpResponse::json(200, serde_json::to_vec(t).unwrap_or_default())
}

/// Narrows to the requested resources (RFC 8707 §2.2): each must be among
/// `allowed`; none requested means all of `allowed`.
pub(crate) fn narrow_resources(
    requested: &[String],
    allowed: &[String],
) -> Result<Vec<String>, Error> {
    if requested.is_empty() {
        return Ok(allowed.to_vec());
    }
    let mut out = Vec::new();
    for r in requested {
        if !allowed.contains(r) {
            return Err(Error::InvalidTarget("resource was not granted".into()));
        }
        if !out.contains(r) {
            out.push(r.clone());
        }
    }
    Ok(out)
}

/// Narrows to the requested `scope` (RFC 6749 §6): a subset of `granted`,
/// or all of it when absent.
pub(crate) fn narrow_scope(requested: Option<&str>, granted: &ScopeSet) -> Result<ScopeSet, Error> {
    match requested {
        None => Ok(granted.clone()),
        Some(s) => {
            let want = ScopeSet::parse(s)?;
            if want.is_subset(granted) {
                Ok(want)
            } else {
                Err(Error::InvalidScope("scope exceeds what was granted".into()))
            }
        }
    }
}

/// One grant type the token endpoint serves (RFC 6749 §4–6, OAuth 2.1
/// §3.2.2). Handlers are plain values in a [`GrantRegistry`], chosen at
/// compile time: there is no run-time type assertion and no ordering
/// between handlers, because the registry dispatches on `grant_type` alone.
#[async_trait]
pub trait GrantHandler<S: ?Sized>: Send + Sync {
    /// The `grant_type` value this handler owns.
    fn grant_type(&self) -> GrantType;

    /// Whether a request may come without client authentication. When
    /// true, a client that presents no credentials is only identified by
    /// its `client_id` (credentials that are presented are still checked),
    /// and the handler must prove everything else from the grant itself.
    fn skips_client_authentication(&self) -> bool {
        false
    }

    /// Handles an authenticated request whose client may use this grant.
    async fn handle(
        &self,
        engine: &Engine<S>,
        client: &ClientRecord,
        params: &Params,
    ) -> Result<TokenResponse, Error>;
}

/// Declares a built-in grant's handler: a unit struct whose `handle` runs
/// the engine method that implements the grant.
macro_rules! builtin_grant {
    ($(#[$doc:meta])* $name:ident, $grant:ident, $method:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;

        #[async_trait::async_trait]
        impl<S: $crate::storage::Storage + ?Sized> $crate::grant::GrantHandler<S> for $name {
            fn grant_type(&self) -> $crate::model::GrantType {
                $crate::model::GrantType::$grant
            }

            async fn handle(
                &self,
                engine: &$crate::engine::Engine<S>,
                client: &$crate::model::ClientRecord,
                params: &$crate::http::Params,
            ) -> Result<$crate::grant::TokenResponse, $crate::error::Error> {
                engine.$method(client, params).await
            }
        }
    };
}
pub(crate) use builtin_grant;

/// The grant handlers a deployment enables: the token endpoint's dispatch,
/// client validation and `grant_types_supported` in the metadata all read
/// this one list.
pub struct GrantRegistry<S: ?Sized> {
    handlers: Vec<Box<dyn GrantHandler<S>>>,
}

impl<S: ?Sized> std::fmt::Debug for GrantRegistry<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.handlers.iter().map(|h| h.grant_type()))
            .finish()
    }
}

impl<S: Storage + ?Sized> GrantRegistry<S> {
    /// No grants at all.
    #[must_use]
    pub fn empty() -> Self {
        GrantRegistry { handlers: vec![] }
    }

    /// The built-in handlers for `enabled` (in that order), e.g.
    /// [`crate::config::EngineConfig::grant_types`].
    #[must_use]
    pub fn builtin(enabled: &[GrantType]) -> Self {
        let mut r = Self::empty();
        for g in enabled {
            let h: Box<dyn GrantHandler<S>> = match g {
                GrantType::AuthorizationCode => {
                    Box::new(authorization_code::AuthorizationCodeGrant)
                }
                GrantType::RefreshToken => Box::new(refresh_token::RefreshTokenGrant),
                GrantType::ClientCredentials => {
                    Box::new(client_credentials::ClientCredentialsGrant)
                }
                GrantType::DeviceCode => Box::new(device_code::DeviceCodeGrant),
            };
            r = r.with(h);
        }
        r
    }

    /// Adds (or replaces) the handler for its grant type.
    #[must_use]
    pub fn with(mut self, handler: Box<dyn GrantHandler<S>>) -> Self {
        let g = handler.grant_type();
        self.handlers.retain(|h| h.grant_type() != g);
        self.handlers.push(handler);
        self
    }

    /// The handler for a `grant_type` value.
    #[must_use]
    pub fn get(&self, grant_type: &str) -> Option<&dyn GrantHandler<S>> {
        self.handlers
            .iter()
            .find(|h| h.grant_type().as_str() == grant_type)
            .map(AsRef::as_ref)
    }

    /// Whether `g` is enabled.
    #[must_use]
    pub fn enables(&self, g: GrantType) -> bool {
        self.handlers.iter().any(|h| h.grant_type() == g)
    }

    /// The enabled grant types, in registration order.
    pub fn grant_types(&self) -> impl Iterator<Item = GrantType> + '_ {
        self.handlers.iter().map(|h| h.grant_type())
    }
}

impl<S: Storage + ?Sized> Engine<S> {
    /// The token endpoint. Always answers JSON with `Cache-Control:
    /// no-store`; errors per RFC 6749 §5.2 (401 + `WWW-Authenticate` for
    /// `invalid_client` after Basic).
    pub async fn token(&self, req: &HttpRequest) -> HttpResponse {
        match self.token_inner(req).await {
            Ok(t) => token_ok(&t),
            Err(e) => HttpResponse::error(&e),
        }
    }

    async fn token_inner(&self, req: &HttpRequest) -> Result<TokenResponse, Error> {
        let params = req.credential_form()?;
        params.reject_repeats(&["resource"])?;
        let grant_type = params.required("grant_type")?;
        let handler = self.grants.get(grant_type);
        let client = match handler {
            Some(h) if h.skips_client_authentication() => {
                self.identify_client(req, &params).await?
            }
            // Authenticate before saying whether a grant type exists, as
            // RFC 6749 §5.2 orders the checks.
            _ => self.authenticate_client(req, &params).await?,
        };
        let handler =
            handler.ok_or_else(|| Error::UnsupportedGrantType("unsupported grant_type".into()))?;
        if !client.allows_grant(handler.grant_type()) {
            return Err(Error::UnauthorizedClient(
                "client may not use this grant type".into(),
            ));
        }
        // Every grant issues through one sync path; the keys it may sign
        // with are loaded here.
        self.prepare_signing().await?;
        handler.handle(self, &client, &params).await
    }

    pub(crate) fn access_ttl(&self, c: &ClientRecord) -> u64 {
        c.lifetimes
            .access_token
            .unwrap_or(self.config.access_token_ttl)
    }

    pub(crate) fn refresh_ttl(&self, c: &ClientRecord) -> u64 {
        c.lifetimes
            .refresh_token
            .unwrap_or(self.config.refresh_token_ttl)
    }

    /// Revokes a family with its outbox event (naming `by`), atomically.
    pub(crate) async fn revoke_family_for(
        &self,
        family_id: &str,
        grant_id: &str,
        client_id: &str,
        reason: RevocationReason,
        by: &Audit,
    ) -> Result<bool, Error> {
        let ev = self.event(
            EventKind::FamilyRevoked {
                family_id: family_id.to_owned(),
                grant_id: grant_id.to_owned(),
                client_id: client_id.to_owned(),
                reason,
            },
            by,
        );
        match reason {
            RevocationReason::CodeReplay => {
                crate::observe::signal(crate::observe::Signal::CodeReplay, Some(client_id));
            }
            RevocationReason::RefreshReuse => {
                crate::observe::signal(crate::observe::Signal::RefreshReuse, Some(client_id));
            }
            _ => {}
        }
        let rev = Revocation {
            at: self.now(),
            reason,
        };
        Ok(self.store.revoke_family(family_id, rev, &[ev]).await?)
    }
}
