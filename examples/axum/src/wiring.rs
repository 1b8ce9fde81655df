//! The OAuth wiring: everything here is the library's, put together. The
//! router serves the OAuth endpoints, consent and both well-known
//! documents; the demo adds its sign-in page, connected apps, the guarded
//! API and the maintenance tasks.

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use latchkey::axum::{BearerGuard, OAuthRouter};
use latchkey::http::{encode_component, HttpRequest, HttpResponse, Params, MAX_BODY_BYTES};
use latchkey::introspect::TokenInfo;
use latchkey::maintenance::{Maintenance, MaintenanceConfig, MaintenanceHandle};
use latchkey::metadata::ProtectedResourceMetadata;
use latchkey::ui::{AppRow, ConnectedAppsPage, ErrorPage, Nav, NavLink, SignInPage};
use latchkey::web::{after_sign_in, page::redirect, page::with_cookie, Session, SignIn};
use latchkey::{Error, Principal};
use tower_http::catch_panic::CatchPanicLayer;

use crate::page::format_timestamp;
use crate::users::Users;
use crate::App;

type St = State<Arc<App>>;

/// Scope `/api/me` requires.
pub const ME_SCOPE: &str = "profile:read";

/// The sign-in hook: who a session's user is.
struct DemoUsers(Users);

#[async_trait::async_trait]
impl SignIn for DemoUsers {
    async fn principal(&self, session: &Session) -> Option<Principal> {
        self.0.principal(session.user.as_deref()?)
    }
}

/// Every route of the server, with [`with_middleware`].
pub fn router(app: Arc<App>) -> Router {
    with_middleware(routes(app))
}

/// Every route of the server, without the middleware.
pub fn routes(app: Arc<App>) -> Router {
    let mut api = ProtectedResourceMetadata::new(&app.resource, app.engine.config(), &[ME_SCOPE]);
    api.resource_name = Some("Latchkey demo API".into());
    let oauth = OAuthRouter::new(
        app.engine.clone(),
        app.sessions.clone(),
        DemoUsers(app.users.clone()),
    )
    .pages(app.pages.clone())
    .protected_resource(api)
    .into_router();
    let guard = BearerGuard::new(&app.engine, &app.resource, &[ME_SCOPE]);
    let pages = Router::new()
        .route("/", get(crate::console::home))
        .route("/login", get(sign_in).post(sign_in))
        .route("/logout", post(sign_out))
        .route("/account/apps", get(apps))
        .route("/account/apps/revoke", post(revoke))
        .route("/api/me", get(me).route_layer(guard))
        .merge(crate::console::routes())
        .merge(crate::demo::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app);
    pages.merge(oauth)
}

/// Panic isolation and the body limit every route gets (public so tests
/// can wrap a deliberately panicking route in the same layers).
pub fn with_middleware(router: Router) -> Router {
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            eprintln!("a request handler panicked; answered 500");
            HttpResponse::error(&Error::internal("handler panicked")).into_response()
        }))
}

/// Purging, and an outbox consumer that logs each event's kind (never a
/// token: events carry ids only).
pub fn maintenance(app: &App) -> MaintenanceHandle {
    Maintenance::new(app.engine.clone(), MaintenanceConfig::default())
        .sessions(app.sessions.clone())
        .consumer(
            "example-log",
            |events: Vec<latchkey::model::Event>| async move {
                for e in events {
                    let kind = serde_json::to_value(&e.kind).ok();
                    let kind = kind
                        .as_ref()
                        .and_then(|k| k["type"].as_str())
                        .unwrap_or("?");
                    eprintln!("outbox event {}: {kind}", e.seq);
                }
                Ok::<(), std::convert::Infallible>(())
            },
        )
        .spawn()
}

/// The signed-in navigation of every page.
pub(crate) fn nav(s: &Session) -> Option<Nav> {
    let link = |href: &str, label: &str| NavLink {
        href: href.into(),
        label: label.into(),
    };
    Some(Nav {
        user: s.user.clone()?,
        csrf: s.csrf.expose().into(),
        sign_out_action: "/logout".into(),
        links: vec![
            link("/account/apps", "Connected apps"),
            link("/console", "Developer console"),
            link("/demo", "Demo client"),
        ],
    })
}

/// An error page for a person; `nav` keeps the way out.
pub(crate) fn error_page(
    app: &App,
    status: u16,
    title: &str,
    message: &str,
    s: Option<&Session>,
) -> HttpResponse {
    let nav = s.and_then(nav);
    let next_step = "Go back and try again, or start from the home page.";
    app.ui().error(&ErrorPage {
        status,
        title,
        message,
        next_step,
        nav: nav.as_ref(),
        ..ErrorPage::default()
    })
}

/// The signed-in session and user of `req`, or a redirect to sign in that
/// comes back to `here`; for a `POST`, also the form, CSRF-checked.
pub(crate) async fn signed_in(
    app: &App,
    req: &HttpRequest,
    here: &str,
) -> Result<(Session, Principal, Params), HttpResponse> {
    let session = app
        .sessions
        .load(req)
        .await
        .map_err(|e| error_page(app, 500, "Something went wrong", &e.to_string(), None))?;
    let Some((s, p)) = session
        .and_then(|s| Some((app.users.principal(s.user.as_deref()?)?, s)))
        .map(|(p, s)| (s, p))
    else {
        return Err(redirect(&format!("/login?next={}", encode_component(here))));
    };
    if req.method != "POST" {
        return Ok((s, p, Params::default()));
    }
    let form = req
        .form_body()
        .map_err(|e| error_page(app, e.status(), "Bad request", &e.description(), Some(&s)))?;
    if !s.csrf_ok(form.single("csrf").ok().flatten()) {
        let msg =
            "The form was not sent from this site's current page. Go back, reload and try again.";
        return Err(error_page(app, 403, "Form expired", msg, Some(&s)));
    }
    Ok((s, p, form))
}

/// `GET /login`: the form; `POST`: check it and sign in, then go to `next`.
async fn sign_in(State(app): St, req: HttpRequest) -> HttpResponse {
    let (session, cookie) = match app.sessions.load_or_create(&req).await {
        Ok(x) => x,
        Err(e) => return error_page(&app, 500, "Something went wrong", &e.to_string(), None),
    };
    let form = if req.method == "POST" {
        req.form_body()
    } else {
        Params::parse(&req.query)
    };
    let form = form.unwrap_or_default();
    let field = |n| form.single(n).ok().flatten().unwrap_or("");
    let next = form
        .single("next")
        .ok()
        .flatten()
        .filter(|n| latchkey::web::safe_next(n).is_some());
    let (username, mut error, mut status) = (field("username"), None, 200);
    if req.method == "POST" {
        if !session.csrf_ok(form.single("csrf").ok().flatten()) {
            (error, status) = (Some("Your sign-in form expired. Please try again."), 403);
        } else if app.users.verify(username, field("password")).is_some() {
            let r = app
                .sessions
                .complete_sign_in(&session, username, next, "/account/apps")
                .await;
            return r.unwrap_or_else(|e| {
                error_page(&app, 500, "Something went wrong", &e.to_string(), None)
            });
        } else {
            (error, status) = (Some("Invalid username or password."), 401);
        }
    } else if session.user.is_some() {
        return redirect(after_sign_in(next, "/account/apps"));
    }
    let csrf = session.csrf.expose();
    let page = SignInPage {
        csrf,
        action: "/login",
        next,
        app_name: None,
        username,
        error,
    };
    with_cookie(app.ui().sign_in(status, &page), cookie)
}

/// `POST /logout`.
async fn sign_out(State(app): St, req: HttpRequest) -> HttpResponse {
    let (s, _, _) = match signed_in(&app, &req, "/").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let cookie = app.sessions.sign_out(&s).await.ok();
    with_cookie(redirect("/login"), cookie)
}

/// `GET /account/apps`: the apps the user authorized, with revoke.
async fn apps(State(app): St, req: HttpRequest) -> HttpResponse {
    let (s, p, _) = match signed_in(&app, &req, "/account/apps").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let rows: Vec<AppRow> = match app.engine.connected_apps(&p.subject).await {
        Ok(apps) => apps
            .iter()
            .map(|a| AppRow::new(a, format_timestamp))
            .collect(),
        Err(e) => return manage_error(&app, &e, &s),
    };
    let notice = app.sessions.take_flash(&s).await.ok().flatten();
    let nav = nav(&s);
    let csrf = s.csrf.expose();
    let page = ConnectedAppsPage {
        apps: &rows,
        csrf,
        revoke_action: "/account/apps/revoke",
        notice: notice.as_deref(),
        nav: nav.as_ref(),
    };
    app.ui().connected_apps(&page)
}

/// `POST /account/apps/revoke`: every token of the grant stops working;
/// then back to the list (post/redirect/get), which no longer shows it.
async fn revoke(State(app): St, req: HttpRequest) -> HttpResponse {
    let (s, p, form) = match signed_in(&app, &req, "/account/apps").await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let grant = form.single("grant_id").ok().flatten().unwrap_or("");
    // The engine revokes only this subject's grants: another's is NotFound.
    match app.engine.revoke_grant(&p.subject, grant).await {
        Ok(()) => {
            let _ = app
                .sessions
                .set_flash(&s, "Access revoked. The app's tokens no longer work.")
                .await;
            redirect("/account/apps")
        }
        Err(e) => manage_error(&app, &e, &s),
    }
}

/// An engine management error as a page.
pub(crate) fn manage_error(app: &App, e: &latchkey::ManageError, s: &Session) -> HttpResponse {
    let (status, msg) = crate::console::describe(e);
    error_page(app, status, "That did not work", &msg, Some(s))
}

/// `GET /api/me`: who the bearer token speaks for (the guard checked it).
async fn me(Extension(info): Extension<TokenInfo>) -> HttpResponse {
    let body =
        serde_json::json!({ "sub": info.sub, "scope": info.scope, "client_id": info.client_id });
    HttpResponse::json(200, body.to_string().into_bytes())
}

/// Machines (OAuth, the API, metadata) get JSON errors; people get pages
/// (with the navigation when signed in).
async fn no_route(
    app: &App,
    req: &HttpRequest,
    path: &str,
    status: u16,
    title: &str,
) -> HttpResponse {
    if path.starts_with("/oauth/") || path.starts_with("/api/") || path.starts_with("/.well-known/")
    {
        let code = if status == 404 {
            "not_found"
        } else {
            "invalid_request"
        };
        let body = serde_json::json!({ "error": code, "error_description": title.to_lowercase() });
        return HttpResponse::json(status, body.to_string().into_bytes());
    }
    let s = app.sessions.load(req).await.ok().flatten();
    error_page(
        app,
        status,
        title,
        "There is no page here that takes this request.",
        s.as_ref(),
    )
}

async fn not_found(State(app): St, uri: axum::http::Uri, req: HttpRequest) -> HttpResponse {
    no_route(&app, &req, uri.path(), 404, "Not found").await
}

async fn method_not_allowed(
    State(app): St,
    uri: axum::http::Uri,
    req: HttpRequest,
) -> HttpResponse {
    no_route(&app, &req, uri.path(), 405, "Method not allowed").await
}
