//! Client metadata as RFC 7591 §2 spells it on the wire, read strictly and
//! written back.

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::model::{AuthMethod, ClientRecord, GrantType};
use crate::redirect::{split_uri, validate_redirect_uri};

/// Longest registration document accepted (bytes).
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

/// The metadata members this server understands (RFC 7591 §2). Members it
/// does not know are ignored, as §2 requires; `client_id` and secrets are
/// never taken from the client (§3.2.1: the server assigns them).
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
pub struct ClientMetadata {
    /// `redirect_uris`.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// `token_endpoint_auth_method`; default `client_secret_basic` (§2).
    #[serde(default)]
    pub token_endpoint_auth_method: Option<String>,
    /// `grant_types`; default `["authorization_code"]` (§2).
    #[serde(default)]
    pub grant_types: Option<Vec<String>>,
    /// `response_types`; default `["code"]` (§2).
    #[serde(default)]
    pub response_types: Option<Vec<String>>,
    /// `client_name`.
    #[serde(default)]
    pub client_name: Option<String>,
    /// `client_uri`.
    #[serde(default)]
    pub client_uri: Option<String>,
    /// `logo_uri`.
    #[serde(default)]
    pub logo_uri: Option<String>,
    /// `scope`: space-separated.
    #[serde(default)]
    pub scope: Option<String>,
    /// `contacts`.
    #[serde(default)]
    pub contacts: Vec<String>,
    /// `tos_uri`.
    #[serde(default)]
    pub tos_uri: Option<String>,
    /// `policy_uri`.
    #[serde(default)]
    pub policy_uri: Option<String>,
    /// `jwks_uri` (refused: no method here uses client keys).
    #[serde(default)]
    pub jwks_uri: Option<String>,
    /// `jwks` (refused, as `jwks_uri`).
    #[serde(default)]
    pub jwks: Option<serde_json::Value>,
    /// `software_id`.
    #[serde(default)]
    pub software_id: Option<String>,
    /// `software_version`.
    #[serde(default)]
    pub software_version: Option<String>,
    /// `software_statement` (refused: no trusted issuers are configured).
    #[serde(default)]
    pub software_statement: Option<String>,
    /// RFC 7592 §2.2: an update names the client it updates.
    #[serde(default)]
    pub client_id: Option<String>,
    /// RFC 7592 §2.2: an update may repeat the secret; it must match.
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// The name of a self-registered client that gave none; many may share it
/// (it imitates nobody).
pub(crate) const UNNAMED: &str = "Unnamed app";

fn bad(why: impl Into<String>) -> Error {
    Error::InvalidClientMetadata(why.into().into())
}

fn bad_redirect(why: impl Into<String>) -> Error {
    Error::InvalidRedirectUri(why.into().into())
}

/// The checked form of [`ClientMetadata`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CheckedMetadata {
    pub(crate) name: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) auth_method: AuthMethod,
    pub(crate) grant_types: Vec<GrantType>,
    pub(crate) scope: Option<String>,
    pub(crate) client_uri: Option<String>,
    pub(crate) logo_uri: Option<String>,
    pub(crate) tos_uri: Option<String>,
    pub(crate) policy_uri: Option<String>,
    pub(crate) contacts: Vec<String>,
    pub(crate) software_id: Option<String>,
    pub(crate) software_version: Option<String>,
}

/// Parses a registration request body (`application/json`, bounded).
///
/// # Errors
/// `invalid_client_metadata` for anything but a JSON object of the right
/// member types.
pub fn parse(body: &[u8]) -> Result<ClientMetadata, Error> {
    if body.len() > MAX_METADATA_BYTES {
        return Err(Error::PayloadTooLarge);
    }
    from_object(parse_object(body)?)
}

/// `body` as a JSON object, before reading members: a Client ID Metadata
/// Document must be checked for members [`ClientMetadata`] ignores.
pub(crate) fn parse_object(
    body: &[u8],
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    match serde_json::from_slice(body) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        _ => Err(bad("the document must be a JSON object of client metadata")),
    }
}

/// The members of a parsed JSON object, typed (unknown ones ignored).
pub(crate) fn from_object(
    m: serde_json::Map<String, serde_json::Value>,
) -> Result<ClientMetadata, Error> {
    serde_json::from_value(serde_json::Value::Object(m))
        .map_err(|e| bad(format!("client metadata has a wrong type: {e}")))
}

/// An `https` URL for a human-facing page (`client_uri`, `logo_uri`, …).
fn web_url(field: &str, v: &Option<String>) -> Result<Option<String>, Error> {
    let Some(u) = v else { return Ok(None) };
    crate::display::check_url_text(field, u)?;
    match split_uri(u) {
        Some(p) if p.scheme == "https" && !p.host.is_empty() && !p.has_fragment => {
            Ok(Some(u.clone()))
        }
        _ => Err(bad(format!(
            "{field} must be an https URL without a fragment"
        ))),
    }
}

/// The strict redirect-URI rule for self-registered clients: `https`, a
/// loopback `http` (`127.0.0.1`, `[::1]` or `localhost`, any port, RFC 8252
/// §7.3), or a private-use scheme in reverse-domain form (RFC 8252 §7.1);
/// never `javascript:`, `data:`, a fragment, a wildcard, userinfo or a
/// relative URI, in any spelling.
///
/// # Errors
/// `invalid_redirect_uri` naming the problem.
pub fn check_redirect_uri(uri: &str) -> Result<(), Error> {
    if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(bad_redirect(
            "redirect URI contains whitespace or control characters",
        ));
    }
    if uri.contains('*') {
        return Err(bad_redirect("redirect URIs cannot contain wildcards"));
    }
    let scheme = uri
        .split(':')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if matches!(
        scheme.as_str(),
        "javascript" | "data" | "vbscript" | "file" | "blob"
    ) {
        return Err(bad_redirect(format!(
            "{scheme}: redirect URIs are not allowed"
        )));
    }
    if let Some(p) = split_uri(uri) {
        if p.scheme.eq_ignore_ascii_case("http") && p.host.eq_ignore_ascii_case("localhost") {
            // The general rule accepts only loopback IP literals; agents on
            // a developer's machine commonly register `http://localhost:PORT`.
            return if p.has_fragment {
                Err(bad_redirect("redirect URI must not contain a fragment"))
            } else {
                Ok(())
            };
        }
    }
    validate_redirect_uri(uri).map_err(|e| bad_redirect(e.description()))?;
    let p = split_uri(uri).ok_or_else(|| bad_redirect("redirect URI must be absolute"))?;
    if p.host.is_empty() && !p.scheme.contains('.') {
        return Err(bad_redirect(
            "a private-use scheme must be in reverse-domain form, like com.example.app",
        ));
    }
    Ok(())
}

impl ClientMetadata {
    /// Checks every member (RFC 7591 §2, §5) and the combinations of grant
    /// types, response types and authentication method.
    pub(crate) fn check(&self) -> Result<CheckedMetadata, Error> {
        if self.software_statement.is_some() {
            return Err(Error::InvalidClientMetadata(
                "software statements are not accepted by this server".into(),
            ));
        }
        if self.jwks_uri.is_some() || self.jwks.is_some() {
            return Err(bad("client keys (jwks, jwks_uri) are not supported"));
        }
        let auth_method = match self.token_endpoint_auth_method.as_deref() {
            None | Some("client_secret_basic") => AuthMethod::ClientSecretBasic,
            Some("client_secret_post") => AuthMethod::ClientSecretPost,
            Some("none") => AuthMethod::None,
            Some(other) => {
                return Err(bad(format!(
                    "token_endpoint_auth_method {other} is not supported"
                )))
            }
        };
        let grant_names = self
            .grant_types
            .clone()
            .unwrap_or_else(|| vec!["authorization_code".into()]);
        let mut grant_types = Vec::new();
        for g in &grant_names {
            let gt = match g.as_str() {
                "authorization_code" => GrantType::AuthorizationCode,
                "refresh_token" => GrantType::RefreshToken,
                "client_credentials" => GrantType::ClientCredentials,
                "urn:ietf:params:oauth:grant-type:device_code" => GrantType::DeviceCode,
                other => return Err(bad(format!("grant type {other} is not supported"))),
            };
            if !grant_types.contains(&gt) {
                grant_types.push(gt);
            }
        }
        if grant_types.is_empty() {
            return Err(bad("grant_types must not be empty"));
        }
        let response_types = self
            .response_types
            .clone()
            .unwrap_or_else(|| vec!["code".into()]);
        let wants_code = grant_types.contains(&GrantType::AuthorizationCode);
        for r in &response_types {
            if r != "code" {
                return Err(bad(format!(
                    "response type {r} is not supported (OAuth 2.1 has only code)"
                )));
            }
        }
        // RFC 7591 §2.1: response_types and grant_types must agree.
        if wants_code != response_types.iter().any(|r| r == "code") {
            return Err(bad(
                "response_types code and grant_types authorization_code go together",
            ));
        }
        if grant_types.contains(&GrantType::ClientCredentials) && auth_method == AuthMethod::None {
            return Err(bad("client_credentials needs a confidential client"));
        }
        if wants_code && self.redirect_uris.is_empty() {
            return Err(bad_redirect(
                "authorization_code clients need redirect_uris",
            ));
        }
        if self.redirect_uris.len() > 10 {
            return Err(bad_redirect("at most 10 redirect URIs"));
        }
        for u in &self.redirect_uris {
            check_redirect_uri(u)?;
        }
        let name = self
            .client_name
            .as_deref()
            .map(crate::display::normalise)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| UNNAMED.to_owned());
        crate::display::check_name(&name, crate::clients::MAX_NAME_CHARS, &[])
            .map_err(|e| bad(format!("client_{}", e.description())))?;
        let contacts: Vec<String> = self
            .contacts
            .iter()
            .map(|c| crate::display::normalise(c))
            .collect();
        for c in &contacts {
            crate::display::check_text("contacts", c)?;
        }
        let software_id = self.software_id.as_deref().map(crate::display::normalise);
        let software_version = self
            .software_version
            .as_deref()
            .map(crate::display::normalise);
        for (f, v) in [
            ("software_id", &software_id),
            ("software_version", &software_version),
        ] {
            if let Some(t) = v {
                crate::display::check_text(f, t)?;
            }
        }
        if self.contacts.len() > 5 || self.contacts.iter().any(|c| c.len() > 254) {
            return Err(bad("at most 5 contacts of at most 254 characters"));
        }
        for (f, v) in [
            ("software_id", &self.software_id),
            ("software_version", &self.software_version),
        ] {
            if v.as_ref().is_some_and(|s| s.len() > 200) {
                return Err(bad(format!("{f} is longer than 200 characters")));
            }
        }
        Ok(CheckedMetadata {
            name,
            redirect_uris: self.redirect_uris.clone(),
            auth_method,
            grant_types,
            scope: self.scope.clone(),
            client_uri: web_url("client_uri", &self.client_uri)?,
            logo_uri: web_url("logo_uri", &self.logo_uri)?,
            tos_uri: web_url("tos_uri", &self.tos_uri)?,
            policy_uri: web_url("policy_uri", &self.policy_uri)?,
            contacts,
            software_id,
            software_version,
        })
    }
}

/// The client information response (RFC 7591 §3.2.1, RFC 7592 §3): every
/// registered member, without secrets unless given.
#[derive(Clone, Debug, Serialize)]
pub(crate) struct ClientInformation<'a> {
    pub(crate) client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_secret: Option<&'a str>,
    pub(crate) client_id_issued_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_secret_expires_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) registration_access_token: Option<&'a str>,
    pub(crate) registration_client_uri: String,
    pub(crate) client_name: &'a str,
    pub(crate) redirect_uris: &'a [String],
    pub(crate) token_endpoint_auth_method: &'static str,
    pub(crate) grant_types: Vec<&'static str>,
    pub(crate) response_types: Vec<&'static str>,
    pub(crate) scope: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) client_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) logo_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) tos_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) policy_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub(crate) contacts: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) software_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) software_version: Option<&'a str>,
}

impl<'a> ClientInformation<'a> {
    pub(crate) fn of(client: &'a ClientRecord, registration_client_uri: String) -> Self {
        let r = client.registration.as_ref();
        let code = client.allows_grant(GrantType::AuthorizationCode);
        ClientInformation {
            client_id: &client.id,
            client_secret: None,
            client_id_issued_at: client.created_at.0,
            client_secret_expires_at: client.secret.as_ref().map(|_| 0),
            registration_access_token: None,
            registration_client_uri,
            client_name: &client.name,
            redirect_uris: &client.redirect_uris,
            token_endpoint_auth_method: client.auth_method.as_str(),
            grant_types: client.grant_types.iter().map(|g| g.as_str()).collect(),
            response_types: if code { vec!["code"] } else { vec![] },
            scope: client.scopes.to_string(),
            client_uri: r.and_then(|r| r.client_uri.as_deref()),
            logo_uri: r.and_then(|r| r.logo_uri.as_deref()),
            tos_uri: r.and_then(|r| r.tos_uri.as_deref()),
            policy_uri: r.and_then(|r| r.policy_uri.as_deref()),
            contacts: r.map_or(&[][..], |r| r.contacts.as_slice()),
            software_id: r.and_then(|r| r.software_id.as_deref()),
            software_version: r.and_then(|r| r.software_version.as_deref()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris_are_strict_in_every_spelling() {
        for ok in [
            "https://app.example/cb",
            "http://127.0.0.1/cb",
            "http://127.0.0.1:4711/cb",
            "http://[::1]:80/cb",
            "http://localhost:3000/callback",
            "com.example.app:/oauth",
        ] {
            assert_eq!(
                check_redirect_uri(ok).map_err(|e| e.to_string()),
                Ok(()),
                "{ok}"
            );
        }
        for bad in [
            "javascript:alert(1)",
            "JavaScript:alert(1)",
            " javascript:alert(1)",
            "data:text/html,<b>x</b>",
            "DATA:text/html,x",
            "https://app.example/cb#frag",
            "http://localhost/cb#x",
            "https://*.example/cb",
            "https://user:pw@app.example/cb",
            "https://user@app.example/cb",
            "/relative/cb",
            "app.example/cb",
            "http://app.example/cb",
            "myapp:/cb",
            "https://app.example/cb\n",
            "",
        ] {
            let e = check_redirect_uri(bad).expect_err(bad);
            assert_eq!(e.code(), "invalid_redirect_uri", "{bad}");
        }
    }

    #[test]
    fn combinations_are_checked() {
        let m = |json: &str| parse(json.as_bytes()).and_then(|m| m.check());
        let ok =
            m(r#"{"redirect_uris":["https://a.example/cb"],"client_name":"A","unknown_member":1}"#)
                .unwrap();
        assert_eq!(ok.auth_method, AuthMethod::ClientSecretBasic);
        assert_eq!(ok.grant_types, vec![GrantType::AuthorizationCode]);
        for (json, code) in [
            (r#"[]"#, "invalid_client_metadata"),
            (
                r#"{"redirect_uris":"https://a.example/cb"}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"response_types":["token"]}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"grant_types":["password"]}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"grant_types":["implicit"]}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"grant_types":["client_credentials"],"response_types":[],"token_endpoint_auth_method":"none"}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"grant_types":["client_credentials"]}"#,
                "invalid_client_metadata",
            ),
            (r#"{"redirect_uris":[]}"#, "invalid_redirect_uri"),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"jwks_uri":"https://a.example/jwks"}"#,
                "invalid_client_metadata",
            ),
            (
                r#"{"redirect_uris":["https://a.example/cb"],"logo_uri":"http://a.example/l.png"}"#,
                "invalid_client_metadata",
            ),
        ] {
            assert_eq!(m(json).unwrap_err().code(), code, "{json}");
        }
        assert!(m(r#"{"grant_types":["client_credentials"],"response_types":[]}"#).is_ok());
        let big = format!(r#"{{"client_name":"{}"}}"#, "x".repeat(MAX_METADATA_BYTES));
        assert_eq!(parse(big.as_bytes()).unwrap_err().status(), 413);
    }
}
