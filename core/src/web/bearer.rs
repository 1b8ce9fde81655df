//! The bearer check for resource routes (RFC 6750), without any framework:
//! the `axum` layer and extractor and the `actix-web` middleware and
//! extractor all call [`BearerGuard::check`].

use std::sync::Arc;

use async_trait::async_trait;

use crate::engine::Engine;
use crate::http::{HttpRequest, HttpResponse};
use crate::introspect::{Audience, BearerError, TokenInfo};
use crate::metadata::protected_resource_metadata_url;
use crate::storage::Storage;

/// Checks `Authorization: Bearer` for one resource and its scopes.
///
/// The audience is explicit: a token is accepted only if it was issued for
/// this resource (RFC 8707 §2, RFC 9700 §2.3), so a token minted for
/// another API of the same server is refused. Refusals are RFC 6750 §3
/// challenges naming `resource_metadata` (RFC 9728 §5.1); a token missing
/// a scope gets `403 insufficient_scope` with the `scope` needed, so the
/// client can ask the user for more (step-up). The exactly-one-header rule
/// is [`Engine::verify_bearer`]'s.
///
/// With the `axum` feature it is a tower layer (`route_layer(guard)`:
/// handlers find the [`TokenInfo`] in the request extensions,
/// `Extension<TokenInfo>`) and backs the `latchkey::axum::Bearer`
/// extractor; with `actix-web` it is a middleware (`.wrap(guard)`, then
/// `web::ReqData<TokenInfo>`) and backs `latchkey::actix_web::Bearer`.
/// Any other host calls [`BearerGuard::check`].
#[derive(Clone)]
pub struct BearerGuard {
    verifier: Arc<dyn Verify>,
    resource: Arc<str>,
    scopes: Arc<[String]>,
    metadata_url: Arc<str>,
}

impl std::fmt::Debug for BearerGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerGuard")
            .field("resource", &self.resource)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Type-erases the engine's storage so one guard type serves every store.
#[async_trait]
trait Verify: Send + Sync + 'static {
    async fn verify(
        &self,
        req: &HttpRequest,
        resource: &str,
        scopes: &[String],
    ) -> Result<TokenInfo, BearerError>;
}

#[async_trait]
impl<S: Storage + ?Sized + 'static> Verify for Engine<S> {
    async fn verify(
        &self,
        req: &HttpRequest,
        resource: &str,
        scopes: &[String],
    ) -> Result<TokenInfo, BearerError> {
        let scopes: Vec<&str> = scopes.iter().map(String::as_str).collect();
        self.verify_bearer(req, Audience::Resource(resource), &scopes)
            .await
    }
}

impl BearerGuard {
    /// A guard accepting access tokens of `engine` issued for `resource`
    /// (an RFC 8707 resource identifier) that carry every scope in
    /// `scopes`. The challenge's `resource_metadata` is derived from
    /// `resource` as RFC 9728 §3.1 says; see
    /// [`BearerGuard::with_metadata_url`].
    #[must_use]
    pub fn new<S: Storage + ?Sized + 'static>(
        engine: &Engine<S>,
        resource: &str,
        scopes: &[&str],
    ) -> Self {
        BearerGuard {
            verifier: Arc::new(engine.clone()),
            metadata_url: protected_resource_metadata_url(resource).into(),
            resource: resource.into(),
            scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    /// Names another `resource_metadata` URL in challenges.
    #[must_use]
    pub fn with_metadata_url(mut self, url: &str) -> Self {
        self.metadata_url = url.into();
        self
    }

    /// The resource this guard protects.
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.resource
    }

    /// Checks `req` (only its headers are read).
    ///
    /// # Errors
    /// The RFC 6750 response to send instead.
    pub async fn check(&self, req: &HttpRequest) -> Result<TokenInfo, HttpResponse> {
        self.verifier
            .verify(req, &self.resource, &self.scopes)
            .await
            .map_err(|e| e.response(Some(&self.metadata_url)))
    }
}
