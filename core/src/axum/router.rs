//! The OAuth router: every endpoint and the browser flow around them.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::any;
use axum::Router;

use crate::engine::Engine;
use crate::error::Error;
use crate::http::{HttpRequest, HttpResponse};
use crate::metadata::{metadata_response, split_origin, ProtectedResourceMetadata};
use crate::storage::Storage;
use crate::web::flow::{BrowserFlow, Pages, PlainPages};
use crate::web::{Sessions, SignIn};

/// Builds the OAuth router. Routes follow the engine's configured endpoint
/// URLs (so they always match the published metadata); mount the router
/// at the origin root (`Router::merge`).
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

/// The path of an absolute URL (`/` for none).
fn path_of(url: &str) -> String {
    let (_, path) = split_origin(url);
    if path.is_empty() {
        "/".into()
    } else {
        path.to_owned()
    }
}

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

    /// The axum router, for any host state type.
    pub fn into_router<T: Clone + Send + Sync + 'static>(self) -> Router<T> {
        let config = self.engine.config();
        let (_, issuer_path) = split_origin(&config.issuer);
        let issuer_path = issuer_path.to_owned();
        let endpoints = config.endpoints.clone();
        let shared = Arc::new(BrowserFlow::new(
            self.engine,
            self.sessions,
            self.sign_in,
            self.pages,
        ));
        let consent_path = shared.consent_path().to_owned();
        let mut r: Router<Arc<BrowserFlow<S, H>>> = Router::new()
            .route(&path_of(&endpoints.authorization), any(authorize::<S, H>))
            .route(&path_of(&endpoints.token), any(token::<S, H>))
            .route(&path_of(&endpoints.introspection), any(introspect::<S, H>))
            .route(&path_of(&endpoints.revocation), any(revoke::<S, H>))
            .route(&consent_path, any(consent::<S, H>))
            .route(
                &format!("/.well-known/oauth-authorization-server{issuer_path}"),
                any(server_metadata::<S, H>),
            );
        let single = self.resources.len() == 1;
        for m in self.resources {
            let (_, path) = split_origin(&m.resource);
            let doc = Arc::new(m.to_json());
            // Clients that do not insert the path (older MCP agents among
            // them) still find a lone resource.
            if single && !path.is_empty() {
                r = r.route(
                    "/.well-known/oauth-protected-resource",
                    well_known(doc.clone()),
                );
            }
            let at = format!("/.well-known/oauth-protected-resource{path}");
            r = r.route(&at, well_known(doc));
        }
        r.with_state(shared)
    }
}

/// A `GET`-only route answering `doc`.
fn well_known<T: Clone + Send + Sync + 'static>(
    doc: Arc<serde_json::Value>,
) -> axum::routing::MethodRouter<T> {
    any(move |req: HttpRequest| {
        let doc = doc.clone();
        async move { get_only(&req).unwrap_or_else(|| metadata_response(&doc)) }
    })
}

/// `Some(405)` unless `req` is a `GET` or `HEAD`.
fn get_only(req: &HttpRequest) -> Option<HttpResponse> {
    (!matches!(req.method.as_str(), "GET" | "HEAD"))
        .then(|| HttpResponse::error(&Error::MethodNotAllowed("GET, HEAD")))
}

async fn server_metadata<S: Storage + ?Sized + 'static, H: SignIn>(
    State(st): St<S, H>,
    req: HttpRequest,
) -> HttpResponse {
    get_only(&req).unwrap_or_else(|| metadata_response(&st.engine().metadata()))
}

async fn token<S: Storage + ?Sized + 'static, H: SignIn>(
    State(st): St<S, H>,
    req: HttpRequest,
) -> HttpResponse {
    st.engine().token(&req).await
}

async fn introspect<S: Storage + ?Sized + 'static, H: SignIn>(
    State(st): St<S, H>,
    req: HttpRequest,
) -> HttpResponse {
    st.engine().introspect(&req).await
}

async fn revoke<S: Storage + ?Sized + 'static, H: SignIn>(
    State(st): St<S, H>,
    req: HttpRequest,
) -> HttpResponse {
    st.engine().revoke(&req).await
}

async fn authorize<S: Storage + ?Sized + 'static, H: SignIn>(
    State(flow): St<S, H>,
    req: HttpRequest,
) -> HttpResponse {
    flow.authorize(&req).await
}

async fn consent<S: Storage + ?Sized + 'static, H: SignIn>(
    State(flow): St<S, H>,
    req: HttpRequest,
) -> HttpResponse {
    flow.consent(&req).await
}
