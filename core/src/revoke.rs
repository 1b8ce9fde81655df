//! Token revocation (RFC 7009).

use crate::audit::{Audit, Source};
use crate::engine::Engine;
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse};
use crate::model::{EventKind, RevocationReason};
use crate::storage::Storage;
use crate::token::{TokenHash, TokenKind};

impl<S: Storage + ?Sized> Engine<S> {
    /// The revocation endpoint. Revoking a refresh token revokes its whole
    /// family (RFC 7009 §2.1, RFC 9700 §4.14.2); an access token is revoked
    /// alone. Unknown tokens get 200 (RFC 7009 §2.2); a token of another
    /// client gets `unauthorized_client` and is left alone; a storage failure
    /// is never answered 200.
    pub async fn revoke(&self, req: &HttpRequest) -> HttpResponse {
        let r = async {
            let params = req.credential_form()?;
            params.reject_repeats(&[])?;
            let client = self.authenticate_client(req, &params).await?;
            let by = Audit::client(&client.id, Source::of(req));
            let token = params.required("token")?;
            // token_type_hint is only a hint (RFC 7009 §2.1): the prefix says
            // what a token is, so it is not needed.
            if let Some(hash) = self.keys.hash(TokenKind::RefreshToken, token) {
                if let Some((f, _)) = self.store.find_refresh_token(&hash).await? {
                    if f.client_id != client.id {
                        return Err(not_yours());
                    }
                    self.revoke_family_for(
                        &f.id,
                        &f.grant_id,
                        &f.client_id,
                        RevocationReason::Requested,
                        &by,
                    )
                    .await?;
                }
            } else if let Some(hash) = self.keys.hash(TokenKind::AccessToken, token) {
                self.revoke_access(&hash, &client.id, &by).await?;
            } else if crate::jwt::looks_like_jwt(token) {
                // A JWT of this server (expired or not) names its record
                // by `jti`; anything else is an unknown token.
                if let Some(v) = self.verified_jwt(token).await? {
                    self.revoke_access(&v.hash, &client.id, &by).await?;
                }
            }
            Ok(())
        };
        match r.await {
            Ok(()) => {
                let mut resp = HttpResponse::json(200, b"{}".to_vec());
                resp.body.clear();
                resp.headers.retain(|(n, _)| n != "Content-Type");
                resp
            }
            Err(e) => HttpResponse::error(&e),
        }
    }
}

impl<S: Storage + ?Sized> Engine<S> {
    /// Revokes the access token stored under `hash` if `client_id` holds
    /// it; unknown tokens are left alone (RFC 7009 §2.2). The event names
    /// `by`.
    async fn revoke_access(
        &self,
        hash: &TokenHash,
        client_id: &str,
        by: &Audit,
    ) -> Result<(), Error> {
        if let Some(v) = self.store.find_access_token(hash).await? {
            if v.token.client_id != client_id {
                return Err(not_yours());
            }
            let ev = self.event(
                EventKind::AccessTokenRevoked {
                    client_id: v.token.client_id.clone(),
                    subject: v.token.subject.clone(),
                },
                by,
            );
            self.store
                .revoke_access_token(hash, self.now(), &[ev])
                .await?;
        }
        Ok(())
    }
}

fn not_yours() -> Error {
    Error::UnauthorizedClient("token was issued to another client".into())
}
