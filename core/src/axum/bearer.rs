//! The bearer guard for resource routes (RFC 6750), as a tower layer and
//! as an extractor. The check itself is [`BearerGuard::check`], shared
//! with every framework.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::{FromRef, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};

use crate::http::HttpResponse;
use crate::introspect::TokenInfo;
use crate::web::BearerGuard;

use super::request::head;

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
