//! Authorization server metadata (RFC 8414) and protected resource
//! metadata (RFC 9728).

use serde::Serialize;

use crate::config::EngineConfig;
use crate::engine::Engine;
use crate::http::HttpResponse;
use crate::model::{AuthMethod, GrantType};
use crate::storage::Storage;

impl<S: Storage + ?Sized> Engine<S> {
    /// This engine's RFC 8414 metadata: what this deployment enables.
    #[must_use]
    pub fn metadata(&self) -> serde_json::Value {
        authorization_server_metadata(&self.config, self.grants.grant_types())
    }
}

/// RFC 8414 §2 metadata of a server configured by `config` whose token
/// endpoint serves `grant_types` (use [`crate::Engine::metadata`], which
/// passes the engine's [`crate::grant::GrantRegistry`]). Every list is
/// derived: grant types from the registry, authentication methods from
/// [`AuthMethod::ALL`], scopes from the scope registry.
#[must_use]
pub fn authorization_server_metadata(
    config: &EngineConfig,
    grant_types: impl IntoIterator<Item = GrantType>,
) -> serde_json::Value {
    let auth_methods: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    // Introspection is for resource servers, which always hold a secret.
    let confidential: Vec<&str> = AuthMethod::ALL
        .iter()
        .filter(|m| m.is_confidential())
        .map(|m| m.as_str())
        .collect();
    let grant_types: Vec<GrantType> = grant_types.into_iter().collect();
    let device = grant_types.contains(&GrantType::DeviceCode);
    let grant_types: Vec<&str> = grant_types.into_iter().map(GrantType::as_str).collect();
    let mut m = serde_json::json!({
        "issuer": config.issuer,
        "authorization_endpoint": config.endpoints.authorization,
        "token_endpoint": config.endpoints.token,
        "introspection_endpoint": config.endpoints.introspection,
        "revocation_endpoint": config.endpoints.revocation,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": grant_types,
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "introspection_endpoint_auth_methods_supported": confidential,
        "code_challenge_methods_supported": ["S256"],
        "scopes_supported": config.scopes.names().collect::<Vec<_>>(),
        "authorization_response_iss_parameter_supported": true,
    });
    if config.registration.is_some() {
        m["registration_endpoint"] = config.endpoints.registration.clone().into();
    }
    if config.jwt.is_some() {
        // RFC 8414 §2: where resource servers find the signing keys.
        m["jwks_uri"] = config.endpoints.jwks.clone().into();
    }
    if device {
        // RFC 8628 §4.
        m["device_authorization_endpoint"] = config.endpoints.device_authorization.clone().into();
    }
    // draft-ietf-oauth-client-id-metadata-document §5.
    if config.client_id_metadata_documents.is_some() {
        m["client_id_metadata_document_supported"] = true.into();
    }
    m
}

/// The metadata as an HTTP response (cacheable; it is public).
#[must_use]
pub fn metadata_response(value: &serde_json::Value) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![
            ("Content-Type".into(), "application/json".into()),
            // Clients may keep it a while, and pick up changes soon after.
            ("Cache-Control".into(), "public, max-age=300".into()),
            ("X-Content-Type-Options".into(), "nosniff".into()),
        ],
        body: serde_json::to_vec(value).unwrap_or_default(),
    }
}

/// RFC 9728 §2 metadata a resource server publishes at
/// `/.well-known/oauth-protected-resource` so clients (MCP agents among
/// them) can find the authorization server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ProtectedResourceMetadata {
    /// The resource identifier (RFC 8707).
    pub resource: String,
    /// Issuers that can issue tokens for it.
    pub authorization_servers: Vec<String>,
    /// Scopes the resource understands.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub scopes_supported: Vec<String>,
    /// How tokens are presented; header only (RFC 6750 §2.1).
    pub bearer_methods_supported: Vec<String>,
    /// Human-readable name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resource_name: Option<String>,
}

/// Where RFC 9728 §3.1 puts the metadata of `resource`: the well-known
/// prefix inserted between the origin and the path (a terminating `/`
/// removed; query and fragment dropped). This is the `resource_metadata`
/// a resource server names in its `WWW-Authenticate` challenges (§5.1).
///
/// ```
/// use latchkey::metadata::protected_resource_metadata_url as url;
/// assert_eq!(url("https://api.example/v1/"), "https://api.example/.well-known/oauth-protected-resource/v1");
/// assert_eq!(url("https://api.example"), "https://api.example/.well-known/oauth-protected-resource");
/// ```
#[must_use]
pub fn protected_resource_metadata_url(resource: &str) -> String {
    let (origin, path) = split_origin(resource);
    format!("{origin}/.well-known/oauth-protected-resource{path}")
}

/// `resource` as (origin, path without query, fragment or trailing `/`).
pub(crate) fn split_origin(resource: &str) -> (&str, &str) {
    let end = resource.find(['?', '#']).unwrap_or(resource.len());
    let resource = &resource[..end];
    let after_scheme = resource.find("://").map_or(0, |i| i + 3);
    let path_start = resource[after_scheme..]
        .find('/')
        .map_or(resource.len(), |i| after_scheme + i);
    (
        &resource[..path_start],
        resource[path_start..].trim_end_matches('/'),
    )
}

impl ProtectedResourceMetadata {
    /// Metadata for `resource` protected by the server configured in
    /// `config`, advertising `scopes`.
    #[must_use]
    pub fn new(resource: &str, config: &EngineConfig, scopes: &[&str]) -> Self {
        ProtectedResourceMetadata {
            resource: resource.to_owned(),
            authorization_servers: vec![config.issuer.clone()],
            scopes_supported: scopes.iter().map(|s| (*s).to_owned()).collect(),
            bearer_methods_supported: vec!["header".into()],
            resource_name: None,
        }
    }

    /// As JSON.
    #[must_use]
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}
