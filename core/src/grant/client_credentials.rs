//! `grant_type=client_credentials` (OAuth 2.1 §4.2): confidential clients
//! acting on their own behalf. No refresh token (RFC 6749 §4.4.3).

use crate::engine::Engine;
use crate::error::Error;
use crate::grant::{narrow_resources, narrow_scope, TokenResponse};
use crate::http::Params;
use crate::model::{AccessTokenRecord, ClientRecord};
use crate::storage::Storage;
use crate::token::TokenKind;

impl<S: Storage + ?Sized> Engine<S> {
    pub(crate) async fn client_credentials(
        &self,
        client: &ClientRecord,
        params: &Params,
    ) -> Result<TokenResponse, Error> {
        if !client.auth_method.is_confidential() {
            return Err(Error::UnauthorizedClient(
                "client_credentials requires a confidential client".into(),
            ));
        }
        let requested = params.single("scope")?;
        if let Some(s) = requested {
            self.config
                .scopes
                .check_known(&crate::scope::ScopeSet::parse(s)?)?;
        }
        let scopes = narrow_scope(requested, &client.scopes)?;
        let resources = narrow_resources(params.all("resource"), &client.resources)?;
        let now = self.now();
        let (access, hash) = self.mint(TokenKind::AccessToken)?;
        let expires_at = now.plus(self.access_ttl(client));
        let effective = self.config.scopes.expand(&scopes);
        self.store
            .insert_access_token(&AccessTokenRecord {
                hash,
                family_id: None,
                client_id: client.id.clone(),
                subject: client.id.clone(),
                scopes: effective.clone(),
                resources,
                issued_at: now,
                expires_at,
                revoked_at: None,
            })
            .await?;
        Ok(TokenResponse {
            access_token: access.expose().to_owned(),
            token_type: "Bearer".into(),
            expires_in: now.until(expires_at),
            refresh_token: None,
            scope: effective.to_string(),
        })
    }
}
