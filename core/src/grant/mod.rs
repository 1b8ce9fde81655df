//! The token endpoint (RFC 6749 §3.2, OAuth 2.1 §3.2) and one module per
//! grant type. Each grant module keeps its decision as a pure function of
//! the records and `now`; the async part only loads and stores.

pub mod authorization_code;
pub mod client_credentials;
pub mod refresh_token;

use serde::{Deserialize, Serialize};

use crate::clock::Timestamp;
use crate::engine::Engine;
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse};
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
        let params = req.form_body()?;
        params.reject_repeats(&["resource"])?;
        let client = self.authenticate_client(req, &params).await?;
        let grant = match params.required("grant_type")? {
            "authorization_code" => GrantType::AuthorizationCode,
            "refresh_token" => GrantType::RefreshToken,
            "client_credentials" => GrantType::ClientCredentials,
            _ => return Err(Error::UnsupportedGrantType("unsupported grant_type".into())),
        };
        if !client.allows_grant(grant) {
            return Err(Error::UnauthorizedClient(
                "client may not use this grant type".into(),
            ));
        }
        match grant {
            GrantType::AuthorizationCode => self.exchange_code(&client, &params).await,
            GrantType::RefreshToken => self.refresh(&client, &params).await,
            GrantType::ClientCredentials => self.client_credentials(&client, &params).await,
        }
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

    /// Revokes a family with its outbox event, atomically.
    pub(crate) async fn revoke_family_for(
        &self,
        family_id: &str,
        grant_id: &str,
        client_id: &str,
        reason: RevocationReason,
    ) -> Result<bool, Error> {
        let ev = self.event(EventKind::FamilyRevoked {
            family_id: family_id.to_owned(),
            grant_id: grant_id.to_owned(),
            client_id: client_id.to_owned(),
            reason,
        });
        let rev = Revocation {
            at: self.now(),
            reason,
        };
        Ok(self.store.revoke_family(family_id, rev, &[ev]).await?)
    }
}
