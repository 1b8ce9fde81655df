//! The OAuth router: every endpoint and the browser flow around them.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::any;
use axum::Router;

use crate::engine::Engine;
use crate::http::HttpRequest;
use crate::metadata::ProtectedResourceMetadata;
use crate::storage::Storage;
use crate::web::flow::{BrowserFlow, Pages, PlainPages};
use crate::web::routes::{routes, Route};
use crate::web::{Cors, RateGuard, Sessions, SignIn};

/// Builds the OAuth router. Routes follow the engine's configured endpoint
/// URLs (so they always match the published metadata); mount the router
/// at the origin root (`Router::merge`). The table is
/// [`crate::web::routes::routes`], shared with every framework.
///
/// | Route | Serves |
/// |---|---|
/// | authorization endpoint (`/oauth/authorize`) | RFC 6749 §4.1.1, `GET` and `POST` |
/// | token endpoint (`/oauth/token`) | RFC 6749 §3.2 |
/// | introspection endpoint (`/oauth/introspect`) | RFC 7662 |
/// | revocation endpoint (`/oauth/revoke`) | RFC 7009 |
/// | `<issuer path>/oauth/consent` | the consent page (`GET`) and decision (`POST`) |
/// | `/.well-known/oauth-authorization-server<issuer path>` | RFC 8414 §3 |
/// | `/.well-known/oauth-protected-resource<resource path>` | RFC 9728 §3, per [`OAuthRouter::protected_resource`] |
///
/// Each route answers a wrong method with the engine's JSON 405 (with
/// `Allow`), and an oversized body with its JSON 413.
pub struct OAuthRouter<S: ?Sized, H> {
    engine: Engine<S>,
    sessions: Arc<Sessions>,
    sign_in: Arc<H>,
    resources: Vec<ProtectedResourceMetadata>,
    pages: Arc<dyn Pages>,
    extra: Vec<Route>,
    rate: Option<RateGuard>,
    cors: Cors,
}

impl<S: ?Sized, H> std::fmt::Debug for OAuthRouter<S, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthRouter")
            .field("engine", &self.engine)
            .field("resources", &self.resources)
            .finish_non_exhaustive()
    }
}

/// [`OAuthRouter::new`] then [`OAuthRouter::into_router`]: the router with
/// no protected-resource documents.
pub fn router<S, H, St>(engine: Engine<S>, sessions: Arc<Sessions>, sign_in: H) -> Router<St>
where
    S: Storage + ?Sized + 'static,
    H: SignIn,
    St: Clone + Send + Sync + 'static,
{
    OAuthRouter::new(engine, sessions, sign_in).into_router()
}

type St<S, H> = State<Arc<BrowserFlow<S, H>>>;

impl<S, H> OAuthRouter<S, H>
where
    S: Storage + ?Sized + 'static,
    H: SignIn,
{
    /// A router for `engine`, keeping browser sessions in `sessions` (share
    /// the `Arc` with the host's sign-in page) and asking `sign_in` who is
    /// signed in.
    #[must_use]
    pub fn new(engine: Engine<S>, sessions: Arc<Sessions>, sign_in: H) -> Self {
        OAuthRouter {
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

    /// The axum router, for any host state type.
    pub fn into_router<T: Clone + Send + Sync + 'static>(self) -> Router<T> {
        let flow = Arc::new(
            BrowserFlow::new(self.engine, self.sessions, self.sign_in, self.pages)
                .with_rate_limits(self.rate),
        );
        let mut r: Router<Arc<BrowserFlow<S, H>>> = Router::new();
        for Route { path, endpoint } in routes(&flow, &self.resources).into_iter().chain(self.extra)
        {
            r = r.route(
                &path,
                any(move |State(flow): St<S, H>, req: HttpRequest| {
                    let endpoint = endpoint.clone();
                    async move { flow.serve(&endpoint, &req).await }
                }),
            );
        }
        r.with_state(flow)
    }
}
