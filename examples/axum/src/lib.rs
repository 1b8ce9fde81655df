//! Latchkey mounted in axum: a complete demo authorization server with
//! login, consent, connected apps, a developer console and a protected demo
//! API.
//!
//! The glue stays thin: each handler copies the request into a
//! [`latchkey::http::HttpRequest`], calls the engine, and copies the
//! [`latchkey::http::HttpResponse`] back ([`glue`]). Screens are rendered by
//! framework-neutral code in [`pages`]; sessions and CSRF live in
//! [`session`].
//!
//! ```no_run
//! # async fn run() -> Result<(), String> {
//! use std::sync::Arc;
//! let config = latchkey_example_axum::config::Config::defaults();
//! let state = latchkey_example_axum::prepare(&config, Arc::new(latchkey::MemoryStore::new())).await?;
//! let listener = tokio::net::TcpListener::bind(config.addr).await.map_err(|e| e.to_string())?;
//! axum::serve(listener, latchkey_example_axum::app(state)).await.map_err(|e| e.to_string())
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod config;
pub mod glue;
pub mod keyfile;
pub mod pages;
pub mod routes;
pub mod seed;
pub mod session;
pub mod store;
pub mod users;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::response::Response;
use axum::Router;
use latchkey::http::{HttpResponse, MAX_BODY_BYTES};
use latchkey::storage::Storage;
use latchkey::{Engine, EngineConfig, Error};
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::{demo_scopes, Config};
use crate::session::Sessions;
use crate::users::Users;

/// Everything a handler needs. Cheap to clone.
pub struct AppState<S> {
    inner: Arc<Inner<S>>,
}

struct Inner<S> {
    engine: Engine<S>,
    sessions: Sessions,
    users: Users,
    resource: String,
    trust_domain_claims: bool,
}

impl<S> Clone for AppState<S> {
    fn clone(&self) -> Self {
        AppState {
            inner: self.inner.clone(),
        }
    }
}

impl<S: Storage + 'static> AppState<S> {
    /// State over `engine`. `resource` is the demo API's identifier
    /// (`<issuer>/api`); `trust_domain_claims` enables the console's
    /// "confirm domain" button.
    #[must_use]
    pub fn new(
        engine: Engine<S>,
        users: Users,
        resource: String,
        trust_domain_claims: bool,
    ) -> Self {
        let secure = engine.config().issuer.starts_with("https://");
        AppState {
            inner: Arc::new(Inner {
                engine,
                sessions: Sessions::new(secure),
                users,
                resource,
                trust_domain_claims,
            }),
        }
    }

    /// The engine.
    #[must_use]
    pub fn engine(&self) -> &Engine<S> {
        &self.inner.engine
    }

    /// Browser sessions.
    #[must_use]
    pub fn sessions(&self) -> &Sessions {
        &self.inner.sessions
    }

    /// The user directory.
    #[must_use]
    pub fn users(&self) -> &Users {
        &self.inner.users
    }

    /// The demo API's resource identifier.
    #[must_use]
    pub fn resource(&self) -> &str {
        &self.inner.resource
    }

    /// Whether the console may confirm domains on the operator's word.
    #[must_use]
    pub fn trust_domain_claims(&self) -> bool {
        self.inner.trust_domain_claims
    }
}

/// Prepares a server over `store` as `config` says: creates the data
/// directory, loads or creates the server key, builds the engine with the
/// demo scopes and users, and upserts the seeded clients. Prints generated
/// client secrets of seeded clients to stderr (the only time they exist in
/// the clear).
///
/// # Errors
/// A message saying what failed.
pub async fn prepare<S: Storage + 'static>(
    config: &Config,
    store: Arc<S>,
) -> Result<AppState<S>, String> {
    let dir = &config.data_dir;
    keyfile::ensure_data_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let key = keyfile::load_or_create(dir).map_err(|e| format!("server key: {e}"))?;
    let mut engine_config = EngineConfig::new(&config.issuer, demo_scopes());
    config.lifetimes.apply(&mut engine_config);
    let engine = Engine::new(store, engine_config, keyfile::keyring(&key));
    if let Some(path) = &config.clients_file {
        let mut regs = seed::load(path)?;
        for reg in &mut regs {
            // Tokens are audience-bound: a client that names no resource
            // gets the demo API, the only resource this server protects.
            if reg.resources.is_empty() {
                reg.resources = vec![config.resource()];
            }
        }
        for s in seed::upsert_all(&engine, regs).await? {
            match s {
                seed::Seeded::Created {
                    id,
                    secret: Some(secret),
                }
                | seed::Seeded::Updated {
                    id,
                    secret: Some(secret),
                } => eprintln!(
                    "seeded client {id}: generated secret (shown once): {}",
                    secret.expose()
                ),
                seed::Seeded::Created { id, .. } => eprintln!("seeded client {id}: created"),
                seed::Seeded::Updated { id, .. } => eprintln!("seeded client {id}: updated"),
                seed::Seeded::Unchanged { id } => eprintln!("seeded client {id}: unchanged"),
            }
        }
    }
    let users = Users::demo(&config.alice_password, &config.bob_password);
    Ok(AppState::new(
        engine,
        users,
        config.resource(),
        config.trust_domain_claims,
    ))
}

/// The whole application: every route plus [`with_middleware`].
pub fn app<S: Storage + 'static>(state: AppState<S>) -> Router {
    with_middleware(routes::router(state))
}

/// The layers every route gets: a body limit and panic isolation.
///
/// Public so tests can wrap extra routes (a deliberately panicking one) in
/// the same layers.
pub fn with_middleware(router: Router) -> Router {
    router
        // Bounds every extractor; the OAuth handlers additionally read their
        // body through `glue::read` with the same bound so an oversized body
        // becomes the engine's JSON 413.
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        // A panicking handler answers 500 instead of dropping the
        // connection; the server and other requests carry on.
        .layer(CatchPanicLayer::custom(panic_response))
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> Response {
    eprintln!("a request handler panicked; answered 500");
    glue::into_response(HttpResponse::error(&Error::internal("handler panicked")))
}
