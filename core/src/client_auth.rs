//! Client authentication at the token, introspection and revocation
//! endpoints (RFC 6749 §2.3, OAuth 2.1 §2.4).

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use crate::engine::Engine;
use crate::error::Error;
use crate::http::{decode_component, HttpRequest, Params};
use crate::model::{AuthMethod, ClientRecord};
use crate::storage::Storage;

/// The credentials a request presented, before checking them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Presented {
    pub(crate) client_id: String,
    pub(crate) secret: Option<String>,
    pub(crate) method: AuthMethod,
}

fn invalid_client(basic: bool, why: &'static str) -> Error {
    crate::observe::signal(crate::observe::Signal::ClientAuthFailed, None);
    Error::InvalidClient {
        basic_attempted: basic,
        description: why.into(),
    }
}

/// The client id `req` presents (Basic or `client_id` in the form), if it
/// can be read at all: what rate limits key failures on, before the
/// engine decides anything.
#[must_use]
pub fn presented_client_id(req: &HttpRequest) -> Option<String> {
    let params = req.form_body().unwrap_or_default();
    presented_credentials(req, &params)
        .ok()
        .map(|p| p.client_id)
}

/// A client whose metadata document is unusable is no client (RFC 6749
/// §5.2 `invalid_client`), with the reason.
fn unusable_document(basic: bool, why: crate::error::Description) -> Error {
    Error::InvalidClient {
        basic_attempted: basic,
        description: why,
    }
}

/// Reads client credentials from the `Authorization: Basic` header and the
/// form body. Using two methods at once is `invalid_request` (OAuth 2.1
/// §2.4: a client must not use more than one authentication method).
pub(crate) fn presented_credentials(
    req: &HttpRequest,
    params: &Params,
) -> Result<Presented, Error> {
    let body_id = params.single("client_id")?;
    let body_secret = params.single("client_secret")?;
    let basic = match req.header("authorization")? {
        // `get` rather than slicing: a multibyte header must not panic.
        Some(h) if h.get(..6).is_some_and(|p| p.eq_ignore_ascii_case("basic ")) => {
            Some(parse_basic(&h[6..])?)
        }
        _ => None,
    };
    match basic {
        Some((id, secret)) => {
            if body_secret.is_some() {
                return Err(Error::invalid_request(
                    "use one client authentication method, not Basic and client_secret together",
                ));
            }
            if body_id.is_some_and(|b| b != id) {
                return Err(Error::invalid_request(
                    "client_id differs from the Basic credentials",
                ));
            }
            Ok(Presented {
                client_id: id,
                secret: Some(secret),
                method: AuthMethod::ClientSecretBasic,
            })
        }
        None => {
            let Some(id) = body_id else {
                return Err(invalid_client(false, "client authentication required"));
            };
            Ok(Presented {
                client_id: id.to_owned(),
                secret: body_secret.map(str::to_owned),
                method: if body_secret.is_some() {
                    AuthMethod::ClientSecretPost
                } else {
                    AuthMethod::None
                },
            })
        }
    }
}

/// Decodes Basic credentials: base64 of `id:secret`, each part
/// form-urlencoded first (RFC 6749 §2.3.1).
fn parse_basic(b64: &str) -> Result<(String, String), Error> {
    let bad = || invalid_client(true, "malformed Basic credentials");
    let raw = STANDARD.decode(b64.trim()).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let (id, secret) = text.split_once(':').ok_or_else(bad)?;
    let id = decode_component(id).map_err(|_| bad())?;
    let secret = decode_component(secret).map_err(|_| bad())?;
    if id.is_empty() {
        return Err(bad());
    }
    Ok((id, secret))
}

impl<S: Storage + ?Sized> Engine<S> {
    /// Identifies the calling client for a grant that may skip client
    /// authentication ([`crate::grant::GrantHandler::skips_client_authentication`]):
    /// credentials that are presented are checked as usual; without any,
    /// the client is only looked up by `client_id`.
    pub(crate) async fn identify_client(
        &self,
        req: &HttpRequest,
        params: &Params,
    ) -> Result<ClientRecord, Error> {
        let p = presented_credentials(req, params)?;
        if p.method != AuthMethod::None {
            return self.authenticate_client(req, params).await;
        }
        self.lookup_client(&p.client_id)
            .await
            .map_err(|e| e.into_error(|d| unusable_document(false, d)))?
            .ok_or_else(|| invalid_client(false, "unknown client or bad credentials"))
    }

    /// Authenticates the calling client by its registered method.
    pub(crate) async fn authenticate_client(
        &self,
        req: &HttpRequest,
        params: &Params,
    ) -> Result<ClientRecord, Error> {
        let p = presented_credentials(req, params)?;
        let basic = p.method == AuthMethod::ClientSecretBasic;
        let found = self
            .lookup_client(&p.client_id)
            .await
            .map_err(|e| e.into_error(|d| unusable_document(basic, d)))?;
        let Some(client) = found else {
            return Err(invalid_client(basic, "unknown client or bad credentials"));
        };
        if client.auth_method != p.method {
            return Err(invalid_client(
                basic,
                match client.auth_method {
                    AuthMethod::ClientSecretBasic => {
                        "this client must authenticate with HTTP Basic"
                    }
                    AuthMethod::ClientSecretPost => {
                        "this client must send client_secret in the body"
                    }
                    _ => "this client is public and has no secret",
                },
            ));
        }
        // Fail closed: a confidential client must have a stored secret and
        // present one; anything else (e.g. a backend losing the hash) is
        // refused rather than waved through.
        match (&p.secret, &client.secret) {
            (None, None) if client.auth_method == AuthMethod::None => {}
            (Some(_), Some(_)) => {}
            _ => return Err(invalid_client(basic, "unknown client or bad credentials")),
        }
        if let (Some(secret), Some(stored)) = (&p.secret, &client.secret) {
            let now = self.now();
            let current = self.keys.matches(secret, &stored.current);
            let previous = match (&stored.previous, stored.previous_until) {
                (Some(h), Some(until)) if until > now => self.keys.matches(secret, h),
                _ => false,
            };
            if !(current || previous) {
                return Err(invalid_client(basic, "unknown client or bad credentials"));
            }
        }
        Ok(client)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    #[test]
    fn two_methods_are_invalid_request() {
        let req = HttpRequest::form_post(&[("client_secret", "s")])
            .with_header("Authorization", &basic("c", "s"));
        let params = req.form_body().unwrap();
        assert_eq!(
            presented_credentials(&req, &params).unwrap_err().code(),
            "invalid_request"
        );
    }

    #[test]
    fn basic_parts_are_form_decoded() {
        let req = HttpRequest::form_post(&[])
            .with_header("authorization", &basic("my%3Aclient", "p%40ss"));
        let p = presented_credentials(&req, &req.form_body().unwrap()).unwrap();
        assert_eq!(
            (p.client_id.as_str(), p.secret.as_deref()),
            ("my:client", Some("p@ss"))
        );
        assert_eq!(p.method, AuthMethod::ClientSecretBasic);
    }

    #[test]
    fn malformed_basic_is_invalid_client_with_challenge() {
        let req = HttpRequest::form_post(&[]).with_header("Authorization", "Basic !!!");
        let e = presented_credentials(&req, &req.form_body().unwrap()).unwrap_err();
        assert!(matches!(
            e,
            Error::InvalidClient {
                basic_attempted: true,
                ..
            }
        ));
    }

    #[test]
    fn no_credentials_is_invalid_client() {
        let req = HttpRequest::form_post(&[("grant_type", "x")]);
        let e = presented_credentials(&req, &req.form_body().unwrap()).unwrap_err();
        assert_eq!((e.code(), e.status()), ("invalid_client", 401));
    }
}
