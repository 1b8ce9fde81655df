//! Engine configuration: issuer, endpoints, scopes and lifetimes.

use crate::model::GrantType;
use crate::scope::{ScopeRegistry, ScopeSet};

/// Absolute URLs of the engine's endpoints, as published in RFC 8414
/// metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Authorization endpoint (RFC 6749 §3.1).
    pub authorization: String,
    /// Token endpoint (RFC 6749 §3.2).
    pub token: String,
    /// Introspection endpoint (RFC 7662).
    pub introspection: String,
    /// Revocation endpoint (RFC 7009).
    pub revocation: String,
    /// Client registration endpoint (RFC 7591 §3); advertised and served
    /// only when [`EngineConfig::registration`] is set.
    pub registration: String,
    /// Device authorization endpoint (RFC 8628 §3.1); advertised and
    /// served only when [`EngineConfig::grant_types`] has
    /// [`GrantType::DeviceCode`].
    pub device_authorization: String,
    /// The page where the user enters a user code (RFC 8628 §3.2
    /// `verification_uri`), served by [`crate::web::flow::BrowserFlow`].
    pub device_verification: String,
    /// The JWK Set of the access-token signing keys (RFC 8414 §2
    /// `jwks_uri`); advertised and served only when
    /// [`EngineConfig::jwt`] is set.
    pub jwks: String,
}

/// Everything the engine needs to know that is not in storage.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Issuer identifier (RFC 8414 §2): an `https` URL without query or
    /// fragment, sent as `iss` in authorization responses (RFC 9207).
    pub issuer: String,
    /// Endpoint URLs.
    pub endpoints: Endpoints,
    /// Registered scopes.
    pub scopes: ScopeRegistry,
    /// Scopes used when an authorization request has no `scope`; when
    /// `None` such requests fail with `invalid_scope` (RFC 6749 §3.3).
    pub default_scopes: Option<ScopeSet>,
    /// Access token lifetime in seconds.
    pub access_token_ttl: u64,
    /// Refresh token lifetime in seconds, renewed by every rotation.
    pub refresh_token_ttl: u64,
    /// Authorization code lifetime (RFC 6749 §4.1.2 recommends ≤ 10 min).
    pub code_ttl: u64,
    /// How long a login/consent challenge stays valid.
    pub challenge_ttl: u64,
    /// How long after a rotation a retry with the old refresh token gets the
    /// same successor instead of revoking the family.
    pub refresh_grace: u64,
    /// Wrong PKCE verifiers after which a code is burned.
    pub max_code_failures: u32,
    /// How long a rotated-out client secret keeps working.
    pub secret_rotation_overlap: u64,
    /// How long a domain verification challenge may wait for confirmation.
    pub domain_verification_ttl: u64,
    /// Ask again for consent on every request to a public-visibility client
    /// even when the user chose "remember" (third-party apps).
    pub reprompt_public_clients: bool,
    /// Ask again for consent on every request from a client without a secret
    /// whose redirect URI is loopback or a private-use scheme, whose identity
    /// therefore cannot be proven (RFC 8252 §8.6).
    pub reprompt_unverifiable_native_clients: bool,
    /// The built-in grant types the token endpoint serves, in the order the
    /// metadata lists them. A client may only be registered for these, and
    /// `grant_types_supported` (RFC 8414 §2) advertises exactly these. Add a
    /// custom grant with [`crate::Engine::with_grants`].
    pub grant_types: Vec<GrantType>,
    /// When a client that may refresh is given a refresh token.
    pub refresh_tokens: RefreshPolicy,
    /// Dynamic client registration (RFC 7591/7592); `None` (the default)
    /// turns it off.
    pub registration: Option<crate::registration::RegistrationConfig>,
    /// Lifetime of a device code and its user code, in seconds (RFC 8628
    /// §3.2 `expires_in`).
    pub device_code_ttl: u64,
    /// Seconds a device waits between polls until told to slow down
    /// (RFC 8628 §3.2 `interval`, default 5).
    pub device_poll_interval: u64,
    /// Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-
    /// document): `https` URL client ids resolved through the host's
    /// fetcher ([`crate::cimd`]); `None` (the default) turns them off.
    pub client_id_metadata_documents: Option<crate::cimd::MetadataDocumentConfig>,
    /// JWT access tokens (RFC 9068) for the resources it names; `None`
    /// (the default) issues opaque tokens only. See [`crate::jwt`].
    pub jwt: Option<crate::jwt::JwtConfig>,
    /// Names no app may take or imitate (UTS #39 skeletons, anywhere in
    /// the app's name): the host's product and company names, which its
    /// pages show beside the app's. The library's own page words are
    /// always reserved ([`crate::display::RESERVED_WORDS`]).
    pub reserved_client_names: Vec<String>,
}

/// When the token endpoint hands out a refresh token (to a client whose
/// grant types include `refresh_token`). A family is always recorded, so
/// revocation works the same either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum RefreshPolicy {
    /// Only when the user granted `offline_access` (OpenID Connect Core
    /// §11), so "keep access while I am away" is a visible choice on the
    /// consent screen. A deployment whose scope registry has no
    /// `offline_access` cannot ask for it, and then every such client gets
    /// refresh tokens, as with [`RefreshPolicy::Always`].
    #[default]
    OfflineAccessScope,
    /// Always.
    Always,
}

/// The scope that asks for long-lived access (OpenID Connect Core §11).
pub const OFFLINE_ACCESS: &str = "offline_access";

/// Longest authorization code lifetime accepted (RFC 6749 §4.1.2).
pub const MAX_CODE_TTL: u64 = 600;

impl EngineConfig {
    /// Defaults for `issuer`, with endpoints under `/oauth/`.
    #[must_use]
    pub fn new(issuer: &str, scopes: ScopeRegistry) -> Self {
        let base = issuer.trim_end_matches('/');
        EngineConfig {
            issuer: issuer.to_owned(),
            endpoints: Endpoints {
                authorization: format!("{base}/oauth/authorize"),
                token: format!("{base}/oauth/token"),
                introspection: format!("{base}/oauth/introspect"),
                revocation: format!("{base}/oauth/revoke"),
                registration: format!("{base}/oauth/register"),
                device_authorization: format!("{base}/oauth/device_authorization"),
                device_verification: format!("{base}/device"),
                jwks: format!("{base}/oauth/jwks"),
            },
            scopes,
            default_scopes: None,
            access_token_ttl: 900,
            refresh_token_ttl: 30 * 86_400,
            code_ttl: 60,
            challenge_ttl: 900,
            refresh_grace: 30,
            max_code_failures: 5,
            secret_rotation_overlap: 86_400,
            domain_verification_ttl: 7 * 86_400,
            reprompt_public_clients: true,
            reprompt_unverifiable_native_clients: true,
            grant_types: vec![
                GrantType::AuthorizationCode,
                GrantType::RefreshToken,
                GrantType::ClientCredentials,
            ],
            refresh_tokens: RefreshPolicy::default(),
            registration: None,
            device_code_ttl: 600,
            device_poll_interval: 5,
            client_id_metadata_documents: None,
            jwt: None,
            reserved_client_names: vec![],
        }
    }
}
