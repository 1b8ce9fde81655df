//! What the framework integrations mount, configured once for both: the
//! engine, sessions, sign-in hook, pages, protected resources, extra
//! routes, rate limits and CORS. `OAuthRouter` (axum) and `OAuthService`
//! (actix-web) wrap a [`Mount`] and share its builder methods
//! ([`mount_builders!`]), so an option exists in both or in neither.

use std::sync::Arc;

use crate::engine::Engine;
use crate::metadata::ProtectedResourceMetadata;
use crate::storage::Storage;
use crate::web::flow::{BrowserFlow, Pages, PlainPages};
use crate::web::routes::{routes, Route};
use crate::web::{Cors, RateGuard, Sessions, SignIn};

/// The options of one mounting.
pub(crate) struct Mount<S: ?Sized, H> {
    pub(crate) engine: Engine<S>,
    pub(crate) sessions: Arc<Sessions>,
    pub(crate) sign_in: Arc<H>,
    pub(crate) resources: Vec<ProtectedResourceMetadata>,
    pub(crate) pages: Arc<dyn Pages>,
    pub(crate) extra: Vec<Route>,
    pub(crate) rate: Option<RateGuard>,
    pub(crate) cors: Cors,
}

// By hand: a derive would ask `S: Clone` and `H: Clone`, and neither is
// cloned (both sit behind an `Arc`).
impl<S: ?Sized, H> Clone for Mount<S, H> {
    fn clone(&self) -> Self {
        Mount {
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

impl<S: ?Sized, H> std::fmt::Debug for Mount<S, H> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mount")
            .field("engine", &self.engine)
            .field("resources", &self.resources)
            .field("cors", &self.cors)
            .finish_non_exhaustive()
    }
}

impl<S: Storage + ?Sized + 'static, H: SignIn> Mount<S, H> {
    /// The defaults: plain pages, no protected resources, the default rate
    /// limits in memory, CORS for any origin.
    pub(crate) fn new(engine: Engine<S>, sessions: Arc<Sessions>, sign_in: H) -> Self {
        Mount {
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

    /// The flow and every route to mount on it.
    pub(crate) fn build(self) -> (Arc<BrowserFlow<S, H>>, Vec<Route>) {
        let flow = Arc::new(
            BrowserFlow::new(self.engine, self.sessions, self.sign_in, self.pages)
                .with_rate_limits(self.rate)
                .with_cors(self.cors),
        );
        let mut all = routes(&flow, &self.resources);
        all.extend(self.extra);
        (flow, all)
    }
}

/// The builder methods of a type with a `mount: Mount<S, H>` field.
macro_rules! mount_builders {
    () => {
        /// Renders the consent and error pages with `pages` (for example
        /// `latchkey::ui::UiPages` with the `ui` feature) instead of the
        /// minimal built-in ones.
        #[must_use]
        pub fn pages(mut self, pages: impl $crate::web::flow::Pages) -> Self {
            self.mount.pages = std::sync::Arc::new(pages);
            self
        }

        /// Also serves `metadata` (RFC 9728 §2) at
        /// `/.well-known/oauth-protected-resource` followed by the
        /// resource's path (§3.1). When this is the only resource, the bare
        /// well-known path serves it too.
        #[must_use]
        pub fn protected_resource(
            mut self,
            metadata: $crate::metadata::ProtectedResourceMetadata,
        ) -> Self {
            self.mount.resources.push(metadata);
            self
        }

        /// Rate limits the OAuth routes with `guard` (a
        /// [`crate::limits::RateLimiter`] and its [`crate::limits::Limits`]),
        /// or not at all with `None`. The default is the default limits in
        /// memory; give a shared limiter when several instances serve one
        /// issuer.
        #[must_use]
        pub fn rate_limits(mut self, guard: Option<$crate::web::RateGuard>) -> Self {
            self.mount.rate = guard;
            self
        }

        /// Which origins browser-based clients may call the metadata, JWKS,
        /// token, revocation and registration endpoints from
        /// ([`crate::web::Cors`]; default any, without credentials). Pages
        /// never answer cross-origin.
        #[must_use]
        pub fn cors(mut self, cors: $crate::web::Cors) -> Self {
            self.mount.cors = cors;
            self
        }

        /// Also mounts `routes`: host pages written once for every
        /// framework, such as `latchkey::ui::AccountPages::routes` (feature
        /// `ui`) or [`crate::web::routes::Route::page`]s of the host's own.
        #[must_use]
        pub fn routes(
            mut self,
            routes: impl IntoIterator<Item = $crate::web::routes::Route>,
        ) -> Self {
            self.mount.extra.extend(routes);
            self
        }
    };
}

pub(crate) use mount_builders;
