//! Latchkey mounted in axum: the complete demo authorization server. The
//! OAuth wiring is this file, built only from the library's public
//! features (`axum`, `ui`, `tokio`); the demo itself (users, seeding, the
//! developer console, the demo client) is `latchkey-demo`, shared with the
//! actix-web example.
//!
//! ```no_run
//! # async fn run() -> Result<(), String> {
//! use std::sync::Arc;
//! let config = latchkey_demo::config::Config::defaults();
//! let app = latchkey_demo::prepare(&config, Arc::new(latchkey::MemoryStore::new())).await?;
//! let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(|e| e.to_string())?;
//! axum::serve(listener, latchkey_example_axum::router(app)).await.map_err(|e| e.to_string())
//! # }
//! ```
#![forbid(unsafe_code)]

use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use latchkey::axum::{BearerGuard, OAuthRouter};
use latchkey::http::{HttpRequest, HttpResponse, MAX_BODY_BYTES};
use latchkey::introspect::TokenInfo;
use latchkey::Error;
use latchkey_demo::{App, ME_SCOPE};
use tower_http::catch_panic::CatchPanicLayer;

/// Every route of the server, with [`with_middleware`].
pub fn router(app: Arc<App>) -> Router {
    with_middleware(routes(app))
}

/// Every route of the server, without the middleware: the OAuth endpoints,
/// consent and both well-known documents, the account pages and the demo's
/// pages (all through the library's router), and the guarded demo API.
pub fn routes(app: Arc<App>) -> Router {
    let mut oauth = OAuthRouter::new(app.engine.clone(), app.sessions.clone(), app.users.clone())
        .pages(app.pages.clone())
        .protected_resource(app.api_metadata())
        .routes(latchkey_demo::routes(&app));
    if !app.rate_limits {
        oauth = oauth.rate_limits(None);
    }
    let oauth = oauth.into_router();
    let guard = BearerGuard::new(&app.engine, &app.resource, &[ME_SCOPE]);
    Router::new()
        .route("/api/me", get(me).route_layer(guard))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(app)
        .merge(oauth)
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

/// `GET /api/me`: who the bearer token speaks for (the guard checked it).
async fn me(Extension(info): Extension<TokenInfo>) -> HttpResponse {
    latchkey_demo::me(&info)
}

async fn not_found(State(app): State<Arc<App>>, req: HttpRequest) -> HttpResponse {
    latchkey_demo::no_route(&app, &req, 404).await
}

async fn method_not_allowed(State(app): State<Arc<App>>, req: HttpRequest) -> HttpResponse {
    latchkey_demo::no_route(&app, &req, 405).await
}
