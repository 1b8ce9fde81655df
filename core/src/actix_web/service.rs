//! The OAuth services: every endpoint and the browser flow around them.

use std::sync::Arc;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::web;

use crate::engine::Engine;
use crate::http::HttpRequest;
use crate::storage::Storage;
use crate::web::mount::{mount_builders, Mount};
use crate::web::routes::Route;
use crate::web::{Sessions, SignIn};

/// The OAuth endpoints as actix-web resources. Register it at the app root
/// (`App::new().service(oauth)`, or `cfg.service(oauth)` in a `configure`
/// function), not inside a `web::scope`: paths follow the engine's
/// configured endpoint URLs, so they always match the published metadata.
/// The table is [`crate::web::routes::routes`], shared with every
/// framework; all browser logic is [`BrowserFlow`]'s.
///
/// | Route | Serves |
/// |---|---|
/// | authorization endpoint (`/oauth/authorize`) | RFC 6749 §4.1.1, `GET` and `POST` |
/// | token endpoint (`/oauth/token`) | RFC 6749 §3.2 |
/// | introspection endpoint (`/oauth/introspect`) | RFC 7662 |
/// | revocation endpoint (`/oauth/revoke`) | RFC 7009 |
/// | `<issuer path>/oauth/consent` | the consent page (`GET`) and decision (`POST`) |
/// | `/.well-known/oauth-authorization-server<issuer path>` | RFC 8414 §3 |
/// | `/.well-known/oauth-protected-resource<resource path>` | RFC 9728 §3, per [`OAuthService::protected_resource`] |
///
/// Each route answers a wrong method with the engine's JSON 405 (with
/// `Allow`), and an oversized body with its JSON 413.
///
/// `HttpServer::new` builds the app once per worker: build the
/// `OAuthService` outside and clone it into the factory closure.
pub struct OAuthService<S: ?Sized, H> {
    mount: Mount<S, H>,
}

// By hand: a derive would ask `S: Clone` and `H: Clone`.
impl<S: ?Sized, H> Clone for OAuthService<S, H> {
    fn clone(&self) -> Self {
        OAuthService {
            mount: self.mount.clone(),
        }
    }
}

impl<S: ?Sized, H> std::fmt::Debug for OAuthService<S, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OAuthService").field(&self.mount).finish()
    }
}

/// [`OAuthService::new`]: the services with no protected-resource
/// documents.
#[must_use]
pub fn service<S, H>(engine: Engine<S>, sessions: Arc<Sessions>, sign_in: H) -> OAuthService<S, H>
where
    S: Storage + ?Sized + 'static,
    H: SignIn,
{
    OAuthService::new(engine, sessions, sign_in)
}

impl<S, H> OAuthService<S, H>
where
    S: Storage + ?Sized + 'static,
    H: SignIn,
{
    /// The services for `engine`, keeping browser sessions in `sessions`
    /// (share the `Arc` with the host's sign-in page) and asking `sign_in`
    /// who is signed in.
    #[must_use]
    pub fn new(engine: Engine<S>, sessions: Arc<Sessions>, sign_in: H) -> Self {
        OAuthService {
            mount: Mount::new(engine, sessions, sign_in),
        }
    }

    mount_builders!();
}

impl<S, H> HttpServiceFactory for OAuthService<S, H>
where
    S: Storage + ?Sized + 'static,
    H: SignIn,
{
    fn register(self, config: &mut AppService) {
        let (flow, routes) = self.mount.build();
        for Route { path, endpoint } in routes {
            let flow = flow.clone();
            // No method guard: every method reaches the flow, which answers
            // a wrong one with the engine's JSON 405 rather than actix's.
            let handler = move |req: HttpRequest| {
                let flow = flow.clone();
                let endpoint = endpoint.clone();
                async move { flow.serve(&endpoint, &req).await }
            };
            web::resource(path)
                .route(web::route().to(handler))
                .register(config);
        }
    }
}
