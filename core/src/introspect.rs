//! Token introspection (RFC 7662) and bearer-token checks for resource
//! servers in the same process (RFC 6750).

use serde::Serialize;

use crate::clock::Timestamp;
use crate::engine::Engine;
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse, Params};
use crate::model::{AccessTokenRecord, ClientRecord};
use crate::scope::ScopeSet;
use crate::storage::Storage;
use crate::token::{Secret, TokenHash, TokenKind};

/// What an active token is (RFC 7662 §2.2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TokenInfo {
    /// Always true here; inactive tokens have no info.
    pub active: bool,
    /// Space-separated scopes.
    pub scope: String,
    /// Client the token was issued to.
    pub client_id: String,
    /// Resource owner (or the client for `client_credentials`).
    pub sub: String,
    /// Expiry, seconds since the epoch.
    pub exp: u64,
    /// Issue time.
    pub iat: u64,
    /// Audiences (RFC 8707 resources).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aud: Vec<String>,
    /// Issuer.
    pub iss: String,
    /// `Bearer` for access tokens; absent for refresh tokens, which have no
    /// RFC 6749 §7.1 token type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_type: Option<String>,
}

impl TokenInfo {
    /// The scopes as a set.
    #[must_use]
    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse(&self.scope).unwrap_or_default()
    }
}

/// Which audience (RFC 8707 resource) a bearer token must carry. There is
/// no default: a resource server says which resource it is, or says in
/// code that it accepts a token meant for any resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Audience<'a> {
    /// The token's audiences must include this resource identifier.
    Resource(&'a str),
    /// Any audience. Only for a server that is the only resource of this
    /// authorization server: a token minted for another API would pass
    /// (RFC 9700 §2.3).
    AnyResource,
}

/// Why a bearer token was refused (RFC 6750 §3.1).
#[derive(Debug)]
#[non_exhaustive]
pub enum BearerError {
    /// No `Authorization: Bearer` header: 401 without an error code.
    Missing,
    /// Malformed header or request: 400 `invalid_request`.
    InvalidRequest,
    /// Unknown, expired, revoked or wrong-audience token: 401 `invalid_token`.
    InvalidToken,
    /// Valid token lacking a scope: 403 `insufficient_scope`.
    InsufficientScope(String),
    /// Storage trouble: 503.
    Unavailable(Error),
}

impl BearerError {
    /// The response a resource server sends, with `WWW-Authenticate`
    /// (RFC 6750 §3) and, when known, `resource_metadata` (RFC 9728 §5.1).
    #[must_use]
    pub fn response(&self, resource_metadata: Option<&str>) -> HttpResponse {
        let mut challenge = String::from("Bearer realm=\"latchkey\"");
        if let Some(m) = resource_metadata {
            challenge.push_str(&format!(", resource_metadata=\"{m}\""));
        }
        let (status, code, desc) = match self {
            BearerError::Missing => (401, None, "authentication required"),
            BearerError::InvalidRequest => (
                400,
                Some("invalid_request"),
                "malformed Authorization header",
            ),
            BearerError::InvalidToken => (
                401,
                Some("invalid_token"),
                "the access token is invalid, expired or revoked",
            ),
            BearerError::InsufficientScope(_) => (
                403,
                Some("insufficient_scope"),
                "the access token lacks a required scope",
            ),
            BearerError::Unavailable(e) => return HttpResponse::error(e),
        };
        if let Some(c) = code {
            challenge.push_str(&format!(", error=\"{c}\", error_description=\"{desc}\""));
        }
        if let BearerError::InsufficientScope(s) = self {
            challenge.push_str(&format!(", scope=\"{s}\""));
        }
        // RFC 6750 §3.1: no error code when the request had no credentials.
        let body = match code {
            Some(c) => serde_json::json!({ "error": c, "error_description": desc }),
            None => serde_json::json!({ "error_description": desc }),
        };
        let mut r = HttpResponse::json(status, serde_json::to_vec(&body).unwrap_or_default());
        r.headers.push(("WWW-Authenticate".into(), challenge));
        r
    }
}

impl<S: Storage + ?Sized> Engine<S> {
    /// The access token stored under `hash`, if it is active at `now`:
    /// one store read.
    async fn active_access(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<AccessTokenRecord>, Error> {
        let Some(v) = self.store.find_access_token(hash).await? else {
            return Ok(None);
        };
        let t = v.token;
        if v.family_revoked || t.revoked_at.is_some() || t.expires_at <= now {
            return Ok(None);
        }
        Ok(Some(t))
    }

    /// What an active access token is (RFC 7662 §2.2).
    fn access_token_info(&self, t: AccessTokenRecord) -> TokenInfo {
        TokenInfo {
            active: true,
            scope: t.scopes.to_string(),
            client_id: t.client_id,
            sub: t.subject,
            exp: t.expires_at.0,
            iat: t.issued_at.0,
            aud: t.resources,
            iss: self.config.issuer.clone(),
            token_type: Some("Bearer".into()),
        }
    }

    /// The info of the access token stored under `hash`; `None` unless it
    /// is active at `now`.
    async fn access_info(
        &self,
        hash: &TokenHash,
        now: Timestamp,
    ) -> Result<Option<TokenInfo>, Error> {
        Ok(self
            .active_access(hash, now)
            .await?
            .map(|t| self.access_token_info(t)))
    }

    /// Looks up a token of either kind; `None` unless it is active now. A
    /// JWT access token is looked up by its `jti` once its signature
    /// verifies, so revocation shows here although local checks miss it.
    async fn active_info(&self, token: &str) -> Result<Option<TokenInfo>, Error> {
        let now = self.now();
        if let Some(hash) = self.keys.hash(TokenKind::AccessToken, token) {
            return self.access_info(&hash, now).await;
        }
        if crate::jwt::looks_like_jwt(token) {
            return match self.verified_jwt(token).await? {
                Some(v) => self.access_info(&v.hash, now).await,
                None => Ok(None),
            };
        }
        if let Some(hash) = self.keys.hash(TokenKind::RefreshToken, token) {
            let Some((f, generation)) = self.store.find_refresh_token(&hash).await? else {
                return Ok(None);
            };
            if f.revoked.is_some() || generation != f.generation || f.current.expires_at <= now {
                return Ok(None);
            }
            return Ok(Some(TokenInfo {
                active: true,
                scope: self.config.scopes.expand(&f.scopes).to_string(),
                client_id: f.client_id,
                sub: f.subject,
                exp: f.current.expires_at.0,
                iat: f.current.issued_at.0,
                aud: f.resources,
                iss: self.config.issuer.clone(),
                token_type: None,
            }));
        }
        Ok(None)
    }

    /// The introspection endpoint (RFC 7662). Callers authenticate as
    /// confidential clients. A caller learns about a token only if it was
    /// issued to it or the caller serves one of its audiences; everything
    /// else, like unknown, expired, revoked and rotated-out tokens, gets the
    /// same `{"active":false}`.
    pub async fn introspect(&self, req: &HttpRequest) -> HttpResponse {
        let r = async {
            let params = req.credential_form()?;
            params.reject_repeats(&[])?;
            let caller = self.authenticate_client(req, &params).await?;
            if !caller.auth_method.is_confidential() {
                return Err(Error::InvalidClient {
                    basic_attempted: false,
                    description: "introspection requires a confidential client".into(),
                });
            }
            let token = Secret::new(params.required("token")?);
            let info = self
                .active_info(token.expose())
                .await?
                .filter(|i| may_see(&caller, i));
            Ok(match info {
                Some(i) => serde_json::to_vec(&i).map_err(Error::internal)?,
                None => br#"{"active":false}"#.to_vec(),
            })
        };
        match r.await {
            Ok(body) => HttpResponse::json(200, body),
            Err(e) => HttpResponse::error(&e),
        }
    }

    /// Checks a request to a resource server in the same process (RFC 6750
    /// §2.1): exactly one `Authorization: Bearer` header (two are a
    /// malformed request, not a choice), no `access_token` in the URL, an
    /// active access token for `audience`, and every scope in `required`.
    ///
    /// A JWT access token (RFC 9068) is verified locally, without reading
    /// its record: it is trusted until it expires even if revoked
    /// meanwhile (see [`crate::jwt`]). An opaque token is looked up.
    ///
    /// # Errors
    /// The [`BearerError`] to answer with.
    pub async fn verify_bearer(
        &self,
        req: &HttpRequest,
        audience: Audience<'_>,
        required: &[&str],
    ) -> Result<TokenInfo, BearerError> {
        let mut values = req.header_values("authorization");
        let h = match (values.next(), values.next()) {
            (None, _) => return Err(BearerError::Missing),
            (Some(_), Some(_)) => return Err(BearerError::InvalidRequest),
            (Some(h), None) => h,
        };
        // RFC 6750 §2.3 and §5.3: a token in the URL leaks into logs and
        // history; refuse rather than accept two ways at once.
        if !req.query.is_empty()
            && Params::parse(&req.query).is_ok_and(|p| p.contains("access_token"))
        {
            return Err(BearerError::InvalidRequest);
        }
        let Some(token) = crate::http::bearer_token(h) else {
            return Err(BearerError::InvalidRequest);
        };
        if crate::jwt::looks_like_jwt(token) {
            // Local verification: no record is read (see `crate::jwt`).
            let resource = match audience {
                Audience::Resource(r) => Some(r),
                Audience::AnyResource => None,
            };
            let info = self
                .jwt_info(token, resource)
                .await
                .map_err(BearerError::Unavailable)?
                .ok_or(BearerError::InvalidToken)?;
            if !serves(audience, &info.aud) {
                return Err(BearerError::InvalidToken);
            }
            let have = info.scopes();
            check_scopes(required, |s| have.contains(s))?;
            return Ok(info);
        }
        // An opaque token: hashed once, read once, and checked on the
        // record itself before any of it is turned into text.
        let hash = self
            .keys
            .hash(TokenKind::AccessToken, token)
            .ok_or(BearerError::InvalidToken)?;
        let t = self
            .active_access(&hash, self.now())
            .await
            .map_err(BearerError::Unavailable)?
            .ok_or(BearerError::InvalidToken)?;
        if !serves(audience, &t.resources) {
            return Err(BearerError::InvalidToken);
        }
        check_scopes(required, |s| t.scopes.contains(s))?;
        Ok(self.access_token_info(t))
    }
}

/// Audience restriction (RFC 9700 §2.3, RFC 8707): a token without this
/// resource among its audiences is not for this server.
fn serves(audience: Audience<'_>, aud: &[String]) -> bool {
    match audience {
        Audience::Resource(r) => aud.iter().any(|a| a == r),
        Audience::AnyResource => true,
    }
}

/// RFC 6750 §3.1 `insufficient_scope` unless the token has every scope in
/// `required`.
fn check_scopes(required: &[&str], has: impl Fn(&str) -> bool) -> Result<(), BearerError> {
    if required.iter().all(|s| has(s)) {
        Ok(())
    } else {
        Err(BearerError::InsufficientScope(required.join(" ")))
    }
}

/// Resource servers see the access tokens meant for them; refresh tokens
/// only ever concern the client holding them.
fn may_see(caller: &ClientRecord, info: &TokenInfo) -> bool {
    caller.id == info.client_id
        || info.token_type.is_some() && info.aud.iter().any(|a| caller.served_resources.contains(a))
}
