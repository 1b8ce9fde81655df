//! `grant_type=authorization_code` with PKCE (OAuth 2.1 §4.1.3, RFC 7636
//! §4.5–4.6).

use crate::clock::Timestamp;
use crate::engine::Engine;
use crate::error::Error;
use crate::grant::{builtin_grant, narrow_resources, TokenPlan, TokenResponse};
use crate::http::Params;
use crate::model::{ClientRecord, CodeRecord, CodeStatus, FamilyRecord, RevocationReason};
use crate::pkce;
use crate::storage::{CodeFailure, Issuance, RedeemOutcome, Storage};
use crate::token::TokenKind;

/// Why a presented code is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CodeRefusal {
    /// Expired, issued to another client, or wrong redirect URI.
    Invalid,
    /// The PKCE verifier does not match: counts towards burning the code.
    WrongVerifier,
}

/// Checks a code against the token request (pure): client, expiry,
/// `redirect_uri` (required and identical when the authorization request
/// had one, RFC 6749 §4.1.3) and the PKCE verifier. Status is the
/// caller's concern.
///
/// # Errors
/// The refusal.
pub fn check_code(
    code: &CodeRecord,
    client_id: &str,
    redirect_uri: Option<&str>,
    verifier: &str,
    now: Timestamp,
) -> Result<(), CodeRefusal> {
    if code.client_id != client_id || code.expires_at <= now {
        return Err(CodeRefusal::Invalid);
    }
    let redirect_ok = match redirect_uri {
        Some(r) => r == code.redirect_uri,
        None => !code.redirect_uri_explicit,
    };
    if !redirect_ok {
        return Err(CodeRefusal::Invalid);
    }
    if !pkce::verify(verifier, &code.code_challenge) {
        return Err(CodeRefusal::WrongVerifier);
    }
    Ok(())
}

builtin_grant!(
    /// The `authorization_code` handler for the [`crate::grant::GrantRegistry`].
    AuthorizationCodeGrant, AuthorizationCode, exchange_code
);

fn invalid_grant() -> Error {
    Error::InvalidGrant("authorization code is invalid, expired, or already used".into())
}

impl<S: Storage + ?Sized> Engine<S> {
    pub(crate) async fn exchange_code(
        &self,
        client: &ClientRecord,
        params: &Params,
    ) -> Result<TokenResponse, Error> {
        let presented = params.required("code")?;
        let verifier = params.required("code_verifier")?;
        let redirect_uri = params.single("redirect_uri")?;
        let hash = self
            .keys
            .hash(TokenKind::AuthorizationCode, presented)
            .ok_or_else(invalid_grant)?;
        let code = self
            .store
            .get_code(&hash)
            .await?
            .ok_or_else(invalid_grant)?;
        let now = self.now();
        let check = check_code(&code, &client.id, redirect_uri, verifier, now);
        match (&code.status, check) {
            (CodeStatus::Redeemed { family_id }, Ok(())) => {
                // RFC 6749 §4.1.2: a code used twice revokes what it issued.
                self.revoke_family_for(
                    family_id,
                    &code.grant_id,
                    &code.client_id,
                    RevocationReason::CodeReplay,
                    // The token endpoint's handlers do not see the
                    // request, so the event names the client alone.
                    &crate::audit::Audit::client(&code.client_id, crate::audit::Source::default()),
                )
                .await?;
                return Err(invalid_grant());
            }
            (CodeStatus::Unused, Err(CodeRefusal::WrongVerifier)) => {
                if let CodeFailure::Burned = self
                    .store
                    .record_code_failure(&hash, self.config.max_code_failures)
                    .await?
                {
                    return Err(Error::InvalidGrant(
                        "too many wrong code_verifier attempts; code revoked".into(),
                    ));
                }
                return Err(Error::InvalidGrant(
                    "code_verifier does not match the code_challenge".into(),
                ));
            }
            (CodeStatus::Unused, Ok(())) => {}
            _ => return Err(invalid_grant()),
        }
        let resources = narrow_resources(params.all("resource"), &code.resources)?;
        let (issuance, response) = self.first_tokens(client, &code, resources, now)?;
        match self.store.redeem_code(&hash, now, &issuance).await? {
            RedeemOutcome::Issued => Ok(response),
            RedeemOutcome::AlreadyRedeemed { family_id } => {
                self.revoke_family_for(
                    &family_id,
                    &code.grant_id,
                    &code.client_id,
                    RevocationReason::CodeReplay,
                    // The token endpoint's handlers do not see the
                    // request, so the event names the client alone.
                    &crate::audit::Audit::client(&code.client_id, crate::audit::Source::default()),
                )
                .await?;
                Err(invalid_grant())
            }
            _ => Err(invalid_grant()),
        }
    }

    pub(crate) fn first_tokens(
        &self,
        client: &ClientRecord,
        code: &CodeRecord,
        resources: Vec<String>,
        now: Timestamp,
    ) -> Result<(Issuance, TokenResponse), Error> {
        let family_id = self.new_id("lkf_")?;
        let t = self.issue_tokens(TokenPlan {
            client,
            subject: &code.subject,
            scopes: &code.scopes,
            resources: resources.clone(),
            family_id: Some(&family_id),
            now,
        })?;
        let current = t
            .refresh
            .ok_or_else(|| Error::internal("a family plan mints a refresh token"))?;
        let family = FamilyRecord {
            id: family_id,
            grant_id: code.grant_id.clone(),
            client_id: client.id.clone(),
            subject: code.subject.clone(),
            scopes: code.scopes.clone(),
            resources,
            generation: 0,
            expires_at: current.expires_at.max(t.access.expires_at),
            current,
            previous: None,
            created_at: now,
            revoked: None,
        };
        let issuance = Issuance {
            family,
            access: t.access,
            events: vec![],
        };
        Ok((issuance, t.response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scope::ScopeSet;
    use crate::token::TokenHash;

    fn code() -> CodeRecord {
        CodeRecord {
            hash: TokenHash([0; 32]),
            client_id: "c".into(),
            grant_id: "g".into(),
            subject: "alice".into(),
            redirect_uri: "https://app.example/cb".into(),
            redirect_uri_explicit: true,
            scopes: ScopeSet::parse("a").unwrap(),
            resources: vec![],
            code_challenge: pkce::s256(V),
            issued_at: Timestamp(100),
            expires_at: Timestamp(160),
            failed_attempts: 0,
            status: CodeStatus::Unused,
        }
    }

    const V: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

    #[test]
    fn every_binding_is_checked() {
        let c = code();
        let cb = Some("https://app.example/cb");
        assert_eq!(check_code(&c, "c", cb, V, Timestamp(120)), Ok(()));
        assert_eq!(
            check_code(&c, "other", cb, V, Timestamp(120)),
            Err(CodeRefusal::Invalid)
        );
        assert_eq!(
            check_code(&c, "c", cb, V, Timestamp(160)),
            Err(CodeRefusal::Invalid)
        );
        assert_eq!(
            check_code(&c, "c", None, V, Timestamp(120)),
            Err(CodeRefusal::Invalid)
        );
        assert_eq!(
            check_code(&c, "c", Some("https://app.example/cb2"), V, Timestamp(120)),
            Err(CodeRefusal::Invalid)
        );
        assert_eq!(
            check_code(&c, "c", cb, &V.replace('d', "e"), Timestamp(120)),
            Err(CodeRefusal::WrongVerifier)
        );
        let mut implicit = code();
        implicit.redirect_uri_explicit = false;
        assert_eq!(check_code(&implicit, "c", None, V, Timestamp(120)), Ok(()));
    }
}
