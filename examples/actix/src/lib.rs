//! Latchkey mounted in actix-web: the complete demo authorization server.
//! The OAuth wiring is this file, built only from the library's public
//! features (`actix-web`, `ui`, `tokio`); the demo itself (users, seeding,
//! the developer console, the demo client) is `latchkey-demo`, shared with
//! the axum example.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use std::sync::Arc;
//! let config = latchkey_demo::config::Config::defaults();
//! let app = latchkey_demo::prepare(&config, Arc::new(latchkey::MemoryStore::new())).await.unwrap();
//! let services = latchkey_example_actix::Services::new(app);
//! actix_web::HttpServer::new(move || actix_web::App::new().configure(|cfg| services.configure(cfg)))
//!     .bind(config.addr)?
//!     .run()
//!     .await
//! # }
//! ```
#![forbid(unsafe_code)]

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web::{self, ReqData, ServiceConfig};
use actix_web::ResponseError;
use futures_util::FutureExt as _;
use latchkey::actix_web::{BearerGuard, OAuthService};
use latchkey::http::{HttpRequest, HttpResponse};
use latchkey::introspect::TokenInfo;
use latchkey::Error;
use latchkey_demo::{App, ME_SCOPE};

/// Every route of the server, built once and cloned into each worker.
#[derive(Clone)]
pub struct Services {
    app: Arc<App>,
    oauth: OAuthService<dyn latchkey::storage::Storage, latchkey_demo::users::Users>,
    guard: BearerGuard,
}

impl Services {
    /// The OAuth endpoints, consent and both well-known documents, the
    /// account pages and the demo's pages (all through the library's
    /// service), and the guarded demo API.
    #[must_use]
    pub fn new(app: Arc<App>) -> Self {
        let mut oauth =
            OAuthService::new(app.engine.clone(), app.sessions.clone(), app.users.clone())
                .pages(app.pages.clone())
                .protected_resource(app.api_metadata())
                .routes(latchkey_demo::routes(&app));
        if !app.rate_limits {
            oauth = oauth.rate_limits(None);
        }
        let guard = BearerGuard::new(&app.engine, &app.resource, &[ME_SCOPE]);
        Services { app, oauth, guard }
    }

    /// Registers every route (`App::new().configure(|c| services.configure(c))`).
    pub fn configure(&self, cfg: &mut ServiceConfig) {
        cfg.app_data(web::Data::from(self.app.clone()))
            .service(
                web::resource("/api/me")
                    .wrap(self.guard.clone())
                    .route(web::get().to(me))
                    .default_service(web::to(method_not_allowed)),
            )
            .service(self.oauth.clone())
            .default_service(web::to(not_found));
    }
}

/// A panicking handler answers the engine's JSON 500 instead of dropping
/// the connection (wrap the app: `.wrap(from_fn(catch_panic))`).
///
/// # Errors
/// Whatever the wrapped service returns, and [`Panicked`] after a panic.
pub async fn catch_panic(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    // The request is not kept for the answer: actix routes on the only
    // reference to it. An error renders without one.
    match AssertUnwindSafe(next.call(req)).catch_unwind().await {
        Ok(r) => r,
        Err(_) => {
            eprintln!("a request handler panicked; answered 500");
            Err(Panicked.into())
        }
    }
}

/// A handler panicked: rendered as the engine's `server_error`.
#[derive(Debug)]
pub struct Panicked;

impl std::fmt::Display for Panicked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("handler panicked")
    }
}

impl ResponseError for Panicked {
    fn error_response(&self) -> actix_web::HttpResponse {
        let answer = HttpResponse::error(&Error::internal("handler panicked"));
        let mut r = actix_web::HttpResponse::InternalServerError();
        for (k, v) in answer.headers {
            r.insert_header((k, v));
        }
        r.body(answer.body)
    }
}

/// `GET /api/me`: who the bearer token speaks for (the guard checked it).
async fn me(info: ReqData<TokenInfo>) -> HttpResponse {
    latchkey_demo::me(&info)
}

async fn not_found(app: web::Data<App>, req: HttpRequest) -> HttpResponse {
    latchkey_demo::no_route(&app, &req, 404).await
}

async fn method_not_allowed(app: web::Data<App>, req: HttpRequest) -> HttpResponse {
    latchkey_demo::no_route(&app, &req, 405).await
}
