//! The OAuth router: every endpoint and the browser flow around them.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::any;
use axum::Router;

use crate::engine::Engine;
use crate::http::HttpRequest;
use crate::storage::Storage;
use crate::web::flow::BrowserFlow;
use crate::web::mount::{mount_builders, Mount};
use crate::web::routes::Route;
use crate::web::{Sessions, SignIn};

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
    mount: Mount<S, H>,
}

impl<S: ?Sized, H> std::fmt::Debug for OAuthRouter<S, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OAuthRouter").field(&self.mount).finish()
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
            mount: Mount::new(engine, sessions, sign_in),
        }
    }

    mount_builders!();

    /// The axum router, for any host state type.
    pub fn into_router<T: Clone + Send + Sync + 'static>(self) -> Router<T> {
        let (flow, routes) = self.mount.build();
        let mut r: Router<Arc<BrowserFlow<S, H>>> = Router::new();
        for Route { path, endpoint } in routes {
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
