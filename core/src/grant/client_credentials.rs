//! `grant_type=client_credentials` (OAuth 2.1 §4.2): confidential clients
//! acting on their own behalf. No refresh token (RFC 6749 §4.4.3).

use crate::engine::Engine;
use crate::error::Error;
use crate::grant::{builtin_grant, narrow_resources, narrow_scope, TokenPlan, TokenResponse};
use crate::http::Params;
use crate::model::ClientRecord;
use crate::storage::Storage;

builtin_grant!(
    /// The `client_credentials` handler for the [`crate::grant::GrantRegistry`].
    ClientCredentialsGrant, ClientCredentials, client_credentials
);

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
        let t = self.issue_tokens(TokenPlan {
            client,
            subject: &client.id,
            scopes: &scopes,
            resources,
            family_id: None,
            now: self.now(),
        })?;
        self.store.insert_access_token(&t.access).await?;
        Ok(t.response)
    }
}
