//! The bearer guard for resource routes (RFC 6750), as a tower layer and
//! as an extractor.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use async_trait::async_trait;
use axum::extract::{FromRef, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::engine::Engine;
use crate::http::{HttpRequest, HttpResponse};
use crate::introspect::{Audience, BearerError, TokenInfo};
use crate::metadata::protected_resource_metadata_url;
use crate::storage::Storage;

use super::request::head;

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
/// Use it as a layer (`route_layer(guard)`: handlers find the
/// [`TokenInfo`] in the request extensions, `Extension<TokenInfo>`) or put
/// it in the router state and take [`Bearer`] as an argument.
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

    /// Checks `req`.
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

impl<Svc> tower_layer::Layer<Svc> for BearerGuard {
    type Service = BearerService<Svc>;

    fn layer(&self, inner: Svc) -> Self::Service {
        BearerService {
            guard: self.clone(),
            inner,
        }
    }
}

/// The service [`BearerGuard`] wraps a route in.
#[derive(Clone, Debug)]
pub struct BearerService<Svc> {
    guard: BearerGuard,
    inner: Svc,
}

impl<Svc> tower_service::Service<Request> for BearerService<Svc>
where
    Svc: tower_service::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    Svc::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone that was polled ready is the one to call (tower's
        // documented pattern); a fresh clone stays behind.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            match guard.check(&head(&parts)).await {
                Ok(info) => {
                    parts.extensions.insert(info);
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(r) => Ok(r.into_response()),
            }
        })
    }
}

/// The verified token of a request, as an extractor: checks with the
/// [`BearerGuard`] of the router state (`BearerGuard: FromRef<State>`).
#[derive(Clone, Debug)]
pub struct Bearer(pub TokenInfo);

impl<St> FromRequestParts<St> for Bearer
where
    St: Send + Sync,
    BearerGuard: FromRef<St>,
{
    type Rejection = HttpResponse;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, Self::Rejection> {
        let guard = BearerGuard::from_ref(state);
        guard.check(&head(parts)).await.map(Bearer)
    }
}
