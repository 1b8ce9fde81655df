//! Routes, and the small helpers the page handlers share.

pub mod account;
pub mod api;
pub mod consent;
pub mod console;
pub mod login;
pub mod oauth;

use axum::extract::{Request, State};
use axum::http::Uri;
use axum::response::Response;
use axum::routing::{any, get, post};
use axum::Router;
use latchkey::http::{HttpResponse, Params};
use latchkey::storage::Storage;
use latchkey::{Error, Principal};

use crate::glue::{self, into_response};
use crate::pages;
use crate::session::Session;
use crate::AppState;

/// Every route of the server.
pub fn router<S: Storage + 'static>(state: AppState<S>) -> Router {
    Router::new()
        .route("/", get(home::<S>))
        // The engine checks the method itself on its endpoints, so a wrong
        // one gets its JSON 405 (or error page) rather than axum's.
        .route("/oauth/authorize", any(oauth::authorize::<S>))
        .route("/oauth/token", any(oauth::token::<S>))
        .route("/oauth/introspect", any(oauth::introspect::<S>))
        .route("/oauth/revoke", any(oauth::revoke::<S>))
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::metadata::<S>),
        )
        .route(
            "/.well-known/oauth-protected-resource",
            get(api::resource_metadata::<S>),
        )
        // RFC 9728 §3.1 inserts the resource's path after the well-known
        // prefix; serve both spellings.
        .route(
            "/.well-known/oauth-protected-resource/api",
            get(api::resource_metadata::<S>),
        )
        .route("/api/me", get(api::me::<S>))
        .route("/login", get(login::show::<S>).post(login::submit::<S>))
        .route("/logout", post(login::logout::<S>))
        .route(
            "/oauth/consent",
            get(consent::show::<S>).post(consent::decide::<S>),
        )
        .route("/account/apps", get(account::list::<S>))
        .route("/account/apps/revoke", post(account::revoke::<S>))
        .route("/console", get(console::show::<S>))
        .route("/console/apps", post(console::register::<S>))
        .route("/console/rotate", post(console::rotate::<S>))
        .route("/console/delete", post(console::delete::<S>))
        .route("/console/domain", post(console::start_domain::<S>))
        .route(
            "/console/domain/confirm",
            post(console::confirm_domain::<S>),
        )
        .route("/console/visibility", post(console::visibility::<S>))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

/// Machine clients (OAuth endpoints, metadata, the API) get JSON errors;
/// people get pages.
fn wants_json(uri: &Uri) -> bool {
    let p = uri.path();
    p.starts_with("/oauth/") || p.starts_with("/api/") || p.starts_with("/.well-known/")
}

fn json_error(status: u16, code: &str, description: &str) -> Response {
    let body = serde_json::json!({ "error": code, "error_description": description });
    into_response(HttpResponse::json(
        status,
        serde_json::to_vec(&body).unwrap_or_default(),
    ))
}

async fn not_found(uri: Uri) -> Response {
    if wants_json(&uri) {
        json_error(404, "not_found", "no such endpoint")
    } else {
        into_response(pages::error_page(
            404,
            "Not found",
            "There is no page at this address.",
        ))
    }
}

async fn method_not_allowed(uri: Uri) -> Response {
    if wants_json(&uri) {
        json_error(405, "invalid_request", "method not allowed")
    } else {
        into_response(pages::error_page(
            405,
            "Method not allowed",
            "This page does not accept that kind of request.",
        ))
    }
}

async fn home<S: Storage + 'static>(State(st): State<AppState<S>>, req: Request) -> Response {
    let user = st
        .sessions()
        .load(glue::cookies(&req).as_deref())
        .and_then(|s| s.user.clone().map(|u| (u, s.csrf)));
    let body = "<p>A demo OAuth 2.1 authorization server built on Latchkey.</p><ul>\
        <li><a href=\"/account/apps\">Connected apps</a>: what you have authorized</li>\
        <li><a href=\"/console\">Developer console</a>: register and manage apps</li>\
        <li><a href=\"/.well-known/oauth-authorization-server\">Server metadata</a></li></ul>";
    into_response(pages::page(
        200,
        "Latchkey demo",
        user.as_ref().map(|(u, c)| (u.as_str(), c.as_str())),
        body,
    ))
}

/// An engine error as a page (for people), with the engine's status.
#[must_use]
pub fn error_page(e: &Error) -> Response {
    into_response(error_http(e))
}

/// [`error_page`] before conversion.
#[must_use]
pub fn error_http(e: &Error) -> HttpResponse {
    let title = match e {
        Error::InvalidChallenge(_) => "This request has expired",
        Error::PayloadTooLarge => "Request too large",
        Error::UntrustedRedirect(_) => "The application sent an invalid request",
        _ => "Something is wrong with this request",
    };
    pages::error_page(e.status(), title, &e.description())
}

/// The signed-in session and user, or a redirect to the sign-in page that
/// comes back to `next`.
pub(crate) fn signed_in<S: Storage + 'static>(
    st: &AppState<S>,
    cookie: Option<&str>,
    next: &str,
) -> Result<(Session, Principal), HttpResponse> {
    st.sessions()
        .load(cookie)
        .and_then(|s| {
            let p = st.users().principal(s.user.as_deref()?)?;
            Some((s, p))
        })
        .ok_or_else(|| {
            let to = format!("/login?next={}", latchkey::http::encode_component(next));
            pages::redirect(&to)
        })
}

/// Reads a form post from a page: the cookie header and the parsed form,
/// or an error page. Uses the engine's strict parser and limits.
pub(crate) async fn page_form(req: Request) -> Result<(Option<String>, Params), HttpResponse> {
    let cookie = glue::cookies(&req);
    let r = glue::read(req).await.map_err(|e| error_http(&e))?;
    let form = r.form_body().map_err(|e| error_http(&e))?;
    Ok((cookie, form))
}

/// A signed-in form post with a valid CSRF token: the session, user and
/// form, or the response to send instead.
pub(crate) async fn signed_in_form<S: Storage + 'static>(
    st: &AppState<S>,
    req: Request,
    next: &str,
) -> Result<(Session, Principal, Params), HttpResponse> {
    let (cookie, form) = page_form(req).await?;
    let (session, principal) = signed_in(st, cookie.as_deref(), next)?;
    if !session.csrf_ok(form.single("csrf").ok().flatten()) {
        return Err(csrf_failed());
    }
    Ok((session, principal, form))
}

/// The page for a missing or wrong CSRF token.
#[must_use]
pub fn csrf_failed() -> HttpResponse {
    pages::error_page(
        403,
        "Form expired",
        "The form was not sent from this site's current page. Go back, reload and try again.",
    )
}

/// A field of a page form, or `""`.
pub(crate) fn field<'a>(form: &'a Params, name: &str) -> &'a str {
    form.single(name).ok().flatten().unwrap_or("")
}
