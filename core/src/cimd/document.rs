//! Checking a fetched document (draft §4.1) and reading its cache lifetime
//! (§4.4). Pure functions: the engine and any fetcher share them.

use crate::error::Error;
use crate::model::{AuthMethod, GrantType};
use crate::registration::metadata::{from_object, parse_object};
use crate::registration::scopes_within;
use crate::scope::ScopeSet;

/// Longest document accepted: the draft's recommended maximum response
/// size (§6.6, 5 kilobytes).
pub const MAX_DOCUMENT_BYTES: usize = 5 * 1024;

/// What the engine keeps from an accepted document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct DocumentClient {
    pub(crate) name: String,
    pub(crate) redirect_uris: Vec<String>,
    pub(crate) grant_types: Vec<GrantType>,
    pub(crate) scopes: ScopeSet,
}

fn bad(why: impl Into<String>) -> Error {
    Error::InvalidClientMetadata(why.into().into())
}

/// Checks the document fetched from `url`: a bounded JSON object whose
/// `client_id` is exactly `url` (§4.1, RFC 3986 §6.2.1 simple string
/// comparison), without `client_secret` or `client_secret_expires_at`,
/// for a public client, and valid under the rules of dynamic registration
/// ([`crate::registration`]), its scope within `allowed_scopes`.
///
/// `token_endpoint_auth_method` defaults to `none`: RFC 7591's default
/// (`client_secret_basic`) is impossible here, a document cannot carry a
/// secret. Methods built on a shared secret are refused as §4.1 requires;
/// `private_key_jwt` (§6.2) is refused as not implemented.
pub(crate) fn check_document(
    url: &str,
    body: &[u8],
    allowed_scopes: &ScopeSet,
) -> Result<DocumentClient, Error> {
    if body.len() > MAX_DOCUMENT_BYTES {
        return Err(bad(format!(
            "the metadata document is larger than {MAX_DOCUMENT_BYTES} bytes"
        )));
    }
    let object = parse_object(body)?;
    for secret in ["client_secret", "client_secret_expires_at"] {
        if object.contains_key(secret) {
            return Err(bad(format!(
                "a metadata document must not contain {secret}: there is no shared secret"
            )));
        }
    }
    let mut meta = from_object(object)?;
    match meta.client_id.as_deref() {
        Some(id) if id == url => {}
        Some(_) => {
            return Err(bad(
                "the metadata document's client_id differs from the URL it was fetched from",
            ))
        }
        None => return Err(bad("the metadata document has no client_id")),
    }
    match meta.token_endpoint_auth_method.as_deref() {
        None | Some("none") => {}
        Some("private_key_jwt") => {
            return Err(bad(
                "token_endpoint_auth_method private_key_jwt is not supported by this server yet; use none",
            ))
        }
        Some(m @ ("client_secret_basic" | "client_secret_post" | "client_secret_jwt")) => {
            return Err(bad(format!(
                "token_endpoint_auth_method {m} needs a shared secret, which a metadata document cannot have"
            )))
        }
        Some(m) => {
            return Err(bad(format!(
                "token_endpoint_auth_method {m} is not supported; use none"
            )))
        }
    }
    meta.token_endpoint_auth_method = Some(AuthMethod::None.as_str().into());
    let checked = meta.check()?;
    Ok(DocumentClient {
        scopes: scopes_within(allowed_scopes, checked.scope.as_deref())?,
        name: checked.name,
        redirect_uris: checked.redirect_uris,
        grant_types: checked.grant_types,
    })
}

/// The reuse lifetime a `Cache-Control` header value gives (RFC 9111
/// §5.2.2): `Some(0)` for `no-store` or `no-cache` (the stricter
/// directive wins), the `max-age` in seconds, or `None` when neither is
/// there or `max-age` is malformed. The caller bounds it
/// ([`super::CacheBounds`]).
#[must_use]
pub fn cache_max_age(cache_control: &str) -> Option<u64> {
    let mut max_age = None;
    for directive in cache_control.split(',') {
        let (name, value) = directive
            .split_once('=')
            .map_or((directive, None), |(n, v)| (n, Some(v)));
        let name = name.trim().to_ascii_lowercase();
        match (name.as_str(), value) {
            ("no-store" | "no-cache", _) => return Some(0),
            ("max-age", Some(v)) if max_age.is_none() => {
                max_age = v.trim().trim_matches('"').parse::<u64>().ok();
            }
            _ => {}
        }
    }
    max_age
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://agent.example/client.json";

    fn check(json: &str) -> Result<DocumentClient, Error> {
        check_document(
            URL,
            json.as_bytes(),
            &ScopeSet::parse("profile:read dns:read").unwrap(),
        )
    }

    #[test]
    fn a_public_client_document_is_accepted() {
        let c = check(&format!(
            r#"{{"client_id":"{URL}","client_name":"Agent","redirect_uris":["http://127.0.0.1:3000/cb"],
               "grant_types":["authorization_code","refresh_token"],"scope":"profile:read",
               "logo_uri":"https://agent.example/logo.png","some_future_member":[1,2]}}"#
        ))
        .unwrap();
        assert_eq!(c.name, "Agent");
        assert_eq!(c.redirect_uris, vec!["http://127.0.0.1:3000/cb"]);
        assert_eq!(
            c.grant_types,
            vec![GrantType::AuthorizationCode, GrantType::RefreshToken]
        );
        // Its `scope` is checked against the policy but caps nothing: the
        // client may step up to any allowed scope later (the user still
        // approves each).
        assert_eq!(c.scopes.to_string(), "dns:read profile:read");
        let all = check(&format!(
            r#"{{"client_id":"{URL}","redirect_uris":["https://agent.example/cb"],"token_endpoint_auth_method":"none"}}"#
        ))
        .unwrap();
        assert_eq!(all.scopes.to_string(), "dns:read profile:read");
    }

    #[test]
    fn bad_documents_are_refused_with_a_reason() {
        let cb = r#""redirect_uris":["https://agent.example/cb"]"#;
        for (json, needle) in [
            (format!(r#"{{{cb}}}"#), "no client_id"),
            (
                format!(r#"{{"client_id":"{URL}/",{cb}}}"#),
                "differs from the URL",
            ),
            (
                format!(r#"{{"client_id":"HTTPS://agent.example/client.json",{cb}}}"#),
                "differs",
            ),
            (
                format!(r#"{{"client_id":"{URL}",{cb},"client_secret":"s"}}"#),
                "client_secret",
            ),
            (
                format!(r#"{{"client_id":"{URL}",{cb},"client_secret_expires_at":0}}"#),
                "client_secret_expires_at",
            ),
            (
                format!(
                    r#"{{"client_id":"{URL}",{cb},"token_endpoint_auth_method":"client_secret_basic"}}"#
                ),
                "shared secret",
            ),
            (
                format!(
                    r#"{{"client_id":"{URL}",{cb},"token_endpoint_auth_method":"client_secret_jwt"}}"#
                ),
                "shared secret",
            ),
            (
                format!(
                    r#"{{"client_id":"{URL}",{cb},"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://agent.example/jwks"}}"#
                ),
                "private_key_jwt is not supported",
            ),
            (
                format!(r#"{{"client_id":"{URL}","redirect_uris":["javascript:alert(1)"]}}"#),
                "not allowed",
            ),
            (
                format!(r#"{{"client_id":"{URL}","redirect_uris":["https://a.example/cb#x"]}}"#),
                "fragment",
            ),
            (
                format!(r#"{{"client_id":"{URL}",{cb},"response_types":["token"]}}"#),
                "response type",
            ),
            (
                format!(
                    r#"{{"client_id":"{URL}","grant_types":["client_credentials"],"response_types":[]}}"#
                ),
                "client_credentials",
            ),
            (
                format!(r#"{{"client_id":"{URL}",{cb},"scope":"dns:edit"}}"#),
                "scope",
            ),
            (format!(r#"{{"client_id":"{URL}"}}"#), "redirect_uris"),
            ("[1]".to_owned(), "JSON object"),
            ("not json".to_owned(), "JSON object"),
        ] {
            let e = check(&json).expect_err(&json);
            assert!(
                e.description().contains(needle),
                "{json}: {} lacks {needle}",
                e.description()
            );
        }
        let big = format!(
            r#"{{"client_id":"{URL}",{cb},"client_name":"{}"}}"#,
            "x".repeat(MAX_DOCUMENT_BYTES)
        );
        assert!(check(&big).unwrap_err().description().contains("larger"));
    }

    #[test]
    fn cache_control_lifetimes() {
        assert_eq!(cache_max_age("max-age=300"), Some(300));
        assert_eq!(cache_max_age("public, MAX-AGE=\"60\""), Some(60));
        assert_eq!(cache_max_age("max-age=300, no-store"), Some(0));
        assert_eq!(cache_max_age("no-cache"), Some(0));
        assert_eq!(cache_max_age("private"), None);
        assert_eq!(cache_max_age("max-age=soon"), None);
        assert_eq!(cache_max_age("max-age=-1"), None);
        assert_eq!(cache_max_age(""), None);
    }
}
