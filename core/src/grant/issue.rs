//! The one path that mints tokens (RFC 6749 §5.1): every grant describes
//! what it wants in a [`TokenPlan`] and gets the records to store and the
//! response to send, so a new token format changes this file only.

use crate::clock::Timestamp;
use crate::config::{RefreshPolicy, OFFLINE_ACCESS};
use crate::engine::Engine;
use crate::error::Error;
use crate::grant::TokenResponse;
use crate::model::{AccessTokenRecord, ClientRecord, GrantType, RefreshGeneration};
use crate::scope::ScopeSet;
use crate::storage::Storage;
use crate::token::TokenKind;

/// What to mint for one token response.
pub(crate) struct TokenPlan<'a> {
    /// The client the tokens are issued to (lifetimes, refresh permission).
    pub(crate) client: &'a ClientRecord,
    /// The resource owner (the client itself for `client_credentials`).
    pub(crate) subject: &'a str,
    /// Granted scopes, before implications are expanded.
    pub(crate) scopes: &'a ScopeSet,
    /// Audiences (RFC 8707).
    pub(crate) resources: Vec<String>,
    /// The family the tokens belong to; `None` mints a stand-alone access
    /// token and no refresh token.
    pub(crate) family_id: Option<&'a str>,
    /// When.
    pub(crate) now: Timestamp,
}

/// What [`Engine::issue_tokens`] minted.
pub(crate) struct IssuedTokens {
    /// The access token record to store.
    pub(crate) access: AccessTokenRecord,
    /// The family's next refresh generation, when the plan had a family.
    pub(crate) refresh: Option<RefreshGeneration>,
    /// The response; it carries the refresh token only if the client may
    /// refresh and [`crate::config::RefreshPolicy`] allows it, though a
    /// family always has one (it anchors revocation).
    pub(crate) response: TokenResponse,
}

impl<S: Storage + ?Sized> Engine<S> {
    /// Mints the tokens a plan describes. Nothing is stored here: the caller
    /// writes the records in its grant's one atomic storage operation.
    pub(crate) fn issue_tokens(&self, plan: TokenPlan<'_>) -> Result<IssuedTokens, Error> {
        let TokenPlan {
            client,
            subject,
            scopes,
            resources,
            family_id,
            now,
        } = plan;
        let effective = self.config.scopes.expand(scopes);
        let (access, access_hash, access_exp) = if self.issues_jwt(client, &resources) {
            let ttl = self.access_ttl(client).min(self.jwt_max_lifetime());
            let exp = now.plus(ttl);
            let (jwt, hash) = self.mint_jwt(client, subject, &effective, &resources, now, exp)?;
            (jwt, hash, exp)
        } else {
            let (token, hash) = self.mint(TokenKind::AccessToken)?;
            (token, hash, now.plus(self.access_ttl(client)))
        };
        let refresh = match family_id {
            Some(_) => {
                let (token, hash) = self.mint(TokenKind::RefreshToken)?;
                let generation = RefreshGeneration {
                    hash,
                    issued_at: now,
                    expires_at: now.plus(self.refresh_ttl(client)),
                };
                Some((token, generation))
            }
            None => None,
        };
        let offer_refresh = client.allows_grant(GrantType::RefreshToken)
            && match self.config.refresh_tokens {
                RefreshPolicy::Always => true,
                _ => {
                    self.config.scopes.get(OFFLINE_ACCESS).is_none()
                        || effective.contains(OFFLINE_ACCESS)
                }
            };
        let response = TokenResponse {
            access_token: access.expose().to_owned(),
            token_type: "Bearer".into(),
            expires_in: now.until(access_exp),
            refresh_token: refresh
                .as_ref()
                .filter(|_| offer_refresh)
                .map(|(t, _)| t.expose().to_owned()),
            scope: effective.to_string(),
        };
        Ok(IssuedTokens {
            access: AccessTokenRecord {
                hash: access_hash,
                family_id: family_id.map(str::to_owned),
                client_id: client.id.clone(),
                subject: subject.to_owned(),
                scopes: effective,
                resources,
                issued_at: now,
                expires_at: access_exp,
                revoked_at: None,
            },
            refresh: refresh.map(|(_, g)| g),
            response,
        })
    }
}
