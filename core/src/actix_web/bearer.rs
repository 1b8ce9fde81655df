//! The bearer guard for resource routes (RFC 6750), as actix-web
//! middleware and as an extractor. The check itself is
//! [`BearerGuard::check`], shared with every framework.

use std::future::{ready, Future, Ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::{BoxBody, EitherBody, MessageBody};
use actix_web::dev::{forward_ready, Payload, Service, ServiceRequest, ServiceResponse, Transform};
use actix_web::{web, FromRequest, HttpMessage};

use crate::error::Error;
use crate::http::HttpResponse;
use crate::introspect::TokenInfo;
use crate::web::BearerGuard;

use super::request::head;
use super::response::{to_actix, Rejection};

impl<Svc, B> Transform<Svc, ServiceRequest> for BearerGuard
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Transform = BearerMiddleware<Svc>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: Svc) -> Self::Future {
        ready(Ok(BearerMiddleware {
            guard: self.clone(),
            inner: Rc::new(service),
        }))
    }
}

/// The service [`BearerGuard`] wraps a resource or scope in (`.wrap(guard)`):
/// a request with an accepted token reaches it with the [`TokenInfo`] in
/// its extensions (`web::ReqData<TokenInfo>`); any other gets the RFC 6750
/// challenge.
#[derive(Debug)]
pub struct BearerMiddleware<Svc> {
    guard: BearerGuard,
    // Shared with the call's future, which outlives `&self` (actix's
    // documented middleware pattern; workers are single-threaded).
    inner: Rc<Svc>,
}

impl<Svc, B> Service<ServiceRequest> for BearerMiddleware<Svc>
where
    Svc: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B, BoxBody>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(inner);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let guard = self.guard.clone();
        let inner = self.inner.clone();
        Box::pin(async move {
            match guard.check(&head(req.request())).await {
                Ok(info) => {
                    req.extensions_mut().insert(info);
                    Ok(inner.call(req).await?.map_into_left_body())
                }
                Err(r) => Ok(req.into_response(to_actix(r)).map_into_right_body()),
            }
        })
    }
}

/// The verified token of a request, as an extractor: checks with the
/// [`BearerGuard`] in the app data (`App::app_data(guard)` or
/// `web::Data<BearerGuard>`). Without one, the handler is not run and the
/// client gets a 500: a wiring mistake must not let requests through.
#[derive(Clone, Debug)]
pub struct Bearer(pub TokenInfo);

impl FromRequest for Bearer {
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(req: &actix_web::HttpRequest, _: &mut Payload) -> Self::Future {
        let guard = req.app_data::<BearerGuard>().cloned().or_else(|| {
            req.app_data::<web::Data<BearerGuard>>()
                .map(|d| d.get_ref().clone())
        });
        let head = head(req);
        Box::pin(async move {
            let Some(guard) = guard else {
                let e = Error::internal("no BearerGuard in the app data for the Bearer extractor");
                return Err(Rejection(HttpResponse::error(&e)));
            };
            guard.check(&head).await.map(Bearer).map_err(Rejection)
        })
    }
}
