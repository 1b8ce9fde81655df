//! The OAuth services: every endpoint and the browser flow around them.

use std::sync::Arc;

use actix_web::dev::{AppService, HttpServiceFactory};
use actix_web::web;

use crate::engine::Engine;
use crate::http::HttpRequest;
use crate::metadata::ProtectedResourceMetadata;
use crate::storage::Storage;
use crate::web::flow::{BrowserFlow, Pages, PlainPages};
use crate::web::routes::{routes, Route};
use crate::web::{Cors, RateGuard, Sessions, SignIn};

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
    engine: Engine<S>,
    sessions: Arc<Sessions>,
    sign_in: Arc<H>,
    resources: Vec<ProtectedResourceMetadata>,
    pages: Arc<dyn Pages>,
    extra: Vec<Route>,
    rate: Option<RateGuard>,
    cors: Cors,
}

// By hand: a derive would ask `S: Clone` and `H: Clone`, and neither is
// cloned (both sit behind an `Arc`).
impl<S: ?Sized, H> Clone for OAuthService<S, H> {
    fn clone(&self) -> Self {
        OAuthService {
            engine: self.engine.clone(),
            sessions: self.sessions.clone(),
            sign_in: self.sign_in.clone(),
            resources: self.resources.clone(),
            pages: self.pages.clone(),
            extra: self.extra.clone(),
            rate: self.rate.clone(),
            cors: self.cors.clone(),
        }
    }
}

impl<S: ?Sized, H> std::fmt::Debug for OAuthService<S, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthService")
            .field("engine", &self.engine)
            .field("resources", &self.resources)
            .finish_non_exhaustive()
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
            engine,
            sessions,
            sign_in: Arc::new(sign_in),
            resources: Vec::new(),
            pages: Arc::new(PlainPages),
            extra: Vec::new(),
            rate: Some(RateGuard::default()),
            cors: Cors::default(),
        }
    }

    /// Renders the consent and error pages with `pages` (for example
    /// `latchkey::ui::UiPages` with the `ui` feature) instead of the
    /// minimal built-in ones.
    #[must_use]
    pub fn pages(mut self, pages: impl Pages) -> Self {
        self.pages = Arc::new(pages);
        self
    }

    /// Also serves `metadata` (RFC 9728 §2) at
    /// `/.well-known/oauth-protected-resource` followed by the resource's
    /// path (§3.1). When this is the only resource, the bare well-known
    /// path serves it too.
    #[must_use]
    pub fn protected_resource(mut self, metadata: ProtectedResourceMetadata) -> Self {
        self.resources.push(metadata);
        self
    }

    /// Rate limits the OAuth routes with `guard` (a
    /// [`crate::limits::RateLimiter`] and its [`crate::limits::Limits`]),
    /// or not at all with `None`. The default is the default limits in
    /// memory; give a shared limiter when several instances serve one
    /// issuer.
    #[must_use]
    pub fn rate_limits(mut self, guard: Option<RateGuard>) -> Self {
        self.rate = guard;
        self
    }

    /// Which origins browser-based clients may call the metadata, token,
    /// revocation and registration endpoints from ([`Cors`]; default any,
    /// without credentials). Pages never answer cross-origin.
    #[must_use]
    pub fn cors(mut self, cors: Cors) -> Self {
        self.cors = cors;
        self
    }

    /// Also mounts `routes`: host pages written once for every framework,
    /// such as `latchkey::ui::AccountPages::routes` (feature `ui`) or
    /// [`Route::page`]s of the host's own.
    #[must_use]
    pub fn routes(mut self, routes: impl IntoIterator<Item = Route>) -> Self {
        self.extra.extend(routes);
        self
    }
}

impl<S, H> HttpServiceFactory for OAuthService<S, H>
where
    S: Storage + ?Sized + 'static,
    H: SignIn,
{
    fn register(self, config: &mut AppService) {
        let flow = Arc::new(
            BrowserFlow::new(self.engine, self.sessions, self.sign_in, self.pages)
                .with_rate_limits(self.rate),
        );
        for Route { path, endpoint } in routes(&flow, &self.resources).into_iter().chain(self.extra)
        {
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
