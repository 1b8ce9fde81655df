//! axum integration (feature `axum`): the engine mounted in a page of code.
//!
//! - [`HttpRequest`](crate::http::HttpRequest) is an extractor and
//!   [`HttpResponse`](crate::http::HttpResponse) a response, so any handler
//!   can call the engine directly ([`request`], [`response`]).
//! - [`router`] / [`OAuthRouter`] mount the authorization, token,
//!   introspection and revocation endpoints, the consent decision and both
//!   well-known documents (RFC 8414, RFC 9728), given the host's
//!   [`SignIn`](crate::web::SignIn) hook.
//! - [`BearerGuard`] protects resource routes, as a tower layer or through
//!   the [`Bearer`] extractor (RFC 6750, RFC 8707, RFC 9728 §5.1).
//!
//! The module is `latchkey::axum` (not `latchkey::integrations::axum`) so
//! the path a host writes is short and the coming `latchkey::actix_web`
//! sits beside it; everything framework-neutral lives in
//! [`crate::web`], which both share.
//!
//! ```
//! use std::sync::Arc;
//! use latchkey::web::{Session, SessionConfig, Sessions, SignIn};
//! use latchkey::{Engine, EngineConfig, Keyring, MemoryStore, Principal, ScopeRegistry};
//!
//! struct Users;
//!
//! #[async_trait::async_trait]
//! impl SignIn for Users {
//!     async fn principal(&self, session: &Session) -> Option<Principal> {
//!         let user = session.user.clone()?;
//!         Some(Principal { subject: user, account: "acme".into() })
//!     }
//! }
//!
//! let scopes = ScopeRegistry::new().register("profile:read", "Read your profile", &[]).unwrap();
//! let config = EngineConfig::new("https://auth.example", scopes);
//! let engine = Engine::new(Arc::new(MemoryStore::new()), config, Keyring::new(&[(1, [7; 32])]).unwrap());
//! let sessions = Arc::new(Sessions::in_memory(SessionConfig::for_issuer("https://auth.example")));
//! // Several instances behind a load balancer: keep sessions in the
//! // engine's storage instead, with
//! // `Sessions::new(Arc::new(latchkey::web::StorageSessionStore::new(storage)), config)`.
//! let guard = latchkey::axum::BearerGuard::new(&engine, "https://auth.example/api", &["profile:read"]);
//! let app: axum::Router = latchkey::axum::router(engine, sessions, Users)
//!     .route("/api/me", axum::routing::get(|| async { "hello" }).layer(guard));
//! ```

mod bearer;
pub mod request;
pub mod response;
mod router;

pub use crate::web::BearerGuard;
pub use bearer::{Bearer, BearerService};
pub use router::{router, OAuthRouter};
