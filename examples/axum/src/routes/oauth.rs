//! The engine's endpoints: authorization, token, introspection, revocation
//! and RFC 8414 metadata. Each is: extract, call the engine, convert.

use axum::extract::{Request, State};
use axum::response::Response;
use latchkey::http::{encode_form, HttpResponse};
use latchkey::metadata::metadata_response;
use latchkey::storage::Storage;
use latchkey::AuthorizeOutcome;

use super::{error_http, error_page};
use crate::glue::{self, into_response, with_cookie};
use crate::pages;
use crate::session::Session;
use crate::AppState;

/// `GET`/`POST /oauth/authorize`. Every request gets a session (anonymous
/// until sign-in) because the engine binds the parked request to it.
pub async fn authorize<S: Storage + 'static>(
    State(st): State<AppState<S>>,
    req: Request,
) -> Response {
    let cookie = glue::cookies(&req);
    let req = match glue::read(req).await {
        Ok(r) => r,
        Err(e) => return error_page(&e),
    };
    let Ok((session, set_cookie)) = st.sessions().load_or_create(cookie.as_deref()) else {
        return error_page(&latchkey::Error::internal("randomness failed"));
    };
    let principal = session
        .user
        .as_deref()
        .and_then(|u| st.users().principal(u));
    let outcome = st
        .engine()
        .authorize(&req, principal.as_ref(), &session.binding)
        .await;
    with_cookie(outcome_page(&session, outcome), set_cookie)
}

/// What the browser sees for an engine outcome: a redirect, the sign-in
/// page, the consent page, or an error page that never redirects.
pub(crate) fn outcome_page(session: &Session, outcome: AuthorizeOutcome) -> HttpResponse {
    match outcome {
        AuthorizeOutcome::Redirect(url) => pages::redirect(&url),
        AuthorizeOutcome::LoginRequired { challenge } => pages::redirect(&format!(
            "/login?{}",
            encode_form(&[("challenge", challenge.expose())])
        )),
        AuthorizeOutcome::ConsentRequired(prompt) => match &session.user {
            Some(user) => pages::consent::consent_page(&prompt, user, &session.csrf),
            // The engine only asks for consent when given a principal.
            None => pages::error_page(500, "Unexpected state", "consent without a user"),
        },
        AuthorizeOutcome::ShowError(e) => error_http(&e),
        _ => pages::error_page(500, "Unexpected state", "unknown authorization outcome"),
    }
}

/// `/oauth/token` (any method: the engine answers a wrong one with 405).
pub async fn token<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    match glue::read(req).await {
        Ok(r) => into_response(st.engine().token(&r).await),
        Err(e) => into_response(HttpResponse::error(&e)),
    }
}

/// `/oauth/introspect` (RFC 7662).
pub async fn introspect<S: Storage + 'static>(
    State(st): State<AppState<S>>,
    req: Request,
) -> Response {
    match glue::read(req).await {
        Ok(r) => into_response(st.engine().introspect(&r).await),
        Err(e) => into_response(HttpResponse::error(&e)),
    }
}

/// `/oauth/revoke` (RFC 7009).
pub async fn revoke<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    match glue::read(req).await {
        Ok(r) => into_response(st.engine().revoke(&r).await),
        Err(e) => into_response(HttpResponse::error(&e)),
    }
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub async fn metadata<S: Storage + 'static>(State(st): State<AppState<S>>) -> Response {
    let m = st.engine().metadata();
    into_response(metadata_response(&m))
}
