//! [`HttpRequest`] as an actix-web extractor.

use std::future::{poll_fn, Future};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header::CONTENT_LENGTH;
use futures_core::Stream;

use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse, MAX_BODY_BYTES};

use super::response::Rejection;

impl actix_web::FromRequest for HttpRequest {
    /// The engine's JSON error (RFC 6749 §5.2 shape), not actix's plain
    /// text: an oversized body is a JSON 413.
    type Error = Rejection;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Rejection>>>>;

    fn from_request(req: &actix_web::HttpRequest, payload: &mut Payload) -> Self::Future {
        let mut out = head(req);
        let declared = req
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            // Refuse early what announces itself as too big; the bounded
            // read catches what does not.
            if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
                return Err(Rejection(HttpResponse::error(&Error::PayloadTooLarge)));
            }
            out.body = read_bounded(&mut payload)
                .await
                .map_err(|e| Rejection(HttpResponse::error(&e)))?;
            Ok(out)
        })
    }
}

/// Reads `payload` to the end, refusing more than [`MAX_BODY_BYTES`].
///
/// # Errors
/// [`Error::PayloadTooLarge`] past the limit, `invalid_request` when the
/// body cannot be read.
pub async fn read_bounded(payload: &mut Payload) -> Result<Vec<u8>, Error> {
    let mut body = Vec::new();
    while let Some(chunk) = poll_fn(|cx| Pin::new(&mut *payload).poll_next(cx)).await {
        let chunk =
            chunk.map_err(|_| Error::invalid_request("the request body could not be read"))?;
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Error::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Method, raw query and headers of `req`, with an empty body (what the
/// bearer check needs: it never reads a body). Header values are copied
/// lossily (non-UTF-8 bytes replaced), so an odd cookie of another app on
/// the same host costs only itself; repeated headers (`Cookie` from HTTP/2
/// clients) stay separate and [`crate::web::joined_cookie_header`] joins
/// them.
#[must_use]
pub fn head(req: &actix_web::HttpRequest) -> HttpRequest {
    HttpRequest {
        method: req.method().as_str().to_owned(),
        query: req.query_string().to_owned(),
        path: req.path().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
        // The TCP peer, not `realip_remote_addr`: that one believes
        // `Forwarded` headers anyone can send.
        peer: req.peer_addr().map(|a| a.ip()),
    }
}
