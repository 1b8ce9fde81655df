//! The demo protected resource, `<issuer>/api`, and its RFC 9728 metadata.

use axum::extract::{Request, State};
use axum::response::Response;
use latchkey::http::HttpResponse;
use latchkey::introspect::Audience;
use latchkey::metadata::{metadata_response, ProtectedResourceMetadata};
use latchkey::storage::Storage;

use crate::glue::{self, into_response};
use crate::AppState;

/// Scope `/api/me` requires.
pub const ME_SCOPE: &str = "profile:read";

fn metadata_url<S: Storage + 'static>(st: &AppState<S>) -> String {
    format!(
        "{}/.well-known/oauth-protected-resource",
        st.engine().config().issuer
    )
}

/// `GET /.well-known/oauth-protected-resource` (RFC 9728).
pub async fn resource_metadata<S: Storage + 'static>(State(st): State<AppState<S>>) -> Response {
    let config = st.engine().config();
    let scopes: Vec<&str> = config.scopes.names().collect();
    let mut m = ProtectedResourceMetadata::new(st.resource(), config, &scopes);
    m.resource_name = Some("Latchkey demo API".into());
    into_response(metadata_response(&m.to_json()))
}

/// `GET /api/me`: who the bearer token speaks for. RFC 6750 errors with
/// `WWW-Authenticate` (and the RFC 9728 metadata URL) otherwise.
pub async fn me<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    // The verifier applies the one-Authorization-header rule itself.
    let plain = match glue::read(req).await {
        Ok(r) => r,
        Err(e) => return into_response(HttpResponse::error(&e)),
    };
    match st
        .engine()
        .verify_bearer(&plain, Audience::Resource(st.resource()), &[ME_SCOPE])
        .await
    {
        Ok(info) => {
            let body = serde_json::json!({
                "sub": info.sub,
                "scope": info.scope,
                "client_id": info.client_id,
            });
            into_response(HttpResponse::json(
                200,
                serde_json::to_vec(&body).unwrap_or_default(),
            ))
        }
        Err(e) => into_response(e.response(Some(&metadata_url(&st)))),
    }
}
