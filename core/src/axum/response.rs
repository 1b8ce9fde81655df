//! [`HttpResponse`] as an axum response.

use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::http::HttpResponse;

impl IntoResponse for HttpResponse {
    /// Copies status, headers and body. The engine only emits valid names
    /// and values; one that is not is skipped rather than panicking.
    fn into_response(self) -> Response {
        let mut out = Response::new(Body::from(self.body));
        *out.status_mut() =
            StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        for (k, v) in self.headers {
            if let (Ok(k), Ok(v)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_str(&v),
            ) {
                out.headers_mut().append(k, v);
            }
        }
        out
    }
}
