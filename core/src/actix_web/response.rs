//! [`HttpResponse`] as an actix-web response.
//!
//! No newtype is needed: [`Responder`] is actix's trait and
//! [`HttpResponse`] is latchkey's type, which the orphan rule allows, so a
//! handler returns the engine's response as it is. Extractors must fail
//! with an [`actix_web::Error`], which only a [`ResponseError`] converts
//! into; [`Rejection`] is that wrapper.

use actix_web::body::BoxBody;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{Responder, ResponseError};

use crate::http::HttpResponse;

/// Copies status, headers and body. The engine only emits valid names and
/// values; one that is not is skipped rather than panicking.
#[must_use]
pub fn to_actix(r: HttpResponse) -> actix_web::HttpResponse {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut out = actix_web::HttpResponse::with_body(status, BoxBody::new(r.body));
    for (k, v) in r.headers {
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            out.headers_mut().append(k, v);
        }
    }
    out
}

impl Responder for HttpResponse {
    type Body = BoxBody;

    fn respond_to(self, _req: &actix_web::HttpRequest) -> actix_web::HttpResponse {
        to_actix(self)
    }
}

/// An engine response that an extractor answers instead of running the
/// handler (a JSON 413, an RFC 6750 challenge). It converts into
/// [`actix_web::Error`] and is sent exactly as the engine built it.
#[derive(Debug)]
pub struct Rejection(pub HttpResponse);

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request refused with status {}", self.0.status)
    }
}

impl ResponseError for Rejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> actix_web::HttpResponse {
        to_actix(self.0.clone())
    }
}
