//! [`HttpRequest`] as an axum extractor.

use axum::extract::{FromRequest, Request};
use axum::http::request::Parts;

use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse, MAX_BODY_BYTES};

impl<St: Send + Sync> FromRequest<St> for HttpRequest {
    /// The engine's JSON error (RFC 6749 §5.2 shape), not axum's plain
    /// text: an oversized body is a JSON 413.
    type Rejection = HttpResponse;

    async fn from_request(req: Request, _state: &St) -> Result<Self, Self::Rejection> {
        read(req).await.map_err(|e| HttpResponse::error(&e))
    }
}

/// Copies method, raw query and headers, and reads the body bounded by
/// [`MAX_BODY_BYTES`]. Header values are copied lossily (non-UTF-8 bytes
/// replaced), so an odd cookie of another app on the same host costs only
/// itself; repeated headers (`Cookie` from HTTP/2 clients) stay separate
/// and [`crate::web::joined_cookie_header`] joins them.
///
/// # Errors
/// [`Error::PayloadTooLarge`] past the limit (declared or actual),
/// `invalid_request` when the body cannot be read.
pub async fn read(req: Request) -> Result<HttpRequest, Error> {
    let (parts, body) = req.into_parts();
    let declared = parts
        .headers
        .get(axum::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    // Refuse early what announces itself as too big; the bounded read below
    // catches what does not.
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(Error::PayloadTooLarge);
    }
    let mut out = head(&parts);
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|e| {
            if is_length_limit(&e) {
                Error::PayloadTooLarge
            } else {
                Error::invalid_request("the request body could not be read")
            }
        })?;
    out.body = body.to_vec();
    Ok(out)
}

/// Method, raw query and headers of `parts`, with an empty body (what the
/// bearer check needs: it never reads a body).
#[must_use]
pub fn head(parts: &Parts) -> HttpRequest {
    HttpRequest {
        method: parts.method.as_str().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        path: parts.uri.path().to_owned(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: Vec::new(),
        // Present when the app is served with
        // `into_make_service_with_connect_info::<SocketAddr>()`.
        peer: parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|c| c.0.ip()),
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}
