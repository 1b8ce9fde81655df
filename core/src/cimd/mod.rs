//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document,
//! the registration method the MCP authorization spec of 2025-11-25
//! prefers): a client whose `client_id` is an `https` URL is described by
//! the JSON document at that URL, with no registration beforehand.
//!
//! # Enabling it
//!
//! Set [`EngineConfig::client_id_metadata_documents`](crate::EngineConfig)
//! to a [`MetadataDocumentConfig`] holding a [`ClientMetadataFetcher`]. The
//! engine opens no socket itself: with the `cimd-fetch` feature,
//! `cimd::HttpsFetcher` is a ready fetcher that refuses internal addresses,
//! redirects, large or non-JSON answers, and honours `Cache-Control`.
//!
//! ```
//! # #[cfg(feature = "cimd-fetch")] {
//! use std::sync::Arc;
//! use latchkey::cimd::{HttpsFetcher, MetadataDocumentConfig};
//! use latchkey::{EngineConfig, ScopeRegistry, ScopeSet};
//!
//! let scopes = ScopeRegistry::new().register("mcp", "Use the tools", &[]).unwrap();
//! let mut config = EngineConfig::new("https://auth.example", scopes);
//! config.client_id_metadata_documents = Some(MetadataDocumentConfig::new(
//!     Arc::new(HttpsFetcher::new().unwrap()),
//!     ScopeSet::parse("mcp").unwrap(),
//!     vec!["https://mcp.example/".into()],
//! ));
//! # }
//! ```
//!
//! The metadata then says `client_id_metadata_document_supported: true`
//! (draft §5).
//!
//! # How such clients are kept
//!
//! The first time a URL client id is used, the engine fetches its document,
//! checks it with the rules dynamic registration uses (redirect URIs,
//! grant and response types, scopes within
//! [`MetadataDocumentConfig::allowed_scopes`], unknown members ignored) plus
//! the draft's own (§4.1: `client_id` equal to the URL, no shared secret),
//! and stores an ordinary [`ClientRecord`](crate::model::ClientRecord) keyed
//! by the URL, owned by [`MetadataDocumentConfig::owner`] and marked
//! [`Visibility::Unvetted`](crate::model::Visibility::Unvetted). Grants,
//! tokens, consent, connected apps, revocation and deletion therefore work
//! as for any client. The record is the cache (§4.4): it is used as is
//! until [`MetadataDocument::stale_at`](crate::model::MetadataDocument),
//! then the authorization and token endpoints fetch the document again
//! and update it. A fetch or check that fails aborts the request (§4.3)
//! and changes nothing; a deleted record is fetched anew on next use.
//! With the feature turned off again, stored copies are no longer
//! accepted as clients (their access tokens run out; their refresh tokens
//! are refused).
//!
//! Only public clients (`token_endpoint_auth_method` `none`, the default
//! here since a document cannot carry a secret) are accepted for now;
//! `private_key_jwt` (draft §6.2) is refused until it is implemented.

mod address;
mod document;
#[cfg(feature = "cimd-fetch")]
mod fetch;
mod resolve;
mod url;

use std::sync::Arc;

use async_trait::async_trait;

use crate::scope::ScopeSet;

pub use address::is_public_address;
pub use document::{cache_max_age, MAX_DOCUMENT_BYTES};
#[cfg(feature = "cimd-fetch")]
pub use fetch::{HttpsFetcher, HttpsFetcherBuilder};
pub use url::check_client_id_url;

/// A document as the fetcher got it, before any check of its content.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchedDocument {
    /// The response body (at most [`MAX_DOCUMENT_BYTES`]; longer ones are
    /// refused by the engine whatever the fetcher allowed).
    pub body: Vec<u8>,
    /// How long the response may be reused, in seconds, from its
    /// `Cache-Control` ([`cache_max_age`]): `Some(0)` for `no-store` or
    /// `no-cache`, `None` when it says nothing.
    pub max_age: Option<u64>,
}

/// Why a document could not be fetched. The `Display` text is safe to show
/// to the user and the client: it names the rule, never internal details.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not an `https` URL the fetcher can request.
    #[error("the client_id is not an https URL that can be fetched")]
    NotHttps,
    /// The host name does not resolve.
    #[error("the client_id host could not be resolved")]
    Resolve,
    /// The host is, or resolves only to, a private, loopback or otherwise
    /// internal address (draft §6.5).
    #[error("the client_id host is an internal address, which is never fetched")]
    BlockedAddress,
    /// The server answered with a redirect; none is followed.
    #[error("the metadata document answered with a redirect ({0}), which is not followed")]
    Redirect(u16),
    /// Any other status than 200.
    #[error("the metadata document answered with HTTP status {0}")]
    Status(u16),
    /// Not served as `application/json` (or `application/…+json`).
    #[error("the metadata document is not served as application/json")]
    ContentType,
    /// Longer than the limit (bytes).
    #[error("the metadata document is larger than {0} bytes")]
    TooLarge(usize),
    /// The whole fetch took longer than the limit.
    #[error("fetching the metadata document timed out")]
    Timeout,
    /// The fetcher could not be set up (TLS backend, a bad root
    /// certificate); the cause is for logs.
    #[error("the metadata document fetcher is misconfigured")]
    Setup(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// Connection or TLS failure; the cause is for logs.
    #[error("the metadata document could not be fetched (connection or TLS failure)")]
    Network(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Fetches Client ID Metadata Documents for the engine, which stays free of
/// network code. Implementations must refuse internal addresses (draft
/// §6.5), redirects, and responses over [`MAX_DOCUMENT_BYTES`] (§6.6).
#[async_trait]
pub trait ClientMetadataFetcher: Send + Sync {
    /// `GET url` (an `https` URL that passed [`check_client_id_url`]).
    ///
    /// # Errors
    /// Any failure; the engine aborts the request with its text (§4.3)
    /// and caches nothing (§4.4).
    async fn fetch(&self, url: &str) -> Result<FetchedDocument, FetchError>;
}

/// Bounds on how long a fetched document is reused (draft §4.4: the
/// server may bound the lifetime HTTP caching gives), in seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheBounds {
    /// Shortest reuse, even for `no-store`: bounds how often one client's
    /// requests make the server fetch.
    pub min: u64,
    /// Reuse when the response has no `max-age`.
    pub default: u64,
    /// Longest reuse, whatever `max-age` says: a changed or withdrawn
    /// document takes effect within this.
    pub max: u64,
}

impl Default for CacheBounds {
    /// A minute, an hour, a day.
    fn default() -> Self {
        CacheBounds {
            min: 60,
            default: 3_600,
            max: 86_400,
        }
    }
}

impl CacheBounds {
    /// How long to reuse a document whose response allowed `max_age`.
    #[must_use]
    pub fn ttl(&self, max_age: Option<u64>) -> u64 {
        max_age
            .unwrap_or(self.default)
            .clamp(self.min, self.max.max(self.min))
    }
}

/// The host's policy for clients identified by metadata documents.
#[derive(Clone)]
pub struct MetadataDocumentConfig {
    /// Fetches the documents.
    pub fetcher: Arc<dyn ClientMetadataFetcher>,
    /// The account that owns these clients (they appear in no user's
    /// developer console).
    pub owner: String,
    /// Scopes such a client may ask for; a document without `scope` gets
    /// all of them, one naming others is refused.
    pub allowed_scopes: ScopeSet,
    /// Resource indicators (RFC 8707) such clients may request tokens
    /// for, e.g. the MCP servers this authorization server protects.
    pub resources: Vec<String>,
    /// Whether "don't ask again" applies to them. Default `false`: nobody
    /// vetted them, so they are asked for every time.
    pub remember_consent: bool,
    /// Most such clients stored at once; past it, new URLs are refused
    /// until the host deletes some.
    pub max_clients: usize,
    /// How long a fetched document is reused.
    pub cache: CacheBounds,
}

impl std::fmt::Debug for MetadataDocumentConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetadataDocumentConfig")
            .field("owner", &self.owner)
            .field("allowed_scopes", &self.allowed_scopes)
            .field("resources", &self.resources)
            .field("remember_consent", &self.remember_consent)
            .field("max_clients", &self.max_clients)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl MetadataDocumentConfig {
    /// Documents fetched by `fetcher`, for `allowed_scopes` and
    /// `resources`; at most 10,000 such clients, consent never remembered,
    /// the default [`CacheBounds`].
    #[must_use]
    pub fn new(
        fetcher: Arc<dyn ClientMetadataFetcher>,
        allowed_scopes: ScopeSet,
        resources: Vec<String>,
    ) -> Self {
        MetadataDocumentConfig {
            fetcher,
            owner: "client-id-metadata-document".into(),
            allowed_scopes,
            resources,
            remember_consent: false,
            max_clients: 10_000,
            cache: CacheBounds::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_lifetime_stays_within_bounds() {
        let b = CacheBounds {
            min: 60,
            default: 600,
            max: 3_600,
        };
        assert_eq!(b.ttl(None), 600);
        assert_eq!(b.ttl(Some(0)), 60);
        assert_eq!(b.ttl(Some(120)), 120);
        assert_eq!(b.ttl(Some(u64::MAX)), 3_600);
    }
}
