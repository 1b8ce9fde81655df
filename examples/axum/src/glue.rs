//! The only place that converts between axum and the engine's plain
//! request/response types.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use latchkey::http::{HttpRequest, HttpResponse, MAX_BODY_BYTES};
use latchkey::Error;

/// Copies method, raw query, headers and body into an [`HttpRequest`].
///
/// The body is read here, bounded by the engine's own limit, instead of by
/// an axum extractor: an extractor would answer an oversized or odd body
/// with axum's plain-text 4xx, while the engine answers with the JSON error
/// the OAuth specs require.
///
/// # Errors
/// [`Error::PayloadTooLarge`] when the body exceeds [`MAX_BODY_BYTES`] (or
/// cannot be read at all).
pub async fn read(req: Request) -> Result<HttpRequest, Error> {
    let (parts, body) = req.into_parts();
    let headers = parts
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let body = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| Error::PayloadTooLarge)?;
    Ok(HttpRequest {
        method: parts.method.as_str().to_owned(),
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers,
        body: body.to_vec(),
    })
}

/// The single value of header `name` of an axum request, as text.
#[must_use]
pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|v| v.to_str().ok())
}

/// Every `Cookie` header joined into one (HTTP/2 clients may split them),
/// non-ASCII bytes replaced rather than the whole header dropped: another
/// app's odd cookie on the same host must not cost us our session.
#[must_use]
pub fn cookies(req: &Request) -> Option<String> {
    let all: Vec<String> = req
        .headers()
        .get_all("cookie")
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    (!all.is_empty()).then(|| all.join("; "))
}

/// Copies status, headers and body of an [`HttpResponse`] into axum's.
#[must_use]
pub fn into_response(r: HttpResponse) -> Response {
    let mut out = Response::new(Body::from(r.body));
    *out.status_mut() = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (k, v) in r.headers {
        // The engine only emits valid names and values; skip rather than
        // panic if that ever changes.
        if let (Ok(k), Ok(v)) = (
            HeaderName::from_bytes(k.as_bytes()),
            HeaderValue::from_str(&v),
        ) {
            out.headers_mut().append(k, v);
        }
    }
    out
}

/// `into_response` plus a `Set-Cookie`, when there is one.
#[must_use]
pub fn with_cookie(r: HttpResponse, set_cookie: Option<String>) -> Response {
    let mut r = r;
    if let Some(c) = set_cookie {
        r.headers.push(("Set-Cookie".into(), c));
    }
    into_response(r)
}

/// A management failure shown on the demo's pages, which speak
/// [`Error`]: the same meaning, the page's wording.
#[must_use]
pub fn manage_error(e: latchkey::ManageError) -> Error {
    use latchkey::ManageError as M;
    match e {
        M::NotFound(d) => Error::NotFound(d),
        M::InvalidMetadata(d) => Error::InvalidClientMetadata(d),
        M::InvalidRedirectUri(d) => Error::InvalidRedirectUri(d),
        M::AlreadyExists => {
            Error::InvalidClientMetadata("an app with this id already exists".into())
        }
        M::Unavailable(c) => Error::TemporarilyUnavailable(c),
        M::Internal(c) => Error::ServerError(c),
        other => Error::internal(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_and_non_ascii_cookie_headers_still_find_the_session() {
        let req = Request::builder()
            .header(
                "cookie",
                HeaderValue::from_bytes(b"other=caf\xc3\xa9").unwrap(),
            )
            .header("cookie", "latchkey_session=abc")
            .body(Body::empty())
            .unwrap();
        let joined = cookies(&req).unwrap();
        assert_eq!(
            crate::session::cookie_value(&joined, crate::session::COOKIE_NAME),
            Some("abc")
        );
        let none = Request::builder().body(Body::empty()).unwrap();
        assert_eq!(cookies(&none), None);
    }
}
